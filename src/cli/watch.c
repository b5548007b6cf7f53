/* tunekv watch: each change of a key, or of every key under a prefix, as
 * it is applied (tkv_watch_*), one line (or JSON object) per change, until
 * interrupted, --events N or --idle-ms N. The library resumes the stream
 * on another node by itself; a failure to do so is retried here until the
 * watch ends for good (COMPACTED, a refusal). With -v, where it stopped is
 * printed to stderr as the --from-index that resumes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --from-index: "N" (every partition of the watch) or "P:N,P:N,...". */
static int watch_parse_from(struct cli_args *a, struct tkv_watch_position **out, size_t *n)
{
        const char *s = a->watch_from;
        size_t cap = 1;

        for (const char *p = s; *p != '\0'; p++) {
                cap += *p == ',';
        }
        *out = calloc(cap, sizeof(**out));
        *n = 0;
        if (*out == NULL) {
                return output_fail(a, TKV_NO_MEMORY, "out of memory", NULL);
        }
        while (*s != '\0') {
                char part[64];
                size_t len = strcspn(s, ",");
                char *colon;
                uint64_t pnum = TKV_WATCH_EVERY_PARTITION, index;
                if (len == 0 || len >= sizeof(part)) {
                        return output_usage_error(a, "--from-index: bad item in \"%s\"",
                                                  a->watch_from);
                }
                memcpy(part, s, len);
                part[len] = '\0';
                colon = strchr(part, ':');
                if (colon != NULL) {
                        *colon = '\0';
                        if (args_parse_u64(part, UINT32_MAX - 1, &pnum) != 0) {
                                return output_usage_error(
                                    a, "--from-index: bad partition in \"%s\"", a->watch_from);
                        }
                }
                if (args_parse_u64(colon != NULL ? colon + 1 : part, UINT64_MAX, &index) != 0) {
                        return output_usage_error(a, "--from-index: bad index in \"%s\"",
                                                  a->watch_from);
                }
                (*out)[*n].partition = (uint32_t)pnum;
                (*out)[*n].after_index = index;
                (*n)++;
                s += len + (s[len] == ',');
        }
        return -1;
}

/* With -v: where the watch is, as the option that resumes it. */
static void watch_print_positions(const struct cli_args *a, const struct tkv_watch *w)
{
        struct tkv_watch_position pos[256];
        size_t n = tkv_watch_positions(w, pos, 256);

        if (!a->verbose) {
                return;
        }
        fprintf(stderr, "tunekv: resume with --from-index ");
        for (size_t i = 0; i < n && i < 256; i++) {
                fprintf(stderr, "%s%u:%llu", i > 0 ? "," : "", pos[i].partition,
                        (unsigned long long)pos[i].after_index);
        }
        fputc('\n', stderr);
}

static bool watch_goes_on(int status)
{
        return status == TKV_CONNECT_FAILED || status == TKV_CONNECTION_CLOSED ||
               status == TKV_UNAVAILABLE || status == TKV_NOT_LEADER || status == TKV_NO_QUORUM ||
               status == TKV_BOUND_UNMET || status == TKV_BUSY;
}

int watch_run(struct tkv_client *c, struct cli_args *a)
{
        struct tkv_watch_position *from = NULL;
        struct tkv_watch *w = NULL;
        struct tkv_watch_event ev;
        char errbuf[256];
        uint64_t seen = 0;
        int status;

        if (!a->level_set) {
                a->read.level = TKV_SEQUENTIAL;
        }
        a->watch.keys_only = a->scan.keys_only;
        if (a->watch_from != NULL) {
                size_t n = 0;
                int rv = watch_parse_from(a, &from, &n);
                if (rv >= 0) {
                        free(from);
                        return rv;
                }
                a->watch.start = from;
                a->watch.n_start = n;
        }
        status = tkv_watch_open(c, &a->watch, &a->read, &w, errbuf, sizeof(errbuf));
        free(from);
        if (status != TKV_OK) {
                return output_fail(a, status, errbuf, NULL);
        }
        for (;;) {
                status = tkv_watch_next(w, &ev, a->watch_idle_ms > 0 ? a->watch_idle_ms : -1);
                if (status == TKV_OK) {
                        output_watch_event(a, &ev);
                        if (a->watch_events > 0 && ++seen >= a->watch_events) {
                                break;
                        }
                } else if (status == TKV_TIMEOUT && a->watch_idle_ms > 0) {
                        status = TKV_OK;
                        break;
                } else if (!watch_goes_on(status) && status != TKV_TIMEOUT) {
                        break;
                } else if (a->verbose) {
                        fprintf(stderr, "tunekv: watch: %s, resuming\n", tkv_watch_errmsg(w));
                }
        }
        watch_print_positions(a, w);
        if (status != TKV_OK) {
                snprintf(errbuf, sizeof(errbuf), "%s", tkv_watch_errmsg(w));
                tkv_watch_close(w);
                return output_fail(a, status, errbuf, NULL);
        }
        tkv_watch_close(w);
        return output_exit(a, TKV_OK);
}
