/* tkv-verify: run a real tunekv cluster under faults, record every client
 * operation as a history (../shared/HISTORY-FORMAT.md), and finish with the
 * final phase: faults stop, the cluster heals and converges, and every key
 * is read on every node. tests/verify/tunekv-check judges the history
 * (docs/verification.md has the method).
 *
 *   tkv-verify --dir DIR [--seconds N] [--clients N] [--keys N] [--netns]
 *              [--faults kill,leader-kill,pause,isolate,partition,one-way,delay|none]
 *              [--mix LEVEL=W,...]
 *              [--think-ms N] [--bug NAME] [--seed N]
 *              [--scenario faults|elastic|moves]
 *
 * Clients. --clients threads each run one client process at a time: a
 * libtunekv client (one session, one token) doing get/put/cas/delete on a
 * few keys, one operation in flight and --think-ms (5) between two. Each
 * get asks a level drawn from --mix; half of them go to a random node
 * (node_id); bounded reads use a 100, 250 or 500 ms bound. Put and cas
 * values are unique. After an acknowledged write, one time in four, the
 * next operation is a SEQUENTIAL get at once (no pause), to catch a
 * replica of another partition before it applied that partition's latest
 * writes. Writes and reads record their timestamps (docs/verification.md).
 * A process whose operation ends with an unknown outcome ("info") is
 * retired; the thread goes on with a new process id and a new session.
 * Now and then a process publishes its token and another merges it before
 * its next operation (the invoke says token_from: the op after which the
 * token was taken), so causality crosses sessions.
 *
 * TXN (docs/protocol.md §4.9): one operation in 20 is a TXN on one of
 * TXN_PAIRS pairs of keys that share a hash tag ("{t0}:a", "{t0}:b"),
 * which only TXNs touch: either a write (compare a's version with the
 * last one this process saw; success puts one unique value into both,
 * failure gets both) or a read (gets both). Its events have f "txn",
 * "keys", "value" (writes), "succeeded", "version" and "reads" (one
 * {key, found, value, version} per get answered); the final phase reads
 * each pair on each node (two EVENTUAL gets, recorded as one final "txn"
 * read). tunekv-check's txn check judges atomicity on them.
 *
 * Watches (docs/protocol.md "WATCH"): two watcher threads, one on the key
 * k0 (SEQUENTIAL), one on the prefix "k", every workload key
 * (BOUNDED_STALENESS 1 s: a follower may serve it), each a libtunekv
 * watch that resumes by itself on another node. Each watch is an
 * operation of f "watch" and its own process "w<id>": its invoke, a
 * "start" line with where each partition starts, one "event" line per
 * event received, a "resume" line for every resume (the library's, and
 * now and then the recorder's own: close, reopen after the positions),
 * and its end with the final positions: ok when the run stopped it (after
 * draining), fail with the status that ended it (COMPACTED...), after
 * which a new watch starts from now. tunekv-check's watch check judges
 * that every acknowledged write of a watched key in between appears once,
 * in order.
 *
 * Faults (the nemesis, on the main thread), each written to the history as
 * a "nemesis" event, one at a time with quiet gaps between:
 *   kill         SIGKILL a random node, restart it 1-2 s later;
 *   leader-kill  the same, on the leader of a random partition;
 *   pause        SIGSTOP a random node for 1-3 s, then SIGCONT;
 *   isolate      pause every node but a partition's leader (it keeps
 *                accepting writes it cannot commit), SIGKILL the leader,
 *                resume the others, restart it;
 * and with --netns (each node in its own network namespace,
 * tests/verify/netns.sh; the harness joins the hub namespace):
 *   partition    cut a node (half the time a partition's leader) off from
 *                the others, both ways, for 2-4 s;
 *   one-way      a node stops hearing another (its own packets still go
 *                out) for 2-4 s;
 *   delay        every packet between nodes held 50 ms (tests/verify/delayq,
 *                NFQUEUE): replicas "far apart" for 3-5 s.
 *
 * --bug NAME runs tunekvd-planted with TUNEKV_PLANTED_BUG=NAME
 * (src/rpc_internal.h): the checker must report the anomaly.
 *
 * --scenario elastic|moves replaces the faults with the cluster changing
 * shape (scenario.c): nodes joining, leaving and replaced, or replica
 * moves with a participant killed at each step. Reads are then pinned to
 * members only, and the final phase reads each key on the nodes holding
 * it (its invoke says which: "replicas").
 *
 * Exit: 0 history written; 1 the cluster could not be run (message); 2
 * usage; 3 (scenarios) history written, but a change was not carried out
 * or a client saw a status libtunekv does not retry. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "tunekv.h"
#include "verify.h"

#define KEYS_MAX      64
#define CLIENTS_MAX   32
#define EVENT_BYTES   1024
#define OP_TIMEOUT_MS 3000
#define TXN_PAIRS     4

static const char *const level_names[LEVELS] = {"LINEARIZABLE", "SEQUENTIAL",        "CAUSAL",
                                                "SESSION",      "BOUNDED_STALENESS", "EVENTUAL"};

/* The history file: one JSON object per line, written whole under a lock. */
static struct {
        pthread_mutex_t lock;
        FILE *f;
        uint64_t events;
} history = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

/* A token published by one process for another to merge. */
static struct {
        pthread_mutex_t lock;
        uint8_t bytes[TKV_TOKEN_BYTES_MAX];
        size_t len;
        uint64_t op_id;
        int process;
} shared_token = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, 0, 0};

struct opts o;
struct cluster cl;
static atomic_bool stopping;
static atomic_int next_process = 1;
static atomic_uint_fast64_t next_op = 1;
static atomic_uint_fast64_t ops_done, ops_info;

/* The members (verify.h): ids, and their client addresses for new clients. */
static struct {
        pthread_mutex_t lock;
        unsigned ids[CLUSTER_NODES_MAX];
        unsigned n;
        char endpoints[sizeof cl.endpoints];
} members = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, ""};

/* Failures the clients saw, by status (the run's end says them): a status
 * libtunekv does not retry must never reach a client in a scenario. */
#define STATUS_SLOTS 128
static atomic_uint_fast64_t fails_by_status[STATUS_SLOTS];

/* The final phase (final_reads): the partition of each key and of each TXN
 * pair, learnt from a read's receipt; UINT32_MAX unknown (then every node
 * reads it). */
static uint32_t key_partition[KEYS_MAX], pair_partition[TXN_PAIRS];
static bool final_holds(unsigned n, uint32_t p);
struct event;
static void ev_final_replicas(struct event *e, uint32_t p);

uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void nap_ms(unsigned ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
}

unsigned rnd(unsigned *seed, unsigned n)
{
        return n == 0 ? 0 : (unsigned)rand_r(seed) % n;
}

void members_set(const unsigned *ids, unsigned n)
{
        pthread_mutex_lock(&members.lock);
        members.n = 0;
        members.endpoints[0] = '\0';
        for (unsigned i = 0; i < n && i < CLUSTER_NODES_MAX; i++) {
                size_t used = strlen(members.endpoints);
                members.ids[members.n++] = ids[i];
                snprintf(members.endpoints + used, sizeof members.endpoints - used, "%s%s",
                         used > 0 ? "," : "", cl.nodes[ids[i] - 1].client_addr);
        }
        pthread_mutex_unlock(&members.lock);
}

/* A member, at random: a read's node pin. */
static unsigned member_pick(unsigned *seed)
{
        unsigned id;
        pthread_mutex_lock(&members.lock);
        id = members.n > 0 ? members.ids[rnd(seed, members.n)] : 0;
        pthread_mutex_unlock(&members.lock);
        return id;
}

/* The members' ids (up to CLUSTER_NODES_MAX) into ids; how many. */
static unsigned members_get(unsigned *ids)
{
        unsigned n;
        pthread_mutex_lock(&members.lock);
        n = members.n;
        memcpy(ids, members.ids, sizeof members.ids);
        pthread_mutex_unlock(&members.lock);
        return n;
}

/* A client of the members' addresses (NULL: said on stderr). */
static struct tkv_client *members_client(void)
{
        struct tkv_options co = {0};
        struct tkv_client *c = NULL;
        char endpoints[sizeof members.endpoints], err[256];

        pthread_mutex_lock(&members.lock);
        memcpy(endpoints, members.endpoints, sizeof endpoints);
        pthread_mutex_unlock(&members.lock);
        co.endpoints = endpoints;
        co.timeout_ms = OP_TIMEOUT_MS;
        co.connect_timeout_ms = 500;
        if (tkv_client_create(&co, &c, err, sizeof err) != TKV_OK) {
                fprintf(stderr, "tkv-verify: client: %s\n", err);
                return NULL;
        }
        return c;
}

static void fail_count(int status)
{
        atomic_fetch_add(&fails_by_status[status > 0 && status < STATUS_SLOTS ? status : 0], 1);
}

/* ---------------------------------------------------------------------- */
/* Events */

struct event {
        char buf[EVENT_BYTES];
        size_t len;
};

static void ev_add(struct event *e, const char *fmt, ...)
{
        va_list ap;
        int n;
        if (e->len >= sizeof e->buf) {
                return;
        }
        va_start(ap, fmt);
        n = vsnprintf(e->buf + e->len, sizeof e->buf - e->len, fmt, ap);
        va_end(ap);
        if (n > 0) {
                e->len += (size_t)n;
        }
}

/* A JSON string, as the member ,"name":"..." (or alone when name is NULL):
 * keys and values here are printable ASCII, but escape anything else all
 * the same. */
static void ev_str(struct event *e, const char *name, const void *s, size_t len)
{
        const unsigned char *p = s;
        if (name != NULL) {
                ev_add(e, ",\"%s\":\"", name);
        } else {
                ev_add(e, "\"");
        }
        for (size_t i = 0; i < len; i++) {
                if (p[i] == '"' || p[i] == '\\') {
                        ev_add(e, "\\%c", p[i]);
                } else if (p[i] < 0x20 || p[i] > 0x7e) {
                        ev_add(e, "\\u%04x", p[i]);
                } else {
                        ev_add(e, "%c", p[i]);
                }
        }
        ev_add(e, "\"");
}

static void ev_begin(struct event *e, const char *type, int process, uint64_t op_id, const char *f)
{
        e->len = 0;
        ev_add(e, "{\"type\":\"%s\",\"process\":%d,\"op_id\":%llu,\"f\":\"%s\"", type, process,
               (unsigned long long)op_id, f);
}

static void ev_write(struct event *e)
{
        ev_add(e, ",\"time\":%llu}\n", (unsigned long long)now_ns());
        pthread_mutex_lock(&history.lock);
        fwrite(e->buf, 1, e->len, history.f);
        history.events++;
        pthread_mutex_unlock(&history.lock);
}

void nemesis(const char *f, const char *fmt, ...)
{
        struct event e = {.len = 0};
        char value[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(value, sizeof value, fmt, ap);
        va_end(ap);
        ev_add(&e, "{\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"%s\"", f);
        ev_str(&e, "value", value, strlen(value));
        ev_write(&e);
        printf("nemesis: %s %s\n", f, value);
        fflush(stdout);
}

/* ---------------------------------------------------------------------- */
/* Client processes */

struct proc {
        int id; /* process and session id */
        struct tkv_client *client;
        unsigned seed;
        unsigned seq;                    /* values written */
        uint64_t version[KEYS_MAX];      /* last version seen per key: cas's expectation */
        uint64_t txn_version[TXN_PAIRS]; /* last version seen of each pair: a TXN's compare */
        bool seq_next;                   /* the next op: a SEQUENTIAL get at once (a probe) */
};

/* A write that certainly did not happen answers one of these. */
static bool write_failed_for_sure(int status)
{
        switch (status) {
        case TKV_NOT_LEADER:
        case TKV_NO_QUORUM:
        case TKV_UNAVAILABLE:
        case TKV_BUSY:
        case TKV_TIMEOUT:
        case TKV_INVALID_ARGUMENT:
        case TKV_TOO_LARGE:
        case TKV_CONNECT_FAILED:
        case TKV_USAGE_ERROR:
                return true;
        default:
                return false;
        }
}

static unsigned pick_level(unsigned *seed)
{
        unsigned total = 0, x;
        for (unsigned i = 0; i < LEVELS; i++) {
                total += o.weights[i];
        }
        x = rnd(seed, total);
        for (unsigned i = 0; i < LEVELS; i++) {
                if (x < o.weights[i]) {
                        return i;
                }
                x -= o.weights[i];
        }
        return 0;
}

/* Before an operation: now and then merge the token another process
 * published. Returns the op id it was taken after, or 0. */
static uint64_t maybe_take_token(struct proc *p)
{
        uint64_t from = 0;
        if (rnd(&p->seed, 100) >= 5) {
                return 0;
        }
        pthread_mutex_lock(&shared_token.lock);
        if (shared_token.len > 0 && shared_token.process != p->id &&
            tkv_token_merge(p->client, shared_token.bytes, shared_token.len) == TKV_OK) {
                from = shared_token.op_id;
        }
        pthread_mutex_unlock(&shared_token.lock);
        return from;
}

/* After an operation that completed: now and then publish the token. */
static void maybe_give_token(struct proc *p, uint64_t op_id)
{
        if (rnd(&p->seed, 100) >= 10) {
                return;
        }
        pthread_mutex_lock(&shared_token.lock);
        shared_token.len = tkv_token_get(p->client, shared_token.bytes, sizeof shared_token.bytes);
        if (shared_token.len > sizeof shared_token.bytes) {
                shared_token.len = 0;
        }
        shared_token.op_id = op_id;
        shared_token.process = p->id;
        pthread_mutex_unlock(&shared_token.lock);
}

static void key_name(unsigned k, char *out, size_t len)
{
        snprintf(out, len, "k%u", k);
}

/* The ok completion of a get of key that answered r (the event is left
 * open: the caller may add fields, then ev_write). */
static void ev_get_ok(struct event *e, int process, uint64_t op_id, const char *key,
                      const struct tkv_result *r)
{
        ev_begin(e, "ok", process, op_id, "get");
        ev_str(e, "key", key, strlen(key));
        ev_add(e, ",\"found\":%s", r->found ? "true" : "false");
        if (r->found) {
                ev_str(e, "value", r->value, r->value_len);
        } else {
                ev_add(e, ",\"value\":null");
        }
        ev_add(e,
               ",\"version\":%llu,\"partition\":%u,\"index\":%llu,\"node\":%u,"
               "\"staleness_ms\":%lld,\"delivered\":\"%s\"",
               /* absent: the delete it saw (its tombstone), 0 unknown */
               (unsigned long long)(r->found ? r->mod_index : r->deleted_index),
               r->receipt.partition, (unsigned long long)r->receipt.applied_index,
               r->receipt.node_id, (long long)r->receipt.staleness_ms,
               level_names[(unsigned)r->receipt.level % LEVELS]);
        if (r->receipt.timestamp != 0) {
                ev_add(e, ",\"timestamp\":%llu", (unsigned long long)r->receipt.timestamp);
        }
        if (r->found && r->timestamp != 0) {
                ev_add(e, ",\"value_timestamp\":%llu", (unsigned long long)r->timestamp);
        }
}

/* One get at level (LEVELS: drawn from the mix); returns false if the
 * process must retire (never for reads). */
static bool do_get(struct proc *p, unsigned k, uint64_t op_id, uint64_t token_from, unsigned level)
{
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        struct event e;
        char key[16];
        int rv;

        if (level >= LEVELS) {
                level = pick_level(&p->seed);
        }
        key_name(k, key, sizeof key);
        ro.level = (enum tkv_consistency)level;
        ro.timeout_ms = OP_TIMEOUT_MS;
        if (level == TKV_BOUNDED_STALENESS) {
                static const unsigned bounds[] = {100, 250, 500};
                ro.max_staleness_ms = bounds[rnd(&p->seed, 3)];
        }
        if (rnd(&p->seed, 2) == 0) {
                ro.node_id = member_pick(&p->seed);
        }
        ev_begin(&e, "invoke", p->id, op_id, "get");
        ev_add(&e, ",\"session\":%d", p->id);
        ev_str(&e, "key", key, strlen(key));
        ev_add(&e, ",\"consistency\":\"%s\"", level_names[level]);
        if (ro.max_staleness_ms > 0) {
                ev_add(&e, ",\"max_staleness_ms\":%u", ro.max_staleness_ms);
        }
        if (ro.node_id != 0) {
                ev_add(&e, ",\"node_pin\":%u", ro.node_id);
        }
        if (token_from != 0) {
                ev_add(&e, ",\"token_from\":%llu", (unsigned long long)token_from);
        }
        ev_write(&e);

        rv = tkv_get(p->client, key, strlen(key), &ro, &r);
        if (rv == TKV_OK || rv == TKV_NOT_FOUND) {
                ev_get_ok(&e, p->id, op_id, key, &r);
                p->version[k] = r.found ? r.mod_index : 0;
                ev_write(&e);
                maybe_give_token(p, op_id);
        } else {
                ev_begin(&e, "fail", p->id, op_id, "get");
                ev_str(&e, "key", key, strlen(key));
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
                ev_write(&e);
                fail_count(rv);
        }
        tkv_result_release(&r);
        return true;
}

/* The ok completion of a write of key k (value: put and cas) that
 * answered rv and r; then the process's next operation is chosen. */
static void write_ok(struct proc *p, const char *f, unsigned k, const char *value, int rv,
                     const struct tkv_result *r, uint64_t op_id)
{
        bool put = strcmp(f, "put") == 0, cas = strcmp(f, "cas") == 0;
        struct event e;
        char key[16];

        key_name(k, key, sizeof key);
        ev_begin(&e, "ok", p->id, op_id, f);
        ev_str(&e, "key", key, strlen(key));
        if (put || cas) {
                ev_str(&e, "value", value, strlen(value));
        }
        if (cas) {
                ev_add(&e, ",\"succeeded\":true");
        }
        if (!put && !cas) {
                ev_add(&e, ",\"found\":%s", rv == TKV_OK ? "true" : "false");
        }
        ev_add(&e, ",\"version\":%llu,\"partition\":%u", (unsigned long long)r->index,
               r->partition);
        if (r->timestamp != 0) {
                ev_add(&e, ",\"timestamp\":%llu", (unsigned long long)r->timestamp);
        }
        p->version[k] = put || cas ? r->index : 0;
        /* Now and then a SEQUENTIAL read follows at once, on any node: a
         * follower of another partition has likely not applied that
         * partition's latest writes yet (it learns of a commit with the next
         * append), and the session's timestamp, raised by this write, must
         * make it wait for them (the sequential check). */
        p->seq_next = o.weights[TKV_SEQUENTIAL] > 0 && rnd(&p->seed, 4) == 0;
        ev_write(&e);
        maybe_give_token(p, op_id);
}

/* One put, cas or delete; returns false if its outcome is unknown. */
static bool do_write(struct proc *p, const char *f, unsigned k, uint64_t op_id, uint64_t token_from)
{
        struct tkv_write_options wo = {0};
        struct tkv_result r;
        struct event e;
        char key[16], value[48];
        bool put = strcmp(f, "put") == 0, cas = strcmp(f, "cas") == 0;
        uint64_t expected = p->version[k];
        int rv;

        key_name(k, key, sizeof key);
        snprintf(value, sizeof value, "p%d-%u", p->id, ++p->seq);
        wo.timeout_ms = OP_TIMEOUT_MS;
        ev_begin(&e, "invoke", p->id, op_id, f);
        ev_add(&e, ",\"session\":%d", p->id);
        ev_str(&e, "key", key, strlen(key));
        if (put || cas) {
                ev_str(&e, "value", value, strlen(value));
        }
        if (cas) {
                ev_add(&e, ",\"expected_version\":%llu", (unsigned long long)expected);
        }
        if (token_from != 0) {
                ev_add(&e, ",\"token_from\":%llu", (unsigned long long)token_from);
        }
        ev_write(&e);

        if (put) {
                rv = tkv_put(p->client, key, strlen(key), value, strlen(value), &wo, &r);
        } else if (cas) {
                rv = tkv_cas(p->client, key, strlen(key), expected, value, strlen(value), &wo, &r);
        } else {
                rv = tkv_delete(p->client, key, strlen(key), &wo, &r);
        }
        if (rv == TKV_OK || (rv == TKV_NOT_FOUND && !put && !cas)) {
                write_ok(p, f, k, value, rv, &r, op_id);
        } else if (rv == TKV_CONDITION_FAILED && cas) {
                ev_begin(&e, "fail", p->id, op_id, f);
                ev_str(&e, "key", key, strlen(key));
                ev_add(&e,
                       ",\"succeeded\":false,\"error\":\"cas_mismatch\",\"version\":%llu,"
                       "\"partition\":%u,\"current_version\":%llu",
                       (unsigned long long)r.index, r.partition,
                       (unsigned long long)r.current_version);
                if (r.timestamp != 0) {
                        ev_add(&e, ",\"timestamp\":%llu", (unsigned long long)r.timestamp);
                }
                p->version[k] = r.current_version;
                ev_write(&e);
        } else if (write_failed_for_sure(rv)) {
                ev_begin(&e, "fail", p->id, op_id, f);
                ev_str(&e, "key", key, strlen(key));
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
                ev_write(&e);
                fail_count(rv);
        } else {
                ev_begin(&e, "info", p->id, op_id, f);
                ev_str(&e, "key", key, strlen(key));
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
                ev_write(&e);
                fail_count(rv);
                tkv_result_release(&r);
                return false;
        }
        tkv_result_release(&r);
        return true;
}

/* ---------------------------------------------------------------------- */
/* TXN on pairs of keys */

static void txn_key(unsigned pair, char half, char *out, size_t len)
{
        snprintf(out, len, "{t%u}:%c", pair, half);
}

/* ,"keys":[a,b] */
static void ev_txn_keys(struct event *e, const char *a, const char *b)
{
        ev_add(e, ",\"keys\":[");
        ev_str(e, NULL, a, strlen(a));
        ev_add(e, ",");
        ev_str(e, NULL, b, strlen(b));
        ev_add(e, "]");
}

/* ,"reads":[{key, found, value, version}...]: the GETs of r, of keys k. */
static void ev_txn_reads(struct event *e, const struct tkv_result *r, const char *const *k)
{
        unsigned n = 0;

        ev_add(e, ",\"reads\":[");
        for (size_t i = 0; i < r->txn_n_results; i++) {
                const struct tkv_txn_op_result *g = &r->txn_results[i];
                if (g->type != TKV_TXN_GET) {
                        continue;
                }
                ev_add(e, "%s{\"key\":", n > 0 ? "," : "");
                ev_str(e, NULL, k[n % 2], strlen(k[n % 2]));
                ev_add(e, ",\"found\":%s,\"value\":", g->found ? "true" : "false");
                if (g->found) {
                        ev_str(e, NULL, g->value, g->value_len);
                } else {
                        ev_add(e, "null");
                }
                ev_add(e, ",\"version\":%llu}", (unsigned long long)(g->found ? g->mod_index : 0));
                n++;
        }
        ev_add(e, "]");
}

/* The TXN of do_txn into t: a write (value != NULL) or a read of the pair. */
static void txn_build(struct tkv_txn *t, const char *a, const char *b, const char *value,
                      uint64_t expected)
{
        if (value == NULL) {
                tkv_txn_get(t, TKV_TXN_SUCCESS, a, strlen(a));
                tkv_txn_get(t, TKV_TXN_SUCCESS, b, strlen(b));
                return;
        }
        tkv_txn_compare_version(t, a, strlen(a), TKV_CMP_EQUAL, expected);
        tkv_txn_put(t, TKV_TXN_SUCCESS, a, strlen(a), value, strlen(value));
        tkv_txn_put(t, TKV_TXN_SUCCESS, b, strlen(b), value, strlen(value));
        tkv_txn_get(t, TKV_TXN_FAILURE, a, strlen(a));
        tkv_txn_get(t, TKV_TXN_FAILURE, b, strlen(b));
}

/* The completion of a TXN that ran (r). */
static void txn_record_ok(struct proc *p, struct event *e, uint64_t op_id, unsigned pair,
                          const char *const *k, const char *value, const struct tkv_result *r)
{
        ev_begin(e, "ok", p->id, op_id, "txn");
        ev_txn_keys(e, k[0], k[1]);
        if (value != NULL) {
                ev_str(e, "value", value, strlen(value));
        }
        ev_add(e, ",\"succeeded\":%s,\"version\":%llu,\"partition\":%u",
               r->txn_succeeded ? "true" : "false", (unsigned long long)r->index, r->partition);
        ev_txn_reads(e, r, k);
        if (value != NULL && r->txn_succeeded) {
                p->txn_version[pair] = r->index;
        } else if (r->txn_n_results > 0 && r->txn_results[0].type == TKV_TXN_GET) {
                p->txn_version[pair] = r->txn_results[0].found ? r->txn_results[0].mod_index : 0;
        }
}

/* One TXN on a pair; returns false if its outcome is unknown. */
static bool do_txn(struct proc *p, unsigned pair, uint64_t op_id)
{
        struct tkv_write_options wo = {TKV_ACK_COMMITTED, OP_TIMEOUT_MS, 0};
        struct tkv_txn *t = tkv_txn_new();
        struct tkv_result r;
        struct event e;
        char a[16], b[16], value[48];
        const char *k[2] = {a, b};
        bool write = rnd(&p->seed, 2) == 0, alive = true;
        int rv;

        txn_key(pair, 'a', a, sizeof a);
        txn_key(pair, 'b', b, sizeof b);
        snprintf(value, sizeof value, "p%d-t%u", p->id, ++p->seq);
        if (t == NULL) {
                return true;
        }
        txn_build(t, a, b, write ? value : NULL, p->txn_version[pair]);
        ev_begin(&e, "invoke", p->id, op_id, "txn");
        ev_add(&e, ",\"session\":%d", p->id);
        ev_txn_keys(&e, a, b);
        if (write) {
                ev_str(&e, "value", value, strlen(value));
                ev_add(&e, ",\"expected_version\":%llu", (unsigned long long)p->txn_version[pair]);
        }
        ev_write(&e);
        rv = tkv_txn_commit(p->client, t, &wo, &r);
        if (rv == TKV_OK) {
                txn_record_ok(p, &e, op_id, pair, k, write ? value : NULL, &r);
        } else {
                alive = write_failed_for_sure(rv) || !write;
                fail_count(rv);
                ev_begin(&e, alive ? "fail" : "info", p->id, op_id, "txn");
                ev_txn_keys(&e, a, b);
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
        }
        ev_write(&e);
        tkv_result_release(&r);
        tkv_txn_free(t);
        return alive;
}

/* The final reads of every pair on node n (process p). */
static void final_txn_reads(struct proc *p, unsigned n)
{
        for (unsigned pair = 0; pair < TXN_PAIRS; pair++) {
                struct tkv_read_options ro = {0};
                struct tkv_result r[2];
                struct event e;
                uint64_t op_id;
                char a[16], b[16];
                const char *k[2] = {a, b};
                int rv[2];

                if (!final_holds(n, pair_partition[pair])) {
                        continue;
                }
                op_id = atomic_fetch_add(&next_op, 1);
                txn_key(pair, 'a', a, sizeof a);
                txn_key(pair, 'b', b, sizeof b);
                ro.level = TKV_EVENTUAL;
                ro.node_id = n;
                ev_begin(&e, "invoke", p->id, op_id, "txn");
                ev_add(&e, ",\"session\":%d", p->id);
                ev_txn_keys(&e, a, b);
                ev_add(&e, ",\"final\":true");
                ev_final_replicas(&e, pair_partition[pair]);
                ev_write(&e);
                for (int i = 0; i < 2; i++) {
                        rv[i] = tkv_get(p->client, k[i], strlen(k[i]), &ro, &r[i]);
                        rv[i] =
                            (rv[i] == TKV_OK || rv[i] == TKV_NOT_FOUND) && r[i].receipt.node_id == n
                                ? TKV_OK
                                : (rv[i] == TKV_OK ? TKV_UNAVAILABLE : rv[i]);
                }
                if (rv[0] == TKV_OK && rv[1] == TKV_OK) {
                        ev_begin(&e, "ok", p->id, op_id, "txn");
                        ev_txn_keys(&e, a, b);
                        ev_add(&e, ",\"final\":true,\"node\":%u,\"reads\":[", n);
                        for (int i = 0; i < 2; i++) {
                                ev_add(&e, "%s{\"key\":", i > 0 ? "," : "");
                                ev_str(&e, NULL, k[i], strlen(k[i]));
                                ev_add(&e,
                                       ",\"found\":%s,\"value\":", r[i].found ? "true" : "false");
                                if (r[i].found) {
                                        ev_str(&e, NULL, r[i].value, r[i].value_len);
                                } else {
                                        ev_add(&e, "null");
                                }
                                ev_add(&e, ",\"version\":%llu}",
                                       (unsigned long long)(r[i].found ? r[i].mod_index : 0));
                        }
                        ev_add(&e, "]");
                } else {
                        ev_begin(&e, "fail", p->id, op_id, "txn");
                        ev_txn_keys(&e, a, b);
                        ev_add(&e, ",\"final\":true,\"error\":\"%s\"",
                               tkv_status_name(rv[0] != TKV_OK ? rv[0] : rv[1]));
                }
                ev_write(&e);
                tkv_result_release(&r[0]);
                tkv_result_release(&r[1]);
        }
}

static bool proc_start(struct proc *p, unsigned seed)
{
        memset(p, 0, sizeof *p);
        p->id = atomic_fetch_add(&next_process, 1);
        p->seed = seed ^ (unsigned)p->id * 2654435761u;
        p->client = members_client();
        return p->client != NULL;
}

static void *client_thread(void *arg)
{
        unsigned seed = (unsigned)(uintptr_t)arg;
        struct proc p;

        while (!atomic_load(&stopping)) {
                if (!proc_start(&p, seed++)) {
                        nap_ms(100);
                        continue;
                }
                while (!atomic_load(&stopping)) {
                        uint64_t op_id = atomic_fetch_add(&next_op, 1);
                        uint64_t from = maybe_take_token(&p);
                        unsigned k = rnd(&p.seed, o.keys), x = rnd(&p.seed, 100);
                        bool alive, probe = p.seq_next;

                        p.seq_next = false;
                        if (probe) {
                                alive = do_get(&p, k, op_id, from, TKV_SEQUENTIAL);
                        } else if (x < 50) {
                                alive = do_get(&p, k, op_id, from, LEVELS);
                        } else if (x < 75) {
                                alive = do_write(&p, "put", k, op_id, from);
                        } else if (x < 90) {
                                alive = do_write(&p, "cas", k, op_id, from);
                        } else if (x < 95) {
                                alive = do_write(&p, "delete", k, op_id, from);
                        } else {
                                alive = do_txn(&p, k % TXN_PAIRS, op_id);
                        }
                        atomic_fetch_add(&ops_done, 1);
                        if (o.think_ms > 0 && !p.seq_next) {
                                nap_ms(o.think_ms); /* pacing: keeps histories checkable */
                        }
                        if (!alive) {
                                atomic_fetch_add(&ops_info, 1);
                                break; /* retired: a new process, a new session */
                        }
                }
                tkv_client_destroy(p.client);
        }
        return NULL;
}

/* ---------------------------------------------------------------------- */
/* Watchers */

#define WATCHERS        2
#define WATCH_PARTS_MAX 16   /* positions recorded: they fit one event line */
#define WATCH_WAIT_MS   200  /* one tkv_watch_next: the loop checks its flags between */
#define WATCH_DRAIN_MS  1500 /* at the end, no event for this long: drained */

/* A watcher: one stream at a time of one thread, recorded as an operation
 * of f "watch" and process "w<id>" (docs/verification.md). */
struct watcher {
        unsigned which; /* 0: the key k0; 1: the prefix "k" (every workload key) */
        int id;
        uint64_t op_id;
        struct tkv_client *client;
        struct tkv_watch *w;
        unsigned resumes;   /* the library's, as last recorded */
        uint64_t reopen_ns; /* the recorder's next resume of its own */
        unsigned seed;
        struct tkv_watch_position pos[WATCH_PARTS_MAX]; /* before a resume of its own */
        size_t n_pos;
};

static atomic_bool watch_stopping;
static atomic_uint_fast64_t watch_events;

/* Statuses after which tkv_watch_next tries again (client_watch.c): every
 * other one ended the stream for good. */
static bool watch_transient(int rv)
{
        switch (rv) {
        case TKV_NOT_LEADER:
        case TKV_UNAVAILABLE:
        case TKV_NO_QUORUM:
        case TKV_BOUND_UNMET:
        case TKV_TIMEOUT:
        case TKV_BUSY:
        case TKV_CONNECT_FAILED:
        case TKV_CONNECTION_CLOSED:
                return true;
        default:
                return false;
        }
}

static void ev_watch_begin(struct event *e, const char *type, const struct watcher *wt)
{
        e->len = 0;
        ev_add(e, "{\"type\":\"%s\",\"process\":\"w%d\",\"op_id\":%llu,\"f\":\"watch\"", type,
               wt->id, (unsigned long long)wt->op_id);
}

/* ,"positions":[[partition,after_index]...]: the stream's now, or the
 * saved ones when it is closed. */
static void ev_watch_positions(struct event *e, struct watcher *wt)
{
        if (wt->w != NULL) {
                size_t n = tkv_watch_positions(wt->w, wt->pos, WATCH_PARTS_MAX);
                wt->n_pos = n < WATCH_PARTS_MAX ? n : WATCH_PARTS_MAX;
        }
        ev_add(e, ",\"positions\":[");
        for (size_t i = 0; i < wt->n_pos; i++) {
                ev_add(e, "%s[%u,%llu]", i > 0 ? "," : "", wt->pos[i].partition,
                       (unsigned long long)wt->pos[i].after_index);
        }
        ev_add(e, "]");
}

/* Open the stream: from now (n_pos 0) or after wt->pos (a resume of the
 * recorder's own). TKV_OK, or the status of tkv_watch_open. */
static int watch_open(struct watcher *wt)
{
        static const char *const keys[WATCHERS] = {"k0", "k"};
        struct tkv_read_options ro = {0};
        struct tkv_watch_spec spec = {0};
        char err[256];

        spec.key = keys[wt->which];
        spec.key_len = strlen(keys[wt->which]);
        spec.prefix = wt->which == 1;
        spec.start = wt->n_pos > 0 ? wt->pos : NULL;
        spec.n_start = wt->n_pos;
        /* The prefix watch may be served by a follower within 1 s of the
         * leader, and resumes elsewhere when its replica falls behind. */
        ro.level = wt->which == 1 ? TKV_BOUNDED_STALENESS : TKV_SEQUENTIAL;
        ro.max_staleness_ms = wt->which == 1 ? 1000 : 0;
        ro.timeout_ms = OP_TIMEOUT_MS;
        wt->resumes = 0;
        wt->reopen_ns = now_ns() + (uint64_t)(3000 + rnd(&wt->seed, 5000)) * 1000000u;
        return tkv_watch_open(wt->client, &spec, &ro, &wt->w, err, sizeof err);
}

/* A new watch operation: its invoke, then its start (or its end). Returns
 * false if it ended at once. */
static bool watch_begin(struct watcher *wt)
{
        struct tkv_watch_info info;
        struct event e;
        int rv;

        wt->op_id = atomic_fetch_add(&next_op, 1);
        wt->n_pos = 0;
        ev_watch_begin(&e, "invoke", wt);
        ev_str(&e, "key", wt->which == 1 ? "k" : "k0", wt->which == 1 ? 1 : 2);
        ev_add(&e, ",\"prefix\":%s", wt->which == 1 ? "true" : "false");
        ev_write(&e);
        rv = watch_open(wt);
        if (rv != TKV_OK) {
                ev_watch_begin(&e, "fail", wt);
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
                ev_write(&e);
                return false;
        }
        tkv_watch_get_info(wt->w, &info);
        ev_watch_begin(&e, "start", wt);
        ev_add(&e, ",\"node\":%u", info.node_id);
        ev_watch_positions(&e, wt);
        ev_write(&e);
        return true;
}

/* The library resumed the stream on another node since the last look. */
static void watch_note_resume(struct watcher *wt)
{
        struct tkv_watch_info info;
        struct event e;

        tkv_watch_get_info(wt->w, &info);
        if (info.resumes == wt->resumes) {
                return;
        }
        wt->resumes = info.resumes;
        ev_watch_begin(&e, "resume", wt);
        ev_add(&e, ",\"by\":\"library\",\"resumes\":%u,\"node\":%u", info.resumes, info.node_id);
        ev_watch_positions(&e, wt);
        ev_write(&e);
}

static void watch_record_event(struct watcher *wt, const struct tkv_watch_event *ev)
{
        struct event e;

        ev_watch_begin(&e, "event", wt);
        ev_add(&e, ",\"event\":\"%s\"", ev->type == TKV_EVENT_DELETE ? "delete" : "put");
        ev_str(&e, "key", ev->key, ev->key_len);
        if (ev->type == TKV_EVENT_PUT) {
                ev_str(&e, "value", ev->value, ev->value_len);
        }
        ev_add(&e, ",\"partition\":%u,\"index\":%llu", ev->partition,
               (unsigned long long)ev->index);
        ev_write(&e);
        atomic_fetch_add(&watch_events, 1);
}

/* The end of a watch operation: ok when the recorder stopped it, fail
 * with the status that ended it (COMPACTED: where its partition's history
 * starts). */
static void watch_end(struct watcher *wt, int rv)
{
        struct tkv_watch_info info;
        struct event e;

        tkv_watch_get_info(wt->w, &info);
        ev_watch_begin(&e, rv == TKV_OK ? "ok" : "fail", wt);
        if (rv != TKV_OK) {
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
        }
        if (rv == TKV_COMPACTED) {
                ev_add(&e, ",\"compacted_partition\":%u,\"compacted_index\":%llu",
                       info.compacted_partition, (unsigned long long)info.compacted_index);
        }
        ev_watch_positions(&e, wt);
        ev_write(&e);
        tkv_watch_close(wt->w);
        wt->w = NULL;
}

/* The recorder's own resume: close the stream, open another after its
 * positions (an application restarting). false if that ended the watch. */
static bool watch_reopen(struct watcher *wt)
{
        struct tkv_watch_info info;
        struct tkv_watch_event ev;
        struct event e;
        size_t n;
        int rv;

        /* Record what has already arrived (a wait of 0 takes only that);
         * the positions then cover exactly the events recorded. */
        while ((rv = tkv_watch_next(wt->w, &ev, 0)) == TKV_OK) {
                watch_record_event(wt, &ev);
        }
        watch_note_resume(wt);
        if (!watch_transient(rv)) {
                watch_end(wt, rv);
                return false;
        }
        n = tkv_watch_positions(wt->w, wt->pos, WATCH_PARTS_MAX);
        wt->n_pos = n < WATCH_PARTS_MAX ? n : WATCH_PARTS_MAX; /* the next start */
        tkv_watch_close(wt->w);
        wt->w = NULL;
        while ((rv = watch_open(wt)) != TKV_OK && watch_transient(rv) &&
               !atomic_load(&watch_stopping)) {
                nap_ms(100);
        }
        if (rv != TKV_OK) {
                ev_watch_begin(&e, watch_transient(rv) ? "ok" : "fail", wt);
                ev_add(&e, ",\"error\":\"%s\"", tkv_status_name(rv));
                ev_watch_positions(&e, wt);
                ev_write(&e);
                return false;
        }
        tkv_watch_get_info(wt->w, &info);
        ev_watch_begin(&e, "resume", wt);
        ev_add(&e, ",\"by\":\"recorder\",\"node\":%u", info.node_id);
        ev_watch_positions(&e, wt); /* where the new stream starts */
        ev_write(&e);
        return true;
}

/* Follow one watch until it ends for good, or until the run stops and it
 * has drained (no event for WATCH_DRAIN_MS, or twice that in all once a
 * drain is stuck on a node that cannot be reached). */
static void watch_follow(struct watcher *wt)
{
        uint64_t drain_until = 0;

        for (;;) {
                struct tkv_watch_event ev;
                bool stop = atomic_load(&watch_stopping);
                int rv;

                if (stop && drain_until == 0) {
                        drain_until = now_ns() + 2 * WATCH_DRAIN_MS * 1000000ull;
                }
                if (!stop && now_ns() > wt->reopen_ns) {
                        if (!watch_reopen(wt)) {
                                return;
                        }
                        continue;
                }
                rv = tkv_watch_next(wt->w, &ev, stop ? WATCH_DRAIN_MS : WATCH_WAIT_MS);
                watch_note_resume(wt);
                if (rv == TKV_OK) {
                        watch_record_event(wt, &ev);
                        continue;
                }
                if (!watch_transient(rv)) {
                        watch_end(wt, rv);
                        return;
                }
                if (stop && (rv == TKV_TIMEOUT || now_ns() > drain_until)) {
                        watch_end(wt, TKV_OK);
                        return;
                }
        }
}

static void *watch_thread(void *arg)
{
        struct watcher wt = {.which = (unsigned)(uintptr_t)arg};

        wt.seed = o.seed * 31u + wt.which;
        wt.client = members_client();
        if (wt.client == NULL) {
                return NULL;
        }
        while (!atomic_load(&watch_stopping)) {
                wt.id = atomic_fetch_add(&next_process, 1);
                if (watch_begin(&wt)) {
                        watch_follow(&wt);
                } else {
                        nap_ms(100);
                }
        }
        tkv_client_destroy(wt.client);
        return NULL;
}

/* ---------------------------------------------------------------------- */
/* Nemesis */

static bool paused[CLUSTER_NODES_MAX + 1];
static bool dead[CLUSTER_NODES_MAX + 1];

static unsigned alive_node(unsigned *seed)
{
        for (unsigned tries = 0; tries < 64; tries++) {
                unsigned n = 1 + rnd(seed, o.nodes);
                if (!dead[n] && !paused[n]) {
                        return n;
                }
        }
        return 0;
}

static unsigned leader_of_random_partition(unsigned *seed, uint32_t *partition)
{
        unsigned asker = alive_node(seed);
        *partition = rnd(seed, o.partitions);
        return asker == 0 ? 0 : cluster_leader(&cl, asker, *partition);
}

static void node_kill(unsigned n, const char *why)
{
        nemesis("kill", "n%u%s", n, why);
        cluster_signal(&cl, n, SIGKILL, true);
        dead[n] = true;
}

static void node_restart(unsigned n)
{
        if (cluster_restart(&cl, n) != 0) {
                fprintf(stderr, "tkv-verify: node %u did not restart\n", n);
                daemon_dump_log(&cl.nodes[n - 1]);
        }
        nemesis("restart", "n%u", n);
        dead[n] = false;
}

static void node_pause(unsigned n, const char *why)
{
        nemesis("pause", "n%u%s", n, why);
        cluster_signal(&cl, n, SIGSTOP, false);
        paused[n] = true;
}

static void node_resume(unsigned n)
{
        cluster_signal(&cl, n, SIGCONT, false);
        nemesis("resume", "n%u", n);
        paused[n] = false;
}

/* Run a shell command of the network faults; failures are reported, the
 * run goes on (a fault that did not happen only weakens the run). */
/* Names of this run's namespaces: "tkv<pid>-hub", "tkv<pid>-n<i>"
 * (netns.sh), so that two runs on one machine never meet. */
static char netns_prefix[32] = "tkv-";

static void net_run(const char *fmt, ...)
{
        char cmd[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        if (system(cmd) != 0) {
                fprintf(stderr, "tkv-verify: failed: %s\n", cmd);
        }
}

/* Node a stops hearing node b. */
static void net_drop_from(unsigned a, unsigned b)
{
        net_run("ip netns exec %sn%u iptables -I INPUT -s 10.77.0.%u -j DROP", netns_prefix, a, b);
}

static void net_heal(void)
{
        for (unsigned n = 1; n <= o.nodes; n++) {
                net_run("ip netns exec %sn%u iptables -F", netns_prefix, n);
        }
        nemesis("heal", "network");
}

static void fault_partition(unsigned *seed)
{
        uint32_t p = 0;
        unsigned n = rnd(seed, 2) == 0 ? leader_of_random_partition(seed, &p) : 0;
        char others[64] = "";

        if (n == 0) {
                n = 1 + rnd(seed, o.nodes);
        }
        for (unsigned i = 1; i <= o.nodes; i++) {
                if (i != n) {
                        snprintf(others + strlen(others), sizeof others - strlen(others), "%sn%u",
                                 others[0] != '\0' ? "," : "", i);
                }
        }
        nemesis("partition", "n%u | %s", n, others);
        for (unsigned i = 1; i <= o.nodes; i++) {
                if (i != n) {
                        net_drop_from(n, i);
                        net_drop_from(i, n);
                }
        }
        nap_ms(2000 + rnd(seed, 2000));
        net_heal();
}

static void fault_one_way(unsigned *seed)
{
        unsigned a = 1 + rnd(seed, o.nodes), b = 1 + rnd(seed, o.nodes - 1);
        if (b >= a) {
                b++;
        }
        nemesis("partition", "n%u hears nothing from n%u (one-way)", a, b);
        net_drop_from(a, b);
        nap_ms(2000 + rnd(seed, 2000));
        net_heal();
}

#define DELAY_MS 50

static char delayq_bin[600];

/* Hold every packet between nodes DELAY_MS: in each node's namespace, what
 * arrives from node j goes through NFQUEUE queue j, served by one delayq. */
static void fault_delay(unsigned *seed)
{
        pid_t pids[CLUSTER_NODES_MAX * CLUSTER_NODES_MAX];
        unsigned n_pids = 0;
        char ns[48], queue[16], ms[16];

        nemesis("delay", "%u ms between every pair of nodes", DELAY_MS);
        for (unsigned i = 1; i <= o.nodes; i++) {
                for (unsigned j = 1; j <= o.nodes; j++) {
                        pid_t pid;
                        if (i == j) {
                                continue;
                        }
                        net_run("ip netns exec %sn%u iptables -t mangle -A PREROUTING -s "
                                "10.77.0.%u -j NFQUEUE --queue-num %u --queue-bypass",
                                netns_prefix, i, j, j);
                        snprintf(ns, sizeof ns, "%sn%u", netns_prefix, i);
                        snprintf(queue, sizeof queue, "%u", j);
                        snprintf(ms, sizeof ms, "%u", DELAY_MS);
                        pid = fork();
                        if (pid == 0) {
                                execlp("ip", "ip", "netns", "exec", ns, delayq_bin, queue, ms,
                                       (char *)NULL);
                                _exit(127);
                        }
                        if (pid > 0) {
                                pids[n_pids++] = pid;
                        }
                }
        }
        nap_ms(3000 + rnd(seed, 2000));
        for (unsigned k = 0; k < n_pids; k++) {
                kill(pids[k], SIGTERM); /* delayq lets what it holds go */
                waitpid(pids[k], NULL, 0);
        }
        for (unsigned i = 1; i <= o.nodes; i++) {
                net_run("ip netns exec %sn%u iptables -t mangle -F", netns_prefix, i);
        }
        nemesis("undelay", "all");
}

static void fault_once(unsigned *seed)
{
        const char *kinds[7];
        unsigned n_kinds = 0, n;
        uint32_t p;
        char why[64];

        if (o.fault_kill) {
                kinds[n_kinds++] = "kill";
        }
        if (o.fault_leader_kill) {
                kinds[n_kinds++] = "leader-kill";
        }
        if (o.fault_pause) {
                kinds[n_kinds++] = "pause";
        }
        if (o.fault_isolate) {
                kinds[n_kinds++] = "isolate";
        }
        if (o.fault_partition && o.netns) {
                kinds[n_kinds++] = "partition";
        }
        if (o.fault_one_way && o.netns) {
                kinds[n_kinds++] = "one-way";
        }
        if (o.fault_delay && o.netns && delayq_bin[0] != '\0') {
                kinds[n_kinds++] = "delay";
        }
        if (n_kinds == 0) {
                nap_ms(1000);
                return;
        }
        const char *kind = kinds[rnd(seed, n_kinds)];
        if (strcmp(kind, "kill") == 0 && (n = alive_node(seed)) != 0) {
                node_kill(n, "");
                nap_ms(1000 + rnd(seed, 1000));
                node_restart(n);
        } else if (strcmp(kind, "leader-kill") == 0 &&
                   (n = leader_of_random_partition(seed, &p)) != 0) {
                snprintf(why, sizeof why, " (leader of partition %u)", p);
                node_kill(n, why);
                nap_ms(1000 + rnd(seed, 1000));
                node_restart(n);
        } else if (strcmp(kind, "pause") == 0 && (n = alive_node(seed)) != 0) {
                node_pause(n, "");
                nap_ms(1000 + rnd(seed, 2000));
                node_resume(n);
        } else if (strcmp(kind, "isolate") == 0 &&
                   (n = leader_of_random_partition(seed, &p)) != 0) {
                snprintf(why, sizeof why, " (isolating n%u, leader of partition %u)", n, p);
                for (unsigned i = 1; i <= o.nodes; i++) {
                        if (i != n) {
                                node_pause(i, why);
                        }
                }
                nap_ms(1000);
                node_kill(n, " (isolated leader)");
                for (unsigned i = 1; i <= o.nodes; i++) {
                        if (i != n) {
                                node_resume(i);
                        }
                }
                nap_ms(1000 + rnd(seed, 1000));
                node_restart(n);
        } else if (strcmp(kind, "partition") == 0) {
                fault_partition(seed);
        } else if (strcmp(kind, "one-way") == 0) {
                fault_one_way(seed);
        } else if (strcmp(kind, "delay") == 0) {
                fault_delay(seed);
        }
}

static void heal_all(void)
{
        if (o.netns) {
                for (unsigned n = 1; n <= o.nodes; n++) {
                        net_run("ip netns exec %sn%u iptables -F", netns_prefix, n);
                }
        }
        for (unsigned n = 1; n <= o.nodes; n++) {
                if (paused[n]) {
                        node_resume(n);
                }
        }
        for (unsigned n = 1; n <= o.nodes; n++) {
                if (dead[n]) {
                        node_restart(n);
                }
        }
        nemesis("heal", "all");
}

/* ---------------------------------------------------------------------- */
/* Final phase: every key on every member that holds it, EVENTUAL, pinned
 * to the node. */

static uint32_t partition_of(struct tkv_client *c, const char *key)
{
        struct tkv_read_options ro = {0};
        struct tkv_result r;
        uint32_t p = UINT32_MAX;
        int rv;

        ro.level = TKV_EVENTUAL;
        rv = tkv_get(c, key, strlen(key), &ro, &r);
        if (rv == TKV_OK || rv == TKV_NOT_FOUND) {
                p = r.receipt.partition;
        }
        tkv_result_release(&r);
        return p;
}

static void final_partitions(void)
{
        struct tkv_client *c = members_client();
        char key[16];

        for (unsigned k = 0; k < KEYS_MAX; k++) {
                key_partition[k] = UINT32_MAX;
        }
        for (unsigned i = 0; i < TXN_PAIRS; i++) {
                pair_partition[i] = UINT32_MAX;
        }
        if (c == NULL) {
                return;
        }
        for (unsigned k = 0; k < o.keys; k++) {
                key_name(k, key, sizeof key);
                key_partition[k] = partition_of(c, key);
        }
        for (unsigned i = 0; i < TXN_PAIRS; i++) {
                txn_key(i, 'a', key, sizeof key);
                pair_partition[i] = partition_of(c, key);
        }
        tkv_client_destroy(c);
}

/* The map's replicas of each partition (the final phase's), and a
 * partition's as the JSON member ,"replicas":[...] (our recorder's
 * extension: tunekv-check expects a final read of a key from these nodes
 * only). */
static struct tkv_partition_info final_map[64];
static unsigned final_map_n;

static void final_placement(void)
{
        struct tkv_client *c = members_client();
        struct tkv_result res;

        final_map_n = 0;
        if (c == NULL) {
                return;
        }
        if (tkv_cluster_info(c, &res) == TKV_OK && res.cluster != NULL) {
                final_map_n = res.cluster->n_partitions < 64 ? res.cluster->n_partitions : 64;
                memcpy(final_map, res.cluster->partitions, final_map_n * sizeof final_map[0]);
        }
        tkv_result_release(&res);
        tkv_client_destroy(c);
}

/* Does node n hold a replica of partition p? Unknown (UINT32_MAX, or no
 * map): yes, so that the read is recorded. */
static bool final_holds(unsigned n, uint32_t p)
{
        if (p >= final_map_n || final_map[p].n_replicas == 0) {
                return true;
        }
        for (unsigned i = 0; i < final_map[p].n_replicas; i++) {
                if (final_map[p].replicas[i] == n) {
                        return true;
                }
        }
        return false;
}

static void ev_final_replicas(struct event *e, uint32_t p)
{
        if (p >= final_map_n || final_map[p].n_replicas == 0) {
                return;
        }
        ev_add(e, ",\"replicas\":[");
        for (unsigned i = 0; i < final_map[p].n_replicas; i++) {
                ev_add(e, "%s%u", i > 0 ? "," : "", final_map[p].replicas[i]);
        }
        ev_add(e, "]");
}

static void final_reads(void)
{
        unsigned ids[CLUSTER_NODES_MAX], n_ids = members_get(ids);

        final_partitions();
        final_placement();
        for (unsigned i = 0; i < n_ids; i++) {
                unsigned n = ids[i];
                struct proc p;
                if (!proc_start(&p, n)) {
                        continue;
                }
                for (unsigned k = 0; k < o.keys; k++) {
                        struct tkv_read_options ro = {0};
                        struct tkv_result r;
                        struct event e;
                        uint64_t op_id;
                        char key[16];
                        int rv;

                        if (!final_holds(n, key_partition[k])) {
                                continue;
                        }
                        op_id = atomic_fetch_add(&next_op, 1);
                        key_name(k, key, sizeof key);
                        ro.level = TKV_EVENTUAL;
                        ro.node_id = n;
                        ev_begin(&e, "invoke", p.id, op_id, "get");
                        ev_add(&e, ",\"session\":%d", p.id);
                        ev_str(&e, "key", key, strlen(key));
                        ev_add(&e, ",\"consistency\":\"EVENTUAL\",\"node_pin\":%u", n);
                        ev_final_replicas(&e, key_partition[k]);
                        ev_write(&e);
                        rv = tkv_get(p.client, key, strlen(key), &ro, &r);
                        if ((rv == TKV_OK || rv == TKV_NOT_FOUND) && r.receipt.node_id == n) {
                                ev_get_ok(&e, p.id, op_id, key, &r);
                                ev_add(&e, ",\"final\":true");
                        } else {
                                ev_begin(&e, "fail", p.id, op_id, "get");
                                ev_str(&e, "key", key, strlen(key));
                                ev_add(&e, ",\"error\":\"%s\",\"final\":true",
                                       rv == TKV_OK ? "served elsewhere" : tkv_status_name(rv));
                        }
                        ev_write(&e);
                        tkv_result_release(&r);
                }
                final_txn_reads(&p, n);
                tkv_client_destroy(p.client);
        }
}

/* ---------------------------------------------------------------------- */

/* Create the namespaces (tests/verify/netns.sh) and move this process
 * into the hub's, before any thread exists: threads and children inherit
 * it. Daemons go to their own (cluster.c reads TKV_NETNS). */
static int host_netns = -1; /* this process's namespace before it joined the hub */

static int netns_up(void)
{
        char cmd[600], path[96], nodes[40];
        int fd;

        snprintf(netns_prefix, sizeof netns_prefix, "tkv%ld-", (long)getpid());
        setenv("TKV_NETNS_PREFIX", netns_prefix, 1); /* netns.sh up and down */
        snprintf(cmd, sizeof cmd, "bash %s/tests/verify/netns.sh up %u", TKV_SOURCE_DIR, o.nodes);
        if (system(cmd) != 0) {
                fprintf(stderr, "tkv-verify: could not set up network namespaces\n");
                return -1;
        }
        host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof path, "/var/run/netns/%shub", netns_prefix);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                fprintf(stderr, "tkv-verify: joining %shub: %s\n", netns_prefix, strerror(errno));
                return -1;
        }
        close(fd);
        snprintf(nodes, sizeof nodes, "%sn", netns_prefix);
        setenv("TKV_NETNS", nodes, 1);
        snprintf(delayq_bin, sizeof delayq_bin, "%s/tests/delayq", TKV_BIN_DIR);
        if (access(delayq_bin, X_OK) != 0) {
                printf("tkv-verify: no %s (libnetfilter-queue-dev): no delay faults\n", delayq_bin);
                delayq_bin[0] = '\0';
        }
        return 0;
}

static void netns_down(void)
{
        char cmd[600];
        if (o.netns) {
                /* Back home first: down kills whatever runs in the hub. */
                if (host_netns < 0 || setns(host_netns, CLONE_NEWNET) != 0) {
                        fprintf(stderr, "tkv-verify: cannot leave %shub; run netns.sh reap\n",
                                netns_prefix);
                        return;
                }
                fflush(NULL);
                snprintf(cmd, sizeof cmd, "bash %s/tests/verify/netns.sh down", TKV_SOURCE_DIR);
                if (system(cmd) != 0) {
                        fprintf(stderr, "tkv-verify: netns.sh down failed; run it by hand\n");
                }
        }
}

/* A status that may end an operation while the cluster changes: libtunekv
 * retried it until the operation's deadline (or, for a write, its outcome
 * is unknown). Any other one is a bug. */
static bool status_retryable(int status)
{
        switch (status) {
        case TKV_NOT_LEADER:
        case TKV_BOUND_UNMET:
        case TKV_NO_QUORUM:
        case TKV_TIMEOUT:
        case TKV_OUTCOME_UNKNOWN:
        case TKV_BUSY:
        case TKV_UNAVAILABLE:
        case TKV_CONNECT_FAILED:
        case TKV_CONNECTION_CLOSED:
                return true;
        default:
                return false;
        }
}

/* Say the clients' failures by status (stdout); how many were of a status
 * that is not retryable. */
static unsigned report_fails(void)
{
        unsigned bad = 0;
        bool any = false;

        printf("tkv-verify: failed operations by status:");
        for (int st = 0; st < STATUS_SLOTS; st++) {
                uint64_t n = atomic_load(&fails_by_status[st]);
                if (n == 0) {
                        continue;
                }
                any = true;
                printf(" %s %llu%s", tkv_status_name(st), (unsigned long long)n,
                       status_retryable(st) ? "" : " (not retryable)");
                bad += status_retryable(st) ? 0 : (unsigned)n;
        }
        printf("%s\n", any ? "" : " none");
        return bad;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: tkv-verify --dir DIR [--seconds N] [--clients N] [--keys N]\n"
                "                  [--partitions N] [--netns]\n"
                "                  [--faults "
                "kill,leader-kill,pause,isolate,partition,one-way,delay|none]\n"
                "                  [--mix LEVEL=W,...] [--think-ms N] [--bug NAME] [--seed N]\n"
                "                  [--scenario faults|elastic|moves]\n");
        exit(2);
}

static int level_of(const char *name, size_t len)
{
        static const char *const short_names[LEVELS] = {"linearizable", "sequential", "causal",
                                                        "session",      "bounded",    "eventual"};
        for (int i = 0; i < LEVELS; i++) {
                if (strlen(short_names[i]) == len && strncasecmp(name, short_names[i], len) == 0) {
                        return i;
                }
                if (strlen(level_names[i]) == len && strncasecmp(name, level_names[i], len) == 0) {
                        return i;
                }
        }
        return -1;
}

static void parse_mix(const char *s)
{
        memset(o.weights, 0, sizeof o.weights);
        while (*s != '\0') {
                const char *eq = strchr(s, '='), *comma;
                int level;
                if (eq == NULL || (level = level_of(s, (size_t)(eq - s))) < 0) {
                        usage();
                }
                o.weights[level] = (unsigned)strtoul(eq + 1, NULL, 10);
                comma = strchr(eq, ',');
                s = comma != NULL ? comma + 1 : eq + strlen(eq);
        }
}

static void parse_faults(const char *s)
{
        char copy[256], *save = NULL;
        o.fault_kill = o.fault_leader_kill = o.fault_pause = o.fault_isolate = false;
        o.fault_partition = o.fault_one_way = o.fault_delay = false;
        snprintf(copy, sizeof copy, "%s", s);
        for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "kill") == 0) {
                        o.fault_kill = true;
                } else if (strcmp(t, "leader-kill") == 0) {
                        o.fault_leader_kill = true;
                } else if (strcmp(t, "pause") == 0) {
                        o.fault_pause = true;
                } else if (strcmp(t, "isolate") == 0) {
                        o.fault_isolate = true;
                } else if (strcmp(t, "partition") == 0) {
                        o.fault_partition = true;
                } else if (strcmp(t, "one-way") == 0) {
                        o.fault_one_way = true;
                } else if (strcmp(t, "delay") == 0) {
                        o.fault_delay = true;
                } else if (strcmp(t, "none") != 0) {
                        usage();
                }
        }
}

static void parse(int argc, char **argv)
{
        o.seconds = 30;
        o.clients = 6;
        o.keys = 6;
        o.nodes = 3;
        o.partitions = 4;
        o.seed = 1;
        o.think_ms = 5;
        for (unsigned i = 0; i < LEVELS; i++) {
                o.weights[i] = 1;
        }
        o.fault_kill = o.fault_leader_kill = o.fault_pause = o.fault_isolate = true;
        o.fault_partition = o.fault_one_way = o.fault_delay = true;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--netns") == 0) {
                        o.netns = true;
                        continue;
                }
                if (v == NULL) {
                        usage();
                }
                i++;
                if (strcmp(a, "--dir") == 0) {
                        o.dir = v;
                } else if (strcmp(a, "--seconds") == 0) {
                        o.seconds = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--clients") == 0) {
                        o.clients = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--keys") == 0) {
                        o.keys = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--partitions") == 0) {
                        o.partitions = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--faults") == 0) {
                        parse_faults(v);
                } else if (strcmp(a, "--mix") == 0) {
                        parse_mix(v);
                } else if (strcmp(a, "--bug") == 0) {
                        o.bug = v;
                } else if (strcmp(a, "--think-ms") == 0) {
                        o.think_ms = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--seed") == 0) {
                        o.seed = (unsigned)strtoul(v, NULL, 10);
                } else if (strcmp(a, "--scenario") == 0) {
                        if (strcmp(v, "faults") == 0) {
                                o.scenario = SCENARIO_FAULTS;
                        } else if (strcmp(v, "elastic") == 0) {
                                o.scenario = SCENARIO_ELASTIC;
                        } else if (strcmp(v, "moves") == 0) {
                                o.scenario = SCENARIO_MOVES;
                        } else {
                                usage();
                        }
                } else {
                        usage();
                }
        }
        if (o.dir == NULL || o.clients == 0 || o.clients > CLIENTS_MAX || o.keys == 0 ||
            o.keys > KEYS_MAX || o.partitions == 0) {
                usage();
        }
        if (o.scenario != SCENARIO_FAULTS && (o.netns || o.bug != NULL)) {
                fprintf(stderr,
                        "tkv-verify: --scenario %s runs on loopback, without --netns "
                        "and --bug\n",
                        o.scenario == SCENARIO_MOVES ? "moves" : "elastic");
                exit(2);
        }
        if (o.scenario == SCENARIO_MOVES) {
                o.nodes = 4; /* 3 replicas: a move's target is the fourth */
        }
}

int main(int argc, char **argv)
{
        static const char *const flags[] = {"--election-timeout-ms", "1000", NULL};
        pthread_t threads[CLIENTS_MAX];
        pthread_t watchers[WATCHERS];
        char path[600];
        unsigned seed;
        uint64_t start;
        bool converged = true, scenario_ok = true;
        unsigned not_retryable;

        parse(argc, argv);
        seed = o.seed;
        signal(SIGPIPE, SIG_IGN);
        mkdir(o.dir, 0755);
        snprintf(path, sizeof path, "%s/history.jsonl", o.dir);
        history.f = fopen(path, "w");
        if (history.f == NULL) {
                fprintf(stderr, "tkv-verify: %s: %s\n", path, strerror(errno));
                return 1;
        }
        if (o.bug != NULL) {
                char bin[600];
                const char *dir =
                    getenv("TKV_BIN_DIR") != NULL ? getenv("TKV_BIN_DIR") : TKV_BIN_DIR;
                snprintf(bin, sizeof bin, "%s/tunekvd-planted", dir);
                setenv("TKV_DAEMON", bin, 1);
                setenv("TUNEKV_PLANTED_BUG", o.bug, 1);
        }
        if (o.netns && netns_up() != 0) {
                return 1;
        }
        printf("tkv-verify: %u nodes, %u partitions, %u clients, %u keys, %u s of faults%s%s\n",
               o.nodes, o.partitions, o.clients, o.keys, o.seconds, o.bug ? ", planted bug " : "",
               o.bug ? o.bug : "");
        fflush(stdout);
        if (cluster_start_conf(&cl, o.dir, o.nodes, o.partitions, 3, flags, NULL,
                               scenario_conf(o.scenario)) != 0) {
                fprintf(stderr, "tkv-verify: the cluster did not start\n");
                cluster_kill_all(&cl);
                netns_down();
                return 1;
        }
        for (uint32_t p = 0; p < o.partitions; p++) {
                if (!cluster_wait_converged(&cl, p, 30000)) {
                        fprintf(stderr, "tkv-verify: partition %u has no leader\n", p);
                        cluster_kill_all(&cl);
                        return 1;
                }
        }
        {
                unsigned ids[CLUSTER_NODES_MAX];
                for (unsigned i = 0; i < o.nodes; i++) {
                        ids[i] = i + 1;
                }
                members_set(ids, o.nodes);
        }
        for (unsigned i = 0; i < o.clients; i++) {
                pthread_create(&threads[i], NULL, client_thread,
                               (void *)(uintptr_t)(o.seed * 7919u + i * 104729u));
        }
        for (unsigned i = 0; i < WATCHERS; i++) {
                pthread_create(&watchers[i], NULL, watch_thread, (void *)(uintptr_t)i);
        }
        start = now_ns();
        nap_ms(1000); /* a quiet start: the history begins fault-free */
        if (o.scenario == SCENARIO_ELASTIC) {
                scenario_ok = scenario_elastic(&seed) == 0;
        } else if (o.scenario == SCENARIO_MOVES) {
                scenario_ok = scenario_moves(&seed) == 0;
        }
        while (now_ns() - start < (uint64_t)o.seconds * 1000000000u) {
                if (o.scenario == SCENARIO_FAULTS) {
                        fault_once(&seed);
                        nap_ms(1000 + rnd(&seed, 1000));
                } else {
                        nap_ms(100); /* the load goes on until --seconds */
                }
        }
        heal_all();
        nap_ms(500);
        atomic_store(&stopping, true);
        for (unsigned i = 0; i < o.clients; i++) {
                pthread_join(threads[i], NULL);
        }
        atomic_store(&watch_stopping, true); /* they drain beside the final phase */
        for (uint32_t p = 0; p < o.partitions; p++) {
                converged &= cluster_wait_converged(&cl, p, 30000);
        }
        if (!converged) {
                fprintf(stderr, "tkv-verify: replicas did not converge in 30 s\n");
        }
        final_reads();
        for (unsigned i = 0; i < WATCHERS; i++) {
                pthread_join(watchers[i], NULL);
        }
        fclose(history.f);
        printf("tkv-verify: %llu operations (%llu info), %llu watch events, %llu events in %s\n",
               (unsigned long long)atomic_load(&ops_done),
               (unsigned long long)atomic_load(&ops_info),
               (unsigned long long)atomic_load(&watch_events), (unsigned long long)history.events,
               path);
        not_retryable = report_fails();
        if (cluster_stop(&cl) != 0) {
                fprintf(stderr, "tkv-verify: a node did not stop cleanly\n");
        }
        netns_down();
        if (o.scenario != SCENARIO_FAULTS && (!scenario_ok || not_retryable > 0)) {
                fprintf(stderr, "tkv-verify: the scenario failed: %s\n",
                        !scenario_ok ? "the cluster did not carry out a change (above)"
                                     : "clients saw statuses libtunekv does not retry");
                return 3;
        }
        return 0;
}
