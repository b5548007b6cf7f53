/* Node-to-node operations, and each partition's per-iteration read work.
 *
 * Probes: while a partition has readers who care (READ_PROBE_IDLE_MS), a
 * follower asks its leader for the commit index every probe_interval_ms,
 * and at once when a read starts waiting for freshness or an ALL_REPLICAS
 * write applied here. The leader records the follower's applied index
 * (ALL_REPLICAS acknowledgements), fences, and answers its applied index:
 * every write acknowledged before the probe was sent is at or below it
 * (read.c has the argument).
 *
 * Leadership confirmations (ReadIndex, group_confirm.c says why they fence
 * linearizable reads): the leader asks every other voter for its term; a
 * voter answers at once.
 *
 * Both travel the node links (peer.h) and are refused on client
 * connections (rpc.c, node_only). */
#include "rpc_node.h"

#include <string.h>

#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"

static struct call *rpc_node_call_of_fence(struct group_read *r)
{
        return QUEUE_DATA(r, struct call, op.read);
}

/* ------------------------------------------------------------------------ */
/* Probes */

void rpc_node_flush(struct node *node, uint32_t p, uint64_t now_ms)
{
        struct read_state *rs = &node->reads[p];
        struct group *g = node->groups[p];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ProbeRequest probe = TUNEKV__V1__PROBE_REQUEST__INIT;
        struct peer *peer;
        uint8_t *space;
        size_t len;

        struct read_replica r = read_replica_of(g);

        read_scan(rs, &r, now_ms);
        if (fresh_watching(&rs->fresh)) {
                fresh_expire(&rs->fresh, node_wall_ms(node));
        }
        if (r.leader) {
                rs->probe_now = false;
                return;
        }
        /* Writes that waited here for every replica lost their leader: the
         * new one knows nothing of them; they are committed. */
        while (!queue_empty(&rs->ack_alls)) {
                struct call *c = QUEUE_DATA(queue_head(&rs->ack_alls), struct call, op.ack_all);
                queue_remove(&c->op.ack_all);
                rpc_kv_ack_all_done(c, false);
        }
        if (node->state != NODE_SERVING ||
            !read_probe_due(rs, now_ms, node->cfg->probe_interval_ms)) {
                return;
        }
        peer = node_peer(node, (unsigned)group_leader_id(g));
        if (peer == NULL) {
                return;
        }
        req.id = peer_next_id(peer);
        req.body_case = TUNEKV__V1__REQUEST__BODY_PROBE;
        req.probe = &probe;
        probe.from_node_id = node->cfg->node_id;
        probe.partition = p;
        probe.applied_index = group_applied_index(g);
        probe.waiting = !queue_empty(&rs->waiters);
        if (rs->close_wanted > r.closed_ts) {
                probe.close_ts = rs->close_wanted; /* SEQUENTIAL reads wait here for it */
        } else {
                rs->close_wanted = 0;
        }
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(peer, len);
        if (space == NULL) {
                return;
        }
        tunekv__v1__request__pack(&req, space);
        node->probe_calls[p].kind = RPC_PEER_PROBE;
        peer_track(peer, &node->probe_calls[p], req.id);
        rs->probe_in_flight = true;
        rs->probe_ticket = ++node->fresh_tickets;
        rs->probe_sent_ms = now_ms; /* at or before the bytes leave: a safe s */
        rs->probe_sent_precise_ms = node_clock_precise_ms();
        rs->probe_now = false;
}

void rpc_node_applied(void *data, struct group *g, uint64_t index, unsigned flags,
                      const struct command_result *res)
{
        struct node *node = data;
        struct read_state *rs = &node->reads[group_partition(g)];

        if ((flags & COMMAND_F_ACK_ALL) && !group_is_leader(g)) {
                rs->probe_now = true;
        }
        if (res != NULL && res->key != NULL && fresh_watching(&rs->fresh)) {
                /* Did a read sampled here miss this write? (fresh.h) */
                fresh_write(&rs->fresh, key_hash(res->key, res->key_len), index, res->ts);
        }
}

static void rpc_node_probe_fenced(struct group_read *r, int status)
{
        struct call *c = rpc_node_call_of_fence(r);
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ProbeResponse pr = TUNEKV__V1__PROBE_RESPONSE__INIT;

        c->stage = CALL_NEW;
        if (status != 0) {
                call_answer_error(c, status, "PROBE: %s", err_str(status));
                return;
        }
        pr.node_id = c->node->cfg->node_id;
        pr.partition = c->partition;
        /* Every write acknowledged before the probe is at or below the
         * last command applied after the fence (group_state_index). */
        pr.commit_index = group_state_index(c->group);
        pr.term = group_term(c->group);
        if (c->rd.waited && c->rd.bound.required_index < pr.commit_index) {
                /* Reads wait on the prober until it applies commit_index,
                 * which it would learn only at the next heartbeat. */
                group_nudge(c->group);
        }
        pr.leader_time_ms = node_clock_precise_ms(); /* followers check their clocks by it */
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_PROBE;
        resp.probe = &pr;
        call_answer(c, &resp);
}

void rpc_node_probe_answer(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ProbeRequest *pr = req->probe;
        struct node *node = c->node;
        int rv;

        if (pr->partition >= node->n_partitions) {
                call_answer_error(c, TKV_EINVAL, "PROBE: no partition %u", pr->partition);
                return;
        }
        c->partition = pr->partition;
        c->group = node_group(node, pr->partition);
        if (c->group == NULL || !group_is_leader(c->group)) {
                call_answer_error(c, TKV_ENOTLEADER, "PROBE: not the leader of partition %u",
                                  pr->partition);
                return;
        }
        if (pr->from_node_id != c->from_node) {
                /* Only the node at the other end of this link speaks for
                 * itself (the peer preamble admitted it). */
                call_answer_error(c, TKV_EINVAL,
                                  "PROBE: from_node_id %u is not this link's node %u",
                                  pr->from_node_id, c->from_node);
                return;
        }
        read_on_replica_applied(&node->reads[c->partition], pr->from_node_id, pr->applied_index,
                                group_last_index(c->group));
        rpc_kv_ack_all_scan(node, c->partition);
        if (pr->close_ts != 0 && !group_want_closed(c->group, pr->close_ts) &&
            (node->hlc.jumps & (node->hlc.jumps - 1)) == 0) {
                /* Logged at the 1st, 2nd, 4th, 8th... refusal. */
                LOGW((int)c->partition,
                     "probe: node %u asked for timestamp %llu, more than max_clock_offset_ms "
                     "ahead of this node's clock: not closed there (%llu refused so far)",
                     pr->from_node_id, (unsigned long long)pr->close_ts,
                     (unsigned long long)node->hlc.jumps);
        }
        /* What the fenced answer needs of the request (a probe is a read
         * call: its bound's index holds the prober's applied index). */
        c->rd.waited = pr->waiting;
        c->rd.bound.required_index = pr->applied_index;
        rv = group_read_fence(c->group, &c->op.read, rpc_node_probe_fenced);
        if (rv != 0) {
                call_answer_error(c, rv, "PROBE: %s", err_str(rv));
                return;
        }
        c->stage = CALL_READ;
}

static void rpc_node_on_probe(struct node *node, uint32_t p, const Tunekv__V1__Response *resp)
{
        struct read_state *rs = &node->reads[p];
        struct group *g = node_group(node, p);
        struct read_replica r;

        rs->probe_in_flight = false;
        if (g == NULL || resp == NULL || resp->status != TUNEKV__V1__STATUS__STATUS_OK ||
            resp->body_case != TUNEKV__V1__RESPONSE__BODY_PROBE || resp->probe->partition != p) {
                return;
        }
        r = read_replica_of(g);
        read_clock_check(rs, resp->probe->node_id, resp->probe->term, rs->probe_sent_precise_ms,
                         node_clock_precise_ms(), resp->probe->leader_time_ms);
        read_on_probe(rs, &r, resp->probe->commit_index, rs->probe_sent_ms, rs->probe_ticket);
        read_scan(rs, &r, node_clock_ms(node));
        if (!rs->clock.verified && !queue_empty(&rs->waiters)) {
                rs->probe_now = true; /* a second answer may vouch for our clock */
        }
}

/* ------------------------------------------------------------------------ */
/* Leadership confirmations (group_confirm.c says why they fence linearizable reads) */

unsigned rpc_node_confirm_send(void *data, struct group *g, uint64_t seq, const uint64_t *voters,
                               unsigned n)
{
        struct node *node = data;
        unsigned sent = 0;

        for (unsigned i = 0; i < n; i++) {
                Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
                Tunekv__V1__ConfirmRequest cr = TUNEKV__V1__CONFIRM_REQUEST__INIT;
                struct peer *peer = node_peer(node, (unsigned)voters[i]);
                struct rpc_confirm *rc;
                uint8_t *space;
                size_t len;

                if (peer == NULL || (rc = tkv_malloc(sizeof *rc)) == NULL) {
                        continue;
                }
                req.id = peer_next_id(peer);
                req.body_case = TUNEKV__V1__REQUEST__BODY_CONFIRM;
                req.confirm = &cr;
                cr.from_node_id = node->cfg->node_id;
                cr.partition = group_partition(g);
                len = tunekv__v1__request__get_packed_size(&req);
                space = peer_frame_space(peer, len);
                if (space == NULL) {
                        tkv_free(rc);
                        continue;
                }
                tunekv__v1__request__pack(&req, space);
                rc->pc.kind = RPC_PEER_CONFIRM;
                rc->partition = group_partition(g);
                rc->seq = seq;
                rc->voter = voters[i];
                peer_track(peer, &rc->pc, req.id);
                sent++;
        }
        return sent;
}

static void rpc_node_on_confirm(struct node *node, struct rpc_confirm *rc,
                                const Tunekv__V1__Response *resp)
{
        struct group *g = node_group(node, rc->partition);
        bool answered = resp != NULL && resp->status == TUNEKV__V1__STATUS__STATUS_OK &&
                        resp->body_case == TUNEKV__V1__RESPONSE__BODY_CONFIRM &&
                        resp->confirm->partition == rc->partition;

        if (g != NULL && answered) {
                /* It also says what the voter applied (ALL_REPLICAS). */
                read_on_replica_applied(&node->reads[rc->partition], (uint32_t)rc->voter,
                                        resp->confirm->applied_index, group_last_index(g));
                rpc_kv_ack_all_scan(node, rc->partition);
        }
        if (g != NULL) {
                group_confirm_answer(g, rc->seq, rc->voter, answered,
                                     answered ? resp->confirm->term : 0);
        }
        tkv_free(rc);
}

void rpc_node_confirm_answer(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ConfirmRequest *cr = req->confirm;
        struct node *node = c->node;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ConfirmResponse ans = TUNEKV__V1__CONFIRM_RESPONSE__INIT;
        struct group *g;

        if (cr->partition >= node->n_partitions) {
                call_answer_error(c, TKV_EINVAL, "CONFIRM: no partition %u", cr->partition);
                return;
        }
        g = node_group(node, cr->partition);
        if (g == NULL) {
                call_answer_error(c, TKV_EINVAL, "CONFIRM: no replica of partition %u here",
                                  cr->partition);
                return;
        }
        ans.node_id = node->cfg->node_id;
        ans.partition = cr->partition;
        /* Raft's term now: a voter still in the leader's term has voted in
         * no later election (group_confirm.c). */
        ans.term = group_term(g);
        ans.applied_index = group_applied_index(g);
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_CONFIRM;
        resp.confirm = &ans;
        call_answer(c, &resp);
}

const struct rpc_node_calls rpc_node_calls = {
    rpc_node_on_probe,  rpc_node_on_confirm, rpc_move_on_done, rpc_fanout_on_answer,
    rpc_fanout_on_fail, rpc_watch_on_frame,  rpc_watch_on_fail};
