/* libtunekv: the C client of tunekv.
 *
 * Two ways to use it, on the same client object:
 *
 * - Blocking calls (tkv_get, tkv_put, ...) send one request and wait for its
 *   answer. For scripts and simple programs.
 *
 * - Non-blocking calls (tkv_get_async, tkv_put_async, ...) queue a request
 *   and return at once; tkv_poll() sends queued requests, reads answers and
 *   runs each request's callback. Many requests may be in flight on each
 *   connection (pipelining); answers can complete in any order. For the CLI,
 *   the benchmark tool and servers that multiplex many users. tkv_fd() lets a
 *   program wait in its own event loop and call tkv_poll(c, 0) when the fd
 *   is readable.
 *
 * Routing and retries. On the first request for a key the client fetches
 * the cluster layout (CLUSTER_INFO) from the endpoints, then sends each PUT,
 * DELETE, CAS and LINEARIZABLE GET straight to the leader of the key's
 * partition, over one connection per node. A GET at a weaker level goes
 * where its route says: LEADER (the default) the leader; FOLLOWER_PREFERRED
 * a follower not failed recently (the followers in turn), else the leader;
 * NEAREST the replica whose served reads had the lowest round-trip time (a
 * moving average per node; a replica not measured in the last 10 s is tried
 * first), among the replicas in the client's zone (tkv_options.zone) while
 * one of them is usable, else among all; ANY each replica in turn. Such
 * reads are sent with no_forward, so the chosen replica serves them itself.
 * When a node answers NOT_LEADER with a hint the request is resent to the
 * hinted node at once; on NOT_LEADER without a hint, UNAVAILABLE,
 * NO_QUORUM, BUSY, TIMEOUT, a refused connection or a lost one, the client
 * refreshes its map (at most every 100 ms) and tries again after a backoff
 * (20 ms doubling to 100 ms), until the request's deadline; a weaker read
 * goes at once to a replica it has not failed on, while there is one.
 * BOUND_UNMET is delivered, never retried: on_unmet said what to do. The
 * client then reports the last failure, or TKV_OUTCOME_UNKNOWN for a write
 * that may have been applied. Every write carries the client's random id
 * and a sequence number of its own, the same on every attempt, so the
 * server applies a retried write once and answers it with its first
 * result. STATUS and CLUSTER_INFO requests are not retried. Sessions and
 * their tokens: see "Session tokens" below.
 *
 * Threads: a struct tkv_client is not thread-safe; use one per thread.
 *
 * Ownership, for every function below:
 * - pointer arguments are borrowed: the library copies what it keeps, and
 *   the caller may reuse or free them as soon as the call returns;
 * - a struct tkv_result passed to a callback is borrowed for the duration
 *   of the callback only (copy what you need);
 * - a struct tkv_result filled by a blocking call owns its memory until
 *   tkv_result_release();
 * - strings returned by tkv_errmsg() and tkv_status_name() are owned by the
 *   library.
 *
 * Errors: functions return TKV_OK (0) or a positive tkv_code. Codes below 100
 * are the server's status codes (docs/protocol.md); codes from 100 are
 * client-side conditions. tkv_errmsg() gives the text of the last failure. */
#ifndef TUNEKV_H
#define TUNEKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunekv_version.h" /* TKV_VERSION, generated from CMakeLists.txt */

#ifdef __cplusplus
extern "C" {
#endif

#define TKV_API __attribute__((visibility("default")))

enum tkv_code {
        /* Server statuses: the values of tunekv.v1.Status. */
        TKV_OK = 0,
        TKV_NOT_FOUND = 1,
        TKV_CONDITION_FAILED = 2,
        TKV_NOT_LEADER = 3,
        TKV_BOUND_UNMET = 4,
        TKV_NO_QUORUM = 5,
        TKV_TIMEOUT = 6,
        TKV_OUTCOME_UNKNOWN = 7,
        TKV_INVALID_ARGUMENT = 8,
        TKV_TOO_LARGE = 9,
        TKV_BUSY = 10,
        TKV_UNAVAILABLE = 11,
        TKV_INTERNAL = 12,
        TKV_NO_SPACE = 13,        /* the leader's disk is nearly full: the write was not applied */
        TKV_UNAUTHENTICATED = 14, /* auth is on: no user, or a wrong user or password */
        TKV_PERMISSION_DENIED = 15, /* the user's roles do not allow this (on this key) */
        TKV_COMPACTED = 16,         /* at_timestamp, or a watch's position, older than the
                                       replica's change history */
        /* Client-side conditions. A write that was sent and got no answer
         * is never reported with these: it completes OUTCOME_UNKNOWN. */
        TKV_CONNECT_FAILED = 100,    /* no endpoint could be reached */
        TKV_PROTOCOL_ERROR = 101,    /* the server sent something undecodable */
        TKV_NO_MEMORY = 102,         /* the library could not allocate */
        TKV_CONNECTION_CLOSED = 103, /* the connection broke with the read in flight */
        TKV_USAGE_ERROR = 104,       /* bad arguments to a library call */
};

/* Stable upper-case name of a code ("NOT_FOUND", "CONNECT_FAILED"). */
TKV_API const char *tkv_status_name(int code);

enum tkv_consistency {
        TKV_LINEARIZABLE = 0,
        TKV_SEQUENTIAL = 1,
        TKV_CAUSAL = 2,
        TKV_SESSION = 3,
        TKV_BOUNDED_STALENESS = 4,
        TKV_EVENTUAL = 5,
};

/* Bits of tkv_read_options.session_flags. */
#define TKV_READ_YOUR_WRITES    1u
#define TKV_MONOTONIC_READS     2u
#define TKV_MONOTONIC_WRITES    4u
#define TKV_WRITES_FOLLOW_READS 8u

enum tkv_route {
        TKV_ROUTE_LEADER = 0,
        TKV_ROUTE_FOLLOWER_PREFERRED,
        TKV_ROUTE_NEAREST,
        TKV_ROUTE_ANY
};

enum tkv_on_unmet {
        TKV_ON_UNMET_WAIT = 0,
        TKV_ON_UNMET_FAIL,
        TKV_ON_UNMET_FORWARD_LEADER,
        TKV_ON_UNMET_SERVE_STALE_LABELLED,
};

enum tkv_ack { TKV_ACK_COMMITTED = 0, TKV_ACK_ALL_REPLICAS, TKV_ACK_LEADER_ACCEPTED };

enum tkv_role { TKV_ROLE_UNAVAILABLE = 0, TKV_ROLE_FOLLOWER, TKV_ROLE_CANDIDATE, TKV_ROLE_LEADER };

/* How to reach the cluster. Zero-initialize, then set what you need. */
struct tkv_options {
        const char *endpoints;       /* "host:port,host:port"; NULL: $TUNEKV_ENDPOINTS,
                                        else 127.0.0.1:7001 */
        unsigned timeout_ms;         /* default per-request deadline, retries
                                        included; 0 = 5000 */
        unsigned connect_timeout_ms; /* 0 = 2000 */
        unsigned max_inflight;       /* requests in flight per connection; 0 = 1024 */
        /* TLS to the client ports (docs/security.md), on when tls is true
         * or any file is given. The servers' certificates must chain to
         * tls_ca_file (NULL: the system's CAs) and carry the name the
         * endpoint was given by (or tls_server_name). */
        bool tls;
        const char *tls_ca_file;
        const char *tls_cert_file; /* ours, for servers that require client certificates */
        const char *tls_key_file;
        const char *tls_server_name;
        const char *user;     /* AUTH as this user on every new connection, before
                                 anything else; NULL or "": no AUTH */
        const char *password; /* the user's password (NUL-terminated; copied) */
        /* Appended for zone-aware reads: the zone this client runs in (a
         * rack, a room, a region: [node.N] zone's labels, up to 63 letters,
         * digits, '.', '_' and '-'; copied). NULL or "": $TKV_ZONE, else
         * none. Route NEAREST then prefers the replicas on nodes of this
         * zone; with none, NEAREST goes by round-trip time alone. */
        const char *zone;
};

/* Read options (DESIGN §4). Zero-initialized = linearizable from the leader. */
struct tkv_read_options {
        enum tkv_consistency level;
        unsigned session_flags; /* TKV_READ_YOUR_WRITES | ... */
        uint64_t min_index;
        unsigned max_staleness_ms;
        uint64_t max_lag_entries;
        enum tkv_route route;
        enum tkv_on_unmet on_unmet;
        unsigned max_wait_ms;
        bool strict;
        unsigned timeout_ms; /* 0 = the client's default */
        uint32_t node_id;    /* 0: where route says; else send the read to this node (route
                                is then ignored): it serves a read below LINEARIZABLE from
                                its own replica of the key's partition, and forwards what it
                                cannot serve (to compare replicas, or to read one known to
                                be near) */
        /* Appended after 0.2: read the state as of this write timestamp (a
         * receipt's or a write's timestamp), from the replicas' change
         * history; 0 = the current state. Level TKV_SEQUENTIAL or
         * TKV_EVENTUAL; TKV_COMPACTED when the history no longer reaches
         * back there (docs/consistency.md, "Reads at a past timestamp"). */
        uint64_t at_timestamp;
};

struct tkv_write_options {
        enum tkv_ack ack;
        unsigned timeout_ms; /* 0 = the client's default */
        /* Appended for leases. PUT and CAS: attach the key to this lease
         * (tkv_lease_grant; it must live in the key's partition: give the
         * lease the key's hash tag), 0: none, and a PUT without a lease
         * detaches the key from the lease it had. Ignored by DELETE. */
        uint64_t lease;
};

/* What a read delivered (ReadReceipt in the protocol). */
struct tkv_receipt {
        uint32_t node_id;
        enum tkv_role role;
        uint64_t term;
        uint64_t applied_index;
        enum tkv_consistency level;
        int64_t staleness_ms; /* upper bound; -1 = unknown */
        uint64_t lag_entries;
        bool fallback;
        uint32_t partition;
        bool leader_known; /* false: the replica knew no leader (quorum may be lost) */
        /* The read's place in the cluster-wide order of writes (hybrid-
         * logical-clock timestamp, docs/consistency.md): at SEQUENTIAL, at
         * or above the session's; 0 from servers without timestamps. */
        uint64_t timestamp;
        /* Appended for zone-aware reads: the serving node's zone ("" when
         * it has none, or from servers before zones). */
        char zone[64];
};

/* Reads of one partition asked at one level, on one replica. */
struct tkv_level_counters {
        uint64_t served;       /* answered with the level asked */
        uint64_t stale_served; /* answered weaker, labelled (SERVE_STALE_LABELLED) */
        uint64_t waits;        /* waited for the replica to catch up */
        uint64_t fallbacks;    /* forwarded to the leader (FORWARD_LEADER) */
        uint64_t bound_unmet;  /* answered BOUND_UNMET */
        /* How fresh the reads served were, learnt later from the log (a
         * sample: docs/consistency.md, "How stale were the reads"): fresh
         * ones missed no write stamped before they were served; for stale
         * ones, how far behind: <= 1, 10, 100, 1000, 10000 ms, more; and
         * 1, 2-3, 4-7, 8+ versions. Counted by the level delivered. */
        uint64_t fresh;
        uint64_t stale;
        uint64_t stale_ms[6];
        uint64_t stale_versions[4];
};

/* One partition as seen by the node that answered STATUS. */
struct tkv_partition_status {
        uint32_t partition;
        enum tkv_role role;
        uint32_t leader_id; /* 0 = unknown */
        uint64_t term;
        uint64_t commit_index;
        uint64_t applied_index;
        uint64_t last_index;
        uint64_t snapshot_index;
        uint64_t keys;
        uint64_t bytes; /* key + value bytes in memory (values as stored, LZ4 or raw) */
        bool ready;
        uint32_t replicas[8];
        unsigned n_replicas;
        uint64_t digest;      /* order-independent hash of the data: equal on equal replicas */
        uint64_t snapshots;   /* snapshots taken since the node started */
        uint64_t restores;    /* snapshots restored (at start, or sent by a leader) */
        int64_t staleness_ms; /* upper bound on this replica's staleness; -1 unknown */
        uint64_t lag_entries; /* behind the leader's commit index as last heard */
        uint64_t leader_commit_index; /* as of the last probe (followers) or now (leader) */
        /* Linearizable read fences run here as leader since the node started: */
        uint64_t barriers;        /* raft barriers (election barriers included) */
        uint64_t confirms;        /* leadership confirmations (ReadIndex) */
        uint64_t confirms_failed; /* confirmations that fell back to a barrier or failed */
        struct tkv_level_counters reads[6]; /* indexed by enum tkv_consistency */
        /* Appended after 0.2: the replica's change history (reads at a
         * past timestamp, tombstones): changes kept, their bytes, the
         * oldest change's index (0: none), and the timestamp its window
         * starts after (at_timestamp below it: TKV_COMPACTED). */
        uint64_t history_changes;
        uint64_t history_bytes;
        uint64_t history_oldest_index;
        uint64_t history_start_ts;
        /* Appended after 0.2: this node leads the partition and drives a
         * replica move of it: the step it took last ("" none), and for how
         * long. */
        char move_step[96];
        uint64_t move_step_ms;
};

struct tkv_node_status {
        uint32_t node_id;
        const char *version;
        uint64_t uptime_ms;
        uint32_t connections;
        uint32_t partition_count;
        struct tkv_partition_status *partitions;
        unsigned n_partitions;
        uint32_t frame_bytes_max;
        uint32_t key_bytes_max;
        uint32_t value_bytes_max;
        uint32_t inflight_per_conn_max;
        uint32_t conns_max;
        uint32_t request_timeout_ms;
        uint32_t request_timeout_max_ms;
        uint64_t conn_output_bytes_max;
        uint32_t token_bytes_max; /* largest session token a request may carry */
        uint32_t loop_lag_ms;     /* how late a 100 ms timer fired, last time */
        uint32_t loop_lag_max_ms; /* and at worst since start */
        uint64_t forwarded;       /* requests this node forwarded to another */
        /* Appended after 0.1.0. */
        uint64_t epoch; /* of the cluster map the node applied; 0: none yet */
        /* Appended for TXN: its limits on this node. */
        uint32_t txn_ops_max;      /* ops of one TXN, both branches */
        uint32_t txn_compares_max; /* compares of one TXN */
        uint64_t txn_bytes_max;    /* key and value bytes of one TXN */
        /* Appended for leases: their limits on this node (0 from a node
         * older than them). */
        uint32_t leases_max;       /* leases one partition holds */
        uint32_t lease_keys_max;   /* keys of one lease, fixed at its grant */
        uint32_t lease_ttl_min_ms; /* bounds of a grant's TTL */
        uint32_t lease_ttl_max_ms;
        /* Appended for spread watches. */
        uint64_t watches; /* WATCH streams open on the node, other nodes' shares included */
};

/* The cluster layout as one node knows it (CLUSTER_INFO in the protocol). */
struct tkv_node_info {
        uint32_t node_id;
        const char *client_addr; /* "host:port" */
        const char *zone;        /* appended for zone-aware reads; "" unless configured */
};

struct tkv_partition_info {
        uint32_t partition;
        uint32_t leader_id;   /* 0 = unknown */
        uint32_t replicas[8]; /* the ones that serve, the preferred leader first */
        unsigned n_replicas;
        /* Appended after 0.2: a replica move in progress (both 0: none),
         * tkv_move. */
        uint32_t move_from;
        uint32_t move_to;
};

struct tkv_cluster_info {
        uint32_t partition_count;
        uint32_t node_id; /* the node that answered */
        struct tkv_node_info *nodes;
        unsigned n_nodes;
        struct tkv_partition_info *partitions; /* in partition order */
        unsigned n_partitions;
        /* Appended after 0.1.0. */
        uint64_t epoch; /* of the cluster map the node applied; 0: it has none yet */
        /* Appended after 0.2: the metadata group's placement (its number
         * for tkv_move is partition_count); n_replicas 0 before the map. */
        struct tkv_partition_info metadata;
};

/* The answer to one request. Which fields are set depends on the request:
 *   GET:            found, value, value_len, create_index, mod_index, receipt,
 *                   timestamp (the value's; the read's: receipt.timestamp)
 *   GET_MANY:       items, n_items, receipt (timestamp, node_id, level)
 *   PUT/DELETE/CAS: index (the version written), partition, ack, durable, timestamp
 *   CAS failure:    status TKV_CONDITION_FAILED, current_version
 *   STATUS:         node (non-NULL)
 *   CLUSTER_INFO:   cluster (non-NULL)
 *   BOUND_UNMET:    bound_required_index, bound_applied_index,
 *                   bound_staleness_ms, bound_lag_entries, bound_node_id,
 *                   leader_id (0: the replica knew no leader)
 *   any failure:    status != TKV_OK, message; leader_id on TKV_NOT_LEADER */
/* One key of a multi-key read (tkv_get_many), in the order asked. */
struct tkv_item {
        bool found;
        const void *value; /* borrowed from the result */
        size_t value_len;
        uint64_t mod_index; /* the key's version; 0: absent */
        uint64_t timestamp; /* the value's write timestamp; 0: absent */
        uint32_t partition;
        uint64_t deleted_index; /* absent: its delete's index (tkv_result.deleted_index) */
};

/* One op's result in a TXN answer (struct tkv_result, txn_results). */
enum tkv_txn_op_type { TKV_TXN_GET = 0, TKV_TXN_PUT, TKV_TXN_DELETE };

struct tkv_txn_op_result {
        enum tkv_txn_op_type type;
        bool found;        /* GET: the key exists; PUT, DELETE: it existed before */
        const void *value; /* GET: the value (NULL when not found or omitted) */
        size_t value_len;  /* bytes */
        uint64_t create_index;
        uint64_t mod_index; /* GET: the key's version */
        bool value_omitted; /* GET: the answer's values reached txn_bytes_max: GET it */
};

/* One key of a SCAN page (tkv_scan), in key order. */
struct tkv_scan_item {
        const void *key; /* borrowed from the result */
        size_t key_len;
        const void *value; /* borrowed; "" with keys_only */
        size_t value_len;
        uint64_t mod_index;    /* the key's version */
        uint64_t create_index; /* the write that created it */
        uint64_t timestamp;    /* the value's write timestamp */
        uint32_t partition;
};

/* Which state of one partition a SCAN page shows. */
struct tkv_scan_receipt {
        uint32_t partition;
        uint32_t node_id;       /* the replica that served it */
        uint64_t applied_index; /* the page shows this partition at this index */
        enum tkv_consistency level;
};

struct tkv_result {
        int status;          /* enum tkv_code */
        const char *message; /* detail when status != TKV_OK; never NULL */
        bool found;
        const void *value;
        size_t value_len;
        uint64_t create_index;
        uint64_t mod_index;
        uint64_t index;
        uint64_t current_version;
        uint32_t partition;
        uint32_t leader_id;
        struct tkv_receipt receipt;
        struct tkv_node_status *node;
        struct tkv_cluster_info *cluster;
        void *priv_; /* library-owned storage; do not touch */
        /* Appended after 0.1.0 (writes, and reads answered BOUND_UNMET). */
        enum tkv_ack ack; /* the acknowledgement delivered: ALL_REPLICAS may come back
                             COMMITTED when not every replica applied it in time */
        bool durable;     /* committed on a majority's disk; false for LEADER_ACCEPTED */
        uint64_t bound_required_index; /* BOUND_UNMET: the index the read needed */
        uint64_t bound_applied_index;  /* BOUND_UNMET: the serving replica's applied index */
        int64_t bound_staleness_ms;    /* BOUND_UNMET: the replica's staleness bound; -1 unknown */
        uint64_t bound_lag_entries;    /* BOUND_UNMET: its lag behind the leader's commit index */
        uint32_t bound_node_id;        /* BOUND_UNMET: the replica that could not meet the bound */
        /* tkv_get_many: one item per key asked, in order; receipt.timestamp
         * is the timestamp they were all read at, receipt.node_id the
         * node that served them, receipt.level the level delivered. */
        struct tkv_item *items;
        size_t n_items;
        /* The write's timestamp (writes), or the value's (GET); 0 = none, as
         * from a server without timestamps. A read's place in the order is
         * receipt.timestamp. */
        uint64_t timestamp;
        /* Appended for TXN (tkv_txn_commit): which branch ran, and one result
         * per op of that branch, in order (none when replayed). index and
         * partition are set as for a write. */
        bool txn_succeeded; /* the compares held: the success ops ran */
        bool txn_replayed;  /* a retry of a TXN already applied: no op results */
        size_t txn_n_results;
        const struct tkv_txn_op_result *txn_results; /* txn_n_results; owned like value */
        /* Appended after 0.2 (GET of an absent key): the index of the delete
         * that removed it, while that delete is in the replica's change
         * history (its tombstone); 0: never written, or deleted longer ago. */
        uint64_t deleted_index;
        /* Appended for SCAN (tkv_scan): the page's keys in key order (none
         * with count_only), how many keys the page counted, whether keys
         * may follow and the cursor to ask for them with, one receipt per
         * partition read; receipt.timestamp, node_id and level as for
         * GET_MANY. All owned like value. */
        const struct tkv_scan_item *scan_items;
        size_t scan_n_items;
        uint64_t scan_count;
        bool scan_more;
        const void *scan_cursor;
        size_t scan_cursor_len;
        const struct tkv_scan_receipt *scan_receipts;
        size_t scan_n_receipts;
};

struct tkv_client;

/* Create a client. Connections are opened lazily, on first use. On failure
 * returns a code, sets *out to NULL and, if errbuf is not NULL, writes a
 * message into errbuf (errbuf_len bytes). */
TKV_API int tkv_client_create(const struct tkv_options *opts, struct tkv_client **out, char *errbuf,
                              size_t errbuf_len);

/* Close connections and free the client. Requests still in flight complete
 * inside this call: writes already sent with TKV_OUTCOME_UNKNOWN, everything
 * else with TKV_CONNECTION_CLOSED. Safe on NULL. */
TKV_API void tkv_client_destroy(struct tkv_client *c);

/* Text of the last failure on this client. */
TKV_API const char *tkv_errmsg(const struct tkv_client *c);

/* ---- Blocking API: each call returns the request's status, and fills *out
 * (which the caller releases with tkv_result_release) whenever the server
 * or the library produced an answer. */

/* Read n keys, of any partitions, at one timestamp: every item is its key's
 * state at receipt.timestamp, a consistent snapshot across partitions
 * (docs/consistency.md, "Multi-key reads at one timestamp"). opts->level:
 * TKV_SEQUENTIAL (the default when opts is NULL; CAUSAL and SESSION are
 * served as SEQUENTIAL), TKV_LINEARIZABLE (every write acknowledged before
 * the call is seen), TKV_BOUNDED_STALENESS with max_staleness_ms (one
 * timestamp at most that old, by the leaders' clocks) or TKV_EVENTUAL
 * (each key as its replica has it);
 * on_unmet WAIT or FAIL. The node that serves it (opts->node_id, else the
 * one the first key's read would go to) reads the keys of the partitions
 * it holds and asks the nodes holding the others for theirs. keys[i] has key_lens[i] bytes; 1 <= n
 * <= the server's get_many_keys_max. */
TKV_API int tkv_get_many(struct tkv_client *c, const void *const *keys, const size_t *key_lens,
                         size_t n, const struct tkv_read_options *opts, struct tkv_result *out);

/* What a SCAN reads (docs/protocol.md "SCAN"): the keys under prefix, or,
 * with prefix_len 0, in [start, end) (end_len 0: to the last key), in key
 * order (byte-wise; a key before its extensions). All borrowed. */
struct tkv_scan {
        const void *prefix;
        size_t prefix_len;
        const void *start;
        size_t start_len;
        const void *end;
        size_t end_len;
        uint32_t limit;  /* keys per page; 0 (or over the server's scan_limit_max): its cap */
        bool keys_only;  /* no values */
        bool count_only; /* no keys: scan_count only */
};

/* One page of a SCAN: the keys after cursor (cursor_len 0: from the
 * start), each partition read at one applied index (scan_receipts, each
 * naming the node that served it). opts as tkv_get_many takes them
 * (TKV_SEQUENTIAL when NULL); TKV_LINEARIZABLE (a hash-tag prefix: its
 * partition's leader serves it; several partitions: a double collect);
 * opts->node_id picks the node, else the one a read of the prefix (or
 * start) would go to. That node reads the partitions it holds and asks
 * the nodes holding the others for their share (docs/protocol.md §4.13).
 * With scan_more, pass scan_cursor back for the next page (tkv_scan_iter
 * does). */
TKV_API int tkv_scan(struct tkv_client *c, const struct tkv_scan *scan, const void *cursor,
                     size_t cursor_len, const struct tkv_read_options *opts,
                     struct tkv_result *out);

/* Pages of a SCAN, one tkv_scan each, following the cursor. scan and opts
 * are copied. */
struct tkv_scan_iter;
TKV_API int tkv_scan_iter_new(struct tkv_client *c, const struct tkv_scan *scan,
                              const struct tkv_read_options *opts, struct tkv_scan_iter **out);
/* The next page into out (not NULL; release it with tkv_result_release):
 * its status as tkv_scan's. TKV_NOT_FOUND (out untouched) once the last page was
 * returned. */
TKV_API int tkv_scan_iter_next(struct tkv_scan_iter *it, struct tkv_result *out);
/* Safe on NULL. */
TKV_API void tkv_scan_iter_free(struct tkv_scan_iter *it);

TKV_API int tkv_get(struct tkv_client *c, const void *key, size_t key_len,
                    const struct tkv_read_options *opts, struct tkv_result *out);
TKV_API int tkv_put(struct tkv_client *c, const void *key, size_t key_len, const void *value,
                    size_t value_len, const struct tkv_write_options *opts, struct tkv_result *out);
TKV_API int tkv_delete(struct tkv_client *c, const void *key, size_t key_len,
                       const struct tkv_write_options *opts, struct tkv_result *out);
/* Set key to value if its version (mod_index) is expected_version; 0 means
 * "the key must not exist". */
TKV_API int tkv_cas(struct tkv_client *c, const void *key, size_t key_len,
                    uint64_t expected_version, const void *value, size_t value_len,
                    const struct tkv_write_options *opts, struct tkv_result *out);
/* STATUS of the node the client talks to: the first endpoint, in order,
 * that accepts a connection. Same as tkv_status_node(c, 0, out). */
TKV_API int tkv_status(struct tkv_client *c, struct tkv_result *out);
/* STATUS of node node_id (0: as tkv_status), sent to the node's client
 * address from the partition map (fetched first if needed). Not retried: a
 * node that cannot be reached gives TKV_CONNECT_FAILED at once, a connection
 * lost before the answer TKV_CONNECTION_CLOSED, and an id that is not in the
 * cluster TKV_USAGE_ERROR. */
TKV_API int tkv_status_node(struct tkv_client *c, uint32_t node_id, struct tkv_result *out);
/* CLUSTER_INFO from the first endpoint, in order, that answers (then from
 * the other known nodes); fills out->cluster. The answer also refreshes the
 * client's partition map. Not retried. */
TKV_API int tkv_cluster_info(struct tkv_client *c, struct tkv_result *out);

/* Free what a blocking call put into r; safe to call twice and on a
 * zero-initialized result. */
TKV_API void tkv_result_release(struct tkv_result *r);

/* ---- Users and roles ([auth] enabled = 1 on the cluster; the client's
 * user needs the admin permission, except to change its own password with
 * old_password; docs/security.md). */

enum tkv_user_role_op {
        TKV_USER_ADD = 1,     /* name, password */
        TKV_USER_DELETE,      /* name */
        TKV_USER_PASSWD,      /* name (root too), password[, old_password] */
        TKV_USER_GRANT_ROLE,  /* name, role */
        TKV_USER_REVOKE_ROLE, /* name, role */
        TKV_USER_LIST,        /* -> names */
        TKV_USER_GET,         /* name -> roles */
        TKV_ROLE_ADD,         /* name */
        TKV_ROLE_DELETE,      /* name */
        TKV_ROLE_GRANT,       /* name, permission, prefix */
        TKV_ROLE_REVOKE,      /* name, prefix */
        TKV_ROLE_LIST,        /* -> names */
        TKV_ROLE_GET,         /* name -> grants */
};

struct tkv_user_role_request {
        enum tkv_user_role_op op;
        const char *name;       /* the user or the role */
        const char *password;   /* USER_ADD, USER_PASSWD */
        const char *role;       /* USER_GRANT_ROLE, USER_REVOKE_ROLE */
        const char *permission; /* ROLE_GRANT: "read", "write", "readwrite" or "admin" */
        const void *prefix;     /* ROLE_GRANT, ROLE_REVOKE: key prefix; NULL: every key */
        size_t prefix_len;
        /* USER_PASSWD: name's current password. With it, the client's own
         * user needs no admin to change its password, the connection stays
         * authenticated, and the user's other connections must AUTH again;
         * a wrong one is TKV_PERMISSION_DENIED. NULL: the admin's change. */
        const char *old_password;
};

struct tkv_grant {
        const char *permission; /* "read", "write", "readwrite" or "admin" */
        const uint8_t *prefix;  /* prefix_len bytes; every key when 0 */
        size_t prefix_len;
};

/* The answer to a user or role request; owns its memory until
 * tkv_user_role_release. */
struct tkv_user_role_result {
        int status;        /* as the function's return */
        char message[256]; /* why, when status != TKV_OK */
        char **names;      /* USER_LIST, ROLE_LIST */
        size_t n_names;
        char **roles; /* USER_GET */
        size_t n_roles;
        struct tkv_grant *grants; /* ROLE_GET */
        size_t n_grants;
        void *mem; /* internal */
};

/* Run one user or role request on the first endpoint that accepts a
 * connection (blocking; a change is carried out by the cluster's leader of
 * the users and roles, and holds on every node once it applied it).
 * Returns the status (TKV_PERMISSION_DENIED without admin, TKV_NOT_FOUND,
 * ...) and fills *out, which the caller releases. Not retried. */
TKV_API int tkv_user_role(struct tkv_client *c, const struct tkv_user_role_request *req,
                          struct tkv_user_role_result *out);
TKV_API void tkv_user_role_release(struct tkv_user_role_result *r);

/* ---- Cluster membership and leadership (docs/operations.md): the cluster
 * map the cluster keeps in its metadata group. */

enum tkv_member_state {
        TKV_MEMBER_UNKNOWN = 0, /* the answering node has not applied the map yet */
        TKV_MEMBER_VOTER = 1,
        TKV_MEMBER_JOINING = 2,
        TKV_MEMBER_REMOVED = 3,
        /* Removed or replaced while it held replicas: they move away
         * first, then it becomes TKV_MEMBER_REMOVED. */
        TKV_MEMBER_LEAVING = 4,
};

struct tkv_member {
        uint32_t node_id;
        char client_addr[64]; /* "host:port" */
        char peer_addr[64];
        char zone[64]; /* "" unless configured */
        enum tkv_member_state state;
        /* Appended after 0.2: TKV_MEMBER_LEAVING: the member its replicas
         * move to (0: wherever the cluster places them). */
        uint32_t successor;
};

/* The members as one node's replica of the cluster map lists them; owns
 * its memory until tkv_member_list_release. */
struct tkv_member_list {
        int status;                 /* as the function's return */
        char message[256];          /* why, when status != TKV_OK */
        uint64_t epoch;             /* the map's */
        uint32_t node_id;           /* the node that answered */
        struct tkv_member *members; /* by node id */
        size_t n_members;
};

/* The cluster's members from the first endpoint that answers (blocking,
 * on a connection of its own; not retried). TKV_UNAVAILABLE when that node
 * has not applied the cluster map yet. The epoch learned is kept
 * (tkv_cluster_epoch). Fills *out, which the caller releases. */
TKV_API int tkv_member_list(struct tkv_client *c, struct tkv_member_list *out);
TKV_API void tkv_member_list_release(struct tkv_member_list *l);

/* Make node_id the leader of partition (needs the admin permission when
 * auth is on). Blocking: sent to node_id itself (its client address from
 * the cluster map), which keeps the leadership once it has it (leader
 * balancing leaves it until that node restarts), and answered once it
 * leads: TKV_OK, TKV_INVALID_ARGUMENT (no such partition, or node_id is
 * not one of its replicas), TKV_BUSY (node_id has not caught up yet, or
 * another transfer of the partition is in progress: retry),
 * TKV_UNAVAILABLE (no leader right now), TKV_TIMEOUT (node_id did not win
 * the election). Not retried. The message, when errbuf is not NULL, goes
 * to errbuf (errbuf_len bytes). */
TKV_API int tkv_transfer_leader(struct tkv_client *c, uint32_t partition, uint32_t node_id,
                                char *errbuf, size_t errbuf_len);

/* Add a node to the cluster map (needs the admin permission when auth is
 * on): m->node_id, client_addr, peer_addr and zone (borrowed; state is
 * ignored) become a member in state TKV_MEMBER_JOINING, known to every
 * node once it applies the map; the node holds no replica. Blocking: sent
 * to the first endpoint that answers, which hands it to the metadata
 * group's leader, and answered once the leader applied the new map, whose
 * epoch goes to *epoch (when not NULL). TKV_INVALID_ARGUMENT: the id is in
 * use or was used before, an address is malformed or a member's, a bad
 * zone; TKV_TOO_LARGE: the map holds the most members it can; TKV_BUSY:
 * the map changed at the same time (retry); TKV_UNAVAILABLE: no leader or
 * no map yet; TKV_OUTCOME_UNKNOWN: tkv_member_list tells. Not retried.
 * The message, when errbuf is not NULL, goes to errbuf (errbuf_len). */
TKV_API int tkv_member_add(struct tkv_client *c, const struct tkv_member *m, uint64_t *epoch,
                           char *errbuf, size_t errbuf_len);

/* Remove node_id from the cluster map (state TKV_MEMBER_REMOVED; its id
 * is never given to another node), as tkv_member_add. A node that holds
 * replicas becomes TKV_MEMBER_LEAVING instead: the metadata group's leader
 * moves its replicas to other members, one partition after another, then
 * marks it removed (tkv_member_list shows the progress). Refused
 * (TKV_INVALID_ARGUMENT) when node_id is not a member (or leaving
 * already), holds a replica no other member could take (each holds one
 * already: add a node first); the other statuses as for tkv_member_add.
 * Its metadata group replica, if any, moves too. */
TKV_API int tkv_member_remove(struct tkv_client *c, uint32_t node_id, uint64_t *epoch, char *errbuf,
                              size_t errbuf_len);

/* Replace member old_id by successor->node_id: old_id leaves as with
 * tkv_member_remove, its replicas moving to the successor. The successor
 * is added in the same change when successor->client_addr is not empty
 * (then as tkv_member_add; it starts with tunekvd --join), or must be a
 * member already. A dead node (its disk gone) is replaced this way: each
 * partition that still has a majority gets its replica back on the new
 * node. Refusals as tkv_member_add and tkv_member_remove. */
TKV_API int tkv_member_replace(struct tkv_client *c, uint32_t old_id,
                               const struct tkv_member *successor, uint64_t *epoch, char *errbuf,
                               size_t errbuf_len);

/* Give member node_id another client address (client_addr; NULL or "":
 * kept), peer address (peer_addr, likewise) and/or zone (zone; NULL: kept,
 * "": none), as tkv_member_add (admin; answered with the new epoch once
 * the map holds it). Clients and nodes learn the addresses from the map;
 * the node itself must then be restarted with them in its configuration
 * (docs/operations.md "Changing a member's address or zone").
 * TKV_INVALID_ARGUMENT: no such member, a removed one, a bad or used
 * address, the same one twice, a bad zone; asking for what the map holds
 * answers TKV_OK. The others as tkv_member_add. */
TKV_API int tkv_member_update(struct tkv_client *c, uint32_t node_id, const char *client_addr,
                              const char *peer_addr, const char *zone, uint64_t *epoch,
                              char *errbuf, size_t errbuf_len);

/* Move partition's replica from node `from` to node `to` (needs the admin
 * permission when auth is on; docs/operations.md "Moving a replica"). The
 * move is recorded in the cluster map (answered then, with the new epoch
 * in *epoch), and carried out by the partition's leader: `to` receives the
 * data as a non-voter, votes once caught up, `from` leaves and deletes its
 * replica. The move is done when tkv_cluster_info shows `to` among the
 * partition's replicas and no move in progress. TKV_INVALID_ARGUMENT: no
 * such partition, `from` holds no replica of it, `to` is not a member or
 * holds one already; TKV_BUSY: another move of the partition is in
 * progress (an identical one answers TKV_OK), or the map changed at the
 * same time; the others as tkv_member_add. */
TKV_API int tkv_move(struct tkv_client *c, uint32_t partition, uint32_t from, uint32_t to,
                     uint64_t *epoch, char *errbuf, size_t errbuf_len);

/* Give up partition's move in progress (the partition's leader removes the
 * target again, unless it already replaced the old replica: then the move
 * is done). TKV_INVALID_ARGUMENT when there is none. As tkv_move. */
TKV_API int tkv_move_cancel(struct tkv_client *c, uint32_t partition, uint64_t *epoch, char *errbuf,
                            size_t errbuf_len);

/* The highest cluster map epoch this client has seen in an answer
 * (CLUSTER_INFO, tkv_member_list); 0 before any. */
TKV_API uint64_t tkv_cluster_epoch(const struct tkv_client *c);

/* ------------------------------------------------------------------------ */
/* Leases (docs/protocol.md, "Leases"; docs/recipes.md: a lock and leader
 * election). A lease lives in one partition and expires unless kept alive:
 * its keys (PUT or CAS with tkv_write_options.lease) are then deleted in
 * one Raft entry. Each call opens a connection of its own to the first
 * endpoint that accepts one (the node forwards it to the partition's
 * leader), sends one request and waits for its answer; nothing is retried
 * after the request was sent. Each returns a TKV_* status and fills *out
 * (which may be NULL for keepalive and revoke); errbuf gets the server's
 * message. */

struct tkv_lease {
        uint64_t id;
        uint64_t ttl_ms;
        int64_t remaining_ms; /* on the leader's clock; -1: unknown */
        uint32_t partition;
        uint32_t n_keys;  /* keys attached (tkv_lease_info, tkv_lease_list) */
        void **keys;      /* tkv_lease_info: up to n_keys_listed keys (each malloc'd) */
        size_t *key_lens; /* their lengths */
        uint32_t n_keys_listed;
};

/* Grant a lease of ttl_ms in the partition of tag (a key or a hash tag
 * "{t}": the keys it will hold must share its partition; NULL/0: partition
 * of the empty key). TKV_INVALID_ARGUMENT for a TTL outside the server's
 * lease_ttl_min_ms..lease_ttl_max_ms, TKV_BUSY when the partition holds
 * leases_max leases. */
TKV_API int tkv_lease_grant(struct tkv_client *c, uint64_t ttl_ms, const void *tag, size_t tag_len,
                            struct tkv_lease *out, char *errbuf, size_t errbuf_len);
/* Start the lease's TTL again (on the partition leader's clock).
 * TKV_NOT_FOUND once it expired or was revoked. */
TKV_API int tkv_lease_keepalive(struct tkv_client *c, uint64_t id, struct tkv_lease *out,
                                char *errbuf, size_t errbuf_len);
/* End the lease now: its keys are deleted in the same entry. */
TKV_API int tkv_lease_revoke(struct tkv_client *c, uint64_t id, char *errbuf, size_t errbuf_len);
/* The lease's TTL, remaining time and keys; release with
 * tkv_lease_release. */
TKV_API int tkv_lease_info(struct tkv_client *c, uint64_t id, struct tkv_lease *out, char *errbuf,
                           size_t errbuf_len);
/* The leases of one partition into *out (an array of *n, owned by the
 * caller: tkv_lease_list_free); keys are not listed. */
TKV_API int tkv_lease_list(struct tkv_client *c, uint32_t partition, struct tkv_lease **out,
                           size_t *n, char *errbuf, size_t errbuf_len);
TKV_API void tkv_lease_list_free(struct tkv_lease *list); /* NULL is fine */
/* Free what tkv_lease_info put into l. NULL is fine. */
TKV_API void tkv_lease_release(struct tkv_lease *l);

/* ---- Watches (docs/protocol.md "WATCH", docs/consistency.md "Watches"):
 * the changes of one key, or of every key under a prefix, as they are
 * applied, in each partition's log order, none skipped. A watch has a
 * connection of its own (tkv_watch_open connects; the client's other
 * requests do not wait behind it) and resumes by itself on another node
 * after the indexes it delivered when its node fails, shuts down, stops
 * answering for silence_ms, or falls behind its staleness bound. */

enum tkv_event_type { TKV_EVENT_PUT = 0, TKV_EVENT_DELETE = 1 };

/* One change. Pointers are valid until the next tkv_watch_next or
 * tkv_watch_close. */
struct tkv_watch_event {
        enum tkv_event_type type;
        const void *key;
        size_t key_len;
        const void *value; /* PUT without keys_only; else NULL */
        size_t value_len;
        uint32_t partition;
        uint64_t index;        /* its log index (a PUT: the key's version) */
        uint64_t create_index; /* PUT: the write that created the key */
        uint64_t timestamp;    /* its write timestamp */
};

/* Where a watch is in one partition: every change at or below after_index
 * was handed to the caller by tkv_watch_next (whole log entries: the
 * changes of one TXN count once the last of them was). As a start,
 * partition TKV_WATCH_EVERY_PARTITION stands for every partition of the
 * watch not named otherwise (useful with one: a key's, a hash tag's). */
#define TKV_WATCH_EVERY_PARTITION UINT32_MAX
struct tkv_watch_position {
        uint32_t partition;
        uint64_t after_index;
};

/* What to watch. All borrowed by tkv_watch_open (copied). */
struct tkv_watch_spec {
        const void *key; /* the key, or with prefix the prefix ("" with prefix: every key) */
        size_t key_len;
        bool prefix;
        bool keys_only; /* events without values */
        /* Resume: the changes after these positions (a previous watch's
         * tkv_watch_positions); partitions not named start from now. */
        const struct tkv_watch_position *start;
        size_t n_start;
        /* No frame (event or progress; the server sends progress every
         * watch_progress_ms, 1 s by default) for this long: the node is
         * taken as gone and the watch resumes elsewhere. 0: 5000. */
        unsigned silence_ms;
};

/* Where and how a watch runs now. */
struct tkv_watch_info {
        uint32_t node_id;             /* the node serving it */
        enum tkv_consistency level;   /* the level its start was served at */
        int64_t staleness_ms;         /* the largest of its partitions' at the last progress
                                         frame; -1 unknown */
        unsigned resumes;             /* times it resumed on another node */
        uint32_t compacted_partition; /* after TKV_COMPACTED: the partition whose history */
        uint64_t compacted_index;     /* is complete only after this index */
};

struct tkv_watch;

/* Start a watch (opts as tkv_scan takes them, NULL: TKV_SEQUENTIAL; the
 * level decides where its stream may start, docs/consistency.md). Blocks
 * until the server confirmed it: TKV_OK and *out, or a status (then *out
 * is NULL): TKV_COMPACTED for a start the history no longer holds, BUSY
 * beyond the server's watches_per_conn_max or watches_max, ... with
 * errbuf filled (errbuf_len bytes; may be NULL). */
TKV_API int tkv_watch_open(struct tkv_client *c, const struct tkv_watch_spec *spec,
                           const struct tkv_read_options *opts, struct tkv_watch **out,
                           char *errbuf, size_t errbuf_len);

/* The next change, waiting up to timeout_ms (-1: no limit; 0: only what
 * has arrived): TKV_OK with
 * *ev filled, TKV_TIMEOUT when none came (the watch goes on), or the status
 * that ended it for good (TKV_COMPACTED: it fell out of the change history,
 * see tkv_watch_info; TKV_PERMISSION_DENIED, ...: every later call
 * returns it too). A failure to resume on any node is returned as it is
 * (TKV_CONNECT_FAILED, TKV_UNAVAILABLE, ...) and the next call tries again. */
TKV_API int tkv_watch_next(struct tkv_watch *w, struct tkv_watch_event *ev, int timeout_ms);

/* Its position in each partition it watches, into out (up to n); returns
 * how many partitions it watches. A watch opened again with these as its
 * start (after a crash of the application, say) gets exactly the changes
 * it was not handed yet. */
TKV_API size_t tkv_watch_positions(const struct tkv_watch *w, struct tkv_watch_position *out,
                                   size_t n);

TKV_API void tkv_watch_get_info(const struct tkv_watch *w, struct tkv_watch_info *info);

/* Text of the watch's last failure. */
TKV_API const char *tkv_watch_errmsg(const struct tkv_watch *w);

/* Cancel it (WATCH_CANCEL) and close its connection. Safe on NULL. */
TKV_API void tkv_watch_close(struct tkv_watch *w);

/* ---- Transactions (TXN) within one partition (docs/protocol.md §4.9):
 * compares, then the success ops if all of them hold, else the failure
 * ops, applied as one Raft entry. All keys must be in one partition: give
 * them one hash tag ("{user42}:cart", "{user42}:profile"). Build with
 * tkv_txn_new and the tkv_txn_compare_* / op calls (each copies its key
 * and value), commit with tkv_txn_commit (a builder may be committed again,
 * as a new TXN), free with tkv_txn_free. Calls return TKV_OK,
 * TKV_NO_MEMORY or TKV_USAGE_ERROR (NULL builder or key, a key or value
 * over the client's bounds); the server's limits (txn_ops_max, ...) are
 * checked when it is committed: TKV_TOO_LARGE. */

enum tkv_compare_op { TKV_CMP_EQUAL = 0, TKV_CMP_NOT_EQUAL, TKV_CMP_LESS, TKV_CMP_GREATER };
enum tkv_txn_branch { TKV_TXN_SUCCESS = 0, TKV_TXN_FAILURE };

struct tkv_txn;

TKV_API struct tkv_txn *tkv_txn_new(void);    /* NULL when out of memory */
TKV_API void tkv_txn_free(struct tkv_txn *t); /* safe on NULL */
/* The key's version (mod_index; 0 = absent) op version. */
TKV_API int tkv_txn_compare_version(struct tkv_txn *t, const void *key, size_t key_len,
                                    enum tkv_compare_op op, uint64_t version);
/* The index that created the key (0 = absent) op index. */
TKV_API int tkv_txn_compare_create_index(struct tkv_txn *t, const void *key, size_t key_len,
                                         enum tkv_compare_op op, uint64_t index);
/* The key's value op value (bytes, memcmp order); never holds for an
 * absent key. */
TKV_API int tkv_txn_compare_value(struct tkv_txn *t, const void *key, size_t key_len,
                                  enum tkv_compare_op op, const void *value, size_t value_len);
/* The key exists (exists = true) or does not. */
TKV_API int tkv_txn_compare_exists(struct tkv_txn *t, const void *key, size_t key_len, bool exists);
TKV_API int tkv_txn_put(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key,
                        size_t key_len, const void *value, size_t value_len);
/* A put that attaches the key to lease (0: none, as tkv_txn_put), like
 * tkv_write_options.lease for a PUT. The lease must live in the TXN's
 * partition (INVALID_ARGUMENT); a lease missing when the TXN applies
 * (TKV_NOT_FOUND) or one it would take past lease_keys_max (TKV_TOO_LARGE)
 * refuses the whole TXN, and the error message names the lease. Only the
 * branch that runs is checked. */
TKV_API int tkv_txn_put_lease(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key,
                              size_t key_len, const void *value, size_t value_len, uint64_t lease);
TKV_API int tkv_txn_delete(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key,
                           size_t key_len);
/* Read the key at the TXN's index (after its writes): a result in order. */
TKV_API int tkv_txn_get(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key,
                        size_t key_len);
/* Send t (borrowed; copied) as one TXN; opts->ack must be
 * TKV_ACK_COMMITTED. Retried like a write, applied at most once. */
TKV_API int tkv_txn_commit(struct tkv_client *c, const struct tkv_txn *t,
                           const struct tkv_write_options *opts, struct tkv_result *out);

/* ---- Non-blocking API. Each call queues one request and returns TKV_OK,
 * or returns an error and never calls cb. cb runs exactly once, from
 * tkv_poll() or tkv_client_destroy(). */

typedef void (*tkv_done_cb)(struct tkv_client *c, const struct tkv_result *res, void *arg);

TKV_API int tkv_scan_async(struct tkv_client *c, const struct tkv_scan *scan, const void *cursor,
                           size_t cursor_len, const struct tkv_read_options *opts, tkv_done_cb cb,
                           void *arg);
TKV_API int tkv_get_many_async(struct tkv_client *c, const void *const *keys,
                               const size_t *key_lens, size_t n,
                               const struct tkv_read_options *opts, tkv_done_cb cb, void *arg);
TKV_API int tkv_get_async(struct tkv_client *c, const void *key, size_t key_len,
                          const struct tkv_read_options *opts, tkv_done_cb cb, void *arg);
TKV_API int tkv_put_async(struct tkv_client *c, const void *key, size_t key_len, const void *value,
                          size_t value_len, const struct tkv_write_options *opts, tkv_done_cb cb,
                          void *arg);
TKV_API int tkv_delete_async(struct tkv_client *c, const void *key, size_t key_len,
                             const struct tkv_write_options *opts, tkv_done_cb cb, void *arg);
TKV_API int tkv_cas_async(struct tkv_client *c, const void *key, size_t key_len,
                          uint64_t expected_version, const void *value, size_t value_len,
                          const struct tkv_write_options *opts, tkv_done_cb cb, void *arg);
TKV_API int tkv_txn_commit_async(struct tkv_client *c, const struct tkv_txn *t,
                                 const struct tkv_write_options *opts, tkv_done_cb cb, void *arg);
TKV_API int tkv_status_async(struct tkv_client *c, tkv_done_cb cb, void *arg);
TKV_API int tkv_status_node_async(struct tkv_client *c, uint32_t node_id, tkv_done_cb cb,
                                  void *arg);
TKV_API int tkv_cluster_info_async(struct tkv_client *c, tkv_done_cb cb, void *arg);

/* Do I/O for up to timeout_ms (0: do what is possible without waiting;
 * -1: wait until at least one request completes or none is in flight).
 * Returns the number of callbacks run, or -(code) on a client-wide error. */
TKV_API int tkv_poll(struct tkv_client *c, int timeout_ms);

/* Requests queued or in flight. */
TKV_API size_t tkv_pending(const struct tkv_client *c);

/* ---- Session tokens (DESIGN §4).
 *
 * Each client is one session and keeps one token: a list of entries, each
 * (partition, kind W or R, index) authenticated by the servers, which the
 * client can keep, drop or merge but never forge. The client merges the
 * token delta of every answer into it and attaches the token to every read
 * whose level is not TKV_LINEARIZABLE or whose session_flags are not 0, and
 * to every write once the token is not empty (the write's dependencies). So
 * a client gets read-your-writes, monotonic reads and causal reads across
 * replicas without handling tokens at all; the functions below carry a
 * session across clients or processes (a queue, a web tier, a file).
 *
 * A token is at most TKV_TOKEN_BYTES_MAX bytes (the servers' default
 * token_bytes_max); the empty token is 0 bytes. Should a session touch more
 * partitions than such a token can describe, the client's automatic merges
 * drop the entries merged least recently (the guarantees of those partitions
 * are lost for this session); tkv_token_merge and tkv_token_merge_bytes fail
 * with TKV_TOO_LARGE instead. Token bytes passed in are borrowed. */

#define TKV_TOKEN_BYTES_MAX 8192

/* What tkv_token_compare returns for two tokens that parse. */
enum tkv_token_order {
        TKV_TOKEN_EQUAL = 0,      /* a <= b and b <= a */
        TKV_TOKEN_BEFORE = 1,     /* a <= b, not equal: b has seen all a has, and more */
        TKV_TOKEN_AFTER = 2,      /* b <= a, not equal */
        TKV_TOKEN_CONCURRENT = 3, /* neither: each has seen something the other has not */
};

/* Copy the client's session token into buf (cap bytes) and return its
 * length; when cap is smaller, copy nothing and still return the length.
 * 0 for an empty session (or c NULL). buf may be NULL when cap is 0. */
TKV_API size_t tkv_token_get(struct tkv_client *c, void *buf, size_t cap);

/* Replace the session token with tok (len bytes; len 0: empty). Returns
 * TKV_USAGE_ERROR if tok does not parse, TKV_TOO_LARGE if it exceeds
 * TKV_TOKEN_BYTES_MAX; the session token is then unchanged. Requests already
 * submitted keep the token they were submitted with. */
TKV_API int tkv_token_set(struct tkv_client *c, const void *tok, size_t len);

/* Merge tok (another session's token) into the session token: per
 * (partition, kind) the higher index wins. Errors as tkv_token_set, and
 * TKV_TOO_LARGE when the result would exceed TKV_TOKEN_BYTES_MAX; the
 * session token is then unchanged. */
TKV_API int tkv_token_merge(struct tkv_client *c, const void *tok, size_t len);

/* Merge tokens a and b into out (cap bytes), without a client. Returns
 * TKV_OK, TKV_USAGE_ERROR (a or b does not parse, out_len NULL),
 * TKV_TOO_LARGE (an input or the result exceeds TKV_TOKEN_BYTES_MAX, or the
 * result exceeds cap) or TKV_NO_MEMORY. On TKV_OK, and on TKV_TOO_LARGE
 * because of cap alone, *out_len is the merged token's length (write nothing
 * in the second case: call again with a larger out); otherwise it is 0. out
 * may be the same memory as a or b. */
TKV_API int tkv_token_merge_bytes(const void *a, size_t alen, const void *b, size_t blen, void *out,
                                  size_t cap, size_t *out_len);

/* Compare tokens a and b (a <= b: for every (partition, kind) entry of a, b
 * has one with an index at least as high). Returns an enum tkv_token_order,
 * or a negative value (-TKV_USAGE_ERROR, -TKV_TOO_LARGE) when a or b does not
 * parse. */
TKV_API int tkv_token_compare(const void *a, size_t alen, const void *b, size_t blen);

/* Empty the session token: a new session. Safe on NULL. */
TKV_API void tkv_token_reset(struct tkv_client *c);

/* File descriptor to wait on for readability, or -1 when no connection is
 * open and no request is pending. It stays the same for the client's life
 * (an epoll descriptor over every connection and a timer), and becomes
 * readable when any connection has work or a retry or deadline is due; then
 * call tkv_poll(c, 0). Do not read from or close it. */
TKV_API int tkv_fd(struct tkv_client *c);

#ifdef __cplusplus
}
#endif

#endif
