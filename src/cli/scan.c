/* tunekv scan: the pages of a SCAN (tkv_scan_iter), printed as they come,
 * so a large range never sits in memory; or one page (--page, --cursor)
 * and the cursor of the next. The cursor travels as hex: keys are bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Longest cursor: the longest key a server accepts. */
#define SCAN_CURSOR_BYTES_MAX (64u << 10)

/* hex (borrowed) into out (tkv-independent malloc, caller frees) and
 * *len; -1 if it is not an even number of hex digits. */
static int scan_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
        size_t n = strlen(hex);

        *out = NULL;
        if (n % 2 != 0 || n / 2 > SCAN_CURSOR_BYTES_MAX) {
                return -1;
        }
        *out = malloc(n / 2 + 1);
        if (*out == NULL) {
                return -1;
        }
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;
                if (sscanf(hex + 2 * i, "%2x", &b) != 1 ||
                    strchr("0123456789abcdefABCDEF", hex[2 * i + 1]) == NULL) {
                        free(*out);
                        *out = NULL;
                        return -1;
                }
                (*out)[i] = (uint8_t)b;
        }
        *len = n / 2;
        return 0;
}

/* One page after --cursor (or from the start), and its cursor. */
static int scan_one_page(struct tkv_client *c, struct cli_args *a)
{
        uint8_t *cursor = NULL;
        size_t cursor_len = 0;
        char *next = NULL;
        struct tkv_result page;
        int status;

        if (a->scan_cursor != NULL && scan_hex_decode(a->scan_cursor, &cursor, &cursor_len) != 0) {
                return output_usage_error(a, "--cursor: expected hex digits, got \"%s\"",
                                          a->scan_cursor);
        }
        status = tkv_scan(c, &a->scan, cursor, cursor_len, &a->read, &page);
        free(cursor);
        commands_token_save(c, a);
        if (status != TKV_OK) {
                status = output_fail(a, status, page.message, &page);
                tkv_result_release(&page);
                return status;
        }
        if (page.scan_more && (next = malloc(2 * page.scan_cursor_len + 1)) != NULL) {
                for (size_t i = 0; i < page.scan_cursor_len; i++) {
                        snprintf(next + 2 * i, 3, "%02x", ((const uint8_t *)page.scan_cursor)[i]);
                }
                next[2 * page.scan_cursor_len] = '\0';
        }
        output_scan_begin(a);
        output_scan_page(a, &page, true);
        output_scan_end(a, page.scan_count, 1, next);
        free(next);
        tkv_result_release(&page);
        return output_exit(a, TKV_OK);
}

int scan_run(struct tkv_client *c, struct cli_args *a)
{
        struct tkv_scan_iter *it = NULL;
        struct tkv_result page;
        uint64_t count = 0;
        unsigned pages = 0;
        int status;

        if (!a->level_set) {
                a->read.level = TKV_SEQUENTIAL; /* one timestamp across partitions */
        }
        if (a->scan_page) {
                return scan_one_page(c, a);
        }
        status = tkv_scan_iter_new(c, &a->scan, &a->read, &it);
        if (status != TKV_OK) {
                return output_fail(a, status, "out of memory", NULL);
        }
        while ((status = tkv_scan_iter_next(it, &page)) == TKV_OK) {
                if (pages == 0) {
                        output_scan_begin(a);
                }
                output_scan_page(a, &page, count == 0);
                count += page.scan_count;
                pages++;
                tkv_result_release(&page);
        }
        tkv_scan_iter_free(it);
        commands_token_save(c, a);
        if (status != TKV_NOT_FOUND) {
                if (pages > 0 && a->json) {
                        output_scan_end(a, count, pages, NULL); /* close the object */
                }
                status = output_fail(a, status, page.message, &page);
                tkv_result_release(&page);
                return status;
        }
        output_scan_end(a, count, pages, NULL);
        return output_exit(a, TKV_OK);
}
