/* Peers: the places requests are sent to (an endpoint of the caller's list,
 * or a node's client address), each with at most one connection (link.c).
 *
 * Normal path: a routed request waits on its peer's queue; tkv_poll
 * connects the peer if needed, encodes each queued request as a new
 * attempt (a new id, the time left) onto the link within max_inflight,
 * writes, and when epoll reports input, reads the frames and hands each to
 * client_req_on_response.
 *
 * Failure modes: a connect that fails (client_peer_refused: keyed requests
 * retry, STATUS and CLUSTER_INFO try their next candidate); a link that
 * breaks with attempts on it, sent or not (client_peer_attempt_lost); an
 * answer that does not decode (the link is dropped with PROTOCOL_ERROR, as
 * the stream can no longer be trusted). */
#include "client_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "heap.h"

/* Register p's socket with epoll for what it needs now: always input, and
 * output while frames wait for the kernel. Fails only when epoll does. */
static int client_peer_watch(struct tkv_client *c, struct client_peer *p)
{
        struct epoll_event ev;
        uint32_t want;

        if (!link_is_open(&p->link)) {
                return TKV_OK;
        }
        want = EPOLLIN | (link_wants_write(&p->link) ? (uint32_t)EPOLLOUT : 0u);
        if (want == p->events) {
                return TKV_OK;
        }
        memset(&ev, 0, sizeof(ev));
        ev.events = want;
        ev.data.ptr = p;
        if (epoll_ctl(c->epfd, p->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, p->link.fd, &ev) !=
            0) {
                snprintf(p->link.errmsg, sizeof(p->link.errmsg), "epoll: %s", strerror(errno));
                return TKV_CONNECTION_CLOSED;
        }
        p->events = want;
        return TKV_OK;
}

void client_peer_close(struct tkv_client *c, struct client_peer *p)
{
        if (p->events != 0) {
                epoll_ctl(c->epfd, EPOLL_CTL_DEL, p->link.fd, NULL);
                p->events = 0;
        }
        link_close(&p->link);
}

void client_peer_free(struct client_peer *p)
{
        if (p != NULL) {
                link_close(&p->link);
                tkv_free(p);
        }
}

/* A new peer for addr (copied), or NULL when out of memory or at
 * CLIENT_PEERS_MAX. */
struct client_peer *client_peer_add(struct tkv_client *c, const struct client_endpoint *addr,
                                    uint32_t node_id, bool endpoint)
{
        struct client_peer **peers;
        struct client_peer *p;

        if (c->n_peers >= CLIENT_PEERS_MAX) {
                return NULL;
        }
        peers = tkv_realloc(c->peers, (c->n_peers + 1) * sizeof(*peers));
        if (peers == NULL) {
                return NULL;
        }
        c->peers = peers;
        p = tkv_calloc(1, sizeof(*p));
        if (p == NULL) {
                return NULL;
        }
        p->addr = *addr;
        p->node_id = node_id;
        p->endpoint = endpoint;
        link_init(&p->link);
        queue_init(&p->queued);
        queue_init(&p->inflight);
        c->peers[c->n_peers] = p;
        c->n_peers++;
        return p;
}

/* The index of endpoint peer p (endpoints are the first peers). */
unsigned client_peer_index(const struct tkv_client *c, const struct client_peer *p)
{
        unsigned i;

        for (i = 0; i < c->n_endpoints; i++) {
                if (c->peers[i] == p) {
                        return i;
                }
        }
        return 0;
}

/* The peer at the cluster's address of node id, created if needed; NULL
 * when the map has no usable address for it. */
static struct client_peer *client_peer_of_addr(struct tkv_client *c, uint32_t id)
{
        const struct map_node *n = map_node(&c->map, id);
        struct client_endpoint e;
        char err[128];
        unsigned i;

        if (n == NULL || n->addr[0] == '\0' ||
            client_endpoint_parse(n->addr, strlen(n->addr), &e, err, sizeof(err)) != TKV_OK) {
                return NULL;
        }
        for (i = 0; i < c->n_peers; i++) {
                if (strcmp(c->peers[i]->addr.host, e.host) == 0 &&
                    strcmp(c->peers[i]->addr.port, e.port) == 0) {
                        c->peers[i]->node_id = id; /* the cluster says so */
                        return c->peers[i];
                }
        }
        return client_peer_add(c, &e, id, false);
}

/* Where to send a request for node id: a peer of that node whose link is
 * open (the usual case, found without parsing anything), else the one whose
 * last connect failed longest ago (never is best), so that an endpoint
 * alias is tried when the cluster's address fails. NULL when no peer can
 * reach the node. */
struct client_peer *client_peer_for_node(struct tkv_client *c, uint32_t id)
{
        struct client_peer *best;
        struct client_peer *p;
        unsigned i;

        for (i = 0; i < c->n_peers; i++) {
                if (c->peers[i]->node_id == id && link_is_open(&c->peers[i]->link)) {
                        return c->peers[i];
                }
        }
        best = client_peer_of_addr(c, id);
        for (i = 0; i < c->n_peers; i++) {
                p = c->peers[i];
                if (p->node_id == id && (best == NULL || p->failed_ms < best->failed_ms)) {
                        best = p;
                }
        }
        return best;
}

/* After a new map: a peer made for a node's address stops standing for
 * that node when the map no longer puts the node there. */
void client_peer_sync(struct tkv_client *c)
{
        const struct map_node *n;
        struct client_peer *p;
        unsigned i;

        for (i = c->n_endpoints; i < c->n_peers; i++) {
                p = c->peers[i];
                n = p->node_id != 0 ? map_node(&c->map, p->node_id) : NULL;
                if (n != NULL && strcmp(n->addr, p->addr.name) != 0) {
                        p->node_id = 0;
                }
        }
}

/* The endpoint the client talks to when it has no better place. */
struct client_peer *client_peer_default(const struct tkv_client *c)
{
        return c->peers[c->endpoint_next];
}

/* Try the next endpoint first from now on, when p, the current one,
 * failed. */
static void client_peer_failed(struct tkv_client *c, struct client_peer *p)
{
        p->failed_ms = client_now_ms();
        if (p->endpoint && client_peer_index(c, p) == c->endpoint_next) {
                c->endpoint_next = (c->endpoint_next + 1) % c->n_endpoints;
        }
}

/* Connect p, AUTH if the client has a user, and watch its socket. On
 * failure p->link.errmsg or c->errmsg (AUTH) says why. */
static int client_peer_open(struct tkv_client *c, struct client_peer *p)
{
        int rv;

        if (link_connect(&p->link, p->addr.host, p->addr.port, c->connect_timeout_ms, c->tls,
                         c->tls_server_name[0] != '\0' ? c->tls_server_name : NULL) == 0) {
                rv = client_auth_link(c, p);
                if (rv != TKV_OK) {
                        client_peer_close(c, p);
                        client_peer_failed(c, p);
                        snprintf(p->link.errmsg, sizeof(p->link.errmsg), "%.200s", c->errmsg);
                        return rv;
                }
        }
        if (!link_is_open(&p->link) || client_peer_watch(c, p) != TKV_OK) {
                link_close(&p->link);
                client_peer_failed(c, p);
                snprintf(c->errmsg, sizeof(c->errmsg), "cannot connect to %.100s: %.200s",
                         p->addr.name, p->link.errmsg);
                return TKV_CONNECT_FAILED;
        }
        p->failed_ms = 0;
        c->refusal[0] = '\0';
        return TKV_OK;
}

/* Whether p failed recently: a connection (while its link is closed) or
 * an answer saying it cannot serve. */
bool client_peer_down(const struct client_peer *p, int64_t now_ms)
{
        if (p->unhealthy_ms != 0 && now_ms - p->unhealthy_ms < CLIENT_DOWN_MS) {
                return true;
        }
        return !link_is_open(&p->link) && p->failed_ms != 0 &&
               now_ms - p->failed_ms < CLIENT_DOWN_MS;
}

/* A served read's round trip on p (NEAREST): a moving average, restarted
 * when the last sample is stale. Only answers that took no consensus round
 * on the server count (reads below LINEARIZABLE), so that the estimate
 * measures distance more than the server's work. */
void client_peer_rtt_sample(struct client_peer *p, const struct client_req *r, int status)
{
        int64_t now_ms = client_now_ms();
        int64_t sample_us = client_now_us() - r->sent_us;
        int64_t avg_us = p->rtt_us;

        if (r->kind != CLIENT_READ || !r->has_read || r->read.level == TKV_LINEARIZABLE ||
            (status != TKV_OK && status != TKV_NOT_FOUND)) {
                return;
        }
        sample_us = sample_us < 0 ? 0 : (sample_us > UINT32_MAX ? UINT32_MAX : sample_us);
        if (p->rtt_ms == 0 || now_ms - p->rtt_ms >= CLIENT_RTT_STALE_MS) {
                avg_us = sample_us;
        } else {
                avg_us += (sample_us - avg_us) / CLIENT_RTT_WEIGHT;
        }
        p->rtt_us = (uint32_t)avg_us;
        p->rtt_ms = now_ms;
}

/* Encode the next attempt of r, with id, into c->scratch. */
static int client_peer_encode(struct tkv_client *c, const struct client_req *r, uint64_t id)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = r->code;
        req.id = id;
        req.timeout_ms = retry_attempt_timeout_ms(&r->retry, client_now_ms());
        req.no_forward = r->no_forward;
        req.key = r->key;
        req.key_len = r->key_len;
        req.value = r->value;
        req.value_len = r->value_len;
        req.expected_version = r->expected_version;
        req.read = r->has_read ? &r->read : NULL;
        req.write = r->has_write ? &r->write : NULL;
        req.token = r->token;
        req.token_len = r->token_len;
        if (r->kind == CLIENT_WRITE) {
                req.client_id = c->client_id;
                req.seq = r->seq;
                req.retry = retry_flag(&r->retry);
        }
        buffer_reset(&c->scratch);
        return codec_encode_request(&c->scratch, &req);
}

/* Put queued requests on p's link, within max_inflight. */
static void client_peer_move_queued(struct tkv_client *c, struct client_peer *p)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_req *r;

        while (!queue_empty(&p->queued) && p->n_inflight < c->max_inflight &&
               link_is_open(&p->link)) {
                r = QUEUE_DATA(queue_head(&p->queued), struct client_req, q);
                if (client_ids_reserve(c) != TKV_OK ||
                    client_peer_encode(c, r, c->next_id) != TKV_OK ||
                    link_queue(&p->link, buffer_data(&c->scratch), buffer_len(&c->scratch)) != 0) {
                        snprintf(msg, sizeof(msg), "%s: out of memory queueing the request", r->op);
                        client_req_fail(c, r, TKV_NO_MEMORY, msg);
                        continue;
                }
                client_req_unlist(c, r);
                r->id = c->next_id++;
                r->frame_len = buffer_len(&c->scratch);
                r->stream_end = p->link.out_queued_bytes;
                r->sent_us = client_now_us();
                r->state = CLIENT_INFLIGHT;
                r->peer = p;
                queue_push_tail(&p->inflight, &r->q);
                p->n_inflight++;
                client_ids_insert(c, r->id, r);
                c->n_ids++;
                r->retry.attempts += client_is_keyed(r);
                client_wake_move(c, r, r->retry.deadline_ms + CLIENT_GRACE_MS);
        }
        buffer_trim(&c->scratch, 1u << 20);
}

/* p's connection could not be made: every request queued on it learns. */
static void client_peer_refused(struct tkv_client *c, struct client_peer *p)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct queue batch;
        struct client_req *r;

        queue_init(&batch);
        queue_move(&batch, &p->queued);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                if (client_is_keyed(r)) {
                        snprintf(r->msg, sizeof(r->msg), "%.100s: %.120s", p->addr.name,
                                 p->link.errmsg);
                        client_retry_ended(c, r, RETRY_END_REFUSED, TKV_CONNECT_FAILED);
                } else if (r->kind == CLIENT_STATUS && r->status_node != 0) {
                        snprintf(msg, sizeof(msg),
                                 "status: cannot connect to node %u at %.100s: %.200s",
                                 (unsigned)r->status_node, p->addr.name, p->link.errmsg);
                        client_req_fail(c, r, TKV_CONNECT_FAILED, msg);
                } else {
                        client_route_admin_next(c, r, p->addr.name, p->link.errmsg);
                }
        }
}

/* p refused our AUTH: retrying cannot help, so every request queued on it
 * fails with status and the server's reason (in c->errmsg). */
static void client_peer_auth_refused(struct tkv_client *c, struct client_peer *p, int status)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct queue batch;
        struct client_req *r;

        snprintf(msg, sizeof(msg), "%s", c->errmsg);
        queue_init(&batch);
        queue_move(&batch, &p->queued);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                client_req_fail(c, r, status, msg);
        }
}

/* What a request whose attempt was on p's link when it broke does next.
 * unsent: none of its bytes reached the kernel. retryable: the link failed
 * (rather than the server speaking garbage). msg is borrowed. */
static void client_peer_attempt_lost(struct tkv_client *c, struct client_req *r,
                                     struct client_peer *p, bool unsent, bool retryable, int status,
                                     const char *msg)
{
        char text[CLIENT_ERRMSG_BYTES];

        if (client_is_keyed(r)) {
                snprintf(r->msg, sizeof(r->msg), "%s", msg);
                if (unsent || retryable) {
                        client_retry_ended(c, r, unsent ? RETRY_END_UNSENT : RETRY_END_LOST,
                                           status);
                        return;
                }
                snprintf(text, sizeof(text), "%s: %s%s", r->op, msg,
                         r->kind == CLIENT_WRITE ? "; the write may or may not have been applied"
                                                 : "");
                client_req_fail(c, r, r->kind == CLIENT_WRITE ? TKV_OUTCOME_UNKNOWN : status, text);
                return;
        }
        if (unsent && !(r->kind == CLIENT_STATUS && r->status_node != 0)) {
                client_route_admin_next(c, r, p->addr.name, "connection lost before sending");
                return;
        }
        snprintf(text, sizeof(text), "%s: %s", r->op, msg);
        client_req_fail(c, r, status, text);
}

/* Close p's link. Every attempt on it ends: see client_peer_attempt_lost. status
 * is what reads and STATUS requests get when they are not retried. why is
 * borrowed. */
static void client_peer_break(struct tkv_client *c, struct client_peer *p, int status,
                              const char *why, bool retryable)
{
        char msg[CLIENT_MSG_BYTES];
        uint64_t written = p->link.out_written_bytes;
        struct queue batch;
        struct client_req *r;
        bool unsent;

        snprintf(msg, sizeof(msg), "connection to %.100s lost: %.120s", p->addr.name, why);
        snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
        client_peer_close(c, p);
        client_peer_failed(c, p);
        queue_init(&batch);
        queue_move(&batch, &p->inflight);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                unsent = r->stream_end - r->frame_len >= written;
                client_req_unlist(c, r);
                client_peer_attempt_lost(c, r, p, unsent, retryable, status, msg);
        }
}

/* Write what the kernel takes, and watch for more room if needed. */
static void client_peer_flush(struct tkv_client *c, struct client_peer *p)
{
        if (!link_is_open(&p->link)) {
                return;
        }
        if (link_flush(&p->link) != 0 || client_peer_watch(c, p) != TKV_OK) {
                client_peer_break(c, p, TKV_CONNECTION_CLOSED, p->link.errmsg, true);
        }
}

/* Does any request queued for p lack retries (STATUS, CLUSTER_INFO)? */
static bool client_peer_queued_unretried(const struct client_peer *p)
{
        const struct queue *q;
        QUEUE_FOREACH(q, &p->queued)
        {
                const struct client_req *r = QUEUE_DATA(q, struct client_req, q);
                if (r->kind == CLIENT_STATUS || r->kind == CLIENT_INFO) {
                        return true;
                }
        }
        return false;
}

/* Connect p if needed, put its queued requests on the link, write. */
static void client_peer_send(struct tkv_client *c, struct client_peer *p)
{
        /* A server may close a connection that sat idle (a restart); find
         * out before a request goes into it. Reads and writes are retried
         * if it was closed, so a link that answered within the last second
         * is trusted for them (two syscalls fewer per request at one in
         * flight); STATUS and CLUSTER_INFO are not retried: always check. */
        if (link_is_open(&p->link) && p->n_inflight == 0 && !link_wants_write(&p->link) &&
            (client_now_ms() - p->heard_ms > CLIENT_IDLE_CHECK_MS ||
             client_peer_queued_unretried(p)) &&
            link_check_idle(&p->link) != 0) {
                client_peer_break(c, p, TKV_CONNECTION_CLOSED, p->link.errmsg, true);
        }
        if (!link_is_open(&p->link)) {
                int rv = client_peer_open(c, p);
                if (rv == TKV_UNAUTHENTICATED || rv == TKV_INVALID_ARGUMENT) {
                        client_peer_auth_refused(c, p, rv);
                        return;
                }
                if (rv != TKV_OK) {
                        client_peer_refused(c, p);
                        return;
                }
        }
        client_peer_move_queued(c, p);
        client_peer_flush(c, p);
}

/* Send what may be sent, on every peer. Callbacks run from here may add
 * peers; the loop sees them. */
void client_peer_send_all(struct tkv_client *c)
{
        unsigned i;

        for (i = 0; i < c->n_peers; i++) {
                if (c->peers[i]->n_queued > 0) {
                        client_peer_send(c, c->peers[i]);
                }
        }
}

/* Complete the requests whose answers are whole in p's input buffer. */
static void client_peer_dispatch(struct tkv_client *c, struct client_peer *p)
{
        const uint8_t *body;
        size_t len;
        int rv;

        while (link_is_open(&p->link)) {
                if (link_frame(&p->link, &body, &len) != 0) {
                        client_peer_break(c, p, TKV_PROTOCOL_ERROR, p->link.errmsg, false);
                        return;
                }
                if (body == NULL) {
                        return;
                }
                rv = codec_decode_response(body, len, client_req_on_response, c);
                link_frame_done(&p->link, len);
                p->heard_ms = client_now_ms();
                if (rv == TKV_NO_MEMORY) {
                        client_peer_break(c, p, TKV_NO_MEMORY, "out of memory decoding an answer",
                                          false);
                        return;
                }
                if (rv != TKV_OK) {
                        client_peer_break(c, p, TKV_PROTOCOL_ERROR,
                                          "undecodable answer from the server", false);
                        return;
                }
        }
}

/* epoll said p's socket is ready for events. */
void client_peer_io(struct tkv_client *c, struct client_peer *p, uint32_t events)
{
        int rv;

        if ((events & EPOLLOUT) != 0) {
                client_peer_flush(c, p);
        }
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0 || !link_is_open(&p->link)) {
                return;
        }
        rv = link_read(&p->link);
        client_peer_dispatch(c, p); /* answers that arrived before an EOF still count */
        if (rv != 0 && link_is_open(&p->link)) {
                char why[sizeof c->refusal + 32];
                snprintf(why, sizeof why, "the server said %s", c->refusal);
                client_peer_break(c, p, TKV_CONNECTION_CLOSED,
                                  c->refusal[0] != '\0' ? why : p->link.errmsg, true);
                c->refusal[0] = '\0';
        }
}

/* Whether a queued request could go on its link now: true after an async
 * call, until tkv_poll sends it. */
bool client_peer_sendable(const struct tkv_client *c)
{
        unsigned i;

        for (i = 0; i < c->n_peers; i++) {
                if (c->peers[i]->n_queued > 0 && c->peers[i]->n_inflight < c->max_inflight) {
                        return true;
                }
        }
        return false;
}
