/* Keys derived from the cluster secret, one per purpose.
 *
 * The secret ([cluster] secret or secret_file) is never used as a key
 * itself: HKDF-SHA256 (RFC 5869) derives a 32-byte subkey per purpose, with
 * the cluster name as salt and the purpose as info, so a key leaked from one
 * use (a token MAC) says nothing about another (peer authentication), and
 * two clusters sharing a secret by mistake still refuse each other. An empty
 * secret (single-node clusters, or insecure = true) stands for a fixed
 * public string: the derived keys are then forgeable, and the server says
 * so when it starts (docs/security.md). */
#ifndef TKV_KEYS_H
#define TKV_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_BYTES 32

enum keys_purpose {
        KEYS_PEER,  /* node-to-node handshake (peerauth.h) */
        KEYS_TOKEN, /* session token entry MACs (session.h) */
};

/* Derive the purpose's key from secret and cluster_name into out.
 * 0 or TKV_EIO (OpenSSL failed). */
int keys_derive(const char *secret, const char *cluster_name, enum keys_purpose purpose,
                uint8_t out[KEYS_BYTES]);

/* The keys of one purpose a node accepts: the current one, and during a
 * rotation's grace period the previous one (docs/security.md, rotation). */
struct keys_ring {
        uint8_t key[2][KEYS_BYTES]; /* [0] current, [1] previous */
        unsigned n;                 /* 1, or 2 while the previous one is accepted */
};

/* Derive ring's keys for purpose from secret and, if not empty, previous.
 * 0 or TKV_EIO. */
int keys_ring_derive(struct keys_ring *ring, const char *secret, const char *previous,
                     const char *cluster_name, enum keys_purpose purpose);

/* HMAC-SHA256 of the n parts (ptr, len) under key, into out (32 bytes).
 * 0 or TKV_EIO. */
struct keys_part {
        const void *data;
        size_t len;
};
int keys_hmac(const uint8_t key[KEYS_BYTES], const struct keys_part *parts, unsigned n,
              uint8_t out[KEYS_BYTES]);

/* An HMAC-SHA256 context (EVP_MAC_CTX *) keyed with key, for callers that
 * MAC many messages under one key (re-initialise it with a NULL key to
 * reuse the key schedule); NULL on failure. Free with EVP_MAC_CTX_free. */
void *keys_hmac_new(const uint8_t key[KEYS_BYTES]);

/* Compare two MACs in constant time (CRYPTO_memcmp): true if equal. */
int keys_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
