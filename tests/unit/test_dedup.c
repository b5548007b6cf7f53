/* The client-session table on its own: outcomes, the window and its floor,
 * dropping the least recent client, and the snapshot form round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "dedup.h"
#include "err.h"

static struct command_result result(uint64_t index)
{
        struct command_result r = {0, index, 0, false};
        return r;
}

static void record(struct dedup *d, uint64_t client, uint64_t seq, uint64_t hash, uint64_t index)
{
        struct command_result r = result(index);
        assert_int_equal(dedup_reserve(d, client), 0);
        dedup_record(d, client, seq, hash, &r);
}

static void test_outcomes_and_window(void **state)
{
        struct dedup *d;
        struct command_result r;
        (void)state;
        assert_int_equal(dedup_create(&d, 8, 100), 0);
        assert_int_equal(dedup_check(d, 1, 1, 11, false, &r), DEDUP_NEW);
        /* Nothing was ever dropped: an unknown client's retry never happened. */
        assert_int_equal(dedup_check(d, 1, 1, 11, true, &r), DEDUP_NEW);
        for (uint64_t s = 1; s <= 20; s++) {
                record(d, 1, s, s * 11, 100 + s);
        }
        /* The last 8 (13..20) are kept; 12 and below are forgotten. */
        assert_int_equal(dedup_check(d, 1, 20, 220, true, &r), DEDUP_DUPLICATE);
        assert_int_equal(r.index, 120);
        assert_int_equal(dedup_check(d, 1, 13, 143, true, &r), DEDUP_DUPLICATE);
        assert_int_equal(dedup_check(d, 1, 12, 132, true, &r), DEDUP_FORGOTTEN);
        assert_int_equal(dedup_check(d, 1, 13, 999, true, &r), DEDUP_MISMATCH);
        assert_int_equal(dedup_check(d, 1, 21, 231, false, &r), DEDUP_NEW);
        dedup_destroy(d);
}

static void test_least_recent_client_dropped(void **state)
{
        struct dedup *d;
        struct command_result r;
        (void)state;
        assert_int_equal(dedup_create(&d, 4, 3), 0);
        record(d, 1, 1, 1, 1);
        record(d, 2, 1, 1, 2);
        record(d, 3, 1, 1, 3);
        record(d, 1, 2, 2, 4); /* client 1 is now the most recent */
        assert_int_equal(dedup_check(d, 9, 1, 1, true, &r), DEDUP_NEW);
        record(d, 4, 1, 1, 5); /* drops client 2 */
        assert_int_equal(dedup_sessions(d), 3);
        assert_int_equal(dedup_check(d, 2, 1, 1, true, &r), DEDUP_FORGOTTEN);
        /* Now any unknown client's retry may be a dropped session's. */
        assert_int_equal(dedup_check(d, 9, 1, 1, true, &r), DEDUP_FORGOTTEN);
        assert_int_equal(dedup_check(d, 9, 1, 1, false, &r), DEDUP_NEW);
        assert_int_equal(dedup_check(d, 1, 1, 1, true, &r), DEDUP_DUPLICATE);
        assert_int_equal(dedup_check(d, 3, 1, 1, true, &r), DEDUP_DUPLICATE);
        dedup_destroy(d);
}

static void test_encode_decode(void **state)
{
        struct dedup *a, *b;
        struct command_result r;
        struct cursor c;
        uint8_t *buf;
        size_t len;
        (void)state;
        assert_int_equal(dedup_create(&a, 8, 1000), 0);
        for (uint64_t client = 1; client <= 50; client++) {
                for (uint64_t s = 1; s <= client % 13; s++) {
                        record(a, client, s * 3, client ^ s, client * 100 + s);
                }
        }
        len = dedup_encoded_bytes(a);
        buf = malloc(len);
        dedup_encode(a, buf);
        assert_int_equal(dedup_create(&b, 8, 1000), 0);
        cursor_init(&c, buf, len);
        assert_int_equal(dedup_decode(b, &c), 0);
        assert_int_equal(c.left, 0);
        assert_int_equal(dedup_sessions(b), dedup_sessions(a));
        for (uint64_t client = 1; client <= 50; client++) {
                for (uint64_t s = 1; s <= client % 13; s++) {
                        enum dedup_outcome oa = dedup_check(a, client, s * 3, client ^ s, true, &r);
                        uint64_t ia = r.index;
                        enum dedup_outcome ob = dedup_check(b, client, s * 3, client ^ s, true, &r);
                        assert_int_equal(oa, ob);
                        if (oa == DEDUP_DUPLICATE) {
                                assert_int_equal(r.index, ia);
                        }
                }
        }
        /* Truncated input is refused, never read past. */
        cursor_init(&c, buf, len - 1);
        dedup_destroy(b);
        assert_int_equal(dedup_create(&b, 8, 1000), 0);
        assert_int_equal(dedup_decode(b, &c), TKV_ECORRUPT);
        free(buf);
        dedup_destroy(a);
        dedup_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_outcomes_and_window),
            cmocka_unit_test(test_least_recent_client_dropped),
            cmocka_unit_test(test_encode_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
