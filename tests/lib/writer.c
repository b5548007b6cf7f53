/* The integration tests' writer thread (writer.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "writer.h"

static void *test_writer_run(void *arg)
{
        struct test_writer *w = arg;
        struct tkv_options o = {0};
        struct tkv_client *c = NULL;
        char err[256], key[64], value[32];

        o.endpoints = w->endpoints;
        o.timeout_ms = 30000;
        if (tkv_client_create(&o, &c, err, sizeof err) != TKV_OK) {
                snprintf(w->error, sizeof w->error, "client: %s", err);
                atomic_store(&w->failed, 1);
                return NULL;
        }
        for (unsigned long n = 0; !atomic_load(&w->stop); n++) {
                struct tkv_result r;
                int rv;
                snprintf(key, sizeof key, "%s-%lu", w->prefix, n);
                snprintf(value, sizeof value, "v%lu", n);
                rv = tkv_put(c, key, strlen(key), value, strlen(value), NULL, &r);
                if (rv != TKV_OK) {
                        snprintf(w->error, sizeof w->error, "put %s: %s (%s)", key,
                                 tkv_status_name(rv), r.message);
                        atomic_store(&w->failed, 1);
                        tkv_result_release(&r);
                        break;
                }
                tkv_result_release(&r);
                atomic_store(&w->acked, n + 1);
                if (w->nap_ns > 0) {
                        nanosleep(&(struct timespec){0, w->nap_ns}, NULL);
                }
        }
        tkv_client_destroy(c);
        return NULL;
}

void test_writer_stop(struct test_writer *w)
{
        if (w->running) {
                atomic_store(&w->stop, true);
                pthread_join(w->thread, NULL);
                w->running = false;
        }
}

void test_writer_start(struct test_writer *w, const char *endpoints, const char *prefix,
                       long nap_ns)
{
        test_writer_stop(w);
        memset(w, 0, sizeof *w);
        snprintf(w->endpoints, sizeof w->endpoints, "%s", endpoints);
        w->prefix = prefix;
        w->nap_ns = nap_ns;
        clock_gettime(CLOCK_MONOTONIC, &w->began);
        assert_int_equal(pthread_create(&w->thread, NULL, test_writer_run, w), 0);
        w->running = true;
}

void test_writer_finish(struct test_writer *w, struct cluster *cl, unsigned via)
{
        struct tkv_read_options ro = {0};
        struct tkv_client *c;
        struct timespec now;
        char key[64], value[32];
        unsigned long acked;

        test_writer_stop(w);
        if (atomic_load(&w->failed) != 0) {
                fail_msg("the writer failed: %s", w->error);
        }
        acked = atomic_load(&w->acked);
        assert_true(acked > 0);
        c = cluster_client(cl, via);
        assert_non_null(c);
        ro.level = TKV_LINEARIZABLE;
        for (unsigned long n = 0; n < acked; n++) {
                struct tkv_result r;
                snprintf(key, sizeof key, "%s-%lu", w->prefix, n);
                snprintf(value, sizeof value, "v%lu", n);
                assert_int_equal(tkv_get(c, key, strlen(key), &ro, &r), TKV_OK);
                if (!r.found || r.value_len != strlen(value) ||
                    memcmp(r.value, value, r.value_len) != 0) {
                        fail_msg("acknowledged write %s lost", key);
                }
                tkv_result_release(&r);
        }
        tkv_client_destroy(c);
        clock_gettime(CLOCK_MONOTONIC, &now);
        fprintf(stderr, "# %lu writes acknowledged in %.1f s, all read back\n", acked,
                (double)(now.tv_sec - w->began.tv_sec) +
                    (double)(now.tv_nsec - w->began.tv_nsec) / 1e9);
}
