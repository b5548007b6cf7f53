/* Start, signal and reap real tunekvd processes for integration tests.
 * Readiness is awaited on a pipe (tunekvd --ready-fd), never with sleeps. */
#ifndef TKV_TEST_DAEMON_H
#define TKV_TEST_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#define DAEMON_ARGS_MAX 48

struct daemon {
        char bin[512];
        char dir[512];      /* test's temporary directory */
        char data_dir[600]; /* dir/node<id> */
        char log[600];      /* dir/node<id>.log: the daemon's stderr */
        char client_addr[64];
        char peer_addr[64];
        unsigned node_id;
        char netns[32]; /* non-empty: run in this network namespace (ip netns exec) */
        const char *extra[DAEMON_ARGS_MAX]; /* more flags, NULL-terminated */
        const char *env[8];                 /* "NAME=value" set for the daemon, NULL-terminated */
        pid_t pid;
        int ready_fd; /* read end of the readiness pipe while starting */
};

/* A free TCP port on 127.0.0.1 (bind to 0, read it back). */
unsigned daemon_free_port(void);

/* Fill d for node id in dir, with fresh loopback ports. bin: path to tunekvd
 * (TKV_BIN_DIR/tunekvd by default). */
void daemon_setup(struct daemon *d, const char *dir, unsigned node_id);

/* Start d and wait up to timeout_ms for it to report ready. 0 on success;
 * -1 if it exited or timed out (its log is printed to stderr). */
int daemon_start(struct daemon *d, int timeout_ms);

/* The two halves of daemon_start, to start several daemons at once. */
int daemon_spawn(struct daemon *d);
int daemon_await_ready(struct daemon *d, int timeout_ms);

/* Send sig; then, if wait, reap and return the exit status as from waitpid
 * (use WIFEXITED etc.), or -1. */
int daemon_signal(struct daemon *d, int sig, bool wait);

/* Wait up to timeout_ms for the process to exit; its status or -1. */
int daemon_wait(struct daemon *d, int timeout_ms);

/* Still running (not exited)? */
bool daemon_alive(struct daemon *d);

/* Print the daemon's log to stderr (for failing tests). */
void daemon_dump_log(const struct daemon *d);

/* Teardown: SIGTERM the daemon if it runs and wait; 0 if it exited 0 (or
 * was not running), else -1 with its log dumped. */
int daemon_stop(struct daemon *d);

/* Count lines of the log containing needle. */
int daemon_log_count(const struct daemon *d, const char *needle);

#endif
