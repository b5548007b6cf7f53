/* The TXN builder (include/tunekv.h): each compare and op is packed at once
 * as the TxnRequest field it belongs to, so a commit (and each retry of it)
 * only wraps the bytes in an envelope and the attempt's WriteOptions
 * (codec_encode_txn). The first key routes the TXN: the server checks that
 * every other key is in its partition. */
#include "client_internal.h"

#include <string.h>

#include "heap.h"

/* Fields of TxnRequest (proto/tunekv.proto). */
#define CLIENT_TXN_COMPARES 1
#define CLIENT_TXN_SUCCESS  2
#define CLIENT_TXN_FAILURE  3

struct tkv_txn *tkv_txn_new(void)
{
        struct tkv_txn *t = tkv_calloc(1, sizeof(*t));

        if (t != NULL) {
                buffer_init(&t->body);
        }
        return t;
}

void tkv_txn_free(struct tkv_txn *t)
{
        if (t == NULL) {
                return;
        }
        buffer_free(&t->body);
        tkv_free(t->first_key);
        tkv_free(t);
}

/* Append one compare (field 1) or op; the first key is kept for routing. */
static int client_txn_add(struct tkv_txn *t, unsigned field, int type, int op, const void *key,
                          size_t key_len, uint64_t number, const void *value, size_t value_len)
{
        if (t == NULL || key == NULL || key_len == 0 || key_len > CODEC_KEY_BYTES_MAX ||
            (value == NULL && value_len > 0) || value_len > CODEC_VALUE_BYTES_MAX ||
            buffer_len(&t->body) + key_len + value_len > CODEC_VALUE_BYTES_MAX) {
                return TKV_USAGE_ERROR;
        }
        if (t->first_key == NULL) {
                t->first_key = tkv_malloc(key_len);
                if (t->first_key == NULL) {
                        return TKV_NO_MEMORY;
                }
                memcpy(t->first_key, key, key_len);
                t->first_key_len = key_len;
        }
        return codec_txn_append(&t->body, field, type, op, key, key_len, number, value, value_len);
}

int tkv_txn_compare_version(struct tkv_txn *t, const void *key, size_t key_len,
                            enum tkv_compare_op op, uint64_t version)
{
        return client_txn_add(t, CLIENT_TXN_COMPARES, 0, (int)op, key, key_len, version, NULL, 0);
}

int tkv_txn_compare_create_index(struct tkv_txn *t, const void *key, size_t key_len,
                                 enum tkv_compare_op op, uint64_t index)
{
        return client_txn_add(t, CLIENT_TXN_COMPARES, 1, (int)op, key, key_len, index, NULL, 0);
}

int tkv_txn_compare_value(struct tkv_txn *t, const void *key, size_t key_len,
                          enum tkv_compare_op op, const void *value, size_t value_len)
{
        return client_txn_add(t, CLIENT_TXN_COMPARES, 2, (int)op, key, key_len, 0, value,
                              value_len);
}

int tkv_txn_compare_exists(struct tkv_txn *t, const void *key, size_t key_len, bool exists)
{
        return client_txn_add(t, CLIENT_TXN_COMPARES, 3, TKV_CMP_EQUAL, key, key_len,
                              exists ? 1 : 0, NULL, 0);
}

static unsigned client_txn_field(enum tkv_txn_branch branch)
{
        return branch == TKV_TXN_FAILURE ? CLIENT_TXN_FAILURE : CLIENT_TXN_SUCCESS;
}

int tkv_txn_put(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key, size_t key_len,
                const void *value, size_t value_len)
{
        return client_txn_add(t, client_txn_field(branch), TKV_TXN_PUT, 0, key, key_len, 0, value,
                              value_len);
}

int tkv_txn_put_lease(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key,
                      size_t key_len, const void *value, size_t value_len, uint64_t lease)
{
        return client_txn_add(t, client_txn_field(branch), TKV_TXN_PUT, 0, key, key_len, lease,
                              value, value_len);
}

int tkv_txn_delete(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key, size_t key_len)
{
        return client_txn_add(t, client_txn_field(branch), TKV_TXN_DELETE, 0, key, key_len, 0, NULL,
                              0);
}

int tkv_txn_get(struct tkv_txn *t, enum tkv_txn_branch branch, const void *key, size_t key_len)
{
        return client_txn_add(t, client_txn_field(branch), TKV_TXN_GET, 0, key, key_len, 0, NULL,
                              0);
}
