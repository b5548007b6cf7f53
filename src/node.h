/* The node as the request handlers see it: its partitions' groups and read
 * states, its links to the other nodes, its clock. The server owns all of
 * it (server.node, filled in by server_init) and the handlers reach it
 * through this interface, below them, instead of calling back into the
 * server. */
#ifndef TKV_NODE_H
#define TKV_NODE_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "group.h"
#include "latency.h"
#include "peer.h"
#include "read.h"

/* Operations the latency histograms tell apart. */
enum node_op { NODE_OP_GET, NODE_OP_PUT, NODE_OP_DELETE, NODE_OP_CAS, NODE_OP_OTHER, NODE_OPS };

struct node {
        const struct config *cfg; /* borrowed: the server's */
        uv_loop_t *loop;
        unsigned n_partitions;
        struct group **groups;    /* borrowed: server.groups, one per partition */
        struct group *auth_group; /* [auth] enabled: the system group holding users and
                                     roles (index n_partitions, every node a voter,
                                     never reached by keys: rpc_auth.c); else NULL */
        struct read_state *reads; /* borrowed: server.reads, one per partition */
        struct peer *peers;       /* borrowed: server.peers, in cfg->nodes order; NULL: none yet */
        uint64_t suspended_ms;    /* CLOCK_BOOTTIME - CLOCK_MONOTONIC: time the host slept */
        /* Client requests from arrival to answer, by operation and, for
         * GET, the level asked (index READ_LEVELS for the others). */
        struct latency_hist latency[NODE_OPS][READ_LEVELS + 1];
};

/* What a read counted on its partition (read_counters). */
enum node_read_count {
        READ_COUNT_SERVED,
        READ_COUNT_STALE,
        READ_COUNT_WAIT,
        READ_COUNT_FALLBACK,
        READ_COUNT_BOUND_UNMET,
};

/* The group of partition p if it is hosted here, else NULL. */
struct group *node_group(const struct node *n, uint32_t p);

/* Read state of partition p (any p < n_partitions). */
struct read_state *node_read_state(const struct node *n, uint32_t p);

/* The clock that measures staleness: loop time plus the time the host was
 * suspended (CLOCK_BOOTTIME; CLOCK_MONOTONIC stops during a suspend, and a
 * replica that slept must not count its state as younger than it is). */
uint64_t node_clock_ms(const struct node *n);

/* The same clock read now, not at the loop iteration's start (for the
 * probe clock check, which compares intervals of a few milliseconds). */
uint64_t node_clock_precise_ms(void);

/* Count one read of partition p asked at level (Tunekv__V1__Consistency). */
void node_count_read(const struct node *n, uint32_t p, unsigned level, enum node_read_count what);

/* The link to node_id, or NULL (unknown node, or this node). */
struct peer *node_peer(const struct node *n, unsigned node_id);

#endif
