/* The node as the request handlers see it (node.h). */
#include "node.h"

#include <string.h>
#include <time.h>

unsigned node_meta_member(const struct node *n, unsigned k)
{
        unsigned ids[CONFIG_NODES_MAX], count = 0;
        const struct cmap *m = n->meta.map;

        if (m != NULL) {
                const struct cmap_placement *pl = &m->parts[m->n_partitions];
                for (unsigned i = 0; i < pl->n; i++) {
                        if (pl->ids[i] != n->cfg->node_id) {
                                ids[count++] = pl->ids[i];
                        }
                }
        }
        for (unsigned i = 0; count == 0 && i < n->cfg->n_nodes; i++) {
                if (n->cfg->nodes[i].id != n->cfg->node_id) {
                        ids[count++] = n->cfg->nodes[i].id;
                }
        }
        return count > 0 ? ids[k % count] : 0;
}

struct group *node_group_or_meta(const struct node *n, uint32_t p)
{
        if (p == n->n_partitions) {
                return n->meta_group != NULL && group_running(n->meta_group) ? n->meta_group : NULL;
        }
        return node_group(n, p);
}

struct group *node_group(const struct node *n, uint32_t p)
{
        if (p >= n->n_partitions || n->groups[p] == NULL || !group_running(n->groups[p])) {
                return NULL;
        }
        return n->groups[p];
}

unsigned node_replicas_of(const struct node *n, uint32_t p, unsigned *ids)
{
        const struct cmap *m = n->meta.map;

        if (m == NULL || p > m->n_partitions || (p == m->n_partitions && p != n->n_partitions)) {
                return config_replicas_of(n->cfg, p, ids);
        }
        memcpy(ids, m->parts[p].ids, m->parts[p].n * sizeof *ids);
        return m->parts[p].n;
}

bool node_hosts(const struct node *n, uint32_t p)
{
        unsigned ids[CONFIG_REPLICAS_MAX];
        unsigned k;

        if (n->meta.map != NULL && p <= n->meta.map->n_partitions) {
                return cmap_hosts(n->meta.map, p, n->cfg->node_id);
        }
        if (p == n->n_partitions) {
                return true; /* no map yet: the configuration's nodes, all */
        }
        k = config_replicas_of(n->cfg, p, ids);
        for (unsigned i = 0; i < k; i++) {
                if (ids[i] == n->cfg->node_id) {
                        return true;
                }
        }
        return false;
}

struct read_state *node_read_state(const struct node *n, uint32_t p)
{
        return &n->reads[p];
}

uint64_t node_wall_ms(struct node *n)
{
        uint64_t now = uv_now(n->loop);

        if (now != n->wall_loop_ms || n->wall_ms == 0) {
                n->wall_loop_ms = now;
                n->wall_ms = hlc_ms(hlc_wall(&n->hlc));
        }
        return n->wall_ms;
}

uint64_t node_clock_ms(const struct node *n)
{
        return uv_now(n->loop) + n->suspended_ms;
}

uint64_t node_clock_precise_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_BOOTTIME, &t);
        return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void node_count_read(const struct node *n, uint32_t p, unsigned level, enum node_read_count what)
{
        struct read_counters *rc;

        if (level >= READ_LEVELS) {
                return;
        }
        rc = &n->reads[p].counters[level];
        switch (what) {
        case READ_COUNT_SERVED:
                rc->served++;
                break;
        case READ_COUNT_STALE:
                rc->stale_served++;
                break;
        case READ_COUNT_WAIT:
                rc->waits++;
                break;
        case READ_COUNT_FALLBACK:
                rc->fallbacks++;
                break;
        case READ_COUNT_BOUND_UNMET:
                rc->bound_unmet++;
                break;
        }
}

struct peer *node_peer(const struct node *n, unsigned node_id)
{
        int i = config_node_index(n->cfg, node_id);
        if (node_id == n->cfg->node_id || n->peers == NULL) {
                return NULL;
        }
        if (i >= 0) {
                return &n->peers[i];
        }
        /* A member the cluster map named: its link is after the
         * configuration's, unless it was removed since (stopped). */
        for (unsigned k = n->cfg->n_nodes; k < n->n_peers; k++) {
                if (n->peers[k].node_id == node_id && !n->peers[k].stopping) {
                        return &n->peers[k];
                }
        }
        return NULL;
}
