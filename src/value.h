/* Value compression: values of at least compress_min_bytes are LZ4-compressed
 * once, on the node that proposes the write, and travel compressed through
 * the Raft log, replication, the store and snapshots; they are decompressed
 * only when a read returns them. A value is kept raw when compression would
 * not make it smaller. */
#ifndef TKV_VALUE_H
#define TKV_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case compressed size of raw_len bytes. */
size_t value_compress_bound(size_t raw_len);

/* Compress src (raw_len bytes) into dst (cap bytes). Returns 0 and sets
 * *out_len when the result is smaller than the input, TKV_EAGAIN when it
 * is not (store the value raw). */
int value_compress(const uint8_t *src, size_t raw_len, uint8_t *dst, size_t cap, size_t *out_len);

/* Decompress exactly raw_len bytes into dst. TKV_ECORRUPT if src is not a
 * valid block of that size. */
int value_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len);

#endif
