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
 *      round-trip estimate of each, and which this read failed on already.
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
 * (late answers to abandoned attempts) are counted and dropped. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec.h"
#include "deadline.h"
#include "heap.h"
#include "link.h"
#include "map.h"
#include "queue.h"
#include "retry.h"
#include "token.h"

#define CLIENT_ENDPOINTS_DEFAULT  "127.0.0.1:7001"
#define CLIENT_TIMEOUT_MS_DEFAULT 5000u
#define CLIENT_CONNECT_MS_DEFAULT 2000u
#define CLIENT_INFLIGHT_DEFAULT   1024u
#define CLIENT_INFLIGHT_MAX       (1u << 20)
#define CLIENT_IDLE_CHECK_MS      1000       /* see client_send_peer */
#define CLIENT_PENDING_MAX        (1u << 20) /* user requests queued or in flight */
#define CLIENT_GRACE_MS           500u
#define CLIENT_REFRESH_MS         100  /* at most one map fetch started per this */
#define CLIENT_DOWN_MS            1000 /* a peer that failed this recently is skipped */
#define CLIENT_PEERS_MAX          256  /* endpoints plus node addresses */
#define CLIENT_EVENTS             64   /* epoll events taken per wait */
#define CLIENT_ERRMSG_BYTES       512
#define CLIENT_MSG_BYTES          256 /* a request's last failure */

/* NEAREST: a round-trip estimate older than this counts as none (so that a
 * replica once slow is measured again), and a new sample moves it by 1/8. */
#define CLIENT_RTT_STALE_MS 10000
#define CLIENT_RTT_WEIGHT   8

enum client_kind { CLIENT_READ, CLIENT_WRITE, CLIENT_STATUS, CLIENT_INFO };

/* Where a pending request is; see the table at the top. */
enum client_state {
        CLIENT_DETACHED, /* on no list: being moved, or completing */
        CLIENT_WAIT_MAP,
        CLIENT_BACKOFF,
        CLIENT_QUEUED,
        CLIENT_INFLIGHT,
};

/* One place requests can be sent to: an endpoint of the caller's list or a
 * node's client address, with at most one connection. A node reachable
 * under two addresses (an endpoint spelled differently from the cluster's
 * client_addr) has two peers with the same node_id; routing prefers the one
 * whose connection is open. Peers live until the client is destroyed. */
struct client_peer {
        struct client_endpoint addr;
        uint32_t node_id;  /* 0 until a map or an answer names it */
        bool endpoint;     /* from the caller's endpoint list */
        int64_t failed_ms; /* last failed connect; 0: none */
        int64_t heard_ms;  /* last answer read; 0: none */

        /* For reads that any replica may serve. */
        int64_t unhealthy_ms; /* last UNAVAILABLE or BUSY answer; 0: none */
        int64_t rtt_ms;       /* when rtt_us was last sampled; 0: never */
        uint32_t rtt_us;      /* moving average of served reads' round trips */

        struct link link;
        struct queue queued;   /* routed here, not on the link yet */
        struct queue inflight; /* on the link, in sending order */
        size_t n_queued;
        size_t n_inflight;
        uint32_t events; /* registered with epoll; 0 when not registered */
};

/* One request from the async call until its callback ran. */
struct client_req {
        uint64_t id; /* of the attempt on the wire; 0 when none */
        enum client_kind kind;
        enum codec_op code;
        enum client_state state;
        const char *op;           /* "get", "put", ...: prefixes messages */
        bool internal;            /* the client's own map fetch: counted apart */
        bool no_forward;          /* of the attempt being queued */
        struct client_peer *peer; /* QUEUED, INFLIGHT */
        uint32_t partition;       /* keyed: of the key, in the map used last */
        uint32_t target;          /* keyed: node routed to last; 0: none, or forwarded */
        unsigned routes;          /* keyed: routings so far (replicas in turn, no leader) */
        uint32_t status_node;     /* STATUS: the node asked for; 0: an endpoint */
        unsigned first_endpoint;  /* STATUS, CLUSTER_INFO: endpoint tried first, so the
                                     candidates stay in order while endpoint_next moves */
        unsigned tries;           /* STATUS, CLUSTER_INFO: places tried */
        uint64_t stream_end;      /* link out_queued_bytes once this attempt was queued */
        int64_t sent_us;          /* monotonic, when the attempt went on the link */
        size_t frame_len;         /* bytes of the attempt's frame */
        unsigned timeout_ms;      /* the deadline asked for, for messages */
        struct deadline wake;     /* at_ms: monotonic wake_ms; see the state table */
        struct retry retry;       /* deadline, attempts, what a write may have done */
        struct queue q;           /* on the list of its state */
        const uint8_t *key;       /* copies, in the request's own allocation */
        size_t key_len;
        const uint8_t *value;
        size_t value_len;
        const uint8_t *token; /* the session token when submitted, if it travels */
        size_t token_len;
        uint64_t expected_version; /* CAS */
        uint64_t seq;              /* writes: this write's sequence number */

        /* Spread reads: the nodes that failed this read in this round. */
        uint32_t tried[MAP_REPLICAS_MAX + 1];
        unsigned n_tried;

        bool has_read;
        struct tkv_read_options read;
        bool has_write;
        struct tkv_write_options write;
        char msg[CLIENT_MSG_BYTES]; /* why the last attempt failed */
        tkv_done_cb cb;
        void *arg;
};

/* A slot of the open-addressing id map; id 0 marks an empty slot (ids start
 * at 1). */
struct client_slot {
        uint64_t id;
        struct client_req *req;
};

struct tkv_client {
        struct client_peer **peers; /* the endpoints first, in list order */
        unsigned n_peers;
        unsigned n_endpoints;
        unsigned endpoint_next;      /* endpoint tried first for STATUS/CLUSTER_INFO */
        unsigned timeout_ms;         /* default per-request deadline */
        unsigned connect_timeout_ms; /* per endpoint */
        unsigned max_inflight;       /* requests on one link at once */
        uint64_t client_id;          /* random, non-zero: names our writes */
        uint64_t next_seq;           /* of the next write, from 1 */
        uint64_t next_id;            /* of the next attempt, from 1 */
        struct map map;
        bool map_unsupported;       /* the server refused CLUSTER_INFO: no routing */
        struct client_req *map_req; /* the client's own CLUSTER_INFO, or NULL */
        int64_t map_fetched_ms;     /* when the last one started; 0: never */
        struct queue wait_map;      /* requests waiting for a map */
        struct queue backoff;       /* requests waiting to be tried again */
        size_t n_pending;           /* user requests not completed */
        size_t n_internal;          /* the client's own requests */
        struct client_slot *slots;  /* requests in flight, by attempt id */
        size_t slots_mask;          /* slot count minus one */
        size_t n_ids;               /* ids in the map */
        struct deadline_heap wakes; /* every pending request, by wake.at_ms */
        struct buffer scratch;      /* the frame being encoded */
        int epfd;                   /* epoll over the links and the timer */
        int timerfd;                /* armed at the heap's first wake_ms */
        int64_t timer_ms;           /* what the timer is armed at; 0: disarmed */
        bool fd_exported;           /* tkv_fd() was called: keep the timer armed */
        uint64_t completions;       /* user callbacks run since creation */
        uint64_t unknown_answers;   /* answers for ids not in flight */
        uint64_t rr;                /* replica choices so far: round robin */
        uint64_t bad_tokens;        /* answer tokens that did not parse, dropped */
        size_t session_len;         /* bytes of session_bytes in use; 0: empty */
        int dispatching;            /* >0 while a callback runs */
        bool closing;               /* inside tkv_client_destroy */
        char errmsg[CLIENT_ERRMSG_BYTES];

        /* The session token, and its encoding (what requests carry). */
        struct token session;
        uint8_t session_bytes[TOKEN_BYTES_MAX];
};

static int64_t client_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t client_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool client_is_keyed(const struct client_req *r)
{
        return r->kind == CLIENT_READ || r->kind == CLIENT_WRITE;
}

/* Whether r is a read that any replica of its partition may serve: a level
 * below LINEARIZABLE and a route other than LEADER. Everything else goes to
 * the leader. */
/* A read the caller sent to one node (tkv_read_options.node_id). */
static bool client_pinned(const struct client_req *r)
{
        return r->kind == CLIENT_READ && r->has_read && r->read.node_id != 0;
}

static bool client_spread(const struct client_req *r)
{
        return r->kind == CLIENT_READ && r->has_read && r->read.level != TKV_LINEARIZABLE &&
               r->read.route != TKV_ROUTE_LEADER && !client_pinned(r);
}

/* ---- Status names ---- */

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

/* ---- Endpoint list ---- */

/* Split one trimmed entry [s, s + len) into host and port. */
static int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *e, char *errmsg,
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

/* ---- Id map: open addressing, linear probing, backward-shift delete ---- */

static size_t client_ids_home(const struct tkv_client *c, uint64_t id)
{
        return (size_t)id & c->slots_mask; /* ids are sequential: no clustering */
}

/* Insert without growing; there is always a free slot (at most half full). */
static void client_ids_insert(struct tkv_client *c, uint64_t id, struct client_req *r)
{
        size_t i = client_ids_home(c, id);

        while (c->slots[i].id != 0) {
                i = (i + 1) & c->slots_mask;
        }
        c->slots[i].id = id;
        c->slots[i].req = r;
}

/* Double the slots once the map would be more than half full. */
static int client_ids_reserve(struct tkv_client *c)
{
        struct client_slot *old = c->slots;
        size_t old_count = c->slots_mask + 1;
        size_t i;

        if ((c->n_ids + 1) * 2 <= old_count) {
                return TKV_OK;
        }
        c->slots = tkv_calloc(old_count * 2, sizeof(*c->slots));
        if (c->slots == NULL) {
                c->slots = old;
                return TKV_NO_MEMORY;
        }
        c->slots_mask = old_count * 2 - 1;
        for (i = 0; i < old_count; i++) {
                if (old[i].id != 0) {
                        client_ids_insert(c, old[i].id, old[i].req);
                }
        }
        tkv_free(old);
        return TKV_OK;
}

static size_t client_ids_find(const struct tkv_client *c, uint64_t id)
{
        size_t i = client_ids_home(c, id);

        while (c->slots[i].id != 0) {
                if (c->slots[i].id == id) {
                        return i;
                }
                i = (i + 1) & c->slots_mask;
        }
        return SIZE_MAX;
}

static void client_ids_del(struct tkv_client *c, uint64_t id)
{
        size_t i = client_ids_find(c, id);
        size_t j;
        size_t home;

        if (i == SIZE_MAX) {
                return;
        }
        /* Pull back later entries of the probe run that may not stay behind
         * the hole, so lookups never stop early. */
        for (j = (i + 1) & c->slots_mask; c->slots[j].id != 0; j = (j + 1) & c->slots_mask) {
                home = client_ids_home(c, c->slots[j].id);
                if (((j - home) & c->slots_mask) >= ((j - i) & c->slots_mask)) {
                        c->slots[i] = c->slots[j];
                        i = j;
                }
        }
        c->slots[i].id = 0;
        c->slots[i].req = NULL;
        c->n_ids--;
}

/* ---- Wake-ups: the shared deadline heap (src/deadline.c) ---- */

/* The pending request that wakes first, or NULL. */
static struct client_req *client_wake_first(const struct tkv_client *c)
{
        struct deadline *d = deadline_heap_min(&c->wakes);

        return d != NULL ? QUEUE_DATA(d, struct client_req, wake) : NULL;
}

/* Move r to wake at wake_ms. */
static void client_wake_move(struct tkv_client *c, struct client_req *r, int64_t wake_ms)
{
        r->wake.at_ms = (uint64_t)wake_ms;
        deadline_heap_update(&c->wakes, &r->wake);
}

/* ---- Peers ---- */

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

static void client_peer_close(struct tkv_client *c, struct client_peer *p)
{
        if (p->events != 0) {
                epoll_ctl(c->epfd, EPOLL_CTL_DEL, p->link.fd, NULL);
                p->events = 0;
        }
        link_close(&p->link);
}

static void client_peer_free(struct client_peer *p)
{
        if (p != NULL) {
                link_close(&p->link);
                tkv_free(p);
        }
}

/* A new peer for addr (copied), or NULL when out of memory or at
 * CLIENT_PEERS_MAX. */
static struct client_peer *client_peer_add(struct tkv_client *c, const struct client_endpoint *addr,
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
static unsigned client_peer_index(const struct tkv_client *c, const struct client_peer *p)
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
static struct client_peer *client_peer_for_node(struct tkv_client *c, uint32_t id)
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
static void client_peers_sync(struct tkv_client *c)
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
static struct client_peer *client_default_peer(const struct tkv_client *c)
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

/* Connect p and watch its socket. On failure p->link.errmsg says why. */
static int client_peer_open(struct tkv_client *c, struct client_peer *p)
{
        if (link_connect(&p->link, p->addr.host, p->addr.port, c->connect_timeout_ms) != 0 ||
            client_peer_watch(c, p) != TKV_OK) {
                link_close(&p->link);
                client_peer_failed(c, p);
                snprintf(c->errmsg, sizeof(c->errmsg), "cannot connect to %.100s: %.200s",
                         p->addr.name, p->link.errmsg);
                return TKV_CONNECT_FAILED;
        }
        p->failed_ms = 0;
        return TKV_OK;
}

/* ---- Request lifecycle ---- */

/* A request with copies of key, value and token (borrowed; token_len 0:
 * none), in the heap at its deadline and on no list; NULL when out of
 * memory. */
static struct client_req *client_req_new(struct tkv_client *c, enum client_kind kind,
                                         enum codec_op code, const char *op, unsigned timeout_ms,
                                         const struct codec_request *req)
{
        struct client_req *r =
            tkv_calloc(1, sizeof(*r) + req->key_len + req->value_len + req->token_len);
        uint8_t *data;

        if (r == NULL) {
                return NULL;
        }
        data = (uint8_t *)(r + 1);
        if (req->key_len > 0) {
                memcpy(data, req->key, req->key_len);
        }
        if (req->value_len > 0) {
                memcpy(data + req->key_len, req->value, req->value_len);
        }
        if (req->token_len > 0) {
                memcpy(data + req->key_len + req->value_len, req->token, req->token_len);
                r->token = data + req->key_len + req->value_len;
                r->token_len = req->token_len;
        }
        r->key = data;
        r->key_len = req->key_len;
        r->value = req->value != NULL ? data + req->key_len : NULL;
        r->value_len = req->value_len;
        r->kind = kind;
        r->code = code;
        r->op = op;
        r->state = CLIENT_DETACHED;
        r->timeout_ms = timeout_ms;
        r->first_endpoint = c->endpoint_next;
        queue_init(&r->q);
        retry_init(&r->retry, kind == CLIENT_WRITE, client_now_ms() + timeout_ms);
        r->wake.at_ms = (uint64_t)r->retry.deadline_ms;
        if (deadline_heap_push(&c->wakes, &r->wake) != 0) {
                tkv_free(r);
                return NULL;
        }
        return r;
}

/* Take r off the list of its state (and an attempt's id out of the id
 * map); it stays in the heap. */
static void client_req_unlist(struct tkv_client *c, struct client_req *r)
{
        switch (r->state) {
        case CLIENT_QUEUED:
                r->peer->n_queued--;
                break;
        case CLIENT_INFLIGHT:
                r->peer->n_inflight--;
                client_ids_del(c, r->id);
                r->id = 0;
                break;
        default:
                break;
        }
        queue_remove(&r->q);
        r->state = CLIENT_DETACHED;
        r->peer = NULL;
}

/* Put r on list in state, to wake at wake_ms. */
static void client_req_park(struct tkv_client *c, struct client_req *r, enum client_state state,
                            struct queue *list, int64_t wake_ms)
{
        client_req_unlist(c, r);
        r->state = state;
        queue_push_tail(list, &r->q);
        client_wake_move(c, r, wake_ms);
}

/* Run r's callback with res (borrowed) and free r. */
static void client_complete(struct tkv_client *c, struct client_req *r,
                            const struct tkv_result *res)
{
        client_req_unlist(c, r);
        deadline_heap_remove(&c->wakes, &r->wake);
        if (r->internal) {
                c->n_internal--;
        } else {
                c->n_pending--;
                c->completions++;
        }
        c->dispatching++;
        r->cb(c, res, r->arg);
        c->dispatching--;
        tkv_free(r);
}

static void client_complete_error(struct tkv_client *c, struct client_req *r, int status,
                                  const char *message)
{
        struct tkv_result res;

        memset(&res, 0, sizeof(res));
        res.status = status;
        res.message = message;
        res.receipt.staleness_ms = -1;
        client_complete(c, r, &res);
}

/* Complete keyed request r with what retry_status() says, when no more
 * attempts fit before its deadline. res (borrowed, may be NULL) is the last
 * answer, whose fields (a leader hint) are passed on. */
static void client_give_up(struct tkv_client *c, struct client_req *r, const struct tkv_result *res)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct tkv_result out;
        unsigned n = r->retry.attempts;
        int status = retry_status(&r->retry);

        if (n == 0 && r->retry.status == TKV_OK) {
                snprintf(msg, sizeof(msg), "%s: no answer within %u ms (never sent)", r->op,
                         r->timeout_ms);
        } else if (n == 0) {
                snprintf(msg, sizeof(msg), "%s: could not be sent within %u ms (%s%s%.200s)", r->op,
                         r->timeout_ms, tkv_status_name(r->retry.status),
                         r->msg[0] != '\0' ? ": " : "", r->msg);
        } else {
                snprintf(msg, sizeof(msg),
                         "%s: gave up after %u attempt%s within %u ms (last: %s%s%.200s)%s", r->op,
                         n, n == 1 ? "" : "s", r->timeout_ms, tkv_status_name(r->retry.status),
                         r->msg[0] != '\0' ? ": " : "", r->msg,
                         status == TKV_OUTCOME_UNKNOWN
                             ? "; the write may or may not have been applied"
                             : "");
        }
        if (res != NULL) {
                out = *res;
        } else {
                memset(&out, 0, sizeof(out));
                out.receipt.staleness_ms = -1;
        }
        out.status = status;
        out.message = msg;
        client_complete(c, r, &out);
}

/* ---- Routing ---- */

static void client_route(struct tkv_client *c, struct client_req *r);
static void client_map_cb(struct tkv_client *c, const struct tkv_result *res, void *arg);

/* Queue r on p; the link takes it in tkv_poll. */
static void client_enqueue(struct tkv_client *c, struct client_req *r, struct client_peer *p)
{
        client_req_park(c, r, CLIENT_QUEUED, &p->queued, r->retry.deadline_ms);
        r->peer = p;
        p->n_queued++;
}

/* Start fetching the partition map unless a fetch is under way or (unless
 * force) one started less than CLIENT_REFRESH_MS ago. Returns whether a
 * fetch is under way now. */
static bool client_map_refresh(struct tkv_client *c, bool force)
{
        int64_t now_ms = client_now_ms();
        struct codec_request req;
        struct client_req *r;

        if (c->map_req != NULL) {
                return true;
        }
        if (c->closing ||
            (!force && c->map_fetched_ms != 0 && now_ms - c->map_fetched_ms < CLIENT_REFRESH_MS)) {
                return false;
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_CLUSTER_INFO;
        r = client_req_new(c, CLIENT_INFO, CODEC_CLUSTER_INFO, "cluster_info", c->timeout_ms, &req);
        if (r == NULL) {
                return false;
        }
        r->internal = true;
        r->cb = client_map_cb;
        c->n_internal++;
        c->map_req = r;
        c->map_fetched_ms = now_ms;
        client_route(c, r);
        return true;
}

/* ---- Replicas for reads that need not go to the leader ---- */

/* Whether p failed recently: a connection (while its link is closed) or
 * an answer saying it cannot serve. */
static bool client_peer_down(const struct client_peer *p, int64_t now_ms)
{
        if (p->unhealthy_ms != 0 && now_ms - p->unhealthy_ms < CLIENT_DOWN_MS) {
                return true;
        }
        return !link_is_open(&p->link) && p->failed_ms != 0 &&
               now_ms - p->failed_ms < CLIENT_DOWN_MS;
}

static bool client_has_id(const uint32_t *ids, unsigned n, uint32_t id)
{
        unsigned i;

        for (i = 0; i < n; i++) {
                if (ids[i] == id) {
                        return true;
                }
        }
        return false;
}

/* The replicas of r's partition (and its leader, should the map name one
 * outside them) that a peer can reach, as map_choose candidates, with
 * their peers. Returns how many. */
static unsigned client_candidates(struct tkv_client *c, const struct client_req *r,
                                  struct map_candidate *cands, struct client_peer **peers)
{
        const struct map_partition *mp = &c->map.partitions[r->partition];
        uint32_t ids[MAP_REPLICAS_MAX + 1];
        int64_t now_ms = client_now_ms();
        unsigned n_ids = mp->n_replicas;
        struct client_peer *p;
        unsigned n = 0;
        unsigned i;

        memcpy(ids, mp->replicas, n_ids * sizeof(ids[0]));
        if (mp->leader_id != 0 && !client_has_id(ids, n_ids, mp->leader_id)) {
                ids[n_ids++] = mp->leader_id;
        }
        for (i = 0; i < n_ids; i++) {
                p = client_peer_for_node(c, ids[i]);
                if (p == NULL) {
                        continue;
                }
                memset(&cands[n], 0, sizeof(cands[n]));
                cands[n].node_id = ids[i];
                cands[n].leader = ids[i] == mp->leader_id;
                cands[n].down = client_peer_down(p, now_ms);
                cands[n].tried = client_has_id(r->tried, r->n_tried, ids[i]);
                cands[n].measured = p->rtt_ms != 0 && now_ms - p->rtt_ms < CLIENT_RTT_STALE_MS;
                cands[n].rtt_us = p->rtt_us;
                peers[n] = p;
                n++;
        }
        return n;
}

/* The replica for the next attempt of spread read r, as its route says
 * (map_choose); NULL when the map names none that a peer can reach. Once
 * every replica failed r, a new round starts. */
static struct client_peer *client_pick_replica(struct tkv_client *c, struct client_req *r,
                                               uint32_t *node)
{
        struct map_candidate cands[MAP_REPLICAS_MAX + 1];
        struct client_peer *peers[MAP_REPLICAS_MAX + 1];
        unsigned n = client_candidates(c, r, cands, peers);
        unsigned k;

        *node = 0;
        if (n == 0) {
                return NULL;
        }
        k = map_choose(cands, n, r->read.route, c->rr++);
        if (cands[k].tried) {
                r->n_tried = 0;
        }
        *node = cands[k].node_id;
        return peers[k];
}

/* Whether spread read r has a replica that is up and that it did not fail
 * on this round: retry.c then resends at once (r->retry.elsewhere). */
static bool client_has_elsewhere(struct tkv_client *c, const struct client_req *r)
{
        struct map_candidate cands[MAP_REPLICAS_MAX + 1];
        struct client_peer *peers[MAP_REPLICAS_MAX + 1];
        unsigned n;
        unsigned i;

        if (!client_spread(r) || !c->map.valid || r->partition >= c->map.partition_count) {
                return false;
        }
        n = client_candidates(c, r, cands, peers);
        for (i = 0; i < n; i++) {
                if (!cands[i].tried && !cands[i].down) {
                        return true;
                }
        }
        return false;
}

/* The attempt of r on node r->target failed: a spread read avoids that
 * node for the rest of this round. */
static void client_note_tried(struct client_req *r)
{
        if (client_spread(r) && r->target != 0 && r->n_tried < MAP_REPLICAS_MAX + 1 &&
            !client_has_id(r->tried, r->n_tried, r->target)) {
                r->tried[r->n_tried++] = r->target;
        }
}

/* A served read's round trip on p (NEAREST): a moving average, restarted
 * when the last sample is stale. Only answers that took no consensus round
 * on the server count (reads below LINEARIZABLE), so that the estimate
 * measures distance more than the server's work. */
static void client_rtt_sample(struct client_peer *p, const struct client_req *r, int status)
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

/* ---- Retries ---- */

/* What retry.c says after an attempt of keyed request r ended; asks for a
 * fresh map when the failure suggests the map is stale. */
static enum retry_action client_decide(struct tkv_client *c, struct client_req *r,
                                       enum retry_end end, int status, bool has_hint,
                                       int64_t *at_ms)
{
        if (retry_wants_refresh(end, status, has_hint)) {
                client_map_refresh(c, false);
        }
        r->retry.elsewhere = client_has_elsewhere(c, r);
        return retry_next(&r->retry, end, status, has_hint, client_now_ms(), at_ms);
}

/* An attempt of keyed request r ended without an answer to deliver (r->msg
 * says why): resend, back off or give up. */
static void client_retry(struct tkv_client *c, struct client_req *r, enum retry_end end, int status)
{
        int64_t at_ms = 0;

        if (end == RETRY_END_LOST || end == RETRY_END_REFUSED) {
                client_note_tried(r);
        }
        switch (client_decide(c, r, end, status, false, &at_ms)) {
        case RETRY_NOW:
                client_route(c, r);
                break;
        case RETRY_LATER:
                client_req_park(c, r, CLIENT_BACKOFF, &c->backoff, at_ms);
                break;
        case RETRY_DELIVER:
        case RETRY_GIVE_UP:
                client_give_up(c, r, NULL);
                break;
        }
}

/* The node (*node) and peer for the next attempt of r: the leader of its
 * partition, or with no leader known the replicas in turn, skipping those
 * whose connection failed in the last CLIENT_DOWN_MS unless all did. */
static struct client_peer *client_pick(struct tkv_client *c, struct client_req *r, uint32_t *node)
{
        const struct map_partition *mp = &c->map.partitions[r->partition];
        int64_t now_ms = client_now_ms();
        struct client_peer *first = NULL;
        struct client_peer *p;
        unsigned i;
        uint32_t id;

        *node = 0;
        for (i = 0; i < MAP_REPLICAS_MAX; i++) {
                id = map_target(&c->map, r->partition, r->routes + i);
                p = id != 0 ? client_peer_for_node(c, id) : NULL;
                if (i == 0) {
                        first = p;
                        *node = id;
                }
                if (p != NULL && (link_is_open(&p->link) || p->failed_ms == 0 ||
                                  now_ms - p->failed_ms >= CLIENT_DOWN_MS)) {
                        *node = id;
                        r->routes += i;
                        return p;
                }
                if (mp->leader_id != 0 || i + 1 >= mp->n_replicas) {
                        break;
                }
        }
        return first;
}

/* GET, PUT, DELETE, CAS: to the leader of the key's partition, or for a
 * spread read to the replica its route picks. */
static void client_route_key(struct tkv_client *c, struct client_req *r)
{
        struct client_peer *p = NULL;
        uint32_t node = 0;

        if (!c->map.valid && !c->map_unsupported) {
                if (client_map_refresh(c, false)) {
                        client_req_park(c, r, CLIENT_WAIT_MAP, &c->wait_map, r->retry.deadline_ms);
                } else {
                        client_retry(c, r, RETRY_END_NO_ROUTE, TKV_OK);
                }
                return;
        }
        if (c->map.valid && client_pinned(r)) {
                /* That node serves it or forwards it: never elsewhere. */
                r->partition = map_partition_of(&c->map, r->key, r->key_len);
                p = client_peer_for_node(c, r->read.node_id);
                if (p == NULL) {
                        client_retry(c, r, RETRY_END_NO_ROUTE, TKV_OK);
                        return;
                }
                r->routes++;
                r->no_forward = false;
                r->target = r->read.node_id;
                client_enqueue(c, r, p);
                return;
        }
        if (c->map.valid) {
                r->partition = map_partition_of(&c->map, r->key, r->key_len);
                p = client_spread(r) ? client_pick_replica(c, r, &node) : NULL;
                if (p == NULL) {
                        p = client_pick(c, r, &node);
                }
                r->routes++;
        }
        /* With no way to reach the node, ask an endpoint to forward. */
        r->no_forward = p != NULL;
        r->target = p != NULL ? node : 0;
        client_enqueue(c, r, p != NULL ? p : client_default_peer(c));
}

/* Candidate number k for a STATUS of "the node we talk to" (endpoints
 * only) or a CLUSTER_INFO (endpoints, then every other known peer). */
static struct client_peer *client_admin_candidate(const struct tkv_client *c,
                                                  const struct client_req *r)
{
        if (r->tries < c->n_endpoints) {
                return c->peers[(r->first_endpoint + r->tries) % c->n_endpoints];
        }
        if (r->kind == CLIENT_INFO && r->tries < c->n_peers) {
                return c->peers[r->tries];
        }
        return NULL;
}

/* STATUS of node r->node_id, once a map says where it is. */
static void client_route_status_node(struct tkv_client *c, struct client_req *r, uint32_t node_id)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_peer *p;

        if (!c->map.valid) {
                if (!c->map_unsupported && client_map_refresh(c, true)) {
                        client_req_park(c, r, CLIENT_WAIT_MAP, &c->wait_map, r->retry.deadline_ms);
                        return;
                }
                snprintf(msg, sizeof(msg), "status: no partition map to find node %u in",
                         (unsigned)node_id);
                client_complete_error(c, r, TKV_USAGE_ERROR, msg);
                return;
        }
        p = client_peer_for_node(c, node_id);
        if (p == NULL) {
                snprintf(msg, sizeof(msg), "status: node %u is not in the cluster",
                         (unsigned)node_id);
                client_complete_error(c, r, TKV_USAGE_ERROR, msg);
                return;
        }
        client_enqueue(c, r, p);
}

/* STATUS and CLUSTER_INFO. */
static void client_route_admin(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_peer *p;

        if (r->kind == CLIENT_STATUS && r->status_node != 0) {
                client_route_status_node(c, r, r->status_node);
                return;
        }
        p = client_admin_candidate(c, r);
        if (p == NULL) {
                snprintf(msg, sizeof(msg), "%s: cannot connect to any %s (%s)", r->op,
                         r->kind == CLIENT_INFO ? "node" : "endpoint", r->msg);
                client_complete_error(c, r, TKV_CONNECT_FAILED, msg);
                return;
        }
        client_enqueue(c, r, p);
}

static void client_route(struct tkv_client *c, struct client_req *r)
{
        if (client_is_keyed(r)) {
                client_route_key(c, r);
        } else {
                client_route_admin(c, r);
        }
}

/* ---- The partition map ---- */

/* Route the requests that waited for a map (one arrived, or the server
 * turned out not to have one). */
static void client_map_release(struct tkv_client *c)
{
        struct queue batch;
        struct client_req *r;

        queue_init(&batch);
        queue_move(&batch, &c->wait_map);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                client_route(c, r);
        }
}

/* The map changed: requests backing off whose partition now has a known
 * leader other than the node they tried go to it at once, rather than
 * wait out a backoff meant for a cluster that has not changed yet. Spread
 * reads do not follow leaders: they wait out their backoff. */
static void client_wake_moved(struct tkv_client *c)
{
        struct queue batch;
        struct client_req *r;
        uint32_t leader;

        if (!c->map.valid) {
                return;
        }
        queue_init(&batch);
        queue_move(&batch, &c->backoff);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                queue_remove(&r->q);
                queue_push_tail(&c->backoff, &r->q);
                leader = c->map.partitions[map_partition_of(&c->map, r->key, r->key_len)].leader_id;
                if (client_is_keyed(r) && !client_spread(r) && !client_pinned(r) && leader != 0 &&
                    leader != r->target) {
                        client_req_unlist(c, r);
                        client_route(c, r);
                }
        }
}

/* The map fetch failed with status (message borrowed): keyed requests that
 * waited for it back off, STATUS requests for a node fail. */
static void client_map_failed(struct tkv_client *c, int status, const char *message)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct queue batch;
        struct client_req *r;

        queue_init(&batch);
        queue_move(&batch, &c->wait_map);
        while (!queue_empty(&batch)) {
                r = QUEUE_DATA(queue_head(&batch), struct client_req, q);
                client_req_unlist(c, r);
                if (client_is_keyed(r)) {
                        snprintf(r->msg, sizeof(r->msg), "no partition map: %s", message);
                        client_retry(c, r, RETRY_END_NO_ROUTE, status);
                } else {
                        snprintf(msg, sizeof(msg), "%s: no partition map: %s", r->op, message);
                        client_complete_error(c, r, status, msg);
                }
        }
}

/* tkv_done_cb of the client's own CLUSTER_INFO. A good answer has updated
 * the map already (client_on_info). */
static void client_map_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        (void)arg;
        c->map_req = NULL;
        if (res->status == TKV_OK) {
                client_map_release(c);
        } else if (res->status == TKV_INVALID_ARGUMENT) {
                /* A server without CLUSTER_INFO: send everything to the
                 * endpoints, as a client without routing would. */
                c->map_unsupported = true;
                client_map_release(c);
        } else {
                client_map_failed(c, res->status, res->message);
        }
}

/* ---- Sending ---- */

/* Encode the next attempt of r, with id, into c->scratch. */
static int client_encode(struct tkv_client *c, const struct client_req *r, uint64_t id)
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
static void client_move_queued(struct tkv_client *c, struct client_peer *p)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct client_req *r;

        while (!queue_empty(&p->queued) && p->n_inflight < c->max_inflight &&
               link_is_open(&p->link)) {
                r = QUEUE_DATA(queue_head(&p->queued), struct client_req, q);
                if (client_ids_reserve(c) != TKV_OK || client_encode(c, r, c->next_id) != TKV_OK ||
                    link_queue(&p->link, buffer_data(&c->scratch), buffer_len(&c->scratch)) != 0) {
                        snprintf(msg, sizeof(msg), "%s: out of memory queueing the request", r->op);
                        client_complete_error(c, r, TKV_NO_MEMORY, msg);
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

/* Append "name: why" to a STATUS or CLUSTER_INFO request's list of places
 * that failed, and move on to its next candidate. */
static void client_admin_next(struct tkv_client *c, struct client_req *r, const char *name,
                              const char *why)
{
        size_t len = strlen(r->msg);

        snprintf(r->msg + len, sizeof(r->msg) - len, "%s%.100s: %.100s", len > 0 ? "; " : "", name,
                 why);
        r->tries++;
        client_route(c, r);
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
                        client_retry(c, r, RETRY_END_REFUSED, TKV_CONNECT_FAILED);
                } else if (r->kind == CLIENT_STATUS && r->status_node != 0) {
                        snprintf(msg, sizeof(msg),
                                 "status: cannot connect to node %u at %.100s: %.200s",
                                 (unsigned)r->status_node, p->addr.name, p->link.errmsg);
                        client_complete_error(c, r, TKV_CONNECT_FAILED, msg);
                } else {
                        client_admin_next(c, r, p->addr.name, p->link.errmsg);
                }
        }
}

/* What a request whose attempt was on p's link when it broke does next.
 * unsent: none of its bytes reached the kernel. retryable: the link failed
 * (rather than the server speaking garbage). msg is borrowed. */
static void client_attempt_lost(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                                bool unsent, bool retryable, int status, const char *msg)
{
        char text[CLIENT_ERRMSG_BYTES];

        if (client_is_keyed(r)) {
                snprintf(r->msg, sizeof(r->msg), "%s", msg);
                if (unsent || retryable) {
                        client_retry(c, r, unsent ? RETRY_END_UNSENT : RETRY_END_LOST, status);
                        return;
                }
                snprintf(text, sizeof(text), "%s: %s%s", r->op, msg,
                         r->kind == CLIENT_WRITE ? "; the write may or may not have been applied"
                                                 : "");
                client_complete_error(c, r, r->kind == CLIENT_WRITE ? TKV_OUTCOME_UNKNOWN : status,
                                      text);
                return;
        }
        if (unsent && !(r->kind == CLIENT_STATUS && r->status_node != 0)) {
                client_admin_next(c, r, p->addr.name, "connection lost before sending");
                return;
        }
        snprintf(text, sizeof(text), "%s: %s", r->op, msg);
        client_complete_error(c, r, status, text);
}

/* Close p's link. Every attempt on it ends: see client_attempt_lost. status
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
                client_attempt_lost(c, r, p, unsent, retryable, status, msg);
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
static bool client_queued_unretried(const struct client_peer *p)
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
static void client_send_peer(struct tkv_client *c, struct client_peer *p)
{
        /* A server may close a connection that sat idle (a restart); find
         * out before a request goes into it. Reads and writes are retried
         * if it was closed, so a link that answered within the last second
         * is trusted for them (two syscalls fewer per request at one in
         * flight); STATUS and CLUSTER_INFO are not retried: always check. */
        if (link_is_open(&p->link) && p->n_inflight == 0 && !link_wants_write(&p->link) &&
            (client_now_ms() - p->heard_ms > CLIENT_IDLE_CHECK_MS || client_queued_unretried(p)) &&
            link_check_idle(&p->link) != 0) {
                client_peer_break(c, p, TKV_CONNECTION_CLOSED, p->link.errmsg, true);
        }
        if (!link_is_open(&p->link) && client_peer_open(c, p) != TKV_OK) {
                client_peer_refused(c, p);
                return;
        }
        client_move_queued(c, p);
        client_peer_flush(c, p);
}

/* Send what may be sent, on every peer. Callbacks run from here may add
 * peers; the loop sees them. */
static void client_send(struct tkv_client *c)
{
        unsigned i;

        for (i = 0; i < c->n_peers; i++) {
                if (c->peers[i]->n_queued > 0) {
                        client_send_peer(c, c->peers[i]);
                }
        }
}

/* ---- Receiving ---- */

static bool client_body_fits(enum client_kind kind, enum codec_body body)
{
        switch (kind) {
        case CLIENT_READ:
                return body == CODEC_BODY_GET;
        case CLIENT_WRITE:
                return body == CODEC_BODY_WRITE;
        case CLIENT_STATUS:
                return body == CODEC_BODY_STATUS;
        case CLIENT_INFO:
                return body == CODEC_BODY_CLUSTER;
        }
        return false;
}

/* An OK answer without the body its request needs. */
static void client_on_wrong_body(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        bool write = r->kind == CLIENT_WRITE;

        snprintf(msg, sizeof(msg), "%s: the server answered OK without the expected result%s",
                 r->op, write ? "; the write may or may not have been applied" : "");
        client_complete_error(c, r, write ? TKV_OUTCOME_UNKNOWN : TKV_PROTOCOL_ERROR, msg);
}

/* Merge an answer's token delta (borrowed) into the session token. A delta
 * that does not parse is a server bug: it is dropped and counted, and the
 * answer is delivered all the same (its read or write did happen). When the
 * session token is full, the entries merged least recently make room (see
 * token.c). */
static void client_token_absorb(struct tkv_client *c, const uint8_t *delta, size_t len)
{
        bool changed = false;

        if (len == 0) {
                return;
        }
        if (token_merge(&c->session, delta, len, true, &changed) != TKV_OK) {
                c->bad_tokens++;
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "token: dropped a token of %zu bytes in an answer: it does not parse",
                         len);
                return;
        }
        if (changed) {
                c->session_len =
                    token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        }
}

/* Record what an answer from p says about p, r's partition and the
 * session: the leader it names (NOT_LEADER, BOUND_UNMET), its token delta,
 * and for spread reads whether p could serve. Returns whether a NOT_LEADER
 * hint was kept (retry.c follows it at once). */
static bool client_absorb_answer(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                                 const struct tkv_result *res, const struct codec_extra *x)
{
        bool named = (res->status == TKV_NOT_LEADER || res->status == TKV_BOUND_UNMET) &&
                     res->leader_id != 0;
        bool has_hint = named && res->status == TKV_NOT_LEADER;
        uint64_t updates = c->map.updates;

        if (named && map_hint(&c->map, r->partition, res->leader_id, x->leader_addr) != TKV_OK) {
                has_hint = false; /* the hinted address could not be kept */
        }
        if (c->map.updates != updates) {
                client_wake_moved(c);
        }
        client_token_absorb(c, x->token, x->token_len);
        if (p != NULL && (res->status == TKV_UNAVAILABLE || res->status == TKV_BUSY)) {
                p->unhealthy_ms = client_now_ms();
        }
        switch (res->status) {
        case TKV_NOT_LEADER:
        case TKV_UNAVAILABLE:
        case TKV_NO_QUORUM:
        case TKV_BUSY:
        case TKV_TIMEOUT:
                client_note_tried(r);
                break;
        default:
                break;
        }
        return has_hint;
}

/* The answer to an attempt of keyed request r, from p. */
static void client_on_kv(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                         const struct tkv_result *res, const struct codec_extra *x)
{
        bool has_hint = client_absorb_answer(c, r, p, res, x);
        int64_t at_ms = 0;

        snprintf(r->msg, sizeof(r->msg), "%s", res->message);
        switch (client_decide(c, r, RETRY_END_ANSWER, res->status, has_hint, &at_ms)) {
        case RETRY_DELIVER:
                client_complete(c, r, res);
                break;
        case RETRY_GIVE_UP:
                client_give_up(c, r, res);
                break;
        case RETRY_NOW:
                client_route(c, r);
                break;
        case RETRY_LATER:
                client_req_park(c, r, CLIENT_BACKOFF, &c->backoff, at_ms);
                break;
        }
}

/* A CLUSTER_INFO answer from p: it also updates the map, and tells which
 * node p is. */
static void client_on_info(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                           const struct tkv_result *res)
{
        char msg[CLIENT_ERRMSG_BYTES];
        uint64_t updates;
        int rv;

        if (res->status != TKV_OK || res->cluster == NULL) {
                client_complete(c, r, res);
                return;
        }
        updates = c->map.updates;
        rv = map_update(&c->map, res->cluster);
        if (rv != TKV_OK) {
                snprintf(msg, sizeof(msg), "%s: %s", r->op,
                         rv == TKV_NO_MEMORY ? "out of memory keeping the partition map"
                                             : "the server sent an unusable partition map");
                client_complete_error(c, r, rv, msg);
                return;
        }
        client_peers_sync(c);
        if (res->cluster->node_id != 0) {
                p->node_id = res->cluster->node_id;
        }
        client_map_release(c);
        if (c->map.updates != updates) {
                client_wake_moved(c);
        }
        client_complete(c, r, res);
}

/* codec_response_cb: the attempt the answer is for ends. */
static void client_on_response(void *arg, uint64_t id, enum codec_body body,
                               const struct tkv_result *res, const struct codec_extra *x)
{
        struct tkv_client *c = arg;
        size_t slot = id != 0 ? client_ids_find(c, id) : SIZE_MAX;
        struct client_req *r;
        struct client_peer *p;

        if (slot == SIZE_MAX) {
                c->unknown_answers++;
                return;
        }
        r = c->slots[slot].req;
        p = r->peer;
        client_req_unlist(c, r);
        client_rtt_sample(p, r, res->status);
        if (res->status == TKV_OK && !client_body_fits(r->kind, body)) {
                client_on_wrong_body(c, r);
        } else if (client_is_keyed(r)) {
                client_on_kv(c, r, p, res, x);
        } else if (r->kind == CLIENT_INFO) {
                if (p->endpoint) {
                        c->endpoint_next = client_peer_index(c, p);
                }
                client_on_info(c, r, p, res);
        } else {
                if (p->endpoint && r->status_node == 0) {
                        c->endpoint_next = client_peer_index(c, p);
                }
                client_complete(c, r, res);
        }
}

/* Complete the requests whose answers are whole in p's input buffer. */
static void client_dispatch(struct tkv_client *c, struct client_peer *p)
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
                rv = codec_decode_response(body, len, client_on_response, c);
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
static void client_peer_io(struct tkv_client *c, struct client_peer *p, uint32_t events)
{
        int rv;

        if ((events & EPOLLOUT) != 0) {
                client_peer_flush(c, p);
        }
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0 || !link_is_open(&p->link)) {
                return;
        }
        rv = link_read(&p->link);
        client_dispatch(c, p); /* answers that arrived before an EOF still count */
        if (rv != 0 && link_is_open(&p->link)) {
                client_peer_break(c, p, TKV_CONNECTION_CLOSED, p->link.errmsg, true);
        }
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

/* ---- Time ---- */

/* r's attempt is on the wire and its deadline plus grace passed. */
static void client_expire_inflight(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        const char *name = r->peer->addr.name;

        if (client_is_keyed(r)) {
                snprintf(r->msg, sizeof(r->msg), "no answer from %.200s", name);
                client_req_unlist(c, r); /* a late answer is counted, not matched */
                retry_expire(&r->retry, true);
                client_give_up(c, r, NULL);
                return;
        }
        snprintf(msg, sizeof(msg), "%s: no answer from %.200s within %u ms", r->op, name,
                 r->timeout_ms);
        client_complete_error(c, r, TKV_TIMEOUT, msg);
}

/* r's deadline passed before its attempt was on the wire. */
static void client_expire_unsent(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];

        if (client_is_keyed(r)) {
                client_give_up(c, r, NULL);
                return;
        }
        snprintf(msg, sizeof(msg), "%s: no answer within %u ms (never sent)", r->op, r->timeout_ms);
        client_complete_error(c, r, TKV_TIMEOUT, msg);
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
                        client_route(c, r);
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

/* Whether a queued request could go on its link now: true after an async
 * call, until tkv_poll sends it. */
static bool client_sendable(const struct tkv_client *c)
{
        unsigned i;

        for (i = 0; i < c->n_peers; i++) {
                if (c->peers[i]->n_queued > 0 && c->peers[i]->n_inflight < c->max_inflight) {
                        return true;
                }
        }
        return false;
}

/* Arm the timer at the first wake_ms, so that tkv_fd() turns readable when
 * tkv_poll has timed work; at once when sendable (after an async call: a
 * program that waits on tkv_fd() then comes to send the request). */
static void client_timer_arm(struct tkv_client *c, bool sendable)
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
                client_send(c);
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
                client_timer_arm(c, client_sendable(c));
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

/* ---- The session token ---- */

size_t tkv_token_get(struct tkv_client *c, void *buf, size_t cap)
{
        if (c == NULL) {
                return 0;
        }
        if (c->session_len > 0 && buf != NULL && cap >= c->session_len) {
                memcpy(buf, c->session_bytes, c->session_len);
        }
        return c->session_len;
}

/* The message for token_set or token_merge failing with rv. */
static int client_token_failed(struct tkv_client *c, const char *op, int rv)
{
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", op,
                 rv == TKV_TOO_LARGE ? "the token would exceed TKV_TOKEN_BYTES_MAX"
                                     : "the token does not parse");
        return rv;
}

int tkv_token_set(struct tkv_client *c, const void *tok, size_t len)
{
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        rv = token_set(&c->session, tok, len);
        if (rv != TKV_OK) {
                return client_token_failed(c, "token_set", rv);
        }
        c->session_len = token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        return TKV_OK;
}

int tkv_token_merge(struct tkv_client *c, const void *tok, size_t len)
{
        bool changed = false;
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        rv = token_merge(&c->session, tok, len, false, &changed);
        if (rv != TKV_OK) {
                return client_token_failed(c, "token_merge", rv);
        }
        if (changed) {
                c->session_len =
                    token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        }
        return TKV_OK;
}

void tkv_token_reset(struct tkv_client *c)
{
        if (c != NULL) {
                token_init(&c->session);
                c->session_len = 0;
        }
}

/* ---- Submitting ---- */

static unsigned client_timeout_ms(const struct tkv_client *c, unsigned timeout_ms)
{
        return timeout_ms != 0 ? timeout_ms : c->timeout_ms;
}

static int client_check_call(struct tkv_client *c, const char *op, tkv_done_cb cb)
{
        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        if (c->closing) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: the client is being destroyed", op);
                return TKV_CONNECTION_CLOSED;
        }
        if (cb == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: no callback", op);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_check_bytes(struct tkv_client *c, const char *op, const char *what, const void *p,
                              size_t len, size_t max)
{
        if (p == NULL && len > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s is NULL but its length is %zu", op,
                         what, len);
                return TKV_USAGE_ERROR;
        }
        if (len > max) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s of %zu bytes exceeds %zu", op, what,
                         len, max);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_check_read_options(struct tkv_client *c, const struct tkv_read_options *o)
{
        if (o == NULL) {
                return TKV_OK;
        }
        if ((unsigned)o->level > TKV_EVENTUAL || (unsigned)o->route > TKV_ROUTE_ANY ||
            (unsigned)o->on_unmet > TKV_ON_UNMET_SERVE_STALE_LABELLED ||
            (o->session_flags & ~0xfu) != 0) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "get: read options out of range (level, route, on_unmet or "
                         "session_flags)");
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

static int client_check_write_options(struct tkv_client *c, const char *op,
                                      const struct tkv_write_options *o)
{
        if (o != NULL && (unsigned)o->ack > TKV_ACK_LEADER_ACCEPTED) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: ack %u out of range", op,
                         (unsigned)o->ack);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

/* The session token travels with every read whose level is not
 * LINEARIZABLE or that asks for session guarantees, and with every write
 * once the session has one (its dependencies). Each request carries the
 * token as it was when it was submitted, on every attempt: a retried write
 * must be the same write. */
static void client_attach_token(const struct tkv_client *c, struct codec_request *req,
                                enum client_kind kind)
{
        const struct tkv_read_options *o = req->read;
        bool attach =
            kind == CLIENT_WRITE || (kind == CLIENT_READ && o != NULL &&
                                     (o->level != TKV_LINEARIZABLE || o->session_flags != 0));

        req->token = attach && c->session_len > 0 ? c->session_bytes : NULL;
        req->token_len = attach ? c->session_len : 0;
}

/* Check that req's largest attempt fits in a frame and that a request may
 * be added. */
static int client_check_room(struct tkv_client *c, struct codec_request *req, const char *op)
{
        if (c->n_pending >= CLIENT_PENDING_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: %u requests pending already", op,
                         CLIENT_PENDING_MAX);
                return TKV_BUSY;
        }
        req->id = UINT64_MAX;
        req->timeout_ms = UINT32_MAX;
        req->no_forward = true;
        req->client_id = UINT64_MAX;
        req->seq = UINT64_MAX;
        req->retry = true;
        if (codec_request_bytes(req) > CODEC_FRAME_BYTES_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: request exceeds %u bytes", op,
                         CODEC_FRAME_BYTES_MAX);
                return TKV_USAGE_ERROR;
        }
        return TKV_OK;
}

/* A request for checked req (borrowed; what it points to is copied), not
 * routed yet; NULL when out of memory (c->errmsg says so). */
static struct client_req *client_req_make(struct tkv_client *c, const struct codec_request *req,
                                          enum client_kind kind, const char *op,
                                          unsigned timeout_ms, tkv_done_cb cb, void *arg)
{
        struct client_req *r = client_req_new(c, kind, req->op, op, timeout_ms, req);

        if (r == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: out of memory", op);
                return NULL;
        }
        c->n_pending++;
        r->cb = cb;
        r->arg = arg;
        r->expected_version = req->expected_version;
        if (req->read != NULL) {
                r->has_read = true;
                r->read = *req->read;
                if (r->read.node_id != 0 && r->read.level != TKV_LINEARIZABLE) {
                        /* The node named serves it: the route is that choice. */
                        r->read.route = TKV_ROUTE_ANY;
                }
        }
        if (req->write != NULL) {
                r->has_write = true;
                r->write = *req->write;
        }
        if (kind == CLIENT_WRITE) {
                r->seq = c->next_seq++;
        }
        return r;
}

/* Make and route a request; TKV_OK, or an error and cb will not run. */
static int client_submit(struct tkv_client *c, const struct codec_request *req,
                         enum client_kind kind, const char *op, unsigned timeout_ms, tkv_done_cb cb,
                         void *arg)
{
        struct client_req *r = client_req_make(c, req, kind, op, timeout_ms, cb, arg);

        if (r == NULL) {
                return TKV_NO_MEMORY;
        }
        client_route(c, r);
        client_timer_arm(c, client_sendable(c));
        return TKV_OK;
}

/* Shared by put, delete and cas: checks and queues a write. */
static int client_write_async(struct tkv_client *c, struct codec_request *req, const char *op,
                              const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        int rv = client_check_call(c, op, cb);

        if (rv == TKV_OK) {
                rv = client_check_bytes(c, op, "key", req->key, req->key_len, CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_bytes(c, op, "value", req->value, req->value_len,
                                        CODEC_VALUE_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_write_options(c, op, opts);
        }
        if (rv == TKV_OK) {
                req->write = opts;
                client_attach_token(c, req, CLIENT_WRITE);
                rv = client_check_room(c, req, op);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        return client_submit(c, req, CLIENT_WRITE, op,
                             client_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0), cb, arg);
}

int tkv_get_async(struct tkv_client *c, const void *key, size_t key_len,
                  const struct tkv_read_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;
        int rv = client_check_call(c, "get", cb);

        if (rv == TKV_OK) {
                rv = client_check_bytes(c, "get", "key", key, key_len, CODEC_KEY_BYTES_MAX);
        }
        if (rv == TKV_OK) {
                rv = client_check_read_options(c, opts);
        }
        memset(&req, 0, sizeof(req));
        req.op = CODEC_GET;
        req.key = key;
        req.key_len = key_len;
        req.read = opts;
        if (rv == TKV_OK) {
                client_attach_token(c, &req, CLIENT_READ);
                rv = client_check_room(c, &req, "get");
        }
        if (rv != TKV_OK) {
                return rv;
        }
        return client_submit(c, &req, CLIENT_READ, "get",
                             client_timeout_ms(c, opts != NULL ? opts->timeout_ms : 0), cb, arg);
}

int tkv_put_async(struct tkv_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_PUT;
        req.key = key;
        req.key_len = key_len;
        req.value = value;
        req.value_len = value_len;
        return client_write_async(c, &req, "put", opts, cb, arg);
}

int tkv_delete_async(struct tkv_client *c, const void *key, size_t key_len,
                     const struct tkv_write_options *opts, tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_DELETE;
        req.key = key;
        req.key_len = key_len;
        return client_write_async(c, &req, "delete", opts, cb, arg);
}

int tkv_cas_async(struct tkv_client *c, const void *key, size_t key_len, uint64_t expected_version,
                  const void *value, size_t value_len, const struct tkv_write_options *opts,
                  tkv_done_cb cb, void *arg)
{
        struct codec_request req;

        memset(&req, 0, sizeof(req));
        req.op = CODEC_CAS;
        req.key = key;
        req.key_len = key_len;
        req.value = value;
        req.value_len = value_len;
        req.expected_version = expected_version;
        return client_write_async(c, &req, "cas", opts, cb, arg);
}

/* STATUS and CLUSTER_INFO. */
static int client_admin_async(struct tkv_client *c, enum client_kind kind, uint32_t node_id,
                              tkv_done_cb cb, void *arg)
{
        const char *op = kind == CLIENT_INFO ? "cluster_info" : "status";
        struct codec_request req;
        struct client_req *r;
        int rv = client_check_call(c, op, cb);

        memset(&req, 0, sizeof(req));
        req.op = kind == CLIENT_INFO ? CODEC_CLUSTER_INFO : CODEC_STATUS;
        if (rv == TKV_OK) {
                rv = client_check_room(c, &req, op);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        r = client_req_make(c, &req, kind, op, c->timeout_ms, cb, arg);
        if (r == NULL) {
                return TKV_NO_MEMORY;
        }
        r->status_node = node_id;
        client_route(c, r);
        client_timer_arm(c, client_sendable(c));
        return TKV_OK;
}

int tkv_status_async(struct tkv_client *c, tkv_done_cb cb, void *arg)
{
        return client_admin_async(c, CLIENT_STATUS, 0, cb, arg);
}

int tkv_status_node_async(struct tkv_client *c, uint32_t node_id, tkv_done_cb cb, void *arg)
{
        return client_admin_async(c, CLIENT_STATUS, node_id, cb, arg);
}

int tkv_cluster_info_async(struct tkv_client *c, tkv_done_cb cb, void *arg)
{
        return client_admin_async(c, CLIENT_INFO, 0, cb, arg);
}

/* ---- Blocking calls ---- */

/* State of one blocking call, on its caller's stack. */
struct client_wait {
        bool done;
        int status;
        struct tkv_result *out; /* NULL: the caller wants only the status */
};

static void client_result_init(struct tkv_result *r)
{
        memset(r, 0, sizeof(*r));
        r->message = "";
        r->receipt.staleness_ms = -1;
}

/* Bytes a sub-block takes in a result block: rounded up so that the next
 * one is aligned for any type. */
static size_t client_block_round(size_t n)
{
        size_t align = _Alignof(max_align_t);
        return (n + align - 1) / align * align;
}

/* Copy src (borrowed) into dst, with node, cluster, value and message in one
 * block kept in dst->priv_. Returns dst->status: src's, or TKV_NO_MEMORY when
 * the copy could not be made. */
static int client_result_copy(struct tkv_result *dst, const struct tkv_result *src)
{
        const char *message = src->message != NULL ? src->message : "";
        size_t node_bytes = src->node != NULL ? client_block_round(codec_node_bytes(src->node)) : 0;
        size_t cluster_bytes =
            src->cluster != NULL ? client_block_round(codec_cluster_bytes(src->cluster)) : 0;
        size_t value_len = src->value != NULL ? src->value_len : 0;
        size_t message_len = strlen(message);
        size_t total =
            node_bytes + cluster_bytes + value_len + (message_len > 0 ? message_len + 1 : 0);
        uint8_t *block;

        *dst = *src;
        dst->message = "";
        dst->node = NULL;
        dst->cluster = NULL;
        dst->value = src->value != NULL ? "" : NULL;
        dst->priv_ = NULL;
        if (total == 0) {
                return dst->status;
        }
        block = tkv_malloc(total);
        if (block == NULL) {
                dst->status = TKV_NO_MEMORY;
                dst->message = "out of memory copying the answer";
                dst->value = NULL;
                dst->value_len = 0;
                return dst->status;
        }
        dst->priv_ = block;
        if (node_bytes > 0) {
                dst->node = codec_node_copy(block, src->node);
                block += node_bytes;
        }
        if (cluster_bytes > 0) {
                dst->cluster = codec_cluster_copy(block, src->cluster);
                block += cluster_bytes;
        }
        if (value_len > 0) {
                memcpy(block, src->value, value_len);
                dst->value = block;
                block += value_len;
        }
        if (message_len > 0) {
                memcpy(block, message, message_len + 1);
                dst->message = (const char *)block;
        }
        return dst->status;
}

static void client_wait_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct client_wait *w = arg;

        (void)c;
        w->done = true;
        w->status = w->out != NULL ? client_result_copy(w->out, res) : res->status;
}

/* After the async call of a blocking call returned rv: wait for its callback,
 * or report rv in w->out. */
static int client_wait(struct tkv_client *c, struct client_wait *w, int rv)
{
        struct tkv_result failed;

        if (rv != TKV_OK) {
                if (w->out != NULL) {
                        client_result_init(&failed);
                        failed.status = rv;
                        failed.message = c != NULL ? c->errmsg : "no client";
                        client_result_copy(w->out, &failed);
                }
                return rv;
        }
        /* tkv_poll fails only for a NULL client or inside a callback, both
         * ruled out by client_wait_start, and every request has a deadline,
         * so this loop ends. */
        while (!w->done) {
                tkv_poll(c, -1);
        }
        return w->status;
}

/* Common start of a blocking call. Returns TKV_OK to go on. */
static int client_wait_start(struct tkv_client *c, struct client_wait *w, struct tkv_result *out,
                             const char *op)
{
        w->done = false;
        w->status = TKV_OK;
        w->out = out;
        if (out != NULL) {
                client_result_init(out);
        }
        if (c != NULL && c->dispatching > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: blocking call from a callback", op);
                return TKV_USAGE_ERROR;
        }
        return c != NULL ? TKV_OK : TKV_USAGE_ERROR;
}

int tkv_get(struct tkv_client *c, const void *key, size_t key_len,
            const struct tkv_read_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "get");

        if (rv == TKV_OK) {
                rv = tkv_get_async(c, key, key_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_put(struct tkv_client *c, const void *key, size_t key_len, const void *value,
            size_t value_len, const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "put");

        if (rv == TKV_OK) {
                rv = tkv_put_async(c, key, key_len, value, value_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_delete(struct tkv_client *c, const void *key, size_t key_len,
               const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "delete");

        if (rv == TKV_OK) {
                rv = tkv_delete_async(c, key, key_len, opts, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_cas(struct tkv_client *c, const void *key, size_t key_len, uint64_t expected_version,
            const void *value, size_t value_len, const struct tkv_write_options *opts,
            struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "cas");

        if (rv == TKV_OK) {
                rv = tkv_cas_async(c, key, key_len, expected_version, value, value_len, opts,
                                   client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_status(struct tkv_client *c, struct tkv_result *out)
{
        return tkv_status_node(c, 0, out);
}

int tkv_status_node(struct tkv_client *c, uint32_t node_id, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "status");

        if (rv == TKV_OK) {
                rv = tkv_status_node_async(c, node_id, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

int tkv_cluster_info(struct tkv_client *c, struct tkv_result *out)
{
        struct client_wait w;
        int rv = client_wait_start(c, &w, out, "cluster_info");

        if (rv == TKV_OK) {
                rv = tkv_cluster_info_async(c, client_wait_cb, &w);
        }
        return client_wait(c, &w, rv);
}

void tkv_result_release(struct tkv_result *r)
{
        if (r == NULL) {
                return;
        }
        tkv_free(r->priv_);
        client_result_init(r);
}

/* ---- Creation and destruction ---- */

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
        deadline_heap_close(&c->wakes);
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
                client_complete_error(c, r, unknown ? TKV_OUTCOME_UNKNOWN : TKV_CONNECTION_CLOSED,
                                      unknown ? "client destroyed; the write may or may not have "
                                                "been applied"
                                              : "client destroyed");
        }
        c->map_req = NULL;
        client_free(c);
}
