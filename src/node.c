/* The node as the request handlers see it (node.h). */
#include "node.h"

#include <string.h>
#include <time.h>

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

        if (m == NULL || p >= m->n_partitions) {
                return config_replicas_of(n->cfg, p, ids);
        }
        memcpy(ids, m->parts[p].ids, m->parts[p].n * sizeof *ids);
        return m->parts[p].n;
}

bool node_hosts(const struct node *n, uint32_t p)
{
        unsigned ids[CONFIG_REPLICAS_MAX];
        unsigned k;

        if (n->meta.map != NULL && p < n->meta.map->n_partitions) {
                return cmap_hosts(n->meta.map, p, n->cfg->node_id);
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
