/* Membership changes of a partition's Raft group, at its leader: the raft
 * calls that move a replica (RAFT-NOTES §5), one at a time.
 *
 * Nothing here decides what to change: rpc_move.c reads the configuration
 * (group_members) at every housekeeping pass, compares it with the cluster
 * map, and asks for the next step. So a step whose callback never ran (a
 * lost leadership, a crash) is simply asked for again by whoever leads
 * next, from the configuration that committed: the callback here only
 * logs and frees the slot.
 *
 * raft 0.15's rules this relies on: one change in flight per leader (the
 * configuration_uncommitted_index, or leader_state.change), none before
 * the leader's first own-term entry committed (RAFT_CANTCHANGE), and a
 * promotion to voter runs catch-up rounds first and fails with
 * RAFT_NOCONNECTION when the new server does not keep up. */
#include <stdio.h>
#include <string.h>

#include "group_internal.h"
#include "log.h"

static enum group_member_role group_member_role_of(int role)
{
        switch (role) {
        case RAFT_VOTER:
                return GROUP_MEMBER_VOTER;
        case RAFT_STANDBY:
                return GROUP_MEMBER_STANDBY;
        default:
                return GROUP_MEMBER_SPARE;
        }
}

unsigned group_members(const struct group *g, struct group_member *out, unsigned max)
{
        const struct raft *r = g->raft;
        unsigned n = 0;

        if (r == NULL) {
                return 0;
        }
        for (unsigned i = 0; i < r->configuration.n && n < max; i++) {
                out[n].id = r->configuration.servers[i].id;
                out[n].role = group_member_role_of(r->configuration.servers[i].role);
                out[n].match_index = r->state == RAFT_LEADER && r->leader_state.progress != NULL
                                         ? r->leader_state.progress[i].match_index
                                         : 0;
                n++;
        }
        return n;
}

bool group_changing(const struct group *g)
{
        const struct raft *r = g->raft;

        return g->changing ||
               (r != NULL && r->configuration_uncommitted_index > r->configuration_index);
}

static void group_change_done(struct raft_change *req, int status)
{
        struct group *g = req->data;

        g->changing = false;
        if (status == 0) {
                LOGI((int)g->partition, "group: configuration change applied: %s", g->change_what);
        } else {
                LOGW((int)g->partition, "group: configuration change failed: %s: %s (retried)",
                     g->change_what, raft_strerror(status));
        }
}

static int group_change_call(struct group *g, enum group_change_op op, uint64_t id,
                             const char *address)
{
        struct raft *r = g->raft;

        switch (op) {
        case GROUP_CHANGE_ADD:
                return raft_add(r, &g->change_req, id, address, group_change_done);
        case GROUP_CHANGE_STANDBY:
                return raft_assign(r, &g->change_req, id, RAFT_STANDBY, group_change_done);
        case GROUP_CHANGE_VOTER:
                return raft_assign(r, &g->change_req, id, RAFT_VOTER, group_change_done);
        default:
                return raft_remove(r, &g->change_req, id, group_change_done);
        }
}

int group_change(struct group *g, enum group_change_op op, uint64_t id, const char *address)
{
        static const char *const names[] = {"add node %llu as a spare",
                                            "node %llu becomes a standby",
                                            "node %llu becomes a voter", "remove node %llu"};
        int rv;

        if (g->raft == NULL || g->stopping || raft_state(g->raft) != RAFT_LEADER) {
                return TKV_ENOTLEADER;
        }
        if (group_changing(g) || g->transferring) {
                return TKV_EBUSY;
        }
        snprintf(g->change_what, sizeof g->change_what, names[op], (unsigned long long)id);
        g->change_req.data = g;
        rv = group_change_call(g, op, id, address);
        if (rv != 0) {
                LOGW((int)g->partition, "group: %s refused: %s", g->change_what,
                     raft_errmsg(g->raft));
                return rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST ? TKV_ENOTLEADER
                       : rv == RAFT_NOMEM                                ? TKV_ENOMEM
                       : rv == RAFT_CANTCHANGE                           ? TKV_EBUSY
                                                                         : TKV_EINVAL;
        }
        g->changing = true;
        LOGI((int)g->partition, "group: configuration change started: %s", g->change_what);
        return 0;
}
