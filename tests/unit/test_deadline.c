/* The deadline heap always yields the earliest deadline, also after
 * arbitrary removals and deadlines moved in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "deadline.h"

static void test_order_with_removals(void **state)
{
        enum { N = 2000 };
        static struct deadline d[N];
        struct deadline_heap h;
        unsigned seed = 7;
        uint64_t last = 0;
        size_t left = 0;
        (void)state;
        deadline_heap_init(&h);
        for (int i = 0; i < N; i++) {
                deadline_clear(&d[i]);
                d[i].at_ms = (uint64_t)(rand_r(&seed) % 1000);
                assert_int_equal(deadline_heap_push(&h, &d[i]), 0);
        }
        for (int i = 0; i < N; i += 3) {
                deadline_heap_remove(&h, &d[i]);
                assert_true(d[i].pos == DEADLINE_NONE);
                deadline_heap_remove(&h, &d[i]); /* twice is harmless */
        }
        for (int i = 0; i < N; i++) {
                left += i % 3 != 0;
        }
        assert_int_equal(h.n, left);
        while (deadline_heap_min(&h) != NULL) {
                struct deadline *m = deadline_heap_min(&h);
                assert_true(m->at_ms >= last);
                last = m->at_ms;
                deadline_heap_remove(&h, m);
                left--;
        }
        assert_int_equal(left, 0);
        deadline_heap_close(&h);
}

/* Moving deadlines in place (later and earlier) keeps the order. */
static void test_order_with_updates(void **state)
{
        enum { N = 500 };
        static struct deadline d[N];
        struct deadline_heap h;
        unsigned seed = 11;
        uint64_t last = 0;
        size_t left = N;
        (void)state;
        deadline_heap_init(&h);
        for (int i = 0; i < N; i++) {
                deadline_clear(&d[i]);
                d[i].at_ms = (uint64_t)(rand_r(&seed) % 1000);
                assert_int_equal(deadline_heap_push(&h, &d[i]), 0);
        }
        for (int i = 0; i < N; i += 2) {
                d[i].at_ms = (uint64_t)(rand_r(&seed) % 2000);
                deadline_heap_update(&h, &d[i]);
        }
        assert_int_equal(h.n, N);
        while (deadline_heap_min(&h) != NULL) {
                struct deadline *m = deadline_heap_min(&h);
                assert_true(m->at_ms >= last);
                last = m->at_ms;
                deadline_heap_remove(&h, m);
                left--;
        }
        assert_int_equal(left, 0);
        deadline_heap_close(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_order_with_removals),
            cmocka_unit_test(test_order_with_updates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
