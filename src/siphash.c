/* SipHash (see siphash.h), written from the paper's description: four
 * 64-bit words of state, c compression rounds per 8-byte word, the length
 * in the top byte of the last word, d finalization rounds. */
#include "siphash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

static inline uint64_t siphash_rotl(uint64_t x, unsigned b)
{
        return (x << b) | (x >> (64 - b));
}

static inline uint64_t siphash_le64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) {
                v = v << 8 | p[i];
        }
        return v;
}

#define SIPHASH_ROUND(v0, v1, v2, v3)                                                              \
        do {                                                                                       \
                v0 += v1;                                                                          \
                v1 = siphash_rotl(v1, 13);                                                         \
                v1 ^= v0;                                                                          \
                v0 = siphash_rotl(v0, 32);                                                         \
                v2 += v3;                                                                          \
                v3 = siphash_rotl(v3, 16);                                                         \
                v3 ^= v2;                                                                          \
                v0 += v3;                                                                          \
                v3 = siphash_rotl(v3, 21);                                                         \
                v3 ^= v0;                                                                          \
                v2 += v1;                                                                          \
                v1 = siphash_rotl(v1, 17);                                                         \
                v1 ^= v2;                                                                          \
                v2 = siphash_rotl(v2, 32);                                                         \
        } while (0)

/* c and d are constants at each call site, so the compiler unrolls both. */
static inline uint64_t siphash(const struct siphash_key *key, const void *data, size_t len, int c,
                               int d)
{
        const uint8_t *p = data;
        const uint8_t *end = p + (len & ~(size_t)7);
        uint64_t v0 = key->k0 ^ 0x736f6d6570736575ull;
        uint64_t v1 = key->k1 ^ 0x646f72616e646f6dull;
        uint64_t v2 = key->k0 ^ 0x6c7967656e657261ull;
        uint64_t v3 = key->k1 ^ 0x7465646279746573ull;
        uint64_t last = (uint64_t)len << 56;

        for (; p != end; p += 8) {
                uint64_t m = siphash_le64(p);
                v3 ^= m;
                for (int i = 0; i < c; i++) {
                        SIPHASH_ROUND(v0, v1, v2, v3);
                }
                v0 ^= m;
        }
        for (size_t i = 0; i < (len & 7); i++) {
                last |= (uint64_t)p[i] << (8 * i);
        }
        v3 ^= last;
        for (int i = 0; i < c; i++) {
                SIPHASH_ROUND(v0, v1, v2, v3);
        }
        v0 ^= last;
        v2 ^= 0xff;
        for (int i = 0; i < d; i++) {
                SIPHASH_ROUND(v0, v1, v2, v3);
        }
        return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len)
{
        return siphash(key, data, len, 1, 3);
}

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
        return siphash(key, data, len, 2, 4);
}

void siphash_key_random(struct siphash_key *key)
{
        uint8_t raw[16];
        struct timespec ts;

        if (getrandom(raw, sizeof raw, GRND_NONBLOCK) == (ssize_t)sizeof raw) {
                key->k0 = siphash_le64(raw);
                key->k1 = siphash_le64(raw + 8);
                return;
        }
        /* Early boot without entropy: unpredictable enough to spread keys,
         * and never the same fixed key in every process. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        key->k0 = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)key ^ 0x9E3779B97F4A7C15ull;
        clock_gettime(CLOCK_REALTIME, &ts);
        key->k1 = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}
