/* TXN and hash tags on a real cluster: 3 tunekvd processes x 4 partitions x
 * 3 replicas, driven through libtunekv. Proves:
 * - a TXN whose compares hold runs its success ops, one whose compares fail
 *   its failure ops, each all at once at one index, GETs reading the state
 *   at that index;
 * - keys of several partitions are refused, naming the keys and their
 *   partitions, and nothing is applied;
 * - keys sharing a hash tag share a partition, so a TXN may span them;
 * - a TXN of the maximum size passes, one op, compare or byte more gets
 *   TOO_LARGE naming the limit, and nothing is applied; the GET values of
 *   one answer stop at txn_bytes_max (the rest are marked omitted);
 * - every replica ends identical (applied index and digest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster.h"
#include "testlib.h"
#include "tunekv.h"

#define P         4
#define OPS_MAX   8
#define CMPS_MAX  4
#define BYTES_MAX 2048

static char dir[256];
static struct cluster c;
static struct tkv_client *cl;

static const char *const flags[] = {"--election-timeout-ms",
                                    "1000",
                                    "--txn-ops-max",
                                    "8",
                                    "--txn-compares-max",
                                    "4",
                                    "--txn-bytes-max",
                                    "2048",
                                    NULL};

/* The partition of a key without a hash tag (the pinned rule). */
static uint32_t partition_of(const char *k)
{
        return (uint32_t)(XXH64(k, strlen(k), 0) % P);
}

static uint64_t put(const char *k, const char *v)
{
        struct tkv_result r;
        uint64_t index;
        assert_int_equal(tkv_put(cl, k, strlen(k), v, strlen(v), NULL, &r), TKV_OK);
        index = r.index;
        tkv_result_release(&r);
        return index;
}

/* The value of k, or NULL when absent (static buffer). */
static const char *get(const char *k, uint64_t *mod_index, uint32_t *partition)
{
        static char buf[4096];
        struct tkv_result r;
        int rv = tkv_get(cl, k, strlen(k), NULL, &r);
        const char *out = NULL;
        assert_true(rv == TKV_OK || rv == TKV_NOT_FOUND);
        if (partition != NULL) {
                *partition = r.partition;
        }
        if (r.found) {
                assert_true(r.value_len < sizeof buf);
                memcpy(buf, r.value, r.value_len);
                buf[r.value_len] = '\0';
                out = buf;
                if (mod_index != NULL) {
                        *mod_index = r.mod_index;
                }
        }
        tkv_result_release(&r);
        return out;
}

static void result_is(const struct tkv_txn_op_result *o, enum tkv_txn_op_type type, bool found,
                      const char *value)
{
        assert_int_equal(o->type, type);
        assert_int_equal(o->found, found);
        if (value != NULL) {
                assert_int_equal(o->value_len, strlen(value));
                assert_memory_equal(o->value, value, strlen(value));
        }
}

#define S(s) (s), strlen(s)

static void test_success_and_failure_branches(void **state)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result r;
        uint64_t v = put("{acct1}:balance", "100"), m = 0;
        (void)state;
        /* Pay 30 if nobody changed the balance since we read it. */
        assert_int_equal(tkv_txn_compare_version(t, S("{acct1}:balance"), TKV_CMP_EQUAL, v),
                         TKV_OK);
        assert_int_equal(tkv_txn_compare_exists(t, S("{acct1}:log"), false), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S("{acct1}:balance"), S("70")), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S("{acct1}:log"), S("paid 30")), TKV_OK);
        /* A GET before a PUT of its key still reads the TXN's own index. */
        assert_int_equal(tkv_txn_get(t, TKV_TXN_SUCCESS, S("{acct1}:log")), TKV_OK);
        assert_int_equal(tkv_txn_get(t, TKV_TXN_FAILURE, S("{acct1}:balance")), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_OK);
        assert_true(r.txn_succeeded);
        assert_false(r.txn_replayed);
        assert_true(r.index > v);
        assert_int_equal(r.txn_n_results, 3);
        result_is(&r.txn_results[0], TKV_TXN_PUT, true, NULL);  /* replaced */
        result_is(&r.txn_results[1], TKV_TXN_PUT, false, NULL); /* created */
        result_is(&r.txn_results[2], TKV_TXN_GET, true, "paid 30");
        assert_int_equal(r.txn_results[2].mod_index, r.index);
        assert_string_equal(get("{acct1}:balance", &m, NULL), "70");
        assert_int_equal(m, r.index); /* both puts: one version, the TXN's index */
        assert_string_equal(get("{acct1}:log", &m, NULL), "paid 30");
        assert_int_equal(m, r.index);
        tkv_result_release(&r);
        /* The same TXN again: the version moved, so only the failure GET runs. */
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_OK);
        assert_false(r.txn_succeeded);
        assert_int_equal(r.txn_n_results, 1);
        result_is(&r.txn_results[0], TKV_TXN_GET, true, "70");
        tkv_result_release(&r);
        assert_string_equal(get("{acct1}:balance", NULL, NULL), "70");
        tkv_txn_free(t);

        /* Compares on values and deletes: move an item between two lists. */
        t = tkv_txn_new();
        put("{q}:todo", "job");
        assert_int_equal(tkv_txn_compare_value(t, S("{q}:todo"), TKV_CMP_EQUAL, S("job")), TKV_OK);
        assert_int_equal(tkv_txn_delete(t, TKV_TXN_SUCCESS, S("{q}:todo")), TKV_OK);
        assert_int_equal(tkv_txn_delete(t, TKV_TXN_SUCCESS, S("{q}:never")), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S("{q}:done"), S("job")), TKV_OK);
        assert_int_equal(tkv_txn_get(t, TKV_TXN_SUCCESS, S("{q}:todo")), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_OK);
        assert_true(r.txn_succeeded);
        assert_int_equal(r.txn_n_results, 4);
        result_is(&r.txn_results[0], TKV_TXN_DELETE, true, NULL);
        result_is(&r.txn_results[1], TKV_TXN_DELETE, false, NULL);
        result_is(&r.txn_results[3], TKV_TXN_GET, false, NULL);
        tkv_result_release(&r);
        assert_null(get("{q}:todo", NULL, NULL));
        assert_string_equal(get("{q}:done", NULL, NULL), "job");
        tkv_txn_free(t);
}

/* A TXN's answer carries the session's token: a SESSION read sent to a
 * follower then sees its puts (read-your-writes), as after a PUT. The read
 * is pinned to a node that did not lead the partition when asked:
 * FOLLOWER_PREFERRED may still end at the leader. */
static void test_session_sees_its_txn(void **state)
{
        struct tkv_client *fresh = cluster_client(&c, 0);
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        uint8_t tok[TKV_TOKEN_BYTES_MAX];
        size_t len;
        uint64_t index;
        uint32_t partition, follower;
        (void)state;
        assert_non_null(fresh);
        assert_int_equal(tkv_token_get(fresh, NULL, 0), 0);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S("{ryw}:a"), S("mine")), TKV_OK);
        assert_int_equal(tkv_txn_commit(fresh, t, NULL, &r), TKV_OK);
        index = r.index;
        partition = r.partition;
        tkv_result_release(&r);
        tkv_txn_free(t);
        follower = cluster_leader(&c, 1, partition) % 3 + 1;
        /* The answer's token entry joined the session. */
        len = tkv_token_get(fresh, tok, sizeof tok);
        assert_true(len > 0);
        assert_int_equal(tkv_token_compare("", 0, tok, len), TKV_TOKEN_BEFORE);
        ro.level = TKV_SESSION;
        ro.node_id = follower;
        assert_int_equal(tkv_get(fresh, S("{ryw}:a"), &ro, &r), TKV_OK);
        assert_true(r.found);
        assert_int_equal(r.mod_index, index);
        assert_int_equal(r.receipt.node_id, follower);
        tkv_result_release(&r);
        tkv_client_destroy(fresh);
}

static void test_keys_of_two_partitions_are_refused(void **state)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result r;
        char a[32], b[32], pa[16], pb[16];
        (void)state;
        snprintf(a, sizeof a, "cross-a");
        for (int i = 0;; i++) {
                snprintf(b, sizeof b, "cross-b%d", i);
                if (partition_of(b) != partition_of(a)) {
                        break;
                }
        }
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S(a), S("1")), TKV_OK);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S(b), S("2")), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_INVALID_ARGUMENT);
        snprintf(pa, sizeof pa, "partition %u", partition_of(a));
        snprintf(pb, sizeof pb, "partition %u", partition_of(b));
        assert_non_null(strstr(r.message, a));
        assert_non_null(strstr(r.message, b));
        assert_non_null(strstr(r.message, pa));
        assert_non_null(strstr(r.message, pb));
        tkv_result_release(&r);
        assert_null(get(a, NULL, NULL));
        assert_null(get(b, NULL, NULL));
        tkv_txn_free(t);
}

static void test_hash_tags_colocate(void **state)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result r;
        const char *keys[] = {"{user42}:cart", "{user42}:profile", "{user42}:a", "x{user42}",
                              "{user42}"};
        uint32_t p, want = partition_of("user42");
        bool spread = false;
        (void)state;
        /* Without the tag these keys would not all be in one partition. */
        for (size_t i = 1; i < 5; i++) {
                spread |= partition_of(keys[i]) != partition_of(keys[0]);
        }
        assert_true(spread);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S(keys[i]), S(keys[i])), TKV_OK);
        }
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_OK);
        assert_true(r.txn_succeeded);
        assert_int_equal(r.partition, want);
        tkv_result_release(&r);
        for (size_t i = 0; i < 5; i++) {
                assert_string_equal(get(keys[i], NULL, &p), keys[i]);
                assert_int_equal(p, want);
        }
        tkv_txn_free(t);
}

/* A TXN of n puts of vlen-byte values and m compares under tag {lim}. */
static int commit_sized(unsigned n, unsigned m, size_t vlen, struct tkv_result *r)
{
        struct tkv_txn *t = tkv_txn_new();
        char k[32], *v = malloc(vlen + 1);
        int rv;
        memset(v, 'v', vlen);
        v[vlen] = '\0';
        for (unsigned i = 0; i < m; i++) {
                snprintf(k, sizeof k, "{lim}:c%u", i);
                assert_int_equal(tkv_txn_compare_exists(t, S(k), false), TKV_OK);
        }
        for (unsigned i = 0; i < n; i++) {
                snprintf(k, sizeof k, "{lim}:%u", i);
                assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, k, strlen(k), v, vlen), TKV_OK);
        }
        rv = tkv_txn_commit(cl, t, NULL, r);
        tkv_txn_free(t);
        free(v);
        return rv;
}

static void test_limits(void **state)
{
        struct tkv_result r;
        /* Keys "{lim}:c0".."{lim}:c3" (8 bytes) and "{lim}:0".."{lim}:7" (7). */
        size_t fits = (BYTES_MAX - CMPS_MAX * 8 - OPS_MAX * 7) / OPS_MAX;
        (void)state;
        /* One more op, compare or byte than allowed: refused, nothing applied. */
        assert_int_equal(commit_sized(OPS_MAX + 1, 0, 1, &r), TKV_TOO_LARGE);
        assert_non_null(strstr(r.message, "txn_ops_max"));
        tkv_result_release(&r);
        assert_int_equal(commit_sized(1, CMPS_MAX + 1, 1, &r), TKV_TOO_LARGE);
        assert_non_null(strstr(r.message, "txn_compares_max"));
        tkv_result_release(&r);
        /* Twice the limits still decode, and get the answer naming one. */
        assert_int_equal(commit_sized(2 * OPS_MAX, 2 * CMPS_MAX, 1, &r), TKV_TOO_LARGE);
        assert_non_null(strstr(r.message, "txn_ops_max"));
        tkv_result_release(&r);
        assert_int_equal(commit_sized(OPS_MAX, CMPS_MAX, fits + 1, &r), TKV_TOO_LARGE);
        assert_non_null(strstr(r.message, "txn_bytes_max"));
        tkv_result_release(&r);
        assert_null(get("{lim}:0", NULL, NULL));
        /* Exactly the maximum: applied. */
        assert_int_equal(commit_sized(OPS_MAX, CMPS_MAX, fits, &r), TKV_OK);
        assert_true(r.txn_succeeded);
        assert_int_equal(r.txn_n_results, OPS_MAX);
        tkv_result_release(&r);
        assert_int_equal(strlen(get("{lim}:7", NULL, NULL)), fits);
}

/* The GET values of one answer are capped at txn_bytes_max: those beyond
 * are left out, marked, with their versions. */
static void test_get_values_capped(void **state)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result r;
        char v[1501];
        uint64_t vb;
        (void)state;
        memset(v, 'x', 1500);
        v[1500] = '\0';
        put("{om}:a", v);
        vb = put("{om}:b", v);
        assert_int_equal(tkv_txn_get(t, TKV_TXN_SUCCESS, S("{om}:a")), TKV_OK);
        assert_int_equal(tkv_txn_get(t, TKV_TXN_SUCCESS, S("{om}:b")), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_OK);
        assert_int_equal(r.txn_n_results, 2);
        result_is(&r.txn_results[0], TKV_TXN_GET, true, v);
        assert_false(r.txn_results[0].value_omitted);
        assert_true(r.txn_results[1].found && r.txn_results[1].value_omitted);
        assert_null(r.txn_results[1].value);
        assert_int_equal(r.txn_results[1].mod_index, vb);
        tkv_result_release(&r);
        tkv_txn_free(t);
}

static void test_bad_requests(void **state)
{
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_write_options o = {TKV_ACK_ALL_REPLICAS, 0, 0};
        struct tkv_result r;
        (void)state;
        /* An empty TXN and a non-COMMITTED ack are the caller's mistakes. */
        assert_int_equal(tkv_txn_commit(cl, t, NULL, &r), TKV_USAGE_ERROR);
        tkv_result_release(&r);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, S("{b}:k"), S("v")), TKV_OK);
        assert_int_equal(tkv_txn_commit(cl, t, &o, &r), TKV_USAGE_ERROR);
        tkv_result_release(&r);
        assert_int_equal(tkv_txn_put(t, TKV_TXN_SUCCESS, "", 0, S("v")), TKV_USAGE_ERROR);
        tkv_txn_free(t);
}

static int group_setup(void **state)
{
        (void)state;
        return cluster_group_setup(&c, dir, sizeof dir, "tkv-txn", P, flags, &cl);
}

static int group_teardown(void **state)
{
        (void)state;
        return cluster_group_teardown(&c, dir, &cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_success_and_failure_branches),
            cmocka_unit_test(test_session_sees_its_txn),
            cmocka_unit_test(test_keys_of_two_partitions_are_refused),
            cmocka_unit_test(test_hash_tags_colocate),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_get_values_capped),
            cmocka_unit_test(test_bad_requests),
            cmocka_unit_test_prestate(cluster_test_replicas_agree, &c),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
