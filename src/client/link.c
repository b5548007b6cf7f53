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
 * that a reset never raises SIGPIPE in the user's process. */
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

int link_connect(struct link *l, const char *host, const char *port, unsigned timeout_ms)
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

int link_flush(struct link *l)
{
        ssize_t n;

        while (buffer_len(&l->out) > 0) {
                n = send(l->fd, buffer_data(&l->out), buffer_len(&l->out), MSG_NOSIGNAL);
                if (n > 0) {
                        buffer_consume(&l->out, (size_t)n);
                        l->out_written_bytes += (uint64_t)n;
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
        /* A burst of large frames must not pin its memory for good. */
        buffer_trim(&l->out, 1u << 20);
        return 0;
}

int link_read(struct link *l)
{
        ssize_t n;
        size_t room;
        int i;

        for (i = 0; i < LINK_READS_PER_CALL; i++) {
                if (buffer_reserve(&l->in, LINK_READ_BYTES) != 0) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "read: out of memory");
                        return TKV_ENOMEM;
                }
                room = l->in.cap - l->in.end;
                n = recv(l->fd, l->in.base + l->in.end, room, 0);
                if (n > 0) {
                        buffer_extend(&l->in, (size_t)n);
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
        l->out_queued_bytes = 0;
        l->out_written_bytes = 0;
}
