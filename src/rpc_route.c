/* Routing a request (route.h has the table): gather what this node knows
 * of the key's partition (its replica here, the leader, which replicas were
 * heard from recently), let route_decide pick the outcome, and carry it
 * out: serve here, forward (rpc_forward.c), or answer. Every handler that
 * takes a key routes through rpc_route_request, so one case always gets
 * one answer. */
#include <string.h>

#include "err.h"
#include "keyhash.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"

_Static_assert(CONFIG_REPLICAS_MAX <= ROUTE_REPLICAS_MAX, "a route view holds every replica");

/* Alive: heard within the window, or not yet given the chance to be heard
 * (the first window after this node started). */
bool rpc_route_alive(struct node *node, unsigned node_id, uint64_t now)
{
        struct peer *p = node_peer(node, node_id);
        uint64_t window = node->cfg->election_timeout_ms;
        if (node_id == node->cfg->node_id) {
                return true;
        }
        if (p == NULL) {
                return false;
        }
        return peer_alive(p, now, window) || now - node->started_ms <= window;
}

/* What this node knows of c's partition, for route_decide; which replicas
 * are alive only when the outcome can depend on it. */
static void rpc_route_view(struct call *c, const struct route_need *need, struct route_view *v)
{
        struct node *node = c->node;
        unsigned ids[CONFIG_REPLICAS_MAX];
        uint64_t now;
        uint64_t leader;

        memset(v, 0, sizeof *v);
        v->hosted = c->group != NULL;
        if (v->hosted) {
                v->leader = group_is_leader(c->group);
                leader = group_leader_id(c->group);
                v->leader_id = leader == node->cfg->node_id ? 0 : (unsigned)leader;
        } else {
                v->leader_id = node->leaders_heard[c->partition];
        }
        if (!route_needs_liveness(v, need)) {
                return;
        }
        now = uv_now(node->loop);
        v->n_replicas = node_replicas_of(node, c->partition, ids);
        for (unsigned i = 0; i < v->n_replicas; i++) {
                v->replicas[i] = ids[i];
                v->alive[i] = rpc_route_alive(node, ids[i], now);
        }
}

bool rpc_route_request(struct call *c, const Tunekv__V1__Request *req,
                       const ProtobufCBinaryData *key, const struct route_need *need)
{
        uint32_t p =
            route_partition(key_hash_partition(key->data, key->len), c->node->n_partitions);
        return rpc_route_partition(c, req, p, need);
}

bool rpc_route_partition(struct call *c, const Tunekv__V1__Request *req, uint32_t partition,
                         const struct route_need *need)
{
        struct node *node = c->node;
        const char *name = c->method->name;
        struct route_view v;
        struct route_decision d;

        c->partition = partition;
        c->group = node_group(node, c->partition);
        rpc_route_view(c, need, &v);
        d = route_decide(&v, need);
        switch (d.outcome) {
        case ROUTE_SERVE:
                return true;
        case ROUTE_FORWARD:
                c->routed_away = !v.hosted;
                rpc_forward(c, req, d.target);
                break;
        case ROUTE_NOT_LEADER:
                call_answer_not_leader(c, name);
                break;
        case ROUTE_ELECTION:
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "%s: partition %u has no leader (election in progress)", name,
                                  c->partition);
                break;
        case ROUTE_NO_QUORUM:
                call_answer_error(c, TKV_ENOQUORUM,
                                  "%s: partition %u: most of its replicas are unreachable", name,
                                  c->partition);
                break;
        case ROUTE_NO_REPLICA:
                call_answer_error(c, TKV_ESHUTDOWN, "%s: partition %u has no replica on node %u",
                                  name, c->partition, node->cfg->node_id);
                break;
        }
        return false;
}
