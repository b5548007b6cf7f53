/* Deterministic Raft scenarios for the group module on raft_fixture (an
 * in-memory cluster with virtual time): the election barrier gates reads on
 * a new leader (RAFT-NOTES B3), a deposed leader fails what it holds,
 * writes are batched into one raft_apply and acknowledged in index order,
 * a replica that was down catches up (through a snapshot install when
 * the log was compacted meanwhile) to the leader's exact state, and
 * leadership confirmations (ReadIndex) fence reads only with a majority of
 * voters in the leader's term, and write timestamps grow along the log
 * across leaders whose clocks differ (closed timestamps, CLOSE). The test
 * plays the peer links that carry confirmations: each voter answers with
 * its fixture server's Raft term, as rpc_read_confirm_answer does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <raft.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "group_test.h"
#include "hlc.h"
#include "lease.h"
#include "log.h"
#include "store.h"

#define N 3

static struct raft_fixture f;
static struct group *g[N];

struct read_probe {
        struct group_read r;
        int fired;
        int status;
        bool ready_when_served; /* group_ready() when the read was released */
        struct group *group;
};

struct write_probe {
        struct group_write w;
        int fired;
        int status;
        uint64_t index;
        uint64_t ts; /* the timestamp it applied at */
        char key[16];
};

/* Confirmation asks the groups sent (confirm_hook), not answered yet. */
struct ask {
        struct group *from;
        uint64_t seq;
        uint64_t voter;
};
static struct ask asks[64];
static unsigned n_asks;
static bool use_confirm; /* setup_confirm: groups send confirmations */
static bool use_clocks;  /* setup_clocks: each node has an HLC, its wall clock off by */
static const int64_t clock_offset_ms[N] = {0, -2000, 200};
static struct hlc clocks[N];
#define CLOCK_BASE_MS       1700000000000ull /* a realistic wall clock: Nov 2023 */
#define CLOCK_MAX_OFFSET_MS 500
static uint64_t snapshot_bytes; /* setup_bytes: the groups' snapshot_bytes */

#define BIG_VALUE_BYTES 4096
#define BUDGET_BYTES    (64 * 1024)

static unsigned confirm_hook(void *data, struct group *grp, uint64_t seq, const uint64_t *voters,
                             unsigned n)
{
        (void)data;
        for (unsigned i = 0; i < n; i++) {
                assert_true(n_asks < sizeof asks / sizeof asks[0]);
                asks[n_asks++] = (struct ask){grp, seq, voters[i]};
        }
        return n;
}

/* Deliver the asks to voter (0: every voter): it answers with its Raft
 * term now (fixture server ids are 1..N). */
static void answer_asks(uint64_t voter)
{
        unsigned kept = 0;
        for (unsigned i = 0; i < n_asks; i++) {
                struct ask a = asks[i];
                if (voter != 0 && a.voter != voter) {
                        asks[kept++] = a;
                        continue;
                }
                group_confirm_answer(a.from, a.seq, a.voter, true,
                                     raft_fixture_get(&f, (unsigned)a.voter - 1)->current_term);
        }
        n_asks = kept;
}

/* Node i's wall clock: the fixture's virtual time, off by its offset. */
static uint64_t clock_wall(void *data)
{
        unsigned i = (unsigned)(uintptr_t)data;
        return (uint64_t)((int64_t)(CLOCK_BASE_MS + raft_fixture_time(&f)) + clock_offset_ms[i]);
}

static void flush_all(void)
{
        for (unsigned i = 0; i < N; i++) {
                if (group_running(g[i])) {
                        group_flush(g[i], raft_fixture_time(&f));
                }
        }
}

/* One fixture event, then the once-per-iteration work of every node. */
static void step(void)
{
        raft_fixture_step(&f);
        flush_all();
}

static bool step_until(bool (*cond)(void *), void *arg, unsigned max_steps)
{
        for (unsigned i = 0; i < max_steps; i++) {
                if (cond(arg)) {
                        return true;
                }
                step();
        }
        return cond(arg);
}

static bool is_ready(void *arg)
{
        return group_ready(arg);
}

static bool read_fired(void *arg)
{
        return ((struct read_probe *)arg)->fired > 0;
}

struct writes {
        struct write_probe *w;
        unsigned n;
};

static bool writes_fired(void *arg)
{
        struct writes *ws = arg;
        for (unsigned i = 0; i < ws->n; i++) {
                if (ws->w[i].fired == 0) {
                        return false;
                }
        }
        return true;
}

static void on_read(struct group_read *r, int status)
{
        struct read_probe *p = QUEUE_DATA(r, struct read_probe, r);
        p->fired++;
        p->status = status;
        p->ready_when_served = group_ready(p->group);
}

static void on_write(struct group_write *w, int status, const struct command_result *res)
{
        struct write_probe *p = QUEUE_DATA(w, struct write_probe, w);
        p->fired++;
        p->status = status;
        p->index = res != NULL ? res->index : 0;
        p->ts = res != NULL ? res->ts : 0;
}

static int propose(struct group *grp, struct write_probe *p, const char *key)
{
        struct command cmd = {0};
        memset(p, 0, sizeof *p);
        snprintf(p->key, sizeof p->key, "%s", key);
        cmd.type = COMMAND_PUT;
        cmd.key = (const uint8_t *)p->key;
        cmd.key_len = (uint32_t)strlen(p->key);
        cmd.value = (const uint8_t *)p->key;
        cmd.value_len = cmd.value_raw_len = cmd.key_len;
        return group_propose(grp, &p->w, &cmd, on_write);
}

static int fence(struct group *grp, struct read_probe *p)
{
        memset(p, 0, sizeof *p);
        p->group = grp;
        return group_read_fence(grp, &p->r, on_read);
}

static bool has_key(struct group *grp, const char *key)
{
        return store_get(group_store(grp), key, (uint32_t)strlen(key)) != NULL;
}

static int setup(void **state)
{
        struct raft_configuration conf;
        struct group_params p = {0};
        (void)state;
        memset(&f, 0, sizeof f);
        raft_fixture_initialize(&f);
        p.apply_batch_max = 16;
        p.barriers_inflight_max = 4;
        p.session_window = 64;
        p.sessions_max = 64;
        p.sessions_bytes_max = 1u << 20;
        p.confirm_cb = use_confirm ? confirm_hook : NULL;
        /* As server.c passes the defaults, with the byte budget under test. */
        p.snapshot_threshold = 65536;
        p.snapshot_trailing = 8192;
        p.snapshot_bytes = snapshot_bytes;
        n_asks = 0;
        for (unsigned i = 0; i < N; i++) {
                p.proposer_seed = 1000000u * (i + 1);
                p.hlc = NULL;
                if (use_clocks) {
                        hlc_init(&clocks[i], CLOCK_MAX_OFFSET_MS);
                        clocks[i].wall_ms = clock_wall;
                        clocks[i].wall_data = (void *)(uintptr_t)i;
                        p.hlc = &clocks[i];
                }
                assert_int_equal(group_create(&p, &g[i]), 0);
                /* The fixture's io implements async_work but leaves version
                 * unset; the v3 fsm needs 2 (as raft_uv does, RAFT-NOTES §2). */
                f.servers[i].io.version = 2;
                assert_int_equal(raft_fixture_grow(&f, group_raft_fsm(g[i])), 0);
                group_attach(g[i], raft_fixture_get(&f, i));
                raft_set_pre_vote(raft_fixture_get(&f, i), true);
                raft_set_snapshot_threshold(raft_fixture_get(&f, i), p.snapshot_threshold);
                raft_set_snapshot_trailing(raft_fixture_get(&f, i), p.snapshot_trailing);
        }
        assert_int_equal(raft_fixture_configuration(&f, N, &conf), 0);
        assert_int_equal(raft_fixture_bootstrap(&f, &conf), 0);
        raft_configuration_close(&conf);
        assert_int_equal(raft_fixture_start(&f), 0);
        return 0;
}

static int setup_confirm(void **state)
{
        use_confirm = true;
        return setup(state);
}

static int setup_clocks(void **state)
{
        use_clocks = true;
        return setup(state);
}

static int setup_bytes(void **state)
{
        snapshot_bytes = BUDGET_BYTES;
        return setup(state);
}

static int teardown(void **state)
{
        (void)state;
        use_confirm = false;
        use_clocks = false;
        snapshot_bytes = 0;
        raft_fixture_close(&f);
        for (unsigned i = 0; i < N; i++) {
                group_destroy(g[i]);
                g[i] = NULL;
        }
        return 0;
}

static void elect(unsigned i)
{
        raft_fixture_elect(&f, i);
        flush_all();
        assert_true(group_is_leader(g[i]));
}

static void test_election_barrier_gates_reads(void **state)
{
        struct read_probe r0, r1;
        (void)state;
        elect(0);
        /* Leader, but its election barrier has not applied yet. */
        assert_false(group_ready(g[0]));
        assert_true(!group_election_barrier_pending(g[0])); /* submitted by flush */
        assert_int_equal(fence(g[0], &r0), 0);
        flush_all();
        assert_int_equal(r0.fired, 0);
        /* Followers never fence reads. */
        assert_int_equal(fence(g[1], &r1), TKV_ENOTLEADER);
        assert_true(step_until(read_fired, &r0, 2000));
        assert_int_equal(r0.status, 0);
        assert_true(r0.ready_when_served);
        assert_true(group_ready(g[0]));
        assert_true(group_stats(g[0]).barriers >= 2); /* election + read */
}

static void test_deposed_leader_fails_what_it_holds(void **state)
{
        struct write_probe w[3];
        struct read_probe r, r2;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        for (int i = 0; i < 3; i++) {
                char k[8];
                snprintf(k, sizeof k, "d%d", i);
                assert_int_equal(propose(g[0], &w[i], k), 0);
        }
        assert_int_equal(fence(g[0], &r), 0);
        flush_all(); /* proposed and fenced, nothing replicated yet */
        raft_fixture_depose(&f);
        flush_all();
        assert_false(group_is_leader(g[0]));
        assert_false(group_ready(g[0]));
        for (int i = 0; i < 3; i++) {
                assert_int_equal(w[i].fired, 1);
                /* May still commit under the next leader: only unknown is honest. */
                assert_int_equal(w[i].status, TKV_EUNKNOWN);
        }
        assert_int_equal(r.fired, 1);
        assert_int_equal(r.status, TKV_ENOTLEADER);
        /* The next leader is gated by its own election barrier again. */
        elect(1);
        assert_false(group_ready(g[1]));
        assert_int_equal(fence(g[1], &r2), 0);
        assert_true(step_until(read_fired, &r2, 2000));
        assert_int_equal(r2.status, 0);
        assert_true(r2.ready_when_served);
}

static void test_writes_batched_in_index_order(void **state)
{
        struct write_probe w[40];
        struct writes ws = {w, 40};
        uint64_t proposals;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        assert_int_equal(propose(g[1], &w[0], "x"), TKV_ENOTLEADER);
        proposals = group_stats(g[0]).proposals;
        for (int i = 0; i < 40; i++) {
                char k[8];
                snprintf(k, sizeof k, "k%d", i);
                assert_int_equal(propose(g[0], &w[i], k), 0);
        }
        flush_all();
        /* 40 writes of one iteration, apply_batch_max 16: three raft_apply calls. */
        assert_int_equal(group_stats(g[0]).proposals - proposals, 3);
        assert_true(step_until(writes_fired, &ws, 5000));
        for (int i = 0; i < 40; i++) {
                assert_int_equal(w[i].status, 0);
                if (i > 0) {
                        assert_int_equal(w[i].index, w[i - 1].index + 1);
                }
        }
        assert_true(raft_fixture_step_until_applied(&f, N, w[39].index, 5000));
        for (unsigned n = 0; n < N; n++) {
                assert_true(has_key(g[n], "k0"));
                assert_true(has_key(g[n], "k39"));
        }
}

/* Issue 16: timestamps follow the log whatever leaders and clocks do. Each
 * node has its own clock (offsets 0, -2 s, +200 ms; max_clock_offset_ms
 * 500). A write stamped by node 0, then one by node 1, whose clock is so
 * far behind that it refuses to observe node 0's stamps: the second is
 * still above the first (every replica applies at max(stamp, previous +
 * 1)), and every replica, having applied a write, is closed at its
 * timestamp. Under node 2, a read waiting for a timestamp ahead makes the
 * leader propose a CLOSE, and every replica is then closed there; the next
 * write is stamped above it. A timestamp further ahead of the leader's
 * clock than max_clock_offset_ms is refused, nothing proposed. */
static void test_timestamps_follow_the_log_across_leaders(void **state)
{
        struct write_probe w[3];
        struct writes ws = {w, 1};
        uint64_t want, closes;
        (void)state;

        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        assert_int_equal(propose(g[0], &w[0], "k1"), 0);
        assert_true(step_until(writes_fired, &ws, 5000));
        assert_true(raft_fixture_step_until_applied(&f, N, w[0].index, 5000));
        for (unsigned n = 0; n < N; n++) {
                assert_int_equal(group_closed_ts(g[n]), w[0].ts);
        }
        /* Node 1, 2 s behind, leads now. */
        raft_fixture_depose(&f);
        flush_all();
        elect(1);
        assert_true(step_until(is_ready, g[1], 2000));
        ws.w = &w[1];
        assert_int_equal(propose(g[1], &w[1], "k2"), 0);
        assert_true(step_until(writes_fired, &ws, 5000));
        assert_true(w[1].ts > w[0].ts);
        assert_true(raft_fixture_step_until_applied(&f, N, w[1].index, 5000));
        for (unsigned n = 0; n < N; n++) {
                assert_int_equal(group_closed_ts(g[n]), w[1].ts);
        }
        /* Node 2 leads; a read elsewhere saw a timestamp 100 ms ahead:
         * close there. */
        raft_fixture_depose(&f);
        flush_all();
        elect(2);
        assert_true(step_until(is_ready, g[2], 2000));
        want = group_closed_ts(g[2]) + hlc_from_ms(100);
        closes = group_stats(g[2]).closes;
        assert_true(group_want_closed(g[2], want));
        flush_all();
        assert_int_equal(group_stats(g[2]).closes, closes + 1);
        for (unsigned n = 0; n < N; n++) {
                for (unsigned i = 0; i < 5000 && group_closed_ts(g[n]) < want; i++) {
                        step();
                }
                assert_true(group_closed_ts(g[n]) >= want);
        }
        ws.w = &w[2];
        assert_int_equal(propose(g[2], &w[2], "k3"), 0);
        assert_true(step_until(writes_fired, &ws, 5000));
        assert_true(w[2].ts > want);
        /* Ten seconds ahead of the leader's clock: refused, nothing sent. */
        closes = group_stats(g[2]).closes;
        assert_false(group_want_closed(g[2], hlc_from_ms(clock_wall((void *)2) + 10000)));
        flush_all();
        assert_int_equal(group_stats(g[2]).closes, closes);
}

/* A follower down while the leader writes and compacts its log catches up
 * by snapshot install and ends with exactly the leader's state. */
static void test_restarted_follower_catches_up(void **state)
{
        struct write_probe w[60];
        struct writes ws = {w, 0};
        uint64_t last = 0;
        (void)state;
        for (unsigned i = 0; i < N; i++) {
                raft_set_snapshot_threshold(raft_fixture_get(&f, i), 16);
                raft_set_snapshot_trailing(raft_fixture_get(&f, i), 4);
        }
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        raft_fixture_kill(&f, 2);
        for (int i = 0; i < 60; i++) {
                char k[8];
                snprintf(k, sizeof k, "s%d", i);
                assert_int_equal(propose(g[0], &w[i], k), 0);
                ws.n = (unsigned)i + 1;
                flush_all();
                assert_true(step_until(writes_fired, &ws, 5000));
                assert_int_equal(w[i].status, 0);
                last = w[i].index;
        }
        assert_true(group_stats(g[0]).snapshots > 0);
        assert_true(group_snapshot_index(g[0]) > 0);
        raft_fixture_revive(&f, 2);
        assert_true(raft_fixture_step_until_applied(&f, 2, last, 20000));
        flush_all();
        assert_int_equal(group_stats(g[2]).restores, 1); /* it got the snapshot */
        assert_int_equal(store_count(group_store(g[2])), store_count(group_store(g[0])));
        for (int i = 0; i < 60; i++) {
                assert_true(has_key(g[2], w[i].key));
        }
}

static int propose_big(struct group *grp, struct write_probe *p, int i)
{
        static uint8_t value[BIG_VALUE_BYTES];
        struct command cmd = {0};
        memset(p, 0, sizeof *p);
        snprintf(p->key, sizeof p->key, "b%d", i % 8);
        memset(value, 'a' + i % 26, sizeof value);
        cmd.type = COMMAND_PUT;
        cmd.key = (const uint8_t *)p->key;
        cmd.key_len = (uint32_t)strlen(p->key);
        cmd.value = value;
        cmd.value_len = cmd.value_raw_len = sizeof value;
        return group_propose(grp, &p->w, &cmd, on_write);
}

/* The bytes of the entries raft holds in memory for server i. */
static uint64_t log_bytes_in_memory(unsigned i)
{
        const struct raft_log *l = &raft_fixture_get(&f, i)->log;
        uint64_t bytes = 0;
        for (size_t k = l->front; k != l->back; k = (k + 1) % l->size) {
                bytes += l->entries[k].buf.len;
        }
        return bytes;
}

/* Write n 4 KiB values through g[0], one after the other; returns the
 * index of the last. */
static uint64_t write_big(int first, int n)
{
        struct write_probe w;
        struct writes ws = {&w, 1};
        for (int i = first; i < first + n; i++) {
                assert_int_equal(propose_big(g[0], &w, i), 0);
                flush_all();
                assert_true(step_until(writes_fired, &ws, 5000));
                assert_int_equal(w.status, 0);
        }
        return w.index;
}

/* issue 15: 4 KiB entries, a 64 KiB budget and a threshold of 65536
 * entries: every replica snapshots for the bytes, keeps about 1.5 budgets
 * of log in memory at most (without the budget: all 600 KiB of it), and
 * a follower that missed part of it still catches up. */
static void test_log_bounded_in_bytes(void **state)
{
        uint64_t last;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        last = write_big(0, 150);
        assert_true(raft_fixture_step_until_applied(&f, N, last, 5000));
        for (unsigned i = 0; i < N; i++) {
                struct group_stats st = group_stats(g[i]);
                uint64_t in_memory = log_bytes_in_memory(i);
                assert_true(st.snapshots >= 150 * BIG_VALUE_BYTES / BUDGET_BYTES - 1);
                assert_true(st.snapshots_for_bytes >= st.snapshots);
                assert_true(st.log_bytes < BUDGET_BYTES + 2 * BIG_VALUE_BYTES);
                assert_true(in_memory <= 3 * BUDGET_BYTES / 2 + 4 * BIG_VALUE_BYTES);
                /* Trailing entries cut to half the budget, never to 0. */
                assert_true(raft_fixture_get(&f, i)->snapshot.trailing >= 1);
                assert_true(raft_fixture_get(&f, i)->snapshot.trailing <=
                            BUDGET_BYTES / 2 / BIG_VALUE_BYTES);
        }
        raft_fixture_kill(&f, 2);
        last = write_big(150, 50);
        raft_fixture_revive(&f, 2);
        assert_true(raft_fixture_step_until_applied(&f, 2, last, 20000));
        assert_int_equal(group_stats(g[2]).restores, 1); /* more than the trailing entries */
        assert_int_equal(store_count(group_store(g[2])), 8);
        assert_true(group_stats(g[0]).snapshots >= 200 * BIG_VALUE_BYTES / BUDGET_BYTES - 1);
}

/* A ready leader fences reads by asking the voters, writing nothing: one
 * answer in its term makes a majority of three; with no answer for an
 * election timeout the reads fall back to a barrier. */
static void test_confirmation_fences_reads_without_a_log_entry(void **state)
{
        struct read_probe r, r2;
        uint64_t last, barriers;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        last = raft_last_index(group_raft(g[0]));
        barriers = group_stats(g[0]).barriers;
        n_asks = 0;
        assert_int_equal(fence(g[0], &r), 0);
        flush_all();
        assert_int_equal(n_asks, 2); /* voters 2 and 3 */
        assert_int_equal(asks[0].seq, asks[1].seq);
        assert_true(asks[0].voter != 1 && asks[1].voter != 1 && asks[0].voter != asks[1].voter);
        flush_all();
        assert_int_equal(r.fired, 0); /* its own vote is no majority */
        answer_asks(2);
        assert_int_equal(r.fired, 1);
        assert_int_equal(r.status, 0);
        assert_int_equal(raft_last_index(group_raft(g[0])), last); /* nothing written */
        assert_int_equal(group_stats(g[0]).barriers, barriers);
        assert_int_equal(group_stats(g[0]).confirms, 1);
        answer_asks(3); /* late: ignored */
        assert_int_equal(r.fired, 1);

        /* Nobody answers: after an election timeout, a barrier serves it. */
        assert_int_equal(fence(g[0], &r2), 0);
        flush_all();
        assert_int_equal(n_asks, 2);
        assert_true(step_until(read_fired, &r2, 5000));
        assert_int_equal(r2.status, 0);
        assert_int_equal(group_stats(g[0]).confirms_failed, 1);
        assert_int_equal(group_stats(g[0]).barriers, barriers + 1);
}

/* Only voters still in the leader's term count, each once. */
static void test_confirmation_counts_voters_in_its_term(void **state)
{
        struct read_probe r;
        uint64_t term, seq;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        term = group_term(g[0]);
        n_asks = 0;
        assert_int_equal(fence(g[0], &r), 0);
        flush_all();
        assert_int_equal(n_asks, 2);
        seq = asks[0].seq;
        group_confirm_answer(g[0], seq, 2, true, term - 1); /* behind: not an ack */
        group_confirm_answer(g[0], seq, 7, true, term);     /* not a voter */
        group_confirm_answer(g[0], seq, 2, true, term);     /* answered already */
        group_confirm_answer(g[0], seq + 1, 3, true, term); /* another confirmation */
        flush_all();
        assert_int_equal(r.fired, 0);
        group_confirm_answer(g[0], seq, 3, true, term);
        assert_int_equal(r.fired, 1);
        assert_int_equal(r.status, 0);
}

/* The dangerous case: leadership moved to node 2 (a transfer, so the
 * voters did not wait out an election timeout), and node 1 has not heard
 * of it: raft still says it leads. The voters' answers carry the new term;
 * its reads fail instead of being served from a state that may miss writes
 * node 2 acknowledged. */
static void test_replaced_leader_serves_no_reads(void **state)
{
        static struct raft_transfer transfer;
        struct read_probe r;
        uint64_t term;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        term = group_term(g[0]);
        raft_fixture_saturate(&f, 1, 0);
        raft_fixture_saturate(&f, 2, 0);
        assert_int_equal(raft_transfer(group_raft(g[0]), &transfer, 2, NULL), 0);
        for (unsigned i = 0; i < 2000 && raft_state(raft_fixture_get(&f, 1)) != RAFT_LEADER; i++) {
                step();
        }
        assert_int_equal(raft_state(raft_fixture_get(&f, 1)), RAFT_LEADER);
        assert_true(group_is_leader(g[0])); /* it does not know */
        assert_int_equal(group_term(g[0]), term);
        assert_true(group_ready(g[0]));
        n_asks = 0;
        assert_int_equal(fence(g[0], &r), 0);
        flush_all();
        assert_true(n_asks >= 2);
        answer_asks(0);
        assert_int_equal(r.fired, 1);
        assert_int_equal(r.status, TKV_ENOTLEADER);
        assert_int_equal(group_stats(g[0]).confirms_failed, 1);
}

/* ------------------------------------------------------------------------ */
/* Leases (group_lease.c): the leader expires them on its clock, never
 * early, and a new leader gives every lease a full TTL again. */

#define LEASE_TTL_MS 1000

static int propose_lease(struct group *grp, struct write_probe *p, uint8_t type, uint64_t id,
                         uint64_t ttl_ms)
{
        struct command cmd = {0};
        struct command_lease b = {id, ttl_ms, 100, 100};
        uint8_t body[COMMAND_LEASE_BODY_MAX];
        memset(p, 0, sizeof *p);
        cmd.type = type;
        cmd.value = body;
        cmd.value_len = cmd.value_raw_len = (uint32_t)command_lease_body_encode(&b, body);
        return group_propose(grp, &p->w, &cmd, on_write);
}

static int propose_leased_put(struct group *grp, struct write_probe *p, const char *key,
                              uint64_t lease)
{
        struct command cmd = {0};
        memset(p, 0, sizeof *p);
        snprintf(p->key, sizeof p->key, "%s", key);
        cmd.type = COMMAND_PUT;
        cmd.key = (const uint8_t *)p->key;
        cmd.key_len = (uint32_t)strlen(p->key);
        cmd.value = (const uint8_t *)"v";
        cmd.value_len = cmd.value_raw_len = 1;
        cmd.lease = lease;
        return group_propose(grp, &p->w, &cmd, on_write);
}

static bool write_fired(void *arg)
{
        return ((struct write_probe *)arg)->fired > 0;
}

struct gone {
        struct group *grp;
        const char *key;
};

static bool key_gone(void *arg)
{
        struct gone *x = arg;
        return !has_key(x->grp, x->key);
}

/* Grant a lease on leader grp and attach key to it; returns its id. */
static uint64_t lease_with_key(struct group *grp, const char *key)
{
        struct write_probe w;
        uint64_t id;
        assert_int_equal(propose_lease(grp, &w, COMMAND_LEASE_GRANT, 0, LEASE_TTL_MS), 0);
        assert_true(step_until(write_fired, &w, 2000));
        assert_int_equal(w.status, 0);
        id = lease_id_make(0, w.index);
        assert_int_equal(propose_leased_put(grp, &w, key, id), 0);
        assert_true(step_until(write_fired, &w, 2000));
        assert_int_equal(w.status, 0);
        return id;
}

static void test_lease_expires_on_the_leader_clock(void **state)
{
        struct gone x = {NULL, "held"};
        uint64_t t0, id, ttl = 0;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        t0 = raft_fixture_time(&f);
        id = lease_with_key(g[0], "held");
        /* Keepalives are the leader's: a follower refuses them. */
        assert_int_equal(group_lease_keepalive(g[1], id, raft_fixture_time(&f), &ttl),
                         TKV_ENOTLEADER);
        x.grp = g[0];
        assert_true(step_until(key_gone, &x, 100000));
        /* Never before its TTL from the moment it was proposed. */
        assert_true(raft_fixture_time(&f) >= t0 + LEASE_TTL_MS);
        assert_int_equal(group_stats(g[0]).leases_expired, 1);
        assert_null(lease_find(group_leases(g[0]), id));
        /* Every replica applied the same expiry. */
        for (unsigned i = 1; i < N; i++) {
                x.grp = g[i];
                assert_true(step_until(key_gone, &x, 100000));
                assert_int_equal(lease_count(group_leases(g[i])), 0);
        }
        assert_int_equal(group_lease_keepalive(g[0], id, raft_fixture_time(&f), &ttl),
                         TKV_ENOTFOUND);
}

static void test_keepalive_holds_then_new_leader_restarts_ttl(void **state)
{
        struct gone x = {NULL, "kept"};
        uint64_t id, t_elected, ttl = 0, until;
        (void)state;
        elect(0);
        assert_true(step_until(is_ready, g[0], 2000));
        id = lease_with_key(g[0], "kept");
        /* Kept alive for three TTLs on the leader: the key stays. */
        until = raft_fixture_time(&f) + 3 * LEASE_TTL_MS;
        while (raft_fixture_time(&f) < until) {
                assert_int_equal(group_lease_keepalive(g[0], id, raft_fixture_time(&f), &ttl), 0);
                assert_int_equal(ttl, LEASE_TTL_MS);
                for (uint64_t t = raft_fixture_time(&f); raft_fixture_time(&f) < t + 300;) {
                        step();
                }
                assert_true(has_key(g[0], "kept"));
        }
        /* The leader fails; its successor never saw a keepalive, so it
         * starts a full TTL from its own first moment as leader. */
        raft_fixture_depose(&f);
        flush_all();
        elect(1);
        t_elected = raft_fixture_time(&f);
        assert_true(step_until(is_ready, g[1], 2000));
        x.grp = g[1];
        assert_true(step_until(key_gone, &x, 100000));
        assert_true(raft_fixture_time(&f) >= t_elected + LEASE_TTL_MS);
        assert_int_equal(group_stats(g[1]).leases_expired, 1);
        assert_int_equal(group_stats(g[0]).leases_expired, 0);
}

int main(void)
{
        log_setup(0, LOG_OFF);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_election_barrier_gates_reads, setup, teardown),
            cmocka_unit_test_setup_teardown(test_deposed_leader_fails_what_it_holds, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_writes_batched_in_index_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timestamps_follow_the_log_across_leaders,
                                            setup_clocks, teardown),
            cmocka_unit_test_setup_teardown(test_restarted_follower_catches_up, setup, teardown),
            cmocka_unit_test_setup_teardown(test_log_bounded_in_bytes, setup_bytes, teardown),
            cmocka_unit_test_setup_teardown(test_election_barrier_gates_reads, setup_confirm,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_deposed_leader_fails_what_it_holds, setup_confirm,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_confirmation_fences_reads_without_a_log_entry,
                                            setup_confirm, teardown),
            cmocka_unit_test_setup_teardown(test_confirmation_counts_voters_in_its_term,
                                            setup_confirm, teardown),
            cmocka_unit_test_setup_teardown(test_lease_expires_on_the_leader_clock, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_keepalive_holds_then_new_leader_restarts_ttl,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_replaced_leader_serves_no_reads, setup_confirm,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
