/* The option table and its three readers: defaults, INI file, flags.
 *
 * Each row names the option once: its section and key in the file, the flag
 * derived from the key (underscores become dashes), its type and bounds,
 * its default (as text, parsed by the same code as user input) and a one
 * line help. Node sections ([node.N]) are the only keys not in the table. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "keyhash.h"
#include "log.h"
#include "peerauth.h"

enum config_type {
        CONFIG_UINT,  /* unsigned, decimal */
        CONFIG_BYTES, /* uint64_t, decimal with optional KiB/MiB/GiB suffix */
        CONFIG_ADDR,  /* "a.b.c.d:port" */
        CONFIG_PATH,  /* non-empty string, CONFIG_PATH_BYTES */
        CONFIG_NAME,  /* non-empty string, CONFIG_ADDR_BYTES */
        CONFIG_TEXT,  /* string, may be empty, CONFIG_PATH_BYTES */
};

struct config_option {
        const char *section;
        const char *key;
        enum config_type type;
        size_t offset;
        uint64_t min;
        uint64_t max;
        const char *def;
        const char *help;
};

#define OPT(sec, field, type, min, max, def, help)                                                 \
        {                                                                                          \
                sec, #field, type, offsetof(struct config, field), min, max, def, help             \
        }

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static const struct config_option config_options[] = {
    OPT("node", node_id, CONFIG_UINT, 1, 65535, "1", "this node's id, unique in the cluster"),
    OPT("node", client_addr, CONFIG_ADDR, 0, 0, "127.0.0.1:7001", "address clients connect to"),
    OPT("node", peer_addr, CONFIG_ADDR, 0, 0, "127.0.0.1:7101",
        "address other nodes connect to for Raft traffic"),
    OPT("node", metrics_addr, CONFIG_TEXT, 0, 0, "",
        "address of the HTTP port for /metrics, /healthz and /readyz; empty: off"),
    OPT("node", data_dir, CONFIG_PATH, 0, 0, "./tunekv-data",
        "directory for this node's Raft logs and snapshots"),
    OPT("node", bootstrap, CONFIG_UINT, 0, 1, "0",
        "1: first start of a new cluster: an empty data_dir may be initialised although some "
        "peers cannot be asked whether they know this node (0: refuse, the node may have "
        "lost its data)"),
    OPT("node", join, CONFIG_TEXT, 0, 0, "",
        "join a running cluster: peer addresses of some of its members, "
        "a.b.c.d:port[,a.b.c.d:port...] (at most 16), asked for the cluster map, which must "
        "list this node as joining with its addresses (tunekv member add first); list no "
        "[node.N] sections but this node's, and write cluster.partitions and cluster.replicas "
        "out; empty: the cluster is the [node.N] sections"),
    OPT("cluster", cluster_name, CONFIG_NAME, 0, 0, "tunekv",
        "name shared by all nodes; peers from another cluster are refused"),
    OPT("cluster", secret, CONFIG_TEXT, 0, 0, "",
        "shared by every node: keys the peer handshake and token MACs (docs/security.md); "
        "at least 16 characters for more than one node"),
    OPT("cluster", secret_file, CONFIG_TEXT, 0, 0, "",
        "read the secret from this file's first line instead (mode 0600 or stricter)"),
    OPT("cluster", previous_secret, CONFIG_TEXT, 0, 0, "",
        "rotation: the secret being replaced; still accepted (peer handshake, tokens) for "
        "previous_secret_grace_s after start, never used to sign"),
    OPT("cluster", previous_secret_file, CONFIG_TEXT, 0, 0, "",
        "read previous_secret from this file's first line instead (mode 0600 or stricter)"),
    OPT("cluster", previous_secret_grace_s, CONFIG_UINT, 1, 365u * 86400, "86400",
        "seconds after start during which previous_secret is accepted"),
    OPT("cluster", insecure, CONFIG_UINT, 0, 1, "0",
        "1: let a multi-node cluster run with an empty, short or sample secret, which lets "
        "anyone who reaches a peer port join it (logged at every start)"),
    OPT("cluster", partitions, CONFIG_UINT, 0, CONFIG_PARTITIONS_MAX, "0",
        "number of partitions (Raft groups) keys are hashed over; 0 = one per node listed"),
    OPT("cluster", rebalance, CONFIG_UINT, 0, 1, "0",
        "1: the metadata group's leader moves replicas to spread them over zones and evenly over "
        "the members, and spreads preferred leaders (docs/operations.md, \"Rebalancing\"); "
        "members that leave are emptied either way"),
    OPT("cluster", moves_max, CONFIG_UINT, 1, 64, "2",
        "replica moves in progress at once in the whole cluster (rebalancing, members leaving)"),
    OPT("cluster", replicas, CONFIG_UINT, 0, CONFIG_REPLICAS_MAX, "0",
        "replicas per partition; 0 = min(3, number of nodes)"),
    OPT("limits", frame_bytes_max, CONFIG_BYTES, 1024, 256 * MiB, "4MiB",
        "largest request frame accepted (bytes)"),
    OPT("limits", key_bytes_max, CONFIG_BYTES, 1, 64 * 1024, "4KiB", "longest key (bytes)"),
    OPT("limits", get_many_keys_max, CONFIG_UINT, 1, 100000, "1000",
        "keys one GET_MANY may read (more: TOO_LARGE)"),
    OPT("limits", scan_limit_max, CONFIG_UINT, 1, 100000, "1000",
        "keys one SCAN page may hold; a larger limit (or 0) is clamped to it"),
    OPT("limits", scan_bytes_max, CONFIG_BYTES, 1024, 256 * MiB, "4MiB",
        "bytes of keys and values one SCAN page may hold (the page ends early, more = true; "
        "also capped by frame_bytes_max)"),
    OPT("limits", watches_max, CONFIG_UINT, 0, 1 << 22, "100000",
        "WATCH streams open on the node, every connection together (more: BUSY)"),
    OPT("limits", watches_per_conn_max, CONFIG_UINT, 0, 1 << 22, "10000",
        "WATCH streams open on one connection (more: BUSY)"),
    OPT("limits", watch_output_bytes_max, CONFIG_BYTES, 64 * 1024, 1 * GiB, "4MiB",
        "a connection's streams stop writing events while this much it was sent is unread; "
        "they go on from the change history when it drains (bytes)"),
    OPT("history", watch_progress_ms, CONFIG_UINT, 10, 3600000, "1000",
        "every WATCH stream gets a progress frame (its position, the replica's staleness) this "
        "often (ms)"),
    OPT("limits", value_bytes_max, CONFIG_BYTES, 0, 128 * MiB, "1MiB", "largest value (bytes)"),
    OPT("limits", txn_ops_max, CONFIG_UINT, 1, 4096, "128",
        "operations in one TXN, its success and failure lists together"),
    OPT("limits", txn_compares_max, CONFIG_UINT, 0, 4096, "32", "compares in one TXN"),
    OPT("limits", txn_bytes_max, CONFIG_BYTES, 1024, 128 * MiB, "1MiB",
        "key and value bytes of one TXN's compares and ops together; also the get values "
        "its answer carries (bytes)"),
    OPT("limits", leases_max, CONFIG_UINT, 1, 1000000, "10000",
        "leases one partition holds; a LEASE_GRANT beyond them is answered BUSY"),
    OPT("limits", lease_keys_max, CONFIG_UINT, 1, 1000000, "1000",
        "keys attached to one lease (fixed when it is granted); one more is answered TOO_LARGE"),
    OPT("limits", lease_ttl_min_ms, CONFIG_UINT, 100, 86400000, "1000",
        "shortest lease TTL a LEASE_GRANT may ask for (ms)"),
    OPT("limits", lease_ttl_max_ms, CONFIG_UINT, 100, 86400000, "3600000",
        "longest lease TTL a LEASE_GRANT may ask for (ms)"),
    OPT("limits", inflight_per_conn_max, CONFIG_UINT, 1, 1 << 20, "1024",
        "requests in progress per connection; more are answered BUSY"),
    OPT("limits", conns_max, CONFIG_UINT, 1, 1 << 20, "1024",
        "client connections per node; more are refused"),
    /* The output limits stay below 4 GiB with a frame on top: one uv_buf_t
     * carries a whole output buffer, and its length is an unsigned int. */
    OPT("limits", conn_output_bytes_max, CONFIG_BYTES, 64 * 1024, 1 * GiB, "64MiB",
        "unsent answers per connection before it stops reading requests (bytes)"),
    OPT("limits", conn_output_close_bytes, CONFIG_BYTES, 1 * MiB, 2 * GiB, "256MiB",
        "unsent answers that close a client connection: answers of requests already in "
        "progress when reading stopped keep coming; a client that still does not read is "
        "disconnected (at least conn_output_bytes_max + frame_bytes_max)"),
    OPT("limits", client_buffers_bytes_max, CONFIG_BYTES, 1 * MiB, 1024 * GiB, "1GiB",
        "node-wide: bytes all client connections hold (unsent answers, received frames); "
        "over it, the connection holding the most is closed"),
    OPT("limits", frame_timeout_ms, CONFIG_UINT, 100, 3600000, "10000",
        "a client's frame begun must be complete within this (ms), or the connection is "
        "closed: half-sent frames cannot hold memory and a connection slot for ever"),
    OPT("limits", disk_reserve_bytes, CONFIG_BYTES, 0, 1024 * GiB, "256MiB",
        "free space in data_dir below which this node refuses writes (NO_SPACE) and its "
        "replicas refuse new entries, before the disk fills (libraft crashes on ENOSPC); "
        "0 = no check"),
    OPT("limits", idle_timeout_ms, CONFIG_UINT, 0, 86400000, "0",
        "close a client connection idle this long with nothing in progress (ms); 0 = never"),
    OPT("limits", links_max, CONFIG_UINT, 1, 1 << 16, "256",
        "node links (other nodes' forwarded requests, probes, pings) accepted on the peer port; "
        "never counted against conns_max"),
    OPT("limits", link_inflight_max, CONFIG_UINT, 1, 1 << 24, "65536",
        "requests in progress on one node link; more are answered BUSY"),
    OPT("limits", link_output_bytes_max, CONFIG_BYTES, 64 * 1024, 2 * GiB, "256MiB",
        "unsent answers per node link before it stops reading requests (bytes)"),
    OPT("limits", peer_entries_max, CONFIG_UINT, 1024, 1u << 30, "4194304",
        "entries one Raft AppendEntries from a peer may carry; more closes its connection "
        "(raft 0.15 sends a lagging follower everything it has in one message)"),
    OPT("limits", peer_message_bytes_max, CONFIG_BYTES, 1 * MiB, 1024 * GiB, "4GiB",
        "largest payload of one Raft message from a peer (entries, or a whole snapshot)"),
    OPT("limits", token_bytes_max, CONFIG_BYTES, 64, 64 * 1024, "8KiB",
        "largest session token a request may carry (bytes)"),
    OPT("limits", auth_in_flight_max, CONFIG_UINT, 1, 1024, "2",
        "AUTH requests whose password hashing (slow on purpose) may run at once on this node, "
        "on threadpool threads; more are answered BUSY (keep it below threadpool_size: the "
        "threadpool also writes the Raft logs)"),
    {"auth", "enabled", CONFIG_UINT, offsetof(struct config, auth_enabled), 0, 1, "0",
     "1: clients must AUTH as a user first and may do only what its roles grant "
     "(docs/security.md); must be the same on every node"},
    OPT("auth", root_password_file, CONFIG_TEXT, 0, 0, "",
        "with enabled = 1, required: the first line is root's password until one is stored in "
        "the cluster (mode 0600 or stricter)"),
    OPT("auth", kdf_iterations, CONFIG_UINT, AUTH_ITERATIONS_MIN, AUTH_ITERATIONS_MAX, "100000",
        "PBKDF2-HMAC-SHA256 rounds for passwords hashed on this node (~30 ms at the default); "
        "each stored password keeps the count it was made with"),
    OPT("read", probe_interval_ms, CONFIG_UINT, 10, 60000, "100",
        "how often a follower asks its leaders for their commit index (staleness bound)"),
    OPT("read", max_clock_offset_ms, CONFIG_UINT, 1, 3600000, "500",
        "how far ahead of this node's wall clock a write timestamp it is shown may be (from a "
        "token, or a follower waiting for a SEQUENTIAL read); a write with a token further ahead "
        "is refused, since every later timestamp of this node would be dragged along"),
    OPT("read", freshness_reads_max, CONFIG_UINT, 0, 1000000, "1024",
        "reads below LINEARIZABLE sampled per partition to learn from the log whether they "
        "returned the newest version (STATUS: fresh/stale); 0 = off"),
    OPT("read", freshness_window_ms, CONFIG_UINT, 100, 600000, "10000",
        "how long a sampled read watches the log for a write it missed; longer than replicas "
        "lag"),
    OPT("read", read_index, CONFIG_UINT, 0, 1, "1",
        "linearizable reads: 1 = the leader confirms it still leads with one message to each "
        "other voter and back (ReadIndex, nothing written); 0 = with a raft_barrier (a log entry "
        "fsync'd on a majority)"),
    OPT("read", forward_rate, CONFIG_UINT, 0, 1000000, "1000",
        "per partition, reads per second a replica may forward to the leader when it cannot "
        "meet their bound (on_unmet = FORWARD_LEADER)"),
    OPT("read", forward_burst, CONFIG_UINT, 1, 1000000, "200",
        "per partition, forwards to the leader allowed in a burst"),
    OPT("raft", election_timeout_ms, CONFIG_UINT, 50, 600000, "1000",
        "Raft election timeout (ms; randomized between 1x and 2x)"),
    OPT("raft", heartbeat_timeout_ms, CONFIG_UINT, 10, 60000, "100",
        "leader heartbeat interval (ms); must be below the election timeout"),
    OPT("raft", snapshot_threshold, CONFIG_UINT, 16, 1 << 30, "65536",
        "log entries between snapshots (RAFT-NOTES B4: keep >= 65536 in production)"),
    OPT("raft", snapshot_bytes, CONFIG_BYTES, 1 * MiB, 1024 * GiB, "64MiB",
        "also snapshot once the entries applied since the last snapshot hold this many bytes; "
        "trailing entries are cut to hold at most half of it (raft keeps both in memory)"),
    OPT("raft", snapshot_trailing, CONFIG_UINT, 1, 1 << 30, "8192",
        "log entries kept after a snapshot so lagging followers replay the log (at least 1: "
        "raft_uv reads 0 as a snapshot install)"),
    OPT("raft", install_snapshot_timeout_ms, CONFIG_UINT, 1000, 3600000, "10000",
        "a leader sends a lagging follower its snapshot again when the last send got no answer "
        "within this long (a lost InstallSnapshot stalls that follower as long); raise it when "
        "snapshots take longer to send"),
    OPT("raft", snapshot_compression, CONFIG_UINT, 0, 1, "0",
        "1: raft_uv LZ4-compresses snapshot files (values are already compressed on write)"),
    OPT("raft", apply_batch_max, CONFIG_UINT, 1, 1024, "64",
        "writes of one loop iteration submitted in one raft_apply, at most"),
    OPT("raft", barriers_inflight_max, CONFIG_UINT, 1, 64, "4",
        "read barriers in flight per partition; later reads wait for the next"),
    OPT("raft", segment_bytes, CONFIG_BYTES, 64 * 1024, 1 * GiB, "8MiB",
        "size of a Raft log segment file (bytes)"),
    OPT("raft", connect_retry_ms, CONFIG_UINT, 10, 60000, "250",
        "delay between attempts to reach a peer (ms)"),
    OPT("raft", connect_timeout_ms, CONFIG_UINT, 10, 60000, "1000",
        "give up a connection attempt to a peer after this long (ms)"),
    OPT("server", request_timeout_ms, CONFIG_UINT, 1, 3600000, "5000",
        "deadline of a request that sets none (ms)"),
    OPT("server", request_timeout_max_ms, CONFIG_UINT, 1, 3600000, "60000",
        "longest deadline a request may ask for (ms)"),
    OPT("server", shutdown_timeout_ms, CONFIG_UINT, 1, 3600000, "10000",
        "on SIGTERM, wait this long for requests in progress (ms)"),
    OPT("server", compress_min_bytes, CONFIG_BYTES, 0, 128 * MiB, "1KiB",
        "values at least this long are LZ4-compressed when that makes them smaller; 0 = never"),
    OPT("server", session_window, CONFIG_UINT, 1, 65536, "1024",
        "per client and partition, results of the last writes kept so a retry is applied once"),
    OPT("server", sessions_max, CONFIG_UINT, 1, 1 << 24, "65536",
        "per partition, clients whose write results are kept (dedup.h says which go first)"),
    OPT("server", sessions_bytes_max, CONFIG_BYTES, 64 * 1024, 64 * GiB, "64MiB",
        "per partition, bytes of those results (32 a client, 40 a result; heap up to twice)"),
    OPT("history", history_changes_max, CONFIG_UINT, 0, 1 << 24, "65536",
        "per partition, recent changes kept (changes.h): reads at a past timestamp and deletes' "
        "tombstones reach this far back; 0 = none"),
    OPT("history", history_bytes_max, CONFIG_BYTES, 0, 64 * GiB, "8MiB",
        "per partition, bytes those changes hold (72 a change, plus each value it replaced)"),
    OPT("history", history_retain_ms, CONFIG_UINT, 0, 86400000, "60000",
        "per partition, the changes kept span at most this much time (ms, by their "
        "timestamps)"),
    OPT("server", threadpool_size, CONFIG_UINT, 1, 128, "8",
        "libuv threadpool threads (disk I/O, snapshots)"),
    OPT("server", log_level, CONFIG_NAME, 0, 0, "info", "debug, info, warn, error or off"),
    OPT("server", log_format, CONFIG_NAME, 0, 0, "text",
        "text (one readable line per event) or json (one JSON object per line)"),
    OPT("tls", cert_file, CONFIG_TEXT, 0, 0, "",
        "client port: this node's certificate chain (PEM); set with key_file, clients must "
        "speak TLS; empty: plaintext"),
    OPT("tls", key_file, CONFIG_TEXT, 0, 0, "", "client port: the private key of cert_file"),
    OPT("tls", ca_file, CONFIG_TEXT, 0, 0, "",
        "client port: CAs (PEM) that sign client certificates; clients that show one are "
        "checked against it"),
    OPT("tls", client_cert_auth, CONFIG_UINT, 0, 1, "0",
        "1: every client must show a certificate signed by ca_file (mutual TLS)"),
    OPT("tls", peer_cert_file, CONFIG_TEXT, 0, 0, "",
        "peer port: this node's certificate chain (PEM), shown on both sides of node-to-node "
        "connections and checked for the peer address dialled; with peer_key_file and "
        "peer_ca_file on every node, node-to-node traffic is mutual TLS; empty: plaintext"),
    OPT("tls", peer_key_file, CONFIG_TEXT, 0, 0, "", "peer port: the private key"),
    OPT("tls", peer_ca_file, CONFIG_TEXT, 0, 0, "",
        "peer port: CAs (PEM) that sign the other nodes' certificates"),
    OPT("tls", min_version, CONFIG_NAME, 0, 0, "1.3", "oldest TLS version accepted: 1.2 or 1.3"),
};

#define CONFIG_N_OPTIONS (sizeof config_options / sizeof config_options[0])

static const struct config_option *config_find(const char *section, const char *key)
{
        for (size_t i = 0; i < CONFIG_N_OPTIONS; i++) {
                const struct config_option *o = &config_options[i];
                if ((section == NULL || strcmp(o->section, section) == 0) &&
                    strcmp(o->key, key) == 0) {
                        return o;
                }
        }
        return NULL;
}

int config_split_addr(const char *addr, char *host, unsigned *port)
{
        const char *colon = strrchr(addr, ':');
        struct in_addr in;
        char *end;
        unsigned long p;
        size_t len;

        if (colon == NULL) {
                return TKV_EADDR;
        }
        len = (size_t)(colon - addr);
        if (len == 0 || len >= CONFIG_ADDR_BYTES) {
                return TKV_EADDR;
        }
        memcpy(host, addr, len);
        host[len] = '\0';
        if (inet_pton(AF_INET, host, &in) != 1) {
                return TKV_EADDR;
        }
        errno = 0;
        p = strtoul(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || colon[1] == '\0' || p == 0 || p > 65535) {
                return TKV_EADDR;
        }
        *port = (unsigned)p;
        return 0;
}

/* Parse "123", "4KiB", "4MiB", "1GiB" (also K/M/G, KB/MB/GB as binary). */
static int config_parse_bytes(const char *s, uint64_t *out)
{
        char *end;
        unsigned long long v;
        uint64_t mult = 1;

        if (*s == '-' || *s == '\0') {
                return TKV_EINVAL;
        }
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s) {
                return TKV_EINVAL;
        }
        if (*end != '\0') {
                if (strcmp(end, "K") == 0 || strcmp(end, "KB") == 0 || strcmp(end, "KiB") == 0) {
                        mult = 1024;
                } else if (strcmp(end, "M") == 0 || strcmp(end, "MB") == 0 ||
                           strcmp(end, "MiB") == 0) {
                        mult = MiB;
                } else if (strcmp(end, "G") == 0 || strcmp(end, "GB") == 0 ||
                           strcmp(end, "GiB") == 0) {
                        mult = GiB;
                } else {
                        return TKV_EINVAL;
                }
        }
        if (v > UINT64_MAX / mult) {
                return TKV_EINVAL;
        }
        *out = v * mult;
        return 0;
}

static int config_parse_number(const struct config_option *o, const char *value, uint64_t *v,
                               char *errmsg)
{
        char *end;

        if (o->type == CONFIG_BYTES) {
                if (config_parse_bytes(value, v) != 0) {
                        err_msgf(errmsg, "not a size in bytes (examples: 4096, 4KiB, 1MiB)");
                        return TKV_EINVAL;
                }
        } else {
                errno = 0;
                *v = strtoull(value, &end, 10);
                if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0) {
                        err_msgf(errmsg, "not a non-negative integer");
                        return TKV_EINVAL;
                }
        }
        if (*v < o->min || *v > o->max) {
                err_msgf(errmsg, "must be between %llu and %llu", (unsigned long long)o->min,
                         (unsigned long long)o->max);
                return TKV_EINVAL;
        }
        return 0;
}

/* Store value into the field of option o, or explain in errmsg. */
static int config_set(struct config *c, const struct config_option *o, const char *value,
                      char *errmsg)
{
        char *field = (char *)c + o->offset;
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        uint64_t v;
        size_t cap = o->type == CONFIG_PATH || o->type == CONFIG_TEXT ? CONFIG_PATH_BYTES
                                                                      : CONFIG_ADDR_BYTES;

        switch (o->type) {
        case CONFIG_UINT:
        case CONFIG_BYTES:
                if (config_parse_number(o, value, &v, errmsg) != 0) {
                        return TKV_EINVAL;
                }
                if (o->type == CONFIG_UINT) {
                        *(unsigned *)field = (unsigned)v;
                } else {
                        *(uint64_t *)field = v;
                }
                return 0;
        case CONFIG_ADDR:
                if (config_split_addr(value, host, &port) != 0) {
                        err_msgf(errmsg,
                                 "not an IPv4 address with a port (example: 127.0.0.1:7001)");
                        return TKV_EINVAL;
                }
                break;
        case CONFIG_NAME:
        case CONFIG_PATH:
        case CONFIG_TEXT:
                break;
        }
        if (value[0] == '\0' && o->type != CONFIG_TEXT) {
                err_msgf(errmsg, "must not be empty");
                return TKV_EINVAL;
        }
        if (strlen(value) >= cap) {
                err_msgf(errmsg, "longer than %zu bytes", cap - 1);
                return TKV_EINVAL;
        }
        strcpy(field, value);
        return 0;
}

void config_defaults(struct config *c)
{
        char errmsg[ERR_MSG_BYTES];

        memset(c, 0, sizeof *c);
        for (size_t i = 0; i < CONFIG_N_OPTIONS; i++) {
                /* Defaults are parsed like user input; the table is checked by
                 * the unit tests, so this cannot fail at run time. */
                (void)config_set(c, &config_options[i], config_options[i].def, errmsg);
        }
        c->ready_fd = -1;
}

/* ---- INI file ---- */

struct config_ini_ctx {
        struct config *c;
        char *errmsg;
        int rv;
};

static struct config_node *config_node_slot(struct config *c, unsigned id)
{
        for (unsigned i = 0; i < c->n_nodes; i++) {
                if (c->nodes[i].id == id) {
                        return &c->nodes[i];
                }
        }
        if (c->n_nodes == CONFIG_NODES_MAX) {
                return NULL;
        }
        memset(&c->nodes[c->n_nodes], 0, sizeof c->nodes[0]);
        c->nodes[c->n_nodes].id = id;
        return &c->nodes[c->n_nodes++];
}

/* [node.N] zone: a label (a rack, a room, a region) of up to 63 letters,
 * digits, '.', '_' or '-', recorded in the cluster map. */
static int config_ini_zone(struct config_ini_ctx *x, const char *section, struct config_node *n,
                           const char *value)
{
        size_t len = strlen(value);

        for (size_t i = 0; i < len; i++) {
                char ch = value[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
                        len = CONFIG_ADDR_BYTES; /* refused below */
                }
        }
        if (len >= CONFIG_ADDR_BYTES) {
                err_msgf(x->errmsg,
                         "config: %s.zone = \"%s\": a zone is up to 63 letters, digits, '.', "
                         "'_' or '-'",
                         section, value);
                return TKV_EINVAL;
        }
        memcpy(n->zone, value, strlen(value) + 1);
        return 0;
}

static int config_ini_node(struct config_ini_ctx *x, const char *section, const char *key,
                           const char *value)
{
        char why[ERR_MSG_BYTES];
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        char *end;
        unsigned long id = strtoul(section + 5, &end, 10);
        struct config_node *n;
        char *dst;

        if (section[5] == '\0' || *end != '\0' || id == 0 || id > 65535) {
                err_msgf(x->errmsg, "config: [%s]: node sections are [node.N], N in 1..65535",
                         section);
                return TKV_EINVAL;
        }
        n = config_node_slot(x->c, (unsigned)id);
        if (n == NULL) {
                err_msgf(x->errmsg, "config: [%s]: more than %d nodes", section, CONFIG_NODES_MAX);
                return TKV_EINVAL;
        }
        if (strcmp(key, "zone") == 0) {
                return config_ini_zone(x, section, n, value);
        }
        if (strcmp(key, "client_addr") == 0) {
                dst = n->client_addr;
        } else if (strcmp(key, "peer_addr") == 0) {
                dst = n->peer_addr;
        } else {
                err_msgf(x->errmsg,
                         "config: %s.%s: unknown key (node sections take client_addr, "
                         "peer_addr and zone)",
                         section, key);
                return TKV_EINVAL;
        }
        if (config_split_addr(value, host, &port) != 0 || strlen(value) >= CONFIG_ADDR_BYTES) {
                snprintf(why, sizeof why, "not an IPv4 address with a port");
                err_msgf(x->errmsg, "config: %s.%s = \"%s\": %s", section, key, value, why);
                return TKV_EINVAL;
        }
        strcpy(dst, value);
        return 0;
}

static int config_ini_handler(void *user, const char *section, const char *key, const char *value)
{
        struct config_ini_ctx *x = user;
        const struct config_option *o;
        char why[ERR_MSG_BYTES];

        if (x->rv != 0) {
                return 0;
        }
        if (strncmp(section, "node.", 5) == 0) {
                x->rv = config_ini_node(x, section, key, value);
                return x->rv == 0;
        }
        o = config_find(section, key);
        if (o == NULL) {
                err_msgf(x->errmsg, "config: %s.%s: unknown key", section, key);
                x->rv = TKV_EINVAL;
                return 0;
        }
        if (config_set(x->c, o, value, why) != 0) {
                err_msgf(x->errmsg, "config: %s.%s = \"%.64s\": %s", section, key, value, why);
                x->rv = TKV_EINVAL;
                return 0;
        }
        return 1;
}

static int config_load_file(struct config *c, const char *path, char *errmsg)
{
        struct config_ini_ctx x = {c, errmsg, 0};
        int line = ini_parse(path, config_ini_handler, &x);

        if (x.rv != 0) {
                return x.rv;
        }
        if (line == -1) {
                err_msgf(errmsg, "config: %s: cannot open", path);
                return TKV_EINVAL;
        }
        if (line != 0) {
                err_msgf(errmsg, "config: %s:%d: syntax error", path, line);
                return TKV_EINVAL;
        }
        return 0;
}

/* ---- Command line ---- */

/* "--frame-bytes-max" -> option frame_bytes_max. */
static const struct config_option *config_find_flag(const char *flag)
{
        char key[64];
        size_t n = strlen(flag);

        if (n >= sizeof key) {
                return NULL;
        }
        for (size_t i = 0; i <= n; i++) {
                key[i] = flag[i] == '-' ? '_' : flag[i];
        }
        return config_find(NULL, key);
}

/* Split "--name=value" or take the next argument. */
static int config_flag_value(int argc, char **argv, int *i, const char *arg, const char **value,
                             char *errmsg)
{
        const char *eq = strchr(arg, '=');
        if (eq != NULL) {
                *value = eq + 1;
                return 0;
        }
        if (*i + 1 >= argc) {
                err_msgf(errmsg, "%s: missing value", argv[*i]);
                return TKV_EINVAL;
        }
        *value = argv[++*i];
        return 0;
}

static int config_parse_int_flag(const char *name, const char *value, int *out, char *errmsg)
{
        char *end;
        long v;
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno != 0 || *end != '\0' || value[0] == '\0' || v < 0 || v > INT_MAX) {
                err_msgf(errmsg, "--%s \"%s\": not a file descriptor number", name, value);
                return TKV_EINVAL;
        }
        *out = (int)v;
        return 0;
}

/* First pass: --config, --help, --version (the file must load before
 * flags override it). Second pass (apply = true): every other flag. */
static int config_parse_args(struct config *c, int argc, char **argv, bool apply, char *errmsg)
{
        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i];
                char name[64];
                const char *value;
                const char *eq;
                const struct config_option *o;
                char why[ERR_MSG_BYTES];
                size_t len;

                if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
                        c->help = true;
                        continue;
                }
                if (strcmp(arg, "--version") == 0) {
                        c->version = true;
                        continue;
                }
                if (strcmp(arg, "--man") == 0 && i + 1 < argc &&
                    (strcmp(argv[i + 1], "8") == 0 || strcmp(argv[i + 1], "5") == 0)) {
                        c->man = (unsigned)(argv[++i][0] - '0');
                        continue;
                }
                if (strncmp(arg, "--", 2) != 0) {
                        err_msgf(errmsg, "%s: unexpected argument (see --help)", arg);
                        return TKV_EINVAL;
                }
                eq = strchr(arg, '=');
                len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
                if (len >= sizeof name) {
                        err_msgf(errmsg, "%.80s: unknown flag (see --help)", arg);
                        return TKV_EINVAL;
                }
                memcpy(name, arg + 2, len);
                name[len] = '\0';
                if (config_flag_value(argc, argv, &i, arg, &value, errmsg) != 0) {
                        return TKV_EINVAL;
                }
                if (strcmp(name, "config") == 0) {
                        if (!apply) {
                                snprintf(c->config_file, sizeof c->config_file, "%s", value);
                        }
                        continue;
                }
                if (strcmp(name, "ready-fd") == 0) {
                        if (apply && config_parse_int_flag(name, value, &c->ready_fd, errmsg)) {
                                return TKV_EINVAL;
                        }
                        continue;
                }
                o = config_find_flag(name);
                if (o == NULL) {
                        err_msgf(errmsg, "--%s: unknown flag (see --help)", name);
                        return TKV_EINVAL;
                }
                if (apply && config_set(c, o, value, why) != 0) {
                        err_msgf(errmsg, "--%s \"%.64s\" (%s.%s): %s", name, value, o->section,
                                 o->key, why);
                        return TKV_EINVAL;
                }
        }
        return 0;
}

/* ---- Validation and derived values ---- */

static int config_node_cmp(const void *a, const void *b)
{
        const struct config_node *x = a, *y = b;
        return (x->id > y->id) - (x->id < y->id);
}

/* Resolve the node list: without [node.N] sections the cluster is this node
 * alone; with them, this node must be listed, and flags override its own
 * addresses. */
static int config_resolve_nodes(struct config *c, bool client_flag, bool peer_flag, char *errmsg)
{
        struct config_node *self;

        if (c->n_nodes == 0) {
                c->nodes[0].id = c->node_id;
                c->n_nodes = 1;
                client_flag = peer_flag = true;
        }
        self = NULL;
        for (unsigned i = 0; i < c->n_nodes; i++) {
                if (c->nodes[i].id == c->node_id) {
                        self = &c->nodes[i];
                }
        }
        if (self == NULL) {
                err_msgf(errmsg, "config: node.node_id = %u: no [node.%u] section describes it",
                         c->node_id, c->node_id);
                return TKV_EINVAL;
        }
        if (client_flag || self->client_addr[0] == '\0') {
                strcpy(self->client_addr, c->client_addr);
        }
        if (peer_flag || self->peer_addr[0] == '\0') {
                strcpy(self->peer_addr, c->peer_addr);
        }
        strcpy(c->client_addr, self->client_addr);
        strcpy(c->peer_addr, self->peer_addr);
        for (unsigned i = 0; i < c->n_nodes; i++) {
                if (c->nodes[i].client_addr[0] == '\0' || c->nodes[i].peer_addr[0] == '\0') {
                        err_msgf(errmsg,
                                 "config: [node.%u]: client_addr and peer_addr are required",
                                 c->nodes[i].id);
                        return TKV_EINVAL;
                }
        }
        qsort(c->nodes, c->n_nodes, sizeof c->nodes[0], config_node_cmp);
        return 0;
}

/* Secrets shipped in samples (conf/): never a real cluster's. */
static const char *const config_sample_secrets[] = {"change-me-local-3node", "change-me"};

#define CONFIG_SECRET_MIN 16

/* [section] <key>_file: its first line into secret (CONFIG_PATH_BYTES),
 * from a file only its owner may read (a secret others can read is no
 * secret). section and key name the option in errors. */
static int config_read_secret_file(char *secret, const char *path, const char *section,
                                   const char *key, char *errmsg)
{
        struct stat st;
        FILE *f;
        size_t n;

        if (secret[0] != '\0') {
                err_msgf(errmsg, "config: %s.%s and %s.%s_file are both set: keep one", section,
                         key, section, key);
                return TKV_EINVAL;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
                err_msgf(errmsg, "config: %s.%s_file %s: not a readable file", section, key, path);
                return TKV_EINVAL;
        }
        if ((st.st_mode & 077) != 0) {
                err_msgf(errmsg,
                         "config: %s.%s_file %s: mode %04o lets others read it; "
                         "chmod 600 it",
                         section, key, path, (unsigned)(st.st_mode & 07777));
                return TKV_EINVAL;
        }
        f = fopen(path, "r");
        if (f == NULL || fgets(secret, CONFIG_PATH_BYTES, f) == NULL) {
                if (f != NULL) {
                        fclose(f);
                }
                err_msgf(errmsg, "config: %s.%s_file %s: empty or unreadable", section, key, path);
                return TKV_EINVAL;
        }
        fclose(f);
        n = strlen(secret);
        while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r' || secret[n - 1] == ' ' ||
                         secret[n - 1] == '\t')) {
                secret[--n] = '\0';
        }
        return 0;
}

/* Why secret cannot protect a multi-node cluster, or NULL if it can. */
static const char *config_weak(const char *secret)
{
        if (secret[0] == '\0') {
                return "it is empty";
        }
        for (size_t i = 0; i < sizeof config_sample_secrets / sizeof config_sample_secrets[0];
             i++) {
                if (strcmp(secret, config_sample_secrets[i]) == 0) {
                        return "it is the sample from conf/";
                }
        }
        if (strlen(secret) < CONFIG_SECRET_MIN) {
                return "it is shorter than 16 characters";
        }
        return NULL;
}

void config_layout(const struct config *c, struct peerauth_layout *out)
{
        XXH64_state_t st;
        XXH64_reset(&st, 0);
        XXH64_update(&st, &c->partitions, sizeof c->partitions);
        XXH64_update(&st, &c->replicas, sizeof c->replicas);
        XXH64_update(&st, &c->session_window, sizeof c->session_window);
        XXH64_update(&st, &c->sessions_max, sizeof c->sessions_max);
        XXH64_update(&st, &c->sessions_bytes_max, sizeof c->sessions_bytes_max);
        XXH64_update(&st, &c->auth_enabled, sizeof c->auth_enabled);
        /* Not the [node.N] sections: a node that joins (tunekvd --join)
         * lists other nodes than the members' files, and who belongs to the
         * cluster is the cluster map's to say (transport.c admits by it).
         * The cluster name and the secret-derived keys keep clusters apart. */
        out->fingerprint = XXH64_digest(&st);
        out->partitions = c->partitions;
        out->replicas = c->replicas;
        out->session_window = c->session_window;
        out->sessions_max = c->sessions_max;
        out->sessions_bytes_max = c->sessions_bytes_max;
}

const char *config_weak_secret(const struct config *c)
{
        return config_weak(c->secret);
}

static int config_check_secret(struct config *c, char *errmsg)
{
        const char *weak;
        if (c->secret_file[0] != '\0' &&
            config_read_secret_file(c->secret, c->secret_file, "cluster", "secret", errmsg) != 0) {
                return TKV_EINVAL;
        }
        if (c->previous_secret_file[0] != '\0' &&
            config_read_secret_file(c->previous_secret, c->previous_secret_file, "cluster",
                                    "previous_secret", errmsg) != 0) {
                return TKV_EINVAL;
        }
        if (c->previous_secret[0] != '\0' && !c->insecure &&
            (weak = config_weak(c->previous_secret)) != NULL) {
                err_msgf(errmsg, "config: cluster.previous_secret: %s", weak);
                return TKV_EINVAL;
        }
        weak = config_weak_secret(c);
        if (weak != NULL && (c->n_nodes > 1 || c->join[0] != '\0') && !c->insecure) {
                err_msgf(errmsg,
                         "config: cluster.secret: %s; with %u nodes, anyone reaching a peer "
                         "port could join. Set 16+ characters (openssl rand -hex 32) or "
                         "secret_file, or insecure = 1",
                         weak, c->n_nodes);
                return TKV_EINVAL;
        }
        return 0;
}

/* The [tls] keys come in sets: a certificate with its key, a client CA
 * for client_cert_auth, all three for the peer port. */
static int config_check_tls(const struct config *c, char *errmsg)
{
        bool cert = c->cert_file[0] != '\0', key = c->key_file[0] != '\0';
        bool pcert = c->peer_cert_file[0] != '\0', pkey = c->peer_key_file[0] != '\0',
             pca = c->peer_ca_file[0] != '\0';

        if ((pcert || pkey || pca) && !(pcert && pkey && pca)) {
                err_msgf(errmsg, "config: tls.peer_cert_file, peer_key_file and peer_ca_file go "
                                 "together (the peer port is mutual TLS)");
                return TKV_EINVAL;
        }

        if (cert != key) {
                err_msgf(errmsg, "config: tls.%s is set without tls.%s",
                         cert ? "cert_file" : "key_file", cert ? "key_file" : "cert_file");
                return TKV_EINVAL;
        }
        if ((c->client_cert_auth || c->ca_file[0] != '\0') && !cert) {
                err_msgf(errmsg, "config: tls.%s needs TLS on the client port (tls.cert_file)",
                         c->client_cert_auth ? "client_cert_auth" : "ca_file");
                return TKV_EINVAL;
        }
        if (c->client_cert_auth && c->ca_file[0] == '\0') {
                err_msgf(errmsg, "config: tls.client_cert_auth = 1 needs tls.ca_file");
                return TKV_EINVAL;
        }
        if (strcmp(c->min_version, "1.2") != 0 && strcmp(c->min_version, "1.3") != 0) {
                err_msgf(errmsg, "config: tls.min_version = \"%s\": must be 1.2 or 1.3",
                         c->min_version);
                return TKV_EINVAL;
        }
        return 0;
}

/* [auth]: with users on, root's password must come from a file only its
 * owner may read, as the cluster secret does: it is the only way in until
 * one is stored in the cluster. */
static int config_check_auth(struct config *c, char *errmsg)
{
        c->root_password[0] = '\0';
        if (!c->auth_enabled) {
                return 0;
        }
        if (c->root_password_file[0] == '\0') {
                err_msgf(errmsg, "config: auth.enabled = 1 needs auth.root_password_file (root's "
                                 "password, mode 0600)");
                return TKV_EINVAL;
        }
        return config_read_secret_file(c->root_password, c->root_password_file, "auth",
                                       "root_password", errmsg);
}

unsigned config_join_addrs(const struct config *c, char (*addrs)[CONFIG_ADDR_BYTES])
{
        unsigned n = 0;
        const char *p = c->join;

        while (*p != '\0' && n < CONFIG_JOIN_MAX) {
                size_t len = strcspn(p, ",");
                if (len > 0 && len < CONFIG_ADDR_BYTES) {
                        memcpy(addrs[n], p, len);
                        addrs[n++][len] = '\0';
                }
                p += len + (p[len] == ',');
        }
        return n;
}

void config_set_nodes(struct config *c, const struct config_node *nodes, unsigned n)
{
        memcpy(c->nodes, nodes, n * sizeof *nodes);
        c->n_nodes = n;
}

/* node.join: a node that joins takes its node list from the cluster map,
 * so its file names only itself, and says the shape of the cluster
 * outright (the handshake compares it with the members'). */
static int config_check_join(const struct config *c, char *errmsg)
{
        char addrs[CONFIG_JOIN_MAX][CONFIG_ADDR_BYTES], host[CONFIG_ADDR_BYTES];
        unsigned n = config_join_addrs(c, addrs), port, commas = 0;

        for (const char *p = c->join; *p != '\0'; p++) {
                commas += *p == ',';
        }
        if (n != commas + 1 || n > CONFIG_JOIN_MAX) {
                err_msgf(errmsg,
                         "config: node.join = \"%.80s\": at most %u addresses "
                         "a.b.c.d:port, separated by commas",
                         c->join, CONFIG_JOIN_MAX);
                return TKV_EINVAL;
        }
        for (unsigned i = 0; i < n; i++) {
                if (config_split_addr(addrs[i], host, &port) != 0) {
                        err_msgf(errmsg, "config: node.join: bad address \"%s\"", addrs[i]);
                        return TKV_EINVAL;
                }
        }
        if (c->n_nodes != 1 || c->partitions == 0 || c->replicas == 0) {
                err_msgf(errmsg, "config: node.join: %s",
                         c->n_nodes != 1 ? "list no [node.N] section but this node's (the "
                                           "cluster map names the members)"
                                         : "write cluster.partitions and cluster.replicas "
                                           "out (the members' values)");
                return TKV_EINVAL;
        }
        if (c->bootstrap) {
                err_msgf(errmsg,
                         "config: node.join: a joining node never bootstraps (node.bootstrap = 1)");
                return TKV_EINVAL;
        }
        return 0;
}

static int config_validate(struct config *c, char *errmsg)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        /* One partition per node: every node leads one once balanced, and
         * runs no more Raft logs (each its own fsync stream) than that
         * needs. docs/performance.md measures 8 partitions on 3 nodes at
         * half the write throughput of 3. */
        if (c->join[0] != '\0' && config_check_join(c, errmsg) != 0) {
                return TKV_EINVAL;
        }
        if (c->partitions == 0) {
                c->partitions = c->n_nodes;
        }
        if (c->replicas == 0) {
                c->replicas = c->n_nodes < 3 ? c->n_nodes : 3;
        }
        if (c->replicas > c->n_nodes && c->join[0] == '\0') {
                err_msgf(errmsg, "config: cluster.replicas = %u: more than the %u node(s) listed",
                         c->replicas, c->n_nodes);
                return TKV_EINVAL;
        }
        if (c->heartbeat_timeout_ms >= c->election_timeout_ms) {
                err_msgf(errmsg,
                         "config: raft.heartbeat_timeout_ms = %u: must be below "
                         "raft.election_timeout_ms (%u)",
                         c->heartbeat_timeout_ms, c->election_timeout_ms);
                return TKV_EINVAL;
        }
        if (c->lease_ttl_min_ms > c->lease_ttl_max_ms) {
                err_msgf(errmsg,
                         "config: limits.lease_ttl_min_ms = %u: must not exceed "
                         "lease_ttl_max_ms (%u)",
                         c->lease_ttl_min_ms, c->lease_ttl_max_ms);
                return TKV_EINVAL;
        }
        /* A request carries a key and a value plus at most a few hundred
         * bytes of envelope; both limits must fit in one frame. */
        if (c->key_bytes_max + c->value_bytes_max + 1024 > c->frame_bytes_max) {
                err_msgf(errmsg,
                         "config: limits.frame_bytes_max = %llu: must exceed "
                         "key_bytes_max + value_bytes_max + 1KiB (%llu)",
                         (unsigned long long)c->frame_bytes_max,
                         (unsigned long long)(c->key_bytes_max + c->value_bytes_max + 1024));
                return TKV_EINVAL;
        }
        if (c->conn_output_close_bytes < c->conn_output_bytes_max + c->frame_bytes_max) {
                err_msgf(errmsg,
                         "config: limits.conn_output_close_bytes = %llu: must be at least "
                         "conn_output_bytes_max + frame_bytes_max (%llu)",
                         (unsigned long long)c->conn_output_close_bytes,
                         (unsigned long long)(c->conn_output_bytes_max + c->frame_bytes_max));
                return TKV_EINVAL;
        }
        if (c->conn_output_close_bytes < c->watch_output_bytes_max + c->frame_bytes_max) {
                err_msgf(errmsg,
                         "config: limits.conn_output_close_bytes = %llu: must be at least "
                         "watch_output_bytes_max + frame_bytes_max (%llu)",
                         (unsigned long long)c->conn_output_close_bytes,
                         (unsigned long long)(c->watch_output_bytes_max + c->frame_bytes_max));
                return TKV_EINVAL;
        }
        /* One client at its full window must fit, or every write of a busy
         * client would drop every other session. */
        if (c->sessions_bytes_max < 32 + 40 * (uint64_t)c->session_window) {
                err_msgf(errmsg,
                         "config: server.sessions_bytes_max = %llu: below one client's "
                         "full session_window (32 + 40 x %u = %llu bytes)",
                         (unsigned long long)c->sessions_bytes_max, c->session_window,
                         (unsigned long long)(32 + 40 * (uint64_t)c->session_window));
                return TKV_EINVAL;
        }
        if (c->request_timeout_ms > c->request_timeout_max_ms) {
                err_msgf(errmsg,
                         "config: server.request_timeout_ms = %u: above "
                         "server.request_timeout_max_ms (%u)",
                         c->request_timeout_ms, c->request_timeout_max_ms);
                return TKV_EINVAL;
        }
        if (c->metrics_addr[0] != '\0' && config_split_addr(c->metrics_addr, host, &port) != 0) {
                err_msgf(errmsg,
                         "config: node.metrics_addr = \"%s\": not an IPv4 address with a port",
                         c->metrics_addr);
                return TKV_EINVAL;
        }
        if (log_format_parse(c->log_format) < 0) {
                err_msgf(errmsg, "config: server.log_format = \"%s\": must be text or json",
                         c->log_format);
                return TKV_EINVAL;
        }
        if (log_level_parse(c->log_level) < 0) {
                err_msgf(errmsg,
                         "config: server.log_level = \"%s\": must be debug, info, warn, "
                         "error or off",
                         c->log_level);
                return TKV_EINVAL;
        }
        if (config_check_tls(c, errmsg) != 0 || config_check_auth(c, errmsg) != 0) {
                return TKV_EINVAL;
        }
        return config_check_secret(c, errmsg);
}

static bool config_has_flag(int argc, char **argv, const char *flag)
{
        size_t n = strlen(flag);
        for (int i = 1; i < argc; i++) {
                if (strncmp(argv[i], flag, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '=')) {
                        return true;
                }
        }
        return false;
}

int config_load(struct config *c, int argc, char **argv, char *errmsg)
{
        int rv;

        config_defaults(c);
        rv = config_parse_args(c, argc, argv, false, errmsg);
        if (rv != 0 || c->help || c->version) {
                return rv;
        }
        if (c->config_file[0] != '\0') {
                rv = config_load_file(c, c->config_file, errmsg);
                if (rv != 0) {
                        return rv;
                }
        }
        rv = config_parse_args(c, argc, argv, true, errmsg);
        if (rv != 0) {
                return rv;
        }
        rv = config_resolve_nodes(c, config_has_flag(argc, argv, "--client-addr"),
                                  config_has_flag(argc, argv, "--peer-addr"), errmsg);
        if (rv != 0) {
                return rv;
        }
        return config_validate(c, errmsg);
}

void config_usage(FILE *out, const char *prog)
{
        const char *section = "";

        fprintf(out,
                "usage: %s [--config FILE] [--node-id N] [--client-addr HOST:PORT]\n"
                "       [--peer-addr HOST:PORT] [--data-dir DIR] [--OPTION VALUE ...]\n\n"
                "tunekvd serves one node of a tunekv cluster. With no config file the flags\n"
                "alone run a one-node cluster. Every option below is KEY in section [SECTION]\n"
                "of the config file (INI) and --KEY-WITH-DASHES on the command line; flags\n"
                "override the file.\n\n"
                "  --config FILE          read options from FILE first\n"
                "  --ready-fd N           write \"ready\\n\" to file descriptor N, then close it,\n"
                "                         once every local partition has a leader\n"
                "  --help, --version\n",
                prog);
        for (size_t i = 0; i < CONFIG_N_OPTIONS; i++) {
                const struct config_option *o = &config_options[i];
                char flag[64];
                size_t n = strlen(o->key);
                if (strcmp(section, o->section) != 0) {
                        section = o->section;
                        fprintf(out, "\n[%s]\n", section);
                }
                for (size_t k = 0; k <= n; k++) {
                        flag[k] = o->key[k] == '_' ? '-' : o->key[k];
                }
                fprintf(out, "  --%-24s %s (default %s)\n", flag, o->help, o->def);
        }
        fprintf(out, "\n[node.N] sections list the cluster's nodes: client_addr, peer_addr, and "
                     "optionally zone.\n");
}

/* text with roff's special characters made literal: a leading dot or
 * quote, and backslashes. */
static void config_man_text(FILE *out, const char *text)
{
        if (text[0] == '.' || text[0] == '\'') {
                fputs("\\&", out);
        }
        for (; *text != '\0'; text++) {
                if (*text == '\\') {
                        fputs("\\e", out);
                } else if (*text == '-') {
                        fputs("\\-", out);
                } else {
                        fputc(*text, out);
                }
        }
}

/* One option as a roff tagged paragraph: the flag (section 8) or the key
 * (section 5), its meaning and its default. */
static void config_man_option(FILE *out, const struct config_option *o, unsigned section)
{
        fputs(".TP\n\\fB", out);
        if (section == 8) {
                fputs("\\-\\-", out);
                for (const char *k = o->key; *k != '\0'; k++) {
                        fputs(*k == '_' ? "\\-" : (char[2]){*k, '\0'}, out);
                }
                fputs("\\fR \\fIvalue\\fR\n", out);
        } else {
                config_man_text(out, o->key);
                fputs("\\fR = \\fIvalue\\fR\n", out);
        }
        config_man_text(out, o->help);
        fputs(". Default: ", out);
        config_man_text(out, o->def[0] != '\0' ? o->def : "(empty)");
        if (o->type == CONFIG_UINT || o->type == CONFIG_BYTES) {
                fprintf(out, "; from %llu to %llu", (unsigned long long)o->min,
                        (unsigned long long)o->max);
        }
        fputs(".\n", out);
}

void config_man(FILE *out, unsigned section, const char *version)
{
        const char *current = "";

        fprintf(out, ".TH %s %u \"\" \"tunekv %s\" \"tunekv\"\n",
                section == 8 ? "TUNEKVD" : "TUNEKV.CONF", section, version);
        if (section == 8) {
                fputs(".SH NAME\ntunekvd \\- serve one node of a tunekv cluster\n"
                      ".SH SYNOPSIS\n\\fBtunekvd\\fR [\\fB\\-\\-config\\fR \\fIfile\\fR] "
                      "[\\fB\\-\\-\\fR\\fIoption value\\fR ...]\n"
                      ".SH DESCRIPTION\nEvery option is \\fIkey\\fR in section "
                      "[\\fIsection\\fR] of the configuration file (tunekv.conf(5)) and "
                      "\\fB\\-\\-key\\-with\\-dashes\\fR on the command line; flags override the "
                      "file. With no file the flags alone run a one\\-node cluster.\n"
                      ".SH OPTIONS\n.TP\n\\fB\\-\\-config\\fR \\fIfile\\fR\nRead options "
                      "from \\fIfile\\fR first.\n.TP\n\\fB\\-\\-ready\\-fd\\fR \\fIn\\fR\n"
                      "Write \"ready\" to file descriptor \\fIn\\fR once every local partition "
                      "has a leader.\n.TP\n\\fB\\-\\-help\\fR, \\fB\\-\\-version\\fR\n",
                      out);
        } else {
                fputs(".SH NAME\ntunekv.conf \\- configuration of a tunekv node\n"
                      ".SH DESCRIPTION\nAn INI file: \\fIkey\\fR = \\fIvalue\\fR lines in "
                      "[\\fIsection\\fR]s; every key is also a tunekvd(8) flag. Sizes take "
                      "KiB, MiB or GiB. [node.\\fIN\\fR] sections list the cluster's nodes "
                      "(client_addr, peer_addr, optionally zone); every node needs the same "
                      "[cluster] "
                      "section and "
                      "node list, except a node started with join, which lists only "
                      "itself.\n",
                      out);
        }
        for (size_t i = 0; i < CONFIG_N_OPTIONS; i++) {
                const struct config_option *o = &config_options[i];
                if (strcmp(current, o->section) != 0) {
                        current = o->section;
                        fprintf(out, ".SH %s [%s]\n", section == 8 ? "OPTIONS OF" : "SECTION",
                                current);
                }
                config_man_option(out, o, section);
        }
        fprintf(out,
                ".SH SIGNALS\nSIGTERM and SIGINT drain and exit 0; SIGHUP reloads the "
                "configuration (the log level and format, limits and timeouts apply at "
                "once); SIGUSR1 and SIGUSR2 are ignored. Exit status 75: out of memory "
                "while applying a committed entry (restart the node).\n"
                ".SH SEE ALSO\n%s, tunekv(1), tunekv\\-bench(1)\n",
                section == 8 ? "tunekv.conf(5)" : "tunekvd(8)");
}

const struct config_node *config_self(const struct config *c)
{
        int i = config_node_index(c, c->node_id);
        return i >= 0 ? &c->nodes[i] : NULL;
}

int config_node_index(const struct config *c, unsigned id)
{
        for (unsigned i = 0; i < c->n_nodes; i++) {
                if (c->nodes[i].id == id) {
                        return (int)i;
                }
        }
        return -1;
}

unsigned config_replicas_of(const struct config *c, unsigned partition, unsigned *ids)
{
        for (unsigned i = 0; i < c->replicas; i++) {
                ids[i] = c->nodes[(partition + i) % c->n_nodes].id;
        }
        return c->replicas;
}

static bool config_option_equal(const struct config_option *o, const struct config *a,
                                const struct config *b)
{
        const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;

        switch (o->type) {
        case CONFIG_UINT:
                return *(const unsigned *)(const void *)pa == *(const unsigned *)(const void *)pb;
        case CONFIG_BYTES:
                return *(const uint64_t *)(const void *)pa == *(const uint64_t *)(const void *)pb;
        default:
                return strcmp(pa, pb) == 0;
        }
}

static bool config_nodes_equal(const struct config *a, const struct config *b)
{
        if (a->n_nodes != b->n_nodes) {
                return false;
        }
        for (unsigned i = 0; i < a->n_nodes; i++) {
                if (a->nodes[i].id != b->nodes[i].id ||
                    strcmp(a->nodes[i].client_addr, b->nodes[i].client_addr) != 0 ||
                    strcmp(a->nodes[i].peer_addr, b->nodes[i].peer_addr) != 0 ||
                    strcmp(a->nodes[i].zone, b->nodes[i].zone) != 0) {
                        return false;
                }
        }
        return true;
}

/* Read at each use (conn.c, rpc.c, server.c, read.c), so a new value takes
 * effect at once. frame_bytes_max, key and value limits, token and peer
 * limits are not: start sized buffers and guards from them. */
static const char *const config_reloadable_keys[] = {
    /* [tls]: new client connections get the files read again (server.c) */
    "cert_file",
    "key_file",
    "ca_file",
    "client_cert_auth",
    "min_version",
    "peer_cert_file",
    "peer_key_file",
    "peer_ca_file",
    "log_level",
    "log_format",
    "conns_max",
    "inflight_per_conn_max",
    "conn_output_bytes_max",
    "conn_output_close_bytes",
    "client_buffers_bytes_max",
    "frame_timeout_ms",
    "idle_timeout_ms",
    "request_timeout_ms",
    "request_timeout_max_ms",
    "disk_reserve_bytes",
    "forward_rate",
    "forward_burst",
};

bool config_reload_option(struct config *live, const struct config *next, const char *section,
                          const char *key, char *buf, size_t len)
{
        for (size_t i = 0; i < sizeof config_reloadable_keys / sizeof config_reloadable_keys[0];
             i++) {
                if (strcmp(key, config_reloadable_keys[i]) != 0) {
                        continue;
                }
                for (size_t j = 0; j < CONFIG_N_OPTIONS; j++) {
                        const struct config_option *o = &config_options[j];
                        char *dst = (char *)live + o->offset;
                        const char *src = (const char *)next + o->offset;
                        if (strcmp(o->key, key) != 0 || strcmp(o->section, section) != 0) {
                                continue;
                        }
                        switch (o->type) {
                        case CONFIG_UINT:
                                memcpy(dst, src, sizeof(unsigned));
                                snprintf(buf, len, "%u", *(const unsigned *)(const void *)src);
                                break;
                        case CONFIG_BYTES:
                                memcpy(dst, src, sizeof(uint64_t));
                                snprintf(buf, len, "%llu",
                                         (unsigned long long)*(const uint64_t *)(const void *)src);
                                break;
                        default: /* log_level: parsed into the same field of next */
                                memcpy(dst, src, strlen(src) + 1);
                                snprintf(buf, len, "%s", src);
                                break;
                        }
                        return true;
                }
        }
        return false;
}

unsigned config_changes(const struct config *a, const struct config *b, config_change_cb cb,
                        void *data)
{
        unsigned n = 0;

        for (size_t i = 0; i < CONFIG_N_OPTIONS; i++) {
                const struct config_option *o = &config_options[i];
                if (!config_option_equal(o, a, b)) {
                        cb(data, o->section, o->key);
                        n++;
                }
        }
        if (!config_nodes_equal(a, b)) {
                cb(data, "node", "nodes");
                n++;
        }
        return n;
}
