/* tunekv-bench's closed loop: cfg->inflight requests outstanding at all
 * times, over cfg->clients libtunekv clients, through the non-blocking API.
 *
 * Normal path. Each of the cfg->inflight slots is bound to one client (slot
 * i to client i % clients) and is either in flight or on the free stack.
 * One thread loops: refill every free slot with a new request (operation
 * drawn from the mix, key from the key distribution), then wait in tkv_poll
 * (one client) or poll(2) over every client's tkv_fd (several). Completion
 * callbacks only record the outcome and push their slot back; requests are
 * issued from the loop, never from a callback, so the library is never
 * re-entered from inside tkv_poll. Each second a progress line goes to
 * stderr.
 *
 * Phases: optional preload (every key written once, then drained), warm-up
 * and the measured window. Like the etcd/redis anchors, a request counts in
 * the phase it started in, so the window holds the requests started between
 * its edges; after the window no request starts and the ones in flight
 * drain. With --requests N exactly N start in the window, and it ends when
 * the last of them completes.
 *
 * Failure modes:
 * - A request fails (TIMEOUT, BUSY, ...): counted by status, the slot is
 *   refilled. NOT_FOUND for GET/DELETE and CONDITION_FAILED for CAS are
 *   normal outcomes, not errors.
 * - The first answer of the whole run is CONNECT_FAILED: nothing can be
 *   reached, so the run stops at once (exit 1) instead of spinning through
 *   failures for its whole duration.
 * - An async call itself fails with nothing in flight: nothing will ever
 *   complete, so the run stops (exit 1).
 * - Requests still in flight a timeout after the last one started are
 *   abandoned: destroying the clients completes them, and their callbacks
 *   record nothing. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "keys.h"

/* Longest wait in poll(2) with several clients: a safety net in case a
 * client's descriptor does not wake us for some internal work. */
#define RUN_POLL_MS_MAX 10
/* Time given to requests in flight to finish, beyond their deadline. */
#define RUN_DRAIN_GRACE_MS     1000u
#define RUN_TIMEOUT_MS_DEFAULT 5000u /* the library's, when --timeout-ms is not given */
#define RUN_NS_PER_S           1000000000ull
#define RUN_NS_PER_MS          1000000ull

enum run_phase { RUN_PRELOAD, RUN_WARMUP, RUN_MEASURE, RUN_PHASES };

struct run;

struct run_slot {
        struct run *r;
        struct tkv_client *c; /* borrowed from run.clients */
        enum bench_op op;
        enum run_phase phase; /* when it started: where its outcome counts */
        uint64_t start_ns;
};

struct run {
        const struct bench_config *cfg;
        struct tkv_client **clients; /* cfg->clients */
        struct pollfd *pfds;         /* cfg->clients, for poll(2) */
        struct run_slot *slots;      /* cfg->inflight */
        unsigned *free_slots;        /* stack of slot indices */
        unsigned n_free;
        unsigned inflight;
        char *value; /* cfg->value_bytes, made once */
        struct keys_rng rng;
        struct keys_zipf zipf;
        struct tkv_write_options wopts;
        bool preloading;
        bool stopping;            /* no new requests; draining */
        bool closing;             /* clients being destroyed: record nothing */
        bool fatal;               /* stop: nothing can get through */
        bool poll_error_said;     /* a tkv_poll failure was reported */
        uint32_t preload_next;    /* next key to preload */
        uint64_t measure_started; /* requests started in the window */
        uint64_t answered;        /* completions that reached a node */
        uint64_t errors_all;      /* all phases, for progress lines */
        struct bench_stats stats[RUN_PHASES][BENCH_OP_COUNT];
        char first_error[RUN_PHASES][BENCH_ERROR_BYTES];
        uint64_t loop_start_ns; /* start of the current loop */
        uint64_t warm_end_ns;   /* window opens */
        uint64_t end_ns;        /* window closes (duration mode) */
        uint64_t drain_until_ns;
        bool window_open, window_closed;
        uint64_t window_start_ns, window_end_ns;
        double cpu0_self_s;
        double cpu0_server_s[PROCSTAT_PIDS_MAX]; /* < 0: unreadable */
        double cpu_self_s;                       /* over the window */
        double cpu_server_s[PROCSTAT_PIDS_MAX];
        uint64_t tick_start_ns, next_tick_ns;
        struct hist tick_lat; /* since the last progress line */
        uint64_t tick_ops;
};

static uint64_t run_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * RUN_NS_PER_S + (uint64_t)ts.tv_nsec;
}

const char *run_op_name(enum bench_op op)
{
        static const char *const names[BENCH_OP_COUNT] = {"put",  "get", "cas", "delete",
                                                          "mget", "txn", "scan"};

        return op < BENCH_OP_COUNT ? names[op] : "?";
}

unsigned run_status_slot(int code)
{
        if (code >= 0 && code < 16) {
                return (unsigned)code;
        }
        if (code >= 100 && code < 116) {
                return (unsigned)(code - 100 + 16);
        }
        return BENCH_STATUS_SLOTS - 1;
}

int run_status_code(unsigned slot)
{
        if (slot < 16) {
                return (int)slot;
        }
        return slot < 32 ? (int)slot - 16 + 100 : -1;
}

/* ---- Recording outcomes (from callbacks and failed calls) ---- */

static void run_count_error(struct run *r, enum run_phase phase, enum bench_op op, int code,
                            const char *msg)
{
        struct bench_stats *st = &r->stats[phase][op];

        st->errors[run_status_slot(code)]++;
        st->errors_total++;
        r->errors_all++;
        msg = msg != NULL ? msg : "";
        if (st->first_error[0] == '\0') {
                snprintf(st->first_error, BENCH_ERROR_BYTES, "%s: %s", tkv_status_name(code), msg);
        }
        if (r->first_error[phase][0] == '\0') {
                snprintf(r->first_error[phase], BENCH_ERROR_BYTES, "%s: %s: %s", run_op_name(op),
                         tkv_status_name(code), msg);
        }
}

static bool run_is_normal(enum bench_op op, int code)
{
        return code == TKV_OK ||
               (code == TKV_NOT_FOUND && (op == BENCH_OP_GET || op == BENCH_OP_DELETE)) ||
               (code == TKV_CONDITION_FAILED && op == BENCH_OP_CAS);
}

static void run_record(struct run *r, const struct run_slot *s, const struct tkv_result *res,
                       uint64_t lat_ns)
{
        struct bench_stats *st = &r->stats[s->phase][s->op];

        if (res->status != TKV_CONNECT_FAILED) {
                r->answered++;
        } else if (r->answered == 0 && !r->fatal) {
                r->fatal = true;
                fprintf(stderr, "tunekv-bench: could not connect: %s\n", res->message);
        }
        if (!run_is_normal(s->op, res->status)) {
                run_count_error(r, s->phase, s->op, res->status, res->message);
                return;
        }
        if (res->status == TKV_OK) {
                st->ok++;
        } else if (res->status == TKV_NOT_FOUND) {
                st->not_found++;
        } else {
                st->condition_failed++;
        }
        hist_record(&st->lat, lat_ns);
        hist_record(&r->tick_lat, lat_ns);
        r->tick_ops++;
}

static void run_done(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct run_slot *s = arg;
        struct run *r = s->r;

        (void)c;
        if (!r->closing) {
                run_record(r, s, res, run_now_ns() - s->start_ns);
        }
        r->free_slots[r->n_free++] = (unsigned)(s - r->slots);
        r->inflight--;
}

/* ---- Issuing requests ---- */

static enum bench_op run_pick_op(struct run *r)
{
        uint32_t roll = keys_rng_below(&r->rng, 100);
        unsigned acc = 0;

        for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
                acc += r->cfg->mix_pct[op];
                if (roll < acc) {
                        return (enum bench_op)op;
                }
        }
        return BENCH_OP_GET; /* unreachable: the mix adds up to 100 */
}

static uint32_t run_pick_key(struct run *r)
{
        if (r->cfg->zipf) {
                return keys_zipf_next(&r->zipf, &r->rng);
        }
        return keys_rng_below(&r->rng, r->cfg->keys);
}

/* The name of key index: key-NNNNNNNN, or {key-NNNNNN}NN with
 * --tagged-prefixes (keys.h). */
static size_t run_key_name(const struct run *r, char *buf, uint32_t index)
{
        return r->cfg->tagged_prefixes ? keys_name_tagged(buf, index) : keys_name(buf, index);
}

/* An mget of mget_keys keys: key and more picked like single ones (the
 * library copies them before returning). */
static int run_submit_mget(struct run *r, struct run_slot *s, const char *key, size_t key_len)
{
        char names[BENCH_MGET_KEYS_MAX][KEYS_NAME_BYTES];
        const void *keys[BENCH_MGET_KEYS_MAX];
        size_t lens[BENCH_MGET_KEYS_MAX];
        unsigned n = r->cfg->mget_keys;

        keys[0] = key;
        lens[0] = key_len;
        for (unsigned i = 1; i < n; i++) {
                lens[i] = run_key_name(r, names[i], run_pick_key(r));
                keys[i] = names[i];
        }
        return tkv_get_many_async(s->c, keys, lens, n, &r->cfg->read, run_done, s);
}

/* A TXN on the pair of keys named after key (one hash tag): if neither
 * version is 1 (always, but the server evaluates both compares), put the
 * value into both, else put it into both all the same. */
static int run_submit_txn(struct run *r, struct run_slot *s, const char *key)
{
        const struct bench_config *cfg = r->cfg;
        char a[KEYS_NAME_BYTES + 8], b[KEYS_NAME_BYTES + 8];
        struct tkv_txn *t = tkv_txn_new();
        int rv = t != NULL ? TKV_OK : TKV_NO_MEMORY;
        int na = snprintf(a, sizeof(a), "{%s}:a", key), nb = snprintf(b, sizeof(b), "{%s}:b", key);

        for (int branch = 0; rv == TKV_OK && branch < 2; branch++) {
                rv = tkv_txn_put(t, (enum tkv_txn_branch)branch, a, (size_t)na, r->value,
                                 cfg->value_bytes);
                if (rv == TKV_OK) {
                        rv = tkv_txn_put(t, (enum tkv_txn_branch)branch, b, (size_t)nb, r->value,
                                         cfg->value_bytes);
                }
        }
        if (rv == TKV_OK) {
                rv = tkv_txn_compare_version(t, a, (size_t)na, TKV_CMP_NOT_EQUAL, 1);
        }
        if (rv == TKV_OK) {
                rv = tkv_txn_compare_version(t, b, (size_t)nb, TKV_CMP_NOT_EQUAL, 1);
        }
        if (rv == TKV_OK) {
                rv = tkv_txn_commit_async(s->c, t, NULL, run_done, s); /* copies t */
        }
        tkv_txn_free(t);
        return rv;
}

/* A scan of the prefix that key's name has but for its last two digits:
 * the 100 keys key-NNNNNN00 .. key-NNNNNN99 (spread over every partition),
 * or {key-NNNNNN}00 .. 99 with --tagged-prefixes (one partition), one page
 * (limit 100). */
static int run_submit_scan(struct run *r, struct run_slot *s, const char *key, size_t key_len)
{
        struct tkv_scan scan = {0};

        scan.prefix = key;
        scan.prefix_len = key_len - 2;
        scan.limit = 100;
        return tkv_scan_async(s->c, &scan, NULL, 0, &r->cfg->read, run_done, s);
}

static int run_submit(struct run *r, struct run_slot *s, enum run_phase phase)
{
        const struct bench_config *cfg = r->cfg;
        char key[KEYS_NAME_BYTES];
        size_t key_len;
        uint64_t version;

        s->phase = phase;
        if (phase == RUN_PRELOAD) {
                s->op = BENCH_OP_PUT;
                key_len = run_key_name(r, key, r->preload_next++);
        } else {
                s->op = run_pick_op(r);
                key_len = run_key_name(r, key, run_pick_key(r));
        }
        s->start_ns = run_now_ns();
        switch (s->op) {
        case BENCH_OP_PUT:
                return tkv_put_async(s->c, key, key_len, r->value, cfg->value_bytes, &r->wopts,
                                     run_done, s);
        case BENCH_OP_GET:
                return tkv_get_async(s->c, key, key_len, &cfg->read, run_done, s);
        case BENCH_OP_MGET:
                return run_submit_mget(r, s, key, key_len);
        case BENCH_OP_CAS:
                /* A random version: the CAS is replicated and almost always
                 * answers CONDITION_FAILED, without a read before it. */
                version = (keys_rng_next(&r->rng) >> 2) | 1;
                return tkv_cas_async(s->c, key, key_len, version, r->value, cfg->value_bytes,
                                     &r->wopts, run_done, s);
        case BENCH_OP_TXN:
                return run_submit_txn(r, s, key);
        case BENCH_OP_SCAN:
                return run_submit_scan(r, s, key, key_len);
        default:
                return tkv_delete_async(s->c, key, key_len, &r->wopts, run_done, s);
        }
}

static enum run_phase run_phase_at(const struct run *r, uint64_t now)
{
        if (r->preloading) {
                return RUN_PRELOAD;
        }
        return now < r->warm_end_ns ? RUN_WARMUP : RUN_MEASURE;
}

static bool run_may_start(const struct run *r, uint64_t now)
{
        if (r->fatal) {
                return false;
        }
        if (r->preloading) {
                return r->preload_next < r->cfg->keys;
        }
        if (r->cfg->requests > 0) {
                return now < r->warm_end_ns || r->measure_started < r->cfg->requests;
        }
        return now < r->end_ns;
}

static void run_refill(struct run *r, uint64_t now)
{
        while (r->n_free > 0 && run_may_start(r, now)) {
                struct run_slot *s = &r->slots[r->free_slots[r->n_free - 1]];
                enum run_phase phase = run_phase_at(r, now);
                int rv = run_submit(r, s, phase);

                if (rv != TKV_OK) {
                        run_count_error(r, phase, s->op, rv, tkv_errmsg(s->c));
                        if (r->inflight == 0) {
                                r->fatal = true;
                                fprintf(stderr, "tunekv-bench: %s: %s\n", run_op_name(s->op),
                                        tkv_errmsg(s->c));
                        }
                        return;
                }
                r->n_free--;
                r->inflight++;
                if (phase == RUN_MEASURE) {
                        r->measure_started++;
                }
        }
}

/* ---- The measured window and CPU accounting ---- */

static void run_window_open(struct run *r, uint64_t now)
{
        const struct bench_config *cfg = r->cfg;

        r->window_open = true;
        r->window_start_ns = now;
        r->cpu0_self_s = procstat_self_cpu_s();
        for (unsigned i = 0; i < cfg->n_cpu_pids; i++) {
                if (!procstat_cpu_s(cfg->cpu_pids[i], &r->cpu0_server_s[i])) {
                        r->cpu0_server_s[i] = -1.0;
                }
        }
}

static void run_window_close(struct run *r, uint64_t now)
{
        const struct bench_config *cfg = r->cfg;
        double s;

        r->window_closed = true;
        r->window_end_ns = now;
        r->cpu_self_s = procstat_self_cpu_s() - r->cpu0_self_s;
        for (unsigned i = 0; i < cfg->n_cpu_pids; i++) {
                r->cpu_server_s[i] = -1.0;
                if (r->cpu0_server_s[i] >= 0 && procstat_cpu_s(cfg->cpu_pids[i], &s)) {
                        r->cpu_server_s[i] = s - r->cpu0_server_s[i];
                }
        }
}

static void run_edges(struct run *r, uint64_t now)
{
        if (r->preloading) {
                return;
        }
        if (!r->window_open && now >= r->warm_end_ns) {
                run_window_open(r, now);
        }
        /* With --requests the window closes when the loop ends. */
        if (r->window_open && !r->window_closed && r->cfg->requests == 0 && now >= r->end_ns) {
                run_window_close(r, now);
        }
}

/* ---- Progress lines and waiting ---- */

/* The phase of the second a progress line covers, named at its start. */
static const char *run_phase_label(const struct run *r, uint64_t since)
{
        if (r->preloading) {
                return "preload";
        }
        if (r->stopping) {
                return "drain";
        }
        return since < r->warm_end_ns ? "warmup" : "run";
}

static void run_progress(struct run *r, uint64_t now)
{
        double dt_s;

        if (now < r->next_tick_ns) {
                return;
        }
        dt_s = (double)(now - r->tick_start_ns) / 1e9;
        if (!r->cfg->quiet) {
                fprintf(stderr, "t=%.0fs %s ops/s=%.0f p50=%.3fms p99=%.3fms errors=%llu\n",
                        (double)(now - r->loop_start_ns) / 1e9,
                        run_phase_label(r, r->tick_start_ns), (double)r->tick_ops / dt_s,
                        (double)hist_percentile(&r->tick_lat, 0.5) / 1e6,
                        (double)hist_percentile(&r->tick_lat, 0.99) / 1e6,
                        (unsigned long long)r->errors_all);
        }
        hist_init(&r->tick_lat);
        r->tick_ops = 0;
        r->tick_start_ns = now;
        r->next_tick_ns += RUN_NS_PER_S;
        if (r->next_tick_ns <= now) {
                r->next_tick_ns = now + RUN_NS_PER_S;
        }
}

/* Milliseconds until the next thing the loop must do on its own: a progress
 * line, a window edge or the end of the drain. */
static int run_wait_ms(const struct run *r, uint64_t now)
{
        uint64_t until = r->next_tick_ns;

        if (!r->preloading && !r->window_open && r->warm_end_ns < until) {
                until = r->warm_end_ns;
        }
        if (r->window_open && !r->window_closed && r->cfg->requests == 0 && r->end_ns < until) {
                until = r->end_ns;
        }
        if (r->stopping && r->drain_until_ns < until) {
                until = r->drain_until_ns;
        }
        if (until <= now) {
                return 0;
        }
        return (int)((until - now + RUN_NS_PER_MS - 1) / RUN_NS_PER_MS);
}

static void run_poll_failed(struct run *r, struct tkv_client *c, int rv)
{
        /* A client-wide failure completes (or will time out) its requests,
         * which are counted then; say it once so the cause is visible. */
        if (!r->poll_error_said) {
                r->poll_error_said = true;
                fprintf(stderr, "tunekv-bench: poll: %s: %s\n", tkv_status_name(-rv),
                        tkv_errmsg(c));
        }
        if (-rv == TKV_USAGE_ERROR) {
                r->fatal = true;
        }
}

static void run_wait(struct run *r, int ms)
{
        unsigned k = r->cfg->clients;
        unsigned n = 0;
        int done = 0;
        int rv;

        if (k == 1) {
                rv = tkv_poll(r->clients[0], ms);
                if (rv < 0) {
                        run_poll_failed(r, r->clients[0], rv);
                }
                return;
        }
        for (unsigned i = 0; i < k; i++) {
                rv = tkv_poll(r->clients[i], 0);
                if (rv < 0) {
                        run_poll_failed(r, r->clients[i], rv);
                }
                done += rv > 0 ? rv : 0;
        }
        if (done > 0 || ms == 0) {
                return;
        }
        for (unsigned i = 0; i < k; i++) {
                int fd = tkv_fd(r->clients[i]);

                if (fd >= 0) {
                        r->pfds[n].fd = fd;
                        r->pfds[n].events = POLLIN;
                        n++;
                } else if (tkv_pending(r->clients[i]) > 0) {
                        ms = 1; /* work queued, nothing to wait on yet */
                }
        }
        poll(r->pfds, n, ms < RUN_POLL_MS_MAX ? ms : RUN_POLL_MS_MAX);
}

/* ---- The loop ---- */

static void run_loop(struct run *r)
{
        uint64_t now = run_now_ns();
        unsigned timeout_ms = r->cfg->timeout_ms ? r->cfg->timeout_ms : RUN_TIMEOUT_MS_DEFAULT;

        r->stopping = false;
        r->loop_start_ns = r->tick_start_ns = now;
        r->next_tick_ns = now + RUN_NS_PER_S;
        hist_init(&r->tick_lat);
        r->tick_ops = 0;
        for (;;) {
                now = run_now_ns();
                run_edges(r, now);
                run_progress(r, now);
                if (!r->stopping && !run_may_start(r, now)) {
                        r->stopping = true;
                        r->drain_until_ns =
                            now + (uint64_t)(timeout_ms + RUN_DRAIN_GRACE_MS) * RUN_NS_PER_MS;
                }
                if (!r->stopping) {
                        run_refill(r, now);
                } else if (r->inflight == 0 || now >= r->drain_until_ns) {
                        break;
                }
                run_wait(r, run_wait_ms(r, now));
        }
}

/* ---- Set-up, phases, tear-down ---- */

static int run_clients_create(struct run *r)
{
        const struct bench_config *cfg = r->cfg;
        unsigned per_client = (cfg->inflight + cfg->clients - 1) / cfg->clients;
        struct tkv_options o = cfg->tls;
        char err[BENCH_ERROR_BYTES];
        int rv;

        o.endpoints = cfg->endpoints;
        o.timeout_ms = cfg->timeout_ms;
        o.user = cfg->user;
        o.zone = cfg->zone;
        o.password = cfg->password_set || getenv("TUNEKV_PASSWORD") == NULL
                         ? cfg->password
                         : getenv("TUNEKV_PASSWORD");
        /* Only raise the library's per-connection bound (1024), so that
         * deep pipelines are not queued inside the client. */
        o.max_inflight = per_client > 1024 ? per_client : 0;
        for (unsigned i = 0; i < cfg->clients; i++) {
                rv = tkv_client_create(&o, &r->clients[i], err, sizeof(err));
                if (rv != TKV_OK) {
                        fprintf(stderr, "tunekv-bench: %s\n", err);
                        return rv == TKV_USAGE_ERROR ? BENCH_EXIT_USAGE : BENCH_EXIT_CONNECT;
                }
        }
        return BENCH_EXIT_OK;
}

static void run_destroy(struct run *r)
{
        if (r == NULL) {
                return;
        }
        /* Destroying a client completes what it still has in flight. */
        r->closing = true;
        for (unsigned i = 0; r->clients != NULL && i < r->cfg->clients; i++) {
                tkv_client_destroy(r->clients[i]);
        }
        free(r->clients);
        free(r->pfds);
        free(r->slots);
        free(r->free_slots);
        free(r->value);
        free(r);
}

static int run_create(const struct bench_config *cfg, struct run **out)
{
        struct run *r = calloc(1, sizeof(*r));

        *out = r;
        if (r == NULL) {
                return BENCH_EXIT_CONNECT;
        }
        r->cfg = cfg;
        r->clients = calloc(cfg->clients, sizeof(*r->clients));
        r->pfds = calloc(cfg->clients, sizeof(*r->pfds));
        r->slots = calloc(cfg->inflight, sizeof(*r->slots));
        r->free_slots = calloc(cfg->inflight, sizeof(*r->free_slots));
        r->value = malloc(cfg->value_bytes > 0 ? cfg->value_bytes : 1);
        if (r->clients == NULL || r->pfds == NULL || r->slots == NULL || r->free_slots == NULL ||
            r->value == NULL) {
                fprintf(stderr, "tunekv-bench: out of memory\n");
                return BENCH_EXIT_CONNECT;
        }
        keys_rng_seed(&r->rng, cfg->seed);
        if (cfg->zipf) {
                keys_zipf_init(&r->zipf, cfg->keys, cfg->zipf_s); /* checked by the caller */
        }
        /* Random letters: printable, and LZ4 finds nothing to shrink. */
        for (size_t i = 0; i < cfg->value_bytes; i++) {
                r->value[i] = (char)('a' + keys_rng_below(&r->rng, 26));
        }
        r->wopts.timeout_ms = cfg->timeout_ms;
        for (unsigned i = 0; i < RUN_PHASES * BENCH_OP_COUNT; i++) {
                hist_init(&r->stats[i / BENCH_OP_COUNT][i % BENCH_OP_COUNT].lat);
        }
        return run_clients_create(r);
}

static void run_slots_reset(struct run *r)
{
        r->n_free = 0;
        for (unsigned i = r->cfg->inflight; i-- > 0;) {
                r->slots[i].r = r;
                r->slots[i].c = r->clients[i % r->cfg->clients];
                r->free_slots[r->n_free++] = i;
        }
}

static uint64_t run_phase_errors(const struct run *r, enum run_phase phase)
{
        uint64_t n = 0;

        for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
                n += r->stats[phase][op].errors_total;
        }
        return n;
}

static void run_preload(struct run *r)
{
        uint64_t t0 = run_now_ns();
        double dt_s;
        uint64_t errors;

        r->preloading = true;
        run_loop(r);
        r->preloading = false;
        dt_s = (double)(run_now_ns() - t0) / 1e9;
        errors = run_phase_errors(r, RUN_PRELOAD);
        if (!r->cfg->quiet || errors > 0) {
                fprintf(stderr, "preload: %u keys in %.2f s (%.0f puts/s), %llu errors%s%s\n",
                        r->preload_next, dt_s, (double)r->preload_next / dt_s,
                        (unsigned long long)errors, errors > 0 ? "; first: " : "",
                        r->first_error[RUN_PRELOAD]);
        }
}

static void run_load(struct run *r)
{
        uint64_t now = run_now_ns();
        uint64_t errors;

        r->warm_end_ns = now + (uint64_t)(r->cfg->warmup_s * 1e9);
        r->end_ns = r->warm_end_ns + (uint64_t)(r->cfg->duration_s * 1e9);
        run_loop(r);
        now = run_now_ns();
        if (!r->window_open) {
                run_window_open(r, now);
        }
        if (!r->window_closed) {
                run_window_close(r, now);
        }
        errors = run_phase_errors(r, RUN_WARMUP);
        if (errors > 0 && !r->fatal) {
                fprintf(stderr, "warmup: %llu errors (not reported below); first: %s\n",
                        (unsigned long long)errors, r->first_error[RUN_WARMUP]);
        }
}

static void run_collect(const struct run *r, struct bench_result *out)
{
        memcpy(out->op, r->stats[RUN_MEASURE], sizeof(out->op));
        memcpy(out->first_error, r->first_error[RUN_MEASURE], sizeof(out->first_error));
        out->duration_s = (double)(r->window_end_ns - r->window_start_ns) / 1e9;
        out->loadgen_cpu_s = r->cpu_self_s;
        memcpy(out->server_cpu_s, r->cpu_server_s, sizeof(out->server_cpu_s));
        out->abandoned = r->inflight;
}

int run_bench(const struct bench_config *cfg, struct bench_result *out)
{
        struct run *r = NULL;
        int rc;

        memset(out, 0, sizeof(*out));
        rc = run_create(cfg, &r);
        if (rc != BENCH_EXIT_OK) {
                goto cleanup;
        }
        run_slots_reset(r);
        if (cfg->preload) {
                run_preload(r);
        }
        if (!r->fatal) {
                run_load(r);
        }
        if (r->fatal) {
                rc = BENCH_EXIT_CONNECT;
                goto cleanup;
        }
        run_collect(r, out);
        if (out->abandoned > 0) {
                fprintf(stderr, "tunekv-bench: %u requests still in flight were abandoned\n",
                        out->abandoned);
        }
cleanup:
        run_destroy(r);
        return rc;
}
