/* How stale a replica is, measured on the replica, without synchronized
 * clocks (DESIGN §4, BOUNDED_STALENESS).
 *
 * A follower asks its partition's leader for its commit index (a probe)
 * at local monotonic time s and hears back C. Every write acknowledged
 * before s was committed before s, so its index is <= C. Once the follower
 * has applied C, its state includes every write acknowledged before s: it
 * is current as of s, and now - s bounds its staleness from above, whatever
 * the clocks of the two nodes say. Probes go out every probe interval (the
 * heartbeat), and at once when a read is waiting for freshness.
 *
 * On the leader, an entry of its own term that applied proves it was leader
 * (with a majority) when it proposed the entry: the state is current as of
 * that proposal. An idle leader's bound grows; a read that needs it tighter
 * is fenced by a barrier instead (rpc_read.c).
 *
 * now - s is measured by the follower's clock; a clock that runs slow (or
 * stops while the host is suspended) would make it too small. So the clock
 * is CLOCK_BOOTTIME (it counts a suspend), and its rate is checked against
 * the leader's at every probe answer (read_clock_check): a follower claims
 * a time bound only while the last check passed, scaled up by the margin
 * the check allows. The leader's clock is the reference.
 *
 * Lag in entries is measured against the leader's commit index as reported
 * by a probe sent within the lag window (two probe intervals): writes
 * committed since that probe was sent are not counted.
 *
 * "Current as of a moment" (fresh_after) needs no clock at all: the same
 * argument holds for a probe *sent after* the moment, and for a leader's
 * proof begun after it. Which came after is told by tickets from one
 * counter of the node, not by loop times: a probe sent in the previous
 * loop turn of the same millisecond carries the same time as the moment. */
#include "read.h"

#include <string.h>

#include "group.h"

void read_state_init(struct read_state *rs, uint32_t partition, const uint32_t *replicas,
                     unsigned n_replicas, double burst, uint64_t lag_window_ms)
{
        memset(rs, 0, sizeof *rs);
        rs->partition = partition;
        queue_init(&rs->waiters);
        queue_init(&rs->ack_alls);
        rs->budget = burst;
        rs->lag_window_ms = lag_window_ms;
        for (unsigned i = 0; i < n_replicas && i < READ_REPLICAS_MAX; i++) {
                rs->replica_ids[i] = replicas[i];
        }
        rs->n_replicas = n_replicas < READ_REPLICAS_MAX ? n_replicas : READ_REPLICAS_MAX;
}

void read_state_restart(struct read_state *rs)
{
        rs->fresh_ms = 0;
        rs->fresh_probe = 0;
}

void read_state_set_replicas(struct read_state *rs, const uint32_t *replicas, unsigned n_replicas)
{
        uint64_t applied[READ_REPLICAS_MAX];
        unsigned n = n_replicas < READ_REPLICAS_MAX ? n_replicas : READ_REPLICAS_MAX;

        for (unsigned i = 0; i < n; i++) {
                applied[i] = 0;
                for (unsigned k = 0; k < rs->n_replicas; k++) {
                        if (rs->replica_ids[k] == replicas[i]) {
                                applied[i] = rs->replica_applied[k];
                        }
                }
        }
        for (unsigned i = 0; i < n; i++) {
                rs->replica_ids[i] = replicas[i];
                rs->replica_applied[i] = applied[i];
        }
        rs->n_replicas = n;
}

struct read_replica read_replica_of(struct group *g)
{
        struct read_replica r;
        r.applied = group_applied_index(g);
        r.commit = group_commit_index(g);
        r.leader = group_is_leader(g);
        r.leader_fresh_ms = r.leader ? group_fresh_ms(g) : 0;
        r.leader_fresh_ticket = r.leader ? group_fresh_ticket(g) : 0;
        r.closed_ts = group_closed_ts(g);
        return r;
}

int64_t read_staleness_ms(const struct read_state *rs, const struct read_replica *r,
                          uint64_t now_ms)
{
        int64_t best = -1;

        if (r->leader && r->leader_fresh_ms != 0) {
                /* The leader's own clock is the reference. */
                best = now_ms > r->leader_fresh_ms ? (int64_t)(now_ms - r->leader_fresh_ms) : 0;
        }
        if (rs->fresh_ms != 0 && rs->clock.verified) {
                /* What probes proved, on a clock checked against the
                 * leader's, with the margin the check allows. */
                uint64_t elapsed = now_ms > rs->fresh_ms ? now_ms - rs->fresh_ms : 0;
                int64_t probed =
                    (int64_t)(elapsed + elapsed / READ_CLOCK_DRIFT_DIV + READ_CLOCK_SLACK_MS);
                if (best < 0 || probed < best) {
                        best = probed;
                }
        }
        return best;
}

uint64_t read_lag_entries(const struct read_state *rs, const struct read_replica *r)
{
        uint64_t heard = rs->leader_commit > r->commit ? rs->leader_commit : r->commit;
        if (r->leader) {
                return 0;
        }
        return heard > r->applied ? heard - r->applied : 0;
}

bool read_bound_met(const struct read_state *rs, const struct read_replica *r,
                    const struct read_bound *b, uint64_t now_ms)
{
        if (r->applied < b->required_index || r->closed_ts < b->required_ts) {
                return false;
        }
        if (b->max_staleness_ms > 0) {
                int64_t stale = read_staleness_ms(rs, r, now_ms);
                if (stale < 0 || (uint64_t)stale > b->max_staleness_ms) {
                        return false;
                }
        }
        if (b->fresh_after && !(r->leader && r->leader_fresh_ticket > b->after_ticket) &&
            rs->fresh_probe <= b->after_ticket) {
                return false;
        }
        if (b->max_lag_entries > 0 && !r->leader &&
            (rs->leader_commit_ms == 0 || !rs->clock.verified ||
             now_ms - rs->leader_commit_ms > rs->lag_window_ms ||
             read_lag_entries(rs, r) > b->max_lag_entries)) {
                return false;
        }
        return true;
}

void read_refresh(struct read_state *rs, const struct read_replica *r)
{
        uint64_t applied = r->applied;
        unsigned kept = 0;

        for (unsigned i = 0; i < rs->n_pending; i++) {
                if (rs->pending[i].commit <= applied) {
                        if (rs->pending[i].sent_ms > rs->fresh_ms) {
                                rs->fresh_ms = rs->pending[i].sent_ms;
                        }
                        if (rs->pending[i].probe > rs->fresh_probe) {
                                rs->fresh_probe = rs->pending[i].probe;
                        }
                } else {
                        rs->pending[kept++] = rs->pending[i];
                }
        }
        rs->n_pending = kept;
}

void read_clock_check(struct read_state *rs, uint32_t leader_id, uint64_t term, uint64_t sent_ms,
                      uint64_t recv_ms, uint64_t leader_ms)
{
        struct read_clock *k = &rs->clock;

        if (leader_ms == 0) {
                memset(k, 0, sizeof *k);
                return;
        }
        if (k->leader_id == leader_id && k->term == term && leader_ms > k->leader_ms &&
            recv_ms >= k->sent_ms) {
                uint64_t leader_span = leader_ms - k->leader_ms;
                uint64_t our_span = recv_ms - k->sent_ms;
                k->verified =
                    leader_span <= our_span + our_span / READ_CLOCK_DRIFT_DIV + READ_CLOCK_SLACK_MS;
                if (!k->verified) {
                        k->slow++;
                }
        } else {
                k->verified = false; /* a new leader: nothing to compare yet */
        }
        k->leader_id = leader_id;
        k->term = term;
        k->sent_ms = sent_ms;
        k->leader_ms = leader_ms;
}

void read_on_probe(struct read_state *rs, const struct read_replica *r, uint64_t commit,
                   uint64_t sent_ms, uint64_t probe)
{
        if (sent_ms >= rs->leader_commit_ms) {
                rs->leader_commit = commit;
                rs->leader_commit_ms = sent_ms;
        }
        if (rs->n_pending == READ_PENDING_MAX) {
                /* Drop the oldest: a newer answer covers at least as much. */
                memmove(&rs->pending[0], &rs->pending[1],
                        sizeof rs->pending[0] * (READ_PENDING_MAX - 1));
                rs->n_pending--;
        }
        rs->pending[rs->n_pending].commit = commit;
        rs->pending[rs->n_pending].sent_ms = sent_ms;
        rs->pending[rs->n_pending].probe = probe;
        rs->n_pending++;
        read_refresh(rs, r);
}

bool read_probe_due(const struct read_state *rs, uint64_t now_ms, unsigned interval_ms)
{
        if (rs->probe_in_flight) {
                return false;
        }
        if (rs->probe_now) {
                return true;
        }
        return rs->demand_ms != 0 && now_ms - rs->demand_ms < READ_PROBE_IDLE_MS &&
               now_ms - rs->probe_sent_ms >= interval_ms;
}

bool read_take_forward(struct read_state *rs, uint64_t now_ms, double rate, double burst)
{
        if (rs->budget_ms != 0 && now_ms > rs->budget_ms) {
                rs->budget += (double)(now_ms - rs->budget_ms) * rate / 1000.0;
                if (rs->budget > burst) {
                        rs->budget = burst;
                }
        }
        rs->budget_ms = now_ms;
        if (rs->budget < 1.0) {
                return false;
        }
        rs->budget -= 1.0;
        return true;
}

void read_wait_park(struct read_state *rs, struct read_wait *w)
{
        queue_push_tail(&rs->waiters, &w->link);
}

void read_wait_abandon(struct read_wait *w)
{
        queue_remove(&w->link);
}

void read_scan(struct read_state *rs, const struct read_replica *r, uint64_t now_ms)
{
        struct queue ready;
        struct queue *q;

        if (queue_empty(&rs->waiters)) {
                return;
        }
        read_refresh(rs, r);
        queue_init(&ready);
        for (q = queue_head(&rs->waiters); q != &rs->waiters;) {
                struct read_wait *w = QUEUE_DATA(q, struct read_wait, link);
                q = q->next;
                if (read_bound_met(rs, r, &w->bound, now_ms)) {
                        queue_remove(&w->link);
                        queue_push_tail(&ready, &w->link);
                }
        }
        /* Callbacks last: they may park or abandon other waiters. */
        while (!queue_empty(&ready)) {
                struct read_wait *w = QUEUE_DATA(queue_head(&ready), struct read_wait, link);
                queue_remove(&w->link);
                w->cb(w);
        }
}

void read_on_replica_applied(struct read_state *rs, uint32_t node_id, uint64_t applied,
                             uint64_t last_index)
{
        if (applied > last_index) {
                applied = last_index;
        }
        for (unsigned i = 0; i < rs->n_replicas; i++) {
                if (rs->replica_ids[i] == node_id && applied > rs->replica_applied[i]) {
                        rs->replica_applied[i] = applied;
                }
        }
}

bool read_all_applied(const struct read_state *rs, uint32_t self_id, uint64_t self_applied,
                      uint64_t index)
{
        for (unsigned i = 0; i < rs->n_replicas; i++) {
                uint64_t a = rs->replica_ids[i] == self_id ? self_applied : rs->replica_applied[i];
                if (a < index) {
                        return false;
                }
        }
        return true;
}
