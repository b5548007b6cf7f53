/* Key choice for tunekv-bench: a small fast PRNG, a Zipf sampler over the
 * key space, and the key names ("key-%08u"). No I/O, no allocation. */
#ifndef TKV_BENCH_KEYS_H
#define TKV_BENCH_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: one add and three multiply-xorshifts per number; statistical
 * quality far beyond what choosing keys and operations needs. */
struct keys_rng {
        uint64_t state;
};

/* Zipf over ranks 1..n with P(k) proportional to k^-s, by rejection-inversion
 * (Hörmann and Derflinger 1996): O(1) set-up and O(1) expected time per
 * sample for any s > 0, so a 100-million-key space costs nothing to set up
 * (the YCSB method needs an O(n) zeta sum and s < 1). */
struct keys_zipf {
        uint32_t n;
        double s;
        double h_integral_x1; /* H(1.5) - 1 */
        double h_integral_n;  /* H(n + 0.5) */
        double squeeze;       /* accept at once when k - x <= squeeze */
};

void keys_rng_seed(struct keys_rng *r, uint64_t seed);
uint64_t keys_rng_next(struct keys_rng *r);
/* Uniform in [0, 1). */
double keys_rng_double(struct keys_rng *r);
/* Uniform in [0, n), n > 0 (multiply-shift; bias below 2^-32). */
uint32_t keys_rng_below(struct keys_rng *r, uint32_t n);

/* false when n == 0 or s is not a finite number > 0. */
bool keys_zipf_init(struct keys_zipf *z, uint32_t n, double s);
/* A key index in [0, n): index 0 is the most frequent. */
uint32_t keys_zipf_next(const struct keys_zipf *z, struct keys_rng *r);

/* Write "key-%08u" into buf (NUL-terminated); returns the length, without
 * the NUL. buf must hold at least KEYS_NAME_BYTES. */
#define KEYS_NAME_BYTES 20
size_t keys_name(char *buf, uint32_t index);
/* Write "{key-%06u}%02u" of index / 100 and index % 100: the same hundred
 * keys a prefix of keys_name's holds, with the prefix as a hash tag, so
 * that the hundred share a partition and a SCAN of the prefix less its
 * last two digits ("{key-000042}") reads one partition. Same buffer rule. */
size_t keys_name_tagged(char *buf, uint32_t index);

#endif
