/* A group's read fences: linearizable reads and the barriers that fence
 * them.
 *
 * group_read_fence() queues a linearizable read; group_flush fences all
 * reads queued since the last fence at once (up to barriers_inflight_max
 * fences in flight; later reads wait), in one of two ways:
 *
 * - A leadership confirmation (ReadIndex, group_confirm.c, which has the
 *   safety argument), when the embedding sends them (params.confirm_cb)
 *   and the leader is ready: one message to each voter and back, nothing
 *   written. A confirmation that can no longer gather a majority or is
 *   older than an election timeout hands its reads to a barrier.
 * - A raft_barrier (this file): its entry applying proves this node was
 *   leader after the reads arrived and has applied everything committed
 *   before. Used before the leader is ready, without params.confirm_cb,
 *   and as the fallback above.
 *
 * Either way the reads are then served from the store.
 *
 * The election barrier (group.c, RAFT-NOTES B3) is a barrier of this kind
 * that fences the new term: the group becomes `ready` when it applies. */
#include "group_internal.h"
#include "heap.h"
#include "log.h"

/* A raft_barrier and the reads it fences. */
struct group_barrier {
        struct raft_barrier req; /* req.data = this */
        struct group *g;
        struct queue reads; /* struct group_read */
        struct queue link;  /* in g->barriers */
        uint64_t proposed_ms;
        uint64_t ticket; /* group_fresh_ticket_take */
        bool election;
};

int group_read_fence(struct group *g, struct group_read *r, group_read_cb cb)
{
        if (g->stopping) {
                return TKV_ESHUTDOWN;
        }
        if (!group_is_leader(g)) {
                return TKV_ENOTLEADER;
        }
        r->cb = cb;
        queue_push_tail(&g->reads_pending, &r->link);
        return 0;
}

void group_read_abandon(struct group_read *r)
{
        queue_remove(&r->link);
}

void group_read_fail(struct queue *reads, int status)
{
        while (!queue_empty(reads)) {
                struct group_read *r = QUEUE_DATA(queue_head(reads), struct group_read, link);
                queue_remove(&r->link);
                r->cb(r, status);
        }
}

static void group_read_barrier_cb(struct raft_barrier *req, int status)
{
        struct group_barrier *b = req->data;
        struct group *g = b->g;

        queue_remove(&b->link);
        g->n_barriers--;
        if (status == 0) {
                group_freshen(g, b->proposed_ms, b->ticket);
        }
        if (status == 0 && b->election && g->term == g->raft->current_term) {
                g->ready = true;
                LOGI((int)g->partition, "group: leader ready (election barrier applied), term %llu",
                     (unsigned long long)g->term);
        }
        if (status == 0 && g->ready) {
                while (!queue_empty(&b->reads)) {
                        struct group_read *r =
                            QUEUE_DATA(queue_head(&b->reads), struct group_read, link);
                        queue_remove(&r->link);
                        g->stats.reads_fenced++;
                        r->cb(r, 0);
                }
        } else {
                group_read_fail(&b->reads, g->stopping ? TKV_ESHUTDOWN : TKV_ENOTLEADER);
        }
        tkv_free(b);
}

/* Submit a barrier fencing the reads in *reads (moved to it), and, if
 * election, the new term. Returns 0 or the raft error. */
int group_read_submit_barrier(struct group *g, bool election, struct queue *reads)
{
        struct group_barrier *b = tkv_malloc(sizeof *b);
        int rv;

        if (b == NULL) {
                return RAFT_NOMEM;
        }
        b->g = g;
        b->election = election;
        b->proposed_ms = g->now_ms;
        b->ticket = group_fresh_ticket_take(g);
        b->req.data = b;
        queue_init(&b->reads);
        rv = raft_barrier(g->raft, &b->req, group_read_barrier_cb);
        if (rv != 0) {
                tkv_free(b);
                return rv;
        }
        queue_move(&b->reads, reads);
        queue_push_tail(&g->barriers, &b->link);
        g->n_barriers++;
        g->stats.barriers++;
        return 0;
}
