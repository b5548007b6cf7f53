/* tkv-verify's scenarios (verify.h): the cluster changes shape while the
 * clients and watchers of verify.c run and record the history, which
 * tunekv-check then judges like any other (docs/verification.md).
 *
 * elastic (issue 17's "under a steady load"): three nodes from a file
 * (rebalancing on); nodes 4 and 5 join and the rebalancer spreads the
 * replicas over them; node 1, a bootstrap voter with a metadata replica,
 * is removed (its replicas move away) and stopped; node 2 is killed and
 * its data dir deleted (a dead disk), and `member replace 2 6` hands
 * everything it held to node 6, which starts empty.
 *
 * moves: four nodes, three replicas per partition; round after round a
 * replica of one partition moves to the node that has none, and one of
 * the move's participants is killed (SIGKILL) at one of its steps: the
 * node that drives it (the partition's leader), its source or its
 * target, at each of: just recorded in the map, adding the target as a
 * spare, making it a standby, promoting it to voter, handing the
 * leadership over (the source leads), removing the source, recording the
 * move done. The step is seen by polling every node's STATUS (the step a
 * leader took last); a step can pass before the poll sees it, and the
 * kill then lands later: each round says the step it hit. Each move must
 * complete by itself once the killed node is back (every node's map puts
 * the target in the source's place, and the source deletes its replica),
 * and no two nodes may lead the partition in the same term. The replicas'
 * agreement is checked at the end (the writes never stop before). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cluster.h"
#include "tunekv.h"
#include "verify.h"

#define SETTLE_MS 90000 /* a change must be carried out within this */
#define POLL_MS   1

const char *scenario_conf(enum scenario s)
{
        /* The elastic scenario needs the rebalancer; moves keep the
         * placement as the scenario makes it. */
        return s == SCENARIO_ELASTIC ? "rebalance = 1\nmoves_max = 2" : NULL;
}

/* The scenario could not go on: said on stderr and in the history. */
static int stuck(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int stuck(const char *fmt, ...)
{
        char why[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        nemesis("stuck", "%s", why);
        fprintf(stderr, "tkv-verify: %s\n", why);
        return -1;
}

/* ------------------------------------------------------------------------ */
/* The map, and changes to it */

static bool holds(const struct tkv_partition_info *pi, uint32_t id)
{
        for (unsigned i = 0; i < pi->n_replicas; i++) {
                if (pi->replicas[i] == id) {
                        return true;
                }
        }
        return false;
}

/* A MEMBER change through node `at`, retried while BUSY or UNAVAILABLE
 * (the metadata group electing, or a move of the partition finishing). */
typedef int (*change_fn)(struct tkv_client *c, const unsigned *ids, char *err, size_t len);

static int change(unsigned at, change_fn fn, const unsigned *ids, char *err, size_t len)
{
        int rv = TKV_UNAVAILABLE;

        for (int tries = 0; tries < 600 && (rv == TKV_BUSY || rv == TKV_UNAVAILABLE); tries++) {
                struct tkv_client *c = cluster_client(&cl, at);
                if (c == NULL) {
                        nap_ms(50);
                        continue;
                }
                rv = fn(c, ids, err, len);
                tkv_client_destroy(c);
                if (rv == TKV_BUSY || rv == TKV_UNAVAILABLE) {
                        nap_ms(50);
                }
        }
        return rv;
}

static int do_add(struct tkv_client *c, const unsigned *ids, char *err, size_t len)
{
        struct tkv_member m = cluster_member_of(&cl, ids[0]);
        return tkv_member_add(c, &m, NULL, err, len);
}

static int do_remove(struct tkv_client *c, const unsigned *ids, char *err, size_t len)
{
        return tkv_member_remove(c, ids[0], NULL, err, len);
}

static int do_replace(struct tkv_client *c, const unsigned *ids, char *err, size_t len)
{
        struct tkv_member m = cluster_member_of(&cl, ids[1]);
        return tkv_member_replace(c, ids[0], &m, NULL, err, len);
}

static int do_move(struct tkv_client *c, const unsigned *ids, char *err, size_t len)
{
        return tkv_move(c, ids[0], ids[1], ids[2], NULL, err, len);
}

/* ------------------------------------------------------------------------ */
/* elastic */

static char join_conf[600];
static char join_addrs[CLUSTER_NODES_MAX * 64];

/* Node id's slot set up to start with --join (an empty data dir). */
static void joiner(unsigned id)
{
        struct daemon *d = &cl.nodes[id - 1];

        daemon_setup(d, cl.dir, id);
        d->extra[0] = "--config";
        d->extra[1] = join_conf;
        d->extra[2] = "--join";
        d->extra[3] = join_addrs;
        d->extra[4] = "--election-timeout-ms";
        d->extra[5] = "1000";
        d->extra[6] = NULL;
        if (cl.n < id) {
                cl.n = id;
        }
}

/* Wait (polling node `at`: nothing announces the end of a rebalancing)
 * until no move is in progress and the n members in ids hold the
 * partitions' replicas evenly: no one two more than another (the
 * rebalancer's aim, src/balance.c). */
static bool wait_balanced(unsigned at, const unsigned *ids, unsigned n, char *loads, size_t len)
{
        for (int waited = 0; waited < SETTLE_MS; waited += 100) {
                struct tkv_result res;
                unsigned lo = ~0u, hi = 0;
                bool ok = cluster_info(&cl, at, &res) && !cluster_map_moving(res.cluster);

                loads[0] = '\0';
                for (unsigned i = 0; ok && i < n; i++) {
                        unsigned l = cluster_map_load(res.cluster, ids[i]);
                        size_t used = strlen(loads);
                        lo = l < lo ? l : lo;
                        hi = l > hi ? l : hi;
                        snprintf(loads + used, len - used, "%sn%u %u", i > 0 ? ", " : "", ids[i],
                                 l);
                }
                if (ok) {
                        tkv_result_release(&res);
                        if (hi <= lo + 1) {
                                return true;
                        }
                }
                nap_ms(100);
        }
        return false;
}

static bool wait_member_state(unsigned at, uint32_t id, enum tkv_member_state want)
{
        for (int waited = 0; waited < SETTLE_MS; waited += 100) {
                if (cluster_member_is(&cl, at, id, want)) {
                        return true;
                }
                nap_ms(100);
        }
        return false;
}

static int elastic_join(unsigned id)
{
        unsigned ids[CLUSTER_NODES_MAX];
        char err[256] = "";
        int rv;

        nemesis("join", "n%u", id);
        joiner(id);
        rv = change(3, do_add, &id, err, sizeof err);
        if (rv != TKV_OK) {
                return stuck("member add %u: %s (%s)", id, tkv_status_name(rv), err);
        }
        if (daemon_start(&cl.nodes[id - 1], 60000) != 0) {
                return stuck("node %u did not start with --join", id);
        }
        for (unsigned i = 0; i < id; i++) {
                ids[i] = i + 1;
        }
        members_set(ids, id);
        return 0;
}

int scenario_elastic(unsigned *seed)
{
        static const unsigned five[] = {1, 2, 3, 4, 5}, without_1[] = {2, 3, 4, 5},
                              without_2[] = {3, 4, 5}, last[] = {3, 4, 5, 6};
        static const unsigned replace_ids[] = {2, 6};
        static const unsigned one = 1;
        char loads[256], err[256] = "";
        int rv;

        (void)seed;
        if (cluster_write_join_conf(&cl, join_conf, sizeof join_conf) != 0) {
                return stuck("cannot write the joining nodes' config file");
        }
        snprintf(join_addrs, sizeof join_addrs, "%s,%s,%s", cl.nodes[0].peer_addr,
                 cl.nodes[1].peer_addr, cl.nodes[2].peer_addr);
        nap_ms(2000);

        /* Two nodes join; the rebalancer gives them replicas. */
        if (elastic_join(4) != 0 || elastic_join(5) != 0) {
                return -1;
        }
        if (!wait_balanced(3, five, 5, loads, sizeof loads)) {
                return stuck("the rebalancer did not spread the replicas over 5 nodes: %s", loads);
        }
        nemesis("balanced", "%s", loads);
        nap_ms(2000);

        /* Node 1 leaves: clients stop pinning reads to it first (a read
         * pinned to a node that holds no replica is an error). */
        members_set(without_1, 4);
        nemesis("remove", "n1");
        rv = change(3, do_remove, &one, err, sizeof err);
        if (rv != TKV_OK) {
                return stuck("member remove 1: %s (%s)", tkv_status_name(rv), err);
        }
        if (!wait_member_state(3, 1, TKV_MEMBER_REMOVED)) {
                return stuck("node 1 was not removed");
        }
        if (!wait_balanced(3, without_1, 4, loads, sizeof loads)) {
                return stuck("replicas not spread after node 1 left: %s", loads);
        }
        nemesis("removed", "n1; %s", loads);
        cluster_signal(&cl, 1, SIGTERM, true);
        nemesis("stop", "n1");
        nap_ms(2000);

        /* Node 2's disk dies; node 6, empty, replaces it. */
        members_set(without_2, 3);
        cluster_signal(&cl, 2, SIGKILL, true);
        {
                char cmd[sizeof cl.nodes[1].data_dir + 16];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", cl.nodes[1].data_dir);
                if (system(cmd) != 0) {
                        return stuck("cannot delete node 2's data dir");
                }
        }
        nemesis("kill", "n2, and its data dir deleted");
        nemesis("replace", "n2 by n6 (empty)");
        joiner(6);
        rv = change(3, do_replace, replace_ids, err, sizeof err);
        if (rv != TKV_OK) {
                return stuck("member replace 2 6: %s (%s)", tkv_status_name(rv), err);
        }
        if (daemon_start(&cl.nodes[5], 60000) != 0) {
                return stuck("node 6 did not start with --join");
        }
        members_set(last, 4);
        if (!wait_member_state(3, 2, TKV_MEMBER_REMOVED)) {
                return stuck("node 2 was not removed");
        }
        if (!wait_balanced(3, last, 4, loads, sizeof loads)) {
                return stuck("replicas not spread after node 6 replaced node 2: %s", loads);
        }
        nemesis("replaced", "n2 by n6; %s", loads);
        return 0;
}

/* ------------------------------------------------------------------------ */
/* moves */

enum role { ROLE_DRIVER, ROLE_SOURCE, ROLE_TARGET, ROLES };

static const char *const role_names[ROLES] = {"driver", "source", "target"};

/* The steps a kill aims at: how the driver's STATUS names them (rpc_move.c;
 * "" the move just recorded, before any step). */
static const char *const steps[] = {
    "",
    "adding the new replica",
    "sending the new replica the log",
    "promoting the new replica to voter",
    "handing the leadership",
    "removing the old replica",
    "recording the move done",
};
#define STEPS (sizeof steps / sizeof steps[0])

/* One look at every running node's STATUS of partition p: the step a
 * leader of it reports (into step), and whether two of them lead in one
 * term. The driver's id, or 0 when no leader reports a step. */
struct look {
        struct tkv_client *c[CLUSTER_NODES_MAX];
        char step[96];
        unsigned driver;
        bool split; /* two leaders in one term */
        char split_why[128];
};

/* A client of node id alone with a short deadline: a node that is slow to
 * answer (restarting) must not hold the poll up while steps pass. */
static struct tkv_client *look_client(unsigned id)
{
        struct tkv_options co = {0};
        struct tkv_client *c = NULL;
        char err[256];

        co.endpoints = cl.nodes[id - 1].client_addr;
        co.timeout_ms = 200;
        co.connect_timeout_ms = 100;
        if (tkv_client_create(&co, &c, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "tkv-verify: client of node %u: %s\n", id, err);
        }
        return c;
}

static void look_open(struct look *lk)
{
        memset(lk, 0, sizeof *lk);
        for (unsigned id = 1; id <= o.nodes; id++) {
                lk->c[id - 1] = look_client(id);
        }
}

static void look_close(struct look *lk)
{
        for (unsigned id = 1; id <= o.nodes; id++) {
                if (lk->c[id - 1] != NULL) {
                        tkv_client_destroy(lk->c[id - 1]);
                }
        }
}

static void look_once(struct look *lk, uint32_t p)
{
        uint64_t leader_term[CLUSTER_NODES_MAX] = {0};

        lk->driver = 0;
        lk->step[0] = '\0';
        for (unsigned id = 1; id <= o.nodes; id++) {
                const struct tkv_partition_status *ps;
                struct tkv_result res;

                if (lk->c[id - 1] == NULL || !daemon_alive(&cl.nodes[id - 1]) ||
                    tkv_status(lk->c[id - 1], &res) != TKV_OK) {
                        continue;
                }
                ps = cluster_partition(&res, p);
                if (ps != NULL && ps->role == TKV_ROLE_LEADER) {
                        leader_term[id - 1] = ps->term;
                        for (unsigned j = 1; j < id; j++) {
                                if (leader_term[j - 1] == ps->term) {
                                        lk->split = true;
                                        snprintf(lk->split_why, sizeof lk->split_why,
                                                 "nodes %u and %u both lead partition %u in "
                                                 "term %llu",
                                                 j, id, p, (unsigned long long)ps->term);
                                }
                        }
                        if (ps->move_step[0] != '\0') {
                                lk->driver = id;
                                snprintf(lk->step, sizeof lk->step, "%s", ps->move_step);
                        }
                }
                tkv_result_release(&res);
        }
}

/* Every node's map: p has no move, holds `to` and not `from`; and the
 * source's replica directory is gone. */
static bool move_settled(uint32_t p, unsigned from, unsigned to)
{
        char path[sizeof cl.nodes[0].data_dir + 16];
        struct stat st;

        for (unsigned id = 1; id <= o.nodes; id++) {
                struct tkv_result res;
                bool ok = cluster_info(&cl, id, &res) && p < res.cluster->n_partitions;
                if (ok) {
                        const struct tkv_partition_info *pi = &res.cluster->partitions[p];
                        ok = pi->move_to == 0 && holds(pi, to) && !holds(pi, from) &&
                             pi->n_replicas == 3;
                        tkv_result_release(&res);
                }
                if (!ok) {
                        return false;
                }
        }
        snprintf(path, sizeof path, "%.600s/p%u", cl.nodes[from - 1].data_dir, p);
        return stat(path, &st) != 0;
}

/* Does a node's map say p has no move (any node's: the first that
 * answers)? Between two drivers (a hand-over) no leader reports a step. */
static bool move_recorded_done(uint32_t p)
{
        for (unsigned id = 1; id <= o.nodes; id++) {
                struct tkv_result res;
                bool done;
                if (!daemon_alive(&cl.nodes[id - 1]) || !cluster_info(&cl, id, &res)) {
                        continue;
                }
                done = p < res.cluster->n_partitions && res.cluster->partitions[p].move_to == 0;
                tkv_result_release(&res);
                return done;
        }
        return false;
}

/* p's leader, as some node knows it (a node just restarted may not yet):
 * polled, up to SETTLE_MS. 0 if none. */
static unsigned leader_of(uint32_t p)
{
        for (int waited = 0; waited < SETTLE_MS; waited += 50) {
                for (unsigned id = 1; id <= o.nodes; id++) {
                        uint32_t leader = cluster_leader(&cl, id, p);
                        if (leader != 0) {
                                return leader;
                        }
                }
                nap_ms(50);
        }
        return 0;
}

/* One round: move a replica of p to the node without one, and kill -9
 * the participant `role` at step `want`. */
static int moves_round(unsigned *seed, uint32_t p, unsigned want, enum role role)
{
        struct tkv_result res;
        struct look lk;
        unsigned ids[3], from = 0, to = 0, leader, victim, waited;
        bool hit = false;
        char err[256] = "", seen[96] = "";
        int rv;

        if (!cluster_info(&cl, 1 + rnd(seed, o.nodes), &res) || p >= res.cluster->n_partitions) {
                return stuck("no cluster map");
        }
        leader = leader_of(p);
        for (unsigned id = 1; id <= o.nodes; id++) {
                if (!holds(&res.cluster->partitions[p], id)) {
                        to = id;
                }
        }
        /* Handing over needs the source to lead; otherwise any replica. */
        if (strcmp(steps[want], "handing the leadership") == 0) {
                from = leader;
        } else {
                const struct tkv_partition_info *pi = &res.cluster->partitions[p];
                from = pi->replicas[rnd(seed, pi->n_replicas)];
        }
        tkv_result_release(&res);
        if (to == 0 || from == 0) {
                return stuck("partition %u: no move to make (leader %u)", p, leader);
        }
        ids[0] = p;
        ids[1] = from;
        ids[2] = to;
        nemesis("move", "partition %u from n%u to n%u; kill -9 the %s at \"%s\"", p, from, to,
                role_names[role], want == 0 ? "recorded" : steps[want]);
        look_open(&lk);
        rv = change(to, do_move, ids, err, sizeof err);
        if (rv != TKV_OK) {
                look_close(&lk);
                return stuck("move %u from %u to %u: %s (%s)", p, from, to, tkv_status_name(rv),
                             err);
        }
        /* Poll until the driver reports the step (or a later one: missed). */
        for (waited = 0; want > 0 && waited < SETTLE_MS; waited += POLL_MS) {
                look_once(&lk, p);
                if (lk.step[0] != '\0') {
                        snprintf(seen, sizeof seen, "%s", lk.step);
                        leader = lk.driver;
                }
                if (strncmp(lk.step, steps[want], strlen(steps[want])) == 0) {
                        hit = true;
                        break;
                }
                if (seen[0] != '\0' && lk.step[0] == '\0' && move_recorded_done(p)) {
                        break; /* done before the poll saw the step */
                }
                nap_ms(POLL_MS);
        }
        hit = hit || want == 0;
        victim = role == ROLE_DRIVER ? leader : role == ROLE_SOURCE ? from : to;
        if (victim == 0) {
                look_close(&lk);
                return stuck("partition %u: no leader to kill", p);
        }
        cluster_signal(&cl, victim, SIGKILL, true);
        nemesis("kill", "n%u, the %s of partition %u's move, %s \"%s\"", victim, role_names[role],
                p, hit ? "at" : "missed the step, after",
                hit ? (want == 0 ? "recorded" : steps[want]) : seen);
        nap_ms(1000 + rnd(seed, 1000));
        if (cluster_restart(&cl, victim) != 0) {
                look_close(&lk);
                return stuck("node %u did not restart", victim);
        }
        nemesis("restart", "n%u", victim);
        /* The move completes by itself; meanwhile no two leaders share a
         * term. */
        for (waited = 0; waited < SETTLE_MS && !move_settled(p, from, to); waited += 50) {
                look_once(&lk, p);
                nap_ms(50);
        }
        look_once(&lk, p);
        look_close(&lk);
        if (lk.split) {
                return stuck("%s", lk.split_why);
        }
        if (waited >= SETTLE_MS) {
                return stuck("partition %u's move from %u to %u did not complete", p, from, to);
        }
        nemesis("moved", "partition %u from n%u to n%u (%s)", p, from, to,
                hit ? "the kill hit its step" : "the kill missed its step");
        return hit ? 1 : 0;
}

int scenario_moves(unsigned *seed)
{
        unsigned rounds = 0, hits = 0;

        nap_ms(2000);
        for (unsigned want = 0; want < STEPS; want++) {
                for (unsigned role = 0; role < ROLES; role++) {
                        uint32_t p = rounds++ % o.partitions;
                        int rv = moves_round(seed, p, want, (enum role)role);
                        if (rv < 0) {
                                return -1;
                        }
                        hits += (unsigned)rv;
                        nap_ms(500);
                }
        }
        nemesis("moves", "%u moves, %u kills at the step aimed at", rounds, hits);
        return 0;
}
