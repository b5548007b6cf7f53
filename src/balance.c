/* The rebalancer's decisions (balance.h has the rules). */
#include "balance.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static bool balance_alive(const struct cmap *m, const struct balance_params *bp,
                          const struct cmap_member *mb)
{
        return bp->alive == NULL || bp->alive[mb - m->members];
}

/* Does one of p's replicas other than `except` live in zone? */
static bool balance_zone_used(const struct cmap *m, unsigned p, unsigned except, const char *zone)
{
        const struct cmap_placement *pl = &m->parts[p];

        for (unsigned i = 0; i < pl->n; i++) {
                const struct cmap_member *o = cmap_member(m, pl->ids[i]);
                if (pl->ids[i] != except && o != NULL && strcmp(o->zone, zone) == 0) {
                        return true;
                }
        }
        return false;
}

/* Can mb take p's replica now? */
static bool balance_can_take(const struct cmap *m, const struct balance_params *bp, unsigned p,
                             const struct cmap_member *mb)
{
        return cmap_eligible(mb) && balance_alive(m, bp, mb) && !cmap_hosts(m, p, mb->id);
}

/* Is a better than b as the target of p's replica on from? */
static bool balance_better(const struct cmap *m, unsigned p, unsigned from,
                           const struct cmap_member *a, const struct cmap_member *b)
{
        bool a_new = !balance_zone_used(m, p, from, a->zone);
        bool b_new = !balance_zone_used(m, p, from, b->zone);
        unsigned la = cmap_load(m, a->id), lb = cmap_load(m, b->id);

        if (a_new != b_new) {
                return a_new;
        }
        return la != lb ? la < lb : a->id < b->id;
}

/* The best target for p's replica on from (balance.h), or 0. */
static unsigned balance_target(const struct cmap *m, const struct balance_params *bp, unsigned p,
                               unsigned from)
{
        const struct cmap_member *best = NULL;

        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *mb = &m->members[i];
                if (balance_can_take(m, bp, p, mb) &&
                    (best == NULL || balance_better(m, p, from, mb, best))) {
                        best = mb;
                }
        }
        return best != NULL ? best->id : 0;
}

static unsigned balance_moving(const struct cmap *m)
{
        unsigned n = 0;

        for (unsigned p = 0; p < m->n_partitions; p++) {
                n += m->parts[p].move_to != 0;
        }
        return n;
}

static struct balance_change balance_move(unsigned p, unsigned from, unsigned to, const char *why)
{
        struct balance_change c = {BALANCE_MOVE, p, from, to, why};
        return c;
}

/* Rules 1 and 2: members that leave. */
static struct balance_change balance_leaving(const struct cmap *m, const struct balance_params *bp)
{
        struct balance_change none = {BALANCE_NONE, 0, 0, 0, NULL};
        bool room = balance_moving(m) < bp->moves_max;

        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *mb = &m->members[i];
                if (mb->state != CMAP_LEAVING) {
                        continue;
                }
                if (!cmap_holds_any(m, mb->id)) {
                        struct balance_change c = {BALANCE_REMOVED, 0, mb->id, 0,
                                                   "it left: it holds no replica any more"};
                        return c;
                }
                /* The metadata group's replica too (index n_partitions). */
                for (unsigned p = 0; room && p <= m->n_partitions; p++) {
                        const struct cmap_member *s = cmap_member(m, mb->successor);
                        unsigned to;
                        if (!cmap_is_replica(m, p, mb->id) || m->parts[p].move_to != 0) {
                                continue;
                        }
                        to = s != NULL && balance_can_take(m, bp, p, s)
                                 ? s->id
                                 : balance_target(m, bp, p, mb->id);
                        if (to != 0) {
                                return balance_move(p, mb->id, to, "its member is leaving");
                        }
                }
        }
        return none;
}

/* Do the live eligible members span more than one zone? */
static bool balance_zoned(const struct cmap *m, const struct balance_params *bp)
{
        const char *first = NULL;

        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *mb = &m->members[i];
                if (!cmap_eligible(mb) || !balance_alive(m, bp, mb)) {
                        continue;
                }
                if (first == NULL) {
                        first = mb->zone;
                } else if (strcmp(first, mb->zone) != 0) {
                        return true;
                }
        }
        return false;
}

/* Rule 3a: two replicas of p in one zone, and a zone p lacks. */
static struct balance_change balance_zones(const struct cmap *m, const struct balance_params *bp)
{
        struct balance_change none = {BALANCE_NONE, 0, 0, 0, NULL};

        for (unsigned p = 0; p < m->n_partitions; p++) {
                const struct cmap_placement *pl = &m->parts[p];
                for (unsigned i = 0; i < pl->n; i++) {
                        const struct cmap_member *a = cmap_member(m, pl->ids[i]);
                        unsigned to;
                        if (a == NULL || !balance_zone_used(m, p, a->id, a->zone)) {
                                continue;
                        }
                        to = balance_target(m, bp, p, a->id);
                        if (to != 0 && !balance_zone_used(m, p, a->id, cmap_member(m, to)->zone)) {
                                return balance_move(p, a->id, to,
                                                    "spreading its replicas over zones");
                        }
                }
        }
        return none;
}

/* The live eligible member with the most (most) or fewest replicas. */
static const struct cmap_member *balance_extreme(const struct cmap *m,
                                                 const struct balance_params *bp, bool most)
{
        const struct cmap_member *x = NULL;

        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *mb = &m->members[i];
                unsigned l;
                if (!cmap_eligible(mb) || !balance_alive(m, bp, mb)) {
                        continue;
                }
                l = cmap_load(m, mb->id);
                if (x == NULL || (most ? l > cmap_load(m, x->id) : l < cmap_load(m, x->id))) {
                        x = mb;
                }
        }
        return x;
}

/* Rule 3b: from the busiest member to the idlest. */
static struct balance_change balance_counts(const struct cmap *m, const struct balance_params *bp)
{
        struct balance_change none = {BALANCE_NONE, 0, 0, 0, NULL};
        const struct cmap_member *hi = balance_extreme(m, bp, true);
        const struct cmap_member *lo = balance_extreme(m, bp, false);
        bool zoned = balance_zoned(m, bp);

        if (hi == NULL || lo == NULL || cmap_load(m, hi->id) < cmap_load(m, lo->id) + 2) {
                return none;
        }
        for (unsigned p = 0; p < m->n_partitions; p++) {
                if (cmap_is_replica(m, p, hi->id) && !cmap_hosts(m, p, lo->id) &&
                    (!zoned || !balance_zone_used(m, p, hi->id, lo->zone))) {
                        return balance_move(p, hi->id, lo->id, "spreading replicas evenly");
                }
        }
        return none;
}

static unsigned balance_preferred(const struct cmap *m, unsigned id)
{
        unsigned n = 0;

        for (unsigned p = 0; p < m->n_partitions; p++) {
                n += m->parts[p].ids[0] == id;
        }
        return n;
}

/* Rule 3c: preferred leaders evenly over the members with replicas. */
static struct balance_change balance_leaders(const struct cmap *m, const struct balance_params *bp)
{
        struct balance_change none = {BALANCE_NONE, 0, 0, 0, NULL};
        const struct cmap_member *hi = NULL, *lo = NULL;

        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *mb = &m->members[i];
                unsigned n = balance_preferred(m, mb->id);
                if (mb->state == CMAP_REMOVED || !balance_alive(m, bp, mb) ||
                    cmap_load(m, mb->id) == 0) {
                        continue;
                }
                hi = hi == NULL || n > balance_preferred(m, hi->id) ? mb : hi;
                lo = lo == NULL || n < balance_preferred(m, lo->id) ? mb : lo;
        }
        if (hi == NULL || balance_preferred(m, hi->id) < balance_preferred(m, lo->id) + 2) {
                return none;
        }
        for (unsigned p = 0; p < m->n_partitions; p++) {
                if (m->parts[p].ids[0] == hi->id && cmap_is_replica(m, p, lo->id)) {
                        struct balance_change c = {BALANCE_PREFER, p, hi->id, lo->id,
                                                   "spreading preferred leaders evenly"};
                        return c;
                }
        }
        return none;
}

struct balance_change balance_next(const struct cmap *m, const struct balance_params *bp)
{
        struct balance_change c = balance_leaving(m, bp);

        if (c.kind != BALANCE_NONE || !bp->rebalance || balance_moving(m) > 0) {
                return c;
        }
        c = balance_zoned(m, bp) ? balance_zones(m, bp) : c;
        c = c.kind == BALANCE_NONE ? balance_counts(m, bp) : c;
        return c.kind == BALANCE_NONE ? balance_leaders(m, bp) : c;
}

int balance_apply(struct cmap *m, const struct balance_change *c, char *why, size_t len)
{
        struct cmap_member *mb;

        switch (c->kind) {
        case BALANCE_MOVE:
                return cmap_move(m, c->partition, c->from, c->to, why, len);
        case BALANCE_PREFER:
                return cmap_prefer(m, c->partition, c->to, why, len);
        case BALANCE_REMOVED:
                mb = (struct cmap_member *)cmap_member(m, c->from);
                if (mb == NULL || mb->state != CMAP_LEAVING || cmap_holds_any(m, c->from) ||
                    m->epoch == UINT64_MAX) {
                        snprintf(why, len, "node %u is not a leaving member without replicas",
                                 c->from);
                        return TKV_EINVAL;
                }
                mb->state = CMAP_REMOVED;
                mb->successor = 0;
                m->epoch++;
                return 0;
        default:
                snprintf(why, len, "nothing to change");
                return TKV_EINVAL;
        }
}
