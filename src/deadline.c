#include "deadline.h"

#include "err.h"
#include "heap.h"

void deadline_heap_init(struct deadline_heap *h)
{
        h->items = NULL;
        h->n = 0;
        h->cap = 0;
}

void deadline_heap_close(struct deadline_heap *h)
{
        tkv_free(h->items);
        deadline_heap_init(h);
}

static void deadline_set(struct deadline_heap *h, size_t i, struct deadline *d)
{
        h->items[i] = d;
        d->pos = i;
}

static void deadline_sift_up(struct deadline_heap *h, size_t i)
{
        struct deadline *d = h->items[i];
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (h->items[parent]->at_ms <= d->at_ms) {
                        break;
                }
                deadline_set(h, i, h->items[parent]);
                i = parent;
        }
        deadline_set(h, i, d);
}

static void deadline_sift_down(struct deadline_heap *h, size_t i)
{
        struct deadline *d = h->items[i];
        for (;;) {
                size_t child = 2 * i + 1;
                if (child >= h->n) {
                        break;
                }
                if (child + 1 < h->n && h->items[child + 1]->at_ms < h->items[child]->at_ms) {
                        child++;
                }
                if (d->at_ms <= h->items[child]->at_ms) {
                        break;
                }
                deadline_set(h, i, h->items[child]);
                i = child;
        }
        deadline_set(h, i, d);
}

int deadline_heap_push(struct deadline_heap *h, struct deadline *d)
{
        if (h->n == h->cap) {
                size_t cap = h->cap > 0 ? h->cap * 2 : 64;
                struct deadline **items = tkv_realloc(h->items, cap * sizeof *items);
                if (items == NULL) {
                        return TKV_ENOMEM;
                }
                h->items = items;
                h->cap = cap;
        }
        h->items[h->n] = d;
        d->pos = h->n++;
        deadline_sift_up(h, d->pos);
        return 0;
}

void deadline_heap_remove(struct deadline_heap *h, struct deadline *d)
{
        size_t i = d->pos;
        struct deadline *last;

        if (i == DEADLINE_NONE || i >= h->n || h->items[i] != d) {
                return;
        }
        d->pos = DEADLINE_NONE;
        last = h->items[--h->n];
        if (i == h->n) {
                return;
        }
        h->items[i] = last;
        last->pos = i;
        if (i > 0 && h->items[(i - 1) / 2]->at_ms > last->at_ms) {
                deadline_sift_up(h, i);
        } else {
                deadline_sift_down(h, i);
        }
}

void deadline_heap_update(struct deadline_heap *h, struct deadline *d)
{
        deadline_sift_up(h, d->pos);
        deadline_sift_down(h, d->pos);
}

struct deadline *deadline_heap_min(const struct deadline_heap *h)
{
        return h->n > 0 ? h->items[0] : NULL;
}
