/* The loop-owned state of one tunekvd node: the only mutable "global". */
#ifndef TKV_SERVER_H
#define TKV_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
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

struct conn;
struct rpc_node_calls;

enum server_state {
        SERVER_STARTING, /* groups opening */
        SERVER_SERVING,
        SERVER_DRAINING, /* SIGTERM: finishing requests in progress */
        SERVER_STOPPING, /* closing groups, then handles */
        SERVER_STOPPED,
};

struct server_stats {
        uint64_t conns_accepted;
        uint64_t conns_refused; /* over conns_max */
        uint64_t requests;
        uint64_t answers_busy;
        uint64_t frames_too_large;
        uint64_t conns_output_closed; /* closed over conn_output_close_bytes */
        uint64_t conns_timed_out;     /* closed by frame_timeout_ms / idle_timeout_ms */
        uint64_t conns_budget_closed; /* closed over client_buffers_bytes_max */
        uint64_t output_closed_logged_ms;
        uint64_t budget_closed_logged_ms;
        uint64_t frames_undecodable;
        uint64_t forwarded;      /* requests handed to another node */
        uint64_t links_accepted; /* node links adopted from the peer port */
        uint64_t links_refused;  /* over links_max */
        uint64_t bytes_in[2];    /* received on [0] client connections, [1] node links */
        uint64_t bytes_out[2];   /* written to them (counted when the write completes) */
};

/* Read the configuration again, as at start (the same file and flags),
 * into out; 0, or TKV_E* with errmsg set. */
typedef int (*server_reload_cb)(void *data, struct config *out, char *errmsg);

struct server {
        uv_loop_t *loop;
        struct config *cfg; /* borrowed; SIGHUP updates what may change (config_reload_option) */
        enum server_state state;
        uv_tcp_t listener;
        struct spare spare; /* takes connections conn_accept cannot allocate */
        struct transport_mux mux;
        struct identity identity;
        struct group **groups; /* one per partition, owned; NULL unless hosted and opened */
        bool *hosted;
        unsigned n_partitions;
        unsigned n_groups;      /* n_partitions, + 1 for the system group with [auth] on */
        unsigned n_hosted;      /* key partitions hosted here */
        unsigned n_groups_open; /* groups not yet closed */
        struct peer *peers;     /* links to the other nodes, in cfg->nodes order (self unused) */
        struct node node;       /* what the handlers see of the above (node.h) */
        struct peer_params peer_params;
        struct peer_env peer_env;                  /* what the links read of the node (peer.h) */
        const struct rpc_node_calls *node_calls;   /* answers to our node calls (rpc_internal.h) */
        const struct conn_handlers *conn_handlers; /* what connections hand up (conn.h) */
        struct queue conns;                        /* struct conn: clients' and node links */
        unsigned n_conns;                          /* client connections */
        uint64_t client_bytes; /* held by client connections (conn_held), node-wide */
        unsigned n_links;      /* node links */
        unsigned calls;        /* requests in progress on all connections */
        /* Freed calls kept for reuse (call.c): requests come and go by the
         * hundred thousand, and a malloc'd call per request left holes
         * between the store's long-lived entries. */
        void *call_pool; /* singly linked through the first word */
        unsigned call_pool_n;
        struct queue dirty; /* conns with answers to write */
        uv_prepare_t prepare;
        uv_check_t check;
        uv_timer_t deadline_timer;
        struct deadline_heap deadlines;
        uint64_t deadline_armed_ms; /* when deadline_timer fires; 0 = stopped */
        uv_timer_t lag_timer;       /* fires every SERVER_LAG_PERIOD_MS */
        uint64_t lag_expected_ms;
        uint32_t loop_lag_ms;
        uint32_t loop_lag_max_ms;
        uv_signal_t sigterm;
        uv_signal_t sigint;
        uv_signal_t sighup;  /* reload (server_reload) */
        uv_signal_t sigusr1; /* logged, otherwise ignored */
        uv_signal_t sigusr2;
        server_reload_cb reload_cb; /* NULL: SIGHUP reloads nothing */
        void *reload_data;
        uint64_t started_ms;
        uint64_t watchdog_period_ms; /* systemd: feed it this often; 0: none */
        uint64_t watchdog_fed_ms;
        uint64_t drain_start_ms;
        uint64_t housekeeping_ms;          /* next leader balancing / watching pass */
        int ready_fd;                      /* -1 once readiness was reported */
        struct read_state *reads;          /* one per partition (hosted ones used) */
        struct peer_call *probe_calls;     /* one per partition: its probe in flight */
        struct rpc_auth auth;              /* client users ([auth]): rpc_auth.c */
        struct session_keys keys;          /* token MACs */
        struct session_keys keys_previous; /* rotation: still accepted (keys.previous) */
        uint64_t previous_until_ms;        /* loop time the previous secret retires */
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
        uint64_t conn_serial;
        unsigned handles_open; /* our own handles still to close at the end */
        int exit_code;
        struct server_stats stats;
        bool disk_low;            /* data dir below disk_reserve_bytes: writes refused */
        uint64_t disk_free_bytes; /* at the last check */
        unsigned disk_ticks;      /* lag ticks since the last check */
        unsigned metrics_ticks;   /* lag ticks since the last exposition */
        struct metrics metrics;   /* /metrics, /healthz, /readyz ([node] metrics_addr) */
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
