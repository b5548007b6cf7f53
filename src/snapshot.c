#include "snapshot.h"

#include <string.h>
#include <xxhash.h>

#include "buffer.h"
#include "err.h"
#include "value.h"

static const uint8_t snapshot_magic[8] = {'T', 'K', 'V', 'S', 'N', 'A', 'P', '1'};

size_t snapshot_encoded_bytes(const struct store_frozen *f, const struct snapshot_tables *t)
{
        size_t n = SNAPSHOT_HEADER_BYTES + 8 + t->sessions_len + 8 + t->leases_len + 8;
        for (size_t i = 0; i < f->n; i++) {
                struct store_fields e;
                store_entry_fields(f->entries[i], &e);
                n += SNAPSHOT_ENTRY_HEADER_BYTES + 8 + (size_t)e.key_len + e.value_len + e.deps_len;
        }
        return n;
}

/* An 8-byte length and len bytes at p; returns what follows. */
static uint8_t *snapshot_put_section(uint8_t *p, const uint8_t *data, size_t len)
{
        put_le64(p, len);
        if (len > 0) {
                memcpy(p + 8, data, len);
        }
        return p + 8 + len;
}

void snapshot_encode(const struct store_frozen *f, const struct snapshot_meta *m,
                     const struct snapshot_tables *t, uint8_t *out)
{
        uint8_t *p = out;

        memset(p, 0, SNAPSHOT_HEADER_BYTES);
        memcpy(p, snapshot_magic, sizeof snapshot_magic);
        put_le32(p + 8, SNAPSHOT_VERSION);
        put_le64(p + 16, m->partition);
        put_le64(p + 24, m->applied_index);
        put_le64(p + 32, f->n);
        put_le64(p + 40, m->last_ts);
        p += SNAPSHOT_HEADER_BYTES;

        for (size_t i = 0; i < f->n; i++) {
                struct store_fields e;
                store_entry_fields(f->entries[i], &e);
                put_le32(p, e.key_len);
                put_le32(p + 4, e.value_len);
                put_le32(p + 8, e.value_raw_len);
                put_le32(p + 12, e.deps_len);
                put_le64(p + 16, e.create_index);
                put_le64(p + 24, e.mod_index);
                put_le64(p + 32, e.ts);
                p += SNAPSHOT_ENTRY_HEADER_BYTES + 8;
                memcpy(p, e.key, e.key_len);
                p += e.key_len;
                memcpy(p, e.value, e.value_len);
                p += e.value_len;
                memcpy(p, e.deps, e.deps_len);
                p += e.deps_len;
        }
        p = snapshot_put_section(p, t->sessions, t->sessions_len);
        p = snapshot_put_section(p, t->leases, t->leases_len);
        put_le64(p, XXH64(out, (size_t)(p - out), 0));
}

static int snapshot_decode_entry(struct cursor *c, uint32_t version, struct store *s)
{
        uint32_t key_len, value_len, raw_len, deps_len;
        uint64_t create_index, mod_index, ts = 0;
        const uint8_t *key, *value, *deps;
        struct store_value v;
        int rv;

        if ((rv = cursor_u32(c, &key_len)) != 0 || (rv = cursor_u32(c, &value_len)) != 0 ||
            (rv = cursor_u32(c, &raw_len)) != 0 || (rv = cursor_u32(c, &deps_len)) != 0 ||
            (rv = cursor_u64(c, &create_index)) != 0 || (rv = cursor_u64(c, &mod_index)) != 0 ||
            (version >= 2 && (rv = cursor_u64(c, &ts)) != 0) ||
            (rv = cursor_bytes(c, key_len, &key)) != 0 ||
            (rv = cursor_bytes(c, value_len, &value)) != 0 ||
            (rv = cursor_bytes(c, deps_len, &deps)) != 0) {
                return rv;
        }
        /* The raw length bounds what a read allocates: it must be one LZ4
         * can produce from value_len bytes (value.h). */
        if (raw_len < value_len || raw_len > (uint64_t)value_len * VALUE_LZ4_EXPANSION_MAX ||
            create_index > mod_index || deps_len > UINT16_MAX) {
                return TKV_ECORRUPT;
        }
        v.data = value;
        v.len = value_len;
        v.raw_len = raw_len;
        v.deps = deps;
        v.deps_len = (uint16_t)deps_len;
        v.ts = ts;
        return store_load(s, key, key_len, &v, create_index, mod_index);
}

/* Version 3's lease section at c into l. */
static int snapshot_decode_leases(struct cursor *c, struct lease_table *l, uint64_t now_ms)
{
        struct cursor lc;
        uint64_t len;
        const uint8_t *bytes;
        int rv;

        if ((rv = cursor_u64(c, &len)) != 0 || (rv = cursor_bytes(c, len, &bytes)) != 0) {
                return rv;
        }
        cursor_init(&lc, bytes, len);
        rv = lease_table_decode(l, &lc, now_ms);
        return rv == 0 && lc.left != 0 ? TKV_ECORRUPT : rv;
}

int snapshot_decode(const uint8_t *data, size_t len, struct store *s, struct dedup *d,
                    struct lease_table *l, uint64_t now_ms, struct snapshot_meta *m)
{
        struct cursor c, sc;
        uint64_t count, partition, sessions_len;
        uint32_t version;
        const uint8_t *sessions;
        int rv;

        if (len < SNAPSHOT_HEADER_BYTES + 8 || memcmp(data, snapshot_magic, 8) != 0) {
                return TKV_ECORRUPT;
        }
        if (get_le64(data + len - 8) != XXH64(data, len - 8, 0)) {
                return TKV_ECORRUPT;
        }
        version = get_le32(data + 8);
        if (version < 1 || version > SNAPSHOT_VERSION) {
                return TKV_EINVAL;
        }
        partition = get_le64(data + 16);
        if (partition > UINT32_MAX) {
                return TKV_ECORRUPT;
        }
        m->partition = (uint32_t)partition;
        m->applied_index = get_le64(data + 24);
        count = get_le64(data + 32);
        m->last_ts = version >= 2 ? get_le64(data + 40) : 0;

        cursor_init(&c, data + SNAPSHOT_HEADER_BYTES, len - SNAPSHOT_HEADER_BYTES - 8);
        /* Every entry takes more than 16 bytes: a count beyond that is
         * corrupt, and is caught below, not allocated for. */
        store_reserve(s, count < len / 16 ? count : len / 16);
        for (uint64_t i = 0; i < count; i++) {
                rv = snapshot_decode_entry(&c, version, s);
                if (rv != 0) {
                        return rv;
                }
        }
        if ((rv = cursor_u64(&c, &sessions_len)) != 0 ||
            (rv = cursor_bytes(&c, sessions_len, &sessions)) != 0) {
                return rv;
        }
        cursor_init(&sc, sessions, sessions_len);
        rv = dedup_decode(d, &sc);
        if (rv == 0 && version >= 3) {
                rv = snapshot_decode_leases(&c, l, now_ms);
        }
        if (rv != 0) {
                return rv;
        }
        return c.left == 0 && sc.left == 0 ? 0 : TKV_ECORRUPT;
}
