/* Leases on a real cluster: 3 tunekvd processes x 4 partitions x 3
 * replicas, driven through libtunekv. Proves:
 * - a lease that is not kept alive expires: the partition's leader
 *   proposes its expiry and its keys are deleted, others stay;
 * - keepalives keep its keys past several TTLs;
 * - revoke deletes its keys at once (the next linearizable GET);
 * - a leadership change, by transfer or by killing the leader (SIGKILL),
 *   keeps a kept-alive lease and its keys (the new leader starts every TTL
 *   again; keepalives reach it);
 * - limits: TTL bounds, leases_max, lease_keys_max, a lease of another
 *   partition, an unknown lease, each with its status;
 * - a TXN put with a lease attaches its key (expiry and revoke delete it);
 *   a TXN naming a lease that is gone, full or of another partition
 *   applies nothing and names the lease;
 * - leases survive a restart of every node (snapshot plus log replay);
 * - every replica ends identical.
 * Waiting for an expiry polls GET until the key is gone: nothing announces
 * it (watches come later). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "testlib.h"
#include "tunekv.h"

/* Keepalives go every TTL/3: a holder delayed by a loaded machine (ASan,
 * two cores shared) still has a second of margin. */
#define P       4
#define TTL_MS  1500
#define GONE_MS 30000 /* how long an expiry may take before the test fails */

static char dir[256];
static struct cluster c;
static struct tkv_client *cl;

static const char *const flags[] = {"--election-timeout-ms",
                                    "1000",
                                    "--lease-ttl-min-ms",
                                    "200",
                                    "--lease-ttl-max-ms",
                                    "600000",
                                    "--leases-max",
                                    "4",
                                    "--lease-keys-max",
                                    "4",
                                    "--snapshot-threshold",
                                    "16",
                                    "--snapshot-trailing",
                                    "4",
                                    NULL};

#define S(s) (s), strlen(s)

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
}

static uint64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t grant(const char *tag, uint64_t ttl_ms)
{
        struct tkv_lease l;
        char msg[256];
        int rv = tkv_lease_grant(cl, ttl_ms, S(tag), &l, msg, sizeof msg);
        if (rv != TKV_OK) {
                fprintf(stderr, "grant: %s: %s\n", tkv_status_name(rv), msg);
        }
        assert_int_equal(rv, TKV_OK);
        assert_true(l.id != 0);
        assert_int_equal(l.ttl_ms, ttl_ms);
        return l.id;
}

static int put_lease(const char *k, const char *v, uint64_t lease)
{
        struct tkv_write_options o = {TKV_ACK_COMMITTED, 0, lease};
        struct tkv_result r;
        int rv = tkv_put(cl, k, strlen(k), v, strlen(v), &o, &r);
        tkv_result_release(&r);
        return rv;
}

static bool exists(const char *k)
{
        struct tkv_result r;
        int rv = tkv_get(cl, k, strlen(k), NULL, &r);
        bool found = r.found;
        assert_true(rv == TKV_OK || rv == TKV_NOT_FOUND);
        tkv_result_release(&r);
        return found;
}

/* Poll (linearizable GETs) until k is gone; false after GONE_MS. */
static bool wait_gone(const char *k)
{
        uint64_t until = monotonic_ms() + GONE_MS;
        while (monotonic_ms() < until) {
                if (!exists(k)) {
                        return true;
                }
                sleep_ms(50);
        }
        return false;
}

/* Revoke every lease of partition p (the limit tests need room). */
static void revoke_all(uint32_t p)
{
        struct tkv_lease *l;
        size_t n;
        char msg[256];
        assert_int_equal(tkv_lease_list(cl, p, &l, &n, msg, sizeof msg), TKV_OK);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(tkv_lease_revoke(cl, l[i].id, msg, sizeof msg), TKV_OK);
        }
        tkv_lease_list_free(l);
}

static void test_expiry_deletes_its_keys(void **state)
{
        uint64_t id;
        (void)state;
        id = grant("{exp}", TTL_MS);
        assert_int_equal(put_lease("{exp}a", "1", id), TKV_OK);
        assert_int_equal(put_lease("{exp}b", "2", id), TKV_OK);
        assert_int_equal(put_lease("{exp}plain", "3", 0), TKV_OK);
        assert_true(exists("{exp}a"));
        assert_true(wait_gone("{exp}a"));
        assert_false(exists("{exp}b")); /* one entry deleted both */
        assert_true(exists("{exp}plain"));
        /* Gone for good: keepalive and a PUT with it say NOT_FOUND. */
        assert_int_equal(tkv_lease_keepalive(cl, id, NULL, NULL, 0), TKV_NOT_FOUND);
        assert_int_equal(put_lease("{exp}a", "again", id), TKV_NOT_FOUND);
        assert_false(exists("{exp}a"));
}

/* Keep lease id alive every TTL/3 for rounds rounds. */
static void keep_alive(uint64_t id, int rounds)
{
        struct tkv_lease l;
        char msg[256];
        for (int i = 0; i < rounds; i++) {
                int rv = tkv_lease_keepalive(cl, id, &l, msg, sizeof msg);
                if (rv != TKV_OK) {
                        fprintf(stderr, "keepalive: %s: %s\n", tkv_status_name(rv), msg);
                }
                assert_int_equal(rv, TKV_OK);
                assert_int_equal(l.ttl_ms, TTL_MS);
                sleep_ms(TTL_MS / 3);
        }
}

static void test_keepalive_keeps_keys(void **state)
{
        uint64_t id;
        (void)state;
        id = grant("{keep}", TTL_MS);
        assert_int_equal(put_lease("{keep}k", "v", id), TKV_OK);
        keep_alive(id, 9); /* about 3 TTLs */
        assert_true(exists("{keep}k"));
        assert_true(wait_gone("{keep}k")); /* then, left alone, it expires */
}

static void test_revoke_deletes_at_once(void **state)
{
        struct tkv_lease info;
        uint64_t id;
        char msg[256];
        (void)state;
        id = grant("{rev}", 60000);
        assert_int_equal(put_lease("{rev}x", "1", id), TKV_OK);
        assert_int_equal(put_lease("{rev}y", "2", id), TKV_OK);
        assert_int_equal(tkv_lease_info(cl, id, &info, msg, sizeof msg), TKV_OK);
        assert_int_equal(info.n_keys, 2);
        assert_int_equal(info.n_keys_listed, 2);
        assert_true(info.remaining_ms > 0 && info.remaining_ms <= 60000);
        tkv_lease_release(&info);
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_OK);
        assert_false(exists("{rev}x"));
        assert_false(exists("{rev}y"));
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_NOT_FOUND);
        assert_int_equal(tkv_lease_info(cl, id, &info, msg, sizeof msg), TKV_NOT_FOUND);
}

/* A later PUT without the lease detaches the key: it outlives the lease. */
static void test_put_without_lease_detaches(void **state)
{
        uint64_t id;
        char msg[256];
        (void)state;
        id = grant("{det}", 60000);
        assert_int_equal(put_lease("{det}k", "1", id), TKV_OK);
        assert_int_equal(put_lease("{det}k", "2", 0), TKV_OK);
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_OK);
        assert_true(exists("{det}k"));
}

/* The leader of the lease's partition moves while the holder keeps the
 * lease alive: the new leader starts its TTL again, keepalives reach it,
 * and the keys survive. */
static void test_leader_change_keeps_lease(void **state)
{
        struct tkv_lease l;
        uint64_t id;
        uint32_t p, old, target;
        char msg[256];
        (void)state;
        id = grant("{fail}", TTL_MS);
        assert_int_equal(put_lease("{fail}k", "v", id), TKV_OK);
        assert_int_equal(tkv_lease_info(cl, id, &l, msg, sizeof msg), TKV_OK);
        p = l.partition;
        tkv_lease_release(&l);
        for (int round = 0; round < 2; round++) {
                keep_alive(id, 3);
                old = cluster_leader(&c, 1, p);
                assert_true(old != 0);
                target = old % 3 + 1;
                /* A transfer may be refused while the target catches up. */
                for (int i = 0; i < 100; i++) {
                        assert_int_equal(tkv_lease_keepalive(cl, id, NULL, msg, sizeof msg),
                                         TKV_OK);
                        if (tkv_transfer_leader(cl, p, target, msg, sizeof msg) == TKV_OK) {
                                break;
                        }
                        sleep_ms(TTL_MS / 10);
                }
                assert_int_equal(cluster_leader(&c, target, p), target);
                keep_alive(id, 4);
                assert_true(exists("{fail}k"));
        }
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_OK);
        assert_false(exists("{fail}k"));
}

/* The leader of the lease's partition is killed (SIGKILL) while the holder
 * keeps alive: the next leader gives the lease a full TTL, the holder's
 * keepalives reach it (after the election), and the key survives. */
static void test_leader_killed_keeps_lease(void **state)
{
        struct tkv_lease l;
        uint64_t id;
        uint32_t leader;
        char msg[256];
        (void)state;
        id = grant("{kill}", 3000);
        assert_int_equal(put_lease("{kill}k", "v", id), TKV_OK);
        assert_int_equal(tkv_lease_info(cl, id, &l, msg, sizeof msg), TKV_OK);
        leader = cluster_leader(&c, 1, l.partition);
        tkv_lease_release(&l);
        assert_true(leader != 0);
        cluster_signal(&c, leader, SIGKILL, true);
        for (int i = 0; i < 9; i++) { /* three TTLs */
                int rv = tkv_lease_keepalive(cl, id, NULL, msg, sizeof msg);
                if (rv != TKV_OK) {
                        fprintf(stderr, "keepalive: %s: %s\n", tkv_status_name(rv), msg);
                }
                assert_int_equal(rv, TKV_OK);
                sleep_ms(1000);
        }
        assert_true(exists("{kill}k"));
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_OK);
        assert_false(exists("{kill}k"));
        assert_int_equal(cluster_restart(&c, leader), 0);
}

static void test_limits(void **state)
{
        struct tkv_lease l;
        uint64_t ids[4], other;
        char msg[256];
        (void)state;
        /* TTL bounds. */
        assert_int_equal(tkv_lease_grant(cl, 199, S("{lim}"), &l, msg, sizeof msg),
                         TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(msg, "lease_ttl_min_ms"));
        assert_int_equal(tkv_lease_grant(cl, 600001, S("{lim}"), &l, msg, sizeof msg),
                         TKV_INVALID_ARGUMENT);
        /* leases_max (4) per partition. */
        assert_int_equal(tkv_lease_grant(cl, 60000, S("{lim}"), &l, msg, sizeof msg), TKV_OK);
        revoke_all(l.partition);
        for (int i = 0; i < 4; i++) {
                ids[i] = grant("{lim}", 60000);
        }
        assert_int_equal(tkv_lease_grant(cl, 60000, S("{lim}"), &l, msg, sizeof msg), TKV_BUSY);
        assert_non_null(strstr(msg, "leases_max"));
        /* lease_keys_max (4) per lease. */
        assert_int_equal(put_lease("{lim}1", "v", ids[0]), TKV_OK);
        assert_int_equal(put_lease("{lim}2", "v", ids[0]), TKV_OK);
        assert_int_equal(put_lease("{lim}3", "v", ids[0]), TKV_OK);
        assert_int_equal(put_lease("{lim}4", "v", ids[0]), TKV_OK);
        assert_int_equal(put_lease("{lim}5", "v", ids[0]), TKV_TOO_LARGE);
        assert_false(exists("{lim}5"));
        /* A lease of another partition. */
        other = grant("{other-partition-tag-1}", 60000);
        if ((other >> 48) == (ids[0] >> 48)) {
                tkv_lease_revoke(cl, other, msg, sizeof msg);
                other = grant("{other-partition-tag-2}", 60000);
        }
        if ((other >> 48) != (ids[0] >> 48)) {
                assert_int_equal(put_lease("{lim}6", "v", other), TKV_INVALID_ARGUMENT);
        }
        tkv_lease_revoke(cl, other, msg, sizeof msg);
        /* An id no grant made: in a partition, or in none. */
        assert_int_equal(put_lease("{lim}7", "v", ids[0] + 1000000), TKV_NOT_FOUND);
        assert_int_equal(tkv_lease_keepalive(cl, (uint64_t)99 << 48 | 5, NULL, msg, sizeof msg),
                         TKV_NOT_FOUND);
        assert_int_equal(tkv_lease_keepalive(cl, 0, NULL, msg, sizeof msg), TKV_NOT_FOUND);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(tkv_lease_revoke(cl, ids[i], msg, sizeof msg), TKV_OK);
        }
        assert_false(exists("{lim}1"));
}

/* A TXN of the given puts (key, value, lease) in branch success, with one
 * compare that holds (holds) or not; its status, message into msg. */
struct txn_put {
        const char *key, *value;
        uint64_t lease;
};

static int txn_puts(const struct txn_put *puts, size_t n, bool holds, char *msg, size_t len)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_write_options o = {TKV_ACK_COMMITTED, 0, 0};
        struct tkv_result r;
        int rv;
        assert_non_null(t);
        assert_int_equal(tkv_txn_compare_exists(t, S("{tx}never"), !holds), TKV_OK);
        for (size_t i = 0; i < n; i++) {
                enum tkv_txn_branch b = holds ? TKV_TXN_SUCCESS : TKV_TXN_FAILURE;
                assert_int_equal(
                    tkv_txn_put_lease(t, b, S(puts[i].key), S(puts[i].value), puts[i].lease),
                    TKV_OK);
        }
        rv = tkv_txn_commit(cl, t, &o, &r);
        snprintf(msg, len, "%s", rv == TKV_OK ? "" : r.message);
        if (rv == TKV_OK) {
                assert_int_equal(r.txn_succeeded, holds);
        }
        tkv_result_release(&r);
        tkv_txn_free(t);
        return rv;
}

static bool value_is(const char *k, const char *v)
{
        struct tkv_result r;
        bool same;
        assert_int_equal(tkv_get(cl, k, strlen(k), NULL, &r), TKV_OK);
        same = r.value_len == strlen(v) && memcmp(r.value, v, r.value_len) == 0;
        tkv_result_release(&r);
        return same;
}

/* A TXN put with a lease attaches its key: the key goes when the lease
 * expires or is revoked, the TXN's plain put stays. A TXN naming a lease
 * that is gone, of another partition, or that its puts would take past
 * lease_keys_max changes nothing and says so, naming the lease. */
static void test_txn_puts_take_a_lease(void **state)
{
        struct tkv_lease info;
        uint64_t exp, rev, other;
        char msg[256], idtext[32];
        (void)state;
        exp = grant("{tx}", TTL_MS);
        struct txn_put first[] = {{"{tx}a", "1", exp}, {"{tx}b", "2", 0}};
        assert_int_equal(txn_puts(first, 2, true, msg, sizeof msg), TKV_OK);
        assert_true(wait_gone("{tx}a")); /* expired, with its TXN-attached key */
        assert_true(value_is("{tx}b", "2"));
        /* Revoked: in the failure branch this time. */
        rev = grant("{tx}", 60000);
        struct txn_put second[] = {{"{tx}c", "3", rev}};
        assert_int_equal(txn_puts(second, 1, false, msg, sizeof msg), TKV_OK);
        assert_int_equal(tkv_lease_info(cl, rev, &info, msg, sizeof msg), TKV_OK);
        assert_int_equal(info.n_keys, 1);
        tkv_lease_release(&info);
        assert_int_equal(tkv_lease_revoke(cl, rev, msg, sizeof msg), TKV_OK);
        assert_false(exists("{tx}c"));
        /* The expired lease, in either branch: NOT_FOUND naming it, and
         * neither the plain put nor the overwrite of b happened. */
        snprintf(idtext, sizeof idtext, "lease %llu", (unsigned long long)exp);
        struct txn_put stale[] = {{"{tx}d", "4", 0}, {"{tx}b", "changed", 0}, {"{tx}e", "5", exp}};
        for (int holds = 0; holds <= 1; holds++) {
                assert_int_equal(txn_puts(stale, 3, holds, msg, sizeof msg), TKV_NOT_FOUND);
                assert_non_null(strstr(msg, idtext));
                assert_non_null(strstr(msg, "nothing applied"));
                assert_false(exists("{tx}d"));
                assert_false(exists("{tx}e"));
                assert_true(value_is("{tx}b", "2"));
        }
        /* lease_keys_max (4): five new keys in one TXN are refused whole. */
        rev = grant("{tx}", 60000);
        struct txn_put five[] = {
            {"{tx}1", "v", rev}, {"{tx}2", "v", rev}, {"{tx}3", "v", rev},
            {"{tx}4", "v", rev}, {"{tx}5", "v", rev},
        };
        assert_int_equal(txn_puts(five, 5, true, msg, sizeof msg), TKV_TOO_LARGE);
        assert_non_null(strstr(msg, "lease_keys_max"));
        assert_false(exists("{tx}1"));
        assert_int_equal(txn_puts(five, 4, true, msg, sizeof msg), TKV_OK);
        assert_int_equal(tkv_lease_revoke(cl, rev, msg, sizeof msg), TKV_OK);
        assert_false(exists("{tx}4"));
        /* A lease of another partition: refused before anything is proposed. */
        other = grant("{other-partition-tag-1}", 60000);
        if ((other >> 48) == (rev >> 48)) {
                tkv_lease_revoke(cl, other, msg, sizeof msg);
                other = grant("{other-partition-tag-2}", 60000);
        }
        assert_true((other >> 48) != (rev >> 48));
        struct txn_put foreign[] = {{"{tx}f", "6", other}};
        assert_int_equal(txn_puts(foreign, 1, true, msg, sizeof msg), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(msg, "partition"));
        assert_false(exists("{tx}f"));
        tkv_lease_revoke(cl, other, msg, sizeof msg);
}

/* Restart every node: leases and their keys come back from snapshots (16
 * entries apart here) and the log after them. */
static void test_restart_keeps_leases(void **state)
{
        struct tkv_lease l;
        uint64_t id;
        char k[32], msg[256];
        (void)state;
        id = grant("{rs}", 600000);
        assert_int_equal(put_lease("{rs}held", "v", id), TKV_OK);
        for (int i = 0; i < 40; i++) { /* past the snapshot threshold */
                snprintf(k, sizeof k, "{rs}filler%d", i);
                assert_int_equal(put_lease(k, "x", 0), TKV_OK);
        }
        /* One node at a time (a node is ready once its partitions have a
         * quorum): each restores its snapshot and replays its log. */
        for (unsigned n = 1; n <= 3; n++) {
                assert_int_equal(cluster_signal(&c, n, SIGTERM, true), 0);
                assert_int_equal(cluster_restart(&c, n), 0);
        }
        assert_int_equal(tkv_lease_info(cl, id, &l, msg, sizeof msg), TKV_OK);
        assert_int_equal(l.n_keys, 1);
        assert_memory_equal(l.keys[0], "{rs}held", 8);
        tkv_lease_release(&l);
        assert_int_equal(tkv_lease_revoke(cl, id, msg, sizeof msg), TKV_OK);
        assert_false(exists("{rs}held"));
        assert_true(exists("{rs}filler0"));
}

static int group_setup(void **state)
{
        (void)state;
        return cluster_group_setup(&c, dir, sizeof dir, "tkv-lease", P, flags, &cl);
}

static int group_teardown(void **state)
{
        (void)state;
        return cluster_group_teardown(&c, dir, &cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_expiry_deletes_its_keys),
            cmocka_unit_test(test_keepalive_keeps_keys),
            cmocka_unit_test(test_revoke_deletes_at_once),
            cmocka_unit_test(test_put_without_lease_detaches),
            cmocka_unit_test(test_leader_change_keeps_lease),
            cmocka_unit_test(test_leader_killed_keeps_lease),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_txn_puts_take_a_lease),
            cmocka_unit_test(test_restart_keeps_leases),
            cmocka_unit_test_prestate(cluster_test_replicas_agree, &c),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
