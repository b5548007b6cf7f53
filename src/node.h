/* The node as the request handlers see it: its partitions' groups and read
 * states, its links to the other nodes, its clock, and what requests share
 * (the deadline heap, the pool of calls, token keys and scratch buffers,
 * the request counters). The server owns all of it (server.node, filled in
 * by server_init) and the handlers, call.c and dispatch reach it through
 * this interface, below them, instead of calling back into the server or
 * reading its fields (server.h is the composition root's alone). */
#ifndef TKV_NODE_H
#define TKV_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "cmap.h"
#include "config.h"
#include "deadline.h"
#include "group.h"
#include "hlc.h"
#include "latency.h"
#include "peer.h"
#include "read.h"
#include "session.h"

struct conn_set;
struct rpc_node_calls;

/* Where the node is in its life (the server moves it along). */
enum node_state {
        NODE_STARTING, /* groups opening */
        NODE_SERVING,
        NODE_DRAINING, /* SIGTERM: finishing requests in progress */
        NODE_STOPPING, /* closing groups, then handles */
        NODE_STOPPED,
};

/* The metadata group as this node follows it (rpc_meta.c): the cluster map
 * it applied last, the bootstrap write, the data dir's copy, and the
 * partitions whose leadership an operator moved here. */
struct node_meta {
        struct cmap *map;     /* owned: decoded from the record; NULL: none applied yet */
        uint64_t map_version; /* the record's version (mod index) map came from; 0: none */
        /* A joining node (no replica of the metadata group) asks a voter for
         * the map instead (rpc_join.c). */
        struct peer_call map_call; /* its CLUSTER_INFO, kind RPC_PEER_MAP */
        bool map_asking;           /* map_call in flight */
        uint64_t map_asked_ms;     /* loop time the last one was sent */
        unsigned map_ask_next;     /* the voter (index in cfg->nodes) asked next */
        /* A peer's answer carried a newer map epoch than this node's (its
         * pings'): a replica of the metadata group here that was moved away
         * hears no more of the group, so the node asks that peer instead. */
        uint64_t newer_epoch;
        uint32_t newer_from;
        uint64_t newer_since_ms;    /* loop time the map first lagged newer_epoch */
        bool addrs_agree;           /* map gives every configured node its configured addresses */
        bool differs_said;          /* the file's node list differs from the map: logged once */
        struct group_write boot;    /* the map's CAS at the group's leader: from "absent" at
                                       the first start (epoch 1), or a cluster of one's new
                                       addresses */
        bool booting;               /* boot is in flight */
        struct group_write balance; /* the rebalancer's change of the map (rpc_balance.c) */
        bool balancing;             /* balance is in flight */
        uint64_t boot_epoch;        /* the epoch of the map boot writes */
        bool saving;                /* the data dir's copy is being written (threadpool) */
        uint64_t saved_epoch;       /* the map's epoch in the data dir's copy */
        /* Per partition: transfer-leader made this node its leader, so leader
         * balancing (server.c) leaves it here until this node restarts. */
        bool *pinned;
};

/* Partition p's replica move as this node drives it (rpc_move.c), while
 * it leads p: the step it took last, and the MOVE_DONE it sends the
 * metadata group once the Raft group has changed. */
struct node_move {
        struct node *node;          /* back to the node (set at init) */
        struct peer_call done_call; /* MOVE_DONE to a member (kind RPC_PEER_MOVE) */
        struct group_write done;    /* ... or proposed here, at the metadata leader */
        bool done_busy;             /* either in flight */
        bool done_recorded;         /* the map has this move done (this node's may lag) */
        uint64_t done_next_ms;      /* no new MOVE_DONE before this loop time */
        unsigned from, to;          /* the move the step belongs to */
        const char *step;           /* what it waits for or did last (static text); NULL: none */
        uint64_t step_since_ms;     /* loop time the step began */
};

/* Requests counted by dispatch and the handlers (the connections' own
 * counters are conn_stats). */
struct node_stats {
        uint64_t requests;
        uint64_t answers_busy;
        uint64_t frames_undecodable;
        uint64_t forwarded;    /* requests handed to another node */
        uint64_t watches;      /* WATCH streams open (rpc_watch.c) */
        uint64_t watch_pauses; /* spread streams' shares paused for a slow client */
};

/* Operations the latency histograms tell apart. */
enum node_op { NODE_OP_GET, NODE_OP_PUT, NODE_OP_DELETE, NODE_OP_CAS, NODE_OP_OTHER, NODE_OPS };

struct rpc_watch_set;

struct node {
        const struct config *cfg; /* borrowed: the server's */
        uv_loop_t *loop;
        unsigned n_partitions;
        struct group **groups;    /* borrowed: server.groups, one per partition */
        struct group *meta_group; /* the metadata group (index n_partitions, every node a
                                     voter, never reached by keys): the cluster map
                                     (rpc_meta.c), and with [auth] the users and roles
                                     (rpc_auth.c); NULL before start */
        struct node_meta meta;
        struct read_state *reads; /* borrowed: server.reads, one per partition */
        struct peer *peers;       /* borrowed: server.peers: cfg->nodes order (self's slot unused),
                                     then members the cluster map named since; NULL: none yet */
        unsigned n_peers;         /* slots of peers in use */
        const struct conn_set *conns; /* borrowed: server.conns (STATUS counts its clients) */
        enum node_state state;
        unsigned n_hosted;     /* partitions with a replica here */
        uint64_t started_ms;   /* loop time server_start ran */
        uint64_t suspended_ms; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC: time the host slept */
        uint32_t loop_lag_ms;  /* how late the server's lag timer fired last */
        uint32_t loop_lag_max_ms;
        bool disk_low;                  /* data dir below disk_reserve_bytes: writes refused */
        uint64_t disk_free_bytes;       /* at the server's last check */
        struct deadline_heap deadlines; /* every call's; the server's timer runs it */
        unsigned calls;                 /* requests in progress on all connections */
        /* Freed calls kept for reuse (call.c): requests come and go by the
         * hundred thousand, and a malloc'd call per request left holes
         * between the store's long-lived entries. */
        void *call_pool; /* singly linked through the first word */
        unsigned call_pool_n;
        struct peer_call *probe_calls; /* one per partition: its probe in flight */
        struct node_move *moves; /* one per partition, and the metadata group's (rpc_move.c) */
        /* Per partition not hosted here: the leader the last NOT_LEADER
         * answer to a forward named (0: none); route.h row 11. */
        uint32_t *leaders_heard;
        const struct rpc_node_calls *node_calls; /* answers to our node calls (rpc_internal.h) */
        struct auth_state auth;                  /* client users ([auth]): rpc_auth.c */
        struct session_keys keys;                /* token MACs */
        struct hlc hlc;                          /* write timestamps (hlc.h) */
        /* Freshness tickets, one counter for every partition's leader
         * proofs and probes (read.h, fresh_after). */
        uint64_t fresh_tickets;
        uint64_t wall_loop_ms;             /* node_wall_ms: the loop time it was read at */
        uint64_t wall_ms;                  /* ... and the wall clock then */
        struct session_keys keys_previous; /* rotation: still accepted (keys.previous) */
        struct session_entry *token_ents;  /* scratch: token_cap entries */
        uint8_t *token_bytes;              /* scratch: token_cap entries encoded */
        unsigned token_cap;
        uint8_t *scratch; /* value (de)compression, value_bytes_max bytes */
        size_t scratch_bytes;
        /* The request rpc_dispatch is running a handler for (rpc.c), so
         * that forwarding it (rpc_forward.c) can send the bytes it came in
         * rather than encode it again: its decoded form (a
         * Tunekv__V1__Request, which only rpc*.c may name) and those
         * bytes. Borrowed from rpc_dispatch for the handler call only: NULL
         * outside it, because the bytes live in the connection's input
         * buffer. */
        struct {
                const void *req;
                const uint8_t *bytes;
                size_t len;
        } dispatching;
        struct node_stats stats;
        struct rpc_watch_set *watches; /* WATCH streams (rpc_watch.c owns them) */
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

/* The same, and for p == n_partitions the metadata group (if running
 * here): for what treats it as one more placed group (replica moves). */
struct group *node_group_or_meta(const struct node *n, uint32_t p);

/* Partition p's replicas that serve it (ids: CONFIG_REPLICAS_MAX), the
 * preferred leader first: the cluster map's placement once this node
 * applied a map, the configuration's before. How many. */
unsigned node_replicas_of(const struct node *n, uint32_t p, unsigned *ids);

/* Does this node hold a replica of p by the map (one that serves, or a
 * move's target), or by the configuration before the map is known? p may
 * be n_partitions: the metadata group (without a map: every configured
 * node). */
bool node_hosts(const struct node *n, uint32_t p);

/* The k-th (mod their count) other node holding a replica of the
 * metadata group, by the map (by the configuration before one): who a
 * node without that replica asks for the map or sends MEMBER. 0: none. */
unsigned node_meta_member(const struct node *n, unsigned k);

/* Read state of partition p (any p < n_partitions). */
struct read_state *node_read_state(const struct node *n, uint32_t p);

/* The clock that measures staleness: loop time plus the time the host was
 * suspended (CLOCK_BOOTTIME; CLOCK_MONOTONIC stops during a suspend, and a
 * replica that slept must not count its state as younger than it is). */
uint64_t node_clock_ms(const struct node *n);

/* The wall clock in ms (CLOCK_REALTIME), read at most once per loop
 * millisecond: for the freshness samples of every read (fresh.h). */
uint64_t node_wall_ms(struct node *n);

/* The same clock read now, not at the loop iteration's start (for the
 * probe clock check, which compares intervals of a few milliseconds). */
uint64_t node_clock_precise_ms(void);

/* Count one read of partition p asked at level (Tunekv__V1__Consistency). */
void node_count_read(const struct node *n, uint32_t p, unsigned level, enum node_read_count what);

/* The link to node_id, or NULL (unknown node, a member the map removed,
 * or this node): a configured node's, or a cluster map member's. */
struct peer *node_peer(const struct node *n, unsigned node_id);

#endif
