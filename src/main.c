/* tunekvd: parse the configuration, start the node, run the loop.
 *
 * Exit codes: 0 clean shutdown; 1 runtime failure; 2 bad configuration or
 * command line; 70 the Raft log could not be drained to disk on shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "heap.h"
#include "log.h"
#include "server.h"
#include "tunekv_version.h"

/* Each Raft group holds ~8 descriptors (RAFT-NOTES W6); clients need one
 * each. Raise the soft limit to the hard one. */
static void main_raise_nofile(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

struct main_args {
        int argc;
        char **argv;
};

/* server_reload_cb: the same file and flags as at start. */
static int main_reload(void *data, struct config *out, char *errmsg)
{
        const struct main_args *a = data;
        return config_load(out, a->argc, a->argv, errmsg);
}

int main(int argc, char **argv)
{
        static struct main_args args;
        static struct config cfg;
        static struct server server;
        char errmsg[ERR_MSG_BYTES];
        char pool[16];
        uv_loop_t loop;
        int rv;

        /* RAFT-NOTES B5: a peer closing mid-write must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        heap_tune();

        rv = config_load(&cfg, argc, argv, errmsg);
        if (rv != 0) {
                fprintf(stderr, "tunekvd: %s\n", errmsg);
                return 2;
        }
        if (cfg.help) {
                config_usage(stdout, "tunekvd");
                return 0;
        }
        if (cfg.version) {
                printf("tunekvd %s\n", TKV_VERSION);
                return 0;
        }
        if (cfg.man != 0) {
                config_man(stdout, cfg.man, TKV_VERSION);
                return 0;
        }
        log_setup(cfg.node_id, (enum log_level)log_level_parse(cfg.log_level));
        log_set_format((enum log_format)log_format_parse(cfg.log_format));
        main_raise_nofile();
        /* Before the first threadpool use (RAFT-NOTES §5). */
        snprintf(pool, sizeof pool, "%u", cfg.threadpool_size);
        setenv("UV_THREADPOOL_SIZE", pool, 1);

        uv_loop_init(&loop);
        rv = server_init(&server, &loop, &cfg);
        args.argc = argc;
        args.argv = argv;
        server.reload_cb = main_reload;
        server.reload_data = &args;
        if (rv == 0) {
                rv = server_start(&server);
        }
        if (rv != 0) {
                LOGE(-1, "tunekvd: cannot start: %s", server.errmsg);
                /* Groups may be half-open inside raft: unwinding them is not
                 * safe, and nothing needs it. The on-disk log is consistent
                 * and the kernel takes back the rest (_exit: no leak report
                 * for memory left on purpose). */
                _exit(1);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        rv = server.exit_code;
        server_close(&server);
        if (uv_loop_close(&loop) != 0) {
                LOGW(-1, "tunekvd: handles left open at exit");
        }
        return rv;
}
