/* tunekv member list|add|remove and tunekv transfer-leader: the cluster
 * map's members (tkv_member_list, tkv_member_add, tkv_member_remove) and
 * moving a partition's leadership (tkv_transfer_leader), include/tunekv.h. */
#include <stdio.h>
#include <string.h>

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
                            : output_member_changed(a, "removed", (uint32_t)id, epoch);
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
        if (a->zone != NULL) {
                return output_usage_error(a, "%s", "--zone applies to member add only");
        }
        if (a->n_operands != 1 || strcmp(a->operands[0], "list") != 0) {
                return output_usage_error(a, "member: %s (want list, add or remove)",
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
