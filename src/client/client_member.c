/* tkv_member_list, tkv_member_add, tkv_member_remove, tkv_transfer_leader,
 * tkv_cluster_epoch (include/tunekv.h).
 *
 * Rare, operator-driven requests, so they take client_users.c's path: a
 * connection of their own (AUTH first, as on every link), one request,
 * its answer, close. A member list is CLUSTER_INFO read for its members
 * and epoch. A transfer goes to the node that is to lead (its client
 * address from the member list), with no_forward unset: that node keeps
 * the leadership it is given and hands the request to the partition's
 * leader (docs/protocol.md, TRANSFER_LEADER). A member change goes to
 * the first endpoint that answers, which hands it to the metadata group's
 * leader (MEMBER). Nothing is retried: a change whose outcome is unknown
 * shows in the member list. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "heap.h"
#include "pballoc.h"
#include "tunekv.pb-c.h"

/* What an answer is decoded into. */
struct client_member_answer {
        int status;
        char *message; /* message_len bytes */
        size_t message_len;
        struct tkv_member_list *list; /* CLUSTER_INFO: filled; else NULL */
        uint64_t epoch;               /* MEMBER: the new map's */
        bool want_epoch;              /* MEMBER: the answer must carry it */
};

static enum tkv_member_state client_member_state(Tunekv__V1__MemberState st)
{
        switch (st) {
        case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_VOTER:
                return TKV_MEMBER_VOTER;
        case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_JOINING:
                return TKV_MEMBER_JOINING;
        case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_REMOVED:
                return TKV_MEMBER_REMOVED;
        case TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_LEAVING:
                return TKV_MEMBER_LEAVING;
        default:
                return TKV_MEMBER_UNKNOWN;
        }
}

/* The members of ci into list (one allocation). */
static int client_member_fill(const Tunekv__V1__ClusterInfoResponse *ci,
                              struct tkv_member_list *list)
{
        list->epoch = ci->epoch;
        list->node_id = ci->node_id;
        if (ci->epoch == 0) {
                snprintf(list->message, sizeof(list->message),
                         "node %u has not applied the cluster map yet; retry", ci->node_id);
                return TKV_UNAVAILABLE;
        }
        list->members = tkv_calloc(ci->n_nodes + 1, sizeof(*list->members));
        if (list->members == NULL) {
                return TKV_NO_MEMORY;
        }
        for (size_t i = 0; i < ci->n_nodes; i++) {
                const Tunekv__V1__NodeInfo *n = ci->nodes[i];
                struct tkv_member *m = &list->members[i];
                m->node_id = n->node_id;
                snprintf(m->client_addr, sizeof(m->client_addr), "%s", n->client_addr);
                snprintf(m->peer_addr, sizeof(m->peer_addr), "%s", n->peer_addr);
                snprintf(m->zone, sizeof(m->zone), "%s", n->zone);
                m->state = client_member_state(n->state);
                m->successor = n->successor;
        }
        list->n_members = ci->n_nodes;
        return TKV_OK;
}

/* The answer in body into a. */
static int client_member_decode(const uint8_t *body, size_t len, struct client_member_answer *a)
{
        struct pballoc pb;
        Tunekv__V1__Response *resp;
        int rv;

        resp = codec_unpack_oneshot(&pb, body, len, &rv, a->message, a->message_len);
        if (resp == NULL) {
                return TKV_PROTOCOL_ERROR;
        }
        if (rv == TKV_OK && a->list != NULL) {
                rv = resp->body_case == TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO
                         ? client_member_fill(resp->cluster_info, a->list)
                         : TKV_PROTOCOL_ERROR;
        }
        if (rv == TKV_OK && a->want_epoch) {
                rv = resp->body_case == TUNEKV__V1__RESPONSE__BODY_MEMBER ? TKV_OK
                                                                          : TKV_PROTOCOL_ERROR;
                a->epoch = rv == TKV_OK ? resp->member->epoch : 0;
        }
        tunekv__v1__response__free_unpacked(resp, &pb.base);
        return rv;
}

static int client_member_decode_cb(void *arg, const uint8_t *body, size_t len)
{
        return client_member_decode(body, len, arg);
}

/* Send frame to endpoint e (client_oneshot) and decode the answer into a.
 * TKV_CONNECT_FAILED: try the next endpoint. */
static int client_member_at(struct tkv_client *c, const struct client_endpoint *e,
                            const struct buffer *frame, struct client_member_answer *a)
{
        return client_oneshot(c, e, frame, client_member_decode_cb, a, a->message, a->message_len);
}

int tkv_member_list(struct tkv_client *c, struct tkv_member_list *out)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ClusterInfoRequest ci = TUNEKV__V1__CLUSTER_INFO_REQUEST__INIT;
        struct client_member_answer a = {0};
        struct buffer frame;
        int rv;

        if (out == NULL) {
                return TKV_USAGE_ERROR;
        }
        memset(out, 0, sizeof(*out));
        if (c == NULL) {
                out->status = TKV_USAGE_ERROR;
                return TKV_USAGE_ERROR;
        }
        a.list = out;
        a.message = out->message;
        a.message_len = sizeof(out->message);
        msg.id = 1;
        msg.timeout_ms = c->timeout_ms;
        msg.body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
        msg.cluster_info = &ci;
        buffer_init(&frame);
        rv = codec_frame_request(&frame, &msg);
        for (unsigned i = 0; rv == TKV_OK && i < c->n_endpoints; i++) {
                rv = client_member_at(c, &c->peers[i]->addr, &frame, &a);
                if (rv != TKV_CONNECT_FAILED) {
                        break;
                }
                rv = i + 1 < c->n_endpoints ? TKV_OK : rv;
        }
        buffer_free(&frame);
        out->status = rv;
        if (rv == TKV_OK && out->epoch > c->epoch) {
                c->epoch = out->epoch;
        }
        if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", out->message);
        }
        return rv;
}

void tkv_member_list_release(struct tkv_member_list *l)
{
        if (l != NULL) {
                tkv_free(l->members);
                memset(l, 0, sizeof(*l));
        }
}

/* The client address of node_id by the cluster map, into e. */
static int client_member_addr(struct tkv_client *c, uint32_t node_id, struct client_endpoint *e,
                              char *msg, size_t msg_len)
{
        struct tkv_member_list l;
        int rv = tkv_member_list(c, &l);

        if (rv != TKV_OK) {
                snprintf(msg, msg_len, "%s", l.message);
                return rv;
        }
        rv = TKV_INVALID_ARGUMENT;
        snprintf(msg, msg_len, "node %u is not a member of the cluster (epoch %llu)", node_id,
                 (unsigned long long)l.epoch);
        for (size_t i = 0; i < l.n_members; i++) {
                const char *addr = l.members[i].client_addr;
                if (l.members[i].node_id == node_id) {
                        rv = client_endpoint_parse(addr, strlen(addr), e, msg, msg_len) == TKV_OK
                                 ? TKV_OK
                                 : TKV_PROTOCOL_ERROR;
                }
        }
        tkv_member_list_release(&l);
        return rv;
}

int tkv_transfer_leader(struct tkv_client *c, uint32_t partition, uint32_t node_id, char *errbuf,
                        size_t errbuf_len)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__TransferLeaderRequest tr = TUNEKV__V1__TRANSFER_LEADER_REQUEST__INIT;
        char message[256] = "";
        struct client_member_answer a = {0, message, sizeof(message), NULL, 0, false};
        struct client_endpoint e;
        struct buffer frame;
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        buffer_init(&frame);
        rv = client_member_addr(c, node_id, &e, message, sizeof(message));
        if (rv == TKV_OK) {
                msg.id = 1;
                msg.timeout_ms = c->timeout_ms;
                msg.body_case = TUNEKV__V1__REQUEST__BODY_TRANSFER_LEADER;
                msg.transfer_leader = &tr;
                tr.partition = partition;
                tr.node_id = node_id;
                rv = codec_frame_request(&frame, &msg);
        }
        if (rv == TKV_OK) {
                rv = client_member_at(c, &e, &frame, &a);
        }
        buffer_free(&frame);
        if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", message);
        }
        if (errbuf != NULL && errbuf_len > 0) {
                snprintf(errbuf, errbuf_len, "%s", rv == TKV_OK ? "" : message);
        }
        return rv;
}

/* Send mr to the first endpoint that answers; *epoch (if not NULL) and
 * errbuf filled as tkv_member_add says. */
static int client_member_change(struct tkv_client *c, Tunekv__V1__MemberRequest *mr,
                                uint64_t *epoch, char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        char message[256] = "";
        struct client_member_answer a = {0, message, sizeof(message), NULL, 0, true};
        struct buffer frame;
        int rv;

        msg.id = 1;
        msg.timeout_ms = c->timeout_ms;
        msg.body_case = TUNEKV__V1__REQUEST__BODY_MEMBER;
        msg.member = mr;
        buffer_init(&frame);
        rv = codec_frame_request(&frame, &msg);
        for (unsigned i = 0; rv == TKV_OK && i < c->n_endpoints; i++) {
                rv = client_member_at(c, &c->peers[i]->addr, &frame, &a);
                if (rv != TKV_CONNECT_FAILED) {
                        break;
                }
                rv = i + 1 < c->n_endpoints ? TKV_OK : rv;
        }
        buffer_free(&frame);
        if (rv == TKV_OK && a.epoch > c->epoch) {
                c->epoch = a.epoch;
        }
        if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", message);
        }
        if (epoch != NULL) {
                *epoch = rv == TKV_OK ? a.epoch : 0;
        }
        if (errbuf != NULL && errbuf_len > 0) {
                snprintf(errbuf, errbuf_len, "%s", rv == TKV_OK ? "" : message);
        }
        return rv;
}

int tkv_member_add(struct tkv_client *c, const struct tkv_member *m, uint64_t *epoch, char *errbuf,
                   size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL || m == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_ADD;
        mr.node_id = m->node_id;
        mr.client_addr = (char *)m->client_addr;
        mr.peer_addr = (char *)m->peer_addr;
        mr.zone = (char *)m->zone;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

int tkv_member_remove(struct tkv_client *c, uint32_t node_id, uint64_t *epoch, char *errbuf,
                      size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_REMOVE;
        mr.node_id = node_id;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

int tkv_member_replace(struct tkv_client *c, uint32_t old_id, const struct tkv_member *successor,
                       uint64_t *epoch, char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL || successor == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_REPLACE;
        mr.node_id = old_id;
        mr.to_node_id = successor->node_id;
        mr.client_addr = (char *)successor->client_addr;
        mr.peer_addr = (char *)successor->peer_addr;
        mr.zone = (char *)successor->zone;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

int tkv_member_update(struct tkv_client *c, uint32_t node_id, const char *client_addr,
                      const char *peer_addr, const char *zone, uint64_t *epoch, char *errbuf,
                      size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_UPDATE;
        mr.node_id = node_id;
        mr.client_addr = client_addr != NULL ? (char *)client_addr : "";
        mr.peer_addr = peer_addr != NULL ? (char *)peer_addr : "";
        mr.zone = zone != NULL ? (char *)zone : "";
        mr.update_zone = zone != NULL;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

int tkv_move(struct tkv_client *c, uint32_t partition, uint32_t from, uint32_t to, uint64_t *epoch,
             char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE;
        mr.partition = partition;
        mr.node_id = from;
        mr.to_node_id = to;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

int tkv_move_cancel(struct tkv_client *c, uint32_t partition, uint64_t *epoch, char *errbuf,
                    size_t errbuf_len)
{
        Tunekv__V1__MemberRequest mr = TUNEKV__V1__MEMBER_REQUEST__INIT;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        mr.op = TUNEKV__V1__MEMBER_OP__MEMBER_OP_MOVE_CANCEL;
        mr.partition = partition;
        return client_member_change(c, &mr, epoch, errbuf, errbuf_len);
}

uint64_t tkv_cluster_epoch(const struct tkv_client *c)
{
        return c != NULL ? c->epoch : 0;
}
