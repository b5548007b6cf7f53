/* The hybrid logical clock (hlc.h): never goes back, stays above what it
 * observed, follows the wall clock when that is ahead, and refuses to be
 * dragged further ahead than max_offset_ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hlc.h"

static uint64_t fake_ms;

static uint64_t fake_wall(void *data)
{
        (void)data;
        return fake_ms;
}

static void setup_clock(struct hlc *h)
{
        hlc_init(h, 500);
        h->wall_ms = fake_wall;
        fake_ms = 1000;
}

static void test_follows_wall_clock(void **state)
{
        struct hlc h;
        uint64_t a, b;
        (void)state;
        setup_clock(&h);
        a = hlc_next(&h);
        assert_true(a == hlc_from_ms(1000));
        b = hlc_next(&h); /* same ms: the counter */
        assert_true(b == a + 1);
        fake_ms = 1005;
        assert_true(hlc_next(&h) == hlc_from_ms(1005));
        assert_int_equal(hlc_ms(hlc_from_ms(1005) + 7), 1005);
}

static void test_never_goes_back(void **state)
{
        struct hlc h;
        uint64_t a, b;
        (void)state;
        setup_clock(&h);
        fake_ms = 2000;
        a = hlc_next(&h);
        fake_ms = 1500; /* the wall clock stepped back */
        b = hlc_next(&h);
        assert_true(b > a);
        assert_true(hlc_next(&h) > b);
}

static void test_observe_moves_it_ahead(void **state)
{
        struct hlc h;
        uint64_t seen = hlc_from_ms(1300) + 42; /* another node, 300 ms ahead */
        (void)state;
        setup_clock(&h);
        assert_true(hlc_observe(&h, seen));
        assert_true(hlc_next(&h) > seen);
        /* Observing something older changes nothing. */
        assert_true(hlc_observe(&h, hlc_from_ms(10)));
        assert_true(hlc_next(&h) > seen);
}

static void test_refuses_too_far_ahead(void **state)
{
        struct hlc h;
        uint64_t before;
        (void)state;
        setup_clock(&h);
        before = hlc_next(&h);
        assert_false(hlc_observe(&h, hlc_from_ms(1000 + 501)));
        assert_int_equal(h.jumps, 1);
        assert_true(hlc_next(&h) == before + 1); /* not dragged along */
        assert_true(hlc_observe(&h, hlc_from_ms(1000 + 500)));
        assert_true(hlc_next(&h) > hlc_from_ms(1500));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_follows_wall_clock),
            cmocka_unit_test(test_never_goes_back),
            cmocka_unit_test(test_observe_moves_it_ahead),
            cmocka_unit_test(test_refuses_too_far_ahead),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
