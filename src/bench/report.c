/* tunekv-bench's final report: a table for people and JSON lines for
 * scripts, one per operation in the mix plus one for all of them ("op":
 * "all").
 *
 * The JSON fields follow the etcd/redis anchors (/work/shared/bench-anchors)
 * so that their summarizer reads tunekv lines too: "all" is the latency
 * summary object {count, mean_us, p50_us, p90_us, p99_us, p999_us, max_us}
 * (on a per-op line, of that op only), "errors" is a count as there, and the
 * per-status counts are in "errors_by_status". Latencies cover normal
 * outcomes only (errors such as timeouts would otherwise set p99 to the
 * deadline), as in the anchors. */
#include <inttypes.h>
#include <string.h>

#include "bench.h"

/* One line of the report: an operation, or all of them merged. */
struct report_line {
        const char *op;
        struct hist lat;
        uint64_t ops; /* normal outcomes */
        uint64_t not_found;
        uint64_t condition_failed;
        uint64_t errors[BENCH_STATUS_SLOTS];
        uint64_t errors_total;
        const char *first_error;
};

static void report_line_add(struct report_line *l, const struct bench_stats *st)
{
        hist_merge(&l->lat, &st->lat);
        l->ops += st->ok + st->not_found + st->condition_failed;
        l->not_found += st->not_found;
        l->condition_failed += st->condition_failed;
        for (unsigned i = 0; i < BENCH_STATUS_SLOTS; i++) {
                l->errors[i] += st->errors[i];
        }
        l->errors_total += st->errors_total;
}

/* Lines for the operations in the mix, then "all". Returns how many. */
static unsigned report_lines(const struct bench_config *cfg, const struct bench_result *res,
                             struct report_line *lines)
{
        unsigned n = 0;
        struct report_line *all;

        for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
                if (cfg->mix_pct[op] == 0) {
                        continue;
                }
                memset(&lines[n], 0, sizeof(lines[n]));
                hist_init(&lines[n].lat);
                lines[n].op = run_op_name((enum bench_op)op);
                report_line_add(&lines[n], &res->op[op]);
                lines[n].first_error = res->op[op].first_error;
                n++;
        }
        all = &lines[n];
        memset(all, 0, sizeof(*all));
        hist_init(&all->lat);
        all->op = "all";
        for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
                report_line_add(all, &res->op[op]);
        }
        all->first_error = res->first_error;
        return n + 1;
}

static double report_ops_per_s(const struct bench_result *res, uint64_t ops)
{
        return res->duration_s > 0 ? (double)ops / res->duration_s : 0.0;
}

static double report_server_cpu_s(const struct bench_config *cfg, const struct bench_result *res)
{
        double sum = 0;

        for (unsigned i = 0; i < cfg->n_cpu_pids; i++) {
                sum += res->server_cpu_s[i] > 0 ? res->server_cpu_s[i] : 0;
        }
        return sum;
}

/* ---- Human table ---- */

static void report_human_row(FILE *f, const struct bench_result *res, const struct report_line *l)
{
        const struct hist *h = &l->lat;

        fprintf(f, "%-7s %10" PRIu64 " %10.1f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", l->op, l->ops,
                report_ops_per_s(res, l->ops), hist_mean_ns(h) / 1e6,
                (double)hist_percentile(h, 0.50) / 1e6, (double)hist_percentile(h, 0.90) / 1e6,
                (double)hist_percentile(h, 0.99) / 1e6, (double)hist_percentile(h, 0.999) / 1e6,
                (double)h->max_ns / 1e6);
}

static void report_human_outcomes(FILE *f, const struct report_line *lines, unsigned n)
{
        for (unsigned i = 0; i + 1 < n; i++) {
                const struct report_line *l = &lines[i];

                if (l->not_found > 0) {
                        fprintf(f, "%s: not_found=%" PRIu64 " (counted as ops)\n", l->op,
                                l->not_found);
                }
                if (l->condition_failed > 0) {
                        fprintf(f, "%s: condition_failed=%" PRIu64 " (counted as ops)\n", l->op,
                                l->condition_failed);
                }
                if (l->errors_total == 0) {
                        continue;
                }
                fprintf(f, "%s errors:", l->op);
                for (unsigned s = 0; s < BENCH_STATUS_SLOTS; s++) {
                        if (l->errors[s] > 0) {
                                fprintf(f, " %s=%" PRIu64, tkv_status_name(run_status_code(s)),
                                        l->errors[s]);
                        }
                }
                fprintf(f, "\n");
        }
}

static void report_human_cpu(FILE *f, const struct bench_config *cfg,
                             const struct bench_result *res, uint64_t ops)
{
        double srv_s = report_server_cpu_s(cfg, res);
        double d = res->duration_s > 0 ? res->duration_s : 1;

        fprintf(f, "cpu: tunekv-bench %.0f%% of a core", res->loadgen_cpu_s / d * 100);
        if (ops > 0) {
                fprintf(f, " (%.1f us/op)", res->loadgen_cpu_s / (double)ops * 1e6);
        }
        if (cfg->n_cpu_pids > 0) {
                fprintf(f, "; servers %.0f%%", srv_s / d * 100);
                if (ops > 0) {
                        fprintf(f, " (%.1f us/op)", srv_s / (double)ops * 1e6);
                }
        }
        fprintf(f, "\n");
}

void report_human(FILE *f, const struct bench_config *cfg, const struct bench_result *res)
{
        struct report_line lines[BENCH_OP_COUNT + 1];
        unsigned n = report_lines(cfg, res, lines);
        const struct report_line *all = &lines[n - 1];

        fprintf(f,
                "target=%s endpoints=%s clients=%u inflight=%u keys=%u (%s) value=%zuB "
                "consistency=%s\n",
                cfg->target, cfg->endpoints, cfg->clients, cfg->inflight, cfg->keys,
                cfg->zipf ? "zipf" : "uniform", cfg->value_bytes, cfg->consistency);
        fprintf(f, "measured %.2f s: %" PRIu64 " ops, %.1f ops/s, %" PRIu64 " errors\n\n",
                res->duration_s, all->ops, report_ops_per_s(res, all->ops), all->errors_total);
        fprintf(f, "%-7s %10s %10s %8s %8s %8s %8s %8s %8s\n", "op", "count", "ops/s", "mean",
                "p50", "p90", "p99", "p99.9", "max");
        for (unsigned i = 0; i < n; i++) {
                report_human_row(f, res, &lines[i]);
        }
        fprintf(f, "(latencies in ms, of completed ops; errors not included)\n");
        report_human_outcomes(f, lines, n);
        if (res->first_error[0] != '\0') {
                fprintf(f, "first error: %s\n", res->first_error);
        }
        report_human_cpu(f, cfg, res, all->ops);
}

/* ---- JSON lines ---- */

static void report_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s != '\0'; s++) {
                unsigned char ch = (unsigned char)*s;

                if (ch == '"' || ch == '\\') {
                        fprintf(f, "\\%c", ch);
                } else if (ch < 0x20) {
                        fprintf(f, "\\u%04x", ch);
                } else {
                        fputc(ch, f);
                }
        }
        fputc('"', f);
}

static void report_json_config(FILE *f, const struct bench_config *cfg)
{
        fprintf(f, ",\"target\":");
        report_json_string(f, cfg->target);
        fprintf(f, ",\"endpoints\":");
        report_json_string(f, cfg->endpoints);
        fprintf(f, ",\"clients\":%u,\"inflight\":%u,\"keys\":%u,\"key_dist\":\"%s\"", cfg->clients,
                cfg->inflight, cfg->keys, cfg->zipf ? "zipf" : "uniform");
        fprintf(f, ",\"key_shape\":\"%s\"", cfg->tagged_prefixes ? "tagged" : "plain");
        if (cfg->zipf) {
                fprintf(f, ",\"zipf_s\":%g", cfg->zipf_s);
        }
        fprintf(
            f,
            ",\"value_size\":%zu,\"mix\":\"put=%u,get=%u,cas=%u,del=%u,mget=%u,txn=%u,scan=%u\","
            "\"mget_keys\":%u,\"consistency\":\"%s\",\"preload\":%s,\"warmup_s\":%g",
            cfg->value_bytes, cfg->mix_pct[BENCH_OP_PUT], cfg->mix_pct[BENCH_OP_GET],
            cfg->mix_pct[BENCH_OP_CAS], cfg->mix_pct[BENCH_OP_DELETE], cfg->mix_pct[BENCH_OP_MGET],
            cfg->mix_pct[BENCH_OP_TXN], cfg->mix_pct[BENCH_OP_SCAN], cfg->mget_keys,
            cfg->consistency, cfg->preload ? "true" : "false", cfg->warmup_s);
}

static void report_json_latency(FILE *f, const struct hist *h)
{
        fprintf(f,
                ",\"all\":{\"count\":%" PRIu64 ",\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f"
                ",\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
                h->n, hist_mean_ns(h) / 1e3, (double)hist_percentile(h, 0.50) / 1e3,
                (double)hist_percentile(h, 0.90) / 1e3, (double)hist_percentile(h, 0.99) / 1e3,
                (double)hist_percentile(h, 0.999) / 1e3, (double)h->max_ns / 1e3);
}

static void report_json_errors(FILE *f, const struct report_line *l)
{
        bool first = true;

        fprintf(f, ",\"errors\":%" PRIu64 ",\"errors_by_status\":{", l->errors_total);
        for (unsigned s = 0; s < BENCH_STATUS_SLOTS; s++) {
                if (l->errors[s] > 0) {
                        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
                                tkv_status_name(run_status_code(s)), l->errors[s]);
                        first = false;
                }
        }
        fprintf(f, "},\"first_error\":");
        if (l->first_error[0] != '\0') {
                report_json_string(f, l->first_error);
        } else {
                fprintf(f, "null");
        }
}

/* CPU over the window, as the anchors name it: % of one core, and CPU
 * microseconds per completed operation. */
static void report_json_cpu(FILE *f, const struct bench_config *cfg, const struct bench_result *res,
                            uint64_t ops)
{
        double d = res->duration_s > 0 ? res->duration_s : 1;
        double srv_s = report_server_cpu_s(cfg, res);

        fprintf(f, ",\"cpu_pct_loadgen\":%.1f", res->loadgen_cpu_s / d * 100);
        if (ops > 0) {
                fprintf(f, ",\"loadgen_cpu_us_per_op\":%.2f",
                        res->loadgen_cpu_s / (double)ops * 1e6);
        }
        if (cfg->n_cpu_pids == 0) {
                return;
        }
        fprintf(f, ",\"cpu_pct_servers\":{");
        for (unsigned i = 0; i < cfg->n_cpu_pids; i++) {
                fprintf(f, "%s\"%d\":", i > 0 ? "," : "", cfg->cpu_pids[i]);
                if (res->server_cpu_s[i] >= 0) {
                        fprintf(f, "%.1f", res->server_cpu_s[i] / d * 100);
                } else {
                        fprintf(f, "null");
                }
        }
        fprintf(f, "},\"cpu_pct_servers_sum\":%.1f", srv_s / d * 100);
        if (ops > 0) {
                fprintf(f, ",\"server_cpu_us_per_op\":%.2f", srv_s / (double)ops * 1e6);
        }
}

/* --meta is spliced in last: a JSON reader keeps the last of two equal
 * keys, so its fields override ours, as -meta does in etcdbench. */
static void report_json_meta(FILE *f, const char *meta)
{
        const char *open = meta != NULL ? strchr(meta, '{') : NULL;
        const char *close = meta != NULL ? strrchr(meta, '}') : NULL;
        const char *p;

        if (open == NULL || close == NULL || close <= open) {
                return;
        }
        for (p = open + 1; p < close && strchr(" \t\r\n", *p) != NULL; p++) {
        }
        if (p < close) {
                fprintf(f, ",%.*s", (int)(close - p), p);
        }
}

void report_json(FILE *f, const struct bench_config *cfg, const struct bench_result *res)
{
        struct report_line lines[BENCH_OP_COUNT + 1];
        unsigned n = report_lines(cfg, res, lines);

        for (unsigned i = 0; i < n; i++) {
                const struct report_line *l = &lines[i];

                fprintf(f, "{\"system\":\"tunekv\",\"op\":\"%s\"", l->op);
                report_json_config(f, cfg);
                fprintf(f,
                        ",\"duration_s\":%.3f,\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f"
                        ",\"not_found\":%" PRIu64 ",\"condition_failed\":%" PRIu64,
                        res->duration_s, l->ops, report_ops_per_s(res, l->ops), l->not_found,
                        l->condition_failed);
                report_json_latency(f, &l->lat);
                report_json_errors(f, l);
                if (i == n - 1) {
                        report_json_cpu(f, cfg, res, l->ops);
                }
                report_json_meta(f, cfg->meta);
                fprintf(f, "}\n");
        }
        fflush(f);
}
