#include "identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buffer.h"
#include "heap.h"
#include "log.h"
#include "peerauth.h"
#include "tls.h"

#define IDENTITY_MARKER "tunekv.node"
#define IDENTITY_PEERS  "peers"

/* Write text to dir/name atomically and durably: temporary file, fsync,
 * rename, fsync of the directory. */
static int identity_write_file(const char *dir, const char *name, const char *text)
{
        char tmp[CONFIG_PATH_BYTES + 64], path[CONFIG_PATH_BYTES + 64];
        size_t len = strlen(text);
        int fd, dfd, rv = 0;

        snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
                return TKV_EIO;
        }
        if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
                rv = TKV_EIO;
        }
        close(fd);
        if (rv == 0 && rename(tmp, path) != 0) {
                rv = TKV_EIO;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        return rv;
}

/* Value of "key=" in a marker's text, copied into out (len bytes). */
static bool identity_field(const char *text, const char *key, char *out, size_t len)
{
        size_t klen = strlen(key);
        for (const char *p = text; p != NULL && *p != '\0';
             p = strchr(p, '\n'), p = p ? p + 1 : p) {
                if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        const char *v = p + klen + 1;
                        size_t n = strcspn(v, "\n");
                        if (n >= len) {
                                return false;
                        }
                        memcpy(out, v, n);
                        out[n] = '\0';
                        return true;
                }
        }
        return false;
}

static int identity_read_marker(struct identity *id, const struct config *cfg, const char *text,
                                char *errmsg)
{
        char cluster[CONFIG_ADDR_BYTES], node[16], parts[16], inc[32];

        if (!identity_field(text, "cluster", cluster, sizeof cluster) ||
            !identity_field(text, "node_id", node, sizeof node) ||
            !identity_field(text, "partitions", parts, sizeof parts) ||
            !identity_field(text, "incarnation", inc, sizeof inc)) {
                err_msgf(errmsg, "data dir %s: %s is damaged", cfg->data_dir, IDENTITY_MARKER);
                return TKV_EINVAL;
        }
        if (strcmp(cluster, cfg->cluster_name) != 0 || (unsigned)atoi(node) != cfg->node_id) {
                err_msgf(errmsg,
                         "data dir %s belongs to node %s of cluster \"%s\", not node %u of "
                         "\"%s\"",
                         cfg->data_dir, node, cluster, cfg->node_id, cfg->cluster_name);
                return TKV_EINVAL;
        }
        if ((unsigned)atoi(parts) != cfg->partitions) {
                err_msgf(errmsg,
                         "data dir %s was created with cluster.partitions = %s; the "
                         "configuration says %u (keys would hash to other partitions)",
                         cfg->data_dir, parts, cfg->partitions);
                return TKV_EINVAL;
        }
        id->incarnation = strtoull(inc, NULL, 16);
        return id->incarnation != 0 ? 0 : TKV_EINVAL;
}

static void identity_read_peers(struct identity *id)
{
        char path[CONFIG_PATH_BYTES + 16];
        unsigned node;
        uint64_t inc;
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", id->dir, IDENTITY_PEERS);
        f = fopen(path, "r");
        if (f == NULL) {
                return;
        }
        while (id->n_peers < IDENTITY_PEERS_MAX &&
               fscanf(f, "%u %" SCNx64 "\n", &node, &inc) == 2) {
                id->peer_ids[id->n_peers] = node;
                id->peer_incarnations[id->n_peers++] = inc;
        }
        fclose(f);
}

int identity_load(struct identity *id, const struct config *cfg, char *errmsg)
{
        char path[CONFIG_PATH_BYTES + 32], text[512];
        FILE *f;
        size_t n;
        int rv;

        memset(id, 0, sizeof *id);
        snprintf(id->dir, sizeof id->dir, "%s", cfg->data_dir);
        snprintf(path, sizeof path, "%s/%s", cfg->data_dir, IDENTITY_MARKER);
        f = fopen(path, "r");
        if (f != NULL) {
                n = fread(text, 1, sizeof text - 1, f);
                fclose(f);
                text[n] = '\0';
                rv = identity_read_marker(id, cfg, text, errmsg);
                if (rv == 0) {
                        identity_read_peers(id);
                }
                return rv;
        }
        while (id->incarnation == 0) {
                uv_random(NULL, NULL, &id->incarnation, sizeof id->incarnation, 0, NULL);
        }
        id->fresh = true;
        return 0;
}

int identity_commit(const struct identity *id, const struct config *cfg, char *errmsg)
{
        char text[512];
        snprintf(text, sizeof text,
                 "cluster=%s\nnode_id=%u\npartitions=%u\nincarnation=%016" PRIx64 "\n",
                 cfg->cluster_name, cfg->node_id, cfg->partitions, id->incarnation);
        if (identity_write_file(cfg->data_dir, IDENTITY_MARKER, text) != 0) {
                err_msgf(errmsg, "data dir %s: cannot write %s: %s", cfg->data_dir, IDENTITY_MARKER,
                         strerror(errno));
                return TKV_EIO;
        }
        return 0;
}

uint64_t identity_known(const struct identity *id, unsigned node_id)
{
        for (unsigned i = 0; i < id->n_peers; i++) {
                if (id->peer_ids[i] == node_id) {
                        return id->peer_incarnations[i];
                }
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Saving the peer table off the loop */

struct identity_save {
        uv_work_t work;
        struct identity *id;
        char text[IDENTITY_PEERS_MAX * 40 + 1];
        int rv;
};

static void identity_save_work(uv_work_t *w)
{
        struct identity_save *s = w->data;
        s->rv = identity_write_file(s->id->dir, IDENTITY_PEERS, s->text);
}

static void identity_save(struct identity *id);

static void identity_save_done(uv_work_t *w, int status)
{
        struct identity_save *s = w->data;
        struct identity *id = s->id;
        if (status != 0 || s->rv != 0) {
                LOGE(-1, "identity: cannot write %s/%s", id->dir, IDENTITY_PEERS);
        }
        tkv_free(s);
        id->saving = false;
        if (id->save_again) {
                id->save_again = false;
                identity_save(id);
        }
}

static void identity_save(struct identity *id)
{
        struct identity_save *s;
        size_t off = 0;

        if (id->saving) {
                id->save_again = true;
                return;
        }
        s = tkv_calloc(1, sizeof *s);
        if (s == NULL) {
                return; /* recorded in memory; saved with the next change */
        }
        for (unsigned i = 0; i < id->n_peers; i++) {
                off += (size_t)snprintf(s->text + off, sizeof s->text - off, "%u %016" PRIx64 "\n",
                                        id->peer_ids[i], id->peer_incarnations[i]);
        }
        s->id = id;
        s->work.data = s;
        id->saving = true;
        if (uv_queue_work(id->loop, &s->work, identity_save_work, identity_save_done) != 0) {
                id->saving = false;
                tkv_free(s);
        }
}

bool identity_admit(struct identity *id, unsigned node_id, uint64_t incarnation)
{
        uint64_t known = identity_known(id, node_id);

        if (known == incarnation) {
                return true;
        }
        if (known != 0) {
                return false;
        }
        if (id->n_peers == IDENTITY_PEERS_MAX) {
                return false;
        }
        id->peer_ids[id->n_peers] = node_id;
        id->peer_incarnations[id->n_peers++] = incarnation;
        LOGI(-1, "identity: first contact with node %u (incarnation %016" PRIx64 ")", node_id,
             incarnation);
        if (id->loop != NULL) {
                identity_save(id);
        }
        return true;
}

/* ------------------------------------------------------------------------ */
/* Probing peers (blocking, before the loop runs) */

/* Connect with a deadline; -1 on failure. */
static int identity_connect(const char *addr, unsigned timeout_ms)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        struct sockaddr_in sa;
        struct pollfd p;
        int fd, err = 0;
        socklen_t len = sizeof err;

        if (config_split_addr(addr, host, &port) != 0) {
                return -1;
        }
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                return -1;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
                close(fd);
                return -1;
        }
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, (int)timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* One connection of the probe: its socket, and its TLS session when the
 * peer port speaks TLS (NULL: plaintext). */
struct identity_link {
        int fd;
        struct tls *tls;
        unsigned timeout_ms; /* per wait */
};

/* Wait for events on l's socket within the timeout. */
static bool identity_wait(const struct identity_link *l, short events)
{
        struct pollfd p = {.fd = l->fd, .events = events};
        return poll(&p, 1, (int)l->timeout_ms) == 1;
}

/* Send what TLS queued. */
static bool identity_flush(struct identity_link *l)
{
        struct buffer *b = &l->tls->out;
        while (buffer_len(b) > 0) {
                ssize_t n = send(l->fd, buffer_data(b), buffer_len(b), MSG_NOSIGNAL);
                if (n > 0) {
                        buffer_consume(b, (size_t)n);
                } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        if (!identity_wait(l, POLLOUT)) {
                                return false;
                        }
                } else {
                        return false;
                }
        }
        return true;
}

/* Receive what the socket has into TLS's input; false at EOF or timeout. */
static bool identity_fill(struct identity_link *l)
{
        ssize_t n;
        if (!identity_wait(l, POLLIN) || buffer_reserve(&l->tls->in, 16384) != 0) {
                return false;
        }
        n = recv(l->fd, l->tls->in.base + l->tls->in.end, l->tls->in.cap - l->tls->in.end, 0);
        if (n <= 0) {
                return false;
        }
        l->tls->in.end += (size_t)n;
        return true;
}

/* The client side of the TLS handshake, checking the peer's certificate
 * for host. */
static bool identity_tls_start(struct identity_link *l, struct tls_ctx *ctx, const char *host,
                               unsigned node_id)
{
        int rv = tls_init(l->tls, ctx, host);
        while (rv == 0 || rv == TKV_EAGAIN) {
                if (!identity_flush(l)) {
                        return false;
                }
                if (l->tls->established) {
                        return true;
                }
                if (!identity_fill(l)) {
                        LOGW(-1, "identity: node %u: no TLS handshake (is its peer port TLS?)",
                             node_id);
                        return false;
                }
                rv = tls_handshake(l->tls);
        }
        (void)identity_flush(l);
        LOGW(-1, "identity: node %u: %s", node_id, l->tls->errmsg);
        return false;
}

/* Read exactly len bytes within timeout_ms per wait; false otherwise. */
static bool identity_recv(struct identity_link *l, uint8_t *out, size_t len)
{
        size_t got = 0;
        while (got < len && l->tls == NULL && identity_wait(l, POLLIN)) {
                ssize_t n = recv(l->fd, out + got, len - got, 0);
                if (n <= 0) {
                        break;
                }
                got += (size_t)n;
        }
        while (got < len && l->tls != NULL) {
                size_t n;
                int rv = tls_read(l->tls, out + got, len - got, &n);
                if (rv == 0) {
                        got += n;
                } else if (rv != TKV_EAGAIN || !identity_flush(l) || !identity_fill(l)) {
                        break;
                }
        }
        return got == len;
}

static bool identity_send(struct identity_link *l, const uint8_t *in, size_t len)
{
        if (l->tls != NULL) {
                return tls_write(l->tls, in, len) == 0 && identity_flush(l);
        }
        return send(l->fd, in, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* The client side of the peer handshake over an open link, towards node
 * to (0: whichever member listens there, a join's question): HELLO,
 * CHALLENGE checked, PROOF sent. 0, TKV_ECONN (closed or silent: not
 * answered, e.g. refused as no member) or TKV_EAUTH (the other side does
 * not hold the secret). */
static int identity_handshake(const struct identity_probe *q, struct identity_link *l, unsigned to,
                              struct peerauth *a)
{
        const struct config *cfg = q->cfg;
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        uint8_t proof[PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        size_t proof_len;

        if (peerauth_hello(a, q->ring, q->cluster_id, q->group, cfg->node_id, to) != 0 ||
            !identity_send(l, a->hello, sizeof a->hello) ||
            !identity_recv(l, challenge, sizeof challenge)) {
                return TKV_ECONN;
        }
        if (peerauth_prove(a, challenge, q->incarnation, q->layout, cfg->peer_addr, proof,
                           &proof_len) != 0) {
                return TKV_EAUTH;
        }
        return identity_send(l, proof, proof_len) ? 0 : TKV_ECONN;
}

/* The handshake of the probe over an open link. */
static uint64_t identity_exchange(const struct identity_probe *q, struct identity_link *l,
                                  const struct config_node *node)
{
        struct peerauth a;
        uint8_t answer[PEERAUTH_KNOWN_BYTES];
        uint64_t known = UINT64_MAX;
        int rv = identity_handshake(q, l, node->id, &a);

        if (rv == TKV_EAUTH) {
                LOGW(-1, "identity: node %u does not hold the cluster secret", node->id);
        } else if (rv == 0 && identity_recv(l, answer, sizeof answer) &&
                   peerauth_open_known(&a, answer, &known) != 0) {
                known = UINT64_MAX;
        }
        return known;
}

/* One request frame out, one answer frame (at most max_bytes) back. */
static int identity_ask_frame(struct identity_link *l, const uint8_t *req, size_t req_len,
                              size_t max_bytes, uint8_t **out, size_t *out_len)
{
        uint8_t head[4];
        uint32_t n;

        if (!identity_send(l, req, req_len) || !identity_recv(l, head, sizeof head)) {
                return TKV_ECONN;
        }
        n = get_be32(head);
        if (n > max_bytes) {
                return TKV_ETOOBIG;
        }
        *out = tkv_malloc(n > 0 ? n : 1);
        if (*out == NULL) {
                return TKV_ENOMEM;
        }
        if (!identity_recv(l, *out, n)) {
                tkv_free(*out);
                *out = NULL;
                return TKV_ECONN;
        }
        *out_len = n;
        return 0;
}

int identity_request(const struct identity_probe *q, const char *addr, const uint8_t *req,
                     size_t req_len, size_t max_bytes, uint8_t **out, size_t *out_len)
{
        struct identity_link l = {.timeout_ms = q->cfg->connect_timeout_ms};
        struct peerauth a;
        struct tls tls;
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        int rv = TKV_ECONN;

        *out = NULL;
        *out_len = 0;
        if (config_split_addr(addr, host, &port) != 0) {
                return TKV_ECONN;
        }
        l.fd = identity_connect(addr, l.timeout_ms);
        if (l.fd < 0) {
                return TKV_ECONN;
        }
        memset(&tls, 0, sizeof tls);
        if (q->tls != NULL) {
                l.tls = &tls;
        }
        if (l.tls == NULL || identity_tls_start(&l, q->tls, host, 0)) {
                rv = identity_handshake(q, &l, 0, &a);
                if (rv == 0) {
                        rv = identity_ask_frame(&l, req, req_len, max_bytes, out, out_len);
                }
        }
        if (l.tls != NULL) {
                tls_free(&tls);
        }
        close(l.fd);
        return rv;
}

/* What node (its peer address) remembers of us, asked through the peer
 * handshake (peerauth.h): 0 none, 1..: incarnation, UINT64_MAX: no
 * (authentic) answer. Over TLS when the peer port speaks it (q->tls). */
static uint64_t identity_ask(const struct identity_probe *q, const struct config_node *node)
{
        struct identity_link l = {.timeout_ms = q->cfg->connect_timeout_ms};
        struct tls tls;
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        uint64_t known = UINT64_MAX;

        l.fd = identity_connect(node->peer_addr, q->cfg->connect_timeout_ms);
        if (l.fd < 0 || config_split_addr(node->peer_addr, host, &port) != 0) {
                if (l.fd >= 0) {
                        close(l.fd);
                }
                return UINT64_MAX;
        }
        memset(&tls, 0, sizeof tls);
        if (q->tls != NULL) {
                l.tls = &tls;
        }
        if (l.tls == NULL || identity_tls_start(&l, q->tls, host, node->id)) {
                known = identity_exchange(q, &l, node);
        }
        if (l.tls != NULL) {
                tls_free(&tls);
        }
        close(l.fd);
        return known;
}

int identity_probe(const struct identity_probe *q, char *errmsg)
{
        const struct config *cfg = q->cfg;
        unsigned unreachable = 0; /* the first node that did not answer */
        for (unsigned i = 0; i < cfg->n_nodes; i++) {
                const struct config_node *node = &cfg->nodes[i];
                uint64_t known;
                if (node->id == cfg->node_id) {
                        continue;
                }
                known = identity_ask(q, node);
                if (known != 0 && known != UINT64_MAX) {
                        err_msgf(errmsg,
                                 "data dir %s is empty, but node %u knows node %u with Raft "
                                 "state (incarnation %016" PRIx64 "): this node lost its "
                                 "data. Restore the directory; a replacement needs a "
                                 "membership change",
                                 cfg->data_dir, node->id, cfg->node_id, known);
                        return TKV_EEXIST;
                }
                if (known == UINT64_MAX && unreachable == 0) {
                        unreachable = node->id;
                }
        }
        /* A peer that did not answer may be the one that knows us: only the
         * first start of a new cluster may go on without its word. */
        if (unreachable != 0 && !cfg->bootstrap) {
                err_msgf(errmsg,
                         "data dir %s is empty and node %u did not answer: it may know this "
                         "node, which would then have lost its data. Start it when its peers "
                         "are up, or pass --bootstrap 1 on the first start of a new cluster",
                         cfg->data_dir, unreachable);
                return TKV_EAGAIN;
        }
        return 0;
}
