/* Intrusive doubly-linked circular list. A struct queue is both the list
 * head and the link embedded in each element; QUEUE_DATA recovers the
 * element from its link. Removal is O(1) and needs no list pointer. */
#ifndef TKV_QUEUE_H
#define TKV_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct queue {
        struct queue *next;
        struct queue *prev;
};

#define QUEUE_DATA(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

#define QUEUE_FOREACH(q, h) for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

static inline void queue_init(struct queue *q)
{
        q->next = q;
        q->prev = q;
}

static inline bool queue_empty(const struct queue *q)
{
        return q->next == q;
}

static inline struct queue *queue_head(const struct queue *q)
{
        return q->next;
}

static inline struct queue *queue_tail(const struct queue *q)
{
        return q->prev;
}

static inline void queue_push_tail(struct queue *h, struct queue *q)
{
        q->next = h;
        q->prev = h->prev;
        q->prev->next = q;
        h->prev = q;
}

static inline void queue_push_head(struct queue *h, struct queue *q)
{
        q->next = h->next;
        q->prev = h;
        q->next->prev = q;
        h->next = q;
}

/* Unlink q and leave it as an empty list, so a second remove is harmless. */
static inline void queue_remove(struct queue *q)
{
        q->prev->next = q->next;
        q->next->prev = q->prev;
        queue_init(q);
}

/* Move every element of src to the tail of dst; src becomes empty. */
static inline void queue_move(struct queue *dst, struct queue *src)
{
        if (queue_empty(src)) {
                return;
        }
        src->next->prev = dst->prev;
        dst->prev->next = src->next;
        src->prev->next = dst;
        dst->prev = src->prev;
        queue_init(src);
}

#endif
