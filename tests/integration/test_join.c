/* tunekvd --join (issue 17, joining): a node that is not in any member's
 * file joins a running cluster of three real tunekvd processes (3
 * partitions of 3 replicas) after `member add`:
 *
 * - its file names only itself and the [cluster] section; it asks a
 *   member for the cluster map over the peer channel, starts, and serves
 *   clients: PUT and GET through it (by hand, on its client port, so that
 *   no client routing goes around it) at LINEARIZABLE and EVENTUAL, each
 *   forwarded to the partitions' replicas (it hosts none); its STATUS
 *   carries the map's epoch, and its member list the four members; a
 *   later change of the map reaches it; it restarts with the same --join;
 * - a node id never added is refused at start, saying why, and so is a
 *   removed member (whose refusal the member logs too), and a member
 *   started at other addresses than the map gives it.
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
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"

#define NODES      3
#define PARTITIONS 3
#define KEYS       12

static char dir[256];
static char join_conf[320];
static struct cluster cl;

/* CLUSTER_INFO's epoch at node id (0: none, or no answer). */
static uint64_t epoch_at(unsigned id)
{
        struct tkv_client *c = cluster_client(&cl, id);
        struct tkv_result res;
        uint64_t epoch = 0;

        assert_non_null(c);
        memset(&res, 0, sizeof res);
        if (tkv_cluster_info(c, &res) == TKV_OK && res.cluster != NULL) {
                epoch = res.cluster->epoch;
        }
        tkv_result_release(&res);
        tkv_client_destroy(c);
        return epoch;
}

/* Wait (up to 20 s, polling every 20 ms: a replica applying an entry
 * sends no event to await) until every node's map is at least at want. */
static bool wait_epoch_everywhere(uint64_t want)
{
        struct timespec nap = {0, 20 * 1000 * 1000};

        for (int waited = 0; waited < 20000; waited += 20) {
                unsigned at = 0;
                for (unsigned id = 1; id <= NODES; id++) {
                        at += epoch_at(id) >= want;
                }
                if (at == NODES) {
                        return true;
                }
                nanosleep(&nap, NULL);
        }
        return false;
}

static int setup(void **state)
{
        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-join") != 0 ||
            cluster_start(&cl, dir, NODES, PARTITIONS, 3, NULL) != 0) {
                return -1;
        }
        /* A joining node's file: the [cluster] section, written out, and
         * no [node.N] section (its flags give its own id and addresses). */
        if (cluster_write_join_conf(&cl, join_conf, sizeof join_conf) != 0) {
                return -1;
        }
        return wait_epoch_everywhere(1) ? 0 : -1;
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

/* A daemon for node id with --join naming nodes 2 and 1's peer ports. */
static void joiner_setup(struct daemon *d, unsigned id, char *join, size_t len)
{
        daemon_setup(d, dir, id);
        snprintf(join, len, "%s,%s", cl.nodes[1].peer_addr, cl.nodes[0].peer_addr);
        d->extra[0] = "--config";
        d->extra[1] = join_conf;
        d->extra[2] = "--join";
        d->extra[3] = join;
        d->extra[4] = NULL;
}

/* member add id at d's addresses through node 1; the new epoch. */
static uint64_t add_member(const struct daemon *d, unsigned id)
{
        struct tkv_client *c = cluster_client(&cl, 1);
        struct tkv_member m;
        uint64_t epoch = 0;
        char err[256];

        assert_non_null(c);
        memset(&m, 0, sizeof m);
        m.node_id = id;
        snprintf(m.client_addr, sizeof m.client_addr, "%s", d->client_addr);
        snprintf(m.peer_addr, sizeof m.peer_addr, "%s", d->peer_addr);
        if (tkv_member_add(c, &m, &epoch, err, sizeof err) != TKV_OK) {
                fail_msg("member add %u: %s", id, err);
        }
        tkv_client_destroy(c);
        assert_true(wait_epoch_everywhere(epoch));
        return epoch;
}

/* Start d, which must refuse to start (exit 1) with why in its log. */
static void assert_refused(struct daemon *d, const char *why)
{
        int status;

        assert_int_equal(daemon_spawn(d), 0);
        status = daemon_wait(d, 30000);
        close(d->ready_fd);
        d->ready_fd = -1;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        if (daemon_log_count(d, why) == 0) {
                daemon_dump_log(d);
                fail_msg("node %u's log lacks \"%s\"", d->node_id, why);
        }
}

/* PUT key = value on fd (the joiner's client port), acknowledged once
 * every replica applied it, so that an EVENTUAL read anywhere sees it. */
static void put_on(int fd, uint64_t id, const char *key, const char *value)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PutRequest put = TUNEKV__V1__PUT_REQUEST__INIT;
        Tunekv__V1__WriteOptions wo = TUNEKV__V1__WRITE_OPTIONS__INIT;
        Tunekv__V1__Response *r;

        req.id = id;
        req.body_case = TUNEKV__V1__REQUEST__BODY_PUT;
        req.put = &put;
        put.key.data = (uint8_t *)key;
        put.key.len = strlen(key);
        put.value.data = (uint8_t *)value;
        put.value.len = strlen(value);
        put.options = &wo;
        wo.ack = TUNEKV__V1__ACK__ACK_ALL_REPLICAS;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, id);
        if (r->status != TUNEKV__V1__STATUS__STATUS_OK) {
                fail_msg("PUT %s through the joiner: status %d (%s)", key, r->status, r->message);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* GET key at level on fd: found, with value. */
static void get_on(int fd, uint64_t id, const char *key, const char *value,
                   Tunekv__V1__Consistency level)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetRequest get = TUNEKV__V1__GET_REQUEST__INIT;
        Tunekv__V1__ReadOptions ro = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__Response *r;

        req.id = id;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET;
        req.get = &get;
        get.key.data = (uint8_t *)key;
        get.key.len = strlen(key);
        get.options = &ro;
        ro.level = level;
        raw_send_request(fd, &req);
        r = raw_read_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, id);
        if (r->status != TUNEKV__V1__STATUS__STATUS_OK) {
                fail_msg("GET %s (level %d) through the joiner: status %d (%s)", key, level,
                         r->status, r->message);
        }
        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_GET);
        assert_true(r->get->found);
        assert_int_equal(r->get->value.len, strlen(value));
        assert_memory_equal(r->get->value.data, value, strlen(value));
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* The joiner's STATUS: the map's epoch; its member list: the four
 * members, itself joining at its addresses. */
static void assert_joiner_view(const struct daemon *d, uint64_t epoch)
{
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        struct tkv_member_list l;
        struct tkv_result res;
        char err[256];

        o.endpoints = d->client_addr;
        o.timeout_ms = 10000;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        memset(&res, 0, sizeof res);
        assert_int_equal(tkv_status(c, &res), TKV_OK);
        assert_non_null(res.node);
        assert_int_equal(res.node->node_id, d->node_id);
        assert_int_equal(res.node->epoch, epoch);
        assert_true(res.node->forwarded >= 3 * KEYS); /* it hosts nothing */
        tkv_result_release(&res);
        assert_int_equal(tkv_member_list(c, &l), TKV_OK);
        assert_int_equal(l.epoch, epoch);
        assert_int_equal(l.n_members, NODES + 1);
        assert_int_equal(l.members[NODES].node_id, d->node_id);
        assert_int_equal(l.members[NODES].state, TKV_MEMBER_JOINING);
        assert_string_equal(l.members[NODES].client_addr, d->client_addr);
        assert_string_equal(l.members[NODES].peer_addr, d->peer_addr);
        tkv_member_list_release(&l);
        tkv_client_destroy(c);
}

/* Wait (up to 20 s, polling every 20 ms: the joining node learns a new
 * map at its next ask, with no event to await) until d's member list is
 * at epoch want with n members. */
static bool wait_members_at(const struct daemon *d, uint64_t want, size_t n)
{
        struct timespec nap = {0, 20 * 1000 * 1000};
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256];
        bool at = false;

        o.endpoints = d->client_addr;
        o.timeout_ms = 10000;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        for (int waited = 0; waited < 20000 && !at; waited += 20) {
                struct tkv_member_list l;
                if (tkv_member_list(c, &l) == TKV_OK) {
                        at = l.epoch == want && l.n_members == n;
                }
                tkv_member_list_release(&l);
                if (!at) {
                        nanosleep(&nap, NULL);
                }
        }
        tkv_client_destroy(c);
        return at;
}

/* member add 4, then tunekvd --join: node 4 starts from its own file and
 * the map, and serves writes and reads at both ends of the levels. */
static void test_joined_node_serves(void **state)
{
        struct daemon d;
        char join[160], key[32], value[32];
        uint64_t epoch, id = 1;
        int fd, status;

        (void)state;
        joiner_setup(&d, 4, join, sizeof join);
        epoch = add_member(&d, 4);
        assert_int_equal(daemon_start(&d, 30000), 0);
        assert_true(daemon_log_count(&d, "server: joining: cluster map epoch") == 1);
        fd = raw_connect_addr(d.client_addr, false);
        for (int i = 0; i < KEYS; i++) {
                snprintf(key, sizeof key, "join-%d", i);
                snprintf(value, sizeof value, "v%d", i);
                put_on(fd, id++, key, value);
                get_on(fd, id++, key, value, TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE);
                get_on(fd, id++, key, value, TUNEKV__V1__CONSISTENCY__CONSISTENCY_EVENTUAL);
        }
        close(fd);
        assert_joiner_view(&d, epoch);
        /* A later change of the map reaches it (it asks a voter every
         * second): member add of node 30, then its member list. */
        {
                struct daemon other;
                uint64_t later;
                daemon_setup(&other, dir, 30);
                later = add_member(&other, 30);
                assert_true(wait_members_at(&d, later, NODES + 2));
        }
        /* Its configuration agrees with the map it fetched. */
        assert_int_equal(daemon_log_count(&d, "disagrees with the cluster map"), 0);
        /* Restarted with the same --join on its initialised data dir, it
         * fetches the map again and serves what it wrote. */
        status = daemon_signal(&d, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(daemon_start(&d, 30000), 0);
        assert_int_equal(daemon_log_count(&d, "server: joining: cluster map epoch"), 2);
        fd = raw_connect_addr(d.client_addr, false);
        get_on(fd, id++, "join-0", "v0", TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE);
        close(fd);
        assert_int_equal(daemon_stop(&d), 0);
}

/* A node never added: its HELLO gets no CHALLENGE from any member, and
 * it refuses to start, saying what to check. */
static void test_join_not_added_refused(void **state)
{
        struct daemon d;
        char join[160];

        (void)state;
        joiner_setup(&d, 20, join, sizeof join);
        assert_refused(&d, "this node is no member of its cluster map");
}

/* A removed member: refused by the members (who log why) and so at start. */
static void test_join_removed_refused(void **state)
{
        struct tkv_client *c = cluster_client(&cl, 2);
        struct daemon d;
        char join[160], err[256];
        uint64_t epoch = 0;

        (void)state;
        joiner_setup(&d, 21, join, sizeof join);
        (void)add_member(&d, 21);
        assert_non_null(c);
        assert_int_equal(tkv_member_remove(c, 21, &epoch, err, sizeof err), TKV_OK);
        tkv_client_destroy(c);
        assert_true(wait_epoch_everywhere(epoch));
        assert_refused(&d, "this node is no member of its cluster map");
        assert_true(daemon_log_count(&cl.nodes[1], "refusing node 21's peer handshake: it was "
                                                   "removed") > 0);
}

/* A member started at other addresses than the map gives it. */
static void test_join_other_addresses_refused(void **state)
{
        struct daemon d;
        char join[160];

        (void)state;
        joiner_setup(&d, 22, join, sizeof join);
        (void)add_member(&d, 22);
        snprintf(d.client_addr, sizeof d.client_addr, "127.0.0.1:%u", daemon_free_port());
        assert_refused(&d, "gives node 22 client address");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_joined_node_serves),
            cmocka_unit_test(test_join_not_added_refused),
            cmocka_unit_test(test_join_removed_refused),
            cmocka_unit_test(test_join_other_addresses_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
