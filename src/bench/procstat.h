/* CPU time of this process and of other processes (the servers), so a run
 * can report CPU per operation like the etcd/redis anchors do
 * (cpu_pct_loadgen, server_cpu_us_per_op). Linux /proc only. */
#ifndef TKV_BENCH_PROCSTAT_H
#define TKV_BENCH_PROCSTAT_H

#include <stdbool.h>

#define PROCSTAT_PIDS_MAX 16

/* Parse "PID,PID,..." into pids; false on a malformed list or more than
 * max entries. */
bool procstat_parse_pids(const char *list, int *pids, unsigned max, unsigned *n_out);

/* User plus system CPU seconds of process pid so far; false when it cannot
 * be read (gone, or not ours to read). */
bool procstat_cpu_s(int pid, double *out_s);

/* User plus system CPU seconds of this process so far. */
double procstat_self_cpu_s(void);

#endif
