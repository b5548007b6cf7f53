/* One client connection (see conn.c for its pipeline). */
#ifndef TKV_CONN_H
#define TKV_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "queue.h"

struct server;

struct conn {
        uv_tcp_t tcp; /* data = this */
        struct server *server;
        uint64_t serial;         /* connection number, for logs */
        struct queue link;       /* in server->conns */
        struct queue dirty_link; /* in server->dirty while answers wait to be written */
        struct buffer in;        /* received bytes not yet dispatched */
        struct buffer out;       /* answers not yet handed to uv_write */
        struct buffer out_busy;  /* answers being written */
        uv_write_t write;
        unsigned inflight; /* requests dispatched, not yet answered */
        unsigned refs;     /* calls alive + 1 while the handle is open */
        bool writing;
        bool paused;  /* reading stopped: too much unsent output */
        bool closing; /* uv_close called */
        bool close_after_write;
        uint64_t requests; /* requests dispatched */
};

/* Accept a connection from the listener. */
void conn_accept(struct server *s, uv_stream_t *listener);

/* Space for an answer frame of body_len bytes at the end of the output;
 * the header is written, the caller fills the body. NULL if the connection
 * is closing (drop the answer) or out of memory (the connection closes). */
uint8_t *conn_answer_space(struct conn *c, size_t body_len);

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
