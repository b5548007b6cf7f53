/* Read latency per consistency level, on the leader and on a follower: one
 * client, one request at a time, the same key, each read sent to the node
 * named (tkv_read_options.node_id). A measuring tool (docs/performance.md
 * and docs/consistency.md), not a test: it asserts nothing.
 *
 *   tkv-levels [ENDPOINTS] [N]
 *
 * Prints one line per level and node: p50, p90, p99 in microseconds, and
 * how many answers were served where they were sent; then one line per
 * write acknowledgement (PUTs to the same key, sent to its leader). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

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

static const char *level_name(int level)
{
        static const char *names[] = {"linearizable", "sequential", "causal",
                                      "session",      "bounded",    "eventual"};
        return names[level];
}

int main(int argc, char **argv)
{
        struct tkv_options o = {0};
        struct tkv_client *c;
        struct tkv_result r;
        char err[256];
        const char *key = "levels-key";
        int n = argc > 2 ? atoi(argv[2]) : 5000;
        double *us = calloc((size_t)n, sizeof *us);
        uint32_t p, leader = 0, follower = 0;

        o.endpoints = argc > 1 ? argv[1] : NULL;
        if (us == NULL || tkv_client_create(&o, &c, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "tkv-levels: %s\n", us == NULL ? "out of memory" : err);
                return 1;
        }
        if (tkv_put(c, key, strlen(key), "value", 5, NULL, &r) != TKV_OK) {
                fprintf(stderr, "tkv-levels: put: %s\n", r.message);
                return 1;
        }
        tkv_result_release(&r);
        if (tkv_cluster_info(c, &r) != TKV_OK) {
                fprintf(stderr, "tkv-levels: cluster info: %s\n", r.message);
                return 1;
        }
        p = (uint32_t)(XXH64(key, strlen(key), 0) % r.cluster->partition_count);
        leader = r.cluster->partitions[p].leader_id;
        for (unsigned i = 0; i < r.cluster->partitions[p].n_replicas; i++) {
                if (r.cluster->partitions[p].replicas[i] != leader) {
                        follower = r.cluster->partitions[p].replicas[i];
                        break;
                }
        }
        tkv_result_release(&r);
        printf("partition %u: leader node %u, follower node %u; %d reads per line\n", p, leader,
               follower, n);
        for (int level = TKV_LINEARIZABLE; level <= TKV_EVENTUAL; level++) {
                for (int which = 0; which < 2; which++) {
                        uint32_t node = which == 0 ? leader : follower;
                        struct tkv_read_options ro = {0};
                        int local = 0, failed = 0;

                        if (node == 0) {
                                continue;
                        }
                        ro.level = (enum tkv_consistency)level;
                        ro.node_id = node;
                        ro.max_staleness_ms = level == TKV_BOUNDED_STALENESS ? 1000 : 0;
                        ro.session_flags = 0;
                        for (int i = 0; i < n; i++) {
                                double t0 = now_us();
                                int rv = tkv_get(c, key, strlen(key), &ro, &r);
                                us[i] = now_us() - t0;
                                failed += rv != TKV_OK;
                                local += rv == TKV_OK && r.receipt.node_id == node;
                                tkv_result_release(&r);
                        }
                        qsort(us, (size_t)n, sizeof *us, cmp);
                        printf("%-12s on %-8s (node %u): p50=%.1fus p90=%.1fus p99=%.1fus "
                               "served-there=%d failed=%d\n",
                               level_name(level), which == 0 ? "leader" : "follower", node,
                               us[n / 2], us[n * 9 / 10], us[n * 99 / 100], local, failed);
                }
        }
        for (int ack = TKV_ACK_COMMITTED; ack <= TKV_ACK_LEADER_ACCEPTED; ack++) {
                static const char *names[] = {"committed", "all_replicas", "leader_accepted"};
                struct tkv_write_options wo = {0};
                int failed = 0, delivered = 0;

                wo.ack = (enum tkv_ack)ack;
                for (int i = 0; i < n; i++) {
                        double t0 = now_us();
                        int rv = tkv_put(c, key, strlen(key), "value", 5, &wo, &r);
                        us[i] = now_us() - t0;
                        failed += rv != TKV_OK;
                        delivered += rv == TKV_OK && (int)r.ack == ack;
                        tkv_result_release(&r);
                }
                qsort(us, (size_t)n, sizeof *us, cmp);
                printf("put ack=%-15s p50=%.1fus p90=%.1fus p99=%.1fus delivered=%d failed=%d\n",
                       names[ack], us[n / 2], us[n * 9 / 10], us[n * 99 / 100], delivered, failed);
        }
        tkv_client_destroy(c);
        free(us);
        return 0;
}
