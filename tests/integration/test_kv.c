/* A real one-node tunekvd driven through libtunekv: CRUD with versions, CAS,
 * binary and large (compressed) values, 1 000 pipelined requests, STATUS,
 * and reads asking for a level that is not served yet getting a clear
 * error instead of a weaker answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "testlib.h"
#include "tunekv.h"

static char dir[256];
static struct daemon d;
static struct tkv_client *c;

static int setup(void **state)
{
        struct tkv_options o = {0};
        char err[256];
        (void)state;
        if (testlib_tmpdir(dir, sizeof dir, "tkv-kv") != 0) {
                return -1;
        }
        daemon_setup(&d, dir, 1);
        d.extra[0] = "--partitions"; /* one node would default to one */
        d.extra[1] = "8";
        d.extra[2] = "--leases-max"; /* not the default: STATUS reports the config */
        d.extra[3] = "77";
        if (daemon_start(&d, 30000) != 0) {
                return -1;
        }
        o.endpoints = d.client_addr;
        return tkv_client_create(&o, &c, err, sizeof err) == TKV_OK ? 0 : -1;
}

static int teardown(void **state)
{
        int status;
        (void)state;
        tkv_client_destroy(c);
        status = daemon_signal(&d, SIGTERM, true);
        testlib_rmrf(dir);
        /* A clean shutdown is part of the promise. */
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void put_ok(const char *k, const char *v, uint64_t *index)
{
        struct tkv_result r;
        assert_int_equal(tkv_put(c, k, strlen(k), v, strlen(v), NULL, &r), TKV_OK);
        assert_true(r.index > 0);
        *index = r.index;
        tkv_result_release(&r);
}

static void test_crud_and_versions(void **state)
{
        struct tkv_result r;
        uint64_t i1, i2;
        (void)state;
        put_ok("crud", "one", &i1);
        assert_int_equal(tkv_get(c, "crud", 4, NULL, &r), TKV_OK);
        assert_true(r.found);
        assert_int_equal(r.value_len, 3);
        assert_memory_equal(r.value, "one", 3);
        assert_int_equal(r.create_index, i1);
        assert_int_equal(r.mod_index, i1);
        assert_int_equal(r.receipt.level, TKV_LINEARIZABLE);
        assert_int_equal(r.receipt.role, TKV_ROLE_LEADER);
        tkv_result_release(&r);

        put_ok("crud", "two", &i2);
        assert_true(i2 > i1);
        assert_int_equal(tkv_get(c, "crud", 4, NULL, &r), TKV_OK);
        assert_memory_equal(r.value, "two", 3);
        assert_int_equal(r.create_index, i1); /* the key kept its creation */
        assert_int_equal(r.mod_index, i2);
        tkv_result_release(&r);

        assert_int_equal(tkv_delete(c, "crud", 4, NULL, &r), TKV_OK);
        assert_true(r.index > i2);
        tkv_result_release(&r);
        assert_int_equal(tkv_get(c, "crud", 4, NULL, &r), TKV_NOT_FOUND);
        assert_false(r.found);
        tkv_result_release(&r);
        assert_int_equal(tkv_delete(c, "crud", 4, NULL, &r), TKV_NOT_FOUND);
        tkv_result_release(&r);
}

static void test_cas(void **state)
{
        struct tkv_result r;
        uint64_t v1, v2;
        (void)state;
        assert_int_equal(tkv_cas(c, "cas", 3, 0, "a", 1, NULL, &r), TKV_OK); /* must not exist */
        v1 = r.index;
        tkv_result_release(&r);
        assert_int_equal(tkv_cas(c, "cas", 3, 0, "b", 1, NULL, &r), TKV_CONDITION_FAILED);
        assert_int_equal(r.current_version, v1);
        tkv_result_release(&r);
        assert_int_equal(tkv_cas(c, "cas", 3, v1 + 1000, "b", 1, NULL, &r), TKV_CONDITION_FAILED);
        assert_int_equal(r.current_version, v1);
        tkv_result_release(&r);
        assert_int_equal(tkv_cas(c, "cas", 3, v1, "b", 1, NULL, &r), TKV_OK);
        v2 = r.index;
        tkv_result_release(&r);
        assert_int_equal(tkv_get(c, "cas", 3, NULL, &r), TKV_OK);
        assert_memory_equal(r.value, "b", 1);
        assert_int_equal(r.mod_index, v2);
        tkv_result_release(&r);
}

static void roundtrip(const char *key, const uint8_t *value, size_t len)
{
        struct tkv_result r;
        assert_int_equal(tkv_put(c, key, strlen(key), value, len, NULL, &r), TKV_OK);
        tkv_result_release(&r);
        assert_int_equal(tkv_get(c, key, strlen(key), NULL, &r), TKV_OK);
        assert_int_equal(r.value_len, len);
        if (len > 0) {
                assert_memory_equal(r.value, value, len);
        }
        tkv_result_release(&r);
}

static void test_values_binary_large_empty(void **state)
{
        static uint8_t big[1024 * 1024]; /* exactly value_bytes_max */
        const uint8_t bin[] = {0, 1, 0, 255, 0};
        unsigned seed = 99;
        (void)state;
        roundtrip("empty", (const uint8_t *)"", 0);
        roundtrip("binary", bin, sizeof bin);
        for (size_t i = 0; i < sizeof big; i++) {
                big[i] = (uint8_t)("tunekv "[i % 7]); /* compressible: stored LZ4 */
        }
        roundtrip("big-text", big, sizeof big);
        for (size_t i = 0; i < 100 * 1024; i++) {
                big[i] = (uint8_t)rand_r(&seed); /* incompressible: stored raw */
        }
        roundtrip("big-random", big, 100 * 1024);
        roundtrip("max-value", big, sizeof big);
}

struct pipeline {
        unsigned done;
        unsigned ok;
        unsigned wrong;
};

static void on_put(struct tkv_client *cl, const struct tkv_result *r, void *arg)
{
        struct pipeline *p = arg;
        (void)cl;
        p->done++;
        p->ok += r->status == TKV_OK;
}

static void on_get(struct tkv_client *cl, const struct tkv_result *r, void *arg)
{
        struct pipeline *p = arg;
        (void)cl;
        p->done++;
        if (r->status == TKV_OK && r->value_len >= 2 && memcmp(r->value, "v-", 2) == 0) {
                p->ok++;
        } else {
                p->wrong++;
        }
}

static void test_pipeline_1000(void **state)
{
        struct pipeline p = {0};
        char k[32], v[32];
        (void)state;
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "pipe-%d", i);
                snprintf(v, sizeof v, "v-%d", i);
                assert_int_equal(tkv_put_async(c, k, strlen(k), v, strlen(v), NULL, on_put, &p),
                                 TKV_OK);
        }
        /* All 1 000 are outstanding at once on the one connection. */
        assert_int_equal(tkv_pending(c), 1000);
        while (p.done < 1000) {
                assert_true(tkv_poll(c, -1) >= 0);
        }
        assert_int_equal(p.ok, 1000);
        memset(&p, 0, sizeof p);
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "pipe-%d", i);
                assert_int_equal(tkv_get_async(c, k, strlen(k), NULL, on_get, &p), TKV_OK);
        }
        while (p.done < 1000) {
                assert_true(tkv_poll(c, -1) >= 0);
        }
        assert_int_equal(p.ok, 1000);
        assert_int_equal(p.wrong, 0);
}

static void test_status(void **state)
{
        struct tkv_result r;
        (void)state;
        assert_int_equal(tkv_status(c, &r), TKV_OK);
        assert_non_null(r.node);
        assert_int_equal(r.node->node_id, 1);
        assert_int_equal(r.node->partition_count, 8);
        assert_int_equal(r.node->n_partitions, 8);
        for (unsigned i = 0; i < r.node->n_partitions; i++) {
                const struct tkv_partition_status *p = &r.node->partitions[i];
                assert_int_equal(p->role, TKV_ROLE_LEADER);
                assert_int_equal(p->leader_id, 1);
                assert_true(p->ready);
                assert_true(p->applied_index >= 1);
                assert_true(p->commit_index >= p->applied_index);
        }
        assert_int_equal(r.node->key_bytes_max, 4096);
        assert_int_equal(r.node->token_bytes_max, 8192);
        assert_int_equal(r.node->txn_ops_max, 128);
        assert_int_equal(r.node->txn_compares_max, 32);
        assert_int_equal(r.node->txn_bytes_max, 1u << 20);
        /* Lease limits: the defaults, but for leases_max, set here. */
        assert_int_equal(r.node->leases_max, 77);
        assert_int_equal(r.node->lease_keys_max, 1000);
        assert_int_equal(r.node->lease_ttl_min_ms, 1000);
        assert_int_equal(r.node->lease_ttl_max_ms, 3600000);
        tkv_result_release(&r);
}

/* One node serves every level: each answer says what it delivered. */
static void test_every_level_is_served_and_labelled(void **state)
{
        struct tkv_read_options o = {0};
        struct tkv_result r;
        uint64_t i;
        (void)state;
        put_ok("level", "x", &i);
        for (int level = TKV_LINEARIZABLE; level <= TKV_EVENTUAL; level++) {
                memset(&o, 0, sizeof o);
                o.level = (enum tkv_consistency)level;
                o.route = level == TKV_LINEARIZABLE ? TKV_ROUTE_LEADER : TKV_ROUTE_ANY;
                o.max_staleness_ms = level == TKV_BOUNDED_STALENESS ? 60000 : 0;
                o.max_wait_ms = 1000;
                assert_int_equal(tkv_get(c, "level", 5, &o, &r), TKV_OK);
                assert_true(r.found);
                assert_memory_equal(r.value, "x", 1);
                assert_int_equal(r.mod_index, i);
                assert_int_equal(r.receipt.level, level);
                assert_true(r.receipt.applied_index >= i);
                assert_false(r.receipt.fallback);
                assert_true(r.receipt.leader_known);
                tkv_result_release(&r);
        }
        /* A bound it cannot meet: the index is beyond anything written. */
        memset(&o, 0, sizeof o);
        o.level = TKV_EVENTUAL;
        o.min_index = i + 1000000;
        o.on_unmet = TKV_ON_UNMET_FAIL;
        assert_int_equal(tkv_get(c, "level", 5, &o, &r), TKV_BOUND_UNMET);
        assert_int_equal(r.bound_required_index, i + 1000000);
        assert_true(r.bound_applied_index < r.bound_required_index);
        assert_false(r.found);
        tkv_result_release(&r);
        /* BOUNDED_STALENESS needs a bound. */
        memset(&o, 0, sizeof o);
        o.level = TKV_BOUNDED_STALENESS;
        assert_int_equal(tkv_get(c, "level", 5, &o, &r), TKV_INVALID_ARGUMENT);
        assert_non_null(strstr(r.message, "max_staleness_ms"));
        tkv_result_release(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_crud_and_versions),
            cmocka_unit_test(test_cas),
            cmocka_unit_test(test_values_binary_large_empty),
            cmocka_unit_test(test_pipeline_1000),
            cmocka_unit_test(test_status),
            cmocka_unit_test(test_every_level_is_served_and_labelled),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
