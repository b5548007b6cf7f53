/* Socket work of the client library.
 *
 * Normal path: link_connect() resolves the endpoint, starts a non-blocking
 * connect and waits for writability in poll(2) within the connect timeout,
 * then reads SO_ERROR to learn the outcome. The client appends frames with
 * link_queue() and calls link_flush() and link_read() when poll(2) says the
 * socket is ready; link_frame() cuts whole frames out of the input.
 *
 * Failure modes: the name does not resolve (TKV_EADDR), no address accepts
 * the connection in time (TKV_ECONN, TKV_ETIMEDOUT), the server closes or
 * resets the connection (TKV_ECONN, TKV_EIO), a frame announces more than
 * LINK_FRAME_BYTES_MAX (TKV_ETOOBIG, checked before anything is allocated),
 * and the input buffer cannot grow (TKV_ENOMEM). Each leaves a message in
 * l->errmsg; the caller names the endpoint. Writes use send(MSG_NOSIGNAL) so
 * that a reset never raises SIGPIPE in the user's process.
 *
 * TLS (when the client has a context): the handshake runs inside
 * link_connect, in the same poll(2) loop and time budget; after it,
 * link_flush encrypts the queued frames and link_read decrypts what
 * arrived before the frames are cut, so nothing above this file knows.
 * A handshake that fails says why (the certificate check, the server's
 * alert), and a plaintext server or client on the other side is named as
 * such rather than as a garbled frame. */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "frame.h"
#include "heap.h"

/* Receive in chunks of at least this many bytes. */
#define LINK_READ_BYTES (64u << 10)
/* Bound the work of one link_read so one busy link cannot starve expiry. */
#define LINK_READS_PER_CALL 16

static int64_t link_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void link_init(struct link *l)
{
        l->fd = -1;
        buffer_init(&l->out);
        buffer_init(&l->in);
        l->out_queued_bytes = 0;
        l->out_written_bytes = 0;
        l->tls = NULL;
        l->tls_plain = 0;
        l->errmsg[0] = '\0';
}

static int link_set_nonblocking(int fd)
{
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
                return TKV_EIO;
        }
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
                return TKV_EIO;
        }
        return 0;
}

/* Wait until the connect in progress on fd finishes or deadline_ms passes. */
static int link_wait_connected(struct link *l, int fd, int64_t deadline_ms)
{
        struct pollfd p;
        int64_t left_ms;
        int so_error = 0;
        socklen_t so_len = sizeof(so_error);
        int n;

        for (;;) {
                left_ms = deadline_ms - link_now_ms();
                if (left_ms <= 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "connect: timed out");
                        return TKV_ETIMEDOUT;
                }
                p.fd = fd;
                p.events = POLLOUT;
                p.revents = 0;
                n = poll(&p, 1, left_ms > INT32_MAX ? INT32_MAX : (int)left_ms);
                if (n > 0) {
                        break;
                }
                if (n < 0 && errno != EINTR) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "poll: %s", strerror(errno));
                        return TKV_ECONN;
                }
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
                so_error = errno;
        }
        if (so_error != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "connect: %s", strerror(so_error));
                return TKV_ECONN;
        }
        return 0;
}

static int link_connect_addr(struct link *l, const struct addrinfo *ai, int64_t deadline_ms)
{
        int one = 1;
        int fd;
        int rv = TKV_ECONN;

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "socket: %s", strerror(errno));
                goto cleanup;
        }
        if (link_set_nonblocking(fd) != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "fcntl: %s", strerror(errno));
                goto cleanup;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                if (errno != EINPROGRESS && errno != EINTR) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "connect: %s", strerror(errno));
                        goto cleanup;
                }
                rv = link_wait_connected(l, fd, deadline_ms);
                if (rv != 0) {
                        goto cleanup;
                }
        }
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "setsockopt: %s", strerror(errno));
                rv = TKV_ECONN;
                goto cleanup;
        }
        l->fd = fd;
        fd = -1;
        rv = 0;
cleanup:
        if (fd >= 0) {
                close(fd);
        }
        return rv;
}

/* ---- TLS ---- */

/* Send b's bytes until the kernel stops taking them; *sent counts them. */
static int link_send(struct link *l, struct buffer *b, uint64_t *sent)
{
        while (buffer_len(b) > 0) {
                ssize_t n = send(l->fd, buffer_data(b), buffer_len(b), MSG_NOSIGNAL);
                if (n > 0) {
                        buffer_consume(b, (size_t)n);
                        *sent += (uint64_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        break;
                }
                snprintf(l->errmsg, sizeof(l->errmsg), "write: %s",
                         n < 0 ? strerror(errno) : "no progress");
                return TKV_EIO;
        }
        return 0;
}

/* Receive what the kernel has into b (up to LINK_READ_BYTES at a time,
 * LINK_READS_PER_CALL times): 0, or TKV_ECONN at end of file, TKV_EIO,
 * TKV_ENOMEM (l->errmsg says which). */
static int link_recv(struct link *l, struct buffer *b)
{
        for (int i = 0; i < LINK_READS_PER_CALL; i++) {
                size_t room;
                ssize_t n;
                if (buffer_reserve(b, LINK_READ_BYTES) != 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "read: out of memory");
                        return TKV_ENOMEM;
                }
                room = b->cap - b->end;
                n = recv(l->fd, b->base + b->end, room, 0);
                if (n > 0) {
                        buffer_extend(b, (size_t)n);
                        if ((size_t)n < room) {
                                break;
                        }
                        continue;
                }
                if (n == 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "connection closed by the server");
                        return TKV_ECONN;
                }
                if (errno == EINTR) {
                        continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        break;
                }
                snprintf(l->errmsg, sizeof(l->errmsg), "read: %s", strerror(errno));
                return TKV_EIO;
        }
        return 0;
}

/* A failed handshake's message: TLS's reason, or, when what came back is
 * not TLS at all, that the server does not speak it. */
static int link_tls_failed(struct link *l, int rv, bool plaintext_reply)
{
        if (plaintext_reply) {
                snprintf(l->errmsg, sizeof(l->errmsg),
                         "tls handshake: the server answered without TLS (is TLS off on "
                         "that port?)");
        } else if (rv == TKV_ECONN) {
                snprintf(l->errmsg, sizeof(l->errmsg),
                         "tls handshake: the server closed the connection (is TLS off on that "
                         "port, or did it refuse our certificate? see its log)");
        } else if (rv != TKV_ETIMEDOUT) {
                snprintf(l->errmsg, sizeof(l->errmsg), "%s", l->tls->errmsg);
        }
        return rv == TKV_ETIMEDOUT ? rv : TKV_EPROTO;
}

/* Wait for fd to be readable (and writable too if TLS has output). */
static int link_tls_wait(struct link *l, int64_t deadline_ms)
{
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        int64_t left_ms = deadline_ms - link_now_ms();
        if (left_ms <= 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "tls handshake: timed out");
                return TKV_ETIMEDOUT;
        }
        if (buffer_len(&l->tls->out) > 0) {
                p.events |= POLLOUT;
        }
        if (poll(&p, 1, left_ms > INT32_MAX ? INT32_MAX : (int)left_ms) < 0 && errno != EINTR) {
                snprintf(l->errmsg, sizeof(l->errmsg), "poll: %s", strerror(errno));
                return TKV_ECONN;
        }
        return 0;
}

/* Run the client side of the TLS handshake on l's connected socket. */
static int link_tls_start(struct link *l, struct tls_ctx *ctx, const char *name,
                          int64_t deadline_ms)
{
        uint64_t sent = 0;
        bool first = true;
        int rv;

        l->tls = tkv_malloc(sizeof *l->tls);
        if (l->tls == NULL) {
                snprintf(l->errmsg, sizeof(l->errmsg), "tls: out of memory");
                return TKV_ENOMEM;
        }
        rv = tls_init(l->tls, ctx, name);
        while (rv == 0 || rv == TKV_EAGAIN) {
                if ((rv = link_send(l, &l->tls->out, &sent)) != 0) {
                        return rv;
                }
                if (l->tls->established && buffer_len(&l->tls->out) == 0) {
                        return 0;
                }
                if ((rv = link_tls_wait(l, deadline_ms)) != 0) {
                        return link_tls_failed(l, rv, false);
                }
                rv = link_recv(l, &l->tls->in);
                if (first && buffer_len(&l->tls->in) > 0) {
                        first = false;
                        if (!tls_looks_like_record(buffer_data(&l->tls->in),
                                                   buffer_len(&l->tls->in))) {
                                return link_tls_failed(l, TKV_EPROTO, true);
                        }
                }
                if (rv != 0) {
                        return link_tls_failed(l, rv, false);
                }
                rv = tls_handshake(l->tls);
        }
        (void)link_send(l, &l->tls->out, &sent); /* the alert that says why */
        return link_tls_failed(l, rv, false);
}

/* Decrypt everything received into l->in. */
static int link_tls_decrypt(struct link *l)
{
        for (;;) {
                size_t got;
                int rv;
                if (buffer_reserve(&l->in, LINK_READ_BYTES) != 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "read: out of memory");
                        return TKV_ENOMEM;
                }
                rv = tls_read(l->tls, l->in.base + l->in.end, l->in.cap - l->in.end, &got);
                if (rv == TKV_EAGAIN) {
                        return 0;
                }
                if (rv != 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "%s", l->tls->errmsg);
                        return rv;
                }
                buffer_extend(&l->in, got);
        }
}

int link_connect(struct link *l, const char *host, const char *port, unsigned timeout_ms,
                 struct tls_ctx *tls, const char *server_name)
{
        struct addrinfo hints;
        struct addrinfo *res = NULL;
        const struct addrinfo *ai;
        int64_t deadline_ms = link_now_ms() + timeout_ms;
        int rv;

        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        rv = getaddrinfo(host, port, &hints, &res);
        if (rv != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "resolve: %s", gai_strerror(rv));
                rv = TKV_EADDR;
                goto cleanup;
        }
        rv = TKV_ECONN;
        snprintf(l->errmsg, sizeof(l->errmsg), "resolve: no address");
        for (ai = res; ai != NULL; ai = ai->ai_next) {
                rv = link_connect_addr(l, ai, deadline_ms);
                if (rv == 0) {
                        break;
                }
        }
        if (rv == 0 && tls != NULL) {
                rv = link_tls_start(l, tls, server_name != NULL ? server_name : host, deadline_ms);
                if (rv != 0) {
                        link_close(l);
                }
        }
        if (rv == 0) {
                l->out_queued_bytes = 0;
                l->out_written_bytes = 0;
                l->errmsg[0] = '\0';
        }
cleanup:
        if (res != NULL) {
                freeaddrinfo(res);
        }
        return rv;
}

int link_queue(struct link *l, const void *data, size_t len)
{
        int rv = buffer_append(&l->out, data, len);
        if (rv != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg), "queue: out of memory");
                return rv;
        }
        l->out_queued_bytes += len;
        return 0;
}

/* TLS: encrypt the queued frames when the records before them are gone,
 * and count them written once their records are. */
static int link_tls_flush(struct link *l)
{
        uint64_t sent = 0;
        int rv;

        for (;;) {
                if (buffer_len(&l->tls->out) == 0 && buffer_len(&l->out) > 0) {
                        rv = tls_write(l->tls, buffer_data(&l->out), buffer_len(&l->out));
                        if (rv != 0) {
                                snprintf(l->errmsg, sizeof(l->errmsg), "%s", l->tls->errmsg);
                                return rv;
                        }
                        l->tls_plain = buffer_len(&l->out);
                        buffer_reset(&l->out);
                }
                if ((rv = link_send(l, &l->tls->out, &sent)) != 0) {
                        return rv;
                }
                if (buffer_len(&l->tls->out) > 0) {
                        return 0; /* the kernel is full */
                }
                l->out_written_bytes += l->tls_plain;
                l->tls_plain = 0;
                if (buffer_len(&l->out) == 0) {
                        buffer_trim(&l->tls->out, 1u << 20);
                        return 0;
                }
        }
}

int link_flush(struct link *l)
{
        int rv;

        if (l->tls != NULL) {
                return link_tls_flush(l);
        }
        rv = link_send(l, &l->out, &l->out_written_bytes);
        /* A burst of large frames must not pin its memory for good. */
        buffer_trim(&l->out, 1u << 20);
        return rv;
}

int link_read(struct link *l)
{
        int rv, drv;

        if (l->tls == NULL) {
                return link_recv(l, &l->in);
        }
        /* Answers that arrived before an end of file still count. */
        rv = link_recv(l, &l->tls->in);
        drv = link_tls_decrypt(l);
        buffer_trim(&l->tls->in, 1u << 20);
        return drv != 0 ? drv : rv;
}

int link_frame(struct link *l, const uint8_t **body, size_t *body_len)
{
        size_t len = buffer_len(&l->in);
        int rv;

        *body = NULL;
        *body_len = 0;
        if (len == 0) {
                return 0;
        }
        rv = frame_parse(buffer_data(&l->in), len, LINK_FRAME_BYTES_MAX, body_len);
        if (rv == TKV_EAGAIN) {
                *body_len = 0;
                return 0;
        }
        if (rv != 0 && l->tls == NULL && tls_looks_like_record(buffer_data(&l->in), len)) {
                snprintf(l->errmsg, sizeof(l->errmsg),
                         "the server answered with TLS: this port needs a TLS client "
                         "(--cacert)");
                return rv;
        }
        if (rv != 0) {
                snprintf(l->errmsg, sizeof(l->errmsg),
                         "frame of %u bytes exceeds the limit of %u bytes",
                         (unsigned)get_be32(buffer_data(&l->in)), LINK_FRAME_BYTES_MAX);
                return rv;
        }
        *body = buffer_data(&l->in) + FRAME_HEADER_BYTES;
        return 0;
}

void link_frame_done(struct link *l, size_t body_len)
{
        buffer_consume(&l->in, FRAME_HEADER_BYTES + body_len);
        buffer_trim(&l->in, 1u << 20);
}

int link_check_idle(struct link *l)
{
        struct pollfd p;
        char byte;
        ssize_t n;

        p.fd = l->fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 0) <= 0) {
                return 0;
        }
        n = recv(l->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
                return 0;
        }
        snprintf(l->errmsg, sizeof(l->errmsg), "%s",
                 n == 0 ? "connection closed by the server while idle" : strerror(errno));
        return TKV_ECONN;
}

void link_close(struct link *l)
{
        if (l->fd >= 0) {
                close(l->fd);
                l->fd = -1;
        }
        buffer_free(&l->out);
        buffer_free(&l->in);
        if (l->tls != NULL) {
                tls_free(l->tls);
                tkv_free(l->tls);
                l->tls = NULL;
        }
        l->tls_plain = 0;
        l->out_queued_bytes = 0;
        l->out_written_bytes = 0;
}
