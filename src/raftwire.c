/* The raft_uv 0.15 message validator: layouts and the reasons for every
 * check are in raftwire.h. One message at a time goes through three states:
 *
 *   HEADER --header valid, checked, emitted--> ENTRIES (AppendEntries with
 *      ^                                   |   entries) or SNAPSHOT
 *      |                                   |   (InstallSnapshot), else HEADER
 *      +------ last payload byte ----------+
 *
 * and any refusal leads to DEAD, which keeps its error. Lengths from the wire
 * are compared against the limits before anything is allocated, in 64-bit
 * arithmetic that cannot overflow (every sum is bounded first). */
#include "raftwire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "heap.h"

/* Servers in a configuration take at least 11 bytes: id, one address byte
 * and its NUL, role. */
#define RAFTWIRE_SERVER_BYTES_MIN 11
/* Version byte and server count. */
#define RAFTWIRE_CONF_HEADER_BYTES 9
/* The only configuration encoding raft 0.15 knows (configuration.c:8). */
#define RAFTWIRE_CONF_VERSION 1
/* Highest role: RAFT_SPARE. */
#define RAFTWIRE_ROLE_MAX 2

static uint64_t raftwire_get64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) {
                v = (v << 8) | p[i];
        }
        return v;
}

static uint32_t raftwire_get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void raftwire_whyf(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void raftwire_whyf(char *why, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, RAFTWIRE_WHY_BYTES, fmt, ap);
        va_end(ap);
}

/* Kill the stream with err; why is already written. */
static int raftwire_die(struct raftwire *w, int err)
{
        w->state = RAFTWIRE_DEAD;
        w->err = err;
        return err;
}

/* a + b, saturating: limits may be configured as UINT64_MAX. */
static uint64_t raftwire_add(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Grow *p (capacity *cap) to hold bytes; the caller bounded bytes by a
 * limit. */
static int raftwire_reserve(uint8_t **p, size_t *cap, uint64_t bytes)
{
        uint8_t *grown;

        if (bytes <= *cap) {
                return 0;
        }
        if (bytes > SIZE_MAX) {
                return TKV_ENOMEM;
        }
        grown = tkv_realloc(*p, (size_t)bytes);
        if (grown == NULL) {
                return TKV_ENOMEM;
        }
        *p = grown;
        *cap = (size_t)bytes;
        return 0;
}

/* ---------------------------------------------------------------------------
 * Configurations
 * ------------------------------------------------------------------------- */

/* One server of a configuration at *off (i of its servers): checked for what
 * raft's decoder and configurationAdd trust, then *off moves past it. */
static int raftwire_conf_server(const uint8_t *p, uint64_t len, uint64_t *off, uint64_t i,
                                char *why)
{
        const uint8_t *nul;
        uint64_t at = *off;

        if (len - at < 8) {
                raftwire_whyf(why,
                              "configuration: server %" PRIu64 " ends past its %" PRIu64 " bytes",
                              i, len);
                return TKV_EPROTO;
        }
        if (raftwire_get64(p + at) == 0) {
                raftwire_whyf(why, "configuration: server %" PRIu64 " has id 0", i);
                return TKV_EPROTO;
        }
        at += 8;
        nul = memchr(p + at, 0, (size_t)(len - at));
        if (nul == NULL) {
                raftwire_whyf(why,
                              "configuration: address of server %" PRIu64
                              " not terminated within %" PRIu64 " bytes",
                              i, len);
                return TKV_EPROTO;
        }
        if (nul == p + at) {
                raftwire_whyf(why, "configuration: server %" PRIu64 " has an empty address", i);
                return TKV_EPROTO;
        }
        at = (uint64_t)(nul - p) + 1;
        if (at >= len) {
                raftwire_whyf(why, "configuration: role of server %" PRIu64 " missing", i);
                return TKV_EPROTO;
        }
        if (p[at] > RAFTWIRE_ROLE_MAX) {
                raftwire_whyf(why, "configuration: server %" PRIu64 " has unknown role %u", i,
                              (unsigned)p[at]);
                return TKV_EPROTO;
        }
        *off = at + 1;
        return 0;
}

/* Offset of the server after the (valid) one at off. */
static uint64_t raftwire_conf_skip(const uint8_t *p, uint64_t off)
{
        return off + 8 + strlen((const char *)p + off + 8) + 1 + 1;
}

/* Duplicate ids or addresses among the n servers from offset first (already
 * valid): configurationAdd refuses them, after raft has half-decoded. */
static int raftwire_conf_unique(const uint8_t *p, uint64_t first, uint64_t n, char *why)
{
        uint64_t a = first;

        for (uint64_t i = 0; i < n; i++) {
                uint64_t b = raftwire_conf_skip(p, a);
                for (uint64_t j = i + 1; j < n; j++) {
                        if (raftwire_get64(p + a) == raftwire_get64(p + b)) {
                                raftwire_whyf(why, "configuration: duplicate server id %" PRIu64,
                                              raftwire_get64(p + a));
                                return TKV_EPROTO;
                        }
                        if (strcmp((const char *)p + a + 8, (const char *)p + b + 8) == 0) {
                                raftwire_whyf(why, "configuration: duplicate address %.64s",
                                              (const char *)p + a + 8);
                                return TKV_EPROTO;
                        }
                        b = raftwire_conf_skip(p, b);
                }
                a = raftwire_conf_skip(p, a);
        }
        return 0;
}

int raftwire_conf_check(const uint8_t *p, uint64_t len, uint64_t conf_bytes_max, uint64_t *servers,
                        char *why)
{
        uint64_t n;
        uint64_t off = RAFTWIRE_CONF_HEADER_BYTES;
        int rv;

        if (len > conf_bytes_max) {
                raftwire_whyf(why, "configuration of %" PRIu64 " bytes, limit %" PRIu64, len,
                              conf_bytes_max);
                return TKV_ETOOBIG;
        }
        if (len < RAFTWIRE_CONF_HEADER_BYTES) {
                raftwire_whyf(why, "configuration of %" PRIu64 " bytes, shorter than its header",
                              len);
                return TKV_EPROTO;
        }
        if (p[0] != RAFTWIRE_CONF_VERSION) {
                raftwire_whyf(why, "configuration: unknown encoding version %u", (unsigned)p[0]);
                return TKV_EPROTO;
        }
        n = raftwire_get64(p + 1);
        if (n == 0 || n > (len - RAFTWIRE_CONF_HEADER_BYTES) / RAFTWIRE_SERVER_BYTES_MIN) {
                raftwire_whyf(why, "configuration claims %" PRIu64 " servers in %" PRIu64 " bytes",
                              n, len);
                return TKV_EPROTO;
        }
        for (uint64_t i = 0; i < n; i++) {
                rv = raftwire_conf_server(p, len, &off, i, why);
                if (rv != 0) {
                        return rv;
                }
        }
        if (len % 8 != 0 || len - off >= 8) {
                raftwire_whyf(why,
                              "configuration of %" PRIu64 " bytes holds %" PRIu64
                              " (raft pads to 8, no more)",
                              len, off);
                return TKV_EPROTO;
        }
        *servers = n;
        return raftwire_conf_unique(p, RAFTWIRE_CONF_HEADER_BYTES, n, why);
}

/* ---------------------------------------------------------------------------
 * Preamble and headers
 * ------------------------------------------------------------------------- */

/* The preamble is whole: the type must be one raft knows by its full 64
 * bits, and the header length within what raft 0.15 sends for it ([min,
 * max], or a legacy length) and within the limits, before it is buffered. */
static int raftwire_preamble(struct raftwire *w, uint64_t type, uint64_t hlen)
{
        const struct raftwire_limits *l = &w->limits;
        uint64_t min = 24, max = 24, legacy = 0;

        switch (type) {
        case RAFTWIRE_APPEND_ENTRIES:
                min = RAFTWIRE_AE_FIXED_BYTES;
                max = raftwire_add(RAFTWIRE_AE_FIXED_BYTES + 8, l->entries_max > UINT64_MAX / 16
                                                                    ? UINT64_MAX
                                                                    : 16 * l->entries_max);
                break;
        case RAFTWIRE_INSTALL_SNAPSHOT:
                min = RAFTWIRE_IS_FIXED_BYTES;
                max = raftwire_add(RAFTWIRE_IS_FIXED_BYTES + 8, l->conf_bytes_max);
                break;
        case RAFTWIRE_REQUEST_VOTE:
                min = max = 40;
                legacy = 32;
                break;
        case RAFTWIRE_REQUEST_VOTE_RESULT:
                legacy = 16;
                break;
        case RAFTWIRE_APPEND_ENTRIES_RESULT:
        case RAFTWIRE_TIMEOUT_NOW:
                break;
        default:
                raftwire_whyf(w->why, "unknown message type %" PRIu64, type);
                return TKV_EPROTO;
        }
        /* want (preamble + header) must not overflow. */
        max =
            max > UINT64_MAX - RAFTWIRE_PREAMBLE_BYTES ? UINT64_MAX - RAFTWIRE_PREAMBLE_BYTES : max;
        if (min < max && hlen > max) {
                raftwire_whyf(
                    w->why, "type %" PRIu64 ": header of %" PRIu64 " bytes holds %s (limit)", type,
                    hlen,
                    type == RAFTWIRE_APPEND_ENTRIES ? "more than entries_max entries"
                                                    : "a configuration beyond conf_bytes_max");
                return TKV_ETOOBIG;
        }
        if ((legacy == 0 || hlen != legacy) && (hlen < min || hlen > max)) {
                raftwire_whyf(w->why,
                              "type %" PRIu64 ": header length %" PRIu64 " outside %" PRIu64
                              "..%" PRIu64,
                              type, hlen, min, max);
                return TKV_EPROTO;
        }
        return 0;
}

/* Entry i of an AppendEntries (its 16-byte header at e): type, length and
 * term as raft would use them. *last is the term of the entry before. */
static int raftwire_ae_entry(struct raftwire *w, const uint8_t *e, uint64_t i, uint64_t *last)
{
        const struct raftwire_limits *l = &w->limits;
        uint64_t term = raftwire_get64(e);
        unsigned type = e[8];
        uint32_t len = raftwire_get32(e + 12);

        if (type != RAFTWIRE_COMMAND && type != RAFTWIRE_BARRIER && type != RAFTWIRE_CHANGE) {
                raftwire_whyf(w->why, "entry %" PRIu64 ": unknown entry type %u", i, type);
                return TKV_EPROTO;
        }
        if (len == 0) {
                raftwire_whyf(w->why, "entry %" PRIu64 ": empty entry (zero length)", i);
                return TKV_EPROTO;
        }
        if (len > l->entry_bytes_max || (type == RAFTWIRE_CHANGE && len > l->conf_bytes_max)) {
                raftwire_whyf(w->why,
                              "entry %" PRIu64 " of type %u: %" PRIu32 " bytes, limit %" PRIu64, i,
                              type, len,
                              type == RAFTWIRE_CHANGE && l->conf_bytes_max < l->entry_bytes_max
                                  ? l->conf_bytes_max
                                  : l->entry_bytes_max);
                return TKV_ETOOBIG;
        }
        if (i + 1 < w->msg.n_entries && len % 8 != 0) {
                raftwire_whyf(w->why,
                              "entry %" PRIu64 ": length %" PRIu32 " not a multiple of 8 "
                              "before the last entry (raft pads, the sender does not)",
                              i, len);
                return TKV_EPROTO;
        }
        if (term == 0 || term > w->msg.term || term < *last) {
                raftwire_whyf(w->why,
                              "entry %" PRIu64 ": term %" PRIu64 " outside %" PRIu64 "..%" PRIu64
                              " (previous entry .. message)",
                              i, term, *last > 1 ? *last : 1, w->msg.term);
                return TKV_EPROTO;
        }
        *last = term;
        w->msg.payload_bytes += len;
        return 0;
}

static int raftwire_ae(struct raftwire *w, const uint8_t *h, uint64_t hlen)
{
        uint64_t n = raftwire_get64(h + 32);
        /* raft keeps the count in an unsigned (uv_encoding.c:356). */
        uint64_t max = w->limits.entries_max < UINT32_MAX ? w->limits.entries_max : UINT32_MAX;
        uint64_t last;
        int rv;

        w->msg.term = raftwire_get64(h);
        w->msg.prev_log_index = raftwire_get64(h + 8);
        w->msg.prev_log_term = last = raftwire_get64(h + 16);
        w->msg.leader_commit = raftwire_get64(h + 24);
        w->msg.n_entries = n;
        if (n > max) {
                raftwire_whyf(w->why, "AppendEntries with %" PRIu64 " entries, limit %" PRIu64, n,
                              max);
                return TKV_ETOOBIG;
        }
        if (n > (hlen - RAFTWIRE_AE_FIXED_BYTES) / RAFTWIRE_AE_ENTRY_BYTES ||
            (hlen - RAFTWIRE_AE_FIXED_BYTES - RAFTWIRE_AE_ENTRY_BYTES * n != 0 &&
             hlen - RAFTWIRE_AE_FIXED_BYTES - RAFTWIRE_AE_ENTRY_BYTES * n != 8)) {
                raftwire_whyf(w->why,
                              "AppendEntries header of %" PRIu64 " bytes for %" PRIu64
                              " entries (needs %" PRIu64 " or 8 more)",
                              hlen, n, n > UINT64_MAX / 32 ? UINT64_MAX : 40 + 16 * n);
                return TKV_EPROTO;
        }
        for (uint64_t i = 0; i < n; i++) {
                const uint8_t *e = h + RAFTWIRE_AE_FIXED_BYTES + RAFTWIRE_AE_ENTRY_BYTES * i;
                rv = raftwire_ae_entry(w, e, i, &last);
                if (rv != 0) {
                        return rv;
                }
        }
        if (w->msg.payload_bytes > w->limits.payload_bytes_max) {
                raftwire_whyf(w->why, "AppendEntries payload of %" PRIu64 " bytes, limit %" PRIu64,
                              w->msg.payload_bytes, w->limits.payload_bytes_max);
                return TKV_ETOOBIG;
        }
        return 0;
}

static int raftwire_is(struct raftwire *w, const uint8_t *h, uint64_t hlen)
{
        uint64_t conf_len = raftwire_get64(h + 32);
        uint64_t data_len;
        int rv;

        w->msg.term = raftwire_get64(h);
        w->msg.last_index = raftwire_get64(h + 8);
        w->msg.last_term = raftwire_get64(h + 16);
        w->msg.conf_index = raftwire_get64(h + 24);
        if (conf_len > w->limits.conf_bytes_max) {
                raftwire_whyf(w->why,
                              "InstallSnapshot configuration of %" PRIu64 " bytes, limit %" PRIu64,
                              conf_len, w->limits.conf_bytes_max);
                return TKV_ETOOBIG;
        }
        /* Compared by difference: the sum could wrap with huge limits. */
        if (conf_len > hlen - RAFTWIRE_IS_FIXED_BYTES ||
            (hlen - RAFTWIRE_IS_FIXED_BYTES - conf_len != 0 &&
             hlen - RAFTWIRE_IS_FIXED_BYTES - conf_len != 8)) {
                raftwire_whyf(w->why,
                              "InstallSnapshot header of %" PRIu64
                              " bytes for a configuration of %" PRIu64,
                              hlen, conf_len);
                return TKV_EPROTO;
        }
        rv = raftwire_conf_check(h + 40, conf_len, w->limits.conf_bytes_max, &w->msg.conf_servers,
                                 w->why);
        if (rv != 0) {
                return rv;
        }
        data_len = raftwire_get64(h + 40 + conf_len);
        w->msg.payload_bytes = data_len;
        if (data_len == 0) {
                raftwire_whyf(w->why, "InstallSnapshot with empty snapshot data");
                return TKV_EPROTO;
        }
        if (data_len > w->limits.payload_bytes_max) {
                raftwire_whyf(w->why, "InstallSnapshot data of %" PRIu64 " bytes, limit %" PRIu64,
                              data_len, w->limits.payload_bytes_max);
                return TKV_ETOOBIG;
        }
        return 0;
}

/* The fixed-size headers: RequestVote, its result, AppendEntries result,
 * TimeoutNow. Their lengths were checked with the preamble. */
static int raftwire_small(struct raftwire *w, uint64_t type, const uint8_t *h, uint64_t hlen)
{
        struct raftwire_msg *m = &w->msg;
        uint64_t granted;

        m->term = raftwire_get64(h);
        switch (type) {
        case RAFTWIRE_REQUEST_VOTE:
                m->candidate_id = raftwire_get64(h + 8);
                m->last_log_index = raftwire_get64(h + 16);
                m->last_log_term = raftwire_get64(h + 24);
                m->flags = hlen > 32 ? raftwire_get64(h + 32) : 0;
                break;
        case RAFTWIRE_REQUEST_VOTE_RESULT:
                granted = raftwire_get64(h + 8);
                m->vote_granted = granted != 0;
                m->flags = hlen > 16 ? raftwire_get64(h + 16) : 0;
                if (granted > 1) {
                        raftwire_whyf(w->why, "RequestVote result: vote granted %" PRIu64, granted);
                        return TKV_EPROTO;
                }
                break;
        case RAFTWIRE_APPEND_ENTRIES_RESULT:
                m->rejected = raftwire_get64(h + 8);
                m->last_log_index = raftwire_get64(h + 16);
                break;
        default: /* RAFTWIRE_TIMEOUT_NOW */
                m->last_log_index = raftwire_get64(h + 8);
                m->last_log_term = raftwire_get64(h + 16);
                break;
        }
        if ((type == RAFTWIRE_REQUEST_VOTE && (m->flags & ~(uint64_t)3) != 0) ||
            (type == RAFTWIRE_REQUEST_VOTE_RESULT && (m->flags & ~(uint64_t)1) != 0)) {
                raftwire_whyf(w->why, "type %" PRIu64 ": unknown flags 0x%" PRIx64, type, m->flags);
                return TKV_EPROTO;
        }
        return 0;
}

static void raftwire_entry_start(struct raftwire *w);

/* The header is whole: validate it, ask the policy, emit preamble and header,
 * and choose what the payload is. */
static int raftwire_header_done(struct raftwire *w)
{
        uint64_t type = raftwire_get64(w->buf);
        uint64_t hlen = w->want - RAFTWIRE_PREAMBLE_BYTES;
        const uint8_t *h = w->buf + RAFTWIRE_PREAMBLE_BYTES;
        const char *why = NULL;
        int rv;

        memset(&w->msg, 0, sizeof w->msg);
        w->msg.type = (unsigned)type;
        if (type == RAFTWIRE_APPEND_ENTRIES) {
                rv = raftwire_ae(w, h, hlen);
        } else if (type == RAFTWIRE_INSTALL_SNAPSHOT) {
                rv = raftwire_is(w, h, hlen);
        } else {
                rv = raftwire_small(w, type, h, hlen);
        }
        if (rv != 0) {
                return rv;
        }
        if (w->check != NULL && !w->check(w->arg, &w->msg, &why)) {
                raftwire_whyf(w->why, "policy: %s", why != NULL ? why : "refused");
                return TKV_EPROTO;
        }
        w->emit(w->arg, w->buf, (size_t)w->want);
        w->got = 0;
        w->want = RAFTWIRE_PREAMBLE_BYTES;
        w->entry = 0;
        if (type == RAFTWIRE_INSTALL_SNAPSHOT) {
                w->state = RAFTWIRE_SNAPSHOT;
                w->want = w->msg.payload_bytes;
        } else if (type == RAFTWIRE_APPEND_ENTRIES && w->msg.n_entries > 0) {
                w->state = RAFTWIRE_ENTRIES;
                raftwire_entry_start(w);
        }
        return 0;
}

/* ---------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------- */

/* Collect preamble and header; returns the bytes of in taken in *used. */
static int raftwire_feed_header(struct raftwire *w, const uint8_t *in, size_t n, size_t *used)
{
        uint64_t take = w->want - w->got < n ? w->want - w->got : n;
        uint64_t grown = 2 * (uint64_t)w->buf_cap < w->want ? 2 * (uint64_t)w->buf_cap : w->want;
        int rv;

        /* Grow with what arrived, not with what the preamble announced: a
         * peer must send the bytes it makes us hold. */
        rv = raftwire_reserve(&w->buf, &w->buf_cap, w->got + take > grown ? w->got + take : grown);
        if (rv != 0) {
                raftwire_whyf(w->why, "header of %" PRIu64 " bytes: out of memory", w->want);
                return rv;
        }
        memcpy(w->buf + w->got, in, (size_t)take);
        w->got += take;
        *used = (size_t)take;
        if (w->got < w->want) {
                return 0;
        }
        if (w->want == RAFTWIRE_PREAMBLE_BYTES) {
                uint64_t hlen = raftwire_get64(w->buf + 8);
                rv = raftwire_preamble(w, raftwire_get64(w->buf), hlen);
                w->want = rv == 0 ? RAFTWIRE_PREAMBLE_BYTES + hlen : w->want;
                return rv;
        }
        return raftwire_header_done(w);
}

/* Start entry w->entry of the AppendEntries in w->buf. */
static void raftwire_entry_start(struct raftwire *w)
{
        const uint8_t *e = w->buf + RAFTWIRE_PREAMBLE_BYTES + RAFTWIRE_AE_FIXED_BYTES +
                           RAFTWIRE_AE_ENTRY_BYTES * w->entry;

        w->entry_type = e[8];
        w->want = raftwire_get32(e + 12);
        w->got = 0;
}

/* One entry is whole: a held RAFT_CHANGE is checked and emitted; after the
 * last entry the next message starts. */
static int raftwire_entry_done(struct raftwire *w)
{
        uint64_t servers;
        int rv;

        if (w->entry_type == RAFTWIRE_CHANGE) {
                rv = raftwire_conf_check(w->hold, w->want, w->limits.conf_bytes_max, &servers,
                                         w->why);
                if (rv != 0) {
                        char inner[RAFTWIRE_WHY_BYTES];
                        memcpy(inner, w->why, sizeof inner);
                        raftwire_whyf(w->why, "entry %" PRIu64 ": %s", w->entry, inner);
                        return rv;
                }
                w->emit(w->arg, w->hold, (size_t)w->want);
        }
        w->entry++;
        if (w->entry == w->msg.n_entries) {
                w->state = RAFTWIRE_HEADER;
                w->want = RAFTWIRE_PREAMBLE_BYTES;
                w->got = 0;
                return 0;
        }
        raftwire_entry_start(w);
        return 0;
}

/* AppendEntries payload: commands and barriers stream through, a RAFT_CHANGE
 * is held until whole. */
static int raftwire_feed_entries(struct raftwire *w, const uint8_t *in, size_t n, size_t *used)
{
        uint64_t take;
        int rv;

        take = w->want - w->got < n ? w->want - w->got : n;
        if (w->entry_type == RAFTWIRE_CHANGE) {
                rv = raftwire_reserve(&w->hold, &w->hold_cap, w->want);
                if (rv != 0) {
                        raftwire_whyf(w->why, "entry %" PRIu64 ": out of memory", w->entry);
                        return rv;
                }
                memcpy(w->hold + w->got, in, (size_t)take);
        } else {
                w->emit(w->arg, in, (size_t)take);
        }
        w->got += take;
        *used = (size_t)take;
        return w->got == w->want ? raftwire_entry_done(w) : 0;
}

/* InstallSnapshot data streams through. */
static int raftwire_feed_snapshot(struct raftwire *w, const uint8_t *in, size_t n, size_t *used)
{
        uint64_t take = w->want - w->got < n ? w->want - w->got : n;

        w->emit(w->arg, in, (size_t)take);
        w->got += take;
        *used = (size_t)take;
        if (w->got == w->want) {
                w->state = RAFTWIRE_HEADER;
                w->want = RAFTWIRE_PREAMBLE_BYTES;
                w->got = 0;
        }
        return 0;
}

void raftwire_init(struct raftwire *w, const struct raftwire_limits *limits,
                   raftwire_check_fn check, raftwire_emit_fn emit, void *arg)
{
        memset(w, 0, sizeof *w);
        w->limits = *limits;
        w->check = check;
        w->emit = emit;
        w->arg = arg;
        w->state = RAFTWIRE_HEADER;
        w->want = RAFTWIRE_PREAMBLE_BYTES;
}

int raftwire_feed(struct raftwire *w, const uint8_t *in, size_t n)
{
        while (w->state != RAFTWIRE_DEAD && n > 0) {
                size_t used = 0;
                int rv;

                if (w->state == RAFTWIRE_HEADER) {
                        rv = raftwire_feed_header(w, in, n, &used);
                } else if (w->state == RAFTWIRE_ENTRIES) {
                        rv = raftwire_feed_entries(w, in, n, &used);
                } else {
                        rv = raftwire_feed_snapshot(w, in, n, &used);
                }
                if (rv != 0) {
                        return raftwire_die(w, rv);
                }
                in += used;
                n -= used;
        }
        return w->state == RAFTWIRE_DEAD ? w->err : 0;
}

bool raftwire_idle(const struct raftwire *w)
{
        return w->state == RAFTWIRE_HEADER && w->got == 0;
}

void raftwire_close(struct raftwire *w)
{
        tkv_free(w->buf);
        tkv_free(w->hold);
        w->buf = NULL;
        w->hold = NULL;
        w->buf_cap = 0;
        w->hold_cap = 0;
}
