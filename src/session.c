#include "session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "buffer.h"
#include "err.h"
#include "keyhash.h"
#include "keys.h"
#include "varint.h"

int session_keys_init(struct session_keys *k, const char *secret, const char *cluster_name)
{
        uint8_t key[KEYS_BYTES];

        memset(k, 0, sizeof *k);
        k->cluster_id = key_hash(cluster_name, strlen(cluster_name));
        if (keys_derive(secret, cluster_name, KEYS_TOKEN, key) != 0) {
                return TKV_EIO;
        }
        k->mac_ctx = keys_hmac_new(key);
        OPENSSL_cleanse(key, sizeof key);
        return k->mac_ctx != NULL ? 0 : TKV_EIO;
}

void session_keys_close(struct session_keys *k)
{
        EVP_MAC_CTX_free(k->mac_ctx);
        k->mac_ctx = NULL;
}

/* MAC of an entry: HMAC-SHA256(key, "TKV1" cluster partition kind index). */
static bool session_hmac(struct session_keys *k, const struct session_entry *e,
                         uint8_t out[SESSION_MAC_BYTES])
{
        uint8_t msg[4 + 8 + 4 + 1 + 8];
        uint8_t md[EVP_MAX_MD_SIZE];
        size_t md_len = 0;

        memcpy(msg, "TKV1", 4);
        put_le64(msg + 4, k->cluster_id);
        put_le32(msg + 12, e->partition);
        msg[16] = e->kind;
        put_le64(msg + 17, e->index);
        /* Re-initialising without a key keeps the key already set: no key
         * schedule per entry. */
        if (EVP_MAC_init(k->mac_ctx, NULL, 0, NULL) != 1 ||
            EVP_MAC_update(k->mac_ctx, msg, sizeof msg) != 1 ||
            EVP_MAC_final(k->mac_ctx, md, &md_len, sizeof md) != 1 || md_len < SESSION_MAC_BYTES) {
                memset(out, 0, SESSION_MAC_BYTES);
                return false;
        }
        memcpy(out, md, SESSION_MAC_BYTES);
        return true;
}

/* The right MAC of e's (partition, kind, index): from the cache, or
 * computed and remembered. False if it could not be computed. */
static bool session_mac(struct session_keys *k, const struct session_entry *e,
                        uint8_t out[SESSION_MAC_BYTES])
{
        uint64_t h = (e->index ^ ((uint64_t)e->partition << 40) ^ ((uint64_t)e->kind << 32)) *
                     0x9E3779B97F4A7C15ull;
        struct session_mac_slot *slot = &k->cache[h >> (64 - SESSION_MAC_CACHE_BITS)];

        if (slot->kind == e->kind && slot->index == e->index && slot->partition == e->partition) {
                k->mac_cached++;
                memcpy(out, slot->mac, SESSION_MAC_BYTES);
                return true;
        }
        k->mac_computed++;
        if (!session_hmac(k, e, out)) {
                return false;
        }
        slot->index = e->index;
        slot->partition = e->partition;
        slot->kind = e->kind;
        memcpy(slot->mac, out, SESSION_MAC_BYTES);
        return true;
}

void session_sign(struct session_keys *k, struct session_entry *e)
{
        (void)session_mac(k, e, e->mac); /* zeros on failure: the entry will not verify */
}

bool session_verify(struct session_keys *k, const struct session_entry *e)
{
        uint8_t want[SESSION_MAC_BYTES];
        if (session_mac(k, e, want) && keys_equal(want, e->mac, SESSION_MAC_BYTES)) {
                return true;
        }
        return k->previous != NULL && session_verify(k->previous, e);
}

int session_parse(const uint8_t *tok, size_t len, size_t max_bytes, struct session_entry *out,
                  unsigned cap, unsigned *n)
{
        unsigned count;

        *n = 0;
        if (len == 0) {
                return 0;
        }
        if (len > max_bytes) {
                return TKV_ETOOBIG;
        }
        if (len < SESSION_HEADER_BYTES || tok[0] != SESSION_TOKEN_VERSION || tok[1] != 0) {
                return TKV_EINVAL;
        }
        count = (unsigned)tok[2] | (unsigned)tok[3] << 8;
        if (len != SESSION_HEADER_BYTES + (size_t)count * SESSION_ENTRY_BYTES || count > cap) {
                return TKV_EINVAL;
        }
        for (unsigned i = 0; i < count; i++) {
                const uint8_t *p = tok + SESSION_HEADER_BYTES + (size_t)i * SESSION_ENTRY_BYTES;
                out[i].partition = get_le32(p);
                out[i].kind = p[4];
                out[i].index = get_le64(p + 5);
                memcpy(out[i].mac, p + 13, SESSION_MAC_BYTES);
                if ((out[i].kind != SESSION_W && out[i].kind != SESSION_R &&
                     out[i].kind != SESSION_T) ||
                    (out[i].kind == SESSION_T && out[i].partition != SESSION_T_PARTITION)) {
                        return TKV_EINVAL;
                }
        }
        *n = count;
        return 0;
}

int session_required(struct session_keys *k, const struct session_entry *e, unsigned n, uint32_t p,
                     unsigned kinds, uint64_t *required)
{
        *required = 0;
        for (unsigned i = 0; i < n; i++) {
                if (e[i].partition != p || !(kinds & SESSION_KIND_MASK(e[i].kind))) {
                        continue;
                }
                if (!session_verify(k, &e[i])) {
                        return TKV_EINVAL;
                }
                if (e[i].index > *required) {
                        *required = e[i].index;
                }
        }
        return 0;
}

int session_ts(struct session_keys *k, const struct session_entry *e, unsigned n, uint64_t *ts)
{
        return session_required(k, e, n, SESSION_T_PARTITION, SESSION_KIND_MASK(SESSION_T), ts);
}

int session_verify_all(struct session_keys *k, const struct session_entry *e, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                if (!session_verify(k, &e[i])) {
                        return TKV_EINVAL;
                }
        }
        return 0;
}

size_t session_encoded_bytes(unsigned n)
{
        return n == 0 ? 0 : SESSION_HEADER_BYTES + (size_t)n * SESSION_ENTRY_BYTES;
}

void session_encode(const struct session_entry *e, unsigned n, uint8_t *out)
{
        if (n == 0) {
                return;
        }
        out[0] = SESSION_TOKEN_VERSION;
        out[1] = 0;
        out[2] = (uint8_t)n;
        out[3] = (uint8_t)(n >> 8);
        for (unsigned i = 0; i < n; i++) {
                uint8_t *p = out + SESSION_HEADER_BYTES + (size_t)i * SESSION_ENTRY_BYTES;
                put_le32(p, e[i].partition);
                p[4] = e[i].kind;
                put_le64(p + 5, e[i].index);
                memcpy(p + 13, e[i].mac, SESSION_MAC_BYTES);
        }
}

size_t session_deps_encoded_bytes(const struct session_entry *e, unsigned n)
{
        size_t len = 3;
        if (n == 0) {
                return 0;
        }
        for (unsigned i = 0; i < n; i++) {
                len +=
                    varint_bytes(e[i].partition) + 1 + varint_bytes(e[i].index) + SESSION_MAC_BYTES;
        }
        return len;
}

void session_deps_encode(const struct session_entry *e, unsigned n, uint8_t *out)
{
        if (n == 0) {
                return;
        }
        out[0] = SESSION_DEPS_MARKER;
        out[1] = (uint8_t)n;
        out[2] = (uint8_t)(n >> 8);
        out += 3;
        for (unsigned i = 0; i < n; i++) {
                out = varint_put(out, e[i].partition);
                *out++ = e[i].kind;
                out = varint_put(out, e[i].index);
                memcpy(out, e[i].mac, SESSION_MAC_BYTES);
                out += SESSION_MAC_BYTES;
        }
}

int session_deps_parse(const uint8_t *p, size_t len, struct session_entry *out, unsigned cap,
                       unsigned *n)
{
        const uint8_t *end = p + len;
        unsigned count;

        *n = 0;
        if (len == 0) {
                return 0;
        }
        if (p[0] == SESSION_TOKEN_VERSION) {
                int rv = session_parse(p, len, len, out, cap, n);
                for (unsigned i = 0; rv == 0 && i < *n; i++) {
                        if (out[i].kind == SESSION_T) {
                                rv = TKV_EINVAL; /* dependencies never hold a timestamp */
                        }
                }
                if (rv != 0) {
                        *n = 0;
                }
                return rv;
        }
        if (len < 3 || p[0] != SESSION_DEPS_MARKER) {
                return TKV_EINVAL;
        }
        count = (unsigned)p[1] | (unsigned)p[2] << 8;
        if (count == 0 || count > cap) {
                return TKV_EINVAL;
        }
        p += 3;
        for (unsigned i = 0; i < count; i++) {
                uint64_t partition, index;
                if (!varint_get(&p, end, 32, &partition) || p == end) {
                        return TKV_EINVAL;
                }
                out[i].partition = (uint32_t)partition;
                out[i].kind = *p++;
                if ((out[i].kind != SESSION_W && out[i].kind != SESSION_R) ||
                    !varint_get(&p, end, 64, &index) || (size_t)(end - p) < SESSION_MAC_BYTES) {
                        return TKV_EINVAL;
                }
                out[i].index = index;
                memcpy(out[i].mac, p, SESSION_MAC_BYTES);
                p += SESSION_MAC_BYTES;
        }
        if (p != end) {
                return TKV_EINVAL;
        }
        *n = count;
        return 0;
}

unsigned session_reduce_deps(struct session_entry *e, unsigned n, uint32_t skip)
{
        unsigned out = 0;
        for (unsigned i = 0; i < n; i++) {
                unsigned j;
                if (e[i].partition == skip || e[i].kind == SESSION_T) {
                        continue;
                }
                for (j = 0; j < out && e[j].partition != e[i].partition; j++) {
                }
                if (j == out) {
                        e[out++] = e[i];
                } else if (e[i].index > e[j].index) {
                        e[j] = e[i];
                }
        }
        return out;
}
