/* The key hash of the protocol: xxh64 with seed 0. The partition of a key is
 * key_hash_partition(key) % P (DESIGN §2), the same on every node and in
 * every client. Being public, it never indexes an in-memory table: those
 * use a random SipHash key of their own (siphash.h).
 *
 * Hash tags (redis cluster's rule): when a key holds a '{' followed later
 * by a '}' with at least one byte between them, only the bytes between the
 * first '{' and the first '}' after it are hashed, so "{user42}:cart" and
 * "{user42}:profile" share a partition and a TXN may span both. "{}", a
 * '{' never closed, or a '}' before any '{' leave the whole key hashed, so
 * every key without such a pair keeps the partition it always had. */
#ifndef TKV_KEYHASH_H
#define TKV_KEYHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* The state struct, for streaming hashes on the stack. */
#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY
#endif
#include <xxhash.h>

static inline uint64_t key_hash(const void *key, size_t len)
{
        return XXH64(key, len, 0);
}

/* The bytes of key that choose its partition: its hash tag if it has one
 * (see above), else the whole key. *tag_len receives their length. */
static inline const void *key_hash_tag(const void *key, size_t len, size_t *tag_len)
{
        const char *k = key;
        const char *open = len > 0 ? memchr(k, '{', len) : NULL;
        const char *close;
        size_t start;

        *tag_len = len;
        if (open == NULL) {
                return key;
        }
        start = (size_t)(open - k) + 1;
        close = memchr(k + start, '}', len - start);
        if (close == NULL || close == k + start) {
                return key;
        }
        *tag_len = (size_t)(close - (k + start));
        return k + start;
}

/* The hash whose remainder modulo the partition count is key's partition. */
static inline uint64_t key_hash_partition(const void *key, size_t len)
{
        size_t tag_len;
        const void *tag = key_hash_tag(key, len, &tag_len);
        return XXH64(tag, tag_len, 0);
}

#endif
