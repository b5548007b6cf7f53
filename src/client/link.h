/* One non-blocking TCP connection from the client library to one endpoint.
 *
 * A link owns a socket and two buffers: frames waiting for the kernel to take
 * them, and bytes received but not yet parsed into frames. It does no
 * protocol work and keeps no requests; client_peer.c decides what to send and
 * what a broken link means for the requests on it.
 *
 * Functions return 0 or a positive TKV_E* code of src/err.h and, on error,
 * leave a message in l->errmsg. Callers that fill public results (client_*.c)
 * cannot include err.h, so every error is documented by the situation it
 * stands for, and callers only test for non-zero. */
#ifndef TKV_CLIENT_LINK_H
#define TKV_CLIENT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "tls.h"

#define LINK_ERRMSG_BYTES    256
#define LINK_FRAME_BYTES_MAX (64u << 20) /* largest response frame accepted */

struct link {
        int fd;                     /* -1 when closed */
        struct buffer out;          /* frames the kernel has not taken yet */
        struct buffer in;           /* bytes received, not yet consumed as frames */
        uint64_t out_queued_bytes;  /* appended to out since connecting */
        uint64_t out_written_bytes; /* taken by the kernel since connecting */
        /* TLS: NULL on a plaintext link. out then holds plaintext frames
         * not yet encrypted, and tls->out the records the kernel has not
         * taken; tls_plain counts the plaintext behind those records. */
        struct tls *tls;
        size_t tls_plain;
        char errmsg[LINK_ERRMSG_BYTES];
};

/* A closed link with empty buffers. */
void link_init(struct link *l);

/* Resolve host and port with getaddrinfo and connect to the first address
 * that answers within timeout_ms (one budget for all addresses), then set
 * TCP_NODELAY. With a TLS context (else NULL), the TLS handshake follows
 * within the same budget, the server's certificate checked for server_name
 * (NULL: host). The socket is non-blocking; this call waits in poll(2).
 * Fails when resolution, every address, the handshake or the timeout fails;
 * l stays closed. host, port, tls and server_name are borrowed. l must be
 * closed. */
int link_connect(struct link *l, const char *host, const char *port, unsigned timeout_ms,
                 struct tls_ctx *tls, const char *server_name);

static inline bool link_is_open(const struct link *l)
{
        return l->fd >= 0;
}

/* Whether frames are waiting for the socket to become writable. */
static inline bool link_wants_write(const struct link *l)
{
        return l->out.end > l->out.start || (l->tls != NULL && buffer_len(&l->tls->out) > 0);
}

/* Copy one frame to the output buffer. Fails only when out of memory, in
 * which case nothing was appended. data is borrowed. */
int link_queue(struct link *l, const void *data, size_t len);

/* Write queued bytes until the kernel stops taking them. Fails when the
 * connection is broken; the caller then closes the link. Never raises
 * SIGPIPE. */
int link_flush(struct link *l);

/* Read what the kernel has, into the input buffer. Fails on end of file
 * (the server closed), a socket error, or out of memory; bytes read before
 * the failure stay in the buffer, so the caller can still consume the frames
 * that arrived before the server closed. */
int link_read(struct link *l);

/* The next whole frame in the input buffer: *body points to its payload
 * (borrowed until link_frame_done or link_close) and *body_len is its length;
 * *body is NULL when no whole frame is there yet. Fails when the announced
 * length exceeds LINK_FRAME_BYTES_MAX (the stream cannot be resynchronised;
 * close the link). */
int link_frame(struct link *l, const uint8_t **body, size_t *body_len);

/* Drop the frame returned by link_frame. */
void link_frame_done(struct link *l, size_t body_len);

/* Before reusing a link that had nothing in flight: fails if the server
 * closed it meanwhile (idle timeout, restart), so the caller can reconnect
 * instead of sending a write into a dead socket. Does not block. */
int link_check_idle(struct link *l);

/* Close the socket and free both buffers; l can be connected again. Safe on
 * a closed link. l->errmsg is kept. */
void link_close(struct link *l);

#endif
