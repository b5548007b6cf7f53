#include "lease.h"

#include <string.h>

#include "err.h"
#include "heap.h"
#include "siphash.h"

/* One attached key: in its lease's keys array (at slot) and in a bucket
 * chain of the table. */
struct lease_key {
        struct lease_key *next; /* bucket chain */
        uint64_t lease_id;
        uint32_t slot; /* index in the lease's keys */
        uint32_t len;
        uint8_t key[]; /* len bytes */
};

struct lease_table {
        struct lease *leases; /* owned, sorted by id */
        uint32_t n;
        uint32_t cap;
        struct lease_key **buckets; /* owned: n_buckets chains */
        uint32_t n_buckets;         /* a power of two */
        uint64_t n_attached;
        uint64_t next_ms;            /* lease_next_ms */
        struct siphash_key hash_key; /* random: clients cannot aim at one bucket */
};

#define LEASE_BUCKETS_MIN 16

int lease_table_create(struct lease_table **out)
{
        struct lease_table *t = tkv_calloc(1, sizeof *t);

        *out = NULL;
        if (t == NULL) {
                return TKV_ENOMEM;
        }
        t->buckets = tkv_calloc(LEASE_BUCKETS_MIN, sizeof *t->buckets);
        if (t->buckets == NULL) {
                tkv_free(t);
                return TKV_ENOMEM;
        }
        t->n_buckets = LEASE_BUCKETS_MIN;
        t->next_ms = UINT64_MAX;
        siphash_key_random(&t->hash_key);
        *out = t;
        return 0;
}

static void lease_free_keys(struct lease *l)
{
        for (uint32_t i = 0; i < l->n_keys; i++) {
                tkv_free(l->keys[i]);
        }
        tkv_free(l->keys);
        l->keys = NULL;
        l->n_keys = l->keys_cap = 0;
}

void lease_table_destroy(struct lease_table *t)
{
        if (t == NULL) {
                return;
        }
        for (uint32_t i = 0; i < t->n; i++) {
                lease_free_keys(&t->leases[i]);
        }
        tkv_free(t->leases);
        tkv_free(t->buckets);
        tkv_free(t);
}

uint32_t lease_count(const struct lease_table *t)
{
        return t->n;
}

uint64_t lease_keys_attached(const struct lease_table *t)
{
        return t->n_attached;
}

struct lease *lease_at(struct lease_table *t, uint32_t i)
{
        return &t->leases[i];
}

/* The position of id in t->leases, or where it would go. */
static uint32_t lease_position(const struct lease_table *t, uint64_t id)
{
        uint32_t lo = 0, hi = t->n;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (t->leases[mid].id < id) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return lo;
}

struct lease *lease_find(struct lease_table *t, uint64_t id)
{
        uint32_t i = lease_position(t, id);
        return i < t->n && t->leases[i].id == id ? &t->leases[i] : NULL;
}

const uint8_t *lease_key_bytes(const struct lease *l, uint32_t i, uint32_t *len)
{
        *len = l->keys[i]->len;
        return l->keys[i]->key;
}

static struct lease_key **lease_bucket(const struct lease_table *t, const uint8_t *key,
                                       uint32_t len)
{
        return &t->buckets[siphash13(&t->hash_key, key, len) & (t->n_buckets - 1)];
}

/* The link pointing at key's entry, or at the NULL ending its chain. */
static struct lease_key **lease_link(const struct lease_table *t, const uint8_t *key, uint32_t len)
{
        struct lease_key **pp = lease_bucket(t, key, len);
        while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->key, key, len) != 0)) {
                pp = &(*pp)->next;
        }
        return pp;
}

uint64_t lease_of_key(const struct lease_table *t, const uint8_t *key, uint32_t len)
{
        struct lease_key *k = *lease_link(t, key, len);
        return k != NULL ? k->lease_id : 0;
}

int lease_grant(struct lease_table *t, uint64_t id, uint64_t ttl_ms, uint32_t keys_max,
                uint64_t now_ms)
{
        struct lease *l;

        if (t->n == t->cap) {
                uint32_t cap = t->cap == 0 ? 8 : t->cap * 2;
                struct lease *p = tkv_realloc(t->leases, (size_t)cap * sizeof *p);
                if (p == NULL) {
                        return TKV_ENOMEM;
                }
                t->leases = p;
                t->cap = cap;
        }
        l = &t->leases[t->n++];
        memset(l, 0, sizeof *l);
        l->id = id;
        l->ttl_ms = ttl_ms;
        l->keys_max = keys_max;
        l->deadline_ms = now_ms + ttl_ms;
        if (l->deadline_ms < t->next_ms) {
                t->next_ms = l->deadline_ms;
        }
        return 0;
}

/* Double the buckets once keys outnumber them; a failed allocation keeps
 * the table as it is (only slower). */
static void lease_maybe_grow(struct lease_table *t)
{
        uint32_t n = t->n_buckets * 2;
        struct lease_key **b;

        if (t->n_attached < t->n_buckets || n == 0) {
                return;
        }
        b = tkv_calloc(n, sizeof *b);
        if (b == NULL) {
                return;
        }
        for (uint32_t i = 0; i < t->n_buckets; i++) {
                struct lease_key *k = t->buckets[i];
                while (k != NULL) {
                        struct lease_key *next = k->next;
                        uint64_t h = siphash13(&t->hash_key, k->key, k->len) & (n - 1);
                        k->next = b[h];
                        b[h] = k;
                        k = next;
                }
        }
        tkv_free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
}

/* Room for one more key in l. TKV_ENOMEM. */
static int lease_reserve_slot(struct lease *l)
{
        uint32_t cap;
        struct lease_key **p;

        if (l->n_keys < l->keys_cap) {
                return 0;
        }
        cap = l->keys_cap == 0 ? 4 : l->keys_cap * 2;
        p = tkv_realloc(l->keys, (size_t)cap * sizeof *p);
        if (p == NULL) {
                return TKV_ENOMEM;
        }
        l->keys = p;
        l->keys_cap = cap;
        return 0;
}

int lease_attach(struct lease_table *t, uint64_t id, const uint8_t *key, uint32_t len)
{
        struct lease *l = lease_find(t, id);
        struct lease_key *k;

        if (l == NULL) {
                return TKV_ENOTFOUND;
        }
        if (lease_of_key(t, key, len) == id) {
                return 0; /* attached already */
        }
        if (l->n_keys >= l->keys_max) {
                return TKV_EBUSY;
        }
        if (lease_reserve_slot(l) != 0 || (k = tkv_malloc(sizeof *k + len)) == NULL) {
                return TKV_ENOMEM;
        }
        lease_detach(t, key, len);
        k->lease_id = id;
        k->len = len;
        memcpy(k->key, key, len);
        k->slot = l->n_keys;
        l->keys[l->n_keys++] = k;
        k->next = *lease_bucket(t, key, len);
        *lease_bucket(t, key, len) = k;
        t->n_attached++;
        lease_maybe_grow(t);
        return 0;
}

void lease_detach(struct lease_table *t, const uint8_t *key, uint32_t len)
{
        struct lease_key **pp = lease_link(t, key, len);
        struct lease_key *k = *pp;
        struct lease *l;

        if (k == NULL) {
                return;
        }
        *pp = k->next;
        l = lease_find(t, k->lease_id);
        if (l != NULL) { /* always: a key's lease outlives it */
                l->keys[k->slot] = l->keys[--l->n_keys];
                l->keys[k->slot]->slot = k->slot;
        }
        t->n_attached--;
        tkv_free(k);
}

void lease_remove(struct lease_table *t, uint64_t id)
{
        uint32_t i = lease_position(t, id);

        if (i >= t->n || t->leases[i].id != id) {
                return;
        }
        lease_free_keys(&t->leases[i]);
        memmove(&t->leases[i], &t->leases[i + 1], (size_t)(t->n - i - 1) * sizeof *t->leases);
        t->n--;
}

void lease_restart_deadlines(struct lease_table *t, uint64_t now_ms)
{
        for (uint32_t i = 0; i < t->n; i++) {
                t->leases[i].deadline_ms = now_ms + t->leases[i].ttl_ms;
                t->leases[i].expiring = false;
        }
        t->next_ms = 0; /* the next look finds the earliest */
}

uint64_t lease_next_ms(const struct lease_table *t)
{
        return t->next_ms;
}

void lease_set_next_ms(struct lease_table *t, uint64_t next_ms)
{
        t->next_ms = next_ms;
}

size_t lease_table_encoded_bytes(const struct lease_table *t)
{
        size_t n = 4;
        for (uint32_t i = 0; i < t->n; i++) {
                const struct lease *l = &t->leases[i];
                n += 24;
                for (uint32_t j = 0; j < l->n_keys; j++) {
                        n += 4 + (size_t)l->keys[j]->len;
                }
        }
        return n;
}

void lease_table_encode(const struct lease_table *t, uint8_t *out)
{
        uint8_t *p = out;

        put_le32(p, t->n);
        p += 4;
        for (uint32_t i = 0; i < t->n; i++) {
                const struct lease *l = &t->leases[i];
                put_le64(p, l->id);
                put_le64(p + 8, l->ttl_ms);
                put_le32(p + 16, l->keys_max);
                put_le32(p + 20, l->n_keys);
                p += 24;
                for (uint32_t j = 0; j < l->n_keys; j++) {
                        put_le32(p, l->keys[j]->len);
                        memcpy(p + 4, l->keys[j]->key, l->keys[j]->len);
                        p += 4 + l->keys[j]->len;
                }
        }
}

/* One lease's keys from c into lease id. */
static int lease_decode_keys(struct lease_table *t, struct cursor *c, uint64_t id, uint32_t n)
{
        for (uint32_t j = 0; j < n; j++) {
                uint32_t len;
                const uint8_t *key;
                int rv;
                if ((rv = cursor_u32(c, &len)) != 0 || (rv = cursor_bytes(c, len, &key)) != 0) {
                        return rv;
                }
                if (lease_of_key(t, key, len) != 0) {
                        return TKV_ECORRUPT; /* a key on two leases, or twice on one */
                }
                rv = lease_attach(t, id, key, len);
                if (rv != 0) {
                        return rv == TKV_EBUSY ? TKV_ECORRUPT : rv;
                }
        }
        return 0;
}

int lease_table_decode(struct lease_table *t, struct cursor *c, uint64_t now_ms)
{
        uint32_t n, keys_max, n_keys;
        uint64_t id, ttl_ms;
        int rv;

        if ((rv = cursor_u32(c, &n)) != 0) {
                return rv;
        }
        for (uint32_t i = 0; i < n; i++) {
                if ((rv = cursor_u64(c, &id)) != 0 || (rv = cursor_u64(c, &ttl_ms)) != 0 ||
                    (rv = cursor_u32(c, &keys_max)) != 0 || (rv = cursor_u32(c, &n_keys)) != 0) {
                        return rv;
                }
                if (id == 0 || (t->n > 0 && id <= t->leases[t->n - 1].id) || n_keys > keys_max) {
                        return TKV_ECORRUPT;
                }
                if ((rv = lease_grant(t, id, ttl_ms, keys_max, now_ms)) != 0 ||
                    (rv = lease_decode_keys(t, c, id, n_keys)) != 0) {
                        return rv;
                }
        }
        return 0;
}
