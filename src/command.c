#include "command.h"

#include <string.h>

#include "buffer.h"
#include "err.h"
#include "keyhash.h"

static size_t command_payload_bytes(const struct command *c)
{
        return COMMAND_HEADER_BYTES + (size_t)c->key_len + (size_t)c->value_len +
               (size_t)c->deps_len;
}

size_t command_encoded_bytes(const struct command *c)
{
        return (command_payload_bytes(c) + 7) & ~(size_t)7;
}

void command_encode(const struct command *c, uint8_t *out)
{
        size_t payload = command_payload_bytes(c);
        size_t total = command_encoded_bytes(c);

        memset(out, 0, COMMAND_HEADER_BYTES);
        out[0] = COMMAND_VERSION;
        out[1] = c->type;
        out[2] = (uint8_t)c->flags;
        out[3] = (uint8_t)(c->flags >> 8);
        put_le32(out + 4, (uint32_t)payload);
        put_le64(out + 8, c->proposal_id);
        put_le32(out + 16, c->key_len);
        put_le32(out + 20, c->value_len);
        put_le32(out + 24, c->value_raw_len);
        put_le32(out + 28, c->deps_len);
        put_le64(out + 32, c->expected_version);
        put_le64(out + 40, c->client_id);
        put_le64(out + 48, c->seq);
        put_le64(out + 56, c->payload_hash);
        memcpy(out + COMMAND_HEADER_BYTES, c->key, c->key_len);
        if (c->value_len > 0) {
                memcpy(out + COMMAND_HEADER_BYTES + c->key_len, c->value, c->value_len);
        }
        if (c->deps_len > 0) {
                memcpy(out + COMMAND_HEADER_BYTES + c->key_len + c->value_len, c->deps,
                       c->deps_len);
        }
        memset(out + payload, 0, total - payload);
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
        return XXH64_digest(&st);
}

int command_decode(const void *data, size_t len, struct command *c)
{
        const uint8_t *p = data;
        uint32_t payload;

        if (len < COMMAND_HEADER_BYTES || len % 8 != 0) {
                return TKV_ECORRUPT;
        }
        if (p[0] != COMMAND_VERSION) {
                return TKV_EINVAL;
        }
        memset(c, 0, sizeof *c);
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

        if (c->type < COMMAND_PUT || c->type > COMMAND_CAS) {
                return TKV_EINVAL;
        }
        if ((c->flags & ~(COMMAND_F_LZ4 | COMMAND_F_RETRY | COMMAND_F_ACK_ALL)) != 0) {
                return TKV_EINVAL;
        }
        /* 64-bit sums: key_len and value_len are untrusted 32-bit values. */
        if ((uint64_t)payload !=
                (uint64_t)COMMAND_HEADER_BYTES + c->key_len + c->value_len + c->deps_len ||
            c->deps_len > UINT16_MAX || payload > len || len - payload >= 8) {
                return TKV_ECORRUPT;
        }
        if (c->type == COMMAND_DELETE && c->value_len != 0) {
                return TKV_ECORRUPT;
        }
        /* A compressed value is always smaller than its raw form (value.h),
         * so the store can tell compressed values by their lengths alone. */
        if ((c->flags & COMMAND_F_LZ4) ? c->value_len >= c->value_raw_len
                                       : c->value_raw_len != c->value_len) {
                return TKV_ECORRUPT;
        }
        c->key = p + COMMAND_HEADER_BYTES;
        c->value = c->value_len > 0 ? c->key + c->key_len : NULL;
        c->deps = c->deps_len > 0 ? c->key + c->key_len + c->value_len : NULL;
        return 0;
}
