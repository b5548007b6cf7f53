/* Per-request consistency on a real 3-node cluster (4 partitions x 3
 * replicas). Each test proves one promise of docs/consistency.md and would
 * fail if it broke:
 * - LINEARIZABLE: a read started after an acknowledged write sees it, sent
 *   to any node, also right after the leader was killed;
 * - read-your-writes on a follower that lags (SIGSTOP, the read queued
 *   before SIGCONT): WAIT, FORWARD_LEADER and FAIL never return the older
 *   value; a DELETE that found nothing counts as the session's write;
 * - monotonic reads across replicas: a session that saw index i never
 *   reads below i on a replica that lags; and the barriers of read fences
 *   add nothing a session must wait for;
 * - causal: A writes x then y; B reads y and hands its token to C; C's read
 *   of x on a lagging replica sees A's write;
 * - bounded staleness: a follower paused for 600 ms refuses (or redirects) a
 *   read bounded at 100 ms, reporting a bound no smaller than the true
 *   staleness; caught up, it serves the read itself;
 * - strict: an answer that would be labelled weaker is an error instead;
 * - EVENTUAL with the partition's quorum lost: answered, labelled;
 * - ack: ALL_REPLICAS makes a following EVENTUAL read see the write on every
 *   replica; LEADER_ACCEPTED answers before commit (latencies printed, not
 *   asserted); ALL_REPLICAS with a replica down reports COMMITTED;
 * - tokens: forged and foreign-cluster tokens are refused (malformed and
 *   oversized ones: test_badinput). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster.h"
#include "testlib.h"
#include "tunekv.h"

#define P 4

static char dir[256];
static struct cluster c;
static struct cluster other; /* a second cluster (foreign tokens) */
static const char *const flags[] = {"--election-timeout-ms", "1000", NULL};
/* Linearizable reads fenced by raft barriers instead of confirmations. */
static const char *const barrier_flags[] = {"--election-timeout-ms", "1000", "--read-index", "0",
                                            NULL};

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint32_t partition_of(const char *k)
{
        return (uint32_t)(XXH64(k, strlen(k), 0) % P);
}

/* A key named prefix-N in partition p. */
static void key_in(uint32_t p, const char *prefix, char *k, size_t len)
{
        for (unsigned i = 0;; i++) {
                snprintf(k, len, "%s-%u", prefix, i);
                if (partition_of(k) == p) {
                        return;
                }
        }
}

static void start_with(const char *const *fl)
{
        assert_int_equal(cluster_start(&c, dir, 3, P, 3, fl), 0);
        for (uint32_t p = 0; p < P; p++) {
                assert_true(cluster_wait_converged(&c, p, 20000));
        }
}

static void start(void)
{
        start_with(flags);
}

static uint32_t leader_of(uint32_t p)
{
        uint32_t l = cluster_leader(&c, 1, p);
        assert_true(l >= 1 && l <= 3);
        return l;
}

/* The leader's STATUS of partition p: (barriers, confirms, failed). */
static void fences_of(uint32_t p, uint64_t out[3])
{
        struct tkv_result st;
        const struct tkv_partition_status *ps;
        assert_int_equal(cluster_status(&c, leader_of(p), &st), TKV_OK);
        ps = cluster_partition(&st, p);
        assert_non_null(ps);
        assert_int_equal(ps->role, TKV_ROLE_LEADER);
        out[0] = ps->barriers;
        out[1] = ps->confirms;
        out[2] = ps->confirms_failed;
        tkv_result_release(&st);
}

/* The first node that follows p. */
static uint32_t follower_of(uint32_t p)
{
        uint32_t l = leader_of(p);
        return l == 1 ? 2 : 1;
}

static uint64_t put(struct tkv_client *cl, const char *k, const char *v, enum tkv_ack ack)
{
        struct tkv_write_options o = {0};
        struct tkv_result r;
        uint64_t index;
        o.ack = ack;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        index = r.index;
        assert_true(index > 0);
        tkv_result_release(&r);
        return index;
}

static struct tkv_read_options at(enum tkv_consistency level, uint32_t node)
{
        struct tkv_read_options o = {0};
        o.level = level;
        o.node_id = node;
        return o;
}

/* What a read answered, copied out of the borrowed result. */
struct answer {
        bool done;
        int status;
        bool found;
        char value[64];
        uint64_t mod_index;
        struct tkv_receipt receipt;
        uint64_t bound_required;
        uint64_t bound_applied;
        int64_t bound_staleness_ms;
        uint32_t bound_node;
};

static void answer_fill(struct answer *a, const struct tkv_result *r)
{
        memset(a, 0, sizeof *a);
        a->done = true;
        a->status = r->status;
        a->found = r->found;
        if (r->found) {
                snprintf(a->value, sizeof a->value, "%.*s", (int)r->value_len,
                         (const char *)r->value);
        }
        a->mod_index = r->mod_index;
        a->receipt = r->receipt;
        a->bound_required = r->bound_required_index;
        a->bound_applied = r->bound_applied_index;
        a->bound_staleness_ms = r->bound_staleness_ms;
        a->bound_node = r->bound_node_id;
}

static void on_get(struct tkv_client *cl, const struct tkv_result *r, void *arg)
{
        (void)cl;
        answer_fill(arg, r);
}

static struct answer get(struct tkv_client *cl, const char *k, const struct tkv_read_options *o)
{
        struct tkv_result r;
        struct answer a;
        tkv_get(cl, k, strlen(k), o, &r);
        answer_fill(&a, &r);
        tkv_result_release(&r);
        return a;
}

/* Send a read to a node that is stopped: it waits in the node's socket.
 * Polling gives the client time to connect and write it. */
static void get_queued(struct tkv_client *cl, const char *k, const struct tkv_read_options *o,
                       struct answer *a)
{
        memset(a, 0, sizeof *a);
        assert_int_equal(tkv_get_async(cl, k, strlen(k), o, on_get, a), TKV_OK);
        for (int i = 0; i < 5 && !a->done; i++) {
                tkv_poll(cl, 40);
        }
}

static void await(struct tkv_client *cl, struct answer *a)
{
        while (!a->done) {
                tkv_poll(cl, 100);
        }
}

/* ------------------------------------------------------------------------ */

static void test_linearizable_on_any_node_and_after_leader_change(void **state)
{
        struct tkv_client *cl;
        char k[32], v[32];
        uint32_t p = 1, leader;
        (void)state;

        uint64_t before[3], after[3];
        start();
        cl = cluster_client(&c, 0);
        key_in(p, "lin", k, sizeof k);
        fences_of(p, before);
        for (int i = 0; i < 20; i++) {
                snprintf(v, sizeof v, "v%d", i);
                uint64_t index = put(cl, k, v, TKV_ACK_COMMITTED);
                /* Sent to each node in turn: a follower forwards it. */
                struct tkv_read_options o = at(TKV_LINEARIZABLE, (uint32_t)(i % 3) + 1);
                struct answer a = get(cl, k, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, v);
                assert_int_equal(a.mod_index, index);
                assert_int_equal(a.receipt.level, TKV_LINEARIZABLE);
                assert_int_equal(a.receipt.role, TKV_ROLE_LEADER);
        }
        /* Each read was fenced by a leadership confirmation, none by a
         * barrier (read_index = 1, the default). */
        fences_of(p, after);
        assert_true(after[1] - before[1] >= 20);
        assert_int_equal(after[2], before[2]);
        assert_int_equal(after[0], before[0]);
        /* Kill the leader; the next acknowledged write is seen at once by
         * a linearizable read on each survivor. */
        leader = leader_of(p);
        cluster_signal(&c, leader, SIGKILL, true);
        snprintf(v, sizeof v, "after-kill");
        uint64_t index = put(cl, k, v, TKV_ACK_COMMITTED);
        for (uint32_t n = 1; n <= 3; n++) {
                if (n == leader) {
                        continue;
                }
                struct tkv_read_options o = at(TKV_LINEARIZABLE, n);
                struct answer a = get(cl, k, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, v);
                assert_int_equal(a.mod_index, index);
                assert_true(a.receipt.node_id != leader);
        }
        tkv_client_destroy(cl);
        assert_int_equal(cluster_restart(&c, leader), 0);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_read_your_writes_on_a_lagging_follower(void **state)
{
        static const enum tkv_on_unmet policies[] = {TKV_ON_UNMET_WAIT, TKV_ON_UNMET_FORWARD_LEADER,
                                                     TKV_ON_UNMET_FAIL};
        struct tkv_client *cl;
        char k[32], v[32];
        uint32_t p = 2, f;
        unsigned unmet = 0, waited = 0;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(p, "ryw", k, sizeof k);
        f = follower_of(p);
        put(cl, k, "old", TKV_ACK_COMMITTED);
        for (unsigned i = 0; i < 3 * 3; i++) {
                enum tkv_on_unmet policy = policies[i % 3];
                struct tkv_read_options o = at(TKV_SESSION, f);
                struct answer a;
                uint64_t index;

                o.session_flags = TKV_READ_YOUR_WRITES;
                o.on_unmet = policy;
                o.timeout_ms = 10000;
                cluster_signal(&c, f, SIGSTOP, false);
                snprintf(v, sizeof v, "new-%u", i);
                index = put(cl, k, v, TKV_ACK_COMMITTED); /* the follower cannot have it */
                get_queued(cl, k, &o, &a);
                assert_false(a.done);
                cluster_signal(&c, f, SIGCONT, false);
                await(cl, &a);
                if (a.status == TKV_BOUND_UNMET) {
                        /* FAIL on a replica that had not applied the write. */
                        assert_int_equal(policy, TKV_ON_UNMET_FAIL);
                        assert_true(a.bound_required >= index);
                        assert_true(a.bound_applied < a.bound_required);
                        assert_int_equal(a.bound_node, f);
                        unmet++;
                        continue;
                }
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, v); /* never "old" nor an earlier "new" */
                assert_true(a.mod_index >= index);
                assert_int_equal(a.receipt.level, TKV_SESSION);
                if (a.receipt.node_id != f) {
                        assert_int_equal(policy, TKV_ON_UNMET_FORWARD_LEADER);
                        assert_true(a.receipt.fallback);
                } else {
                        waited += policy == TKV_ON_UNMET_WAIT;
                }
        }
        printf("# ryw on a paused follower: %u waited and served there, %u BOUND_UNMET\n", waited,
               unmet);
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

/* A DELETE that found nothing is still the session's write (the harness
 * found this one): a later read on a replica that lags must not show the
 * key another session had deleted just before. */
static void test_delete_of_a_missing_key_counts_as_a_write(void **state)
{
        struct tkv_client *deleter, *me;
        struct tkv_result r;
        char k[32];
        uint32_t p = 1, f;
        (void)state;

        start();
        deleter = cluster_client(&c, 0);
        me = cluster_client(&c, 0);
        key_in(p, "gone", k, sizeof k);
        f = follower_of(p);
        put(me, k, "mine", TKV_ACK_COMMITTED); /* me has its map before f pauses */
        for (int round = 0; round < 3; round++) {
                struct tkv_read_options o = at(TKV_SESSION, f);
                struct answer a;

                put(deleter, k, "there", TKV_ACK_ALL_REPLICAS);
                cluster_signal(&c, f, SIGSTOP, false);
                assert_int_equal(tkv_delete(deleter, k, strlen(k), NULL, &r), TKV_OK);
                tkv_result_release(&r);
                assert_int_equal(tkv_delete(me, k, strlen(k), NULL, &r), TKV_NOT_FOUND);
                tkv_result_release(&r);
                o.timeout_ms = 10000;
                get_queued(me, k, &o, &a);
                cluster_signal(&c, f, SIGCONT, false);
                await(me, &a);
                assert_int_equal(a.status, TKV_NOT_FOUND); /* never "there" */
                assert_false(a.found);
                assert_int_equal(a.receipt.node_id, f);
        }
        tkv_client_destroy(deleter);
        tkv_client_destroy(me);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_monotonic_reads_across_replicas(void **state)
{
        struct tkv_client *writer, *reader;
        char k[32], v[32];
        uint32_t p = 3, f, leader;
        uint64_t seen = 0;
        (void)state;

        start();
        writer = cluster_client(&c, 0);
        reader = cluster_client(&c, 0);
        key_in(p, "mr", k, sizeof k);
        leader = leader_of(p);
        f = follower_of(p);
        for (int round = 0; round < 5; round++) {
                struct tkv_read_options o = at(TKV_SESSION, leader);
                struct answer a;

                o.session_flags = TKV_MONOTONIC_READS;
                /* f falls behind while the session reads a newer state on
                 * another replica. */
                cluster_signal(&c, f, SIGSTOP, false);
                snprintf(v, sizeof v, "r%d", round);
                put(writer, k, v, TKV_ACK_COMMITTED);
                o.node_id = leader;
                a = get(reader, k, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_true(a.mod_index >= seen);
                seen = a.mod_index;
                /* Now read on the lagging replica as it resumes. */
                o.node_id = f;
                get_queued(reader, k, &o, &a);
                cluster_signal(&c, f, SIGCONT, false);
                await(reader, &a);
                assert_int_equal(a.status, TKV_OK);
                assert_int_equal(a.receipt.node_id, f);
                assert_true(a.mod_index >= seen);
                assert_true(a.receipt.applied_index >= seen);
                seen = a.mod_index;
        }
        tkv_client_destroy(writer);
        tkv_client_destroy(reader);
        assert_int_equal(cluster_stop(&c), 0);
}

/* With read_index = 0 a read fence appends a barrier, which changes no
 * state: a session that read on the leader right after fences must not
 * have to wait for a follower to apply them. The follower has applied
 * every write, so it serves the session read at once (FAIL, no wait). */
static void test_fences_add_nothing_to_wait_for(void **state)
{
        struct tkv_client *cl;
        char k[32];
        uint32_t p = 1, f, leader;
        struct tkv_read_options o;
        struct answer a;
        (void)state;

        uint64_t fences[3];
        start_with(barrier_flags);
        cl = cluster_client(&c, 0);
        key_in(p, "fence", k, sizeof k);
        leader = leader_of(p);
        f = follower_of(p);
        for (int round = 0; round < 5; round++) {
                uint64_t index = put(cl, k, "fenced", TKV_ACK_ALL_REPLICAS);
                uint64_t fenced = 0;
                for (int i = 0; i < 20; i++) {
                        o = at(TKV_LINEARIZABLE, leader);
                        a = get(cl, k, &o);
                        assert_int_equal(a.status, TKV_OK);
                        fenced = a.receipt.applied_index;
                }
                assert_true(fenced > index); /* the barriers are there */
                fences_of(p, fences);
                assert_int_equal(fences[1], 0); /* and no confirmation */
                o = at(TKV_SESSION, leader);
                a = get(cl, k, &o);
                assert_int_equal(a.status, TKV_OK);
                o = at(TKV_SESSION, f);
                o.on_unmet = TKV_ON_UNMET_FAIL;
                a = get(cl, k, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_int_equal(a.receipt.node_id, f);
                assert_int_equal(a.mod_index, index);
                assert_string_equal(a.value, "fenced");
        }
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_causal_token_travels_between_clients(void **state)
{
        struct tkv_client *a, *b, *cc;
        char x[32], y[32], tok[TKV_TOKEN_BYTES_MAX];
        uint32_t px = 0, py, fx;
        uint64_t ix;
        size_t len;
        struct answer r;
        struct tkv_read_options o;
        (void)state;

        start();
        a = cluster_client(&c, 0);
        b = cluster_client(&c, 0);
        cc = cluster_client(&c, 0);
        fx = follower_of(px);
        /* y in another partition whose leader keeps running. */
        for (py = 1; py < P && leader_of(py) == fx; py++) {
        }
        assert_true(py < P);
        key_in(px, "x", x, sizeof x);
        key_in(py, "y", y, sizeof y);
        put(a, x, "x0", TKV_ACK_ALL_REPLICAS);
        /* x's replica fx lags: it never sees A's write before C reads. */
        cluster_signal(&c, fx, SIGSTOP, false);
        ix = put(a, x, "x1", TKV_ACK_COMMITTED);
        put(a, y, "y1", TKV_ACK_COMMITTED); /* carries A's dependency on x1 */
        /* B reads y (any replica of y but fx) at CAUSAL... */
        o = at(TKV_CAUSAL, leader_of(py));
        r = get(b, y, &o);
        assert_int_equal(r.status, TKV_OK);
        assert_string_equal(r.value, "y1");
        /* ...and passes its token to C (through bytes, as a process would). */
        len = tkv_token_get(b, tok, sizeof tok);
        assert_true(len > 0);
        assert_int_equal(tkv_token_set(cc, tok, len), TKV_OK);
        assert_int_equal(tkv_token_compare(tok, len, tok, len), TKV_TOKEN_EQUAL);
        /* C reads x on the lagging replica. */
        o = at(TKV_CAUSAL, fx);
        o.timeout_ms = 10000;
        get_queued(cc, x, &o, &r);
        cluster_signal(&c, fx, SIGCONT, false);
        await(cc, &r);
        assert_int_equal(r.status, TKV_OK);
        assert_int_equal(r.receipt.node_id, fx);
        assert_string_equal(r.value, "x1");
        assert_true(r.mod_index >= ix);
        tkv_client_destroy(a);
        tkv_client_destroy(b);
        tkv_client_destroy(cc);
        assert_int_equal(cluster_stop(&c), 0);
}

/* Pause f for pause_ms, write k = v meanwhile, and read k on f with a
 * 100 ms staleness bound queued before f resumes. *ack_ms: when the write
 * was acknowledged; *sent_ms: when the read was sent. */
static struct answer stale_read(struct tkv_client *cl, uint32_t f, const char *k, const char *v,
                                enum tkv_on_unmet policy, bool strict, double *ack_ms,
                                double *sent_ms, uint64_t *index)
{
        struct tkv_read_options o = at(TKV_BOUNDED_STALENESS, f);
        struct answer a;

        o.max_staleness_ms = 100;
        o.on_unmet = policy;
        o.strict = strict;
        o.timeout_ms = 10000;
        cluster_signal(&c, f, SIGSTOP, false);
        /* The fault: f is paused for 600 ms, six times the bound, and below
         * the election timeout (1-2 s), so that f still follows its leader
         * when it resumes (FORWARD_LEADER needs one; after a 2 s pause f
         * sometimes stood for election first, knowing no leader). */
        usleep(600 * 1000);
        *index = put(cl, k, v, TKV_ACK_COMMITTED);
        *ack_ms = now_ms();
        *sent_ms = now_ms();
        get_queued(cl, k, &o, &a);
        cluster_signal(&c, f, SIGCONT, false);
        await(cl, &a);
        return a;
}

static void test_bounded_staleness(void **state)
{
        struct tkv_client *cl;
        char k[32];
        uint32_t p = 0, f, leader;
        struct tkv_read_options o;
        struct answer a;
        double ack_ms, sent_ms;
        uint64_t index;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(p, "bs", k, sizeof k);
        leader = leader_of(p);
        f = follower_of(p);
        put(cl, k, "v0", TKV_ACK_ALL_REPLICAS);
        /* Not lagging: f serves it itself, within the bound. */
        o = at(TKV_BOUNDED_STALENESS, f);
        o.max_staleness_ms = 100;
        o.max_wait_ms = 2000;
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_OK);
        assert_int_equal(a.receipt.node_id, f);
        assert_int_equal(a.receipt.level, TKV_BOUNDED_STALENESS);
        assert_false(a.receipt.fallback);
        assert_true(a.receipt.staleness_ms >= 0 && a.receipt.staleness_ms <= 100);
        assert_string_equal(a.value, "v0");

        /* Paused, FAIL: refused, with a bound at least the true
         * staleness (f missed a write acknowledged before the read was
         * sent, so it is at least that stale). */
        a = stale_read(cl, f, k, "v1", TKV_ON_UNMET_FAIL, false, &ack_ms, &sent_ms, &index);
        if (a.status == TKV_OK) {
                /* Caught up and re-probed before the read was handled. */
                assert_string_equal(a.value, "v1");
                assert_true(a.receipt.staleness_ms >= 0 && a.receipt.staleness_ms <= 100);
        } else {
                assert_int_equal(a.status, TKV_BOUND_UNMET);
                assert_int_equal(a.bound_node, f);
                if (a.bound_applied < index) {
                        assert_true(a.bound_staleness_ms < 0 ||
                                    (double)a.bound_staleness_ms >= sent_ms - ack_ms);
                }
                assert_true(a.bound_staleness_ms < 0 || a.bound_staleness_ms > 100);
                printf("# paused follower: BOUND_UNMET, staleness bound %lld ms, applied %llu "
                       "of %llu\n",
                       (long long)a.bound_staleness_ms, (unsigned long long)a.bound_applied,
                       (unsigned long long)index);
        }

        /* Paused, FORWARD_LEADER: redirected, labelled as a fallback. */
        a = stale_read(cl, f, k, "v2", TKV_ON_UNMET_FORWARD_LEADER, false, &ack_ms, &sent_ms,
                       &index);
        assert_int_equal(a.status, TKV_OK);
        assert_string_equal(a.value, "v2");
        if (a.receipt.node_id == f) {
                assert_true(a.receipt.staleness_ms >= 0 && a.receipt.staleness_ms <= 100);
        } else {
                assert_int_equal(a.receipt.node_id, leader);
                assert_true(a.receipt.fallback);
        }

        /* Paused, WAIT: served once f has caught up and re-probed. */
        a = stale_read(cl, f, k, "v3", TKV_ON_UNMET_WAIT, false, &ack_ms, &sent_ms, &index);
        assert_int_equal(a.status, TKV_OK);
        assert_int_equal(a.receipt.node_id, f);
        assert_string_equal(a.value, "v3");
        assert_true(a.receipt.staleness_ms >= 0 && a.receipt.staleness_ms <= 100);
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_strict_refuses_a_weaker_answer(void **state)
{
        struct tkv_client *cl;
        char k[32];
        uint32_t p = 1, f;
        struct answer a;
        double ack_ms, sent_ms;
        uint64_t index;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(p, "strict", k, sizeof k);
        f = follower_of(p);
        put(cl, k, "v0", TKV_ACK_ALL_REPLICAS);
        /* Not strict: a stale answer, labelled EVENTUAL, marked fallback. */
        a = stale_read(cl, f, k, "v1", TKV_ON_UNMET_SERVE_STALE_LABELLED, false, &ack_ms, &sent_ms,
                       &index);
        assert_int_equal(a.status, TKV_OK);
        if (a.receipt.level != TKV_BOUNDED_STALENESS) {
                assert_int_equal(a.receipt.level, TKV_EVENTUAL);
                assert_true(a.receipt.fallback);
                assert_true(a.receipt.staleness_ms < 0 || a.receipt.staleness_ms > 100);
        }
        /* Strict: the same situation is an error. */
        a = stale_read(cl, f, k, "v2", TKV_ON_UNMET_SERVE_STALE_LABELLED, true, &ack_ms, &sent_ms,
                       &index);
        if (a.status == TKV_OK) {
                assert_int_equal(a.receipt.level, TKV_BOUNDED_STALENESS);
                assert_string_equal(a.value, "v2");
        } else {
                assert_int_equal(a.status, TKV_BOUND_UNMET);
        }
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_eventual_without_quorum(void **state)
{
        struct tkv_client *cl;
        char k[32];
        struct tkv_read_options o;
        struct answer a;
        double t0;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(2, "ev", k, sizeof k);
        put(cl, k, "kept", TKV_ACK_ALL_REPLICAS);
        cluster_signal(&c, 2, SIGKILL, true);
        cluster_signal(&c, 3, SIGKILL, true);
        tkv_client_destroy(cl);
        cl = cluster_client(&c, 1);
        /* Node 1 alone: it soon knows no leader; EVENTUAL keeps answering.
         * (Polled: nothing signals a remote leader's absence.) */
        t0 = now_ms();
        o = at(TKV_EVENTUAL, 1);
        o.timeout_ms = 2000;
        do {
                a = get(cl, k, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, "kept");
                assert_int_equal(a.receipt.level, TKV_EVENTUAL);
                if (!a.receipt.leader_known) {
                        break;
                }
                usleep(100 * 1000);
        } while (now_ms() - t0 < 10000);
        assert_false(a.receipt.leader_known);
        assert_int_equal(a.receipt.node_id, 1);
        assert_true(a.receipt.role != TKV_ROLE_LEADER);
        /* A linearizable read cannot be served. */
        o = at(TKV_LINEARIZABLE, 1);
        o.timeout_ms = 1500;
        a = get(cl, k, &o);
        assert_true(a.status == TKV_NO_QUORUM || a.status == TKV_UNAVAILABLE ||
                    a.status == TKV_TIMEOUT);
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double p50_put_ms(struct tkv_client *cl, const char *k, enum tkv_ack ack)
{
        double t[200];
        for (int i = 0; i < 200; i++) {
                double t0 = now_ms();
                put(cl, k, "latency", ack);
                t[i] = now_ms() - t0;
        }
        qsort(t, 200, sizeof t[0], cmp_double);
        return t[100];
}

static void test_write_acknowledgements(void **state)
{
        struct tkv_client *cl, *fresh;
        struct tkv_write_options wo = {0};
        struct tkv_result r;
        char k[32], v[32];
        uint32_t p = 3, f;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        fresh = cluster_client(&c, 0); /* no token: sees only what replicas have */
        key_in(p, "ack", k, sizeof k);
        for (int i = 0; i < 20; i++) {
                snprintf(v, sizeof v, "all-%d", i);
                wo.ack = TKV_ACK_ALL_REPLICAS;
                assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &wo, &r), TKV_OK);
                assert_int_equal(r.ack, TKV_ACK_ALL_REPLICAS);
                assert_true(r.durable);
                uint64_t index = r.index;
                tkv_result_release(&r);
                for (uint32_t n = 1; n <= 3; n++) {
                        struct tkv_read_options o = at(TKV_EVENTUAL, n);
                        struct answer a = get(fresh, k, &o);
                        assert_int_equal(a.status, TKV_OK);
                        assert_int_equal(a.receipt.node_id, n);
                        assert_string_equal(a.value, v);
                        assert_int_equal(a.mod_index, index);
                }
        }
        /* LEADER_ACCEPTED: answered before commit, and says so. */
        wo.ack = TKV_ACK_LEADER_ACCEPTED;
        assert_int_equal(tkv_put(cl, k, strlen(k), "accepted", 8, &wo, &r), TKV_OK);
        assert_int_equal(r.ack, TKV_ACK_LEADER_ACCEPTED);
        assert_false(r.durable);
        tkv_result_release(&r);
        {
                struct tkv_read_options o = at(TKV_LINEARIZABLE, 0);
                struct answer a = get(cl, k, &o);
                assert_string_equal(a.value, "accepted");
        }
        printf("# put p50, one client: COMMITTED %.3f ms, LEADER_ACCEPTED %.3f ms, "
               "ALL_REPLICAS %.3f ms\n",
               p50_put_ms(cl, k, TKV_ACK_COMMITTED), p50_put_ms(cl, k, TKV_ACK_LEADER_ACCEPTED),
               p50_put_ms(cl, k, TKV_ACK_ALL_REPLICAS));
        /* A replica down: ALL_REPLICAS cannot be had; the write is answered
         * before the deadline with the acknowledgement it got. */
        f = follower_of(p);
        cluster_signal(&c, f, SIGSTOP, false);
        wo.ack = TKV_ACK_ALL_REPLICAS;
        wo.timeout_ms = 1000;
        assert_int_equal(tkv_put(cl, k, strlen(k), "two-of-three", 12, &wo, &r), TKV_OK);
        assert_int_equal(r.ack, TKV_ACK_COMMITTED);
        assert_true(r.durable);
        tkv_result_release(&r);
        cluster_signal(&c, f, SIGCONT, false);
        tkv_client_destroy(cl);
        tkv_client_destroy(fresh);
        assert_int_equal(cluster_stop(&c), 0);
}

static void test_forged_and_foreign_tokens_are_refused(void **state)
{
        char odir[300];
        static const char *const other_flags[] = {"--cluster-name", "other", "--secret",
                                                  "other-secret", NULL};
        struct tkv_client *cl, *ocl;
        struct tkv_write_options wo = {0};
        struct tkv_read_options o = at(TKV_SESSION, 0);
        struct tkv_result r;
        char k[32];
        uint8_t tok[TKV_TOKEN_BYTES_MAX];
        size_t len;
        struct answer a;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(0, "tok", k, sizeof k);
        put(cl, k, "v", TKV_ACK_COMMITTED);
        len = tkv_token_get(cl, tok, sizeof tok);
        assert_int_equal(len, 4 + 2 * 21); /* W on partition 0, and the write's timestamp */
        /* The session works as issued. */
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_OK);
        /* Claim a later index: the MAC no longer matches. */
        tok[4 + 5] ^= 0x40;
        assert_int_equal(tkv_token_set(cl, tok, len), TKV_OK); /* well formed */
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_INVALID_ARGUMENT);
        assert_int_equal(tkv_put(cl, k, strlen(k), "w", 1, &wo, &r), TKV_INVALID_ARGUMENT);
        tkv_result_release(&r);
        tkv_token_reset(cl);
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_OK);
        /* Claim a later timestamp (the second entry, SEQUENTIAL's bound):
         * refused by reads and writes alike. */
        put(cl, k, "v", TKV_ACK_COMMITTED);
        len = tkv_token_get(cl, tok, sizeof tok);
        assert_int_equal(tok[len - 21 + 4], 3); /* the last entry: kind T, sorted last */
        tok[len - 21 + 5] ^= 0x40;
        assert_int_equal(tkv_token_set(cl, tok, len), TKV_OK);
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_INVALID_ARGUMENT);
        assert_int_equal(tkv_put(cl, k, strlen(k), "w", 1, &wo, &r), TKV_INVALID_ARGUMENT);
        tkv_result_release(&r);
        tkv_token_reset(cl);

        /* A token of another cluster (its own name and secret). */
        snprintf(odir, sizeof odir, "%s/other", dir);
        assert_int_equal(mkdir(odir, 0755), 0);
        assert_int_equal(cluster_start(&other, odir, 1, P, 1, other_flags), 0);
        assert_true(cluster_wait_converged(&other, 0, 20000));
        ocl = cluster_client(&other, 0);
        put(ocl, k, "theirs", TKV_ACK_COMMITTED);
        len = tkv_token_get(ocl, tok, sizeof tok);
        assert_true(len > 0);
        assert_int_equal(tkv_token_set(cl, tok, len), TKV_OK);
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_INVALID_ARGUMENT);
        tkv_client_destroy(ocl);
        assert_int_equal(cluster_stop(&other), 0);
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

/* ------------------------------------------------------------------------ */

static double test_started_ms;

/* Issue 15: a follower whose clock ran at 0.1x (libfaketime) served reads
 * claiming 603 ms of staleness while >= 5 012 ms stale. Its probe answers
 * now show the leader's clock running ten times ahead of its own, so it
 * claims no time bound: a BOUNDED_STALENESS read there is refused, and an
 * EVENTUAL receipt says the staleness is unknown. A healthy follower of
 * the same partition serves the same reads meanwhile. */
static void test_slow_clock_follower_claims_no_bound(void **state)
{
        static const char *faketime = "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/"
                                      "libfaketime.so.1";
        struct tkv_client *cl;
        struct tkv_read_options o;
        struct answer a;
        char k[32];
        uint32_t p, healthy;
        int served_slow = 0, served_healthy = 0;
        (void)state;

        if (access(faketime + strlen("LD_PRELOAD="), R_OK) != 0) {
                skip(); /* libfaketime (scripts/install-deps.sh) */
        }
        start();
        cluster_signal(&c, 3, SIGTERM, true);
        c.nodes[2].env[0] = faketime;
        c.nodes[2].env[1] = "FAKETIME=+0 x0.1";
        /* An ASan build must otherwise come first in the library list. */
        c.nodes[2].env[2] = "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0";
        assert_int_equal(cluster_restart(&c, 3), 0);
        /* A partition node 3 follows (its slow clock would make a poor
         * leader, and raft keeps the leaders where they were). */
        for (p = 0; p < P && cluster_leader(&c, 1, p) == 3; p++) {
        }
        assert_true(p < P);
        healthy = leader_of(p) == 1 ? 2 : 1;
        cl = cluster_client(&c, 0);
        key_in(p, "slowclock", k, sizeof k);
        put(cl, k, "v", TKV_ACK_COMMITTED);
        for (int i = 0; i < 40; i++) {
                o = at(TKV_BOUNDED_STALENESS, 3);
                o.max_staleness_ms = 2000;
                o.on_unmet = TKV_ON_UNMET_FAIL;
                a = get(cl, k, &o);
                if (a.status == TKV_OK) {
                        served_slow++;
                        printf("# slow follower served, claiming %lld ms\n",
                               (long long)a.receipt.staleness_ms);
                }
                o.node_id = healthy;
                a = get(cl, k, &o);
                served_healthy += a.status == TKV_OK;
                usleep(150 * 1000); /* a reader's pace: probes run meanwhile */
        }
        assert_int_equal(served_slow, 0);
        assert_true(served_healthy > 0);
        o = at(TKV_EVENTUAL, 3);
        a = get(cl, k, &o);
        assert_int_equal(a.status, TKV_OK);
        assert_int_equal(a.receipt.staleness_ms, -1);
        tkv_client_destroy(cl);
        cluster_kill_all(&c);
}

/* Issue 16: SEQUENTIAL is one order across partitions. Two writers write
 * y and then x, each in its own partition, independently; two fresh
 * readers each read one key where it is current (its leader) and then the
 * other key on a replica that lags in both partitions (paused while the
 * writes happened, its reads queued before it resumes). Before timestamps,
 * that replica answered from its old state: A saw x new and y old, B y new
 * and x old, an order no single history explains (seen in 1 306 of 1 322
 * rounds). Now each second read is served only once the replica's
 * partition is closed at the reader's timestamp, which is at least the
 * first value's: whichever write is stamped first, the reader of the
 * other one sees it. */
static void test_sequential_is_one_order_across_partitions(void **state)
{
        struct tkv_client *w1, *w2, *ra, *rb;
        char x[32], y[32], v[32], old[32];
        uint32_t px = 0, py = 1, lx, ly, n;
        struct tkv_read_options o;
        struct answer ax, ay, bx, by;
        (void)state;

        start();
        w1 = cluster_client(&c, 0);
        w2 = cluster_client(&c, 0);
        ra = cluster_client(&c, 0);
        rb = cluster_client(&c, 0);
        lx = leader_of(px);
        ly = leader_of(py);
        for (n = 1; n == lx || n == ly; n++) {
        }
        key_in(px, "sx", x, sizeof x);
        key_in(py, "sy", y, sizeof y);
        put(w1, x, "0", TKV_ACK_ALL_REPLICAS);
        put(w2, y, "0", TKV_ACK_ALL_REPLICAS);
        snprintf(old, sizeof old, "0");
        for (unsigned round = 1; round <= 5; round++) {
                snprintf(v, sizeof v, "%u", round);
                tkv_token_reset(ra);
                tkv_token_reset(rb);
                cluster_signal(&c, n, SIGSTOP, false);
                put(w2, y, v, TKV_ACK_COMMITTED);
                put(w1, x, v, TKV_ACK_COMMITTED);
                o = at(TKV_SEQUENTIAL, lx);
                ax = get(ra, x, &o);
                o = at(TKV_SEQUENTIAL, ly);
                by = get(rb, y, &o);
                assert_int_equal(ax.status, TKV_OK);
                assert_int_equal(by.status, TKV_OK);
                assert_string_equal(ax.value, v);
                assert_string_equal(by.value, v);
                assert_true(ax.receipt.timestamp > 0 && by.receipt.timestamp > 0);
                /* The second reads, on the lagging replica. */
                o = at(TKV_SEQUENTIAL, n);
                o.timeout_ms = 10000;
                get_queued(ra, y, &o, &ay);
                get_queued(rb, x, &o, &bx);
                cluster_signal(&c, n, SIGCONT, false);
                await(ra, &ay);
                await(rb, &bx);
                assert_int_equal(ay.status, TKV_OK);
                assert_int_equal(bx.status, TKV_OK);
                assert_int_equal(ay.receipt.node_id, n);
                assert_int_equal(bx.receipt.node_id, n);
                /* Each reader's second read is placed at or after its first. */
                assert_true(ay.receipt.timestamp >= ax.receipt.timestamp);
                assert_true(bx.receipt.timestamp >= by.receipt.timestamp);
                /* Never both old: that is the anomaly. */
                assert_false(strcmp(ay.value, old) == 0 && strcmp(bx.value, old) == 0);
                snprintf(old, sizeof old, "%s", v);
        }
        tkv_client_destroy(w1);
        tkv_client_destroy(w2);
        tkv_client_destroy(ra);
        tkv_client_destroy(rb);
        assert_int_equal(cluster_stop(&c), 0);
}

/* A session that wrote x reads y at SEQUENTIAL on y's leader, whose
 * partition saw no write since: it is not closed at the session's
 * timestamp until it proposes a command stamped above it (a CLOSE). The
 * read is served, with the latest y, at a timestamp above the write's. */
static void test_sequential_read_closes_an_idle_partition(void **state)
{
        struct tkv_client *cl;
        char x[32], y[32];
        struct tkv_read_options o;
        struct answer a, b;
        (void)state;

        start();
        cl = cluster_client(&c, 0);
        key_in(0, "cx", x, sizeof x);
        key_in(1, "cy", y, sizeof y);
        put(cl, y, "y", TKV_ACK_ALL_REPLICAS);
        for (unsigned i = 0; i < 3; i++) {
                put(cl, x, "x", TKV_ACK_COMMITTED);
                o = at(TKV_SEQUENTIAL, leader_of(1));
                o.timeout_ms = 5000; /* without the close: BOUND_UNMET at the deadline */
                a = get(cl, y, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, "y");
                /* ...and on a follower of y, asked through its probe. */
                o = at(TKV_SEQUENTIAL, follower_of(1));
                o.timeout_ms = 5000;
                put(cl, x, "x", TKV_ACK_COMMITTED);
                b = get(cl, y, &o);
                assert_int_equal(b.status, TKV_OK);
                assert_string_equal(b.value, "y");
                assert_true(b.receipt.timestamp > a.receipt.timestamp);
        }
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

/* The fresh/stale counts (how stale were the weak reads, in fact) of node
 * f's partition p at EVENTUAL, once every sampled read has left its
 * 200 ms window. */
static void freshness_of(uint32_t f, uint32_t p, uint64_t want, uint64_t *fresh, uint64_t *stale,
                         uint64_t *one_version)
{
        const double until = now_ms() + 10000;
        for (;;) {
                struct tkv_result st;
                const struct tkv_partition_status *ps;
                assert_int_equal(cluster_status(&c, f, &st), TKV_OK);
                ps = cluster_partition(&st, p);
                assert_non_null(ps);
                *fresh = ps->reads[TKV_EVENTUAL].fresh;
                *stale = ps->reads[TKV_EVENTUAL].stale;
                *one_version = ps->reads[TKV_EVENTUAL].stale_versions[0];
                tkv_result_release(&st);
                if (*fresh + *stale >= want || now_ms() > until) {
                        return;
                }
                /* The window ends on the node's clock: ask again. */
                (void)poll(NULL, 0, 20);
        }
}

/* Issue 16 item 5: each EVENTUAL read on a replica paused while the key was
 * written is counted stale exactly when it returned the old value (the
 * write was stamped before the read was served), fresh when it returned
 * the new one; either may happen, the count must match the answer. */
static void test_freshness_counts_match_the_answers(void **state)
{
        static const char *const fl[] = {"--election-timeout-ms", "1000", "--freshness-window-ms",
                                         "200", NULL};
        struct tkv_client *cl;
        char k[32], v[32], old[32];
        uint32_t p = 1, f;
        uint64_t want_stale = 0, fresh, stale, one;
        struct tkv_read_options o;
        struct answer a;
        (void)state;

        start_with(fl);
        cl = cluster_client(&c, 0);
        f = follower_of(p);
        key_in(p, "fresh", k, sizeof k);
        put(cl, k, "0", TKV_ACK_ALL_REPLICAS);
        for (unsigned round = 1; round <= 6; round++) {
                snprintf(old, sizeof old, "%u", round - 1);
                snprintf(v, sizeof v, "%u", round);
                tkv_token_reset(cl);
                cluster_signal(&c, f, SIGSTOP, false);
                put(cl, k, v, TKV_ACK_COMMITTED);
                tkv_token_reset(cl); /* no read-your-writes: may be served old */
                /* The measure compares wall-clock ms: a write stamped in the
                 * read's millisecond counts as not missed. Let 2 ms pass. */
                for (const double t0 = wall_ms(); wall_ms() < t0 + 2;) {
                }
                o = at(TKV_EVENTUAL, f);
                o.timeout_ms = 10000;
                get_queued(cl, k, &o, &a);
                cluster_signal(&c, f, SIGCONT, false);
                await(cl, &a);
                assert_int_equal(a.status, TKV_OK);
                if (strcmp(a.value, old) == 0) {
                        want_stale++;
                } else {
                        assert_string_equal(a.value, v);
                }
                freshness_of(f, p, round, &fresh, &stale, &one);
                assert_true(stale == want_stale);
                assert_true(fresh == round - want_stale);
                assert_true(one == want_stale); /* one version behind each time */
        }
        printf("# %llu of 6 reads on the resumed replica were stale\n",
               (unsigned long long)want_stale);
        tkv_client_destroy(cl);
        assert_int_equal(cluster_stop(&c), 0);
}

/* tkv_get_many of keys, sync; values copied into vals (64 bytes each). */
static int get_many(struct tkv_client *cl, const char *const *keys, size_t n,
                    const struct tkv_read_options *o, char vals[][64], uint64_t *ts,
                    uint64_t *item_ts)
{
        const void *k[16];
        size_t l[16];
        struct tkv_result r;
        int status;

        assert_true(n <= 16);
        for (size_t i = 0; i < n; i++) {
                k[i] = keys[i];
                l[i] = strlen(keys[i]);
        }
        status = tkv_get_many(cl, k, l, n, o, &r);
        if (status == TKV_OK) {
                assert_int_equal(r.n_items, n);
                *ts = r.receipt.timestamp;
                for (size_t i = 0; i < n; i++) {
                        snprintf(vals[i], 64, "%.*s",
                                 r.items[i].found ? (int)r.items[i].value_len : 0,
                                 r.items[i].found ? (const char *)r.items[i].value : "");
                        item_ts[i] = r.items[i].timestamp;
                        assert_true(item_ts[i] <= *ts); /* every item is the key's state at T */
                }
        }
        tkv_result_release(&r);
        return status;
}

/* A node that leads neither of two partitions *pa and *pb (it has a
 * replica of both: every node has every partition here). */
static uint32_t node_leading_neither(uint32_t *pa, uint32_t *pb)
{
        uint32_t n;
        *pb = P;
        for (n = 1; n <= 3 && *pb == P; n++) {
                *pa = *pb = P;
                for (uint32_t p = 0; p < P; p++) {
                        if (leader_of(p) != n) {
                                *(*pa == P ? pa : pb) = p;
                        }
                }
        }
        assert_true(*pa < P && *pb < P && *pa != *pb);
        return n - 1;
}

/* Issue 16 item 3: GET_MANY reads keys of every partition at one timestamp.
 * A session writes x, then y, then z, in two partitions (x and z in one, y
 * in the other: each write stamped above the one before); a replica that
 * leads neither, paused meanwhile, serves a GET_MANY of z, y, x as it
 * catches up. Whatever it has applied when it serves, the answer is a
 * prefix of that history: it never shows a later write without every
 * earlier one. Then the limits. */
static void test_get_many_reads_one_snapshot(void **state)
{
        struct tkv_client *w, *r;
        char x[32], y[32], z[32], v[32], vals[16][64];
        const char *keys[3];
        uint64_t ts, item_ts[16];
        uint32_t n, pa, pb;
        struct tkv_read_options o = at(TKV_SEQUENTIAL, 0);
        (void)state;

        start();
        w = cluster_client(&c, 0);
        r = cluster_client(&c, 0);
        n = node_leading_neither(&pa, &pb);
        key_in(pa, "mx", x, sizeof x);
        key_in(pb, "my", y, sizeof y);
        key_in(pa, "mz", z, sizeof z);
        keys[0] = z;
        keys[1] = y;
        keys[2] = x;
        put(w, x, "0", TKV_ACK_ALL_REPLICAS);
        put(w, y, "0", TKV_ACK_ALL_REPLICAS);
        put(w, z, "0", TKV_ACK_ALL_REPLICAS);
        for (unsigned round = 1; round <= 5; round++) {
                struct tkv_read_options on = at(TKV_SEQUENTIAL, n);
                unsigned sx, sy, sz;
                snprintf(v, sizeof v, "%u", round);
                tkv_token_reset(r);
                cluster_signal(&c, n, SIGSTOP, false);
                put(w, x, v, TKV_ACK_COMMITTED);
                put(w, y, v, TKV_ACK_COMMITTED);
                put(w, z, v, TKV_ACK_COMMITTED);
                cluster_signal(&c, n, SIGCONT, false);
                on.timeout_ms = 10000;
                assert_int_equal(get_many(r, keys, 3, &on, vals, &ts, item_ts), TKV_OK);
                sz = (unsigned)atoi(vals[0]);
                sy = (unsigned)atoi(vals[1]);
                sx = (unsigned)atoi(vals[2]);
                /* x was written before y, y before z: a prefix. */
                assert_true(sx >= sy && sy >= sz);
                assert_true(sx <= round);
        }
        /* Everything at once, from any node, sees the last round. */
        assert_int_equal(get_many(r, keys, 3, &o, vals, &ts, item_ts), TKV_OK);
        for (int i = 0; i < 3; i++) {
                assert_string_equal(vals[i], "5");
        }
        {
                /* Absent keys in two partitions, after a write elsewhere:
                 * served (each placed at its replica's last delete; their
                 * closed timestamps, which CLOSEs raise, would chase each
                 * other round after round until BOUND_UNMET). */
                char ax[32], ay[32];
                const char *absent[3];
                key_in(pa, "absent-x", ax, sizeof ax);
                key_in(pb, "absent-y", ay, sizeof ay);
                absent[0] = ax;
                absent[1] = ay;
                absent[2] = x;
                put(r, z, "5", TKV_ACK_COMMITTED);
                assert_int_equal(get_many(r, absent, 3, &o, vals, &ts, item_ts), TKV_OK);
                assert_string_equal(vals[0], "");
                assert_string_equal(vals[1], "");
                assert_string_equal(vals[2], "5");
        }
        {
                /* BOUNDED_STALENESS: one timestamp at most 1 s old by the
                 * leaders' clocks, on an idle cluster (the partitions close
                 * on demand, no probe); a lag bound is not served. */
                struct tkv_read_options b = at(TKV_BOUNDED_STALENESS, 0);
                double before = wall_ms();
                b.max_staleness_ms = 1000;
                b.timeout_ms = 5000;
                assert_int_equal(get_many(r, keys, 3, &b, vals, &ts, item_ts), TKV_OK);
                assert_true((double)(ts >> 16) >= before - 1000 - 5);
                for (int i = 0; i < 3; i++) {
                        assert_string_equal(vals[i], "5");
                }
                b.max_staleness_ms = 0;
                b.max_lag_entries = 10;
                assert_int_equal(get_many(r, keys, 3, &b, vals, &ts, item_ts),
                                 TKV_INVALID_ARGUMENT);
        }
        {
                /* Limits: no keys is a usage error here; the server's limits. */
                struct tkv_result res;
                const void *k1[1] = {x};
                size_t l1[1] = {strlen(x)};
                assert_int_equal(tkv_get_many(r, k1, l1, 0, &o, &res), TKV_USAGE_ERROR);
                tkv_result_release(&res);
        }
        {
                /* One key over get_many_keys_max (1000): TOO_LARGE, and the
                 * node serves the next request. */
                enum { N = 1001 };
                const void **kk = calloc(N, sizeof *kk);
                size_t *ll = calloc(N, sizeof *ll);
                struct tkv_result res;
                assert_non_null(kk);
                assert_non_null(ll);
                for (size_t i = 0; i < N; i++) {
                        kk[i] = x;
                        ll[i] = strlen(x);
                }
                assert_int_equal(tkv_get_many(r, kk, ll, N, &o, &res), TKV_TOO_LARGE);
                tkv_result_release(&res);
                assert_int_equal(tkv_get_many(r, kk, ll, N - 1, &o, &res), TKV_OK);
                assert_int_equal(res.n_items, N - 1);
                assert_memory_equal(res.items[N - 2].value, "5", 1);
                tkv_result_release(&res);
                free(kk);
                free(ll);
        }
        tkv_client_destroy(w);
        tkv_client_destroy(r);
        assert_int_equal(cluster_stop(&c), 0);
}

/* A committed put of k = v; returns its timestamp. */
static uint64_t put_ts(struct tkv_client *cl, const char *k, const char *v)
{
        struct tkv_write_options o = {0};
        struct tkv_result r;
        uint64_t ts;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        ts = r.timestamp;
        assert_true(ts > 0);
        tkv_result_release(&r);
        return ts;
}

/* Issue 16 item 3 at LINEARIZABLE: a GET_MANY started after writes were
 * acknowledged sees every one of them, even served by a node that leads
 * none of the keys' partitions and was paused while they were written (its
 * replicas lag when the read arrives; a SEQUENTIAL read of a fresh session
 * could answer their old values). Every answer is labelled LINEARIZABLE and
 * placed at a timestamp no lower than the writes'. */
static void test_get_many_linearizable_on_a_lagging_node(void **state)
{
        struct tkv_client *w, *r;
        char x[32], y[32], v[32], vals[16][64];
        uint64_t ts, item_ts[16], wts;
        uint32_t n, pa, pb;
        (void)state;

        start();
        w = cluster_client(&c, 0);
        r = cluster_client(&c, 0);
        n = node_leading_neither(&pa, &pb);
        key_in(pa, "lx", x, sizeof x);
        key_in(pb, "ly", y, sizeof y);
        /* Both clients learn the partition map while every node answers. */
        put(w, x, "0", TKV_ACK_ALL_REPLICAS);
        put(r, y, "0", TKV_ACK_ALL_REPLICAS);
        for (unsigned round = 1; round <= 5; round++) {
                struct tkv_read_options lin = at(TKV_LINEARIZABLE, n);
                struct tkv_result res;
                const void *k[2] = {x, y};
                size_t l[2] = {strlen(x), strlen(y)};
                snprintf(v, sizeof v, "%u", round);
                tkv_token_reset(r);
                cluster_signal(&c, n, SIGSTOP, false);
                put(w, x, v, TKV_ACK_COMMITTED);
                wts = put_ts(w, y, v);
                cluster_signal(&c, n, SIGCONT, false);
                lin.timeout_ms = 10000;
                assert_int_equal(tkv_get_many(r, k, l, 2, &lin, &res), TKV_OK);
                assert_int_equal(res.receipt.node_id, n);
                assert_int_equal(res.receipt.level, TKV_LINEARIZABLE);
                assert_true(res.receipt.timestamp >= wts);
                for (int i = 0; i < 2; i++) {
                        assert_true(res.items[i].found);
                        assert_int_equal(res.items[i].value_len, strlen(v));
                        assert_memory_equal(res.items[i].value, v, strlen(v));
                }
                tkv_result_release(&res);
        }
        {
                /* Absent keys, and any node. */
                struct tkv_read_options lin = at(TKV_LINEARIZABLE, 0);
                const char *absent[2] = {"lin-absent-a", x};
                assert_int_equal(get_many(r, absent, 2, &lin, vals, &ts, item_ts), TKV_OK);
                assert_string_equal(vals[0], "");
                assert_string_equal(vals[1], "5");
        }
        tkv_client_destroy(w);
        tkv_client_destroy(r);
        assert_int_equal(cluster_stop(&c), 0);
}

/* A write of k (value v, or a delete when v is NULL) acknowledged by every
 * replica; *ts gets its timestamp. Returns its index. */
static uint64_t write_all(struct tkv_client *cl, const char *k, const char *v, uint64_t *ts)
{
        struct tkv_write_options o = {0};
        struct tkv_result r;
        uint64_t index;
        o.ack = TKV_ACK_ALL_REPLICAS;
        if (v != NULL) {
                assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r), TKV_OK);
        } else {
                assert_int_equal(tkv_delete(cl, k, strlen(k), &o, &r), TKV_OK);
        }
        index = r.index;
        *ts = r.timestamp;
        assert_true(index > 0 && *ts > 0);
        tkv_result_release(&r);
        return index;
}

/* Issue 16 item 4 and issue 19 item 6: reads at a past timestamp, and
 * tombstones. Two keys in two partitions change five times; on every
 * replica, GET and GET_MANY at each write's timestamp (and just before the
 * first) return exactly the state the writes left there, a delete
 * included (absent, naming the delete's index). Past the change history
 * kept (history_changes_max 8 here) the answer is COMPACTED, on every
 * replica, for that partition only. A session that saw later writes gets
 * its past reads labelled EVENTUAL; LINEARIZABLE at a timestamp is refused. */
static void test_reads_at_a_past_timestamp(void **state)
{
        static const char *const small[] = {"--election-timeout-ms", "1000",
                                            "--history-changes-max", "8", NULL};
        struct tkv_client *w, *r;
        char x[32], y[32], vals[16][64];
        const char *keys[2];
        uint64_t t[6], ts, item_ts[16], del_index, ignored;
        /* The state after each write: x's value, y's ("" absent). */
        static const char *const want[6][2] = {{"", ""},   {"1", ""}, {"1", "1"},
                                               {"2", "1"}, {"2", ""}, {"2", "3"}};
        (void)state;

        start_with(small);
        w = cluster_client(&c, 0);
        r = cluster_client(&c, 0);
        key_in(0, "hx", x, sizeof x);
        key_in(1, "hy", y, sizeof y);
        keys[0] = x;
        keys[1] = y;
        write_all(w, x, "1", &t[1]);
        write_all(w, y, "1", &t[2]);
        write_all(w, x, "2", &t[3]);
        del_index = write_all(w, y, NULL, &t[4]);
        write_all(w, y, "3", &t[5]);
        t[0] = t[1] - 1;
        for (uint32_t n = 1; n <= 3; n++) {
                for (int i = 0; i < 6; i++) {
                        struct tkv_read_options o = at(TKV_EVENTUAL, n);
                        struct tkv_result res;
                        o.at_timestamp = t[i];
                        for (int k = 0; k < 2; k++) {
                                int st = tkv_get(r, keys[k], strlen(keys[k]), &o, &res);
                                assert_int_equal(st, want[i][k][0] ? TKV_OK : TKV_NOT_FOUND);
                                if (st == TKV_OK) {
                                        assert_int_equal(res.value_len, strlen(want[i][k]));
                                        assert_memory_equal(res.value, want[i][k], res.value_len);
                                        assert_true(res.timestamp <= t[i]);
                                }
                                /* y absent at t[4]: its delete is named. */
                                assert_int_equal(res.deleted_index,
                                                 k == 1 && i == 4 ? del_index : 0);
                                assert_int_equal(res.receipt.timestamp, t[i]);
                                assert_int_equal(res.receipt.node_id, n);
                                assert_int_equal(res.receipt.level, TKV_SEQUENTIAL);
                                tkv_result_release(&res);
                        }
                        o.level = TKV_SEQUENTIAL;
                        assert_int_equal(get_many(r, keys, 2, &o, vals, &ts, item_ts), TKV_OK);
                        assert_int_equal(ts, t[i]);
                        assert_string_equal(vals[0], want[i][0]);
                        assert_string_equal(vals[1], want[i][1]);
                        tkv_token_reset(r); /* each read starts a fresh session */
                }
        }
        {
                /* A session that saw y = 3 reads x at t[1]: the value then,
                 * labelled EVENTUAL (it goes back in the order). */
                struct tkv_read_options o = at(TKV_SEQUENTIAL, 0);
                struct answer a = get(r, y, &o);
                assert_string_equal(a.value, "3");
                o.at_timestamp = t[1];
                a = get(r, x, &o);
                assert_int_equal(a.status, TKV_OK);
                assert_string_equal(a.value, "1");
                assert_int_equal(a.receipt.level, TKV_EVENTUAL);
                o.level = TKV_LINEARIZABLE;
                assert_int_equal(get(r, x, &o).status, TKV_INVALID_ARGUMENT);
                tkv_token_reset(r);
        }
        {
                /* The current state names a delete too. */
                struct tkv_read_options o = at(TKV_LINEARIZABLE, 0);
                struct tkv_result res;
                del_index = write_all(w, y, NULL, &ignored);
                assert_int_equal(tkv_get(r, y, strlen(y), &o, &res), TKV_NOT_FOUND);
                assert_int_equal(res.deleted_index, del_index);
                tkv_result_release(&res);
        }
        /* Eight more writes of x's partition push t[1] out of its history. */
        for (int i = 0; i < 8; i++) {
                write_all(w, x, "more", &ignored);
        }
        for (uint32_t n = 1; n <= 3; n++) {
                struct tkv_read_options o = at(TKV_EVENTUAL, n);
                struct tkv_result st;
                const struct tkv_partition_status *ps;
                /* STATUS shows the history at its bound, past t[1]. */
                assert_int_equal(cluster_status(&c, n, &st), TKV_OK);
                ps = cluster_partition(&st, 0);
                assert_non_null(ps);
                assert_int_equal(ps->history_changes, 8);
                assert_true(ps->history_bytes > 8 * 72);
                assert_true(ps->history_oldest_index > 0);
                assert_true(ps->history_start_ts >= t[1]);
                tkv_result_release(&st);
                o.at_timestamp = t[1];
                assert_int_equal(get(r, x, &o).status, TKV_COMPACTED);
                assert_int_equal(get(r, y, &o).status, TKV_NOT_FOUND); /* y: kept */
                o.level = TKV_SEQUENTIAL;
                assert_int_equal(get_many(r, keys, 2, &o, vals, &ts, item_ts), TKV_COMPACTED);
        }
        tkv_client_destroy(w);
        tkv_client_destroy(r);
        assert_int_equal(cluster_stop(&c), 0);
}

static int setup(void **state)
{
        (void)state;
        test_started_ms = now_ms();
        memset(&c, 0, sizeof c);
        return testlib_tmpdir(dir, sizeof dir, "tkv-consistency");
}

static int teardown(void **state)
{
        (void)state;
        for (unsigned i = 0; i < c.n; i++) {
                if (c.nodes[i].pid > 0) {
                        kill(c.nodes[i].pid, SIGCONT);
                }
        }
        cluster_kill_all(&c);
        cluster_kill_all(&other);
        memset(&other, 0, sizeof other);
        testlib_rmrf(dir);
        printf("# %.1f s\n", (now_ms() - test_started_ms) / 1e3);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_linearizable_on_any_node_and_after_leader_change,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_your_writes_on_a_lagging_follower, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_delete_of_a_missing_key_counts_as_a_write, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_monotonic_reads_across_replicas, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fences_add_nothing_to_wait_for, setup, teardown),
            cmocka_unit_test_setup_teardown(test_causal_token_travels_between_clients, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sequential_is_one_order_across_partitions, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sequential_read_closes_an_idle_partition, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_freshness_counts_match_the_answers, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_get_many_reads_one_snapshot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reads_at_a_past_timestamp, setup, teardown),
            cmocka_unit_test_setup_teardown(test_get_many_linearizable_on_a_lagging_node, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_bounded_staleness, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slow_clock_follower_claims_no_bound, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_strict_refuses_a_weaker_answer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_eventual_without_quorum, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_acknowledgements, setup, teardown),
            cmocka_unit_test_setup_teardown(test_forged_and_foreign_tokens_are_refused, setup,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
