/* libtunekv: the client object behind include/tunekv.h.
 *
 * Normal path of a keyed request (GET, PUT, DELETE, CAS). The async call
 * checks its arguments, copies key and value into the request, gives a
 * write the client's next sequence number, sets the deadline and routes it:
 *
 *   1. with no partition map yet, the client asks CLUSTER_INFO of its
 *      endpoints (in order, then of the other known nodes) and parks the
 *      request until the answer arrives;
 *   2. the map gives the key's partition (XXH64 % P) and the node leading
 *      it (no leader known: its replicas in turn, skipping those that just
 *      refused a connection); a read below LINEARIZABLE whose route is not
 *      LEADER (a "spread" read) goes instead to the replica map_choose picks
 *      for its route, from what the peers know: which failed recently, the
 *      round-trip estimate of each, which this read failed on already, and
 *      (NEAREST) which are on nodes of the client's zone.
 *      The request is queued on that node's peer (one connection per node,
 *      opened lazily; a node whose address fails is also reached through an
 *      endpoint that said it is that node);
 *   3. tkv_poll() connects peers that have queued requests and encodes each
 *      attempt afresh: a new id, the time left as its timeout, no_forward,
 *      and for writes (client_id, seq, retry). It writes, waits in
 *      epoll_wait over every connection and a timerfd, reads, and matches
 *      answers to requests by id (O(1));
 *   4. retry.c says what an answer or a failure means: deliver it, resend at
 *      once to the leader a NOT_LEADER answer named (a spread read: to a
 *      replica it has not failed on), or back off and route again (with a
 *      refreshed map) until the deadline. A map that names a new leader
 *      sends the requests backing off for it on at once.
 *
 * The session. The client is one session and keeps its token (token.c):
 * the token delta of every answer is merged into it before the callback
 * runs, and a request takes a copy of the token when it is submitted (reads
 * below LINEARIZABLE or with session flags, and every write once the token
 * is not empty), which every attempt of it carries. A delta that does not
 * parse is dropped and counted; the answer is delivered. NEAREST's estimate
 * is a moving average, per peer, of the round trips of served reads below
 * LINEARIZABLE (those that take no consensus round on the server), from
 * the attempt going on the link to its answer.
 *
 * tkv_fd() is the epoll descriptor; the timerfd in it is armed at the first
 * wake_ms (see below), or at once after an async call, so that a program
 * waiting on the descriptor alone calls tkv_poll whenever there is work.
 *
 * The blocking calls are an async call plus tkv_poll(-1) until that
 * request's callback has run; the callback copies the borrowed result into
 * one block kept in result->priv_.
 *
 * States of a request. Each pending request is on exactly one list, and in
 * the heap keyed by wake_ms:
 *
 *                 route            the link takes it
 *     submit ─────────────▶ QUEUED ─────────────────▶ INFLIGHT ──▶ answer ──▶ callback
 *       │                    ▲  ▲                        │
 *       │ no map yet         │  └──── resend now ────────┤ hint; link broke unsent
 *       ▼                    │                           │
 *     WAIT_MAP ─ map ────────┘                           │ transient status, link lost
 *                            ▲                           ▼
 *                            └──── wake_ms passes ─── BACKOFF
 *
 *   state      list            wake_ms             when wake_ms passes
 *   WAIT_MAP   c->wait_map     deadline            give up
 *   BACKOFF    c->backoff      next attempt        route again
 *   QUEUED     peer->queued    deadline            give up (this attempt never sent)
 *   INFLIGHT   peer->inflight  deadline + grace    give up (no answer)
 *
 * The grace (CLIENT_GRACE_MS) lets the server's own TIMEOUT or
 * OUTCOME_UNKNOWN, which carry more information, arrive first.
 *
 * STATUS and CLUSTER_INFO travel the same way without retries: to an
 * endpoint (STATUS of a given node: to that node), on to the next endpoint
 * when no connection can be made, and otherwise they complete with what
 * happened. The client's own CLUSTER_INFO (map_req) has no user callback.
 *
 * Failure modes of keyed requests, and what a request finally gets:
 *
 *   what happened                          reads               writes
 *   transient answers until the deadline   the last status     the last status, or
 *     (NOT_LEADER, UNAVAILABLE, ...)                             OUTCOME_UNKNOWN if an
 *                                                                attempt may have applied
 *   no node accepts a connection           CONNECT_FAILED      CONNECT_FAILED (same rule)
 *   link lost on the last attempt          CONNECTION_CLOSED   OUTCOME_UNKNOWN
 *   deadline passed, attempt on the wire   TIMEOUT             OUTCOME_UNKNOWN
 *   deadline passed, never sent            TIMEOUT             TIMEOUT
 *   undecodable answer (link dropped)      PROTOCOL_ERROR      OUTCOME_UNKNOWN if sent
 *   client destroyed                       CONNECTION_CLOSED   OUTCOME_UNKNOWN if it may
 *                                                                have been applied
 *
 * A write that may have reached a server is never reported as anything but
 * an answer or OUTCOME_UNKNOWN. Answers whose id matches nothing in flight
 * (late answers to abandoned attempts) are counted and dropped.
 *
 * Where each part lives. This file holds the client object (create,
 * configure, destroy), the poll loop (tkv_poll, tkv_fd, the timer) and the
 * wake-ups of requests on the shared deadline heap (src/deadline.c), plus
 * endpoint parsing and status names. The rest of the client core:
 *
 *   client_internal.h  struct tkv_client, client_req, client_peer; calls
 *                      between the files below
 *   client_req.c       a request's life: made, moved between states,
 *                      matched to its answer, completed once
 *   client_ids.c       the id map: attempt id -> request, O(1)
 *   client_peer.c      peers: connections, sending attempts, reading
 *                      answers, what a broken link means
 *   client_route.c     routing over the partition map, replica choice,
 *                      fetching the map
 *   client_retry.c     retries and idempotency: carrying out retry.c's
 *                      decisions
 *   client_token.c     the session token the client holds
 *   client_async.c     the async API: argument checks, building requests
 *   client_sync.c      the blocking API and its result copies
 *
 * and the pure modules they use: link.c (one socket), codec.c (protobuf),
 * map.c (the partition map), retry.c (the retry policy), token.c (tokens).
 */
#include "client_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "heap.h"

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
        case TKV_NO_SPACE:
                return "NO_SPACE";
        case TKV_UNAUTHENTICATED:
                return "UNAUTHENTICATED";
        case TKV_PERMISSION_DENIED:
                return "PERMISSION_DENIED";
        case TKV_COMPACTED:
                return "COMPACTED";
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

/* Split one trimmed entry [s, s + len) into host and port. */
int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *e, char *errmsg,
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

/* The pending request that wakes first, or NULL. */
static struct client_req *client_wake_first(const struct tkv_client *c)
{
        struct deadline *d = deadline_heap_min(&c->wakes);

        return d != NULL ? QUEUE_DATA(d, struct client_req, wake) : NULL;
}

/* Move r to wake at wake_ms. */
void client_wake_move(struct tkv_client *c, struct client_req *r, int64_t wake_ms)
{
        r->wake.at_ms = (uint64_t)wake_ms;
        deadline_heap_update(&c->wakes, &r->wake);
}

/* Wait up to wait_ms for any link or the timer, then do the I/O. */
static void client_io(struct tkv_client *c, int wait_ms)
{
        struct epoll_event events[CLIENT_EVENTS];
        uint64_t ticks;
        struct client_peer *p;
        int n;
        int i;

        n = epoll_wait(c->epfd, events, CLIENT_EVENTS, wait_ms);
        for (i = 0; i < n; i++) {
                p = events[i].data.ptr;
                if (p == NULL) {
                        /* The timer: only wakes tkv_fd() waiters; drain it. */
                        if (read(c->timerfd, &ticks, sizeof(ticks)) < 0) {
                                ticks = 0;
                        }
                        c->timer_ms = 0;
                        continue;
                }
                if (link_is_open(&p->link)) {
                        client_peer_io(c, p, events[i].events);
                }
        }
}

/* r's attempt is on the wire and its deadline plus grace passed. */
static void client_expire_inflight(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        const char *name = r->peer->addr.name;

        if (client_is_keyed(r)) {
                snprintf(r->msg, sizeof(r->msg), "no answer from %.200s", name);
                client_req_unlist(c, r); /* a late answer is counted, not matched */
                retry_expire(&r->retry, true);
                client_retry_give_up(c, r, NULL);
                return;
        }
        snprintf(msg, sizeof(msg), "%s: no answer from %.200s within %u ms", r->op, name,
                 r->timeout_ms);
        client_req_fail(c, r, TKV_TIMEOUT, msg);
}

/* r's deadline passed before its attempt was on the wire. */
static void client_expire_unsent(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];

        if (client_is_keyed(r)) {
                client_retry_give_up(c, r, NULL);
                return;
        }
        snprintf(msg, sizeof(msg), "%s: no answer within %u ms (never sent)", r->op, r->timeout_ms);
        client_req_fail(c, r, TKV_TIMEOUT, msg);
}

/* Act on the requests whose wake_ms passed: retry those that backed off,
 * give up on those whose deadline passed. */
static void client_expire(struct tkv_client *c, int64_t now_ms)
{
        struct client_req *r;

        while ((r = client_wake_first(c)) != NULL && (int64_t)r->wake.at_ms <= now_ms) {
                switch (r->state) {
                case CLIENT_BACKOFF:
                        client_req_unlist(c, r);
                        client_route_req(c, r);
                        break;
                case CLIENT_INFLIGHT:
                        client_expire_inflight(c, r);
                        break;
                default:
                        client_expire_unsent(c, r);
                        break;
                }
        }
}

/* Arm the timer at the first wake_ms, so that tkv_fd() turns readable when
 * tkv_poll has timed work; at once when sendable (after an async call: a
 * program that waits on tkv_fd() then comes to send the request). */
void client_timer_arm(struct tkv_client *c, bool sendable)
{
        const struct client_req *first = client_wake_first(c);
        int64_t want_ms = first != NULL ? (int64_t)first->wake.at_ms : 0;
        struct itimerspec its;

        /* The timer only wakes programs that wait on tkv_fd() themselves;
         * tkv_poll computes its own timeouts. */
        if (!c->fd_exported) {
                return;
        }
        if (sendable) {
                want_ms = client_now_ms();
        }
        if (want_ms == c->timer_ms) {
                return;
        }
        memset(&its, 0, sizeof(its));
        if (want_ms > 0) {
                its.it_value.tv_sec = want_ms / 1000;
                its.it_value.tv_nsec = (long)(want_ms % 1000) * 1000000;
        }
        if (timerfd_settime(c->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
                c->timer_ms = want_ms;
        }
}

static int client_wait_ms(const struct tkv_client *c, int64_t now_ms, int64_t until_ms)
{
        const struct client_req *first = client_wake_first(c);
        int64_t wait_ms = until_ms - now_ms;

        if (first != NULL && (int64_t)first->wake.at_ms - now_ms < wait_ms) {
                wait_ms = (int64_t)first->wake.at_ms - now_ms;
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
                now_ms = client_now_ms();
                client_expire(c, now_ms);
                client_peer_send_all(c);
                stop = c->completions > before || c->n_pending == 0 || now_ms >= until_ms;
                if (stop && waited) {
                        break;
                }
                client_io(c, stop ? 0 : client_wait_ms(c, now_ms, until_ms));
                waited = true;
        }
        client_timer_arm(c, false);
        return (int)(c->completions - before);
}

size_t tkv_pending(const struct tkv_client *c)
{
        return c != NULL ? c->n_pending : 0;
}

int tkv_fd(struct tkv_client *c)
{
        unsigned i;

        if (c == NULL) {
                return -1;
        }
        if (!c->fd_exported) {
                c->fd_exported = true;
                client_timer_arm(c, client_peer_sendable(c));
        }
        if (c->n_pending + c->n_internal > 0) {
                return c->epfd;
        }
        for (i = 0; i < c->n_peers; i++) {
                if (link_is_open(&c->peers[i]->link)) {
                        return c->epfd;
                }
        }
        return -1;
}

const char *tkv_errmsg(const struct tkv_client *c)
{
        return c != NULL ? c->errmsg : "no client";
}

const struct map *client_partition_map(const struct tkv_client *c)
{
        return &c->map;
}

uint64_t client_bad_tokens(const struct tkv_client *c)
{
        return c->bad_tokens;
}

static void client_free(struct tkv_client *c)
{
        unsigned i;

        if (c == NULL) {
                return;
        }
        for (i = 0; i < c->n_peers; i++) {
                client_peer_free(c->peers[i]);
        }
        tkv_free(c->peers);
        map_free(&c->map);
        buffer_free(&c->scratch);
        tkv_free(c->slots);
        tls_ctx_free(c->tls);
        deadline_heap_close(&c->wakes);
        client_auth_forget(c);
        if (c->epfd >= 0) {
                close(c->epfd);
        }
        if (c->timerfd >= 0) {
                close(c->timerfd);
        }
        tkv_free(c);
}

/* A random non-zero id naming this client's writes to the servers' session
 * tables. Two clients with the same id would see each other's results, so
 * it comes from the kernel's generator; only if that fails is it mixed from
 * the clock, the pid and an address. */
static uint64_t client_random_id(const struct tkv_client *c)
{
        uint64_t id = 0;
        struct timespec ts;
        uint64_t mix[4];
        int fd;

        if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
                fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
                if (fd < 0 || read(fd, &id, sizeof(id)) != (ssize_t)sizeof(id)) {
                        id = 0;
                }
                if (fd >= 0) {
                        close(fd);
                }
        }
        while (id == 0) {
                clock_gettime(CLOCK_REALTIME, &ts);
                mix[0] = (uint64_t)ts.tv_sec;
                mix[1] = (uint64_t)ts.tv_nsec;
                mix[2] = (uint64_t)getpid();
                mix[3] = (uint64_t)(uintptr_t)c;
                id = XXH64(mix, sizeof(mix), 0);
        }
        return id;
}

/* The endpoint peers, the epoll set and its timer. */
static int client_open_endpoints(struct tkv_client *c, const char *endpoints)
{
        struct client_endpoint *list = NULL;
        struct epoll_event ev;
        unsigned n = 0;
        unsigned i;
        int rv = client_endpoints_parse(endpoints, &list, &n, c->errmsg, sizeof(c->errmsg));

        for (i = 0; rv == TKV_OK && i < n; i++) {
                if (client_peer_add(c, &list[i], 0, true) == NULL) {
                        snprintf(c->errmsg, sizeof(c->errmsg),
                                 "endpoints: out of memory or more than %u", CLIENT_PEERS_MAX);
                        rv = TKV_NO_MEMORY;
                }
        }
        tkv_free(list);
        if (rv != TKV_OK) {
                return rv;
        }
        c->n_endpoints = n;
        c->epfd = epoll_create1(EPOLL_CLOEXEC);
        c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = NULL;
        if (c->epfd < 0 || c->timerfd < 0 ||
            epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->timerfd, &ev) != 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "epoll: %s", strerror(errno));
                return TKV_NO_MEMORY;
        }
        return TKV_OK;
}

/* The TLS context opts ask for, if any. */
static int client_configure_tls(struct tkv_client *c, const struct tkv_options *opts)
{
        struct tls_ctx_config tc = {.role = TLS_CLIENT};
        char err[CLIENT_ERRMSG_BYTES - 16];

        if (opts == NULL ||
            (!opts->tls && opts->tls_ca_file == NULL && opts->tls_cert_file == NULL)) {
                return TKV_OK;
        }
        tc.ca_file = opts->tls_ca_file;
        tc.cert_file = opts->tls_cert_file;
        tc.key_file = opts->tls_key_file != NULL ? opts->tls_key_file : opts->tls_cert_file;
        if (tls_ctx_new(&tc, &c->tls, err, sizeof err) != 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", err);
                return TKV_USAGE_ERROR;
        }
        if (opts->tls_server_name != NULL) {
                snprintf(c->tls_server_name, sizeof c->tls_server_name, "%s",
                         opts->tls_server_name);
        }
        return TKV_OK;
}

/* Whether zone is a label [node.N] zone could carry: up to 63 letters,
 * digits, '.', '_' and '-' (cmap.c's rule). */
static bool client_zone_valid(const char *zone)
{
        size_t len = strlen(zone);

        if (len >= MAP_ZONE_BYTES) {
                return false;
        }
        for (size_t i = 0; i < len; i++) {
                char ch = zone[i];
                if (!isalnum((unsigned char)ch) && ch != '.' && ch != '_' && ch != '-') {
                        return false;
                }
        }
        return true;
}

/* The client's zone: opts->zone, else $TKV_ZONE, else none. A label no
 * node could carry is a usage error rather than a zone that never matches,
 * so that a typo shows at once. */
static int client_configure_zone(struct tkv_client *c, const struct tkv_options *opts)
{
        const char *zone = opts != NULL ? opts->zone : NULL;

        if (zone == NULL || zone[0] == '\0') {
                zone = getenv("TKV_ZONE");
        }
        if (zone == NULL) {
                return TKV_OK;
        }
        if (!client_zone_valid(zone)) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "zone \"%.80s\": up to %d letters, digits, '.', '_' and '-'", zone,
                         MAP_ZONE_BYTES - 1);
                return TKV_USAGE_ERROR;
        }
        snprintf(c->zone, sizeof(c->zone), "%s", zone);
        return TKV_OK;
}

/* Apply opts (borrowed, may be NULL) to a zeroed client. */
static int client_configure(struct tkv_client *c, const struct tkv_options *opts)
{
        const char *endpoints = opts != NULL ? opts->endpoints : NULL;
        int rv;

        if (endpoints == NULL || endpoints[0] == '\0') {
                endpoints = getenv("TUNEKV_ENDPOINTS");
        }
        if (endpoints == NULL || endpoints[0] == '\0') {
                endpoints = CLIENT_ENDPOINTS_DEFAULT;
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
        rv = client_configure_zone(c, opts);
        if (rv == TKV_OK) {
                rv = client_configure_tls(c, opts);
        }
        if (rv == TKV_OK) {
                rv = client_auth_configure(c, opts != NULL ? opts->user : NULL,
                                           opts != NULL ? opts->password : NULL);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        rv = client_open_endpoints(c, endpoints);
        if (rv != TKV_OK) {
                return rv;
        }
        c->slots = tkv_calloc(64, sizeof(*c->slots));
        if (c->slots == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
                return TKV_NO_MEMORY;
        }
        c->slots_mask = 63;
        c->client_id = client_random_id(c);
        /* Random, so that short-lived clients (one read per process) spread
         * over the replicas too rather than all starting at the first. */
        c->rr = c->client_id;
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
        c->epfd = -1;
        c->timerfd = -1;
        queue_init(&c->wait_map);
        queue_init(&c->backoff);
        buffer_init(&c->scratch);
        deadline_heap_init(&c->wakes);
        map_init(&c->map);
        token_init(&c->session);
        c->next_id = 1;
        c->next_seq = 1;
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
        struct client_req *r;
        unsigned i;
        bool unknown;

        if (c == NULL) {
                return;
        }
        c->closing = true;
        for (i = 0; i < c->n_peers; i++) {
                client_peer_close(c, c->peers[i]);
        }
        while ((r = client_wake_first(c)) != NULL) {
                if (r->internal) {
                        client_req_unlist(c, r);
                        deadline_heap_remove(&c->wakes, &r->wake);
                        c->n_internal--;
                        tkv_free(r);
                        continue;
                }
                unknown = r->kind == CLIENT_WRITE &&
                          (r->state == CLIENT_INFLIGHT || r->retry.maybe_applied);
                client_req_fail(c, r, unknown ? TKV_OUTCOME_UNKNOWN : TKV_CONNECTION_CLOSED,
                                unknown ? "client destroyed; the write may or may not have "
                                          "been applied"
                                        : "client destroyed");
        }
        c->map_req = NULL;
        client_free(c);
}
