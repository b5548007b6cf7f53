/* Where a request goes: one pure function from what this node knows of a
 * partition (struct route_view) and what the request needs (struct
 * route_need) to a named outcome, after redis' getNodeByQuery. Every
 * handler routes through it (rpc_route_request in rpc_route.c gathers the view
 * and carries the outcome out), so the same case always gets the same
 * answer. The table, in the order route_decide checks it:
 *
 *  #  replica here  leader        request                      outcome
 *  1  yes           this node     needs_quorum, majority alive  SERVE
 *  2  yes           this node     needs_quorum, majority gone   NO_QUORUM
 *  3  yes           this node     anything else                 SERVE
 *  4  yes           any           not leader_only               SERVE (replica read)
 *  5  yes           elsewhere     no_forward                    NOT_LEADER (hint)
 *  6  yes           elsewhere     -                             FORWARD to the leader
 *  7  yes           unknown       serve_without_leader          SERVE (EVENTUAL)
 *  8  yes           unknown       majority alive                ELECTION (UNAVAILABLE)
 *  9  yes           unknown       majority gone                 NO_QUORUM
 * 10  no            -             no_forward                    NO_REPLICA (UNAVAILABLE)
 * 11  no            heard of, live leader_only                    FORWARD to that leader
 * 12  no            -             a replica alive               FORWARD to the first live replica
 * 13  no            -             no replica alive              NO_QUORUM
 *
 * A forwarded request always carries no_forward, so it travels one hop:
 * the node it reaches serves it or answers rows 2, 5, 8-10 itself. A node
 * without a replica knows a leader only from the NOT_LEADER hints its
 * forwards brought back (row 11): without it, a leader-only request sent
 * to a follower comes back NOT_LEADER, and one pinned to this node
 * (node_id) would never reach the leader.
 * NO_QUORUM at row 2 answers at once rather than proposing into a log that
 * cannot commit. The partition of a key is xxh64(key) % P (DESIGN §2). */
#ifndef TKV_ROUTE_H
#define TKV_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

enum route_outcome {
        ROUTE_SERVE,      /* this node serves the request */
        ROUTE_FORWARD,    /* send it to route_decision.target (one hop) */
        ROUTE_NOT_LEADER, /* NOT_LEADER with the leader's id (route_decision.target) */
        ROUTE_ELECTION,   /* UNAVAILABLE: no leader known, a majority alive */
        ROUTE_NO_QUORUM,  /* NO_QUORUM: most replicas unreachable */
        ROUTE_NO_REPLICA, /* UNAVAILABLE: no replica here, and no_forward */
};

#define ROUTE_REPLICAS_MAX 16

/* What this node knows of one partition, gathered by the caller. */
struct route_view {
        bool hosted;         /* a replica of the partition runs here */
        bool leader;         /* ... and leads it */
        unsigned leader_id;  /* the leader this replica knows (0: none, or this node); not
                                hosted: the one a forward's answer named last (0: none) */
        unsigned n_replicas; /* voters in placement order */
        unsigned replicas[ROUTE_REPLICAS_MAX];
        bool alive[ROUTE_REPLICAS_MAX]; /* heard from recently (this node: true) */
};

/* What the request needs. */
struct route_need {
        bool leader_only;          /* writes, LINEARIZABLE, route LEADER */
        bool needs_quorum;         /* writes, LINEARIZABLE: a cut-off leader refuses */
        bool serve_without_leader; /* EVENTUAL: any replica answers, leader or not */
        bool no_forward;           /* the request asked not to be forwarded */
};

struct route_decision {
        enum route_outcome outcome;
        unsigned row;    /* the table row that decided (tests, logs) */
        unsigned target; /* FORWARD: the node; NOT_LEADER: the leader */
};

/* Decide where a request goes. Pure: no I/O, no clock. */
struct route_decision route_decide(const struct route_view *v, const struct route_need *n);

/* Can route_decide's outcome for v and n depend on which replicas are
 * alive (rows 1-2, 8-9, 11-13)? When it cannot, the caller may leave
 * v->alive unset: replica reads (row 4), the common case, then cost no
 * liveness lookups. Only hosted, leader, leader_id of v are read. */
bool route_needs_liveness(const struct route_view *v, const struct route_need *n);

/* The partition of a key's hash among n_partitions. */
uint32_t route_partition(uint64_t key_hash, unsigned n_partitions);

/* The outcome's name ("SERVE", ...), for logs and tests. */
const char *route_outcome_name(enum route_outcome o);

#endif
