#include "fsm.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "command.h"
#include "heap.h"
#include "lease.h"
#include "log.h"
#include "value.h"

/* ------------------------------------------------------------------------ */
/* Every key written or deleted goes through these two, so that what else
 * follows a key (its lease) follows every write. */

/* Delete key at index, stamped ts; false if it was absent. The change
 * history records the delete (pinning the entry before the store lets go
 * of it), an absent key is known absent as of ts from now on (delete_ts),
 * and the key's lease lets go of it, last: key may be the lease's copy. */
static bool fsm_delete_key(struct fsm *f, const uint8_t *key, uint32_t len, uint64_t index,
                           uint64_t ts)
{
        const struct store_entry *before = store_get(f->store, key, len);

        if (before != NULL) {
                /* Failing for memory only shortens the history's window. */
                (void)changes_record(f->changes, f->store, before, NULL, index, ts);
                (void)store_delete(f->store, key, len);
                f->deletes++;
                f->delete_ts = ts;
        }
        lease_detach(f->leases, key, len);
        return before != NULL;
}

/* Store v at key (index: the write's); attach the key to lease, or, with
 * lease 0, detach it from the lease it had. The caller checked the lease
 * (fsm_lease_check). TKV_ENOMEM. */
static int fsm_put_key(struct fsm *f, const uint8_t *key, uint32_t len, const struct store_value *v,
                       uint64_t index, uint64_t lease)
{
        const struct store_entry *before = store_get(f->store, key, len);
        int rv;

        if (before != NULL) {
                store_entry_pin(before); /* store_put may release it */
        }
        rv = store_put(f->store, key, len, v, index);
        if (rv == 0) {
                (void)changes_record(f->changes, f->store, before, store_get(f->store, key, len),
                                     index, v->ts);
        }
        if (before != NULL) {
                store_entry_unpin(f->store, before);
        }
        if (rv != 0) {
                return rv;
        }
        if (lease == 0) {
                lease_detach(f->leases, key, len);
                return 0;
        }
        return lease_attach(f->leases, lease, key, len);
}

/* ------------------------------------------------------------------------ */
/* Leases (lease.h): grants, revocations, expiries, and the check of a
 * write that names a lease. Limits travel in the commands, so every
 * replica refuses the same writes. */

/* May key be attached to lease? 0, TKV_ENOTFOUND (no such lease: expired,
 * revoked or never granted), TKV_ETOOBIG (it has its keys_max keys: a
 * limit, like a value over value_bytes_max, that no retry gets past). */
static int fsm_lease_check(struct fsm *f, uint64_t lease, const uint8_t *key, uint32_t len)
{
        struct lease *l;

        if (lease == 0) {
                return 0;
        }
        l = lease_find(f->leases, lease);
        if (l == NULL) {
                return TKV_ENOTFOUND;
        }
        if (lease_of_key(f->leases, key, len) != lease && l->n_keys >= l->keys_max) {
                return TKV_ETOOBIG;
        }
        return 0;
}

static uint64_t fsm_now_ms(struct fsm *f)
{
        return f->hooks.now_ms != NULL ? f->hooks.now_ms(f->hooks.data) : 0;
}

/* Delete every key of lease id and the lease: REVOKE and EXPIRE. */
static void fsm_lease_end(struct fsm *f, uint64_t id, struct command_result *res)
{
        struct lease *l = lease_find(f->leases, id);
        uint32_t len;
        const uint8_t *key;

        if (l == NULL) {
                res->status = TKV_ENOTFOUND;
                return;
        }
        while (l->n_keys > 0) {
                /* Detaching frees the copy key points at, after its last use. */
                key = lease_key_bytes(l, l->n_keys - 1, &len);
                (void)fsm_delete_key(f, key, len, res->index, res->ts);
        }
        lease_remove(f->leases, id);
        res->status = 0;
}

static void fsm_apply_lease(struct fsm *f, const struct command *c, struct command_result *res)
{
        struct command_lease b;

        (void)command_lease_open(c->value, c->value_len, &b); /* checked by command_decode */
        switch (c->type) {
        case COMMAND_LEASE_GRANT:
                if (lease_count(f->leases) >= b.leases_max) {
                        res->status = TKV_EBUSY;
                        return;
                }
                res->status = lease_grant(f->leases, lease_id_make(f->partition, res->index),
                                          b.ttl_ms, (uint32_t)b.keys_max, fsm_now_ms(f));
                return;
        default: /* COMMAND_LEASE_REVOKE, COMMAND_LEASE_EXPIRE */
                fsm_lease_end(f, b.id, res);
                return;
        }
}

/* ------------------------------------------------------------------------ */
/* TXN: compares, then one branch of ops, all in this one entry. */

/* a <=> b as -1, 0, 1. */
static int fsm_txn_order_u64(uint64_t a, uint64_t b)
{
        return a < b ? -1 : a > b ? 1 : 0;
}

/* Bytes in memcmp order, a shorter prefix first. */
static int fsm_txn_order_bytes(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
        uint32_t n = alen < blen ? alen : blen;
        int r = n > 0 ? memcmp(a, b, n) : 0;
        if (r != 0) {
                return r < 0 ? -1 : 1;
        }
        return fsm_txn_order_u64(alen, blen);
}

/* The stored value of e compared with x's operand (order as -1, 0, 1). A
 * compressed value is compared in its raw form. TKV_ENOMEM, TKV_ECORRUPT. */
static int fsm_txn_order_value(const struct store_entry *e, const struct command_txn_compare *x,
                               int *order)
{
        struct store_fields sf;
        uint8_t *raw;
        int rv;

        store_entry_fields(e, &sf);
        if (sf.value_len == sf.value_raw_len) {
                *order = fsm_txn_order_bytes(sf.value, sf.value_len, x->value, x->value_len);
                return 0;
        }
        raw = tkv_malloc(sf.value_raw_len);
        if (raw == NULL) {
                return TKV_ENOMEM;
        }
        rv = value_decompress(sf.value, sf.value_len, raw, sf.value_raw_len);
        if (rv == 0) {
                *order = fsm_txn_order_bytes(raw, sf.value_raw_len, x->value, x->value_len);
        }
        tkv_free(raw);
        return rv;
}

/* Does compare x hold in the store? A VALUE compare of an absent key never
 * holds; otherwise an absent key has version, create index and EXISTS 0.
 * 0, or TKV_ENOMEM / TKV_ECORRUPT (decompressing). */
static int fsm_txn_holds(struct fsm *f, const struct command_txn_compare *x, bool *holds)
{
        const struct store_entry *e = store_get(f->store, x->key, x->key_len);
        int order = 0, rv = 0;

        *holds = false;
        switch (x->target) {
        case COMMAND_TXN_TARGET_VERSION:
                order = fsm_txn_order_u64(e != NULL ? store_entry_mod_index(e) : 0, x->number);
                break;
        case COMMAND_TXN_TARGET_CREATE:
                order = fsm_txn_order_u64(e != NULL ? store_entry_create_index(e) : 0, x->number);
                break;
        case COMMAND_TXN_TARGET_EXISTS:
                order = fsm_txn_order_u64(e != NULL, x->number);
                break;
        default: /* COMMAND_TXN_TARGET_VALUE */
                if (e == NULL) {
                        return 0;
                }
                rv = fsm_txn_order_value(e, x, &order);
                break;
        }
        *holds = x->op == COMMAND_TXN_EQ   ? order == 0
                 : x->op == COMMAND_TXN_NE ? order != 0
                 : x->op == COMMAND_TXN_LT ? order < 0
                                           : order > 0;
        return rv;
}

/* Room for n flags in f->txn_existed. TKV_ENOMEM. */
static int fsm_txn_reserve(struct fsm *f, uint32_t n)
{
        uint8_t *p;

        if (n <= f->txn_existed_cap) {
                return 0;
        }
        p = tkv_realloc(f->txn_existed, n);
        if (p == NULL) {
                return TKV_ENOMEM;
        }
        f->txn_existed = p;
        f->txn_existed_cap = n;
        return 0;
}

/* One op of the branch a TXN runs, and the lease its key had just before
 * it: what the lease check replays. */
struct fsm_txn_step {
        struct command_txn_op op;
        uint64_t before; /* PUT, DELETE: the key's lease before the op (0: none) */
};

/* Room for n steps in f->txn_steps. TKV_ENOMEM. */
static int fsm_txn_reserve_steps(struct fsm *f, uint32_t n)
{
        struct fsm_txn_step *p;

        if (n <= f->txn_steps_cap) {
                return 0;
        }
        p = tkv_realloc(f->txn_steps, (size_t)n * sizeof *p);
        if (p == NULL) {
                return TKV_ENOMEM;
        }
        f->txn_steps = p;
        f->txn_steps_cap = n;
        return 0;
}

/* The lease of step i's key just before it: the last earlier put or delete
 * of that key in the branch left it, else the table says. */
static uint64_t fsm_txn_lease_before(struct fsm *f, const struct fsm_txn_step *s, uint32_t i)
{
        const struct command_txn_op *o = &s[i].op;

        for (uint32_t j = i; j-- > 0;) {
                const struct command_txn_op *p = &s[j].op;
                if (p->type != COMMAND_TXN_GET && p->key_len == o->key_len &&
                    memcmp(p->key, o->key, o->key_len) == 0) {
                        return p->type == COMMAND_TXN_PUT ? p->lease : 0;
                }
        }
        return lease_of_key(f->leases, o->key, o->key_len);
}

/* Keys lease l holds just before step i: the table's, moved by the steps
 * before it. */
static uint64_t fsm_txn_lease_keys(const struct lease *l, const struct fsm_txn_step *s, uint32_t i)
{
        uint64_t n = l->n_keys;

        for (uint32_t j = 0; j < i; j++) {
                uint64_t after = s[j].op.type == COMMAND_TXN_PUT ? s[j].op.lease : 0;
                if (s[j].op.type == COMMAND_TXN_GET || after == s[j].before) {
                        continue;
                }
                n += after == l->id ? 1 : 0;
                n -= s[j].before == l->id ? 1 : 0;
        }
        return n;
}

/* Would each put of the n ops at pos (the branch to run) attach its key
 * as a PUT would, step by step? Replays the branch's attaches and
 * detaches without changing anything, so that a TXN naming a missing
 * lease, or one its puts would take past keys_max, applies nothing:
 * TKV_ENOTFOUND or TKV_ETOOBIG with that lease in res->lease, as a PUT
 * answers; TKV_ENOMEM. */
static int fsm_txn_check_leases(struct fsm *f, const uint8_t *pos, uint32_t n,
                                struct command_result *res)
{
        struct fsm_txn_step *s;
        struct lease *l;
        int rv = fsm_txn_reserve_steps(f, n);

        for (uint32_t i = 0; rv == 0 && i < n; i++) {
                s = &f->txn_steps[i];
                command_txn_next_op(&pos, &s->op);
                if (s->op.type == COMMAND_TXN_GET) {
                        continue;
                }
                s->before = fsm_txn_lease_before(f, f->txn_steps, i);
                if (s->op.type != COMMAND_TXN_PUT || s->op.lease == 0) {
                        continue;
                }
                l = lease_find(f->leases, s->op.lease);
                if (l == NULL) {
                        rv = TKV_ENOTFOUND;
                } else if (s->before != l->id &&
                           fsm_txn_lease_keys(l, f->txn_steps, i) >= l->keys_max) {
                        rv = TKV_ETOOBIG;
                }
                res->lease = rv != 0 ? s->op.lease : 0;
        }
        return rv;
}

/* Run one op of the chosen branch at res->index, stamped ts (the TXN's
 * timestamp: its puts are one write in the order of writes); *existed: the
 * key was there before. GETs change nothing: the handler answers them from
 * the store as this entry leaves it. */
static int fsm_txn_run_op(struct fsm *f, const struct command *c, const struct command_txn_op *o,
                          uint64_t index, uint64_t ts, uint8_t *existed)
{
        struct store_value v = {o->value, o->value_len,          o->value_len,
                                c->deps,  (uint16_t)c->deps_len, ts};

        *existed = store_get(f->store, o->key, o->key_len) != NULL;
        switch (o->type) {
        case COMMAND_TXN_PUT:
                /* fsm_txn_check_leases replayed this attach: it succeeds. */
                return fsm_put_key(f, o->key, o->key_len, &v, index, o->lease);
        case COMMAND_TXN_DELETE:
                (void)fsm_delete_key(f, o->key, o->key_len, index, ts);
                return 0;
        default: /* COMMAND_TXN_GET */
                return 0;
        }
}

/* Apply TXN c: status 0 if every compare held and the success ops ran,
 * TKV_ECONDITION if the failure ops ran; TKV_ENOTFOUND or TKV_ETOOBIG if
 * a put of that branch names a lease it cannot attach to, and then nothing
 * ran (fsm_txn_check_leases). TKV_ENOMEM may leave part of the branch
 * applied: the caller exits the process (fsm_out_of_memory), and the
 * replay from the log applies the whole entry. */
static void fsm_apply_txn(struct fsm *f, const struct command *c, struct command_result *res)
{
        struct command_txn t;
        struct command_txn_compare x;
        struct command_txn_op o;
        const uint8_t *pos;
        bool ok = true, holds;
        uint32_t n;
        int rv;

        /* command_decode opened it once already. */
        rv = command_txn_open(c->value, c->value_len, &t);
        pos = t.compares;
        for (uint32_t i = 0; rv == 0 && i < t.n_compares; i++) {
                command_txn_next_compare(&pos, &x);
                rv = fsm_txn_holds(f, &x, &holds);
                ok = ok && holds;
        }
        n = ok ? t.n_success : t.n_failure;
        if (rv == 0) {
                rv = fsm_txn_reserve(f, n);
        }
        for (uint32_t i = 0; rv == 0 && !ok && i < t.n_success; i++) {
                command_txn_next_op(&pos, &o); /* skipped: the success branch */
        }
        if (rv == 0) {
                rv = fsm_txn_check_leases(f, pos, n, res);
        }
        for (uint32_t i = 0; rv == 0 && i < n; i++) {
                command_txn_next_op(&pos, &o);
                rv = fsm_txn_run_op(f, c, &o, res->index, res->ts, &f->txn_existed[i]);
        }
        if (rv != 0) {
                res->status = rv;
                return;
        }
        res->status = ok ? 0 : TKV_ECONDITION;
        res->txn_body = c->value;
        res->txn_body_len = c->value_len;
        res->txn_existed = f->txn_existed;
        res->txn_ops = n;
}

/* ------------------------------------------------------------------------ */

static void fsm_apply_command(struct fsm *f, const struct command *c, struct command_result *res)
{
        const struct store_entry *e;
        struct store_value v = {c->value, c->value_len,          c->value_raw_len,
                                c->deps,  (uint16_t)c->deps_len, res->ts};

        switch (c->type) {
        case COMMAND_PUT:
                res->status = fsm_lease_check(f, c->lease, c->key, c->key_len);
                if (res->status == 0) {
                        res->status = fsm_put_key(f, c->key, c->key_len, &v, res->index, c->lease);
                }
                break;
        case COMMAND_DELETE:
                res->status =
                    fsm_delete_key(f, c->key, c->key_len, res->index, res->ts) ? 0 : TKV_ENOTFOUND;
                break;
        case COMMAND_CAS:
                e = store_get(f->store, c->key, c->key_len);
                res->current_version = e != NULL ? store_entry_mod_index(e) : 0;
                if (res->current_version != c->expected_version) {
                        res->status = TKV_ECONDITION;
                        break;
                }
                res->status = fsm_lease_check(f, c->lease, c->key, c->key_len);
                if (res->status == 0) {
                        res->status = fsm_put_key(f, c->key, c->key_len, &v, res->index, c->lease);
                }
                break;
        case COMMAND_LEASE_GRANT:
        case COMMAND_LEASE_REVOKE:
        case COMMAND_LEASE_EXPIRE:
                fsm_apply_lease(f, c, res);
                break;
        case COMMAND_CLOSE:
                break; /* its timestamp is all it carries */
        case COMMAND_TXN:
                fsm_apply_txn(f, c, res);
                break;
        default:
                res->status = TKV_EINVAL;
                break;
        }
}

/* A write with a client session: apply it once. Returns RAFT_NOMEM before
 * anything changed, or 0. */
static int fsm_apply_session(struct fsm *f, const struct command *c, struct command_result *res)
{
        bool retry = (c->flags & COMMAND_F_RETRY) != 0;
        uint64_t index = res->index;

        switch (dedup_check(f->dedup, c->client_id, c->seq, c->payload_hash, retry, res)) {
        case DEDUP_DUPLICATE:
                f->deduplicated++;
                return 0;
        case DEDUP_MISMATCH:
                res->status = TKV_EEXIST;
                return 0;
        case DEDUP_FORGOTTEN:
                res->status = TKV_EUNKNOWN;
                return 0;
        case DEDUP_NEW:
                break;
        }
        if (dedup_reserve(f->dedup, c->client_id) != 0) {
                return RAFT_NOMEM;
        }
        res->index = index;
        fsm_apply_command(f, c, res);
        if (res->status == TKV_ENOMEM) {
                return RAFT_NOMEM;
        }
        dedup_record(f->dedup, c->client_id, c->seq, c->payload_hash, res);
        return 0;
}

/* Applying a committed entry ran out of memory. Every other replica
 * applies it, so it cannot be skipped; and raft 0.15 does not retry it: a
 * follower's apply error surfaces as RAFT_UNAVAILABLE on its heartbeat path
 * and the replica stays silently unavailable until restart. So the process
 * exits, loudly, with EX_TEMPFAIL: the supervisor restarts it, the log is
 * replayed from the last snapshot, and memory is whatever the restart
 * frees (docs/architecture.md, "Out of memory"). Nothing was changed by
 * the failed entry (store and sessions leave their tables as they were). */
static void fsm_out_of_memory(struct fsm *f, uint64_t index)
{
        LOGE((int)f->partition,
             "fsm: out of memory applying entry %llu: exiting (status %d) so that the node "
             "restarts and replays its log; a replica cannot skip a committed entry",
             (unsigned long long)index, FSM_EXIT_OUT_OF_MEMORY);
        fflush(NULL);
        _exit(FSM_EXIT_OUT_OF_MEMORY);
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
        struct fsm *f = rf->data;
        struct command_result res = {0};
        uint64_t index = f->hooks.index(f->hooks.data);
        struct command c;
        int rv = 0;

        *result = NULL;
        res.index = index;
        res.status = command_decode(buf->base, buf->len, &c);
        if (res.status == 0) {
                /* Timestamps grow with the log on every replica alike,
                 * whatever clock and leader proposed them (command.h). */
                res.ts = c.ts > f->last_ts ? c.ts : f->last_ts + 1;
                f->last_ts = res.ts;
        }
        if (res.status != 0) {
                /* Every replica fails the same bytes the same way. */
                LOGE((int)f->partition, "fsm: entry %llu undecodable (%s), skipped",
                     (unsigned long long)index, err_str(res.status));
                c.proposal_id = 0;
                c.flags = 0;
        } else if (c.client_id != 0) {
                rv = fsm_apply_session(f, &c, &res);
        } else {
                fsm_apply_command(f, &c, &res);
                rv = res.status == TKV_ENOMEM ? RAFT_NOMEM : 0;
        }
        if (rv != 0) {
                fsm_out_of_memory(f, index);
        }
        if (res.status == 0 && c.type != COMMAND_CLOSE && c.type != COMMAND_TXN &&
            c.type < COMMAND_LEASE_GRANT) {
                res.key = c.key; /* borrowed from buf, alive for the hook */
                res.key_len = c.key_len;
        }
        f->applied_index = index;
        f->log_entries++;
        f->log_bytes += buf->len;
        f->hooks.applied(f->hooks.data, index, c.proposal_id, c.flags, &res);
        return 0;
}

static void fsm_free_frozen_tables(struct fsm *f)
{
        tkv_free(f->frozen_sessions);
        f->frozen_sessions = NULL;
        tkv_free(f->frozen_leases);
        f->frozen_leases = NULL;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;
        int rv;

        if (f->frozen.entries != NULL) {
                return RAFT_BUSY;
        }
        *bufs = tkv_calloc(1, sizeof **bufs);
        if (*bufs == NULL) {
                return RAFT_NOMEM;
        }
        f->frozen_sessions_len = dedup_encoded_bytes(f->dedup);
        f->frozen_sessions = tkv_malloc(f->frozen_sessions_len);
        f->frozen_leases_len = lease_table_encoded_bytes(f->leases);
        f->frozen_leases = tkv_malloc(f->frozen_leases_len);
        rv = f->frozen_sessions != NULL && f->frozen_leases != NULL
                 ? store_freeze(f->store, &f->frozen)
                 : TKV_ENOMEM;
        if (rv != 0) {
                fsm_free_frozen_tables(f);
                tkv_free(*bufs);
                *bufs = NULL;
                return RAFT_NOMEM;
        }
        /* The session and lease tables are small next to the store (both
         * bounded by configuration): copy them here, on the loop, at the
         * same moment the entries are pinned. */
        dedup_encode(f->dedup, f->frozen_sessions);
        lease_table_encode(f->leases, f->frozen_leases);
        f->frozen_meta.partition = f->partition;
        f->frozen_meta.applied_index = f->applied_index;
        f->frozen_meta.last_ts = f->last_ts;
        /* raft takes the snapshot at its last applied index, which is
         * ours: everything counted so far is covered. */
        f->frozen_log_entries = f->log_entries;
        f->frozen_log_bytes = f->log_bytes;
        f->log_entries = 0;
        f->log_bytes = 0;
        f->snapshotting = true;
        *n_bufs = 1;
        return 0;
}

/* Threadpool thread: reads only the pinned entries' immutable bytes. */
static int fsm_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;
        struct snapshot_tables tables = {f->frozen_sessions, f->frozen_sessions_len,
                                         f->frozen_leases, f->frozen_leases_len};
        size_t len = snapshot_encoded_bytes(&f->frozen, &tables);
        void *base = tkv_malloc(len);

        (void)n_bufs;
        if (base == NULL) {
                return RAFT_NOMEM;
        }
        snapshot_encode(&f->frozen, &f->frozen_meta, &tables, base);
        (*bufs)[0].base = base;
        (*bufs)[0].len = len;
        return 0;
}

/* raft has just dropped the log entries the snapshot covers (up to
 * snapshot_trailing kept), about snapshot_threshold commands of one
 * partition, and the snapshot's buffer is freed. malloc keeps that memory
 * for the next entries, which only need it at the end of the next cycle:
 * give its whole pages back meanwhile. The store's entries are not in
 * malloc's heap (slab.h), so those pages are mostly whole. */
static void fsm_release_log_memory(struct fsm *f)
{
        uint64_t t0 = uv_hrtime();
        heap_trim();
        LOGD((int)f->partition, "fsm: snapshot %llu done; heap trimmed in %.2f ms",
             (unsigned long long)f->snapshots, (double)(uv_hrtime() - t0) / 1e6);
}

static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;

        if (*bufs != NULL) {
                for (unsigned i = 0; i < *n_bufs; i++) {
                        tkv_free((*bufs)[i].base);
                }
                tkv_free(*bufs);
        }
        *bufs = NULL;
        *n_bufs = 0;
        store_unfreeze(&f->frozen);
        fsm_free_frozen_tables(f);
        f->snapshotting = false;
        if (f->hooks.snapshot_ended == NULL ||
            f->hooks.snapshot_ended(f->hooks.data, f->frozen_meta.applied_index)) {
                f->snapshots++;
        } else {
                /* raft kept its log: those entries are still in memory. */
                f->log_entries += f->frozen_log_entries;
                f->log_bytes += f->frozen_log_bytes;
        }
        f->frozen_log_entries = 0;
        f->frozen_log_bytes = 0;
        fsm_release_log_memory(f);
        return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
        struct fsm *f = rf->data;
        struct snapshot_meta meta;
        struct store *fresh = NULL;
        struct dedup *sessions = NULL;
        struct lease_table *leases = NULL;
        int rv;

        rv = store_create(&fresh);
        if (rv == 0) {
                rv = dedup_create(&sessions, f->params.session_window, f->params.sessions_max,
                                  f->params.sessions_bytes_max);
        }
        if (rv == 0) {
                rv = lease_table_create(&leases);
        }
        if (rv == 0) {
                rv = snapshot_decode(buf->base, buf->len, fresh, sessions, leases, fsm_now_ms(f),
                                     &meta);
        }
        if (rv == 0 && meta.partition != f->partition) {
                rv = TKV_EINVAL;
        }
        if (rv != 0) {
                err_msgf(f->errmsg, "restore: %s", err_str(rv));
                LOGE((int)f->partition, "fsm: snapshot restore failed: %s", err_str(rv));
                store_destroy(fresh);
                dedup_destroy(sessions);
                lease_table_destroy(leases);
                return rv == TKV_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
        }
        changes_reset(f->changes, f->store, meta.last_ts, meta.applied_index);
        store_destroy(f->store);
        dedup_destroy(f->dedup);
        lease_table_destroy(f->leases);
        f->store = fresh;
        f->dedup = sessions;
        f->leases = leases;
        f->applied_index = meta.applied_index;
        f->last_ts = meta.last_ts;
        f->delete_ts = meta.last_ts; /* not in snapshots: the safe bound */
        f->deletes++;                /* and any key may have gone */
        /* raft dropped its whole log for the snapshot's. */
        f->log_entries = 0;
        f->log_bytes = 0;
        f->restores++;
        /* On success the buffer is ours (raft.h, struct raft_fsm). */
        raft_free(buf->base);
        LOGI((int)f->partition,
             "fsm: restored snapshot: %llu keys, %llu client sessions, %u leases, applied "
             "index %llu",
             (unsigned long long)store_count(f->store),
             (unsigned long long)dedup_sessions(f->dedup), lease_count(f->leases),
             (unsigned long long)meta.applied_index);
        f->hooks.restored(f->hooks.data, meta.applied_index);
        return 0;
}

int fsm_init(struct fsm *f, const struct fsm_params *params, const struct fsm_hooks *hooks)
{
        int rv;

        memset(f, 0, sizeof *f);
        rv = store_create(&f->store);
        if (rv == 0) {
                rv = dedup_create(&f->dedup, params->session_window, params->sessions_max,
                                  params->sessions_bytes_max);
        }
        if (rv == 0) {
                rv = changes_create(&f->changes, &params->history, 0);
        }
        if (rv == 0) {
                rv = lease_table_create(&f->leases);
        }
        if (rv != 0) {
                changes_destroy(f->changes, f->store);
                store_destroy(f->store);
                dedup_destroy(f->dedup);
                f->changes = NULL;
                f->store = NULL;
                f->dedup = NULL;
                return rv;
        }
        f->params = *params;
        f->partition = params->partition;
        f->hooks = *hooks;
        f->raft_fsm.version = 3;
        f->raft_fsm.data = f;
        f->raft_fsm.apply = fsm_apply;
        f->raft_fsm.snapshot = fsm_snapshot;
        f->raft_fsm.snapshot_async = fsm_snapshot_async;
        f->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
        f->raft_fsm.restore = fsm_restore;
        return 0;
}

void fsm_close(struct fsm *f)
{
        if (f->frozen.entries != NULL) {
                store_unfreeze(&f->frozen);
        }
        fsm_free_frozen_tables(f);
        changes_destroy(f->changes, f->store);
        f->changes = NULL;
        store_destroy(f->store);
        dedup_destroy(f->dedup);
        lease_table_destroy(f->leases);
        f->leases = NULL;
        tkv_free(f->txn_existed);
        tkv_free(f->txn_steps);
        f->txn_steps = NULL;
        f->txn_steps_cap = 0;
        f->store = NULL;
        f->dedup = NULL;
        f->txn_existed = NULL;
        f->txn_existed_cap = 0;
}
