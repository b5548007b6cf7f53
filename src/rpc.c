/* Request dispatch: decode the envelope, check what every request must
 * satisfy (known operation, in-flight limit, key size, deadline), allocate
 * the call and run the method's handler. The call's life and its answers
 * are call.c's. */
#include "rpc.h"

#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "pballoc.h"
#include "rpc_internal.h"

/* Node-to-node operations (node_only) are served on node links alone: a
 * client connection gets INVALID_ARGUMENT for them. */
static const struct rpc_method rpc_methods[] = {
    /* body, name, handler, has_key, is_write, node_only */
    {TUNEKV__V1__REQUEST__BODY_GET, "GET", rpc_read_get, true, false, false},
    {TUNEKV__V1__REQUEST__BODY_PUT, "PUT", rpc_kv_put, true, true, false},
    {TUNEKV__V1__REQUEST__BODY_DELETE, "DELETE", rpc_kv_delete, true, true, false},
    {TUNEKV__V1__REQUEST__BODY_CAS, "CAS", rpc_kv_cas, true, true, false},
    {TUNEKV__V1__REQUEST__BODY_STATUS, "STATUS", rpc_admin_status, false, false, false},
    {TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO, "CLUSTER_INFO", rpc_admin_cluster_info, false, false,
     false},
    {TUNEKV__V1__REQUEST__BODY_PING, "PING", rpc_admin_ping, false, false, true},
    {TUNEKV__V1__REQUEST__BODY_PROBE, "PROBE", rpc_node_probe_answer, false, false, true},
    {TUNEKV__V1__REQUEST__BODY_CONFIRM, "CONFIRM", rpc_node_confirm_answer, false, false, true},
    {TUNEKV__V1__REQUEST__BODY_USER_ROLE, "USER_ROLE", rpc_users_request, false, true, false},
    {TUNEKV__V1__REQUEST__BODY_TXN, "TXN", rpc_txn, false, true, false},
    {TUNEKV__V1__REQUEST__BODY_GET_MANY, "GET_MANY", rpc_many_get, false, false, false},
    {TUNEKV__V1__REQUEST__BODY_LEASE, "LEASE", rpc_lease, false, true, false},
    {TUNEKV__V1__REQUEST__BODY_SCAN, "SCAN", rpc_scan, false, false, false},
    {TUNEKV__V1__REQUEST__BODY_TRANSFER_LEADER, "TRANSFER_LEADER", rpc_meta_transfer, false, false,
     false},
    {TUNEKV__V1__REQUEST__BODY_MEMBER, "MEMBER", rpc_member_request, false, true, false},
    {TUNEKV__V1__REQUEST__BODY_WATCH, "WATCH", rpc_scan_watch, false, false, false},
    {TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL, "WATCH_CANCEL", rpc_watch_cancel, false, false, false},
};

const struct rpc_method *rpc_method_of(const Tunekv__V1__Request *req)
{
        for (size_t i = 0; i < sizeof rpc_methods / sizeof rpc_methods[0]; i++) {
                if (rpc_methods[i].body == req->body_case) {
                        return &rpc_methods[i];
                }
        }
        return NULL;
}

const ProtobufCBinaryData *rpc_request_key(const Tunekv__V1__Request *req)
{
        switch (req->body_case) {
        case TUNEKV__V1__REQUEST__BODY_GET:
                return &req->get->key;
        case TUNEKV__V1__REQUEST__BODY_PUT:
                return &req->put->key;
        case TUNEKV__V1__REQUEST__BODY_DELETE:
                return &req->delete_->key;
        case TUNEKV__V1__REQUEST__BODY_CAS:
                return &req->cas->key;
        default:
                return NULL;
        }
}

/* Answer without a call: the request is refused before one exists. */
static void rpc_answer_direct(struct conn *conn, uint64_t id, int tkv_err, const char *message)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        resp.id = id;
        resp.status = call_status_of(tkv_err);
        resp.message = (char *)message;
        call_send(conn, &resp);
}

void rpc_answer_frame_error(struct conn *conn, int tkv_err, const char *message)
{
        rpc_answer_direct(conn, 0, tkv_err, message);
}

/* Checks every request passes before it gets a call. Returns 0 or a TKV_E*
 * code with message filled. */
static int rpc_admit(struct conn *conn, const Tunekv__V1__Request *req,
                     const struct rpc_method **method, char *message, size_t len)
{
        struct node *node = conn->set->data;
        const struct config *cfg = node->cfg;
        const ProtobufCBinaryData *key;
        int rv;

        *method = rpc_method_of(req);
        if (*method == NULL) {
                snprintf(message, len, "unknown operation (no known request body is set)");
                return TKV_EINVAL;
        }
        if ((*method)->node_only && !conn_is_link(conn)) {
                snprintf(message, len,
                         "%s is a node-to-node operation: it is accepted on the peer port "
                         "only, not on the client port",
                         (*method)->name);
                return TKV_EINVAL;
        }
        if (node->state != NODE_SERVING) {
                snprintf(message, len, "node is %s",
                         node->state == NODE_STARTING ? "starting" : "shutting down");
                return TKV_ESHUTDOWN;
        }
        key = rpc_request_key(req);
        rv = rpc_auth_admit(conn, req, (*method)->name, key, message, len);
        if (rv != 0) {
                return rv;
        }
        if (conn->inflight >= conn_inflight_max(conn)) {
                node->stats.answers_busy++;
                snprintf(message, len, "%u requests in progress on this connection (%s)",
                         conn->inflight,
                         conn_is_link(conn) ? "link_inflight_max" : "inflight_per_conn_max");
                return TKV_EBUSY;
        }
        if (req->timeout_ms > cfg->request_timeout_max_ms) {
                snprintf(message, len, "timeout_ms %u exceeds request_timeout_max_ms %u",
                         req->timeout_ms, cfg->request_timeout_max_ms);
                return TKV_EINVAL;
        }
        if ((*method)->body == TUNEKV__V1__REQUEST__BODY_GET_MANY &&
            (rv = rpc_many_admit(req, cfg, message, len)) != 0) {
                return rv;
        }
        if ((*method)->body == TUNEKV__V1__REQUEST__BODY_SCAN &&
            (rv = rpc_scan_admit(req, cfg, message, len)) != 0) {
                return rv;
        }
        if ((*method)->body == TUNEKV__V1__REQUEST__BODY_WATCH &&
            (rv = rpc_watch_admit(conn, req, cfg, node->n_partitions, message, len)) != 0) {
                return rv;
        }
        if (key != NULL && key->len == 0) {
                snprintf(message, len, "empty key");
                return TKV_EINVAL;
        }
        if (key != NULL && key->len > cfg->key_bytes_max) {
                snprintf(message, len, "key of %zu bytes exceeds key_bytes_max %llu", key->len,
                         (unsigned long long)cfg->key_bytes_max);
                return TKV_ETOOBIG;
        }
        return 0;
}

static struct call *rpc_call_new(struct conn *conn, const Tunekv__V1__Request *req,
                                 const struct rpc_method *method)
{
        struct node *node = conn->set->data;
        const ProtobufCBinaryData *key = method->has_key ? rpc_request_key(req) : NULL;
        bool many = method->body == TUNEKV__V1__REQUEST__BODY_GET_MANY;
        bool scan = method->body == TUNEKV__V1__REQUEST__BODY_SCAN;
        bool watch = method->body == TUNEKV__V1__REQUEST__BODY_WATCH;
        size_t key_len = key != NULL ? key->len
                         : many      ? rpc_many_call_bytes(req)
                         : scan      ? rpc_scan_call_bytes(req, node->n_partitions)
                         : watch     ? rpc_scan_watch_call_bytes(req, node->n_partitions)
                                     : 0;
        unsigned timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : node->cfg->request_timeout_ms;
        struct call *c = call_alloc(node, key_len);

        if (c == NULL) {
                return NULL;
        }
        memset(c, 0, sizeof *c);
        c->conn = conn;
        c->node = node;
        c->id = req->id;
        c->start_ns = uv_hrtime();
        c->op_kind = method->body == TUNEKV__V1__REQUEST__BODY_GET      ? NODE_OP_GET
                     : method->body == TUNEKV__V1__REQUEST__BODY_PUT    ? NODE_OP_PUT
                     : method->body == TUNEKV__V1__REQUEST__BODY_DELETE ? NODE_OP_DELETE
                     : method->body == TUNEKV__V1__REQUEST__BODY_CAS    ? NODE_OP_CAS
                                                                        : NODE_OP_OTHER;
        c->from_node = conn->link_node;
        c->method = method;
        c->key_len = (uint32_t)key_len;
        if (key != NULL && key_len > 0) {
                memcpy(c->key, key->data, key_len);
        } else if (many) {
                rpc_many_call_fill(c, req); /* the keys live in the call */
        } else if (scan) {
                rpc_scan_call_fill(c, req); /* so does the scan's request */
        } else if (watch) {
                rpc_scan_watch_call_fill(c, req); /* and the round that starts a watch */
        }
        queue_init(&c->op.write.link);
        deadline_clear(&c->deadline);
        c->deadline.at_ms = uv_now(node->loop) + timeout_ms;
        if (call_deadline_add(c) != 0) {
                call_release(node, c);
                return NULL;
        }
        conn->inflight++;
        conn_ref(conn);
        node->calls++;
        return c;
}

/* What decoding one request may take (pballoc.h). A few dozen allocations
 * and about its own size (bytes fields are copied) make any valid one, but
 * for the repeated fields, which the limits bound: a TXN's compares and
 * ops, three allocations each (the budget allows about twice the txn_*
 * limits, so that a TXN over them decodes and gets the TOO_LARGE that
 * names the limit), and GET_MANY's keys, one each and the array (twice
 * get_many_keys_max, for the same reason). Unknown fields cost one each. */
#define RPC_DECODE_ALLOCS_MAX  256
#define RPC_DECODE_BYTES(len)  (8 * (len) + 65536)
#define RPC_DECODE_MANY_ALLOCS 2   /* per GET_MANY key */
#define RPC_DECODE_TXN_ALLOCS  6   /* per compare or op: twice the three one takes */
#define RPC_DECODE_TXN_BYTES   256 /* per compare or op */

void rpc_dispatch(struct conn *conn, const uint8_t *data, size_t len)
{
        struct node *node = conn->set->data;
        struct pballoc pb;
        Tunekv__V1__Request *req;
        const struct rpc_method *method;
        struct call *c;
        char message[256];
        size_t txn_items;
        int rv;

        node->stats.requests++;
        txn_items = (size_t)node->cfg->txn_ops_max + node->cfg->txn_compares_max;
        pballoc_init(&pb, RPC_DECODE_BYTES(len) + RPC_DECODE_TXN_BYTES * txn_items,
                     RPC_DECODE_ALLOCS_MAX + RPC_DECODE_TXN_ALLOCS * txn_items +
                         RPC_DECODE_MANY_ALLOCS * (size_t)node->cfg->get_many_keys_max);
        req = tunekv__v1__request__unpack(&pb.base, len, data);
        if (req == NULL) {
                node->stats.frames_undecodable++;
                rpc_answer_frame_error(conn, pb.failed ? TKV_ENOMEM : TKV_EPROTO,
                                       pb.failed ? "out of memory decoding the request"
                                       : pb.over ? "request has too many fields to decode "
                                                   "(unknown fields?)"
                                                 : "undecodable request frame");
                conn_close_after_write(conn);
                return;
        }
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_AUTH) {
                rpc_auth_start(conn, req); /* answers when the password is hashed */
                goto out;
        }
        rv = rpc_admit(conn, req, &method, message, sizeof message);
        if (rv != 0) {
                rpc_answer_direct(conn, req->id, rv, message);
                goto out;
        }
        c = rpc_call_new(conn, req, method);
        if (c == NULL) {
                rpc_answer_direct(conn, req->id, TKV_ENOMEM, "out of memory");
                goto out;
        }
        node->dispatching.req = req;
        node->dispatching.bytes = data;
        node->dispatching.len = len;
        method->handler(c, req);
        node->dispatching.req = NULL;
        node->dispatching.bytes = NULL;
        node->dispatching.len = 0;
out:
        tunekv__v1__request__free_unpacked(req, &pb.base);
}

/* Stop waiting: detach c from whatever holds it. */
bool rpc_call_abandon(struct call *c)
{
        enum call_stage stage = c->stage;
        c->stage = CALL_NEW;
        switch (stage) {
        case CALL_READ:
                group_read_abandon(&c->op.read);
                return false;
        case CALL_WRITE:
                return group_write_abandon(&c->op.write);
        case CALL_FORWARDED:
                return rpc_forward_abandon(c);
        case CALL_WAIT:
                read_wait_abandon(&c->op.wait);
                return false;
        case CALL_ACK_ALL:
                queue_remove(&c->op.ack_all);
                return true; /* applied, in fact */
        case CALL_HASHING:
                rpc_users_abandon(c);
                return false;
        case CALL_TRANSFER:
                group_transfer_abandon(c->group);
                return false;
        case CALL_NEW:
        default:
                return false;
        }
}

/* Abandon the call behind d and answer it: OUTCOME_UNKNOWN if its write had
 * reached Raft, otherwise tkv_err. Two stages end otherwise: a read waiting
 * for its bound follows its on_unmet (rpc_read.c), and a write waiting for
 * every replica is answered with the acknowledgement it has (COMMITTED). */
static void rpc_abandon(struct deadline *d, int tkv_err, const char *why)
{
        struct call *c = QUEUE_DATA(d, struct call, deadline);

        if (c->stage == CALL_WAIT && tkv_err == TKV_ETIMEDOUT) {
                rpc_read_expired(c);
                return;
        }
        if (c->stage == CALL_ACK_ALL) {
                queue_remove(&c->op.ack_all);
                rpc_kv_ack_all_done(c, false);
                return;
        }
        if (rpc_call_abandon(c)) {
                call_answer_error(c, TKV_EUNKNOWN, "%s after the write was handed on", why);
        } else {
                call_answer_error(c, tkv_err, "%s", why);
        }
}

void rpc_expire(struct deadline *d)
{
        rpc_abandon(d, TKV_ETIMEDOUT, "deadline expired");
}

void rpc_cancel(struct deadline *d)
{
        rpc_abandon(d, TKV_ESHUTDOWN, "node shutting down");
}
