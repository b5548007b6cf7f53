/* SCAN spread over nodes: 3 tunekvd processes x 6 partitions x 2 replicas,
 * so no node holds every partition and each scan of every key reads some
 * partitions on another node (rpc_fanout.c). Proves, asking each node:
 * - a prefix scan followed page by page returns every key exactly once, in
 *   key order, with its value, at EVENTUAL, SEQUENTIAL and LINEARIZABLE,
 *   each page with one receipt per partition, some served by other nodes;
 * - a range, keys_only and count_only, and a page that ends at the byte
 *   budget (pages summing up to every key);
 * - SEQUENTIAL is one cut across the nodes: while a writer sets x = i and
 *   then y = i (x in a partition another node serves, y in one the asked
 *   node holds, and the other way round), no page shows y ahead of x, and
 *   every value in a page is stamped at or below the page's timestamp;
 * - LINEARIZABLE: a page holds every write acknowledged before it began;
 * - a node down: EVENTUAL scans are served by the live replicas.
 * And WATCH spread likewise (rpc_watch.c, "Spread streams"):
 * - a prefix watch opened on any node lists every partition, some streamed
 *   by other nodes, and delivers every put under it exactly once, in each
 *   partition's log order, at SEQUENTIAL, LINEARIZABLE and EVENTUAL; a
 *   cancel ends the other nodes' streams too;
 * - resuming after the created frame's positions, on another node, gives
 *   exactly the changes made since; a key's watch works on a node without
 *   its partition;
 * - a client that stops reading loses nothing: the other nodes' shares
 *   pause and resume after the positions relayed;
 * - the death of a node that streams a share ends the stream UNAVAILABLE
 *   (the client resumes elsewhere). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"
#include "tunekv.pb-c.h"

#define P         6
#define N         3
#define KEYS      60
#define STATUS(x) TUNEKV__V1__STATUS__STATUS_##x
#define LEVEL(x)  TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

static char dir[256];
static struct cluster c;
static struct tkv_client *cl;
static uint64_t next_id = 1;

static const char *const flags[] = {"--election-timeout-ms",
                                    "1000",
                                    "--scan-limit-max",
                                    "50",
                                    "--scan-bytes-max",
                                    "4KiB",
                                    "--watch-output-bytes-max",
                                    "64KiB",
                                    NULL};

static uint32_t partition_of(const char *k)
{
        return (uint32_t)(XXH64(k, strlen(k), 0) % P);
}

static ProtobufCBinaryData bin(const char *s)
{
        ProtobufCBinaryData b = {strlen(s), (uint8_t *)s};
        return b;
}

/* Does node id host partition p (its STATUS lists it)? */
static bool hosts(unsigned id, uint32_t p)
{
        struct tkv_result st;
        bool yes;
        assert_int_equal(cluster_status(&c, id, &st), TKV_OK);
        yes = cluster_partition(&st, p) != NULL;
        tkv_result_release(&st);
        return yes;
}

static Tunekv__V1__Response *scan_raw(unsigned id, Tunekv__V1__ScanRequest *s)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__Response *r;
        int fd = raw_connect_addr(c.nodes[id - 1].client_addr, false);

        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_SCAN;
        req.scan = s;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        close(fd);
        assert_non_null(r);
        assert_int_equal(r->id, req.id);
        return r;
}

/* Follow every page of s on node id; the keys joined by '\n' into out,
 * each value checked to be "v" + the key's number. Returns the pages;
 * *remote counts receipts served by other nodes. */
static unsigned scan_all(unsigned id, Tunekv__V1__ScanRequest *s, char *out, size_t len,
                         unsigned *remote, uint64_t *count)
{
        static uint8_t cursor[256];
        unsigned pages = 0;

        out[0] = '\0';
        s->cursor.len = 0;
        for (;;) {
                Tunekv__V1__Response *r = scan_raw(id, s);
                bool more;
                if (r->status != STATUS(OK)) {
                        fail_msg("node %u: scan: status %d: %s", id, r->status, r->message);
                }
                assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_SCAN);
                assert_int_equal(r->scan->n_receipts, P);
                for (size_t i = 0; i < r->scan->n_receipts; i++) {
                        assert_int_equal(r->scan->receipts[i]->partition, i);
                        *remote += r->scan->receipts[i]->node_id != id;
                }
                *count += r->scan->count;
                for (size_t i = 0; i < r->scan->n_items; i++) {
                        const Tunekv__V1__ScanItem *it = r->scan->items[i];
                        size_t at = strlen(out);
                        char want[64];
                        assert_true(at + it->key.len + 2 < len);
                        memcpy(out + at, it->key.data, it->key.len);
                        out[at + it->key.len] = '\n';
                        out[at + it->key.len + 1] = '\0';
                        out[at + it->key.len] = '\0';
                        assert_int_equal(it->partition, partition_of(out + at));
                        out[at + it->key.len] = '\n';
                        if (!s->keys_only && it->key.len > 3) {
                                snprintf(want, sizeof want, "v%.*s", (int)it->key.len - 3,
                                         (const char *)it->key.data + 3);
                                assert_int_equal(it->value.len, strlen(want));
                                assert_memory_equal(it->value.data, want, it->value.len);
                        } else {
                                assert_int_equal(it->value.len, 0);
                        }
                        if (r->scan->level != LEVEL(EVENTUAL)) {
                                assert_true(it->timestamp <= r->scan->timestamp);
                        }
                }
                more = r->scan->more;
                assert_true(!more || r->scan->cursor.len > 0);
                if (more) {
                        memcpy(cursor, r->scan->cursor.data, r->scan->cursor.len);
                        s->cursor.data = cursor;
                        s->cursor.len = r->scan->cursor.len;
                }
                pages++;
                tunekv__v1__response__free_unpacked(r, NULL);
                if (!more) {
                        break;
                }
        }
        s->cursor.len = 0;
        return pages;
}

/* GET_MANY of keys (n) at level on node id; the caller frees the answer. */
static Tunekv__V1__Response *many_raw(unsigned id, const char *const *keys, size_t n,
                                      Tunekv__V1__Consistency level)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetManyRequest m = TUNEKV__V1__GET_MANY_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        ProtobufCBinaryData bins[KEYS + 8];
        Tunekv__V1__Response *r;
        int fd = raw_connect_addr(c.nodes[id - 1].client_addr, false);

        assert_true(n <= sizeof bins / sizeof bins[0]);
        for (size_t i = 0; i < n; i++) {
                bins[i] = bin(keys[i]);
        }
        m.n_keys = n;
        m.keys = bins;
        o.level = level;
        m.options = &o;
        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET_MANY;
        req.get_many = &m;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        close(fd);
        assert_non_null(r);
        assert_int_equal(r->id, req.id);
        return r;
}

/* "sp/000\nsp/001\n..." for keys [from, to). */
static void expected(char *out, size_t len, int from, int to)
{
        out[0] = '\0';
        for (int i = from; i < to; i++) {
                size_t at = strlen(out);
                snprintf(out + at, len - at, "sp/%03d\n", i);
        }
}

/* ------------------------------------------------------------------------ */

static void test_every_key_once_from_every_node(void **state)
{
        static const Tunekv__V1__Consistency levels[] = {LEVEL(EVENTUAL), LEVEL(SEQUENTIAL),
                                                         LEVEL(LINEARIZABLE)};
        static char got[8192], want[8192];
        (void)state;

        expected(want, sizeof want, 0, KEYS);
        for (unsigned id = 1; id <= N; id++) {
                for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
                        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
                        unsigned remote = 0, pages;
                        uint64_t count = 0;
                        s.prefix = bin("sp/");
                        s.limit = 7;
                        o.level = levels[l];
                        s.options = &o;
                        pages = scan_all(id, &s, got, sizeof got, &remote, &count);
                        assert_string_equal(got, want);
                        assert_int_equal(count, KEYS);
                        assert_true(pages >= KEYS / 7);
                        assert_true(remote > 0); /* another node served part of it */
                }
        }
}

/* GET_MANY of keys in every partition, some absent, from each node at
 * every level: each key's value in the request's order. */
static void test_get_many_from_every_node(void **state)
{
        static const Tunekv__V1__Consistency levels[] = {LEVEL(EVENTUAL), LEVEL(SEQUENTIAL),
                                                         LEVEL(LINEARIZABLE)};
        static char names[KEYS + 4][16];
        const char *keys[KEYS + 4];
        size_t n = 0;
        (void)state;

        for (int i = KEYS - 1; i >= 0; i -= 3) { /* backwards: the order is the request's */
                snprintf(names[n], sizeof names[n], "sp/%03d", i);
                keys[n] = names[n];
                n++;
        }
        for (int i = 0; i < 4; i++) {
                snprintf(names[n], sizeof names[n], "none/%d", i);
                keys[n] = names[n];
                n++;
        }
        for (unsigned id = 1; id <= N; id++) {
                for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
                        Tunekv__V1__Response *r = many_raw(id, keys, n, levels[l]);
                        if (r->status != STATUS(OK)) {
                                fail_msg("node %u: GET_MANY: status %d: %s", id, r->status,
                                         r->message);
                        }
                        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_GET_MANY);
                        assert_int_equal(r->get_many->n_items, n);
                        assert_int_equal(r->get_many->level, levels[l]);
                        for (size_t i = 0; i < n; i++) {
                                const Tunekv__V1__GetManyItem *it = r->get_many->items[i];
                                char want[16];
                                assert_int_equal(it->partition, partition_of(keys[i]));
                                if (strncmp(keys[i], "none/", 5) == 0) {
                                        assert_false(it->found);
                                        continue;
                                }
                                assert_true(it->found);
                                snprintf(want, sizeof want, "v%s", keys[i] + 3);
                                assert_int_equal(it->value.len, strlen(want));
                                assert_memory_equal(it->value.data, want, it->value.len);
                                if (levels[l] != LEVEL(EVENTUAL)) {
                                        assert_true(it->timestamp <= r->get_many->timestamp);
                                }
                        }
                        tunekv__v1__response__free_unpacked(r, NULL);
                }
        }
}

static void test_range_keys_only_count_only(void **state)
{
        static char got[8192], want[8192];
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        unsigned remote = 0;
        uint64_t count = 0;
        (void)state;

        s.start = bin("sp/010");
        s.end = bin("sp/030");
        s.limit = 6;
        scan_all(2, &s, got, sizeof got, &remote, &count);
        expected(want, sizeof want, 10, 30);
        assert_string_equal(got, want);

        s.keys_only = true;
        count = 0;
        scan_all(3, &s, got, sizeof got, &remote, &count);
        assert_string_equal(got, want);
        assert_int_equal(count, 20);

        s.keys_only = false;
        s.count_only = true;
        count = 0;
        scan_all(1, &s, got, sizeof got, &remote, &count);
        assert_string_equal(got, ""); /* no items */
        assert_int_equal(count, 20);
}

/* ScanRequest.partitions from a client: out of order, repeated, beyond
 * the cluster, or held elsewhere are INVALID_ARGUMENT naming why; the
 * partitions a node holds are read alone, and bytes_max 1 still gives a
 * page of one key. */
static void test_named_partitions(void **state)
{
        static const struct {
                uint32_t parts[3];
                size_t n;
                const char *needle;
        } bad[] = {
            {{2, 1}, 2, "ascending"}, {{1, 1}, 2, "ascending"}, {{99}, 1, "no partition 99"}};
        uint32_t here[P], away = P;
        size_t n_here = 0;
        (void)state;

        for (uint32_t p = 0; p < P; p++) {
                if (hosts(1, p)) {
                        here[n_here++] = p;
                } else if (away == P) {
                        away = p;
                }
        }
        assert_true(n_here > 0 && away < P);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                Tunekv__V1__Response *r;
                s.prefix = bin("sp/");
                s.n_partitions = bad[i].n;
                s.partitions = (uint32_t *)bad[i].parts;
                r = scan_raw(1, &s);
                assert_int_equal(r->status, STATUS(INVALID_ARGUMENT));
                assert_non_null(strstr(r->message, bad[i].needle));
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        {
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                Tunekv__V1__Response *r;
                s.prefix = bin("sp/");
                s.n_partitions = 1;
                s.partitions = &away;
                r = scan_raw(1, &s);
                assert_int_equal(r->status, STATUS(INVALID_ARGUMENT));
                assert_non_null(strstr(r->message, "has no replica of partition"));
                tunekv__v1__response__free_unpacked(r, NULL);

                s.n_partitions = n_here;
                s.partitions = here;
                s.bytes_max = 1;
                r = scan_raw(1, &s);
                assert_int_equal(r->status, STATUS(OK));
                assert_int_equal(r->scan->n_receipts, n_here);
                assert_int_equal(r->scan->n_items, 1); /* a page always holds one key */
                assert_true(r->scan->more);
                for (size_t i = 0; i < r->scan->n_receipts; i++) {
                        assert_int_equal(r->scan->receipts[i]->node_id, 1);
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
}

/* Values of about 1 KiB: a page ends at the 4 KiB budget, not the limit. */
static void test_byte_budget(void **state)
{
        static char got[8192], want[8192];
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        char big[1100], k[32];
        unsigned remote = 0, pages;
        uint64_t count = 0;
        (void)state;

        for (int i = 0; i < 12; i++) {
                struct tkv_write_options o = {.ack = TKV_ACK_ALL_REPLICAS};
                struct tkv_result r;
                snprintf(k, sizeof k, "big/%02d", i);
                memset(big, 'a' + i, 1000);
                assert_int_equal(tkv_put(cl, k, strlen(k), big, 1000, &o, &r), TKV_OK);
                tkv_result_release(&r);
        }
        s.prefix = bin("big/");
        s.keys_only = true; /* values are not "v<n>": checked by length below */
        pages = scan_all(1, &s, got, sizeof got, &remote, &count);
        assert_int_equal(count, 12);
        assert_int_equal(pages, 1); /* keys alone fit one page */
        want[0] = '\0';
        for (int i = 0; i < 12; i++) {
                size_t at = strlen(want);
                snprintf(want + at, sizeof want - at, "big/%02d\n", i);
        }
        assert_string_equal(got, want);

        s.keys_only = false;
        s.cursor.len = 0;
        count = 0;
        for (unsigned n = 0;; n++) {
                Tunekv__V1__Response *r = scan_raw(1, &s);
                static uint8_t cursor[64];
                bool more;
                assert_int_equal(r->status, STATUS(OK));
                assert_true(r->scan->n_items >= 1 && r->scan->n_items <= 4);
                for (size_t i = 0; i < r->scan->n_items; i++) {
                        assert_int_equal(r->scan->items[i]->value.len, 1000);
                }
                count += r->scan->n_items;
                more = r->scan->more;
                if (more) {
                        memcpy(cursor, r->scan->cursor.data, r->scan->cursor.len);
                        s.cursor.data = cursor;
                        s.cursor.len = r->scan->cursor.len;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
                assert_true(n < 12);
                if (!more) {
                        break;
                }
        }
        assert_int_equal(count, 12);
}

/* The writer of the cut test: x = i, then y = i, through one client (so
 * y's timestamp is above x's), until stopped. */
#define PAIRS_MAX 4096

struct pair_writer {
        pthread_t thread;
        atomic_bool stop;
        atomic_uint written;
        const char *x, *y;
        const char *z; /* NULL, or put between x and y and deleted after y */
        long nap_ns;   /* between pairs */
        char endpoints[256];
        int error;
        /* The timestamps its writes were answered with, pair by pair. */
        uint64_t ts[PAIRS_MAX][2];
};

static void *pair_write(void *arg)
{
        struct pair_writer *w = arg;
        struct tkv_options co = {0};
        struct tkv_client *wc = NULL;
        char v[32], err[256];
        const struct timespec nap = {0, w->nap_ns};

        co.endpoints = w->endpoints;
        co.timeout_ms = 30000;
        if (tkv_client_create(&co, &wc, err, sizeof err) != TKV_OK) {
                w->error = -1;
                return NULL;
        }
        for (unsigned i = 1; !atomic_load(&w->stop); i++) {
                struct tkv_result r;
                int rv;
                snprintf(v, sizeof v, "%u", i);
                rv = tkv_put(wc, w->x, strlen(w->x), v, strlen(v), NULL, &r);
                if (rv == TKV_OK && i < PAIRS_MAX) {
                        w->ts[i][0] = r.timestamp;
                }
                tkv_result_release(&r);
                if (rv == TKV_OK && w->z != NULL) {
                        rv = tkv_put(wc, w->z, strlen(w->z), v, strlen(v), NULL, &r);
                        tkv_result_release(&r);
                }
                if (rv == TKV_OK) {
                        rv = tkv_put(wc, w->y, strlen(w->y), v, strlen(v), NULL, &r);
                        if (rv == TKV_OK && i < PAIRS_MAX) {
                                w->ts[i][1] = r.timestamp;
                        }
                        tkv_result_release(&r);
                }
                if (rv == TKV_OK && w->z != NULL) {
                        rv = tkv_delete(wc, w->z, strlen(w->z), NULL, &r);
                        tkv_result_release(&r);
                }
                if (rv != TKV_OK) {
                        w->error = rv;
                        break;
                }
                atomic_store(&w->written, i);
                if (w->nap_ns > 0) {
                        nanosleep(&nap, NULL); /* quiet moments (see cut_holds) */
                }
        }
        tkv_client_destroy(wc);
        return NULL;
}

/* A session's writes are stamped in the order it made them, whichever
 * partitions they went to (each above the timestamp its token carries):
 * what a cut at one timestamp relies on. */
static void writes_in_order(const struct pair_writer *w)
{
        unsigned n = atomic_load(&w->written);
        uint64_t last = 0;

        for (unsigned i = 1; i <= n && i < PAIRS_MAX; i++) {
                for (unsigned j = 0; j < 2; j++) {
                        if (w->ts[i][j] <= last) {
                                fail_msg("write %u of pair %u stamped %llu, not above the one "
                                         "before (%llu)",
                                         j, i, (unsigned long long)w->ts[i][j],
                                         (unsigned long long)last);
                        }
                        last = w->ts[i][j];
                }
        }
}

/* A key under prefix whose partition node id hosts (local) or not. */
static void key_for(char *out, size_t len, const char *prefix, unsigned id, bool local)
{
        for (int i = 0; i < 1000; i++) {
                snprintf(out, len, "%s%d", prefix, i);
                if (hosts(id, partition_of(out)) == local) {
                        return;
                }
        }
        fail_msg("no key for node %u", id);
}

/* A value written by pair_write, as a number. */
static unsigned number(const ProtobufCBinaryData *b)
{
        char v[32];
        size_t n = b->len < sizeof v - 1 ? b->len : sizeof v - 1;

        memcpy(v, b->data, n);
        v[n] = '\0';
        return (unsigned)strtoul(v, NULL, 10);
}

static unsigned value_of(const Tunekv__V1__ScanResponse *s, const char *k)
{
        for (size_t i = 0; i < s->n_items; i++) {
                if (s->items[i]->key.len == strlen(k) &&
                    memcmp(s->items[i]->key.data, k, strlen(k)) == 0) {
                        return number(&s->items[i]->value);
                }
        }
        return 0;
}

static void cut_holds(bool x_local)
{
        struct pair_writer w;
        char x[32], y[32];
        unsigned scans = 0, moved = 0, last = 0, unmet = 0;

        memset(&w, 0, sizeof w);
        /* Keys of its own per run: the other run wrote its pairs in the
         * other order, and a page as of a timestamp of that run shows them
         * so (an old T, but one consistent state). */
        key_for(x, sizeof x, x_local ? "cut/c" : "cut/b", 1, x_local);
        key_for(y, sizeof y, x_local ? "cut/d" : "cut/a", 1, !x_local);
        w.x = x;
        w.y = y;
        w.nap_ns = 5 * 1000 * 1000;
        snprintf(w.endpoints, sizeof w.endpoints, "%s", c.endpoints);
        assert_int_equal(pthread_create(&w.thread, NULL, pair_write, &w), 0);
        /* The writer pauses between pairs; test_scan_under_continuous_writes
         * has one that does not. */
        while (atomic_load(&w.written) < 2) {
                usleep(1000); /* the writer's first pairs: both keys exist */
        }
        /* 300 reads, and on until x has moved twice (a writer slowed by a
         * loaded machine must still have run while they did). */
        while ((scans < 300 || moved < 2) && scans + unmet < 30000) {
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
                Tunekv__V1__Response *r;
                unsigned vx, vy;
                s.prefix = bin("cut/");
                o.level = LEVEL(SEQUENTIAL);
                s.options = &o;
                if (scans % 2 == 1) { /* every other read a GET_MANY of y, x */
                        const char *keys[] = {y, x};
                        r = many_raw(1, keys, 2, LEVEL(SEQUENTIAL));
                        if (r->status == STATUS(OK)) {
                                vy = r->get_many->items[0]->found
                                         ? number(&r->get_many->items[0]->value)
                                         : 0;
                                vx = r->get_many->items[1]->found
                                         ? number(&r->get_many->items[1]->value)
                                         : 0;
                                if (vy > vx) {
                                        fail_msg("GET_MANY at T %llu shows %s = %u ahead of %s = "
                                                 "%u",
                                                 (unsigned long long)r->get_many->timestamp, y, vy,
                                                 x, vx);
                                }
                                scans++;
                        } else {
                                assert_int_equal(r->status, STATUS(BOUND_UNMET));
                                unmet++;
                        }
                        tunekv__v1__response__free_unpacked(r, NULL);
                        continue;
                }
                r = scan_raw(1, &s);
                if (r->status == STATUS(OK)) {
                        vx = value_of(r->scan, x);
                        vy = value_of(r->scan, y);
                        if (vy > vx) {
                                fail_msg("page at T %llu shows %s = %u ahead of %s = %u",
                                         (unsigned long long)r->scan->timestamp, y, vy, x, vx);
                        }
                        for (size_t i = 0; i < r->scan->n_items; i++) {
                                assert_true(r->scan->items[i]->timestamp <= r->scan->timestamp);
                        }
                        moved += vx != last;
                        last = vx;
                        scans++;
                } else {
                        assert_int_equal(r->status, STATUS(BOUND_UNMET));
                        unmet++;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        atomic_store(&w.stop, true);
        pthread_join(w.thread, NULL);
        assert_int_equal(w.error, 0);
        writes_in_order(&w);
        printf("# cut (x %s): %u scans saw x move %u times (%u BOUND_UNMET), %u pairs written\n",
               x_local ? "local" : "remote", scans, moved, unmet, atomic_load(&w.written));
        assert_true(scans >= 300);
        assert_true(moved > 1); /* the scans ran while the pairs were written */
}

static void test_sequential_is_one_cut(void **state)
{
        (void)state;
        cut_holds(false); /* x on another node, y here */
        cut_holds(true);  /* and the other way round */
}

/* A GET_MANY of x (another node's) and y (this node's) while a client
 * writes x = i, y = i without pause: every read is answered, one cut
 * (never y ahead of x). Its shares disagree on T almost every time; the
 * second round reads them as of the highest T from the change history, so
 * writes meanwhile cannot raise T again (a scan's rounds, reading the
 * current state, end BOUND_UNMET under this load). */
/* 200 SEQUENTIAL GET_MANYs of y, x on node 1 while a writer rewrites x
 * then y without pause: every one answered, none with y ahead. x_local:
 * both partitions on node 1 (its own rounds), else x's elsewhere (spread).
 * A round that finds keys written since the T it waited for reads them as
 * of that T from the change history, so writes cannot keep moving T. */
static void get_many_under_writes(bool x_local)
{
        struct pair_writer w;
        char x[32], y[32];
        unsigned reads = 0, rounds2 = 0, last = 0, moved = 0;

        memset(&w, 0, sizeof w);
        key_for(x, sizeof x, x_local ? "flow/c" : "flow/a", 1, x_local);
        key_for(y, sizeof y, x_local ? "flow/d" : "flow/b", 1, true);
        for (int i = 0; partition_of(y) == partition_of(x); i++) {
                char prefix[32];
                assert_true(i < 100);
                snprintf(prefix, sizeof prefix, "flow/d%d-", i);
                key_for(y, sizeof y, prefix, 1, true); /* two partitions */
        }
        w.x = x;
        w.y = y;
        snprintf(w.endpoints, sizeof w.endpoints, "%s", c.endpoints);
        assert_int_equal(pthread_create(&w.thread, NULL, pair_write, &w), 0);
        while (atomic_load(&w.written) < 5) {
                usleep(1000); /* the writer's first pairs: the keys exist */
        }
        for (reads = 0; reads < 200; reads++) {
                const char *keys[] = {y, x};
                Tunekv__V1__Response *r = many_raw(1, keys, 2, LEVEL(SEQUENTIAL));
                unsigned vx, vy;
                if (r->status != STATUS(OK)) {
                        fail_msg("read %u: status %d: %s", reads, r->status, r->message);
                }
                vy = number(&r->get_many->items[0]->value);
                vx = number(&r->get_many->items[1]->value);
                if (vy > vx) {
                        fail_msg("GET_MANY at T %llu shows %s = %u ahead of %s = %u",
                                 (unsigned long long)r->get_many->timestamp, y, vy, x, vx);
                }
                rounds2 += r->get_many->rounds > 1;
                moved += vx != last;
                last = vx;
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        atomic_store(&w.stop, true);
        pthread_join(w.thread, NULL);
        assert_int_equal(w.error, 0);
        writes_in_order(&w);
        printf("# %u GET_MANYs under writes (%s): %u took a second round, x moved %u times\n",
               reads, x_local ? "node-local" : "spread", rounds2, moved);
        assert_true(moved > 1);
}

/* 200 SEQUENTIAL SCANs on node 1 while a writer puts x = i, z = i, y = i
 * and deletes z, without pause (x, y, z in three partitions): every page
 * answered, none with y ahead of x, and z, when the page has it (deleted
 * since T, it comes back from the history), between them. Node-local: of
 * the partitions node 1 holds (named), x, y, z among them; a round that
 * finds keys written since the T it waited for reads the page as of T,
 * from the index and the change history. Spread: of every partition, x on
 * another node; shares below the highest T are read again at_timestamp T. */
static void scan_under_writes(bool spread)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        struct pair_writer w;
        char x[32], y[32], z[32];
        uint32_t parts[P];
        unsigned scans, moved = 0, last = 0, with_z = 0;
        const char *prefix = spread ? "flow3/" : "flow2/";
        char name[32];

        memset(&w, 0, sizeof w);
        snprintf(name, sizeof name, "%sx", prefix);
        key_for(x, sizeof x, name, 1, !spread);
        snprintf(name, sizeof name, "%sy", prefix);
        key_for(y, sizeof y, name, 1, true);
        snprintf(name, sizeof name, "%sz", prefix);
        key_for(z, sizeof z, name, 1, true);
        for (int i = 0; partition_of(y) == partition_of(x); i++) {
                char alt[32];
                assert_true(i < 100);
                snprintf(alt, sizeof alt, "%sy%d-", prefix, i);
                key_for(y, sizeof y, alt, 1, true);
        }
        for (int i = 0; partition_of(z) == partition_of(x) || partition_of(z) == partition_of(y);
             i++) {
                char alt[32];
                assert_true(i < 100);
                snprintf(alt, sizeof alt, "%sz%d-", prefix, i);
                key_for(z, sizeof z, alt, 1, true);
        }
        s.n_partitions = 0;
        for (uint32_t p = 0; !spread && p < P; p++) {
                if (hosts(1, p)) {
                        parts[s.n_partitions++] = p;
                }
        }
        s.partitions = parts;
        s.prefix = bin(prefix);
        o.level = LEVEL(SEQUENTIAL);
        s.options = &o;
        w.x = x;
        w.y = y;
        w.z = z;
        snprintf(w.endpoints, sizeof w.endpoints, "%s", c.endpoints);
        assert_int_equal(pthread_create(&w.thread, NULL, pair_write, &w), 0);
        while (atomic_load(&w.written) < 5) {
                usleep(1000); /* the writer's first rounds: the keys exist */
        }
        for (scans = 0; scans < 200; scans++) {
                Tunekv__V1__Response *r = scan_raw(1, &s);
                unsigned vx, vy, vz;
                if (r->status != STATUS(OK)) {
                        fail_msg("scan %u: status %d: %s", scans, r->status, r->message);
                }
                vx = value_of(r->scan, x);
                vy = value_of(r->scan, y);
                vz = value_of(r->scan, z);
                if (vy > vx || (vz != 0 && (vz > vx || vy > vz))) {
                        fail_msg("page at T %llu shows %s = %u, %s = %u, %s = %u",
                                 (unsigned long long)r->scan->timestamp, x, vx, z, vz, y, vy);
                }
                for (size_t i = 0; i < r->scan->n_items; i++) {
                        assert_true(r->scan->items[i]->timestamp <= r->scan->timestamp);
                }
                with_z += vz != 0;
                moved += vx != last;
                last = vx;
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        atomic_store(&w.stop, true);
        pthread_join(w.thread, NULL);
        assert_int_equal(w.error, 0);
        printf("# %u SCANs under writes (%s): x moved %u times, z seen in %u\n", scans,
               spread ? "spread" : "node-local", moved, with_z);
        assert_true(moved > 1);
}

static void test_scan_under_continuous_writes(void **state)
{
        (void)state;
        scan_under_writes(false);
        scan_under_writes(true);
}

/* A SCAN at_timestamp is the page of that past state, asked of any node
 * (spread over the nodes that hold the partitions): a key deleted since
 * comes back with its value then, one written since shows its value then,
 * one created since is not there. */
static void test_scan_at_timestamp(void **state)
{
        struct tkv_write_options wo = {.ack = TKV_ACK_ALL_REPLICAS};
        struct tkv_result r;
        uint64_t t1, t2;
        (void)state;

        assert_int_equal(tkv_put(cl, "at/k1", 5, "1", 1, &wo, &r), TKV_OK);
        t1 = r.timestamp;
        tkv_result_release(&r);
        assert_int_equal(tkv_put(cl, "at/k2", 5, "1", 1, &wo, &r), TKV_OK);
        t2 = r.timestamp;
        tkv_result_release(&r);
        assert_true(t2 > t1);
        assert_int_equal(tkv_put(cl, "at/k1", 5, "2", 1, &wo, &r), TKV_OK);
        tkv_result_release(&r);
        assert_int_equal(tkv_delete(cl, "at/k2", 5, &wo, &r), TKV_OK);
        tkv_result_release(&r);
        assert_int_equal(tkv_put(cl, "at/k3", 5, "1", 1, &wo, &r), TKV_OK);
        tkv_result_release(&r);
        for (unsigned id = 1; id <= N; id++) {
                const uint64_t at[] = {t1, t2, 0};
                const char *want[] = {"at/k1=1", "at/k1=1 at/k2=1", "at/k1=2 at/k3=1"};
                for (size_t i = 0; i < 3; i++) {
                        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
                        Tunekv__V1__Response *resp;
                        char got[128] = "";
                        s.prefix = bin("at/");
                        o.level = LEVEL(SEQUENTIAL);
                        o.at_timestamp = at[i];
                        s.options = &o;
                        resp = scan_raw(id, &s);
                        if (resp->status != STATUS(OK)) {
                                fail_msg("node %u at %llu: status %d: %s", id,
                                         (unsigned long long)at[i], resp->status, resp->message);
                        }
                        for (size_t j = 0; j < resp->scan->n_items; j++) {
                                const Tunekv__V1__ScanItem *it = resp->scan->items[j];
                                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s=%.*s",
                                         j > 0 ? " " : "", (int)it->key.len,
                                         (const char *)it->key.data, (int)it->value.len,
                                         (const char *)it->value.data);
                        }
                        assert_string_equal(got, want[i]);
                        if (at[i] != 0) {
                                assert_int_equal(resp->scan->timestamp, at[i]);
                                assert_int_equal(resp->scan->level, LEVEL(SEQUENTIAL));
                        }
                        tunekv__v1__response__free_unpacked(resp, NULL);
                }
        }
}

static void test_get_many_under_continuous_writes(void **state)
{
        (void)state;
        get_many_under_writes(false);
        get_many_under_writes(true);
}

/* A value written through one node (acknowledged by its leader alone) is
 * in a LINEARIZABLE page asked of another right after. */
static void test_linearizable_sees_acknowledged_writes(void **state)
{
        char k[32], v[32];
        (void)state;

        for (unsigned i = 0; i < 20; i++) {
                struct tkv_result r;
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
                Tunekv__V1__Response *resp;
                snprintf(k, sizeof k, "lin/%u", i % 5);
                snprintf(v, sizeof v, "%u", 1000 + i);
                assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), NULL, &r), TKV_OK);
                tkv_result_release(&r);
                s.prefix = bin("lin/");
                o.level = LEVEL(LINEARIZABLE);
                s.options = &o;
                resp = scan_raw(1 + i % N, &s);
                assert_int_equal(resp->status, STATUS(OK));
                assert_int_equal(resp->scan->level, LEVEL(LINEARIZABLE));
                assert_int_equal(value_of(resp->scan, k), 1000 + i);
                tunekv__v1__response__free_unpacked(resp, NULL);
        }
}

/* Node 3 down: each partition keeps a live replica, and EVENTUAL scans
 * through the other nodes still return every key. */
static void test_node_down_eventual(void **state)
{
        static char got[8192], want[8192];
        (void)state;

        cluster_signal(&c, 3, SIGKILL, true);
        expected(want, sizeof want, 0, KEYS);
        for (unsigned id = 1; id <= 2; id++) {
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
                unsigned remote = 0;
                uint64_t count = 0;
                s.prefix = bin("sp/");
                o.level = LEVEL(EVENTUAL);
                s.options = &o;
                /* Once the node counts as down (an election timeout without
                 * a ping answer) the cover leaves it out; until then a
                 * share sent to it fails UNAVAILABLE, which clients retry. */
                for (int tries = 0;; tries++) {
                        Tunekv__V1__Response *r;
                        s.limit = 50;
                        r = scan_raw(id, &s);
                        if (r->status == STATUS(OK) || tries > 100) {
                                tunekv__v1__response__free_unpacked(r, NULL);
                                break;
                        }
                        assert_int_equal(r->status, STATUS(UNAVAILABLE));
                        tunekv__v1__response__free_unpacked(r, NULL);
                        usleep(100 * 1000);
                }
                scan_all(id, &s, got, sizeof got, &remote, &count);
                assert_string_equal(got, want);
        }
        assert_int_equal(cluster_restart(&c, 3), 0);
}

/* ------------------------------------------------------------------------ */
/* WATCH spread over nodes */

static void put(const char *k, const char *v)
{
        struct tkv_write_options o = {.ack = TKV_ACK_COMMITTED};
        struct tkv_result r;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        tkv_result_release(&r);
}

/* Open a WATCH on fd; returns its created frame (checked: OK, every
 * partition listed once, ascending) and its id. */
static Tunekv__V1__Response *watch_open_raw(int fd, Tunekv__V1__WatchRequest *wq, uint64_t *id)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__Response *r;

        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = wq;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, req.id);
        if (r->status != STATUS(OK)) {
                fail_msg("WATCH: status %d: %s", r->status, r->message);
        }
        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_WATCH);
        assert_true(r->watch->created);
        for (size_t i = 1; i < r->watch->n_progress; i++) {
                assert_true(r->watch->progress[i]->partition >
                            r->watch->progress[i - 1]->partition);
        }
        *id = req.id;
        return r;
}

/* What a stream delivered: per key its count and last value, per partition
 * the last index (each event checked to come after it). */
struct seen {
        unsigned count[1000];
        char value[1000][16];
        size_t len[1000];
        uint64_t last[P];
        unsigned events;
};

/* Read frames of stream id on fd until want keys "<prefix>NNN" (0 ..
 * want - 1) were each seen at least once; check every event. */
static void read_events(int fd, uint64_t id, const char *prefix, unsigned want, struct seen *sn)
{
        size_t plen = strlen(prefix);
        unsigned distinct = 0;

        while (distinct < want) {
                Tunekv__V1__Response *r = raw_read_response(fd);
                assert_non_null(r);
                assert_int_equal(r->id, id);
                if (r->status != STATUS(OK)) {
                        fail_msg("stream ended: status %d: %s", r->status, r->message);
                }
                assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_WATCH);
                assert_false(r->watch->canceled);
                for (size_t i = 0; i < r->watch->n_events; i++) {
                        const Tunekv__V1__WatchEvent *e = r->watch->events[i];
                        char key[64];
                        unsigned n;
                        assert_true(e->key.len > plen && e->key.len < sizeof key);
                        memcpy(key, e->key.data, e->key.len);
                        key[e->key.len] = '\0';
                        assert_memory_equal(key, prefix, plen);
                        assert_int_equal(e->partition, partition_of(key));
                        assert_true(e->index > sn->last[e->partition]); /* log order, once */
                        sn->last[e->partition] = e->index;
                        n = (unsigned)atoi(key + plen);
                        assert_true(n < want);
                        distinct += sn->count[n]++ == 0;
                        /* Long values: their first bytes and their length. */
                        sn->len[n] = e->value.len;
                        memcpy(sn->value[n], e->value.data,
                               e->value.len < sizeof sn->value[n] ? e->value.len
                                                                  : sizeof sn->value[n] - 1);
                        sn->value[n][e->value.len < sizeof sn->value[n] ? e->value.len
                                                                        : sizeof sn->value[n] - 1] =
                            '\0';
                        sn->events++;
                }
                for (size_t i = 0; i < r->watch->n_progress; i++) {
                        const Tunekv__V1__WatchProgress *pr = r->watch->progress[i];
                        assert_true(pr->partition < P);
                        if (pr->index > sn->last[pr->partition]) {
                                sn->last[pr->partition] = pr->index;
                        }
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
}

/* WATCH streams open on node id (STATUS). */
static uint64_t watches_on(unsigned id)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__StatusRequest st = TUNEKV__V1__STATUS_REQUEST__INIT;
        Tunekv__V1__Response *r;
        uint64_t n;
        int fd = raw_connect_addr(c.nodes[id - 1].client_addr, false);

        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_STATUS;
        req.status = &st;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        close(fd);
        assert_non_null(r);
        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_STATUS_INFO);
        n = r->status_info->watches;
        tunekv__v1__response__free_unpacked(r, NULL);
        return n;
}

/* Every node's streams end (a cancel reaches the other nodes' shares). */
static void no_watches_left(void)
{
        for (unsigned id = 1; id <= N; id++) {
                int tries = 0;
                while (watches_on(id) != 0) {
                        assert_true(++tries < 100);
                        usleep(50 * 1000); /* the cancel crosses a node link */
                }
        }
}

static void cancel_raw(int fd, uint64_t id)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchCancelRequest wc = TUNEKV__V1__WATCH_CANCEL_REQUEST__INIT;
        bool last = false, answered = false;

        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL;
        req.watch_cancel = &wc;
        wc.watch_id = id;
        raw_send_request(fd, &req);
        while (!last || !answered) {
                Tunekv__V1__Response *r = raw_read_response(fd);
                assert_non_null(r);
                if (r->id == req.id) {
                        assert_int_equal(r->status, STATUS(OK));
                        answered = true;
                } else {
                        assert_int_equal(r->id, id);
                        if (r->watch->canceled) {
                                assert_int_equal(r->status, STATUS(OK));
                                last = true;
                        }
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
}

static void watch_every_key_once(unsigned id, Tunekv__V1__Consistency level)
{
        static struct seen sn;
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__Response *r;
        char prefix[32], k[48], v[16];
        unsigned here = 0, there = 0;
        uint64_t wid;
        int fd = raw_connect_addr(c.nodes[id - 1].client_addr, false);

        memset(&sn, 0, sizeof sn);
        snprintf(prefix, sizeof prefix, "ws%u-%d/", id, (int)level);
        wq.key = bin(prefix);
        wq.prefix = true;
        o.level = level;
        wq.options = &o;
        r = watch_open_raw(fd, &wq, &wid);
        assert_int_equal(r->watch->n_progress, P);
        for (size_t i = 0; i < P; i++) {
                const Tunekv__V1__WatchProgress *pr = r->watch->progress[i];
                assert_int_equal(pr->partition, i);
                assert_int_equal(pr->node_id == id, hosts(id, (uint32_t)i));
                here += pr->node_id == id;
                there += pr->node_id != id;
                sn.last[i] = pr->index;
        }
        assert_true(here > 0 && there > 0); /* spread: some partitions on other nodes */
        tunekv__v1__response__free_unpacked(r, NULL);
        for (int i = 0; i < 40; i++) {
                snprintf(k, sizeof k, "%s%03d", prefix, i);
                snprintf(v, sizeof v, "v%d", i);
                put(k, v);
        }
        read_events(fd, wid, prefix, 40, &sn);
        for (int i = 0; i < 40; i++) {
                snprintf(v, sizeof v, "v%d", i);
                assert_int_equal(sn.count[i], 1);
                assert_string_equal(sn.value[i], v);
        }
        cancel_raw(fd, wid);
        close(fd);
}

static void test_watch_from_every_node(void **state)
{
        (void)state;
        for (unsigned id = 1; id <= N; id++) {
                watch_every_key_once(id, LEVEL(SEQUENTIAL));
        }
        watch_every_key_once(1, LEVEL(LINEARIZABLE));
        watch_every_key_once(2, LEVEL(EVENTUAL));
        no_watches_left();
}

static void test_watch_resume_elsewhere(void **state)
{
        static struct seen sn;
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__WatchStart st[P], *stp[P];
        Tunekv__V1__Response *r;
        const char *prefix = "wr/";
        char k[48], v[16];
        uint64_t wid;
        unsigned other = 0;
        uint32_t p;
        int fd = raw_connect_addr(c.nodes[0].client_addr, false);
        (void)state;

        memset(&sn, 0, sizeof sn);
        put("wr/000", "before"); /* before the positions: never seen again */
        wq.key = bin(prefix);
        wq.prefix = true;
        r = watch_open_raw(fd, &wq, &wid);
        assert_int_equal(r->watch->n_progress, P);
        for (size_t i = 0; i < P; i++) {
                tunekv__v1__watch_start__init(&st[i]);
                st[i].partition = r->watch->progress[i]->partition;
                st[i].after_index = r->watch->progress[i]->index;
                sn.last[i] = st[i].after_index;
                stp[i] = &st[i];
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
        no_watches_left();
        for (int i = 0; i < 12; i++) {
                snprintf(k, sizeof k, "wr/%03d", i);
                snprintf(v, sizeof v, "v%d", i);
                put(k, v);
        }
        /* On node 2, after node 1's positions: exactly the 12 changes. */
        fd = raw_connect_addr(c.nodes[1].client_addr, false);
        wq.n_start = P;
        wq.start = stp;
        r = watch_open_raw(fd, &wq, &wid);
        tunekv__v1__response__free_unpacked(r, NULL);
        read_events(fd, wid, prefix, 12, &sn);
        assert_int_equal(sn.events, 12);
        assert_string_equal(sn.value[0], "v0");
        cancel_raw(fd, wid);
        close(fd);

        /* A key's watch on a node without its partition. */
        for (p = 0; p < P && hosts(1, p); p++) {
        }
        assert_true(p < P);
        for (int i = 0;; i++) {
                snprintf(k, sizeof k, "wk/%d", i);
                if (partition_of(k) == p) {
                        break;
                }
        }
        fd = raw_connect_addr(c.nodes[0].client_addr, false);
        memset(&wq, 0, sizeof wq);
        tunekv__v1__watch_request__init(&wq);
        wq.key = bin(k);
        r = watch_open_raw(fd, &wq, &wid);
        assert_int_equal(r->watch->n_progress, 1);
        assert_int_equal(r->watch->progress[0]->partition, p);
        other = r->watch->progress[0]->node_id;
        assert_int_not_equal(other, 1);
        tunekv__v1__response__free_unpacked(r, NULL);
        put(k, "x");
        r = raw_read_response(fd);
        while (r != NULL && r->watch != NULL && r->watch->n_events == 0) {
                tunekv__v1__response__free_unpacked(r, NULL); /* progress */
                r = raw_read_response(fd);
        }
        assert_non_null(r);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->watch->n_events, 1);
        assert_int_equal(r->watch->events[0]->key.len, strlen(k));
        assert_memory_equal(r->watch->events[0]->value.data, "x", 1);
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
        no_watches_left();
}

/* A client that stops reading while 1 000 values of 8 KiB (8 MB, far over
 * the 64 KiB output cap and the socket buffers, well within the change
 * history) are put under its prefix: once it reads again it gets each
 * exactly once, in log order per partition. */
static void test_watch_slow_client(void **state)
{
        static struct seen sn;
        static char v[8192];
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__Response *r;
        const char *prefix = "wf/";
        char k[48];
        uint64_t wid;
        int fd = raw_connect_addr(c.nodes[2].client_addr, true);
        (void)state;

        memset(&sn, 0, sizeof sn);
        wq.key = bin(prefix);
        wq.prefix = true;
        r = watch_open_raw(fd, &wq, &wid);
        for (size_t i = 0; i < P; i++) {
                sn.last[i] = r->watch->progress[i]->index;
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        memset(v, 'x', sizeof v - 1);
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "wf/%03d", i);
                put(k, v);
        }
        read_events(fd, wid, prefix, 1000, &sn);
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(sn.count[i], 1);
                assert_int_equal(sn.len[i], sizeof v - 1);
        }
        cancel_raw(fd, wid);
        close(fd);
        no_watches_left();
}

/* A node that streams a share dies: the stream ends UNAVAILABLE (the
 * client resumes elsewhere after its positions). */
static void test_watch_share_node_dies(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__Response *r;
        unsigned victim = 0;
        uint64_t wid;
        int fd = raw_connect_addr(c.nodes[0].client_addr, false);
        (void)state;

        wq.key = bin("wd/");
        wq.prefix = true;
        r = watch_open_raw(fd, &wq, &wid);
        for (size_t i = 0; i < r->watch->n_progress; i++) {
                if (r->watch->progress[i]->node_id != 1) {
                        victim = r->watch->progress[i]->node_id;
                }
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        assert_true(victim == 2 || victim == 3);
        cluster_signal(&c, victim, SIGKILL, true);
        for (;;) {
                r = raw_read_response(fd);
                assert_non_null(r);
                assert_int_equal(r->id, wid);
                if (r->watch != NULL && r->watch->canceled) {
                        break;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_int_equal(r->status, STATUS(UNAVAILABLE));
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
        assert_int_equal(cluster_restart(&c, victim), 0);
}

static int group_setup(void **state)
{
        char k[32], v[32];
        (void)state;

        memset(&c, 0, sizeof c);
        if (testlib_tmpdir(dir, sizeof dir, "tkv-spread") != 0 ||
            cluster_start(&c, dir, N, P, 2, flags) != 0) {
                return -1;
        }
        cl = cluster_client(&c, 0);
        if (cl == NULL) {
                return -1;
        }
        for (int i = 0; i < KEYS; i++) {
                struct tkv_write_options o = {.ack = TKV_ACK_ALL_REPLICAS};
                struct tkv_result r;
                snprintf(k, sizeof k, "sp/%03d", i);
                snprintf(v, sizeof v, "v%03d", i);
                if (tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r) != TKV_OK) {
                        return -1;
                }
                tkv_result_release(&r);
        }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        return cluster_group_teardown(&c, dir, &cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_key_once_from_every_node),
            cmocka_unit_test(test_get_many_from_every_node),
            cmocka_unit_test(test_range_keys_only_count_only),
            cmocka_unit_test(test_named_partitions),
            cmocka_unit_test(test_byte_budget),
            cmocka_unit_test(test_sequential_is_one_cut),
            cmocka_unit_test(test_get_many_under_continuous_writes),
            cmocka_unit_test(test_scan_under_continuous_writes),
            cmocka_unit_test(test_scan_at_timestamp),
            cmocka_unit_test(test_linearizable_sees_acknowledged_writes),
            cmocka_unit_test(test_watch_from_every_node),
            cmocka_unit_test(test_watch_resume_elsewhere),
            cmocka_unit_test(test_watch_slow_client),
            cmocka_unit_test(test_watch_share_node_dies),
            cmocka_unit_test(test_node_down_eventual),
            cmocka_unit_test_prestate(cluster_test_replicas_agree, &c),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
