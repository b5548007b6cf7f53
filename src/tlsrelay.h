/* TLS for the peer port, whose streams libraft reads and writes itself.
 *
 * Raft (and the peer handshake) get a plaintext stream: one end of a
 * socketpair, opened in a uv_pipe_t the caller provides. The relay owns the
 * other end and the TCP connection, and moves bytes between them through a
 * TLS session (tls.h):
 *
 *   TCP --records--> tls_read  --plaintext--> inner ==socketpair==> plain
 *   TCP <--records-- tls_write <--plaintext-- inner <==socketpair== plain
 *
 * except that an accepted connection's relay (tlsrelay_wrap), whose plain
 * stream only raft reads, skips the socketpair toward the caller: once the
 * caller said it reads plain (tlsrelay_reading), each record's plaintext
 * goes to plain's alloc and read callbacks, called by the relay as libuv
 * would call them, in the loop turn the record arrived in:
 *
 *   TCP --records--> tls_read --plaintext--> plain's read callback
 *
 * The socketpair then carries only the end: the relay closing its end is
 * an end of file on plain, after everything delivered before.
 *
 * The plain stream is usable at once: what the caller writes before the
 * handshake finished waits in the socketpair; what it reads arrives once
 * it did. So a caller treats a relayed stream exactly as the TCP stream it
 * stands for, and every failure (refused connection, handshake failure,
 * timeout, reset) reaches it as an end of file or error on plain. The
 * relay logs why TLS failed (at most once a second) and counts it.
 *
 * Flow control: each direction has one write in flight (records are first
 * offered to the kernel with uv_try_write, which usually takes them all),
 * what arrives meanwhile queues behind it up to a read's worth (64 KiB),
 * and past that the relay stops reading that side until the write is done:
 * at most about three reads per direction (being written, queued, being
 * decrypted), and a slow reader slows its writer through the kernel. A
 * wrapped relay holds at most a read's worth of plaintext until the
 * caller reads.
 *
 * Lifetime: the relay closes its handles at the first end of file or
 * error on either side (closing the socketpair, which the caller then
 * reads as EOF), or when the handshake does not finish within the
 * timeout, and frees itself once they are closed. */
#ifndef TKV_TLSRELAY_H
#define TKV_TLSRELAY_H

#include <stdint.h>
#include <uv.h>

struct tls;
struct tls_ctx;
struct tlsrelay;

/* Memory for a peer stream: a TCP connection, or a relay's plaintext pipe
 * (uv_stream_t either way). */
union tlsrelay_stream {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
};

/* What every relay of one node shares. */
struct tlsrelay_env {
        struct tls_ctx *server; /* accepted connections: our certificate, peers' required */
        struct tls_ctx *client; /* connections we open: the same certificate, as a client */
        uint64_t handshake_timeout_ms;
        uint64_t failures;  /* TLS handshakes or records that failed */
        uint64_t logged_ms; /* the last failure logged (one a second) */
};

/* Relay a connection the caller accepted and ran TLS on (the peer
 * handshake read through its session): tcp and tls are owned from now on
 * (tcp is handed to tcp_free once closed), and plain (a pipe handle the
 * caller initialised, uv_pipe_init, not yet opened) is opened on the
 * plaintext side. What the other side sends (what the session already
 * holds first) is not written into the socketpair: it waits in the relay
 * until the caller started reading plain and says so (tlsrelay_reading),
 * then goes straight to plain's read callback. peer names the other side
 * in logs (copied). 0 with *relay set (borrowed: valid until the end of
 * the current callback, the relay frees itself later), or TKV_ENOMEM with
 * nothing taken. */
int tlsrelay_wrap(struct tlsrelay_env *env, uv_tcp_t *tcp, uv_close_cb tcp_free, struct tls *tls,
                  const char *peer, uv_pipe_t *plain, struct tlsrelay **relay);

/* The caller of tlsrelay_wrap started reading plain (uv_read_start), in
 * the same callback as the wrap: from now on the relay calls plain's alloc
 * and read callbacks itself with each record's plaintext, as libuv would
 * (a loop turn and several system calls fewer per message than through
 * the socketpair). A reader that stops or closes plain gets nothing more:
 * before each batch the relay checks with one poll(2) that plain's end of
 * the socketpair is still open, because plain's memory is freed at the
 * end of the turn it was closed in. An end of file or error still arrives
 * through the socketpair, after everything delivered before it. */
void tlsrelay_reading(struct tlsrelay *r);

/* Connect to addr, start TLS as a client checking the peer's certificate
 * for server_name (an IP address or DNS name, copied), and open plain (as
 * above) on the plaintext side. 0, or TKV_ENOMEM with plain not opened. A
 * connection refused later reaches plain as an end of file. */
int tlsrelay_connect(struct tlsrelay_env *env, uv_loop_t *loop, const struct sockaddr *addr,
                     const char *server_name, uv_pipe_t *plain);

#endif
