/* The blocking API: each call is its async call plus tkv_poll(-1) until
 * that request's callback has run. The callback copies the borrowed
 * result into one block kept in result->priv_, which tkv_result_release
 * frees, so the caller's result outlives the poll. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "heap.h"

/* State of one blocking call, on its caller's stack. */
struct client_sync {
        bool done;
        int status;
        struct tkv_result *out; /* NULL: the caller wants only the status */
};

static void client_sync_result_init(struct tkv_result *r)
{
        memset(r, 0, sizeof(*r));
        r->message = "";
        r->receipt.staleness_ms = -1;
}

/* Bytes a sub-block takes in a result block: rounded up so that the next
 * one is aligned for any type. */
static size_t client_sync_round(size_t n)
{
        size_t align = _Alignof(max_align_t);
        return (n + align - 1) / align * align;
}

/* GET_MANY's items and their values: bytes of a copy, and the copy into
 * mem (aligned, client_sync_items_bytes(src) bytes). */
static size_t client_sync_items_bytes(const struct tkv_result *src)
{
        size_t bytes = src->n_items * sizeof(struct tkv_item);
        for (size_t i = 0; src->items != NULL && i < src->n_items; i++) {
                bytes += src->items[i].value != NULL ? src->items[i].value_len : 0;
        }
        return src->items != NULL ? client_sync_round(bytes) : 0;
}

static struct tkv_item *client_sync_items_copy(uint8_t *mem, const struct tkv_result *src)
{
        struct tkv_item *items = (struct tkv_item *)(void *)mem;
        uint8_t *values = mem + src->n_items * sizeof(struct tkv_item);

        for (size_t i = 0; i < src->n_items; i++) {
                items[i] = src->items[i];
                if (src->items[i].value != NULL) {
                        if (src->items[i].value_len > 0) {
                                memcpy(values, src->items[i].value, src->items[i].value_len);
                        }
                        items[i].value = values;
                        values += src->items[i].value_len;
                }
        }
        return items;
}

/* A SCAN page's items (keys and values), receipts and cursor: bytes of a
 * copy, and the copy into mem (aligned, client_sync_scan_bytes(src)
 * bytes). */
static size_t client_sync_scan_bytes(const struct tkv_result *src)
{
        size_t bytes = src->scan_n_items * sizeof(struct tkv_scan_item) +
                       src->scan_n_receipts * sizeof(struct tkv_scan_receipt) +
                       src->scan_cursor_len;
        for (size_t i = 0; i < src->scan_n_items; i++) {
                bytes += src->scan_items[i].key_len + src->scan_items[i].value_len;
        }
        return src->scan_items != NULL ? client_sync_round(bytes) : 0;
}

static void client_sync_scan_copy(struct tkv_result *dst, const struct tkv_result *src,
                                  uint8_t *mem)
{
        struct tkv_scan_item *items = (struct tkv_scan_item *)(void *)mem;
        struct tkv_scan_receipt *rc = (struct tkv_scan_receipt *)(items + src->scan_n_items);
        uint8_t *bytes = (uint8_t *)(rc + src->scan_n_receipts);

        for (size_t i = 0; i < src->scan_n_items; i++) {
                items[i] = src->scan_items[i];
                memcpy(bytes, src->scan_items[i].key, src->scan_items[i].key_len);
                items[i].key = bytes;
                bytes += src->scan_items[i].key_len;
                if (src->scan_items[i].value_len > 0) {
                        memcpy(bytes, src->scan_items[i].value, src->scan_items[i].value_len);
                }
                items[i].value = bytes;
                bytes += src->scan_items[i].value_len;
        }
        if (src->scan_n_receipts > 0) {
                memcpy(rc, src->scan_receipts, src->scan_n_receipts * sizeof(*rc));
        }
        if (src->scan_cursor_len > 0) {
                memcpy(bytes, src->scan_cursor, src->scan_cursor_len);
                dst->scan_cursor = bytes;
        }
        dst->scan_items = items;
        dst->scan_receipts = rc;
}

/* Bytes the TXN results of src take in a result block: the array, then
 * their values. */
static size_t client_sync_txn_bytes(const struct tkv_result *src)
{
        size_t n = client_sync_round(src->txn_n_results * sizeof(src->txn_results[0]));
        for (size_t i = 0; i < src->txn_n_results; i++) {
                n += src->txn_results[i].value != NULL ? src->txn_results[i].value_len : 0;
        }
        return client_sync_round(n);
}

/* Copy src's TXN results into block (client_sync_txn_bytes of them). */
static void client_sync_txn_copy(struct tkv_result *dst, const struct tkv_result *src,
                                 uint8_t *block)
{
        struct tkv_txn_op_result *rs = (struct tkv_txn_op_result *)block;
        uint8_t *values = block + client_sync_round(src->txn_n_results * sizeof(rs[0]));

        for (size_t i = 0; i < src->txn_n_results; i++) {
                rs[i] = src->txn_results[i];
                if (rs[i].value != NULL) {
                        memcpy(values, rs[i].value, rs[i].value_len);
                        rs[i].value = values;
                        values += rs[i].value_len;
                }
        }
        dst->txn_results = rs;
}

/* Copy src (borrowed) into dst, with node, cluster, TXN results, value and
 * message in one block kept in dst->priv_. Returns dst->status: src's, or TKV_NO_MEMORY when
 * the copy could not be made. */
/* src's fields into dst, with nothing yet pointing into src. */
static void client_sync_result_shallow(struct tkv_result *dst, const struct tkv_result *src)
{
        *dst = *src;
        dst->message = "";
        dst->node = NULL;
        dst->cluster = NULL;
        dst->value = src->value != NULL ? "" : NULL;
        dst->items = NULL;
        dst->txn_results = NULL;
        dst->scan_items = NULL;
        dst->scan_receipts = NULL;
        dst->scan_cursor = NULL;
        dst->priv_ = NULL;
}

/* No room for the copy: dst says so and holds nothing. */
static void client_sync_result_empty(struct tkv_result *dst)
{
        dst->status = TKV_NO_MEMORY;
        dst->message = "out of memory copying the answer";
        dst->value = NULL;
        dst->value_len = 0;
        dst->n_items = 0;
        dst->txn_n_results = 0;
        dst->scan_n_items = 0;
        dst->scan_n_receipts = 0;
        dst->scan_cursor_len = 0;
}

static int client_sync_result_copy(struct tkv_result *dst, const struct tkv_result *src)
{
        const char *message = src->message != NULL ? src->message : "";
        size_t node_bytes = src->node != NULL ? client_sync_round(codec_node_bytes(src->node)) : 0;
        size_t cluster_bytes =
            src->cluster != NULL ? client_sync_round(codec_cluster_bytes(src->cluster)) : 0;
        size_t txn_bytes = src->txn_n_results > 0 ? client_sync_txn_bytes(src) : 0;
        size_t value_len = src->value != NULL ? src->value_len : 0;
        size_t message_len = strlen(message);
        size_t items_bytes = client_sync_items_bytes(src);
        size_t scan_bytes = client_sync_scan_bytes(src);
        size_t total = node_bytes + cluster_bytes + txn_bytes + items_bytes + scan_bytes +
                       value_len + (message_len > 0 ? message_len + 1 : 0);
        uint8_t *block;

        client_sync_result_shallow(dst, src);
        if (total == 0) {
                return dst->status;
        }
        block = tkv_malloc(total);
        if (block == NULL) {
                client_sync_result_empty(dst);
                return dst->status;
        }
        dst->priv_ = block;
        if (node_bytes > 0) {
                dst->node = codec_node_copy(block, src->node);
                block += node_bytes;
        }
        if (cluster_bytes > 0) {
                dst->cluster = codec_cluster_copy(block, src->cluster);
                block += cluster_bytes;
        }
        if (items_bytes > 0) {
                dst->items = client_sync_items_copy(block, src);
                block += items_bytes;
        }
        if (txn_bytes > 0) {
                client_sync_txn_copy(dst, src, block);
                block += txn_bytes;
        }
        if (scan_bytes > 0) {
                client_sync_scan_copy(dst, src, block);
                block += scan_bytes;
        }
        if (value_len > 0) {
                memcpy(block, src->value, value_len);
                dst->value = block;
                block += value_len;
        }
        if (message_len > 0) {
                memcpy(block, message, message_len + 1);
                dst->message = (const char *)block;
        }
        return dst->status;
}

static void client_sync_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct client_sync *w = arg;

        (void)c;
        w->done = true;
        w->status = w->out != NULL ? client_sync_result_copy(w->out, res) : res->status;
}

/* After the async call of a blocking call returned rv: wait for its callback,
 * or report rv in w->out. */
static int client_sync_wait(struct tkv_client *c, struct client_sync *w, int rv)
{
        struct tkv_result failed;

        if (rv != TKV_OK) {
                if (w->out != NULL) {
                        client_sync_result_init(&failed);
                        failed.status = rv;
                        failed.message = c != NULL ? c->errmsg : "no client";
                        client_sync_result_copy(w->out, &failed);
                }
                return rv;
        }
        /* tkv_poll fails only for a NULL client or inside a callback, both
         * ruled out by client_sync_start, and every request has a deadline,
         * so this loop ends. */
        while (!w->done) {
                tkv_poll(c, -1);
        }
        return w->status;
}

/* Common start of a blocking call. Returns TKV_OK to go on. */
static int client_sync_start(struct tkv_client *c, struct client_sync *w, struct tkv_result *out,
                             const char *op)
{
        w->done = false;
        w->status = TKV_OK;
        w->out = out;
        if (out != NULL) {
                client_sync_result_init(out);
        }
        if (c != NULL && c->dispatching > 0) {
                snprintf(c->errmsg, sizeof(c->errmsg), "%s: blocking call from a callback", op);
                return TKV_USAGE_ERROR;
        }
        return c != NULL ? TKV_OK : TKV_USAGE_ERROR;
}

int tkv_get_many(struct tkv_client *c, const void *const *keys, const size_t *key_lens, size_t n,
                 const struct tkv_read_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "get_many");

        if (rv == TKV_OK) {
                rv = tkv_get_many_async(c, keys, key_lens, n, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_scan(struct tkv_client *c, const struct tkv_scan *scan, const void *cursor,
             size_t cursor_len, const struct tkv_read_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "scan");

        if (rv == TKV_OK) {
                rv = tkv_scan_async(c, scan, cursor, cursor_len, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_get(struct tkv_client *c, const void *key, size_t key_len,
            const struct tkv_read_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "get");

        if (rv == TKV_OK) {
                rv = tkv_get_async(c, key, key_len, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_put(struct tkv_client *c, const void *key, size_t key_len, const void *value,
            size_t value_len, const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "put");

        if (rv == TKV_OK) {
                rv = tkv_put_async(c, key, key_len, value, value_len, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_delete(struct tkv_client *c, const void *key, size_t key_len,
               const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "delete");

        if (rv == TKV_OK) {
                rv = tkv_delete_async(c, key, key_len, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_cas(struct tkv_client *c, const void *key, size_t key_len, uint64_t expected_version,
            const void *value, size_t value_len, const struct tkv_write_options *opts,
            struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "cas");

        if (rv == TKV_OK) {
                rv = tkv_cas_async(c, key, key_len, expected_version, value, value_len, opts,
                                   client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_txn_commit(struct tkv_client *c, const struct tkv_txn *t,
                   const struct tkv_write_options *opts, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "txn");

        if (rv == TKV_OK) {
                rv = tkv_txn_commit_async(c, t, opts, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_status(struct tkv_client *c, struct tkv_result *out)
{
        return tkv_status_node(c, 0, out);
}

int tkv_status_node(struct tkv_client *c, uint32_t node_id, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "status");

        if (rv == TKV_OK) {
                rv = tkv_status_node_async(c, node_id, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

int tkv_cluster_info(struct tkv_client *c, struct tkv_result *out)
{
        struct client_sync w;
        int rv = client_sync_start(c, &w, out, "cluster_info");

        if (rv == TKV_OK) {
                rv = tkv_cluster_info_async(c, client_sync_cb, &w);
        }
        return client_sync_wait(c, &w, rv);
}

void tkv_result_release(struct tkv_result *r)
{
        if (r == NULL) {
                return;
        }
        tkv_free(r->priv_);
        client_sync_result_init(r);
}
