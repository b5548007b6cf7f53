/* Framing: a frame is complete only when all its bytes are there, and an
 * announced length above the limit is refused before anything is
 * allocated for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "buffer.h"
#include "err.h"
#include "frame.h"

static void test_header_roundtrip(void **state)
{
        uint8_t h[4];
        (void)state;
        frame_put_header(h, 0x01020304);
        assert_int_equal(h[0], 1); /* big-endian */
        assert_int_equal(h[3], 4);
        assert_int_equal(get_be32(h), 0x01020304);
}

static void test_needs_whole_header(void **state)
{
        uint8_t h[4] = {0, 0, 0, 5};
        size_t body = 99;
        (void)state;
        assert_int_equal(frame_parse(h, 0, 100, &body), TKV_EAGAIN);
        assert_int_equal(frame_parse(h, 3, 100, &body), TKV_EAGAIN);
        assert_int_equal(body, 0);
}

static void test_needs_whole_body(void **state)
{
        uint8_t f[4 + 5] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
        size_t body = 0;
        (void)state;
        assert_int_equal(frame_parse(f, 8, 100, &body), TKV_EAGAIN);
        assert_int_equal(body, 5); /* known once the header is in */
        assert_int_equal(frame_parse(f, 9, 100, &body), 0);
        assert_int_equal(body, 5);
}

static void test_extra_bytes_belong_to_next_frame(void **state)
{
        uint8_t f[4 + 1 + 4] = {0, 0, 0, 1, 'x', 0, 0, 0, 9};
        size_t body = 0;
        (void)state;
        assert_int_equal(frame_parse(f, sizeof f, 100, &body), 0);
        assert_int_equal(body, 1);
        assert_int_equal(frame_parse(f + 5, 4, 100, &body), TKV_EAGAIN);
        assert_int_equal(body, 9);
}

static void test_empty_frame(void **state)
{
        uint8_t f[4] = {0, 0, 0, 0};
        size_t body = 7;
        (void)state;
        assert_int_equal(frame_parse(f, 4, 100, &body), 0);
        assert_int_equal(body, 0);
}

static void test_limit(void **state)
{
        uint8_t f[4];
        size_t body;
        (void)state;
        frame_put_header(f, 100);
        assert_int_equal(frame_parse(f, 4, 100, &body), TKV_EAGAIN); /* at the limit: fine */
        frame_put_header(f, 101);
        assert_int_equal(frame_parse(f, 4, 100, &body), TKV_ETOOBIG);
        frame_put_header(f, 0x80000000u); /* 2^31 */
        assert_int_equal(frame_parse(f, 4, 4 << 20, &body), TKV_ETOOBIG);
        frame_put_header(f, 0xffffffffu);
        assert_int_equal(frame_parse(f, 4, 4 << 20, &body), TKV_ETOOBIG);
}

static void test_buffer_consume_and_reuse(void **state)
{
        struct buffer b;
        (void)state;
        buffer_init(&b);
        assert_int_equal(buffer_append(&b, "abcdef", 6), 0);
        buffer_consume(&b, 4);
        assert_int_equal(buffer_len(&b), 2);
        assert_memory_equal(buffer_data(&b), "ef", 2);
        assert_int_equal(buffer_append(&b, "gh", 2), 0);
        assert_memory_equal(buffer_data(&b), "efgh", 4);
        buffer_consume(&b, 4);
        assert_int_equal(buffer_len(&b), 0);
        assert_int_equal(b.start, 0); /* emptied: offsets reset */
        buffer_free(&b);
}

static void test_cursor_bounds(void **state)
{
        uint8_t d[12];
        struct cursor c;
        uint32_t v32;
        uint64_t v64;
        const uint8_t *p;
        (void)state;
        put_le32(d, 7);
        put_le64(d + 4, 0x1122334455667788ull);
        cursor_init(&c, d, sizeof d);
        assert_int_equal(cursor_u32(&c, &v32), 0);
        assert_int_equal(v32, 7);
        assert_int_equal(cursor_u64(&c, &v64), 0);
        assert_true(v64 == 0x1122334455667788ull);
        assert_int_equal(cursor_u32(&c, &v32), TKV_ECORRUPT);
        assert_int_equal(cursor_bytes(&c, 1, &p), TKV_ECORRUPT);
        assert_int_equal(cursor_bytes(&c, 0, &p), 0);
}

/* A reader's room grows with what arrived, never with what is announced:
 * a sender that announces 4 MiB and stalls holds one chunk of ours. */
static void test_read_room_grows_with_arrivals(void **state)
{
        static uint8_t in[1 << 20];
        const size_t chunk = 65536, max = 8u << 20;
        (void)state;
        frame_put_header(in, 4u << 20);
        assert_int_equal(frame_read_room(in, 4, max, chunk), chunk);
        assert_int_equal(frame_read_room(in, 100000, max, chunk), 100000); /* doubles */
        assert_int_equal(frame_read_room(in, sizeof in, max, chunk), sizeof in);
        /* Near its end: just the rest of the frame. */
        frame_put_header(in, 70000);
        assert_int_equal(frame_read_room(in, 69000, max, chunk), 4 + 70000 - 69000);
        /* No frame started, or one over the limit (refused by frame_parse):
         * one chunk. */
        assert_int_equal(frame_read_room(in, 0, max, chunk), chunk);
        frame_put_header(in, 9u << 20);
        assert_int_equal(frame_read_room(in, 4, max, chunk), chunk);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_header_roundtrip),
            cmocka_unit_test(test_read_room_grows_with_arrivals),
            cmocka_unit_test(test_needs_whole_header),
            cmocka_unit_test(test_needs_whole_body),
            cmocka_unit_test(test_extra_bytes_belong_to_next_frame),
            cmocka_unit_test(test_empty_frame),
            cmocka_unit_test(test_limit),
            cmocka_unit_test(test_buffer_consume_and_reuse),
            cmocka_unit_test(test_cursor_bounds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
