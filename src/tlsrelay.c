/* The peer port's TLS relay (tlsrelay.h). */
#include "tlsrelay.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buffer.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "tls.h"

#define TLSRELAY_READ_BYTES (64 * 1024)

struct tlsrelay {
        struct tlsrelay_env *env;
        uv_tcp_t *tcp;        /* &tcp_own, or a wrapped connection's */
        uv_tcp_t tcp_own;     /* tlsrelay_connect's */
        uv_close_cb tcp_free; /* a wrapped connection's: frees tcp once closed */
        uv_pipe_t inner;      /* our end of the socketpair */
        uv_stream_t *reader;  /* a wrapped relay's plain: decrypted bytes go to its callbacks */
        uv_connect_t connect;
        uv_timer_t timer; /* the handshake's deadline */
        struct tls *tls;  /* owned */
        uv_write_t tcp_write;
        uv_write_t inner_write;
        struct buffer tcp_busy;   /* records being written to tcp */
        struct buffer plain;      /* decrypted, not yet written to inner */
        struct buffer inner_busy; /* plaintext being written to inner */
        struct buffer early;      /* plaintext the caller wrote before the handshake ended */
        uint8_t chunk[TLSRELAY_READ_BYTES]; /* what inner reads, before tls_write */
        char peer[64];                      /* "a.b.c.d:port", for logs */
        unsigned handles;                   /* open: tcp, inner, timer */
        bool tcp_writing;
        bool inner_writing;
        bool inner_reading;
        bool tcp_reading;
        bool server; /* accepted (else we connected) */
        bool direct; /* the caller started reading plain (tlsrelay_reading) */
        bool closing;
};

/* One of r's handles is closed; the last frees r. */
static void tlsrelay_gone(struct tlsrelay *r)
{
        if (--r->handles > 0) {
                return;
        }
        tls_free(r->tls);
        tkv_free(r->tls);
        buffer_free(&r->tcp_busy);
        buffer_free(&r->plain);
        buffer_free(&r->inner_busy);
        buffer_free(&r->early);
        tkv_free(r);
}

static void tlsrelay_closed(uv_handle_t *h)
{
        tlsrelay_gone(h->data);
}

static void tlsrelay_tcp_closed(uv_handle_t *h)
{
        struct tlsrelay *r = h->data;
        if (r->tcp_free != NULL) {
                r->tcp_free(h); /* a wrapped connection's memory */
        }
        tlsrelay_gone(r);
}

static void tlsrelay_close(struct tlsrelay *r)
{
        if (r->closing) {
                return;
        }
        r->closing = true;
        uv_close((uv_handle_t *)r->tcp, tlsrelay_tcp_closed);
        uv_close((uv_handle_t *)&r->inner, tlsrelay_closed);
        uv_close((uv_handle_t *)&r->timer, tlsrelay_closed);
}

/* Log why TLS with the peer failed, at most once a second, and close. */
static void tlsrelay_fail(struct tlsrelay *r, const char *why)
{
        struct tlsrelay_env *env = r->env;
        uint64_t now = uv_now(r->tcp->loop);

        env->failures++;
        if (env->logged_ms == 0 || now - env->logged_ms >= 1000) {
                env->logged_ms = now;
                LOGW(-1, "tlsrelay: TLS with peer %s failed: %s (%llu so far); closing", r->peer,
                     why, (unsigned long long)env->failures);
        }
        tlsrelay_close(r);
}

/* ---- toward the TCP connection ---- */

static void tlsrelay_inner_start(struct tlsrelay *r);
static void tlsrelay_tcp_flush(struct tlsrelay *r);

static void tlsrelay_tcp_written(uv_write_t *w, int status)
{
        struct tlsrelay *r = w->data;

        r->tcp_writing = false;
        buffer_reset(&r->tcp_busy);
        if (status != 0 || r->closing) {
                tlsrelay_close(r);
                return;
        }
        tlsrelay_tcp_flush(r);
        tlsrelay_inner_start(r);
}

/* Write the records TLS produced, one write at a time. Most fit in the
 * socket's buffer at once: uv_try_write sends them without a write
 * request, whose completion would cost a callback in the next loop turn
 * and an epoll_ctl (libuv re-arms a reading stream after every write);
 * only what the kernel did not take goes through uv_write. */
static void tlsrelay_tcp_flush(struct tlsrelay *r)
{
        struct buffer tmp;
        uv_buf_t buf;
        int n;

        if (r->closing || r->tcp_writing || buffer_len(&r->tls->out) == 0) {
                return;
        }
        buf = uv_buf_init((char *)buffer_data(&r->tls->out), (unsigned)buffer_len(&r->tls->out));
        n = uv_try_write((uv_stream_t *)r->tcp, &buf, 1);
        if (n < 0 && n != UV_EAGAIN) {
                tlsrelay_close(r);
                return;
        }
        if (n > 0) {
                buffer_consume(&r->tls->out, (size_t)n);
        }
        if (buffer_len(&r->tls->out) == 0) {
                return; /* all sent (consuming the last byte rewound the buffer) */
        }
        tmp = r->tcp_busy;
        r->tcp_busy = r->tls->out;
        r->tls->out = tmp;
        buf = uv_buf_init((char *)buffer_data(&r->tcp_busy), (unsigned)buffer_len(&r->tcp_busy));
        r->tcp_write.data = r;
        if (uv_write(&r->tcp_write, (uv_stream_t *)r->tcp, &buf, 1, tlsrelay_tcp_written) != 0) {
                tlsrelay_close(r);
                return;
        }
        r->tcp_writing = true;
}

static void tlsrelay_inner_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct tlsrelay *r = h->data;
        (void)suggested;
        buf->base = (char *)r->chunk;
        buf->len = sizeof r->chunk;
}

/* Plaintext from the caller: encrypt it and send it; read no more until
 * that write is done. */
static void tlsrelay_inner_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct tlsrelay *r = s->data;

        (void)buf;
        if (n < 0) {
                tlsrelay_close(r); /* the caller closed its end */
                return;
        }
        if (n == 0) {
                return;
        }
        if (!r->tls->established) {
                /* Kept until the session exists (reading on meanwhile is
                 * how a caller closing its end is noticed). */
                if (buffer_append(&r->early, r->chunk, (size_t)n) != 0) {
                        tlsrelay_fail(r, "out of memory");
                } else if (buffer_len(&r->early) >= TLSRELAY_READ_BYTES) {
                        uv_read_stop(s);
                        r->inner_reading = false;
                }
                return;
        }
        if (tls_write(r->tls, r->chunk, (size_t)n) != 0) {
                tlsrelay_fail(r, r->tls->errmsg);
                return;
        }
        tlsrelay_tcp_flush(r);
        /* Records queue behind the write in flight up to a read's worth;
         * past that, reading waits for the write (the kernel then slows
         * the writer). Stopping and starting on every message would cost
         * two epoll_ctl calls each. */
        if (buffer_len(&r->tls->out) >= TLSRELAY_READ_BYTES) {
                uv_read_stop(s);
                r->inner_reading = false;
        }
}

static void tlsrelay_inner_start(struct tlsrelay *r)
{
        bool room = r->tls->established ? buffer_len(&r->tls->out) < TLSRELAY_READ_BYTES
                                        : buffer_len(&r->early) < TLSRELAY_READ_BYTES;
        if (r->closing || r->inner_reading || !room) {
                return;
        }
        if (uv_read_start((uv_stream_t *)&r->inner, tlsrelay_inner_alloc, tlsrelay_inner_read) !=
            0) {
                tlsrelay_close(r);
                return;
        }
        r->inner_reading = true;
}

/* ---- toward the caller ---- */

static void tlsrelay_tcp_start(struct tlsrelay *r);
static void tlsrelay_decrypt(struct tlsrelay *r);

static void tlsrelay_inner_written(uv_write_t *w, int status)
{
        struct tlsrelay *r = w->data;

        r->inner_writing = false;
        buffer_reset(&r->inner_busy);
        if (status != 0 || r->closing) {
                tlsrelay_close(r);
                return;
        }
        tlsrelay_decrypt(r); /* records that waited while this write ran */
        tlsrelay_tcp_start(r);
}

static void tlsrelay_inner_flush(struct tlsrelay *r)
{
        struct buffer tmp;
        uv_buf_t buf;

        if (r->closing || r->inner_writing || buffer_len(&r->plain) == 0) {
                return;
        }
        tmp = r->inner_busy;
        r->inner_busy = r->plain;
        r->plain = tmp;
        buf =
            uv_buf_init((char *)buffer_data(&r->inner_busy), (unsigned)buffer_len(&r->inner_busy));
        r->inner_write.data = r;
        if (uv_write(&r->inner_write, (uv_stream_t *)&r->inner, &buf, 1, tlsrelay_inner_written) !=
            0) {
                tlsrelay_close(r);
                return;
        }
        r->inner_writing = true;
}

/* May the relay look at plain at all, in a callback of its own? plain's
 * memory is raft's, which frees it at the end of the loop turn in which it
 * closed it, possibly before the relay heard of it. But uv_close closes
 * plain's end of the socketpair at once, and our end then reports the
 * hang-up (POLLHUP): one poll, no wait, per batch of records. */
static bool tlsrelay_reader_open(struct tlsrelay *r)
{
        struct pollfd p;
        uv_os_fd_t fd;

        if (!r->direct || r->closing || uv_fileno((uv_handle_t *)&r->inner, &fd) != 0) {
                return false;
        }
        p.fd = fd;
        p.events = 0; /* POLLHUP, POLLERR and POLLNVAL are always reported */
        p.revents = 0;
        return poll(&p, 1, 0) == 0;
}

/* Is the caller (still) reading plain, which is open? Raft starts reading
 * a stream it accepted and never stops before closing it; uv_is_active
 * covers a stop too (a stream nobody writes to is active only while it is
 * read). */
static bool tlsrelay_reader_ready(struct tlsrelay *r)
{
        uv_stream_t *s = r->reader;
        return !r->closing && !uv_is_closing((uv_handle_t *)s) && uv_is_active((uv_handle_t *)s) &&
               s->alloc_cb != NULL && s->read_cb != NULL;
}

/* Hand the decrypted bytes to plain's reader as libuv would (its alloc
 * callback, then its read callback), without passing them through the
 * socketpair: that would cost a write, an epoll turn and raft's reads on
 * every message (performance.md, "TLS"). The reader may close plain in its
 * callback; what is left then is dropped with the relay. */
static void tlsrelay_deliver(struct tlsrelay *r)
{
        if (buffer_len(&r->plain) == 0 || !tlsrelay_reader_open(r)) {
                return;
        }
        /* From here to the return plain's memory stays valid, even if the
         * reader closes it in its callback (freed only after this turn). */
        while (buffer_len(&r->plain) > 0 && tlsrelay_reader_ready(r)) {
                uv_stream_t *s = r->reader;
                uv_alloc_cb offer = s->alloc_cb;
                uv_read_cb give = s->read_cb;
                uv_buf_t buf = uv_buf_init(NULL, 0);
                size_t n = buffer_len(&r->plain);

                offer((uv_handle_t *)s, TLSRELAY_READ_BYTES, &buf);
                if (buf.base == NULL || buf.len == 0) {
                        give(s, UV_ENOBUFS, &buf); /* what libuv says then */
                        return;
                }
                if (n > buf.len) {
                        n = buf.len;
                }
                memcpy(buf.base, buffer_data(&r->plain), n);
                buffer_consume(&r->plain, n);
                give(s, (ssize_t)n, &buf);
        }
}

/* Pass decrypted bytes on: to the reader directly (a wrapped relay), else
 * through the socketpair. */
static void tlsrelay_forward(struct tlsrelay *r)
{
        if (r->reader != NULL) {
                tlsrelay_deliver(r);
        } else {
                tlsrelay_inner_flush(r);
        }
}

/* Decrypt what TCP delivered into `plain` (one read's worth at most while
 * the previous is being passed on), and pass it on. */
static void tlsrelay_decrypt(struct tlsrelay *r)
{
        bool was_established = r->tls->established;

        while (!r->closing && buffer_len(&r->plain) < TLSRELAY_READ_BYTES) {
                size_t got;
                int rv;
                if (buffer_reserve(&r->plain, TLSRELAY_READ_BYTES) != 0) {
                        tlsrelay_fail(r, "out of memory");
                        return;
                }
                rv = tls_read(r->tls, r->plain.base + r->plain.end, r->plain.cap - r->plain.end,
                              &got);
                if (rv == TKV_EAGAIN) {
                        break;
                }
                if (rv != 0) {
                        tlsrelay_tcp_flush(r); /* the alert that says why */
                        if (rv == TKV_ECONN) {
                                tlsrelay_close(r);
                        } else {
                                tlsrelay_fail(r, r->tls->errmsg);
                        }
                        return;
                }
                r->plain.end += got;
        }
        if (r->closing) {
                return;
        }
        if (!was_established && r->tls->established) {
                uv_timer_stop(&r->timer);
                if (buffer_len(&r->early) > 0 &&
                    tls_write(r->tls, buffer_data(&r->early), buffer_len(&r->early)) != 0) {
                        tlsrelay_fail(r, r->tls->errmsg);
                        return;
                }
                buffer_free(&r->early);
        }
        tlsrelay_tcp_flush(r); /* handshake messages */
        tlsrelay_forward(r);
        tlsrelay_inner_start(r);
}

static void tlsrelay_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct tlsrelay *r = h->data;
        (void)suggested;
        if (buffer_reserve(&r->tls->in, TLSRELAY_READ_BYTES) != 0) {
                buf->base = NULL;
                buf->len = 0;
                return;
        }
        buf->base = (char *)r->tls->in.base + r->tls->in.end;
        buf->len = r->tls->in.cap - r->tls->in.end;
}

static void tlsrelay_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct tlsrelay *r = s->data;

        (void)buf;
        if (n < 0) {
                if (!r->tls->established && n != UV_EOF) {
                        tlsrelay_fail(r, uv_strerror((int)n));
                } else if (!r->tls->established) {
                        tlsrelay_fail(r, "closed during the handshake (no TLS there, or our "
                                         "certificate refused: see its log)");
                } else {
                        tlsrelay_close(r);
                }
                return;
        }
        if (!r->tls->received && n > 0 && !tls_looks_like_record(buf->base, (size_t)n)) {
                tlsrelay_fail(r, r->server ? "plaintext on the TLS peer port (set the [tls] "
                                             "peer_* keys on every node)"
                                           : "the peer answered without TLS (its peer port is "
                                             "plaintext)");
                return;
        }
        r->tls->in.end += (size_t)n;
        tlsrelay_decrypt(r);
        if (!r->closing && buffer_len(&r->plain) >= TLSRELAY_READ_BYTES) {
                uv_read_stop(s); /* until the caller took what we gave it */
                r->tcp_reading = false;
        }
}

static void tlsrelay_tcp_start(struct tlsrelay *r)
{
        if (r->closing || r->tcp_reading || buffer_len(&r->plain) >= TLSRELAY_READ_BYTES) {
                return;
        }
        if (uv_read_start((uv_stream_t *)r->tcp, tlsrelay_tcp_alloc, tlsrelay_tcp_read) != 0) {
                tlsrelay_close(r);
                return;
        }
        r->tcp_reading = true;
}

/* ---- setting up ---- */

static void tlsrelay_timeout(uv_timer_t *t)
{
        struct tlsrelay *r = t->data;
        tlsrelay_fail(r, "no TLS handshake within the handshake timeout");
}

/* A relay over tcp and tls (both owned from now on) with its socketpair:
 * inner opened here, plain for the caller. NULL (nothing taken) when the
 * socketpair cannot be made. */
static struct tlsrelay *tlsrelay_new(struct tlsrelay_env *env, uv_loop_t *loop, uv_pipe_t *plain,
                                     bool server, const char *peer)
{
        struct tlsrelay *r = tkv_calloc(1, sizeof *r);
        int fds[2];

        if (r == NULL) {
                return NULL;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
                tkv_free(r);
                return NULL;
        }
        r->env = env;
        r->server = server;
        buffer_init(&r->tcp_busy);
        buffer_init(&r->plain);
        buffer_init(&r->inner_busy);
        buffer_init(&r->early);
        uv_pipe_init(loop, &r->inner, 0);
        uv_timer_init(loop, &r->timer);
        uv_pipe_open(&r->inner, fds[0]);
        uv_pipe_open(plain, fds[1]);
        r->inner.data = r->timer.data = r;
        r->handles = 3;
        snprintf(r->peer, sizeof r->peer, "%s", peer != NULL ? peer : "?");
        return r;
}

/* Start the relay's clock and its reading of the caller's side. */
static void tlsrelay_begin(struct tlsrelay *r)
{
        if (!r->tls->established) {
                uv_timer_start(&r->timer, tlsrelay_timeout, r->env->handshake_timeout_ms, 0);
        }
        tlsrelay_inner_start(r);
}

/* The TCP side is connected: say hello (a client) and start reading. */
static void tlsrelay_go(struct tlsrelay *r)
{
        uv_tcp_nodelay(r->tcp, 1);
        tlsrelay_tcp_flush(r); /* a client's ClientHello */
        tlsrelay_tcp_start(r);
}

static void tlsrelay_connected(uv_connect_t *req, int status)
{
        struct tlsrelay *r = req->data;
        if (r->closing) {
                return;
        }
        if (status != 0) {
                tlsrelay_close(r); /* the caller reads EOF: as a refused connect */
                return;
        }
        tlsrelay_go(r);
}

int tlsrelay_connect(struct tlsrelay_env *env, uv_loop_t *loop, const struct sockaddr *addr,
                     const char *server_name, uv_pipe_t *plain)
{
        struct tls *tls = tkv_malloc(sizeof *tls);
        struct tlsrelay *r = NULL;

        if (tls == NULL || tls_init(tls, env->client, server_name) != 0 ||
            (r = tlsrelay_new(env, loop, plain, false, server_name)) == NULL) {
                if (tls != NULL) {
                        tls_free(tls);
                        tkv_free(tls);
                }
                return TKV_ENOMEM;
        }
        r->tls = tls;
        r->tcp = &r->tcp_own;
        uv_tcp_init(loop, r->tcp);
        r->tcp->data = r;
        r->connect.data = r;
        tlsrelay_begin(r);
        if (uv_tcp_connect(&r->connect, r->tcp, addr, tlsrelay_connected) != 0) {
                tlsrelay_close(r);
        }
        return 0;
}

int tlsrelay_wrap(struct tlsrelay_env *env, uv_tcp_t *tcp, uv_close_cb tcp_free, struct tls *tls,
                  const char *peer, uv_pipe_t *plain, struct tlsrelay **relay)
{
        struct tlsrelay *r = tlsrelay_new(env, tcp->loop, plain, true, peer);

        *relay = NULL;
        if (r == NULL) {
                return TKV_ENOMEM;
        }
        r->tls = tls;
        r->tcp = tcp;
        r->tcp_free = tcp_free;
        r->reader = (uv_stream_t *)plain;
        tcp->data = r;
        tlsrelay_begin(r);
        /* What the session already holds (records past the peer handshake,
         * answers to send) is decrypted now, no read may come to say so,
         * and waits for tlsrelay_reading. */
        tlsrelay_decrypt(r);
        tlsrelay_tcp_start(r);
        *relay = r;
        return 0;
}

void tlsrelay_reading(struct tlsrelay *r)
{
        r->direct = true;
        tlsrelay_deliver(r);
        tlsrelay_tcp_start(r); /* if a full buffer had stopped it */
}
