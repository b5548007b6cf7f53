/* Requests: decode, validate, dispatch to a handler, answer; the end of a
 * call at its deadline or at shutdown (rpc.c, layer 8). The method table
 * and the handlers live in rpc*.c; generated protobuf-c types never leave
 * them (see rpc_internal.h). What the server wires of the handlers is in
 * rpc_forward.h and rpc_node.h. */
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

/* The deadline d of a call expired: abandon its work and answer TIMEOUT (or
 * OUTCOME_UNKNOWN for a write that reached Raft). */
void rpc_expire(struct deadline *d);

/* Abandon the call of deadline d during shutdown: answer UNAVAILABLE (or
 * OUTCOME_UNKNOWN for a write that reached Raft). */
void rpc_cancel(struct deadline *d);

#endif
