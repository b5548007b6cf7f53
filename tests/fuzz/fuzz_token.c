/* libFuzzer target for session tokens (session.c): what clients send in
 * ReadOptions.token and WriteOptions.token, and the dependency form stored
 * with values (and so read back from commands and snapshots). The first
 * input byte picks the form (even: token, odd: dependencies); the rest is
 * the bytes. The key is fixed ("fuzz secret", cluster "fuzz"), and the
 * seed corpus holds entries signed under it.
 *
 * Oracles (abort on a violation):
 * - session_parse accepts exactly the documented shape, at most cap
 *   entries of known kinds, and encodes back to the same bytes.
 * - session_verify accepts an entry exactly when its MAC is the one
 *   session_sign computes, also when the MAC cache answers (each entry is
 *   checked twice, and then once more with a flipped MAC bit).
 * - session_required and session_verify_all agree about forged entries,
 *   and the index required is one of a verified entry of the partition.
 * - Dependencies parse, re-encode compactly and parse back the same. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "session.h"

#define FUZZ_CAP 64

static struct session_keys *fuzz_keys(void)
{
        static struct session_keys k;
        static bool ready;

        if (!ready) {
                FUZZ_ASSERT(session_keys_init(&k, "fuzz secret", "fuzz") == 0);
                ready = true;
        }
        return &k;
}

/* Each entry's verdict equals a comparison with its true MAC. */
static bool fuzz_verify(struct session_keys *k, const struct session_entry *e, unsigned n)
{
        bool all = true;

        for (unsigned i = 0; i < n; i++) {
                struct session_entry good = e[i], bad;
                bool ok;

                session_sign(k, &good);
                ok = memcmp(good.mac, e[i].mac, SESSION_MAC_BYTES) == 0;
                FUZZ_ASSERT(session_verify(k, &e[i]) == ok);
                FUZZ_ASSERT(session_verify(k, &e[i]) == ok); /* from the cache now */
                bad = good;
                bad.mac[i % SESSION_MAC_BYTES] ^= 1;
                FUZZ_ASSERT(!session_verify(k, &bad));
                all = all && ok;
        }
        return all;
}

static void fuzz_required(struct session_keys *k, const struct session_entry *e, unsigned n,
                          bool all)
{
        for (unsigned i = 0; i < n && i < 4; i++) {
                uint64_t required = 0;
                int rv = session_required(k, e, n, e[i].partition, SESSION_KIND_MASK(e[i].kind),
                                          &required);
                bool hit = false;

                if (all) {
                        FUZZ_ASSERT(rv == 0);
                }
                if (rv != 0) {
                        continue;
                }
                for (unsigned j = 0; j < n; j++) {
                        hit |= e[j].partition == e[i].partition && e[j].kind == e[i].kind &&
                               e[j].index == required;
                        FUZZ_ASSERT(e[j].partition != e[i].partition || e[j].kind != e[i].kind ||
                                    e[j].index <= required);
                }
                FUZZ_ASSERT(hit);
        }
        FUZZ_ASSERT((session_verify_all(k, e, n) == 0) == all);
}

/* Compact form round trip. */
static void fuzz_deps(const struct session_entry *e, unsigned n)
{
        struct session_entry back[FUZZ_CAP];
        uint8_t out[FUZZ_CAP * SESSION_DEPS_ENTRY_MAX + 3];
        size_t len = session_deps_encoded_bytes(e, n);
        unsigned m = 0;

        if (n == 0) {
                return;
        }
        FUZZ_ASSERT(len <= sizeof out);
        session_deps_encode(e, n, out);
        FUZZ_ASSERT(session_deps_parse(out, len, back, FUZZ_CAP, &m) == 0 && m == n);
        for (unsigned i = 0; i < n; i++) {
                FUZZ_ASSERT(back[i].partition == e[i].partition && back[i].kind == e[i].kind &&
                            back[i].index == e[i].index &&
                            memcmp(back[i].mac, e[i].mac, SESSION_MAC_BYTES) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct session_keys *k = fuzz_keys();
        struct session_entry e[FUZZ_CAP];
        uint8_t again[SESSION_HEADER_BYTES + FUZZ_CAP * SESSION_ENTRY_BYTES];
        unsigned n = 0;
        bool tokenform;
        int rv;

        if (size < 1) {
                return 0;
        }
        tokenform = data[0] % 2 == 0;
        data++;
        size--;
        if (tokenform) {
                rv = session_parse(data, size, 8192, e, FUZZ_CAP, &n);
        } else {
                rv = session_deps_parse(data, size, e, FUZZ_CAP, &n);
        }
        if (rv != 0) {
                FUZZ_ASSERT(n == 0);
                return 0;
        }
        FUZZ_ASSERT(n <= FUZZ_CAP);
        for (unsigned i = 0; i < n; i++) {
                /* A timestamp entry (T) only in a token, and only as such. */
                FUZZ_ASSERT(
                    e[i].kind == SESSION_W || e[i].kind == SESSION_R ||
                    (e[i].kind == SESSION_T && tokenform && e[i].partition == SESSION_T_PARTITION));
        }
        if (tokenform && n > 0) {
                FUZZ_ASSERT(session_encoded_bytes(n) == size);
                session_encode(e, n, again);
                FUZZ_ASSERT(memcmp(again, data, size) == 0);
        }
        fuzz_required(k, e, n, fuzz_verify(k, e, n));
        /* What a write stores: no T entries (session_reduce_deps drops them). */
        n = session_reduce_deps(e, n, UINT32_MAX - 1);
        for (unsigned i = 0; i < n; i++) {
                FUZZ_ASSERT(e[i].kind != SESSION_T);
        }
        fuzz_deps(e, n);
        return 0;
}
