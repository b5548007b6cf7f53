/* The replicated state machine of one partition: raft_fsm (version 3) over
 * a store.
 *
 * apply() decodes a command and applies it deterministically: a command
 * that fails (CAS mismatch, delete of a missing key, an undecodable entry)
 * changes nothing and reports its status in the result, so that every
 * replica stays identical. A write carrying (client_id, seq) goes through
 * the client session table first (dedup.h): a retry is answered with the
 * first result and applied once. A TXN (command.h) evaluates its compares
 * and runs one branch of ops within the one entry, so every replica sees
 * all of it or none of it. raft does not tell the FSM the index it
 * applies; the group supplies it through hooks.index (last_applied + 1).
 * Leases (lease.h) are part of the state: LEASE_* commands change the
 * table, a PUT or CAS naming a lease attaches its key, and every key
 * deleted or written goes through one function each (fsm_delete_key,
 * fsm_put_key), which keep the keys' leases in step.
 *
 * Snapshots: snapshot() pins the store on the loop, snapshot_async()
 * serializes on a threadpool thread, snapshot_finalize() unpins and frees
 * on the loop. restore() replaces the store with a snapshot's content.
 * The fsm also counts the entries and bytes applied since the last
 * snapshot began, which raft keeps in memory (log_bytes). */
#ifndef TKV_FSM_H
#define TKV_FSM_H

#include <raft.h>
#include <stdint.h>

#include "changes.h"
#include "command.h"
#include "dedup.h"
#include "err.h"
#include "lease.h"
#include "snapshot.h"
#include "store.h"

struct fsm_hooks {
        void *data;
        /* Index of the entry being applied. */
        uint64_t (*index)(void *data);
        /* The command at index was applied (successfully or not); res is
         * its answer (for a deduplicated retry, the first attempt's). */
        void (*applied)(void *data, uint64_t index, uint64_t proposal_id, unsigned flags,
                        const struct command_result *res);
        /* The state was replaced by a snapshot reflecting applied_index. */
        void (*restored)(void *data, uint64_t applied_index);
        /* raft ended the snapshot of the state at index (snapshot_finalize):
         * true if it kept it, false if writing it failed, when the entries
         * it covered still count in log_bytes. May be NULL (kept). */
        bool (*snapshot_ended)(void *data, uint64_t index);
        /* The loop's monotonic time in ms, for the local deadline of a
         * lease granted or restored here (lease.h). May be NULL (0). */
        uint64_t (*now_ms)(void *data);
};

/* The exit status when applying a committed entry runs out of memory
 * (EX_TEMPFAIL: a supervisor restarts the node, which replays its log). */
#define FSM_EXIT_OUT_OF_MEMORY 75

struct fsm_params {
        uint32_t partition;
        unsigned session_window;       /* results kept per client (dedup.h) */
        unsigned sessions_max;         /* clients kept */
        uint64_t sessions_bytes_max;   /* their bytes (dedup.h) */
        struct changes_params history; /* recent changes kept (changes.h) */
};

struct fsm_txn_step; /* fsm.c */

struct fsm {
        struct raft_fsm raft_fsm;   /* handed to raft_init; data = this */
        struct store *store;        /* owned */
        struct dedup *dedup;        /* owned: client sessions */
        struct lease_table *leases; /* owned: the partition's leases (lease.h) */
        struct changes *changes;    /* owned: recent changes of store's keys */
        struct fsm_params params;
        uint32_t partition;
        uint64_t applied_index; /* index of the last command applied or restored */
        /* The timestamp of the last command applied (or of the snapshot's):
         * every write at or below it has been applied here, since
         * timestamps grow with the log (the partition is closed at it). */
        uint64_t last_ts;
        /* The timestamp of the last delete applied (of a TXN, a lease's
         * revocation or expiry too): a key absent here is absent as of it,
         * whatever came after (a delete keeps no stamp of its own). At most
         * last_ts. */
        uint64_t delete_ts;
        uint64_t deletes; /* keys deleted, ever (a TXN's included): LINEARIZABLE GET_MANY */
        struct fsm_hooks hooks;
        struct store_frozen frozen; /* entries pinned by the snapshot in progress */
        struct snapshot_meta frozen_meta;
        uint8_t *frozen_sessions; /* sessions encoded at the same moment */
        size_t frozen_sessions_len;
        uint8_t *frozen_leases; /* the lease table encoded at the same moment */
        size_t frozen_leases_len;
        /* raft keeps every entry since its last snapshot in memory: what
         * was applied since the last snapshot began, in entries and bytes
         * (group.c bounds it with snapshot_bytes), and what the snapshot in
         * progress covers, counted again if it fails. */
        uint64_t log_entries;
        uint64_t log_bytes;
        uint64_t frozen_log_entries;
        uint64_t frozen_log_bytes;
        bool snapshotting;     /* between snapshot() and snapshot_finalize() */
        uint64_t deduplicated; /* retries answered with their first result */
        uint64_t snapshots;    /* snapshots taken (kept by raft) */
        uint64_t restores;     /* snapshots restored */
        uint8_t *txn_existed;  /* owned: the last TXN's per-op flags (command_result) */
        uint32_t txn_existed_cap;
        struct fsm_txn_step *txn_steps; /* owned: scratch of the TXN lease check */
        uint32_t txn_steps_cap;
        char errmsg[ERR_MSG_BYTES];
};

/* TKV_ENOMEM on failure (nothing to close). */
int fsm_init(struct fsm *f, const struct fsm_params *params, const struct fsm_hooks *hooks);
/* Release the store. No snapshot may be in progress (raft is closed). */
void fsm_close(struct fsm *f);

#endif
