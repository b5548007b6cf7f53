/* Request encoding and response decoding for libtunekv.
 *
 * Encoding builds a Tunekv__V1__Request on the stack whose byte fields point
 * at the caller's key and value (no copy), packs it straight into the output
 * buffer behind a frame header, and never allocates except to grow that
 * buffer.
 *
 * Decoding unpacks a Tunekv__V1__Response with an allocator over tkv_malloc,
 * turns it into a struct tkv_result that borrows from the unpacked message,
 * hands that to a callback and frees the message before returning, so every
 * unpack meets its free_unpacked here. Failure modes: bytes that are not a
 * Response (TKV_PROTOCOL_ERROR: the caller drops the connection, since framing can
 * no longer be trusted), and out of memory while unpacking (TKV_NO_MEMORY). */
#include "codec.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "heap.h"
#include "pballoc.h"
#include "tunekv.pb-c.h"
#include "varint.h"

/* Body messages of one request, kept together on the encoder's stack. */
struct codec_bodies {
        Tunekv__V1__GetRequest get;
        Tunekv__V1__PutRequest put;
        Tunekv__V1__DeleteRequest del;
        Tunekv__V1__CasRequest cas;
        Tunekv__V1__StatusRequest status;
        Tunekv__V1__ClusterInfoRequest cluster_info;
        Tunekv__V1__GetManyRequest get_many;
        ProtobufCBinaryData *many_keys; /* GET_MANY: tkv_malloc'd, freed after packing */
        Tunekv__V1__ScanRequest scan;
        Tunekv__V1__ReadOptions read;
        Tunekv__V1__WriteOptions write;
};

/* protobuf-c wants mutable pointers for bytes fields it only reads. */
static ProtobufCBinaryData codec_bytes(const void *data, size_t len)
{
        ProtobufCBinaryData b;
        b.len = len;
        b.data = len > 0 ? (uint8_t *)(uintptr_t)data : NULL;
        return b;
}

static size_t codec_many_unpack(const uint8_t *p, size_t len, ProtobufCBinaryData **out);
static void codec_scan_unpack(const uint8_t *p, Tunekv__V1__ScanRequest *s);

static Tunekv__V1__ReadOptions *codec_read_options(Tunekv__V1__ReadOptions *ro,
                                                   const struct codec_request *req)
{
        const struct tkv_read_options *o = req->read;

        if (o == NULL && req->token_len == 0) {
                return NULL;
        }
        tunekv__v1__read_options__init(ro);
        ro->token = codec_bytes(req->token, req->token_len);
        if (o != NULL) {
                codec_read_options_fill(ro, o);
        }
        return ro;
}

void codec_read_options_fill(Tunekv__V1__ReadOptions *ro, const struct tkv_read_options *o)
{
        ro->level = (Tunekv__V1__Consistency)o->level;
        ro->session_flags = o->session_flags;
        ro->min_index = o->min_index;
        ro->max_staleness_ms = o->max_staleness_ms;
        ro->max_lag_entries = o->max_lag_entries;
        ro->route = (Tunekv__V1__Route)o->route;
        ro->on_unmet = (Tunekv__V1__OnUnmet)o->on_unmet;
        ro->max_wait_ms = o->max_wait_ms;
        ro->strict = o->strict;
        ro->at_timestamp = o->at_timestamp;
}

static Tunekv__V1__WriteOptions *codec_write_options(Tunekv__V1__WriteOptions *wo,
                                                     const struct codec_request *req)
{
        if (req->write == NULL && req->client_id == 0 && req->token_len == 0) {
                return NULL;
        }
        tunekv__v1__write_options__init(wo);
        wo->ack = req->write != NULL ? (Tunekv__V1__Ack)req->write->ack : 0;
        wo->client_id = req->client_id;
        wo->seq = req->seq;
        wo->retry = req->retry;
        wo->token = codec_bytes(req->token, req->token_len);
        return wo;
}

/* Point msg's oneof body at the matching member of b, filled from req. */
static void codec_set_body(Tunekv__V1__Request *msg, struct codec_bodies *b,
                           const struct codec_request *req)
{
        ProtobufCBinaryData key = codec_bytes(req->key, req->key_len);
        ProtobufCBinaryData value = codec_bytes(req->value, req->value_len);

        switch (req->op) {
        case CODEC_GET:
                tunekv__v1__get_request__init(&b->get);
                b->get.key = key;
                b->get.options = codec_read_options(&b->read, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_GET;
                msg->get = &b->get;
                break;
        case CODEC_PUT:
                tunekv__v1__put_request__init(&b->put);
                b->put.key = key;
                b->put.value = value;
                b->put.lease = req->write != NULL ? req->write->lease : 0;
                b->put.options = codec_write_options(&b->write, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_PUT;
                msg->put = &b->put;
                break;
        case CODEC_DELETE:
                tunekv__v1__delete_request__init(&b->del);
                b->del.key = key;
                b->del.options = codec_write_options(&b->write, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_DELETE;
                msg->delete_ = &b->del;
                break;
        case CODEC_CAS:
                tunekv__v1__cas_request__init(&b->cas);
                b->cas.key = key;
                b->cas.expected_version = req->expected_version;
                b->cas.value = value;
                b->cas.lease = req->write != NULL ? req->write->lease : 0;
                b->cas.options = codec_write_options(&b->write, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_CAS;
                msg->cas = &b->cas;
                break;
        case CODEC_STATUS:
                tunekv__v1__status_request__init(&b->status);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_STATUS;
                msg->status = &b->status;
                break;
        case CODEC_CLUSTER_INFO:
                tunekv__v1__cluster_info_request__init(&b->cluster_info);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO;
                msg->cluster_info = &b->cluster_info;
                break;
        case CODEC_GET_MANY:
                tunekv__v1__get_many_request__init(&b->get_many);
                b->get_many.n_keys = codec_many_unpack(req->value, req->value_len, &b->many_keys);
                b->get_many.keys = b->many_keys;
                b->get_many.options = codec_read_options(&b->read, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_GET_MANY;
                msg->get_many = &b->get_many;
                break;
        case CODEC_SCAN:
                tunekv__v1__scan_request__init(&b->scan);
                codec_scan_unpack(req->value, &b->scan);
                b->scan.options = codec_read_options(&b->read, req);
                msg->body_case = TUNEKV__V1__REQUEST__BODY_SCAN;
                msg->scan = &b->scan;
                break;
        case CODEC_TXN: /* codec_encode_txn */
                break;
        }
}

size_t codec_scan_bytes(const struct tkv_scan *scan, size_t cursor_len)
{
        return 6 + 4 * 4 + scan->prefix_len + scan->start_len + scan->end_len + cursor_len;
}

static uint8_t *codec_scan_put(uint8_t *out, const void *data, size_t len)
{
        put_le32(out, (uint32_t)len);
        if (len > 0) {
                memcpy(out + 4, data, len);
        }
        return out + 4 + len;
}

void codec_scan_pack(uint8_t *out, const struct tkv_scan *scan, const void *cursor,
                     size_t cursor_len)
{
        put_le32(out, scan->limit);
        out[4] = scan->keys_only;
        out[5] = scan->count_only;
        out = codec_scan_put(out + 6, scan->prefix, scan->prefix_len);
        out = codec_scan_put(out, scan->start, scan->start_len);
        out = codec_scan_put(out, scan->end, scan->end_len);
        (void)codec_scan_put(out, cursor, cursor_len);
}

/* The packed scan into s, whose bytes fields point into p. */
static void codec_scan_unpack(const uint8_t *p, Tunekv__V1__ScanRequest *s)
{
        ProtobufCBinaryData *fields[] = {&s->prefix, &s->start, &s->end, &s->cursor};

        s->limit = get_le32(p);
        s->keys_only = p[4] != 0;
        s->count_only = p[5] != 0;
        p += 6;
        for (size_t i = 0; i < 4; i++) {
                uint32_t len = get_le32(p);
                *fields[i] = codec_bytes(p + 4, len);
                p += 4 + len;
        }
}

size_t codec_many_bytes(const size_t *key_lens, size_t n)
{
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
                bytes += 4 + key_lens[i];
        }
        return bytes;
}

void codec_many_pack(uint8_t *out, const void *const *keys, const size_t *key_lens, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                put_le32(out, (uint32_t)key_lens[i]);
                memcpy(out + 4, keys[i], key_lens[i]);
                out += 4 + key_lens[i];
        }
}

/* The packed keys as bytes fields pointing into them (*out: tkv_malloc'd);
 * returns how many (0, and *out NULL, when out of memory). */
static size_t codec_many_unpack(const uint8_t *p, size_t len, ProtobufCBinaryData **out)
{
        size_t n = 0, i = 0;

        for (size_t at = 0; at + 4 <= len; at += 4 + get_le32(p + at)) {
                n++;
        }
        *out = n > 0 ? tkv_malloc(n * sizeof **out) : NULL;
        if (*out == NULL) {
                return 0;
        }
        for (size_t at = 0; at + 4 <= len; at += 4 + get_le32(p + at)) {
                (*out)[i++] = codec_bytes(p + at + 4, get_le32(p + at));
        }
        return n;
}

/* The envelope of req without a body (a TXN's goes in by hand). */
static void codec_envelope(Tunekv__V1__Request *msg, const struct codec_request *req)
{
        msg->id = req->id;
        msg->timeout_ms = req->timeout_ms;
        msg->no_forward = req->no_forward;
}

/* A TXN request is the envelope, then field `txn` (40, length-delimited)
 * holding the builder's packed compares and ops (req->value) followed by
 * field 4, the WriteOptions of this attempt: protobuf concatenates
 * repeated fields, so the ops need not be decoded again for each attempt.
 * The sizes: *env_len, *opt_len (0: no options), *inner_len. */
#define CODEC_TXN_TAG0        0xc2 /* field 40, wire type 2, as a two-byte varint */
#define CODEC_TXN_TAG1        0x02
#define CODEC_TXN_OPTIONS_TAG 0x22 /* TxnRequest field 4, wire type 2 */

static size_t codec_txn_sizes(const struct codec_request *req, Tunekv__V1__WriteOptions *wo,
                              const Tunekv__V1__WriteOptions **opts, size_t *env_len,
                              size_t *opt_len, size_t *inner_len)
{
        Tunekv__V1__Request env = TUNEKV__V1__REQUEST__INIT;

        codec_envelope(&env, req);
        *env_len = tunekv__v1__request__get_packed_size(&env);
        *opts = codec_write_options(wo, req);
        *opt_len = *opts != NULL ? tunekv__v1__write_options__get_packed_size(*opts) : 0;
        *inner_len = req->value_len + (*opts != NULL ? 1 + varint_bytes(*opt_len) + *opt_len : 0);
        return *env_len + 2 + varint_bytes(*inner_len) + *inner_len;
}

/* Room for a frame of body_len bytes at the end of out, its header
 * written: *body is where the body goes. TKV_USAGE_ERROR over
 * CODEC_FRAME_BYTES_MAX, TKV_NO_MEMORY; out unchanged on failure. */
static int codec_frame_space(struct buffer *out, size_t body_len, uint8_t **body)
{
        uint8_t *p;

        if (body_len > CODEC_FRAME_BYTES_MAX) {
                return TKV_USAGE_ERROR;
        }
        if (buffer_reserve(out, FRAME_HEADER_BYTES + body_len) != 0) {
                return TKV_NO_MEMORY;
        }
        p = buffer_extend(out, FRAME_HEADER_BYTES + body_len);
        frame_put_header(p, (uint32_t)body_len);
        *body = p + FRAME_HEADER_BYTES;
        return TKV_OK;
}

static int codec_encode_txn(struct buffer *out, const struct codec_request *req)
{
        Tunekv__V1__Request env = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__WriteOptions wo;
        const Tunekv__V1__WriteOptions *opts;
        size_t env_len, opt_len, inner_len;
        size_t body_len = codec_txn_sizes(req, &wo, &opts, &env_len, &opt_len, &inner_len);
        uint8_t *p;
        int rv = codec_frame_space(out, body_len, &p);

        if (rv != TKV_OK) {
                return rv;
        }
        codec_envelope(&env, req);
        p += tunekv__v1__request__pack(&env, p);
        *p++ = CODEC_TXN_TAG0;
        *p++ = CODEC_TXN_TAG1;
        p = varint_put(p, inner_len);
        if (req->value_len > 0) {
                memcpy(p, req->value, req->value_len);
                p += req->value_len;
        }
        if (opts != NULL) {
                *p++ = CODEC_TXN_OPTIONS_TAG;
                p = varint_put(p, opt_len);
                tunekv__v1__write_options__pack(opts, p);
        }
        return TKV_OK;
}

int codec_txn_append(struct buffer *out, unsigned field, int type_or_target, int op,
                     const void *key, size_t key_len, uint64_t number, const void *value,
                     size_t value_len)
{
        Tunekv__V1__TxnCompare x = TUNEKV__V1__TXN_COMPARE__INIT;
        Tunekv__V1__TxnOp o = TUNEKV__V1__TXN_OP__INIT;
        const ProtobufCMessage *m = field == 1 ? &x.base : &o.base;
        size_t len;
        uint8_t *p;

        if (field == 1) {
                x.key = codec_bytes(key, key_len);
                x.target = (Tunekv__V1__CompareTarget)type_or_target;
                x.op = (Tunekv__V1__CompareOp)op;
                x.number = number;
                x.value = codec_bytes(value, value_len);
        } else {
                o.type = (Tunekv__V1__TxnOpType)type_or_target;
                o.key = codec_bytes(key, key_len);
                o.value = codec_bytes(value, value_len);
                o.lease = number;
        }
        len = protobuf_c_message_get_packed_size(m);
        if (buffer_reserve(out, 1 + varint_bytes(len) + len) != 0) {
                return TKV_NO_MEMORY;
        }
        p = buffer_extend(out, 1 + varint_bytes(len) + len);
        *p++ = (uint8_t)(field << 3 | 2);
        p = varint_put(p, len);
        protobuf_c_message_pack(m, p);
        return TKV_OK;
}

size_t codec_request_bytes(const struct codec_request *req)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        struct codec_bodies bodies;

        if (req->op == CODEC_TXN) {
                Tunekv__V1__WriteOptions wo;
                const Tunekv__V1__WriteOptions *opts;
                size_t env_len, opt_len, inner_len;
                return FRAME_HEADER_BYTES +
                       codec_txn_sizes(req, &wo, &opts, &env_len, &opt_len, &inner_len);
        }
        codec_envelope(&msg, req);
        bodies.many_keys = NULL;
        codec_set_body(&msg, &bodies, req);
        size_t bytes = FRAME_HEADER_BYTES + tunekv__v1__request__get_packed_size(&msg);
        tkv_free(bodies.many_keys);
        return bytes;
}

int codec_frame_request(struct buffer *out, const struct Tunekv__V1__Request *msg)
{
        uint8_t *p;
        int rv = codec_frame_space(out, tunekv__v1__request__get_packed_size(msg), &p);

        if (rv == TKV_OK) {
                tunekv__v1__request__pack(msg, p);
        }
        return rv;
}

int codec_encode_request(struct buffer *out, const struct codec_request *req)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        struct codec_bodies bodies;

        if (req->op == CODEC_TXN) {
                return codec_encode_txn(out, req);
        }
        codec_envelope(&msg, req);
        bodies.many_keys = NULL;
        codec_set_body(&msg, &bodies, req);
        int rv = req->op == CODEC_GET_MANY && bodies.many_keys == NULL
                     ? TKV_NO_MEMORY
                     : codec_frame_request(out, &msg);
        tkv_free(bodies.many_keys);
        return rv;
}

int codec_encode_auth(struct buffer *out, uint64_t id, const char *user, const void *password,
                      size_t password_len)
{
        Tunekv__V1__Request msg = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__AuthRequest auth = TUNEKV__V1__AUTH_REQUEST__INIT;

        msg.id = id;
        auth.user = (char *)user;
        auth.password = codec_bytes(password, password_len);
        msg.body_case = TUNEKV__V1__REQUEST__BODY_AUTH;
        msg.auth = &auth;
        return codec_frame_request(out, &msg);
}

/* ---- Decoding ---- */

/* Remembers whether an allocation failed, to tell TKV_NO_MEMORY from garbage
 * when unpack returns NULL. */
/* What decoding one answer may take (pballoc.h): a server or a man in the
 * middle could otherwise send an answer of tiny sub-messages that takes
 * hundreds of times its size to unpack (a 60 MB STATUS answer, ~17 GB).
 * Valid answers take a few times their size. */
#define CODEC_DECODE_BYTES(len)  (32 * (len) + (1u << 20))
#define CODEC_DECODE_ALLOCS(len) ((len) + 1024)

static void codec_receipt_fill(struct tkv_receipt *r, const Tunekv__V1__ReadReceipt *m)
{
        memset(r, 0, sizeof(*r));
        r->staleness_ms = -1;
        if (m == NULL) {
                return;
        }
        r->node_id = m->node_id;
        r->role = (enum tkv_role)m->role;
        r->term = m->term;
        r->applied_index = m->applied_index;
        r->level = (enum tkv_consistency)m->level;
        r->staleness_ms = m->staleness_ms;
        r->lag_entries = m->lag_entries;
        r->fallback = m->fallback;
        r->partition = m->partition;
        r->leader_known = m->leader_known;
        r->timestamp = m->timestamp;
        /* A longer zone than any server keeps is cut, not refused: the
         * receipt only labels the read. */
        snprintf(r->zone, sizeof(r->zone), "%s", m->zone != NULL ? m->zone : "");
}

/* The body-independent part: status, message, leader hint. unknown holds the
 * message for a status this client does not know. */
static void codec_envelope_fill(struct tkv_result *res, const Tunekv__V1__Response *m,
                                char *unknown, size_t unknown_len)
{
        int status = (int)m->status;

        res->status = status;
        res->message = m->message != NULL ? m->message : "";
        if (status < (int)TUNEKV__V1__STATUS__STATUS_OK || status > CODEC_STATUS_MAX) {
                snprintf(unknown, unknown_len, "unknown status %d in the server's answer", status);
                res->status = TKV_PROTOCOL_ERROR;
                res->message = unknown;
        }
        if (m->leader_hint != NULL) {
                res->leader_id = m->leader_hint->node_id;
        }
        if (m->bound != NULL) {
                res->bound_required_index = m->bound->required_index;
                res->bound_applied_index = m->bound->applied_index;
                res->bound_staleness_ms = m->bound->staleness_ms;
                res->bound_lag_entries = m->bound->lag_entries;
                res->bound_node_id = m->bound->node_id;
        }
}

/* Fill res from m; res borrows m's strings and bytes. */
static void codec_result_fill(struct tkv_result *res, const Tunekv__V1__Response *m, char *unknown,
                              size_t unknown_len)
{
        const Tunekv__V1__GetResponse *get;
        const Tunekv__V1__WriteResponse *write;

        memset(res, 0, sizeof(*res));
        codec_envelope_fill(res, m, unknown, unknown_len);
        codec_receipt_fill(&res->receipt, NULL);
        if (m->body_case == TUNEKV__V1__RESPONSE__BODY_GET && m->get != NULL) {
                get = m->get;
                res->found = get->found;
                if (get->found) {
                        res->value = get->value.data != NULL ? (const void *)get->value.data : "";
                        res->value_len = get->value.len;
                }
                res->create_index = get->create_index;
                res->mod_index = get->mod_index;
                codec_receipt_fill(&res->receipt, get->receipt);
                res->partition = res->receipt.partition;
                res->timestamp = get->timestamp;
                res->deleted_index = get->deleted_index;
        } else if (m->body_case == TUNEKV__V1__RESPONSE__BODY_WRITE && m->write != NULL) {
                write = m->write;
                res->index = write->index;
                res->current_version = write->current_version;
                res->partition = write->partition;
                res->ack = (enum tkv_ack)write->ack;
                res->durable = write->durable;
                res->timestamp = write->timestamp;
        }
}

/* A TXN answer into res; *results: the array res points to (tkv_free
 * it after the callback). Values are borrowed from m. */
static int codec_txn_fill(struct tkv_result *res, const Tunekv__V1__TxnResponse *m,
                          struct tkv_txn_op_result **results)
{
        res->txn_succeeded = m->succeeded;
        res->txn_replayed = m->replayed;
        res->index = m->index;
        res->partition = m->partition;
        res->durable = true;
        if (m->n_results == 0) {
                return TKV_OK;
        }
        *results = tkv_calloc(m->n_results, sizeof(**results));
        if (*results == NULL) {
                return TKV_NO_MEMORY;
        }
        for (size_t i = 0; i < m->n_results; i++) {
                const Tunekv__V1__TxnOpResult *o = m->results[i];
                struct tkv_txn_op_result *r = &(*results)[i];
                r->type = (enum tkv_txn_op_type)o->type;
                r->found = o->found;
                r->create_index = o->create_index;
                r->mod_index = o->mod_index;
                r->value_omitted = o->value_omitted;
                if (o->found && !o->value_omitted && o->type == TUNEKV__V1__TXN_OP_TYPE__TXN_GET) {
                        r->value = o->value.data != NULL ? (const void *)o->value.data : "";
                        r->value_len = o->value.len;
                }
        }
        res->txn_n_results = m->n_results;
        res->txn_results = *results;
        return TKV_OK;
}

static void codec_partition_fill(struct tkv_partition_status *p,
                                 const Tunekv__V1__PartitionStatus *m)
{
        size_t i;

        memset(p, 0, sizeof(*p));
        if (m == NULL) {
                return;
        }
        p->partition = m->partition;
        p->role = (enum tkv_role)m->role;
        p->leader_id = m->leader_id;
        p->term = m->term;
        p->commit_index = m->commit_index;
        p->applied_index = m->applied_index;
        p->last_index = m->last_index;
        p->snapshot_index = m->snapshot_index;
        p->keys = m->keys;
        p->bytes = m->bytes;
        p->ready = m->ready;
        p->digest = m->digest;
        p->snapshots = m->snapshots;
        p->restores = m->restores;
        p->staleness_ms = m->staleness_ms;
        p->lag_entries = m->lag_entries;
        p->leader_commit_index = m->leader_commit_index;
        p->barriers = m->barriers;
        p->confirms = m->confirms;
        p->confirms_failed = m->confirms_failed;
        p->history_changes = m->history_changes;
        p->history_bytes = m->history_bytes;
        p->history_oldest_index = m->history_oldest_index;
        p->history_start_ts = m->history_start_ts;
        snprintf(p->move_step, sizeof(p->move_step), "%s",
                 m->move_step != NULL ? m->move_step : "");
        p->move_step_ms = m->move_step_ms;
        for (i = 0; i < m->n_reads; i++) {
                const Tunekv__V1__LevelCounters *lc = m->reads[i];
                unsigned level = (unsigned)lc->level;
                if (level < sizeof(p->reads) / sizeof(p->reads[0])) {
                        p->reads[level].served = lc->served;
                        p->reads[level].stale_served = lc->stale_served;
                        p->reads[level].waits = lc->waits;
                        p->reads[level].fallbacks = lc->fallbacks;
                        p->reads[level].bound_unmet = lc->bound_unmet;
                        p->reads[level].fresh = lc->fresh;
                        p->reads[level].stale = lc->stale;
                        for (size_t b = 0; b < lc->n_stale_ms && b < 6; b++) {
                                p->reads[level].stale_ms[b] = lc->stale_ms[b];
                        }
                        for (size_t b = 0; b < lc->n_stale_versions && b < 4; b++) {
                                p->reads[level].stale_versions[b] = lc->stale_versions[b];
                        }
                }
        }
        for (i = 0; i < m->n_replicas && i < sizeof(p->replicas) / sizeof(p->replicas[0]); i++) {
                p->replicas[i] = m->replicas[i];
        }
        p->n_replicas = (unsigned)i;
}

/* One block holding the node, its partitions and its version string. */
static struct tkv_node_status *codec_node_build(const Tunekv__V1__StatusResponse *m)
{
        const char *version = m->version != NULL ? m->version : "";
        size_t version_len = strlen(version);
        size_t n = m->n_partitions;
        struct tkv_node_status *node;
        char *version_copy;
        size_t i;

        node = tkv_malloc(sizeof(*node) + n * sizeof(node->partitions[0]) + version_len + 1);
        if (node == NULL) {
                return NULL;
        }
        memset(node, 0, sizeof(*node));
        node->partitions = n > 0 ? (struct tkv_partition_status *)(node + 1) : NULL;
        node->n_partitions = (unsigned)n;
        for (i = 0; i < n; i++) {
                codec_partition_fill(&node->partitions[i], m->partitions[i]);
        }
        version_copy = (char *)((struct tkv_partition_status *)(node + 1) + n);
        memcpy(version_copy, version, version_len + 1);
        node->version = version_copy;
        node->node_id = m->node_id;
        node->uptime_ms = m->uptime_ms;
        node->connections = m->connections;
        node->partition_count = m->partition_count;
        node->loop_lag_ms = m->loop_lag_ms;
        node->loop_lag_max_ms = m->loop_lag_max_ms;
        node->forwarded = m->forwarded;
        node->watches = m->watches;
        node->epoch = m->epoch;
        if (m->limits != NULL) {
                node->frame_bytes_max = m->limits->frame_bytes_max;
                node->key_bytes_max = m->limits->key_bytes_max;
                node->value_bytes_max = m->limits->value_bytes_max;
                node->inflight_per_conn_max = m->limits->inflight_per_conn_max;
                node->conns_max = m->limits->conns_max;
                node->request_timeout_ms = m->limits->request_timeout_ms;
                node->request_timeout_max_ms = m->limits->request_timeout_max_ms;
                node->conn_output_bytes_max = m->limits->conn_output_bytes_max;
                node->token_bytes_max = m->limits->token_bytes_max;
                node->txn_ops_max = m->limits->txn_ops_max;
                node->txn_compares_max = m->limits->txn_compares_max;
                node->txn_bytes_max = m->limits->txn_bytes_max;
                node->leases_max = m->limits->leases_max;
                node->lease_keys_max = m->limits->lease_keys_max;
                node->lease_ttl_min_ms = m->limits->lease_ttl_min_ms;
                node->lease_ttl_max_ms = m->limits->lease_ttl_max_ms;
        }
        return node;
}

static void codec_partition_info_fill(struct tkv_partition_info *p,
                                      const Tunekv__V1__PartitionInfo *m)
{
        size_t i;

        memset(p, 0, sizeof(*p));
        if (m == NULL) {
                return;
        }
        p->partition = m->partition;
        p->leader_id = m->leader_id;
        for (i = 0; i < m->n_replicas && i < sizeof(p->replicas) / sizeof(p->replicas[0]); i++) {
                p->replicas[i] = m->replicas[i];
        }
        p->n_replicas = (unsigned)i;
        p->move_from = m->move_from;
        p->move_to = m->move_to;
}

static const char *codec_node_addr(const Tunekv__V1__NodeInfo *n)
{
        return n != NULL && n->client_addr != NULL ? n->client_addr : "";
}

static const char *codec_node_zone(const Tunekv__V1__NodeInfo *n)
{
        return n != NULL && n->zone != NULL ? n->zone : "";
}

/* Copy text (NUL included) to *strings and advance it; returns the copy. */
static const char *codec_put_text(char **strings, const char *text)
{
        size_t len = strlen(text);
        char *copy = *strings;

        memcpy(copy, text, len + 1);
        *strings += len + 1;
        return copy;
}

/* One block holding the cluster, its nodes, partitions, addresses and
 * zones, laid out as codec_cluster_copy does. */
static struct tkv_cluster_info *codec_cluster_build(const Tunekv__V1__ClusterInfoResponse *m)
{
        struct tkv_cluster_info *ci;
        size_t bytes = sizeof(*ci) + m->n_nodes * sizeof(ci->nodes[0]) +
                       m->n_partitions * sizeof(ci->partitions[0]);
        char *strings;
        size_t i;

        for (i = 0; i < m->n_nodes; i++) {
                bytes += strlen(codec_node_addr(m->nodes[i])) + 1;
                bytes += strlen(codec_node_zone(m->nodes[i])) + 1;
        }
        ci = tkv_malloc(bytes);
        if (ci == NULL) {
                return NULL;
        }
        memset(ci, 0, sizeof(*ci));
        ci->partition_count = m->partition_count;
        ci->node_id = m->node_id;
        ci->epoch = m->epoch;
        ci->nodes = (struct tkv_node_info *)(ci + 1);
        ci->n_nodes = (unsigned)m->n_nodes;
        ci->partitions = (struct tkv_partition_info *)(ci->nodes + m->n_nodes);
        ci->n_partitions = (unsigned)m->n_partitions;
        strings = (char *)(ci->partitions + m->n_partitions);
        for (i = 0; i < m->n_nodes; i++) {
                ci->nodes[i].node_id = m->nodes[i] != NULL ? m->nodes[i]->node_id : 0;
                ci->nodes[i].client_addr = codec_put_text(&strings, codec_node_addr(m->nodes[i]));
                ci->nodes[i].zone = codec_put_text(&strings, codec_node_zone(m->nodes[i]));
        }
        for (i = 0; i < m->n_partitions; i++) {
                codec_partition_info_fill(&ci->partitions[i], m->partitions[i]);
        }
        codec_partition_info_fill(&ci->metadata, m->metadata); /* zeroed when absent */
        return ci;
}

static enum codec_body codec_body_kind(const Tunekv__V1__Response *m)
{
        switch (m->body_case) {
        case TUNEKV__V1__RESPONSE__BODY__NOT_SET:
                return CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_GET:
                return m->get != NULL ? CODEC_BODY_GET : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_WRITE:
                return m->write != NULL ? CODEC_BODY_WRITE : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_STATUS_INFO:
                return m->status_info != NULL ? CODEC_BODY_STATUS : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO:
                return m->cluster_info != NULL ? CODEC_BODY_CLUSTER : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_GET_MANY:
                return m->get_many != NULL ? CODEC_BODY_GET_MANY : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_TXN:
                return m->txn != NULL ? CODEC_BODY_TXN : CODEC_BODY_NONE;
        case TUNEKV__V1__RESPONSE__BODY_SCAN:
                return m->scan != NULL ? CODEC_BODY_SCAN : CODEC_BODY_NONE;
        default:
                return CODEC_BODY_OTHER;
        }
}

/* The token of a GET or write answer, into extra. */
static void codec_token_find(const Tunekv__V1__Response *m, struct codec_extra *extra)
{
        const ProtobufCBinaryData *t = NULL;

        if (m->body_case == TUNEKV__V1__RESPONSE__BODY_GET && m->get != NULL) {
                t = &m->get->token;
        } else if (m->body_case == TUNEKV__V1__RESPONSE__BODY_WRITE && m->write != NULL) {
                t = &m->write->token;
        } else if (m->body_case == TUNEKV__V1__RESPONSE__BODY_GET_MANY && m->get_many != NULL) {
                t = &m->get_many->token;
        } else if (m->body_case == TUNEKV__V1__RESPONSE__BODY_TXN && m->txn != NULL) {
                t = &m->txn->token;
        } else if (m->body_case == TUNEKV__V1__RESPONSE__BODY_SCAN && m->scan != NULL) {
                t = &m->scan->token;
        }
        if (t != NULL && t->len > 0) {
                extra->token = t->data;
                extra->token_len = t->len;
        }
}

/* GET_MANY's items, borrowing the values from m, into res (and the read's
 * timestamp, node and level into its receipt). NULL when out of memory. */
static struct tkv_item *codec_items_build(const Tunekv__V1__GetManyResponse *m,
                                          struct tkv_result *res)
{
        struct tkv_item *items = m->n_items > 0 ? tkv_calloc(m->n_items, sizeof *items) : NULL;

        res->receipt.timestamp = m->timestamp;
        res->receipt.node_id = m->node_id;
        res->receipt.level = (enum tkv_consistency)m->level;
        if (items == NULL) {
                return NULL;
        }
        for (size_t i = 0; i < m->n_items; i++) {
                const Tunekv__V1__GetManyItem *it = m->items[i];
                items[i].found = it->found;
                items[i].value =
                    it->found ? (it->value.data != NULL ? it->value.data : (void *)"") : NULL;
                items[i].value_len = it->value.len;
                items[i].mod_index = it->mod_index;
                items[i].timestamp = it->timestamp;
                items[i].partition = it->partition;
                items[i].deleted_index = it->deleted_index;
        }
        res->items = items;
        res->n_items = m->n_items;
        return items;
}

/* A SCAN page into res, borrowing keys and values from m; *block: the one
 * allocation holding the items and receipts (tkv_free it after the
 * callback). TKV_OK or TKV_NO_MEMORY. */
static int codec_scan_fill(struct tkv_result *res, const Tunekv__V1__ScanResponse *m, void **block)
{
        struct tkv_scan_item *items;
        struct tkv_scan_receipt *rc;

        res->receipt.timestamp = m->timestamp;
        res->receipt.node_id = m->node_id;
        res->receipt.level = (enum tkv_consistency)m->level;
        res->scan_count = m->count;
        res->scan_more = m->more;
        res->scan_cursor = m->cursor.len > 0 ? (const void *)m->cursor.data : NULL;
        res->scan_cursor_len = m->cursor.len;
        *block = tkv_calloc(1, m->n_items * sizeof *items + m->n_receipts * sizeof *rc + 1);
        if (*block == NULL) {
                return TKV_NO_MEMORY;
        }
        items = *block;
        rc = (struct tkv_scan_receipt *)(items + m->n_items);
        for (size_t i = 0; i < m->n_items; i++) {
                const Tunekv__V1__ScanItem *it = m->items[i];
                items[i].key = it->key.data != NULL ? (const void *)it->key.data : "";
                items[i].key_len = it->key.len;
                items[i].value = it->value.data != NULL ? (const void *)it->value.data : "";
                items[i].value_len = it->value.len;
                items[i].mod_index = it->mod_index;
                items[i].create_index = it->create_index;
                items[i].timestamp = it->timestamp;
                items[i].partition = it->partition;
        }
        for (size_t i = 0; i < m->n_receipts; i++) {
                rc[i].partition = m->receipts[i]->partition;
                rc[i].node_id = m->receipts[i]->node_id;
                rc[i].applied_index = m->receipts[i]->applied_index;
                rc[i].level = (enum tkv_consistency)m->receipts[i]->level;
        }
        res->scan_items = items;
        res->scan_n_items = m->n_items;
        res->scan_receipts = rc;
        res->scan_n_receipts = m->n_receipts;
        return TKV_OK;
}

/* A TXN's results or a SCAN page into res (TKV_NO_MEMORY in res when
 * their arrays cannot be allocated); *txn and *scan receive the arrays to
 * tkv_free after the callback. */
static void codec_lists_fill(struct tkv_result *res, const Tunekv__V1__Response *msg,
                             struct tkv_txn_op_result **txn, void **scan)
{
        if (msg->body_case == TUNEKV__V1__RESPONSE__BODY_TXN && msg->txn != NULL &&
            codec_txn_fill(res, msg->txn, txn) != TKV_OK) {
                res->status = TKV_NO_MEMORY;
                res->message = "out of memory decoding a TXN answer";
        }
        if (msg->body_case == TUNEKV__V1__RESPONSE__BODY_SCAN && msg->scan != NULL &&
            codec_scan_fill(res, msg->scan, scan) != TKV_OK) {
                res->status = TKV_NO_MEMORY;
                res->message = "out of memory decoding a SCAN answer";
        }
}

Tunekv__V1__Response *codec_unpack_oneshot(struct pballoc *pb, const uint8_t *body, size_t len,
                                           int *status, char *message, size_t message_len)
{
        Tunekv__V1__Response *resp;

        pballoc_init(pb, CODEC_DECODE_BYTES(len), CODEC_DECODE_ALLOCS(len));
        resp = tunekv__v1__response__unpack(&pb->base, len, body);
        if (resp == NULL) {
                *status = TKV_PROTOCOL_ERROR;
                snprintf(message, message_len, "undecodable answer");
                return NULL;
        }
        *status = (int)resp->status;
        if (*status > CODEC_STATUS_MAX) {
                *status = TKV_PROTOCOL_ERROR;
        }
        snprintf(message, message_len, "%s", resp->message != NULL ? resp->message : "");
        return resp;
}

int codec_decode_response(const uint8_t *data, size_t len, codec_response_cb cb, void *arg)
{
        struct pballoc pb;
        Tunekv__V1__Response *msg = NULL;
        struct tkv_node_status *node = NULL;
        struct tkv_cluster_info *cluster = NULL;
        struct tkv_item *items = NULL;
        struct tkv_txn_op_result *txn = NULL;
        void *scan = NULL;
        struct codec_extra extra = {"", NULL, 0, 0};
        struct tkv_result res;
        char unknown[96];
        int rv = TKV_OK;

        pballoc_init(&pb, CODEC_DECODE_BYTES(len), CODEC_DECODE_ALLOCS(len));
        msg = tunekv__v1__response__unpack(&pb.base, len, data);
        if (msg == NULL) {
                /* Over the budget is a protocol error: no valid answer is. */
                rv = pb.failed ? TKV_NO_MEMORY : TKV_PROTOCOL_ERROR;
                goto cleanup;
        }
        codec_result_fill(&res, msg, unknown, sizeof(unknown));
        if (msg->body_case == TUNEKV__V1__RESPONSE__BODY_STATUS_INFO && msg->status_info != NULL) {
                node = codec_node_build(msg->status_info);
                if (node == NULL) {
                        res.status = TKV_NO_MEMORY;
                        res.message = "out of memory decoding a STATUS answer";
                }
                res.node = node;
        }
        if (msg->body_case == TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO &&
            msg->cluster_info != NULL) {
                cluster = codec_cluster_build(msg->cluster_info);
                if (cluster == NULL) {
                        res.status = TKV_NO_MEMORY;
                        res.message = "out of memory decoding a CLUSTER_INFO answer";
                }
                res.cluster = cluster;
        }
        if (msg->body_case == TUNEKV__V1__RESPONSE__BODY_GET_MANY && msg->get_many != NULL) {
                items = codec_items_build(msg->get_many, &res);
                if (items == NULL && msg->get_many->n_items > 0) {
                        res.status = TKV_NO_MEMORY;
                        res.message = "out of memory decoding a GET_MANY answer";
                }
        }
        if (msg->leader_hint != NULL && msg->leader_hint->client_addr != NULL) {
                extra.leader_addr = msg->leader_hint->client_addr;
        }
        codec_lists_fill(&res, msg, &txn, &scan);
        codec_token_find(msg, &extra);
        extra.epoch = msg->epoch;
        cb(arg, msg->id, codec_body_kind(msg), &res, &extra);
cleanup:
        tkv_free(scan);
        tkv_free(items);
        tkv_free(txn);
        tkv_free(node);
        tkv_free(cluster);
        if (msg != NULL) {
                tunekv__v1__response__free_unpacked(msg, &pb.base);
        }
        return rv;
}

size_t codec_node_bytes(const struct tkv_node_status *node)
{
        const char *version = node->version != NULL ? node->version : "";
        return sizeof(*node) + node->n_partitions * sizeof(node->partitions[0]) + strlen(version) +
               1;
}

struct tkv_node_status *codec_node_copy(void *mem, const struct tkv_node_status *node)
{
        struct tkv_node_status *copy = mem;
        struct tkv_partition_status *parts = (struct tkv_partition_status *)(copy + 1);
        const char *version = node->version != NULL ? node->version : "";
        char *version_copy = (char *)(parts + node->n_partitions);

        *copy = *node;
        copy->partitions = NULL;
        if (node->n_partitions > 0) {
                memcpy(parts, node->partitions, node->n_partitions * sizeof(parts[0]));
                copy->partitions = parts;
        }
        memcpy(version_copy, version, strlen(version) + 1);
        copy->version = version_copy;
        return copy;
}

size_t codec_cluster_bytes(const struct tkv_cluster_info *cluster)
{
        size_t bytes = sizeof(*cluster) + cluster->n_nodes * sizeof(cluster->nodes[0]) +
                       cluster->n_partitions * sizeof(cluster->partitions[0]);
        unsigned i;

        for (i = 0; i < cluster->n_nodes; i++) {
                const char *addr = cluster->nodes[i].client_addr;
                const char *zone = cluster->nodes[i].zone;
                bytes += (addr != NULL ? strlen(addr) : 0) + 1;
                bytes += (zone != NULL ? strlen(zone) : 0) + 1;
        }
        return bytes;
}

struct tkv_cluster_info *codec_cluster_copy(void *mem, const struct tkv_cluster_info *cluster)
{
        struct tkv_cluster_info *copy = mem;
        struct tkv_node_info *nodes = (struct tkv_node_info *)(copy + 1);
        struct tkv_partition_info *parts = (struct tkv_partition_info *)(nodes + cluster->n_nodes);
        char *strings = (char *)(parts + cluster->n_partitions);
        const struct tkv_node_info *n;
        unsigned i;

        *copy = *cluster;
        copy->nodes = nodes;
        copy->partitions = parts;
        for (i = 0; i < cluster->n_nodes; i++) {
                n = &cluster->nodes[i];
                nodes[i].node_id = n->node_id;
                nodes[i].client_addr =
                    codec_put_text(&strings, n->client_addr != NULL ? n->client_addr : "");
                nodes[i].zone = codec_put_text(&strings, n->zone != NULL ? n->zone : "");
        }
        if (cluster->n_partitions > 0) {
                memcpy(parts, cluster->partitions, cluster->n_partitions * sizeof(parts[0]));
        }
        return copy;
}
