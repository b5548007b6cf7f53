/* Latency histograms with fixed buckets, for the metrics endpoint: cheap
 * enough to count every request (a few comparisons and three adds). */
#ifndef TKV_LATENCY_H
#define TKV_LATENCY_H

#include <stdint.h>

#define LATENCY_BUCKETS 16

/* Upper bounds of the buckets, in seconds (100 µs to 10 s). */
extern const double latency_bounds_s[LATENCY_BUCKETS];

struct latency_hist {
        uint64_t bucket[LATENCY_BUCKETS + 1]; /* per bucket, the last one above every bound */
        uint64_t count;
        double sum_s;
};

void latency_observe(struct latency_hist *h, uint64_t ns);

#endif
