/* A request in progress (struct call) from the moment dispatch admits it
 * until it is answered: its memory (a pool of freed calls), its deadline
 * in the node's heap, and its answers, packed straight into the output of
 * the connection it came on. The handlers answer through these, below
 * them, so that no handler calls back into dispatch (rpc.c) to finish a
 * call. Shared by rpc.c, the handlers (rpc_*.c) and the server (the pool)
 * only. */
#ifndef TKV_CALL_H
#define TKV_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "deadline.h"
#include "group.h"
#include "peer.h"
#include "queue.h"
#include "read.h"
#include "tunekv.pb-c.h"

struct conn;
struct node;
struct rpc_method;

/* Planted bugs, for the verification harness only (docs/verification.md):
 * compiled in tunekvd-planted alone (TUNEKV_PLANTED_BUGS), switched on by
 * naming one in the environment, TUNEKV_PLANTED_BUG=name:
 *   lin-follower  a follower serves LINEARIZABLE reads from its own state
 *   ignore-token  reads ignore the session token
 *   early-ack     writes are answered COMMITTED when Raft accepts them
 *   seq-no-ts     SEQUENTIAL reads skip the timestamp bound (served at the
 *                 replica's applied index; the receipt reports T as ever)
 *   watch-skip    live watch streams lose every 50th change of a
 *                 partition (rpc_watch.c; catching up reads them all)
 * The checker must report each; tunekvd has none of this code. */
#ifdef TUNEKV_PLANTED_BUGS
#include <stdlib.h>
#include <string.h>
static inline bool call_planted(const char *bug)
{
        const char *on = getenv("TUNEKV_PLANTED_BUG");
        return on != NULL && strcmp(on, bug) == 0;
}
#else
#define call_planted(bug) false
#endif

/* Where a request in progress waits. */
enum call_stage {
        CALL_NEW,       /* nothing asynchronous yet */
        CALL_READ,      /* op.read: a linearizable read waiting for its fence */
        CALL_WRITE,     /* op.write: handed to group_propose */
        CALL_FORWARDED, /* op.fwd: sent to another node */
        CALL_WAIT,      /* op.wait: a read waiting for this replica to meet its bound */
        CALL_ACK_ALL,   /* op.ack_all: an applied write waiting for every replica */
        CALL_HASHING,   /* op.hashing: a password being hashed on the threadpool */
        CALL_TRANSFER,  /* group: its leadership being handed over (rpc_meta.c) */
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
        uint64_t token_ts;    /* the token's timestamp (SESSION_T), checked; 0: none */
        read_wait_cb on_met;  /* a wait for the bound ended met; NULL: answer the GET */
        unsigned rounds;      /* GET_MANY: reads of its keys so far (rpc_many.c) */
        uint64_t at_ts;       /* at_timestamp: the past state it reads; 0: the current */
        uint64_t as_of_ts;    /* GET_MANY: reads its keys as of this T, the one its last wait
                                 reached, since writes kept moving them (rpc_many.c); 0: none */
        struct read_bound bound;
};

/* A request in progress. Allocated by rpc_dispatch with room for the key,
 * freed when it is answered (and its group work is abandoned or done). */
struct call {
        struct conn *conn;  /* borrowed; counted in conn->refs */
        struct node *node;  /* borrowed: the node it runs on (node.h) */
        uint64_t id;        /* the client's request id */
        uint64_t start_ns;  /* uv_hrtime() at dispatch: the answer's latency */
        uint8_t op_kind;    /* enum node_op: the latency histogram it counts in */
        unsigned from_node; /* the node whose link sent it; 0 for a client */
        const struct rpc_method *method;
        struct deadline deadline;
        struct group *group; /* partition's group, for GET/writes */
        uint32_t partition;
        bool routed_away; /* forwarded by route (rows 11-12): partition is not hosted here */
        enum call_stage stage;
        union {
                struct group_write write;
                struct group_read read;
                struct peer_call fwd;
                struct read_wait wait;
                struct queue ack_all;
                void *hashing; /* rpc_users.c's work item */
        } op;
        struct call_read rd;             /* GET */
        struct command_result applied;   /* ALL_REPLICAS write: its result, kept */
        uint8_t ack;                     /* Tunekv__V1__Ack asked */
        uint64_t epoch;                  /* MEMBER: the epoch of the map its CAS writes */
        uint8_t lease_op;                /* LEASE: the Tunekv__V1__LeaseOp proposed */
        uint64_t lease_id;               /* LEASE_REVOKE: the lease named */
        struct rpc_fanout *fanout;       /* SCAN spread over nodes (rpc_fanout.c); NULL: none */
        struct rpc_watch *watch;         /* WATCH spread over nodes, starting (rpc_watch.c) */
        void (*release)(struct call *c); /* frees what the handler hung on c; NULL: nothing */
        uint32_t key_len;
        uint8_t key[]; /* GET, writes: the key (key_len bytes); GET_MANY: rpc_many.c's */
};

/* Calls whose key fits in CALL_POOL_KEY_BYTES come from the node's
 * pool of freed calls, which keeps up to CALL_POOL_MAX of them. */
#define CALL_POOL_KEY_BYTES 64
#define CALL_POOL_MAX       1024

/* A waiting call (a forwarded request, a read waiting for its bound, a
 * write waiting for every replica) gives up this long before its deadline,
 * at most, so that its own answer rather than the client's timeout ends
 * it. */
#define CALL_ANSWER_MARGIN_MS 100

/* When a waiting call should give up: its deadline less a margin of an
 * eighth of the time left, at most CALL_ANSWER_MARGIN_MS. */
uint64_t call_give_up_ms(const struct call *c, uint64_t now_ms);

/* Move c's deadline to at_ms (its stage's timer: rpc_expire fires then). */
void call_deadline_move(struct call *c, uint64_t at_ms);

/* Send resp (its id and status are set here) and free c. */
void call_answer(struct call *c, Tunekv__V1__Response *resp);

/* Field numbers of Request.id, timeout_ms and no_forward and of
 * Response.id (proto/tunekv.proto), for code that writes them as bytes
 * (pbwire.h). */
#define CALL_REQUEST_ID_FIELD           1
#define CALL_REQUEST_TIMEOUT_FIELD      2
#define CALL_REQUEST_NO_FORWARD_FIELD   3
#define CALL_RESPONSE_ID_FIELD          1
#define CALL_RESPONSE_STATUS_FIELD      2 /* Response.status */
#define CALL_RESPONSE_LEADER_HINT_FIELD 4 /* Response.leader_hint: LeaderHint, node_id = 1 */

/* Relay an answer another node encoded (resp, len bytes; borrowed) to c's
 * client and free c: the bytes are copied once, with the bytes
 * [id_start, id_end) (the answer's last id field; an empty range at len
 * when it has none) replaced by c's id. */
void call_answer_relay(struct call *c, const uint8_t *resp, size_t len, size_t id_start,
                       size_t id_end);

/* Send an error built from a TKV_E* code and a message, and free c. */
void call_answer_error(struct call *c, int tkv_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The allocator of every message the daemon decodes (call.c): protobuf-c
 * allocates through tkv_malloc too, so tests can fail the Nth allocation. */
extern ProtobufCAllocator call_pb_allocator;

/* Wire status of a TKV_E* code. */
Tunekv__V1__Status call_status_of(int tkv_err);

/* Wire role of a group's role (receipts, STATUS). */
Tunekv__V1__Role call_role_of(enum group_role role);

/* NOT_LEADER with the leader's hint (what: the operation's name). */
void call_answer_not_leader(struct call *c, const char *what);

/* Pack resp into conn's output (an answer without a call: rpc.c). */
void call_send(struct conn *conn, Tunekv__V1__Response *resp);

/* A call with room for a key of key_len bytes, from node's pool (borrowed)
 * when it fits (NULL when out of memory); give it back with call_release if
 * it never became a call (call_answer* free the others). */
struct call *call_alloc(struct node *node, size_t key_len);
void call_release(struct node *node, struct call *c);

/* Register c's deadline (at_ms set) in the node's heap. TKV_ENOMEM if it
 * cannot. */
int call_deadline_add(struct call *c);

/* Release the freed calls the node keeps for reuse (server_close). */
void call_pool_drain(struct node *node);

#endif
