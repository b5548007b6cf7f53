/* Multiplexed Raft transport (see transport.h for the preamble).
 *
 * Outbound, the normal path of a connect request from raft_uv:
 *
 *   connect() -> uv_tcp_connect with a deadline timer
 *             -> connected: TCP_NODELAY, write preamble + address
 *             -> written: stop the timer, hand the stream to raft (cb, 0)
 *
 * and the ways it breaks: the peer refuses or is unreachable (connect error),
 * the peer is cut off by a firewall that drops packets (no answer at all: the
 * deadline timer closes the handle, because a kernel connect can wait for
 * minutes), the write fails, or the transport closes meanwhile. Each ends
 * with the stream closed and raft's callback fired exactly once with
 * RAFT_NOCONNECTION (or RAFT_CANCELED on close); raft retries later.
 *
 * Inbound: accept -> read exactly the preamble (the alloc callback offers
 * only the bytes still missing) -> stop reading -> look up the group ->
 * raft's accept callback takes the stream. A bad magic, another cluster, an
 * unknown group, or a preamble that stalls past the handshake timeout
 * closes the connection; the peer's raft reconnects later. */
#include "transport_raft.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buffer.h"
#include "config.h"
#include "heap.h"
#include "keyhash.h"
#include "log.h"
#include "tls.h"

#define TRANSPORT_HANDSHAKES_MAX 256
#define TRANSPORT_TLS_READ_BYTES (16 * 1024)
/* What an accepted TLS peer may send before its peer handshake ended: the
 * TLS handshake, the HELLO and PROOF, and the first frames behind them. */
#define TRANSPORT_TLS_BACKLOG_BYTES    (256 * 1024)
#define TRANSPORT_HANDSHAKE_TIMEOUT_MS 5000

/* Where an inbound handshake is: reading the HELLO, then the PROOF's fixed
 * part, then its address (peerauth.h). */
enum transport_phase { TRANSPORT_HELLO, TRANSPORT_PROOF, TRANSPORT_ADDRESS };

/* An inbound connection in its handshake. */
struct transport_handshake {
        struct transport_mux *mux;
        uv_tcp_t *tcp; /* raft_malloc'd: raft frees it once it owns it */
        struct peerauth auth;
        enum transport_phase phase;
        uint8_t in[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX]; /* HELLO, then PROOF */
        char address[TRANSPORT_ADDRESS_MAX + 1];
        uv_write_t write;        /* CHALLENGE */
        uv_write_t answer_write; /* a probe's answer */
        uint8_t answer[PEERAUTH_KNOWN_BYTES];
        size_t got;     /* bytes of the current phase received */
        size_t need;    /* bytes the current phase needs */
        uint64_t start; /* uv_now at accept */
        bool writing;   /* `write` in flight: its callback still refers to it */
        bool orphaned;  /* stream handed over: free once `write` completed */
        bool finished;  /* refused or handed over: read no further */
        bool answered;  /* a probe's answer is written: close once it is out */
        /* Peer TLS: the connection's session, the handshake reading and
         * writing through it; handed over with the stream. NULL: plaintext. */
        struct tls *tls;
        struct buffer out_busy; /* records being written (`write`) */
        struct queue link;
};

/* An outbound connection attempt. */
struct transport_connect {
        struct transport *t;
        struct raft_uv_connect *req;
        raft_uv_connect_cb cb;
        uv_tcp_t *tcp; /* raft_malloc'd; NULL once handed to raft */
        uv_connect_t connect;
        uv_write_t write;       /* HELLO */
        uv_write_t proof_write; /* PROOF */
        uv_timer_t timer;
        raft_id target;
        struct peerauth auth;
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        size_t got; /* bytes of the CHALLENGE received */
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t proof_len;
        struct sockaddr_in addr;
        struct transport_backoff *backoff; /* NULL: table full */
        unsigned handles;                  /* open handles (tcp, timer) still to close */
        bool hello_writing;                /* `write` in flight */
        bool done;                         /* raft's callback has fired */
        struct queue link;
};

/* A handshake that failed authentication: counted, and logged with the
 * peer's address at most once a second (a flood must not flood the log). */
static void transport_auth_failed(struct transport_mux *m, uv_tcp_t *tcp, const char *fmt, ...)
{
        struct sockaddr_storage sa;
        int len = sizeof sa;
        char who[64] = "?";
        char why[160];
        uint64_t now = uv_now(m->loop);
        va_list ap;

        m->auth_failures++;
        if (m->auth_logged_ms != 0 && now - m->auth_logged_ms < 1000) {
                m->auth_unlogged++;
                return;
        }
        if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
                char ip[INET_ADDRSTRLEN];
                uv_ip4_name(in, ip, sizeof ip);
                snprintf(who, sizeof who, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
        }
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        LOGW(-1, "transport: peer handshake with %s failed: %s (%llu failures not logged since)",
             who, why, (unsigned long long)m->auth_unlogged);
        m->auth_logged_ms = now;
        m->auth_unlogged = 0;
}

/* ------------------------------------------------------------------------ */
/* Outbound */

/* Backoff per peer address: each consecutive failed attempt doubles the
 * wait before the next one (100 ms up to 4 s, on top of raft's own retry
 * delay); a success resets it. */
static struct transport_backoff *transport_backoff_of(struct transport_mux *m, const char *address)
{
        for (unsigned i = 0; i < m->n_backoffs; i++) {
                if (strcmp(m->backoffs[i].address, address) == 0) {
                        return &m->backoffs[i];
                }
        }
        if (m->n_backoffs == TRANSPORT_BACKOFFS_MAX || strlen(address) > TRANSPORT_ADDRESS_MAX) {
                return NULL;
        }
        strcpy(m->backoffs[m->n_backoffs].address, address);
        m->backoffs[m->n_backoffs].delay_ms = 0;
        return &m->backoffs[m->n_backoffs++];
}

static void transport_backoff_update(struct transport_backoff *b, bool ok)
{
        if (b == NULL) {
                return;
        }
        if (ok) {
                b->delay_ms = 0;
        } else {
                b->delay_ms = b->delay_ms == 0 ? 100 : b->delay_ms * 2;
                if (b->delay_ms > 4000) {
                        b->delay_ms = 4000;
                }
        }
}

static void transport_close_deferred(uv_handle_t *h);

/* Fire the transport's close callback once no attempt refers to it. It must
 * not run inside close() itself: closing a handle defers it by one loop
 * iteration. */
static void transport_maybe_closed(struct transport *t)
{
        if (t->closing && queue_empty(&t->connects) &&
            !uv_is_closing((uv_handle_t *)&t->close_defer)) {
                uv_close((uv_handle_t *)&t->close_defer, transport_close_deferred);
        }
}

static void transport_connect_maybe_free(struct transport_connect *c)
{
        struct transport *t = c->t;
        if (c->handles > 0 || !c->done || c->hello_writing) {
                return;
        }
        queue_remove(&c->link);
        tkv_free(c);
        transport_maybe_closed(t);
}

static void transport_connect_tcp_closed(uv_handle_t *h)
{
        struct transport_connect *c = h->data;
        raft_free(h);
        c->handles--;
        transport_connect_maybe_free(c);
}

static void transport_connect_timer_closed(uv_handle_t *h)
{
        struct transport_connect *c = h->data;
        c->handles--;
        transport_connect_maybe_free(c);
}

/* Fire raft's callback once; on failure close the stream. */
static void transport_connect_finish(struct transport_connect *c, int raft_status)
{
        uv_stream_t *stream = NULL;

        if (c->done) {
                return;
        }
        c->done = true;
        if (raft_status != RAFT_CANCELED) {
                transport_backoff_update(c->backoff, raft_status == 0);
        }
        if (raft_status == 0) {
                stream = (uv_stream_t *)c->tcp;
                c->tcp = NULL; /* raft owns it now; its close callback is raft's */
                c->handles--;
        } else {
                c->t->mux->connect_fails++;
                if (c->tcp != NULL && !uv_is_closing((uv_handle_t *)c->tcp)) {
                        uv_close((uv_handle_t *)c->tcp, transport_connect_tcp_closed);
                }
        }
        if (!uv_is_closing((uv_handle_t *)&c->timer)) {
                uv_close((uv_handle_t *)&c->timer, transport_connect_timer_closed);
        }
        c->cb(c->req, stream, raft_status);
}

static void transport_connect_proved(uv_write_t *w, int status)
{
        struct transport_connect *c = w->data;
        if (status != 0) {
                transport_connect_finish(c, c->t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
                return;
        }
        transport_connect_finish(c, 0);
}

static void transport_connect_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct transport_connect *c = h->data;
        (void)suggested;
        /* Exactly the CHALLENGE's missing bytes: nothing after it is ours. */
        buf->base = (char *)c->challenge + c->got;
        buf->len = sizeof c->challenge - c->got;
}

/* The server's CHALLENGE: once whole and genuine, send the PROOF. */
static void transport_connect_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct transport_connect *c = s->data;
        struct transport *t = c->t;
        uv_buf_t out;
        int rv;

        (void)buf;
        if (n < 0) {
                transport_connect_finish(c, t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
                return;
        }
        c->got += (size_t)n;
        if (c->got < sizeof c->challenge) {
                return;
        }
        uv_read_stop(s);
        rv = peerauth_prove(&c->auth, c->challenge, t->mux->identity->incarnation, &t->mux->layout,
                            t->address, c->proof, &c->proof_len);
        if (rv != 0) {
                transport_auth_failed(t->mux, (uv_tcp_t *)s, "node %llu did not prove the secret",
                                      (unsigned long long)c->target);
                transport_connect_finish(c, RAFT_NOCONNECTION);
                return;
        }
        out = uv_buf_init((char *)c->proof, (unsigned)c->proof_len);
        c->proof_write.data = c;
        if (uv_write(&c->proof_write, s, &out, 1, transport_connect_proved) != 0) {
                transport_connect_finish(c, RAFT_NOCONNECTION);
        }
}

static void transport_connect_hello_written(uv_write_t *w, int status)
{
        struct transport_connect *c = w->data;
        c->hello_writing = false;
        if (status != 0) {
                transport_connect_finish(c, c->t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
        }
        transport_connect_maybe_free(c);
}

static void transport_connect_connected(uv_connect_t *req, int status)
{
        struct transport_connect *c = req->data;
        struct transport_mux *m = c->t->mux;
        uv_buf_t buf;

        if (status != 0 || c->done) {
                transport_connect_finish(c, c->t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
                return;
        }
        if (c->t->mux->tls.client == NULL) {
                uv_tcp_nodelay(c->tcp, 1);
        }
        if (peerauth_hello(&c->auth, &m->ring, m->cluster_id, c->t->group, c->t->id, c->target) !=
            0) {
                transport_connect_finish(c, RAFT_NOCONNECTION);
                return;
        }
        buf = uv_buf_init((char *)c->auth.hello, PEERAUTH_HELLO_BYTES);
        c->write.data = c;
        if (uv_write(&c->write, (uv_stream_t *)c->tcp, &buf, 1, transport_connect_hello_written) !=
            0) {
                transport_connect_finish(c, RAFT_NOCONNECTION);
                return;
        }
        c->hello_writing = true;
        if (uv_read_start((uv_stream_t *)c->tcp, transport_connect_alloc, transport_connect_read) !=
            0) {
                transport_connect_finish(c, RAFT_NOCONNECTION);
        }
}

/* Finish the attempt here: closing the stream cancels a pending connect or
 * write (their callbacks then find it done), but a stream waiting for the
 * CHALLENGE gets no callback at all. That is the common case, since the
 * kernel completes a connection into the backlog of a node that is still
 * loading its partitions: raft would wait for that attempt for ever and
 * never reach the peer again. */
static void transport_connect_timeout(uv_timer_t *timer)
{
        struct transport_connect *c = timer->data;
        transport_connect_finish(c, RAFT_NOCONNECTION);
}

static void transport_connect_connected(uv_connect_t *req, int status);
static void transport_connect_timeout(uv_timer_t *timer);

static void transport_connect_start(uv_timer_t *timer)
{
        struct transport_connect *c = timer->data;
        struct transport_mux *m = c->t->mux;
        char host[INET_ADDRSTRLEN];

        if (c->done) {
                return;
        }
        uv_timer_start(&c->timer, transport_connect_timeout, m->connect_timeout_ms, 0);
        if (m->tls.client == NULL) {
                if (uv_tcp_connect(&c->connect, c->tcp, (const struct sockaddr *)&c->addr,
                                   transport_connect_connected) != 0) {
                        transport_connect_finish(c, RAFT_NOCONNECTION);
                }
                return;
        }
        /* The peer's certificate must name the address we dial. */
        uv_ip4_name(&c->addr, host, sizeof host);
        if (tlsrelay_connect(&m->tls, m->loop, (const struct sockaddr *)&c->addr, host,
                             (uv_pipe_t *)(void *)c->tcp) != 0) {
                transport_connect_finish(c, RAFT_NOCONNECTION);
                return;
        }
        transport_connect_connected(&c->connect, 0);
}

static int transport_resolve(const char *address, struct sockaddr_in *sa)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        if (config_split_addr(address, host, &port) != 0) {
                return RAFT_INVALID;
        }
        return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : RAFT_INVALID;
}

static int transport_method_connect(struct raft_uv_transport *base, struct raft_uv_connect *req,
                                    raft_id id, const char *address, raft_uv_connect_cb cb)
{
        struct transport *t = base->impl;
        struct transport_connect *c;
        struct sockaddr_in sa;
        const char *mapped = t->mux->address_cb != NULL
                                 ? t->mux->address_cb(t->mux->address_data, (unsigned)id)
                                 : NULL;
        int rv;

        if (mapped != NULL) {
                address = mapped; /* the member may have moved since Raft added it */
        }
        if (transport_resolve(address, &sa) != 0) {
                err_msgf(base->errmsg, "connect: bad address %s", address);
                return RAFT_INVALID;
        }
        c = tkv_calloc(1, sizeof *c);
        if (c == NULL) {
                return RAFT_NOMEM;
        }
        c->tcp = raft_malloc(sizeof(union tlsrelay_stream));
        if (c->tcp == NULL) {
                tkv_free(c);
                return RAFT_NOMEM;
        }
        c->t = t;
        c->req = req;
        c->cb = cb;
        c->target = id;
        if (t->mux->tls.client != NULL) {
                uv_pipe_init(t->mux->loop, (uv_pipe_t *)(void *)c->tcp, 0);
        } else {
                uv_tcp_init(t->mux->loop, c->tcp);
        }
        uv_timer_init(t->mux->loop, &c->timer);
        c->tcp->data = c;
        c->timer.data = c;
        c->connect.data = c;
        c->handles = 2;
        c->addr = sa;
        c->backoff = transport_backoff_of(t->mux, address);
        queue_push_tail(&t->connects, &c->link);
        if ((c->backoff != NULL && c->backoff->delay_ms > 0) || t->mux->tls.client != NULL) {
                /* Recent failures: wait before trying (raft retries anyway).
                 * A TLS relay's stream is ready at once: start from the loop,
                 * not inside raft's call, as a TCP connect would. */
                uv_timer_start(&c->timer, transport_connect_start,
                               c->backoff != NULL ? c->backoff->delay_ms : 0, 0);
                return 0;
        }
        rv = uv_tcp_connect(&c->connect, c->tcp, (const struct sockaddr *)&sa,
                            transport_connect_connected);
        if (rv != 0) {
                /* No callback may fire for an error return: close quietly. */
                c->done = true;
                uv_close((uv_handle_t *)c->tcp, transport_connect_tcp_closed);
                uv_close((uv_handle_t *)&c->timer, transport_connect_timer_closed);
                return RAFT_NOCONNECTION;
        }
        uv_timer_start(&c->timer, transport_connect_timeout, t->mux->connect_timeout_ms, 0);
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-group transport methods */

static int transport_method_init(struct raft_uv_transport *base, raft_id id, const char *address)
{
        struct transport *t = base->impl;
        if (strlen(address) > TRANSPORT_ADDRESS_MAX) {
                return RAFT_NAMETOOLONG;
        }
        t->id = id;
        strcpy(t->address, address);
        return 0;
}

static int transport_method_listen(struct raft_uv_transport *base, raft_uv_accept_cb cb)
{
        struct transport *t = base->impl;
        t->accept_cb = cb;
        return 0;
}

static void transport_close_deferred(uv_handle_t *h)
{
        struct transport *t = h->data;
        queue_remove(&t->link);
        t->close_cb(&t->base);
}

static void transport_method_close(struct raft_uv_transport *base, raft_uv_transport_close_cb cb)
{
        struct transport *t = base->impl;
        struct queue *q;

        t->closing = true;
        t->accept_cb = NULL;
        t->close_cb = cb;
        raftguard_end_all(&t->guards);
        /* Cancel attempts in progress: closing their handles makes their
         * callbacks report RAFT_CANCELED to raft. */
        QUEUE_FOREACH(q, &t->connects)
        {
                struct transport_connect *c = QUEUE_DATA(q, struct transport_connect, link);
                if (!c->done) {
                        transport_connect_finish(c, RAFT_CANCELED);
                }
        }
        transport_maybe_closed(t);
}

int transport_init(struct transport *t, struct transport_mux *m, uint32_t group)
{
        memset(t, 0, sizeof *t);
        t->mux = m;
        t->group = group;
        t->base.impl = t;
        t->base.init = transport_method_init;
        t->base.listen = transport_method_listen;
        t->base.connect = transport_method_connect;
        t->base.close = transport_method_close;
        queue_init(&t->connects);
        queue_init(&t->guards);
        uv_timer_init(m->loop, &t->close_defer);
        t->close_defer.data = t;
        queue_push_tail(&m->transports, &t->link);
        return 0;
}

void transport_set_check(struct transport *t, raftguard_check_fn fn, void *arg)
{
        t->check = fn;
        t->check_arg = arg;
}

/* ------------------------------------------------------------------------ */
/* Inbound */

static void transport_mux_maybe_closed(struct transport_mux *m)
{
        if (m->closing && m->handles_open == 0 && m->close_cb != NULL) {
                transport_mux_close_cb cb = m->close_cb;
                m->close_cb = NULL;
                /* Relays still closing hold their sessions' own references. */
                tls_ctx_free(m->tls.server);
                tls_ctx_free(m->tls.client);
                m->tls.server = m->tls.client = NULL;
                cb(m);
        }
}

static void transport_handshake_free(struct transport_handshake *hs)
{
        if (hs->tls != NULL) {
                tls_free(hs->tls);
                tkv_free(hs->tls);
        }
        buffer_free(&hs->out_busy);
        tkv_free(hs);
}

static void transport_handshake_closed(uv_handle_t *h)
{
        struct transport_handshake *hs = h->data;
        struct transport_mux *m = hs->mux;
        raft_free(h);
        transport_handshake_free(hs);
        m->handles_open--;
        transport_mux_maybe_closed(m);
}

/* The stream was handed over: free the handshake, unless its CHALLENGE's
 * write request is still queued on the stream (its callback frees it). */
static void transport_handshake_release(struct transport_handshake *hs)
{
        hs->finished = true;
        if (hs->writing) {
                hs->orphaned = true;
                return;
        }
        transport_handshake_free(hs);
}

/* Drop a connection whose handshake is bad, late or unwanted. */
static void transport_handshake_refuse(struct transport_handshake *hs, const char *why)
{
        struct transport_mux *m = hs->mux;
        hs->finished = true;
        m->refused++;
        LOGD(-1, "transport: refused peer connection: %s", why);
        queue_remove(&hs->link);
        m->n_handshakes--;
        m->handles_open++;
        uv_close((uv_handle_t *)hs->tcp, transport_handshake_closed);
}

static struct transport *transport_mux_find(struct transport_mux *m, uint64_t group)
{
        struct queue *q;
        QUEUE_FOREACH(q, &m->transports)
        {
                struct transport *t = QUEUE_DATA(q, struct transport, link);
                if (t->group == group && t->accept_cb != NULL && !t->closing) {
                        return t;
                }
        }
        return NULL;
}

/* ---- Peer TLS on an accepted connection: the handshake reads and writes
 * through the session (hs->tls) ---- */

static void transport_tls_flush(struct transport_handshake *hs);

static void transport_tls_written(uv_write_t *w, int status)
{
        struct transport_handshake *hs = w->data;
        hs->writing = false;
        buffer_reset(&hs->out_busy);
        if (hs->orphaned) {
                transport_handshake_free(hs); /* the stream was handed over */
                return;
        }
        if (status != 0 || uv_is_closing((uv_handle_t *)hs->tcp)) {
                return; /* the read fails too, or it is closing already */
        }
        transport_tls_flush(hs);
        if (hs->answered && !hs->writing) {
                hs->mux->handles_open++;
                uv_close((uv_handle_t *)hs->tcp, transport_handshake_closed);
        }
}

/* Write what the session holds for the wire, one write at a time. */
static void transport_tls_flush(struct transport_handshake *hs)
{
        struct buffer tmp;
        uv_buf_t buf;

        if (hs->tls == NULL || hs->writing || buffer_len(&hs->tls->out) == 0) {
                return;
        }
        tmp = hs->out_busy;
        hs->out_busy = hs->tls->out;
        hs->tls->out = tmp;
        buf = uv_buf_init((char *)buffer_data(&hs->out_busy), (unsigned)buffer_len(&hs->out_busy));
        hs->write.data = hs;
        if (uv_write(&hs->write, (uv_stream_t *)hs->tcp, &buf, 1, transport_tls_written) == 0) {
                hs->writing = true;
        }
}

/* Log (once a second for all the node's peer TLS) why TLS with an
 * accepted peer failed, and refuse it. */
static void transport_tls_failed(struct transport_handshake *hs, const char *why)
{
        struct tlsrelay_env *env = &hs->mux->tls;
        uint64_t now = uv_now(hs->mux->loop);
        struct sockaddr_storage sa;
        int len = sizeof sa;
        char who[64] = "?";

        env->failures++;
        if (env->logged_ms == 0 || now - env->logged_ms >= 1000) {
                env->logged_ms = now;
                if (uv_tcp_getpeername(hs->tcp, (struct sockaddr *)&sa, &len) == 0 &&
                    sa.ss_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
                        char ip[INET_ADDRSTRLEN];
                        uv_ip4_name(in, ip, sizeof ip);
                        snprintf(who, sizeof who, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
                }
                LOGW(-1, "transport: TLS with peer %s failed: %s (%llu so far); closing", who, why,
                     (unsigned long long)env->failures);
        }
        transport_tls_flush(hs); /* the alert that says why */
        transport_handshake_refuse(hs, "TLS failed");
}

/* Send bytes of the peer handshake: through the session, or as they are.
 * False if the connection was refused. */
static bool transport_hs_send(struct transport_handshake *hs, uv_write_t *w, const uint8_t *data,
                              size_t len, uv_write_cb cb)
{
        uv_buf_t buf;

        if (hs->tls != NULL) {
                if (tls_write(hs->tls, data, len) != 0) {
                        transport_handshake_refuse(hs, "out of memory for TLS");
                        return false;
                }
                transport_tls_flush(hs);
                return true;
        }
        w->data = hs;
        buf = uv_buf_init((char *)data, (unsigned)len);
        if (uv_write(w, (uv_stream_t *)hs->tcp, &buf, 1, cb) != 0) {
                transport_handshake_refuse(hs, "write failed");
                return false;
        }
        if (w == &hs->write) {
                hs->writing = true;
        }
        return true;
}

static void transport_probe_answered(uv_write_t *w, int status)
{
        struct transport_handshake *hs = w->data;
        (void)status;
        hs->mux->handles_open++;
        uv_close((uv_handle_t *)hs->tcp, transport_handshake_closed);
}

/* A node with an empty directory asks what we know of it (identity.h);
 * the answer is sealed to this handshake (peerauth.h). */
static void transport_answer_probe(struct transport_handshake *hs, raft_id id)
{
        uv_buf_t buf;
        uint64_t known = identity_known(hs->mux->identity, (unsigned)id);
        if (peerauth_seal_known(&hs->auth, known, hs->answer) != 0) {
                transport_handshake_refuse(hs, "cannot seal the answer");
                return;
        }
        queue_remove(&hs->link);
        hs->mux->n_handshakes--;
        hs->finished = true;
        if (hs->tls != NULL) {
                /* Closed once the answer's record is out (transport_tls_written). */
                hs->answered = true;
                if (tls_write(hs->tls, hs->answer, sizeof hs->answer) == 0) {
                        transport_tls_flush(hs);
                }
                if (!hs->writing) {
                        hs->mux->handles_open++;
                        uv_close((uv_handle_t *)hs->tcp, transport_handshake_closed);
                }
                return;
        }
        hs->answer_write.data = hs;
        buf = uv_buf_init((char *)hs->answer, sizeof hs->answer);
        if (uv_write(&hs->answer_write, (uv_stream_t *)hs->tcp, &buf, 1,
                     transport_probe_answered) != 0) {
                hs->mux->handles_open++;
                uv_close((uv_handle_t *)hs->tcp, transport_handshake_closed);
        }
}

void transport_mux_on_link(struct transport_mux *m, transport_link_cb cb, void *data)
{
        m->link_cb = cb;
        m->link_data = data;
}

void transport_stream_free(uv_handle_t *h)
{
        raft_free(h);
}

/* A node link from an admitted sender: its stream leaves the handshakes
 * for whoever serves node links (conn.c, through the server). */
static void transport_handshake_link(struct transport_handshake *hs, unsigned node_id)
{
        struct transport_mux *m = hs->mux;
        uv_tcp_t *tcp = hs->tcp;

        if (m->link_cb == NULL) {
                transport_handshake_refuse(hs, "node links not served yet");
                return;
        }
        struct tls *tls = hs->tls;

        queue_remove(&hs->link);
        m->n_handshakes--;
        m->links++;
        tcp->data = NULL;
        hs->tls = NULL; /* the link's now (conn.c speaks TLS) */
        transport_handshake_release(hs);
        m->link_cb(m->link_data, tcp, tls, node_id);
}

static struct raftguard_stream *transport_stream_new(void);

/* The stream raft gets for hs: its TCP connection, or with peer TLS the
 * plaintext end of a relay (tlsrelay.h) that takes over the connection and
 * its session (raft reads and writes its streams itself). NULL if hs was
 * refused. */
static uv_stream_t *transport_raft_stream(struct transport_handshake *hs, struct tlsrelay **relay)
{
        struct raftguard_stream *st;

        *relay = NULL;
        if (hs->tls == NULL) {
                return (uv_stream_t *)hs->tcp;
        }
        st = transport_stream_new();
        if (st == NULL) {
                transport_handshake_refuse(hs, "out of memory");
                return NULL;
        }
        uv_pipe_init(hs->mux->loop, &st->stream.pipe, 0);
        if (tlsrelay_wrap(&hs->mux->tls, hs->tcp, transport_stream_free, hs->tls, hs->address,
                          &st->stream.pipe, relay) != 0) {
                uv_close((uv_handle_t *)&st->stream.pipe, transport_stream_free);
                transport_handshake_refuse(hs, "out of memory");
                return NULL;
        }
        hs->tls = NULL; /* the relay's, with the connection */
        return (uv_stream_t *)&st->stream.pipe;
}

/* An authenticated sender: admit it (identity.h) and hand the stream to
 * whoever serves its group. */
static void transport_handshake_done(struct transport_handshake *hs, uint64_t incarnation)
{
        struct transport_mux *m = hs->mux;
        uint64_t group = hs->auth.group;
        raft_id id = hs->auth.from;
        struct transport *t;
        struct tlsrelay *relay;
        uv_stream_t *stream;

        uv_read_stop((uv_stream_t *)hs->tcp);
        if (group == TRANSPORT_PROBE_GROUP) {
                transport_answer_probe(hs, id);
                return;
        }
        if (!identity_admit(m->identity, (unsigned)id, incarnation)) {
                LOGE(-1,
                     "transport: node %llu presents incarnation %016llx, not the %016llx it "
                     "had: it lost its Raft state; refusing its traffic",
                     (unsigned long long)id, (unsigned long long)incarnation,
                     (unsigned long long)identity_known(m->identity, (unsigned)id));
                transport_handshake_refuse(hs, "unknown incarnation");
                return;
        }
        if (group == TRANSPORT_LINK_GROUP) {
                transport_handshake_link(hs, (unsigned)id);
                return;
        }
        t = transport_mux_find(m, group);
        if (t == NULL) {
                transport_handshake_refuse(hs, "unknown group");
                return;
        }
        stream = transport_raft_stream(hs, &relay);
        if (stream == NULL) {
                return;
        }
        queue_remove(&hs->link);
        m->n_handshakes--;
        m->accepted++;
        t->accept_cb(&t->base, id, hs->address, stream);
        /* raft started reading the stream (or closed it): from now on every
         * chunk passes the validator before raft's callback (raftguard.h). */
        if (!uv_is_closing((uv_handle_t *)stream) && stream->read_cb != NULL) {
                raftguard_install((struct raftguard_stream *)(void *)stream, id, &m->wire_limits,
                                  t->check, t->check_arg, &m->guard_stats, &t->guards);
                /* Only now, with the guard in front of raft, may the
                 * relay hand raft what it decrypted. */
                if (relay != NULL) {
                        tlsrelay_reading(relay);
                }
        }
        transport_handshake_release(hs);
}

static void transport_handshake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct transport_handshake *hs = h->data;
        (void)suggested;
        if (hs->tls != NULL) {
                /* Records: what lies past the handshake stays in the
                 * session and goes with the stream. */
                if (buffer_reserve(&hs->tls->in, TRANSPORT_TLS_READ_BYTES) != 0) {
                        buf->base = NULL;
                        buf->len = 0;
                        return;
                }
                buf->base = (char *)hs->tls->in.base + hs->tls->in.end;
                buf->len = hs->tls->in.cap - hs->tls->in.end;
                return;
        }
        /* Offer exactly the bytes still missing, so no Raft byte is read. */
        buf->base = (char *)hs->in + hs->got;
        buf->len = hs->need - hs->got;
}

/* Who may connect: a member of the cluster map this node applied (a voter
 * or a joining node), else, before any map or for a node the map does not
 * name, a node of the configuration. A member the map says was removed is
 * refused even if a file still lists it: its id is never reused, and its
 * old data must not rejoin (docs/operations.md). */
static enum transport_member transport_member_of(const struct transport_mux *m, uint64_t id)
{
        enum transport_member known = TRANSPORT_NOT_MEMBER;

        if (id == m->cfg->node_id || id > UINT32_MAX) {
                return TRANSPORT_NOT_MEMBER;
        }
        if (m->member_cb != NULL) {
                known = m->member_cb(m->member_data, (unsigned)id);
        }
        if (known == TRANSPORT_NOT_MEMBER && config_node_index(m->cfg, (unsigned)id) >= 0) {
                known = TRANSPORT_MEMBER;
        }
        return known;
}

/* A removed member still knocking: counted, and logged with the reason at
 * most once a second, so that its operator can find out why it is shut
 * out without the log being flooded by its retries. */
static void transport_removed_knocks(struct transport_mux *m, uint64_t id)
{
        uint64_t now = uv_now(m->loop);

        m->removed_refusals++;
        if (m->removed_logged_ms != 0 && now - m->removed_logged_ms < 1000) {
                m->removed_unlogged++;
                return;
        }
        LOGW(-1,
             "transport: refusing node %llu's peer handshake: it was removed from the cluster "
             "map, and a removed member never comes back (give a new node a new id) (%llu "
             "refusals not logged since)",
             (unsigned long long)id, (unsigned long long)m->removed_unlogged);
        m->removed_logged_ms = now;
        m->removed_unlogged = 0;
}

static void transport_challenge_written(uv_write_t *w, int status)
{
        struct transport_handshake *hs = w->data;
        (void)status; /* a failed write fails the read too */
        hs->writing = false;
        if (hs->orphaned) {
                transport_handshake_free(hs);
        }
}

/* A whole HELLO: answer it with a CHALLENGE if it is meant for this node
 * of this cluster and comes from another of its nodes. Nothing else is
 * said to anyone. */
static void transport_on_hello(struct transport_handshake *hs)
{
        struct transport_mux *m = hs->mux;
        struct peerauth *a = &hs->auth;

        if (peerauth_challenge(a, &m->ring, hs->in) != 0) {
                transport_handshake_refuse(hs, "not a tunekv peer handshake");
                return;
        }
        if (a->cluster_id != m->cluster_id) {
                transport_handshake_refuse(hs, "another cluster");
                return;
        }
        /* A joining node asks whichever member listens at an address it was
         * given (node 0) for the map over a node link (identity_request). */
        bool to_us = a->to == m->cfg->node_id || (a->to == 0 && a->group == TRANSPORT_LINK_GROUP);

        if (to_us && transport_member_of(m, a->from) == TRANSPORT_REMOVED) {
                transport_removed_knocks(m, a->from);
                transport_handshake_refuse(hs, "removed member");
                return;
        }
        if (!to_us || transport_member_of(m, a->from) != TRANSPORT_MEMBER) {
                transport_auth_failed(m, hs->tcp,
                                      "node %llu to node %llu: not a node pair of "
                                      "this cluster",
                                      (unsigned long long)a->from, (unsigned long long)a->to);
                transport_handshake_refuse(hs, "unknown node");
                return;
        }
        if (!transport_hs_send(hs, &hs->write, a->challenge, PEERAUTH_CHALLENGE_BYTES,
                               transport_challenge_written)) {
                return;
        }
        hs->phase = TRANSPORT_PROOF;
        hs->got = 0;
        hs->need = PEERAUTH_PROOF_BYTES;
}

/* Name the first setting that differs between two layouts, in buf. */
static void transport_layout_difference(const struct peerauth_layout *there,
                                        const struct peerauth_layout *here, char *buf, size_t len)
{
        const struct {
                const char *name;
                uint64_t there, here;
        } keys[] = {
            {"cluster.partitions", there->partitions, here->partitions},
            {"cluster.replicas", there->replicas, here->replicas},
            {"server.session_window", there->session_window, here->session_window},
            {"server.sessions_max", there->sessions_max, here->sessions_max},
            {"server.sessions_bytes_max", there->sessions_bytes_max, here->sessions_bytes_max},
        };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                if (keys[i].there != keys[i].here) {
                        snprintf(buf, len, "%s = %llu there, %llu here", keys[i].name,
                                 (unsigned long long)keys[i].there,
                                 (unsigned long long)keys[i].here);
                        return;
                }
        }
        snprintf(buf, len, "auth.enabled differs");
}

/* An authenticated node whose configuration gives the cluster another
 * shape would route keys to other partitions, or keep other client
 * sessions: its traffic is refused, and said so (at most once a second). */
static bool transport_layout_agrees(struct transport_mux *m, uint64_t from,
                                    const struct peerauth_layout *l)
{
        uint64_t now = uv_now(m->loop);
        char why[160];
        if (l->fingerprint == m->layout.fingerprint) {
                return true;
        }
        if (m->layout_logged_ms == 0 || now - m->layout_logged_ms >= 1000) {
                m->layout_logged_ms = now;
                transport_layout_difference(l, &m->layout, why, sizeof why);
                LOGE(-1,
                     "transport: node %llu's configuration gives the cluster another layout "
                     "(%s): refusing its traffic until every node's agree",
                     (unsigned long long)from, why);
        }
        return false;
}

/* A whole PROOF: the client holds the key; admit it if it agrees on the
 * cluster's layout. */
static void transport_on_proof(struct transport_handshake *hs)
{
        uint64_t incarnation = 0;
        size_t alen = hs->need - PEERAUTH_PROOF_BYTES;
        struct peerauth_layout layout;

        if (peerauth_check(&hs->auth, hs->in, &incarnation, &layout) != 0) {
                transport_auth_failed(hs->mux, hs->tcp, "node %llu did not prove the secret",
                                      (unsigned long long)hs->auth.from);
                transport_handshake_refuse(hs, "bad proof");
                return;
        }
        if (!transport_layout_agrees(hs->mux, hs->auth.from, &layout)) {
                transport_handshake_refuse(hs, "another cluster layout");
                return;
        }
        memcpy(hs->address, hs->in + PEERAUTH_PROOF_BYTES, alen);
        hs->address[alen] = '\0';
        transport_handshake_done(hs, incarnation);
}

/* The handshake's next step once `need` bytes are in: false if hs was
 * refused or handed over. */
static bool transport_handshake_step(struct transport_handshake *hs)
{
        size_t alen;

        if (hs->got < hs->need) {
                return true;
        }
        switch (hs->phase) {
        case TRANSPORT_HELLO:
                transport_on_hello(hs);
                break;
        case TRANSPORT_PROOF:
                alen = peerauth_proof_address_len(hs->in);
                if (alen == 0 || alen > TRANSPORT_ADDRESS_MAX) {
                        transport_handshake_refuse(hs, "bad address length");
                        return false;
                }
                hs->phase = TRANSPORT_ADDRESS;
                hs->need += alen;
                break;
        case TRANSPORT_ADDRESS:
                /* The handshake ends here: hs was handed over (and may be
                 * freed already) or refused. Touch it no more. */
                transport_on_proof(hs);
                return false;
        }
        return !hs->finished;
}

/* Peer TLS: decrypt exactly what the handshake still needs, step by step
 * (the rest stays in the session for whoever gets the stream). */
static void transport_tls_input(struct transport_handshake *hs, size_t n)
{
        struct tls *t = hs->tls;

        if (!t->received && !tls_looks_like_record(t->in.base + t->in.end, n)) {
                transport_tls_failed(hs, "plaintext on the TLS peer port (set the [tls] peer_* "
                                         "keys on every node)");
                return;
        }
        t->in.end += n;
        if (buffer_len(&t->in) > TRANSPORT_TLS_BACKLOG_BYTES) {
                transport_tls_failed(hs, "too much sent before the peer handshake ended");
                return;
        }
        while (!hs->finished) {
                size_t got;
                int rv = tls_read(t, hs->in + hs->got, hs->need - hs->got, &got);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv != 0) {
                        transport_tls_failed(hs, t->errmsg);
                        return;
                }
                hs->got += got;
                if (!transport_handshake_step(hs)) {
                        return;
                }
        }
        transport_tls_flush(hs); /* the TLS handshake's own messages */
}

static void transport_handshake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct transport_handshake *hs = s->data;

        (void)buf;
        if (n < 0) {
                if (hs->tls != NULL && !hs->tls->established && hs->tls->received) {
                        transport_tls_failed(hs, "closed during the TLS handshake (our "
                                                 "certificate refused? see its log)");
                        return;
                }
                transport_handshake_refuse(hs, uv_strerror((int)n));
                return;
        }
        if (hs->tls != NULL) {
                transport_tls_input(hs, (size_t)n);
                return;
        }
        hs->got += (size_t)n;
        (void)transport_handshake_step(hs);
}

/* An inbound stream with room for its guard (raftguard.h), zeroed; raft
 * frees it (raft_free) once it owns it. NULL when out of memory. */
static struct raftguard_stream *transport_stream_new(void)
{
        struct raftguard_stream *st = raft_malloc(sizeof *st);
        if (st != NULL) {
                memset(st, 0, sizeof *st);
        }
        return st;
}

/* Give an accepted connection its TLS session. Nonzero if it was
 * refused. */
static int transport_tls_start(struct transport_handshake *hs)
{
        hs->tls = tkv_malloc(sizeof *hs->tls);
        if (hs->tls == NULL || tls_init(hs->tls, hs->mux->tls.server, NULL) != 0) {
                tkv_free(hs->tls);
                hs->tls = NULL;
                transport_handshake_refuse(hs, "out of memory for TLS");
                return TKV_ENOMEM;
        }
        return 0;
}

static void transport_mux_accept(uv_stream_t *listener, int status)
{
        struct transport_mux *m = listener->data;
        struct transport_handshake *hs;
        uv_tcp_t *tcp;

        if (status != 0 || m->closing) {
                return;
        }
        tcp = (uv_tcp_t *)(void *)transport_stream_new();
        hs = tkv_calloc(1, sizeof *hs);
        if (tcp == NULL || hs == NULL) {
                raft_free(tcp);
                tkv_free(hs);
                spare_refuse(&m->spare); /* or the listener stays paused (spare.h) */
                return;
        }
        uv_tcp_init(m->loop, tcp);
        hs->mux = m;
        hs->tcp = tcp;
        hs->phase = TRANSPORT_HELLO;
        hs->need = PEERAUTH_HELLO_BYTES;
        hs->start = uv_now(m->loop);
        buffer_init(&hs->out_busy);
        tcp->data = hs;
        queue_push_tail(&m->handshakes, &hs->link);
        m->n_handshakes++;
        if (uv_accept(listener, (uv_stream_t *)tcp) != 0) {
                transport_handshake_refuse(hs, "accept failed");
                return;
        }
        /* Peer TLS: the handshake below reads and writes through the
         * session, which goes with the stream to its server. */
        if (m->tls.server != NULL && transport_tls_start(hs) != 0) {
                return;
        }
        if (m->n_handshakes > m->handshakes_max) {
                transport_handshake_refuse(hs, "too many handshakes");
                return;
        }
        uv_tcp_nodelay(tcp, 1);
        uv_read_start((uv_stream_t *)tcp, transport_handshake_alloc, transport_handshake_read);
}

static void transport_mux_sweep(uv_timer_t *timer)
{
        struct transport_mux *m = timer->data;
        uint64_t now = uv_now(m->loop);
        while (!queue_empty(&m->handshakes)) {
                struct transport_handshake *hs =
                    QUEUE_DATA(queue_head(&m->handshakes), struct transport_handshake, link);
                if (now - hs->start < m->handshake_timeout_ms) {
                        break; /* FIFO: the rest are younger */
                }
                transport_handshake_refuse(hs, "handshake timeout");
        }
}

/* The peer port's TLS contexts ([tls] peer_*): one to accept, one to
 * connect, the same certificate in both roles, every peer's checked
 * against peer_ca_file. */
static int transport_mux_tls(struct transport_mux *m, const struct config *cfg)
{
        struct tls_ctx_config tc = {
            .cert_file = cfg->peer_cert_file,
            .key_file = cfg->peer_key_file,
            .ca_file = cfg->peer_ca_file,
            .require_peer_cert = true,
            .min_version = cfg->min_version,
        };
        struct tls_ctx *server = NULL, *client = NULL;
        char err[ERR_MSG_BYTES - 32];

        m->tls.handshake_timeout_ms = TRANSPORT_HANDSHAKE_TIMEOUT_MS;
        if (cfg->peer_cert_file[0] == '\0') {
                return 0;
        }
        tc.role = TLS_SERVER;
        if (tls_ctx_new(&tc, &server, err, sizeof err) == 0) {
                tc.role = TLS_CLIENT;
                if (tls_ctx_new(&tc, &client, err, sizeof err) == 0) {
                        /* Sessions already made keep their own reference. */
                        tls_ctx_free(m->tls.server);
                        tls_ctx_free(m->tls.client);
                        m->tls.server = server;
                        m->tls.client = client;
                        return 0;
                }
                tls_ctx_free(server);
        }
        err_msgf(m->errmsg, "peer port TLS: %s", err);
        return TKV_EINVAL;
}

int transport_mux_reload_tls(struct transport_mux *m, const struct config *cfg)
{
        if ((m->tls.server != NULL) != (cfg->peer_cert_file[0] != '\0')) {
                err_msgf(m->errmsg,
                         "peer port TLS turned %s: every node must switch together, "
                         "with a restart",
                         m->tls.server != NULL ? "off" : "on");
                return TKV_EINVAL;
        }
        return m->tls.server != NULL ? transport_mux_tls(m, cfg) : 0;
}

int transport_mux_init(struct transport_mux *m, uv_loop_t *loop, const struct config *cfg,
                       struct identity *identity)
{
        memset(m, 0, sizeof *m);
        m->loop = loop;
        m->cfg = cfg;
        m->identity = identity;
        m->cluster_id = key_hash(cfg->cluster_name, strlen(cfg->cluster_name));
        if (keys_ring_derive(&m->ring, cfg->secret, cfg->previous_secret, cfg->cluster_name,
                             KEYS_PEER) != 0) {
                err_msgf(m->errmsg, "peer key: cannot derive it (OpenSSL)");
                return TKV_EIO;
        }
        config_layout(cfg, &m->layout);
        if (transport_mux_tls(m, cfg) != 0) {
                return TKV_EINVAL;
        }
        m->connect_timeout_ms = cfg->connect_timeout_ms;
        m->wire_limits.entries_max = cfg->peer_entries_max;
        m->wire_limits.entry_bytes_max = cfg->frame_bytes_max + TRANSPORT_ENTRY_SLACK;
        m->wire_limits.payload_bytes_max = cfg->peer_message_bytes_max;
        m->wire_limits.conf_bytes_max = TRANSPORT_CONF_BYTES_MAX;
        m->handshake_timeout_ms = TRANSPORT_HANDSHAKE_TIMEOUT_MS;
        m->handshakes_max = TRANSPORT_HANDSHAKES_MAX;
        queue_init(&m->transports);
        queue_init(&m->handshakes);
        uv_tcp_init(loop, &m->listener);
        uv_timer_init(loop, &m->sweep);
        m->listener.data = m;
        m->sweep.data = m;
        spare_init(&m->spare, loop, (uv_stream_t *)&m->listener);
        m->spare.data = m;
        m->handles_open = 3; /* listener, sweep, spare */
        return 0;
}

int transport_mux_listen(struct transport_mux *m, const char *addr)
{
        struct sockaddr_in sa;
        int rv;

        if (transport_resolve(addr, &sa) != 0) {
                err_msgf(m->errmsg, "peer listener: bad address %s", addr);
                return TKV_EADDR;
        }
        rv = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
        if (rv == 0) {
                rv = uv_listen((uv_stream_t *)&m->listener, 1024, transport_mux_accept);
        }
        if (rv != 0) {
                err_msgf(m->errmsg, "peer listener: %s: %s", addr, uv_strerror(rv));
                return err_from_uv(rv);
        }
        m->listening = true;
        uv_timer_start(&m->sweep, transport_mux_sweep, 1000, 1000);
        return 0;
}

static void transport_mux_handle_closed(uv_handle_t *h)
{
        struct transport_mux *m = h->data;
        m->handles_open--;
        transport_mux_maybe_closed(m);
}

static void transport_mux_spare_closed(struct spare *sp)
{
        struct transport_mux *m = sp->data;
        m->handles_open--;
        transport_mux_maybe_closed(m);
}

void transport_mux_on_member(struct transport_mux *m, transport_member_cb cb, void *data)
{
        m->member_cb = cb;
        m->member_data = data;
}

void transport_mux_on_address(struct transport_mux *m, transport_address_cb cb, void *data)
{
        m->address_cb = cb;
        m->address_data = data;
}

void transport_mux_close(struct transport_mux *m, transport_mux_close_cb cb)
{
        m->closing = true;
        m->close_cb = cb;
        while (!queue_empty(&m->handshakes)) {
                struct transport_handshake *hs =
                    QUEUE_DATA(queue_head(&m->handshakes), struct transport_handshake, link);
                transport_handshake_refuse(hs, "shutting down");
        }
        uv_close((uv_handle_t *)&m->listener, transport_mux_handle_closed);
        uv_close((uv_handle_t *)&m->sweep, transport_mux_handle_closed);
        spare_close(&m->spare, transport_mux_spare_closed);
}
