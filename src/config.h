/* tunekvd configuration: one table of options (config.c) drives the INI
 * file, the command-line flags, --help and validation.
 *
 * Precedence: built-in defaults < config file (--config FILE) < flags. Every
 * option is `section.key` in the file and `--key-with-dashes` on the command
 * line. A bad value is refused with the key's name and the reason. */
#ifndef TKV_CONFIG_H
#define TKV_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define CONFIG_ADDR_BYTES     64
#define CONFIG_PATH_BYTES     1024
#define CONFIG_NODES_MAX      64
#define CONFIG_PARTITIONS_MAX 1024
#define CONFIG_REPLICAS_MAX   7

struct config_node {
        unsigned id;
        char client_addr[CONFIG_ADDR_BYTES]; /* "a.b.c.d:port" */
        char peer_addr[CONFIG_ADDR_BYTES];
        char zone[CONFIG_ADDR_BYTES]; /* "" unless configured: a rack, a room, a region */
};

struct config {
        /* [node] this node */
        unsigned node_id;
        char client_addr[CONFIG_ADDR_BYTES];
        char peer_addr[CONFIG_ADDR_BYTES];
        char data_dir[CONFIG_PATH_BYTES];
        char metrics_addr[CONFIG_PATH_BYTES]; /* "" or "a.b.c.d:port" */
        unsigned bootstrap; /* 1: a fresh data dir may start while peers are unreachable */
        char join[CONFIG_PATH_BYTES]; /* "" or members' peer addresses, comma-separated: the
                                         cluster map comes from them (server.c) */

        /* [cluster] */
        char cluster_name[CONFIG_ADDR_BYTES];
        char secret[CONFIG_PATH_BYTES];      /* keys.h derives every key from it */
        char secret_file[CONFIG_PATH_BYTES]; /* where secret came from, if not inline */
        unsigned insecure; /* 1: a multi-node cluster may run without a real secret */
        char previous_secret[CONFIG_PATH_BYTES];      /* rotation: still accepted, for a while */
        char previous_secret_file[CONFIG_PATH_BYTES]; /* where it came from, if not inline */
        unsigned previous_secret_grace_s;             /* how long after start it is accepted */
        unsigned partitions;
        unsigned replicas;                          /* 0 = min(3, number of nodes) until resolved */
        unsigned rebalance;                         /* 1: spread replicas and leaders (balance.h) */
        unsigned moves_max;                         /* replica moves in progress at once */
        struct config_node nodes[CONFIG_NODES_MAX]; /* sorted by id after load */
        unsigned n_nodes;

        /* [limits] */
        uint64_t frame_bytes_max;
        uint64_t key_bytes_max;
        uint64_t value_bytes_max;
        unsigned txn_ops_max;      /* ops of one TXN, both branches */
        unsigned txn_compares_max; /* compares of one TXN */
        uint64_t txn_bytes_max;    /* keys and values of one TXN; get values answered */
        unsigned leases_max;       /* leases per partition */
        unsigned lease_keys_max;   /* keys per lease, fixed at its grant */
        unsigned lease_ttl_min_ms; /* bounds of a grant's TTL */
        unsigned lease_ttl_max_ms;
        unsigned inflight_per_conn_max;
        unsigned conns_max;
        uint64_t conn_output_bytes_max;
        uint64_t conn_output_close_bytes;
        uint64_t client_buffers_bytes_max; /* unsent answers that close a client connection */
        unsigned frame_timeout_ms;         /* a client frame begun must end within this */
        uint64_t disk_reserve_bytes;       /* free space below which writes are refused */
        unsigned idle_timeout_ms;          /* idle client connections closed after this; 0 never */
        unsigned links_max;                /* node links accepted on the peer port */
        unsigned link_inflight_max;        /* requests in progress per node link */
        uint64_t link_output_bytes_max;    /* unsent answers per node link */
        uint64_t token_bytes_max;
        unsigned peer_entries_max;       /* entries in one inbound AppendEntries */
        uint64_t peer_message_bytes_max; /* payload of one inbound Raft message */
        unsigned auth_in_flight_max;     /* AUTH password hashings at once */

        /* [auth] client users and permissions (auth.h) */
        unsigned auth_enabled;                      /* [auth] enabled */
        char root_password_file[CONFIG_PATH_BYTES]; /* root's password until stored */
        char root_password[CONFIG_PATH_BYTES];      /* read from it at load; never logged */
        unsigned kdf_iterations;

        /* [raft] */
        unsigned election_timeout_ms;
        unsigned heartbeat_timeout_ms;
        unsigned snapshot_threshold;
        uint64_t snapshot_bytes; /* applied entry bytes that also trigger a snapshot */
        unsigned snapshot_trailing;
        unsigned install_snapshot_timeout_ms; /* raft_set_install_snapshot_timeout */
        unsigned snapshot_compression;        /* 0 or 1 */
        unsigned apply_batch_max;
        unsigned barriers_inflight_max;
        uint64_t segment_bytes;
        unsigned connect_retry_ms;
        unsigned connect_timeout_ms;

        /* [read] */
        unsigned probe_interval_ms;
        unsigned max_clock_offset_ms;    /* hlc.h: timestamps seen may be this far ahead */
        unsigned get_many_keys_max;      /* keys of one GET_MANY (rpc_many.c) */
        unsigned scan_limit_max;         /* keys of one SCAN page (rpc_scan.c) */
        uint64_t scan_bytes_max;         /* key and value bytes of one SCAN page */
        unsigned watches_max;            /* WATCH streams open on the node (rpc_watch.c) */
        unsigned watches_per_conn_max;   /* ... on one connection */
        uint64_t watch_output_bytes_max; /* a connection's unsent bytes its streams stop at */
        unsigned watch_progress_ms;      /* progress frames of every stream this often */
        unsigned freshness_reads_max;    /* fresh.h: reads sampled per partition at a time */
        unsigned freshness_window_ms;    /* fresh.h: how long a sampled read watches the log */
        unsigned read_index; /* 1: linearizable reads confirm leadership by messages (ReadIndex) */
        unsigned forward_rate;
        unsigned forward_burst;

        /* [server] */
        unsigned request_timeout_ms;
        unsigned request_timeout_max_ms;
        unsigned shutdown_timeout_ms;
        uint64_t compress_min_bytes;
        unsigned session_window;
        unsigned sessions_max;
        uint64_t sessions_bytes_max;
        /* [history]: each partition's recent changes (changes.h) */
        unsigned history_changes_max;
        uint64_t history_bytes_max;
        unsigned history_retain_ms;
        unsigned threadpool_size;
        char log_level[CONFIG_ADDR_BYTES]; /* CONFIG_NAME fields hold up to 63 bytes */
        char log_format[CONFIG_ADDR_BYTES];

        /* [tls] (docs/security.md): "" = plaintext */
        char cert_file[CONFIG_PATH_BYTES]; /* client port */
        char key_file[CONFIG_PATH_BYTES];
        char ca_file[CONFIG_PATH_BYTES];        /* client certificates */
        unsigned client_cert_auth;              /* 1: clients must show one */
        char peer_cert_file[CONFIG_PATH_BYTES]; /* peer port, both directions */
        char peer_key_file[CONFIG_PATH_BYTES];
        char peer_ca_file[CONFIG_PATH_BYTES];
        char min_version[CONFIG_ADDR_BYTES]; /* "1.2" or "1.3" */

        /* Command line only. */
        char config_file[CONFIG_PATH_BYTES];
        int ready_fd; /* -1: none */
        bool help;
        bool version;
        unsigned man; /* --man 8|5: print tunekvd(8) or tunekv.conf(5) */
};

/* The addresses a joining node asks for the cluster map (node.join): at
 * most this many. */
#define CONFIG_JOIN_MAX 16

/* Split c->join into addrs (CONFIG_JOIN_MAX of CONFIG_ADDR_BYTES); the
 * count. Validated at load, so every entry is "a.b.c.d:port". */
unsigned config_join_addrs(const struct config *c, char (*addrs)[CONFIG_ADDR_BYTES]);

/* A joining node's node list from the cluster map: voters (in the
 * order of ids, which the placement follows) given as ids, addresses and
 * zones (n of them, copied). This node is not among them: it hosts no
 * replica yet. */
void config_set_nodes(struct config *c, const struct config_node *nodes, unsigned n);

/* Fill c with the built-in defaults. */
void config_defaults(struct config *c);

/* Load defaults, then the file named by --config (if any), then the flags;
 * then validate and resolve derived values (node list, replicas). On error
 * returns TKV_EINVAL with a message naming the key and the reason in
 * errmsg (ERR_MSG_BYTES). */
int config_load(struct config *c, int argc, char **argv, char *errmsg);

/* One option that differs between two configurations: its section and key
 * ("node", "nodes" for the [node.N] list). */
typedef void (*config_change_cb)(void *data, const char *section, const char *key);

/* Call cb for every option whose value differs between a and b (both
 * borrowed), in table order; returns how many differ. */
unsigned config_changes(const struct config *a, const struct config *b, config_change_cb cb,
                        void *data);

/* If section.key may change while the node runs (SIGHUP), copy its value
 * from next into live and return true, with the new value as text in buf;
 * false otherwise (it takes effect after a restart). Reloadable are the
 * log level and the limits and timeouts read at each use, not those
 * sized into structures at start. */
bool config_reload_option(struct config *live, const struct config *next, const char *section,
                          const char *key, char *buf, size_t len);

/* Print the manual page tunekvd(8) (section 8) or tunekv.conf(5) (section
 * 5) in roff, from the same option table as --help, so the two cannot
 * drift. */
void config_man(FILE *out, unsigned section, const char *version);

/* Print the usage text with every flag, its default and its meaning. */
void config_usage(FILE *out, const char *prog);

/* This node's entry in c->nodes. */
const struct config_node *config_self(const struct config *c);

struct peerauth_layout;

/* What every node of a cluster must agree on, as this node's configuration
 * has it: a hash of the partition count, the replica count, the client
 * session bounds (session_window, sessions_max, sessions_bytes_max), whether
 * client auth is on ([auth] enabled: in the fingerprint only), with the
 * numbers themselves for messages. The peer handshake compares them. The
 * node list is not in it: the cluster map, not each file, says who is a
 * member (a joining node's file lists other nodes than the members'). */
void config_layout(const struct config *c, struct peerauth_layout *out);

/* Why c's secret cannot protect a multi-node cluster (empty, a shipped
 * sample, shorter than 16 characters), or NULL if it can. */
const char *config_weak_secret(const struct config *c);

/* Index of node id in c->nodes, or -1. */
int config_node_index(const struct config *c, unsigned id);

/* Ids of the replicas of partition p, in placement order: nodes
 * (p + i) % N for i < replicas, counted over nodes sorted by id. */
unsigned config_replicas_of(const struct config *c, unsigned partition, unsigned *ids);

/* Split "a.b.c.d:port"; 0 or TKV_EADDR. host has CONFIG_ADDR_BYTES. */
int config_split_addr(const char *addr, char *host, unsigned *port);

#endif
