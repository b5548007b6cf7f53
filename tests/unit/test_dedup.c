/* The client-session table on its own: outcomes, the window and its floor,
 * which client is dropped (a flood of new ids does not reach the clients
 * that keep writing), the byte bound, and the snapshot form round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "dedup.h"
#include "err.h"

#define BYTES (64u << 20) /* a byte bound no test here reaches */

static struct command_result result(uint64_t index)
{
        struct command_result r = {.index = index};
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
        assert_int_equal(dedup_create(&d, 8, 100, BYTES), 0);
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
        assert_int_equal(dedup_create(&d, 4, 3, BYTES), 0);
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
        assert_int_equal(dedup_create(&a, 8, 1000, BYTES), 0);
        for (uint64_t client = 1; client <= 50; client++) {
                for (uint64_t s = 1; s <= client % 13; s++) {
                        record(a, client, s * 3, client ^ s, client * 100 + s);
                }
        }
        len = dedup_encoded_bytes(a);
        buf = malloc(len);
        dedup_encode(a, buf);
        assert_int_equal(dedup_create(&b, 8, 1000, BYTES), 0);
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
        assert_int_equal(dedup_create(&b, 8, 1000, BYTES), 0);
        assert_int_equal(dedup_decode(b, &c), TKV_ECORRUPT);
        free(buf);
        dedup_destroy(a);
        dedup_destroy(b);
}

/* Encode a into a fresh table with the same bounds. */
static struct dedup *round_trip(struct dedup *a, unsigned window, unsigned max, uint64_t bytes)
{
        struct dedup *b;
        struct cursor c;
        size_t len = dedup_encoded_bytes(a);
        uint8_t *buf = malloc(len);
        dedup_encode(a, buf);
        assert_int_equal(dedup_create(&b, window, max, bytes), 0);
        cursor_init(&c, buf, len);
        assert_int_equal(dedup_decode(b, &c), 0);
        assert_int_equal(c.left, 0);
        free(buf);
        return b;
}

/* The finding: 140 000 distinct client ids evicted every real client's
 * session within seconds. Clients that wrote twice are established; new
 * ids with one write each only push each other out. */
static void test_flood_of_new_clients_keeps_established_ones(void **state)
{
        struct dedup *d;
        struct command_result r;
        (void)state;
        assert_int_equal(dedup_create(&d, 8, 100, BYTES), 0);
        for (uint64_t client = 1; client <= 20; client++) {
                record(d, client, 1, client, client);
                record(d, client, 2, client + 1000, client + 100);
        }
        for (uint64_t client = 1000000; client < 1000000 + 140000; client++) {
                record(d, client, 1, 7, client);
        }
        assert_int_equal(dedup_sessions(d), 100);
        for (uint64_t client = 1; client <= 20; client++) {
                assert_int_equal(dedup_check(d, client, 2, client + 1000, true, &r),
                                 DEDUP_DUPLICATE);
                assert_int_equal(r.index, client + 100);
                assert_int_equal(dedup_check(d, client, 1, client, true, &r), DEDUP_DUPLICATE);
        }
        /* The flood's own oldest ids are gone, and say so. */
        assert_int_equal(dedup_check(d, 1000000, 1, 7, true, &r), DEDUP_FORGOTTEN);
        dedup_destroy(d);
}

/* At most 3/4 of sessions_max are established: new clients always find
 * room on probation, and the least recently writing established client
 * is the one that returns to probation. */
static void test_established_share_is_bounded(void **state)
{
        struct dedup *d;
        struct command_result r;
        (void)state;
        assert_int_equal(dedup_create(&d, 8, 8, BYTES), 0); /* 6 established at most */
        for (uint64_t client = 1; client <= 8; client++) {
                record(d, client, 1, 1, client);
                record(d, client, 2, 2, client + 10);
        }
        /* Clients 1 and 2 went back to probation: a newcomer drops 1. */
        record(d, 99, 1, 1, 99);
        assert_int_equal(dedup_check(d, 1, 2, 2, true, &r), DEDUP_FORGOTTEN);
        assert_int_equal(dedup_check(d, 2, 2, 2, true, &r), DEDUP_DUPLICATE);
        assert_int_equal(dedup_check(d, 3, 2, 2, true, &r), DEDUP_DUPLICATE);
        dedup_destroy(d);
}

/* Sessions never count more than bytes_max, and the client being written
 * keeps its session. */
static void test_bytes_bound(void **state)
{
        struct dedup *d;
        struct command_result r;
        const uint64_t bytes_max = 32 * 10 + 40 * 40; /* e.g. 10 clients of 4 results */
        (void)state;
        assert_int_equal(dedup_create(&d, 16, 1000, bytes_max), 0);
        for (uint64_t i = 0; i < 2000; i++) {
                uint64_t client = 1 + i % 37;
                record(d, client, 1 + i / 37, i, i + 1);
                assert_true(dedup_bytes(d) <= bytes_max);
                assert_int_equal(dedup_check(d, client, 1 + i / 37, i, true, &r), DEDUP_DUPLICATE);
        }
        assert_true(dedup_sessions(d) < 37);
        assert_int_equal(dedup_encoded_bytes(d), 16 + dedup_bytes(d));
        dedup_destroy(d);
}

/* The finding: with session_window 1-3 every snapshot was unrestorable
 * (rings held 4 results, the decoder allowed `window`). */
static void test_small_windows_round_trip(void **state)
{
        (void)state;
        for (unsigned window = 1; window <= 5; window++) {
                struct dedup *a, *b;
                struct command_result r;
                assert_int_equal(dedup_create(&a, window, 100, BYTES), 0);
                for (uint64_t seq = 1; seq <= 9; seq++) {
                        record(a, 5, seq, seq, seq);
                }
                b = round_trip(a, window, 100, BYTES);
                assert_int_equal(dedup_bytes(b), dedup_bytes(a));
                assert_int_equal(dedup_check(b, 5, 9, 9, true, &r), DEDUP_DUPLICATE);
                assert_int_equal(dedup_check(b, 5, 9 - window, 9 - window, true, &r),
                                 DEDUP_FORGOTTEN);
                dedup_destroy(a);
                dedup_destroy(b);
        }
}

/* A restored table evicts exactly as the original: both lists and their
 * order travel in the snapshot. */
static void test_restored_table_drops_the_same_sessions(void **state)
{
        struct dedup *a, *b;
        uint8_t *ea, *eb;
        size_t len;
        (void)state;
        assert_int_equal(dedup_create(&a, 4, 12, BYTES), 0);
        for (uint64_t i = 0; i < 40; i++) {
                record(a, 1 + (i * 7) % 15, i + 1, i, i + 1);
        }
        b = round_trip(a, 4, 12, BYTES);
        for (uint64_t i = 40; i < 120; i++) {
                uint64_t client = i % 3 == 0 ? 1 + i % 15 : 100 + i;
                record(a, client, i + 1, i, i + 1);
                record(b, client, i + 1, i, i + 1);
        }
        len = dedup_encoded_bytes(a);
        assert_int_equal(dedup_encoded_bytes(b), len);
        ea = malloc(len);
        eb = malloc(len);
        dedup_encode(a, ea);
        dedup_encode(b, eb);
        assert_memory_equal(ea, eb, len);
        free(ea);
        free(eb);
        dedup_destroy(a);
        dedup_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_outcomes_and_window),
            cmocka_unit_test(test_least_recent_client_dropped),
            cmocka_unit_test(test_encode_decode),
            cmocka_unit_test(test_flood_of_new_clients_keeps_established_ones),
            cmocka_unit_test(test_established_share_is_bounded),
            cmocka_unit_test(test_bytes_bound),
            cmocka_unit_test(test_small_windows_round_trip),
            cmocka_unit_test(test_restored_table_drops_the_same_sessions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
