/* AUTH on every new link, when the caller gave a user (tkv_options.user).
 *
 * Normal path: right after the connect, before the link is watched or any
 * request goes on it, send AUTH {user, password} and wait in poll(2) for
 * its answer, as link_connect waits for the connect: the server hashes the
 * password off its loop (tens of milliseconds), and a request sent before
 * the answer would be refused UNAUTHENTICATED. Reconnects run it again.
 *
 * Failure modes: a wrong user or password (UNAUTHENTICATED: the caller
 * fails the requests waiting for this peer, since retrying cannot help),
 * the server's AUTH limit (BUSY: retried like a refused connect), the link
 * breaking or the timeout passing (CONNECTION_CLOSED, TIMEOUT). */
#include "client_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "heap.h"

#define CLIENT_PASSWORD_BYTES_MAX 1024 /* the server's AUTH_PASSWORD_BYTES_MAX */

/* Overwrite len bytes at p in a way the compiler may not drop (libtunekv
 * does not link OpenSSL for OPENSSL_cleanse). */
static void client_auth_wipe(void *p, size_t len)
{
        volatile uint8_t *v = p;

        while (len-- > 0) {
                *v++ = 0;
        }
}

int client_auth_configure(struct tkv_client *c, const char *user, const char *password)
{
        size_t len = password != NULL ? strlen(password) : 0;

        if (user == NULL || user[0] == '\0') {
                return TKV_OK;
        }
        if (strlen(user) >= sizeof(c->user) || len > CLIENT_PASSWORD_BYTES_MAX) {
                snprintf(c->errmsg, sizeof(c->errmsg),
                         "user names are at most %zu bytes, passwords at most %u",
                         sizeof(c->user) - 1, CLIENT_PASSWORD_BYTES_MAX);
                return TKV_USAGE_ERROR;
        }
        c->password = tkv_malloc(len + 1);
        if (c->password == NULL) {
                snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
                return TKV_NO_MEMORY;
        }
        memcpy(c->password, password != NULL ? password : "", len + 1);
        c->password_len = len;
        snprintf(c->user, sizeof(c->user), "%s", user);
        return TKV_OK;
}

void client_auth_forget(struct tkv_client *c)
{
        if (c->password != NULL) {
                client_auth_wipe(c->password, c->password_len);
                tkv_free(c->password);
                c->password = NULL;
        }
}

/* What the AUTH answer said. */
struct client_auth_answer {
        bool seen;
        int status;
        char message[CLIENT_ERRMSG_BYTES];
};

static void client_auth_on_answer(void *arg, uint64_t id, enum codec_body body,
                                  const struct tkv_result *res, const struct codec_extra *extra)
{
        struct client_auth_answer *a = arg;

        (void)id;
        (void)body;
        (void)extra;
        a->seen = true;
        a->status = res->status;
        snprintf(a->message, sizeof(a->message), "%s", res->message);
}

/* Wait for p's link to be readable or writable (as it needs) until
 * deadline_ms: TKV_OK, TKV_TIMEOUT or TKV_CONNECTION_CLOSED. */
static int client_auth_wait(struct client_peer *p, int64_t deadline_ms)
{
        struct pollfd pfd;
        int64_t left_ms = deadline_ms - client_now_ms();
        int n;

        if (left_ms <= 0) {
                return TKV_TIMEOUT;
        }
        pfd.fd = p->link.fd;
        pfd.events = (short)(POLLIN | (link_wants_write(&p->link) ? POLLOUT : 0));
        pfd.revents = 0;
        n = poll(&pfd, 1, left_ms > 60000 ? 60000 : (int)left_ms);
        if (n < 0 && errno != EINTR) {
                return TKV_CONNECTION_CLOSED;
        }
        return TKV_OK;
}

int client_auth_frame(struct tkv_client *c, struct client_peer *p, const uint8_t **body,
                      size_t *len)
{
        return client_link_frame_by(p, client_now_ms() + c->timeout_ms, body, len);
}

int client_link_frame_by(struct client_peer *p, int64_t deadline_ms, const uint8_t **body,
                         size_t *len)
{
        int rv;

        for (;;) {
                if (link_frame(&p->link, body, len) != 0) {
                        return TKV_PROTOCOL_ERROR;
                }
                if (*body != NULL) {
                        return TKV_OK;
                }
                if (link_flush(&p->link) != 0 || link_read(&p->link) != 0) {
                        return TKV_CONNECTION_CLOSED;
                }
                if (link_frame(&p->link, body, len) != 0) {
                        return TKV_PROTOCOL_ERROR;
                }
                if (*body != NULL) {
                        return TKV_OK;
                }
                rv = client_auth_wait(p, deadline_ms);
                if (rv != TKV_OK) {
                        return rv;
                }
        }
}

/* Flush and read p's link until the AUTH answer is whole in its input. */
static int client_auth_exchange(struct tkv_client *c, struct client_peer *p,
                                struct client_auth_answer *a)
{
        const uint8_t *body;
        size_t len;
        int rv = client_auth_frame(c, p, &body, &len);

        if (rv != TKV_OK) {
                return rv;
        }
        rv = codec_decode_response(body, len, client_auth_on_answer, a);
        link_frame_done(&p->link, len);
        return rv;
}

int client_auth_link(struct tkv_client *c, struct client_peer *p)
{
        struct client_auth_answer a;
        struct buffer frame;
        int rv;

        if (c->user[0] == '\0') {
                return TKV_OK;
        }
        memset(&a, 0, sizeof(a));
        buffer_init(&frame);
        rv = codec_encode_auth(&frame, 0, c->user, c->password, c->password_len);
        if (rv == TKV_OK && link_queue(&p->link, buffer_data(&frame), buffer_len(&frame)) != 0) {
                rv = TKV_NO_MEMORY;
        }
        if (buffer_len(&frame) > 0) {
                client_auth_wipe(buffer_data(&frame), buffer_len(&frame));
        }
        buffer_free(&frame);
        if (rv == TKV_OK) {
                rv = client_auth_exchange(c, p, &a);
        }
        if (rv == TKV_OK && a.status != TKV_OK) {
                rv = a.status;
        }
        if (rv != TKV_OK) {
                snprintf(c->errmsg, sizeof(c->errmsg), "AUTH as %s at %.100s: %.200s", c->user,
                         p->addr.name,
                         a.seen ? a.message
                         : rv == TKV_TIMEOUT
                             ? "no answer in time"
                             : (p->link.errmsg[0] != '\0' ? p->link.errmsg : "connection lost"));
        }
        return rv;
}

int client_oneshot(struct tkv_client *c, const struct client_endpoint *e,
                   const struct buffer *frame, client_oneshot_decode decode, void *arg,
                   char *message, size_t message_len)
{
        struct client_peer p;
        const uint8_t *body;
        size_t len;
        int rv;

        memset(&p, 0, sizeof(p));
        p.addr = *e;
        link_init(&p.link);
        if (link_connect(&p.link, e->host, e->port, c->connect_timeout_ms, c->tls,
                         c->tls_server_name[0] != '\0' ? c->tls_server_name : NULL) != 0) {
                snprintf(message, message_len, "cannot connect to %.100s: %.120s", e->name,
                         p.link.errmsg);
                link_close(&p.link);
                return TKV_CONNECT_FAILED;
        }
        rv = client_auth_link(c, &p);
        if (rv != TKV_OK) {
                snprintf(message, message_len, "%.250s", c->errmsg);
        } else if (link_queue(&p.link, buffer_data(frame), buffer_len(frame)) != 0) {
                rv = TKV_NO_MEMORY;
        } else if ((rv = client_auth_frame(c, &p, &body, &len)) == TKV_OK) {
                rv = decode(arg, body, len);
        } else {
                snprintf(message, message_len, "%.100s: no answer (%s)", e->name,
                         tkv_status_name(rv));
        }
        link_close(&p.link);
        return rv;
}
