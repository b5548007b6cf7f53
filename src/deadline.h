/* Deadlines of requests in progress: a binary min-heap of embedded
 * struct deadline, so one timer serves every request and a request can drop
 * its deadline in O(log n) when it completes. The daemon keeps one behind a
 * libuv timer; libtunekv keeps one per client for its requests' wake-ups
 * (src/client/), which is why this file uses neither libuv nor the server
 * and lives in the shared objects. */
#ifndef TKV_DEADLINE_H
#define TKV_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

struct deadline {
        uint64_t at_ms; /* monotonic time at which it expires: uv_now in the daemon */
        size_t pos;     /* index in the heap; DEADLINE_NONE when not in one */
};

#define DEADLINE_NONE ((size_t)-1)

struct deadline_heap {
        struct deadline **items;
        size_t n;
        size_t cap;
};

void deadline_heap_init(struct deadline_heap *h);
void deadline_heap_close(struct deadline_heap *h);

/* Add d (d->at_ms set). TKV_ENOMEM when the heap cannot grow. */
int deadline_heap_push(struct deadline_heap *h, struct deadline *d);

/* Remove d if it is in the heap. */
void deadline_heap_remove(struct deadline_heap *h, struct deadline *d);

/* Restore the order after d->at_ms changed while d is in the heap: a
 * request that moves its deadline keeps its slot, and no allocation can
 * fail. */
void deadline_heap_update(struct deadline_heap *h, struct deadline *d);

/* Earliest deadline or NULL. */
struct deadline *deadline_heap_min(const struct deadline_heap *h);

static inline void deadline_clear(struct deadline *d)
{
        d->pos = DEADLINE_NONE;
}

#endif
