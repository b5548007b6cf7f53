/* The loop-owned state of one tunekvd node: the only mutable "global". */
#ifndef TKV_SERVER_H
#define TKV_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "deadline.h"
#include "group.h"
#include "metrics.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "read.h"
#include "rpc_auth.h"
#include "session.h"
#include "spare.h"
#include "transport.h"

/* Read the configuration again, as at start (the same file and flags),
 * into out; 0, or TKV_E* with errmsg set. */
typedef int (*server_reload_cb)(void *data, struct config *out, char *errmsg);

struct server {
        uv_loop_t *loop;
        struct config *cfg; /* borrowed; SIGHUP updates what may change (config_reload_option) */
        uv_tcp_t listener;
        struct spare spare; /* takes connections conn_accept cannot allocate */
        struct transport_mux mux;
        struct identity identity;
        struct group **groups; /* one per partition, owned; NULL unless hosted and opened */
        bool *hosted;
        unsigned n_partitions;
        unsigned n_groups;      /* n_partitions, + 1 for the system group with [auth] on */
        unsigned n_groups_open; /* groups not yet closed */
        struct peer *peers;     /* links to the other nodes, in cfg->nodes order (self unused),
                                   then to members the cluster map named (node.n_peers) */
        uint64_t links_epoch;   /* the map epoch node links last followed */
        uint64_t placed_epoch;  /* the map epoch the hosted replicas follow (server_place.c) */
        bool *wiping;           /* per partition: a closed replica's directory being deleted */
        struct group **retired; /* closed replicas, destroyed with the server (server_place.c) */
        unsigned n_retired;
        unsigned retired_cap;
        bool joined; /* started with node.join: the map from a member, no metadata group */
        /* What dispatch, calls and handlers see (node.h): the above, and
         * the node's state, deadlines, calls, token keys, counters. */
        struct node node;
        struct peer_params peer_params;
        struct peer_env peer_env; /* what the links read of the node (peer.h) */
        struct conn_set conns;    /* clients' connections and node links, their budget (conn.h) */
        uv_prepare_t prepare;
        uv_check_t check;
        uv_timer_t deadline_timer;
        uint64_t deadline_armed_ms; /* when deadline_timer fires; 0 = stopped */
        uv_timer_t lag_timer;       /* fires every SERVER_LAG_PERIOD_MS */
        uint64_t lag_expected_ms;
        uv_signal_t sigterm;
        uv_signal_t sigint;
        uv_signal_t sighup;  /* reload (server_reload) */
        uv_signal_t sigusr1; /* logged, otherwise ignored */
        uv_signal_t sigusr2;
        server_reload_cb reload_cb; /* NULL: SIGHUP reloads nothing */
        void *reload_data;
        uint64_t watchdog_period_ms; /* systemd: feed it this often; 0: none */
        uint64_t watchdog_fed_ms;
        uint64_t drain_start_ms;
        uint64_t housekeeping_ms;   /* next leader balancing / watching pass */
        int ready_fd;               /* -1 once readiness was reported */
        struct read_state *reads;   /* one per partition (hosted ones used) */
        uint64_t previous_until_ms; /* loop time the previous secret retires */
        unsigned handles_open;      /* our own handles still to close at the end */
        int exit_code;
        unsigned disk_ticks;    /* lag ticks since the last check */
        unsigned metrics_ticks; /* lag ticks since the last exposition */
        struct metrics metrics; /* /metrics, /healthz, /readyz ([node] metrics_addr) */
        char errmsg[ERR_MSG_BYTES];
};

/* Set up s on loop for cfg (borrowed for s's lifetime). */
int server_init(struct server *s, uv_loop_t *loop, struct config *cfg);

/* Open every local group, listen on the peer and client addresses, install
 * signal handlers. TKV_E* with s->errmsg set. */
int server_start(struct server *s);

/* Graceful shutdown: stop accepting, drain requests in progress (up to
 * shutdown_timeout_ms), close every group (RAFT-NOTES B2), close handles.
 * uv_run returns once everything is closed. */
void server_stop(struct server *s);

/* Free memory after uv_run returned. */
void server_close(struct server *s);

#endif
