/* Shared by rpc.c, rpc_kv.c and rpc_admin.c only. */
#ifndef TKV_RPC_INTERNAL_H
#define TKV_RPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "deadline.h"
#include "group.h"
#include "rpc.h"
#include "tunekv.pb-c.h"

struct server;

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
        bool in_raft; /* a write handed to group_propose */
        union {
                struct group_write write;
                struct group_read read;
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
        bool has_key; /* the call keeps the request's key */
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

/* rpc_kv.c: what to do with a call whose deadline expired / that shutdown
 * abandons. Returns true if the write may have happened. */
bool rpc_kv_abandon(struct call *c);

#endif
