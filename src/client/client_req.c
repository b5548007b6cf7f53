/* The life of one request, whatever its kind: made with copies of its
 * bytes and a wake-up in the client's deadline heap, moved between the
 * lists of its states (the table in client.c), matched to its answer by
 * id, and completed exactly once: its callback runs with a borrowed result
 * and the request is freed. What an answer means for the next attempt is
 * client_retry.c's (keyed requests) or client_route.c's (a map) business. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "heap.h"

/* A request with copies of key, value and token (borrowed; token_len 0:
 * none), in the heap at its deadline and on no list; NULL when out of
 * memory. */
struct client_req *client_req_new(struct tkv_client *c, enum client_kind kind, enum codec_op code,
                                  const char *op, unsigned timeout_ms,
                                  const struct codec_request *req)
{
        struct client_req *r =
            tkv_calloc(1, sizeof(*r) + req->key_len + req->value_len + req->token_len);
        uint8_t *data;

        if (r == NULL) {
                return NULL;
        }
        data = (uint8_t *)(r + 1);
        if (req->key_len > 0) {
                memcpy(data, req->key, req->key_len);
        }
        if (req->value_len > 0) {
                memcpy(data + req->key_len, req->value, req->value_len);
        }
        if (req->token_len > 0) {
                memcpy(data + req->key_len + req->value_len, req->token, req->token_len);
                r->token = data + req->key_len + req->value_len;
                r->token_len = req->token_len;
        }
        r->key = data;
        r->key_len = req->key_len;
        r->value = req->value != NULL ? data + req->key_len : NULL;
        r->value_len = req->value_len;
        r->kind = kind;
        r->code = code;
        r->op = op;
        r->state = CLIENT_DETACHED;
        r->timeout_ms = timeout_ms;
        r->first_endpoint = c->endpoint_next;
        queue_init(&r->q);
        retry_init(&r->retry, kind == CLIENT_WRITE, client_now_ms() + timeout_ms);
        r->wake.at_ms = (uint64_t)r->retry.deadline_ms;
        if (deadline_heap_push(&c->wakes, &r->wake) != 0) {
                tkv_free(r);
                return NULL;
        }
        return r;
}

/* Take r off the list of its state (and an attempt's id out of the id
 * map); it stays in the heap. */
void client_req_unlist(struct tkv_client *c, struct client_req *r)
{
        switch (r->state) {
        case CLIENT_QUEUED:
                r->peer->n_queued--;
                break;
        case CLIENT_INFLIGHT:
                r->peer->n_inflight--;
                client_ids_del(c, r->id);
                r->id = 0;
                break;
        default:
                break;
        }
        queue_remove(&r->q);
        r->state = CLIENT_DETACHED;
        r->peer = NULL;
}

/* Put r on list in state, to wake at wake_ms. */
void client_req_park(struct tkv_client *c, struct client_req *r, enum client_state state,
                     struct queue *list, int64_t wake_ms)
{
        client_req_unlist(c, r);
        r->state = state;
        queue_push_tail(list, &r->q);
        client_wake_move(c, r, wake_ms);
}

/* Run r's callback with res (borrowed) and free r. */
void client_req_complete(struct tkv_client *c, struct client_req *r, const struct tkv_result *res)
{
        client_req_unlist(c, r);
        deadline_heap_remove(&c->wakes, &r->wake);
        if (r->internal) {
                c->n_internal--;
        } else {
                c->n_pending--;
                c->completions++;
        }
        c->dispatching++;
        r->cb(c, res, r->arg);
        c->dispatching--;
        tkv_free(r);
}

void client_req_fail(struct tkv_client *c, struct client_req *r, int status, const char *message)
{
        struct tkv_result res;

        memset(&res, 0, sizeof(res));
        res.status = status;
        res.message = message;
        res.receipt.staleness_ms = -1;
        client_req_complete(c, r, &res);
}

static bool client_req_body_fits(enum client_kind kind, enum codec_op code, enum codec_body body)
{
        switch (kind) {
        case CLIENT_READ:
                return body == (code == CODEC_GET_MANY ? CODEC_BODY_GET_MANY
                                : code == CODEC_SCAN   ? CODEC_BODY_SCAN
                                                       : CODEC_BODY_GET);
        case CLIENT_WRITE:
                return body == (code == CODEC_TXN ? CODEC_BODY_TXN : CODEC_BODY_WRITE);
        case CLIENT_STATUS:
                return body == CODEC_BODY_STATUS;
        case CLIENT_INFO:
                return body == CODEC_BODY_CLUSTER;
        }
        return false;
}

/* An OK answer without the body its request needs. */
static void client_req_wrong_body(struct tkv_client *c, struct client_req *r)
{
        char msg[CLIENT_ERRMSG_BYTES];
        bool write = r->kind == CLIENT_WRITE;

        snprintf(msg, sizeof(msg), "%s: the server answered OK without the expected result%s",
                 r->op, write ? "; the write may or may not have been applied" : "");
        client_req_fail(c, r, write ? TKV_OUTCOME_UNKNOWN : TKV_PROTOCOL_ERROR, msg);
}

/* codec_response_cb: the attempt the answer is for ends. */
void client_req_on_response(void *arg, uint64_t id, enum codec_body body,
                            const struct tkv_result *res, const struct codec_extra *x)
{
        struct tkv_client *c = arg;
        size_t slot = id != 0 ? client_ids_find(c, id) : SIZE_MAX;
        struct client_req *r;
        struct client_peer *p;

        if (slot == SIZE_MAX) {
                c->unknown_answers++;
                if (id == 0 && res->status != TKV_OK) {
                        snprintf(c->refusal, sizeof c->refusal, "%s: %s",
                                 tkv_status_name(res->status), res->message);
                }
                return;
        }
        r = c->slots[slot].req;
        p = r->peer;
        client_req_unlist(c, r);
        if (x->epoch > c->map_epoch && c->map.valid) {
                /* The cluster map changed since ours (a replica moved): the
                 * node served or forwarded this one; fetch the map so that
                 * the next go straight to the right place. */
                client_route_refresh_map(c, false);
        }
        client_peer_rtt_sample(p, r, res->status);
        if (res->status == TKV_OK && !client_req_body_fits(r->kind, r->code, body)) {
                client_req_wrong_body(c, r);
        } else if (client_is_keyed(r)) {
                client_retry_on_answer(c, r, p, res, x);
        } else if (r->kind == CLIENT_INFO) {
                if (p->endpoint) {
                        c->endpoint_next = client_peer_index(c, p);
                }
                client_route_on_info(c, r, p, res);
        } else {
                if (p->endpoint && r->status_node == 0) {
                        c->endpoint_next = client_peer_index(c, p);
                }
                client_req_complete(c, r, res);
        }
}
