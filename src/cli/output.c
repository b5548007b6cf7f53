/* What the CLI prints. For people: a command's result on stdout, errors on
 * stderr as "tunekv: get: NOT_FOUND: message". With --json: exactly one JSON
 * object on stdout whatever happened, ending with its "exit_code" (bytes
 * that are not UTF-8 go out as base64, so the object always parses). Each
 * status maps to the exit code of its class of outcome (output_exit_code),
 * which scripts branch on; tests/integration/test_cli.sh checks these
 * formats, so change them only on purpose. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_word output_roles[] = {
    {"unavailable", TKV_ROLE_UNAVAILABLE},
    {"follower", TKV_ROLE_FOLLOWER},
    {"candidate", TKV_ROLE_CANDIDATE},
    {"leader", TKV_ROLE_LEADER},
    {NULL, 0},
};

static int output_exit_code(int status)
{
        switch (status) {
        case TKV_OK:
                return CLI_EXIT_OK;
        case TKV_NOT_FOUND:
                return CLI_EXIT_NOT_FOUND;
        case TKV_CONDITION_FAILED:
                return CLI_EXIT_CONDITION;
        case TKV_USAGE_ERROR:
                return CLI_EXIT_USAGE;
        case TKV_CONNECT_FAILED:
        case TKV_CONNECTION_CLOSED:
                return CLI_EXIT_CONNECT;
        case TKV_TIMEOUT:
        case TKV_OUTCOME_UNKNOWN:
                return CLI_EXIT_UNKNOWN;
        case TKV_NOT_LEADER:
        case TKV_NO_QUORUM:
        case TKV_BUSY:
        case TKV_UNAVAILABLE:
        case TKV_BOUND_UNMET:
                return CLI_EXIT_RETRY;
        case TKV_INVALID_ARGUMENT:
        case TKV_TOO_LARGE:
        case TKV_COMPACTED:
                return CLI_EXIT_INVALID;
        case TKV_UNAUTHENTICATED:
        case TKV_PERMISSION_DENIED:
                return CLI_EXIT_DENIED;
        default:
                return CLI_EXIT_OTHER;
        }
}

/* The exit code of a command that ended with status: a --token-out that
 * could not be written turns success into CLI_EXIT_OTHER. */
int output_exit(const struct cli_args *a, int status)
{
        int code = output_exit_code(status);

        return code == CLI_EXIT_OK && a->token_error[0] != '\0' ? CLI_EXIT_OTHER : code;
}

static const char *output_word_name(const struct cli_word *words, int value)
{
        for (; words->name != NULL; words++) {
                if (words->value == value) {
                        return words->name;
                }
        }
        return "unknown";
}

/* ---- JSON ---- */

/* Whether [s, s + len) is well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF). */
static bool output_utf8_valid(const unsigned char *s, size_t len)
{
        size_t i = 0;
        size_t n;
        uint32_t cp;

        while (i < len) {
                unsigned char b = s[i];
                if (b < 0x80) {
                        i++;
                        continue;
                }
                if (b >= 0xc2 && b <= 0xdf) {
                        n = 1, cp = b & 0x1f;
                } else if (b >= 0xe0 && b <= 0xef) {
                        n = 2, cp = b & 0x0f;
                } else if (b >= 0xf0 && b <= 0xf4) {
                        n = 3, cp = b & 0x07;
                } else {
                        return false;
                }
                if (len - i - 1 < n) {
                        return false;
                }
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80) {
                                return false;
                        }
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
                        return false;
                }
                i += n + 1;
        }
        return true;
}

/* Print a JSON string literal of valid UTF-8 bytes. */
static void output_json_string(const void *data, size_t len)
{
        const unsigned char *s = data;
        size_t i;

        putchar('"');
        for (i = 0; i < len; i++) {
                switch (s[i]) {
                case '"':
                        fputs("\\\"", stdout);
                        break;
                case '\\':
                        fputs("\\\\", stdout);
                        break;
                case '\n':
                        fputs("\\n", stdout);
                        break;
                case '\r':
                        fputs("\\r", stdout);
                        break;
                case '\t':
                        fputs("\\t", stdout);
                        break;
                default:
                        if (s[i] < 0x20 || s[i] == 0x7f) {
                                printf("\\u%04x", s[i]);
                        } else {
                                putchar(s[i]);
                        }
                }
        }
        putchar('"');
}

static void output_base64(const unsigned char *s, size_t len)
{
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t i;
        uint32_t v;

        putchar('"');
        for (i = 0; i + 2 < len; i += 3) {
                v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
                putchar(alphabet[v >> 18]);
                putchar(alphabet[(v >> 12) & 63]);
                putchar(alphabet[(v >> 6) & 63]);
                putchar(alphabet[v & 63]);
        }
        if (i < len) {
                v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
                putchar(alphabet[v >> 18]);
                putchar(alphabet[(v >> 12) & 63]);
                putchar(i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
                putchar('=');
        }
        putchar('"');
}

/* Print ,"name":"..." for text, or ,"name_base64":"..." for other bytes. */
static void output_json_bytes(const char *name, const void *data, size_t len)
{
        if (output_utf8_valid(data, len)) {
                printf(",\"%s\":", name);
                output_json_string(data, len);
        } else {
                printf(",\"%s_base64\":", name);
                output_base64(data, len);
        }
}

/* Print ,"name":"text", replacing bytes that are not UTF-8 (a message from
 * a confused server must still give valid JSON). */
static void output_json_text(const char *name, const char *text)
{
        const char *t = text != NULL ? text : "";

        if (output_utf8_valid((const unsigned char *)t, strlen(t))) {
                printf(",\"%s\":", name);
                output_json_string(t, strlen(t));
                return;
        }
        printf(",\"%s\":\"", name);
        for (; *t != '\0'; t++) {
                putchar((unsigned char)*t >= 0x80 ? '?' : *t);
        }
        putchar('"');
}

/* {"command":"get","status":"OK" ... : the start every JSON answer shares. */
static void output_json_open(const struct cli_args *a, int status)
{
        printf("{\"command\":\"%s\",\"status\":\"%s\"", a->command != NULL ? a->command : "",
               tkv_status_name(status));
        if (a->n_operands > 0 && a->command != NULL && strcmp(a->command, "status") != 0 &&
            strcmp(a->command, "user") != 0 && strcmp(a->command, "role") != 0 &&
            strcmp(a->command, "member") != 0 && strcmp(a->command, "transfer-leader") != 0 &&
            strcmp(a->command, "lease") != 0) {
                output_json_bytes("key", a->operands[0], strlen(a->operands[0]));
        }
}

/* ,"token":"..." with -v once the session token is known, and why
 * --token-out failed; then the exit code. */
static void output_json_close(const struct cli_args *a, int status)
{
        if (a->verbose && a->have_token) {
                printf(",\"token\":\"%s\"", a->token_hex);
        }
        if (a->token_error[0] != '\0') {
                output_json_text("token_out_error", a->token_error);
        }
        printf(",\"exit_code\":%d}\n", output_exit(a, status));
}

/* The whole receipt on one line: what the read delivered, where. */
static void output_print_receipt(FILE *f, const struct tkv_result *res)
{
        const struct tkv_receipt *r = &res->receipt;

        fprintf(f,
                "served by node %" PRIu32 " (%s), term %" PRIu64 ", applied %" PRIu64
                ", level %s, staleness ",
                r->node_id, output_word_name(output_roles, r->role), r->term, r->applied_index,
                output_word_name(args_levels, r->level));
        if (r->staleness_ms < 0) {
                fputs("unknown", f);
        } else {
                fprintf(f, "<=%" PRId64 "ms", r->staleness_ms);
        }
        fprintf(f, ", lag %" PRIu64 " entries, partition %" PRIu32 ", fallback %s, leader %s",
                r->lag_entries, r->partition, r->fallback ? "yes" : "no",
                r->leader_known ? "known" : "unknown");
        if (r->zone[0] != '\0') {
                fprintf(f, ", zone %s", r->zone);
        }
        /* The read's place in the order of writes, and the value's. */
        fprintf(f, ", timestamp=%" PRIu64 " value_timestamp=%" PRIu64 "\n", res->receipt.timestamp,
                res->timestamp);
}

static void output_json_receipt(const struct tkv_result *res)
{
        const struct tkv_receipt *r = &res->receipt;

        printf(",\"receipt\":{\"node_id\":%" PRIu32 ",\"role\":\"%s\",\"term\":%" PRIu64
               ",\"applied_index\":%" PRIu64 ",\"level\":\"%s\",\"staleness_ms\":%" PRId64
               ",\"lag_entries\":%" PRIu64 ",\"fallback\":%s,\"partition\":%" PRIu32
               ",\"leader_known\":%s,\"timestamp\":%" PRIu64,
               r->node_id, output_word_name(output_roles, r->role), r->term, r->applied_index,
               output_word_name(args_levels, r->level), r->staleness_ms, r->lag_entries,
               r->fallback ? "true" : "false", r->partition, r->leader_known ? "true" : "false",
               res->receipt.timestamp);
        output_json_text("zone", r->zone);
        putchar('}');
}

/* ---- Reporting ---- */

/* The library prefixes its own messages with the operation ("get: ..."),
 * which the CLI prints already. */
static const char *output_unprefixed(const char *message, const char *cmd)
{
        size_t len = strlen(cmd);

        if (strncmp(message, cmd, len) == 0 && strncmp(message + len, ": ", 2) == 0) {
                return message + len + 2;
        }
        return message;
}

/* Report a failed request (or a usage error, res NULL) and return the exit
 * code for status. */
int output_fail(const struct cli_args *a, int status, const char *message,
                const struct tkv_result *res)
{
        const char *cmd = a->command != NULL ? a->command : "";

        if (a->json) {
                output_json_open(a, status);
                output_json_text("message", output_unprefixed(message != NULL ? message : "", cmd));
                if (res != NULL && res->leader_id != 0) {
                        printf(",\"leader_id\":%" PRIu32, res->leader_id);
                }
                if (res != NULL && status == TKV_CONDITION_FAILED) {
                        printf(",\"current_version\":%" PRIu64, res->current_version);
                }
                if (res != NULL && status == TKV_BOUND_UNMET) {
                        printf(",\"bound_required_index\":%" PRIu64
                               ",\"bound_applied_index\":%" PRIu64
                               ",\"bound_staleness_ms\":%" PRId64 ",\"bound_lag_entries\":%" PRIu64
                               ",\"bound_node_id\":%" PRIu32,
                               res->bound_required_index, res->bound_applied_index,
                               res->bound_staleness_ms, res->bound_lag_entries, res->bound_node_id);
                }
                if (res != NULL && status == TKV_NOT_FOUND && res->deleted_index != 0) {
                        printf(",\"deleted_index\":%" PRIu64, res->deleted_index);
                }
                if (res != NULL && status == TKV_NOT_FOUND && a->verbose) {
                        output_json_receipt(res);
                }
                output_json_close(a, status);
                return output_exit(a, status);
        }
        if (a->command != NULL) {
                fprintf(stderr, "tunekv: %s: %s", cmd, tkv_status_name(status));
        } else {
                fprintf(stderr, "tunekv: %s", tkv_status_name(status));
        }
        if (message != NULL && message[0] != '\0') {
                fprintf(stderr, ": %s", output_unprefixed(message, cmd));
        }
        if (res != NULL && status == TKV_CONDITION_FAILED) {
                fprintf(stderr, " (current version=%" PRIu64 ")", res->current_version);
        }
        if (res != NULL && status == TKV_NOT_FOUND && res->deleted_index != 0) {
                fprintf(stderr, " (deleted at index %" PRIu64 ")", res->deleted_index);
        }
        if (res != NULL && status == TKV_BOUND_UNMET) {
                char stale[32] = "unknown";
                if (res->bound_staleness_ms >= 0) {
                        snprintf(stale, sizeof(stale), "<=%" PRId64 " ms", res->bound_staleness_ms);
                }
                fprintf(stderr,
                        " (node %" PRIu32 ": required index %" PRIu64 ", applied %" PRIu64
                        ", staleness %s, lag %" PRIu64 " entries)",
                        res->bound_node_id, res->bound_required_index, res->bound_applied_index,
                        stale, res->bound_lag_entries);
        }
        if (res != NULL && res->leader_id != 0) {
                fprintf(stderr, " (leader is node %" PRIu32 ")", res->leader_id);
        }
        fputc('\n', stderr);
        if (res != NULL && status == TKV_NOT_FOUND && a->verbose) {
                output_print_receipt(stderr, res);
        }
        if (a->verbose && a->have_token) {
                fprintf(stderr, "token %s\n", a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
        if (status == TKV_USAGE_ERROR && res == NULL) {
                fputs("Try 'tunekv --help'.\n", stderr);
        }
        return output_exit(a, status);
}

int output_usage_error(const struct cli_args *a, const char *fmt, const char *arg)
{
        char msg[512];

        snprintf(msg, sizeof(msg), fmt, arg);
        return output_fail(a, TKV_USAGE_ERROR, msg, NULL);
}

/* A value get found: the value then its version for people, or JSON. */
void output_get(const struct cli_args *a, const struct tkv_result *res)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"found\":true");
                output_json_bytes("value", res->value, res->value_len);
                printf(",\"version\":%" PRIu64 ",\"create_index\":%" PRIu64
                       ",\"partition\":%" PRIu32 ",\"timestamp\":%" PRIu64,
                       res->mod_index, res->create_index, res->partition, res->timestamp);
                output_json_receipt(res);
                output_json_close(a, TKV_OK);
        } else {
                if (res->value_len > 0) {
                        fwrite(res->value, 1, res->value_len, stdout);
                }
                printf("\nversion=%" PRIu64 " create_index=%" PRIu64 " partition=%" PRIu32 "\n",
                       res->mod_index, res->create_index, res->partition);
                if (a->verbose) {
                        output_print_receipt(stdout, res);
                        printf("token %s\n", a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
                }
        }
}

/* What mget read: per key "KEY VALUE" (or "KEY (not found)"), then the
 * timestamp they were read at; or JSON. */
void output_mget(const struct cli_args *a, const struct tkv_result *res)
{
        const char *level = output_word_name(args_levels, (int)res->receipt.level);

        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"timestamp\":%" PRIu64 ",\"node_id\":%" PRIu32
                       ",\"level\":\"%s\",\"items\":[",
                       res->receipt.timestamp, res->receipt.node_id, level);
                for (size_t i = 0; i < res->n_items; i++) {
                        const struct tkv_item *it = &res->items[i];
                        printf("%s{\"found\":%s", i > 0 ? "," : "", it->found ? "true" : "false");
                        output_json_bytes("key", a->operands[i], strlen(a->operands[i]));
                        if (it->found) {
                                output_json_bytes("value", it->value, it->value_len);
                        }
                        printf(",\"version\":%" PRIu64 ",\"timestamp\":%" PRIu64
                               ",\"partition\":%" PRIu32,
                               it->mod_index, it->timestamp, it->partition);
                        if (!it->found && it->deleted_index != 0) {
                                printf(",\"deleted_index\":%" PRIu64, it->deleted_index);
                        }
                        printf("}");
                }
                printf("]");
                output_json_close(a, TKV_OK);
                return;
        }
        for (size_t i = 0; i < res->n_items; i++) {
                const struct tkv_item *it = &res->items[i];
                printf("%s ", a->operands[i]);
                if (!it->found && it->deleted_index != 0) {
                        printf("(not found: deleted at index %" PRIu64 ")", it->deleted_index);
                } else if (!it->found) {
                        printf("(not found)");
                } else if (it->value_len > 0) {
                        fwrite(it->value, 1, it->value_len, stdout);
                }
                if (a->verbose) {
                        printf("  (version=%" PRIu64 " timestamp=%" PRIu64 " partition=%" PRIu32
                               ")",
                               it->mod_index, it->timestamp, it->partition);
                }
                putchar('\n');
        }
        printf("timestamp=%" PRIu64 " node=%" PRIu32 " level=%s\n", res->receipt.timestamp,
               res->receipt.node_id, level);
        if (a->verbose) {
                printf("token %s\n", a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
}

/* A scan's output: the JSON object opens before the first page, each
 * page's keys follow (lines "KEY VALUE", "KEY" with --keys-only, -v adding
 * versions and each page's receipts), and the end says how many keys and
 * pages, and the cursor when more keys follow a single page. */
void output_scan_begin(const struct cli_args *a)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"items\":[");
        }
}

void output_scan_page(const struct cli_args *a, const struct tkv_result *page, bool first)
{
        for (size_t i = 0; i < page->scan_n_items; i++) {
                const struct tkv_scan_item *it = &page->scan_items[i];
                if (a->json) {
                        printf("%s{\"partition\":%" PRIu32, first && i == 0 ? "" : ",",
                               it->partition);
                        output_json_bytes("key", it->key, it->key_len);
                        if (!a->scan.keys_only) {
                                output_json_bytes("value", it->value, it->value_len);
                        }
                        printf(",\"version\":%" PRIu64 ",\"create_index\":%" PRIu64
                               ",\"timestamp\":%" PRIu64 "}",
                               it->mod_index, it->create_index, it->timestamp);
                        continue;
                }
                fwrite(it->key, 1, it->key_len, stdout);
                if (!a->scan.keys_only) {
                        putchar(' ');
                        fwrite(it->value, 1, it->value_len, stdout);
                }
                if (a->verbose) {
                        printf("  (version=%" PRIu64 " create_index=%" PRIu64 " partition=%" PRIu32
                               ")",
                               it->mod_index, it->create_index, it->partition);
                }
                putchar('\n');
        }
        if (a->verbose && !a->json) {
                printf("page: %" PRIu64 " keys, timestamp=%" PRIu64 " node=%" PRIu32
                       " level=%s, partitions:",
                       page->scan_count, page->receipt.timestamp, page->receipt.node_id,
                       output_word_name(args_levels, (int)page->receipt.level));
                for (size_t i = 0; i < page->scan_n_receipts; i++) {
                        printf(" %" PRIu32 "@%" PRIu64, page->scan_receipts[i].partition,
                               page->scan_receipts[i].applied_index);
                }
                putchar('\n');
        }
}

void output_watch_event(const struct cli_args *a, const struct tkv_watch_event *ev)
{
        bool put = ev->type == TKV_EVENT_PUT;

        if (a->json) {
                printf("{\"type\":\"%s\"", put ? "put" : "delete");
                output_json_bytes("key", ev->key, ev->key_len);
                if (put && ev->value != NULL) {
                        output_json_bytes("value", ev->value, ev->value_len);
                }
                printf(",\"partition\":%" PRIu32 ",\"index\":%" PRIu64 ",\"create_index\":%" PRIu64
                       ",\"timestamp\":%" PRIu64 "}\n",
                       ev->partition, ev->index, ev->create_index, ev->timestamp);
        } else {
                fputs(put ? "put " : "delete ", stdout);
                fwrite(ev->key, 1, ev->key_len, stdout);
                if (put && ev->value != NULL) {
                        putchar(' ');
                        fwrite(ev->value, 1, ev->value_len, stdout);
                }
                if (a->verbose) {
                        printf("  (partition=%" PRIu32 " index=%" PRIu64 " timestamp=%" PRIu64 ")",
                               ev->partition, ev->index, ev->timestamp);
                }
                putchar('\n');
        }
        fflush(stdout); /* a stream: each line as it happens */
}

void output_scan_end(const struct cli_args *a, uint64_t count, unsigned pages, const char *cursor)
{
        if (a->json) {
                printf("],\"count\":%" PRIu64 ",\"pages\":%u,\"more\":%s", count, pages,
                       cursor != NULL ? "true" : "false");
                if (cursor != NULL) {
                        printf(",\"cursor\":\"%s\"", cursor);
                }
                output_json_close(a, TKV_OK);
                return;
        }
        if (a->scan.count_only) {
                printf("%" PRIu64 "\n", count);
        }
        if (cursor != NULL) {
                printf("(more: --cursor %s)\n", cursor);
        }
}

/* What a successful write reports, for people or as JSON. */
void output_write(const struct cli_args *a, const struct tkv_result *res)
{
        const char *ack = output_word_name(args_acks, res->ack);

        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"version\":%" PRIu64 ",\"partition\":%" PRIu32
                       ",\"ack\":\"%s\",\"durable\":%s,\"timestamp\":%" PRIu64,
                       res->index, res->partition, ack, res->durable ? "true" : "false",
                       res->timestamp);
                output_json_close(a, TKV_OK);
                return;
        }
        printf("OK %sversion=%" PRIu64, strcmp(a->command, "delete") == 0 ? "deleted " : "",
               res->index);
        if (a->verbose) {
                printf(" partition=%" PRIu32 " ack=%s durable=%s timestamp=%" PRIu64 "\ntoken %s",
                       res->partition, ack, res->durable ? "yes" : "no", res->timestamp,
                       a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
        putchar('\n');
}

/* The ops of the branch that ran, in order: the i-th result's op. */
static const struct cli_txn_op *output_txn_op(const struct tkv_result *res,
                                              const struct cli_txn_op *ops, size_t n_ops, size_t i)
{
        enum tkv_txn_branch ran = res->txn_succeeded ? TKV_TXN_SUCCESS : TKV_TXN_FAILURE;

        for (size_t k = 0; k < n_ops; k++) {
                if (ops[k].branch == ran && i-- == 0) {
                        return &ops[k];
                }
        }
        return NULL;
}

static const char *const output_txn_names[] = {"get", "put", "delete"};

static void output_txn_json(const struct cli_args *a, const struct tkv_result *res,
                            const struct cli_txn_op *ops, size_t n_ops)
{
        output_json_open(a, TKV_OK);
        printf(",\"succeeded\":%s,\"version\":%" PRIu64 ",\"partition\":%" PRIu32
               ",\"replayed\":%s,\"results\":[",
               res->txn_succeeded ? "true" : "false", res->index, res->partition,
               res->txn_replayed ? "true" : "false");
        for (size_t i = 0; i < res->txn_n_results; i++) {
                const struct tkv_txn_op_result *r = &res->txn_results[i];
                const struct cli_txn_op *o = output_txn_op(res, ops, n_ops, i);
                printf("%s{\"op\":\"%s\"", i > 0 ? "," : "", output_txn_names[r->type % 3]);
                if (o != NULL) {
                        output_json_bytes("key", o->key, o->key_len);
                }
                printf(",\"found\":%s", r->found ? "true" : "false");
                if (r->type == TKV_TXN_GET && r->found) {
                        if (r->value_omitted) {
                                printf(",\"value_omitted\":true");
                        } else {
                                output_json_bytes("value", r->value, r->value_len);
                        }
                        printf(",\"version\":%" PRIu64 ",\"create_index\":%" PRIu64, r->mod_index,
                               r->create_index);
                }
                putchar('}');
        }
        putchar(']');
        output_json_close(a, res->txn_succeeded ? TKV_OK : TKV_CONDITION_FAILED);
}

void output_txn(const struct cli_args *a, const struct tkv_result *res,
                const struct cli_txn_op *ops, size_t n_ops)
{
        if (a->json) {
                output_txn_json(a, res, ops, n_ops);
                return;
        }
        printf("OK %s version=%" PRIu64 "%s\n",
               res->txn_succeeded ? "succeeded" : "failed (compares did not hold)", res->index,
               res->txn_replayed ? " (a retry: results not kept)" : "");
        for (size_t i = 0; i < res->txn_n_results; i++) {
                const struct tkv_txn_op_result *r = &res->txn_results[i];
                const struct cli_txn_op *o = output_txn_op(res, ops, n_ops, i);
                printf("%s ", output_txn_names[r->type % 3]);
                if (o != NULL) {
                        fwrite(o->key, 1, o->key_len, stdout);
                }
                if (r->type != TKV_TXN_GET) {
                        printf(" (%s)\n", r->found
                                              ? (r->type == TKV_TXN_PUT ? "replaced" : "deleted")
                                              : (r->type == TKV_TXN_PUT ? "created" : "not found"));
                } else if (!r->found) {
                        printf(": not found\n");
                } else if (r->value_omitted) {
                        printf(" version=%" PRIu64 ": value omitted (txn_bytes_max): get it\n",
                               r->mod_index);
                } else {
                        printf(" version=%" PRIu64 " = ", r->mod_index);
                        fwrite(r->value, 1, r->value_len, stdout);
                        putchar('\n');
                }
        }
        if (a->verbose) {
                printf("partition=%" PRIu32 " token %s\n", res->partition,
                       a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
}

/* "2h05m10s", or "12.3s" under a minute. */
static void output_format_uptime(uint64_t ms, char *out, size_t len)
{
        uint64_t s = ms / 1000;

        if (s < 60) {
                snprintf(out, len, "%.1fs", (double)ms / 1000.0);
        } else if (s < 3600) {
                snprintf(out, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
        } else if (s < 86400) {
                snprintf(out, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600,
                         s / 60 % 60, s % 60);
        } else {
                snprintf(out, len, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", s / 86400,
                         s / 3600 % 24, s / 60 % 60);
        }
}

/* Per partition and level, the reads counted (levels never asked left out). */
static void output_print_reads(const struct tkv_node_status *n)
{
        bool header = false;
        unsigned i, level;

        for (i = 0; i < n->n_partitions; i++) {
                const struct tkv_partition_status *p = &n->partitions[i];
                for (level = 0; level < 6; level++) {
                        const struct tkv_level_counters *r = &p->reads[level];
                        char fresh[32] = "-";
                        if (r->served + r->stale_served + r->waits + r->fallbacks + r->bound_unmet +
                                r->fresh + r->stale ==
                            0) {
                                continue;
                        }
                        if (!header) {
                                printf("\n%9s  %-13s  %10s  %10s  %10s  %10s  %11s  %17s\n",
                                       "PARTITION", "READS", "SERVED", "STALE", "WAITS",
                                       "FALLBACKS", "BOUND_UNMET", "FRESH (SAMPLED)");
                                header = true;
                        }
                        if (r->fresh + r->stale > 0) {
                                snprintf(fresh, sizeof fresh, "%.1f%% of %" PRIu64,
                                         100.0 * (double)r->fresh / (double)(r->fresh + r->stale),
                                         r->fresh + r->stale);
                        }
                        printf("%9" PRIu32 "  %-13s  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64
                               "  %10" PRIu64 "  %11" PRIu64 "  %17s\n",
                               p->partition, output_word_name(args_levels, (int)level), r->served,
                               r->stale_served, r->waits, r->fallbacks, r->bound_unmet, fresh);
                }
        }
}

static void output_print_status(const struct tkv_node_status *n)
{
        const struct tkv_partition_status *p;
        char uptime[64];
        unsigned i;

        output_format_uptime(n->uptime_ms, uptime, sizeof(uptime));
        printf("node %" PRIu32 "  version %s  uptime %s  connections %" PRIu32
               "  partitions %u of %" PRIu32 "  map epoch %" PRIu64 "\n",
               n->node_id, n->version, uptime, n->connections, n->n_partitions, n->partition_count,
               n->epoch);
        /* What a client may ask of this node: TXN and lease limits (the
         * others are in --json). */
        printf("limits: txn_ops_max %" PRIu32 "  txn_compares_max %" PRIu32
               "  txn_bytes_max %" PRIu64 "  leases_max %" PRIu32 "  lease_keys_max %" PRIu32
               "  lease_ttl_ms %" PRIu32 "..%" PRIu32 "\n",
               n->txn_ops_max, n->txn_compares_max, n->txn_bytes_max, n->leases_max,
               n->lease_keys_max, n->lease_ttl_min_ms, n->lease_ttl_max_ms);
        printf("%9s  %-11s  %6s  %8s  %10s  %10s  %10s  %10s  %12s  %5s  %6s  %9s\n", "PARTITION",
               "ROLE", "LEADER", "TERM", "COMMIT", "APPLIED", "LAST", "KEYS", "BYTES", "READY",
               "LAG", "STALE_MS");
        for (i = 0; i < n->n_partitions; i++) {
                char stale[24];
                p = &n->partitions[i];
                if (p->staleness_ms < 0) {
                        snprintf(stale, sizeof(stale), "unknown");
                } else {
                        snprintf(stale, sizeof(stale), "%" PRId64, p->staleness_ms);
                }
                printf("%9" PRIu32 "  %-11s  %6" PRIu32 "  %8" PRIu64 "  %10" PRIu64 "  %10" PRIu64
                       "  %10" PRIu64 "  %10" PRIu64 "  %12" PRIu64 "  %5s  %6" PRIu64 "  %9s\n",
                       p->partition, output_word_name(output_roles, p->role), p->leader_id, p->term,
                       p->commit_index, p->applied_index, p->last_index, p->keys, p->bytes,
                       p->ready ? "yes" : "no", p->lag_entries, stale);
        }
        output_print_reads(n);
}

static void output_json_partition(const struct tkv_partition_status *p)
{
        unsigned i;

        printf("{\"partition\":%" PRIu32 ",\"role\":\"%s\",\"leader_id\":%" PRIu32
               ",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64 ",\"applied_index\":%" PRIu64
               ",\"last_index\":%" PRIu64 ",\"snapshot_index\":%" PRIu64 ",\"keys\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"digest\":%" PRIu64 ",\"snapshots\":%" PRIu64
               ",\"restores\":%" PRIu64 ",\"ready\":%s,\"replicas\":[",
               p->partition, output_word_name(output_roles, p->role), p->leader_id, p->term,
               p->commit_index, p->applied_index, p->last_index, p->snapshot_index, p->keys,
               p->bytes, p->digest, p->snapshots, p->restores, p->ready ? "true" : "false");
        for (i = 0; i < p->n_replicas; i++) {
                printf("%s%" PRIu32, i > 0 ? "," : "", p->replicas[i]);
        }
        printf("],\"staleness_ms\":%" PRId64 ",\"lag_entries\":%" PRIu64
               ",\"leader_commit_index\":%" PRIu64 ",\"barriers\":%" PRIu64 ",\"confirms\":%" PRIu64
               ",\"confirms_failed\":%" PRIu64,
               p->staleness_ms, p->lag_entries, p->leader_commit_index, p->barriers, p->confirms,
               p->confirms_failed);
        printf(",\"history\":{\"changes\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"oldest_index\":%" PRIu64 ",\"start_ts\":%" PRIu64 "},\"reads\":{",
               p->history_changes, p->history_bytes, p->history_oldest_index, p->history_start_ts);
        for (i = 0; i < 6; i++) {
                const struct tkv_level_counters *r = &p->reads[i];
                printf("%s\"%s\":{\"served\":%" PRIu64 ",\"stale_served\":%" PRIu64
                       ",\"waits\":%" PRIu64 ",\"fallbacks\":%" PRIu64 ",\"bound_unmet\":%" PRIu64
                       ",\"fresh\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"stale_ms\":[",
                       i > 0 ? "," : "", output_word_name(args_levels, (int)i), r->served,
                       r->stale_served, r->waits, r->fallbacks, r->bound_unmet, r->fresh, r->stale);
                for (unsigned b = 0; b < 6; b++) {
                        printf("%s%" PRIu64, b > 0 ? "," : "", r->stale_ms[b]);
                }
                printf("],\"stale_versions\":[");
                for (unsigned b = 0; b < 4; b++) {
                        printf("%s%" PRIu64, b > 0 ? "," : "", r->stale_versions[b]);
                }
                printf("]}");
        }
        printf("}}");
}

static void output_json_status(const struct tkv_node_status *n)
{
        unsigned i;

        printf(",\"node_id\":%" PRIu32, n->node_id);
        output_json_text("version", n->version);
        printf(",\"uptime_ms\":%" PRIu64 ",\"connections\":%" PRIu32 ",\"loop_lag_ms\":%" PRIu32
               ",\"loop_lag_max_ms\":%" PRIu32 ",\"forwarded\":%" PRIu64 ",\"epoch\":%" PRIu64
               ",\"watches\":%" PRIu64,
               n->uptime_ms, n->connections, n->loop_lag_ms, n->loop_lag_max_ms, n->forwarded,
               n->epoch, n->watches);
        printf(",\"partition_count\":%" PRIu32 ",\"limits\":{\"frame_bytes_max\":%" PRIu32
               ",\"key_bytes_max\":%" PRIu32 ",\"value_bytes_max\":%" PRIu32
               ",\"inflight_per_conn_max\":%" PRIu32 ",\"conns_max\":%" PRIu32
               ",\"request_timeout_ms\":%" PRIu32 ",\"request_timeout_max_ms\":%" PRIu32
               ",\"conn_output_bytes_max\":%" PRIu64 ",\"token_bytes_max\":%" PRIu32
               ",\"txn_ops_max\":%" PRIu32 ",\"txn_compares_max\":%" PRIu32
               ",\"txn_bytes_max\":%" PRIu64 ",\"leases_max\":%" PRIu32
               ",\"lease_keys_max\":%" PRIu32 ",\"lease_ttl_min_ms\":%" PRIu32
               ",\"lease_ttl_max_ms\":%" PRIu32 "},\"partitions\":[",
               n->partition_count, n->frame_bytes_max, n->key_bytes_max, n->value_bytes_max,
               n->inflight_per_conn_max, n->conns_max, n->request_timeout_ms,
               n->request_timeout_max_ms, n->conn_output_bytes_max, n->token_bytes_max,
               n->txn_ops_max, n->txn_compares_max, n->txn_bytes_max, n->leases_max,
               n->lease_keys_max, n->lease_ttl_min_ms, n->lease_ttl_max_ms);
        for (i = 0; i < n->n_partitions; i++) {
                if (i > 0) {
                        putchar(',');
                }
                output_json_partition(&n->partitions[i]);
        }
        putchar(']');
}

/* status --node N: one node's own view. */
void output_node_status(const struct cli_args *a, const struct tkv_node_status *n)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                output_json_status(n);
                output_json_close(a, TKV_OK);
        } else {
                output_print_status(n);
        }
}

/* ---- status: the whole cluster ---- */

/* Partition p as node view v sees it, or NULL (down, or not hosted). */
static const struct tkv_partition_status *output_view_partition(const struct cli_node_view *v,
                                                                uint32_t p)
{
        unsigned i;

        if (v == NULL || v->node == NULL) {
                return NULL;
        }
        for (i = 0; i < v->node->n_partitions; i++) {
                if (v->node->partitions[i].partition == p) {
                        return &v->node->partitions[i];
                }
        }
        return NULL;
}

static const struct cli_node_view *output_view_of(const struct cli_node_view *views, unsigned n,
                                                  uint32_t node_id)
{
        unsigned i;

        for (i = 0; i < n; i++) {
                if (views[i].node_id == node_id) {
                        return &views[i];
                }
        }
        return NULL;
}

/* One partition, merged from the cluster info and its replicas' STATUS. */
struct output_partition_view {
        uint32_t leader_id; /* a replica that says it leads, else the cluster info's */
        bool confirmed;     /* leader_id is a replica that says it leads */
        uint64_t term;      /* the leader's, else the highest a replica reports */
        bool ready;         /* the leader's ready flag */
        const struct tkv_partition_status *replica[8]; /* NULL: down or silent */
};

static void output_merge_partition(const struct tkv_partition_info *pi,
                                   const struct cli_node_view *views, unsigned n_views,
                                   struct output_partition_view *pv)
{
        const struct tkv_partition_status *ps;
        const struct tkv_partition_status *leader = NULL;
        unsigned i;

        memset(pv, 0, sizeof(*pv));
        pv->leader_id = pi->leader_id;
        for (i = 0; i < pi->n_replicas && i < 8; i++) {
                ps = output_view_partition(output_view_of(views, n_views, pi->replicas[i]),
                                           pi->partition);
                pv->replica[i] = ps;
                if (ps == NULL) {
                        continue;
                }
                if (ps->term > pv->term) {
                        pv->term = ps->term;
                }
                if (ps->role == TKV_ROLE_LEADER && (leader == NULL || ps->term > leader->term)) {
                        leader = ps;
                        pv->leader_id = pi->replicas[i];
                        pv->confirmed = true;
                }
        }
        if (leader != NULL) {
                pv->term = leader->term;
                pv->ready = leader->ready;
        }
}

/* ---- health ---- */

/* A replica further than this behind its leader's commit index makes the
 * partition degraded: a follower catching up from a few entries behind is
 * normal under load, thousands are not. */
#define OUTPUT_LAG_DEGRADED 1000

enum output_health { OUTPUT_OK, OUTPUT_DEGRADED, OUTPUT_UNAVAILABLE };

static const char *const output_health_names[] = {"ok", "degraded", "unavailable"};

/* The partition's health, and why in words (empty when ok). */
static enum output_health output_partition_health(const struct tkv_partition_info *pi,
                                                  const struct output_partition_view *pv, char *why,
                                                  size_t len)
{
        const struct tkv_partition_status *leader = NULL;
        unsigned up = 0, n = pi->n_replicas < 8 ? pi->n_replicas : 8;
        size_t off = 0;

        why[0] = '\0';
        for (unsigned i = 0; i < n; i++) {
                if (pv->replica[i] != NULL) {
                        up++;
                        if (pv->confirmed && pi->replicas[i] == pv->leader_id) {
                                leader = pv->replica[i];
                        }
                }
        }
        if (up <= n / 2 || leader == NULL || !pv->ready) {
                snprintf(why, len, "%s",
                         up <= n / 2      ? "no majority of replicas answers"
                         : leader == NULL ? "no replica leads"
                                          : "the leader is not ready");
                return OUTPUT_UNAVAILABLE;
        }
        for (unsigned i = 0; i < n && off < len; i++) {
                const struct tkv_partition_status *ps = pv->replica[i];
                int k = 0;
                if (ps == NULL) {
                        k = snprintf(why + off, len - off, "%sreplica %" PRIu32 " down",
                                     off > 0 ? "; " : "", pi->replicas[i]);
                } else if (leader->commit_index > ps->applied_index + OUTPUT_LAG_DEGRADED) {
                        k = snprintf(why + off, len - off,
                                     "%sreplica %" PRIu32 " lags %" PRIu64 " entries",
                                     off > 0 ? "; " : "", pi->replicas[i],
                                     leader->commit_index - ps->applied_index);
                }
                off += k > 0 ? (size_t)k : 0;
        }
        return off > 0 ? OUTPUT_DEGRADED : OUTPUT_OK;
}

/* "1:120 2:120 3:-" for the commit (or applied) index of each replica. */
static void output_format_indexes(const struct tkv_partition_info *pi,
                                  const struct output_partition_view *pv, bool applied, char *out,
                                  size_t len)
{
        size_t off = 0;
        unsigned i;
        int n;

        out[0] = '\0';
        for (i = 0; i < pi->n_replicas && i < 8 && off < len; i++) {
                if (pv->replica[i] == NULL) {
                        n = snprintf(out + off, len - off, "%s%" PRIu32 ":-", i > 0 ? " " : "",
                                     pi->replicas[i]);
                } else {
                        n = snprintf(out + off, len - off, "%s%" PRIu32 ":%" PRIu64,
                                     i > 0 ? " " : "", pi->replicas[i],
                                     applied ? pv->replica[i]->applied_index
                                             : pv->replica[i]->commit_index);
                }
                off += n > 0 ? (size_t)n : 0;
        }
}

/* A node's health: unavailable when it does not answer, degraded when a
 * partition it holds a replica of is not healthy. */
static enum output_health output_node_health(const struct tkv_cluster_info *ci,
                                             const struct cli_node_view *views,
                                             const struct cli_node_view *v)
{
        struct output_partition_view pv;
        char why[256];
        bool down = v->status != TKV_OK || v->node == NULL;

        /* A removed member, or a joining one not running yet, serves no
         * partition: nothing of the cluster's health depends on it. */
        if (v->state == TKV_MEMBER_REMOVED || (v->state == TKV_MEMBER_JOINING && down)) {
                return OUTPUT_OK;
        }
        if (down) {
                return OUTPUT_UNAVAILABLE;
        }
        for (unsigned i = 0; i < ci->n_partitions; i++) {
                const struct tkv_partition_info *pi = &ci->partitions[i];
                for (unsigned k = 0; k < pi->n_replicas && k < 8; k++) {
                        if (pi->replicas[k] != v->node_id) {
                                continue;
                        }
                        output_merge_partition(pi, views, ci->n_nodes, &pv);
                        if (output_partition_health(pi, &pv, why, sizeof(why)) != OUTPUT_OK) {
                                return OUTPUT_DEGRADED;
                        }
                }
        }
        return OUTPUT_OK;
}

static void output_print_node_line(const struct cli_node_view *v, enum output_health h)
{
        char uptime[64];

        if (v->state == TKV_MEMBER_REMOVED ||
            (v->state == TKV_MEMBER_JOINING && (v->status != TKV_OK || v->node == NULL))) {
                printf("node %-3" PRIu32 " %-21s %s\n", v->node_id, v->client_addr,
                       v->state == TKV_MEMBER_REMOVED ? "removed" : "joining (not up)");
                return;
        }
        if (v->status != TKV_OK || v->node == NULL) {
                printf("node %-3" PRIu32 " %-21s down  health %-11s %s: %s\n", v->node_id,
                       v->client_addr, output_health_names[h], tkv_status_name(v->status),
                       output_unprefixed(v->message, "status"));
                return;
        }
        output_format_uptime(v->node->uptime_ms, uptime, sizeof(uptime));
        printf("node %-3" PRIu32 " %-21s up    health %-11s uptime %-10s connections %-5" PRIu32
               " version %s\n",
               v->node_id, v->client_addr, output_health_names[h], uptime, v->node->connections,
               v->node->version);
}

static const char *const output_member_states[] = {"unknown", "voter", "joining", "removed",
                                                   "leaving"};

static const char *output_member_state(enum tkv_member_state st)
{
        return (unsigned)st < 5 ? output_member_states[st] : "unknown";
}

/* One member as text. */
static void output_print_member(const struct tkv_member *m)
{
        printf("node %-3" PRIu32 " %-8s zone %-10s client %-21s peer %s", m->node_id,
               output_member_state(m->state), m->zone[0] != '\0' ? m->zone : "-", m->client_addr,
               m->peer_addr);
        if (m->successor != 0) {
                printf(" (its replicas move to node %" PRIu32 ")", m->successor);
        }
        putchar('\n');
}

/* ,"epoch":N,"members":[...] */
static void output_json_members(const struct tkv_member_list *l)
{
        printf(",\"epoch\":%" PRIu64 ",\"members\":[", l->epoch);
        for (size_t i = 0; i < l->n_members; i++) {
                const struct tkv_member *m = &l->members[i];
                printf("%s{\"node_id\":%" PRIu32 ",\"state\":\"%s\"", i > 0 ? "," : "", m->node_id,
                       output_member_state(m->state));
                output_json_text("zone", m->zone);
                output_json_text("client_addr", m->client_addr);
                output_json_text("peer_addr", m->peer_addr);
                putchar('}');
        }
        putchar(']');
}

/* The step of partition p's move, as the node driving it says. */
static void output_print_move_step(const struct cli_node_view *views, unsigned n_views, uint32_t p)
{
        for (unsigned i = 0; i < n_views; i++) {
                const struct tkv_partition_status *ps = output_view_partition(&views[i], p);
                if (ps != NULL && ps->move_step[0] != '\0') {
                        printf(" (node %" PRIu32 ": %s, %" PRIu64 " s)", views[i].node_id,
                               ps->move_step, ps->move_step_ms / 1000);
                        return;
                }
        }
}

static enum output_health output_print_cluster(const struct tkv_cluster_info *ci,
                                               const struct cli_node_view *views,
                                               const struct tkv_member_list *members)
{
        struct output_partition_view pv;
        const struct tkv_partition_info *pi;
        char replicas[64];
        char commit[160];
        char applied[160];
        char leader[16];
        char why[256];
        unsigned counts[3] = {0, 0, 0};
        unsigned down = 0;
        enum output_health worst = OUTPUT_OK, h;
        unsigned i;
        unsigned k;

        printf("cluster: %u nodes, %" PRIu32 " partitions, map epoch %" PRIu64
               " (layout from node %" PRIu32 ")\n",
               ci->n_nodes, ci->partition_count, ci->epoch, ci->node_id);
        for (i = 0; i < ci->n_nodes; i++) {
                output_print_node_line(&views[i], output_node_health(ci, views, &views[i]));
        }
        if (members != NULL) {
                printf("members (cluster map epoch %" PRIu64 "):\n", members->epoch);
                for (size_t m = 0; m < members->n_members; m++) {
                        output_print_member(&members->members[m]);
                }
        }
        printf("partitions:\n");
        for (i = 0; i < ci->n_partitions; i++) {
                pi = &ci->partitions[i];
                output_merge_partition(pi, views, ci->n_nodes, &pv);
                replicas[0] = '\0';
                for (k = 0; k < pi->n_replicas && k < 8; k++) {
                        snprintf(replicas + strlen(replicas), sizeof(replicas) - strlen(replicas),
                                 "%s%" PRIu32, k > 0 ? "," : "", pi->replicas[k]);
                }
                if (pv.leader_id != 0) {
                        /* "?": only the layout names it; no replica that
                         * answered says it leads. */
                        snprintf(leader, sizeof(leader), "%" PRIu32 "%s", pv.leader_id,
                                 pv.confirmed ? "" : "?");
                } else {
                        snprintf(leader, sizeof(leader), "-");
                }
                output_format_indexes(pi, &pv, false, commit, sizeof(commit));
                output_format_indexes(pi, &pv, true, applied, sizeof(applied));
                h = output_partition_health(pi, &pv, why, sizeof(why));
                counts[h]++;
                worst = h > worst ? h : worst;
                printf("%5" PRIu32 "  leader %-3s replicas %-8s term %-5" PRIu64
                       " commit %-24s applied %-24s ready %-3s health %s%s%s%s",
                       pi->partition, leader, replicas, pv.term, commit, applied,
                       pv.ready ? "yes" : "no", output_health_names[h], why[0] ? " (" : "", why,
                       why[0] ? ")" : "");
                if (pi->move_to != 0) {
                        printf(" moving %" PRIu32 "->%" PRIu32, pi->move_from, pi->move_to);
                        output_print_move_step(views, ci->n_nodes, pi->partition);
                }
                putchar('\n');
        }
        if (ci->metadata.n_replicas > 0) {
                replicas[0] = '\0';
                for (k = 0; k < ci->metadata.n_replicas && k < 8; k++) {
                        snprintf(replicas + strlen(replicas), sizeof(replicas) - strlen(replicas),
                                 "%s%" PRIu32, k > 0 ? "," : "", ci->metadata.replicas[k]);
                }
                printf("metadata group (%" PRIu32 "): leader %" PRIu32 " replicas %s",
                       ci->metadata.partition, ci->metadata.leader_id, replicas);
                if (ci->metadata.move_to != 0) {
                        printf(" moving %" PRIu32 "->%" PRIu32, ci->metadata.move_from,
                               ci->metadata.move_to);
                }
                putchar('\n');
        }
        for (i = 0; i < ci->n_nodes; i++) {
                /* Neither a removed member nor one still joining is down. */
                down += (views[i].status != TKV_OK || views[i].node == NULL) &&
                        views[i].state != TKV_MEMBER_REMOVED &&
                        views[i].state != TKV_MEMBER_JOINING;
        }
        printf("health: %s (%u partitions ok, %u degraded, %u unavailable; %u of %u nodes down)\n",
               output_health_names[worst], counts[OUTPUT_OK], counts[OUTPUT_DEGRADED],
               counts[OUTPUT_UNAVAILABLE], down, ci->n_nodes);
        return worst;
}

static void output_json_node_view(const struct cli_node_view *v, enum output_health h)
{
        printf("{\"node_id\":%" PRIu32 ",\"health\":\"%s\"", v->node_id, output_health_names[h]);
        output_json_text("client_addr", v->client_addr);
        if (v->state == TKV_MEMBER_JOINING || v->state == TKV_MEMBER_REMOVED) {
                printf(",\"state\":\"%s\"", output_member_state(v->state));
        }
        if (v->state == TKV_MEMBER_REMOVED) {
                printf(",\"up\":false");
        } else if (v->status != TKV_OK || v->node == NULL) {
                printf(",\"up\":false,\"error\":\"%s\"", tkv_status_name(v->status));
                output_json_text("message", output_unprefixed(v->message, "status"));
        } else {
                printf(",\"up\":true");
                output_json_text("version", v->node->version);
                printf(",\"uptime_ms\":%" PRIu64 ",\"connections\":%" PRIu32, v->node->uptime_ms,
                       v->node->connections);
        }
        putchar('}');
}

static enum output_health output_json_partition_view(const struct tkv_partition_info *pi,
                                                     const struct output_partition_view *pv)
{
        const struct tkv_partition_status *ps;
        char why[256];
        enum output_health h = output_partition_health(pi, pv, why, sizeof(why));
        unsigned i;

        printf("{\"partition\":%" PRIu32 ",\"leader_id\":%" PRIu32
               ",\"leader_confirmed\":%s,\"term\":%" PRIu64 ",\"ready\":%s,\"health\":\"%s\"",
               pi->partition, pv->leader_id, pv->confirmed ? "true" : "false", pv->term,
               pv->ready ? "true" : "false", output_health_names[h]);
        output_json_text("health_reason", why);
        printf(",\"replicas\":[");
        for (i = 0; i < pi->n_replicas && i < 8; i++) {
                printf("%s%" PRIu32, i > 0 ? "," : "", pi->replicas[i]);
        }
        printf("],\"replica_status\":[");
        for (i = 0; i < pi->n_replicas && i < 8; i++) {
                ps = pv->replica[i];
                printf("%s{\"node_id\":%" PRIu32, i > 0 ? "," : "", pi->replicas[i]);
                if (ps == NULL) {
                        printf(",\"up\":false}");
                        continue;
                }
                printf(",\"up\":true,\"role\":\"%s\",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64
                       ",\"applied_index\":%" PRIu64 ",\"last_index\":%" PRIu64 ",\"keys\":%" PRIu64
                       ",\"digest\":%" PRIu64 "}",
                       output_word_name(output_roles, ps->role), ps->term, ps->commit_index,
                       ps->applied_index, ps->last_index, ps->keys, ps->digest);
        }
        printf("]}");
        return h;
}

static enum output_health output_json_cluster(const struct tkv_cluster_info *ci,
                                              const struct cli_node_view *views,
                                              const struct tkv_member_list *members)
{
        struct output_partition_view pv;
        enum output_health worst = OUTPUT_OK, h;
        unsigned i;

        printf(",\"partition_count\":%" PRIu32 ",\"node_id\":%" PRIu32 ",\"nodes\":[",
               ci->partition_count, ci->node_id);
        for (i = 0; i < ci->n_nodes; i++) {
                printf("%s", i > 0 ? "," : "");
                output_json_node_view(&views[i], output_node_health(ci, views, &views[i]));
        }
        printf("],\"partitions\":[");
        for (i = 0; i < ci->n_partitions; i++) {
                output_merge_partition(&ci->partitions[i], views, ci->n_nodes, &pv);
                printf("%s", i > 0 ? "," : "");
                h = output_json_partition_view(&ci->partitions[i], &pv);
                worst = h > worst ? h : worst;
        }
        printf("],\"health\":\"%s\"", output_health_names[worst]);
        if (members != NULL) {
                output_json_members(members);
        }
        return worst;
}

/* status: every node, then every partition as its replicas see it, and
 * the health; the exit code says the worst (cli.h). */
int output_cluster(const struct cli_args *a, const struct tkv_cluster_info *ci,
                   const struct cli_node_view *views, const struct tkv_member_list *members)
{
        enum output_health worst;
        if (a->json) {
                output_json_open(a, TKV_OK);
                worst = output_json_cluster(ci, views, members);
                output_json_close(a, TKV_OK);
        } else {
                worst = output_print_cluster(ci, views, members);
        }
        return (int)worst;
}

/* Print ,"name":[...] of n strings. */
static void output_json_names(const char *name, char **s, size_t n)
{
        printf(",\"%s\":[", name);
        for (size_t i = 0; i < n; i++) {
                if (i > 0) {
                        putchar(',');
                }
                output_json_string(s[i], strlen(s[i]));
        }
        putchar(']');
}

int output_user_role(const struct cli_args *a, const struct tkv_user_role_result *r)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"op\":\"%s\"", a->operands[0]);
                output_json_names("names", r->names, r->n_names);
                output_json_names("roles", r->roles, r->n_roles);
                printf(",\"grants\":[");
                for (size_t i = 0; i < r->n_grants; i++) {
                        printf("%s{\"permission\":\"%s\"", i > 0 ? "," : "",
                               r->grants[i].permission);
                        output_json_bytes("prefix", r->grants[i].prefix, r->grants[i].prefix_len);
                        putchar('}');
                }
                putchar(']');
                output_json_close(a, TKV_OK);
                return output_exit(a, TKV_OK);
        }
        for (size_t i = 0; i < r->n_names; i++) {
                printf("%s\n", r->names[i]);
        }
        for (size_t i = 0; i < r->n_roles; i++) {
                printf("%s\n", r->roles[i]);
        }
        for (size_t i = 0; i < r->n_grants; i++) {
                printf("%s ", r->grants[i].permission);
                if (r->grants[i].prefix_len == 0) {
                        printf("(every key)\n");
                } else {
                        fwrite(r->grants[i].prefix, 1, r->grants[i].prefix_len, stdout);
                        putchar('\n');
                }
        }
        return output_exit(a, TKV_OK);
}

int output_members(const struct cli_args *a, const struct tkv_member_list *l)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"node_id\":%" PRIu32, l->node_id);
                output_json_members(l);
                output_json_close(a, TKV_OK);
                return output_exit(a, TKV_OK);
        }
        printf("cluster map epoch %" PRIu64 " (from node %" PRIu32 "), %zu members\n", l->epoch,
               l->node_id, l->n_members);
        for (size_t i = 0; i < l->n_members; i++) {
                output_print_member(&l->members[i]);
        }
        return output_exit(a, TKV_OK);
}

int output_transferred(const struct cli_args *a, uint32_t partition, uint32_t node_id)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"partition\":%" PRIu32 ",\"leader_id\":%" PRIu32, partition, node_id);
                output_json_close(a, TKV_OK);
        } else {
                printf("partition %" PRIu32 ": node %" PRIu32 " leads\n", partition, node_id);
        }
        return output_exit(a, TKV_OK);
}

int output_moved(const struct cli_args *a, uint32_t partition, uint32_t from, uint32_t to)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"partition\":%" PRIu32 ",\"from\":%" PRIu32 ",\"to\":%" PRIu32, partition,
                       from, to);
                output_json_close(a, TKV_OK);
        } else {
                printf("partition %" PRIu32 " moved from node %" PRIu32 " to node %" PRIu32 "\n",
                       partition, from, to);
        }
        return output_exit(a, TKV_OK);
}

int output_member_changed(const struct cli_args *a, const char *verb, uint32_t node_id,
                          uint64_t epoch)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"node_id\":%" PRIu32 ",\"epoch\":%" PRIu64, node_id, epoch);
                output_json_close(a, TKV_OK);
        } else {
                printf("node %" PRIu32 " %s: cluster map epoch %" PRIu64 "\n", node_id, verb,
                       epoch);
        }
        return output_exit(a, TKV_OK);
}

int output_lease(const struct cli_args *a, const char *verb, const struct tkv_lease *l)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"verb\":\"%s\",\"id\":%" PRIu64 ",\"ttl_ms\":%" PRIu64
                       ",\"remaining_ms\":%" PRId64 ",\"partition\":%" PRIu32
                       ",\"n_keys\":%" PRIu32,
                       verb, l->id, l->ttl_ms, l->remaining_ms, l->partition, l->n_keys);
                if (l->n_keys_listed > 0) {
                        printf(",\"keys\":[");
                        for (uint32_t i = 0; i < l->n_keys_listed; i++) {
                                printf("%s", i > 0 ? "," : "");
                                output_json_string(l->keys[i], l->key_lens[i]);
                        }
                        printf("]");
                }
                output_json_close(a, TKV_OK);
                return output_exit(a, TKV_OK);
        }
        printf("lease %" PRIu64 " %s: ttl %" PRIu64 " ms, remaining %" PRId64
               " ms, partition %" PRIu32 "\n",
               l->id, verb, l->ttl_ms, l->remaining_ms, l->partition);
        for (uint32_t i = 0; i < l->n_keys_listed; i++) {
                printf("%.*s\n", (int)l->key_lens[i], (const char *)l->keys[i]);
        }
        return output_exit(a, TKV_OK);
}

int output_leases(const struct cli_args *a, const struct tkv_lease *l, size_t n)
{
        if (a->json) {
                output_json_open(a, TKV_OK);
                printf(",\"leases\":[");
                for (size_t i = 0; i < n; i++) {
                        printf("%s{\"id\":%" PRIu64 ",\"ttl_ms\":%" PRIu64
                               ",\"remaining_ms\":%" PRId64 ",\"partition\":%" PRIu32
                               ",\"keys\":%" PRIu32 "}",
                               i > 0 ? "," : "", l[i].id, l[i].ttl_ms, l[i].remaining_ms,
                               l[i].partition, l[i].n_keys);
                }
                printf("]");
                output_json_close(a, TKV_OK);
                return output_exit(a, TKV_OK);
        }
        for (size_t i = 0; i < n; i++) {
                printf("%" PRIu64 " partition %" PRIu32 " ttl %" PRIu64 " ms remaining %" PRId64
                       " ms keys %" PRIu32 "\n",
                       l[i].id, l[i].partition, l[i].ttl_ms, l[i].remaining_ms, l[i].n_keys);
        }
        return output_exit(a, TKV_OK);
}
