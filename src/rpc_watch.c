/* WATCH: streams of the changes of one key, or of every key under a
 * prefix (docs/protocol.md "WATCH", docs/consistency.md "Watches").
 *
 * Where a stream starts is decided like a SCAN of the same keys at the
 * request's level: rpc_scan.c runs that round and, in the same loop turn,
 * calls rpc_watch_begin. Each partition's part of the stream starts at the
 * applied index the round read it at, or after the index the client gave
 * (a resume).
 *
 * The events come from each partition's change history (changes.h), which
 * is their log: a part holds only its position, so a stream's memory does
 * not grow with the events it has not sent yet. Per partition, a hub lists
 * the parts that are caught up ("live"). Once per loop iteration
 * (rpc_watch_flush) the hub walks the changes recorded since its last walk,
 * once, and hands each to the live parts of its key (a hash map of keys)
 * and of the prefixes it has (a list), as long as it is past their
 * position. A part whose connection holds more than watch_output_bytes_max
 * unsent stops there and is "behind": it keeps the seq of the next change
 * to look at and, whenever its connection has drained, reads on from the
 * history until it is caught up, and live again. A resumed part starts
 * behind. A part whose next change the history no longer holds goes on
 * from the oldest one kept if it cannot have missed one (its position is
 * at or above changes_start_index), else its stream ends COMPACTED, with
 * the index after which the history is complete.
 *
 * Frames hold whole log entries (a TXN's changes, a lease's deletes are
 * never split), so a client's position is always a complete index.
 *
 * A stream ends by WATCH_CANCEL, with its connection, at shutdown, or on
 * an error; it is then dead (skipped by every walk) and freed at the next
 * safe point (the start of a flush or tick), because a connection can
 * close in the middle of a walk (conn_answer_space). */
#include "rpc_watch.h"

#include <stdio.h>
#include <string.h>

#include "changes.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"
#include "store.h"
#include "value.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

/* Bytes an event takes in a frame besides its key and value. */
#define RPC_WATCH_EVENT_BYTES 48
/* The key map of a hub starts with 1 << this many chains and doubles when
 * it holds more parts than chains. */
#define RPC_WATCH_BITS_MIN 6

struct rpc_watch;

/* A stream's part in one partition. */
struct rpc_watch_part {
        struct rpc_watch *w;
        struct queue link; /* hub: keyed chain, prefixed or behind */
        uint32_t partition;
        bool live;
        uint64_t hash;           /* key streams: changes_key_hash of the key */
        uint64_t after;          /* every change of its keys at or below it was sent */
        uint64_t next_seq;       /* behind: the next change to look at */
        const struct change *at; /* behind: a change held (at_seq), to seek from */
        uint64_t bound_met_ms;   /* BOUNDED_STALENESS: when its replica last met the bound */
        uint64_t at_seq;
        /* A walk's changes for it, in order (rpc_watch_flush). */
        const struct change **pending;
        uint32_t n_pending;
        uint32_t cap_pending;
        struct rpc_watch_part *touched_next;
};

struct rpc_watch {
        struct queue all_link;  /* set->all, then set->dead */
        struct queue conn_link; /* conn->watches while alive */
        struct conn *conn;      /* referenced (conn_ref) until freed */
        uint64_t id;            /* the WATCH request's id: every frame's */
        bool prefix;
        bool keys_only;
        bool dead;
        uint8_t level; /* Tunekv__V1__Consistency asked */
        uint64_t max_staleness_ms;
        uint32_t key_len;
        uint8_t *key;
        uint32_t n_parts;
        struct rpc_watch_part parts[];
};

/* One partition's streams. */
struct rpc_watch_hub {
        struct queue *keyed; /* 1 << bits chains of live key parts, by hash */
        unsigned bits;
        unsigned n_keyed;
        struct queue prefixed; /* live prefix parts */
        struct queue behind;   /* parts reading the history on their own */
        uint64_t next_seq;     /* the next change the hub walks */
        const struct change *at;
        uint64_t at_seq;
};

struct rpc_watch_set {
        struct queue all;  /* struct rpc_watch, alive */
        struct queue dead; /* ended, to be freed */
        unsigned n;        /* alive */
        uint64_t tick_ms;  /* the next progress frames */
        unsigned n_hubs;
        struct rpc_watch_hub hubs[];
};

/* ------------------------------------------------------------------------ */
/* Memory */

int rpc_watch_init(struct node *node)
{
        unsigned n = node->n_partitions;
        struct rpc_watch_set *set = tkv_calloc(1, sizeof *set + n * sizeof set->hubs[0]);

        if (set == NULL) {
                return TKV_ENOMEM;
        }
        queue_init(&set->all);
        queue_init(&set->dead);
        set->n_hubs = n;
        for (unsigned p = 0; p < n; p++) {
                queue_init(&set->hubs[p].prefixed);
                queue_init(&set->hubs[p].behind);
        }
        node->watches = set;
        return 0;
}

static void rpc_watch_free(struct rpc_watch_set *set, struct rpc_watch *w)
{
        for (uint32_t k = 0; k < w->n_parts; k++) {
                if (w->parts[k].live && !w->prefix) {
                        set->hubs[w->parts[k].partition].n_keyed--;
                }
                queue_remove(&w->parts[k].link);
                tkv_free(w->parts[k].pending);
        }
        queue_remove(&w->all_link);
        conn_unref(w->conn);
        tkv_free(w);
}

static void rpc_watch_free_dead(struct rpc_watch_set *set)
{
        while (!queue_empty(&set->dead)) {
                rpc_watch_free(set, QUEUE_DATA(queue_head(&set->dead), struct rpc_watch, all_link));
        }
}

void rpc_watch_destroy(struct node *node)
{
        struct rpc_watch_set *set = node->watches;

        if (set == NULL) {
                return;
        }
        while (!queue_empty(&set->all)) {
                struct rpc_watch *w = QUEUE_DATA(queue_head(&set->all), struct rpc_watch, all_link);
                queue_remove(&w->conn_link);
                w->conn->n_watches--;
                rpc_watch_free(set, w);
        }
        rpc_watch_free_dead(set);
        for (unsigned p = 0; p < set->n_hubs; p++) {
                tkv_free(set->hubs[p].keyed);
        }
        tkv_free(set);
        node->watches = NULL;
}

/* w is over: no frame more; freed at the next safe point. */
static void rpc_watch_kill(struct rpc_watch_set *set, struct rpc_watch *w)
{
        if (w->dead) {
                return;
        }
        w->dead = true;
        queue_remove(&w->conn_link);
        w->conn->n_watches--;
        queue_remove(&w->all_link);
        queue_push_tail(&set->dead, &w->all_link);
        set->n--;
}

/* ------------------------------------------------------------------------ */
/* Frames */

static void rpc_watch_send(struct rpc_watch *w, Tunekv__V1__WatchResponse *wr,
                           Tunekv__V1__Status status, const char *message)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;

        resp.id = w->id;
        resp.status = status;
        resp.message = (char *)(message != NULL ? message : "");
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
        resp.watch = wr;
        call_send(w->conn, &resp);
}

/* End w with a last frame (canceled) saying tkv_err (a TKV_E* code, or 0)
 * and why. */
static void rpc_watch_end_status(struct rpc_watch_set *set, struct rpc_watch *w,
                                 Tunekv__V1__Status status, const char *why, uint32_t partition,
                                 uint64_t compacted_index)
{
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;

        if (w->dead) {
                return;
        }
        wr.canceled = true;
        wr.compacted_partition = partition;
        wr.compacted_index = compacted_index;
        rpc_watch_send(w, &wr, status, why);
        rpc_watch_kill(set, w);
}

static void rpc_watch_end(struct rpc_watch_set *set, struct rpc_watch *w, int tkv_err,
                          const char *why, uint32_t partition, uint64_t compacted_index)
{
        rpc_watch_end_status(set, w, call_status_of(tkv_err), why, partition, compacted_index);
}

static uint64_t rpc_watch_event_bytes(const struct rpc_watch *w, const struct change *r)
{
        struct changes_view v;
        struct store_fields f;

        changes_view(r, &v);
        if (v.after == NULL || w->keys_only) {
                return RPC_WATCH_EVENT_BYTES + v.key_len;
        }
        store_entry_fields(v.after, &f);
        return RPC_WATCH_EVENT_BYTES + v.key_len + f.value_raw_len;
}

/* Fill ev from change r; a compressed value is decompressed into *raw,
 * which advances. */
static int rpc_watch_event_fill(const struct rpc_watch *w, uint32_t p, const struct change *r,
                                Tunekv__V1__WatchEvent *ev, uint8_t **raw)
{
        struct changes_view v;
        struct store_fields f;

        changes_view(r, &v);
        tunekv__v1__watch_event__init(ev);
        ev->key.data = (uint8_t *)v.key;
        ev->key.len = v.key_len;
        ev->partition = p;
        ev->index = v.index;
        ev->timestamp = v.ts;
        if (v.after == NULL) {
                ev->type = TUNEKV__V1__EVENT_TYPE__EVENT_DELETE;
                return 0;
        }
        ev->type = TUNEKV__V1__EVENT_TYPE__EVENT_PUT;
        store_entry_fields(v.after, &f);
        ev->create_index = f.create_index;
        if (w->keys_only) {
                return 0;
        }
        ev->value.data = (uint8_t *)f.value;
        ev->value.len = f.value_len;
        if (f.value_raw_len != f.value_len) {
                int rv = value_decompress(f.value, f.value_len, *raw, f.value_raw_len);
                if (rv != 0) {
                        return rv;
                }
                ev->value.data = *raw;
                ev->value.len = f.value_raw_len;
                *raw += f.value_raw_len;
        }
        return 0;
}

/* The events of changes[0..n) (whole entries: n ends at an index
 * boundary) in one frame. 0, or a TKV_E* code. */
static int rpc_watch_frame(struct rpc_watch *w, uint32_t p, const struct change *const *changes,
                           uint32_t n)
{
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;
        Tunekv__V1__WatchEvent *evs = tkv_malloc(n * sizeof *evs);
        Tunekv__V1__WatchEvent **ptrs = tkv_malloc(n * sizeof *ptrs);
        size_t raw_len = 0;
        uint8_t *raw = NULL, *at;
        int rv = TKV_ENOMEM;

        for (uint32_t i = 0; i < n && !w->keys_only; i++) {
                struct changes_view v;
                struct store_fields f;
                changes_view(changes[i], &v);
                if (v.after != NULL) {
                        store_entry_fields(v.after, &f);
                        raw_len += f.value_raw_len != f.value_len ? f.value_raw_len : 0;
                }
        }
        raw = raw_len > 0 ? tkv_malloc(raw_len) : NULL;
        if (evs == NULL || ptrs == NULL || (raw_len > 0 && raw == NULL)) {
                goto out;
        }
        at = raw;
        for (uint32_t i = 0; i < n; i++) {
                rv = rpc_watch_event_fill(w, p, changes[i], &evs[i], &at);
                if (rv != 0) {
                        goto out;
                }
                ptrs[i] = &evs[i];
        }
        wr.n_events = n;
        wr.events = ptrs;
        rpc_watch_send(w, &wr, TUNEKV__V1__STATUS__STATUS_OK, NULL);
        rv = 0;
out:
        tkv_free(raw);
        tkv_free(ptrs);
        tkv_free(evs);
        return rv;
}

static uint64_t rpc_watch_frame_budget(const struct node *node)
{
        uint64_t half = node->cfg->frame_bytes_max / 2;
        return half < node->cfg->watch_output_bytes_max ? half : node->cfg->watch_output_bytes_max;
}

static bool rpc_watch_conn_full(const struct node *node, const struct rpc_watch *w)
{
        return conn_unsent_bytes(w->conn) > node->cfg->watch_output_bytes_max;
}

static uint64_t rpc_watch_index_of(const struct change *r)
{
        struct changes_view v;
        changes_view(r, &v);
        return v.index;
}

/* Send changes[0..n) of part k in frames of whole entries, while the
 * connection has room. Returns how many were sent (all of them, unless the
 * connection filled, the stream died, or it failed: then it ended). */
static uint32_t rpc_watch_part_send(struct node *node, struct rpc_watch_part *pt,
                                    const struct change *const *changes, uint32_t n)
{
        struct rpc_watch *w = pt->w;
        uint64_t budget = rpc_watch_frame_budget(node);
        uint32_t sent = 0;

        while (sent < n && !w->dead && !rpc_watch_conn_full(node, w)) {
                uint64_t bytes = 0;
                uint32_t end = sent;
                int rv;
                /* Whole entries up to the budget; at least one entry. */
                while (end < n) {
                        uint32_t e = end + 1;
                        uint64_t index = rpc_watch_index_of(changes[end]);
                        uint64_t b = rpc_watch_event_bytes(w, changes[end]);
                        while (e < n && rpc_watch_index_of(changes[e]) == index) {
                                b += rpc_watch_event_bytes(w, changes[e++]);
                        }
                        if (end > sent && bytes + b > budget) {
                                break;
                        }
                        bytes += b;
                        end = e;
                }
                rv = rpc_watch_frame(w, pt->partition, changes + sent, end - sent);
                if (rv != 0) {
                        rpc_watch_end(node->watches, w, rv, "WATCH: cannot send an event", 0, 0);
                        return sent;
                }
                pt->after = rpc_watch_index_of(changes[end - 1]);
                sent = end;
        }
        return sent;
}

/* ------------------------------------------------------------------------ */
/* Hubs */

static bool rpc_watch_matches(const struct rpc_watch *w, const struct changes_view *v)
{
        if (w->prefix) {
                return v->key_len >= w->key_len &&
                       (w->key_len == 0 || memcmp(v->key, w->key, w->key_len) == 0);
        }
        return v->key_len == w->key_len && memcmp(v->key, w->key, w->key_len) == 0;
}

/* Double the key map when it holds more parts than chains. A failed
 * allocation keeps the old one: chains grow longer, nothing breaks. */
static void rpc_watch_hub_grow(struct rpc_watch_hub *hub)
{
        unsigned bits = hub->keyed == NULL ? RPC_WATCH_BITS_MIN : hub->bits + 1;
        struct queue *chains;

        if (hub->keyed != NULL && hub->n_keyed <= (1u << hub->bits)) {
                return;
        }
        chains = tkv_malloc(((size_t)1 << bits) * sizeof *chains);
        if (chains == NULL) {
                return;
        }
        for (size_t i = 0; i < ((size_t)1 << bits); i++) {
                queue_init(&chains[i]);
        }
        for (size_t i = 0; hub->keyed != NULL && i < ((size_t)1 << hub->bits); i++) {
                while (!queue_empty(&hub->keyed[i])) {
                        struct queue *q = queue_head(&hub->keyed[i]);
                        struct rpc_watch_part *pt = QUEUE_DATA(q, struct rpc_watch_part, link);
                        queue_remove(q);
                        queue_push_tail(&chains[pt->hash & ((1u << bits) - 1)], q);
                }
        }
        tkv_free(hub->keyed);
        hub->keyed = chains;
        hub->bits = bits;
}

/* Make pt live in hub (its position is the hub's). */
static void rpc_watch_go_live(struct rpc_watch_hub *hub, struct rpc_watch_part *pt)
{
        queue_remove(&pt->link);
        pt->live = true;
        if (pt->w->prefix) {
                queue_push_tail(&hub->prefixed, &pt->link);
                return;
        }
        hub->n_keyed++;
        rpc_watch_hub_grow(hub);
        if (hub->keyed == NULL) {
                /* No map at all: read the history on its own. */
                hub->n_keyed--;
                pt->live = false;
                pt->next_seq = hub->next_seq;
                queue_push_tail(&hub->behind, &pt->link);
                return;
        }
        queue_push_tail(&hub->keyed[pt->hash & ((1u << hub->bits) - 1)], &pt->link);
}

/* pt stops following the hub: it reads on from seq next_seq. */
static void rpc_watch_go_behind(struct rpc_watch_hub *hub, struct rpc_watch_part *pt,
                                uint64_t next_seq)
{
        if (pt->live && !pt->w->prefix) {
                hub->n_keyed--;
        }
        queue_remove(&pt->link);
        pt->live = false;
        pt->next_seq = next_seq;
        pt->at = NULL;
        queue_push_tail(&hub->behind, &pt->link);
}

/* Add change r to pt's walk; false when out of memory (the stream ended). */
static bool rpc_watch_pend(struct node *node, struct rpc_watch_part *pt, const struct change *r,
                           struct rpc_watch_part **touched)
{
        if (pt->n_pending == pt->cap_pending) {
                uint32_t cap = pt->cap_pending == 0 ? 16 : 2 * pt->cap_pending;
                const struct change **a = tkv_realloc(pt->pending, cap * sizeof *a);
                if (a == NULL) {
                        rpc_watch_end(node->watches, pt->w, TKV_ENOMEM,
                                      "WATCH: out of memory on the node", 0, 0);
                        return false;
                }
                pt->pending = a;
                pt->cap_pending = cap;
        }
        if (pt->n_pending == 0) {
                pt->touched_next = *touched;
                *touched = pt;
        }
        pt->pending[pt->n_pending++] = r;
        return true;
}

/* The live parts change r concerns. */
static void rpc_watch_hub_route(struct node *node, struct rpc_watch_hub *hub,
                                const struct change *r, struct rpc_watch_part **touched)
{
        struct changes_view v;
        struct queue *q;

        changes_view(r, &v);
        if (call_planted("watch-skip") && v.seq % 50 == 49) {
                return; /* planted: live streams lose every 50th change */
        }
        if (hub->keyed != NULL) {
                QUEUE_FOREACH(q, &hub->keyed[v.hash & ((1u << hub->bits) - 1)])
                {
                        struct rpc_watch_part *pt = QUEUE_DATA(q, struct rpc_watch_part, link);
                        if (!pt->w->dead && pt->hash == v.hash && v.index > pt->after &&
                            rpc_watch_matches(pt->w, &v)) {
                                (void)rpc_watch_pend(node, pt, r, touched);
                        }
                }
        }
        QUEUE_FOREACH(q, &hub->prefixed)
        {
                struct rpc_watch_part *pt = QUEUE_DATA(q, struct rpc_watch_part, link);
                if (!pt->w->dead && v.index > pt->after && rpc_watch_matches(pt->w, &v)) {
                        (void)rpc_watch_pend(node, pt, r, touched);
                }
        }
}

/* Every live part goes behind at seq: the hub lost changes it had not
 * walked (more were recorded and dropped within one iteration). */
static void rpc_watch_hub_fall_behind(struct rpc_watch_hub *hub, uint64_t seq)
{
        struct queue *q, *next;

        for (size_t i = 0; hub->keyed != NULL && i < ((size_t)1 << hub->bits); i++) {
                for (q = hub->keyed[i].next; q != &hub->keyed[i]; q = next) {
                        next = q->next;
                        rpc_watch_go_behind(hub, QUEUE_DATA(q, struct rpc_watch_part, link), seq);
                }
        }
        for (q = hub->prefixed.next; q != &hub->prefixed; q = next) {
                next = q->next;
                rpc_watch_go_behind(hub, QUEUE_DATA(q, struct rpc_watch_part, link), seq);
        }
}

/* Send the touched parts their changes; a part the connection stopped
 * goes behind at its first change not sent. */
static void rpc_watch_hub_send(struct node *node, struct rpc_watch_hub *hub,
                               struct rpc_watch_part *touched)
{
        while (touched != NULL) {
                struct rpc_watch_part *pt = touched;
                uint32_t n = pt->n_pending, sent = 0;
                touched = pt->touched_next;
                if (!pt->w->dead) {
                        sent = rpc_watch_part_send(node, pt, pt->pending, n);
                }
                if (!pt->w->dead && sent < n) {
                        struct changes_view v;
                        changes_view(pt->pending[sent], &v);
                        rpc_watch_go_behind(hub, pt, v.seq);
                }
                pt->n_pending = 0;
        }
}

/* A behind part reads on from the history: up to the newest change (then
 * it is live) or until its connection is full. */
static void rpc_watch_catch_up(struct node *node, struct rpc_watch_hub *hub,
                               const struct changes *ch, struct rpc_watch_part *pt)
{
        struct rpc_watch_part *touched = NULL;
        const struct change *r;
        uint64_t budget = rpc_watch_frame_budget(node);

        while (!pt->w->dead && !rpc_watch_conn_full(node, pt->w)) {
                uint64_t bytes = 0, last_index = 0;
                if (pt->next_seq < changes_first_seq(ch)) {
                        if (pt->after < changes_start_index(ch)) {
                                char why[200];
                                snprintf(why, sizeof why,
                                         "WATCH: partition %u's change history no longer holds "
                                         "the changes after index %llu; it is complete after %llu "
                                         "([history] history_changes_max, history_bytes_max, "
                                         "history_retain_ms)",
                                         pt->partition, (unsigned long long)pt->after,
                                         (unsigned long long)changes_start_index(ch));
                                rpc_watch_end(node->watches, pt->w, TKV_ECOMPACTED, why,
                                              pt->partition, changes_start_index(ch));
                                return;
                        }
                        pt->next_seq = changes_first_seq(ch);
                }
                if (pt->next_seq >= changes_next_seq(ch)) {
                        rpc_watch_go_live(hub, pt);
                        return;
                }
                r = changes_seek(ch, pt->at, pt->at_seq, pt->next_seq);
                /* Up to a frame's worth of its changes, whole entries. */
                for (; r != NULL; r = changes_next(r)) {
                        struct changes_view v;
                        changes_view(r, &v);
                        if (bytes >= budget && v.index != last_index) {
                                break;
                        }
                        pt->at = r;
                        pt->at_seq = v.seq;
                        pt->next_seq = v.seq + 1;
                        if (v.index > pt->after && rpc_watch_matches(pt->w, &v)) {
                                if (!rpc_watch_pend(node, pt, r, &touched)) {
                                        return;
                                }
                                bytes += rpc_watch_event_bytes(pt->w, r);
                                last_index = v.index;
                        }
                }
                if (pt->n_pending > 0) {
                        uint32_t n = pt->n_pending;
                        uint32_t sent = rpc_watch_part_send(node, pt, pt->pending, n);
                        if (!pt->w->dead && sent < n) {
                                struct changes_view v;
                                changes_view(pt->pending[sent], &v);
                                pt->next_seq = v.seq;
                                pt->at = pt->pending[sent];
                                pt->at_seq = v.seq;
                        }
                        pt->n_pending = 0;
                }
        }
}

void rpc_watch_flush(struct node *node, uint32_t p)
{
        struct rpc_watch_set *set = node->watches;
        struct rpc_watch_hub *hub = &set->hubs[p];
        const struct changes *ch = group_changes(node_group(node, p));
        struct rpc_watch_part *touched = NULL;
        const struct change *r;
        struct queue *q, *next;

        rpc_watch_free_dead(set);
        if (hub->next_seq < changes_next_seq(ch)) {
                if (hub->next_seq < changes_first_seq(ch)) {
                        rpc_watch_hub_fall_behind(hub, hub->next_seq);
                        hub->next_seq = changes_first_seq(ch);
                        hub->at = NULL;
                }
                for (r = changes_seek(ch, hub->at, hub->at_seq, hub->next_seq); r != NULL;
                     r = changes_next(r)) {
                        rpc_watch_hub_route(node, hub, r, &touched);
                        hub->at = r;
                        hub->at_seq = hub->next_seq++;
                }
                rpc_watch_hub_send(node, hub, touched);
        }
        for (q = hub->behind.next; q != &hub->behind; q = next) {
                struct rpc_watch_part *pt = QUEUE_DATA(q, struct rpc_watch_part, link);
                next = q->next;
                if (!pt->w->dead && !rpc_watch_conn_full(node, pt->w)) {
                        rpc_watch_catch_up(node, hub, ch, pt);
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Progress */

/* Where part pt is: every change of its keys at or below the index is
 * sent. A live part has seen everything its replica applied. */
static uint64_t rpc_watch_position(struct node *node, struct rpc_watch_part *pt)
{
        struct group *g = node_group(node, pt->partition);
        struct rpc_watch_hub *hub = &node->watches->hubs[pt->partition];

        if (pt->live && hub->next_seq == changes_next_seq(group_changes(g)) &&
            group_applied_index(g) > pt->after) {
                pt->after = group_applied_index(g);
        }
        return pt->after;
}

/* One progress frame for w; false if w ended (its bound is not met). */
static bool rpc_watch_progress(struct node *node, struct rpc_watch *w, uint64_t now_ms)
{
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;
        Tunekv__V1__WatchProgress *pr = tkv_malloc(w->n_parts * sizeof *pr);
        Tunekv__V1__WatchProgress **ptrs = tkv_malloc(w->n_parts * sizeof *ptrs);
        bool ok = pr != NULL && ptrs != NULL;

        for (uint32_t k = 0; ok && k < w->n_parts; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                struct group *g = node_group(node, pt->partition);
                struct read_replica r = read_replica_of(g);
                struct read_state *rs = node_read_state(node, pt->partition);
                int64_t stale = read_staleness_ms(rs, &r, now_ms);

                tunekv__v1__watch_progress__init(&pr[k]);
                ptrs[k] = &pr[k];
                pr[k].partition = pt->partition;
                pr[k].index = rpc_watch_position(node, pt);
                pr[k].staleness_ms = stale;
                pr[k].node_id = node->cfg->node_id;
                if (w->level == LEVEL(BOUNDED_STALENESS) && w->max_staleness_ms > 0) {
                        rs->demand_ms = now_ms; /* followers keep probing: staleness known */
                        if (stale >= 0 && (uint64_t)stale <= w->max_staleness_ms) {
                                pt->bound_met_ms = now_ms;
                        } else if (now_ms - pt->bound_met_ms > w->max_staleness_ms) {
                                /* Over the bound, or no proof of it (a probe
                                 * answer) for as long as the bound. */
                                char why[200], how[40] = "of unknown staleness";
                                if (stale >= 0) {
                                        snprintf(how, sizeof how, "%lld ms stale",
                                                 (long long)stale);
                                }
                                snprintf(why, sizeof why,
                                         "WATCH: node %u's replica of partition %u is %s, over "
                                         "max_staleness_ms %llu: resume elsewhere after index %llu",
                                         node->cfg->node_id, pt->partition, how,
                                         (unsigned long long)w->max_staleness_ms,
                                         (unsigned long long)pt->after);
                                rpc_watch_end_status(node->watches, w,
                                                     TUNEKV__V1__STATUS__STATUS_BOUND_UNMET, why,
                                                     pt->partition, 0);
                                ok = false;
                                goto out;
                        }
                }
        }
        if (!ok) {
                rpc_watch_end(node->watches, w, TKV_ENOMEM, "WATCH: out of memory on the node", 0,
                              0);
                goto out;
        }
        wr.n_progress = w->n_parts;
        wr.progress = ptrs;
        rpc_watch_send(w, &wr, TUNEKV__V1__STATUS__STATUS_OK, NULL);
out:
        tkv_free(ptrs);
        tkv_free(pr);
        return ok;
}

void rpc_watch_tick(struct node *node, uint64_t now_ms)
{
        struct rpc_watch_set *set = node->watches;
        struct queue *q, *next;

        if (set == NULL || now_ms < set->tick_ms) {
                return;
        }
        set->tick_ms = now_ms + node->cfg->watch_progress_ms;
        rpc_watch_free_dead(set);
        for (q = set->all.next; q != &set->all; q = next) {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, all_link);
                next = q->next;
                if (!rpc_watch_conn_full(node, w)) {
                        (void)rpc_watch_progress(node, w, now_ms);
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Ends */

void rpc_watch_end_all(struct node *node, int tkv_err, const char *why)
{
        struct rpc_watch_set *set = node->watches;

        while (set != NULL && !queue_empty(&set->all)) {
                rpc_watch_end(set, QUEUE_DATA(queue_head(&set->all), struct rpc_watch, all_link),
                              tkv_err, why, 0, 0);
        }
}

void rpc_watch_partition_gone(struct node *node, uint32_t p)
{
        struct rpc_watch_set *set = node->watches;
        struct queue *q, *next;

        if (set == NULL || p >= set->n_hubs) {
                return;
        }
        for (q = set->all.next; q != &set->all; q = next) {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, all_link);
                next = q->next; /* w leaves the list when it ends */
                for (uint32_t k = 0; k < w->n_parts; k++) {
                        if (w->parts[k].partition == p) {
                                rpc_watch_end(set, w, TKV_ESHUTDOWN,
                                              "WATCH: a partition's replica left this node; "
                                              "resume elsewhere",
                                              0, 0);
                                break;
                        }
                }
        }
        /* The next replica here has a history of its own. */
        set->hubs[p].next_seq = 0;
        set->hubs[p].at = NULL;
        set->hubs[p].at_seq = 0;
}

void rpc_watch_conn_closed(struct conn *conn)
{
        struct node *node = conn->set->data;

        while (!queue_empty(&conn->watches)) {
                rpc_watch_kill(node->watches,
                               QUEUE_DATA(queue_head(&conn->watches), struct rpc_watch, conn_link));
        }
}

void rpc_watch_cancel(struct call *c, const Tunekv__V1__Request *req)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        uint64_t id = req->watch_cancel->watch_id;
        struct queue *q;

        QUEUE_FOREACH(q, &c->conn->watches)
        {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, conn_link);
                if (w->id == id) {
                        rpc_watch_end(c->node->watches, w, 0, "cancelled", 0, 0);
                        call_answer(c, &resp);
                        return;
                }
        }
        call_answer_error(c, TKV_ENOTFOUND,
                          "WATCH_CANCEL: no stream with id %llu on this connection",
                          (unsigned long long)id);
}

/* ------------------------------------------------------------------------ */
/* Starts */

int rpc_watch_admit(const struct conn *conn, const Tunekv__V1__Request *req,
                    const struct config *cfg, unsigned n_partitions, char *message, size_t len)
{
        const Tunekv__V1__WatchRequest *wq = req->watch;
        const struct node *node = conn->set->data;

        if (wq->key.len > cfg->key_bytes_max) {
                snprintf(message, len, "WATCH: key of %zu bytes exceeds key_bytes_max (%llu)",
                         wq->key.len, (unsigned long long)cfg->key_bytes_max);
                return TKV_ETOOBIG;
        }
        if (wq->key.len == 0 && !wq->prefix) {
                snprintf(message, len, "WATCH: empty key (watch every key with prefix and \"\")");
                return TKV_EINVAL;
        }
        for (size_t i = 0; i < wq->n_start; i++) {
                if (!wq->start[i]->every && wq->start[i]->partition >= n_partitions) {
                        snprintf(message, len, "WATCH: start names partition %u of %u",
                                 wq->start[i]->partition, n_partitions);
                        return TKV_EINVAL;
                }
        }
        if (conn->n_watches >= cfg->watches_per_conn_max) {
                snprintf(message, len,
                         "WATCH: %u streams open on this connection "
                         "(watches_per_conn_max)",
                         conn->n_watches);
                return TKV_EBUSY;
        }
        if (node->watches == NULL || node->watches->n >= cfg->watches_max) {
                snprintf(message, len, "WATCH: %u streams open on node %u (watches_max)",
                         node->watches != NULL ? node->watches->n : 0, cfg->node_id);
                return TKV_EBUSY;
        }
        return 0;
}

/* A new stream of spec s on c's connection; NULL when out of memory. */
static struct rpc_watch *rpc_watch_new(struct call *c, const struct rpc_watch_spec *s)
{
        struct rpc_watch *w =
            tkv_calloc(1, sizeof *w + s->n_parts * sizeof w->parts[0] + s->key_len + 1);

        if (w == NULL) {
                return NULL;
        }
        w->conn = c->conn;
        w->id = c->id;
        w->prefix = s->prefix;
        w->keys_only = s->keys_only;
        w->level = c->rd.level;
        w->max_staleness_ms = s->max_staleness_ms;
        w->key = (uint8_t *)&w->parts[s->n_parts];
        w->key_len = s->key_len;
        if (s->key_len > 0) {
                memcpy(w->key, s->key, s->key_len);
        }
        w->n_parts = s->n_parts;
        for (uint32_t k = 0; k < s->n_parts; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                uint32_t p = s->first + k;
                pt->w = w;
                pt->partition = p;
                queue_init(&pt->link);
                pt->hash =
                    changes_key_hash(group_changes(node_group(c->node, p)), w->key, w->key_len);
        }
        return w;
}

/* A resumed partition whose history starts after its index: the index
 * it could go on from, else 0. */
static int64_t rpc_watch_compacted(struct call *c, const struct rpc_watch_spec *s)
{
        for (uint32_t k = 0; k < s->n_parts; k++) {
                const struct changes *ch = group_changes(node_group(c->node, s->first + k));
                if (s->resumed[k] && s->after[k] < changes_start_index(ch)) {
                        return k;
                }
        }
        return -1;
}

void rpc_watch_begin(struct call *c, const struct rpc_watch_spec *s)
{
        struct rpc_watch_set *set = c->node->watches;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;
        Tunekv__V1__WatchProgress pr[s->n_parts > 0 ? s->n_parts : 1];
        Tunekv__V1__WatchProgress *ptrs[s->n_parts > 0 ? s->n_parts : 1];
        int64_t k0 = rpc_watch_compacted(c, s);
        struct rpc_watch *w;

        if (k0 >= 0) {
                const struct changes *ch = group_changes(node_group(c->node, s->first + k0));
                wr.canceled = true;
                wr.compacted_partition = s->first + (uint32_t)k0;
                wr.compacted_index = changes_start_index(ch);
                resp.status = call_status_of(TKV_ECOMPACTED);
                resp.message = "WATCH: the change history no longer holds every change after "
                               "the index to resume from: read the keys again, then watch after "
                               "compacted_index";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
                resp.watch = &wr;
                call_answer(c, &resp);
                return;
        }
        w = rpc_watch_new(c, s);
        if (w == NULL) {
                call_answer_error(c, TKV_ENOMEM, "WATCH: out of memory");
                return;
        }
        for (uint32_t k = 0; k < s->n_parts; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                struct rpc_watch_hub *hub = &set->hubs[pt->partition];
                const struct changes *ch = group_changes(node_group(c->node, pt->partition));
                pt->after = s->after[k];
                pt->bound_met_ms = node_clock_ms(c->node); /* the start met it */
                if (s->resumed[k]) {
                        rpc_watch_go_behind(hub, pt, changes_first_seq(ch));
                } else {
                        /* Changes recorded this turn and not walked yet are
                         * at or below after: the hub skips them. */
                        rpc_watch_go_live(hub, pt);
                }
                tunekv__v1__watch_progress__init(&pr[k]);
                ptrs[k] = &pr[k];
                pr[k].partition = pt->partition;
                pr[k].index = pt->after;
                pr[k].staleness_ms = -1;
                pr[k].node_id = c->node->cfg->node_id;
        }
        queue_push_tail(&set->all, &w->all_link);
        queue_push_tail(&c->conn->watches, &w->conn_link);
        c->conn->n_watches++;
        conn_ref(c->conn);
        set->n++;
        wr.created = true;
        wr.level = (Tunekv__V1__Consistency)c->rd.level;
        wr.node_id = c->node->cfg->node_id;
        wr.n_progress = s->n_parts;
        wr.progress = ptrs;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
        resp.watch = &wr;
        call_answer(c, &resp);
}
