/* TLS over two byte buffers (tls.h). OpenSSL reads and writes through one
 * BIO of our own whose read takes from t->in and whose write appends to
 * t->out: no BIO_s_mem copies in between, and the caller sees exactly
 * how many bytes each connection holds (they count in its budgets). */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

struct tls_ctx {
        SSL_CTX *ssl_ctx;
};

/* ---- The BIO: reads from t->in, writes to t->out ---- */

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int tls_bio_read(BIO *b, char *dst, int len)
{
        struct tls *t = BIO_get_data(b);
        size_t n = buffer_len(&t->in);

        BIO_clear_retry_flags(b);
        if (n == 0) {
                BIO_set_retry_read(b); /* OpenSSL says SSL_ERROR_WANT_READ */
                return -1;
        }
        if (len < 0) {
                return -1;
        }
        if (n > (size_t)len) {
                n = (size_t)len;
        }
        memcpy(dst, buffer_data(&t->in), n);
        buffer_consume(&t->in, n);
        return (int)n;
}

static int tls_bio_write(BIO *b, const char *src, int len)
{
        struct tls *t = BIO_get_data(b);

        BIO_clear_retry_flags(b);
        if (len < 0 || buffer_append(&t->out, src, (size_t)len) != 0) {
                return -1;
        }
        return len;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
        struct tls *t = BIO_get_data(b);

        (void)num;
        (void)ptr;
        switch (cmd) {
        case BIO_CTRL_FLUSH:
                return 1; /* t->out is sent by the caller */
        case BIO_CTRL_PENDING:
                return t != NULL ? (long)buffer_len(&t->in) : 0;
        default:
                return 0;
        }
}

static int tls_bio_create(BIO *b)
{
        BIO_set_init(b, 1);
        return 1;
}

static void tls_bio_method_init(void)
{
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tunekv buffers");
        if (m == NULL) {
                return;
        }
        BIO_meth_set_read(m, tls_bio_read);
        BIO_meth_set_write(m, tls_bio_write);
        BIO_meth_set_ctrl(m, tls_bio_ctrl);
        BIO_meth_set_create(m, tls_bio_create);
        tls_bio_method = m;
}

/* ---- Errors ---- */

/* OpenSSL's reason for the last failure (and the certificate check's, if
 * that is what failed), prefixed with stage; clears OpenSSL's queue. */
static void tls_reason(char *msg, size_t len, const char *stage, SSL *ssl)
{
        unsigned long e = ERR_peek_last_error();
        const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
        long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

        if (verify != X509_V_OK) {
                snprintf(msg, len, "%s: certificate verify failed: %s", stage,
                         X509_verify_cert_error_string(verify));
        } else if (why != NULL) {
                snprintf(msg, len, "%s: %s", stage, why);
        } else {
                snprintf(msg, len, "%s: failed (no reason from OpenSSL)", stage);
        }
        ERR_clear_error();
}

/* ---- Contexts ---- */

static int tls_ctx_versions(SSL_CTX *ctx, const char *min_version, char *err, size_t err_len)
{
        int v = TLS1_3_VERSION;
        if (min_version != NULL && strcmp(min_version, "1.2") == 0) {
                v = TLS1_2_VERSION;
        } else if (min_version != NULL && min_version[0] != '\0' &&
                   strcmp(min_version, "1.3") != 0) {
                snprintf(err, err_len, "tls: min_version %s: must be 1.2 or 1.3", min_version);
                return TKV_EINVAL;
        }
        SSL_CTX_set_min_proto_version(ctx, v);
        return 0;
}

/* A file that cannot be opened is named with the system's reason
 * (OpenSSL only says "system lib"). */
static bool tls_readable(const char *path, char *err, size_t err_len)
{
        FILE *f = fopen(path, "r");
        if (f == NULL) {
                snprintf(err, err_len, "tls: %s: %s", path, strerror(errno));
                return false;
        }
        fclose(f);
        return true;
}

static bool tls_set(const char *s)
{
        return s != NULL && s[0] != '\0';
}

static int tls_ctx_files(SSL_CTX *ctx, const struct tls_ctx_config *cfg, char *err, size_t err_len)
{
        if ((tls_set(cfg->cert_file) && !tls_readable(cfg->cert_file, err, err_len)) ||
            (tls_set(cfg->key_file) && !tls_readable(cfg->key_file, err, err_len)) ||
            (tls_set(cfg->ca_file) && !tls_readable(cfg->ca_file, err, err_len))) {
                return TKV_EINVAL;
        }
        if (cfg->cert_file != NULL && cfg->cert_file[0] != '\0') {
                if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
                        tls_reason(err, err_len, cfg->cert_file, NULL);
                        return TKV_EINVAL;
                }
                if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file != NULL ? cfg->key_file : "",
                                                SSL_FILETYPE_PEM) != 1) {
                        tls_reason(err, err_len, cfg->key_file != NULL ? cfg->key_file : "key",
                                   NULL);
                        return TKV_EINVAL;
                }
                if (SSL_CTX_check_private_key(ctx) != 1) {
                        tls_reason(err, err_len, "tls: the key does not match the certificate",
                                   NULL);
                        return TKV_EINVAL;
                }
        } else if (cfg->role == TLS_SERVER) {
                snprintf(err, err_len, "tls: a server needs a certificate and a key");
                return TKV_EINVAL;
        }
        if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0') {
                if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
                        tls_reason(err, err_len, cfg->ca_file, NULL);
                        return TKV_EINVAL;
                }
        } else if (cfg->role == TLS_CLIENT) {
                SSL_CTX_set_default_verify_paths(ctx);
        } else if (cfg->require_peer_cert) {
                snprintf(err, err_len, "tls: requiring client certificates needs a CA file");
                return TKV_EINVAL;
        }
        return 0;
}

static void tls_ctx_verify(SSL_CTX *ctx, const struct tls_ctx_config *cfg)
{
        if (cfg->role == TLS_CLIENT) {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        } else if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0') {
                STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
                if (names != NULL) {
                        SSL_CTX_set_client_CA_list(ctx, names);
                }
                SSL_CTX_set_verify(
                    ctx,
                    SSL_VERIFY_PEER |
                        (cfg->require_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                    NULL);
        }
}

int tls_ctx_new(const struct tls_ctx_config *cfg, struct tls_ctx **out, char *err, size_t err_len)
{
        struct tls_ctx *c;
        SSL_CTX *ctx;
        int rv;

        *out = NULL;
        ERR_clear_error();
        ctx = SSL_CTX_new(cfg->role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
        c = ctx != NULL ? OPENSSL_zalloc(sizeof *c) : NULL;
        if (c == NULL) {
                SSL_CTX_free(ctx);
                snprintf(err, err_len, "tls: out of memory");
                return TKV_ENOMEM;
        }
        c->ssl_ctx = ctx;
        rv = tls_ctx_versions(ctx, cfg->min_version, err, err_len);
        if (rv == 0) {
                rv = tls_ctx_files(ctx, cfg, err, err_len);
        }
        if (rv != 0) {
                tls_ctx_free(c);
                return rv;
        }
        tls_ctx_verify(ctx, cfg);
        /* Record buffers stay with their connection (about 34 KiB each,
         * bounded by conns_max): SSL_MODE_RELEASE_BUFFERS gives them back
         * after every record, and taking them again per message doubled a
         * confirmation round trip's latency here (performance.md, "TLS").
         * Nobody resumes sessions, so no tickets are made. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (cfg->role == TLS_SERVER) {
                SSL_CTX_set_num_tickets(ctx, 0);
        }
        *out = c;
        return 0;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
        if (ctx == NULL) {
                return;
        }
        SSL_CTX_free(ctx->ssl_ctx);
        OPENSSL_free(ctx);
}

/* ---- Connections ---- */

static int tls_now_established(struct tls *t);

static int tls_expect_name(SSL *ssl, const char *name)
{
        struct in6_addr a6;
        struct in_addr a4;

        if (name == NULL || name[0] == '\0') {
                return 1;
        }
        if (inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1) {
                return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
        }
        return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
}

int tls_init(struct tls *t, struct tls_ctx *ctx, const char *server_name)
{
        SSL *ssl;
        BIO *bio;

        memset(t, 0, sizeof *t);
        buffer_init(&t->in);
        buffer_init(&t->out);
        buffer_init(&t->early);
        pthread_once(&tls_bio_once, tls_bio_method_init);
        ERR_clear_error();
        ssl = tls_bio_method != NULL ? SSL_new(ctx->ssl_ctx) : NULL;
        bio = ssl != NULL ? BIO_new(tls_bio_method) : NULL;
        if (bio == NULL) {
                SSL_free(ssl);
                snprintf(t->errmsg, sizeof t->errmsg, "tls: out of memory");
                return TKV_ENOMEM;
        }
        BIO_set_data(bio, t);
        SSL_set_bio(ssl, bio, bio); /* one reference, taken by ssl */
        t->ssl = ssl;
        if (SSL_is_server(ssl)) {
                SSL_set_accept_state(ssl);
                return 0;
        }
        if (tls_expect_name(ssl, server_name) != 1) {
                snprintf(t->errmsg, sizeof t->errmsg, "tls: bad server name %s", server_name);
                tls_free(t);
                return TKV_EINVAL;
        }
        SSL_set_connect_state(ssl);
        /* The ClientHello, into t->out. */
        return tls_handshake(t) == TKV_EPROTO ? TKV_EPROTO : 0;
}

void tls_free(struct tls *t)
{
        if (t->ssl != NULL) {
                SSL_free(t->ssl);
                t->ssl = NULL;
        }
        buffer_free(&t->in);
        buffer_free(&t->out);
        buffer_free(&t->early);
        t->established = false;
}

/* Translate the outcome rv of an SSL call made at stage. */
static int tls_outcome(struct tls *t, int rv, const char *stage)
{
        switch (SSL_get_error(t->ssl, rv)) {
        case SSL_ERROR_WANT_READ:
                return TKV_EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                snprintf(t->errmsg, sizeof t->errmsg, "tls: closed by the other side");
                return TKV_ECONN;
        case SSL_ERROR_SYSCALL:
                if (ERR_peek_last_error() == 0) {
                        snprintf(t->errmsg, sizeof t->errmsg, "%s: out of memory", stage);
                        return TKV_ENOMEM;
                }
                /* fall through */
        default:
                tls_reason(t->errmsg, sizeof t->errmsg, stage, t->ssl);
                return TKV_EPROTO;
        }
}

int tls_handshake(struct tls *t)
{
        int rv;

        if (t->established) {
                return 0;
        }
        ERR_clear_error();
        t->received = t->received || buffer_len(&t->in) > 0;
        rv = SSL_do_handshake(t->ssl);
        if (rv == 1) {
                return tls_now_established(t);
        }
        return tls_outcome(t, rv, "tls handshake");
}

int tls_read(struct tls *t, void *buf, size_t cap, size_t *got)
{
        int rv;

        *got = 0;
        /* Nothing to decrypt: no bytes from the network, none kept inside
         * OpenSSL. Callers read until TKV_EAGAIN, so this is the answer to
         * their last call after every batch of records, and it is cheaper
         * without an SSL call (with OpenSSL 3 about a microsecond of error
         * queue, BIO and record layer work, on every message received). */
        if (t->established && buffer_len(&t->in) == 0 && SSL_has_pending(t->ssl) == 0) {
                return TKV_EAGAIN;
        }
        ERR_clear_error();
        t->received = t->received || buffer_len(&t->in) > 0;
        rv = SSL_read_ex(t->ssl, buf, cap, got);
        /* The outcome first: writing what waited for the handshake is
         * another SSL call, after which SSL_get_error would describe it. */
        rv = rv == 1 ? 0 : tls_outcome(t, rv, t->established ? "tls" : "tls handshake");
        /* The handshake may finish inside a read that yields no data. */
        if (!t->established && SSL_is_init_finished(t->ssl) && tls_now_established(t) != 0) {
                return TKV_EPROTO;
        }
        return rv;
}

static int tls_encrypt(struct tls *t, const void *data, size_t len)
{
        const unsigned char *p = data;

        ERR_clear_error();
        while (len > 0) {
                size_t done = 0;
                int rv = SSL_write_ex(t->ssl, p, len, &done);
                if (rv != 1) {
                        rv = tls_outcome(t, rv, "tls write");
                        return rv == TKV_EAGAIN ? TKV_EPROTO : rv;
                }
                p += done;
                len -= done;
        }
        return 0;
}

int tls_write(struct tls *t, const void *data, size_t len)
{
        if (!t->established) {
                return buffer_append(&t->early, data, len) == 0 ? 0 : TKV_ENOMEM;
        }
        return tls_encrypt(t, data, len);
}

/* The handshake just finished: what was written before it goes out now. */
static int tls_now_established(struct tls *t)
{
        int rv = 0;
        t->established = true;
        if (buffer_len(&t->early) > 0) {
                rv = tls_encrypt(t, buffer_data(&t->early), buffer_len(&t->early));
        }
        buffer_free(&t->early);
        return rv;
}

void tls_shutdown(struct tls *t)
{
        if (t->ssl != NULL && t->established) {
                ERR_clear_error();
                (void)SSL_shutdown(t->ssl);
                ERR_clear_error();
        }
}

bool tls_looks_like_record(const void *data, size_t len)
{
        const unsigned char *p = data;
        /* content type handshake (22) or alert (21), then version 3.x */
        return len >= 3 && (p[0] == 22 || p[0] == 21) && p[1] == 3 && p[2] <= 4;
}
