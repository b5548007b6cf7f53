/* The leases of one partition (issue 19 item 5): the replicated table the
 * fsm changes in log order, and the expiry deadlines only the partition's
 * leader acts on.
 *
 * A lease is (id, ttl_ms, keys_max) and the keys attached to it. It lives
 * in one partition: its id carries the partition in its high 16 bits (plus
 * one, so that no id is 0) and the index of the LEASE_GRANT entry in its
 * low 48 bits, so ids are unique, grow with the log, and tell a client
 * where to send LEASE_* requests. A key is attached to at most one lease;
 * a later PUT with another lease moves it, a PUT without one or a DELETE
 * detaches it.
 *
 * Replicated (changed only by fsm.c while applying, identical on every
 * replica, carried by snapshots): the leases, their TTLs, keys_max (the
 * leader's lease_keys_max when it granted the lease, so that every replica
 * applies the same limit whatever its own configuration says) and their
 * keys. Local (never replicated, meaningful on the leader only): each
 * lease's deadline in the loop's monotonic milliseconds and whether a
 * LEASE_EXPIRE for it is in flight (group_lease.c).
 *
 * Memory: at most leases_max leases (the leader refuses more, and the
 * grant carries that limit into the log) of at most keys_max keys; a key
 * costs its bytes plus 32. Lookups: leases by id in a sorted array
 * (binary search; grants append, since ids grow), keys by a chained hash
 * table under a random SipHash key. */
#ifndef TKV_LEASE_H
#define TKV_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define LEASE_PARTITION_SHIFT 48
#define LEASE_INDEX_MASK      ((UINT64_C(1) << LEASE_PARTITION_SHIFT) - 1)

/* The id of the lease granted by the entry at index in partition. */
static inline uint64_t lease_id_make(uint32_t partition, uint64_t index)
{
        return ((uint64_t)partition + 1) << LEASE_PARTITION_SHIFT | (index & LEASE_INDEX_MASK);
}

/* The partition a lease id names, or UINT32_MAX for an id no grant made
 * (0, or high bits beyond 65535 partitions). */
static inline uint32_t lease_id_partition(uint64_t id)
{
        uint64_t p = id >> LEASE_PARTITION_SHIFT;
        return p == 0 || (id & LEASE_INDEX_MASK) == 0 ? UINT32_MAX : (uint32_t)(p - 1);
}

struct lease_key;

struct lease {
        uint64_t id;
        uint64_t ttl_ms;
        uint32_t keys_max;       /* replicated: from the grant */
        uint32_t n_keys;         /* keys attached */
        uint32_t keys_cap;       /* slots of keys */
        struct lease_key **keys; /* owned: the attached keys, in no particular order */
        uint64_t deadline_ms;    /* local: loop time at which the leader expires it */
        bool expiring;           /* local: a LEASE_EXPIRE for it is in flight */
};

struct lease_table;

/* TKV_ENOMEM (*out NULL then). */
int lease_table_create(struct lease_table **out);
/* NULL is fine. */
void lease_table_destroy(struct lease_table *t);

uint32_t lease_count(const struct lease_table *t);
/* Keys attached to any lease. */
uint64_t lease_keys_attached(const struct lease_table *t);
/* The i-th lease in id order (i < lease_count), borrowed until the table
 * changes. */
struct lease *lease_at(struct lease_table *t, uint32_t i);
/* The lease with this id, or NULL. Borrowed until the table changes. */
struct lease *lease_find(struct lease_table *t, uint64_t id);
/* Key i (< l->n_keys) of l: bytes borrowed until the table changes. */
const uint8_t *lease_key_bytes(const struct lease *l, uint32_t i, uint32_t *len);
/* The lease key is attached to, or 0. key is borrowed. */
uint64_t lease_of_key(const struct lease_table *t, const uint8_t *key, uint32_t len);

/* Add lease id (greater than every id in t), its deadline now_ms + ttl_ms.
 * TKV_ENOMEM (nothing changed). */
int lease_grant(struct lease_table *t, uint64_t id, uint64_t ttl_ms, uint32_t keys_max,
                uint64_t now_ms);

/* Attach key (copied) to lease id, detaching it from any other lease.
 * TKV_ENOTFOUND (no such lease), TKV_EBUSY (it has keys_max keys),
 * TKV_ENOMEM; nothing changed on error. */
int lease_attach(struct lease_table *t, uint64_t id, const uint8_t *key, uint32_t len);

/* Detach key from its lease, if any. key is borrowed and may be the
 * attached copy itself (lease_key_bytes). */
void lease_detach(struct lease_table *t, const uint8_t *key, uint32_t len);

/* Remove lease id, which must have no keys left (the fsm deletes them
 * first). */
void lease_remove(struct lease_table *t, uint64_t id);

/* Every lease's deadline becomes now_ms + its ttl, nothing is expiring:
 * what a new leader does (it never expires a lease early). */
void lease_restart_deadlines(struct lease_table *t, uint64_t now_ms);

/* A lower bound of the earliest deadline (UINT64_MAX: no lease): grants
 * lower it, keepalives (which only move deadlines later) leave it, and
 * whoever scans the leases sets it to what it found. */
uint64_t lease_next_ms(const struct lease_table *t);
void lease_set_next_ms(struct lease_table *t, uint64_t next_ms);

/* Bytes and form of the replicated part, for snapshots (snapshot.h):
 * u32 count, then per lease u64 id, u64 ttl_ms, u32 keys_max, u32 n_keys
 * and per key u32 length and its bytes. Little-endian. */
size_t lease_table_encoded_bytes(const struct lease_table *t);
void lease_table_encode(const struct lease_table *t, uint8_t *out);
/* Load c into the empty table t, deadlines at now_ms + ttl. TKV_ECORRUPT
 * (ids out of order, a key twice, more keys than keys_max), TKV_ENOMEM;
 * t is then partial and must be destroyed. */
int lease_table_decode(struct lease_table *t, struct cursor *c, uint64_t now_ms);

#endif
