/* Requests: decode, validate, dispatch to a handler, answer. The method
 * table and the handlers live in rpc*.c; generated protobuf-c types never
 * leave them (see rpc_internal.h). */
#ifndef TKV_RPC_H
#define TKV_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct call;

/* Handle one request frame's payload (borrowed). Every outcome is answered
 * on conn, except an undecodable frame, which is answered with id 0 and
 * closes the connection. */
void rpc_dispatch(struct conn *conn, const uint8_t *data, size_t len);

/* Answer a request that could not be read at all (frame too large). */
void rpc_answer_frame_error(struct conn *conn, int tkv_err, const char *message);

struct deadline;
struct peer;
struct peer_call;

/* Peer links (rpc_forward.c): every answer frame a link receives, a call
 * the link could not complete, and the liveness ping. */
void rpc_forward_on_frame(struct peer *p, const uint8_t *frame, size_t len);
void rpc_forward_on_fail(struct peer_call *pc, bool sent);
void rpc_forward_ping(struct peer *p, uint64_t now_ms);

struct group;
struct node;

/* Reads and probes of hosted partition p (rpc_node.c), once per loop
 * iteration: serve the waiting reads whose bound is now met, answer the
 * ALL_REPLICAS writes a lost leadership left behind, send a probe when one
 * is due (rpc_node.c). */
void rpc_node_flush(struct node *node, uint32_t p, uint64_t now_ms);

/* The answers to this node's probes and confirmations (rpc_node.c); the
 * server hands the table to rpc_forward.c (node.node_calls). */
struct rpc_node_calls;
extern const struct rpc_node_calls rpc_node_calls;

/* group_params.applied_cb (data: the node): an ALL_REPLICAS write applied
 * on a follower makes it report to the leader at once. */
void rpc_node_applied(void *data, struct group *g, uint64_t index, unsigned flags);

/* group_params.confirm_cb (data: the node): send a ConfirmRequest to
 * each voter over the peer links. */
unsigned rpc_node_confirm_send(void *data, struct group *g, uint64_t seq, const uint64_t *voters,
                               unsigned n);

/* The deadline d of a call expired: abandon its work and answer TIMEOUT (or
 * OUTCOME_UNKNOWN for a write that reached Raft). */
void rpc_expire(struct deadline *d);

/* Abandon the call of deadline d during shutdown: answer UNAVAILABLE (or
 * OUTCOME_UNKNOWN for a write that reached Raft). */
void rpc_cancel(struct deadline *d);

#endif
