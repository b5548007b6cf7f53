/* The protobuf wire format, read one level deep without a schema: enough to
 * find a field in an encoded message and to append fields to one, so that
 * forwarding (rpc_forward.c) can relay messages as bytes instead of
 * decoding and re-encoding them. Every read is bounds-checked: the bytes
 * come from another node and may be garbage, which is refused, never read
 * past. Writers append fields; protobuf's rule that the last occurrence of
 * a singular scalar field wins (protobuf-c follows it) makes an appended
 * field replace an earlier one. */
#ifndef TKV_PBWIRE_H
#define TKV_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire types (the low three bits of a field's key). Groups (3, 4) are
 * deprecated, unused by our schema and refused. */
enum pbwire_type {
        PBWIRE_VARINT = 0,
        PBWIRE_FIXED64 = 1,
        PBWIRE_LEN = 2,
        PBWIRE_FIXED32 = 5,
};

/* Largest field number protobuf allows (2^29 - 1). */
#define PBWIRE_NUMBER_MAX 536870911u

/* Bytes of an encoded varint field (key + value) at most. */
#define PBWIRE_VARINT_FIELD_BYTES_MAX 15

/* One field of an encoded message, as pbwire_next found it. */
struct pbwire_field {
        uint32_t number;
        enum pbwire_type type;
        size_t start;   /* offset of its key */
        size_t end;     /* offset just past it */
        uint64_t value; /* PBWIRE_VARINT, FIXED64, FIXED32: the value; PBWIRE_LEN: the length */
};

/* Read the field at *off of msg (len bytes; borrowed) into f and advance
 * *off past it. Call only while *off < len. Returns 0, or TKV_EPROTO when
 * the bytes are not a field: a truncated or overlong varint, a field number
 * of 0 or above PBWIRE_NUMBER_MAX, a group or unknown wire type, or a
 * length or fixed value that runs past len (*off is then unchanged). */
int pbwire_next(const uint8_t *msg, size_t len, size_t *off, struct pbwire_field *f);

/* Check that all of msg is a sequence of well-formed fields (their
 * contents are not looked into) and find the last occurrence of field
 * number, which decides its value. Returns 0 with *found set (and f filled
 * when found), or TKV_EPROTO. */
int pbwire_find(const uint8_t *msg, size_t len, uint32_t number, struct pbwire_field *f,
                bool *found);

/* Write field number with varint value v at out (room for
 * PBWIRE_VARINT_FIELD_BYTES_MAX bytes); returns the bytes written. */
size_t pbwire_put_varint_field(uint8_t *out, uint32_t number, uint64_t v);

/* Bytes pbwire_put_varint_field writes. */
size_t pbwire_varint_field_bytes(uint32_t number, uint64_t v);

#endif
