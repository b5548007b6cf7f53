/* A group's write path, after group_propose (group.c) queued a write.
 *
 * group_flush, once per loop iteration, hands up to apply_batch_max queued
 * writes to one raft_apply (group_write_submit_batch: one entry per write,
 * so each write gets its own index = its version). The proposed writes
 * wait in writes_waiting, ordered by index. raft calls the fsm for each
 * committed entry; the fsm's `applied` hook (group_write_applied) completes
 * the waiting write whose index and proposal id match.
 *
 *   propose -> writes_pending -> flush: raft_apply -> writes_waiting
 *           -> fsm apply of its index, same proposal id -> cb(0, result)
 *
 * Failure modes:
 * - not leader at propose time or raft_apply refuses: cb is not called /
 *   cb(TKV_ENOTLEADER): the write certainly did not happen;
 * - leadership lost with writes waiting (raft fails our apply requests, or
 *   group_observe sees the term or role change): every waiting write gets
 *   TKV_EUNKNOWN: its entry may still commit under the next leader, so only
 *   an idempotent retry can tell;
 * - another leader's entry was applied at a waiting write's index (our entry
 *   was truncated): TKV_ENOTLEADER, it certainly did not happen;
 * - the caller's deadline expires: it abandons the write.
 * A waiting write therefore always belongs to the current term, so it is
 * never acknowledged on the strength of an old-term entry committed by
 * counting (RAFT-NOTES B3). */
#include "buffer.h"
#include "group_internal.h"
#include "heap.h"
#include "log.h"

/* A raft_apply of up to apply_batch_max entries. */
struct group_proposal {
        struct raft_apply req; /* req.data = this */
        struct group *g;
        uint64_t first_index;
        uint64_t proposed_ms; /* loop time of raft_apply */
        uint64_t ticket;      /* group_fresh_ticket_take */
        unsigned n;
};

bool group_write_abandon(struct group_write *w)
{
        bool proposed = w->index != 0;
        if (!queue_empty(&w->link)) {
                queue_remove(&w->link);
                if (!proposed) {
                        w->g->n_writes_pending--;
                        raft_free(w->buf);
                        w->buf = NULL;
                }
        }
        return proposed;
}

static void group_write_proposal_cb(struct raft_apply *req, int status, void *result)
{
        struct group_proposal *p = req->data;
        struct group *g = p->g;

        (void)result;
        if (status == 0) {
                group_freshen(g, p->proposed_ms, p->ticket);
        }
        if (status != 0) {
                /* LEADERSHIPLOST (or a failed disk write, RAFT-NOTES W2): all
                 * waiting writes share the fate of the term. */
                if (status != RAFT_LEADERSHIPLOST && status != RAFT_SHUTDOWN) {
                        /* raft's own message names the errno text (a
                         * code alone read "unknown error" on ENOSPC). */
                        LOGE((int)g->partition, "group: append failed: %s (%s)",
                             raft_strerror(status), raft_errmsg(g->raft));
                }
                group_write_fail_waiting(g, TKV_EUNKNOWN);
        }
        tkv_free(p);
}

/* What a write refused by raft_apply is answered: it certainly did not
 * happen. */
static int group_write_apply_error(int raft_rv)
{
        switch (raft_rv) {
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
                return TKV_ENOTLEADER;
        case RAFT_NOMEM:
                return TKV_ENOMEM;
        case RAFT_SHUTDOWN:
                return TKV_ESHUTDOWN;
        default:
                return TKV_EIO;
        }
}

/* Give the encoded command in buf its timestamp, in place (command.h):
 * above everything the node's clock issued or observed (the writer's token
 * included: rpc_kv.c shows it to the clock first), and above the last
 * command handed to raft, in log order. */
static uint64_t group_write_stamp(struct group *g, uint8_t *buf)
{
        uint64_t ts = g->params.hlc != NULL ? hlc_next(g->params.hlc) : 0;

        if (ts <= g->ts_assigned) {
                ts = g->ts_assigned + 1;
        }
        g->ts_assigned = ts;
        if (buf[0] >= 3) {
                put_le64(buf + COMMAND_TS_OFFSET, ts);
        }
        return ts;
}

/* Submit up to apply_batch_max pending writes in one raft_apply. */
void group_write_submit_batch(struct group *g)
{
        struct group_proposal *p = tkv_malloc(sizeof *p);
        struct queue batch;
        unsigned n = 0;
        int rv;

        if (p == NULL) {
                return; /* try again next iteration */
        }
        queue_init(&batch);
        while (!queue_empty(&g->writes_pending) && n < g->params.apply_batch_max) {
                struct queue *q = queue_head(&g->writes_pending);
                struct group_write *w = QUEUE_DATA(q, struct group_write, link);
                queue_remove(q);
                queue_push_tail(&batch, q);
                g->apply_bufs[n].base = w->buf;
                g->apply_bufs[n].len = w->buf_len;
                w->ts = group_write_stamp(g, w->buf);
                n++;
        }
        g->n_writes_pending -= n;
        p->g = g;
        p->n = n;
        p->req.data = p;
        rv = raft_apply(g->raft, &p->req, g->apply_bufs, n, group_write_proposal_cb);
        if (rv != 0) {
                /* The buffers stay ours on error (RAFT-NOTES W7). */
                tkv_free(p);
                while (!queue_empty(&batch)) {
                        struct group_write *w =
                            QUEUE_DATA(queue_head(&batch), struct group_write, link);
                        queue_remove(&w->link);
                        raft_free(w->buf);
                        w->buf = NULL;
                        w->cb(w, group_write_apply_error(rv), NULL);
                }
                return;
        }
        p->first_index = p->req.index;
        p->proposed_ms = g->now_ms;
        p->ticket = group_fresh_ticket_take(g);
        g->stats.proposals++;
        g->stats.writes_proposed += n;
        for (unsigned i = 0; !queue_empty(&batch); i++) {
                struct group_write *w = QUEUE_DATA(queue_head(&batch), struct group_write, link);
                queue_remove(&w->link);
                w->index = p->first_index + i;
                w->buf = NULL; /* raft's now */
                if (w->accept_only) {
                        /* LEADER_ACCEPTED: the answer needs no commit. */
                        struct command_result res = {
                            .index = w->index, .ts = w->ts, .accepted_only = true};
                        w->cb(w, 0, &res);
                        continue;
                }
                queue_push_tail(&g->writes_waiting, &w->link);
        }
}

/* A CLOSE command in flight: nothing waits for it but the reads that
 * wait for the partition's closed timestamp (read.h), which its apply
 * serves. */
struct group_close {
        struct raft_apply req; /* req.data = this */
        struct group *g;
        uint64_t proposed_ms;
        uint64_t ticket; /* group_fresh_ticket_take */
};

static void group_write_close_cb(struct raft_apply *req, int status, void *result)
{
        struct group_close *p = req->data;

        (void)result;
        if (status == 0) {
                group_freshen(p->g, p->proposed_ms, p->ticket);
        }
        tkv_free(p);
}

void group_write_close(struct group *g)
{
        struct command cmd = {.type = COMMAND_CLOSE};
        struct raft_buffer buf;
        struct group_close *p;

        if (g->close_wanted <= g->ts_assigned || !g->ready) {
                return; /* a command above it is on its way (or none wanted) */
        }
        cmd.proposal_id = g->params.proposer_seed + ++g->proposal_seq;
        buf.len = command_encoded_bytes(&cmd);
        buf.base = raft_malloc(buf.len);
        p = tkv_malloc(sizeof *p);
        if (buf.base == NULL || p == NULL) {
                raft_free(buf.base);
                tkv_free(p);
                return; /* next iteration */
        }
        command_encode(&cmd, buf.base);
        (void)group_write_stamp(g, buf.base);
        p->g = g;
        p->proposed_ms = g->now_ms;
        p->ticket = group_fresh_ticket_take(g);
        p->req.data = p;
        if (raft_apply(g->raft, &p->req, &buf, 1, group_write_close_cb) != 0) {
                raft_free(buf.base); /* ours on error (RAFT-NOTES W7) */
                tkv_free(p);
                return;
        }
        g->stats.closes++;
}

void group_write_fail_waiting(struct group *g, int status)
{
        while (!queue_empty(&g->writes_waiting)) {
                struct group_write *w =
                    QUEUE_DATA(queue_head(&g->writes_waiting), struct group_write, link);
                queue_remove(&w->link);
                if (status == TKV_EUNKNOWN) {
                        g->stats.writes_unknown++;
                }
                w->cb(w, status, NULL);
        }
}

/* The fsm's `applied` hook (group_prepare wires it in): a command applied
 * at index completes the waiting writes up to it. */
void group_write_applied(void *data, uint64_t index, uint64_t proposal_id, unsigned flags,
                         const struct command_result *res)
{
        struct group *g = data;

        if (g->params.hlc != NULL && res->ts != 0) {
                /* A later leader here stamps above what it applied. */
                (void)hlc_observe(g->params.hlc, res->ts);
        }
        if (g->params.applied_cb != NULL) {
                g->params.applied_cb(g->params.applied_data, g, index, flags, res);
        }
        while (!queue_empty(&g->writes_waiting)) {
                struct group_write *w =
                    QUEUE_DATA(queue_head(&g->writes_waiting), struct group_write, link);
                if (w->index > index) {
                        break;
                }
                queue_remove(&w->link);
                if (w->index == index && w->proposal_id == proposal_id) {
                        g->stats.writes_applied++;
                        w->cb(w, 0, res);
                } else {
                        /* Our entry at that index was replaced. */
                        w->cb(w, TKV_ENOTLEADER, NULL);
                }
        }
}
