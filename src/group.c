/* One partition's Raft group.
 *
 * Writes. group_propose() queues a write; group_flush(), once per loop
 * iteration, hands up to apply_batch_max queued writes to one raft_apply
 * (one entry per write, so each write gets its own index = its version).
 * The proposed writes wait in writes_waiting, ordered by index. raft calls
 * the fsm for each committed entry; the fsm's `applied` hook (group_applied)
 * completes the waiting write whose index and proposal id match.
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
 * counting (RAFT-NOTES B3).
 *
 * Reads. group_read_fence() queues a linearizable read; flush fences all
 * reads queued since the last fence at once (up to barriers_inflight_max
 * fences in flight; later reads wait), in one of two ways:
 *
 * - A leadership confirmation (ReadIndex), when the embedding sends them
 *   (params.confirm_cb) and the leader is ready. Record the last log
 *   index C and the term T, ask every other voter for its current term,
 *   and count the answers equal to T, this node included. Once they are a
 *   majority, the reads are served as soon as this node applied C (so
 *   they also see LEADER_ACCEPTED writes answered before they arrived, as
 *   a barrier would). Why that is linearizable: a write acknowledged
 *   before the reads arrived committed in a term <= T is at or below C
 *   (leader completeness; `ready` means an own-term entry committed). One committed in a term T' >
 * T needed the votes of a majority before the reads arrived; a voter whose term is still T when
 * asked, after they arrived, has not voted in T', and neither has this node (leader in T when the
 * confirmation started), so that majority and ours would be disjoint: impossible. It costs one
 * message to each voter and back and writes nothing. An answer with a later term fails the reads
 *   (NOT_LEADER). A confirmation that can no longer gather a majority (asks
 *   not sent, errors, broken links) or is older than an election timeout
 *   hands its reads to a barrier.
 * - A raft_barrier: its entry applying proves this node was leader after
 *   the reads arrived and has applied everything committed before. Used
 *   before the leader is ready, without params.confirm_cb, and as the
 *   fallback above.
 *
 * Either way the reads are then served from the store.
 *
 * Election barrier (RAFT-NOTES B3). On every new leadership, flush first
 * submits a barrier of its own; the group is `ready` only once it applied.
 * Read barriers are appended after it and apply after it, and so do new
 * writes, so a new leader serves nothing before its election barrier. */
#include "group.h"

#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsm.h"
#include "group_test.h"
#include "heap.h"
#include "log.h"
#include "transport_raft.h"

/* Opaque outside this file (group.h): nobody else sees raft's types. */
struct group {
        uint32_t partition;
        struct group_params params;
        struct raft raft_storage; /* used unless a test attaches its own raft */
        struct raft *raft;        /* &raft_storage, or a raft_fixture server; NULL once closed */
        struct raft raft_closed; /* stand-in for a late second close callback (group_raft_closed) */
        struct raft_io io;       /* raft_uv (owned when io_open) */
        bool io_open;
        bool raft_open; /* raft_init succeeded: raft_close needed */
        bool prepared;  /* fsm and apply_bufs held: group_close needed */
        struct transport transport;
        struct fsm fsm;
        char dir[1024];

        /* What group_observe() last saw. */
        int role;          /* RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER, ... */
        uint64_t term;     /* current term */
        bool ready;        /* leader whose election barrier of this term applied */
        uint64_t fresh_ms; /* leader: proposal time of its newest own-term entry applied */
        uint64_t now_ms;   /* loop time at the last group_flush */
        bool election_barrier_needed;

        struct queue writes_pending; /* not yet proposed (this iteration) */
        unsigned n_writes_pending;
        struct queue writes_waiting; /* proposed, waiting for apply; by index */
        struct queue reads_pending;  /* waiting for the next barrier */
        struct queue barriers;       /* struct group_barrier in flight */
        unsigned n_barriers;
        struct queue confirms; /* struct group_confirm in flight, oldest first */
        unsigned n_confirms;
        uint64_t confirm_seq; /* of the last confirmation started */
        uint64_t proposal_seq;

        struct raft_transfer transfer_req; /* see group_balance */
        bool transferring;                 /* a raft_transfer is in flight */
        uint64_t transfer_after_ms;        /* no new transfer before this loop time */
        bool stopping;
        uint64_t stop_start_ms;
        group_stop_cb stop_cb;
        struct raft_buffer *apply_bufs; /* apply_batch_max scratch slots */
        struct group_stats stats;
        char errmsg[ERR_MSG_BYTES];
};

/* A raft_apply of up to apply_batch_max entries. */
struct group_proposal {
        struct raft_apply req; /* req.data = this */
        struct group *g;
        uint64_t first_index;
        uint64_t proposed_ms; /* loop time of raft_apply */
        unsigned n;
};

/* A raft_barrier and the reads it fences. */
struct group_barrier {
        struct raft_barrier req; /* req.data = this */
        struct group *g;
        struct queue reads; /* struct group_read */
        struct queue link;  /* in g->barriers */
        uint64_t proposed_ms;
        bool election;
};

/* A leadership confirmation and the reads it fences. */
struct group_confirm {
        struct queue link;  /* in g->confirms */
        struct queue reads; /* struct group_read */
        uint64_t seq;
        uint64_t term;
        uint64_t read_index; /* last log index when it started */
        uint64_t started_ms;
        uint64_t asked[GROUP_VOTERS_MAX]; /* voters not answered yet; 0 once answered */
        unsigned n_asked;
        unsigned outstanding; /* asks that may still bring an ack */
        unsigned acks;        /* answers with the same term, this node included */
        unsigned quorum;
        bool confirmed;
};

/* raft's error codes in tunekv's error space: group.c is the only caller
 * of raft, so the translation lives here rather than in err.c. */
static int group_err_from_raft(int raft_err)
{
        switch (raft_err) {
        case 0:
                return 0;
        case RAFT_NOMEM:
                return TKV_ENOMEM;
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
                return TKV_ENOTLEADER;
        case RAFT_SHUTDOWN:
                return TKV_ESHUTDOWN;
        case RAFT_CANCELED:
                return TKV_ECANCELED;
        case RAFT_CORRUPT:
        case RAFT_MALFORMED:
                return TKV_ECORRUPT;
        case RAFT_TOOBIG:
                return TKV_ETOOBIG;
        case RAFT_BUSY:
        case RAFT_TOOMANY:
        case RAFT_CANTCHANGE:
                return TKV_EBUSY;
        case RAFT_NOSPACE:
                return TKV_ENOSPACE;
        case RAFT_NOCONNECTION:
                return TKV_ECONN;
        case RAFT_NOTFOUND:
                return TKV_ENOTFOUND;
        case RAFT_INVALID:
        case RAFT_BADID:
        case RAFT_BADROLE:
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
        case RAFT_NAMETOOLONG:
                return TKV_EINVAL;
        case RAFT_CANTBOOTSTRAP:
                return TKV_EEXIST;
        default:
                return TKV_EIO;
        }
}

/* An own-term entry proposed at proposed_ms applied: the leader was leader
 * then, with a majority; its state is current as of that time (read.c). */
static void group_freshen(struct group *g, uint64_t proposed_ms)
{
        if (proposed_ms > g->fresh_ms) {
                g->fresh_ms = proposed_ms;
        }
}

static void group_fail_waiting(struct group *g, int status);
static void group_fail_reads(struct queue *reads, int status);
static void group_fail_confirms(struct group *g, int status);

/* ------------------------------------------------------------------------ */
/* fsm hooks */

static uint64_t group_hook_index(void *data)
{
        struct group *g = data;
        /* raft bumps last_applied after the fsm returns (RAFT-NOTES W1). */
        return raft_last_applied(g->raft) + 1;
}

static void group_hook_applied(void *data, uint64_t index, uint64_t proposal_id, unsigned flags,
                               const struct command_result *res)
{
        struct group *g = data;

        if (g->params.applied_cb != NULL) {
                g->params.applied_cb(g->params.applied_data, g, index, flags);
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

static void group_hook_restored(void *data, uint64_t applied_index)
{
        struct group *g = data;
        (void)applied_index;
        /* A snapshot replaced the state: nothing can be matched any more. */
        group_fail_waiting(g, TKV_EUNKNOWN);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

static int group_prepare(struct group *g, const struct group_params *p)
{
        struct fsm_hooks hooks = {g, group_hook_index, group_hook_applied, group_hook_restored};
        struct fsm_params fp = {p->partition, p->session_window, p->sessions_max};
        int rv;

        memset(g, 0, sizeof *g);
        g->partition = p->partition;
        g->params = *p;
        g->role = RAFT_UNAVAILABLE;
        queue_init(&g->writes_pending);
        queue_init(&g->writes_waiting);
        queue_init(&g->reads_pending);
        queue_init(&g->barriers);
        queue_init(&g->confirms);
        g->apply_bufs = tkv_calloc(p->apply_batch_max, sizeof *g->apply_bufs);
        if (g->apply_bufs == NULL) {
                return TKV_ENOMEM;
        }
        rv = fsm_init(&g->fsm, &fp, &hooks);
        if (rv != 0) {
                tkv_free(g->apply_bufs);
                g->apply_bufs = NULL;
                return rv;
        }
        g->prepared = true;
        return 0;
}

int group_create(const struct group_params *p, struct group **out)
{
        struct group *g = tkv_malloc(sizeof *g);
        int rv;

        *out = NULL;
        if (g == NULL) {
                return TKV_ENOMEM;
        }
        rv = group_prepare(g, p);
        if (rv != 0) {
                tkv_free(g);
                return rv;
        }
        *out = g;
        return 0;
}

void group_attach(struct group *g, struct raft *r)
{
        g->raft = r;
        r->data = g;
}

/* Release what group_prepare took; once (a stop closes it, and so does a
 * destroy of a group never stopped). */
static void group_close(struct group *g)
{
        if (!g->prepared) {
                return;
        }
        g->prepared = false;
        fsm_close(&g->fsm);
        tkv_free(g->apply_bufs);
        g->apply_bufs = NULL;
}

static int group_mkdir(struct group *g, const char *dir)
{
        if (strlen(dir) >= sizeof g->dir) {
                err_msgf(g->errmsg, "data dir %s: path too long", dir);
                return TKV_EINVAL;
        }
        strcpy(g->dir, dir);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                err_msgf(g->errmsg, "data dir %s: %s", dir, strerror(errno));
                return TKV_EIO;
        }
        return 0;
}

static void group_configure_raft(struct group *g)
{
        struct raft *r = g->raft;
        raft_set_election_timeout(r, g->params.election_timeout_ms);
        raft_set_heartbeat_timeout(r, g->params.heartbeat_timeout_ms);
        raft_set_snapshot_threshold(r, g->params.snapshot_threshold);
        raft_set_snapshot_trailing(r, g->params.snapshot_trailing);
        raft_set_pre_vote(r, true); /* RAFT-NOTES W8 */
}

/* Bootstrap the voters if g's directory holds no Raft state yet; a no-op
 * (CANTBOOTSTRAP) on every later start. The raft configuration is built
 * here, so that no caller needs raft's types. */
static int group_bootstrap(struct group *g, const struct group_voter *voters, unsigned n)
{
        struct raft_configuration conf;
        int rv = 0;

        raft_configuration_init(&conf);
        for (unsigned i = 0; i < n && rv == 0; i++) {
                rv = raft_configuration_add(&conf, voters[i].id, voters[i].address, RAFT_VOTER);
                if (rv != 0) {
                        err_msgf(g->errmsg, "raft configuration: %s", raft_strerror(rv));
                }
        }
        if (rv == 0) {
                rv = raft_bootstrap(g->raft, &conf);
                if (rv == RAFT_CANTBOOTSTRAP) {
                        rv = 0;
                } else if (rv != 0) {
                        err_msgf(g->errmsg, "raft_bootstrap: %s", raft_errmsg(g->raft));
                }
        }
        raft_configuration_close(&conf);
        return group_err_from_raft(rv);
}

int group_open(struct group *g, uv_loop_t *loop, struct transport_mux *mux, const char *dir,
               uint64_t raft_id, const char *address, const struct group_voter *voters, unsigned n)
{
        int rv;

        rv = group_mkdir(g, dir);
        if (rv != 0) {
                return rv;
        }
        transport_init(&g->transport, mux, g->partition);
        rv = raft_uv_init(&g->io, loop, dir, &g->transport.base);
        if (rv != 0) {
                err_msgf(g->errmsg, "raft_uv_init %s: %s", dir, g->io.errmsg);
                return group_err_from_raft(rv);
        }
        g->io_open = true;
        /* raft_uv implements async_work but reports version 1; the v3 fsm
         * (snapshots off the loop) needs 2 (RAFT-NOTES §2). */
        g->io.version = 2;
        raft_uv_set_segment_size(&g->io, (size_t)g->params.segment_bytes);
        raft_uv_set_connect_retry_delay(&g->io, g->params.connect_retry_ms);
        rv = raft_uv_set_snapshot_compression(&g->io, g->params.snapshot_compression);
        if (rv != 0) {
                err_msgf(g->errmsg, "raft_uv_set_snapshot_compression: %s", g->io.errmsg);
                return group_err_from_raft(rv);
        }
        g->raft = &g->raft_storage;
        rv = raft_init(g->raft, &g->io, &g->fsm.raft_fsm, raft_id, address);
        if (rv != 0) {
                err_msgf(g->errmsg, "raft_init: %s", raft_errmsg(g->raft));
                return group_err_from_raft(rv);
        }
        g->raft_open = true;
        g->raft->data = g;
        group_configure_raft(g);
        rv = group_bootstrap(g, voters, n);
        if (rv != 0) {
                return rv;
        }
        rv = raft_start(g->raft);
        if (rv != 0) {
                err_msgf(g->errmsg, "raft_start: %s", raft_errmsg(g->raft));
                return group_err_from_raft(rv);
        }
        return 0;
}

/* raft 0.15's raft_uv can fire its close callback twice: its "all closed"
 * check does not wait for a segment writer whose close completes after the
 * transport's, and that writer's close callback runs the check again. So the
 * raft_uv memory must outlive the loop (group_destroy frees it after
 * uv_run returns), and a second ioCloseCb must find a raft with nothing left
 * to free: io.data is pointed at a zeroed stand-in. */
static void group_raft_closed(struct raft *r)
{
        struct group *g = r->data;
        group_stop_cb cb = g->stop_cb;

        memset(&g->raft_closed, 0, sizeof g->raft_closed);
        g->io.data = &g->raft_closed;
        g->raft = NULL;
        group_close(g);
        LOGI((int)g->partition, "group: closed");
        if (cb != NULL) {
                cb(g);
        }
}

void group_destroy(struct group *g)
{
        if (g == NULL) {
                return;
        }
        if (g->io_open) {
                raft_uv_close(&g->io);
                g->io_open = false;
        }
        group_close(g);
        tkv_free(g);
}

const char *group_errmsg(const struct group *g)
{
        return g->errmsg;
}

void group_stop(struct group *g, group_stop_cb cb)
{
        g->stopping = true;
        g->stop_cb = cb;
        g->stop_start_ms = 0;
        /* Writes not yet handed to raft certainly did not happen. */
        while (!queue_empty(&g->writes_pending)) {
                struct group_write *w =
                    QUEUE_DATA(queue_head(&g->writes_pending), struct group_write, link);
                queue_remove(&w->link);
                g->n_writes_pending--;
                raft_free(w->buf);
                w->buf = NULL;
                w->cb(w, TKV_ESHUTDOWN, NULL);
        }
        group_fail_reads(&g->reads_pending, TKV_ESHUTDOWN);
        group_fail_confirms(g, TKV_ESHUTDOWN);
        if (!g->raft_open) {
                /* Never started: nothing to drain. */
                group_close(g);
                if (cb != NULL) {
                        cb(g);
                }
        }
        /* The rest happens in group_flush: drain, then raft_close. */
}

/* B2: raft_close on a leader with appends in flight double-frees; wait for
 * every entry to reach disk first. If the disk never catches up, give up
 * and exit: a supervisor restarts us and raft recovers from the log. */
static void group_stop_progress(struct group *g, uint64_t now_ms)
{
        if (g->stop_start_ms == 0) {
                g->stop_start_ms = now_ms;
        }
        if (g->raft->last_stored < raft_last_index(g->raft)) {
                if (now_ms - g->stop_start_ms > g->params.drain_timeout_ms) {
                        LOGE((int)g->partition, "group: log drain stuck at %llu of %llu, exiting",
                             (unsigned long long)g->raft->last_stored,
                             (unsigned long long)raft_last_index(g->raft));
                        _exit(70);
                }
                return;
        }
        g->raft_open = false;
        raft_close(g->raft, group_raft_closed);
}

/* ------------------------------------------------------------------------ */
/* Writes */

int group_propose(struct group *g, struct group_write *w, struct command *cmd, group_write_cb cb)
{
        size_t len;

        if (g->stopping) {
                return TKV_ESHUTDOWN;
        }
        if (!group_is_leader(g)) {
                return TKV_ENOTLEADER;
        }
        cmd->proposal_id = g->params.proposer_seed + ++g->proposal_seq;
        len = command_encoded_bytes(cmd);
        w->buf = raft_malloc(len);
        if (w->buf == NULL) {
                return TKV_ENOMEM;
        }
        w->buf_len = len;
        command_encode(cmd, w->buf);
        w->proposal_id = cmd->proposal_id;
        w->index = 0;
        w->cb = cb;
        w->g = g;
        queue_push_tail(&g->writes_pending, &w->link);
        g->n_writes_pending++;
        return 0;
}

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

static void group_proposal_cb(struct raft_apply *req, int status, void *result)
{
        struct group_proposal *p = req->data;
        struct group *g = p->g;

        (void)result;
        if (status == 0) {
                group_freshen(g, p->proposed_ms);
        }
        if (status != 0) {
                /* LEADERSHIPLOST (or a failed disk write, RAFT-NOTES W2): all
                 * waiting writes share the fate of the term. */
                if (status != RAFT_LEADERSHIPLOST && status != RAFT_SHUTDOWN) {
                        LOGE((int)g->partition, "group: append failed: %s", raft_strerror(status));
                }
                group_fail_waiting(g, TKV_EUNKNOWN);
        }
        tkv_free(p);
}

/* What a write refused by raft_apply is answered: it certainly did not
 * happen. */
static int group_apply_error(int raft_rv)
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

/* Submit up to apply_batch_max pending writes in one raft_apply. */
static void group_submit_batch(struct group *g)
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
                n++;
        }
        g->n_writes_pending -= n;
        p->g = g;
        p->n = n;
        p->req.data = p;
        rv = raft_apply(g->raft, &p->req, g->apply_bufs, n, group_proposal_cb);
        if (rv != 0) {
                /* The buffers stay ours on error (RAFT-NOTES W7). */
                tkv_free(p);
                while (!queue_empty(&batch)) {
                        struct group_write *w =
                            QUEUE_DATA(queue_head(&batch), struct group_write, link);
                        queue_remove(&w->link);
                        raft_free(w->buf);
                        w->buf = NULL;
                        w->cb(w, group_apply_error(rv), NULL);
                }
                return;
        }
        p->first_index = p->req.index;
        p->proposed_ms = g->now_ms;
        g->stats.proposals++;
        g->stats.writes_proposed += n;
        for (unsigned i = 0; !queue_empty(&batch); i++) {
                struct group_write *w = QUEUE_DATA(queue_head(&batch), struct group_write, link);
                queue_remove(&w->link);
                w->index = p->first_index + i;
                w->buf = NULL; /* raft's now */
                if (w->accept_only) {
                        /* LEADER_ACCEPTED: the answer needs no commit. */
                        struct command_result res = {0, w->index, 0, true};
                        w->cb(w, 0, &res);
                        continue;
                }
                queue_push_tail(&g->writes_waiting, &w->link);
        }
}

static void group_fail_waiting(struct group *g, int status)
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

/* ------------------------------------------------------------------------ */
/* Reads */

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

static void group_fail_reads(struct queue *reads, int status)
{
        while (!queue_empty(reads)) {
                struct group_read *r = QUEUE_DATA(queue_head(reads), struct group_read, link);
                queue_remove(&r->link);
                r->cb(r, status);
        }
}

static void group_barrier_cb(struct raft_barrier *req, int status)
{
        struct group_barrier *b = req->data;
        struct group *g = b->g;

        queue_remove(&b->link);
        g->n_barriers--;
        if (status == 0) {
                group_freshen(g, b->proposed_ms);
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
                group_fail_reads(&b->reads, g->stopping ? TKV_ESHUTDOWN : TKV_ENOTLEADER);
        }
        tkv_free(b);
}

/* Submit a barrier fencing the reads in *reads (moved to it), and, if
 * election, the new term. Returns 0 or the raft error. */
static int group_submit_barrier(struct group *g, bool election, struct queue *reads)
{
        struct group_barrier *b = tkv_malloc(sizeof *b);
        int rv;

        if (b == NULL) {
                return RAFT_NOMEM;
        }
        b->g = g;
        b->election = election;
        b->proposed_ms = g->now_ms;
        b->req.data = b;
        queue_init(&b->reads);
        rv = raft_barrier(g->raft, &b->req, group_barrier_cb);
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

/* ------------------------------------------------------------------------ */
/* Leadership confirmations (ReadIndex: the comment at the top says why) */

/* Unlink c and free it; its reads move to *reads. */
static void group_confirm_retire(struct group *g, struct group_confirm *c, struct queue *reads)
{
        queue_remove(&c->link);
        g->n_confirms--;
        queue_init(reads);
        queue_move(reads, &c->reads);
        tkv_free(c);
}

static void group_fail_confirms(struct group *g, int status)
{
        while (!queue_empty(&g->confirms)) {
                struct queue reads;
                group_confirm_retire(
                    g, QUEUE_DATA(queue_head(&g->confirms), struct group_confirm, link), &reads);
                g->stats.confirms_failed++;
                group_fail_reads(&reads, status);
        }
}

/* c cannot confirm (no majority left to answer, or too old): its reads go
 * to a barrier, or fail if there cannot be one. */
static void group_confirm_fall_back(struct group *g, struct group_confirm *c)
{
        struct queue reads;

        group_confirm_retire(g, c, &reads);
        g->stats.confirms_failed++;
        if (group_submit_barrier(g, false, &reads) != 0) {
                group_fail_reads(&reads, TKV_ENOTLEADER);
        }
}

/* Serve the reads of the oldest confirmations that are confirmed and whose
 * read index this node applied (in order: a later one never overtakes). */
static void group_confirm_serve(struct group *g)
{
        while (!queue_empty(&g->confirms)) {
                struct group_confirm *c =
                    QUEUE_DATA(queue_head(&g->confirms), struct group_confirm, link);
                uint64_t started_ms = c->started_ms;
                struct queue reads;

                if (!c->confirmed || raft_last_applied(g->raft) < c->read_index) {
                        return;
                }
                group_confirm_retire(g, c, &reads);
                /* Every write acknowledged before it started is applied. */
                group_freshen(g, started_ms);
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
static int group_confirm_start(struct group *g)
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
                group_fail_confirms(g, TKV_ENOTLEADER);
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
static void group_confirm_expire(struct group *g)
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

/* ------------------------------------------------------------------------ */
/* Per-iteration work */

/* Compare raft's role and term with what we saw last. */
static void group_observe(struct group *g)
{
        int role = raft_state(g->raft);
        uint64_t term = g->raft->current_term;
        bool was_leader = g->role == RAFT_LEADER;
        bool is_leader = role == RAFT_LEADER;

        if (was_leader && (!is_leader || term != g->term)) {
                LOGI((int)g->partition, "group: lost leadership (term %llu -> %llu)",
                     (unsigned long long)g->term, (unsigned long long)term);
                g->ready = false;
                group_fail_waiting(g, TKV_EUNKNOWN);
                group_fail_reads(&g->reads_pending, TKV_ENOTLEADER);
                group_fail_confirms(g, TKV_ENOTLEADER);
        }
        if (is_leader && (!was_leader || term != g->term)) {
                LOGI((int)g->partition, "group: became leader, term %llu",
                     (unsigned long long)term);
                g->stats.elections_won++;
                g->ready = false;
                g->fresh_ms = 0;
                g->election_barrier_needed = true;
        }
        g->role = role;
        g->term = term;
}

void group_nudge(struct group *g)
{
        if (g->raft != NULL && !g->stopping && g->ready && group_is_leader(g) &&
            g->n_barriers < g->params.barriers_inflight_max) {
                (void)group_submit_barrier(g, false, &g->reads_pending);
        }
}

void group_flush(struct group *g, uint64_t now_ms)
{
        int rv;

        if (g->raft == NULL) {
                return;
        }
        g->now_ms = now_ms;
        if (g->stopping) {
                if (g->raft_open) {
                        group_stop_progress(g, now_ms);
                }
                return;
        }
        group_observe(g);
        if (g->role != RAFT_LEADER) {
                /* Lost between propose and flush. */
                while (!queue_empty(&g->writes_pending)) {
                        struct group_write *w =
                            QUEUE_DATA(queue_head(&g->writes_pending), struct group_write, link);
                        group_write_abandon(w);
                        w->cb(w, TKV_ENOTLEADER, NULL);
                }
                group_fail_reads(&g->reads_pending, TKV_ENOTLEADER);
                return;
        }
        if (g->election_barrier_needed) {
                rv = group_submit_barrier(g, true, &g->reads_pending);
                if (rv == 0) {
                        g->election_barrier_needed = false;
                }
        }
        while (!queue_empty(&g->writes_pending)) {
                unsigned before = g->n_writes_pending;
                group_submit_batch(g);
                if (g->n_writes_pending == before) {
                        break; /* out of memory: next iteration */
                }
        }
        group_confirm_expire(g);
        group_confirm_serve(g); /* read indexes applied since */
        if (!queue_empty(&g->reads_pending) && !g->election_barrier_needed) {
                bool confirm = g->ready && g->params.confirm_cb != NULL;
                if (confirm && g->n_confirms < g->params.barriers_inflight_max &&
                    group_confirm_start(g) != 0) {
                        confirm = false;
                }
                if (!confirm && g->n_barriers < g->params.barriers_inflight_max) {
                        rv = group_submit_barrier(g, false, &g->reads_pending);
                        if (rv != 0 && rv != RAFT_NOMEM) {
                                group_fail_reads(&g->reads_pending, TKV_ENOTLEADER);
                        }
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Leader balancing */

/* The request lives in the group, never on the heap: raft sends TimeoutNow
 * with &req->send and no callback, so that send may complete after the
 * transfer's callback (or raft_close) has fired. */
static void group_transfer_cb(struct raft_transfer *req)
{
        struct group *g = req->data;

        g->transferring = false;
        if (g->raft != NULL && group_leader_id(g) == req->id) {
                g->stats.transfers++;
                LOGI((int)g->partition, "group: leadership handed to node %llu",
                     (unsigned long long)req->id);
        }
}

/* Has server id caught up with our whole log? */
static bool group_caught_up(const struct group *g, raft_id id)
{
        const struct raft *r = g->raft;
        for (unsigned i = 0; i < r->configuration.n; i++) {
                if (r->configuration.servers[i].id == id) {
                        return r->configuration.servers[i].role == RAFT_VOTER &&
                               r->leader_state.progress[i].match_index >= raft_last_index(g->raft);
                }
        }
        return false;
}

void group_balance(struct group *g, uint64_t preferred, bool preferred_alive, uint64_t now_ms)
{
        if (g->raft == NULL || g->stopping || !g->ready || g->transferring || !group_is_leader(g) ||
            preferred == g->raft->id || !preferred_alive || now_ms < g->transfer_after_ms ||
            !group_caught_up(g, preferred)) {
                return;
        }
        g->transfer_after_ms = now_ms + 2 * (uint64_t)g->params.election_timeout_ms;
        g->transfer_req.data = g;
        if (raft_transfer(g->raft, &g->transfer_req, preferred, group_transfer_cb) == 0) {
                g->transferring = true;
        }
}

/* The one write into raft's private state in tunekv, kept in this one
 * function on purpose. raft 0.15 (Debian's libraft-dev) has no API to
 * shorten a follower's election timer: raft_set_election_timeout only takes
 * effect at the next draw, which happens when the timer fires or a new
 * leader is heard, i.e. too late. So this lowers
 * follower_state.randomized_election_timeout, the draw raft compares the
 * time since the leader was last heard with (its tick), and never raises
 * it, so raft's own rule (no election before ET of silence) still holds.
 * A raft upgrade or swap must recheck this field's meaning. */
void group_expedite_election(struct group *g, unsigned rank)
{
        struct raft *r = g->raft;
        unsigned timeout;

        if (r == NULL || g->stopping || raft_state(r) != RAFT_FOLLOWER) {
                return;
        }
        timeout = r->election_timeout + rank * (r->election_timeout / 4);
        if (r->follower_state.randomized_election_timeout > timeout) {
                r->follower_state.randomized_election_timeout = timeout;
        }
}

/* ------------------------------------------------------------------------ */
/* Observed state */

static bool group_has_voter(const struct raft_configuration *c, raft_id id)
{
        for (unsigned i = 0; i < c->n; i++) {
                if (c->servers[i].id == id && c->servers[i].role == RAFT_VOTER) {
                        return true;
                }
        }
        return false;
}

bool group_voters_are(const struct group *g, const struct group_voter *voters, unsigned n)
{
        const struct raft_configuration *have = &g->raft->configuration;
        unsigned n_have = 0;
        for (unsigned i = 0; i < have->n; i++) {
                n_have += have->servers[i].role == RAFT_VOTER;
        }
        if (n_have != n) {
                return false;
        }
        for (unsigned i = 0; i < n; i++) {
                if (!group_has_voter(have, voters[i].id)) {
                        return false;
                }
        }
        return true;
}

bool group_running(const struct group *g)
{
        return g->raft != NULL;
}

uint32_t group_partition(const struct group *g)
{
        return g->partition;
}

bool group_is_leader(const struct group *g)
{
        return g->raft != NULL && raft_state(g->raft) == RAFT_LEADER;
}

bool group_ready(const struct group *g)
{
        return g->ready;
}

uint64_t group_fresh_ms(const struct group *g)
{
        return g->ready ? g->fresh_ms : 0;
}

uint64_t group_leader_id(const struct group *g)
{
        raft_id id = 0;
        const char *address = NULL;
        if (g->raft != NULL) {
                raft_leader(g->raft, &id, &address);
        }
        return id;
}

uint64_t group_commit_index(const struct group *g)
{
        return g->raft != NULL ? g->raft->commit_index : 0;
}

uint64_t group_applied_index(const struct group *g)
{
        return g->raft != NULL ? raft_last_applied(g->raft) : 0;
}

uint64_t group_state_index(const struct group *g)
{
        return g->fsm.applied_index;
}

uint64_t group_last_index(const struct group *g)
{
        return g->raft != NULL ? raft_last_index(g->raft) : 0;
}

uint64_t group_snapshot_index(const struct group *g)
{
        return g->raft != NULL ? g->raft->log.snapshot.last_index : 0;
}

struct store *group_store(struct group *g)
{
        return g->fsm.store;
}

/* raft's roles in tunekv's words (group.h): RAFT_UNAVAILABLE, and a role
 * a later raft might add, read as unavailable. */
enum group_role group_role(const struct group *g)
{
        switch (g->raft != NULL ? raft_state(g->raft) : RAFT_UNAVAILABLE) {
        case RAFT_FOLLOWER:
                return GROUP_FOLLOWER;
        case RAFT_CANDIDATE:
                return GROUP_CANDIDATE;
        case RAFT_LEADER:
                return GROUP_LEADER;
        default:
                return GROUP_UNAVAILABLE;
        }
}

uint64_t group_term(const struct group *g)
{
        return g->raft != NULL ? g->raft->current_term : 0;
}

struct group_stats group_stats(const struct group *g)
{
        struct group_stats st = g->stats;
        st.snapshots = g->fsm.snapshots;
        st.restores = g->fsm.restores;
        return st;
}

/* ------------------------------------------------------------------------ */
/* Tests (group_test.h) */

struct raft_fsm *group_raft_fsm(struct group *g)
{
        return &g->fsm.raft_fsm;
}

struct raft *group_raft(struct group *g)
{
        return g->raft;
}

bool group_election_barrier_pending(const struct group *g)
{
        return g->election_barrier_needed;
}
