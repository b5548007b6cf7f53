/* Session and causal tokens.
 *
 * A token is what a client knows of the cluster's history: for each
 * partition it touched, the index of its last write there (kind W) and the
 * highest state it observed there, by reading or through the causal
 * dependencies of what it read (kind R). Wire form (docs/protocol.md):
 *
 *   u8 version (SESSION_TOKEN_VERSION) | u8 0 | u16 count |
 *   count x { u32 partition | u8 kind | u64 index | 8-byte MAC }
 *
 * Each entry carries its own MAC (the first 8 bytes of HMAC-SHA256 under
 * the token key derived from the cluster secret, keys.h, over the cluster id, partition, kind and
 * index), so a client can keep, drop and merge entries (per partition and kind, the highest index
 * wins) but never forge one that claims a future index; an entry of another cluster fails the MAC
 * too. Answers carry deltas: the entries to merge into the client's token. */
#ifndef TKV_SESSION_H
#define TKV_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_TOKEN_VERSION 1
#define SESSION_HEADER_BYTES  4
#define SESSION_ENTRY_BYTES   21
#define SESSION_MAC_BYTES     8

enum session_kind {
        SESSION_W = 1, /* a write of the session, applied at index */
        SESSION_R = 2, /* a state the session observed, at index */
        /* The highest write timestamp (hlc.h) the session wrote or saw, in
         * index; partition is SESSION_T_PARTITION. SEQUENTIAL reads are
         * served at or above it, and the session's writes stamped above it
         * (docs/consistency.md). */
        SESSION_T = 3,
};

#define SESSION_T_PARTITION UINT32_MAX

#define SESSION_KIND_MASK(kind) (1u << (kind))

struct session_entry {
        uint32_t partition;
        uint8_t kind;
        uint64_t index;
        uint8_t mac[SESSION_MAC_BYTES];
};

/* Slots of the MAC cache. */
#define SESSION_MAC_CACHE_BITS  10
#define SESSION_MAC_CACHE_SLOTS (1u << SESSION_MAC_CACHE_BITS)

/* One remembered MAC: the right one for (partition, kind, index). */
struct session_mac_slot {
        uint64_t index;
        uint32_t partition;
        uint8_t kind; /* 0: empty */
        uint8_t mac[SESSION_MAC_BYTES];
};

/* The MAC key of one cluster, and a direct-mapped cache of the MACs it
 * computed last. Clients send the same entries back request after request
 * (a write's token names every partition the session touched), so most
 * checks find the right MAC here instead of computing an HMAC. The cache
 * holds only MACs computed under the key: a forged entry naming a cached
 * (partition, kind, index) still fails the comparison. Not thread-safe: one
 * session_keys per thread. */
struct session_keys {
        void *mac_ctx; /* EVP_MAC_CTX, keyed once */
        uint64_t cluster_id;
        uint64_t mac_computed; /* HMACs computed (cache misses) */
        uint64_t mac_cached;   /* MACs found in the cache */
        /* Rotation: entries that do not verify under this key are tried
         * under the previous one while it is set (its own cache). */
        struct session_keys *previous;
        struct session_mac_slot cache[SESSION_MAC_CACHE_SLOTS];
};

/* Key the MAC with the token key derived from secret (keys.h; when the
 * secret is empty anyone knowing the cluster name can forge tokens, and the
 * caller warns).
 * TKV_ENOMEM / TKV_EIO on failure. */
int session_keys_init(struct session_keys *k, const char *secret, const char *cluster_name);
void session_keys_close(struct session_keys *k);

/* Parse len bytes (borrowed) into out (cap entries). TKV_ETOOBIG above
 * max_bytes, TKV_EINVAL for anything malformed. No MAC is checked here. */
int session_parse(const uint8_t *tok, size_t len, size_t max_bytes, struct session_entry *out,
                  unsigned cap, unsigned *n);

/* Fill e->mac. */
void session_sign(struct session_keys *k, struct session_entry *e);

/* Is e->mac right? */
bool session_verify(struct session_keys *k, const struct session_entry *e);

/* The highest index among the entries of partition p whose kind is in
 * kinds (SESSION_KIND_MASK bits), after checking their MACs: TKV_EINVAL if
 * one is forged. *required = 0 when there is none. */
int session_required(struct session_keys *k, const struct session_entry *e, unsigned n, uint32_t p,
                     unsigned kinds, uint64_t *required);

/* The timestamp of the token's SESSION_T entry after checking its MAC
 * (TKV_EINVAL if forged); *ts = 0 when there is none. */
int session_ts(struct session_keys *k, const struct session_entry *e, unsigned n, uint64_t *ts);

/* Verify every entry (TKV_EINVAL if one is forged). */
int session_verify_all(struct session_keys *k, const struct session_entry *e, unsigned n);

/* Bytes of a token of n entries, and its encoding into out. */
size_t session_encoded_bytes(unsigned n);
void session_encode(const struct session_entry *e, unsigned n, uint8_t *out);

/* Keep, per partition, only the entry with the highest index (any kind),
 * dropping partition skip and the timestamp (the write's own stamp is
 * above it): the dependencies a write stores. Returns the new
 * count; e is rewritten in place. */
unsigned session_reduce_deps(struct session_entry *e, unsigned n, uint32_t skip);

/* The dependencies a write stores, in the replicated command and with the
 * value: signed entries in a compact form (LEB128 varints), about 13 bytes
 * per entry where the token form takes 21, since every key and every log
 * entry of a session that touched many partitions carries them.
 *
 *   u8 SESSION_DEPS_MARKER | u16 count |
 *   count x { varint partition | u8 kind | varint index | 8-byte MAC }
 *
 * session_deps_parse also reads the token form (what tunekv stored before),
 * and like session_parse checks the shape, not the MACs. */
#define SESSION_DEPS_MARKER    0xD1
#define SESSION_DEPS_ENTRY_MAX (5 + 1 + 10 + SESSION_MAC_BYTES) /* bytes, at most */

size_t session_deps_encoded_bytes(const struct session_entry *e, unsigned n);
void session_deps_encode(const struct session_entry *e, unsigned n, uint8_t *out);
int session_deps_parse(const uint8_t *p, size_t len, struct session_entry *out, unsigned cap,
                       unsigned *n);

#endif
