/* Client sessions (see dedup.h). A hash table of sessions by client id, an
 * LRU list by last write (the log order, so every replica evicts the same
 * session), and per session a ring of the results of its last writes. */
#include "dedup.h"

#include <string.h>

#include "err.h"
#include "heap.h"
#include "queue.h"

struct dedup_slot {
        uint64_t seq;
        uint64_t payload_hash;
        uint64_t index;
        uint64_t current_version;
        int32_t status;
};

struct dedup_session {
        uint64_t client;
        uint64_t floor;             /* every seq <= floor not in the ring is forgotten */
        uint64_t max_seq;           /* highest seq recorded */
        struct dedup_session *next; /* hash chain */
        struct queue lru;           /* in d->lru, least recently written first */
        struct dedup_slot *slots;   /* ring of cap slots, n used from head */
        uint32_t cap;
        uint32_t n;
        uint32_t head;
};

struct dedup {
        struct dedup_session **buckets;
        uint64_t mask;
        uint64_t n;
        unsigned window;
        unsigned sessions_max;
        uint64_t dropped; /* sessions dropped so far (replicated state) */
        struct queue lru;
};

#define DEDUP_SLOTS_MIN 4

static uint64_t dedup_bucket(const struct dedup *d, uint64_t client)
{
        return (client * 0x9E3779B97F4A7C15ull) >> 32 & d->mask;
}

int dedup_create(struct dedup **out, unsigned window, unsigned sessions_max)
{
        struct dedup *d = tkv_calloc(1, sizeof *d);
        *out = NULL;
        if (d == NULL) {
                return TKV_ENOMEM;
        }
        d->mask = 63;
        d->buckets = tkv_calloc(d->mask + 1, sizeof *d->buckets);
        if (d->buckets == NULL) {
                tkv_free(d);
                return TKV_ENOMEM;
        }
        d->window = window > 0 ? window : 1;
        d->sessions_max = sessions_max > 0 ? sessions_max : 1;
        queue_init(&d->lru);
        *out = d;
        return 0;
}

static void dedup_session_free(struct dedup_session *s)
{
        tkv_free(s->slots);
        tkv_free(s);
}

void dedup_destroy(struct dedup *d)
{
        if (d == NULL) {
                return;
        }
        while (!queue_empty(&d->lru)) {
                struct dedup_session *s =
                    QUEUE_DATA(queue_head(&d->lru), struct dedup_session, lru);
                queue_remove(&s->lru);
                dedup_session_free(s);
        }
        tkv_free(d->buckets);
        tkv_free(d);
}

uint64_t dedup_sessions(const struct dedup *d)
{
        return d->n;
}

static struct dedup_session *dedup_find(const struct dedup *d, uint64_t client)
{
        struct dedup_session *s = d->buckets[dedup_bucket(d, client)];
        while (s != NULL && s->client != client) {
                s = s->next;
        }
        return s;
}

static const struct dedup_slot *dedup_slot_of(const struct dedup_session *s, uint64_t seq)
{
        for (uint32_t i = 0; i < s->n; i++) {
                const struct dedup_slot *slot = &s->slots[(s->head + i) % s->cap];
                if (slot->seq == seq) {
                        return slot;
                }
        }
        return NULL;
}

enum dedup_outcome dedup_check(const struct dedup *d, uint64_t client, uint64_t seq,
                               uint64_t payload_hash, bool retry, struct command_result *res)
{
        const struct dedup_session *s = dedup_find(d, client);
        const struct dedup_slot *slot;

        if (s == NULL) {
                /* A client we do not know has written nothing here, unless
                 * its session was dropped: only then can a retry's first
                 * attempt have been applied and forgotten. */
                return retry && d->dropped > 0 ? DEDUP_FORGOTTEN : DEDUP_NEW;
        }
        if (seq > s->max_seq) {
                return DEDUP_NEW; /* the common case: seqs grow */
        }
        slot = dedup_slot_of(s, seq);
        if (slot == NULL) {
                return seq <= s->floor ? DEDUP_FORGOTTEN : DEDUP_NEW;
        }
        if (slot->payload_hash != payload_hash) {
                return DEDUP_MISMATCH;
        }
        res->status = slot->status;
        res->index = slot->index;
        res->current_version = slot->current_version;
        return DEDUP_DUPLICATE;
}

static void dedup_unlink(struct dedup *d, struct dedup_session *s)
{
        struct dedup_session **link = &d->buckets[dedup_bucket(d, s->client)];
        while (*link != s) {
                link = &(*link)->next;
        }
        *link = s->next;
        queue_remove(&s->lru);
        d->n--;
}

static int dedup_grow_buckets(struct dedup *d)
{
        uint64_t size = (d->mask + 1) * 2;
        struct dedup_session **b = tkv_calloc(size, sizeof *b);
        struct dedup_session **old = d->buckets;
        uint64_t old_size = d->mask + 1;

        if (b == NULL) {
                return TKV_ENOMEM;
        }
        d->buckets = b;
        d->mask = size - 1;
        for (uint64_t i = 0; i < old_size; i++) {
                while (old[i] != NULL) {
                        struct dedup_session *s = old[i];
                        uint64_t k = dedup_bucket(d, s->client);
                        old[i] = s->next;
                        s->next = b[k];
                        b[k] = s;
                }
        }
        tkv_free(old);
        return 0;
}

/* A new session for client, dropping the least recently written one when
 * the table is full. */
static struct dedup_session *dedup_add(struct dedup *d, uint64_t client)
{
        struct dedup_session *s;
        uint64_t k;

        if (d->n + 1 > d->mask + 1 && dedup_grow_buckets(d) != 0) {
                return NULL;
        }
        s = tkv_calloc(1, sizeof *s);
        if (s == NULL) {
                return NULL;
        }
        s->slots = tkv_calloc(DEDUP_SLOTS_MIN, sizeof *s->slots);
        if (s->slots == NULL) {
                tkv_free(s);
                return NULL;
        }
        s->cap = DEDUP_SLOTS_MIN;
        s->client = client;
        if (d->n >= d->sessions_max) {
                struct dedup_session *old =
                    QUEUE_DATA(queue_head(&d->lru), struct dedup_session, lru);
                dedup_unlink(d, old);
                dedup_session_free(old);
                d->dropped++;
        }
        k = dedup_bucket(d, client);
        s->next = d->buckets[k];
        d->buckets[k] = s;
        queue_push_tail(&d->lru, &s->lru);
        d->n++;
        return s;
}

/* Room for one more slot, unless the ring is at the window (then the
 * oldest slot is overwritten). */
static int dedup_ring_room(struct dedup *d, struct dedup_session *s)
{
        uint32_t cap;
        struct dedup_slot *slots;

        if (s->n < s->cap || s->cap >= d->window) {
                return 0;
        }
        cap = s->cap * 2 > d->window ? d->window : s->cap * 2;
        slots = tkv_calloc(cap, sizeof *slots);
        if (slots == NULL) {
                return TKV_ENOMEM;
        }
        for (uint32_t i = 0; i < s->n; i++) {
                slots[i] = s->slots[(s->head + i) % s->cap];
        }
        tkv_free(s->slots);
        s->slots = slots;
        s->cap = cap;
        s->head = 0;
        return 0;
}

int dedup_reserve(struct dedup *d, uint64_t client)
{
        struct dedup_session *s = dedup_find(d, client);
        if (s == NULL) {
                s = dedup_add(d, client);
                if (s == NULL) {
                        return TKV_ENOMEM;
                }
        }
        return dedup_ring_room(d, s);
}

void dedup_record(struct dedup *d, uint64_t client, uint64_t seq, uint64_t payload_hash,
                  const struct command_result *res)
{
        struct dedup_session *s = dedup_find(d, client);
        struct dedup_slot *slot;

        if (s->n == s->cap) {
                /* At the window: forget the oldest. */
                if (s->slots[s->head].seq > s->floor) {
                        s->floor = s->slots[s->head].seq;
                }
                s->head = (s->head + 1) % s->cap;
                s->n--;
        }
        slot = &s->slots[(s->head + s->n) % s->cap];
        s->n++;
        slot->seq = seq;
        slot->payload_hash = payload_hash;
        slot->status = res->status;
        slot->index = res->index;
        slot->current_version = res->current_version;
        if (seq > s->max_seq) {
                s->max_seq = seq;
        }
        queue_remove(&s->lru);
        queue_push_tail(&d->lru, &s->lru);
}

/* ---- Snapshot form: u64 sessions dropped so far, u64 count, then per
 * session (least recent first):
 * client, floor, max_seq (u64), n (u32), 4 bytes 0, n slots of
 * seq, payload_hash, index, current_version (u64), status (u32), 4 bytes 0. */

#define DEDUP_SESSION_BYTES 32
#define DEDUP_SLOT_BYTES    40

size_t dedup_encoded_bytes(const struct dedup *d)
{
        size_t n = 16;
        struct queue *q;
        QUEUE_FOREACH(q, &d->lru)
        {
                const struct dedup_session *s = QUEUE_DATA(q, struct dedup_session, lru);
                n += DEDUP_SESSION_BYTES + (size_t)s->n * DEDUP_SLOT_BYTES;
        }
        return n;
}

void dedup_encode(const struct dedup *d, uint8_t *out)
{
        struct queue *q;
        put_le64(out, d->dropped);
        put_le64(out + 8, d->n);
        out += 16;
        QUEUE_FOREACH(q, &d->lru)
        {
                const struct dedup_session *s = QUEUE_DATA(q, struct dedup_session, lru);
                put_le64(out, s->client);
                put_le64(out + 8, s->floor);
                put_le64(out + 16, s->max_seq);
                put_le64(out + 24, s->n);
                out += DEDUP_SESSION_BYTES;
                for (uint32_t i = 0; i < s->n; i++) {
                        const struct dedup_slot *slot = &s->slots[(s->head + i) % s->cap];
                        put_le64(out, slot->seq);
                        put_le64(out + 8, slot->payload_hash);
                        put_le64(out + 16, slot->index);
                        put_le64(out + 24, slot->current_version);
                        put_le64(out + 32, (uint32_t)slot->status);
                        out += DEDUP_SLOT_BYTES;
                }
        }
}

static int dedup_decode_session(struct dedup *d, struct cursor *c)
{
        uint64_t client, floor, max_seq, n, v;
        struct dedup_session *s;
        int rv;

        if ((rv = cursor_u64(c, &client)) != 0 || (rv = cursor_u64(c, &floor)) != 0 ||
            (rv = cursor_u64(c, &max_seq)) != 0 || (rv = cursor_u64(c, &n)) != 0) {
                return rv;
        }
        if (n > d->window || dedup_find(d, client) != NULL) {
                return TKV_ECORRUPT;
        }
        s = dedup_add(d, client);
        if (s == NULL) {
                return TKV_ENOMEM;
        }
        s->floor = floor;
        s->max_seq = max_seq;
        for (uint64_t i = 0; i < n; i++) {
                struct command_result res;
                uint64_t seq, hash;
                if ((rv = dedup_ring_room(d, s)) != 0) {
                        return rv;
                }
                if ((rv = cursor_u64(c, &seq)) != 0 || (rv = cursor_u64(c, &hash)) != 0 ||
                    (rv = cursor_u64(c, &res.index)) != 0 ||
                    (rv = cursor_u64(c, &res.current_version)) != 0 ||
                    (rv = cursor_u64(c, &v)) != 0) {
                        return rv;
                }
                res.status = (int32_t)(uint32_t)v;
                dedup_record(d, client, seq, hash, &res);
        }
        s->max_seq = max_seq; /* dedup_record only raises it */
        return 0;
}

int dedup_decode(struct dedup *d, struct cursor *c)
{
        uint64_t dropped, count;
        int rv = cursor_u64(c, &dropped);
        if (rv == 0) {
                rv = cursor_u64(c, &count);
        }
        for (uint64_t i = 0; rv == 0 && i < count; i++) {
                rv = dedup_decode_session(d, c);
        }
        /* Sessions the decoding itself dropped count too. */
        d->dropped += dropped;
        return rv;
}
