/* STATUS and CLUSTER_INFO: what this node knows about itself, its
 * partitions and the cluster layout. Answered at once, from local state. */
#include <string.h>

#include "changes.h"
#include "cmap.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "node.h"
#include "rpc_auth.h"
#include "rpc_internal.h"
#include "rpc_move.h"
#include "store.h"
#include "tunekv_version.h"

/* Memory of one STATUS answer: partitions and their replica lists. */
struct rpc_admin_status_mem {
        Tunekv__V1__PartitionStatus *parts;
        Tunekv__V1__PartitionStatus **ptrs;
        uint32_t *replicas;                /* n_hosted * replicas ids */
        Tunekv__V1__LevelCounters *levels; /* n_hosted * READ_LEVELS */
        Tunekv__V1__LevelCounters **lptrs; /* n_hosted * READ_LEVELS */
        Tunekv__V1__NodeInfo *members;     /* CMAP_MEMBERS_MAX */
        Tunekv__V1__NodeInfo **mptrs;
};

/* Per level, the reads of p counted here (levels never asked are left out). */
static void rpc_admin_fill_reads(struct node *node, uint32_t p, Tunekv__V1__PartitionStatus *ps,
                                 Tunekv__V1__LevelCounters *lc, Tunekv__V1__LevelCounters **lp)
{
        const struct read_state *rs = node_read_state(node, p);
        size_t n = 0;

        for (unsigned level = 0; level < READ_LEVELS; level++) {
                const struct read_counters *rc = &rs->counters[level];
                const struct fresh_counters *fc = &rs->fresh.counters[level];
                if (rc->served + rc->stale_served + rc->waits + rc->fallbacks + rc->bound_unmet +
                        fc->fresh + fc->stale ==
                    0) {
                        continue;
                }
                tunekv__v1__level_counters__init(&lc[n]);
                lc[n].level = (Tunekv__V1__Consistency)level;
                lc[n].served = rc->served;
                lc[n].stale_served = rc->stale_served;
                lc[n].waits = rc->waits;
                lc[n].fallbacks = rc->fallbacks;
                lc[n].bound_unmet = rc->bound_unmet;
                lc[n].fresh = fc->fresh;
                lc[n].stale = fc->stale;
                lc[n].n_stale_ms = FRESH_MS_BUCKETS;
                lc[n].stale_ms = (uint64_t *)fc->stale_ms;
                lc[n].n_stale_versions = FRESH_VERSION_BUCKETS;
                lc[n].stale_versions = (uint64_t *)fc->stale_versions;
                lp[n] = &lc[n];
                n++;
        }
        ps->n_reads = n;
        ps->reads = lp;
}

static void rpc_admin_fill_partition(struct node *node, uint32_t p, Tunekv__V1__PartitionStatus *ps,
                                     uint32_t *replicas)
{
        struct group *g = node_group(node, p);
        struct group_stats st = group_stats(g);
        unsigned ids[CONFIG_REPLICAS_MAX];
        unsigned n = node_replicas_of(node, p, ids);
        struct read_replica r;
        uint64_t lag;

        tunekv__v1__partition_status__init(ps);
        ps->partition = p;
        ps->role = call_role_of(group_role(g));
        ps->leader_id = (uint32_t)group_leader_id(g);
        ps->term = group_term(g);
        ps->commit_index = group_commit_index(g);
        ps->applied_index = group_applied_index(g);
        ps->last_index = group_last_index(g);
        ps->snapshot_index = group_snapshot_index(g);
        ps->keys = group_store(g) != NULL ? store_count(group_store(g)) : 0;
        ps->bytes = group_store(g) != NULL ? store_data_bytes(group_store(g)) : 0;
        ps->digest = group_store(g) != NULL ? store_digest(group_store(g)) : 0;
        ps->snapshots = st.snapshots;
        ps->restores = st.restores;
        ps->ready = group_ready(g) && group_is_leader(g);
        r = read_replica_of(g);
        ps->staleness_ms = read_staleness_ms(node_read_state(node, p), &r, node_clock_ms(node));
        lag = read_lag_entries(node_read_state(node, p), &r);
        ps->lag_entries = lag;
        ps->leader_commit_index =
            group_is_leader(g) ? group_commit_index(g) : node_read_state(node, p)->leader_commit;
        ps->barriers = st.barriers;
        ps->confirms = st.confirms;
        ps->confirms_failed = st.confirms_failed;
        ps->history_changes = changes_count(group_changes(g));
        ps->history_bytes = changes_bytes(group_changes(g));
        ps->history_oldest_index = changes_oldest_index(group_changes(g));
        ps->history_start_ts = changes_start_ts(group_changes(g));
        {
                uint64_t since = 0;
                const char *step = rpc_move_status(node, p, &since);
                if (step != NULL) {
                        ps->move_step = (char *)step;
                        ps->move_step_ms = uv_now(node->loop) - since;
                }
        }
        for (unsigned i = 0; i < n; i++) {
                replicas[i] = ids[i];
        }
        ps->n_replicas = n;
        ps->replicas = replicas;
}

static Tunekv__V1__MemberState rpc_admin_state_of(enum cmap_state st)
{
        switch (st) {
        case CMAP_VOTER:
                return TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_VOTER;
        case CMAP_JOINING:
                return TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_JOINING;
        case CMAP_REMOVED:
                return TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_REMOVED;
        case CMAP_LEAVING:
                return TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_LEAVING;
        default:
                return TUNEKV__V1__MEMBER_STATE__MEMBER_STATE_UNKNOWN;
        }
}

/* The members as the cluster map lists them, or the configuration's nodes
 * (state UNKNOWN) before this node applied a map. nodes and ptrs have room
 * for CMAP_MEMBERS_MAX. Returns how many. */
static size_t rpc_admin_fill_members(const struct node *node, Tunekv__V1__NodeInfo *nodes,
                                     Tunekv__V1__NodeInfo **ptrs)
{
        const struct cmap *m = node->meta.map;
        const struct config *cfg = node->cfg;
        size_t n = m != NULL ? m->n_members : cfg->n_nodes;

        for (size_t i = 0; i < n; i++) {
                tunekv__v1__node_info__init(&nodes[i]);
                if (m != NULL) {
                        nodes[i].node_id = m->members[i].id;
                        nodes[i].client_addr = (char *)m->members[i].client_addr;
                        nodes[i].peer_addr = (char *)m->members[i].peer_addr;
                        nodes[i].zone = (char *)m->members[i].zone;
                        nodes[i].state = rpc_admin_state_of(m->members[i].state);
                        nodes[i].successor = m->members[i].successor;
                } else {
                        nodes[i].node_id = cfg->nodes[i].id;
                        nodes[i].client_addr = (char *)cfg->nodes[i].client_addr;
                        nodes[i].peer_addr = (char *)cfg->nodes[i].peer_addr;
                        nodes[i].zone = (char *)cfg->nodes[i].zone;
                }
                ptrs[i] = &nodes[i];
        }
        return n;
}

static void rpc_admin_fill_limits(const struct config *cfg, Tunekv__V1__Limits *limits)
{
        limits->frame_bytes_max = (uint32_t)cfg->frame_bytes_max;
        limits->key_bytes_max = (uint32_t)cfg->key_bytes_max;
        limits->value_bytes_max = (uint32_t)cfg->value_bytes_max;
        limits->inflight_per_conn_max = cfg->inflight_per_conn_max;
        limits->conns_max = cfg->conns_max;
        limits->request_timeout_ms = cfg->request_timeout_ms;
        limits->request_timeout_max_ms = cfg->request_timeout_max_ms;
        limits->conn_output_bytes_max = cfg->conn_output_bytes_max;
        limits->token_bytes_max = (uint32_t)cfg->token_bytes_max;
        limits->txn_ops_max = cfg->txn_ops_max;
        limits->txn_compares_max = cfg->txn_compares_max;
        limits->txn_bytes_max = cfg->txn_bytes_max;
        limits->leases_max = cfg->leases_max;
        limits->lease_keys_max = cfg->lease_keys_max;
        limits->lease_ttl_min_ms = cfg->lease_ttl_min_ms;
        limits->lease_ttl_max_ms = cfg->lease_ttl_max_ms;
}

void rpc_admin_status(struct call *c, const Tunekv__V1__Request *req)
{
        struct node *node = c->node;
        const struct config *cfg = node->cfg;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__StatusResponse st = TUNEKV__V1__STATUS_RESPONSE__INIT;
        Tunekv__V1__Limits limits = TUNEKV__V1__LIMITS__INIT;
        struct rpc_admin_status_mem m;
        size_t k = 0;

        (void)req;
        m.parts = tkv_calloc(node->n_hosted + 1, sizeof *m.parts);
        m.ptrs = tkv_calloc(node->n_hosted + 1, sizeof *m.ptrs);
        m.replicas =
            tkv_calloc((size_t)(node->n_hosted + 1) * CONFIG_REPLICAS_MAX, sizeof *m.replicas);
        m.levels = tkv_calloc((size_t)(node->n_hosted + 1) * READ_LEVELS, sizeof *m.levels);
        m.lptrs = tkv_calloc((size_t)(node->n_hosted + 1) * READ_LEVELS, sizeof *m.lptrs);
        m.members = tkv_calloc(CMAP_MEMBERS_MAX, sizeof *m.members);
        m.mptrs = tkv_calloc(CMAP_MEMBERS_MAX, sizeof *m.mptrs);
        if (m.parts == NULL || m.ptrs == NULL || m.replicas == NULL || m.levels == NULL ||
            m.lptrs == NULL || m.members == NULL || m.mptrs == NULL) {
                call_answer_error(c, TKV_ENOMEM, "STATUS: out of memory");
                goto out;
        }
        for (uint32_t p = 0; p < node->n_partitions; p++) {
                if (node_group(node, p) == NULL) {
                        continue;
                }
                rpc_admin_fill_partition(node, p, &m.parts[k],
                                         &m.replicas[k * CONFIG_REPLICAS_MAX]);
                rpc_admin_fill_reads(node, p, &m.parts[k], &m.levels[k * READ_LEVELS],
                                     &m.lptrs[k * READ_LEVELS]);
                m.ptrs[k] = &m.parts[k];
                k++;
        }
        st.node_id = cfg->node_id;
        st.version = TKV_VERSION;
        st.uptime_ms = uv_now(node->loop) - node->started_ms;
        st.connections = node->conns->n_conns;
        st.partition_count = node->n_partitions;
        st.n_partitions = k;
        st.partitions = m.ptrs;
        rpc_admin_fill_limits(cfg, &limits);
        st.limits = &limits;
        st.loop_lag_ms = node->loop_lag_ms;
        st.loop_lag_max_ms = node->loop_lag_max_ms;
        st.forwarded = node->stats.forwarded;
        st.watches = node->stats.watches;
        if (node->meta.map != NULL) { /* the members only from the map: STATUS shows the map */
                st.epoch = node->meta.map->epoch;
                st.n_members = rpc_admin_fill_members(node, m.members, m.mptrs);
                st.members = m.mptrs;
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        resp.status_info = &st;
        call_answer(c, &resp);
out:
        tkv_free(m.parts);
        tkv_free(m.ptrs);
        tkv_free(m.replicas);
        tkv_free(m.levels);
        tkv_free(m.lptrs);
        tkv_free(m.members);
        tkv_free(m.mptrs);
}

void rpc_admin_cluster_info(struct call *c, const Tunekv__V1__Request *req)
{
        struct node *node = c->node;
        const struct config *cfg = node->cfg;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ClusterInfoResponse ci = TUNEKV__V1__CLUSTER_INFO_RESPONSE__INIT;
        Tunekv__V1__NodeInfo *nodes = tkv_calloc(CMAP_MEMBERS_MAX, sizeof *nodes);
        Tunekv__V1__NodeInfo **node_ptrs = tkv_calloc(CMAP_MEMBERS_MAX, sizeof *node_ptrs);
        Tunekv__V1__PartitionInfo *parts = tkv_calloc(node->n_partitions, sizeof *parts);
        Tunekv__V1__PartitionInfo **part_ptrs = tkv_calloc(node->n_partitions, sizeof *part_ptrs);
        uint32_t *replicas =
            tkv_calloc((size_t)node->n_partitions * CONFIG_REPLICAS_MAX, sizeof *replicas);
        Tunekv__V1__PartitionInfo meta;
        uint32_t meta_ids[CMAP_REPLICAS_MAX];
        const uint8_t *users = NULL;
        size_t users_len = 0;

        if (nodes == NULL || node_ptrs == NULL || parts == NULL || part_ptrs == NULL ||
            replicas == NULL) {
                call_answer_error(c, TKV_ENOMEM, "CLUSTER_INFO: out of memory");
                goto out;
        }
        ci.n_nodes = rpc_admin_fill_members(node, nodes, node_ptrs);
        for (uint32_t p = 0; p < node->n_partitions; p++) {
                unsigned ids[CONFIG_REPLICAS_MAX];
                unsigned n = node_replicas_of(node, p, ids);
                struct group *g = node_group(node, p);
                tunekv__v1__partition_info__init(&parts[p]);
                parts[p].partition = p;
                parts[p].leader_id = g != NULL ? (uint32_t)group_leader_id(g) : 0;
                for (unsigned i = 0; i < n; i++) {
                        replicas[p * CONFIG_REPLICAS_MAX + i] = ids[i];
                }
                parts[p].n_replicas = n;
                parts[p].replicas = &replicas[p * CONFIG_REPLICAS_MAX];
                if (node->meta.map != NULL && p < node->meta.map->n_partitions) {
                        parts[p].move_from = node->meta.map->parts[p].move_from;
                        parts[p].move_to = node->meta.map->parts[p].move_to;
                }
                part_ptrs[p] = &parts[p];
        }
        if (node->meta.map != NULL) {
                const struct cmap_placement *pl = &node->meta.map->parts[node->n_partitions];
                tunekv__v1__partition_info__init(&meta);
                meta.partition = node->n_partitions;
                meta.leader_id =
                    node->meta_group != NULL ? (uint32_t)group_leader_id(node->meta_group) : 0;
                for (unsigned i = 0; i < pl->n; i++) {
                        meta_ids[i] = pl->ids[i];
                }
                meta.n_replicas = pl->n;
                meta.replicas = meta_ids;
                meta.move_from = pl->move_from;
                meta.move_to = pl->move_to;
                ci.metadata = &meta;
        }
        ci.partition_count = node->n_partitions;
        ci.nodes = node_ptrs;
        ci.epoch = node->meta.map != NULL ? node->meta.map->epoch : 0;
        ci.n_partitions = node->n_partitions;
        ci.partitions = part_ptrs;
        ci.node_id = cfg->node_id;
        /* The users and roles, to a node (never a client: they hold the
         * password hashes) that has no metadata replica to read them from.
         * A node asks for itself: a request it forwarded for a client would
         * carry no_forward (none forwards CLUSTER_INFO; this keeps it so). */
        if (c->from_node != 0 && !req->no_forward && req->cluster_info != NULL &&
            req->cluster_info->users &&
            rpc_auth_record(node, &users, &users_len, &ci.users_version)) {
                ci.has_users = true;
                ci.users.data = (uint8_t *)users;
                ci.users.len = users_len;
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO;
        resp.cluster_info = &ci;
        call_answer(c, &resp);
out:
        tkv_free(nodes);
        tkv_free(node_ptrs);
        tkv_free(parts);
        tkv_free(part_ptrs);
        tkv_free(replicas);
}

void rpc_admin_ping(struct call *c, const Tunekv__V1__Request *req)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__PingResponse pong = TUNEKV__V1__PING_RESPONSE__INIT;

        (void)req;
        pong.node_id = c->node->cfg->node_id;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_PONG;
        resp.pong = &pong;
        call_answer(c, &resp);
}
