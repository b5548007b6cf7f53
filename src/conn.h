/* One connection that sends requests to this node (see conn.c for its
 * pipeline): a client's, accepted on the client port, or a node link,
 * adopted from the peer port's handshake (transport.h), on which another
 * node sends what it forwards, its probes, confirmations and pings. */
#ifndef TKV_CONN_H
#define TKV_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "buffer.h"
#include "queue.h"

struct config;
struct conn;
struct tls_ctx;
struct spare;

/* What a connection hands up to the request pipeline (the server wires
 * rpc.c in: conn_set.handlers), so that the network layer never calls
 * the layers it feeds. on_request takes every request frame's payload
 * (borrowed for the call); on_refuse answers, with id 0, what cannot be
 * read as a request: a frame too large, a connection refused at accept.
 * on_close: the connection is closing (nothing more can be written to it):
 * what it holds beyond its calls (its watches) goes. */
struct conn_handlers {
        void (*on_request)(struct conn *c, const uint8_t *data, size_t len);
        void (*on_refuse)(struct conn *c, int tkv_err, const char *message);
        void (*on_close)(struct conn *c);
};

/* Frees a node link's stream once it is closed (the transport allocated
 * it). */
typedef void (*conn_stream_free_cb)(uv_handle_t *h);

/* What became of the node's connections (the server's metrics read them). */
struct conn_stats {
        uint64_t conns_accepted;
        uint64_t conns_refused; /* over conns_max */
        uint64_t frames_too_large;
        uint64_t conns_output_closed; /* closed over conn_output_close_bytes */
        uint64_t conns_timed_out;     /* closed by frame_timeout_ms / idle_timeout_ms */
        uint64_t conns_budget_closed; /* closed over client_buffers_bytes_max */
        uint64_t output_closed_logged_ms;
        uint64_t budget_closed_logged_ms;
        uint64_t links_accepted; /* node links adopted from the peer port */
        uint64_t links_refused;  /* over links_max */
        uint64_t bytes_in[2];    /* received on [0] client connections, [1] node links */
        uint64_t bytes_out[2];   /* written to them (counted when the write completes) */
        uint64_t tls_failed;     /* client connections whose TLS failed (or met plaintext) */
        uint64_t tls_failed_logged_ms;
};

/* Every connection of the node and what they share: the lists, the
 * node-wide budget for client buffers, the counts the limits apply to, the
 * counters. The server embeds one (server.conns) and fills in the fields
 * above the lists; connections reach it, and nothing of the server, through
 * conn.set, so that the network layer needs no header above it. */
struct conn_set {
        uv_loop_t *loop;
        const struct config *cfg; /* borrowed: the limits (frame_bytes_max, conns_max, ...) */
        const struct conn_handlers *handlers; /* what connections hand up */
        void *data;            /* the handlers' (the server's node), reached through conn.set */
        struct spare *spare;   /* borrowed: takes connections conn_accept cannot allocate */
        struct tls_ctx *tls;   /* owned: the client port's TLS; NULL: plaintext */
        struct queue all;      /* struct conn: clients' and node links */
        struct queue dirty;    /* conns with answers to write */
        unsigned n_conns;      /* client connections */
        unsigned n_links;      /* node links */
        uint64_t client_bytes; /* held by client connections (conn_held), node-wide */
        uint64_t serial;       /* the last connection's number */
        struct conn_stats stats;
};

struct conn {
        uv_tcp_t *tcp;      /* data = this: &tcp_own, or a node link's adopted stream */
        uv_tcp_t tcp_own;   /* a client connection's stream */
        unsigned link_node; /* node at the other end of a node link; 0 for a client */
        conn_stream_free_cb stream_free; /* node link: frees tcp after its close */
        struct conn_set *set;            /* borrowed: the node's connections, this one among them */
        uint64_t serial;                 /* connection number, for logs */
        struct queue link;               /* in set->all */
        struct queue dirty_link;         /* in set->dirty while answers wait to be written */
        struct buffer in;                /* received bytes not yet dispatched */
        struct buffer out;               /* answers not yet handed to uv_write */
        struct buffer out_busy;          /* answers being written */
        size_t counted;                  /* conn_held as last added to set->client_bytes */
        uv_write_t write;
        unsigned inflight; /* requests dispatched, not yet answered */
        unsigned refs;     /* calls alive + 1 while the handle is open */
        bool writing;
        bool paused;  /* reading stopped: too much unsent output */
        bool closing; /* uv_close called */
        bool close_after_write;
        uint64_t requests;                  /* requests dispatched */
        uint64_t active_ms;                 /* loop time of the last bytes read */
        uint64_t frame_start_ms;            /* loop time a still unfinished frame began (or, on TLS,
                                               the connection while its handshake runs); 0: none */
        char auth_user[AUTH_NAME_BYTES];    /* who AUTHed on it ([auth] enabled); "": nobody */
        bool auth_pending;                  /* its AUTH is being hashed (rpc_auth.c) */
        uint8_t auth_salt[AUTH_SALT_BYTES]; /* of the password it proved: a new one, or
                                               the user re-created, needs a new AUTH */
        uint8_t auth_salt_next[AUTH_SALT_BYTES]; /* of the new password it set for its
                                                    own user (rpc_users.c): proved too */
        bool auth_salt_next_set;
        /* The WATCH streams it receives (rpc_watch.c's, which owns the
         * list): they keep it from idle_timeout_ms. */
        struct queue watches;
        unsigned n_watches;
        /* TLS on the client port, else NULL: received bytes land in
         * tls->in and are decrypted into `in`; answers in `out` are
         * encrypted into tls->out, which is what gets written. */
        struct tls *tls;
};

/* Set up an empty set (the server fills in its loop, cfg, handlers, data
 * and spare). */
void conn_set_init(struct conn_set *set);

/* Accept a connection from the client listener into set (borrowed).
 * Unless serving (the node is up and not shutting down), it is answered
 * UNAVAILABLE with id 0 and closed. */
void conn_accept(struct conn_set *set, uv_stream_t *listener, bool serving);

/* Serve requests arriving on a node link: tcp is connected, authenticated
 * as node_id by the peer handshake, and not reading; tls is its session
 * with peer TLS (NULL: plaintext). Ownership of both is transferred: tls
 * goes with the connection, tcp is closed with it and then handed to
 * stream_free. Node links have their own limits (links_max,
 * link_inflight_max, link_output_bytes_max) and never count against the
 * client ones. */
void conn_adopt_link(struct conn_set *set, uv_tcp_t *tcp, struct tls *tls, unsigned node_id,
                     conn_stream_free_cb stream_free);

/* Close the client connections that broke frame_timeout_ms or
 * idle_timeout_ms at loop time now (the server calls it periodically). */
void conn_sweep(struct conn_set *set, uint64_t now);

/* Is c a node link (node-to-node requests allowed)? */
bool conn_is_link(const struct conn *c);

/* Requests c may have in progress (inflight_per_conn_max or
 * link_inflight_max). */
unsigned conn_inflight_max(const struct conn *c);

/* Space for an answer frame of body_len bytes at the end of the output;
 * the header is written, the caller fills the body. NULL if the connection
 * is closing (drop the answer) or out of memory (the connection closes). */
uint8_t *conn_answer_space(struct conn *c, size_t body_len);

/* Answers not yet written to the kernel, bytes (WATCH streams pause above
 * watch_output_bytes_max of it). */
size_t conn_unsent_bytes(const struct conn *c);

/* Close once everything queued has been written; read nothing more. */
void conn_close_after_write(struct conn *c);

/* Close now. */
void conn_close(struct conn *c);

/* Hand queued answers to the kernel (called once per loop iteration). */
void conn_flush(struct conn *c);

/* A call took / dropped a reference. */
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

#endif
