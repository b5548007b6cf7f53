/* Zone-aware reads (issue 17, item 4) against three real tunekvd processes
 * in zones a, b and c, 3 partitions of 3 replicas (every node holds every
 * key):
 *
 * - a client in zone b reading at BOUNDED_STALENESS (1 s) and at EVENTUAL
 *   with route NEAREST is served by node 2, the zone-b node, every time,
 *   and every receipt names zone b; a client whose zone comes from
 *   $TKV_ZONE (c) likewise stays on node 3;
 * - without a zone, and with a zone no node is in, NEAREST reads work as
 *   before, and every receipt names the zone of the node that served it
 *   (LINEARIZABLE reads from the leader too);
 * - with node 2 killed, the zone-b client's reads are served in the other
 *   zones: NEAREST falls back once its zone has no usable replica.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cluster.h"
#include "testlib.h"
#include "tunekv.h"

#define NODES      3
#define PARTITIONS 3
#define REPLICAS   3
#define KEYS       24
#define READS      120 /* per client and level: 40 rounds of the keys' partitions */

static char dir[256];
static struct cluster cl;
static const char *const zones[NODES] = {"a", "b", "c"};

static int setup(void **state)
{
        struct tkv_client *c;
        struct tkv_result res;
        char key[32];
        int rv = 0;

        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-zones") != 0 ||
            cluster_start_zones(&cl, dir, NODES, PARTITIONS, REPLICAS, NULL, zones) != 0) {
                return -1;
        }
        c = cluster_client(&cl, 0);
        if (c == NULL) {
                return -1;
        }
        for (int i = 0; i < KEYS && rv == TKV_OK; i++) {
                snprintf(key, sizeof key, "zone-key-%d", i);
                rv = tkv_put(c, key, strlen(key), "v", 1, NULL, &res);
                tkv_result_release(&res);
        }
        tkv_client_destroy(c);
        for (uint32_t p = 0; p < PARTITIONS && rv == TKV_OK; p++) {
                rv = cluster_wait_converged(&cl, p, CLUSTER_CONVERGE_MS) ? TKV_OK : -1;
        }
        return rv == TKV_OK ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        int bad = cluster_stop(&cl);
        if (bad == 0) {
                testlib_rmrf(dir);
        }
        return bad == 0 ? 0 : -1;
}

/* A client of the whole cluster in zone (NULL: none given; then
 * $TKV_ZONE decides). */
static struct tkv_client *zone_client(const char *zone)
{
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256];

        o.endpoints = cl.endpoints;
        o.timeout_ms = 10000;
        o.zone = zone;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        return c;
}

/* NEAREST at BOUNDED_STALENESS 1 s, or EVENTUAL. */
static struct tkv_read_options nearest(enum tkv_consistency level)
{
        struct tkv_read_options ro = {.level = level, .route = TKV_ROUTE_NEAREST};

        if (level == TKV_BOUNDED_STALENESS) {
                ro.max_staleness_ms = 1000;
        }
        return ro;
}

/* READS reads of the keys in turn with ro, each answered OK with a receipt
 * naming the zone of the node that served it; counts the serving nodes in
 * served[1..NODES]. */
static void read_all(struct tkv_client *c, const struct tkv_read_options *ro,
                     unsigned served[NODES + 1])
{
        struct tkv_result res;
        char key[32];

        for (int i = 0; i < READS; i++) {
                snprintf(key, sizeof key, "zone-key-%d", i % KEYS);
                assert_int_equal(tkv_get(c, key, strlen(key), ro, &res), TKV_OK);
                assert_true(res.found);
                assert_in_range(res.receipt.node_id, 1, NODES);
                assert_string_equal(res.receipt.zone, zones[res.receipt.node_id - 1]);
                served[res.receipt.node_id]++;
                tkv_result_release(&res);
        }
}

/* Every read of a client in zone z stays on z's node (id), at both levels. */
static void expect_zone_served(struct tkv_client *c, unsigned id)
{
        static const enum tkv_consistency levels[2] = {TKV_BOUNDED_STALENESS, TKV_EVENTUAL};

        for (int l = 0; l < 2; l++) {
                struct tkv_read_options ro = nearest(levels[l]);
                unsigned served[NODES + 1] = {0};
                read_all(c, &ro, served);
                assert_int_equal(served[id], READS);
        }
}

static void test_nearest_stays_in_zone(void **state)
{
        struct tkv_client *c;

        (void)state;
        c = zone_client("b");
        expect_zone_served(c, 2);
        tkv_client_destroy(c);
        /* $TKV_ZONE when the option is not set. */
        setenv("TKV_ZONE", "c", 1);
        c = zone_client(NULL);
        unsetenv("TKV_ZONE");
        expect_zone_served(c, 3);
        tkv_client_destroy(c);
}

/* No zone, or one no node is in: NEAREST as before (it measures each
 * replica, so more than one serves), receipts still name each node's
 * zone; and a LINEARIZABLE read's receipt names its leader's. */
static void test_without_zone(void **state)
{
        struct tkv_read_options ro = nearest(TKV_EVENTUAL);
        struct tkv_read_options lin = {0};
        const char *none[2] = {NULL, "nowhere"};
        unsigned served[NODES + 1] = {0};
        unsigned nodes = 0;

        (void)state;
        for (int i = 0; i < 2; i++) {
                struct tkv_client *c = zone_client(none[i]);
                read_all(c, &ro, served);
                read_all(c, &lin, served);
                tkv_client_destroy(c);
        }
        for (unsigned id = 1; id <= NODES; id++) {
                nodes += served[id] > 0;
        }
        assert_true(nodes > 1);
}

/* Zone b's only node killed: the zone-b client reads from zones a and c. */
static void test_fallback_when_zone_down(void **state)
{
        struct tkv_read_options ro = nearest(TKV_BOUNDED_STALENESS);
        unsigned served[NODES + 1] = {0};
        struct tkv_client *c;
        int st;

        (void)state;
        c = zone_client("b");
        expect_zone_served(c, 2);
        st = cluster_signal(&cl, 2, SIGKILL, true);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        read_all(c, &ro, served);
        assert_int_equal(served[2], 0);
        assert_int_equal(served[1] + served[3], READS);
        tkv_client_destroy(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_nearest_stays_in_zone),
            cmocka_unit_test(test_without_zone),
            cmocka_unit_test(test_fallback_when_zone_down),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
