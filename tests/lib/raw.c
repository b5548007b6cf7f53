#include "raw.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "keyhash.h"
#include "keys.h"
#include "peerauth.h"

int raw_connect_addr(const char *addr, bool small_buffers)
{
        struct sockaddr_in sa;
        struct timeval tv = {20, 0};
        char host[64];
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char *colon;

        snprintf(host, sizeof host, "%s", addr);
        colon = strrchr(host, ':');
        assert_non_null(colon);
        *colon = '\0';
        if (small_buffers) {
                int bytes = 64 * 1024;
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
        }
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
        inet_pton(AF_INET, host, &sa.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return fd;
}

void raw_write(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                assert_true(n > 0);
                p += n;
                len -= (size_t)n;
        }
}

void raw_frame_request(struct buffer *out, const Tunekv__V1__Request *req)
{
        size_t len = tunekv__v1__request__get_packed_size(req);
        uint8_t *p;
        assert_int_equal(buffer_reserve(out, 4 + len), 0);
        p = buffer_extend(out, 4 + len);
        put_be32(p, (uint32_t)len);
        tunekv__v1__request__pack(req, p + 4);
}

void raw_send_request(int fd, const Tunekv__V1__Request *req)
{
        struct buffer b;
        buffer_init(&b);
        raw_frame_request(&b, req);
        raw_write(fd, buffer_data(&b), buffer_len(&b));
        buffer_free(&b);
}

bool raw_read_exact(int fd, void *out, size_t len)
{
        uint8_t *p = out;
        while (len > 0) {
                ssize_t n = recv(fd, p, len, 0);
                if (n <= 0) {
                        return false;
                }
                p += n;
                len -= (size_t)n;
        }
        return true;
}

Tunekv__V1__Response *raw_read_response(int fd)
{
        uint8_t h[4];
        uint8_t *body;
        uint32_t len;
        Tunekv__V1__Response *r;

        if (!raw_read_exact(fd, h, 4)) {
                return NULL;
        }
        len = get_be32(h);
        assert_true(len < (64u << 20));
        body = malloc(len + 1);
        assert_non_null(body);
        assert_true(raw_read_exact(fd, body, len));
        r = tunekv__v1__response__unpack(NULL, len, body);
        free(body);
        assert_non_null(r); /* whatever we send, answers are well-formed */
        return r;
}

bool raw_closed_silently(int fd)
{
        uint8_t byte;
        ssize_t n = recv(fd, &byte, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
}

struct peerauth_layout raw_layout_of(const char *conf)
{
        struct config cfg;
        struct peerauth_layout l;
        char err[ERR_MSG_BYTES];
        char *argv[] = {"tunekvd", "--config", (char *)conf, "--node-id", "1", "--insecure", "1"};
        assert_int_equal(config_load(&cfg, 7, argv, err), 0);
        config_layout(&cfg, &l);
        return l;
}

int raw_peer_handshake(int fd, const struct raw_peer *p, uint8_t *hello, uint8_t *proof,
                       size_t *proof_len)
{
        struct keys_ring ring;
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        uint8_t out[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t len = 0;
        struct peerauth a;
        int rv;

        assert_int_equal(keys_ring_derive(&ring, p->secret, p->previous, p->cluster, KEYS_PEER), 0);
        assert_int_equal(peerauth_hello(&a, &ring, key_hash(p->cluster, strlen(p->cluster)),
                                        p->group, p->from, p->to),
                         0);
        raw_write(fd, a.hello, sizeof a.hello);
        if (hello != NULL) {
                memcpy(hello, a.hello, sizeof a.hello);
        }
        if (!raw_read_exact(fd, challenge, sizeof challenge)) {
                return TKV_ECONN;
        }
        rv = peerauth_prove(&a, challenge, p->incarnation, &p->layout, p->address, out, &len);
        if (rv != 0) {
                return rv;
        }
        raw_write(fd, out, len);
        if (proof != NULL) {
                memcpy(proof, out, len);
                *proof_len = len;
        }
        return 0;
}

/* ---- A TLS connection as a plaintext socket ---- */

static bool raw_send_all(int fd, const uint8_t *data, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
                if (n <= 0) {
                        return false;
                }
                data += n;
                len -= (size_t)n;
        }
        return true;
}

static bool raw_tls_flush(struct raw_tls_proxy *p)
{
        bool ok = raw_send_all(p->tcp, buffer_data(&p->tls.out), buffer_len(&p->tls.out));
        buffer_reset(&p->tls.out);
        return ok;
}

/* Records from the node: their plaintext goes to the test. */
static bool raw_tls_from_node(struct raw_tls_proxy *p, uint8_t *buf, size_t cap)
{
        ssize_t n = recv(p->tcp, buf, cap, 0);
        if (n <= 0 || buffer_append(&p->tls.in, buf, (size_t)n) != 0) {
                return false;
        }
        for (;;) {
                size_t got;
                int rv = tls_read(&p->tls, buf, cap, &got);
                if (rv == TKV_EAGAIN) {
                        return raw_tls_flush(p); /* handshake messages */
                }
                if (rv != 0 || !raw_send_all(p->inner, buf, got)) {
                        return false;
                }
        }
}

/* Plaintext from the test: sealed into records for the node. */
static bool raw_tls_from_test(struct raw_tls_proxy *p, uint8_t *buf, size_t cap)
{
        ssize_t n = recv(p->inner, buf, cap, 0);
        if (n <= 0 || tls_write(&p->tls, buf, (size_t)n) != 0) {
                return false;
        }
        return raw_tls_flush(p);
}

static void *raw_tls_run(void *arg)
{
        struct raw_tls_proxy *p = arg;
        uint8_t buf[16384];
        bool ok = raw_tls_flush(p); /* the ClientHello */

        while (ok) {
                struct pollfd fds[2] = {{p->tcp, POLLIN, 0}, {p->inner, POLLIN, 0}};
                if (poll(fds, 2, 30000) <= 0) {
                        break;
                }
                if (fds[0].revents != 0) {
                        ok = raw_tls_from_node(p, buf, sizeof buf);
                }
                if (ok && fds[1].revents != 0) {
                        ok = raw_tls_from_test(p, buf, sizeof buf);
                }
        }
        shutdown(p->inner, SHUT_RDWR);
        shutdown(p->tcp, SHUT_RDWR);
        return NULL;
}

void raw_tls_proxy_open(struct raw_tls_proxy *p, const char *addr, const char *dir,
                        const char *name)
{
        char cert[512], key[512], ca[512], err[256];
        struct tls_ctx_config cfg = {TLS_CLIENT, cert, key, ca, false, NULL};
        struct timeval tv = {20, 0};
        int sv[2];

        snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
        snprintf(key, sizeof key, "%s/%s.key", dir, name);
        snprintf(ca, sizeof ca, "%s/ca.pem", dir);
        memset(p, 0, sizeof *p);
        assert_int_equal(tls_ctx_new(&cfg, &p->ctx, err, sizeof err), 0);
        assert_int_equal(tls_init(&p->tls, p->ctx, "127.0.0.1"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        p->fd = sv[0];
        p->inner = sv[1];
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        p->tcp = raw_connect_addr(addr, false);
        assert_int_equal(pthread_create(&p->thread, NULL, raw_tls_run, p), 0);
}

void raw_tls_proxy_close(struct raw_tls_proxy *p)
{
        shutdown(p->fd, SHUT_RDWR); /* the thread sees an end of file */
        pthread_join(p->thread, NULL);
        close(p->fd);
        close(p->inner);
        close(p->tcp);
        tls_free(&p->tls);
        tls_ctx_free(p->ctx);
}
