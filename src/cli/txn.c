/* tunekv txn: one TXN described by a JSON document on stdin
 * (docs/protocol.md §4.9), for example
 *
 *   {"compare": [{"key": "{u1}:n", "version": 7},
 *                {"key": "{u1}:lock", "exists": false}],
 *    "success": [{"put": "{u1}:n", "value": "8"}, {"get": "{u1}:n"},
 *                {"put": "{u1}:lock", "value": "me", "lease": 844424930131970}],
 *    "failure": [{"get": "{u1}:n"}]}
 *
 * A compare has "key", one target ("version", "create_index": a number;
 * "value": a string; "exists": true or false) and an optional "op" ("=",
 * "!=", "<", ">"; default "="). An op is {"put": KEY, "value": V} (with an
 * optional "lease": ID, the lease to attach the key to), {"delete": KEY}
 * or {"get": KEY}. Keys and values are JSON strings, sent as
 * their UTF-8 bytes. The parser knows only this shape: no generic JSON
 * tree, no nesting beyond it, the document at most CLI_TXN_INPUT_MAX
 * bytes, and strings decoded in place in the input buffer, so memory is
 * bounded by the input. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_TXN_INPUT_MAX (16u << 20)

/* The parser's position; err names the first thing wrong. */
struct txn_parser {
        char *start; /* the document */
        char *p;     /* next byte (the input is NUL-terminated) */
        char *end;   /* the NUL */
        char err[160];
        struct tkv_txn *t;
        struct cli_txn_op *ops; /* malloc'd: every op in document order */
        size_t n_ops, cap_ops;
};

static bool txn_fail(struct txn_parser *x, const char *what)
{
        if (x->err[0] == '\0') {
                snprintf(x->err, sizeof(x->err), "stdin: %s at byte %zu", what,
                         (size_t)(x->p - x->start));
        }
        return false;
}

static void txn_ws(struct txn_parser *x)
{
        while (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r') {
                x->p++;
        }
}

static bool txn_eat(struct txn_parser *x, char c)
{
        txn_ws(x);
        if (*x->p != c) {
                return false;
        }
        x->p++;
        return true;
}

/* Four hex digits at s into *v. */
static bool txn_hex4(const char *s, unsigned *v)
{
        *v = 0;
        for (int i = 0; i < 4; i++) {
                char c = s[i];
                unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                    : 16;
                if (d == 16) {
                        return false;
                }
                *v = *v << 4 | d;
        }
        return true;
}

/* Write code point cp as UTF-8 at *out. */
static void txn_utf8(char **out, unsigned cp)
{
        unsigned char *o = (unsigned char *)*out;
        if (cp < 0x80) {
                *o++ = (unsigned char)cp;
        } else if (cp < 0x800) {
                *o++ = (unsigned char)(0xc0 | cp >> 6);
                *o++ = (unsigned char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                *o++ = (unsigned char)(0xe0 | cp >> 12);
                *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (unsigned char)(0x80 | (cp & 0x3f));
        } else {
                *o++ = (unsigned char)(0xf0 | cp >> 18);
                *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (unsigned char)(0x80 | (cp & 0x3f));
        }
        *out = (char *)o;
}

/* One \u escape (after the u) into *out; a surrogate pair takes two. */
static bool txn_unicode(struct txn_parser *x, char **out)
{
        unsigned cp, lo;

        if (!txn_hex4(x->p, &cp)) {
                return txn_fail(x, "bad \\u escape");
        }
        x->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
                if (x->p[0] != '\\' || x->p[1] != 'u' || !txn_hex4(x->p + 2, &lo) || lo < 0xdc00 ||
                    lo > 0xdfff) {
                        return txn_fail(x, "unpaired surrogate");
                }
                x->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return txn_fail(x, "unpaired surrogate");
        }
        txn_utf8(out, cp);
        return true;
}

/* A string, decoded in place (never longer than its escaped form). */
static bool txn_string(struct txn_parser *x, const char **s, size_t *len)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        char *out;

        if (!txn_eat(x, '"')) {
                return txn_fail(x, "expected a string");
        }
        *s = out = x->p;
        while (*x->p != '"') {
                if (x->p == x->end || (unsigned char)*x->p < 0x20) {
                        return txn_fail(x, "unterminated string");
                }
                if (*x->p != '\\') {
                        *out++ = *x->p++;
                        continue;
                }
                x->p++;
                if (*x->p == 'u') {
                        x->p++;
                        if (!txn_unicode(x, &out)) {
                                return false;
                        }
                        continue;
                }
                if (*x->p == '\0' || strchr(from, *x->p) == NULL) {
                        return txn_fail(x, "bad escape");
                }
                *out++ = to[strchr(from, *x->p) - from];
                x->p++;
        }
        x->p++;
        *len = (size_t)(out - *s);
        return true;
}

static bool txn_number(struct txn_parser *x, uint64_t *v)
{
        char buf[24];
        size_t n = 0;

        txn_ws(x);
        while (*x->p >= '0' && *x->p <= '9' && n < sizeof(buf) - 1) {
                buf[n++] = *x->p++;
        }
        buf[n] = '\0';
        if (n == 0 || args_parse_u64(buf, UINT64_MAX, v) != 0) {
                return txn_fail(x, "expected a number (0 .. 2^64-1)");
        }
        return true;
}

static bool txn_bool(struct txn_parser *x, bool *v)
{
        txn_ws(x);
        if (strncmp(x->p, "true", 4) == 0 || strncmp(x->p, "false", 5) == 0) {
                *v = x->p[0] == 't';
                x->p += *v ? 4 : 5;
                return true;
        }
        return txn_fail(x, "expected true or false");
}

/* Is the member name n (len bytes) equal to word? */
static bool txn_is(const char *n, size_t len, const char *word)
{
        return len == strlen(word) && memcmp(n, word, len) == 0;
}

/* A compare's "op". */
static bool txn_op(struct txn_parser *x, enum tkv_compare_op *op)
{
        const char *s;
        size_t len;

        if (!txn_string(x, &s, &len)) {
                return false;
        }
        if (txn_is(s, len, "=") || txn_is(s, len, "==")) {
                *op = TKV_CMP_EQUAL;
        } else if (txn_is(s, len, "!=")) {
                *op = TKV_CMP_NOT_EQUAL;
        } else if (txn_is(s, len, "<")) {
                *op = TKV_CMP_LESS;
        } else if (txn_is(s, len, ">")) {
                *op = TKV_CMP_GREATER;
        } else {
                return txn_fail(x, "op must be =, !=, < or >");
        }
        return true;
}

/* What one compare object said. */
struct txn_compare {
        const char *key, *value;
        size_t key_len, value_len;
        int target; /* 0 none, 1 version, 2 create_index, 3 value, 4 exists */
        uint64_t number;
        bool exists;
        enum tkv_compare_op op;
};

/* One member of a compare object. */
static bool txn_compare_member(struct txn_parser *x, struct txn_compare *c)
{
        const char *n;
        size_t len;
        int target = 0;
        bool ok;

        if (!txn_string(x, &n, &len) || !txn_eat(x, ':')) {
                return txn_fail(x, "expected \"name\":");
        }
        if (txn_is(n, len, "key")) {
                return txn_string(x, &c->key, &c->key_len);
        }
        if (txn_is(n, len, "op")) {
                return txn_op(x, &c->op);
        }
        if (txn_is(n, len, "version") || txn_is(n, len, "create_index")) {
                target = n[0] == 'v' ? 1 : 2;
                ok = txn_number(x, &c->number);
        } else if (txn_is(n, len, "value")) {
                target = 3;
                ok = txn_string(x, &c->value, &c->value_len);
        } else if (txn_is(n, len, "exists")) {
                target = 4;
                ok = txn_bool(x, &c->exists);
        } else {
                return txn_fail(x, "a compare has key, op and one of version, create_index, "
                                   "value, exists");
        }
        if (ok && c->target != 0) {
                return txn_fail(x, "a compare has one target");
        }
        c->target = target;
        return ok;
}

/* Add compare c to the TXN. */
static bool txn_compare_add(struct txn_parser *x, const struct txn_compare *c)
{
        int rv;

        if (c->key == NULL || c->target == 0) {
                return txn_fail(x, "a compare needs a key and a target");
        }
        switch (c->target) {
        case 1:
                rv = tkv_txn_compare_version(x->t, c->key, c->key_len, c->op, c->number);
                break;
        case 2:
                rv = tkv_txn_compare_create_index(x->t, c->key, c->key_len, c->op, c->number);
                break;
        case 3:
                rv = tkv_txn_compare_value(x->t, c->key, c->key_len, c->op, c->value, c->value_len);
                break;
        default:
                if (c->op != TKV_CMP_EQUAL) {
                        return txn_fail(x, "exists compares with = only");
                }
                rv = tkv_txn_compare_exists(x->t, c->key, c->key_len, c->exists);
                break;
        }
        return rv == TKV_OK || txn_fail(x, "compare refused (empty or oversized key or value)");
}

/* "{" member ("," member)* "}", each parsed by member(x, arg). */
static bool txn_object(struct txn_parser *x, bool (*member)(struct txn_parser *, void *), void *arg)
{
        if (!txn_eat(x, '{')) {
                return txn_fail(x, "expected {");
        }
        if (txn_eat(x, '}')) {
                return true;
        }
        do {
                if (!member(x, arg)) {
                        return false;
                }
        } while (txn_eat(x, ','));
        return txn_eat(x, '}') || txn_fail(x, "expected , or }");
}

/* "[" item ("," item)* "]". */
static bool txn_array(struct txn_parser *x, bool (*item)(struct txn_parser *, void *), void *arg)
{
        if (!txn_eat(x, '[')) {
                return txn_fail(x, "expected [");
        }
        if (txn_eat(x, ']')) {
                return true;
        }
        do {
                if (!item(x, arg)) {
                        return false;
                }
        } while (txn_eat(x, ','));
        return txn_eat(x, ']') || txn_fail(x, "expected , or ]");
}

static bool txn_compare_member_cb(struct txn_parser *x, void *arg)
{
        return txn_compare_member(x, arg);
}

static bool txn_compare_item(struct txn_parser *x, void *arg)
{
        struct txn_compare c;

        (void)arg;
        memset(&c, 0, sizeof(c));
        return txn_object(x, txn_compare_member_cb, &c) && txn_compare_add(x, &c);
}

/* One member of an op object: put/delete/get KEY, or value. */
static bool txn_op_member(struct txn_parser *x, void *arg)
{
        struct cli_txn_op *o = arg;
        const char *n;
        size_t len;

        if (!txn_string(x, &n, &len) || !txn_eat(x, ':')) {
                return txn_fail(x, "expected \"name\":");
        }
        if (txn_is(n, len, "value")) {
                return txn_string(x, &o->value, &o->value_len);
        }
        if (txn_is(n, len, "lease")) {
                return txn_number(x, &o->lease);
        }
        if (o->key != NULL) {
                return txn_fail(x, "an op has one of put, delete, get");
        }
        if (txn_is(n, len, "put")) {
                o->type = TKV_TXN_PUT;
        } else if (txn_is(n, len, "delete")) {
                o->type = TKV_TXN_DELETE;
        } else if (txn_is(n, len, "get")) {
                o->type = TKV_TXN_GET;
        } else {
                return txn_fail(x, "an op is {\"put\": KEY, \"value\": V[, \"lease\": ID]}, "
                                   "{\"delete\": KEY} or {\"get\": KEY}");
        }
        return txn_string(x, &o->key, &o->key_len);
}

static bool txn_op_item(struct txn_parser *x, void *arg)
{
        enum tkv_txn_branch branch = *(enum tkv_txn_branch *)arg;
        struct cli_txn_op o, *grown;
        int rv;

        memset(&o, 0, sizeof(o));
        o.branch = branch;
        if (!txn_object(x, txn_op_member, &o)) {
                return false;
        }
        if (o.key == NULL || (o.type == TKV_TXN_PUT) != (o.value != NULL)) {
                return txn_fail(x, "an op needs a key, and a value exactly for put");
        }
        if (o.type != TKV_TXN_PUT && o.lease != 0) {
                return txn_fail(x, "a lease is for put only");
        }
        rv = o.type == TKV_TXN_PUT
                 ? tkv_txn_put_lease(x->t, branch, o.key, o.key_len, o.value, o.value_len, o.lease)
             : o.type == TKV_TXN_DELETE ? tkv_txn_delete(x->t, branch, o.key, o.key_len)
                                        : tkv_txn_get(x->t, branch, o.key, o.key_len);
        if (rv != TKV_OK) {
                return txn_fail(x, "op refused (empty or oversized key or value)");
        }
        if (x->n_ops == x->cap_ops) {
                x->cap_ops = x->cap_ops * 2 + 8;
                grown = realloc(x->ops, x->cap_ops * sizeof(*grown));
                if (grown == NULL) {
                        return txn_fail(x, "out of memory");
                }
                x->ops = grown;
        }
        x->ops[x->n_ops++] = o;
        return true;
}

/* A member of the document. */
static bool txn_doc_member(struct txn_parser *x, void *arg)
{
        enum tkv_txn_branch branch;
        const char *n;
        size_t len;

        (void)arg;
        if (!txn_string(x, &n, &len) || !txn_eat(x, ':')) {
                return txn_fail(x, "expected \"name\":");
        }
        if (txn_is(n, len, "compare")) {
                return txn_array(x, txn_compare_item, NULL);
        }
        if (!txn_is(n, len, "success") && !txn_is(n, len, "failure")) {
                return txn_fail(x, "the document has compare, success and failure only");
        }
        branch = n[0] == 's' ? TKV_TXN_SUCCESS : TKV_TXN_FAILURE;
        return txn_array(x, txn_op_item, &branch);
}

/* All of stdin, NUL-terminated, into *out (malloc'd); its length in *len.
 * Reads one byte beyond the bound, to tell a document that is too large. */
static int txn_read_stdin(char **out, size_t *len, char *err, size_t err_len)
{
        char *buf = malloc(CLI_TXN_INPUT_MAX + 2);
        size_t n = 0, got = 1;

        while (buf != NULL && got > 0 && n <= CLI_TXN_INPUT_MAX) {
                got = fread(buf + n, 1, CLI_TXN_INPUT_MAX + 1 - n, stdin);
                n += got;
        }
        if (buf == NULL || ferror(stdin) || n > CLI_TXN_INPUT_MAX) {
                snprintf(err, err_len, "stdin: %s",
                         buf == NULL     ? "out of memory"
                         : ferror(stdin) ? "read error"
                                         : "the document exceeds 16 MiB");
                free(buf);
                return TKV_USAGE_ERROR;
        }
        buf[n] = '\0';
        *out = buf;
        *len = n;
        return TKV_OK;
}

/* Parse the document into x->t and x->ops. */
static bool txn_parse(struct txn_parser *x)
{
        if (!txn_object(x, txn_doc_member, NULL)) {
                return false;
        }
        txn_ws(x);
        if (x->p != x->end) {
                return txn_fail(x, "trailing bytes after the document");
        }
        return true;
}

int txn_run(struct tkv_client *c, struct cli_args *a)
{
        struct txn_parser x;
        struct tkv_result r;
        char *doc = NULL, err[192];
        size_t len = 0;
        int rv;

        memset(&x, 0, sizeof(x));
        rv = txn_read_stdin(&doc, &len, err, sizeof(err));
        if (rv != TKV_OK) {
                return output_fail(a, rv, err, NULL);
        }
        x.start = x.p = doc;
        x.end = doc + len;
        x.t = tkv_txn_new();
        if (x.t == NULL || strlen(doc) != len) {
                snprintf(x.err, sizeof(x.err), "stdin: %s",
                         x.t == NULL ? "out of memory" : "a NUL byte in the document");
        } else {
                (void)txn_parse(&x);
        }
        if (x.err[0] != '\0') {
                rv = output_fail(a, TKV_USAGE_ERROR, x.err, NULL);
                goto cleanup;
        }
        rv = tkv_txn_commit(c, x.t, &a->write, &r);
        commands_token_save(c, a);
        if (rv != TKV_OK) {
                rv = output_fail(a, rv, r.message, &r);
        } else {
                output_txn(a, &r, x.ops, x.n_ops);
                rv = output_exit(a, r.txn_succeeded ? TKV_OK : TKV_CONDITION_FAILED);
        }
        tkv_result_release(&r);
cleanup:
        tkv_txn_free(x.t);
        free(x.ops);
        free(doc);
        return rv;
}
