/* TLS over buffers (src/tls.c), two ends in one process: the bytes one
 * side puts in t->out are handed to the other's t->in, as a socket would.
 * Certificates come from scripts/tls-certs.sh --test (the ctest fixture
 * sets TKV_TLS_DIR). Each failure is checked on both sides: the one that
 * detects it and the one that receives its alert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tls.h"

static char tls_dir[512];

static const char *path(const char *name)
{
        static char p[8][600];
        static int next;
        char *out = p[next++ % 8];
        snprintf(out, sizeof p[0], "%s/%s", tls_dir, name);
        return out;
}

struct pair {
        struct tls_ctx *sctx, *cctx;
        struct tls server, client;
        int srv, cli; /* last outcome of each side's handshake */
};

/* Move what each side queued to the other. Returns the bytes moved. */
static size_t pump_once(struct pair *p)
{
        size_t moved = buffer_len(&p->client.out) + buffer_len(&p->server.out);
        assert_int_equal(
            buffer_append(&p->server.in, buffer_data(&p->client.out), buffer_len(&p->client.out)),
            0);
        buffer_reset(&p->client.out);
        assert_int_equal(
            buffer_append(&p->client.in, buffer_data(&p->server.out), buffer_len(&p->server.out)),
            0);
        buffer_reset(&p->server.out);
        return moved;
}

/* Run both handshakes until neither side has anything to send. */
static void handshake(struct pair *p)
{
        for (int i = 0; i < 20; i++) {
                size_t moved = pump_once(p);
                if (p->srv != TKV_EPROTO && p->srv != 0) {
                        p->srv = tls_handshake(&p->server);
                }
                if (p->cli != TKV_EPROTO && p->cli != 0) {
                        p->cli = tls_handshake(&p->client);
                }
                if (moved == 0 && buffer_len(&p->client.out) == 0 &&
                    buffer_len(&p->server.out) == 0) {
                        return;
                }
        }
}

static void ctx(struct tls_ctx **out, enum tls_role role, const char *cert, const char *ca,
                bool require)
{
        char err[256];
        struct tls_ctx_config cfg = {
            .role = role,
            .cert_file = cert != NULL ? path(cert) : NULL,
            .ca_file = ca != NULL ? path(ca) : NULL,
            .require_peer_cert = require,
        };
        char key[600];
        if (cert != NULL) {
                snprintf(key, sizeof key, "%.*s.key", (int)(strlen(cfg.cert_file) - 4),
                         cfg.cert_file);
                cfg.key_file = key;
        }
        int rv = tls_ctx_new(&cfg, out, err, sizeof err);
        if (rv != 0) {
                fail_msg("tls_ctx_new: %s", err);
        }
}

/* server shows server_cert, trusts server_ca for clients (NULL: asks for
 * none); client shows client_cert, trusts client_ca. */
static void pair_start(struct pair *p, const char *server_cert, const char *server_ca,
                       const char *client_cert, const char *client_ca, const char *name)
{
        memset(p, 0, sizeof *p);
        ctx(&p->sctx, TLS_SERVER, server_cert, server_ca, server_ca != NULL);
        ctx(&p->cctx, TLS_CLIENT, client_cert, client_ca, false);
        assert_int_equal(tls_init(&p->server, p->sctx, NULL), 0);
        assert_int_equal(tls_init(&p->client, p->cctx, name), 0);
        p->srv = p->cli = TKV_EAGAIN;
        handshake(p);
}

static void pair_free(struct pair *p)
{
        tls_free(&p->server);
        tls_free(&p->client);
        tls_ctx_free(p->sctx);
        tls_ctx_free(p->cctx);
}

/* Does needle (n bytes) occur in hay (len bytes)? */
static bool contains(const uint8_t *hay, size_t len, const uint8_t *needle, size_t n)
{
        for (size_t i = 0; i + n <= len; i++) {
                if (memcmp(hay + i, needle, n) == 0) {
                        return true;
                }
        }
        return false;
}

/* Read everything the side can decrypt now into out. */
static int drain(struct tls *t, struct buffer *out)
{
        for (;;) {
                uint8_t chunk[16384];
                size_t got;
                int rv = tls_read(t, chunk, sizeof chunk, &got);
                if (rv != 0) {
                        return rv;
                }
                assert_int_equal(buffer_append(out, chunk, got), 0);
        }
}

static void test_round_trip_both_ways(void **state)
{
        struct pair p;
        struct buffer got;
        size_t n = 1 << 20;
        uint8_t *big = malloc(n);

        (void)state;
        for (size_t i = 0; i < n; i++) {
                big[i] = (uint8_t)(i * 131 + 7);
        }
        pair_start(&p, "node1.pem", NULL, NULL, "ca.pem", "127.0.0.1");
        assert_int_equal(p.cli, 0);
        assert_int_equal(p.srv, 0);
        buffer_init(&got);
        assert_int_equal(tls_write(&p.client, big, n), 0);
        assert_true(buffer_len(&p.client.out) > n); /* records, encrypted */
        assert_false(contains(buffer_data(&p.client.out), buffer_len(&p.client.out), big, 64));
        pump_once(&p);
        assert_int_equal(drain(&p.server, &got), TKV_EAGAIN);
        assert_int_equal(buffer_len(&got), n);
        assert_memory_equal(buffer_data(&got), big, n);
        buffer_reset(&got);
        assert_int_equal(tls_write(&p.server, "answer", 6), 0);
        pump_once(&p);
        assert_int_equal(drain(&p.client, &got), TKV_EAGAIN);
        assert_int_equal(buffer_len(&got), 6);
        assert_memory_equal(buffer_data(&got), "answer", 6);
        /* close_notify ends the session for the reader */
        tls_shutdown(&p.client);
        pump_once(&p);
        assert_int_equal(drain(&p.server, &got), TKV_ECONN);
        buffer_free(&got);
        pair_free(&p);
        free(big);
}

/* What either side writes before the handshake finished is kept and sent
 * once it has, in order, ahead of what follows. */
static void test_written_before_the_handshake(void **state)
{
        struct pair p;
        struct buffer got;

        (void)state;
        memset(&p, 0, sizeof p);
        buffer_init(&got);
        ctx(&p.sctx, TLS_SERVER, "node1.pem", NULL, false);
        ctx(&p.cctx, TLS_CLIENT, NULL, "ca.pem", false);
        assert_int_equal(tls_init(&p.server, p.sctx, NULL), 0);
        assert_int_equal(tls_init(&p.client, p.cctx, "127.0.0.1"), 0);
        assert_int_equal(tls_write(&p.client, "early ", 6), 0);
        assert_int_equal(tls_write(&p.server, "hello ", 6), 0);
        assert_false(p.client.established);
        p.srv = p.cli = TKV_EAGAIN;
        handshake(&p);
        assert_int_equal(p.cli, 0);
        assert_int_equal(p.srv, 0);
        assert_int_equal(tls_write(&p.client, "then", 4), 0);
        pump_once(&p);
        assert_int_equal(drain(&p.server, &got), TKV_EAGAIN);
        assert_int_equal(buffer_len(&got), 10);
        assert_memory_equal(buffer_data(&got), "early then", 10);
        buffer_reset(&got);
        assert_int_equal(drain(&p.client, &got), TKV_EAGAIN);
        assert_int_equal(buffer_len(&got), 6);
        assert_memory_equal(buffer_data(&got), "hello ", 6);
        buffer_free(&got);
        pair_free(&p);
}

/* A record split at every byte still decrypts once complete. */
static void test_records_arrive_in_pieces(void **state)
{
        struct pair p;
        struct buffer wire, got;

        (void)state;
        pair_start(&p, "node1.pem", NULL, NULL, "ca.pem", "localhost");
        assert_int_equal(p.cli, 0);
        buffer_init(&wire);
        buffer_init(&got);
        assert_int_equal(tls_write(&p.client, "hello, split", 12), 0);
        assert_int_equal(
            buffer_append(&wire, buffer_data(&p.client.out), buffer_len(&p.client.out)), 0);
        buffer_reset(&p.client.out);
        for (size_t i = 0; i < buffer_len(&wire); i++) {
                assert_int_equal(buffer_append(&p.server.in, buffer_data(&wire) + i, 1), 0);
                int rv = drain(&p.server, &got);
                assert_int_equal(rv, TKV_EAGAIN);
                assert_int_equal(buffer_len(&got), i + 1 == buffer_len(&wire) ? 12 : 0);
        }
        assert_memory_equal(buffer_data(&got), "hello, split", 12);
        buffer_free(&wire);
        buffer_free(&got);
        pair_free(&p);
}

static void expect_failed(struct pair *p, const char *client_says, const char *server_says)
{
        if (client_says != NULL) {
                assert_int_equal(p->cli, TKV_EPROTO);
                if (strstr(p->client.errmsg, client_says) == NULL) {
                        fail_msg("client: '%s' lacks '%s'", p->client.errmsg, client_says);
                }
        }
        if (server_says != NULL) {
                assert_int_equal(p->srv, TKV_EPROTO);
                if (strstr(p->server.errmsg, server_says) == NULL) {
                        fail_msg("server: '%s' lacks '%s'", p->server.errmsg, server_says);
                }
        }
}

static void test_server_of_an_unknown_ca_is_refused(void **state)
{
        struct pair p;
        (void)state;
        pair_start(&p, "other.pem", NULL, NULL, "ca.pem", "127.0.0.1");
        expect_failed(&p, "unable to get local issuer certificate", "unknown ca");
        pair_free(&p);
}

static void test_expired_server_certificate_is_refused(void **state)
{
        struct pair p;
        (void)state;
        pair_start(&p, "expired.pem", NULL, NULL, "ca.pem", "127.0.0.1");
        expect_failed(&p, "certificate has expired", "certificate expired");
        pair_free(&p);
}

static void test_wrong_server_name_is_refused(void **state)
{
        struct pair p;
        (void)state;
        pair_start(&p, "node1.pem", NULL, NULL, "ca.pem", "db.example.com");
        expect_failed(&p, "hostname mismatch", NULL);
        pair_free(&p);
        pair_start(&p, "node1.pem", NULL, NULL, "ca.pem", "10.1.2.3");
        expect_failed(&p, "IP address mismatch", NULL);
        pair_free(&p);
}

static void test_mutual_tls(void **state)
{
        struct pair p;
        (void)state;
        /* a client certificate from the CA: admitted */
        pair_start(&p, "node1.pem", "ca.pem", "node2.pem", "ca.pem", "127.0.0.1");
        assert_int_equal(p.cli, 0);
        assert_int_equal(p.srv, 0);
        pair_free(&p);
        /* none: refused by the server, and the client learns why when it
         * next reads (TLS 1.3 finishes the client's handshake first) */
        pair_start(&p, "node1.pem", "ca.pem", NULL, "ca.pem", "127.0.0.1");
        expect_failed(&p, NULL, "peer did not return a certificate");
        {
                uint8_t b[16];
                size_t got;
                assert_int_equal(tls_read(&p.client, b, sizeof b, &got), TKV_EPROTO);
                assert_non_null(strstr(p.client.errmsg, "certificate required"));
        }
        pair_free(&p);
        /* one from another CA, or expired: refused */
        pair_start(&p, "node1.pem", "ca.pem", "other.pem", "ca.pem", "127.0.0.1");
        expect_failed(&p, NULL, "unable to get local issuer certificate");
        pair_free(&p);
        pair_start(&p, "node1.pem", "ca.pem", "expired.pem", "ca.pem", "127.0.0.1");
        expect_failed(&p, NULL, "certificate has expired");
        pair_free(&p);
}

/* A plaintext client (a tunekv frame) at a TLS server, and a TLS client at
 * a plaintext server (which answers with a frame): both fail clearly. */
static void test_plaintext_on_either_side(void **state)
{
        struct tls_ctx *sctx, *cctx;
        struct tls t;
        const uint8_t frame[] = {0, 0, 0, 4, 0x08, 0x01, 0x10, 0x02};
        (void)state;

        ctx(&sctx, TLS_SERVER, "node1.pem", NULL, false);
        assert_int_equal(tls_init(&t, sctx, NULL), 0);
        assert_int_equal(buffer_append(&t.in, frame, sizeof frame), 0);
        assert_int_equal(tls_handshake(&t), TKV_EPROTO);
        assert_non_null(strstr(t.errmsg, "wrong version number"));
        assert_false(tls_looks_like_record(frame, sizeof frame));
        tls_free(&t);
        tls_ctx_free(sctx);

        ctx(&cctx, TLS_CLIENT, NULL, "ca.pem", false);
        assert_int_equal(tls_init(&t, cctx, "127.0.0.1"), 0);
        assert_true(tls_looks_like_record(buffer_data(&t.out), buffer_len(&t.out)));
        assert_int_equal(buffer_append(&t.in, frame, sizeof frame), 0);
        assert_int_equal(tls_handshake(&t), TKV_EPROTO);
        tls_free(&t);
        tls_ctx_free(cctx);
}

static void test_bad_settings_are_named(void **state)
{
        struct tls_ctx *c;
        char err[256];
        struct tls_ctx_config cfg = {.role = TLS_SERVER};
        (void)state;

        assert_int_equal(tls_ctx_new(&cfg, &c, err, sizeof err), TKV_EINVAL);
        assert_non_null(strstr(err, "needs a certificate"));
        cfg.cert_file = path("node1.pem");
        cfg.key_file = path("node2.key");
        assert_int_equal(tls_ctx_new(&cfg, &c, err, sizeof err), TKV_EINVAL);
        assert_non_null(strstr(err, "node2.key: key values mismatch"));
        cfg.key_file = path("node1.key");
        cfg.min_version = "1.1";
        assert_int_equal(tls_ctx_new(&cfg, &c, err, sizeof err), TKV_EINVAL);
        assert_non_null(strstr(err, "1.2 or 1.3"));
        cfg.min_version = "1.2";
        cfg.ca_file = path("missing.pem");
        assert_int_equal(tls_ctx_new(&cfg, &c, err, sizeof err), TKV_EINVAL);
        assert_non_null(strstr(err, "missing.pem: No such file or directory"));
        cfg.ca_file = NULL;
        assert_int_equal(tls_ctx_new(&cfg, &c, err, sizeof err), 0);
        tls_ctx_free(c);
}

int main(void)
{
        const char *d = getenv("TKV_TLS_DIR");
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip_both_ways),
            cmocka_unit_test(test_records_arrive_in_pieces),
            cmocka_unit_test(test_written_before_the_handshake),
            cmocka_unit_test(test_server_of_an_unknown_ca_is_refused),
            cmocka_unit_test(test_expired_server_certificate_is_refused),
            cmocka_unit_test(test_wrong_server_name_is_refused),
            cmocka_unit_test(test_mutual_tls),
            cmocka_unit_test(test_plaintext_on_either_side),
            cmocka_unit_test(test_bad_settings_are_named),
        };
        if (d == NULL) {
                fprintf(stderr, "test_tls: TKV_TLS_DIR is not set (ctest sets it)\n");
                return 1;
        }
        snprintf(tls_dir, sizeof tls_dir, "%s", d);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
