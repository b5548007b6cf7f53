/* Snapshot format of one partition's state machine.
 *
 * raft asks the FSM for a snapshot every snapshot_threshold entries; fsm.c
 * pins the store's entries on the loop (store_freeze) and this module
 * serializes them on a threadpool thread. raft_uv LZ4-compresses the file
 * itself, so nothing is compressed twice here (values that were compressed
 * on write stay as they are).
 *
 * Layout (little-endian):
 *
 *   header, 48 bytes:
 *     0  8  magic "TKVSNAP1"
 *     8  4  format version (SNAPSHOT_VERSION)
 *    12  4  reserved, 0
 *    16  8  partition
 *    24  8  applied index the state reflects
 *    32  8  entry count
 *    40  8  timestamp of the last command applied (fsm.h last_ts);
 *           version 1: reserved, 0
 *   entries, each:
 *     0  4  key_len
 *     4  4  value_len (as stored)
 *     8  4  value_raw_len
 *    12  4  deps_len (causal dependencies stored with the value)
 *    16  8  create_index
 *    24  8  mod_index
 *    32  8  ts: timestamp of the write that stored the value (version 2;
 *           version 1 has no such field, and its values read as 0)
 *    40     key bytes, value bytes, dependency bytes
 *   client sessions: 8-byte length L, then L bytes (dedup.h)
 *   leases (version 3; a version 1 or 2 snapshot has none): 8-byte length
 *     L, then L bytes (lease_table_encode, lease.h)
 *   trailer: 8-byte xxh64 of every byte before it. */
#ifndef TKV_SNAPSHOT_H
#define TKV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "lease.h"
#include "store.h"

#define SNAPSHOT_VERSION            3 /* written; 1 and 2 are still read */
#define SNAPSHOT_HEADER_BYTES       48
#define SNAPSHOT_ENTRY_HEADER_BYTES 32 /* version 1; version 2 adds 8 */

struct snapshot_meta {
        uint32_t partition;
        uint64_t applied_index;
        uint64_t last_ts;
};

/* The small tables of a partition, encoded on the loop when the store's
 * entries were pinned (borrowed). */
struct snapshot_tables {
        const uint8_t *sessions; /* dedup_encode */
        size_t sessions_len;
        const uint8_t *leases; /* lease_table_encode */
        size_t leases_len;
};

/* Exact size snapshot_encode() writes for f and the tables. */
size_t snapshot_encoded_bytes(const struct store_frozen *f, const struct snapshot_tables *t);

/* Serialize f and the tables into out. Reads only the immutable parts of
 * the entries, so it may run off the loop thread. */
void snapshot_encode(const struct store_frozen *f, const struct snapshot_meta *m,
                     const struct snapshot_tables *t, uint8_t *out);

/* Validate data and load it into the empty store s, the empty session
 * table d and the empty lease table l (deadlines from now_ms). On error
 * (TKV_ECORRUPT, TKV_EINVAL for an unknown version, TKV_ENOMEM) all hold
 * a partial state and must be discarded. */
int snapshot_decode(const uint8_t *data, size_t len, struct store *s, struct dedup *d,
                    struct lease_table *l, uint64_t now_ms, struct snapshot_meta *m);

#endif
