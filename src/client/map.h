/* The client's partition map: how many partitions the cluster has, where
 * each node takes client connections, and which node leads each partition.
 *
 * It is filled from a CLUSTER_INFO answer (map_update) and corrected by the
 * leader hints of NOT_LEADER answers (map_hint) between two fetches. It does
 * no I/O and knows nothing of connections: client.c asks it where a key's
 * request should go (map_partition_of, map_target) and opens a connection to
 * that node's address. A map can be stale; the server's answers correct it.
 *
 * Errors are the public enum tkv_code (see codec.h for why). */
#ifndef TKV_CLIENT_MAP_H
#define TKV_CLIENT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunekv.h"

#define MAP_REPLICAS_MAX   8    /* as struct tkv_partition_info */
#define MAP_PARTITIONS_MAX 1024 /* the server's bound */
#define MAP_NODES_MAX      64   /* the server's bound */
#define MAP_ADDR_BYTES     264  /* "host:port" of CLIENT_HOST_BYTES + port, NUL */

struct map_node {
        uint32_t id;
        char addr[MAP_ADDR_BYTES]; /* client address as the cluster states it */
};

struct map_partition {
        uint32_t leader_id; /* 0 = unknown */
        uint32_t replicas[MAP_REPLICAS_MAX];
        unsigned n_replicas;
};

struct map {
        bool valid;               /* filled at least once */
        uint32_t partition_count; /* P, > 0 when valid */
        struct map_node *nodes;   /* tkv_malloc'd, n_nodes entries */
        unsigned n_nodes;
        struct map_partition *partitions; /* tkv_malloc'd, partition_count entries */
        uint64_t updates;                 /* changes made by map_update and map_hint */
};

/* An empty, invalid map. */
void map_init(struct map *m);

/* Free what the map holds; it is empty and invalid again. */
void map_free(struct map *m);

/* Replace the map's contents with ci (borrowed). Fails, leaving m as it
 * was, with TKV_PROTOCOL_ERROR when ci is unusable (no partitions, more
 * than MAP_PARTITIONS_MAX or MAP_NODES_MAX, a partition number out of range)
 * or TKV_NO_MEMORY. Partitions that ci does not list keep no leader and no
 * replicas. */
int map_update(struct map *m, const struct tkv_cluster_info *ci);

/* The partition of a key: XXH64(key, seed 0) % P. m must be valid. */
uint32_t map_partition_of(const struct map *m, const void *key, size_t key_len);

/* The node to send attempt number `attempt` (from 0) of a request for
 * partition p to: its leader when known, else its replicas in turn, starting
 * with the first. 0 when the map names no node for p. */
uint32_t map_target(const struct map *m, uint32_t p, unsigned attempt);

/* A NOT_LEADER answer for partition p named node_id (non-zero) as leader,
 * at addr ("" or NULL: unknown; borrowed). Records the leader and, when the
 * node is new or its address changed, the address. Fails only with
 * TKV_NO_MEMORY (a new node could not be added); the leader is recorded
 * anyway. */
int map_hint(struct map *m, uint32_t p, uint32_t node_id, const char *addr);

/* The node with this id, or NULL. */
const struct map_node *map_node(const struct map *m, uint32_t id);

#endif
