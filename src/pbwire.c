/* The protobuf wire format, one level deep (pbwire.h says why). A message
 * is a sequence of fields, each a varint key (number << 3 | wire type)
 * followed by a varint, 8 or 4 fixed bytes, or a varint length and that
 * many bytes. Nothing here trusts a length: each is compared with what is
 * left before anything is skipped. */
#include "pbwire.h"

#include "err.h"
#include "varint.h"

/* A key is a uint32 on the wire: protobuf-c refuses longer ones, and so do
 * we. */
#define PBWIRE_KEY_BITS 32

/* Skip the body of a field of type t whose key ended at *p. */
static int pbwire_body(const uint8_t **p, const uint8_t *end, struct pbwire_field *f)
{
        size_t left;

        switch (f->type) {
        case PBWIRE_VARINT:
                return varint_get(p, end, 64, &f->value) ? 0 : TKV_EPROTO;
        case PBWIRE_FIXED64:
        case PBWIRE_FIXED32:
                left = (size_t)(end - *p);
                if (left < (f->type == PBWIRE_FIXED64 ? 8u : 4u)) {
                        return TKV_EPROTO;
                }
                f->value = 0;
                for (unsigned i = f->type == PBWIRE_FIXED64 ? 8 : 4; i > 0; i--) {
                        f->value = f->value << 8 | (*p)[i - 1]; /* little-endian */
                }
                *p += f->type == PBWIRE_FIXED64 ? 8 : 4;
                return 0;
        case PBWIRE_LEN:
                if (!varint_get(p, end, 64, &f->value)) {
                        return TKV_EPROTO;
                }
                /* Compare with what is left, so that no addition wraps. */
                if (f->value > (uint64_t)(end - *p)) {
                        return TKV_EPROTO;
                }
                *p += f->value;
                return 0;
        default:
                return TKV_EPROTO;
        }
}

int pbwire_next(const uint8_t *msg, size_t len, size_t *off, struct pbwire_field *f)
{
        const uint8_t *p = msg + *off;
        const uint8_t *end = msg + len;
        uint64_t key;
        unsigned type;

        if (!varint_get(&p, end, PBWIRE_KEY_BITS, &key)) {
                return TKV_EPROTO;
        }
        type = (unsigned)(key & 7);
        if (key >> 3 == 0 || key >> 3 > PBWIRE_NUMBER_MAX ||
            (type != PBWIRE_VARINT && type != PBWIRE_FIXED64 && type != PBWIRE_LEN &&
             type != PBWIRE_FIXED32)) {
                return TKV_EPROTO;
        }
        f->number = (uint32_t)(key >> 3);
        f->type = (enum pbwire_type)type;
        f->start = *off;
        if (pbwire_body(&p, end, f) != 0) {
                return TKV_EPROTO;
        }
        f->end = (size_t)(p - msg);
        *off = f->end;
        return 0;
}

int pbwire_find(const uint8_t *msg, size_t len, uint32_t number, struct pbwire_field *f,
                bool *found)
{
        struct pbwire_field cur;
        size_t off = 0;

        *found = false;
        while (off < len) {
                if (pbwire_next(msg, len, &off, &cur) != 0) {
                        return TKV_EPROTO;
                }
                if (cur.number == number) {
                        *f = cur;
                        *found = true;
                }
        }
        return 0;
}

size_t pbwire_varint_field_bytes(uint32_t number, uint64_t v)
{
        return varint_bytes((uint64_t)number << 3 | PBWIRE_VARINT) + varint_bytes(v);
}

size_t pbwire_put_varint_field(uint8_t *out, uint32_t number, uint64_t v)
{
        uint8_t *p = varint_put(out, (uint64_t)number << 3 | PBWIRE_VARINT);
        p = varint_put(p, v);
        return (size_t)(p - out);
}
