/* The partition map of libtunekv (see map.h).
 *
 * A CLUSTER_INFO answer replaces the whole map: a new array of nodes and one
 * of partitions are built first and swapped in only when both exist, so a
 * failed update leaves the old map usable. A leader hint changes one
 * partition's leader in place, and adds or re-addresses one node. */
#include "map.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "heap.h"
#include "keyhash.h"

void map_init(struct map *m)
{
        memset(m, 0, sizeof(*m));
}

void map_free(struct map *m)
{
        tkv_free(m->nodes);
        tkv_free(m->partitions);
        map_init(m);
}

static int map_check(const struct tkv_cluster_info *ci)
{
        unsigned i;

        if (ci->partition_count == 0 || ci->partition_count > MAP_PARTITIONS_MAX ||
            ci->n_nodes > MAP_NODES_MAX) {
                return TKV_PROTOCOL_ERROR;
        }
        for (i = 0; i < ci->n_partitions; i++) {
                if (ci->partitions[i].partition >= ci->partition_count) {
                        return TKV_PROTOCOL_ERROR;
                }
        }
        return TKV_OK;
}

static void map_node_set(struct map_node *n, uint32_t id, const char *addr, const char *zone)
{
        memset(n, 0, sizeof(*n)); /* map_same compares whole entries */
        n->id = id;
        snprintf(n->addr, sizeof(n->addr), "%s", addr != NULL ? addr : "");
        snprintf(n->zone, sizeof(n->zone), "%s", zone != NULL ? zone : "");
}

/* Whether m already holds this layout (arrays zeroed before filling, so
 * they compare as bytes). */
static bool map_same(const struct map *m, uint32_t partition_count, const struct map_node *nodes,
                     unsigned n_nodes, const struct map_partition *parts)
{
        return m->valid && m->partition_count == partition_count && m->n_nodes == n_nodes &&
               memcmp(m->nodes, nodes, n_nodes * sizeof(*nodes)) == 0 &&
               memcmp(m->partitions, parts, partition_count * sizeof(*parts)) == 0;
}

int map_update(struct map *m, const struct tkv_cluster_info *ci)
{
        struct map_node *nodes = NULL;
        struct map_partition *parts = NULL;
        const struct tkv_partition_info *pi;
        struct map_partition *mp;
        unsigned i;
        int rv = map_check(ci);

        if (rv != TKV_OK) {
                goto cleanup;
        }
        nodes = tkv_calloc(ci->n_nodes > 0 ? ci->n_nodes : 1, sizeof(*nodes));
        parts = tkv_calloc(ci->partition_count, sizeof(*parts));
        if (nodes == NULL || parts == NULL) {
                rv = TKV_NO_MEMORY;
                goto cleanup;
        }
        for (i = 0; i < ci->n_nodes; i++) {
                map_node_set(&nodes[i], ci->nodes[i].node_id, ci->nodes[i].client_addr,
                             ci->nodes[i].zone);
        }
        for (i = 0; i < ci->n_partitions; i++) {
                pi = &ci->partitions[i];
                mp = &parts[pi->partition];
                mp->leader_id = pi->leader_id;
                mp->n_replicas =
                    pi->n_replicas < MAP_REPLICAS_MAX ? pi->n_replicas : MAP_REPLICAS_MAX;
                memcpy(mp->replicas, pi->replicas, mp->n_replicas * sizeof(mp->replicas[0]));
        }
        if (!map_same(m, ci->partition_count, nodes, ci->n_nodes, parts)) {
                m->updates++;
        }
        tkv_free(m->nodes);
        tkv_free(m->partitions);
        m->nodes = nodes;
        m->n_nodes = ci->n_nodes;
        m->partitions = parts;
        m->partition_count = ci->partition_count;
        m->valid = true;
        nodes = NULL;
        parts = NULL;
cleanup:
        tkv_free(nodes);
        tkv_free(parts);
        return rv;
}

uint32_t map_partition_of(const struct map *m, const void *key, size_t key_len)
{
        return (uint32_t)(key_hash_partition(key, key_len) % m->partition_count);
}

uint32_t map_target(const struct map *m, uint32_t p, unsigned attempt)
{
        const struct map_partition *mp;

        if (!m->valid || p >= m->partition_count) {
                return 0;
        }
        mp = &m->partitions[p];
        if (mp->leader_id != 0) {
                return mp->leader_id;
        }
        if (mp->n_replicas == 0) {
                return 0;
        }
        return mp->replicas[attempt % mp->n_replicas];
}

const struct map_node *map_node(const struct map *m, uint32_t id)
{
        unsigned i;

        for (i = 0; i < m->n_nodes; i++) {
                if (m->nodes[i].id == id) {
                        return &m->nodes[i];
                }
        }
        return NULL;
}

int map_hint(struct map *m, uint32_t p, uint32_t node_id, const char *addr)
{
        struct map_node *nodes;
        struct map_node *n;

        if (!m->valid || p >= m->partition_count || node_id == 0) {
                return TKV_OK;
        }
        if (m->partitions[p].leader_id != node_id) {
                m->partitions[p].leader_id = node_id;
                m->updates++;
        }
        if (addr == NULL || addr[0] == '\0') {
                return TKV_OK;
        }
        n = (struct map_node *)map_node(m, node_id);
        if (n != NULL) {
                if (strcmp(n->addr, addr) != 0) {
                        /* Zeroed first: map_same compares whole entries. */
                        memset(n->addr, 0, sizeof(n->addr));
                        snprintf(n->addr, sizeof(n->addr), "%s", addr);
                        m->updates++;
                }
                return TKV_OK;
        }
        if (m->n_nodes >= MAP_NODES_MAX) {
                return TKV_OK;
        }
        nodes = tkv_realloc(m->nodes, (m->n_nodes + 1) * sizeof(*nodes));
        if (nodes == NULL) {
                return TKV_NO_MEMORY;
        }
        m->nodes = nodes;
        map_node_set(&m->nodes[m->n_nodes], node_id, addr, NULL);
        m->n_nodes++;
        m->updates++;
        return TKV_OK;
}

/* The class of candidate c for route (see map.h): lower is better. */
static unsigned map_class(const struct map_candidate *c, enum tkv_route route)
{
        if (c->tried) {
                return 4;
        }
        if (route == TKV_ROUTE_FOLLOWER_PREFERRED) {
                return (c->down ? 2u : 0u) + (c->leader ? 1u : 0u);
        }
        if (route == TKV_ROUTE_NEAREST) {
                /* Down replicas are one class whatever their zone: once the
                 * zone has no usable replica NEAREST is what it was. */
                return c->down ? 2u : (c->local ? 0u : 1u);
        }
        return c->down ? 1u : 0u;
}

/* Order within a class: lower is better, ties go to the first seen. */
static uint64_t map_rank(const struct map_candidate *c, enum tkv_route route)
{
        if (route != TKV_ROUTE_NEAREST || c->tried || !c->measured) {
                return 0;
        }
        return (uint64_t)c->rtt_us + 1;
}

/* Whether candidate c is in the class and rank given. */
static bool map_is(const struct map_candidate *c, enum tkv_route route, unsigned cls, uint64_t rank)
{
        return map_class(c, route) == cls && map_rank(c, route) == rank;
}

unsigned map_choose(const struct map_candidate *cands, unsigned n, enum tkv_route route,
                    uint64_t rr)
{
        unsigned best_class = UINT32_MAX;
        uint64_t best_rank = 0;
        unsigned members = 0;
        unsigned k;
        unsigned i;

        for (i = 0; i < n; i++) {
                unsigned cls = map_class(&cands[i], route);
                uint64_t rank = map_rank(&cands[i], route);
                if (cls < best_class || (cls == best_class && rank < best_rank)) {
                        best_class = cls;
                        best_rank = rank;
                }
        }
        for (i = 0; i < n; i++) {
                members += map_is(&cands[i], route, best_class, best_rank);
        }
        if (members == 0) {
                return 0; /* n == 0 */
        }
        k = (unsigned)(rr % members);
        for (i = 0; i < n; i++) {
                if (map_is(&cands[i], route, best_class, best_rank) && k-- == 0) {
                        return i;
                }
        }
        return 0;
}
