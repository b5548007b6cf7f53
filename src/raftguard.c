#include "raftguard.h"

#include "err.h"
#include "log.h"

static void raftguard_end(struct raftguard *g)
{
        if (!g->active) {
                return;
        }
        g->active = false;
        queue_remove(&g->link);
        raftwire_close(&g->wire);
}

void raftguard_end_all(struct queue *guards)
{
        while (!queue_empty(guards)) {
                raftguard_end(QUEUE_DATA(queue_head(guards), struct raftguard, link));
        }
}

static void raftguard_refused(struct raftguard *g, uv_stream_t *s, int rv)
{
        uint64_t now = uv_now(s->loop);
        g->stats->refused++;
        if (g->stats->refused_logged_ms == 0 || now - g->stats->refused_logged_ms >= 1000) {
                g->stats->refused_logged_ms = now;
                LOGW(-1, "raftguard: refused a Raft message from node %llu (%s): %s; closing",
                     (unsigned long long)g->from, err_name(rv), g->wire.why);
        }
}

/* In front of raft's read callback (see the header). */
static void raftguard_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct raftguard *g = &((struct raftguard_stream *)(void *)s)->guard;
        int rv;

        if (!g->active) {
                return; /* the transport closed; raft is closing the stream */
        }
        if (n < 0) {
                raftguard_end(g);
                g->raft_read(s, n, buf);
                return;
        }
        if (n > 0) {
                rv = raftwire_feed(&g->wire, (const uint8_t *)buf->base, (size_t)n);
                if (rv != 0) {
                        raftguard_refused(g, s, rv);
                        raftguard_end(g);
                        g->raft_read(s, UV_EPROTO, buf);
                        return;
                }
        }
        g->raft_read(s, n, buf);
        if (uv_is_closing((uv_handle_t *)s)) {
                raftguard_end(g);
        }
}

static bool raftguard_check(void *arg, const struct raftwire_msg *m, const char **why)
{
        struct raftguard *g = arg;
        return g->check == NULL || g->check(g->check_arg, g->from, m, why);
}

/* raft reads the bytes straight from the socket into its own buffers: the
 * validator only looks, nothing is emitted anywhere. */
static void raftguard_emit(void *arg, const uint8_t *bytes, size_t n)
{
        (void)arg;
        (void)bytes;
        (void)n;
}

void raftguard_install(struct raftguard_stream *st, uint64_t from,
                       const struct raftwire_limits *limits, raftguard_check_fn check,
                       void *check_arg, struct raftguard_stats *stats, struct queue *guards)
{
        struct raftguard *g = &st->guard;
        uv_stream_t *s = (uv_stream_t *)&st->stream;

        g->raft_read = s->read_cb;
        g->check = check;
        g->check_arg = check_arg;
        g->from = from;
        g->stats = stats;
        g->active = true;
        raftwire_init(&g->wire, limits, raftguard_check, raftguard_emit, g);
        queue_push_tail(guards, &g->link);
        s->read_cb = raftguard_read;
        stats->guarded++;
}
