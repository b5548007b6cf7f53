/* The lease table (lease.h): ids name their partition, keys attach to one
 * lease at a time, limits hold, deadlines restart on a new leader, and the
 * snapshot form round-trips and refuses damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "err.h"
#include "lease.h"

#define K(s) (const uint8_t *)(s), (uint32_t)strlen(s)

static void test_ids_name_their_partition(void **state)
{
        (void)state;
        assert_int_equal(lease_id_partition(lease_id_make(0, 1)), 0);
        assert_int_equal(lease_id_partition(lease_id_make(65534, 99)), 65534);
        assert_true(lease_id_make(0, 1) != 0);
        assert_int_equal(lease_id_partition(0), UINT32_MAX);
        assert_int_equal(lease_id_partition(42), UINT32_MAX);                /* no partition bits */
        assert_int_equal(lease_id_partition(UINT64_C(1) << 48), UINT32_MAX); /* no index */
}

static void test_attach_move_detach(void **state)
{
        struct lease_table *t;
        uint64_t a = lease_id_make(3, 10), b = lease_id_make(3, 11);
        (void)state;
        assert_int_equal(lease_table_create(&t), 0);
        assert_int_equal(lease_grant(t, a, 1000, 2, 0), 0);
        assert_int_equal(lease_grant(t, b, 2000, 2, 0), 0);
        assert_int_equal(lease_attach(t, lease_id_make(3, 12), K("x")), TKV_ENOTFOUND);
        assert_int_equal(lease_attach(t, a, K("x")), 0);
        assert_int_equal(lease_attach(t, a, K("x")), 0); /* again: no second slot */
        assert_int_equal(lease_find(t, a)->n_keys, 1);
        assert_int_equal(lease_attach(t, a, K("y")), 0);
        assert_int_equal(lease_attach(t, a, K("z")), TKV_EBUSY);
        assert_int_equal(lease_attach(t, b, K("x")), 0); /* moves */
        assert_int_equal(lease_of_key(t, K("x")), b);
        assert_int_equal(lease_find(t, a)->n_keys, 1);
        lease_detach(t, K("y"));
        lease_detach(t, K("never"));
        assert_int_equal(lease_find(t, a)->n_keys, 0);
        assert_int_equal(lease_keys_attached(t), 1);
        lease_remove(t, a);
        assert_null(lease_find(t, a));
        assert_non_null(lease_find(t, b));
        lease_table_destroy(t);
}

/* Many keys: the hash table grows and every key is found again. */
static void test_many_keys(void **state)
{
        struct lease_table *t;
        char k[32];
        uint64_t a = lease_id_make(0, 1);
        (void)state;
        assert_int_equal(lease_table_create(&t), 0);
        assert_int_equal(lease_grant(t, a, 1000, 5000, 0), 0);
        for (int i = 0; i < 5000; i++) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_int_equal(lease_attach(t, a, K(k)), 0);
        }
        for (int i = 0; i < 5000; i += 7) {
                snprintf(k, sizeof k, "key-%d", i);
                assert_int_equal(lease_of_key(t, K(k)), a);
                lease_detach(t, K(k));
                assert_int_equal(lease_of_key(t, K(k)), 0);
        }
        assert_int_equal(lease_keys_attached(t), 5000 - 715);
        assert_int_equal(lease_find(t, a)->n_keys, 5000 - 715);
        lease_table_destroy(t);
}

static void test_deadlines(void **state)
{
        struct lease_table *t;
        uint64_t a = lease_id_make(0, 1), b = lease_id_make(0, 2);
        (void)state;
        assert_int_equal(lease_table_create(&t), 0);
        assert_true(lease_next_ms(t) == UINT64_MAX);
        assert_int_equal(lease_grant(t, a, 5000, 1, 100), 0);
        assert_int_equal(lease_grant(t, b, 1000, 1, 200), 0);
        assert_int_equal(lease_next_ms(t), 1200);
        lease_find(t, a)->expiring = true;
        /* A new leader gives every lease a full TTL from its own now. */
        lease_restart_deadlines(t, 10000);
        assert_int_equal(lease_find(t, a)->deadline_ms, 15000);
        assert_int_equal(lease_find(t, b)->deadline_ms, 11000);
        assert_false(lease_find(t, a)->expiring);
        assert_int_equal(lease_next_ms(t), 0);
        lease_table_destroy(t);
}

static void test_encode_decode(void **state)
{
        struct lease_table *t, *u;
        uint64_t a = lease_id_make(1, 5), b = lease_id_make(1, 9);
        struct cursor c;
        uint8_t *buf;
        size_t len;
        uint32_t klen;
        (void)state;
        assert_int_equal(lease_table_create(&t), 0);
        assert_int_equal(lease_grant(t, a, 1000, 3, 0), 0);
        assert_int_equal(lease_grant(t, b, 2000, 4, 0), 0);
        assert_int_equal(lease_attach(t, a, K("k1")), 0);
        assert_int_equal(lease_attach(t, b, K("k2")), 0);
        assert_int_equal(lease_attach(t, b, K("k3")), 0);
        len = lease_table_encoded_bytes(t);
        buf = malloc(len);
        lease_table_encode(t, buf);
        assert_int_equal(lease_table_create(&u), 0);
        cursor_init(&c, buf, len);
        assert_int_equal(lease_table_decode(u, &c, 500), 0);
        assert_int_equal(c.left, 0);
        assert_int_equal(lease_count(u), 2);
        assert_int_equal(lease_find(u, b)->keys_max, 4);
        assert_int_equal(lease_find(u, b)->deadline_ms, 2500);
        assert_int_equal(lease_of_key(u, K("k3")), b);
        assert_memory_equal(lease_key_bytes(lease_find(u, a), 0, &klen), "k1", 2);
        lease_table_destroy(u);
        /* Damage: a truncated table and ids out of order are refused. */
        for (size_t cut = 1; cut < len; cut++) {
                assert_int_equal(lease_table_create(&u), 0);
                cursor_init(&c, buf, len - cut);
                assert_int_not_equal(lease_table_decode(u, &c, 0), 0);
                lease_table_destroy(u);
        }
        put_le64(buf + 4, b); /* the first lease now has the second's id */
        assert_int_equal(lease_table_create(&u), 0);
        cursor_init(&c, buf, len);
        assert_int_equal(lease_table_decode(u, &c, 0), TKV_ECORRUPT);
        lease_table_destroy(u);
        free(buf);
        lease_table_destroy(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ids_name_their_partition),
            cmocka_unit_test(test_attach_move_detach),
            cmocka_unit_test(test_many_keys),
            cmocka_unit_test(test_deadlines),
            cmocka_unit_test(test_encode_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
