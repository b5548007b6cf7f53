/* Session tokens of libtunekv (see token.h).
 *
 * Every function that takes token bytes checks the whole token first
 * (token_check) and only then reads entries, so a malformed or truncated
 * token changes nothing. Merging inserts into the sorted entry array (at
 * most TOKEN_ENTRIES_MAX, a few hundred, so linear moves are cheap);
 * comparing works on the bytes directly, with no copy, because the
 * public compare helper takes two arbitrary tokens and must not allocate.
 *
 * Overflow: a session that touched more partitions than TOKEN_ENTRIES_MAX
 * entries can describe cannot keep every entry, and the server would refuse
 * a longer token anyway. The client's automatic merges then drop the
 * entries merged least recently (the guarantees of those partitions are
 * lost for this session, not those of the partitions in use); explicit
 * merges fail instead (token_merge's evict flag).
 *
 * The two public helpers that need no client (tkv_token_merge_bytes and
 * tkv_token_compare) live here too; the others are in client_token.c, next to
 * the session token they work on. */
#include "token.h"

#include <string.h>

#include "buffer.h"
#include "heap.h"

/* One entry decoded from bytes. */
static void token_entry_read(struct token_entry *e, const uint8_t *p)
{
        e->partition = get_le32(p);
        e->kind = p[4];
        e->index = get_le64(p + 5);
        memcpy(e->mac, p + 13, TOKEN_MAC_BYTES);
        e->used = 0;
}

static void token_entry_write(const struct token_entry *e, uint8_t *p)
{
        put_le32(p, e->partition);
        p[4] = e->kind;
        put_le64(p + 5, e->index);
        memcpy(p + 13, e->mac, TOKEN_MAC_BYTES);
}

/* Order of (partition, kind) keys: <0, 0, >0. */
static int token_key_cmp(uint32_t pa, uint8_t ka, uint32_t pb, uint8_t kb)
{
        if (pa != pb) {
                return pa < pb ? -1 : 1;
        }
        return ka == kb ? 0 : (ka < kb ? -1 : 1);
}

void token_init(struct token *t)
{
        t->n = 0;
        t->clock = 0;
}

int token_check(const void *b, size_t len, size_t *count)
{
        const uint8_t *p = b;
        size_t n;
        size_t i;

        if (count != NULL) {
                *count = 0;
        }
        if (len == 0) {
                return TKV_OK;
        }
        if (len > TOKEN_BYTES_MAX) {
                return TKV_TOO_LARGE;
        }
        if (p == NULL || len < TOKEN_HEADER_BYTES || p[0] != TOKEN_VERSION || p[1] != 0) {
                return TKV_USAGE_ERROR;
        }
        n = (size_t)p[2] | (size_t)p[3] << 8;
        if (len != TOKEN_HEADER_BYTES + n * TOKEN_ENTRY_BYTES) {
                return TKV_USAGE_ERROR; /* truncated, or bytes after the last entry */
        }
        for (i = 0; i < n; i++) {
                const uint8_t *e = p + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES;
                if ((e[4] != TOKEN_KIND_W && e[4] != TOKEN_KIND_R && e[4] != TOKEN_KIND_T) ||
                    (e[4] == TOKEN_KIND_T && get_le32(e) != UINT32_MAX)) {
                        return TKV_USAGE_ERROR;
                }
        }
        if (count != NULL) {
                *count = n;
        }
        return TKV_OK;
}

/* Position of (partition, kind) in t: its entry, or where it would go.
 * *found says which. */
static unsigned token_find(const struct token *t, uint32_t partition, uint8_t kind, bool *found)
{
        unsigned lo = 0;
        unsigned hi = t->n;
        unsigned mid;
        int cmp;

        while (lo < hi) {
                mid = lo + (hi - lo) / 2;
                cmp = token_key_cmp(t->e[mid].partition, t->e[mid].kind, partition, kind);
                if (cmp == 0) {
                        *found = true;
                        return mid;
                }
                if (cmp < 0) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        *found = false;
        return lo;
}

uint64_t token_index(const struct token *t, uint32_t partition, uint8_t kind)
{
        bool found;
        unsigned i = token_find(t, partition, kind, &found);

        return found ? t->e[i].index : 0;
}

/* Whether the n entries at p name (partition, kind); skip: the entry at
 * this position, not counted. */
static bool token_bytes_have(const uint8_t *p, size_t n, size_t skip, uint32_t partition,
                             uint8_t kind)
{
        const uint8_t *q;
        size_t i;

        for (i = 0; i < n; i++) {
                q = p + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES;
                if (i != skip && get_le32(q) == partition && q[4] == kind) {
                        return true;
                }
        }
        return false;
}

/* Entries that the n entries of checked token p would add to t. */
static size_t token_count_new(const struct token *t, const uint8_t *p, size_t n)
{
        struct token_entry e;
        size_t fresh = 0;
        bool found;
        size_t i;

        for (i = 0; i < n; i++) {
                token_entry_read(&e, p + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES);
                token_find(t, e.partition, e.kind, &found);
                /* A pair named twice in p counts once: at its first entry. */
                if (!found && !token_bytes_have(p, i, SIZE_MAX, e.partition, e.kind)) {
                        fresh++;
                }
        }
        return fresh;
}

/* Drop the `drop` entries of t merged least recently that checked token p
 * (n entries) does not name. There are enough: p names at most n pairs and
 * t holds at least drop + (pairs of p that t holds). */
static void token_evict(struct token *t, const uint8_t *p, size_t n, size_t drop)
{
        unsigned victim;
        unsigned i;

        while (drop > 0) {
                victim = t->n;
                for (i = 0; i < t->n; i++) {
                        if (token_bytes_have(p, n, SIZE_MAX, t->e[i].partition, t->e[i].kind)) {
                                continue;
                        }
                        if (victim == t->n || t->e[i].used < t->e[victim].used) {
                                victim = i;
                        }
                }
                if (victim == t->n) {
                        return; /* cannot happen: see above */
                }
                memmove(&t->e[victim], &t->e[victim + 1], (t->n - victim - 1) * sizeof(t->e[0]));
                t->n--;
                drop--;
        }
}

/* Merge one entry into t, which has room for it. Returns whether t's
 * encoding changed. */
static bool token_merge_entry(struct token *t, const struct token_entry *e)
{
        bool found;
        unsigned i = token_find(t, e->partition, e->kind, &found);

        if (found) {
                t->e[i].used = t->clock;
                if (e->index <= t->e[i].index) {
                        return false;
                }
                t->e[i] = *e;
                t->e[i].used = t->clock;
                return true;
        }
        memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(t->e[0]));
        t->e[i] = *e;
        t->e[i].used = t->clock;
        t->n++;
        return true;
}

int token_merge(struct token *t, const void *b, size_t len, bool evict, bool *changed)
{
        const uint8_t *p = b;
        struct token_entry e;
        size_t fresh;
        size_t n = 0;
        size_t i;
        bool any = false;
        int rv = token_check(b, len, &n);

        if (changed != NULL) {
                *changed = false;
        }
        if (rv != TKV_OK || n == 0) {
                return rv;
        }
        fresh = token_count_new(t, p, n);
        if (t->n + fresh > TOKEN_ENTRIES_MAX) {
                if (!evict) {
                        return TKV_TOO_LARGE;
                }
                token_evict(t, p, n, t->n + fresh - TOKEN_ENTRIES_MAX);
                any = true;
        }
        t->clock++;
        for (i = 0; i < n; i++) {
                token_entry_read(&e, p + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES);
                any = token_merge_entry(t, &e) || any;
        }
        if (changed != NULL) {
                *changed = any;
        }
        return TKV_OK;
}

int token_set(struct token *t, const void *b, size_t len)
{
        int rv = token_check(b, len, NULL);

        if (rv != TKV_OK) {
                return rv;
        }
        t->n = 0;
        /* A checked token has at most TOKEN_ENTRIES_MAX entries: no room
         * is ever missing, so this cannot fail. */
        return token_merge(t, b, len, false, NULL);
}

size_t token_encode(const struct token *t, void *out, size_t cap)
{
        size_t len = t->n > 0 ? TOKEN_HEADER_BYTES + (size_t)t->n * TOKEN_ENTRY_BYTES : 0;
        uint8_t *p = out;
        unsigned i;

        if (len == 0 || cap < len) {
                return len;
        }
        p[0] = TOKEN_VERSION;
        p[1] = 0;
        p[2] = (uint8_t)t->n;
        p[3] = (uint8_t)(t->n >> 8);
        for (i = 0; i < t->n; i++) {
                token_entry_write(&t->e[i], p + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES);
        }
        return len;
}

/* Whether checked token a (na entries) <= checked token b (nb entries). */
static bool token_bytes_leq(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
        const uint8_t *x;
        const uint8_t *y;
        bool covered;
        size_t i;
        size_t j;

        for (i = 0; i < na; i++) {
                x = a + TOKEN_HEADER_BYTES + i * TOKEN_ENTRY_BYTES;
                covered = false;
                for (j = 0; j < nb && !covered; j++) {
                        y = b + TOKEN_HEADER_BYTES + j * TOKEN_ENTRY_BYTES;
                        covered = get_le32(x) == get_le32(y) && x[4] == y[4] &&
                                  get_le64(x + 5) <= get_le64(y + 5);
                }
                if (!covered) {
                        return false;
                }
        }
        return true;
}

int token_compare(const void *a, size_t alen, const void *b, size_t blen)
{
        size_t na = 0;
        size_t nb = 0;
        bool le;
        bool ge;
        int rv = token_check(a, alen, &na);

        if (rv == TKV_OK) {
                rv = token_check(b, blen, &nb);
        }
        if (rv != TKV_OK) {
                return -rv;
        }
        le = token_bytes_leq(a, na, b, nb);
        ge = token_bytes_leq(b, nb, a, na);
        if (le && ge) {
                return TKV_TOKEN_EQUAL;
        }
        if (le) {
                return TKV_TOKEN_BEFORE;
        }
        return ge ? TKV_TOKEN_AFTER : TKV_TOKEN_CONCURRENT;
}

/* ---- Public helpers that need no client (include/tunekv.h) ---- */

int tkv_token_compare(const void *a, size_t alen, const void *b, size_t blen)
{
        return token_compare(a, alen, b, blen);
}

int tkv_token_merge_bytes(const void *a, size_t alen, const void *b, size_t blen, void *out,
                          size_t cap, size_t *out_len)
{
        struct token *t = NULL;
        size_t len;
        int rv;

        if (out_len == NULL || (out == NULL && cap > 0)) {
                return TKV_USAGE_ERROR;
        }
        *out_len = 0;
        rv = token_check(a, alen, NULL);
        if (rv == TKV_OK) {
                rv = token_check(b, blen, NULL);
        }
        if (rv != TKV_OK) {
                return rv;
        }
        /* A struct token is a few KiB: too much for a caller's stack. */
        t = tkv_malloc(sizeof(*t));
        if (t == NULL) {
                return TKV_NO_MEMORY;
        }
        token_init(t);
        rv = token_merge(t, a, alen, false, NULL);
        if (rv == TKV_OK) {
                rv = token_merge(t, b, blen, false, NULL);
        }
        if (rv == TKV_OK) {
                /* Both inputs are in t: out may overlap them. */
                len = token_encode(t, out, cap);
                *out_len = len;
                rv = len > cap ? TKV_TOO_LARGE : TKV_OK;
        }
        tkv_free(t);
        return rv;
}
