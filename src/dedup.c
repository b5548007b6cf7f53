/* Client sessions (see dedup.h). A hash table of sessions by client id, two
 * LRU lists by last write (probation and established; the log order, so
 * every replica evicts the same session), and per session a ring of the
 * results of its last writes. */
#include "dedup.h"

#include <string.h>

#include "err.h"
#include "heap.h"
#include "queue.h"
#include "siphash.h"

struct dedup_slot {
        uint64_t seq;
        uint64_t payload_hash;
        uint64_t index;
        uint64_t current_version;
        int32_t status;
        uint64_t ts; /* the write's timestamp, for a duplicate's answer; 0 when restored
                        from a snapshot (the snapshot form has no room for it) */
};

struct dedup_session {
        uint64_t client;
        bool established;           /* in d->established (two writes or more) */
        uint64_t floor;             /* every seq <= floor not in the ring is forgotten */
        uint64_t max_seq;           /* highest seq recorded */
        struct dedup_session *next; /* hash chain */
        struct queue lru;           /* in its list, least recently written first */
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
        unsigned established_max; /* 3/4 of sessions_max */
        uint64_t bytes_max;
        uint64_t bytes;   /* dedup_session_bytes summed: deterministic, unlike cap */
        uint64_t dropped; /* sessions dropped so far (replicated state) */
        uint64_t n_established;
        struct queue probation;      /* sessions with one write */
        struct queue established;    /* sessions with two or more */
        struct siphash_key hash_key; /* random per table: clients cannot aim at one bucket */
};

#define DEDUP_SLOTS_MIN     4
#define DEDUP_SESSION_BYTES 32 /* in the snapshot form, below */
#define DEDUP_SLOT_BYTES    40

/* Client ids are chosen by clients: a fixed or invertible mix of them would
 * let a client pick ids that all share a bucket. */
static uint64_t dedup_bucket(const struct dedup *d, uint64_t client)
{
        uint8_t id[8];
        put_le64(id, client);
        return siphash13(&d->hash_key, id, sizeof id) & d->mask;
}

int dedup_create(struct dedup **out, unsigned window, unsigned sessions_max, uint64_t bytes_max)
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
        d->established_max = d->sessions_max - d->sessions_max / 4;
        d->bytes_max = bytes_max;
        queue_init(&d->probation);
        queue_init(&d->established);
        siphash_key_random(&d->hash_key);
        *out = d;
        return 0;
}

static void dedup_session_free(struct dedup_session *s)
{
        tkv_free(s->slots);
        tkv_free(s);
}

static void dedup_free_list(struct queue *list)
{
        while (!queue_empty(list)) {
                struct dedup_session *s = QUEUE_DATA(queue_head(list), struct dedup_session, lru);
                queue_remove(&s->lru);
                dedup_session_free(s);
        }
}

void dedup_destroy(struct dedup *d)
{
        if (d == NULL) {
                return;
        }
        dedup_free_list(&d->probation);
        dedup_free_list(&d->established);
        tkv_free(d->buckets);
        tkv_free(d);
}

uint64_t dedup_sessions(const struct dedup *d)
{
        return d->n;
}

uint64_t dedup_bytes(const struct dedup *d)
{
        return d->bytes;
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
        if (slot->ts != 0) {
                /* The first attempt's place in the order of writes, not
                 * the duplicate entry's (which only closes the partition). */
                res->ts = slot->ts;
        }
        return DEDUP_DUPLICATE;
}

/* What a session counts against bytes_max: its encoded size (snapshot
 * form), which every replica computes alike; its ring's capacity is not (a
 * restored ring is sized to what it holds). The heap holds at most about
 * twice this (a ring doubles as it grows). */
static uint64_t dedup_session_bytes(const struct dedup_session *s)
{
        return DEDUP_SESSION_BYTES + (uint64_t)s->n * DEDUP_SLOT_BYTES;
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
        d->bytes -= dedup_session_bytes(s);
        if (s->established) {
                d->n_established--;
        }
}

/* Which session goes when room is needed: the least recently written of
 * those with one write, and of the established only when there are none.
 * A flood of new client ids (one write each) so cycles through probation
 * and never reaches an established client's session. Never `keep`. */
static void dedup_drop_one(struct dedup *d, const struct dedup_session *keep)
{
        struct queue *lists[2] = {&d->probation, &d->established};
        for (int i = 0; i < 2; i++) {
                struct queue *q;
                QUEUE_FOREACH(q, lists[i])
                {
                        struct dedup_session *s = QUEUE_DATA(q, struct dedup_session, lru);
                        if (s != keep) {
                                dedup_unlink(d, s);
                                dedup_session_free(s);
                                d->dropped++;
                                return;
                        }
                }
        }
}

/* Put s at the tail of its list: established if it has written before,
 * keeping at most established_max established (the oldest of them go back
 * to probation, where their next write finds them). */
static void dedup_touch(struct dedup *d, struct dedup_session *s, bool established)
{
        established = established && d->established_max > 0;
        queue_remove(&s->lru);
        if (established != s->established) {
                s->established = established;
                d->n_established += established ? 1 : (uint64_t)-1;
        }
        queue_push_tail(established ? &d->established : &d->probation, &s->lru);
        while (d->n_established > d->established_max) {
                struct dedup_session *old =
                    QUEUE_DATA(queue_head(&d->established), struct dedup_session, lru);
                queue_remove(&old->lru);
                old->established = false;
                d->n_established--;
                queue_push_tail(&d->probation, &old->lru);
        }
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

/* A new session for client (on probation), dropping one when the table is
 * full (dedup_drop_one). */
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
        /* Never more slots than the window: a ring holds at most cap
         * results, and a snapshot holding more than the window is corrupt. */
        s->cap = d->window < DEDUP_SLOTS_MIN ? d->window : DEDUP_SLOTS_MIN;
        s->slots = tkv_calloc(s->cap, sizeof *s->slots);
        if (s->slots == NULL) {
                tkv_free(s);
                return NULL;
        }
        s->client = client;
        if (d->n >= d->sessions_max) {
                dedup_drop_one(d, NULL);
        }
        k = dedup_bucket(d, client);
        s->next = d->buckets[k];
        d->buckets[k] = s;
        queue_push_tail(&d->probation, &s->lru);
        d->n++;
        d->bytes += dedup_session_bytes(s);
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

/* Append a result to s's ring (room was made), forgetting the oldest at
 * the window. */
static void dedup_ring_push(struct dedup *d, struct dedup_session *s, const struct dedup_slot *in)
{
        if (s->n == s->cap) {
                if (s->slots[s->head].seq > s->floor) {
                        s->floor = s->slots[s->head].seq;
                }
                s->head = (s->head + 1) % s->cap;
                s->n--;
                d->bytes -= DEDUP_SLOT_BYTES;
        }
        s->slots[(s->head + s->n) % s->cap] = *in;
        s->n++;
        d->bytes += DEDUP_SLOT_BYTES;
        if (in->seq > s->max_seq) {
                s->max_seq = in->seq;
        }
}

void dedup_record(struct dedup *d, uint64_t client, uint64_t seq, uint64_t payload_hash,
                  const struct command_result *res)
{
        struct dedup_session *s = dedup_find(d, client);
        struct dedup_slot slot = {seq,         payload_hash, res->index, res->current_version,
                                  res->status, res->ts};

        bool wrote_before = s->n > 0;

        dedup_ring_push(d, s, &slot);
        dedup_touch(d, s, wrote_before);
        while (d->bytes > d->bytes_max && d->n > 1) {
                dedup_drop_one(d, s);
        }
}

/* ---- Snapshot form: u64 sessions dropped so far, u64 count, then per
 * session, probation's then the established, least recent first in each:
 * client, floor, max_seq (u64), n (u32), flags (u32: 1 = established), n
 * slots of seq, payload_hash, index, current_version (u64), status (u32),
 * 4 bytes 0. Snapshots from before the two lists have flags 0. */

#define DEDUP_FLAG_ESTABLISHED 1u

size_t dedup_encoded_bytes(const struct dedup *d)
{
        return 16 + d->bytes;
}

static uint8_t *dedup_encode_list(const struct queue *list, uint8_t *out)
{
        struct queue *q;
        QUEUE_FOREACH(q, list)
        {
                const struct dedup_session *s = QUEUE_DATA(q, struct dedup_session, lru);
                put_le64(out, s->client);
                put_le64(out + 8, s->floor);
                put_le64(out + 16, s->max_seq);
                put_le32(out + 24, s->n);
                put_le32(out + 28, s->established ? DEDUP_FLAG_ESTABLISHED : 0);
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
        return out;
}

void dedup_encode(const struct dedup *d, uint8_t *out)
{
        put_le64(out, d->dropped);
        put_le64(out + 8, d->n);
        out = dedup_encode_list(&d->probation, out + 16);
        dedup_encode_list(&d->established, out);
}

static int dedup_decode_session(struct dedup *d, struct cursor *c)
{
        uint64_t client, floor, max_seq, word, v;
        uint32_t n, flags;
        struct dedup_session *s;
        int rv;

        if ((rv = cursor_u64(c, &client)) != 0 || (rv = cursor_u64(c, &floor)) != 0 ||
            (rv = cursor_u64(c, &max_seq)) != 0 || (rv = cursor_u64(c, &word)) != 0) {
                return rv;
        }
        n = (uint32_t)word;
        flags = (uint32_t)(word >> 32);
        if (n > d->window || (flags & ~DEDUP_FLAG_ESTABLISHED) != 0 ||
            dedup_find(d, client) != NULL) {
                return TKV_ECORRUPT;
        }
        s = dedup_add(d, client);
        if (s == NULL) {
                return TKV_ENOMEM;
        }
        s->floor = floor;
        for (uint32_t i = 0; i < n; i++) {
                struct dedup_slot slot = {0};
                if ((rv = dedup_ring_room(d, s)) != 0) {
                        return rv;
                }
                if ((rv = cursor_u64(c, &slot.seq)) != 0 ||
                    (rv = cursor_u64(c, &slot.payload_hash)) != 0 ||
                    (rv = cursor_u64(c, &slot.index)) != 0 ||
                    (rv = cursor_u64(c, &slot.current_version)) != 0 ||
                    (rv = cursor_u64(c, &v)) != 0) {
                        return rv;
                }
                slot.status = (int32_t)(uint32_t)v;
                dedup_ring_push(d, s, &slot);
        }
        s->max_seq = max_seq; /* the ring only raises it */
        dedup_touch(d, s, (flags & DEDUP_FLAG_ESTABLISHED) != 0);
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
        /* A table restored under a smaller bytes_max sheds what it must,
         * the same way on every replica. */
        while (rv == 0 && d->bytes > d->bytes_max && d->n > 1) {
                dedup_drop_one(d, NULL);
        }
        /* Sessions the decoding itself dropped count too. */
        d->dropped += dropped;
        return rv;
}
