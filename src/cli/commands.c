/* The CLI's commands, one function each, on include/tunekv.h's blocking
 * API: get, the writes (put, delete, cas: one function, they differ only in
 * the call), and status (one node, or CLUSTER_INFO then every node's STATUS
 * in parallel). Each runs its request and hands the result to output.c.
 *
 * Each invocation is one client, so one session: --token-in is loaded
 * before the request and the token saved after it (--token-out, through a
 * temporary file renamed over the target so that a concurrent reader never
 * sees half a token). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* A value read from stdin may not exceed what the library accepts. */
#define COMMANDS_STDIN_BYTES_MAX (64u << 20)

/* ---- Session token files ---- */

/* Load --token-in into the client's session. Returns -1 to go on, else
 * the exit code of the failure it reported. */
int commands_token_load(struct tkv_client *c, const struct cli_args *a)
{
        unsigned char buf[TKV_TOKEN_BYTES_MAX + 1];
        char msg[CLI_TOKEN_ERR_BYTES];
        size_t len;
        FILE *f;
        int rv;

        if (a->token_in == NULL) {
                return -1;
        }
        f = fopen(a->token_in, "rb");
        if (f == NULL) {
                snprintf(msg, sizeof(msg), "--token-in %s: %s", a->token_in, strerror(errno));
                return output_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        len = fread(buf, 1, sizeof(buf), f);
        rv = ferror(f) ? -1 : 0;
        fclose(f);
        if (rv != 0 || len > TKV_TOKEN_BYTES_MAX) {
                snprintf(msg, sizeof(msg), "--token-in %s: %s", a->token_in,
                         rv != 0 ? "cannot read it" : "larger than a token can be");
                return output_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        if (tkv_token_set(c, buf, len) != TKV_OK) {
                snprintf(msg, sizeof(msg), "--token-in %s: not a session token", a->token_in);
                return output_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        return -1;
}

/* Write len bytes to path through a temporary file renamed over it, so
 * that a concurrent --token-in never sees half a token. Returns 0, or -1
 * with errno set. */
static int commands_write_file(const char *path, const void *data, size_t len)
{
        char tmp[4096];
        FILE *f;
        bool ok;
        int saved;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= sizeof(tmp)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        f = fopen(tmp, "wb");
        if (f == NULL) {
                return -1;
        }
        ok = len == 0 || fwrite(data, 1, len, f) == len;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
                saved = errno;
                remove(tmp);
                errno = saved;
                return -1;
        }
        return 0;
}

/* After the request: the session token into a->token_hex (for -v) and
 * into --token-out; a failure to save is kept in a->token_error. */
void commands_token_save(struct tkv_client *c, struct cli_args *a)
{
        unsigned char buf[TKV_TOKEN_BYTES_MAX];
        size_t len = tkv_token_get(c, buf, sizeof(buf));
        size_t i;

        if (len > sizeof(buf)) {
                len = 0; /* cannot happen: the library keeps tokens within the cap */
        }
        for (i = 0; i < len; i++) {
                snprintf(a->token_hex + 2 * i, 3, "%02x", buf[i]);
        }
        a->token_hex[2 * len] = '\0';
        a->have_token = true;
        if (a->token_out != NULL && commands_write_file(a->token_out, buf, len) != 0) {
                snprintf(a->token_error, sizeof(a->token_error), "--token-out %s: %s", a->token_out,
                         strerror(errno));
        }
}

/* ---- Commands ---- */

/* Read all of stdin into a malloc'd buffer (transferred to the caller). */
static int commands_read_stdin(char **out, size_t *out_len)
{
        size_t cap = 4096;
        size_t len = 0;
        size_t n;
        char *buf = malloc(cap);
        char *grown;

        while (buf != NULL) {
                n = fread(buf + len, 1, cap - len, stdin);
                len += n;
                if (n == 0) {
                        if (ferror(stdin) || len > COMMANDS_STDIN_BYTES_MAX) {
                                break;
                        }
                        *out = buf;
                        *out_len = len;
                        return 0;
                }
                if (len == cap) {
                        if (cap > COMMANDS_STDIN_BYTES_MAX) {
                                break;
                        }
                        grown = realloc(buf, cap * 2);
                        if (grown == NULL) {
                                break;
                        }
                        buf = grown;
                        cap *= 2;
                }
        }
        free(buf);
        return -1;
}

int commands_get(struct tkv_client *c, struct cli_args *a)
{
        const char *key = a->operands[0];
        struct tkv_result res;
        int status = tkv_get(c, key, strlen(key), &a->read, &res);

        commands_token_save(c, a);
        if (status == TKV_OK && !res.found) {
                status = TKV_NOT_FOUND;
        }
        if (status != TKV_OK) {
                status = output_fail(a, status, res.message, &res);
                tkv_result_release(&res);
                return status;
        }
        output_get(a, &res);
        tkv_result_release(&res);
        return output_exit(a, status);
}

int commands_mget(struct tkv_client *c, struct cli_args *a)
{
        size_t n = (size_t)a->n_operands;
        const void **keys = calloc(n, sizeof *keys);
        size_t *lens = calloc(n, sizeof *lens);
        struct tkv_result res;
        int status;

        if (keys == NULL || lens == NULL) {
                free(keys);
                free(lens);
                return output_fail(a, TKV_NO_MEMORY, "out of memory", NULL);
        }
        for (size_t i = 0; i < n; i++) {
                keys[i] = a->operands[i];
                lens[i] = strlen(a->operands[i]);
        }
        if (!a->level_set) {
                a->read.level = TKV_SEQUENTIAL; /* one timestamp across partitions */
        }
        status = tkv_get_many(c, keys, lens, n, &a->read, &res);
        free(keys);
        free(lens);
        commands_token_save(c, a);
        if (status != TKV_OK) {
                status = output_fail(a, status, res.message, &res);
        } else {
                output_mget(a, &res);
                status = output_exit(a, status);
        }
        tkv_result_release(&res);
        return status;
}

/* put, del and cas. */
int commands_write(struct tkv_client *c, struct cli_args *a)
{
        const char *key = a->operands[0];
        const char *value_arg = a->operands[a->n_operands - 1];
        char *value = NULL;
        size_t value_len = 0;
        uint64_t expected = 0;
        struct tkv_result res;
        int exit_code = CLI_EXIT_OK;
        int status;

        if (strcmp(a->command, "cas") == 0 &&
            args_parse_u64(a->operands[1], UINT64_MAX, &expected) != 0) {
                return output_usage_error(a, "cas: EXPECTED_VERSION must be a number, got \"%s\"",
                                          a->operands[1]);
        }
        if (strcmp(a->command, "delete") != 0) {
                if (strcmp(value_arg, "-") == 0) {
                        if (commands_read_stdin(&value, &value_len) != 0) {
                                return output_usage_error(a, "%s",
                                                          "cannot read the value "
                                                          "from stdin (or it exceeds 64 MiB)");
                        }
                } else {
                        value_len = strlen(value_arg);
                }
        }
        if (strcmp(a->command, "put") == 0) {
                status = tkv_put(c, key, strlen(key), value != NULL ? value : value_arg, value_len,
                                 &a->write, &res);
        } else if (strcmp(a->command, "cas") == 0) {
                status = tkv_cas(c, key, strlen(key), expected, value != NULL ? value : value_arg,
                                 value_len, &a->write, &res);
        } else {
                status = tkv_delete(c, key, strlen(key), &a->write, &res);
        }
        free(value);
        commands_token_save(c, a);
        if (status != TKV_OK) {
                exit_code = output_fail(a, status, res.message, &res);
        } else {
                output_write(a, &res);
                exit_code = output_exit(a, status);
        }
        tkv_result_release(&res);
        return exit_code;
}

/* status --node N: one node's own view. */
static int commands_node_status(struct tkv_client *c, const struct cli_args *a)
{
        struct tkv_result res;
        int status = tkv_status_node(c, a->node_id, &res);

        if (status != TKV_OK || res.node == NULL) {
                status = output_fail(a, status != TKV_OK ? status : TKV_PROTOCOL_ERROR, res.message,
                                     &res);
                tkv_result_release(&res);
                return status;
        }
        output_node_status(a, res.node);
        tkv_result_release(&res);
        return CLI_EXIT_OK;
}

/* ---- status: the whole cluster ---- */

/* Copy a borrowed node status, with its partitions and version. */
static struct tkv_node_status *commands_node_dup(const struct tkv_node_status *n)
{
        size_t parts = n->n_partitions * sizeof(n->partitions[0]);
        size_t version_len = strlen(n->version != NULL ? n->version : "");
        struct tkv_node_status *copy = malloc(sizeof(*copy) + parts + version_len + 1);
        char *version;

        if (copy == NULL) {
                return NULL;
        }
        *copy = *n;
        copy->partitions = (struct tkv_partition_status *)(copy + 1);
        if (parts > 0) {
                memcpy(copy->partitions, n->partitions, parts);
        }
        version = (char *)copy->partitions + parts;
        memcpy(version, n->version != NULL ? n->version : "", version_len + 1);
        copy->version = version;
        return copy;
}

static void commands_node_status_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct cli_node_view *v = arg;

        (void)c;
        v->done = true;
        v->status = res->status;
        snprintf(v->message, sizeof(v->message), "%s", res->message);
        if (res->status == TKV_OK && res->node != NULL) {
                v->node = commands_node_dup(res->node);
                if (v->node == NULL) {
                        v->status = TKV_NO_MEMORY;
                        snprintf(v->message, sizeof(v->message), "out of memory");
                }
        } else if (res->status == TKV_OK) {
                v->status = TKV_PROTOCOL_ERROR;
        }
}

/* STATUS of every node of ci, in parallel. views has ci->n_nodes entries. */
/* Node id's state in members (NULL: not known). */
static enum tkv_member_state commands_member_state(const struct tkv_member_list *members,
                                                   uint32_t id)
{
        for (size_t i = 0; members != NULL && i < members->n_members; i++) {
                if (members->members[i].node_id == id) {
                        return members->members[i].state;
                }
        }
        return TKV_MEMBER_UNKNOWN;
}

static void commands_query_nodes(struct tkv_client *c, const struct tkv_cluster_info *ci,
                                 struct cli_node_view *views, const struct tkv_member_list *members)
{
        unsigned i;
        int rv;

        for (i = 0; i < ci->n_nodes; i++) {
                views[i].node_id = ci->nodes[i].node_id;
                views[i].client_addr = ci->nodes[i].client_addr;
                views[i].state = commands_member_state(members, views[i].node_id);
                if (views[i].state == TKV_MEMBER_REMOVED) {
                        views[i].done = true;
                        views[i].status = TKV_OK;
                        continue;
                }
                rv = tkv_status_node_async(c, views[i].node_id, commands_node_status_cb, &views[i]);
                if (rv != TKV_OK) {
                        views[i].done = true;
                        views[i].status = rv;
                        snprintf(views[i].message, sizeof(views[i].message), "%s", tkv_errmsg(c));
                }
        }
        while (tkv_pending(c) > 0 && tkv_poll(c, -1) >= 0) {
        }
}

/* status: CLUSTER_INFO, then STATUS of every node; a node that does not
 * answer is shown as down. */
int commands_status(struct tkv_client *c, const struct cli_args *a)
{
        struct cli_node_view *views = NULL;
        struct tkv_member_list members;
        bool have_members;
        struct tkv_result res;
        int status;
        unsigned i;

        memset(&members, 0, sizeof(members));
        if (a->node_set) {
                return commands_node_status(c, a);
        }
        status = tkv_cluster_info(c, &res);
        if (status != TKV_OK || res.cluster == NULL) {
                status = output_fail(a, status != TKV_OK ? status : TKV_PROTOCOL_ERROR, res.message,
                                     &res);
                tkv_result_release(&res);
                return status;
        }
        views = calloc(res.cluster->n_nodes + 1, sizeof(*views));
        if (views == NULL) {
                tkv_result_release(&res);
                return output_fail(a, TKV_NO_MEMORY, "out of memory", NULL);
        }
        /* The members with their zones and states, when the map is known
         * (best effort: a node without it yet still shows the rest). */
        have_members = tkv_member_list(c, &members) == TKV_OK;
        commands_query_nodes(c, res.cluster, views, have_members ? &members : NULL);
        /* A node that refused our user is not down: say so instead. */
        for (i = 0; i < res.cluster->n_nodes; i++) {
                if (views[i].status == TKV_UNAUTHENTICATED ||
                    views[i].status == TKV_PERMISSION_DENIED) {
                        break;
                }
        }
        if (i < res.cluster->n_nodes) {
                status = output_fail(a, views[i].status, views[i].message, NULL);
        } else {
                status = output_cluster(a, res.cluster, views, have_members ? &members : NULL);
        }
        for (i = 0; i < res.cluster->n_nodes; i++) {
                free(views[i].node);
        }
        free(views);
        tkv_member_list_release(&members);
        tkv_result_release(&res);
        return status;
}
