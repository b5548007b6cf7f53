/* SipHash (Aumasson and Bernstein), the keyed hash of tunekv's in-memory
 * tables whose keys a client chooses: store buckets and client sessions.
 *
 * key_hash (keyhash.h) is fixed by the protocol, so anyone can compute it,
 * and xxh64 is not built to resist chosen inputs: keys that share a bucket
 * are cheap to find, and a table indexed by them degrades to a list. Each
 * table draws its own random key instead (siphash_key_random), so which
 * keys collide cannot be known from outside the process. SipHash-1-3 is the
 * variant redis and CPython use for the same purpose. */
#ifndef TKV_SIPHASH_H
#define TKV_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
        uint64_t k0;
        uint64_t k1;
};

/* A fresh key from the kernel's random source (getrandom), or, should that
 * fail, from the clock and addresses: weaker, but never a fixed key. */
void siphash_key_random(struct siphash_key *key);

/* SipHash-1-3 of data under key: what the tables use. */
uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len);

/* SipHash-2-4, the variant with published test vectors (tests check both
 * against the reference implementation's outputs). */
uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

#endif
