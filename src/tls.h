/* TLS without a socket: OpenSSL runs the protocol over two byte buffers and
 * the caller moves the bytes, on its own event loop (libuv in the daemon,
 * poll(2) in the client library). No second loop, no thread, no BIO pair.
 *
 * Normal path, for either side:
 *
 *   network bytes received  -> append to t->in
 *   tls_handshake / tls_read -> OpenSSL consumes t->in; plaintext comes out
 *                               of tls_read, and whatever OpenSSL must send
 *                               (handshake messages, alerts, records) lands
 *                               in t->out
 *   tls_write(plaintext)    -> records appended to t->out
 *   the caller sends t->out  and consumes what the kernel took.
 *
 * Both buffers are the caller's to bound: t->in grows only by what the
 * caller appends, t->out by what it writes plus the handshake (a few KiB).
 *
 * Failure modes: a handshake or record the other side got wrong (a wrong
 * CA, an expired certificate, a plaintext peer) makes the call return
 * TKV_EPROTO with the reason in t->errmsg, and t->out may hold the alert
 * that tells the other side why: send it before closing. */
#ifndef TKV_TLS_H
#define TKV_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"

/* An SSL_CTX with tunekv's settings: certificates, CA, versions. Opaque. */
struct tls_ctx;

enum tls_role {
        TLS_SERVER,
        TLS_CLIENT,
};

struct tls_ctx_config {
        enum tls_role role;
        const char *cert_file; /* PEM chain; NULL: no certificate (a client that shows none) */
        const char *key_file;  /* PEM private key of cert_file */
        /* PEM CAs the other side's certificate must chain to. A client
         * without one uses the system's store; a server without one does
         * not ask for client certificates. */
        const char *ca_file;
        bool require_peer_cert;  /* server: refuse a client without a valid certificate */
        const char *min_version; /* "1.2" or "1.3"; NULL or "": "1.3" */
};

/* Build a context; on failure *out is NULL and err says which file or
 * setting failed, with OpenSSL's reason. */
int tls_ctx_new(const struct tls_ctx_config *cfg, struct tls_ctx **out, char *err, size_t err_len);
void tls_ctx_free(struct tls_ctx *ctx);

#define TLS_ERRMSG_BYTES 200

/* One TLS connection. The fields below are the caller's to use as the
 * comment on each says; ssl is OpenSSL's. */
struct tls {
        void *ssl;           /* SSL * */
        struct buffer in;    /* received, not yet taken by OpenSSL: the caller appends */
        struct buffer out;   /* to send: the caller sends and consumes */
        struct buffer early; /* tls_write before the handshake ended: sent once it has */
        bool established;    /* the handshake finished */
        bool received;       /* OpenSSL has been given bytes to read */
        char errmsg[TLS_ERRMSG_BYTES];
};

/* Start a connection of ctx's role. A client passes the server's name,
 * checked against its certificate (DNS name or IP address); NULL checks
 * nothing but the chain. The client's first flight is in t->out when this
 * returns. */
int tls_init(struct tls *t, struct tls_ctx *ctx, const char *server_name);

/* Free everything t holds (sends nothing). Safe on a zeroed or freed t. */
void tls_free(struct tls *t);

/* Advance the handshake with what t->in holds: 0 once established,
 * TKV_EAGAIN while more must arrive (send t->out first), TKV_EPROTO if it
 * failed (t->errmsg). */
int tls_handshake(struct tls *t);

/* Decrypt into buf (finishing the handshake first if needed): 0 with
 * *got > 0, TKV_EAGAIN when a whole record has not arrived yet, TKV_ECONN
 * when the other side closed the session (close_notify), TKV_EPROTO on a
 * bad record. */
int tls_read(struct tls *t, void *buf, size_t cap, size_t *got);

/* Encrypt len bytes into t->out (all of them: t->out grows). Before the
 * handshake finished they are kept, and encrypted the moment it does
 * (inside tls_handshake or tls_read). TKV_ENOMEM, or TKV_EPROTO if the
 * session is broken. */
int tls_write(struct tls *t, const void *data, size_t len);

/* Queue a close_notify into t->out. */
void tls_shutdown(struct tls *t);

/* Does data (the first bytes a port received) look like a TLS record
 * header (a handshake or an alert)? For clear errors when one side speaks
 * TLS and the other does not. */
bool tls_looks_like_record(const void *data, size_t len);

#endif
