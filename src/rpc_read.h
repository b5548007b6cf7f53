/* What the server calls in rpc_read.c (the reads at every level; the
 * handlers' own declarations are in rpc_internal.h). */
#ifndef TKV_RPC_READ_H
#define TKV_RPC_READ_H

#include <stdint.h>

struct node;

/* Partition p's replica here closes (the cluster map moved it away):
 * every read waiting on it for its bound is answered UNAVAILABLE (the
 * client retries on another replica). */
void rpc_read_partition_gone(struct node *node, uint32_t p);

#endif
