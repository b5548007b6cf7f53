/* A group's leadership confirmations (ReadIndex): the cheap fence for
 * linearizable reads (group_read.c has the other, the barrier).
 *
 * When the embedding sends them (params.confirm_cb) and the leader is
 * ready, group_flush starts one for the reads pending (group_confirm_start).
 * Record the last log index C and the term T, ask every other voter for its
 * current term, and count the answers equal to T, this node included. Once
 * they are a majority, the reads are served as soon as this node applied C
 * (so they also see LEADER_ACCEPTED writes answered before they arrived, as
 * a barrier would).
 *
 * Why that is linearizable: a write acknowledged before the reads arrived
 * committed in a term <= T is at or below C (leader completeness; `ready`
 * means an own-term entry committed). One committed in a term T' > T needed
 * the votes of a majority before the reads arrived; a voter whose term is
 * still T when asked, after they arrived, has not voted in T', and neither
 * has this node (leader in T when the confirmation started), so that
 * majority and ours would be disjoint: impossible. It costs one message to
 * each voter and back and writes nothing.
 *
 * Failure modes: an answer with a later term fails the reads (NOT_LEADER).
 * A confirmation that can no longer gather a majority (asks not sent,
 * errors, broken links) or is older than an election timeout hands its
 * reads to a barrier (group_confirm_fall_back). */
#include <string.h>

#include "group_internal.h"
#include "heap.h"
#include "log.h"

/* A leadership confirmation and the reads it fences. */
struct group_confirm {
        struct queue link;  /* in g->confirms */
        struct queue reads; /* struct group_read */
        uint64_t seq;
        uint64_t term;
        uint64_t read_index; /* last log index when it started */
        uint64_t started_ms;
        uint64_t ticket;                  /* group_fresh_ticket_take */
        uint64_t asked[GROUP_VOTERS_MAX]; /* voters not answered yet; 0 once answered */
        unsigned n_asked;
        unsigned outstanding; /* asks that may still bring an ack */
        unsigned acks;        /* answers with the same term, this node included */
        unsigned quorum;
        bool confirmed;
};

/* Unlink c and free it; its reads move to *reads. */
static void group_confirm_retire(struct group *g, struct group_confirm *c, struct queue *reads)
{
        queue_remove(&c->link);
        g->n_confirms--;
        queue_init(reads);
        queue_move(reads, &c->reads);
        tkv_free(c);
}

void group_confirm_fail_all(struct group *g, int status)
{
        while (!queue_empty(&g->confirms)) {
                struct queue reads;
                group_confirm_retire(
                    g, QUEUE_DATA(queue_head(&g->confirms), struct group_confirm, link), &reads);
                g->stats.confirms_failed++;
                group_read_fail(&reads, status);
        }
}

/* c cannot confirm (no majority left to answer, or too old): its reads go
 * to a barrier, or fail if there cannot be one. */
static void group_confirm_fall_back(struct group *g, struct group_confirm *c)
{
        struct queue reads;

        group_confirm_retire(g, c, &reads);
        g->stats.confirms_failed++;
        if (group_read_submit_barrier(g, false, &reads) != 0) {
                group_read_fail(&reads, TKV_ENOTLEADER);
        }
}

/* Serve the reads of the oldest confirmations that are confirmed and whose
 * read index this node applied (in order: a later one never overtakes). */
void group_confirm_serve(struct group *g)
{
        while (!queue_empty(&g->confirms)) {
                struct group_confirm *c =
                    QUEUE_DATA(queue_head(&g->confirms), struct group_confirm, link);
                uint64_t started_ms = c->started_ms;
                uint64_t ticket = c->ticket;
                struct queue reads;

                if (!c->confirmed || raft_last_applied(g->raft) < c->read_index) {
                        return;
                }
                group_confirm_retire(g, c, &reads);
                /* Every write acknowledged before it started is applied. */
                group_freshen(g, started_ms, ticket);
                while (!queue_empty(&reads)) {
                        struct group_read *r =
                            QUEUE_DATA(queue_head(&reads), struct group_read, link);
                        queue_remove(&r->link);
                        g->stats.reads_fenced++;
                        r->cb(r, 0);
                }
        }
}

/* Start a confirmation fencing every pending read. Returns 0, or nonzero
 * when it could not be started (the reads stay pending). */
int group_confirm_start(struct group *g)
{
        const struct raft_configuration *conf = &g->raft->configuration;
        struct group_confirm *c;
        unsigned voters = 0;
        bool self_votes = false;

        for (unsigned i = 0; i < conf->n; i++) {
                if (conf->servers[i].role == RAFT_VOTER) {
                        voters++;
                        self_votes |= conf->servers[i].id == g->raft->id;
                }
        }
        if (voters == 0 || voters - self_votes > GROUP_VOTERS_MAX) {
                return -1;
        }
        c = tkv_malloc(sizeof *c);
        if (c == NULL) {
                return -1;
        }
        memset(c, 0, sizeof *c);
        queue_init(&c->reads);
        c->seq = ++g->confirm_seq;
        c->term = g->raft->current_term;
        /* The last index, not just the commit index: entries appended
         * before the reads (LEADER_ACCEPTED writes among them) are seen,
         * as a barrier appended after them would see them. */
        c->read_index = raft_last_index(g->raft);
        c->started_ms = g->now_ms;
        c->ticket = group_fresh_ticket_take(g);
        c->quorum = voters / 2 + 1;
        c->acks = self_votes ? 1 : 0;
        for (unsigned i = 0; i < conf->n; i++) {
                if (conf->servers[i].role == RAFT_VOTER && conf->servers[i].id != g->raft->id) {
                        c->asked[c->n_asked++] = conf->servers[i].id;
                }
        }
        queue_move(&c->reads, &g->reads_pending);
        queue_push_tail(&g->confirms, &c->link);
        g->n_confirms++;
        g->stats.confirms++;
        if (c->acks >= c->quorum) {
                c->confirmed = true; /* a single voter: nobody else can lead */
        } else {
                /* Answers come later, from the loop (never from inside
                 * the callback). */
                c->outstanding =
                    g->params.confirm_cb(g->params.confirm_data, g, c->seq, c->asked, c->n_asked);
                if (c->acks + c->outstanding < c->quorum) {
                        group_confirm_fall_back(g, c);
                        return 0;
                }
        }
        group_confirm_serve(g);
        return 0;
}

void group_confirm_answer(struct group *g, uint64_t seq, uint64_t voter, bool answered,
                          uint64_t term)
{
        struct group_confirm *c = NULL;
        struct queue *q;
        unsigned i;

        QUEUE_FOREACH(q, &g->confirms)
        {
                struct group_confirm *x = QUEUE_DATA(q, struct group_confirm, link);
                if (x->seq == seq) {
                        c = x;
                        break;
                }
        }
        if (c == NULL || voter == 0) {
                return; /* served, failed or fallen back already */
        }
        for (i = 0; i < c->n_asked && c->asked[i] != voter; i++) {
        }
        if (i == c->n_asked) {
                return; /* not asked, or answered already */
        }
        c->asked[i] = 0;
        c->outstanding--;
        if (answered && term > c->term) {
                /* A voter is in a later term: this leadership is over (raft
                 * will step down when it hears of it). */
                LOGI((int)g->partition, "group: voter %llu is in term %llu, after ours (%llu)",
                     (unsigned long long)voter, (unsigned long long)term,
                     (unsigned long long)c->term);
                group_confirm_fail_all(g, TKV_ENOTLEADER);
                return;
        }
        if (answered && term == c->term && ++c->acks >= c->quorum && !c->confirmed) {
                /* Earlier confirmations too: their reads arrived before
                 * this one started. */
                QUEUE_FOREACH(q, &g->confirms)
                {
                        struct group_confirm *x = QUEUE_DATA(q, struct group_confirm, link);
                        x->confirmed = true;
                        if (x == c) {
                                break;
                        }
                }
        }
        if (!c->confirmed && c->acks + c->outstanding < c->quorum) {
                group_confirm_fall_back(g, c);
        }
        group_confirm_serve(g);
}

/* Confirmations unconfirmed after an election timeout hand their reads to
 * barriers (a voter's link may be down while raft's is not). */
void group_confirm_expire(struct group *g)
{
        uint64_t timeout = g->raft->election_timeout;
        struct queue *q = queue_head(&g->confirms);

        while (q != &g->confirms) {
                struct group_confirm *c = QUEUE_DATA(q, struct group_confirm, link);
                q = q->next;
                if (!c->confirmed && g->now_ms - c->started_ms > timeout) {
                        group_confirm_fall_back(g, c);
                }
        }
}
