/* pbwire.c: every wire type read back, garbage of every kind refused
 * without reading a byte past the message (each case runs on a heap copy
 * of exactly its length, so AddressSanitizer sees any over-read), the last
 * occurrence of a field found, and protobuf-c agreeing that appended
 * fields win (the premise of forwarding as bytes, rpc_forward.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pbwire.h"
#include "tunekv.pb-c.h"

/* A message with one field of each type: 1 varint 300, 2 fixed64,
 * 3 len "abc", 4 fixed32, then 1 again (varint 7). */
static const uint8_t all_types[] = {
    0x08, 0xac, 0x02,                                     /* 1: varint 300 */
    0x11, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* 2: fixed64 */
    0x1a, 0x03, 'a',  'b',  'c',                          /* 3: len 3 */
    0x25, 0x04, 0x03, 0x02, 0x01,                         /* 4: fixed32 */
    0x08, 0x07,                                           /* 1: varint 7 */
};

/* Field boundaries of all_types. */
static const size_t all_types_ends[] = {0, 3, 12, 17, 22, 24};

/* pbwire_find on a heap copy of exactly len bytes of msg. */
static int find_exact(const uint8_t *msg, size_t len, uint32_t number, struct pbwire_field *f,
                      bool *found)
{
        uint8_t *copy = malloc(len > 0 ? len : 1);
        int rv;

        assert_non_null(copy);
        memcpy(copy, msg, len);
        rv = pbwire_find(copy, len, number, f, found);
        free(copy);
        return rv;
}

static void test_every_type(void **state)
{
        struct pbwire_field f;
        size_t off = 0;
        (void)state;

        assert_int_equal(pbwire_next(all_types, sizeof all_types, &off, &f), 0);
        assert_int_equal(f.number, 1);
        assert_int_equal(f.type, PBWIRE_VARINT);
        assert_int_equal(f.value, 300);
        assert_int_equal(f.start, 0);
        assert_int_equal(f.end, 3);
        assert_int_equal(pbwire_next(all_types, sizeof all_types, &off, &f), 0);
        assert_int_equal(f.number, 2);
        assert_int_equal(f.type, PBWIRE_FIXED64);
        assert_true(f.value == 0x1122334455667788ull);
        assert_int_equal(pbwire_next(all_types, sizeof all_types, &off, &f), 0);
        assert_int_equal(f.number, 3);
        assert_int_equal(f.type, PBWIRE_LEN);
        assert_int_equal(f.value, 3);
        assert_int_equal(f.end, 17);
        assert_int_equal(pbwire_next(all_types, sizeof all_types, &off, &f), 0);
        assert_int_equal(f.number, 4);
        assert_int_equal(f.type, PBWIRE_FIXED32);
        assert_int_equal(f.value, 0x01020304);
        assert_int_equal(pbwire_next(all_types, sizeof all_types, &off, &f), 0);
        assert_int_equal(f.value, 7);
        assert_int_equal(off, sizeof all_types);
}

static bool is_boundary(size_t k)
{
        for (size_t i = 0; i < sizeof all_types_ends / sizeof all_types_ends[0]; i++) {
                if (all_types_ends[i] == k) {
                        return true;
                }
        }
        return false;
}

/* Cut anywhere inside a field, the message is refused; cut between fields,
 * it is a shorter, valid message. */
static void test_truncated_at_every_byte(void **state)
{
        struct pbwire_field f;
        bool found;
        (void)state;

        for (size_t k = 0; k <= sizeof all_types; k++) {
                int rv = find_exact(all_types, k, 1, &f, &found);
                if (is_boundary(k)) {
                        assert_int_equal(rv, 0);
                        assert_int_equal(found, k >= 3);
                } else {
                        assert_int_equal(rv, TKV_EPROTO);
                }
        }
}

static void test_overlong_varints(void **state)
{
        /* 2^64 - 1 takes ten bytes, the last 0x01. */
        static const uint8_t max[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0x01};
        /* The tenth byte carries bits beyond 64. */
        static const uint8_t wide[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0x02};
        /* Eleven bytes. */
        static const uint8_t eleven[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80,
                                         0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
        /* A key longer than a uint32. */
        static const uint8_t long_key[] = {0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01};
        /* A length varint that never ends. */
        static const uint8_t long_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        struct pbwire_field f;
        bool found;
        (void)state;

        assert_int_equal(find_exact(max, sizeof max, 1, &f, &found), 0);
        assert_true(found && f.value == UINT64_MAX);
        assert_int_equal(find_exact(wide, sizeof wide, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(eleven, sizeof eleven, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(long_key, sizeof long_key, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(long_len, sizeof long_len, 1, &f, &found), TKV_EPROTO);
}

static void test_lengths_past_the_end(void **state)
{
        static const uint8_t one_over[] = {0x0a, 0x04, 'a', 'b', 'c'};
        /* 2^63: would wrap a pointer if it were added before the check. */
        static const uint8_t huge[] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80,
                                       0x80, 0x80, 0x80, 0x80, 0x01, 'a'};
        static const uint8_t fixed64_short[] = {0x09, 1, 2, 3, 4, 5, 6, 7};
        static const uint8_t fixed32_short[] = {0x0d, 1, 2, 3};
        static const uint8_t exact[] = {0x0a, 0x03, 'a', 'b', 'c'};
        struct pbwire_field f;
        bool found;
        (void)state;

        assert_int_equal(find_exact(one_over, sizeof one_over, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(huge, sizeof huge, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(fixed64_short, sizeof fixed64_short, 1, &f, &found),
                         TKV_EPROTO);
        assert_int_equal(find_exact(fixed32_short, sizeof fixed32_short, 1, &f, &found),
                         TKV_EPROTO);
        assert_int_equal(find_exact(exact, sizeof exact, 1, &f, &found), 0);
        assert_true(found && f.end == sizeof exact);
}

static void test_bad_keys(void **state)
{
        static const uint8_t number0[] = {0x00, 0x01};
        static const uint8_t group_start[] = {0x0b};
        static const uint8_t group_end[] = {0x0c};
        static const uint8_t type6[] = {0x0e, 0x01};
        static const uint8_t type7[] = {0x0f, 0x01};
        /* Field number 2^29 - 1 (the largest) and 2^29 (one too many). */
        static const uint8_t largest[] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x05};
        static const uint8_t too_large[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0x05};
        struct pbwire_field f;
        bool found;
        (void)state;

        assert_int_equal(find_exact(number0, sizeof number0, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(group_start, sizeof group_start, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(group_end, sizeof group_end, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(type6, sizeof type6, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(type7, sizeof type7, 1, &f, &found), TKV_EPROTO);
        assert_int_equal(find_exact(largest, sizeof largest, PBWIRE_NUMBER_MAX, &f, &found), 0);
        assert_true(found && f.value == 5);
        assert_int_equal(find_exact(too_large, sizeof too_large, 1, &f, &found), TKV_EPROTO);
}

static void test_field_absent_or_repeated(void **state)
{
        static const uint8_t absent[] = {0x10, 0x05, 0x1a, 0x00};
        struct pbwire_field f;
        bool found = true;
        (void)state;

        assert_int_equal(find_exact(absent, sizeof absent, 1, &f, &found), 0);
        assert_false(found);
        assert_int_equal(find_exact(all_types, 0, 1, &f, &found), 0); /* empty message */
        assert_false(found);
        /* Field 1 twice: the last one, which decides the value. */
        assert_int_equal(find_exact(all_types, sizeof all_types, 1, &f, &found), 0);
        assert_true(found);
        assert_int_equal(f.value, 7);
        assert_int_equal(f.start, 22);
        assert_int_equal(f.end, 24);
}

static void test_put_varint_field(void **state)
{
        static const uint64_t values[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX};
        uint8_t out[PBWIRE_VARINT_FIELD_BYTES_MAX];
        struct pbwire_field f;
        bool found;
        (void)state;

        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
                size_t n = pbwire_put_varint_field(out, 3, values[i]);
                assert_int_equal(n, pbwire_varint_field_bytes(3, values[i]));
                assert_int_equal(find_exact(out, n, 3, &f, &found), 0);
                assert_true(found && f.type == PBWIRE_VARINT && f.value == values[i]);
        }
        assert_int_equal(pbwire_put_varint_field(out, PBWIRE_NUMBER_MAX, UINT64_MAX),
                         PBWIRE_VARINT_FIELD_BYTES_MAX);
}

/* What rpc_forward sends: a client's request with id, timeout_ms and
 * no_forward appended decodes with the appended values, the rest intact. */
static void test_protobuf_c_takes_appended_request_fields(void **state)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PutRequest put = TUNEKV__V1__PUT_REQUEST__INIT;
        Tunekv__V1__Request *got;
        uint8_t buf[128];
        size_t n;
        (void)state;

        req.id = 77;
        req.timeout_ms = 5000;
        req.body_case = TUNEKV__V1__REQUEST__BODY_PUT;
        req.put = &put;
        put.key.data = (uint8_t *)"k";
        put.key.len = 1;
        put.value.data = (uint8_t *)"value";
        put.value.len = 5;
        n = tunekv__v1__request__pack(&req, buf);
        n += pbwire_put_varint_field(buf + n, 1, 1234567890123ull);
        n += pbwire_put_varint_field(buf + n, 2, 1900);
        n += pbwire_put_varint_field(buf + n, 3, 1);
        got = tunekv__v1__request__unpack(NULL, n, buf);
        assert_non_null(got);
        assert_true(got->id == 1234567890123ull);
        assert_int_equal(got->timeout_ms, 1900);
        assert_true(got->no_forward);
        assert_int_equal(got->body_case, TUNEKV__V1__REQUEST__BODY_PUT);
        assert_memory_equal(got->put->value.data, "value", 5);
        tunekv__v1__request__free_unpacked(got, NULL);
}

/* What call_answer_relay sends: an answer with its id field replaced. */
static void test_protobuf_c_takes_replaced_response_id(void **state)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;
        Tunekv__V1__Response *got;
        uint8_t buf[128], out[160];
        struct pbwire_field f;
        size_t n, m;
        bool found;
        (void)state;

        resp.id = 3;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        resp.write = &w;
        w.index = 42;
        n = tunekv__v1__response__pack(&resp, buf);
        assert_int_equal(pbwire_find(buf, n, 1, &f, &found), 0);
        assert_true(found && f.value == 3);
        memcpy(out, buf, f.start);
        m = f.start + pbwire_put_varint_field(out + f.start, 1, 99999999999ull);
        memcpy(out + m, buf + f.end, n - f.end);
        m += n - f.end;
        got = tunekv__v1__response__unpack(NULL, m, out);
        assert_non_null(got);
        assert_true(got->id == 99999999999ull);
        assert_int_equal(got->body_case, TUNEKV__V1__RESPONSE__BODY_WRITE);
        assert_int_equal(got->write->index, 42);
        tunekv__v1__response__free_unpacked(got, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_type),
            cmocka_unit_test(test_truncated_at_every_byte),
            cmocka_unit_test(test_overlong_varints),
            cmocka_unit_test(test_lengths_past_the_end),
            cmocka_unit_test(test_bad_keys),
            cmocka_unit_test(test_field_absent_or_repeated),
            cmocka_unit_test(test_put_varint_field),
            cmocka_unit_test(test_protobuf_c_takes_appended_request_fields),
            cmocka_unit_test(test_protobuf_c_takes_replaced_response_id),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
