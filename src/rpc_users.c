/* User and role management (USER_ROLE requests; docs/security.md).
 *
 * The users and roles are one record in the system group's store (key
 * RPC_AUTH_KEY, the whole table encoded by auth.c). Every node hosts that
 * group and enforces its own replica (rpc_auth_table), so a change takes
 * effect on a node when it applies it.
 *
 * Normal path of a change: admission checked admin (rpc_auth.c). USER_ADD
 * and USER_PASSWD first hash the password on the threadpool, here, at the
 * node the client talks to (the password never travels further). Then, on
 * the system group's leader: decode the current record, apply the change,
 * encode, and propose a CAS on the record's version, answered when
 * applied. A node that does not lead the group forwards the change to the
 * leader, as a request carrying the hashed secret instead of the password.
 * Listings (USER_LIST/GET, ROLE_LIST/GET) are answered from the local
 * replica, like every permission check.
 *
 * Self-service: USER_PASSWD with old_password set is what any
 * authenticated user may do for their own name (rpc_auth.c admits it).
 * The work item that hashes the new password first checks the old one
 * against this node's replica of the user's secret, with the same slow KDF
 * and constant-time compare as AUTH; a wrong one is PERMISSION_DENIED,
 * counted and logged like a failed AUTH, and costs the guesser the same
 * hashing (auth_in_flight_max bounds both). The connection that made the
 * change knows the new password, so it stays authenticated
 * (conn->auth_salt_next); every other connection of the user must AUTH
 * again, as after an admin's change: the reason to change a password is
 * often that it leaked.
 *
 * Failure modes: auth off (INVALID_ARGUMENT), a bad name or permission
 * (INVALID_ARGUMENT), no such user or role (NOT_FOUND), one that exists
 * (INVALID_ARGUMENT), the hashing limit (BUSY), no leader for the system
 * group (UNAVAILABLE), a concurrent change between read and CAS (BUSY:
 * retry), and the usual write failures (NOT_LEADER, OUTCOME_UNKNOWN). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "buffer.h"
#include "command.h"
#include "config.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "node.h"
#include "rpc_auth.h"
#include "rpc_internal.h"
#include "store.h"

#define RPC_USERS_SECRET_BYTES (4 + AUTH_SALT_BYTES + AUTH_HASH_BYTES)

/* One change or listing, taken out of the request (which is borrowed for
 * the handler call only) so that it can outlive it while hashing. */
struct rpc_users_change {
        Tunekv__V1__UserRoleOp op;
        const char *op_name; /* for messages */
        char name[AUTH_NAME_BYTES];
        char role[AUTH_NAME_BYTES];
        unsigned perms;        /* ROLE_GRANT */
        const uint8_t *prefix; /* ROLE_GRANT, ROLE_REVOKE: borrowed from the request */
        size_t prefix_len;
        bool has_secret;
        struct auth_secret secret; /* USER_ADD, USER_PASSWD */
        bool check_old;            /* USER_PASSWD with old_password: check it first */
};

/* A password being hashed for c. */
struct rpc_users_hash {
        uv_work_t req;
        struct call *c; /* NULL once c was abandoned (deadline, shutdown) */
        struct node *node;
        struct rpc_users_change ch;
        uint32_t iterations;
        int rv;
        size_t password_len;
        uint8_t password[AUTH_PASSWORD_BYTES_MAX];
        struct auth_secret old; /* ch.check_old: the user's secret, copied */
        bool old_ok;            /* written by the threadpool, read after it */
        size_t old_password_len;
        uint8_t old_password[AUTH_PASSWORD_BYTES_MAX];
};

static const char *const rpc_users_op_names[] = {
    [TUNEKV__V1__USER_ROLE_OP__USER_ADD] = "USER_ADD",
    [TUNEKV__V1__USER_ROLE_OP__USER_DELETE] = "USER_DELETE",
    [TUNEKV__V1__USER_ROLE_OP__USER_PASSWD] = "USER_PASSWD",
    [TUNEKV__V1__USER_ROLE_OP__USER_GRANT_ROLE] = "USER_GRANT_ROLE",
    [TUNEKV__V1__USER_ROLE_OP__USER_REVOKE_ROLE] = "USER_REVOKE_ROLE",
    [TUNEKV__V1__USER_ROLE_OP__USER_LIST] = "USER_LIST",
    [TUNEKV__V1__USER_ROLE_OP__USER_GET] = "USER_GET",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_ADD] = "ROLE_ADD",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_DELETE] = "ROLE_DELETE",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_GRANT] = "ROLE_GRANT",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_REVOKE] = "ROLE_REVOKE",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_LIST] = "ROLE_LIST",
    [TUNEKV__V1__USER_ROLE_OP__ROLE_GET] = "ROLE_GET",
};

static bool rpc_users_is_listing(Tunekv__V1__UserRoleOp op)
{
        return op == TUNEKV__V1__USER_ROLE_OP__USER_LIST ||
               op == TUNEKV__V1__USER_ROLE_OP__USER_GET ||
               op == TUNEKV__V1__USER_ROLE_OP__ROLE_LIST ||
               op == TUNEKV__V1__USER_ROLE_OP__ROLE_GET;
}

static bool rpc_users_needs_secret(Tunekv__V1__UserRoleOp op)
{
        return op == TUNEKV__V1__USER_ROLE_OP__USER_ADD ||
               op == TUNEKV__V1__USER_ROLE_OP__USER_PASSWD;
}

/* A secret sent by the node that hashed it: iterations, salt, hash. */
static int rpc_users_secret_parse(const ProtobufCBinaryData *b, struct auth_secret *out)
{
        if (b->len != RPC_USERS_SECRET_BYTES) {
                return TKV_EINVAL;
        }
        out->iterations = get_le32(b->data);
        memcpy(out->salt, b->data + 4, AUTH_SALT_BYTES);
        memcpy(out->hash, b->data + 4 + AUTH_SALT_BYTES, AUTH_HASH_BYTES);
        return out->iterations >= AUTH_ITERATIONS_MIN && out->iterations <= AUTH_ITERATIONS_MAX
                   ? 0
                   : TKV_EINVAL;
}

/* Which names the operation needs: a user or role name, a role. */
static bool rpc_users_needs_name(Tunekv__V1__UserRoleOp op)
{
        return op != TUNEKV__V1__USER_ROLE_OP__USER_LIST &&
               op != TUNEKV__V1__USER_ROLE_OP__ROLE_LIST;
}

/* Fill ch from ur (borrowed); TKV_EINVAL with why filled if malformed. */
static int rpc_users_parse(const Tunekv__V1__UserRoleRequest *ur, struct rpc_users_change *ch,
                           const struct config *cfg, char *why, size_t len)
{
        bool grant_role = ur->op == TUNEKV__V1__USER_ROLE_OP__USER_GRANT_ROLE ||
                          ur->op == TUNEKV__V1__USER_ROLE_OP__USER_REVOKE_ROLE;

        memset(ch, 0, sizeof *ch);
        if ((unsigned)ur->op == 0 ||
            (unsigned)ur->op >= sizeof rpc_users_op_names / sizeof rpc_users_op_names[0]) {
                snprintf(why, len, "USER_ROLE: unknown op %d", (int)ur->op);
                return TKV_EINVAL;
        }
        ch->op = ur->op;
        ch->op_name = rpc_users_op_names[ur->op];
        if (rpc_users_needs_name(ur->op) && (ur->name == NULL || !auth_name_valid(ur->name))) {
                snprintf(why, len, "%s: a name is 1-63 letters, digits or ._-@", ch->op_name);
                return TKV_EINVAL;
        }
        snprintf(ch->name, sizeof ch->name, "%s", ur->name != NULL ? ur->name : "");
        if (grant_role && (ur->role == NULL || !auth_name_valid(ur->role))) {
                snprintf(why, len, "%s: a role name is 1-63 letters, digits or ._-@", ch->op_name);
                return TKV_EINVAL;
        }
        snprintf(ch->role, sizeof ch->role, "%s", grant_role ? ur->role : "");
        if (ur->op == TUNEKV__V1__USER_ROLE_OP__ROLE_GRANT &&
            (ur->permission == NULL || auth_perm_parse(ur->permission, &ch->perms) != 0)) {
                snprintf(why, len, "%s: permission must be read, write, readwrite or admin",
                         ch->op_name);
                return TKV_EINVAL;
        }
        if (ur->prefix.len > cfg->key_bytes_max) {
                snprintf(why, len, "%s: prefix longer than key_bytes_max", ch->op_name);
                return TKV_EINVAL;
        }
        ch->prefix = ur->prefix.data;
        ch->prefix_len = ur->prefix.len;
        if (ur->old_password.len > 0 &&
            (ur->op != TUNEKV__V1__USER_ROLE_OP__USER_PASSWD || ur->secret.len > 0 ||
             ur->old_password.len > AUTH_PASSWORD_BYTES_MAX)) {
                snprintf(why, len,
                         "%s: old_password goes with USER_PASSWD and a password only, and is at "
                         "most %u bytes",
                         ch->op_name, AUTH_PASSWORD_BYTES_MAX);
                return TKV_EINVAL;
        }
        ch->check_old = ur->old_password.len > 0;
        if (rpc_users_needs_secret(ur->op) && ur->secret.len > 0) {
                if (rpc_users_secret_parse(&ur->secret, &ch->secret) != 0) {
                        snprintf(why, len, "%s: malformed secret", ch->op_name);
                        return TKV_EINVAL;
                }
                ch->has_secret = true;
        } else if (rpc_users_needs_secret(ur->op) && ur->password.len > AUTH_PASSWORD_BYTES_MAX) {
                snprintf(why, len, "%s: a password is at most %u bytes", ch->op_name,
                         AUTH_PASSWORD_BYTES_MAX);
                return TKV_EINVAL;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Listings, from the local replica */

static int rpc_users_list(const struct rpc_users_change *ch, const struct auth_table *t,
                          Tunekv__V1__UserRoleResponse *ur, void **mem)
{
        bool users = ch->op == TUNEKV__V1__USER_ROLE_OP__USER_LIST;
        size_t n = users ? t->n_users + 1 : t->n_roles;
        char **names = tkv_calloc(n + 1, sizeof *names);

        if (names == NULL) {
                return TKV_ENOMEM;
        }
        if (users) {
                names[0] = AUTH_ROOT;
                for (unsigned i = 0; i < t->n_users; i++) {
                        names[i + 1] = (char *)t->users[i].name;
                }
        } else {
                for (unsigned i = 0; i < t->n_roles; i++) {
                        names[i] = (char *)t->roles[i].name;
                }
        }
        ur->names = names;
        ur->n_names = n;
        *mem = names;
        return 0;
}

static int rpc_users_role_get(const struct auth_role *r, Tunekv__V1__UserRoleResponse *ur,
                              void **mem)
{
        Tunekv__V1__Grant *grants = tkv_calloc(r->n_grants + 1, sizeof *grants);
        Tunekv__V1__Grant **ptrs = (Tunekv__V1__Grant **)tkv_calloc(r->n_grants + 1, sizeof *ptrs);

        if (grants == NULL || ptrs == NULL) {
                tkv_free(grants);
                tkv_free(ptrs);
                return TKV_ENOMEM;
        }
        for (unsigned i = 0; i < r->n_grants; i++) {
                tunekv__v1__grant__init(&grants[i]);
                grants[i].permission = (char *)auth_perm_name(r->grants[i].perms);
                grants[i].prefix.data = r->grants[i].prefix;
                grants[i].prefix.len = r->grants[i].prefix_len;
                ptrs[i] = &grants[i];
        }
        ur->grants = ptrs;
        ur->n_grants = r->n_grants;
        mem[0] = grants;
        mem[1] = ptrs;
        return 0;
}

static void rpc_users_answer_listing(struct call *c, const struct rpc_users_change *ch)
{
        const struct auth_table *t = rpc_auth_table(c->node);
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__UserRoleResponse ur = TUNEKV__V1__USER_ROLE_RESPONSE__INIT;
        const struct auth_user *u = auth_user_find(t, ch->name);
        const struct auth_role *r = auth_role_find(t, ch->name);
        void *mem[2] = {NULL, NULL};
        int rv = 0;

        if (ch->op == TUNEKV__V1__USER_ROLE_OP__USER_GET && u == NULL &&
            strcmp(ch->name, AUTH_ROOT) != 0) {
                call_answer_error(c, TKV_ENOTFOUND, "%s: no user %s", ch->op_name, ch->name);
                return;
        }
        if (ch->op == TUNEKV__V1__USER_ROLE_OP__ROLE_GET && r == NULL) {
                call_answer_error(c, TKV_ENOTFOUND, "%s: no role %s", ch->op_name, ch->name);
                return;
        }
        if (ch->op == TUNEKV__V1__USER_ROLE_OP__USER_GET && u != NULL) {
                mem[0] = tkv_calloc(u->n_roles + 1, sizeof(char *));
                for (unsigned i = 0; mem[0] != NULL && i < u->n_roles; i++) {
                        ((char **)mem[0])[i] = (char *)u->roles[i];
                }
                ur.roles = mem[0];
                ur.n_roles = u->n_roles;
                rv = mem[0] == NULL ? TKV_ENOMEM : 0;
        } else if (ch->op == TUNEKV__V1__USER_ROLE_OP__ROLE_GET) {
                rv = rpc_users_role_get(r, &ur, mem);
        } else if (ch->op != TUNEKV__V1__USER_ROLE_OP__USER_GET) {
                rv = rpc_users_list(ch, t, &ur, &mem[0]);
        }
        if (rv != 0) {
                call_answer_error(c, rv, "%s: out of memory", ch->op_name);
                return;
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_USER_ROLE;
        resp.user_role = &ur;
        call_answer(c, &resp);
        tkv_free(mem[0]);
        tkv_free(mem[1]);
}

/* ------------------------------------------------------------------------ */
/* Changes, at the system group's leader */

/* Apply ch to t. 0, or a TKV_E* code with why filled. */
static int rpc_users_apply(struct auth_table *t, const struct rpc_users_change *ch, char *why,
                           size_t len)
{
        bool root = strcmp(ch->name, AUTH_ROOT) == 0;
        int rv;

        switch (ch->op) {
        case TUNEKV__V1__USER_ROLE_OP__USER_ADD:
                rv = root || auth_user_find(t, ch->name) != NULL
                         ? TKV_EEXIST
                         : auth_user_set(t, ch->name, &ch->secret);
                break;
        case TUNEKV__V1__USER_ROLE_OP__USER_PASSWD:
                if (root) {
                        t->root = ch->secret;
                        t->root_set = true;
                        return 0;
                }
                rv = auth_user_find(t, ch->name) == NULL ? TKV_ENOTFOUND
                                                         : auth_user_set(t, ch->name, &ch->secret);
                break;
        case TUNEKV__V1__USER_ROLE_OP__USER_DELETE:
                rv = root ? TKV_EINVAL : auth_user_delete(t, ch->name);
                break;
        case TUNEKV__V1__USER_ROLE_OP__USER_GRANT_ROLE:
                rv = root ? TKV_EINVAL : auth_user_grant_role(t, ch->name, ch->role);
                break;
        case TUNEKV__V1__USER_ROLE_OP__USER_REVOKE_ROLE:
                rv = root ? TKV_EINVAL : auth_user_revoke_role(t, ch->name, ch->role);
                break;
        case TUNEKV__V1__USER_ROLE_OP__ROLE_ADD:
                rv = auth_role_add(t, ch->name);
                break;
        case TUNEKV__V1__USER_ROLE_OP__ROLE_DELETE:
                rv = auth_role_delete(t, ch->name);
                break;
        case TUNEKV__V1__USER_ROLE_OP__ROLE_GRANT:
                rv = auth_role_grant(t, ch->name, ch->perms, ch->prefix, ch->prefix_len);
                break;
        case TUNEKV__V1__USER_ROLE_OP__ROLE_REVOKE:
                rv = auth_role_revoke(t, ch->name, ch->prefix, ch->prefix_len);
                break;
        default:
                rv = TKV_EINVAL;
                break;
        }
        snprintf(why, len, "%s: %s", ch->op_name,
                 rv == TKV_EEXIST      ? "it exists already"
                 : rv == TKV_ENOTFOUND ? "no such user, role, or grant"
                 : rv == TKV_EINVAL && root
                     ? "root always exists and has every permission; only its password changes"
                     : err_str(rv));
        return rv;
}

static void rpc_users_written(struct group_write *w, int status, const struct command_result *res)
{
        struct call *c = QUEUE_DATA(w, struct call, op.write);
        const char *name = c->method->name;

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, name);
        } else if (status != 0) {
                call_answer_error(c, status, "%s: %s", name,
                                  status == TKV_EUNKNOWN ? "leadership changed before the change "
                                                           "was acknowledged"
                                                         : err_str(status));
        } else if (res->status == TKV_ECONDITION) {
                call_answer_error(c, TKV_EBUSY,
                                  "%s: the users and roles changed at the same time; retry", name);
        } else if (res->status != 0) {
                call_answer_error(c, TKV_EIO, "%s: the change could not be applied", name);
        } else {
                Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
                call_answer(c, &resp);
        }
}

/* The current record as a table (empty if none), and its version. */
static int rpc_users_current(struct group *g, struct auth_table **t, uint64_t *version)
{
        const struct store_entry *e =
            store_get(group_store(g), RPC_AUTH_KEY, sizeof RPC_AUTH_KEY - 1);

        *version = e != NULL ? store_entry_mod_index(e) : 0;
        if (e == NULL) {
                *t = auth_table_create();
                return *t != NULL ? 0 : TKV_ENOMEM;
        }
        return auth_table_decode(store_entry_value(e), store_entry_value_len(e), t);
}

/* Propose ch as a CAS of the record on g, which this node leads. */
static void rpc_users_propose(struct call *c, struct group *g, const struct rpc_users_change *ch)
{
        struct auth_table *t = NULL;
        struct command cmd = {0};
        uint8_t *bytes = NULL;
        size_t len = 0;
        char why[200];
        int rv = rpc_users_current(g, &t, &cmd.expected_version);

        if (rv != 0) {
                call_answer_error(c, TKV_EIO, "%s: the stored users and roles cannot be read (%s)",
                                  ch->op_name, err_str(rv));
                goto cleanup;
        }
        rv = rpc_users_apply(t, ch, why, sizeof why);
        if (rv != 0) {
                call_answer_error(c, rv == TKV_EEXIST ? TKV_EINVAL : rv, "%s", why);
                goto cleanup;
        }
        if (auth_table_encode(t, &bytes, &len) != 0 || len > UINT32_MAX) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", ch->op_name);
                goto cleanup;
        }
        cmd.type = COMMAND_CAS;
        cmd.key = (const uint8_t *)RPC_AUTH_KEY;
        cmd.key_len = sizeof RPC_AUTH_KEY - 1;
        cmd.value = bytes;
        cmd.value_len = cmd.value_raw_len = (uint32_t)len;
        c->group = g;
        c->partition = c->node->n_partitions;
        rv = group_propose(g, &c->op.write, &cmd, rpc_users_written);
        if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, ch->op_name);
        } else if (rv != 0) {
                call_answer_error(c, rv, "%s: %s", ch->op_name, err_str(rv));
        } else {
                c->stage = CALL_WRITE;
        }
cleanup:
        tkv_free(bytes);
        auth_table_destroy(t);
}

/* Send ch to leader, with the hashed secret rather than any password. */
static void rpc_users_forward(struct call *c, const struct rpc_users_change *ch, unsigned leader)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__UserRoleRequest ur = TUNEKV__V1__USER_ROLE_REQUEST__INIT;
        uint8_t secret[RPC_USERS_SECRET_BYTES];

        req.id = c->id;
        req.body_case = TUNEKV__V1__REQUEST__BODY_USER_ROLE;
        req.user_role = &ur;
        ur.op = ch->op;
        ur.name = (char *)ch->name;
        ur.role = (char *)ch->role;
        ur.permission = ch->perms != 0 ? (char *)auth_perm_name(ch->perms) : "";
        ur.prefix.data = (uint8_t *)ch->prefix;
        ur.prefix.len = ch->prefix_len;
        if (ch->has_secret) {
                put_le32(secret, ch->secret.iterations);
                memcpy(secret + 4, ch->secret.salt, AUTH_SALT_BYTES);
                memcpy(secret + 4 + AUTH_SALT_BYTES, ch->secret.hash, AUTH_HASH_BYTES);
                ur.secret.data = secret;
                ur.secret.len = sizeof secret;
        }
        rpc_forward(c, &req, leader);
}

/* Carry a change out: here when this node leads the system group, else
 * at its leader; from a node without a replica of it, through a node with
 * one (which takes it to the leader: a second hop). */
static void rpc_users_change(struct call *c, const struct rpc_users_change *ch, bool no_forward)
{
        struct group *g = c->node->meta_group;
        uint64_t leader;

        if (g == NULL) {
                unsigned via = node_meta_member(c->node, 0);
                if (no_forward || via == 0) {
                        call_answer_error(c, TKV_ESHUTDOWN,
                                          "%s: node %u holds no replica of the metadata group "
                                          "(users and roles) and knows none that does",
                                          ch->op_name, c->node->cfg->node_id);
                } else {
                        rpc_users_forward(c, ch, via);
                }
                return;
        }
        leader = group_leader_id(g);
        no_forward = no_forward && !rpc_member_from_joined(c);
        c->group = g;
        if (group_is_leader(g)) {
                rpc_users_propose(c, g, ch);
        } else if (leader == 0) {
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "%s: the system group (users and roles) has no leader yet",
                                  ch->op_name);
        } else if (no_forward) {
                call_answer_not_leader(c, ch->op_name);
        } else {
                rpc_users_forward(c, ch, (unsigned)leader);
        }
}

/* ------------------------------------------------------------------------ */
/* Hashing a new password, off the loop */

static void rpc_users_hash_work(uv_work_t *req)
{
        struct rpc_users_hash *h = (struct rpc_users_hash *)req;

        if (h->ch.check_old) {
                h->old_ok = auth_secret_check(&h->old, h->old_password, h->old_password_len);
                if (!h->old_ok) {
                        return;
                }
        }
        h->rv = auth_secret_make(&h->ch.secret, h->password, h->password_len, h->iterations);
}

/* The hashing of h is done and its old password, if any, was right: c
 * stays authenticated when it changed its own user's password. */
static void rpc_users_keep_session(struct call *c, const struct rpc_users_hash *h)
{
        struct conn *conn = c->conn;

        if (h->ch.check_old && !conn_is_link(conn) && strcmp(conn->auth_user, h->ch.name) == 0) {
                memcpy(conn->auth_salt_next, h->ch.secret.salt, AUTH_SALT_BYTES);
                conn->auth_salt_next_set = true;
        }
}

static void rpc_users_hash_done(uv_work_t *req, int status)
{
        struct rpc_users_hash *h = (struct rpc_users_hash *)req;
        struct call *c = h->c;

        h->node->auth.in_flight--;
        OPENSSL_cleanse(h->password, sizeof h->password);
        OPENSSL_cleanse(h->old_password, sizeof h->old_password);
        if (c != NULL) {
                c->stage = CALL_NEW;
                if (status != 0 || h->rv != 0) {
                        call_answer_error(c, status != 0 ? TKV_ESHUTDOWN : TKV_EIO,
                                          "%s: cannot hash the password", h->ch.op_name);
                } else if (h->ch.check_old && !h->old_ok) {
                        rpc_auth_log_failure(&h->node->auth, c->conn, h->ch.op_name, h->ch.name);
                        call_answer_error(c, TKV_EPERM, "%s: wrong old password for user \"%s\"",
                                          h->ch.op_name, h->ch.name);
                } else {
                        h->ch.has_secret = true;
                        rpc_users_keep_session(c, h);
                        rpc_users_change(c, &h->ch, false);
                }
        }
        OPENSSL_cleanse(h, sizeof *h);
        tkv_free(h);
}

void rpc_users_abandon(struct call *c)
{
        struct rpc_users_hash *h = c->op.hashing;
        h->c = NULL;
}

/* Hash ur's password for ch, then carry the change out. */
static void rpc_users_hash(struct call *c, const Tunekv__V1__UserRoleRequest *ur,
                           const struct rpc_users_change *ch)
{
        struct node *node = c->node;
        struct rpc_users_hash *h;

        if (node->auth.in_flight >= node->cfg->auth_in_flight_max) {
                node->stats.answers_busy++;
                call_answer_error(c, TKV_EBUSY,
                                  "%s: %u passwords being hashed on this node (auth_in_flight_max)",
                                  ch->op_name, node->auth.in_flight);
                return;
        }
        h = tkv_calloc(1, sizeof *h);
        if (h == NULL) {
                call_answer_error(c, TKV_ENOMEM, "%s: out of memory", ch->op_name);
                return;
        }
        h->c = c;
        h->node = node;
        h->ch = *ch;
        h->ch.prefix = NULL; /* borrowed from the request; not needed here */
        h->ch.prefix_len = 0;
        h->iterations = node->cfg->kdf_iterations;
        h->password_len = ur->password.len;
        if (ur->password.len > 0) {
                memcpy(h->password, ur->password.data, ur->password.len);
        }
        if (ch->check_old) {
                h->old = rpc_auth_secret_of(node, ch->name);
                h->old_password_len = ur->old_password.len;
                memcpy(h->old_password, ur->old_password.data, ur->old_password.len);
        }
        if (uv_queue_work(node->loop, &h->req, rpc_users_hash_work, rpc_users_hash_done) != 0) {
                OPENSSL_cleanse(h, sizeof *h);
                tkv_free(h);
                call_answer_error(c, TKV_EIO, "%s: cannot queue the hashing", ch->op_name);
                return;
        }
        node->auth.in_flight++;
        c->op.hashing = h;
        c->stage = CALL_HASHING;
}

void rpc_users_request(struct call *c, const Tunekv__V1__Request *req)
{
        struct node *node = c->node;
        struct rpc_users_change ch;
        char why[160];

        if (!node->auth.enabled) {
                call_answer_error(c, TKV_EINVAL,
                                  "USER_ROLE: [auth] enabled = 0 on this node: there are no users");
                return;
        }
        if (!rpc_auth_users_known(node)) {
                call_answer_error(c, TKV_ESHUTDOWN,
                                  "USER_ROLE: node %u has not learned the users from the metadata "
                                  "group yet",
                                  node->cfg->node_id);
                return;
        }
        if (rpc_users_parse(req->user_role, &ch, node->cfg, why, sizeof why) != 0) {
                call_answer_error(c, TKV_EINVAL, "%s", why);
                return;
        }
        if (rpc_users_is_listing(ch.op)) {
                rpc_users_answer_listing(c, &ch);
        } else if (rpc_users_needs_secret(ch.op) && !ch.has_secret) {
                rpc_users_hash(c, req->user_role, &ch);
        } else {
                rpc_users_change(c, &ch, req->no_forward);
        }
}
