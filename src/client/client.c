/* libtunekv: the client object behind include/tunekv.h.
 *
 * Normal path. An async call validates its arguments, encodes the request
 * into a frame (copying key and value, which the caller only lends us),
 * gives it the next id and a deadline (its timeout plus CLIENT_GRACE_MS, so
 * that the server's own TIMEOUT answer normally arrives first) and puts it
 * on the `queued` list. tkv_poll() then
 *
 *   1. connects if requests wait and no link is open, trying the endpoints
 *      in order from where the last connection was;
 *   2. moves queued requests onto the link while fewer than max_inflight are
 *      in flight (they join the `inflight` list and the id map);
 *   3. expires requests whose deadline passed;
 *   4. waits in poll(2) on the link's fd for the time left, writes what the
 *      kernel takes, reads, and completes each answered request through its
 *      callback (looked up by id in O(1)).
 *
 * The blocking calls are an async call plus tkv_poll(-1) until that request's
 * callback has run; the callback copies the borrowed result into one block
 * kept in result->priv_.
 *
 * Failure modes, and what each request gets:
 *
 *   what happened                       reads, status       writes
 *   no endpoint accepts a connection    CONNECT_FAILED      CONNECT_FAILED (never sent)
 *   deadline passed, never sent         TIMEOUT             TIMEOUT
 *   deadline passed after sending       TIMEOUT             OUTCOME_UNKNOWN
 *   link broke (EOF, reset, poll error) CONNECTION_CLOSED   OUTCOME_UNKNOWN
 *   undecodable answer (link dropped)   PROTOCOL_ERROR      OUTCOME_UNKNOWN
 *   client destroyed                    CONNECTION_CLOSED   OUTCOME_UNKNOWN if sent
 *
 * A write that reached the socket is never reported as anything but its
 * answer or OUTCOME_UNKNOWN: the server may have applied it. Requests that
 * were queued on a link which broke before any of their bytes were written
 * go back to the front of the queue and are sent on the next connection.
 * Answers whose id matches nothing in flight (late answers to expired
 * requests) are counted and dropped. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "heap.h"
#include "link.h"
#include "queue.h"

#define CLIENT_ENDPOINTS_DEFAULT  "127.0.0.1:7001"
#define CLIENT_TIMEOUT_MS_DEFAULT 5000u
#define CLIENT_CONNECT_MS_DEFAULT 2000u
#define CLIENT_INFLIGHT_DEFAULT   1024u
#define CLIENT_INFLIGHT_MAX       (1u << 20)
#define CLIENT_PENDING_MAX        (1u << 20) /* queued plus in flight */
#define CLIENT_GRACE_MS           500u
#define CLIENT_ERRMSG_BYTES       512

enum client_kind { CLIENT_READ, CLIENT_WRITE, CLIENT_STATUS };

/* One request from the async call until its callback ran. */
struct client_req {
        uint64_t id;
        enum client_kind kind;
        const char *op;      /* "get", "put", ...: prefixes messages */
        bool sent;           /* on the link (inflight list and id map) */
        uint64_t stream_end; /* link out_queued_bytes once this frame was queued */
        size_t frame_len;    /* bytes of the frame, kept after it is freed */
        unsigned timeout_ms; /* the deadline asked for, for messages */
        int64_t deadline_ms; /* monotonic; timeout plus grace */
        size_t heap_idx;     /* position in the deadline heap */
        struct queue q;      /* in c->queued or c->inflight */
        struct buffer frame; /* the encoded request until it is on the link */
        tkv_done_cb cb;
        void *arg;
};

/* A slot of the open-addressing id map; id 0 marks an empty slot (ids start
 * at 1). */
struct client_slot {
        uint64_t id;
        struct client_req *req;
};

struct tkv_client {
        struct client_endpoint *endpoints;
        unsigned n_endpoints;
        unsigned endpoint_next;      /* where the next connect starts */
        unsigned endpoint_cur;       /* endpoint of the open link */
        unsigned timeout_ms;         /* default per-request deadline */
        unsigned connect_timeout_ms; /* per endpoint */
        unsigned max_inflight;       /* requests on the link at once */
        struct link link;
        uint64_t next_id;      /* id of the next request, from 1 */
        struct queue queued;   /* not on the link yet, in id order */
        struct queue inflight; /* on the link, in sending order */
        size_t n_queued;
        size_t n_inflight;
        struct client_slot *slots; /* in-flight requests by id */
        size_t slots_mask;         /* slot count minus one; count >= 2 * max_inflight */
        struct client_req **heap;  /* every pending request, min-heap by deadline */
        size_t heap_len;
        size_t heap_cap;
        uint64_t completions;     /* callbacks run since creation */
        uint64_t unknown_answers; /* answers for ids not in flight */
        int dispatching;          /* >0 while a callback runs */
        bool closing;             /* inside tkv_client_destroy */
        char errmsg[CLIENT_ERRMSG_BYTES];
};

static int64_t client_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Status names ---- */

const char *tkv_status_name(int code)
{
        switch (code) {
        case TKV_OK:
                return "OK";
        case TKV_NOT_FOUND:
                return "NOT_FOUND";
        case TKV_CONDITION_FAILED:
                return "CONDITION_FAILED";
        case TKV_NOT_LEADER:
                return "NOT_LEADER";
        case TKV_BOUND_UNMET:
                return "BOUND_UNMET";
        case TKV_NO_QUORUM:
                return "NO_QUORUM";
        case TKV_TIMEOUT:
                return "TIMEOUT";
        case TKV_OUTCOME_UNKNOWN:
                return "OUTCOME_UNKNOWN";
        case TKV_INVALID_ARGUMENT:
                return "INVALID_ARGUMENT";
        case TKV_TOO_LARGE:
                return "TOO_LARGE";
        case TKV_BUSY:
                return "BUSY";
        case TKV_UNAVAILABLE:
                return "UNAVAILABLE";
        case TKV_INTERNAL:
                return "INTERNAL";
        case TKV_CONNECT_FAILED:
                return "CONNECT_FAILED";
        case TKV_PROTOCOL_ERROR:
                return "PROTOCOL_ERROR";
        case TKV_NO_MEMORY:
                return "NO_MEMORY";
        case TKV_CONNECTION_CLOSED:
                return "CONNECTION_CLOSED";
        case TKV_USAGE_ERROR:
                return "USAGE_ERROR";
        default:
                return "UNKNOWN";
        }
}

/* ---- Endpoint list ---- */

/* Split one trimmed entry [s, s + len) into host and port. */
static int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *e, char *errmsg,
                                 size_t errmsg_len)
{
        const char *host = s;
        size_t host_len;
        const char *port;
        size_t port_len;
        const char *colon = NULL;
        unsigned long value = 0;
        size_t i;

        if (len > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', len);
                if (close == NULL || close + 1 >= s + len || close[1] != ':') {
                        goto malformed;
                }
                host = s + 1;
                host_len = (size_t)(close - host);
                colon = close + 1;
        } else {
                for (i = 0; i < len; i++) {
                        if (s[i] == ':') {
                                if (colon != NULL) {
                                        goto malformed; /* an IPv6 address needs brackets */
                                }
                                colon = s + i;
                        }
                }
                if (colon == NULL) {
                        goto malformed;
                }
                host_len = (size_t)(colon - s);
        }
        port = colon + 1;
        port_len = (size_t)(s + len - port);
        for (i = 0; i < port_len; i++) {
                if (port[i] < '0' || port[i] > '9' || value > 65535) {
                        goto malformed;
                }
                value = value * 10 + (unsigned long)(port[i] - '0');
        }
        if (host_len == 0 || host_len >= CLIENT_HOST_BYTES || port_len == 0 || value == 0 ||
            value > 65535) {
                goto malformed;
        }
        memcpy(e->host, host, host_len);
        e->host[host_len] = '\0';
        snprintf(e->port, sizeof(e->port), "%lu", value);
        snprintf(e->name, sizeof(e->name), "%.*s", (int)len, s);
        return TKV_OK;
malformed:
        snprintf(errmsg, errmsg_len,
                 "endpoint \"%.*s\": expected host:port with port 1-65535 "
                 "(IPv6 as [addr]:port)",
                 (int)(len > 200 ? 200 : len), s);
        return TKV_USAGE_ERROR;
}

int client_endpoints_parse(const char *list, struct client_endpoint **out, unsigned *n_out,
                           char *errmsg, size_t errmsg_len)
{
        struct client_endpoint *endpoints = NULL;
        const char *p = list;
        const char *end;
        size_t cap = 1;
        unsigned n = 0;
        int rv = TKV_OK;

        *out = NULL;
        *n_out = 0;
        for (end = list; *end != '\0'; end++) {
                cap += *end == ',';
        }
        endpoints = tkv_calloc(cap, sizeof(*endpoints));
        if (endpoints == NULL) {
                snprintf(errmsg, errmsg_len, "endpoints: out of memory");
                rv = TKV_NO_MEMORY;
                goto cleanup;
        }
        for (;;) {
                end = strchr(p, ',');
                end = end != NULL ? end : p + strlen(p);
                while (p < end && (*p == ' ' || *p == '\t')) {
                        p++;
                }
                size_t len = (size_t)(end - p);
                while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
                        len--;
                }
                rv = client_endpoint_parse(p, len, &endpoints[n], errmsg, errmsg_len);
                if (rv != TKV_OK) {
                        goto cleanup;
                }
                n++;
                if (*end == '\0') {
                        break;
                }
                p = end + 1;
        }
        *out = endpoints;
        *n_out = n;
        endpoints = NULL;
cleanup:
        tkv_free(endpoints);
        return rv;
}

uint64_t client_unknown_answers(const struct tkv_client *c)
{
        return c->unknown_answers;
}

/* ---- Id map: open addressing, linear probing, backward-shift delete ---- */

static size_t client_map_home(const struct tkv_client *c, uint64_t id)
{
        return (size_t)id & c->slots_mask;
}

/* The map holds at most max_inflight ids in at least twice as many slots,
 * so an insert always finds a free slot quickly. */
static void client_map_put(struct tkv_client *c, struct client_req *r)
{
        size_t i = client_map_home(c, r->id);

        while (c->slots[i].id != 0) {
                i = (i + 1) & c->slots_mask;
        }
        c->slots[i].id = r->id;
        c->slots[i].req = r;
}

static size_t client_map_find(const struct tkv_client *c, uint64_t id)
{
        size_t i = client_map_home(c, id);

        while (c->slots[i].id != 0) {
                if (c->slots[i].id == id) {
                        return i;
                }
                i = (i + 1) & c->slots_mask;
        }
        return SIZE_MAX;
}

static void client_map_del(struct tkv_client *c, uint64_t id)
{
        size_t i = client_map_find(c, id);
        size_t j;
        size_t home;

        if (i == SIZE_MAX) {
                return;
        }
        /* Pull back later entries of the probe run that may not stay behind
         * the hole, so lookups never stop early. */
        for (j = (i + 1) & c->slots_mask; c->slots[j].id != 0; j = (j + 1) & c->slots_mask) {
                home = client_map_home(c, c->slots[j].id);
                if (((j - home) & c->slots_mask) >= ((j - i) & c->slots_mask)) {
                        c->slots[i] = c->slots[j];
                        i = j;
                }
        }
        c->slots[i].id = 0;
        c->slots[i].req = NULL;
}

/* ---- Deadline heap ---- */

static void client_heap_set(struct tkv_client *c, size_t i, struct client_req *r)
{
        c->heap[i] = r;
        r->heap_idx = i;
}

static void client_heap_up(struct tkv_client *c, size_t i)
{
        struct client_req *r = c->heap[i];
        size_t parent;

        while (i > 0) {
                parent = (i - 1) / 2;
                if (c->heap[parent]->deadline_ms <= r->deadline_ms) {
                        break;
                }
                client_heap_set(c, i, c->heap[parent]);
                i = parent;
        }
        client_heap_set(c, i, r);
}

static void client_heap_down(struct tkv_client *c, size_t i)
{
        struct client_req *r = c->heap[i];
        size_t child;

        for (;;) {
                child = 2 * i + 1;
                if (child >= c->heap_len) {
                        break;
                }
                if (child + 1 < c->heap_len &&
                    c->heap[child + 1]->deadline_ms < c->heap[child]->deadline_ms) {
                        child++;
                }
                if (r->deadline_ms <= c->heap[child]->deadline_ms) {
                        break;
                }
                client_heap_set(c, i, c->heap[child]);
                i = child;
        }
        client_heap_set(c, i, r);
}

static int client_heap_push(struct tkv_client *c, struct client_req *r)
{
        struct client_req **heap;
        size_t cap;

        if (c->heap_len == c->heap_cap) {
                cap = c->heap_cap > 0 ? c->heap_cap * 2 : 64;
                heap = tkv_realloc(c->heap, cap * sizeof(*heap));
                if (heap == NULL) {
                        return TKV_NO_MEMORY;
                }
                c->heap = heap;
                c->heap_cap = cap;
        }
        c->heap[c->heap_len] = r;
        c->heap_len++;
        client_heap_up(c, c->heap_len - 1);
        return TKV_OK;
}

static void client_heap_remove(struct tkv_client *c, struct client_req *r)
{
        size_t i = r->heap_idx;
        struct client_req *last;

        c->heap_len--;
        if (i == c->heap_len) {
                return;
        }
        last = c->heap[c->heap_len];
        client_heap_set(c, i, last);
        client_heap_up(c, i);
        client_heap_down(c, last->heap_idx);
}

/* ---- Request lifecycle ---- */

static void client_req_free(struct client_req *r)
{
        if (r == NULL) {
                return;
        }
        buffer_free(&r->frame);
        tkv_free(r);
}

/* Take r off its list, the id map and the deadline heap. */
static void client_req_detach(struct tkv_client *c, struct client_req *r)
{
        queue_remove(&r->q);
        if (r->sent) {
                client_map_del(c, r->id);
                c->n_inflight--;
        } else {
                c->n_queued--;
        }
        client_heap_remove(c, r);
}

/* Run r's callback with res (borrowed) and free r. */
static void client_complete(struct tkv_client *c, struct client_req *r,
                            const struct tkv_result *res)
{
        client_req_detach(c, r);
        c->completions++;
        c->dispatching++;
        r->cb(c, res, r->arg);
        c->dispatching--;
        client_req_free(r);
}

static void client_complete_error(struct tkv_client *c, struct client_req *r, int status,
                                  const char *message)
{
        struct tkv_result res;

        memset(&res, 0, sizeof(res));
        res.status = status;
        res.message = message;
        res.receipt.staleness_ms = -1;
        client_complete(c, r, &res);
}

/* Fail every request on the inflight list: sent writes with
 * OUTCOME_UNKNOWN, the others with status. why is borrowed. */
static void client_fail_inflight(struct tkv_client *c, int status, const char *why_borrowed)
{
        char msg[CLIENT_ERRMSG_BYTES];
        char why[CLIENT_ERRMSG_BYTES - 96]; /* room for the prefix and suffix */
        struct client_req *r;

        /* why may be c->errmsg, which a callback's failing call rewrites. */
        snprintf(why, sizeof(why), "%s", why_borrowed);

        while (!queue_empty(&c->inflight)) {
                r = QUEUE_DATA(queue_head(&c->inflight), struct client_req, q);
                if (r->kind == CLIENT_WRITE) {
                        snprintf(msg, sizeof(msg),
                                 "%s: %s; the write may or may not have been "
                                 "applied",
                                 r->op, why);
                        client_complete_error(c, r, TKV_OUTCOME_UNKNOWN, msg);
                } else {
                        snprintf(msg, sizeof(msg), "%s: %s", r->op, why);
                        client_complete_error(c, r, status, msg);
                }
        }
}

/* Fail the requests queued now (not those that callbacks queue meanwhile).
 * why is borrowed. */
static void client_fail_queued(struct tkv_client *c, int status, const char *why_borrowed)
{
        char msg[CLIENT_ERRMSG_BYTES];
        char why[CLIENT_ERRMSG_BYTES - 96]; /* room for the prefix and suffix */
        struct queue batch;
        struct client_req *r;

        snprintf(why, sizeof(why), "%s", why_borrowed);

        queue_init(&batch);
        queue_move(&batch, &c->queued);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                snprintf(msg, sizeof(msg), "%s: %s", r->op, why);
                client_complete_error(c, r, status, msg);
        }
}

/* Close the link. Requests none of whose bytes reached the kernel go back to
 * the front of the queue; the others fail (see the table at the top). status
 * is what reads and STATUS requests get. */
static void client_break(struct tkv_client *c, int status, const char *why)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_req *r;
        uint64_t written = c->link.out_written_bytes;

        snprintf(msg, sizeof(msg), "connection to %s lost: %s", c->endpoints[c->endpoint_cur].name,
                 why);
        snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
        link_close(&c->link);
        c->endpoint_next = (c->endpoint_cur + 1) % c->n_endpoints;
        while (!queue_empty(&c->inflight)) {
                r = QUEUE_DATA(queue_tail(&c->inflight), struct client_req, q);
                if (r->stream_end - r->frame_len < written) {
                        break; /* this one, and all before it, reached the kernel */
                }
                queue_remove(&r->q);
                client_map_del(c, r->id);
                c->n_inflight--;
                r->sent = false;
                queue_push_head(&c->queued, &r->q);
                c->n_queued++;
        }
        client_fail_inflight(c, status, msg);
}

/* ---- Submitting ---- */

static unsigned client_timeout_ms(const struct tkv_client *c, unsigned timeout_ms)
{
        return timeout_ms != 0 ? timeout_ms : c->timeout_ms;
}

/* Queue a request. req is borrowed (its key and value are copied into the
 * encoded frame). Returns TKV_OK, or an error and cb will not run. */
static int client_submit(struct tkv_client *c, struct codec_request *req, enum client_kind kind,
                         const char *op, tkv_done_cb cb, void *arg)
{
        struct client_req *r = NULL;
        int rv;

        if (c->n_queued + c->n_inflight >= CLIENT_PENDING_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %u requests pending already", op,
                         CLIENT_PENDING_MAX);
                return TKV_BUSY;
        }
        r = tkv_calloc(1, sizeof(*r));
        if (r == NULL) {
                rv = TKV_NO_MEMORY;
                goto cleanup;
        }
        buffer_init(&r->frame);
        queue_init(&r->q);
        req->id = c->next_id;
        rv = codec_encode_request(&r->frame, req);
        if (rv != TKV_OK) {
                goto cleanup;
        }
        r->id = req->id;
        r->kind = kind;
        r->op = op;
        r->frame_len = buffer_len(&r->frame);
        r->timeout_ms = req->timeout_ms;
        r->deadline_ms = client_now_ms() + req->timeout_ms + CLIENT_GRACE_MS;
        r->cb = cb;
        r->arg = arg;
        rv = client_heap_push(c, r);
        if (rv != TKV_OK) {
                goto cleanup;
        }
        queue_push_tail(&c->queued, &r->q);
        c->n_queued++;
        c->next_id++;
        r = NULL;
cleanup:
        if (rv == TKV_NO_MEMORY) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: out of memory", op);
        } else if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: request exceeds %u bytes", op,
                         CODEC_FRAME_BYTES_MAX);
        }
        client_req_free(r);
        return rv;
}

static int client_check_call(struct tkv_client *c, const char *op, tkv_done_cb cb)
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

static int client_check_bytes(struct tkv_client *c, const char *op, const char *what, const void *p,
                              size_t len, size_t max)
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

static int client_check_read_options(struct tkv_client *c, const struct tkv_read_options *o)
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

static int client_check_write_options(struct tkv_client *c, const char *op,
                                      const struct tkv_write_options *o)
{
        if (o != NULL && (unsigned)o->ack > TKV_ACK_LEADER_ACCEPTED) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: ack %u out of range", op,
                         (unsigned)o->ack);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

/* Shared by put, delete and cas: checks and queues a write. */
static int client_write_async(struct tkv_client *c, struct codec_request *req, const char *op,
                              const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        int rv = client_check_call(c, op, cb);

        if (rv == TKV_OK) {
                rv = client_check_bytes(c, op, "key", req->key, req->key_len, CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_bytes(c, op, "value", req->value, req->value_len,
                                        CODEC_VALUE_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_write_options(c, op, opts);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        req->write = opts;
        req->timeout_ms = client_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0);
        return client_submit(c, req, CLIENT_WRITE, op, cb, arg);
}

int tkv_get_async(struct tkv_client *c, const void *key, size_t key_len,
                  const struct tkv_read_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;
        int rv = client_check_call(c, "get", cb);

        if (rv == TKV_OK) {
                rv = client_check_bytes(c, "get", "key", key, key_len, CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_read_options(c, opts);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_GET;
        req.key = key;
        req.key_len = key_len;
        req.read = opts;
        req.timeout_ms = client_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0);
        return client_submit(c, &req, CLIENT_READ, "get", cb, arg);
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
        return client_write_async(c, &req, "put", opts, cb, arg);
}

int tkv_delete_async(struct tkv_client *c, const void *key, size_t key_len,
                     const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_DELETE;
        req.key = key;
        req.key_len = key_len;
        return client_write_async(c, &req, "delete", opts, cb, arg);
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
        return client_write_async(c, &req, "cas", opts, cb, arg);
}

int tkv_status_async(struct tkv_client *c, tkv_done_cb cb, void *arg)
{
        struct codec_request req;
        int rv = client_check_call(c, "status", cb);

        if (rv != TKV_OK) {
                return rv;
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_STATUS;
        req.timeout_ms = c->timeout_ms;
        return client_submit(c, &req, CLIENT_STATUS, "status", cb, arg);
}

/* ---- Sending ---- */

/* Try every endpoint once, from endpoint_next on. On failure c->errmsg
 * names each endpoint and why it failed. */
static int client_connect(struct tkv_client *c)
{
        char tried[CLIENT_ERRMSG_BYTES - 64];
        size_t off = 0;
        const struct client_endpoint *e;
        unsigned i;
        unsigned idx;
        int n;

        tried[0] = '\0';
        for (i = 0; i < c->n_endpoints; i++) {
                idx = (c->endpoint_next + i) % c->n_endpoints;
                e = &c->endpoints[idx];
                if (link_connect(&c->link, e->host, e->port, c->connect_timeout_ms) == 0) {
                        c->endpoint_cur = idx;
                        c->endpoint_next = idx;
                        return TKV_OK;
                }
                n = snprintf(tried + off, sizeof(tried) - off, "%s%s: %s", i > 0 ? "; " : "",
                             e->name, c->link.errmsg);
                if (n > 0) {
                        off +=
                            (size_t)n < sizeof(tried) - off ? (size_t)n : sizeof(tried) - off - 1;
                }
        }
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot connect to any endpoint (%s)", tried);
        return TKV_CONNECT_FAILED;
}

/* Put queued requests on the link, within max_inflight. */
static void client_move_queued(struct tkv_client *c)
{
        struct client_req *r;

        while (!queue_empty(&c->queued) && c->n_inflight < c->max_inflight &&
               link_is_open(&c->link)) {
                r = QUEUE_DATA(queue_head(&c->queued), struct client_req, q);
                if (link_queue(&c->link, buffer_data(&r->frame), r->frame_len) != 0) {
                        client_complete_error(c, r, TKV_NO_MEMORY,
                                              "out of memory queueing the request");
                        continue;
                }
                queue_remove(&r->q);
                c->n_queued--;
                buffer_free(&r->frame);
                r->sent = true;
                r->stream_end = c->link.out_queued_bytes;
                client_map_put(c, r);
                queue_push_tail(&c->inflight, &r->q);
                c->n_inflight++;
        }
}

/* Connect if requests wait, send what may be sent, write what the kernel
 * takes. */
static void client_send(struct tkv_client *c)
{
        if (c->n_queued == 0) {
                return;
        }
        /* A server may close a connection that sat idle; find out before a
         * write goes into it and comes back OUTCOME_UNKNOWN. */
        if (link_is_open(&c->link) && c->n_inflight == 0 && !link_wants_write(&c->link) &&
            link_check_idle(&c->link) != 0) {
                client_break(c, TKV_CONNECTION_CLOSED, c->link.errmsg);
        }
        if (!link_is_open(&c->link) && client_connect(c) != TKV_OK) {
                client_fail_queued(c, TKV_CONNECT_FAILED, c->errmsg);
                return;
        }
        client_move_queued(c);
        if (link_is_open(&c->link) && link_flush(&c->link) != 0) {
                client_break(c, TKV_CONNECTION_CLOSED, c->link.errmsg);
        }
}

/* ---- Receiving ---- */

static bool client_body_fits(enum client_kind kind, enum codec_body body)
{
        switch (kind) {
        case CLIENT_READ:
                return body == CODEC_BODY_GET;
        case CLIENT_WRITE:
                return body == CODEC_BODY_WRITE;
        case CLIENT_STATUS:
                return body == CODEC_BODY_STATUS;
        }
        return false;
}

/* codec_response_cb: complete the request the answer is for. */
static void client_on_response(void *arg, uint64_t id, enum codec_body body,
                               const struct tkv_result *res)
{
        struct tkv_client *c = arg;
        size_t slot = id != 0 ? client_map_find(c, id) : SIZE_MAX;
        struct client_req *r;
        char msg[CLIENT_ERRMSG_BYTES];

        if (slot == SIZE_MAX) {
                c->unknown_answers++;
                return;
        }
        r = c->slots[slot].req;
        if (res->status == TKV_OK && !client_body_fits(r->kind, body)) {
                snprintf(msg, sizeof(msg),
                         "%s: the server answered OK without the expected "
                         "result%s",
                         r->op,
                         r->kind == CLIENT_WRITE ? "; the write may or may not have been applied"
                                                 : "");
                client_complete_error(
                    c, r, r->kind == CLIENT_WRITE ? TKV_OUTCOME_UNKNOWN : TKV_PROTOCOL_ERROR, msg);
                return;
        }
        client_complete(c, r, res);
}

/* Complete the requests whose answers are whole in the input buffer. */
static void client_dispatch(struct tkv_client *c)
{
        const uint8_t *body;
        size_t len;
        int rv;

        while (link_is_open(&c->link)) {
                if (link_frame(&c->link, &body, &len) != 0) {
                        client_break(c, TKV_PROTOCOL_ERROR, c->link.errmsg);
                        return;
                }
                if (body == NULL) {
                        return;
                }
                rv = codec_decode_response(body, len, client_on_response, c);
                link_frame_done(&c->link, len);
                if (rv == TKV_NO_MEMORY) {
                        client_break(c, TKV_NO_MEMORY, "out of memory decoding an answer");
                        return;
                }
                if (rv != TKV_OK) {
                        client_break(c, TKV_PROTOCOL_ERROR, "undecodable answer from the server");
                        return;
                }
        }
}

/* Wait up to wait_ms for the link, then write, read and dispatch. */
static void client_io(struct tkv_client *c, int wait_ms)
{
        struct pollfd p;
        int n;
        int rv;

        if (!link_is_open(&c->link)) {
                return;
        }
        p.fd = c->link.fd;
        p.events = (short)(POLLIN | (link_wants_write(&c->link) ? POLLOUT : 0));
        p.revents = 0;
        n = poll(&p, 1, wait_ms);
        if (n < 0 && errno != EINTR) {
                client_break(c, TKV_CONNECTION_CLOSED, strerror(errno));
        }
        if (n <= 0) {
                return;
        }
        if ((p.revents & POLLOUT) != 0 && link_flush(&c->link) != 0) {
                client_break(c, TKV_CONNECTION_CLOSED, c->link.errmsg);
                return;
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0) {
                return;
        }
        rv = link_read(&c->link);
        client_dispatch(c); /* answers that arrived before an EOF still count */
        if (rv != 0 && link_is_open(&c->link)) {
                client_break(c, TKV_CONNECTION_CLOSED, c->link.errmsg);
        }
}

/* Complete the requests whose deadline passed. */
static void client_expire(struct tkv_client *c, int64_t now_ms)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_req *r;
        bool unknown;

        while (c->heap_len > 0 && c->heap[0]->deadline_ms <= now_ms) {
                r = c->heap[0];
                unknown = r->kind == CLIENT_WRITE && r->sent;
                snprintf(msg, sizeof(msg), "%s: no answer within %u ms%s", r->op, r->timeout_ms,
                         unknown   ? "; the write may or may not have been applied"
                         : r->sent ? ""
                                   : " (never sent)");
                client_complete_error(c, r, unknown ? TKV_OUTCOME_UNKNOWN : TKV_TIMEOUT, msg);
        }
}

static int client_wait_ms(const struct tkv_client *c, int64_t now_ms, int64_t until_ms)
{
        int64_t wait_ms = until_ms - now_ms;

        if (c->heap_len > 0 && c->heap[0]->deadline_ms - now_ms < wait_ms) {
                wait_ms = c->heap[0]->deadline_ms - now_ms;
        }
        if (wait_ms < 0) {
                return 0;
        }
        return wait_ms > INT32_MAX ? INT32_MAX : (int)wait_ms;
}

int tkv_poll(struct tkv_client *c, int timeout_ms)
{
        uint64_t before;
        int64_t until_ms;
        int64_t now_ms;
        bool waited = false;
        bool stop;

        if (c == NULL) {
                return -TKV_USAGE_ERROR;
        }
        if (c->dispatching > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "poll: called from a callback");
                return -TKV_USAGE_ERROR;
        }
        before = c->completions;
        until_ms = timeout_ms >= 0 ? client_now_ms() + timeout_ms : INT64_MAX;
        /* Every call does at least one I/O pass, so that late answers are
         * drained and a server's close is noticed even with nothing
         * pending. */
        for (;;) {
                client_send(c);
                now_ms = client_now_ms();
                client_expire(c, now_ms);
                stop = c->completions > before || tkv_pending(c) == 0 || now_ms >= until_ms;
                if (stop && waited) {
                        break;
                }
                client_io(c, stop ? 0 : client_wait_ms(c, now_ms, until_ms));
                waited = true;
        }
        return (int)(c->completions - before);
}

size_t tkv_pending(const struct tkv_client *c)
{
        return c != NULL ? c->n_queued + c->n_inflight : 0;
}

int tkv_fd(const struct tkv_client *c)
{
        return c != NULL ? c->link.fd : -1;
}

const char *tkv_errmsg(const struct tkv_client *c)
{
        return c != NULL ? c->errmsg : "no client";
}

/* ---- Blocking calls ---- */

/* State of one blocking call, on its caller's stack. */
struct client_wait {
        bool done;
        int status;
        struct tkv_result *out; /* NULL: the caller wants only the status */
};

static void client_result_init(struct tkv_result *r)
{
        memset(r, 0, sizeof(*r));
        r->message = "";
        r->receipt.staleness_ms = -1;
}

/* Copy src (borrowed) into dst, with value, message and node in one block
 * kept in dst->priv_. Returns dst->status: src's, or TKV_NO_MEMORY when the
 * copy could not be made. */
static int client_result_copy(struct tkv_result *dst, const struct tkv_result *src)
{
        const char *message = src->message != NULL ? src->message : "";
        size_t node_bytes = src->node != NULL ? codec_node_bytes(src->node) : 0;
        size_t value_len = src->value != NULL ? src->value_len : 0;
        size_t message_len = strlen(message);
        size_t total = node_bytes + value_len + (message_len > 0 ? message_len + 1 : 0);
        uint8_t *block;

        *dst = *src;
        dst->message = "";
        dst->node = NULL;
        dst->value = src->value != NULL ? "" : NULL;
        dst->priv_ = NULL;
        if (total == 0) {
                return dst->status;
        }
        block = tkv_malloc(total);
        if (block == NULL) {
                dst->status = TKV_NO_MEMORY;
                dst->message = "out of memory copying the answer";
                dst->value = NULL;
                dst->value_len = 0;
                return dst->status;
        }
        dst->priv_ = block;
        if (node_bytes > 0) {
                dst->node = codec_node_copy(block, src->node);
                block += node_bytes;
        }
        if (value_len > 0) {
                memcpy(block, src->value, value_len);
                dst->value = block;
                block += value_len;
        }
        if (message_len > 0) {
                memcpy(block, message, message_len + 1);
                dst->message = (const char *)block;
        }
        return dst->status;
}

static void client_wait_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct client_wait *w = arg;

        (void)c;
        w->done = true;
        w->status = w->out != NULL ? client_result_copy(w->out, res) : res->status;
}

/* After the async call of a blocking call returned rv: wait for its callback,
 * or report rv in w->out. */
static int client_wait(struct tkv_client *c, struct client_wait *w, int rv)
{
        struct tkv_result failed;

        if (rv != TKV_OK) {
                if (w->out != NULL) {
                        client_result_init(&failed);
                        failed.status = rv;
                        failed.message = c != NULL ? c->errmsg : "no client";
                        client_result_copy(w->out, &failed);
                }
                return rv;
        }
        /* tkv_poll fails only for a NULL client or inside a callback, both
         * ruled out by client_wait_start, and every request has a deadline,
         * so this loop ends. */
        while (!w->done) {
                tkv_poll(c, -1);
        }
        return w->status;
}

/* Common start of a blocking call. Returns TKV_OK to go on. */
static int client_wait_start(struct tkv_client *c, struct client_wait *w, struct tkv_result *out,
                             const char *op)
{
        w->done = false;
        w->status = TKV_OK;
        w->out = out;
        if (out != NULL) {
                client_result_init(out);
        }
        if (c != NULL && c->dispatching > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: blocking call from a callback", op);
                return TKV_USAGE_ERROR;
        }
        return c != NULL ? TKV_OK : TKV_USAGE_ERROR;
}

int tkv_get(struct tkv_client *c, const void *key, size_t key_len,
            const struct tkv_read_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "get");

        if (rv == TKV_OK) {
                rv = tkv_get_async(c, key, key_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_put(struct tkv_client *c, const void *key, size_t key_len, const void *value,
            size_t value_len, const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "put");

        if (rv == TKV_OK) {
                rv = tkv_put_async(c, key, key_len, value, value_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_delete(struct tkv_client *c, const void *key, size_t key_len,
               const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "delete");

        if (rv == TKV_OK) {
                rv = tkv_delete_async(c, key, key_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_cas(struct tkv_client *c, const void *key, size_t key_len, uint64_t expected_version,
            const void *value, size_t value_len, const struct tkv_write_options *opts,
            struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "cas");

        if (rv == TKV_OK) {
                rv = tkv_cas_async(c, key, key_len, expected_version, value, value_len, opts,
                                   client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_status(struct tkv_client *c, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "status");

        if (rv == TKV_OK) {
                rv = tkv_status_async(c, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

void tkv_result_release(struct tkv_result *r)
{
        if (r == NULL) {
                return;
        }
        tkv_free(r->priv_);
        client_result_init(r);
}

/* ---- Creation and destruction ---- */

static void client_free(struct tkv_client *c)
{
        if (c == NULL) {
                return;
        }
        link_close(&c->link);
        tkv_free(c->endpoints);
        tkv_free(c->slots);
        tkv_free(c->heap);
        tkv_free(c);
}

/* Apply opts (borrowed, may be NULL) to a zeroed client. */
static int client_configure(struct tkv_client *c, const struct tkv_options *opts)
{
        const char *endpoints = opts != NULL ? opts->endpoints : NULL;
        size_t slots = 1;
        int rv;

        if (endpoints == NULL || endpoints[0] == '\0') {
                endpoints = getenv("TUNEKV_ENDPOINTS");
        }
        if (endpoints == NULL || endpoints[0] == '\0') {
                endpoints = CLIENT_ENDPOINTS_DEFAULT;
        }
        rv = client_endpoints_parse(endpoints, &c->endpoints, &c->n_endpoints, c->errmsg,
                                    sizeof(c->errmsg));
        if (rv != TKV_OK) {
                return rv;
        }
        c->timeout_ms =
            opts != NULL && opts->timeout_ms != 0 ? opts->timeout_ms : CLIENT_TIMEOUT_MS_DEFAULT;
        c->connect_timeout_ms = opts != NULL && opts->connect_timeout_ms != 0
                                    ? opts->connect_timeout_ms
                                    : CLIENT_CONNECT_MS_DEFAULT;
        c->max_inflight =
            opts != NULL && opts->max_inflight != 0 ? opts->max_inflight : CLIENT_INFLIGHT_DEFAULT;
        if (c->max_inflight > CLIENT_INFLIGHT_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "max_inflight %u exceeds %u",
                         c->max_inflight, CLIENT_INFLIGHT_MAX);
                return TKV_USAGE_ERROR;
        }
        while (slots < 2 * (size_t)c->max_inflight) {
                slots *= 2;
        }
        c->slots = tkv_calloc(slots, sizeof(*c->slots));
        if (c->slots == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
                return TKV_NO_MEMORY;
        }
        c->slots_mask = slots - 1;
        return TKV_OK;
}

int tkv_client_create(const struct tkv_options *opts, struct tkv_client **out, char *errbuf,
                      size_t errbuf_len)
{
        struct tkv_client *c = NULL;
        int rv;

        if (out == NULL) {
                rv = TKV_USAGE_ERROR;
                goto cleanup;
        }
        *out = NULL;
        c = tkv_calloc(1, sizeof(*c));
        if (c == NULL) {
                rv = TKV_NO_MEMORY;
                goto cleanup;
        }
        link_init(&c->link);
        queue_init(&c->queued);
        queue_init(&c->inflight);
        c->next_id = 1;
        rv = client_configure(c, opts);
        if (rv != TKV_OK) {
                goto cleanup;
        }
        *out = c;
        c = NULL;
cleanup:
        if (rv != TKV_OK && errbuf != NULL && errbuf_len > 0) {
                snprintf(errbuf, errbuf_len, "%s",
                         c != NULL             ? c->errmsg
                         : rv == TKV_NO_MEMORY ? "out of memory"
                                               : "out is NULL");
        }
        client_free(c);
        return rv;
}

void tkv_client_destroy(struct tkv_client *c)
{
        char msg[CLIENT_ERRMSG_BYTES];

        if (c == NULL) {
                return;
        }
        c->closing = true;
        snprintf(msg, sizeof(msg), "client destroyed");
        link_close(&c->link);
        client_fail_inflight(c, TKV_CONNECTION_CLOSED, msg);
        client_fail_queued(c, TKV_CONNECTION_CLOSED, msg);
        client_free(c);
}
