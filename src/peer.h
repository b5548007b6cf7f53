/* A link from this node to another node's peer port (a node link): it
 * carries the requests this node forwards to the node that can serve them,
 * pings that tell which nodes are alive, probes and leadership
 * confirmations. It opens with the peer preamble (transport.h, group
 * TRANSPORT_LINK_GROUP), then carries frames like a client connection does,
 * so the other node serves it with its request pipeline (conn_adopt_link)
 * but never against its client limits, and clients cannot send what only
 * nodes may. Frames only: what the bytes mean is rpc_forward.c's
 * business. */
#ifndef TKV_PEER_H
#define TKV_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "peerauth.h"
#include "queue.h"

struct identity;
struct tls;
struct tlsrelay_env;
struct peer;
struct peer_env;
struct transport_mux;

/* A request waiting for its answer on a link; embedded in the caller's
 * state. */
struct peer_call {
        struct queue link;       /* in peer->calls, oldest first */
        struct peer_call *hnext; /* in peer->table bucket */
        struct peer *peer;
        uint64_t id;    /* request id on the link */
        uint64_t order; /* enqueue order: sent once order <= peer->flushed */
        unsigned kind;  /* the owner's tag: what the call is (rpc_forward.c) */
};

/* Every frame the link receives (borrowed for the call). */
typedef void (*peer_frame_cb)(struct peer *p, const uint8_t *frame, size_t len);

/* The link broke (or closed) with pc in flight: sent says whether its bytes
 * may have reached the other node. pc is no longer tracked. */
typedef void (*peer_fail_cb)(struct peer_call *pc, bool sent);

enum peer_state { PEER_IDLE, PEER_CONNECTING, PEER_CONNECTED, PEER_CLOSING };

#define PEER_TABLE_BUCKETS 1024

struct peer {
        void *data;                 /* the owner's, for the callbacks (the server's node) */
        const struct peer_env *env; /* shared by every link of the node */
        unsigned node_id;
        char addr[64];
        enum peer_state state;
        uv_tcp_t tcp;    /* data = this */
        struct tls *tls; /* peer TLS: this connection's session (tls.h); NULL: plaintext */
        uv_connect_t connect;
        uv_write_t write;
        uv_write_t hello_write; /* the handshake's HELLO */
        uv_write_t proof_write; /* the handshake's PROOF */
        struct peerauth auth;   /* this connection's handshake */
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t proof_len;
        uv_timer_t timer; /* connect deadline, reconnect backoff, pings */
        struct buffer in;
        struct buffer out;      /* frames not yet handed to uv_write */
        struct buffer out_busy; /* frames being written */
        bool writing;
        struct queue calls; /* struct peer_call, by enqueue order */
        struct peer_call *table[PEER_TABLE_BUCKETS];
        unsigned n_calls;
        uint64_t next_id;
        uint64_t enqueued;      /* order of the last call enqueued */
        uint64_t flushed;       /* order of the last call handed to uv_write */
        uint64_t last_heard_ms; /* loop time of the last frame received; 0 never */
        uint64_t last_ping_ms;  /* rpc_forward.c: when the last ping was queued */
        struct peer_call ping;  /* rpc_forward.c: the ping in flight */
        bool ping_in_flight;
        unsigned failures; /* consecutive failed connections */
        uint64_t retry_at_ms;
        bool stopping;
        peer_frame_cb on_frame;
        peer_fail_cb on_fail;
        uint64_t frames_in;
        uint64_t connects;
};

struct peer_params {
        unsigned connect_timeout_ms;
        unsigned ping_interval_ms;
        uint64_t output_bytes_max; /* frames queued before peer_frame_space refuses */
};

/* What every link of a node shares, owned by the server: the loop, the
 * links' limits, and what the handshake proves about this node. Links read
 * it and nothing else of the node. */
struct peer_env {
        uv_loop_t *loop;
        const struct config *cfg;         /* node_id, peer_addr, frame_bytes_max */
        const struct peer_params *params; /* output_bytes_max */
        const struct identity *identity;  /* this node's incarnation */
        const struct transport_mux *mux;  /* the key ring, cluster id and layout */
        struct tlsrelay_env *tls;         /* the mux's peer TLS (contexts, failure counts) */
};

/* Set up p, a link to node_id at addr. data is its owner's (p->data), for
 * the callbacks only; env is borrowed for p's lifetime. */
void peer_init(struct peer *p, void *data, const struct peer_env *env, unsigned node_id,
               const char *addr, peer_frame_cb on_frame, peer_fail_cb on_fail);

/* A fresh request id on this link. */
uint64_t peer_next_id(struct peer *p);

/* Space for one frame of body_len bytes (header written), connecting the
 * link if needed. NULL when the link's output bound is reached or it is
 * stopping. */
uint8_t *peer_frame_space(struct peer *p, size_t body_len);

/* Track pc as waiting for the answer to request id (just queued). */
void peer_track(struct peer *p, struct peer_call *pc, uint64_t id);

/* The call waiting for id, still tracked, or NULL. */
struct peer_call *peer_find(const struct peer *p, uint64_t id);

/* The call waiting for id, removed from the link, or NULL. */
struct peer_call *peer_take(struct peer *p, uint64_t id);

/* Stop waiting for pc (its answer, if any, is dropped). Returns whether its
 * bytes may have reached the other node. */
bool peer_forget(struct peer_call *pc);

/* Once per loop iteration: (re)connect when there is something to send and
 * any backoff has passed, and write what is queued. */
void peer_flush(struct peer *p, uint64_t now_ms, const struct peer_params *params);

/* Heard from this node within window_ms? */
bool peer_alive(const struct peer *p, uint64_t now_ms, uint64_t window_ms);

/* Break the link now (its calls fail; it reconnects when needed). */
void peer_reset(struct peer *p, const char *why);

/* The node moved to another peer address (addr, copied): break the link;
 * it reconnects there. */
void peer_move(struct peer *p, const char *addr);

/* Close the link for good: pending calls fail; cb-free, the server polls
 * peer_closed(). */
void peer_stop(struct peer *p);
bool peer_closed(const struct peer *p);

/* Free buffers after the loop ended. */
void peer_release(struct peer *p);

#endif
