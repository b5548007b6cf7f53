/* Retries and idempotency: what the end of an attempt means for a keyed
 * request. retry.c holds the policy (deliver, resend now, back off, give
 * up) as pure code; this file tells it what the client knows (a map
 * refresh for stale routes, whether a spread read has another replica),
 * records what an answer says (a leader hint, the token, a replica's
 * health) and carries the decision out. A write keeps its (client_id, seq)
 * on every attempt (client_async.c gives it the sequence number), so the
 * servers apply it once however often it is resent, and a write that may
 * have been applied is reported as its answer or OUTCOME_UNKNOWN only. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

/* Complete keyed request r with what retry_status() says, when no more
 * attempts fit before its deadline. res (borrowed, may be NULL) is the last
 * answer, whose fields (a leader hint) are passed on. */
void client_retry_give_up(struct tkv_client *c, struct client_req *r, const struct tkv_result *res)
{
        char msg[CLIENT_ERRMSG_BYTES];
        struct tkv_result out;
        unsigned n = r->retry.attempts;
        int status = retry_status(&r->retry);

        if (n == 0 && r->retry.status == TKV_OK) {
                snprintf(msg, sizeof(msg), "%s: no answer within %u ms (never sent)", r->op,
                         r->timeout_ms);
        } else if (n == 0) {
                snprintf(msg, sizeof(msg), "%s: could not be sent within %u ms (%s%s%.200s)", r->op,
                         r->timeout_ms, tkv_status_name(r->retry.status),
                         r->msg[0] != '\0' ? ": " : "", r->msg);
        } else {
                snprintf(msg, sizeof(msg),
                         "%s: gave up after %u attempt%s within %u ms (last: %s%s%.200s)%s", r->op,
                         n, n == 1 ? "" : "s", r->timeout_ms, tkv_status_name(r->retry.status),
                         r->msg[0] != '\0' ? ": " : "", r->msg,
                         status == TKV_OUTCOME_UNKNOWN
                             ? "; the write may or may not have been applied"
                             : "");
        }
        if (res != NULL) {
                out = *res;
        } else {
                memset(&out, 0, sizeof(out));
                out.receipt.staleness_ms = -1;
        }
        out.status = status;
        out.message = msg;
        client_req_complete(c, r, &out);
}

/* What retry.c says after an attempt of keyed request r ended; asks for a
 * fresh map when the failure suggests the map is stale. */
static enum retry_action client_retry_decide(struct tkv_client *c, struct client_req *r,
                                             enum retry_end end, int status, bool has_hint,
                                             int64_t *at_ms)
{
        if (retry_wants_refresh(end, status, has_hint)) {
                client_route_refresh_map(c, false);
        }
        r->retry.elsewhere = client_route_has_elsewhere(c, r);
        return retry_next(&r->retry, end, status, has_hint, client_now_ms(), at_ms);
}

/* An attempt of keyed request r ended without an answer to deliver (r->msg
 * says why): resend, back off or give up. */
void client_retry_ended(struct tkv_client *c, struct client_req *r, enum retry_end end, int status)
{
        int64_t at_ms = 0;

        if (end == RETRY_END_LOST || end == RETRY_END_REFUSED) {
                client_route_note_tried(r);
        }
        switch (client_retry_decide(c, r, end, status, false, &at_ms)) {
        case RETRY_NOW:
                client_route_req(c, r);
                break;
        case RETRY_LATER:
                client_req_park(c, r, CLIENT_BACKOFF, &c->backoff, at_ms);
                break;
        case RETRY_DELIVER:
        case RETRY_GIVE_UP:
                client_retry_give_up(c, r, NULL);
                break;
        }
}

/* Record what an answer from p says about p, r's partition and the
 * session: the leader it names (NOT_LEADER, BOUND_UNMET), its token delta,
 * and for spread reads whether p could serve. Returns whether a NOT_LEADER
 * hint was kept (retry.c follows it at once). */
static bool client_retry_absorb(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                                const struct tkv_result *res, const struct codec_extra *x)
{
        bool named = (res->status == TKV_NOT_LEADER || res->status == TKV_BOUND_UNMET) &&
                     res->leader_id != 0;
        bool has_hint = named && res->status == TKV_NOT_LEADER;
        uint64_t updates = c->map.updates;

        if (named && map_hint(&c->map, r->partition, res->leader_id, x->leader_addr) != TKV_OK) {
                has_hint = false; /* the hinted address could not be kept */
        }
        if (c->map.updates != updates) {
                client_route_wake_moved(c);
        }
        client_token_absorb(c, x->token, x->token_len);
        if (p != NULL && (res->status == TKV_UNAVAILABLE || res->status == TKV_BUSY)) {
                p->unhealthy_ms = client_now_ms();
        }
        switch (res->status) {
        case TKV_NOT_LEADER:
        case TKV_UNAVAILABLE:
        case TKV_NO_QUORUM:
        case TKV_BUSY:
        case TKV_TIMEOUT:
                client_route_note_tried(r);
                break;
        default:
                break;
        }
        return has_hint;
}

/* The answer to an attempt of keyed request r, from p. */
void client_retry_on_answer(struct tkv_client *c, struct client_req *r, struct client_peer *p,
                            const struct tkv_result *res, const struct codec_extra *x)
{
        bool has_hint = client_retry_absorb(c, r, p, res, x);
        int64_t at_ms = 0;

        snprintf(r->msg, sizeof(r->msg), "%s", res->message);
        switch (client_retry_decide(c, r, RETRY_END_ANSWER, res->status, has_hint, &at_ms)) {
        case RETRY_DELIVER:
                client_req_complete(c, r, res);
                break;
        case RETRY_GIVE_UP:
                client_retry_give_up(c, r, res);
                break;
        case RETRY_NOW:
                client_route_req(c, r);
                break;
        case RETRY_LATER:
                client_req_park(c, r, CLIENT_BACKOFF, &c->backoff, at_ms);
                break;
        }
}
