/* Session tokens in libtunekv: parse, merge, compare and encode them. No
 * I/O, and no allocation but tkv_token_merge_bytes's. client_token.c keeps one
 * struct token per client (its session); include/tunekv.h exposes the
 * helpers.
 *
 * Wire format, little-endian, as the server issues it (DESIGN §4):
 *
 *   u8 version = 1 | u8 reserved = 0 | u16 count | count x entry
 *   entry, 21 bytes: u32 partition | u8 kind | u64 index | u8 mac[8]
 *
 * kind W (1): a write of the session was applied at index; kind R (2): the
 * session observed the partition's state at index. The MAC is the server's
 * (keyed by the cluster secret): a client never creates or alters an entry,
 * it only keeps, drops or merges whole entries.
 *
 * Merge keeps, for each (partition, kind), the entry with the highest index
 * (on a tie, the one already held). A struct token keeps its entries sorted
 * by (partition, kind), one per pair, so its encoding is canonical; the
 * empty token encodes as zero bytes. Bytes that are not such a token
 * (wrong version or reserved byte, unknown kind, a count that disagrees
 * with the length, a truncated entry) are refused whole.
 *
 * Errors are the public enum tkv_code (see codec.h for why). */
#ifndef TKV_CLIENT_TOKEN_H
#define TKV_CLIENT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunekv.h"

#define TOKEN_VERSION      1
#define TOKEN_HEADER_BYTES 4
#define TOKEN_ENTRY_BYTES  21
#define TOKEN_MAC_BYTES    8
#define TOKEN_KIND_W       1
#define TOKEN_KIND_R       2
#define TOKEN_KIND_T       3 /* the session's timestamp high-water mark (partition UINT32_MAX) */
/* The server's default token_bytes_max; the largest token handled here. */
#define TOKEN_BYTES_MAX   TKV_TOKEN_BYTES_MAX
#define TOKEN_ENTRIES_MAX ((TOKEN_BYTES_MAX - TOKEN_HEADER_BYTES) / TOKEN_ENTRY_BYTES)

struct token_entry {
        uint32_t partition;
        uint8_t kind; /* TOKEN_KIND_W, TOKEN_KIND_R or TOKEN_KIND_T */
        uint8_t mac[TOKEN_MAC_BYTES];
        uint64_t index;
        uint64_t used; /* token clock when last merged: eviction order */
};

struct token {
        unsigned n;     /* entries held */
        uint64_t clock; /* merges so far */

        /* Sorted by (partition, kind), one entry per pair. */
        struct token_entry e[TOKEN_ENTRIES_MAX];
};

/* The empty token. */
void token_init(struct token *t);

/* Whether [b, b + len) is a token. Returns TKV_OK and the number of
 * entries in *count (may be NULL), TKV_TOO_LARGE when len exceeds
 * TOKEN_BYTES_MAX, or TKV_USAGE_ERROR when the bytes do not parse. Zero
 * bytes are the empty token. b is borrowed. */
int token_check(const void *b, size_t len, size_t *count);

/* Merge the token [b, b + len) (borrowed) into t. When the result would
 * hold more than TOKEN_ENTRIES_MAX entries: with evict, the entries of t
 * merged least recently (and not named by b) are dropped to make room;
 * without, nothing changes and the call fails with TKV_TOO_LARGE. Fails
 * without changing t when b is not a token (see token_check). *changed
 * (may be NULL) says whether t's encoding changed. */
int token_merge(struct token *t, const void *b, size_t len, bool evict, bool *changed);

/* Replace t's entries with those of [b, b + len) (borrowed); t is
 * unchanged on failure (see token_check). */
int token_set(struct token *t, const void *b, size_t len);

/* Bytes of t's encoding (0 for the empty token). Writes them to out only
 * when cap is at least that. */
size_t token_encode(const struct token *t, void *out, size_t cap);

/* The index of t's entry for (partition, kind), 0 when it has none. */
uint64_t token_index(const struct token *t, uint32_t partition, uint8_t kind);

/* How token a relates to token b: TKV_TOKEN_EQUAL, BEFORE, AFTER or
 * CONCURRENT, where a <= b means that for every (partition, kind) of a, b
 * has an entry with an index at least as high (MACs are not compared).
 * Returns -TKV_USAGE_ERROR or -TKV_TOO_LARGE when either does not pass
 * token_check. a and b are borrowed. */
int token_compare(const void *a, size_t alen, const void *b, size_t blen);

#endif
