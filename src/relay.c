#include "relay.h"

#include <fcntl.h>
#include <raft.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buffer.h"
#include "err.h"
#include "heap.h"
#include "log.h"

#define RELAY_READ_BYTES   (64 * 1024)
#define RELAY_SOCKET_BYTES (4 * 1024 * 1024)

struct relay {
        uv_tcp_t *tcp;  /* from the peer; raft_malloc'd, owned */
        uv_pipe_t pipe; /* our end of the socketpair */
        uint64_t from;  /* the peer's node id */
        struct raftwire wire;
        struct buffer out;  /* validated bytes waiting for the pipe */
        struct buffer busy; /* bytes being written */
        uv_write_t write;
        uint8_t in[RELAY_READ_BYTES];
        uint8_t sink[256]; /* what raft might write on its end (nothing) */
        struct relay_stats *stats;
        relay_check_fn check;
        void *check_arg;
        struct queue link; /* in the transport's list until closing */
        bool writing;
        bool peer_done; /* the peer closed: finish once `out` is delivered */
        bool reading;   /* reading the peer */
        bool closing;
        unsigned handles; /* tcp, pipe: open */
};

static void relay_maybe_free(struct relay *r)
{
        if (r->handles > 0 || r->writing) {
                return;
        }
        raftwire_close(&r->wire);
        buffer_free(&r->out);
        buffer_free(&r->busy);
        tkv_free(r);
}

static void relay_tcp_closed(uv_handle_t *h)
{
        struct relay *r = h->data;
        raft_free(h);
        r->handles--;
        relay_maybe_free(r);
}

static void relay_pipe_closed(uv_handle_t *h)
{
        struct relay *r = h->data;
        r->handles--;
        relay_maybe_free(r);
}

/* Close both handles (raft reads EOF on its end and drops the stream). */
static void relay_close(struct relay *r)
{
        if (r->closing) {
                return;
        }
        r->closing = true;
        queue_remove(&r->link);
        uv_close((uv_handle_t *)r->tcp, relay_tcp_closed);
        uv_close((uv_handle_t *)&r->pipe, relay_pipe_closed);
}

void relay_close_all(struct queue *relays)
{
        while (!queue_empty(relays)) {
                relay_close(QUEUE_DATA(queue_head(relays), struct relay, link));
        }
}

static void relay_written(uv_write_t *w, int status);

/* Hand what is validated to raft. Straight into the socket when nothing
 * is queued (no request, no callback, no loop turn in between); what the
 * socket does not take goes out with one write at a time, the rest waits. */
static void relay_flush(struct relay *r)
{
        struct buffer tmp;
        uv_buf_t buf;
        int n;

        if (r->closing || r->writing) {
                return;
        }
        if (buffer_len(&r->out) == 0) {
                if (r->peer_done) {
                        relay_close(r);
                }
                return;
        }
        buf = uv_buf_init((char *)buffer_data(&r->out), (unsigned)buffer_len(&r->out));
        n = uv_try_write((uv_stream_t *)&r->pipe, &buf, 1);
        if (n < 0 && n != UV_EAGAIN) {
                relay_close(r);
                return;
        }
        if (n > 0) {
                r->stats->bytes += (uint64_t)n;
                buffer_consume(&r->out, (size_t)n);
        }
        if (buffer_len(&r->out) == 0) {
                buffer_reset(&r->out);
                if (r->peer_done) {
                        relay_close(r);
                }
                return;
        }
        tmp = r->busy;
        r->busy = r->out;
        r->out = tmp;
        buf = uv_buf_init((char *)buffer_data(&r->busy), (unsigned)buffer_len(&r->busy));
        r->write.data = r;
        if (uv_write(&r->write, (uv_stream_t *)&r->pipe, &buf, 1, relay_written) != 0) {
                relay_close(r);
                return;
        }
        r->writing = true;
}

static void relay_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct relay *r = h->data;
        (void)suggested;
        buf->base = (char *)r->in;
        buf->len = sizeof r->in;
}

static void relay_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Read the peer while raft keeps up; stop while RELAY_PENDING_MAX waits. */
static void relay_pace(struct relay *r)
{
        size_t pending = buffer_len(&r->out) + buffer_len(&r->busy);
        if (r->closing || r->peer_done) {
                return;
        }
        if (r->reading && pending > RELAY_PENDING_MAX) {
                uv_read_stop((uv_stream_t *)r->tcp);
                r->reading = false;
        } else if (!r->reading && pending <= RELAY_PENDING_MAX / 2) {
                if (uv_read_start((uv_stream_t *)r->tcp, relay_tcp_alloc, relay_tcp_read) != 0) {
                        relay_close(r);
                        return;
                }
                r->reading = true;
        }
}

static void relay_written(uv_write_t *w, int status)
{
        struct relay *r = w->data;
        r->writing = false;
        if (r->closing) {
                relay_maybe_free(r);
                return;
        }
        if (status != 0) {
                relay_close(r);
                return;
        }
        r->stats->bytes += buffer_len(&r->busy);
        buffer_reset(&r->busy);
        relay_flush(r);
        relay_pace(r);
}

static void relay_emit(void *arg, const uint8_t *bytes, size_t n)
{
        struct relay *r = arg;
        if (buffer_append(&r->out, bytes, n) != 0) {
                /* Out of memory: the stream cannot stay whole. */
                relay_close(r);
        }
}

static void relay_refuse(struct relay *r, int rv)
{
        uint64_t now = uv_now(r->tcp->loop);
        r->stats->refused++;
        if (r->stats->refused_logged_ms == 0 || now - r->stats->refused_logged_ms >= 1000) {
                r->stats->refused_logged_ms = now;
                LOGW(-1, "relay: refused a Raft message from node %llu (%s): %s; closing",
                     (unsigned long long)r->from, err_name(rv), r->wire.why);
        }
        relay_close(r);
}

static void relay_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct relay *r = s->data;
        int rv;

        (void)buf;
        if (r->closing) {
                return;
        }
        if (n < 0) {
                uv_read_stop(s);
                r->reading = false;
                r->peer_done = true;
                relay_flush(r);
                return;
        }
        rv = raftwire_feed(&r->wire, r->in, (size_t)n);
        if (r->closing) {
                return; /* relay_emit ran out of memory */
        }
        if (rv != 0) {
                relay_refuse(r, rv);
                return;
        }
        relay_flush(r);
        relay_pace(r);
}

static void relay_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct relay *r = h->data;
        (void)suggested;
        buf->base = (char *)r->sink;
        buf->len = sizeof r->sink;
}

/* raft never writes here; EOF or an error means it dropped the stream. */
static void relay_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct relay *r = s->data;
        (void)buf;
        if (n < 0) {
                relay_close(r);
        }
}

static void relay_handle_free(uv_handle_t *h)
{
        raft_free(h);
}

static bool relay_check(void *arg, const struct raftwire_msg *m, const char **why)
{
        struct relay *r = arg;
        return r->check == NULL || r->check(r->check_arg, r->from, m, why);
}

/* Open a socketpair: one end in r->pipe (initialised by the caller), the
 * other in a new raft_malloc'd pipe for raft. */
static int relay_socketpair(uv_loop_t *loop, struct relay *r, uv_pipe_t **raft_end)
{
        int fds[2];
        uv_pipe_t *p;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
                return TKV_EIO;
        }
        /* Room for a few large AppendEntries: the relay rarely waits. */
        (void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &(int){RELAY_SOCKET_BYTES}, sizeof(int));
        if (uv_pipe_open(&r->pipe, fds[0]) != 0) {
                close(fds[0]);
                close(fds[1]);
                return TKV_EIO;
        }
        /* fds[0] belongs to r->pipe from here: closing it closes the fd. */
        p = raft_malloc(sizeof *p);
        if (p == NULL) {
                close(fds[1]);
                return TKV_ENOMEM;
        }
        uv_pipe_init(loop, p, 0);
        if (uv_pipe_open(p, fds[1]) != 0) {
                close(fds[1]);
                uv_close((uv_handle_t *)p, relay_handle_free);
                return TKV_EIO;
        }
        *raft_end = p;
        return 0;
}

int relay_start(uv_loop_t *loop, uv_tcp_t *tcp, uint64_t from, const struct raftwire_limits *limits,
                relay_check_fn check, void *check_arg, struct relay_stats *stats,
                struct queue *relays, uv_stream_t **raft_end)
{
        struct relay *r = tkv_calloc(1, sizeof *r);
        uv_pipe_t *p = NULL;
        int rv;

        if (r == NULL) {
                uv_close((uv_handle_t *)tcp, relay_handle_free);
                return TKV_ENOMEM;
        }
        r->tcp = tcp;
        r->from = from;
        r->stats = stats;
        r->check = check;
        r->check_arg = check_arg;
        tcp->data = r;
        buffer_init(&r->out);
        buffer_init(&r->busy);
        raftwire_init(&r->wire, limits, relay_check, relay_emit, r);
        uv_pipe_init(loop, &r->pipe, 0);
        r->pipe.data = r;
        r->handles = 2;
        queue_push_tail(relays, &r->link);
        rv = relay_socketpair(loop, r, &p);
        if (rv != 0) {
                relay_close(r);
                return rv;
        }
        stats->relays++;
        uv_read_start((uv_stream_t *)&r->pipe, relay_pipe_alloc, relay_pipe_read);
        relay_pace(r);
        *raft_end = (uv_stream_t *)p;
        return 0;
}
