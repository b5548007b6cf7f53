/* Replicated commands: the payload of every RAFT_COMMAND entry tunekv
 * proposes. The encoding is versioned and deterministic, so every replica
 * applies the same bytes the same way.
 *
 * Layout (little-endian), 64-byte header then key, value and causal
 * dependencies, zero-padded to a multiple of 8 bytes: raft 0.15 corrupts its segments on entries
 * whose length is not a multiple of 8 (RAFT-NOTES B1), so the true length
 * is stored in the header and command_decode() refuses any other length.
 *
 *   off size field
 *     0   1  format version (COMMAND_VERSION)
 *     1   1  type (enum command_type)
 *     2   2  flags (COMMAND_F_*)
 *     4   4  payload_bytes: header + key + value, before padding
 *     8   8  proposal_id: proposer-unique tag, matches the entry to the
 *            request waiting for it on the proposing node
 *    16   4  key_len
 *    20   4  value_len (bytes stored; compressed when COMMAND_F_LZ4)
 *    24   4  value_raw_len (bytes after decompression)
 *    28   4  deps_len: bytes of the writer's causal dependencies (signed
 *            entries, session_deps_encode in session.h), stored with the value
 *    32   8  expected_version (CAS)
 *    40   8  client_id (0 = none)
 *    48   8  seq
 *    56   8  payload_hash: xxh64 of type, expected_version, key and the
 *            value before compression (computed once, by the proposer), so
 *            a retry can be told from a different write with the same seq
 *    64      key bytes, value bytes, dependency bytes, padding */
#ifndef TKV_COMMAND_H
#define TKV_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMAND_VERSION      1
#define COMMAND_HEADER_BYTES 64

enum command_type {
        COMMAND_PUT = 1,
        COMMAND_DELETE = 2,
        COMMAND_CAS = 3,
};

#define COMMAND_F_LZ4     0x0001u /* value is an LZ4 block */
#define COMMAND_F_RETRY   0x0002u /* the client sent this write before */
#define COMMAND_F_ACK_ALL 0x0004u /* answered once every replica applied it */

struct command {
        uint8_t type;              /* enum command_type */
        uint16_t flags;            /* COMMAND_F_* */
        uint64_t proposal_id;      /* see header comment */
        const uint8_t *key;        /* borrowed */
        uint32_t key_len;          /* bytes */
        const uint8_t *value;      /* borrowed; NULL for DELETE */
        uint32_t value_len;        /* bytes as stored */
        uint32_t value_raw_len;    /* bytes after decompression */
        uint64_t expected_version; /* CAS: 0 = must not exist */
        uint64_t client_id;        /* idempotency: 0 = none */
        uint64_t seq;              /* idempotency sequence */
        uint64_t payload_hash;     /* see the layout above */
        const uint8_t *deps;       /* borrowed; NULL when deps_len is 0 */
        uint32_t deps_len;         /* bytes */
};

/* What applying a command did: the answer to the write. */
struct command_result {
        int status;               /* 0, TKV_ENOTFOUND, TKV_ECONDITION, TKV_ECORRUPT, TKV_EINVAL,
                                     TKV_EUNKNOWN (forgotten retry) */
        uint64_t index;           /* index of the entry that did it: the write's version */
        uint64_t current_version; /* CAS mismatch: the key's version (0 = absent) */
        bool accepted_only;       /* LEADER_ACCEPTED: proposed, not applied yet */
};

/* Bytes command_encode() writes: header + key + value + deps, rounded up
 * to 8. */
size_t command_encoded_bytes(const struct command *c);

/* Encode c into out, which has command_encoded_bytes(c) bytes. */
void command_encode(const struct command *c, uint8_t *out);

/* The payload hash of c, whose value must still be the raw value. */
uint64_t command_payload_hash(const struct command *c);

/* Decode len bytes at data into c, whose key/value pointers then borrow
 * from data. TKV_ECORRUPT on any inconsistency, TKV_EINVAL on an unknown
 * version or type. */
int command_decode(const void *data, size_t len, struct command *c);

#endif
