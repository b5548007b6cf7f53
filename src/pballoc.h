/* A protobuf-c allocator with a budget, for decoding bytes from outside.
 *
 * protobuf-c allocates far more than the bytes it decodes when a message is
 * made of many tiny fields: an unknown field of 2 bytes costs an allocation
 * of its own (a 4 MiB request of them took 2 million mallocs and stalled
 * the loop), an empty sub-message of 2 bytes a whole struct (a STATUS
 * answer decoded by the client took ~300 times its size). Decoding through
 * a pballoc fails, like running out of memory, past a number of
 * allocations or of bytes; the caller tells the two apart with `over` and
 * answers a clear error. */
#ifndef TKV_PBALLOC_H
#define TKV_PBALLOC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

struct pballoc {
        ProtobufCAllocator base; /* pass &a->base to unpack and free_unpacked */
        size_t bytes_left;
        size_t allocs_left;
        bool over;   /* the budget ran out */
        bool failed; /* tkv_malloc failed */
};

/* Allow allocs_max allocations of bytes_max bytes in all. */
void pballoc_init(struct pballoc *a, size_t bytes_max, size_t allocs_max);

#endif
