/* Value compression: values of at least compress_min_bytes are LZ4-compressed
 * once, on the node that proposes the write, and travel compressed through
 * the Raft log, replication, the store and snapshots; they are decompressed
 * only when a read returns them. A value is kept raw when compression would
 * not make it smaller. */
#ifndef TKV_VALUE_H
#define TKV_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* LZ4 writes at most this many bytes per byte of a block (a match grows by
 * 255 bytes per extra length byte, and nothing grows faster), so a stored
 * value whose raw length exceeds 255 times its stored length is corrupt:
 * command_decode and snapshot_decode refuse it, which bounds what a read
 * allocates to decompress by what the store holds. */
#define VALUE_LZ4_EXPANSION_MAX 255

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
