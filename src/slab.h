/* Size-class allocator for many small, long-lived objects (store entries).
 *
 * Why not malloc: glibc puts a store entry between whatever else the loop
 * allocated at that moment, mostly raft's log entries; when raft truncates
 * its log after a snapshot, those leave holes between the entries that
 * stay in the heap (docs/performance.md, "Memory and restart"). malloc
 * also adds 8 bytes to every chunk and rounds it to 16. A slab keeps the
 * objects in blocks of their own, rounded to 8 bytes, with no per-object
 * header, and hands an empty block back to the operating system.
 *
 * Objects of 1 to SLAB_BYTES_MAX bytes are rounded up to a multiple of 8
 * (their class) and carved from SLAB_BLOCK_BYTES blocks aligned to their
 * size, so the block of an object is its address with the low bits
 * cleared. Each block holds objects of one class: a free list of returned
 * slots, then slots never used yet. A class keeps a list of its blocks
 * with a free slot; a block whose last object is freed becomes the slab's
 * one spare block (the next block any class needs), and the spare it
 * replaces is released. Larger objects, and every object of a slab that is
 * not pooled, are plain tkv_malloc() chunks.
 *
 * The caller passes the size of an object to slab_free(): it is not
 * stored. Only one thread may use a slab. */
#ifndef TKV_SLAB_H
#define TKV_SLAB_H

#include <stdbool.h>
#include <stddef.h>

#define SLAB_BLOCK_BYTES (256 * 1024)
#define SLAB_BYTES_MAX   1024 /* larger objects are tkv_malloc'd */
#define SLAB_ALIGN       8    /* granularity and alignment of the classes */
#define SLAB_CLASSES     (SLAB_BYTES_MAX / SLAB_ALIGN)

/* Pooling is off under AddressSanitizer (slab_pooled_default()), so that a
 * use after free of a pooled object is caught as of any malloc'd one. */
bool slab_pooled_default(void);

struct slab;

/* An empty slab: pooled, or every object tkv_malloc'd. TKV_ENOMEM on
 * failure (*out = NULL). */
int slab_create(struct slab **out, bool pooled);
/* Release every block, with whatever pooled objects are still in them;
 * objects that were tkv_malloc'd (larger than SLAB_BYTES_MAX, or all of an
 * unpooled slab) must have been freed. Safe on NULL. */
void slab_destroy(struct slab *s);

/* bytes (at least 1) of uninitialised memory aligned to 8, or NULL when
 * out of memory. */
void *slab_alloc(struct slab *s, size_t bytes);
/* Return p, from slab_alloc(s, bytes) with the same bytes. */
void slab_free(struct slab *s, void *p, size_t bytes);

/* Blocks held, the spare included. */
size_t slab_blocks(const struct slab *s);
/* Bytes taken from the heap: blocks, plus the objects larger than
 * SLAB_BYTES_MAX (and every object of an unpooled slab) at their size. */
size_t slab_footprint_bytes(const struct slab *s);

#endif
