/* When libtunekv tries a keyed request again, and what it finally reports.
 *
 * One struct retry travels with each GET, PUT, DELETE and CAS from its first
 * attempt to its callback. After every attempt, client_retry.c tells it how the
 * attempt ended (retry_next) and gets back what to do: deliver the answer,
 * resend at once, resend after a backoff, or give up and report
 * retry_status(). The policy is pure (no I/O, the clock is an argument), so
 * the unit tests drive it through every path.
 *
 *   how the attempt ended                  next step            write may be applied?
 *   OK, NOT_FOUND, CONDITION_FAILED,       deliver the answer   (the answer says)
 *     INVALID_ARGUMENT, TOO_LARGE, ...
 *   NOT_LEADER with a leader hint          resend now *         unchanged
 *   NOT_LEADER without a hint,             backoff              unchanged
 *     UNAVAILABLE, NO_QUORUM, BUSY,
 *     TIMEOUT
 *   OUTCOME_UNKNOWN (writes)               backoff **           yes
 *   link broke before any byte was sent    resend now *         unchanged
 *   link broke after bytes were sent       backoff              yes
 *   no connection to the node              backoff              unchanged
 *   no partition map to route by           backoff              unchanged
 *
 *   *  at most RETRY_HOPS_MAX times in a row, then a backoff: two nodes that
 *      keep naming each other, or a link that breaks at once, must not spin.
 *
 * Reads that any replica may serve (a level other than LINEARIZABLE, a
 * route other than LEADER) have another way out: when client_retry.c sets
 * r->elsewhere (a replica this read has not failed on is known), a
 * transient answer, a lost link or a refused connection resends at once
 * (within the same RETRY_HOPS_MAX), to that replica, instead of backing
 * off. BOUND_UNMET is never transient: the caller chose on_unmet, and the
 * answer is delivered.
 *   ** at most RETRY_UNKNOWN_MAX answers: the server also answers a retry it
 *      no longer remembers with OUTCOME_UNKNOWN, and that will not change.
 *
 * A backoff waits 20 ms, then twice as long each time up to 100 ms (the
 * map is refreshed at most every 100 ms anyway, so a new leader is found
 * within one backoff after it is elected), and is cut short to end
 * RETRY_LAST_MS before the deadline; when no time is left the request gives
 * up. Giving up reports OUTCOME_UNKNOWN for a write of which some attempt
 * may have been applied, else the last attempt's status (TIMEOUT if there
 * was none), where a failure seen by the client alone (no connection, a
 * lost one) does not replace a status a server gave earlier.
 *
 * The retry flag of each attempt of a write (WriteOptions.retry) is exactly
 * "some earlier attempt may have been applied": a write whose earlier
 * attempts were all refused is sent as new, since the server may answer a
 * retry it does not know with OUTCOME_UNKNOWN. */
#ifndef TKV_CLIENT_RETRY_H
#define TKV_CLIENT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define RETRY_BACKOFF_FIRST_MS 20
#define RETRY_BACKOFF_MAX_MS   100
#define RETRY_HOPS_MAX         3
#define RETRY_UNKNOWN_MAX      2
#define RETRY_LAST_MS          10 /* the last attempt gets at least this long */

/* How one attempt ended. */
enum retry_end {
        RETRY_END_ANSWER,   /* the server answered with a status */
        RETRY_END_UNSENT,   /* its link broke before any byte of it was written */
        RETRY_END_LOST,     /* its link broke after some of it was written */
        RETRY_END_REFUSED,  /* no connection to its node could be made */
        RETRY_END_NO_ROUTE, /* not sent: no partition map (status: why, or TKV_OK) */
};

/* What to do next. */
enum retry_action {
        RETRY_DELIVER, /* complete the request with the answer it got */
        RETRY_NOW,     /* send another attempt at once */
        RETRY_LATER,   /* send another attempt at the time given */
        RETRY_GIVE_UP, /* complete the request with retry_status() */
};

struct retry {
        int64_t deadline_ms; /* monotonic; the request's whole budget */
        unsigned backoff_ms; /* the next backoff; 0 before the first */
        unsigned hops;       /* immediate resends in a row */
        unsigned unknowns;   /* OUTCOME_UNKNOWN answers */
        unsigned attempts;   /* attempts sent */
        bool write;          /* PUT, DELETE or CAS */
        bool maybe_applied;  /* a write attempt may have been applied */
        bool elsewhere;      /* reads: an untried replica can take the next attempt now */
        int status;          /* the last failure (see retry_status); TKV_OK: none yet */
};

void retry_init(struct retry *r, bool write, int64_t deadline_ms);

/* The envelope timeout_ms of an attempt sent at now_ms: the time left, at
 * least 1 (0 would mean the server's default). */
uint32_t retry_attempt_timeout_ms(const struct retry *r, int64_t now_ms);

/* WriteOptions.retry for the next attempt. */
static inline bool retry_flag(const struct retry *r)
{
        return r->write && r->maybe_applied;
}

/* Record how an attempt ended (status: the server's, for RETRY_END_ANSWER)
 * and say what to do next; for RETRY_LATER, *at_ms is when. has_hint: a
 * NOT_LEADER answer named the leader. */
enum retry_action retry_next(struct retry *r, enum retry_end end, int status, bool has_hint,
                             int64_t now_ms, int64_t *at_ms);

/* The deadline passed with an attempt on the wire (sent: some of it was
 * written) and no answer. Records it, so that retry_status() says what to
 * report. */
void retry_expire(struct retry *r, bool sent);

/* What a request that gives up reports (see the top of this file). */
int retry_status(const struct retry *r);

/* Whether the server's status calls for a fresh partition map. */
bool retry_wants_refresh(enum retry_end end, int status, bool has_hint);

#endif
