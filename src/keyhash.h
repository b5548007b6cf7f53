/* The key hash of the protocol: xxh64 with seed 0. The partition of a key is
 * key_hash(key) % P (DESIGN §2), the same on every node and in every
 * client. Being public, it never indexes an in-memory table: those use a
 * random SipHash key of their own (siphash.h). */
#ifndef TKV_KEYHASH_H
#define TKV_KEYHASH_H

#include <stddef.h>
#include <stdint.h>
/* The state struct, for streaming hashes on the stack. */
#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY
#endif
#include <xxhash.h>

static inline uint64_t key_hash(const void *key, size_t len)
{
        return XXH64(key, len, 0);
}

#endif
