/* The node-to-node handshake: mutual challenge-response under the cluster's
 * peer key (keys.h), before any byte of Raft or of a node link.
 *
 * Every connection to a peer port opens with it; the connecting side is the
 * client, the listening node the server. Little-endian, fixed sizes:
 *
 *   client -> server  HELLO (72):      "TKVPEER2" | cluster id | group |
 *                                      from node | to node | client nonce (32)
 *   server -> client  CHALLENGE (96):  server nonce (32) |
 *                                      HMAC(k0, "server" | HELLO | server nonce) |
 *                                      HMAC(k1, same) or 32 zero bytes
 *   client -> server  PROOF (64 + L):  HMAC(k, "client" | HELLO | server nonce |
 *                                      what follows) | incarnation |
 *                                      layout fingerprint | partitions u32 |
 *                                      replicas u32 | session_window u32 |
 *                                      sessions_max u32 | sessions_bytes_max |
 *                                      L | address (L bytes)
 *
 * The server answers a HELLO only if it names this cluster and this node
 * and comes from another configured node; the CHALLENGE proves to the client
 * that the server holds the key and is live (its MAC covers the client's
 * fresh nonce). The PROOF does the same for the client, under another label,
 * and carries the client's cluster layout (config_layout: partitions,
 * replicas, the node list, the client-session bounds), which the server
 * compares with its own,
 * so a server cannot be used to compute one. Only then does the server learn
 * the client's incarnation and address, or tell anything about itself: a
 * probe (group TRANSPORT_PROBE_GROUP, transport.h) is answered with
 * PEERAUTH_KNOWN_BYTES, the incarnation the server knows for the client and
 * a MAC over it bound to both nonces. Replaying a recorded handshake fails
 * because each side's nonce is new.
 *
 * Rotation: each side holds a keys_ring (keys.h), its current key k0 and,
 * during a grace period, the previous one k1. The server MACs its CHALLENGE
 * under both; the client takes the first of its own keys that matches one
 * of them, and the rest of the handshake (PROOF, probe answer) uses that
 * key, which the server finds among its own. So nodes that already switched
 * and nodes that did not yet still admit each other.
 *
 * What this does not give: secrecy or integrity of the bytes that follow
 * (use TLS for that, docs/security.md). This module is pure: no sockets. */
#ifndef TKV_PEERAUTH_H
#define TKV_PEERAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define PEERAUTH_NONCE_BYTES          32
#define PEERAUTH_HELLO_BYTES          (40 + PEERAUTH_NONCE_BYTES)
#define PEERAUTH_CHALLENGE_BYTES      (PEERAUTH_NONCE_BYTES + 2 * KEYS_BYTES)
#define PEERAUTH_PROOF_BYTES          (KEYS_BYTES + 48) /* then the address */
#define PEERAUTH_PROOF_ADDRESS_LEN_AT (KEYS_BYTES + 40) /* where L is, u64 */
#define PEERAUTH_KNOWN_BYTES          (8 + KEYS_BYTES)
#define PEERAUTH_ADDRESS_MAX          255

/* What a node's configuration says that every node must agree on
 * (config_layout): nodes that disagree on the shape would route keys to
 * different partitions, and on the session bounds would drop different
 * client sessions (their state machines would diverge). The fingerprint
 * covers it all; the fields name what differs. */
struct peerauth_layout {
        uint64_t fingerprint;
        uint32_t partitions;
        uint32_t replicas;
        uint32_t session_window;
        uint32_t sessions_max;
        uint64_t sessions_bytes_max;
};

/* One handshake, on either side. */
struct peerauth {
        const struct keys_ring *ring; /* KEYS_PEER keys; borrowed */
        const uint8_t *key;           /* the key both sides hold, once known */
        uint8_t hello[PEERAUTH_HELLO_BYTES];
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        uint64_t cluster_id;
        uint64_t group;
        uint64_t from; /* the client's node id */
        uint64_t to;   /* the server's node id */
};

/* Client: start a handshake; a->hello is what to send. 0 or TKV_EIO (no
 * randomness). */
int peerauth_hello(struct peerauth *a, const struct keys_ring *ring, uint64_t cluster_id,
                   uint64_t group, uint64_t from, uint64_t to);

/* Server: take a HELLO (PEERAUTH_HELLO_BYTES) and fill a->challenge, the
 * answer to send. TKV_EPROTO (not a HELLO) or TKV_EIO. The caller then
 * checks a->cluster_id, a->to and a->from before answering. */
int peerauth_challenge(struct peerauth *a, const struct keys_ring *ring, const uint8_t *hello);

/* Client: check the server's CHALLENGE and write the PROOF for incarnation
 * and address into out (PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX); *len
 * is its length. TKV_EAUTH if the server holds none of our keys. */
int peerauth_prove(struct peerauth *a, const uint8_t *challenge, uint64_t incarnation,
                   const struct peerauth_layout *layout, const char *address, uint8_t *out,
                   size_t *len);

/* Server: length of the address the PROOF's fixed part (PEERAUTH_PROOF_BYTES)
 * announces, or 0 if it is out of bounds. */
size_t peerauth_proof_address_len(const uint8_t *proof);

/* Server: check a whole PROOF (PEERAUTH_PROOF_BYTES + its address); on
 * success set *incarnation and *layout (and a->key). TKV_EAUTH otherwise. */
int peerauth_check(struct peerauth *a, const uint8_t *proof, uint64_t *incarnation,
                   struct peerauth_layout *layout);

/* Server: seal the answer to a probe; client: open it (TKV_EAUTH if
 * forged). */
int peerauth_seal_known(const struct peerauth *a, uint64_t known,
                        uint8_t out[PEERAUTH_KNOWN_BYTES]);
int peerauth_open_known(const struct peerauth *a, const uint8_t in[PEERAUTH_KNOWN_BYTES],
                        uint64_t *known);

#endif
