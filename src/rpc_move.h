/* Replica moves at each partition's leader (rpc_move.c). The header of a
 * handler module (layer 7), like rpc_meta.h. */
#ifndef TKV_RPC_MOVE_H
#define TKV_RPC_MOVE_H

#include <stdint.h>

struct node;

/* Once per housekeeping pass for partition p: if this node leads p and
 * its election barrier applied, take the next step of p's move in the
 * cluster map, or remove servers the map does not place on p. */
void rpc_move_flush(struct node *node, uint32_t p);

/* The step of p's move this node took last while leading p, and since
 * when (loop time), for STATUS; NULL when it drives none. */
const char *rpc_move_status(const struct node *node, uint32_t p, uint64_t *since_ms);

#endif
