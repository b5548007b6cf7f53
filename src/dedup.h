/* Client sessions of one partition's state machine (Raft thesis §6.3): the
 * last results of each client's writes, so that a retried write is applied
 * once and answered with its first result.
 *
 * A write may carry (client_id, seq). For each client the table keeps the
 * results of its last `window` writes applied in this partition, and a
 * floor: every seq at or below it that is not kept has been forgotten.
 *
 * Bounds: at most `sessions_max` clients, and at most `bytes_max` bytes of
 * sessions in their snapshot form (32 bytes a client, 40 a result kept;
 * the heap holds up to about twice that). Room is made by dropping a
 * session, chosen so that a flood of new client ids cannot push out the
 * clients that keep writing: a client's first write puts it on probation,
 * its second makes it established; the least recently written session on
 * probation goes first, an established one only when probation is empty,
 * and at most 3/4 of sessions_max are established (older ones return to
 * probation). So clients that each write once, however many, never evict
 * a client that wrote twice and stays among the 3/4·sessions_max most
 * recently writing established ones. Everything here changes only in log
 * order, so every replica holds the same table, and snapshots carry it.
 *
 * Outcomes of dedup_check for (client, seq, payload hash, retry):
 *   DEDUP_NEW        apply the write, then dedup_record its result;
 *   DEDUP_DUPLICATE  already applied: answer with the stored result;
 *   DEDUP_MISMATCH   seq already used for another payload: refuse;
 *   DEDUP_FORGOTTEN  a retry whose first attempt may have been applied but
 *                    is no longer remembered (below the client's floor, or
 *                    a client unknown here after some session was dropped):
 *                    the outcome cannot be told.
 * A retry from a client unknown here while no session was ever dropped is
 * DEDUP_NEW: the client never wrote to this partition, so its first attempt
 * did not happen. */
#ifndef TKV_DEDUP_H
#define TKV_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "command.h"

enum dedup_outcome {
        DEDUP_NEW,
        DEDUP_DUPLICATE,
        DEDUP_MISMATCH,
        DEDUP_FORGOTTEN,
};

struct dedup;

/* TKV_ENOMEM on failure (*out = NULL). */
int dedup_create(struct dedup **out, unsigned window, unsigned sessions_max, uint64_t bytes_max);
void dedup_destroy(struct dedup *d);

/* Classify a write; for DEDUP_DUPLICATE, *res receives the first result
 * (its timestamp too, unless the session was restored from a snapshot:
 * then res->ts is left as the caller set it). */
enum dedup_outcome dedup_check(const struct dedup *d, uint64_t client, uint64_t seq,
                               uint64_t payload_hash, bool retry, struct command_result *res);

/* Make room to record (client, seq) before the write changes anything, so
 * that recording cannot fail after it did. TKV_ENOMEM leaves the table as
 * it was. */
int dedup_reserve(struct dedup *d, uint64_t client);

/* Record the result of a DEDUP_NEW write applied at res->index (after a
 * successful dedup_reserve for the same client). */
void dedup_record(struct dedup *d, uint64_t client, uint64_t seq, uint64_t payload_hash,
                  const struct command_result *res);

uint64_t dedup_sessions(const struct dedup *d);
/* The bytes counted against bytes_max. */
uint64_t dedup_bytes(const struct dedup *d);

/* Serialized size and form, for snapshots (see snapshot.h). */
size_t dedup_encoded_bytes(const struct dedup *d);
void dedup_encode(const struct dedup *d, uint8_t *out);
/* Load sessions from c into the empty table d. TKV_ECORRUPT, TKV_ENOMEM. */
int dedup_decode(struct dedup *d, struct cursor *c);

#endif
