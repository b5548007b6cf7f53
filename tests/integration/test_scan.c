/* SCAN on a real cluster: 3 tunekvd processes x 3 partitions x 3 replicas,
 * written through libtunekv (every replica acknowledging, so any node may
 * be asked) and scanned with raw requests. Proves:
 * - a prefix scan followed page by page returns every key of the prefix
 *   exactly once, in key order, also with writes and deletes between
 *   pages (a key added behind the cursor is not seen, one ahead is, a key
 *   deleted ahead is not), each page with one receipt per partition;
 * - a range [start, end) returns exactly its keys; an empty end runs to
 *   the last key;
 * - keys_only sends no values, count_only only counts, pages summing up;
 * - limits: 0 and a huge limit are clamped to scan_limit_max, a page ends
 *   early at scan_bytes_max, a 4 KiB prefix is served and a longer one
 *   refused, end before start, a prefix with a range, a cursor outside
 *   the scan and at_timestamp at LINEARIZABLE are INVALID_ARGUMENT;
 * - LINEARIZABLE over every partition, on a node paused while the keys
 *   were written and asked right after it resumed: the page holds every
 *   acknowledged write (a double collect);
 * - a follower serves an EVENTUAL scan from its own replicas;
 * - a hash-tag prefix reads one partition (and GET_MANY finds a tagged
 *   key in that partition too), and at LINEARIZABLE only its leader
 *   serves it;
 * - at SEQUENTIAL the page's timestamp covers every value in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"
#include "tunekv.pb-c.h"

#define P         3
#define LIMIT_MAX 50

#define STATUS(x) TUNEKV__V1__STATUS__STATUS_##x
#define LEVEL(x)  TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

static char dir[256];
static struct cluster c;
static struct tkv_client *cl;
static uint64_t next_id = 1;

static const char *const flags[] = {
    "--election-timeout-ms", "1000", "--scan-limit-max", "50", "--scan-bytes-max", "4KiB", NULL};

/* Write k = v, applied on every replica before the answer. */
static uint64_t put(const char *k, const char *v)
{
        struct tkv_write_options o = {.ack = TKV_ACK_ALL_REPLICAS};
        struct tkv_result r;
        uint64_t index;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        index = r.index;
        tkv_result_release(&r);
        return index;
}

static void del(const char *k)
{
        struct tkv_write_options o = {.ack = TKV_ACK_ALL_REPLICAS};
        struct tkv_result r;
        assert_int_equal(tkv_delete(cl, k, strlen(k), &o, &r), TKV_OK);
        tkv_result_release(&r);
}

static ProtobufCBinaryData bin(const char *s)
{
        ProtobufCBinaryData b = {strlen(s), (uint8_t *)s};
        return b;
}

/* Send s to node id (1-based) and return its answer (caller frees). */
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

/* s answered with status, its message holding needle. */
static void scan_refused(Tunekv__V1__ScanRequest *s, Tunekv__V1__Status status, const char *needle)
{
        Tunekv__V1__Response *r = scan_raw(1, s);
        if (r->status != status || strstr(r->message, needle) == NULL) {
                fail_msg("status %d \"%s\", expected %d with \"%s\"", r->status, r->message, status,
                         needle);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* The keys of a scan, every page followed (s's cursor is changed): joined
 * by '\n' into out. Between pages, between(page) runs if not NULL. Each
 * page must have a receipt for each partition it read (n_receipts). */
static unsigned scan_all(unsigned id, Tunekv__V1__ScanRequest *s, char *out, size_t len,
                         void (*between)(unsigned page), size_t n_receipts)
{
        static uint8_t cursor[4096];
        unsigned pages = 0;
        Tunekv__V1__Response *r;

        out[0] = '\0';
        s->cursor.len = 0;
        do {
                r = scan_raw(id, s);
                if (r->status != STATUS(OK)) {
                        fail_msg("scan: status %d: %s", r->status, r->message);
                }
                assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_SCAN);
                assert_int_equal(r->scan->n_receipts, n_receipts);
                assert_int_equal(r->scan->count, r->scan->n_items);
                for (size_t i = 0; i < r->scan->n_items; i++) {
                        size_t at = strlen(out);
                        const ProtobufCBinaryData *k = &r->scan->items[i]->key;
                        assert_true(at + k->len + 2 < len);
                        memcpy(out + at, k->data, k->len);
                        out[at + k->len] = '\n';
                        out[at + k->len + 1] = '\0';
                }
                assert_true(!r->scan->more || r->scan->cursor.len > 0);
                if (r->scan->cursor.len > 0) {
                        memcpy(cursor, r->scan->cursor.data, r->scan->cursor.len);
                }
                s->cursor.data = cursor;
                s->cursor.len = r->scan->cursor.len;
                pages++;
                if (r->scan->more && between != NULL) {
                        between(pages);
                }
                if (!r->scan->more) {
                        s->cursor.len = 0;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        } while (s->cursor.len > 0);
        return pages;
}

/* ------------------------------------------------------------------------ */

static void between_pages(unsigned page)
{
        if (page == 2) {
                put("pfx/000a", "behind the cursor"); /* sorts before page 3 */
                put("pfx/099a", "ahead");
                del("pfx/090");
        }
}

static void test_prefix_pages_with_writes_between(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        static char got[8192], want[8192];
        char k[32];
        (void)state;

        put("pfx", "not under pfx/");
        put("pfw/zzz", "before");
        put("pfx0", "after");
        want[0] = '\0';
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof k, "pfx/%03d", i);
                put(k, "v");
                if (i != 90) {
                        strcat(want, k);
                        strcat(want, "\n");
                }
                if (i == 99) {
                        strcat(want, "pfx/099a\n");
                }
        }
        s.prefix = bin("pfx/");
        s.limit = 7;
        o.level = LEVEL(SEQUENTIAL);
        s.options = &o;
        assert_int_equal(scan_all(1, &s, got, sizeof got, between_pages, P), 15);
        assert_string_equal(got, want);
}

static void test_range(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        static char got[8192];
        char k[32];
        uint64_t index = 0;
        Tunekv__V1__Response *r;
        (void)state;

        for (int i = 0; i < 30; i++) {
                snprintf(k, sizeof k, "rng/%02d", i);
                index = put(k, "value");
        }
        put("rnh", "the next key in the key space");
        s.start = bin("rng/10");
        s.end = bin("rng/20");
        scan_all(1, &s, got, sizeof got, NULL, P);
        assert_string_equal(got, "rng/10\nrng/11\nrng/12\nrng/13\nrng/14\nrng/15\nrng/16\nrng/"
                                 "17\nrng/18\nrng/19\n");
        s.start = bin("rng/28");
        s.end.len = 0; /* to the end: the keys after rng/ come too */
        s.limit = 3;
        r = scan_raw(2, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->n_items, 3);
        assert_memory_equal(r->scan->items[0]->key.data, "rng/28", 6);
        assert_memory_equal(r->scan->items[1]->key.data, "rng/29", 6);
        assert_memory_equal(r->scan->items[2]->key.data, "rnh", 3);
        assert_memory_equal(r->scan->items[0]->value.data, "value", 5);
        assert_int_equal(r->scan->items[1]->mod_index, index);
        assert_int_equal(r->scan->items[1]->create_index, index);
        tunekv__v1__response__free_unpacked(r, NULL);
}

static void test_keys_only_and_count_only(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__Response *r;
        char k[32];
        uint64_t total = 0;
        (void)state;

        for (int i = 0; i < 120; i++) {
                snprintf(k, sizeof k, "cnt/%03d", i);
                put(k, "some value");
        }
        s.prefix = bin("cnt/");
        s.keys_only = true;
        s.limit = 10;
        r = scan_raw(3, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->n_items, 10);
        for (size_t i = 0; i < r->scan->n_items; i++) {
                assert_int_equal(r->scan->items[i]->value.len, 0);
                assert_true(r->scan->items[i]->mod_index > 0);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        s.keys_only = false;
        s.count_only = true;
        s.limit = 0; /* the cap: 50 */
        do {
                r = scan_raw(1, &s);
                assert_int_equal(r->status, STATUS(OK));
                assert_int_equal(r->scan->n_items, 0);
                assert_true(r->scan->count <= LIMIT_MAX);
                total += r->scan->count;
                s.cursor.len = 0;
                if (r->scan->more) {
                        static uint8_t cur[64];
                        memcpy(cur, r->scan->cursor.data, r->scan->cursor.len);
                        s.cursor.data = cur;
                        s.cursor.len = r->scan->cursor.len;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        } while (s.cursor.len > 0);
        assert_int_equal(total, 120);
}

static void test_limits(void **state)
{
        static uint8_t big[4097];
        static char value[1001];
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__Response *r;
        static char got[8192];
        char k[32];
        (void)state;

        for (int i = 0; i < 60; i++) {
                snprintf(k, sizeof k, "lim/%02d", i);
                put(k, "v");
        }
        s.prefix = bin("lim/");
        s.limit = 1000000; /* clamped to scan_limit_max */
        r = scan_raw(1, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->n_items, LIMIT_MAX);
        assert_true(r->scan->more);
        tunekv__v1__response__free_unpacked(r, NULL);

        /* 1000-byte values: a page ends at scan_bytes_max (4 KiB). */
        memset(value, 'x', 1000);
        for (int i = 0; i < 12; i++) {
                snprintf(k, sizeof k, "fat/%02d", i);
                put(k, value);
        }
        s.prefix = bin("fat/");
        s.limit = 0;
        assert_true(scan_all(1, &s, got, sizeof got, NULL, P) >= 4);
        assert_int_equal(strlen(got), 12 * 7);

        memset(big, 'p', sizeof big);
        s.prefix.data = big;
        s.prefix.len = 4096; /* the longest key: served, nothing under it */
        r = scan_raw(1, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->n_items, 0);
        assert_false(r->scan->more);
        tunekv__v1__response__free_unpacked(r, NULL);
        s.prefix.len = 4097;
        scan_refused(&s, STATUS(TOO_LARGE), "key_bytes_max");

        s.prefix = bin("lim/");
        s.start = bin("lim/");
        scan_refused(&s, STATUS(INVALID_ARGUMENT), "not both");
        s.prefix.len = 0;
        s.start = bin("lim/5");
        s.end = bin("lim/4");
        scan_refused(&s, STATUS(INVALID_ARGUMENT), "end sorts before start");
        s.end = bin("lim/6");
        s.cursor = bin("zzz"); /* not in [lim/5, lim/6) */
        scan_refused(&s, STATUS(INVALID_ARGUMENT), "cursor");
        s.cursor.len = 0;
        o.level = LEVEL(LINEARIZABLE); /* a past state is SEQUENTIAL or EVENTUAL */
        o.at_timestamp = 1;
        s.options = &o;
        scan_refused(&s, STATUS(INVALID_ARGUMENT), "at_timestamp");
}

static void test_follower_eventual(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        static char from_1[4096], from_n[4096];
        char k[32];
        bool followed = false;
        (void)state;

        for (int i = 0; i < 20; i++) {
                snprintf(k, sizeof k, "fol/%02d", i);
                put(k, "v");
        }
        s.prefix = bin("fol/");
        o.level = LEVEL(EVENTUAL);
        s.options = &o;
        scan_all(1, &s, from_1, sizeof from_1, NULL, P);
        for (unsigned id = 2; id <= 3; id++) {
                Tunekv__V1__Response *r;
                scan_all(id, &s, from_n, sizeof from_n, NULL, P);
                assert_string_equal(from_n, from_1);
                r = scan_raw(id, &s);
                assert_int_equal(r->scan->level, LEVEL(EVENTUAL));
                for (size_t i = 0; i < r->scan->n_receipts; i++) {
                        const Tunekv__V1__ScanReceipt *rc = r->scan->receipts[i];
                        assert_int_equal(rc->node_id, id);
                        assert_true(rc->applied_index > 0);
                        followed |= cluster_leader(&c, id, rc->partition) != id;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_true(followed); /* nodes 2 and 3 cannot both lead every partition */
}

/* GET_MANY reads a tagged key from its tag's partition, as GET does. */
static void get_many_finds(const char *key, uint32_t p)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetManyRequest gm = TUNEKV__V1__GET_MANY_REQUEST__INIT;
        ProtobufCBinaryData k = bin(key);
        Tunekv__V1__Response *r;
        int fd = raw_connect_addr(c.nodes[0].client_addr, false);

        gm.keys = &k;
        gm.n_keys = 1;
        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET_MANY;
        req.get_many = &gm;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        close(fd);
        assert_non_null(r);
        assert_int_equal(r->status, STATUS(OK));
        assert_true(r->get_many->items[0]->found);
        assert_int_equal(r->get_many->items[0]->partition, p);
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* A LINEARIZABLE scan of the tagged prefix: served by its partition's
 * leader after a fence, NOT_LEADER (with the leader's hint) elsewhere;
 * libtunekv routes it to the leader. */
static void linearizable_on_the_leader_only(uint32_t p)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        struct tkv_read_options lin = {0};
        struct tkv_scan sc = {0};
        struct tkv_result res;
        uint32_t leader = cluster_leader(&c, 1, p);

        assert_true(leader >= 1 && leader <= 3);
        s.prefix = bin("{t1}:");
        o.level = LEVEL(LINEARIZABLE);
        s.options = &o;
        for (unsigned id = 1; id <= 3; id++) {
                Tunekv__V1__Response *r = scan_raw(id, &s);
                if (id == leader) {
                        assert_int_equal(r->status, STATUS(OK));
                        assert_int_equal(r->scan->level, LEVEL(LINEARIZABLE));
                        assert_int_equal(r->scan->n_items, 10);
                        assert_int_equal(r->scan->receipts[0]->level, LEVEL(LINEARIZABLE));
                } else {
                        assert_int_equal(r->status, STATUS(NOT_LEADER));
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        sc.prefix = "{t1}:";
        sc.prefix_len = 5;
        lin.level = TKV_LINEARIZABLE;
        assert_int_equal(tkv_scan(cl, &sc, NULL, 0, &lin, &res), TKV_OK);
        assert_int_equal(res.scan_n_items, 10);
        assert_int_equal(res.receipt.level, TKV_LINEARIZABLE);
        tkv_result_release(&res);
}

static void test_hash_tag_one_partition(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__Response *r;
        char k[32];
        uint32_t p = (uint32_t)(XXH64("t1", 2, 0) % P);
        (void)state;

        for (int i = 0; i < 10; i++) {
                snprintf(k, sizeof k, "{t1}:%d", i);
                put(k, "v");
        }
        put("{t1}", "no colon: not under the prefix");
        s.prefix = bin("{t1}:");
        r = scan_raw(2, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->n_receipts, 1);
        assert_int_equal(r->scan->receipts[0]->partition, p);
        assert_int_equal(r->scan->n_items, 10);
        for (size_t i = 0; i < r->scan->n_items; i++) {
                assert_int_equal(r->scan->items[i]->partition, p);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        get_many_finds("{t1}:1", p); /* its whole key hashes to another partition */
        linearizable_on_the_leader_only(p);
}

static void test_sequential_timestamp(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__Response *r;
        (void)state;

        put("seq/a", "1");
        put("seq/b", "2");
        s.prefix = bin("seq/");
        o.level = LEVEL(SEQUENTIAL);
        s.options = &o;
        r = scan_raw(3, &s);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->scan->level, LEVEL(SEQUENTIAL));
        assert_int_equal(r->scan->n_items, 2);
        for (size_t i = 0; i < r->scan->n_items; i++) {
                assert_true(r->scan->items[i]->timestamp > 0);
                assert_true(r->scan->items[i]->timestamp <= r->scan->timestamp);
        }
        assert_true(r->scan->token.len > 0);
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* libtunekv: tkv_scan_iter follows the cursors; every key once, in order,
 * values and versions as written; one page alone by tkv_scan. */
static void test_client_library(void **state)
{
        struct tkv_scan sc = {0};
        struct tkv_read_options o = {0};
        struct tkv_scan_iter *it;
        struct tkv_result page;
        char k[32], prev[32] = "";
        unsigned n = 0, pages = 0;
        int rv;
        (void)state;

        for (int i = 0; i < 25; i++) {
                snprintf(k, sizeof k, "lib/%02d", i);
                put(k, "libv");
        }
        sc.prefix = "lib/";
        sc.prefix_len = 4;
        sc.limit = 10;
        o.level = TKV_SEQUENTIAL;
        assert_int_equal(tkv_scan_iter_new(cl, &sc, &o, &it), TKV_OK);
        while ((rv = tkv_scan_iter_next(it, &page)) == TKV_OK) {
                pages++;
                assert_int_equal(page.scan_n_receipts, P);
                assert_int_equal(page.scan_count, page.scan_n_items);
                for (size_t i = 0; i < page.scan_n_items; i++) {
                        const struct tkv_scan_item *item = &page.scan_items[i];
                        snprintf(k, sizeof k, "lib/%02u", n++);
                        assert_int_equal(item->key_len, strlen(k));
                        assert_memory_equal(item->key, k, item->key_len);
                        assert_true(strcmp(prev, k) < 0);
                        strcpy(prev, k);
                        assert_int_equal(item->value_len, 4);
                        assert_memory_equal(item->value, "libv", 4);
                        assert_true(item->mod_index > 0 && item->create_index > 0);
                }
                tkv_result_release(&page);
        }
        assert_int_equal(rv, TKV_NOT_FOUND);
        tkv_scan_iter_free(it);
        assert_int_equal(n, 25);
        assert_int_equal(pages, 3);
        sc.count_only = true;
        sc.limit = 0;
        assert_int_equal(tkv_scan(cl, &sc, NULL, 0, NULL, &page), TKV_OK);
        assert_int_equal(page.scan_count, 25);
        assert_int_equal(page.scan_n_items, 0);
        assert_false(page.scan_more);
        tkv_result_release(&page);
}

/* Write k = v, acknowledged once committed (a replica may be paused). */
static void put_committed(const char *k, const char *v)
{
        struct tkv_write_options o = {.ack = TKV_ACK_COMMITTED};
        struct tkv_result r;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        tkv_result_release(&r);
}

/* LINEARIZABLE over every partition, served by the node the request
 * reaches: that node is paused while the keys of the partitions it
 * follows are written (those it leads could not commit meanwhile), and
 * scanned right after it resumes, when those replicas lag. Every
 * acknowledged write is in the page (a SEQUENTIAL scan of a fresh session
 * may show old values there), every receipt says LINEARIZABLE, and the
 * page's timestamp is at or above the values'. */
static void test_linearizable_across_partitions(void **state)
{
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        char k[32], want[6][32];
        (void)state;

        for (int i = 0; i < 6; i++) {
                snprintf(k, sizeof k, "lin/%d", i);
                put(k, "0");
                snprintf(want[i], sizeof want[i], "0");
        }
        s.prefix = bin("lin/");
        o.level = LEVEL(LINEARIZABLE);
        s.options = &o;
        for (unsigned round = 1; round <= 5; round++) {
                unsigned n = 1 + round % 3, written = 0;
                Tunekv__V1__Response *r;
                assert_int_equal(cluster_signal(&c, n, SIGSTOP, false), 0);
                for (int i = 0; i < 6; i++) {
                        snprintf(k, sizeof k, "lin/%d", i);
                        if (cluster_leader(&c, n % 3 + 1, (uint32_t)(XXH64(k, strlen(k), 0) % P)) ==
                            n) {
                                continue;
                        }
                        snprintf(want[i], sizeof want[i], "%u", round);
                        put_committed(k, want[i]);
                        written++;
                }
                assert_true(written > 0);
                assert_int_equal(cluster_signal(&c, n, SIGCONT, false), 0);
                r = scan_raw(n, &s);
                if (r->status != STATUS(OK)) {
                        fail_msg("scan: status %d: %s", r->status, r->message);
                }
                assert_int_equal(r->scan->n_items, 6);
                assert_int_equal(r->scan->n_receipts, P);
                assert_int_equal(r->scan->level, LEVEL(LINEARIZABLE));
                for (size_t i = 0; i < r->scan->n_items; i++) {
                        const ProtobufCBinaryData *val = &r->scan->items[i]->value;
                        assert_int_equal(val->len, strlen(want[i]));
                        assert_memory_equal(val->data, want[i], val->len);
                        assert_true(r->scan->items[i]->timestamp <= r->scan->timestamp);
                }
                for (size_t i = 0; i < r->scan->n_receipts; i++) {
                        assert_int_equal(r->scan->receipts[i]->level, LEVEL(LINEARIZABLE));
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
}

static int group_setup(void **state)
{
        (void)state;
        return cluster_group_setup(&c, dir, sizeof dir, "tkv-scan", P, flags, &cl);
}

static int group_teardown(void **state)
{
        (void)state;
        return cluster_group_teardown(&c, dir, &cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_prefix_pages_with_writes_between),
            cmocka_unit_test(test_range),
            cmocka_unit_test(test_keys_only_and_count_only),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_follower_eventual),
            cmocka_unit_test(test_hash_tag_one_partition),
            cmocka_unit_test(test_sequential_timestamp),
            cmocka_unit_test(test_client_library),
            cmocka_unit_test(test_linearizable_across_partitions),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
