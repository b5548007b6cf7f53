/* A FIFO of change records (oldest first) and a map from each key to its
 * newest record; a key's records are linked newest to oldest, so a read at
 * a past timestamp walks only that key's changes inside the window.
 *
 * Memory: a record is 80 bytes and pins the entry it replaced (counted in
 * bytes_max, since the table no longer holds it); the entry it inserted is
 * the table's until the next change of the key pins it as that change's
 * "before". The map has at most one slot per record. */
#include "changes.h"

#include <string.h>

#include "err.h"
#include "heap.h"
#include "hlc.h"
#include "siphash.h"

#define CHANGES_MAP_BITS_MIN 4

struct change {
        struct change *newer;             /* FIFO: the partition's next change */
        struct change *older;             /* FIFO: its previous one (changes_since) */
        struct change *key_older;         /* the key's previous change in the window */
        struct change *key_newer;         /* the key's next one; NULL: the newest (in the map) */
        struct change *bucket_next;       /* map chain (newest records only) */
        const struct store_entry *before; /* pinned; NULL: the key was absent */
        const struct store_entry *after;  /* pinned; NULL: deleted */
        uint64_t index;
        uint64_t ts;
        uint64_t hash;
        uint64_t seq; /* its place among every change ever recorded here */
};

struct changes {
        struct changes_params params;
        struct change *oldest;
        struct change *newest;
        uint64_t count;
        uint64_t bytes;
        uint64_t start_ts;
        uint64_t start_index;    /* every change at a higher index is kept */
        uint64_t next_seq;       /* the next change's seq */
        struct change **buckets; /* 1 << bits chains of newest records */
        unsigned bits;
        uint64_t keys; /* records in the map */
        struct siphash_key hash_key;
};

static const struct store_entry *change_some_entry(const struct change *r)
{
        return r->after != NULL ? r->after : r->before;
}

static uint64_t change_bytes(const struct change *r)
{
        return sizeof *r + (r->before != NULL ? store_entry_size(r->before) : 0);
}

static bool change_is_key(const struct change *r, uint64_t hash, const void *key, uint32_t key_len)
{
        uint32_t len;
        const uint8_t *k;

        if (r->hash != hash) {
                return false;
        }
        k = store_entry_key(change_some_entry(r), &len);
        return len == key_len && memcmp(k, key, key_len) == 0;
}

/* The link that points at key's newest record, or at the chain's end. */
static struct change **changes_find_link(const struct changes *c, uint64_t hash, const void *key,
                                         uint32_t key_len)
{
        struct change **link = &c->buckets[hash & ((1ull << c->bits) - 1)];

        while (*link != NULL && !change_is_key(*link, hash, key, key_len)) {
                link = &(*link)->bucket_next;
        }
        return link;
}

static const struct change *changes_newest_of(const struct changes *c, const void *key,
                                              uint32_t key_len)
{
        if (c->count == 0) {
                return NULL;
        }
        return *changes_find_link(c, siphash13(&c->hash_key, key, key_len), key, key_len);
}

/* Double the map when it holds more keys than buckets. A failed
 * allocation keeps the old map: chains grow longer, nothing breaks. */
static void changes_map_grow(struct changes *c)
{
        unsigned bits = c->bits + 1;
        struct change **buckets;

        if (c->keys <= (1ull << c->bits)) {
                return;
        }
        buckets = tkv_calloc(1ull << bits, sizeof *buckets);
        if (buckets == NULL) {
                return;
        }
        for (uint64_t i = 0; i < (1ull << c->bits); i++) {
                struct change *r = c->buckets[i];
                while (r != NULL) {
                        struct change *next = r->bucket_next;
                        struct change **head = &buckets[r->hash & ((1ull << bits) - 1)];
                        r->bucket_next = *head;
                        *head = r;
                        r = next;
                }
        }
        tkv_free(c->buckets);
        c->buckets = buckets;
        c->bits = bits;
}

int changes_create(struct changes **out, const struct changes_params *params, uint64_t start_ts)
{
        struct changes *c = tkv_calloc(1, sizeof *c);

        *out = NULL;
        if (c == NULL) {
                return TKV_ENOMEM;
        }
        c->buckets = tkv_calloc(1ull << CHANGES_MAP_BITS_MIN, sizeof *c->buckets);
        if (c->buckets == NULL) {
                tkv_free(c);
                return TKV_ENOMEM;
        }
        c->bits = CHANGES_MAP_BITS_MIN;
        c->params = *params;
        c->start_ts = start_ts;
        siphash_key_random(&c->hash_key);
        *out = c;
        return 0;
}

/* Drop the oldest record: the window now starts at its timestamp. */
static void changes_drop_oldest(struct changes *c, struct store *s)
{
        struct change *r = c->oldest;

        c->oldest = r->newer;
        if (c->oldest == NULL) {
                c->newest = NULL;
        } else {
                c->oldest->older = NULL;
        }
        if (r->key_newer != NULL) {
                r->key_newer->key_older = NULL; /* r was the key's oldest */
        } else {
                uint32_t len;
                const uint8_t *key = store_entry_key(change_some_entry(r), &len);
                struct change **link = changes_find_link(c, r->hash, key, len);
                *link = r->bucket_next;
                c->keys--;
        }
        if (r->ts > c->start_ts) {
                c->start_ts = r->ts;
        }
        if (r->index > c->start_index) {
                c->start_index = r->index;
        }
        c->count--;
        c->bytes -= change_bytes(r);
        if (r->before != NULL) {
                store_entry_unpin(s, r->before);
        }
        if (r->after != NULL) {
                store_entry_unpin(s, r->after);
        }
        tkv_free(r);
}

void changes_reset(struct changes *c, struct store *s, uint64_t start_ts, uint64_t start_index)
{
        while (c->oldest != NULL) {
                changes_drop_oldest(c, s);
        }
        c->start_ts = start_ts;
        c->start_index = start_index;
}

void changes_destroy(struct changes *c, struct store *s)
{
        if (c == NULL) {
                return;
        }
        changes_reset(c, s, 0, 0);
        tkv_free(c->buckets);
        tkv_free(c);
}

static bool changes_over_bounds(const struct changes *c)
{
        return c->count > c->params.entries_max || c->bytes > c->params.bytes_max ||
               hlc_ms(c->newest->ts) - hlc_ms(c->oldest->ts) > c->params.retain_ms;
}

/* Make r the newest record of its key: it replaces the previous newest in
 * the map and links to it. */
static void changes_link_key(struct changes *c, struct change *r, const void *key, uint32_t key_len)
{
        struct change **link = changes_find_link(c, r->hash, key, key_len);
        struct change *prev = *link;

        if (prev != NULL) {
                r->key_older = prev;
                prev->key_newer = r;
                r->bucket_next = prev->bucket_next;
                *link = r;
                return;
        }
        r->bucket_next = c->buckets[r->hash & ((1ull << c->bits) - 1)];
        c->buckets[r->hash & ((1ull << c->bits) - 1)] = r;
        c->keys++;
        changes_map_grow(c);
}

int changes_record(struct changes *c, struct store *s, const struct store_entry *before,
                   const struct store_entry *after, uint64_t index, uint64_t ts)
{
        struct change *r;
        const uint8_t *key;
        uint32_t key_len;

        c->next_seq++; /* a change dropped at once still took its seq */
        if (c->params.entries_max == 0) {
                c->start_ts = ts; /* nothing is kept: no past is known */
                c->start_index = index;
                return 0;
        }
        r = tkv_calloc(1, sizeof *r);
        if (r == NULL) {
                changes_reset(c, s, ts, index);
                return TKV_ENOMEM;
        }
        r->seq = c->next_seq - 1;
        r->before = before;
        r->after = after;
        r->index = index;
        r->ts = ts;
        key = store_entry_key(change_some_entry(r), &key_len);
        r->hash = siphash13(&c->hash_key, key, key_len);
        if (before != NULL) {
                store_entry_pin(before);
        }
        if (after != NULL) {
                store_entry_pin(after);
        }
        changes_link_key(c, r, key, key_len);
        r->older = c->newest;
        if (c->newest != NULL) {
                c->newest->newer = r;
        } else {
                c->oldest = r;
        }
        c->newest = r;
        c->count++;
        c->bytes += change_bytes(r);
        while (c->oldest != NULL && changes_over_bounds(c)) {
                changes_drop_oldest(c, s);
        }
        return 0;
}

int changes_at(const struct changes *c, const struct store_entry *cur, const void *key,
               uint32_t key_len, uint64_t ts, const struct store_entry **e, uint64_t *deleted_index)
{
        const struct change *r, *later = NULL;

        *e = NULL;
        *deleted_index = 0;
        if (ts < c->start_ts) {
                return TKV_ENOTFOUND;
        }
        /* Every change stamped above start_ts is here: walk the key's back
         * to the newest one at or below ts. */
        for (r = changes_newest_of(c, key, key_len); r != NULL && r->ts > ts; r = r->key_older) {
                later = r;
        }
        if (r != NULL) {
                *e = r->after;
                *deleted_index = r->after == NULL ? r->index : 0;
        } else if (later != NULL) {
                *e = later->before; /* what the key was before its first change after ts */
        } else {
                *e = cur; /* no change since the window began */
        }
        return 0;
}

void changes_since(const struct changes *c, uint64_t ts, changes_since_cb cb, void *arg)
{
        /* Newest first, back to ts only: the records are in timestamp
         * order (the log's), so the walk costs the changes since ts. */
        for (const struct change *r = c->newest; r != NULL && r->ts > ts; r = r->older) {
                const struct change *at = r, *later = NULL;
                const uint8_t *key;
                uint32_t len;

                if (r->key_newer != NULL) {
                        continue; /* not its key's newest change */
                }
                while (at != NULL && at->ts > ts) {
                        later = at;
                        at = at->key_older;
                }
                key = store_entry_key(change_some_entry(r), &len);
                cb(arg, key, len, at != NULL ? at->after : later->before);
        }
}

uint64_t changes_tombstone(const struct changes *c, const void *key, uint32_t key_len)
{
        const struct change *r = changes_newest_of(c, key, key_len);
        return r != NULL && r->after == NULL ? r->index : 0;
}

uint64_t changes_start_ts(const struct changes *c)
{
        return c->start_ts;
}

uint64_t changes_count(const struct changes *c)
{
        return c->count;
}

uint64_t changes_bytes(const struct changes *c)
{
        return c->bytes;
}

uint64_t changes_oldest_index(const struct changes *c)
{
        return c->oldest != NULL ? c->oldest->index : 0;
}

uint64_t changes_start_index(const struct changes *c)
{
        return c->start_index;
}

uint64_t changes_next_seq(const struct changes *c)
{
        return c->next_seq;
}

uint64_t changes_first_seq(const struct changes *c)
{
        return c->oldest != NULL ? c->oldest->seq : c->next_seq;
}

const struct change *changes_seek(const struct changes *c, const struct change *hint,
                                  uint64_t hint_seq, uint64_t seq)
{
        const struct change *r;

        if (seq < changes_first_seq(c) || seq >= c->next_seq) {
                return NULL;
        }
        r = hint != NULL && hint_seq >= changes_first_seq(c) && hint_seq <= seq ? hint : c->oldest;
        while (r->seq < seq) {
                r = r->newer;
        }
        return r;
}

const struct change *changes_next(const struct change *r)
{
        return r->newer;
}

void changes_view(const struct change *r, struct changes_view *v)
{
        v->seq = r->seq;
        v->index = r->index;
        v->ts = r->ts;
        v->hash = r->hash;
        v->after = r->after;
        v->key = store_entry_key(change_some_entry(r), &v->key_len);
}

uint64_t changes_key_hash(const struct changes *c, const void *key, uint32_t key_len)
{
        return siphash13(&c->hash_key, key, key_len);
}
