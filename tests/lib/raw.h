/* The client protocol by hand, for integration tests that must send exactly
 * what they mean (forged, malformed or node-to-node requests): a socket,
 * frames (u32 BE length + protobuf), answers. Failures end the test
 * (cmocka asserts). */
#ifndef TKV_TEST_RAW_H
#define TKV_TEST_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "buffer.h"
#include "peerauth.h"
#include "tls.h"
#include "tunekv.pb-c.h"

/* A connected socket to addr ("a.b.c.d:port"), with 20 s send and receive
 * timeouts (a hang fails the test instead of stalling it). small_buffers:
 * fix the kernel buffers at 64 KiB (no autotuning), so a backlog cannot
 * hide in them. */
int raw_connect_addr(const char *addr, bool small_buffers);

/* Send all len bytes of data. */
void raw_write(int fd, const void *data, size_t len);

/* Frame a packed request into out (appended). */
void raw_frame_request(struct buffer *out, const Tunekv__V1__Request *req);

/* Frame and send one request. */
void raw_send_request(int fd, const Tunekv__V1__Request *req);

/* The next answer (free with tunekv__v1__response__free_unpacked(r, NULL)),
 * or NULL when the server closed the connection. */
Tunekv__V1__Response *raw_read_response(int fd);

/* A node's side of the peer handshake (peerauth.h), as a test plays it. */
struct raw_peer {
        const char *secret;  /* the cluster secret the test believes in */
        const char *cluster; /* cluster name */
        uint64_t group;      /* partition, TRANSPORT_LINK_GROUP or _PROBE_GROUP */
        uint64_t from;       /* the node the test claims to be */
        uint64_t to;         /* the node it connects to */
        uint64_t incarnation;
        const char *address;           /* its claimed peer address */
        const char *previous;          /* a previous secret it also holds (rotation), or NULL */
        struct peerauth_layout layout; /* the cluster layout it claims (raw_layout_of) */
};

/* The cluster layout (config_layout) node 1 derives from the config file
 * conf: what a node of that cluster presents in its PROOF. */
struct peerauth_layout raw_layout_of(const char *conf);

/* Run the client side of the handshake on fd (connected to a peer port).
 * Returns 0 when the server's CHALLENGE proved the secret and the PROOF was
 * sent, TKV_EAUTH when the server's MAC is wrong, TKV_ECONN when the server
 * closed the connection (or did not answer) before a CHALLENGE. If hello
 * and proof are not NULL they receive the bytes sent (for replays: 72 and
 * up to 303 bytes; *proof_len its length). */
int raw_peer_handshake(int fd, const struct raw_peer *p, uint8_t *hello, uint8_t *proof,
                       size_t *proof_len);

/* Read exactly len bytes; false if the connection closed or timed out
 * first. */
bool raw_read_exact(int fd, void *out, size_t len);

/* True if the server closes fd (EOF or reset) within the socket timeout
 * without sending anything more. */
bool raw_closed_silently(int fd);

/* A TLS connection to a peer port ([tls] peer_*) that a test uses as a
 * plaintext socket: fd is one end of a socketpair, and a thread moves its
 * bytes through a TLS session (tls.h) over a TCP connection to the port,
 * showing the certificate name.pem (with name.key) from dir and checking
 * the node's against dir/ca.pem. When either side ends, the thread closes
 * the other: a node that drops the connection is an EOF on fd. */
struct raw_tls_proxy {
        int fd;              /* the test's end */
        int inner;           /* the thread's end */
        int tcp;             /* to the node */
        struct tls_ctx *ctx; /* our certificate, the CA */
        struct tls tls;      /* the session (the thread's) */
        pthread_t thread;
};

/* Connect to addr ("a.b.c.d:port") and start the proxy; failures end the
 * test. The TLS handshake runs in the thread: what the test writes first
 * is sent once it ended. */
void raw_tls_proxy_open(struct raw_tls_proxy *p, const char *addr, const char *dir,
                        const char *name);

/* Close fd, wait for the thread and free everything. */
void raw_tls_proxy_close(struct raw_tls_proxy *p);

#endif
