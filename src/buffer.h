/* Growable byte buffers and a bounds-checked read cursor.
 *
 * struct buffer owns its bytes (tkv_malloc). Bytes are consumed from the
 * front with buffer_consume(), which only advances an offset; the space is
 * reclaimed by buffer_compact() or when the buffer empties. Integers are
 * little-endian unless a function says otherwise (the frame header is the
 * one big-endian field in tunekv). */
#ifndef TKV_BUFFER_H
#define TKV_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buffer {
        uint8_t *base; /* allocation, NULL until first use */
        size_t start;  /* offset of the first unconsumed byte */
        size_t end;    /* offset one past the last byte */
        size_t cap;    /* bytes allocated */
};

void buffer_init(struct buffer *b);
void buffer_free(struct buffer *b);

/* Bytes held (end - start) and their address. */
static inline size_t buffer_len(const struct buffer *b)
{
        return b->end - b->start;
}
static inline uint8_t *buffer_data(const struct buffer *b)
{
        return b->base + b->start;
}

/* Make room for n more bytes at the end. TKV_ENOMEM on failure. */
int buffer_reserve(struct buffer *b, size_t n);

/* Address of n bytes appended at the end (reserve first), and bump end. */
uint8_t *buffer_extend(struct buffer *b, size_t n);

int buffer_append(struct buffer *b, const void *data, size_t n);

/* Drop n bytes from the front. */
void buffer_consume(struct buffer *b, size_t n);

/* Move unconsumed bytes to offset 0. */
void buffer_compact(struct buffer *b);

/* Forget the contents, keep the allocation. */
void buffer_reset(struct buffer *b);

/* Shrink the allocation to at most keep bytes when it is empty; lets a
 * connection release the memory a burst of large frames made it grow. */
void buffer_trim(struct buffer *b, size_t keep);

/* Little-endian and big-endian integer stores/loads. */
static inline void put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}
static inline void put_le64(uint8_t *p, uint64_t v)
{
        put_le32(p, (uint32_t)v);
        put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_le64(const uint8_t *p)
{
        return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}
static inline uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read cursor over borrowed bytes. Every read checks the remaining length
 * and returns TKV_ECORRUPT, leaving the cursor unchanged, if it is short. */
struct cursor {
        const uint8_t *p;
        size_t left;
};

static inline void cursor_init(struct cursor *c, const void *data, size_t len)
{
        c->p = data;
        c->left = len;
}

int cursor_u32(struct cursor *c, uint32_t *v);
int cursor_u64(struct cursor *c, uint64_t *v);
/* Borrow n bytes at the cursor (no copy). */
int cursor_bytes(struct cursor *c, size_t n, const uint8_t **out);

#endif
