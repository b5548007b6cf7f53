/* The partition store: versions, replace/delete, growth and shrinking with
 * incremental rehashing, snapshot pinning, and out-of-memory leaving the
 * table unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "keyhash.h"
#include "slab.h"
#include "store.h"
#include "testlib.h"

static int put(struct store *s, const char *k, const char *v, uint64_t index)
{
        struct store_value sv = {v, (uint32_t)strlen(v), (uint32_t)strlen(v), NULL, 0, 0};
        return store_put(s, k, (uint32_t)strlen(k), &sv, index);
}

static const struct store_entry *get(struct store *s, const char *k)
{
        return store_get(s, k, (uint32_t)strlen(k));
}

static bool del(struct store *s, const char *k)
{
        return store_delete(s, k, (uint32_t)strlen(k));
}

static void test_versions(void **state)
{
        struct store *s;
        const struct store_entry *e;
        (void)state;
        assert_int_equal(store_create(&s), 0);
        assert_null(get(s, "a"));
        assert_int_equal(put(s, "a", "1", 5), 0);
        e = get(s, "a");
        assert_non_null(e);
        assert_int_equal(store_entry_create_index(e), 5);
        assert_int_equal(store_entry_mod_index(e), 5);
        assert_memory_equal(store_entry_value(e), "1", 1);
        assert_int_equal(put(s, "a", "22", 9), 0);
        e = get(s, "a");
        assert_int_equal(store_entry_create_index(e), 5); /* kept on replace */
        assert_int_equal(store_entry_mod_index(e), 9);
        assert_int_equal(store_entry_value_len(e), 2);
        assert_int_equal(store_count(s), 1);
        assert_int_equal(store_data_bytes(s), 3);
        assert_true(del(s, "a"));
        assert_false(del(s, "a"));
        assert_null(get(s, "a"));
        assert_int_equal(store_count(s), 0);
        assert_int_equal(store_data_bytes(s), 0);
        /* Re-created: a new create_index. */
        assert_int_equal(put(s, "a", "3", 12), 0);
        assert_int_equal(store_entry_create_index(get(s, "a")), 12);
        store_destroy(s);
}

static void test_binary_keys(void **state)
{
        struct store *s;
        const uint8_t k1[3] = {0, 1, 0}, k2[3] = {0, 1, 1};
        (void)state;
        assert_int_equal(store_create(&s), 0);
        struct store_value x = {"x", 1, 1, NULL, 0, 7}, y = {"y", 1, 1, "dd", 2, 0};
        assert_int_equal(store_put(s, k1, 3, &x, 1), 0);
        assert_int_equal(store_put(s, k2, 3, &y, 2), 0);
        assert_memory_equal(store_entry_value(store_get(s, k1, 3)), "x", 1);
        assert_memory_equal(store_entry_value(store_get(s, k2, 3)), "y", 1);
        assert_int_equal(store_entry_deps_len(store_get(s, k2, 3)), 2);
        assert_memory_equal(store_entry_deps(store_get(s, k2, 3)), "dd", 2);
        {
                /* The write's timestamp is kept with the value. */
                struct store_fields f;
                store_entry_fields(store_get(s, k1, 3), &f);
                assert_int_equal(f.ts, 7);
                assert_int_equal(f.mod_index, 1);
                assert_memory_equal(f.value, "x", 1);
        }
        store_destroy(s);
}

static void test_grow_and_shrink(void **state)
{
        struct store *s;
        char k[32];
        const int n = 100000;
        (void)state;
        assert_int_equal(store_create(&s), 0);
        for (int i = 0; i < n; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_int_equal(put(s, k, k, (uint64_t)i + 1), 0);
                /* Everything stays reachable while rehashing. */
                if (i % 997 == 0) {
                        for (int j = 0; j <= i; j += 101) {
                                snprintf(k, sizeof k, "key-%d", j);
                                assert_non_null(get(s, k));
                        }
                }
        }
        assert_int_equal(store_count(s), n);
        for (int i = 0; i < n; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                const struct store_entry *e = get(s, k);
                assert_non_null(e);
                assert_int_equal(store_entry_mod_index(e), (uint64_t)i + 1);
        }
        for (int i = 0; i < n - 10; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_true(del(s, k));
        }
        assert_int_equal(store_count(s), 10);
        for (int i = n - 10; i < n; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_non_null(get(s, k));
        }
        store_destroy(s);
}

/* A table sized ahead (snapshot restore) holds what is loaded into it, the
 * same digest as one that grew; reserving a table in use changes nothing. */
static void test_reserve_then_fill(void **state)
{
        struct store *a, *b;
        char k[32];
        const int n = 20000;
        (void)state;
        assert_int_equal(store_create(&a), 0);
        assert_int_equal(store_create(&b), 0);
        store_reserve(b, n);
        for (int i = 0; i < n; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_int_equal(put(a, k, k, (uint64_t)i + 1), 0);
                assert_int_equal(put(b, k, k, (uint64_t)i + 1), 0);
        }
        store_reserve(b, 4 * n); /* in use: a no-op */
        assert_int_equal(store_count(b), n);
        assert_int_equal(store_digest(a), store_digest(b));
        for (int i = 0; i < n; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_non_null(get(b, k));
        }
        store_destroy(a);
        store_destroy(b);
}

static void test_freeze_pins_old_entries(void **state)
{
        struct store *s;
        struct store_frozen f;
        char k[16];
        (void)state;
        assert_int_equal(store_create(&s), 0);
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof k, "k%d", i);
                assert_int_equal(put(s, k, "old", 1), 0);
        }
        assert_int_equal(store_freeze(s, &f), 0);
        assert_int_equal(f.n, 100);
        /* Writes after the freeze change the table, not the frozen set. */
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof k, "k%d", i);
                if (i % 2 == 0) {
                        assert_int_equal(put(s, k, "new!", 2), 0);
                } else {
                        assert_true(del(s, k));
                }
        }
        for (size_t i = 0; i < f.n; i++) {
                assert_int_equal(store_entry_value_len(f.entries[i]), 3);
                assert_memory_equal(store_entry_value(f.entries[i]), "old", 3);
        }
        store_unfreeze(&f); /* frees the replaced and deleted entries (ASan/LSan check) */
        assert_int_equal(store_count(s), 50);
        store_clear(s);
        assert_int_equal(store_count(s), 0);
        assert_int_equal(put(s, "after", "clear", 3), 0);
        assert_non_null(get(s, "after"));
        store_destroy(s);
}

/* The digest depends on the content, not on the history that built it. */
static void test_digest(void **state)
{
        struct store *a, *b;
        char k[16];
        (void)state;
        assert_int_equal(store_create(&a), 0);
        assert_int_equal(store_create(&b), 0);
        assert_true(store_digest(a) == store_digest(b));
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "d%d", i);
                assert_int_equal(put(a, k, "v", 7), 0);
        }
        for (int i = 999; i >= 0; i--) {
                snprintf(k, sizeof k, "d%d", i);
                assert_int_equal(put(b, k, "old", 3), 0);
                assert_int_equal(put(b, k, "v", 7), 0); /* same final entry, create kept at 3 */
        }
        assert_true(store_digest(a) != store_digest(b)); /* create_index differs */
        store_clear(b);
        for (int i = 999; i >= 0; i--) {
                snprintf(k, sizeof k, "d%d", i);
                assert_int_equal(put(b, k, "v", 7), 0);
        }
        assert_true(store_digest(a) == store_digest(b));
        assert_int_equal(put(b, "extra", "x", 8), 0);
        assert_true(store_digest(a) != store_digest(b));
        assert_true(del(b, "extra"));
        assert_true(store_digest(a) == store_digest(b));
        store_destroy(a);
        store_destroy(b);
}

/* Every length takes a varint of its own size: fields at the edges of
 * each encoding (and entries above the slab's largest class) decode as
 * they were written, and deleting them gives their memory back. */
static void test_field_encoding(void **state)
{
        static uint8_t value[3000], key[300], deps[200];
        const uint32_t value_lens[] = {0, 1, 127, 128, 1000, 3000};
        const uint32_t key_lens[] = {1, 127, 128, 300};
        const uint64_t deltas[] = {0, 127, 128, (uint64_t)1 << 40};
        struct store *s;
        struct store_fields f;
        unsigned n = 0;
        (void)state;
        for (size_t i = 0; i < sizeof value; i++) {
                value[i] = (uint8_t)(i * 7);
        }
        assert_int_equal(store_create(&s), 0);
        for (size_t v = 0; v < 6; v++) {
                for (size_t k = 0; k < 4; k++) {
                        uint64_t mod = ((uint64_t)1 << 41) + n;
                        struct store_value sv = {
                            value, value_lens[v],      value_lens[v] + (v % 2 ? 70000 : 0),
                            deps,  (uint16_t)(k * 60), (mod << 16) | k};
                        memset(key, 0, sizeof key);
                        memcpy(key, &n, sizeof n);
                        assert_int_equal(store_load(s, key, key_lens[k], &sv, mod - deltas[k], mod),
                                         0);
                        store_entry_fields(store_get(s, key, key_lens[k]), &f);
                        assert_int_equal(f.key_len, key_lens[k]);
                        assert_memory_equal(f.key, key, key_lens[k]);
                        assert_int_equal(f.value_len, value_lens[v]);
                        assert_int_equal(f.value_raw_len, sv.raw_len);
                        assert_memory_equal(f.value, value, value_lens[v]);
                        assert_int_equal(f.deps_len, k * 60);
                        assert_memory_equal(f.deps, deps, f.deps_len);
                        assert_int_equal(f.mod_index, mod);
                        assert_int_equal(f.create_index, mod - deltas[k]);
                        assert_int_equal(f.ts, (mod << 16) | k);
                        n++;
                }
        }
        assert_int_equal(store_count(s), n);
        assert_true(store_entry_bytes_held(s) > 0);
        n = 0;
        for (size_t v = 0; v < 6; v++) {
                for (size_t k = 0; k < 4; k++) {
                        memset(key, 0, sizeof key);
                        memcpy(key, &n, sizeof n);
                        assert_true(store_delete(s, key, key_lens[k]));
                        n++;
                }
        }
        /* At most the slab's spare block is left. */
        assert_true(store_entry_bytes_held(s) <= SLAB_BLOCK_BYTES);
        store_destroy(s);
}

static void test_out_of_memory_leaves_table_unchanged(void **state)
{
        struct store *s;
        unsigned failed = testlib_heap_failures();
        (void)state;
        assert_int_equal(store_create(&s), 0);
        assert_int_equal(put(s, "a", "1", 1), 0);
        /* A value of another size class: a new slab block (or, unpooled, a
         * malloc) that fails. */
        testlib_heap_fail(1, 0);
        assert_int_equal(put(s, "a", "a value of another size class, longer", 2), TKV_ENOMEM);
        assert_int_equal(testlib_heap_failures(), failed + 1);
        assert_int_equal(put(s, "b", "2", 2), 0); /* only one failure armed */
        testlib_heap_reset();
        assert_int_equal(store_entry_mod_index(get(s, "a")), 1);
        assert_memory_equal(store_entry_value(get(s, "a")), "1", 1);
        store_destroy(s);
}

/* ---- Hash flooding: keys that share the protocol's key_hash. ----
 * xxh64 with a known seed can be run backwards: for 16-byte keys, any first
 * 8 bytes can be completed by second 8 bytes that land on a chosen state,
 * so unlimited keys share one 64-bit key_hash (and so one partition). A
 * table indexed by key_hash would put them all in one chain. */

#define XXP1 0x9E3779B185EBCA87ull
#define XXP2 0xC2B2AE3D27D4EB4Full
#define XXP4 0x85EBCA77C2B2AE63ull
#define XXP5 0x27D4EB2F165667C5ull

static uint64_t rotl64(uint64_t x, unsigned r)
{
        return x << r | x >> (64 - r);
}

static uint64_t inverse64(uint64_t a) /* a odd: Newton's iteration mod 2^64 */
{
        uint64_t x = a;
        for (int i = 0; i < 6; i++) {
                x *= 2 - a * x;
        }
        return x;
}

/* xxh64's state after one 8-byte lane. */
static uint64_t xx_lane(uint64_t h, uint64_t lane)
{
        return rotl64(h ^ rotl64(lane * XXP2, 31) * XXP1, 27) * XXP1 + XXP4;
}

/* The 16-byte key whose first lane is `first` and whose state after both
 * lanes is `target`. */
static void colliding_key(uint64_t first, uint64_t target, uint8_t key[16])
{
        uint64_t h1 = xx_lane(XXP5 + 16, first);
        uint64_t y = rotl64((target - XXP4) * inverse64(XXP1), 64 - 27);
        uint64_t r2 = h1 ^ y;
        uint64_t second = rotl64(r2 * inverse64(XXP1), 64 - 31) * inverse64(XXP2);
        for (int i = 0; i < 8; i++) {
                key[i] = (uint8_t)(first >> (8 * i));
                key[8 + i] = (uint8_t)(second >> (8 * i));
        }
}

static void test_keys_sharing_key_hash_spread_over_buckets(void **state)
{
        enum { N = 4096 };
        struct store *s;
        uint8_t key[16];
        struct store_value v = {"v", 1, 1, NULL, 0, 0};
        uint64_t shared;
        (void)state;
        assert_int_equal(store_create(&s), 0);
        colliding_key(0, 0x1234, key);
        shared = key_hash(key, sizeof key);
        for (uint64_t i = 0; i < N; i++) {
                colliding_key(i * 0x9E3779B97F4A7C15ull + 1, 0x1234, key);
                assert_true(key_hash(key, sizeof key) == shared);
                assert_int_equal(store_put(s, key, sizeof key, &v, i + 1), 0);
        }
        assert_int_equal(store_count(s), N);
        /* About 4 096 random keys in >= 2 048 buckets: chains of a handful. */
        assert_true(store_chain_longest(s) <= 16);
        store_destroy(s);
}

/* ------------------------------------------------------------------------ */
/* The ordered index, against a sorted reference model. */

#define MODEL_MAX       4096
#define MODEL_KEY_MAX   5 /* random keys' longest */
#define MODEL_KEY_BYTES 8 /* room for the longer keys tests add by hand */

struct model_key {
        uint8_t k[MODEL_KEY_BYTES];
        uint32_t len;
        uint64_t index; /* the mod_index the store must hold */
};

struct model {
        struct model_key keys[MODEL_MAX]; /* sorted by store_key_cmp */
        size_t n;
};

/* Where key is or would go in m (the first key >= it). */
static size_t model_lower(const struct model *m, const uint8_t *k, uint32_t len)
{
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (store_key_cmp(m->keys[mid].k, m->keys[mid].len, k, len) < 0) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return lo;
}

static void model_put(struct model *m, const uint8_t *k, uint32_t len, uint64_t index)
{
        size_t at = model_lower(m, k, len);
        if (at == m->n || store_key_cmp(m->keys[at].k, m->keys[at].len, k, len) != 0) {
                assert_true(m->n < MODEL_MAX);
                memmove(&m->keys[at + 1], &m->keys[at], (m->n - at) * sizeof m->keys[0]);
                memcpy(m->keys[at].k, k, len);
                m->keys[at].len = len;
                m->n++;
        }
        m->keys[at].index = index;
}

static bool model_delete(struct model *m, const uint8_t *k, uint32_t len)
{
        size_t at = model_lower(m, k, len);
        if (at == m->n || store_key_cmp(m->keys[at].k, m->keys[at].len, k, len) != 0) {
                return false;
        }
        memmove(&m->keys[at], &m->keys[at + 1], (m->n - at - 1) * sizeof m->keys[0]);
        m->n--;
        return true;
}

/* A key of 0 to MODEL_KEY_MAX bytes from a small alphabet (zero and 0xff
 * bytes included), so that prefixes and equal keys are common. */
static uint32_t random_key(uint64_t *rng, uint8_t *k)
{
        static const uint8_t alphabet[] = {0x00, 'a', 'b', 'c', 0x7f, 0x80, 0xff};
        uint32_t len;
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        len = (uint32_t)((*rng >> 33) % (MODEL_KEY_MAX + 1));
        for (uint32_t i = 0; i < len; i++) {
                *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
                k[i] = alphabet[(*rng >> 33) % sizeof alphabet];
        }
        return len;
}

/* The index walks exactly m's keys in m's order, with m's versions, and a
 * seek to any key lands where m's lower bound does. */
static void check_index(struct store *s, const struct model *m, uint64_t *rng)
{
        const struct store_entry *e = store_seek(s, NULL, 0);
        for (size_t i = 0; i < m->n; i++, e = store_next(e)) {
                uint32_t len;
                const uint8_t *k;
                assert_non_null(e);
                k = store_entry_key(e, &len);
                assert_int_equal(len, m->keys[i].len);
                assert_memory_equal(k, m->keys[i].k, len);
                assert_int_equal(store_entry_mod_index(e), m->keys[i].index);
        }
        assert_null(e);
        assert_int_equal(store_count(s), m->n);
        for (int j = 0; j < 64; j++) {
                uint8_t k[MODEL_KEY_MAX];
                uint32_t len = random_key(rng, k);
                size_t at = model_lower(m, k, len);
                e = store_seek(s, k, len);
                if (at == m->n) {
                        assert_null(e);
                } else {
                        uint32_t elen;
                        const uint8_t *ek;
                        assert_non_null(e);
                        ek = store_entry_key(e, &elen);
                        assert_int_equal(elen, m->keys[at].len);
                        assert_memory_equal(ek, m->keys[at].k, elen);
                }
        }
}

/* One random operation on both: put (new or replacing), load, delete, and
 * now and then a clear. */
static void index_step(struct store *s, struct model *m, uint64_t *rng, uint64_t index)
{
        uint8_t k[MODEL_KEY_MAX];
        uint32_t len = random_key(rng, k);
        struct store_value v = {"v", 1, 1, NULL, 0, 0};
        uint64_t op = (*rng >> 40) % 1000;

        if (op < 500) {
                assert_int_equal(store_put(s, k, len, &v, index), 0);
                model_put(m, k, len, index);
        } else if (op < 600) {
                assert_int_equal(store_load(s, k, len, &v, 1, index), 0);
                model_put(m, k, len, index);
        } else if (op < 999) {
                assert_int_equal(store_delete(s, k, len), model_delete(m, k, len));
        } else {
                store_clear(s);
                m->n = 0;
        }
}

static void test_index_matches_sorted_model(void **state)
{
        static struct model m;
        struct store *s;
        uint64_t rng = 42;
        (void)state;

        m.n = 0;
        assert_int_equal(store_create(&s), 0);
        for (uint64_t i = 1; i <= 60000; i++) {
                index_step(s, &m, &rng, i);
                if (i % 997 == 0) {
                        check_index(s, &m, &rng);
                }
        }
        check_index(s, &m, &rng);
        store_destroy(s);
}

/* Thousands of distinct keys: the table doubles (rehashing while the index
 * is spliced), then deletes shrink it; the order holds throughout. */
static void test_index_through_rehash(void **state)
{
        enum { N = 20000 };
        struct store *s;
        char k[32];
        uint32_t prev_len = 0;
        char prev[32];
        uint64_t n = 0;
        (void)state;

        assert_int_equal(store_create(&s), 0);
        for (int i = 0; i < N; i++) {
                snprintf(k, sizeof k, "key%u", (unsigned)((i * 7919u) % N));
                assert_int_equal(put(s, k, "v", (uint64_t)i + 1), 0);
        }
        for (int i = 0; i < N; i += 2) {
                snprintf(k, sizeof k, "key%d", i);
                assert_true(del(s, k));
        }
        for (const struct store_entry *e = store_seek(s, NULL, 0); e != NULL; e = store_next(e)) {
                uint32_t len;
                const uint8_t *key = store_entry_key(e, &len);
                assert_true(n == 0 || store_key_cmp(prev, prev_len, key, len) < 0);
                memcpy(prev, key, len);
                prev_len = len;
                n++;
        }
        assert_int_equal(n, N / 2);
        /* "key1" sorts before its extensions: the next odd one is "key10001"
         * (key10, key100... are even and gone). */
        assert_memory_equal(store_entry_key(store_seek(s, "key1", 4), &prev_len), "key1", 4);
        assert_int_equal(prev_len, 4);
        assert_memory_equal(store_entry_key(store_next(store_seek(s, "key1", 4)), &prev_len),
                            "key10001", 8);
        store_destroy(s);
}

/* Entries pinned by a snapshot keep their bytes while the index moves on,
 * and unfreezing frees them by their true size (ASan checks). */
static void test_index_with_frozen_entries(void **state)
{
        struct store *s;
        struct store_frozen f;
        char k[16];
        (void)state;

        assert_int_equal(store_create(&s), 0);
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof k, "k%03d", i);
                assert_int_equal(put(s, k, "old", 1), 0);
        }
        assert_int_equal(store_freeze(s, &f), 0);
        for (int i = 0; i < 100; i++) {
                snprintf(k, sizeof k, "k%03d", i);
                if (i % 3 == 0) {
                        assert_true(del(s, k));
                } else {
                        assert_int_equal(put(s, k, "new", 2), 0);
                }
        }
        for (size_t i = 0; i < f.n; i++) {
                assert_memory_equal(store_entry_value(f.entries[i]), "old", 3);
        }
        store_unfreeze(&f);
        {
                const struct store_entry *e = store_seek(s, "k", 1);
                uint32_t len;
                assert_memory_equal(store_entry_key(e, &len), "k001", 4);
                assert_memory_equal(store_entry_value(e), "new", 3);
        }
        store_clear(s);
        assert_null(store_seek(s, NULL, 0));
        assert_int_equal(put(s, "again", "v", 3), 0);
        assert_non_null(store_seek(s, NULL, 0));
        store_destroy(s);
}

/* A snapshot pins entries in key order, and loading them back in that
 * order (the end-of-index finger) rebuilds the same table and index; keys
 * out of order, and writes between loads, take the search. */
static void test_freeze_order_and_sorted_load(void **state)
{
        struct store *a, *b;
        struct store_frozen f;
        struct store_value v = {"v", 1, 1, NULL, 0, 0};
        uint64_t rng = 7;
        static struct model m;
        (void)state;

        m.n = 0;
        assert_int_equal(store_create(&a), 0);
        assert_int_equal(store_create(&b), 0);
        for (uint64_t i = 1; i <= 3000; i++) {
                index_step(a, &m, &rng, i);
        }
        assert_int_equal(store_freeze(a, &f), 0);
        for (size_t i = 0; i < f.n; i++) {
                struct store_fields e;
                store_entry_fields(f.entries[i], &e);
                if (i > 0) {
                        uint32_t len;
                        const uint8_t *k = store_entry_key(f.entries[i - 1], &len);
                        assert_true(store_key_cmp(k, len, e.key, e.key_len) < 0);
                }
                assert_int_equal(store_load(b, e.key, e.key_len, &v, 1, e.mod_index), 0);
        }
        store_unfreeze(&f);
        check_index(b, &m, &rng);
        /* A put in the middle, then loads before and after the end. */
        assert_int_equal(store_put(b, "\x01", 1, &v, 9), 0);
        model_put(&m, (const uint8_t *)"\x01", 1, 9);
        assert_int_equal(store_load(b, "\xff\xff\xff\xff\xff\xff", 6, &v, 1, 10), 0);
        model_put(&m, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6, 10);
        assert_int_equal(store_load(b, "\x02", 1, &v, 1, 11), 0);
        model_put(&m, (const uint8_t *)"\x02", 1, 11);
        assert_true(store_delete(b, "\xff\xff\xff\xff\xff\xff", 6));
        model_delete(&m, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6);
        assert_int_equal(store_load(b, "\xff\xff\xff\xff\xff\xff\xff", 7, &v, 1, 12), 0);
        model_put(&m, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff", 7, 12);
        check_index(b, &m, &rng);
        assert_int_equal(store_digest(b) != 0, true);
        store_destroy(a);
        store_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_keys_sharing_key_hash_spread_over_buckets),
            cmocka_unit_test(test_versions),
            cmocka_unit_test(test_binary_keys),
            cmocka_unit_test(test_grow_and_shrink),
            cmocka_unit_test(test_reserve_then_fill),
            cmocka_unit_test(test_freeze_pins_old_entries),
            cmocka_unit_test(test_digest),
            cmocka_unit_test(test_field_encoding),
            cmocka_unit_test(test_out_of_memory_leaves_table_unchanged),
            cmocka_unit_test(test_index_matches_sorted_model),
            cmocka_unit_test(test_index_through_rehash),
            cmocka_unit_test(test_index_with_frozen_entries),
            cmocka_unit_test(test_freeze_order_and_sorted_load),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
