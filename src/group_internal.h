/* Private to the group files (group.c, group_write.c, group_read.c,
 * group_confirm.c): struct group, and the functions they call in each
 * other. This header includes raft.h, so it is part of the raft boundary:
 * nothing outside group*.c includes it (tests reach a group's raft side
 * through group_test.h). See group.c for how the files divide the work. */
#ifndef TKV_GROUP_INTERNAL_H
#define TKV_GROUP_INTERNAL_H

#include <raft.h>
#include <raft/uv.h>

#include "fsm.h"
#include "group.h"
#include "hlc.h"
#include "transport_raft.h"

/* Opaque outside the group files (group.h): nobody else sees raft's types. */
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
        int role;               /* RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER, ... */
        uint64_t term;          /* current term */
        bool ready;             /* leader whose election barrier of this term applied */
        uint64_t restart_floor; /* the log's last index when raft started (group_restart_floor) */
        uint64_t fresh_ms;      /* leader: proposal time of its newest own-term entry applied */
        uint64_t fresh_tickets; /* tickets handed out, without params.fresh_tickets */
        uint64_t fresh_ticket;  /* leader: the newest ticket that proved it current */
        uint64_t now_ms;        /* loop time at the last group_flush */
        bool election_barrier_needed;
        bool log_over_budget; /* snapshot_bytes applied since the last snapshot: threshold 1 */

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
        uint64_t ts_assigned;  /* the timestamp of the last command handed to raft */
        uint64_t close_wanted; /* reads wait for a command with a timestamp above this */
        uint64_t lease_term;   /* the term whose lease deadlines run here; 0: none (not ready) */

        struct raft_transfer transfer_req; /* see group_balance */
        bool transferring;                 /* a raft_transfer is in flight */
        uint64_t transfer_after_ms;        /* no new transfer before this loop time */
        group_transfer_cb transfer_cb;     /* group_transfer's caller; NULL: balancing's */
        void *transfer_data;
        struct raft_change change_req; /* group_member.c: the membership change in flight */
        bool changing;
        char change_what[64]; /* what it does, for the log when it completes */
        bool stopping;
        uint64_t stop_start_ms;
        group_stop_cb stop_cb;
        struct raft_buffer *apply_bufs; /* apply_batch_max scratch slots */
        struct group_stats stats;
        char errmsg[ERR_MSG_BYTES];
};

/* group.c */

/* An own-term entry proposed at proposed_ms applied: the leader was leader
 * then, with a majority; its state is current as of that time (read.c).
 * Called by the write path, barriers and confirmations alike. */
void group_freshen(struct group *g, uint64_t proposed_ms, uint64_t ticket);
/* A ticket for something begun now that will prove this leader current
 * when it completes (an own-term entry, a barrier, a confirmation): the
 * proof that it began after whatever the caller did before. */
uint64_t group_fresh_ticket_take(struct group *g);

/* group_write.c: the write path after group_propose (group.c) queued. */

/* Submit up to apply_batch_max pending writes in one raft_apply. */
void group_write_submit_batch(struct group *g);

/* The fsm's `applied` hook: complete the waiting writes up to index. */
void group_write_applied(void *data, uint64_t index, uint64_t proposal_id, unsigned flags,
                         const struct command_result *res);

/* Complete every waiting write with status (TKV_EUNKNOWN: leadership or
 * state lost, the entries may still commit). */
void group_write_fail_waiting(struct group *g, int status);

/* Propose a CLOSE command if a read waits for a timestamp no proposed
 * command reached. */
void group_write_close(struct group *g);

/* group_lease.c: the leader's lease expiry. */

/* Once per iteration: a newly ready leader restarts every lease's TTL;
 * a ready leader proposes LEASE_EXPIRE for leases past their deadline. */
void group_lease_flush(struct group *g, uint64_t now_ms);

/* group_read.c: read barriers (and the election barrier). */

/* Submit a barrier fencing the reads in *reads (moved to it), and, if
 * election, the new term. Returns 0 or the raft error (RAFT_NOMEM: the
 * reads stay in *reads). */
int group_read_submit_barrier(struct group *g, bool election, struct queue *reads);

/* Call back every read in *reads with status, emptying it. */
void group_read_fail(struct queue *reads, int status);

/* group_confirm.c: leadership confirmations (ReadIndex). */

/* Start a confirmation fencing every pending read. Returns 0, or nonzero
 * when it could not be started (the reads stay pending). */
int group_confirm_start(struct group *g);

/* Serve the reads of the oldest confirmations that are confirmed and whose
 * read index this node applied. */
void group_confirm_serve(struct group *g);

/* Hand the reads of confirmations older than an election timeout to
 * barriers. */
void group_confirm_expire(struct group *g);

/* Fail every confirmation in flight and its reads with status. */
void group_confirm_fail_all(struct group *g, int status);

#endif
