/* tunekv member list|add|remove|replace|update, tunekv transfer-leader
 * and tunekv move: the cluster map's members (tkv_member_list,
 * tkv_member_add, tkv_member_remove, tkv_member_replace,
 * tkv_member_update), moving a partition's leadership
 * (tkv_transfer_leader) and its replicas (tkv_move, tkv_move_cancel),
 * include/tunekv.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* member add ID CLIENT_ADDR PEER_ADDR [--zone Z] */
static int members_add(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_member m;
        char message[256];
        uint64_t id, epoch = 0;
        int rv;

        memset(&m, 0, sizeof(m));
        if (a->n_operands != 4) {
                return output_usage_error(a, "%s",
                                          "member add ID CLIENT_ADDR PEER_ADDR [--zone Z]");
        }
        if (args_parse_u64(a->operands[1], 65535, &id) != 0 || id == 0) {
                return output_usage_error(a, "member add: bad node id \"%s\" (1..65535)",
                                          a->operands[1]);
        }
        if (strlen(a->operands[2]) >= sizeof(m.client_addr) ||
            strlen(a->operands[3]) >= sizeof(m.peer_addr) ||
            (a->zone != NULL && strlen(a->zone) >= sizeof(m.zone))) {
                return output_usage_error(a, "%s",
                                          "member add: an address or the zone is too long");
        }
        m.node_id = (uint32_t)id;
        snprintf(m.client_addr, sizeof(m.client_addr), "%s", a->operands[2]);
        snprintf(m.peer_addr, sizeof(m.peer_addr), "%s", a->operands[3]);
        snprintf(m.zone, sizeof(m.zone), "%s", a->zone != NULL ? a->zone : "");
        rv = tkv_member_add(c, &m, &epoch, message, sizeof(message));
        return rv != TKV_OK ? output_fail(a, rv, message, NULL)
                            : output_member_changed(a, "added (joining)", m.node_id, epoch);
}

/* member remove ID */
static int members_remove(struct tkv_client *c, const struct cli_args *a)
{
        char message[256];
        uint64_t id, epoch = 0;
        int rv;

        if (a->n_operands != 2 || args_parse_u64(a->operands[1], 65535, &id) != 0 || id == 0) {
                return output_usage_error(a, "%s", "member remove ID (1..65535)");
        }
        rv = tkv_member_remove(c, (uint32_t)id, &epoch, message, sizeof(message));
        return rv != TKV_OK ? output_fail(a, rv, message, NULL)
                            : output_member_changed(a, "removed (or leaving: see member list)",
                                                    (uint32_t)id, epoch);
}

/* member replace OLD NEW [CLIENT_ADDR PEER_ADDR [--zone Z]] */
static int members_replace(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_member m;
        char message[256];
        uint64_t old, id, epoch = 0;
        int rv;

        memset(&m, 0, sizeof(m));
        if ((a->n_operands != 3 && a->n_operands != 5) ||
            args_parse_u64(a->operands[1], 65535, &old) != 0 || old == 0 ||
            args_parse_u64(a->operands[2], 65535, &id) != 0 || id == 0) {
                return output_usage_error(a, "%s",
                                          "member replace OLD NEW [CLIENT_ADDR PEER_ADDR "
                                          "[--zone Z]] (ids 1..65535)");
        }
        if (a->n_operands == 5 && (strlen(a->operands[3]) >= sizeof(m.client_addr) ||
                                   strlen(a->operands[4]) >= sizeof(m.peer_addr) ||
                                   (a->zone != NULL && strlen(a->zone) >= sizeof(m.zone)))) {
                return output_usage_error(a, "%s",
                                          "member replace: an address or the zone is too long");
        }
        m.node_id = (uint32_t)id;
        if (a->n_operands == 5) {
                snprintf(m.client_addr, sizeof(m.client_addr), "%s", a->operands[3]);
                snprintf(m.peer_addr, sizeof(m.peer_addr), "%s", a->operands[4]);
                snprintf(m.zone, sizeof(m.zone), "%s", a->zone != NULL ? a->zone : "");
        }
        rv = tkv_member_replace(c, (uint32_t)old, &m, &epoch, message, sizeof(message));
        return rv != TKV_OK ? output_fail(a, rv, message, NULL)
                            : output_member_changed(a, "leaving (replaced; see member list)",
                                                    (uint32_t)old, epoch);
}

/* An address operand of member update: "-" (or none) keeps it. */
static const char *members_addr(const struct cli_args *a, int i)
{
        return a->n_operands > i && strcmp(a->operands[i], "-") != 0 ? a->operands[i] : NULL;
}

/* member update ID [CLIENT_ADDR|- [PEER_ADDR]] [--zone Z] */
static int members_update(struct tkv_client *c, const struct cli_args *a)
{
        char message[256];
        uint64_t id, epoch = 0;
        int rv;

        if (a->n_operands < 2 || a->n_operands > 4 ||
            args_parse_u64(a->operands[1], 65535, &id) != 0 || id == 0 ||
            (a->n_operands == 2 && a->zone == NULL)) {
                return output_usage_error(a, "%s",
                                          "member update ID [CLIENT_ADDR|- [PEER_ADDR]] [--zone Z] "
                                          "(id 1..65535; '-' keeps the client address; --zone \"\" "
                                          "clears the zone)");
        }
        rv = tkv_member_update(c, (uint32_t)id, members_addr(a, 2), members_addr(a, 3), a->zone,
                               &epoch, message, sizeof(message));
        return rv != TKV_OK ? output_fail(a, rv, message, NULL)
                            : output_member_changed(a, "updated", (uint32_t)id, epoch);
}

int members_run(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_member_list l;
        int rv;

        if (a->n_operands >= 1 && strcmp(a->operands[0], "add") == 0) {
                return members_add(c, a);
        }
        if (a->n_operands >= 1 && strcmp(a->operands[0], "remove") == 0) {
                return members_remove(c, a);
        }
        if (a->n_operands >= 1 && strcmp(a->operands[0], "replace") == 0) {
                return members_replace(c, a);
        }
        if (a->n_operands >= 1 && strcmp(a->operands[0], "update") == 0) {
                return members_update(c, a);
        }
        if (a->zone != NULL) {
                return output_usage_error(a, "%s",
                                          "--zone applies to member add, replace and update only");
        }
        if (a->n_operands != 1 || strcmp(a->operands[0], "list") != 0) {
                return output_usage_error(a,
                                          "member: %s (want list, add, remove, replace or update)",
                                          a->n_operands > 0 ? a->operands[0] : "no verb");
        }
        rv = tkv_member_list(c, &l);
        rv = rv != TKV_OK ? output_fail(a, rv, l.message, NULL) : output_members(a, &l);
        tkv_member_list_release(&l);
        return rv;
}

int members_transfer_leader(struct tkv_client *c, const struct cli_args *a)
{
        uint64_t partition, node_id;
        char message[256];
        int rv;

        if (args_parse_u64(a->operands[0], UINT32_MAX, &partition) != 0) {
                return output_usage_error(a, "transfer-leader: bad partition \"%s\"",
                                          a->operands[0]);
        }
        if (args_parse_u64(a->operands[1], UINT32_MAX, &node_id) != 0 || node_id == 0) {
                return output_usage_error(a, "transfer-leader: bad node id \"%s\"", a->operands[1]);
        }
        rv = tkv_transfer_leader(c, (uint32_t)partition, (uint32_t)node_id, message,
                                 sizeof(message));
        if (rv != TKV_OK) {
                return output_fail(a, rv, message, NULL);
        }
        return output_transferred(a, (uint32_t)partition, (uint32_t)node_id);
}

/* Is partition's move from `from` to `to` done, by one node's map at
 * least as new as epoch (the one that recorded the move)? 1 done, 0 not
 * yet (or that node's map is older), -1 it was given up (no move, `to`
 * not a replica). */
static int members_move_state(struct tkv_client *c, uint32_t partition, uint32_t from, uint32_t to,
                              uint64_t epoch)
{
        struct tkv_result res;
        int state = 0;

        if (tkv_cluster_info(c, &res) != TKV_OK || res.cluster == NULL ||
            partition > res.cluster->n_partitions || res.cluster->epoch < epoch) {
                tkv_result_release(&res);
                return 0; /* ask again */
        }
        /* partition_count: the metadata group. */
        const struct tkv_partition_info *pi = partition == res.cluster->n_partitions
                                                  ? &res.cluster->metadata
                                                  : &res.cluster->partitions[partition];
        if (pi->move_to == 0) {
                state = -1;
                for (unsigned i = 0; i < pi->n_replicas; i++) {
                        state = pi->replicas[i] == to ? 1 : state;
                        state = pi->replicas[i] == from && state != 1 ? -1 : state;
                }
        }
        tkv_result_release(&res);
        return state;
}

/* move PARTITION FROM TO: record the move, then wait until the map says it
 * is done (the move goes on if this is interrupted). */
static int members_move_start(struct tkv_client *c, const struct cli_args *a)
{
        uint64_t v[3], epoch = 0;
        char message[256];
        struct timespec nap = {0, 200 * 1000 * 1000};
        int rv, state = 0;

        for (int i = 0; i < 3; i++) {
                if (args_parse_u64(a->operands[i], i == 0 ? UINT32_MAX : 65535, &v[i]) != 0 ||
                    (i > 0 && v[i] == 0)) {
                        return output_usage_error(a, "move: bad partition or node id \"%s\"",
                                                  a->operands[i]);
                }
        }
        rv = tkv_move(c, (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2], &epoch, message,
                      sizeof(message));
        if (rv != TKV_OK) {
                return output_fail(a, rv, message, NULL);
        }
        fprintf(stderr,
                "move of partition %" PRIu64 " from node %" PRIu64 " to node %" PRIu64
                " recorded (cluster map epoch %" PRIu64 "); waiting until it is done\n",
                v[0], v[1], v[2], epoch);
        while ((state = members_move_state(c, (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2],
                                           epoch)) == 0) {
                nanosleep(&nap, NULL);
        }
        if (state < 0) {
                return output_fail(a, TKV_BUSY, "the move was cancelled before it was done", NULL);
        }
        return output_moved(a, (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2]);
}

int members_move(struct tkv_client *c, const struct cli_args *a)
{
        uint64_t partition, epoch = 0;
        char message[256];
        int rv;

        if (a->n_operands == 2 && strcmp(a->operands[0], "cancel") == 0) {
                if (args_parse_u64(a->operands[1], UINT32_MAX, &partition) != 0) {
                        return output_usage_error(a, "move cancel: bad partition \"%s\"",
                                                  a->operands[1]);
                }
                rv = tkv_move_cancel(c, (uint32_t)partition, &epoch, message, sizeof(message));
                if (rv != TKV_OK) {
                        return output_fail(a, rv, message, NULL);
                }
                printf("partition %" PRIu64 "'s move cancelled: cluster map epoch %" PRIu64 "\n",
                       partition, epoch);
                return 0;
        }
        if (a->n_operands != 3) {
                return output_usage_error(a, "%s",
                                          "move PARTITION FROM TO | move cancel PARTITION");
        }
        return members_move_start(c, a);
}
