/* Latency histogram for tunekv-bench: log-linear buckets (HDR-style), so
 * every sample is kept in constant memory with a bounded relative error.
 *
 * Values are nanoseconds. Below 128 ns each value has its own bucket; above,
 * every power of two [2^e, 2^(e+1)) is split into 64 equal sub-buckets, so a
 * bucket is at most 1/64 (1.6 %) of its lower bound wide. Values above
 * HIST_MAX_NS (60 s, well above any request deadline) are clamped into the
 * last bucket; min, max and the sum stay exact. */
#ifndef TKV_BENCH_HIST_H
#define TKV_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6 /* 64 linear sub-buckets per power of two */
#define HIST_MAX_NS   60000000000ull
#define HIST_TOP_EXP  35 /* floor(log2(HIST_MAX_NS)) */
#define HIST_BUCKETS  (((HIST_TOP_EXP - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + (1 << HIST_SUB_BITS))

struct hist {
        uint64_t counts[HIST_BUCKETS];
        uint64_t n;      /* samples recorded */
        double sum_ns;   /* for the mean; a double cannot overflow */
        uint64_t min_ns; /* exact; UINT64_MAX while empty */
        uint64_t max_ns; /* exact, not clamped */
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* Add src's samples to dst; src is borrowed. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at quantile q (0..1) in ns: the midpoint of the bucket holding
 * the sample of rank round(q * (n - 1)) in sorted order (the anchors' exact
 * definition), clamped to [min, max]; the first and last ranks are min and
 * max exactly. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double q);
double hist_mean_ns(const struct hist *h);

/* Bucket arithmetic, exposed for the unit test. */
unsigned hist_index(uint64_t ns);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_width(unsigned idx);

#endif
