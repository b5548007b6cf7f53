/* A SCAN or GET_MANY spread over nodes: once members outnumber replicas,
 * no node may hold every partition a scan (or a GET_MANY's keys) reads, so
 * the node the request reaches asks the nodes that hold them for their
 * shares and merges the answers (docs/consistency.md "Scans over nodes").
 * A GET_MANY's share is the keys of its partitions, in the request's
 * order; its items go back in that order. What follows says "page" for
 * either answer.
 *
 *   cover: the partitions hosted here are this node's share (the call's own
 *   rounds, rpc_scan.c, whose page comes back to rpc_fanout_local_answer);
 *   the rest go to as few live nodes as cover them (greedy: the node that
 *   holds most of those left first), each asked for its share with a
 *   ScanRequest naming the partitions, over the node link (no_forward).
 *   Every share reads from the same cursor with the same limit, and a
 *   byte budget of the node's divided among the shares.
 *
 *   rounds: once every share is in, what ties them together depends on the
 *   level the shares delivered, as for one node's partitions:
 *   - a timestamp T (SEQUENTIAL, CAUSAL, SESSION, BOUNDED_STALENESS): each
 *     share's page is its partitions' state at its own T_i. Shares whose
 *     T_i is below the highest are read again with that T as their floor
 *     (min_timestamp), until every share is at one T: then the page is the
 *     state of every partition at T (RPC_MANY_ROUNDS_MAX rounds, then
 *     BOUND_UNMET). A GET_MANY's shares (but at BOUNDED_STALENESS) are read
 *     again at_timestamp T instead: the keys' states as of T from the
 *     change history, so keys written meanwhile cannot raise T again;
 *   - LINEARIZABLE, a double collect over the shares: every share reads
 *     at LINEARIZABLE (each is its partitions' state at one instant of its
 *     call); once all are in, all are read again, and the page stands when
 *     every share's page is unchanged (same keys, versions and partitions):
 *     then every share showed the same state from the end of the first
 *     collect to the second, and the page was the whole state at that
 *     moment;
 *   - EVENTUAL: one round.
 *
 *   merge: each share's page is in key order and ends at the limit or its
 *   budget; past the last key of a share that has more, nothing is known,
 *   so the merged page ends at the lowest such key (and the limit and the
 *   budget), and says more.
 *
 * A share answered with an error ends the scan with that answer, as it
 * came (the client retries a retryable status); a link that breaks ends it
 * UNAVAILABLE. The shares' pages are kept as the bytes they came in
 * (at most the node's page budget in all) until every share is in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "node.h"
#include "pbwire.h"
#include "read.h"
#include "route.h"
#include "rpc_internal.h"
#include "session.h"
#include "store.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

/* The smallest byte budget a share is given. */
#define RPC_FANOUT_SHARE_BYTES_MIN 1024

/* How the shares are tied together (the file's comment). */
enum rpc_fanout_mode {
        RPC_FANOUT_ONCE,    /* EVENTUAL */
        RPC_FANOUT_CUT,     /* one timestamp */
        RPC_FANOUT_COLLECT, /* LINEARIZABLE */
};

/* One node's share of the partitions. */
struct rpc_fanout_share {
        struct peer_call pc; /* kind RPC_PEER_FANOUT (a remote share) */
        struct rpc_fanout *f;
        unsigned node_id; /* this node's id: the call's own rounds */
        bool pending;     /* asked, not answered */
        uint8_t *frame;   /* its last answer: a Response, OK, with a scan body */
        size_t len;
        uint64_t digest; /* LINEARIZABLE: its page in the previous collect */
        uint32_t first;  /* its partitions: f->parts[first .. first + n - 1] */
        uint32_t n;
};

struct rpc_fanout {
        struct call *c;
        struct rpc_fanout_ops ops;
        unsigned n_shares;
        unsigned pending;
        unsigned rounds;
        bool collected;  /* LINEARIZABLE: a collect is in */
        bool count_only; /* the client's: the shares send keys, the answer counts them */
        uint64_t target; /* a timestamp level: the T every share must show */
        uint64_t share_bytes;
        uint8_t *options; /* the client's ReadOptions, packed; NULL: none */
        size_t options_len;
        /* GET_MANY: every key (copies, in the request's order) and its
         * partition */
        ProtobufCBinaryData *keys;
        uint32_t *key_share; /* the share that reads key i */
        uint8_t *key_bytes;
        uint32_t n_keys;
        uint32_t *parts; /* every partition read, grouped by share */
        struct rpc_fanout_share shares[];
};

static void rpc_fanout_release(struct call *c)
{
        struct rpc_fanout *f = c->fanout;

        c->fanout = NULL;
        c->release = NULL;
        for (unsigned i = 0; i < f->n_shares; i++) {
                struct rpc_fanout_share *sh = &f->shares[i];
                if (sh->pending && sh->node_id != c->node->cfg->node_id) {
                        (void)peer_forget(&sh->pc);
                }
                tkv_free(sh->frame);
        }
        tkv_free(f->options);
        tkv_free(f->keys);
        tkv_free(f->key_share);
        tkv_free(f->key_bytes);
        tkv_free(f->parts);
        tkv_free(f);
}

/* This node's share stops waiting: a read fence (a partition it leads
 * proving itself current) or a wait for its bound (SCAN's on_unmet is WAIT
 * or FAIL, so it is never forwarded). */
void rpc_fanout_stop_local(struct call *c)
{
        if (c->stage == CALL_READ) {
                group_read_abandon(&c->op.read);
        } else if (c->stage == CALL_WAIT) {
                read_wait_abandon(&c->op.wait);
        }
        c->stage = CALL_NEW;
}

/* End the scan with an error: the call's own round (this node's share)
 * stops waiting first. */
static void rpc_fanout_fail(struct call *c, int tkv_err, const char *fmt, const char *what,
                            unsigned n)
{
        char message[256];

        snprintf(message, sizeof message, fmt, what, n);
        rpc_fanout_stop_local(c);
        call_answer_error(c, tkv_err, "%s", message);
}

/* ------------------------------------------------------------------------ */
/* The cover */

/* Which node each partition of parts[0 .. n - 1] is read on (owner[k]):
 * this node for the ones it hosts, the others by a greedy cover (the live
 * node holding most of those left, first in placement order on a tie).
 * Returns 0, or 1 + the first partition no live node holds. */
uint32_t rpc_fanout_cover(struct node *node, const uint32_t *parts, uint32_t n, unsigned *owner)
{
        unsigned self = node->cfg->node_id;
        uint64_t now = uv_now(node->loop);
        unsigned cand[CONFIG_REPLICAS_MAX * 8], count[CONFIG_REPLICAS_MAX * 8];
        uint32_t left = 0;

        for (uint32_t k = 0; k < n; k++) {
                owner[k] = node_group(node, parts[k]) != NULL ? self : 0;
                left += owner[k] == 0;
        }
        while (left > 0) {
                unsigned n_cand = 0, best = 0, best_count = 0;
                for (uint32_t k = 0; k < n; k++) {
                        unsigned ids[CONFIG_REPLICAS_MAX];
                        unsigned m, live = 0;
                        if (owner[k] != 0) {
                                continue;
                        }
                        m = node_replicas_of(node, parts[k], ids);
                        for (unsigned r = 0; r < m; r++) {
                                unsigned i;
                                if (ids[r] == self || !rpc_route_alive(node, ids[r], now)) {
                                        continue;
                                }
                                live++;
                                for (i = 0; i < n_cand && cand[i] != ids[r]; i++) {
                                }
                                if (i == n_cand && n_cand < sizeof cand / sizeof cand[0]) {
                                        cand[n_cand] = ids[r];
                                        count[n_cand++] = 0;
                                }
                                if (i < n_cand && ++count[i] > best_count) {
                                        best = cand[i];
                                        best_count = count[i];
                                }
                        }
                        if (live == 0) {
                                return parts[k] + 1;
                        }
                }
                for (uint32_t k = 0; k < n && best != 0; k++) {
                        unsigned ids[CONFIG_REPLICAS_MAX];
                        unsigned m;
                        if (owner[k] != 0) {
                                continue;
                        }
                        m = node_replicas_of(node, parts[k], ids);
                        for (unsigned r = 0; r < m; r++) {
                                if (ids[r] == best) {
                                        owner[k] = best;
                                        left--;
                                        break;
                                }
                        }
                }
                if (best == 0) {
                        return 1; /* cannot happen: every partition left has a live replica */
                }
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Asking */

/* Ask a remote share for its page, at or above floor_ts. 0, or nonzero
 * once c is answered. */
static int rpc_fanout_ask(struct rpc_fanout *f, struct rpc_fanout_share *sh)
{
        struct call *c = f->c;
        struct node *node = c->node;
        struct peer *p = node_peer(node, sh->node_id);
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
        Tunekv__V1__GetManyRequest m = TUNEKV__V1__GET_MANY_REQUEST__INIT;
        ProtobufCBinaryData *keys = NULL;
        Tunekv__V1__ReadOptions *o = NULL;
        Tunekv__V1__ReadOptions none = TUNEKV__V1__READ_OPTIONS__INIT;
        uint64_t now = uv_now(node->loop);
        uint64_t give_up = call_give_up_ms(c, now);
        uint8_t *space;
        size_t len;

        if (p == NULL) {
                rpc_fanout_fail(c, TKV_ESHUTDOWN, "%s: node %u left the cluster", c->method->name,
                                sh->node_id);
                return TKV_ESHUTDOWN;
        }
        if (f->options != NULL) {
                o = tunekv__v1__read_options__unpack(&call_pb_allocator, f->options_len,
                                                     f->options);
                if (o == NULL) {
                        rpc_fanout_fail(c, TKV_ENOMEM, "%s: out of memory (node %u)",
                                        c->method->name, sh->node_id);
                        return TKV_ENOMEM;
                }
        }
        if (o == NULL) { /* the defaults of a request without options */
                none.level = LEVEL(SEQUENTIAL);
                none.on_unmet = TUNEKV__V1__ON_UNMET__ON_UNMET_WAIT;
                o = &none;
        }
        if (f->target > o->min_timestamp) {
                o->min_timestamp = f->target;
        }
        if (f->rounds > 0 && o->at_timestamp == 0 &&
            (o->level == LEVEL(SEQUENTIAL) || o->level == LEVEL(CAUSAL) ||
             o->level == LEVEL(SESSION))) {
                /* The keys (a page) as of T from the change history: a key
                 * written since cannot move T again. */
                o->at_timestamp = f->target;
                o->level = LEVEL(SEQUENTIAL);
        }
        if (f->ops.kind == RPC_FANOUT_GET_MANY) {
                keys = tkv_malloc((f->n_keys + 1) * sizeof *keys);
                if (keys == NULL) {
                        if (o != &none) {
                                tunekv__v1__read_options__free_unpacked(o, &call_pb_allocator);
                        }
                        rpc_fanout_fail(c, TKV_ENOMEM, "%s: out of memory (node %u)",
                                        c->method->name, sh->node_id);
                        return TKV_ENOMEM;
                }
                for (uint32_t i = 0; i < f->n_keys; i++) {
                        if (f->key_share[i] == (uint32_t)(sh - f->shares)) {
                                keys[m.n_keys++] = f->keys[i];
                        }
                }
                m.keys = keys;
                m.options = o;
                req.body_case = TUNEKV__V1__REQUEST__BODY_GET_MANY;
                req.get_many = &m;
        } else {
                f->ops.request_of(c, &s);
                if (s.count_only) { /* the keys decide where the merged page ends */
                        s.count_only = false;
                        s.keys_only = true;
                }
                s.n_partitions = sh->n;
                s.partitions = f->parts + sh->first;
                s.bytes_max = f->share_bytes;
                s.options = o;
                req.body_case = TUNEKV__V1__REQUEST__BODY_SCAN;
                req.scan = &s;
        }
        req.id = peer_next_id(p);
        req.timeout_ms = give_up > now ? (uint32_t)(give_up - now) : 1;
        req.no_forward = true;
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(p, len);
        if (space != NULL) {
                tunekv__v1__request__pack(&req, space);
        }
        if (o != &none) {
                tunekv__v1__read_options__free_unpacked(o, &call_pb_allocator);
        }
        tkv_free(keys);
        if (space == NULL) {
                rpc_fanout_fail(c, TKV_EBUSY, "%s: too much queued for node %u", c->method->name,
                                sh->node_id);
                return TKV_EBUSY;
        }
        sh->pc.kind = RPC_PEER_FANOUT;
        peer_track(p, &sh->pc, req.id);
        sh->pending = true;
        f->pending++;
        return 0;
}

/* Read again the shares marked pending-to-be (again[i]), at or above
 * f->target: the remote ones first, this node's last (its round may end
 * the call before returning). */
static void rpc_fanout_again(struct rpc_fanout *f, const bool *again)
{
        unsigned self = f->c->node->cfg->node_id;
        int local = -1;

        f->rounds++;
        for (unsigned i = 0; i < f->n_shares; i++) {
                if (!again[i]) {
                        continue;
                }
                if (f->shares[i].node_id == self) {
                        local = (int)i;
                } else if (rpc_fanout_ask(f, &f->shares[i]) != 0) {
                        return; /* answered */
                }
        }
        if (local >= 0) {
                f->shares[local].pending = true;
                f->pending++;
                f->ops.again(f->c, f->target);
        }
}

/* ------------------------------------------------------------------------ */
/* The pages */

/* A share's page decoded. */
struct rpc_fanout_page {
        Tunekv__V1__Response *resp;
        const Tunekv__V1__ScanResponse *scan;    /* SCAN */
        const Tunekv__V1__GetManyResponse *many; /* GET_MANY */
        size_t at;                               /* the merge's next item */
};

static uint64_t rpc_fanout_page_ts(const struct rpc_fanout_page *pg)
{
        return pg->scan != NULL ? pg->scan->timestamp : pg->many->timestamp;
}

static Tunekv__V1__Consistency rpc_fanout_page_level(const struct rpc_fanout_page *pg)
{
        return pg->scan != NULL ? pg->scan->level : pg->many->level;
}

/* What a share's page is (LINEARIZABLE: did it change?): keys, versions,
 * partitions; for GET_MANY also whether each key was found and the
 * delete that removed an absent one (a key that came and went between
 * two readings shows there). */
static uint64_t rpc_fanout_digest(const struct rpc_fanout_page *pg)
{
        const Tunekv__V1__ScanResponse *s = pg->scan;
        XXH64_state_t st;
        uint64_t n;
        uint8_t more;

        XXH64_reset(&st, 0);
        if (s == NULL) {
                n = pg->many->n_items;
                XXH64_update(&st, &n, sizeof n);
                for (size_t i = 0; i < pg->many->n_items; i++) {
                        const Tunekv__V1__GetManyItem *it = pg->many->items[i];
                        uint8_t found = it->found;
                        XXH64_update(&st, &found, sizeof found);
                        XXH64_update(&st, &it->mod_index, sizeof it->mod_index);
                        XXH64_update(&st, &it->deleted_index, sizeof it->deleted_index);
                        XXH64_update(&st, &it->partition, sizeof it->partition);
                }
                return XXH64_digest(&st);
        }
        n = s->n_items;
        more = s->more;
        XXH64_update(&st, &n, sizeof n);
        XXH64_update(&st, &more, sizeof more);
        for (size_t i = 0; i < s->n_items; i++) {
                const Tunekv__V1__ScanItem *it = s->items[i];
                uint64_t len = it->key.len;
                XXH64_update(&st, &it->partition, sizeof it->partition);
                XXH64_update(&st, &len, sizeof len);
                XXH64_update(&st, it->key.data, it->key.len);
                XXH64_update(&st, &it->mod_index, sizeof it->mod_index);
        }
        return XXH64_digest(&st);
}

static int rpc_fanout_key_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
        return store_key_cmp(a->data, (uint32_t)a->len, b->data, (uint32_t)b->len);
}

static int rpc_fanout_receipt_cmp(const void *a, const void *b)
{
        const Tunekv__V1__ScanReceipt *x = *(const Tunekv__V1__ScanReceipt *const *)a;
        const Tunekv__V1__ScanReceipt *y = *(const Tunekv__V1__ScanReceipt *const *)b;
        return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* The shares' token deltas merged (R and W entries, the highest index
 * each), with a T entry for ts signed here: into out (tkv_malloc'd). */
static int rpc_fanout_token(struct rpc_fanout *f, const struct rpc_fanout_page *pages, uint64_t ts,
                            bool with_ts, uint8_t **out, size_t *len)
{
        struct node *node = f->c->node;
        uint32_t n_parts = 0;
        struct session_entry *all;
        unsigned n = 0;

        for (unsigned i = 0; i < f->n_shares; i++) {
                n_parts += f->shares[i].n;
        }
        all = tkv_malloc((2 * (size_t)n_parts + 1) * sizeof *all);
        if (all == NULL) {
                return TKV_ENOMEM;
        }
        for (unsigned i = 0; i < f->n_shares; i++) {
                /* A share's delta: an R entry per partition it read, its T. */
                const ProtobufCBinaryData *t =
                    pages[i].scan != NULL ? &pages[i].scan->token : &pages[i].many->token;
                unsigned cap = (unsigned)(t->len / SESSION_ENTRY_BYTES) + 1, m = 0;
                struct session_entry *e = t->len > 0 ? tkv_malloc(cap * sizeof *e) : NULL;
                if (e != NULL && session_parse(t->data, t->len, t->len, e, cap, &m) == 0) {
                        for (unsigned j = 0; j < m && n < 2 * n_parts; j++) {
                                if (e[j].kind != SESSION_T) {
                                        all[n++] = e[j];
                                }
                        }
                }
                tkv_free(e);
        }
        if (with_ts) {
                all[n].partition = SESSION_T_PARTITION;
                all[n].kind = SESSION_T;
                all[n].index = ts;
                session_sign(&node->keys, &all[n++]);
        }
        *len = session_encoded_bytes(n);
        *out = tkv_malloc(*len);
        if (*out == NULL) {
                tkv_free(all);
                return TKV_ENOMEM;
        }
        session_encode(all, n, *out);
        tkv_free(all);
        return 0;
}

/* Merge the pages of a SCAN and answer c. */
static void rpc_fanout_answer_scan(struct rpc_fanout *f, struct rpc_fanout_page *pages,
                                   Tunekv__V1__Consistency level, uint64_t ts)
{
        struct call *c = f->c;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ScanResponse sr = TUNEKV__V1__SCAN_RESPONSE__INIT;
        Tunekv__V1__ScanRequest req = TUNEKV__V1__SCAN_REQUEST__INIT;
        const ProtobufCBinaryData *cut = NULL;
        Tunekv__V1__ScanItem **items = NULL;
        Tunekv__V1__ScanReceipt **receipts = NULL;
        size_t n_items = 0, n_receipts = 0, cap = 0;
        uint64_t budget = f->ops.budget, bytes = 0;
        uint8_t *token = NULL;
        size_t token_len = 0;
        bool more = false;

        f->ops.request_of(c, &req);
        for (unsigned i = 0; i < f->n_shares; i++) {
                const Tunekv__V1__ScanResponse *s = pages[i].scan;
                cap += s->n_items;
                n_receipts += s->n_receipts;
                if (s->more && s->n_items > 0 &&
                    (cut == NULL || rpc_fanout_key_cmp(&s->items[s->n_items - 1]->key, cut) < 0)) {
                        cut = &s->items[s->n_items - 1]->key;
                }
                more = more || s->more;
        }
        items = tkv_malloc((cap + 1) * sizeof *items);
        receipts = tkv_malloc((n_receipts + 1) * sizeof *receipts);
        if (items == NULL || receipts == NULL ||
            rpc_fanout_token(f, pages, ts, level != LEVEL(EVENTUAL), &token, &token_len) != 0) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        for (;;) {
                struct rpc_fanout_page *best = NULL;
                const Tunekv__V1__ScanItem *it;
                uint64_t item_bytes;
                for (unsigned i = 0; i < f->n_shares; i++) {
                        struct rpc_fanout_page *pg = &pages[i];
                        if (pg->at < pg->scan->n_items &&
                            (best == NULL ||
                             rpc_fanout_key_cmp(&pg->scan->items[pg->at]->key,
                                                &best->scan->items[best->at]->key) < 0)) {
                                best = pg;
                        }
                }
                if (best == NULL) {
                        break;
                }
                it = best->scan->items[best->at];
                item_bytes = 48 + it->key.len + it->value.len;
                if ((cut != NULL && rpc_fanout_key_cmp(&it->key, cut) > 0) ||
                    n_items == req.limit || (n_items > 0 && bytes + item_bytes > budget)) {
                        more = true;
                        break;
                }
                bytes += item_bytes;
                items[n_items++] = (Tunekv__V1__ScanItem *)it;
                best->at++;
        }
        for (unsigned i = 0, r = 0; i < f->n_shares; i++) {
                for (size_t j = 0; j < pages[i].scan->n_receipts; j++) {
                        receipts[r++] = pages[i].scan->receipts[j];
                }
        }
        qsort(receipts, n_receipts, sizeof *receipts, rpc_fanout_receipt_cmp);
        sr.n_items = f->count_only ? 0 : n_items;
        sr.items = items;
        sr.count = n_items;
        sr.more = more;
        if (more && n_items > 0) {
                sr.cursor = items[n_items - 1]->key;
        } else if (more) {
                sr.cursor = req.cursor;
        }
        sr.n_receipts = n_receipts;
        sr.receipts = receipts;
        sr.timestamp = ts;
        sr.level = level;
        sr.token.data = token;
        sr.token.len = token_len;
        sr.node_id = c->node->cfg->node_id;
        sr.rounds = f->rounds;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_SCAN;
        resp.scan = &sr;
        call_answer(c, &resp);
out:
        tkv_free(token);
        tkv_free(receipts);
        tkv_free(items);
}

/* The items of a GET_MANY, in the request's order: key i's from the page
 * of the share that read it, whose items are in that order too. */
static void rpc_fanout_answer_many(struct rpc_fanout *f, struct rpc_fanout_page *pages,
                                   Tunekv__V1__Consistency level, uint64_t ts)
{
        struct call *c = f->c;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetManyResponse gm = TUNEKV__V1__GET_MANY_RESPONSE__INIT;
        Tunekv__V1__GetManyItem **items = tkv_malloc((f->n_keys + 1) * sizeof *items);
        uint8_t *token = NULL;
        size_t token_len = 0;

        if (items == NULL ||
            rpc_fanout_token(f, pages, ts, level != LEVEL(EVENTUAL), &token, &token_len) != 0) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        for (uint32_t i = 0; i < f->n_keys; i++) {
                struct rpc_fanout_page *pg = &pages[f->key_share[i]];
                if (pg->at >= pg->many->n_items) {
                        call_answer_error(c, TKV_ECORRUPT,
                                          "%s: node %u answered fewer keys than it was asked",
                                          c->method->name, f->shares[f->key_share[i]].node_id);
                        goto out;
                }
                items[i] = pg->many->items[pg->at++];
        }
        gm.n_items = f->n_keys;
        gm.items = items;
        gm.timestamp = ts;
        gm.node_id = c->node->cfg->node_id;
        gm.level = level;
        gm.token.data = token;
        gm.token.len = token_len;
        gm.rounds = f->rounds + 1;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_GET_MANY;
        resp.get_many = &gm;
        call_answer(c, &resp);
out:
        tkv_free(token);
        tkv_free(items);
}

/* The shares never showed one state within RPC_MANY_ROUNDS_MAX rounds. */
static void rpc_fanout_unmet(struct rpc_fanout *f)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        char message[200];

        snprintf(message, sizeof message,
                 "%s: the partitions kept changing while %u rounds read them on %u nodes "
                 "(bound not met: retry, or read fewer keys)",
                 f->c->method->name, f->rounds + 1, f->n_shares);
        resp.status = TUNEKV__V1__STATUS__STATUS_BOUND_UNMET;
        resp.message = message;
        call_answer(f->c, &resp);
}

/* Every share is in: answer, or read the shares that must be read again. */
static void rpc_fanout_round_done(struct rpc_fanout *f)
{
        struct call *c = f->c;
        unsigned n_shares = f->n_shares; /* f goes with c, which may be answered */
        struct rpc_fanout_page *pages = tkv_calloc(n_shares, sizeof *pages);
        bool *again = tkv_calloc(n_shares, sizeof *again);
        Tunekv__V1__Consistency level = LEVEL(LINEARIZABLE);
        uint64_t ts = f->target;
        bool any_again = false;

        if (pages == NULL || again == NULL) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        for (unsigned i = 0; i < f->n_shares; i++) {
                struct rpc_fanout_share *sh = &f->shares[i];
                pages[i].resp =
                    tunekv__v1__response__unpack(&call_pb_allocator, sh->len, sh->frame);
                if (pages[i].resp != NULL &&
                    pages[i].resp->body_case == TUNEKV__V1__RESPONSE__BODY_SCAN &&
                    f->ops.kind == RPC_FANOUT_SCAN) {
                        pages[i].scan = pages[i].resp->scan;
                } else if (pages[i].resp != NULL &&
                           pages[i].resp->body_case == TUNEKV__V1__RESPONSE__BODY_GET_MANY &&
                           f->ops.kind == RPC_FANOUT_GET_MANY) {
                        pages[i].many = pages[i].resp->get_many;
                } else {
                        call_answer_error(c, TKV_ECORRUPT, "%s: node %u's answer is undecodable",
                                          c->method->name, sh->node_id);
                        goto out;
                }
                level = rpc_fanout_page_level(&pages[i]) > level ? rpc_fanout_page_level(&pages[i])
                                                                 : level;
                ts = rpc_fanout_page_ts(&pages[i]) > ts ? rpc_fanout_page_ts(&pages[i]) : ts;
        }
        if (level == LEVEL(LINEARIZABLE)) {
                for (unsigned i = 0; i < f->n_shares; i++) {
                        uint64_t d = rpc_fanout_digest(&pages[i]);
                        again[i] = true;
                        any_again = any_again || !f->collected || d != f->shares[i].digest;
                        f->shares[i].digest = d;
                }
                f->collected = true;
        } else if (level != LEVEL(EVENTUAL)) {
                for (unsigned i = 0; i < f->n_shares; i++) {
                        again[i] = rpc_fanout_page_ts(&pages[i]) < ts;
                        any_again = any_again || again[i];
                }
                f->target = ts;
        }
        if (!any_again && f->ops.kind == RPC_FANOUT_GET_MANY) {
                rpc_fanout_answer_many(f, pages, level, ts);
        } else if (!any_again) {
                rpc_fanout_answer_scan(f, pages, level, ts);
        } else if (f->rounds + 1 >= RPC_MANY_ROUNDS_MAX) {
                rpc_fanout_unmet(f);
        } else {
                for (unsigned i = 0; i < f->n_shares; i++) {
                        if (pages[i].resp != NULL) {
                                tunekv__v1__response__free_unpacked(pages[i].resp,
                                                                    &call_pb_allocator);
                                pages[i].resp = NULL;
                        }
                }
                rpc_fanout_again(f, again); /* may end c: nothing of f after it */
        }
out:
        for (unsigned i = 0; pages != NULL && i < n_shares; i++) {
                if (pages[i].resp != NULL) {
                        tunekv__v1__response__free_unpacked(pages[i].resp, &call_pb_allocator);
                }
        }
        tkv_free(again);
        tkv_free(pages);
}

/* A share is in (frame, len bytes, owned now). */
static void rpc_fanout_in(struct rpc_fanout *f, struct rpc_fanout_share *sh, uint8_t *frame,
                          size_t len)
{
        tkv_free(sh->frame);
        sh->frame = frame;
        sh->len = len;
        sh->pending = false;
        if (--f->pending == 0) {
                rpc_fanout_round_done(f);
        }
}

void rpc_fanout_local_answer(struct call *c, const Tunekv__V1__Response *resp)
{
        struct rpc_fanout *f = c->fanout;
        unsigned self = c->node->cfg->node_id;
        size_t len = tunekv__v1__response__get_packed_size(resp);
        uint8_t *frame = tkv_malloc(len > 0 ? len : 1);

        if (frame == NULL) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                return;
        }
        tunekv__v1__response__pack(resp, frame); /* kept until every share is in */

        for (unsigned i = 0; i < f->n_shares; i++) {
                if (f->shares[i].node_id == self) {
                        rpc_fanout_in(f, &f->shares[i], frame, len);
                        return;
                }
        }
        tkv_free(frame); /* cannot happen: only a share here reads here */
}

void rpc_fanout_on_answer(struct peer_call *pc, const uint8_t *frame, size_t len)
{
        struct rpc_fanout_share *sh = QUEUE_DATA(pc, struct rpc_fanout_share, pc);
        struct rpc_fanout *f = sh->f;
        struct call *c = f->c;
        struct pbwire_field status, id;
        bool found_status, found_id;
        uint8_t *copy;

        if (pbwire_find(frame, len, CALL_RESPONSE_STATUS_FIELD, &status, &found_status) != 0 ||
            pbwire_find(frame, len, CALL_RESPONSE_ID_FIELD, &id, &found_id) != 0) {
                sh->pending = false;
                rpc_fanout_fail(c, TKV_ECORRUPT, "%s: node %u's answer is undecodable",
                                c->method->name, sh->node_id);
                return;
        }
        if (found_status && status.value != TUNEKV__V1__STATUS__STATUS_OK) {
                /* Its answer is the scan's, as it came: the status, the
                 * message, the leader hint or the bound. */
                sh->pending = false;
                rpc_fanout_stop_local(c);
                call_answer_relay(c, frame, len, found_id ? id.start : len,
                                  found_id ? id.end : len);
                return;
        }
        copy = tkv_malloc(len > 0 ? len : 1);
        if (copy == NULL) {
                sh->pending = false;
                rpc_fanout_fail(c, TKV_ENOMEM, "%s: out of memory (node %u)", c->method->name,
                                sh->node_id);
                return;
        }
        memcpy(copy, frame, len);
        rpc_fanout_in(f, sh, copy, len);
}

void rpc_fanout_on_fail(struct peer_call *pc)
{
        struct rpc_fanout_share *sh = QUEUE_DATA(pc, struct rpc_fanout_share, pc);

        sh->pending = false;
        rpc_fanout_fail(sh->f->c, TKV_ESHUTDOWN,
                        "%s: node %u, which holds part of the scan's partitions, is unreachable",
                        "SCAN", sh->node_id);
}

/* GET_MANY: copy every key of the call (this node's share keeps only its
 * own there) and note which share reads each. 0 or TKV_ENOMEM. */
static int rpc_fanout_keys(struct rpc_fanout *f)
{
        struct call *c = f->c;
        uint32_t n = c->key_len; /* at most one key per byte */
        ProtobufCBinaryData *keys = tkv_malloc((n + 1) * sizeof *keys);
        size_t bytes = 0;

        if (keys == NULL) {
                return TKV_ENOMEM;
        }
        f->n_keys = f->ops.keys_of(c, keys);
        for (uint32_t i = 0; i < f->n_keys; i++) {
                bytes += keys[i].len;
        }
        f->keys = keys;
        f->key_bytes = tkv_malloc(bytes + 1);
        f->key_share = tkv_malloc((f->n_keys + 1) * sizeof *f->key_share);
        if (f->key_bytes == NULL || f->key_share == NULL) {
                return TKV_ENOMEM;
        }
        bytes = 0;
        for (uint32_t i = 0; i < f->n_keys; i++) {
                uint32_t p = route_partition(key_hash_partition(keys[i].data, keys[i].len),
                                             c->node->n_partitions);
                memcpy(f->key_bytes + bytes, keys[i].data, keys[i].len);
                keys[i].data = f->key_bytes + bytes;
                bytes += keys[i].len;
                f->key_share[i] = 0;
                for (unsigned s = 0; s < f->n_shares; s++) {
                        const struct rpc_fanout_share *sh = &f->shares[s];
                        for (uint32_t k = 0; k < sh->n; k++) {
                                if (f->parts[sh->first + k] == p) {
                                        f->key_share[i] = s;
                                }
                        }
                }
        }
        return 0;
}

void rpc_fanout_start(struct call *c, const Tunekv__V1__ReadOptions *o, const uint32_t *all,
                      uint32_t n, const struct rpc_fanout_ops *ops)
{
        struct node *node = c->node;
        unsigned self = node->cfg->node_id;
        unsigned *owner = tkv_malloc((n + 1) * sizeof *owner);
        struct rpc_fanout *f = NULL;
        unsigned n_shares = 0;
        uint32_t missing, at = 0;
        int local = -1;

        if (owner == NULL) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        missing = rpc_fanout_cover(node, all, n, owner);
        if (missing != 0) {
                call_answer_error(c, TKV_ENOQUORUM,
                                  "%s: partition %u has no replica on node %u, and none of its "
                                  "replicas is reachable",
                                  c->method->name, missing - 1, self);
                goto out;
        }
        for (uint32_t k = 0; k < n; k++) { /* a share per distinct owner */
                bool seen = false;
                for (uint32_t j = 0; j < k && !seen; j++) {
                        seen = owner[j] == owner[k];
                }
                n_shares += !seen;
        }
        f = tkv_calloc(1, sizeof *f + n_shares * sizeof f->shares[0]);
        if (f == NULL || (f->parts = tkv_malloc(n * sizeof *f->parts)) == NULL) {
                tkv_free(f);
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        f->c = c;
        f->ops = *ops;
        if (ops->kind == RPC_FANOUT_SCAN) {
                Tunekv__V1__ScanRequest s = TUNEKV__V1__SCAN_REQUEST__INIT;
                ops->request_of(c, &s); /* before this node's share reads keys_only */
                f->count_only = s.count_only;
        }
        f->n_shares = n_shares;
        f->share_bytes = ops->budget / n_shares;
        if (f->share_bytes < RPC_FANOUT_SHARE_BYTES_MIN) {
                f->share_bytes = RPC_FANOUT_SHARE_BYTES_MIN;
        }
        c->fanout = f;
        c->release = rpc_fanout_release;
        for (unsigned i = 0; i < n_shares; i++) {
                struct rpc_fanout_share *sh = &f->shares[i];
                uint32_t k = 0;
                while (owner[k] == 0) { /* the first partition of a share not made yet */
                        k++;
                }
                sh->f = f;
                sh->node_id = owner[k];
                sh->first = at;
                for (uint32_t j = k; j < n; j++) {
                        if (owner[j] == sh->node_id) {
                                f->parts[at++] = all[j];
                                owner[j] = 0;
                        }
                }
                sh->n = at - sh->first;
                if (sh->node_id == self) {
                        local = (int)i;
                }
        }
        if (ops->kind == RPC_FANOUT_GET_MANY && rpc_fanout_keys(f) != 0) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                goto out;
        }
        if (o != NULL) {
                f->options_len = tunekv__v1__read_options__get_packed_size(o);
                f->options = tkv_malloc(f->options_len > 0 ? f->options_len : 1);
                if (f->options == NULL) {
                        call_answer_error(c, TKV_ENOMEM, "%s: out of memory", c->method->name);
                        goto out;
                }
                tunekv__v1__read_options__pack(o, f->options);
        }
        for (unsigned i = 0; i < n_shares; i++) {
                if ((int)i != local && rpc_fanout_ask(f, &f->shares[i]) != 0) {
                        goto out; /* answered */
                }
        }
        node->stats.forwarded++;
        if (local >= 0) {
                /* Last: its round may end the scan before returning. */
                f->shares[local].pending = true;
                f->pending++;
                f->ops.begin_share(c, f->parts + f->shares[local].first, f->shares[local].n, o);
        }
out:
        tkv_free(owner);
}
