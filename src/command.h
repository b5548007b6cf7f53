/* Replicated commands: the payload of every RAFT_COMMAND entry tunekv
 * proposes. The encoding is versioned and deterministic, so every replica
 * applies the same bytes the same way. Every encoding is zero-padded to a
 * multiple of 8 bytes: raft 0.15 corrupts its segments on entries whose
 * length is not a multiple of 8 (RAFT-NOTES B1), so the header gives the
 * true length and command_decode() refuses any other.
 *
 * Version 3, written now (little-endian; varints are LEB128, varint.h):
 *
 *   off size field
 *     0   1  format version (3)
 *     1   1  type (enum command_type)
 *     2   1  flags (COMMAND_F_*)
 *     3   1  which optional fields follow (COMMAND_HAS_*), each set exactly
 *            when its condition holds, so one command has one encoding
 *     4   8  proposal_id: proposer-unique tag, matches the entry to the
 *            request waiting for it on the proposing node
 *    12   8  ts: the hybrid-logical-clock timestamp (hlc.h) the leader
 *            gave the entry when it handed it to raft (group_write.c
 *            writes it in place, at COMMAND_TS_OFFSET); the fsm applies it
 *            as max(ts, previous entry's + 1), so that timestamps grow
 *            with the log on every replica whatever the leaders did
 *    20      varint key_len
 *            varint value_len (bytes stored; compressed when COMMAND_F_LZ4)
 *            varint value_raw_len       HAS_RAW: iff COMMAND_F_LZ4 (else
 *                                       it equals value_len)
 *            varint deps_len: bytes of the writer's causal dependencies
 *            (session_deps_encode in session.h), stored with the value
 *            varint expected_version    HAS_EXPECTED: iff CAS
 *            8 client_id, varint seq,   HAS_CLIENT: iff client_id != 0
 *            8 payload_hash: xxh64 of type, expected_version, key and the
 *              value before compression (computed once, by the proposer),
 *              so a retry can be told from a different write with the
 *              same seq
 *            key bytes, value bytes, dependency bytes, padding
 *
 * A put of a 12-byte key and a 100-byte value with a client id takes 42
 * header bytes here, 64 in version 1.
 *
 * Version 2 (still decoded): version 3 without the timestamp (the key
 * length at offset 12); its entries apply with timestamp previous + 1.
 *
 * Version 1 (logs and snapshots written before, still decoded): a 64-byte
 * header: u8 version, u8 type, u16 flags, u32 payload bytes (header + key
 * + value + deps), u64 proposal_id, u32 key_len, u32 value_len, u32
 * value_raw_len, u32 deps_len, u64 expected_version, u64 client_id, u64
 * seq, u64 payload_hash; then key, value, deps, padding.
 *
 * COMMAND_TXN (version 2 only) is a command like the others with an empty
 * key, whose value is the TXN body below (never compressed), and whose
 * dependencies go with each put of the branch that runs. The header's
 * client fields and payload hash (over the whole body) make it idempotent
 * like any write. TXN body, version 1 (varints as above):
 *
 *   u8 body version (1)
 *   varint n_compares, varint n_success, varint n_failure
 *   n_compares times: u8 target (COMMAND_TXN_TARGET_*), u8 op
 *     (COMMAND_TXN_OP_*), varint key_len, key bytes, then for VALUE:
 *     varint len and the bytes; else varint number (EXISTS: 0 or 1)
 *   n_success + n_failure times: u8 type (COMMAND_TXN_*), varint key_len,
 *     key bytes, then for PUT: varint value_len and the value bytes; for
 *     PUT_LEASE, a PUT that names a lease: the value as PUT, then varint
 *     lease (never 0). A PUT without a lease is always written as PUT, so
 *     one op has one encoding, and bodies from before leases decode as
 *     they did; a node without PUT_LEASE refuses such a body as
 *     TKV_EINVAL, so every node of a cluster must know it before a client
 *     sends a TXN put with a lease (docs/protocol.md, TXN).
 *
 * Lease commands (COMMAND_LEASE_*, version 3 only) have no key and no
 * dependencies; their value is the lease body described below. A PUT or
 * CAS may name a lease (COMMAND_HAS_LEASE), which the key is attached to
 * if the write applies; the lease is part of the payload hash.
 *
 * No key is empty. The body ends exactly after the last op: command_decode checks it all,
 * so the fsm walks a decoded body without checks of its own. */
#ifndef TKV_COMMAND_H
#define TKV_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMAND_VERSION         3 /* what command_encode writes */
#define COMMAND_V1_HEADER_BYTES 64
#define COMMAND_V2_FIXED_BYTES  12 /* version, type, flags, fields, proposal_id */
#define COMMAND_V3_FIXED_BYTES  20 /* ... and ts */
#define COMMAND_TS_OFFSET       12

enum command_type {
        COMMAND_PUT = 1,
        COMMAND_DELETE = 2,
        COMMAND_CAS = 3,
        COMMAND_TXN = 4, /* value: the TXN body (see above) */
        /* No key: only its timestamp, which closes the partition at it
         * (a replica that applied it has applied every write at or below
         * it). Proposed when a SEQUENTIAL read waits for that. */
        COMMAND_CLOSE = 5,
        /* No key; the value is a lease body (below). GRANT makes a lease
         * whose id is lease_id_make(partition, the entry's index); REVOKE
         * (a client's) and EXPIRE (the leader's, when the lease's TTL ran
         * out on its clock) delete the lease's keys and the lease in this
         * one entry. */
        COMMAND_LEASE_GRANT = 6,
        COMMAND_LEASE_REVOKE = 7,
        COMMAND_LEASE_EXPIRE = 8,
};

#define COMMAND_TYPE_MAX COMMAND_LEASE_EXPIRE

/* A lease command's body (its value), version 1: u8 version (1), then
 * varints id (GRANT: 0), ttl_ms (GRANT only, else 0), leases_max and
 * keys_max (GRANT only, else 0: the proposing leader's limits, carried so
 * that every replica applies the same ones). */
#define COMMAND_LEASE_BODY_VERSION 1
#define COMMAND_LEASE_BODY_MAX     41 /* 1 + 4 varints of at most 10 bytes */

struct command_lease {
        uint64_t id;
        uint64_t ttl_ms;
        uint64_t leases_max;
        uint64_t keys_max;
};

/* What a TXN compare reads from the key (an absent key has version and
 * create index 0, no value, and EXISTS 0). */
enum command_txn_target {
        COMMAND_TXN_TARGET_VERSION = 1, /* mod_index */
        COMMAND_TXN_TARGET_CREATE = 2,  /* create_index */
        COMMAND_TXN_TARGET_VALUE = 3,   /* bytes, compared as memcmp then length */
        COMMAND_TXN_TARGET_EXISTS = 4,  /* 0 or 1 */
};

enum command_txn_cmp {
        COMMAND_TXN_EQ = 1,
        COMMAND_TXN_NE = 2,
        COMMAND_TXN_LT = 3, /* the key's side < the operand */
        COMMAND_TXN_GT = 4,
};

enum command_txn_op_type {
        COMMAND_TXN_PUT = 1,
        COMMAND_TXN_DELETE = 2,
        COMMAND_TXN_GET = 3,
        /* On the wire only: command_txn_next_op gives a PUT with its
         * lease, and command_txn_body_encode writes a PUT with a lease so. */
        COMMAND_TXN_PUT_LEASE = 4,
};

#define COMMAND_TXN_BODY_VERSION 1

struct command_txn_compare {
        uint8_t target;       /* enum command_txn_target */
        uint8_t op;           /* enum command_txn_cmp */
        const uint8_t *key;   /* borrowed */
        uint32_t key_len;     /* bytes */
        uint64_t number;      /* VERSION, CREATE, EXISTS */
        const uint8_t *value; /* VALUE: borrowed; NULL when value_len is 0 */
        uint32_t value_len;   /* bytes */
};

struct command_txn_op {
        uint8_t type;         /* enum command_txn_op_type */
        const uint8_t *key;   /* borrowed */
        uint32_t key_len;     /* bytes */
        const uint8_t *value; /* PUT: borrowed; NULL when value_len is 0 */
        uint32_t value_len;   /* bytes */
        uint64_t lease;       /* PUT: the lease to attach the key to; 0 = none */
};

/* A decoded TXN body, walked in order with the _next functions. */
struct command_txn {
        uint32_t n_compares;
        uint32_t n_success;
        uint32_t n_failure;
        const uint8_t *compares; /* borrowed: the first compare */
        const uint8_t *end;      /* borrowed: the body's end */
};

#define COMMAND_F_LZ4     0x0001u /* value is an LZ4 block */
#define COMMAND_F_RETRY   0x0002u /* the client sent this write before */
#define COMMAND_F_ACK_ALL 0x0004u /* answered once every replica applied it */
#define COMMAND_F_ALL     (COMMAND_F_LZ4 | COMMAND_F_RETRY | COMMAND_F_ACK_ALL)

/* Version 2: which optional header fields are present. */
#define COMMAND_HAS_RAW      0x01u
#define COMMAND_HAS_EXPECTED 0x02u
#define COMMAND_HAS_CLIENT   0x04u
#define COMMAND_HAS_LEASE                                                                          \
        0x08u /* varint lease after expected_version: iff a                                        \
                 PUT or CAS names a lease */

struct command {
        uint8_t type;              /* enum command_type */
        uint16_t flags;            /* COMMAND_F_* */
        uint64_t proposal_id;      /* see header comment */
        uint64_t ts;               /* see header comment; 0 in versions 1 and 2 */
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
        uint64_t lease;            /* PUT, CAS: the lease to attach the key to; 0 = none */
};

/* What applying a command did: the answer to the write. */
struct command_result {
        int status;               /* 0, TKV_ENOTFOUND, TKV_ECONDITION, TKV_ECORRUPT, TKV_EINVAL,
                                     TKV_EUNKNOWN (forgotten retry) */
        uint64_t index;           /* index of the entry that did it: the write's version */
        uint64_t current_version; /* CAS mismatch: the key's version (0 = absent) */
        uint64_t ts;              /* the entry's timestamp as applied (hlc.h); 0 if undecodable
                                     or not applied yet */
        const uint8_t *key;       /* the key it wrote (status 0), borrowed for the applied hook
                                     only; NULL otherwise */
        uint32_t key_len;
        bool accepted_only; /* LEADER_ACCEPTED: proposed, not applied yet */
        /* TXN, first application only (all NULL for a retry answered from
         * the session table), borrowed during the applied hook: */
        const uint8_t *txn_body;    /* the entry's TXN body (command_txn_open) */
        uint32_t txn_body_len;      /* bytes */
        const uint8_t *txn_existed; /* per op of the branch that ran: 1 if its
                                       key existed just before it */
        uint32_t txn_ops;           /* entries of txn_existed */
        uint64_t lease;             /* LEASE_GRANT: the id granted (status 0); PUT,
                                       CAS, TXN refused for a lease (TKV_ENOTFOUND,
                                       TKV_ETOOBIG): that lease (0 in a retry's
                                       answer: the session table keeps no lease) */
};

/* Bytes of the header command_encode() writes for c. */
size_t command_header_bytes(const struct command *c);

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

/* Encode the lease body of l into out (COMMAND_LEASE_BODY_MAX bytes);
 * returns its length. */
size_t command_lease_body_encode(const struct command_lease *l, uint8_t *out);

/* Parse a lease body (command_decode checks every lease command's, so a
 * decoded command's parses). TKV_ECORRUPT, TKV_EINVAL (version). */
int command_lease_open(const uint8_t *body, size_t len, struct command_lease *l);

/* Bytes of the TXN body of the n_compares compares and the n_success then
 * n_failure ops (ops holds both lists, success first). */
size_t command_txn_body_bytes(const struct command_txn_compare *compares, uint32_t n_compares,
                              const struct command_txn_op *ops, uint32_t n_success,
                              uint32_t n_failure);

/* Encode that body into out (command_txn_body_bytes bytes). All borrowed. */
void command_txn_body_encode(const struct command_txn_compare *compares, uint32_t n_compares,
                             const struct command_txn_op *ops, uint32_t n_success,
                             uint32_t n_failure, uint8_t *out);

/* Check the len-byte body and open it into t (borrowing from body).
 * TKV_ECORRUPT if anything is inconsistent, TKV_EINVAL on an unknown body
 * version, target, comparison or op type. command_decode runs it on every
 * TXN, so a decoded command's body opens without error. */
int command_txn_open(const uint8_t *body, size_t len, struct command_txn *t);

/* The next compare at *pos (start at t->compares; n_compares times). */
void command_txn_next_compare(const uint8_t **pos, struct command_txn_compare *out);

/* The next op at *pos (after the compares; n_success + n_failure times). */
void command_txn_next_op(const uint8_t **pos, struct command_txn_op *out);

#endif
