#include "fresh.h"

#include "err.h"
#include "heap.h"
#include "hlc.h"

#define FRESH_NONE UINT32_MAX

struct fresh_obs {
        uint64_t key_hash;
        uint64_t served_ms;
        uint64_t applied;         /* writes at or below were visible to the read */
        uint64_t first_missed_ms; /* stamp of the first write it missed */
        uint32_t missed;          /* writes it missed */
        uint32_t next;            /* next slot in its bucket's chain */
        uint8_t level;
};

int fresh_init(struct fresh *f, unsigned reads_max, uint64_t window_ms)
{
        *f = (struct fresh){0};
        f->window_ms = window_ms;
        if (reads_max == 0) {
                return 0;
        }
        f->n_buckets = 2;
        while (f->n_buckets < 2 * reads_max) {
                f->n_buckets *= 2;
        }
        f->ring = tkv_calloc(reads_max, sizeof *f->ring);
        f->buckets = tkv_malloc(f->n_buckets * sizeof *f->buckets);
        if (f->ring == NULL || f->buckets == NULL) {
                fresh_close(f);
                return TKV_ENOMEM;
        }
        for (unsigned i = 0; i < f->n_buckets; i++) {
                f->buckets[i] = FRESH_NONE;
        }
        f->cap = reads_max;
        return 0;
}

void fresh_close(struct fresh *f)
{
        tkv_free(f->ring);
        tkv_free(f->buckets);
        f->ring = NULL;
        f->buckets = NULL;
        f->cap = f->n = 0;
}

static unsigned fresh_bucket(const struct fresh *f, uint64_t key_hash)
{
        return (unsigned)(key_hash >> 7) & (f->n_buckets - 1);
}

static unsigned fresh_ms_bucket(uint64_t ms)
{
        unsigned b = 0;
        for (uint64_t bound = 1; b < FRESH_MS_BUCKETS - 1 && ms > bound; bound *= 10) {
                b++;
        }
        return b;
}

static unsigned fresh_version_bucket(uint32_t missed)
{
        return missed >= 8 ? 3 : missed >= 4 ? 2 : missed >= 2 ? 1 : 0;
}

/* Count the oldest sampled read and drop it from its chain. */
static void fresh_pop(struct fresh *f)
{
        unsigned slot = f->head;
        struct fresh_obs *o = &f->ring[slot];
        struct fresh_counters *c = &f->counters[o->level];
        uint32_t *link = &f->buckets[fresh_bucket(f, o->key_hash)];

        if (o->missed == 0) {
                c->fresh++;
        } else {
                c->stale++;
                c->stale_ms[fresh_ms_bucket(o->served_ms - o->first_missed_ms)]++;
                c->stale_versions[fresh_version_bucket(o->missed)]++;
        }
        while (*link != slot) {
                link = &f->ring[*link].next;
        }
        *link = o->next;
        f->head = (f->head + 1) % f->cap;
        f->n--;
}

void fresh_expire(struct fresh *f, uint64_t now_ms)
{
        while (f->n > 0 && f->ring[f->head].served_ms + f->window_ms <= now_ms) {
                fresh_pop(f);
        }
}

void fresh_read(struct fresh *f, unsigned level, uint64_t key_hash, uint64_t applied,
                uint64_t now_ms)
{
        unsigned slot, b;
        struct fresh_obs *o;

        if (f->cap == 0 || level >= FRESH_LEVELS) {
                return;
        }
        fresh_expire(f, now_ms);
        if (f->n == f->cap) {
                f->skipped++;
                return;
        }
        slot = (f->head + f->n) % f->cap;
        b = fresh_bucket(f, key_hash);
        o = &f->ring[slot];
        o->key_hash = key_hash;
        o->served_ms = now_ms;
        o->applied = applied;
        o->first_missed_ms = 0;
        o->missed = 0;
        o->level = (uint8_t)level;
        o->next = f->buckets[b];
        f->buckets[b] = slot;
        f->n++;
}

void fresh_write(struct fresh *f, uint64_t key_hash, uint64_t index, uint64_t ts)
{
        uint64_t ts_ms = hlc_ms(ts);

        if (f->n == 0) {
                return;
        }
        for (uint32_t s = f->buckets[fresh_bucket(f, key_hash)]; s != FRESH_NONE;
             s = f->ring[s].next) {
                struct fresh_obs *o = &f->ring[s];
                if (o->key_hash != key_hash || index <= o->applied || ts_ms >= o->served_ms) {
                        continue; /* another key, visible to the read, or stamped after it */
                }
                if (o->missed++ == 0) {
                        o->first_missed_ms = ts_ms; /* the log applies the oldest first */
                }
        }
}
