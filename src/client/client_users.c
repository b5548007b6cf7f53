/* tkv_user_role: user and role management (include/tunekv.h).
 *
 * Rare, operator-driven requests, so they take the simplest path: a
 * connection of their own to the first endpoint that accepts one (AUTH
 * first, as on every link), one request, its answer, close. The node that
 * receives it hashes a new password and hands the change to the leader of
 * the users and roles; nothing is retried here (a change that timed out
 * may have happened: list to find out). */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "heap.h"
#include "pballoc.h"
#include "tunekv.pb-c.h"

/* Bytes of a copy of n strings (pointers and text). */
static size_t client_users_strings_bytes(char **s, size_t n)
{
        size_t bytes = n * sizeof(char *);
        for (size_t i = 0; i < n; i++) {
                bytes += strlen(s[i]) + 1;
        }
        return bytes;
}

/* Copy n strings into mem; returns the array, *end past what was used. */
static char **client_users_strings_copy(char **s, size_t n, uint8_t *mem, uint8_t **end)
{
        char **out = (char **)(void *)mem;
        char *text = (char *)(mem + n * sizeof(char *));

        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(s[i]) + 1;
                memcpy(text, s[i], len);
                out[i] = text;
                text += len;
        }
        *end = (uint8_t *)text;
        return out;
}

static size_t client_users_grants_bytes(Tunekv__V1__Grant **g, size_t n)
{
        size_t bytes = n * sizeof(struct tkv_grant);
        for (size_t i = 0; i < n; i++) {
                bytes += strlen(g[i]->permission) + 1 + g[i]->prefix.len;
        }
        return bytes;
}

static struct tkv_grant *client_users_grants_copy(Tunekv__V1__Grant **g, size_t n, uint8_t *mem)
{
        struct tkv_grant *out = (struct tkv_grant *)(void *)mem;
        uint8_t *p = mem + n * sizeof(struct tkv_grant);

        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(g[i]->permission) + 1;
                memcpy(p, g[i]->permission, len);
                out[i].permission = (const char *)p;
                p += len;
                if (g[i]->prefix.len > 0) {
                        memcpy(p, g[i]->prefix.data, g[i]->prefix.len);
                }
                out[i].prefix = p;
                out[i].prefix_len = g[i]->prefix.len;
                p += g[i]->prefix.len;
        }
        return out;
}

/* Copy what the answer lists into out (one block). */
static int client_users_fill(const Tunekv__V1__UserRoleResponse *ur,
                             struct tkv_user_role_result *out)
{
        size_t sizes[3];
        uint8_t *mem;
        uint8_t *end;

        sizes[0] = client_users_strings_bytes(ur->names, ur->n_names);
        sizes[1] = client_users_strings_bytes(ur->roles, ur->n_roles);
        sizes[2] = client_users_grants_bytes(ur->grants, ur->n_grants);
        /* Grants first: their pointer-sized fields want alignment. */
        mem = tkv_malloc(sizes[0] + sizes[1] + sizes[2] + 2 * sizeof(char *));
        if (mem == NULL) {
                return TKV_NO_MEMORY;
        }
        out->mem = mem;
        out->grants = client_users_grants_copy(ur->grants, ur->n_grants, mem);
        out->n_grants = ur->n_grants;
        end = mem + ((sizes[2] + sizeof(char *) - 1) / sizeof(char *)) * sizeof(char *);
        out->names = client_users_strings_copy(ur->names, ur->n_names, end, &end);
        out->n_names = ur->n_names;
        end = (uint8_t *)(((uintptr_t)end + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1));
        out->roles = client_users_strings_copy(ur->roles, ur->n_roles, end, &end);
        out->n_roles = ur->n_roles;
        return TKV_OK;
}

static const Tunekv__V1__UserRoleOp client_users_ops[] = {
    [TKV_USER_ADD] = TUNEKV__V1__USER_ROLE_OP__USER_ADD,
    [TKV_USER_DELETE] = TUNEKV__V1__USER_ROLE_OP__USER_DELETE,
    [TKV_USER_PASSWD] = TUNEKV__V1__USER_ROLE_OP__USER_PASSWD,
    [TKV_USER_GRANT_ROLE] = TUNEKV__V1__USER_ROLE_OP__USER_GRANT_ROLE,
    [TKV_USER_REVOKE_ROLE] = TUNEKV__V1__USER_ROLE_OP__USER_REVOKE_ROLE,
    [TKV_USER_LIST] = TUNEKV__V1__USER_ROLE_OP__USER_LIST,
    [TKV_USER_GET] = TUNEKV__V1__USER_ROLE_OP__USER_GET,
    [TKV_ROLE_ADD] = TUNEKV__V1__USER_ROLE_OP__ROLE_ADD,
    [TKV_ROLE_DELETE] = TUNEKV__V1__USER_ROLE_OP__ROLE_DELETE,
    [TKV_ROLE_GRANT] = TUNEKV__V1__USER_ROLE_OP__ROLE_GRANT,
    [TKV_ROLE_REVOKE] = TUNEKV__V1__USER_ROLE_OP__ROLE_REVOKE,
    [TKV_ROLE_LIST] = TUNEKV__V1__USER_ROLE_OP__ROLE_LIST,
    [TKV_ROLE_GET] = TUNEKV__V1__USER_ROLE_OP__ROLE_GET,
};

/* The request's frame into out. */
static int client_users_encode(struct buffer *out, const struct tkv_user_role_request *r,
                               unsigned timeout_ms)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__UserRoleRequest ur = TUNEKV__V1__USER_ROLE_REQUEST__INIT;

        msg.id = 1;
        msg.timeout_ms = timeout_ms;
        msg.body_case = TUNEKV__V1__REQUEST__BODY_USER_ROLE;
        msg.user_role = &ur;
        ur.op = client_users_ops[r->op];
        ur.name = (char *)(r->name != NULL ? r->name : "");
        ur.role = (char *)(r->role != NULL ? r->role : "");
        ur.permission = (char *)(r->permission != NULL ? r->permission : "");
        ur.password.data = (uint8_t *)(r->password != NULL ? r->password : "");
        ur.password.len = r->password != NULL ? strlen(r->password) : 0;
        ur.old_password.data = (uint8_t *)(r->old_password != NULL ? r->old_password : "");
        ur.old_password.len = r->old_password != NULL ? strlen(r->old_password) : 0;
        ur.prefix.data = (uint8_t *)(r->prefix != NULL ? r->prefix : "");
        ur.prefix.len = r->prefix != NULL ? r->prefix_len : 0;
        return codec_frame_request(out, &msg);
}

/* The answer in body: status, message and what it lists, into out. */
static int client_users_decode(const uint8_t *body, size_t len, struct tkv_user_role_result *out)
{
        struct pballoc pb;
        Tunekv__V1__Response *resp;
        int rv = TKV_OK;

        resp =
            codec_unpack_oneshot(&pb, body, len, &out->status, out->message, sizeof(out->message));
        if (resp == NULL) {
                return TKV_PROTOCOL_ERROR;
        }
        if (out->status == TKV_OK && resp->body_case == TUNEKV__V1__RESPONSE__BODY_USER_ROLE) {
                rv = client_users_fill(resp->user_role, out);
        }
        tunekv__v1__response__free_unpacked(resp, &pb.base);
        return rv != TKV_OK ? rv : out->status;
}

static int client_users_decode_cb(void *arg, const uint8_t *body, size_t len)
{
        return client_users_decode(body, len, arg);
}

/* Send frame to endpoint e (client_oneshot) and take the answer.
 * TKV_CONNECT_FAILED: try the next endpoint. */
static int client_users_at(struct tkv_client *c, const struct client_endpoint *e,
                           const struct buffer *frame, struct tkv_user_role_result *out)
{
        return client_oneshot(c, e, frame, client_users_decode_cb, out, out->message,
                              sizeof(out->message));
}

/* The client changed its own user's password (old_password given): every
 * later AUTH uses the new one, and idle links close, so that they
 * reconnect with it before the server refuses them UNAUTHENTICATED (it
 * does for every connection but the one that made the change). Links
 * with requests on them keep them; their next request may be refused. */
static void client_users_adopt(struct tkv_client *c, const struct tkv_user_role_request *req)
{
        char user[sizeof(c->user)];

        if (req->op != TKV_USER_PASSWD || req->old_password == NULL || req->name == NULL ||
            strcmp(req->name, c->user) != 0) {
                return;
        }
        snprintf(user, sizeof(user), "%s", c->user);
        client_auth_forget(c);
        if (client_auth_configure(c, user, req->password) != TKV_OK) {
                return; /* the next AUTH fails, and says why */
        }
        for (size_t i = 0; i < c->n_peers; i++) {
                struct client_peer *p = c->peers[i];

                if (link_is_open(&p->link) && p->n_inflight == 0 && p->n_queued == 0) {
                        client_peer_close(c, p);
                }
        }
}

int tkv_user_role(struct tkv_client *c, const struct tkv_user_role_request *req,
                  struct tkv_user_role_result *out)
{
        struct buffer frame;
        int rv = TKV_CONNECT_FAILED;

        if (out == NULL) {
                return TKV_USAGE_ERROR;
        }
        memset(out, 0, sizeof(*out));
        if (c == NULL || req == NULL || (unsigned)req->op < TKV_USER_ADD ||
            (unsigned)req->op > TKV_ROLE_GET) {
                snprintf(out->message, sizeof(out->message), "bad arguments");
                out->status = TKV_USAGE_ERROR;
                return TKV_USAGE_ERROR;
        }
        buffer_init(&frame);
        rv = client_users_encode(&frame, req, c->timeout_ms);
        for (unsigned i = 0; rv != TKV_USAGE_ERROR && rv != TKV_NO_MEMORY && i < c->n_endpoints;
             i++) {
                rv = client_users_at(c, &c->peers[i]->addr, &frame, out);
                if (rv != TKV_CONNECT_FAILED) {
                        break;
                }
        }
        buffer_free(&frame);
        out->status = rv;
        if (rv == TKV_OK) {
                client_users_adopt(c, req);
        } else {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", out->message);
        }
        return rv;
}

void tkv_user_role_release(struct tkv_user_role_result *r)
{
        if (r != NULL) {
                tkv_free(r->mem);
                memset(r, 0, sizeof(*r));
        }
}
