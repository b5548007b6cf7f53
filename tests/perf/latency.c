/* Quick latency loop: one client, one request at a time, N PUTs then N GETs
 * of distinct keys, printing p50/p90/p99/p99.9/max per operation. A
 * measuring tool (docs/performance.md), not a test: it asserts nothing.
 *
 *   tkv-latency [ENDPOINT] [N] [VALUE_BYTES] [VALUES_FILE]
 *
 * With VALUES_FILE, the values are its lines (cycled) instead of
 * VALUE_BYTES bytes of 'x': realistic data for the compression figures. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tunekv.h"

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static void report(const char *op, double *us, int n)
{
        qsort(us, (size_t)n, sizeof *us, cmp);
        printf("%-4s n=%d p50=%.1fus p90=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n", op, n,
               us[n / 2], us[n * 9 / 10], us[n * 99 / 100], us[n * 999 / 1000], us[n - 1]);
}

int main(int argc, char **argv)
{
        struct tkv_options o = {0};
        struct tkv_client *c;
        char err[256], key[32];
        int n = argc > 2 ? atoi(argv[2]) : 10000;
        size_t vlen = argc > 3 ? (size_t)atoi(argv[3]) : 100;
        double *put = calloc((size_t)n, sizeof *put), *get = calloc((size_t)n, sizeof *get);
        char *value = malloc(vlen + 1);
        char **lines = NULL;
        size_t n_lines = 0;

        memset(value, 'x', vlen);
        if (argc > 4) {
                FILE *f = fopen(argv[4], "r");
                char *line = NULL;
                size_t cap = 0;
                ssize_t len;
                while (f != NULL && (len = getline(&line, &cap, f)) > 0) {
                        lines = realloc(lines, (n_lines + 1) * sizeof *lines);
                        line[len - 1] = '\0';
                        lines[n_lines++] = strdup(line);
                }
                if (f != NULL) {
                        fclose(f);
                }
                free(line);
        }
        o.endpoints = argc > 1 ? argv[1] : NULL;
        if (tkv_client_create(&o, &c, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "tkv-latency: %s\n", err);
                return 1;
        }
        for (int i = 0; i < n; i++) {
                struct tkv_result r;
                double t0 = now_us();
                snprintf(key, sizeof key, "lat-%d", i);
                const char *v = n_lines > 0 ? lines[i % n_lines] : value;
                size_t len = n_lines > 0 ? strlen(v) : vlen;
                if (tkv_put(c, key, strlen(key), v, len, NULL, &r) != TKV_OK) {
                        fprintf(stderr, "put: %s\n", r.message);
                        return 1;
                }
                put[i] = now_us() - t0;
                tkv_result_release(&r);
        }
        for (int i = 0; i < n; i++) {
                struct tkv_result r;
                double t0 = now_us();
                snprintf(key, sizeof key, "lat-%d", i);
                if (tkv_get(c, key, strlen(key), NULL, &r) != TKV_OK) {
                        fprintf(stderr, "get: %s\n", r.message);
                        return 1;
                }
                get[i] = now_us() - t0;
                tkv_result_release(&r);
        }
        report("PUT", put, n);
        report("GET", get, n);
        tkv_client_destroy(c);
        free(put);
        free(get);
        free(value);
        return 0;
}
