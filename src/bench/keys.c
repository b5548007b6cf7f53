/* PRNG, Zipf sampler and key names for tunekv-bench (see keys.h).
 *
 * The Zipf sampler follows the rejection-inversion method as implemented in
 * Apache Commons (ZipfRejectionInversionSampler): draw u uniformly under the
 * integral H of the hat function h(x) = x^-s, invert it to x, round to the
 * rank k, and accept k when u falls under the histogram bar of k. The
 * helper functions keep H and its inverse accurate near s = 1, where the
 * closed forms divide by (1 - s). */
#include "keys.h"

#include <math.h>
#include <stdio.h>

void keys_rng_seed(struct keys_rng *r, uint64_t seed)
{
        r->state = seed;
}

uint64_t keys_rng_next(struct keys_rng *r)
{
        uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

double keys_rng_double(struct keys_rng *r)
{
        /* The top 53 bits fill a double's mantissa exactly. */
        return (double)(keys_rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t keys_rng_below(struct keys_rng *r, uint32_t n)
{
        return (uint32_t)(((keys_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* log1p(x) / x, exact in the limit x -> 0. */
static double keys_helper1(double x)
{
        if (fabs(x) > 1e-8) {
                return log1p(x) / x;
        }
        return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, exact in the limit x -> 0. */
static double keys_helper2(double x)
{
        if (fabs(x) > 1e-8) {
                return expm1(x) / x;
        }
        return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* H(x) = integral of t^-s from 1 to x, i.e. (x^(1-s) - 1) / (1 - s). */
static double keys_h_integral(double s, double x)
{
        double log_x = log(x);

        return keys_helper2((1.0 - s) * log_x) * log_x;
}

static double keys_h(double s, double x)
{
        return exp(-s * log(x));
}

static double keys_h_integral_inverse(double s, double x)
{
        double t = x * (1.0 - s);

        /* Rounding can push t just below -1, where the inverse is undefined. */
        if (t < -1.0) {
                t = -1.0;
        }
        return exp(keys_helper1(t) * x);
}

bool keys_zipf_init(struct keys_zipf *z, uint32_t n, double s)
{
        if (n == 0 || !isfinite(s) || s <= 0.0) {
                return false;
        }
        z->n = n;
        z->s = s;
        z->h_integral_x1 = keys_h_integral(s, 1.5) - 1.0;
        z->h_integral_n = keys_h_integral(s, (double)n + 0.5);
        z->squeeze = 2.0 - keys_h_integral_inverse(s, keys_h_integral(s, 2.5) - keys_h(s, 2.0));
        return true;
}

uint32_t keys_zipf_next(const struct keys_zipf *z, struct keys_rng *r)
{
        for (;;) {
                double u =
                    z->h_integral_n + keys_rng_double(r) * (z->h_integral_x1 - z->h_integral_n);
                double x = keys_h_integral_inverse(z->s, u);
                double kd = floor(x + 0.5);
                uint32_t k;

                if (kd < 1.0) {
                        kd = 1.0;
                } else if (kd > (double)z->n) {
                        kd = (double)z->n;
                }
                k = (uint32_t)kd;
                if (kd - x <= z->squeeze ||
                    u >= keys_h_integral(z->s, kd + 0.5) - keys_h(z->s, kd)) {
                        return k - 1;
                }
        }
}

size_t keys_name(char *buf, uint32_t index)
{
        int n = snprintf(buf, KEYS_NAME_BYTES, "key-%08u", (unsigned)index);

        return n > 0 ? (size_t)n : 0;
}

size_t keys_name_tagged(char *buf, uint32_t index)
{
        int n = snprintf(buf, KEYS_NAME_BYTES, "{key-%06u}%02u", (unsigned)(index / 100),
                         (unsigned)(index % 100));

        return n > 0 ? (size_t)n : 0;
}
