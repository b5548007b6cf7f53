/* Replicated commands: every encoding is a multiple of 8 bytes (RAFT-NOTES
 * B1), decodes to what was encoded, and anything else is refused without
 * reading out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "command.h"
#include "err.h"
#include "value.h"

static uint8_t *encode(const struct command *c, size_t *len)
{
        uint8_t *buf;
        *len = command_encoded_bytes(c);
        buf = malloc(*len);
        assert_non_null(buf);
        command_encode(c, buf);
        return buf;
}

static void test_roundtrip_all_lengths(void **state)
{
        static uint8_t key[64], value[300];
        (void)state;
        for (size_t i = 0; i < sizeof value; i++) {
                value[i] = (uint8_t)(i * 7);
        }
        memset(key, 'k', sizeof key);
        for (uint32_t kl = 1; kl <= 17; kl++) {
                for (uint32_t vl = 0; vl <= 20; vl++) {
                        struct command c = {0}, d;
                        size_t len;
                        uint8_t *buf;
                        c.type = COMMAND_CAS;
                        c.proposal_id = 0xabcdef0123456789ull + vl;
                        c.key = key;
                        c.key_len = kl;
                        c.value = vl > 0 ? value : NULL;
                        c.value_len = c.value_raw_len = vl;
                        c.expected_version = 42;
                        c.client_id = 7;
                        c.seq = 9;
                        buf = encode(&c, &len);
                        assert_int_equal(len % 8, 0);
                        assert_true(len >= COMMAND_HEADER_BYTES + kl + vl);
                        assert_true(len < COMMAND_HEADER_BYTES + kl + vl + 8);
                        assert_int_equal(command_decode(buf, len, &d), 0);
                        assert_int_equal(d.type, COMMAND_CAS);
                        assert_true(d.proposal_id == c.proposal_id);
                        assert_int_equal(d.key_len, kl);
                        assert_memory_equal(d.key, key, kl);
                        assert_int_equal(d.value_len, vl);
                        if (vl > 0) {
                                assert_memory_equal(d.value, value, vl);
                        }
                        assert_true(d.expected_version == 42 && d.client_id == 7 && d.seq == 9);
                        free(buf);
                }
        }
}

static void test_delete_has_no_value(void **state)
{
        struct command c = {0}, d;
        size_t len;
        uint8_t *buf;
        (void)state;
        c.type = COMMAND_DELETE;
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), 0);
        assert_null(d.value);
        /* A DELETE claiming a value is corrupt. */
        put_le32(buf + 20, 1);
        put_le32(buf + 24, 1);
        put_le32(buf + 4, COMMAND_HEADER_BYTES + 2);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
}

static void test_rejects_bad_lengths(void **state)
{
        struct command c = {0}, d;
        size_t len;
        uint8_t *buf;
        (void)state;
        c.type = COMMAND_PUT;
        c.key = (const uint8_t *)"key";
        c.key_len = 3;
        c.value = (const uint8_t *)"value";
        c.value_len = c.value_raw_len = 5;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len - 8, &d), TKV_ECORRUPT); /* truncated */
        assert_int_equal(command_decode(buf, len - 1, &d), TKV_ECORRUPT); /* not 8-aligned */
        assert_int_equal(command_decode(buf, 8, &d), TKV_ECORRUPT);
        put_le32(buf + 16, 0xffffffffu); /* key_len overflows the payload */
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        put_le32(buf + 16, 3);
        buf[0] = 99; /* unknown version */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[0] = COMMAND_VERSION;
        buf[1] = 77; /* unknown type */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[1] = COMMAND_PUT;
        buf[3] = 0x80; /* unknown flag */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[3] = 0;
        assert_int_equal(command_decode(buf, len, &d), 0);
        free(buf);
}

static void test_lz4_flag_requires_smaller_value(void **state)
{
        struct command c = {0}, d;
        size_t len;
        uint8_t *buf;
        (void)state;
        c.type = COMMAND_PUT;
        c.flags = COMMAND_F_LZ4;
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        c.value = (const uint8_t *)"12345678";
        c.value_len = 8;
        c.value_raw_len = 8; /* not smaller: not a valid compressed value */
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
}

static void test_random_bytes_never_crash(void **state)
{
        uint8_t buf[256];
        struct command d;
        unsigned seed = 12345;
        (void)state;
        for (int i = 0; i < 20000; i++) {
                size_t len = (size_t)(rand_r(&seed) % 33) * 8;
                for (size_t k = 0; k < len; k++) {
                        buf[k] = (uint8_t)rand_r(&seed);
                }
                if (len >= 8) {
                        buf[0] = COMMAND_VERSION; /* get past the first check */
                        buf[1] = (uint8_t)(1 + rand_r(&seed) % 3);
                }
                if (command_decode(buf, len, &d) == 0) {
                        /* Whatever decodes stays inside the buffer. */
                        assert_true(d.key + d.key_len <= buf + len);
                        assert_true(d.value == NULL || d.value + d.value_len <= buf + len);
                }
        }
}

static void test_value_compression(void **state)
{
        static uint8_t raw[4096], packed[4096], back[4096];
        size_t n;
        (void)state;
        memset(raw, 'a', sizeof raw); /* very compressible */
        assert_int_equal(value_compress(raw, sizeof raw, packed, sizeof packed, &n), 0);
        assert_true(n < sizeof raw / 10);
        assert_int_equal(value_decompress(packed, n, back, sizeof raw), 0);
        assert_memory_equal(raw, back, sizeof raw);
        /* A wrong raw length is detected. */
        assert_int_equal(value_decompress(packed, n, back, sizeof raw - 1), TKV_ECORRUPT);
        /* Incompressible data is kept raw. */
        for (size_t i = 0; i < sizeof raw; i++) {
                raw[i] = (uint8_t)((i * 2654435761u) >> 13);
        }
        assert_int_equal(value_compress(raw, 64, packed, sizeof packed, &n), TKV_EAGAIN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_all_lengths),
            cmocka_unit_test(test_delete_has_no_value),
            cmocka_unit_test(test_rejects_bad_lengths),
            cmocka_unit_test(test_lz4_flag_requires_smaller_value),
            cmocka_unit_test(test_random_bytes_never_crash),
            cmocka_unit_test(test_value_compression),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
