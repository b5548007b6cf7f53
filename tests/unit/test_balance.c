/* The rebalancer's decisions (balance.c), played out on maps: each change
 * applied, each move completed as the partition's leader would, until
 * nothing is left to do. Asserts the promises of balance.h: members that
 * leave are emptied (to their successor when it can take the replica)
 * and then removed; with rebalancing on, new members receive replicas
 * until no member holds two more than another, each partition's replicas
 * span distinct zones when there are zones to span, and preferred leaders
 * are spread; dead members never receive a replica; moves_max holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "cmap.h"
#include "err.h"
#include "heap.h"

/* n nodes of which the first `voters` are the bootstrap voters (the
 * others joining), zones from the string (one letter each, or NULL),
 * partitions of 3 replicas placed (p + i) % voters. */
static struct cmap *make_map(unsigned n, unsigned voters, unsigned partitions, const char *zones)
{
        struct cmap *m = tkv_calloc(1, sizeof *m);

        assert_non_null(m);
        m->epoch = 1;
        m->n_members = n;
        for (unsigned i = 0; i < n; i++) {
                struct cmap_member *mb = &m->members[i];
                mb->id = i + 1;
                mb->state = i < voters ? CMAP_VOTER : CMAP_JOINING;
                snprintf(mb->client_addr, sizeof mb->client_addr, "127.0.0.1:%u", 7001 + i);
                snprintf(mb->peer_addr, sizeof mb->peer_addr, "127.0.0.1:%u", 7101 + i);
                if (zones != NULL) {
                        mb->zone[0] = zones[i];
                }
        }
        m->n_partitions = partitions;
        for (unsigned p = 0; p < partitions; p++) {
                m->parts[p].n = 3;
                for (unsigned r = 0; r < 3; r++) {
                        m->parts[p].ids[r] = (p + r) % voters + 1;
                }
        }
        m->parts[partitions].n = voters; /* the metadata group: the voters */
        for (unsigned r = 0; r < voters; r++) {
                m->parts[partitions].ids[r] = r + 1;
        }
        return m;
}

/* Complete every move in progress, as the partitions' leaders would. */
static void finish_moves(struct cmap *m)
{
        char why[320];

        for (unsigned p = 0; p <= m->n_partitions; p++) {
                if (m->parts[p].move_to != 0) {
                        assert_int_equal(cmap_move_done(m, p, m->parts[p].move_from,
                                                        m->parts[p].move_to, why, sizeof why),
                                         0);
                }
        }
}

/* Apply the rebalancer's changes until it has none (moves completed after
 * each change); how many changes it made. Fails past limit. */
static unsigned settle(struct cmap *m, const struct balance_params *bp, unsigned limit)
{
        char why[320];
        unsigned n = 0;

        for (;;) {
                struct balance_change c = balance_next(m, bp);
                if (c.kind == BALANCE_NONE) {
                        return n;
                }
                assert_int_equal(balance_apply(m, &c, why, sizeof why), 0);
                if (c.kind == BALANCE_MOVE) {
                        assert_true(bp->alive == NULL || bp->alive[c.to - 1]);
                }
                finish_moves(m);
                assert_true(++n <= limit);
        }
}

static unsigned preferred(const struct cmap *m, unsigned id)
{
        unsigned n = 0;
        for (unsigned p = 0; p < m->n_partitions; p++) {
                n += m->parts[p].ids[0] == id;
        }
        return n;
}

/* Every member's load within one of every other's, and so preferred
 * leaders among members with replicas. */
static void assert_even(const struct cmap *m)
{
        unsigned lo = ~0u, hi = 0, plo = ~0u, phi = 0;

        for (unsigned i = 0; i < m->n_members; i++) {
                unsigned l = cmap_load(m, m->members[i].id);
                unsigned pr = preferred(m, m->members[i].id);
                if (!cmap_eligible(&m->members[i])) {
                        continue;
                }
                lo = l < lo ? l : lo;
                hi = l > hi ? l : hi;
                plo = pr < plo ? pr : plo;
                phi = pr > phi ? pr : phi;
        }
        assert_true(hi <= lo + 1);
        assert_true(phi <= plo + 1);
}

/* Two nodes join a cluster of three with 16 partitions: they receive
 * their share, and leadership is spread over all five. */
static void test_new_members_receive_replicas(void **state)
{
        struct cmap *m = make_map(5, 3, 16, NULL);
        struct balance_params bp = {true, 2, NULL};
        unsigned changes;

        (void)state;
        assert_int_equal(cmap_load(m, 4), 0);
        changes = settle(m, &bp, 64);
        assert_true(changes > 0);
        assert_even(m);
        /* 48 replicas over 5 members: 9 or 10 each. */
        assert_true(cmap_load(m, 4) >= 9 && cmap_load(m, 5) >= 9);
        /* Off: the same map gets nothing. */
        cmap_destroy(m);
        m = make_map(5, 3, 16, NULL);
        bp.rebalance = false;
        assert_int_equal(balance_next(m, &bp).kind, BALANCE_NONE);
        cmap_destroy(m);
}

/* Zones a, a, b, c: a partition on nodes 1, 2 (both zone a) and 3 gets
 * one of its a-replicas moved to node 4 (zone c). */
static void test_zones_spread(void **state)
{
        struct cmap *m = make_map(4, 3, 3, "aabc");
        struct balance_params bp = {true, 2, NULL};

        (void)state;
        settle(m, &bp, 32);
        for (unsigned p = 0; p < m->n_partitions; p++) {
                char seen[4] = {0};
                for (unsigned r = 0; r < m->parts[p].n; r++) {
                        char z = cmap_member(m, m->parts[p].ids[r])->zone[0];
                        assert_null(memchr(seen, z, r));
                        seen[r] = z;
                }
        }
        cmap_destroy(m);
}

/* A member that leaves gives its replicas to its successor, then is
 * removed; with rebalancing off too. */
static void test_leaving_member_emptied(void **state)
{
        struct cmap *m = make_map(5, 3, 6, NULL);
        struct balance_params bp = {false, 1, NULL};
        struct cmap_member *four = &m->members[3];
        char why[320];

        (void)state;
        /* Give node 4 two replicas first (operator moves). */
        assert_int_equal(cmap_move(m, 0, 1, 4, why, sizeof why), 0);
        finish_moves(m);
        assert_int_equal(cmap_move(m, 1, 2, 4, why, sizeof why), 0);
        finish_moves(m);
        assert_int_equal(cmap_replace(m, 4, 5, NULL, why, sizeof why), 0);
        assert_int_equal(four->state, CMAP_LEAVING);
        /* One move at a time (moves_max 1), each to node 5. */
        struct balance_change c = balance_next(m, &bp);
        assert_int_equal(c.kind, BALANCE_MOVE);
        assert_int_equal(c.from, 4);
        assert_int_equal(c.to, 5);
        assert_int_equal(balance_apply(m, &c, why, sizeof why), 0);
        assert_int_equal(balance_next(m, &bp).kind, BALANCE_NONE);
        finish_moves(m);
        settle(m, &bp, 8);
        assert_int_equal(four->state, CMAP_REMOVED);
        assert_int_equal(cmap_load(m, 4), 0);
        assert_int_equal(cmap_load(m, 5), 2);
        cmap_destroy(m);
}

/* A dead member is never a target: node 5 is down, so node 4 gets
 * everything the busy three give up. */
static void test_dead_member_skipped(void **state)
{
        struct cmap *m = make_map(5, 3, 12, NULL);
        bool alive[5] = {true, true, true, true, false};
        struct balance_params bp = {true, 2, alive};

        (void)state;
        settle(m, &bp, 64);
        assert_int_equal(cmap_load(m, 5), 0);
        assert_true(cmap_load(m, 4) >= 8); /* 36 replicas over 4 live members */
        cmap_destroy(m);
}

/* A leaving member whose successor already holds a partition's replica:
 * that replica goes to the best other member instead. */
static void test_successor_holds_it_already(void **state)
{
        struct cmap *m = make_map(5, 3, 3, NULL);
        struct balance_params bp = {false, 2, NULL};
        char why[320];

        (void)state;
        /* Node 4 takes partition 0 from node 1: 0 = 4, 2, 3. */
        assert_int_equal(cmap_move(m, 0, 1, 4, why, sizeof why), 0);
        finish_moves(m);
        m->members[2].state = CMAP_JOINING; /* node 3 may leave */
        assert_int_equal(cmap_replace(m, 3, 4, NULL, why, sizeof why), 0);
        settle(m, &bp, 8);
        assert_int_equal(m->members[2].state, CMAP_REMOVED);
        /* Partition 0 (already on 4) went to node 1 or 5. */
        assert_false(cmap_hosts(m, 0, 3));
        assert_true(cmap_hosts(m, 0, 1) || cmap_hosts(m, 0, 5));
        cmap_destroy(m);
}

/* A bootstrap voter replaced by a new node: its partitions' replicas and
 * its metadata group replica all go to the successor; then it is
 * removed. */
static void test_voter_replaced(void **state)
{
        struct cmap *m = make_map(4, 3, 3, NULL);
        struct balance_params bp = {false, 2, NULL};
        char why[320];

        (void)state;
        assert_int_equal(cmap_replace(m, 2, 4, NULL, why, sizeof why), 0);
        settle(m, &bp, 16);
        assert_int_equal(m->members[1].state, CMAP_REMOVED);
        assert_false(cmap_holds_any(m, 2));
        assert_true(cmap_is_replica(m, 3, 4)); /* the metadata group */
        assert_int_equal(cmap_load(m, 4), 3);
        cmap_destroy(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_new_members_receive_replicas),
            cmocka_unit_test(test_zones_spread),
            cmocka_unit_test(test_leaving_member_emptied),
            cmocka_unit_test(test_dead_member_skipped),
            cmocka_unit_test(test_successor_holds_it_already),
            cmocka_unit_test(test_voter_replaced),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
