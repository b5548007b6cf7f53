/* tkv_lease_grant, _keepalive, _revoke, _info, _list (include/tunekv.h).
 *
 * Like client_member.c: a connection of its own per call (AUTH first, as on
 * every link), one LEASE request, its answer, close. Any node serves it: a
 * node that does not lead the lease's partition forwards the request to
 * the one that does. The request goes to the first endpoint that accepts a
 * connection. An answer saying the partition has no leader to serve it
 * (NOT_LEADER, UNAVAILABLE, NO_QUORUM: nothing was done) is retried with
 * backoff; nothing else is, since a GRANT whose outcome is unknown and sent
 * again could make two leases (a lock holder keeps alive at a fraction of
 * the TTL, so a lost keepalive is made up by the next one). */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "heap.h"
#include "pballoc.h"
#include "tunekv.pb-c.h"

/* What an answer is decoded into. */
struct client_lease_answer {
        char *message; /* the server's message (or ours), message_len bytes */
        size_t message_len;
        struct tkv_lease *one;   /* GRANT, KEEPALIVE, INFO: filled; may be NULL */
        struct tkv_lease **list; /* LIST: allocated here */
        size_t *n_list;          /* LIST: its length */
};

/* INFO's keys into l (each its own allocation). */
static int client_lease_keys(const Tunekv__V1__LeaseResponse *lr, struct tkv_lease *l)
{
        l->keys = tkv_calloc(lr->n_keys + 1, sizeof(*l->keys));
        l->key_lens = tkv_calloc(lr->n_keys + 1, sizeof(*l->key_lens));
        if (l->keys == NULL || l->key_lens == NULL) {
                return TKV_NO_MEMORY;
        }
        for (size_t i = 0; i < lr->n_keys; i++) {
                l->keys[i] = tkv_malloc(lr->keys[i].len + 1);
                if (l->keys[i] == NULL) {
                        return TKV_NO_MEMORY;
                }
                memcpy(l->keys[i], lr->keys[i].data, lr->keys[i].len);
                ((char *)l->keys[i])[lr->keys[i].len] = '\0';
                l->key_lens[i] = lr->keys[i].len;
                l->n_keys_listed = (uint32_t)i + 1;
        }
        return TKV_OK;
}

static int client_lease_fill_list(const Tunekv__V1__LeaseResponse *lr,
                                  struct client_lease_answer *a)
{
        *a->list = tkv_calloc(lr->n_leases + 1, sizeof(**a->list));
        if (*a->list == NULL) {
                return TKV_NO_MEMORY;
        }
        for (size_t i = 0; i < lr->n_leases; i++) {
                struct tkv_lease *l = &(*a->list)[i];
                l->id = lr->leases[i]->id;
                l->ttl_ms = lr->leases[i]->ttl_ms;
                l->remaining_ms = lr->leases[i]->remaining_ms;
                l->n_keys = lr->leases[i]->keys;
                l->partition = lr->partition;
        }
        *a->n_list = lr->n_leases;
        return TKV_OK;
}

static int client_lease_fill(const Tunekv__V1__LeaseResponse *lr, struct client_lease_answer *a)
{
        struct tkv_lease *l = a->one;

        if (a->list != NULL) {
                return client_lease_fill_list(lr, a);
        }
        if (l == NULL) {
                return TKV_OK;
        }
        l->id = lr->id;
        l->ttl_ms = lr->ttl_ms;
        l->remaining_ms = lr->remaining_ms;
        l->partition = lr->partition;
        l->n_keys = lr->keys_total;
        return lr->n_keys > 0 ? client_lease_keys(lr, l) : TKV_OK;
}

static int client_lease_decode(void *arg, const uint8_t *body, size_t len)
{
        struct client_lease_answer *a = arg;
        struct pballoc pb;
        Tunekv__V1__Response *resp;
        int rv;

        resp = codec_unpack_oneshot(&pb, body, len, &rv, a->message, a->message_len);
        if (resp == NULL) {
                return TKV_PROTOCOL_ERROR;
        }
        if (rv == TKV_OK) {
                rv = resp->body_case == TUNEKV__V1__RESPONSE__BODY_LEASE
                         ? client_lease_fill(resp->lease, a)
                         : TKV_PROTOCOL_ERROR;
        }
        tunekv__v1__response__free_unpacked(resp, &pb.base);
        return rv;
}

/* Attempts of one call while the partition has no leader to serve it
 * (an election, a leadership transfer): NOT_LEADER, UNAVAILABLE and
 * NO_QUORUM mean the request was not carried out, so sending it again is
 * safe, GRANT included. 50 ms doubling to 800 ms: about 5 s in all. */
#define CLIENT_LEASE_ATTEMPTS 10

static bool client_lease_retryable(int rv)
{
        return rv == TKV_NOT_LEADER || rv == TKV_UNAVAILABLE || rv == TKV_NO_QUORUM;
}

static void client_lease_backoff(unsigned attempt)
{
        unsigned ms = 50u << (attempt < 4 ? attempt : 4);
        struct timespec ts = {0, (long)ms * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
}

/* The frame to the first endpoint that takes a connection; its answer
 * decoded into a. */
static int client_lease_send(struct tkv_client *c, const struct buffer *frame,
                             struct client_lease_answer *a)
{
        int rv = TKV_CONNECT_FAILED;

        for (unsigned i = 0; i < c->n_endpoints; i++) {
                rv = client_oneshot(c, &c->peers[i]->addr, frame, client_lease_decode, a,
                                    a->message, a->message_len);
                if (rv != TKV_CONNECT_FAILED) {
                        break;
                }
        }
        return rv;
}

/* Send lr (retrying while its partition has no leader); decode into a. */
static int client_lease_call(struct tkv_client *c, Tunekv__V1__LeaseRequest *lr,
                             struct client_lease_answer *a, char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        struct buffer frame;
        int rv;

        if (c == NULL) {
                return TKV_USAGE_ERROR;
        }
        msg.id = 1;
        msg.timeout_ms = c->timeout_ms;
        msg.body_case = TUNEKV__V1__REQUEST__BODY_LEASE;
        msg.lease = lr;
        buffer_init(&frame);
        rv = codec_frame_request(&frame, &msg);
        for (unsigned attempt = 0; rv == TKV_OK; attempt++) {
                rv = client_lease_send(c, &frame, a);
                if (!client_lease_retryable(rv) || attempt + 1 >= CLIENT_LEASE_ATTEMPTS) {
                        break;
                }
                client_lease_backoff(attempt);
                rv = TKV_OK;
        }
        buffer_free(&frame);
        if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s", a->message);
        }
        if (errbuf != NULL && errbuf_len > 0) {
                snprintf(errbuf, errbuf_len, "%s", rv == TKV_OK ? "" : a->message);
        }
        return rv;
}

int tkv_lease_grant(struct tkv_client *c, uint64_t ttl_ms, const void *tag, size_t tag_len,
                    struct tkv_lease *out, char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__LeaseRequest lr = TUNEKV__V1__LEASE_REQUEST__INIT;
        char message[512] = "";
        struct client_lease_answer a = {message, sizeof(message), out, NULL, NULL};

        if (out != NULL) {
                memset(out, 0, sizeof(*out));
        }
        lr.op = TUNEKV__V1__LEASE_OP__LEASE_GRANT;
        lr.ttl_ms = ttl_ms;
        lr.key.data = (uint8_t *)tag;
        lr.key.len = tag != NULL ? tag_len : 0;
        return client_lease_call(c, &lr, &a, errbuf, errbuf_len);
}

int tkv_lease_keepalive(struct tkv_client *c, uint64_t id, struct tkv_lease *out, char *errbuf,
                        size_t errbuf_len)
{
        Tunekv__V1__LeaseRequest lr = TUNEKV__V1__LEASE_REQUEST__INIT;
        char message[512] = "";
        struct client_lease_answer a = {message, sizeof(message), out, NULL, NULL};

        if (out != NULL) {
                memset(out, 0, sizeof(*out));
        }
        lr.op = TUNEKV__V1__LEASE_OP__LEASE_KEEPALIVE;
        lr.id = id;
        return client_lease_call(c, &lr, &a, errbuf, errbuf_len);
}

int tkv_lease_revoke(struct tkv_client *c, uint64_t id, char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__LeaseRequest lr = TUNEKV__V1__LEASE_REQUEST__INIT;
        char message[512] = "";
        struct client_lease_answer a = {message, sizeof(message), NULL, NULL, NULL};

        lr.op = TUNEKV__V1__LEASE_OP__LEASE_REVOKE;
        lr.id = id;
        return client_lease_call(c, &lr, &a, errbuf, errbuf_len);
}

int tkv_lease_info(struct tkv_client *c, uint64_t id, struct tkv_lease *out, char *errbuf,
                   size_t errbuf_len)
{
        Tunekv__V1__LeaseRequest lr = TUNEKV__V1__LEASE_REQUEST__INIT;
        char message[512] = "";
        struct client_lease_answer a = {message, sizeof(message), out, NULL, NULL};
        int rv;

        if (out == NULL) {
                return TKV_USAGE_ERROR;
        }
        memset(out, 0, sizeof(*out));
        lr.op = TUNEKV__V1__LEASE_OP__LEASE_INFO;
        lr.id = id;
        rv = client_lease_call(c, &lr, &a, errbuf, errbuf_len);
        if (rv != TKV_OK) {
                tkv_lease_release(out);
        }
        return rv;
}

int tkv_lease_list(struct tkv_client *c, uint32_t partition, struct tkv_lease **out, size_t *n,
                   char *errbuf, size_t errbuf_len)
{
        Tunekv__V1__LeaseRequest lr = TUNEKV__V1__LEASE_REQUEST__INIT;
        char message[512] = "";
        struct client_lease_answer a = {message, sizeof(message), NULL, out, n};

        if (out == NULL || n == NULL) {
                return TKV_USAGE_ERROR;
        }
        *out = NULL;
        *n = 0;
        lr.op = TUNEKV__V1__LEASE_OP__LEASE_LIST;
        lr.partition = partition;
        lr.use_partition = true;
        return client_lease_call(c, &lr, &a, errbuf, errbuf_len);
}

void tkv_lease_list_free(struct tkv_lease *list)
{
        tkv_free(list);
}

void tkv_lease_release(struct tkv_lease *l)
{
        if (l == NULL) {
                return;
        }
        for (uint32_t i = 0; l->keys != NULL && i < l->n_keys_listed; i++) {
                tkv_free(l->keys[i]);
        }
        tkv_free(l->keys);
        tkv_free(l->key_lens);
        memset(l, 0, sizeof(*l));
}
