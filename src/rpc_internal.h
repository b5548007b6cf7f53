/* Shared by rpc.c, rpc_kv.c, rpc_admin.c and rpc_forward.c only. */
#ifndef TKV_RPC_INTERNAL_H
#define TKV_RPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "deadline.h"
#include "group.h"
#include "peer.h"
#include "read.h"
#include "rpc.h"
#include "session.h"
#include "tunekv.pb-c.h"

struct server;

/* Planted bugs, for the verification harness only (docs/verification.md):
 * compiled in tunekvd-planted alone (TUNEKV_PLANTED_BUGS), switched on by
 * naming one in the environment, TUNEKV_PLANTED_BUG=name:
 *   lin-follower  a follower serves LINEARIZABLE reads from its own state
 *   ignore-token  reads ignore the session token
 *   early-ack     writes are answered COMMITTED when Raft accepts them
 * The checker must report each; tunekvd has none of this code. */
#ifdef TUNEKV_PLANTED_BUGS
#include <stdlib.h>
#include <string.h>
static inline bool rpc_planted(const char *bug)
{
        const char *on = getenv("TUNEKV_PLANTED_BUG");
        return on != NULL && strcmp(on, bug) == 0;
}
#else
#define rpc_planted(bug) false
#endif

/* Where a request in progress waits. */
enum call_stage {
        CALL_NEW,       /* nothing asynchronous yet */
        CALL_READ,      /* op.read: a linearizable read waiting for its fence */
        CALL_WRITE,     /* op.write: handed to group_propose */
        CALL_FORWARDED, /* op.fwd: sent to another node */
        CALL_WAIT,      /* op.wait: a read waiting for this replica to meet its bound */
        CALL_ACK_ALL,   /* op.ack_all: an applied write waiting for every replica */
};

/* What a GET keeps while it waits (rpc_read.c). */
struct call_read {
        uint8_t level;    /* Tunekv__V1__Consistency asked */
        uint8_t on_unmet; /* Tunekv__V1__OnUnmet */
        bool strict;
        bool causal;      /* merge the value's dependencies into the answer's token */
        bool fallback;    /* forwarded to the leader because the bound was not met here */
        bool waited;      /* its wait for the bound is over */
        bool leader_only; /* route LEADER: only the leader may answer it */
        uint32_t max_wait_ms;
        uint64_t deadline_ms; /* the request's own deadline while a shorter wait runs */
        struct read_bound bound;
};

/* A request in progress. Allocated by rpc_dispatch with room for the key,
 * freed when it is answered (and its group work is abandoned or done). */
struct call {
        struct conn *conn; /* borrowed; counted in conn->refs */
        struct server *server;
        uint64_t id;        /* the client's request id */
        unsigned from_node; /* the node whose link sent it; 0 for a client */
        const struct rpc_method *method;
        struct deadline deadline;
        struct group *group; /* partition's group, for GET/writes */
        uint32_t partition;
        enum call_stage stage;
        union {
                struct group_write write;
                struct group_read read;
                struct peer_call fwd;
                struct read_wait wait;
                struct queue ack_all;
        } op;
        struct call_read rd;           /* GET */
        struct command_result applied; /* ALL_REPLICAS write: its result, kept */
        uint8_t ack;                   /* Tunekv__V1__Ack asked */
        uint32_t key_len;
        uint8_t key[]; /* GET: the key (key_len bytes) */
};

/* Calls whose key fits in RPC_CALL_POOL_KEY_BYTES come from the server's
 * pool of freed calls, which keeps up to RPC_CALL_POOL_MAX of them. */
#define RPC_CALL_POOL_KEY_BYTES 64
#define RPC_CALL_POOL_MAX       1024

/* A handler answers c now (rpc_answer*) or later, from a group callback.
 * req is borrowed for the duration of the call. */
typedef void (*rpc_handler)(struct call *c, const Tunekv__V1__Request *req);

struct rpc_method {
        Tunekv__V1__Request__BodyCase body; /* which oneof member */
        const char *name;
        rpc_handler handler;
        bool has_key;   /* the call keeps the request's key */
        bool is_write;  /* changes state: unknown outcome if interrupted */
        bool node_only; /* node-to-node: refused on client connections */
};

/* Method of a decoded request, or NULL for an unknown operation. */
const struct rpc_method *rpc_method_of(const Tunekv__V1__Request *req);

/* Key of a request (GET/PUT/DELETE/CAS), or NULL. */
const ProtobufCBinaryData *rpc_request_key(const Tunekv__V1__Request *req);

/* A waiting call (a forwarded request, a read waiting for its bound, a
 * write waiting for every replica) gives up this long before its deadline,
 * at most, so that its own answer rather than the client's timeout ends
 * it. */
#define RPC_ANSWER_MARGIN_MS 100

/* When a waiting call should give up: its deadline less a margin of an
 * eighth of the time left, at most RPC_ANSWER_MARGIN_MS. */
uint64_t rpc_give_up_ms(const struct call *c, uint64_t now_ms);

/* Move c's deadline to at_ms (its stage's timer: rpc_expire fires then). */
void rpc_deadline_move(struct call *c, uint64_t at_ms);

/* Send resp (its id and status are set here) and free c. */
void rpc_answer(struct call *c, Tunekv__V1__Response *resp);

/* Field numbers of Request.id, timeout_ms and no_forward and of
 * Response.id (proto/tunekv.proto), for code that writes them as bytes
 * (pbwire.h). */
#define RPC_REQUEST_ID_FIELD         1
#define RPC_REQUEST_TIMEOUT_FIELD    2
#define RPC_REQUEST_NO_FORWARD_FIELD 3
#define RPC_RESPONSE_ID_FIELD        1

/* Relay an answer another node encoded (resp, len bytes; borrowed) to c's
 * client and free c: the bytes are copied once, with the bytes
 * [id_start, id_end) (the answer's last id field; an empty range at len
 * when it has none) replaced by c's id. */
void rpc_answer_relay(struct call *c, const uint8_t *resp, size_t len, size_t id_start,
                      size_t id_end);

/* Send an error built from a TKV_E* code and a message, and free c. */
void rpc_answer_error(struct call *c, int tkv_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The allocator of every message the daemon decodes (rpc.c): protobuf-c
 * allocates through tkv_malloc too, so tests can fail the Nth allocation. */
extern ProtobufCAllocator rpc_pb_allocator;

/* Wire status of a TKV_E* code. */
Tunekv__V1__Status rpc_status_of(int tkv_err);

/* Wire role of a group's role (receipts, STATUS). */
Tunekv__V1__Role rpc_role_of(enum group_role role);

/* rpc_read.c: answer c's GET from the local store (partition group g):
 * value, receipt (delivered level, staleness, fallback), token delta. */
void rpc_read_answer(struct call *c, Tunekv__V1__Consistency delivered, bool fallback);

/* NOT_LEADER with the leader's hint (what: the operation's name). */
void rpc_answer_not_leader(struct call *c, const char *what);

/* rpc_read.c: are a read's options valid (known level, route, on_unmet,
 * session flags; a bound for BOUNDED_STALENESS)? TKV_EINVAL with why
 * filled if not. */
int rpc_read_check_options(const Tunekv__V1__ReadOptions *o, char *why, size_t len);

/* rpc_read.c: the GET handler, every level. */
void rpc_read_get(struct call *c, const Tunekv__V1__Request *req);

/* rpc_read.c: c's token (and min_index) for its partition: set
 * c->rd.bound.required_index. A malformed, oversized or forged token is
 * answered INVALID_ARGUMENT / TOO_LARGE: returns nonzero, c is gone. */
int rpc_read_token_bound(struct call *c, const Tunekv__V1__ReadOptions *o);

/* rpc_read.c: c's bound is not met where it is (after any wait): follow
 * its on_unmet. */
void rpc_read_unmet(struct call *c);

/* rpc_read.c: c's wait (CALL_WAIT) reached its deadline. */
void rpc_read_expired(struct call *c);

/* What a call on a peer link is (peer_call.kind). */
enum rpc_peer_call {
        RPC_PEER_FORWARD, /* struct call, op.fwd: a forwarded request */
        RPC_PEER_PING,    /* peer->ping */
        RPC_PEER_PROBE,   /* server->probe_calls[partition] */
        RPC_PEER_CONFIRM, /* struct rpc_confirm */
};

/* rpc_node.c: probes (read.c says why): the leader's handler. */
void rpc_node_probe_answer(struct call *c, const Tunekv__V1__Request *req);

/* One ask of a leadership confirmation (group_confirm.c) in flight to a voter. */
struct rpc_confirm {
        struct peer_call pc; /* kind RPC_PEER_CONFIRM */
        uint32_t partition;
        uint64_t seq;
        uint64_t voter;
};

/* rpc_node.c: confirmations: a voter's handler. */
void rpc_node_confirm_answer(struct call *c, const Tunekv__V1__Request *req);

/* How the answers to this node's own node-to-node calls are taken: resp is
 * the answer, or NULL when the link failed first; on_confirm frees rc.
 * rpc_forward.c routes each answer by its call's kind through the table
 * the server holds (server.node_calls = &rpc_node_calls), so the link code
 * never calls into the handlers that made the calls. */
struct rpc_node_calls {
        void (*on_probe)(struct server *s, uint32_t partition, const Tunekv__V1__Response *resp);
        void (*on_confirm)(struct server *s, struct rpc_confirm *rc,
                           const Tunekv__V1__Response *resp);
};

/* rpc_kv.c: the writes of partition p waiting for every replica (ack =
 * ALL_REPLICAS) that may be answered now. */
void rpc_kv_ack_all_scan(struct server *s, uint32_t p);

/* rpc_kv.c: answer an ALL_REPLICAS write whose wait is over (every replica
 * applied it, or its deadline passed: then it reports COMMITTED). */
void rpc_kv_ack_all_done(struct call *c, bool all);

/* Handlers. */
void rpc_kv_put(struct call *c, const Tunekv__V1__Request *req);
void rpc_kv_delete(struct call *c, const Tunekv__V1__Request *req);
void rpc_kv_cas(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_status(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_cluster_info(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_ping(struct call *c, const Tunekv__V1__Request *req);

/* Stop waiting: detach c from its group or link. Returns true if c is a
 * write that may have happened. */
bool rpc_call_abandon(struct call *c);

/* rpc_forward.c: send c (a GET or a write) to node_id and relay its answer.
 * req is the decoded request (borrowed). */
void rpc_forward(struct call *c, const Tunekv__V1__Request *req, unsigned node_id);

/* rpc_forward.c: stop waiting for the answer to forwarded call c (its
 * answer, if any, is dropped). Returns true if c is a write that may have
 * reached the other node. */
bool rpc_forward_abandon(struct call *c);

struct route_need;

/* rpc_route.c: route c's key (route.h): set c's key hash, partition and
 * group, and return true when this node should serve it; otherwise c has
 * been forwarded or answered (NOT_LEADER, NO_QUORUM, UNAVAILABLE). req and
 * key are borrowed. */
bool rpc_route_request(struct call *c, const Tunekv__V1__Request *req,
                       const ProtobufCBinaryData *key, const struct route_need *need);

#endif
