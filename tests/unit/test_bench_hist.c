/* tunekv-bench's histogram (src/bench/hist.c) and key generator
 * (src/bench/keys.c): bucket arithmetic, percentiles against exact ones
 * computed the anchors' way, and the Zipf sampler against its distribution. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "keys.h"

static void check_bucket(uint64_t v)
{
        unsigned i = hist_index(v);
        uint64_t low = hist_bucket_low(i);
        uint64_t width = hist_bucket_width(i);

        assert_true(i < HIST_BUCKETS);
        assert_true(low <= v);
        assert_true(v < low + width);
        /* The promise of the layout: a bucket is at most 1/64 of its low edge
         * wide (exact below 128 ns). */
        if (v >= 128) {
                assert_true(width * 64 <= low);
        } else {
                assert_int_equal(width, 1);
        }
}

static void test_hist_buckets(void **state)
{
        struct keys_rng rng;
        unsigned prev = 0;

        (void)state;
        for (uint64_t v = 0; v < 100000; v++) {
                unsigned i = hist_index(v);

                check_bucket(v);
                assert_true(i == prev || i == prev + 1); /* no gaps, no reordering */
                prev = i;
        }
        for (unsigned e = 7; e < 36; e++) {
                check_bucket((1ull << e) - 1);
                check_bucket(1ull << e);
                check_bucket((1ull << e) + 1);
        }
        keys_rng_seed(&rng, 7);
        for (int n = 0; n < 100000; n++) {
                check_bucket(keys_rng_next(&rng) % HIST_MAX_NS);
        }
        check_bucket(HIST_MAX_NS);
        assert_int_equal(hist_index(UINT64_MAX), hist_index(HIST_MAX_NS));
        assert_int_equal(hist_index(HIST_MAX_NS * 10), hist_index(HIST_MAX_NS));
}

static void test_hist_empty_and_single(void **state)
{
        struct hist *h = malloc(sizeof(*h));

        (void)state;
        hist_init(h);
        assert_int_equal(hist_percentile(h, 0.5), 0);
        assert_true(hist_mean_ns(h) == 0.0);
        hist_record(h, 123457);
        /* One sample: every percentile is that sample, exactly (clamped to
         * min and max rather than the bucket's midpoint). */
        assert_int_equal(hist_percentile(h, 0.0), 123457);
        assert_int_equal(hist_percentile(h, 0.5), 123457);
        assert_int_equal(hist_percentile(h, 1.0), 123457);
        assert_true(hist_mean_ns(h) == 123457.0);
        /* Beyond the range: clamped into the last bucket, max stays exact. */
        hist_record(h, 100 * HIST_MAX_NS);
        assert_int_equal(h->max_ns, 100 * HIST_MAX_NS);
        assert_int_equal(h->n, 2);
        free(h);
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

/* etcdbench's exact percentile: index round(q * (n - 1)) of the sorted
 * samples. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double q)
{
        return sorted[(size_t)(q * (double)(n - 1) + 0.5)];
}

static void test_hist_percentiles(void **state)
{
        enum { N = 200000 };
        static const double qs[] = {0.0, 0.5, 0.9, 0.99, 0.999, 1.0};
        uint64_t *v = malloc(N * sizeof(*v));
        struct hist *h = malloc(sizeof(*h));
        struct keys_rng rng;
        double sum = 0;

        (void)state;
        hist_init(h);
        keys_rng_seed(&rng, 42);
        for (size_t i = 0; i < N; i++) {
                /* Log-uniform from 1 us to 1 s: every exponent gets used. */
                v[i] = (uint64_t)(1e3 * pow(1e6, keys_rng_double(&rng)));
                sum += (double)v[i];
                hist_record(h, v[i]);
        }
        qsort(v, N, sizeof(*v), cmp_u64);
        for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
                double exact = (double)exact_percentile(v, N, qs[i]);
                double got = (double)hist_percentile(h, qs[i]);

                /* Within the sample's bucket: at most 1/64 off. */
                assert_true(fabs(got - exact) <= exact / 64.0 + 1.0);
        }
        assert_int_equal(hist_percentile(h, 1.0), v[N - 1]);
        assert_int_equal(hist_percentile(h, 0.0), v[0]);
        assert_true(fabs(hist_mean_ns(h) - sum / N) < 1e-6 * sum / N);
        free(h);
        free(v);
}

static void test_hist_merge(void **state)
{
        struct hist *a = malloc(sizeof(*a));
        struct hist *b = malloc(sizeof(*b));
        struct hist *both = malloc(sizeof(*both));

        (void)state;
        hist_init(a);
        hist_init(b);
        hist_init(both);
        for (uint64_t i = 1; i <= 1000; i++) {
                hist_record(i % 2 ? a : b, i * 1000);
                hist_record(both, i * 1000);
        }
        hist_merge(a, b);
        assert_memory_equal(a->counts, both->counts, sizeof(a->counts));
        assert_int_equal(a->n, 1000);
        assert_int_equal(a->min_ns, 1000);
        assert_int_equal(a->max_ns, 1000000);
        assert_int_equal(hist_percentile(a, 0.99), hist_percentile(both, 0.99));
        free(a);
        free(b);
        free(both);
}

/* Draw samples from Zipf(n, s) and compare each rank's frequency with
 * k^-s / sum_j j^-s. */
static void check_zipf(uint32_t n, double s)
{
        enum { SAMPLES = 1000000 };
        uint64_t *counts = calloc(n, sizeof(*counts));
        struct keys_zipf z;
        struct keys_rng rng;
        double norm = 0;

        assert_true(keys_zipf_init(&z, n, s));
        keys_rng_seed(&rng, 3);
        for (int i = 0; i < SAMPLES; i++) {
                uint32_t k = keys_zipf_next(&z, &rng);

                assert_true(k < n);
                counts[k]++;
        }
        for (uint32_t k = 1; k <= n; k++) {
                norm += pow(k, -s);
        }
        for (uint32_t k = 1; k <= n; k++) {
                double expected = SAMPLES * pow(k, -s) / norm;

                /* Five standard deviations of a binomial count, plus a
                 * little for tiny expectations. */
                assert_true(fabs((double)counts[k - 1] - expected) <= 5 * sqrt(expected) + 3);
        }
        free(counts);
}

static void test_zipf_distribution(void **state)
{
        (void)state;
        check_zipf(100, 0.99);
        check_zipf(100, 1.0); /* where the closed forms divide by zero */
        check_zipf(1000, 0.5);
        check_zipf(50, 2.0);
        check_zipf(1, 0.99);
}

static void test_zipf_large_and_invalid(void **state)
{
        struct keys_zipf z;
        struct keys_rng rng;
        uint64_t first = 0;

        (void)state;
        assert_false(keys_zipf_init(&z, 0, 0.99));
        assert_false(keys_zipf_init(&z, 10, 0.0));
        assert_false(keys_zipf_init(&z, 10, -1.0));
        assert_false(keys_zipf_init(&z, 10, NAN));
        /* Set-up is O(1): a huge key space is fine. */
        assert_true(keys_zipf_init(&z, UINT32_MAX, 0.99));
        keys_rng_seed(&rng, 5);
        for (int i = 0; i < 100000; i++) {
                uint32_t k = keys_zipf_next(&z, &rng);

                first += k == 0;
        }
        /* P(rank 1) for n = 2^32, s = 0.99 is about 1/23.6. */
        assert_true(first > 3500 && first < 5000);
}

static void test_rng_below(void **state)
{
        uint64_t counts[10] = {0};
        struct keys_rng rng;

        (void)state;
        keys_rng_seed(&rng, 11);
        for (int i = 0; i < 1000000; i++) {
                uint32_t k = keys_rng_below(&rng, 10);

                assert_true(k < 10);
                counts[k]++;
        }
        for (int k = 0; k < 10; k++) {
                assert_true(counts[k] > 98500 && counts[k] < 101500);
        }
        for (int i = 0; i < 1000; i++) {
                double d = keys_rng_double(&rng);

                assert_true(d >= 0.0 && d < 1.0);
        }
}

static void test_key_name(void **state)
{
        char buf[KEYS_NAME_BYTES];

        (void)state;
        assert_int_equal(keys_name(buf, 42), 12);
        assert_string_equal(buf, "key-00000042");
        assert_int_equal(keys_name(buf, UINT32_MAX), 14);
        assert_string_equal(buf, "key-4294967295");
}

/* A tagged name is the plain one's prefix in braces: the hundred keys of a
 * prefix share the tag, and the longest name still fits the buffer. */
static void test_key_name_tagged(void **state)
{
        char buf[KEYS_NAME_BYTES];

        (void)state;
        assert_int_equal(keys_name_tagged(buf, 4207), 14);
        assert_string_equal(buf, "{key-000042}07");
        assert_int_equal(keys_name_tagged(buf, UINT32_MAX), 16);
        assert_string_equal(buf, "{key-42949672}95");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hist_buckets),      cmocka_unit_test(test_hist_empty_and_single),
            cmocka_unit_test(test_hist_percentiles),  cmocka_unit_test(test_hist_merge),
            cmocka_unit_test(test_zipf_distribution), cmocka_unit_test(test_zipf_large_and_invalid),
            cmocka_unit_test(test_rng_below),         cmocka_unit_test(test_key_name),
            cmocka_unit_test(test_key_name_tagged),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
