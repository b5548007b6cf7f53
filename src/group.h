/* One partition's Raft group on this node: raft + raft_uv + transport + fsm.
 * Only this module calls raft (fsm.c and transport.c implement its plug-in
 * structs). Its files: group.c (lifecycle, flush, election barrier,
 * accessors), group_write.c (the write path), group_read.c (read fences,
 * barriers), group_confirm.c (leadership confirmations); group.c says more.
 *
 * This header is the raft boundary: it includes no raft header, struct
 * group is opaque (defined in group_internal.h, for the group files only),
 * and raft's roles, errors and configurations are translated into tunekv's
 * own (enum group_role, TKV_E*, struct group_voter), so that swapping raft
 * touches the group files, fsm.c and transport.c only. Tests that drive a
 * raft_fixture use group_test.h. */
#ifndef TKV_GROUP_H
#define TKV_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "changes.h"
#include "command.h"
#include "err.h"
#include "queue.h"

struct hlc;

struct store;
struct transport_mux;

struct group;
struct group_write;
struct group_read;

/* status: 0 (res valid), or TKV_ENOTLEADER (certainly not applied: retry
 * elsewhere), TKV_EUNKNOWN (may or may not be applied), TKV_ESHUTDOWN. */
typedef void (*group_write_cb)(struct group_write *w, int status, const struct command_result *res);

/* status: 0 (serve the read from the store now), TKV_ENOTLEADER, TKV_ESHUTDOWN. */
typedef void (*group_read_cb)(struct group_read *r, int status);

typedef void (*group_stop_cb)(struct group *g);

/* An asked-for leadership transfer ended: status 0 when the target now
 * leads, TKV_ETIMEDOUT when raft gave up (the target did not win an
 * election in time), TKV_ESHUTDOWN when the group closed. */
typedef void (*group_transfer_cb)(void *data, struct group *g, int status);

/* A write in progress; embedded in the caller's request. */
struct group_write {
        struct queue link; /* in g->writes_pending, then g->writes_waiting */
        void *buf;         /* encoded command (raft_malloc'd); ours until proposed */
        size_t buf_len;
        uint64_t proposal_id;
        uint64_t index; /* Raft index once proposed */
        uint64_t ts;    /* timestamp stamped when proposed (command.h) */
        group_write_cb cb;
        struct group *g;
        bool accept_only; /* LEADER_ACCEPTED: answered once raft_apply took it */
};

/* A command was applied on this replica (any role); flags are its
 * COMMAND_F_* bits. */
typedef void (*group_applied_cb)(void *data, struct group *g, uint64_t index, unsigned flags,
                                 const struct command_result *res);

/* A linearizable read waiting for its fence; embedded in the caller's request. */
struct group_read {
        struct queue link; /* in g->reads_pending, a confirmation's or a barrier's reads */
        group_read_cb cb;
};

/* Voters a leadership confirmation can ask, at most (more: reads use
 * barriers). */
#define GROUP_VOTERS_MAX 16

/* Leadership confirmation (ReadIndex, group_confirm.c): ask each of the n
 * voters (raft ids, this node excluded) for its current term in partition
 * g, and report every answer, or the failure to get one, with
 * group_confirm_answer(g, seq, ...). Returns how many asks were queued;
 * those not queued count as failed. */
typedef unsigned (*group_confirm_cb)(void *data, struct group *g, uint64_t seq,
                                     const uint64_t *voters, unsigned n);

/* What a replica is in its group, raft's roles in tunekv's words:
 * UNAVAILABLE before open and once closed. */
enum group_role {
        GROUP_FOLLOWER,
        GROUP_CANDIDATE,
        GROUP_LEADER,
        GROUP_UNAVAILABLE,
};

/* One voter of a group's configuration: a node id and its Raft (peer)
 * address. */
struct group_voter {
        uint64_t id;
        const char *address; /* borrowed */
};

struct group_params {
        uint32_t partition;
        uint64_t proposer_seed;         /* random: makes proposal ids unique */
        unsigned apply_batch_max;       /* buffers per raft_apply */
        unsigned barriers_inflight_max; /* read barriers in flight */
        unsigned election_timeout_ms;
        unsigned heartbeat_timeout_ms;
        unsigned snapshot_threshold;
        uint64_t snapshot_bytes; /* also snapshot past these applied bytes; 0: count only */
        unsigned snapshot_trailing;
        unsigned install_snapshot_timeout_ms;
        bool snapshot_compression;
        uint64_t segment_bytes;
        unsigned connect_retry_ms;
        unsigned drain_timeout_ms; /* B2: longest wait for the log to reach disk */
        unsigned session_window;   /* client sessions (dedup.h) */
        unsigned sessions_max;
        uint64_t sessions_bytes_max;
        struct changes_params history; /* the partition's recent changes */
        group_applied_cb applied_cb;   /* may be NULL */
        void *applied_data;
        group_confirm_cb confirm_cb; /* NULL: linearizable reads use barriers only */
        void *confirm_data;
        struct hlc *hlc; /* the node's clock (not owned); NULL: timestamps count from 1 */
        /* The node's freshness tickets (group_fresh_ticket_take), shared
         * with its probes so that one number orders them all; NULL: the
         * group counts its own. */
        uint64_t *fresh_tickets;
        void *owner; /* the caller's, for its callbacks (group_owner) */
};

struct group_stats {
        uint64_t proposals;       /* raft_apply calls */
        uint64_t writes_proposed; /* entries proposed */
        uint64_t writes_applied;  /* our entries applied */
        uint64_t writes_unknown;  /* outcome unknown after leadership loss */
        uint64_t barriers;        /* read barriers (incl. election barriers) */
        uint64_t closes;          /* CLOSE commands proposed for reads waiting on a timestamp */
        uint64_t confirms;        /* leadership confirmations started */
        uint64_t confirms_failed; /* ... that fell back to a barrier or failed their reads */
        uint64_t reads_fenced;    /* linearizable reads released */
        uint64_t elections_won;
        uint64_t transfers;           /* leadership handed to the preferred leader */
        uint64_t snapshots;           /* snapshots taken (the fsm's count) */
        uint64_t restores;            /* snapshots restored (the fsm's count) */
        uint64_t snapshots_for_bytes; /* asked for because snapshot_bytes were applied */
        uint64_t log_bytes;           /* entry bytes applied since the last snapshot began */
        uint64_t leases_expired;      /* LEASE_EXPIRE entries this node proposed as leader */
};

/* Allocate *out and prepare it: fsm and queues, no raft yet. Then
 * group_open, group_stop, and group_destroy once stopped (or never opened).
 * TKV_ENOMEM (*out is NULL then). p is copied. */
int group_create(const struct group_params *p, struct group **out);

/* Open g's Raft state in dir (created if missing) with raft_uv and a mux
 * transport, bootstrapping the n voters if the directory is pristine (n 0:
 * an empty replica that waits for a leader to add it), and start it. raft_id/address identify this
 * replica. mux is borrowed for g's lifetime; dir, address and voters are copied (borrowed during
 * the call). TKV_E* with group_errmsg(g) set. */
int group_open(struct group *g, uv_loop_t *loop, struct transport_mux *mux, const char *dir,
               uint64_t raft_id, const char *address, const struct group_voter *voters, unsigned n);

/* Free g: its fsm if it was never stopped, raft_uv's memory (only after
 * uv_run returned, group.c says why), g itself. NULL is fine, and so is a
 * group whose create or open failed. */
void group_destroy(struct group *g);

/* Why the last group_open failed ("raft_init: ..."); owned by g. */
const char *group_errmsg(const struct group *g);

/* Drain and close (B2): refuse new work, wait until every entry is on disk,
 * raft_close, then cb. Writes still waiting complete with TKV_EUNKNOWN or
 * TKV_ESHUTDOWN, reads with TKV_ESHUTDOWN. */
void group_stop(struct group *g, group_stop_cb cb);

/* Queue cmd (its proposal_id is assigned here) for this iteration's batch.
 * Errors (no callback): TKV_ENOTLEADER, TKV_ESHUTDOWN, TKV_ENOMEM. On
 * success cb fires exactly once, unless group_write_abandon() is called. */
int group_propose(struct group *g, struct group_write *w, struct command *cmd, group_write_cb cb);

/* Submit a barrier now, with any reads queued: followers learn the new
 * commit index with it (ALL_REPLICAS writes), and the leader's fresh_ms
 * moves to now once it applies. No-op unless leader. */
void group_nudge(struct group *g);

/* Forget w: its callback will not fire. Returns true if w had already been
 * handed to raft (its outcome is then unknown). */
bool group_write_abandon(struct group_write *w);

/* Wait for a fence proving this node is still leader and has applied every
 * write acknowledged before now. Errors (no callback): TKV_ENOTLEADER,
 * TKV_ESHUTDOWN. */
int group_read_fence(struct group *g, struct group_read *r, group_read_cb cb);

/* Forget r: its callback will not fire. */
void group_read_abandon(struct group_read *r);

/* The answer to ask seq of a leadership confirmation from voter: its
 * current term (answered), or none (answered false: an error, a broken
 * link). Unknown seqs are ignored. */
void group_confirm_answer(struct group *g, uint64_t seq, uint64_t voter, bool answered,
                          uint64_t term);

/* Once per loop iteration: notice role changes (election barrier, failing
 * what a lost leadership leaves behind), submit the batched writes and the
 * read barrier, progress a stop. */
void group_flush(struct group *g, uint64_t now_ms);

/* Leader balancing: if this node leads but preferred (a node id) should,
 * and preferred is alive and has every entry, hand leadership over
 * (raft_transfer; only to a caught-up follower, RAFT-NOTES W3). At most one
 * attempt per two election timeouts. */
void group_balance(struct group *g, uint64_t preferred, bool preferred_alive, uint64_t now_ms);

/* Hand g's leadership to target (a node id) now: raft_transfer, for an
 * operator's transfer-leader. Errors (no callback): TKV_ENOTLEADER (this
 * node does not lead g), TKV_ENOTFOUND (target is not a voter of g),
 * TKV_EAGAIN (target has not caught up with the log: raft 0.15 would send
 * it TimeoutNow anyway, RAFT-NOTES W3), TKV_EBUSY (a transfer is in
 * flight), TKV_EEXIST (target is this node, which leads already).
 * Otherwise cb fires exactly once, unless group_transfer_abandon. */
int group_transfer(struct group *g, uint64_t target, group_transfer_cb cb, void *data);

/* Forget the transfer group_transfer started: its callback will not fire. */
void group_transfer_abandon(struct group *g);

/* The node leading g is dead (its peer link says so): stop waiting for a
 * random part of the election timeout. raft 0.15 draws each follower's
 * timeout in [ET, 2ET) and a follower refuses votes while it still believes
 * in a leader, so an election waits for the slower of the followers' draws,
 * close to 2ET. Here the timeout becomes ET + rank * ET/4 (rank: this
 * replica's position among the survivors), so the first survivor campaigns
 * one election timeout after it last heard from the leader and the others
 * do not split the vote. Raft's rule is unchanged: no election before ET of
 * silence. */
void group_expedite_election(struct group *g, unsigned rank);

/* Membership (group_member.c): moving a replica, RAFT-NOTES §5. */

/* A server's role in g's Raft configuration. A SPARE gets nothing; a
 * STANDBY gets the log (and snapshots) but does not vote: the target of
 * a move catches up as a standby, and becomes a voter once close to the
 * leader's last index. */
enum group_member_role {
        GROUP_MEMBER_VOTER,
        GROUP_MEMBER_STANDBY,
        GROUP_MEMBER_SPARE,
};

struct group_member {
        uint64_t id;
        enum group_member_role role;
        uint64_t match_index; /* leader only: the last index known on it (0 otherwise) */
};

/* The servers of g's configuration, as this replica holds it (the latest
 * one appended, committed or not), into out (up to max). How many. */
unsigned group_members(const struct group *g, struct group_member *out, unsigned max);

/* Is a change of g's configuration in progress: one this node asked for
 * (group_change) whose callback has not run, or an appended
 * configuration not committed yet? raft takes one at a time. */
bool group_changing(const struct group *g);

enum group_change_op {
        GROUP_CHANGE_ADD,     /* id, address: a new SPARE (raft_add) */
        GROUP_CHANGE_STANDBY, /* id: start replicating to it (raft_assign) */
        GROUP_CHANGE_VOTER,   /* id: promote it (raft_assign: catch-up rounds first) */
        GROUP_CHANGE_REMOVE,  /* id (raft_remove) */
};

/* Ask raft for one configuration change at this leader. It completes in
 * the background; its outcome is logged, and the caller reads the
 * configuration again (group_members) rather than waiting for it. 0, or
 * TKV_ENOTLEADER, TKV_EBUSY (a change in flight, or a new leader whose
 * own-term entry has not committed yet: raft 0.15 refuses changes until
 * then), TKV_EINVAL (raft refused it: an unknown id, a duplicate id or
 * address, a role it has already), TKV_ENOMEM. address is copied. */
int group_change(struct group *g, enum group_change_op op, uint64_t id, const char *address);

/* Are the voters of g's current configuration exactly the n voters given
 * (by id)? voters is borrowed. */
bool group_voters_are(const struct group *g, const struct group_voter *voters, unsigned n);

/* Observed state, for routing and STATUS. Each is a function call (struct
 * group is opaque) reading raft's state directly, with no allocation. */

/* Is g's raft running (opened or attached, not yet closed)? */
bool group_running(const struct group *g);
/* Has group_stop been called on g? */
bool group_stopping(const struct group *g);
/* params.owner. */
void *group_owner(const struct group *g);
uint32_t group_partition(const struct group *g);
bool group_is_leader(const struct group *g);
/* As group_flush last saw it: this node leads and the election barrier of
 * its term applied, so it may serve reads (group.c). Callers that act on
 * it check group_is_leader too: raft may have deposed it since. */
bool group_ready(const struct group *g);
/* While ready: the proposal time of the newest own-term entry applied (the
 * state is current as of then, read.c); else 0. */
uint64_t group_fresh_ms(const struct group *g);
uint64_t group_leader_id(const struct group *g);
uint64_t group_commit_index(const struct group *g);
uint64_t group_applied_index(const struct group *g);
/* Index of the last command applied (or of the snapshot restored). The
 * state at group_applied_index is the state at this index: barriers and
 * configuration entries after it change nothing. What a read observed, and
 * what a probe must make a follower apply, is this index: a barrier that
 * only fenced a read adds nothing to wait for. */
uint64_t group_state_index(const struct group *g);
uint64_t group_last_index(const struct group *g);
/* The log's last index when this replica started: it applied at most this
 * much before it stopped, and every read it answered then saw at most
 * this. Raft applies the log again only once a leader supplies the commit
 * index, so until the replica is back at this index its state can be older
 * than what it served before: reads below EVENTUAL wait for it (rpc_read.c).
 * 0 for a group driven by a test. */
uint64_t group_restart_floor(const struct group *g);
uint64_t group_snapshot_index(const struct group *g);
/* The timestamp at which this replica is closed: it has applied every
 * write of the partition at or below it (the last applied command's). */
uint64_t group_closed_ts(const struct group *g);
/* The timestamp of the last delete this replica applied (fsm.h): an absent
 * key is absent as of it. */
uint64_t group_delete_ts(const struct group *g);
/* Keys this replica deleted since it started or restored (fsm.h). */
uint64_t group_deletes(const struct group *g);
/* The newest proof that this leader is current which completed in this
 * term (0 until the leader is ready): its ticket (params.fresh_tickets). A
 * ticket above the counter's value at some moment began after it: once it
 * completed, this replica's state includes every write acknowledged
 * before that moment. */
uint64_t group_fresh_ticket(const struct group *g);
/* A read here needs the partition closed at ts: if this replica leads,
 * have a command with a timestamp above ts proposed (a CLOSE entry, unless
 * a write carries one already) and note ts in the clock. False when ts is
 * further ahead of this node's clock than max_clock_offset_ms (nothing
 * done), or this replica does not lead. */
bool group_want_closed(struct group *g, uint64_t ts);
struct store *group_store(struct group *g);
/* The partition's recent changes (changes.h): keys as of a past timestamp,
 * and deletes' tombstones. */
const struct changes *group_changes(const struct group *g);

/* Leases (group_lease.c). */
struct lease;
struct lease_table;
/* The partition's lease table on this replica (lease.h), to read. */
struct lease_table *group_leases(struct group *g);
/* The leader refreshes lease id: its deadline becomes now_ms + its TTL
 * (*ttl_ms). TKV_ENOTLEADER (not the ready leader whose deadlines run),
 * TKV_ENOTFOUND (no such lease, or its expiry is being proposed). */
int group_lease_keepalive(struct group *g, uint64_t id, uint64_t now_ms, uint64_t *ttl_ms);
/* What is left of l's TTL on this leader's clock; -1 when this replica
 * is not the ready leader (no deadline it could vouch for). l borrowed. */
int64_t group_lease_remaining_ms(struct group *g, const struct lease *l, uint64_t now_ms);
enum group_role group_role(const struct group *g);
uint64_t group_term(const struct group *g);
/* Counters, for STATUS and tests. */
struct group_stats group_stats(const struct group *g);

#endif
