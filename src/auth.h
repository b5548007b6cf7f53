/* Client users, roles and permissions (docs/security.md, "Users and
 * permissions"): the table a node checks every client request against,
 * and the password hashing. Pure: no sockets, no loop, no raft.
 *
 * A user has a password secret (salt, KDF iterations, PBKDF2-HMAC-SHA256
 * hash) and a list of role names; a role has grants, each a permission on
 * a key prefix. A request is allowed when one of the user's roles has a
 * grant whose permission covers it and whose prefix starts its key (the
 * empty prefix covers every key). The user "root" always exists and may do
 * everything: it is how a cluster with auth on is first entered.
 *
 * Roles are named, not embedded, in users, so that changing a role changes
 * what every user holding it may do at once, and a user naming a role that
 * does not exist (deleted since) simply gets nothing from it. */
#ifndef TKV_AUTH_H
#define TKV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NAME_BYTES         64 /* user and role names, NUL included */
#define AUTH_SALT_BYTES         16
#define AUTH_HASH_BYTES         32
#define AUTH_PASSWORD_BYTES_MAX 1024
#define AUTH_ITERATIONS_MIN     1000
#define AUTH_ITERATIONS_MAX     10000000
#define AUTH_ROOT               "root"

/* What a grant allows; AUTH_READWRITE is READ | WRITE. ADMIN covers user
 * and role management and STATUS, whatever the grant's prefix. */
enum auth_perm {
        AUTH_READ = 1,
        AUTH_WRITE = 2,
        AUTH_READWRITE = 3,
        AUTH_ADMIN = 4,
};

/* A password as stored: never the password itself. */
struct auth_secret {
        uint32_t iterations; /* PBKDF2-HMAC-SHA256 rounds this hash was made with */
        uint8_t salt[AUTH_SALT_BYTES];
        uint8_t hash[AUTH_HASH_BYTES];
};

struct auth_grant {
        unsigned perms;    /* OR of enum auth_perm */
        uint8_t *prefix;   /* owned; NULL when prefix_len is 0 */
        size_t prefix_len; /* 0: every key */
};

struct auth_role {
        char name[AUTH_NAME_BYTES];
        struct auth_grant *grants; /* owned array */
        unsigned n_grants;
};

struct auth_user {
        char name[AUTH_NAME_BYTES];
        struct auth_secret secret;
        char (*roles)[AUTH_NAME_BYTES]; /* owned array of role names */
        unsigned n_roles;
};

struct auth_table {
        bool root_set;           /* root's password was stored in the cluster */
        struct auth_secret root; /* if root_set; else root_password_file's counts */
        struct auth_user *users; /* owned array, unordered */
        unsigned n_users;
        struct auth_role *roles; /* owned array, unordered */
        unsigned n_roles;
};

/* What a node enforces (struct node's auth; rpc_auth.c runs it). */
struct auth_state {
        bool enabled;             /* [auth] enabled */
        struct auth_table *table; /* owned: the system group's record, decoded */
        uint64_t table_version;   /* the record's version table was decoded from; 0: none */
        /* Without a replica of the metadata group: the record as a node
         * with one last sent it (rpc_join.c asks every second), owned. */
        uint8_t *learned;
        size_t learned_len;
        uint64_t learned_version;
        bool learned_once;         /* an answer came: the users are known (maybe none) */
        struct auth_secret root;   /* root's, from root_password_file */
        struct auth_secret nobody; /* checked for unknown users: a failure costs the same */
        unsigned in_flight;        /* AUTH hashings on the threadpool */
        uint64_t logged_ms;        /* loop time of the last failure logged; 0: none */
        uint64_t unlogged;         /* failures since then not logged (at most one a second) */
        uint64_t failures;         /* AUTH refused, since start */
        uint64_t successes;
};

/* An empty table (only root, whose secret is not in it). Returns NULL when
 * out of memory. auth_table_destroy(NULL) is a no-op. */
struct auth_table *auth_table_create(void);
void auth_table_destroy(struct auth_table *t);

/* The stored form of a whole table (replicated through Raft, in the system
 * group's store: docs/security.md). encode: a new buffer in *out (free with
 * tkv_free), its length in *len; 0 or TKV_ENOMEM. decode: a new table
 * from data (borrowed) into *out; 0, TKV_ECORRUPT (anything malformed:
 * the version, a length past the end, a bad name or permission, bytes
 * left over) or TKV_ENOMEM. Layout, little-endian:
 *
 *   u8 version (1) | u8 root_set | [secret if root_set]
 *   u32 users | per user: u8 name_len, name, secret, u16 roles,
 *                         per role: u8 len, name
 *   u32 roles | per role: u8 name_len, name, u16 grants,
 *                         per grant: u8 perms, u32 prefix_len, prefix
 *   secret = u32 iterations | salt (16) | hash (32) */
int auth_table_encode(const struct auth_table *t, uint8_t **out, size_t *len);
int auth_table_decode(const void *data, size_t len, struct auth_table **out);

/* Is name usable as a user or role name: 1 to AUTH_NAME_BYTES - 1 bytes of
 * letters, digits and "._-@"? Names are printed in logs and listings, so
 * nothing else is allowed in them. */
bool auth_name_valid(const char *name);

/* The permission named by text ("read", "write", "readwrite", "admin"):
 * 0 or TKV_EINVAL. */
int auth_perm_parse(const char *text, unsigned *perms);

/* The name of a set of permissions, for listings ("readwrite"). */
const char *auth_perm_name(unsigned perms);

/* Add user name (copied) with secret (copied), or replace the secret of an
 * existing one (its roles stay). TKV_EINVAL for a bad name or for root,
 * TKV_ENOMEM. */
int auth_user_set(struct auth_table *t, const char *name, const struct auth_secret *secret);

/* The user called name, or NULL (also for root, which is not stored).
 * Borrowed from t: valid until t changes. */
const struct auth_user *auth_user_find(const struct auth_table *t, const char *name);

/* Delete user name: 0 or TKV_ENOTFOUND. */
int auth_user_delete(struct auth_table *t, const char *name);

/* Give user the role called role (which need not exist yet), or take it
 * away. 0; TKV_ENOTFOUND (no such user; revoke: the user lacks the role),
 * TKV_EINVAL (bad role name), TKV_ENOMEM. Granting twice is a no-op. */
int auth_user_grant_role(struct auth_table *t, const char *user, const char *role);
int auth_user_revoke_role(struct auth_table *t, const char *user, const char *role);

/* Add an empty role: 0, TKV_EEXIST, TKV_EINVAL (bad name), TKV_ENOMEM. */
int auth_role_add(struct auth_table *t, const char *name);

/* The role called name, or NULL. Borrowed from t: valid until t changes. */
const struct auth_role *auth_role_find(const struct auth_table *t, const char *name);

/* Delete a role (users keep its name, which then grants nothing): 0 or
 * TKV_ENOTFOUND. */
int auth_role_delete(struct auth_table *t, const char *name);

/* Let role do perms on keys starting with prefix (copied; prefix_len 0:
 * every key). A grant on the same prefix is replaced. 0, TKV_ENOTFOUND,
 * TKV_EINVAL (perms 0 or unknown bits), TKV_ENOMEM. */
int auth_role_grant(struct auth_table *t, const char *role, unsigned perms, const void *prefix,
                    size_t prefix_len);

/* Remove role's grant on exactly prefix: 0 or TKV_ENOTFOUND. */
int auth_role_revoke(struct auth_table *t, const char *role, const void *prefix, size_t prefix_len);

/* May user do perm (one of enum auth_perm) on key (key_len 0: a request
 * without a key, where only ADMIN is asked)? Root may always. Everything
 * borrowed. */
bool auth_allowed(const struct auth_table *t, const char *user, unsigned perm, const void *key,
                  size_t key_len);

/* May user do perm on at least one key (a grant of perm on any prefix)?
 * For requests that name no key of their own but act on keys the user
 * could write (leases). Root may always. Everything borrowed. */
bool auth_allowed_some_key(const struct auth_table *t, const char *user, unsigned perm);

/* PBKDF2-HMAC-SHA256 of password with salt and iterations into out. Slow
 * on purpose (that is its point): never call it on the event loop.
 * 0 or TKV_EIO. */
int auth_kdf(const void *password, size_t password_len, const uint8_t salt[AUTH_SALT_BYTES],
             uint32_t iterations, uint8_t out[AUTH_HASH_BYTES]);

/* Make a secret for password: a fresh random salt, then auth_kdf.
 * 0, TKV_EINVAL (iterations out of range), TKV_EIO. Slow. */
int auth_secret_make(struct auth_secret *out, const void *password, size_t password_len,
                     uint32_t iterations);

/* Does password match secret? Compares in constant time (CRYPTO_memcmp).
 * A secret with iterations out of range never matches. Slow. */
bool auth_secret_check(const struct auth_secret *secret, const void *password, size_t password_len);

#endif
