/* tunekv member list and tunekv transfer-leader: the cluster map's members
 * (tkv_member_list) and moving a partition's leadership
 * (tkv_transfer_leader), include/tunekv.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int members_run(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_member_list l;
        int rv;

        if (a->n_operands != 1 || strcmp(a->operands[0], "list") != 0) {
                return output_usage_error(a, "member: %s (only \"member list\" exists yet)",
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
