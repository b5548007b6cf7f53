/* Session tokens on the server side: the MAC (forged, altered and foreign
 * entries fail), the wire form (every malformed shape refused, the size cap
 * enforced), what a read requires of a partition, and the dependencies a
 * write keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "err.h"
#include "session.h"

struct keys {
        struct session_keys a;   /* cluster "c1", secret "s1" */
        struct session_keys b;   /* cluster "c2", same secret */
        struct session_keys c;   /* cluster "c1", another secret */
        struct session_keys nok; /* cluster "c1", no secret */
};

static int setup(void **state)
{
        static struct keys k;
        assert_int_equal(session_keys_init(&k.a, "s1", "c1"), 0);
        assert_int_equal(session_keys_init(&k.b, "s1", "c2"), 0);
        assert_int_equal(session_keys_init(&k.c, "s2", "c1"), 0);
        assert_int_equal(session_keys_init(&k.nok, "", "c1"), 0);
        *state = &k;
        return 0;
}

static int teardown(void **state)
{
        struct keys *k = *state;
        session_keys_close(&k->a);
        session_keys_close(&k->b);
        session_keys_close(&k->c);
        session_keys_close(&k->nok);
        return 0;
}

static struct session_entry entry(uint32_t p, uint8_t kind, uint64_t index)
{
        struct session_entry e;
        memset(&e, 0, sizeof e);
        e.partition = p;
        e.kind = kind;
        e.index = index;
        return e;
}

/* Rotation: an entry MAC'd under the previous secret verifies while that
 * key is set as previous, never under the current key alone; entries of
 * the current key are unaffected. */
static void test_previous_key_accepted_only_while_set(void **state)
{
        struct keys *k = *state;
        struct session_entry old = entry(1, SESSION_R, 77), cur = entry(1, SESSION_R, 78);
        struct session_entry both[2];

        session_sign(&k->c, &old); /* "s2": the previous secret */
        session_sign(&k->a, &cur); /* "s1": the current one */
        both[0] = old;
        both[1] = cur;
        assert_false(session_verify(&k->a, &old));
        assert_int_equal(session_verify_all(&k->a, both, 2), TKV_EINVAL);
        k->a.previous = &k->c;
        assert_true(session_verify(&k->a, &old));
        assert_true(session_verify(&k->a, &cur));
        assert_int_equal(session_verify_all(&k->a, both, 2), 0);
        k->a.previous = NULL;
        assert_false(session_verify(&k->a, &old));
        assert_true(session_verify(&k->a, &cur));
}

static void test_mac_binds_every_field_and_the_cluster(void **state)
{
        struct keys *k = *state;
        struct session_entry e = entry(3, SESSION_W, 1000), f;

        session_sign(&k->a, &e);
        assert_true(session_verify(&k->a, &e));
        /* Any field changed: the MAC no longer matches. */
        f = e;
        f.index++;
        assert_false(session_verify(&k->a, &f));
        f = e;
        f.partition = 4;
        assert_false(session_verify(&k->a, &f));
        f = e;
        f.kind = SESSION_R;
        assert_false(session_verify(&k->a, &f));
        f = e;
        f.mac[7] ^= 1;
        assert_false(session_verify(&k->a, &f));
        /* Another cluster (same secret) or another secret refuses it. */
        assert_false(session_verify(&k->b, &e));
        assert_false(session_verify(&k->c, &e));
        assert_false(session_verify(&k->nok, &e));
        /* Signing is deterministic: two nodes of a cluster agree. */
        f = entry(3, SESSION_W, 1000);
        session_sign(&k->a, &f);
        assert_memory_equal(f.mac, e.mac, SESSION_MAC_BYTES);
}

/* The MAC cache answers repeated entries without an HMAC, never lets a
 * forged MAC through for a cached entry, and stays right when entries
 * collide in it: each MAC checked against a fresh key set (no cache). */
static void test_mac_cache_is_only_a_shortcut(void **state)
{
        struct keys *k = *state;
        struct session_keys fresh;
        struct session_entry e = entry(5, SESSION_R, 77), f;
        uint64_t computed, cached;

        session_sign(&k->a, &e);
        computed = k->a.mac_computed;
        cached = k->a.mac_cached;
        assert_true(session_verify(&k->a, &e));
        assert_int_equal(k->a.mac_computed, computed); /* answered from the cache */
        assert_int_equal(k->a.mac_cached, cached + 1);
        f = e;
        f.mac[0] ^= 0x80;
        assert_false(session_verify(&k->a, &f)); /* cached entry, forged MAC */
        f = e;
        f.index++;
        f.mac[0] ^= 0x80;
        assert_false(session_verify(&k->a, &f)); /* a miss with a forged MAC */

        /* Four times as many entries as slots, signed then verified twice:
         * every MAC equals the uncached one and every copy verifies. */
        assert_int_equal(session_keys_init(&fresh, "s1", "c1"), 0);
        for (int round = 0; round < 2; round++) {
                for (uint64_t i = 1; i <= 4 * SESSION_MAC_CACHE_SLOTS; i++) {
                        struct session_entry g = entry((uint32_t)(i % 8), SESSION_W, i * 3);
                        struct session_entry h = g;
                        session_sign(&k->a, &g);
                        assert_true(session_verify(&k->a, &g));
                        session_sign(&fresh, &h);
                        memset(fresh.cache, 0, sizeof fresh.cache);
                        assert_memory_equal(g.mac, h.mac, SESSION_MAC_BYTES);
                }
        }
        session_keys_close(&fresh);
}

static void test_encode_parse_round_trip(void **state)
{
        struct keys *k = *state;
        struct session_entry in[3] = {entry(0, SESSION_W, 5), entry(7, SESSION_R, 1ULL << 40),
                                      entry(UINT32_MAX, SESSION_W, UINT64_MAX)};
        struct session_entry out[4];
        uint8_t buf[SESSION_HEADER_BYTES + 3 * SESSION_ENTRY_BYTES];
        unsigned n = 99;

        for (int i = 0; i < 3; i++) {
                session_sign(&k->a, &in[i]);
        }
        assert_int_equal(session_encoded_bytes(3), sizeof buf);
        session_encode(in, 3, buf);
        assert_int_equal(buf[0], SESSION_TOKEN_VERSION);
        assert_int_equal(session_parse(buf, sizeof buf, sizeof buf, out, 4, &n), 0);
        assert_int_equal(n, 3);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(out[i].partition, in[i].partition);
                assert_int_equal(out[i].kind, in[i].kind);
                assert_int_equal(out[i].index, in[i].index);
                assert_true(session_verify(&k->a, &out[i]));
        }
        assert_int_equal(session_verify_all(&k->a, out, n), 0);
        /* The empty token is zero bytes. */
        assert_int_equal(session_encoded_bytes(0), 0);
        assert_int_equal(session_parse(buf, 0, sizeof buf, out, 4, &n), 0);
        assert_int_equal(n, 0);
}

static void test_malformed_tokens_are_refused(void **state)
{
        struct keys *k = *state;
        struct session_entry in[2] = {entry(1, SESSION_W, 5), entry(2, SESSION_R, 6)};
        struct session_entry out[2];
        uint8_t buf[SESSION_HEADER_BYTES + 2 * SESSION_ENTRY_BYTES], bad[sizeof buf];
        unsigned n;

        session_sign(&k->a, &in[0]);
        session_sign(&k->a, &in[1]);
        session_encode(in, 2, buf);
        /* Truncated anywhere: the count disagrees with the length. */
        for (size_t len = 1; len < sizeof buf; len++) {
                assert_int_equal(session_parse(buf, len, sizeof buf, out, 2, &n), TKV_EINVAL);
        }
        /* Over the size cap. */
        assert_int_equal(session_parse(buf, sizeof buf, sizeof buf - 1, out, 2, &n), TKV_ETOOBIG);
        /* More entries than the caller has room for. */
        assert_int_equal(session_parse(buf, sizeof buf, sizeof buf, out, 1, &n), TKV_EINVAL);
        /* Unknown version, reserved byte set, unknown kind. */
        memcpy(bad, buf, sizeof buf);
        bad[0] = 2;
        assert_int_equal(session_parse(bad, sizeof bad, sizeof bad, out, 2, &n), TKV_EINVAL);
        memcpy(bad, buf, sizeof buf);
        bad[1] = 1;
        assert_int_equal(session_parse(bad, sizeof bad, sizeof bad, out, 2, &n), TKV_EINVAL);
        memcpy(bad, buf, sizeof buf);
        bad[SESSION_HEADER_BYTES + 4] = 3;
        assert_int_equal(session_parse(bad, sizeof bad, sizeof bad, out, 2, &n), TKV_EINVAL);
        /* A forged index parses but fails the MAC. */
        memcpy(bad, buf, sizeof buf);
        bad[SESSION_HEADER_BYTES + 5] ^= 0x80;
        assert_int_equal(session_parse(bad, sizeof bad, sizeof bad, out, 2, &n), 0);
        assert_int_equal(session_verify_all(&k->a, out, n), TKV_EINVAL);
}

static void test_required_index_per_partition_and_kind(void **state)
{
        struct keys *k = *state;
        unsigned w = SESSION_KIND_MASK(SESSION_W), r = SESSION_KIND_MASK(SESSION_R);
        struct session_entry e[4] = {entry(1, SESSION_W, 10), entry(1, SESSION_R, 30),
                                     entry(2, SESSION_W, 50), entry(3, SESSION_R, 70)};
        uint64_t req;

        for (int i = 0; i < 4; i++) {
                session_sign(&k->a, &e[i]);
        }
        assert_int_equal(session_required(&k->a, e, 4, 1, w | r, &req), 0);
        assert_int_equal(req, 30);
        assert_int_equal(session_required(&k->a, e, 4, 1, w, &req), 0);
        assert_int_equal(req, 10);
        assert_int_equal(session_required(&k->a, e, 4, 1, r, &req), 0);
        assert_int_equal(req, 30);
        assert_int_equal(session_required(&k->a, e, 4, 4, w | r, &req), 0);
        assert_int_equal(req, 0);
        /* A forged entry the read would use is refused... */
        e[1].index = 1000;
        assert_int_equal(session_required(&k->a, e, 4, 1, w | r, &req), TKV_EINVAL);
        /* ...from another cluster too. */
        e[1].index = 30;
        session_sign(&k->b, &e[1]);
        assert_int_equal(session_required(&k->a, e, 4, 1, r, &req), TKV_EINVAL);
}

static void test_deps_keep_the_highest_entry_per_other_partition(void **state)
{
        struct session_entry e[6] = {entry(1, SESSION_W, 10), entry(2, SESSION_R, 40),
                                     entry(1, SESSION_R, 30), entry(5, SESSION_W, 7),
                                     entry(2, SESSION_W, 20), entry(5, SESSION_R, 9)};
        unsigned n;
        uint64_t seen[8] = {0};
        (void)state;

        n = session_reduce_deps(e, 6, 5);
        assert_int_equal(n, 2);
        for (unsigned i = 0; i < n; i++) {
                assert_true(e[i].partition < 8);
                assert_int_equal(seen[e[i].partition], 0);
                seen[e[i].partition] = e[i].index;
        }
        assert_int_equal(seen[1], 30);
        assert_int_equal(seen[2], 40);
        assert_int_equal(seen[5], 0);
}

/* The compact form of stored dependencies: every field and MAC survive
 * (largest partition and index too), it is smaller than the token form,
 * the token form still reads, and every truncation or bad byte is refused. */
static void test_deps_compact_form_round_trip(void **state)
{
        struct keys *k = *state;
        struct session_entry e[4] = {entry(0, SESSION_W, 1), entry(7, SESSION_R, 125000),
                                     entry(1023, SESSION_W, UINT64_MAX),
                                     entry(UINT32_MAX, SESSION_R, 1ull << 35)};
        struct session_entry out[4];
        uint8_t buf[4 * SESSION_DEPS_ENTRY_MAX + 3], tok[4 * SESSION_ENTRY_BYTES + 4];
        size_t len;
        unsigned n;

        for (unsigned i = 0; i < 4; i++) {
                session_sign(&k->a, &e[i]);
        }
        len = session_deps_encoded_bytes(e, 4);
        assert_true(len <= sizeof buf);
        session_deps_encode(e, 4, buf);
        assert_int_equal(session_deps_parse(buf, len, out, 4, &n), 0);
        assert_int_equal(n, 4);
        for (unsigned i = 0; i < 4; i++) {
                assert_int_equal(out[i].partition, e[i].partition);
                assert_int_equal(out[i].kind, e[i].kind);
                assert_true(out[i].index == e[i].index);
                assert_true(session_verify(&k->a, &out[i]));
        }
        /* Small partition, index below 2^21: 13 bytes an entry (11 for index 1). */
        assert_int_equal(session_deps_encoded_bytes(e, 2), 3 + 11 + 13);
        assert_true(session_deps_encoded_bytes(e, 2) < session_encoded_bytes(2));

        /* What was stored in the token form still parses. */
        session_encode(e, 4, tok);
        assert_int_equal(session_deps_parse(tok, session_encoded_bytes(4), out, 4, &n), 0);
        assert_int_equal(n, 4);
        assert_true(out[2].index == UINT64_MAX);

        /* Refused: every truncation, a trailing byte, a bad marker or kind,
         * more entries than cap, an index beyond 64 bits. */
        for (size_t l = 1; l < len; l++) {
                assert_int_equal(session_deps_parse(buf, l, out, 4, &n), TKV_EINVAL);
                assert_int_equal(n, 0);
        }
        buf[len] = 0;
        assert_int_equal(session_deps_parse(buf, len + 1, out, 4, &n), TKV_EINVAL);
        assert_int_equal(session_deps_parse(buf, len, out, 3, &n), TKV_EINVAL);
        buf[0] = 0xD2;
        assert_int_equal(session_deps_parse(buf, len, out, 4, &n), TKV_EINVAL);
        buf[0] = SESSION_DEPS_MARKER;
        buf[3 + 1] = 3; /* first entry's kind (partition 0 takes one byte) */
        assert_int_equal(session_deps_parse(buf, len, out, 4, &n), TKV_EINVAL);
        {
                /* Marker, one entry, partition 0, W, an index of ten bytes
                 * whose last carries bit 65, a MAC. */
                uint8_t big[3 + 2 + 10 + SESSION_MAC_BYTES] = {SESSION_DEPS_MARKER, 1, 0, 0,
                                                               SESSION_W};
                memset(big + 5, 0xff, 9);
                big[14] = 0x02;
                assert_int_equal(session_deps_parse(big, sizeof big, out, 4, &n), TKV_EINVAL);
        }
        assert_int_equal(session_deps_parse(buf, 0, out, 4, &n), 0);
        assert_int_equal(n, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mac_binds_every_field_and_the_cluster),
            cmocka_unit_test(test_previous_key_accepted_only_while_set),
            cmocka_unit_test(test_mac_cache_is_only_a_shortcut),
            cmocka_unit_test(test_encode_parse_round_trip),
            cmocka_unit_test(test_malformed_tokens_are_refused),
            cmocka_unit_test(test_required_index_per_partition_and_kind),
            cmocka_unit_test(test_deps_keep_the_highest_entry_per_other_partition),
            cmocka_unit_test(test_deps_compact_form_round_trip),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
