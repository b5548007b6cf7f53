/* Replica moves (issue 17; docs/operations.md "Moving a replica"): three
 * real tunekvd processes (3 partitions of 3 replicas) and a fourth that
 * joins, while a writer thread keeps writing through every node:
 *
 * - partition 0's replica moves from node 1, its leader, to node 4: the
 *   move completes (the map puts node 4 in node 1's slot), node 4 serves
 *   reads of it from its own replica, node 1 deletes its replica, the
 *   replicas agree, and every acknowledged write reads back; then back
 *   to node 1 (node 4 leads it then, and received it by a move);
 * - kill -9 of the node that drives a move (the partition's leader) right
 *   after the move was recorded, of the move's target and of its source:
 *   the move completes once a new leader takes over / the target is back /
 *   without the source, which deletes its replica when it comes back;
 * - a move cancelled while its target is stopped leaves the partition as
 *   it was (the leader removes the target again), and the target deletes
 *   what it had;
 * - a move of a partition with a minority of its replicas alive is
 *   recorded but not carried out until a majority is back;
 * - bad requests: no such partition, a source that holds no replica, a
 *   target that is no member or holds one, a second move of a partition,
 *   MOVE_DONE from a client.
 *
 * The writer's writes must all succeed: libtunekv retries what the moves
 * make retryable (NOT_LEADER, UNAVAILABLE), and nothing else may fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"
#include "writer.h"

#define NODES      3
#define PARTITIONS 3
#define WAIT_MS    60000

static char dir[256];
static char join_conf[320];
static char join_addrs[160];
static struct cluster cl;

/* The writer (writer.h): keys mv-N through every node. */
static struct test_writer writer;

static void writer_start(void)
{
        test_writer_start(&writer, cl.endpoints, "mv", 0);
}

static void writer_finish(void)
{
        test_writer_finish(&writer, &cl, 2);
}

/* ------------------------------------------------------------------------ */
/* The cluster map */

/* Partition p in node id's CLUSTER_INFO, if its map is at epoch >= want;
 * false otherwise. */
static bool placement_at(unsigned id, uint32_t p, uint64_t want, struct tkv_partition_info *out)
{
        struct tkv_client *c = cluster_client(&cl, id);
        struct tkv_result res;
        bool ok = false;

        if (c == NULL) {
                return false;
        }
        memset(&res, 0, sizeof res);
        if (tkv_cluster_info(c, &res) == TKV_OK && res.cluster != NULL &&
            res.cluster->epoch >= want && p < res.cluster->n_partitions) {
                *out = res.cluster->partitions[p];
                ok = true;
        }
        tkv_result_release(&res);
        tkv_client_destroy(c);
        return ok;
}

static bool has_replica(const struct tkv_partition_info *pi, uint32_t id)
{
        for (unsigned i = 0; i < pi->n_replicas; i++) {
                if (pi->replicas[i] == id) {
                        return true;
                }
        }
        return false;
}

/* Wait until node `at` has a map at epoch >= want, and its partition p. */
static bool wait_placement(unsigned at, uint32_t p, uint64_t want, struct tkv_partition_info *out)
{
        struct timespec nap = {0, 20 * 1000 * 1000};

        for (int waited = 0; waited < WAIT_MS; waited += 20) {
                if (placement_at(at, p, want, out)) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* Wait until node `at` says p's move from `from` to `to` is done (polling:
 * the move's steps send the test nothing to await). */
static bool wait_moved(unsigned at, uint32_t p, uint32_t from, uint32_t to, uint64_t epoch)
{
        struct timespec nap = {0, 50 * 1000 * 1000};

        for (int waited = 0; waited < WAIT_MS; waited += 50) {
                struct tkv_partition_info pi;
                if (placement_at(at, p, epoch, &pi) && pi.move_to == 0 && has_replica(&pi, to) &&
                    !has_replica(&pi, from)) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* tkv_move through node 1's client; the epoch that recorded it. */
static uint64_t move(uint32_t p, uint32_t from, uint32_t to)
{
        struct tkv_client *c = cluster_client(&cl, 2);
        uint64_t epoch = 0;
        char err[256];
        int rv;

        assert_non_null(c);
        /* UNAVAILABLE: the metadata group is electing (a node of it was
         * just killed or restarted); retryable, for a bounded while. */
        for (int tries = 0; tries < 100; tries++) {
                const struct timespec nap = {0, 100 * 1000 * 1000};
                rv = tkv_move(c, p, from, to, &epoch, err, sizeof err);
                if (rv != TKV_UNAVAILABLE) {
                        break;
                }
                nanosleep(&nap, NULL);
        }
        if (rv != TKV_OK) {
                fail_msg("move %u from %u to %u: %s (%s)", p, from, to, tkv_status_name(rv), err);
        }
        tkv_client_destroy(c);
        assert_true(epoch > 0);
        return epoch;
}

/* tkv_move right after a node that may lead the metadata group was
 * stopped: retried while the others elect another leader (UNAVAILABLE,
 * TIMEOUT, OUTCOME_UNKNOWN for one forwarded to the stopped node, BUSY
 * while the new leader is not ready); an identical move that did apply
 * answers OK again. */
static int move_retried(struct tkv_client *c, uint32_t p, uint32_t from, uint32_t to,
                        uint64_t *epoch, char *err, size_t len)
{
        int rv = TKV_UNAVAILABLE;

        for (int tries = 0; tries < 200; tries++) {
                rv = tkv_move(c, p, from, to, epoch, err, len);
                if (rv != TKV_UNAVAILABLE && rv != TKV_TIMEOUT && rv != TKV_OUTCOME_UNKNOWN &&
                    rv != TKV_BUSY) {
                        break;
                }
                nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        }
        return rv;
}

/* Does node id's data dir hold partition p's directory? */
static bool holds_dir(unsigned id, uint32_t p)
{
        char path[sizeof cl.nodes[0].data_dir + 16];
        struct stat st;

        snprintf(path, sizeof path, "%.600s/p%u", cl.nodes[id - 1].data_dir, p);
        return stat(path, &st) == 0;
}

/* Wait until node id deleted p's directory (it does so on the threadpool
 * once it applied the map without it). */
static bool wait_no_dir(unsigned id, uint32_t p)
{
        struct timespec nap = {0, 50 * 1000 * 1000};

        for (int waited = 0; waited < WAIT_MS; waited += 50) {
                if (!holds_dir(id, p)) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* ------------------------------------------------------------------------ */
/* Setup: three nodes from a file, node 4 added and joined */

static void add_member(struct daemon *d)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        struct tkv_member m;
        uint64_t epoch = 0;
        char err[256];

        assert_non_null(c);
        memset(&m, 0, sizeof m);
        m.node_id = d->node_id;
        snprintf(m.client_addr, sizeof m.client_addr, "%s", d->client_addr);
        snprintf(m.peer_addr, sizeof m.peer_addr, "%s", d->peer_addr);
        /* Right after the start the map may not be written yet, or the
         * metadata group's leader just elected: both answer a retry. */
        for (int tries = 0;; tries++) {
                struct timespec nap = {0, 50 * 1000 * 1000};
                int rv = tkv_member_add(c, &m, &epoch, err, sizeof err);
                if (rv == TKV_OK) {
                        break;
                }
                if ((rv != TKV_BUSY && rv != TKV_UNAVAILABLE) || tries > 400) {
                        fail_msg("member add: %s (%s)", tkv_status_name(rv), err);
                }
                nanosleep(&nap, NULL);
        }
        tkv_client_destroy(c);
        for (unsigned id = 1; id <= NODES; id++) {
                struct tkv_partition_info pi;
                assert_true(wait_placement(id, 0, epoch, &pi));
        }
}

static int setup(void **state)
{
        struct daemon *d = &cl.nodes[NODES];
        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-move") != 0 ||
            cluster_start(&cl, dir, NODES, PARTITIONS, 3, NULL) != 0) {
                return -1;
        }
        if (cluster_write_join_conf(&cl, join_conf, sizeof join_conf) != 0) {
                return -1;
        }
        /* Node 4 joins, and becomes the cluster struct's fourth node, so
         * that the convergence checks and restarts cover it. */
        daemon_setup(d, dir, NODES + 1);
        snprintf(join_addrs, sizeof join_addrs, "%s,%s", cl.nodes[0].peer_addr,
                 cl.nodes[1].peer_addr);
        d->extra[0] = "--config";
        d->extra[1] = join_conf;
        d->extra[2] = "--join";
        d->extra[3] = join_addrs;
        d->extra[4] = NULL;
        add_member(d);
        if (daemon_start(d, 30000) != 0) {
                return -1;
        }
        cl.n = NODES + 1;
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

/* ------------------------------------------------------------------------ */
/* Tests */

/* Partition 0 (replicas 1, 2, 3; node 1 leads it) moves from node 1 to
 * node 4 under writes. */
static void test_move_leader_replica(void **state)
{
        struct tkv_client *c;
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        struct tkv_partition_info pi;
        uint64_t epoch;
        char key[32];
        struct tkv_client *old = cluster_client(&cl, 1);
        int tries = 0;

        (void)state;
        assert_true(cluster_wait_converged(&cl, 0, WAIT_MS));
        /* A client whose map predates the move (a read fetched it). */
        assert_non_null(old);
        ro.level = TKV_LINEARIZABLE;
        assert_int_equal(tkv_get(old, "mv-old", 6, &ro, &r), TKV_NOT_FOUND);
        tkv_result_release(&r);
        writer_start();
        epoch = move(0, 1, 4);
        assert_true(wait_moved(1, 0, 1, 4, epoch));
        assert_true(wait_moved(4, 0, 1, 4, epoch));
        writer_finish();
        /* Its requests are still served, and it learns the new map by
         * itself (a NOT_LEADER hint from the old place, or the answers'
         * epoch, newer than its map's). */
        assert_true(tkv_cluster_epoch(old) < epoch + 1);
        while (tkv_cluster_epoch(old) < epoch + 1 && tries++ < 200) {
                assert_int_equal(tkv_get(old, "mv-1", 4, &ro, &r), TKV_OK);
                tkv_result_release(&r);
                nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
        }
        assert_true(tkv_cluster_epoch(old) >= epoch + 1);
        tkv_client_destroy(old);
        /* Node 4 took node 1's slot, the preferred leader's. */
        assert_true(wait_placement(3, 0, epoch + 1, &pi));
        assert_int_equal(pi.replicas[0], 4);
        assert_int_equal(pi.n_replicas, 3);
        assert_true(wait_no_dir(1, 0));
        assert_true(cluster_wait_converged(&cl, 0, WAIT_MS));
        /* Node 4 serves partition 0 from its own replica. */
        c = cluster_client(&cl, 4);
        assert_non_null(c);
        ro.level = TKV_EVENTUAL;
        ro.node_id = 4;
        for (int n = 0; n < 64; n++) {
                snprintf(key, sizeof key, "mv-%d", n);
                assert_int_equal(tkv_get(c, key, strlen(key), &ro, &r), TKV_OK);
                if (r.partition == 0) {
                        assert_true(r.found);
                        assert_int_equal(r.receipt.node_id, 4);
                }
                tkv_result_release(&r);
        }
        tkv_client_destroy(c);
}

/* And back: node 4 leads partition 0 and got it by a move; node 1
 * deleted its replica and gets a new one. (A target used to write a
 * bootstrap entry of its own at index 1, which it sent on as leader.) */
static void test_move_back(void **state)
{
        struct tkv_partition_info pi;
        uint64_t epoch;

        (void)state;
        writer_start();
        epoch = move(0, 4, 1);
        assert_true(wait_moved(2, 0, 4, 1, epoch));
        writer_finish();
        assert_true(wait_placement(2, 0, epoch + 1, &pi));
        assert_int_equal(pi.replicas[0], 1);
        assert_true(wait_no_dir(4, 0));
        assert_true(cluster_wait_converged(&cl, 0, WAIT_MS));
        /* No replica sent a log entry a peer's guard refused as
         * malformed. */
        for (unsigned id = 1; id <= NODES + 1; id++) {
                assert_int_equal(daemon_log_count(&cl.nodes[id - 1], "claims 0 servers"), 0);
        }
}

/* kill -9 of partition 1's leader (node 2, which drives the move) right
 * after the move from node 3 to node 4 was recorded: a new leader carries
 * it out; node 2 comes back and the replicas agree. */
static void test_move_driver_killed(void **state)
{
        uint64_t epoch;
        int status;

        (void)state;
        assert_true(cluster_wait_converged(&cl, 1, WAIT_MS));
        writer_start();
        epoch = move(1, 3, 4);
        status = cluster_signal(&cl, 2, SIGKILL, true);
        assert_true(WIFSIGNALED(status));
        assert_true(wait_moved(1, 1, 3, 4, epoch));
        assert_int_equal(cluster_restart(&cl, 2), 0);
        writer_finish();
        assert_true(wait_no_dir(3, 1));
        assert_true(cluster_wait_converged(&cl, 1, WAIT_MS));
}

/* kill -9 of the target (node 4) of partition 2's move from node 2 while
 * it catches up: the move waits, and completes once node 4 is back. */
static void test_move_target_killed(void **state)
{
        uint64_t epoch;
        int status;

        (void)state;
        assert_true(cluster_wait_converged(&cl, 2, WAIT_MS));
        writer_start();
        epoch = move(2, 2, 4);
        status = cluster_signal(&cl, 4, SIGKILL, true);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(cluster_restart(&cl, 4), 0);
        assert_true(wait_moved(1, 2, 2, 4, epoch));
        writer_finish();
        assert_true(wait_no_dir(2, 2));
        assert_true(cluster_wait_converged(&cl, 2, WAIT_MS));
}

/* kill -9 of the move's source (node 1, a follower of partition 1, which
 * is on 2, 4, 1 now) right after the move to node 3 was recorded: the
 * leader removes it all the same (3 of the 4 voters are alive), and the
 * source, back with its data, deletes the replica the map no longer
 * places on it (at start). */
static void test_move_source_killed(void **state)
{
        uint64_t epoch;
        int status;

        (void)state;
        assert_true(cluster_wait_converged(&cl, 1, WAIT_MS));
        writer_start();
        epoch = move(1, 1, 3);
        status = cluster_signal(&cl, 1, SIGKILL, true);
        assert_true(WIFSIGNALED(status));
        assert_true(wait_moved(2, 1, 1, 3, epoch));
        writer_finish();
        /* Back, it may open the replica by the map it had, until it learns
         * the new one from the metadata group: then it deletes it. */
        assert_int_equal(cluster_restart(&cl, 1), 0);
        assert_true(wait_no_dir(1, 1));
        assert_true(cluster_wait_converged(&cl, 1, WAIT_MS));
}

/* A move whose target is stopped is cancelled: the partition keeps its
 * replicas, the leader removes the target it had added, and the target,
 * once resumed, deletes what it had. A second move of the partition
 * meanwhile is BUSY. */
static void test_move_cancelled(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        struct tkv_partition_info pi;
        uint64_t epoch = 0;
        char err[256];
        int rv;

        (void)state;
        assert_non_null(c);
        /* Partition 2 is on nodes 3, 1, 4 now: move node 3's replica to
         * node 2, which is stopped. */
        assert_int_equal(cluster_signal(&cl, 2, SIGSTOP, false), 0);
        /* Node 2 may have led the metadata group. */
        rv = move_retried(c, 2, 3, 2, &epoch, err, sizeof err);
        if (rv != TKV_OK) {
                cluster_signal(&cl, 2, SIGCONT, false); /* the next tests need it */
                fail_msg("move 2 from 3 to 2: %s (%s)", tkv_status_name(rv), err);
        }
        rv = tkv_move(c, 2, 1, 2, NULL, err, sizeof err);
        assert_int_equal(rv, TKV_BUSY);
        assert_non_null(strstr(err, "being moved from node 3 to node 2"));
        /* The identical move again: nothing to change. */
        assert_int_equal(tkv_move(c, 2, 3, 2, NULL, err, sizeof err), TKV_OK);
        assert_int_equal(tkv_move_cancel(c, 2, &epoch, err, sizeof err), TKV_OK);
        assert_int_equal(tkv_move_cancel(c, 2, NULL, err, sizeof err), TKV_INVALID_ARGUMENT);
        tkv_client_destroy(c);
        assert_int_equal(cluster_signal(&cl, 2, SIGCONT, false), 0);
        assert_true(wait_placement(1, 2, epoch, &pi));
        assert_int_equal(pi.move_to, 0);
        assert_int_equal(pi.n_replicas, 3);
        assert_true(has_replica(&pi, 3) && has_replica(&pi, 1) && has_replica(&pi, 4));
        assert_true(wait_no_dir(2, 2));
        assert_true(cluster_wait_converged(&cl, 2, WAIT_MS));
}

/* A minority of a partition's replicas cannot complete a membership
 * change: partition 2 (on nodes 3, 1, 4) with nodes 3 and 4 stopped keeps
 * node 1 alone. Its move from node 1 to node 2 is recorded (the metadata
 * group, on nodes 1, 2 and 3, still has a majority) but nothing carries
 * it out: no leader, no configuration change. For three election timeouts
 * the map still shows it in progress and node 1 among the replicas (an
 * absence: there is no event to await, so a bounded wait). Once nodes 3
 * and 4 are back, the move completes and the replicas agree. */
static void test_move_needs_a_majority(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 2);
        struct tkv_partition_info pi;
        uint64_t epoch = 0;
        char err[256];
        int rv;

        (void)state;
        assert_non_null(c);
        assert_true(cluster_wait_converged(&cl, 2, WAIT_MS));
        assert_true(placement_at(2, 2, 0, &pi));
        assert_true(has_replica(&pi, 3) && has_replica(&pi, 1) && has_replica(&pi, 4));
        assert_int_equal(cluster_signal(&cl, 3, SIGSTOP, false), 0);
        assert_int_equal(cluster_signal(&cl, 4, SIGSTOP, false), 0);
        /* Node 3 may have led the metadata group. */
        rv = move_retried(c, 2, 1, 2, &epoch, err, sizeof err);
        if (rv != TKV_OK) {
                cluster_signal(&cl, 3, SIGCONT, false);
                cluster_signal(&cl, 4, SIGCONT, false);
                fail_msg("move 2 from 1 to 2: %s (%s)", tkv_status_name(rv), err);
        }
        nanosleep(&(struct timespec){3, 0}, NULL); /* three election timeouts */
        rv = placement_at(1, 2, epoch, &pi) && pi.move_to == 2 && has_replica(&pi, 1) ? 0 : -1;
        assert_int_equal(cluster_signal(&cl, 3, SIGCONT, false), 0);
        assert_int_equal(cluster_signal(&cl, 4, SIGCONT, false), 0);
        assert_int_equal(rv, 0);
        assert_true(wait_moved(2, 2, 1, 2, epoch));
        assert_true(wait_no_dir(1, 2));
        assert_true(cluster_wait_converged(&cl, 2, WAIT_MS));
        tkv_client_destroy(c);
}

/* Refusals, each with its reason; MOVE_DONE is the leaders' alone. */
static void test_move_refused(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 3);
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;
        Tunekv__V1__Response *resp;
        char err[256];
        int fd;

        (void)state;
        assert_non_null(c);
        assert_int_equal(tkv_move(c, 99, 1, 2, NULL, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "no partition 99"));
        /* Partition 0 is on nodes 1, 2, 3 again. */
        assert_int_equal(tkv_move(c, 0, 4, 2, NULL, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 4 holds no replica of partition 0"));
        assert_int_equal(tkv_move(c, 0, 1, 77, NULL, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "not a member"));
        assert_int_equal(tkv_move(c, 0, 1, 2, NULL, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "holds a replica of partition 0 already"));
        tkv_client_destroy(c);
        /* A client's MOVE_DONE could drop a voter from the map. */
        fd = raw_connect_addr(cl.nodes[0].client_addr, false);
        req.id = 7;
        req.body_case = TUNEKV__V1__REQUEST__BODY_MEMBER;
        req.member = &mr;
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_DONE;
        mr.partition = 0;
        mr.node_id = 2;
        mr.to_node_id = 1;
        raw_send_request(fd, &req);
        resp = raw_read_response(fd);
        assert_non_null(resp);
        assert_int_equal(resp->status, TUNEKV__V1__STATUS__STATUS_INVALID_ARGUMENT);
        assert_non_null(strstr(resp->message, "sent by partition leaders"));
        /* Every answer carries the answering node's map epoch (nothing
         * changes the map meanwhile). */
        {
                struct tkv_client *c1 = cluster_client(&cl, 1);
                struct tkv_result info;
                assert_non_null(c1);
                assert_int_equal(tkv_cluster_info(c1, &info), TKV_OK);
                assert_true(info.cluster->epoch >= 1);
                assert_int_equal(resp->epoch, info.cluster->epoch);
                tkv_result_release(&info);
                tkv_client_destroy(c1);
        }
        tunekv__v1__response__free_unpacked(resp, NULL);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_move_leader_replica),
            cmocka_unit_test(test_move_back),
            cmocka_unit_test(test_move_driver_killed),
            cmocka_unit_test(test_move_target_killed),
            cmocka_unit_test(test_move_source_killed),
            cmocka_unit_test(test_move_cancelled),
            cmocka_unit_test(test_move_needs_a_majority),
            cmocka_unit_test(test_move_refused),
            cmocka_unit_test_prestate(cluster_test_replicas_agree, &cl),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
