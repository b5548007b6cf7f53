/* The client's partition map: how many partitions the cluster has, where
 * each node takes client connections, and which node leads each partition.
 *
 * It is filled from a CLUSTER_INFO answer (map_update) and corrected by the
 * leader hints of NOT_LEADER answers (map_hint) between two fetches. It does
 * no I/O and knows nothing of connections: client_route.c asks it where a key's
 * request should go (map_partition_of, map_target; map_choose for reads that
 * any replica may serve) and opens a connection to that node's address. A
 * map can be stale; the server's answers correct it.
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
#define MAP_ZONE_BYTES     64   /* as struct tkv_member's zone, NUL included */

struct map_node {
        uint32_t id;
        char addr[MAP_ADDR_BYTES]; /* client address as the cluster states it */
        char zone[MAP_ZONE_BYTES]; /* "" unless configured (a longer one is cut) */
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

/* The partition of a key: key_hash_partition(key) % P (keyhash.h: its
 * hash tag if it has one). m must be valid. */
uint32_t map_partition_of(const struct map *m, const void *key, size_t key_len);

/* The node to send attempt number `attempt` (from 0) of a request for
 * partition p to: its leader when known, else its replicas in turn, starting
 * with the first. 0 when the map names no node for p. */
uint32_t map_target(const struct map *m, uint32_t p, unsigned attempt);

/* A NOT_LEADER answer for partition p named node_id (non-zero) as leader,
 * at addr ("" or NULL: unknown; borrowed). Records the leader and, when the
 * node is new or its address changed, the address (a known node keeps its
 * zone; a new one has none until the next map_update). Fails only with
 * TKV_NO_MEMORY (a new node could not be added); the leader is recorded
 * anyway. */
int map_hint(struct map *m, uint32_t p, uint32_t node_id, const char *addr);

/* The node with this id, or NULL. */
const struct map_node *map_node(const struct map *m, uint32_t id);

/* A replica of a partition as client_route.c sees it when it routes a read that
 * need not go to the leader (a level other than LINEARIZABLE, a route
 * other than LEADER). */
struct map_candidate {
        uint32_t node_id;
        bool leader;     /* the map names it the partition's leader */
        bool down;       /* failed recently: a connection, or an answer saying it cannot serve */
        bool tried;      /* this request failed there already */
        bool measured;   /* rtt_us is a recent estimate */
        uint32_t rtt_us; /* moving average of its answers' round trips */
        bool local;      /* its node is in the client's zone (never without one) */
};

/* Which of the n candidates (n > 0) a read routed by route goes to; rr is
 * a counter the caller increments per choice, for round robin. Candidates
 * fall in classes, and the best class with a member wins:
 *
 *   route               classes, best first                 within the class
 *   FOLLOWER_PREFERRED  followers up, the leader up,         round robin
 *                       followers down, the leader down
 *   NEAREST             up in the client's zone, up,         the unmeasured (round robin),
 *                       down                                 else the lowest rtt
 *   ANY (and others)    up, down                             round robin
 *
 * where "up" is neither down nor tried, "down" is down but not tried, and
 * candidates this request tried already come last. NEAREST's first class
 * is empty when the client has no zone (no candidate is local), which
 * leaves the order by round-trip time alone. Round robin takes
 * member number rr % members, in the order of cands (borrowed). Returns an index
 * below n (0 when n is 0). */
unsigned map_choose(const struct map_candidate *cands, unsigned n, enum tkv_route route,
                    uint64_t rr);

#endif
