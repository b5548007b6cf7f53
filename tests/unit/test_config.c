/* Configuration: defaults, the INI file, flags overriding it, node lists,
 * placement, and every bad value refused with its key and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "peerauth.h"
#include "testlib.h"

static char dir[256];

static int load(struct config *c, char *errmsg, int argc, const char **argv)
{
        return config_load(c, argc, (char **)argv, errmsg);
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_defaults_run_one_node(void **state)
{
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        const char *argv[] = {"tunekvd"};
        (void)state;
        assert_int_equal(load(&c, err, 1, argv), 0);
        assert_int_equal(c.node_id, 1);
        assert_int_equal(c.n_nodes, 1);
        assert_int_equal(c.replicas, 1);   /* min(3, one node) */
        assert_int_equal(c.partitions, 1); /* one per node */
        assert_int_equal(c.frame_bytes_max, 4u << 20);
        assert_int_equal(c.key_bytes_max, 4096);
        assert_int_equal(c.value_bytes_max, 1u << 20);
        assert_int_equal(c.snapshot_threshold, 65536);
        assert_int_equal(c.snapshot_bytes, 64u << 20);
        assert_string_equal(c.client_addr, "127.0.0.1:7001");
        assert_string_equal(c.nodes[0].peer_addr, "127.0.0.1:7101");
}

static void test_flags(void **state)
{
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        const char *argv[] = {
            "tunekvd",           "--node-id",      "7",          "--client-addr=127.0.0.1:9001",
            "--peer-addr",       "127.0.0.1:9101", "--data-dir", "/tmp/x",
            "--value-bytes-max", "64KiB",          "--ready-fd", "5"};
        (void)state;
        assert_int_equal(load(&c, err, 12, argv), 0);
        assert_int_equal(c.node_id, 7);
        assert_int_equal(c.nodes[0].id, 7);
        assert_string_equal(c.nodes[0].client_addr, "127.0.0.1:9001");
        assert_string_equal(c.data_dir, "/tmp/x");
        assert_int_equal(c.value_bytes_max, 65536);
        assert_int_equal(c.ready_fd, 5);
}

static void expect_error(int argc, const char **argv, const char *needle)
{
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        assert_int_equal(load(&c, err, argc, argv), TKV_EINVAL);
        if (strstr(err, needle) == NULL) {
                fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
        }
}

static void test_bad_values_name_the_key(void **state)
{
        (void)state;
        const char *a1[] = {"tunekvd", "--election-timeout-ms", "5"};
        expect_error(3, a1, "raft.election_timeout_ms");
        expect_error(3, a1, "between 50 and");
        const char *a2[] = {"tunekvd", "--key-bytes-max", "abc"};
        expect_error(3, a2, "limits.key_bytes_max");
        const char *a3[] = {"tunekvd", "--client-addr", "localhost"};
        expect_error(3, a3, "node.client_addr");
        const char *a4[] = {"tunekvd", "--no-such-flag", "1"};
        expect_error(3, a4, "unknown flag");
        const char *a5[] = {"tunekvd", "--heartbeat-timeout-ms", "2000"};
        expect_error(3, a5, "heartbeat_timeout_ms");
        const char *a6[] = {"tunekvd", "--replicas", "3"};
        expect_error(3, a6, "cluster.replicas");
        const char *a7[] = {"tunekvd", "--frame-bytes-max", "1MiB"};
        expect_error(3, a7, "frame_bytes_max");
        const char *a8[] = {"tunekvd", "--node-id"};
        expect_error(2, a8, "missing value");
        const char *a9[] = {"tunekvd", "--log-level", "loud"};
        expect_error(3, a9, "server.log_level");
        /* raft_uv reads a trailing count of 0 as a snapshot install. */
        const char *a11[] = {"tunekvd", "--snapshot-trailing", "0"};
        expect_error(3, a11, "raft.snapshot_trailing");
        const char *a12[] = {"tunekvd", "--snapshot-bytes", "64KiB"};
        expect_error(3, a12, "raft.snapshot_bytes");
        const char *a10[] = {"tunekvd", "--partitions", "-1"};
        expect_error(3, a10, "cluster.partitions");
        /* One client at a full window (32 + 40 x 4096 bytes) must fit. */
        const char *a13[] = {"tunekvd", "--session-window", "4096", "--sessions-bytes-max",
                             "100KiB"};
        expect_error(5, a13, "server.sessions_bytes_max = 102400: below one client's full");
        /* A 63-byte level is refused by name; it used to overflow a 16-byte
         * field before validation. */
        const char *a14[] = {"tunekvd", "--log-level",
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
        expect_error(3, a14, "server.log_level");
        const char *a15[] = {"tunekvd", "--log-format", "xml"};
        expect_error(3, a15, "server.log_format = \"xml\": must be text or json");
}

static void test_file_then_flags(void **state)
{
        char path[512];
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        (void)state;
        snprintf(path, sizeof path, "%s/a.conf", dir);
        write_file(path, "[node]\nnode_id = 2\n\n[cluster]\npartitions = 4\nreplicas = 3\n"
                         "secret = a-secret-of-16-chars-or-more\n"
                         "[node.1]\nclient_addr = 127.0.0.1:7001\npeer_addr = 127.0.0.1:7101\n"
                         "[node.3]\nclient_addr = 127.0.0.1:7003\npeer_addr = 127.0.0.1:7103\n"
                         "[node.2]\nclient_addr = 127.0.0.1:7002\npeer_addr = 127.0.0.1:7102\n"
                         "[raft]\nelection_timeout_ms = 500\n");
        const char *argv[] = {"tunekvd", "--config", path, "--election-timeout-ms", "700"};
        assert_int_equal(load(&c, err, 5, argv), 0);
        assert_int_equal(c.node_id, 2);
        assert_int_equal(c.n_nodes, 3);
        assert_int_equal(c.nodes[0].id, 1); /* sorted */
        assert_int_equal(c.nodes[2].id, 3);
        assert_string_equal(c.client_addr, "127.0.0.1:7002"); /* from [node.2] */
        assert_int_equal(c.election_timeout_ms, 700);         /* flag wins */
        assert_int_equal(c.partitions, 4);
        unsigned ids[CONFIG_REPLICAS_MAX];
        assert_int_equal(config_replicas_of(&c, 0, ids), 3);
        assert_int_equal(ids[0], 1);
        assert_int_equal(config_replicas_of(&c, 2, ids), 3);
        assert_int_equal(ids[0], 3); /* (p + i) % N */
        assert_int_equal(ids[1], 1);
        assert_int_equal(ids[2], 2);
}

static void test_node_zone(void **state)
{
        char path[512];
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        (void)state;
        snprintf(path, sizeof path, "%s/z.conf", dir);
        write_file(path, "[node.1]\nclient_addr = 127.0.0.1:7001\npeer_addr = 127.0.0.1:7101\n"
                         "zone = rack-1.room_A\n");
        const char *argv[] = {"tunekvd", "--config", path};
        assert_int_equal(load(&c, err, 3, argv), 0);
        assert_string_equal(c.nodes[0].zone, "rack-1.room_A");
        write_file(path, "[node.1]\nclient_addr = 127.0.0.1:7001\npeer_addr = 127.0.0.1:7101\n"
                         "zone = rack 1\n");
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "node.1.zone = \"rack 1\": a zone is up to 63 letters"));
}

static void test_file_errors(void **state)
{
        char path[512];
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        (void)state;
        snprintf(path, sizeof path, "%s/b.conf", dir);
        write_file(path, "[limits]\nkey_bytes_max = 0\n");
        const char *argv[] = {"tunekvd", "--config", path};
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "limits.key_bytes_max = \"0\""));
        write_file(path, "[limits]\nnot_a_key = 1\n");
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "limits.not_a_key: unknown key"));
        write_file(path, "[node]\nnode_id = 9\n[node.1]\nclient_addr = 127.0.0.1:1\n"
                         "peer_addr = 127.0.0.1:2\n");
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "no [node.9] section"));
        const char *missing[] = {"tunekvd", "--config", "/nonexistent/file.conf"};
        assert_int_equal(load(&c, err, 3, missing), TKV_EINVAL);
        assert_non_null(strstr(err, "cannot open"));
}

struct changes {
        char keys[8][64];
        unsigned n;
};

static void note_change(void *data, const char *section, const char *key)
{
        struct changes *ch = data;
        if (ch->n < 8) {
                snprintf(ch->keys[ch->n++], sizeof ch->keys[0], "%s.%s", section, key);
        }
}

/* A reload (SIGHUP) reports exactly the options that differ, the node list
 * included, in table order. */
static void test_changes_name_every_difference(void **state)
{
        static struct config a, b;
        struct changes ch = {0};
        char err[ERR_MSG_BYTES] = "";
        const char *argv_a[] = {"tunekvd", "--log-level", "info"};
        const char *argv_b[] = {"tunekvd", "--log-level",   "debug",         "--conns-max",
                                "7",       "--client-addr", "127.0.0.1:7999"};
        (void)state;
        assert_int_equal(load(&a, err, 3, argv_a), 0);
        assert_int_equal(load(&b, err, 3, argv_a), 0);
        assert_int_equal(config_changes(&a, &b, note_change, &ch), 0);
        assert_int_equal(load(&b, err, 7, argv_b), 0);
        assert_int_equal(config_changes(&a, &b, note_change, &ch), 4);
        assert_string_equal(ch.keys[0], "node.client_addr");
        assert_string_equal(ch.keys[1], "limits.conns_max");
        assert_string_equal(ch.keys[2], "server.log_level");
        assert_string_equal(ch.keys[3], "node.nodes"); /* this node's entry moved too */
}

static void test_shipped_confs_load(void **state)
{
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        const char *one[] = {"tunekvd", "--config", TKV_SOURCE_DIR "/conf/tunekv.conf"};
        const char *sample[] = {"tunekvd", "--config", TKV_SOURCE_DIR "/conf/tunekv-3node.conf",
                                "--node-id", "2"};
        const char *three[] = {"tunekvd",
                               "--config",
                               TKV_SOURCE_DIR "/conf/tunekv-3node.conf",
                               "--node-id",
                               "2",
                               "--secret",
                               "0123456789abcdef0123"};
        unsigned ids[CONFIG_REPLICAS_MAX];
        (void)state;
        if (load(&c, err, 3, one) != 0) {
                fail_msg("conf/tunekv.conf: %s", err);
        }
        /* Its sample secret is refused as it stands. */
        assert_int_equal(load(&c, err, 5, sample), TKV_EINVAL);
        assert_non_null(strstr(err, "it is the sample from conf/"));
        if (load(&c, err, 7, three) != 0) {
                fail_msg("conf/tunekv-3node.conf: %s", err);
        }
        assert_int_equal(c.n_nodes, 3);
        assert_int_equal(c.replicas, 3);
        assert_int_equal(c.partitions, 3);
        assert_string_equal(c.client_addr, "127.0.0.1:7002");
        assert_int_equal(config_replicas_of(&c, 1, ids), 3);
        assert_int_equal(ids[0], 2); /* preferred leader of partition 1: (1 % 3) + 1 */
        /* partitions = 0: one per node listed. */
        const char *three_auto[] = {
            "tunekvd",   "--config", TKV_SOURCE_DIR "/conf/tunekv-3node.conf",
            "--node-id", "2",        "--partitions",
            "0",         "--secret", "0123456789abcdef0123"};
        if (load(&c, err, 9, three_auto) != 0) {
                fail_msg("conf/tunekv-3node.conf --partitions 0: %s", err);
        }
        assert_int_equal(c.partitions, 3);
}

/* A multi-node cluster needs a real secret: empty, short and sample ones
 * are refused unless insecure = 1; secret_file must be private, and not
 * set together with secret. One node may run without one. */
static void test_secret_policy(void **state)
{
        char conf[512], sfile[512];
        struct config c;
        char err[ERR_MSG_BYTES] = "";
        const char *nodes = "[node.1]\nclient_addr = 127.0.0.1:7001\npeer_addr = 127.0.0.1:7101\n"
                            "[node.2]\nclient_addr = 127.0.0.1:7002\npeer_addr = 127.0.0.1:7102\n";
        char text[1024];
        const char *argv[] = {"tunekvd", "--config", conf, "--node-id", "1"};
        const char *one[] = {"tunekvd"};
        (void)state;

        snprintf(conf, sizeof conf, "%s/s.conf", dir);
        snprintf(sfile, sizeof sfile, "%s/secret", dir);
        snprintf(text, sizeof text, "[cluster]\n%s", nodes);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 5, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "it is empty"));
        snprintf(text, sizeof text, "[cluster]\nsecret = short-secret\n%s", nodes);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 5, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "shorter than 16"));
        snprintf(text, sizeof text, "[cluster]\ninsecure = 1\n%s", nodes);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 5, argv), 0);
        assert_non_null(config_weak_secret(&c));
        /* secret_file: private, first line, trailing newline dropped. */
        write_file(sfile, "0123456789abcdef0123456789abcdef\nignored\n");
        chmod(sfile, 0644);
        snprintf(text, sizeof text, "[cluster]\nsecret_file = %s\n%s", sfile, nodes);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 5, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "chmod 600"));
        chmod(sfile, 0600);
        assert_int_equal(load(&c, err, 5, argv), 0);
        assert_string_equal(c.secret, "0123456789abcdef0123456789abcdef");
        assert_null(config_weak_secret(&c));
        snprintf(text, sizeof text, "[cluster]\nsecret = 0123456789abcdef0\nsecret_file = %s\n%s",
                 sfile, nodes);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 5, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "both set"));
        /* One node, no secret: allowed (nobody to join), but weak. */
        assert_int_equal(load(&c, err, 1, one), 0);
        assert_non_null(config_weak_secret(&c));
}

/* [auth] enabled = 1 needs root's password from a private file; the
 * layout fingerprint the peer handshake compares includes enabled. */
static void test_auth_policy(void **state)
{
        char conf[512], pfile[512];
        static struct config c, off;
        struct peerauth_layout la, lb;
        char err[ERR_MSG_BYTES] = "";
        char text[1024];
        const char *argv[] = {"tunekvd", "--config", conf};
        const char *plain[] = {"tunekvd"};
        (void)state;

        snprintf(conf, sizeof conf, "%s/a.conf", dir);
        snprintf(pfile, sizeof pfile, "%s/root-password", dir);
        write_file(conf, "[auth]\nenabled = 1\n");
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "auth.root_password_file"));
        write_file(pfile, "hunter2 \n");
        chmod(pfile, 0640);
        snprintf(text, sizeof text, "[auth]\nenabled = 1\nroot_password_file = %s\n", pfile);
        write_file(conf, text);
        assert_int_equal(load(&c, err, 3, argv), TKV_EINVAL);
        assert_non_null(strstr(err, "auth.root_password_file"));
        assert_non_null(strstr(err, "chmod 600"));
        chmod(pfile, 0600);
        assert_int_equal(load(&c, err, 3, argv), 0);
        assert_string_equal(c.root_password, "hunter2");
        assert_int_equal(c.kdf_iterations, 100000);
        assert_int_equal(c.auth_in_flight_max, 2);
        assert_int_equal(load(&off, err, 1, plain), 0);
        assert_int_equal(off.auth_enabled, 0);
        assert_string_equal(off.root_password, "");
        config_layout(&c, &la);
        config_layout(&off, &lb);
        assert_true(la.fingerprint != lb.fingerprint);
}

/* node.join: the members' peer addresses, a file that names no other node
 * and writes the cluster's shape out; each refusal says what to fix. */
static void test_join_policy(void **state)
{
        char conf[512], multi[512];
        static struct config c;
        char err[ERR_MSG_BYTES] = "";
        char addrs[CONFIG_JOIN_MAX][CONFIG_ADDR_BYTES];
        const char *ok[] = {"tunekvd",
                            "--config",
                            conf,
                            "--node-id",
                            "4",
                            "--join",
                            "127.0.0.1:7101,127.0.0.1:7102"};
        (void)state;

        snprintf(conf, sizeof conf, "%s/join.conf", dir);
        write_file(conf, "[cluster]\npartitions = 3\nreplicas = 3\n"
                         "secret = 0123456789abcdef0123\n");
        assert_int_equal(load(&c, err, 7, ok), 0);
        assert_int_equal(c.n_nodes, 1);
        assert_int_equal(c.replicas, 3); /* more than the nodes listed: allowed */
        assert_int_equal(config_join_addrs(&c, addrs), 2);
        assert_string_equal(addrs[1], "127.0.0.1:7102");
        /* Each refusal. */
        static const struct {
                const char *join, *file, *flag, *needle;
        } bad[] = {
            {"127.0.0.1:7101,,127.0.0.1:7102", NULL, NULL, "separated by commas"},
            {"localhost:7101", NULL, NULL, "bad address"},
            {"127.0.0.1:7101", "[cluster]\npartitions = 3\nsecret = 0123456789abcdef0123\n", NULL,
             "write cluster.partitions and cluster.replicas out"},
            {"127.0.0.1:7101", NULL, "--bootstrap", "never bootstraps"},
            {"127.0.0.1:7101",
             "[cluster]\nreplicas = 1\npartitions = 1\n"
             "secret = 0123456789abcdef0123\n[node.4]\nclient_addr = "
             "127.0.0.1:1\npeer_addr = 127.0.0.1:2\n[node.5]\nclient_addr = "
             "127.0.0.1:3\npeer_addr = 127.0.0.1:4\n",
             NULL, "list no [node.N] section but this node's"},
            {"127.0.0.1:7101", "[cluster]\nreplicas = 3\npartitions = 3\n", NULL, "cluster.secret"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                const char *argv[] = {"tunekvd",   "--config",  bad[i].file != NULL ? multi : conf,
                                      "--node-id", "4",         "--join",
                                      bad[i].join, bad[i].flag, "1"};
                if (bad[i].file != NULL) {
                        snprintf(multi, sizeof multi, "%s/join-bad.conf", dir);
                        write_file(multi, bad[i].file);
                }
                err[0] = '\0';
                assert_int_equal(load(&c, err, bad[i].flag != NULL ? 9 : 7, argv), TKV_EINVAL);
                if (strstr(err, bad[i].needle) == NULL) {
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
                }
        }
}

static int setup(void **state)
{
        (void)state;
        return testlib_tmpdir(dir, sizeof dir, "tkv-config");
}

static int teardown(void **state)
{
        (void)state;
        testlib_rmrf(dir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults_run_one_node),
            cmocka_unit_test(test_flags),
            cmocka_unit_test(test_bad_values_name_the_key),
            cmocka_unit_test(test_file_then_flags),
            cmocka_unit_test(test_node_zone),
            cmocka_unit_test(test_file_errors),
            cmocka_unit_test(test_changes_name_every_difference),
            cmocka_unit_test(test_shipped_confs_load),
            cmocka_unit_test(test_secret_policy),
            cmocka_unit_test(test_auth_policy),
            cmocka_unit_test(test_join_policy),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
