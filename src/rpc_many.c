/* GET_MANY: keys of any partitions read at one timestamp (docs/consistency.md,
 * "Multi-key reads at one timestamp").
 *
 * The node the request reaches serves it from its own replicas; keys of
 * partitions it holds none of are read by the nodes that do (rpc_fanout.c,
 * which ties their answers to this round's rules). At SEQUENTIAL a round reads every key
 * from its replica, all in one loop turn, and takes T = the highest of the
 * session's timestamp, min_timestamp and the values' timestamps. Each value
 * is its key's state at T if its replica is closed at T (it applied every
 * write stamped up to T, read.h): then every write of the key stamped at or
 * below T is in it, and none above, since no value read is stamped above T.
 * An absent key counts with its replica's last delete's timestamp (a delete
 * keeps none of its own: the key is known absent as of the last delete).
 * If a replica is not closed there yet, the request waits for it like a
 * GET (and the leader is asked to close the partition), then reads every
 * key again: a key written meanwhile raises T and takes another round.
 * Rounds are bounded (RPC_MANY_ROUNDS_MAX); keys written faster than the
 * partitions close end in BOUND_UNMET. At BOUNDED_STALENESS the same, from
 * T >= (wall clock - max_staleness_ms) instead of the session's timestamp:
 * the closed timestamps replace probes, and the bound holds by the
 * leaders' clocks. At EVENTUAL one round, no waiting: each key as its
 * replica has it.
 *
 * The keys live in the call's own key space (rpc_many_call_fill), so that a
 * request that waits keeps them without an allocation of its own:
 *
 *   u32 n | u32 0 | u64 required_index[n] | u32 offset[n + 1] | key bytes */
#include <stdio.h>
#include <string.h>

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

/* The layout above, read in place (memcpy: the call's key space has no
 * particular alignment). */
struct rpc_many_view {
        uint32_t n;
        uint8_t *required; /* n u64: per key, the index its partition must have applied */
        uint8_t *offset;   /* n + 1 u32: where each key starts in bytes; the last: the end */
        uint8_t *bytes;
};

static struct rpc_many_view rpc_many_view_of(struct call *c)
{
        struct rpc_many_view v;
        uint8_t *p = c->key;

        memcpy(&v.n, p, sizeof v.n);
        v.required = p + 8;
        v.offset = p + 8 + 8 * (size_t)v.n;
        v.bytes = p + 8 + 8 * (size_t)v.n + 4 * ((size_t)v.n + 1);
        return v;
}

static uint32_t rpc_many_off(const struct rpc_many_view *v, uint32_t i)
{
        uint32_t o;
        memcpy(&o, v->offset + 4 * (size_t)i, sizeof o);
        return o;
}

static uint64_t rpc_many_required(const struct rpc_many_view *v, uint32_t i)
{
        uint64_t r;
        memcpy(&r, v->required + 8 * (size_t)i, sizeof r);
        return r;
}

static void rpc_many_set_required(struct rpc_many_view *v, uint32_t i, uint64_t r)
{
        memcpy(v->required + 8 * (size_t)i, &r, sizeof r);
}

static void rpc_many_set_off(struct rpc_many_view *v, uint32_t i, uint32_t o)
{
        memcpy(v->offset + 4 * (size_t)i, &o, sizeof o);
}

size_t rpc_many_call_bytes(const Tunekv__V1__Request *req)
{
        const Tunekv__V1__GetManyRequest *m = req->get_many;
        size_t bytes = 8 + 12 * m->n_keys + 4;

        for (size_t i = 0; i < m->n_keys; i++) {
                bytes += m->keys[i].len;
        }
        return bytes;
}

void rpc_many_call_fill(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__GetManyRequest *m = req->get_many;
        uint32_t n = (uint32_t)m->n_keys, zero = 0;
        struct rpc_many_view v;
        uint32_t at = 0;

        memcpy(c->key, &n, sizeof n);
        memcpy(c->key + 4, &zero, sizeof zero);
        v = rpc_many_view_of(c);
        for (uint32_t i = 0; i < n; i++) {
                rpc_many_set_required(&v, i, 0);
                rpc_many_set_off(&v, i, at);
                memcpy(v.bytes + at, m->keys[i].data, m->keys[i].len);
                at += (uint32_t)m->keys[i].len;
        }
        rpc_many_set_off(&v, n, at);
}

int rpc_many_admit(const Tunekv__V1__Request *req, const struct config *cfg, char *message,
                   size_t len)
{
        const Tunekv__V1__GetManyRequest *m = req->get_many;

        if (m->n_keys == 0 || m->n_keys > cfg->get_many_keys_max) {
                snprintf(message, len, "GET_MANY: %zu keys: 1 to get_many_keys_max (%u) allowed",
                         m->n_keys, cfg->get_many_keys_max);
                return m->n_keys == 0 ? TKV_EINVAL : TKV_ETOOBIG;
        }
        for (size_t i = 0; i < m->n_keys; i++) {
                if (m->keys[i].len == 0 || m->keys[i].len > cfg->key_bytes_max) {
                        snprintf(
                            message, len,
                            "GET_MANY: key %zu has %zu bytes: 1 to key_bytes_max (%llu) allowed", i,
                            m->keys[i].len, (unsigned long long)cfg->key_bytes_max);
                        return m->keys[i].len == 0 ? TKV_EINVAL : TKV_ETOOBIG;
                }
        }
        return 0;
}

static uint32_t rpc_many_partition(const struct call *c, const struct rpc_many_view *v, uint32_t i)
{
        uint32_t at = rpc_many_off(v, i);
        return route_partition(key_hash_partition(v->bytes + at, rpc_many_off(v, i + 1) - at),
                               c->node->n_partitions);
}

/* Key i's entry as the read sees it: the current one, or at at_timestamp
 * the one it had then (rpc_many_compacted checked that its partition's
 * history reaches there). NULL: absent; then *deleted_index (if not NULL)
 * names its delete while the change history has it. */
static const struct store_entry *rpc_many_entry_at(struct call *c, const struct rpc_many_view *v,
                                                   uint32_t i, uint64_t *deleted_index)
{
        struct group *g = node_group(c->node, rpc_many_partition(c, v, i));
        uint32_t at = rpc_many_off(v, i), len = rpc_many_off(v, i + 1) - at;
        const struct store_entry *e = store_get(group_store(g), v->bytes + at, len);
        uint64_t as_of = c->rd.at_ts != 0 ? c->rd.at_ts : c->rd.as_of_ts;
        uint64_t deleted = 0;

        if (as_of != 0) {
                (void)changes_at(group_changes(g), e, v->bytes + at, len, as_of, &e, &deleted);
        } else if (e == NULL && deleted_index != NULL) {
                deleted = changes_tombstone(group_changes(g), v->bytes + at, len);
        }
        if (deleted_index != NULL) {
                *deleted_index = deleted;
        }
        return e;
}

static const struct store_entry *rpc_many_entry(struct call *c, const struct rpc_many_view *v,
                                                uint32_t i)
{
        return rpc_many_entry_at(c, v, i, NULL);
}

int rpc_many_compacted_part(struct call *c, uint32_t p)
{
        const struct changes *ch = group_changes(node_group(c->node, p));

        if (c->rd.at_ts >= changes_start_ts(ch)) {
                return 0;
        }
        call_answer_error(c, TKV_ECOMPACTED,
                          "%s: at_timestamp %llu is older than partition %u's change history on "
                          "node %u, which starts after %llu ([history] changes_max, bytes_max, "
                          "retain_ms)",
                          c->method->name, (unsigned long long)c->rd.at_ts, p,
                          c->node->cfg->node_id, (unsigned long long)changes_start_ts(ch));
        return TKV_ECOMPACTED;
}

/* At at_timestamp: the first key whose partition's change history here
 * starts after it, answered COMPACTED; returns nonzero then. */
static int rpc_many_compacted(struct call *c, const struct rpc_many_view *v)
{
        for (uint32_t i = 0; c->rd.at_ts != 0 && i < v->n; i++) {
                if (rpc_many_compacted_part(c, rpc_many_partition(c, v, i)) != 0) {
                        return TKV_ECOMPACTED;
                }
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-partition read rounds: shared with SCAN (rpc_scan.c) */

unsigned rpc_many_token_add(struct call *c, unsigned n, uint32_t p)
{
        struct node *node = c->node;
        struct session_entry *e = node->token_ents;
        unsigned j;

        for (j = 0; j < n && e[j].partition != p; j++) {
        }
        if (j < n || n + 1 >= node->token_cap) {
                return n;
        }
        e[n].partition = p;
        e[n].kind = SESSION_R;
        e[n].index = group_state_index(node_group(node, p));
        session_sign(&node->keys, &e[n]);
        return n + 1;
}

unsigned rpc_many_token_end(struct call *c, unsigned n, uint64_t ts)
{
        struct node *node = c->node;
        struct session_entry *e = node->token_ents;

        if (ts > c->rd.token_ts) {
                e[n].partition = SESSION_T_PARTITION;
                e[n].kind = SESSION_T;
                e[n].index = ts;
                session_sign(&node->keys, &e[n++]);
        }
        return n;
}

bool rpc_many_ready(struct call *c, uint32_t p, uint64_t required, uint64_t ts)
{
        struct group *g = node_group(c->node, p);
        struct read_replica r = read_replica_of(g);

        /* At at_timestamp every level waits: it reads one exact state. */
        if ((c->rd.level == LEVEL(EVENTUAL) && c->rd.at_ts == 0) ||
            c->rd.level == LEVEL(LINEARIZABLE) || (r.applied >= required && r.closed_ts >= ts)) {
                return true; /* LINEARIZABLE: its fence stands for the bound (rpc_scan.c) */
        }
        c->partition = p;
        c->group = g;
        c->rd.bound.required_index = required;
        c->rd.bound.required_ts = ts;
        if (c->rd.rounds >= RPC_MANY_ROUNDS_MAX) {
                c->rd.waited = true; /* no more waiting: BOUND_UNMET */
                c->rd.on_unmet = TUNEKV__V1__ON_UNMET__ON_UNMET_FAIL;
        }
        rpc_read_unmet(c);
        return false;
}

/* ------------------------------------------------------------------------ */
/* The answer */

/* Bytes the values need decompressed, and whether the answer fits a frame. */
static int rpc_many_sizes(struct call *c, const struct rpc_many_view *v, size_t *raw)
{
        uint64_t total = 0;

        *raw = 0;
        for (uint32_t i = 0; i < v->n; i++) {
                const struct store_entry *e = rpc_many_entry(c, v, i);
                struct store_fields f;
                if (e == NULL) {
                        continue;
                }
                store_entry_fields(e, &f);
                total += f.value_raw_len + 32;
                if (f.value_raw_len != f.value_len) {
                        *raw += f.value_raw_len;
                }
        }
        if (total + 65536 > c->node->cfg->frame_bytes_max) {
                call_answer_error(
                    c, TKV_ETOOBIG,
                    "GET_MANY: the answer would take %llu bytes, over frame_bytes_max "
                    "(%llu): ask for fewer keys at a time",
                    (unsigned long long)total, (unsigned long long)c->node->cfg->frame_bytes_max);
                return TKV_ETOOBIG;
        }
        return 0;
}

/* Fill the items; compressed values are decompressed into *raw_at. */
static int rpc_many_fill_items(struct call *c, const struct rpc_many_view *v,
                               Tunekv__V1__GetManyItem *items, Tunekv__V1__GetManyItem **ptrs,
                               uint8_t *raw_at)
{
        for (uint32_t i = 0; i < v->n; i++) {
                const struct store_entry *e;
                struct store_fields f;

                tunekv__v1__get_many_item__init(&items[i]);
                ptrs[i] = &items[i];
                items[i].partition = rpc_many_partition(c, v, i);
                e = rpc_many_entry_at(c, v, i, &items[i].deleted_index);
                if (e == NULL) {
                        continue;
                }
                store_entry_fields(e, &f);
                items[i].found = true;
                items[i].mod_index = f.mod_index;
                items[i].timestamp = f.ts;
                items[i].value.data = (uint8_t *)f.value;
                items[i].value.len = f.value_len;
                if (f.value_raw_len != f.value_len) {
                        int rv = value_decompress(f.value, f.value_len, raw_at, f.value_raw_len);
                        if (rv != 0) {
                                return rv;
                        }
                        items[i].value.data = raw_at;
                        items[i].value.len = f.value_raw_len;
                        raw_at += f.value_raw_len;
                }
        }
        return 0;
}

/* The token delta of GET_MANY: an R entry per partition read (none for a
 * read at a past timestamp: it showed no replica's state). */
static unsigned rpc_many_token_delta(struct call *c, const struct rpc_many_view *v, uint64_t ts)
{
        unsigned n = 0;

        for (uint32_t i = 0; c->rd.at_ts == 0 && i < v->n; i++) {
                n = rpc_many_token_add(c, n, rpc_many_partition(c, v, i));
        }
        return rpc_many_token_end(c, n, ts);
}

static void rpc_many_answer(struct call *c, const struct rpc_many_view *v, uint64_t ts,
                            unsigned rounds)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetManyResponse gm = TUNEKV__V1__GET_MANY_RESPONSE__INIT;
        Tunekv__V1__GetManyItem *items = tkv_malloc(v->n * sizeof *items);
        Tunekv__V1__GetManyItem **ptrs = tkv_malloc(v->n * sizeof *ptrs);
        uint8_t *raw = NULL;
        size_t raw_len;
        unsigned n;
        int rv = items != NULL && ptrs != NULL ? rpc_many_sizes(c, v, &raw_len) : TKV_ENOMEM;

        if (rv == 0 && raw_len > 0 && (raw = tkv_malloc(raw_len)) == NULL) {
                rv = TKV_ENOMEM;
        }
        if (rv == 0) {
                rv = rpc_many_fill_items(c, v, items, ptrs, raw);
                if (rv != 0) {
                        call_answer_error(c, rv == TKV_ENOMEM ? TKV_ENOMEM : TKV_ECORRUPT,
                                          "GET_MANY: stored value unreadable: %s", err_str(rv));
                }
        } else if (rv == TKV_ENOMEM) {
                call_answer_error(c, rv, "GET_MANY: out of memory");
        }
        if (rv == 0) {
                n = rpc_many_token_delta(c, v, ts);
                session_encode(c->node->token_ents, n, c->node->token_bytes);
                gm.token.data = c->node->token_bytes;
                gm.token.len = session_encoded_bytes(n);
                gm.n_items = v->n;
                gm.items = ptrs;
                gm.timestamp = ts;
                gm.node_id = c->node->cfg->node_id;
                gm.level = (Tunekv__V1__Consistency)c->rd.level;
                if (c->rd.at_ts != 0) {
                        /* As a GET at_timestamp (rpc_read.c): SEQUENTIAL
                         * unless the session saw later writes already. */
                        gm.level =
                            c->rd.at_ts >= c->rd.token_ts ? LEVEL(SEQUENTIAL) : LEVEL(EVENTUAL);
                }
                gm.rounds = rounds;
                resp.body_case = TUNEKV__V1__RESPONSE__BODY_GET_MANY;
                resp.get_many = &gm;
                if (c->fanout != NULL) {
                        rpc_fanout_local_answer(c, &resp);
                } else {
                        call_answer(c, &resp);
                }
        }
        tkv_free(raw);
        tkv_free(ptrs);
        tkv_free(items);
}

/* ------------------------------------------------------------------------ */
/* Rounds */

static void rpc_many_round(struct call *c);

static void rpc_many_wait_done(struct read_wait *w)
{
        struct call *c = QUEUE_DATA(w, struct call, op.wait);
        c->stage = CALL_NEW;
        rpc_many_round(c);
}

/* The highest of ts and the keys' timestamps: a value's, or for an absent
 * key its replica's last delete's (a delete keeps no timestamp: absent is
 * known as of it; not the replica's closed timestamp, which CLOSE commands
 * raise: two absent keys in two partitions would chase each other). */
static uint64_t rpc_many_ts(struct call *c, const struct rpc_many_view *v, uint64_t ts)
{
        for (uint32_t i = 0; i < v->n; i++) {
                const struct store_entry *e = rpc_many_entry(c, v, i);
                struct store_fields f;
                uint64_t t;
                if (e != NULL) {
                        store_entry_fields(e, &f);
                        t = f.ts;
                } else {
                        t = group_delete_ts(node_group(c->node, rpc_many_partition(c, v, i)));
                }
                ts = t > ts ? t : ts;
        }
        return ts;
}

/* A round after a wait for T (c->rd.bound.required_ts) finds keys written
 * since, stamped above T: rather than wait for those (writes that never
 * pause would be chased until BOUND_UNMET), read the keys as of T from the
 * change history, once every partition's history reaches back to T. Each
 * partition is then closed at T (the wait saw to it), so its state as of
 * T is final: every key at one T, as the level promises. True when c now
 * reads as of ts. */
static bool rpc_many_as_of(struct call *c, const struct rpc_many_view *v, uint64_t ts)
{
        uint8_t level = c->rd.level;

        if (c->rd.rounds < 2 || ts == 0 ||
            (level != LEVEL(SEQUENTIAL) && level != LEVEL(CAUSAL) && level != LEVEL(SESSION))) {
                return false;
        }
        for (uint32_t i = 0; i < v->n; i++) {
                const struct changes *ch =
                    group_changes(node_group(c->node, rpc_many_partition(c, v, i)));
                if (changes_start_ts(ch) > ts) {
                        return false; /* its history does not reach back to T */
                }
        }
        c->rd.as_of_ts = ts;
        return true;
}

/* ------------------------------------------------------------------------ */
/* LINEARIZABLE: a double collect */

/* What key i is now, for telling whether it changed: its version, or for
 * an absent key the count of deletes its replica applied (a key that
 * came and went between two looks is counted there). */
#define RPC_MANY_ABSENT (1ull << 63)

static uint64_t rpc_many_version(struct call *c, const struct rpc_many_view *v, uint32_t i)
{
        const struct store_entry *e = rpc_many_entry(c, v, i);
        if (e != NULL) {
                return store_entry_mod_index(e);
        }
        return RPC_MANY_ABSENT | group_deletes(node_group(c->node, rpc_many_partition(c, v, i)));
}

/* Wait on partition p's replica for bound b (c->rd.on_met runs when it is
 * met; or c is answered BOUND_UNMET). */
static void rpc_many_park(struct call *c, uint32_t p, const struct read_bound *b)
{
        c->partition = p;
        c->group = node_group(c->node, p);
        c->rd.bound = *b;
        rpc_read_unmet(c);
}

/* A partition this node leads confirmed its leadership after the moment
 * (its proof took a ticket when it began): the read looks again. */
static void rpc_many_fenced(struct group_read *r, int status)
{
        struct call *c = QUEUE_DATA(r, struct call, op.read);

        c->stage = CALL_NEW;
        if (status != 0 && status != TKV_ENOTLEADER) {
                call_answer_error(c, status, "%s: %s", c->method->name, err_str(status));
                return;
        }
        /* Deposed meanwhile: the next look waits as a follower. op.read
         * and op.wait share the call's op. */
        c->rd.on_met(&c->op.wait);
}

void rpc_many_give_up(struct call *c, uint32_t p)
{
        struct read_bound b = c->rd.bound;

        c->rd.waited = true; /* no more waiting: BOUND_UNMET */
        c->rd.on_unmet = TUNEKV__V1__ON_UNMET__ON_UNMET_FAIL;
        rpc_many_park(c, p, &b);
}

bool rpc_many_fresh(struct call *c, uint32_t p, uint64_t ticket)
{
        struct group *g = node_group(c->node, p);
        struct read_replica r = read_replica_of(g);
        struct read_bound b = {0};

        b.fresh_after = true;
        b.after_ticket = ticket;
        if (read_bound_met(node_read_state(c->node, p), &r, &b, node_clock_ms(c->node))) {
                return true;
        }
        /* A leader proves it by a leadership confirmation (no log entry; a
         * CLOSE would raise the partition's timestamp and make every other
         * partition close again), a follower by a probe its waiting read
         * sends. */
        if (group_is_leader(g) && group_ready(g) &&
            group_read_fence(g, &c->op.read, rpc_many_fenced) == 0) {
                c->partition = p;
                c->group = g;
                c->rd.bound = b;
                c->stage = CALL_READ;
                return false;
        }
        rpc_many_park(c, p, &b);
        return false;
}

bool rpc_many_closed(struct call *c, uint32_t p, uint64_t ts)
{
        struct read_replica r = read_replica_of(node_group(c->node, p));
        struct read_bound b = c->rd.bound;

        if (r.closed_ts >= ts) {
                return true;
        }
        b.required_index = 0;
        b.required_ts = ts;
        rpc_many_park(c, p, &b);
        return false;
}

/* Read every key (collect), then make sure each replica is current as of
 * that moment (a proof of freshness begun after it, read.h: a probe
 * answer applied, or the leader's own entry or confirmation) and look
 * again: if no key changed, every value read was the latest committed at
 * the moment of the collect, which lies within the request: a
 * linearizable snapshot, without any clock. A key that changed starts a
 * new collect (at most RPC_MANY_ROUNDS_MAX). Then, as at SEQUENTIAL, the
 * answer waits for every replica to be closed at its timestamp T, so that
 * T places it in the one order of writes. */
static void rpc_many_linearizable(struct call *c)
{
        struct rpc_many_view v = rpc_many_view_of(c);
        uint32_t i;
        uint64_t ts;

        if (!c->rd.bound.fresh_after) {
                c->rd.rounds++;
                for (i = 0; i < v.n; i++) {
                        rpc_many_set_required(&v, i, rpc_many_version(c, &v, i));
                }
                c->rd.bound.fresh_after = true;
                c->rd.bound.after_ticket = c->node->fresh_tickets;
        }
        for (i = 0; i < v.n; i++) {
                if (!rpc_many_fresh(c, rpc_many_partition(c, &v, i), c->rd.bound.after_ticket)) {
                        return; /* c waits for the proof */
                }
        }
        for (i = 0; i < v.n && rpc_many_version(c, &v, i) == rpc_many_required(&v, i); i++) {
        }
        if (i < v.n) {
                c->rd.bound.fresh_after = false; /* key i changed: collect again */
                if (c->rd.rounds >= RPC_MANY_ROUNDS_MAX) {
                        rpc_many_give_up(c, rpc_many_partition(c, &v, i));
                        return;
                }
                rpc_many_linearizable(c);
                return;
        }
        ts = rpc_many_ts(c, &v, c->rd.token_ts);
        for (i = 0; i < v.n; i++) {
                if (!rpc_many_closed(c, rpc_many_partition(c, &v, i), ts)) {
                        return;
                }
        }
        for (i = 0; i < v.n; i++) {
                node_count_read(c->node, rpc_many_partition(c, &v, i), c->rd.level,
                                READ_COUNT_SERVED);
        }
        rpc_many_answer(c, &v, ts, c->rd.rounds);
}

/* Read every key (one loop turn: nothing applies meanwhile); answer if
 * each replica is closed at their timestamp, else wait for the first that
 * is not. At at_timestamp, T is that timestamp, and the keys' states there
 * come from the change history. */
static void rpc_many_round(struct call *c)
{
        struct rpc_many_view v = rpc_many_view_of(c);
        uint64_t ts = c->rd.bound.required_ts;

        if (c->rd.level == LEVEL(LINEARIZABLE)) {
                rpc_many_linearizable(c);
                return;
        }
        c->rd.rounds++;
        if (c->rd.at_ts == 0 && c->rd.as_of_ts == 0) {
                uint64_t now_ts = rpc_many_ts(c, &v, ts);
                if (now_ts > ts && rpc_many_as_of(c, &v, ts)) {
                        now_ts = ts; /* the keys as of the T it waited for */
                }
                ts = now_ts;
        }
        for (uint32_t i = 0; i < v.n; i++) {
                if (!rpc_many_ready(c, rpc_many_partition(c, &v, i), rpc_many_required(&v, i),
                                    ts)) {
                        return;
                }
        }
        if (rpc_many_compacted(c, &v) != 0) {
                return;
        }
        for (uint32_t i = 0; i < v.n; i++) {
                node_count_read(c->node, rpc_many_partition(c, &v, i), c->rd.level,
                                READ_COUNT_SERVED);
        }
        rpc_many_answer(c, &v, c->rd.at_ts != 0 ? c->rd.at_ts : ts, c->rd.rounds);
}

int rpc_many_token_parse(struct call *c, const Tunekv__V1__ReadOptions *o, unsigned *n)
{
        struct node *node = c->node;
        int rv;

        *n = 0;
        if (o == NULL || o->token.len == 0) {
                return 0;
        }
        rv = session_parse(o->token.data, o->token.len, node->cfg->token_bytes_max,
                           node->token_ents, node->token_cap, n);
        if (rv == 0) {
                rv = session_ts(&node->keys, node->token_ents, *n, &c->rd.token_ts);
        }
        if (rv == TKV_ETOOBIG) {
                call_answer_error(c, rv, "%s: token of %zu bytes exceeds token_bytes_max %llu",
                                  c->method->name, o->token.len,
                                  (unsigned long long)node->cfg->token_bytes_max);
        } else if (rv != 0) {
                call_answer_error(c, TKV_EINVAL,
                                  "%s: token is malformed, forged or from another cluster",
                                  c->method->name);
        }
        return rv;
}

int rpc_many_token_required(struct call *c, unsigned n, uint32_t p, uint64_t *required)
{
        struct node *node = c->node;
        unsigned kinds = SESSION_KIND_MASK(SESSION_W) | SESSION_KIND_MASK(SESSION_R);
        int rv;

        *required = 0;
        if (n == 0) {
                return 0;
        }
        rv = session_required(&node->keys, node->token_ents, n, p, kinds, required);
        if (rv != 0) {
                call_answer_error(c, TKV_EINVAL,
                                  "%s: token is malformed, forged or from another cluster",
                                  c->method->name);
        }
        return rv;
}

/* The token's requirements: per key, the index its partition must have
 * applied (W and R entries: the session guarantees) and the timestamp. */
static int rpc_many_token(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        struct rpc_many_view v = rpc_many_view_of(c);
        unsigned n = 0;
        int rv = rpc_many_token_parse(c, o, &n);

        /* A read at a timestamp needs nothing of them (rpc_read.c); nor
         * does LINEARIZABLE, which sees every write acknowledged before it. */
        for (uint32_t i = 0;
             rv == 0 && c->rd.at_ts == 0 && c->rd.level != LEVEL(LINEARIZABLE) && i < v.n; i++) {
                uint64_t required = 0;
                rv = rpc_many_token_required(c, n, rpc_many_partition(c, &v, i), &required);
                rpc_many_set_required(&v, i, required);
        }
        return rv;
}

int rpc_many_options(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        const char *op = c->method->name;
        int level = o != NULL ? (int)o->level : LEVEL(SEQUENTIAL);
        char why[128];

        if (o != NULL && rpc_read_check_options(o, why, sizeof why) != 0) {
                call_answer_error(c, TKV_EINVAL, "%s: %s", op, why);
                return TKV_EINVAL;
        }
        if (level == LEVEL(BOUNDED_STALENESS) && (o->max_staleness_ms == 0 || o->max_lag_entries)) {
                call_answer_error(c, TKV_EINVAL,
                                  "%s: BOUNDED_STALENESS takes max_staleness_ms (and no "
                                  "max_lag_entries)",
                                  op);
                return TKV_EINVAL;
        }
        if (o != NULL && o->on_unmet != TUNEKV__V1__ON_UNMET__ON_UNMET_WAIT &&
            o->on_unmet != TUNEKV__V1__ON_UNMET__ON_UNMET_FAIL) {
                call_answer_error(c, TKV_EINVAL, "%s: on_unmet must be WAIT or FAIL", op);
                return TKV_EINVAL;
        }
        c->rd.level = (uint8_t)(level == LEVEL(EVENTUAL) || level == LEVEL(BOUNDED_STALENESS) ||
                                        level == LEVEL(LINEARIZABLE)
                                    ? level
                                    : LEVEL(SEQUENTIAL));
        c->rd.at_ts = o != NULL ? o->at_timestamp : 0;
        c->rd.on_unmet = o != NULL ? (uint8_t)o->on_unmet : TUNEKV__V1__ON_UNMET__ON_UNMET_WAIT;
        c->rd.max_wait_ms = o != NULL ? o->max_wait_ms : 0;
        c->rd.bound.required_ts = o != NULL ? o->min_timestamp : 0;
        return 0;
}

int rpc_many_bound(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        if (c->rd.at_ts != 0) {
                /* The state at T: closed there, nothing else (rpc_read.c). */
                if (c->rd.at_ts > c->rd.bound.required_ts) {
                        c->rd.bound.required_ts = c->rd.at_ts;
                }
                return rpc_read_ts_sane(c);
        }
        if (c->rd.level == LEVEL(SEQUENTIAL) && c->rd.token_ts > c->rd.bound.required_ts) {
                c->rd.bound.required_ts = c->rd.token_ts;
        }
        if (c->rd.level == LEVEL(BOUNDED_STALENESS)) {
                /* One timestamp at most max_staleness_ms old by the
                 * leaders' clocks: the replicas closed there, no probe. */
                uint64_t now = node_wall_ms(c->node);
                uint64_t floor = now > o->max_staleness_ms ? now - o->max_staleness_ms : 0;
                if (hlc_from_ms(floor) > c->rd.bound.required_ts) {
                        c->rd.bound.required_ts = hlc_from_ms(floor);
                }
        }
        return rpc_read_ts_sane(c);
}

/* ------------------------------------------------------------------------ */
/* A GET_MANY spread over nodes: what rpc_fanout.c asks of this node's share */

static uint32_t rpc_many_keys_of(const struct call *c, ProtobufCBinaryData *keys)
{
        struct rpc_many_view v = rpc_many_view_of((struct call *)c);

        for (uint32_t i = 0; i < v.n; i++) {
                uint32_t at = rpc_many_off(&v, i);
                keys[i].data = v.bytes + at;
                keys[i].len = rpc_many_off(&v, i + 1) - at;
        }
        return v.n;
}

static void rpc_many_start(struct call *c, const Tunekv__V1__ReadOptions *o);

/* Keep only the keys of parts (n, ascending) in the call, in their order,
 * and read them here: this node's share. */
static void rpc_many_begin_share(struct call *c, const uint32_t *parts, uint32_t n,
                                 const Tunekv__V1__ReadOptions *o)
{
        struct rpc_many_view v = rpc_many_view_of(c);
        uint8_t *copy = tkv_malloc(c->key_len > 0 ? c->key_len : 1);
        struct rpc_many_view old;
        uint32_t kept = 0, at = 0, zero = 0;

        if (copy == NULL) {
                call_answer_error(c, TKV_ENOMEM, "GET_MANY: out of memory");
                return;
        }
        memcpy(copy, c->key, c->key_len);
        old = v;
        old.required = copy + (v.required - c->key);
        old.offset = copy + (v.offset - c->key);
        old.bytes = copy + (v.bytes - c->key);
        for (uint32_t i = 0; i < old.n; i++) {
                uint32_t p = rpc_many_partition(c, &old, i), lo = 0, hi = n;
                while (lo < hi) { /* parts is ascending */
                        uint32_t mid = lo + (hi - lo) / 2;
                        if (parts[mid] < p) {
                                lo = mid + 1;
                        } else {
                                hi = mid;
                        }
                }
                kept += lo < n && parts[lo] == p;
        }
        memcpy(c->key, &kept, sizeof kept);
        memcpy(c->key + 4, &zero, sizeof zero);
        v = rpc_many_view_of(c);
        for (uint32_t i = 0, k = 0; i < old.n; i++) {
                uint32_t p = rpc_many_partition(c, &old, i), lo = 0, hi = n;
                uint32_t from = rpc_many_off(&old, i), len = rpc_many_off(&old, i + 1) - from;
                while (lo < hi) {
                        uint32_t mid = lo + (hi - lo) / 2;
                        if (parts[mid] < p) {
                                lo = mid + 1;
                        } else {
                                hi = mid;
                        }
                }
                if (lo == n || parts[lo] != p) {
                        continue;
                }
                rpc_many_set_required(&v, k, 0);
                rpc_many_set_off(&v, k, at);
                memmove(v.bytes + at, old.bytes + from, len);
                at += len;
                k++;
        }
        rpc_many_set_off(&v, kept, at);
        tkv_free(copy);
        rpc_many_start(c, o);
}

static void rpc_many_again(struct call *c, uint64_t floor_ts)
{
        c->rd.as_of_ts = 0;
        c->stage = CALL_NEW;
        c->rd.waited = false;
        c->rd.bound.fresh_after = false; /* LINEARIZABLE: collect anew */
        if (floor_ts > c->rd.bound.required_ts) {
                c->rd.bound.required_ts = floor_ts;
        }
        if (c->rd.level == LEVEL(SEQUENTIAL) && c->rd.at_ts == 0) {
                /* As the other shares are asked (rpc_fanout.c): the keys
                 * as of T, from the change history. */
                c->rd.at_ts = floor_ts;
        }
        rpc_many_round(c);
}

/* Some key's partition has no replica here: spread the keys over the
 * nodes that hold them. */
static void rpc_many_spread(struct call *c, const Tunekv__V1__Request *req)
{
        struct rpc_many_view v = rpc_many_view_of(c);
        uint32_t n_partitions = c->node->n_partitions, n = 0;
        uint32_t *parts = tkv_calloc(n_partitions + 1, sizeof *parts);
        bool *seen = tkv_calloc(n_partitions + 1, sizeof *seen);
        struct rpc_fanout_ops ops = {RPC_FANOUT_GET_MANY,  NULL,           rpc_many_keys_of,
                                     rpc_many_begin_share, rpc_many_again, 0};

        if (parts == NULL || seen == NULL) {
                call_answer_error(c, TKV_ENOMEM, "GET_MANY: out of memory");
        } else {
                for (uint32_t i = 0; i < v.n; i++) {
                        seen[rpc_many_partition(c, &v, i)] = true;
                }
                for (uint32_t p = 0; p < n_partitions; p++) {
                        if (seen[p]) {
                                parts[n++] = p;
                        }
                }
                rpc_fanout_start(c, req->get_many->options, parts, n, &ops);
        }
        tkv_free(seen);
        tkv_free(parts);
}

void rpc_many_get(struct call *c, const Tunekv__V1__Request *req)
{
        struct rpc_many_view v = rpc_many_view_of(c);

        for (uint32_t i = 0; i < v.n; i++) {
                if (node_group(c->node, rpc_many_partition(c, &v, i)) == NULL) {
                        rpc_many_spread(c, req);
                        return;
                }
        }
        rpc_many_start(c, req->get_many->options);
}

/* Read the call's keys here at o's level. */
static void rpc_many_start(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        if (rpc_many_options(c, o) != 0) {
                return;
        }
        c->rd.on_met = rpc_many_wait_done;
        if ((c->rd.level == LEVEL(SEQUENTIAL) || c->rd.level == LEVEL(LINEARIZABLE) ||
             c->rd.at_ts != 0) &&
            rpc_many_token(c, o) != 0) {
                return;
        }
        if (rpc_many_bound(c, o) != 0) {
                return;
        }
        rpc_many_round(c);
}
