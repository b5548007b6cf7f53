/* The one key hash of tunekv: xxh64 with seed 0. The partition of a key is
 * key_hash(key) % P (DESIGN §2); a partition's store indexes its table with
 * other bits of the same hash, so the hash is computed once per request. */
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
