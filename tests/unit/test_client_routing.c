/* libtunekv routing: the partition map (map.c), the retry policy (retry.c),
 * and the client sending keyed requests to partition leaders, following
 * hints and retrying, against scripted nodes on 127.0.0.1. The test plays
 * every node between calls of tkv_poll, in the same thread, so it can
 * produce on demand what a real cluster does only by accident: a leader
 * that hangs up after reading a write, OUTCOME_UNKNOWN, stale hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "buffer.h"
#include "client.h"
#include "frame.h"
#include "map.h"
#include "retry.h"
#include "tunekv.h"
#include "tunekv.pb-c.h"

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The partition map ---- */

/* A cluster info of p partitions over nodes 1..n at addresses "n<id>",
 * partition i led by leaders[i] (0: unknown), replicas i%n+1, ... */
struct info {
        struct tkv_cluster_info ci;
        struct tkv_node_info nodes[8];
        struct tkv_partition_info parts[16];
        char addrs[8][32];
};

static void info_make(struct info *in, uint32_t p, unsigned n, const uint32_t *leaders)
{
        unsigned i;
        unsigned k;

        memset(in, 0, sizeof(*in));
        in->ci.partition_count = p;
        in->ci.node_id = 1;
        in->ci.nodes = in->nodes;
        in->ci.n_nodes = n;
        in->ci.partitions = in->parts;
        in->ci.n_partitions = p;
        for (i = 0; i < n; i++) {
                snprintf(in->addrs[i], sizeof(in->addrs[i]), "127.0.0.1:%u", 7001 + i);
                in->nodes[i].node_id = i + 1;
                in->nodes[i].client_addr = in->addrs[i];
        }
        for (i = 0; i < p; i++) {
                in->parts[i].partition = i;
                in->parts[i].leader_id = leaders != NULL ? leaders[i] : 0;
                in->parts[i].n_replicas = n < 3 ? n : 3;
                for (k = 0; k < in->parts[i].n_replicas; k++) {
                        in->parts[i].replicas[k] = (i + k) % n + 1;
                }
        }
}

static void test_map_partition_of(void **state)
{
        struct info in;
        struct map m;
        char key[32];
        int i;

        (void)state;
        map_init(&m);
        info_make(&in, 7, 3, NULL);
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        for (i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "key-%d", i);
                assert_int_equal(map_partition_of(&m, key, strlen(key)),
                                 XXH64(key, strlen(key), 0) % 7);
        }
        /* The server's own reference value: xxh64("a", seed 0). */
        assert_int_equal(XXH64("a", 1, 0), 0xd24ec4f1a98c6e5bull);
        assert_int_equal(map_partition_of(&m, "a", 1), 0xd24ec4f1a98c6e5bull % 7);
        assert_int_equal(map_partition_of(&m, "", 0), XXH64("", 0, 0) % 7);
        map_free(&m);
}

static void test_map_update_and_target(void **state)
{
        uint32_t leaders[4] = {2, 0, 3, 0};
        struct info in;
        struct map m;

        (void)state;
        map_init(&m);
        assert_false(m.valid);
        assert_int_equal(map_target(&m, 0, 0), 0); /* no map: nowhere */
        info_make(&in, 4, 3, leaders);
        in.parts[3].n_replicas = 0;
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        assert_true(m.valid);
        assert_int_equal(m.partition_count, 4);
        assert_int_equal(map_target(&m, 0, 0), 2); /* the leader, whatever the attempt */
        assert_int_equal(map_target(&m, 0, 5), 2);
        /* Unknown leader: the first replica, then each in turn. */
        assert_int_equal(map_target(&m, 1, 0), 2);
        assert_int_equal(map_target(&m, 1, 1), 3);
        assert_int_equal(map_target(&m, 1, 2), 1);
        assert_int_equal(map_target(&m, 1, 3), 2);
        assert_int_equal(map_target(&m, 3, 0), 0); /* no replicas known */
        assert_int_equal(map_target(&m, 4, 0), 0); /* out of range */
        assert_string_equal(map_node(&m, 3)->addr, "127.0.0.1:7003");
        assert_null(map_node(&m, 4));

        /* Unusable layouts are refused and the old map stays. */
        info_make(&in, 0, 3, NULL);
        assert_int_equal(map_update(&m, &in.ci), TKV_PROTOCOL_ERROR);
        info_make(&in, 2, 3, NULL);
        in.parts[1].partition = 2;
        assert_int_equal(map_update(&m, &in.ci), TKV_PROTOCOL_ERROR);
        info_make(&in, 2, 3, NULL);
        in.ci.partition_count = MAP_PARTITIONS_MAX + 1;
        assert_int_equal(map_update(&m, &in.ci), TKV_PROTOCOL_ERROR);
        assert_int_equal(m.partition_count, 4);
        assert_int_equal(map_target(&m, 2, 0), 3);

        /* Partitions the answer leaves out have no leader and no replica. */
        info_make(&in, 3, 2, NULL);
        in.ci.n_partitions = 1;
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        assert_int_equal(m.partition_count, 3);
        assert_int_equal(map_target(&m, 2, 0), 0);
        map_free(&m);
        assert_false(m.valid);
}

static void test_map_hint(void **state)
{
        uint32_t leaders[2] = {1, 1};
        struct info in;
        struct map m;
        uint64_t updates;

        (void)state;
        map_init(&m);
        assert_int_equal(map_hint(&m, 0, 2, "x:1"), TKV_OK); /* no map: ignored */
        assert_false(m.valid);
        info_make(&in, 2, 2, leaders);
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        updates = m.updates;

        /* A known node: only the leader changes. */
        assert_int_equal(map_hint(&m, 1, 2, "127.0.0.1:7002"), TKV_OK);
        assert_int_equal(map_target(&m, 1, 0), 2);
        assert_int_equal(map_target(&m, 0, 0), 1);
        assert_int_equal(m.n_nodes, 2);
        assert_int_equal(m.updates, updates + 1);
        /* The same hint again changes nothing. */
        assert_int_equal(map_hint(&m, 1, 2, "127.0.0.1:7002"), TKV_OK);
        assert_int_equal(m.updates, updates + 1);
        /* A node the map did not know is added with its address. */
        assert_int_equal(map_hint(&m, 0, 5, "127.0.0.1:7005"), TKV_OK);
        assert_int_equal(map_target(&m, 0, 0), 5);
        assert_int_equal(m.n_nodes, 3);
        assert_string_equal(map_node(&m, 5)->addr, "127.0.0.1:7005");
        /* A moved node gets its new address; no address keeps the old. */
        assert_int_equal(map_hint(&m, 0, 5, "127.0.0.1:7105"), TKV_OK);
        assert_string_equal(map_node(&m, 5)->addr, "127.0.0.1:7105");
        assert_int_equal(map_hint(&m, 0, 5, ""), TKV_OK);
        assert_int_equal(map_hint(&m, 0, 5, NULL), TKV_OK);
        assert_string_equal(map_node(&m, 5)->addr, "127.0.0.1:7105");
        /* An unknown node without an address: the leader is noted anyway. */
        assert_int_equal(map_hint(&m, 1, 6, ""), TKV_OK);
        assert_int_equal(map_target(&m, 1, 0), 6);
        assert_null(map_node(&m, 6));
        /* Node 0 (no leader known) and partitions out of range: ignored. */
        assert_int_equal(map_hint(&m, 1, 0, "127.0.0.1:7001"), TKV_OK);
        assert_int_equal(map_target(&m, 1, 0), 6);
        assert_int_equal(map_hint(&m, 2, 1, "127.0.0.1:7001"), TKV_OK);
        map_free(&m);
}

/* The map keeps each node's zone from CLUSTER_INFO (cut to fit), and a
 * hint that moves a node keeps its zone. */
static void test_map_zones(void **state)
{
        static const char *zones[3] = {"a", "b", NULL};
        char long_zone[100];
        struct info in;
        struct map m;
        unsigned i;

        (void)state;
        memset(long_zone, 'z', sizeof(long_zone) - 1);
        long_zone[sizeof(long_zone) - 1] = '\0';
        map_init(&m);
        info_make(&in, 2, 3, NULL);
        for (i = 0; i < 3; i++) {
                in.nodes[i].zone = zones[i];
        }
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        assert_string_equal(map_node(&m, 1)->zone, "a");
        assert_string_equal(map_node(&m, 2)->zone, "b");
        assert_string_equal(map_node(&m, 3)->zone, ""); /* none given */
        assert_int_equal(map_hint(&m, 0, 2, "127.0.0.1:7102"), TKV_OK);
        assert_string_equal(map_node(&m, 2)->addr, "127.0.0.1:7102");
        assert_string_equal(map_node(&m, 2)->zone, "b");
        in.nodes[0].zone = long_zone;
        assert_int_equal(map_update(&m, &in.ci), TKV_OK);
        assert_int_equal(strlen(map_node(&m, 1)->zone), MAP_ZONE_BYTES - 1);
        map_free(&m);
}

/* ---- The retry policy ---- */

static void test_retry_write_flags(void **state)
{
        struct retry r;
        int64_t at = 0;

        (void)state;
        /* Refusals keep the write new: it is resent with retry = false. */
        retry_init(&r, true, 10000);
        assert_false(retry_flag(&r));
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, true, 0, &at), RETRY_NOW);
        assert_false(retry_flag(&r));
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_UNAVAILABLE, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NO_QUORUM, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_BUSY, false, 0, &at), RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_TIMEOUT, false, 0, &at), RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_REFUSED, TKV_CONNECT_FAILED, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_UNSENT, TKV_OK, false, 0, &at), RETRY_NOW);
        assert_int_equal(retry_next(&r, RETRY_END_NO_ROUTE, TKV_OK, false, 0, &at), RETRY_LATER);
        assert_false(retry_flag(&r));
        /* The last server's answer: the refused connection after it says less. */
        assert_int_equal(retry_status(&r), TKV_TIMEOUT);

        /* A link lost after sending: from now on every attempt is a retry,
         * and giving up says OUTCOME_UNKNOWN whatever came later. */
        assert_int_equal(retry_next(&r, RETRY_END_LOST, TKV_CONNECTION_CLOSED, false, 0, &at),
                         RETRY_LATER);
        assert_true(retry_flag(&r));
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, false, 0, &at),
                         RETRY_LATER);
        assert_true(retry_flag(&r));
        assert_int_equal(r.status, TKV_NOT_LEADER);
        assert_int_equal(retry_status(&r), TKV_OUTCOME_UNKNOWN);
        /* A definite answer is delivered as it is. */
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_OK, false, 0, &at), RETRY_DELIVER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_CONDITION_FAILED, false, 0, &at),
                         RETRY_DELIVER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_INVALID_ARGUMENT, false, 0, &at),
                         RETRY_DELIVER);

        /* OUTCOME_UNKNOWN answers set the flag; the second one is final (a
         * retry the server no longer remembers stays unknown). */
        retry_init(&r, true, 10000);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_OUTCOME_UNKNOWN, false, 0, &at),
                         RETRY_LATER);
        assert_true(retry_flag(&r));
        assert_int_equal(retry_next(&r, RETRY_END_REFUSED, TKV_CONNECT_FAILED, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_OUTCOME_UNKNOWN, false, 0, &at),
                         RETRY_GIVE_UP);
        assert_int_equal(RETRY_UNKNOWN_MAX, 2);
        assert_int_equal(retry_status(&r), TKV_OUTCOME_UNKNOWN);

        /* What the client saw alone does not hide what a server said. */
        retry_init(&r, true, 10000);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NO_QUORUM, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_REFUSED, TKV_CONNECT_FAILED, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_next(&r, RETRY_END_NO_ROUTE, TKV_CONNECT_FAILED, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_status(&r), TKV_NO_QUORUM);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_BUSY, false, 0, &at), RETRY_LATER);
        assert_int_equal(retry_status(&r), TKV_BUSY); /* a newer answer does */
        retry_expire(&r, true);
        assert_int_equal(r.status, TKV_TIMEOUT); /* and so does a silent last attempt */

        /* The deadline with the attempt on the wire. */
        retry_init(&r, true, 10000);
        retry_expire(&r, false);
        assert_int_equal(retry_status(&r), TKV_TIMEOUT); /* never sent */
        retry_expire(&r, true);
        assert_int_equal(retry_status(&r), TKV_OUTCOME_UNKNOWN);
}

static void test_retry_reads(void **state)
{
        struct retry r;
        int64_t at = 0;

        (void)state;
        retry_init(&r, false, 10000);
        assert_int_equal(retry_next(&r, RETRY_END_LOST, TKV_CONNECTION_CLOSED, false, 0, &at),
                         RETRY_LATER);
        assert_false(retry_flag(&r)); /* reads are never "maybe applied" */
        assert_int_equal(retry_status(&r), TKV_CONNECTION_CLOSED);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_UNAVAILABLE, false, 0, &at),
                         RETRY_LATER);
        assert_int_equal(retry_status(&r), TKV_UNAVAILABLE);
        /* A read cannot get OUTCOME_UNKNOWN; if it did, it is delivered. */
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_OUTCOME_UNKNOWN, false, 0, &at),
                         RETRY_DELIVER);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_FOUND, false, 0, &at),
                         RETRY_DELIVER);
        retry_expire(&r, true);
        assert_int_equal(retry_status(&r), TKV_TIMEOUT);
        retry_init(&r, false, 10000);
        assert_int_equal(retry_status(&r), TKV_TIMEOUT); /* nothing happened at all */
}

static void test_retry_backoff_and_deadline(void **state)
{
        static const int64_t waits[] = {20, 40, 80, 100, 100, 100, 100, 100};
        struct retry r;
        int64_t now = 1000;
        int64_t at = 0;
        size_t i;

        (void)state;
        retry_init(&r, false, now + 5000);
        assert_int_equal(retry_attempt_timeout_ms(&r, now), 5000);
        for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
                assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_UNAVAILABLE, false, now, &at),
                                 RETRY_LATER);
                assert_int_equal(at - now, waits[i]);
                now = at;
                /* Each attempt carries the time left, not the whole budget. */
                assert_int_equal(retry_attempt_timeout_ms(&r, now), r.deadline_ms - now);
        }
        /* Near the deadline the wait is cut to leave the last attempt
         * RETRY_LAST_MS; with no room left the request gives up. */
        now = r.deadline_ms - 100;
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_UNAVAILABLE, false, now, &at),
                         RETRY_LATER);
        assert_int_equal(at, r.deadline_ms - RETRY_LAST_MS);
        now = r.deadline_ms - RETRY_LAST_MS;
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_UNAVAILABLE, false, now, &at),
                         RETRY_GIVE_UP);
        assert_int_equal(retry_attempt_timeout_ms(&r, r.deadline_ms), 1); /* never 0 */
        assert_int_equal(retry_attempt_timeout_ms(&r, r.deadline_ms + 9), 1);

        /* Hints are followed at once, RETRY_HOPS_MAX times in a row, then
         * the client backs off; past the deadline it gives up. */
        retry_init(&r, true, 5000);
        for (i = 0; i < RETRY_HOPS_MAX; i++) {
                assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, true, 0, &at),
                                 RETRY_NOW);
        }
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, true, 0, &at),
                         RETRY_LATER);
        assert_int_equal(at, RETRY_BACKOFF_FIRST_MS);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, true, 0, &at), RETRY_NOW);
        assert_int_equal(retry_next(&r, RETRY_END_ANSWER, TKV_NOT_LEADER, true, 5000, &at),
                         RETRY_GIVE_UP);
        assert_int_equal(retry_status(&r), TKV_NOT_LEADER);
}

static void test_retry_refresh(void **state)
{
        (void)state;
        assert_true(retry_wants_refresh(RETRY_END_ANSWER, TKV_NOT_LEADER, false));
        assert_false(retry_wants_refresh(RETRY_END_ANSWER, TKV_NOT_LEADER, true));
        assert_true(retry_wants_refresh(RETRY_END_ANSWER, TKV_UNAVAILABLE, false));
        assert_true(retry_wants_refresh(RETRY_END_ANSWER, TKV_NO_QUORUM, false));
        assert_true(retry_wants_refresh(RETRY_END_ANSWER, TKV_BUSY, false));
        assert_false(retry_wants_refresh(RETRY_END_ANSWER, TKV_OK, false));
        assert_false(retry_wants_refresh(RETRY_END_ANSWER, TKV_OUTCOME_UNKNOWN, false));
        assert_true(retry_wants_refresh(RETRY_END_LOST, TKV_CONNECTION_CLOSED, false));
        assert_true(retry_wants_refresh(RETRY_END_REFUSED, TKV_CONNECT_FAILED, false));
        assert_false(retry_wants_refresh(RETRY_END_UNSENT, TKV_OK, false));
}

/* ---- Scripted nodes ---- */

#define NODES 3
#define PARTS 4

struct node {
        uint32_t id;
        int lfd; /* -1: down (connections refused) */
        int fd;  /* the client's connection, -1 when none */
        unsigned port;
        char addr[32]; /* "127.0.0.1:port" */
        int requests;  /* frames read, CLUSTER_INFO included */
        int infos;     /* CLUSTER_INFO requests */
        int gets;      /* GET requests */
};

struct fake_cluster;
typedef void (*serve_fn)(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m);

struct fake_cluster {
        struct node nodes[NODES];
        uint32_t leaders[PARTS];   /* what CLUSTER_INFO says */
        bool info_refused;         /* CLUSTER_INFO answered INVALID_ARGUMENT */
        char info_addr[NODES][32]; /* client_addr per node in CLUSTER_INFO */
        const char *zones[NODES];  /* zone per node in CLUSTER_INFO; NULL: none */
        serve_fn serve;            /* everything but CLUSTER_INFO */
        int step;                  /* for the scripts */
        int64_t last_ms;           /* for the scripts */
        uint32_t timeouts[16];     /* timeout_ms of attempts seen */
        int n_timeouts;
        Tunekv__V1__Request *kept[32]; /* requests a script keeps */
        int n_kept;
        void *script; /* a test's own state */
};

static void node_listen(struct node *n)
{
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int one = 1;

        n->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(n->lfd >= 0);
        setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((uint16_t)n->port);
        assert_int_equal(bind(n->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(n->lfd, 8), 0);
        assert_int_equal(getsockname(n->lfd, (struct sockaddr *)&sa, &len), 0);
        n->port = ntohs(sa.sin_port);
        snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%u", n->port);
}

static void node_hangup(struct node *n)
{
        if (n->fd >= 0) {
                close(n->fd);
                n->fd = -1;
        }
}

/* Stop listening (and drop the connection): the node is down. */
static void node_down(struct node *n)
{
        node_hangup(n);
        if (n->lfd >= 0) {
                close(n->lfd);
                n->lfd = -1;
        }
}

static void cluster_init(struct fake_cluster *k, serve_fn serve)
{
        int i;

        memset(k, 0, sizeof(*k));
        for (i = 0; i < NODES; i++) {
                k->nodes[i].id = (uint32_t)i + 1;
                k->nodes[i].fd = -1;
                node_listen(&k->nodes[i]);
                snprintf(k->info_addr[i], sizeof(k->info_addr[i]), "%s", k->nodes[i].addr);
        }
        for (i = 0; i < PARTS; i++) {
                k->leaders[i] = (uint32_t)(i % NODES) + 1;
        }
        k->serve = serve;
}

static void cluster_close(struct fake_cluster *k)
{
        int i;

        for (i = 0; i < NODES; i++) {
                node_down(&k->nodes[i]);
        }
        for (i = 0; i < k->n_kept; i++) {
                tunekv__v1__request__free_unpacked(k->kept[i], NULL);
        }
}

static struct tkv_client *cluster_client(struct fake_cluster *k, const char *endpoints,
                                         unsigned timeout_ms)
{
        struct tkv_options o;
        struct tkv_client *c = NULL;
        char err[256];

        memset(&o, 0, sizeof(o));
        o.endpoints = endpoints != NULL ? endpoints : k->nodes[0].addr;
        o.timeout_ms = timeout_ms;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);
        return c;
}

static bool read_all(int fd, void *p, size_t n)
{
        ssize_t k;

        while (n > 0) {
                k = read(fd, p, n);
                if (k <= 0) {
                        return false;
                }
                p = (char *)p + k;
                n -= (size_t)k;
        }
        return true;
}

static void node_send(struct node *n, const Tunekv__V1__Response *m)
{
        size_t len = tunekv__v1__response__get_packed_size(m);
        uint8_t *buf = malloc(FRAME_HEADER_BYTES + len);

        frame_put_header(buf, (uint32_t)len);
        tunekv__v1__response__pack(m, buf + FRAME_HEADER_BYTES);
        assert_int_equal(write(n->fd, buf, FRAME_HEADER_BYTES + len),
                         (ssize_t)(FRAME_HEADER_BYTES + len));
        free(buf);
}

static void node_answer(struct node *n, uint64_t id, int status)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;

        m.id = id;
        m.status = (Tunekv__V1__Status)status;
        m.message = "scripted";
        node_send(n, &m);
}

static void node_not_leader(struct node *n, uint64_t id, uint32_t leader, const char *addr)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;

        m.id = id;
        m.status = TUNEKV__V1__STATUS__STATUS_NOT_LEADER;
        m.message = "not the leader";
        m.leader_hint = &hint;
        hint.node_id = leader;
        hint.client_addr = (char *)addr;
        node_send(n, &m);
}

static void node_ok(struct node *n, const Tunekv__V1__Request *r, uint64_t index)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rr = TUNEKV__V1__READ_RECEIPT__INIT;

        m.id = r->id;
        if (r->body_case == TUNEKV__V1__REQUEST__BODY_GET) {
                m.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
                m.get = &g;
                g.found = 1;
                g.value.data = (uint8_t *)"v";
                g.value.len = 1;
                g.mod_index = index;
                g.receipt = &rr;
                rr.node_id = n->id;
        } else {
                m.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
                m.write = &w;
                w.index = index;
        }
        node_send(n, &m);
}

static void node_status(struct node *n, uint64_t id)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__StatusResponse s = TUNEKV__V1__STATUS_RESPONSE__INIT;

        m.id = id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        m.status_info = &s;
        s.node_id = n->id;
        s.version = "test";
        node_send(n, &m);
}

static void cluster_info(struct fake_cluster *k, struct node *n, uint64_t id)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ClusterInfoResponse ci = TUNEKV__V1__CLUSTER_INFO_RESPONSE__INIT;
        Tunekv__V1__NodeInfo nodes[NODES];
        Tunekv__V1__NodeInfo *node_ptrs[NODES];
        Tunekv__V1__PartitionInfo parts[PARTS];
        Tunekv__V1__PartitionInfo *part_ptrs[PARTS];
        uint32_t replicas[PARTS][NODES];
        int i;
        int j;

        if (k->info_refused) {
                node_answer(n, id, TKV_INVALID_ARGUMENT);
                return;
        }
        m.id = id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO;
        m.cluster_info = &ci;
        ci.partition_count = PARTS;
        ci.node_id = n->id;
        for (i = 0; i < NODES; i++) {
                tunekv__v1__node_info__init(&nodes[i]);
                nodes[i].node_id = k->nodes[i].id;
                nodes[i].client_addr = k->info_addr[i];
                if (k->zones[i] != NULL) {
                        nodes[i].zone = (char *)k->zones[i];
                }
                node_ptrs[i] = &nodes[i];
        }
        for (i = 0; i < PARTS; i++) {
                tunekv__v1__partition_info__init(&parts[i]);
                parts[i].partition = (uint32_t)i;
                parts[i].leader_id = k->leaders[i];
                for (j = 0; j < NODES; j++) {
                        replicas[i][j] = (uint32_t)((i + j) % NODES) + 1;
                }
                parts[i].n_replicas = NODES;
                parts[i].replicas = replicas[i];
                part_ptrs[i] = &parts[i];
        }
        ci.n_nodes = NODES;
        ci.nodes = node_ptrs;
        ci.n_partitions = PARTS;
        ci.partitions = part_ptrs;
        node_send(n, &m);
}

static bool readable(int fd)
{
        struct pollfd p = {fd, POLLIN, 0};
        return fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Accept, read and answer whatever the client sent to any node. */
static void cluster_serve(struct fake_cluster *k)
{
        uint8_t header[FRAME_HEADER_BYTES];
        Tunekv__V1__Request *m;
        uint8_t *body;
        struct node *n;
        uint32_t len;
        int i;

        for (i = 0; i < NODES; i++) {
                n = &k->nodes[i];
                if (readable(n->lfd)) {
                        node_hangup(n);
                        n->fd = accept(n->lfd, NULL, NULL);
                        assert_true(n->fd >= 0);
                }
                while (readable(n->fd)) {
                        if (!read_all(n->fd, header, sizeof(header))) {
                                node_hangup(n); /* the client closed */
                                break;
                        }
                        len = get_be32(header);
                        body = malloc(len + 1);
                        assert_true(read_all(n->fd, body, len));
                        m = tunekv__v1__request__unpack(NULL, len, body);
                        free(body);
                        assert_non_null(m);
                        n->requests++;
                        n->gets += m->body_case == TUNEKV__V1__REQUEST__BODY_GET;
                        if (m->body_case == TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO) {
                                n->infos++;
                                cluster_info(k, n, m->id);
                                tunekv__v1__request__free_unpacked(m, NULL);
                                continue;
                        }
                        k->serve(k, n, m); /* takes m */
                }
        }
}

/* Run client and nodes until nothing is pending or max_ms passed. */
static void cluster_run(struct fake_cluster *k, struct tkv_client *c, int max_ms)
{
        int64_t until = now_ms() + max_ms;

        while (tkv_pending(c) > 0 && now_ms() < until) {
                assert_true(tkv_poll(c, 2) >= 0);
                cluster_serve(k);
        }
}

/* What one callback saw. */
struct seen {
        int calls;
        int status;
        uint64_t index;
        uint32_t node_id;
        char message[320];
};

static void seen_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct seen *s = arg;

        (void)c;
        s->calls++;
        s->status = res->status;
        s->index = res->index;
        s->node_id = res->receipt.node_id;
        if (res->node != NULL) {
                s->node_id = res->node->node_id;
        }
        snprintf(s->message, sizeof(s->message), "%s", res->message);
}

/* A key whose partition (XXH64 % PARTS) is p. */
static const char *key_of(uint32_t p)
{
        static char key[16];
        int i;

        for (i = 0;; i++) {
                snprintf(key, sizeof(key), "key%d", i);
                if (XXH64(key, strlen(key), 0) % PARTS == p) {
                        return key;
                }
        }
}

static void keep(struct fake_cluster *k, Tunekv__V1__Request *m)
{
        assert_true(k->n_kept < 32);
        k->kept[k->n_kept++] = m;
}

/* ---- Routing ---- */

/* Every request answered OK by whichever node gets it. */
static void serve_ok(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        (void)k;
        if (m->body_case == TUNEKV__V1__REQUEST__BODY_STATUS) {
                node_status(n, m->id);
        } else {
                assert_true(m->no_forward);
                node_ok(n, m, 100 + n->id);
        }
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_to_leaders(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[PARTS];
        struct pollfd p;
        uint32_t i;

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_ok);
        c = cluster_client(&k, NULL, 2000); /* knows only node 1 */
        for (i = 0; i < PARTS; i++) {
                assert_int_equal(
                    tkv_get_async(c, key_of(i), strlen(key_of(i)), NULL, seen_cb, &s[i]), TKV_OK);
        }
        cluster_run(&k, c, 2000);
        for (i = 0; i < PARTS; i++) {
                assert_int_equal(s[i].status, TKV_OK);
                assert_int_equal(s[i].node_id, k.leaders[i]); /* served by the leader */
        }
        assert_int_equal(k.nodes[0].infos, 1); /* one map fetch, from the endpoint */
        assert_int_equal(k.nodes[1].infos + k.nodes[2].infos, 0);
        assert_int_equal(k.nodes[1].requests, 1);
        assert_int_equal(k.nodes[2].requests, 1);

        /* tkv_fd covers every link: an answer on node 3's wakes it. */
        assert_int_equal(
            tkv_put_async(c, key_of(2), strlen(key_of(2)), "x", 1, NULL, seen_cb, &s[2]), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        p.fd = tkv_fd(c);
        p.events = POLLIN;
        p.revents = 0;
        assert_true(p.fd >= 0);
        assert_int_equal(poll(&p, 1, 0), 0);
        cluster_serve(&k); /* node 3 answers */
        assert_int_equal(poll(&p, 1, 1000), 1);
        assert_int_equal(tkv_poll(c, 0), 1);
        assert_int_equal(s[2].status, TKV_OK);
        assert_int_equal(s[2].index, 103);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Node 2 (the map's leader of partition 1) says node 3 leads it now. */
static void serve_hint(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        if (n->id == 2) {
                node_not_leader(n, m->id, 3, k->nodes[2].addr);
                k->last_ms = now_ms();
        } else {
                assert_int_equal(n->id, 3);
                assert_true(now_ms() - k->last_ms < RETRY_BACKOFF_FIRST_MS); /* at once */
                node_ok(n, m, 7);
        }
        keep(k, m);
}

static void test_route_not_leader_hint(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s;
        const char *key = key_of(1);
        const struct map *m;
        Tunekv__V1__WriteOptions *first;
        Tunekv__V1__WriteOptions *second;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_hint);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_put_async(c, key, strlen(key), "v", 1, NULL, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(s.index, 7);
        assert_int_equal(k.n_kept, 2);
        first = k.kept[0]->put->options;
        second = k.kept[1]->put->options;
        /* The same write: same (client_id, seq); NOT_LEADER applied nothing,
         * so the second attempt is not a retry. */
        assert_int_not_equal(first->client_id, 0);
        assert_int_equal(first->client_id, second->client_id);
        assert_int_equal(first->seq, second->seq);
        assert_false(first->retry);
        assert_false(second->retry);
        assert_true(k.kept[1]->id > k.kept[0]->id);
        /* The hint is in the map: the next request goes to node 3 at once. */
        m = client_partition_map(c);
        assert_int_equal(map_target(m, 1, 0), 3);
        memset(&s, 0, sizeof(s));
        assert_int_equal(tkv_put_async(c, key, strlen(key), "w", 1, NULL, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(k.n_kept, 3);
        assert_int_equal(k.kept[2]->put->options->seq, first->seq + 1); /* a new write */
        assert_int_equal(k.nodes[1].requests, 1);
        assert_int_equal(k.nodes[0].infos, 1); /* a hint needs no map fetch */
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Node 2 names a node the map does not know, at node 1's address. */
static void serve_hint_new_node(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        if (n->id == 2) {
                node_not_leader(n, m->id, 9, k->nodes[0].addr);
        } else {
                assert_int_equal(n->id, 1);
                node_ok(n, m, 9);
        }
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_hint_new_node(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_hint_new_node);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), NULL, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_non_null(map_node(client_partition_map(c), 9));
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* The leader of partition 1 (node 2) keeps answering UNAVAILABLE; the
 * attempts' timeouts are recorded. */
static void serve_unavailable(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        assert_int_equal(n->id, 2);
        assert_true(k->n_timeouts < 16);
        k->timeouts[k->n_timeouts++] = m->timeout_ms;
        if (k->last_ms != 0) {
                assert_true(now_ms() - k->last_ms >= RETRY_BACKOFF_FIRST_MS - 1); /* backoff */
        }
        k->last_ms = now_ms();
        node_answer(n, m->id, TKV_UNAVAILABLE);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_unavailable_until_deadline(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct tkv_read_options ro = {.timeout_ms = 400};
        struct seen s;
        int64_t start;
        int64_t took;
        int i;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_unavailable);
        c = cluster_client(&k, NULL, 0);
        start = now_ms();
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), &ro, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        took = now_ms() - start;
        assert_int_equal(s.status, TKV_UNAVAILABLE); /* the last status */
        assert_non_null(strstr(s.message, "gave up"));
        /* 20 + 40 + 80 + 160: five attempts fit, then one cut short. */
        assert_in_range(k.n_timeouts, 5, 7);
        assert_in_range(took, 300, 450);
        for (i = 0; i < k.n_timeouts; i++) {
                /* Every attempt carries the time left of the one deadline. */
                assert_true(k.timeouts[i] <= 400);
                if (i > 0) {
                        assert_true(k.timeouts[i] < k.timeouts[i - 1]);
                }
        }
        /* UNAVAILABLE refreshes the map, at most every 100 ms. */
        assert_in_range(k.nodes[0].infos, 2, 5);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* A write to node 3 (leader of partition 2): the first attempt is read and
 * the connection dropped; the second is answered OUTCOME_UNKNOWN; the third
 * OK. Every attempt after the first is a retry. */
static void serve_write_lost(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        assert_int_equal(n->id, 3);
        k->step++;
        if (k->step == 1) {
                node_hangup(n);
        } else if (k->step == 2) {
                node_answer(n, m->id, TKV_OUTCOME_UNKNOWN);
        } else {
                node_ok(n, m, 42);
        }
        keep(k, m);
}

static void test_route_write_retry_flag(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s;
        int i;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_write_lost);
        c = cluster_client(&k, NULL, 3000);
        assert_int_equal(
            tkv_cas_async(c, key_of(2), strlen(key_of(2)), 5, "v", 1, NULL, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 3000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(s.index, 42);
        assert_int_equal(k.n_kept, 3);
        assert_false(k.kept[0]->cas->options->retry);
        for (i = 1; i < 3; i++) {
                assert_int_equal(k.kept[i]->body_case, TUNEKV__V1__REQUEST__BODY_CAS);
                assert_int_equal(k.kept[i]->cas->expected_version, 5);
                assert_int_equal(k.kept[i]->cas->options->seq, k.kept[0]->cas->options->seq);
                assert_int_equal(k.kept[i]->cas->options->client_id,
                                 k.kept[0]->cas->options->client_id);
                assert_true(k.kept[i]->cas->options->retry);
        }
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Node 3 reads the write and goes down for good. */
static void serve_crash(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        (void)k;
        node_down(n);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_write_outcome_unknown(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct tkv_write_options wo = {.timeout_ms = 300};
        struct seen s[2];

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_crash);
        c = cluster_client(&k, NULL, 0);
        assert_int_equal(
            tkv_put_async(c, key_of(2), strlen(key_of(2)), "v", 1, &wo, seen_cb, &s[0]), TKV_OK);
        cluster_run(&k, c, 2000);
        /* Every later attempt was refused, but the first may have been
         * applied: never a plain timeout or CONNECT_FAILED. */
        assert_int_equal(s[0].status, TKV_OUTCOME_UNKNOWN);
        assert_non_null(strstr(s[0].message, "may or may not"));
        /* A write that never reached a node is not unknown. */
        assert_int_equal(
            tkv_put_async(c, key_of(2), strlen(key_of(2)), "v", 1, &wo, seen_cb, &s[1]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[1].status, TKV_CONNECT_FAILED);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* The map names node 1 at an address where nothing listens; the client
 * reached node 1 through its endpoint, which the map does not list. */
static void test_route_endpoint_not_in_map(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_ok);
        snprintf(k.info_addr[0], sizeof(k.info_addr[0]), "127.0.0.1:%u", k.nodes[1].port);
        node_down(&k.nodes[1]); /* nothing there now */
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_get_async(c, key_of(0), strlen(key_of(0)), NULL, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(s.node_id, 1);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* A server without CLUSTER_INFO: everything goes to the endpoint, which
 * may forward. */
static void serve_forward(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        (void)k;
        assert_int_equal(n->id, 1);
        assert_false(m->no_forward);
        node_ok(n, m, 1);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_without_map(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[2];

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_forward);
        k.info_refused = true;
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), NULL, seen_cb, &s[0]),
                         TKV_OK);
        assert_int_equal(
            tkv_put_async(c, key_of(2), strlen(key_of(2)), "v", 1, NULL, seen_cb, &s[1]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[0].status, TKV_OK);
        assert_int_equal(s[1].status, TKV_OK);
        assert_int_equal(k.nodes[0].infos, 1);
        tkv_client_destroy(c);
        cluster_close(&k);
}

static void test_status_of_nodes(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[4];
        char endpoints[128];

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_ok);
        node_down(&k.nodes[2]);
        /* The first endpoint is down: status of "node 0" is the next one. */
        snprintf(endpoints, sizeof(endpoints), "%s,%s", k.nodes[2].addr, k.nodes[1].addr);
        c = cluster_client(&k, endpoints, 2000);
        assert_int_equal(tkv_status_node_async(c, 0, seen_cb, &s[0]), TKV_OK);
        assert_int_equal(tkv_status_node_async(c, 1, seen_cb, &s[1]), TKV_OK);
        assert_int_equal(tkv_status_node_async(c, 3, seen_cb, &s[2]), TKV_OK);
        assert_int_equal(tkv_status_node_async(c, 7, seen_cb, &s[3]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[0].status, TKV_OK);
        assert_int_equal(s[0].node_id, 2);
        assert_int_equal(s[1].status, TKV_OK); /* found through the map */
        assert_int_equal(s[1].node_id, 1);
        assert_int_equal(s[2].status, TKV_CONNECT_FAILED); /* down: not retried */
        assert_int_equal(s[3].status, TKV_USAGE_ERROR);    /* not in the cluster */
        assert_non_null(strstr(s[3].message, "node 7"));
        tkv_client_destroy(c);
        cluster_close(&k);
}

static void test_cluster_info_blocking_shape(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct tkv_result r;
        struct seen s;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_ok);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_cluster_info_async(c, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        /* The answer also filled the client's map. */
        assert_true(client_partition_map(c)->valid);
        assert_int_equal(client_partition_map(c)->partition_count, PARTS);
        /* Blocking form against a dead cluster: CONNECT_FAILED, released. */
        node_down(&k.nodes[0]);
        node_down(&k.nodes[1]);
        node_down(&k.nodes[2]);
        assert_int_equal(tkv_cluster_info(c, &r), TKV_CONNECT_FAILED);
        assert_null(r.cluster);
        tkv_result_release(&r);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Node 2 answers UNAVAILABLE once; then OK. */
static void serve_unavailable_once(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        if (k->step++ == 0) {
                node_answer(n, m->id, TKV_UNAVAILABLE);
        } else {
                node_ok(n, m, 3);
        }
        tunekv__v1__request__free_unpacked(m, NULL);
}

/* A request that backs off wakes tkv_fd() when its time comes, with no
 * traffic on any connection. */
static void test_fd_wakes_for_retry(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct pollfd p;
        struct seen s;
        int64_t start;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_unavailable_once);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_fd(c), -1); /* nothing open, nothing pending */
        assert_int_equal(tkv_delete_async(c, key_of(1), strlen(key_of(1)), NULL, seen_cb, &s),
                         TKV_OK);
        p.fd = tkv_fd(c);
        p.events = POLLIN;
        p.revents = 0;
        assert_true(p.fd >= 0);
        /* A new request makes the fd readable at once: tkv_poll must run
         * to send it. */
        assert_int_equal(poll(&p, 1, 100), 1);
        while (k.step == 0) {
                assert_true(tkv_poll(c, 2) >= 0);
                cluster_serve(&k);
        }
        /* From here on only the fd says when to call tkv_poll: after the
         * UNAVAILABLE answer nothing arrives on any link until the backoff
         * ends and the client sends again, so the timer must wake it. */
        start = now_ms();
        while (s.calls == 0) {
                assert_true(tkv_poll(c, 0) >= 0);
                if (s.calls > 0) {
                        break;
                }
                cluster_serve(&k);
                p.revents = 0;
                assert_int_equal(poll(&p, 1, 1000), 1);
                assert_true(now_ms() - start < 1000);
        }
        cluster_run(&k, c, 2000);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(k.nodes[1].requests, 2);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Node 1, the last replica up of a leaderless partition, says NO_QUORUM. */
static void serve_no_quorum(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        assert_int_equal(n->id, 1);
        k->step++;
        node_answer(n, m->id, TKV_NO_QUORUM);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_no_quorum(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct tkv_write_options wo = {.timeout_ms = 600};
        struct seen s;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_no_quorum);
        k.leaders[1] = 0; /* replicas 2, 3, 1 */
        node_down(&k.nodes[1]);
        node_down(&k.nodes[2]);
        c = cluster_client(&k, NULL, 0);
        assert_int_equal(tkv_put_async(c, key_of(1), strlen(key_of(1)), "v", 1, &wo, seen_cb, &s),
                         TKV_OK);
        cluster_run(&k, c, 2000);
        /* The replicas are tried in turn, the dead ones skipped once known;
         * the answer of the one alive is what is reported, not the refused
         * connections, and not OUTCOME_UNKNOWN: nothing was ever applied. */
        assert_int_equal(s.status, TKV_NO_QUORUM);
        assert_true(k.step >= 3);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Partition 1's leader, node 2, is down; then node 3 takes over. */
static void serve_moved(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        assert_int_equal(n->id, 3);
        k->last_ms = now_ms();
        node_ok(n, m, 5);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_wakes_on_new_leader(void **state)
{
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[2];
        int64_t moved;

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_moved);
        node_down(&k.nodes[1]);
        c = cluster_client(&k, NULL, 5000);
        assert_int_equal(
            tkv_put_async(c, key_of(1), strlen(key_of(1)), "v", 1, NULL, seen_cb, &s[0]), TKV_OK);
        cluster_run(&k, c, 700); /* refused, backing off 320 ms or more by now */
        assert_int_equal(s[0].calls, 0);
        k.leaders[1] = 3;
        moved = now_ms();
        assert_int_equal(tkv_cluster_info_async(c, seen_cb, &s[1]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[0].status, TKV_OK);
        assert_int_equal(s[1].status, TKV_OK);
        /* The new map sent the write on at once, not after its backoff. */
        assert_true(k.last_ms - moved < 100);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* ---- Replica choice for reads below LINEARIZABLE (map_choose) ---- */

/* Candidates 1..n, node 1 the leader. */
static void cands_make(struct map_candidate *c, unsigned n)
{
        unsigned i;

        memset(c, 0, n * sizeof(*c));
        for (i = 0; i < n; i++) {
                c[i].node_id = i + 1;
        }
        c[0].leader = true;
}

static void test_choose_follower_preferred(void **state)
{
        struct map_candidate c[3];
        int hits[3] = {0, 0, 0};
        uint64_t rr;

        (void)state;
        cands_make(c, 3);
        /* The followers in turn, evenly; never the leader while one is up. */
        for (rr = 0; rr < 10; rr++) {
                hits[map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, rr)]++;
        }
        assert_int_equal(hits[0], 0);
        assert_int_equal(hits[1], 5);
        assert_int_equal(hits[2], 5);
        /* A follower down or tried is passed over for the other. */
        c[1].down = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 0), 2);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 1), 2);
        c[2].tried = true;
        /* No follower up: the leader. */
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 1), 0);
        /* Leader down too: a follower down but not tried, before it. */
        c[0].down = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 1), 1);
        /* Everything tried: any of them, in turn. */
        c[0].tried = c[1].tried = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 4), 1);
        /* No leader known: all are followers. */
        cands_make(c, 3);
        c[0].leader = false;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 0), 0);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 2), 2);
}

static void test_choose_any_and_nearest(void **state)
{
        struct map_candidate c[3];
        int hits[3] = {0, 0, 0};
        uint64_t rr;

        (void)state;
        cands_make(c, 3);
        for (rr = 0; rr < 9; rr++) {
                hits[map_choose(c, 3, TKV_ROUTE_ANY, rr)]++;
        }
        assert_int_equal(hits[0], 3); /* the leader is one of the replicas */
        assert_int_equal(hits[1], 3);
        assert_int_equal(hits[2], 3);
        c[1].down = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_ANY, 1), 2);
        c[0].tried = true;
        c[2].tried = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_ANY, 0), 1); /* down beats tried */

        /* NEAREST: the unmeasured first, in turn; then the fastest. */
        cands_make(c, 3);
        c[0].measured = true;
        c[0].rtt_us = 10;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 1);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 1), 2);
        c[1].measured = c[2].measured = true;
        c[1].rtt_us = 500;
        c[2].rtt_us = 90;
        for (rr = 0; rr < 4; rr++) {
                assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, rr), 0);
        }
        c[0].down = true; /* the fastest is down: the next fastest */
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 2);
        c[2].tried = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 1);
        c[0].down = false;
        c[0].rtt_us = c[1].rtt_us = 7; /* a tie: in turn */
        c[2].tried = false;
        c[2].rtt_us = 7;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 0);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 1), 1);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 2), 2);
        assert_int_equal(map_choose(c, 1, TKV_ROUTE_NEAREST, 5), 0);
}

/* NEAREST with a client zone: the replicas in the zone while one is up,
 * however slow; without one up, NEAREST by round-trip time as before. */
static void test_choose_nearest_zone(void **state)
{
        struct map_candidate c[3];
        uint64_t rr;

        (void)state;
        cands_make(c, 3);
        c[0].measured = c[1].measured = c[2].measured = true;
        c[0].rtt_us = 50;
        c[1].rtt_us = 20000; /* the local one is the slowest */
        c[2].rtt_us = 20000;
        c[1].local = true;
        for (rr = 0; rr < 6; rr++) {
                assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, rr), 1);
        }
        /* Two local: the faster of them; a tie, in turn. */
        c[2].local = true;
        c[2].rtt_us = 900;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 2);
        c[1].rtt_us = 900;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 1);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 1), 2);
        /* An unmeasured local replica is tried before the measured ones. */
        c[2].measured = false;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 2);
        c[2].measured = true;
        /* No local replica usable (down, tried): the fastest of the rest. */
        c[2].local = false;
        c[2].rtt_us = 20000;
        c[1].down = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 0);
        c[1].down = false;
        c[1].tried = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 0);
        /* All down: the fastest down one, whatever its zone (as before). */
        c[1].tried = false;
        c[0].down = c[1].down = c[2].down = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_NEAREST, 0), 0);
        /* Other routes ignore zones. */
        cands_make(c, 3);
        c[1].local = true;
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_ANY, 0), 0);
        assert_int_equal(map_choose(c, 3, TKV_ROUTE_FOLLOWER_PREFERRED, 1), 2);
}

/* ---- Consistency levels against scripted nodes ---- */

/* A token entry, and tokens made of them as a server would (MAC bytes
 * derived from the entry: the client only carries them). */
struct tent {
        uint32_t partition;
        uint8_t kind; /* 1 W, 2 R */
        uint64_t index;
};

static size_t tok_make(uint8_t *buf, const struct tent *e, size_t n)
{
        uint8_t *p;
        size_t i;
        int b;

        buf[0] = 1;
        buf[1] = 0;
        buf[2] = (uint8_t)n;
        buf[3] = (uint8_t)(n >> 8);
        for (i = 0; i < n; i++) {
                p = buf + 4 + i * 21;
                for (b = 0; b < 4; b++) {
                        p[b] = (uint8_t)(e[i].partition >> (8 * b));
                }
                p[4] = e[i].kind;
                for (b = 0; b < 8; b++) {
                        p[5 + b] = (uint8_t)(e[i].index >> (8 * b));
                }
                memset(p + 13, (int)(0x40 + e[i].index), 8);
        }
        return 4 + n * 21;
}

/* A whole result, copied out of a callback (pointers dropped). */
struct got {
        int calls;
        struct tkv_result res;
        char message[256];
};

static void got_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct got *g = arg;

        (void)c;
        g->calls++;
        g->res = *res;
        g->res.value = NULL;
        g->res.node = NULL;
        g->res.cluster = NULL;
        snprintf(g->message, sizeof(g->message), "%s", res->message);
        g->res.message = g->message;
}

/* Answer a GET found, with a receipt naming n and the level asked, and
 * token tok (tok_len 0: none). */
static void node_get_ok(struct node *n, const Tunekv__V1__Request *m, const uint8_t *tok,
                        size_t tok_len)
{
        Tunekv__V1__Response r = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rr = TUNEKV__V1__READ_RECEIPT__INIT;

        r.id = m->id;
        r.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        r.get = &g;
        g.found = 1;
        g.value.data = (uint8_t *)"v";
        g.value.len = 1;
        g.mod_index = 3;
        g.receipt = &rr;
        g.token.data = (uint8_t *)tok;
        g.token.len = tok_len;
        rr.node_id = n->id;
        rr.role = TUNEKV__V1__ROLE__ROLE_FOLLOWER;
        rr.level = m->get->options != NULL ? m->get->options->level : 0;
        rr.leader_known = 1;
        rr.staleness_ms = -1;
        node_send(n, &r);
}

/* Every GET must be a spread read sent with no_forward; answered OK. */
static void serve_spread(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        (void)k;
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_GET);
        assert_true(m->no_forward);
        assert_non_null(m->get->options);
        assert_int_equal(m->get->options->level, TUNEKV__V1__CONSISTENCY__CONSISTENCY_EVENTUAL);
        node_get_ok(n, m, NULL, 0);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_follower_preferred(void **state)
{
        struct tkv_read_options ro = {.level = TKV_EVENTUAL, .route = TKV_ROUTE_FOLLOWER_PREFERRED};
        const char *key = key_of(1); /* replicas 2, 3, 1; leader 2 */
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[6];
        int64_t start;
        int i;

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_spread);
        c = cluster_client(&k, NULL, 2000);
        for (i = 0; i < 6; i++) {
                assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s[i]), TKV_OK);
        }
        cluster_run(&k, c, 2000);
        for (i = 0; i < 6; i++) {
                assert_int_equal(s[i].status, TKV_OK);
                assert_int_not_equal(s[i].node_id, 2);
        }
        assert_int_equal(k.nodes[1].gets, 0); /* never the leader */
        assert_int_equal(k.nodes[0].gets, 3); /* the followers, evenly */
        assert_int_equal(k.nodes[2].gets, 3);
        /* Both followers go down: the leader, at once (no backoff). */
        node_down(&k.nodes[0]);
        node_down(&k.nodes[2]);
        memset(s, 0, sizeof(s));
        start = now_ms();
        assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s[0]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[0].status, TKV_OK);
        assert_int_equal(s[0].node_id, 2);
        assert_true(now_ms() - start < RETRY_BACKOFF_FIRST_MS);
        /* With the followers known down, the next read goes straight there. */
        memset(s, 0, sizeof(s));
        assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s[0]), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s[0].node_id, 2);
        assert_int_equal(k.nodes[1].gets, 2);
        tkv_client_destroy(c);
        cluster_close(&k);
}

static void test_route_any_spreads(void **state)
{
        struct tkv_read_options ro = {.level = TKV_EVENTUAL, .route = TKV_ROUTE_ANY};
        struct tkv_read_options leader = {.level = TKV_EVENTUAL};
        const char *key = key_of(2); /* replicas 3, 1, 2; leader 3 */
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s[9];
        int i;

        (void)state;
        memset(s, 0, sizeof(s));
        cluster_init(&k, serve_spread);
        c = cluster_client(&k, NULL, 2000);
        for (i = 0; i < 9; i++) {
                assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s[i]), TKV_OK);
        }
        cluster_run(&k, c, 2000);
        for (i = 0; i < 9; i++) {
                assert_int_equal(s[i].status, TKV_OK);
        }
        assert_int_equal(k.nodes[0].gets, 3);
        assert_int_equal(k.nodes[1].gets, 3);
        assert_int_equal(k.nodes[2].gets, 3);
        /* The same level with route LEADER (the default) goes to the leader. */
        for (i = 0; i < 3; i++) {
                assert_int_equal(tkv_get_async(c, key, strlen(key), &leader, seen_cb, &s[i]),
                                 TKV_OK);
        }
        cluster_run(&k, c, 2000);
        assert_int_equal(k.nodes[2].gets, 6);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Answers held back by a script: nodes 1 and 2 answer GETs 25 ms late. */
struct delayed {
        struct node *n[16];
        Tunekv__V1__Request *m[16];
        int64_t due_ms[16];
        int count;
};

static void serve_slow_12(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        struct delayed *d = k->script;

        assert_true(m->no_forward);
        if (n->id == 3) {
                node_get_ok(n, m, NULL, 0);
                tunekv__v1__request__free_unpacked(m, NULL);
                return;
        }
        assert_true(d->count < 16);
        d->n[d->count] = n;
        d->m[d->count] = m;
        d->due_ms[d->count] = now_ms() + 25;
        d->count++;
}

static void delayed_answer_due(struct delayed *d)
{
        int i = 0;

        while (i < d->count) {
                if (now_ms() < d->due_ms[i]) {
                        i++;
                        continue;
                }
                node_get_ok(d->n[i], d->m[i], NULL, 0);
                tunekv__v1__request__free_unpacked(d->m[i], NULL);
                d->count--;
                d->n[i] = d->n[d->count];
                d->m[i] = d->m[d->count];
                d->due_ms[i] = d->due_ms[d->count];
        }
}

static void test_route_nearest(void **state)
{
        struct tkv_read_options ro = {.level = TKV_SESSION, .route = TKV_ROUTE_NEAREST};
        const char *key = key_of(1); /* replicas 2, 3, 1 */
        struct fake_cluster k;
        struct delayed d;
        struct tkv_client *c;
        struct seen s;
        int64_t until;
        int seen_node[4] = {0, 0, 0, 0};
        int i;

        (void)state;
        memset(&d, 0, sizeof(d));
        cluster_init(&k, serve_slow_12);
        k.script = &d;
        c = cluster_client(&k, NULL, 2000);
        for (i = 0; i < 12; i++) {
                memset(&s, 0, sizeof(s));
                assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s), TKV_OK);
                until = now_ms() + 2000;
                while (tkv_pending(c) > 0 && now_ms() < until) {
                        assert_true(tkv_poll(c, 1) >= 0);
                        cluster_serve(&k);
                        delayed_answer_due(&d);
                }
                assert_int_equal(s.status, TKV_OK);
                seen_node[s.node_id]++;
                if (i < 3) {
                        /* Unmeasured replicas count as best: each is tried once. */
                        assert_int_equal(seen_node[s.node_id], 1);
                } else {
                        assert_int_equal(s.node_id, 3); /* then the fastest, always */
                }
        }
        assert_int_equal(seen_node[3], 10);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Reads of key 1 (replicas 2, 3, 1) at SESSION with NEAREST, n of them
 * one after the other, each served by node 3 at once and by the others
 * after 25 ms; counts which node served each in seen_node. */
static void nearest_reads(struct fake_cluster *k, struct tkv_client *c, int n, int seen_node[4])
{
        struct tkv_read_options ro = {.level = TKV_SESSION, .route = TKV_ROUTE_NEAREST};
        const char *key = key_of(1);
        struct seen s;
        int64_t until;

        for (int i = 0; i < n; i++) {
                memset(&s, 0, sizeof(s));
                assert_int_equal(tkv_get_async(c, key, strlen(key), &ro, seen_cb, &s), TKV_OK);
                until = now_ms() + 2000;
                while (tkv_pending(c) > 0 && now_ms() < until) {
                        assert_true(tkv_poll(c, 1) >= 0);
                        cluster_serve(k);
                        delayed_answer_due(k->script);
                }
                assert_int_equal(s.status, TKV_OK);
                seen_node[s.node_id]++;
        }
}

/* A client in zone z1 reads NEAREST from node 1, the replica in z1, every
 * time, although node 3 answers faster; TKV_ZONE names the zone when the
 * option does not; a zone no node could carry is refused. */
static void test_route_nearest_zone(void **state)
{
        struct fake_cluster k;
        struct delayed d;
        struct tkv_options o;
        struct tkv_client *c = NULL;
        char err[256];
        int seen_node[4] = {0, 0, 0, 0};

        (void)state;
        memset(&d, 0, sizeof(d));
        cluster_init(&k, serve_slow_12);
        k.script = &d;
        k.zones[0] = "z1";
        k.zones[1] = "z2";
        k.zones[2] = "z3";
        memset(&o, 0, sizeof(o));
        o.endpoints = k.nodes[0].addr;
        o.timeout_ms = 2000;
        o.zone = "z1";
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);
        nearest_reads(&k, c, 6, seen_node);
        assert_int_equal(seen_node[1], 6);
        tkv_client_destroy(c);

        o.zone = NULL;
        setenv("TKV_ZONE", "z2", 1);
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);
        nearest_reads(&k, c, 4, seen_node);
        assert_int_equal(seen_node[2], 4);
        tkv_client_destroy(c);
        unsetenv("TKV_ZONE");

        o.zone = "no spaces";
        c = NULL;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_USAGE_ERROR);
        assert_non_null(strstr(err, "zone"));
        assert_null(c);
        cluster_close(&k);
}

/* A read below LINEARIZABLE answered UNAVAILABLE goes to another replica
 * at once, not after a backoff. */
static void serve_unavailable_first(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        if (k->step++ == 0) {
                k->last_ms = now_ms();
                k->timeouts[0] = n->id; /* who refused */
                node_answer(n, m->id, TKV_UNAVAILABLE);
        } else {
                assert_int_not_equal(n->id, k->timeouts[0]);
                assert_true(now_ms() - k->last_ms < RETRY_BACKOFF_FIRST_MS);
                node_get_ok(n, m, NULL, 0);
        }
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_route_spread_retries_elsewhere(void **state)
{
        struct tkv_read_options ro = {
            .level = TKV_BOUNDED_STALENESS, .max_staleness_ms = 500, .route = TKV_ROUTE_ANY};
        struct fake_cluster k;
        struct tkv_client *c;
        struct seen s;

        (void)state;
        memset(&s, 0, sizeof(s));
        cluster_init(&k, serve_unavailable_first);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_get_async(c, key_of(3), strlen(key_of(3)), &ro, seen_cb, &s), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(k.step, 2);
        assert_int_not_equal(s.node_id, k.timeouts[0]);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Token traffic: each answer carries the delta the test prepared, and the
 * token every request carried is recorded. */
struct tokens {
        uint8_t reply[256]; /* delta for the next answer */
        size_t reply_len;
        uint8_t seen[256]; /* token of the last request */
        size_t seen_len;
        bool seen_options; /* the last request had Read/WriteOptions */
};

static void tokens_record(struct tokens *t, const ProtobufCBinaryData *tok, bool options)
{
        assert_true(tok->len <= sizeof(t->seen));
        t->seen_len = tok->len;
        if (tok->len > 0) {
                memcpy(t->seen, tok->data, tok->len);
        }
        t->seen_options = options;
}

static void serve_tokens(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        struct tokens *t = k->script;
        Tunekv__V1__Response r = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;
        ProtobufCBinaryData none = {0, NULL};

        if (m->body_case == TUNEKV__V1__REQUEST__BODY_GET) {
                tokens_record(t, m->get->options != NULL ? &m->get->options->token : &none,
                              m->get->options != NULL);
                node_get_ok(n, m, t->reply, t->reply_len);
        } else {
                assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_PUT);
                tokens_record(t, m->put->options != NULL ? &m->put->options->token : &none,
                              m->put->options != NULL);
                r.id = m->id;
                r.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
                r.write = &w;
                w.index = 50;
                w.durable = 1;
                w.token.data = t->reply;
                w.token.len = t->reply_len;
                node_send(n, &r);
        }
        tunekv__v1__request__free_unpacked(m, NULL);
}

/* Run one request of the token test with delta (n entries) as the answer's
 * token; returns its status. */
static int tokens_step(struct fake_cluster *k, struct tkv_client *c, bool put, uint32_t p,
                       const struct tkv_read_options *ro, const struct tent *delta, size_t n)
{
        struct tokens *t = k->script;
        struct seen s;

        memset(&s, 0, sizeof(s));
        t->reply_len = n > 0 ? tok_make(t->reply, delta, n) : 0;
        t->seen_len = SIZE_MAX;
        if (put) {
                assert_int_equal(
                    tkv_put_async(c, key_of(p), strlen(key_of(p)), "v", 1, NULL, seen_cb, &s),
                    TKV_OK);
        } else {
                assert_int_equal(tkv_get_async(c, key_of(p), strlen(key_of(p)), ro, seen_cb, &s),
                                 TKV_OK);
        }
        cluster_run(k, c, 2000);
        assert_int_equal(s.calls, 1);
        assert_true(t->seen_len != SIZE_MAX);
        return s.status;
}

/* The client's session token equals the token of these n entries. */
static void assert_session(struct tkv_client *c, const struct tent *e, size_t n)
{
        uint8_t want[256];
        uint8_t have[256];
        size_t want_len = n > 0 ? tok_make(want, e, n) : 0;

        assert_int_equal(tkv_token_get(c, have, sizeof(have)), want_len);
        assert_memory_equal(have, want, want_len);
}

static void test_token_attach_and_merge(void **state)
{
        static const struct tent w1[] = {{1, 1, 50}};
        static const struct tent r1[] = {{1, 2, 60}, {3, 1, 9}}; /* a causal dependency */
        static const struct tent s2[] = {{1, 1, 50}, {1, 2, 60}, {3, 1, 9}};
        static const struct tent w2[] = {{2, 1, 7}};
        static const struct tent s3[] = {{1, 1, 50}, {1, 2, 60}, {2, 1, 7}, {3, 1, 9}};
        struct tkv_read_options session = {.level = TKV_SESSION, .route = TKV_ROUTE_ANY};
        struct tkv_read_options ryw = {.session_flags = TKV_READ_YOUR_WRITES};
        struct tkv_read_options causal = {.level = TKV_CAUSAL};
        struct tokens t;
        struct fake_cluster k;
        struct tkv_client *c;
        uint8_t want[256];
        size_t want_len;

        (void)state;
        memset(&t, 0, sizeof(t));
        cluster_init(&k, serve_tokens);
        k.script = &t;
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_token_get(c, NULL, 0), 0); /* a new session */

        /* The first write carries no token; its W entry comes back. */
        assert_int_equal(tokens_step(&k, c, true, 1, NULL, w1, 1), TKV_OK);
        assert_int_equal(t.seen_len, 0);
        assert_session(c, w1, 1);
        /* A SESSION read carries it; its R entry and a dependency merge. */
        assert_int_equal(tokens_step(&k, c, false, 1, &session, r1, 2), TKV_OK);
        want_len = tok_make(want, w1, 1);
        assert_int_equal(t.seen_len, want_len);
        assert_memory_equal(t.seen, want, want_len);
        assert_session(c, s2, 3);
        /* A linearizable read without session flags carries nothing... */
        assert_int_equal(tokens_step(&k, c, false, 0, NULL, NULL, 0), TKV_OK);
        assert_int_equal(t.seen_len, 0);
        assert_false(t.seen_options);
        /* ...with session flags it does. */
        assert_int_equal(tokens_step(&k, c, false, 0, &ryw, NULL, 0), TKV_OK);
        want_len = tok_make(want, s2, 3);
        assert_int_equal(t.seen_len, want_len);
        assert_memory_equal(t.seen, want, want_len);
        /* A write carries the session's token: its dependencies. */
        assert_int_equal(tokens_step(&k, c, true, 2, NULL, w2, 1), TKV_OK);
        assert_int_equal(t.seen_len, want_len);
        assert_memory_equal(t.seen, want, want_len);
        assert_session(c, s3, 4);
        /* An older entry in a delta does not move the session back. */
        assert_int_equal(tokens_step(&k, c, false, 1, &causal, w1, 1), TKV_OK);
        assert_session(c, s3, 4);

        /* A new session: nothing travels. */
        tkv_token_reset(c);
        assert_int_equal(tkv_token_get(c, NULL, 0), 0);
        assert_int_equal(tokens_step(&k, c, false, 1, &session, NULL, 0), TKV_OK);
        assert_int_equal(t.seen_len, 0);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* A delta that does not parse is dropped and counted; the answer is
 * delivered and the session keeps its token. */
static void test_token_bad_delta(void **state)
{
        static const struct tent r1[] = {{1, 2, 60}, {3, 1, 9}};
        struct tkv_read_options causal = {.level = TKV_CAUSAL};
        struct fake_cluster k;
        struct tkv_client *c;
        struct tokens t;
        struct seen s;

        (void)state;
        memset(&t, 0, sizeof(t));
        cluster_init(&k, serve_tokens);
        k.script = &t;
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tokens_step(&k, c, false, 2, &causal, r1, 2), TKV_OK);
        assert_session(c, r1, 2);
        assert_int_equal(client_bad_tokens(c), 0);
        memcpy(t.reply, "\x01\x00\x02\x00garbage", 11);
        t.reply_len = 11;
        memset(&s, 0, sizeof(s));
        assert_int_equal(tkv_get_async(c, key_of(2), strlen(key_of(2)), &causal, seen_cb, &s),
                         TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(s.status, TKV_OK);
        assert_int_equal(client_bad_tokens(c), 1);
        assert_session(c, r1, 2);
        tkv_client_destroy(c);
        cluster_close(&k);
}

static void test_token_api(void **state)
{
        static const struct tent a[] = {{1, 1, 5}, {2, 2, 8}};
        static const struct tent b[] = {{1, 1, 9}, {4, 2, 1}};
        static const struct tent ab[] = {{1, 1, 9}, {2, 2, 8}, {4, 2, 1}};
        struct fake_cluster k;
        struct tkv_client *c;
        uint8_t x[128];
        uint8_t y[128];
        uint8_t out[128];
        size_t lx = tok_make(x, a, 2);
        size_t ly = tok_make(y, b, 2);

        (void)state;
        cluster_init(&k, serve_ok);
        c = cluster_client(&k, NULL, 2000);
        assert_int_equal(tkv_token_set(c, x, lx), TKV_OK);
        assert_int_equal(tkv_token_get(c, out, sizeof(out)), lx);
        assert_memory_equal(out, x, lx);
        /* Too small a buffer: the length, nothing copied. */
        memset(out, 0xee, sizeof(out));
        assert_int_equal(tkv_token_get(c, out, lx - 1), lx);
        assert_int_equal(out[0], 0xee);
        /* Bad tokens leave the session as it was. */
        assert_int_equal(tkv_token_set(c, y, ly - 1), TKV_USAGE_ERROR);
        assert_non_null(strstr(tkv_errmsg(c), "does not parse"));
        assert_int_equal(tkv_token_merge(c, y, 3), TKV_USAGE_ERROR);
        assert_int_equal(tkv_token_set(c, NULL, 5), TKV_USAGE_ERROR);
        assert_session(c, a, 2);
        /* Another session's token merges in. */
        assert_int_equal(tkv_token_merge(c, y, ly), TKV_OK);
        assert_session(c, ab, 3);
        assert_int_equal(tkv_token_get(c, out, sizeof(out)), tok_make(x, ab, 3));
        assert_int_equal(tkv_token_compare(y, ly, out, 4 + 3 * 21), TKV_TOKEN_BEFORE);
        /* set replaces; the empty token empties. */
        assert_int_equal(tkv_token_set(c, y, ly), TKV_OK);
        assert_session(c, b, 2);
        assert_int_equal(tkv_token_set(c, NULL, 0), TKV_OK);
        assert_int_equal(tkv_token_get(c, NULL, 0), 0);
        /* NULL clients. */
        assert_int_equal(tkv_token_get(NULL, out, sizeof(out)), 0);
        assert_int_equal(tkv_token_set(NULL, y, ly), TKV_USAGE_ERROR);
        assert_int_equal(tkv_token_merge(NULL, y, ly), TKV_USAGE_ERROR);
        tkv_token_reset(NULL);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* BOUND_UNMET with the bound and the leader: never retried. */
static void serve_bound_unmet(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        Tunekv__V1__Response r = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        Tunekv__V1__BoundUnmet bound = TUNEKV__V1__BOUND_UNMET__INIT;

        k->step++;
        r.id = m->id;
        r.status = TUNEKV__V1__STATUS__STATUS_BOUND_UNMET;
        r.message = "replica behind";
        r.leader_hint = &hint;
        r.bound = &bound;
        hint.node_id = 2;
        hint.client_addr = k->nodes[1].addr;
        bound.required_index = 120;
        bound.applied_index = 97 + (uint64_t)n->id;
        node_send(n, &r);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_bound_unmet_reported(void **state)
{
        struct tkv_read_options ro = {.level = TKV_SESSION,
                                      .route = TKV_ROUTE_FOLLOWER_PREFERRED,
                                      .on_unmet = TKV_ON_UNMET_FAIL};
        struct fake_cluster k;
        struct tkv_client *c;
        struct got g;
        uint32_t node;

        (void)state;
        cluster_init(&k, serve_bound_unmet);
        c = cluster_client(&k, NULL, 2000);
        memset(&g, 0, sizeof(g));
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), &ro, got_cb, &g), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(g.calls, 1);
        assert_int_equal(g.res.status, TKV_BOUND_UNMET);
        assert_int_equal(k.step, 1); /* not retried elsewhere */
        assert_int_equal(g.res.bound_required_index, 120);
        node = (uint32_t)(g.res.bound_applied_index - 97);
        assert_true(node == 1 || node == 3); /* a follower answered */
        assert_int_equal(g.res.leader_id, 2);
        assert_string_equal(g.message, "replica behind");
        /* FORWARD_LEADER whose budget was spent: reported as well. */
        ro.on_unmet = TKV_ON_UNMET_FORWARD_LEADER;
        memset(&g, 0, sizeof(g));
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), &ro, got_cb, &g), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(g.res.status, TKV_BOUND_UNMET);
        assert_int_equal(k.step, 2);
        assert_int_equal(g.res.bound_required_index, 120);
        tkv_client_destroy(c);
        cluster_close(&k);
}

/* Receipts and write acknowledgements as the server states them. */
static void serve_receipts(struct fake_cluster *k, struct node *n, Tunekv__V1__Request *m)
{
        Tunekv__V1__Response r = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rr = TUNEKV__V1__READ_RECEIPT__INIT;

        (void)k;
        r.id = m->id;
        if (m->body_case == TUNEKV__V1__REQUEST__BODY_GET) {
                assert_int_equal(m->get->options->on_unmet,
                                 TUNEKV__V1__ON_UNMET__ON_UNMET_SERVE_STALE_LABELLED);
                assert_int_equal(m->get->options->max_wait_ms, 30);
                r.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
                r.get = &g;
                g.receipt = &rr;
                rr.node_id = n->id;
                rr.role = TUNEKV__V1__ROLE__ROLE_FOLLOWER;
                rr.term = 4;
                rr.applied_index = 77;
                rr.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_EVENTUAL;
                rr.staleness_ms = -1;
                rr.lag_entries = 12;
                rr.fallback = 1;
                rr.partition = 1;
                rr.leader_known = 0;
        } else {
                assert_int_equal(m->put->options->ack, TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED);
                r.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
                r.write = &w;
                w.index = 31;
                w.partition = 1;
                w.ack = TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED;
                w.durable = 0;
        }
        node_send(n, &r);
        tunekv__v1__request__free_unpacked(m, NULL);
}

static void test_receipt_and_ack(void **state)
{
        struct tkv_read_options ro = {.level = TKV_BOUNDED_STALENESS,
                                      .max_lag_entries = 5,
                                      .route = TKV_ROUTE_FOLLOWER_PREFERRED,
                                      .on_unmet = TKV_ON_UNMET_SERVE_STALE_LABELLED,
                                      .max_wait_ms = 30};
        struct tkv_write_options wo = {.ack = TKV_ACK_LEADER_ACCEPTED};
        struct fake_cluster k;
        struct tkv_client *c;
        struct got g;

        (void)state;
        cluster_init(&k, serve_receipts);
        c = cluster_client(&k, NULL, 2000);
        memset(&g, 0, sizeof(g));
        assert_int_equal(tkv_get_async(c, key_of(1), strlen(key_of(1)), &ro, got_cb, &g), TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(g.res.status, TKV_OK);
        assert_false(g.res.found);
        assert_int_equal(g.res.receipt.role, TKV_ROLE_FOLLOWER);
        assert_int_equal(g.res.receipt.term, 4);
        assert_int_equal(g.res.receipt.applied_index, 77);
        assert_int_equal(g.res.receipt.level, TKV_EVENTUAL); /* what was delivered */
        assert_int_equal(g.res.receipt.staleness_ms, -1);
        assert_int_equal(g.res.receipt.lag_entries, 12);
        assert_true(g.res.receipt.fallback);
        assert_false(g.res.receipt.leader_known);
        assert_int_equal(g.res.receipt.partition, 1);
        memset(&g, 0, sizeof(g));
        assert_int_equal(tkv_put_async(c, key_of(1), strlen(key_of(1)), "v", 1, &wo, got_cb, &g),
                         TKV_OK);
        cluster_run(&k, c, 2000);
        assert_int_equal(g.res.status, TKV_OK);
        assert_int_equal(g.res.index, 31);
        assert_int_equal(g.res.ack, TKV_ACK_LEADER_ACCEPTED);
        assert_false(g.res.durable);
        tkv_client_destroy(c);
        cluster_close(&k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_map_partition_of),
            cmocka_unit_test(test_map_update_and_target),
            cmocka_unit_test(test_map_hint),
            cmocka_unit_test(test_map_zones),
            cmocka_unit_test(test_retry_write_flags),
            cmocka_unit_test(test_retry_reads),
            cmocka_unit_test(test_retry_backoff_and_deadline),
            cmocka_unit_test(test_retry_refresh),
            cmocka_unit_test(test_route_to_leaders),
            cmocka_unit_test(test_route_not_leader_hint),
            cmocka_unit_test(test_route_hint_new_node),
            cmocka_unit_test(test_route_unavailable_until_deadline),
            cmocka_unit_test(test_route_no_quorum),
            cmocka_unit_test(test_route_wakes_on_new_leader),
            cmocka_unit_test(test_route_write_retry_flag),
            cmocka_unit_test(test_route_write_outcome_unknown),
            cmocka_unit_test(test_route_endpoint_not_in_map),
            cmocka_unit_test(test_route_without_map),
            cmocka_unit_test(test_status_of_nodes),
            cmocka_unit_test(test_cluster_info_blocking_shape),
            cmocka_unit_test(test_fd_wakes_for_retry),
            cmocka_unit_test(test_choose_follower_preferred),
            cmocka_unit_test(test_choose_any_and_nearest),
            cmocka_unit_test(test_choose_nearest_zone),
            cmocka_unit_test(test_route_follower_preferred),
            cmocka_unit_test(test_route_any_spreads),
            cmocka_unit_test(test_route_nearest),
            cmocka_unit_test(test_route_nearest_zone),
            cmocka_unit_test(test_route_spread_retries_elsewhere),
            cmocka_unit_test(test_token_attach_and_merge),
            cmocka_unit_test(test_token_bad_delta),
            cmocka_unit_test(test_token_api),
            cmocka_unit_test(test_bound_unmet_reported),
            cmocka_unit_test(test_receipt_and_ack),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
