/* Links to other nodes' peer ports (node links, peer.h).
 *
 * The normal path: rpc_forward.c asks for frame space (connecting the link
 * if it is idle; the preamble goes first on every new connection), packs a request with a
 * link-local id into it and tracks a struct peer_call; once per loop iteration peer_flush hands
 * everything queued to one uv_write; answers come back as frames, and rpc_forward.c takes the
 * waiting call by id.
 *
 * Failure modes: the connect fails or does not finish within the connect
 * timeout; a write or read fails; the other node closes. In each case every
 * call in flight fails through on_fail, told whether its bytes may have
 * reached the other node (then a forwarded write's outcome is unknown), the
 * link closes, and it reconnects when there is something to send again,
 * after a backoff that doubles from 50 ms to 1 s per consecutive failure. */
#include "peer.h"

#include <string.h>

#include "config.h"
#include "err.h"
#include "frame.h"
#include "heap.h"
#include "log.h"
#include "tls.h"
#include "tlsrelay.h"
#include "transport.h"

#define PEER_READ_BYTES     (64 * 1024)
#define PEER_BACKOFF_MIN_MS 50
#define PEER_BACKOFF_MAX_MS 1000

void peer_init(struct peer *p, void *data, const struct peer_env *env, unsigned node_id,
               const char *addr, peer_frame_cb on_frame, peer_fail_cb on_fail)
{
        memset(p, 0, sizeof *p);
        p->data = data;
        p->env = env;
        p->node_id = node_id;
        snprintf(p->addr, sizeof p->addr, "%s", addr);
        p->state = PEER_IDLE;
        p->on_frame = on_frame;
        p->on_fail = on_fail;
        p->next_id = 1;
        buffer_init(&p->in);
        buffer_init(&p->out);
        buffer_init(&p->out_busy);
        queue_init(&p->calls);
        uv_timer_init(env->loop, &p->timer);
        p->timer.data = p;
}

uint64_t peer_next_id(struct peer *p)
{
        return p->next_id++;
}

/* Does this node's peer port speak TLS ([tls] peer_*)? */
static bool peer_tls(const struct peer *p)
{
        return p->env->tls != NULL && p->env->tls->client != NULL;
}

static unsigned peer_bucket(uint64_t id)
{
        return (unsigned)(id % PEER_TABLE_BUCKETS);
}

void peer_track(struct peer *p, struct peer_call *pc, uint64_t id)
{
        unsigned b = peer_bucket(id);
        pc->peer = p;
        pc->id = id;
        pc->order = ++p->enqueued;
        pc->hnext = p->table[b];
        p->table[b] = pc;
        queue_push_tail(&p->calls, &pc->link);
        p->n_calls++;
}

static void peer_untrack(struct peer *p, struct peer_call *pc)
{
        struct peer_call **link = &p->table[peer_bucket(pc->id)];
        while (*link != pc) {
                link = &(*link)->hnext;
        }
        *link = pc->hnext;
        queue_remove(&pc->link);
        p->n_calls--;
}

struct peer_call *peer_find(const struct peer *p, uint64_t id)
{
        struct peer_call *pc = p->table[peer_bucket(id)];
        while (pc != NULL && pc->id != id) {
                pc = pc->hnext;
        }
        return pc;
}

struct peer_call *peer_take(struct peer *p, uint64_t id)
{
        struct peer_call *pc = peer_find(p, id);
        if (pc != NULL) {
                peer_untrack(p, pc);
        }
        return pc;
}

bool peer_forget(struct peer_call *pc)
{
        struct peer *p = pc->peer;
        bool sent = pc->order <= p->flushed;
        peer_untrack(p, pc);
        return sent;
}

bool peer_alive(const struct peer *p, uint64_t now_ms, uint64_t window_ms)
{
        return p->last_heard_ms != 0 && now_ms - p->last_heard_ms <= window_ms;
}

/* ------------------------------------------------------------------------ */
/* Breaking and closing */

static void peer_closed_cb(uv_handle_t *h)
{
        struct peer *p = h->data;
        uint64_t now = uv_now(p->env->loop);
        unsigned shift = p->failures < 5 ? p->failures : 5;
        uint64_t backoff = (uint64_t)PEER_BACKOFF_MIN_MS << shift;

        p->state = PEER_IDLE;
        p->retry_at_ms = now + (backoff < PEER_BACKOFF_MAX_MS ? backoff : PEER_BACKOFF_MAX_MS);
}

/* Fail every call in flight and close the connection. */
static void peer_break(struct peer *p, const char *why)
{
        if (p->state == PEER_CONNECTING || p->state == PEER_CONNECTED) {
                LOGD(-1, "peer %u (%s): %s", p->node_id, p->addr, why);
                p->failures++;
                p->state = PEER_CLOSING;
                uv_timer_stop(&p->timer);
                uv_close((uv_handle_t *)&p->tcp, peer_closed_cb);
        }
        buffer_reset(&p->in);
        buffer_reset(&p->out);
        if (p->tls != NULL) {
                /* Nothing of libuv's points into it (the write in flight
                 * owns out_busy). */
                tls_free(p->tls);
                tkv_free(p->tls);
                p->tls = NULL;
        }
        while (!queue_empty(&p->calls)) {
                struct peer_call *pc = QUEUE_DATA(queue_head(&p->calls), struct peer_call, link);
                bool sent = pc->order <= p->flushed;
                peer_untrack(p, pc);
                p->on_fail(pc, sent);
        }
        p->flushed = p->enqueued;
}

void peer_reset(struct peer *p, const char *why)
{
        peer_break(p, why);
}

void peer_move(struct peer *p, const char *addr)
{
        snprintf(p->addr, sizeof p->addr, "%s", addr);
        peer_break(p, "its peer address changed");
}

static void peer_timer_closed(uv_handle_t *h)
{
        (void)h;
}

void peer_stop(struct peer *p)
{
        p->stopping = true;
        peer_break(p, "stopping");
        uv_close((uv_handle_t *)&p->timer, peer_timer_closed);
}

bool peer_closed(const struct peer *p)
{
        return p->stopping && p->state == PEER_IDLE;
}

void peer_release(struct peer *p)
{
        buffer_free(&p->in);
        buffer_free(&p->out);
        buffer_free(&p->out_busy);
}

/* ------------------------------------------------------------------------ */
/* Reading */

/* Answers carry at most a value plus a few hundred bytes. */
static size_t peer_answer_bytes_max(const struct peer *p)
{
        return (size_t)p->env->cfg->frame_bytes_max * 2;
}

static void peer_written(uv_write_t *w, int status);

/* Write what TLS has for the wire (handshake messages, records), one
 * write at a time on the frames' buffers. */
static void peer_tls_send(struct peer *p)
{
        struct buffer tmp;
        uv_buf_t buf;

        if (p->writing || buffer_len(&p->tls->out) == 0) {
                return;
        }
        tmp = p->out_busy;
        p->out_busy = p->tls->out;
        p->tls->out = tmp;
        buf = uv_buf_init((char *)buffer_data(&p->out_busy), (unsigned)buffer_len(&p->out_busy));
        p->write.data = p;
        if (uv_write(&p->write, (uv_stream_t *)&p->tcp, &buf, 1, peer_written) != 0) {
                peer_break(p, "write failed");
                return;
        }
        p->writing = true;
}

/* A TLS failure on a link we opened: logged (once a second for every
 * peer connection of the node), then the link breaks. */
static void peer_tls_failed(struct peer *p)
{
        struct tlsrelay_env *env = p->env->tls;
        uint64_t now = uv_now(p->env->loop);

        env->failures++;
        if (env->logged_ms == 0 || now - env->logged_ms >= 1000) {
                env->logged_ms = now;
                LOGW(-1, "peer %u (%s): TLS failed: %s (%llu so far); closing", p->node_id, p->addr,
                     p->tls->errmsg, (unsigned long long)env->failures);
        }
        peer_break(p, p->tls->errmsg);
}

/* Decrypt the records received into p->in, no more than the frame being
 * read allows at a time. False if the link broke. */
static bool peer_tls_decrypt(struct peer *p)
{
        for (;;) {
                size_t got, want = frame_read_room(buffer_data(&p->in), buffer_len(&p->in),
                                                   peer_answer_bytes_max(p), PEER_READ_BYTES);
                int rv;
                if (buffer_reserve(&p->in, want) != 0) {
                        peer_break(p, "out of memory");
                        return false;
                }
                rv = tls_read(p->tls, p->in.base + p->in.end, p->in.cap - p->in.end, &got);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv != 0) {
                        peer_tls_send(p); /* the alert that says why */
                        peer_tls_failed(p);
                        return false;
                }
                p->in.end += got;
        }
        buffer_trim(&p->tls->in, 4 * PEER_READ_BYTES);
        peer_tls_send(p);
        return p->state == PEER_CONNECTING || p->state == PEER_CONNECTED;
}

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct peer *p = h->data;
        /* Grown as bytes arrive, within the answer limit peer_read checks
         * (an announced length alone reserved up to 4 GiB). */
        size_t want = frame_read_room(buffer_data(&p->in), buffer_len(&p->in),
                                      peer_answer_bytes_max(p), PEER_READ_BYTES);

        struct buffer *b = p->tls != NULL ? &p->tls->in : &p->in;

        (void)suggested;
        if (p->tls != NULL) {
                want = PEER_READ_BYTES; /* records; decrypting is bounded below */
        }
        if (buffer_reserve(b, want) != 0) {
                buf->base = NULL;
                buf->len = 0;
                return;
        }
        buf->base = (char *)b->base + b->end;
        buf->len = b->cap - b->end;
}

static void peer_hello_written(uv_write_t *w, int status);

/* The other node's CHALLENGE (peerauth.h), first on every connection: once
 * it is whole and genuine, send the PROOF; the link is then connected and
 * frames may follow it. False if the link broke. */
static bool peer_authenticate(struct peer *p)
{
        const struct peer_env *env = p->env;
        uv_buf_t proof;

        if (buffer_len(&p->in) < PEERAUTH_CHALLENGE_BYTES) {
                return true;
        }
        if (peerauth_prove(&p->auth, buffer_data(&p->in), env->identity->incarnation,
                           &env->mux->layout, env->cfg->peer_addr, p->proof, &p->proof_len) != 0) {
                LOGW(-1, "peer %u (%s): it does not hold the cluster secret", p->node_id, p->addr);
                peer_break(p, "authentication failed");
                return false;
        }
        buffer_consume(&p->in, PEERAUTH_CHALLENGE_BYTES);
        if (p->tls != NULL) {
                if (tls_write(p->tls, p->proof, p->proof_len) != 0) {
                        peer_break(p, "out of memory for TLS");
                        return false;
                }
                peer_tls_send(p);
        } else {
                proof = uv_buf_init((char *)p->proof, (unsigned)p->proof_len);
                p->proof_write.data = p;
                if (uv_write(&p->proof_write, (uv_stream_t *)&p->tcp, &proof, 1,
                             peer_hello_written) != 0) {
                        peer_break(p, "handshake write failed");
                        return false;
                }
        }
        uv_timer_stop(&p->timer);
        p->state = PEER_CONNECTED;
        p->failures = 0;
        p->connects++;
        return true;
}

static void peer_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
        struct peer *p = stream->data;
        size_t max = peer_answer_bytes_max(p);

        (void)buf;
        if (n < 0) {
                peer_break(p, uv_strerror((int)n));
                return;
        }
        if (p->tls != NULL) {
                p->tls->in.end += (size_t)n;
                if (!peer_tls_decrypt(p)) {
                        return;
                }
        } else {
                p->in.end += (size_t)n;
        }
        if (p->state == PEER_CONNECTING && !peer_authenticate(p)) {
                return;
        }
        if (p->state != PEER_CONNECTED) {
                return;
        }
        p->last_heard_ms = uv_now(p->env->loop);
        for (;;) {
                size_t body;
                int rv = frame_parse(buffer_data(&p->in), buffer_len(&p->in), max, &body);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv != 0) {
                        peer_break(p, "oversized frame");
                        return;
                }
                p->frames_in++;
                p->on_frame(p, buffer_data(&p->in) + FRAME_HEADER_BYTES, body);
                if (p->state != PEER_CONNECTED) {
                        return;
                }
                buffer_consume(&p->in, FRAME_HEADER_BYTES + body);
        }
        buffer_trim(&p->in, 4 * PEER_READ_BYTES);
}

/* ------------------------------------------------------------------------ */
/* Connecting and writing */

static void peer_connect_timeout(uv_timer_t *t)
{
        struct peer *p = t->data;
        peer_break(p, "connect timed out");
}

static void peer_hello_written(uv_write_t *w, int status)
{
        struct peer *p = w->data;
        /* Cancelled writes belong to a connection already being closed. */
        if (status != 0 && status != UV_ECANCELED &&
            (p->state == PEER_CONNECTED || p->state == PEER_CONNECTING)) {
                peer_break(p, uv_strerror(status));
        }
}

/* Connected: open the handshake (peerauth.h). The link stays CONNECTING,
 * under the connect deadline, until the other node proved itself. */
static void peer_connected(uv_connect_t *req, int status)
{
        struct peer *p = req->data;
        const struct peer_env *env = p->env;
        uv_buf_t hello;

        if (p->state != PEER_CONNECTING) {
                return; /* closed meanwhile */
        }
        if (status != 0) {
                peer_break(p, uv_strerror(status));
                return;
        }
        uv_tcp_nodelay(&p->tcp, 1);
        if (peerauth_hello(&p->auth, &env->mux->ring, env->mux->cluster_id, TRANSPORT_LINK_GROUP,
                           env->cfg->node_id, p->node_id) != 0) {
                peer_break(p, "no randomness for the handshake");
                return;
        }
        /* Writes on a stream go out in order: the handshake precedes every
         * frame peer_flush writes on this connection. */
        if (p->tls != NULL) {
                /* Encrypted once TLS is up, right behind its handshake. */
                if (tls_write(p->tls, p->auth.hello, PEERAUTH_HELLO_BYTES) != 0) {
                        peer_break(p, "out of memory for TLS");
                        return;
                }
                peer_tls_send(p);
                uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
                return;
        }
        hello = uv_buf_init((char *)p->auth.hello, PEERAUTH_HELLO_BYTES);
        p->hello_write.data = p;
        if (uv_write(&p->hello_write, (uv_stream_t *)&p->tcp, &hello, 1, peer_hello_written) != 0) {
                peer_break(p, "handshake write failed");
                return;
        }
        uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
}

/* Start this connection's TLS session (peer TLS): checked for the host we
 * dial. The ClientHello waits in p->tls->out for the connection. */
static int peer_tls_start(struct peer *p, const char *host)
{
        p->tls = tkv_malloc(sizeof *p->tls);
        if (p->tls == NULL) {
                return TKV_ENOMEM;
        }
        if (tls_init(p->tls, p->env->tls->client, host) != 0) {
                tkv_free(p->tls);
                p->tls = NULL;
                return TKV_ENOMEM;
        }
        return 0;
}

static void peer_connect(struct peer *p, unsigned timeout_ms)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        struct sockaddr_in sa;
        int rv;

        if (config_split_addr(p->addr, host, &port) != 0 ||
            uv_ip4_addr(host, (int)port, &sa) != 0) {
                return;
        }
        uv_tcp_init(p->env->loop, &p->tcp);
        p->tcp.data = p;
        p->connect.data = p;
        p->state = PEER_CONNECTING;
        if (peer_tls(p) && peer_tls_start(p, host) != 0) {
                peer_break(p, "out of memory for TLS");
                return;
        }
        rv = uv_tcp_connect(&p->connect, &p->tcp, (const struct sockaddr *)&sa, peer_connected);
        if (rv != 0) {
                peer_break(p, uv_strerror(rv));
                return;
        }
        uv_timer_start(&p->timer, peer_connect_timeout, timeout_ms, 0);
}

uint8_t *peer_frame_space(struct peer *p, size_t body_len)
{
        uint8_t *f;

        if (p->stopping || buffer_len(&p->out) + body_len > p->env->params->output_bytes_max) {
                return NULL;
        }
        if (buffer_reserve(&p->out, FRAME_HEADER_BYTES + body_len) != 0) {
                return NULL;
        }
        f = buffer_extend(&p->out, FRAME_HEADER_BYTES + body_len);
        frame_put_header(f, (uint32_t)body_len);
        return f + FRAME_HEADER_BYTES;
}

static void peer_written(uv_write_t *w, int status)
{
        struct peer *p = w->data;
        p->writing = false;
        buffer_reset(&p->out_busy);
        if (status != 0) {
                peer_break(p, uv_strerror(status));
        } else if (p->tls != NULL) {
                peer_tls_send(p); /* handshake messages that waited */
        }
}

void peer_flush(struct peer *p, uint64_t now_ms, const struct peer_params *params)
{
        struct buffer tmp;
        uv_buf_t buf;

        if (p->stopping) {
                return;
        }
        if (p->state == PEER_IDLE && buffer_len(&p->out) > 0 && now_ms >= p->retry_at_ms) {
                peer_connect(p, params->connect_timeout_ms);
        }
        if (p->state != PEER_CONNECTED || p->writing || buffer_len(&p->out) == 0) {
                return;
        }
        if (p->tls != NULL) {
                if (tls_write(p->tls, buffer_data(&p->out), buffer_len(&p->out)) != 0) {
                        peer_break(p, "TLS write failed");
                        return;
                }
                buffer_reset(&p->out);
                peer_tls_send(p);
                p->flushed = p->enqueued;
                return;
        }
        tmp = p->out_busy;
        p->out_busy = p->out;
        p->out = tmp;
        /* Below 4 GiB: nothing is queued past link_output_bytes_max (2 GiB
         * at most). */
        buf = uv_buf_init((char *)buffer_data(&p->out_busy), (unsigned)buffer_len(&p->out_busy));
        p->write.data = p;
        if (uv_write(&p->write, (uv_stream_t *)&p->tcp, &buf, 1, peer_written) != 0) {
                peer_break(p, "write failed");
                return;
        }
        p->writing = true;
        p->flushed = p->enqueued;
}
