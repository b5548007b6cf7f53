/* Framing of client and forwarded messages: a 4-byte big-endian length N,
 * then N bytes of protobuf. No I/O here: the caller owns the bytes. */
#ifndef TKV_FRAME_H
#define TKV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_BYTES 4

/* Look at the bytes received so far. Returns
 *   0            a whole frame is there; *body_len is its payload length;
 *   TKV_EAGAIN   more bytes are needed (*body_len set when the header is);
 *   TKV_ETOOBIG  the announced length exceeds body_bytes_max: the caller must
 *                not allocate for it. */
int frame_parse(const uint8_t *data, size_t len, size_t body_bytes_max, size_t *body_len);

/* How many bytes a reader should make room for next, given the `len` bytes
 * it holds (data): `chunk`, or, inside a frame of at most body_bytes_max,
 * the rest of that frame but never more than what already arrived (the
 * buffer at most doubles per read). So a sender that announces a large
 * frame and stalls holds about `chunk` bytes of ours, not the frame. */
size_t frame_read_room(const uint8_t *data, size_t len, size_t body_bytes_max, size_t chunk);

/* Write the header for a payload of body_len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t body_len);

#endif
