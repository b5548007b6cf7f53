/* How fresh the weak reads were (fresh.h): a read counts stale exactly when
 * the log later applies a write of its key that it had not seen and that
 * was stamped before it was served; the sample stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fresh.h"
#include "hlc.h"

#define EVENTUAL   5
#define SEQUENTIAL 1

static void test_fresh_and_stale(void **state)
{
        struct fresh f;
        (void)state;
        assert_int_equal(fresh_init(&f, 8, 1000), 0);
        /* Read of key 7 at 10 000 ms on a replica at index 100. */
        fresh_read(&f, EVENTUAL, 7, 100, 10000);
        /* Key 8's write, key 7's write it had seen, and one stamped later:
         * none of them makes it stale. */
        fresh_write(&f, 8, 101, hlc_from_ms(9000));
        fresh_write(&f, 7, 100, hlc_from_ms(9000));
        fresh_write(&f, 7, 102, hlc_from_ms(10000));
        fresh_expire(&f, 11000);
        assert_int_equal(f.counters[EVENTUAL].fresh, 1);
        assert_int_equal(f.counters[EVENTUAL].stale, 0);
        /* Another read, that missed two writes stamped 5 and 3 ms before. */
        fresh_read(&f, EVENTUAL, 7, 102, 20000);
        fresh_write(&f, 7, 103, hlc_from_ms(19995) + 3);
        fresh_write(&f, 7, 104, hlc_from_ms(19997));
        fresh_expire(&f, 20999);
        assert_int_equal(f.counters[EVENTUAL].stale, 0); /* still watching */
        fresh_expire(&f, 21000);
        assert_int_equal(f.counters[EVENTUAL].stale, 1);
        assert_int_equal(f.counters[EVENTUAL].stale_versions[1], 1); /* 2 versions */
        assert_int_equal(f.counters[EVENTUAL].stale_ms[1], 1);       /* 5 ms: <= 10 */
        assert_int_equal(f.n, 0);
        fresh_close(&f);
}

static void test_bounded_sample(void **state)
{
        struct fresh f;
        (void)state;
        assert_int_equal(fresh_init(&f, 4, 1000), 0);
        for (uint64_t k = 0; k < 10; k++) {
                fresh_read(&f, SEQUENTIAL, k, 1, 5000);
        }
        assert_int_equal(f.n, 4);
        assert_int_equal(f.skipped, 6);
        /* Keys 0..3 are watched; a missed write of key 2 and of key 9. */
        fresh_write(&f, 2, 2, hlc_from_ms(4000));
        fresh_write(&f, 9, 2, hlc_from_ms(4000));
        /* A window later, room again; the chains survive slot reuse. */
        fresh_read(&f, SEQUENTIAL, 2, 1, 6000);
        assert_int_equal(f.counters[SEQUENTIAL].fresh, 3);
        assert_int_equal(f.counters[SEQUENTIAL].stale, 1);
        fresh_write(&f, 2, 3, hlc_from_ms(5999));
        fresh_expire(&f, 7000);
        assert_int_equal(f.counters[SEQUENTIAL].stale, 2);
        fresh_close(&f);
}

static void test_off(void **state)
{
        struct fresh f;
        (void)state;
        assert_int_equal(fresh_init(&f, 0, 1000), 0);
        fresh_read(&f, EVENTUAL, 1, 1, 1);
        fresh_write(&f, 1, 2, 0);
        fresh_expire(&f, 5000);
        assert_int_equal(f.counters[EVENTUAL].fresh + f.counters[EVENTUAL].stale, 0);
        fresh_close(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fresh_and_stale),
            cmocka_unit_test(test_bounded_sample),
            cmocka_unit_test(test_off),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
