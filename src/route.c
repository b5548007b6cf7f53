/* The routing table of route.h, as code: each return names its row. */
#include "route.h"

static bool route_majority_alive(const struct route_view *v)
{
        unsigned alive = 0;

        for (unsigned i = 0; i < v->n_replicas; i++) {
                alive += v->alive[i];
        }
        return alive > v->n_replicas / 2;
}

static struct route_decision route_row(unsigned row, enum route_outcome o, unsigned target)
{
        struct route_decision d = {o, row, target};
        return d;
}

/* Rows 1-9: a replica of the partition runs here. */
static struct route_decision route_hosted(const struct route_view *v, const struct route_need *n)
{
        if (v->leader && n->needs_quorum) {
                return route_majority_alive(v) ? route_row(1, ROUTE_SERVE, 0)
                                               : route_row(2, ROUTE_NO_QUORUM, 0);
        }
        if (v->leader) {
                return route_row(3, ROUTE_SERVE, 0);
        }
        if (!n->leader_only) {
                return route_row(4, ROUTE_SERVE, 0);
        }
        if (v->leader_id != 0) {
                return n->no_forward ? route_row(5, ROUTE_NOT_LEADER, v->leader_id)
                                     : route_row(6, ROUTE_FORWARD, v->leader_id);
        }
        if (n->serve_without_leader) {
                return route_row(7, ROUTE_SERVE, 0);
        }
        return route_majority_alive(v) ? route_row(8, ROUTE_ELECTION, 0)
                                       : route_row(9, ROUTE_NO_QUORUM, 0);
}

struct route_decision route_decide(const struct route_view *v, const struct route_need *n)
{
        if (v->hosted) {
                return route_hosted(v, n);
        }
        if (n->no_forward) {
                return route_row(10, ROUTE_NO_REPLICA, 0);
        }
        for (unsigned i = 0; n->leader_only && v->leader_id != 0 && i < v->n_replicas; i++) {
                if (v->replicas[i] == v->leader_id && v->alive[i]) {
                        return route_row(11, ROUTE_FORWARD, v->leader_id);
                }
        }
        for (unsigned i = 0; i < v->n_replicas; i++) {
                if (v->alive[i]) {
                        return route_row(12, ROUTE_FORWARD, v->replicas[i]);
                }
        }
        return route_row(13, ROUTE_NO_QUORUM, 0);
}

bool route_needs_liveness(const struct route_view *v, const struct route_need *n)
{
        if (!v->hosted) {
                return !n->no_forward; /* rows 11-13 */
        }
        if (v->leader) {
                return n->needs_quorum; /* rows 1-2 */
        }
        /* Rows 8-9 only: a leader-only request with no leader known. */
        return n->leader_only && v->leader_id == 0 && !n->serve_without_leader;
}

uint32_t route_partition(uint64_t key_hash, unsigned n_partitions)
{
        return (uint32_t)(key_hash % n_partitions);
}

const char *route_outcome_name(enum route_outcome o)
{
        static const char *const names[] = {"SERVE",    "FORWARD",   "NOT_LEADER",
                                            "ELECTION", "NO_QUORUM", "NO_REPLICA"};
        return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}
