/* Size classes over aligned blocks (slab.h has the design).
 *
 * Every block is on exactly one list: its class's list of blocks with a
 * free slot (partial), the list of full blocks, or it is the spare. An
 * allocation takes a slot from the first partial block of its class (a
 * returned slot first, else the next never-used one) and moves the block
 * to the full list when that was its last slot; a free puts the slot on
 * its block's free list and moves a full block back to the partial list,
 * an emptied one to the spare. */
#include "slab.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "heap.h"

/* At the start of every block; the slots follow. */
struct slab_block {
        struct slab_block *next; /* in the list the block is on */
        struct slab_block *prev;
        void *base;          /* heap_block_free() needs it */
        void *free;          /* first returned slot; each holds the next one's address */
        uint32_t used;       /* slots allocated */
        uint32_t slots;      /* slots in the block */
        uint32_t bump;       /* offset of the first slot never used */
        uint32_t slot_bytes; /* the class's size */
};

#define SLAB_HEADER_BYTES ((sizeof(struct slab_block) + SLAB_ALIGN - 1) / SLAB_ALIGN * SLAB_ALIGN)

struct slab {
        struct slab_block *partial[SLAB_CLASSES]; /* blocks with a free slot, per class */
        struct slab_block *full;                  /* blocks without one, any class */
        struct slab_block *spare;                 /* an empty block kept for the next need */
        size_t blocks;                            /* blocks held, the spare included */
        size_t heap_bytes;                        /* objects tkv_malloc'd, at their size */
        bool pooled;                              /* false: every object is tkv_malloc'd */
};

bool slab_pooled_default(void)
{
#if defined(__SANITIZE_ADDRESS__)
        return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        return false;
#else
        return true;
#endif
#else
        return true;
#endif
}

int slab_create(struct slab **out, bool pooled)
{
        struct slab *s = tkv_calloc(1, sizeof *s);
        *out = s;
        if (s == NULL) {
                return TKV_ENOMEM;
        }
        s->pooled = pooled;
        return 0;
}

static void slab_block_release(struct slab *s, struct slab_block *b)
{
        s->blocks--;
        heap_block_free(b, b->base, SLAB_BLOCK_BYTES);
}

static void slab_list_release(struct slab *s, struct slab_block *b)
{
        while (b != NULL) {
                struct slab_block *next = b->next;
                slab_block_release(s, b);
                b = next;
        }
}

void slab_destroy(struct slab *s)
{
        if (s == NULL) {
                return;
        }
        for (size_t c = 0; c < SLAB_CLASSES; c++) {
                slab_list_release(s, s->partial[c]);
        }
        slab_list_release(s, s->full);
        if (s->spare != NULL) {
                slab_block_release(s, s->spare);
        }
        assert(s->blocks == 0);
        tkv_free(s);
}

static void slab_list_push(struct slab_block **head, struct slab_block *b)
{
        b->prev = NULL;
        b->next = *head;
        if (*head != NULL) {
                (*head)->prev = b;
        }
        *head = b;
}

static void slab_list_remove(struct slab_block **head, struct slab_block *b)
{
        if (b->prev != NULL) {
                b->prev->next = b->next;
        } else {
                *head = b->next;
        }
        if (b->next != NULL) {
                b->next->prev = b->prev;
        }
        b->next = b->prev = NULL;
}

/* An empty block for slots of slot_bytes: the spare, or a new one. */
static struct slab_block *slab_block_take(struct slab *s, uint32_t slot_bytes)
{
        struct slab_block *b = s->spare;
        void *base = NULL;

        if (b != NULL) {
                s->spare = NULL;
                base = b->base;
        } else {
                b = heap_block_alloc(SLAB_BLOCK_BYTES, &base);
                if (b == NULL) {
                        return NULL;
                }
                s->blocks++;
        }
        memset(b, 0, sizeof *b);
        b->base = base;
        b->slot_bytes = slot_bytes;
        b->slots = (uint32_t)((SLAB_BLOCK_BYTES - SLAB_HEADER_BYTES) / slot_bytes);
        b->bump = (uint32_t)SLAB_HEADER_BYTES;
        return b;
}

static size_t slab_class(size_t bytes)
{
        return (bytes + SLAB_ALIGN - 1) / SLAB_ALIGN - 1;
}

void *slab_alloc(struct slab *s, size_t bytes)
{
        struct slab_block *b;
        size_t c;
        uint8_t *p;

        if (bytes == 0) {
                bytes = 1;
        }
        if (!s->pooled || bytes > SLAB_BYTES_MAX) {
                p = tkv_malloc(bytes);
                s->heap_bytes += p != NULL ? bytes : 0;
                return p;
        }
        c = slab_class(bytes);
        b = s->partial[c];
        if (b == NULL) {
                b = slab_block_take(s, (uint32_t)((c + 1) * SLAB_ALIGN));
                if (b == NULL) {
                        return NULL;
                }
                slab_list_push(&s->partial[c], b);
        }
        if (b->free != NULL) {
                p = b->free;
                memcpy(&b->free, p, sizeof b->free);
        } else {
                p = (uint8_t *)b + b->bump;
                b->bump += b->slot_bytes;
        }
        if (++b->used == b->slots) {
                slab_list_remove(&s->partial[c], b);
                slab_list_push(&s->full, b);
        }
        return p;
}

void slab_free(struct slab *s, void *p, size_t bytes)
{
        struct slab_block *b;
        size_t c;

        if (p == NULL) {
                return;
        }
        if (bytes == 0) {
                bytes = 1;
        }
        if (!s->pooled || bytes > SLAB_BYTES_MAX) {
                s->heap_bytes -= bytes;
                tkv_free(p);
                return;
        }
        c = slab_class(bytes);
        b = (struct slab_block *)((uintptr_t)p & ~(uintptr_t)(SLAB_BLOCK_BYTES - 1));
        assert(b->slot_bytes == (c + 1) * SLAB_ALIGN && b->used > 0);
        if (b->used == b->slots) {
                slab_list_remove(&s->full, b);
                slab_list_push(&s->partial[c], b);
        }
        memcpy(p, &b->free, sizeof b->free);
        b->free = p;
        if (--b->used > 0) {
                return;
        }
        /* Empty: keep it as the spare, releasing the one it replaces. */
        slab_list_remove(&s->partial[c], b);
        if (s->spare != NULL) {
                slab_block_release(s, s->spare);
        }
        s->spare = b;
}

size_t slab_blocks(const struct slab *s)
{
        return s->blocks;
}

size_t slab_footprint_bytes(const struct slab *s)
{
        return s->blocks * SLAB_BLOCK_BYTES + s->heap_bytes;
}
