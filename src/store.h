/* The in-memory key-value table of one partition.
 *
 * A chained hash table with incremental rehashing (the table doubles or
 * halves a few buckets per write, never all at once, so a million-key
 * partition does not stall the loop). Entries are immutable once inserted:
 * a write replaces the entry object, and the old one is released when its
 * reference count drops to zero. That lets a snapshot pin the current set
 * of entries cheaply on the loop (store_freeze) and serialize them on a
 * threadpool thread while the loop keeps writing.
 *
 * Only the loop thread calls these functions. A frozen set's entries may be
 * read (key, value, indexes: never refs or next) from another thread until
 * store_unfreeze() is called on the loop. */
#ifndef TKV_STORE_H
#define TKV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_entry {
        struct store_entry *next; /* bucket chain (loop thread only) */
        uint64_t create_index;    /* Raft index of the write that created the key */
        uint64_t mod_index;       /* Raft index of the last write: the key's version */
        uint16_t refs;            /* table + frozen snapshot (loop thread only) */
        uint16_t deps_len;        /* bytes of causal dependencies (session.h) */
        uint32_t key_len;         /* bytes */
        uint32_t value_len;       /* bytes stored */
        uint32_t value_raw_len;   /* bytes after decompression; > value_len iff LZ4 */
        uint8_t data[];           /* key, then value, then dependencies */
};

/* What a write stores under a key (all borrowed; copied by the store). */
struct store_value {
        const void *data;
        uint32_t len;     /* bytes stored */
        uint32_t raw_len; /* bytes after decompression; > len iff LZ4 */
        const void *deps; /* encoded dependency entries, or NULL */
        uint16_t deps_len;
};

static inline const uint8_t *store_entry_key(const struct store_entry *e)
{
        return e->data;
}
static inline const uint8_t *store_entry_value(const struct store_entry *e)
{
        return e->data + e->key_len;
}
static inline bool store_entry_compressed(const struct store_entry *e)
{
        return e->value_len != e->value_raw_len;
}
static inline const uint8_t *store_entry_deps(const struct store_entry *e)
{
        return e->data + e->key_len + e->value_len;
}

struct store;

/* A pinned, consistent set of entries (see store_freeze). */
struct store_frozen {
        struct store_entry **entries; /* owned array of pinned entries */
        size_t n;
};

/* Create an empty table. TKV_ENOMEM on failure (*out = NULL). */
int store_create(struct store **out);
/* Release the table and every entry it references; safe on NULL. Frozen
 * sets must have been unfrozen first. */
void store_destroy(struct store *s);

uint64_t store_count(const struct store *s);
/* Bytes of keys and values held (as stored), for status and metrics. */
uint64_t store_data_bytes(const struct store *s);

/* Order-independent digest of every entry (key, value, indexes): equal on
 * replicas holding equal tables. */
uint64_t store_digest(const struct store *s);

/* Entry for key, or NULL. hash is key_hash(key). The entry is borrowed until
 * the next write to the table. */
const struct store_entry *store_get(const struct store *s, uint64_t hash, const void *key,
                                    uint32_t key_len);

/* Insert or replace key with v (copied). A new key gets create_index =
 * index; a replaced key keeps its create_index. Both get mod_index = index.
 * TKV_ENOMEM leaves the table unchanged. */
int store_put(struct store *s, uint64_t hash, const void *key, uint32_t key_len,
              const struct store_value *v, uint64_t index);

/* Size an empty table for n keys at once, so that loading them never
 * rehashes (snapshot restore). A hint: a table in use, or no memory, leaves
 * the table as it is. */
void store_reserve(struct store *s, uint64_t n);

/* Insert an entry with explicit indexes (snapshot restore). */
int store_load(struct store *s, uint64_t hash, const void *key, uint32_t key_len,
               const struct store_value *v, uint64_t create_index, uint64_t mod_index);

/* Remove key. Returns true if it existed. */
bool store_delete(struct store *s, uint64_t hash, const void *key, uint32_t key_len);

/* Remove every entry. */
void store_clear(struct store *s);

/* Pin every current entry into out. TKV_ENOMEM on failure (nothing pinned). */
int store_freeze(struct store *s, struct store_frozen *out);
/* Unpin, freeing entries that were replaced or deleted meanwhile. */
void store_unfreeze(struct store_frozen *f);

#endif
