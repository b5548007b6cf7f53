/* Log-linear latency histogram; see hist.h for the bucket layout. The index
 * of a value is its exponent (position of the top bit) and the next
 * HIST_SUB_BITS bits below it, which makes recording a handful of integer
 * instructions: cheap enough to run in every completion callback. */
#include "hist.h"

#include <math.h>
#include <string.h>

#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_LINEAR    (2u * HIST_SUB_COUNT) /* values below this get one bucket each */

void hist_init(struct hist *h)
{
        memset(h, 0, sizeof(*h));
        h->min_ns = UINT64_MAX;
}

unsigned hist_index(uint64_t ns)
{
        unsigned e;

        if (ns > HIST_MAX_NS) {
                ns = HIST_MAX_NS;
        }
        if (ns < HIST_LINEAR) {
                return (unsigned)ns;
        }
        e = 63u - (unsigned)__builtin_clzll(ns);
        /* For e == HIST_SUB_BITS this equals ns, so the two ranges join. */
        return ((e - HIST_SUB_BITS + 1) << HIST_SUB_BITS) +
               (unsigned)((ns >> (e - HIST_SUB_BITS)) & (HIST_SUB_COUNT - 1));
}

uint64_t hist_bucket_low(unsigned idx)
{
        unsigned e;

        if (idx < HIST_LINEAR) {
                return idx;
        }
        e = (idx >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
        return (uint64_t)(HIST_SUB_COUNT + (idx & (HIST_SUB_COUNT - 1))) << (e - HIST_SUB_BITS);
}

uint64_t hist_bucket_width(unsigned idx)
{
        if (idx < HIST_LINEAR) {
                return 1;
        }
        return 1ull << ((idx >> HIST_SUB_BITS) - 1);
}

void hist_record(struct hist *h, uint64_t ns)
{
        h->counts[hist_index(ns)]++;
        h->n++;
        h->sum_ns += (double)ns;
        if (ns < h->min_ns) {
                h->min_ns = ns;
        }
        if (ns > h->max_ns) {
                h->max_ns = ns;
        }
}

void hist_merge(struct hist *dst, const struct hist *src)
{
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                dst->counts[i] += src->counts[i];
        }
        dst->n += src->n;
        dst->sum_ns += src->sum_ns;
        if (src->min_ns < dst->min_ns) {
                dst->min_ns = src->min_ns;
        }
        if (src->max_ns > dst->max_ns) {
                dst->max_ns = src->max_ns;
        }
}

uint64_t hist_percentile(const struct hist *h, double q)
{
        uint64_t rank;
        uint64_t seen = 0;
        uint64_t v;

        if (h->n == 0) {
                return 0;
        }
        q = q < 0 ? 0 : (q > 1 ? 1 : q);
        /* 1-based rank of the sample the anchors' exact percentile picks. */
        rank = (uint64_t)(q * (double)(h->n - 1) + 0.5) + 1;
        /* The extreme samples are known exactly. */
        if (rank == 1) {
                return h->min_ns;
        }
        if (rank >= h->n) {
                return h->max_ns;
        }
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                seen += h->counts[i];
                if (seen >= rank) {
                        /* The midpoint halves the worst-case error of
                         * reporting either edge. */
                        v = hist_bucket_low(i) + (hist_bucket_width(i) - 1) / 2;
                        v = v < h->min_ns ? h->min_ns : v;
                        return v > h->max_ns ? h->max_ns : v;
                }
        }
        return h->max_ns;
}

double hist_mean_ns(const struct hist *h)
{
        return h->n > 0 ? h->sum_ns / (double)h->n : 0.0;
}
