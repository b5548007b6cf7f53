/* The client object's internals, shared by the files of libtunekv's core
 * (client*.c; client.c has the map of which does what): the request, the
 * peer and struct tkv_client, and the calls one file makes into another.
 * Not installed; unit tests reach the client through client.h. */
#ifndef TKV_CLIENT_CLIENT_INTERNAL_H
#define TKV_CLIENT_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buffer.h"
#include "client.h"
#include "codec.h"
#include "deadline.h"
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
#define CLIENT_IDLE_CHECK_MS      1000       /* see client_peer_send */
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

/* A TXN being built (client_txn.c). */
struct tkv_txn {
        struct buffer body; /* packed TxnRequest fields 1-3 (codec_txn_append) */
        uint8_t *first_key; /* owned: routes the TXN */
        size_t first_key_len;
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
        struct tls_ctx *tls;         /* NULL: plaintext */
        char tls_server_name[256];   /* "": each endpoint's host */
        unsigned max_inflight;       /* requests on one link at once */
        uint64_t client_id;          /* random, non-zero: names our writes */
        uint64_t next_seq;           /* of the next write, from 1 */
        uint64_t next_id;            /* of the next attempt, from 1 */
        struct map map;
        bool map_unsupported;       /* the server refused CLUSTER_INFO: no routing */
        struct client_req *map_req; /* the client's own CLUSTER_INFO, or NULL */
        int64_t map_fetched_ms;     /* when the last one started; 0: never */
        uint64_t epoch;             /* the highest cluster map epoch seen (tkv_cluster_epoch) */
        uint64_t map_epoch;         /* the epoch of the map c->map holds */
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
        /* The last error a server answered with id 0 (about the connection,
         * not a request: refused, a frame too large, TLS expected) before
         * it closed: what the broken link's requests are told. */
        char refusal[160];
        char zone[MAP_ZONE_BYTES]; /* the client's zone; "": none (NEAREST by rtt alone) */
        uint64_t rr;               /* replica choices so far: round robin */
        uint64_t bad_tokens;       /* answer tokens that did not parse, dropped */
        size_t session_len;        /* bytes of session_bytes in use; 0: empty */
        int dispatching;           /* >0 while a callback runs */
        bool closing;              /* inside tkv_client_destroy */
        char errmsg[CLIENT_ERRMSG_BYTES];

        /* AUTH on every new link (client_auth.c); user "": none. */
        char user[64];
        char *password; /* owned, wiped when freed */
        size_t password_len;

        /* The session token, and its encoding (what requests carry). */
        struct token session;
        uint8_t session_bytes[TOKEN_BYTES_MAX];
};

/* ---- Small predicates and clocks, used by every file ---- */

static inline int64_t client_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t client_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline bool client_is_keyed(const struct client_req *r)
{
        return r->kind == CLIENT_READ || r->kind == CLIENT_WRITE;
}

/* A read the caller sent to one node (tkv_read_options.node_id). */
static inline bool client_pinned(const struct client_req *r)
{
        return r->kind == CLIENT_READ && r->has_read && r->read.node_id != 0;
}

/* Whether r is a read that any replica of its partition may serve: a level
 * below LINEARIZABLE and a route other than LEADER. Everything else goes to
 * the leader. */
static inline bool client_spread(const struct client_req *r)
{
        return r->kind == CLIENT_READ && r->has_read && r->read.level != TKV_LINEARIZABLE &&
               r->read.route != TKV_ROUTE_LEADER && !client_pinned(r);
}

/* The calls between the files, by the file that defines them. Each one's
 * contract (what it borrows, what it frees, which callbacks it may run) is
 * the comment at its definition, next to the code it describes. */

/* ---- client.c: the client object, its poll loop and wake-ups ---- */

int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *e, char *errmsg,
                          size_t errmsg_len);
void client_wake_move(struct tkv_client *c, struct client_req *r, int64_t wake_ms);
void client_timer_arm(struct tkv_client *c, bool sendable);

/* ---- client_ids.c: the id map ---- */

void client_ids_insert(struct tkv_client *c, uint64_t id, struct client_req *r);
int client_ids_reserve(struct tkv_client *c);
size_t client_ids_find(const struct tkv_client *c, uint64_t id);
void client_ids_del(struct tkv_client *c, uint64_t id);

/* ---- client_req.c: the life of a request ---- */

struct client_req *client_req_new(struct tkv_client *c, enum client_kind kind, enum codec_op code,
                                  const char *op, unsigned timeout_ms,
                                  const struct codec_request *req);
void client_req_unlist(struct tkv_client *c, struct client_req *r);
void client_req_park(struct tkv_client *c, struct client_req *r, enum client_state state,
                     struct queue *list, int64_t wake_ms);
void client_req_complete(struct tkv_client *c, struct client_req *r, const struct tkv_result *res);
void client_req_fail(struct tkv_client *c, struct client_req *r, int status, const char *message);
void client_req_on_response(void *arg, uint64_t id, enum codec_body body,
                            const struct tkv_result *res, const struct codec_extra *x);

/* ---- client_peer.c: peers and their connections ---- */

void client_peer_close(struct tkv_client *c, struct client_peer *p);
void client_peer_free(struct client_peer *p);
struct client_peer *client_peer_add(struct tkv_client *c, const struct client_endpoint *addr,
                                    uint32_t node_id, bool endpoint);
unsigned client_peer_index(const struct tkv_client *c, const struct client_peer *p);
struct client_peer *client_peer_for_node(struct tkv_client *c, uint32_t id);
void client_peer_sync(struct tkv_client *c);
struct client_peer *client_peer_default(const struct tkv_client *c);
bool client_peer_down(const struct client_peer *p, int64_t now_ms);
void client_peer_rtt_sample(struct client_peer *p, const struct client_req *r, int status);
void client_peer_send_all(struct tkv_client *c);
void client_peer_io(struct tkv_client *c, struct client_peer *p, uint32_t events);
bool client_peer_sendable(const struct tkv_client *c);

/* ---- client_auth.c: AUTH on each new link ---- */

/* Keep user and password (borrowed; NULL or "": no AUTH) for every link.
 * TKV_OK, TKV_USAGE_ERROR (too long), TKV_NO_MEMORY, with c->errmsg set. */
int client_auth_configure(struct tkv_client *c, const char *user, const char *password);

/* Wipe and free the kept password. */
void client_auth_forget(struct tkv_client *c);

/* Send AUTH on p's new link and wait for its answer (blocking, like the
 * connect before it, within the client's request timeout). TKV_OK (also
 * without a user), or the status that failed it (UNAUTHENTICATED, BUSY,
 * CONNECTION_CLOSED, ...) with c->errmsg set; the caller closes the link. */
int client_auth_link(struct tkv_client *c, struct client_peer *p);

/* Write what p's link has queued and wait (blocking, within the client's
 * request timeout) until a whole answer frame is in its input: *body and
 * *len then point at it (the caller decodes it, then link_frame_done).
 * TKV_OK, TKV_TIMEOUT, TKV_CONNECTION_CLOSED or TKV_PROTOCOL_ERROR. */
int client_auth_frame(struct tkv_client *c, struct client_peer *p, const uint8_t **body,
                      size_t *len);
/* The same, until deadline_ms (client_now_ms's clock). */
int client_link_frame_by(struct client_peer *p, int64_t deadline_ms, const uint8_t **body,
                         size_t *len);

/* Rare, operator-driven requests (users and roles, members) take the
 * simplest path: send frame on a connection of its own to endpoint e (AUTH
 * first, as on every link), hand the answer's body to decode(arg, body,
 * len), close. Returns decode's result, or TKV_CONNECT_FAILED (try the next
 * endpoint) or another failure, described in message (message_len
 * bytes). */
typedef int (*client_oneshot_decode)(void *arg, const uint8_t *body, size_t len);
int client_oneshot(struct tkv_client *c, const struct client_endpoint *e,
                   const struct buffer *frame, client_oneshot_decode decode, void *arg,
                   char *message, size_t message_len);

/* ---- client_route.c: routing and the partition map ---- */

bool client_route_refresh_map(struct tkv_client *c, bool force);
bool client_route_has_elsewhere(struct tkv_client *c, const struct client_req *r);
void client_route_note_tried(struct client_req *r);
void client_route_req(struct tkv_client *c, struct client_req *r);
void client_route_wake_moved(struct tkv_client *c);
void client_route_admin_next(struct tkv_client *c, struct client_req *r, const char *name,
                             const char *why);
void client_route_on_info(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                          const struct tkv_result *res);

/* ---- client_retry.c: retries and idempotency ---- */

void client_retry_give_up(struct tkv_client *c, struct client_req *r, const struct tkv_result *res);
void client_retry_ended(struct tkv_client *c, struct client_req *r, enum retry_end end, int status);
void client_retry_on_answer(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                            const struct tkv_result *res, const struct codec_extra *x);

/* ---- client_token.c: the session token ---- */

void client_token_absorb(struct tkv_client *c, const uint8_t *delta, size_t len);
void client_token_attach(const struct tkv_client *c, struct codec_request *req,
                         enum client_kind kind);

#endif
