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
 * Every entry is also in an ordered index of the keys (a skiplist whose
 * links live in the entry itself: store.c says why), so that a scan finds
 * the first key at or after a start in O(log n) and walks on in key order:
 * byte-wise memcmp order, a key before every longer key it is a prefix of.
 *
 * Only the loop thread calls these functions. A frozen set's entries may be
 * read (key, value, indexes: never refs, next or the index links) from
 * another thread until store_unfreeze() is called on the loop. */
#ifndef TKV_STORE_H
#define TKV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One key's entry: 9 fixed bytes, then the key and the rest as LEB128
 * varints (varint.h; one byte each below 128, three for an index below
 * 2^21), so that a lookup finds the key after one varint:
 *
 *   data: varint key_len, key bytes, varint mod_index, varint value_len,
 *         varint (value_raw_len - value_len), varint deps_len, varint
 *         (mod_index - create_index), varint ts, value bytes, dependency
 *         bytes
 *
 * 100-byte values under 12-byte keys with 29 bytes of dependencies take 167
 * bytes (the timestamp takes 9), where a fixed 40-byte header took 192 with
 * malloc's. The fields are read with the functions below. */
struct store_entry {
        struct store_entry *next; /* bucket chain (loop thread only) */
        uint8_t refs;             /* table, frozen sets, change history pins (loop thread only) */
        uint8_t levels;           /* ordered-index links stored just before the entry */
        uint8_t data[];           /* see above */
};

/* What a write stores under a key (all borrowed; copied by the store). */
struct store_value {
        const void *data;
        uint32_t len;     /* bytes stored */
        uint32_t raw_len; /* bytes after decompression; > len iff LZ4, never < len */
        const void *deps; /* encoded dependency entries, or NULL */
        uint16_t deps_len;
        uint64_t ts; /* timestamp of the write (hlc.h); 0 if unknown */
};

/* An entry's fields, decoded; the pointers point into the entry. */
struct store_fields {
        const uint8_t *key;
        uint32_t key_len;       /* bytes */
        const uint8_t *value;   /* as stored */
        uint32_t value_len;     /* bytes stored */
        uint32_t value_raw_len; /* bytes after decompression; > value_len iff LZ4 */
        const uint8_t *deps;    /* causal dependencies (session.h) */
        uint16_t deps_len;      /* bytes */
        uint64_t create_index;  /* Raft index of the write that created the key */
        uint64_t mod_index;     /* Raft index of the last write: the key's version */
        uint64_t ts;            /* timestamp of that write (hlc.h); 0 if unknown */
};

/* Decode e's fields. Reads only bytes that never change once the entry is
 * inserted, so a frozen entry may be decoded off the loop thread. */
void store_entry_fields(const struct store_entry *e, struct store_fields *f);

/* One field each (decoding the lengths before it). */
const uint8_t *store_entry_value(const struct store_entry *e);
const uint8_t *store_entry_deps(const struct store_entry *e);
uint32_t store_entry_value_len(const struct store_entry *e);
uint32_t store_entry_value_raw_len(const struct store_entry *e);
uint16_t store_entry_deps_len(const struct store_entry *e);
uint64_t store_entry_create_index(const struct store_entry *e);
uint64_t store_entry_mod_index(const struct store_entry *e); /* the key's version */
bool store_entry_compressed(const struct store_entry *e);
/* Bytes e takes from the heap. */
size_t store_entry_size(const struct store_entry *e);

struct store;

/* refs is 8 bits: the table's, one per frozen set and at most
 * STORE_PINS_MAX pins by the change history (changes.h: the change that
 * replaced an entry and the one that inserted it). */
#define STORE_PINS_MAX   2
#define STORE_FROZEN_MAX (255 - 1 - STORE_PINS_MAX)

/* A pinned, consistent set of entries (see store_freeze). */
struct store_frozen {
        struct store *store;          /* borrowed: the table they were pinned in */
        struct store_entry **entries; /* owned array of pinned entries */
        size_t n;
};

/* Create an empty table. Its entries live in a slab of its own (slab.h),
 * or are malloc'd one by one under AddressSanitizer. TKV_ENOMEM on failure
 * (*out = NULL). */
int store_create(struct store **out);
/* Release the table and every entry it references; safe on NULL. Frozen
 * sets must have been unfrozen first. */
void store_destroy(struct store *s);

uint64_t store_count(const struct store *s);
/* Bytes of keys and values held (as stored), for status and metrics. */
uint64_t store_data_bytes(const struct store *s);
/* Bytes the entries take from the heap: their slab's blocks, or their
 * sizes when malloc'd. */
uint64_t store_entry_bytes_held(const struct store *s);
/* Entries in the longest chain of either table: what a lookup may walk
 * (tests and diagnostics; it visits every bucket). */
uint64_t store_chain_longest(const struct store *s);

/* Order-independent digest of every entry (key, value, indexes): equal on
 * replicas holding equal tables. */
uint64_t store_digest(const struct store *s);

/* Entry for key, or NULL. The entry is borrowed until the next write to
 * the table. */
const struct store_entry *store_get(const struct store *s, const void *key, uint32_t key_len);

/* Insert or replace key with v (copied). A new key gets create_index =
 * index; a replaced key keeps its create_index, and index must not be
 * below it. Both get mod_index = index. TKV_ENOMEM leaves the table
 * unchanged. */
int store_put(struct store *s, const void *key, uint32_t key_len, const struct store_value *v,
              uint64_t index);

/* Size an empty table for n keys at once, so that loading them never
 * rehashes (snapshot restore). A hint: a table in use, or no memory, leaves
 * the table as it is. */
void store_reserve(struct store *s, uint64_t n);

/* Insert an entry with explicit indexes, create_index <= mod_index
 * (snapshot restore). Keys loaded in key order (as store_freeze pins
 * them) go to the end of the index without a search. */
int store_load(struct store *s, const void *key, uint32_t key_len, const struct store_value *v,
               uint64_t create_index, uint64_t mod_index);

/* The entry of the first key at or after key in key order (key_len 0: the
 * first entry), or NULL past the last. Borrowed until the next write. */
const struct store_entry *store_seek(const struct store *s, const void *key, uint32_t key_len);

/* The entry after e in key order, or NULL. Borrowed until the next write. */
const struct store_entry *store_next(const struct store_entry *e);

/* e's key (borrowed from e); *key_len receives its length. */
const uint8_t *store_entry_key(const struct store_entry *e, uint32_t *key_len);

/* Key order: <0, 0 or >0 as key a sorts before, equal to or after key b
 * (memcmp over the common length, then the shorter first). */
int store_key_cmp(const void *a, uint32_t a_len, const void *b, uint32_t b_len);

/* Remove key. Returns true if it existed. */
bool store_delete(struct store *s, const void *key, uint32_t key_len);

/* Remove every entry. */
void store_clear(struct store *s);

/* Keep e alive after the table lets go of it (the change history keeps
 * replaced versions, changes.h); each pin is undone by one unpin, in the
 * same table. Only the refcount changes: e stays immutable. */
void store_entry_pin(const struct store_entry *e);
void store_entry_unpin(struct store *s, const struct store_entry *e);

/* Pin every current entry into out, in key order (at most STORE_FROZEN_MAX sets at once;
 * each must be unfrozen before the table is destroyed). TKV_ENOMEM on
 * failure (nothing pinned). */
int store_freeze(struct store *s, struct store_frozen *out);
/* Unpin, freeing entries that were replaced or deleted meanwhile. */
void store_unfreeze(struct store_frozen *f);

#endif
