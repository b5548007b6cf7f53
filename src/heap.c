#include "heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__GLIBC__) /* defined by the headers above */
#include <malloc.h>
#endif

static void *heap_default_malloc(void *data, size_t size)
{
        (void)data;
        return malloc(size);
}

static void *heap_default_realloc(void *data, void *ptr, size_t size)
{
        (void)data;
        return realloc(ptr, size);
}

static void heap_default_free(void *data, void *ptr)
{
        (void)data;
        free(ptr);
}

static const struct tkv_heap heap_default = {NULL, heap_default_malloc, heap_default_realloc,
                                             heap_default_free};

/* Set before start only (see heap_set); read-only while serving. */
static const struct tkv_heap *heap_current = &heap_default;

void heap_set(const struct tkv_heap *heap)
{
        heap_current = heap != NULL ? heap : &heap_default;
}

void *tkv_malloc(size_t size)
{
        return heap_current->malloc(heap_current->data, size);
}

void *tkv_calloc(size_t n, size_t size)
{
        void *p;
        if (size != 0 && n > SIZE_MAX / size) {
                return NULL;
        }
        p = tkv_malloc(n * size);
        if (p != NULL) {
                memset(p, 0, n * size);
        }
        return p;
}

void *tkv_realloc(void *ptr, size_t size)
{
        return heap_current->realloc(heap_current->data, ptr, size);
}

void tkv_free(void *ptr)
{
        heap_current->free(heap_current->data, ptr);
}

char *tkv_strndup(const char *s, size_t len)
{
        char *p = tkv_malloc(len + 1);
        if (p != NULL) {
                memcpy(p, s, len);
                p[len] = '\0';
        }
        return p;
}

char *tkv_strdup(const char *s)
{
        return tkv_strndup(s, strlen(s));
}

void heap_trim(void)
{
#if defined(__GLIBC__)
        (void)malloc_trim(0);
#endif
}

/* glibc raises its mmap threshold to the size of each mapped block freed
 * (up to 32 MiB), so after the first snapshot buffer (the whole partition,
 * tens of MiB, malloc'd on a threadpool thread) is freed, the next ones
 * come from that thread's arena instead. Freed there, they merge into the
 * arena's top, which neither free nor malloc_trim give back below twice
 * the threshold: 8 threadpool threads kept ~24 MiB each (issue 15, 1 MiB
 * values). A fixed threshold keeps the snapshot buffers mapped, and with it
 * a fixed trim threshold (128 KiB) gives the main heap's top back too.
 * 1 MiB values and their log entries stay below it, in the heap. */
void heap_tune(void)
{
#if defined(__GLIBC__)
        (void)mallopt(M_MMAP_THRESHOLD, (int)HEAP_MMAP_BYTES);
#endif
}

/* mmap only promises page alignment. The kernel places a new mapping just
 * below the last one, so after one aligned block the next is usually
 * aligned too, and adjacent blocks merge into one mapping (vm.max_map_count
 * counts mappings). Otherwise map 2 * bytes and unmap what lies outside the
 * aligned middle. */
static void *heap_block_map(size_t bytes)
{
        const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
        uint8_t *p = mmap(NULL, bytes, prot, flags, -1, 0);
        uintptr_t head;

        if (p != MAP_FAILED && (uintptr_t)p % bytes == 0) {
                return p;
        }
        if (p != MAP_FAILED) {
                munmap(p, bytes);
        }
        p = mmap(NULL, 2 * bytes, prot, flags, -1, 0);
        if (p == MAP_FAILED) {
                return NULL;
        }
        head = (bytes - (uintptr_t)p % bytes) % bytes;
        if (head > 0) {
                munmap(p, head);
        }
        munmap(p + head + bytes, bytes - head);
        return p + head;
}

void *heap_block_alloc(size_t bytes, void **base)
{
        uint8_t *p;

        *base = NULL;
        if (bytes == 0 || bytes > SIZE_MAX / 2 || (bytes & (bytes - 1)) != 0) {
                return NULL;
        }
        if (heap_current == &heap_default) {
                return heap_block_map(bytes);
        }
        p = tkv_malloc(2 * bytes);
        if (p == NULL) {
                return NULL;
        }
        *base = p;
        return p + (bytes - (uintptr_t)p % bytes) % bytes;
}

void heap_block_free(void *block, void *base, size_t bytes)
{
        if (block == NULL) {
                return;
        }
        if (base != NULL) {
                tkv_free(base);
        } else {
                munmap(block, bytes);
        }
}
