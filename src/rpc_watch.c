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
#include "peer.h"
#include "rpc_internal.h"
#include "store.h"
#include "value.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x

/* Bytes an event takes in a frame besides its key and value. */
#define RPC_WATCH_EVENT_BYTES 48
/* The key map of a hub starts with 1 << this many chains and doubles when
 * it holds more parts than chains. */
#define RPC_WATCH_BITS_MIN 6
/* A part's share: read here (the hubs), not on another node. */
#define RPC_WATCH_HERE UINT32_MAX
/* A share that sent nothing for this many progress periods is lost. */
#define RPC_WATCH_SILENT_PERIODS 3

struct rpc_watch;

/* A spread stream's share on another node: a WATCH of its partitions over
 * the node link, whose frames are relayed ("Spread streams" below). */
struct rpc_watch_share {
        struct peer_call pc; /* kind RPC_PEER_WATCH, tracked while asked */
        struct rpc_watch *w;
        unsigned node_id;
        bool asked;        /* its stream runs (or starts) there */
        bool created;      /* its created frame came */
        bool paused;       /* cancelled while the client's connection was full */
        uint64_t heard_ms; /* node_clock_ms of its last frame, or of the ask */
};

/* A frame a share sent while the stream was still starting. */
struct rpc_watch_held {
        struct rpc_watch_held *next;
        uint32_t share;
        size_t len;
        uint8_t bytes[];
};

/* A stream's part in one partition. */
struct rpc_watch_part {
        struct rpc_watch *w;
        struct queue link; /* hub: keyed chain, prefixed or behind */
        uint32_t partition;
        uint32_t share; /* RPC_WATCH_HERE, or w->shares[share] streams it */
        bool live;
        bool resumed;            /* spread, starting: after is the client's */
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
        /* Spread over nodes: the shares read elsewhere, and while the
         * stream starts, the WATCH call that answers its created frame. */
        struct call *call;
        bool starting;
        bool here_started; /* starting: the parts read here have begun */
        bool level_known;  /* level: the one a start delivered */
        uint32_t n_shares;
        struct rpc_watch_share *shares;
        uint8_t *options; /* the client's ReadOptions, packed; NULL: none */
        size_t options_len;
        struct rpc_watch_held *held, **held_tail;
        size_t held_bytes;
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
        unsigned n_paused; /* shares paused (rpc_watch_share.paused) */
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
        while (w->held != NULL) {
                struct rpc_watch_held *h = w->held;
                w->held = h->next;
                tkv_free(h);
        }
        tkv_free(w->shares);
        tkv_free(w->options);
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

/* Free the ended streams, but those a starting call still points to
 * (freed once it lets go: rpc_watch_call_release). */
static void rpc_watch_free_dead(struct rpc_watch_set *set)
{
        struct queue *q, *next;

        for (q = set->dead.next; q != &set->dead; q = next) {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, all_link);
                next = q->next;
                if (w->call == NULL) {
                        rpc_watch_free(set, w);
                }
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
                queue_remove(&w->all_link);
                queue_push_tail(&set->dead, &w->all_link);
        }
        while (!queue_empty(&set->dead)) {
                struct rpc_watch *w =
                    QUEUE_DATA(queue_head(&set->dead), struct rpc_watch, all_link);
                if (w->call != NULL) { /* the node goes: so does the call's hold on it */
                        w->call->watch = NULL;
                        w->call->release = NULL;
                }
                /* Its shares were cancelled when it ended (rpc_watch_end_all
                 * runs before the links are released). */
                rpc_watch_free(set, w);
        }
        for (unsigned p = 0; p < set->n_hubs; p++) {
                tkv_free(set->hubs[p].keyed);
        }
        tkv_free(set);
        node->watches = NULL;
}

static void rpc_watch_unask(struct node *node, struct rpc_watch_share *sh);
static void rpc_watch_resume(struct node *node);
static bool rpc_watch_heard(struct node *node, struct rpc_watch *w, uint64_t now_ms);
static void rpc_watch_begin_here(struct call *c, const struct rpc_watch_spec *s);

/* w is over: no frame more; freed at the next safe point. */
static void rpc_watch_kill(struct rpc_watch_set *set, struct rpc_watch *w)
{
        if (w->dead) {
                return;
        }
        for (uint32_t i = 0; i < w->n_shares; i++) {
                struct rpc_watch_share *sh = &w->shares[i];
                if (sh->paused) {
                        sh->paused = false;
                        set->n_paused--;
                }
                rpc_watch_unask(w->conn->set->data, sh);
        }
        w->dead = true;
        queue_remove(&w->conn_link);
        w->conn->n_watches--;
        queue_remove(&w->all_link);
        queue_push_tail(&set->dead, &w->all_link);
        set->n--;
        ((struct node *)w->conn->set->data)->stats.watches = set->n;
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
        if (w->call != NULL) {
                /* Still starting: the WATCH's answer is its only frame. The
                 * call's release ends w. */
                Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
                resp.status = status;
                resp.message = (char *)(why != NULL ? why : "");
                resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
                resp.watch = &wr;
                rpc_fanout_stop_local(w->call);
                call_answer(w->call, &resp);
                return;
        }
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
                if (!pt->w->dead && !pt->w->starting && !rpc_watch_conn_full(node, pt->w)) {
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
        size_t n = 0;

        for (uint32_t k = 0; ok && k < w->n_parts; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                struct group *g;
                struct read_replica r;
                struct read_state *rs;
                int64_t stale;

                if (pt->share != RPC_WATCH_HERE) {
                        continue; /* its node sends its progress */
                }
                g = node_group(node, pt->partition);
                r = read_replica_of(g);
                rs = node_read_state(node, pt->partition);
                stale = read_staleness_ms(rs, &r, now_ms);
                tunekv__v1__watch_progress__init(&pr[n]);
                ptrs[n] = &pr[n];
                pr[n].partition = pt->partition;
                pr[n].index = rpc_watch_position(node, pt);
                pr[n].staleness_ms = stale;
                pr[n].node_id = node->cfg->node_id;
                n++;
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
        if (n > 0) {
                wr.n_progress = n;
                wr.progress = ptrs;
                rpc_watch_send(w, &wr, TUNEKV__V1__STATUS__STATUS_OK, NULL);
        }
out:
        tkv_free(ptrs);
        tkv_free(pr);
        return ok;
}

void rpc_watch_tick(struct node *node, uint64_t now_ms)
{
        struct rpc_watch_set *set = node->watches;
        struct queue *q, *next;

        if (set == NULL) {
                return;
        }
        if (set->n_paused > 0) {
                rpc_watch_resume(node);
        }
        if (now_ms < set->tick_ms) {
                return;
        }
        set->tick_ms = now_ms + node->cfg->watch_progress_ms;
        rpc_watch_free_dead(set);
        for (q = set->all.next; q != &set->all; q = next) {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, all_link);
                next = q->next; /* w leaves the list when it ends */
                if (w->starting || (w->n_shares > 0 && !rpc_watch_heard(node, w, now_ms))) {
                        continue;
                }
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
                        if (w->parts[k].partition == p && w->parts[k].share == RPC_WATCH_HERE) {
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
        for (size_t i = 0; i < wq->n_partitions; i++) {
                if (wq->partitions[i] >= n_partitions ||
                    (i > 0 && wq->partitions[i] <= wq->partitions[i - 1])) {
                        snprintf(message, len,
                                 "WATCH: partitions must be named in ascending order, each once, "
                                 "each below the partition count (%u)",
                                 n_partitions);
                        return TKV_EINVAL;
                }
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

/* w, new, is one of the node's streams and of c's connection's. */
static void rpc_watch_register(struct rpc_watch_set *set, struct rpc_watch *w, struct call *c)
{
        queue_push_tail(&set->all, &w->all_link);
        queue_push_tail(&c->conn->watches, &w->conn_link);
        c->conn->n_watches++;
        conn_ref(c->conn);
        set->n++;
        c->node->stats.watches = set->n;
}

/* A new stream of spec s on c's connection, every part read here; NULL
 * when out of memory. */
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
                uint32_t p = s->parts[k];
                pt->w = w;
                pt->partition = p;
                pt->share = RPC_WATCH_HERE;
                queue_init(&pt->link);
                if (node_group(c->node, p) != NULL) {
                        pt->hash = changes_key_hash(group_changes(node_group(c->node, p)), w->key,
                                                    w->key_len);
                }
        }
        return w;
}

/* A resumed partition whose history starts after its index: the index
 * it could go on from, else 0. */
static int64_t rpc_watch_compacted(struct call *c, const struct rpc_watch_spec *s)
{
        for (uint32_t k = 0; k < s->n_parts; k++) {
                const struct changes *ch = group_changes(node_group(c->node, s->parts[k]));
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
                const struct changes *ch = group_changes(node_group(c->node, s->parts[k0]));
                wr.canceled = true;
                wr.compacted_partition = s->parts[k0];
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
        if (c->watch != NULL) {
                rpc_watch_begin_here(c, s);
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
        rpc_watch_register(set, w, c);
        wr.created = true;
        wr.level = (Tunekv__V1__Consistency)c->rd.level;
        wr.node_id = c->node->cfg->node_id;
        wr.n_progress = s->n_parts;
        wr.progress = ptrs;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
        resp.watch = &wr;
        call_answer(c, &resp);
}

/* ------------------------------------------------------------------------ */
/* Spread streams
 *
 * Once members outnumber replicas, no node may hold every partition a
 * prefix watch reads (or the one a key's watch reads). The node the WATCH
 * reaches then streams the partitions it holds itself (its parts, as any
 * stream's) and asks, for the rest, as few live nodes as hold them
 * (rpc_fanout_cover) for a WATCH of their share (WatchRequest.partitions)
 * over the node link; their frames are relayed to the client under the
 * WATCH's id. Each partition's events still come from one replica in log
 * order, whole entries per frame, so the client's positions and resume
 * work as for any stream.
 *
 *   start: the stream is "starting" until every share sent its created
 *   frame and this node's own round (rpc_scan.c) began its parts; then one
 *   created frame lists every partition, as the WATCH's answer. Until
 *   then this node's parts wait behind their start and a share's events
 *   are held (at most watch_output_bytes_max). A share's error, COMPACTED
 *   or a refusal, answers the WATCH as it came, and the others are
 *   cancelled.
 *
 *   flow: a share's frame that finds the client's connection over
 *   watch_output_bytes_max is dropped and the share cancelled ("paused");
 *   once the connection drained, it is asked again to start after the
 *   positions its frames reached: the events it holds for a slow client
 *   wait in its change history, not in this node's memory.
 *
 *   end: a share's last frame ends the whole stream with its status (the
 *   client resumes elsewhere after its positions when it is retryable); so
 *   do its link's failure and its silence for RPC_WATCH_SILENT_PERIODS
 *   progress periods (UNAVAILABLE). Ending the stream cancels the other
 *   shares. */

static struct rpc_watch_set *rpc_watch_set_of(const struct rpc_watch *w)
{
        return ((struct node *)w->conn->set->data)->watches;
}

/* The part of w reading partition p (parts ascending), or NULL. */
static struct rpc_watch_part *rpc_watch_part_of(struct rpc_watch *w, uint32_t p)
{
        uint32_t lo = 0, hi = w->n_parts;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (w->parts[mid].partition == p) {
                        return &w->parts[mid];
                }
                if (w->parts[mid].partition < p) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return NULL;
}

/* Stop sh's stream on its node: cancel it there (no answer awaited) and
 * drop whatever it still sends. */
static void rpc_watch_unask(struct node *node, struct rpc_watch_share *sh)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchCancelRequest wc = TUNEKV__V1__WATCH_CANCEL_REQUEST__INIT;
        struct peer *p;
        uint8_t *space;

        if (!sh->asked) {
                return;
        }
        sh->asked = false;
        wc.watch_id = sh->pc.id;
        (void)peer_forget(&sh->pc);
        p = node_peer(node, sh->node_id);
        if (p == NULL) {
                return;
        }
        req.id = peer_next_id(p);
        req.no_forward = true;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL;
        req.watch_cancel = &wc;
        space = peer_frame_space(p, tunekv__v1__request__get_packed_size(&req));
        if (space != NULL) {
                tunekv__v1__request__pack(&req, space);
        } /* else the link is full or stopping: its close ends the stream there */
}

/* Ask sh's node for a WATCH of its partitions: at the start, after the
 * client's positions where it gave them (resumed parts); later (after a
 * pause), after the positions relayed. 0, or a TKV_E* code. */
static int rpc_watch_ask(struct node *node, struct rpc_watch *w, struct rpc_watch_share *sh)
{
        uint32_t idx = (uint32_t)(sh - w->shares), n = 0, n_start = 0;
        struct peer *p = node_peer(node, sh->node_id);
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions *o = NULL;
        uint32_t *parts = tkv_malloc(w->n_parts * sizeof *parts);
        Tunekv__V1__WatchStart *st = tkv_malloc(w->n_parts * sizeof *st);
        Tunekv__V1__WatchStart **stp = tkv_malloc(w->n_parts * sizeof *stp);
        uint64_t now = uv_now(node->loop);
        uint8_t *space = NULL;
        int rv = TKV_ENOMEM;

        if (p == NULL) {
                rv = TKV_ESHUTDOWN;
                goto out;
        }
        if (parts == NULL || st == NULL || stp == NULL) {
                goto out;
        }
        if (w->options != NULL) {
                o = tunekv__v1__read_options__unpack(&call_pb_allocator, w->options_len,
                                                     w->options);
                if (o == NULL) {
                        goto out;
                }
        }
        for (uint32_t k = 0; k < w->n_parts; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                if (pt->share != idx) {
                        continue;
                }
                parts[n++] = pt->partition;
                if (pt->resumed || !w->starting) {
                        tunekv__v1__watch_start__init(&st[n_start]);
                        st[n_start].partition = pt->partition;
                        st[n_start].after_index = pt->after;
                        stp[n_start] = &st[n_start];
                        n_start++;
                }
        }
        wq.key.data = w->key;
        wq.key.len = w->key_len;
        wq.prefix = w->prefix;
        wq.keys_only = w->keys_only;
        wq.options = o;
        wq.n_partitions = n;
        wq.partitions = parts;
        wq.n_start = n_start;
        wq.start = stp;
        req.id = peer_next_id(p);
        req.no_forward = true;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = &wq;
        if (w->call != NULL) {
                uint64_t give_up = call_give_up_ms(w->call, now);
                req.timeout_ms = give_up > now ? (uint32_t)(give_up - now) : 1;
        }
        space = peer_frame_space(p, tunekv__v1__request__get_packed_size(&req));
        if (space == NULL) {
                rv = TKV_EBUSY;
                goto out;
        }
        tunekv__v1__request__pack(&req, space);
        sh->pc.kind = RPC_PEER_WATCH;
        peer_track(p, &sh->pc, req.id);
        sh->asked = true;
        sh->created = false;
        sh->heard_ms = node_clock_ms(node);
        rv = 0;
out:
        if (o != NULL) {
                tunekv__v1__read_options__free_unpacked(o, &call_pb_allocator);
        }
        tkv_free(stp);
        tkv_free(st);
        tkv_free(parts);
        return rv;
}

/* c is answered or freed: it lets go of its stream, which ends unless it
 * started (the answer said why). */
static void rpc_watch_call_release(struct call *c)
{
        struct rpc_watch *w = c->watch;

        c->watch = NULL;
        c->release = NULL;
        w->call = NULL;
        if (!w->dead) {
                rpc_watch_kill(rpc_watch_set_of(w), w);
        }
}

int rpc_watch_spread(struct call *c, const Tunekv__V1__WatchRequest *wq, const uint32_t *parts,
                     uint32_t n, const unsigned *owner, const uint64_t *after, const bool *resumed)
{
        struct node *node = c->node;
        struct rpc_watch_set *set = node->watches;
        unsigned self = node->cfg->node_id;
        struct rpc_watch_spec spec;
        struct rpc_watch *w;
        uint32_t n_shares = 0;
        int rv;

        memset(&spec, 0, sizeof spec);
        spec.key = wq->key.data;
        spec.key_len = (uint32_t)wq->key.len;
        spec.prefix = wq->prefix;
        spec.keys_only = wq->keys_only;
        spec.parts = parts;
        spec.n_parts = n;
        spec.max_staleness_ms = wq->options != NULL ? wq->options->max_staleness_ms : 0;
        w = rpc_watch_new(c, &spec);
        if (w != NULL) {
                w->shares = tkv_calloc(n, sizeof *w->shares);
                if (wq->options != NULL) {
                        w->options_len = tunekv__v1__read_options__get_packed_size(wq->options);
                        w->options = tkv_malloc(w->options_len + 1);
                }
        }
        if (w == NULL || w->shares == NULL || (wq->options != NULL && w->options == NULL)) {
                if (w != NULL) {
                        tkv_free(w->shares);
                        tkv_free(w->options);
                        tkv_free(w);
                }
                call_answer_error(c, TKV_ENOMEM, "WATCH: out of memory");
                return TKV_ENOMEM;
        }
        if (wq->options != NULL) {
                tunekv__v1__read_options__pack(wq->options, w->options);
        }
        w->level = wq->options != NULL ? (uint8_t)wq->options->level
                                       : TUNEKV__V1__CONSISTENCY__CONSISTENCY_SEQUENTIAL;
        w->here_started = true;
        for (uint32_t k = 0; k < n; k++) {
                struct rpc_watch_part *pt = &w->parts[k];
                uint32_t i;
                pt->after = after[k];
                pt->resumed = resumed[k];
                if (owner[k] == self) {
                        w->here_started = false; /* the call's round begins them */
                        continue;
                }
                for (i = 0; i < n_shares && w->shares[i].node_id != owner[k]; i++) {
                }
                if (i == n_shares) {
                        w->shares[n_shares].w = w;
                        w->shares[n_shares++].node_id = owner[k];
                }
                pt->share = i;
        }
        w->n_shares = n_shares;
        w->starting = true;
        w->held_tail = &w->held;
        w->call = c;
        c->watch = w;
        c->release = rpc_watch_call_release;
        rpc_watch_register(set, w, c);
        for (uint32_t i = 0; i < n_shares; i++) {
                rv = rpc_watch_ask(node, w, &w->shares[i]);
                if (rv != 0) {
                        call_answer_error(c, rv,
                                          "WATCH: cannot ask node %u for its partitions (%s)",
                                          w->shares[i].node_id, err_str(rv));
                        return rv;
                }
        }
        return 0;
}

/* Every share started: the WATCH's answer lists every partition with the
 * index it starts after, then the frames held meanwhile go out. */
static void rpc_watch_relay(struct node *node, struct rpc_watch *w, struct rpc_watch_share *sh,
                            Tunekv__V1__Response *resp);

static void rpc_watch_started(struct node *node, struct rpc_watch *w)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;
        Tunekv__V1__WatchProgress *pr = tkv_malloc(w->n_parts * sizeof *pr);
        Tunekv__V1__WatchProgress **ptrs = tkv_malloc(w->n_parts * sizeof *ptrs);
        struct call *c = w->call;

        if (pr == NULL || ptrs == NULL) {
                tkv_free(ptrs);
                tkv_free(pr);
                rpc_watch_end(node->watches, w, TKV_ENOMEM, "WATCH: out of memory on the node", 0,
                              0);
                return;
        }
        for (uint32_t k = 0; k < w->n_parts; k++) {
                tunekv__v1__watch_progress__init(&pr[k]);
                ptrs[k] = &pr[k];
                pr[k].partition = w->parts[k].partition;
                pr[k].index = w->parts[k].after;
                pr[k].staleness_ms = -1;
                pr[k].node_id = w->parts[k].share == RPC_WATCH_HERE
                                    ? node->cfg->node_id
                                    : w->shares[w->parts[k].share].node_id;
                w->parts[k].resumed = false;
        }
        w->starting = false;
        w->call = NULL;
        c->watch = NULL;
        c->release = NULL;
        wr.created = true;
        wr.level = (Tunekv__V1__Consistency)w->level;
        wr.node_id = node->cfg->node_id;
        wr.n_progress = w->n_parts;
        wr.progress = ptrs;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
        resp.watch = &wr;
        call_answer(c, &resp);
        tkv_free(ptrs);
        tkv_free(pr);
        while (w->held != NULL && !w->dead) {
                struct rpc_watch_held *h = w->held;
                Tunekv__V1__Response *r =
                    tunekv__v1__response__unpack(&call_pb_allocator, h->len, h->bytes);
                w->held = h->next;
                if (r != NULL) {
                        rpc_watch_relay(node, w, &w->shares[h->share], r);
                        tunekv__v1__response__free_unpacked(r, &call_pb_allocator);
                }
                tkv_free(h);
        }
        w->held_tail = &w->held;
        w->held_bytes = 0;
}

static bool rpc_watch_all_started(const struct rpc_watch *w)
{
        for (uint32_t i = 0; i < w->n_shares; i++) {
                if (!w->shares[i].created) {
                        return false;
                }
        }
        return w->here_started;
}

/* The call's round began the parts read here (s: those, ascending). */
static void rpc_watch_begin_here(struct call *c, const struct rpc_watch_spec *s)
{
        struct rpc_watch *w = c->watch;
        struct rpc_watch_set *set = c->node->watches;

        if (w->dead) {
                call_answer_error(c, TKV_ESHUTDOWN, "WATCH: the stream ended while it started");
                return;
        }
        for (uint32_t k = 0; k < s->n_parts; k++) {
                struct rpc_watch_part *pt = rpc_watch_part_of(w, s->parts[k]);
                const struct changes *ch;
                if (pt == NULL || pt->share != RPC_WATCH_HERE) {
                        continue;
                }
                ch = group_changes(node_group(c->node, pt->partition));
                pt->after = s->after[k];
                pt->bound_met_ms = node_clock_ms(c->node);
                /* It reads on from the history once the stream started:
                 * a resumed part from the oldest change kept, the others
                 * from the next one (every change kept now is at or below
                 * the index the round read). */
                rpc_watch_go_behind(&set->hubs[pt->partition], pt,
                                    s->resumed[k] ? changes_first_seq(ch) : changes_next_seq(ch));
        }
        w->level = c->rd.level;
        w->level_known = true;
        w->here_started = true;
        if (rpc_watch_all_started(w)) {
                rpc_watch_started(c->node, w);
        }
}

/* Relay a share's frame of events or progress, keeping the positions it
 * reached; on a full connection the share pauses instead. */
static void rpc_watch_relay(struct node *node, struct rpc_watch *w, struct rpc_watch_share *sh,
                            Tunekv__V1__Response *resp)
{
        const Tunekv__V1__WatchResponse *wr = resp->watch;
        uint32_t idx = (uint32_t)(sh - w->shares);

        if (!sh->asked || w->dead) {
                return; /* paused or ended meanwhile: its node starts again after the positions */
        }
        if (rpc_watch_conn_full(node, w)) {
                rpc_watch_unask(node, sh);
                sh->paused = true;
                node->watches->n_paused++;
                node->stats.watch_pauses++;
                return;
        }
        for (size_t i = 0; i < wr->n_events; i++) {
                struct rpc_watch_part *pt = rpc_watch_part_of(w, wr->events[i]->partition);
                if (pt == NULL || pt->share != idx) {
                        rpc_watch_end(node->watches, w, TKV_EPROTO,
                                      "WATCH: a node streamed a partition it was not asked for", 0,
                                      0);
                        return;
                }
                pt->after = wr->events[i]->index > pt->after ? wr->events[i]->index : pt->after;
        }
        for (size_t i = 0; i < wr->n_progress; i++) {
                struct rpc_watch_part *pt = rpc_watch_part_of(w, wr->progress[i]->partition);
                if (pt != NULL && pt->share == idx && wr->progress[i]->index > pt->after) {
                        pt->after = wr->progress[i]->index;
                }
        }
        resp->id = w->id;
        call_send(w->conn, resp);
}

/* A share's stream ended there (resp: its last frame, or an error): so
 * does the whole stream, with that frame. */
static void rpc_watch_share_ended(struct node *node, struct rpc_watch *w,
                                  Tunekv__V1__Response *resp)
{
        Tunekv__V1__WatchResponse wr = TUNEKV__V1__WATCH_RESPONSE__INIT;

        if (resp->body_case != TUNEKV__V1__RESPONSE__BODY_WATCH) {
                resp->body_case = TUNEKV__V1__RESPONSE__BODY_WATCH;
                resp->watch = &wr;
        }
        resp->watch->canceled = true;
        resp->watch->created = false;
        if (w->call != NULL) {
                rpc_fanout_stop_local(w->call);
                call_answer(w->call, resp); /* its release ends w */
                return;
        }
        resp->id = w->id;
        call_send(w->conn, resp);
        rpc_watch_kill(node->watches, w);
}

void rpc_watch_on_frame(struct peer_call *pc, const uint8_t *frame, size_t len)
{
        struct rpc_watch_share *sh = QUEUE_DATA(pc, struct rpc_watch_share, pc);
        struct rpc_watch *w = sh->w;
        struct node *node = pc->peer->data;
        Tunekv__V1__Response *resp = tunekv__v1__response__unpack(&call_pb_allocator, len, frame);

        if (resp == NULL) {
                char why[128];
                snprintf(why, sizeof why, "WATCH: undecodable frame from node %u: resume elsewhere",
                         sh->node_id);
                rpc_watch_end(node->watches, w, TKV_ESHUTDOWN, why, 0, 0);
                return;
        }
        sh->heard_ms = node_clock_ms(node);
        if (resp->status != TUNEKV__V1__STATUS__STATUS_OK ||
            resp->body_case != TUNEKV__V1__RESPONSE__BODY_WATCH || resp->watch->canceled) {
                sh->asked = false;
                (void)peer_forget(pc);
                rpc_watch_share_ended(node, w, resp);
        } else if (resp->watch->created) {
                sh->created = true;
                if (w->starting && !w->level_known) {
                        w->level = (uint8_t)resp->watch->level;
                        w->level_known = true;
                }
                if (w->starting && rpc_watch_all_started(w)) {
                        rpc_watch_started(node, w);
                }
        } else if (w->starting) {
                /* Held until every share started (bounded). */
                struct rpc_watch_held *h = tkv_malloc(sizeof *h + len);
                if (h == NULL || w->held_bytes + len > node->cfg->watch_output_bytes_max) {
                        tkv_free(h);
                        rpc_watch_end(node->watches, w, h == NULL ? TKV_ENOMEM : TKV_EBUSY,
                                      "WATCH: more events came while the stream started than "
                                      "watch_output_bytes_max holds: try again",
                                      0, 0);
                } else {
                        h->next = NULL;
                        h->share = (uint32_t)(sh - w->shares);
                        h->len = len;
                        memcpy(h->bytes, frame, len);
                        *w->held_tail = h;
                        w->held_tail = &h->next;
                        w->held_bytes += len;
                }
        } else {
                rpc_watch_relay(node, w, sh, resp);
        }
        tunekv__v1__response__free_unpacked(resp, &call_pb_allocator);
}

void rpc_watch_on_fail(struct peer_call *pc)
{
        struct rpc_watch_share *sh = QUEUE_DATA(pc, struct rpc_watch_share, pc);
        struct node *node = pc->peer->data;
        char why[160];

        sh->asked = false;
        snprintf(why, sizeof why,
                 "WATCH: lost the link to node %u, which streamed partitions of this watch: "
                 "resume elsewhere",
                 sh->node_id);
        rpc_watch_end(node->watches, sh->w, TKV_ESHUTDOWN, why, 0, 0);
}

/* Ask the paused shares again whose client's connection drained. */
static void rpc_watch_resume(struct node *node)
{
        struct rpc_watch_set *set = node->watches;
        struct queue *q, *next;

        for (q = set->all.next; q != &set->all && set->n_paused > 0; q = next) {
                struct rpc_watch *w = QUEUE_DATA(q, struct rpc_watch, all_link);
                next = q->next; /* w leaves the list when it ends */
                for (uint32_t i = 0; i < w->n_shares && !w->dead; i++) {
                        struct rpc_watch_share *sh = &w->shares[i];
                        int rv;
                        if (!sh->paused || rpc_watch_conn_full(node, w)) {
                                continue;
                        }
                        sh->paused = false;
                        set->n_paused--;
                        rv = rpc_watch_ask(node, w, sh);
                        if (rv != 0) {
                                char why[160];
                                snprintf(why, sizeof why,
                                         "WATCH: cannot ask node %u again for its partitions "
                                         "(%s): resume elsewhere",
                                         sh->node_id, err_str(rv));
                                rpc_watch_end(set, w, TKV_ESHUTDOWN, why, 0, 0);
                        }
                }
        }
}

/* Has every share of w been heard from lately? If not, w ends (false). */
static bool rpc_watch_heard(struct node *node, struct rpc_watch *w, uint64_t now_ms)
{
        uint64_t silent = RPC_WATCH_SILENT_PERIODS * (uint64_t)node->cfg->watch_progress_ms;

        for (uint32_t i = 0; i < w->n_shares; i++) {
                const struct rpc_watch_share *sh = &w->shares[i];
                if (sh->asked && now_ms > sh->heard_ms + silent) {
                        char why[160];
                        snprintf(why, sizeof why,
                                 "WATCH: node %u sent nothing for %llu ms: resume elsewhere",
                                 sh->node_id, (unsigned long long)(now_ms - sh->heard_ms));
                        rpc_watch_end(node->watches, w, TKV_ESHUTDOWN, why, 0, 0);
                        return false;
                }
        }
        return true;
}
