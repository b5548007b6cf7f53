#include "fsm.h"

#include <string.h>

#include "command.h"
#include "heap.h"
#include "keyhash.h"
#include "log.h"

static void fsm_apply_command(struct fsm *f, const struct command *c, struct fsm_result *res)
{
        uint64_t hash = key_hash(c->key, c->key_len);
        const struct store_entry *e;

        switch (c->type) {
        case COMMAND_PUT:
                res->status = store_put(f->store, hash, c->key, c->key_len, c->value, c->value_len,
                                        c->value_raw_len, res->index);
                break;
        case COMMAND_DELETE:
                res->status = store_delete(f->store, hash, c->key, c->key_len) ? 0 : TKV_ENOTFOUND;
                break;
        case COMMAND_CAS:
                e = store_get(f->store, hash, c->key, c->key_len);
                res->current_version = e != NULL ? e->mod_index : 0;
                if (res->current_version != c->expected_version) {
                        res->status = TKV_ECONDITION;
                        break;
                }
                res->status = store_put(f->store, hash, c->key, c->key_len, c->value, c->value_len,
                                        c->value_raw_len, res->index);
                break;
        default:
                res->status = TKV_EINVAL;
                break;
        }
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
        struct fsm *f = rf->data;
        struct fsm_result res = {0};
        struct command c;

        *result = NULL;
        res.index = f->hooks.index(f->hooks.data);
        res.status = command_decode(buf->base, buf->len, &c);
        if (res.status == 0) {
                fsm_apply_command(f, &c, &res);
        } else {
                /* Every replica fails the same bytes the same way. */
                LOGE((int)f->partition, "fsm: entry %llu undecodable (%s), skipped",
                     (unsigned long long)res.index, err_str(res.status));
                c.proposal_id = 0;
        }
        if (res.status == TKV_ENOMEM) {
                /* Not deterministic: refuse, raft retries this entry later. */
                return RAFT_NOMEM;
        }
        f->applied_index = res.index;
        f->hooks.applied(f->hooks.data, c.proposal_id, &res);
        return 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;
        int rv;

        if (f->frozen.entries != NULL) {
                return RAFT_BUSY;
        }
        *bufs = tkv_calloc(1, sizeof **bufs);
        if (*bufs == NULL) {
                return RAFT_NOMEM;
        }
        rv = store_freeze(f->store, &f->frozen);
        if (rv != 0) {
                tkv_free(*bufs);
                *bufs = NULL;
                return RAFT_NOMEM;
        }
        f->frozen_meta.partition = f->partition;
        f->frozen_meta.applied_index = f->applied_index;
        *n_bufs = 1;
        return 0;
}

/* Threadpool thread: reads only the pinned entries' immutable bytes. */
static int fsm_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;
        size_t len = snapshot_encoded_bytes(&f->frozen);
        void *base = tkv_malloc(len);

        (void)n_bufs;
        if (base == NULL) {
                return RAFT_NOMEM;
        }
        snapshot_encode(&f->frozen, &f->frozen_meta, base);
        (*bufs)[0].base = base;
        (*bufs)[0].len = len;
        return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
        struct fsm *f = rf->data;

        if (*bufs != NULL) {
                for (unsigned i = 0; i < *n_bufs; i++) {
                        tkv_free((*bufs)[i].base);
                }
                tkv_free(*bufs);
        }
        *bufs = NULL;
        *n_bufs = 0;
        store_unfreeze(&f->frozen);
        f->snapshots++;
        return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
        struct fsm *f = rf->data;
        struct snapshot_meta meta;
        struct store *fresh = NULL;
        int rv;

        rv = store_create(&fresh);
        if (rv != 0) {
                return RAFT_NOMEM;
        }
        rv = snapshot_decode(buf->base, buf->len, fresh, &meta);
        if (rv == 0 && meta.partition != f->partition) {
                rv = TKV_EINVAL;
        }
        if (rv != 0) {
                err_msgf(f->errmsg, "restore: %s", err_str(rv));
                LOGE((int)f->partition, "fsm: snapshot restore failed: %s", err_str(rv));
                store_destroy(fresh);
                return rv == TKV_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
        }
        store_destroy(f->store);
        f->store = fresh;
        f->applied_index = meta.applied_index;
        f->restores++;
        /* On success the buffer is ours (raft.h, struct raft_fsm). */
        raft_free(buf->base);
        LOGI((int)f->partition, "fsm: restored snapshot: %llu keys, applied index %llu",
             (unsigned long long)store_count(f->store), (unsigned long long)meta.applied_index);
        f->hooks.restored(f->hooks.data, meta.applied_index);
        return 0;
}

int fsm_init(struct fsm *f, uint32_t partition, const struct fsm_hooks *hooks)
{
        int rv;

        memset(f, 0, sizeof *f);
        rv = store_create(&f->store);
        if (rv != 0) {
                return rv;
        }
        f->partition = partition;
        f->hooks = *hooks;
        f->raft_fsm.version = 3;
        f->raft_fsm.data = f;
        f->raft_fsm.apply = fsm_apply;
        f->raft_fsm.snapshot = fsm_snapshot;
        f->raft_fsm.snapshot_async = fsm_snapshot_async;
        f->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
        f->raft_fsm.restore = fsm_restore;
        return 0;
}

void fsm_close(struct fsm *f)
{
        if (f->frozen.entries != NULL) {
                store_unfreeze(&f->frozen);
        }
        store_destroy(f->store);
        f->store = NULL;
}
