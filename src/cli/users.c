/* tunekv user ... and tunekv role ...: user and role management through
 * tkv_user_role (include/tunekv.h). The verb is the first operand; a new
 * password is read from stdin's first line, so that it never shows in the
 * process list or the shell history: `tunekv user add alice < pwfile`.
 * `user passwd NAME` run as NAME itself (--user NAME) is the self-service
 * change, which needs no admin: the old password is the one the CLI
 * authenticates with (--password-file or $TUNEKV_PASSWORD), read the same
 * way, and goes along so that the server can check it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* One verb: its request op, the operands it takes after the verb, and
 * whether it reads a password. */
struct users_verb {
        const char *command; /* "user" or "role" */
        const char *verb;
        enum tkv_user_role_op op;
        int min_args;
        int max_args;
        bool password;
};

static const struct users_verb users_verbs[] = {
    {"user", "add", TKV_USER_ADD, 1, 1, true},
    {"user", "del", TKV_USER_DELETE, 1, 1, false},
    {"user", "passwd", TKV_USER_PASSWD, 1, 1, true},
    {"user", "grant", TKV_USER_GRANT_ROLE, 2, 2, false},
    {"user", "revoke", TKV_USER_REVOKE_ROLE, 2, 2, false},
    {"user", "list", TKV_USER_LIST, 0, 0, false},
    {"user", "get", TKV_USER_GET, 1, 1, false},
    {"role", "add", TKV_ROLE_ADD, 1, 1, false},
    {"role", "del", TKV_ROLE_DELETE, 1, 1, false},
    {"role", "grant", TKV_ROLE_GRANT, 2, 3, false},
    {"role", "revoke", TKV_ROLE_REVOKE, 1, 2, false},
    {"role", "list", TKV_ROLE_LIST, 0, 0, false},
    {"role", "get", TKV_ROLE_GET, 1, 1, false},
};

static const struct users_verb *users_find(const char *command, const char *verb)
{
        for (size_t i = 0; i < sizeof(users_verbs) / sizeof(users_verbs[0]); i++) {
                if (strcmp(users_verbs[i].command, command) == 0 &&
                    strcmp(users_verbs[i].verb, verb) == 0) {
                        return &users_verbs[i];
                }
        }
        return NULL;
}

/* stdin's first line, trailing whitespace dropped, into out. */
static bool users_read_password(char *out, size_t len)
{
        size_t n;

        if (fgets(out, (int)len, stdin) == NULL) {
                return false;
        }
        n = strlen(out);
        while (n > 0 && strchr(" \t\r\n", out[n - 1]) != NULL) {
                out[--n] = '\0';
        }
        return true;
}

/* Fill req from the operands after the verb. */
static void users_request(const struct users_verb *v, char **args, int n,
                          struct tkv_user_role_request *req)
{
        memset(req, 0, sizeof(*req));
        req->op = v->op;
        req->name = n > 0 ? args[0] : NULL;
        if (v->op == TKV_USER_GRANT_ROLE || v->op == TKV_USER_REVOKE_ROLE) {
                req->role = args[1];
        } else if (v->op == TKV_ROLE_GRANT) {
                req->permission = args[1];
                req->prefix = n > 2 ? args[2] : NULL;
                req->prefix_len = n > 2 ? strlen(args[2]) : 0;
        } else if (v->op == TKV_ROLE_REVOKE) {
                req->prefix = n > 1 ? args[1] : NULL;
                req->prefix_len = n > 1 ? strlen(args[1]) : 0;
        }
}

int users_run(struct tkv_client *c, struct cli_args *a)
{
        const struct users_verb *v = users_find(a->command, a->operands[0]);
        struct tkv_user_role_request req;
        struct tkv_user_role_result res;
        char password[1025];
        char old_password[1025];
        int n = a->n_operands - 1;
        int rv;

        if (v == NULL) {
                return output_usage_error(a, "unknown verb \"%s\" (see --help)", a->operands[0]);
        }
        if (n < v->min_args || n > v->max_args) {
                return output_usage_error(a, "wrong number of arguments for %s", a->operands[0]);
        }
        users_request(v, a->operands + 1, n, &req);
        if (v->op == TKV_USER_PASSWD && a->user != NULL && strcmp(a->user, req.name) == 0) {
                rv = args_password(a, old_password, sizeof(old_password));
                if (rv >= 0) {
                        return rv;
                }
                req.old_password = old_password;
        }
        if (v->password) {
                if (!users_read_password(password, sizeof(password))) {
                        return output_usage_error(a, "%s: the new password is stdin's first line",
                                                  a->operands[0]);
                }
                req.password = password;
        }
        rv = tkv_user_role(c, &req, &res);
        memset(password, 0, sizeof(password));
        memset(old_password, 0, sizeof(old_password));
        if (rv != TKV_OK) {
                rv = output_fail(a, rv, res.message, NULL);
        } else {
                rv = output_user_role(a, &res);
        }
        tkv_user_role_release(&res);
        return rv;
}
