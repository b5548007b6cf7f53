/* Who this node is, on disk, and whether its Raft state is the one the
 * cluster knows.
 *
 * A Raft replica that restarts with an empty directory has forgotten its
 * votes and its log: letting it bootstrap again could elect two leaders in
 * one term. So:
 *
 * - data_dir/tunekv.node records the cluster name, node id, partition count
 *   and an *incarnation*: a random number drawn when the directory is first
 *   initialised. A node started on a directory of another node, cluster or
 *   partition count is refused.
 * - Every node remembers, in data_dir/peers, the incarnation each other node
 *   presented the first time it connected (peer transport preamble). A
 *   connection presenting another incarnation for a known node is refused:
 *   its Raft traffic never reaches this node's groups.
 * - A node whose directory is empty asks its peers first (identity_probe):
 *   if any of them remembers an incarnation for it, its data was lost and it
 *   refuses to start, naming the peer. If no peer is reachable it starts (a
 *   new cluster starts this way); the check above still isolates it.
 * - A node that was initialised but finds a hosted partition's directory
 *   without Raft state refuses to start too (server.c). */
#ifndef TKV_IDENTITY_H
#define TKV_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"

#define IDENTITY_PEERS_MAX CONFIG_NODES_MAX

struct identity {
        uint64_t incarnation;
        bool fresh; /* the directory was initialised by this start */
        /* Incarnations other nodes presented, by node id (0: never seen). */
        unsigned peer_ids[IDENTITY_PEERS_MAX];
        uint64_t peer_incarnations[IDENTITY_PEERS_MAX];
        unsigned n_peers;
        bool saving;     /* a write of data_dir/peers is in flight */
        bool save_again; /* the table changed while saving */
        uv_loop_t *loop;
        char dir[CONFIG_PATH_BYTES];
};

/* Read data_dir/tunekv.node and data_dir/peers, or, for a directory never
 * initialised, draw an incarnation (fresh = true; nothing written yet).
 * Refuses (TKV_EINVAL, errmsg) a directory of another node, cluster or
 * partition count. Blocking: call before the loop runs. */
int identity_load(struct identity *id, const struct config *cfg, char *errmsg);

/* Write tunekv.node for a fresh directory, once the probe passed. */
int identity_commit(const struct identity *id, const struct config *cfg, char *errmsg);

struct tls_ctx;

/* What identity_probe asks with: who we are and the peer key. */
struct identity_probe {
        const struct config *cfg;
        const struct keys_ring *ring; /* KEYS_PEER */
        const struct peerauth_layout *layout;
        uint64_t cluster_id;
        uint64_t group; /* TRANSPORT_PROBE_GROUP */
        uint64_t incarnation;
        struct tls_ctx *tls; /* the peer port's client context; NULL: plaintext */
};

/* For a fresh directory: ask every other node's peer port whether it knows
 * this node, through the authenticated peer handshake (peerauth.h, whose
 * sealed answer is the incarnation known). TKV_EEXIST (errmsg names the
 * node) when one does. Blocking, bounded by connect_timeout_ms per wait;
 * call before the loop runs. */
int identity_probe(const struct identity_probe *q, char *errmsg);

/* A joining node's question to a member of the cluster (server.c,
 * node.join), through the same blocking peer handshake as the probe, on a
 * node link (q->group = TRANSPORT_LINK_GROUP) to whichever member listens
 * at addr (the HELLO names node 0): send req (a whole frame, borrowed),
 * read one answer frame's body of at most max_bytes into *out (tkv_malloc'd,
 * the caller's; *out_len bytes). 0, TKV_ECONN (unreachable, closed, or not
 * answered: a node that is no member gets no CHALLENGE), TKV_EAUTH (the
 * other side does not hold the secret), TKV_ETOOBIG, TKV_ENOMEM; *out is
 * NULL on failure. Blocking, bounded by connect_timeout_ms per wait. */
int identity_request(const struct identity_probe *q, const char *addr, const uint8_t *req,
                     size_t req_len, size_t max_bytes, uint8_t **out, size_t *out_len);

/* The incarnation recorded for node_id, 0 if none. */
uint64_t identity_known(const struct identity *id, unsigned node_id);

/* Check a peer's presented incarnation: true if it is the known one, or the
 * first one seen (then it is recorded and saved off the loop). */
bool identity_admit(struct identity *id, unsigned node_id, uint64_t incarnation);

#endif
