/* The floor: a raw Raft commit on this machine, with none of tunekv.
 *
 * Three processes, one group, raft_uv on disk with raft's stock TCP
 * transport (NODELAY is not set there, so at one entry in flight it matches
 * a NODELAY link: nothing waits to be coalesced). The process that becomes
 * leader submits N entries of 104 bytes (100 padded to 8, RAFT-NOTES B1)
 * with K in flight and prints the submit-to-callback latency percentiles
 * and the rate, then exits; the script that started it stops the others.
 *
 *   tkv-raftbench ID BASE_PORT DIR N K
 *
 * A measuring tool (docs/performance.md), not a test. */
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define ENTRY_BYTES 104

static struct raft raft;
static struct raft_io io;
static struct raft_uv_transport transport;
static struct raft_fsm fsm;
static uv_timer_t timer;
static unsigned n_total, k_inflight, submitted, completed;
static double *lat_us;
static double t_start;

struct req {
        struct raft_apply apply;
        double t0;
};

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
        (void)f;
        (void)buf;
        *result = NULL;
        return 0;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static void report(void)
{
        double secs = (now_us() - t_start) / 1e6;
        qsort(lat_us, completed, sizeof *lat_us, cmp);
        printf(
            "raft commit k=%u n=%u: %.0f entries/s p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus\n",
            k_inflight, completed, completed / secs, lat_us[completed / 2],
            lat_us[completed * 9 / 10], lat_us[completed * 99 / 100], lat_us[completed - 1]);
        fflush(stdout);
        exit(0);
}

static void submit(void);

static void applied(struct raft_apply *a, int status, void *result)
{
        struct req *r = a->data;
        (void)result;
        if (status != 0) {
                fprintf(stderr, "apply: %s\n", raft_strerror(status));
                exit(1);
        }
        lat_us[completed++] = now_us() - r->t0;
        free(r);
        if (completed == n_total) {
                report();
        }
        submit();
}

static void submit(void)
{
        while (submitted < n_total && submitted - completed < k_inflight) {
                struct req *r = malloc(sizeof *r);
                struct raft_buffer buf;
                buf.len = ENTRY_BYTES;
                buf.base = raft_malloc(buf.len);
                memset(buf.base, 'x', buf.len);
                r->apply.data = r;
                r->t0 = now_us();
                if (raft_apply(&raft, &r->apply, &buf, 1, applied) != 0) {
                        raft_free(buf.base);
                        free(r);
                        return;
                }
                submitted++;
        }
}

/* Start once this process leads (after a short settle), else keep waiting. */
static void tick(uv_timer_t *t)
{
        static unsigned leader_ticks;
        (void)t;
        if (raft_state(&raft) != RAFT_LEADER) {
                leader_ticks = 0;
                return;
        }
        if (++leader_ticks < 5 || submitted > 0) {
                return;
        }
        t_start = now_us();
        submit();
}

int main(int argc, char **argv)
{
        struct raft_configuration conf;
        char address[64];
        uv_loop_t *loop = uv_default_loop();
        unsigned id, base;

        if (argc != 6) {
                fprintf(stderr, "usage: tkv-raftbench ID BASE_PORT DIR N K\n");
                return 2;
        }
        id = (unsigned)atoi(argv[1]);
        base = (unsigned)atoi(argv[2]);
        n_total = (unsigned)atoi(argv[4]);
        k_inflight = (unsigned)atoi(argv[5]);
        lat_us = calloc(n_total, sizeof *lat_us);
        fsm.version = 1;
        fsm.apply = fsm_apply;
        snprintf(address, sizeof address, "127.0.0.1:%u", base + id);
        if (raft_uv_tcp_init(&transport, loop) != 0 ||
            raft_uv_init(&io, loop, argv[3], &transport) != 0 ||
            raft_init(&raft, &io, &fsm, id, address) != 0) {
                fprintf(stderr, "init failed\n");
                return 1;
        }
        raft_uv_set_connect_retry_delay(&io, 100);
        raft_set_snapshot_threshold(&raft, 1u << 30); /* no snapshots during the run */
        raft_set_pre_vote(&raft, true);
        raft_configuration_init(&conf);
        for (unsigned i = 1; i <= 3; i++) {
                char a[64];
                snprintf(a, sizeof a, "127.0.0.1:%u", base + i);
                raft_configuration_add(&conf, i, a, RAFT_VOTER);
        }
        raft_bootstrap(&raft, &conf);
        raft_configuration_close(&conf);
        if (raft_start(&raft) != 0) {
                fprintf(stderr, "start: %s\n", raft_errmsg(&raft));
                return 1;
        }
        uv_timer_init(loop, &timer);
        uv_timer_start(&timer, tick, 100, 100);
        return uv_run(loop, UV_RUN_DEFAULT);
}
