#include "peerauth.h"

#include <openssl/rand.h>
#include <string.h>

#include "buffer.h"
#include "err.h"

static const uint8_t peerauth_magic[8] = {'T', 'K', 'V', 'P', 'E', 'E', 'R', '2'};

/* Labels keep the three MACs apart: none can stand for another. */
static const char peerauth_label_server[] = "tunekv peer server";
static const char peerauth_label_client[] = "tunekv peer client";
static const char peerauth_label_known[] = "tunekv peer known";

static void peerauth_parse_hello(struct peerauth *a)
{
        a->cluster_id = get_le64(a->hello + 8);
        a->group = get_le64(a->hello + 16);
        a->from = get_le64(a->hello + 24);
        a->to = get_le64(a->hello + 32);
}

int peerauth_hello(struct peerauth *a, const struct keys_ring *ring, uint64_t cluster_id,
                   uint64_t group, uint64_t from, uint64_t to)
{
        memset(a, 0, sizeof *a);
        a->ring = ring;
        memcpy(a->hello, peerauth_magic, 8);
        put_le64(a->hello + 8, cluster_id);
        put_le64(a->hello + 16, group);
        put_le64(a->hello + 24, from);
        put_le64(a->hello + 32, to);
        if (RAND_bytes(a->hello + 40, PEERAUTH_NONCE_BYTES) != 1) {
                return TKV_EIO;
        }
        peerauth_parse_hello(a);
        return 0;
}

/* The server's MAC under key: over the HELLO and the server's nonce. */
static int peerauth_server_mac(const struct peerauth *a, const uint8_t *key,
                               uint8_t out[KEYS_BYTES])
{
        struct keys_part parts[] = {
            {peerauth_label_server, sizeof peerauth_label_server},
            {a->hello, PEERAUTH_HELLO_BYTES},
            {a->challenge, PEERAUTH_NONCE_BYTES},
        };
        return keys_hmac(key, parts, 3, out);
}

/* The client's MAC: over the HELLO, the server's nonce and what follows
 * the MAC in the PROOF (incarnation, length, address: tail, n bytes). */
static int peerauth_client_mac(const struct peerauth *a, const uint8_t *key, const uint8_t *tail,
                               size_t n, uint8_t out[KEYS_BYTES])
{
        struct keys_part parts[] = {
            {peerauth_label_client, sizeof peerauth_label_client},
            {a->hello, PEERAUTH_HELLO_BYTES},
            {a->challenge, PEERAUTH_NONCE_BYTES},
            {tail, n},
        };
        return keys_hmac(key, parts, 4, out);
}

int peerauth_challenge(struct peerauth *a, const struct keys_ring *ring, const uint8_t *hello)
{
        uint8_t *macs = a->challenge + PEERAUTH_NONCE_BYTES;

        memset(a, 0, sizeof *a);
        a->ring = ring;
        if (memcmp(hello, peerauth_magic, 8) != 0) {
                return TKV_EPROTO;
        }
        memcpy(a->hello, hello, PEERAUTH_HELLO_BYTES);
        peerauth_parse_hello(a);
        if (RAND_bytes(a->challenge, PEERAUTH_NONCE_BYTES) != 1) {
                return TKV_EIO;
        }
        for (unsigned i = 0; i < ring->n; i++) {
                if (peerauth_server_mac(a, ring->key[i], macs + i * KEYS_BYTES) != 0) {
                        return TKV_EIO;
                }
        }
        return 0;
}

/* Client: the first of our keys under which one of the server's MACs
 * verifies, or NULL. */
static const uint8_t *peerauth_common_key(const struct peerauth *a, const uint8_t *challenge)
{
        uint8_t want[KEYS_BYTES];
        for (unsigned j = 0; j < a->ring->n; j++) {
                if (peerauth_server_mac(a, a->ring->key[j], want) != 0) {
                        return NULL;
                }
                for (unsigned i = 0; i < 2; i++) {
                        if (keys_equal(want, challenge + PEERAUTH_NONCE_BYTES + i * KEYS_BYTES,
                                       KEYS_BYTES)) {
                                return a->ring->key[j];
                        }
                }
        }
        return NULL;
}

int peerauth_prove(struct peerauth *a, const uint8_t *challenge, uint64_t incarnation,
                   const struct peerauth_layout *layout, const char *address, uint8_t *out,
                   size_t *len)
{
        size_t alen = strlen(address);
        uint8_t *tail = out + KEYS_BYTES;

        if (alen == 0 || alen > PEERAUTH_ADDRESS_MAX) {
                return TKV_EINVAL;
        }
        memcpy(a->challenge, challenge, PEERAUTH_CHALLENGE_BYTES);
        a->key = peerauth_common_key(a, challenge);
        if (a->key == NULL) {
                return TKV_EAUTH;
        }
        put_le64(tail, incarnation);
        put_le64(tail + 8, layout->fingerprint);
        put_le32(tail + 16, layout->partitions);
        put_le32(tail + 20, layout->replicas);
        put_le32(tail + 24, layout->session_window);
        put_le32(tail + 28, layout->sessions_max);
        put_le64(tail + 32, layout->sessions_bytes_max);
        put_le64(tail + 40, alen);
        memcpy(tail + 48, address, alen);
        *len = PEERAUTH_PROOF_BYTES + alen;
        return peerauth_client_mac(a, a->key, tail, 48 + alen, out);
}

size_t peerauth_proof_address_len(const uint8_t *proof)
{
        uint64_t n = get_le64(proof + PEERAUTH_PROOF_ADDRESS_LEN_AT);
        return n >= 1 && n <= PEERAUTH_ADDRESS_MAX ? (size_t)n : 0;
}

int peerauth_check(struct peerauth *a, const uint8_t *proof, uint64_t *incarnation,
                   struct peerauth_layout *layout)
{
        uint8_t want[KEYS_BYTES];
        size_t alen = peerauth_proof_address_len(proof);

        if (alen == 0) {
                return TKV_EAUTH;
        }
        for (unsigned j = 0; j < a->ring->n; j++) {
                if (peerauth_client_mac(a, a->ring->key[j], proof + KEYS_BYTES, 48 + alen, want) ==
                        0 &&
                    keys_equal(want, proof, KEYS_BYTES)) {
                        a->key = a->ring->key[j];
                        *incarnation = get_le64(proof + KEYS_BYTES);
                        layout->fingerprint = get_le64(proof + KEYS_BYTES + 8);
                        layout->partitions = get_le32(proof + KEYS_BYTES + 16);
                        layout->replicas = get_le32(proof + KEYS_BYTES + 20);
                        layout->session_window = get_le32(proof + KEYS_BYTES + 24);
                        layout->sessions_max = get_le32(proof + KEYS_BYTES + 28);
                        layout->sessions_bytes_max = get_le64(proof + KEYS_BYTES + 32);
                        return 0;
                }
        }
        return TKV_EAUTH;
}

static int peerauth_known_mac(const struct peerauth *a, const uint8_t known[8],
                              uint8_t out[KEYS_BYTES])
{
        struct keys_part parts[] = {
            {peerauth_label_known, sizeof peerauth_label_known},
            {a->hello, PEERAUTH_HELLO_BYTES},
            {a->challenge, PEERAUTH_NONCE_BYTES},
            {known, 8},
        };
        return keys_hmac(a->key, parts, 4, out);
}

int peerauth_seal_known(const struct peerauth *a, uint64_t known, uint8_t out[PEERAUTH_KNOWN_BYTES])
{
        put_le64(out, known);
        return peerauth_known_mac(a, out, out + 8);
}

int peerauth_open_known(const struct peerauth *a, const uint8_t in[PEERAUTH_KNOWN_BYTES],
                        uint64_t *known)
{
        uint8_t want[KEYS_BYTES];
        if (peerauth_known_mac(a, in, want) != 0 || !keys_equal(want, in + 8, KEYS_BYTES)) {
                return TKV_EAUTH;
        }
        *known = get_le64(in);
        return 0;
}
