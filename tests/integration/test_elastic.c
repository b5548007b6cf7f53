/* The cluster changes shape under load (issue 17): three real tunekvd
 * processes started from a file (6 partitions of 3 replicas, rebalancing
 * on), a writer thread that must see no failure, and then:
 *
 * - nodes 4 and 5 join: the rebalancer moves replicas onto them until no
 *   member holds two more than another, and spreads preferred leaders; a
 *   client whose map predates them pins reads to them at once;
 * - node 1, a bootstrap voter holding the metadata group, is removed: its
 *   replicas and its metadata replica move away, then it is `removed`,
 *   and its peer handshake is refused when it comes back with its data;
 * - node 2 is replaced by node 6, a fresh empty node, in one command: every
 *   replica it held, the metadata group's included, goes to node 6;
 * - every acknowledged write reads back, the replicas of every partition
 *   agree, and the cluster still takes membership changes (the metadata
 *   group lives on nodes 3, 4 and 6 by then). */
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
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "testlib.h"
#include "tunekv.h"
#include "writer.h"

#define NODES      3
#define PARTITIONS 6
#define WAIT_MS    90000

static char dir[256];
static char join_conf[320];
static char join_addrs[3 * 64 + 3];
static struct cluster cl;

/* The writer (writer.h): keys el-N through node 3, which stays. */
static struct test_writer writer;

/* ------------------------------------------------------------------------ */
/* The map, seen from node `at` */

/* Wait until node `at` sees no move in progress and the members in ids
 * (n of them) each hold between lo and hi replicas. */
static bool wait_spread(unsigned at, const uint32_t *ids, unsigned n, unsigned lo, unsigned hi)
{
        struct timespec nap = {0, 100 * 1000 * 1000};

        for (int waited = 0; waited < WAIT_MS; waited += 100) {
                struct tkv_result res;
                bool ok = cluster_info(&cl, at, &res) && !cluster_map_moving(res.cluster);
                for (unsigned i = 0; ok && i < n; i++) {
                        unsigned l = cluster_map_load(res.cluster, ids[i]);
                        ok = l >= lo && l <= hi;
                }
                tkv_result_release(&res);
                if (ok) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

static bool wait_state(unsigned at, uint32_t id, enum tkv_member_state want)
{
        struct timespec nap = {0, 100 * 1000 * 1000};

        for (int waited = 0; waited < WAIT_MS; waited += 100) {
                if (cluster_member_is(&cl, at, id, want)) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* ------------------------------------------------------------------------ */
/* Nodes that join */

/* Node id (a cluster slot) set up to start with --join. */
static void joiner(unsigned id)
{
        struct daemon *d = &cl.nodes[id - 1];

        daemon_setup(d, dir, id);
        d->extra[0] = "--config";
        d->extra[1] = join_conf;
        d->extra[2] = "--join";
        d->extra[3] = join_addrs;
        d->extra[4] = NULL;
}

/* A MEMBER change through node `at`, retried while it is BUSY/UNAVAILABLE. */
static int change(unsigned at, int (*fn)(struct tkv_client *, void *), void *arg)
{
        struct timespec nap = {0, 50 * 1000 * 1000};
        int rv = TKV_UNAVAILABLE;

        for (int tries = 0; tries < 400 && (rv == TKV_BUSY || rv == TKV_UNAVAILABLE); tries++) {
                struct tkv_client *c = cluster_client(&cl, at);
                assert_non_null(c);
                rv = fn(c, arg);
                tkv_client_destroy(c);
                if (rv == TKV_BUSY || rv == TKV_UNAVAILABLE) {
                        nanosleep(&nap, NULL);
                }
        }
        return rv;
}

static int do_add(struct tkv_client *c, void *arg)
{
        struct tkv_member m = cluster_member_of(&cl, *(unsigned *)arg);
        return tkv_member_add(c, &m, NULL, NULL, 0);
}

static int do_remove(struct tkv_client *c, void *arg)
{
        return tkv_member_remove(c, *(unsigned *)arg, NULL, NULL, 0);
}

static int do_replace(struct tkv_client *c, void *arg)
{
        const unsigned *ids = arg; /* old, new */
        struct tkv_member m = cluster_member_of(&cl, ids[1]);
        return tkv_member_replace(c, ids[0], &m, NULL, NULL, 0);
}

/* Add node id (as the map's member), then start it with --join. */
static void join_node(unsigned at, unsigned id)
{
        joiner(id);
        assert_int_equal(change(at, do_add, &id), TKV_OK);
        assert_int_equal(daemon_start(&cl.nodes[id - 1], 60000), 0);
        if (cl.n < id) {
                cl.n = id;
        }
}

/* ------------------------------------------------------------------------ */

static int setup(void **state)
{
        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-elastic") != 0 ||
            cluster_start_conf(&cl, dir, NODES, PARTITIONS, 3, NULL, NULL,
                               "rebalance = 1\nmoves_max = 2") != 0) {
                return -1;
        }
        if (cluster_write_join_conf(&cl, join_conf, sizeof join_conf) != 0) {
                return -1;
        }
        snprintf(join_addrs, sizeof join_addrs, "%s,%s,%s", cl.nodes[0].peer_addr,
                 cl.nodes[1].peer_addr, cl.nodes[2].peer_addr);
        /* Half a millisecond between writes: the readback at the end reads
         * every acknowledged key linearizably. */
        test_writer_start(&writer, cl.nodes[2].client_addr, "el", 500 * 1000);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        test_writer_stop(&writer);
        int bad = cluster_stop(&cl);
        if (bad == 0) {
                testlib_rmrf(dir);
        }
        return bad == 0 ? 0 : -1;
}

/* A read pinned to node `to` through c, whose map may predate the node:
 * answered (by node `to`, or a replica it forwards to) well within its
 * deadline. */
static void read_pinned(struct tkv_client *c, uint32_t to, enum tkv_consistency level)
{
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        int rv;

        ro.level = level;
        ro.node_id = to;
        ro.timeout_ms = 5000;
        rv = tkv_get(c, "el-pin", 6, &ro, &r);
        if (rv != TKV_OK && rv != TKV_NOT_FOUND) {
                fail_msg("a read pinned to node %u: %s", to, tkv_status_name(rv));
        }
        tkv_result_release(&r);
}

/* Nodes 4 and 5 join; 18 replicas spread to 3 or 4 per member. A client
 * whose map was fetched before they joined pins reads to them (it used to
 * time out: the node was in no map it had, and it never fetched one). */
static void test_new_nodes_receive_replicas(void **state)
{
        static const uint32_t all[] = {1, 2, 3, 4, 5};
        struct tkv_client *old = cluster_client(&cl, 0);

        (void)state;
        assert_non_null(old);
        read_pinned(old, 3, TKV_EVENTUAL);
        join_node(3, 4);
        join_node(3, 5);
        read_pinned(old, 4, TKV_EVENTUAL);
        read_pinned(old, 5, TKV_LINEARIZABLE);
        tkv_client_destroy(old);
        assert_true(wait_spread(3, all, 5, 3, 4));
}

/* Node 1 (a bootstrap voter, in the metadata group) is removed. */
static void test_remove_voter(void **state)
{
        static const uint32_t rest[] = {2, 3, 4, 5};
        unsigned one = 1;
        struct tkv_result res;
        int status;

        (void)state;
        assert_int_equal(change(3, do_remove, &one), TKV_OK);
        assert_true(wait_state(3, 1, TKV_MEMBER_REMOVED));
        assert_true(wait_spread(3, rest, 4, 4, 5));
        assert_true(cluster_info(&cl, 3, &res));
        assert_int_equal(cluster_map_load(res.cluster, 1), 0);
        for (unsigned i = 0; i < res.cluster->metadata.n_replicas; i++) {
                assert_int_not_equal(res.cluster->metadata.replicas[i], 1);
        }
        tkv_result_release(&res);
        /* Back with its old data: refused, and the members say why. */
        status = cluster_signal(&cl, 1, SIGKILL, true);
        assert_true(WIFSIGNALED(status));
        {
                static const char refusal[] = "refusing node 1's peer handshake";
                int before = daemon_log_count(&cl.nodes[2], refusal);
                struct timespec nap = {0, 100 * 1000 * 1000};
                int waited = 0;
                assert_int_equal(daemon_spawn(&cl.nodes[0]), 0);
                while (daemon_log_count(&cl.nodes[2], refusal) == before && waited < WAIT_MS) {
                        nanosleep(&nap, NULL);
                        waited += 100;
                }
                assert_true(waited < WAIT_MS);
        }
        status = cluster_signal(&cl, 1, SIGKILL, true);
        assert_true(WIFSIGNALED(status));
        close(cl.nodes[0].ready_fd);
        cl.nodes[0].ready_fd = -1;
}

/* Node 2 replaced by node 6, which starts empty. */
static void test_replace_voter(void **state)
{
        static const uint32_t rest[] = {3, 4, 5, 6};
        unsigned ids[2] = {2, 6};
        struct tkv_result res;

        (void)state;
        joiner(6);
        assert_int_equal(change(3, do_replace, ids), TKV_OK);
        assert_int_equal(daemon_start(&cl.nodes[5], 60000), 0);
        cl.n = 6;
        assert_true(wait_state(3, 2, TKV_MEMBER_REMOVED));
        assert_true(wait_spread(3, rest, 4, 4, 5));
        assert_true(cluster_info(&cl, 3, &res));
        assert_int_equal(cluster_map_load(res.cluster, 2), 0);
        assert_int_equal(res.cluster->metadata.n_replicas, 3);
        for (unsigned i = 0; i < res.cluster->metadata.n_replicas; i++) {
                assert_true(res.cluster->metadata.replicas[i] != 1 &&
                            res.cluster->metadata.replicas[i] != 2);
        }
        tkv_result_release(&res);
        assert_int_equal(cluster_signal(&cl, 2, SIGTERM, true), 0);
}

/* Nothing acknowledged was lost; the metadata group, now on joined
 * nodes, still takes a change. */
static void test_nothing_lost(void **state)
{
        unsigned seven = 7;

        (void)state;
        test_writer_finish(&writer, &cl, 4);
        joiner(7);
        assert_int_equal(change(4, do_add, &seven), TKV_OK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_new_nodes_receive_replicas),
            cmocka_unit_test(test_remove_voter),
            cmocka_unit_test(test_replace_voter),
            cmocka_unit_test(test_nothing_lost),
            cmocka_unit_test_prestate(cluster_test_replicas_agree, &cl),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
