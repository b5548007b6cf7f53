/* AUTH and the permission check (rpc_auth.h).
 *
 * Normal path: a client connects and sends AUTH {user, password}.
 * rpc_auth_start copies the user's stored secret and the password into a
 * work item and queues it on the libuv threadpool, where the password is
 * hashed (PBKDF2, tens of milliseconds on purpose); back on the loop the
 * hash is compared in constant time, the connection remembers the user's
 * name and the answer is OK. Every later request on the connection passes
 * rpc_auth_admit, which looks the user's permissions up in the current
 * table: a revoke applies to connections already open.
 *
 * Failure modes, each answered and none blocking the loop: AUTH with auth
 * off (OK, nothing to check), from a node link (INVALID_ARGUMENT), while
 * another AUTH of the connection is hashing (BUSY), beyond
 * auth_in_flight_max node-wide (BUSY: a flood of AUTHs may occupy that
 * many threadpool threads, never more, and the others keep writing the
 * Raft logs), a wrong user or password (UNAUTHENTICATED, logged with the
 * client's address at most once a second; an unknown user costs the same
 * hashing as a known one, so timing does not tell names apart), the
 * connection closed while hashing (the result is dropped). Passwords are
 * never logged, and wiped from the work item after use. */
#include "rpc_auth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "log.h"
#include "node.h"
#include "rpc_internal.h"
#include "store.h"

/* Failures logged at most this often, with a count of those not logged. */
#define RPC_AUTH_LOG_PERIOD_MS 1000

int rpc_auth_init(struct auth_state *a, const struct config *cfg, char *errmsg)
{
        int rv;

        memset(a, 0, sizeof *a);
        a->enabled = cfg->auth_enabled != 0;
        a->table = auth_table_create();
        if (a->table == NULL) {
                err_msgf(errmsg, "auth: out of memory");
                return TKV_ENOMEM;
        }
        if (!a->enabled) {
                return 0;
        }
        rv = auth_secret_make(&a->root, cfg->root_password, strlen(cfg->root_password),
                              cfg->kdf_iterations);
        if (rv == 0) {
                rv = auth_secret_make(&a->nobody, "", 0, cfg->kdf_iterations);
        }
        if (rv != 0) {
                err_msgf(errmsg, "auth: cannot hash root's password: %s", err_str(rv));
        }
        return rv;
}

bool rpc_auth_record(struct node *node, const uint8_t **data, size_t *len, uint64_t *version)
{
        const struct store_entry *e;

        if (!node->auth.enabled || node->meta_group == NULL) {
                return false;
        }
        e = store_get(group_store(node->meta_group), RPC_AUTH_KEY, sizeof RPC_AUTH_KEY - 1);
        *data = e != NULL ? store_entry_value(e) : NULL;
        *len = e != NULL ? store_entry_value_len(e) : 0;
        *version = e != NULL ? store_entry_mod_index(e) : 0;
        return true;
}

void rpc_auth_learn(struct node *node, const uint8_t *data, size_t len, uint64_t version)
{
        struct auth_state *a = &node->auth;
        uint8_t *copy;

        a->learned_once = true;
        if (version <= a->learned_version) {
                return;
        }
        copy = tkv_malloc(len > 0 ? len : 1);
        if (copy == NULL) {
                return; /* the next answer brings it again */
        }
        memcpy(copy, data, len);
        LOGI(-1, "auth: users and roles learned from the metadata group (version %llu, %zu bytes)",
             (unsigned long long)version, len);
        if (a->learned != NULL) {
                OPENSSL_cleanse(a->learned, a->learned_len);
        }
        tkv_free(a->learned);
        a->learned = copy;
        a->learned_len = len;
        a->learned_version = version;
}

bool rpc_auth_users_known(const struct node *node)
{
        return !node->auth.enabled || node->meta_group != NULL || node->auth.learned_once ||
               node->auth.table_version != 0;
}

struct auth_table *rpc_auth_table(struct node *node)
{
        struct auth_state *a = &node->auth;
        const uint8_t *data = NULL;
        size_t len = 0;
        struct auth_table *t = NULL;
        uint64_t version = 0;
        int rv;

        if (!a->enabled) {
                return a->table;
        }
        /* The newest record this node has: its metadata replica's, or the
         * one a replica sent it. Versions only grow (the record is changed,
         * never deleted), so an older one (a metadata replica that just
         * moved here, still catching up) never replaces a newer one. */
        if (!rpc_auth_record(node, &data, &len, &version) || version < a->learned_version) {
                data = a->learned;
                len = a->learned_len;
                version = a->learned_version;
        }
        if (version <= a->table_version) {
                return a->table;
        }
        /* A new version was applied here, restored from a snapshot, or
         * learned: decode it once; every check until the next change
         * reuses it. */
        rv = data != NULL                        ? auth_table_decode(data, len, &t)
             : (t = auth_table_create()) != NULL ? 0
                                                 : TKV_ENOMEM;
        if (rv != 0) {
                LOGE(-1,
                     "auth: the users and roles at index %llu cannot be read (%s): still "
                     "enforcing the previous ones",
                     (unsigned long long)version, err_str(rv));
                if (rv != TKV_ENOMEM) {
                        a->table_version = version; /* logged once, not per request */
                }
                return a->table;
        }
        auth_table_destroy(a->table);
        a->table = t;
        a->table_version = version;
        return t;
}

void rpc_auth_close(struct auth_state *a)
{
        auth_table_destroy(a->table);
        a->table = NULL;
        if (a->learned != NULL) {
                OPENSSL_cleanse(a->learned, a->learned_len);
        }
        tkv_free(a->learned);
        a->learned = NULL;
        OPENSSL_cleanse(&a->root, sizeof a->root);
}

/* One AUTH being hashed on the threadpool. */
struct rpc_auth_work {
        uv_work_t req;             /* data unused: container_of */
        struct conn *conn;         /* referenced until the answer */
        struct auth_state *auth;   /* the node's */
        uint64_t id;               /* the request's */
        struct auth_secret secret; /* copied: the table may change meanwhile */
        char user[AUTH_NAME_BYTES];
        uint8_t password[AUTH_PASSWORD_BYTES_MAX];
        size_t password_len;
        bool ok; /* written by the threadpool, read after it */
};

static void rpc_auth_answer(struct conn *conn, uint64_t id, int tkv_err, const char *message)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;

        resp.id = id;
        resp.status = call_status_of(tkv_err);
        resp.message = (char *)(tkv_err != 0 ? message : "");
        call_send(conn, &resp);
}

/* "a.b.c.d:port" of the client, for the failure log. */
static void rpc_auth_peer_name(struct conn *conn, char *out, size_t len)
{
        struct sockaddr_storage sa;
        int sa_len = sizeof sa;
        char ip[64] = "?";
        int port = 0;

        if (uv_tcp_getpeername(conn->tcp, (struct sockaddr *)&sa, &sa_len) == 0) {
                if (sa.ss_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
                        uv_ip4_name(in, ip, sizeof ip);
                        port = ntohs(in->sin_port);
                } else if (sa.ss_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
                        uv_ip6_name(in6, ip, sizeof ip);
                        port = ntohs(in6->sin6_port);
                }
        }
        snprintf(out, len, "%s:%d", ip, port);
}

void rpc_auth_log_failure(struct auth_state *a, struct conn *conn, const char *op, const char *user)
{
        uint64_t now = uv_now(((struct node *)conn->set->data)->loop);
        char from[96];

        a->failures++;
        if (a->logged_ms != 0 && now - a->logged_ms < RPC_AUTH_LOG_PERIOD_MS) {
                a->unlogged++;
                return;
        }
        rpc_auth_peer_name(conn, from, sizeof from);
        LOGW(-1,
             "auth: %s as \"%s\" from %s refused: wrong user or password (%llu more "
             "refused since the last line)",
             op, user, from, (unsigned long long)a->unlogged);
        a->logged_ms = now;
        a->unlogged = 0;
}

static void rpc_auth_work(uv_work_t *req)
{
        struct rpc_auth_work *w = (struct rpc_auth_work *)req;

        w->ok = auth_secret_check(&w->secret, w->password, w->password_len);
}

static void rpc_auth_done(uv_work_t *req, int status)
{
        struct rpc_auth_work *w = (struct rpc_auth_work *)req;
        struct conn *conn = w->conn;
        struct auth_state *a = w->auth;
        bool ok = status == 0 && w->ok;

        a->in_flight--;
        conn->auth_pending = false;
        if (!conn->closing) {
                if (ok) {
                        memcpy(conn->auth_user, w->user, sizeof conn->auth_user);
                        memcpy(conn->auth_salt, w->secret.salt, AUTH_SALT_BYTES);
                        conn->auth_salt_next_set = false;
                        a->successes++;
                        rpc_auth_answer(conn, w->id, 0, NULL);
                } else {
                        /* A failed AUTH also ends the identity it replaces:
                         * whoever sent it is not known to be that user. */
                        conn->auth_user[0] = '\0';
                        rpc_auth_log_failure(a, conn, "AUTH", w->user);
                        rpc_auth_answer(conn, w->id, status == 0 ? TKV_EAUTH : TKV_ESHUTDOWN,
                                        status == 0 ? "AUTH: wrong user name or password"
                                                    : "AUTH: node shutting down");
                }
        }
        conn_unref(conn);
        OPENSSL_cleanse(w->password, sizeof w->password);
        tkv_free(w);
}

struct auth_secret rpc_auth_secret_of(struct node *node, const char *user)
{
        struct auth_table *table = rpc_auth_table(node);
        const struct auth_user *u = auth_user_find(table, user);
        struct auth_secret s;

        if (strcmp(user, AUTH_ROOT) == 0) {
                return table->root_set ? table->root : node->auth.root;
        }
        if (u != NULL) {
                return u->secret;
        }
        s = node->auth.nobody;
        s.hash[0] ^= 1; /* never matches, costs the same */
        return s;
}

/* Why AUTH cannot start on conn now (message filled), or 0. */
static int rpc_auth_refuse(struct conn *conn, const Tunekv__V1__AuthRequest *ar, char *message,
                           size_t len)
{
        struct node *node = conn->set->data;

        if (conn_is_link(conn)) {
                snprintf(message, len, "AUTH is for client connections, not node links");
                return TKV_EINVAL;
        }
        if (node->state != NODE_SERVING) {
                snprintf(message, len, "node is %s",
                         node->state == NODE_STARTING ? "starting" : "shutting down");
                return TKV_ESHUTDOWN;
        }
        if (conn->auth_pending) {
                snprintf(message, len, "AUTH: another AUTH is in progress on this connection");
                return TKV_EBUSY;
        }
        if (!rpc_auth_users_known(node) && ar->user != NULL && strcmp(ar->user, AUTH_ROOT) != 0) {
                snprintf(message, len,
                         "AUTH: node %u has not learned the users from the metadata group yet",
                         node->cfg->node_id);
                return TKV_ESHUTDOWN;
        }
        if (ar->user == NULL || !auth_name_valid(ar->user) ||
            ar->password.len > AUTH_PASSWORD_BYTES_MAX) {
                snprintf(message, len,
                         "AUTH: a user name is 1-63 letters, digits or ._-@, a password at most "
                         "%u bytes",
                         AUTH_PASSWORD_BYTES_MAX);
                return TKV_EINVAL;
        }
        if (node->auth.in_flight >= node->cfg->auth_in_flight_max) {
                node->stats.answers_busy++;
                snprintf(message, len,
                         "AUTH: %u AUTHs in progress on this node (auth_in_flight_max)",
                         node->auth.in_flight);
                return TKV_EBUSY;
        }
        return 0;
}

void rpc_auth_start(struct conn *conn, const Tunekv__V1__Request *req)
{
        struct node *node = conn->set->data;
        struct auth_state *a = &node->auth;
        const Tunekv__V1__AuthRequest *ar = req->auth;
        struct rpc_auth_work *w;
        char message[160];
        int rv;

        if (!a->enabled && !conn_is_link(conn)) {
                rpc_auth_answer(conn, req->id, 0, NULL); /* nothing to check */
                return;
        }
        rv = rpc_auth_refuse(conn, ar, message, sizeof message);
        if (rv != 0) {
                rpc_auth_answer(conn, req->id, rv, message);
                return;
        }
        w = tkv_calloc(1, sizeof *w);
        if (w == NULL) {
                rpc_auth_answer(conn, req->id, TKV_ENOMEM, "AUTH: out of memory");
                return;
        }
        w->conn = conn;
        w->auth = a;
        w->id = req->id;
        snprintf(w->user, sizeof w->user, "%s", ar->user);
        memcpy(w->password, ar->password.data, ar->password.len);
        w->password_len = ar->password.len;
        w->secret = rpc_auth_secret_of(node, ar->user);
        if (uv_queue_work(node->loop, &w->req, rpc_auth_work, rpc_auth_done) != 0) {
                OPENSSL_cleanse(w->password, sizeof w->password);
                tkv_free(w);
                rpc_auth_answer(conn, req->id, TKV_EIO, "AUTH: cannot queue the work");
                return;
        }
        a->in_flight++;
        conn->auth_pending = true;
        conn_ref(conn);
}

/* What the request asks of its user: one enum auth_perm, or 0 for what
 * any authenticated user may do (CLUSTER_INFO: clients need the layout to
 * route). Anything not listed is admin, so a new request type is closed
 * until someone decides otherwise. */
static unsigned rpc_auth_perm_of(const Tunekv__V1__Request *req)
{
        switch (req->body_case) {
        case TUNEKV__V1__REQUEST__BODY_GET:
                return AUTH_READ;
        case TUNEKV__V1__REQUEST__BODY_PUT:
        case TUNEKV__V1__REQUEST__BODY_DELETE:
        case TUNEKV__V1__REQUEST__BODY_CAS:
                return AUTH_WRITE;
        case TUNEKV__V1__REQUEST__BODY_WATCH:
                return AUTH_READ; /* on its key or prefix: rpc_auth_admit */
        case TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO:
        case TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL: /* the connection's own streams */
                return 0;
        default:
                return AUTH_ADMIN;
        }
}

/* Is the password conn proved still its user's? A connection names its
 * user, so without this one AUTHed before the user was deleted would act
 * as whoever is later given the same name; and a password changed because
 * it leaked would not shut out those who used it. Every password has its
 * own salt, so comparing salts tells. The one exception is the connection
 * that changed its own user's password by proving the old one: it knows
 * the new password, so the new salt (auth_salt_next) counts as proved once
 * this node's replica holds it. */
static bool rpc_auth_current(const struct auth_state *a, struct conn *conn,
                             const struct auth_table *t)
{
        const struct auth_user *u;
        const uint8_t *salt;

        if (strcmp(conn->auth_user, AUTH_ROOT) == 0) {
                salt = t->root_set ? t->root.salt : a->root.salt;
        } else if ((u = auth_user_find(t, conn->auth_user)) != NULL) {
                salt = u->secret.salt;
        } else {
                return false;
        }
        if (conn->auth_salt_next_set && memcmp(salt, conn->auth_salt_next, AUTH_SALT_BYTES) == 0) {
                memcpy(conn->auth_salt, conn->auth_salt_next, AUTH_SALT_BYTES);
                conn->auth_salt_next_set = false;
        }
        return memcmp(salt, conn->auth_salt, AUTH_SALT_BYTES) == 0;
}

/* USER_PASSWD of the connection's own user with the old password: what
 * any authenticated user may do (rpc_users.c checks the old password). */
static bool rpc_auth_is_own_passwd(const struct conn *conn, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__UserRoleRequest *ur = req->user_role;

        return req->body_case == TUNEKV__V1__REQUEST__BODY_USER_ROLE &&
               ur->op == TUNEKV__V1__USER_ROLE_OP__USER_PASSWD && ur->old_password.len > 0 &&
               ur->name != NULL && strcmp(ur->name, conn->auth_user) == 0;
}

/* GET_MANY: read permission on every key. */
static int rpc_auth_admit_many(const struct auth_table *t, const struct conn *conn,
                               const Tunekv__V1__GetManyRequest *m, char *message, size_t len)
{
        for (size_t i = 0; i < m->n_keys; i++) {
                if (!auth_allowed(t, conn->auth_user, AUTH_READ, m->keys[i].data, m->keys[i].len)) {
                        snprintf(message, len,
                                 "GET_MANY: permission denied: no role of user \"%s\" grants read "
                                 "on a prefix of key %zu",
                                 conn->auth_user, i);
                        return TKV_EPERM;
                }
        }
        return 0;
}

/* SCAN: read permission on every key it may return. A prefix scan needs it
 * on its prefix; a range scan on the longest common prefix of start and
 * end, which every key between them shares (the empty prefix, i.e. the
 * whole key space, when the range has no end). */
static int rpc_auth_admit_scan(const struct auth_table *t, const struct conn *conn,
                               const Tunekv__V1__ScanRequest *s, char *message, size_t len)
{
        const uint8_t *key = s->prefix.data;
        size_t key_len = s->prefix.len;

        if (key_len == 0) {
                key = s->start.data;
                while (s->end.len > 0 && key_len < s->start.len && key_len < s->end.len &&
                       s->start.data[key_len] == s->end.data[key_len]) {
                        key_len++;
                }
        }
        if (!auth_allowed(t, conn->auth_user, AUTH_READ, key, key_len)) {
                snprintf(message, len,
                         "SCAN: permission denied: no role of user \"%s\" grants read on a "
                         "prefix of every key the scan may return (%s)",
                         conn->auth_user, s->prefix.len > 0 ? "its prefix" : "its range");
                return TKV_EPERM;
        }
        return 0;
}

/* LEASE: GRANT, KEEPALIVE, REVOKE and INFO name no key of their own, and
 * a lease matters only to keys its holder may write (attaching one is a
 * PUT, which needs write on the key): any user with write on some prefix
 * may use them, as etcd lets any authenticated user grant and keep leases
 * alive. LIST shows every lease of a partition, whoever holds them: admin.
 * Admins may do all of it. */
static int rpc_auth_admit_lease(const struct auth_table *t, const struct conn *conn,
                                const Tunekv__V1__LeaseRequest *lr, char *message, size_t len)
{
        bool list = lr->op == TUNEKV__V1__LEASE_OP__LEASE_LIST;

        if (auth_allowed(t, conn->auth_user, AUTH_ADMIN, NULL, 0) ||
            (!list && auth_allowed_some_key(t, conn->auth_user, AUTH_WRITE))) {
                return 0;
        }
        snprintf(message, len,
                 list ? "LEASE_LIST: permission denied: user \"%s\" is not an admin (a list "
                        "shows every lease of the partition)"
                      : "LEASE: permission denied: no role of user \"%s\" grants write on any "
                        "prefix (leases are for keys one may write)",
                 conn->auth_user);
        return TKV_EPERM;
}

/* A TXN reads the keys of its compares and GETs and writes those of its
 * PUTs and DELETEs: the user needs that permission on each of them. */
static int rpc_auth_admit_txn(struct conn *conn, const Tunekv__V1__TxnRequest *txn,
                              const struct auth_table *t, char *message, size_t len)
{
        size_t n_ops = txn->n_success + txn->n_failure;
        const ProtobufCBinaryData *key;
        unsigned perm;

        for (size_t i = 0; i < txn->n_compares + n_ops; i++) {
                if (i < txn->n_compares) {
                        key = &txn->compares[i]->key;
                        perm = AUTH_READ;
                } else {
                        const Tunekv__V1__TxnOp *o =
                            i - txn->n_compares < txn->n_success
                                ? txn->success[i - txn->n_compares]
                                : txn->failure[i - txn->n_compares - txn->n_success];
                        key = &o->key;
                        perm = o->type == TUNEKV__V1__TXN_OP_TYPE__TXN_GET ? AUTH_READ : AUTH_WRITE;
                }
                if (!auth_allowed(t, conn->auth_user, perm, key->data, key->len)) {
                        snprintf(message, len,
                                 "TXN: permission denied: no role of user \"%s\" grants %s on a "
                                 "prefix of its key number %zu",
                                 conn->auth_user, auth_perm_name(perm), i + 1);
                        return TKV_EPERM;
                }
        }
        return 0;
}

int rpc_auth_admit(struct conn *conn, const Tunekv__V1__Request *req, const char *op,
                   const ProtobufCBinaryData *key, char *message, size_t len)
{
        struct node *node = conn->set->data;
        struct auth_state *a = &node->auth;
        const struct auth_table *t;
        unsigned perm;

        if (!a->enabled || conn_is_link(conn)) {
                return 0;
        }
        if (conn->auth_user[0] == '\0') {
                snprintf(message, len,
                         "%s: unauthenticated: auth is on, the connection must AUTH as a user "
                         "first%s",
                         op, conn->auth_pending ? " (its AUTH is still in progress)" : "");
                return TKV_EAUTH;
        }
        t = rpc_auth_table(node);
        if (!rpc_auth_current(a, conn, t)) {
                snprintf(message, len,
                         "%s: unauthenticated: user \"%s\" was deleted or its password changed "
                         "since this connection's AUTH: AUTH again",
                         op, conn->auth_user);
                conn->auth_user[0] = '\0';
                return TKV_EAUTH;
        }
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_TXN) {
                return rpc_auth_admit_txn(conn, req->txn, t, message, len);
        }
        perm = rpc_auth_is_own_passwd(conn, req) ? 0 : rpc_auth_perm_of(req);
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_GET_MANY) {
                return rpc_auth_admit_many(t, conn, req->get_many, message, len);
        }
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_SCAN) {
                return rpc_auth_admit_scan(t, conn, req->scan, message, len);
        }
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_LEASE) {
                return rpc_auth_admit_lease(t, conn, req->lease, message, len);
        }
        if (req->body_case == TUNEKV__V1__REQUEST__BODY_WATCH) {
                key = &req->watch->key; /* a prefix: every key under it may come */
        }
        if (perm != 0 && !auth_allowed(t, conn->auth_user, perm, key != NULL ? key->data : NULL,
                                       key != NULL ? key->len : 0)) {
                snprintf(message, len, "%s: permission denied: no role of user \"%s\" grants %s%s",
                         op, conn->auth_user, auth_perm_name(perm),
                         key != NULL ? " on a prefix of this key" : "");
                return TKV_EPERM;
        }
        return 0;
}
