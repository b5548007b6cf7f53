#include "buffer.h"

#include <string.h>

#include "err.h"
#include "heap.h"

void buffer_init(struct buffer *b)
{
        b->base = NULL;
        b->start = 0;
        b->end = 0;
        b->cap = 0;
}

void buffer_free(struct buffer *b)
{
        tkv_free(b->base);
        buffer_init(b);
}

int buffer_reserve(struct buffer *b, size_t n)
{
        size_t need;
        size_t cap;
        uint8_t *base;

        if (b->cap - b->end >= n) {
                return 0;
        }
        /* Reuse consumed space at the front before growing. */
        if (b->start > 0 && b->cap - buffer_len(b) >= n) {
                buffer_compact(b);
                return 0;
        }
        if (n > SIZE_MAX - buffer_len(b)) {
                return TKV_ENOMEM;
        }
        need = buffer_len(b) + n;
        cap = b->cap > 0 ? b->cap : 256;
        while (cap < need) {
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        }
        buffer_compact(b);
        base = tkv_realloc(b->base, cap);
        if (base == NULL) {
                return TKV_ENOMEM;
        }
        b->base = base;
        b->cap = cap;
        return 0;
}

uint8_t *buffer_extend(struct buffer *b, size_t n)
{
        uint8_t *p = b->base + b->end;
        b->end += n;
        return p;
}

int buffer_append(struct buffer *b, const void *data, size_t n)
{
        int rv = buffer_reserve(b, n);
        if (rv != 0) {
                return rv;
        }
        if (n > 0) {
                memcpy(buffer_extend(b, n), data, n);
        }
        return 0;
}

void buffer_consume(struct buffer *b, size_t n)
{
        b->start += n;
        if (b->start == b->end) {
                b->start = 0;
                b->end = 0;
        }
}

void buffer_compact(struct buffer *b)
{
        size_t len = buffer_len(b);
        if (b->start == 0) {
                return;
        }
        if (len > 0) {
                memmove(b->base, b->base + b->start, len);
        }
        b->start = 0;
        b->end = len;
}

void buffer_reset(struct buffer *b)
{
        b->start = 0;
        b->end = 0;
}

void buffer_trim(struct buffer *b, size_t keep)
{
        if (buffer_len(b) != 0 || b->cap <= keep) {
                return;
        }
        tkv_free(b->base);
        buffer_init(b);
}

int cursor_u32(struct cursor *c, uint32_t *v)
{
        if (c->left < 4) {
                return TKV_ECORRUPT;
        }
        *v = get_le32(c->p);
        c->p += 4;
        c->left -= 4;
        return 0;
}

int cursor_u64(struct cursor *c, uint64_t *v)
{
        if (c->left < 8) {
                return TKV_ECORRUPT;
        }
        *v = get_le64(c->p);
        c->p += 8;
        c->left -= 8;
        return 0;
}

int cursor_bytes(struct cursor *c, size_t n, const uint8_t **out)
{
        if (c->left < n) {
                return TKV_ECORRUPT;
        }
        *out = c->p;
        c->p += n;
        c->left -= n;
        return 0;
}
