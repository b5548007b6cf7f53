/* Durability of a one-node tunekvd: every acknowledged write survives
 * kill -9 (10 000 of them), survives snapshots and a restart from a
 * snapshot plus the log after it, and SIGTERM under load drains and exits
 * cleanly (RAFT-NOTES B2: raft_close on a busy leader double-frees, so a
 * sanitizer build of this test catches a missing drain). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "raw.h"
#include "testlib.h"
#include "tunekv.h"

#define KEYS_MAX 10000

/* What the test believes is stored: the last acknowledged write per key. */
struct model {
        char value[KEYS_MAX][24];
        uint64_t index[KEYS_MAX];
        bool present[KEYS_MAX];
        bool uncertain[KEYS_MAX]; /* a write to it ended without an answer */
};

struct op {
        struct model *m;
        int key;
        char value[24];
        bool is_delete;
        unsigned *done;
};

static char dir[256];
static struct model model;

static struct tkv_client *connect_to(const struct daemon *d)
{
        struct tkv_options o = {0};
        struct tkv_client *c;
        char err[256];
        o.endpoints = d->client_addr;
        o.timeout_ms = 10000;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        return c;
}

static void key_name(int i, char *k, size_t len)
{
        snprintf(k, len, "key-%05d", i);
}

static void on_write(struct tkv_client *c, const struct tkv_result *r, void *arg)
{
        struct op *op = arg;
        (void)c;
        (*op->done)++;
        if (r->status == TKV_OK || (op->is_delete && r->status == TKV_NOT_FOUND)) {
                op->m->present[op->key] = !op->is_delete;
                op->m->index[op->key] = r->index;
                memcpy(op->m->value[op->key], op->value, sizeof op->value);
        } else {
                op->m->uncertain[op->key] = true;
        }
        free(op);
}

/* Write keys [first, first + n) (delete every `del_every`-th if > 0) with
 * up to `inflight` requests outstanding; return how many were answered. */
static unsigned write_keys(struct tkv_client *c, int first, int n, unsigned inflight, int round,
                           int del_every)
{
        unsigned done = 0;
        for (int i = first; i < first + n; i++) {
                struct op *op = calloc(1, sizeof *op);
                char k[32];
                key_name(i, k, sizeof k);
                op->m = &model;
                op->key = i;
                op->done = &done;
                op->is_delete = del_every > 0 && i % del_every == 0;
                snprintf(op->value, sizeof op->value, "r%d-%d", round, i);
                if (op->is_delete) {
                        assert_int_equal(tkv_delete_async(c, k, strlen(k), NULL, on_write, op), 0);
                } else {
                        assert_int_equal(tkv_put_async(c, k, strlen(k), op->value,
                                                       strlen(op->value), NULL, on_write, op),
                                         0);
                }
                while (tkv_pending(c) >= inflight) {
                        assert_true(tkv_poll(c, -1) >= 0);
                }
        }
        while (tkv_pending(c) > 0) {
                assert_true(tkv_poll(c, -1) >= 0);
        }
        return done;
}

/* Every key the model knows for certain reads back exactly. */
static void verify_model(struct tkv_client *c, int n)
{
        int checked = 0;
        for (int i = 0; i < n; i++) {
                struct tkv_result r;
                char k[32];
                int rv;
                if (model.uncertain[i]) {
                        continue;
                }
                key_name(i, k, sizeof k);
                rv = tkv_get(c, k, strlen(k), NULL, &r);
                if (model.present[i]) {
                        if (rv != TKV_OK) {
                                fail_msg("%s: acknowledged write lost (%s)", k,
                                         tkv_status_name(rv));
                        }
                        assert_int_equal(r.value_len, strlen(model.value[i]));
                        assert_memory_equal(r.value, model.value[i], r.value_len);
                        assert_int_equal(r.mod_index, model.index[i]);
                } else {
                        assert_int_equal(rv, TKV_NOT_FOUND);
                }
                tkv_result_release(&r);
                checked++;
        }
        assert_true(checked > n / 2);
}

/* The daemon the running test started last: teardown kills it if a
 * failed assertion left it running (it would hold ctest's output pipe for
 * ctest's whole timeout). A pid, not the daemon: that lived on the failed
 * test's stack. */
static pid_t started_pid;

static void start(struct daemon *d)
{
        if (daemon_start(d, 60000) != 0) {
                fail_msg("tunekvd did not start");
        }
        started_pid = d->pid;
}

static void test_kill9_keeps_10000_acknowledged_writes(void **state)
{
        struct daemon d;
        struct tkv_client *c;
        (void)state;
        memset(&model, 0, sizeof model);
        daemon_setup(&d, dir, 1);
        start(&d);
        c = connect_to(&d);
        assert_int_equal(write_keys(c, 0, KEYS_MAX, 256, 1, 0), KEYS_MAX);
        for (int i = 0; i < KEYS_MAX; i++) {
                assert_true(model.present[i]); /* all 10 000 acknowledged */
        }
        tkv_client_destroy(c);
        daemon_signal(&d, SIGKILL, true);

        start(&d);
        c = connect_to(&d);
        verify_model(c, KEYS_MAX);
        tkv_client_destroy(c);
        daemon_signal(&d, SIGKILL, true);
}

static int count_snapshots(const char *data_dir)
{
        char path[700];
        int n = 0;
        for (int p = 0; p < 2; p++) {
                DIR *dd;
                struct dirent *e;
                snprintf(path, sizeof path, "%s/p%d", data_dir, p);
                dd = opendir(path);
                assert_non_null(dd);
                while ((e = readdir(dd)) != NULL) {
                        n += strncmp(e->d_name, "snapshot-", 9) == 0 &&
                             strstr(e->d_name, ".meta") == NULL;
                }
                closedir(dd);
        }
        return n;
}

static void test_restart_from_snapshot_and_log(void **state)
{
        struct daemon d;
        struct tkv_client *c;
        int status;
        (void)state;
        memset(&model, 0, sizeof model);
        daemon_setup(&d, dir, 2);
        d.extra[0] = "--partitions";
        d.extra[1] = "2";
        d.extra[2] = "--snapshot-threshold";
        d.extra[3] = "500";
        d.extra[4] = "--snapshot-trailing";
        d.extra[5] = "50";
        start(&d);
        c = connect_to(&d);
        write_keys(c, 0, 4000, 64, 1, 0);
        /* Overwrite and delete some after the snapshots. */
        write_keys(c, 0, 1000, 64, 2, 7);
        tkv_client_destroy(c);
        assert_true(count_snapshots(d.data_dir) >= 2);
        status = daemon_signal(&d, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        start(&d); /* snapshot + log tail, after a clean stop */
        c = connect_to(&d);
        verify_model(c, 4000);
        write_keys(c, 500, 2000, 64, 3, 5);
        tkv_client_destroy(c);
        daemon_signal(&d, SIGKILL, true);

        start(&d); /* and after kill -9 */
        c = connect_to(&d);
        verify_model(c, 4000);
        tkv_client_destroy(c);
        daemon_signal(&d, SIGKILL, true);
}

struct load {
        unsigned acked;
        unsigned failed;
};

static void on_load(struct tkv_client *c, const struct tkv_result *r, void *arg)
{
        struct load *l = arg;
        (void)c;
        if (r->status == TKV_OK) {
                l->acked++;
        } else {
                l->failed++;
        }
}

/* SIGTERM while 256 writes are in flight: the node finishes or fails them,
 * drains its log (B2) and exits 0; six times, as RAFT-NOTES asks. */
static void test_sigterm_under_load_exits_cleanly(void **state)
{
        (void)state;
        for (int round = 0; round < 6; round++) {
                struct daemon d;
                struct tkv_client *c;
                struct load l = {0};
                int status, i = 0;
                daemon_setup(&d, dir, 10 + (unsigned)round);
                start(&d);
                c = connect_to(&d);
                /* Build up a steady load: 256 outstanding, for a while. */
                while (l.acked < 2000) {
                        char k[32];
                        snprintf(k, sizeof k, "busy-%d", i++);
                        assert_int_equal(tkv_put_async(c, k, strlen(k), "v", 1, NULL, on_load, &l),
                                         0);
                        while (tkv_pending(c) >= 256) {
                                assert_true(tkv_poll(c, -1) >= 0);
                        }
                }
                /* Top the pipeline up and push it onto the socket (one poll
                 * can answer all 256 at once), so SIGTERM finds writes in
                 * flight. */
                while (tkv_pending(c) < 256) {
                        char k[32];
                        snprintf(k, sizeof k, "busy-%d", i++);
                        assert_int_equal(tkv_put_async(c, k, strlen(k), "v", 1, NULL, on_load, &l),
                                         0);
                }
                assert_true(tkv_poll(c, 0) >= 0);
                assert_true(tkv_pending(c) > 0);
                daemon_signal(&d, SIGTERM, false);
                while (tkv_pending(c) > 0) {
                        tkv_poll(c, -1);
                }
                status = daemon_wait(&d, 60000);
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        daemon_dump_log(&d);
                        fail_msg("round %d: tunekvd exited with status 0x%x", round, status);
                }
                tkv_client_destroy(c);
        }
}

/* Wait (up to 10 s) until the daemon's log has n lines with needle: a
 * signal's effect shows there. */
static bool log_shows(const struct daemon *d, const char *needle, int n)
{
        for (int i = 0; i < 1000; i++) {
                if (daemon_log_count(d, needle) >= n) {
                        return true;
                }
                usleep(10 * 1000);
        }
        return false;
}

static void write_conf(const char *path, const char *log_level, unsigned timeout_ms,
                       unsigned conns_max, unsigned snapshot_threshold)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f,
                "[server]\nlog_level = %s\nrequest_timeout_ms = %u\n[limits]\nconns_max = %u\n"
                "[raft]\nsnapshot_threshold = %u\n",
                log_level, timeout_ms, conns_max, snapshot_threshold);
        fclose(f);
}

/* SIGUSR1/SIGUSR2 are logged and ignored; SIGHUP reads the configuration
 * again: the log level, limits and timeouts change at once (conns_max 1
 * refuses a second connection), other changes are named as needing a
 * restart, a broken file changes nothing. The node serves throughout and
 * still exits cleanly on SIGTERM. */
static void test_signals_reload_and_never_kill(void **state)
{
        struct daemon d;
        struct tkv_client *c;
        struct tkv_result r;
        char conf[600];
        int status;
        (void)state;

        snprintf(conf, sizeof conf, "%s/reload.conf", dir);
        write_conf(conf, "info", 5000, 1024, 65536);
        daemon_setup(&d, dir, 1);
        d.extra[0] = "--config";
        d.extra[1] = conf;
        d.extra[2] = NULL;
        start(&d);
        assert_int_equal(daemon_signal(&d, SIGUSR1, false), 0);
        assert_int_equal(daemon_signal(&d, SIGUSR2, false), 0);
        assert_true(log_shows(&d, "(SIGUSR2) ignored", 1));
        assert_int_equal(daemon_signal(&d, SIGHUP, false), 0);
        assert_true(log_shows(&d, "reload: configuration unchanged", 1));
        write_conf(conf, "debug", 7000, 1, 4096);
        assert_int_equal(daemon_signal(&d, SIGHUP, false), 0);
        assert_true(log_shows(&d, "reload: server.log_level is now debug", 1));
        assert_true(log_shows(&d, "reload: server.request_timeout_ms is now 7000", 1));
        assert_true(log_shows(&d, "reload: limits.conns_max is now 1", 1));
        assert_true(
            log_shows(&d, "raft.snapshot_threshold changed; it takes effect after a restart", 1));
        {
                /* conns_max 1 now: a first connection is served, a second
                 * refused (BUSY, id 0, closed). */
                int first = raw_connect_addr(d.client_addr, false);
                int second = raw_connect_addr(d.client_addr, false);
                Tunekv__V1__Response *resp = raw_read_response(second);
                assert_non_null(resp);
                assert_int_equal(resp->status, TUNEKV__V1__STATUS__STATUS_BUSY);
                tunekv__v1__response__free_unpacked(resp, NULL);
                close(second);
                close(first);
        }
        write_conf(conf, "debug", 7000, 1024, 4096);
        assert_int_equal(daemon_signal(&d, SIGHUP, false), 0);
        assert_true(log_shows(&d, "reload: limits.conns_max is now 1024", 1));
        write_conf(conf, "loud", 7000, 1024, 4096);
        assert_int_equal(daemon_signal(&d, SIGHUP, false), 0);
        assert_true(log_shows(&d, "nothing changed", 1));
        assert_true(daemon_alive(&d));
        c = connect_to(&d);
        assert_int_equal(tkv_put(c, "after-signals", 13, "v", 1, NULL, &r), TKV_OK);
        tkv_result_release(&r);
        tkv_client_destroy(c);
        status = daemon_signal(&d, SIGTERM, true);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A data dir on a 96 MiB tmpfs that fills up (issue 15: libraft crashed
 * twice on ENOSPC, after 48 "append failed: unknown error"). Below
 * disk_reserve_bytes the node answers writes NO_SPACE, naming why, and
 * keeps serving reads; once space is freed, writes are accepted again.
 * Needs root (mount). */
static void test_full_disk_refuses_writes_then_recovers(void **state)
{
        static char small[400], filler[450], value[256 * 1024];
        struct daemon d;
        struct tkv_options o = {0};
        struct tkv_client *c;
        struct tkv_result r;
        struct statvfs st;
        char err[256], key[32];
        int fd, status, rv = TKV_OK, i;
        off_t fill;
        (void)state;

        if (geteuid() != 0) {
                skip();
        }
        snprintf(small, sizeof small, "%s/small", dir);
        assert_int_equal(mkdir(small, 0700), 0);
        assert_int_equal(mount("tmpfs", small, "tmpfs", 0, "size=96m"), 0);
        daemon_setup(&d, small, 1);
        d.extra[0] = "--disk-reserve-bytes";
        d.extra[1] = "32MiB";
        d.extra[2] = "--segment-bytes";
        d.extra[3] = "1MiB";
        d.extra[4] = "--compress-min-bytes";
        d.extra[5] = "0";
        start(&d);
        /* Leave about 48 MiB free. */
        assert_int_equal(statvfs(small, &st), 0);
        fill = (off_t)((uint64_t)st.f_bavail * st.f_frsize) - 48 * 1024 * 1024;
        snprintf(filler, sizeof filler, "%s/filler", small);
        fd = open(filler, O_CREAT | O_WRONLY, 0600);
        assert_true(fd >= 0);
        assert_int_equal(posix_fallocate(fd, 0, fill), 0);
        close(fd);
        o.endpoints = d.client_addr;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof err), TKV_OK);
        for (size_t k = 0; k < sizeof value; k++) {
                value[k] = (char)(rand() & 0xff); /* incompressible */
        }
        for (i = 0; i < 400 && rv == TKV_OK; i++) {
                snprintf(key, sizeof key, "fill-%d", i);
                rv = tkv_put(c, key, strlen(key), value, sizeof value, NULL, &r);
                if (rv == TKV_NO_SPACE) {
                        assert_non_null(strstr(r.message, "below disk_reserve_bytes"));
                }
                tkv_result_release(&r);
        }
        assert_int_equal(rv, TKV_NO_SPACE);
        assert_true(daemon_alive(&d));
        assert_int_equal(tkv_get(c, "fill-0", 6, NULL, &r), TKV_OK);
        assert_int_equal(r.value_len, sizeof value);
        tkv_result_release(&r);
        /* Space comes back: writes are accepted again (the node checks its
         * free space twice a second; nothing else to await). */
        assert_int_equal(unlink(filler), 0);
        for (i = 0; i < 100; i++) {
                rv = tkv_put(c, "after", 5, "v", 1, NULL, &r);
                tkv_result_release(&r);
                if (rv == TKV_OK) {
                        break;
                }
                usleep(100 * 1000);
        }
        assert_int_equal(rv, TKV_OK);
        tkv_client_destroy(c);
        status = daemon_signal(&d, SIGTERM, true);
        started_pid = 0;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(umount(small), 0);
}

/* A node with an empty data dir whose peers cannot be asked whether they
 * know it (issue 15: it took a new identity and served empty answers, then
 * its peers shut it out for good) refuses to start, naming the peer, unless
 * --bootstrap 1 says this is the first start of a new cluster. */
static void test_fresh_node_needs_its_peers_or_bootstrap(void **state)
{
        static char fresh[300], conf[400], marker[700];
        struct daemon d;
        FILE *f;
        int status;
        (void)state;

        snprintf(fresh, sizeof fresh, "%s/fresh", dir);
        assert_int_equal(mkdir(fresh, 0700), 0);
        daemon_setup(&d, fresh, 1);
        snprintf(conf, sizeof conf, "%s/three.conf", fresh);
        f = fopen(conf, "w");
        assert_non_null(f);
        fprintf(f, "[cluster]\nsecret = recovery-test-secret-0123\n");
        fprintf(f, "[node.1]\nclient_addr = %s\npeer_addr = %s\n", d.client_addr, d.peer_addr);
        for (unsigned i = 2; i <= 3; i++) {
                fprintf(f, "[node.%u]\nclient_addr = 127.0.0.1:%u\npeer_addr = 127.0.0.1:%u\n", i,
                        daemon_free_port(), daemon_free_port());
        }
        fclose(f);
        d.extra[0] = "--config";
        d.extra[1] = conf;
        assert_int_equal(daemon_spawn(&d), 0);
        started_pid = d.pid;
        status = daemon_wait(&d, 30000);
        started_pid = 0;
        assert_true(status > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (daemon_log_count(&d, "did not answer") <= 0) {
                daemon_dump_log(&d);
                fail();
        }
        assert_true(daemon_log_count(&d, "--bootstrap 1") > 0);
        /* Nothing was initialised: no identity written. */
        snprintf(marker, sizeof marker, "%s/tunekv.node", d.data_dir);
        assert_int_not_equal(access(marker, F_OK), 0);
}

static int setup(void **state)
{
        (void)state;
        return testlib_tmpdir(dir, sizeof dir, "tkv-recovery");
}

static int teardown(void **state)
{
        char small[400];
        (void)state;
        /* Still our unreaped child (so the pid cannot have been reused)? */
        if (started_pid > 0 && waitpid(started_pid, NULL, WNOHANG) == 0) {
                kill(started_pid, SIGKILL);
                waitpid(started_pid, NULL, 0);
        }
        started_pid = 0;
        /* test_full_disk_refuses_writes_then_recovers's tmpfs, if a failed
         * assertion left it mounted. */
        snprintf(small, sizeof small, "%s/small", dir);
        (void)umount2(small, MNT_DETACH);
        testlib_rmrf(dir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_kill9_keeps_10000_acknowledged_writes),
            cmocka_unit_test(test_restart_from_snapshot_and_log),
            cmocka_unit_test(test_sigterm_under_load_exits_cleanly),
            cmocka_unit_test(test_signals_reload_and_never_kill),
            cmocka_unit_test(test_full_disk_refuses_writes_then_recovers),
            cmocka_unit_test(test_fresh_node_needs_its_peers_or_bootstrap),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
