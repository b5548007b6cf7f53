/* GET at every level.
 *
 * LINEARIZABLE: the partition's leader, while it reaches a majority, waits
 * for its read fence (group_read_fence), then answers from the store.
 *
 * A GET at SEQUENTIAL, CAUSAL, SESSION, BOUNDED_STALENESS or EVENTUAL is
 * served by the replica it reaches (route LEADER sends it on to the
 * leader), once that replica meets the read's bound (read.h):
 *
 *   required_index  the highest index of the token's entries that the
 *                   level needs for this partition (rpc_read_kinds), or
 *                   min_index;
 *   max_staleness_ms / max_lag_entries  as asked (BOUNDED_STALENESS).
 *
 * Met: answer from the local store. Not met on the leader: a read fence
 * makes it current (then only an index it has not applied can be missing).
 * Not met elsewhere, or still missing: `on_unmet`. WAIT parks the read
 * (read_wait) until the bound is met or max_wait_ms passes; any policy
 * waits first when max_wait_ms is set. Then FAIL and WAIT answer
 * BOUND_UNMET, FORWARD_LEADER sends the read to the leader if the
 * partition's forwarding budget allows (token bucket, [read] forward_rate
 * and forward_burst), and SERVE_STALE_LABELLED answers from here labelled
 * EVENTUAL (BOUND_UNMET if strict).
 *
 * Every answer carries a receipt (what was delivered) and a token delta
 * (session.h). Probes, which measure a follower's staleness, are rpc_node.c's. */
#include <stdio.h>
#include <string.h>

#include "changes.h"
#include "cmap.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"
#include "rpc_read.h"
#include "store.h"
#include "value.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x
#define FLAG(x)  TUNEKV__V1__SESSION_FLAG__SESSION_FLAG_##x
#define UNMET(x) TUNEKV__V1__ON_UNMET__ON_UNMET_##x

#define RPC_READ_FLAGS_ALL                                                                         \
        (FLAG(READ_YOUR_WRITES) | FLAG(MONOTONIC_READS) | FLAG(MONOTONIC_WRITES) |                 \
         FLAG(WRITES_FOLLOW_READS))

static void rpc_read_serve(struct call *c);
static struct call *rpc_read_call_of_fence(struct group_read *r);

/* ------------------------------------------------------------------------ */
/* Answers, and LINEARIZABLE */

/* Fill gr with the entry's value; *tmp receives memory to free after the
 * answer is packed (NULL on failure: nothing to free). */
static int rpc_read_fill_value(struct call *c, const struct store_entry *e,
                               Tunekv__V1__GetResponse *gr, uint8_t **tmp)
{
        struct node *node = c->node;
        uint8_t *dst = node->scratch;
        int rv;
        struct store_fields f;

        store_entry_fields(e, &f);
        *tmp = NULL;
        gr->found = true;
        gr->create_index = f.create_index;
        gr->mod_index = f.mod_index;
        gr->timestamp = f.ts;
        if (f.value_len == f.value_raw_len) {
                gr->value.data = (uint8_t *)f.value;
                gr->value.len = f.value_len;
                return 0;
        }
        if (f.value_raw_len > node->scratch_bytes) {
                /* Written under a larger value_bytes_max. */
                dst = *tmp = tkv_malloc(f.value_raw_len);
                if (dst == NULL) {
                        return TKV_ENOMEM;
                }
        }
        rv = value_decompress(f.value, f.value_len, dst, f.value_raw_len);
        if (rv != 0) {
                /* The caller answers an error and never sees *tmp. */
                tkv_free(*tmp);
                *tmp = NULL;
                return rv;
        }
        gr->value.data = dst;
        gr->value.len = f.value_raw_len;
        return 0;
}

/* This node's zone (ReadReceipt.zone): the cluster map's, which the
 * cluster agreed on, when this node applied one that lists it; else the
 * configuration's. Borrowed from the node. */
static const char *rpc_read_zone(const struct node *node)
{
        const struct cmap_member *mb = NULL;
        const struct config_node *self;

        if (node->meta.map != NULL) {
                mb = cmap_member(node->meta.map, node->cfg->node_id);
        }
        if (mb != NULL) {
                return mb->zone;
        }
        self = config_self(node->cfg);
        return self != NULL ? self->zone : "";
}

static void rpc_read_fill_receipt(struct call *c, Tunekv__V1__Consistency delivered, bool fallback,
                                  Tunekv__V1__ReadReceipt *rc)
{
        struct node *node = c->node;
        struct group *g = c->group;
        struct read_state *rs = node_read_state(node, c->partition);
        struct read_replica r = read_replica_of(g);
        uint64_t lag = read_lag_entries(rs, &r);

        rc->node_id = node->cfg->node_id;
        rc->role = call_role_of(group_role(g));
        rc->term = group_term(g);
        rc->applied_index = group_applied_index(g);
        rc->level = delivered;
        rc->staleness_ms = delivered == TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE
                               ? 0 /* fenced: current as of the read's arrival */
                               : read_staleness_ms(rs, &r, node_clock_ms(node));
        rc->lag_entries = lag;
        rc->fallback = fallback;
        rc->partition = c->partition;
        rc->leader_known = group_leader_id(g) != 0;
        rc->zone = (char *)rpc_read_zone(node);
}

/* The read's place in the order of writes (ReadReceipt.timestamp): the
 * value's stamp, and at SEQUENTIAL at least the token's, which this replica
 * is closed at (its bound). A read at T sees every write of the key stamped
 * at or below T: those stamped below the value's are older entries of the
 * same log; those up to the token's are closed. An absent key's delete left
 * no stamp, and may be stamped above the token's: its read is placed at
 * least at the replica's last delete (group_delete_ts, at most its closed
 * timestamp), where its absence is exact: nothing but puts came after, and
 * the key has none (else a session could see a delete, then write below
 * it, and a reader of that write miss it). */
static uint64_t rpc_read_ts(const struct call *c, const struct store_entry *e,
                            Tunekv__V1__Consistency delivered)
{
        uint64_t ts = group_delete_ts(c->group);

        if (c->rd.at_ts != 0) {
                return c->rd.at_ts; /* the key's state there, exactly */
        }
        if (e != NULL) {
                struct store_fields f;
                store_entry_fields(e, &f);
                ts = f.ts;
        }
        if (delivered == LEVEL(SEQUENTIAL) && c->rd.bound.required_ts > ts) {
                ts = c->rd.bound.required_ts;
        }
        if (delivered == LEVEL(SEQUENTIAL) && c->rd.token_ts > ts) {
                /* Already in the bound, but for the planted seq-no-ts,
                 * whose receipt must claim what a correct one would. */
                ts = c->rd.token_ts;
        }
        return ts;
}

/* The token delta of a read: what this replica showed (R at its state
 * index, group_state_index) and, for LINEARIZABLE, SEQUENTIAL and CAUSAL,
 * the dependencies stored with the value. Signed entries in ents (the
 * node's token scratch); returns the count. */
static unsigned rpc_read_token_delta(struct call *c, const struct store_entry *e, uint64_t ts,
                                     struct session_entry *ents)
{
        struct session_keys *keys = &c->node->keys;
        struct store_fields f;
        unsigned n = 0, deps = 0;

        if (c->rd.at_ts == 0) {
                /* A read of a past state showed no state index. */
                ents[n].partition = c->partition;
                ents[n].kind = SESSION_R;
                ents[n].index = group_state_index(c->group);
                session_sign(keys, &ents[n++]);
        }
        if (ts > c->rd.token_ts) {
                /* At every level: what a session saw, its later SEQUENTIAL
                 * reads must not go back from (docs/consistency.md). Only
                 * when it is news, so that a steady reader pays no MAC. */
                ents[n].partition = SESSION_T_PARTITION;
                ents[n].kind = SESSION_T;
                ents[n].index = ts;
                session_sign(keys, &ents[n++]);
        }
        if (!c->rd.causal || e == NULL || c->rd.at_ts != 0) {
                return n;
        }
        store_entry_fields(e, &f); /* one decode of the entry's lengths */
        if (f.deps_len > 0 &&
            session_deps_parse(f.deps, f.deps_len, ents + n, c->node->token_cap - n, &deps) == 0) {
                n += deps; /* verified when the write stored them */
        }
        return n;
}

/* The key's entry as the read sees it (NULL: absent; then *deleted_index
 * names its delete if the change history still has it): the current one,
 * or at at_timestamp the one it had then. Returns nonzero once c is
 * answered COMPACTED: the history here does not reach back that far. */
static int rpc_read_entry(struct call *c, const struct store_entry **e, uint64_t *deleted_index)
{
        const struct changes *ch = group_changes(c->group);
        const struct store_entry *cur = store_get(group_store(c->group), c->key, c->key_len);

        *e = cur;
        *deleted_index = 0;
        if (c->rd.at_ts == 0) {
                if (cur == NULL) {
                        *deleted_index = changes_tombstone(ch, c->key, c->key_len);
                }
                if (*deleted_index != 0 && call_planted("tombstone-off")) {
                        (*deleted_index)++; /* names an entry that deleted nothing */
                }
                return 0;
        }
        if (changes_at(ch, cur, c->key, c->key_len, c->rd.at_ts, e, deleted_index) == 0) {
                return 0;
        }
        call_answer_error(c, TKV_ECOMPACTED,
                          "%s: at_timestamp %llu is older than partition %u's change history on "
                          "node %u, which starts after %llu ([history] changes_max, bytes_max, "
                          "retain_ms)",
                          c->method->name, (unsigned long long)c->rd.at_ts, c->partition,
                          c->node->cfg->node_id, (unsigned long long)changes_start_ts(ch));
        return TKV_ECOMPACTED;
}

/* What a read at at_timestamp delivers: a state in the one order of
 * writes, which is SEQUENTIAL for a session whose timestamp is not past
 * it (the session saw nothing later), and only EVENTUAL for one that
 * already saw later writes (it goes back in the order). */
static Tunekv__V1__Consistency rpc_read_at_level(const struct call *c)
{
        return c->rd.at_ts >= c->rd.token_ts ? LEVEL(SEQUENTIAL) : LEVEL(EVENTUAL);
}

void rpc_read_answer(struct call *c, Tunekv__V1__Consistency delivered, bool fallback)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse gr = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rc = TUNEKV__V1__READ_RECEIPT__INIT;
        const struct store_entry *e;
        uint8_t *tmp = NULL;
        unsigned n;
        int rv;

        c->stage = CALL_NEW;
        if (rpc_read_entry(c, &e, &gr.deleted_index) != 0) {
                return; /* answered COMPACTED */
        }
        if (c->rd.at_ts != 0) {
                delivered = rpc_read_at_level(c);
        }
        rpc_read_fill_receipt(c, delivered, fallback, &rc);
        gr.receipt = &rc;
        rc.timestamp = rpc_read_ts(c, e, delivered);
        if (e != NULL) {
                rv = rpc_read_fill_value(c, e, &gr, &tmp);
                if (rv != 0) {
                        call_answer_error(c, rv == TKV_ENOMEM ? TKV_ENOMEM : TKV_ECORRUPT,
                                          "GET: stored value unreadable: %s", err_str(rv));
                        return;
                }
        } else {
                resp.status = TUNEKV__V1__STATUS__STATUS_NOT_FOUND;
                resp.message = "key not found";
        }
        n = rpc_read_token_delta(c, e, rc.timestamp, c->node->token_ents);
        session_encode(c->node->token_ents, n, c->node->token_bytes);
        gr.token.data = c->node->token_bytes;
        gr.token.len = session_encoded_bytes(n);
        node_count_read(c->node, c->partition, c->rd.level,
                        fallback && delivered != c->rd.level ? READ_COUNT_STALE
                                                             : READ_COUNT_SERVED);
        if (delivered != LEVEL(LINEARIZABLE)) {
                fresh_read(&node_read_state(c->node, c->partition)->fresh, (unsigned)delivered,
                           key_hash(c->key, c->key_len), group_applied_index(c->group),
                           node_wall_ms(c->node));
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        resp.get = &gr;
        call_answer(c, &resp);
        tkv_free(tmp);
}

static void rpc_read_linearizable_ready(struct group_read *r, int status)
{
        struct call *c = rpc_read_call_of_fence(r);

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "GET");
                return;
        }
        if (status != 0) {
                call_answer_error(c, status, "GET: %s", err_str(status));
                return;
        }
        if (group_applied_index(c->group) < c->rd.bound.required_index) {
                /* min_index or a token beyond everything committed. */
                rpc_read_expired(c);
                return;
        }
        rpc_read_answer(c, TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE, false);
}

/* LINEARIZABLE reads are served by the leader alone, and only while it
 * reaches a majority (route.h, rows 1-2). */
static bool rpc_read_route_leader(struct call *c, const Tunekv__V1__Request *req)
{
        struct route_need need = {0};

        need.leader_only = true;
        need.needs_quorum = true;
        need.no_forward = req->no_forward;
        return rpc_route_request(c, req, &req->get->key, &need);
}

/* LINEARIZABLE: any token is checked (a forged one is refused) but the
 * fence already gives everything it could ask; route and staleness bounds
 * are met by construction. */
static void rpc_read_linearizable(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ReadOptions *o = req->get->options;
        int rv;

        c->rd.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE;
        c->rd.causal = true; /* stronger than CAUSAL: hands over the value's deps too */
        if (call_planted("lin-follower")) {
                c->partition =
                    route_partition(key_hash_partition(req->get->key.data, req->get->key.len),
                                    c->node->n_partitions);
                c->group = node_group(c->node, c->partition);
                if (c->group != NULL && !group_is_leader(c->group)) {
                        rpc_read_answer(c, c->rd.level, false);
                        return;
                }
        }
        if (!rpc_read_route_leader(c, req)) {
                return;
        }
        if (o != NULL && rpc_read_token_bound(c, o) != 0) {
                return; /* answered */
        }
        rv = group_read_fence(c->group, &c->op.read, rpc_read_linearizable_ready);
        if (rv == 0) {
                c->stage = CALL_READ;
        } else if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "GET");
        } else {
                call_answer_error(c, rv, "GET: %s", err_str(rv));
        }
}

static struct call *rpc_read_call_of_wait(struct read_wait *w)
{
        return QUEUE_DATA(w, struct call, op.wait);
}

static struct call *rpc_read_call_of_fence(struct group_read *r)
{
        return QUEUE_DATA(r, struct call, op.read);
}

/* The token entries (SESSION_KIND_MASK bits) that bound a read of level
 * with session flags. Writes-follow-reads and monotonic writes shape what
 * writes carry (their dependencies), not what reads wait for. */
static unsigned rpc_read_kinds(unsigned level, uint32_t flags)
{
        unsigned w = SESSION_KIND_MASK(SESSION_W), r = SESSION_KIND_MASK(SESSION_R);
        unsigned kinds = 0;

        if (level == LEVEL(LINEARIZABLE) || level == LEVEL(SEQUENTIAL) || level == LEVEL(CAUSAL) ||
            (level == LEVEL(SESSION) && flags == 0)) {
                return w | r;
        }
        if (flags & FLAG(READ_YOUR_WRITES)) {
                kinds |= w;
        }
        if (flags & FLAG(MONOTONIC_READS)) {
                kinds |= r;
        }
        return kinds;
}

/* A timestamp further ahead of our clock than max_clock_offset_ms would
 * never be closed: refused at once (hlc.h). Returns 0, or nonzero once c is
 * answered. */
int rpc_read_ts_sane(struct call *c)
{
        struct node *node = c->node;
        uint64_t ts = c->rd.bound.required_ts;
        uint64_t limit;

        if (ts <= node->hlc.last) {
                return 0; /* no further ahead than what this node has seen */
        }
        limit = hlc_wall(&node->hlc) + hlc_from_ms(node->cfg->max_clock_offset_ms);
        if (ts <= limit) {
                return 0;
        }
        call_answer_error(c, TKV_EINVAL,
                          "%s: timestamp %llu is %llu ms ahead of node %u's clock, more than "
                          "max_clock_offset_ms (%u): a clock in the cluster is off",
                          c->method->name, (unsigned long long)ts,
                          (unsigned long long)(hlc_ms(ts) - hlc_ms(hlc_wall(&node->hlc))),
                          node->cfg->node_id, node->cfg->max_clock_offset_ms);
        return TKV_EINVAL;
}

/* A read at at_timestamp needs its replica closed there, and nothing the
 * session's token asks for: the state at T holds every write stamped up
 * to T (the session's included when its timestamp is not past T), and
 * no later one. */
static void rpc_read_at_bound(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        c->rd.at_ts = o->at_timestamp;
        c->rd.bound.required_index = o->min_index;
        c->rd.bound.required_ts =
            o->min_timestamp > o->at_timestamp ? o->min_timestamp : o->at_timestamp;
}

int rpc_read_token_bound(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        struct node *node = c->node;
        uint64_t required = 0;
        unsigned n = 0;
        int rv;

        c->rd.bound.required_index = o->min_index;
        c->rd.bound.required_ts = o->min_timestamp;
        if (o->token.len == 0 || call_planted("ignore-token")) {
                if (o->at_timestamp != 0) {
                        rpc_read_at_bound(c, o);
                }
                return rpc_read_ts_sane(c);
        }
        rv = session_parse(o->token.data, o->token.len, node->cfg->token_bytes_max,
                           node->token_ents, node->token_cap, &n);
        if (rv == TKV_ETOOBIG) {
                call_answer_error(c, rv, "GET: token of %zu bytes exceeds token_bytes_max %llu",
                                  o->token.len, (unsigned long long)node->cfg->token_bytes_max);
                return rv;
        }
        if (rv == 0) {
                rv = session_required(&node->keys, node->token_ents, n, c->partition,
                                      rpc_read_kinds(o->level, o->session_flags), &required);
        }
        if (rv == 0) {
                rv = session_ts(&node->keys, node->token_ents, n, &c->rd.token_ts);
        }
        if (rv != 0) {
                call_answer_error(c, TKV_EINVAL,
                                  "GET: token is malformed, forged or from another cluster");
                return rv;
        }
        if (o->level == LEVEL(SEQUENTIAL) && c->rd.token_ts > c->rd.bound.required_ts &&
            !call_planted("seq-no-ts")) {
                /* One order across partitions: served where the partition
                 * is closed at the session's timestamp (docs/consistency.md). */
                c->rd.bound.required_ts = c->rd.token_ts;
        }
        if (required > c->rd.bound.required_index) {
                c->rd.bound.required_index = required;
        }
        if (o->at_timestamp != 0) {
                rpc_read_at_bound(c, o);
        }
        return rpc_read_ts_sane(c);
}

int rpc_read_check_options(const Tunekv__V1__ReadOptions *o, char *why, size_t len)
{
        if ((unsigned)o->level > LEVEL(EVENTUAL)) {
                snprintf(why, len, "unknown consistency level %d", (int)o->level);
        } else if ((unsigned)o->route > TUNEKV__V1__ROUTE__ROUTE_ANY) {
                snprintf(why, len, "unknown route %d", (int)o->route);
        } else if ((unsigned)o->on_unmet > UNMET(SERVE_STALE_LABELLED)) {
                snprintf(why, len, "unknown on_unmet %d", (int)o->on_unmet);
        } else if (o->session_flags & ~(uint32_t)RPC_READ_FLAGS_ALL) {
                snprintf(why, len, "unknown session_flags bits 0x%x",
                         o->session_flags & ~(uint32_t)RPC_READ_FLAGS_ALL);
        } else if (o->level == LEVEL(BOUNDED_STALENESS) && o->max_staleness_ms == 0 &&
                   o->max_lag_entries == 0) {
                snprintf(why, len, "BOUNDED_STALENESS needs max_staleness_ms or max_lag_entries");
        } else if (o->at_timestamp != 0 && o->level != LEVEL(SEQUENTIAL) &&
                   o->level != LEVEL(EVENTUAL)) {
                snprintf(why, len, "at_timestamp reads a past state: ask SEQUENTIAL or EVENTUAL");
        } else if (o->at_timestamp != 0 && o->on_unmet == UNMET(SERVE_STALE_LABELLED)) {
                snprintf(why, len,
                         "at_timestamp reads one exact state: on_unmet "
                         "SERVE_STALE_LABELLED cannot apply");
        } else {
                return 0;
        }
        return TKV_EINVAL;
}

/* BOUND_UNMET: what was needed, what this replica has, and the leader. */
static void rpc_read_answer_unmet(struct call *c, const char *why)
{
        struct node *node = c->node;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__BoundUnmet bound = TUNEKV__V1__BOUND_UNMET__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        struct read_state *rs = node_read_state(node, c->partition);
        struct read_replica r = read_replica_of(c->group);
        uint64_t leader = group_leader_id(c->group);
        uint64_t lag = read_lag_entries(rs, &r);
        int i = config_node_index(node->cfg, (unsigned)leader);
        char message[256];

        c->stage = CALL_NEW;
        node_count_read(node, c->partition, c->rd.level, READ_COUNT_BOUND_UNMET);
        snprintf(message, sizeof message, "%s: partition %u on node %u: %s", c->method->name,
                 c->partition, node->cfg->node_id, why);
        bound.required_index = c->rd.bound.required_index;
        bound.applied_index = group_applied_index(c->group);
        bound.staleness_ms = read_staleness_ms(rs, &r, node_clock_ms(node));
        bound.lag_entries = lag;
        bound.node_id = node->cfg->node_id;
        if (i >= 0) {
                hint.node_id = (uint32_t)leader;
                hint.client_addr = (char *)node->cfg->nodes[i].client_addr;
        }
        resp.status = TUNEKV__V1__STATUS__STATUS_BOUND_UNMET;
        resp.message = message;
        resp.bound = &bound;
        resp.leader_hint = &hint;
        call_answer(c, &resp);
}

/* FORWARD_LEADER: the leader serves the read with the bound this replica
 * computed (min_index carries the token's requirement). */
static void rpc_read_fallback(struct call *c)
{
        struct node *node = c->node;
        const struct config *cfg = node->cfg;
        struct read_state *rs = node_read_state(node, c->partition);
        unsigned leader = (unsigned)group_leader_id(c->group);
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetRequest get = TUNEKV__V1__GET_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;

        if (leader == 0) {
                rpc_read_answer_unmet(c, "bound not met and no leader known to fall back to");
                return;
        }
        if (leader == cfg->node_id) {
                rpc_read_answer_unmet(c, "bound not met on the leader");
                return;
        }
        if (!read_take_forward(rs, uv_now(node->loop), cfg->forward_rate, cfg->forward_burst)) {
                rpc_read_answer_unmet(c, "bound not met and the partition's forwarding budget "
                                         "is spent ([read] forward_rate)");
                return;
        }
        node_count_read(node, c->partition, c->rd.level, READ_COUNT_FALLBACK);
        o.level = c->rd.level;
        o.min_index = c->rd.bound.required_index;
        o.min_timestamp = c->rd.bound.required_ts;
        o.at_timestamp = c->rd.at_ts;
        o.max_staleness_ms = (uint32_t)c->rd.bound.max_staleness_ms;
        o.max_lag_entries = c->rd.bound.max_lag_entries;
        o.route = TUNEKV__V1__ROUTE__ROUTE_LEADER;
        o.on_unmet = UNMET(WAIT);
        o.strict = c->rd.strict;
        get.key.data = c->key;
        get.key.len = c->key_len;
        get.options = &o;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET;
        req.get = &get;
        c->rd.fallback = true;
        rpc_forward(c, &req, leader);
}

static void rpc_read_wait_done(struct read_wait *w)
{
        struct call *c = rpc_read_call_of_wait(w);
        c->stage = CALL_NEW;
        rpc_read_answer(c, c->rd.level, false);
}

/* Wait for the bound, up to max_wait_ms (or the request's deadline). */
static void rpc_read_park(struct call *c)
{
        struct node *node = c->node;
        struct read_state *rs = node_read_state(node, c->partition);
        uint64_t now = uv_now(node->loop);
        uint64_t until = call_give_up_ms(c, now);

        c->stage = CALL_WAIT;
        c->op.wait.bound = c->rd.bound;
        c->op.wait.cb = c->rd.on_met != NULL ? c->rd.on_met : rpc_read_wait_done;
        read_wait_park(rs, &c->op.wait);
        if (c->rd.bound.max_staleness_ms > 0 || c->rd.bound.max_lag_entries > 0) {
                rs->probe_now = true;
        }
        if (c->rd.bound.fresh_after && !group_want_closed(c->group, node->hlc.last + 1)) {
                /* A proof begun now (read.h): on the leader a CLOSE (a
                 * write already stamped counts too), elsewhere a probe. */
                rs->probe_now = true;
        }
        if (c->rd.bound.required_ts > group_closed_ts(c->group)) {
                /* The leader closes the partition there with a command
                 * (a CLOSE, unless a write is on its way): at once if that
                 * is us, else when our probe asks for it. */
                if (c->rd.bound.required_ts > rs->close_wanted) {
                        rs->close_wanted = c->rd.bound.required_ts;
                }
                if (!group_want_closed(c->group, c->rd.bound.required_ts)) {
                        rs->probe_now = true;
                }
        }
        node_count_read(node, c->partition, c->rd.level, READ_COUNT_WAIT);
        if (c->rd.max_wait_ms > 0 && now + c->rd.max_wait_ms < until) {
                until = now + c->rd.max_wait_ms;
        }
        if (until < c->deadline.at_ms) {
                c->rd.deadline_ms = c->deadline.at_ms;
                call_deadline_move(c, until);
        }
}

void rpc_read_unmet(struct call *c)
{
        c->stage = CALL_NEW;
        if (!c->rd.waited && (c->rd.on_unmet == UNMET(WAIT) || c->rd.max_wait_ms > 0)) {
                rpc_read_park(c);
                return;
        }
        switch (c->rd.on_unmet) {
        case UNMET(FORWARD_LEADER):
                rpc_read_fallback(c);
                break;
        case UNMET(SERVE_STALE_LABELLED):
                if (c->rd.strict) {
                        rpc_read_answer_unmet(c, "bound not met, and strict forbids a weaker "
                                                 "answer");
                } else {
                        rpc_read_answer(c, LEVEL(EVENTUAL), true);
                }
                break;
        case UNMET(WAIT):
                rpc_read_answer_unmet(
                    c, "bound not met while the read waited (max_wait_ms, deadline)");
                break;
        default:
                rpc_read_answer_unmet(c, "bound not met");
                break;
        }
}

void rpc_read_partition_gone(struct node *node, uint32_t p)
{
        struct read_state *rs = node_read_state(node, p);

        while (!queue_empty(&rs->waiters)) {
                struct read_wait *w = QUEUE_DATA(queue_head(&rs->waiters), struct read_wait, link);
                struct call *c = QUEUE_DATA(w, struct call, op.wait);
                read_wait_abandon(w);
                c->stage = CALL_NEW;
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "%s: partition %u's replica left this node while the read "
                                  "waited; retry",
                                  c->method->name, p);
        }
}

void rpc_read_expired(struct call *c)
{
        struct node *node = c->node;
        uint64_t now = uv_now(node->loop);

        read_wait_abandon(&c->op.wait);
        c->stage = CALL_NEW;
        c->rd.waited = true;
        if (c->rd.deadline_ms <= now) {
                rpc_read_answer_unmet(c, "bound not met before the deadline");
                return;
        }
        /* The wait was shorter than the request: the deadline is the
         * request's again (just removed from the heap: room to re-add). */
        c->deadline.at_ms = c->rd.deadline_ms;
        c->rd.deadline_ms = 0;
        (void)call_deadline_add(c);
        rpc_read_unmet(c);
}

static void rpc_read_fenced(struct group_read *r, int status)
{
        struct call *c = rpc_read_call_of_fence(r);
        struct node *node = c->node;

        struct read_replica rep;

        c->stage = CALL_NEW;
        if (status == TKV_ESHUTDOWN) {
                call_answer_error(c, status, "GET: %s", err_str(status));
                return;
        }
        if (status == TKV_ENOTLEADER && c->rd.leader_only) {
                /* A read for the leader found this node deposed (a pause, a
                 * partition): the leader answers it, not this follower. */
                call_answer_not_leader(c, "GET");
                return;
        }
        /* Fenced: current as of the read's arrival; only an index the
         * partition has not applied yet can be missing. */
        rep = read_replica_of(c->group);
        if (status == 0 ? rep.applied >= c->rd.bound.required_index &&
                              rep.closed_ts >= c->rd.bound.required_ts
                        : read_bound_met(node_read_state(node, c->partition), &rep, &c->rd.bound,
                                         node_clock_ms(node))) {
                rpc_read_answer(c, c->rd.level, false);
                return;
        }
        rpc_read_unmet(c);
}

/* Serve c here if this replica meets its bound; else fence (leader) or
 * follow on_unmet. */
static void rpc_read_serve(struct call *c)
{
        struct node *node = c->node;
        struct read_state *rs = node_read_state(node, c->partition);
        struct read_replica r = read_replica_of(c->group);

        if (read_bound_met(rs, &r, &c->rd.bound, node_clock_ms(node))) {
                rpc_read_answer(c, c->rd.level, false);
                return;
        }
        if (group_is_leader(c->group) &&
            group_read_fence(c->group, &c->op.read, rpc_read_fenced) == 0) {
                c->stage = CALL_READ;
                return;
        }
        rpc_read_unmet(c);
}

/* Every level but LINEARIZABLE (options already checked). */
static void rpc_read_levels(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ReadOptions *o = req->get->options;
        struct node *node = c->node;
        struct route_need need = {0};

        c->rd.level = (uint8_t)o->level;
        c->rd.on_unmet = (uint8_t)o->on_unmet;
        c->rd.strict = o->strict;
        c->rd.causal = o->level == LEVEL(CAUSAL) || o->level == LEVEL(SEQUENTIAL);
        c->rd.max_wait_ms = o->max_wait_ms;
        c->rd.bound.max_staleness_ms = o->max_staleness_ms;
        c->rd.bound.max_lag_entries = o->max_lag_entries;
        /* Any replica serves these levels, unless route LEADER asks for the
         * leader; at EVENTUAL even a replica that knows no leader answers
         * (its receipt says so). */
        need.leader_only = o->route == TUNEKV__V1__ROUTE__ROUTE_LEADER;
        c->rd.leader_only = need.leader_only;
        need.serve_without_leader = o->level == LEVEL(EVENTUAL);
        need.no_forward = req->no_forward;
        if (!rpc_route_request(c, req, &req->get->key, &need)) {
                return;
        }
        if (rpc_read_token_bound(c, o) != 0) {
                return; /* answered */
        }
        if (o->level != LEVEL(EVENTUAL) &&
            c->rd.bound.required_index < group_restart_floor(c->group)) {
                /* A restarted replica must not go back before what it served
                 * before it stopped (an ALL_REPLICAS write, a fresh session's
                 * first read): it waits until it is back there. EVENTUAL
                 * answers at once, and its receipt says the staleness is
                 * unknown until a probe proves otherwise. */
                c->rd.bound.required_index = group_restart_floor(c->group);
        }
        node_read_state(node, c->partition)->demand_ms = node_clock_ms(node);
        rpc_read_serve(c);
}

void rpc_read_get(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ReadOptions *o = req->get->options;
        char why[128];

        /* The same option checks at every level (protocol.md §3.3). */
        if (o != NULL && rpc_read_check_options(o, why, sizeof why) != 0) {
                call_answer_error(c, TKV_EINVAL, "GET: %s", why);
                return;
        }
        if (o != NULL && o->level != TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE) {
                rpc_read_levels(c, req);
                return;
        }
        rpc_read_linearizable(c, req);
}
