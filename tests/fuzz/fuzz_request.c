/* libFuzzer target for what a node does with the bytes of its client port,
 * up to the point where a request meets the cluster (routing, Raft):
 *
 *   frame_parse (frame.c) -> Request unpack (protobuf-c, the daemon's
 *   allocator) -> admission (rpc_admit's checks: method, client port only,
 *   timeout, key) -> per method: read options (rpc_read_check_options),
 *   write options and value limit (rpc_kv_write's checks), the session
 *   token (session_parse, session_required / session_verify_all,
 *   session_reduce_deps, session_deps_encode) -> the replicated command
 *   (command_encode with LZ4 as rpc_kv_maybe_compress does, then
 *   command_decode, as every replica's FSM will).
 *
 * rpc_admit and the handlers take a live struct node and conn (libuv,
 * raft), so their checks are replayed here in the same order from the same
 * config defaults; the pure functions they call are the real ones. Not
 * covered: routing, forwarding and the answers (tests/integration).
 *
 * Oracles (abort on a violation):
 * - A frame never claims more bytes than arrived or than frame_bytes_max.
 * - Forwarding appends id, timeout and no_forward to a request's bytes
 *   (rpc_forward.c): the result decodes with those values and the same body.
 * - Parsed tokens hold at most their capacity of entries, of known kinds;
 *   write dependencies fit the buffer the server sizes for them and parse
 *   back to the same entries.
 * - The command a write proposes decodes to the same fields, and a
 *   compressed value decompresses to the request's value.
 * - A TXN that passes rpc_txn_check has every key in one partition and
 *   within key_bytes_max, and its COMMAND_TXN decodes to the request's
 *   compares and ops, in order.
 * - A GET_MANY that passes rpc_many_admit has 1..get_many_keys_max keys of
 *   1..key_bytes_max bytes, and the call space rpc_many_call_bytes sizes
 *   (exactly: ASan sees any overrun) holds every key, in order.
 * - A SCAN that passes rpc_scan_admit has a prefix or a range (not both),
 *   an end not before its start, every field within key_bytes_max, and
 *   rpc_scan_call_fill stays within the bytes rpc_scan_call_bytes sizes. */
#include <stdbool.h>
#include <string.h>

#include "command.h"
#include "config.h"
#include "frame.h"
#include "fuzz.h"
#include "heap.h"
#include "keyhash.h"
#include "node.h"
#include "pbwire.h"
#include "rpc_internal.h"
#include "session.h"
#include "store.h"
#include "value.h"

#define FUZZ_PARTITIONS 8

/* What the server keeps for its requests (server.c), set up once. */
struct fuzz_node {
        struct config cfg;
        struct session_keys keys;
        unsigned token_cap;
        struct session_entry *ents;
        struct session_entry *back; /* dependencies parsed back */
        uint8_t *deps;              /* s->token_bytes */
        size_t deps_cap;
        uint8_t *scratch; /* s->scratch: compressed values */
        uint8_t *raw;     /* decompression target */
};

static struct fuzz_node *fuzz_node(void)
{
        static struct fuzz_node n;
        static bool ready;

        if (!ready) {
                config_defaults(&n.cfg);
                FUZZ_ASSERT(session_keys_init(&n.keys, "fuzz secret", "fuzz") == 0);
                n.token_cap = (unsigned)((n.cfg.token_bytes_max - SESSION_HEADER_BYTES) /
                                         SESSION_ENTRY_BYTES);
                n.ents = calloc(n.token_cap, sizeof *n.ents);
                n.back = calloc(n.token_cap, sizeof *n.back);
                n.deps_cap = session_encoded_bytes(n.token_cap) +
                             (size_t)n.token_cap * SESSION_DEPS_ENTRY_MAX;
                n.deps = malloc(n.deps_cap);
                n.scratch = malloc(n.cfg.value_bytes_max);
                n.raw = malloc(n.cfg.value_bytes_max);
                FUZZ_ASSERT(n.ents && n.back && n.deps && n.scratch && n.raw);
                ready = true;
        }
        return &n;
}

/* Parse a token as the daemon does; returns its entry count or -1. */
static int fuzz_token(struct fuzz_node *n, const ProtobufCBinaryData *tok)
{
        unsigned k = 0;
        int rv =
            session_parse(tok->data, tok->len, n->cfg.token_bytes_max, n->ents, n->token_cap, &k);

        if (rv != 0) {
                FUZZ_ASSERT(rv != TKV_ETOOBIG || tok->len > n->cfg.token_bytes_max);
                return -1;
        }
        FUZZ_ASSERT(k <= n->token_cap);
        for (unsigned i = 0; i < k; i++) {
                FUZZ_ASSERT(
                    n->ents[i].kind == SESSION_W || n->ents[i].kind == SESSION_R ||
                    (n->ents[i].kind == SESSION_T && n->ents[i].partition == SESSION_T_PARTITION));
        }
        return (int)k;
}

static void fuzz_read(struct fuzz_node *n, const Tunekv__V1__GetRequest *get, uint32_t p)
{
        const Tunekv__V1__ReadOptions *o = get->options;
        char why[128];
        uint64_t required;
        int k;

        if (o == NULL || rpc_read_check_options(o, why, sizeof why) != 0 || o->token.len == 0) {
                return;
        }
        k = fuzz_token(n, &o->token);
        if (k >= 0) {
                (void)session_required(&n->keys, n->ents, (unsigned)k, p, ~0u, &required);
        }
}

/* rpc_kv_write_deps: returns false when the write is refused. */
static bool fuzz_deps(struct fuzz_node *n, const Tunekv__V1__WriteOptions *o, uint32_t p,
                      struct command *cmd)
{
        struct session_entry *back = n->back;
        unsigned k, m = 0;
        int parsed;

        if (o == NULL || o->token.len == 0) {
                return true;
        }
        parsed = fuzz_token(n, &o->token);
        if (parsed < 0 || session_verify_all(&n->keys, n->ents, (unsigned)parsed) != 0) {
                return false;
        }
        k = session_reduce_deps(n->ents, (unsigned)parsed, p);
        FUZZ_ASSERT(k <= (unsigned)parsed);
        for (unsigned i = 0; i < k; i++) {
                FUZZ_ASSERT(n->ents[i].kind != SESSION_T); /* never stored as a dependency */
        }
        if (k > 0) {
                size_t len = session_deps_encoded_bytes(n->ents, k);
                FUZZ_ASSERT(len <= n->deps_cap && len <= UINT16_MAX);
                session_deps_encode(n->ents, k, n->deps);
                cmd->deps = n->deps;
                cmd->deps_len = (uint32_t)len;
                FUZZ_ASSERT(session_deps_parse(n->deps, len, back, n->token_cap, &m) == 0);
                FUZZ_ASSERT(m == k);
                for (unsigned i = 0; i < k; i++) {
                        FUZZ_ASSERT(back[i].partition == n->ents[i].partition &&
                                    back[i].kind == n->ents[i].kind &&
                                    back[i].index == n->ents[i].index &&
                                    memcmp(back[i].mac, n->ents[i].mac, SESSION_MAC_BYTES) == 0);
                }
        }
        return true;
}

/* Encode cmd as the proposer does, decode it as the FSM does. */
static void fuzz_propose(struct fuzz_node *n, struct command *cmd)
{
        const uint8_t *raw = cmd->value;
        uint32_t raw_len = cmd->value_len;
        size_t out_len, len;
        struct command d;
        uint8_t *buf;

        if (n->cfg.compress_min_bytes > 0 && cmd->value_len >= n->cfg.compress_min_bytes &&
            value_compress(cmd->value, cmd->value_len, n->scratch, n->cfg.value_bytes_max,
                           &out_len) == 0) {
                cmd->flags |= COMMAND_F_LZ4;
                cmd->value = n->scratch;
                cmd->value_len = (uint32_t)out_len;
        }
        len = command_encoded_bytes(cmd);
        buf = calloc(1, len);
        FUZZ_ASSERT(buf != NULL && len % 8 == 0);
        command_encode(cmd, buf);
        FUZZ_ASSERT(command_decode(buf, len, &d) == 0);
        FUZZ_ASSERT(d.type == cmd->type && d.flags == cmd->flags && d.key_len == cmd->key_len &&
                    memcmp(d.key, cmd->key, d.key_len) == 0 && d.value_len == cmd->value_len &&
                    d.value_raw_len == raw_len && d.deps_len == cmd->deps_len &&
                    d.client_id == cmd->client_id && d.seq == cmd->seq &&
                    d.payload_hash == cmd->payload_hash &&
                    d.expected_version == cmd->expected_version);
        FUZZ_ASSERT(d.deps_len == 0 || memcmp(d.deps, cmd->deps, d.deps_len) == 0);
        if (d.flags & COMMAND_F_LZ4) {
                FUZZ_ASSERT(value_decompress(d.value, d.value_len, n->raw, d.value_raw_len) == 0);
                FUZZ_ASSERT(memcmp(n->raw, raw, raw_len) == 0);
        } else if (d.value_len > 0) {
                FUZZ_ASSERT(memcmp(d.value, raw, raw_len) == 0);
        }
        free(buf);
}

/* rpc_kv_write's checks, then the proposal. */
static void fuzz_write(struct fuzz_node *n, uint8_t type, const ProtobufCBinaryData *key,
                       const ProtobufCBinaryData *value, uint64_t expected,
                       const Tunekv__V1__WriteOptions *o, uint32_t p)
{
        struct command cmd = {0};

        cmd.type = type;
        cmd.expected_version = expected;
        if (value != NULL) {
                cmd.value = value->data;
                cmd.value_len = (uint32_t)(value->len > UINT32_MAX ? UINT32_MAX : value->len);
        }
        if (o != NULL && ((unsigned)o->ack > TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED ||
                          (o->client_id == 0) != (o->seq == 0))) {
                return;
        }
        if (cmd.value_len > n->cfg.value_bytes_max || !fuzz_deps(n, o, p, &cmd)) {
                return;
        }
        cmd.flags |=
            o != NULL && o->ack == TUNEKV__V1__ACK__ACK_ALL_REPLICAS ? COMMAND_F_ACK_ALL : 0;
        cmd.key = key->data;
        cmd.key_len = (uint32_t)key->len;
        cmd.value_raw_len = cmd.value_len;
        if (o != NULL && o->client_id != 0) {
                cmd.client_id = o->client_id;
                cmd.seq = o->seq;
                cmd.flags |= o->retry ? COMMAND_F_RETRY : 0;
                cmd.payload_hash = command_payload_hash(&cmd);
        }
        fuzz_propose(n, &cmd);
}

/* Key i of t: compares, then success, then failure ops. */
static const ProtobufCBinaryData *fuzz_txn_key(const Tunekv__V1__TxnRequest *t, size_t i)
{
        if (i < t->n_compares) {
                return &t->compares[i]->key;
        }
        i -= t->n_compares;
        return i < t->n_success ? &t->success[i]->key : &t->failure[i - t->n_success]->key;
}

/* The compares and ops of t against the body its command decoded to. */
static void fuzz_txn_same(const Tunekv__V1__TxnRequest *t, const struct command *d)
{
        struct command_txn b;
        struct command_txn_compare x;
        struct command_txn_op o;
        const uint8_t *pos;

        FUZZ_ASSERT(command_txn_open(d->value, d->value_len, &b) == 0);
        FUZZ_ASSERT(b.n_compares == t->n_compares && b.n_success == t->n_success &&
                    b.n_failure == t->n_failure);
        pos = b.compares;
        for (size_t i = 0; i < t->n_compares; i++) {
                command_txn_next_compare(&pos, &x);
                FUZZ_ASSERT(x.key_len == t->compares[i]->key.len &&
                            memcmp(x.key, t->compares[i]->key.data, x.key_len) == 0 &&
                            x.target == t->compares[i]->target + COMMAND_TXN_TARGET_VERSION &&
                            x.op == t->compares[i]->op + COMMAND_TXN_EQ);
        }
        for (size_t i = 0; i < t->n_success + t->n_failure; i++) {
                const ProtobufCBinaryData *k = fuzz_txn_key(t, t->n_compares + i);
                const Tunekv__V1__TxnOp *w =
                    i < t->n_success ? t->success[i] : t->failure[i - t->n_success];
                command_txn_next_op(&pos, &o);
                FUZZ_ASSERT(o.key_len == k->len && memcmp(o.key, k->data, o.key_len) == 0);
                FUZZ_ASSERT(o.lease == w->lease); /* checked: only a put names one */
        }
        FUZZ_ASSERT(pos == b.end);
}

/* rpc_txn's checks, then its proposal (never compressed). */
static void fuzz_txn(struct fuzz_node *n, const Tunekv__V1__TxnRequest *t)
{
        const Tunekv__V1__WriteOptions *o = t->options;
        size_t n_keys = t->n_compares + t->n_success + t->n_failure, body_len, len;
        struct command cmd = {0}, d;
        uint8_t *body = NULL, *buf;
        char why[512];
        uint32_t p = 0;

        if ((o != NULL &&
             (o->ack != TUNEKV__V1__ACK__ACK_COMMITTED || (o->client_id == 0) != (o->seq == 0))) ||
            rpc_txn_check(&n->cfg, FUZZ_PARTITIONS, t, why, sizeof why) != 0) {
                return;
        }
        for (size_t i = 0; i < n_keys; i++) {
                const ProtobufCBinaryData *k = fuzz_txn_key(t, i);
                uint32_t q = (uint32_t)(key_hash_partition(k->data, k->len) % FUZZ_PARTITIONS);
                FUZZ_ASSERT(k->len > 0 && k->len <= n->cfg.key_bytes_max && (i == 0 || q == p));
                p = q;
        }
        if (!fuzz_deps(n, o, p, &cmd) || rpc_txn_encode(t, &body, &body_len) != 0) {
                return;
        }
        cmd.type = COMMAND_TXN;
        cmd.value = body;
        cmd.value_len = cmd.value_raw_len = (uint32_t)body_len;
        len = command_encoded_bytes(&cmd);
        buf = calloc(1, len);
        FUZZ_ASSERT(buf != NULL);
        command_encode(&cmd, buf);
        FUZZ_ASSERT(command_decode(buf, len, &d) == 0 && d.type == COMMAND_TXN);
        fuzz_txn_same(t, &d);
        free(buf);
        tkv_free(body);
}

/* rpc_admit's GET_MANY limits, then the keys into a call's own key space,
 * as rpc_call_new does (layout: rpc_many.c). */
static void fuzz_get_many(struct fuzz_node *n, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__GetManyRequest *m = req->get_many;
        char why[256];
        size_t bytes, at = 0;
        struct call *c;
        uint32_t count, off;

        if (rpc_many_admit(req, &n->cfg, why, sizeof why) != 0) {
                return;
        }
        FUZZ_ASSERT(m->n_keys >= 1 && m->n_keys <= n->cfg.get_many_keys_max);
        bytes = rpc_many_call_bytes(req);
        c = calloc(1, sizeof *c + bytes);
        FUZZ_ASSERT(c != NULL);
        rpc_many_call_fill(c, req);
        memcpy(&count, c->key, sizeof count);
        FUZZ_ASSERT(count == m->n_keys);
        for (size_t i = 0; i < m->n_keys; i++) {
                const uint8_t *keys = c->key + 8 + 12 * m->n_keys + 4;
                FUZZ_ASSERT(m->keys[i].len >= 1 && m->keys[i].len <= n->cfg.key_bytes_max);
                memcpy(&off, c->key + 8 + 8 * m->n_keys + 4 * i, sizeof off);
                FUZZ_ASSERT(off == at && memcmp(keys + off, m->keys[i].data, m->keys[i].len) == 0);
                at += m->keys[i].len;
        }
        memcpy(&off, c->key + 8 + 8 * m->n_keys + 4 * m->n_keys, sizeof off);
        FUZZ_ASSERT(off == at && 8 + 12 * m->n_keys + 4 + at == bytes);
        free(c);
}

/* rpc_admit's SCAN checks, then the request into a call's own key space,
 * as rpc_call_new does (layout: rpc_scan.c), on a node of 7 partitions. */
static void fuzz_scan(struct fuzz_node *n, const Tunekv__V1__Request *req)
{
        static struct node node;
        const Tunekv__V1__ScanRequest *sc = req->scan;
        char why[256];
        size_t bytes;
        struct call *c;

        if (rpc_scan_admit(req, &n->cfg, why, sizeof why) != 0) {
                return;
        }
        FUZZ_ASSERT(sc->prefix.len <= n->cfg.key_bytes_max &&
                    sc->start.len <= n->cfg.key_bytes_max && sc->end.len <= n->cfg.key_bytes_max &&
                    sc->cursor.len <= n->cfg.key_bytes_max);
        FUZZ_ASSERT(sc->prefix.len == 0 || (sc->start.len == 0 && sc->end.len == 0));
        FUZZ_ASSERT(sc->end.len == 0 ||
                    store_key_cmp(sc->end.data, (uint32_t)sc->end.len, sc->start.data,
                                  (uint32_t)sc->start.len) >= 0);
        node.cfg = &n->cfg;
        node.n_partitions = 7;
        bytes = rpc_scan_call_bytes(req, node.n_partitions);
        c = calloc(1, sizeof *c + bytes);
        FUZZ_ASSERT(c != NULL);
        c->node = &node;
        rpc_scan_call_fill(c, req);
        free(c);
}

/* rpc_admit on the client port of a serving node with nothing in flight:
 * returns the request's key (NULL for none) through *key, false if refused. */
static bool fuzz_admit(struct fuzz_node *n, const Tunekv__V1__Request *req,
                       const ProtobufCBinaryData **key)
{
        const struct rpc_method *m = rpc_method_of(req);

        if (m == NULL || m->node_only || req->timeout_ms > n->cfg.request_timeout_max_ms) {
                return false;
        }
        *key = rpc_request_key(req);
        return *key == NULL || ((*key)->len > 0 && (*key)->len <= n->cfg.key_bytes_max);
}

/* rpc_forward.c relays a request by appending its own id, timeout and
 * no_forward to the client's bytes. */
static void fuzz_forwarded(const uint8_t *body, size_t len, const Tunekv__V1__Request *req)
{
        size_t extra = 3 * PBWIRE_VARINT_FIELD_BYTES_MAX, k = len;
        uint8_t *fwd = malloc(len + extra);
        Tunekv__V1__Request *again;

        FUZZ_ASSERT(fwd != NULL);
        memcpy(fwd, body, len);
        k += pbwire_put_varint_field(fwd + k, CALL_REQUEST_ID_FIELD, req->id ^ 0x5a5a);
        k += pbwire_put_varint_field(fwd + k, CALL_REQUEST_TIMEOUT_FIELD, 1234);
        k += pbwire_put_varint_field(fwd + k, CALL_REQUEST_NO_FORWARD_FIELD, 1);
        again = tunekv__v1__request__unpack(&call_pb_allocator, k, fwd);
        FUZZ_ASSERT(again != NULL);
        FUZZ_ASSERT(again->id == (req->id ^ 0x5a5a) && again->timeout_ms == 1234 &&
                    again->no_forward && again->body_case == req->body_case);
        tunekv__v1__request__free_unpacked(again, &call_pb_allocator);
        free(fwd);
}

/* rpc_dispatch on one frame's body. */
static void fuzz_dispatch(struct fuzz_node *n, const uint8_t *body, size_t len)
{
        Tunekv__V1__Request *req = tunekv__v1__request__unpack(&call_pb_allocator, len, body);
        const ProtobufCBinaryData *key = NULL;
        uint32_t p;

        if (req == NULL) {
                return; /* answered, connection closed */
        }
        fuzz_forwarded(body, len, req);
        if (!fuzz_admit(n, req, &key)) {
                goto out;
        }
        p = key != NULL ? (uint32_t)(key_hash_partition(key->data, key->len) % FUZZ_PARTITIONS) : 0;
        switch (req->body_case) {
        case TUNEKV__V1__REQUEST__BODY_GET:
                fuzz_read(n, req->get, p);
                break;
        case TUNEKV__V1__REQUEST__BODY_PUT:
                fuzz_write(n, COMMAND_PUT, key, &req->put->value, 0, req->put->options, p);
                break;
        case TUNEKV__V1__REQUEST__BODY_DELETE:
                fuzz_write(n, COMMAND_DELETE, key, NULL, 0, req->delete_->options, p);
                break;
        case TUNEKV__V1__REQUEST__BODY_CAS:
                fuzz_write(n, COMMAND_CAS, key, &req->cas->value, req->cas->expected_version,
                           req->cas->options, p);
                break;
        case TUNEKV__V1__REQUEST__BODY_TXN:
                fuzz_txn(n, req->txn);
                break;
        case TUNEKV__V1__REQUEST__BODY_GET_MANY:
                fuzz_get_many(n, req);
                break;
        case TUNEKV__V1__REQUEST__BODY_SCAN:
                fuzz_scan(n, req);
                break;
        default:
                break;
        }
out:
        tunekv__v1__request__free_unpacked(req, &call_pb_allocator);
}

/* The input is what arrived on one client connection: frames, back to
 * back, as conn_process cuts them. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_node *n = fuzz_node();
        size_t body_len;
        int rv;

        while ((rv = frame_parse(data, size, n->cfg.frame_bytes_max, &body_len)) == 0) {
                FUZZ_ASSERT(body_len <= size - FRAME_HEADER_BYTES);
                fuzz_dispatch(n, data + FRAME_HEADER_BYTES, body_len);
                data += FRAME_HEADER_BYTES + body_len;
                size -= FRAME_HEADER_BYTES + body_len;
        }
        FUZZ_ASSERT(rv == TKV_EAGAIN || rv == TKV_ETOOBIG);
        FUZZ_ASSERT(rv != TKV_ETOOBIG || body_len == 0);
        return 0;
}
