/* Shared by rpc.c, rpc_kv.c, rpc_admin.c and rpc_forward.c only. */
#ifndef TKV_RPC_INTERNAL_H
#define TKV_RPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "deadline.h"
#include "group.h"
#include "peer.h"
#include "rpc.h"
#include "tunekv.pb-c.h"

struct server;

/* Where a request in progress waits. */
enum call_stage {
        CALL_NEW,       /* nothing asynchronous yet */
        CALL_READ,      /* op.read: a linearizable read waiting for its fence */
        CALL_WRITE,     /* op.write: handed to group_propose */
        CALL_FORWARDED, /* op.fwd: sent to another node */
};

/* A request in progress. Allocated by rpc_dispatch with room for the key,
 * freed when it is answered (and its group work is abandoned or done). */
struct call {
        struct conn *conn; /* borrowed; counted in conn->refs */
        struct server *server;
        uint64_t id; /* the client's request id */
        const struct rpc_method *method;
        struct deadline deadline;
        struct group *group; /* partition's group, for GET/writes */
        uint32_t partition;
        enum call_stage stage;
        union {
                struct group_write write;
                struct group_read read;
                struct peer_call fwd;
        } op;
        uint64_t key_hash;
        uint32_t key_len;
        uint8_t key[]; /* GET: the key (key_len bytes) */
};

/* A handler answers c now (rpc_answer*) or later, from a group callback.
 * req is borrowed for the duration of the call. */
typedef void (*rpc_handler)(struct call *c, const Tunekv__V1__Request *req);

struct rpc_method {
        Tunekv__V1__Request__BodyCase body; /* which oneof member */
        const char *name;
        rpc_handler handler;
        bool has_key;  /* the call keeps the request's key */
        bool is_write; /* changes state: unknown outcome if interrupted */
};

/* Method of a decoded request, or NULL for an unknown operation. */
const struct rpc_method *rpc_method_of(const Tunekv__V1__Request *req);

/* Key of a request (GET/PUT/DELETE/CAS), or NULL. */
const ProtobufCBinaryData *rpc_request_key(const Tunekv__V1__Request *req);

/* Send resp (its id and status are set here) and free c. */
void rpc_answer(struct call *c, Tunekv__V1__Response *resp);

/* Send an error built from a TKV_E* code and a message, and free c. */
void rpc_answer_error(struct call *c, int tkv_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wire status of a TKV_E* code. */
Tunekv__V1__Status rpc_status_of(int tkv_err);

/* Handlers. */
void rpc_kv_get(struct call *c, const Tunekv__V1__Request *req);
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

/* rpc_forward.c: the node a request for c's partition should go to when
 * this node cannot serve it (0: none known), and whether a majority of the
 * partition's replicas is believed alive. */
unsigned rpc_forward_target(struct call *c, bool *quorum_alive);

#endif
