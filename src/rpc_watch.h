/* WATCH streams, as the server wires them (rpc_watch.c): their memory on
 * the node, each partition's delivery once per loop iteration, progress
 * frames, and their end with a connection or with the node. The handlers'
 * side (the stream's start, WATCH_CANCEL) is in rpc_internal.h. */
#ifndef TKV_RPC_WATCH_H
#define TKV_RPC_WATCH_H

#include <stdint.h>

struct conn;
struct node;

/* The node's streams, none yet: node->watches. 0 or TKV_ENOMEM. */
int rpc_watch_init(struct node *node);
/* Free every stream (their connections are closed or closing) and the
 * set; safe when rpc_watch_init failed or never ran. */
void rpc_watch_destroy(struct node *node);

/* Send partition p's changes applied since the last call to its streams,
 * and go on with those that stopped on a full connection. */
void rpc_watch_flush(struct node *node, uint32_t p);

/* Every watch_progress_ms (the server calls it at least that often): a
 * progress frame on every stream; a BOUNDED_STALENESS stream whose replica
 * is over its bound ends (BOUND_UNMET). now_ms: node_clock_ms. */
void rpc_watch_tick(struct node *node, uint64_t now_ms);

/* End every stream with a last frame saying tkv_err and why (the node is
 * shutting down: its clients go on elsewhere, after the indexes they saw). */
void rpc_watch_end_all(struct node *node, int tkv_err, const char *why);

/* Partition p's replica here closes (the cluster map moved it away) or a
 * new one opens: every stream reading p ends (UNAVAILABLE: its client
 * resumes on another replica after the indexes it saw), and the hub
 * forgets its place in the old replica's history. */
void rpc_watch_partition_gone(struct node *node, uint32_t p);

/* conn_handlers.on_close: conn's streams end, silently (nothing can be
 * written to it any more). */
void rpc_watch_conn_closed(struct conn *conn);

#endif
