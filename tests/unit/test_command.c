/* Replicated commands: every encoding is a multiple of 8 bytes (RAFT-NOTES
 * B1), decodes to what was encoded, version 1 entries written before still
 * decode, and anything else is refused without reading out of bounds. */
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
                        /* 20 fixed, 3 lengths, expected, client, seq, hash */
                        assert_int_equal(command_header_bytes(&c), 20 + 3 + 1 + 8 + 1 + 8);
                        assert_true(len >= command_header_bytes(&c) + kl + vl);
                        assert_true(len < command_header_bytes(&c) + kl + vl + 8);
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
        free(buf);
        /* A DELETE claiming a value is corrupt. */
        c.type = COMMAND_PUT;
        c.value = (const uint8_t *)"v";
        c.value_len = c.value_raw_len = 1;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), 0);
        buf[1] = COMMAND_DELETE;
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
        assert_int_equal(buf[20], 3);
        buf[20] = 0x7f; /* key_len overflows the payload */
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        buf[20] = 0x83; /* a varint running into the next field */
        buf[21] = 0x80;
        buf[22] = 0x80;
        buf[23] = 0x80;
        buf[24] = 0x80;
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
        buf = encode(&c, &len);
        buf[0] = 99; /* unknown version */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[0] = COMMAND_VERSION;
        buf[1] = 77; /* unknown type */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[1] = COMMAND_PUT;
        buf[2] = 0x80; /* unknown flag */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[2] = 0;
        buf[3] = 0x80; /* unknown optional field */
        assert_int_equal(command_decode(buf, len, &d), TKV_EINVAL);
        buf[3] = COMMAND_HAS_EXPECTED; /* a PUT has no expected version */
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        buf[3] = 0;
        assert_int_equal(command_decode(buf, len, &d), 0);
        free(buf);
        /* A client id of 0 is written as no client at all. */
        c.client_id = 5;
        c.seq = 1;
        buf = encode(&c, &len);
        assert_int_equal(buf[3], COMMAND_HAS_CLIENT);
        assert_int_equal(command_decode(buf, len, &d), 0);
        assert_true(d.client_id == 5 && d.seq == 1);
        memset(buf + 15, 0, 8); /* the client id, after the 3 one-byte lengths */
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
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

/* Found by tests/fuzz/fuzz_command.c: a compressed value claiming a raw
 * length of nearly 4 GiB for 1 stored byte was applied, and every read of
 * the key then allocated that much to decompress it. LZ4 expands at most
 * VALUE_LZ4_EXPANSION_MAX times; more is corrupt. */
static void test_lz4_raw_len_bounded_by_expansion(void **state)
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
        c.value_raw_len = 8 * VALUE_LZ4_EXPANSION_MAX;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), 0);
        assert_int_equal(d.value_raw_len, 8 * VALUE_LZ4_EXPANSION_MAX);
        free(buf);
        c.value_raw_len = 8 * VALUE_LZ4_EXPANSION_MAX + 1;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
        c.value_len = 1;
        c.value_raw_len = 0xfffffffdu; /* the fuzzer's */
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
}

/* Version 1, as written before version 2 (command.h), field by field. */
static uint8_t *encode_v1(const struct command *c, size_t *len)
{
        size_t payload = COMMAND_V1_HEADER_BYTES + c->key_len + c->value_len + c->deps_len;
        uint8_t *buf;
        *len = (payload + 7) & ~(size_t)7;
        buf = calloc(1, *len);
        assert_non_null(buf);
        buf[0] = 1;
        buf[1] = c->type;
        buf[2] = (uint8_t)c->flags;
        put_le32(buf + 4, (uint32_t)payload);
        put_le64(buf + 8, c->proposal_id);
        put_le32(buf + 16, c->key_len);
        put_le32(buf + 20, c->value_len);
        put_le32(buf + 24, c->value_raw_len);
        put_le32(buf + 28, c->deps_len);
        put_le64(buf + 32, c->expected_version);
        put_le64(buf + 40, c->client_id);
        put_le64(buf + 48, c->seq);
        put_le64(buf + 56, c->payload_hash);
        memcpy(buf + 64, c->key, c->key_len);
        memcpy(buf + 64 + c->key_len, c->value, c->value_len);
        memcpy(buf + 64 + c->key_len + c->value_len, c->deps, c->deps_len);
        return buf;
}

/* Entries of version 1 in existing logs decode to the same command as the
 * version 2 encoding of it, which is smaller. */
static void test_version_1_still_decodes(void **state)
{
        struct command c = {0}, d1, d2;
        uint8_t *b1, *b2;
        size_t l1, l2;
        (void)state;
        c.type = COMMAND_PUT;
        c.flags = COMMAND_F_LZ4 | COMMAND_F_ACK_ALL;
        c.proposal_id = 0x1122334455667788ull;
        c.key = (const uint8_t *)"key-00000001";
        c.key_len = 12;
        c.value = (const uint8_t *)"compressed";
        c.value_len = 10;
        c.value_raw_len = 300;
        c.deps = (const uint8_t *)"dependencies";
        c.deps_len = 12;
        c.client_id = 0xfeedfacecafebeefull;
        c.seq = 123456;
        c.payload_hash = 0x0123456789abcdefull;
        b1 = encode_v1(&c, &l1);
        b2 = encode(&c, &l2);
        assert_true(l2 < l1);
        assert_int_equal(command_decode(b1, l1, &d1), 0);
        assert_int_equal(command_decode(b2, l2, &d2), 0);
        assert_int_equal(d1.type, d2.type);
        assert_int_equal(d1.flags, c.flags);
        assert_int_equal(d2.flags, c.flags);
        assert_true(d1.proposal_id == c.proposal_id && d2.proposal_id == c.proposal_id);
        assert_true(d1.client_id == c.client_id && d2.client_id == c.client_id);
        assert_true(d1.seq == c.seq && d2.seq == c.seq);
        assert_true(d1.payload_hash == c.payload_hash && d2.payload_hash == c.payload_hash);
        assert_int_equal(d1.value_raw_len, 300);
        assert_int_equal(d2.value_raw_len, 300);
        assert_memory_equal(d1.key, c.key, 12);
        assert_memory_equal(d2.key, c.key, 12);
        assert_memory_equal(d1.value, c.value, 10);
        assert_memory_equal(d2.value, c.value, 10);
        assert_memory_equal(d1.deps, c.deps, 12);
        assert_memory_equal(d2.deps, c.deps, 12);
        free(b1);
        free(b2);
}

/* Version 3 carries the entry's timestamp at a fixed offset (the leader
 * writes it in place when it proposes); version 2, the same without it,
 * still decodes, with timestamp 0. */
static void test_timestamp_and_version_2(void **state)
{
        struct command c = {0}, d;
        uint8_t *b3, *b2;
        size_t l3, l2;
        (void)state;
        c.type = COMMAND_PUT;
        c.proposal_id = 77;
        c.ts = 0x0123456789abcdefull;
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        c.value = (const uint8_t *)"v";
        c.value_len = c.value_raw_len = 1;
        b3 = encode(&c, &l3);
        assert_int_equal(b3[0], 3);
        assert_true(get_le64(b3 + COMMAND_TS_OFFSET) == c.ts);
        assert_int_equal(command_decode(b3, l3, &d), 0);
        assert_true(d.ts == c.ts);
        put_le64(b3 + COMMAND_TS_OFFSET, 5); /* stamped in place */
        assert_int_equal(command_decode(b3, l3, &d), 0);
        assert_true(d.ts == 5);
        assert_memory_equal(d.key, "k", 1);
        /* The version 2 form: drop the 8 timestamp bytes. */
        b2 = calloc(1, l3);
        assert_non_null(b2);
        memcpy(b2, b3, COMMAND_V2_FIXED_BYTES);
        memcpy(b2 + COMMAND_V2_FIXED_BYTES, b3 + COMMAND_V3_FIXED_BYTES,
               l3 - COMMAND_V3_FIXED_BYTES);
        b2[0] = 2;
        l2 = l3 - 8; /* 8 bytes shorter, still a multiple of 8 */
        assert_int_equal(command_decode(b2, l2, &d), 0);
        assert_true(d.ts == 0);
        assert_memory_equal(d.key, "k", 1);
        assert_memory_equal(d.value, "v", 1);
        free(b2);
        free(b3);
}

/* CLOSE carries nothing but its timestamp: a key, a value or a client id
 * on one is corrupt; it does not exist before version 3. */
static void test_close(void **state)
{
        struct command c = {0}, d;
        uint8_t *b;
        size_t l;
        (void)state;
        c.type = COMMAND_CLOSE;
        c.ts = 1000;
        b = encode(&c, &l);
        assert_int_equal(l % 8, 0);
        assert_int_equal(command_decode(b, l, &d), 0);
        assert_int_equal(d.type, COMMAND_CLOSE);
        assert_true(d.ts == 1000);
        assert_int_equal(d.key_len, 0);
        free(b);
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        b = encode(&c, &l);
        assert_int_equal(command_decode(b, l, &d), TKV_ECORRUPT);
        free(b);
        c.key_len = 0;
        c.client_id = 9;
        c.seq = 1;
        b = encode(&c, &l);
        assert_int_equal(command_decode(b, l, &d), TKV_ECORRUPT);
        b[0] = 2;
        assert_int_equal(command_decode(b, l, &d), TKV_EINVAL);
        free(b);
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
                        buf[0] = (uint8_t)(1 + rand_r(&seed) % 2); /* a known version */
                        buf[1] = (uint8_t)(1 + rand_r(&seed) % 3);
                }
                if (command_decode(buf, len, &d) == 0) {
                        /* Whatever decodes stays inside the buffer. */
                        assert_true(d.key + d.key_len <= buf + len);
                        assert_true(d.value == NULL || d.value + d.value_len <= buf + len);
                        assert_true(d.deps == NULL || d.deps + d.deps_len <= buf + len);
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

/* ------------------------------------------------------------------------ */
/* TXN bodies */

static const struct command_txn_compare txn_compares[] = {
    {COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, (const uint8_t *)"{u}a", 4, 300, NULL, 0},
    {COMMAND_TXN_TARGET_CREATE, COMMAND_TXN_LT, (const uint8_t *)"{u}b", 4, 1, NULL, 0},
    {COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_NE, (const uint8_t *)"{u}c", 4, 0,
     (const uint8_t *)"xyz", 3},
    {COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_GT, (const uint8_t *)"{u}d", 4, 1, NULL, 0},
    {COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_EQ, (const uint8_t *)"{u}e", 4, 0, NULL, 0},
};

static const struct command_txn_op txn_ops[] = {
    {COMMAND_TXN_PUT, (const uint8_t *)"{u}a", 4, (const uint8_t *)"v1", 2, 0},
    {COMMAND_TXN_GET, (const uint8_t *)"{u}b", 4, NULL, 0, 0},
    {COMMAND_TXN_DELETE, (const uint8_t *)"{u}c", 4, NULL, 0, 0},
    {COMMAND_TXN_PUT, (const uint8_t *)"{u}e", 4, NULL, 0, 0}, /* an empty value */
};

/* The body of the table above: 5 compares, 3 success ops, 1 failure op. */
static uint8_t *txn_body(size_t *len)
{
        uint8_t *b;
        *len = command_txn_body_bytes(txn_compares, 5, txn_ops, 3, 1);
        b = malloc(*len);
        assert_non_null(b);
        command_txn_body_encode(txn_compares, 5, txn_ops, 3, 1, b);
        return b;
}

/* A TXN command around body (len bytes), encoded. */
static uint8_t *txn_command(const uint8_t *body, size_t body_len, size_t *len)
{
        struct command c = {0};
        c.type = COMMAND_TXN;
        c.proposal_id = 77;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)body_len;
        c.client_id = 5;
        c.seq = 6;
        c.payload_hash = command_payload_hash(&c);
        return encode(&c, len);
}

static void test_txn_roundtrip(void **state)
{
        struct command d;
        struct command_txn t;
        struct command_txn_compare x;
        struct command_txn_op o;
        const uint8_t *pos;
        size_t body_len, len;
        uint8_t *body = txn_body(&body_len);
        uint8_t *buf = txn_command(body, body_len, &len);
        (void)state;
        assert_int_equal(len % 8, 0);
        assert_int_equal(command_decode(buf, len, &d), 0);
        assert_int_equal(d.type, COMMAND_TXN);
        assert_int_equal(d.key_len, 0);
        assert_true(d.client_id == 5 && d.seq == 6);
        assert_int_equal(d.value_len, body_len);
        assert_memory_equal(d.value, body, body_len);
        assert_int_equal(command_txn_open(d.value, d.value_len, &t), 0);
        assert_int_equal(t.n_compares, 5);
        assert_int_equal(t.n_success, 3);
        assert_int_equal(t.n_failure, 1);
        pos = t.compares;
        for (unsigned i = 0; i < 5; i++) {
                command_txn_next_compare(&pos, &x);
                assert_int_equal(x.target, txn_compares[i].target);
                assert_int_equal(x.op, txn_compares[i].op);
                assert_int_equal(x.key_len, 4);
                assert_memory_equal(x.key, txn_compares[i].key, 4);
                assert_int_equal(x.value_len, txn_compares[i].value_len);
                if (x.value_len > 0) {
                        assert_memory_equal(x.value, txn_compares[i].value, x.value_len);
                }
                if (x.target != COMMAND_TXN_TARGET_VALUE) {
                        assert_true(x.number == txn_compares[i].number);
                }
        }
        for (unsigned i = 0; i < 4; i++) {
                command_txn_next_op(&pos, &o);
                assert_int_equal(o.type, txn_ops[i].type);
                assert_memory_equal(o.key, txn_ops[i].key, 4);
                assert_int_equal(o.value_len, txn_ops[i].value_len);
                if (o.value_len > 0) {
                        assert_memory_equal(o.value, txn_ops[i].value, o.value_len);
                }
        }
        assert_ptr_equal(pos, t.end);
        /* Deterministic: the same TXN encodes to the same bytes. */
        {
                size_t len2;
                uint8_t *buf2 = txn_command(body, body_len, &len2);
                assert_int_equal(len2, len);
                assert_memory_equal(buf2, buf, len);
                free(buf2);
        }
        free(buf);
        free(body);
}

/* body with byte i set to v, wrapped in a command: what decode says. */
static int txn_decode_patched(const uint8_t *body, size_t body_len, size_t i, uint8_t v)
{
        uint8_t *copy = malloc(body_len);
        struct command d;
        size_t len;
        uint8_t *buf;
        int rv;
        memcpy(copy, body, body_len);
        copy[i] = v;
        buf = txn_command(copy, body_len, &len);
        rv = command_decode(buf, len, &d);
        free(buf);
        free(copy);
        return rv;
}

static void test_txn_corrupt_bodies_refused(void **state)
{
        struct command d, c = {0};
        size_t body_len, len;
        uint8_t *body = txn_body(&body_len), *buf;
        (void)state;
        /* Every truncation, and one trailing byte too many. */
        for (size_t n = 1; n < body_len; n++) {
                buf = txn_command(body, n, &len);
                assert_int_not_equal(command_decode(buf, len, &d), 0);
                free(buf);
        }
        {
                uint8_t *longer = calloc(1, body_len + 1);
                memcpy(longer, body, body_len);
                buf = txn_command(longer, body_len + 1, &len);
                assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
                free(buf);
                free(longer);
        }
        /* Unknown body version, target, comparison, op type. Layout: version,
         * 3 counts, then the first compare's target and op. */
        assert_int_equal(txn_decode_patched(body, body_len, 0, 2), TKV_EINVAL);
        assert_int_equal(txn_decode_patched(body, body_len, 4, 9), TKV_EINVAL);
        assert_int_equal(txn_decode_patched(body, body_len, 5, 0), TKV_EINVAL);
        assert_int_equal(txn_decode_patched(body, body_len, 5, 5), TKV_EINVAL);
        /* Counts larger than the body can hold. */
        assert_int_not_equal(txn_decode_patched(body, body_len, 1, 0x7f), 0);
        assert_int_not_equal(txn_decode_patched(body, body_len, 2, 0x7f), 0);
        /* Every single byte changed to every value: refused or decoded
         * consistently, never read out of bounds (ASan). */
        for (size_t i = 0; i < body_len; i++) {
                for (unsigned v = 0; v < 256; v += 17) {
                        (void)txn_decode_patched(body, body_len, i, (uint8_t)v);
                }
        }
        /* Envelope rules: no key of its own, never LZ4, not empty. */
        c.type = COMMAND_TXN;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)body_len;
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
        c.key = NULL;
        c.key_len = 0;
        c.value_len = 0;
        c.value_raw_len = 0;
        buf = encode(&c, &len);
        assert_int_equal(command_decode(buf, len, &d), TKV_ECORRUPT);
        free(buf);
        free(body);
}

static void test_txn_empty_key_refused(void **state)
{
        struct command_txn_op o = {COMMAND_TXN_GET, (const uint8_t *)"", 0, NULL, 0, 0};
        struct command_txn t;
        size_t len = command_txn_body_bytes(NULL, 0, &o, 1, 0);
        uint8_t *b = malloc(len);
        (void)state;
        command_txn_body_encode(NULL, 0, &o, 1, 0, b);
        assert_int_equal(command_txn_open(b, len, &t), TKV_ECORRUPT);
        free(b);
}

static void test_txn_exists_operand_is_0_or_1(void **state)
{
        struct command_txn_compare x = {
            COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, (const uint8_t *)"k", 1, 2, NULL, 0};
        struct command_txn t;
        size_t len = command_txn_body_bytes(&x, 1, NULL, 0, 0);
        uint8_t *b = malloc(len);
        (void)state;
        command_txn_body_encode(&x, 1, NULL, 0, 0, b);
        assert_int_equal(command_txn_open(b, len, &t), TKV_ECORRUPT);
        free(b);
}

/* A TXN put may name a lease: it round-trips with it, a put without one
 * keeps the encoding it had before leases, and a leased put with lease 0
 * on the wire (a second encoding of a plain put) is refused. */
static void test_txn_put_lease(void **state)
{
        struct command_txn_op ops[] = {
            {COMMAND_TXN_PUT, (const uint8_t *)"{l}a", 4, (const uint8_t *)"v", 1,
             UINT64_C(0x0003000000000123)},
            {COMMAND_TXN_PUT, (const uint8_t *)"{l}b", 4, (const uint8_t *)"w", 1, 0},
        };
        struct command_txn t;
        struct command_txn_op o;
        const uint8_t *pos;
        size_t len = command_txn_body_bytes(NULL, 0, ops, 1, 1);
        size_t plain_len = command_txn_body_bytes(NULL, 0, ops + 1, 1, 0);
        uint8_t *b = malloc(len);
        (void)state;
        command_txn_body_encode(NULL, 0, ops, 1, 1, b);
        assert_int_equal(command_txn_open(b, len, &t), 0);
        pos = t.compares;
        command_txn_next_op(&pos, &o);
        assert_int_equal(o.type, COMMAND_TXN_PUT); /* PUT_LEASE stays on the wire */
        assert_true(o.lease == ops[0].lease);
        assert_int_equal(o.value_len, 1);
        assert_memory_equal(o.value, "v", 1);
        command_txn_next_op(&pos, &o);
        assert_int_equal(o.type, COMMAND_TXN_PUT);
        assert_true(o.lease == 0);
        assert_memory_equal(o.key, "{l}b", 4);
        assert_ptr_equal(pos, b + len);
        /* The leased op: type 4, then key, value and the lease varint. */
        assert_int_equal(b[4], COMMAND_TXN_PUT_LEASE);
        assert_int_equal(plain_len, 1 + 3 + 1 + 1 + 4 + 1 + 1); /* as before leases */
        /* A leased put whose lease is 0 (lease 1 is a 1-byte varint, the
         * body's last byte, set to 0) is refused. */
        ops[0].lease = 1;
        len = command_txn_body_bytes(NULL, 0, ops, 1, 0);
        command_txn_body_encode(NULL, 0, ops, 1, 0, b);
        assert_int_equal(command_txn_open(b, len, &t), 0);
        b[len - 1] = 0;
        assert_int_equal(command_txn_open(b, len, &t), TKV_ECORRUPT);
        free(b);
}

/* Lease commands carry their body as the value; a PUT or CAS may name a
 * lease, which changes its payload hash (a retry with another lease is a
 * different write). */
static void test_lease_commands(void **state)
{
        struct command c = {0}, d;
        struct command_lease b = {0, 5000, 10000, 1000}, o;
        uint8_t body[COMMAND_LEASE_BODY_MAX];
        uint8_t *e;
        size_t l;
        uint64_t h0, h1;
        (void)state;
        c.type = COMMAND_LEASE_GRANT;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)command_lease_body_encode(&b, body);
        e = encode(&c, &l);
        assert_int_equal(command_decode(e, l, &d), 0);
        assert_int_equal(d.type, COMMAND_LEASE_GRANT);
        assert_int_equal(command_lease_open(d.value, d.value_len, &o), 0);
        assert_true(o.ttl_ms == 5000 && o.leases_max == 10000 && o.keys_max == 1000);
        free(e);
        /* A lease command has no key; a body with a byte too many is refused. */
        c.key = (const uint8_t *)"k";
        c.key_len = 1;
        e = encode(&c, &l);
        assert_int_equal(command_decode(e, l, &d), TKV_ECORRUPT);
        free(e);
        c.key_len = 0;
        c.value_len++;
        e = encode(&c, &l);
        assert_int_equal(command_decode(e, l, &d), TKV_ECORRUPT);
        free(e);
        /* PUT with a lease. */
        memset(&c, 0, sizeof c);
        c.type = COMMAND_PUT;
        c.key = (const uint8_t *)"key";
        c.key_len = 3;
        c.value = (const uint8_t *)"v";
        c.value_len = c.value_raw_len = 1;
        h0 = command_payload_hash(&c);
        c.lease = 0x0001000000000abcull;
        h1 = command_payload_hash(&c);
        assert_true(h0 != h1);
        e = encode(&c, &l);
        assert_int_equal(command_decode(e, l, &d), 0);
        assert_true(d.lease == c.lease);
        free(e);
        /* Only a PUT or a CAS names a lease: the flag on a DELETE is refused. */
        c.type = COMMAND_DELETE;
        c.value_len = c.value_raw_len = 0;
        c.lease = 0;
        e = encode(&c, &l);
        e[3] |= COMMAND_HAS_LEASE;
        assert_int_not_equal(command_decode(e, l, &d), 0);
        free(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_all_lengths),
            cmocka_unit_test(test_delete_has_no_value),
            cmocka_unit_test(test_rejects_bad_lengths),
            cmocka_unit_test(test_lz4_flag_requires_smaller_value),
            cmocka_unit_test(test_lz4_raw_len_bounded_by_expansion),
            cmocka_unit_test(test_version_1_still_decodes),
            cmocka_unit_test(test_timestamp_and_version_2),
            cmocka_unit_test(test_close),
            cmocka_unit_test(test_random_bytes_never_crash),
            cmocka_unit_test(test_value_compression),
            cmocka_unit_test(test_txn_roundtrip),
            cmocka_unit_test(test_txn_corrupt_bodies_refused),
            cmocka_unit_test(test_txn_exists_operand_is_0_or_1),
            cmocka_unit_test(test_txn_empty_key_refused),
            cmocka_unit_test(test_txn_put_lease),
            cmocka_unit_test(test_lease_commands),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
