#include "keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

#include "err.h"

/* Stands for an empty secret. Public, so whatever it keys is forgeable. */
static const char keys_unkeyed[] = "tunekv-unkeyed";

static const char *const keys_info[] = {
    [KEYS_PEER] = "tunekv peer authentication v1",
    [KEYS_TOKEN] = "tunekv session token mac v1",
};

int keys_derive(const char *secret, const char *cluster_name, enum keys_purpose purpose,
                uint8_t out[KEYS_BYTES])
{
        const char *ikm = secret[0] != '\0' ? secret : keys_unkeyed;
        const char *info = keys_info[purpose];
        OSSL_PARAM params[5];
        EVP_KDF *kdf;
        EVP_KDF_CTX *ctx;
        int ok;

        kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        if (kdf == NULL) {
                return TKV_EIO;
        }
        ctx = EVP_KDF_CTX_new(kdf);
        EVP_KDF_free(kdf);
        if (ctx == NULL) {
                return TKV_EIO;
        }
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, strlen(ikm));
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)cluster_name,
                                                      strlen(cluster_name));
        params[3] =
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
        params[4] = OSSL_PARAM_construct_end();
        ok = EVP_KDF_derive(ctx, out, KEYS_BYTES, params);
        EVP_KDF_CTX_free(ctx);
        return ok == 1 ? 0 : TKV_EIO;
}

void *keys_hmac_new(const uint8_t key[KEYS_BYTES])
{
        OSSL_PARAM params[2];
        EVP_MAC *mac;
        EVP_MAC_CTX *ctx;

        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
                return NULL;
        }
        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
        if (ctx == NULL) {
                return NULL;
        }
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_MAC_init(ctx, key, KEYS_BYTES, params) != 1) {
                EVP_MAC_CTX_free(ctx);
                return NULL;
        }
        return ctx;
}

int keys_hmac(const uint8_t key[KEYS_BYTES], const struct keys_part *parts, unsigned n,
              uint8_t out[KEYS_BYTES])
{
        EVP_MAC_CTX *ctx = keys_hmac_new(key);
        size_t len = 0;
        int ok = ctx != NULL;

        for (unsigned i = 0; ok == 1 && i < n; i++) {
                ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
        }
        if (ok == 1) {
                ok = EVP_MAC_final(ctx, out, &len, KEYS_BYTES);
        }
        EVP_MAC_CTX_free(ctx);
        return ok == 1 && len == KEYS_BYTES ? 0 : TKV_EIO;
}

int keys_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
        return CRYPTO_memcmp(a, b, len) == 0;
}

int keys_ring_derive(struct keys_ring *ring, const char *secret, const char *previous,
                     const char *cluster_name, enum keys_purpose purpose)
{
        memset(ring, 0, sizeof *ring);
        ring->n = 1;
        if (keys_derive(secret, cluster_name, purpose, ring->key[0]) != 0) {
                return TKV_EIO;
        }
        if (previous != NULL && previous[0] != '\0') {
                if (keys_derive(previous, cluster_name, purpose, ring->key[1]) != 0) {
                        return TKV_EIO;
                }
                ring->n = 2;
        }
        return 0;
}
