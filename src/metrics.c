/* Prometheus metrics and health endpoints (see metrics.h).
 *
 * Names follow Prometheus' conventions: tunekv_ prefix, base units
 * (seconds, bytes), _total for counters, one family per quantity with
 * labels for partition, level and outcome. */
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "err.h"
#include "group.h"
#include "lease.h"
#include "log.h"
#include "node.h"
#include "read.h"
#include "store.h"
#include "tunekv_version.h"

static const char *const metrics_levels[READ_LEVELS] = {
    "linearizable", "sequential", "causal", "session", "bounded_staleness", "eventual"};

static void metrics_printf(struct buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_printf(struct buffer *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        for (size_t room = 256;; room *= 2) {
                if (buffer_reserve(b, room) != 0) {
                        return; /* out of memory: this scrape is short */
                }
                va_start(ap, fmt);
                n = vsnprintf((char *)b->base + b->end, b->cap - b->end, fmt, ap);
                va_end(ap);
                if (n >= 0 && (size_t)n < b->cap - b->end) {
                        buffer_extend(b, (size_t)n);
                        return;
                }
        }
}

/* A family's HELP and TYPE lines. */
static void metrics_family(struct buffer *b, const char *name, const char *type, const char *help)
{
        metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t metrics_rss_bytes(void)
{
        unsigned long size = 0, resident = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f == NULL) {
                return 0;
        }
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
                resident = 0;
        }
        fclose(f);
        return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void metrics_node(struct buffer *b, const struct node *node)
{
        const struct node_stats *st = &node->stats;
        const struct conn_stats *cs = &node->conns->stats;

        metrics_family(b, "tunekv_build_info", "gauge", "Version of this tunekvd.");
        metrics_printf(b, "tunekv_build_info{version=\"%s\",node=\"%u\"} 1\n", TKV_VERSION,
                       node->cfg->node_id);
        metrics_family(b, "tunekv_uptime_seconds", "gauge", "Time since the node started.");
        metrics_printf(b, "tunekv_uptime_seconds %.3f\n",
                       (double)(uv_now(node->loop) - node->started_ms) / 1e3);
        metrics_family(b, "tunekv_resident_memory_bytes", "gauge", "Resident set size.");
        metrics_printf(b, "tunekv_resident_memory_bytes %llu\n",
                       (unsigned long long)metrics_rss_bytes());
        metrics_family(b, "tunekv_data_dir_free_bytes", "gauge",
                       "Free space in the data dir at the last check (0: not checked).");
        metrics_printf(b, "tunekv_data_dir_free_bytes %llu\n",
                       (unsigned long long)node->disk_free_bytes);
        metrics_family(b, "tunekv_client_connections", "gauge", "Open client connections.");
        metrics_printf(b, "tunekv_client_connections %u\n", node->conns->n_conns);
        metrics_family(b, "tunekv_client_buffer_bytes", "gauge",
                       "Bytes client connections hold (client_buffers_bytes_max).");
        metrics_printf(b, "tunekv_client_buffer_bytes %llu\n",
                       (unsigned long long)node->conns->client_bytes);
        metrics_family(b, "tunekv_connections_total", "counter",
                       "Client connections, by what became of them.");
        metrics_printf(b,
                       "tunekv_connections_total{event=\"accepted\"} %llu\n"
                       "tunekv_connections_total{event=\"refused\"} %llu\n"
                       "tunekv_connections_total{event=\"closed_unread_output\"} %llu\n"
                       "tunekv_connections_total{event=\"closed_over_budget\"} %llu\n"
                       "tunekv_connections_total{event=\"closed_timeout\"} %llu\n"
                       "tunekv_connections_total{event=\"tls_failed\"} %llu\n",
                       (unsigned long long)cs->conns_accepted,
                       (unsigned long long)cs->conns_refused,
                       (unsigned long long)cs->conns_output_closed,
                       (unsigned long long)cs->conns_budget_closed,
                       (unsigned long long)cs->conns_timed_out, (unsigned long long)cs->tls_failed);
        metrics_family(b, "tunekv_network_receive_bytes_total", "counter",
                       "Bytes received on client connections and on node links (requests).");
        metrics_printf(b,
                       "tunekv_network_receive_bytes_total{from=\"clients\"} %llu\n"
                       "tunekv_network_receive_bytes_total{from=\"nodes\"} %llu\n",
                       (unsigned long long)cs->bytes_in[0], (unsigned long long)cs->bytes_in[1]);
        metrics_family(b, "tunekv_network_transmit_bytes_total", "counter",
                       "Answer bytes written to client connections and node links.");
        metrics_printf(b,
                       "tunekv_network_transmit_bytes_total{to=\"clients\"} %llu\n"
                       "tunekv_network_transmit_bytes_total{to=\"nodes\"} %llu\n",
                       (unsigned long long)cs->bytes_out[0], (unsigned long long)cs->bytes_out[1]);
        metrics_family(b, "tunekv_requests_total", "counter", "Request frames received.");
        metrics_printf(b, "tunekv_requests_total %llu\n", (unsigned long long)st->requests);
        metrics_family(b, "tunekv_request_errors_total", "counter",
                       "Requests refused before a handler ran, by reason.");
        metrics_printf(b,
                       "tunekv_request_errors_total{reason=\"busy\"} %llu\n"
                       "tunekv_request_errors_total{reason=\"too_large\"} %llu\n"
                       "tunekv_request_errors_total{reason=\"undecodable\"} %llu\n",
                       (unsigned long long)st->answers_busy,
                       (unsigned long long)cs->frames_too_large,
                       (unsigned long long)st->frames_undecodable);
        metrics_family(b, "tunekv_auth_total", "counter",
                       "AUTH requests ([auth] enabled), by outcome (refusals are also logged, at "
                       "most once a second).");
        metrics_printf(b,
                       "tunekv_auth_total{outcome=\"ok\"} %llu\n"
                       "tunekv_auth_total{outcome=\"refused\"} %llu\n",
                       (unsigned long long)node->auth.successes,
                       (unsigned long long)node->auth.failures);
        metrics_family(b, "tunekv_forwarded_requests_total", "counter",
                       "Requests handed to another node.");
        metrics_printf(b, "tunekv_forwarded_requests_total %llu\n",
                       (unsigned long long)st->forwarded);
        metrics_family(b, "tunekv_watches", "gauge",
                       "WATCH streams open on this node (clients' and other nodes' shares of "
                       "spread streams).");
        metrics_printf(b, "tunekv_watches %llu\n", (unsigned long long)node->stats.watches);
        metrics_family(b, "tunekv_watch_share_pauses_total", "counter",
                       "Shares of spread WATCH streams cancelled because the client read too "
                       "slowly, asked again once it caught up.");
        metrics_printf(b, "tunekv_watch_share_pauses_total %llu\n",
                       (unsigned long long)node->stats.watch_pauses);
        metrics_family(b, "tunekv_loop_lag_seconds", "gauge",
                       "How late the loop's 100 ms timer fired last (RAFT-NOTES B4).");
        metrics_printf(b, "tunekv_loop_lag_seconds %.3f\n", (double)node->loop_lag_ms / 1e3);
}

static void metrics_partitions(struct buffer *b, const struct node *node)
{
        static const struct {
                const char *name, *type, *help;
        } families[] = {
            {"tunekv_raft_term", "gauge", "Raft term."},
            {"tunekv_raft_commit_index", "gauge", "Raft commit index."},
            {"tunekv_raft_applied_index", "gauge", "Index applied to the store."},
            {"tunekv_raft_last_index", "gauge", "Last index in the Raft log."},
            {"tunekv_raft_is_leader", "gauge", "1 when this replica leads the partition."},
            {"tunekv_raft_elections_won_total", "counter", "Elections this replica won."},
            {"tunekv_raft_snapshots_total", "counter", "Snapshots taken."},
            {"tunekv_raft_snapshot_restores_total", "counter", "Snapshots restored."},
            {"tunekv_raft_log_bytes", "gauge", "Entry bytes applied since the last snapshot."},
            {"tunekv_store_keys", "gauge", "Keys in the partition."},
            {"tunekv_store_bytes", "gauge", "Key and value bytes in memory."},
            {"tunekv_read_fences_total", "counter", "Linearizable read fences run as leader."},
            {"tunekv_staleness_seconds", "gauge",
             "Upper bound of this replica's staleness (absent: unknown)."},
            {"tunekv_lag_entries", "gauge", "Entries behind the leader's commit index."},
            {"tunekv_history_changes", "gauge",
             "Changes kept in the partition's change history ([history])."},
            {"tunekv_history_bytes", "gauge", "Bytes the change history holds."},
        };

        for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
                metrics_family(b, families[f].name, families[f].type, families[f].help);
                for (uint32_t p = 0; p < node->n_partitions; p++) {
                        struct group *g = node_group(node, p);
                        struct group_stats st;
                        struct read_replica r;
                        const struct read_state *rs;
                        double v;
                        if (g == NULL) {
                                continue;
                        }
                        st = group_stats(g);
                        r = read_replica_of(g);
                        rs = node_read_state(node, p);
                        switch (f) {
                        case 0:
                                v = (double)group_term(g);
                                break;
                        case 1:
                                v = (double)group_commit_index(g);
                                break;
                        case 2:
                                v = (double)group_applied_index(g);
                                break;
                        case 3:
                                v = (double)group_last_index(g);
                                break;
                        case 4:
                                v = group_is_leader(g) ? 1 : 0;
                                break;
                        case 5:
                                v = (double)st.elections_won;
                                break;
                        case 6:
                                v = (double)st.snapshots;
                                break;
                        case 7:
                                v = (double)st.restores;
                                break;
                        case 8:
                                v = (double)st.log_bytes;
                                break;
                        case 9:
                                v = group_store(g) ? (double)store_count(group_store(g)) : 0;
                                break;
                        case 10:
                                v = group_store(g) ? (double)store_data_bytes(group_store(g)) : 0;
                                break;
                        case 11:
                                metrics_printf(b,
                                               "%s{partition=\"%u\",kind=\"barrier\"} %llu\n"
                                               "%s{partition=\"%u\",kind=\"confirmation\"} %llu\n",
                                               families[f].name, p, (unsigned long long)st.barriers,
                                               families[f].name, p,
                                               (unsigned long long)st.confirms);
                                continue;
                        case 12: {
                                int64_t ms = read_staleness_ms(rs, &r, node_clock_ms(node));
                                if (ms < 0) {
                                        continue;
                                }
                                v = (double)ms / 1e3;
                                break;
                        }
                        case 13:
                                v = (double)read_lag_entries(rs, &r);
                                break;
                        case 14:
                                v = (double)changes_count(group_changes(g));
                                break;
                        default:
                                v = (double)changes_bytes(group_changes(g));
                                break;
                        }
                        metrics_printf(b, "%s{partition=\"%u\"} %.17g\n", families[f].name, p, v);
                }
        }
}

/* Each partition's leases on this replica, and the expiries it proposed
 * while leading (group_lease.c). */
static void metrics_leases(struct buffer *b, const struct node *node)
{
        static const struct {
                const char *name, *type, *help;
        } families[] = {
            {"tunekv_leases", "gauge", "Leases in the partition (this replica's table)."},
            {"tunekv_lease_keys", "gauge", "Keys attached to the partition's leases."},
            {"tunekv_leases_expired_total", "counter",
             "Lease expiries this replica proposed as the partition's leader."},
        };

        for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
                metrics_family(b, families[f].name, families[f].type, families[f].help);
                for (uint32_t p = 0; p < node->n_partitions; p++) {
                        struct group *g = node_group(node, p);
                        struct lease_table *t = g != NULL ? group_leases(g) : NULL;
                        double v;
                        if (t == NULL) {
                                continue;
                        }
                        v = f == 0   ? (double)lease_count(t)
                            : f == 1 ? (double)lease_keys_attached(t)
                                     : (double)group_stats(g).leases_expired;
                        metrics_printf(b, "%s{partition=\"%u\"} %.17g\n", families[f].name, p, v);
                }
        }
}

static void metrics_reads(struct buffer *b, const struct node *node)
{
        metrics_family(b, "tunekv_reads_total", "counter",
                       "Reads by partition, level asked and outcome (served here, served "
                       "labelled stale, waited, fell back to the leader, bound unmet).");
        for (uint32_t p = 0; p < node->n_partitions; p++) {
                const struct read_state *rs;
                if (node_group(node, p) == NULL) {
                        continue;
                }
                rs = node_read_state(node, p);
                for (unsigned l = 0; l < READ_LEVELS; l++) {
                        const struct read_counters *c = &rs->counters[l];
                        const struct {
                                const char *what;
                                uint64_t n;
                        } outcomes[] = {{"served", c->served},
                                        {"stale", c->stale_served},
                                        {"waited", c->waits},
                                        {"fallback", c->fallbacks},
                                        {"bound_unmet", c->bound_unmet}};
                        for (size_t o = 0; o < sizeof outcomes / sizeof outcomes[0]; o++) {
                                metrics_printf(b,
                                               "tunekv_reads_total{partition=\"%u\",level=\"%s\","
                                               "outcome=\"%s\"} %llu\n",
                                               p, metrics_levels[l], outcomes[o].what,
                                               (unsigned long long)outcomes[o].n);
                        }
                }
        }
}

/* Sampled reads by whether the log later showed them fresh (fresh.h). */
static void metrics_freshness(struct buffer *b, const struct node *node)
{
        metrics_family(b, "tunekv_reads_freshness_total", "counter",
                       "Sampled reads below LINEARIZABLE by partition, level delivered and "
                       "whether they missed a write stamped before they were served (stale) "
                       "or not (fresh), as the log showed afterwards.");
        for (uint32_t p = 0; p < node->n_partitions; p++) {
                const struct read_state *rs;
                if (node_group(node, p) == NULL) {
                        continue;
                }
                rs = node_read_state(node, p);
                for (unsigned l = 1; l < READ_LEVELS; l++) {
                        const struct fresh_counters *c = &rs->fresh.counters[l];
                        metrics_printf(b,
                                       "tunekv_reads_freshness_total{partition=\"%u\",level=\"%s\","
                                       "result=\"fresh\"} %llu\n"
                                       "tunekv_reads_freshness_total{partition=\"%u\",level=\"%s\","
                                       "result=\"stale\"} %llu\n",
                                       p, metrics_levels[l], (unsigned long long)c->fresh, p,
                                       metrics_levels[l], (unsigned long long)c->stale);
                }
        }
}

static void metrics_latency(struct buffer *b, const struct node *node)
{
        static const char *const ops[NODE_OPS] = {"get", "put", "delete", "cas", "other"};

        metrics_family(b, "tunekv_request_duration_seconds", "histogram",
                       "Client requests from arrival to answer, by operation and (GET) the "
                       "level asked.");
        for (unsigned op = 0; op < NODE_OPS; op++) {
                for (unsigned l = 0; l <= READ_LEVELS; l++) {
                        const struct latency_hist *h = &node->latency[op][l];
                        char labels[64];
                        uint64_t cumulative = 0;
                        if (h->count == 0) {
                                continue;
                        }
                        if (l < READ_LEVELS) {
                                snprintf(labels, sizeof labels, "op=\"%s\",level=\"%s\"", ops[op],
                                         metrics_levels[l]);
                        } else {
                                snprintf(labels, sizeof labels, "op=\"%s\"", ops[op]);
                        }
                        for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
                                cumulative += h->bucket[i];
                                metrics_printf(b,
                                               "tunekv_request_duration_seconds_bucket{%s,"
                                               "le=\"%g\"} %llu\n",
                                               labels, latency_bounds_s[i],
                                               (unsigned long long)cumulative);
                        }
                        metrics_printf(b,
                                       "tunekv_request_duration_seconds_bucket{%s,le=\"+Inf\"} "
                                       "%llu\n"
                                       "tunekv_request_duration_seconds_sum{%s} %.9f\n"
                                       "tunekv_request_duration_seconds_count{%s} %llu\n",
                                       labels, (unsigned long long)h->count, labels, h->sum_s,
                                       labels, (unsigned long long)h->count);
                }
        }
}

void metrics_publish(struct metrics *m, const struct node *node, bool ready)
{
        struct buffer tmp;

        if (m->httpd == NULL) {
                return;
        }
        buffer_reset(&m->next);
        metrics_node(&m->next, node);
        metrics_partitions(&m->next, node);
        metrics_leases(&m->next, node);
        metrics_reads(&m->next, node);
        metrics_freshness(&m->next, node);
        metrics_latency(&m->next, node);
        pthread_mutex_lock(&m->lock);
        tmp = m->text;
        m->text = m->next;
        m->next = tmp;
        m->ready = ready;
        pthread_mutex_unlock(&m->lock);
}

static enum MHD_Result metrics_reply(struct MHD_Connection *conn, unsigned code, const char *type,
                                     const void *body, size_t len)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result rv;
        if (r == NULL) {
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", type);
        rv = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return rv;
}

/* The HTTP thread: GET /metrics, /healthz, /readyz; anything else 404. */
static enum MHD_Result metrics_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
        struct metrics *m = cls;
        static const char text_type[] = "text/plain; version=0.0.4; charset=utf-8";
        enum MHD_Result rv;
        bool ready;

        (void)version;
        (void)upload_data;
        (void)con_cls;
        if (strcmp(method, "GET") != 0 || *upload_data_size != 0) {
                return metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n",
                                     9);
        }
        if (strcmp(url, "/healthz") == 0) {
                return metrics_reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3);
        }
        pthread_mutex_lock(&m->lock);
        ready = m->ready;
        if (strcmp(url, "/metrics") == 0) {
                rv = metrics_reply(conn, MHD_HTTP_OK, text_type, buffer_data(&m->text),
                                   buffer_len(&m->text));
                pthread_mutex_unlock(&m->lock);
                return rv;
        }
        pthread_mutex_unlock(&m->lock);
        if (strcmp(url, "/readyz") == 0) {
                return ready ? metrics_reply(conn, MHD_HTTP_OK, "text/plain", "ready\n", 6)
                             : metrics_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                             "not ready\n", 10);
        }
        return metrics_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

int metrics_start(struct metrics *m, const char *addr, char *errmsg)
{
        struct sockaddr_in sa;
        char host[CONFIG_ADDR_BYTES];
        unsigned port;

        memset(m, 0, sizeof *m);
        buffer_init(&m->text);
        buffer_init(&m->next);
        pthread_mutex_init(&m->lock, NULL);
        if (addr[0] == '\0') {
                return 0;
        }
        if (config_split_addr(addr, host, &port) != 0 || uv_ip4_addr(host, (int)port, &sa) != 0) {
                err_msgf(errmsg, "metrics: bad address %s", addr);
                return TKV_EADDR;
        }
        m->httpd =
            MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, ntohs(sa.sin_port),
                             NULL, NULL, metrics_handle, m, MHD_OPTION_SOCK_ADDR,
                             (const struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                             (unsigned)METRICS_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
        if (m->httpd == NULL) {
                err_msgf(errmsg, "metrics: cannot serve on %s (port in use?)", addr);
                return TKV_EADDR;
        }
        LOGI(-1, "metrics: serving /metrics, /healthz and /readyz on http://%s", addr);
        return 0;
}

void metrics_stop(struct metrics *m)
{
        if (m->httpd != NULL) {
                MHD_stop_daemon(m->httpd); /* joins its thread */
                m->httpd = NULL;
        }
        buffer_free(&m->text);
        buffer_free(&m->next);
        pthread_mutex_destroy(&m->lock);
}
