#define _GNU_SOURCE
#include "cluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void cluster_write_config(struct cluster *c)
{
        FILE *f = fopen(c->conf, "w");
        fprintf(f, "[cluster]\npartitions = %u\nreplicas = %u\nsecret = tunekv-test-secret\n",
                c->partitions, c->replicas);
        if (c->conf_extra != NULL) {
                fprintf(f, "%s\n", c->conf_extra);
        }
        for (unsigned i = 0; i < c->n; i++) {
                fprintf(f, "[node.%u]\nclient_addr = %s\npeer_addr = %s\n", i + 1,
                        c->nodes[i].client_addr, c->nodes[i].peer_addr);
                if (c->zones[i] != NULL && c->zones[i][0] != '\0') {
                        fprintf(f, "zone = %s\n", c->zones[i]);
                }
        }
        fclose(f);
}

int cluster_write_join_conf(const struct cluster *c, char *path, size_t len)
{
        FILE *f;

        snprintf(path, len, "%s/join.conf", c->dir);
        f = fopen(path, "w");
        if (f == NULL) {
                return -1;
        }
        fprintf(f, "[cluster]\npartitions = %u\nreplicas = %u\nsecret = tunekv-test-secret\n",
                c->partitions, c->replicas);
        if (c->conf_extra != NULL) {
                fprintf(f, "%s\n", c->conf_extra);
        }
        return fclose(f) == 0 ? 0 : -1;
}

int cluster_start(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                  unsigned replicas, const char *const *extra)
{
        return cluster_start_zones(c, dir, n, partitions, replicas, extra, NULL);
}

int cluster_start_zones(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                        unsigned replicas, const char *const *extra, const char *const *zones)
{
        return cluster_start_conf(c, dir, n, partitions, replicas, extra, zones, NULL);
}

int cluster_start_conf(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                       unsigned replicas, const char *const *extra, const char *const *zones,
                       const char *conf_extra)
{
        unsigned k = 0;
        memset(c, 0, sizeof *c);
        c->conf_extra = conf_extra;
        /* 0: tunekvd's defaults (one partition per node, min(3, n)
         * replicas), written out: a joining node's file must (join.conf). */
        c->partitions = partitions != 0 ? partitions : n;
        c->replicas = replicas != 0 ? replicas : n < 3 ? n : 3;
        for (unsigned i = 0; zones != NULL && i < n && i < CLUSTER_NODES_MAX; i++) {
                c->zones[i] = zones[i];
        }
        snprintf(c->dir, sizeof c->dir, "%s", dir);
        snprintf(c->conf, sizeof c->conf, "%s/cluster.conf", dir);
        c->n = n;
        c->extra[k++] = "--config";
        c->extra[k++] = c->conf;
        /* Every node starts fresh at once: none can wait for the others'
         * word (identity.h). Restarts keep their data dirs. */
        c->extra[k++] = "--bootstrap";
        c->extra[k++] = "1";
        for (unsigned i = 0; extra != NULL && extra[i] != NULL && k < DAEMON_ARGS_MAX - 1; i++) {
                c->extra[k++] = extra[i];
        }
        for (unsigned i = 0; i < n; i++) {
                daemon_setup(&c->nodes[i], dir, i + 1);
                if (getenv("TKV_NETNS") != NULL) {
                        /* tkv-verify --netns: node i in namespace tkv-n<i>,
                         * 10.77.0.<i> (tests/verify/netns.sh). */
                        struct daemon *d = &c->nodes[i];
                        snprintf(d->netns, sizeof d->netns, "%s%u", getenv("TKV_NETNS"), i + 1);
                        snprintf(d->client_addr, sizeof d->client_addr, "10.77.0.%u:7000", i + 1);
                        snprintf(d->peer_addr, sizeof d->peer_addr, "10.77.0.%u:7100", i + 1);
                }
                memcpy(c->nodes[i].extra, c->extra, sizeof c->extra);
                snprintf(c->endpoints + strlen(c->endpoints),
                         sizeof c->endpoints - strlen(c->endpoints), "%s%s", i > 0 ? "," : "",
                         c->nodes[i].client_addr);
        }
        cluster_write_config(c);
        /* Start them all, then wait: a node is ready once its partitions
         * have leaders, which needs a majority of the others up. */
        for (unsigned i = 0; i < n; i++) {
                if (daemon_spawn(&c->nodes[i]) != 0) {
                        return -1;
                }
        }
        for (unsigned i = 0; i < n; i++) {
                if (daemon_await_ready(&c->nodes[i], 60000) != 0) {
                        return -1;
                }
        }
        return 0;
}

int cluster_restart(struct cluster *c, unsigned id)
{
        return daemon_start(&c->nodes[id - 1], 60000);
}

int cluster_signal(struct cluster *c, unsigned id, int sig, bool wait)
{
        return daemon_signal(&c->nodes[id - 1], sig, wait);
}

int cluster_stop(struct cluster *c)
{
        int bad = 0;
        for (unsigned i = 0; i < c->n; i++) {
                if (c->nodes[i].pid > 0) {
                        kill(c->nodes[i].pid, SIGCONT);
                        kill(c->nodes[i].pid, SIGTERM);
                }
        }
        for (unsigned i = 0; i < c->n; i++) {
                int status;
                if (c->nodes[i].pid <= 0) {
                        continue;
                }
                status = daemon_wait(&c->nodes[i], 60000);
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        fprintf(stderr, "node %u exited with status 0x%x\n", i + 1, status);
                        daemon_dump_log(&c->nodes[i]);
                        bad++;
                }
        }
        return bad;
}

void cluster_kill_all(struct cluster *c)
{
        for (unsigned i = 0; i < c->n; i++) {
                if (c->nodes[i].pid > 0) {
                        daemon_signal(&c->nodes[i], SIGKILL, true);
                }
        }
}

struct tkv_client *cluster_client(struct cluster *c, unsigned id)
{
        struct tkv_options o = {0};
        struct tkv_client *cl = NULL;
        char err[256];
        o.endpoints = id == 0 ? c->endpoints : c->nodes[id - 1].client_addr;
        o.timeout_ms = 10000;
        o.user = c->user;
        o.password = c->password;
        if (tkv_client_create(&o, &cl, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "cluster_client: %s\n", err);
        }
        return cl;
}

int cluster_status(struct cluster *c, unsigned id, struct tkv_result *out)
{
        struct tkv_client *cl = cluster_client(c, id);
        int rv;
        memset(out, 0, sizeof *out);
        if (cl == NULL) {
                return TKV_CONNECT_FAILED;
        }
        rv = tkv_status(cl, out);
        tkv_client_destroy(cl);
        return rv;
}

const struct tkv_partition_status *cluster_partition(const struct tkv_result *status, uint32_t p)
{
        if (status->node == NULL) {
                return NULL;
        }
        for (unsigned i = 0; i < status->node->n_partitions; i++) {
                if (status->node->partitions[i].partition == p) {
                        return &status->node->partitions[i];
                }
        }
        return NULL;
}

uint32_t cluster_leader(struct cluster *c, unsigned id, uint32_t p)
{
        struct tkv_result r;
        const struct tkv_partition_status *ps;
        uint32_t leader = 0;
        if (cluster_status(c, id, &r) == TKV_OK && (ps = cluster_partition(&r, p)) != NULL) {
                leader = ps->leader_id;
        }
        tkv_result_release(&r);
        return leader;
}

/* One look: same applied index and digest on every running replica of p. */
static bool cluster_converged_once(struct cluster *c, uint32_t p)
{
        uint64_t applied = 0, digest = 0;
        bool first = true, leader = false;
        for (unsigned i = 0; i < c->n; i++) {
                struct tkv_result r;
                const struct tkv_partition_status *ps;
                bool same;
                if (!daemon_alive(&c->nodes[i])) {
                        continue;
                }
                if (cluster_status(c, i + 1, &r) != TKV_OK) {
                        tkv_result_release(&r);
                        return false;
                }
                ps = cluster_partition(&r, p);
                if (ps == NULL) {
                        tkv_result_release(&r);
                        continue;
                }
                leader |= ps->role == TKV_ROLE_LEADER && ps->ready;
                same = first || (ps->applied_index == applied && ps->digest == digest);
                applied = ps->applied_index;
                digest = ps->digest;
                first = false;
                tkv_result_release(&r);
                if (!same) {
                        return false;
                }
        }
        return leader;
}

static int64_t cluster_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cluster_wait_converged(struct cluster *c, uint32_t p, int timeout_ms)
{
        struct timespec nap = {0, 50 * 1000 * 1000};
        /* By the clock: one look takes up to a STATUS timeout per node (a
         * stopped one), so counting naps would wait far longer. */
        int64_t end = cluster_now_ms() + timeout_ms;

        do {
                if (cluster_converged_once(c, p)) {
                        return true;
                }
                nanosleep(&nap, NULL);
        } while (cluster_now_ms() < end);
        return false;
}

bool cluster_info(struct cluster *c, unsigned id, struct tkv_result *res)
{
        struct tkv_client *cl = cluster_client(c, id);
        bool ok;

        memset(res, 0, sizeof *res);
        if (cl == NULL) {
                return false;
        }
        ok = tkv_cluster_info(cl, res) == TKV_OK && res->cluster != NULL;
        tkv_client_destroy(cl);
        if (!ok) {
                tkv_result_release(res);
        }
        return ok;
}

unsigned cluster_map_load(const struct tkv_cluster_info *ci, uint32_t id)
{
        unsigned n = 0;

        for (unsigned p = 0; p < ci->n_partitions; p++) {
                for (unsigned i = 0; i < ci->partitions[p].n_replicas; i++) {
                        n += ci->partitions[p].replicas[i] == id;
                }
        }
        return n;
}

bool cluster_map_moving(const struct tkv_cluster_info *ci)
{
        bool any = ci->metadata.move_to != 0;

        for (unsigned p = 0; p < ci->n_partitions; p++) {
                any = any || ci->partitions[p].move_to != 0;
        }
        return any;
}

bool cluster_member_is(struct cluster *c, unsigned at, uint32_t id, enum tkv_member_state want)
{
        struct tkv_client *cl = cluster_client(c, at);
        struct tkv_member_list l;
        bool is = false;

        if (cl == NULL) {
                return false;
        }
        if (tkv_member_list(cl, &l) == TKV_OK) {
                for (size_t i = 0; i < l.n_members; i++) {
                        is = is || (l.members[i].node_id == id && l.members[i].state == want);
                }
                tkv_member_list_release(&l);
        }
        tkv_client_destroy(cl);
        return is;
}

struct tkv_member cluster_member_of(const struct cluster *c, unsigned id)
{
        struct tkv_member m;

        memset(&m, 0, sizeof m);
        m.node_id = id;
        snprintf(m.client_addr, sizeof m.client_addr, "%s", c->nodes[id - 1].client_addr);
        snprintf(m.peer_addr, sizeof m.peer_addr, "%s", c->nodes[id - 1].peer_addr);
        return m;
}
