/* How fresh were the weak reads, in fact? (PBS, Bailis et al., VLDB'12.)
 *
 * A replica serves a read below LINEARIZABLE from what it has applied; the
 * log it applies later tells whether that was the newest version: a write
 * of the same key that it had not applied when it served the read, but
 * that was stamped (hlc.h: the leader's wall clock when it proposed the
 * write) before the read was served, was missed. Per partition, a sample
 * of the reads served here is remembered for window_ms; writes applied
 * meanwhile mark the reads they show stale, and a read leaves the sample as
 * fresh or stale (with how many versions and how many ms it was behind:
 * from the first missed write's stamp to the read).
 *
 * A write proposed but not committed yet when the read was served counts as
 * missed too, so the fresh share is a lower bound. The stamps are the
 * leader's wall clock, the serve time this node's: across hosts their
 * offset moves the ms figures by as much. A write applied after the read
 * left the sample (window_ms later, or when its sample slot was needed) is
 * not seen: the window must exceed how far replicas lag.
 *
 * Bounded: at most reads_max reads per partition at a time; while the
 * sample is full of reads younger than window_ms, new reads are not
 * sampled. Loop thread only. */
#ifndef TKV_FRESH_H
#define TKV_FRESH_H

#include <stdbool.h>
#include <stdint.h>

#define FRESH_LEVELS          6
#define FRESH_MS_BUCKETS      6 /* behind by <= 1, 10, 100, 1000, 10000 ms, more */
#define FRESH_VERSION_BUCKETS 4 /* behind by 1, 2-3, 4-7, 8 or more versions */

struct fresh_counters {
        uint64_t fresh; /* sampled reads that missed no write */
        uint64_t stale; /* ... that missed at least one */
        uint64_t stale_ms[FRESH_MS_BUCKETS];
        uint64_t stale_versions[FRESH_VERSION_BUCKETS];
};

struct fresh_obs;

struct fresh {
        struct fresh_obs *ring; /* reads_max slots, oldest at head */
        uint32_t *buckets;      /* key hash -> first slot of its chain */
        unsigned cap;
        unsigned n_buckets; /* a power of 2, >= 2 * cap */
        unsigned head;
        unsigned n;
        uint64_t window_ms;
        uint64_t skipped; /* reads not sampled: the sample was full */
        struct fresh_counters counters[FRESH_LEVELS];
};

/* reads_max 0 turns it off (nothing allocated, every call a no-op).
 * TKV_ENOMEM on failure. */
int fresh_init(struct fresh *f, unsigned reads_max, uint64_t window_ms);
void fresh_close(struct fresh *f);

/* A read at level of the key with key_hash was served at wall-clock
 * now_ms from a replica that had applied index applied. */
void fresh_read(struct fresh *f, unsigned level, uint64_t key_hash, uint64_t applied,
                uint64_t now_ms);

/* A write of the key with key_hash, stamped ts (hlc.h), applied at index. */
void fresh_write(struct fresh *f, uint64_t key_hash, uint64_t index, uint64_t ts);

/* Count every sampled read older than window_ms at now_ms. */
void fresh_expire(struct fresh *f, uint64_t now_ms);

/* Whether any read is sampled (callers skip hashing keys otherwise). */
static inline bool fresh_watching(const struct fresh *f)
{
        return f->n > 0;
}

#endif
