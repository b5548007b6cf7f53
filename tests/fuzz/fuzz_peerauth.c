/* libFuzzer target for the server side of the peer handshake (peerauth.c):
 * the HELLO and PROOF a connecting node sends, and the sealed answer to a
 * probe that the client opens, with two keys on each side (a rotation).
 * Input: a 72-byte HELLO, one mode byte, then
 * the rest. The server's nonce is random, as in the daemon, so a PROOF not
 * made with the key can only pass by a MAC collision.
 *
 * Oracles (abort on a violation):
 * - peerauth_challenge refuses exactly the HELLOs without the magic, and
 *   otherwise answers with a CHALLENGE a client holding the key accepts.
 * - Even mode: the rest is a PROOF. peerauth_check reads only the bytes
 *   peerauth_proof_address_len announced (the buffer has exactly those,
 *   so ASan sees any read past them), and accepts it only if it is the
 *   PROOF a client holding the key computes for that incarnation and
 *   address.
 * - Odd mode: a genuine PROOF for an incarnation and address taken from
 *   the input is accepted, and refused once any byte the input picks is
 *   changed.
 * - peerauth_open_known opens what peerauth_seal_known sealed, and refuses
 *   the input's 40 bytes unless they are exactly that. */
#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "peerauth.h"

/* Both sides hold the current key and a previous one (a rotation). */
static const struct keys_ring fuzz_ring = {
    {"tunekv fuzz peer key, 32 bytes.", "tunekv fuzz previous key, 32 b."}, 2};

static const struct peerauth_layout fuzz_layout = {
    0x1122334455667788ull, 3, 3, 1024, 65536, 64u << 20};

/* A client that sent hello and received challenge: what peerauth_hello
 * leaves in struct peerauth (peerauth_prove picks the key). */
static void fuzz_client(struct peerauth *cli, const struct peerauth *srv)
{
        memset(cli, 0, sizeof *cli);
        cli->ring = &fuzz_ring;
        memcpy(cli->hello, srv->hello, PEERAUTH_HELLO_BYTES);
        memcpy(cli->challenge, srv->challenge, PEERAUTH_CHALLENGE_BYTES);
}

/* Check a PROOF of n bytes copied to a buffer of exactly the size the
 * server reads: PEERAUTH_PROOF_BYTES, then the announced address. */
static int fuzz_check(struct peerauth *srv, const uint8_t *proof, size_t n, uint64_t *inc,
                      struct peerauth_layout *layout)
{
        size_t alen, len;
        uint8_t *buf;
        int rv;

        if (n < PEERAUTH_PROOF_BYTES) {
                return TKV_EAGAIN; /* the server waits for more */
        }
        alen = peerauth_proof_address_len(proof);
        FUZZ_ASSERT(alen <= PEERAUTH_ADDRESS_MAX);
        len = PEERAUTH_PROOF_BYTES + alen;
        if (alen == 0) {
                buf = malloc(PEERAUTH_PROOF_BYTES);
                FUZZ_ASSERT(buf != NULL);
                memcpy(buf, proof, PEERAUTH_PROOF_BYTES);
                FUZZ_ASSERT(peerauth_check(srv, buf, inc, layout) == TKV_EAUTH);
                free(buf);
                return TKV_EAUTH;
        }
        if (n < len) {
                return TKV_EAGAIN;
        }
        buf = malloc(len);
        FUZZ_ASSERT(buf != NULL);
        memcpy(buf, proof, len);
        rv = peerauth_check(srv, buf, inc, layout);
        free(buf);
        return rv;
}

/* Even mode: arbitrary PROOF bytes. */
static void fuzz_forged(struct peerauth *srv, const uint8_t *proof, size_t n)
{
        struct peerauth_layout layout;
        uint8_t want[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        char address[PEERAUTH_ADDRESS_MAX + 1];
        struct peerauth cli;
        uint64_t inc = 0;
        size_t alen, wlen;

        if (fuzz_check(srv, proof, n, &inc, &layout) != 0) {
                return;
        }
        /* Accepted: it must be the genuine PROOF. */
        alen = peerauth_proof_address_len(proof);
        memcpy(address, proof + PEERAUTH_PROOF_BYTES, alen);
        address[alen] = 0;
        FUZZ_ASSERT(strlen(address) == alen);
        fuzz_client(&cli, srv);
        FUZZ_ASSERT(peerauth_prove(&cli, srv->challenge, inc, &layout, address, want, &wlen) == 0);
        FUZZ_ASSERT(wlen == PEERAUTH_PROOF_BYTES + alen && memcmp(want, proof, wlen) == 0);
}

/* Odd mode: a genuine PROOF, then damaged at the positions in[1..]. */
static void fuzz_genuine(struct peerauth *srv, const uint8_t *in, size_t n)
{
        struct peerauth_layout layout;
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        char address[PEERAUTH_ADDRESS_MAX + 1];
        size_t alen = 0, len;
        struct peerauth cli;
        uint64_t inc = 0, got = 0;

        for (size_t i = 0; i < n && i < 8; i++) {
                inc = inc << 8 | in[i];
        }
        for (size_t i = 8; i < n && alen < PEERAUTH_ADDRESS_MAX; i++) {
                address[alen++] = in[i] != 0 ? (char)in[i] : 'x';
        }
        if (alen == 0) {
                address[alen++] = 'a';
        }
        address[alen] = 0;
        fuzz_client(&cli, srv);
        FUZZ_ASSERT(peerauth_prove(&cli, srv->challenge, inc, &fuzz_layout, address, proof, &len) ==
                    0);
        FUZZ_ASSERT(fuzz_check(srv, proof, len, &got, &layout) == 0 && got == inc);
        FUZZ_ASSERT(memcmp(&layout, &fuzz_layout, sizeof layout) == 0);
        for (size_t i = 0; i < n && i < 4; i++) {
                size_t at = in[i] % len;
                proof[at] ^= (uint8_t)(in[n - 1 - i] | 1);
                FUZZ_ASSERT(fuzz_check(srv, proof, len, &got, &layout) != 0);
                proof[at] ^= (uint8_t)(in[n - 1 - i] | 1);
        }
}

/* The probe's sealed answer, opened by the client. */
static void fuzz_known(struct peerauth *srv, const uint8_t *in, size_t n)
{
        uint8_t sealed[PEERAUTH_KNOWN_BYTES], forged[PEERAUTH_KNOWN_BYTES] = {0};
        struct peerauth cli;
        uint64_t known = 0, got = 0;

        for (size_t i = 0; i < n && i < 8; i++) {
                known = known << 8 | in[i];
        }
        memcpy(forged, in, n < sizeof forged ? n : sizeof forged);
        /* As after a PROOF checked under the current key. */
        srv->key = fuzz_ring.key[0];
        fuzz_client(&cli, srv);
        cli.key = fuzz_ring.key[0];
        FUZZ_ASSERT(peerauth_seal_known(srv, known, sealed) == 0);
        FUZZ_ASSERT(peerauth_open_known(&cli, sealed, &got) == 0 && got == known);
        if (peerauth_open_known(&cli, forged, &got) == 0) {
                FUZZ_ASSERT(peerauth_seal_known(srv, got, sealed) == 0);
                FUZZ_ASSERT(memcmp(forged, sealed, sizeof sealed) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct peerauth srv, cli;
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t len;
        int rv;

        if (size < PEERAUTH_HELLO_BYTES + 1) {
                return 0;
        }
        rv = peerauth_challenge(&srv, &fuzz_ring, data);
        FUZZ_ASSERT((rv == TKV_EPROTO) == (memcmp(data, "TKVPEER2", 8) != 0));
        if (rv != 0) {
                return 0;
        }
        FUZZ_ASSERT(srv.ring == &fuzz_ring && memcmp(srv.hello, data, PEERAUTH_HELLO_BYTES) == 0);
        fuzz_client(&cli, &srv);
        FUZZ_ASSERT(
            peerauth_prove(&cli, srv.challenge, 1, &fuzz_layout, "127.0.0.1:1", proof, &len) == 0);
        data += PEERAUTH_HELLO_BYTES + 1;
        size -= PEERAUTH_HELLO_BYTES + 1;
        if (data[-1] % 2 == 0) {
                fuzz_forged(&srv, data, size);
        } else {
                fuzz_genuine(&srv, data, size);
        }
        fuzz_known(&srv, data, size);
        return 0;
}
