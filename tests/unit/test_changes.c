/* The change history (changes.h): a key as of any timestamp in the window
 * equals what a complete reference history says, below the window the
 * answer is refused, tombstones name their delete, the bounds hold, and
 * every pinned entry goes back to the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "err.h"
#include "hlc.h"
#include "slab.h"
#include "store.h"
#include "testlib.h"

#define KEYS  12
#define STEPS 4000

/* One state a key had from ts on: value v (-1: absent) written at index. */
struct state {
        uint64_t ts;
        uint64_t index;
        int v;
};

struct model {
        struct state states[KEYS][STEPS + 1];
        unsigned n[KEYS];
};

struct rig {
        struct store *store;
        struct changes *changes;
        struct model *model;
        uint64_t records;          /* changes recorded: the next seq */
        uint64_t rec_index[STEPS]; /* each one's index, by seq */
};

static void key_of(unsigned k, char out[8])
{
        snprintf(out, 8, "key%u", k);
}

/* What fsm.c does: pin, change the store, record. */
static void rig_write(struct rig *r, unsigned k, int v, uint64_t index, uint64_t ts)
{
        char key[8], val[16];
        const struct store_entry *before;
        struct store_value sv;
        struct state *st;

        key_of(k, key);
        before = store_get(r->store, key, (uint32_t)strlen(key));
        if (v < 0 && before == NULL) {
                return; /* a delete of an absent key changes nothing */
        }
        if (v < 0) {
                assert_int_equal(changes_record(r->changes, r->store, before, NULL, index, ts), 0);
                assert_true(store_delete(r->store, key, (uint32_t)strlen(key)));
        } else {
                snprintf(val, sizeof val, "v%d", v);
                sv = (struct store_value){
                    val, (uint32_t)strlen(val), (uint32_t)strlen(val), NULL, 0, ts};
                if (before != NULL) {
                        store_entry_pin(before);
                }
                assert_int_equal(store_put(r->store, key, (uint32_t)strlen(key), &sv, index), 0);
                assert_int_equal(changes_record(r->changes, r->store, before,
                                                store_get(r->store, key, (uint32_t)strlen(key)),
                                                index, ts),
                                 0);
                if (before != NULL) {
                        store_entry_unpin(r->store, before);
                }
        }
        st = &r->model->states[k][r->model->n[k]++];
        *st = (struct state){ts, index, v};
        r->rec_index[r->records++] = index;
}

/* The history read as a log (what watches do): the changes kept are the
 * last ones recorded, consecutive seqs in index order; every change
 * dropped is at or below start_index, every one kept above it; a seek
 * from a held record finds what a seek from the oldest finds. */
static void check_log(struct rig *r)
{
        const struct changes *c = r->changes;
        uint64_t first = changes_first_seq(c), seq = first;
        const struct change *ch, *mid = NULL;
        uint64_t mid_seq = 0;

        assert_int_equal(changes_next_seq(c), r->records);
        assert_int_equal(r->records - first, changes_count(c));
        for (uint64_t i = 0; i < first; i++) {
                assert_true(r->rec_index[i] <= changes_start_index(c));
        }
        for (ch = changes_seek(c, NULL, 0, first); ch != NULL; ch = changes_next(ch), seq++) {
                struct changes_view v;
                changes_view(ch, &v);
                assert_int_equal(v.seq, seq);
                assert_int_equal(v.index, r->rec_index[seq]);
                assert_true(v.index > changes_start_index(c));
                assert_int_equal(v.hash, changes_key_hash(c, v.key, v.key_len));
                if (seq == first + (r->records - first) / 2) {
                        mid = ch;
                        mid_seq = seq;
                }
        }
        assert_int_equal(seq, r->records);
        assert_null(changes_seek(c, NULL, 0, r->records)); /* not yet recorded */
        if (first > 0) {
                assert_null(changes_seek(c, NULL, 0, first - 1)); /* dropped */
        }
        if (mid != NULL && r->records > 0) {
                assert_ptr_equal(changes_seek(c, mid, mid_seq, r->records - 1),
                                 changes_seek(c, NULL, 0, r->records - 1));
        }
}

/* The reference: key k's state at ts. */
static const struct state *model_at(const struct model *m, unsigned k, uint64_t ts)
{
        const struct state *found = NULL;
        for (unsigned i = 0; i < m->n[k] && m->states[k][i].ts <= ts; i++) {
                found = &m->states[k][i];
        }
        return found;
}

static void check_at(struct rig *r, unsigned k, uint64_t ts)
{
        char key[8], val[16];
        const struct store_entry *cur, *e;
        const struct state *want = model_at(r->model, k, ts);
        uint64_t deleted;
        int rv;

        key_of(k, key);
        cur = store_get(r->store, key, (uint32_t)strlen(key));
        rv = changes_at(r->changes, cur, key, (uint32_t)strlen(key), ts, &e, &deleted);
        if (ts < changes_start_ts(r->changes)) {
                assert_int_equal(rv, TKV_ENOTFOUND);
                return;
        }
        assert_int_equal(rv, 0);
        if (want == NULL || want->v < 0) {
                assert_null(e);
                /* A tombstone is named exactly when the delete is in the window. */
                if (want != NULL && want->ts > changes_start_ts(r->changes)) {
                        assert_int_equal(deleted, want->index);
                } else if (deleted != 0) {
                        assert_non_null(want);
                        assert_int_equal(deleted, want->index);
                }
                return;
        }
        assert_non_null(e);
        snprintf(val, sizeof val, "v%d", want->v);
        assert_int_equal(store_entry_value_len(e), strlen(val));
        assert_memory_equal(store_entry_value(e), val, strlen(val));
        assert_int_equal(store_entry_mod_index(e), want->index);
}

/* changes_since(ts): every key changed after ts, once, with its state at
 * ts (as changes_at gives it), and no other key. */
struct since {
        unsigned seen[KEYS];
        const struct store_entry *e[KEYS];
};

static void since_add(void *arg, const uint8_t *key, uint32_t len, const struct store_entry *e)
{
        struct since *s = arg;
        char name[16];
        unsigned k;

        assert_true(len > 3 && len < sizeof name && memcmp(key, "key", 3) == 0);
        memcpy(name, key, len);
        name[len] = '\0';
        k = (unsigned)atoi(name + 3);
        assert_true(k < KEYS);
        s->seen[k]++;
        s->e[k] = e;
}

static void check_since(struct rig *r, uint64_t ts)
{
        struct since s;

        if (ts < changes_start_ts(r->changes)) {
                return; /* not asked: the window does not reach there */
        }
        memset(&s, 0, sizeof s);
        changes_since(r->changes, ts, since_add, &s);
        for (unsigned k = 0; k < KEYS; k++) {
                const struct model *m = r->model;
                bool changed = m->n[k] > 0 && m->states[k][m->n[k] - 1].ts > ts;
                const struct state *want = model_at(m, k, ts);
                char val[16];
                assert_int_equal(s.seen[k], changed ? 1 : 0);
                if (!changed) {
                        continue;
                }
                if (want == NULL || want->v < 0) {
                        assert_null(s.e[k]);
                        continue;
                }
                assert_non_null(s.e[k]);
                snprintf(val, sizeof val, "v%d", want->v);
                assert_int_equal(store_entry_value_len(s.e[k]), strlen(val));
                assert_memory_equal(store_entry_value(s.e[k]), val, strlen(val));
                assert_int_equal(store_entry_mod_index(s.e[k]), want->index);
        }
}

static void rig_run(const struct changes_params *params, unsigned seed)
{
        struct rig r;
        uint64_t ts = hlc_from_ms(1000), held;

        srand(seed);
        r.model = calloc(1, sizeof *r.model);
        r.records = 0;
        assert_non_null(r.model);
        assert_int_equal(store_create(&r.store), 0);
        held = store_entry_bytes_held(r.store);
        assert_int_equal(changes_create(&r.changes, params, 0), 0);
        for (uint64_t index = 1; index <= STEPS; index++) {
                unsigned k = (unsigned)rand() % KEYS;
                int v = rand() % 4 == 0 ? -1 : (int)index;
                /* Sometimes the same timestamp twice (a TXN's ops share one). */
                ts += rand() % 3 == 0 ? 0 : hlc_from_ms((uint64_t)(rand() % 3)) + 1;
                rig_write(&r, k, v, index, ts);
                assert_true(changes_count(r.changes) <= params->entries_max);
                assert_true(changes_bytes(r.changes) <= params->bytes_max);
                if (index % 97 == 0) {
                        for (unsigned q = 0; q < 40; q++) {
                                uint64_t back = (uint64_t)rand() % (ts - hlc_from_ms(1000) + 2);
                                check_at(&r, (unsigned)rand() % KEYS, ts - back + 1);
                        }
                        check_at(&r, (unsigned)rand() % KEYS, changes_start_ts(r.changes));
                        for (unsigned q = 0; q < 4; q++) {
                                uint64_t back = (uint64_t)rand() % (ts - hlc_from_ms(1000) + 2);
                                check_since(&r, ts - back + 1);
                        }
                        check_since(&r, changes_start_ts(r.changes));
                        check_log(&r);
                }
        }
        /* The tombstone of a key whose last change is a delete in the window. */
        for (unsigned k = 0; k < KEYS; k++) {
                char key[8];
                const struct state *last = &r.model->states[k][r.model->n[k] - 1];
                uint64_t t;
                key_of(k, key);
                t = changes_tombstone(r.changes, key, (uint32_t)strlen(key));
                if (last->v >= 0) {
                        assert_int_equal(t, 0);
                } else if (last->ts > changes_start_ts(r.changes)) {
                        assert_int_equal(t, last->index);
                }
        }
        changes_destroy(r.changes, r.store);
        store_clear(r.store);
        /* Every pinned entry went back. Pooled slabs keep their blocks, so
         * the count is exact only with malloc'd entries (the sanitizer
         * build, which also reports any entry never freed). */
        if (!slab_pooled_default()) {
                assert_int_equal(store_entry_bytes_held(r.store), held);
        }
        store_destroy(r.store);
        free(r.model);
}

static void test_complete_history(void **state)
{
        struct changes_params p = {1u << 20, 1ull << 30, 1u << 30};
        (void)state;
        rig_run(&p, 1);
}

static void test_bounded_by_entries(void **state)
{
        struct changes_params p = {50, 1ull << 30, 1u << 30};
        (void)state;
        rig_run(&p, 2);
}

static void test_bounded_by_bytes(void **state)
{
        struct changes_params p = {1u << 20, 4096, 1u << 30};
        (void)state;
        rig_run(&p, 3);
}

static void test_bounded_by_time(void **state)
{
        struct changes_params p = {1u << 20, 1ull << 30, 200};
        (void)state;
        rig_run(&p, 4);
}

static void test_none_kept(void **state)
{
        struct changes_params p = {0, 0, 0};
        (void)state;
        rig_run(&p, 5);
}

/* A reset (restore) forgets every change and refuses what lies before
 * the snapshot. */
static void test_reset(void **state)
{
        struct changes_params p = {100, 1u << 20, 60000};
        struct store *s;
        struct changes *c;
        struct store_value sv = {"x", 1, 1, NULL, 0, 7};
        const struct store_entry *e;
        uint64_t deleted;
        (void)state;

        assert_int_equal(store_create(&s), 0);
        assert_int_equal(changes_create(&c, &p, 0), 0);
        assert_int_equal(store_put(s, "k", 1, &sv, 1), 0);
        assert_int_equal(changes_record(c, s, NULL, store_get(s, "k", 1), 1, 7), 0);
        assert_int_equal(changes_count(c), 1);
        assert_int_equal(changes_oldest_index(c), 1);
        assert_int_equal(changes_at(c, store_get(s, "k", 1), "k", 1, 6, &e, &deleted), 0);
        assert_null(e); /* absent before its first write */
        changes_reset(c, s, 50, 9);
        assert_int_equal(changes_count(c), 0);
        assert_int_equal(changes_start_index(c),
                         9); /* the snapshot's: resumes before it are gone */
        assert_int_equal(changes_first_seq(c), changes_next_seq(c));
        assert_int_equal(changes_oldest_index(c), 0);
        assert_int_equal(changes_at(c, NULL, "k", 1, 49, &e, &deleted), TKV_ENOTFOUND);
        changes_destroy(c, s);
        store_destroy(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_complete_history), cmocka_unit_test(test_bounded_by_entries),
            cmocka_unit_test(test_bounded_by_bytes), cmocka_unit_test(test_bounded_by_time),
            cmocka_unit_test(test_none_kept),        cmocka_unit_test(test_reset),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
