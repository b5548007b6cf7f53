/* Reads below LINEARIZABLE, and the probes that measure staleness.
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
 * Probes: while a partition has readers who care (READ_PROBE_IDLE_MS), a
 * follower asks its leader for the commit index every probe_interval_ms,
 * and at once when a read starts waiting for freshness or an ALL_REPLICAS
 * write applied here. The leader records the follower's applied index
 * (ALL_REPLICAS acknowledgements), fences, and answers its applied index:
 * every write acknowledged before the probe was sent is at or below it
 * (read.c has the argument). */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "route.h"
#include "rpc_internal.h"
#include "server.h"

#define LEVEL(x) TUNEKV__V1__CONSISTENCY__CONSISTENCY_##x
#define FLAG(x)  TUNEKV__V1__SESSION_FLAG__SESSION_FLAG_##x
#define UNMET(x) TUNEKV__V1__ON_UNMET__ON_UNMET_##x

#define RPC_READ_FLAGS_ALL                                                                         \
        (FLAG(READ_YOUR_WRITES) | FLAG(MONOTONIC_READS) | FLAG(MONOTONIC_WRITES) |                 \
         FLAG(WRITES_FOLLOW_READS))

static void rpc_read_serve(struct call *c);

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

int rpc_read_token_bound(struct call *c, const Tunekv__V1__ReadOptions *o)
{
        struct server *s = c->server;
        uint64_t required = 0;
        unsigned n = 0;
        int rv;

        c->rd.bound.required_index = o->min_index;
        if (o->token.len == 0 || rpc_planted("ignore-token")) {
                return 0;
        }
        rv = session_parse(o->token.data, o->token.len, s->cfg->token_bytes_max, s->token_ents,
                           s->token_cap, &n);
        if (rv == TKV_ETOOBIG) {
                rpc_answer_error(c, rv, "GET: token of %zu bytes exceeds token_bytes_max %llu",
                                 o->token.len, (unsigned long long)s->cfg->token_bytes_max);
                return rv;
        }
        if (rv == 0) {
                rv = session_required(&s->keys, s->token_ents, n, c->partition,
                                      rpc_read_kinds(o->level, o->session_flags), &required);
        }
        if (rv != 0) {
                rpc_answer_error(c, TKV_EINVAL,
                                 "GET: token is malformed, forged or from another cluster");
                return rv;
        }
        if (required > c->rd.bound.required_index) {
                c->rd.bound.required_index = required;
        }
        return 0;
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
        } else {
                return 0;
        }
        return TKV_EINVAL;
}

/* BOUND_UNMET: what was needed, what this replica has, and the leader. */
static void rpc_read_answer_unmet(struct call *c, const char *why)
{
        struct server *s = c->server;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__BoundUnmet bound = TUNEKV__V1__BOUND_UNMET__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        struct read_state *rs = server_read_state(s, c->partition);
        struct read_replica r = read_replica_of(c->group);
        uint64_t leader = group_leader_id(c->group);
        uint64_t lag = read_lag_entries(rs, &r);
        int i = config_node_index(s->cfg, (unsigned)leader);
        char message[256];

        c->stage = CALL_NEW;
        server_count_read(s, c->partition, c->rd.level, READ_COUNT_BOUND_UNMET);
        snprintf(message, sizeof message, "GET: partition %u on node %u: %s", c->partition,
                 s->cfg->node_id, why);
        bound.required_index = c->rd.bound.required_index;
        bound.applied_index = group_applied_index(c->group);
        bound.staleness_ms = read_staleness_ms(rs, &r, uv_now(s->loop));
        bound.lag_entries = lag;
        bound.node_id = s->cfg->node_id;
        if (i >= 0) {
                hint.node_id = (uint32_t)leader;
                hint.client_addr = (char *)s->cfg->nodes[i].client_addr;
        }
        resp.status = TUNEKV__V1__STATUS__STATUS_BOUND_UNMET;
        resp.message = message;
        resp.bound = &bound;
        resp.leader_hint = &hint;
        rpc_answer(c, &resp);
}

/* FORWARD_LEADER: the leader serves the read with the bound this replica
 * computed (min_index carries the token's requirement). */
static void rpc_read_fallback(struct call *c)
{
        struct server *s = c->server;
        const struct config *cfg = s->cfg;
        struct read_state *rs = server_read_state(s, c->partition);
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
        if (!read_take_forward(rs, uv_now(s->loop), cfg->forward_rate, cfg->forward_burst)) {
                rpc_read_answer_unmet(c, "bound not met and the partition's forwarding budget "
                                         "is spent ([read] forward_rate)");
                return;
        }
        server_count_read(s, c->partition, c->rd.level, READ_COUNT_FALLBACK);
        o.level = c->rd.level;
        o.min_index = c->rd.bound.required_index;
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
        rpc_kv_answer_read(c, c->rd.level, false);
}

/* Wait for the bound, up to max_wait_ms (or the request's deadline). */
static void rpc_read_park(struct call *c)
{
        struct server *s = c->server;
        struct read_state *rs = server_read_state(s, c->partition);
        uint64_t now = uv_now(s->loop);
        uint64_t until = rpc_give_up_ms(c, now);

        c->stage = CALL_WAIT;
        c->op.wait.bound = c->rd.bound;
        c->op.wait.cb = rpc_read_wait_done;
        read_wait_park(rs, &c->op.wait);
        if (c->rd.bound.max_staleness_ms > 0 || c->rd.bound.max_lag_entries > 0) {
                rs->probe_now = true;
        }
        server_count_read(s, c->partition, c->rd.level, READ_COUNT_WAIT);
        if (c->rd.max_wait_ms > 0 && now + c->rd.max_wait_ms < until) {
                until = now + c->rd.max_wait_ms;
        }
        if (until < c->deadline.at_ms) {
                c->rd.deadline_ms = c->deadline.at_ms;
                rpc_deadline_move(c, until);
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
                        rpc_kv_answer_read(c, LEVEL(EVENTUAL), true);
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

void rpc_read_expired(struct call *c)
{
        struct server *s = c->server;
        uint64_t now = uv_now(s->loop);

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
        (void)server_deadline_add(s, &c->deadline);
        rpc_read_unmet(c);
}

static void rpc_read_fenced(struct group_read *r, int status)
{
        struct call *c = rpc_read_call_of_fence(r);
        struct server *s = c->server;

        struct read_replica rep;

        c->stage = CALL_NEW;
        if (status == TKV_ESHUTDOWN) {
                rpc_answer_error(c, status, "GET: %s", err_str(status));
                return;
        }
        /* Fenced: current as of the read's arrival; only an index the
         * partition has not applied yet can be missing. */
        rep = read_replica_of(c->group);
        if (status == 0 ? rep.applied >= c->rd.bound.required_index
                        : read_bound_met(server_read_state(s, c->partition), &rep, &c->rd.bound,
                                         uv_now(s->loop))) {
                rpc_kv_answer_read(c, c->rd.level, false);
                return;
        }
        rpc_read_unmet(c);
}

/* Serve c here if this replica meets its bound; else fence (leader) or
 * follow on_unmet. */
static void rpc_read_serve(struct call *c)
{
        struct server *s = c->server;
        struct read_state *rs = server_read_state(s, c->partition);
        struct read_replica r = read_replica_of(c->group);

        if (read_bound_met(rs, &r, &c->rd.bound, uv_now(s->loop))) {
                rpc_kv_answer_read(c, c->rd.level, false);
                return;
        }
        if (group_is_leader(c->group) &&
            group_read_fence(c->group, &c->op.read, rpc_read_fenced) == 0) {
                c->stage = CALL_READ;
                return;
        }
        rpc_read_unmet(c);
}

void rpc_read_get(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ReadOptions *o = req->get->options;
        struct server *s = c->server;
        struct route_need need = {0};
        char why[128];

        if (rpc_read_check_options(o, why, sizeof why) != 0) {
                rpc_answer_error(c, TKV_EINVAL, "GET: %s", why);
                return;
        }
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
        need.serve_without_leader = o->level == LEVEL(EVENTUAL);
        need.no_forward = req->no_forward;
        if (!rpc_route(c, req, &req->get->key, &need)) {
                return;
        }
        if (rpc_read_token_bound(c, o) != 0) {
                return; /* answered */
        }
        server_read_state(s, c->partition)->demand_ms = uv_now(s->loop);
        rpc_read_serve(c);
}

/* ------------------------------------------------------------------------ */
/* Probes */

void rpc_read_flush(struct server *s, uint32_t p, uint64_t now_ms)
{
        struct read_state *rs = &s->reads[p];
        struct group *g = s->groups[p];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ProbeRequest probe = TUNEKV__V1__PROBE_REQUEST__INIT;
        struct peer *peer;
        uint8_t *space;
        size_t len;

        struct read_replica r = read_replica_of(g);

        read_scan(rs, &r, now_ms);
        if (r.leader) {
                rs->probe_now = false;
                return;
        }
        /* Writes that waited here for every replica lost their leader: the
         * new one knows nothing of them; they are committed. */
        while (!queue_empty(&rs->ack_alls)) {
                struct call *c = QUEUE_DATA(queue_head(&rs->ack_alls), struct call, op.ack_all);
                queue_remove(&c->op.ack_all);
                rpc_kv_ack_all_done(c, false);
        }
        if (s->state != SERVER_SERVING || !read_probe_due(rs, now_ms, s->cfg->probe_interval_ms)) {
                return;
        }
        peer = server_peer(s, (unsigned)group_leader_id(g));
        if (peer == NULL) {
                return;
        }
        req.id = peer_next_id(peer);
        req.body_case = TUNEKV__V1__REQUEST__BODY_PROBE;
        req.probe = &probe;
        probe.from_node_id = s->cfg->node_id;
        probe.partition = p;
        probe.applied_index = group_applied_index(g);
        len = tunekv__v1__request__get_packed_size(&req);
        space = peer_frame_space(peer, len);
        if (space == NULL) {
                return;
        }
        tunekv__v1__request__pack(&req, space);
        s->probe_calls[p].kind = RPC_PEER_PROBE;
        peer_track(peer, &s->probe_calls[p], req.id);
        rs->probe_in_flight = true;
        rs->probe_sent_ms = now_ms; /* at or before the bytes leave: a safe s */
        rs->probe_now = false;
}

void rpc_read_applied(void *data, struct group *g, uint64_t index, unsigned flags)
{
        struct server *s = data;
        (void)index;
        if ((flags & COMMAND_F_ACK_ALL) && !group_is_leader(g)) {
                s->reads[group_partition(g)].probe_now = true;
        }
}

static void rpc_read_probe_fenced(struct group_read *r, int status)
{
        struct call *c = rpc_read_call_of_fence(r);
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ProbeResponse pr = TUNEKV__V1__PROBE_RESPONSE__INIT;

        c->stage = CALL_NEW;
        if (status != 0) {
                rpc_answer_error(c, status, "PROBE: %s", err_str(status));
                return;
        }
        pr.node_id = c->server->cfg->node_id;
        pr.partition = c->partition;
        /* Every write acknowledged before the probe is at or below the
         * last command applied after the fence (group_state_index). */
        pr.commit_index = group_state_index(c->group);
        pr.term = group_term(c->group);
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_PROBE;
        resp.probe = &pr;
        rpc_answer(c, &resp);
}

void rpc_read_probe_answer(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ProbeRequest *pr = req->probe;
        struct server *s = c->server;
        int rv;

        if (pr->partition >= s->n_partitions) {
                rpc_answer_error(c, TKV_EINVAL, "PROBE: no partition %u", pr->partition);
                return;
        }
        c->partition = pr->partition;
        c->group = server_group(s, pr->partition);
        if (c->group == NULL || !group_is_leader(c->group)) {
                rpc_answer_error(c, TKV_ENOTLEADER, "PROBE: not the leader of partition %u",
                                 pr->partition);
                return;
        }
        read_on_replica_applied(&s->reads[c->partition], pr->from_node_id, pr->applied_index);
        rpc_kv_ack_all_scan(s, c->partition);
        rv = group_read_fence(c->group, &c->op.read, rpc_read_probe_fenced);
        if (rv != 0) {
                rpc_answer_error(c, rv, "PROBE: %s", err_str(rv));
                return;
        }
        c->stage = CALL_READ;
}

void rpc_read_on_probe(struct server *s, uint32_t p, const Tunekv__V1__Response *resp)
{
        struct read_state *rs = &s->reads[p];
        struct group *g = server_group(s, p);
        struct read_replica r;

        rs->probe_in_flight = false;
        if (g == NULL || resp->status != TUNEKV__V1__STATUS__STATUS_OK ||
            resp->body_case != TUNEKV__V1__RESPONSE__BODY_PROBE || resp->probe->partition != p) {
                return;
        }
        r = read_replica_of(g);
        read_on_probe(rs, &r, resp->probe->commit_index, rs->probe_sent_ms);
        read_scan(rs, &r, uv_now(s->loop));
}

void rpc_read_probe_failed(struct server *s, uint32_t p)
{
        s->reads[p].probe_in_flight = false;
}

/* ------------------------------------------------------------------------ */
/* Leadership confirmations (group_confirm.c says why they fence linearizable reads) */

unsigned rpc_read_confirm_send(void *data, struct group *g, uint64_t seq, const uint64_t *voters,
                               unsigned n)
{
        struct server *s = data;
        unsigned sent = 0;

        for (unsigned i = 0; i < n; i++) {
                Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
                Tunekv__V1__ConfirmRequest cr = TUNEKV__V1__CONFIRM_REQUEST__INIT;
                struct peer *peer = server_peer(s, (unsigned)voters[i]);
                struct rpc_confirm *rc;
                uint8_t *space;
                size_t len;

                if (peer == NULL || (rc = tkv_malloc(sizeof *rc)) == NULL) {
                        continue;
                }
                req.id = peer_next_id(peer);
                req.body_case = TUNEKV__V1__REQUEST__BODY_CONFIRM;
                req.confirm = &cr;
                cr.from_node_id = s->cfg->node_id;
                cr.partition = group_partition(g);
                len = tunekv__v1__request__get_packed_size(&req);
                space = peer_frame_space(peer, len);
                if (space == NULL) {
                        tkv_free(rc);
                        continue;
                }
                tunekv__v1__request__pack(&req, space);
                rc->pc.kind = RPC_PEER_CONFIRM;
                rc->partition = group_partition(g);
                rc->seq = seq;
                rc->voter = voters[i];
                peer_track(peer, &rc->pc, req.id);
                sent++;
        }
        return sent;
}

void rpc_read_on_confirm(struct server *s, struct rpc_confirm *rc, const Tunekv__V1__Response *resp)
{
        struct group *g = server_group(s, rc->partition);
        bool answered = resp != NULL && resp->status == TUNEKV__V1__STATUS__STATUS_OK &&
                        resp->body_case == TUNEKV__V1__RESPONSE__BODY_CONFIRM &&
                        resp->confirm->partition == rc->partition;

        if (g != NULL && answered) {
                /* It also says what the voter applied (ALL_REPLICAS). */
                read_on_replica_applied(&s->reads[rc->partition], (uint32_t)rc->voter,
                                        resp->confirm->applied_index);
                rpc_kv_ack_all_scan(s, rc->partition);
        }
        if (g != NULL) {
                group_confirm_answer(g, rc->seq, rc->voter, answered,
                                     answered ? resp->confirm->term : 0);
        }
        tkv_free(rc);
}

void rpc_read_confirm_answer(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ConfirmRequest *cr = req->confirm;
        struct server *s = c->server;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ConfirmResponse ans = TUNEKV__V1__CONFIRM_RESPONSE__INIT;
        struct group *g;

        if (cr->partition >= s->n_partitions) {
                rpc_answer_error(c, TKV_EINVAL, "CONFIRM: no partition %u", cr->partition);
                return;
        }
        g = server_group(s, cr->partition);
        if (g == NULL) {
                rpc_answer_error(c, TKV_EINVAL, "CONFIRM: no replica of partition %u here",
                                 cr->partition);
                return;
        }
        ans.node_id = s->cfg->node_id;
        ans.partition = cr->partition;
        /* Raft's term now: a voter still in the leader's term has voted in
         * no later election (group_confirm.c). */
        ans.term = group_term(g);
        ans.applied_index = group_applied_index(g);
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_CONFIRM;
        resp.confirm = &ans;
        rpc_answer(c, &resp);
}
