/* Forwarding over the node links (rpc_forward.c), as the server wires it:
 * the callbacks every peer link reports through, and the liveness ping.
 * The header of a handler module (layer 7), so that the handlers need not
 * include dispatch's rpc.h to declare what they define. */
#ifndef TKV_RPC_FORWARD_H
#define TKV_RPC_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct peer;
struct peer_call;

/* Peer links: every answer frame a link receives (peer_frame_cb), a call
 * the link could not complete (peer_fail_cb), and the liveness ping. */
void rpc_forward_on_frame(struct peer *p, const uint8_t *frame, size_t len);
void rpc_forward_on_fail(struct peer_call *pc, bool sent);
void rpc_forward_ping(struct peer *p, uint64_t now_ms);

#endif
