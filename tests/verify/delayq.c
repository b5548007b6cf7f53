/* delayq: delay one network link of the verification harness.
 *
 *   delayq QUEUE_NUM DELAY_MS
 *
 * Holds every packet of NFQUEUE queue QUEUE_NUM (in the namespace delayq
 * runs in) for DELAY_MS milliseconds, then accepts it. Packets leave in the
 * order they came: the delay is fixed, so the oldest held packet is always
 * the next one due, and a FIFO ring is all the bookkeeping needed.
 *
 * The kernel has no netem here (../shared/FAULTS-RECIPE.md §3), so the
 * harness queues the traffic of one peer in the receiver's namespace:
 *
 *   iptables -t mangle -A PREROUTING -s PEER -j NFQUEUE \
 *           --queue-num N --queue-bypass
 *   delayq N 50 &
 *
 * Delaying in PREROUTING rather than in the sender's OUTPUT keeps the
 * sender's TCP from being throttled; --queue-bypass makes the rule a no-op
 * when no delayq is listening, so killing delayq removes the delay instead
 * of cutting the link. The mangle table keeps delays apart from the
 * partitions in the filter table: an accept verdict leaves the chain, so
 * an NFQUEUE rule before a DROP in one chain would void the DROP.
 *
 * Bounded: at most RING_CAP packets are held. When the ring is full a new
 * packet is accepted at once (undelayed, maybe ahead of older ones) rather
 * than dropped, and the queue is fail-open for the same reason: a delay
 * fault must never turn into a partition the harness did not ask for.
 *
 * SIGTERM or SIGINT: every held packet is accepted, then exit 0.
 * Exit status: 0 stopped by a signal; 1 the queue could not be used;
 * 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll() */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>

/* A power of two, so that the free-running indices wrap cleanly. 64 Ki
 * packets of 1500 bytes is ~94 MiB in flight: far more than a test link
 * carries in any sane delay. -DRING_CAP=4 tests the full-ring path. */
#ifndef RING_CAP
#define RING_CAP 65536u
#endif
_Static_assert(RING_CAP > 0 && (RING_CAP & (RING_CAP - 1)) == 0, "RING_CAP: a power of two");
#define MAX_DELAY_MS 60000L
/* Netlink messages read per wake-up before releasing due packets again:
 * a flood of arrivals must not hold back departures. */
#define RECV_BATCH 64
/* A netlink message carries a packet's metadata only (NFQNL_COPY_META),
 * but the buffer must hold whatever the kernel sends. */
#define RECV_BUF_SIZE 65536
#define SOCK_RCVBUF   (8u << 20)

struct held {
        uint32_t id;    /* the kernel's packet id, for the verdict */
        int64_t due_ns; /* CLOCK_MONOTONIC */
};

static struct held ring[RING_CAP];
static uint32_t ring_head; /* next to release */
static uint32_t ring_tail; /* next free slot; tail - head = packets held */

static int64_t delay_ns;
static unsigned long n_delayed, n_early, n_verdict_errors, n_lost;
static volatile sig_atomic_t stop_signal;

static int64_t now_ns(void)
{
        struct timespec ts;

        /* Monotonic: a clock-skew fault on the host (faketime, settime)
         * must not shorten or stretch the delay. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t ring_count(void)
{
        return ring_tail - ring_head;
}

static void accept_packet(struct nfq_q_handle *qh, uint32_t id)
{
        /* A failed verdict leaves the packet queued until the queue is
         * destroyed (and then it is dropped): count it, keep going. */
        if (nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL) < 0) {
                if (n_verdict_errors++ == 0) {
                        fprintf(stderr, "delayq: verdict on packet %u: %s\n", id, strerror(errno));
                }
        }
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data)
{
        struct nfqnl_msg_packet_hdr *ph;
        uint32_t id;

        (void)msg;
        (void)data;
        ph = nfq_get_msg_packet_hdr(nfa);
        if (ph == NULL) {
                return 0; /* no id: nothing we could give a verdict on */
        }
        id = ntohl(ph->packet_id);
        if (ring_count() == RING_CAP) {
                n_early++;
                accept_packet(qh, id);
                return 0;
        }
        ring[ring_tail % RING_CAP] = (struct held){.id = id, .due_ns = now_ns() + delay_ns};
        ring_tail++;
        n_delayed++;
        return 0;
}

/* Accept every held packet due at or before @until, oldest first. */
static void release_due(struct nfq_q_handle *qh, int64_t until)
{
        while (ring_count() > 0 && ring[ring_head % RING_CAP].due_ns <= until) {
                accept_packet(qh, ring[ring_head % RING_CAP].id);
                ring_head++;
        }
}

static void on_signal(int sig)
{
        stop_signal = sig;
}

/* Parse a decimal in [min, max]; false on anything else. */
static bool parse_long(const char *s, long min, long max, long *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
                return false;
        }
        *out = v;
        return true;
}

_Noreturn static void usage(void)
{
        fprintf(stderr,
                "usage: delayq QUEUE_NUM DELAY_MS\n"
                "  holds every packet of NFQUEUE queue QUEUE_NUM (0-65535) for\n"
                "  DELAY_MS (0-%ld) milliseconds, then accepts it, in order.\n"
                "  SIGTERM/SIGINT: accept the held packets and exit 0.\n",
                MAX_DELAY_MS);
        exit(2);
}

/* Read what the kernel queued, at most RECV_BATCH messages. */
static int drain_socket(struct nfq_handle *h, int fd)
{
        static char buf[RECV_BUF_SIZE] __attribute__((aligned));

        for (int i = 0; i < RECV_BATCH; i++) {
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

                if (n > 0) {
                        nfq_handle_packet(h, buf, (int)n);
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                        return 0;
                }
                if (n < 0 && errno == ENOBUFS) {
                        /* The socket overflowed and the kernel dropped
                         * messages; fail-open should make this rare.
                         * Those packets are gone, the link lives on. */
                        n_lost++;
                        continue;
                }
                fprintf(stderr, "delayq: recv: %s\n", n == 0 ? "socket closed" : strerror(errno));
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct nfq_handle *h;
        struct nfq_q_handle *qh;
        struct sigaction sa;
        sigset_t block, wait_mask;
        struct pollfd pfd;
        long queue_num, delay_ms;
        int status = 0;

        if (argc != 3 || !parse_long(argv[1], 0, 65535, &queue_num) ||
            !parse_long(argv[2], 0, MAX_DELAY_MS, &delay_ms)) {
                usage();
        }
        delay_ns = (int64_t)delay_ms * 1000000;

        /* The signals stay blocked except inside ppoll(): a signal that
         * lands between the check of stop_signal and the wait would
         * otherwise sleep until the next packet or deadline. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &wait_mask);
        sigdelset(&wait_mask, SIGTERM);
        sigdelset(&wait_mask, SIGINT);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        h = nfq_open();
        if (h == NULL) {
                fprintf(stderr, "delayq: nfq_open: %s (root, or CAP_NET_ADMIN, needed)\n",
                        strerror(errno));
                return 1;
        }
        /* nfq_bind_pf() is not called: since Linux 3.8 it is a no-op. */
        qh = nfq_create_queue(h, (uint16_t)queue_num, on_packet, NULL);
        if (qh == NULL) {
                /* The kernel says EPERM for both causes. */
                fprintf(stderr,
                        "delayq: queue %ld: %s (needs CAP_NET_ADMIN; or another program "
                        "holds the queue)\n",
                        queue_num, strerror(errno));
                nfq_close(h);
                return 1;
        }
        /* Only the metadata comes up: the verdict needs the id, not the
         * bytes, and copying payloads would cost the most on bulk TCP. */
        if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
                fprintf(stderr, "delayq: set mode: %s\n", strerror(errno));
                status = 1;
                goto out;
        }
        /* The kernel may queue as many packets as the ring holds; beyond
         * that, fail-open accepts them instead of dropping them. */
        if (nfq_set_queue_maxlen(qh, RING_CAP) < 0) {
                fprintf(stderr, "delayq: set queue length: %s\n", strerror(errno));
        }
        if (nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0) {
                fprintf(stderr, "delayq: fail-open not supported: %s\n", strerror(errno));
        }
        /* A burst arrives faster than one wake-up reads it. */
        nfnl_rcvbufsiz(nfq_nfnlh(h), SOCK_RCVBUF);

        pfd.fd = nfq_fd(h);
        pfd.events = POLLIN;
        while (!stop_signal) {
                struct timespec timeout, *tp = NULL;
                int r;

                if (ring_count() > 0) {
                        int64_t wait = ring[ring_head % RING_CAP].due_ns - now_ns();

                        if (wait < 0) {
                                wait = 0;
                        }
                        /* ppoll's nanoseconds: no rounding up to whole
                         * milliseconds on every packet. */
                        timeout.tv_sec = (time_t)(wait / 1000000000);
                        timeout.tv_nsec = (long)(wait % 1000000000);
                        tp = &timeout;
                }
                r = ppoll(&pfd, 1, tp, &wait_mask);
                if (r < 0 && errno != EINTR) {
                        fprintf(stderr, "delayq: poll: %s\n", strerror(errno));
                        status = 1;
                        break;
                }
                if (r > 0 && (pfd.revents & (POLLIN | POLLERR)) != 0 &&
                    drain_socket(h, pfd.fd) < 0) {
                        status = 1;
                        break;
                }
                release_due(qh, now_ns());
        }

        /* Stopping: what is held goes out now, late packets beat lost ones.
         * Whatever arrives after this meets the closed queue, and
         * --queue-bypass lets it through. */
        release_due(qh, INT64_MAX);
        fprintf(stderr,
                "delayq: queue %ld: %lu packets delayed %ld ms, %lu accepted early (ring full), "
                "%lu lost to socket overflow, %lu verdict errors\n",
                queue_num, n_delayed, delay_ms, n_early, n_lost, n_verdict_errors);
out:
        nfq_destroy_queue(qh);
        nfq_close(h);
        return status;
}
