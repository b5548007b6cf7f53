/* Raft traffic between nodes: one TCP port per node for every Raft group.
 *
 * raft_uv wants a struct raft_uv_transport per group, able to connect to a
 * peer and to accept connections from peers. Its stock TCP transport binds
 * one port per group; tunekv runs many groups per node on one peer port, so
 * each connection opens with a preamble naming the cluster, the group and
 * the sender, and the node's listener (struct transport_mux) hands the
 * connection to the group it names (docs/architecture.md, "Peer transport").
 *
 * Every connection opens with the authenticated handshake of peerauth.h:
 * the connecting side names the cluster, the group (a partition number,
 * TRANSPORT_LINK_GROUP or TRANSPORT_PROBE_GROUP), itself and the node it
 * means to reach, and both prove they hold the cluster's peer key before
 * the accepting side learns the sender's incarnation and address. The
 * accepting side reads exactly the handshake's bytes (never a Raft byte),
 * stops reading, checks the sender's incarnation (identity.h, written only
 * now, after authentication) and passes the stream to raft. A probe is
 * answered with what the acceptor knows of the sender (sealed) and closed.
 * A node link carries framed node-to-node requests and answers
 * (forwarding, probes, confirmations, pings; peer.h): once the sender is
 * admitted like a Raft connection, the stream is handed to the mux's link
 * callback, which owns it from then on. Streams handed to raft are
 * allocated with raft_malloc, since raft frees them (RAFT-NOTES §2), and
their `data` field belongs to raft from then on. */
#ifndef TKV_TRANSPORT_H
#define TKV_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"
#include "identity.h"
#include "keys.h"
#include "peerauth.h"
#include "queue.h"
#include "raftguard.h"
#include "raftwire.h"
#include "spare.h"
#include "tlsrelay.h"

#define TRANSPORT_PROBE_GROUP UINT64_MAX
#define TRANSPORT_LINK_GROUP  (UINT64_MAX - 1)
#define TRANSPORT_ADDRESS_MAX PEERAUTH_ADDRESS_MAX

struct tls;
struct transport_mux;
typedef void (*transport_mux_close_cb)(struct transport_mux *m);

/* A node link was admitted from node_id: tcp (connected, not reading, its
 * data field free) is transferred to the callee, which frees it with
 * transport_stream_free after closing it. */
struct tls;
typedef void (*transport_link_cb)(void *data, uv_tcp_t *tcp, struct tls *tls, unsigned node_id);

/* What the cluster map this node applied says of a node (transport.c
 * admits peers by it). */
enum transport_member {
        TRANSPORT_NOT_MEMBER, /* not in the map (or no map yet): the configuration decides */
        TRANSPORT_MEMBER,     /* a voter or a joining member */
        TRANSPORT_REMOVED,    /* removed: refused, whatever the configuration says */
};

/* Called during a handshake, on the loop: must answer from memory. */
typedef enum transport_member (*transport_member_cb)(void *data, unsigned node_id);

/* The peer address the cluster map gives node_id, or NULL (no map, not a
 * member): Raft's connections go there rather than to the address its
 * configuration recorded when the node was added, which a member's
 * address change (MEMBER UPDATE) does not rewrite. On the loop, from
 * memory; the string is only read during the call. */
typedef const char *(*transport_address_cb)(void *data, unsigned node_id);

#define TRANSPORT_BACKOFFS_MAX 64

/* A log entry carries one request (at most frame_bytes_max) plus what the
 * leader adds to it; a configuration lists at most CONFIG_NODES_MAX
 * servers. Both bound what a peer's Raft message may carry (raftguard.h). */
#define TRANSPORT_ENTRY_SLACK    (1024u * 1024)
#define TRANSPORT_CONF_BYTES_MAX (64u * 1024)

/* Connection backoff towards one peer address (transport.c). */
struct transport_backoff {
        char address[TRANSPORT_ADDRESS_MAX + 1];
        uint64_t delay_ms; /* wait before the next attempt; 0 after a success */
};

/* One per node: the peer listener and the table of groups. */
struct transport_mux {
        uv_loop_t *loop;
        uv_tcp_t listener;             /* data = this */
        struct spare spare;            /* takes connections that cannot be allocated */
        uv_timer_t sweep;              /* closes handshakes that stall */
        const struct config *cfg;      /* borrowed: node id, node list */
        uint64_t cluster_id;           /* xxh64(cluster_name) */
        struct keys_ring ring;         /* KEYS_PEER: the handshake's keys */
        struct peerauth_layout layout; /* this node's cluster layout (config_layout) */
        uint64_t layout_logged_ms;     /* last layout mismatch logged (rate limit) */
        bool refuse_entries;           /* disk nearly full: refuse peers' entries and snapshots */
        struct identity *identity;     /* this node's; borrowed */
        struct raftwire_limits wire_limits; /* what an inbound Raft message may carry */
        struct raftguard_stats guard_stats;
        unsigned connect_timeout_ms; /* per outbound attempt */
        struct tlsrelay_env tls;     /* [tls] peer_*: contexts owned; NULL: plaintext */
        unsigned handshake_timeout_ms;
        unsigned handshakes_max; /* inbound connections still in their preamble */
        struct queue transports; /* struct transport, by link */
        struct queue handshakes; /* struct transport_handshake, by link */
        unsigned n_handshakes;
        struct transport_backoff backoffs[TRANSPORT_BACKOFFS_MAX];
        unsigned n_backoffs;
        bool listening;
        bool closing;
        unsigned handles_open; /* listener, sweep, spare, handshakes being closed */
        transport_mux_close_cb close_cb;
        transport_link_cb link_cb; /* NULL: node links are refused */
        void *link_data;
        transport_member_cb member_cb; /* NULL: only the configuration's nodes are peers */
        void *member_data;
        transport_address_cb address_cb; /* NULL: Raft's addresses as they are */
        void *address_data;
        char errmsg[ERR_MSG_BYTES];
        uint64_t accepted;      /* connections handed to a group */
        uint64_t links;         /* node links handed to link_cb */
        uint64_t refused;       /* bad preamble, unknown group, over the limit */
        uint64_t connect_fails; /* outbound attempts that failed */
        uint64_t auth_failures; /* handshakes that failed authentication */
        uint64_t auth_unlogged; /* of those, not logged (rate limit) */
        uint64_t auth_logged_ms;
        uint64_t removed_refusals; /* HELLOs from members the map says were removed */
        uint64_t removed_unlogged; /* of those, not logged (rate limit) */
        uint64_t removed_logged_ms;
};

/* Initialise the mux on loop for cfg's node (borrowed for the mux's
 * lifetime, like identity); nothing listens yet. TKV_EIO with errmsg set if
 * the peer key cannot be derived. */
int transport_mux_init(struct transport_mux *m, uv_loop_t *loop, const struct config *cfg,
                       struct identity *identity);

/* Hand node links (TRANSPORT_LINK_GROUP) to cb from now on. */
void transport_mux_on_link(struct transport_mux *m, transport_link_cb cb, void *data);

/* Admit peers by what cb says of them from now on (the cluster map):
 * members (voters and joining nodes) besides the configuration's nodes,
 * and never a removed member. */
void transport_mux_on_member(struct transport_mux *m, transport_member_cb cb, void *data);

/* Dial peers at the address cb gives from now on (the cluster map's). */
void transport_mux_on_address(struct transport_mux *m, transport_address_cb cb, void *data);

/* Free a stream handed over by a transport_link_cb, once it is closed (a
 * uv_close callback). */
void transport_stream_free(uv_handle_t *h);

/* Bind and listen on addr ("a.b.c.d:port"). TKV_EADDR with errmsg set. */
int transport_mux_listen(struct transport_mux *m, const char *addr);

/* SIGHUP: read the peer port's TLS files again ([tls] peer_*, renewed
 * under the same names or others); connections made from now on use them,
 * open ones keep their sessions. On a bad file, or peer TLS switched on or
 * off (every node must do that together, with a restart), nothing changes:
 * TKV_EINVAL with errmsg set. */
int transport_mux_reload_tls(struct transport_mux *m, const struct config *cfg);

/* Stop listening and close pending handshakes; cb fires once every handle
 * is closed. The groups' transports must be closed already. */
void transport_mux_close(struct transport_mux *m, transport_mux_close_cb cb);

#endif
