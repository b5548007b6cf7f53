/* What one replica knows about how current its state is, and the reads
 * waiting for it to become current enough. One struct read_state per hosted
 * partition (see read.c for the staleness argument). */
#ifndef TKV_READ_H
#define TKV_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "fresh.h"
#include "queue.h"

#define READ_PENDING_MAX  8
#define READ_LEVELS       6
#define READ_REPLICAS_MAX 8

/* Followers probe their leader every probe interval while reads that care
 * about freshness arrived within this long (each probe costs the leader a
 * read fence: an idle partition should not pay for it). */
#define READ_PROBE_IDLE_MS 10000

/* A follower's clock is checked against its leader's at every probe answer
 * (read_clock_check): if it ran slower than the leader's by more than
 * 1/READ_CLOCK_DRIFT_DIV (2 %) plus READ_CLOCK_SLACK_MS, the follower claims
 * no time bound until a later check passes; while it passes, its claims
 * are scaled up by the same margin. */
#define READ_CLOCK_DRIFT_DIV 50
#define READ_CLOCK_SLACK_MS  5

struct group;

/* The last probe answer's times, for the next check. */
struct read_clock {
        uint32_t leader_id; /* who answered; 0: no sample */
        uint64_t term;
        uint64_t sent_ms;   /* our clock when that probe was sent */
        uint64_t leader_ms; /* the leader's when it answered */
        bool verified;      /* the last check passed */
        uint64_t slow;      /* checks that failed, ever */
};

/* What the functions below need to know of the local replica. */
struct read_replica {
        uint64_t applied;             /* its applied index */
        uint64_t commit;              /* its commit index (a follower: as the leader last said) */
        bool leader;                  /* it leads the partition */
        uint64_t leader_fresh_ms;     /* a ready leader: group_fresh_ms(); else 0 */
        uint64_t leader_fresh_ticket; /* a ready leader: group_fresh_ticket(); else 0 */
        uint64_t closed_ts; /* group_closed_ts(): every write stamped at or below applied */
};

/* The replica of g, now. */
struct read_replica read_replica_of(struct group *g);

/* A bound a read must meet on the serving replica. 0 = no such bound. */
struct read_bound {
        uint64_t required_index;   /* applied index >= this (tokens, min_index) */
        uint64_t max_staleness_ms; /* staleness upper bound <= this */
        uint64_t max_lag_entries;  /* leader commit (as last heard) - applied <= this */
        uint64_t required_ts;      /* closed at this timestamp (SEQUENTIAL, hlc.h) */
        /* Current as of a moment (LINEARIZABLE GET_MANY): a proof begun
         * after it, i.e. with a ticket above after_ticket (the node's
         * counter then, node.h fresh_tickets): a leader's own-term entry,
         * barrier or confirmation that completed, or a probe whose answer
         * this replica applied. */
        bool fresh_after;
        uint64_t after_ticket;
};

struct read_counters {
        uint64_t served;
        uint64_t stale_served;
        uint64_t waits;
        uint64_t fallbacks;
        uint64_t bound_unmet;
};

struct read_wait;
typedef void (*read_wait_cb)(struct read_wait *w);

/* A read waiting for its bound; embedded in the caller's request. */
struct read_wait {
        struct queue link;
        struct read_bound bound;
        read_wait_cb cb; /* the bound is met: serve now */
};

struct read_state {
        uint32_t partition;
        /* Followers: what the leader said when asked (probes). */
        uint64_t leader_commit;    /* newest commit index heard */
        uint64_t leader_commit_ms; /* send time of the probe that brought it */
        uint64_t lag_window_ms;    /* a lag bound needs a probe sent within this */
        struct {
                uint64_t commit;
                uint64_t sent_ms;
                uint64_t probe;      /* its ticket */
        } pending[READ_PENDING_MAX]; /* answers our applied index has not reached yet */
        unsigned n_pending;
        uint64_t fresh_ms;     /* our state is current as of this loop time; 0 unknown */
        uint64_t probe_ticket; /* the last probe sent: its freshness ticket (read_bound) */
        uint64_t fresh_probe;  /* the newest probe (ticket) whose answer our state covers */
        bool probe_now;        /* ask the leader at once (a wait, an ALL_REPLICAS write) */
        uint64_t close_wanted; /* a read here waits for the partition closed at this (probes ask) */
        bool probe_in_flight;
        uint64_t probe_sent_ms;         /* of the probe in flight, or the last one */
        uint64_t probe_sent_precise_ms; /* the same, read precisely (read_clock_check) */
        struct read_clock clock;
        uint64_t demand_ms; /* last read here that is not LINEARIZABLE; 0 never */
        /* Leaders: what followers reported applying (ALL_REPLICAS). */
        uint32_t replica_ids[READ_REPLICAS_MAX];
        uint64_t replica_applied[READ_REPLICAS_MAX];
        unsigned n_replicas;
        struct queue waiters;  /* struct read_wait */
        struct queue ack_alls; /* rpc layer: writes waiting for every replica */
        double budget;         /* forwards to the leader left (token bucket) */
        uint64_t budget_ms;    /* last refill */
        struct read_counters counters[READ_LEVELS];
        struct fresh fresh; /* how fresh the reads served here were (PBS) */
};

void read_state_init(struct read_state *rs, uint32_t partition, const uint32_t *replicas,
                     unsigned n_replicas, double burst, uint64_t lag_window_ms);

/* The partition's replicas changed (a move): what is known of those that
 * stay is kept, a new one starts at applied index 0. */
void read_state_set_replicas(struct read_state *rs, const uint32_t *replicas, unsigned n_replicas);

/* This node's replica starts over from an older state (opened empty, a
 * move back here): what probes proved of the state it had no longer holds,
 * so its staleness is unknown again until a probe's answer is covered by
 * what it applies now. What it heard of the leader (commit index, clock)
 * still holds. */
void read_state_restart(struct read_state *rs);

/* Upper bound of this replica's staleness in ms, or -1 if unknown. The
 * leader is current as of its newest own-term entry that applied. */
int64_t read_staleness_ms(const struct read_state *rs, const struct read_replica *r,
                          uint64_t now_ms);

/* Entries behind the leader's commit index as last heard, by probe or by
 * Raft (0 on the leader). */
uint64_t read_lag_entries(const struct read_state *rs, const struct read_replica *r);

/* Does this replica meet b right now? A lag bound is checked against a
 * probe sent within lag_window_ms: Raft's own commit index may be old news
 * on a replica cut off from its leader. */
bool read_bound_met(const struct read_state *rs, const struct read_replica *r,
                    const struct read_bound *b, uint64_t now_ms);

/* A probe answer from leader_id in term, sent at sent_ms and received at
 * recv_ms (our clock, read precisely), stamped leader_ms by the leader:
 * check that our clock did not run slow since the previous answer. Only a
 * slow clock matters: it would make now - s smaller than the real time
 * since s. Between the previous probe's sending and this answer, at least
 * the leader's elapsed time passed; our clock must have measured about as
 * much. A leader that sends no time (0) cannot vouch for our clock. */
void read_clock_check(struct read_state *rs, uint32_t leader_id, uint64_t term, uint64_t sent_ms,
                      uint64_t recv_ms, uint64_t leader_ms);

/* The probe with ticket probe, sent at sent_ms, came back: the leader's
 * commit index was commit. */
void read_on_probe(struct read_state *rs, const struct read_replica *r, uint64_t commit,
                   uint64_t sent_ms, uint64_t probe);

/* Fold probe answers our applied index now covers into fresh_ms. */
void read_refresh(struct read_state *rs, const struct read_replica *r);

/* Should a follower send a probe now (one in flight at most)? */
bool read_probe_due(const struct read_state *rs, uint64_t now_ms, unsigned interval_ms);

/* Take one unit of the forwarding budget (rate per second, burst). */
bool read_take_forward(struct read_state *rs, uint64_t now_ms, double rate, double burst);

/* Park w until its bound is met (read_scan calls its cb). */
void read_wait_park(struct read_state *rs, struct read_wait *w);
void read_wait_abandon(struct read_wait *w);

/* Serve every waiter whose bound is met now. */
void read_scan(struct read_state *rs, const struct read_replica *r, uint64_t now_ms);

/* A follower node reported its applied index for this partition. A
 * follower cannot have applied what the leader does not have: a report is
 * believed up to last_index (the leader's last log index) only, so a
 * buggy or forged report cannot acknowledge ALL_REPLICAS writes early
 * beyond it. */
void read_on_replica_applied(struct read_state *rs, uint32_t node_id, uint64_t applied,
                             uint64_t last_index);

/* Has every replica (this one included, at applied) applied index? */
bool read_all_applied(const struct read_state *rs, uint32_t self_id, uint64_t self_applied,
                      uint64_t index);

#endif
