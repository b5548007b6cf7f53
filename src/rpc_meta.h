/* The metadata group as the server wires it (rpc_meta.c): once per
 * housekeeping tick, bootstrap the cluster map where it is absent, learn
 * the version applied here, keep the data dir's copy. The header of a
 * handler module (layer 7), like rpc_node.h. */
#ifndef TKV_RPC_META_H
#define TKV_RPC_META_H

struct node;

/* At the metadata group's leader, write the map from the configuration if
 * the record is absent (a CAS from "absent", once); on every node, decode
 * a new version of the record once it is applied here, log how it differs
 * from the configuration, and write the data dir's copy on the threadpool.
 * node is borrowed. */
void rpc_meta_flush(struct node *node);

/* On every node, once per housekeeping tick: write the map it follows
 * (node.meta.map: its metadata replica's, or one learned from a peer) to
 * the data dir (CMAP_FILE) on the threadpool when its epoch is newer than
 * the copy's. A node restarted reads it first (server.c). */
void rpc_meta_keep_copy(struct node *node);

/* rpc_balance.c: at the metadata group's leader, write the next change
 * of the placement the rebalancer decides (balance.h), if any. */
void rpc_balance_flush(struct node *node);

/* Free what node.meta holds (the decoded map, the pinned partitions).
 * Safe twice. */
void rpc_meta_close(struct node *node);

#endif
