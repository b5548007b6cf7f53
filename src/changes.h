/* The recent changes of one partition: a bounded history of the writes
 * its fsm applied, newest last, each with the key's entry before and after
 * it (pinned in the store, store_entry_pin).
 *
 * It answers two questions the current table cannot:
 *   - a key as of a past timestamp (reads at_timestamp, Spanner's "exact
 *     staleness"): the versions it had inside the window are kept;
 *   - which delete made a key absent (its tombstone: the delete's index),
 *     while that delete is in the window.
 *
 * The window is every change stamped above start_ts: when a change is
 * dropped (the oldest first, when the history holds more than entries_max
 * changes or bytes_max bytes, or spans more than retain_ms of timestamps)
 * start_ts rises to its timestamp. A restore starts an empty history at the
 * snapshot's last timestamp. The bounds are applied on every replica to the
 * same log, so replicas that applied the same entries since they started
 * hold the same window; one that restored a snapshot holds less.
 *
 * Not in snapshots, not replicated: each replica rebuilds it from the
 * entries it applies. Only the loop thread calls these functions. */
#ifndef TKV_CHANGES_H
#define TKV_CHANGES_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct changes_params {
        uint64_t entries_max; /* changes kept; 0 keeps none */
        uint64_t bytes_max;   /* bytes they hold: records and replaced entries */
        uint64_t retain_ms;   /* newest timestamp minus oldest, in ms (hlc.h) */
};

struct changes;

/* An empty history starting at start_ts. TKV_ENOMEM on failure. */
int changes_create(struct changes **out, const struct changes_params *params, uint64_t start_ts);
/* Unpin everything from s (the store the changes were recorded in) and
 * free; safe on NULL. */
void changes_destroy(struct changes *c, struct store *s);

/* Forget every change (unpinning from s) and start again at start_ts and
 * start_index (the snapshot's last entry): the store is about to be
 * replaced (restore). */
void changes_reset(struct changes *c, struct store *s, uint64_t start_ts, uint64_t start_index);

/* Record a change of one key at index, stamped ts (non-decreasing from
 * call to call): before is the key's entry before it (NULL: absent), after
 * the entry it left (NULL: deleted). Both are borrowed from s and pinned
 * here. Then drops the oldest changes beyond the bounds. Returns TKV_ENOMEM
 * with nothing recorded, after forgetting every change (start_ts rises to
 * ts): the window shrinks, it never lies. */
int changes_record(struct changes *c, struct store *s, const struct store_entry *before,
                   const struct store_entry *after, uint64_t index, uint64_t ts);

/* The key as of timestamp ts, where cur is the key's current entry in the
 * table (NULL: absent now). Returns TKV_ENOTFOUND if ts is below the window
 * (nothing said), else 0 with *e = the key's entry at ts (NULL: absent at
 * ts) and *deleted_index = the index of the delete that made it absent
 * when that delete is in the window (else 0). The caller makes sure every
 * write stamped at or below ts has been applied. */
int changes_at(const struct changes *c, const struct store_entry *cur, const void *key,
               uint32_t key_len, uint64_t ts, const struct store_entry **e,
               uint64_t *deleted_index);

/* Every key changed after ts, once each, in no order: cb(arg, key,
 * key_len, e) with e the key's entry as of ts (NULL: absent then). ts must
 * be at or above changes_start_ts (every change after it is kept). The
 * entries are pinned by the history until the next change is recorded. */
typedef void (*changes_since_cb)(void *arg, const uint8_t *key, uint32_t key_len,
                                 const struct store_entry *e);
void changes_since(const struct changes *c, uint64_t ts, changes_since_cb cb, void *arg);

/* The index of the delete that removed key, if its last change in the
 * window is a delete; else 0. */
uint64_t changes_tombstone(const struct changes *c, const void *key, uint32_t key_len);

/* Every change stamped above it is in the window. */
uint64_t changes_start_ts(const struct changes *c);
uint64_t changes_count(const struct changes *c);
uint64_t changes_bytes(const struct changes *c);
/* The index of the oldest change kept (0: none). */
uint64_t changes_oldest_index(const struct changes *c);

/* Watches (rpc_watch.c) read the history as a log of changes.
 *
 * Every change recorded gets the next seq (0, 1, ...; consecutive, never
 * reused, also for changes dropped at once): the kept ones are
 * [changes_first_seq, changes_next_seq), oldest first, in index order. A
 * reader holds a seq; the record it names is kept while seq >=
 * changes_first_seq, so a pointer to it may be cached with its seq and
 * trusted again only after that check (changes_seek does it). Every
 * change at an index above changes_start_index is kept: a reader that saw
 * every change up to index i misses none while i >= it. */
struct change;

struct changes_view {
        uint64_t seq;
        uint64_t index;
        uint64_t ts;
        uint64_t hash;                   /* changes_key_hash of the key */
        const struct store_entry *after; /* the key's entry after it; NULL: a delete */
        const uint8_t *key;              /* borrowed, like the record */
        uint32_t key_len;
};

uint64_t changes_start_index(const struct changes *c);
uint64_t changes_next_seq(const struct changes *c);
uint64_t changes_first_seq(const struct changes *c);

/* The record of seq, or NULL if it is not kept (dropped, or not yet
 * recorded). hint (may be NULL) is a record this reader held, with its
 * seq: when still kept and not past seq, the walk starts there rather than
 * at the oldest. */
const struct change *changes_seek(const struct changes *c, const struct change *hint,
                                  uint64_t hint_seq, uint64_t seq);
/* The record after r, or NULL: r is the newest. */
const struct change *changes_next(const struct change *r);
void changes_view(const struct change *r, struct changes_view *v);
/* The hash changes_view reports for key. */
uint64_t changes_key_hash(const struct changes *c, const void *key, uint32_t key_len);

#endif
