/* libFuzzer target for raftwire.c. The input's first byte picks the chunk
 * size the stream is fed in (0: whole), the second the limits; the rest is
 * the peer stream. Three oracles, each aborting on a violation:
 *
 * - What raftwire emits is a prefix of its input: it never alters, drops or
 *   reorders a byte.
 * - Chunking changes nothing: feeding the stream whole gives the same result
 *   and the same bytes.
 * - raft 0.15 could decode what was emitted: fuzz_raft_* replays raft's own
 *   decoding (uv_encoding.c, uv_recv.c, configuration.c at v0.15.0) with a
 *   bounds check on every read raft makes unchecked, and the conditions
 *   under which raft frees pointers it never set.
 *
 * Build: CC=clang-14 cmake -S . -B build-fuzz -DTKV_FUZZ=ON -DTKV_ASAN=ON
 * -DTKV_UBSAN=ON && cmake --build build-fuzz --target fuzz_raftwire. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "raftwire.h"

struct fuzz_out {
        uint8_t *p;
        size_t n;
        unsigned checks;
};

static void fuzz_emit(void *arg, const uint8_t *b, size_t n)
{
        struct fuzz_out *o = arg;
        o->p = realloc(o->p, o->n + n);
        if (o->p == NULL) {
                abort();
        }
        memcpy(o->p + o->n, b, n);
        o->n += n;
}

/* A policy that refuses some terms, so refusals by the check are fuzzed
 * too. */
static bool fuzz_check(void *arg, const struct raftwire_msg *m, const char **why)
{
        struct fuzz_out *o = arg;
        o->checks++;
        *why = "term 0x42";
        return (m->term & 0xff) != 0x42;
}

static uint64_t fuzz_get64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) {
                v = v << 8 | p[i];
        }
        return v;
}

/* configurationDecode (configuration.c:278-333) and configurationAdd's
 * asserts and refusals; every read it makes must lie within len. */
static void fuzz_raft_conf(const uint8_t *p, uint64_t len)
{
        uint64_t at = 9, n;

        FUZZ_ASSERT(len > 0 && len >= 9); /* assert(buf->len > 0), then 9 unchecked bytes */
        FUZZ_ASSERT(p[0] == 1);
        n = fuzz_get64(p + 1);
        FUZZ_ASSERT(n > 0);
        for (uint64_t i = 0; i < n; i++) {
                FUZZ_ASSERT(at + 8 <= len);           /* byteGet64Unaligned, unchecked */
                FUZZ_ASSERT(fuzz_get64(p + at) != 0); /* configurationAdd: assert(id != 0) */
                at += 8;
                const uint8_t *nul = memchr(p + at, 0, len - at);
                FUZZ_ASSERT(nul != NULL);
                at = (uint64_t)(nul - p) + 1;
                FUZZ_ASSERT(at < len); /* byteGet8 of the role, unchecked */
                FUZZ_ASSERT(p[at] <= 2);
                at++;
        }
}

/* One emitted message as raft's uvServerReadCb/uvDecodeMessage sees it, at
 * m (avail bytes emitted from there). Returns its total length, or 0 if it
 * is not whole (the stream was refused inside it). */
static size_t fuzz_raft_message(const uint8_t *m, size_t avail)
{
        uint64_t type, hlen, n, payload = 0;
        const uint8_t *h = m + 16;

        if (avail < 16) {
                return 0;
        }
        type = fuzz_get64(m);
        hlen = fuzz_get64(m + 8);
        FUZZ_ASSERT(type >= 1 && type <= 6 && hlen > 0); /* no truncation, no zero header */
        FUZZ_ASSERT(hlen <= avail - 16);                 /* headers are emitted whole */
        switch (type) {
        case 1: /* decodeAppendEntries, uvDecodeBatchHeader */
                FUZZ_ASSERT(hlen >= 40);
                n = fuzz_get64(h + 32);
                FUZZ_ASSERT(n <= (hlen - 40) / 16);
                for (uint64_t i = 0; i < n; i++) {
                        const uint8_t *e = h + 40 + 16 * i;
                        uint32_t len = (uint32_t)e[12] | (uint32_t)e[13] << 8 |
                                       (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
                        FUZZ_ASSERT(e[8] >= 1 && e[8] <= 3);
                        FUZZ_ASSERT(len > 0); /* batch pointer set, no NULL buffer */
                        payload += len;
                }
                break;
        case 3:
                FUZZ_ASSERT(hlen == 32 || hlen >= 40);
                break;
        case 4:
                FUZZ_ASSERT(hlen >= 16);
                break;
        case 5: /* decodeInstallSnapshot */
                FUZZ_ASSERT(hlen >= 48);
                n = fuzz_get64(h + 32);
                FUZZ_ASSERT(n <= hlen - 48);
                fuzz_raft_conf(h + 40, n);
                payload = fuzz_get64(h + 40 + n);
                FUZZ_ASSERT(payload > 0); /* else data.base is never set */
                break;
        default:
                FUZZ_ASSERT(hlen >= 24);
                break;
        }
        if (payload > avail - 16 - hlen) {
                return 0;
        }
        if (type == 1) {
                /* uvDecodeEntriesBatch: entries at padded offsets must lie
                 * within the payload raft read (the plain sum); RAFT_CHANGE
                 * entries are decoded on append. */
                uint64_t at = 0;
                n = fuzz_get64(h + 32);
                for (uint64_t i = 0; i < n; i++) {
                        const uint8_t *e = h + 40 + 16 * i;
                        uint32_t len = (uint32_t)e[12] | (uint32_t)e[13] << 8 |
                                       (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
                        FUZZ_ASSERT(at + len <= payload);
                        if (e[8] == 3) {
                                fuzz_raft_conf(m + 16 + hlen + at, len);
                        }
                        at += len + (len % 8 != 0 ? 8 - len % 8 : 0);
                }
        }
        return 16 + (size_t)hlen + (size_t)payload;
}

static const struct raftwire_limits fuzz_limits[] = {
    {8, 64, 256, 128},
    {64, 4096, 1 << 16, 4096},
    {0, 0, 0, 0},
    {1 << 20, UINT32_MAX, UINT64_MAX, 1 << 20},
};

static int fuzz_run(const struct raftwire_limits *lim, const uint8_t *in, size_t n, size_t chunk,
                    struct fuzz_out *o)
{
        struct raftwire w;
        size_t off = 0;
        int rv = 0;

        raftwire_init(&w, lim, fuzz_check, fuzz_emit, o);
        while (off < n && rv == 0) {
                size_t k = chunk == 0 || n - off < chunk ? n - off : chunk;
                rv = raftwire_feed(&w, in + off, k);
                off += k;
        }
        FUZZ_ASSERT(rv == 0 || w.why[0] != 0);
        raftwire_close(&w);
        return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_out a = {0}, b = {0};
        size_t off = 0;
        int rv;

        if (size < 2) {
                return 0;
        }
        const struct raftwire_limits *lim = &fuzz_limits[data[1] % 4];
        rv = fuzz_run(lim, data + 2, size - 2, data[0], &a);
        FUZZ_ASSERT(a.n <= size - 2 && (a.n == 0 || memcmp(a.p, data + 2, a.n) == 0));
        FUZZ_ASSERT(fuzz_run(lim, data + 2, size - 2, 0, &b) == rv);
        FUZZ_ASSERT(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0));
        while (off < a.n) {
                size_t len = fuzz_raft_message(a.p + off, a.n - off);
                if (len == 0) {
                        break;
                }
                off += len;
        }
        free(a.p);
        free(b.p);
        return 0;
}
