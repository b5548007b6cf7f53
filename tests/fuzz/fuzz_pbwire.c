/* libFuzzer target for pbwire.c: forwarding reads the answers of other
 * nodes with it, as bytes. Oracles, each aborting on a violation:
 *
 * - pbwire_next stays inside the message, moves forward, and reports a
 *   field that lies between its start and end.
 * - pbwire_find agrees with walking the fields by hand: it accepts exactly
 *   when every field is well-formed, and finds the last occurrence.
 * - An appended varint field (what forwarding writes) parses back, with
 *   the size pbwire_varint_field_bytes announced, and wins over earlier
 *   ones.
 * - When pbwire and protobuf-c both accept a Response, the id pbwire finds
 *   is the one protobuf-c decodes: rpc_forward_on_frame finds the call by
 *   it and relays the bytes with that field replaced, so the client must
 *   see the same id. (pbwire is stricter: protobuf-c skips a field numbered
 *   0, pbwire refuses it, and the forwarded call then times out; our nodes
 *   never write one.) */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pbwire.h"
#include "rpc_internal.h"

/* Walk msg by hand; returns 0 if well-formed, with the last field number
 * `number` in *last (found set). */
static int fuzz_walk(const uint8_t *msg, size_t len, uint32_t number, struct pbwire_field *last,
                     bool *found)
{
        size_t off = 0;

        *found = false;
        while (off < len) {
                struct pbwire_field f;
                size_t before = off;
                if (pbwire_next(msg, len, &off, &f) != 0) {
                        FUZZ_ASSERT(off == before);
                        return -1;
                }
                FUZZ_ASSERT(off > before && off <= len);
                FUZZ_ASSERT(f.start == before && f.end == off);
                FUZZ_ASSERT(f.number >= 1 && f.number <= PBWIRE_NUMBER_MAX);
                if (f.type == PBWIRE_LEN) {
                        FUZZ_ASSERT(f.value <= f.end - f.start);
                }
                if (f.number == number) {
                        *last = f;
                        *found = true;
                }
        }
        return 0;
}

/* msg as rpc_forward_on_frame reads it: by pbwire, and by protobuf-c. */
static void fuzz_protobuf_c(const uint8_t *msg, size_t len)
{
        Tunekv__V1__Response *resp = tunekv__v1__response__unpack(&call_pb_allocator, len, msg);
        struct pbwire_field id;
        bool found;

        if (resp == NULL) {
                return;
        }
        if (pbwire_find(msg, len, CALL_RESPONSE_ID_FIELD, &id, &found) == 0) {
                FUZZ_ASSERT(found ? id.type == PBWIRE_VARINT && id.value == resp->id
                                  : resp->id == 0);
        }
        tunekv__v1__response__free_unpacked(resp, &call_pb_allocator);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pbwire_field a = {0}, b = {0};
        bool fa, fb;
        uint32_t number;
        uint64_t v;
        uint8_t *msg;
        size_t n, k;
        int rv;

        if (size < 9) {
                fuzz_protobuf_c(data, size);
                return 0;
        }
        /* First byte: the field number looked for; next 8: a value to append. */
        number = data[0] % 8 + 1;
        memcpy(&v, data + 1, 8);
        data += 9;
        size -= 9;
        rv = pbwire_find(data, size, number, &a, &fa);
        FUZZ_ASSERT((rv == 0) == (fuzz_walk(data, size, number, &b, &fb) == 0));
        if (rv != 0) {
                return 0;
        }
        FUZZ_ASSERT(fa == fb);
        FUZZ_ASSERT(!fa || (a.start == b.start && a.end == b.end && a.value == b.value));
        fuzz_protobuf_c(data, size);

        msg = malloc(size + PBWIRE_VARINT_FIELD_BYTES_MAX);
        FUZZ_ASSERT(msg != NULL);
        memcpy(msg, data, size);
        n = pbwire_put_varint_field(msg + size, number, v);
        k = pbwire_varint_field_bytes(number, v);
        FUZZ_ASSERT(n == k && n <= PBWIRE_VARINT_FIELD_BYTES_MAX);
        FUZZ_ASSERT(pbwire_find(msg, size + n, number, &a, &fa) == 0);
        FUZZ_ASSERT(fa && a.type == PBWIRE_VARINT && a.value == v && a.start == size &&
                    a.end == size + n);
        free(msg);
        return 0;
}
