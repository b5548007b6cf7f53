/* A partition state machine driven the way raft drives it, shared by
 * fuzz_command.c and fuzz_snapshot.c: apply entries, take a snapshot
 * through the three raft_fsm calls, restore one, and read every value back
 * the way a GET does (rpc_read_fill_value). */
#ifndef TKV_FUZZ_FSM_H
#define TKV_FUZZ_FSM_H

#include <raft.h>
#include <string.h>

#include "fsm.h"
#include "fuzz.h"
#include "log.h"
#include "value.h"

#define FUZZ_FSM_PARTITION 3

struct fuzz_fsm {
        struct fsm fsm;
        uint64_t next_index;
};

static inline uint64_t fuzz_fsm_index(void *data)
{
        return ((struct fuzz_fsm *)data)->next_index;
}

static inline void fuzz_fsm_applied(void *data, uint64_t index, uint64_t pid, unsigned flags,
                                    const struct command_result *res)
{
        FUZZ_ASSERT(index == ((struct fuzz_fsm *)data)->next_index);
        (void)pid;
        (void)flags;
        (void)res;
}

static inline void fuzz_fsm_restored(void *data, uint64_t index)
{
        (void)data;
        (void)index;
}

static inline void fuzz_fsm_init(struct fuzz_fsm *h)
{
        struct fsm_hooks hooks = {h,   fuzz_fsm_index, fuzz_fsm_applied, fuzz_fsm_restored, NULL,
                                  NULL};
        struct fsm_params params = {FUZZ_FSM_PARTITION, 4, 3, 1u << 20};

        log_setup(0, LOG_OFF); /* refusals are expected here, by the million */
        memset(h, 0, sizeof *h);
        FUZZ_ASSERT(fsm_init(&h->fsm, &params, &hooks) == 0);
        h->next_index = 1;
}

/* Apply len bytes as the entry at the next index. raft copies entries into
 * buffers of their own, and so does this, so ASan sees reads past len. */
static inline void fuzz_fsm_apply(struct fuzz_fsm *h, const uint8_t *data, size_t len)
{
        struct raft_buffer buf = {malloc(len > 0 ? len : 1), len};
        void *result = NULL;

        FUZZ_ASSERT(buf.base != NULL);
        memcpy(buf.base, data, len);
        FUZZ_ASSERT(h->fsm.raft_fsm.apply(&h->fsm.raft_fsm, &buf, &result) == 0);
        FUZZ_ASSERT(h->fsm.applied_index == h->next_index);
        h->next_index++;
        free(buf.base);
}

/* Take a snapshot as raft does; returns its bytes (free them) and length. */
static inline uint8_t *fuzz_fsm_snapshot(struct fuzz_fsm *h, size_t *len)
{
        struct raft_fsm *rf = &h->fsm.raft_fsm;
        struct raft_buffer *bufs = NULL;
        unsigned n = 0;
        uint8_t *copy;

        FUZZ_ASSERT(rf->snapshot(rf, &bufs, &n) == 0 && n == 1);
        FUZZ_ASSERT(rf->snapshot_async(rf, &bufs, &n) == 0);
        *len = bufs[0].len;
        copy = malloc(*len);
        FUZZ_ASSERT(copy != NULL);
        memcpy(copy, bufs[0].base, *len);
        FUZZ_ASSERT(rf->snapshot_finalize(rf, &bufs, &n) == 0);
        return copy;
}

/* Restore len bytes; on success the fsm owns a raft_malloc'd copy. */
static inline int fuzz_fsm_restore(struct fuzz_fsm *h, const uint8_t *data, size_t len)
{
        struct raft_buffer buf = {raft_malloc(len > 0 ? len : 1), len};
        int rv;

        FUZZ_ASSERT(buf.base != NULL);
        memcpy(buf.base, data, len);
        rv = h->fsm.raft_fsm.restore(&h->fsm.raft_fsm, &buf);
        if (rv != 0) {
                raft_free(buf.base); /* on failure the buffer stays raft's */
        }
        return rv;
}

/* Read every value as a GET would. A compressed value must decompress to
 * exactly its raw length, which LZ4 bounds: a block of n bytes yields at
 * most 255 n, so no stored entry can make a read allocate more than that. */
static inline void fuzz_fsm_read_all(struct fuzz_fsm *h)
{
        struct store_frozen f;

        FUZZ_ASSERT(store_freeze(h->fsm.store, &f) == 0);
        for (size_t i = 0; i < f.n; i++) {
                struct store_fields e;
                uint8_t *raw;

                store_entry_fields(f.entries[i], &e);
                FUZZ_ASSERT(e.create_index <= e.mod_index);
                FUZZ_ASSERT(e.value_raw_len >= e.value_len);
                if (e.value_raw_len == e.value_len) {
                        continue;
                }
                FUZZ_ASSERT((uint64_t)e.value_raw_len <= 255 * (uint64_t)e.value_len);
                raw = malloc(e.value_raw_len);
                FUZZ_ASSERT(raw != NULL);
                (void)value_decompress(e.value, e.value_len, raw, e.value_raw_len);
                free(raw);
        }
        store_unfreeze(&f);
}

/* a and b hold the same state: applied index, sessions, and every key with
 * the same fields and bytes. */
static inline void fuzz_fsm_same(struct fuzz_fsm *a, struct fuzz_fsm *b)
{
        struct store_frozen f;

        FUZZ_ASSERT(a->fsm.applied_index == b->fsm.applied_index);
        FUZZ_ASSERT(dedup_sessions(a->fsm.dedup) == dedup_sessions(b->fsm.dedup));
        FUZZ_ASSERT(store_count(a->fsm.store) == store_count(b->fsm.store));
        FUZZ_ASSERT(store_freeze(a->fsm.store, &f) == 0);
        for (size_t i = 0; i < f.n; i++) {
                struct store_fields x, y;
                const struct store_entry *e;

                store_entry_fields(f.entries[i], &x);
                e = store_get(b->fsm.store, x.key, x.key_len);
                FUZZ_ASSERT(e != NULL);
                store_entry_fields(e, &y);
                FUZZ_ASSERT(x.value_len == y.value_len && x.value_raw_len == y.value_raw_len &&
                            x.deps_len == y.deps_len && x.create_index == y.create_index &&
                            x.mod_index == y.mod_index);
                FUZZ_ASSERT(x.value_len == 0 || memcmp(x.value, y.value, x.value_len) == 0);
                FUZZ_ASSERT(x.deps_len == 0 || memcmp(x.deps, y.deps, x.deps_len) == 0);
        }
        store_unfreeze(&f);
}

#endif
