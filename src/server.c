/* Node lifecycle.
 *
 *   server_init -> server_start: check the data dir's owner, listen for
 *   peers, open and start every local group (before serving: raft_init
 *   stalls the loop ~33 ms per group, RAFT-NOTES B4), listen for clients.
 *
 *   Every loop iteration (prepare, before polling, and check, after it):
 *   server_flush runs each group's flush (batched proposals, barriers, role
 *   changes), writes every connection's queued answers, reports readiness
 *   and moves a shutdown along. Work queued by timers is flushed in
 *   prepare, work queued by I/O in check, so nothing waits for the next
 *   event.
 *
 *   SIGTERM/SIGINT -> server_stop: DRAINING (stop accepting and reading,
 *   let requests in progress finish, at most shutdown_timeout_ms, then
 *   answer the rest) -> STOPPING (close connections after their answers are
 *   written; stop every group: drain the log to disk, raft_close) -> close
 *   the peer transport and our handles -> uv_run returns. */
#include "server.h"
#include "server_internal.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "conn.h"
#include "heap.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "rpc.h"
#include "rpc_forward.h"
#include "rpc_join.h"
#include "rpc_meta.h"
#include "rpc_move.h"
#include "rpc_node.h"
#include "rpc_watch.h"

#define SERVER_LAG_PERIOD_MS    100
#define SERVER_METRICS_TICKS    10 /* the exposition is rebuilt every second */
#define SERVER_DISK_CHECK_TICKS 5  /* lag ticks: the data dir's free space twice a second */
#define SERVER_HOUSEKEEPING_MS  10
/* Node links: the configuration's nodes, then members the map names. */
#define SERVER_PEERS_MAX (CONFIG_NODES_MAX + CMAP_MEMBERS_MAX)

static void server_flush(struct server *s);
static void server_flush_peers(struct server *s, uint64_t now);
static struct peer *server_peer_at(struct server *s, unsigned i);

/* Connections hand every request up to dispatch (conn.h). */
static const struct conn_handlers server_conn_handlers = {rpc_dispatch, rpc_answer_frame_error,
                                                          rpc_watch_conn_closed};

/* Leaders are spread by placement: the preferred leader of partition p is
 * its first replica, node (p % N) in id order, so P partitions give each
 * node P/N of them. A leader that is not preferred hands over once the
 * preferred node is alive and caught up, also after it comes back. */
/* A follower whose leader's node is dead (its peer link broke, or it has
 * not answered pings for three heartbeats) need not wait for the random
 * part of its election timeout (group_expedite_election). */
static void server_watch_leader(struct server *s, uint32_t p, uint64_t now)
{
        struct group *g = s->groups[p];
        unsigned ids[CONFIG_REPLICAS_MAX];
        unsigned n = node_replicas_of(&s->node, p, ids), rank = 0;
        uint64_t leader = group_leader_id(g);
        struct peer *peer = node_peer(&s->node, (unsigned)leader);

        if (leader == 0 || peer == NULL || group_is_leader(g) ||
            peer_alive(peer, now, 3 * (uint64_t)s->cfg->heartbeat_timeout_ms)) {
                return;
        }
        for (unsigned i = 0; i < n && ids[i] != s->cfg->node_id; i++) {
                rank += ids[i] != leader;
        }
        group_expedite_election(g, rank);
}

static void server_balance(struct server *s, uint32_t p, uint64_t now)
{
        const struct cmap *m = s->node.meta.map;
        unsigned ids[CONFIG_REPLICAS_MAX], preferred;
        struct peer *peer;
        bool alive;

        if (s->node.meta.pinned[p]) {
                return; /* transfer-leader chose this node (rpc_meta.c) */
        }
        node_replicas_of(&s->node, p, ids);
        preferred = ids[0];
        if (m != NULL && p < m->n_partitions && m->parts[p].move_from == preferred) {
                /* Leaving: its successor leads in its place, or the
                 * balancing would hand the leadership back to the replica
                 * the move takes it from (rpc_move.c). */
                preferred = m->parts[p].move_to;
        }
        peer = node_peer(&s->node, preferred);
        alive = peer != NULL && peer_alive(peer, now, s->cfg->election_timeout_ms);
        group_balance(s->groups[p], preferred, alive, now);
}

/* ------------------------------------------------------------------------ */
/* Deadlines */

static void server_deadline_fire(uv_timer_t *timer)
{
        struct server *s = timer->data;
        uint64_t now = uv_now(s->loop);
        struct deadline *d;

        s->deadline_armed_ms = 0;
        while ((d = deadline_heap_min(&s->node.deadlines)) != NULL && d->at_ms <= now) {
                deadline_heap_remove(&s->node.deadlines, d);
                rpc_expire(d);
        }
        server_flush(s);
}

static void server_deadline_arm(struct server *s)
{
        struct deadline *d = deadline_heap_min(&s->node.deadlines);
        uint64_t now = uv_now(s->loop);

        if (d == NULL || s->node.state == NODE_STOPPED) {
                return;
        }
        if (s->deadline_armed_ms != 0 && s->deadline_armed_ms <= d->at_ms) {
                return;
        }
        s->deadline_armed_ms = d->at_ms;
        uv_timer_start(&s->deadline_timer, server_deadline_fire,
                       d->at_ms > now ? d->at_ms - now : 0, 0);
}

/* ------------------------------------------------------------------------ */
/* Groups */

/* Group p (a key partition's, or the metadata group at n_partitions) if it
 * is open here and running, else NULL. */
static struct group *server_group(const struct server *s, uint32_t p)
{
        struct group *g = p < s->n_groups ? s->groups[p] : NULL;
        return g != NULL && group_running(g) ? g : NULL;
}

/* Is this node the target of p's move in progress? Its replica may be
 * empty still: it only receives the data from p's leader. */
static bool server_moving_here(const struct server *s, uint32_t p)
{
        const struct cmap *m = s->node.meta.map;
        return m != NULL && p < m->n_partitions && m->parts[p].move_to == s->cfg->node_id;
}

/* identity.h: a node never bootstraps over state it lost. An initialised
 * node needs every hosted partition's Raft state; a fresh directory must
 * hold none, and no peer may remember this node. */
static int server_check_identity(struct server *s)
{
        const struct config *cfg = s->cfg;
        char dir[CONFIG_PATH_BYTES + 16];
        struct identity_probe q;
        int rv = identity_load(&s->identity, cfg, s->errmsg);

        if (rv != 0) {
                return rv;
        }
        s->identity.loop = s->loop;
        for (uint32_t p = 0; p < s->n_partitions; p++) {
                bool has;
                if (!s->hosted[p]) {
                        continue;
                }
                server_place_dir(s, p, dir, sizeof dir);
                has = server_place_has_state(dir);
                if (s->identity.fresh && has) {
                        err_msgf(s->errmsg,
                                 "data dir %s has no tunekv.node but %s holds Raft "
                                 "state: refusing to guess whose it is",
                                 cfg->data_dir, dir);
                        return TKV_EINVAL;
                }
                if (!s->identity.fresh && !has && !server_moving_here(s, p)) {
                        err_msgf(s->errmsg,
                                 "partition %u: %s has no Raft state though this node "
                                 "was initialised: its data was lost; refusing to "
                                 "bootstrap it again",
                                 p, dir);
                        return TKV_EINVAL;
                }
        }
        if (!s->identity.fresh) {
                return 0;
        }
        q.cfg = cfg;
        q.ring = &s->mux.ring;
        q.layout = &s->mux.layout;
        q.cluster_id = s->mux.cluster_id;
        q.group = TRANSPORT_PROBE_GROUP;
        q.incarnation = s->identity.incarnation;
        q.tls = s->mux.tls.client;
        rv = identity_probe(&q, s->errmsg);
        return rv != 0 ? rv : identity_commit(&s->identity, cfg, s->errmsg);
}

/* The cluster map this node applied last (data_dir/cluster-map, written
 * by rpc_meta.c) against the configuration, before anything else runs:
 * the map is what the cluster agreed on, so a configuration that gives a
 * member other addresses is refused rather than trusted, and any other
 * difference is logged loudly. A node that never learned the map (a fresh
 * one, or one from before the map existed) has nothing to compare. The
 * map read is kept (node.meta.map): it places the replicas at the start.
 * Runs in server_init, before the data dir is checked or created. */
static int server_check_map(struct server *s)
{
        struct cmap *m = NULL;
        char why[320];
        int rv = cmap_file_read(s->cfg->data_dir, &m, s->errmsg);

        if (rv == TKV_ENOTFOUND) {
                return 0;
        }
        if (rv != 0) {
                return rv;
        }
        switch (cmap_check_config(m, s->cfg, why, sizeof why)) {
        case CMAP_DIFFERS_ADDRS:
                if (m->n_members == 1 && s->cfg->n_nodes == 1 &&
                    m->members[0].id == s->cfg->node_id) {
                        /* A cluster of one follows its configuration (rpc_meta.c). */
                        LOGI(-1, "server: a cluster of one: %s; the map will follow", why);
                        break;
                }
                err_msgf(s->errmsg,
                         "the configuration disagrees with the cluster map this node applied "
                         "(%s/%s): %s; refusing to start (membership changes go through the "
                         "cluster, not the file)",
                         s->cfg->data_dir, CMAP_FILE, why);
                rv = TKV_EINVAL;
                break;
        case CMAP_DIFFERS:
                LOGI(-1,
                     "server: the configuration's node list differs from the cluster map: %s; "
                     "the map holds (the file only bootstraps the cluster)",
                     why);
                break;
        default:
                break;
        }
        if (rv != 0) {
                cmap_destroy(m);
                return rv;
        }
        /* Until the metadata group applies a newer one, the last map
         * applied here places the replicas (server_place.c). */
        s->node.meta.map = m;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Client listener */

static void server_accept(uv_stream_t *listener, int status)
{
        struct server *s = listener->data;
        if (status != 0) {
                LOGW(-1, "server: accept: %s", uv_strerror(status));
                return;
        }
        conn_accept(&s->conns, listener, s->node.state == NODE_SERVING);
}

/* (Re)build the client port's TLS context from the configuration, reading
 * its files again: new connections get it, open ones keep theirs (each
 * session holds a reference to its context). On failure the previous one
 * stays. */
static int server_client_tls(struct server *s)
{
        const struct config *cfg = s->cfg;
        struct tls_ctx_config tc = {
            .role = TLS_SERVER,
            .cert_file = cfg->cert_file,
            .key_file = cfg->key_file,
            .ca_file = cfg->ca_file,
            .require_peer_cert = cfg->client_cert_auth != 0,
            .min_version = cfg->min_version,
        };
        struct tls_ctx *ctx = NULL;
        char err[ERR_MSG_BYTES - 32];

        if (cfg->cert_file[0] != '\0' && tls_ctx_new(&tc, &ctx, err, sizeof err) != 0) {
                err_msgf(s->errmsg, "client port TLS: %s", err);
                return TKV_EINVAL;
        }
        tls_ctx_free(s->conns.tls);
        s->conns.tls = ctx;
        return 0;
}

static int server_listen(struct server *s)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        struct sockaddr_in sa;
        int rv;

        if ((rv = server_client_tls(s)) != 0) {
                return rv;
        }
        if (config_split_addr(s->cfg->client_addr, host, &port) != 0 ||
            uv_ip4_addr(host, (int)port, &sa) != 0) {
                err_msgf(s->errmsg, "client listener: bad address %s", s->cfg->client_addr);
                return TKV_EADDR;
        }
        rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
        if (rv == 0) {
                rv = uv_listen((uv_stream_t *)&s->listener, 1024, server_accept);
        }
        if (rv != 0) {
                err_msgf(s->errmsg, "client listener: %s: %s", s->cfg->client_addr,
                         uv_strerror(rv));
                return err_from_uv(rv);
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-iteration work */

/* Readiness: every local partition has a leader, and where this node leads,
 * its election barrier has applied. The metadata group counts only with
 * [auth] on, where requests need the users it holds: keys are served
 * without the cluster map, and a node whose partitions have a majority is
 * ready even while most nodes (every one a voter there) are down. */
static bool server_partitions_ready(const struct server *s)
{
        uint32_t n = s->cfg->auth_enabled ? s->n_groups : s->n_partitions;

        if (s->node.state != NODE_SERVING) {
                return false;
        }
        /* A cluster of one has its metadata group at once; it is ready when
         * its map gives the configured addresses, so that no client that
         * waited for ready is routed to an address the node left. */
        if (s->cfg->n_nodes == 1 && !s->node.meta.addrs_agree) {
                return false;
        }
        for (uint32_t p = 0; p < n; p++) {
                struct group *g = server_group(s, p);
                if (g == NULL) {
                        continue;
                }
                if (group_leader_id(g) == 0 || (group_is_leader(g) && !group_ready(g))) {
                        return false;
                }
        }
        return true;
}

static void server_maybe_ready(struct server *s)
{
        char line[] = "ready\n";

        if (s->ready_fd == -2 || !server_partitions_ready(s)) {
                return;
        }
        LOGI(-1, "server: ready: serving clients on %s%s", s->cfg->client_addr,
             config_weak_secret(s->cfg) != NULL ? " (INSECURE: no real cluster secret)" : "");
        {
                char status[160];
                snprintf(status, sizeof status, "serving clients on %s", s->cfg->client_addr);
                notify_ready(status);
        }
        if (s->ready_fd >= 0) {
                if (write(s->ready_fd, line, sizeof line - 1) < 0) {
                        LOGW(-1, "server: ready fd: %s", strerror(errno));
                }
                close(s->ready_fd);
        }
        s->ready_fd = -2; /* reported */
}

static void server_one_closed(struct server *s)
{
        if (--s->handles_open == 0) {
                s->node.state = NODE_STOPPED;
                LOGI(-1, "server: stopped");
        }
}

static void server_handle_closed(uv_handle_t *h)
{
        server_one_closed(h->data);
}

static void server_spare_closed(struct spare *sp)
{
        server_one_closed(sp->data);
}

static void server_close_handles(struct server *s)
{
        uv_close((uv_handle_t *)&s->lag_timer, server_handle_closed);
        uv_close((uv_handle_t *)&s->prepare, server_handle_closed);
        uv_close((uv_handle_t *)&s->check, server_handle_closed);
        uv_close((uv_handle_t *)&s->deadline_timer, server_handle_closed);
        uv_close((uv_handle_t *)&s->sigterm, server_handle_closed);
        uv_close((uv_handle_t *)&s->sigint, server_handle_closed);
        uv_close((uv_handle_t *)&s->sighup, server_handle_closed);
        uv_close((uv_handle_t *)&s->sigusr1, server_handle_closed);
        uv_close((uv_handle_t *)&s->sigusr2, server_handle_closed);
        spare_close(&s->spare, server_spare_closed);
}

static void server_mux_closed(struct transport_mux *m)
{
        struct server *s = QUEUE_DATA(m, struct server, mux);
        /* A client that does not read its answers must not keep us alive. */
        while (!queue_empty(&s->conns.all)) {
                conn_close(QUEUE_DATA(queue_head(&s->conns.all), struct conn, link));
        }
        server_close_handles(s);
}

/* DRAINING -> STOPPING once requests are done or the drain timeout passed. */
static void server_drain_progress(struct server *s, uint64_t now)
{
        struct deadline *d;
        struct queue *q;

        if (s->node.calls > 0 && now - s->drain_start_ms < s->cfg->shutdown_timeout_ms) {
                return;
        }
        while ((d = deadline_heap_min(&s->node.deadlines)) != NULL) {
                deadline_heap_remove(&s->node.deadlines, d);
                rpc_cancel(d);
        }
        s->node.state = NODE_STOPPING;
        LOGI(-1, "server: requests drained, closing partitions");
        /* Answers already queued get their chance to reach the clients;
         * server_mux_closed closes whatever is still open at the very end. */
        for (q = queue_head(&s->conns.all); q != &s->conns.all;) {
                struct conn *c = QUEUE_DATA(q, struct conn, link);
                q = q->next; /* c may leave the list */
                conn_flush(c);
                conn_close_after_write(c);
        }
        for (uint32_t p = 0; p < s->n_groups; p++) {
                if (server_group(s, p) != NULL) {
                        group_stop(s->groups[p], NULL); /* polled below */
                }
        }
}

static void server_stop_progress(struct server *s)
{
        unsigned open = 0;
        for (uint32_t p = 0; p < s->n_groups; p++) {
                if (server_group(s, p) != NULL) {
                        open++;
                }
        }
        if (open > 0) {
                return;
        }
        for (unsigned i = 0; i < s->node.n_peers; i++) {
                struct peer *p = server_peer_at(s, i);
                if (p == NULL) {
                        continue;
                }
                if (!p->stopping) {
                        peer_stop(p);
                }
                if (!peer_closed(p)) {
                        open++;
                }
        }
        if (open == 0 && !s->mux.closing) {
                transport_mux_close(&s->mux, server_mux_closed);
        }
}

/* Once per loop iteration: how long the host has slept so far. */
static void server_update_suspended(struct server *s)
{
        struct timespec boot, mono;
        clock_gettime(CLOCK_BOOTTIME, &boot);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        int64_t ms = ((int64_t)boot.tv_sec - (int64_t)mono.tv_sec) * 1000 +
                     ((int64_t)boot.tv_nsec - (int64_t)mono.tv_nsec) / 1000000;
        /* Never backwards: a clock read a little apart must not shrink it. */
        if (ms > (int64_t)s->node.suspended_ms) {
                s->node.suspended_ms = (uint64_t)ms;
        }
}

static void server_flush(struct server *s)
{
        uint64_t now = uv_now(s->loop);
        uint64_t clock;

        server_update_suspended(s);
        clock = node_clock_ms(&s->node);

        /* Leadership housekeeping needs no per-iteration precision: every
         * SERVER_HOUSEKEEPING_MS is plenty, and keeps the request path short. */
        bool housekeeping = s->node.state == NODE_SERVING && now >= s->housekeeping_ms;
        if (housekeeping) {
                s->housekeeping_ms = now + SERVER_HOUSEKEEPING_MS;
        }
        for (uint32_t p = 0; p < s->n_partitions; p++) {
                if (node_group(&s->node, p) != NULL) {
                        group_flush(s->groups[p], clock);
                        rpc_node_flush(&s->node, p, clock);
                        rpc_watch_flush(&s->node, p);
                        if (housekeeping) {
                                server_balance(s, p, now);
                                server_watch_leader(s, p, now);
                                rpc_move_flush(&s->node, p);
                        }
                }
        }
        if (housekeeping) {
                rpc_watch_tick(&s->node, clock);
        }
        if (server_group(s, s->n_partitions) != NULL) {
                group_flush(s->groups[s->n_partitions], clock); /* the metadata group */
                if (housekeeping) {
                        rpc_meta_flush(&s->node);
                        rpc_balance_flush(&s->node);
                        rpc_move_flush(&s->node, s->n_partitions);
                        /* Peers have known a newer map than the replica here
                         * gave for an election timeout: it was moved away,
                         * and hears nothing more (one merely a moment behind
                         * catches up by itself). */
                        if (s->node.meta.map != NULL &&
                            s->node.meta.newer_epoch > s->node.meta.map->epoch &&
                            now - s->node.meta.newer_since_ms >= s->cfg->election_timeout_ms) {
                                rpc_join_flush(&s->node, now);
                        }
                }
        } else if (s->node.meta.map != NULL && housekeeping) {
                /* No replica of the metadata group here (a joined node, or
                 * one it moved away from): the map from one that has one. */
                rpc_join_flush(&s->node, now);
        }
        if (housekeeping) {
                rpc_meta_keep_copy(&s->node);
                server_place(s);
        }
        while (!queue_empty(&s->conns.dirty)) {
                conn_flush(QUEUE_DATA(queue_head(&s->conns.dirty), struct conn, dirty_link));
        }
        server_flush_peers(s, now);
        switch (s->node.state) {
        case NODE_SERVING:
                server_maybe_ready(s);
                break;
        case NODE_DRAINING:
                server_drain_progress(s, now);
                break;
        case NODE_STOPPING:
                server_stop_progress(s);
                break;
        default:
                break;
        }
        server_deadline_arm(s);
}

/* Slot i of the node links, or NULL for an unused one (this node's). */
static struct peer *server_peer_at(struct server *s, unsigned i)
{
        struct peer *p = &s->peers[i];
        return p->node_id == 0 || p->node_id == s->cfg->node_id ? NULL : p;
}

/* A member the cluster map names beyond the configuration: its link. */
static void server_map_link(struct server *s, const struct cmap_member *mb)
{
        struct peer *p = node_peer(&s->node, mb->id);

        if (mb->state == CMAP_REMOVED) {
                if (p != NULL && config_node_index(s->cfg, mb->id) < 0) {
                        LOGI(-1,
                             "server: node link to node %u closed: removed from the cluster map",
                             mb->id);
                        peer_stop(p);
                }
                return;
        }
        if (p != NULL && strcmp(p->addr, mb->peer_addr) != 0) {
                /* MEMBER UPDATE gave it another peer address. */
                LOGI(-1,
                     "server: node link to member %u moves from %s to %s (cluster map epoch %llu)",
                     mb->id, p->addr, mb->peer_addr, (unsigned long long)s->node.meta.map->epoch);
                peer_move(p, mb->peer_addr);
                return;
        }
        if (p != NULL) {
                return;
        }
        if (s->node.n_peers == SERVER_PEERS_MAX) {
                LOGW(-1, "server: no room for a node link to member %u", mb->id);
                return;
        }
        p = &s->peers[s->node.n_peers++];
        peer_init(p, &s->node, &s->peer_env, mb->id, mb->peer_addr, rpc_forward_on_frame,
                  rpc_forward_on_fail);
        LOGI(-1, "server: node link to member %u at %s (%s in the cluster map, epoch %llu)", mb->id,
             mb->peer_addr, cmap_state_name(mb->state),
             (unsigned long long)s->node.meta.map->epoch);
}

/* Node links follow the cluster map: each member it names that the
 * configuration does not gets a link (so that this node can reach it,
 * forward to it and ping it) once this node applied that map; a member it
 * removed loses its link. Done once per new epoch of the map. */
static void server_follow_map_links(struct server *s)
{
        const struct cmap *m = s->node.meta.map;

        if (m == NULL || m->epoch == s->links_epoch) {
                return;
        }
        s->links_epoch = m->epoch;
        for (unsigned i = 0; i < m->n_members; i++) {
                if (m->members[i].id != s->cfg->node_id) {
                        server_map_link(s, &m->members[i]);
                }
        }
}

/* Ping every other node once per heartbeat interval; a ping unanswered for
 * several election timeouts means a connection that died silently (a
 * dropped network path): reset it. Then write what is queued. */
static void server_flush_peers(struct server *s, uint64_t now)
{
        uint64_t stale = 4 * (uint64_t)s->cfg->election_timeout_ms;
        if (s->node.state == NODE_SERVING) {
                server_follow_map_links(s);
        }
        for (unsigned i = 0; i < s->node.n_peers; i++) {
                struct peer *p = server_peer_at(s, i);
                if (p == NULL || p->stopping) {
                        continue;
                }
                if (p->ping_in_flight && now - p->last_ping_ms > stale) {
                        peer_reset(p, "ping unanswered");
                }
                if (!p->ping_in_flight && now - p->last_ping_ms >= s->cfg->heartbeat_timeout_ms &&
                    s->node.state == NODE_SERVING) {
                        rpc_forward_ping(p, now);
                }
                peer_flush(p, now, &s->peer_params);
        }
}

/* Rotation: once its grace period is over, the previous secret is
 * accepted neither in peer handshakes nor in tokens. */
static void server_retire_previous_secret(struct server *s)
{
        if (s->node.keys.previous == NULL || uv_now(s->loop) < s->previous_until_ms) {
                return;
        }
        s->node.keys.previous = NULL;
        s->mux.ring.n = 1;
        LOGI(-1, "server: rotation: the previous cluster secret is no longer accepted");
}

static void server_prepare_cb(uv_prepare_t *h)
{
        server_retire_previous_secret(h->data);
        server_flush(h->data);
}

static void server_check_cb(uv_check_t *h)
{
        server_flush(h->data);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

/* Free space in the data dir against disk_reserve_bytes: below it, writes
 * are refused (NO_SPACE) and this node's replicas refuse new entries, so
 * no Raft append meets a full disk (libraft 0.15 crashes on ENOSPC). The
 * transitions are logged. */
static void server_check_disk(struct server *s)
{
        struct statvfs st;
        bool low;

        if (s->cfg->disk_reserve_bytes == 0) {
                low = false; /* no check (perhaps since a reload) */
        } else if (statvfs(s->cfg->data_dir, &st) != 0) {
                return;
        } else {
                s->node.disk_free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
                low = s->node.disk_free_bytes < s->cfg->disk_reserve_bytes;
        }
        if (low != s->node.disk_low) {
                if (low) {
                        LOGE(-1,
                             "server: data dir %s has %llu MiB free, below disk_reserve_bytes "
                             "(%llu MiB): refusing writes (NO_SPACE) and new entries",
                             s->cfg->data_dir, (unsigned long long)(s->node.disk_free_bytes >> 20),
                             (unsigned long long)(s->cfg->disk_reserve_bytes >> 20));
                } else {
                        LOGI(-1, "server: data dir %s has %llu MiB free again: accepting writes",
                             s->cfg->data_dir, (unsigned long long)(s->node.disk_free_bytes >> 20));
                }
        }
        s->node.disk_low = low;
        s->mux.refuse_entries = low;
}

/* Loop lag (RAFT-NOTES B4): how late this timer fires. Every partition
 * and connection waits as long as the loop is late. */
static void server_lag_tick(uv_timer_t *t)
{
        struct server *s = t->data;
        uint64_t now;
        uv_update_time(s->loop);
        now = uv_now(s->loop);
        s->node.loop_lag_ms = (uint32_t)(now > s->lag_expected_ms ? now - s->lag_expected_ms : 0);
        if (s->node.loop_lag_ms > s->node.loop_lag_max_ms) {
                s->node.loop_lag_max_ms = s->node.loop_lag_ms;
        }
        s->lag_expected_ms = now + SERVER_LAG_PERIOD_MS;
        if (s->watchdog_period_ms != 0 && now - s->watchdog_fed_ms >= s->watchdog_period_ms) {
                /* Fed from the loop: a loop stalled for WatchdogSec is not. */
                notify_watchdog();
                s->watchdog_fed_ms = now;
        }
        conn_sweep(&s->conns, now);
        if (++s->disk_ticks >= SERVER_DISK_CHECK_TICKS) {
                s->disk_ticks = 0;
                server_check_disk(s);
        }
        if (++s->metrics_ticks >= SERVER_METRICS_TICKS) {
                s->metrics_ticks = 0;
                metrics_publish(&s->metrics, &s->node, server_partitions_ready(s));
        }
}

static void server_signal(uv_signal_t *h, int signum)
{
        struct server *s = h->data;
        if (s->node.state >= NODE_DRAINING) {
                LOGW(-1, "server: second signal %d during shutdown, exiting now", signum);
                _exit(1);
        }
        LOGI(-1, "server: signal %d, shutting down", signum);
        server_stop(s);
}

struct server_reload {
        struct server *s;
        const struct config *next;
};

/* config_change_cb of a reload: apply what can change at run time (the
 * log level, limits and timeouts read at each use), name what needs a
 * restart. */
static void server_reload_change(void *data, const char *section, const char *key)
{
        struct server_reload *r = data;
        char value[64];

        if (config_reload_option(r->s->cfg, r->next, section, key, value, sizeof value)) {
                LOGI(-1, "server: reload: %s.%s is now %s", section, key, value);
                if (strcmp(key, "log_level") == 0) {
                        log_setup(r->s->cfg->node_id,
                                  (enum log_level)log_level_parse(r->s->cfg->log_level));
                }
                if (strcmp(key, "log_format") == 0) {
                        log_set_format((enum log_format)log_format_parse(r->s->cfg->log_format));
                }
                return;
        }
        LOGW(-1, "server: reload: %s.%s changed; it takes effect after a restart", section, key);
}

/* SIGHUP (systemd's reload): read the configuration again. A bad one
 * changes nothing; reading a small file blocks the loop briefly, once. */
static void server_reload_signal(uv_signal_t *h, int signum)
{
        struct server *s = h->data;
        struct config *next = tkv_malloc(sizeof *next);
        char errmsg[ERR_MSG_BYTES];

        (void)signum;
        notify_reloading();
        if (next == NULL || s->reload_cb == NULL) {
                LOGW(-1, "server: SIGHUP: %s, nothing reloaded",
                     next == NULL ? "out of memory" : "no configuration to reload");
        } else if (s->reload_cb(s->reload_data, next, errmsg) != 0) {
                LOGE(-1, "server: reload: %s; nothing changed", errmsg);
        } else {
                if (config_changes(s->cfg, next, server_reload_change,
                                   &(struct server_reload){s, next}) == 0) {
                        LOGI(-1, "server: reload: configuration unchanged");
                }
                /* Certificates are renewed under the same file names. */
                if (server_client_tls(s) != 0) {
                        LOGE(-1,
                             "server: reload: %s; new client connections keep the previous "
                             "TLS settings",
                             s->errmsg);
                } else if (s->conns.tls != NULL) {
                        LOGI(-1, "server: reload: client port TLS files read again");
                }
                if (transport_mux_reload_tls(&s->mux, s->cfg) != 0) {
                        LOGE(-1,
                             "server: reload: %s; new peer connections keep the previous "
                             "TLS settings",
                             s->mux.errmsg);
                } else if (s->mux.tls.server != NULL) {
                        LOGI(-1, "server: reload: peer port TLS files read again");
                }
        }
        tkv_free(next);
        if (s->ready_fd == -2) {
                notify_ready("serving clients (configuration reloaded)");
        }
}

static void server_other_signal(uv_signal_t *h, int signum)
{
        (void)h;
        LOGI(-1, "server: signal %d (%s) ignored", signum,
             signum == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

/* transport_link_cb: another node's link, admitted on the peer port, is
 * served like a client connection with the node-link limits. */
static void server_link_accept(void *data, uv_tcp_t *tcp, struct tls *tls, unsigned node_id)
{
        struct server *s = data;
        conn_adopt_link(&s->conns, tcp, tls, node_id, transport_stream_free);
}

/* transport_member_cb: what the cluster map this node applied says of a
 * node that knocks on the peer port (nothing before a map is applied). */
static enum transport_member server_member_of(void *data, unsigned node_id)
{
        const struct server *s = data;
        const struct cmap_member *mb =
            s->node.meta.map != NULL ? cmap_member(s->node.meta.map, node_id) : NULL;

        if (mb == NULL) {
                return TRANSPORT_NOT_MEMBER;
        }
        return mb->state == CMAP_REMOVED ? TRANSPORT_REMOVED : TRANSPORT_MEMBER;
}

/* transport_address_cb: a member's peer address as the map has it. */
static const char *server_address_of(void *data, unsigned node_id)
{
        const struct server *s = data;
        const struct cmap_member *mb =
            s->node.meta.map != NULL ? cmap_member(s->node.meta.map, node_id) : NULL;

        return mb != NULL && mb->state != CMAP_REMOVED ? mb->peer_addr : NULL;
}

/* node.join (rpc_join.c), before anything depends on the node list: the
 * data dir's identity first (committed now, so that the incarnation the
 * members record when this node proves itself is the one it keeps; the
 * empty-dir probe of identity.c is skipped: it exists to refuse a node
 * that lost its disk, and the members admitted this one as joining), then
 * the cluster map from a member, its copy in the data dir, and the
 * members as this node's node list. */
static int server_join(struct server *s, struct config *cfg)
{
        struct identity_probe q;
        struct cmap *m = NULL;
        uint8_t *bytes = NULL;
        size_t len = 0;
        int rv;

        if (mkdir(cfg->data_dir, 0755) != 0 && errno != EEXIST) {
                err_msgf(s->errmsg, "data dir %s: %s", cfg->data_dir, strerror(errno));
                return TKV_EIO;
        }
        rv = identity_load(&s->identity, cfg, s->errmsg);
        if (rv == 0 && s->identity.fresh) {
                rv = identity_commit(&s->identity, cfg, s->errmsg);
        }
        if (rv != 0) {
                return rv;
        }
        memset(&q, 0, sizeof q);
        q.cfg = cfg;
        q.ring = &s->mux.ring;
        q.layout = &s->mux.layout;
        q.cluster_id = s->mux.cluster_id;
        q.group = TRANSPORT_LINK_GROUP;
        q.incarnation = s->identity.incarnation;
        q.tls = s->mux.tls.client;
        if ((rv = rpc_join(&q, cfg, &m, s->errmsg)) != 0) {
                return rv;
        }
        rv = cmap_encode(m, &bytes, &len);
        if (rv == 0 && cmap_file_write(cfg->data_dir, bytes, len) != 0) {
                err_msgf(s->errmsg, "join: cannot write %s/%s", cfg->data_dir, CMAP_FILE);
                rv = TKV_EIO;
        }
        tkv_free(bytes);
        if (rv != 0) {
                cmap_destroy(m);
                return rv;
        }
        LOGI(-1,
             "server: joining: cluster map epoch %llu (%u members, %u of them in the metadata "
             "group); this node hosts the replicas the map places on it and forwards the rest",
             (unsigned long long)m->epoch, m->n_members, cfg->n_nodes);
        s->node.meta.map = m; /* rpc_meta_close frees it */
        s->node.meta.addrs_agree = true;
        s->joined = true;
        return 0;
}

/* A secret that protects nothing is said at every start (config.c refuses
 * it for more than one node unless insecure = 1). */
static void server_warn_secret(const struct config *cfg)
{
        const char *weak = config_weak_secret(cfg);
        if (weak == NULL) {
                return;
        }
        if (cfg->n_nodes > 1) {
                LOGW(-1,
                     "server: INSECURE: [cluster] insecure = 1 and the secret is weak (%s): "
                     "anyone who reaches a peer port can join this cluster, and anyone can "
                     "forge session tokens (docs/security.md)",
                     weak);
        } else {
                LOGW(-1,
                     "server: INSECURE: the cluster secret is weak (%s): anyone can forge "
                     "session tokens, and no other node can be added safely (docs/security.md)",
                     weak);
        }
}

int server_init(struct server *s, uv_loop_t *loop, struct config *cfg)
{
        unsigned ids[CONFIG_REPLICAS_MAX];
        int rv;

        memset(s, 0, sizeof *s);
        s->loop = loop;
        s->cfg = cfg;
        s->node.state = NODE_STARTING;
        s->ready_fd = cfg->ready_fd;
        s->n_partitions = cfg->partitions;
        /* The peer keys first: a joining node proves itself with them to
         * learn its node list, which everything below depends on. */
        if (transport_mux_init(&s->mux, loop, cfg, &s->identity) != 0) {
                memcpy(s->errmsg, s->mux.errmsg, sizeof s->errmsg);
                return TKV_EIO;
        }
        if (cfg->join[0] != '\0' && (rv = server_join(s, cfg)) != 0) {
                return rv;
        }
        conn_set_init(&s->conns);
        s->conns.loop = loop;
        s->conns.cfg = cfg;
        s->conns.handlers = &server_conn_handlers;
        s->conns.data = &s->node;
        s->conns.spare = &s->spare;
        deadline_heap_init(&s->node.deadlines);
        s->n_groups = s->n_partitions + 1; /* and the metadata group */
        s->groups = tkv_calloc(s->n_groups, sizeof *s->groups);
        s->node.cfg = cfg;
        s->node.loop = loop;
        s->node.n_partitions = s->n_partitions;
        s->node.groups = s->groups;
        s->node.conns = &s->conns;
        s->hosted = tkv_calloc(s->n_groups, sizeof *s->hosted);
        s->node.scratch_bytes = cfg->value_bytes_max > 0 ? (size_t)cfg->value_bytes_max : 1;
        s->node.scratch = tkv_malloc(s->node.scratch_bytes);
        if (s->groups == NULL || s->hosted == NULL || s->node.scratch == NULL) {
                err_msgf(s->errmsg, "out of memory");
                return TKV_ENOMEM;
        }
        if (!s->joined && (rv = server_check_map(s)) != 0) {
                return rv;
        }
        for (uint32_t p = 0; p < s->n_partitions; p++) {
                s->hosted[p] = node_hosts(&s->node, p);
                s->node.n_hosted += s->hosted[p];
        }
        /* The metadata group: by the map, or on every configured node at
         * the cluster's first start (a joining node has a map). */
        s->hosted[s->n_partitions] = node_hosts(&s->node, s->n_partitions);
        s->node.meta.pinned = tkv_calloc(s->n_partitions, sizeof *s->node.meta.pinned);
        s->reads = tkv_calloc(s->n_partitions, sizeof *s->reads);
        s->node.reads = s->reads;
        s->node.probe_calls = tkv_calloc(s->n_partitions, sizeof *s->node.probe_calls);
        s->node.moves = tkv_calloc(s->n_partitions + 1, sizeof *s->node.moves);
        s->node.leaders_heard = tkv_calloc(s->n_partitions, sizeof *s->node.leaders_heard);
        s->wiping = tkv_calloc(s->n_partitions + 1, sizeof *s->wiping);
        /* Room for the largest token a request may carry, and for a read's
         * answer: its entry plus one dependency per partition. */
        s->node.token_cap =
            (unsigned)((cfg->token_bytes_max - SESSION_HEADER_BYTES) / SESSION_ENTRY_BYTES);
        if (s->node.token_cap < s->n_partitions + 1) {
                s->node.token_cap = s->n_partitions + 1;
        }
        s->node.token_ents = tkv_calloc(s->node.token_cap, sizeof *s->node.token_ents);
        /* Also holds a write's dependencies, in their compact form. */
        s->node.token_bytes = tkv_malloc(session_encoded_bytes(s->node.token_cap) +
                                         (size_t)s->node.token_cap * SESSION_DEPS_ENTRY_MAX);
        if (s->reads == NULL || s->node.probe_calls == NULL || s->node.token_ents == NULL ||
            s->node.moves == NULL || s->node.leaders_heard == NULL || s->wiping == NULL ||
            s->node.meta.pinned == NULL || s->node.token_bytes == NULL) {
                err_msgf(s->errmsg, "out of memory");
                return TKV_ENOMEM;
        }
        for (uint32_t p = 0; p < s->n_partitions; p++) {
                unsigned n = node_replicas_of(&s->node, p, ids);
                read_state_init(&s->reads[p], p, ids, n, cfg->forward_burst,
                                2 * (uint64_t)cfg->probe_interval_ms);
                if (fresh_init(&s->reads[p].fresh, cfg->freshness_reads_max,
                               cfg->freshness_window_ms) != 0) {
                        err_msgf(s->errmsg, "out of memory (freshness_reads_max)");
                        return TKV_ENOMEM;
                }
        }
        for (uint32_t p = 0; p <= s->n_partitions; p++) {
                s->node.moves[p].node = &s->node;
        }
        if (rpc_watch_init(&s->node) != 0) {
                err_msgf(s->errmsg, "out of memory");
                return TKV_ENOMEM;
        }
        hlc_init(&s->node.hlc, cfg->max_clock_offset_ms);
        if (session_keys_init(&s->node.keys, cfg->secret, cfg->cluster_name) != 0) {
                err_msgf(s->errmsg, "token keys: cannot set up HMAC-SHA256");
                return TKV_EIO;
        }
        server_warn_secret(cfg);
        if (rpc_auth_init(&s->node.auth, cfg, s->errmsg) != 0) {
                return TKV_EIO;
        }
        if (cfg->previous_secret[0] != '\0') {
                if (session_keys_init(&s->node.keys_previous, cfg->previous_secret,
                                      cfg->cluster_name) != 0) {
                        err_msgf(s->errmsg, "token keys: cannot set up HMAC-SHA256");
                        return TKV_EIO;
                }
                s->node.keys.previous = &s->node.keys_previous;
                s->previous_until_ms = uv_now(loop) + (uint64_t)cfg->previous_secret_grace_s * 1000;
                LOGI(-1, "server: rotation: the previous cluster secret is accepted for %u s more",
                     cfg->previous_secret_grace_s);
        }
        /* Room for every configured node and every member a map can name. */
        s->peers = tkv_calloc(SERVER_PEERS_MAX, sizeof *s->peers);
        s->node.peers = s->peers;
        s->node.n_peers = cfg->n_nodes;
        if (s->peers == NULL) {
                err_msgf(s->errmsg, "out of memory");
                return TKV_ENOMEM;
        }
        s->peer_params.connect_timeout_ms = cfg->connect_timeout_ms;
        s->peer_params.ping_interval_ms = cfg->heartbeat_timeout_ms;
        s->peer_params.output_bytes_max = cfg->link_output_bytes_max;
        s->peer_env.loop = loop;
        s->peer_env.cfg = cfg;
        s->peer_env.params = &s->peer_params;
        s->peer_env.identity = &s->identity;
        s->peer_env.mux = &s->mux;
        s->peer_env.tls = &s->mux.tls;
        for (unsigned i = 0; i < cfg->n_nodes; i++) {
                if (cfg->nodes[i].id != cfg->node_id) {
                        peer_init(&s->peers[i], &s->node, &s->peer_env, cfg->nodes[i].id,
                                  cfg->nodes[i].peer_addr, rpc_forward_on_frame,
                                  rpc_forward_on_fail);
                }
        }
        transport_mux_on_link(&s->mux, server_link_accept, s);
        transport_mux_on_member(&s->mux, server_member_of, s);
        transport_mux_on_address(&s->mux, server_address_of, s);
        s->node.node_calls = &rpc_node_calls;
        uv_tcp_init(loop, &s->listener);
        uv_prepare_init(loop, &s->prepare);
        uv_check_init(loop, &s->check);
        uv_timer_init(loop, &s->deadline_timer);
        uv_signal_init(loop, &s->sigterm);
        uv_signal_init(loop, &s->sigint);
        uv_signal_init(loop, &s->sighup);
        uv_signal_init(loop, &s->sigusr1);
        uv_signal_init(loop, &s->sigusr2);
        s->sighup.data = s->sigusr1.data = s->sigusr2.data = s;
        s->listener.data = s->prepare.data = s->check.data = s;
        s->deadline_timer.data = s->sigterm.data = s->sigint.data = s;
        uv_timer_init(loop, &s->lag_timer);
        s->lag_timer.data = s;
        spare_init(&s->spare, loop, (uv_stream_t *)&s->listener);
        s->spare.data = s;
        /* prepare, check, deadline and lag timers, five signals, the spare */
        s->handles_open = 10;
        return 0;
}

int server_start(struct server *s)
{
        const struct config *cfg = s->cfg;
        int rv;

        if (mkdir(cfg->data_dir, 0755) != 0 && errno != EEXIST) {
                err_msgf(s->errmsg, "data dir %s: %s", cfg->data_dir, strerror(errno));
                return TKV_EIO;
        }
        rv = server_check_identity(s);
        if (rv != 0) {
                return rv;
        }
        rv = server_place_sweep(s);
        if (rv != 0) {
                return rv;
        }
        server_check_disk(s);
        rv = transport_mux_listen(&s->mux, cfg->peer_addr);
        if (rv != 0) {
                memcpy(s->errmsg, s->mux.errmsg, sizeof s->errmsg);
                return rv;
        }
        for (uint32_t p = 0; p < s->n_groups; p++) {
                /* A joining node is no voter of the metadata group (its
                 * voters are the bootstrap voters): it opens none. */
                if (s->hosted[p] && (rv = server_place_open(s, p)) != 0) {
                        return rv;
                }
        }
        s->node.meta_group = s->groups[s->n_partitions];
        rv = server_listen(s);
        if (rv == 0) {
                rv = metrics_start(&s->metrics, cfg->metrics_addr, s->errmsg);
        }
        if (rv != 0) {
                return rv;
        }
        uv_prepare_start(&s->prepare, server_prepare_cb);
        uv_check_start(&s->check, server_check_cb);
        s->lag_expected_ms = uv_now(s->loop) + SERVER_LAG_PERIOD_MS;
        s->watchdog_period_ms = notify_watchdog_period_ms();
        uv_timer_start(&s->lag_timer, server_lag_tick, SERVER_LAG_PERIOD_MS, SERVER_LAG_PERIOD_MS);
        uv_signal_start(&s->sigterm, server_signal, SIGTERM);
        uv_signal_start(&s->sigint, server_signal, SIGINT);
        uv_signal_start(&s->sighup, server_reload_signal, SIGHUP);
        uv_signal_start(&s->sigusr1, server_other_signal, SIGUSR1);
        uv_signal_start(&s->sigusr2, server_other_signal, SIGUSR2);
        s->node.started_ms = uv_now(s->loop);
        s->node.state = NODE_SERVING;
        LOGI(-1,
             "server: node %u listening on %s (clients%s) and %s (peers%s), %u of %u partitions "
             "local",
             cfg->node_id, cfg->client_addr,
             s->conns.tls == NULL    ? ""
             : cfg->client_cert_auth ? ", TLS, client certificates required"
                                     : ", TLS",
             cfg->peer_addr, s->mux.tls.server != NULL ? ", TLS" : "", s->node.n_hosted,
             s->n_partitions);
        return 0;
}

static void server_listener_closed(uv_handle_t *h)
{
        (void)h;
}

void server_stop(struct server *s)
{
        if (s->node.state != NODE_SERVING) {
                return;
        }
        s->node.state = NODE_DRAINING;
        s->drain_start_ms = uv_now(s->loop);
        notify_stopping();
        /* Streams have no end to wait for: they end now, and their clients
         * resume elsewhere after the indexes they saw. */
        rpc_watch_end_all(&s->node, TKV_ESHUTDOWN, "WATCH: node shutting down");
        /* Connections keep being read: new requests are answered
         * UNAVAILABLE (rpc_admit), so clients learn to go elsewhere. */
        uv_close((uv_handle_t *)&s->listener, server_listener_closed);
        /* Wake up at the drain timeout even if no request deadline does. */
        uv_timer_start(&s->deadline_timer, server_deadline_fire, s->cfg->shutdown_timeout_ms, 0);
        s->deadline_armed_ms = s->drain_start_ms + s->cfg->shutdown_timeout_ms;
}

void server_close(struct server *s)
{
        metrics_stop(&s->metrics);  /* joins the HTTP thread before the state goes */
        tls_ctx_free(s->conns.tls); /* sessions still open hold their own reference */
        s->conns.tls = NULL;
        for (uint32_t p = 0; s->groups != NULL && p < s->n_groups; p++) {
                group_destroy(s->groups[p]);
        }
        server_place_destroy(s);
        s->node.meta_group = NULL;
        rpc_meta_close(&s->node);
        for (unsigned i = 0; s->peers != NULL && i < s->node.n_peers; i++) {
                if (server_peer_at(s, i) != NULL) {
                        peer_release(&s->peers[i]);
                }
        }
        tkv_free(s->peers);
        s->peers = NULL;
        s->node.peers = NULL;
        rpc_watch_destroy(&s->node);
        call_pool_drain(&s->node);
        session_keys_close(&s->node.keys);
        rpc_auth_close(&s->node.auth);
        session_keys_close(&s->node.keys_previous);
        for (uint32_t p = 0; s->reads != NULL && p < s->n_partitions; p++) {
                fresh_close(&s->reads[p].fresh);
        }
        tkv_free(s->reads);
        tkv_free(s->node.probe_calls);
        tkv_free(s->node.moves);
        s->node.moves = NULL;
        tkv_free(s->node.leaders_heard);
        s->node.leaders_heard = NULL;
        tkv_free(s->node.token_ents);
        tkv_free(s->node.token_bytes);
        s->reads = NULL;
        s->node.reads = NULL;
        s->node.probe_calls = NULL;
        s->node.token_ents = NULL;
        s->node.token_bytes = NULL;
        deadline_heap_close(&s->node.deadlines);
        tkv_free(s->groups);
        tkv_free(s->hosted);
        tkv_free(s->node.scratch);
        s->groups = NULL;
        s->node.groups = NULL;
        s->hosted = NULL;
        s->node.scratch = NULL;
}
