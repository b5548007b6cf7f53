/* The session token the client holds: the client is one session. Each
 * answer's delta is merged in before its callback runs, and a request
 * takes a copy when it is submitted, which every attempt carries. token.c
 * parses, merges and encodes tokens; this file keeps the client's token,
 * its encoding, and the tkv_token_* API over them. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

/* Merge an answer's token delta (borrowed) into the session token. A delta
 * that does not parse is a server bug: it is dropped and counted, and the
 * answer is delivered all the same (its read or write did happen). When the
 * session token is full, the entries merged least recently make room (see
 * token.c). */
void client_token_absorb(struct tkv_client *c, const uint8_t *delta, size_t len)
{
        bool changed = false;

        if (len == 0) {
                return;
        }
        if (token_merge(&c->session, delta, len, true, &changed) != TKV_OK) {
                c->bad_tokens++;
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "token: dropped a token of %zu bytes in an answer: it does not parse",
                         len);
                return;
        }
        if (changed) {
                c->session_len =
                    token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        }
}

size_t tkv_token_get(struct tkv_client *c, void *buf, size_t cap)
{
        if (c == NULL) {
                return 0;
        }
        if (c->session_len > 0 && buf != NULL && cap >= c->session_len) {
                memcpy(buf, c->session_bytes, c->session_len);
        }
        return c->session_len;
}

/* The message for token_set or token_merge failing with rv. */
static int client_token_failed(struct tkv_client *c, const char *op, int rv)
{
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", op,
                 rv == TKV_TOO_LARGE ? "the token would exceed TKV_TOKEN_BYTES_MAX"
                                     : "the token does not parse");
        return rv;
}

int tkv_token_set(struct tkv_client *c, const void *tok, size_t len)
{
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        rv = token_set(&c->session, tok, len);
        if (rv != TKV_OK) {
                return client_token_failed(c, "token_set", rv);
        }
        c->session_len = token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        return TKV_OK;
}

int tkv_token_merge(struct tkv_client *c, const void *tok, size_t len)
{
        bool changed = false;
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        rv = token_merge(&c->session, tok, len, false, &changed);
        if (rv != TKV_OK) {
                return client_token_failed(c, "token_merge", rv);
        }
        if (changed) {
                c->session_len =
                    token_encode(&c->session, c->session_bytes, sizeof(c->session_bytes));
        }
        return TKV_OK;
}

void tkv_token_reset(struct tkv_client *c)
{
        if (c != NULL) {
                token_init(&c->session);
                c->session_len = 0;
        }
}

/* The session token travels with every read whose level is not
 * LINEARIZABLE or that asks for session guarantees, and with every write
 * once the session has one (its dependencies). Each request carries the
 * token as it was when it was submitted, on every attempt: a retried write
 * must be the same write. */
void client_token_attach(const struct tkv_client *c, struct codec_request *req,
                         enum client_kind kind)
{
        const struct tkv_read_options *o = req->read;
        bool attach =
            kind == CLIENT_WRITE || (kind == CLIENT_READ && o != NULL &&
                                     (o->level != TKV_LINEARIZABLE || o->session_flags != 0));

        req->token = attach && c->session_len > 0 ? c->session_bytes : NULL;
        req->token_len = attach ? c->session_len : 0;
}
