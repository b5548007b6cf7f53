/* One cluster for a whole group of tests (cluster.h): kept apart from
 * cluster.c, which tkv-verify links without the test library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cluster.h"
#include "testlib.h"

int cluster_group_setup(struct cluster *c, char *dir, size_t dir_len, const char *prefix,
                        unsigned partitions, const char *const *flags, struct tkv_client **cl)
{
        memset(c, 0, sizeof *c);
        *cl = NULL;
        if (testlib_tmpdir(dir, dir_len, prefix) != 0 ||
            cluster_start(c, dir, 3, partitions, 3, flags) != 0) {
                return -1;
        }
        *cl = cluster_client(c, 0);
        return *cl != NULL ? 0 : -1;
}

int cluster_group_teardown(struct cluster *c, const char *dir, struct tkv_client **cl)
{
        int failed;

        tkv_client_destroy(*cl);
        *cl = NULL;
        failed = cluster_stop(c);
        cluster_kill_all(c);
        testlib_rmrf(dir);
        return failed == 0 ? 0 : -1;
}

void cluster_test_replicas_agree(void **state)
{
        struct cluster *c = *state;

        assert_non_null(c);
        assert_true(c->partitions > 0);
        for (uint32_t p = 0; p < c->partitions; p++) {
                assert_true(cluster_wait_converged(c, p, CLUSTER_CONVERGE_MS));
        }
}
