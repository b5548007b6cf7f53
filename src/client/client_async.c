/* The asynchronous API. Each call checks its arguments (an error is
 * returned at once and the callback never runs), builds the request
 * (copies of key, value and token; a write's sequence number) and routes
 * it; tkv_poll sends it and runs the callback exactly once. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "heap.h"

static unsigned client_async_timeout_ms(const struct tkv_client *c, unsigned timeout_ms)
{
        return timeout_ms != 0 ? timeout_ms : c->timeout_ms;
}

static int client_async_check_call(struct tkv_client *c, const char *op, tkv_done_cb cb)
{
        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        if (c->closing) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: the client is being destroyed", op);
                return TKV_CONNECTION_CLOSED;
        }
        if (cb == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: no callback", op);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_async_check_bytes(struct tkv_client *c, const char *op, const char *what,
                                    const void *p, size_t len, size_t max)
{
        if (p == NULL && len > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s is NULL but its length is %zu", op,
                         what, len);
                return TKV_USAGE_ERROR;
        }
        if (len > max) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s of %zu bytes exceeds %zu", op, what,
                         len, max);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_async_check_read(struct tkv_client *c, const struct tkv_read_options *o)
{
        if (o == NULL) {
                return TKV_OK;
        }
        if ((unsigned)o->level > TKV_EVENTUAL || (unsigned)o->route > TKV_ROUTE_ANY ||
            (unsigned)o->on_unmet > TKV_ON_UNMET_SERVE_STALE_LABELLED ||
            (o->session_flags & ~0xfu) != 0) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "get: read options out of range (level, route, on_unmet or "
                         "session_flags)");
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_async_check_write(struct tkv_client *c, const char *op,
                                    const struct tkv_write_options *o)
{
        if (o != NULL && (unsigned)o->ack > TKV_ACK_LEADER_ACCEPTED) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: ack %u out of range", op,
                         (unsigned)o->ack);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

/* Check that req's largest attempt fits in a frame and that a request may
 * be added. */
static int client_async_check_room(struct tkv_client *c, struct codec_request *req, const char *op)
{
        if (c->n_pending >= CLIENT_PENDING_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %u requests pending already", op,
                         CLIENT_PENDING_MAX);
                return TKV_BUSY;
        }
        req->id = UINT64_MAX;
        req->timeout_ms = UINT32_MAX;
        req->no_forward = true;
        req->client_id = UINT64_MAX;
        req->seq = UINT64_MAX;
        req->retry = true;
        if (codec_request_bytes(req) > CODEC_FRAME_BYTES_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: request exceeds %u bytes", op,
                         CODEC_FRAME_BYTES_MAX);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

/* A request for checked req (borrowed; what it points to is copied), not
 * routed yet; NULL when out of memory (c->errmsg says so). */
static struct client_req *client_async_make(struct tkv_client *c, const struct codec_request *req,
                                            enum client_kind kind, const char *op,
                                            unsigned timeout_ms, tkv_done_cb cb, void *arg)
{
        struct client_req *r = client_req_new(c, kind, req->op, op, timeout_ms, req);

        if (r == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: out of memory", op);
                return NULL;
        }
        c->n_pending++;
        r->cb = cb;
        r->arg = arg;
        r->expected_version = req->expected_version;
        if (req->read != NULL) {
                r->has_read = true;
                r->read = *req->read;
                if (r->read.node_id != 0 && r->read.level != TKV_LINEARIZABLE) {
                        /* The node named serves it: the route is that choice. */
                        r->read.route = TKV_ROUTE_ANY;
                }
        }
        if (req->write != NULL) {
                r->has_write = true;
                r->write = *req->write;
        }
        if (kind == CLIENT_WRITE) {
                r->seq = c->next_seq++;
        }
        return r;
}

/* Make and route a request; TKV_OK, or an error and cb will not run. */
static int client_async_submit(struct tkv_client *c, const struct codec_request *req,
                               enum client_kind kind, const char *op, unsigned timeout_ms,
                               tkv_done_cb cb, void *arg)
{
        struct client_req *r = client_async_make(c, req, kind, op, timeout_ms, cb, arg);

        if (r == NULL) {
                return TKV_NO_MEMORY;
        }
        client_route_req(c, r);
        client_timer_arm(c, client_peer_sendable(c));
        return TKV_OK;
}

/* Shared by put, delete and cas: checks and queues a write. */
static int client_async_write(struct tkv_client *c, struct codec_request *req, const char *op,
                              const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        int rv = client_async_check_call(c, op, cb);

        if (rv == TKV_OK) {
                rv = client_async_check_bytes(c, op, "key", req->key, req->key_len,
                                              CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_async_check_bytes(c, op, "value", req->value, req->value_len,
                                              CODEC_VALUE_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_async_check_write(c, op, opts);
        }
        if (rv == TKV_OK) {
                req->write = opts;
                client_token_attach(c, req, CLIENT_WRITE);
                rv = client_async_check_room(c, req, op);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        return client_async_submit(c, req, CLIENT_WRITE, op,
                                   client_async_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0),
                                   cb, arg);
}

int tkv_get_async(struct tkv_client *c, const void *key, size_t key_len,
                  const struct tkv_read_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;
        int rv = client_async_check_call(c, "get", cb);

        if (rv == TKV_OK) {
                rv = client_async_check_bytes(c, "get", "key", key, key_len, CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_async_check_read(c, opts);
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_GET;
        req.key = key;
        req.key_len = key_len;
        req.read = opts;
        if (rv == TKV_OK) {
                client_token_attach(c, &req, CLIENT_READ);
                rv = client_async_check_room(c, &req, "get");
        }
        if (rv != TKV_OK) {
                return rv;
        }
        return client_async_submit(c, &req, CLIENT_READ, "get",
                                   client_async_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0),
                                   cb, arg);
}

/* GET_MANY: the keys travel packed in the request's value (codec.h); the
 * first key routes it, like a GET of that key. */
int tkv_get_many_async(struct tkv_client *c, const void *const *keys, const size_t *key_lens,
                       size_t n, const struct tkv_read_options *opts, tkv_done_cb cb, void *arg)
{
        struct tkv_read_options o = {0};
        struct codec_request req;
        uint8_t *packed = NULL;
        int rv = client_async_check_call(c, "get_many", cb);

        if (rv == TKV_OK && (n == 0 || keys == NULL || key_lens == NULL)) {
                snprintf(c->errmsg, sizeof(c->errmsg), "get_many: no keys");
                rv = TKV_USAGE_ERROR;
        }
        for (size_t i = 0; rv == TKV_OK && i < n; i++) {
                rv = client_async_check_bytes(c, "get_many", "key", keys[i], key_lens[i],
                                              CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK && opts != NULL) {
                rv = client_async_check_read(c, opts);
                o = *opts;
        } else {
                o.level = TKV_SEQUENTIAL;
        }
        if (rv == TKV_OK && codec_many_bytes(key_lens, n) > CODEC_VALUE_BYTES_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "get_many: %zu keys take too many bytes", n);
                rv = TKV_USAGE_ERROR;
        }
        if (rv == TKV_OK && (packed = tkv_malloc(codec_many_bytes(key_lens, n))) == NULL) {
                rv = TKV_NO_MEMORY;
        }
        if (rv != TKV_OK) {
                return rv;
        }
        codec_many_pack(packed, keys, key_lens, n);
        memset(&req, 0, sizeof(req));
        req.op = CODEC_GET_MANY;
        req.key = keys[0];
        req.key_len = key_lens[0];
        req.value = packed;
        req.value_len = codec_many_bytes(key_lens, n);
        req.read = &o;
        client_token_attach(c, &req, CLIENT_READ);
        rv = client_async_check_room(c, &req, "get_many");
        if (rv == TKV_OK) {
                rv = client_async_submit(c, &req, CLIENT_READ, "get_many",
                                         client_async_timeout_ms(c, o.timeout_ms), cb, arg);
        }
        tkv_free(packed); /* the request keeps its own copy */
        return rv;
}

/* SCAN: the scan travels packed in the request's value (codec.h); the
 * prefix (or the start) routes it like a GET of that key, so a hash-tag
 * prefix goes to its partition's replicas. */
int tkv_scan_async(struct tkv_client *c, const struct tkv_scan *scan, const void *cursor,
                   size_t cursor_len, const struct tkv_read_options *opts, tkv_done_cb cb,
                   void *arg)
{
        struct tkv_read_options o = {0};
        struct codec_request req;
        uint8_t *packed = NULL;
        int rv = client_async_check_call(c, "scan", cb);

        if (rv == TKV_OK && scan == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "scan: no scan");
                rv = TKV_USAGE_ERROR;
        }
        if (rv == TKV_OK &&
            (scan->prefix_len > CODEC_KEY_BYTES_MAX || scan->start_len > CODEC_KEY_BYTES_MAX ||
             scan->end_len > CODEC_KEY_BYTES_MAX || cursor_len > CODEC_KEY_BYTES_MAX)) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "scan: a prefix, start, end or cursor "
                         "longer than any key");
                rv = TKV_USAGE_ERROR;
        }
        if (rv == TKV_OK && opts != NULL) {
                rv = client_async_check_read(c, opts);
                o = *opts;
        } else {
                o.level = TKV_SEQUENTIAL;
        }
        if (rv == TKV_OK && (packed = tkv_malloc(codec_scan_bytes(scan, cursor_len))) == NULL) {
                rv = TKV_NO_MEMORY;
        }
        if (rv != TKV_OK) {
                return rv;
        }
        codec_scan_pack(packed, scan, cursor, cursor_len);
        memset(&req, 0, sizeof(req));
        req.op = CODEC_SCAN;
        req.key = scan->prefix_len > 0 ? scan->prefix : scan->start;
        req.key_len = scan->prefix_len > 0 ? scan->prefix_len : scan->start_len;
        req.value = packed;
        req.value_len = codec_scan_bytes(scan, cursor_len);
        req.read = &o;
        client_token_attach(c, &req, CLIENT_READ);
        rv = client_async_check_room(c, &req, "scan");
        if (rv == TKV_OK) {
                rv = client_async_submit(c, &req, CLIENT_READ, "scan",
                                         client_async_timeout_ms(c, o.timeout_ms), cb, arg);
        }
        tkv_free(packed); /* the request keeps its own copy */
        return rv;
}

int tkv_put_async(struct tkv_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_PUT;
        req.key = key;
        req.key_len = key_len;
        req.value = value;
        req.value_len = value_len;
        return client_async_write(c, &req, "put", opts, cb, arg);
}

int tkv_delete_async(struct tkv_client *c, const void *key, size_t key_len,
                     const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_DELETE;
        req.key = key;
        req.key_len = key_len;
        return client_async_write(c, &req, "delete", opts, cb, arg);
}

int tkv_cas_async(struct tkv_client *c, const void *key, size_t key_len, uint64_t expected_version,
                  const void *value, size_t value_len, const struct tkv_write_options *opts,
                  tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_CAS;
        req.key = key;
        req.key_len = key_len;
        req.value = value;
        req.value_len = value_len;
        req.expected_version = expected_version;
        return client_async_write(c, &req, "cas", opts, cb, arg);
}

int tkv_txn_commit_async(struct tkv_client *c, const struct tkv_txn *t,
                         const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        if (c != NULL && (t == NULL || t->first_key == NULL)) {
                snprintf(c->errmsg, sizeof(c->errmsg), "txn: %s",
                         t == NULL ? "no TXN" : "a TXN needs at least one compare or op");
                return TKV_USAGE_ERROR;
        }
        if (c != NULL && opts != NULL && opts->ack != TKV_ACK_COMMITTED) {
                snprintf(c->errmsg, sizeof(c->errmsg), "txn: ack must be TKV_ACK_COMMITTED");
                return TKV_USAGE_ERROR;
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_TXN;
        if (t != NULL) {
                req.key = t->first_key;
                req.key_len = t->first_key_len;
                req.value = buffer_data(&t->body);
                req.value_len = buffer_len(&t->body);
        }
        return client_async_write(c, &req, "txn", opts, cb, arg);
}

/* STATUS and CLUSTER_INFO. */
static int client_async_admin(struct tkv_client *c, enum client_kind kind, uint32_t node_id,
                              tkv_done_cb cb, void *arg)
{
        const char *op = kind == CLIENT_INFO ? "cluster_info" : "status";
        struct codec_request req;
        struct client_req *r;
        int rv = client_async_check_call(c, op, cb);

        memset(&req, 0, sizeof(req));
        req.op = kind == CLIENT_INFO ? CODEC_CLUSTER_INFO : CODEC_STATUS;
        if (rv == TKV_OK) {
                rv = client_async_check_room(c, &req, op);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        r = client_async_make(c, &req, kind, op, c->timeout_ms, cb, arg);
        if (r == NULL) {
                return TKV_NO_MEMORY;
        }
        r->status_node = node_id;
        client_route_req(c, r);
        client_timer_arm(c, client_peer_sendable(c));
        return TKV_OK;
}

int tkv_status_async(struct tkv_client *c, tkv_done_cb cb, void *arg)
{
        return client_async_admin(c, CLIENT_STATUS, 0, cb, arg);
}

int tkv_status_node_async(struct tkv_client *c, uint32_t node_id, tkv_done_cb cb, void *arg)
{
        return client_async_admin(c, CLIENT_STATUS, node_id, cb, arg);
}

int tkv_cluster_info_async(struct tkv_client *c, tkv_done_cb cb, void *arg)
{
        return client_async_admin(c, CLIENT_INFO, 0, cb, arg);
}
