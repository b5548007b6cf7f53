/* tkv_watch_open, _next, _positions, _get_info, _errmsg, _close
 * (include/tunekv.h, docs/protocol.md "WATCH").
 *
 * A watch has a connection of its own, like the rare requests of
 * client_lease.c: the stream's frames never queue behind the client's
 * other requests, and its calls block in poll(2) on that one socket. It
 * keeps its position in each partition (the created frame's start, then
 * the newest index of each event and progress frame: frames hold whole
 * log entries) and, when its stream breaks (the node closes, shuts down,
 * goes over the staleness bound, or sends nothing for silence_ms), opens
 * it again after those positions on
 * the next node that takes it: the leader a NOT_LEADER answer names, else
 * the client's endpoints in turn. Events already received stay buffered
 * and are handed out first. COMPACTED and refusals (permissions, bad
 * arguments) end it for good. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "heap.h"
#include "keyhash.h"
#include "pballoc.h"
#include "tunekv.pb-c.h"

#define CLIENT_WATCH_SILENCE_MS 5000
/* Pause after a round of endpoints that all failed, so that a caller
 * looping on tkv_watch_next does not spin. */
#define CLIENT_WATCH_BACKOFF_MS 100

struct tkv_watch {
        struct tkv_client *c;
        struct client_peer p; /* its own link */
        bool open;            /* a stream runs on p */
        int ended;            /* the status that ended it for good; TKV_OK: none */
        uint8_t *key;
        size_t key_len;
        bool prefix;
        bool keys_only;
        bool has_opts;
        struct tkv_read_options opts;
        unsigned silence_ms;
        uint64_t id; /* the current stream's request id */
        /* Per partition of the stream: pos, every change received at or
         * below it (where a resume starts: the events buffered go out
         * first anyway), and done[i], at or below it handed to the caller
         * (what tkv_watch_positions reports: an application that resumes
         * by itself from those misses nothing it was not given). */
        struct tkv_watch_position *pos;
        uint64_t *done;
        size_t n_pos;
        struct tkv_watch_info info;
        uint32_t hint_node;  /* try it first (a NOT_LEADER's leader); 0: none */
        char hint_addr[128]; /* its client address, when the answer named it */
        char lost_addr[sizeof(((struct client_endpoint *)0)->name)]; /* the endpoint whose
                                                                          stream was lost: last */
        unsigned next_endpoint; /* where a round of endpoints starts */
        int64_t heard_ms;       /* the last frame */
        /* The frame whose events are being handed out. */
        struct pballoc pb;
        Tunekv__V1__Response *resp;
        size_t next_event;
        char errmsg[256];
};

/* ------------------------------------------------------------------------ */
/* Positions */

static struct tkv_watch_position *client_watch_pos_of(struct tkv_watch *w, uint32_t partition)
{
        for (size_t i = 0; i < w->n_pos; i++) {
                if (w->pos[i].partition == partition) {
                        return &w->pos[i];
                }
        }
        return NULL;
}

/* Partition's position moves up to index (never back); and what was
 * handed out too, with delivered. */
static void client_watch_advance(struct tkv_watch *w, uint32_t partition, uint64_t index,
                                 bool delivered)
{
        struct tkv_watch_position *p = client_watch_pos_of(w, partition);

        if (p == NULL) {
                return;
        }
        if (index > p->after_index) {
                p->after_index = index;
        }
        if (delivered && index > w->done[p - w->pos]) {
                w->done[p - w->pos] = index;
        }
}

/* The created frame names every partition of the stream and where it
 * starts: the positions are those (a resumed partition keeps what it
 * received and handed out, which may be past its start). */
static int client_watch_created(struct tkv_watch *w, const Tunekv__V1__WatchResponse *wr)
{
        struct tkv_watch_position *pos = tkv_calloc(wr->n_progress + 1, sizeof(*pos));
        uint64_t *done = tkv_calloc(wr->n_progress + 1, sizeof(*done));

        if (pos == NULL || done == NULL) {
                tkv_free(pos);
                tkv_free(done);
                return TKV_NO_MEMORY;
        }
        for (size_t i = 0; i < wr->n_progress; i++) {
                const struct tkv_watch_position *old =
                    client_watch_pos_of(w, wr->progress[i]->partition);
                pos[i].partition = wr->progress[i]->partition;
                pos[i].after_index = wr->progress[i]->index;
                done[i] = wr->progress[i]->index;
                if (old != NULL && old->after_index > pos[i].after_index) {
                        pos[i].after_index = old->after_index;
                }
                if (old != NULL && w->done[old - w->pos] > done[i]) {
                        done[i] = w->done[old - w->pos];
                }
        }
        tkv_free(w->pos);
        tkv_free(w->done);
        w->pos = pos;
        w->done = done;
        w->n_pos = wr->n_progress;
        w->info.node_id = wr->node_id;
        w->info.level = (enum tkv_consistency)wr->level;
        return TKV_OK;
}

/* ------------------------------------------------------------------------ */
/* Starting a stream */

static int client_watch_frame_out(struct tkv_watch *w, struct buffer *frame)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WatchRequest wq = TUNEKV__V1__WATCH_REQUEST__INIT;
        Tunekv__V1__ReadOptions ro = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__WatchStart *starts = tkv_calloc(w->n_pos + 1, sizeof(*starts));
        Tunekv__V1__WatchStart **ptrs = tkv_calloc(w->n_pos + 1, sizeof(*ptrs));
        struct tkv_client *c = w->c;
        int rv = TKV_NO_MEMORY;

        if (starts == NULL || ptrs == NULL) {
                goto out;
        }
        for (size_t i = 0; i < w->n_pos; i++) {
                tunekv__v1__watch_start__init(&starts[i]);
                starts[i].every = w->pos[i].partition == TKV_WATCH_EVERY_PARTITION;
                starts[i].partition = starts[i].every ? 0 : w->pos[i].partition;
                starts[i].after_index = w->pos[i].after_index;
                ptrs[i] = &starts[i];
        }
        wq.key.data = w->key;
        wq.key.len = w->key_len;
        wq.prefix = w->prefix;
        wq.keys_only = w->keys_only;
        wq.n_start = w->n_pos;
        wq.start = ptrs;
        if (w->has_opts) {
                codec_read_options_fill(&ro, &w->opts);
        }
        if (!w->has_opts || w->opts.level != TKV_LINEARIZABLE) {
                /* Its start sees the session's own writes (SEQUENTIAL). */
                ro.token.data = c->session_len > 0 ? c->session_bytes : NULL;
                ro.token.len = c->session_len;
        }
        wq.options = &ro;
        msg.id = ++w->id;
        msg.timeout_ms = w->has_opts && w->opts.timeout_ms > 0 ? w->opts.timeout_ms : c->timeout_ms;
        msg.body_case = TUNEKV__V1__REQUEST__BODY_WATCH;
        msg.watch = &wq;
        rv = codec_frame_request(frame, &msg);
out:
        tkv_free(ptrs);
        tkv_free(starts);
        return rv;
}

/* A NOT_LEADER answer named the leader: the next start tries it first. */
static void client_watch_hint(struct tkv_watch *w, const Tunekv__V1__LeaderHint *h)
{
        w->hint_node = h->node_id;
        snprintf(w->hint_addr, sizeof(w->hint_addr), "%s",
                 h->client_addr != NULL ? h->client_addr : "");
}

/* The answer to a WATCH: the created frame, or why not. TKV_OK once the
 * stream runs. */
static int client_watch_first(struct tkv_watch *w, const uint8_t *body, size_t len)
{
        struct pballoc pb;
        Tunekv__V1__Response *resp;
        int rv;

        resp = codec_unpack_oneshot(&pb, body, len, &rv, w->errmsg, sizeof(w->errmsg));
        if (resp == NULL) {
                return TKV_PROTOCOL_ERROR;
        }
        if (rv == TKV_NOT_LEADER && resp->leader_hint != NULL) {
                client_watch_hint(w, resp->leader_hint);
        }
        if (rv == TKV_COMPACTED && resp->body_case == TUNEKV__V1__RESPONSE__BODY_WATCH) {
                w->info.compacted_partition = resp->watch->compacted_partition;
                w->info.compacted_index = resp->watch->compacted_index;
        }
        if (rv == TKV_OK) {
                rv = resp->body_case == TUNEKV__V1__RESPONSE__BODY_WATCH && resp->watch->created
                         ? client_watch_created(w, resp->watch)
                         : TKV_PROTOCOL_ERROR;
        }
        tunekv__v1__response__free_unpacked(resp, &pb.base);
        return rv;
}

/* Open the stream on endpoint e. */
static int client_watch_try(struct tkv_watch *w, const struct client_endpoint *e)
{
        struct tkv_client *c = w->c;
        struct buffer frame;
        const uint8_t *body;
        size_t len;
        int rv;

        memset(&w->p, 0, sizeof(w->p));
        w->p.addr = *e;
        link_init(&w->p.link);
        if (link_connect(&w->p.link, e->host, e->port, c->connect_timeout_ms, c->tls,
                         c->tls_server_name[0] != '\0' ? c->tls_server_name : NULL) != 0) {
                snprintf(w->errmsg, sizeof(w->errmsg), "cannot connect to %.100s: %.120s", e->name,
                         w->p.link.errmsg);
                link_close(&w->p.link);
                return TKV_CONNECT_FAILED;
        }
        rv = client_auth_link(c, &w->p);
        buffer_init(&frame);
        if (rv == TKV_OK) {
                rv = client_watch_frame_out(w, &frame);
        }
        if (rv == TKV_OK && link_queue(&w->p.link, buffer_data(&frame), buffer_len(&frame)) != 0) {
                rv = TKV_NO_MEMORY;
        }
        buffer_free(&frame);
        if (rv == TKV_OK) {
                rv = client_link_frame_by(&w->p, client_now_ms() + c->timeout_ms, &body, &len);
                if (rv == TKV_OK) {
                        rv = client_watch_first(w, body, len);
                        link_frame_done(&w->p.link, len);
                } else {
                        snprintf(w->errmsg, sizeof(w->errmsg), "%.100s: no answer (%s)", e->name,
                                 tkv_status_name(rv));
                }
        }
        if (rv != TKV_OK) {
                link_close(&w->p.link);
                return rv;
        }
        w->open = true;
        w->heard_ms = client_now_ms();
        return TKV_OK;
}

/* Worth trying another node (or the same one later)? */
static bool client_watch_retryable(int rv)
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

/* The one partition w reads (a key's, a whole hash tag's prefix), if so. */
static bool client_watch_one_partition(const struct tkv_watch *w, uint32_t n, uint32_t *p)
{
        size_t tag_len;
        const void *tag = key_hash_tag(w->key, w->key_len, &tag_len);

        if (n == 0 || (w->prefix && (w->key_len == 0 || tag == (const void *)w->key))) {
                return false;
        }
        *p = (uint32_t)(key_hash_partition(w->key, w->key_len) % n);
        return true;
}

/* Ask the cluster (CLUSTER_INFO, blocking) for the address of the node to
 * try first: hint_node when it is set (opts->node_id, a NOT_LEADER's),
 * else, for route LEADER (the default) and a watch of one partition, its
 * leader: events reach a leader's stream first (a follower applies a
 * write once it hears it was committed, with the next append). */
static void client_watch_locate(struct tkv_watch *w)
{
        struct tkv_result r;
        uint32_t want = w->hint_node, p;

        if (w->hint_addr[0] != '\0' ||
            (w->has_opts && w->opts.route != TKV_ROUTE_LEADER && w->hint_node == 0)) {
                return;
        }
        if (tkv_cluster_info(w->c, &r) != TKV_OK || r.cluster == NULL) {
                tkv_result_release(&r);
                return;
        }
        if (want == 0 && client_watch_one_partition(w, r.cluster->partition_count, &p)) {
                for (unsigned i = 0; i < r.cluster->n_partitions; i++) {
                        if (r.cluster->partitions[i].partition == p) {
                                want = r.cluster->partitions[i].leader_id;
                        }
                }
        }
        for (unsigned i = 0; want != 0 && i < r.cluster->n_nodes; i++) {
                if (r.cluster->nodes[i].node_id == want) {
                        w->hint_node = want;
                        snprintf(w->hint_addr, sizeof(w->hint_addr), "%s",
                                 r.cluster->nodes[i].client_addr);
                }
        }
        tkv_result_release(&r);
}

/* Try the node hinted, once: by its address when known, else by the map.
 * TKV_CONNECT_FAILED when there is none. */
static int client_watch_try_hint(struct tkv_watch *w)
{
        struct client_endpoint e;
        struct client_peer *p;
        char err[128];

        if (w->hint_addr[0] == '\0') {
                client_watch_locate(w);
        }
        p = w->hint_node != 0 ? client_peer_for_node(w->c, w->hint_node) : NULL;
        w->hint_node = 0;
        if (w->hint_addr[0] != '\0' &&
            client_endpoint_parse(w->hint_addr, strlen(w->hint_addr), &e, err, sizeof(err)) == 0) {
                w->hint_addr[0] = '\0';
                return client_watch_try(w, &e);
        }
        return p != NULL ? client_watch_try(w, &p->addr) : TKV_CONNECT_FAILED;
}

/* Is endpoint k the one whose stream was just lost? */
static bool client_watch_is_lost(const struct tkv_watch *w, unsigned k)
{
        return w->lost_addr[0] != '\0' && strcmp(w->c->peers[k]->addr.name, w->lost_addr) == 0;
}

/* (Re)start the stream: a node hinted first (a NOT_LEADER's leader, at
 * most as many hints as endpoints since leadership may move while it
 * looks; at the first start also opts->node_id or the leader of the one
 * partition watched), then each endpoint once from the one that served it
 * last, the one whose stream was just lost at the end. */
static int client_watch_start(struct tkv_watch *w)
{
        struct tkv_client *c = w->c;
        unsigned i = 0, hints = 0, n = 2 * c->n_peers; /* two passes: others, then the lost */
        int rv = TKV_CONNECT_FAILED;

        if (w->hint_node == 0 && w->info.resumes == 0) {
                client_watch_locate(w); /* a leader to prefer, perhaps */
        }
        while (i < n || ((w->hint_node != 0 || w->hint_addr[0] != '\0') && hints <= c->n_peers)) {
                if ((w->hint_node != 0 || w->hint_addr[0] != '\0') && hints <= c->n_peers) {
                        hints++;
                        rv = client_watch_try_hint(w);
                } else {
                        unsigned k = (w->next_endpoint + i % c->n_peers) % c->n_peers;
                        bool second = i++ >= c->n_peers;
                        w->hint_node = 0;
                        w->hint_addr[0] = '\0';
                        if (client_watch_is_lost(w, k) != second) {
                                continue;
                        }
                        rv = client_watch_try(w, &c->peers[k]->addr);
                        if (rv == TKV_OK) {
                                w->next_endpoint = k; /* stay here while it works */
                        }
                }
                if (rv == TKV_OK || !client_watch_retryable(rv)) {
                        w->lost_addr[0] = '\0';
                        return rv;
                }
        }
        return rv;
}

int tkv_watch_open(struct tkv_client *c, const struct tkv_watch_spec *spec,
                   const struct tkv_read_options *opts, struct tkv_watch **out, char *errbuf,
                   size_t errbuf_len)
{
        struct tkv_watch *w;
        int rv;

        *out = NULL;
        if (c == NULL || spec == NULL || (spec->key_len > 0 && spec->key == NULL) ||
            (spec->n_start > 0 && spec->start == NULL) || spec->key_len > CODEC_KEY_BYTES_MAX) {
                return TKV_USAGE_ERROR;
        }
        w = tkv_calloc(1, sizeof(*w));
        if (w == NULL || (w->key = tkv_malloc(spec->key_len + 1)) == NULL ||
            (w->pos = tkv_calloc(spec->n_start + 1, sizeof(*w->pos))) == NULL ||
            (w->done = tkv_calloc(spec->n_start + 1, sizeof(*w->done))) == NULL) {
                tkv_watch_close(w);
                return TKV_NO_MEMORY;
        }
        w->c = c;
        link_init(&w->p.link);
        if (spec->key_len > 0) {
                memcpy(w->key, spec->key, spec->key_len);
        }
        w->key_len = spec->key_len;
        w->prefix = spec->prefix;
        w->keys_only = spec->keys_only;
        w->silence_ms = spec->silence_ms > 0 ? spec->silence_ms : CLIENT_WATCH_SILENCE_MS;
        if (opts != NULL) {
                w->opts = *opts;
                w->has_opts = true;
                w->hint_node = opts->node_id;
        }
        for (size_t i = 0; i < spec->n_start; i++) {
                w->pos[i] = spec->start[i];
                w->done[i] = spec->start[i].after_index;
        }
        w->n_pos = spec->n_start;
        w->info.staleness_ms = -1;
        rv = client_watch_start(w);
        if (rv != TKV_OK) {
                if (errbuf != NULL && errbuf_len > 0) {
                        snprintf(errbuf, errbuf_len, "%s", w->errmsg);
                }
                tkv_watch_close(w);
                return rv;
        }
        *out = w;
        return TKV_OK;
}

/* ------------------------------------------------------------------------ */
/* The stream */

static void client_watch_drop_frame(struct tkv_watch *w)
{
        if (w->resp != NULL) {
                tunekv__v1__response__free_unpacked(w->resp, &w->pb.base);
                w->resp = NULL;
        }
        w->next_event = 0;
}

/* The stream on p is over (it may resume). */
static void client_watch_lose(struct tkv_watch *w, const char *why)
{
        if (w->open) {
                snprintf(w->errmsg, sizeof(w->errmsg), "%.100s: %.140s", w->p.addr.name, why);
                snprintf(w->lost_addr, sizeof(w->lost_addr), "%s", w->p.addr.name);
                link_close(&w->p.link);
                w->open = false;
                w->info.resumes++;
        }
}

/* Take in one frame of the stream. */
static void client_watch_take(struct tkv_watch *w, const uint8_t *body, size_t len)
{
        Tunekv__V1__Response *resp;
        const Tunekv__V1__WatchResponse *wr;
        int rv;

        resp = codec_unpack_oneshot(&w->pb, body, len, &rv, w->errmsg, sizeof(w->errmsg));
        if (resp == NULL) {
                client_watch_lose(w, "undecodable frame");
                return;
        }
        if (resp->id != w->id || resp->body_case != TUNEKV__V1__RESPONSE__BODY_WATCH) {
                tunekv__v1__response__free_unpacked(resp, &w->pb.base); /* WATCH_CANCEL's */
                return;
        }
        wr = resp->watch;
        if (rv != TKV_OK || wr->canceled) {
                char why[200];
                snprintf(why, sizeof(why), "%s", resp->message != NULL ? resp->message : "");
                if (rv == TKV_COMPACTED) {
                        w->info.compacted_partition = wr->compacted_partition;
                        w->info.compacted_index = wr->compacted_index;
                }
                if (rv == TKV_NOT_LEADER && resp->leader_hint != NULL) {
                        client_watch_hint(w, resp->leader_hint);
                }
                tunekv__v1__response__free_unpacked(resp, &w->pb.base);
                client_watch_lose(w, why[0] != '\0' ? why : "the stream ended");
                if (!client_watch_retryable(rv) && rv != TKV_OK) {
                        w->ended = rv;
                }
                return;
        }
        w->info.staleness_ms = wr->n_progress > 0 ? -1 : w->info.staleness_ms;
        for (size_t i = 0; i < wr->n_progress; i++) {
                const Tunekv__V1__WatchProgress *pr = wr->progress[i];
                /* Taken with nothing buffered: handed out as far. */
                client_watch_advance(w, pr->partition, pr->index, true);
                if (pr->staleness_ms > w->info.staleness_ms) {
                        w->info.staleness_ms = pr->staleness_ms;
                }
        }
        for (size_t i = 0; i < wr->n_events; i++) {
                client_watch_advance(w, wr->events[i]->partition, wr->events[i]->index, false);
        }
        if (wr->n_events == 0) {
                tunekv__v1__response__free_unpacked(resp, &w->pb.base);
                return;
        }
        w->resp = resp;
        w->next_event = 0;
}

static void client_watch_fill(const struct tkv_watch *w, const Tunekv__V1__WatchEvent *e,
                              struct tkv_watch_event *ev)
{
        memset(ev, 0, sizeof(*ev));
        ev->type =
            e->type == TUNEKV__V1__EVENT_TYPE__EVENT_DELETE ? TKV_EVENT_DELETE : TKV_EVENT_PUT;
        ev->key = e->key.data;
        ev->key_len = e->key.len;
        if (ev->type == TKV_EVENT_PUT && e->value.len > 0) {
                ev->value = e->value.data;
                ev->value_len = e->value.len;
        } else if (ev->type == TKV_EVENT_PUT && !w->keys_only) {
                ev->value = ""; /* an empty value, not none */
        }
        ev->partition = e->partition;
        ev->index = e->index;
        ev->create_index = e->create_index;
        ev->timestamp = e->timestamp;
}

/* The next buffered event into ev; once the last one of its log entry is
 * out, the caller has that whole index. */
static void client_watch_hand_out(struct tkv_watch *w, struct tkv_watch_event *ev)
{
        const Tunekv__V1__WatchResponse *wr = w->resp->watch;
        const Tunekv__V1__WatchEvent *e = wr->events[w->next_event++];
        bool more = false;

        client_watch_fill(w, e, ev);
        for (size_t i = w->next_event; i < wr->n_events && !more; i++) {
                more = wr->events[i]->partition == e->partition && wr->events[i]->index == e->index;
        }
        if (!more) {
                client_watch_advance(w, e->partition, e->index, true);
        }
}

static void client_watch_sleep(unsigned ms)
{
        struct timespec ts = {0, (long)ms * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
}

/* Wait for the next frame of the open stream until deadline_ms; a silent
 * node counts as lost. TKV_OK (a frame taken, or the stream lost), or
 * TKV_TIMEOUT. */
static int client_watch_read(struct tkv_watch *w, int64_t deadline_ms)
{
        int64_t silent_ms = w->heard_ms + (int64_t)w->silence_ms;
        int64_t until = deadline_ms < silent_ms ? deadline_ms : silent_ms;
        const uint8_t *body;
        size_t len;
        int rv = client_link_frame_by(&w->p, until, &body, &len);

        if (rv == TKV_OK) {
                w->heard_ms = client_now_ms();
                client_watch_take(w, body, len);
                if (w->open) {
                        link_frame_done(&w->p.link, len);
                }
                return TKV_OK;
        }
        if (rv == TKV_TIMEOUT && until == deadline_ms && deadline_ms < silent_ms) {
                return TKV_TIMEOUT;
        }
        client_watch_lose(w, rv == TKV_TIMEOUT ? "no frame for silence_ms: taken as gone"
                                               : "connection lost");
        return TKV_OK;
}

int tkv_watch_next(struct tkv_watch *w, struct tkv_watch_event *ev, int timeout_ms)
{
        int64_t deadline_ms = timeout_ms < 0 ? INT64_MAX : client_now_ms() + timeout_ms;
        int rv;

        if (w == NULL || ev == NULL) {
                return TKV_USAGE_ERROR;
        }
        for (;;) {
                if (w->resp != NULL && w->next_event < w->resp->watch->n_events) {
                        client_watch_hand_out(w, ev);
                        return TKV_OK;
                }
                client_watch_drop_frame(w);
                if (w->ended != TKV_OK) {
                        return w->ended;
                }
                if (!w->open) {
                        rv = client_watch_start(w);
                        if (rv != TKV_OK) {
                                if (!client_watch_retryable(rv)) {
                                        w->ended = rv;
                                }
                                client_watch_sleep(CLIENT_WATCH_BACKOFF_MS);
                                return rv;
                        }
                        continue;
                }
                /* At least one look at the socket, also with timeout 0. */
                rv = client_watch_read(w, deadline_ms);
                if (rv != TKV_OK) {
                        return rv;
                }
        }
}

size_t tkv_watch_positions(const struct tkv_watch *w, struct tkv_watch_position *out, size_t n)
{
        if (w == NULL) {
                return 0;
        }
        for (size_t i = 0; out != NULL && i < n && i < w->n_pos; i++) {
                out[i].partition = w->pos[i].partition;
                out[i].after_index = w->done[i];
        }
        return w->n_pos;
}

void tkv_watch_get_info(const struct tkv_watch *w, struct tkv_watch_info *info)
{
        if (w != NULL && info != NULL) {
                *info = w->info;
        }
}

const char *tkv_watch_errmsg(const struct tkv_watch *w)
{
        return w != NULL ? w->errmsg : "";
}

void tkv_watch_close(struct tkv_watch *w)
{
        if (w == NULL) {
                return;
        }
        if (w->open) {
                Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
                Tunekv__V1__WatchCancelRequest wc = TUNEKV__V1__WATCH_CANCEL_REQUEST__INIT;
                struct buffer frame;
                buffer_init(&frame);
                msg.id = w->id + 1;
                msg.body_case = TUNEKV__V1__REQUEST__BODY_WATCH_CANCEL;
                msg.watch_cancel = &wc;
                wc.watch_id = w->id;
                /* Best effort: the close that follows ends the stream anyway. */
                if (codec_frame_request(&frame, &msg) == TKV_OK &&
                    link_queue(&w->p.link, buffer_data(&frame), buffer_len(&frame)) == 0) {
                        (void)link_flush(&w->p.link);
                }
                buffer_free(&frame);
        }
        link_close(&w->p.link);
        client_watch_drop_frame(w);
        tkv_free(w->pos);
        tkv_free(w->done);
        tkv_free(w->key);
        tkv_free(w);
}
