/* tunekv: the command-line client. It uses only include/tunekv.h, like any
 * other program built on libtunekv.
 *
 * One invocation runs one command through the blocking API and reports it
 * either for people (value on stdout, errors on stderr as
 * "tunekv: get: NOT_FOUND: message") or, with --json, as exactly one JSON
 * object on stdout. The exit code says which class of outcome it was (see
 * tunekv_exit_code and --help), so scripts can tell "not there" from
 * "maybe written" from "try again".
 *
 * Each invocation is one client, so one session. --token-in loads a session
 * token saved by an earlier invocation (--token-out) before the request, so
 * that read-your-writes and causal order hold across processes: a script
 * that writes with --token-out t and reads with --token-in t at level
 * session reads its write from any replica. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunekv.h"

/* Exit codes, one per class of outcome. */
enum {
        TUNEKV_EXIT_OK = 0,
        TUNEKV_EXIT_NOT_FOUND = 1,
        TUNEKV_EXIT_CONDITION = 2,
        TUNEKV_EXIT_USAGE = 3,
        TUNEKV_EXIT_CONNECT = 4,
        TUNEKV_EXIT_UNKNOWN = 5,
        TUNEKV_EXIT_RETRY = 6,
        TUNEKV_EXIT_INVALID = 7,
        TUNEKV_EXIT_OTHER = 8,
};

/* A value read from stdin may not exceed what the library accepts. */
#define TUNEKV_STDIN_BYTES_MAX (64u << 20)
/* Room for one message about the token files. */
#define TUNEKV_TOKEN_ERR_BYTES 512

/* Long options without a short form. */
enum {
        OPT_ENDPOINTS = 256,
        OPT_JSON,
        OPT_TIMEOUT,
        OPT_VERSION,
        OPT_CONSISTENCY,
        OPT_SESSION_FLAGS,
        OPT_MIN_INDEX,
        OPT_MAX_STALENESS,
        OPT_MAX_LAG,
        OPT_ROUTE,
        OPT_ON_UNMET,
        OPT_MAX_WAIT,
        OPT_STRICT,
        OPT_ACK,
        OPT_NODE,
        OPT_TOKEN_IN,
        OPT_TOKEN_OUT,
};

/* Everything the command line asked for. */
struct tunekv_args {
        const char *endpoints; /* NULL: $TUNEKV_ENDPOINTS or the default */
        bool json;
        bool verbose;
        unsigned timeout_ms; /* 0: the library's default */
        struct tkv_read_options read;
        const char *read_flag; /* first read option given, for errors */
        struct tkv_write_options write;
        const char *write_flag; /* first write option given, for errors */
        bool node_set;          /* status --node given */
        uint32_t node_id;       /* status --node N */
        const char *token_in;   /* --token-in FILE, or NULL */
        const char *token_out;  /* --token-out FILE, or NULL */
        const char *command;    /* canonical: put, get, delete, cas, status */
        char **operands;        /* after the command */
        int n_operands;
        /* Filled once the request ran (get, put, del, cas). */
        bool have_token;                             /* token_hex holds the session token */
        char token_hex[2 * TKV_TOKEN_BYTES_MAX + 1]; /* lowercase hex; "" when empty */
        char token_error[TUNEKV_TOKEN_ERR_BYTES];    /* --token-out failed: why */
};

/* A keyword accepted by an option and the value it stands for. */
struct tunekv_word {
        const char *name;
        int value;
};

static const struct tunekv_word tunekv_levels[] = {
    {"linearizable", TKV_LINEARIZABLE},
    {"sequential", TKV_SEQUENTIAL},
    {"causal", TKV_CAUSAL},
    {"session", TKV_SESSION},
    {"bounded", TKV_BOUNDED_STALENESS},
    {"eventual", TKV_EVENTUAL},
    {NULL, 0},
};

static const struct tunekv_word tunekv_routes[] = {
    {"leader", TKV_ROUTE_LEADER},
    {"follower", TKV_ROUTE_FOLLOWER_PREFERRED},
    {"nearest", TKV_ROUTE_NEAREST},
    {"any", TKV_ROUTE_ANY},
    {NULL, 0},
};

static const struct tunekv_word tunekv_on_unmet[] = {
    {"wait", TKV_ON_UNMET_WAIT},
    {"fail", TKV_ON_UNMET_FAIL},
    {"forward", TKV_ON_UNMET_FORWARD_LEADER},
    {"stale", TKV_ON_UNMET_SERVE_STALE_LABELLED},
    {NULL, 0},
};

static const struct tunekv_word tunekv_acks[] = {
    {"committed", TKV_ACK_COMMITTED},
    {"all", TKV_ACK_ALL_REPLICAS},
    {"leader", TKV_ACK_LEADER_ACCEPTED},
    {NULL, 0},
};

static const struct tunekv_word tunekv_session_flags[] = {
    {"ryw", TKV_READ_YOUR_WRITES},
    {"mr", TKV_MONOTONIC_READS},
    {"mw", TKV_MONOTONIC_WRITES},
    {"wfr", TKV_WRITES_FOLLOW_READS},
    {NULL, 0},
};

static const struct tunekv_word tunekv_roles[] = {
    {"unavailable", TKV_ROLE_UNAVAILABLE},
    {"follower", TKV_ROLE_FOLLOWER},
    {"candidate", TKV_ROLE_CANDIDATE},
    {"leader", TKV_ROLE_LEADER},
    {NULL, 0},
};

static void tunekv_usage(FILE *f)
{
        fputs("Usage: tunekv [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Commands:\n"
              "  put KEY VALUE                      write VALUE (\"-\" reads it from stdin)\n"
              "  get KEY                            read KEY\n"
              "  del KEY | delete KEY               delete KEY\n"
              "  cas KEY EXPECTED_VERSION VALUE     write VALUE if KEY's version is\n"
              "                                     EXPECTED_VERSION (0: KEY must not exist)\n"
              "  status                             every partition (leader, replicas, term,\n"
              "                                     commit and applied index of each replica)\n"
              "                                     and every node (up or down)\n"
              "  status --node N                    node N and the partitions it hosts\n"
              "                                     (N 0: the first endpoint that answers)\n"
              "\n"
              "Options (before or after the command; \"--\" ends them):\n"
              "  --endpoints H:P[,H:P...]  nodes to try in order (default: $TUNEKV_ENDPOINTS,\n"
              "                            else 127.0.0.1:7001; IPv6 as [addr]:port)\n"
              "  --json                    print one JSON object on stdout\n"
              "  --timeout-ms N            deadline of the request (default 5000)\n"
              "  -v, --verbose             more detail (get: the read receipt; writes: the\n"
              "                            acknowledgement; both: the session token)\n"
              "  -h, --help                this text\n"
              "  --version                 print the version\n"
              "\n"
              "Read options (get):\n"
              "  --consistency LEVEL       linearizable (default), sequential, causal,\n"
              "                            session, bounded, eventual\n"
              "  --session-flags F[,F...]  ryw, mr, mw, wfr (read-your-writes, monotonic\n"
              "                            reads, monotonic writes, writes-follow-reads)\n"
              "  --min-index N             serve only at an applied index >= N\n"
              "  --max-staleness-ms N      bounded staleness: at most N ms old\n"
              "  --max-lag-entries N       bounded staleness: at most N entries behind\n"
              "  --route R                 leader (default), follower, nearest, any\n"
              "  --on-unmet A              wait (default), fail, forward, stale\n"
              "  --max-wait-ms N           how long on-unmet=wait may wait\n"
              "  --strict                  fail rather than answer weaker than asked\n"
              "  --node N                  send the read to node N (it serves it when it\n"
              "                            can, else forwards it)\n"
              "\n"
              "Write options (put, del, cas):\n"
              "  --ack A                   committed (default), all, leader\n"
              "\n"
              "Session (get, put, del, cas):\n"
              "  --token-in FILE           start from the session token in FILE\n"
              "  --token-out FILE          save the session token to FILE afterwards\n"
              "\n"
              "Writes and linearizable reads go to the leader of the key's partition; other\n"
              "reads go where --route says. On NOT_LEADER, UNAVAILABLE, NO_QUORUM, BUSY or a\n"
              "lost connection they are retried until --timeout-ms passes (a read below\n"
              "linearizable on another replica). BOUND_UNMET is reported, not retried. A\n"
              "write is applied at most once even when retried.\n"
              "\n"
              "Exit codes:\n"
              "  0  OK\n"
              "  1  NOT_FOUND\n"
              "  2  CONDITION_FAILED (cas)\n"
              "  3  usage error\n"
              "  4  cannot connect, or the connection closed (CONNECT_FAILED, CONNECTION_CLOSED)\n"
              "  5  TIMEOUT or OUTCOME_UNKNOWN (a write may or may not have happened)\n"
              "  6  retryable: NOT_LEADER, NO_QUORUM, BUSY, UNAVAILABLE, BOUND_UNMET\n"
              "  7  INVALID_ARGUMENT or TOO_LARGE\n"
              "  8  anything else (INTERNAL, PROTOCOL_ERROR, NO_MEMORY), or the request\n"
              "     succeeded but --token-out could not be written\n",
              f);
}

static int tunekv_exit_code(int status)
{
        switch (status) {
        case TKV_OK:
                return TUNEKV_EXIT_OK;
        case TKV_NOT_FOUND:
                return TUNEKV_EXIT_NOT_FOUND;
        case TKV_CONDITION_FAILED:
                return TUNEKV_EXIT_CONDITION;
        case TKV_USAGE_ERROR:
                return TUNEKV_EXIT_USAGE;
        case TKV_CONNECT_FAILED:
        case TKV_CONNECTION_CLOSED:
                return TUNEKV_EXIT_CONNECT;
        case TKV_TIMEOUT:
        case TKV_OUTCOME_UNKNOWN:
                return TUNEKV_EXIT_UNKNOWN;
        case TKV_NOT_LEADER:
        case TKV_NO_QUORUM:
        case TKV_BUSY:
        case TKV_UNAVAILABLE:
        case TKV_BOUND_UNMET:
                return TUNEKV_EXIT_RETRY;
        case TKV_INVALID_ARGUMENT:
        case TKV_TOO_LARGE:
                return TUNEKV_EXIT_INVALID;
        default:
                return TUNEKV_EXIT_OTHER;
        }
}

/* The exit code of a command that ended with status: a --token-out that
 * could not be written turns success into TUNEKV_EXIT_OTHER. */
static int tunekv_exit(const struct tunekv_args *a, int status)
{
        int code = tunekv_exit_code(status);

        return code == TUNEKV_EXIT_OK && a->token_error[0] != '\0' ? TUNEKV_EXIT_OTHER : code;
}

static const char *tunekv_word_name(const struct tunekv_word *words, int value)
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
static bool tunekv_utf8_valid(const unsigned char *s, size_t len)
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
static void tunekv_json_string(const void *data, size_t len)
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

static void tunekv_base64(const unsigned char *s, size_t len)
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
static void tunekv_json_bytes(const char *name, const void *data, size_t len)
{
        if (tunekv_utf8_valid(data, len)) {
                printf(",\"%s\":", name);
                tunekv_json_string(data, len);
        } else {
                printf(",\"%s_base64\":", name);
                tunekv_base64(data, len);
        }
}

/* Print ,"name":"text", replacing bytes that are not UTF-8 (a message from
 * a confused server must still give valid JSON). */
static void tunekv_json_text(const char *name, const char *text)
{
        const char *t = text != NULL ? text : "";

        if (tunekv_utf8_valid((const unsigned char *)t, strlen(t))) {
                printf(",\"%s\":", name);
                tunekv_json_string(t, strlen(t));
                return;
        }
        printf(",\"%s\":\"", name);
        for (; *t != '\0'; t++) {
                putchar((unsigned char)*t >= 0x80 ? '?' : *t);
        }
        putchar('"');
}

/* {"command":"get","status":"OK" ... : the start every JSON answer shares. */
static void tunekv_json_open(const struct tunekv_args *a, int status)
{
        printf("{\"command\":\"%s\",\"status\":\"%s\"", a->command != NULL ? a->command : "",
               tkv_status_name(status));
        if (a->n_operands > 0 && a->command != NULL && strcmp(a->command, "status") != 0) {
                tunekv_json_bytes("key", a->operands[0], strlen(a->operands[0]));
        }
}

/* ,"token":"..." with -v once the session token is known, and why
 * --token-out failed; then the exit code. */
static void tunekv_json_close(const struct tunekv_args *a, int status)
{
        if (a->verbose && a->have_token) {
                printf(",\"token\":\"%s\"", a->token_hex);
        }
        if (a->token_error[0] != '\0') {
                tunekv_json_text("token_out_error", a->token_error);
        }
        printf(",\"exit_code\":%d}\n", tunekv_exit(a, status));
}

/* The whole receipt on one line: what the read delivered, where. */
static void tunekv_print_receipt(FILE *f, const struct tkv_receipt *r)
{
        fprintf(f,
                "served by node %" PRIu32 " (%s), term %" PRIu64 ", applied %" PRIu64
                ", level %s, staleness ",
                r->node_id, tunekv_word_name(tunekv_roles, r->role), r->term, r->applied_index,
                tunekv_word_name(tunekv_levels, r->level));
        if (r->staleness_ms < 0) {
                fputs("unknown", f);
        } else {
                fprintf(f, "<=%" PRId64 "ms", r->staleness_ms);
        }
        fprintf(f, ", lag %" PRIu64 " entries, partition %" PRIu32 ", fallback %s, leader %s\n",
                r->lag_entries, r->partition, r->fallback ? "yes" : "no",
                r->leader_known ? "known" : "unknown");
}

static void tunekv_json_receipt(const struct tkv_receipt *r)
{
        printf(",\"receipt\":{\"node_id\":%" PRIu32 ",\"role\":\"%s\",\"term\":%" PRIu64
               ",\"applied_index\":%" PRIu64 ",\"level\":\"%s\",\"staleness_ms\":%" PRId64
               ",\"lag_entries\":%" PRIu64 ",\"fallback\":%s,\"partition\":%" PRIu32
               ",\"leader_known\":%s}",
               r->node_id, tunekv_word_name(tunekv_roles, r->role), r->term, r->applied_index,
               tunekv_word_name(tunekv_levels, r->level), r->staleness_ms, r->lag_entries,
               r->fallback ? "true" : "false", r->partition, r->leader_known ? "true" : "false");
}

/* ---- Reporting ---- */

/* The library prefixes its own messages with the operation ("get: ..."),
 * which the CLI prints already. */
static const char *tunekv_unprefixed(const char *message, const char *cmd)
{
        size_t len = strlen(cmd);

        if (strncmp(message, cmd, len) == 0 && strncmp(message + len, ": ", 2) == 0) {
                return message + len + 2;
        }
        return message;
}

/* Report a failed request (or a usage error, res NULL) and return the exit
 * code for status. */
static int tunekv_fail(const struct tunekv_args *a, int status, const char *message,
                       const struct tkv_result *res)
{
        const char *cmd = a->command != NULL ? a->command : "";

        if (a->json) {
                tunekv_json_open(a, status);
                tunekv_json_text("message", tunekv_unprefixed(message != NULL ? message : "", cmd));
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
                if (res != NULL && status == TKV_NOT_FOUND && a->verbose) {
                        tunekv_json_receipt(&res->receipt);
                }
                tunekv_json_close(a, status);
                return tunekv_exit(a, status);
        }
        if (a->command != NULL) {
                fprintf(stderr, "tunekv: %s: %s", cmd, tkv_status_name(status));
        } else {
                fprintf(stderr, "tunekv: %s", tkv_status_name(status));
        }
        if (message != NULL && message[0] != '\0') {
                fprintf(stderr, ": %s", tunekv_unprefixed(message, cmd));
        }
        if (res != NULL && status == TKV_CONDITION_FAILED) {
                fprintf(stderr, " (current version=%" PRIu64 ")", res->current_version);
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
                tunekv_print_receipt(stderr, &res->receipt);
        }
        if (a->verbose && a->have_token) {
                fprintf(stderr, "token %s\n", a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
        if (status == TKV_USAGE_ERROR && res == NULL) {
                fputs("Try 'tunekv --help'.\n", stderr);
        }
        return tunekv_exit(a, status);
}

static int tunekv_usage_error(const struct tunekv_args *a, const char *fmt, const char *arg)
{
        char msg[512];

        snprintf(msg, sizeof(msg), fmt, arg);
        return tunekv_fail(a, TKV_USAGE_ERROR, msg, NULL);
}

/* ---- Argument parsing ---- */

static int tunekv_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
        char *end = NULL;
        unsigned long long v;

        if (s[0] < '0' || s[0] > '9') {
                return -1;
        }
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max) {
                return -1;
        }
        *out = v;
        return 0;
}

static int tunekv_parse_word(const struct tunekv_word *words, const char *s, int *out)
{
        for (; words->name != NULL; words++) {
                if (strcmp(words->name, s) == 0) {
                        *out = words->value;
                        return 0;
                }
        }
        return -1;
}

/* "ryw,mr" into TKV_READ_YOUR_WRITES | TKV_MONOTONIC_READS. */
static int tunekv_parse_flags(const char *s, unsigned *out)
{
        char word[16];
        size_t len;
        int bit;

        *out = 0;
        while (*s != '\0') {
                len = strcspn(s, ",");
                if (len == 0 || len >= sizeof(word)) {
                        return -1;
                }
                memcpy(word, s, len);
                word[len] = '\0';
                if (tunekv_parse_word(tunekv_session_flags, word, &bit) != 0) {
                        return -1;
                }
                *out |= (unsigned)bit;
                s += len;
                s += *s == ',';
        }
        return 0;
}

/* Apply one read option; returns 0 or -1 for a bad value. */
static int tunekv_read_option(struct tkv_read_options *r, int opt, const char *v)
{
        uint64_t n = 0;
        int w = 0;

        switch (opt) {
        case OPT_SESSION_FLAGS:
                return tunekv_parse_flags(v, &r->session_flags);
        case OPT_MIN_INDEX:
                return tunekv_parse_u64(v, UINT64_MAX, &r->min_index);
        case OPT_MAX_LAG:
                return tunekv_parse_u64(v, UINT64_MAX, &r->max_lag_entries);
        case OPT_STRICT:
                r->strict = true;
                return 0;
        case OPT_MAX_STALENESS:
        case OPT_MAX_WAIT:
                if (tunekv_parse_u64(v, UINT_MAX, &n) != 0) {
                        return -1;
                }
                *(opt == OPT_MAX_WAIT ? &r->max_wait_ms : &r->max_staleness_ms) = (unsigned)n;
                return 0;
        case OPT_CONSISTENCY:
                if (tunekv_parse_word(tunekv_levels, v, &w) != 0) {
                        return -1;
                }
                r->level = (enum tkv_consistency)w;
                return 0;
        case OPT_ROUTE:
                if (tunekv_parse_word(tunekv_routes, v, &w) != 0) {
                        return -1;
                }
                r->route = (enum tkv_route)w;
                return 0;
        case OPT_ON_UNMET:
                if (tunekv_parse_word(tunekv_on_unmet, v, &w) != 0) {
                        return -1;
                }
                r->on_unmet = (enum tkv_on_unmet)w;
                return 0;
        }
        return -1;
}

static const struct option tunekv_options[] = {
    {"endpoints", required_argument, NULL, OPT_ENDPOINTS},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"consistency", required_argument, NULL, OPT_CONSISTENCY},
    {"session-flags", required_argument, NULL, OPT_SESSION_FLAGS},
    {"min-index", required_argument, NULL, OPT_MIN_INDEX},
    {"max-staleness-ms", required_argument, NULL, OPT_MAX_STALENESS},
    {"max-lag-entries", required_argument, NULL, OPT_MAX_LAG},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"on-unmet", required_argument, NULL, OPT_ON_UNMET},
    {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"ack", required_argument, NULL, OPT_ACK},
    {"node", required_argument, NULL, OPT_NODE},
    {"token-in", required_argument, NULL, OPT_TOKEN_IN},
    {"token-out", required_argument, NULL, OPT_TOKEN_OUT},
    {NULL, 0, NULL, 0},
};

/* Long name of option opt, for messages. */
static const char *tunekv_option_name(int opt)
{
        const struct option *o;

        for (o = tunekv_options; o->name != NULL; o++) {
                if (o->val == opt) {
                        return o->name;
                }
        }
        return "?";
}

/* Handle one option of getopt_long. Returns -1 to go on, else an exit code
 * (help and version exit 0). */
static int tunekv_option(struct tunekv_args *a, int opt, const char *v)
{
        uint64_t n = 0;
        int w = 0;

        switch (opt) {
        case OPT_ENDPOINTS:
                a->endpoints = v;
                return -1;
        case OPT_JSON:
                a->json = true;
                return -1;
        case 'v':
                a->verbose = true;
                return -1;
        case 'h':
                tunekv_usage(stdout);
                return TUNEKV_EXIT_OK;
        case OPT_VERSION:
                printf("tunekv %s\n", TKV_VERSION);
                return TUNEKV_EXIT_OK;
        case OPT_TIMEOUT:
                if (tunekv_parse_u64(v, UINT32_MAX, &n) != 0 || n == 0) {
                        return tunekv_usage_error(a,
                                                  "--timeout-ms: expected 1..4294967295, "
                                                  "got \"%s\"",
                                                  v);
                }
                a->timeout_ms = (unsigned)n;
                return -1;
        case OPT_ACK:
                if (tunekv_parse_word(tunekv_acks, v, &w) != 0) {
                        return tunekv_usage_error(a,
                                                  "--ack: expected committed, all or "
                                                  "leader, got \"%s\"",
                                                  v);
                }
                a->write.ack = (enum tkv_ack)w;
                a->write_flag = a->write_flag != NULL ? a->write_flag : "--ack";
                return -1;
        case OPT_NODE:
                if (tunekv_parse_u64(v, UINT32_MAX, &n) != 0) {
                        return tunekv_usage_error(a, "--node: expected a node id, got \"%s\"", v);
                }
                a->node_set = true;
                a->node_id = (uint32_t)n;
                return -1;
        case OPT_TOKEN_IN:
                a->token_in = v;
                return -1;
        case OPT_TOKEN_OUT:
                a->token_out = v;
                return -1;
        case '?':
                return tunekv_usage_error(a, "unknown option or missing value: %s", v);
        }
        if (tunekv_read_option(&a->read, opt, v) != 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "--%s: bad value \"%%s\"", tunekv_option_name(opt));
                return tunekv_usage_error(a, msg, v != NULL ? v : "");
        }
        a->read_flag = a->read_flag != NULL ? a->read_flag : tunekv_option_name(opt);
        return -1;
}

/* Whether argv asks for JSON; known before parsing so that even an early
 * usage error comes out as JSON. */
static bool tunekv_wants_json(int argc, char **argv)
{
        int i;

        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        return true;
                }
        }
        return false;
}

/* The canonical name of a command word, or NULL. */
static const char *tunekv_command(const char *word, int *operands)
{
        static const struct {
                const char *word;
                const char *name;
                int operands;
        } commands[] = {
            {"put", "put", 2},       {"get", "get", 1}, {"del", "delete", 1},
            {"delete", "delete", 1}, {"cas", "cas", 3}, {"status", "status", 0},
        };
        size_t i;

        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(commands[i].word, word) == 0) {
                        *operands = commands[i].operands;
                        return commands[i].name;
                }
        }
        return NULL;
}

/* Check the command, its operand count and which options it may take. */
static int tunekv_check_command(struct tunekv_args *a, char **rest, int n_rest)
{
        int want = 0;

        if (n_rest == 0) {
                return tunekv_usage_error(a, "%s", "no command (put, get, del, cas, status)");
        }
        a->command = tunekv_command(rest[0], &want);
        if (a->command == NULL) {
                return tunekv_usage_error(a, "unknown command \"%s\"", rest[0]);
        }
        a->operands = rest + 1;
        a->n_operands = n_rest - 1;
        if (a->n_operands != want) {
                return tunekv_usage_error(a, "wrong number of arguments for %s", a->command);
        }
        if (a->read_flag != NULL && strcmp(a->command, "get") != 0) {
                return tunekv_usage_error(a, "--%s applies to get only", a->read_flag);
        }
        if (a->write_flag != NULL &&
            (strcmp(a->command, "get") == 0 || strcmp(a->command, "status") == 0)) {
                return tunekv_usage_error(a, "%s applies to put, del and cas only", a->write_flag);
        }
        if (a->node_set && strcmp(a->command, "status") != 0 && strcmp(a->command, "get") != 0) {
                return tunekv_usage_error(a, "%s", "--node applies to get and status only");
        }
        if (a->node_set && strcmp(a->command, "get") == 0) {
                if (a->node_id == 0) {
                        return tunekv_usage_error(a, "%s", "get --node: expected a node id > 0");
                }
                a->read.node_id = a->node_id;
        }
        if ((a->token_in != NULL || a->token_out != NULL) && strcmp(a->command, "status") == 0) {
                return tunekv_usage_error(a, "%s",
                                          "--token-in and --token-out apply to get, put, del and "
                                          "cas only");
        }
        return -1;
}

/* Parse argv into a. Returns -1 to run the command, else an exit code. */
static int tunekv_parse_args(struct tunekv_args *a, int argc, char **argv)
{
        int opt;
        int rv;

        memset(a, 0, sizeof(*a));
        a->json = tunekv_wants_json(argc, argv);
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "vh", tunekv_options, NULL)) != -1) {
                rv = tunekv_option(a, opt, opt == '?' ? argv[optind - 1] : optarg);
                if (rv >= 0) {
                        return rv;
                }
        }
        return tunekv_check_command(a, argv + optind, argc - optind);
}

/* ---- Session token files ---- */

/* Load --token-in into the client's session. Returns -1 to go on, else
 * the exit code of the failure it reported. */
static int tunekv_token_load(struct tkv_client *c, const struct tunekv_args *a)
{
        unsigned char buf[TKV_TOKEN_BYTES_MAX + 1];
        char msg[TUNEKV_TOKEN_ERR_BYTES];
        size_t len;
        FILE *f;
        int rv;

        if (a->token_in == NULL) {
                return -1;
        }
        f = fopen(a->token_in, "rb");
        if (f == NULL) {
                snprintf(msg, sizeof(msg), "--token-in %s: %s", a->token_in, strerror(errno));
                return tunekv_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        len = fread(buf, 1, sizeof(buf), f);
        rv = ferror(f) ? -1 : 0;
        fclose(f);
        if (rv != 0 || len > TKV_TOKEN_BYTES_MAX) {
                snprintf(msg, sizeof(msg), "--token-in %s: %s", a->token_in,
                         rv != 0 ? "cannot read it" : "larger than a token can be");
                return tunekv_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        if (tkv_token_set(c, buf, len) != TKV_OK) {
                snprintf(msg, sizeof(msg), "--token-in %s: not a session token", a->token_in);
                return tunekv_fail(a, TKV_USAGE_ERROR, msg, NULL);
        }
        return -1;
}

/* Write len bytes to path through a temporary file renamed over it, so
 * that a concurrent --token-in never sees half a token. Returns 0, or -1
 * with errno set. */
static int tunekv_write_file(const char *path, const void *data, size_t len)
{
        char tmp[4096];
        FILE *f;
        bool ok;
        int saved;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= sizeof(tmp)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        f = fopen(tmp, "wb");
        if (f == NULL) {
                return -1;
        }
        ok = len == 0 || fwrite(data, 1, len, f) == len;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
                saved = errno;
                remove(tmp);
                errno = saved;
                return -1;
        }
        return 0;
}

/* After the request: the session token into a->token_hex (for -v) and
 * into --token-out; a failure to save is kept in a->token_error. */
static void tunekv_token_save(struct tkv_client *c, struct tunekv_args *a)
{
        unsigned char buf[TKV_TOKEN_BYTES_MAX];
        size_t len = tkv_token_get(c, buf, sizeof(buf));
        size_t i;

        if (len > sizeof(buf)) {
                len = 0; /* cannot happen: the library keeps tokens within the cap */
        }
        for (i = 0; i < len; i++) {
                snprintf(a->token_hex + 2 * i, 3, "%02x", buf[i]);
        }
        a->token_hex[2 * len] = '\0';
        a->have_token = true;
        if (a->token_out != NULL && tunekv_write_file(a->token_out, buf, len) != 0) {
                snprintf(a->token_error, sizeof(a->token_error), "--token-out %s: %s", a->token_out,
                         strerror(errno));
        }
}

/* ---- Commands ---- */

/* Read all of stdin into a malloc'd buffer (transferred to the caller). */
static int tunekv_read_stdin(char **out, size_t *out_len)
{
        size_t cap = 4096;
        size_t len = 0;
        size_t n;
        char *buf = malloc(cap);
        char *grown;

        while (buf != NULL) {
                n = fread(buf + len, 1, cap - len, stdin);
                len += n;
                if (n == 0) {
                        if (ferror(stdin) || len > TUNEKV_STDIN_BYTES_MAX) {
                                break;
                        }
                        *out = buf;
                        *out_len = len;
                        return 0;
                }
                if (len == cap) {
                        if (cap > TUNEKV_STDIN_BYTES_MAX) {
                                break;
                        }
                        grown = realloc(buf, cap * 2);
                        if (grown == NULL) {
                                break;
                        }
                        buf = grown;
                        cap *= 2;
                }
        }
        free(buf);
        return -1;
}

static int tunekv_cmd_get(struct tkv_client *c, struct tunekv_args *a)
{
        const char *key = a->operands[0];
        struct tkv_result res;
        int status = tkv_get(c, key, strlen(key), &a->read, &res);

        tunekv_token_save(c, a);
        if (status == TKV_OK && !res.found) {
                status = TKV_NOT_FOUND;
        }
        if (status != TKV_OK) {
                status = tunekv_fail(a, status, res.message, &res);
                tkv_result_release(&res);
                return status;
        }
        if (a->json) {
                tunekv_json_open(a, status);
                printf(",\"found\":true");
                tunekv_json_bytes("value", res.value, res.value_len);
                printf(",\"version\":%" PRIu64 ",\"create_index\":%" PRIu64
                       ",\"partition\":%" PRIu32,
                       res.mod_index, res.create_index, res.partition);
                tunekv_json_receipt(&res.receipt);
                tunekv_json_close(a, status);
        } else {
                if (res.value_len > 0) {
                        fwrite(res.value, 1, res.value_len, stdout);
                }
                printf("\nversion=%" PRIu64 " create_index=%" PRIu64 " partition=%" PRIu32 "\n",
                       res.mod_index, res.create_index, res.partition);
                if (a->verbose) {
                        tunekv_print_receipt(stdout, &res.receipt);
                        printf("token %s\n", a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
                }
        }
        tkv_result_release(&res);
        return tunekv_exit(a, status);
}

/* What a successful write reports, for people or as JSON. */
static void tunekv_report_write(const struct tunekv_args *a, const struct tkv_result *res)
{
        const char *ack = tunekv_word_name(tunekv_acks, res->ack);

        if (a->json) {
                tunekv_json_open(a, TKV_OK);
                printf(",\"version\":%" PRIu64 ",\"partition\":%" PRIu32
                       ",\"ack\":\"%s\",\"durable\":%s",
                       res->index, res->partition, ack, res->durable ? "true" : "false");
                tunekv_json_close(a, TKV_OK);
                return;
        }
        printf("OK %sversion=%" PRIu64, strcmp(a->command, "delete") == 0 ? "deleted " : "",
               res->index);
        if (a->verbose) {
                printf(" partition=%" PRIu32 " ack=%s durable=%s\ntoken %s", res->partition, ack,
                       res->durable ? "yes" : "no",
                       a->token_hex[0] != '\0' ? a->token_hex : "(empty)");
        }
        putchar('\n');
}

/* put, del and cas. */
static int tunekv_cmd_write(struct tkv_client *c, struct tunekv_args *a)
{
        const char *key = a->operands[0];
        const char *value_arg = a->operands[a->n_operands - 1];
        char *value = NULL;
        size_t value_len = 0;
        uint64_t expected = 0;
        struct tkv_result res;
        int exit_code = TUNEKV_EXIT_OK;
        int status;

        if (strcmp(a->command, "cas") == 0 &&
            tunekv_parse_u64(a->operands[1], UINT64_MAX, &expected) != 0) {
                return tunekv_usage_error(a, "cas: EXPECTED_VERSION must be a number, got \"%s\"",
                                          a->operands[1]);
        }
        if (strcmp(a->command, "delete") != 0) {
                if (strcmp(value_arg, "-") == 0) {
                        if (tunekv_read_stdin(&value, &value_len) != 0) {
                                return tunekv_usage_error(a, "%s",
                                                          "cannot read the value "
                                                          "from stdin (or it exceeds 64 MiB)");
                        }
                } else {
                        value_len = strlen(value_arg);
                }
        }
        if (strcmp(a->command, "put") == 0) {
                status = tkv_put(c, key, strlen(key), value != NULL ? value : value_arg, value_len,
                                 &a->write, &res);
        } else if (strcmp(a->command, "cas") == 0) {
                status = tkv_cas(c, key, strlen(key), expected, value != NULL ? value : value_arg,
                                 value_len, &a->write, &res);
        } else {
                status = tkv_delete(c, key, strlen(key), &a->write, &res);
        }
        free(value);
        tunekv_token_save(c, a);
        if (status != TKV_OK) {
                exit_code = tunekv_fail(a, status, res.message, &res);
        } else {
                tunekv_report_write(a, &res);
                exit_code = tunekv_exit(a, status);
        }
        tkv_result_release(&res);
        return exit_code;
}

/* "2h05m10s", or "12.3s" under a minute. */
static void tunekv_format_uptime(uint64_t ms, char *out, size_t len)
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
static void tunekv_print_reads(const struct tkv_node_status *n)
{
        bool header = false;
        unsigned i, level;

        for (i = 0; i < n->n_partitions; i++) {
                const struct tkv_partition_status *p = &n->partitions[i];
                for (level = 0; level < 6; level++) {
                        const struct tkv_level_counters *r = &p->reads[level];
                        if (r->served + r->stale_served + r->waits + r->fallbacks +
                                r->bound_unmet ==
                            0) {
                                continue;
                        }
                        if (!header) {
                                printf("\n%9s  %-13s  %10s  %10s  %10s  %10s  %11s\n", "PARTITION",
                                       "READS", "SERVED", "STALE", "WAITS", "FALLBACKS",
                                       "BOUND_UNMET");
                                header = true;
                        }
                        printf("%9" PRIu32 "  %-13s  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64
                               "  %10" PRIu64 "  %11" PRIu64 "\n",
                               p->partition, tunekv_word_name(tunekv_levels, (int)level), r->served,
                               r->stale_served, r->waits, r->fallbacks, r->bound_unmet);
                }
        }
}

static void tunekv_print_status(const struct tkv_node_status *n)
{
        const struct tkv_partition_status *p;
        char uptime[64];
        unsigned i;

        tunekv_format_uptime(n->uptime_ms, uptime, sizeof(uptime));
        printf("node %" PRIu32 "  version %s  uptime %s  connections %" PRIu32
               "  partitions %u of %" PRIu32 "\n",
               n->node_id, n->version, uptime, n->connections, n->n_partitions, n->partition_count);
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
                       p->partition, tunekv_word_name(tunekv_roles, p->role), p->leader_id, p->term,
                       p->commit_index, p->applied_index, p->last_index, p->keys, p->bytes,
                       p->ready ? "yes" : "no", p->lag_entries, stale);
        }
        tunekv_print_reads(n);
}

static void tunekv_json_partition(const struct tkv_partition_status *p)
{
        unsigned i;

        printf("{\"partition\":%" PRIu32 ",\"role\":\"%s\",\"leader_id\":%" PRIu32
               ",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64 ",\"applied_index\":%" PRIu64
               ",\"last_index\":%" PRIu64 ",\"snapshot_index\":%" PRIu64 ",\"keys\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"digest\":%" PRIu64 ",\"snapshots\":%" PRIu64
               ",\"restores\":%" PRIu64 ",\"ready\":%s,\"replicas\":[",
               p->partition, tunekv_word_name(tunekv_roles, p->role), p->leader_id, p->term,
               p->commit_index, p->applied_index, p->last_index, p->snapshot_index, p->keys,
               p->bytes, p->digest, p->snapshots, p->restores, p->ready ? "true" : "false");
        for (i = 0; i < p->n_replicas; i++) {
                printf("%s%" PRIu32, i > 0 ? "," : "", p->replicas[i]);
        }
        printf("],\"staleness_ms\":%" PRId64 ",\"lag_entries\":%" PRIu64
               ",\"leader_commit_index\":%" PRIu64 ",\"barriers\":%" PRIu64 ",\"confirms\":%" PRIu64
               ",\"confirms_failed\":%" PRIu64 ",\"reads\":{",
               p->staleness_ms, p->lag_entries, p->leader_commit_index, p->barriers, p->confirms,
               p->confirms_failed);
        for (i = 0; i < 6; i++) {
                const struct tkv_level_counters *r = &p->reads[i];
                printf("%s\"%s\":{\"served\":%" PRIu64 ",\"stale_served\":%" PRIu64
                       ",\"waits\":%" PRIu64 ",\"fallbacks\":%" PRIu64 ",\"bound_unmet\":%" PRIu64
                       "}",
                       i > 0 ? "," : "", tunekv_word_name(tunekv_levels, (int)i), r->served,
                       r->stale_served, r->waits, r->fallbacks, r->bound_unmet);
        }
        printf("}}");
}

static void tunekv_json_status(const struct tkv_node_status *n)
{
        unsigned i;

        printf(",\"node_id\":%" PRIu32, n->node_id);
        tunekv_json_text("version", n->version);
        printf(",\"uptime_ms\":%" PRIu64 ",\"connections\":%" PRIu32 ",\"loop_lag_ms\":%" PRIu32
               ",\"loop_lag_max_ms\":%" PRIu32 ",\"forwarded\":%" PRIu64,
               n->uptime_ms, n->connections, n->loop_lag_ms, n->loop_lag_max_ms, n->forwarded);
        printf(",\"partition_count\":%" PRIu32 ",\"limits\":{\"frame_bytes_max\":%" PRIu32
               ",\"key_bytes_max\":%" PRIu32 ",\"value_bytes_max\":%" PRIu32
               ",\"inflight_per_conn_max\":%" PRIu32 ",\"conns_max\":%" PRIu32
               ",\"request_timeout_ms\":%" PRIu32 ",\"request_timeout_max_ms\":%" PRIu32
               ",\"conn_output_bytes_max\":%" PRIu64 ",\"token_bytes_max\":%" PRIu32
               "},\"partitions\":[",
               n->partition_count, n->frame_bytes_max, n->key_bytes_max, n->value_bytes_max,
               n->inflight_per_conn_max, n->conns_max, n->request_timeout_ms,
               n->request_timeout_max_ms, n->conn_output_bytes_max, n->token_bytes_max);
        for (i = 0; i < n->n_partitions; i++) {
                if (i > 0) {
                        putchar(',');
                }
                tunekv_json_partition(&n->partitions[i]);
        }
        putchar(']');
}

/* status --node N: one node's own view. */
static int tunekv_cmd_node_status(struct tkv_client *c, const struct tunekv_args *a)
{
        struct tkv_result res;
        int status = tkv_status_node(c, a->node_id, &res);

        if (status != TKV_OK || res.node == NULL) {
                status = tunekv_fail(a, status != TKV_OK ? status : TKV_PROTOCOL_ERROR, res.message,
                                     &res);
                tkv_result_release(&res);
                return status;
        }
        if (a->json) {
                tunekv_json_open(a, status);
                tunekv_json_status(res.node);
                tunekv_json_close(a, status);
        } else {
                tunekv_print_status(res.node);
        }
        tkv_result_release(&res);
        return TUNEKV_EXIT_OK;
}

/* ---- status: the whole cluster ---- */

/* What STATUS of one node gave. */
struct tunekv_node_view {
        uint32_t node_id;
        const char *client_addr; /* borrowed from the cluster info */
        bool done;
        int status;                   /* TKV_OK: node is set */
        char message[256];            /* why the node is down */
        struct tkv_node_status *node; /* malloc'd copy, or NULL */
};

/* Copy a borrowed node status, with its partitions and version. */
static struct tkv_node_status *tunekv_node_dup(const struct tkv_node_status *n)
{
        size_t parts = n->n_partitions * sizeof(n->partitions[0]);
        size_t version_len = strlen(n->version != NULL ? n->version : "");
        struct tkv_node_status *copy = malloc(sizeof(*copy) + parts + version_len + 1);
        char *version;

        if (copy == NULL) {
                return NULL;
        }
        *copy = *n;
        copy->partitions = (struct tkv_partition_status *)(copy + 1);
        if (parts > 0) {
                memcpy(copy->partitions, n->partitions, parts);
        }
        version = (char *)copy->partitions + parts;
        memcpy(version, n->version != NULL ? n->version : "", version_len + 1);
        copy->version = version;
        return copy;
}

static void tunekv_node_status_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct tunekv_node_view *v = arg;

        (void)c;
        v->done = true;
        v->status = res->status;
        snprintf(v->message, sizeof(v->message), "%s", res->message);
        if (res->status == TKV_OK && res->node != NULL) {
                v->node = tunekv_node_dup(res->node);
                if (v->node == NULL) {
                        v->status = TKV_NO_MEMORY;
                        snprintf(v->message, sizeof(v->message), "out of memory");
                }
        } else if (res->status == TKV_OK) {
                v->status = TKV_PROTOCOL_ERROR;
        }
}

/* STATUS of every node of ci, in parallel. views has ci->n_nodes entries. */
static void tunekv_query_nodes(struct tkv_client *c, const struct tkv_cluster_info *ci,
                               struct tunekv_node_view *views)
{
        unsigned i;
        int rv;

        for (i = 0; i < ci->n_nodes; i++) {
                views[i].node_id = ci->nodes[i].node_id;
                views[i].client_addr = ci->nodes[i].client_addr;
                rv = tkv_status_node_async(c, views[i].node_id, tunekv_node_status_cb, &views[i]);
                if (rv != TKV_OK) {
                        views[i].done = true;
                        views[i].status = rv;
                        snprintf(views[i].message, sizeof(views[i].message), "%s", tkv_errmsg(c));
                }
        }
        while (tkv_pending(c) > 0 && tkv_poll(c, -1) >= 0) {
        }
}

/* Partition p as node view v sees it, or NULL (down, or not hosted). */
static const struct tkv_partition_status *tunekv_view_partition(const struct tunekv_node_view *v,
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

static const struct tunekv_node_view *tunekv_view_of(const struct tunekv_node_view *views,
                                                     unsigned n, uint32_t node_id)
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
struct tunekv_partition_view {
        uint32_t leader_id; /* a replica that says it leads, else the cluster info's */
        bool confirmed;     /* leader_id is a replica that says it leads */
        uint64_t term;      /* the leader's, else the highest a replica reports */
        bool ready;         /* the leader's ready flag */
        const struct tkv_partition_status *replica[8]; /* NULL: down or silent */
};

static void tunekv_merge_partition(const struct tkv_partition_info *pi,
                                   const struct tunekv_node_view *views, unsigned n_views,
                                   struct tunekv_partition_view *pv)
{
        const struct tkv_partition_status *ps;
        const struct tkv_partition_status *leader = NULL;
        unsigned i;

        memset(pv, 0, sizeof(*pv));
        pv->leader_id = pi->leader_id;
        for (i = 0; i < pi->n_replicas && i < 8; i++) {
                ps = tunekv_view_partition(tunekv_view_of(views, n_views, pi->replicas[i]),
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

/* "1:120 2:120 3:-" for the commit (or applied) index of each replica. */
static void tunekv_format_indexes(const struct tkv_partition_info *pi,
                                  const struct tunekv_partition_view *pv, bool applied, char *out,
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

static void tunekv_print_node_line(const struct tunekv_node_view *v)
{
        char uptime[64];

        if (v->status != TKV_OK || v->node == NULL) {
                printf("node %-3" PRIu32 " %-21s down  %s: %s\n", v->node_id, v->client_addr,
                       tkv_status_name(v->status), tunekv_unprefixed(v->message, "status"));
                return;
        }
        tunekv_format_uptime(v->node->uptime_ms, uptime, sizeof(uptime));
        printf("node %-3" PRIu32 " %-21s up    uptime %-10s connections %-5" PRIu32 " version %s\n",
               v->node_id, v->client_addr, uptime, v->node->connections, v->node->version);
}

static void tunekv_print_cluster(const struct tkv_cluster_info *ci,
                                 const struct tunekv_node_view *views)
{
        struct tunekv_partition_view pv;
        const struct tkv_partition_info *pi;
        char replicas[64];
        char commit[160];
        char applied[160];
        char leader[16];
        unsigned i;
        unsigned k;

        printf("cluster: %u nodes, %" PRIu32 " partitions (layout from node %" PRIu32 ")\n",
               ci->n_nodes, ci->partition_count, ci->node_id);
        for (i = 0; i < ci->n_nodes; i++) {
                tunekv_print_node_line(&views[i]);
        }
        printf("partitions:\n");
        for (i = 0; i < ci->n_partitions; i++) {
                pi = &ci->partitions[i];
                tunekv_merge_partition(pi, views, ci->n_nodes, &pv);
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
                tunekv_format_indexes(pi, &pv, false, commit, sizeof(commit));
                tunekv_format_indexes(pi, &pv, true, applied, sizeof(applied));
                printf("%5" PRIu32 "  leader %-3s replicas %-8s term %-5" PRIu64
                       " commit %-24s applied %-24s ready %s\n",
                       pi->partition, leader, replicas, pv.term, commit, applied,
                       pv.ready ? "yes" : "no");
        }
}

static void tunekv_json_node_view(const struct tunekv_node_view *v)
{
        printf("{\"node_id\":%" PRIu32, v->node_id);
        tunekv_json_text("client_addr", v->client_addr);
        if (v->status != TKV_OK || v->node == NULL) {
                printf(",\"up\":false,\"error\":\"%s\"", tkv_status_name(v->status));
                tunekv_json_text("message", tunekv_unprefixed(v->message, "status"));
        } else {
                printf(",\"up\":true");
                tunekv_json_text("version", v->node->version);
                printf(",\"uptime_ms\":%" PRIu64 ",\"connections\":%" PRIu32, v->node->uptime_ms,
                       v->node->connections);
        }
        putchar('}');
}

static void tunekv_json_partition_view(const struct tkv_partition_info *pi,
                                       const struct tunekv_partition_view *pv)
{
        const struct tkv_partition_status *ps;
        unsigned i;

        printf("{\"partition\":%" PRIu32 ",\"leader_id\":%" PRIu32
               ",\"leader_confirmed\":%s,\"term\":%" PRIu64 ",\"ready\":%s,\"replicas\":[",
               pi->partition, pv->leader_id, pv->confirmed ? "true" : "false", pv->term,
               pv->ready ? "true" : "false");
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
                       tunekv_word_name(tunekv_roles, ps->role), ps->term, ps->commit_index,
                       ps->applied_index, ps->last_index, ps->keys, ps->digest);
        }
        printf("]}");
}

static void tunekv_json_cluster(const struct tkv_cluster_info *ci,
                                const struct tunekv_node_view *views)
{
        struct tunekv_partition_view pv;
        unsigned i;

        printf(",\"partition_count\":%" PRIu32 ",\"node_id\":%" PRIu32 ",\"nodes\":[",
               ci->partition_count, ci->node_id);
        for (i = 0; i < ci->n_nodes; i++) {
                printf("%s", i > 0 ? "," : "");
                tunekv_json_node_view(&views[i]);
        }
        printf("],\"partitions\":[");
        for (i = 0; i < ci->n_partitions; i++) {
                tunekv_merge_partition(&ci->partitions[i], views, ci->n_nodes, &pv);
                printf("%s", i > 0 ? "," : "");
                tunekv_json_partition_view(&ci->partitions[i], &pv);
        }
        putchar(']');
}

/* status: CLUSTER_INFO, then STATUS of every node; a node that does not
 * answer is shown as down. */
static int tunekv_cmd_status(struct tkv_client *c, const struct tunekv_args *a)
{
        struct tunekv_node_view *views = NULL;
        struct tkv_result res;
        int status;
        unsigned i;

        if (a->node_set) {
                return tunekv_cmd_node_status(c, a);
        }
        status = tkv_cluster_info(c, &res);
        if (status != TKV_OK || res.cluster == NULL) {
                status = tunekv_fail(a, status != TKV_OK ? status : TKV_PROTOCOL_ERROR, res.message,
                                     &res);
                tkv_result_release(&res);
                return status;
        }
        views = calloc(res.cluster->n_nodes + 1, sizeof(*views));
        if (views == NULL) {
                tkv_result_release(&res);
                return tunekv_fail(a, TKV_NO_MEMORY, "out of memory", NULL);
        }
        tunekv_query_nodes(c, res.cluster, views);
        if (a->json) {
                tunekv_json_open(a, TKV_OK);
                tunekv_json_cluster(res.cluster, views);
                tunekv_json_close(a, TKV_OK);
        } else {
                tunekv_print_cluster(res.cluster, views);
        }
        for (i = 0; i < res.cluster->n_nodes; i++) {
                free(views[i].node);
        }
        free(views);
        tkv_result_release(&res);
        return TUNEKV_EXIT_OK;
}

int main(int argc, char **argv)
{
        struct tunekv_args a;
        struct tkv_options opts;
        struct tkv_client *c = NULL;
        char errbuf[512];
        int rv;

        rv = tunekv_parse_args(&a, argc, argv);
        if (rv >= 0) {
                goto cleanup;
        }
        memset(&opts, 0, sizeof(opts));
        opts.endpoints = a.endpoints;
        opts.timeout_ms = a.timeout_ms;
        rv = tkv_client_create(&opts, &c, errbuf, sizeof(errbuf));
        if (rv != TKV_OK) {
                rv = tunekv_fail(&a, rv, errbuf, NULL);
                goto cleanup;
        }
        if (strcmp(a.command, "status") != 0) {
                rv = tunekv_token_load(c, &a);
                if (rv >= 0) {
                        goto cleanup;
                }
        }
        if (strcmp(a.command, "get") == 0) {
                rv = tunekv_cmd_get(c, &a);
        } else if (strcmp(a.command, "status") == 0) {
                rv = tunekv_cmd_status(c, &a);
        } else {
                rv = tunekv_cmd_write(c, &a);
        }
cleanup:
        tkv_client_destroy(c);
        if (a.token_error[0] != '\0' && !a.json) {
                fprintf(stderr, "tunekv: %s\n", a.token_error);
        }
        if (fflush(stdout) != 0 && rv == TUNEKV_EXIT_OK) {
                rv = TUNEKV_EXIT_OTHER;
        }
        return rv;
}
