/* libtunekv session tokens (src/client/token.c): parsing, merging,
 * comparing and encoding, with malformed and truncated inputs, the size cap
 * and its eviction, and the two public helpers that need no client
 * (tkv_token_merge_bytes, tkv_token_compare). Tokens are built here byte by
 * byte, as a server would send them, with made-up MACs: the client never
 * checks a MAC, it only carries it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "token.h"
#include "tunekv.h"

#define W TOKEN_KIND_W
#define R TOKEN_KIND_R

/* One entry to build a token from. */
struct ent {
        uint32_t partition;
        uint8_t kind;
        uint64_t index;
        uint8_t mac; /* every MAC byte is this */
};

/* Encode n entries, in the order given, as a server would: returns the
 * length written to buf. */
static size_t tok_make(uint8_t *buf, const struct ent *e, size_t n)
{
        size_t i;
        uint8_t *p;
        int b;

        buf[0] = TOKEN_VERSION;
        buf[1] = 0;
        buf[2] = (uint8_t)n;
        buf[3] = (uint8_t)(n >> 8);
        for (i = 0; i < n; i++) {
                p = buf + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES;
                for (b = 0; b < 4; b++) {
                        p[b] = (uint8_t)(e[i].partition >> (8 * b));
                }
                p[4] = e[i].kind;
                for (b = 0; b < 8; b++) {
                        p[5 + b] = (uint8_t)(e[i].index >> (8 * b));
                }
                memset(p + 13, e[i].mac, TOKEN_MAC_BYTES);
        }
        return TOKEN_HEADER_BYTES + n * TOKEN_ENTRY_BYTES;
}

/* The MAC byte of t's entry for (partition, kind); -1 when absent. */
static int tok_mac(const struct token *t, uint32_t partition, uint8_t kind)
{
        unsigned i;

        for (i = 0; i < t->n; i++) {
                if (t->e[i].partition == partition && t->e[i].kind == kind) {
                        return t->e[i].mac[0];
                }
        }
        return -1;
}

static struct token *tok_new(void)
{
        struct token *t = malloc(sizeof(*t));

        assert_non_null(t);
        token_init(t);
        return t;
}

/* ---- Parsing ---- */

static void test_check_good(void **state)
{
        static const struct ent e[] = {{7, W, 100, 1}, {2, R, 5, 2}};
        uint8_t buf[64];
        size_t len = tok_make(buf, e, 2);
        size_t count = 99;

        (void)state;
        assert_int_equal(len, 4 + 2 * 21);
        assert_int_equal(token_check(buf, len, &count), TKV_OK);
        assert_int_equal(count, 2);
        /* Zero bytes and a header with count 0 are both the empty token. */
        assert_int_equal(token_check(NULL, 0, &count), TKV_OK);
        assert_int_equal(count, 0);
        len = tok_make(buf, NULL, 0);
        assert_int_equal(token_check(buf, len, &count), TKV_OK);
        assert_int_equal(count, 0);
        assert_int_equal(token_check(buf, len, NULL), TKV_OK);
}

static void test_check_malformed(void **state)
{
        static const struct ent e[] = {{1, W, 10, 1}, {2, R, 20, 2}};
        uint8_t buf[64];
        uint8_t bad[64];
        size_t len = tok_make(buf, e, 2);
        size_t count = 0;
        size_t cut;

        (void)state;
        /* Every truncation, down to a lone version byte, is refused. */
        for (cut = 1; cut < len; cut++) {
                assert_int_equal(token_check(buf, cut, &count), TKV_USAGE_ERROR);
        }
        /* Bytes after the last entry. */
        memcpy(bad, buf, len);
        bad[len] = 0;
        assert_int_equal(token_check(bad, len + 1, NULL), TKV_USAGE_ERROR);
        /* A count that disagrees with the length, both ways. */
        memcpy(bad, buf, len);
        bad[2] = 3;
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        bad[2] = 1;
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        bad[2] = 2;
        bad[3] = 1; /* count 258 */
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        /* Version, reserved byte, kinds. */
        memcpy(bad, buf, len);
        bad[0] = 2;
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        bad[0] = 0;
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        memcpy(bad, buf, len);
        bad[1] = 1;
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        memcpy(bad, buf, len);
        bad[TOKEN_HEADER_BYTES + TOKEN_ENTRY_BYTES + 4] = 0; /* second entry's kind */
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        bad[TOKEN_HEADER_BYTES + TOKEN_ENTRY_BYTES + 4] = 4; /* W, R and T only */
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        bad[TOKEN_HEADER_BYTES + TOKEN_ENTRY_BYTES + 4] = 3; /* T, but of a partition */
        assert_int_equal(token_check(bad, len, NULL), TKV_USAGE_ERROR);
        /* NULL with a length. */
        assert_int_equal(token_check(NULL, 4, NULL), TKV_USAGE_ERROR);
        /* count is left 0 on failure. */
        count = 5;
        assert_int_equal(token_check(bad, len, &count), TKV_USAGE_ERROR);
        assert_int_equal(count, 0);
}

static void test_check_size_cap(void **state)
{
        size_t n = TOKEN_ENTRIES_MAX;
        struct ent *e = calloc(n + 1, sizeof(*e));
        uint8_t *buf = malloc(TOKEN_HEADER_BYTES + (n + 1) * TOKEN_ENTRY_BYTES);
        size_t len;
        size_t i;

        (void)state;
        assert_int_equal(TOKEN_ENTRIES_MAX, 389);
        for (i = 0; i <= n; i++) {
                e[i] = (struct ent){(uint32_t)i, W, i + 1, 0};
        }
        len = tok_make(buf, e, n);
        assert_true(len <= TKV_TOKEN_BYTES_MAX);
        assert_int_equal(token_check(buf, len, NULL), TKV_OK);
        len = tok_make(buf, e, n + 1);
        assert_true(len > TKV_TOKEN_BYTES_MAX);
        assert_int_equal(token_check(buf, len, NULL), TKV_TOO_LARGE);
        free(e);
        free(buf);
}

/* ---- Merging and encoding ---- */

static void test_merge_keeps_highest(void **state)
{
        static const struct ent a[] = {{3, W, 10, 0xa1}, {1, R, 50, 0xa2}, {1, W, 40, 0xa3}};
        static const struct ent b[] = {
            {3, W, 12, 0xb1}, {1, R, 49, 0xb2}, {5, R, 7, 0xb3}, {1, W, 40, 0xb4}};
        struct token *t = tok_new();
        uint8_t buf[256];
        size_t len;
        bool changed = false;

        (void)state;
        len = tok_make(buf, a, 3);
        assert_int_equal(token_merge(t, buf, len, false, &changed), TKV_OK);
        assert_true(changed);
        assert_int_equal(t->n, 3);
        len = tok_make(buf, b, 4);
        assert_int_equal(token_merge(t, buf, len, false, &changed), TKV_OK);
        assert_true(changed);
        assert_int_equal(t->n, 4);
        assert_int_equal(token_index(t, 3, W), 12); /* higher wins */
        assert_int_equal(tok_mac(t, 3, W), 0xb1);   /* with its own MAC */
        assert_int_equal(token_index(t, 1, R), 50); /* lower loses */
        assert_int_equal(tok_mac(t, 1, R), 0xa2);
        assert_int_equal(token_index(t, 1, W), 40); /* tie: the one held stays */
        assert_int_equal(tok_mac(t, 1, W), 0xa3);
        assert_int_equal(token_index(t, 5, R), 7);
        assert_int_equal(token_index(t, 5, W), 0); /* kinds are separate */
        assert_int_equal(token_index(t, 9, R), 0);
        /* Sorted by (partition, kind). */
        assert_int_equal(t->e[0].partition, 1);
        assert_int_equal(t->e[0].kind, W);
        assert_int_equal(t->e[1].partition, 1);
        assert_int_equal(t->e[1].kind, R);
        assert_int_equal(t->e[2].partition, 3);
        assert_int_equal(t->e[3].partition, 5);
        /* Merging what it already covers changes nothing. */
        len = tok_make(buf, a, 3);
        assert_int_equal(token_merge(t, buf, len, false, &changed), TKV_OK);
        assert_false(changed);
        assert_int_equal(token_merge(t, NULL, 0, false, &changed), TKV_OK);
        assert_false(changed);
        free(t);
}

static void test_merge_duplicates_in_one_token(void **state)
{
        static const struct ent a[] = {{4, R, 10, 1}, {4, R, 30, 2}, {4, R, 20, 3}};
        struct token *t = tok_new();
        uint8_t buf[128];
        size_t len = tok_make(buf, a, 3);

        (void)state;
        assert_int_equal(token_merge(t, buf, len, false, NULL), TKV_OK);
        assert_int_equal(t->n, 1);
        assert_int_equal(token_index(t, 4, R), 30);
        assert_int_equal(tok_mac(t, 4, R), 2);
        free(t);
}

static void test_merge_malformed_changes_nothing(void **state)
{
        static const struct ent a[] = {{1, W, 10, 1}};
        static const struct ent b[] = {{1, W, 99, 2}, {2, W, 5, 2}};
        struct token *t = tok_new();
        uint8_t buf[128];
        uint8_t enc[128];
        size_t len = tok_make(buf, a, 1);
        size_t cut;
        bool changed = true;

        (void)state;
        assert_int_equal(token_merge(t, buf, len, false, NULL), TKV_OK);
        len = tok_make(buf, b, 2);
        /* A truncated token, even one whose first entry is whole, adds
         * nothing. */
        for (cut = 1; cut < len; cut++) {
                assert_int_equal(token_merge(t, buf, cut, true, &changed), TKV_USAGE_ERROR);
                assert_false(changed);
        }
        buf[TOKEN_HEADER_BYTES + TOKEN_ENTRY_BYTES + 4] = 7; /* a bad second kind */
        assert_int_equal(token_merge(t, buf, len, true, NULL), TKV_USAGE_ERROR);
        assert_int_equal(t->n, 1);
        assert_int_equal(token_index(t, 1, W), 10);
        assert_int_equal(token_set(t, buf, len), TKV_USAGE_ERROR);
        assert_int_equal(token_index(t, 1, W), 10);
        assert_int_equal(token_encode(t, enc, sizeof(enc)), 4 + 21);
        free(t);
}

static void test_encode_canonical(void **state)
{
        static const struct ent a[] = {{9, R, 1, 1}, {0, W, 2, 2}, {9, W, 3, 3}};
        static const struct ent sorted[] = {{0, W, 2, 2}, {9, W, 3, 3}, {9, R, 1, 1}};
        struct token *t = tok_new();
        struct token *u = tok_new();
        uint8_t buf[128];
        uint8_t want[128];
        uint8_t enc[128];
        uint8_t small[8];
        size_t len = tok_make(buf, a, 3);
        size_t want_len = tok_make(want, sorted, 3);

        (void)state;
        assert_int_equal(token_encode(t, enc, sizeof(enc)), 0); /* empty: no bytes */
        assert_int_equal(token_set(t, buf, len), TKV_OK);
        assert_int_equal(token_encode(t, enc, sizeof(enc)), want_len);
        assert_memory_equal(enc, want, want_len);
        /* Too small a buffer: the length, and nothing written. */
        memset(small, 0xee, sizeof(small));
        assert_int_equal(token_encode(t, small, sizeof(small)), want_len);
        assert_int_equal(small[0], 0xee);
        assert_int_equal(token_encode(t, NULL, 0), want_len);
        /* Round trip. */
        assert_int_equal(token_set(u, enc, want_len), TKV_OK);
        assert_int_equal(token_encode(u, buf, sizeof(buf)), want_len);
        assert_memory_equal(buf, want, want_len);
        /* set replaces; the empty token empties. */
        assert_int_equal(token_set(u, NULL, 0), TKV_OK);
        assert_int_equal(u->n, 0);
        free(t);
        free(u);
}

/* Fill t with entries (p, W, 1) for p in [0, TOKEN_ENTRIES_MAX), merged one
 * per merge in partition order (partition 0 least recently). */
static void tok_fill(struct token *t)
{
        struct ent e;
        uint8_t buf[64];
        size_t len;
        uint32_t p;

        for (p = 0; p < TOKEN_ENTRIES_MAX; p++) {
                e = (struct ent){p, W, 1, (uint8_t)p};
                len = tok_make(buf, &e, 1);
                assert_int_equal(token_merge(t, buf, len, false, NULL), TKV_OK);
        }
        assert_int_equal(t->n, TOKEN_ENTRIES_MAX);
}

static void test_merge_cap(void **state)
{
        struct token *t = tok_new();
        uint8_t buf[TKV_TOKEN_BYTES_MAX];
        struct ent e[3];
        size_t len;
        bool changed = false;

        (void)state;
        tok_fill(t);
        assert_true(token_encode(t, buf, sizeof(buf)) <= TKV_TOKEN_BYTES_MAX);
        /* Updating entries it holds needs no room. */
        e[0] = (struct ent){5, W, 9, 0};
        len = tok_make(buf, e, 1);
        assert_int_equal(token_merge(t, buf, len, false, &changed), TKV_OK);
        assert_true(changed);
        /* A new pair without eviction: refused, nothing changes. */
        e[0] = (struct ent){1000, W, 1, 0};
        e[1] = (struct ent){0, W, 2, 0};
        len = tok_make(buf, e, 2);
        assert_int_equal(token_merge(t, buf, len, false, &changed), TKV_TOO_LARGE);
        assert_false(changed);
        assert_int_equal(token_index(t, 1000, W), 0);
        assert_int_equal(token_index(t, 0, W), 1);
        /* With eviction: the entry merged least recently that the new
         * token does not name goes (not partition 0, named; partition 1). */
        assert_int_equal(token_merge(t, buf, len, true, &changed), TKV_OK);
        assert_true(changed);
        assert_int_equal(t->n, TOKEN_ENTRIES_MAX);
        assert_int_equal(token_index(t, 1000, W), 1);
        assert_int_equal(token_index(t, 0, W), 2);
        assert_int_equal(token_index(t, 1, W), 0);
        assert_int_equal(token_index(t, 2, W), 1);
        assert_int_equal(token_index(t, 5, W), 9);
        /* Two new pairs: partitions 2 and 3 go next. */
        e[0] = (struct ent){1001, R, 1, 0};
        e[1] = (struct ent){1002, R, 1, 0};
        e[2] = (struct ent){1001, R, 4, 0}; /* a duplicate counts once */
        len = tok_make(buf, e, 3);
        assert_int_equal(token_merge(t, buf, len, true, NULL), TKV_OK);
        assert_int_equal(t->n, TOKEN_ENTRIES_MAX);
        assert_int_equal(token_index(t, 2, W), 0);
        assert_int_equal(token_index(t, 3, W), 0);
        assert_int_equal(token_index(t, 4, W), 1);
        assert_int_equal(token_index(t, 1001, R), 4);
        assert_true(token_encode(t, buf, sizeof(buf)) <= TKV_TOKEN_BYTES_MAX);
        free(t);
}

static void test_merge_cap_whole_token(void **state)
{
        struct token *t = tok_new();
        size_t n = TOKEN_ENTRIES_MAX;
        struct ent *e = calloc(n, sizeof(*e));
        uint8_t *buf = malloc(TKV_TOKEN_BYTES_MAX);
        size_t len;
        size_t i;

        (void)state;
        tok_fill(t);
        /* A full token of other pairs replaces every entry. */
        for (i = 0; i < n; i++) {
                e[i] = (struct ent){(uint32_t)(5000 + i), R, 3, 0};
        }
        len = tok_make(buf, e, n);
        assert_int_equal(token_merge(t, buf, len, true, NULL), TKV_OK);
        assert_int_equal(t->n, n);
        assert_int_equal(token_index(t, 0, W), 0);
        assert_int_equal(token_index(t, 5000, R), 3);
        assert_int_equal(token_index(t, (uint32_t)(5000 + n - 1), R), 3);
        free(e);
        free(buf);
        free(t);
}

/* ---- Comparing ---- */

static int cmp(const struct ent *a, size_t na, const struct ent *b, size_t nb)
{
        uint8_t x[256];
        uint8_t y[256];
        size_t lx = na > 0 ? tok_make(x, a, na) : 0;
        size_t ly = nb > 0 ? tok_make(y, b, nb) : 0;

        return tkv_token_compare(x, lx, y, ly);
}

static void test_compare(void **state)
{
        static const struct ent a[] = {{1, W, 10, 1}, {2, R, 5, 1}};
        static const struct ent a_other_mac[] = {{2, R, 5, 9}, {1, W, 10, 9}};
        static const struct ent more[] = {{1, W, 11, 1}, {2, R, 5, 1}};
        static const struct ent wider[] = {{1, W, 10, 1}, {2, R, 5, 1}, {3, W, 1, 1}};
        static const struct ent crossed[] = {{1, W, 11, 1}, {2, R, 4, 1}};
        static const struct ent other_kind[] = {{1, R, 10, 1}, {2, R, 5, 1}};
        static const struct ent dup[] = {{1, W, 3, 1}, {1, W, 10, 1}, {2, R, 5, 1}};

        (void)state;
        assert_int_equal(cmp(NULL, 0, NULL, 0), TKV_TOKEN_EQUAL);
        assert_int_equal(cmp(NULL, 0, a, 2), TKV_TOKEN_BEFORE);
        assert_int_equal(cmp(a, 2, NULL, 0), TKV_TOKEN_AFTER);
        assert_int_equal(cmp(a, 2, a, 2), TKV_TOKEN_EQUAL);
        /* Order of entries and MACs do not matter. */
        assert_int_equal(cmp(a, 2, a_other_mac, 2), TKV_TOKEN_EQUAL);
        assert_int_equal(cmp(a, 2, more, 2), TKV_TOKEN_BEFORE);
        assert_int_equal(cmp(more, 2, a, 2), TKV_TOKEN_AFTER);
        assert_int_equal(cmp(a, 2, wider, 3), TKV_TOKEN_BEFORE);
        assert_int_equal(cmp(wider, 3, a, 2), TKV_TOKEN_AFTER);
        assert_int_equal(cmp(a, 2, crossed, 2), TKV_TOKEN_CONCURRENT);
        assert_int_equal(cmp(wider, 3, more, 2), TKV_TOKEN_CONCURRENT);
        /* A W entry is not covered by an R entry of the same partition. */
        assert_int_equal(cmp(a, 2, other_kind, 2), TKV_TOKEN_CONCURRENT);
        /* Duplicates: each entry must be covered. */
        assert_int_equal(cmp(dup, 3, a, 2), TKV_TOKEN_EQUAL);
}

static void test_compare_malformed(void **state)
{
        static const struct ent a[] = {{1, W, 10, 1}};
        uint8_t x[64];
        uint8_t big[TKV_TOKEN_BYTES_MAX + 21];
        size_t len = tok_make(x, a, 1);

        (void)state;
        assert_true(tkv_token_compare(x, len - 1, x, len) < 0);
        assert_true(tkv_token_compare(x, len, x, len - 1) < 0);
        assert_int_equal(tkv_token_compare(x, 3, NULL, 0), -TKV_USAGE_ERROR);
        memset(big, 0, sizeof(big));
        assert_int_equal(tkv_token_compare(x, len, big, sizeof(big)), -TKV_TOO_LARGE);
        x[1] = 1;
        assert_true(tkv_token_compare(x, len, x, len) < 0);
}

/* ---- tkv_token_merge_bytes ---- */

static void test_merge_bytes(void **state)
{
        static const struct ent a[] = {{1, W, 10, 1}, {2, R, 5, 1}};
        static const struct ent b[] = {{1, W, 7, 2}, {3, R, 8, 2}};
        static const struct ent want[] = {{1, W, 10, 1}, {2, R, 5, 1}, {3, R, 8, 2}};
        uint8_t x[128];
        uint8_t y[128];
        uint8_t w[128];
        uint8_t out[128];
        size_t lx = tok_make(x, a, 2);
        size_t ly = tok_make(y, b, 2);
        size_t lw = tok_make(w, want, 3);
        size_t out_len = 0;

        (void)state;
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, ly, out, sizeof(out), &out_len), TKV_OK);
        assert_int_equal(out_len, lw);
        assert_memory_equal(out, w, lw);
        assert_int_equal(tkv_token_compare(x, lx, out, out_len), TKV_TOKEN_BEFORE);
        assert_int_equal(tkv_token_compare(y, ly, out, out_len), TKV_TOKEN_BEFORE);
        /* Empty inputs. */
        assert_int_equal(tkv_token_merge_bytes(NULL, 0, NULL, 0, NULL, 0, &out_len), TKV_OK);
        assert_int_equal(out_len, 0);
        assert_int_equal(tkv_token_merge_bytes(NULL, 0, y, ly, out, sizeof(out), &out_len), TKV_OK);
        assert_int_equal(out_len, ly);
        /* Too small an output: its length, nothing written. */
        memset(out, 0xee, sizeof(out));
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, ly, out, lw - 1, &out_len), TKV_TOO_LARGE);
        assert_int_equal(out_len, lw);
        assert_int_equal(out[0], 0xee);
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, ly, NULL, 0, &out_len), TKV_TOO_LARGE);
        assert_int_equal(out_len, lw);
        /* out may be an input. */
        memcpy(out, x, lx);
        assert_int_equal(tkv_token_merge_bytes(out, lx, y, ly, out, sizeof(out), &out_len), TKV_OK);
        assert_memory_equal(out, w, lw);
        /* Usage errors. */
        assert_int_equal(tkv_token_merge_bytes(x, lx - 1, y, ly, out, sizeof(out), &out_len),
                         TKV_USAGE_ERROR);
        assert_int_equal(out_len, 0);
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, 2, out, sizeof(out), &out_len),
                         TKV_USAGE_ERROR);
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, ly, out, sizeof(out), NULL),
                         TKV_USAGE_ERROR);
        assert_int_equal(tkv_token_merge_bytes(x, lx, y, ly, NULL, 10, &out_len), TKV_USAGE_ERROR);
}

static void test_merge_bytes_over_cap(void **state)
{
        size_t n = TOKEN_ENTRIES_MAX;
        struct ent *e = calloc(n, sizeof(*e));
        uint8_t *x = malloc(TKV_TOKEN_BYTES_MAX);
        uint8_t *y = malloc(TKV_TOKEN_BYTES_MAX);
        uint8_t *out = malloc(2 * TKV_TOKEN_BYTES_MAX);
        size_t lx;
        size_t ly;
        size_t out_len = 1;
        size_t i;

        (void)state;
        for (i = 0; i < n; i++) {
                e[i] = (struct ent){(uint32_t)i, W, 1, 0};
        }
        lx = tok_make(x, e, n);
        e[0].partition = 100000; /* one pair x lacks */
        ly = tok_make(y, e, 1);
        assert_int_equal(
            tkv_token_merge_bytes(x, lx, y, ly, out, 2 * TKV_TOKEN_BYTES_MAX, &out_len),
            TKV_TOO_LARGE);
        assert_int_equal(out_len, 0);
        free(e);
        free(x);
        free(y);
        free(out);
}

/* An allocator that fails every allocation. */
static void *fail_malloc(void *data, size_t size)
{
        (void)data;
        (void)size;
        return NULL;
}

static void *fail_realloc(void *data, void *ptr, size_t size)
{
        (void)data;
        (void)ptr;
        (void)size;
        return NULL;
}

static void pass_free(void *data, void *ptr)
{
        (void)data;
        free(ptr);
}

static void test_merge_bytes_no_memory(void **state)
{
        static const struct ent a[] = {{1, W, 10, 1}};
        const struct tkv_heap failing = {NULL, fail_malloc, fail_realloc, pass_free};
        uint8_t x[64];
        uint8_t out[64];
        size_t lx = tok_make(x, a, 1);
        size_t out_len = 7;
        int rv;

        (void)state;
        heap_set(&failing);
        rv = tkv_token_merge_bytes(x, lx, x, lx, out, sizeof(out), &out_len);
        heap_set(NULL);
        assert_int_equal(rv, TKV_NO_MEMORY);
        assert_int_equal(out_len, 0);
        /* Usage errors are found before allocating. */
        heap_set(&failing);
        rv = tkv_token_merge_bytes(x, 2, x, lx, out, sizeof(out), &out_len);
        heap_set(NULL);
        assert_int_equal(rv, TKV_USAGE_ERROR);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_check_good),
            cmocka_unit_test(test_check_malformed),
            cmocka_unit_test(test_check_size_cap),
            cmocka_unit_test(test_merge_keeps_highest),
            cmocka_unit_test(test_merge_duplicates_in_one_token),
            cmocka_unit_test(test_merge_malformed_changes_nothing),
            cmocka_unit_test(test_encode_canonical),
            cmocka_unit_test(test_merge_cap),
            cmocka_unit_test(test_merge_cap_whole_token),
            cmocka_unit_test(test_compare),
            cmocka_unit_test(test_compare_malformed),
            cmocka_unit_test(test_merge_bytes),
            cmocka_unit_test(test_merge_bytes_over_cap),
            cmocka_unit_test(test_merge_bytes_no_memory),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
