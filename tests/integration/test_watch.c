/* WATCH on a real cluster: 3 tunekvd processes x 3 partitions x 3
 * replicas, a change history of HISTORY changes per partition. Proves:
 * - a key's watch, served by a follower, delivers every acknowledged write
 *   and delete of that key exactly once, in index order, with its value,
 *   and nothing of other keys;
 * - a prefix watch over every partition delivers every write under the
 *   prefix, in index order per partition, and none outside it;
 * - a watch closed and opened again after its positions delivers exactly
 *   the changes made meanwhile (none twice, none lost);
 * - a watch whose node stops answering resumes by itself on another node
 *   (libtunekv), and still every acknowledged write arrives exactly once;
 * - resuming from before the history: COMPACTED with the index after which
 *   it is complete; a watcher that stops reading while its key keeps
 *   changing is not buffered without bound: its stream ends COMPACTED
 *   once the history passed it, and the node's answers go on;
 * - a TXN's changes arrive in one frame, at one index; the positions a
 *   watch reports count only what it handed out, whole entries;
 * - a lease's end: every key it held is a DELETE event, at one index;
 * - 10 000 watches of one key on one connection each get its change;
 * - limits and bad input: watches_per_conn_max (BUSY), a 4 KiB key served
 *   and a longer one TOO_LARGE, an empty key without prefix and a start
 *   in a partition the watch does not read INVALID_ARGUMENT, WATCH_CANCEL
 *   of an unknown id NOT_FOUND; a cancelled stream ends with a last frame;
 * - BOUNDED_STALENESS on a follower: its progress frames report its
 *   staleness bound; when the other replicas stop, the stream ends
 *   BOUND_UNMET once no proof of the bound is younger than it;
 * - LINEARIZABLE on a follower: NOT_LEADER naming the leader. */
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
#include "keyhash.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"
#include "tunekv.pb-c.h"

#define P       3
#define HISTORY 200

#define STATUS(x) TUNEKV__V1__STATUS__STATUS_##x
#define LEVEL(x)  TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

static char dir[256];
static struct cluster c;
static struct tkv_client *cl;
static uint64_t next_id = 1;

static const char *const flags[] = {"--election-timeout-ms",
                                    "1000",
                                    "--history-changes-max",
                                    "200",
                                    "--watches-per-conn-max",
                                    "10001",
                                    "--watch-output-bytes-max",
                                    "64KiB",
                                    "--watch-progress-ms",
                                    "100",
                                    NULL};

static uint32_t partition_of(const char *k)
{
        return (uint32_t)(key_hash_partition(k, strlen(k)) % P);
}

/* Write k = v (v NULL: delete), applied on every replica before the
 * answer; returns the write's index. */
static uint64_t change(const char *k, const char *v)
{
        struct tkv_write_options o = {.ack = TKV_ACK_ALL_REPLICAS};
        struct tkv_result r;
        uint64_t index;
        int rv = v != NULL ? tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r)
                           : tkv_delete(cl, k, strlen(k), &o, &r);
        if (rv != TKV_OK) {
                fail_msg("%s %s: %s", v != NULL ? "put" : "delete", k, r.message);
        }
        index = r.index;
        tkv_result_release(&r);
        return index;
}

/* A write the test expects to see as an event. */
struct expect {
        char key[32];
        char value[32]; /* "": a delete */
        uint64_t index;
        uint32_t partition;
};

/* The next n events of w match want[0..n) (each partition in its own
 * order: events of different partitions may interleave). */
static void expect_events(struct tkv_watch *w, const struct expect *want, size_t n)
{
        bool *seen = calloc(n, sizeof *seen);
        uint64_t last[P] = {0};

        assert_non_null(seen);
        for (size_t got = 0; got < n; got++) {
                struct tkv_watch_event ev;
                size_t i;
                int rv = tkv_watch_next(w, &ev, 10000);
                if (rv != TKV_OK) {
                        fail_msg("event %zu of %zu: %s: %s", got + 1, n, tkv_status_name(rv),
                                 tkv_watch_errmsg(w));
                }
                assert_true(ev.partition < P);
                assert_true(ev.index > last[ev.partition]); /* in order, never twice */
                last[ev.partition] = ev.index;
                for (i = 0; i < n; i++) {
                        if (!seen[i] && want[i].index == ev.index &&
                            want[i].partition == ev.partition) {
                                break;
                        }
                }
                if (i == n) {
                        fail_msg("unexpected event %.*s at %u:%llu", (int)ev.key_len,
                                 (const char *)ev.key, ev.partition, (unsigned long long)ev.index);
                }
                seen[i] = true;
                assert_int_equal(ev.key_len, strlen(want[i].key));
                assert_memory_equal(ev.key, want[i].key, ev.key_len);
                if (want[i].value[0] == '\0') {
                        assert_int_equal(ev.type, TKV_EVENT_DELETE);
                } else {
                        assert_int_equal(ev.type, TKV_EVENT_PUT);
                        assert_int_equal(ev.value_len, strlen(want[i].value));
                        assert_memory_equal(ev.value, want[i].value, ev.value_len);
                }
        }
        free(seen);
}

/* No event comes within ms. */
static void expect_quiet(struct tkv_watch *w, int ms)
{
        struct tkv_watch_event ev;
        int rv = tkv_watch_next(w, &ev, ms);
        if (rv != TKV_TIMEOUT) {
                fail_msg("expected no event, got %s (%.*s at %llu)", tkv_status_name(rv),
                         rv == TKV_OK ? (int)ev.key_len : 0,
                         rv == TKV_OK ? (const char *)ev.key : "",
                         rv == TKV_OK ? (unsigned long long)ev.index : 0ull);
        }
}

static struct tkv_watch *watch_open(const char *key, bool prefix,
                                    const struct tkv_watch_position *start, size_t n_start,
                                    const struct tkv_read_options *o)
{
        struct tkv_watch_spec spec = {.key = key,
                                      .key_len = strlen(key),
                                      .prefix = prefix,
                                      .start = start,
                                      .n_start = n_start,
                                      .silence_ms = 1500};
        struct tkv_watch *w = NULL;
        char err[256];
        int rv = tkv_watch_open(cl, &spec, o, &w, err, sizeof err);
        if (rv != TKV_OK) {
                fail_msg("tkv_watch_open %s: %s: %s", key, tkv_status_name(rv), err);
        }
        return w;
}

static void test_key_watch_on_a_follower(void **state)
{
        struct tkv_read_options o = {.level = TKV_EVENTUAL};
        struct expect want[40];
        struct tkv_watch *w;
        const char *key = "w/key";
        uint32_t p = partition_of(key);
        (void)state;

        /* A node that does not lead the key's partition serves it. */
        o.node_id = cluster_leader(&c, 1, p) % 3 + 1;
        w = watch_open(key, false, NULL, 0, &o);
        for (int i = 0; i < 40; i++) {
                bool del = i % 7 == 6;
                snprintf(want[i].key, sizeof want[i].key, "%s", key);
                snprintf(want[i].value, sizeof want[i].value, del ? "" : "v%d", i);
                (void)change("w/key2", "other"); /* another key: never an event */
                want[i].index = change(key, del ? NULL : want[i].value);
                want[i].partition = p;
        }
        expect_events(w, want, 40);
        expect_quiet(w, 300);
        tkv_watch_close(w);
}

static void test_prefix_watch_every_partition(void **state)
{
        struct expect want[60];
        struct tkv_watch_position pos[P];
        struct tkv_watch *w;
        (void)state;

        w = watch_open("pw/", true, NULL, 0, NULL);
        assert_int_equal(tkv_watch_positions(w, pos, P), P);
        for (int i = 0; i < 60; i++) {
                snprintf(want[i].key, sizeof want[i].key, "pw/%d", i);
                snprintf(want[i].value, sizeof want[i].value, "%d", i);
                (void)change("px/outside", "no");
                want[i].index = change(want[i].key, want[i].value);
                want[i].partition = partition_of(want[i].key);
        }
        expect_events(w, want, 60);
        expect_quiet(w, 300);
        tkv_watch_close(w);
}

static void test_resume_after_close(void **state)
{
        struct expect want[30];
        struct tkv_watch_position pos[P];
        struct tkv_watch *w;
        size_t n;
        (void)state;

        w = watch_open("rs/", true, NULL, 0, NULL);
        for (int i = 0; i < 10; i++) {
                snprintf(want[i].key, sizeof want[i].key, "rs/%d", i);
                snprintf(want[i].value, sizeof want[i].value, "a%d", i);
                want[i].index = change(want[i].key, want[i].value);
                want[i].partition = partition_of(want[i].key);
        }
        expect_events(w, want, 10);
        n = tkv_watch_positions(w, pos, P);
        assert_int_equal(n, P);
        tkv_watch_close(w);
        /* Changes while nobody watches. */
        for (int i = 10; i < 30; i++) {
                bool del = i == 12 || i == 17; /* rs/2 and rs/7, once each */
                snprintf(want[i].key, sizeof want[i].key, "rs/%d", i % 10);
                snprintf(want[i].value, sizeof want[i].value, del ? "" : "b%d", i);
                want[i].index = change(want[i].key, del ? NULL : want[i].value);
                want[i].partition = partition_of(want[i].key);
        }
        w = watch_open("rs/", true, pos, n, NULL);
        expect_events(w, want + 10, 20);
        expect_quiet(w, 300);
        tkv_watch_close(w);
}

static void test_resume_on_another_node(void **state)
{
        const char *key = "{node}fail";
        uint32_t p = partition_of(key);
        struct tkv_read_options o = {.level = TKV_EVENTUAL};
        struct tkv_client *writer;
        struct tkv_watch_info info;
        struct expect want[20];
        struct tkv_watch *w;
        unsigned node;
        (void)state;

        /* A follower serves it, so the writes go on while it is stopped. */
        assert_true(cluster_wait_converged(&c, p, 20000));
        node = cluster_leader(&c, 1, p) % 3 + 1;
        o.node_id = node;
        w = watch_open(key, false, NULL, 0, &o);
        tkv_watch_get_info(w, &info);
        assert_int_equal(info.node_id, node);
        for (int i = 0; i < 20; i++) {
                snprintf(want[i].key, sizeof want[i].key, "%s", key);
                snprintf(want[i].value, sizeof want[i].value, "x%d", i);
                want[i].partition = p;
        }
        for (int i = 0; i < 5; i++) {
                want[i].index = change(key, want[i].value);
        }
        expect_events(w, want, 5);
        /* The serving node stops answering; the others commit without it
         * (written through the leader's node: a client whose map still
         * sent them by way of the stopped node would wait out its
         * timeout). */
        writer = cluster_client(&c, cluster_leader(&c, 1, p));
        assert_non_null(writer);
        assert_int_equal(cluster_signal(&c, node, SIGSTOP, false), 0);
        for (int i = 5; i < 20; i++) {
                struct tkv_write_options wo = {.ack = TKV_ACK_COMMITTED};
                struct tkv_result r;
                if (tkv_put(writer, key, strlen(key), want[i].value, strlen(want[i].value), &wo,
                            &r) != TKV_OK) {
                        fail_msg("put %d: %s", i, r.message);
                }
                want[i].index = r.index;
                tkv_result_release(&r);
        }
        expect_events(w, want + 5, 15);
        tkv_watch_get_info(w, &info);
        assert_int_not_equal(info.node_id, node);
        assert_true(info.resumes >= 1);
        assert_int_equal(cluster_signal(&c, node, SIGCONT, false), 0);
        tkv_client_destroy(writer);
        tkv_watch_close(w);
}

/* Send a WATCH on fd and return its first answer (caller frees). Frames
 * of streams opened before on fd (their progress) are skipped. */
static Tunekv__V1__Response *watch_raw(int fd, Tunekv__V1__WatchRequest *wq, uint64_t *id)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__Response *r;

        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = wq;
        raw_send_request(fd, &req);
        while ((r = raw_read_response(fd)) != NULL && r->id < req.id) {
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_non_null(r);
        assert_int_equal(r->id, req.id);
        if (id != NULL) {
                *id = req.id;
        }
        return r;
}

static ProtobufCBinaryData bin(const char *s)
{
        ProtobufCBinaryData b = {strlen(s), (uint8_t *)s};
        return b;
}

static void test_compacted(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__WatchStart st = TUNEKV__V1__WATCH_START__INIT, *sts[] = {&st};
        const char *key = "cp/key";
        Tunekv__V1__Response *r;
        uint64_t first = 0;
        int fd;
        (void)state;

        for (int i = 0; i < HISTORY + 50; i++) {
                uint64_t index = change(key, "v");
                first = first == 0 ? index : first;
        }
        fd = raw_connect_addr(c.nodes[0].client_addr, false);
        wq.key = bin(key);
        st.partition = partition_of(key);
        st.after_index = first - 1;
        wq.n_start = 1;
        wq.start = sts;
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(COMPACTED));
        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_WATCH);
        assert_true(r->watch->canceled);
        assert_int_equal(r->watch->compacted_partition, partition_of(key));
        assert_true(r->watch->compacted_index >= first);
        /* From there on it is complete: the resume is accepted. */
        st.after_index = r->watch->compacted_index;
        tunekv__v1__response__free_unpacked(r, NULL);
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(OK));
        assert_true(r->watch->created);
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
}

/* A watcher that stops reading while its key keeps changing: the node
 * holds at most watch_output_bytes_max of its frames (plus the kernel's
 * buffers), then the history passes it and its stream ends COMPACTED;
 * everything it did get is in order. */
static void test_slow_watcher(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        const char *key = "slow/key";
        char value[2048];
        Tunekv__V1__Response *r;
        uint64_t last = 0, id;
        unsigned events = 0;
        int fd;
        (void)state;

        memset(value, 'x', sizeof value - 1);
        value[sizeof value - 1] = '\0';
        fd = raw_connect_addr(c.nodes[1].client_addr, true);
        wq.key = bin(key);
        r = watch_raw(fd, &wq, &id);
        assert_int_equal(r->status, STATUS(OK));
        tunekv__v1__response__free_unpacked(r, NULL);
        /* 3 000 x 2 KiB: far beyond the socket buffers, the output cap and
         * the history of 200 changes. */
        for (int i = 0; i < 3000; i++) {
                struct tkv_write_options o = {.ack = TKV_ACK_COMMITTED};
                struct tkv_result res;
                value[0] = (char)('a' + i % 26);
                assert_int_equal(tkv_put(cl, key, strlen(key), value, strlen(value), &o, &res),
                                 TKV_OK);
                tkv_result_release(&res);
        }
        for (;;) {
                r = raw_read_response(fd);
                assert_non_null(r);
                assert_int_equal(r->id, id);
                assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_WATCH);
                for (size_t i = 0; i < r->watch->n_events; i++) {
                        assert_true(r->watch->events[i]->index > last);
                        last = r->watch->events[i]->index;
                        events++;
                }
                if (r->watch->canceled) {
                        assert_int_equal(r->status, STATUS(COMPACTED));
                        assert_true(r->watch->compacted_index > last);
                        tunekv__v1__response__free_unpacked(r, NULL);
                        break;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_true(events > 0 && events < 3000);
        close(fd);
        /* The node is fine. */
        (void)change(key, "after");
}

static void test_txn_in_one_frame(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result res;
        Tunekv__V1__Response *r;
        uint64_t id;
        int fd;
        (void)state;

        fd = raw_connect_addr(c.nodes[0].client_addr, false);
        wq.key = bin("{tx}");
        wq.prefix = true;
        r = watch_raw(fd, &wq, &id);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->watch->n_progress, 1); /* a hash tag: one partition */
        tunekv__v1__response__free_unpacked(r, NULL);
        assert_non_null(t);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "{tx}a", 5, "1", 1), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "{tx}b", 5, "2", 1), TKV_OK);
        assert_int_equal(tkv_txn_delete(t, TKV_TXN_SUCCESS, "{tx}c", 5), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "{tx}c", 5, "3", 1), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &res), TKV_OK);
        for (;;) { /* progress frames may come first */
                r = raw_read_response(fd);
                assert_non_null(r);
                if (r->watch->n_events > 0) {
                        break;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_int_equal(r->watch->n_events, 3); /* the delete of an absent key changes nothing */
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(r->watch->events[i]->index, res.index);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
        tkv_result_release(&res);
        tkv_txn_free(t);
        close(fd);
}

/* tkv_watch_positions counts what was handed out, whole log entries
 * only: a TXN's first change out does not move it, its last one does. */
static void test_positions_count_what_was_handed_out(void **state)
{
        struct tkv_watch *w = watch_open("{pos}", true, NULL, 0, NULL);
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_watch_position pos;
        struct tkv_watch_event ev;
        struct tkv_result res;
        uint64_t start;
        (void)state;

        assert_int_equal(tkv_watch_positions(w, &pos, 1), 1);
        start = pos.after_index;
        assert_non_null(t);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "{pos}a", 6, "1", 1), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "{pos}b", 6, "2", 1), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &res), TKV_OK);
        assert_int_equal(tkv_watch_next(w, &ev, 10000), TKV_OK);
        assert_int_equal(ev.index, res.index);
        assert_int_equal(tkv_watch_positions(w, &pos, 1), 1);
        assert_true(pos.after_index < res.index); /* {pos}b is not out yet */
        assert_true(pos.after_index >= start);
        assert_int_equal(tkv_watch_next(w, &ev, 10000), TKV_OK);
        assert_int_equal(ev.index, res.index);
        assert_int_equal(tkv_watch_positions(w, &pos, 1), 1);
        assert_int_equal(pos.after_index, res.index);
        tkv_result_release(&res);
        tkv_txn_free(t);
        tkv_watch_close(w);
}

/* A lease's end deletes its keys in one entry: a prefix watch of their
 * tag gets every delete, in one frame (one index), after the puts. */
static void test_lease_end_is_seen(void **state)
{
        struct tkv_write_options o = {.ack = TKV_ACK_COMMITTED};
        struct tkv_watch *w = watch_open("{ls}", true, NULL, 0, NULL);
        struct tkv_watch_event ev;
        struct tkv_lease lease;
        char err[256];
        uint64_t del_index = 0;
        (void)state;

        memset(&lease, 0, sizeof lease);
        assert_int_equal(tkv_lease_grant(cl, 60000, "ls", 2, &lease, err, sizeof err), TKV_OK);
        o.lease = lease.id;
        for (int i = 0; i < 3; i++) {
                char k[16];
                struct tkv_result r;
                snprintf(k, sizeof k, "{ls}%d", i);
                assert_int_equal(tkv_put(cl, k, strlen(k), "held", 4, &o, &r), TKV_OK);
                tkv_result_release(&r);
        }
        for (int i = 0; i < 3; i++) {
                assert_int_equal(tkv_watch_next(w, &ev, 10000), TKV_OK);
                assert_int_equal(ev.type, TKV_EVENT_PUT);
        }
        assert_int_equal(tkv_lease_revoke(cl, lease.id, err, sizeof err), TKV_OK);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(tkv_watch_next(w, &ev, 10000), TKV_OK);
                assert_int_equal(ev.type, TKV_EVENT_DELETE);
                assert_true(del_index == 0 || ev.index == del_index); /* one entry */
                del_index = ev.index;
        }
        expect_quiet(w, 200);
        tkv_lease_release(&lease);
        tkv_watch_close(w);
}

static void test_ten_thousand_watchers(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        struct buffer out;
        unsigned created = 0, events = 0;
        uint64_t index;
        int fd;
        (void)state;

        fd = raw_connect_addr(c.nodes[2].client_addr, false);
        wq.key = bin("many/key");
        buffer_init(&out);
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = &wq;
        for (int i = 0; i < 10000; i++) {
                req.id = next_id++;
                raw_frame_request(&out, &req);
        }
        raw_write(fd, buffer_data(&out), buffer_len(&out));
        buffer_free(&out);
        while (created < 10000) {
                Tunekv__V1__Response *r = raw_read_response(fd);
                assert_non_null(r);
                if (r->status != STATUS(OK)) {
                        fail_msg("watch %u: %s", created, r->message);
                }
                created += r->watch->created;
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        index = change("many/key", "once");
        while (events < 10000) {
                Tunekv__V1__Response *r = raw_read_response(fd);
                assert_non_null(r);
                for (size_t i = 0; i < r->watch->n_events; i++) {
                        assert_int_equal(r->watch->events[i]->index, index);
                        events++;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        close(fd);
}

static void test_limits_and_cancel(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__WatchStart st = TUNEKV__V1__WATCH_START__INIT, *sts[] = {&st};
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchCancelRequest wc = TUNEKV__V1__WATCH_CANCEL_REQUEST__INIT;
        static char big[4098];
        Tunekv__V1__Response *r;
        uint64_t id;
        bool seen_answer = false, seen_end = false;
        int fd = raw_connect_addr(c.nodes[0].client_addr, false);
        (void)state;

        memset(big, 'k', sizeof big - 1);
        big[4096] = '\0';
        wq.key = bin(big); /* 4 KiB: served */
        r = watch_raw(fd, &wq, &id);
        assert_int_equal(r->status, STATUS(OK));
        tunekv__v1__response__free_unpacked(r, NULL);
        big[4096] = 'k';
        wq.key = bin(big); /* 4 KiB + 1 */
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(TOO_LARGE));
        tunekv__v1__response__free_unpacked(r, NULL);
        wq.key = bin("");
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(INVALID_ARGUMENT));
        tunekv__v1__response__free_unpacked(r, NULL);
        wq.key = bin("lim/key");
        st.partition = (partition_of("lim/key") + 1) % P;
        wq.n_start = 1;
        wq.start = sts;
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(INVALID_ARGUMENT));
        tunekv__v1__response__free_unpacked(r, NULL);
        /* Cancel the first stream: OK, and its last frame. */
        req.id = next_id++;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL;
        req.watch_cancel = &wc;
        wc.watch_id = id;
        raw_send_request(fd, &req);
        while (!seen_answer || !seen_end) {
                r = raw_read_response(fd);
                assert_non_null(r);
                if (r->id == req.id) {
                        assert_int_equal(r->status, STATUS(OK));
                        seen_answer = true;
                } else if (r->id == id && r->watch->canceled) {
                        assert_int_equal(r->status, STATUS(OK));
                        seen_end = true;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        req.id = next_id++;
        raw_send_request(fd, &req); /* again: no such stream now */
        for (;;) {
                r = raw_read_response(fd);
                assert_non_null(r);
                if (r->id == req.id) {
                        break;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_int_equal(r->status, STATUS(NOT_FOUND));
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
}

static void test_watches_per_conn_max(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        struct buffer out;
        unsigned ok = 0, busy = 0;
        int fd = raw_connect_addr(c.nodes[0].client_addr, false);
        (void)state;

        wq.key = bin("cap/key");
        buffer_init(&out);
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = &wq;
        for (int i = 0; i < 10002; i++) {
                req.id = next_id++;
                raw_frame_request(&out, &req);
        }
        raw_write(fd, buffer_data(&out), buffer_len(&out));
        buffer_free(&out);
        while (ok + busy < 10002) {
                Tunekv__V1__Response *r = raw_read_response(fd);
                assert_non_null(r);
                if (r->status == STATUS(OK) && r->watch->created) {
                        ok++;
                } else if (r->status == STATUS(BUSY)) {
                        assert_non_null(strstr(r->message, "watches_per_conn_max"));
                        busy++;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_int_equal(ok, 10001);
        assert_int_equal(busy, 1);
        close(fd);
}

static void test_bounded_staleness_ends(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        const char *key = "bs/key";
        uint32_t p = partition_of(key);
        unsigned leader = cluster_leader(&c, 1, p), follower = leader % 3 + 1;
        unsigned other = follower % 3 + 1;
        Tunekv__V1__Response *r;
        bool stale_seen = false;
        uint64_t id;
        int fd = raw_connect_addr(c.nodes[follower - 1].client_addr, false);
        (void)state;

        (void)change(key, "v");
        wq.key = bin(key);
        o.level = LEVEL(BOUNDED_STALENESS);
        o.max_staleness_ms = 1500;
        wq.options = &o;
        r = watch_raw(fd, &wq, &id);
        assert_int_equal(r->status, STATUS(OK));
        assert_int_equal(r->watch->level, LEVEL(BOUNDED_STALENESS));
        tunekv__v1__response__free_unpacked(r, NULL);
        /* Its progress frames say how stale it is (a bound, once the
         * follower's probes proved one). */
        while (!stale_seen) {
                r = raw_read_response(fd);
                assert_non_null(r);
                assert_false(r->watch->canceled);
                for (size_t i = 0; i < r->watch->n_progress; i++) {
                        stale_seen |= r->watch->progress[i]->staleness_ms >= 0 &&
                                      r->watch->progress[i]->staleness_ms <= 1500;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        /* Alone, the follower cannot elect anyone: it falls behind. */
        assert_int_equal(cluster_signal(&c, leader, SIGSTOP, false), 0);
        assert_int_equal(cluster_signal(&c, other, SIGSTOP, false), 0);
        for (;;) {
                r = raw_read_response(fd);
                assert_non_null(r);
                if (r->watch->canceled) {
                        assert_int_equal(r->status, STATUS(BOUND_UNMET));
                        assert_non_null(strstr(r->message, "max_staleness_ms"));
                        tunekv__v1__response__free_unpacked(r, NULL);
                        break;
                }
                tunekv__v1__response__free_unpacked(r, NULL);
        }
        assert_int_equal(cluster_signal(&c, leader, SIGCONT, false), 0);
        assert_int_equal(cluster_signal(&c, other, SIGCONT, false), 0);
        close(fd);
        assert_true(cluster_wait_converged(&c, p, 20000));
}

static void test_linearizable_needs_the_leader(void **state)
{
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        const char *key = "lw/key";
        uint32_t p = partition_of(key);
        unsigned leader = cluster_leader(&c, 1, p), follower = leader % 3 + 1;
        struct tkv_read_options lo = {.level = TKV_LINEARIZABLE};
        struct tkv_watch_info info;
        struct expect want;
        struct tkv_watch *w;
        Tunekv__V1__Response *r;
        int fd = raw_connect_addr(c.nodes[follower - 1].client_addr, false);
        (void)state;

        wq.key = bin(key);
        o.level = LEVEL(LINEARIZABLE);
        wq.options = &o;
        r = watch_raw(fd, &wq, NULL);
        assert_int_equal(r->status, STATUS(NOT_LEADER));
        assert_non_null(r->leader_hint);
        assert_int_equal(r->leader_hint->node_id, leader);
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
        /* The library follows the hint. */
        lo.node_id = follower;
        w = watch_open(key, false, NULL, 0, &lo);
        tkv_watch_get_info(w, &info);
        assert_int_equal(info.node_id, leader);
        assert_int_equal(info.level, TKV_LINEARIZABLE);
        snprintf(want.key, sizeof want.key, "%s", key);
        snprintf(want.value, sizeof want.value, "lin");
        want.index = change(key, want.value);
        want.partition = p;
        expect_events(w, &want, 1);
        tkv_watch_close(w);
}

static int group_setup(void **state)
{
        (void)state;
        return cluster_group_setup(&c, dir, sizeof dir, "tkv-watch", P, flags, &cl);
}

static int group_teardown(void **state)
{
        (void)state;
        return cluster_group_teardown(&c, dir, &cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_key_watch_on_a_follower),
            cmocka_unit_test(test_prefix_watch_every_partition),
            cmocka_unit_test(test_resume_after_close),
            cmocka_unit_test(test_compacted),
            cmocka_unit_test(test_slow_watcher),
            cmocka_unit_test(test_txn_in_one_frame),
            cmocka_unit_test(test_positions_count_what_was_handed_out),
            cmocka_unit_test(test_lease_end_is_seen),
            cmocka_unit_test(test_ten_thousand_watchers),
            cmocka_unit_test(test_limits_and_cancel),
            cmocka_unit_test(test_watches_per_conn_max),
            cmocka_unit_test(test_linearizable_needs_the_leader),
            cmocka_unit_test(test_bounded_staleness_ends),
            cmocka_unit_test(test_resume_on_another_node),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
