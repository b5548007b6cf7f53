/* LEB128 varints: 7 bits a byte, least significant first, the high bit set
 * on every byte but the last. The compact forms of stored dependencies
 * (session.c), store entries (store.c) and replicated commands (command.c)
 * use them. */
#ifndef TKV_VARINT_H
#define TKV_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VARINT_BYTES_MAX 10 /* of a 64-bit value */

/* Bytes varint_put writes for v. */
static inline size_t varint_bytes(uint64_t v)
{
        size_t n = 1;
        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

/* Write v at p; returns the byte after it. */
static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
        while (v >= 0x80) {
                *p++ = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t)v;
        return p;
}

/* Read a varint of at most max_bits (<= 64) from [*p, end) and advance *p:
 * false if it is truncated, longer than max_bits needs, or too large. */
static inline bool varint_get(const uint8_t **p, const uint8_t *end, unsigned max_bits, uint64_t *v)
{
        uint64_t out = 0;
        for (unsigned shift = 0; shift < max_bits; shift += 7) {
                uint8_t b;
                if (*p == end) {
                        return false;
                }
                b = *(*p)++;
                if (shift == 63 && (b & 0x7f) > 1) {
                        return false; /* beyond 64 bits */
                }
                out |= (uint64_t)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                        *v = out;
                        return max_bits >= 64 || out >> max_bits == 0;
                }
        }
        return false;
}

/* Read a varint this process wrote itself (no bounds to check); returns
 * the byte after it. */
static inline const uint8_t *varint_get_trusted(const uint8_t *p, uint64_t *v)
{
        unsigned shift = 0;
        *v = 0;
        while (*p & 0x80) {
                *v |= (uint64_t)(*p++ & 0x7f) << shift;
                shift += 7;
        }
        *v |= (uint64_t)*p++ << shift;
        return p;
}

#endif
