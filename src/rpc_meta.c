/* The metadata group: the cluster map (cmap.h) and TRANSFER_LEADER.
 *
 * Every node hosts the metadata group (index P, every node a voter; with
 * [auth] it also holds the users and roles). Its store holds the cluster
 * map under CMAP_KEY. Normal path, once per housekeeping tick
 * (rpc_meta_flush):
 *
 *   1. At the cluster's first start the record is absent. The group's
 *      leader, once its election barrier applied (so that its store is
 *      current), proposes the map built from its configuration as a CAS
 *      from "absent" (expected version 0): of several leaders in turn only
 *      the first write applies, the others fail their condition.
 *   2. Every node, when a new version of the record is applied here,
 *      decodes it once (node.meta.map), compares it with its configuration
 *      and logs every difference loudly: the map is what the cluster
 *      agreed on, the file only bootstrapped it.
 *   3. It then writes the record to data_dir/cluster-map on the threadpool,
 *      so that the next start can refuse a configuration whose addresses
 *      differ from the map before anything else runs (server.c).
 *
 * Failure modes: a record that does not decode (logged once per version,
 * the previous map stays), the bootstrap CAS failing (lost leadership:
 * retried by the next leader; condition failed: another leader wrote it
 * first, which is the point), the copy not written (logged; retried at the
 * next tick).
 *
 * TRANSFER_LEADER (partition p, target node T) goes through T and ends at
 * p's leader: libtunekv sends it to T (another node forwards it there);
 * T marks p pinned (leader balancing leaves p's leadership with T until T
 * restarts, or the balancer would hand it straight back to the
 * placement's preferred node), then forwards it to p's leader, which calls
 * raft_transfer (group_transfer) and answers once T leads. That is two
 * hops at most, where other requests take one: only T forwards a request
 * that was forwarded to it, and only to the leader, which forwards
 * nothing. Refused: no such partition or T not its replica
 * (INVALID_ARGUMENT), T behind the log or a transfer in progress (BUSY),
 * no leader (UNAVAILABLE), T not elected in time (TIMEOUT). */
#include "rpc_meta.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cmap.h"
#include "command.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"
#include "store.h"

/* ------------------------------------------------------------------------ */
/* Bootstrap */

static void rpc_meta_booted(struct group_write *w, int status, const struct command_result *res)
{
        struct node *node = QUEUE_DATA(w, struct node, meta.boot);

        node->meta.booting = false;
        if (status != 0) {
                LOGW(-1,
                     "meta: the cluster map's bootstrap write failed (%s); the next leader "
                     "retries it",
                     err_str(status));
        } else if (res->status == TKV_ECONDITION) {
                LOGI(-1, "meta: the cluster map was changed by another leader first");
        } else if (res->status != 0) {
                LOGE(-1, "meta: the cluster map's bootstrap write was refused (%s)",
                     err_str(res->status));
        } else if (node->meta.boot_epoch == 1) {
                LOGI(-1,
                     "meta: cluster map bootstrapped from the configuration at index %llu "
                     "(epoch 1)",
                     (unsigned long long)res->index);
        } else {
                LOGI(-1, "meta: cluster map epoch %llu written at index %llu",
                     (unsigned long long)node->meta.boot_epoch, (unsigned long long)res->index);
        }
}

/* Propose m as a CAS of the record at version expected (0: "must not
 * exist") on g, which this node leads. */
static void rpc_meta_propose(struct node *node, struct group *g, const struct cmap *m,
                             uint64_t expected)
{
        struct command cmd = {0};
        uint8_t *bytes = NULL;
        size_t len = 0;

        if (cmap_encode(m, &bytes, &len) != 0) {
                return; /* out of memory: the next tick tries again */
        }
        cmd.type = COMMAND_CAS;
        cmd.key = (const uint8_t *)CMAP_KEY;
        cmd.key_len = sizeof CMAP_KEY - 1;
        cmd.value = bytes;
        cmd.value_len = cmd.value_raw_len = (uint32_t)len;
        cmd.expected_version = expected;
        if (group_propose(g, &node->meta.boot, &cmd, rpc_meta_booted) == 0) {
                node->meta.booting = true;
                node->meta.boot_epoch = m->epoch;
        }
        tkv_free(bytes);
}

/* The record is absent and this node leads the group: write the map the
 * configuration describes, epoch 1, as a CAS from "absent". */
static void rpc_meta_bootstrap(struct node *node, struct group *g)
{
        struct cmap *m = NULL;

        if (cmap_from_config(node->cfg, 1, &m) == 0) {
                rpc_meta_propose(node, g, m, 0);
        }
        cmap_destroy(m);
}

/* Is this a cluster of one node, in the map and in the configuration? */
static bool rpc_meta_alone(const struct node *node)
{
        const struct cmap *m = node->meta.map;
        return m != NULL && m->n_members == 1 && node->cfg->n_nodes == 1 &&
               m->members[0].id == node->cfg->node_id;
}

/* A cluster of one follows its configuration: nobody else knows its
 * addresses, and a single node is often moved to another port (tests,
 * development). Its leader writes the configured addresses into the map,
 * epoch + 1, as a CAS on the version it read. */
static void rpc_meta_follow_config(struct node *node, struct group *g)
{
        struct cmap *m = NULL;

        if (cmap_from_config(node->cfg, node->meta.map->epoch + 1, &m) != 0) {
                return;
        }
        LOGI(-1,
             "meta: a cluster of one: its addresses in the configuration replace the map's "
             "(epoch %llu)",
             (unsigned long long)m->epoch);
        rpc_meta_propose(node, g, m, node->meta.map_version);
        cmap_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* Learning the map, and the data dir's copy */

/* Writing the map to the data dir, off the loop (fsync, rename). */
struct rpc_meta_save {
        uv_work_t req;
        struct node *node;
        uint64_t epoch;
        size_t len;
        int rv;
        uint8_t bytes[]; /* len */
};

static void rpc_meta_save_work(uv_work_t *req)
{
        struct rpc_meta_save *sv = (struct rpc_meta_save *)req;
        sv->rv = cmap_file_write(sv->node->cfg->data_dir, sv->bytes, sv->len);
}

static void rpc_meta_save_done(uv_work_t *req, int status)
{
        struct rpc_meta_save *sv = (struct rpc_meta_save *)req;
        struct node *node = sv->node;

        node->meta.saving = false;
        if (status == 0 && sv->rv == 0) {
                node->meta.saved_epoch = sv->epoch;
        } else {
                LOGE(-1, "meta: cannot write %s/%s: %s; retrying", node->cfg->data_dir, CMAP_FILE,
                     err_str(status != 0 ? err_from_uv(status) : sv->rv));
        }
        tkv_free(sv);
}

void rpc_meta_keep_copy(struct node *node)
{
        const struct cmap *m = node->meta.map;
        struct rpc_meta_save *sv;
        uint8_t *bytes = NULL;
        size_t len = 0;

        if (m == NULL || m->epoch <= node->meta.saved_epoch || node->meta.saving ||
            cmap_encode(m, &bytes, &len) != 0) {
                return; /* nothing new, or the next tick tries again */
        }
        sv = tkv_malloc(sizeof *sv + len);
        if (sv == NULL) {
                tkv_free(bytes);
                return;
        }
        sv->node = node;
        sv->epoch = m->epoch;
        sv->len = len;
        memcpy(sv->bytes, bytes, len);
        tkv_free(bytes);
        if (uv_queue_work(node->loop, &sv->req, rpc_meta_save_work, rpc_meta_save_done) != 0) {
                tkv_free(sv);
                return;
        }
        node->meta.saving = true;
}

/* Say how the configuration differs from the map just learned. */
static void rpc_meta_compare(struct node *node, const struct cmap *m)
{
        char why[320];
        enum cmap_agreement a = cmap_check_config(m, node->cfg, why, sizeof why);

        node->meta.addrs_agree = a != CMAP_DIFFERS_ADDRS;
        switch (a) {
        case CMAP_DIFFERS_ADDRS:
                if (m->n_members == 1 && node->cfg->n_nodes == 1) {
                        break; /* a cluster of one: rpc_meta_follow_config */
                }
                LOGE(-1,
                     "meta: the configuration disagrees with the cluster map: %s; the map "
                     "holds, and this node will refuse to start with this configuration",
                     why);
                break;
        case CMAP_DIFFERS:
                /* Members added, removed or replaced since the file was
                 * written: expected, and said once. A node started with
                 * --join has no node list of its own to compare. */
                if (!node->meta.differs_said && node->cfg->join[0] == '\0') {
                        LOGI(-1,
                             "meta: the configuration's node list differs from the cluster "
                             "map: %s; the map holds (the file only bootstraps the cluster)",
                             why);
                }
                node->meta.differs_said = true;
                break;
        default:
                break;
        }
}

/* A new version of the record was applied here: decode it once. */
static void rpc_meta_learn(struct node *node, const struct store_entry *e)
{
        uint64_t version = store_entry_mod_index(e);
        struct cmap *m = NULL;
        int rv = cmap_decode(store_entry_value(e), store_entry_value_len(e), &m);

        if (rv == TKV_ENOMEM) {
                return; /* the next tick tries again */
        }
        node->meta.map_version = version;
        if (rv != 0) {
                LOGE(-1, "meta: the cluster map at index %llu cannot be read (%s): keeping %s",
                     (unsigned long long)version, err_str(rv),
                     node->meta.map != NULL ? "the previous one" : "the configuration's");
                return;
        }
        if (node->meta.map != NULL && m->epoch < node->meta.map->epoch) {
                /* A replica catching up, on a node that learned a newer
                 * map from a peer meanwhile: never go back. */
                cmap_destroy(m);
                return;
        }
        LOGI(-1, "meta: cluster map epoch %llu applied (%u members, %u partitions)",
             (unsigned long long)m->epoch, m->n_members, m->n_partitions);
        rpc_meta_compare(node, m);
        cmap_destroy(node->meta.map);
        node->meta.map = m;
}

void rpc_meta_flush(struct node *node)
{
        struct group *g = node->meta_group;
        const struct store_entry *e;

        if (g == NULL || !group_running(g) || group_store(g) == NULL) {
                return;
        }
        e = store_get(group_store(g), CMAP_KEY, sizeof CMAP_KEY - 1);
        if (e == NULL) {
                if (!node->meta.booting && group_is_leader(g) && group_ready(g)) {
                        rpc_meta_bootstrap(node, g);
                }
                return;
        }
        if (store_entry_mod_index(e) != node->meta.map_version) {
                rpc_meta_learn(node, e);
        }
        if (rpc_meta_alone(node) && !node->meta.addrs_agree && !node->meta.booting &&
            group_is_leader(g) && group_ready(g)) {
                rpc_meta_follow_config(node, g);
        }
}

void rpc_meta_close(struct node *node)
{
        cmap_destroy(node->meta.map);
        node->meta.map = NULL;
        tkv_free(node->meta.pinned);
        node->meta.pinned = NULL;
}

/* ------------------------------------------------------------------------ */
/* TRANSFER_LEADER */

static void rpc_meta_transferred(void *data, struct group *g, int status)
{
        struct call *c = data;

        (void)g;
        c->stage = CALL_NEW;
        if (status == 0) {
                Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
                call_answer(c, &resp);
                return;
        }
        call_answer_error(c, status, "TRANSFER_LEADER: partition %u: %s", c->partition,
                          status == TKV_ETIMEDOUT ? "the target did not win the election in time"
                                                  : err_str(status));
}

/* Is target a replica of p that serves (node_replicas_of)? */
static bool rpc_meta_is_replica(const struct node *node, uint32_t p, unsigned target)
{
        unsigned ids[CONFIG_REPLICAS_MAX];
        unsigned n = node_replicas_of(node, p, ids);

        for (unsigned i = 0; i < n; i++) {
                if (ids[i] == target) {
                        return true;
                }
        }
        return false;
}

/* This node leads p's group g: hand it to target. */
static void rpc_meta_transfer_here(struct call *c, struct group *g, unsigned target)
{
        int rv = group_transfer(g, target, rpc_meta_transferred, c);

        switch (rv) {
        case 0:
                c->stage = CALL_TRANSFER;
                return;
        case TKV_EEXIST: {
                Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
                call_answer(c, &resp);
                return;
        }
        case TKV_ENOTFOUND:
                call_answer_error(c, TKV_EINVAL,
                                  "TRANSFER_LEADER: node %u is not a voter of partition %u's "
                                  "Raft group",
                                  target, c->partition);
                return;
        case TKV_EAGAIN:
                call_answer_error(c, TKV_EBUSY,
                                  "TRANSFER_LEADER: node %u has not caught up with partition %u's "
                                  "log yet; retry",
                                  target, c->partition);
                return;
        case TKV_EBUSY:
                call_answer_error(c, TKV_EBUSY,
                                  "TRANSFER_LEADER: partition %u's leadership is being moved "
                                  "already; retry",
                                  c->partition);
                return;
        default:
                call_answer_not_leader(c, "TRANSFER_LEADER");
                return;
        }
}

void rpc_meta_transfer(struct call *c, const Tunekv__V1__Request *req)
{
        struct node *node = c->node;
        const Tunekv__V1__TransferLeaderRequest *tr = req->transfer_leader;
        unsigned self = node->cfg->node_id, target = tr->node_id;
        struct group *g;
        uint64_t leader;

        c->partition = tr->partition;
        if (tr->partition >= node->n_partitions) {
                call_answer_error(c, TKV_EINVAL,
                                  "TRANSFER_LEADER: no partition %u (the cluster has %u)",
                                  tr->partition, node->n_partitions);
                return;
        }
        if (!rpc_meta_is_replica(node, tr->partition, target)) {
                call_answer_error(c, TKV_EINVAL,
                                  "TRANSFER_LEADER: node %u is not a replica of partition %u",
                                  target, tr->partition);
                return;
        }
        g = node_group(node, tr->partition);
        c->group = g;
        /* A node that is asked to lead keeps the leadership (balancing
         * leaves it); one that hands it away stops keeping it. */
        node->meta.pinned[tr->partition] = target == self;
        leader = g != NULL ? group_leader_id(g) : 0;
        if (g != NULL && group_is_leader(g)) {
                rpc_meta_transfer_here(c, g, target);
        } else if (target != self && !req->no_forward) {
                rpc_forward(c, req, target); /* the target pins it, then asks the leader */
        } else if (leader == 0) {
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "TRANSFER_LEADER: partition %u has no leader right now; retry",
                                  tr->partition);
        } else if (target == self && (!req->no_forward || c->from_node != 0)) {
                /* The second hop at most: only the target forwards a request
                 * another node forwarded, and only to the leader, which
                 * forwards nothing. */
                rpc_forward(c, req, (unsigned)leader);
        } else {
                call_answer_not_leader(c, "TRANSFER_LEADER");
        }
}
