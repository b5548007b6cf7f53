/* The slab allocator: freed slots are reused, each class keeps to its own
 * blocks, objects never overlap, sizes above the largest class and
 * unpooled slabs go to malloc, empty blocks go back (one spare kept), and
 * a failed block allocation is NULL, not a crash. The slabs here are
 * pooled even under AddressSanitizer, where the store's are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "testlib.h"

#define SLOTS_OF(bytes) ((SLAB_BLOCK_BYTES - 64) / (bytes)) /* a lower bound */

static uintptr_t block_of(const void *p)
{
        return (uintptr_t)p & ~(uintptr_t)(SLAB_BLOCK_BYTES - 1);
}

static void test_freed_slot_is_reused(void **state)
{
        struct slab *s;
        void *a, *b, *c;
        (void)state;
        assert_int_equal(slab_create(&s, true), 0);
        a = slab_alloc(s, 20);
        b = slab_alloc(s, 20);
        assert_non_null(a);
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        slab_free(s, a, 20);
        /* 17 to 24 bytes are one class: the freed slot comes back. */
        c = slab_alloc(s, 24);
        assert_ptr_equal(c, a);
        slab_free(s, b, 20);
        slab_free(s, c, 24);
        slab_destroy(s);
}

/* Every size from 1 to SLAB_BYTES_MAX: aligned, filled to its last byte
 * without touching another object, one block per class. */
static void test_size_classes(void **state)
{
        struct slab *s;
        void *p[SLAB_BYTES_MAX + 1];
        (void)state;
        assert_int_equal(slab_create(&s, true), 0);
        for (size_t n = 1; n <= SLAB_BYTES_MAX; n++) {
                p[n] = slab_alloc(s, n);
                assert_non_null(p[n]);
                assert_int_equal((uintptr_t)p[n] % SLAB_ALIGN, 0);
                memset(p[n], (int)(n & 0xff), n);
        }
        assert_int_equal(slab_blocks(s), SLAB_CLASSES);
        for (size_t n = 1; n <= SLAB_BYTES_MAX; n++) {
                const uint8_t *q = p[n];
                size_t first = (n + SLAB_ALIGN - 1) / SLAB_ALIGN * SLAB_ALIGN - SLAB_ALIGN + 1;
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(q[i], n & 0xff);
                }
                /* Sizes of one class share a block; the next class does not. */
                assert_true(block_of(p[n]) == block_of(p[first]));
                if (n + SLAB_ALIGN <= SLAB_BYTES_MAX) {
                        assert_true(block_of(p[n]) != block_of(p[n + SLAB_ALIGN]));
                }
        }
        for (size_t n = 1; n <= SLAB_BYTES_MAX; n++) {
                slab_free(s, p[n], n);
        }
        assert_int_equal(slab_blocks(s), 1); /* the spare */
        slab_destroy(s);
}

static void test_large_objects_are_malloced(void **state)
{
        struct slab *s;
        uint8_t *p;
        (void)state;
        assert_int_equal(slab_create(&s, true), 0);
        p = slab_alloc(s, SLAB_BYTES_MAX + 1);
        assert_non_null(p);
        memset(p, 1, SLAB_BYTES_MAX + 1);
        assert_int_equal(slab_blocks(s), 0);
        assert_int_equal(slab_footprint_bytes(s), SLAB_BYTES_MAX + 1);
        slab_free(s, p, SLAB_BYTES_MAX + 1); /* a leak would show under LSan */
        assert_int_equal(slab_footprint_bytes(s), 0);
        slab_destroy(s);
}

static void test_unpooled_slab_mallocs_everything(void **state)
{
        struct slab *s;
        void *p;
        (void)state;
        assert_int_equal(slab_create(&s, false), 0);
        p = slab_alloc(s, 40);
        assert_non_null(p);
        assert_int_equal(slab_blocks(s), 0);
        assert_int_equal(slab_footprint_bytes(s), 40);
        slab_free(s, p, 40);
        assert_int_equal(slab_footprint_bytes(s), 0);
        slab_destroy(s);
}

/* Enough objects for several blocks, freed in a shuffled order and
 * allocated again: no two live objects overlap, full blocks take slots
 * again, and emptied blocks are released down to one spare. */
static void test_blocks_fill_empty_and_go_back(void **state)
{
        enum { BYTES = 168, N = 4 * SLOTS_OF(BYTES) };
        struct slab *s;
        static uint8_t *p[N];
        static unsigned order[N];
        size_t blocks;
        (void)state;
        assert_int_equal(slab_create(&s, true), 0);
        for (unsigned i = 0; i < N; i++) {
                p[i] = slab_alloc(s, BYTES);
                assert_non_null(p[i]);
                memset(p[i], (int)(i & 0xff), BYTES);
                order[i] = i;
        }
        blocks = slab_blocks(s);
        assert_in_range(blocks, 4, 5);
        srand(7);
        for (unsigned i = N - 1; i > 0; i--) {
                unsigned j = (unsigned)rand() % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }
        /* Free half, allocate them again: the freed slots are enough. */
        for (unsigned i = 0; i < N / 2; i++) {
                slab_free(s, p[order[i]], BYTES);
        }
        for (unsigned i = 0; i < N / 2; i++) {
                p[order[i]] = slab_alloc(s, BYTES);
                memset(p[order[i]], (int)(order[i] & 0xff), BYTES);
        }
        assert_int_equal(slab_blocks(s), blocks);
        for (unsigned i = 0; i < N; i++) {
                for (unsigned b = 0; b < BYTES; b++) {
                        assert_int_equal(p[i][b], i & 0xff);
                }
        }
        for (unsigned i = 0; i < N; i++) {
                slab_free(s, p[order[i]], BYTES);
        }
        assert_int_equal(slab_blocks(s), 1);
        assert_int_equal(slab_footprint_bytes(s), SLAB_BLOCK_BYTES);
        /* The spare serves the next class that needs a block. */
        p[0] = slab_alloc(s, 500);
        assert_int_equal(slab_blocks(s), 1);
        slab_free(s, p[0], 500);
        slab_destroy(s);
}

static void test_out_of_memory(void **state)
{
        struct slab *s;
        void *a, *b;
        unsigned failed = testlib_heap_failures();
        (void)state;
        assert_int_equal(slab_create(&s, true), 0);
        testlib_heap_fail(1, 1);
        assert_null(slab_alloc(s, 64)); /* its block */
        assert_null(slab_alloc(s, SLAB_BYTES_MAX + 8));
        assert_int_equal(testlib_heap_failures(), failed + 2);
        assert_int_equal(slab_blocks(s), 0);
        a = slab_alloc(s, 64); /* served by the test heap's malloc */
        assert_non_null(a);
        testlib_heap_reset();
        b = slab_alloc(s, 64); /* same block, allocated under another heap */
        assert_non_null(b);
        assert_true(block_of(a) == block_of(b));
        slab_free(s, a, 64);
        slab_free(s, b, 64);
        slab_destroy(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_freed_slot_is_reused),
            cmocka_unit_test(test_size_classes),
            cmocka_unit_test(test_large_objects_are_malloced),
            cmocka_unit_test(test_unpooled_slab_mallocs_everything),
            cmocka_unit_test(test_blocks_fill_empty_and_go_back),
            cmocka_unit_test(test_out_of_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
