/* The SCAN page iterator (include/tunekv.h): a copy of the scan and of
 * the last page's cursor, and one blocking tkv_scan per page. */
#include "client_internal.h"

#include <string.h>

#include "heap.h"

struct tkv_scan_iter {
        struct tkv_client *c; /* borrowed */
        struct tkv_scan scan; /* its byte fields point into bytes */
        struct tkv_read_options opts;
        bool has_opts;
        bool done;       /* the last page was returned */
        uint8_t *cursor; /* owned: the last page's cursor; NULL before the first */
        size_t cursor_len;
        uint8_t bytes[]; /* prefix, start, end */
};

int tkv_scan_iter_new(struct tkv_client *c, const struct tkv_scan *scan,
                      const struct tkv_read_options *opts, struct tkv_scan_iter **out)
{
        struct tkv_scan_iter *it;
        uint8_t *p;

        *out = NULL;
        if (c == NULL || scan == NULL) {
                return TKV_USAGE_ERROR;
        }
        it = tkv_calloc(1, sizeof(*it) + scan->prefix_len + scan->start_len + scan->end_len);
        if (it == NULL) {
                return TKV_NO_MEMORY;
        }
        it->c = c;
        it->scan = *scan;
        p = it->bytes;
        it->scan.prefix = p;
        memcpy(p, scan->prefix_len > 0 ? scan->prefix : "", scan->prefix_len);
        p += scan->prefix_len;
        it->scan.start = p;
        memcpy(p, scan->start_len > 0 ? scan->start : "", scan->start_len);
        p += scan->start_len;
        it->scan.end = p;
        memcpy(p, scan->end_len > 0 ? scan->end : "", scan->end_len);
        it->has_opts = opts != NULL;
        if (opts != NULL) {
                it->opts = *opts;
        }
        *out = it;
        return TKV_OK;
}

/* Keep the page's cursor for the next one; done when no keys follow. */
static int client_scan_advance(struct tkv_scan_iter *it, const struct tkv_result *page)
{
        uint8_t *cursor;

        if (!page->scan_more || page->scan_cursor_len == 0) {
                it->done = true;
                return TKV_OK;
        }
        cursor = tkv_malloc(page->scan_cursor_len);
        if (cursor == NULL) {
                return TKV_NO_MEMORY;
        }
        memcpy(cursor, page->scan_cursor, page->scan_cursor_len);
        tkv_free(it->cursor);
        it->cursor = cursor;
        it->cursor_len = page->scan_cursor_len;
        return TKV_OK;
}

int tkv_scan_iter_next(struct tkv_scan_iter *it, struct tkv_result *out)
{
        int rv;

        if (it == NULL || out == NULL) {
                return TKV_USAGE_ERROR; /* the page's cursor leads to the next */
        }
        if (it->done) {
                return TKV_NOT_FOUND;
        }
        rv = tkv_scan(it->c, &it->scan, it->cursor, it->cursor_len, it->has_opts ? &it->opts : NULL,
                      out);
        if (rv == TKV_OK) {
                rv = client_scan_advance(it, out);
        }
        return rv;
}

void tkv_scan_iter_free(struct tkv_scan_iter *it)
{
        if (it == NULL) {
                return;
        }
        tkv_free(it->cursor);
        tkv_free(it);
}
