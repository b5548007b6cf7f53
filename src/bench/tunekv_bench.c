/* tunekv-bench: closed-loop load generator for tunekv, built on libtunekv's
 * non-blocking API (include/tunekv.h only).
 *
 * This file turns the command line into a struct bench_config (options are
 * one table, bench_opts[], which also writes --help), runs it (run.c) and
 * prints the report (report.c). Exit codes: 0 when the run completed, even
 * with request errors; 1 when nothing could be reached; 2 on usage errors.
 *
 * The cells and output fields mirror the etcd/redis anchors
 * (/work/shared/bench-anchors): same key count, value size, warm-up and
 * latency summary, so one summarizer reads all three. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keys.h"

#define BENCH_ENDPOINTS_DEFAULT "127.0.0.1:7001"
#define BENCH_INFLIGHT_MAX      (1u << 20) /* the library's pending bound */
#define BENCH_VALUE_BYTES_MAX   (64u << 20)

/* Options without a short form. */
enum {
        OPT_ENDPOINTS = 256,
        OPT_TLS,
        OPT_CACERT,
        OPT_CERT,
        OPT_KEY,
        OPT_TARGET,
        OPT_CLIENTS,
        OPT_WARMUP,
        OPT_MIX,
        OPT_VALUE_SIZE,
        OPT_MGET_KEYS,
        OPT_KEYS,
        OPT_KEY_DIST,
        OPT_TAGGED_PREFIXES,
        OPT_ZIPF_S,
        OPT_PRELOAD,
        OPT_CONSISTENCY,
        OPT_MAX_STALENESS,
        OPT_MAX_LAG,
        OPT_ROUTE,
        OPT_ON_UNMET,
        OPT_STRICT,
        OPT_TIMEOUT,
        OPT_JSON,
        OPT_SEED,
        OPT_META,
        OPT_CPU_PIDS,
        OPT_USER,
        OPT_PASSWORD_FILE,
        OPT_ZONE,
};

/* One command-line option: getopt_long's entry and its --help line. */
struct bench_opt {
        const char *name;
        int val;         /* short option character or OPT_* */
        const char *arg; /* argument name; NULL: a flag */
        const char *help;
};

static const struct bench_opt bench_opts[] = {
    {"endpoints", OPT_ENDPOINTS, "H:P,...",
     "cluster endpoints (default $TUNEKV_ENDPOINTS, else " BENCH_ENDPOINTS_DEFAULT ")"},
    {"cacert", OPT_CACERT, "FILE",
     "TLS: the servers' certificates must chain to the CAs in FILE (PEM)"},
    {"cert", OPT_CERT, "FILE", "TLS: our certificate, for servers that require one"},
    {"key", OPT_KEY, "FILE", "TLS: the key of --cert"},
    {"tls", OPT_TLS, NULL, "TLS with the system's CAs"},
    {"user", OPT_USER, "NAME", "AUTH as NAME on every connection (clusters with [auth] enabled)"},
    {"password-file", OPT_PASSWORD_FILE, "FILE",
     "NAME's password: FILE's first line (default $TUNEKV_PASSWORD)"},
    {"target", OPT_TARGET, "all|node:N",
     "all: one client over the whole cluster (libtunekv routes each key to its leader); "
     "node:N: the Nth listed endpoint (1-based) as the only endpoint (default all)"},
    {"inflight", 'c', "N", "requests outstanding at all times, closed loop (default 1)"},
    {"clients", OPT_CLIENTS, "K",
     "libtunekv clients (own connections each) sharing --inflight round-robin (default 1)"},
    {"duration", 'd', "SECONDS", "measured time (default 10)"},
    {"requests", 'n', "N", "measure exactly N requests instead of a duration"},
    {"warmup", OPT_WARMUP, "SECONDS", "load before measuring, not reported (default 2)"},
    {"mix", OPT_MIX, "put=P,get=G,cas=C,del=D,mget=M,txn=T,scan=S",
     "operation mix in percent, adding up to 100; unnamed ops are 0 (default put=50,get=50). "
     "CAS uses a random expected version: it is replicated and answers CONDITION_FAILED. "
     "mget reads --mget-keys keys at one timestamp (GET_MANY, at --consistency). "
     "TXN compares the versions of {KEY}:a and {KEY}:b and puts the value into both. "
     "scan reads the 100 keys of KEY's prefix without its last two digits, one page (SCAN, "
     "at --consistency: not linearizable)"},
    {"mget-keys", OPT_MGET_KEYS, "N", "keys of each mget, 1..64 (default 10)"},
    {"value-size", OPT_VALUE_SIZE, "BYTES", "value size for PUT and CAS (default 100)"},
    {"keys", OPT_KEYS, "N", "key space key-00000000 .. (default 10000)"},
    {"key-dist", OPT_KEY_DIST, "uniform|zipf", "key distribution (default uniform)"},
    {"tagged-prefixes", OPT_TAGGED_PREFIXES, NULL,
     "name keys {key-NNNNNN}NN instead of key-NNNNNNNN: each hundred keys of a prefix share a "
     "hash tag, so they live in one partition and scan reads one partition"},
    {"zipf-s", OPT_ZIPF_S, "S", "Zipf exponent, > 0 (default 0.99); key-00000000 is hottest"},
    {"preload", OPT_PRELOAD, NULL, "write every key once first, at the same in-flight depth"},
    {"consistency", OPT_CONSISTENCY, "LEVEL",
     "GET level: linearizable|sequential|causal|session|bounded|eventual (default linearizable)"},
    {"max-staleness-ms", OPT_MAX_STALENESS, "MS", "GET staleness bound (bounded)"},
    {"max-lag-entries", OPT_MAX_LAG, "N", "GET lag bound in log entries (bounded)"},
    {"route", OPT_ROUTE, "leader|follower|nearest|any", "where GETs may be served"},
    {"zone", OPT_ZONE, "Z",
     "the zone the clients run in (default $TKV_ZONE): nearest prefers replicas in it"},
    {"on-unmet", OPT_ON_UNMET, "wait|fail|forward|stale", "what a node does when a bound is unmet"},
    {"strict", OPT_STRICT, NULL, "GETs refuse fallbacks to another level"},
    {"timeout-ms", OPT_TIMEOUT, "MS", "per-request deadline, retries included (default 5000)"},
    {"json", OPT_JSON, NULL,
     "JSON lines on stdout (one per op, then \"op\":\"all\"); the table goes to stderr"},
    {"quiet", 'q', NULL, "no progress lines"},
    {"seed", OPT_SEED, "N", "seed for keys, operations and value bytes (default 1)"},
    {"meta", OPT_META, "JSON", "object whose fields are added to (and override) each JSON line"},
    {"cpu-pids", OPT_CPU_PIDS, "PID,...",
     "server processes whose CPU over the window is reported (cpu_pct_servers, "
     "server_cpu_us_per_op)"},
    {"help", 'h', NULL, "this text"},
};

#define BENCH_N_OPTS (sizeof(bench_opts) / sizeof(bench_opts[0]))

/* A keyword an option accepts and the value it stands for. */
struct bench_word {
        const char *name;
        int value;
};

static const struct bench_word bench_levels[] = {
    {"linearizable", TKV_LINEARIZABLE},
    {"sequential", TKV_SEQUENTIAL},
    {"causal", TKV_CAUSAL},
    {"session", TKV_SESSION},
    {"bounded", TKV_BOUNDED_STALENESS},
    {"eventual", TKV_EVENTUAL},
    {NULL, 0},
};

static const struct bench_word bench_routes[] = {
    {"leader", TKV_ROUTE_LEADER},
    {"follower", TKV_ROUTE_FOLLOWER_PREFERRED},
    {"nearest", TKV_ROUTE_NEAREST},
    {"any", TKV_ROUTE_ANY},
    {NULL, 0},
};

static const struct bench_word bench_on_unmet[] = {
    {"wait", TKV_ON_UNMET_WAIT},
    {"fail", TKV_ON_UNMET_FAIL},
    {"forward", TKV_ON_UNMET_FORWARD_LEADER},
    {"stale", TKV_ON_UNMET_SERVE_STALE_LABELLED},
    {NULL, 0},
};

static const struct bench_word bench_dists[] = {{"uniform", 0}, {"zipf", 1}, {NULL, 0}};

/* Print text indented, wrapped at words to fit 80 columns. */
static void bench_help_wrap(FILE *f, const char *text, int indent)
{
        const int width = 80 - indent;

        while (*text != '\0') {
                int len = (int)strlen(text);

                if (len > width) {
                        len = width;
                        while (len > 0 && text[len] != ' ') {
                                len--;
                        }
                        len = len > 0 ? len : width;
                }
                fprintf(f, "%*s%.*s\n", indent, "", len, text);
                text += len;
                while (*text == ' ') {
                        text++;
                }
        }
}

static void bench_help(FILE *f)
{
        fprintf(f, "usage: tunekv-bench [options]\n\n"
                   "Closed-loop load generator for tunekv. Progress each second on stderr;\n"
                   "the report on stdout. Exit: 0 run completed (even with request errors),\n"
                   "1 could not connect at all, 2 usage error.\n\n");
        for (size_t i = 0; i < BENCH_N_OPTS; i++) {
                const struct bench_opt *o = &bench_opts[i];

                if (o->val < 256) {
                        fprintf(f, "  -%c, --%s", o->val, o->name);
                } else {
                        fprintf(f, "      --%s", o->name);
                }
                fprintf(f, "%s%s\n", o->arg ? " " : "", o->arg ? o->arg : "");
                bench_help_wrap(f, o->help, 8);
        }
}

/* What parsing needs beyond the config itself. */
struct bench_cli {
        const char *endpoints; /* --endpoints, NULL if not given */
        unsigned node;         /* --target node:N; 0 = all */
        bool duration_set;
        bool help;
};

/* Print a usage error for option `opt` and return false, so that callers
 * can write `return bench_bad(...)`. */
static bool bench_bad(const char *opt, const char *why, const char *arg)
{
        fprintf(stderr, "tunekv-bench: --%s: %s%s%s%s (see --help)\n", opt, why,
                arg != NULL ? " '" : "", arg != NULL ? arg : "", arg != NULL ? "'" : "");
        return false;
}

/* --password-file: its first line, trailing whitespace dropped (as the
 * daemon reads root_password_file). */
static bool bench_password(const char *path, struct bench_config *cfg)
{
        FILE *f = fopen(path, "r");
        size_t n;

        if (f == NULL) {
                return bench_bad("password-file", "cannot open", path);
        }
        if (fgets(cfg->password, sizeof(cfg->password), f) == NULL) {
                cfg->password[0] = '\0';
        }
        fclose(f);
        n = strlen(cfg->password);
        while (n > 0 && strchr(" \t\r\n", cfg->password[n - 1]) != NULL) {
                cfg->password[--n] = '\0';
        }
        cfg->password_set = true;
        return true;
}

static bool bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
        char *end;
        unsigned long long v;

        errno = 0;
        if (*s == '-' || *s == '\0') {
                return false;
        }
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max) {
                return false;
        }
        *out = v;
        return true;
}

static bool bench_parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
        uint64_t v;

        if (!bench_parse_u64(s, min, max, &v)) {
                return false;
        }
        *out = (unsigned)v;
        return true;
}

/* A finite number in [0, 1e6], optionally followed by `unit` ("10s"). */
static bool bench_parse_double(const char *s, const char *unit, double *out)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (end == s || errno != 0 || !isfinite(v) || v < 0 || v > 1e6) {
                return false;
        }
        if (*unit != '\0' && strcmp(end, unit) == 0) {
                end += strlen(unit);
        }
        if (*end != '\0') {
                return false;
        }
        *out = v;
        return true;
}

/* Seconds: "10", "0.5" or "10s" (the anchors' spelling). */
static bool bench_parse_seconds(const char *s, double *out)
{
        return bench_parse_double(s, "s", out);
}

static bool bench_parse_word(const struct bench_word *words, const char *s, int *out)
{
        for (; words->name != NULL; words++) {
                if (strcmp(words->name, s) == 0) {
                        *out = words->value;
                        return true;
                }
        }
        return false;
}

static int bench_mix_op(const char *name, size_t len)
{
        static const struct {
                const char *name;
                enum bench_op op;
        } names[] = {{"put", BENCH_OP_PUT},    {"get", BENCH_OP_GET},       {"cas", BENCH_OP_CAS},
                     {"del", BENCH_OP_DELETE}, {"delete", BENCH_OP_DELETE}, {"txn", BENCH_OP_TXN},
                     {"mget", BENCH_OP_MGET},  {"scan", BENCH_OP_SCAN}};

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strlen(names[i].name) == len && strncmp(names[i].name, name, len) == 0) {
                        return (int)names[i].op;
                }
        }
        return -1;
}

/* "put=50,get=50,cas=0,del=0": ops not named are 0; the sum must be 100. */
static bool bench_parse_mix(const char *s, unsigned pct[BENCH_OP_COUNT])
{
        unsigned sum = 0;

        memset(pct, 0, BENCH_OP_COUNT * sizeof(pct[0]));
        while (*s != '\0') {
                const char *eq = strchr(s, '=');
                char num[16];
                size_t len;
                unsigned v;
                int op;

                if (eq == NULL || (op = bench_mix_op(s, (size_t)(eq - s))) < 0) {
                        return bench_bad("mix", "expected put=P,get=G,cas=C,del=D,txn=T, got", s);
                }
                len = strcspn(eq + 1, ",");
                if (len == 0 || len >= sizeof(num)) {
                        return bench_bad("mix", "bad percentage in", s);
                }
                memcpy(num, eq + 1, len);
                num[len] = '\0';
                if (!bench_parse_unsigned(num, 0, 100, &v)) {
                        return bench_bad("mix", "bad percentage in", s);
                }
                pct[op] = v;
                s = eq + 1 + len + (eq[1 + len] == ',');
        }
        for (unsigned i = 0; i < BENCH_OP_COUNT; i++) {
                sum += pct[i];
        }
        return sum == 100 ? true : bench_bad("mix", "percentages must add up to 100", NULL);
}

static bool bench_parse_target(const char *s, struct bench_config *cfg, struct bench_cli *cli)
{
        cfg->target = s;
        if (strcmp(s, "all") == 0) {
                cli->node = 0;
                return true;
        }
        if (strncmp(s, "node:", 5) == 0 && bench_parse_unsigned(s + 5, 1, 1024, &cli->node)) {
                return true;
        }
        return bench_bad("target", "expected all or node:N (N from 1), got", s);
}

/* Options that shape the load. Returns false after printing a usage error;
 * *known is false for options this function does not handle. */
static bool bench_apply_load(int opt, const char *arg, struct bench_config *cfg,
                             struct bench_cli *cli, bool *known)
{
        uint64_t v;
        int w;

        *known = true;
        switch (opt) {
        case OPT_ENDPOINTS:
                cli->endpoints = arg;
                return true;
        case OPT_TLS:
                cfg->tls.tls = true;
                return true;
        case OPT_CACERT:
                cfg->tls.tls_ca_file = arg;
                return true;
        case OPT_CERT:
                cfg->tls.tls_cert_file = arg;
                return true;
        case OPT_KEY:
                cfg->tls.tls_key_file = arg;
                return true;
        case OPT_USER:
                cfg->user = arg;
                return true;
        case OPT_ZONE:
                cfg->zone = arg;
                return true;
        case OPT_PASSWORD_FILE:
                return bench_password(arg, cfg);
        case OPT_TARGET:
                return bench_parse_target(arg, cfg, cli);
        case 'c':
                return bench_parse_unsigned(arg, 1, BENCH_INFLIGHT_MAX, &cfg->inflight) ||
                       bench_bad("inflight", "expected 1..1048576, got", arg);
        case OPT_CLIENTS:
                return bench_parse_unsigned(arg, 1, 4096, &cfg->clients) ||
                       bench_bad("clients", "expected 1..4096, got", arg);
        case 'd':
                cli->duration_set = true;
                return (bench_parse_seconds(arg, &cfg->duration_s) && cfg->duration_s > 0) ||
                       bench_bad("duration", "expected seconds > 0, got", arg);
        case 'n':
                return bench_parse_u64(arg, 1, UINT64_MAX, &cfg->requests) ||
                       bench_bad("requests", "expected a count >= 1, got", arg);
        case OPT_WARMUP:
                return bench_parse_seconds(arg, &cfg->warmup_s) ||
                       bench_bad("warmup", "expected seconds >= 0, got", arg);
        case OPT_MIX:
                return bench_parse_mix(arg, cfg->mix_pct);
        case OPT_MGET_KEYS:
                if (!bench_parse_unsigned(arg, 1, BENCH_MGET_KEYS_MAX, &cfg->mget_keys)) {
                        return bench_bad("mget-keys", "expected 1..64, got", arg);
                }
                return true;
        case OPT_VALUE_SIZE:
                if (!bench_parse_u64(arg, 0, BENCH_VALUE_BYTES_MAX, &v)) {
                        return bench_bad("value-size", "expected 0..67108864 bytes, got", arg);
                }
                cfg->value_bytes = (size_t)v;
                return true;
        case OPT_KEYS:
                return bench_parse_unsigned(arg, 1, UINT32_MAX, &cfg->keys) ||
                       bench_bad("keys", "expected 1..4294967295, got", arg);
        case OPT_KEY_DIST:
                if (!bench_parse_word(bench_dists, arg, &w)) {
                        return bench_bad("key-dist", "expected uniform or zipf, got", arg);
                }
                cfg->zipf = w == 1;
                return true;
        case OPT_ZIPF_S:
                return (bench_parse_double(arg, "", &cfg->zipf_s) && cfg->zipf_s > 0) ||
                       bench_bad("zipf-s", "expected a number > 0, got", arg);
        case OPT_PRELOAD:
                cfg->preload = true;
                return true;
        case OPT_TAGGED_PREFIXES:
                cfg->tagged_prefixes = true;
                return true;
        default:
                *known = false;
                return true;
        }
}

/* Read options for GETs and output options; see bench_apply_load. */
static bool bench_apply_other(int opt, const char *arg, struct bench_config *cfg,
                              struct bench_cli *cli, bool *known)
{
        int w;

        *known = true;
        switch (opt) {
        case OPT_CONSISTENCY:
                if (!bench_parse_word(bench_levels, arg, &w)) {
                        return bench_bad("consistency", "unknown level", arg);
                }
                cfg->read.level = (enum tkv_consistency)w;
                cfg->consistency = arg;
                return true;
        case OPT_MAX_STALENESS:
                return bench_parse_unsigned(arg, 0, UINT32_MAX, &cfg->read.max_staleness_ms) ||
                       bench_bad("max-staleness-ms", "expected milliseconds, got", arg);
        case OPT_MAX_LAG:
                return bench_parse_u64(arg, 0, UINT64_MAX, &cfg->read.max_lag_entries) ||
                       bench_bad("max-lag-entries", "expected a count, got", arg);
        case OPT_ROUTE:
                if (!bench_parse_word(bench_routes, arg, &w)) {
                        return bench_bad("route", "unknown route", arg);
                }
                cfg->read.route = (enum tkv_route)w;
                return true;
        case OPT_ON_UNMET:
                if (!bench_parse_word(bench_on_unmet, arg, &w)) {
                        return bench_bad("on-unmet", "unknown policy", arg);
                }
                cfg->read.on_unmet = (enum tkv_on_unmet)w;
                return true;
        case OPT_STRICT:
                cfg->read.strict = true;
                return true;
        case OPT_TIMEOUT:
                if (!bench_parse_unsigned(arg, 1, 3600000, &cfg->timeout_ms)) {
                        return bench_bad("timeout-ms", "expected 1..3600000, got", arg);
                }
                cfg->read.timeout_ms = cfg->timeout_ms;
                return true;
        case OPT_JSON:
                cfg->json = true;
                return true;
        case 'q':
                cfg->quiet = true;
                return true;
        case OPT_SEED:
                return bench_parse_u64(arg, 0, UINT64_MAX, &cfg->seed) ||
                       bench_bad("seed", "expected a number, got", arg);
        case OPT_META:
                cfg->meta = arg;
                return (strchr(arg, '{') != NULL && strrchr(arg, '}') > strchr(arg, '{')) ||
                       bench_bad("meta", "expected a JSON object, got", arg);
        case OPT_CPU_PIDS:
                return procstat_parse_pids(arg, cfg->cpu_pids, PROCSTAT_PIDS_MAX,
                                           &cfg->n_cpu_pids) ||
                       bench_bad("cpu-pids", "expected PID,PID,... (at most 16), got", arg);
        case 'h':
                cli->help = true;
                return true;
        default:
                *known = false;
                return true;
        }
}

/* The endpoint list each client gets: all of them, or with node:N only
 * the Nth. */
static bool bench_endpoints(struct bench_config *cfg, const struct bench_cli *cli)
{
        const char *list = cli->endpoints;
        const char *p;
        size_t len;

        if (list == NULL) {
                list = getenv("TUNEKV_ENDPOINTS");
        }
        if (list == NULL || *list == '\0') {
                list = BENCH_ENDPOINTS_DEFAULT;
        }
        p = list;
        for (unsigned i = 1; cli->node > 0 && i < cli->node; i++) {
                p = strchr(p, ',');
                if (p == NULL) {
                        return bench_bad("target", "no such endpoint in the list", list);
                }
                p++;
        }
        len = cli->node > 0 ? strcspn(p, ",") : strlen(p);
        if (len == 0) {
                return bench_bad("endpoints", "empty endpoint in", list);
        }
        cfg->endpoints = strndup(p, len);
        if (cfg->endpoints == NULL) {
                fprintf(stderr, "tunekv-bench: out of memory\n");
                return false;
        }
        return true;
}

static void bench_defaults(struct bench_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->target = "all";
        cfg->inflight = 1;
        cfg->clients = 1;
        cfg->duration_s = 10;
        cfg->warmup_s = 2;
        cfg->mix_pct[BENCH_OP_PUT] = 50;
        cfg->mix_pct[BENCH_OP_GET] = 50;
        cfg->mget_keys = 10;
        cfg->value_bytes = 100;
        cfg->keys = 10000;
        cfg->zipf_s = 0.99;
        cfg->consistency = "linearizable";
        cfg->seed = 1;
}

/* getopt_long's tables, built from bench_opts[]. */
static void bench_getopt_tables(struct option *longs, char *shorts, size_t shorts_len)
{
        size_t n = 0;

        for (size_t i = 0; i < BENCH_N_OPTS; i++) {
                const struct bench_opt *o = &bench_opts[i];

                longs[i] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
                                           o->val};
                if (o->val < 256 && n + 3 < shorts_len) {
                        shorts[n++] = (char)o->val;
                        if (o->arg) {
                                shorts[n++] = ':';
                        }
                }
        }
        longs[BENCH_N_OPTS] = (struct option){NULL, 0, NULL, 0};
        shorts[n] = '\0';
}

/* Fill cfg from argv. Returns BENCH_EXIT_OK to run, BENCH_EXIT_USAGE, or -1
 * when --help was printed. */
static int bench_parse(int argc, char **argv, struct bench_config *cfg)
{
        struct option longs[BENCH_N_OPTS + 1];
        char shorts[2 * BENCH_N_OPTS + 1];
        struct bench_cli cli = {0};
        bool known;
        int opt;

        bench_defaults(cfg);
        bench_getopt_tables(longs, shorts, sizeof(shorts));
        while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
                if (opt == '?') {
                        fprintf(stderr, "tunekv-bench: see --help\n");
                        return BENCH_EXIT_USAGE;
                }
                if (!bench_apply_load(opt, optarg, cfg, &cli, &known) ||
                    (!known && !bench_apply_other(opt, optarg, cfg, &cli, &known))) {
                        return BENCH_EXIT_USAGE;
                }
        }
        if (cli.help) {
                bench_help(stdout);
                return -1;
        }
        if (optind < argc) {
                fprintf(stderr, "tunekv-bench: unexpected argument '%s' (see --help)\n",
                        argv[optind]);
                return BENCH_EXIT_USAGE;
        }
        if (cli.duration_set && cfg->requests > 0) {
                bench_bad("requests", "give --duration or --requests, not both", NULL);
                return BENCH_EXIT_USAGE;
        }
        if (cfg->clients > cfg->inflight) {
                bench_bad("clients", "must not exceed --inflight", NULL);
                return BENCH_EXIT_USAGE;
        }
        return bench_endpoints(cfg, &cli) ? BENCH_EXIT_OK : BENCH_EXIT_USAGE;
}

int main(int argc, char **argv)
{
        struct bench_config cfg;
        struct bench_result *res = NULL;
        int rc = bench_parse(argc, argv, &cfg);

        if (rc != BENCH_EXIT_OK) {
                rc = rc < 0 ? BENCH_EXIT_OK : rc;
                goto cleanup;
        }
        res = calloc(1, sizeof(*res));
        if (res == NULL) {
                fprintf(stderr, "tunekv-bench: out of memory\n");
                rc = BENCH_EXIT_CONNECT;
                goto cleanup;
        }
        rc = run_bench(&cfg, res);
        if (rc != BENCH_EXIT_OK) {
                goto cleanup;
        }
        if (cfg.json) {
                report_json(stdout, &cfg, res);
                if (!cfg.quiet) {
                        report_human(stderr, &cfg, res);
                }
        } else {
                report_human(stdout, &cfg, res);
        }
cleanup:
        free(res);
        free(cfg.endpoints);
        return rc;
}
