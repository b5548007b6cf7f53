/* Routing: where the next attempt of a request goes, from the partition
 * map. Keyed requests go to their partition's leader (none known: its
 * replicas in turn), spread reads to the replica map_choose picks for
 * their route, pinned reads to their node; STATUS and CLUSTER_INFO go to
 * the endpoints in turn. The map comes from the client's own CLUSTER_INFO
 * (map_req): requests that need one wait for it, and a map naming a new
 * leader sends the requests backing off for it on at once. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

static void client_route_map_cb(struct tkv_client *c, const struct tkv_result *res, void *arg);

/* Queue r on p; the link takes it in tkv_poll. */
static void client_route_enqueue(struct tkv_client *c, struct client_req *r, struct client_peer *p)
{
        client_req_park(c, r, CLIENT_QUEUED, &p->queued, r->retry.deadline_ms);
        r->peer = p;
        p->n_queued++;
}

/* Start fetching the partition map unless a fetch is under way or (unless
 * force) one started less than CLIENT_REFRESH_MS ago. Returns whether a
 * fetch is under way now. */
bool client_route_refresh_map(struct tkv_client *c, bool force)
{
        int64_t now_ms = client_now_ms();
        struct codec_request req;
        struct client_req *r;

        if (c->map_req != NULL) {
                return true;
        }
        if (c->closing ||
            (!force && c->map_fetched_ms != 0 && now_ms - c->map_fetched_ms < CLIENT_REFRESH_MS)) {
                return false;
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_CLUSTER_INFO;
        r = client_req_new(c, CLIENT_INFO, CODEC_CLUSTER_INFO, "cluster_info", c->timeout_ms, &req);
        if (r == NULL) {
                return false;
        }
        r->internal = true;
        r->cb = client_route_map_cb;
        c->n_internal++;
        c->map_req = r;
        c->map_fetched_ms = now_ms;
        client_route_req(c, r);
        return true;
}

static bool client_route_has_id(const uint32_t *ids, unsigned n, uint32_t id)
{
        unsigned i;

        for (i = 0; i < n; i++) {
                if (ids[i] == id) {
                        return true;
                }
        }
        return false;
}

/* Whether node id is in the client's zone (never when the client has no
 * zone, or the map gives the node none). */
static bool client_route_local(const struct tkv_client *c, uint32_t id)
{
        const struct map_node *n;

        if (c->zone[0] == '\0') {
                return false;
        }
        n = map_node(&c->map, id);
        return n != NULL && strcmp(n->zone, c->zone) == 0;
}

/* The replicas of r's partition (and its leader, should the map name one
 * outside them) that a peer can reach, as map_choose candidates, with
 * their peers. Returns how many. */
static unsigned client_route_candidates(struct tkv_client *c, const struct client_req *r,
                                        struct map_candidate *cands, struct client_peer **peers)
{
        const struct map_partition *mp = &c->map.partitions[r->partition];
        uint32_t ids[MAP_REPLICAS_MAX + 1];
        int64_t now_ms = client_now_ms();
        unsigned n_ids = mp->n_replicas;
        struct client_peer *p;
        unsigned n = 0;
        unsigned i;

        memcpy(ids, mp->replicas, n_ids * sizeof(ids[0]));
        if (mp->leader_id != 0 && !client_route_has_id(ids, n_ids, mp->leader_id)) {
                ids[n_ids++] = mp->leader_id;
        }
        for (i = 0; i < n_ids; i++) {
                p = client_peer_for_node(c, ids[i]);
                if (p == NULL) {
                        continue;
                }
                memset(&cands[n], 0, sizeof(cands[n]));
                cands[n].node_id = ids[i];
                cands[n].leader = ids[i] == mp->leader_id;
                cands[n].down = client_peer_down(p, now_ms);
                cands[n].tried = client_route_has_id(r->tried, r->n_tried, ids[i]);
                cands[n].measured = p->rtt_ms != 0 && now_ms - p->rtt_ms < CLIENT_RTT_STALE_MS;
                cands[n].rtt_us = p->rtt_us;
                cands[n].local = client_route_local(c, ids[i]);
                peers[n] = p;
                n++;
        }
        return n;
}

/* The replica for the next attempt of spread read r, as its route says
 * (map_choose); NULL when the map names none that a peer can reach. Once
 * every replica failed r, a new round starts. */
static struct client_peer *client_route_pick_replica(struct tkv_client *c, struct client_req *r,
                                                     uint32_t *node)
{
        struct map_candidate cands[MAP_REPLICAS_MAX + 1];
        struct client_peer *peers[MAP_REPLICAS_MAX + 1];
        unsigned n = client_route_candidates(c, r, cands, peers);
        unsigned k;

        *node = 0;
        if (n == 0) {
                return NULL;
        }
        k = map_choose(cands, n, r->read.route, c->rr++);
        if (cands[k].tried) {
                r->n_tried = 0;
        }
        *node = cands[k].node_id;
        return peers[k];
}

/* Whether spread read r has a replica that is up and that it did not fail
 * on this round: retry.c then resends at once (r->retry.elsewhere). */
bool client_route_has_elsewhere(struct tkv_client *c, const struct client_req *r)
{
        struct map_candidate cands[MAP_REPLICAS_MAX + 1];
        struct client_peer *peers[MAP_REPLICAS_MAX + 1];
        unsigned n;
        unsigned i;

        if (!client_spread(r) || !c->map.valid || r->partition >= c->map.partition_count) {
                return false;
        }
        n = client_route_candidates(c, r, cands, peers);
        for (i = 0; i < n; i++) {
                if (!cands[i].tried && !cands[i].down) {
                        return true;
                }
        }
        return false;
}

/* The attempt of r on node r->target failed: a spread read avoids that
 * node for the rest of this round. */
void client_route_note_tried(struct client_req *r)
{
        if (client_spread(r) && r->target != 0 && r->n_tried < MAP_REPLICAS_MAX + 1 &&
            !client_route_has_id(r->tried, r->n_tried, r->target)) {
                r->tried[r->n_tried++] = r->target;
        }
}

/* The node (*node) and peer for the next attempt of r: the leader of its
 * partition, or with no leader known the replicas in turn, skipping those
 * whose connection failed in the last CLIENT_DOWN_MS unless all did. */
static struct client_peer *client_route_pick(struct tkv_client *c, struct client_req *r,
                                             uint32_t *node)
{
        const struct map_partition *mp = &c->map.partitions[r->partition];
        int64_t now_ms = client_now_ms();
        struct client_peer *first = NULL;
        struct client_peer *p;
        unsigned i;
        uint32_t id;

        *node = 0;
        for (i = 0; i < MAP_REPLICAS_MAX; i++) {
                id = map_target(&c->map, r->partition, r->routes + i);
                p = id != 0 ? client_peer_for_node(c, id) : NULL;
                if (i == 0) {
                        first = p;
                        *node = id;
                }
                if (p != NULL && (link_is_open(&p->link) || p->failed_ms == 0 ||
                                  now_ms - p->failed_ms >= CLIENT_DOWN_MS)) {
                        *node = id;
                        r->routes += i;
                        return p;
                }
                if (mp->leader_id != 0 || i + 1 >= mp->n_replicas) {
                        break;
                }
        }
        return first;
}

/* GET, PUT, DELETE, CAS: to the leader of the key's partition, or for a
 * spread read to the replica its route picks. */
static void client_route_key(struct tkv_client *c, struct client_req *r)
{
        struct client_peer *p = NULL;
        uint32_t node = 0;

        if (!c->map.valid && !c->map_unsupported) {
                if (client_route_refresh_map(c, false)) {
                        client_req_park(c, r, CLIENT_WAIT_MAP, &c->wait_map, r->retry.deadline_ms);
                } else {
                        client_retry_ended(c, r, RETRY_END_NO_ROUTE, TKV_OK);
                }
                return;
        }
        if (c->map.valid && client_pinned(r)) {
                /* That node serves it or forwards it: never elsewhere. */
                r->partition = map_partition_of(&c->map, r->key, r->key_len);
                p = client_peer_for_node(c, r->read.node_id);
                if (p == NULL && client_route_refresh_map(c, false)) {
                        /* A node that joined after the map was fetched:
                         * the next map may have it. */
                        client_req_park(c, r, CLIENT_WAIT_MAP, &c->wait_map, r->retry.deadline_ms);
                        return;
                }
                if (p == NULL) {
                        client_retry_ended(c, r, RETRY_END_NO_ROUTE, TKV_OK);
                        return;
                }
                r->routes++;
                r->no_forward = false;
                r->target = r->read.node_id;
                client_route_enqueue(c, r, p);
                return;
        }
        if (c->map.valid) {
                r->partition = map_partition_of(&c->map, r->key, r->key_len);
                p = client_spread(r) ? client_route_pick_replica(c, r, &node) : NULL;
                if (p == NULL) {
                        p = client_route_pick(c, r, &node);
                }
                r->routes++;
        }
        /* With no way to reach the node, ask an endpoint to forward. */
        r->no_forward = p != NULL;
        r->target = p != NULL ? node : 0;
        client_route_enqueue(c, r, p != NULL ? p : client_peer_default(c));
}

/* Candidate number k for a STATUS of "the node we talk to" (endpoints
 * only) or a CLUSTER_INFO (endpoints, then every other known peer). */
static struct client_peer *client_route_admin_candidate(const struct tkv_client *c,
                                                        const struct client_req *r)
{
        if (r->tries < c->n_endpoints) {
                return c->peers[(r->first_endpoint + r->tries) % c->n_endpoints];
        }
        if (r->kind == CLIENT_INFO && r->tries < c->n_peers) {
                return c->peers[r->tries];
        }
        return NULL;
}

/* STATUS of node r->node_id, once a map says where it is. */
static void client_route_status_node(struct tkv_client *c, struct client_req *r, uint32_t node_id)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_peer *p;

        if (!c->map.valid) {
                if (!c->map_unsupported && client_route_refresh_map(c, true)) {
                        client_req_park(c, r, CLIENT_WAIT_MAP, &c->wait_map, r->retry.deadline_ms);
                        return;
                }
                snprintf(msg, sizeof(msg), "status: no partition map to find node %u in",
                         (unsigned)node_id);
                client_req_fail(c, r, TKV_USAGE_ERROR, msg);
                return;
        }
        p = client_peer_for_node(c, node_id);
        if (p == NULL) {
                snprintf(msg, sizeof(msg), "status: node %u is not in the cluster",
                         (unsigned)node_id);
                client_req_fail(c, r, TKV_USAGE_ERROR, msg);
                return;
        }
        client_route_enqueue(c, r, p);
}

/* STATUS and CLUSTER_INFO. */
static void client_route_admin(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_peer *p;

        if (r->kind == CLIENT_STATUS && r->status_node != 0) {
                client_route_status_node(c, r, r->status_node);
                return;
        }
        p = client_route_admin_candidate(c, r);
        if (p == NULL) {
                snprintf(msg, sizeof(msg), "%s: cannot connect to any %s (%s)", r->op,
                         r->kind == CLIENT_INFO ? "node" : "endpoint", r->msg);
                client_req_fail(c, r, TKV_CONNECT_FAILED, msg);
                return;
        }
        client_route_enqueue(c, r, p);
}

void client_route_req(struct tkv_client *c, struct client_req *r)
{
        if (client_is_keyed(r)) {
                client_route_key(c, r);
        } else {
                client_route_admin(c, r);
        }
}

/* Route the requests that waited for a map (one arrived, or the server
 * turned out not to have one). */
static void client_route_map_release(struct tkv_client *c)
{
        struct queue batch;
        struct client_req *r;

        queue_init(&batch);
        queue_move(&batch, &c->wait_map);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                client_route_req(c, r);
        }
}

/* The map changed: requests backing off whose partition now has a known
 * leader other than the node they tried go to it at once, rather than
 * wait out a backoff meant for a cluster that has not changed yet. Spread
 * reads do not follow leaders: they wait out their backoff. */
void client_route_wake_moved(struct tkv_client *c)
{
        struct queue batch;
        struct client_req *r;
        uint32_t leader;

        if (!c->map.valid) {
                return;
        }
        queue_init(&batch);
        queue_move(&batch, &c->backoff);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                queue_remove(&r->q);
                queue_push_tail(&c->backoff, &r->q);
                leader = c->map.partitions[map_partition_of(&c->map, r->key, r->key_len)].leader_id;
                if (client_is_keyed(r) && !client_spread(r) && !client_pinned(r) && leader != 0 &&
                    leader != r->target) {
                        client_req_unlist(c, r);
                        client_route_req(c, r);
                }
        }
}

/* The map fetch failed with status (message borrowed): keyed requests that
 * waited for it back off, STATUS requests for a node fail, and so does
 * every request when the server refused our credentials. */
static void client_route_map_failed(struct tkv_client *c, int status, const char *message)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct queue batch;
        struct client_req *r;

        queue_init(&batch);
        queue_move(&batch, &c->wait_map);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                /* Without the right credentials no retry can help. */
                if (client_is_keyed(r) && status != TKV_UNAUTHENTICATED &&
                    status != TKV_PERMISSION_DENIED) {
                        snprintf(r->msg, sizeof(r->msg), "no partition map: %s", message);
                        client_retry_ended(c, r, RETRY_END_NO_ROUTE, status);
                } else {
                        snprintf(msg, sizeof(msg), "%s: no partition map: %s", r->op, message);
                        client_req_fail(c, r, status, msg);
                }
        }
}

/* tkv_done_cb of the client's own CLUSTER_INFO. A good answer has updated
 * the map already (client_route_on_info). */
static void client_route_map_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        (void)arg;
        c->map_req = NULL;
        if (res->status == TKV_OK) {
                client_route_map_release(c);
        } else if (res->status == TKV_INVALID_ARGUMENT) {
                /* A server without CLUSTER_INFO: send everything to the
                 * endpoints, as a client without routing would. */
                c->map_unsupported = true;
                client_route_map_release(c);
        } else {
                client_route_map_failed(c, res->status, res->message);
        }
}

/* Append "name: why" to a STATUS or CLUSTER_INFO request's list of places
 * that failed, and move on to its next candidate. */
void client_route_admin_next(struct tkv_client *c, struct client_req *r, const char *name,
                             const char *why)
{
        size_t len = strlen(r->msg);

        snprintf(r->msg + len, sizeof(r->msg) - len, "%s%.100s: %.100s", len > 0 ? "; " : "", name,
                 why);
        r->tries++;
        client_route_req(c, r);
}

/* A CLUSTER_INFO answer from p: it also updates the map, and tells which
 * node p is. */
void client_route_on_info(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                          const struct tkv_result *res)
{
        char msg[CLIENT_ERRMSG_BYTES];
        uint64_t updates;
        int rv;

        if (res->status != TKV_OK || res->cluster == NULL) {
                client_req_complete(c, r, res);
                return;
        }
        updates = c->map.updates;
        rv = map_update(&c->map, res->cluster);
        if (rv != TKV_OK) {
                snprintf(msg, sizeof(msg), "%s: %s", r->op,
                         rv == TKV_NO_MEMORY ? "out of memory keeping the partition map"
                                             : "the server sent an unusable partition map");
                client_req_fail(c, r, rv, msg);
                return;
        }
        client_peer_sync(c);
        if (res->cluster->epoch > c->epoch) {
                c->epoch = res->cluster->epoch;
        }
        if (res->cluster->epoch > c->map_epoch) {
                c->map_epoch = res->cluster->epoch;
        }
        if (res->cluster->node_id != 0) {
                p->node_id = res->cluster->node_id;
        }
        client_route_map_release(c);
        if (c->map.updates != updates) {
                client_route_wake_moved(c);
        }
        client_req_complete(c, r, res);
}
