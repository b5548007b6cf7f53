/* A group's lease expiry: the partition's leader decides, from its own
 * monotonic clock, when a lease ran out, and proposes LEASE_EXPIRE for it;
 * the fsm applies that entry on every replica, deleting the lease's keys.
 *
 * Deadlines (lease.h, local to each replica) only count on a leader that
 * is ready (its election barrier applied, so its table holds every lease
 * granted before its term):
 *
 *   new term as ready leader -> every deadline = now + full TTL
 *   LEASE_KEEPALIVE (rpc_lease.c, group_lease_keepalive) -> now + TTL
 *   group_flush, now >= the earliest deadline -> LEASE_EXPIRE proposed,
 *     the lease marked expiring; applied -> lease and keys gone;
 *     failed (leadership lost, out of memory) -> unmarked, tried again
 *
 * A new leader never expires a lease early: it knows nothing of when the
 * old leader last refreshed it, so it gives each lease a full TTL from
 * its own first moment as leader. A failover thus lengthens a lease by at
 * most one TTL (docs/consistency.md). Nothing here trusts wall clocks:
 * deadlines are in the node's monotonic clock (node_clock_ms: loop time
 * plus time suspended), and only the leader that set them reads them.
 *
 * Cost: group_flush runs every loop iteration, and the loop wakes at least
 * every heartbeat_timeout_ms on a leader (raft's tick timer), so an expiry
 * is proposed at most a heartbeat late, never early. The check is one
 * comparison with the earliest deadline the table could hold (kept as a
 * lower bound: keepalives only move deadlines later); only when it passed
 * are the leases scanned, and the next earliest deadline found. */
#include "group_internal.h"
#include "heap.h"
#include "lease.h"
#include "log.h"

/* A LEASE_EXPIRE in flight. */
struct group_lease_expiry {
        struct group_write w; /* the proposal; its callback frees this */
        uint64_t id;          /* the lease it expires */
};

static void group_lease_expired_cb(struct group_write *w, int status,
                                   const struct command_result *res)
{
        struct group_lease_expiry *x = QUEUE_DATA(w, struct group_lease_expiry, w);
        struct group *g = w->g;
        struct lease *l;

        if ((status != 0 || res->status != 0) && g->fsm.leases != NULL &&
            (l = lease_find(g->fsm.leases, x->id)) != NULL) {
                /* Not applied (or, with TKV_EUNKNOWN, maybe later): the
                 * next ready leader's scan decides again. */
                l->expiring = false;
                lease_set_next_ms(g->fsm.leases, 0);
        }
        tkv_free(x);
}

/* Propose LEASE_EXPIRE for l. Returns 0, or nonzero to try again later. */
static int group_lease_propose_expiry(struct group *g, struct lease *l)
{
        struct group_lease_expiry *x = tkv_calloc(1, sizeof *x);
        struct command_lease body = {0};
        uint8_t bytes[COMMAND_LEASE_BODY_MAX];
        struct command cmd = {0};
        int rv;

        if (x == NULL) {
                return TKV_ENOMEM;
        }
        body.id = l->id;
        cmd.type = COMMAND_LEASE_EXPIRE;
        cmd.value = bytes;
        cmd.value_len = (uint32_t)command_lease_body_encode(&body, bytes);
        cmd.value_raw_len = cmd.value_len;
        x->id = l->id;
        rv = group_propose(g, &x->w, &cmd, group_lease_expired_cb);
        if (rv != 0) {
                tkv_free(x);
                return rv;
        }
        l->expiring = true;
        g->stats.leases_expired++;
        LOGI((int)g->partition, "group: lease %llu expired (ttl %llu ms, %u keys): deleting",
             (unsigned long long)l->id, (unsigned long long)l->ttl_ms, l->n_keys);
        return 0;
}

/* Do this replica's deadlines count (a ready leader)? A new term starts
 * every lease's TTL again first. */
static bool group_lease_running(struct group *g, uint64_t now_ms)
{
        if (g->raft == NULL || !g->ready || !group_is_leader(g)) {
                g->lease_term = 0;
                return false;
        }
        if (g->lease_term != g->term) {
                lease_restart_deadlines(g->fsm.leases, now_ms);
                g->lease_term = g->term;
        }
        return true;
}

void group_lease_flush(struct group *g, uint64_t now_ms)
{
        struct lease_table *t = g->fsm.leases;
        uint64_t next = UINT64_MAX;

        if (!group_lease_running(g, now_ms)) {
                return;
        }
        if (now_ms < lease_next_ms(t)) {
                return;
        }
        for (uint32_t i = 0; i < lease_count(t); i++) {
                struct lease *l = lease_at(t, i);
                if (l->expiring) {
                        continue;
                }
                if (l->deadline_ms > now_ms || group_lease_propose_expiry(g, l) != 0) {
                        /* Not due, or not proposed (memory): next time. */
                        uint64_t due = l->deadline_ms > now_ms ? l->deadline_ms : now_ms + 1;
                        next = due < next ? due : next;
                }
        }
        lease_set_next_ms(t, next);
}

int group_lease_keepalive(struct group *g, uint64_t id, uint64_t now_ms, uint64_t *ttl_ms)
{
        struct lease *l;

        if (!group_lease_running(g, now_ms)) {
                return TKV_ENOTLEADER;
        }
        l = lease_find(g->fsm.leases, id);
        if (l == NULL || l->expiring) {
                return TKV_ENOTFOUND;
        }
        l->deadline_ms = now_ms + l->ttl_ms;
        *ttl_ms = l->ttl_ms;
        return 0;
}

int64_t group_lease_remaining_ms(struct group *g, const struct lease *l, uint64_t now_ms)
{
        if (g->raft == NULL || !g->ready || !group_is_leader(g) || g->lease_term != g->term) {
                return -1;
        }
        if (l->expiring || l->deadline_ms <= now_ms) {
                return 0;
        }
        return (int64_t)(l->deadline_ms - now_ms);
}

struct lease_table *group_leases(struct group *g)
{
        return g->fsm.leases;
}
