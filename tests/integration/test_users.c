/* Client users (issue 14 item 3) against three real tunekvd processes with
 * [auth] enabled = 1:
 *
 * - a client without credentials gets UNAUTHENTICATED, for keys and for
 *   STATUS alike; a wrong password too, and the refusal is logged;
 * - root, with the password of root_password_file, is served on every
 *   node, and every replica ends with the same digest;
 * - an AUTH flood (many connections, slow hashing) does not block other
 *   clients' requests (the hashing is off the loop) and is held to
 *   auth_in_flight_max (BUSY beyond);
 * - root manages users and roles (through any node: followers forward to
 *   the system group's leader); a user with a role granting readwrite on
 *   "app/" is served there and gets PERMISSION_DENIED elsewhere, on every
 *   node, and a TXN with one key outside "app/" is refused whole; a revoke applies to a connection
 * already open; the records survive a restart of every node (snapshot and log); root's password
 *   stored in the cluster replaces the file's;
 * - a user without admin changes their own password by giving the old one:
 *   the connection that made the change stays served, the user's other
 *   connections must AUTH again, the old password fails AUTH and the new
 *   one works; a wrong old password, another user's name, or no old
 *   password is PERMISSION_DENIED and changes nothing;
 * - leases: a user with write on some prefix grants, keeps alive, reads
 *   and revokes one (attaching keys by PUT and TXN), LIST needs admin, a
 *   user with read only may do none of it;
 * - with auth off, a client that sends credentials is served as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"

#define ROOT_PASSWORD "root-password-for-tests"
/* Slow enough that a flood of AUTHs keeps the threadpool busy for a while
 * (about 0.1 s each on the test machine), fast enough for the test. */
#define KDF_ITERATIONS "300000"

static char dir[256];
static char password_file[400];
static struct cluster cl;

static int setup(void **state)
{
        static const char *extra[] = {"--enabled",
                                      "1",
                                      "--root-password-file",
                                      password_file,
                                      "--kdf-iterations",
                                      KDF_ITERATIONS,
                                      "--auth-in-flight-max",
                                      "2",
                                      "--snapshot-threshold",
                                      "16",
                                      "--snapshot-trailing",
                                      "4",
                                      NULL};
        int fd;

        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-auth") != 0) {
                return -1;
        }
        snprintf(password_file, sizeof password_file, "%s/root-password", dir);
        fd = open(password_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, ROOT_PASSWORD "\n", strlen(ROOT_PASSWORD) + 1) < 0) {
                return -1;
        }
        close(fd);
        if (cluster_start(&cl, dir, 3, 0, 0, extra) != 0) {
                return -1;
        }
        cl.user = "root";
        cl.password = ROOT_PASSWORD;
        return 0;
}

static int teardown(void **state)
{
        int bad;

        (void)state;
        bad = cluster_stop(&cl);
        testlib_rmrf(dir);
        return bad == 0 ? 0 : -1;
}

static struct tkv_client *client_as(unsigned node, const char *user, const char *password)
{
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256];

        o.endpoints = node == 0 ? cl.endpoints : cl.nodes[node - 1].client_addr;
        o.timeout_ms = 3000;
        o.user = user;
        o.password = password;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        return c;
}

static int put(struct tkv_client *c, const char *k, const char *v)
{
        struct tkv_result r;
        int rv = tkv_put(c, k, strlen(k), v, strlen(v), NULL, &r);

        tkv_result_release(&r);
        return rv;
}

static int get(struct tkv_client *c, const char *k, const char *want)
{
        struct tkv_result r;
        int rv = tkv_get(c, k, strlen(k), NULL, &r);

        if (rv == TKV_OK && want != NULL) {
                assert_int_equal(r.value_len, strlen(want));
                assert_memory_equal(r.value, want, strlen(want));
        }
        tkv_result_release(&r);
        return rv;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One user or role request as root, through node (0: any). */
static int admin(unsigned node, enum tkv_user_role_op op, const char *name, const char *arg,
                 const char *prefix)
{
        struct tkv_client *c = client_as(node, "root", cl.password);
        struct tkv_user_role_request req = {0};
        struct tkv_user_role_result res;
        int rv;

        req.op = op;
        req.name = name;
        if (op == TKV_USER_ADD || op == TKV_USER_PASSWD) {
                req.password = arg;
        } else if (op == TKV_USER_GRANT_ROLE || op == TKV_USER_REVOKE_ROLE) {
                req.role = arg;
        } else {
                req.permission = arg;
        }
        req.prefix = prefix;
        req.prefix_len = prefix != NULL ? strlen(prefix) : 0;
        rv = tkv_user_role(c, &req, &res);
        if (rv != TKV_OK) {
                fprintf(stderr, "admin op %d %s: %s: %s\n", (int)op, name != NULL ? name : "",
                        tkv_status_name(rv), res.message);
        }
        tkv_user_role_release(&res);
        tkv_client_destroy(c);
        return rv;
}

/* Wait up to 10 s for f(c, key) to return want: a change reaches another
 * node when it applies it (a heartbeat or so later). */
static void await_status(int (*f)(struct tkv_client *, const char *, const char *),
                         struct tkv_client *c, const char *key, int want)
{
        int64_t end = now_ms() + 10000;
        int rv;

        while ((rv = f(c, key, NULL)) != want && now_ms() < end) {
                usleep(20000);
        }
        assert_int_equal(rv, want);
}

static int get_any(struct tkv_client *c, const char *k, const char *unused)
{
        (void)unused;
        return get(c, k, NULL);
}

/* Wait up to 10 s until every node serves user's GET of key from its own
 * replica with status want: then every node applied the users and roles
 * that allow it (AUTH and the permission check happen at that node). */
static void await_everywhere(const char *user, const char *password, const char *key, int want)
{
        struct tkv_read_options ro = {0};
        struct tkv_client *c = client_as(0, user, password);
        struct tkv_result r;
        int64_t end = now_ms() + 10000;
        int rv;

        ro.level = TKV_EVENTUAL;
        for (unsigned node = 1; node <= 3; node++) {
                ro.node_id = node;
                while ((rv = tkv_get(c, key, strlen(key), &ro, &r)) != want && now_ms() < end) {
                        tkv_result_release(&r);
                        usleep(20000);
                }
                tkv_result_release(&r);
                assert_int_equal(rv, want);
        }
        tkv_client_destroy(c);
}

static void test_no_credentials(void **state)
{
        struct tkv_client *c = client_as(1, NULL, NULL);
        struct tkv_result r;

        (void)state;
        assert_int_equal(tkv_put(c, "app/x", 5, "v", 1, NULL, &r), TKV_UNAUTHENTICATED);
        assert_non_null(strstr(r.message, "must AUTH as a user first"));
        tkv_result_release(&r);
        assert_int_equal(get(c, "app/x", NULL), TKV_UNAUTHENTICATED);
        assert_int_equal(tkv_status(c, &r), TKV_UNAUTHENTICATED);
        tkv_result_release(&r);
        tkv_client_destroy(c);
}

static void test_wrong_password(void **state)
{
        struct tkv_client *c = client_as(2, "root", "not-the-password");
        struct tkv_client *nobody = client_as(2, "nobody", ROOT_PASSWORD);
        struct tkv_result r;

        (void)state;
        assert_int_equal(tkv_put(c, "app/x", 5, "v", 1, NULL, &r), TKV_UNAUTHENTICATED);
        assert_non_null(strstr(r.message, "wrong user name or password"));
        tkv_result_release(&r);
        assert_int_equal(get(nobody, "app/x", NULL), TKV_UNAUTHENTICATED);
        tkv_client_destroy(c);
        tkv_client_destroy(nobody);
        /* Logged with the client's address; the password never. */
        assert_true(daemon_log_count(&cl.nodes[1], "AUTH as \"root\" from 127.0.0.1:") +
                        daemon_log_count(&cl.nodes[1], "AUTH as \"nobody\" from 127.0.0.1:") >=
                    1);
        assert_int_equal(daemon_log_count(&cl.nodes[1], "not-the-password"), 0);
}

static void test_root_everywhere(void **state)
{
        struct tkv_client *c;
        struct tkv_result r;

        (void)state;
        for (unsigned node = 1; node <= 3; node++) {
                char k[32];
                c = client_as(node, "root", ROOT_PASSWORD);
                snprintf(k, sizeof k, "root/%u", node);
                assert_int_equal(put(c, k, "v"), TKV_OK);
                assert_int_equal(get(c, k, "v"), TKV_OK);
                assert_int_equal(tkv_status(c, &r), TKV_OK);
                tkv_result_release(&r);
                tkv_client_destroy(c);
        }
        for (uint32_t p = 0; p < 3; p++) {
                assert_true(cluster_wait_converged(&cl, p, 20000));
        }
}

#define FLOOD_CONNS 24

/* Raw connections each send one AUTH with a wrong password at once: at
 * most auth_in_flight_max (2) are hashed, the rest answered BUSY at once;
 * meanwhile an authenticated client's reads are served without waiting
 * for the hashing. */
static void test_auth_flood(void **state)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__AuthRequest ar = TUNEKV__V1__AUTH_REQUEST__INIT;
        struct tkv_client *c = client_as(3, "root", ROOT_PASSWORD);
        int fds[FLOOD_CONNS];
        unsigned busy = 0;
        unsigned refused = 0;
        int64_t worst_ms = 0;

        (void)state;
        assert_int_equal(put(c, "flood/k", "v"), TKV_OK);
        ar.user = "root";
        ar.password.data = (uint8_t *)"wrong";
        ar.password.len = 5;
        req.id = 7;
        req.body_case = TUNEKV__V1__REQUEST__BODY_AUTH;
        req.auth = &ar;
        for (int i = 0; i < FLOOD_CONNS; i++) {
                fds[i] = raw_connect_addr(cl.nodes[2].client_addr, false);
                raw_send_request(fds[i], &req);
        }
        for (int i = 0; i < 20; i++) {
                int64_t t0 = now_ms();
                assert_int_equal(get(c, "flood/k", "v"), TKV_OK);
                if (now_ms() - t0 > worst_ms) {
                        worst_ms = now_ms() - t0;
                }
        }
        for (int i = 0; i < FLOOD_CONNS; i++) {
                Tunekv__V1__Response *resp = raw_read_response(fds[i]);
                assert_non_null(resp);
                assert_int_equal(resp->id, 7);
                busy += resp->status == TUNEKV__V1__STATUS__STATUS_BUSY;
                refused += resp->status == TUNEKV__V1__STATUS__STATUS_UNAUTHENTICATED;
                tunekv__v1__response__free_unpacked(resp, NULL);
                close(fds[i]);
        }
        assert_int_equal(busy + refused, FLOOD_CONNS);
        assert_true(busy >= FLOOD_CONNS / 2);
        assert_true(refused >= 2);
        /* Hashing 24 passwords in a row would take seconds; reads went on. */
        assert_true(worst_ms < 1000);
        tkv_client_destroy(c);
}

/* A request sent before the AUTH answer is refused, not queued behind it:
 * clients wait for the answer (libtunekv does). */
static void test_request_during_auth(void **state)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__Request get_req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__AuthRequest ar = TUNEKV__V1__AUTH_REQUEST__INIT;
        Tunekv__V1__ClusterInfoRequest info = TUNEKV__V1__CLUSTER_INFO_REQUEST__INIT;
        Tunekv__V1__Response *r1;
        Tunekv__V1__Response *r2;
        int fd = raw_connect_addr(cl.nodes[0].client_addr, false);

        (void)state;
        ar.user = "root";
        ar.password.data = (uint8_t *)ROOT_PASSWORD;
        ar.password.len = strlen(ROOT_PASSWORD);
        req.id = 1;
        req.body_case = TUNEKV__V1__REQUEST__BODY_AUTH;
        req.auth = &ar;
        get_req.id = 2;
        get_req.body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
        get_req.cluster_info = &info;
        raw_send_request(fd, &req);
        raw_send_request(fd, &get_req);
        r1 = raw_read_response(fd);
        r2 = raw_read_response(fd);
        assert_non_null(r1);
        assert_non_null(r2);
        /* The second answer comes first: the AUTH is still hashing. */
        assert_int_equal(r1->id, 2);
        assert_int_equal(r1->status, TUNEKV__V1__STATUS__STATUS_UNAUTHENTICATED);
        assert_non_null(strstr(r1->message, "in progress"));
        assert_int_equal(r2->id, 1);
        assert_int_equal(r2->status, TUNEKV__V1__STATUS__STATUS_OK);
        tunekv__v1__response__free_unpacked(r1, NULL);
        tunekv__v1__response__free_unpacked(r2, NULL);
        get_req.id = 3;
        raw_send_request(fd, &get_req);
        r1 = raw_read_response(fd);
        assert_non_null(r1);
        assert_int_equal(r1->status, TUNEKV__V1__STATUS__STATUS_OK);
        tunekv__v1__response__free_unpacked(r1, NULL);
        close(fd);
}

/* Root creates a role and a user through every node in turn (so some
 * changes are forwarded to the system group's leader); the user is served
 * on "app/" and refused elsewhere, on every node. */
static void test_users_and_roles(void **state)
{
        struct tkv_client *alice;
        struct tkv_client *root = client_as(0, "root", cl.password);
        struct tkv_user_role_request req = {0};
        struct tkv_user_role_result res;
        struct tkv_result r;

        (void)state;
        assert_int_equal(admin(1, TKV_ROLE_ADD, "app", NULL, NULL), TKV_OK);
        assert_int_equal(admin(2, TKV_ROLE_GRANT, "app", "readwrite", "app/"), TKV_OK);
        assert_int_equal(admin(3, TKV_USER_ADD, "alice", "alice-pw", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "alice", "app", NULL), TKV_OK);
        /* Bad input gets a clear answer and changes nothing. */
        assert_int_equal(admin(2, TKV_USER_ADD, "alice", "x", NULL), TKV_INVALID_ARGUMENT);
        assert_int_equal(admin(2, TKV_USER_ADD, "bad name", "x", NULL), TKV_INVALID_ARGUMENT);
        assert_int_equal(admin(3, TKV_USER_DELETE, "root", NULL, NULL), TKV_INVALID_ARGUMENT);
        assert_int_equal(admin(3, TKV_ROLE_GRANT, "app", "everything", "x"), TKV_INVALID_ARGUMENT);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "bob", "app", NULL), TKV_NOT_FOUND);
        assert_int_equal(admin(1, TKV_ROLE_REVOKE, "app", NULL, "nope/"), TKV_NOT_FOUND);
        await_everywhere("alice", "alice-pw", "app/missing", TKV_NOT_FOUND);
        for (unsigned node = 1; node <= 3; node++) {
                alice = client_as(node, "alice", "alice-pw");
                await_status(get_any, alice, "app/missing", TKV_NOT_FOUND);
                assert_int_equal(put(alice, "app/x", "from alice"), TKV_OK);
                assert_int_equal(get(alice, "app/x", "from alice"), TKV_OK);
                assert_int_equal(tkv_put(alice, "other/x", 7, "v", 1, NULL, &r),
                                 TKV_PERMISSION_DENIED);
                assert_non_null(strstr(r.message, "no role of user \"alice\" grants write"));
                tkv_result_release(&r);
                assert_int_equal(get(alice, "other/x", NULL), TKV_PERMISSION_DENIED);
                assert_int_equal(tkv_status(alice, &r), TKV_PERMISSION_DENIED);
                tkv_result_release(&r);
                req.op = TKV_USER_LIST;
                assert_int_equal(tkv_user_role(alice, &req, &res), TKV_PERMISSION_DENIED);
                tkv_user_role_release(&res);
                tkv_client_destroy(alice);
        }
        /* A TXN needs the permission on every key: a put or a get of one
         * key outside "app/" (same hash tag, so same partition) refuses all
         * of it, and nothing is applied. */
        alice = client_as(1, "alice", "alice-pw");
        {
                struct tkv_txn *t = tkv_txn_new();
                assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "app/{t}a", 8, "1", 1), TKV_OK);
                assert_int_equal(tkv_txn_commit(alice, t, NULL, &r), TKV_OK);
                tkv_result_release(&r);
                assert_int_equal(tkv_txn_get(t, TKV_TXN_FAILURE, "other/{t}b", 10), TKV_OK);
                assert_int_equal(tkv_txn_commit(alice, t, NULL, &r), TKV_PERMISSION_DENIED);
                assert_non_null(strstr(r.message, "grants read on a prefix of its key number 2"));
                tkv_result_release(&r);
                tkv_txn_free(t);
                t = tkv_txn_new();
                assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "app/{t}c", 8, "1", 1), TKV_OK);
                assert_int_equal(tkv_txn_delete(t, TKV_TXN_SUCCESS, "other/{t}d", 10), TKV_OK);
                assert_int_equal(tkv_txn_commit(alice, t, NULL, &r), TKV_PERMISSION_DENIED);
                assert_non_null(strstr(r.message, "grants write"));
                tkv_result_release(&r);
                tkv_txn_free(t);
                assert_int_equal(get(alice, "app/{t}c", NULL), TKV_NOT_FOUND);
        }
        tkv_client_destroy(alice);
        /* The same key is served for root. */
        assert_int_equal(put(root, "other/x", "from root"), TKV_OK);
        assert_int_equal(get(root, "other/x", "from root"), TKV_OK);
        alice = client_as(2, "alice", "wrong");
        assert_int_equal(get(alice, "app/x", NULL), TKV_UNAUTHENTICATED);
        tkv_client_destroy(alice);
        /* Listings, from any node's replica. */
        req.op = TKV_USER_LIST;
        assert_int_equal(tkv_user_role(root, &req, &res), TKV_OK);
        assert_int_equal(res.n_names, 2);
        assert_string_equal(res.names[0], "root");
        assert_string_equal(res.names[1], "alice");
        tkv_user_role_release(&res);
        req.op = TKV_ROLE_GET;
        req.name = "app";
        assert_int_equal(tkv_user_role(root, &req, &res), TKV_OK);
        assert_int_equal(res.n_grants, 1);
        assert_string_equal(res.grants[0].permission, "readwrite");
        assert_int_equal(res.grants[0].prefix_len, 4);
        assert_memory_equal(res.grants[0].prefix, "app/", 4);
        tkv_user_role_release(&res);
        req.op = TKV_USER_GET;
        req.name = "alice";
        assert_int_equal(tkv_user_role(root, &req, &res), TKV_OK);
        assert_int_equal(res.n_roles, 1);
        assert_string_equal(res.roles[0], "app");
        tkv_user_role_release(&res);
        tkv_client_destroy(root);
}

/* A revoke made through node 1 applies to a connection already open on
 * node 3, from its next request; a grant back, likewise. */
static void test_revoke_applies_to_open_connections(void **state)
{
        struct tkv_client *alice = client_as(3, "alice", "alice-pw");
        struct tkv_client *again;

        (void)state;
        assert_int_equal(put(alice, "app/y", "v"), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_REVOKE_ROLE, "alice", "app", NULL), TKV_OK);
        await_status(get_any, alice, "app/y", TKV_PERMISSION_DENIED);
        assert_int_equal(put(alice, "app/y", "v2"), TKV_PERMISSION_DENIED);
        assert_int_equal(admin(2, TKV_USER_GRANT_ROLE, "alice", "app", NULL), TKV_OK);
        await_status(get_any, alice, "app/y", TKV_OK);
        /* A read-only role: reads yes, writes no. */
        assert_int_equal(admin(3, TKV_ROLE_ADD, "reader", NULL, NULL), TKV_OK);
        assert_int_equal(admin(3, TKV_ROLE_GRANT, "reader", "read", "shared/"), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "alice", "reader", NULL), TKV_OK);
        await_status(get_any, alice, "shared/k", TKV_NOT_FOUND);
        assert_int_equal(put(alice, "shared/k", "v"), TKV_PERMISSION_DENIED);
        /* A new password ends the open connection's identity: AUTH again. */
        assert_int_equal(admin(2, TKV_USER_PASSWD, "alice", "alice-pw1", NULL), TKV_OK);
        await_status(get_any, alice, "app/y", TKV_UNAUTHENTICATED);
        tkv_client_destroy(alice);
        alice = client_as(3, "alice", "alice-pw1");
        await_status(get_any, alice, "app/y", TKV_OK); /* the key's leader applied it too */
        /* A user deleted and created again under its name is another user:
         * a connection that AUTHed as the first is refused. */
        assert_int_equal(admin(2, TKV_USER_DELETE, "alice", NULL, NULL), TKV_OK);
        assert_int_equal(admin(2, TKV_USER_ADD, "alice", "alice-pw2", NULL), TKV_OK);
        assert_int_equal(admin(3, TKV_USER_GRANT_ROLE, "alice", "app", NULL), TKV_OK);
        again = client_as(3, "alice", "alice-pw2");
        await_status(get_any, again, "app/y", TKV_OK); /* node 3 applied all three */
        assert_int_equal(get(alice, "app/y", NULL), TKV_UNAUTHENTICATED);
        tkv_client_destroy(again);
        tkv_client_destroy(alice);
}

/* Leases (protocol.md §4.7): GRANT, KEEPALIVE, REVOKE and INFO need write
 * on some prefix (attaching a key is a PUT, checked on the key), LIST
 * needs admin. A user with only read may do none of it. */
static void test_leases_need_write(void **state)
{
        struct tkv_client *w, *ro, *root;
        struct tkv_lease l, *list;
        struct tkv_write_options o = {TKV_ACK_COMMITTED, 0, 0};
        struct tkv_result r;
        struct tkv_txn *t;
        uint64_t id;
        uint32_t part;
        size_t n;
        char msg[256];

        (void)state;
        assert_int_equal(admin(1, TKV_ROLE_ADD, "leases", NULL, NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_ROLE_GRANT, "leases", "readwrite", "lw/"), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_ADD, "holder", "holder-pw", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "holder", "leases", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_ROLE_ADD, "lookers", NULL, NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_ROLE_GRANT, "lookers", "read", "lw/"), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_ADD, "looker", "looker-pw", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "looker", "lookers", NULL), TKV_OK);
        await_everywhere("holder", "holder-pw", "lw/none", TKV_NOT_FOUND);
        await_everywhere("looker", "looker-pw", "lw/none", TKV_NOT_FOUND);
        w = client_as(0, "holder", "holder-pw");
        ro = client_as(0, "looker", "looker-pw");
        root = client_as(0, "root", cl.password);
        /* The writer: grant, attach by PUT and by TXN, keepalive, info. */
        assert_int_equal(tkv_lease_grant(w, 60000, "{lw}", 4, &l, msg, sizeof msg), TKV_OK);
        id = l.id;
        part = l.partition;
        o.lease = id;
        assert_int_equal(tkv_put(w, "lw/{lw}a", 8, "1", 1, &o, &r), TKV_OK);
        tkv_result_release(&r);
        t = tkv_txn_new();
        assert_int_equal(tkv_txn_put_lease(t, TKV_TXN_SUCCESS, "lw/{lw}b", 8, "2", 1, id), TKV_OK);
        assert_int_equal(tkv_txn_commit(w, t, NULL, &r), TKV_OK);
        tkv_result_release(&r);
        tkv_txn_free(t);
        assert_int_equal(tkv_lease_keepalive(w, id, &l, msg, sizeof msg), TKV_OK);
        assert_int_equal(tkv_lease_info(w, id, &l, msg, sizeof msg), TKV_OK);
        assert_int_equal(l.n_keys, 2);
        tkv_lease_release(&l);
        /* ... but not LIST, a listing of everyone's leases: admin only. */
        assert_int_equal(tkv_lease_list(w, part, &list, &n, msg, sizeof msg),
                         TKV_PERMISSION_DENIED);
        assert_non_null(strstr(msg, "not an admin"));
        assert_int_equal(tkv_lease_list(root, part, &list, &n, msg, sizeof msg), TKV_OK);
        assert_true(n >= 1);
        tkv_lease_list_free(list);
        /* Read only: nothing, not even keepalive or info of a lease it
         * knows the id of. */
        assert_int_equal(tkv_lease_grant(ro, 60000, "{lw}", 4, &l, msg, sizeof msg),
                         TKV_PERMISSION_DENIED);
        assert_non_null(strstr(msg, "grants write on any prefix"));
        assert_int_equal(tkv_lease_keepalive(ro, id, &l, msg, sizeof msg), TKV_PERMISSION_DENIED);
        assert_int_equal(tkv_lease_info(ro, id, &l, msg, sizeof msg), TKV_PERMISSION_DENIED);
        assert_int_equal(tkv_lease_revoke(ro, id, msg, sizeof msg), TKV_PERMISSION_DENIED);
        assert_int_equal(get(ro, "lw/{lw}a", "1"), TKV_OK);
        /* The writer revokes: both keys go. */
        assert_int_equal(tkv_lease_revoke(w, id, msg, sizeof msg), TKV_OK);
        assert_int_equal(get(w, "lw/{lw}a", NULL), TKV_NOT_FOUND);
        assert_int_equal(get(w, "lw/{lw}b", NULL), TKV_NOT_FOUND);
        tkv_client_destroy(w);
        tkv_client_destroy(ro);
        tkv_client_destroy(root);
}

/* One raw request on fd: its answer's status (the answer freed). */
static int raw_status(int fd, Tunekv__V1__Request *req)
{
        static uint64_t next_id = 1000;
        Tunekv__V1__Response *resp;
        int status;

        req->id = next_id++;
        raw_send_request(fd, req);
        resp = raw_read_response(fd);
        assert_non_null(resp);
        assert_int_equal(resp->id, req->id);
        status = (int)resp->status;
        if (status != TUNEKV__V1__STATUS__STATUS_OK) {
                fprintf(stderr, "raw answer: %s\n", resp->message);
        }
        tunekv__v1__response__free_unpacked(resp, NULL);
        return status;
}

/* A raw connection to node, AUTHed as user. */
static int raw_auth(unsigned node, const char *user, const char *password)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__AuthRequest ar = TUNEKV__V1__AUTH_REQUEST__INIT;
        int fd = raw_connect_addr(cl.nodes[node - 1].client_addr, false);

        ar.user = (char *)user;
        ar.password.data = (uint8_t *)password;
        ar.password.len = strlen(password);
        req.body_case = TUNEKV__V1__REQUEST__BODY_AUTH;
        req.auth = &ar;
        assert_int_equal(raw_status(fd, &req), TUNEKV__V1__STATUS__STATUS_OK);
        return fd;
}

/* USER_PASSWD of name on fd; old_password NULL: none given. */
static int raw_passwd(int fd, const char *name, const char *password, const char *old_password)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__UserRoleRequest ur = TUNEKV__V1__USER_ROLE_REQUEST__INIT;

        ur.op = TUNEKV__V1__USER_ROLE_OP__USER_PASSWD;
        ur.name = (char *)name;
        ur.password.data = (uint8_t *)password;
        ur.password.len = strlen(password);
        if (old_password != NULL) {
                ur.old_password.data = (uint8_t *)old_password;
                ur.old_password.len = strlen(old_password);
        }
        req.body_case = TUNEKV__V1__REQUEST__BODY_USER_ROLE;
        req.user_role = &ur;
        return raw_status(fd, &req);
}

static int raw_put(int fd, const char *key, const char *value)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PutRequest put = TUNEKV__V1__PUT_REQUEST__INIT;

        put.key.data = (uint8_t *)key;
        put.key.len = strlen(key);
        put.value.data = (uint8_t *)value;
        put.value.len = strlen(value);
        req.body_case = TUNEKV__V1__REQUEST__BODY_PUT;
        req.put = &put;
        return raw_status(fd, &req);
}

/* A client of the whole cluster as user with a 10 s deadline: its first
 * request AUTHs on two links (the endpoint, then the key's leader) at 0.1 s
 * of hashing each, which a loaded machine and a sanitizer build stretch. */
static struct tkv_client *client_patient(const char *user, const char *password)
{
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256];

        o.endpoints = cl.endpoints;
        o.timeout_ms = 10000;
        o.user = user;
        o.password = password;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        return c;
}

/* PUT k = v through c; the status, and why when it is not OK. */
static int put_said(struct tkv_client *c, const char *k, const char *v)
{
        struct tkv_result r;
        int rv = tkv_put(c, k, strlen(k), v, strlen(v), NULL, &r);

        if (rv != TKV_OK) {
                fprintf(stderr, "put %s: %s: %s\n", k, tkv_status_name(rv), r.message);
        }
        tkv_result_release(&r);
        return rv;
}

/* The self-service refusals: PERMISSION_DENIED, nothing changed. */
static void own_password_refusals(int fd)
{
        enum { DENIED = TUNEKV__V1__STATUS__STATUS_PERMISSION_DENIED };

        assert_int_equal(raw_passwd(fd, "dave", "dave-new", "not-daves-password"), DENIED);
        assert_int_equal(raw_passwd(fd, "dave", "dave-new", NULL), DENIED); /* no old one */
        assert_int_equal(raw_passwd(fd, "erin", "erin-new", NULL), DENIED); /* someone else's */
        assert_int_equal(raw_passwd(fd, "erin", "erin-new", "erin-pw"), DENIED);
        assert_int_equal(raw_passwd(fd, "root", "root-new", ROOT_PASSWORD), DENIED);
        /* The wrong old password was logged like a failed AUTH, without it. */
        assert_true(daemon_log_count(&cl.nodes[2], "USER_PASSWD as \"dave\" from 127.0.0.1:") >= 1);
        assert_int_equal(daemon_log_count(&cl.nodes[2], "not-daves-password"), 0);
}

/* dave, without admin, changes his own password on one connection to node
 * 3 (a follower of the system group or its leader, whichever it is): that
 * connection is served on, dave's other connection must AUTH again, and
 * from then on only the new password passes AUTH, on every node. Then
 * through libtunekv, whose own later requests AUTH with the newest one. */
static void test_own_password(void **state)
{
        struct tkv_user_role_request req = {0};
        struct tkv_user_role_result res;
        struct tkv_client *c;
        int64_t end;
        int fd;
        int other;

        (void)state;
        assert_int_equal(admin(1, TKV_ROLE_ADD, "own", NULL, NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_ROLE_GRANT, "own", "readwrite", "own/"), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_ADD, "dave", "dave-old", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_GRANT_ROLE, "dave", "own", NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_ADD, "erin", "erin-pw", NULL), TKV_OK);
        await_everywhere("dave", "dave-old", "own/k", TKV_NOT_FOUND);
        await_everywhere("erin", "erin-pw", "own/k", TKV_PERMISSION_DENIED);
        fd = raw_auth(3, "dave", "dave-old");
        other = raw_auth(3, "dave", "dave-old");
        own_password_refusals(fd);
        await_everywhere("erin", "erin-pw", "own/k", TKV_PERMISSION_DENIED); /* unchanged */

        assert_int_equal(raw_passwd(fd, "dave", "dave-new", "dave-old"), TKV_OK);
        assert_int_equal(raw_put(fd, "own/k", "1"), TKV_OK);
        /* Once node 3 applied the change (within 10 s), the other
         * connection is refused... */
        end = now_ms() + 10000;
        while (raw_put(other, "own/k", "2") == TUNEKV__V1__STATUS__STATUS_OK && now_ms() < end) {
                usleep(20000);
        }
        assert_int_equal(raw_put(other, "own/k", "2"), TUNEKV__V1__STATUS__STATUS_UNAUTHENTICATED);
        /* ...and the one that made it is still served. */
        assert_int_equal(raw_put(fd, "own/k", "3"), TKV_OK);
        close(other);
        close(fd);
        await_everywhere("dave", "dave-new", "own/k", TKV_OK);
        await_everywhere("dave", "dave-old", "own/k", TKV_UNAUTHENTICATED);

        /* libtunekv: dave's client changes his password and goes on. */
        c = client_patient("dave", "dave-new");
        assert_int_equal(put_said(c, "own/k", "4"), TKV_OK);
        req.op = TKV_USER_PASSWD;
        req.name = "dave";
        req.password = "dave-third";
        req.old_password = "dave-new";
        assert_int_equal(tkv_user_role(c, &req, &res), TKV_OK);
        tkv_user_role_release(&res);
        await_everywhere("dave", "dave-third", "own/k", TKV_OK);
        assert_int_equal(put_said(c, "own/k", "5"), TKV_OK);
        assert_int_equal(get(c, "own/k", "5"), TKV_OK);
        tkv_client_destroy(c);
        assert_int_equal(admin(1, TKV_USER_DELETE, "dave", NULL, NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_USER_DELETE, "erin", NULL, NULL), TKV_OK);
        assert_int_equal(admin(1, TKV_ROLE_DELETE, "own", NULL, NULL), TKV_OK);
}

/* Whether node id's system group (users and roles) took a snapshot. */
static bool has_snapshot(unsigned id)
{
        char path[700];
        struct dirent *e;
        bool found = false;
        DIR *d;

        snprintf(path, sizeof path, "%s/system", cl.nodes[id - 1].data_dir);
        d = opendir(path);
        while (d != NULL && (e = readdir(d)) != NULL) {
                found |= strncmp(e->d_name, "snapshot-", 9) == 0;
        }
        if (d != NULL) {
                closedir(d);
        }
        return found;
}

/* Enough changes for the system group to take a snapshot, then every
 * node restarts: the records come back (snapshot plus log), and root's
 * password, once stored in the cluster, replaces the file's. */
static void test_records_survive_restart(void **state)
{
        struct tkv_client *alice;
        char name[32];

        (void)state;
        for (unsigned i = 0; i < 24; i++) {
                snprintf(name, sizeof name, "role%u", i);
                assert_int_equal(admin(1 + i % 3, TKV_ROLE_ADD, name, NULL, NULL), TKV_OK);
        }
        assert_int_equal(admin(1, TKV_USER_PASSWD, "root", "new-root-password", NULL), TKV_OK);
        assert_true(has_snapshot(1) || has_snapshot(2) || has_snapshot(3));
        cl.password = "new-root-password";
        for (unsigned id = 1; id <= 3; id++) {
                assert_int_equal(WEXITSTATUS(cluster_signal(&cl, id, SIGTERM, true)), 0);
        }
        for (unsigned id = 1; id <= 3; id++) {
                assert_int_equal(daemon_spawn(&cl.nodes[id - 1]), 0);
        }
        for (unsigned id = 1; id <= 3; id++) {
                assert_int_equal(daemon_await_ready(&cl.nodes[id - 1], 60000), 0);
        }
        await_everywhere("alice", "alice-pw2", "app/x", TKV_OK);
        await_everywhere("root", "new-root-password", "app/x", TKV_OK);
        for (unsigned node = 1; node <= 3; node++) {
                struct tkv_client *old = client_as(node, "root", ROOT_PASSWORD);
                alice = client_as(node, "alice", "alice-pw2");
                assert_int_equal(get(alice, "app/x", NULL), TKV_OK);
                assert_int_equal(get(alice, "other/x", NULL), TKV_PERMISSION_DENIED);
                assert_int_equal(get(old, "app/x", NULL), TKV_UNAUTHENTICATED);
                tkv_client_destroy(alice);
                tkv_client_destroy(old);
        }
        assert_int_equal(admin(2, TKV_ROLE_DELETE, "role23", NULL, NULL), TKV_OK);
        for (uint32_t p = 0; p < 3; p++) {
                assert_true(cluster_wait_converged(&cl, p, 20000));
        }
}

/* [auth] enabled must agree: node 3 restarted with it off is refused by
 * its peers (the layout fingerprint), who say why; restarted as before, it
 * rejoins and every replica converges. */
static void test_auth_setting_must_agree(void **state)
{
        struct daemon *d = &cl.nodes[2];
        const char *saved[DAEMON_ARGS_MAX];

        (void)state;
        memcpy(saved, d->extra, sizeof saved);
        for (int i = 0; i + 1 < DAEMON_ARGS_MAX && d->extra[i] != NULL; i++) {
                if (strcmp(d->extra[i], "--enabled") == 0) {
                        d->extra[i + 1] = "0";
                }
        }
        assert_int_equal(WEXITSTATUS(cluster_signal(&cl, 3, SIGTERM, true)), 0);
        assert_int_equal(daemon_spawn(d), 0);
        for (int i = 0; i < 200 && daemon_log_count(&cl.nodes[0], "auth.enabled differs") == 0;
             i++) {
                usleep(50 * 1000); /* a log line: no other event to await */
        }
        assert_true(daemon_log_count(&cl.nodes[0], "auth.enabled differs") > 0);
        daemon_signal(d, SIGKILL, true);
        if (d->ready_fd >= 0) {
                close(d->ready_fd);
                d->ready_fd = -1;
        }
        memcpy(d->extra, saved, sizeof saved);
        assert_int_equal(cluster_restart(&cl, 3), 0);
        await_everywhere("alice", "alice-pw2", "app/x", TKV_OK);
        for (uint32_t p = 0; p < 3; p++) {
                assert_true(cluster_wait_converged(&cl, p, 20000));
        }
}

/* A GET of key by user, pinned to node (new connections, all to node:
 * AUTH and the permission check happen there; it forwards the read). */
static int get_as(unsigned node, const char *user, const char *password, const char *key)
{
        struct tkv_client *c = client_as(node, user, password);
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        int rv;

        ro.level = TKV_SEQUENTIAL;
        ro.node_id = node;
        rv = tkv_get(c, key, strlen(key), &ro, &r);
        tkv_result_release(&r);
        tkv_client_destroy(c);
        return rv;
}

/* Wait up to 10 s until get_as answers want (a node without a replica of
 * the metadata group learns the users within a second). */
static void await_as(unsigned node, const char *user, const char *password, const char *key,
                     int want)
{
        int64_t end = now_ms() + 10000;
        int rv;

        while ((rv = get_as(node, user, password, key)) != want && now_ms() < end) {
                usleep(50000);
        }
        if (rv != want) {
                fail_msg("%s on node %u: %s, not %s", user, node, tkv_status_name(rv),
                         tkv_status_name(want));
        }
}

/* MEMBER add of cluster node id as root through node 2, retried while
 * BUSY or UNAVAILABLE. */
static int member_add(unsigned id)
{
        struct tkv_client *c = client_as(2, "root", cl.password);
        struct tkv_member m = cluster_member_of(&cl, id);
        char err[256] = "";
        int rv = TKV_BUSY;

        for (int tries = 0; tries < 200 && (rv == TKV_BUSY || rv == TKV_UNAVAILABLE); tries++) {
                rv = tkv_member_add(c, &m, NULL, err, sizeof err);
                if (rv == TKV_BUSY || rv == TKV_UNAVAILABLE) {
                        usleep(50000);
                }
        }
        if (rv != TKV_OK) {
                fprintf(stderr, "member add %u: %s (%s)\n", id, tkv_status_name(rv), err);
        }
        tkv_client_destroy(c);
        return rv;
}

/* Node 4 joins with [auth] on (issue 17). It holds no replica of the
 * metadata group: it learns the users and roles from a node that does,
 * over the peer channel, every second. alice is served there with her
 * role's permissions, a password change made through node 1 holds there
 * too, and root adds a user through it (passed to a replica of the group,
 * then to its leader). A client's CLUSTER_INFO asking for the users gets
 * none: they hold the password hashes. Then node 1's replica of the
 * metadata group moves to node 4 (refused while the group could not move
 * with [auth] on): every node still checks passwords, node 1 now by what
 * it learns. */
static void test_joined_node_knows_the_users(void **state)
{
        struct daemon *d = &cl.nodes[3];
        static char join_conf[600], join_addrs[200];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ClusterInfoRequest ci = TUNEKV__V1__CLUSTER_INFO_REQUEST__INIT;
        Tunekv__V1__Response *resp;
        struct tkv_result r;
        int fd;

        (void)state;
        assert_int_equal(cluster_write_join_conf(&cl, join_conf, sizeof join_conf), 0);
        snprintf(join_addrs, sizeof join_addrs, "%s,%s", cl.nodes[0].peer_addr,
                 cl.nodes[1].peer_addr);
        daemon_setup(d, dir, 4);
        {
                const char *flags[] = {"--config",
                                       join_conf,
                                       "--join",
                                       join_addrs,
                                       "--enabled",
                                       "1",
                                       "--root-password-file",
                                       password_file,
                                       "--kdf-iterations",
                                       KDF_ITERATIONS,
                                       NULL};
                memcpy(d->extra, flags, sizeof flags);
        }
        assert_int_equal(member_add(4), TKV_OK);
        assert_int_equal(daemon_start(d, 60000), 0);
        cl.n = 4;
        await_as(4, "alice", "alice-pw2", "app/x", TKV_OK);
        assert_int_equal(get_as(4, "alice", "alice-pw2", "other/x"), TKV_PERMISSION_DENIED);
        assert_int_equal(get_as(4, "alice", "wrong", "app/x"), TKV_UNAUTHENTICATED);
        await_as(4, "root", "new-root-password", "other/x", TKV_OK);
        /* A change made elsewhere holds here. */
        assert_int_equal(admin(1, TKV_USER_PASSWD, "alice", "alice-pw3", NULL), TKV_OK);
        await_as(4, "alice", "alice-pw2", "app/x", TKV_UNAUTHENTICATED);
        assert_int_equal(get_as(4, "alice", "alice-pw3", "app/x"), TKV_OK);
        /* And one made here holds everywhere. */
        assert_int_equal(admin(4, TKV_USER_ADD, "bob", "bob-pw", NULL), TKV_OK);
        await_everywhere("bob", "bob-pw", "app/x", TKV_PERMISSION_DENIED);
        /* A client asking for the users gets the map, not them. */
        fd = raw_auth(2, "root", "new-root-password");
        req.id = 77;
        req.body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
        req.cluster_info = &ci;
        ci.users = true;
        raw_send_request(fd, &req);
        resp = raw_read_response(fd);
        assert_non_null(resp);
        assert_int_equal(resp->status, TUNEKV__V1__STATUS__STATUS_OK);
        assert_non_null(resp->cluster_info);
        assert_false(resp->cluster_info->has_users);
        assert_int_equal(resp->cluster_info->users.len, 0);
        tunekv__v1__response__free_unpacked(resp, NULL);
        close(fd);
        /* The metadata group's replica moves from node 1 to node 4 (it
         * stayed where it was with [auth] on, before). */
        {
                struct tkv_client *root = client_as(2, "root", cl.password);
                char err[256] = "";
                bool moved = false;
                int rv = TKV_BUSY;
                for (int i = 0; i < 200 && (rv == TKV_BUSY || rv == TKV_UNAVAILABLE); i++) {
                        rv = tkv_move(root, cl.partitions, 1, 4, NULL, err, sizeof err);
                        if (rv != TKV_OK) {
                                usleep(50000);
                        }
                }
                if (rv != TKV_OK) {
                        fail_msg("move of the metadata group: %s (%s)", tkv_status_name(rv), err);
                }
                for (int i = 0; i < 600 && !moved; i++) {
                        if (tkv_cluster_info(root, &r) == TKV_OK && r.cluster != NULL) {
                                const struct tkv_partition_info *m = &r.cluster->metadata;
                                moved = m->move_to == 0;
                                for (unsigned k = 0; k < m->n_replicas; k++) {
                                        moved = moved && m->replicas[k] != 1;
                                }
                        }
                        tkv_result_release(&r);
                        if (!moved) {
                                usleep(50000);
                        }
                }
                assert_true(moved);
                tkv_client_destroy(root);
        }
        for (unsigned node = 1; node <= 4; node++) {
                await_as(node, "alice", "alice-pw3", "app/x", TKV_OK);
                await_as(node, "bob", "bob-pw", "app/x", TKV_PERMISSION_DENIED);
        }
        /* Node 1 now learns them, and a change reaches it. */
        assert_int_equal(admin(4, TKV_USER_DELETE, "bob", NULL, NULL), TKV_OK);
        await_as(1, "bob", "bob-pw", "app/x", TKV_UNAUTHENTICATED);
        await_as(4, "bob", "bob-pw", "app/x", TKV_UNAUTHENTICATED);
}

/* With auth off (a separate one-node cluster), credentials are accepted
 * and ignored: clients can be configured before the cluster turns auth on. */
static void test_auth_off(void **state)
{
        char off_dir[256];
        struct cluster off;
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256];

        (void)state;
        assert_int_equal(testlib_tmpdir(off_dir, sizeof off_dir, "tkv-auth-off"), 0);
        assert_int_equal(cluster_start(&off, off_dir, 1, 0, 0, NULL), 0);
        o.endpoints = off.endpoints;
        o.user = "alice";
        o.password = "anything";
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        assert_int_equal(put(c, "k", "v"), TKV_OK);
        assert_int_equal(get(c, "k", "v"), TKV_OK);
        tkv_client_destroy(c);
        c = NULL;
        o.user = NULL;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        assert_int_equal(get(c, "k", "v"), TKV_OK);
        tkv_client_destroy(c);
        assert_int_equal(cluster_stop(&off), 0);
        testlib_rmrf(off_dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_no_credentials),
            cmocka_unit_test(test_wrong_password),
            cmocka_unit_test(test_root_everywhere),
            cmocka_unit_test(test_auth_flood),
            cmocka_unit_test(test_request_during_auth),
            cmocka_unit_test(test_users_and_roles),
            cmocka_unit_test(test_revoke_applies_to_open_connections),
            cmocka_unit_test(test_leases_need_write),
            cmocka_unit_test(test_own_password),
            cmocka_unit_test(test_records_survive_restart),
            cmocka_unit_test(test_auth_setting_must_agree),
            cmocka_unit_test(test_joined_node_knows_the_users),
            cmocka_unit_test(test_auth_off),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
