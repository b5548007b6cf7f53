/* Users, roles and the permission check (auth.h says what they mean).
 *
 * The table is small (users and roles an operator types in), so arrays
 * searched in order are enough: a check costs one pass over the user's
 * roles and their grants, per request. Passwords are hashed with
 * PBKDF2-HMAC-SHA256 from OpenSSL, salted per user, with the iteration
 * count stored next to the hash so that it can be raised later without
 * invalidating stored passwords. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "buffer.h"
#include "err.h"
#include "heap.h"

struct auth_table *auth_table_create(void)
{
        return tkv_calloc(1, sizeof(struct auth_table));
}

static void auth_role_free(struct auth_role *r)
{
        for (unsigned i = 0; i < r->n_grants; i++) {
                tkv_free(r->grants[i].prefix);
        }
        tkv_free(r->grants);
}

void auth_table_destroy(struct auth_table *t)
{
        if (t == NULL) {
                return;
        }
        for (unsigned i = 0; i < t->n_users; i++) {
                tkv_free(t->users[i].roles);
        }
        for (unsigned i = 0; i < t->n_roles; i++) {
                auth_role_free(&t->roles[i]);
        }
        tkv_free(t->users);
        tkv_free(t->roles);
        tkv_free(t);
}

bool auth_name_valid(const char *name)
{
        size_t len = strnlen(name, AUTH_NAME_BYTES);

        if (len == 0 || len >= AUTH_NAME_BYTES) {
                return false;
        }
        for (size_t i = 0; i < len; i++) {
                char ch = name[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
                          ch == '@';
                if (!ok) {
                        return false;
                }
        }
        return true;
}

static const struct {
        const char *name;
        unsigned perms;
} auth_perm_names[] = {
    {"read", AUTH_READ},
    {"write", AUTH_WRITE},
    {"readwrite", AUTH_READWRITE},
    {"admin", AUTH_ADMIN},
};

int auth_perm_parse(const char *text, unsigned *perms)
{
        for (size_t i = 0; i < sizeof auth_perm_names / sizeof auth_perm_names[0]; i++) {
                if (strcmp(text, auth_perm_names[i].name) == 0) {
                        *perms = auth_perm_names[i].perms;
                        return 0;
                }
        }
        return TKV_EINVAL;
}

const char *auth_perm_name(unsigned perms)
{
        for (size_t i = 0; i < sizeof auth_perm_names / sizeof auth_perm_names[0]; i++) {
                if (auth_perm_names[i].perms == perms) {
                        return auth_perm_names[i].name;
                }
        }
        return "mixed";
}

static struct auth_user *auth_user_lookup(const struct auth_table *t, const char *name)
{
        for (unsigned i = 0; i < t->n_users; i++) {
                if (strcmp(t->users[i].name, name) == 0) {
                        return &t->users[i];
                }
        }
        return NULL;
}

static struct auth_role *auth_role_lookup(const struct auth_table *t, const char *name)
{
        for (unsigned i = 0; i < t->n_roles; i++) {
                if (strcmp(t->roles[i].name, name) == 0) {
                        return &t->roles[i];
                }
        }
        return NULL;
}

const struct auth_user *auth_user_find(const struct auth_table *t, const char *name)
{
        return auth_user_lookup(t, name);
}

const struct auth_role *auth_role_find(const struct auth_table *t, const char *name)
{
        return auth_role_lookup(t, name);
}

int auth_user_set(struct auth_table *t, const char *name, const struct auth_secret *secret)
{
        struct auth_user *u;

        if (!auth_name_valid(name) || strcmp(name, AUTH_ROOT) == 0) {
                return TKV_EINVAL;
        }
        u = auth_user_lookup(t, name);
        if (u == NULL) {
                u = tkv_realloc(t->users, (t->n_users + 1) * sizeof *u);
                if (u == NULL) {
                        return TKV_ENOMEM;
                }
                t->users = u;
                u = &t->users[t->n_users++];
                memset(u, 0, sizeof *u);
                memcpy(u->name, name, strlen(name) + 1);
        }
        u->secret = *secret;
        return 0;
}

int auth_user_delete(struct auth_table *t, const char *name)
{
        struct auth_user *u = auth_user_lookup(t, name);

        if (u == NULL) {
                return TKV_ENOTFOUND;
        }
        tkv_free(u->roles);
        *u = t->users[--t->n_users];
        return 0;
}

static int auth_user_role_index(const struct auth_user *u, const char *role)
{
        for (unsigned i = 0; i < u->n_roles; i++) {
                if (strcmp(u->roles[i], role) == 0) {
                        return (int)i;
                }
        }
        return -1;
}

int auth_user_grant_role(struct auth_table *t, const char *user, const char *role)
{
        struct auth_user *u = auth_user_lookup(t, user);
        char(*roles)[AUTH_NAME_BYTES];

        if (u == NULL) {
                return TKV_ENOTFOUND;
        }
        if (!auth_name_valid(role)) {
                return TKV_EINVAL;
        }
        if (auth_user_role_index(u, role) >= 0) {
                return 0;
        }
        roles = tkv_realloc(u->roles, (u->n_roles + 1) * sizeof *roles);
        if (roles == NULL) {
                return TKV_ENOMEM;
        }
        u->roles = roles;
        memset(u->roles[u->n_roles], 0, AUTH_NAME_BYTES);
        memcpy(u->roles[u->n_roles], role, strlen(role) + 1);
        u->n_roles++;
        return 0;
}

int auth_user_revoke_role(struct auth_table *t, const char *user, const char *role)
{
        struct auth_user *u = auth_user_lookup(t, user);
        int i = u != NULL ? auth_user_role_index(u, role) : -1;

        if (i < 0) {
                return TKV_ENOTFOUND;
        }
        u->n_roles--;
        memmove(u->roles[i], u->roles[u->n_roles], AUTH_NAME_BYTES);
        return 0;
}

int auth_role_add(struct auth_table *t, const char *name)
{
        struct auth_role *r;

        if (!auth_name_valid(name)) {
                return TKV_EINVAL;
        }
        if (auth_role_lookup(t, name) != NULL) {
                return TKV_EEXIST;
        }
        r = tkv_realloc(t->roles, (t->n_roles + 1) * sizeof *r);
        if (r == NULL) {
                return TKV_ENOMEM;
        }
        t->roles = r;
        r = &t->roles[t->n_roles++];
        memset(r, 0, sizeof *r);
        memcpy(r->name, name, strlen(name) + 1);
        return 0;
}

int auth_role_delete(struct auth_table *t, const char *name)
{
        struct auth_role *r = auth_role_lookup(t, name);

        if (r == NULL) {
                return TKV_ENOTFOUND;
        }
        auth_role_free(r);
        *r = t->roles[--t->n_roles];
        return 0;
}

static struct auth_grant *auth_grant_lookup(const struct auth_role *r, const void *prefix,
                                            size_t prefix_len)
{
        for (unsigned i = 0; i < r->n_grants; i++) {
                struct auth_grant *g = &r->grants[i];
                if (g->prefix_len == prefix_len &&
                    (prefix_len == 0 || memcmp(g->prefix, prefix, prefix_len) == 0)) {
                        return g;
                }
        }
        return NULL;
}

int auth_role_grant(struct auth_table *t, const char *role, unsigned perms, const void *prefix,
                    size_t prefix_len)
{
        struct auth_role *r = auth_role_lookup(t, role);
        struct auth_grant *g;
        uint8_t *copy = NULL;

        if (r == NULL) {
                return TKV_ENOTFOUND;
        }
        if (perms == 0 || (perms & ~(unsigned)(AUTH_READWRITE | AUTH_ADMIN)) != 0) {
                return TKV_EINVAL;
        }
        g = auth_grant_lookup(r, prefix, prefix_len);
        if (g != NULL) {
                g->perms = perms;
                return 0;
        }
        if (prefix_len > 0 && (copy = tkv_malloc(prefix_len)) == NULL) {
                return TKV_ENOMEM;
        }
        g = tkv_realloc(r->grants, (r->n_grants + 1) * sizeof *g);
        if (g == NULL) {
                tkv_free(copy);
                return TKV_ENOMEM;
        }
        r->grants = g;
        if (prefix_len > 0) {
                memcpy(copy, prefix, prefix_len);
        }
        r->grants[r->n_grants++] =
            (struct auth_grant){.perms = perms, .prefix = copy, .prefix_len = prefix_len};
        return 0;
}

int auth_role_revoke(struct auth_table *t, const char *role, const void *prefix, size_t prefix_len)
{
        struct auth_role *r = auth_role_lookup(t, role);
        struct auth_grant *g = r != NULL ? auth_grant_lookup(r, prefix, prefix_len) : NULL;

        if (g == NULL) {
                return TKV_ENOTFOUND;
        }
        tkv_free(g->prefix);
        *g = r->grants[--r->n_grants];
        return 0;
}

/* Does g cover perm on key? ADMIN is not about keys: any admin grant
 * covers it, whatever its prefix. */
static bool auth_grant_covers(const struct auth_grant *g, unsigned perm, const void *key,
                              size_t key_len)
{
        if ((g->perms & perm) != perm) {
                return false;
        }
        if (perm == AUTH_ADMIN) {
                return true;
        }
        return g->prefix_len <= key_len &&
               (g->prefix_len == 0 || memcmp(g->prefix, key, g->prefix_len) == 0);
}

bool auth_allowed(const struct auth_table *t, const char *user, unsigned perm, const void *key,
                  size_t key_len)
{
        const struct auth_user *u;

        if (strcmp(user, AUTH_ROOT) == 0) {
                return true;
        }
        u = auth_user_lookup(t, user);
        if (u == NULL) {
                return false; /* deleted while its connection was open */
        }
        for (unsigned i = 0; i < u->n_roles; i++) {
                const struct auth_role *r = auth_role_lookup(t, u->roles[i]);
                for (unsigned j = 0; r != NULL && j < r->n_grants; j++) {
                        if (auth_grant_covers(&r->grants[j], perm, key, key_len)) {
                                return true;
                        }
                }
        }
        return false;
}

bool auth_allowed_some_key(const struct auth_table *t, const char *user, unsigned perm)
{
        const struct auth_user *u;

        if (strcmp(user, AUTH_ROOT) == 0) {
                return true;
        }
        u = auth_user_lookup(t, user);
        for (unsigned i = 0; u != NULL && i < u->n_roles; i++) {
                const struct auth_role *r = auth_role_lookup(t, u->roles[i]);
                for (unsigned j = 0; r != NULL && j < r->n_grants; j++) {
                        if ((r->grants[j].perms & perm) == perm) {
                                return true;
                        }
                }
        }
        return false;
}

int auth_kdf(const void *password, size_t password_len, const uint8_t salt[AUTH_SALT_BYTES],
             uint32_t iterations, uint8_t out[AUTH_HASH_BYTES])
{
        if (password_len > AUTH_PASSWORD_BYTES_MAX || iterations < AUTH_ITERATIONS_MIN ||
            iterations > AUTH_ITERATIONS_MAX) {
                return TKV_EINVAL;
        }
        if (PKCS5_PBKDF2_HMAC(password_len > 0 ? password : "", (int)password_len, salt,
                              AUTH_SALT_BYTES, (int)iterations, EVP_sha256(), AUTH_HASH_BYTES,
                              out) != 1) {
                return TKV_EIO;
        }
        return 0;
}

int auth_secret_make(struct auth_secret *out, const void *password, size_t password_len,
                     uint32_t iterations)
{
        memset(out, 0, sizeof *out);
        if (iterations < AUTH_ITERATIONS_MIN || iterations > AUTH_ITERATIONS_MAX) {
                return TKV_EINVAL;
        }
        if (RAND_bytes(out->salt, AUTH_SALT_BYTES) != 1) {
                return TKV_EIO;
        }
        out->iterations = iterations;
        return auth_kdf(password, password_len, out->salt, iterations, out->hash);
}

bool auth_secret_check(const struct auth_secret *secret, const void *password, size_t password_len)
{
        uint8_t hash[AUTH_HASH_BYTES];
        bool ok;

        if (auth_kdf(password, password_len, secret->salt, secret->iterations, hash) != 0) {
                return false;
        }
        ok = CRYPTO_memcmp(hash, secret->hash, AUTH_HASH_BYTES) == 0;
        OPENSSL_cleanse(hash, sizeof hash);
        return ok;
}

/* ------------------------------------------------------------------------ */
/* The stored form (auth.h has the layout) */

#define AUTH_FORMAT_VERSION 1
#define AUTH_SECRET_BYTES   (4 + AUTH_SALT_BYTES + AUTH_HASH_BYTES)

static int auth_put(struct buffer *b, const void *data, size_t len)
{
        return buffer_append(b, data, len) == 0 ? 0 : TKV_ENOMEM;
}

static int auth_put_u8(struct buffer *b, unsigned v)
{
        uint8_t x = (uint8_t)v;
        return auth_put(b, &x, 1);
}

static int auth_put_u16(struct buffer *b, unsigned v)
{
        uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
        return auth_put(b, x, 2);
}

static int auth_put_u32(struct buffer *b, uint32_t v)
{
        uint8_t x[4];
        put_le32(x, v);
        return auth_put(b, x, 4);
}

static int auth_put_name(struct buffer *b, const char *name)
{
        size_t len = strlen(name);
        return auth_put_u8(b, (unsigned)len) != 0 ? TKV_ENOMEM : auth_put(b, name, len);
}

static int auth_put_secret(struct buffer *b, const struct auth_secret *s)
{
        int rv = auth_put_u32(b, s->iterations);
        rv = rv != 0 ? rv : auth_put(b, s->salt, AUTH_SALT_BYTES);
        return rv != 0 ? rv : auth_put(b, s->hash, AUTH_HASH_BYTES);
}

static int auth_put_user(struct buffer *b, const struct auth_user *u)
{
        int rv = auth_put_name(b, u->name);
        rv = rv != 0 ? rv : auth_put_secret(b, &u->secret);
        rv = rv != 0 ? rv : auth_put_u16(b, u->n_roles);
        for (unsigned i = 0; rv == 0 && i < u->n_roles; i++) {
                rv = auth_put_name(b, u->roles[i]);
        }
        return rv;
}

static int auth_put_role(struct buffer *b, const struct auth_role *r)
{
        int rv = auth_put_name(b, r->name);
        rv = rv != 0 ? rv : auth_put_u16(b, r->n_grants);
        for (unsigned i = 0; rv == 0 && i < r->n_grants; i++) {
                const struct auth_grant *g = &r->grants[i];
                rv = auth_put_u8(b, g->perms);
                rv = rv != 0 ? rv : auth_put_u32(b, (uint32_t)g->prefix_len);
                rv = rv != 0 || g->prefix_len == 0 ? rv : auth_put(b, g->prefix, g->prefix_len);
        }
        return rv;
}

int auth_table_encode(const struct auth_table *t, uint8_t **out, size_t *len)
{
        struct buffer b;
        int rv;

        buffer_init(&b);
        rv = auth_put_u8(&b, AUTH_FORMAT_VERSION);
        rv = rv != 0 ? rv : auth_put_u8(&b, t->root_set);
        rv = rv != 0 || !t->root_set ? rv : auth_put_secret(&b, &t->root);
        rv = rv != 0 ? rv : auth_put_u32(&b, t->n_users);
        for (unsigned i = 0; rv == 0 && i < t->n_users; i++) {
                rv = auth_put_user(&b, &t->users[i]);
        }
        rv = rv != 0 ? rv : auth_put_u32(&b, t->n_roles);
        for (unsigned i = 0; rv == 0 && i < t->n_roles; i++) {
                rv = auth_put_role(&b, &t->roles[i]);
        }
        if (rv != 0) {
                buffer_free(&b);
                return rv;
        }
        *len = buffer_len(&b);
        *out = b.base; /* the buffer's allocation, from offset 0 */
        return 0;
}

static int auth_get_u8(struct cursor *c, unsigned *v)
{
        const uint8_t *p;
        if (cursor_bytes(c, 1, &p) != 0) {
                return TKV_ECORRUPT;
        }
        *v = p[0];
        return 0;
}

static int auth_get_u16(struct cursor *c, unsigned *v)
{
        const uint8_t *p;
        if (cursor_bytes(c, 2, &p) != 0) {
                return TKV_ECORRUPT;
        }
        *v = (unsigned)p[0] | (unsigned)p[1] << 8;
        return 0;
}

/* A name into out (AUTH_NAME_BYTES), checked like auth_name_valid. */
static int auth_get_name(struct cursor *c, char *out)
{
        const uint8_t *p;
        unsigned len;

        if (auth_get_u8(c, &len) != 0 || len >= AUTH_NAME_BYTES || cursor_bytes(c, len, &p) != 0) {
                return TKV_ECORRUPT;
        }
        memcpy(out, p, len);
        out[len] = '\0';
        /* All len bytes must be the name: a NUL inside would make "bo\0x"
         * the user "bo" (found by fuzz_auth). */
        return strlen(out) == len && auth_name_valid(out) ? 0 : TKV_ECORRUPT;
}

static int auth_get_secret(struct cursor *c, struct auth_secret *s)
{
        const uint8_t *p;
        if (cursor_u32(c, &s->iterations) != 0 || cursor_bytes(c, AUTH_SALT_BYTES, &p) != 0) {
                return TKV_ECORRUPT;
        }
        memcpy(s->salt, p, AUTH_SALT_BYTES);
        if (cursor_bytes(c, AUTH_HASH_BYTES, &p) != 0) {
                return TKV_ECORRUPT;
        }
        memcpy(s->hash, p, AUTH_HASH_BYTES);
        return 0;
}

static int auth_get_user(struct cursor *c, struct auth_table *t)
{
        char name[AUTH_NAME_BYTES];
        char role[AUTH_NAME_BYTES];
        struct auth_secret secret;
        unsigned n;
        int rv;

        if (auth_get_name(c, name) != 0 || auth_get_secret(c, &secret) != 0 ||
            auth_get_u16(c, &n) != 0 || auth_user_find(t, name) != NULL) {
                return TKV_ECORRUPT;
        }
        rv = auth_user_set(t, name, &secret);
        for (unsigned i = 0; rv == 0 && i < n; i++) {
                rv = auth_get_name(c, role);
                /* A role listed twice: no encoder writes that (granting
                 * twice keeps one), so it is not a record of ours. */
                if (rv == 0 && auth_user_role_index(auth_user_lookup(t, name), role) >= 0) {
                        rv = TKV_ECORRUPT;
                }
                rv = rv != 0 ? rv : auth_user_grant_role(t, name, role);
        }
        return rv == TKV_EINVAL ? TKV_ECORRUPT : rv;
}

static int auth_get_role(struct cursor *c, struct auth_table *t)
{
        char name[AUTH_NAME_BYTES];
        const uint8_t *prefix;
        unsigned n, perms;
        uint32_t len;
        int rv;

        if (auth_get_name(c, name) != 0 || auth_get_u16(c, &n) != 0) {
                return TKV_ECORRUPT;
        }
        rv = auth_role_add(t, name);
        for (unsigned i = 0; rv == 0 && i < n; i++) {
                if (auth_get_u8(c, &perms) != 0 || cursor_u32(c, &len) != 0 ||
                    cursor_bytes(c, len, &prefix) != 0 ||
                    auth_grant_lookup(auth_role_lookup(t, name), prefix, len) != NULL) {
                        return TKV_ECORRUPT;
                }
                rv = auth_role_grant(t, name, perms, prefix, len);
        }
        return rv == TKV_EINVAL || rv == TKV_EEXIST ? TKV_ECORRUPT : rv;
}

static int auth_decode_into(struct cursor *c, struct auth_table *t)
{
        unsigned version, root_set;
        uint32_t n;
        int rv = 0;

        if (auth_get_u8(c, &version) != 0 || version != AUTH_FORMAT_VERSION ||
            auth_get_u8(c, &root_set) != 0 || root_set > 1) {
                return TKV_ECORRUPT;
        }
        t->root_set = root_set != 0;
        if (t->root_set && auth_get_secret(c, &t->root) != 0) {
                return TKV_ECORRUPT;
        }
        if (cursor_u32(c, &n) != 0) {
                return TKV_ECORRUPT;
        }
        for (uint32_t i = 0; rv == 0 && i < n; i++) {
                rv = auth_get_user(c, t);
        }
        if (rv == 0 && cursor_u32(c, &n) != 0) {
                return TKV_ECORRUPT;
        }
        for (uint32_t i = 0; rv == 0 && i < n; i++) {
                rv = auth_get_role(c, t);
        }
        return rv == 0 && c->left != 0 ? TKV_ECORRUPT : rv;
}

int auth_table_decode(const void *data, size_t len, struct auth_table **out)
{
        struct auth_table *t = auth_table_create();
        struct cursor c;
        int rv;

        *out = NULL;
        if (t == NULL) {
                return TKV_ENOMEM;
        }
        cursor_init(&c, data, len);
        rv = auth_decode_into(&c, t);
        if (rv != 0) {
                auth_table_destroy(t);
                return rv;
        }
        *out = t;
        return 0;
}
