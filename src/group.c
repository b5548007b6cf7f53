/* One partition's Raft group: raft, raft_uv, a mux transport and the fsm.
 *
 * The group files are the only callers of raft (fsm.c and transport.c
 * implement its plug-in structs). They split the work by concern and share
 * struct group through group_internal.h:
 *
 * - group.c (this file): lifecycle (create, open, stop, destroy), queueing
 *   writes (group_propose), the per-iteration flush that drives the rest,
 *   leader balancing and election expediting, and the accessors;
 * - group_write.c: the write path: batched proposals, completed when the
 *   fsm applies them, and its failure modes;
 * - group_read.c: read fences: linearizable reads and raft barriers;
 * - group_confirm.c: leadership confirmations (ReadIndex), the cheaper
 *   fence, with the argument why they are safe.
 *
 * Once per loop iteration group_flush notices role and term changes
 * (group_observe: a lost leadership fails what it leaves behind), submits
 * the election barrier, the batched writes, and a fence for the reads
 * queued since the last one; while stopping, it drains the log instead.
 *
 * Election barrier (RAFT-NOTES B3). On every new leadership, flush first
 * submits a barrier of its own; the group is `ready` only once it applied.
 * Read barriers are appended after it and apply after it, and so do new
 * writes, so a new leader serves nothing before its election barrier. */
#include "group.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group_internal.h"
#include "group_test.h"
#include "heap.h"
#include "log.h"

/* raft's error codes in tunekv's error space: the group files are the only
 * callers of raft, so the translation lives here rather than in err.c. */
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
void group_freshen(struct group *g, uint64_t proposed_ms, uint64_t ticket)
{
        if (proposed_ms > g->fresh_ms) {
                g->fresh_ms = proposed_ms;
        }
        if (ticket > g->fresh_ticket) {
                g->fresh_ticket = ticket;
        }
}

uint64_t group_fresh_ticket_take(struct group *g)
{
        uint64_t *n = g->params.fresh_tickets != NULL ? g->params.fresh_tickets : &g->fresh_tickets;
        return ++*n;
}

/* ------------------------------------------------------------------------ */
/* The log's bytes (issue 15)
 *
 * raft 0.15 keeps every entry since its last snapshot in memory (and reads
 * them back on restart), but snapshots only after snapshot_threshold
 * entries, whatever their size: 65536 entries of 1 MiB are 64 GiB. So after
 * each command it applies, the group compares the bytes applied since the
 * last snapshot began (fsm.h, log_bytes) with snapshot_bytes, and past it
 * lowers raft's threshold to 1: raft checks it right after this apply
 * (replicationApply, then shouldTakeSnapshot, replication.c:1406) and takes
 * the snapshot then, or, if one is in progress, at the first apply after it
 * ended. Once raft keeps a snapshot the threshold goes back to the
 * configured one.
 *
 * The entries raft keeps after a snapshot (snapshot_trailing) are bounded
 * too: at the average size of the entries since the last snapshot, at most
 * half the budget, so the log in memory stays within about 1.5 x
 * snapshot_bytes plus what is not applied yet. At least 1: raft_uv takes a
 * trailing of 0 for a snapshot install and would rewrite the log after it
 * (uv_snapshot.c:688). Both values change only while no snapshot is in
 * progress: raft reads the trailing count when it writes the snapshot
 * (putSnapshot) and again when it truncates its log (takeSnapshotCb), and
 * the two must agree. */

static unsigned group_log_trailing(const struct group *g)
{
        const struct fsm *f = &g->fsm;
        uint64_t avg_bytes, fit;

        if (f->log_entries == 0 || f->log_bytes == 0) {
                return g->params.snapshot_trailing;
        }
        avg_bytes = f->log_bytes / f->log_entries;
        fit = (g->params.snapshot_bytes / 2) / (avg_bytes > 0 ? avg_bytes : 1);
        if (fit >= g->params.snapshot_trailing) {
                return g->params.snapshot_trailing;
        }
        return fit > 0 ? (unsigned)fit : 1;
}

static void group_log_budget(struct group *g)
{
        bool over;

        if (g->params.snapshot_bytes == 0 || g->raft == NULL || g->fsm.snapshotting) {
                return;
        }
        over = g->fsm.log_bytes >= g->params.snapshot_bytes;
        raft_set_snapshot_trailing(g->raft, group_log_trailing(g));
        raft_set_snapshot_threshold(g->raft, over ? 1 : g->params.snapshot_threshold);
        if (over && !g->log_over_budget) {
                g->stats.snapshots_for_bytes++;
                LOGD((int)g->partition,
                     "group: %llu bytes in %llu entries since the last "
                     "snapshot: snapshot now",
                     (unsigned long long)g->fsm.log_bytes, (unsigned long long)g->fsm.log_entries);
        }
        g->log_over_budget = over;
}

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
        group_log_budget(g);
        group_write_applied(g, index, proposal_id, flags, res);
}

/* raft sets its log's snapshot index before it finalizes a snapshot it
 * kept (takeSnapshotCb). The fsm's index is that of its last command,
 * which a window with any bytes in it puts past the previous snapshot. */
static bool group_hook_snapshot_ended(void *data, uint64_t index)
{
        struct group *g = data;
        bool kept = g->raft != NULL && g->raft->log.snapshot.last_index >= index;

        if (kept && g->params.snapshot_bytes != 0) {
                raft_set_snapshot_threshold(g->raft, g->params.snapshot_threshold);
                g->log_over_budget = false;
        }
        return kept;
}

static void group_hook_restored(void *data, uint64_t applied_index)
{
        struct group *g = data;
        (void)applied_index;
        if (g->params.hlc != NULL) {
                (void)hlc_observe(g->params.hlc, g->fsm.last_ts);
        }
        /* A snapshot replaced the state: nothing can be matched any more. */
        group_write_fail_waiting(g, TKV_EUNKNOWN);
}

/* The node's clock as the last flush saw it (node_clock_ms): the
 * deadline a lease granted or restored here starts from. */
static uint64_t group_hook_now_ms(void *data)
{
        struct group *g = data;
        return g->now_ms;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle */

static int group_prepare(struct group *g, const struct group_params *p)
{
        struct fsm_hooks hooks = {g,
                                  group_hook_index,
                                  group_hook_applied,
                                  group_hook_restored,
                                  group_hook_snapshot_ended,
                                  group_hook_now_ms};
        struct fsm_params fp = {p->partition, p->session_window, p->sessions_max,
                                p->sessions_bytes_max, p->history};
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
        if (g->params.install_snapshot_timeout_ms > 0) {
                raft_set_install_snapshot_timeout(r, g->params.install_snapshot_timeout_ms);
        }
        raft_set_pre_vote(r, true); /* RAFT-NOTES W8 */
}

/* Bootstrap the voters if g's directory holds no Raft state yet; a no-op
 * (CANTBOOTSTRAP) on every later start. The raft configuration is built
 * here, so that no caller needs raft's types. No voters: nothing at all.
 * A replica opened to receive a partition (a move's target) must start
 * with an empty log: raft_bootstrap with no server would still write a
 * configuration entry at index 1 and term 1, which the leader's own entry
 * 1 (same index, same term) would never replace, so that this replica's
 * log would differ from everyone's, and it would send that entry on once
 * it leads (raftguard refuses it: "configuration claims 0 servers"). */
static int group_bootstrap(struct group *g, const struct group_voter *voters, unsigned n)
{
        struct raft_configuration conf;
        int rv = 0;

        if (n == 0) {
                return 0;
        }
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

/* The group's policy for a peer's Raft message whose layout is valid
 * (raftguard.h): the sender must be a server of the group's configuration, and
 * no AppendEntries or InstallSnapshot may claim the term this node leads
 * (two leaders in one term cannot be; libraft 0.15 would overwrite its
 * follower state with the sender's and crash: RAFT-NOTES B6). */
static bool group_check_message(void *arg, uint64_t from, const struct raftwire_msg *m,
                                const char **why)
{
        struct group *g = arg;
        const struct raft_configuration *c = &g->raft->configuration;
        bool member = c->n == 0; /* not bootstrapped yet: nothing to check against */

        for (unsigned i = 0; i < c->n && !member; i++) {
                member = c->servers[i].id == from;
        }
        if (!member) {
                *why = "the sender is not a server of this group";
                return false;
        }
        if (g->transport.mux->refuse_entries &&
            ((m->type == RAFTWIRE_APPEND_ENTRIES && m->n_entries > 0) ||
             m->type == RAFTWIRE_INSTALL_SNAPSHOT)) {
                /* libraft 0.15 crashes when an append hits ENOSPC: this
                 * replica falls behind instead, and catches up later. */
                *why = "this node's disk is nearly full (disk_reserve_bytes)";
                return false;
        }
        if ((m->type == RAFTWIRE_APPEND_ENTRIES || m->type == RAFTWIRE_INSTALL_SNAPSHOT) &&
            raft_state(g->raft) == RAFT_LEADER && m->term == g->raft->current_term) {
                *why = "a leader's message in the term this node leads";
                return false;
        }
        return true;
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
        transport_set_check(&g->transport, group_check_message, g);
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
        /* Everything this replica applied before it stopped is in its log:
         * until it applies that far again, its state may be older than
         * what it already served (group_restart_floor). */
        g->restart_floor = raft_last_index(g->raft);
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
        group_read_fail(&g->reads_pending, TKV_ESHUTDOWN);
        group_confirm_fail_all(g, TKV_ESHUTDOWN);
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
/* Queueing writes (group_write.c proposes and completes them) */

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
                group_write_fail_waiting(g, TKV_EUNKNOWN);
                group_read_fail(&g->reads_pending, TKV_ENOTLEADER);
                group_confirm_fail_all(g, TKV_ENOTLEADER);
        }
        if (is_leader && (!was_leader || term != g->term)) {
                LOGI((int)g->partition, "group: became leader, term %llu",
                     (unsigned long long)term);
                g->stats.elections_won++;
                g->ready = false;
                g->fresh_ms = 0;
                g->fresh_ticket = 0;
                g->election_barrier_needed = true;
                /* What an earlier term of ours stamped may have been
                 * truncated: count from what applied. */
                g->ts_assigned = g->fsm.last_ts;
        }
        g->role = role;
        g->term = term;
}

void group_nudge(struct group *g)
{
        if (g->raft != NULL && !g->stopping && g->ready && group_is_leader(g) &&
            g->n_barriers < g->params.barriers_inflight_max) {
                (void)group_read_submit_barrier(g, false, &g->reads_pending);
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
                group_read_fail(&g->reads_pending, TKV_ENOTLEADER);
                return;
        }
        if (g->election_barrier_needed) {
                rv = group_read_submit_barrier(g, true, &g->reads_pending);
                if (rv == 0) {
                        g->election_barrier_needed = false;
                }
        }
        group_lease_flush(g, now_ms); /* its expiries go out with this batch */
        while (!queue_empty(&g->writes_pending)) {
                unsigned before = g->n_writes_pending;
                group_write_submit_batch(g);
                if (g->n_writes_pending == before) {
                        break; /* out of memory: next iteration */
                }
        }
        group_write_close(g);
        group_confirm_expire(g);
        group_confirm_serve(g); /* read indexes applied since */
        if (!queue_empty(&g->reads_pending) && !g->election_barrier_needed) {
                bool confirm = g->ready && g->params.confirm_cb != NULL;
                if (confirm && g->n_confirms < g->params.barriers_inflight_max &&
                    group_confirm_start(g) != 0) {
                        confirm = false;
                }
                if (!confirm && g->n_barriers < g->params.barriers_inflight_max) {
                        rv = group_read_submit_barrier(g, false, &g->reads_pending);
                        if (rv != 0 && rv != RAFT_NOMEM) {
                                group_read_fail(&g->reads_pending, TKV_ENOTLEADER);
                        }
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Leader balancing */

/* The request lives in the group, never on the heap: raft sends TimeoutNow
 * with &req->send and no callback, so that send may complete after the
 * transfer's callback (or raft_close) has fired. */
static void group_transfer_done(struct raft_transfer *req)
{
        struct group *g = req->data;

        group_transfer_cb cb = g->transfer_cb;
        bool moved = g->raft != NULL && group_leader_id(g) == req->id;

        g->transferring = false;
        g->transfer_cb = NULL;
        if (moved) {
                g->stats.transfers++;
                LOGI((int)g->partition, "group: leadership handed to node %llu",
                     (unsigned long long)req->id);
        }
        if (cb != NULL) {
                cb(g->transfer_data, g,
                   moved             ? 0
                   : g->raft == NULL ? TKV_ESHUTDOWN
                                     : TKV_ETIMEDOUT);
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
        if (raft_transfer(g->raft, &g->transfer_req, preferred, group_transfer_done) == 0) {
                g->transferring = true;
        }
}

static bool group_has_voter(const struct raft_configuration *c, raft_id id)
{
        for (unsigned i = 0; i < c->n; i++) {
                if (c->servers[i].id == id && c->servers[i].role == RAFT_VOTER) {
                        return true;
                }
        }
        return false;
}

int group_transfer(struct group *g, uint64_t target, group_transfer_cb cb, void *data)
{
        if (g->raft == NULL || g->stopping || !group_is_leader(g)) {
                return TKV_ENOTLEADER;
        }
        if (!group_has_voter(&g->raft->configuration, target)) {
                return TKV_ENOTFOUND;
        }
        if (target == g->raft->id) {
                return TKV_EEXIST;
        }
        if (g->transferring) {
                return TKV_EBUSY;
        }
        if (!group_caught_up(g, target)) {
                return TKV_EAGAIN;
        }
        g->transfer_req.data = g;
        if (raft_transfer(g->raft, &g->transfer_req, target, group_transfer_done) != 0) {
                return TKV_EBUSY;
        }
        g->transferring = true;
        g->transfer_cb = cb;
        g->transfer_data = data;
        return 0;
}

void group_transfer_abandon(struct group *g)
{
        g->transfer_cb = NULL;
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

bool group_stopping(const struct group *g)
{
        return g->stopping;
}

void *group_owner(const struct group *g)
{
        return g->params.owner;
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

uint64_t group_fresh_ticket(const struct group *g)
{
        return g->ready ? g->fresh_ticket : 0;
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

uint64_t group_restart_floor(const struct group *g)
{
        return g->restart_floor;
}

uint64_t group_last_index(const struct group *g)
{
        return g->raft != NULL ? raft_last_index(g->raft) : 0;
}

uint64_t group_snapshot_index(const struct group *g)
{
        return g->raft != NULL ? g->raft->log.snapshot.last_index : 0;
}

uint64_t group_closed_ts(const struct group *g)
{
        return g->fsm.last_ts;
}

uint64_t group_delete_ts(const struct group *g)
{
        return g->fsm.delete_ts;
}

uint64_t group_deletes(const struct group *g)
{
        return g->fsm.deletes;
}

bool group_want_closed(struct group *g, uint64_t ts)
{
        if (g->raft == NULL || g->stopping || !group_is_leader(g)) {
                return false;
        }
        if (g->params.hlc != NULL && !hlc_observe(g->params.hlc, ts)) {
                return false;
        }
        if (ts > g->close_wanted) {
                g->close_wanted = ts;
        }
        return true;
}

struct store *group_store(struct group *g)
{
        return g->fsm.store;
}

const struct changes *group_changes(const struct group *g)
{
        return g->fsm.changes;
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
        st.log_bytes = g->fsm.log_bytes;
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
