/* Forwarding: a request this node cannot serve goes to the node that can,
 * over a peer link (peer.c), and its answer comes back to the client under
 * the client's own id. Neither is encoded again on the way: the request's
 * bytes are copied once to the link, and the answer's once to the client
 * (pbwire.h).
 *
 *   rpc_forward: copy the bytes the request came in to the link, with a
 *   link id, the time left before the client's deadline and no_forward =
 *   true (one hop at most) appended, which override the client's own ->
 *   the link writes it -> the answer frame: rpc_forward_on_frame reads only
 *   its top level to find its id, finds the call by it and copies the
 *   answer to the client with the client's id in place of the link's.
 *
 * A request built here (a FORWARD_LEADER fallback read, rpc_read.c) has no
 * bytes to copy and is encoded; its answer is decoded, because its receipt
 * must say fallback. So are pings, probes and confirmations, whose answers
 * this node reads. An answer whose top level is malformed is dropped (its
 * call times out); what a relayed answer's fields hold is left to the
 * client to decode, as it was encoded by a node running this code.
 *
 * If the link breaks first (rpc_forward_on_fail): a write whose bytes may
 * have reached the other node is answered OUTCOME_UNKNOWN, anything else
 * UNAVAILABLE (it did not happen; retry). Deadlines abandon the call like
 * any other (rpc_call_abandon).
 *
 * Pings on the same links tell which nodes are alive: a node not heard from
 * within one election timeout counts as unreachable when deciding between
 * NO_QUORUM and UNAVAILABLE, and lets a leader that lost its majority say
 * NO_QUORUM at once. */
#include "rpc_forward.h"

#include <stdint.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "pbwire.h"
#include "rpc_internal.h"

/* Queue the request being dispatched for p as the bytes it arrived in,
 * copied once, with fwd's id, timeout_ms and no_forward appended: the last
 * occurrence of a scalar field wins (pbwire.h), so the other node decodes
 * exactly the request that encoding fwd would have sent. */
static int rpc_forward_bytes(struct peer *p, const struct node *node,
                             const Tunekv__V1__Request *fwd)
{
        size_t extra = pbwire_varint_field_bytes(CALL_REQUEST_ID_FIELD, fwd->id) +
                       pbwire_varint_field_bytes(CALL_REQUEST_TIMEOUT_FIELD, fwd->timeout_ms) +
                       pbwire_varint_field_bytes(CALL_REQUEST_NO_FORWARD_FIELD, 1);
        uint8_t *space = peer_frame_space(p, node->dispatching.len + extra);

        if (space == NULL) {
                return TKV_EBUSY;
        }
        memcpy(space, node->dispatching.bytes, node->dispatching.len);
        space += node->dispatching.len;
        space += pbwire_put_varint_field(space, CALL_REQUEST_ID_FIELD, fwd->id);
        space += pbwire_put_varint_field(space, CALL_REQUEST_TIMEOUT_FIELD, fwd->timeout_ms);
        (void)pbwire_put_varint_field(space, CALL_REQUEST_NO_FORWARD_FIELD, 1);
        return 0;
}

/* Queue fwd for p, encoded: a request built here (rpc_read_fallback) has
 * no bytes of its own. */
static int rpc_forward_encoded(struct peer *p, const Tunekv__V1__Request *fwd)
{
        size_t len = tunekv__v1__request__get_packed_size(fwd);
        uint8_t *space = peer_frame_space(p, len);

        if (space == NULL) {
                return TKV_EBUSY;
        }
        tunekv__v1__request__pack(fwd, space);
        return 0;
}

void rpc_forward(struct call *c, const Tunekv__V1__Request *req, unsigned node_id)
{
        struct node *node = c->node;
        struct peer *p = node_peer(node, node_id);
        Tunekv__V1__Request fwd = *req;
        uint64_t now = uv_now(node->loop);
        /* The other node gives up a little before we do, so that its own
         * answer (BOUND_UNMET, TIMEOUT, ...) rather than ours reaches the
         * client. */
        uint64_t give_up = call_give_up_ms(c, now);
        uint64_t left = give_up > now ? give_up - now : 1;
        int rv;

        if (p == NULL) {
                call_answer_error(c, TKV_ESHUTDOWN, "%s: node %u is not in the cluster",
                                  c->method->name, node_id);
                return;
        }
        fwd.id = peer_next_id(p);
        fwd.no_forward = true;
        fwd.timeout_ms = (uint32_t)left;
        /* Only the request being dispatched has bytes to send as they are. */
        if (req == node->dispatching.req) {
                rv = rpc_forward_bytes(p, node, &fwd);
        } else {
                rv = rpc_forward_encoded(p, &fwd);
        }
        if (rv != 0) {
                call_answer_error(c, TKV_EBUSY, "%s: too much queued for node %u", c->method->name,
                                  node_id);
                return;
        }
        c->op.fwd.kind = RPC_PEER_FORWARD;
        peer_track(p, &c->op.fwd, fwd.id);
        c->stage = CALL_FORWARDED;
        node->stats.forwarded++;
}

/* The partition of a probe call (its slot in node->probe_calls). */
static uint32_t rpc_forward_probe_partition(struct node *node, const struct peer_call *pc)
{
        return (uint32_t)(pc - node->probe_calls);
}

static void rpc_forward_pong(struct peer *p, const Tunekv__V1__Response *resp)
{
        struct node *node = p->data;
        uint64_t epoch = node->meta.map != NULL ? node->meta.map->epoch : 0;

        p->ping_in_flight = false;
        if (resp != NULL && resp->epoch > epoch && resp->epoch > node->meta.newer_epoch) {
                if (node->meta.newer_epoch <= epoch) {
                        node->meta.newer_since_ms = uv_now(node->loop);
                }
                node->meta.newer_epoch = resp->epoch;
                node->meta.newer_from = p->node_id;
        }
}

/* Hand a decoded answer to the call it belongs to (taken off the link). */
static void rpc_forward_deliver(struct peer *p, struct peer_call *pc, Tunekv__V1__Response *resp)
{
        struct node *node = p->data;
        struct call *c;

        if (pc->kind == RPC_PEER_PING) {
                rpc_forward_pong(p, resp);
        } else if (pc->kind == RPC_PEER_PROBE) {
                node->node_calls->on_probe(node, rpc_forward_probe_partition(node, pc), resp);
        } else if (pc->kind == RPC_PEER_CONFIRM) {
                node->node_calls->on_confirm(node, QUEUE_DATA(pc, struct rpc_confirm, pc), resp);
        } else if (pc->kind == RPC_PEER_MAP) {
                rpc_join_on_map(node, resp);
        } else if (pc->kind == RPC_PEER_MOVE) {
                node->node_calls->on_move(node, pc, resp);
        } else {
                c = QUEUE_DATA(pc, struct call, op.fwd);
                c->stage = CALL_NEW;
                if (c->rd.fallback && resp->body_case == TUNEKV__V1__RESPONSE__BODY_GET &&
                    resp->get->receipt != NULL) {
                        /* Served by the leader because this replica could not. */
                        resp->get->receipt->fallback = true;
                }
                call_answer(c, resp); /* sets the client's id */
        }
}

/* Does the answer to pc need decoding here? A forwarded request's answer
 * is relayed as bytes, except a fallback read's: its receipt's fallback
 * flag must be set, which appending bytes cannot do, because protobuf-c
 * replaces a oneof member that occurs twice instead of merging the two. */
static bool rpc_forward_decodes(const struct peer_call *pc)
{
        return pc->kind != RPC_PEER_FORWARD ||
               QUEUE_DATA(pc, const struct call, op.fwd)->rd.fallback;
}

/* The answer to a forward of a partition not hosted here (route.h rows
 * 11-12): a NOT_LEADER names the leader (its LeaderHint's node_id, 0 when
 * the replica knows none), where leader-only requests go next. Read off
 * the frame, which is relayed as it is. */
static void rpc_forward_hear_leader(struct node *node, const struct call *c, const uint8_t *frame,
                                    size_t len)
{
        struct pbwire_field status, hint, id;
        bool found;

        if (!c->routed_away || c->partition >= node->n_partitions ||
            pbwire_find(frame, len, CALL_RESPONSE_STATUS_FIELD, &status, &found) != 0 || !found ||
            status.type != PBWIRE_VARINT || status.value != TUNEKV__V1__STATUS__STATUS_NOT_LEADER ||
            pbwire_find(frame, len, CALL_RESPONSE_LEADER_HINT_FIELD, &hint, &found) != 0 ||
            !found || hint.type != PBWIRE_LEN) {
                return;
        }
        if (pbwire_find(frame + hint.end - hint.value, (size_t)hint.value, 1, &id, &found) == 0) {
                node->leaders_heard[c->partition] =
                    found && id.type == PBWIRE_VARINT && id.value <= UINT32_MAX ? (uint32_t)id.value
                                                                                : 0;
        }
}

void rpc_forward_on_frame(struct peer *p, const uint8_t *frame, size_t len)
{
        Tunekv__V1__Response *resp;
        struct pbwire_field id;
        struct peer_call *pc;
        struct call *c;
        bool found;

        /* The id alone finds the call; the answer's top level must be
         * well-formed, and its id a varint, before anything is relayed. */
        if (pbwire_find(frame, len, CALL_RESPONSE_ID_FIELD, &id, &found) != 0 ||
            (found && id.type != PBWIRE_VARINT)) {
                LOGW(-1, "forward: undecodable answer from node %u", p->node_id);
                return; /* its call times out */
        }
        pc = peer_find(p, found ? id.value : 0);
        if (pc == NULL) {
                return; /* abandoned meanwhile */
        }
        if (pc->kind == RPC_PEER_WATCH) {
                struct node *node = p->data;
                node->node_calls->on_watch(pc, frame, len); /* a stream: it stays tracked */
                return;
        }
        if (pc->kind == RPC_PEER_FANOUT) {
                struct node *node = p->data;
                (void)peer_take(p, pc->id);
                node->node_calls->on_fanout(pc, frame, len); /* kept as bytes until all are in */
                return;
        }
        if (!rpc_forward_decodes(pc)) {
                c = QUEUE_DATA(pc, struct call, op.fwd);
                (void)peer_take(p, pc->id);
                c->stage = CALL_NEW;
                rpc_forward_hear_leader(p->data, c, frame, len);
                call_answer_relay(c, frame, len, found ? id.start : len, found ? id.end : len);
                return;
        }
        resp = tunekv__v1__response__unpack(&call_pb_allocator, len, frame);
        if (resp == NULL) {
                LOGW(-1, "forward: undecodable answer from node %u", p->node_id);
                return; /* its call times out */
        }
        (void)peer_take(p, pc->id);
        rpc_forward_deliver(p, pc, resp);
        tunekv__v1__response__free_unpacked(resp, &call_pb_allocator);
}

void rpc_forward_on_fail(struct peer_call *pc, bool sent)
{
        struct peer *p = pc->peer;
        struct node *node = p->data;
        struct call *c;

        switch (pc->kind) {
        case RPC_PEER_PING:
                p->ping_in_flight = false;
                return;
        case RPC_PEER_PROBE:
                node->node_calls->on_probe(node, rpc_forward_probe_partition(node, pc), NULL);
                return;
        case RPC_PEER_CONFIRM:
                node->node_calls->on_confirm(node, QUEUE_DATA(pc, struct rpc_confirm, pc), NULL);
                return;
        case RPC_PEER_MAP:
                rpc_join_on_map(node, NULL);
                return;
        case RPC_PEER_MOVE:
                node->node_calls->on_move(node, pc, NULL);
                return;
        case RPC_PEER_FANOUT:
                node->node_calls->on_fanout_fail(pc);
                return;
        case RPC_PEER_WATCH:
                node->node_calls->on_watch_fail(pc);
                return;
        default:
                break;
        }
        c = QUEUE_DATA(pc, struct call, op.fwd);
        c->stage = CALL_NEW;
        if (sent && c->method->is_write) {
                call_answer_error(c, TKV_EUNKNOWN,
                                  "%s: lost the connection to node %u after forwarding the write",
                                  c->method->name, p->node_id);
        } else {
                call_answer_error(c, TKV_ESHUTDOWN, "%s: node %u unreachable", c->method->name,
                                  p->node_id);
        }
}

void rpc_forward_ping(struct peer *p, uint64_t now_ms)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PingRequest ping = TUNEKV__V1__PING_REQUEST__INIT;
        uint8_t *space;
        size_t len;

        req.id = peer_next_id(p);
        req.body_case = TUNEKV__V1__REQUEST__BODY_PING;
        req.ping = &ping;
        ping.from_node_id = ((const struct node *)p->data)->cfg->node_id;
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(p, len);
        if (space == NULL) {
                return;
        }
        tunekv__v1__request__pack(&req, space);
        p->ping.kind = RPC_PEER_PING;
        peer_track(p, &p->ping, req.id);
        p->ping_in_flight = true;
        p->last_ping_ms = now_ms;
}

bool rpc_forward_abandon(struct call *c)
{
        /* A write whose bytes may have left may still happen there. */
        return peer_forget(&c->op.fwd) && c->method->is_write;
}
