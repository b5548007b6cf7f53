/* CPU accounting from /proc/PID/stat and getrusage; see procstat.h. */
#include "procstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

bool procstat_parse_pids(const char *list, int *pids, unsigned max, unsigned *n_out)
{
        const char *p = list;
        unsigned n = 0;

        while (*p != '\0') {
                char *end;
                long v;

                errno = 0;
                v = strtol(p, &end, 10);
                if (end == p || errno != 0 || v <= 0 || v > 0x7fffffffL || n == max ||
                    (*end != ',' && *end != '\0')) {
                        return false;
                }
                pids[n++] = (int)v;
                p = *end == ',' ? end + 1 : end;
        }
        *n_out = n;
        return n > 0;
}

bool procstat_cpu_s(int pid, double *out_s)
{
        char path[64];
        char buf[1024];
        unsigned long long utime, stime;
        const char *p;
        size_t len;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "r");
        if (f == NULL) {
                return false;
        }
        len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* The command name (field 2) may hold spaces and parentheses, so
         * count fields from the last ')': utime and stime are fields 14
         * and 15, the 12th and 13th after it. */
        p = strrchr(buf, ')');
        if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                &utime, &stime) != 2) {
                return false;
        }
        *out_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
        return true;
}

double procstat_self_cpu_s(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) != 0) {
                return 0.0;
        }
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
