#define _GNU_SOURCE
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TKV_BIN_DIR
#define TKV_BIN_DIR "."
#endif

/* Can we bind port on 127.0.0.1 right now? */
static bool daemon_port_free(unsigned port)
{
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        bool ok;

        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((uint16_t)port);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0) {
                close(fd);
        }
        return ok;
}

/* Ports come from 20000-32767, below the kernel's ephemeral range (32768
 * and up), so no outgoing connection or bind(0) elsewhere takes them; each
 * test process cycles through its own block of 128, chosen by its pid, so
 * tests running side by side (ctest -j) do not collide either. */
unsigned daemon_free_port(void)
{
        static unsigned next;
        unsigned block = 20000 + ((unsigned)getpid() % 99) * 128;
        for (unsigned tries = 0; tries < 128; tries++) {
                unsigned port = block + (next++ % 128);
                if (daemon_port_free(port)) {
                        return port;
                }
        }
        return 0;
}

void daemon_setup(struct daemon *d, const char *dir, unsigned node_id)
{
        memset(d, 0, sizeof *d);
        if (getenv("TKV_DAEMON") != NULL) { /* another build of it (tkv-verify --bug) */
                snprintf(d->bin, sizeof d->bin, "%s", getenv("TKV_DAEMON"));
        } else {
                snprintf(d->bin, sizeof d->bin, "%s/tunekvd",
                         getenv("TKV_BIN_DIR") != NULL ? getenv("TKV_BIN_DIR") : TKV_BIN_DIR);
        }
        snprintf(d->dir, sizeof d->dir, "%s", dir);
        snprintf(d->data_dir, sizeof d->data_dir, "%s/node%u", dir, node_id);
        snprintf(d->log, sizeof d->log, "%s/node%u.log", dir, node_id);
        snprintf(d->client_addr, sizeof d->client_addr, "127.0.0.1:%u", daemon_free_port());
        snprintf(d->peer_addr, sizeof d->peer_addr, "127.0.0.1:%u", daemon_free_port());
        d->node_id = node_id;
        d->pid = -1;
}

static void daemon_exec(struct daemon *d, int ready_fd, int log_fd)
{
        const char *argv[DAEMON_ARGS_MAX + 20];
        char id[16], fd[16];
        int n = 0;

        snprintf(id, sizeof id, "%u", d->node_id);
        snprintf(fd, sizeof fd, "%d", ready_fd);
        if (d->netns[0] != '\0') {
                /* ip execs the daemon in place: the child's pid stays the
                 * daemon's (FAULTS-RECIPE §1). */
                argv[n++] = "ip";
                argv[n++] = "netns";
                argv[n++] = "exec";
                argv[n++] = d->netns;
        }
        argv[n++] = d->bin;
        argv[n++] = "--node-id";
        argv[n++] = id;
        argv[n++] = "--client-addr";
        argv[n++] = d->client_addr;
        argv[n++] = "--peer-addr";
        argv[n++] = d->peer_addr;
        argv[n++] = "--data-dir";
        argv[n++] = d->data_dir;
        argv[n++] = "--ready-fd";
        argv[n++] = fd;
        for (int i = 0; i < DAEMON_ARGS_MAX && d->extra[i] != NULL; i++) {
                argv[n++] = d->extra[i];
        }
        argv[n] = NULL;
        for (int i = 0; i < 8 && d->env[i] != NULL; i++) {
                putenv((char *)d->env[i]);
        }
        dup2(log_fd, STDERR_FILENO);
        execvp(argv[0], (char **)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

int daemon_spawn(struct daemon *d)
{
        int p[2];
        int log_fd;

        if (pipe(p) != 0) {
                return -1;
        }
        log_fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd < 0) {
                return -1;
        }
        d->pid = fork();
        if (d->pid == 0) {
                close(p[0]);
                daemon_exec(d, p[1], log_fd);
        }
        close(p[1]);
        close(log_fd);
        d->ready_fd = p[0];
        return 0;
}

int daemon_await_ready(struct daemon *d, int timeout_ms)
{
        char buf[16];
        struct pollfd pfd;
        ssize_t n;

        pfd.fd = d->ready_fd;
        pfd.events = POLLIN;
        /* The write end closes when tunekvd reports ready or dies. */
        n = poll(&pfd, 1, timeout_ms) == 1 ? read(d->ready_fd, buf, sizeof buf) : -1;
        close(d->ready_fd);
        d->ready_fd = -1;
        if (n > 0 && strncmp(buf, "ready", 5) == 0) {
                return 0;
        }
        fprintf(stderr, "tunekvd node %u did not become ready\n", d->node_id);
        daemon_dump_log(d);
        daemon_signal(d, SIGKILL, true);
        return -1;
}

int daemon_start(struct daemon *d, int timeout_ms)
{
        if (daemon_spawn(d) != 0) {
                return -1;
        }
        return daemon_await_ready(d, timeout_ms);
}

int daemon_wait(struct daemon *d, int timeout_ms)
{
        struct pollfd pfd;
        int status;
        int fd;

        if (d->pid <= 0) {
                return -1;
        }
        /* A pidfd becomes readable when the process exits: wait for that
         * event rather than polling waitpid. */
        fd = (int)syscall(SYS_pidfd_open, d->pid, 0);
        if (fd < 0) {
                return -1;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, timeout_ms) != 1) {
                close(fd);
                return -1;
        }
        close(fd);
        if (waitpid(d->pid, &status, 0) != d->pid) {
                return -1;
        }
        d->pid = -1;
        return status;
}

int daemon_signal(struct daemon *d, int sig, bool wait)
{
        if (d->pid <= 0) {
                return -1;
        }
        kill(d->pid, sig);
        return wait ? daemon_wait(d, 60000) : 0;
}

bool daemon_alive(struct daemon *d)
{
        int status;
        if (d->pid <= 0) {
                return false;
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                d->pid = -1;
                return false;
        }
        return true;
}

void daemon_dump_log(const struct daemon *d)
{
        char line[1024];
        FILE *f = fopen(d->log, "r");
        if (f == NULL) {
                return;
        }
        fprintf(stderr, "---- %s ----\n", d->log);
        while (fgets(line, sizeof line, f) != NULL) {
                fputs(line, stderr);
        }
        fclose(f);
}

int daemon_stop(struct daemon *d)
{
        int status;
        if (d->pid <= 0) {
                return 0;
        }
        status = daemon_signal(d, SIGTERM, true);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                daemon_dump_log(d);
                return -1;
        }
        return 0;
}

int daemon_log_count(const struct daemon *d, const char *needle)
{
        char line[1024];
        int n = 0;
        FILE *f = fopen(d->log, "r");
        if (f == NULL) {
                return -1;
        }
        while (fgets(line, sizeof line, f) != NULL) {
                n += strstr(line, needle) != NULL;
        }
        fclose(f);
        return n;
}
