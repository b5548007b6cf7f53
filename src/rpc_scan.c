/* SCAN: the keys of a prefix or of a range [start, end), in key order, a
 * page at a time (docs/protocol.md "SCAN", docs/consistency.md "Scans").
 *
 * The node the request reaches serves it from its own replicas, which must
 * include every partition the scan touches: all of them (keys are hashed
 * over the partitions, so any prefix lives in every one), or the single
 * partition a prefix with a whole hash tag ("{user42}:") pins. A round
 * runs in one loop turn, so nothing applies meanwhile and each partition
 * is read at one applied index: it seeks every partition's ordered index
 * (store.h) to the start (or just past the cursor), merges the partitions
 * in key order up to the page's limit and byte budget, then checks the
 * level exactly as a GET_MANY round does (rpc_many_ready): at SEQUENTIAL
 * every partition must be closed at T, the highest of the floor, the
 * page's values' timestamps and the partitions' last deletes' timestamps,
 * so the page is every partition's state at T. If one is not, the call
 * waits like a GET_MANY and the next round reads everything again (the
 * entries of a round are never kept across a wait: writes free them).
 * EVENTUAL reads each replica as it is, in one round. LINEARIZABLE is
 * served for a scan of one partition (a hash-tag prefix) by its leader
 * alone, after a read fence as a GET's (rpc_read.c); a scan of several
 * partitions by the node it reaches, as a double collect: the page stands
 * once every partition proved itself current as of its first reading and
 * a second reading shows the same page (rpc_scan_settled).
 *
 * A page ends at limit keys, at the byte budget (min of scan_bytes_max and
 * frame_bytes_max less a margin; a page always holds one key), or at the
 * end of the range. With more keys left it says more and gives the last
 * key as the cursor: the next page starts after it, at whatever state the
 * partitions have then, so a key is seen once across pages, in order,
 * unless it was written meanwhile (then as of its page).
 *
 * The request lives in the call's own key space, so a wait keeps it:
 *
 *   struct rpc_scan_head | u64 required_index[cap] | u32 part[cap] | lo | end | cursor
 *
 * lo is the prefix (prefix scans) or the range's start. The page reads
 * part[0 .. n_parts - 1] (n_parts <= cap): every partition the scan's keys
 * can be in, the ones the request names (ScanRequest.partitions), or, when
 * the scan is spread over nodes (rpc_fanout.c), the share of them hosted
 * here; that round's page is then handed to the fan-out, not answered.
 *
 * A WATCH starts with such a round (rpc_scan_watch): one key (lo, in its
 * partition) or a prefix, count_only, limit 1; its answer is not a page
 * but the stream's start, each partition at the index the round read it
 * at (rpc_watch_begin). Its layout adds, after the cursor, u64
 * start[n_parts]: 0 to start from the round, else the client's index + 1
 * (a resume). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "changes.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"
#include "store.h"
#include "value.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

/* Bytes an item takes in the answer besides its key and value (tags,
 * lengths, indexes, partition, timestamp), counted against the budget. */
#define RPC_SCAN_ITEM_BYTES 48
/* What the rest of an answer (receipts, token, envelope) may take of a
 * frame; the items get frame_bytes_max less this. */
#define RPC_SCAN_FRAME_MARGIN_BYTES 65536

struct rpc_scan_head {
        uint32_t limit;      /* keys per page, clamped to scan_limit_max */
        uint32_t lo_len;     /* prefix or start */
        uint32_t end_len;    /* range end; 0: none */
        uint32_t cursor_len; /* 0: the first page */
        uint32_t first;      /* WATCH: the partitions read are first .. first + n_parts - 1 */
        uint32_t n_parts;    /* the partitions read: part[0 .. n_parts - 1] */
        uint32_t cap;        /* the layout's arrays' length (n_parts at most) */
        bool named; /* the partitions were named (a fan-out's share): never the leader's path */
        uint64_t bytes_max; /* the request's byte budget (0: the node's) */
        bool prefix;        /* lo is a prefix (else a range's start) */
        bool keys_only;     /* no values */
        bool count_only;    /* no items */
        bool watch;         /* a WATCH's start: then u64 start[n_parts] follow the cursor */
        bool watch_prefix;  /* ... of every key under lo, else of lo alone */
        uint32_t watch_staleness_ms; /* ... BOUNDED_STALENESS: its bound, kept while it runs */
        uint64_t digest;             /* LINEARIZABLE over partitions: the collected page's */
};

/* The layout above, read in place. */
struct rpc_scan_view {
        struct rpc_scan_head h;
        uint8_t *required; /* cap u64 */
        uint8_t *part;     /* cap u32 */
        const uint8_t *lo, *end, *cursor;
};

/* One key of a page. */
struct rpc_scan_hit {
        const struct store_entry *e;
        uint32_t partition;
};

static struct rpc_scan_view rpc_scan_view_of(struct call *c)
{
        struct rpc_scan_view v;

        memcpy(&v.h, c->key, sizeof v.h);
        v.required = c->key + sizeof v.h;
        v.part = v.required + 8 * (size_t)v.h.cap;
        v.lo = v.part + 4 * (size_t)v.h.cap;
        v.end = v.lo + v.h.lo_len;
        v.cursor = v.end + v.h.end_len;
        return v;
}

static uint64_t rpc_scan_required(const struct rpc_scan_view *v, uint32_t k)
{
        uint64_t r;
        memcpy(&r, v->required + 8 * (size_t)k, sizeof r);
        return r;
}

/* The k-th partition the page reads. */
static uint32_t rpc_scan_part(const struct rpc_scan_view *v, uint32_t k)
{
        uint32_t p;
        memcpy(&p, v->part + 4 * (size_t)k, sizeof p);
        return p;
}

/* The partition a prefix pins: the whole prefix is in each key, hash tag
 * included, when the prefix holds a complete tag ("{t}"). -1: none. */
static int64_t rpc_scan_tag_partition(const ProtobufCBinaryData *prefix, unsigned n_partitions)
{
        size_t tag_len;
        const void *tag = key_hash_tag(prefix->data, prefix->len, &tag_len);

        if (prefix->len == 0 || tag == (const void *)prefix->data) {
                return -1;
        }
        return route_partition(key_hash_partition(prefix->data, prefix->len), n_partitions);
}

size_t rpc_scan_call_bytes(const Tunekv__V1__Request *req, unsigned n_partitions)
{
        const Tunekv__V1__ScanRequest *s = req->scan;
        size_t n_parts = s->n_partitions > 0                                     ? s->n_partitions
                         : rpc_scan_tag_partition(&s->prefix, n_partitions) >= 0 ? 1
                                                                                 : n_partitions;

        return sizeof(struct rpc_scan_head) + 12 * n_parts + s->prefix.len + s->start.len +
               s->end.len + s->cursor.len;
}

/* Copy b's bytes to p (an empty field has no data pointer); returns the
 * end. */
static uint8_t *rpc_scan_put(uint8_t *p, const ProtobufCBinaryData *b)
{
        if (b->len > 0) {
                memcpy(p, b->data, b->len);
        }
        return p + b->len;
}

void rpc_scan_call_fill(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ScanRequest *s = req->scan;
        const struct config *cfg = c->node->cfg;
        int64_t tag = rpc_scan_tag_partition(&s->prefix, c->node->n_partitions);
        struct rpc_scan_head h;
        const ProtobufCBinaryData *lo = s->prefix.len > 0 ? &s->prefix : &s->start;
        uint8_t *p;

        memset(&h, 0, sizeof h);
        h.limit = s->limit == 0 || s->limit > cfg->scan_limit_max ? cfg->scan_limit_max : s->limit;
        h.lo_len = (uint32_t)lo->len;
        h.end_len = (uint32_t)s->end.len;
        h.cursor_len = (uint32_t)s->cursor.len;
        h.first = tag >= 0 ? (uint32_t)tag : 0;
        h.n_parts = s->n_partitions > 0 ? (uint32_t)s->n_partitions
                    : tag >= 0          ? 1
                                        : c->node->n_partitions;
        h.cap = h.n_parts;
        h.named = s->n_partitions > 0;
        h.bytes_max = s->bytes_max;
        h.prefix = s->prefix.len > 0;
        h.keys_only = s->keys_only;
        h.count_only = s->count_only;
        memcpy(c->key, &h, sizeof h);
        p = c->key + sizeof h;
        memset(p, 0, 8 * (size_t)h.cap);
        p += 8 * (size_t)h.cap;
        for (uint32_t k = 0; k < h.cap; k++, p += 4) {
                uint32_t part = h.named ? s->partitions[k] : h.first + k;
                memcpy(p, &part, sizeof part);
        }
        p = rpc_scan_put(p, lo);
        p = rpc_scan_put(p, &s->end);
        (void)rpc_scan_put(p, &s->cursor);
}

static bool rpc_scan_has_prefix(const void *key, size_t len, const void *prefix, size_t prefix_len)
{
        return len >= prefix_len && (prefix_len == 0 || memcmp(key, prefix, prefix_len) == 0);
}

/* Is key (len bytes) a key of the scan: under the prefix, or in
 * [start, end)? */
static bool rpc_scan_in_range(bool prefix, const void *lo, size_t lo_len, const void *end,
                              size_t end_len, const void *key, size_t len)
{
        if (prefix) {
                return rpc_scan_has_prefix(key, len, lo, lo_len);
        }
        return store_key_cmp(key, (uint32_t)len, lo, (uint32_t)lo_len) >= 0 &&
               (end_len == 0 || store_key_cmp(key, (uint32_t)len, end, (uint32_t)end_len) < 0);
}

/* Checks on the request's own bytes, before a call exists: the scan's
 * shape, lengths, and a cursor that belongs to it. */
int rpc_scan_admit(const Tunekv__V1__Request *req, const struct config *cfg, char *message,
                   size_t len)
{
        const Tunekv__V1__ScanRequest *s = req->scan;
        const ProtobufCBinaryData *parts[] = {&s->prefix, &s->start, &s->end, &s->cursor};
        static const char *const names[] = {"prefix", "start", "end", "cursor"};

        for (size_t i = 0; i < 4; i++) {
                if (parts[i]->len > cfg->key_bytes_max) {
                        snprintf(message, len,
                                 "SCAN: %s of %zu bytes exceeds key_bytes_max (%llu): no key "
                                 "is longer",
                                 names[i], parts[i]->len, (unsigned long long)cfg->key_bytes_max);
                        return TKV_ETOOBIG;
                }
        }
        if (s->n_partitions > CONFIG_PARTITIONS_MAX) {
                snprintf(message, len, "SCAN: %zu partitions named: a cluster has at most %d",
                         s->n_partitions, CONFIG_PARTITIONS_MAX);
                return TKV_EINVAL;
        }
        for (size_t i = 1; i < s->n_partitions; i++) {
                if (s->partitions[i] <= s->partitions[i - 1]) {
                        snprintf(message, len,
                                 "SCAN: partitions must be named in ascending order, each once");
                        return TKV_EINVAL;
                }
        }
        if (s->prefix.len > 0 && (s->start.len > 0 || s->end.len > 0)) {
                snprintf(message, len, "SCAN: give a prefix or a range (start, end), not both");
                return TKV_EINVAL;
        }
        if (s->end.len > 0 && store_key_cmp(s->end.data, (uint32_t)s->end.len, s->start.data,
                                            (uint32_t)s->start.len) < 0) {
                snprintf(message, len,
                         "SCAN: end sorts before start: the range [start, end) "
                         "must not run backwards");
                return TKV_EINVAL;
        }
        if (s->cursor.len > 0 &&
            !rpc_scan_in_range(s->prefix.len > 0,
                               s->prefix.len > 0 ? s->prefix.data : s->start.data,
                               s->prefix.len > 0 ? s->prefix.len : s->start.len, s->end.data,
                               s->end.len, s->cursor.data, s->cursor.len)) {
                snprintf(message, len,
                         "SCAN: the cursor is not a key of this scan's prefix or range: pass "
                         "back the cursor of the previous page of the same scan");
                return TKV_EINVAL;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* A round */

/* The first entry of partition store st the page may hold, or NULL. */
static const struct store_entry *rpc_scan_first(const struct rpc_scan_view *v,
                                                const struct store *st)
{
        const struct store_entry *e;

        if (v->h.cursor_len == 0) {
                return store_seek(st, v->lo, v->h.lo_len);
        }
        e = store_seek(st, v->cursor, v->h.cursor_len);
        if (e != NULL) {
                uint32_t len;
                const uint8_t *k = store_entry_key(e, &len);
                if (store_key_cmp(k, len, v->cursor, v->h.cursor_len) == 0) {
                        e = store_next(e);
                }
        }
        return e;
}

/* e if it is a key of the scan, else NULL (every later key is out too:
 * the scan's keys are contiguous in key order). */
static const struct store_entry *rpc_scan_keep(const struct rpc_scan_view *v,
                                               const struct store_entry *e)
{
        uint32_t len;
        const uint8_t *k;

        if (e == NULL) {
                return NULL;
        }
        k = store_entry_key(e, &len);
        return rpc_scan_in_range(v->h.prefix, v->lo, v->h.lo_len, v->end, v->h.end_len, k, len)
                   ? e
                   : NULL;
}

static uint64_t rpc_scan_budget(const struct config *cfg)
{
        uint64_t frame = cfg->frame_bytes_max > 2 * RPC_SCAN_FRAME_MARGIN_BYTES
                             ? cfg->frame_bytes_max - RPC_SCAN_FRAME_MARGIN_BYTES
                             : cfg->frame_bytes_max / 2;
        return cfg->scan_bytes_max < frame ? cfg->scan_bytes_max : frame;
}

static uint64_t rpc_scan_item_bytes(const struct rpc_scan_view *v, const struct store_entry *e)
{
        struct store_fields f;
        if (v->h.count_only) {
                return 0;
        }
        store_entry_fields(e, &f);
        return RPC_SCAN_ITEM_BYTES + f.key_len + (v->h.keys_only ? 0 : f.value_raw_len);
}

/* A key of the scan changed after the page's T (a page read as of T):
 * its entry then (NULL: absent then). */
struct rpc_scan_old {
        const uint8_t *key;
        uint32_t len;
        const struct store_entry *e;
};

/* One partition's keys of the page, in key order: its ordered index from
 * at on, and for a page as of T, the keys changed since (old[i ..
 * n_old - 1], sorted) in place of theirs. head: the next entry, or NULL. */
struct rpc_scan_run {
        const struct store_entry *at;
        const struct rpc_scan_old *old;
        uint32_t i, n_old;
        const struct store_entry *head;
        bool head_old; /* head is old[i]'s */
};

/* Find r's next entry: the index's, unless its key changed since T, in
 * key order with the changed keys' entries as of T (absent then: none). */
static void rpc_scan_run_peek(const struct rpc_scan_view *v, struct rpc_scan_run *r)
{
        for (;;) {
                const struct rpc_scan_old *o = r->i < r->n_old ? &r->old[r->i] : NULL;
                int cmp = o == NULL ? -1 : r->at == NULL ? 1 : 0;
                if (o != NULL && r->at != NULL) {
                        uint32_t len;
                        const uint8_t *k = store_entry_key(r->at, &len);
                        cmp = store_key_cmp(k, len, o->key, o->len);
                }
                if (cmp < 0 || (r->at == NULL && o == NULL)) {
                        r->head = r->at; /* unchanged since T (or the end) */
                        r->head_old = false;
                        return;
                }
                if (cmp == 0) {
                        r->at = rpc_scan_keep(v, store_next(r->at)); /* old[i] stands for it */
                }
                if (o->e != NULL) {
                        r->head = o->e;
                        r->head_old = true;
                        return;
                }
                r->i++; /* absent as of T */
        }
}

static void rpc_scan_run_advance(const struct rpc_scan_view *v, struct rpc_scan_run *r)
{
        if (r->head_old) {
                r->i++;
        } else {
                r->at = rpc_scan_keep(v, store_next(r->at));
        }
        rpc_scan_run_peek(v, r);
}

/* Merge the partitions' runs (advanced in place) into hits, in key order,
 * up to the limit and the budget. Returns the count; *more says whether
 * keys of the scan were left. */
static uint32_t rpc_scan_merge(struct call *c, const struct rpc_scan_view *v,
                               struct rpc_scan_run *runs, struct rpc_scan_hit *hits, bool *more)
{
        uint64_t budget = rpc_scan_budget(c->node->cfg), bytes = 0;

        if (v->h.bytes_max != 0 && v->h.bytes_max < budget) {
                budget = v->h.bytes_max;
        }
        uint32_t n = 0;

        for (uint32_t j = 0; j < v->h.n_parts; j++) {
                rpc_scan_run_peek(v, &runs[j]);
        }
        for (;;) {
                int64_t best = -1;
                uint32_t best_len = 0, len;
                const uint8_t *best_key = NULL, *k;
                for (uint32_t j = 0; j < v->h.n_parts; j++) {
                        if (runs[j].head == NULL) {
                                continue;
                        }
                        k = store_entry_key(runs[j].head, &len);
                        if (best < 0 || store_key_cmp(k, len, best_key, best_len) < 0) {
                                best = j;
                                best_key = k;
                                best_len = len;
                        }
                }
                *more = best >= 0;
                if (best < 0 || n == v->h.limit ||
                    (n > 0 && bytes + rpc_scan_item_bytes(v, runs[best].head) > budget)) {
                        return n;
                }
                bytes += rpc_scan_item_bytes(v, runs[best].head);
                hits[n].e = runs[best].head;
                hits[n++].partition = rpc_scan_part(v, (uint32_t)best);
                rpc_scan_run_advance(v, &runs[best]);
        }
}

/* The keys of the scan changed since T in one partition, gathered. */
struct rpc_scan_since {
        const struct rpc_scan_view *v;
        struct rpc_scan_old *a;
        uint32_t n, cap;
        bool failed;
};

static void rpc_scan_since_add(void *arg, const uint8_t *key, uint32_t len,
                               const struct store_entry *e)
{
        struct rpc_scan_since *s = arg;
        const struct rpc_scan_view *v = s->v;

        if (s->failed ||
            !rpc_scan_in_range(v->h.prefix, v->lo, v->h.lo_len, v->end, v->h.end_len, key, len) ||
            (v->h.cursor_len > 0 && store_key_cmp(key, len, v->cursor, v->h.cursor_len) <= 0)) {
                return;
        }
        if (s->n == s->cap) {
                uint32_t cap = s->cap == 0 ? 16 : 2 * s->cap;
                struct rpc_scan_old *a = tkv_realloc(s->a, cap * sizeof *a);
                if (a == NULL) {
                        s->failed = true;
                        return;
                }
                s->a = a;
                s->cap = cap;
        }
        s->a[s->n].key = key;
        s->a[s->n].len = len;
        s->a[s->n++].e = e;
}

static int rpc_scan_old_cmp(const void *a, const void *b)
{
        const struct rpc_scan_old *x = a, *y = b;
        return store_key_cmp(x->key, x->len, y->key, y->len);
}

/* T of a page: the floor, its values' timestamps, and each partition's
 * last delete's (a key absent from the page is known absent as of it). */
static uint64_t rpc_scan_ts(struct call *c, const struct rpc_scan_view *v,
                            const struct rpc_scan_hit *hits, uint32_t n)
{
        uint64_t ts = c->rd.bound.required_ts;

        for (uint32_t i = 0; i < n; i++) {
                struct store_fields f;
                store_entry_fields(hits[i].e, &f);
                ts = f.ts > ts ? f.ts : ts;
        }
        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                uint64_t t = group_delete_ts(node_group(c->node, rpc_scan_part(v, k)));
                ts = t > ts ? t : ts;
        }
        return ts;
}

static void rpc_scan_answer(struct call *c, const struct rpc_scan_view *v,
                            const struct rpc_scan_hit *hits, uint32_t n, bool more, uint64_t ts);
static void rpc_scan_watch_begin(struct call *c, const struct rpc_scan_view *v);

/* What a page is: its keys, their partitions and versions, and whether
 * keys follow. Two pages with one digest show the same state (up to a
 * 64-bit collision). */
static uint64_t rpc_scan_digest(const struct rpc_scan_hit *hits, uint32_t n, bool more)
{
        XXH64_state_t st;
        uint8_t m = more;

        XXH64_reset(&st, 0);
        XXH64_update(&st, &n, sizeof n);
        XXH64_update(&st, &m, sizeof m);
        for (uint32_t i = 0; i < n; i++) {
                uint32_t len;
                const uint8_t *k = store_entry_key(hits[i].e, &len);
                uint64_t version = store_entry_mod_index(hits[i].e);
                XXH64_update(&st, &hits[i].partition, sizeof hits[i].partition);
                XXH64_update(&st, &len, sizeof len);
                XXH64_update(&st, k, len);
                XXH64_update(&st, &version, sizeof version);
        }
        return XXH64_digest(&st);
}

/* LINEARIZABLE over several partitions, a double collect as GET_MANY's
 * (rpc_many.c): the first page read (collected, its digest kept) stands
 * if, once every partition proved itself current as of that moment, the
 * page reads the same again; then it was every partition's latest state
 * at one instant inside the request. A page that changed is collected
 * anew (RPC_MANY_ROUNDS_MAX at most, then BOUND_UNMET). True when the page
 * in hits stands; false when c waits or was answered. */
static bool rpc_scan_settled(struct call *c, const struct rpc_scan_view *v,
                             const struct rpc_scan_hit *hits, uint32_t n, bool more)
{
        uint64_t digest = rpc_scan_digest(hits, n, more);
        bool collected = c->rd.bound.fresh_after;

        if (collected && digest != v->h.digest) {
                if (c->rd.rounds >= RPC_MANY_ROUNDS_MAX) {
                        rpc_many_give_up(c, rpc_scan_part(v, 0));
                        return false;
                }
                collected = false; /* the page changed: collect again */
        }
        if (!collected) {
                memcpy(c->key + offsetof(struct rpc_scan_head, digest), &digest, sizeof digest);
                c->rd.bound.fresh_after = true;
                c->rd.bound.after_ticket = c->node->fresh_tickets;
        }
        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                if (!rpc_many_fresh(c, rpc_scan_part(v, k), c->rd.bound.after_ticket)) {
                        return false;
                }
        }
        if (!collected) {
                /* No proof can be newer than the collect's ticket yet; if
                 * one were, the second look is still owed. */
                c->rd.on_met(&c->op.wait);
                return false;
        }
        return true;
}

static void rpc_scan_runs_free(const struct rpc_scan_view *v, struct rpc_scan_run *runs)
{
        for (uint32_t k = 0; runs != NULL && k < v->h.n_parts; k++) {
                tkv_free((void *)runs[k].old);
        }
        tkv_free(runs);
}

/* Read the page into hits: the current state, or as of c->rd.as_of_ts.
 * Returns the count (UINT32_MAX: out of memory). */
static uint32_t rpc_scan_read(struct call *c, const struct rpc_scan_view *v,
                              struct rpc_scan_run *runs, struct rpc_scan_hit *hits, bool *more)
{
        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                struct group *g = node_group(c->node, rpc_scan_part(v, k));
                tkv_free((void *)runs[k].old);
                memset(&runs[k], 0, sizeof runs[k]);
                runs[k].at = rpc_scan_keep(v, rpc_scan_first(v, group_store(g)));
                if (c->rd.as_of_ts != 0) {
                        struct rpc_scan_since s = {v, NULL, 0, 0, false};
                        changes_since(group_changes(g), c->rd.as_of_ts, rpc_scan_since_add, &s);
                        if (s.failed) {
                                tkv_free(s.a);
                                return UINT32_MAX;
                        }
                        if (s.n > 1) {
                                qsort(s.a, s.n, sizeof *s.a, rpc_scan_old_cmp);
                        }
                        runs[k].old = s.a;
                        runs[k].n_old = s.n;
                }
        }
        return rpc_scan_merge(c, v, runs, hits, more);
}

/* A round after a wait for T (c->rd.bound.required_ts) finds keys written
 * since, stamped above T: rather than wait for those (writes that never
 * pause would be chased until BOUND_UNMET), read the page as of T, from
 * the index and the change history (the keys changed since, as they were
 * at T), once every partition's history reaches back to T. Each partition
 * is closed at T then (the wait saw to it), so its state as of T is final.
 * Not for a WATCH's start, which streams from the indexes the round read
 * at. True when c now reads as of T. */
static bool rpc_scan_as_of(struct call *c, const struct rpc_scan_view *v)
{
        uint64_t ts = c->rd.bound.required_ts;
        uint8_t level = c->rd.level;

        if (v->h.watch || c->rd.as_of_ts != 0 || c->rd.rounds < 2 || ts == 0 ||
            (level != LEVEL(SEQUENTIAL) && level != LEVEL(CAUSAL) && level != LEVEL(SESSION))) {
                return false;
        }
        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                const struct changes *ch = group_changes(node_group(c->node, rpc_scan_part(v, k)));
                if (changes_start_ts(ch) > ts) {
                        return false; /* its history does not reach back to T */
                }
        }
        c->rd.as_of_ts = ts;
        return true;
}

/* Read a page (one loop turn); answer it if every partition meets the
 * level at its T, else wait for the first that does not. */
static void rpc_scan_round(struct call *c)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        struct rpc_scan_run *runs = tkv_calloc(v.h.n_parts, sizeof *runs);
        struct rpc_scan_hit *hits = tkv_malloc((v.h.limit > 0 ? v.h.limit : 1) * sizeof *hits);
        uint32_t n;
        bool more;
        uint64_t ts;

        c->rd.rounds++;
        if (runs == NULL || hits == NULL) {
                call_answer_error(c, TKV_ENOMEM, "SCAN: out of memory");
                goto cleanup;
        }
        n = rpc_scan_read(c, &v, runs, hits, &more);
        if (n != UINT32_MAX) {
                ts = c->rd.as_of_ts != 0 ? c->rd.as_of_ts : rpc_scan_ts(c, &v, hits, n);
                if (ts > c->rd.bound.required_ts && rpc_scan_as_of(c, &v)) {
                        /* Keys written since the T it waited for: the page
                         * as of T. */
                        n = rpc_scan_read(c, &v, runs, hits, &more);
                        ts = c->rd.as_of_ts;
                }
        }
        if (n == UINT32_MAX) {
                call_answer_error(c, TKV_ENOMEM, "SCAN: out of memory");
                goto cleanup;
        }
        if (c->rd.level == LEVEL(LINEARIZABLE) && (v.h.n_parts > 1 || v.h.named)) {
                if (!rpc_scan_settled(c, &v, hits, n, more)) {
                        goto cleanup; /* c waits, or was answered */
                }
                ts = ts > c->rd.token_ts ? ts : c->rd.token_ts;
                for (uint32_t k = 0; k < v.h.n_parts; k++) {
                        if (!rpc_many_closed(c, rpc_scan_part(&v, k), ts)) {
                                goto cleanup;
                        }
                }
        }
        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                if (!rpc_many_ready(c, rpc_scan_part(&v, k), rpc_scan_required(&v, k), ts)) {
                        goto cleanup; /* c waits, or was answered */
                }
        }
        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                node_count_read(c->node, rpc_scan_part(&v, k), c->rd.level, READ_COUNT_SERVED);
        }
        if (v.h.watch) {
                rpc_scan_watch_begin(c, &v);
                goto cleanup;
        }
        rpc_scan_answer(c, &v, hits, n, more, ts);
cleanup:
        rpc_scan_runs_free(&v, runs);
        tkv_free(hits);
}

static void rpc_scan_wait_done(struct read_wait *w)
{
        struct call *c = QUEUE_DATA(w, struct call, op.wait);
        c->stage = CALL_NEW;
        rpc_scan_round(c);
}

/* ------------------------------------------------------------------------ */
/* The answer */

/* Fill the items (none with count_only); compressed values are
 * decompressed into raw (as many bytes as they need). */
static int rpc_scan_fill_items(const struct rpc_scan_view *v, const struct rpc_scan_hit *hits,
                               uint32_t n, Tunekv__V1__ScanItem *items, Tunekv__V1__ScanItem **ptrs,
                               uint8_t *raw)
{
        for (uint32_t i = 0; i < n; i++) {
                struct store_fields f;
                store_entry_fields(hits[i].e, &f);
                tunekv__v1__scan_item__init(&items[i]);
                ptrs[i] = &items[i];
                items[i].key.data = (uint8_t *)f.key;
                items[i].key.len = f.key_len;
                items[i].mod_index = f.mod_index;
                items[i].create_index = f.create_index;
                items[i].partition = hits[i].partition;
                items[i].timestamp = f.ts;
                if (v->h.keys_only) {
                        continue;
                }
                items[i].value.data = (uint8_t *)f.value;
                items[i].value.len = f.value_len;
                if (f.value_raw_len != f.value_len) {
                        int rv = value_decompress(f.value, f.value_len, raw, f.value_raw_len);
                        if (rv != 0) {
                                return rv;
                        }
                        items[i].value.data = raw;
                        items[i].value.len = f.value_raw_len;
                        raw += f.value_raw_len;
                }
        }
        return 0;
}

/* Bytes the page's compressed values take decompressed. */
static size_t rpc_scan_raw_bytes(const struct rpc_scan_view *v, const struct rpc_scan_hit *hits,
                                 uint32_t n)
{
        size_t raw = 0;
        for (uint32_t i = 0; !v->h.keys_only && i < n; i++) {
                struct store_fields f;
                store_entry_fields(hits[i].e, &f);
                raw += f.value_raw_len != f.value_len ? f.value_raw_len : 0;
        }
        return raw;
}

/* One receipt per partition read, and the token delta (node scratch). */
/* The level a page delivers: the one asked, or at at_timestamp, as a GET
 * there (rpc_read.c): SEQUENTIAL unless the session saw later writes. */
static Tunekv__V1__Consistency rpc_scan_level(const struct call *c)
{
        if (c->rd.at_ts != 0) {
                return c->rd.at_ts >= c->rd.token_ts ? LEVEL(SEQUENTIAL) : LEVEL(EVENTUAL);
        }
        return (Tunekv__V1__Consistency)c->rd.level;
}

static void rpc_scan_receipts(struct call *c, const struct rpc_scan_view *v, uint64_t ts,
                              Tunekv__V1__ScanReceipt *rc, Tunekv__V1__ScanReceipt **ptrs,
                              Tunekv__V1__ScanResponse *sr)
{
        unsigned t = 0;

        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                uint32_t p = rpc_scan_part(v, k);
                tunekv__v1__scan_receipt__init(&rc[k]);
                ptrs[k] = &rc[k];
                rc[k].partition = p;
                rc[k].node_id = c->node->cfg->node_id;
                rc[k].applied_index = group_applied_index(node_group(c->node, p));
                rc[k].level = rpc_scan_level(c);
                if (c->rd.at_ts == 0) { /* a past state reads no replica's R */
                        t = rpc_many_token_add(c, t, p);
                }
        }
        t = rpc_many_token_end(c, t, ts);
        session_encode(c->node->token_ents, t, c->node->token_bytes);
        sr->token.data = c->node->token_bytes;
        sr->token.len = session_encoded_bytes(t);
        sr->n_receipts = v->h.n_parts;
        sr->receipts = ptrs;
}

/* A WATCH's round is over: its stream starts here, now. */
static void rpc_scan_watch_begin(struct call *c, const struct rpc_scan_view *v)
{
        uint32_t n = v->h.n_parts;
        const uint8_t *starts = v->cursor + v->h.cursor_len;
        uint64_t *after = tkv_malloc(n * sizeof *after);
        bool *resumed = tkv_malloc(n * sizeof *resumed);
        uint32_t *parts = tkv_malloc(n * sizeof *parts);
        struct rpc_watch_spec spec;

        if (after == NULL || resumed == NULL || parts == NULL) {
                call_answer_error(c, TKV_ENOMEM, "WATCH: out of memory");
                goto out;
        }
        for (uint32_t k = 0; k < n; k++) {
                uint64_t start;
                memcpy(&start, starts + 8 * (size_t)k, sizeof start);
                resumed[k] = start != 0;
                parts[k] = rpc_scan_part(v, k);
                after[k] =
                    resumed[k] ? start - 1 : group_applied_index(node_group(c->node, parts[k]));
        }
        memset(&spec, 0, sizeof spec);
        spec.key = v->lo;
        spec.key_len = v->h.lo_len;
        spec.prefix = v->h.watch_prefix;
        spec.keys_only = v->h.keys_only;
        spec.parts = parts;
        spec.n_parts = n;
        spec.after = after;
        spec.resumed = resumed;
        spec.max_staleness_ms = v->h.watch_staleness_ms;
        rpc_watch_begin(c, &spec);
out:
        tkv_free(parts);
        tkv_free(resumed);
        tkv_free(after);
}

static void rpc_scan_answer(struct call *c, const struct rpc_scan_view *v,
                            const struct rpc_scan_hit *hits, uint32_t n, bool more, uint64_t ts)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ScanResponse sr = TUNEKV__V1__SCAN_RESPONSE__INIT;
        uint32_t n_items = v->h.count_only ? 0 : n;
        Tunekv__V1__ScanItem *items = tkv_malloc((n_items + 1) * sizeof *items);
        Tunekv__V1__ScanItem **ptrs = tkv_malloc((n_items + 1) * sizeof *ptrs);
        Tunekv__V1__ScanReceipt *rc = tkv_malloc(v->h.n_parts * sizeof *rc);
        Tunekv__V1__ScanReceipt **rptrs = tkv_malloc(v->h.n_parts * sizeof *rptrs);
        size_t raw_len = rpc_scan_raw_bytes(v, hits, n_items);
        uint8_t *raw = raw_len > 0 ? tkv_malloc(raw_len) : NULL;
        int rv;

        if (items == NULL || ptrs == NULL || rc == NULL || rptrs == NULL ||
            (raw_len > 0 && raw == NULL)) {
                call_answer_error(c, TKV_ENOMEM, "SCAN: out of memory");
                goto cleanup;
        }
        rv = rpc_scan_fill_items(v, hits, n_items, items, ptrs, raw);
        if (rv != 0) {
                call_answer_error(c, rv == TKV_ENOMEM ? TKV_ENOMEM : TKV_ECORRUPT,
                                  "SCAN: stored value unreadable: %s", err_str(rv));
                goto cleanup;
        }
        rpc_scan_receipts(c, v, ts, rc, rptrs, &sr);
        sr.n_items = n_items;
        sr.items = ptrs;
        sr.count = n;
        sr.more = more;
        if (more && n > 0) {
                uint32_t len;
                sr.cursor.data = (uint8_t *)store_entry_key(hits[n - 1].e, &len);
                sr.cursor.len = len;
        } else if (more) {
                /* Nothing fit (a limit of 0 cannot reach here): keep the old cursor. */
                sr.cursor.data = (uint8_t *)v->cursor;
                sr.cursor.len = v->h.cursor_len;
        }
        sr.timestamp = ts;
        sr.level = rpc_scan_level(c);
        sr.node_id = c->node->cfg->node_id;
        sr.rounds = c->rd.rounds;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_SCAN;
        resp.scan = &sr;
        if (c->fanout != NULL) {
                rpc_fanout_local_answer(c, &resp);
        } else {
                call_answer(c, &resp);
        }
cleanup:
        tkv_free(raw);
        tkv_free(rptrs);
        tkv_free(rc);
        tkv_free(ptrs);
        tkv_free(items);
}

/* ------------------------------------------------------------------------ */
/* The handler */

/* Every partition the scan reads hosted here, and the token's required
 * index for each. Returns 0, or nonzero once c is answered. */
static int rpc_scan_partitions(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        unsigned n = 0;
        int rv;

        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                if (node_group(c->node, rpc_scan_part(&v, k)) == NULL && c->from_node != 0) {
                        /* A share another node asked for: the partition
                         * moved away since it looked. */
                        call_answer_error(c, TKV_ESHUTDOWN,
                                          "%s: node %u no longer has a replica of partition %u "
                                          "(it moved): try again",
                                          c->method->name, c->node->cfg->node_id,
                                          rpc_scan_part(&v, k));
                        return TKV_ESHUTDOWN;
                }
                if (node_group(c->node, rpc_scan_part(&v, k)) == NULL) {
                        call_answer_error(c, TKV_EINVAL,
                                          "%s: node %u has no replica of partition %u: send it "
                                          "to a node with a replica of every partition (or use a "
                                          "hash-tag prefix, which reads one)",
                                          c->method->name, c->node->cfg->node_id,
                                          rpc_scan_part(&v, k));
                        return TKV_EINVAL;
                }
        }
        if (c->rd.level == LEVEL(LINEARIZABLE)) {
                /* Checked, and its timestamp taken; it bounds nothing else:
                 * the page sees every write acknowledged before it. */
                return rpc_many_token_parse(c, o, &n);
        }
        if (c->rd.level != LEVEL(SEQUENTIAL) && c->rd.at_ts == 0) {
                return 0;
        }
        rv = rpc_many_token_parse(c, o, &n);
        for (uint32_t k = 0; rv == 0 && c->rd.at_ts == 0 && k < v.h.n_parts; k++) {
                uint64_t required = 0;
                rv = rpc_many_token_required(c, n, rpc_scan_part(&v, k), &required);
                memcpy(v.required + 8 * (size_t)k, &required, sizeof required);
        }
        return rv;
}

static void rpc_scan_fenced(struct group_read *r, int status)
{
        struct call *c = QUEUE_DATA(r, struct call, op.read);
        struct rpc_scan_view v = rpc_scan_view_of(c);

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
        } else if (status != 0) {
                call_answer_error(c, status, "%s: %s", c->method->name, err_str(status));
        } else if (group_applied_index(c->group) < rpc_scan_required(&v, 0)) {
                /* A token beyond everything committed. */
                c->rd.bound.required_index = rpc_scan_required(&v, 0);
                c->rd.waited = true;
                c->rd.on_unmet = TUNEKV__V1__ON_UNMET__ON_UNMET_FAIL;
                rpc_read_unmet(c);
        } else {
                rpc_scan_round(c);
        }
}

/* LINEARIZABLE: one partition (a hash-tag prefix), on its leader, after a
 * read fence. Its token is checked and its W and R entries required. */
static void rpc_scan_linearizable(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        char why[128];
        unsigned n = 0;
        uint64_t required = 0;
        int rv;

        if (rpc_read_check_options(o, why, sizeof why) != 0) {
                call_answer_error(c, TKV_EINVAL, "%s: %s", c->method->name, why);
                return;
        }
        c->partition = v.h.first;
        c->group = node_group(c->node, v.h.first);
        if (c->group == NULL) {
                call_answer_not_leader(c, c->method->name);
                return;
        }
        c->rd.level = LEVEL(LINEARIZABLE);
        if (rpc_many_token_parse(c, o, &n) != 0 ||
            rpc_many_token_required(c, n, v.h.first, &required) != 0) {
                return;
        }
        memcpy(v.required, &required, sizeof required);
        rv = group_read_fence(c->group, &c->op.read, rpc_scan_fenced);
        if (rv == 0) {
                c->stage = CALL_READ;
        } else if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
        } else {
                call_answer_error(c, rv, "%s: %s", c->method->name, err_str(rv));
        }
}

/* At at_timestamp: the first partition whose change history here starts
 * after it, answered COMPACTED; returns nonzero then. */
static int rpc_scan_compacted(struct call *c, const struct rpc_scan_view *v)
{
        for (uint32_t k = 0; k < v->h.n_parts; k++) {
                if (rpc_many_compacted_part(c, rpc_scan_part(v, k)) != 0) {
                        return TKV_ECOMPACTED;
                }
        }
        return 0;
}

/* Start c's first round (SCAN's, or a WATCH's) at the level o asks; a
 * WATCH's at_timestamp is refused with why. */
static void rpc_scan_start(struct call *c, const Tunekv__V1__ReadOptions *o, const char *why)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        struct rpc_scan_head h = v.h;

        c->rd.on_met = rpc_scan_wait_done;
        if (o != NULL && o->level == LEVEL(LINEARIZABLE) && h.n_parts == 1 && !h.named) {
                rpc_scan_linearizable(c, o);
                return;
        }
        if (rpc_many_options(c, o) != 0) {
                return;
        }
        if (c->rd.at_ts != 0 && h.watch) {
                call_answer_error(c, TKV_EINVAL, "%s: at_timestamp is not served %s",
                                  c->method->name, why);
                return;
        }
        if (rpc_scan_partitions(c, o) != 0 || rpc_many_bound(c, o) != 0) {
                return;
        }
        if (c->rd.at_ts != 0) {
                /* The page as of T, from the index and the change history,
                 * once every partition is closed at T. */
                if (rpc_scan_compacted(c, &v) != 0) {
                        return;
                }
                c->rd.as_of_ts = c->rd.at_ts;
        }
        rpc_scan_round(c);
}

/* ------------------------------------------------------------------------ */
/* A scan spread over nodes: what rpc_fanout.c asks of this node's share */

static void rpc_scan_request_of(const struct call *c, Tunekv__V1__ScanRequest *s)
{
        struct rpc_scan_view v = rpc_scan_view_of((struct call *)c);
        ProtobufCBinaryData lo = {v.h.lo_len, (uint8_t *)v.lo};

        if (v.h.prefix) {
                s->prefix = lo;
        } else {
                s->start = lo;
        }
        s->end.len = v.h.end_len;
        s->end.data = (uint8_t *)v.end;
        s->cursor.len = v.h.cursor_len;
        s->cursor.data = (uint8_t *)v.cursor;
        s->limit = v.h.limit;
        s->keys_only = v.h.keys_only;
        s->count_only = v.h.count_only;
}

/* Read only parts (n <= cap) here: this node's share. */
static void rpc_scan_begin_share(struct call *c, const uint32_t *parts, uint32_t n,
                                 const Tunekv__V1__ReadOptions *o)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);

        v.h.n_parts = n < v.h.cap ? n : v.h.cap;
        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                memcpy(v.part + 4 * (size_t)k, &parts[k], sizeof parts[k]);
        }
        v.h.named = true;
        if (v.h.count_only) { /* the fan-out needs the keys to merge the pages */
                v.h.count_only = false;
                v.h.keys_only = true;
        }
        memcpy(c->key, &v.h, sizeof v.h);
        rpc_scan_start(c, o, NULL);
}

static void rpc_scan_again(struct call *c, uint64_t floor_ts)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);

        c->stage = CALL_NEW;
        c->rd.waited = false;
        c->rd.as_of_ts = 0;
        if (c->rd.at_ts == 0 && floor_ts != 0 &&
            (c->rd.level == LEVEL(SEQUENTIAL) || c->rd.level == LEVEL(CAUSAL) ||
             c->rd.level == LEVEL(SESSION))) {
                /* As the other shares are asked (rpc_fanout.c): the page as of
                 * T, if every partition's history reaches back there. */
                c->rd.as_of_ts = floor_ts;
                for (uint32_t k = 0; k < v.h.n_parts; k++) {
                        const struct changes *ch =
                            group_changes(node_group(c->node, rpc_scan_part(&v, k)));
                        if (changes_start_ts(ch) > floor_ts) {
                                c->rd.as_of_ts = 0;
                        }
                }
        }
        c->rd.bound.fresh_after = false; /* LINEARIZABLE: collect anew */
        if (floor_ts > c->rd.bound.required_ts) {
                c->rd.bound.required_ts = floor_ts;
        }
        rpc_scan_round(c);
}

static void rpc_scan_spread(struct call *c, const Tunekv__V1__Request *req)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        uint32_t *parts = tkv_malloc((v.h.n_parts + 1) * sizeof *parts);
        struct rpc_fanout_ops ops = {
            RPC_FANOUT_SCAN,      rpc_scan_request_of, NULL,
            rpc_scan_begin_share, rpc_scan_again,      rpc_scan_budget(c->node->cfg)};

        if (parts == NULL) {
                call_answer_error(c, TKV_ENOMEM, "SCAN: out of memory");
                return;
        }
        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                parts[k] = rpc_scan_part(&v, k);
        }
        rpc_fanout_start(c, req->scan->options, parts, v.h.n_parts, &ops);
        tkv_free(parts);
}

void rpc_scan(struct call *c, const Tunekv__V1__Request *req)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);

        for (uint32_t k = 0; k < v.h.n_parts; k++) {
                if (rpc_scan_part(&v, k) >= c->node->n_partitions) {
                        call_answer_error(c, TKV_EINVAL,
                                          "SCAN: no partition %u (the cluster has %u)",
                                          rpc_scan_part(&v, k), c->node->n_partitions);
                        return;
                }
        }
        /* The partitions not all here, and the client did not choose
         * them: spread the scan over the nodes that hold them. */
        for (uint32_t k = 0; !v.h.named && k < v.h.n_parts; k++) {
                if (node_group(c->node, rpc_scan_part(&v, k)) == NULL) {
                        rpc_scan_spread(c, req);
                        return;
                }
        }
        rpc_scan_start(c, req->scan->options, NULL);
}

/* ------------------------------------------------------------------------ */
/* WATCH's start */

/* The partitions a WATCH reads: its key's, a hash-tag prefix's, or all. */
static void rpc_scan_watch_parts(const Tunekv__V1__WatchRequest *wq, unsigned n_partitions,
                                 uint32_t *first, uint32_t *n)
{
        int64_t tag = wq->prefix ? rpc_scan_tag_partition(&wq->key, n_partitions) : -1;

        if (!wq->prefix) {
                tag = route_partition(key_hash_partition(wq->key.data, wq->key.len), n_partitions);
        }
        *first = tag >= 0 ? (uint32_t)tag : 0;
        *n = tag >= 0 ? 1 : n_partitions;
}

size_t rpc_scan_watch_call_bytes(const Tunekv__V1__Request *req, unsigned n_partitions)
{
        uint32_t first, n;

        rpc_scan_watch_parts(req->watch, n_partitions, &first, &n);
        if (req->watch->n_partitions > 0) {
                n = (uint32_t)req->watch->n_partitions;
        }
        return sizeof(struct rpc_scan_head) + 20 * (size_t)n + req->watch->key.len;
}

/* The slot of partition part in the part list (ascending), or -1. */
static int64_t rpc_scan_slot(const struct rpc_scan_view *v, uint32_t part)
{
        uint32_t lo = 0, hi = v->h.n_parts;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                uint32_t p = rpc_scan_part(v, mid);
                if (p == part) {
                        return mid;
                }
                if (p < part) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return -1;
}

void rpc_scan_watch_call_fill(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__WatchRequest *wq = req->watch;
        struct rpc_scan_head h;
        struct rpc_scan_view v;
        uint8_t *p;

        memset(&h, 0, sizeof h);
        rpc_scan_watch_parts(wq, c->node->n_partitions, &h.first, &h.n_parts);
        h.named = wq->n_partitions > 0;
        if (h.named) {
                h.n_parts = (uint32_t)wq->n_partitions;
        }
        h.cap = h.n_parts;
        h.limit = 1;
        h.lo_len = (uint32_t)wq->key.len;
        h.prefix = true; /* the round counts the keys under the key: it reads its partition */
        h.keys_only = wq->keys_only;
        h.count_only = true;
        h.watch = true;
        h.watch_prefix = wq->prefix;
        h.watch_staleness_ms = wq->options != NULL ? wq->options->max_staleness_ms : 0;
        memcpy(c->key, &h, sizeof h);
        p = c->key + sizeof h;
        memset(p, 0, 8 * (size_t)h.cap);
        p += 8 * (size_t)h.cap;
        for (uint32_t k = 0; k < h.cap; k++, p += 4) {
                uint32_t part = h.named ? wq->partitions[k] : h.first + k;
                memcpy(p, &part, sizeof part);
        }
        p = rpc_scan_put(p, &wq->key);
        memset(p, 0, 8 * (size_t)h.n_parts);
        v = rpc_scan_view_of(c);
        for (size_t i = 0; i < wq->n_start; i++) { /* every: first, so named ones win */
                uint64_t start = wq->start[i]->after_index + 1;
                for (uint32_t k = 0; wq->start[i]->every && start != 0 && k < h.n_parts; k++) {
                        memcpy(p + 8 * (size_t)k, &start, sizeof start);
                }
        }
        for (size_t i = 0; i < wq->n_start; i++) {
                int64_t k = wq->start[i]->every ? -1 : rpc_scan_slot(&v, wq->start[i]->partition);
                uint64_t start = wq->start[i]->after_index + 1;
                if (k >= 0 && start != 0) {
                        memcpy(p + 8 * (size_t)k, &start, sizeof start);
                }
        }
}

/* The watch's partitions not all hosted here, and the client did not
 * choose them: spread it over the nodes that hold them (rpc_watch.c). This
 * node's round then reads only its own, whose slots move to the front. */
static void rpc_scan_watch_spread(struct call *c, const Tunekv__V1__WatchRequest *wq)
{
        struct rpc_scan_view v = rpc_scan_view_of(c);
        uint32_t n = v.h.n_parts, m = 0, missing;
        uint8_t *starts = (uint8_t *)v.cursor + v.h.cursor_len;
        uint32_t *parts = tkv_malloc(n * sizeof *parts);
        unsigned *owner = tkv_malloc(n * sizeof *owner);
        uint64_t *after = tkv_malloc(n * sizeof *after);
        bool *resumed = tkv_malloc(n * sizeof *resumed);

        if (parts == NULL || owner == NULL || after == NULL || resumed == NULL) {
                call_answer_error(c, TKV_ENOMEM, "WATCH: out of memory");
                goto out;
        }
        for (uint32_t k = 0; k < n; k++) {
                uint64_t start;
                memcpy(&start, starts + 8 * (size_t)k, sizeof start);
                parts[k] = rpc_scan_part(&v, k);
                resumed[k] = start != 0;
                after[k] = resumed[k] ? start - 1 : 0;
        }
        missing = rpc_fanout_cover(c->node, parts, n, owner);
        if (missing != 0) {
                call_answer_error(c, TKV_ENOQUORUM,
                                  "WATCH: partition %u has no replica on node %u, and none of its "
                                  "replicas is reachable",
                                  missing - 1, c->node->cfg->node_id);
                goto out;
        }
        if (rpc_watch_spread(c, wq, parts, n, owner, after, resumed) != 0) {
                goto out; /* answered */
        }
        for (uint32_t k = 0; k < n; k++) {
                if (owner[k] == c->node->cfg->node_id) {
                        memcpy(v.part + 4 * (size_t)m, &parts[k], sizeof parts[k]);
                        memmove(starts + 8 * (size_t)m, starts + 8 * (size_t)k, 8);
                        m++;
                }
        }
        if (m > 0) {
                v.h.n_parts = m;
                v.h.named = true;
                memcpy(c->key, &v.h, sizeof v.h);
                rpc_scan_start(c, wq->options, "for watches: resume after an index instead");
        }
        /* else the call waits for the other nodes' shares to start */
out:
        tkv_free(resumed);
        tkv_free(after);
        tkv_free(owner);
        tkv_free(parts);
}

void rpc_scan_watch(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__WatchRequest *wq = req->watch;
        struct rpc_scan_view v = rpc_scan_view_of(c);
        uint32_t first, n;

        rpc_scan_watch_parts(wq, c->node->n_partitions, &first, &n);
        for (size_t i = 0; i < wq->n_start; i++) {
                uint32_t part = wq->start[i]->partition;
                if (!wq->start[i]->every && (part < first || part - first >= n)) {
                        call_answer_error(c, TKV_EINVAL,
                                          "WATCH: start names partition %u, which holds none of "
                                          "the watched keys",
                                          part);
                        return;
                }
        }
        for (uint32_t k = 0; v.h.named && k < v.h.n_parts; k++) {
                uint32_t part = rpc_scan_part(&v, k);
                if (part < first || part - first >= n) {
                        call_answer_error(c, TKV_EINVAL,
                                          "WATCH: partitions names partition %u, which holds "
                                          "none of the watched keys",
                                          part);
                        return;
                }
        }
        for (uint32_t k = 0; !v.h.named && k < v.h.n_parts; k++) {
                if (node_group(c->node, rpc_scan_part(&v, k)) == NULL) {
                        rpc_scan_watch_spread(c, wq);
                        return;
                }
        }
        /* A stream has no end: the round that starts it has the request's
         * deadline, the stream none. */
        rpc_scan_start(c, wq->options, "for watches: resume after an index instead");
}
