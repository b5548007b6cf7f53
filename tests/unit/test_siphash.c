/* SipHash against the reference outputs (key 00..0f, message 00..len-1, as
 * in the paper's appendix and OpenSSL's SIPHASH MAC, which computes both
 * round variants: `openssl mac -macopt hexkey:000102...0f -macopt size:8
 * [-macopt c-rounds:1 -macopt d-rounds:3] SIPHASH`), and fresh keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "siphash.h"

static const struct siphash_key reference_key = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

static void counting_message(uint8_t *m, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                m[i] = (uint8_t)i;
        }
}

static void test_siphash24_reference_vectors(void **state)
{
        uint8_t m[15];
        (void)state;
        counting_message(m, sizeof m);
        assert_true(siphash24(&reference_key, m, 0) == 0x726fdb47dd0e0e31ull);
        assert_true(siphash24(&reference_key, m, 1) == 0x74f839c593dc67fdull);
        assert_true(siphash24(&reference_key, m, 15) == 0xa129ca6149be45e5ull);
}

static void test_siphash13_matches_openssl(void **state)
{
        uint8_t m[64];
        (void)state;
        counting_message(m, 15);
        assert_true(siphash13(&reference_key, m, 15) == 0xd320d86d2a519956ull);
        for (size_t i = 0; i < sizeof m; i++) {
                m[i] = 'a';
        }
        assert_true(siphash13(&reference_key, m, 64) == 0x7c3dc590008d24e4ull);
}

/* Two tables never share a key: otherwise a collision found against one
 * process would hold against all. */
static void test_keys_are_fresh(void **state)
{
        struct siphash_key a, b;
        (void)state;
        siphash_key_random(&a);
        siphash_key_random(&b);
        assert_false(a.k0 == b.k0 && a.k1 == b.k1);
        assert_false(siphash13(&a, "key", 3) == siphash13(&b, "key", 3));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_siphash24_reference_vectors),
            cmocka_unit_test(test_siphash13_matches_openssl),
            cmocka_unit_test(test_keys_are_fresh),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
