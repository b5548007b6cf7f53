/* The rebalancer at the metadata group's leader (balance.h decides,
 * this file applies): once per housekeeping pass, when the map this node
 * learned is the store's current version and no change of it is in
 * flight, the next change balance_next finds is written as a CAS of the
 * map on that version. A change that loses the race with an operator's
 * (condition failed) is simply decided again at the next pass, from the
 * newer map. Members are live for the balancer while their node link has
 * heard from them within three election timeouts; a dead node is never a
 * move's target. */
#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "cmap.h"
#include "command.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"
#include "rpc_meta.h"
#include "store.h"

static void rpc_balance_written(struct group_write *w, int status, const struct command_result *res)
{
        struct node *node = QUEUE_DATA(w, struct node, meta.balance);

        node->meta.balancing = false;
        if (status != 0 || res->status != 0) {
                LOGW(-1, "balance: the change was not written (%s); deciding again",
                     err_str(status != 0 ? status : res->status));
                return;
        }
        rpc_meta_flush(node); /* learn it now */
}

/* Which members can take replicas now, by m's member index. */
static void rpc_balance_alive(struct node *node, const struct cmap *m, bool *alive)
{
        uint64_t now = uv_now(node->loop);

        for (unsigned i = 0; i < m->n_members; i++) {
                struct peer *p = node_peer(node, m->members[i].id);
                alive[i] =
                    m->members[i].id == node->cfg->node_id ||
                    (p != NULL && peer_alive(p, now, 3 * (uint64_t)node->cfg->election_timeout_ms));
        }
}

static void rpc_balance_log(const struct cmap *m, const struct balance_change *c, uint64_t epoch)
{
        char what[48];

        switch (c->kind) {
        case BALANCE_MOVE:
                cmap_group_name(m, c->partition, what, sizeof what);
                LOGI(-1, "balance: epoch %llu: %s's replica moves from node %u to node %u (%s)",
                     (unsigned long long)epoch, what, c->from, c->to, c->why);
                break;
        case BALANCE_PREFER:
                LOGI(-1, "balance: epoch %llu: partition %u prefers node %u as its leader (%s)",
                     (unsigned long long)epoch, c->partition, c->to, c->why);
                break;
        default:
                LOGI(-1, "balance: epoch %llu: node %u removed (%s)", (unsigned long long)epoch,
                     c->from, c->why);
                break;
        }
}

/* Write c applied to the map at the version learned. */
static void rpc_balance_propose(struct node *node, struct group *g, const struct balance_change *c)
{
        struct cmap *m = tkv_malloc(sizeof *m);
        struct command cmd = {0};
        uint8_t *bytes = NULL;
        size_t len = 0;
        char why[320];

        if (m == NULL) {
                return;
        }
        *m = *node->meta.map;
        if (balance_apply(m, c, why, sizeof why) != 0) {
                LOGW(-1, "balance: %s", why);
        } else if (cmap_encode(m, &bytes, &len) == 0) {
                cmd.type = COMMAND_CAS;
                cmd.key = (const uint8_t *)CMAP_KEY;
                cmd.key_len = sizeof CMAP_KEY - 1;
                cmd.value = bytes;
                cmd.value_len = cmd.value_raw_len = (uint32_t)len;
                cmd.expected_version = node->meta.map_version;
                if (group_propose(g, &node->meta.balance, &cmd, rpc_balance_written) == 0) {
                        node->meta.balancing = true;
                        rpc_balance_log(m, c, m->epoch);
                }
        }
        tkv_free(bytes);
        tkv_free(m);
}

void rpc_balance_flush(struct node *node)
{
        struct group *g = node->meta_group;
        const struct cmap *m = node->meta.map;
        const struct store_entry *e;
        struct balance_params bp;
        bool alive[CMAP_MEMBERS_MAX];
        struct balance_change c;

        if (g == NULL || m == NULL || node->meta.balancing || node->meta.booting ||
            !group_is_leader(g) || !group_ready(g)) {
                return;
        }
        e = store_get(group_store(g), CMAP_KEY, sizeof CMAP_KEY - 1);
        if (e == NULL || store_entry_mod_index(e) != node->meta.map_version) {
                return; /* not learned yet: next pass */
        }
        rpc_balance_alive(node, m, alive);
        bp.rebalance = node->cfg->rebalance != 0;
        bp.moves_max = node->cfg->moves_max;
        bp.alive = alive;
        c = balance_next(m, &bp);
        if (c.kind != BALANCE_NONE) {
                rpc_balance_propose(node, g, &c);
        }
}
