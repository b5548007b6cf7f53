/* Node-to-node operations (rpc_node.c), as the server wires them: each
 * partition's per-iteration read work, the table the answers to this
 * node's own probes and confirmations are taken through, and the group
 * callbacks. The header of a handler module (layer 7), so that the
 * handlers need not include dispatch's rpc.h to declare what they
 * define. */
#ifndef TKV_RPC_NODE_H
#define TKV_RPC_NODE_H

#include <stdint.h>

struct command_result;
struct group;
struct node;
struct rpc_node_calls;

/* Reads and probes of hosted partition p, once per loop iteration: serve
 * the waiting reads whose bound is now met, answer the ALL_REPLICAS writes
 * a lost leadership left behind, send a probe when one is due. node is
 * borrowed. */
void rpc_node_flush(struct node *node, uint32_t p, uint64_t now_ms);

/* The answers to this node's probes and confirmations; the server hands
 * the table to rpc_forward.c (node.node_calls). */
extern const struct rpc_node_calls rpc_node_calls;

/* group_params.applied_cb (data: the node): an ALL_REPLICAS write applied
 * on a follower makes it report to the leader at once. */
void rpc_node_applied(void *data, struct group *g, uint64_t index, unsigned flags,
                      const struct command_result *res);

/* group_params.confirm_cb (data: the node): send a ConfirmRequest to
 * each voter over the peer links. */
unsigned rpc_node_confirm_send(void *data, struct group *g, uint64_t seq, const uint64_t *voters,
                               unsigned n);

#endif
