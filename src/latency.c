/* Latency histograms (see latency.h). */
#include "latency.h"

const double latency_bounds_s[LATENCY_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                  1,      2.5,     5,      10};

void latency_observe(struct latency_hist *h, uint64_t ns)
{
        double s = (double)ns / 1e9;
        unsigned i = 0;
        while (i < LATENCY_BUCKETS && s > latency_bounds_s[i]) {
                i++;
        }
        h->bucket[i]++;
        h->count++;
        h->sum_s += s;
}
