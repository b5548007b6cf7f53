/* route.c: one test per row of the routing table in route.h, each
 * asserting the outcome, the target and the row that decided. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "keyhash.h"
#include "route.h"

/* Partition with replicas 1, 2, 3; this node is 1 unless hosted is false
 * (then this node is 4). alive_mask bit i: replica i heard from. */
static struct route_view view(bool hosted, bool leader, unsigned leader_id, unsigned alive_mask)
{
        struct route_view v = {0};

        v.hosted = hosted;
        v.leader = leader;
        v.leader_id = leader_id;
        v.n_replicas = 3;
        for (unsigned i = 0; i < 3; i++) {
                v.replicas[i] = i + 1;
                v.alive[i] = (alive_mask >> i) & 1u;
        }
        return v;
}

static const struct route_need write_need = {.leader_only = true, .needs_quorum = true};
static const struct route_need replica_read = {0};
static const struct route_need leader_read = {.leader_only = true};
static const struct route_need eventual_leader_read = {.leader_only = true,
                                                       .serve_without_leader = true};

static void expect(struct route_view v, struct route_need n, enum route_outcome o, unsigned row,
                   unsigned target)
{
        struct route_decision d = route_decide(&v, &n);

        assert_string_equal(route_outcome_name(d.outcome), route_outcome_name(o));
        assert_int_equal(d.row, row);
        assert_int_equal(d.target, target);
}

static void test_row1_leader_with_majority_serves_writes(void **state)
{
        (void)state;
        expect(view(true, true, 0, 0x3), write_need, ROUTE_SERVE, 1, 0);
}

static void test_row2_cut_off_leader_refuses_writes(void **state)
{
        (void)state;
        /* Only this node alive: proposing could never commit. */
        expect(view(true, true, 0, 0x1), write_need, ROUTE_NO_QUORUM, 2, 0);
}

static void test_row3_cut_off_leader_serves_leader_reads(void **state)
{
        (void)state;
        /* A read below LINEARIZABLE routed to the leader needs no quorum. */
        expect(view(true, true, 0, 0x1), leader_read, ROUTE_SERVE, 3, 0);
}

static void test_row4_replica_serves_replica_reads(void **state)
{
        (void)state;
        expect(view(true, false, 2, 0x7), replica_read, ROUTE_SERVE, 4, 0);
        /* Even with no leader and no majority. */
        expect(view(true, false, 0, 0x1), replica_read, ROUTE_SERVE, 4, 0);
}

static void test_row5_no_forward_gets_not_leader(void **state)
{
        struct route_need n = write_need;
        (void)state;
        n.no_forward = true;
        expect(view(true, false, 3, 0x7), n, ROUTE_NOT_LEADER, 5, 3);
}

static void test_row6_follower_forwards_to_the_leader(void **state)
{
        (void)state;
        expect(view(true, false, 3, 0x7), write_need, ROUTE_FORWARD, 6, 3);
        expect(view(true, false, 2, 0x7), leader_read, ROUTE_FORWARD, 6, 2);
}

static void test_row7_eventual_served_without_a_leader(void **state)
{
        (void)state;
        expect(view(true, false, 0, 0x1), eventual_leader_read, ROUTE_SERVE, 7, 0);
}

static void test_row8_no_leader_majority_alive_is_an_election(void **state)
{
        (void)state;
        expect(view(true, false, 0, 0x3), write_need, ROUTE_ELECTION, 8, 0);
        expect(view(true, false, 0, 0x7), leader_read, ROUTE_ELECTION, 8, 0);
}

static void test_row9_no_leader_majority_gone_is_no_quorum(void **state)
{
        (void)state;
        expect(view(true, false, 0, 0x1), write_need, ROUTE_NO_QUORUM, 9, 0);
}

static void test_row10_no_replica_here_and_no_forward(void **state)
{
        struct route_need n = replica_read;
        (void)state;
        n.no_forward = true;
        expect(view(false, false, 0, 0x7), n, ROUTE_NO_REPLICA, 10, 0);
        /* The same answer for a write, whatever is alive (the two handlers
         * once disagreed here). */
        n = write_need;
        n.no_forward = true;
        expect(view(false, false, 0, 0x0), n, ROUTE_NO_REPLICA, 10, 0);
}

/* A node without a replica that heard who leads (a forward's NOT_LEADER
 * named node 3) sends leader-only requests there, not to a follower that
 * would answer NOT_LEADER again (a read pinned to this node never reached
 * the leader: tkv-verify --scenario elastic). Replica reads still go to
 * the first live replica; a leader heard of that is not alive, or not a
 * replica any more (moved away), is passed over. */
static void test_row11_no_replica_here_forwards_to_the_leader_heard_of(void **state)
{
        (void)state;
        expect(view(false, false, 3, 0x7), write_need, ROUTE_FORWARD, 11, 3);
        expect(view(false, false, 3, 0x7), leader_read, ROUTE_FORWARD, 11, 3);
        expect(view(false, false, 3, 0x7), replica_read, ROUTE_FORWARD, 12, 1);
        expect(view(false, false, 3, 0x3), leader_read, ROUTE_FORWARD, 12, 1);
        expect(view(false, false, 5, 0x7), leader_read, ROUTE_FORWARD, 12, 1);
}

static void test_row12_no_replica_here_forwards_to_first_live(void **state)
{
        (void)state;
        expect(view(false, false, 0, 0x6), write_need, ROUTE_FORWARD, 12, 2);
        expect(view(false, false, 0, 0x4), replica_read, ROUTE_FORWARD, 12, 3);
}

static void test_row13_no_replica_reachable(void **state)
{
        (void)state;
        expect(view(false, false, 0, 0x0), replica_read, ROUTE_NO_QUORUM, 13, 0);
        expect(view(false, false, 2, 0x0), write_need, ROUTE_NO_QUORUM, 13, 0);
}

/* Wherever route_needs_liveness says no, the outcome is the same whatever
 * replicas are alive: every view and need, every alive mask. */
static void test_liveness_needed_only_where_it_matters(void **state)
{
        (void)state;
        for (unsigned bits = 0; bits < 64; bits++) {
                struct route_need n = {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0,
                                       (bits & 8) != 0};
                bool hosted = (bits & 16) != 0, leader = hosted && (bits & 32) != 0;
                for (unsigned leader_id = 0; leader_id <= 2; leader_id += 2) {
                        struct route_view v0 = view(hosted, leader, leader ? 0 : leader_id, 0);
                        struct route_decision d0 = route_decide(&v0, &n);
                        if (route_needs_liveness(&v0, &n)) {
                                continue;
                        }
                        for (unsigned mask = 1; mask < 8; mask++) {
                                struct route_view v = view(hosted, leader, v0.leader_id, mask);
                                struct route_decision d = route_decide(&v, &n);
                                assert_int_equal(d.outcome, d0.outcome);
                                assert_int_equal(d.row, d0.row);
                                assert_int_equal(d.target, d0.target);
                        }
                }
        }
        /* And it does say yes where the outcome moves. */
        {
                struct route_view v = view(true, true, 0, 0x1);
                assert_true(route_needs_liveness(&v, &write_need));
                v = view(false, false, 0, 0x1);
                assert_true(route_needs_liveness(&v, &replica_read));
                v = view(true, false, 2, 0x1);
                assert_false(route_needs_liveness(&v, &replica_read));
        }
}

/* Key -> partition as main computed it before hash tags existed (XXH64 of
 * the whole key): every key without a usable tag must keep its partition,
 * or a node upgraded in place would no longer find its keys. The same
 * table is in python/tests/test_offline.py. */
static const struct {
        const char *key;
        uint32_t p8, p16, p3;
} pinned[] = {
    {"a", 3, 11, 2},    {"user:42", 2, 2, 2}, {"hello", 3, 3, 0},
    {"{", 1, 9, 0},     {"}{", 4, 4, 2},      {"{}x", 5, 5, 0},
    {"foo{", 2, 10, 1}, {"x}y{z", 7, 15, 0},  {"key-000001", 4, 12, 2},
};

static uint32_t partition_of(const char *key, unsigned n)
{
        return route_partition(key_hash_partition(key, strlen(key)), n);
}

static void test_untagged_keys_keep_their_partition(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
                assert_int_equal(partition_of(pinned[i].key, 8), pinned[i].p8);
                assert_int_equal(partition_of(pinned[i].key, 16), pinned[i].p16);
                assert_int_equal(partition_of(pinned[i].key, 3), pinned[i].p3);
                /* Untagged: the whole key is hashed, as before. */
                assert_true(key_hash_partition(pinned[i].key, strlen(pinned[i].key)) ==
                            key_hash(pinned[i].key, strlen(pinned[i].key)));
        }
}

static void test_hash_tags_colocate(void **state)
{
        size_t n;
        const char *t, *k;
        (void)state;
        /* Only the first tag counts, up to the first '}' after its '{'. */
        t = key_hash_tag("x{a}{b}", 7, &n);
        assert_int_equal(n, 1);
        assert_memory_equal(t, "a", 1);
        t = key_hash_tag("{{a}}", 5, &n);
        assert_int_equal(n, 2);
        assert_memory_equal(t, "{a", 2);
        /* An empty first tag hashes the whole key, even if a later one is not. */
        k = "a{}b{c}";
        t = key_hash_tag(k, 7, &n);
        assert_int_equal(n, 7);
        assert_ptr_equal(t, k);
        assert_int_equal(partition_of("{user42}:cart", 16), partition_of("{user42}:profile", 16));
        assert_int_equal(partition_of("{user42}:cart", 16), partition_of("user42", 16));
        assert_int_equal(partition_of("{user42}:cart", 16), 12);
        assert_int_not_equal(partition_of("user42:cart", 16), partition_of("user42:profile", 16));
}

static void test_partition_of_hash(void **state)
{
        (void)state;
        assert_int_equal(route_partition(10, 3), 1);
        assert_int_equal(route_partition(UINT64_MAX, 8), 7);
        assert_int_equal(route_partition(12345, 1), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_row1_leader_with_majority_serves_writes),
            cmocka_unit_test(test_row2_cut_off_leader_refuses_writes),
            cmocka_unit_test(test_row3_cut_off_leader_serves_leader_reads),
            cmocka_unit_test(test_row4_replica_serves_replica_reads),
            cmocka_unit_test(test_row5_no_forward_gets_not_leader),
            cmocka_unit_test(test_row6_follower_forwards_to_the_leader),
            cmocka_unit_test(test_row7_eventual_served_without_a_leader),
            cmocka_unit_test(test_row8_no_leader_majority_alive_is_an_election),
            cmocka_unit_test(test_row9_no_leader_majority_gone_is_no_quorum),
            cmocka_unit_test(test_row10_no_replica_here_and_no_forward),
            cmocka_unit_test(test_row11_no_replica_here_forwards_to_the_leader_heard_of),
            cmocka_unit_test(test_row12_no_replica_here_forwards_to_first_live),
            cmocka_unit_test(test_row13_no_replica_reachable),
            cmocka_unit_test(test_liveness_needed_only_where_it_matters),
            cmocka_unit_test(test_untagged_keys_keep_their_partition),
            cmocka_unit_test(test_hash_tags_colocate),
            cmocka_unit_test(test_partition_of_hash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
