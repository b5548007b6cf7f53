/* tunekv lease grant|keepalive|revoke|info|list (include/tunekv.h,
 * tkv_lease_*). A lease id is printed and read as a decimal number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The lease id in operand 1 of a, or a usage error (returned). */
static int leases_id(const struct cli_args *a, uint64_t *id)
{
        if (a->n_operands != 2 || args_parse_u64(a->operands[1], UINT64_MAX, id) != 0 || *id == 0) {
                return output_usage_error(a, "lease %s: expected one lease id (a number)",
                                          a->operands[0]);
        }
        return -1;
}

static int leases_grant(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_lease l;
        char tag[512], message[512];
        uint64_t ttl_ms;
        size_t tag_len = 0;
        int rv;

        if (a->n_operands != 2 || args_parse_u64(a->operands[1], UINT64_MAX, &ttl_ms) != 0) {
                return output_usage_error(a, "%s", "lease grant: expected TTL_MS (a number)");
        }
        if (a->key_tag != NULL) {
                /* Keys tagged {T} hash by T alone: the lease goes where they go. */
                if (strlen(a->key_tag) + 3 > sizeof(tag)) {
                        return output_usage_error(a, "%s", "--key-tag: too long");
                }
                tag_len = (size_t)snprintf(tag, sizeof(tag), "{%s}", a->key_tag);
        }
        rv = tkv_lease_grant(c, ttl_ms, tag_len > 0 ? tag : NULL, tag_len, &l, message,
                             sizeof(message));
        return rv != TKV_OK ? output_fail(a, rv, message, NULL) : output_lease(a, "granted", &l);
}

static void leases_sleep_ms(uint64_t ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
}

/* keepalive ID: once, or with --forever every TTL/3 until one fails (its
 * status is the exit code: NOT_FOUND once the lease expired). */
static int leases_keepalive(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_lease l;
        char message[512];
        uint64_t id;
        int rv = leases_id(a, &id);

        if (rv >= 0) {
                return rv;
        }
        for (;;) {
                rv = tkv_lease_keepalive(c, id, &l, message, sizeof(message));
                if (rv != TKV_OK) {
                        return output_fail(a, rv, message, NULL);
                }
                if (!a->forever) {
                        return output_lease(a, "kept alive", &l);
                }
                if (!a->json) {
                        output_lease(a, "kept alive", &l);
                        fflush(stdout);
                }
                leases_sleep_ms(l.ttl_ms / 3 > 0 ? l.ttl_ms / 3 : 1);
        }
}

static int leases_revoke_or_info(struct tkv_client *c, const struct cli_args *a, bool revoke)
{
        struct tkv_lease l;
        char message[512];
        uint64_t id;
        int rv = leases_id(a, &id);

        if (rv >= 0) {
                return rv;
        }
        memset(&l, 0, sizeof(l));
        rv = revoke ? tkv_lease_revoke(c, id, message, sizeof(message))
                    : tkv_lease_info(c, id, &l, message, sizeof(message));
        if (rv != TKV_OK) {
                return output_fail(a, rv, message, NULL);
        }
        l.id = id;
        rv = output_lease(a, revoke ? "revoked" : "info", &l);
        tkv_lease_release(&l);
        return rv;
}

/* list: every partition's leases, partition by partition. */
static int leases_list(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_result res;
        struct tkv_lease *all = NULL, *part = NULL, *grown;
        size_t n_all = 0, n = 0;
        char message[512];
        int rv = tkv_cluster_info(c, &res);
        uint32_t partitions = res.cluster != NULL ? res.cluster->partition_count : 0;

        if (rv != TKV_OK) {
                rv = output_fail(a, rv, res.message, &res);
                tkv_result_release(&res);
                return rv;
        }
        tkv_result_release(&res);
        for (uint32_t p = 0; p < partitions; p++) {
                rv = tkv_lease_list(c, p, &part, &n, message, sizeof(message));
                if (rv != TKV_OK) {
                        free(all);
                        return output_fail(a, rv, message, NULL);
                }
                grown = realloc(all, (n_all + n + 1) * sizeof(*all));
                if (grown == NULL) {
                        tkv_lease_list_free(part);
                        free(all);
                        return output_fail(a, TKV_NO_MEMORY, "out of memory", NULL);
                }
                all = grown;
                memcpy(all + n_all, part, n * sizeof(*part));
                n_all += n;
                tkv_lease_list_free(part);
        }
        rv = output_leases(a, all, n_all);
        free(all);
        return rv;
}

int leases_run(struct tkv_client *c, const struct cli_args *a)
{
        const char *verb = a->operands[0];

        if (strcmp(verb, "grant") == 0) {
                return leases_grant(c, a);
        }
        if (strcmp(verb, "keepalive") == 0) {
                return leases_keepalive(c, a);
        }
        if (strcmp(verb, "revoke") == 0 || strcmp(verb, "info") == 0) {
                return leases_revoke_or_info(c, a, strcmp(verb, "revoke") == 0);
        }
        if (strcmp(verb, "list") == 0 && a->n_operands == 1) {
                return leases_list(c, a);
        }
        return output_usage_error(a,
                                  "lease: unknown verb or arguments \"%s\" (grant, keepalive, "
                                  "revoke, info, list)",
                                  verb);
}
