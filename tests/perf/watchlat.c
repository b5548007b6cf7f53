/* Watch delivery latency: W watches of one key, spread over C connections
 * to one node (WATCH requests on the wire, as a client multiplexing its
 * watches would), and one writer putting the key every PERIOD_MS through
 * libtunekv (ack COMMITTED), each value its send time. For every (put,
 * watch) the time from the put being sent to the event arriving is one
 * sample, on one clock in one process; printed as one JSON line with
 * p50/p90/p99/max. A measuring tool (docs/performance.md), asserts
 * nothing.
 *
 *   tkv-watchlat ENDPOINT WATCHERS CONNS PUTS PERIOD_MS [NODE_ENDPOINT]
 *
 * ENDPOINT is where the writer goes (any node; it forwards to the leader),
 * NODE_ENDPOINT (default ENDPOINT) serves the watches. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tunekv.h"
#include "tunekv.pb-c.h"

#define KEY "watchlat/key"

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int dial(const char *endpoint)
{
        char host[256];
        const char *colon = strrchr(endpoint, ':');
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
        int fd, one = 1;

        if (colon == NULL || (size_t)(colon - endpoint) >= sizeof host) {
                return -1;
        }
        memcpy(host, endpoint, (size_t)(colon - endpoint));
        host[colon - endpoint] = '\0';
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
                return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                freeaddrinfo(ai);
                return -1;
        }
        freeaddrinfo(ai);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n <= 0) {
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int send_watch(int fd, uint64_t id)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions ro = TUNEKV__V1__READ_OPTIONS__INIT;
        uint8_t buf[512];
        size_t len;

        wq.key.data = (uint8_t *)KEY;
        wq.key.len = strlen(KEY);
        ro.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_EVENTUAL;
        wq.options = &ro;
        req.id = id;
        req.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        req.watch = &wq;
        len = tunekv__v1__request__get_packed_size(&req);
        buf[0] = (uint8_t)(len >> 24);
        buf[1] = (uint8_t)(len >> 16);
        buf[2] = (uint8_t)(len >> 8);
        buf[3] = (uint8_t)len;
        tunekv__v1__request__pack(&req, buf + 4);
        return send_all(fd, buf, len + 4);
}

/* A connection's received bytes. */
struct rx {
        int fd;
        uint8_t *buf;
        size_t len, cap;
};

/* Handle every whole frame in r: created frames count into *created,
 * events add their latency to lat. */
static void rx_frames(struct rx *r, unsigned *created, double *lat, size_t *n_lat, size_t cap)
{
        size_t at = 0;

        while (r->len - at >= 4) {
                size_t flen = (size_t)r->buf[at] << 24 | (size_t)r->buf[at + 1] << 16 |
                              (size_t)r->buf[at + 2] << 8 | r->buf[at + 3];
                Tunekv__V1__Response *resp;
                double t = now_us();
                if (r->len - at - 4 < flen) {
                        break;
                }
                resp = tunekv__v1__response__unpack(NULL, flen, r->buf + at + 4);
                at += 4 + flen;
                if (resp == NULL || resp->body_case != TUNEKV__V1__RESPONSE__BODY_WATCH) {
                        fprintf(stderr, "watchlat: unexpected answer: %s\n",
                                resp != NULL ? resp->message : "undecodable");
                        exit(1);
                }
                *created += resp->watch->created;
                for (size_t i = 0; i < resp->watch->n_events; i++) {
                        const ProtobufCBinaryData *v = &resp->watch->events[i]->value;
                        char sent[32];
                        size_t n = v->len < sizeof sent - 1 ? v->len : sizeof sent - 1;
                        memcpy(sent, v->data, n);
                        sent[n] = '\0';
                        if (*n_lat < cap && atof(sent) > 0) {
                                lat[(*n_lat)++] = t - atof(sent);
                        }
                }
                tunekv__v1__response__free_unpacked(resp, NULL);
        }
        memmove(r->buf, r->buf + at, r->len - at);
        r->len -= at;
}

static void rx_read(struct rx *r)
{
        ssize_t n;
        if (r->cap - r->len < 65536) {
                r->cap = r->cap * 2 + 65536;
                r->buf = realloc(r->buf, r->cap);
        }
        n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n <= 0) {
                fprintf(stderr, "watchlat: connection closed\n");
                exit(1);
        }
        r->len += (size_t)n;
}

struct writer {
        const char *endpoint;
        unsigned puts;
        unsigned period_ms;
        volatile int done;
};

static void *writer_run(void *arg)
{
        struct writer *wr = arg;
        struct tkv_options o = {.endpoints = wr->endpoint};
        struct tkv_client *c;
        char err[256];

        if (tkv_client_create(&o, &c, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "watchlat: %s\n", err);
                exit(1);
        }
        for (unsigned i = 0; i < wr->puts; i++) {
                struct tkv_result r;
                char v[32];
                struct timespec ts = {0, (long)wr->period_ms * 1000000L};
                snprintf(v, sizeof v, "%.3f", now_us());
                if (tkv_put(c, KEY, strlen(KEY), v, strlen(v), NULL, &r) != TKV_OK) {
                        fprintf(stderr, "watchlat: put: %s\n", r.message);
                }
                tkv_result_release(&r);
                nanosleep(&ts, NULL);
        }
        tkv_client_destroy(c);
        wr->done = 1;
        return NULL;
}

int main(int argc, char **argv)
{
        unsigned watchers, conns, created = 0;
        struct writer wr;
        struct rx *rx;
        struct pollfd *pfd;
        double *lat;
        size_t n_lat = 0, cap;
        pthread_t t;
        uint64_t id = 1;
        double t0, elapsed_s;

        if (argc < 6) {
                fprintf(stderr, "usage: tkv-watchlat ENDPOINT WATCHERS CONNS PUTS PERIOD_MS "
                                "[NODE_ENDPOINT]\n");
                return 2;
        }
        watchers = (unsigned)atoi(argv[2]);
        conns = (unsigned)atoi(argv[3]);
        wr.endpoint = argv[1];
        wr.puts = (unsigned)atoi(argv[4]);
        wr.period_ms = (unsigned)atoi(argv[5]);
        wr.done = 0;
        conns = conns == 0 ? 1 : conns > watchers ? watchers : conns;
        cap = (size_t)watchers * wr.puts + 1;
        lat = malloc(cap * sizeof *lat);
        rx = calloc(conns, sizeof *rx);
        pfd = calloc(conns, sizeof *pfd);
        for (unsigned i = 0; i < conns; i++) {
                rx[i].fd = dial(argc > 6 ? argv[6] : argv[1]);
                if (rx[i].fd < 0) {
                        fprintf(stderr, "watchlat: cannot connect\n");
                        return 1;
                }
                pfd[i].fd = rx[i].fd;
                pfd[i].events = POLLIN;
        }
        for (unsigned w = 0; w < watchers; w++) {
                if (send_watch(rx[w % conns].fd, id++) != 0) {
                        return 1;
                }
        }
        while (created < watchers) {
                poll(pfd, conns, 1000);
                for (unsigned i = 0; i < conns; i++) {
                        if (pfd[i].revents & POLLIN) {
                                rx_read(&rx[i]);
                                rx_frames(&rx[i], &created, lat, &n_lat, cap);
                        }
                }
        }
        t0 = now_us();
        pthread_create(&t, NULL, writer_run, &wr);
        while (!wr.done || n_lat < (size_t)watchers * wr.puts) {
                if (poll(pfd, conns, 2000) == 0 && wr.done) {
                        break; /* what was lost stays lost: reported as missing */
                }
                for (unsigned i = 0; i < conns; i++) {
                        if (pfd[i].revents & POLLIN) {
                                rx_read(&rx[i]);
                                rx_frames(&rx[i], &created, lat, &n_lat, cap);
                        }
                }
        }
        pthread_join(t, NULL);
        elapsed_s = (now_us() - t0) / 1e6;
        qsort(lat, n_lat, sizeof *lat, cmp);
        printf("{\"system\":\"tunekv\",\"op\":\"watch\",\"watchers\":%u,\"conns\":%u,\"puts\":%u,"
               "\"events\":%zu,\"missing\":%zu,\"elapsed_s\":%.3f,\"p50_us\":%.0f,\"p90_us\":%.0f,"
               "\"p99_us\":%.0f,\"max_us\":%.0f}\n",
               watchers, conns, wr.puts, n_lat, (size_t)watchers * wr.puts - n_lat, elapsed_s,
               n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 9 / 10] : 0,
               n_lat ? lat[n_lat * 99 / 100] : 0, n_lat ? lat[n_lat - 1] : 0);
        return 0;
}
