/* All allocation in tunekv goes through tkv_malloc and friends, over a
 * replaceable allocator, so that tests can fail the Nth allocation and prove
 * that out-of-memory fails one request and keeps the daemon serving. */
#ifndef TKV_HEAP_H
#define TKV_HEAP_H

#include <stddef.h>

struct tkv_heap {
        void *data;
        void *(*malloc)(void *data, size_t size);
        void *(*realloc)(void *data, void *ptr, size_t size);
        void (*free)(void *data, void *ptr);
};

/* Replace the allocator; NULL restores the default (libc). Set before any
 * allocation that the new allocator would have to free, and never while a
 * server runs. */
void heap_set(const struct tkv_heap *heap);

void *tkv_malloc(size_t size);
void *tkv_calloc(size_t n, size_t size);
void *tkv_realloc(void *ptr, size_t size);
void tkv_free(void *ptr);
/* Copy of the first len bytes of s plus a NUL terminator. */
char *tkv_strndup(const char *s, size_t len);
char *tkv_strdup(const char *s);

/* Give the free memory inside malloc's heap back to the operating system
 * where it spans whole pages (glibc: malloc_trim); a no-op with other C
 * libraries. Takes malloc's lock for a few milliseconds with a large heap:
 * for the moments when much was just freed. */
void heap_trim(void);

/* Allocations of at least HEAP_MMAP_BYTES get their own mapping, given
 * back when freed (glibc: M_MMAP_THRESHOLD; a no-op elsewhere). Call once,
 * before the first thread starts. */
#define HEAP_MMAP_BYTES (4u << 20)
void heap_tune(void);

/* Memory for an allocator's block (slab.h): bytes (a power of two, at
 * least 4 KiB) aligned to bytes, or NULL. The default heap maps it from the
 * operating system, so that it never sits between malloc's chunks and
 * heap_block_free() gives it back at once; a replaced heap (heap_set)
 * serves it from its own malloc, so that tests can fail it. *base receives
 * what heap_block_free() needs; keep it with the block, since the heap may
 * be replaced in between. */
void *heap_block_alloc(size_t bytes, void **base);
/* Release a block from heap_block_alloc(): block, the base it gave and the
 * same bytes. */
void heap_block_free(void *block, void *base, size_t bytes);

#endif
