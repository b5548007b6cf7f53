/* Which partitions this node hosts, and opening and closing their
 * replicas (part of the composition root, with server.c).
 *
 * The cluster map places the replicas (cmap.h): at the start a node opens
 * the partitions its last applied map (data_dir/cluster-map) places on
 * it, or the configuration's placement before any map exists. While it
 * runs it follows the map (server_place, every housekeeping pass once the
 * epoch changed):
 *
 * - a partition the map places here now (a move's target) gets an empty
 *   replica that is not bootstrapped: it has no configuration and waits
 *   for the partition's leader, which adds it (rpc_move.c) and sends it a
 *   snapshot and the log;
 * - a partition the map no longer places here (the move away is done: the
 *   leader recorded it only once this replica was out of the Raft group,
 *   or the move here was cancelled) is stopped (drained, raft closed), and
 *   its directory deleted on the threadpool. The group's memory is kept
 *   until the server closes: raft_uv's may only be freed after the loop
 *   ends (group.c says why).
 *
 * Failure modes: a replica that fails to open (logged; tried again at the
 * next pass), a directory that cannot be deleted (logged; deleted at the
 * next start, which finds it unplaced). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "log.h"
#include "rpc_node.h"
#include "rpc_read.h"
#include "rpc_watch.h"
#include "server.h"
#include "server_internal.h"

/* ------------------------------------------------------------------------ */
/* Opening a replica */

/* Does dir hold Raft state (raft_uv's metadata files)? */
bool server_place_has_state(const char *dir)
{
        char path[CONFIG_PATH_BYTES + 64];
        snprintf(path, sizeof path, "%s/metadata1", dir);
        if (access(path, F_OK) == 0) {
                return true;
        }
        snprintf(path, sizeof path, "%s/metadata2", dir);
        return access(path, F_OK) == 0;
}

void server_place_dir(const struct server *s, uint32_t p, char *dir, size_t len)
{
        if (p == s->n_partitions) {
                /* The metadata group keeps the directory the users' "system
                 * group" had, so that clusters with [auth] keep their users. */
                snprintf(dir, len, "%s/system", s->cfg->data_dir);
        } else {
                snprintf(dir, len, "%s/p%u", s->cfg->data_dir, p);
        }
}

static void server_place_params(struct server *s, uint32_t p, struct group_params *gp)
{
        const struct config *cfg = s->cfg;
        memset(gp, 0, sizeof *gp);
        gp->partition = p;
        uv_random(NULL, NULL, &gp->proposer_seed, sizeof gp->proposer_seed, 0, NULL);
        gp->apply_batch_max = cfg->apply_batch_max;
        gp->barriers_inflight_max = cfg->barriers_inflight_max;
        gp->election_timeout_ms = cfg->election_timeout_ms;
        gp->heartbeat_timeout_ms = cfg->heartbeat_timeout_ms;
        gp->snapshot_threshold = cfg->snapshot_threshold;
        gp->snapshot_bytes = cfg->snapshot_bytes;
        gp->snapshot_trailing = cfg->snapshot_trailing;
        gp->install_snapshot_timeout_ms = cfg->install_snapshot_timeout_ms;
        gp->snapshot_compression = cfg->snapshot_compression != 0;
        gp->segment_bytes = cfg->segment_bytes;
        gp->connect_retry_ms = cfg->connect_retry_ms;
        gp->drain_timeout_ms = cfg->shutdown_timeout_ms;
        gp->session_window = cfg->session_window;
        gp->sessions_max = cfg->sessions_max;
        gp->sessions_bytes_max = cfg->sessions_bytes_max;
        gp->history.entries_max = cfg->history_changes_max;
        gp->history.bytes_max = cfg->history_bytes_max;
        gp->history.retain_ms = cfg->history_retain_ms;
        gp->hlc = &s->node.hlc;
        gp->owner = s;
        gp->fresh_tickets = &s->node.fresh_tickets;
        if (p == s->n_partitions) {
                return; /* the metadata group: no probes, no read fences (rpc_meta.c) */
        }
        gp->applied_cb = rpc_node_applied;
        gp->applied_data = &s->node;
        if (cfg->read_index) {
                gp->confirm_cb = rpc_node_confirm_send;
                gp->confirm_data = &s->node;
        }
}

/* The voters a pristine replica of p is bootstrapped with: at the
 * cluster's first start (no map yet) the configuration's placement; once
 * the map exists, none: a replica opened since (a move's target) starts
 * empty and waits for its leader to send it the log. The metadata group's
 * voters are the configuration's nodes (for a joining node, the map's
 * voters, config_set_nodes), which it never opens. */
static unsigned server_place_voters(const struct server *s, uint32_t p, struct group_voter *voters)
{
        const struct config *cfg = s->cfg;
        unsigned ids[CONFIG_NODES_MAX];
        unsigned n = 0;

        if (p == s->n_partitions) {
                for (unsigned i = 0; i < cfg->n_nodes; i++) {
                        ids[n++] = cfg->nodes[i].id;
                }
        } else if (s->node.meta.map == NULL) {
                n = config_replicas_of(cfg, p, ids);
        }
        for (unsigned i = 0; i < n; i++) {
                const struct config_node *node = &cfg->nodes[config_node_index(cfg, ids[i])];
                voters[i].id = node->id;
                voters[i].address = node->peer_addr;
        }
        return n;
}

int server_place_open(struct server *s, uint32_t p)
{
        const struct config *cfg = s->cfg;
        struct group *g;
        struct group_voter voters[CONFIG_NODES_MAX];
        struct group_params gp;
        unsigned n = server_place_voters(s, p, voters);
        char dir[CONFIG_PATH_BYTES + 16];
        int rv;

        server_place_params(s, p, &gp);
        rv = group_create(&gp, &s->groups[p]);
        if (rv != 0) {
                err_msgf(s->errmsg, "partition %u: %s", p, err_str(rv));
                return rv;
        }
        g = s->groups[p];
        s->n_groups_open++;
        server_place_dir(s, p, dir, sizeof dir);
        rv = group_open(g, s->loop, &s->mux, dir, cfg->node_id, cfg->peer_addr, voters, n);
        if (rv != 0) {
                err_msgf(s->errmsg, "partition %u: %s", p, group_errmsg(g));
        } else if (n > 0 && p < s->n_partitions && !group_voters_are(g, voters, n)) {
                /* Before the map exists nothing moved: the log must agree
                 * with the configuration's placement. */
                err_msgf(s->errmsg,
                         "partition %u: its Raft log has other voters than the "
                         "configuration places on it (nodes or replicas changed?)",
                         p);
                rv = TKV_EINVAL;
        }
        return rv;
}

/* ------------------------------------------------------------------------ */
/* Following the map */

/* Deleting a closed replica's directory, off the loop. */
struct server_place_wipe {
        uv_work_t req;
        struct server *s;
        uint32_t partition;
        int rv;
        char dir[CONFIG_PATH_BYTES + 16];
};

static int server_place_wipe_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void server_place_wipe_work(uv_work_t *req)
{
        struct server_place_wipe *w = (struct server_place_wipe *)req;
        w->rv = nftw(w->dir, server_place_wipe_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : errno;
}

static void server_place_wipe_done(uv_work_t *req, int status)
{
        struct server_place_wipe *w = (struct server_place_wipe *)req;

        w->s->wiping[w->partition] = false;
        if (status != 0 || w->rv != 0) {
                LOGE((int)w->partition, "server: cannot delete %s: %s (deleted at the next start)",
                     w->dir, status != 0 ? uv_strerror(status) : strerror(w->rv));
        } else {
                LOGI((int)w->partition, "server: partition %u's replica deleted (%s)", w->partition,
                     w->dir);
        }
        tkv_free(w);
}

static void server_place_wipe(struct server *s, uint32_t p)
{
        struct server_place_wipe *w = tkv_calloc(1, sizeof *w);

        if (w == NULL) {
                return;
        }
        w->s = s;
        w->partition = p;
        server_place_dir(s, p, w->dir, sizeof w->dir);
        if (uv_queue_work(s->loop, &w->req, server_place_wipe_work, server_place_wipe_done) != 0) {
                tkv_free(w);
                return;
        }
        s->wiping[p] = true;
}

/* Keep g until the server closes (group_destroy only after the loop). */
static void server_place_retire(struct server *s, struct group *g)
{
        if (s->n_retired == s->retired_cap) {
                unsigned cap = s->retired_cap > 0 ? 2 * s->retired_cap : 8;
                struct group **r = tkv_realloc(s->retired, cap * sizeof *r);
                if (r == NULL) {
                        LOGE(-1, "server: out of memory keeping a closed replica; leaking it");
                        return;
                }
                s->retired = r;
                s->retired_cap = cap;
        }
        s->retired[s->n_retired++] = g;
}

static void server_place_closed(struct group *g)
{
        struct server *s = group_owner(g);
        uint32_t p = group_partition(g);

        if (s->groups[p] == g) {
                s->groups[p] = NULL;
        }
        server_place_retire(s, g);
        if (s->node.state == NODE_SERVING && !node_hosts(&s->node, p)) {
                server_place_wipe(s, p);
        }
}

/* The map no longer places p here: close its replica. */
static void server_place_close_replica(struct server *s, uint32_t p)
{
        struct group *g = s->groups[p];
        char what[48];

        cmap_group_name(s->node.meta.map, p, what, sizeof what);
        LOGI((int)p,
             "server: the cluster map (epoch %llu) no longer places %s here: closing its "
             "replica and deleting its data",
             (unsigned long long)s->node.meta.map->epoch, what);
        s->hosted[p] = false;
        if (p == s->n_partitions) {
                /* From now on the map comes from a node that holds one
                 * (rpc_join_flush), and MEMBER goes there. */
                s->node.meta_group = NULL;
        } else {
                s->node.n_hosted--;
                rpc_watch_partition_gone(&s->node, p);
                rpc_read_partition_gone(&s->node, p);
        }
        group_stop(g, server_place_closed);
}

/* The map places p here now: open an empty replica of it. */
static void server_place_open_replica(struct server *s, uint32_t p)
{
        const struct cmap *m = s->node.meta.map;
        int rv;

        char what[48];

        cmap_group_name(m, p, what, sizeof what);
        LOGI((int)p,
             "server: the cluster map (epoch %llu) moves %s's replica from node %u here: "
             "opening it empty; its leader sends it the data",
             (unsigned long long)m->epoch, what, m->parts[p].move_from);
        if (p < s->n_partitions) {
                rpc_watch_partition_gone(&s->node, p);
        }
        rv = server_place_open(s, p);
        if (rv != 0) {
                LOGE((int)p, "server: cannot open %s's replica: %s (retried)", what, s->errmsg);
                group_destroy(s->groups[p]); /* never ran: safe before the loop ends */
                s->groups[p] = NULL;
                return;
        }
        s->hosted[p] = true;
        if (p == s->n_partitions) {
                s->node.meta_group = s->groups[p];
        } else {
                s->node.n_hosted++;
                /* It held p before, perhaps: that state is gone. */
                read_state_restart(&s->reads[p]);
        }
}

void server_place(struct server *s)
{
        const struct cmap *m = s->node.meta.map;
        unsigned ids[CONFIG_REPLICAS_MAX];

        if (m == NULL || s->node.state != NODE_SERVING || m->epoch == s->placed_epoch) {
                return;
        }
        s->placed_epoch = m->epoch;
        /* The partitions, then the metadata group (index n_partitions). */
        for (uint32_t p = 0; p <= s->n_partitions && m->n_partitions == s->n_partitions; p++) {
                bool want = node_hosts(&s->node, p);
                struct group *g = s->groups[p];

                if (p < s->n_partitions) {
                        unsigned n = node_replicas_of(&s->node, p, ids);
                        read_state_set_replicas(&s->reads[p], ids, n);
                }
                if (want && g == NULL && !s->wiping[p]) {
                        server_place_open_replica(s, p);
                } else if (!want && g != NULL && group_running(g) && !group_stopping(g)) {
                        server_place_close_replica(s, p);
                } else if (want != (g != NULL) || s->wiping[p]) {
                        s->placed_epoch = 0; /* closing or deleting still: look again */
                }
        }
}

void server_place_destroy(struct server *s)
{
        for (unsigned i = 0; i < s->n_retired; i++) {
                group_destroy(s->retired[i]);
        }
        tkv_free(s->retired);
        s->retired = NULL;
        s->n_retired = s->retired_cap = 0;
        tkv_free(s->wiping);
        s->wiping = NULL;
}

int server_place_sweep(struct server *s)
{
        char dir[CONFIG_PATH_BYTES + 16];

        if (s->node.meta.map == NULL) {
                return 0;
        }
        for (uint32_t p = 0; p <= s->n_partitions; p++) {
                char what[48];
                server_place_dir(s, p, dir, sizeof dir);
                if (s->hosted[p] || access(dir, F_OK) != 0) {
                        continue;
                }
                cmap_group_name(s->node.meta.map, p, what, sizeof what);
                LOGI((int)p,
                     "server: the cluster map (epoch %llu) does not place %s here: deleting %s",
                     (unsigned long long)s->node.meta.map->epoch, what, dir);
                if (nftw(dir, server_place_wipe_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
                        err_msgf(s->errmsg, "cannot delete %s: %s", dir, strerror(errno));
                        return TKV_EIO;
                }
        }
        return 0;
}
