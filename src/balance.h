/* The placement's next change, decided from the cluster map alone (the
 * metadata group's leader applies it, rpc_balance.c): finishing members
 * that leave, moving their replicas away, and, when rebalancing is on,
 * spreading replicas over zones and evenly over members, and preferred
 * leaders evenly over the members that hold replicas. Pure: no loop, no
 * raft; one change per call, so that each is its own map epoch and the
 * partition leaders carry out one move at a time per partition.
 *
 * Order of the rules (the first that applies wins):
 *
 *   1. a LEAVING member that holds nothing any more becomes REMOVED;
 *   2. with fewer than moves_max moves in progress: a LEAVING member's
 *      replica (lowest partition first, the metadata group's last) moves
 *      to its successor, or to the best target (below);
 *   3. with rebalancing on and no move in progress:
 *      a. zones: a partition with two replicas in one zone while a live
 *         eligible member in a zone it lacks exists: one of the two moves
 *         there;
 *      b. counts: the busiest live member holds at least two replicas more
 *         than the idlest: one of its replicas moves to the idlest (never
 *         into a zone the partition has already, when zones are used);
 *      c. leaders: the member preferred to lead (first replica) most often
 *         leads at least two more partitions than the least preferred
 *         member that holds replicas: one partition whose replicas include
 *         both prefers the latter.
 *
 * The best target for p's replica on `from` is a live eligible member
 * (voter or joining) that holds no replica of p: one in a zone none of
 * p's other replicas has first, then the fewest replicas, then the lowest
 * id. */
#ifndef TKV_BALANCE_H
#define TKV_BALANCE_H

#include <stdbool.h>

#include "cmap.h"

enum balance_kind {
        BALANCE_NONE,
        BALANCE_REMOVED, /* node: the leaving member holds nothing: REMOVED */
        BALANCE_MOVE,    /* partition, from, to: cmap_move */
        BALANCE_PREFER,  /* partition, to: cmap_prefer */
};

struct balance_change {
        enum balance_kind kind;
        unsigned partition;
        unsigned from; /* BALANCE_MOVE; BALANCE_REMOVED: the member */
        unsigned to;
        const char *why; /* static text for the log: "node 4 leaves", "spread" ... */
};

struct balance_params {
        bool rebalance;     /* rule 3 */
        unsigned moves_max; /* moves in progress at once (rule 2) */
        /* Per member index of the map (m->members[i]): can it take a
         * replica now (its link is up)? NULL: every member can. */
        const bool *alive;
};

/* The next change of m, or kind BALANCE_NONE. */
struct balance_change balance_next(const struct cmap *m, const struct balance_params *bp);

/* Apply c to m (cmap_move, cmap_prefer, or the member REMOVED), raising
 * the epoch. 0, or the cmap function's refusal with why filled. */
int balance_apply(struct cmap *m, const struct balance_change *c, char *why, size_t len);

#endif
