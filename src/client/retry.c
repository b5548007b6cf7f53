/* Retry policy of libtunekv's keyed requests; the table is in retry.h. */
#include "retry.h"

#include "tunekv.h"

void retry_init(struct retry *r, bool write, int64_t deadline_ms)
{
        r->deadline_ms = deadline_ms;
        r->backoff_ms = 0;
        r->hops = 0;
        r->unknowns = 0;
        r->attempts = 0;
        r->write = write;
        r->maybe_applied = false;
        r->elsewhere = false;
        r->status = TKV_OK;
}

uint32_t retry_attempt_timeout_ms(const struct retry *r, int64_t now_ms)
{
        int64_t left_ms = r->deadline_ms - now_ms;

        if (left_ms < 1) {
                return 1;
        }
        return left_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)left_ms;
}

/* Statuses after which nothing was applied and another attempt, later or
 * elsewhere, may succeed. */
static bool retry_status_transient(int status)
{
        switch (status) {
        case TKV_NOT_LEADER:
        case TKV_UNAVAILABLE:
        case TKV_NO_QUORUM:
        case TKV_BUSY:
        case TKV_TIMEOUT:
                return true;
        default:
                return false;
        }
}

bool retry_wants_refresh(enum retry_end end, int status, bool has_hint)
{
        switch (end) {
        case RETRY_END_ANSWER:
                return (status == TKV_NOT_LEADER && !has_hint) || status == TKV_UNAVAILABLE ||
                       status == TKV_NO_QUORUM || status == TKV_BUSY;
        case RETRY_END_LOST:
        case RETRY_END_REFUSED:
                return true;
        case RETRY_END_UNSENT:
        case RETRY_END_NO_ROUTE:
                return false;
        }
        return false;
}

/* Record a failure the client saw itself (no connection, a lost one): it
 * does not hide what a server said before, which tells more (a partition
 * with no quorum whose other replicas are down reports NO_QUORUM, not the
 * refused connections). */
static void retry_local_failure(struct retry *r, int status)
{
        if (r->status == TKV_OK || r->status == TKV_CONNECT_FAILED ||
            r->status == TKV_CONNECTION_CLOSED) {
                r->status = status;
        }
}

/* Schedule the next attempt after a backoff, or give up when the deadline
 * leaves no room for one. */
static enum retry_action retry_later(struct retry *r, int64_t now_ms, int64_t *at_ms)
{
        int64_t at;

        r->hops = 0;
        r->backoff_ms = r->backoff_ms == 0 ? RETRY_BACKOFF_FIRST_MS : r->backoff_ms * 2;
        if (r->backoff_ms > RETRY_BACKOFF_MAX_MS) {
                r->backoff_ms = RETRY_BACKOFF_MAX_MS;
        }
        at = now_ms + r->backoff_ms;
        if (at > r->deadline_ms - RETRY_LAST_MS) {
                at = r->deadline_ms - RETRY_LAST_MS;
        }
        if (at <= now_ms) {
                return RETRY_GIVE_UP;
        }
        *at_ms = at;
        return RETRY_LATER;
}

/* Resend at once, unless that happened RETRY_HOPS_MAX times in a row. */
static enum retry_action retry_now(struct retry *r, int64_t now_ms, int64_t *at_ms)
{
        if (now_ms >= r->deadline_ms) {
                return RETRY_GIVE_UP;
        }
        if (r->hops >= RETRY_HOPS_MAX) {
                return retry_later(r, now_ms, at_ms);
        }
        r->hops++;
        return RETRY_NOW;
}

static enum retry_action retry_answer(struct retry *r, int status, bool has_hint, int64_t now_ms,
                                      int64_t *at_ms)
{
        if (status == TKV_OUTCOME_UNKNOWN && r->write) {
                r->maybe_applied = true;
                r->status = status;
                r->unknowns++;
                if (r->unknowns >= RETRY_UNKNOWN_MAX) {
                        return RETRY_GIVE_UP;
                }
                return retry_later(r, now_ms, at_ms);
        }
        if (!retry_status_transient(status)) {
                return RETRY_DELIVER;
        }
        r->status = status;
        if ((status == TKV_NOT_LEADER && has_hint) || (!r->write && r->elsewhere)) {
                return retry_now(r, now_ms, at_ms);
        }
        return retry_later(r, now_ms, at_ms);
}

enum retry_action retry_next(struct retry *r, enum retry_end end, int status, bool has_hint,
                             int64_t now_ms, int64_t *at_ms)
{
        switch (end) {
        case RETRY_END_ANSWER:
                return retry_answer(r, status, has_hint, now_ms, at_ms);
        case RETRY_END_UNSENT:
                return retry_now(r, now_ms, at_ms);
        case RETRY_END_LOST:
                r->maybe_applied = r->maybe_applied || r->write;
                retry_local_failure(r, TKV_CONNECTION_CLOSED);
                return r->elsewhere && !r->write ? retry_now(r, now_ms, at_ms)
                                                 : retry_later(r, now_ms, at_ms);
        case RETRY_END_REFUSED:
                retry_local_failure(r, TKV_CONNECT_FAILED);
                return r->elsewhere && !r->write ? retry_now(r, now_ms, at_ms)
                                                 : retry_later(r, now_ms, at_ms);
        case RETRY_END_NO_ROUTE:
                if (status == TKV_CONNECT_FAILED || status == TKV_CONNECTION_CLOSED) {
                        retry_local_failure(r, status);
                } else if (status != TKV_OK) {
                        r->status = status;
                }
                return retry_later(r, now_ms, at_ms);
        }
        return RETRY_GIVE_UP;
}

void retry_expire(struct retry *r, bool sent)
{
        if (!sent) {
                return;
        }
        r->maybe_applied = r->maybe_applied || r->write;
        r->status = TKV_TIMEOUT;
}

int retry_status(const struct retry *r)
{
        if (r->write && r->maybe_applied) {
                return TKV_OUTCOME_UNKNOWN;
        }
        return r->status != TKV_OK ? r->status : TKV_TIMEOUT;
}
