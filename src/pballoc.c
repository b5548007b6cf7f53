/* A protobuf-c allocator with a budget (see pballoc.h). */
#include "pballoc.h"

#include "heap.h"

static void *pballoc_alloc(void *data, size_t size)
{
        struct pballoc *a = data;
        void *p;
        if (a->allocs_left == 0 || size > a->bytes_left) {
                a->over = true;
                return NULL;
        }
        p = tkv_malloc(size);
        if (p == NULL) {
                a->failed = true;
                return NULL;
        }
        a->allocs_left--;
        a->bytes_left -= size;
        return p;
}

static void pballoc_free(void *data, void *p)
{
        (void)data;
        tkv_free(p);
}

void pballoc_init(struct pballoc *a, size_t bytes_max, size_t allocs_max)
{
        a->base.alloc = pballoc_alloc;
        a->base.free = pballoc_free;
        a->base.allocator_data = a;
        a->bytes_left = bytes_max;
        a->allocs_left = allocs_max;
        a->over = false;
        a->failed = false;
}
