#include "command.h"

#include <string.h>

#include "buffer.h"
#include "err.h"
#include "keyhash.h"
#include "value.h"
#include "varint.h"

/* The optional fields c needs (COMMAND_HAS_*). */
static unsigned command_fields(const struct command *c)
{
        unsigned fields = 0;
        if (c->flags & COMMAND_F_LZ4) {
                fields |= COMMAND_HAS_RAW;
        }
        if (c->type == COMMAND_CAS) {
                fields |= COMMAND_HAS_EXPECTED;
        }
        if (c->client_id != 0) {
                fields |= COMMAND_HAS_CLIENT;
        }
        if ((c->type == COMMAND_PUT || c->type == COMMAND_CAS) && c->lease != 0) {
                fields |= COMMAND_HAS_LEASE;
        }
        return fields;
}

size_t command_header_bytes(const struct command *c)
{
        unsigned fields = command_fields(c);
        size_t n = COMMAND_V3_FIXED_BYTES + varint_bytes(c->key_len) + varint_bytes(c->value_len) +
                   varint_bytes(c->deps_len);
        if (fields & COMMAND_HAS_RAW) {
                n += varint_bytes(c->value_raw_len);
        }
        if (fields & COMMAND_HAS_EXPECTED) {
                n += varint_bytes(c->expected_version);
        }
        if (fields & COMMAND_HAS_LEASE) {
                n += varint_bytes(c->lease);
        }
        if (fields & COMMAND_HAS_CLIENT) {
                n += 8 + varint_bytes(c->seq) + 8;
        }
        return n;
}

static size_t command_payload_bytes(const struct command *c)
{
        return command_header_bytes(c) + (size_t)c->key_len + (size_t)c->value_len +
               (size_t)c->deps_len;
}

size_t command_encoded_bytes(const struct command *c)
{
        return (command_payload_bytes(c) + 7) & ~(size_t)7;
}

void command_encode(const struct command *c, uint8_t *out)
{
        unsigned fields = command_fields(c);
        uint8_t *p = out;
        size_t total = command_encoded_bytes(c);

        p[0] = COMMAND_VERSION;
        p[1] = c->type;
        p[2] = (uint8_t)c->flags; /* COMMAND_F_ALL fits in 8 bits */
        p[3] = (uint8_t)fields;
        put_le64(p + 4, c->proposal_id);
        put_le64(p + COMMAND_TS_OFFSET, c->ts);
        p += COMMAND_V3_FIXED_BYTES;
        p = varint_put(p, c->key_len);
        p = varint_put(p, c->value_len);
        if (fields & COMMAND_HAS_RAW) {
                p = varint_put(p, c->value_raw_len);
        }
        p = varint_put(p, c->deps_len);
        if (fields & COMMAND_HAS_EXPECTED) {
                p = varint_put(p, c->expected_version);
        }
        if (fields & COMMAND_HAS_LEASE) {
                p = varint_put(p, c->lease);
        }
        if (fields & COMMAND_HAS_CLIENT) {
                put_le64(p, c->client_id);
                p = varint_put(p + 8, c->seq);
                put_le64(p, c->payload_hash);
                p += 8;
        }
        if (c->key_len > 0) { /* CLOSE and TXN have no key of their own (NULL) */
                memcpy(p, c->key, c->key_len);
                p += c->key_len;
        }
        if (c->value_len > 0) {
                memcpy(p, c->value, c->value_len);
                p += c->value_len;
        }
        if (c->deps_len > 0) {
                memcpy(p, c->deps, c->deps_len);
                p += c->deps_len;
        }
        memset(p, 0, total - (size_t)(p - out));
}

uint64_t command_payload_hash(const struct command *c)
{
        XXH64_state_t st;
        uint8_t head[20];

        /* Little-endian fields: the same bytes on every replica. */
        memset(head, 0, sizeof head);
        head[0] = c->type;
        put_le64(head + 8, c->expected_version);
        put_le32(head + 16, c->key_len);
        XXH64_reset(&st, 0);
        XXH64_update(&st, head, sizeof head);
        XXH64_update(&st, c->key, c->key_len);
        if (c->value_len > 0) {
                XXH64_update(&st, c->value, c->value_len);
        }
        if (c->lease != 0) {
                /* Only then: hashes of writes without a lease stay as they were. */
                uint8_t lease[8];
                put_le64(lease, c->lease);
                XXH64_update(&st, lease, sizeof lease);
        }
        return XXH64_digest(&st);
}

/* The header of version 1 (command.h) into c; *body: where the key starts.
 * Returns 0, TKV_ECORRUPT or TKV_EINVAL. */
static int command_decode_v1(const uint8_t *p, size_t len, struct command *c, size_t *body)
{
        uint32_t payload;

        if (len < COMMAND_V1_HEADER_BYTES) {
                return TKV_ECORRUPT;
        }
        c->type = p[1];
        c->flags = (uint16_t)(p[2] | p[3] << 8);
        payload = get_le32(p + 4);
        c->proposal_id = get_le64(p + 8);
        c->key_len = get_le32(p + 16);
        c->value_len = get_le32(p + 20);
        c->value_raw_len = get_le32(p + 24);
        c->deps_len = get_le32(p + 28);
        c->expected_version = get_le64(p + 32);
        c->client_id = get_le64(p + 40);
        c->seq = get_le64(p + 48);
        c->payload_hash = get_le64(p + 56);
        /* 64-bit sums: key_len and value_len are untrusted 32-bit values. */
        if ((uint64_t)payload !=
            (uint64_t)COMMAND_V1_HEADER_BYTES + c->key_len + c->value_len + c->deps_len) {
                return TKV_ECORRUPT;
        }
        *body = COMMAND_V1_HEADER_BYTES;
        return 0;
}

/* The header of version 2 or 3 (command.h) into c; *body: where the key
 * starts. Version 3 is version 2 with the timestamp after the proposal id. */
static int command_decode_v2(const uint8_t *p, size_t len, struct command *c, size_t *body)
{
        size_t fixed = p[0] >= 3 ? COMMAND_V3_FIXED_BYTES : COMMAND_V2_FIXED_BYTES;
        const uint8_t *q = p + fixed, *end = p + len;
        unsigned fields;
        uint64_t v;

        if (len < fixed) {
                return TKV_ECORRUPT;
        }
        c->type = p[1];
        c->flags = p[2];
        fields = p[3];
        c->proposal_id = get_le64(p + 4);
        c->ts = fixed == COMMAND_V3_FIXED_BYTES ? get_le64(p + COMMAND_TS_OFFSET) : 0;
        if (fields & ~(unsigned)(COMMAND_HAS_RAW | COMMAND_HAS_EXPECTED | COMMAND_HAS_CLIENT |
                                 COMMAND_HAS_LEASE)) {
                return TKV_EINVAL;
        }
        if (!varint_get(&q, end, 32, &v)) {
                return TKV_ECORRUPT;
        }
        c->key_len = (uint32_t)v;
        if (!varint_get(&q, end, 32, &v)) {
                return TKV_ECORRUPT;
        }
        c->value_len = c->value_raw_len = (uint32_t)v;
        if ((fields & COMMAND_HAS_RAW) != 0) {
                if (!varint_get(&q, end, 32, &v)) {
                        return TKV_ECORRUPT;
                }
                c->value_raw_len = (uint32_t)v;
        }
        if (!varint_get(&q, end, 32, &v)) {
                return TKV_ECORRUPT;
        }
        c->deps_len = (uint32_t)v;
        if ((fields & COMMAND_HAS_EXPECTED) != 0 &&
            !varint_get(&q, end, 64, &c->expected_version)) {
                return TKV_ECORRUPT;
        }
        if ((fields & COMMAND_HAS_LEASE) != 0 &&
            (!varint_get(&q, end, 64, &c->lease) || c->lease == 0)) {
                return TKV_ECORRUPT;
        }
        if ((fields & COMMAND_HAS_CLIENT) != 0) {
                if (end - q < 8) {
                        return TKV_ECORRUPT;
                }
                c->client_id = get_le64(q);
                q += 8;
                if (!varint_get(&q, end, 64, &c->seq) || end - q < 8) {
                        return TKV_ECORRUPT;
                }
                c->payload_hash = get_le64(q);
                q += 8;
        }
        /* One encoding per command: each optional field is there exactly
         * when its condition holds. */
        if (fields != command_fields(c)) {
                return TKV_ECORRUPT;
        }
        *body = (size_t)(q - p);
        return 0;
}

/* A decoded TXN's own rules: no key of its own, an uncompressed body that
 * opens (command_txn_open). */
static int command_decode_txn(const struct command *c)
{
        struct command_txn t;

        if (c->key_len != 0 || (c->flags & COMMAND_F_LZ4) != 0 || c->value_len == 0) {
                return TKV_ECORRUPT;
        }
        return command_txn_open(c->value, c->value_len, &t);
}

/* A decoded lease command's own rules: no key, no dependencies, an
 * uncompressed body that parses. */
static int command_decode_lease(const struct command *c)
{
        struct command_lease l;

        if (c->key_len != 0 || c->deps_len != 0 || (c->flags & COMMAND_F_LZ4) != 0) {
                return TKV_ECORRUPT;
        }
        return command_lease_open(c->value, c->value_len, &l);
}

int command_decode(const void *data, size_t len, struct command *c)
{
        const uint8_t *p = data;
        size_t body = 0;
        uint64_t payload;
        int rv;

        if (len < 8 || len % 8 != 0) {
                return TKV_ECORRUPT;
        }
        memset(c, 0, sizeof *c);
        switch (p[0]) {
        case 1:
                rv = command_decode_v1(p, len, c, &body);
                break;
        case 2:
        case 3:
                rv = command_decode_v2(p, len, c, &body);
                break;
        default:
                return TKV_EINVAL;
        }
        if (rv != 0) {
                return rv;
        }
        if (c->type < COMMAND_PUT || c->type > COMMAND_TYPE_MAX ||
            (c->type == COMMAND_TXN && p[0] < 2) || (c->type >= COMMAND_CLOSE && p[0] < 3)) {
                return TKV_EINVAL;
        }
        if ((c->flags & ~COMMAND_F_ALL) != 0) {
                return TKV_EINVAL;
        }
        /* 64-bit sums: the lengths are untrusted 32-bit values. */
        payload = (uint64_t)body + c->key_len + c->value_len + c->deps_len;
        if (c->deps_len > UINT16_MAX || payload > len || len - payload >= 8) {
                return TKV_ECORRUPT;
        }
        if (c->type == COMMAND_DELETE && c->value_len != 0) {
                return TKV_ECORRUPT;
        }
        if (c->type == COMMAND_CLOSE &&
            (c->key_len != 0 || c->value_len != 0 || c->deps_len != 0 || c->client_id != 0)) {
                return TKV_ECORRUPT;
        }
        /* A compressed value is always smaller than its raw form (value.h),
         * so the store can tell compressed values by their lengths alone;
         * and LZ4 cannot expand it more than VALUE_LZ4_EXPANSION_MAX times,
         * so a larger raw length would only make reads allocate for it. */
        if ((c->flags & COMMAND_F_LZ4)
                ? c->value_len >= c->value_raw_len ||
                      c->value_raw_len > (uint64_t)c->value_len * VALUE_LZ4_EXPANSION_MAX
                : c->value_raw_len != c->value_len) {
                return TKV_ECORRUPT;
        }
        c->key = p + body;
        c->value = c->value_len > 0 ? c->key + c->key_len : NULL;
        c->deps = c->deps_len > 0 ? c->key + c->key_len + c->value_len : NULL;
        if (c->type >= COMMAND_LEASE_GRANT) {
                return command_decode_lease(c);
        }
        return c->type == COMMAND_TXN ? command_decode_txn(c) : 0;
}

/* ------------------------------------------------------------------------ */
/* Lease bodies (layout in command.h) */

size_t command_lease_body_encode(const struct command_lease *l, uint8_t *out)
{
        uint8_t *p = out;

        *p++ = COMMAND_LEASE_BODY_VERSION;
        p = varint_put(p, l->id);
        p = varint_put(p, l->ttl_ms);
        p = varint_put(p, l->leases_max);
        p = varint_put(p, l->keys_max);
        return (size_t)(p - out);
}

int command_lease_open(const uint8_t *body, size_t len, struct command_lease *l)
{
        const uint8_t *q = body, *end;

        memset(l, 0, sizeof *l);
        if (body == NULL || len < 1) {
                return TKV_ECORRUPT; /* an empty value is NULL: no offset from it */
        }
        end = body + len;
        if (*q++ != COMMAND_LEASE_BODY_VERSION) {
                return TKV_EINVAL;
        }
        if (!varint_get(&q, end, 64, &l->id) || !varint_get(&q, end, 64, &l->ttl_ms) ||
            !varint_get(&q, end, 32, &l->leases_max) || !varint_get(&q, end, 32, &l->keys_max) ||
            q != end) {
                return TKV_ECORRUPT;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* TXN bodies (layout in command.h) */

static size_t command_txn_compare_bytes(const struct command_txn_compare *x)
{
        size_t n = 2 + varint_bytes(x->key_len) + x->key_len;
        if (x->target == COMMAND_TXN_TARGET_VALUE) {
                return n + varint_bytes(x->value_len) + x->value_len;
        }
        return n + varint_bytes(x->number);
}

static size_t command_txn_op_bytes(const struct command_txn_op *o)
{
        size_t n = 1 + varint_bytes(o->key_len) + o->key_len;
        if (o->type == COMMAND_TXN_PUT) {
                n += varint_bytes(o->value_len) + o->value_len;
        }
        if (o->type == COMMAND_TXN_PUT && o->lease != 0) {
                n += varint_bytes(o->lease);
        }
        return n;
}

size_t command_txn_body_bytes(const struct command_txn_compare *compares, uint32_t n_compares,
                              const struct command_txn_op *ops, uint32_t n_success,
                              uint32_t n_failure)
{
        size_t n = 1 + varint_bytes(n_compares) + varint_bytes(n_success) + varint_bytes(n_failure);
        for (uint32_t i = 0; i < n_compares; i++) {
                n += command_txn_compare_bytes(&compares[i]);
        }
        for (uint32_t i = 0; i < n_success + n_failure; i++) {
                n += command_txn_op_bytes(&ops[i]);
        }
        return n;
}

static uint8_t *command_txn_put_bytes(uint8_t *p, const uint8_t *data, uint32_t len)
{
        p = varint_put(p, len);
        if (len > 0) {
                memcpy(p, data, len);
        }
        return p + len;
}

void command_txn_body_encode(const struct command_txn_compare *compares, uint32_t n_compares,
                             const struct command_txn_op *ops, uint32_t n_success,
                             uint32_t n_failure, uint8_t *out)
{
        uint8_t *p = out;

        *p++ = COMMAND_TXN_BODY_VERSION;
        p = varint_put(p, n_compares);
        p = varint_put(p, n_success);
        p = varint_put(p, n_failure);
        for (uint32_t i = 0; i < n_compares; i++) {
                const struct command_txn_compare *x = &compares[i];
                *p++ = x->target;
                *p++ = x->op;
                p = command_txn_put_bytes(p, x->key, x->key_len);
                if (x->target == COMMAND_TXN_TARGET_VALUE) {
                        p = command_txn_put_bytes(p, x->value, x->value_len);
                } else {
                        p = varint_put(p, x->number);
                }
        }
        for (uint32_t i = 0; i < n_success + n_failure; i++) {
                const struct command_txn_op *o = &ops[i];
                bool leased = o->type == COMMAND_TXN_PUT && o->lease != 0;
                *p++ = leased ? (uint8_t)COMMAND_TXN_PUT_LEASE : o->type;
                p = command_txn_put_bytes(p, o->key, o->key_len);
                if (o->type == COMMAND_TXN_PUT) {
                        p = command_txn_put_bytes(p, o->value, o->value_len);
                }
                if (leased) {
                        p = varint_put(p, o->lease);
                }
        }
}

/* Skip a varint length, at least min, and that many bytes at *q, within
 * end. */
static bool command_txn_skip_bytes(const uint8_t **q, const uint8_t *end, uint64_t min)
{
        uint64_t len;
        if (!varint_get(q, end, 32, &len) || len < min || (uint64_t)(end - *q) < len) {
                return false;
        }
        *q += len;
        return true;
}

/* Check one compare at *q. 0, TKV_ECORRUPT or TKV_EINVAL. */
static int command_txn_check_compare(const uint8_t **q, const uint8_t *end)
{
        uint8_t target, op;
        uint64_t v;

        if (end - *q < 2) {
                return TKV_ECORRUPT;
        }
        target = (*q)[0];
        op = (*q)[1];
        *q += 2;
        if (target < COMMAND_TXN_TARGET_VERSION || target > COMMAND_TXN_TARGET_EXISTS ||
            op < COMMAND_TXN_EQ || op > COMMAND_TXN_GT) {
                return TKV_EINVAL;
        }
        /* No key is empty: the server refuses them before proposing. */
        if (!command_txn_skip_bytes(q, end, 1)) {
                return TKV_ECORRUPT;
        }
        if (target == COMMAND_TXN_TARGET_VALUE) {
                return command_txn_skip_bytes(q, end, 0) ? 0 : TKV_ECORRUPT;
        }
        if (!varint_get(q, end, 64, &v)) {
                return TKV_ECORRUPT;
        }
        return target == COMMAND_TXN_TARGET_EXISTS && v > 1 ? TKV_ECORRUPT : 0;
}

/* Check one op at *q. 0, TKV_ECORRUPT or TKV_EINVAL. */
static int command_txn_check_op(const uint8_t **q, const uint8_t *end)
{
        uint8_t type;

        if (end - *q < 1) {
                return TKV_ECORRUPT;
        }
        uint64_t lease;

        type = *(*q)++;
        if (type < COMMAND_TXN_PUT || type > COMMAND_TXN_PUT_LEASE) {
                return TKV_EINVAL;
        }
        if (!command_txn_skip_bytes(q, end, 1)) {
                return TKV_ECORRUPT;
        }
        if ((type == COMMAND_TXN_PUT || type == COMMAND_TXN_PUT_LEASE) &&
            !command_txn_skip_bytes(q, end, 0)) {
                return TKV_ECORRUPT;
        }
        /* A lease of 0 would be a second encoding of a plain PUT. */
        if (type == COMMAND_TXN_PUT_LEASE && (!varint_get(q, end, 64, &lease) || lease == 0)) {
                return TKV_ECORRUPT;
        }
        return 0;
}

int command_txn_open(const uint8_t *body, size_t len, struct command_txn *t)
{
        const uint8_t *q = body, *end;
        uint64_t n[3];
        int rv = 0;

        if (body == NULL || len < 1) {
                return TKV_ECORRUPT; /* an empty value is NULL: no offset from it */
        }
        end = body + len;
        if (*q++ != COMMAND_TXN_BODY_VERSION) {
                return TKV_EINVAL;
        }
        for (unsigned i = 0; i < 3; i++) {
                /* Each item takes at least 2 bytes: counts beyond len are lies. */
                if (!varint_get(&q, end, 32, &n[i]) || n[i] > len) {
                        return TKV_ECORRUPT;
                }
        }
        t->n_compares = (uint32_t)n[0];
        t->n_success = (uint32_t)n[1];
        t->n_failure = (uint32_t)n[2];
        t->compares = q;
        t->end = end;
        for (uint64_t i = 0; rv == 0 && i < n[0]; i++) {
                rv = command_txn_check_compare(&q, end);
        }
        for (uint64_t i = 0; rv == 0 && i < n[1] + n[2]; i++) {
                rv = command_txn_check_op(&q, end);
        }
        if (rv == 0 && q != end) {
                rv = TKV_ECORRUPT;
        }
        return rv;
}

static const uint8_t *command_txn_get_bytes(const uint8_t *p, const uint8_t **data, uint32_t *len)
{
        uint64_t v;
        p = varint_get_trusted(p, &v);
        *len = (uint32_t)v;
        *data = v > 0 ? p : NULL;
        return p + v;
}

void command_txn_next_compare(const uint8_t **pos, struct command_txn_compare *out)
{
        const uint8_t *p = *pos;

        memset(out, 0, sizeof *out);
        out->target = p[0];
        out->op = p[1];
        p = command_txn_get_bytes(p + 2, &out->key, &out->key_len);
        if (out->target == COMMAND_TXN_TARGET_VALUE) {
                p = command_txn_get_bytes(p, &out->value, &out->value_len);
        } else {
                p = varint_get_trusted(p, &out->number);
        }
        *pos = p;
}

void command_txn_next_op(const uint8_t **pos, struct command_txn_op *out)
{
        const uint8_t *p = *pos;

        memset(out, 0, sizeof *out);
        out->type = p[0] == COMMAND_TXN_PUT_LEASE ? (uint8_t)COMMAND_TXN_PUT : p[0];
        p = command_txn_get_bytes(p + 1, &out->key, &out->key_len);
        if (out->type == COMMAND_TXN_PUT) {
                p = command_txn_get_bytes(p, &out->value, &out->value_len);
        }
        if ((*pos)[0] == COMMAND_TXN_PUT_LEASE) {
                p = varint_get_trusted(p, &out->lease);
        }
        *pos = p;
}
