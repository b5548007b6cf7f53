/* Prometheus metrics on an HTTP port of their own ([node] metrics_addr),
 * plus /healthz and /readyz for load balancers and orchestrators.
 *
 * libmicrohttpd serves them from a thread of its own; it never touches the
 * loop's state. The loop formats the whole exposition once a second
 * (metrics_publish, from the server's lag timer) into a buffer the HTTP
 * thread copies under a mutex: a scrape sees numbers at most a second
 * old, and a slow or hostile scraper can hold only its own connection
 * (at most METRICS_CONNECTIONS_MAX, each timed out). */
#ifndef TKV_METRICS_H
#define TKV_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"

#define METRICS_CONNECTIONS_MAX 16

struct node;

struct metrics {
        struct MHD_Daemon *httpd; /* NULL: off */
        pthread_mutex_t lock;     /* guards text and ready */
        struct buffer text;       /* the last exposition */
        bool ready;               /* /readyz: every local partition led or followed */
        struct buffer next;       /* the loop's scratch for the next one */
};

/* Serve on addr ("a.b.c.d:port"); an empty addr leaves metrics off.
 * 0, or TKV_E* with errmsg. */
int metrics_start(struct metrics *m, const char *addr, char *errmsg);

/* Format the metrics of node (borrowed: the server's, with its connections)
 * and hand them to the HTTP thread (the loop's call). */
void metrics_publish(struct metrics *m, const struct node *node, bool ready);

void metrics_stop(struct metrics *m);

#endif
