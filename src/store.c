/* Chained hash table with incremental rehashing, after redis' dict.c.
 *
 * Two tables: t[0] is the live one; while rehashing, t[1] is the new one
 * and buckets move from t[0] to t[1] a few at a time on every write
 * (store_rehash_step). Lookups look in both. A key's bucket comes from the
 * table's own SipHash key (siphash.h), not from the protocol's key_hash:
 * anyone can compute that one and pick keys that all share a bucket.
 *
 * Entries come from the table's own slab (slab.h): a partition holds
 * millions of them for as long as it lives, and between malloc's other
 * chunks they kept raft's freed log entries from going back to the system.
 * Their layout (store.h) spends 10 fixed bytes and a varint per length and
 * index.
 *
 * The ordered index (scans) is a doubly linked skiplist threaded through
 * the entries: an entry of L levels has, for each level, a link to the
 * next entry and the address of the slot that points at it, stored just
 * before it in the same slab allocation, so the index costs no allocation
 * and no node of its own. With a promotion chance of 1/4 an entry has 4/3
 * levels on average: 22 bytes per key with its level byte (measured: 23
 * MiB more slab for a million keys). A put of a new key searches the list
 * (about 3 keys per level over log4(n) levels, 30 for a million keys, a
 * cache miss each); a put of an existing key and a delete need no search,
 * since the back links say where the entry hangs: the replacement takes
 * the old entry's levels and place. Singly linked, the index took half the
 * bytes, but every overwrite paid the search (3 to 10 us more per write at
 * a million keys on the 2-core test machine, against 1 to 3 us for the
 * hash table alone); a B-tree of entry pointers pays a miss per key
 * compared too, and one with keys inline doubles them. Levels come from
 * the table's own random generator, seeded from its random SipHash key,
 * so clients cannot shape the list. Frozen entries keep stale links,
 * which nothing reads off the loop (store.h). Snapshots pin the entries in
 * key order, so a restore appends each key at the end of the index
 * (store_load's finger) without a search. */
#include "store.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "buffer.h"
#include "err.h"
#include "heap.h"
#include "siphash.h"
#include "slab.h"
#include "varint.h"

#define STORE_BITS_MIN     4
#define STORE_REHASH_STEPS 4  /* buckets moved per write while rehashing */
#define STORE_LEVELS_MAX   16 /* 4^16 keys before the top level crowds */

struct store_table {
        struct store_entry **buckets; /* 1 << bits chains */
        unsigned bits;                /* log2 of the number of buckets; 0 = unallocated */
        uint64_t used;                /* entries in this table */
};

struct store {
        struct store_table t[2];
        uint64_t rehash_idx; /* next t[0] bucket to move; meaningful when rehashing */
        bool rehashing;
        uint64_t data_bytes;         /* key + stored value bytes of live entries */
        uint64_t digest;             /* XOR of store_entry_digest over live entries */
        struct slab *slab;           /* owned: the entries' memory */
        struct siphash_key hash_key; /* random per table: buckets cannot be aimed at */
        unsigned frozen;             /* sets pinned and not yet unfrozen */
        struct store_entry *head[STORE_LEVELS_MAX]; /* ordered index: first entry per level */
        uint64_t rng;                               /* xorshift state for index levels */
        /* store_load's finger: the index's last slot at each level, after
         * load_last, the last key loaded; valid until another write. */
        struct store_entry **load_path[STORE_LEVELS_MAX];
        const struct store_entry *load_last;
        bool load_path_valid;
};

#define STORE_ENTRY_HEAD_BYTES offsetof(struct store_entry, data)

void store_entry_fields(const struct store_entry *e, struct store_fields *f)
{
        const uint8_t *p = e->data;
        uint64_t v;

        p = varint_get_trusted(p, &v);
        f->key_len = (uint32_t)v;
        f->key = p;
        p = varint_get_trusted(p + f->key_len, &f->mod_index);
        p = varint_get_trusted(p, &v);
        f->value_len = (uint32_t)v;
        p = varint_get_trusted(p, &v);
        f->value_raw_len = f->value_len + (uint32_t)v;
        p = varint_get_trusted(p, &v);
        f->deps_len = (uint16_t)v;
        p = varint_get_trusted(p, &v);
        f->create_index = f->mod_index - v;
        p = varint_get_trusted(p, &f->ts);
        f->value = p;
        f->deps = p + f->value_len;
}

const uint8_t *store_entry_value(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.value;
}

const uint8_t *store_entry_deps(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.deps;
}

uint32_t store_entry_value_len(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.value_len;
}

uint32_t store_entry_value_raw_len(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.value_raw_len;
}

uint16_t store_entry_deps_len(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.deps_len;
}

uint64_t store_entry_mod_index(const struct store_entry *e)
{
        uint64_t key_len, mod_index;
        const uint8_t *key = varint_get_trusted(e->data, &key_len);
        (void)varint_get_trusted(key + key_len, &mod_index);
        return mod_index;
}

uint64_t store_entry_create_index(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.create_index;
}

bool store_entry_compressed(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return f.value_len != f.value_raw_len;
}

/* Bytes of an entry's index links per level: the next entry, and the
 * address of the slot that points at the entry. */
#define STORE_LINK_BYTES (2 * sizeof(void *))

/* Bytes of e as allocated (what slab_free needs), its index links first. */
size_t store_entry_size(const struct store_entry *e)
{
        struct store_fields f;
        store_entry_fields(e, &f);
        return (size_t)(f.deps + f.deps_len - (const uint8_t *)e) + e->levels * STORE_LINK_BYTES;
}

/* Where e's allocation starts: its links sit just before it. */
static inline void *store_entry_base(const struct store_entry *e)
{
        return (uint8_t *)(uintptr_t)e - e->levels * STORE_LINK_BYTES;
}

/* The slot of e's link to the next entry at level i (i < e->levels), level
 * 0 nearest the entry. */
static inline struct store_entry **store_entry_link(const struct store_entry *e, unsigned i)
{
        return (struct store_entry **)(uintptr_t)e - 1 - 2 * i;
}

/* The slot holding the address of the slot (a head, or the previous
 * entry's link) that points at e at level i: a put or delete of e finds
 * its place without a search. */
static inline struct store_entry ***store_entry_back(const struct store_entry *e, unsigned i)
{
        return (struct store_entry ***)((struct store_entry **)(uintptr_t)e - 2 - 2 * i);
}

const uint8_t *store_entry_key(const struct store_entry *e, uint32_t *key_len)
{
        uint64_t len;
        const uint8_t *k = varint_get_trusted(e->data, &len);
        *key_len = (uint32_t)len;
        return k;
}

int store_key_cmp(const void *a, uint32_t a_len, const void *b, uint32_t b_len)
{
        uint32_t n = a_len < b_len ? a_len : b_len;
        int c = n > 0 ? memcmp(a, b, n) : 0;
        if (c != 0 || a_len == b_len) {
                return c;
        }
        return a_len < b_len ? -1 : 1;
}

static int store_entry_cmp(const struct store_entry *e, const void *key, uint32_t key_len)
{
        uint32_t len;
        const uint8_t *k = store_entry_key(e, &len);
        return store_key_cmp(k, len, key, key_len);
}

static inline uint64_t store_hash(const struct store *s, const void *key, size_t key_len)
{
        return siphash13(&s->hash_key, key, key_len);
}

static inline uint64_t store_bucket(uint64_t hash, unsigned bits)
{
        return hash >> (64 - bits);
}

static inline uint64_t store_table_size(const struct store_table *t)
{
        return t->bits == 0 ? 0 : (uint64_t)1 << t->bits;
}

uint64_t store_chain_longest(const struct store *s)
{
        uint64_t longest = 0;
        for (int i = 0; i < (s->rehashing ? 2 : 1); i++) {
                for (uint64_t b = 0; b < store_table_size(&s->t[i]); b++) {
                        uint64_t n = 0;
                        for (const struct store_entry *e = s->t[i].buckets[b]; e; e = e->next) {
                                n++;
                        }
                        longest = n > longest ? n : longest;
                }
        }
        return longest;
}

static int store_table_alloc(struct store_table *t, unsigned bits)
{
        t->buckets = tkv_calloc((size_t)1 << bits, sizeof *t->buckets);
        if (t->buckets == NULL) {
                return TKV_ENOMEM;
        }
        t->bits = bits;
        t->used = 0;
        return 0;
}

int store_create(struct store **out)
{
        struct store *s = tkv_calloc(1, sizeof *s);
        *out = NULL;
        if (s == NULL) {
                return TKV_ENOMEM;
        }
        if (slab_create(&s->slab, slab_pooled_default()) != 0 ||
            store_table_alloc(&s->t[0], STORE_BITS_MIN) != 0) {
                slab_destroy(s->slab);
                tkv_free(s);
                return TKV_ENOMEM;
        }
        siphash_key_random(&s->hash_key);
        s->rng = siphash13(&s->hash_key, "levels", 6) | 1; /* xorshift needs a nonzero state */
        *out = s;
        return 0;
}

static void store_entry_unref(struct store *s, struct store_entry *e)
{
        if (--e->refs == 0) {
                slab_free(s->slab, store_entry_base(e), store_entry_size(e));
        }
}

static void store_table_unref_all(struct store *s, struct store_table *t);

void store_entry_pin(const struct store_entry *e)
{
        /* refs is the loop's bookkeeping, not the entry's content. */
        struct store_entry *m = (struct store_entry *)e;
        assert(m->refs < UINT8_MAX);
        m->refs++;
}

void store_entry_unpin(struct store *s, const struct store_entry *e)
{
        store_entry_unref(s, (struct store_entry *)e);
}

static void store_table_release(struct store *s, struct store_table *t)
{
        store_table_unref_all(s, t);
        tkv_free(t->buckets);
        memset(t, 0, sizeof *t);
}

void store_destroy(struct store *s)
{
        if (s == NULL) {
                return;
        }
        assert(s->frozen == 0);
        store_table_release(s, &s->t[0]);
        store_table_release(s, &s->t[1]);
        slab_destroy(s->slab);
        tkv_free(s);
}

uint64_t store_count(const struct store *s)
{
        return s->t[0].used + s->t[1].used;
}

uint64_t store_data_bytes(const struct store *s)
{
        return s->data_bytes;
}

uint64_t store_entry_bytes_held(const struct store *s)
{
        return slab_footprint_bytes(s->slab);
}

/* Hash of everything that makes an entry what it is. XOR-ing these over the
 * table gives an order-independent digest that changes in O(1) per write:
 * replicas at the same applied index have equal digests iff their tables
 * are equal (up to hash collisions). */
static uint64_t store_entry_digest(const struct store_fields *f)
{
        uint8_t head[24];
        XXH64_state_t st;
        put_le64(head, f->create_index);
        put_le64(head + 8, f->mod_index);
        put_le32(head + 16, f->key_len);
        put_le32(head + 20, f->value_raw_len);
        XXH64_reset(&st, 0);
        XXH64_update(&st, head, sizeof head);
        /* The same bytes as when key, value and dependencies were stored
         * back to back: digests do not depend on the layout. */
        XXH64_update(&st, f->key, f->key_len);
        XXH64_update(&st, f->value, (size_t)f->value_len + f->deps_len);
        return XXH64_digest(&st);
}

/* Take e's key and value bytes and its digest out of the totals, or (sign
 * +1) put them in. */
static void store_account(struct store *s, const struct store_entry *e, int sign)
{
        struct store_fields f;
        uint64_t bytes;

        store_entry_fields(e, &f);
        bytes = (uint64_t)f.key_len + f.value_len;
        s->data_bytes = sign > 0 ? s->data_bytes + bytes : s->data_bytes - bytes;
        s->digest ^= store_entry_digest(&f);
}

uint64_t store_digest(const struct store *s)
{
        return s->digest;
}

/* Move a few buckets from t[0] to t[1]; finish the rehash when t[0] is
 * empty. Visits at most 10 empty buckets per moved bucket, so a sparse
 * table cannot make one write slow. */
static void store_rehash_step(struct store *s)
{
        unsigned moved = 0;
        unsigned empty_visits = STORE_REHASH_STEPS * 10;
        uint64_t size0 = store_table_size(&s->t[0]);

        while (moved < STORE_REHASH_STEPS && s->t[0].used > 0) {
                struct store_entry *e;
                while (s->t[0].buckets[s->rehash_idx] == NULL) {
                        s->rehash_idx++;
                        if (--empty_visits == 0) {
                                return;
                        }
                }
                e = s->t[0].buckets[s->rehash_idx];
                while (e != NULL) {
                        struct store_entry *next = e->next;
                        /* The hash is not stored (8 bytes per key): recompute. */
                        uint64_t key_len;
                        const uint8_t *key = varint_get_trusted(e->data, &key_len);
                        uint64_t hash = store_hash(s, key, (size_t)key_len);
                        uint64_t b = store_bucket(hash, s->t[1].bits);
                        e->next = s->t[1].buckets[b];
                        s->t[1].buckets[b] = e;
                        s->t[0].used--;
                        s->t[1].used++;
                        e = next;
                }
                s->t[0].buckets[s->rehash_idx] = NULL;
                s->rehash_idx++;
                moved++;
        }
        if (s->t[0].used == 0 || s->rehash_idx >= size0) {
                tkv_free(s->t[0].buckets);
                s->t[0] = s->t[1];
                memset(&s->t[1], 0, sizeof s->t[1]);
                s->rehashing = false;
        }
}

/* Start growing (or shrinking) to 1 << bits buckets. Failure to allocate
 * only means the table stays as it is for now. */
static void store_resize(struct store *s, unsigned bits)
{
        if (s->rehashing || bits == s->t[0].bits || bits < STORE_BITS_MIN || bits > 40) {
                return;
        }
        if (store_table_alloc(&s->t[1], bits) != 0) {
                return;
        }
        s->rehashing = true;
        s->rehash_idx = 0;
}

/* The most keys a table of size buckets holds before it grows: a load
 * factor of 3/2. Chains are then 0.75 to 1.5 entries long on average (1.1
 * over a doubling), where growing at 1 gives 0.5 to 1: a third of the
 * buckets' memory (4 MiB per million keys) for about a quarter of an entry
 * more per lookup. */
static uint64_t store_load_max(uint64_t size)
{
        return size + size / 2;
}

/* Keep the load factor between 1/8 and 3/2: grow above 3/2, and after a
 * delete (shrink) below 1/8. Inserts never shrink: a table sized ahead
 * (store_reserve) stays so while it fills. */
static void store_maybe_resize(struct store *s, bool shrink)
{
        uint64_t n = store_count(s);
        uint64_t size = store_table_size(&s->t[0]);
        if (s->rehashing) {
                store_rehash_step(s);
                return;
        }
        if (n > store_load_max(size)) {
                store_resize(s, s->t[0].bits + 1);
        } else if (shrink && n < size / 8 && s->t[0].bits > STORE_BITS_MIN) {
                store_resize(s, s->t[0].bits - 1);
        }
}

void store_reserve(struct store *s, uint64_t n)
{
        struct store_table t;
        unsigned bits = STORE_BITS_MIN;

        if (store_count(s) != 0 || s->rehashing) {
                return;
        }
        while (bits < 32 && store_load_max((uint64_t)1 << bits) < n) {
                bits++;
        }
        if (bits <= s->t[0].bits || store_table_alloc(&t, bits) != 0) {
                return; /* only a hint: the table grows as it fills */
        }
        tkv_free(s->t[0].buckets);
        s->t[0] = t;
}

static bool store_entry_matches(const struct store_entry *e, const void *key, uint32_t key_len)
{
        uint64_t len;
        const uint8_t *k = varint_get_trusted(e->data, &len);
        return len == key_len && memcmp(k, key, key_len) == 0;
}

/* Address of the link that points at key's entry (or at the NULL ending the
 * chain it would be in), in whichever table holds it. */
static struct store_entry **store_find_link(const struct store *s, uint64_t hash, const void *key,
                                            uint32_t key_len, int *table)
{
        /* hash is store_hash(s, key, key_len): writes need it twice. */
        for (int i = 0; i < (s->rehashing ? 2 : 1); i++) {
                const struct store_table *t = &s->t[i];
                struct store_entry **link = &t->buckets[store_bucket(hash, t->bits)];
                while (*link != NULL) {
                        if (store_entry_matches(*link, key, key_len)) {
                                *table = i;
                                return link;
                        }
                        link = &(*link)->next;
                }
        }
        *table = -1;
        return NULL;
}

const struct store_entry *store_get(const struct store *s, const void *key, uint32_t key_len)
{
        int table;
        struct store_entry **link =
            store_find_link(s, store_hash(s, key, key_len), key, key_len, &table);
        return link != NULL ? *link : NULL;
}

/* A new entry (refs 1, unlinked) of levels index links (1 to
 * STORE_LEVELS_MAX) holding key, v and both indexes, or NULL when out of
 * memory. */
static struct store_entry *store_entry_new(struct store *s, const void *key, uint32_t key_len,
                                           const struct store_value *v, uint64_t create_index,
                                           uint64_t mod_index, unsigned levels)
{
        uint8_t head[6 * VARINT_BYTES_MAX];
        size_t n = 0;
        size_t bytes;
        struct store_entry *e;
        uint8_t *p;

        /* Callers validate both (command_decode, snapshot_decode). */
        assert(v->raw_len >= v->len && create_index <= mod_index);
        n = (size_t)(varint_put(head + n, mod_index) - head);
        n = (size_t)(varint_put(head + n, v->len) - head);
        n = (size_t)(varint_put(head + n, v->raw_len - v->len) - head);
        n = (size_t)(varint_put(head + n, v->deps_len) - head);
        n = (size_t)(varint_put(head + n, mod_index - create_index) - head);
        n = (size_t)(varint_put(head + n, v->ts) - head);
        /* Under 128 bytes of head and varints plus three 32-bit lengths:
         * only a 32-bit size_t can overflow. */
        if ((uint64_t)key_len + v->len + v->deps_len > SIZE_MAX - 128) {
                return NULL;
        }
        bytes = levels * STORE_LINK_BYTES + STORE_ENTRY_HEAD_BYTES + varint_bytes(key_len) +
                key_len + n + v->len + v->deps_len;
        p = slab_alloc(s->slab, bytes);
        if (p == NULL) {
                return NULL;
        }
        e = (struct store_entry *)(p + levels * STORE_LINK_BYTES);
        e->next = NULL;
        e->refs = 1;
        e->levels = (uint8_t)levels;
        p = varint_put(e->data, key_len);
        memcpy(p, key, key_len);
        p += key_len;
        memcpy(p, head, n);
        p += n;
        if (v->len > 0) {
                memcpy(p, v->data, v->len);
                p += v->len;
        }
        if (v->deps_len > 0) {
                memcpy(p, v->deps, v->deps_len);
        }
        return e;
}

/* Levels for a new key: 1, and one more with chance 1/4 each (xorshift64). */
static unsigned store_index_levels(struct store *s)
{
        unsigned levels = 1;
        uint64_t x = s->rng;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s->rng = x;
        while (levels < STORE_LEVELS_MAX && (x & 3) == 0) {
                levels++;
                x >>= 2;
        }
        return levels;
}

/* Fill path[i] with the slot (a head or an entry's link) at level i that
 * holds the first entry at or after key. */
static void store_index_path(struct store *s, const void *key, uint32_t key_len,
                             struct store_entry **path[STORE_LEVELS_MAX])
{
        struct store_entry *x = NULL; /* NULL: still at the heads */

        for (int i = STORE_LEVELS_MAX - 1; i >= 0; i--) {
                struct store_entry **slot = x == NULL ? &s->head[i] : store_entry_link(x, i);
                while (*slot != NULL && store_entry_cmp(*slot, key, key_len) < 0) {
                        x = *slot;
                        slot = store_entry_link(x, i);
                }
                path[i] = slot;
        }
}

/* Snapshots are written in key order (store_freeze walks the index), so
 * a restore loads every key after the one before it, past the end of the
 * index: where the finger already points, without a search. A key that
 * does not sort after the last one loaded, or any other write, falls back
 * to the search. */
static bool store_index_at_end(const struct store *s, const void *key, uint32_t key_len)
{
        uint32_t last_len;
        const uint8_t *last;

        if (!s->load_path_valid || *s->load_path[0] != NULL) {
                return false;
        }
        last = store_entry_key(s->load_last, &last_len);
        return store_key_cmp(key, key_len, last, last_len) > 0;
}

/* Link e at level i into slot (a head or an entry's link), before the
 * entry next that slot held. */
static void store_index_link(struct store_entry *e, unsigned i, struct store_entry **slot,
                             struct store_entry *next)
{
        *store_entry_link(e, i) = next;
        *store_entry_back(e, i) = slot;
        if (next != NULL) {
                *store_entry_back(next, i) = store_entry_link(e, i);
        }
        *slot = e;
}

/* Put new e in old's place (e has old's levels): no search. */
static void store_index_replace(struct store *s, struct store_entry *e, struct store_entry *old)
{
        s->load_path_valid = false;
        for (unsigned i = 0; i < e->levels; i++) {
                store_index_link(e, i, *store_entry_back(old, i), *store_entry_link(old, i));
        }
}

/* Put e in the index, in old's place if it replaces old (then e has old's
 * levels), else as a new key. load: keep store_load's finger. */
static void store_index_insert(struct store *s, struct store_entry *e, struct store_entry *old,
                               bool load)
{
        struct store_entry **path[STORE_LEVELS_MAX];
        uint32_t key_len;
        const uint8_t *key = store_entry_key(e, &key_len);

        if (old != NULL) {
                store_index_replace(s, e, old);
                return;
        }
        if (load && store_index_at_end(s, key, key_len)) {
                memcpy(path, s->load_path, sizeof path);
        } else {
                store_index_path(s, key, key_len, path);
        }
        for (unsigned i = 0; i < e->levels; i++) {
                store_index_link(e, i, path[i], *path[i]);
        }
        s->load_path_valid = load;
        if (load) {
                memcpy(s->load_path, path, sizeof path);
                for (unsigned i = 0; i < e->levels; i++) {
                        s->load_path[i] = store_entry_link(e, i);
                }
                s->load_last = e;
        }
}

/* Take e out of the index: no search either. */
static void store_index_remove(struct store *s, struct store_entry *e)
{
        s->load_path_valid = false;
        for (unsigned i = 0; i < e->levels; i++) {
                struct store_entry **slot = *store_entry_back(e, i);
                struct store_entry *next = *store_entry_link(e, i);
                *slot = next;
                if (next != NULL) {
                        *store_entry_back(next, i) = slot;
                }
        }
}

const struct store_entry *store_seek(const struct store *s, const void *key, uint32_t key_len)
{
        const struct store_entry *x = NULL;
        const struct store_entry *at = NULL;

        for (int i = STORE_LEVELS_MAX - 1; i >= 0; i--) {
                at = x == NULL ? s->head[i] : *store_entry_link(x, i);
                while (at != NULL && store_entry_cmp(at, key, key_len) < 0) {
                        x = at;
                        at = *store_entry_link(x, i);
                }
        }
        return at;
}

const struct store_entry *store_next(const struct store_entry *e)
{
        return *store_entry_link(e, 0);
}

/* Link a new entry in place of *link (replacing) or at the head of its
 * bucket in the table new keys go to (t[1] while rehashing), and in the
 * ordered index (load: from store_load). */
static void store_link(struct store *s, uint64_t hash, struct store_entry **link,
                       struct store_entry *e, bool load)
{
        if (link != NULL) {
                struct store_entry *old = *link;
                e->next = old->next;
                *link = e;
                store_index_insert(s, e, old, load);
                store_account(s, old, -1);
                store_entry_unref(s, old);
        } else {
                store_index_insert(s, e, NULL, load);
                struct store_table *t = &s->t[s->rehashing ? 1 : 0];
                uint64_t b = store_bucket(hash, t->bits);
                e->next = t->buckets[b];
                t->buckets[b] = e;
                t->used++;
        }
        store_account(s, e, +1);
}

int store_load(struct store *s, const void *key, uint32_t key_len, const struct store_value *v,
               uint64_t create_index, uint64_t mod_index)
{
        uint64_t hash = store_hash(s, key, key_len);
        int table;
        struct store_entry **link = store_find_link(s, hash, key, key_len, &table);
        unsigned levels = link != NULL ? (*link)->levels : store_index_levels(s);
        struct store_entry *e =
            store_entry_new(s, key, key_len, v, create_index, mod_index, levels);
        if (e == NULL) {
                return TKV_ENOMEM;
        }
        store_link(s, hash, link, e, true);
        store_maybe_resize(s, false);
        return 0;
}

int store_put(struct store *s, const void *key, uint32_t key_len, const struct store_value *v,
              uint64_t index)
{
        uint64_t hash = store_hash(s, key, key_len);
        int table;
        struct store_entry **link = store_find_link(s, hash, key, key_len, &table);
        uint64_t create_index = link != NULL ? store_entry_create_index(*link) : index;
        unsigned levels = link != NULL ? (*link)->levels : store_index_levels(s);
        struct store_entry *e = store_entry_new(s, key, key_len, v, create_index, index, levels);
        if (e == NULL) {
                return TKV_ENOMEM;
        }
        store_link(s, hash, link, e, false);
        store_maybe_resize(s, false);
        return 0;
}

bool store_delete(struct store *s, const void *key, uint32_t key_len)
{
        int table;
        struct store_entry **link =
            store_find_link(s, store_hash(s, key, key_len), key, key_len, &table);
        struct store_entry *e;
        if (link == NULL) {
                return false;
        }
        e = *link;
        *link = e->next;
        store_index_remove(s, e);
        s->t[table].used--;
        store_account(s, e, -1);
        store_entry_unref(s, e);
        store_maybe_resize(s, true);
        return true;
}

static void store_table_unref_all(struct store *s, struct store_table *t)
{
        uint64_t size = store_table_size(t);
        for (uint64_t i = 0; i < size; i++) {
                struct store_entry *e = t->buckets[i];
                while (e != NULL) {
                        struct store_entry *next = e->next;
                        store_entry_unref(s, e);
                        e = next;
                }
                t->buckets[i] = NULL;
        }
        t->used = 0;
}

void store_clear(struct store *s)
{
        /* Keep t[0]'s bucket array: clearing must not need memory. */
        store_table_unref_all(s, &s->t[0]);
        store_table_release(s, &s->t[1]);
        s->rehashing = false;
        s->data_bytes = 0;
        s->digest = 0;
        memset(s->head, 0, sizeof s->head);
        s->load_path_valid = false;
}

int store_freeze(struct store *s, struct store_frozen *out)
{
        uint64_t n = store_count(s);
        size_t k = 0;

        assert(s->frozen < STORE_FROZEN_MAX);
        out->store = s;
        out->n = 0;
        out->entries = tkv_malloc((n > 0 ? n : 1) * sizeof *out->entries);
        if (out->entries == NULL) {
                return TKV_ENOMEM;
        }
        s->frozen++;
        /* In key order: a restore then appends each key (store_load). */
        for (struct store_entry *e = s->head[0]; e != NULL; e = *store_entry_link(e, 0)) {
                e->refs++;
                out->entries[k++] = e;
        }
        assert(k == n);
        out->n = k;
        return 0;
}

void store_unfreeze(struct store_frozen *f)
{
        if (f->entries == NULL) {
                return;
        }
        for (size_t i = 0; i < f->n; i++) {
                store_entry_unref(f->store, f->entries[i]);
        }
        f->store->frozen--;
        tkv_free(f->entries);
        f->entries = NULL;
        f->n = 0;
}
