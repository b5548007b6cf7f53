/* MEMBER: add a member to the cluster map, or remove one, or start,
 * cancel or complete a replica's move (issue 17; the moves themselves are
 * carried out by the partitions' leaders, rpc_move.c).
 *
 * The cluster map is one record in the metadata group's store (rpc_meta.c
 * follows it on every node). A change is carried out where that record is
 * written, at the metadata group's leader. Normal path:
 *
 *   1. Admission checked admin (rpc_auth.c: MEMBER is not listed there).
 *   2. A node that does not lead the metadata group forwards the request,
 *      as it came, to the leader (one hop: the leader forwards nothing).
 *   3. The leader decodes the record from its own store, applies the
 *      change (cmap_add: a JOINING member; cmap_remove: REMOVED), which
 *      raises the epoch, and proposes the new map as a CAS on the version
 *      it read, so that two changes that raced cannot both apply to the
 *      same map: the second one fails its condition (BUSY: retry).
 *   4. Once the CAS applied at the leader, the leader learns the new map
 *      (rpc_meta_flush, so that its own CLUSTER_INFO shows it at once) and
 *      answers the new epoch. Every other node learns it at its first
 *      housekeeping tick after it applied the entry.
 *
 * Failure modes: the change refused by cmap (INVALID_ARGUMENT or
 * TOO_LARGE, nothing proposed, the reason in the message), no map yet or
 * no leader (UNAVAILABLE), a leader whose election barrier has not
 * applied yet or the concurrent change above (BUSY: retry), lost
 * leadership (NOT_LEADER before the proposal, OUTCOME_UNKNOWN after it:
 * `member list` tells whether it applied). */
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
#include "store.h"

static void rpc_member_answer_epoch(struct call *c, uint64_t epoch)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__MemberResponse mr = TUNEKV__V1__MEMBER_RESPONSE__INIT;

        mr.epoch = epoch;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_MEMBER;
        resp.member = &mr;
        call_answer(c, &resp);
}

static void rpc_member_written(struct group_write *w, int status, const struct command_result *res)
{
        struct call *c = QUEUE_DATA(w, struct call, op.write);

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "MEMBER");
        } else if (status != 0) {
                call_answer_error(c, status, "MEMBER: %s",
                                  status == TKV_EUNKNOWN ? "leadership changed before the change "
                                                           "was acknowledged; see member list"
                                                         : err_str(status));
        } else if (res->status == TKV_ECONDITION) {
                call_answer_error(c, TKV_EBUSY,
                                  "MEMBER: the cluster map changed at the same time; retry");
        } else if (res->status != 0) {
                call_answer_error(c, TKV_EIO, "MEMBER: the change could not be applied");
        } else {
                LOGI(-1, "meta: cluster map epoch %llu written at index %llu (a member change)",
                     (unsigned long long)c->epoch, (unsigned long long)res->index);
                /* Learn it now rather than at the next tick, so that this
                 * node's CLUSTER_INFO already shows what it answers. */
                rpc_meta_flush(c->node);
                rpc_member_answer_epoch(c, c->epoch);
        }
}

/* Apply mr to m; the reason for a refusal in why. TKV_EEXIST: m holds
 * what mr asks for already (nothing to write). */
/* UPDATE: the member's addresses and/or zone. */
static int rpc_member_update(struct cmap *m, const Tunekv__V1__MemberRequest *mr, char *why,
                             size_t len)
{
        if (strlen(mr->client_addr) >= CMAP_TEXT_BYTES ||
            strlen(mr->peer_addr) >= CMAP_TEXT_BYTES || strlen(mr->zone) >= CMAP_TEXT_BYTES) {
                snprintf(why, len, "an address or the zone is longer than %d bytes",
                         CMAP_TEXT_BYTES - 1);
                return TKV_EINVAL;
        }
        return cmap_update(m, mr->node_id, mr->client_addr[0] != '\0' ? mr->client_addr : NULL,
                           mr->peer_addr[0] != '\0' ? mr->peer_addr : NULL,
                           mr->update_zone ? mr->zone : NULL, why, len);
}

static int rpc_member_apply(struct cmap *m, const Tunekv__V1__MemberRequest *mr, char *why,
                            size_t len)
{
        struct cmap_member mb;

        switch (mr->op) {
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_REMOVE:
                return cmap_remove(m, mr->node_id, why, len);
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE:
                return cmap_move(m, mr->partition, mr->node_id, mr->to_node_id, why, len);
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_CANCEL:
                return cmap_move_cancel(m, mr->partition, why, len);
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_DONE:
                return cmap_move_done(m, mr->partition, mr->node_id, mr->to_node_id, why, len);
        default:
                break;
        }
        if (mr->op == TUNEKV__V1__MEMBER_OP__MEMBER_OP_REPLACE && mr->client_addr[0] == '\0') {
                return cmap_replace(m, mr->node_id, mr->to_node_id, NULL, why, len);
        }
        if (mr->op == TUNEKV__V1__MEMBER_OP__MEMBER_OP_UPDATE) {
                return rpc_member_update(m, mr, why, len);
        }
        memset(&mb, 0, sizeof mb);
        mb.id = mr->op == TUNEKV__V1__MEMBER_OP__MEMBER_OP_REPLACE ? mr->to_node_id : mr->node_id;
        /* The copies below would cut a longer text into another, shorter
         * one that might pass the checks: refuse it whole. */
        if (strlen(mr->client_addr) >= sizeof mb.client_addr ||
            strlen(mr->peer_addr) >= sizeof mb.peer_addr || strlen(mr->zone) >= sizeof mb.zone) {
                snprintf(why, len, "an address or the zone is longer than %zu bytes",
                         sizeof mb.zone - 1);
                return TKV_EINVAL;
        }
        snprintf(mb.client_addr, sizeof mb.client_addr, "%s", mr->client_addr);
        snprintf(mb.peer_addr, sizeof mb.peer_addr, "%s", mr->peer_addr);
        snprintf(mb.zone, sizeof mb.zone, "%s", mr->zone);
        if (mr->op == TUNEKV__V1__MEMBER_OP__MEMBER_OP_REPLACE) {
                return cmap_replace(m, mr->node_id, mr->to_node_id, &mb, why, len);
        }
        return cmap_add(m, &mb, why, len);
}

int rpc_member_change(struct group *g, const Tunekv__V1__MemberRequest *mr, struct command *cmd,
                      uint64_t *epoch, char *why, size_t len)
{
        const struct store_entry *e = store_get(group_store(g), CMAP_KEY, sizeof CMAP_KEY - 1);
        struct cmap *m = NULL;
        uint8_t *bytes = NULL;
        size_t n = 0;
        int rv;

        if (e == NULL) {
                snprintf(why, len, "the cluster map is not written yet; retry");
                return TKV_ESHUTDOWN;
        }
        rv = cmap_decode(store_entry_value(e), store_entry_value_len(e), &m);
        if (rv != 0) {
                snprintf(why, len, "the cluster map cannot be read (%s)", err_str(rv));
                return rv == TKV_ENOMEM ? rv : TKV_EIO;
        }
        rv = rpc_member_apply(m, mr, why, len);
        *epoch = m->epoch;
        if (rv == 0 && cmap_encode(m, &bytes, &n) != 0) {
                snprintf(why, len, "out of memory");
                rv = TKV_ENOMEM;
        }
        cmap_destroy(m);
        m = NULL;
        /* Every later change starts from this record: one that does not
         * decode would stop them all. Never write one. */
        if (rv == 0 && (rv = cmap_decode(bytes, n, &m)) != 0) {
                snprintf(why, len, "the changed cluster map does not decode (%s): not written",
                         err_str(rv));
                LOGE(-1, "meta: %s", why);
                rv = rv == TKV_ENOMEM ? rv : TKV_EIO;
                tkv_free(bytes);
        }
        cmap_destroy(m);
        if (rv != 0) {
                return rv;
        }
        memset(cmd, 0, sizeof *cmd);
        cmd->type = COMMAND_CAS;
        cmd->key = (const uint8_t *)CMAP_KEY;
        cmd->key_len = sizeof CMAP_KEY - 1;
        cmd->value = bytes;
        cmd->value_len = cmd->value_raw_len = (uint32_t)n;
        cmd->expected_version = store_entry_mod_index(e);
        return 0;
}

const char *rpc_member_op_name(const Tunekv__V1__MemberRequest *mr, char *buf, size_t len)
{
        switch (mr->op) {
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_ADD:
                snprintf(buf, len, "node %u added (joining)", mr->node_id);
                break;
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_REMOVE:
                snprintf(buf, len, "node %u removed (or leaving, if it holds replicas)",
                         mr->node_id);
                break;
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_REPLACE:
                snprintf(buf, len, "node %u leaving, replaced by node %u", mr->node_id,
                         mr->to_node_id);
                break;
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE:
                snprintf(buf, len, "partition %u moving from node %u to node %u", mr->partition,
                         mr->node_id, mr->to_node_id);
                break;
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_CANCEL:
                snprintf(buf, len, "partition %u's move cancelled", mr->partition);
                break;
        case TUNEKV__V1__MEMBER_OP__MEMBER_OP_UPDATE:
                snprintf(buf, len, "node %u updated (addresses or zone)", mr->node_id);
                break;
        default:
                snprintf(buf, len, "partition %u moved from node %u to node %u", mr->partition,
                         mr->node_id, mr->to_node_id);
                break;
        }
        return buf;
}

/* This node leads the metadata group g: propose the changed map. */
static void rpc_member_propose(struct call *c, struct group *g, const Tunekv__V1__MemberRequest *mr)
{
        struct command cmd;
        char why[320], what[96];
        int rv = rpc_member_change(g, mr, &cmd, &c->epoch, why, sizeof why);

        if (rv == TKV_EEXIST) {
                /* Asked for what the map holds already: a retry of a
                 * change that applied, or a move in progress. */
                rpc_member_answer_epoch(c, c->epoch);
                return;
        }
        if (rv != 0) {
                call_answer_error(c, rv, "MEMBER: %s", why);
                return;
        }
        rv = group_propose(g, &c->op.write, &cmd, rpc_member_written);
        tkv_free((void *)cmd.value);
        if (rv == 0) {
                LOGI(-1, "meta: proposing cluster map epoch %llu: %s", (unsigned long long)c->epoch,
                     rpc_member_op_name(mr, what, sizeof what));
                c->stage = CALL_WRITE;
        } else if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "MEMBER");
        } else {
                call_answer_error(c, rv, "MEMBER: %s", err_str(rv));
        }
}

bool rpc_member_from_joined(const struct call *c)
{
        const struct cmap *m = c->node->meta.map;

        return c->from_node != 0 && m != NULL && !cmap_hosts(m, m->n_partitions, c->from_node);
}

void rpc_member_request(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__MemberRequest *mr = req->member;
        struct group *g = c->node->meta_group;
        uint64_t leader;

        if (mr->op < TUNEKV__V1__MEMBER_OP__MEMBER_OP_ADD ||
            mr->op > TUNEKV__V1__MEMBER_OP__MEMBER_OP_UPDATE) {
                call_answer_error(c, TKV_EINVAL, "MEMBER: unknown op %d", (int)mr->op);
                return;
        }
        if (mr->op == TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_DONE && c->from_node == 0) {
                /* Only a partition's leader knows that its Raft group
                 * changed: a client's word for it could drop a replica
                 * that still votes. */
                call_answer_error(c, TKV_EINVAL,
                                  "MEMBER: MOVE_DONE is sent by partition leaders, not clients");
                return;
        }
        if (g == NULL && c->node->meta.map != NULL && !req->no_forward &&
            node_meta_member(c->node, 0) != 0) {
                /* No replica of the metadata group here: a node with one
                 * takes it to its leader. */
                rpc_forward(c, req, node_meta_member(c->node, 0));
                return;
        }
        if (g == NULL || !group_running(g) || group_store(g) == NULL) {
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "MEMBER: the metadata group is not running "
                                  "here yet; retry");
                return;
        }
        c->group = g;
        c->partition = c->node->n_partitions;
        leader = group_leader_id(g);
        if (group_is_leader(g) && !group_ready(g)) {
                /* A new leader's store may miss entries of the last term
                 * until its election barrier applied: a change judged on
                 * it could be refused for a reason that no longer holds. */
                call_answer_error(c, TKV_EBUSY,
                                  "MEMBER: the metadata group's leader was just "
                                  "elected; retry");
        } else if (group_is_leader(g)) {
                rpc_member_propose(c, g, mr);
        } else if (leader == 0) {
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "MEMBER: the metadata group has no leader right now; retry");
        } else if (req->no_forward && !rpc_member_from_joined(c)) {
                call_answer_not_leader(c, "MEMBER");
        } else {
                /* One hop, or two for what a joined node passed on: it
                 * knows no leader of the group, and the voters forward
                 * only to the leader, which forwards nothing. */
                rpc_forward(c, req, (unsigned)leader);
        }
}
