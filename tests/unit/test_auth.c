/* Users, roles and permissions (auth.c): names, the prefix match, what
 * each permission covers, root, changes seen by the next check (a revoke
 * applies to open connections), and password secrets (right, wrong,
 * salted, constant parameters refused out of range). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "auth.h"
#include "err.h"
#include "heap.h"

#define ITER AUTH_ITERATIONS_MIN /* fast: the tests check logic, not cost */

static int setup(void **state)
{
        struct auth_table *t = auth_table_create();
        struct auth_secret s;

        assert_non_null(t);
        assert_int_equal(auth_secret_make(&s, "pw", 2, ITER), 0);
        assert_int_equal(auth_user_set(t, "alice", &s), 0);
        assert_int_equal(auth_role_add(t, "app"), 0);
        assert_int_equal(auth_role_grant(t, "app", AUTH_READWRITE, "app/", 4), 0);
        assert_int_equal(auth_user_grant_role(t, "alice", "app"), 0);
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        auth_table_destroy(*state);
        return 0;
}

static void test_names(void **state)
{
        char long_name[AUTH_NAME_BYTES + 1];

        (void)state;
        memset(long_name, 'a', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        assert_true(auth_name_valid("alice"));
        assert_true(auth_name_valid("svc.app-1_x@prod"));
        assert_false(auth_name_valid(""));
        assert_false(auth_name_valid("a b"));
        assert_false(auth_name_valid("a\nb"));
        assert_false(auth_name_valid(long_name));
        long_name[AUTH_NAME_BYTES - 1] = '\0';
        assert_true(auth_name_valid(long_name));
}

static void test_perm_names(void **state)
{
        unsigned p = 0;

        (void)state;
        assert_int_equal(auth_perm_parse("read", &p), 0);
        assert_int_equal(p, AUTH_READ);
        assert_int_equal(auth_perm_parse("readwrite", &p), 0);
        assert_int_equal(p, AUTH_READ | AUTH_WRITE);
        assert_int_equal(auth_perm_parse("admin", &p), 0);
        assert_int_equal(p, AUTH_ADMIN);
        assert_int_equal(auth_perm_parse("all", &p), TKV_EINVAL);
        assert_string_equal(auth_perm_name(AUTH_WRITE), "write");
}

static void test_prefix_match(void **state)
{
        struct auth_table *t = *state;

        assert_true(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        assert_true(auth_allowed(t, "alice", AUTH_WRITE, "app/", 4));
        assert_false(auth_allowed(t, "alice", AUTH_READ, "app", 3));
        assert_false(auth_allowed(t, "alice", AUTH_READ, "other/x", 7));
        assert_false(auth_allowed(t, "alice", AUTH_READ, "apq/x", 5));
        assert_false(auth_allowed(t, "alice", AUTH_ADMIN, NULL, 0));
        /* Binary prefixes: a NUL inside a key is compared like any byte. */
        assert_int_equal(auth_role_grant(t, "app", AUTH_READ, "b\0c", 3), 0);
        assert_true(auth_allowed(t, "alice", AUTH_READ, "b\0cd", 4));
        assert_false(auth_allowed(t, "alice", AUTH_READ, "b\0d", 3));
        assert_false(auth_allowed(t, "alice", AUTH_WRITE, "b\0cd", 4));
}

static void test_read_only_and_admin(void **state)
{
        struct auth_table *t = *state;
        struct auth_secret s;

        assert_int_equal(auth_secret_make(&s, "pw2", 3, ITER), 0);
        assert_int_equal(auth_user_set(t, "bob", &s), 0);
        assert_int_equal(auth_role_add(t, "reader"), 0);
        assert_int_equal(auth_role_grant(t, "reader", AUTH_READ, "", 0), 0);
        assert_int_equal(auth_role_add(t, "ops"), 0);
        assert_int_equal(auth_role_grant(t, "ops", AUTH_ADMIN, "ignored/", 8), 0);
        assert_int_equal(auth_user_grant_role(t, "bob", "reader"), 0);
        assert_true(auth_allowed(t, "bob", AUTH_READ, "anything", 8));
        assert_false(auth_allowed(t, "bob", AUTH_WRITE, "anything", 8));
        assert_false(auth_allowed(t, "bob", AUTH_ADMIN, NULL, 0));
        assert_int_equal(auth_user_grant_role(t, "bob", "ops"), 0);
        assert_true(auth_allowed(t, "bob", AUTH_ADMIN, NULL, 0));
        /* admin says nothing about keys. */
        assert_false(auth_allowed(t, "bob", AUTH_WRITE, "ignored/x", 9));
        /* Write on some key (leases): alice's app/ grant counts, bob's
         * read and admin grants do not; root and nobody else. */
        assert_true(auth_allowed_some_key(t, "alice", AUTH_WRITE));
        assert_false(auth_allowed_some_key(t, "bob", AUTH_WRITE));
        assert_true(auth_allowed_some_key(t, "bob", AUTH_READ));
        assert_true(auth_allowed_some_key(t, AUTH_ROOT, AUTH_WRITE));
        assert_false(auth_allowed_some_key(t, "mallory", AUTH_WRITE));
}

static void test_root_and_unknown(void **state)
{
        struct auth_table *t = *state;
        struct auth_secret s;

        assert_true(auth_allowed(t, AUTH_ROOT, AUTH_ADMIN, NULL, 0));
        assert_true(auth_allowed(t, AUTH_ROOT, AUTH_WRITE, "x", 1));
        assert_false(auth_allowed(t, "mallory", AUTH_READ, "app/x", 5));
        assert_null(auth_user_find(t, AUTH_ROOT));
        memset(&s, 0, sizeof s);
        assert_int_equal(auth_user_set(t, AUTH_ROOT, &s), TKV_EINVAL);
        assert_int_equal(auth_user_set(t, "bad name", &s), TKV_EINVAL);
}

/* Permissions are looked up at each check: a change applies at once. */
static void test_changes_apply_to_next_check(void **state)
{
        struct auth_table *t = *state;

        assert_int_equal(auth_role_revoke(t, "app", "app/", 4), 0);
        assert_false(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        assert_int_equal(auth_role_revoke(t, "app", "app/", 4), TKV_ENOTFOUND);
        assert_int_equal(auth_role_grant(t, "app", AUTH_READ, "app/", 4), 0);
        assert_true(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        assert_false(auth_allowed(t, "alice", AUTH_WRITE, "app/x", 5));
        /* Granting the same prefix again replaces the permission. */
        assert_int_equal(auth_role_grant(t, "app", AUTH_READWRITE, "app/", 4), 0);
        assert_int_equal(auth_role_find(t, "app")->n_grants, 1);
        assert_true(auth_allowed(t, "alice", AUTH_WRITE, "app/x", 5));
        assert_int_equal(auth_user_revoke_role(t, "alice", "app"), 0);
        assert_false(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        assert_int_equal(auth_user_revoke_role(t, "alice", "app"), TKV_ENOTFOUND);
        assert_int_equal(auth_user_grant_role(t, "alice", "app"), 0);
        assert_int_equal(auth_user_grant_role(t, "alice", "app"), 0);
        assert_int_equal(auth_user_find(t, "alice")->n_roles, 1);
        /* A deleted role grants nothing; recreated, it starts empty. */
        assert_int_equal(auth_role_delete(t, "app"), 0);
        assert_false(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        assert_int_equal(auth_role_add(t, "app"), 0);
        assert_int_equal(auth_role_add(t, "app"), TKV_EEXIST);
        assert_false(auth_allowed(t, "alice", AUTH_READ, "app/x", 5));
        /* A deleted user is refused even on a connection that AUTHed. */
        assert_int_equal(auth_role_grant(t, "app", AUTH_READ, "", 0), 0);
        assert_true(auth_allowed(t, "alice", AUTH_READ, "k", 1));
        assert_int_equal(auth_user_delete(t, "alice"), 0);
        assert_false(auth_allowed(t, "alice", AUTH_READ, "k", 1));
        assert_int_equal(auth_user_delete(t, "alice"), TKV_ENOTFOUND);
        assert_int_equal(auth_user_grant_role(t, "alice", "app"), TKV_ENOTFOUND);
        assert_int_equal(auth_role_grant(t, "nope", AUTH_READ, "", 0), TKV_ENOTFOUND);
        assert_int_equal(auth_role_grant(t, "app", 0, "", 0), TKV_EINVAL);
        assert_int_equal(auth_role_grant(t, "app", 8, "", 0), TKV_EINVAL);
}

static void test_secrets(void **state)
{
        struct auth_table *t = *state;
        const struct auth_user *u = auth_user_find(t, "alice");
        struct auth_secret a;
        struct auth_secret b;

        assert_non_null(u);
        assert_true(auth_secret_check(&u->secret, "pw", 2));
        assert_false(auth_secret_check(&u->secret, "pW", 2));
        assert_false(auth_secret_check(&u->secret, "pw ", 3));
        assert_false(auth_secret_check(&u->secret, "", 0));
        /* The same password twice: different salts, different hashes. */
        assert_int_equal(auth_secret_make(&a, "same", 4, ITER), 0);
        assert_int_equal(auth_secret_make(&b, "same", 4, ITER), 0);
        assert_memory_not_equal(a.salt, b.salt, AUTH_SALT_BYTES);
        assert_memory_not_equal(a.hash, b.hash, AUTH_HASH_BYTES);
        /* The iteration count is part of the secret. */
        a.iterations++;
        assert_false(auth_secret_check(&a, "same", 4));
        a.iterations = 0;
        assert_false(auth_secret_check(&a, "same", 4));
        assert_int_equal(auth_secret_make(&a, "x", 1, AUTH_ITERATIONS_MIN - 1), TKV_EINVAL);
        assert_int_equal(auth_secret_make(&a, "x", 1, AUTH_ITERATIONS_MAX + 1), TKV_EINVAL);
}

/* A known PBKDF2-HMAC-SHA256 vector, so a change of KDF cannot pass
 * unnoticed (stored secrets would stop matching). */
static void test_kdf_vector(void **state)
{
        static const uint8_t salt[AUTH_SALT_BYTES] = "saltsaltsaltsalt";
        /* Python: hashlib.pbkdf2_hmac('sha256', b'password', salt, 1000). */
        static const uint8_t want[AUTH_HASH_BYTES] = {
            0xf2, 0x75, 0xfb, 0x87, 0x01, 0x44, 0xcc, 0x80, 0x7c, 0x68, 0xf6,
            0xa3, 0x25, 0x36, 0x0a, 0xf3, 0x07, 0x87, 0x41, 0xce, 0x4d, 0x83,
            0x3d, 0x29, 0x15, 0x50, 0x0a, 0xbd, 0x2b, 0xb8, 0x8d, 0x00};
        uint8_t out[AUTH_HASH_BYTES];
        uint8_t again[AUTH_HASH_BYTES];

        (void)state;
        assert_int_equal(auth_kdf("password", 8, salt, 1000, out), 0);
        assert_memory_equal(out, want, AUTH_HASH_BYTES);
        assert_int_equal(auth_kdf("password", 8, salt, 1000, again), 0);
        assert_memory_equal(out, again, AUTH_HASH_BYTES);
        assert_int_equal(auth_kdf("password", 8, salt, 1001, again), 0);
        assert_memory_not_equal(out, again, AUTH_HASH_BYTES);
        assert_int_equal(auth_kdf("x", AUTH_PASSWORD_BYTES_MAX + 1, salt, 1000, out), TKV_EINVAL);
}

/* The stored form: what decodes is what was encoded, and every truncation
 * or a wrong version is refused rather than half-read. */
static void test_encode_decode(void **state)
{
        struct auth_table *t = *state;
        struct auth_table *back = NULL;
        uint8_t *bytes = NULL;
        uint8_t *again = NULL;
        size_t len = 0, len2 = 0;

        assert_int_equal(auth_role_add(t, "ops"), 0);
        assert_int_equal(auth_role_grant(t, "ops", AUTH_ADMIN, "", 0), 0);
        assert_int_equal(auth_role_grant(t, "app", AUTH_READ, "b\0c", 3), 0);
        assert_int_equal(auth_user_grant_role(t, "alice", "ops"), 0);
        assert_int_equal(auth_user_grant_role(t, "alice", "gone"), 0);
        assert_int_equal(auth_secret_make(&t->root, "r", 1, ITER), 0);
        t->root_set = true;
        assert_int_equal(auth_table_encode(t, &bytes, &len), 0);
        assert_int_equal(auth_table_decode(bytes, len, &back), 0);
        assert_true(back->root_set);
        assert_true(auth_secret_check(&back->root, "r", 1));
        assert_true(auth_secret_check(&auth_user_find(back, "alice")->secret, "pw", 2));
        assert_int_equal(auth_user_find(back, "alice")->n_roles, 3);
        assert_true(auth_allowed(back, "alice", AUTH_WRITE, "app/x", 5));
        assert_true(auth_allowed(back, "alice", AUTH_READ, "b\0cd", 4));
        assert_true(auth_allowed(back, "alice", AUTH_ADMIN, NULL, 0));
        assert_false(auth_allowed(back, "alice", AUTH_WRITE, "b\0cd", 4));
        /* Same table, same bytes. */
        assert_int_equal(auth_table_encode(back, &again, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, bytes, len);
        auth_table_destroy(back);
        for (size_t cut = 0; cut < len; cut++) {
                assert_int_equal(auth_table_decode(bytes, cut, &back), TKV_ECORRUPT);
                assert_null(back);
        }
        bytes[0] = 2;
        assert_int_equal(auth_table_decode(bytes, len, &back), TKV_ECORRUPT);
        tkv_free(bytes);
        /* A name with a NUL inside is refused, not cut short into another
         * user's name (fuzz_auth found "bo\0" read as "bo"). */
        {
                static const uint8_t nul_name[] = {1, 0, 1, 0, 0, 0, 3, 'b', 'o', 0};
                uint8_t rec[sizeof nul_name + 52 + 2 + 4];
                memset(rec, 0, sizeof rec);
                memcpy(rec, nul_name, sizeof nul_name);
                rec[sizeof nul_name] = 0xe8; /* iterations 1000 */
                rec[sizeof nul_name + 1] = 0x03;
                assert_int_equal(auth_table_decode(rec, sizeof rec, &back), TKV_ECORRUPT);
                assert_null(back);
                rec[sizeof nul_name - 1] = 'b'; /* "bob": the same record decodes */
                assert_int_equal(auth_table_decode(rec, sizeof rec, &back), 0);
                assert_non_null(auth_user_find(back, "bob"));
                auth_table_destroy(back);
        }
        /* A user listing a role twice is not a record any encoder writes
         * (granting twice keeps one): refused (fuzz_auth). */
        {
                uint8_t rec[6 + 4 + 52 + 2 + 8 + 4];
                size_t at = 0;
                static const uint8_t head[] = {1, 0, 1, 0, 0, 0, 3, 'b', 'o', 'b'};
                memset(rec, 0, sizeof rec);
                memcpy(rec, head, sizeof head);
                at = sizeof head;
                rec[at] = 0xe8; /* iterations 1000, then salt and hash */
                rec[at + 1] = 0x03;
                at += 52;
                rec[at] = 2; /* two roles: "app", "app" */
                at += 2;
                memcpy(rec + at, "\3app\3app", 8);
                assert_int_equal(auth_table_decode(rec, sizeof rec, &back), TKV_ECORRUPT);
                assert_null(back);
                memcpy(rec + at, "\3app\3ops", 8);
                assert_int_equal(auth_table_decode(rec, sizeof rec, &back), 0);
                assert_int_equal(auth_user_find(back, "bob")->n_roles, 2);
                auth_table_destroy(back);
        }
        tkv_free(again);
        /* The empty table (auth on, nothing stored yet) round-trips too. */
        t = auth_table_create();
        assert_int_equal(auth_table_encode(t, &bytes, &len), 0);
        assert_int_equal(auth_table_decode(bytes, len, &back), 0);
        assert_false(back->root_set);
        assert_int_equal(back->n_users + back->n_roles, 0);
        auth_table_destroy(back);
        auth_table_destroy(t);
        tkv_free(bytes);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_perm_names),
            cmocka_unit_test_setup_teardown(test_prefix_match, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_only_and_admin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_root_and_unknown, setup, teardown),
            cmocka_unit_test_setup_teardown(test_changes_apply_to_next_check, setup, teardown),
            cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
            cmocka_unit_test(test_kdf_vector),
            cmocka_unit_test_setup_teardown(test_encode_decode, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
