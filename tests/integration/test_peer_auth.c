/* The peer port admits only nodes that hold the cluster secret (issue 14,
 * docs/security.md). One real node (1) is configured with a second node (2)
 * that this test plays, with or without the secret:
 *
 * - with the secret, a node link works, and speaks for its own node only;
 * - without it, the handshake fails on both sides: the client sees the
 *   server's MAC is wrong, the server closes on the forged PROOF, logs it,
 *   and records nothing (a later genuine incarnation is still admitted);
 * - a recorded genuine handshake replayed on a new connection is refused;
 * - a HELLO for another node, from an unknown node or from the node itself
 *   gets no CHALLENGE at all;
 * - a probe learns the incarnation only after authenticating, sealed;
 * - each peer-port packet that crashed or corrupted a node before issue 14
 *   (tests/data/security-repro), sent after a genuine handshake, closes
 *   only its own connection: the node keeps serving at the same term, and
 *   a well-formed vote request from a node that is no server of the group
 *   changes nothing either;
 * - the same packets again with TLS on the peer port ([tls] peer_*, the
 *   test's node 2 showing a certificate of the cluster's CA), where raft's
 *   streams go through the TLS relay (tlsrelay.h), which hands raft the
 *   plaintext itself: the validator still sees every byte first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buffer.h"
#include "daemon.h"
#include "err.h"
#include "keyhash.h"
#include "keys.h"
#include "peerauth.h"
#include "raw.h"
#include "testlib.h"
#include "transport.h"
#include "tunekv.h"

#define SECRET      "test-peer-auth-secret-0123456789"
#define CLUSTER     "tunekv"
#define INCARNATION 77

static char dir[256];
static char conf[320];
static struct daemon d;
static const char *peer_tls_dir; /* the group with peer TLS: the certificates; else NULL */

static struct raw_peer genuine(uint64_t group)
{
        struct raw_peer p = {SECRET, CLUSTER, group, 2, 1, INCARNATION, "127.0.0.1:9", NULL, {0}};
        p.layout = raw_layout_of(conf);
        return p;
}

static void expect_answer(int fd, uint64_t id, Tunekv__V1__Status status, const char *needle)
{
        Tunekv__V1__Response *r = raw_read_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, id);
        if (r->status != status) {
                fail_msg("answer %llu: status %d, expected %d (%s)", (unsigned long long)r->id,
                         r->status, status, r->message);
        }
        if (needle != NULL && strstr(r->message, needle) == NULL) {
                fail_msg("message \"%s\" lacks \"%s\"", r->message, needle);
        }
        tunekv__v1__response__free_unpacked(r, NULL);
}

/* A PROBE from node 2 on a node link: answered OK only if the link was
 * admitted. */
static void send_probe(int fd, uint64_t id, uint64_t from)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__ProbeRequest probe = TUNEKV__V1__PROBE_REQUEST__INIT;
        req.id = id;
        req.body_case = TUNEKV__V1__REQUEST__BODY_PROBE;
        req.probe = &probe;
        probe.from_node_id = from;
        probe.partition = 0;
        probe.applied_index = 1;
        raw_send_request(fd, &req);
}

static bool log_contains(const char *needle)
{
        return daemon_log_count(&d, needle) > 0;
}

/* With the secret: the link is admitted, and a PROBE naming another node
 * is refused while one for itself is answered. */
static void test_link_with_secret_speaks_for_itself(void **state)
{
        struct raw_peer p = genuine(TRANSPORT_LINK_GROUP);
        int fd = raw_connect_addr(d.peer_addr, false);
        Tunekv__V1__Response *r;
        (void)state;

        assert_int_equal(raw_peer_handshake(fd, &p, NULL, NULL, NULL), 0);
        send_probe(fd, 1, 3);
        expect_answer(fd, 1, TUNEKV__V1__STATUS__STATUS_INVALID_ARGUMENT, "this link's node");
        send_probe(fd, 2, 2);
        r = raw_read_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, 2);
        assert_int_equal(r->status, TUNEKV__V1__STATUS__STATUS_OK);
        assert_int_equal(r->body_case, TUNEKV__V1__RESPONSE__BODY_PROBE);
        tunekv__v1__response__free_unpacked(r, NULL);
        close(fd);
}

/* Without the secret: the client catches the server's MAC, and a PROOF
 * forged anyway is refused, logged, and leaves no identity behind. */
static void test_wrong_secret_gets_nothing(void **state)
{
        struct raw_peer p = genuine(TRANSPORT_LINK_GROUP);
        uint8_t forged[PEERAUTH_PROOF_BYTES + 11];
        int fd = raw_connect_addr(d.peer_addr, false);
        (void)state;

        p.secret = "not-the-secret";
        p.incarnation = 0xBAD;
        assert_int_equal(raw_peer_handshake(fd, &p, NULL, NULL, NULL), TKV_EAUTH);
        /* Go on as an attacker would: any PROOF, then a request. */
        memset(forged, 0x41, sizeof forged);
        put_le64(forged + KEYS_BYTES, 0xBAD); /* incarnation */
        put_le64(forged + PEERAUTH_PROOF_ADDRESS_LEN_AT, 11);
        raw_write(fd, forged, sizeof forged);
        send_probe(fd, 1, 2);
        assert_true(raw_closed_silently(fd));
        close(fd);
        assert_true(log_contains("peer handshake with 127.0.0.1:"));
        assert_true(log_contains("did not prove the secret"));
        /* Nothing was recorded for node 2: its genuine incarnation is
         * admitted (a recorded 0xBAD would refuse it for good). */
        test_link_with_secret_speaks_for_itself(state);
}

/* A genuine HELLO and PROOF recorded and replayed on a new connection: the
 * server's nonce is new, so the PROOF no longer fits. */
static void test_replayed_handshake_refused(void **state)
{
        struct raw_peer p = genuine(TRANSPORT_LINK_GROUP);
        uint8_t hello[PEERAUTH_HELLO_BYTES], proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        size_t proof_len = 0;
        int fd = raw_connect_addr(d.peer_addr, false);
        (void)state;

        assert_int_equal(raw_peer_handshake(fd, &p, hello, proof, &proof_len), 0);
        close(fd);
        fd = raw_connect_addr(d.peer_addr, false);
        raw_write(fd, hello, sizeof hello);
        assert_true(raw_read_exact(fd, challenge, sizeof challenge));
        raw_write(fd, proof, proof_len);
        send_probe(fd, 1, 2);
        assert_true(raw_closed_silently(fd));
        close(fd);
}

/* HELLOs that are not for this node, or not from another node of the
 * cluster, or of another cluster: no CHALLENGE, just a close. */
static void test_hello_not_for_us_gets_no_challenge(void **state)
{
        struct raw_peer cases[4];
        (void)state;
        for (int i = 0; i < 4; i++) {
                cases[i] = genuine(TRANSPORT_LINK_GROUP);
        }
        cases[0].to = 5;            /* another node */
        cases[1].from = 9;          /* not a node of the cluster */
        cases[2].from = 1;          /* the node itself */
        cases[3].cluster = "other"; /* another cluster */
        for (int i = 0; i < 4; i++) {
                int fd = raw_connect_addr(d.peer_addr, false);
                assert_int_equal(raw_peer_handshake(fd, &cases[i], NULL, NULL, NULL), TKV_ECONN);
                close(fd);
        }
}

/* A probe (what does node 1 know of node 2?) is answered only after the
 * handshake, and the answer is sealed to it. */
static void test_probe_answer_sealed(void **state)
{
        struct raw_peer p = genuine(TRANSPORT_PROBE_GROUP);
        uint8_t answer[PEERAUTH_KNOWN_BYTES], challenge[PEERAUTH_CHALLENGE_BYTES];
        struct keys_ring ring;
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t proof_len;
        struct peerauth a;
        uint64_t known = 0;
        int fd;

        test_link_with_secret_speaks_for_itself(state); /* node 2 is now known */
        fd = raw_connect_addr(d.peer_addr, false);
        assert_int_equal(keys_ring_derive(&ring, SECRET, NULL, CLUSTER, KEYS_PEER), 0);
        assert_int_equal(peerauth_hello(&a, &ring, key_hash(CLUSTER, strlen(CLUSTER)),
                                        TRANSPORT_PROBE_GROUP, 2, 1),
                         0);
        raw_write(fd, a.hello, sizeof a.hello);
        assert_true(raw_read_exact(fd, challenge, sizeof challenge));
        assert_int_equal(
            peerauth_prove(&a, challenge, p.incarnation, &p.layout, p.address, proof, &proof_len),
            0);
        raw_write(fd, proof, proof_len);
        assert_true(raw_read_exact(fd, answer, sizeof answer));
        assert_int_equal(peerauth_open_known(&a, answer, &known), 0);
        assert_int_equal(known, INCARNATION);
        answer[0] ^= 1; /* a changed answer does not open */
        assert_int_equal(peerauth_open_known(&a, answer, &known), TKV_EAUTH);
        close(fd);
}

/* Read and get through the client: the key's value, and the term and role
 * the answer reports. */
static void serve_check(struct tkv_client *c, const char *key, uint64_t *term)
{
        struct tkv_result r;
        assert_int_equal(tkv_put(c, key, strlen(key), key, strlen(key), NULL, &r), TKV_OK);
        tkv_result_release(&r);
        assert_int_equal(tkv_get(c, key, strlen(key), NULL, &r), TKV_OK);
        assert_int_equal(r.value_len, strlen(key));
        assert_memory_equal(r.value, key, r.value_len);
        assert_int_equal(r.receipt.role, TKV_ROLE_LEADER);
        *term = r.receipt.term;
        tkv_result_release(&r);
}

/* Send raft bytes on a Raft connection of partition 0 opened as node 2, and
 * expect the node to close it without a word. */
static void send_raft_bytes(const uint8_t *bytes, size_t len)
{
        struct raw_peer p = genuine(0);
        struct raw_tls_proxy proxy;
        int fd;

        if (peer_tls_dir != NULL) {
                raw_tls_proxy_open(&proxy, d.peer_addr, peer_tls_dir, "node2");
                fd = proxy.fd;
        } else {
                fd = raw_connect_addr(d.peer_addr, false);
        }
        assert_int_equal(raw_peer_handshake(fd, &p, NULL, NULL, NULL), 0);
        raw_write(fd, bytes, len);
        assert_true(raw_closed_silently(fd));
        if (peer_tls_dir != NULL) {
                raw_tls_proxy_close(&proxy);
        } else {
                close(fd);
        }
}

static size_t read_repro(const char *name, uint8_t *buf, size_t cap)
{
        char path[512];
        FILE *f;
        size_t n;
        snprintf(path, sizeof path, "%s/%s", TKV_SECURITY_REPRO_DIR, name);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, cap, f);
        fclose(f);
        return n;
}

static void test_reproducers_leave_the_node_unharmed(void **state)
{
        static uint8_t buf[1 << 16];
        struct tkv_options o = {0};
        struct tkv_client *c;
        char err[256];
        uint64_t term0, term;
        unsigned sent = 0;
        struct dirent *e;
        DIR *dirp = opendir(TKV_SECURITY_REPRO_DIR);
        (void)state;

        assert_non_null(dirp);
        o.endpoints = d.client_addr;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        serve_check(c, "before", &term0);
        while ((e = readdir(dirp)) != NULL) {
                size_t n, skip;
                if (strstr(e->d_name, ".bin") == NULL) {
                        continue;
                }
                n = read_repro(e->d_name, buf, sizeof buf);
                assert_true(n > 48);
                skip = 48 + (size_t)get_le64(buf + 40);
                assert_true(n > skip);
                send_raft_bytes(buf + skip, n - skip);
                serve_check(c, e->d_name, &term);
                assert_int_equal(term, term0);
                sent++;
        }
        closedir(dirp);
        assert_true(sent >= 10);
        /* A well-formed RequestVote at term 1000 from node 2, which is no
         * server of partition 0: no term change, no election. */
        memset(buf, 0, 56);
        put_le64(buf, 3);      /* RequestVote */
        put_le64(buf + 8, 40); /* header bytes */
        put_le64(buf + 16, 1000);
        put_le64(buf + 24, 2);
        send_raft_bytes(buf, 56);
        serve_check(c, "after", &term);
        assert_int_equal(term, term0);
        assert_true(log_contains("raftguard: refused a Raft message from node 2"));
        tkv_client_destroy(c);
}

/* Write a two-node config (node 1 real, node 2 the test) for daemon dd
 * into path, with the [cluster] lines given. */
static void write_conf(const char *path, const struct daemon *dd, unsigned node2_port,
                       const char *cluster_lines)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "[cluster]\npartitions = 1\nreplicas = 1\n%s", cluster_lines);
        fprintf(f, "[node.1]\nclient_addr = %s\npeer_addr = %s\n", dd->client_addr, dd->peer_addr);
        fprintf(f, "[node.2]\nclient_addr = 127.0.0.1:%u\npeer_addr = 127.0.0.1:%u\n", node2_port,
                node2_port + 1);
        fclose(f);
}

static int causal_get(struct tkv_client *cl, const char *key)
{
        struct tkv_read_options o = {0};
        struct tkv_result r;
        int rv;
        o.level = TKV_CAUSAL;
        rv = tkv_get(cl, key, strlen(key), &o, &r);
        tkv_result_release(&r);
        return rv;
}

/* Rotation: a node restarted with secret = NEW and previous_secret = OLD
 * accepts, during the grace period, a token MAC'd under OLD and a peer that
 * holds only OLD; once the grace period is over, neither. */
static void test_rotation_grace_period(void **state)
{
        static char rdir[256], rconf[320];
        static struct daemon rd;
        struct tkv_options o = {0};
        struct tkv_client *cl;
        struct tkv_result r;
        char err[256], lines[256];
        uint8_t tok[TKV_TOKEN_BYTES_MAX];
        size_t tok_len;
        unsigned port2 = daemon_free_port();
        struct raw_peer old_only = genuine(TRANSPORT_LINK_GROUP);
        int fd;
        (void)state;

        assert_int_equal(testlib_tmpdir(rdir, sizeof rdir, "tkv-rotation"), 0);
        daemon_setup(&rd, rdir, 1);
        snprintf(rconf, sizeof rconf, "%s/cluster.conf", rdir);
        write_conf(rconf, &rd, port2, "secret = old-secret-0123456789abcdef\n");
        rd.extra[0] = "--config";
        rd.extra[1] = rconf;
        rd.extra[2] = "--bootstrap"; /* node 2 never answers */
        rd.extra[3] = "1";
        assert_int_equal(daemon_start(&rd, 30000), 0);
        o.endpoints = rd.client_addr;
        assert_int_equal(tkv_client_create(&o, &cl, err, sizeof err), TKV_OK);
        assert_int_equal(tkv_put(cl, "rotated", 7, "v", 1, NULL, &r), TKV_OK);
        tkv_result_release(&r);
        assert_int_equal(causal_get(cl, "rotated"), TKV_OK);
        tok_len = tkv_token_get(cl, tok, sizeof tok);
        assert_true(tok_len > 0);
        tkv_client_destroy(cl);
        assert_int_equal(daemon_signal(&rd, SIGTERM, true), 0);

        snprintf(lines, sizeof lines,
                 "secret = new-secret-0123456789abcdef\nprevious_secret = "
                 "old-secret-0123456789abcdef\nprevious_secret_grace_s = 2\n");
        write_conf(rconf, &rd, port2, lines);
        assert_int_equal(daemon_start(&rd, 30000), 0);
        /* During the grace period: the old token and an old-only peer. */
        assert_int_equal(tkv_client_create(&o, &cl, err, sizeof err), TKV_OK);
        assert_int_equal(tkv_token_set(cl, tok, tok_len), TKV_OK);
        assert_int_equal(causal_get(cl, "rotated"), TKV_OK);
        tkv_client_destroy(cl);
        old_only.secret = "old-secret-0123456789abcdef";
        old_only.layout = raw_layout_of(rconf);
        fd = raw_connect_addr(rd.peer_addr, false);
        assert_int_equal(raw_peer_handshake(fd, &old_only, NULL, NULL, NULL), 0);
        send_probe(fd, 1, 2);
        expect_answer(fd, 1, TUNEKV__V1__STATUS__STATUS_OK, NULL);
        close(fd);
        /* The grace period ends (the node says so); then neither works. */
        for (int i = 0; i < 200 && daemon_log_count(&rd, "no longer accepted") == 0; i++) {
                usleep(50 * 1000); /* the end of a time period: nothing to await */
        }
        assert_true(daemon_log_count(&rd, "no longer accepted") > 0);
        assert_int_equal(tkv_client_create(&o, &cl, err, sizeof err), TKV_OK);
        assert_int_equal(tkv_token_set(cl, tok, tok_len), TKV_OK);
        assert_int_equal(causal_get(cl, "rotated"), TKV_INVALID_ARGUMENT);
        tkv_client_destroy(cl);
        fd = raw_connect_addr(rd.peer_addr, false);
        assert_int_equal(raw_peer_handshake(fd, &old_only, NULL, NULL, NULL), TKV_EAUTH);
        close(fd);
        assert_int_equal(daemon_signal(&rd, SIGTERM, true), 0);
        testlib_rmrf(rdir);
}

/* One node of a two-node cluster (node 2 is the test), with TLS on its
 * peer port if tls names the certificates' directory. */
static int setup_node(const char *tls)
{
        static char cert[300], key[300], ca[300];
        FILE *f;

        peer_tls_dir = tls;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-peerauth") != 0) {
                return -1;
        }
        daemon_setup(&d, dir, 1);
        snprintf(conf, sizeof conf, "%s/cluster.conf", dir);
        f = fopen(conf, "w");
        if (f == NULL) {
                return -1;
        }
        fprintf(f, "[cluster]\npartitions = 1\nreplicas = 1\nsecret = %s\n", SECRET);
        fprintf(f, "[node.1]\nclient_addr = %s\npeer_addr = %s\n", d.client_addr, d.peer_addr);
        fprintf(f, "[node.2]\nclient_addr = 127.0.0.1:%u\npeer_addr = 127.0.0.1:%u\n",
                daemon_free_port(), daemon_free_port());
        fclose(f);
        d.extra[0] = "--config";
        d.extra[1] = conf;
        d.extra[2] = "--bootstrap"; /* node 2 never answers */
        d.extra[3] = "1";
        if (tls != NULL) {
                snprintf(cert, sizeof cert, "%s/node1.pem", tls);
                snprintf(key, sizeof key, "%s/node1.key", tls);
                snprintf(ca, sizeof ca, "%s/ca.pem", tls);
                d.extra[4] = "--peer-cert-file";
                d.extra[5] = cert;
                d.extra[6] = "--peer-key-file";
                d.extra[7] = key;
                d.extra[8] = "--peer-ca-file";
                d.extra[9] = ca;
        }
        return daemon_start(&d, 30000);
}

static int setup(void **state)
{
        (void)state;
        return setup_node(NULL);
}

/* The same node with TLS on its peer port (certificates from
 * scripts/tls-certs.sh --test, in $TKV_TLS_DIR). */
static int setup_peer_tls(void **state)
{
        const char *tls = getenv("TKV_TLS_DIR");
        (void)state;
        return tls != NULL ? setup_node(tls) : -1;
}

static int teardown(void **state)
{
        (void)state;
        if (daemon_stop(&d) != 0) {
                return -1;
        }
        testlib_rmrf(dir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_wrong_secret_gets_nothing),
            cmocka_unit_test(test_link_with_secret_speaks_for_itself),
            cmocka_unit_test(test_replayed_handshake_refused),
            cmocka_unit_test(test_hello_not_for_us_gets_no_challenge),
            cmocka_unit_test(test_probe_answer_sealed),
            cmocka_unit_test(test_reproducers_leave_the_node_unharmed),
            cmocka_unit_test(test_rotation_grace_period),
        };
        const struct CMUnitTest tls_tests[] = {
            cmocka_unit_test(test_reproducers_leave_the_node_unharmed),
        };
        int failed = cmocka_run_group_tests(tests, setup, teardown);
        return failed +
               cmocka_run_group_tests_name("peer TLS", tls_tests, setup_peer_tls, teardown);
}
