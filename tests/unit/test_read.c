/* A replica's knowledge of its own staleness (read.c): probes, the leader's
 * own freshness, lag, bounds, the waiting reads, the forwarding budget and
 * the ALL_REPLICAS bookkeeping. Times are plain numbers: nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "read.h"

static struct read_replica follower(uint64_t applied)
{
        struct read_replica r = {.applied = applied, .commit = applied};
        return r;
}

/* Two probe answers from leader 1 whose times agree with ours: the clock
 * check passes (read_clock_check), as on any healthy follower. */
static void trust_clock(struct read_state *rs)
{
        read_clock_check(rs, 1, 1, 0, 10, 5);
        read_clock_check(rs, 1, 1, 100, 110, 105);
        assert_true(rs->clock.verified);
}

/* What a follower claims for state current as of `ms` ago: the margin of
 * the clock check added. */
static int64_t claimed(uint64_t ms)
{
        return (int64_t)(ms + ms / READ_CLOCK_DRIFT_DIV + READ_CLOCK_SLACK_MS);
}

static void test_staleness_is_unknown_until_a_probe_is_covered(void **state)
{
        struct read_state rs;
        uint32_t ids[3] = {1, 2, 3};
        struct read_replica r = follower(100);
        (void)state;

        read_state_init(&rs, 0, ids, 3, 10, 200);
        trust_clock(&rs);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), -1);
        assert_int_equal(read_lag_entries(&rs, &r), 0);
        /* Raft's commit index counts as heard too. */
        r.commit = 103;
        assert_int_equal(read_lag_entries(&rs, &r), 3);
        /* Probe sent at 1000 answered 120: we have not applied 120 yet. */
        read_on_probe(&rs, &r, 120, 1000, ++rs.probe_ticket);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), -1);
        assert_int_equal(read_lag_entries(&rs, &r), 20);
        /* Once applied reaches 120, the state is current as of 1000. */
        r.applied = 120;
        read_refresh(&rs, &r);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), claimed(4000));
        assert_int_equal(read_lag_entries(&rs, &r), 0);
        /* An older probe arriving late does not move the bound back. */
        read_on_probe(&rs, &r, 110, 900, ++rs.probe_ticket);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), claimed(4000));
        assert_int_equal(rs.leader_commit, 120);
        /* A newer covered probe tightens it. */
        read_on_probe(&rs, &r, 115, 4900, ++rs.probe_ticket);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), claimed(100));
        /* Never negative. */
        assert_int_equal(read_staleness_ms(&rs, &r, 4000), claimed(0));
}

/* A replica moved away and back starts empty: the freshness its old state
 * earned is not claimed for the new one, which earns its own. Found by
 * tkv-verify --scenario elastic: an empty replica answered "not found"
 * with staleness_ms 3890, 12 s after the key was written. */
static void test_restarted_replica_claims_no_old_freshness(void **state)
{
        struct read_state rs;
        uint32_t ids[3] = {1, 2, 3};
        struct read_replica r = follower(120);
        (void)state;

        read_state_init(&rs, 0, ids, 3, 10, 200);
        trust_clock(&rs);
        read_on_probe(&rs, &r, 120, 1000, ++rs.probe_ticket);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), claimed(4000));
        r = follower(0);
        read_state_restart(&rs);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), -1);
        /* A bound that needs a proof after the last one is not met either. */
        assert_int_equal(rs.fresh_probe, 0);
        /* What was heard of the leader holds: the new replica lags by it. */
        assert_int_equal(read_lag_entries(&rs, &r), 120);
        /* A probe answered at 4000, covered once the snapshot lands. */
        read_on_probe(&rs, &r, 130, 4000, ++rs.probe_ticket);
        r = follower(130);
        read_refresh(&rs, &r);
        assert_int_equal(read_staleness_ms(&rs, &r, 5000), claimed(1000));
}

static void test_pending_answers_are_bounded(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = follower(0);
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        for (uint64_t i = 1; i <= 3 * READ_PENDING_MAX; i++) {
                read_on_probe(&rs, &r, 1000 + i, i * 10, ++rs.probe_ticket);
        }
        assert_int_equal(rs.n_pending, READ_PENDING_MAX);
        /* The newest answers were kept. */
        r.applied = 1000 + 3 * READ_PENDING_MAX;
        read_refresh(&rs, &r);
        assert_int_equal(rs.fresh_ms, 3 * READ_PENDING_MAX * 10);
        assert_int_equal(rs.n_pending, 0);
}

static void test_leader_freshness(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = {.applied = 50, .commit = 50, .leader = true};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        /* A leader whose own-term entries have not applied knows nothing. */
        assert_int_equal(read_staleness_ms(&rs, &r, 1000), -1);
        assert_int_equal(read_lag_entries(&rs, &r), 0);
        r.leader_fresh_ms = 900;
        assert_int_equal(read_staleness_ms(&rs, &r, 1000), 100);
        /* What it knew as a follower still holds if it is newer, on a
         * clock that was checked. */
        rs.fresh_ms = 950;
        assert_int_equal(read_staleness_ms(&rs, &r, 1000), 100);
        trust_clock(&rs);
        assert_int_equal(read_staleness_ms(&rs, &r, 1000), claimed(50));
}

static void test_bounds(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = follower(100);
        struct read_bound none = {0}, idx = {.required_index = 101},
                          stale = {.max_staleness_ms = 200}, lag = {.max_lag_entries = 5},
                          closed = {.required_ts = 500};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        trust_clock(&rs);
        assert_true(read_bound_met(&rs, &r, &none, 1000));
        assert_false(read_bound_met(&rs, &r, &idx, 1000));
        /* Unknown staleness or lag never meets a bound. */
        assert_false(read_bound_met(&rs, &r, &stale, 1000));
        assert_false(read_bound_met(&rs, &r, &lag, 1000));
        read_on_probe(&rs, &r, 104, 900, ++rs.probe_ticket);
        assert_true(read_bound_met(&rs, &r, &lag, 1000)); /* 4 behind as last heard */
        /* ...but only while that probe is recent (lag window 200 ms). */
        assert_false(read_bound_met(&rs, &r, &lag, 1101));
        assert_false(read_bound_met(&rs, &r, &stale, 1000)); /* 104 not applied */
        r.applied = 104;
        read_refresh(&rs, &r);
        /* 190 ms on our clock claims 190 + 3 + 5; 196 ms claims 204. */
        assert_true(read_bound_met(&rs, &r, &stale, 1090));
        assert_false(read_bound_met(&rs, &r, &stale, 1096));
        r.applied = 101;
        assert_true(read_bound_met(&rs, &r, &idx, 1000));
        /* SEQUENTIAL: the partition must be closed at the timestamp, i.e.
         * have applied a command stamped at or above it. */
        r.closed_ts = 499;
        assert_false(read_bound_met(&rs, &r, &closed, 1000));
        r.closed_ts = 500;
        assert_true(read_bound_met(&rs, &r, &closed, 1000));
}

/* LINEARIZABLE GET_MANY: "current as of now" is met only by a proof begun
 * after the bound was taken: a probe sent later whose answer is applied,
 * or (on a leader) a ticket taken later that completed. Times play no
 * part: a probe sent in the same millisecond but before does not count. */
static void test_fresh_after_needs_a_later_proof(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = follower(100);
        struct read_bound b = {0};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        read_on_probe(&rs, &r, 100, 1000, ++rs.probe_ticket); /* applied: covered */
        assert_int_equal(rs.fresh_probe, 1);
        /* The bound taken now: probe 1 came before it. */
        b.fresh_after = true;
        b.after_ticket = rs.probe_ticket;
        assert_false(read_bound_met(&rs, &r, &b, 1000));
        /* Probe 2, sent after, same millisecond: not applied yet. */
        read_on_probe(&rs, &r, 101, 1000, ++rs.probe_ticket);
        assert_false(read_bound_met(&rs, &r, &b, 1000));
        r.applied = 101;
        read_refresh(&rs, &r);
        assert_true(read_bound_met(&rs, &r, &b, 1000));
        /* A leader: its own proofs, by ticket. */
        r.leader = true;
        b.after_ticket = 7;
        rs.fresh_probe = 7;
        r.leader_fresh_ticket = 7;
        assert_false(read_bound_met(&rs, &r, &b, 1000));
        r.leader_fresh_ticket = 8;
        assert_true(read_bound_met(&rs, &r, &b, 1000));
}

/* The finding: a follower whose clock ran at 0.1x served reads claiming
 * 603 ms of staleness while >= 5 012 ms stale. Its probes' spans, measured
 * by its clock, fall short of the leader's: it then claims nothing (time or
 * lag) until a check passes again. */
static void test_slow_clock_claims_nothing(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = follower(100);
        struct read_bound stale = {.max_staleness_ms = 1000}, lag = {.max_lag_entries = 5};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        /* One answer proves nothing: there is no span to compare yet. */
        read_clock_check(&rs, 1, 1, 0, 10, 5);
        read_on_probe(&rs, &r, 100, 0, ++rs.probe_ticket);
        assert_int_equal(read_staleness_ms(&rs, &r, 20), -1);
        /* Our clock says 100 ms passed; the leader's says 1 000: slow. */
        read_clock_check(&rs, 1, 1, 100, 110, 1005);
        read_on_probe(&rs, &r, 100, 100, ++rs.probe_ticket);
        assert_false(rs.clock.verified);
        assert_int_equal(rs.clock.slow, 1);
        assert_int_equal(read_staleness_ms(&rs, &r, 120), -1);
        assert_false(read_bound_met(&rs, &r, &stale, 120));
        assert_false(read_bound_met(&rs, &r, &lag, 120));
        /* Back in step: 100 ms on both sides (within 2 % + 5 ms). */
        read_clock_check(&rs, 1, 1, 200, 210, 1105);
        assert_true(rs.clock.verified);
        assert_true(read_bound_met(&rs, &r, &stale, 120));
        assert_true(read_bound_met(&rs, &r, &lag, 120));
        /* The span is from the previous probe's sending to this answer:
         * 110 ms here allows 110 + 2 + 5 there; 118 is past the margin. */
        read_clock_check(&rs, 1, 1, 300, 310, 1105 + 117);
        assert_true(rs.clock.verified);
        read_clock_check(&rs, 1, 1, 400, 410, 1222 + 118);
        assert_false(rs.clock.verified);
        /* A new leader or term, or a leader sending no time: start over. */
        read_clock_check(&rs, 1, 1, 500, 510, 1340 + 100);
        assert_true(rs.clock.verified);
        read_clock_check(&rs, 2, 2, 600, 610, 9000);
        assert_false(rs.clock.verified);
        read_clock_check(&rs, 2, 2, 700, 710, 9100);
        assert_true(rs.clock.verified);
        read_clock_check(&rs, 2, 2, 800, 810, 0);
        assert_false(rs.clock.verified);
}

struct waiter {
        struct read_wait w;
        int fired;
};

static void waiter_cb(struct read_wait *w)
{
        ((struct waiter *)w)->fired++;
}

static void test_waiters_are_released_when_their_bound_is_met(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        struct read_replica r = follower(10);
        struct waiter a = {{.bound = {20, 0, 0}, .cb = waiter_cb}, 0};
        struct waiter b = {{.bound = {30, 0, 0}, .cb = waiter_cb}, 0};
        struct waiter c = {{.bound = {0, 100, 0}, .cb = waiter_cb}, 0};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        trust_clock(&rs);
        read_wait_park(&rs, &a.w);
        read_wait_park(&rs, &b.w);
        read_wait_park(&rs, &c.w);
        read_scan(&rs, &r, 1000);
        assert_int_equal(a.fired + b.fired + c.fired, 0);
        r.applied = 25;
        read_scan(&rs, &r, 1000);
        assert_int_equal(a.fired, 1);
        assert_int_equal(b.fired, 0);
        /* b gives up (its deadline); c's staleness becomes known. */
        read_wait_abandon(&b.w);
        read_on_probe(&rs, &r, 25, 950, ++rs.probe_ticket);
        read_scan(&rs, &r, 1000);
        assert_int_equal(c.fired, 1);
        r.applied = 40;
        read_scan(&rs, &r, 1000);
        assert_int_equal(a.fired, 1);
        assert_int_equal(b.fired, 0);
        assert_true(queue_empty(&rs.waiters));
}

static void test_forward_budget_is_a_token_bucket(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        int taken = 0;
        (void)state;

        read_state_init(&rs, 0, ids, 1, 5, 200);
        while (read_take_forward(&rs, 1000, 100, 5)) {
                taken++;
        }
        assert_int_equal(taken, 5);
        /* 100 per second: 10 ms buys one more, and the burst caps it. */
        assert_false(read_take_forward(&rs, 1009, 100, 5));
        assert_true(read_take_forward(&rs, 1011, 100, 5));
        assert_false(read_take_forward(&rs, 1011, 100, 5));
        taken = 0;
        while (read_take_forward(&rs, 100000, 100, 5)) {
                taken++;
        }
        assert_int_equal(taken, 5);
}

static void test_probes_follow_demand(void **state)
{
        struct read_state rs;
        uint32_t ids[1] = {1};
        (void)state;

        read_state_init(&rs, 0, ids, 1, 10, 200);
        assert_false(read_probe_due(&rs, 1000, 100)); /* nobody asked */
        rs.demand_ms = 1000;
        rs.probe_sent_ms = 950;
        assert_false(read_probe_due(&rs, 1000, 100));
        assert_true(read_probe_due(&rs, 1050, 100));
        rs.probe_in_flight = true;
        assert_false(read_probe_due(&rs, 1050, 100));
        rs.probe_in_flight = false;
        /* Idle for READ_PROBE_IDLE_MS: periodic probes stop... */
        assert_false(read_probe_due(&rs, 1000 + READ_PROBE_IDLE_MS, 100));
        /* ...but a waiting read or an ALL_REPLICAS write asks at once. */
        rs.probe_now = true;
        assert_true(read_probe_due(&rs, 1000 + READ_PROBE_IDLE_MS, 100));
}

static void test_all_replicas_applied(void **state)
{
        struct read_state rs;
        uint32_t ids[3] = {1, 2, 3};
        (void)state;

        read_state_init(&rs, 0, ids, 3, 10, 200);
        assert_false(read_all_applied(&rs, 1, 50, 40));
        read_on_replica_applied(&rs, 2, 45, 50);
        assert_false(read_all_applied(&rs, 1, 50, 40));
        read_on_replica_applied(&rs, 3, 40, 50);
        assert_true(read_all_applied(&rs, 1, 50, 40));
        assert_false(read_all_applied(&rs, 1, 39, 40)); /* ourselves too */
        /* Reports never go backwards; unknown nodes are ignored. */
        read_on_replica_applied(&rs, 3, 10, 50);
        read_on_replica_applied(&rs, 9, 1000, 50);
        assert_true(read_all_applied(&rs, 1, 50, 40));
        assert_false(read_all_applied(&rs, 1, 50, 41));
        /* A report beyond the leader's last index (a forged 2^63) is
         * believed up to that index only: a later write is not covered. */
        read_on_replica_applied(&rs, 3, UINT64_MAX / 2, 60);
        assert_true(read_all_applied(&rs, 1, 70, 45));
        assert_false(read_all_applied(&rs, 1, 70, 61));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_staleness_is_unknown_until_a_probe_is_covered),
            cmocka_unit_test(test_restarted_replica_claims_no_old_freshness),
            cmocka_unit_test(test_pending_answers_are_bounded),
            cmocka_unit_test(test_leader_freshness),
            cmocka_unit_test(test_bounds),
            cmocka_unit_test(test_slow_clock_claims_nothing),
            cmocka_unit_test(test_fresh_after_needs_a_later_proof),
            cmocka_unit_test(test_waiters_are_released_when_their_bound_is_met),
            cmocka_unit_test(test_forward_budget_is_a_token_bucket),
            cmocka_unit_test(test_probes_follow_demand),
            cmocka_unit_test(test_all_replicas_applied),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
