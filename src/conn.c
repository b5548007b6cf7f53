/* One connection that sends requests to this node: a client's, or a node
 * link (another node's forwarded requests, probes, confirmations and pings,
 * which arrive on the peer port, conn_adopt_link). Both run the same
 * pipeline; a node link has limits of its own and may carry the
 * node-to-node operations that rpc.c refuses on a client connection.
 *
 * The normal path, per loop iteration:
 *
 *   read: bytes land in `in` (conn_alloc offers room for the current frame)
 *   -> conn_process: frame_parse each complete frame -> on_request
 *      (conn_set.handlers: rpc_dispatch; the connection never calls the
 *      layers above it)
 *   -> handlers answer now or later: call_answer packs the Response straight
 *      into `out` (conn_answer_space) and marks the connection dirty
 *   -> conn_flush (server's prepare/check phase): swap `out` into `out_busy`
 *      and hand it to one uv_write; answers produced meanwhile accumulate in
 *      `out` for the next write.
 *
 * Answers go out in the order they complete, not the order requests came:
 * the client matches them by id.
 *
 * Limits and failure modes:
 * - a frame longer than frame_bytes_max: answered TOO_LARGE with id 0, the
 *   connection is closed after that answer is written (nothing is
 *   allocated for the announced length);
 * - an undecodable frame: answered INVALID_ARGUMENT with id 0, closed;
 * - more than inflight_per_conn_max requests in progress: the excess is
 *   answered BUSY at once (rpc.c);
 * - more than conn_output_bytes_max of answers not yet taken by the client:
 *   reading and dispatching stop until the client catches up
 *   (backpressure), and others are unaffected; answers of requests already
 *   in progress still arrive (up to inflight_per_conn_max of them, each up
 *   to a value): past conn_output_close_bytes a client that still does not
 *   read is disconnected, so it cannot grow our memory without bound;
 * - the peer closes or resets: uv_close; calls still in progress keep a
 *   reference and the connection's memory is freed when the last one ends
 *   (their answers are dropped).
 *
 * TLS (tls.cert_file set): the same pipeline with one step on each side:
 * conn_read receives into tls->in and conn_tls_input decrypts into `in`
 * (only as much as frame_read_room allows, and nothing while paused);
 * conn_flush encrypts `out` into tls->out and writes that. The handshake
 * must finish within frame_timeout_ms. A client whose first bytes are not
 * TLS gets a plaintext error frame saying the port speaks TLS; a failed
 * handshake gets OpenSSL's alert, and the node logs why (at most once a
 * second). */
#include "conn.h"

#include <string.h>

#include "config.h"
#include "err.h"
#include "frame.h"
#include "heap.h"
#include "log.h"
#include "spare.h"
#include "tls.h"

#define CONN_READ_BYTES (64 * 1024) /* room offered per read */

/* A forwarded request is the client's request plus a new id, deadline and
 * no_forward flag: a node link accepts frames this much larger than a
 * client may send. */
#define CONN_LINK_FRAME_SLACK_BYTES (64 * 1024)

bool conn_is_link(const struct conn *c)
{
        return c->link_node != 0;
}

static uint64_t conn_frame_max(const struct conn *c)
{
        const struct config *cfg = c->set->cfg;
        return cfg->frame_bytes_max + (conn_is_link(c) ? CONN_LINK_FRAME_SLACK_BYTES : 0);
}

static uint64_t conn_output_max(const struct conn *c)
{
        const struct config *cfg = c->set->cfg;
        return conn_is_link(c) ? cfg->link_output_bytes_max : cfg->conn_output_bytes_max;
}

unsigned conn_inflight_max(const struct conn *c)
{
        const struct config *cfg = c->set->cfg;
        return conn_is_link(c) ? cfg->link_inflight_max : cfg->inflight_per_conn_max;
}

static void conn_maybe_free(struct conn *c)
{
        if (c->refs > 0) {
                return;
        }
        buffer_free(&c->in);
        buffer_free(&c->out);
        buffer_free(&c->out_busy);
        if (c->tls != NULL) {
                tls_free(c->tls);
                tkv_free(c->tls);
        }
        tkv_free(c);
}

void conn_ref(struct conn *c)
{
        c->refs++;
}

void conn_unref(struct conn *c)
{
        c->refs--;
        conn_maybe_free(c);
}

static void conn_closed(uv_handle_t *h)
{
        struct conn *c = h->data;
        if (c->stream_free != NULL) {
                c->stream_free(h);
        }
        conn_unref(c);
}

/* ---- The node-wide budget for client buffers ----
 * Per connection, input is bounded by frame_bytes_max and output by
 * conn_output_close_bytes; over 1 024 connections that is still hundreds
 * of gigabytes. So the bytes every client connection holds (received and
 * not dispatched, answers not yet written) also count against
 * client_buffers_bytes_max, and when the sum goes over it, the connection
 * holding the most is closed (the redis way: the one that does not read,
 * or that sends a huge frame slowly, is the one that goes). Node links do
 * not count: node-to-node traffic never competes with clients. */

static size_t conn_held(const struct conn *c)
{
        size_t tls = c->tls != NULL ? buffer_len(&c->tls->in) + buffer_len(&c->tls->out) : 0;
        return buffer_len(&c->in) + buffer_len(&c->out) + buffer_len(&c->out_busy) + tls;
}

/* Answers not yet written: plaintext in out, records in tls->out. */
static size_t conn_unsent(const struct conn *c)
{
        size_t tls = c->tls != NULL ? buffer_len(&c->tls->out) : 0;
        return buffer_len(&c->out) + buffer_len(&c->out_busy) + tls;
}

size_t conn_unsent_bytes(const struct conn *c)
{
        return conn_unsent(c);
}

static bool conn_has_output(const struct conn *c)
{
        return buffer_len(&c->out) > 0 || (c->tls != NULL && buffer_len(&c->tls->out) > 0);
}

/* The server writes the connections with output once per loop iteration
 * (conn_flush). */
static void conn_mark_dirty(struct conn *c)
{
        if (queue_empty(&c->dirty_link)) {
                queue_push_tail(&c->set->dirty, &c->dirty_link);
        }
}

/* Bring set->client_bytes up to date with c (0 once closing). */
static void conn_count(struct conn *c)
{
        size_t now;
        if (conn_is_link(c)) {
                return;
        }
        now = c->closing ? 0 : conn_held(c);
        c->set->client_bytes = c->set->client_bytes - c->counted + now;
        c->counted = now;
}

void conn_close(struct conn *c)
{
        struct conn_set *set = c->set;
        if (c->closing) {
                return;
        }
        c->closing = true;
        if (set->handlers != NULL && set->handlers->on_close != NULL) {
                set->handlers->on_close(c);
        }
        conn_count(c);
        queue_remove(&c->link);
        queue_remove(&c->dirty_link);
        if (conn_is_link(c)) {
                set->n_links--;
        } else {
                set->n_conns--;
        }
        uv_close((uv_handle_t *)c->tcp, conn_closed);
}

static struct conn *conn_largest(struct conn_set *set)
{
        struct conn *largest = NULL;
        struct queue *q;
        QUEUE_FOREACH(q, &set->all)
        {
                struct conn *c = QUEUE_DATA(q, struct conn, link);
                if (!conn_is_link(c) && (largest == NULL || c->counted > largest->counted)) {
                        largest = c;
                }
        }
        return largest;
}

/* Count c, then close the largest holders until the node is within its
 * budget. Returns false if c itself was closed. */
static bool conn_within_budget(struct conn *c)
{
        struct conn_set *set = c->set;
        uint64_t max = set->cfg->client_buffers_bytes_max;

        conn_count(c);
        while (set->client_bytes > max) {
                struct conn *victim = conn_largest(set);
                uint64_t now = uv_now(set->loop);
                if (victim == NULL || victim->counted == 0) {
                        break;
                }
                set->stats.conns_budget_closed++;
                if (set->stats.budget_closed_logged_ms == 0 ||
                    now - set->stats.budget_closed_logged_ms >= 1000) {
                        set->stats.budget_closed_logged_ms = now;
                        LOGW(-1,
                             "conn %llu: holds %zu bytes while client connections hold %llu, "
                             "over client_buffers_bytes_max: closing the largest",
                             (unsigned long long)victim->serial, victim->counted,
                             (unsigned long long)set->client_bytes);
                }
                conn_close(victim);
        }
        return !c->closing;
}

/* Room for the next bytes of the current frame in `in`. A client that
 * announces 4 MiB and sends 4 bytes holds 64 KiB of ours, not 4 MiB. */
static size_t conn_frame_room(const struct conn *c)
{
        return frame_read_room(buffer_data(&c->in), buffer_len(&c->in), conn_frame_max(c),
                               CONN_READ_BYTES);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct conn *c = h->data;
        /* On TLS, records arrive into tls->in, a read at a time: decrypting
         * them is what frame_read_room bounds. */
        struct buffer *b = c->tls != NULL ? &c->tls->in : &c->in;
        size_t want = c->tls != NULL ? CONN_READ_BYTES : conn_frame_room(c);

        (void)suggested;
        if (buffer_reserve(b, want) != 0) {
                buf->base = NULL;
                buf->len = 0; /* libuv reports UV_ENOBUFS: we close */
                return;
        }
        buf->base = (char *)b->base + b->end;
        buf->len = b->cap - b->end;
}

static void conn_tls_log(struct conn *c, const char *why);

/* Dispatch every complete frame in `in`. */
static void conn_process(struct conn *c)
{
        while (!c->closing && !c->close_after_write && !c->paused) {
                size_t body;
                int rv =
                    frame_parse(buffer_data(&c->in), buffer_len(&c->in), conn_frame_max(c), &body);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv == TKV_ETOOBIG && c->requests == 0 &&
                    tls_looks_like_record(buffer_data(&c->in), buffer_len(&c->in))) {
                        /* A TLS ClientHello reads as a frame of 369 MB. */
                        conn_tls_log(c, "a TLS client on the plaintext client port");
                        c->set->handlers->on_refuse(
                            c, TKV_EINVAL, "this port does not speak TLS (tls.cert_file is unset)");
                        conn_close_after_write(c);
                        break;
                }
                if (rv == TKV_ETOOBIG) {
                        c->set->stats.frames_too_large++;
                        c->set->handlers->on_refuse(c, TKV_ETOOBIG,
                                                    "frame exceeds frame_bytes_max");
                        conn_close_after_write(c);
                        break;
                }
                c->requests++;
                c->set->handlers->on_request(c, buffer_data(&c->in) + FRAME_HEADER_BYTES, body);
                buffer_consume(&c->in, FRAME_HEADER_BYTES + body);
        }
        /* Give back the memory a burst of large frames made us take. */
        buffer_trim(&c->in, 4 * CONN_READ_BYTES);
        conn_count(c);
}

/* ---- TLS ---- */

/* Log why a client's TLS failed (or why TLS and plaintext met), with its
 * address, at most once a second. */
static void conn_tls_log(struct conn *c, const char *why)
{
        struct conn_set *s = c->set;
        uint64_t now = uv_now(s->loop);
        struct sockaddr_storage sa;
        int len = sizeof sa;
        char host[64] = "?";
        unsigned port = 0;

        s->stats.tls_failed++;
        if (s->stats.tls_failed_logged_ms != 0 && now - s->stats.tls_failed_logged_ms < 1000) {
                return;
        }
        s->stats.tls_failed_logged_ms = now;
        if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&sa, &len) == 0) {
                if (sa.ss_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
                        uv_ip4_name(in, host, sizeof host);
                        port = ntohs(in->sin_port);
                } else if (sa.ss_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
                        uv_ip6_name(in6, host, sizeof host);
                        port = ntohs(in6->sin6_port);
                }
        }
        LOGW(-1, "conn %llu: TLS with client %s:%u failed: %s (%llu so far); closing",
             (unsigned long long)c->serial, host, port, why,
             (unsigned long long)s->stats.tls_failed);
}

/* The first bytes of a TLS connection: a client that speaks plaintext
 * gets a plaintext frame saying why, rather than an alert it cannot read.
 * False if c is being closed. */
static bool conn_tls_first_bytes(struct conn *c)
{
        struct tls *t = c->tls;
        if (t->received || buffer_len(&t->in) == 0 ||
            tls_looks_like_record(buffer_data(&t->in), buffer_len(&t->in))) {
                return true;
        }
        conn_tls_log(c, "plaintext on the TLS client port");
        tls_free(t);
        tkv_free(t);
        c->tls = NULL;
        c->set->handlers->on_refuse(c, TKV_EINVAL,
                                    "this port speaks TLS: connect with TLS (--cacert)");
        conn_close_after_write(c);
        return false;
}

/* Decrypt what arrived and dispatch the frames it completes: no more than
 * frame_read_room at a time, nothing while paused. What TLS must send
 * (handshake, alerts) is written with the answers. */
static void conn_tls_input(struct conn *c)
{
        if (!conn_tls_first_bytes(c)) {
                return;
        }
        while (!c->closing && !c->close_after_write && !c->paused) {
                size_t got;
                int rv;
                if (buffer_reserve(&c->in, conn_frame_room(c)) != 0) {
                        conn_close(c);
                        return;
                }
                rv = tls_read(c->tls, c->in.base + c->in.end, c->in.cap - c->in.end, &got);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv != 0) {
                        if (rv != TKV_ECONN) {
                                conn_tls_log(c, c->tls->errmsg);
                        }
                        conn_close_after_write(c); /* the alert goes out first */
                        break;
                }
                c->in.end += got;
                conn_process(c);
        }
        buffer_trim(&c->tls->in, 4 * CONN_READ_BYTES);
        if (!c->closing && conn_has_output(c)) {
                conn_mark_dirty(c);
        }
}

static void conn_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
        struct conn *c = stream->data;

        (void)buf;
        if (n < 0) {
                if (n != UV_EOF) {
                        LOGD(-1, "conn %llu: read: %s", (unsigned long long)c->serial,
                             uv_strerror((int)n));
                }
                conn_close(c);
                return;
        }
        c->set->stats.bytes_in[conn_is_link(c)] += (uint64_t)n;
        c->active_ms = uv_now(c->set->loop);
        if (c->tls != NULL) {
                c->tls->in.end += (size_t)n;
                conn_tls_input(c);
        } else {
                c->in.end += (size_t)n;
                conn_process(c);
        }
        /* A frame begun and not finished starts the frame clock; it does
         * not restart while more of the same frame trickles in. A TLS
         * handshake runs on the clock started at accept. */
        if (c->tls != NULL && !c->tls->established) {
                /* still shaking hands */
        } else if (buffer_len(&c->in) == 0) {
                c->frame_start_ms = 0;
        } else if (c->frame_start_ms == 0) {
                c->frame_start_ms = c->active_ms;
        }
        conn_within_budget(c);
}

/* Close c if it let a frame hang half-sent past frame_timeout_ms, or (if
 * idle_timeout_ms is set) sat idle that long with nothing in progress.
 * A paused connection waits for its own client: no clock runs. */
static void conn_check_timeouts(struct conn *c, uint64_t now)
{
        const struct config *cfg = c->set->cfg;
        const char *why = NULL;

        if (c->closing || c->paused || conn_is_link(c)) {
                return;
        }
        if (c->frame_start_ms != 0 && now - c->frame_start_ms > cfg->frame_timeout_ms) {
                why = c->tls != NULL && !c->tls->established
                          ? "no TLS handshake within frame_timeout_ms"
                          : "a frame begun and not finished within frame_timeout_ms";
        } else if (cfg->idle_timeout_ms != 0 && c->inflight == 0 && c->n_watches == 0 &&
                   buffer_len(&c->in) == 0 && buffer_len(&c->out) == 0 && !c->writing &&
                   now - c->active_ms > cfg->idle_timeout_ms) {
                why = "idle for idle_timeout_ms";
        }
        if (why != NULL) {
                c->set->stats.conns_timed_out++;
                LOGD(-1, "conn %llu: %s: closing", (unsigned long long)c->serial, why);
                conn_close(c);
        }
}

void conn_sweep(struct conn_set *set, uint64_t now)
{
        struct queue *q, *next;
        /* conn_close may unlink the connection: keep the next one first. */
        for (q = set->all.next; q != &set->all; q = next) {
                next = q->next;
                conn_check_timeouts(QUEUE_DATA(q, struct conn, link), now);
        }
}

static bool conn_output_full(const struct conn *c)
{
        return conn_unsent(c) > conn_output_max(c);
}

static void conn_update_reading(struct conn *c)
{
        bool want = !c->closing && !c->close_after_write;
        if (want && c->paused && conn_unsent(c) <= conn_output_max(c) / 2) {
                c->paused = false;
                uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
                /* Frames received before the pause may be waiting. */
                if (c->tls != NULL) {
                        conn_tls_input(c);
                } else {
                        conn_process(c);
                }
        } else if (want && !c->paused && conn_output_full(c)) {
                c->paused = true;
                uv_read_stop((uv_stream_t *)c->tcp);
        }
}

/* A client that does not read its answers while they keep coming: drop it
 * (the redis way) rather than hold them all. Logged at most once a second. */
static void conn_close_unread(struct conn *c)
{
        struct conn_set *set = c->set;
        uint64_t now = uv_now(set->loop);

        set->stats.conns_output_closed++;
        if (set->stats.output_closed_logged_ms == 0 ||
            now - set->stats.output_closed_logged_ms >= 1000) {
                set->stats.output_closed_logged_ms = now;
                LOGW(-1,
                     "conn %llu: %zu bytes of answers not read, over conn_output_close_bytes: "
                     "closing",
                     (unsigned long long)c->serial, conn_unsent(c));
        }
        conn_close(c);
}

uint8_t *conn_answer_space(struct conn *c, size_t body_len)
{
        uint8_t *p;

        if (c->closing) {
                return NULL;
        }
        if (!conn_is_link(c) && conn_unsent(c) + body_len > c->set->cfg->conn_output_close_bytes) {
                conn_close_unread(c);
                return NULL;
        }
        if (buffer_reserve(&c->out, FRAME_HEADER_BYTES + body_len) != 0) {
                LOGW(-1, "conn %llu: out of memory for an answer, closing",
                     (unsigned long long)c->serial);
                conn_close(c);
                return NULL;
        }
        p = buffer_extend(&c->out, FRAME_HEADER_BYTES + body_len);
        frame_put_header(p, (uint32_t)body_len);
        if (!conn_within_budget(c)) {
                return NULL; /* c held the most: closed */
        }
        conn_mark_dirty(c);
        if (conn_output_full(c)) {
                conn_update_reading(c);
        }
        return p + FRAME_HEADER_BYTES;
}

static void conn_written(uv_write_t *w, int status)
{
        struct conn *c = w->data;

        c->writing = false;
        if (status == 0) {
                c->set->stats.bytes_out[conn_is_link(c)] += buffer_len(&c->out_busy);
        }
        buffer_reset(&c->out_busy);
        buffer_trim(&c->out_busy, 4 * CONN_READ_BYTES);
        conn_count(c);
        if (status != 0 || c->closing) {
                if (!c->closing) {
                        conn_close(c);
                }
                conn_unref(c);
                return;
        }
        if (conn_has_output(c)) {
                conn_flush(c);
        } else if (c->close_after_write) {
                conn_close(c);
        }
        conn_update_reading(c);
        conn_unref(c);
}

void conn_flush(struct conn *c)
{
        struct buffer tmp, *ready = c->tls != NULL ? &c->tls->out : &c->out;
        uv_buf_t buf;
        int rv;

        queue_remove(&c->dirty_link);
        if (c->closing || c->writing || !conn_has_output(c)) {
                return;
        }
        if (c->tls != NULL && buffer_len(&c->out) > 0) {
                if (tls_write(c->tls, buffer_data(&c->out), buffer_len(&c->out)) != 0) {
                        LOGW(-1, "conn %llu: %s: closing", (unsigned long long)c->serial,
                             c->tls->errmsg);
                        conn_close(c);
                        return;
                }
                buffer_reset(&c->out);
        }
        tmp = c->out_busy;
        c->out_busy = *ready;
        *ready = tmp;
        /* Below 4 GiB: conn_output_close_bytes (at most 2 GiB) closes the
         * connection once one more answer (a frame at most) is queued. */
        buf = uv_buf_init((char *)buffer_data(&c->out_busy), (unsigned)buffer_len(&c->out_busy));
        c->write.data = c;
        rv = uv_write(&c->write, (uv_stream_t *)c->tcp, &buf, 1, conn_written);
        if (rv != 0) {
                conn_close(c);
                return;
        }
        c->writing = true;
        conn_ref(c); /* the write request holds the buffers */
}

void conn_close_after_write(struct conn *c)
{
        c->close_after_write = true;
        uv_read_stop((uv_stream_t *)c->tcp);
        if (!c->writing && !conn_has_output(c)) {
                conn_close(c);
        }
}

void conn_set_init(struct conn_set *set)
{
        memset(set, 0, sizeof *set);
        queue_init(&set->all);
        queue_init(&set->dirty);
}

/* A new connection's state, listed in set->all; the caller sets tcp. */
static struct conn *conn_new(struct conn_set *set, unsigned link_node)
{
        struct conn *c = tkv_calloc(1, sizeof *c);

        if (c == NULL) {
                return NULL;
        }
        c->set = set;
        c->link_node = link_node;
        c->refs = 1;
        c->active_ms = uv_now(set->loop);
        c->serial = ++set->serial;
        queue_init(&c->dirty_link);
        queue_init(&c->watches);
        buffer_init(&c->in);
        buffer_init(&c->out);
        buffer_init(&c->out_busy);
        queue_push_tail(&set->all, &c->link);
        if (link_node != 0) {
                set->n_links++;
        } else {
                set->n_conns++;
        }
        return c;
}

/* Give a new client connection its TLS session; the handshake must end
 * within frame_timeout_ms. Nonzero if c was closed. */
static int conn_tls_start(struct conn *c, struct tls_ctx *ctx)
{
        c->tls = tkv_malloc(sizeof *c->tls);
        if (c->tls == NULL || tls_init(c->tls, ctx, NULL) != 0) {
                LOGW(-1, "conn %llu: out of memory for TLS: closing",
                     (unsigned long long)c->serial);
                if (c->tls != NULL) {
                        tls_free(c->tls);
                        tkv_free(c->tls);
                        c->tls = NULL;
                }
                conn_close(c);
                return TKV_ENOMEM;
        }
        c->frame_start_ms = c->active_ms;
        return 0;
}

void conn_accept(struct conn_set *set, uv_stream_t *listener, bool serving)
{
        struct conn *c = conn_new(set, 0);
        int rv;

        if (c == NULL) {
                /* Out of memory: libuv pauses the listener until the
                 * connection it holds is taken (spare.h). */
                spare_refuse(set->spare);
                return;
        }
        c->tcp = &c->tcp_own;
        uv_tcp_init(set->loop, c->tcp);
        c->tcp->data = c;
        rv = uv_accept(listener, (uv_stream_t *)c->tcp);
        if (rv != 0) {
                conn_close(c);
                return;
        }
        if (set->n_conns > set->cfg->conns_max || !serving) {
                /* No request has been read whose id we could answer: say why
                 * with id 0, then close. */
                set->stats.conns_refused++;
                if (set->tls != NULL) {
                        conn_close(c); /* no session to say it in */
                        return;
                }
                set->handlers->on_refuse(c, serving ? TKV_EBUSY : TKV_ESHUTDOWN,
                                         serving ? "too many connections (conns_max)"
                                                 : "node is not serving");
                conn_close_after_write(c);
                return;
        }
        if (set->tls != NULL && conn_tls_start(c, set->tls) != 0) {
                return;
        }
        set->stats.conns_accepted++;
        uv_tcp_nodelay(c->tcp, 1);
        uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
}

void conn_adopt_link(struct conn_set *set, uv_tcp_t *tcp, struct tls *tls, unsigned node_id,
                     conn_stream_free_cb stream_free)
{
        struct conn *c = set->n_links < set->cfg->links_max ? conn_new(set, node_id) : NULL;

        if (c == NULL) {
                /* Over links_max (or out of memory): the other node's link
                 * fails its calls and reconnects after a backoff. */
                set->stats.links_refused++;
                LOGW(-1, "conn: node link from node %u refused (%u open, links_max %u)", node_id,
                     set->n_links, set->cfg->links_max);
                if (tls != NULL) {
                        tls_free(tls);
                        tkv_free(tls);
                }
                uv_close((uv_handle_t *)tcp, stream_free);
                return;
        }
        c->tcp = tcp;
        c->tcp->data = c;
        c->stream_free = stream_free;
        c->tls = tls;
        set->stats.links_accepted++;
        uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
        if (tls != NULL) {
                /* The session may hold the first frames already (they came
                 * with the peer handshake): no read will announce them. */
                conn_tls_input(c);
        }
}
