/* Replica moves, carried out by each partition's leader (issue 17,
 * RAFT-NOTES §5; docs/operations.md "Moving a replica").
 *
 * `tunekv move P FROM TO` only records the move in the cluster map
 * (rpc_member.c: parts[P].move_from/move_to, epoch + 1). The node TO
 * then opens an empty replica of P (server_place.c: no bootstrap, it
 * waits for the leader), and P's leader, at every housekeeping pass while
 * it is ready, compares P's Raft configuration with the map and takes the
 * next step (rpc_move_flush):
 *
 *   1. TO not in the configuration: add it as a spare (raft_add);
 *   2. TO a spare: make it a standby, which gets the log and snapshots
 *      but does not vote, so the quorum does not wait for it;
 *   3. TO a standby within RPC_MOVE_CATCH_UP_GAP entries of the leader's
 *      last index: make it a voter (raft runs its catch-up round, short
 *      now, then appends the configuration);
 *   4. FROM still in the configuration: if this node is FROM, hand the
 *      leadership to TO (raft_transfer; the new leader goes on from here);
 *      else remove FROM (raft_remove);
 *   5. the configuration is the map's replicas with TO for FROM: send
 *      MOVE_DONE to the metadata group's leader (or propose it here when
 *      this node leads it), which puts TO in FROM's slot and ends the move
 *      in the map; FROM then closes its replica and deletes its data
 *      (server_place.c).
 *
 * The state is the committed Raft configuration and the map, nothing
 * else: a step whose leader crashed, or whose callback never came, is
 * taken again by whoever leads next, from what the configuration holds.
 * raft takes one change at a time and none before a new leader's own-term
 * entry committed (group_changing, group_ready).
 *
 * Without a move in progress the leader also removes servers the map does
 * not place on P: a cancelled move's target (not a voter yet, or a voter
 * as long as P keeps at least the map's replica count of voters). This
 * node's map may be older than the metadata group's; the argument that
 * acting on an old map does no harm is in docs/architecture.md ("Replica
 * moves"): a step only adds TO, promotes it, or removes FROM once TO
 * votes, so a partition never has fewer voters than the map's replica
 * count because of a move.
 *
 * Failure modes: TO unreachable or too slow to catch up (it stays a
 * standby; the step is logged, STATUS shows it); FROM dead (it is removed
 * all the same: the other voters are a majority of the four); the
 * metadata group without a leader (MOVE_DONE retried every
 * RPC_MOVE_RETRY_MS). */
#include <stdio.h>
#include <string.h>

#include "cmap.h"
#include "command.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"
#include "rpc_meta.h"
#include "rpc_move.h"

/* A standby this close to the leader's last index is promoted: raft's
 * catch-up round then needs only a heartbeat or two. */
#define RPC_MOVE_CATCH_UP_GAP 1024
/* MOVE_DONE again after a failure, or when its answer is this late. */
#define RPC_MOVE_RETRY_MS 1000
#define RPC_MOVE_LOST_MS  10000

static uint32_t rpc_move_partition(const struct node *node, const struct node_move *mv)
{
        return (uint32_t)(mv - node->moves);
}

/* Note the step partition p's move is at, and log it once. */
static void rpc_move_step(struct node *node, uint32_t p, const struct cmap_placement *pl,
                          const char *step)
{
        struct node_move *mv = &node->moves[p];

        if (mv->step == step && mv->from == pl->move_from && mv->to == pl->move_to) {
                return;
        }
        if (mv->from != pl->move_from || mv->to != pl->move_to) {
                mv->done_recorded = false;
        }
        mv->step = step;
        mv->from = pl->move_from;
        mv->to = pl->move_to;
        mv->step_since_ms = uv_now(node->loop);
        char what[48];

        cmap_group_name(node->meta.map, p, what, sizeof what);
        LOGI((int)p, "move: %s from node %u to node %u: %s", what, pl->move_from, pl->move_to,
             step);
}

static const struct group_member *rpc_move_find(const struct group_member *ms, unsigned n,
                                                uint64_t id)
{
        for (unsigned i = 0; i < n; i++) {
                if (ms[i].id == id) {
                        return &ms[i];
                }
        }
        return NULL;
}

/* ------------------------------------------------------------------------ */
/* MOVE_DONE */

static void rpc_move_done_result(struct node *node, uint32_t p, int status, const char *why)
{
        struct node_move *mv = &node->moves[p];

        mv->done_busy = false;
        mv->done_next_ms = 0; /* the next move's MOVE_DONE goes at once */
        if (status == 0) {
                LOGI((int)p, "move: partition %u from node %u to node %u: recorded done", p,
                     mv->from, mv->to);
                mv->done_recorded = true;
                return;
        }
        mv->done_next_ms = uv_now(node->loop) + RPC_MOVE_RETRY_MS;
        LOGW((int)p, "move: partition %u: MOVE_DONE not recorded (%s); retrying", p, why);
}

static void rpc_move_done_written(struct group_write *w, int status,
                                  const struct command_result *res)
{
        struct node_move *mv = QUEUE_DATA(w, struct node_move, done);
        struct node *node = mv->node;
        uint32_t p = rpc_move_partition(node, mv);

        if (status != 0) {
                rpc_move_done_result(node, p, status, err_str(status));
        } else if (res->status != 0) {
                rpc_move_done_result(node, p, res->status,
                                     res->status == TKV_ECONDITION
                                         ? "the cluster map changed at the same time"
                                         : err_str(res->status));
        } else {
                rpc_move_done_result(node, p, 0, NULL);
                rpc_meta_flush(node); /* learn the map it wrote now */
        }
}

/* This node leads the metadata group: propose the map with the move done. */
static void rpc_move_done_here(struct node *node, uint32_t p, Tunekv__V1__MemberRequest *mr)
{
        struct node_move *mv = &node->moves[p];
        struct command cmd;
        uint64_t epoch;
        char why[320];
        int rv = rpc_member_change(node->meta_group, mr, &cmd, &epoch, why, sizeof why);

        if (rv == TKV_EEXIST) {
                rpc_move_done_result(node, p, 0, NULL);
                return;
        }
        if (rv != 0) {
                mv->done_busy = true;
                rpc_move_done_result(node, p, rv, why);
                return;
        }
        rv = group_propose(node->meta_group, &mv->done, &cmd, rpc_move_done_written);
        tkv_free((void *)cmd.value);
        mv->done_busy = true;
        if (rv != 0) {
                rpc_move_done_result(node, p, rv, err_str(rv));
        } else {
                LOGI(-1,
                     "meta: proposing cluster map epoch %llu: partition %u moved from node %u "
                     "to node %u",
                     (unsigned long long)epoch, p, mr->node_id, mr->to_node_id);
        }
}

/* Send MOVE_DONE to the metadata group's leader if this node knows it (a
 * voter of that group), else to a voter, which forwards it there. */
static void rpc_move_done_send(struct node *node, uint32_t p, Tunekv__V1__MemberRequest *mr)
{
        struct node_move *mv = &node->moves[p];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        uint64_t leader = node->meta_group != NULL ? group_leader_id(node->meta_group) : 0;
        struct peer *peer;
        uint8_t *space;
        size_t len;

        if (leader == 0) {
                leader =
                    node_meta_member(node, p + (unsigned)(uv_now(node->loop) / RPC_MOVE_RETRY_MS));
        }
        peer = node_peer(node, (unsigned)leader);
        mv->done_next_ms = uv_now(node->loop) + RPC_MOVE_RETRY_MS;
        if (peer == NULL) {
                return;
        }
        req.id = peer_next_id(peer);
        req.body_case = TUNEKV__V1__REQUEST__BODY_MEMBER;
        req.member = mr;
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(peer, len);
        if (space == NULL) {
                return; /* the link's queue is full: next time */
        }
        tunekv__v1__request__pack(&req, space);
        mv->done_call.kind = RPC_PEER_MOVE;
        peer_track(peer, &mv->done_call, req.id);
        mv->done_busy = true;
        mv->done_next_ms = uv_now(node->loop) + RPC_MOVE_LOST_MS;
}

/* Step 5: P's Raft group has TO for FROM; have the map say so. */
static void rpc_move_done(struct node *node, uint32_t p, const struct cmap_placement *pl)
{
        struct node_move *mv = &node->moves[p];
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;
        struct group *meta = node->meta_group;
        uint64_t now = uv_now(node->loop);

        rpc_move_step(node, p, pl, "recording the move done in the cluster map");
        if (mv->done_recorded) {
                return; /* this node's map has not caught up yet */
        }
        if (mv->done_busy && mv->done_call.peer != NULL && now >= mv->done_next_ms) {
                /* No answer for long: forget the call, ask again. */
                peer_forget(&mv->done_call);
                mv->done_busy = false;
        }
        if (mv->done_busy || now < mv->done_next_ms) {
                return;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_DONE;
        mr.partition = p;
        mr.node_id = pl->move_from;
        mr.to_node_id = pl->move_to;
        mv->done_call.peer = NULL;
        if (meta != NULL && group_is_leader(meta) && group_ready(meta)) {
                rpc_move_done_here(node, p, &mr);
        } else {
                rpc_move_done_send(node, p, &mr);
        }
}

void rpc_move_on_done(struct node *node, struct peer_call *pc, const Tunekv__V1__Response *resp)
{
        struct node_move *mv = QUEUE_DATA(pc, struct node_move, done_call);
        uint32_t p = rpc_move_partition(node, mv);

        if (resp == NULL) {
                rpc_move_done_result(node, p, TKV_ECONN, "the link to the member failed");
        } else if (resp->status != TUNEKV__V1__STATUS__STATUS_OK) {
                rpc_move_done_result(node, p, TKV_EIO,
                                     resp->message != NULL ? resp->message : "refused");
        } else {
                rpc_move_done_result(node, p, 0, NULL);
        }
}

/* ------------------------------------------------------------------------ */
/* The steps */

/* Step 4 when this node is FROM: hand the leadership to TO. */
static void rpc_move_hand_over(struct node *node, uint32_t p, struct group *g,
                               const struct cmap_placement *pl)
{
        int rv = group_transfer(g, pl->move_to, NULL, NULL);

        rpc_move_step(node, p, pl,
                      rv == 0 || rv == TKV_EBUSY ? "handing the leadership to the new replica"
                                                 : "waiting for the new replica to catch up "
                                                   "before handing it the leadership");
}

/* One step of p's move on g, which this node leads. */
static void rpc_move_advance(struct node *node, uint32_t p, struct group *g,
                             const struct cmap_placement *pl, const struct group_member *ms,
                             unsigned n)
{
        const struct group_member *to = rpc_move_find(ms, n, pl->move_to);
        const struct cmap_member *mb = cmap_member(node->meta.map, pl->move_to);
        uint64_t last = group_last_index(g);

        if (to == NULL) {
                rpc_move_step(node, p, pl, "adding the new replica (spare)");
                (void)group_change(g, GROUP_CHANGE_ADD, pl->move_to, mb->peer_addr);
        } else if (to->role == GROUP_MEMBER_SPARE) {
                rpc_move_step(node, p, pl, "sending the new replica the log (standby)");
                (void)group_change(g, GROUP_CHANGE_STANDBY, pl->move_to, NULL);
        } else if (to->role == GROUP_MEMBER_STANDBY) {
                if (to->match_index + RPC_MOVE_CATCH_UP_GAP < last) {
                        rpc_move_step(node, p, pl, "the new replica is catching up (standby)");
                        return;
                }
                rpc_move_step(node, p, pl, "promoting the new replica to voter");
                (void)group_change(g, GROUP_CHANGE_VOTER, pl->move_to, NULL);
        } else if (rpc_move_find(ms, n, pl->move_from) != NULL) {
                if (pl->move_from == node->cfg->node_id) {
                        rpc_move_hand_over(node, p, g, pl);
                        return;
                }
                rpc_move_step(node, p, pl, "removing the old replica");
                (void)group_change(g, GROUP_CHANGE_REMOVE, pl->move_from, NULL);
        } else {
                rpc_move_done(node, p, pl);
        }
}

/* No move in progress: remove the servers the map does not place on p (a
 * cancelled move's target), never below the map's count of voters. */
static void rpc_move_tidy(struct node *node, uint32_t p, struct group *g,
                          const struct cmap_placement *pl, const struct group_member *ms,
                          unsigned n)
{
        unsigned voters = 0;

        for (unsigned i = 0; i < n; i++) {
                voters += ms[i].role == GROUP_MEMBER_VOTER;
        }
        for (unsigned i = 0; i < n; i++) {
                bool placed = false;
                for (unsigned k = 0; k < pl->n; k++) {
                        placed = placed || pl->ids[k] == ms[i].id;
                }
                if (placed || ms[i].id == node->cfg->node_id ||
                    (ms[i].role == GROUP_MEMBER_VOTER && voters <= pl->n)) {
                        continue;
                }
                LOGI((int)p,
                     "move: partition %u: removing node %llu, which the cluster map "
                     "(epoch %llu) does not place on it",
                     p, (unsigned long long)ms[i].id, (unsigned long long)node->meta.map->epoch);
                (void)group_change(g, GROUP_CHANGE_REMOVE, ms[i].id, NULL);
                return; /* one change at a time */
        }
        node->moves[p].step = NULL;
}

void rpc_move_flush(struct node *node, uint32_t p)
{
        struct group *g = node_group_or_meta(node, p);
        const struct cmap *m = node->meta.map;
        struct group_member ms[CONFIG_REPLICAS_MAX + 2];
        unsigned n;

        if (g == NULL || m == NULL || p > m->n_partitions || !group_is_leader(g) ||
            !group_ready(g) || group_changing(g)) {
                return;
        }
        n = group_members(g, ms, sizeof ms / sizeof ms[0]);
        if (m->parts[p].move_to != 0) {
                rpc_move_advance(node, p, g, &m->parts[p], ms, n);
        } else {
                rpc_move_tidy(node, p, g, &m->parts[p], ms, n);
        }
}

const char *rpc_move_status(const struct node *node, uint32_t p, uint64_t *since_ms)
{
        const struct node_move *mv = &node->moves[p];
        const struct cmap *m = node->meta.map;

        if (mv->step == NULL || m == NULL || p > m->n_partitions || m->parts[p].move_to != mv->to) {
                return NULL;
        }
        *since_ms = mv->step_since_ms;
        return mv->step;
}
