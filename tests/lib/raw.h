/* The client protocol by hand, for integration tests that must send exactly
 * what they mean (forged, malformed or node-to-node requests): a socket,
 * frames (u32 BE length + protobuf), answers. Failures end the test
 * (cmocka asserts). */
#ifndef TKV_TEST_RAW_H
#define TKV_TEST_RAW_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
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

#endif
