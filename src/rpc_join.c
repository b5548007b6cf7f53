/* Joining a running cluster (tunekvd --join, docs/operations.md "Joining a
 * running cluster"), before the loop runs. Normal path:
 *
 *   1. For each address of node.join in turn: the peer handshake on a node
 *      link to whichever member listens there (identity_request), which
 *      only a member of the map the member applied gets through (a voter
 *      or a joining node; transport.c), then one CLUSTER_INFO request.
 *   2. Its answer becomes a cluster map (members, placement, epoch),
 *      checked by a round trip through the map's own encoding, whose
 *      decoder refuses anything malformed.
 *   3. The map must list this node as joining with its own addresses, and
 *      have the configuration's partition count. The node list of the
 *      configuration becomes the map's voters; the node routes by the
 *      map's placement, and hosts the replicas it places here.
 *
 * Failure modes: a member unreachable, one that closes before the
 * CHALLENGE (this node is no member there, was removed, or the cluster
 * name differs), one without the secret, one that has no map yet (epoch
 * 0): the next address is tried, in up to three rounds an election
 * timeout apart while they only fail to answer (members apply a new map a
 * moment after the leader), and then the start is refused with the last
 * reason. A map that does not list this node as
 * joining with its addresses refuses the start, saying why. */
#include "rpc_join.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buffer.h"
#include "cmap.h"
#include "err.h"
#include "frame.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "pballoc.h"
#include "rpc_auth.h"
#include "rpc_internal.h"
#include "tunekv.pb-c.h"

#define RPC_JOIN_WHY_BYTES  512
#define RPC_JOIN_ROUNDS     3    /* of asking every address, an election timeout apart */
#define RPC_JOIN_REFRESH_MS 1000 /* a running joining node asks for the map this often */

/* One CLUSTER_INFO request, framed, into out (FRAME_HEADER_BYTES + body). */
static size_t rpc_join_request(uint8_t *out, size_t cap)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ClusterInfoRequest ci = TUNEKV__V1__CLUSTER_INFO_REQUEST__INIT;
        size_t len;

        req.id = 1;
        req.body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
        req.cluster_info = &ci;
        len = tunekv__v1__request__get_packed_size(&req);
        if (FRAME_HEADER_BYTES + len > cap) {
                return 0;
        }
        tunekv__v1__request__pack(&req, out + FRAME_HEADER_BYTES);
        frame_put_header(out, (uint32_t)len);
        return FRAME_HEADER_BYTES + len;
}

static bool rpc_join_text(char *dst, const char *src)
{
        if (src == NULL || strlen(src) >= CMAP_TEXT_BYTES) {
                return false;
        }
        strcpy(dst, src);
        return true;
}

/* The members of a CLUSTER_INFO answer into m; false if one is malformed. */
static bool rpc_join_members(const Tunekv__V1__ClusterInfoResponse *ci, struct cmap *m)
{
        if (ci->n_nodes == 0 || ci->n_nodes > CMAP_MEMBERS_MAX) {
                return false;
        }
        m->n_members = (unsigned)ci->n_nodes;
        for (size_t i = 0; i < ci->n_nodes; i++) {
                const Tunekv__V1__NodeInfo *n = ci->nodes[i];
                struct cmap_member *mb = &m->members[i];
                mb->id = n->node_id;
                mb->successor = n->successor;
                switch (n->state) {
                case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_VOTER:
                        mb->state = CMAP_VOTER;
                        break;
                case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_JOINING:
                        mb->state = CMAP_JOINING;
                        break;
                case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_REMOVED:
                        mb->state = CMAP_REMOVED;
                        break;
                case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_LEAVING:
                        mb->state = CMAP_LEAVING;
                        break;
                default:
                        return false;
                }
                if (!rpc_join_text(mb->client_addr, n->client_addr) ||
                    !rpc_join_text(mb->peer_addr, n->peer_addr) ||
                    !rpc_join_text(mb->zone, n->zone)) {
                        return false;
                }
        }
        return true;
}

/* A CLUSTER_INFO answer as a map (*out, the caller's), validated by the
 * map's decoder. 0, or TKV_EPROTO with why filled. */
static int rpc_join_map_of(const Tunekv__V1__ClusterInfoResponse *ci, struct cmap **out, char *why,
                           size_t len)
{
        struct cmap *m = tkv_calloc(1, sizeof *m);
        uint8_t *bytes = NULL;
        size_t n = 0;
        int rv = TKV_EPROTO;

        *out = NULL;
        if (m == NULL) {
                snprintf(why, len, "out of memory");
                return TKV_ENOMEM;
        }
        if (ci->epoch == 0) {
                snprintf(why, len, "it has not applied the cluster map yet");
                goto cleanup;
        }
        m->epoch = ci->epoch;
        if (!rpc_join_members(ci, m) || ci->n_partitions == 0 ||
            ci->n_partitions > CMAP_PARTITIONS_MAX) {
                snprintf(why, len, "its CLUSTER_INFO answer is malformed");
                goto cleanup;
        }
        m->n_partitions = (unsigned)ci->n_partitions;
        for (size_t p = 0; p < ci->n_partitions; p++) {
                const Tunekv__V1__PartitionInfo *pi = ci->partitions[p];
                if (pi->partition != p || pi->n_replicas == 0 ||
                    pi->n_replicas > CMAP_REPLICAS_MAX) {
                        snprintf(why, len, "its CLUSTER_INFO answer is malformed");
                        goto cleanup;
                }
                m->parts[p].n = (unsigned)pi->n_replicas;
                memcpy(m->parts[p].ids, pi->replicas, pi->n_replicas * sizeof pi->replicas[0]);
                m->parts[p].move_from = pi->move_from;
                m->parts[p].move_to = pi->move_to;
        }
        if (ci->metadata != NULL && ci->metadata->n_replicas > 0 &&
            ci->metadata->n_replicas <= CMAP_REPLICAS_MAX) {
                struct cmap_placement *meta = &m->parts[m->n_partitions];
                const Tunekv__V1__PartitionInfo *pi = ci->metadata;
                meta->n = (unsigned)pi->n_replicas;
                memcpy(meta->ids, pi->replicas, pi->n_replicas * sizeof pi->replicas[0]);
                meta->move_from = pi->move_from;
                meta->move_to = pi->move_to;
        } else {
                snprintf(why, len, "its CLUSTER_INFO answer has no metadata group placement");
                goto cleanup;
        }
        /* The map's decoder checks ids, states, addresses and placement. */
        if ((rv = cmap_encode(m, &bytes, &n)) == 0 && (rv = cmap_decode(bytes, n, out)) != 0) {
                snprintf(why, len, "its cluster map does not decode (%s)", err_str(rv));
        }
cleanup:
        tkv_free(bytes);
        cmap_destroy(m);
        return rv;
}

/* Ask the member at addr; *out on success, else why filled. */
static int rpc_join_ask(const struct identity_probe *q, const char *addr, struct cmap **out,
                        char *why, size_t len)
{
        uint8_t req[64];
        uint8_t *ans = NULL;
        size_t req_len = rpc_join_request(req, sizeof req), ans_len = 0;
        struct pballoc pb;
        Tunekv__V1__Response *r = NULL;
        int rv = identity_request(q, addr, req, req_len, q->cfg->frame_bytes_max, &ans, &ans_len);

        if (rv != 0) {
                snprintf(why, len, "%s",
                         rv == TKV_ECONN   ? "no CHALLENGE: unreachable, or this node is no member "
                                             "of its cluster map (not added, or removed), or "
                                             "another cluster_name"
                         : rv == TKV_EAUTH ? "it does not hold this node's cluster secret"
                                           : err_str(rv));
                return rv;
        }
        pballoc_init(&pb, 16 * ans_len + 64 * 1024, ans_len + 256);
        r = tunekv__v1__response__unpack(&pb.base, ans_len, ans);
        if (r == NULL || r->status != TUNEKV__V1__STATUS__STATUS_OK ||
            r->body_case != TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO) {
                snprintf(why, len, "no CLUSTER_INFO answer (%s)",
                         r != NULL && r->message != NULL ? r->message : "undecodable");
                rv = TKV_EPROTO;
        } else {
                rv = rpc_join_map_of(r->cluster_info, out, why, len);
        }
        if (r != NULL) {
                tunekv__v1__response__free_unpacked(r, &pb.base);
        }
        tkv_free(ans);
        return rv;
}

/* Is m a map this node can join as it is configured? why says if not. */
static bool rpc_join_acceptable(const struct cmap *m, const struct config *cfg, char *why,
                                size_t len)
{
        const struct cmap_member *mb = cmap_member(m, cfg->node_id);

        if (mb == NULL || (mb->state != CMAP_JOINING && mb->state != CMAP_LEAVING)) {
                snprintf(why, len,
                         mb == NULL ? "node %u is not a member of the cluster map (epoch %llu): "
                                      "add it first (tunekv member add %u CLIENT_ADDR PEER_ADDR)"
                         : mb->state == CMAP_REMOVED
                             ? "node %u was removed from the cluster (map epoch %llu); a "
                               "removed id never comes back: add this node as a new one "
                               "(id %u is taken)"
                             : "node %u is a voter of the cluster map (epoch %llu): start it "
                               "from its [node.N] configuration, not with join (id %u)",
                         cfg->node_id, (unsigned long long)m->epoch, cfg->node_id);
                return false;
        }
        if (strcmp(mb->client_addr, cfg->client_addr) != 0 ||
            strcmp(mb->peer_addr, cfg->peer_addr) != 0) {
                snprintf(why, len,
                         "the cluster map (epoch %llu) gives node %u client address %s and "
                         "peer address %s, but this node has %s and %s",
                         (unsigned long long)m->epoch, cfg->node_id, mb->client_addr, mb->peer_addr,
                         cfg->client_addr, cfg->peer_addr);
                return false;
        }
        return true;
}

/* Does m have cfg's partition count (the key hashing depends on it)? why
 * says if not. The placement is the map's: this node routes by it. */
static bool rpc_join_partitions_agree(const struct cmap *m, const struct config *cfg, char *why,
                                      size_t len)
{
        if (m->n_partitions != cfg->partitions) {
                snprintf(why, len, "the cluster map has %u partitions, cluster.partitions says %u",
                         m->n_partitions, cfg->partitions);
                return false;
        }
        return true;
}

/* The configuration's node list becomes the members that hold the
 * metadata group (whom this node asks for the map); the placement is the
 * map's (node_replicas_of). */
static bool rpc_join_adopt(const struct cmap *m, struct config *cfg, char *why, size_t len)
{
        struct config_node nodes[CONFIG_NODES_MAX];
        unsigned n = 0;

        memset(nodes, 0, sizeof nodes);
        for (unsigned i = 0; i < m->n_members && n < CONFIG_NODES_MAX; i++) {
                const struct cmap_member *mb = &m->members[i];
                if (cmap_hosts(m, m->n_partitions, mb->id)) {
                        nodes[n].id = mb->id;
                        snprintf(nodes[n].client_addr, CONFIG_ADDR_BYTES, "%s", mb->client_addr);
                        snprintf(nodes[n].peer_addr, CONFIG_ADDR_BYTES, "%s", mb->peer_addr);
                        snprintf(nodes[n].zone, CONFIG_ADDR_BYTES, "%s", mb->zone);
                        n++;
                }
        }
        if (n == 0) {
                snprintf(why, len, "the cluster map places the metadata group nowhere");
                return false;
        }
        config_set_nodes(cfg, nodes, n);
        return rpc_join_partitions_agree(m, cfg, why, len);
}

int rpc_join(const struct identity_probe *q, struct config *cfg, struct cmap **out, char *errmsg)
{
        char addrs[CONFIG_JOIN_MAX][CONFIG_ADDR_BYTES];
        char why[RPC_JOIN_WHY_BYTES] = "no address";
        unsigned n = config_join_addrs(cfg, addrs);
        int rv = TKV_ECONN;

        *out = NULL;
        for (unsigned round = 0; round < RPC_JOIN_ROUNDS && *out == NULL; round++) {
                if (round > 0) {
                        /* The members apply a new map a moment after the
                         * metadata group's leader: one that has not yet
                         * refuses this node as unknown. Before the loop
                         * runs, so nothing else waits. */
                        struct timespec nap = {cfg->election_timeout_ms / 1000,
                                               (long)(cfg->election_timeout_ms % 1000) * 1000000};
                        nanosleep(&nap, NULL);
                }
                for (unsigned i = 0; i < n && *out == NULL; i++) {
                        rv = rpc_join_ask(q, addrs[i], out, why, sizeof why);
                        if (rv != 0) {
                                LOGW(-1, "join: the member at %s: %s", addrs[i], why);
                        }
                }
                if (rv != TKV_ECONN) {
                        break; /* answered, or a reason a retry does not change */
                }
        }
        if (*out == NULL) {
                err_msgf(errmsg, "join: no cluster map from %s (the last: %s)", cfg->join, why);
                return rv != 0 ? rv : TKV_ECONN;
        }
        if (!rpc_join_acceptable(*out, cfg, why, sizeof why) ||
            !rpc_join_adopt(*out, cfg, why, sizeof why)) {
                err_msgf(errmsg, "join: %s; refusing to start", why);
                cmap_destroy(*out);
                *out = NULL;
                return TKV_EINVAL;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Following the map while running: a node that holds no replica of the
 * metadata group (a joining node, or one the group moved away from) asks
 * one that does (in turn, over the node links, which fail calls when they
 * break) every RPC_JOIN_REFRESH_MS. */

void rpc_join_flush(struct node *node, uint64_t now_ms)
{
        struct node_meta *mt = &node->meta;
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ClusterInfoRequest ci = TUNEKV__V1__CLUSTER_INFO_REQUEST__INIT;
        struct peer *p;
        uint8_t *space;
        size_t len;

        if (mt->map_asking || now_ms - mt->map_asked_ms < RPC_JOIN_REFRESH_MS) {
                return;
        }
        mt->map_asked_ms = now_ms;
        /* A peer that said it has a newer map, else a node holding a
         * replica of the metadata group, in turn. */
        p = mt->map != NULL && mt->newer_epoch > mt->map->epoch
                ? node_peer(node, mt->newer_from)
                : node_peer(node, node_meta_member(node, mt->map_ask_next++));
        if (p == NULL) {
                return;
        }
        req.id = peer_next_id(p);
        req.body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
        req.cluster_info = &ci;
        ci.users = node->auth.enabled; /* checking AUTH needs them */
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(p, len);
        if (space == NULL) {
                return; /* the link's queue is full: next time */
        }
        tunekv__v1__request__pack(&req, space);
        mt->map_call.kind = RPC_PEER_MAP;
        peer_track(p, &mt->map_call, req.id);
        mt->map_asking = true;
}

/* A newer map than node's, if it can be followed: the placement this node
 * routes by still holds. A map that removed this node is followed too
 * (STATUS says so), and logged: the members refuse it from now on. */
static void rpc_join_learn(struct node *node, struct cmap *m)
{
        const struct cmap_member *self = cmap_member(m, node->cfg->node_id);
        char why[RPC_JOIN_WHY_BYTES];

        if (!rpc_join_partitions_agree(m, node->cfg, why, sizeof why)) {
                LOGE(-1, "join: not following the cluster map: %s; restart this node", why);
                cmap_destroy(m);
                return;
        }
        LOGI(-1, "join: cluster map epoch %llu learned (%u members)", (unsigned long long)m->epoch,
             m->n_members);
        if (self == NULL || self->state == CMAP_REMOVED) {
                LOGE(-1,
                     "join: this node was removed from the cluster map (epoch %llu): the "
                     "members refuse it from now on; stop it",
                     (unsigned long long)m->epoch);
        }
        cmap_destroy(node->meta.map);
        node->meta.map = m;
}

void rpc_join_on_map(struct node *node, const Tunekv__V1__Response *resp)
{
        struct cmap *m = NULL;
        char why[RPC_JOIN_WHY_BYTES];

        node->meta.map_asking = false;
        if (resp == NULL || resp->status != TUNEKV__V1__STATUS__STATUS_OK ||
            resp->body_case != TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO) {
                return; /* asked again at the next refresh */
        }
        if (resp->cluster_info->has_users && node->meta_group == NULL) {
                rpc_auth_learn(node, resp->cluster_info->users.data, resp->cluster_info->users.len,
                               resp->cluster_info->users_version);
        }
        if (rpc_join_map_of(resp->cluster_info, &m, why, sizeof why) != 0) {
                return;
        }
        if (node->meta.map != NULL && m->epoch <= node->meta.map->epoch) {
                cmap_destroy(m);
                return;
        }
        rpc_join_learn(node, m);
}
