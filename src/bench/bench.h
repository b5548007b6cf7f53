/* tunekv-bench: what the command line asks for (struct bench_config, filled
 * by tunekv_bench.c), what a run measured (struct bench_result, filled by
 * run.c) and how it is printed (report.c). The tool uses libtunekv only
 * through include/tunekv.h. */
#ifndef TKV_BENCH_H
#define TKV_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "procstat.h"
#include "tunekv.h"

enum bench_exit {
        BENCH_EXIT_OK = 0,      /* the run completed, request errors or not */
        BENCH_EXIT_CONNECT = 1, /* no request got an answer from any node */
        BENCH_EXIT_USAGE = 2,
};

enum bench_op {
        BENCH_OP_PUT,
        BENCH_OP_GET,
        BENCH_OP_CAS,
        BENCH_OP_DELETE,
        BENCH_OP_MGET, /* tkv_get_many of mget_keys random keys */
        BENCH_OP_TXN,  /* 2 compares and 2 puts on "{KEY}:a", "{KEY}:b" */
        BENCH_OP_SCAN, /* tkv_scan of the 100 keys KEY's name less its last 2 digits begins */
        BENCH_OP_COUNT
};

#define BENCH_MGET_KEYS_MAX 64

/* Error counters are indexed by slot, not by code: server statuses are
 * 0..15, client conditions 100..115 (tunekv.h); anything else shares the
 * last slot. run_status_slot() and run_status_code() convert. */
#define BENCH_STATUS_SLOTS 33

#define BENCH_ERROR_BYTES 256

struct bench_config {
        char *endpoints;        /* owned; what each client is given */
        struct tkv_options tls; /* only its tls fields: --cacert, --cert, --key, --tls */
        const char *target;     /* "all" or "node:N", as given */
        unsigned inflight;      /* requests outstanding, over all clients */
        unsigned clients;       /* struct tkv_client objects */
        double duration_s;      /* measured window when requests == 0 */
        uint64_t requests;      /* > 0: measure exactly this many requests */
        double warmup_s;        /* load before the window, not reported */
        unsigned mix_pct[BENCH_OP_COUNT];
        size_t value_bytes;              /* --value-size */
        unsigned mget_keys;              /* --mget-keys: keys of each mget */
        uint32_t keys;                   /* key space: key-00000000 .. */
        bool tagged_prefixes;            /* names {key-NNNNNN}NN: a prefix's 100 keys share a tag */
        bool zipf;                       /* else uniform */
        double zipf_s;                   /* Zipf exponent */
        bool preload;                    /* write every key once before warm-up */
        struct tkv_read_options read;    /* for every GET */
        const char *consistency;         /* level name, for the report */
        unsigned timeout_ms;             /* per request, retries included; 0: library default */
        uint64_t seed;                   /* keys, operations and value bytes */
        bool quiet;                      /* no progress lines */
        bool json;                       /* JSON lines on stdout, table on stderr */
        const char *meta;                /* JSON object merged into each JSON line */
        int cpu_pids[PROCSTAT_PIDS_MAX]; /* server processes to account */
        unsigned n_cpu_pids;
        const char *user;    /* --user: AUTH as this user; NULL: none */
        const char *zone;    /* --zone: the clients' zone; NULL: $TKV_ZONE or none */
        char password[1025]; /* --password-file's first line, or $TUNEKV_PASSWORD */
        bool password_set;   /* --password-file was given */
};

/* Outcomes of one operation type in the measured window, counted for
 * requests that started inside it (the anchors' rule). */
struct bench_stats {
        struct hist lat; /* normal outcomes only, like the anchors */
        uint64_t ok;
        uint64_t not_found;        /* GET and DELETE of a missing key: normal */
        uint64_t condition_failed; /* CAS whose version did not match: normal */
        uint64_t errors[BENCH_STATUS_SLOTS];
        uint64_t errors_total;
        char first_error[BENCH_ERROR_BYTES]; /* "STATUS: message"; "" if none */
};

struct bench_result {
        struct bench_stats op[BENCH_OP_COUNT];
        double duration_s;                      /* measured window, wall clock */
        char first_error[BENCH_ERROR_BYTES];    /* "op: STATUS: message"; "" if none */
        double loadgen_cpu_s;                   /* this process, over the window */
        double server_cpu_s[PROCSTAT_PIDS_MAX]; /* < 0: could not be read */
        unsigned abandoned;                     /* still in flight when the run gave up */
};

/* run.c: the closed loop. Fills *out and returns a bench_exit code. */
int run_bench(const struct bench_config *cfg, struct bench_result *out);
unsigned run_status_slot(int code);
int run_status_code(unsigned slot);
const char *run_op_name(enum bench_op op);

/* report.c: the final report. */
void report_human(FILE *f, const struct bench_config *cfg, const struct bench_result *res);
void report_json(FILE *f, const struct bench_config *cfg, const struct bench_result *res);

#endif
