/* The cluster map and transfer-leader (issue 17, first increment) against
 * three real tunekvd processes, 3 partitions of 2 replicas (so that each
 * partition has a node that is not its replica), zones a, b, c:
 *
 * - the metadata group exists without [auth]; its leader bootstraps the
 *   cluster map from the configuration once (one node logs it), and every
 *   node's CLUSTER_INFO then carries epoch 1, the members with their zones
 *   and state, and the configuration's placement; libtunekv keeps the
 *   epoch it learned;
 * - tkv_member_list lists the members, from any node;
 * - transfer-leader moves each partition's leadership to its other
 *   replica: the target's CLUSTER_INFO names it leader, writes keep
 *   succeeding, and leader balancing leaves it there; a node that is not
 *   a replica, a partition that does not exist and a node that is not a
 *   member are refused as INVALID_ARGUMENT;
 * - a node restarted with a configuration that gives a member another
 *   address is refused, with a message naming the member, the addresses
 *   and the map's epoch, and starts again with the right configuration;
 * - a cluster of one follows its configuration instead: restarted on
 *   another port, its map takes the new address (epoch 2);
 * - member add and member remove (issue 17, next increment): the map's
 *   CAS at the metadata group's leader, from any node; each refusal;
 * - the peer port admits by the map: a joining member (not in any node's
 *   file, its own file listing other nodes) is admitted, a removed one is
 *   refused with the reason logged, a configured node still connects;
 * - node links follow the map: every node connects to a member added.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "err.h"
#include "keyhash.h"
#include "keys.h"
#include "peerauth.h"
#include "raw.h"
#include "testlib.h"
#include "transport.h"
#include "tunekv.h"

#define NODES      3
#define PARTITIONS 3
#define REPLICAS   2
#define CMAP_FULL  64 /* the members a cluster map holds at most (cmap.h) */

static char dir[256];
static struct cluster cl;
static const char *const zones[NODES] = {"a", "b", "c"};

static int setup(void **state)
{
        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-member") != 0) {
                return -1;
        }
        return cluster_start_zones(&cl, dir, NODES, PARTITIONS, REPLICAS, NULL, zones);
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

/* CLUSTER_INFO of node id alone; TKV_OK or the error. */
static int cluster_info_of(unsigned id, struct tkv_result *res)
{
        struct tkv_client *c = cluster_client(&cl, id);
        int rv;

        memset(res, 0, sizeof *res);
        assert_non_null(c);
        rv = tkv_cluster_info(c, res);
        tkv_client_destroy(c);
        return rv;
}

/* Wait (up to 20 s, polling every 20 ms: a remote replica applying an
 * entry sends no event to await) until node id's CLUSTER_INFO carries an
 * epoch. Returns it, or 0. */
static uint64_t wait_epoch(unsigned id)
{
        struct timespec nap = {0, 20 * 1000 * 1000};

        for (int waited = 0; waited < 20000; waited += 20) {
                struct tkv_result res;
                uint64_t epoch = 0;
                if (cluster_info_of(id, &res) == TKV_OK && res.cluster != NULL) {
                        epoch = res.cluster->epoch;
                }
                tkv_result_release(&res);
                if (epoch != 0) {
                        return epoch;
                }
                nanosleep(&nap, NULL);
        }
        return 0;
}

/* The placement of partition p by the configuration: nodes (p + i) % N. */
static bool placed_on(uint32_t p, uint32_t node_id)
{
        for (unsigned i = 0; i < REPLICAS; i++) {
                if ((p + i) % NODES + 1 == node_id) {
                        return true;
                }
        }
        return false;
}

static void test_map_bootstrapped_from_config(void **state)
{
        unsigned booted = 0;

        (void)state;
        for (unsigned id = 1; id <= NODES; id++) {
                struct tkv_result res;
                assert_int_equal(wait_epoch(id), 1);
                assert_int_equal(cluster_info_of(id, &res), TKV_OK);
                assert_int_equal(res.cluster->n_nodes, NODES);
                for (unsigned i = 0; i < NODES; i++) {
                        assert_int_equal(res.cluster->nodes[i].node_id, i + 1);
                        assert_string_equal(res.cluster->nodes[i].client_addr,
                                            cl.nodes[i].client_addr);
                }
                assert_int_equal(res.cluster->n_partitions, PARTITIONS);
                for (uint32_t p = 0; p < PARTITIONS; p++) {
                        const struct tkv_partition_info *pi = &res.cluster->partitions[p];
                        assert_int_equal(pi->n_replicas, REPLICAS);
                        for (unsigned k = 0; k < pi->n_replicas; k++) {
                                assert_true(placed_on(p, pi->replicas[k]));
                        }
                }
                tkv_result_release(&res);
                /* STATUS says the same epoch. */
                assert_int_equal(cluster_status(&cl, id, &res), TKV_OK);
                assert_int_equal(res.node->epoch, 1);
                tkv_result_release(&res);
        }
        for (unsigned i = 0; i < NODES; i++) {
                booted +=
                    (unsigned)daemon_log_count(&cl.nodes[i], "cluster map bootstrapped from the "
                                                             "configuration");
        }
        /* At most one leader's write applied (a later one fails its CAS
         * from "absent"); none may report success if a leadership change
         * left the first one's outcome unknown, and epoch 1 above proves
         * the map is there. */
        assert_true(booted <= 1);
}

static void test_client_keeps_epoch(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 0);
        struct tkv_result res;

        (void)state;
        assert_non_null(c);
        assert_int_equal(tkv_cluster_epoch(c), 0);
        assert_int_equal(wait_epoch(1), 1);
        assert_int_equal(tkv_cluster_info(c, &res), TKV_OK);
        assert_int_equal(res.cluster->epoch, 1);
        assert_int_equal(tkv_cluster_epoch(c), 1);
        tkv_result_release(&res);
        tkv_client_destroy(c);
}

static void test_member_list(void **state)
{
        (void)state;
        for (unsigned id = 1; id <= NODES; id++) {
                struct tkv_client *c = cluster_client(&cl, id);
                struct tkv_member_list l;
                assert_non_null(c);
                assert_int_equal(wait_epoch(id), 1);
                assert_int_equal(tkv_member_list(c, &l), TKV_OK);
                assert_int_equal(l.epoch, 1);
                assert_int_equal(l.node_id, id);
                assert_int_equal(tkv_cluster_epoch(c), 1);
                assert_int_equal(l.n_members, NODES);
                for (unsigned i = 0; i < NODES; i++) {
                        assert_int_equal(l.members[i].node_id, i + 1);
                        assert_int_equal(l.members[i].state, TKV_MEMBER_VOTER);
                        assert_string_equal(l.members[i].zone, zones[i]);
                        assert_string_equal(l.members[i].client_addr, cl.nodes[i].client_addr);
                        assert_string_equal(l.members[i].peer_addr, cl.nodes[i].peer_addr);
                }
                tkv_member_list_release(&l);
                tkv_client_destroy(c);
        }
}

/* Leader of p by node id's CLUSTER_INFO (0: none known there). */
static uint32_t info_leader(unsigned id, uint32_t p)
{
        struct tkv_result res;
        uint32_t leader = 0;

        if (cluster_info_of(id, &res) == TKV_OK && p < res.cluster->n_partitions) {
                leader = res.cluster->partitions[p].leader_id;
        }
        tkv_result_release(&res);
        return leader;
}

/* Write n keys through the whole cluster; every write must succeed. */
static void write_keys(struct tkv_client *c, uint32_t p, unsigned n)
{
        char key[64];

        for (unsigned i = 0; i < n; i++) {
                struct tkv_result res;
                snprintf(key, sizeof key, "after-transfer-%u-%u", p, i);
                assert_int_equal(tkv_put(c, key, strlen(key), "v", 1, NULL, &res), TKV_OK);
                tkv_result_release(&res);
        }
}

/* tkv_transfer_leader, again while it answers BUSY (the target has not
 * acknowledged the leader's last entry yet: the answer says retry). */
static int transfer(struct tkv_client *c, uint32_t p, uint32_t target, char *err, size_t len)
{
        struct timespec nap = {0, 20 * 1000 * 1000};
        int rv = TKV_BUSY;

        for (int i = 0; i < 100 && rv == TKV_BUSY; i++) {
                rv = tkv_transfer_leader(c, p, target, err, len);
                if (rv == TKV_BUSY) {
                        nanosleep(&nap, NULL);
                }
        }
        return rv;
}

static void test_transfer_leader(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 0);

        (void)state;
        assert_non_null(c);
        for (uint32_t p = 0; p < PARTITIONS; p++) {
                uint32_t replica = p % NODES + 1, other = (p + 1) % NODES + 1;
                uint32_t leader, target;
                char err[256];
                assert_true(cluster_wait_converged(&cl, p, 20000));
                leader = cluster_leader(&cl, replica, p);
                assert_true(leader == replica || leader == other);
                target = leader == replica ? other : replica;
                assert_int_equal(transfer(c, p, target, err, sizeof err), TKV_OK);
                assert_string_equal(err, "");
                /* Answered once the target leads: its own view says so. */
                assert_int_equal(info_leader(target, p), target);
                assert_int_equal(cluster_leader(&cl, target, p), target);
                write_keys(c, p, 50);
                /* Balancing did not hand it back to the preferred leader. */
                assert_int_equal(cluster_leader(&cl, target, p), target);
                /* Asking for the leader it has is answered at once. */
                assert_int_equal(tkv_transfer_leader(c, p, target, err, sizeof err), TKV_OK);
        }
        tkv_client_destroy(c);
}

static void test_transfer_leader_refused(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 0);
        char err[256];

        (void)state;
        assert_non_null(c);
        /* Node (p + 2) % 3 + 1 holds no replica of partition p. */
        assert_int_equal(tkv_transfer_leader(c, 0, 3, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 3 is not a replica of partition 0"));
        assert_int_equal(tkv_transfer_leader(c, 99, 1, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "no partition 99"));
        assert_int_equal(tkv_transfer_leader(c, 0, 9, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 9 is not a member"));
        tkv_client_destroy(c);
}

/* Wait (up to 20 s) for node id's data dir copy of the map: the node
 * writes it on the threadpool after applying the map; no event says when. */
static bool wait_map_file_in(const char *data_dir)
{
        struct timespec nap = {0, 20 * 1000 * 1000};
        char path[700];
        struct stat st;

        snprintf(path, sizeof path, "%.600s/cluster-map", data_dir);
        for (int waited = 0; waited < 20000; waited += 20) {
                if (stat(path, &st) == 0) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

static bool wait_map_file(unsigned id)
{
        return wait_map_file_in(cl.nodes[id - 1].data_dir);
}

static void test_changed_address_refused(void **state)
{
        struct daemon *d = &cl.nodes[1];
        char old_addr[64];
        char why[256];
        int status;

        (void)state;
        assert_true(wait_map_file(2));
        status = cluster_signal(&cl, 2, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* Node 3 gets another client port in the file only. */
        snprintf(old_addr, sizeof old_addr, "%s", cl.nodes[2].client_addr);
        snprintf(cl.nodes[2].client_addr, sizeof cl.nodes[2].client_addr, "127.0.0.1:%u",
                 daemon_free_port());
        cluster_write_config(&cl);
        assert_int_not_equal(daemon_start(d, 30000), 0);
        assert_false(daemon_alive(d));
        assert_int_equal(daemon_log_count(d, "disagrees with the cluster map"), 1);
        snprintf(why, sizeof why,
                 "node 3's client address is %s in the cluster map (epoch 1) but %s", old_addr,
                 cl.nodes[2].client_addr);
        assert_int_equal(daemon_log_count(d, why), 1);
        /* With the map's addresses it starts and serves again. */
        snprintf(cl.nodes[2].client_addr, sizeof cl.nodes[2].client_addr, "%s", old_addr);
        cluster_write_config(&cl);
        assert_int_equal(cluster_restart(&cl, 2), 0);
        assert_int_equal(wait_epoch(2), 1);
}

/* Wait (up to 20 s, polling: a replica applying an entry sends no event)
 * until node id's map has epoch want; true if it got there. */
static bool wait_epoch_reaches(unsigned id, uint64_t want)
{
        struct timespec nap = {0, 20 * 1000 * 1000};

        for (int waited = 0; waited < 20000; waited += 20) {
                struct tkv_result res;
                uint64_t epoch = 0;
                if (cluster_info_of(id, &res) == TKV_OK && res.cluster != NULL) {
                        epoch = res.cluster->epoch;
                }
                tkv_result_release(&res);
                if (epoch >= want) {
                        return epoch == want;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* The epoch of node id's map, read through tkv_member_list. */
static uint64_t epoch_of(unsigned id)
{
        struct tkv_client *c = cluster_client(&cl, id);
        struct tkv_member_list l;
        uint64_t epoch;

        assert_non_null(c);
        assert_int_equal(tkv_member_list(c, &l), TKV_OK);
        epoch = l.epoch;
        tkv_member_list_release(&l);
        tkv_client_destroy(c);
        return epoch;
}

/* A member to add: node id, in zone. Nothing runs there (joining is the
 * next increment), so its addresses are 127.0.0.9 with ports derived from
 * the id: distinct for every id, and never the cluster's (127.0.0.1). */
static void new_member(struct tkv_member *m, uint32_t id, const char *zone)
{
        memset(m, 0, sizeof *m);
        m->node_id = id;
        snprintf(m->client_addr, sizeof m->client_addr, "127.0.0.9:%u", 10000 + id % 20000);
        snprintf(m->peer_addr, sizeof m->peer_addr, "127.0.0.9:%u", 30000 + id % 20000);
        snprintf(m->zone, sizeof m->zone, "%s", zone);
}

/* Node id's member list has m, in state st, at epoch want. */
static void assert_member_at(unsigned id, const struct tkv_member *m, enum tkv_member_state st,
                             uint64_t want)
{
        struct tkv_client *c = cluster_client(&cl, id);
        struct tkv_member_list l;
        bool found = false;

        assert_non_null(c);
        assert_true(wait_epoch_reaches(id, want));
        assert_int_equal(tkv_member_list(c, &l), TKV_OK);
        assert_int_equal(l.epoch, want);
        for (size_t i = 0; i < l.n_members; i++) {
                if (l.members[i].node_id != m->node_id) {
                        assert_true(i == 0 || l.members[i - 1].node_id < l.members[i].node_id);
                        continue;
                }
                found = true;
                assert_int_equal(l.members[i].state, st);
                assert_string_equal(l.members[i].client_addr, m->client_addr);
                assert_string_equal(l.members[i].peer_addr, m->peer_addr);
                assert_string_equal(l.members[i].zone, m->zone);
        }
        assert_true(found);
        tkv_member_list_release(&l);
        tkv_client_destroy(c);
}

static struct tkv_member added[3]; /* nodes 4, 5, 6, added by test_member_add */

/* member add, sent to each node in turn (so that at least two of them
 * forward it to the metadata group's leader): each raises the epoch by
 * one, every node applies the new map and lists the member as joining
 * with its addresses and zone, the placement does not change, nothing in
 * the configuration is reported as disagreeing with the map, and a node
 * restarted afterwards starts (the map's new members are the map's own). */
static void test_member_add(void **state)
{
        uint64_t epoch = epoch_of(1), got = 0;
        unsigned disagree[NODES];
        char err[256];
        int status;

        (void)state;
        for (unsigned i = 0; i < NODES; i++) {
                disagree[i] = (unsigned)daemon_log_count(&cl.nodes[i], "disagrees with the "
                                                                       "cluster map");
        }
        for (unsigned k = 0; k < 3; k++) {
                struct tkv_client *c = cluster_client(&cl, k + 1);
                assert_non_null(c);
                new_member(&added[k], 4 + k, k == 1 ? "" : "d");
                assert_int_equal(tkv_member_add(c, &added[k], &got, err, sizeof err), TKV_OK);
                assert_string_equal(err, "");
                assert_int_equal(got, ++epoch);
                assert_int_equal(tkv_cluster_epoch(c), epoch);
                tkv_client_destroy(c);
        }
        for (unsigned id = 1; id <= NODES; id++) {
                struct tkv_result res;
                for (unsigned k = 0; k < 3; k++) {
                        assert_member_at(id, &added[k], TKV_MEMBER_JOINING, epoch);
                }
                assert_int_equal(cluster_info_of(id, &res), TKV_OK);
                assert_int_equal(res.cluster->n_nodes, NODES + 3);
                for (uint32_t p = 0; p < PARTITIONS; p++) {
                        const struct tkv_partition_info *pi = &res.cluster->partitions[p];
                        assert_int_equal(pi->n_replicas, REPLICAS);
                        for (unsigned r = 0; r < pi->n_replicas; r++) {
                                assert_true(placed_on(p, pi->replicas[r]));
                        }
                }
                tkv_result_release(&res);
        }
        /* The metadata leader logged each change once, naming it. */
        for (unsigned k = 0; k < 3; k++) {
                char line[128];
                unsigned logged = 0;
                snprintf(line, sizeof line, "proposing cluster map epoch %llu: node %u added",
                         (unsigned long long)(epoch - 2 + k), 4 + k);
                for (unsigned i = 0; i < NODES; i++) {
                        logged += (unsigned)daemon_log_count(&cl.nodes[i], line);
                }
                assert_int_equal(logged, 1);
        }
        assert_true(wait_map_file(3));
        status = cluster_signal(&cl, 3, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(cluster_restart(&cl, 3), 0);
        assert_int_equal(wait_epoch(3), epoch);
        for (unsigned i = 0; i < NODES; i++) {
                assert_int_equal(daemon_log_count(&cl.nodes[i], "disagrees with the cluster map"),
                                 disagree[i]);
        }
}

/* Play node `from` on node 1's peer port: the handshake with a layout
 * derived from a file that lists other nodes than the cluster's (as a
 * joining node's does), then a PING on the node link. TKV_OK when the
 * PING is answered (admitted), else the handshake's error. */
static int knock_as(unsigned from)
{
        char conf[600];
        FILE *f;
        struct raw_peer p = {"tunekv-test-secret",
                             "tunekv",
                             TRANSPORT_LINK_GROUP,
                             from,
                             1,
                             4242,
                             "127.0.0.9:9",
                             NULL,
                             {0}};
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PingRequest ping = TUNEKV__V1__PING_REQUEST__INIT;
        Tunekv__V1__Response *r;
        int fd, rv;

        snprintf(conf, sizeof conf, "%s/joiner-layout.conf", dir);
        f = fopen(conf, "w");
        assert_non_null(f);
        fprintf(f,
                "[cluster]\npartitions = %u\nreplicas = %u\nsecret = tunekv-test-secret\n"
                "[node.1]\nclient_addr = 127.0.0.9:1\npeer_addr = 127.0.0.9:2\n"
                "[node.7]\nclient_addr = 127.0.0.9:3\npeer_addr = 127.0.0.9:4\n",
                PARTITIONS, REPLICAS);
        fclose(f);
        p.layout = raw_layout_of(conf);
        fd = raw_connect_addr(cl.nodes[0].peer_addr, false);
        rv = raw_peer_handshake(fd, &p, NULL, NULL, NULL);
        if (rv == 0) {
                req.id = 1;
                req.body_case = TUNEKV__V1__REQUEST__BODY_PING;
                req.ping = &ping;
                ping.from_node_id = from;
                raw_send_request(fd, &req);
                r = raw_read_response(fd);
                rv = r != NULL && r->status == TUNEKV__V1__STATUS__STATUS_OK ? TKV_OK : TKV_ECONN;
                if (r != NULL) {
                        tunekv__v1__response__free_unpacked(r, NULL);
                }
        }
        close(fd);
        return rv;
}

/* A joining member is admitted on the peer port although no node's file
 * lists it and its own file lists other nodes (the layout fingerprint
 * leaves the node list out); a node neither configured nor in the map is
 * not. */
static void test_joining_member_admitted(void **state)
{
        (void)state;
        assert_int_equal(knock_as(5), TKV_OK);
        assert_int_equal(knock_as(99), TKV_ECONN);
}

/* Add m through node 1; the status, and the message in err. */
static int add_via_1(const struct tkv_member *m, char *err, size_t len)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        uint64_t epoch = 99;
        int rv;

        assert_non_null(c);
        rv = tkv_member_add(c, m, &epoch, err, len);
        if (rv != TKV_OK) {
                assert_int_equal(epoch, 0);
        }
        tkv_client_destroy(c);
        return rv;
}

/* Each refusal of member add names its reason and changes nothing. */
static void test_member_add_refused(void **state)
{
        uint64_t epoch = epoch_of(1);
        struct tkv_member m;
        char err[256];

        (void)state;
        new_member(&m, 1, "");
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 1 is a member already (voter)"));
        new_member(&m, 5, "");
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 5 is a member already (joining)"));
        new_member(&m, 0, "");
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "outside 1..65535"));
        new_member(&m, 70000, "");
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        /* Another member's client or peer address, as either address. */
        new_member(&m, 10, "");
        snprintf(m.client_addr, sizeof m.client_addr, "%s", cl.nodes[0].client_addr);
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "is node 1's"));
        new_member(&m, 10, "");
        snprintf(m.peer_addr, sizeof m.peer_addr, "%s", added[1].client_addr);
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "is node 5's"));
        new_member(&m, 10, "");
        snprintf(m.peer_addr, sizeof m.peer_addr, "%s", m.client_addr);
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "the same"));
        /* Malformed addresses and zones. */
        static const char *const bad_addrs[] = {"localhost:7001", "127.0.0.1", "127.0.0.1:99999",
                                                ""};
        for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
                new_member(&m, 10, "");
                snprintf(m.client_addr, sizeof m.client_addr, "%s", bad_addrs[i]);
                assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
                assert_non_null(strstr(err, "bad client address"));
        }
        new_member(&m, 10, "rack 1");
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "bad zone"));
        for (unsigned id = 1; id <= NODES; id++) {
                assert_true(wait_epoch_reaches(id, epoch));
        }
}

/* member remove: a joining member without replicas becomes removed
 * (epoch + 1, on every node); its id is never given again, its addresses
 * are free again; removing it twice or a node that never was a member is
 * refused. */
static void test_member_remove(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 2);
        uint64_t epoch = epoch_of(1), got = 0;
        struct tkv_member m;
        char err[256];

        (void)state;
        assert_non_null(c);
        /* (A member holding replicas leaves instead: test_elastic.) */
        assert_int_equal(tkv_member_remove(c, 4, &got, err, sizeof err), TKV_OK);
        assert_int_equal(got, ++epoch);
        for (unsigned id = 1; id <= NODES; id++) {
                assert_member_at(id, &added[0], TKV_MEMBER_REMOVED, epoch);
        }
        assert_int_equal(tkv_member_remove(c, 4, &got, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "removed already"));
        assert_int_equal(tkv_member_remove(c, 99, &got, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 99 is not a member"));
        m = added[0];
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "never reused"));
        m.node_id = 7;
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_OK);
        assert_member_at(2, &m, TKV_MEMBER_JOINING, ++epoch);
        tkv_client_destroy(c);
}

/* A removed member's HELLO gets no CHALLENGE, and node 1 logs why; a
 * configured node still connects: node 2 restarted gets ready (its
 * partitions elect leaders over the peer port) and serves a write. */
static void test_removed_member_refused(void **state)
{
        struct tkv_result res;
        struct tkv_client *c;
        int status;

        (void)state;
        assert_int_equal(knock_as(4), TKV_ECONN);
        assert_true(daemon_log_count(&cl.nodes[0], "refusing node 4's peer handshake: it was "
                                                   "removed from the cluster map") > 0);
        assert_int_equal(knock_as(5), TKV_OK); /* still joining */
        status = cluster_signal(&cl, 2, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(cluster_restart(&cl, 2), 0);
        c = cluster_client(&cl, 2);
        assert_non_null(c);
        assert_int_equal(tkv_put(c, "after-removal", 13, "v", 1, NULL, &res), TKV_OK);
        tkv_result_release(&res);
        tkv_client_destroy(c);
}

/* A listening socket on 127.0.0.1 at a port the kernel picks (no other
 * test can hold it); its address in addr. */
static int listen_any(char *addr, size_t len)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t sl = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(listen(fd, 16), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        snprintf(addr, len, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
        return fd;
}

/* The HELLO of the next connection to lfd (waited for up to 20 s), read
 * as the member would: who connects, for what, to whom. */
static struct peerauth next_hello(int lfd, const struct keys_ring *ring)
{
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        uint8_t hello[PEERAUTH_HELLO_BYTES];
        struct peerauth a;
        struct timeval tv = {20, 0};
        int fd;

        assert_int_equal(poll(&pfd, 1, 20000), 1);
        fd = accept(lfd, NULL, NULL);
        assert_true(fd >= 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        assert_true(raw_read_exact(fd, hello, sizeof hello));
        close(fd);
        assert_int_equal(peerauth_challenge(&a, ring, hello), 0);
        return a;
}

/* A member added to the map gets a node link from every node (none of
 * their files lists it): each connects to its peer address, naming
 * itself, the member and the node-link group, and logs the link once. */
static void test_member_added_gets_links(void **state)
{
        struct keys_ring ring;
        struct tkv_member m;
        bool seen[NODES + 1] = {false};
        unsigned n_seen = 0;
        char err[256], line[160];
        int lfd;

        (void)state;
        assert_int_equal(keys_ring_derive(&ring, "tunekv-test-secret", NULL, "tunekv", KEYS_PEER),
                         0);
        new_member(&m, 8, "");
        lfd = listen_any(m.peer_addr, sizeof m.peer_addr);
        assert_int_equal(add_via_1(&m, err, sizeof err), TKV_OK);
        /* A node whose connection was closed tries again: 30 accepts are
         * plenty for three first ones. */
        for (int k = 0; k < 30 && n_seen < NODES; k++) {
                struct peerauth a = next_hello(lfd, &ring);
                assert_int_equal(a.cluster_id, key_hash("tunekv", 6));
                assert_int_equal(a.to, 8);
                assert_true(a.group == TRANSPORT_LINK_GROUP);
                assert_true(a.from >= 1 && a.from <= NODES);
                if (!seen[a.from]) {
                        seen[a.from] = true;
                        n_seen++;
                }
        }
        assert_int_equal(n_seen, NODES);
        close(lfd);
        snprintf(line, sizeof line, "node link to member 8 at %s (joining", m.peer_addr);
        for (unsigned i = 0; i < NODES; i++) {
                assert_int_equal(daemon_log_count(&cl.nodes[i], line), 1);
        }
}

/* The map holds CMAP_MEMBERS_MAX (64) members, removed ones included: the
 * next add is refused as TOO_LARGE and the map is unchanged. */
static void test_member_map_full(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        struct tkv_member_list l;
        struct tkv_member m;
        uint64_t epoch = 0, last = 0;
        char err[256];
        int rv = TKV_OK;

        (void)state;
        assert_non_null(c);
        /* Add until refused: node 1 may not have applied the last change
         * yet, so its member count is not where to start from. */
        for (uint32_t id = 100; id < 100 + CMAP_FULL && rv == TKV_OK; id++) {
                new_member(&m, id, "");
                last = epoch;
                rv = tkv_member_add(c, &m, &epoch, err, sizeof err);
                if (rv != TKV_OK && rv != TKV_TOO_LARGE) {
                        fail_msg("adding node %u: %s", id, err);
                }
        }
        assert_int_equal(rv, TKV_TOO_LARGE);
        assert_int_equal(epoch, 0);
        assert_non_null(strstr(err, "the most it can"));
        /* Every node gets to the last add's epoch and no further, and the
         * map then holds exactly 64 members. */
        for (unsigned id = 1; id <= NODES; id++) {
                assert_true(wait_epoch_reaches(id, last));
        }
        assert_int_equal(tkv_member_list(c, &l), TKV_OK);
        assert_int_equal(l.n_members, CMAP_FULL);
        tkv_member_list_release(&l);
        new_member(&m, 300, "");
        assert_int_equal(tkv_member_add(c, &m, NULL, err, sizeof err), TKV_TOO_LARGE);
        tkv_client_destroy(c);
}

/* The members node d's map lists, through a client of its own; *epoch
 * and the first member's client address filled. TKV_OK or the error. */
static int one_member(const struct daemon *d, uint64_t *epoch, char *addr, size_t len)
{
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        struct tkv_member_list l;
        char err[256];
        int rv;

        o.endpoints = d->client_addr;
        o.timeout_ms = 10000;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        rv = tkv_member_list(c, &l);
        if (rv == TKV_OK) {
                assert_int_equal(l.n_members, 1);
                *epoch = l.epoch;
                snprintf(addr, len, "%s", l.members[0].client_addr);
        }
        tkv_member_list_release(&l);
        tkv_client_destroy(c);
        return rv;
}

/* A node alone (no [node.N] sections, addresses from flags) that restarts
 * on other ports is not refused: a cluster of one follows its
 * configuration, and its map takes the new addresses (epoch 2) before it
 * reports ready. */
/* The member of id as node `at`'s CLUSTER_INFO lists it: its client
 * address and zone into addr and zone (64 bytes each); false if absent. */
static bool listed_as(unsigned at, unsigned id, char *addr, char *zone)
{
        struct tkv_result res;
        bool found = false;

        if (cluster_info_of(at, &res) == TKV_OK && res.cluster != NULL) {
                for (unsigned i = 0; i < res.cluster->n_nodes; i++) {
                        const struct tkv_node_info *n = &res.cluster->nodes[i];
                        if (n->node_id == id) {
                                snprintf(addr, 64, "%s", n->client_addr);
                                snprintf(zone, 64, "%s", n->zone);
                                found = true;
                        }
                }
        }
        tkv_result_release(&res);
        return found;
}

/* Wait (polling: applying the map sends nothing) until every node lists
 * member id with client address addr and zone zone. */
static bool wait_listed(unsigned id, const char *addr, const char *zone)
{
        struct timespec nap = {0, 20 * 1000 * 1000};

        for (int waited = 0; waited < 20000; waited += 20) {
                bool all = true;
                for (unsigned at = 1; at <= NODES && all; at++) {
                        char a[64], z[64];
                        all =
                            listed_as(at, id, a, z) && strcmp(a, addr) == 0 && strcmp(z, zone) == 0;
                }
                if (all) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* Wait (polling the file: it is written off the loop) until node id's
 * data dir copy of the map holds text (an address: the encoding keeps
 * them as they are). */
static bool wait_map_file_holds(unsigned id, const char *text)
{
        struct timespec nap = {0, 20 * 1000 * 1000};
        char path[700], buf[1 << 16];

        snprintf(path, sizeof path, "%.600s/cluster-map", cl.nodes[id - 1].data_dir);
        for (int waited = 0; waited < 20000; waited += 20) {
                FILE *f = fopen(path, "rb");
                size_t n = f != NULL ? fread(buf, 1, sizeof buf, f) : 0;
                if (f != NULL) {
                        fclose(f);
                }
                if (memmem(buf, n, text, strlen(text)) != NULL) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

/* member update: node 2's zone changes, then is cleared; node 3 gets a
 * new client address, then a new peer address: every node lists them,
 * node 3 logs that its file no longer agrees, and restarted with the new
 * addresses in its file it serves there (a client of node 1 reaches it
 * by the map) and its partitions' leaders reach it there (Raft's
 * configurations still hold the old peer address: nodes dial the map's),
 * so its replicas converge. The usual refusals. */
static void test_member_update(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        struct tkv_result r;
        char addr[64], peer[64], err[256];
        uint64_t epoch = 0, again = 0;
        int status;

        (void)state;
        assert_non_null(c);
        assert_int_equal(tkv_member_update(c, 2, NULL, NULL, "b2", &epoch, err, sizeof err),
                         TKV_OK);
        assert_true(wait_listed(2, cl.nodes[1].client_addr, "b2"));
        /* The same again: nothing to change, the same epoch. */
        assert_int_equal(tkv_member_update(c, 2, NULL, NULL, "b2", &again, err, sizeof err),
                         TKV_OK);
        assert_int_equal(again, epoch);
        assert_int_equal(tkv_member_update(c, 2, NULL, NULL, "", NULL, err, sizeof err), TKV_OK);
        assert_true(wait_listed(2, cl.nodes[1].client_addr, ""));
        /* Refusals. */
        assert_int_equal(tkv_member_update(c, 99, NULL, NULL, "x", NULL, err, sizeof err),
                         TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "node 99 is no member"));
        assert_int_equal(
            tkv_member_update(c, 2, cl.nodes[0].client_addr, NULL, NULL, NULL, err, sizeof err),
            TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "is node 1's"));
        assert_int_equal(
            tkv_member_update(c, 2, NULL, cl.nodes[1].client_addr, NULL, NULL, err, sizeof err),
            TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "client and peer address"));
        assert_int_equal(tkv_member_update(c, 2, NULL, NULL, "a zone", NULL, err, sizeof err),
                         TKV_INVALID_ARGUMENT);
        /* Node 3's client address, then its peer address, each while it
         * runs; then it restarts with them. */
        snprintf(addr, sizeof addr, "127.0.0.1:%u", daemon_free_port());
        snprintf(peer, sizeof peer, "127.0.0.1:%u", daemon_free_port());
        assert_int_equal(tkv_member_update(c, 3, addr, NULL, NULL, NULL, err, sizeof err), TKV_OK);
        assert_true(wait_listed(3, addr, "c"));
        assert_int_equal(tkv_member_update(c, 3, NULL, peer, NULL, NULL, err, sizeof err), TKV_OK);
        /* Its copy of the map must hold them before it stops: it compares
         * its file with that copy when it starts. */
        assert_true(wait_map_file_holds(3, peer));
        status = cluster_signal(&cl, 3, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(daemon_log_count(&cl.nodes[2], "this node will refuse to start with this "
                                                   "configuration") > 0);
        snprintf(cl.nodes[2].client_addr, sizeof cl.nodes[2].client_addr, "%s", addr);
        snprintf(cl.nodes[2].peer_addr, sizeof cl.nodes[2].peer_addr, "%s", peer);
        cluster_write_config(&cl);
        assert_int_equal(cluster_restart(&cl, 3), 0);
        /* A client of node 1 finds node 3 where the map says. */
        assert_int_equal(tkv_status_node(c, 3, &r), TKV_OK);
        assert_int_equal(r.node->node_id, 3);
        tkv_result_release(&r);
        /* Writes after the restart reach node 3's replicas. */
        for (int i = 0; i < 30; i++) {
                char key[16];
                snprintf(key, sizeof key, "mu-%d", i);
                assert_int_equal(tkv_put(c, key, strlen(key), "v", 1, NULL, &r), TKV_OK);
                tkv_result_release(&r);
        }
        for (uint32_t p = 0; p < PARTITIONS; p++) {
                assert_true(cluster_wait_converged(&cl, p, 20000));
        }
        assert_true(daemon_log_count(&cl.nodes[0], "moves from") > 0);
        tkv_client_destroy(c);
}

static void test_cluster_of_one_follows_its_config(void **state)
{
        char sub[300], addr[64];
        struct daemon d;
        uint64_t epoch = 0;
        int status;

        (void)state;
        snprintf(sub, sizeof sub, "%s/alone", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        daemon_setup(&d, sub, 1);
        assert_int_equal(daemon_start(&d, 30000), 0);
        assert_int_equal(one_member(&d, &epoch, addr, sizeof addr), TKV_OK);
        assert_int_equal(epoch, 1);
        assert_string_equal(addr, d.client_addr);
        assert_true(wait_map_file_in(d.data_dir));
        status = daemon_signal(&d, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        snprintf(d.client_addr, sizeof d.client_addr, "127.0.0.1:%u", daemon_free_port());
        assert_int_equal(daemon_start(&d, 30000), 0);
        assert_int_equal(one_member(&d, &epoch, addr, sizeof addr), TKV_OK);
        assert_int_equal(epoch, 2);
        assert_string_equal(addr, d.client_addr);
        assert_int_equal(daemon_stop(&d), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_map_bootstrapped_from_config),
            cmocka_unit_test(test_client_keeps_epoch),
            cmocka_unit_test(test_member_list),
            cmocka_unit_test(test_transfer_leader),
            cmocka_unit_test(test_transfer_leader_refused),
            cmocka_unit_test(test_changed_address_refused),
            cmocka_unit_test(test_member_add),
            cmocka_unit_test(test_joining_member_admitted),
            cmocka_unit_test(test_member_add_refused),
            cmocka_unit_test(test_member_remove),
            cmocka_unit_test(test_removed_member_refused),
            cmocka_unit_test(test_member_added_gets_links),
            cmocka_unit_test(test_member_map_full),
            cmocka_unit_test(test_member_update),
            cmocka_unit_test(test_cluster_of_one_follows_its_config),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
