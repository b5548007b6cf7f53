/* libtunekv internals: codec round-trips through the generated protobuf-c
 * code, endpoint-list parsing, status names, and the client's request
 * lifecycle against a scripted server on 127.0.0.1 (the test plays the
 * server between calls of tkv_poll, in the same thread; the one blocking
 * call is served by a forked child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buffer.h"
#include "client.h"
#include "codec.h"
#include "frame.h"
#include "heap.h"
#include "tunekv.h"
#include "tunekv.pb-c.h"

/* ---- Helpers ---- */

/* Unpack the single frame in b as a Request; the caller frees it. */
static Tunekv__V1__Request *unpack_request_frame(const struct buffer *b)
{
        size_t body_len = 0;

        assert_int_equal(frame_parse(buffer_data(b), buffer_len(b), 1u << 30, &body_len), 0);
        assert_int_equal(buffer_len(b), FRAME_HEADER_BYTES + body_len);
        return tunekv__v1__request__unpack(NULL, body_len, buffer_data(b) + FRAME_HEADER_BYTES);
}

/* A tkv_result copied out of a decode callback. */
struct decoded {
        int calls;
        uint64_t id;
        enum codec_body body;
        struct tkv_result res;
        char message[256];
        char value[256];
        char leader_addr[64];
        uint8_t token[128];
        size_t token_len;
        struct tkv_node_status *node;
        struct tkv_cluster_info *cluster;
};

static void decoded_cb(void *arg, uint64_t id, enum codec_body body, const struct tkv_result *res,
                       const struct codec_extra *extra)
{
        struct decoded *d = arg;

        d->calls++;
        d->id = id;
        d->body = body;
        d->res = *res;
        snprintf(d->message, sizeof(d->message), "%s", res->message);
        assert_true(res->value_len < sizeof(d->value));
        if (res->value_len > 0) {
                memcpy(d->value, res->value, res->value_len);
        }
        d->res.message = d->message;
        d->res.value = res->value != NULL ? d->value : NULL;
        d->node = NULL;
        if (res->node != NULL) {
                d->node = tkv_malloc(codec_node_bytes(res->node));
                assert_non_null(d->node);
                codec_node_copy(d->node, res->node);
        }
        d->res.node = d->node;
        d->cluster = NULL;
        if (res->cluster != NULL) {
                d->cluster = tkv_malloc(codec_cluster_bytes(res->cluster));
                assert_non_null(d->cluster);
                codec_cluster_copy(d->cluster, res->cluster);
        }
        d->res.cluster = d->cluster;
        snprintf(d->leader_addr, sizeof(d->leader_addr), "%s", extra->leader_addr);
        assert_true(extra->token_len <= sizeof(d->token));
        d->token_len = extra->token_len;
        if (extra->token_len > 0) {
                assert_non_null(extra->token);
                memcpy(d->token, extra->token, extra->token_len);
        }
}

/* Pack m and decode it with the codec into d. */
static int decode_packed(const Tunekv__V1__Response *m, struct decoded *d)
{
        size_t len = tunekv__v1__response__get_packed_size(m);
        uint8_t *buf = malloc(len + 1);
        int rv;

        assert_non_null(buf);
        tunekv__v1__response__pack(m, buf);
        memset(d, 0, sizeof(*d));
        rv = codec_decode_response(buf, len, decoded_cb, d);
        free(buf);
        return rv;
}

/* ---- Codec: requests ---- */

static void test_encode_get(void **state)
{
        struct tkv_read_options ro = {
            .level = TKV_BOUNDED_STALENESS,
            .session_flags = TKV_READ_YOUR_WRITES | TKV_WRITES_FOLLOW_READS,
            .min_index = 77,
            .max_staleness_ms = 250,
            .max_lag_entries = 9,
            .route = TKV_ROUTE_NEAREST,
            .on_unmet = TKV_ON_UNMET_SERVE_STALE_LABELLED,
            .max_wait_ms = 31,
            .strict = true,
        };
        struct codec_request req = {
            .op = CODEC_GET, .id = 42, .timeout_ms = 1234, .key = "key", .key_len = 3, .read = &ro};
        struct buffer b;
        Tunekv__V1__Request *m;
        Tunekv__V1__ReadOptions *o;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &req), TKV_OK);
        m = unpack_request_frame(&b);
        assert_non_null(m);
        assert_int_equal(m->id, 42);
        assert_int_equal(m->timeout_ms, 1234);
        assert_false(m->no_forward);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_GET);
        assert_int_equal(m->get->key.len, 3);
        assert_memory_equal(m->get->key.data, "key", 3);
        o = m->get->options;
        assert_non_null(o);
        assert_int_equal(o->level, TUNEKV__V1__CONSISTENCY__CONSISTENCY_BOUNDED_STALENESS);
        assert_int_equal(o->session_flags, 9);
        assert_int_equal(o->min_index, 77);
        assert_int_equal(o->max_staleness_ms, 250);
        assert_int_equal(o->max_lag_entries, 9);
        assert_int_equal(o->route, TUNEKV__V1__ROUTE__ROUTE_NEAREST);
        assert_int_equal(o->on_unmet, TUNEKV__V1__ON_UNMET__ON_UNMET_SERVE_STALE_LABELLED);
        assert_int_equal(o->max_wait_ms, 31);
        assert_true(o->strict);
        assert_int_equal(o->token.len, 0);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

static void test_encode_get_default_options(void **state)
{
        struct codec_request req = {.op = CODEC_GET, .id = 1, .key = "k", .key_len = 1};
        struct buffer b;
        Tunekv__V1__Request *m;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &req), TKV_OK);
        m = unpack_request_frame(&b);
        assert_non_null(m);
        assert_int_equal(m->timeout_ms, 0);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_GET);
        assert_null(m->get->options);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

static void test_encode_writes(void **state)
{
        struct tkv_write_options wo = {
            .ack = TKV_ACK_ALL_REPLICAS, .timeout_ms = 9, .lease = 0x0001000000000abcull};
        struct codec_request put = {.op = CODEC_PUT,
                                    .id = 2,
                                    .timeout_ms = 10,
                                    .key = "a",
                                    .key_len = 1,
                                    .value = "v\0x",
                                    .value_len = 3,
                                    .write = &wo};
        struct codec_request del = {.op = CODEC_DELETE, .id = 3, .key = "bb", .key_len = 2};
        struct codec_request cas = {.op = CODEC_CAS,
                                    .id = 4,
                                    .key = "c",
                                    .key_len = 1,
                                    .value = "new",
                                    .value_len = 3,
                                    .expected_version = 17,
                                    .write = &wo};
        struct buffer b;
        Tunekv__V1__Request *m;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &put), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->id, 2);
        assert_int_equal(m->timeout_ms, 10);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_PUT);
        assert_memory_equal(m->put->key.data, "a", 1);
        assert_int_equal(m->put->value.len, 3);
        assert_memory_equal(m->put->value.data, "v\0x", 3);
        assert_int_equal(m->put->options->ack, TUNEKV__V1__ACK__ACK_ALL_REPLICAS);
        assert_true(m->put->lease == 0x0001000000000abcull);
        tunekv__v1__request__free_unpacked(m, NULL);

        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &del), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_DELETE);
        assert_int_equal(m->delete_->key.len, 2);
        assert_null(m->delete_->options);
        tunekv__v1__request__free_unpacked(m, NULL);

        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &cas), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_CAS);
        assert_int_equal(m->cas->expected_version, 17);
        assert_memory_equal(m->cas->value.data, "new", 3);
        assert_int_equal(m->cas->options->ack, TUNEKV__V1__ACK__ACK_ALL_REPLICAS);
        assert_true(m->cas->lease == 0x0001000000000abcull);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

static void test_encode_status_and_append(void **state)
{
        struct codec_request st = {.op = CODEC_STATUS, .id = 5, .timeout_ms = 100};
        struct buffer b;
        size_t first;
        size_t body_len = 0;
        Tunekv__V1__Request *m;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &st), TKV_OK);
        first = buffer_len(&b);
        st.id = 6;
        assert_int_equal(codec_encode_request(&b, &st), TKV_OK); /* appends */
        assert_int_equal(frame_parse(buffer_data(&b), buffer_len(&b), 1024, &body_len), 0);
        assert_int_equal(FRAME_HEADER_BYTES + body_len, first);
        m = tunekv__v1__request__unpack(NULL, body_len, buffer_data(&b) + FRAME_HEADER_BYTES);
        assert_int_equal(m->id, 5);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_STATUS);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_consume(&b, first);
        m = unpack_request_frame(&b);
        assert_int_equal(m->id, 6);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

static void test_encode_idempotent_write(void **state)
{
        struct codec_request del = {.op = CODEC_DELETE,
                                    .id = 8,
                                    .key = "d",
                                    .key_len = 1,
                                    .no_forward = true,
                                    .client_id = 0xfeedfacecafebeefull,
                                    .seq = 41,
                                    .retry = true};
        struct codec_request info = {.op = CODEC_CLUSTER_INFO, .id = 9, .timeout_ms = 7};
        struct buffer b;
        Tunekv__V1__Request *m;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &del), TKV_OK);
        assert_int_equal(buffer_len(&b), codec_request_bytes(&del));
        m = unpack_request_frame(&b);
        assert_true(m->no_forward);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_DELETE);
        /* The triple makes WriteOptions appear even without write options. */
        assert_non_null(m->delete_->options);
        assert_int_equal(m->delete_->options->client_id, 0xfeedfacecafebeefull);
        assert_int_equal(m->delete_->options->seq, 41);
        assert_true(m->delete_->options->retry);
        assert_int_equal(m->delete_->options->ack, TUNEKV__V1__ACK__ACK_COMMITTED);
        tunekv__v1__request__free_unpacked(m, NULL);

        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &info), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->id, 9);
        assert_int_equal(m->timeout_ms, 7);
        assert_false(m->no_forward);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

/* A TXN frame: the builder's packed fields inside field 40, then the
 * attempt's WriteOptions, decoding to one TxnRequest with both. */
static void test_encode_txn(void **state)
{
        struct buffer body, b;
        struct codec_request txn = {.op = CODEC_TXN,
                                    .id = 12,
                                    .timeout_ms = 900,
                                    .key = "{t}a",
                                    .key_len = 4,
                                    .client_id = 77,
                                    .seq = 5,
                                    .retry = true,
                                    .token = "tk",
                                    .token_len = 2};
        Tunekv__V1__Request *m;
        Tunekv__V1__TxnRequest *t;

        (void)state;
        buffer_init(&body);
        buffer_init(&b);
        assert_int_equal(codec_txn_append(&body, 1, TUNEKV__V1__COMPARE_TARGET__COMPARE_VALUE,
                                          TUNEKV__V1__COMPARE_OP__COMPARE_LESS, "{t}a", 4, 0, "zz",
                                          2),
                         TKV_OK);
        assert_int_equal(
            codec_txn_append(&body, 3, TUNEKV__V1__TXN_OP_TYPE__TXN_GET, 0, "{t}b", 4, 0, NULL, 0),
            TKV_OK);
        assert_int_equal(
            codec_txn_append(&body, 2, TUNEKV__V1__TXN_OP_TYPE__TXN_PUT, 0, "{t}a", 4, 0, "v", 1),
            TKV_OK);
        txn.value = buffer_data(&body);
        txn.value_len = buffer_len(&body);
        assert_int_equal(codec_encode_request(&b, &txn), TKV_OK);
        assert_int_equal(buffer_len(&b), codec_request_bytes(&txn));
        m = unpack_request_frame(&b);
        assert_int_equal(m->id, 12);
        assert_int_equal(m->timeout_ms, 900);
        assert_int_equal(m->body_case, TUNEKV__V1__REQUEST__BODY_TXN);
        t = m->txn;
        assert_int_equal(t->n_compares, 1);
        assert_int_equal(t->compares[0]->target, TUNEKV__V1__COMPARE_TARGET__COMPARE_VALUE);
        assert_int_equal(t->compares[0]->op, TUNEKV__V1__COMPARE_OP__COMPARE_LESS);
        assert_memory_equal(t->compares[0]->value.data, "zz", 2);
        /* Interleaved branches keep their order within each. */
        assert_int_equal(t->n_success, 1);
        assert_int_equal(t->success[0]->type, TUNEKV__V1__TXN_OP_TYPE__TXN_PUT);
        assert_memory_equal(t->success[0]->value.data, "v", 1);
        assert_int_equal(t->n_failure, 1);
        assert_memory_equal(t->failure[0]->key.data, "{t}b", 4);
        assert_non_null(t->options);
        assert_int_equal(t->options->client_id, 77);
        assert_int_equal(t->options->seq, 5);
        assert_true(t->options->retry);
        assert_memory_equal(t->options->token.data, "tk", 2);
        tunekv__v1__request__free_unpacked(m, NULL);

        /* Without a session or token: no WriteOptions at all. */
        buffer_reset(&b);
        txn.client_id = txn.seq = 0;
        txn.retry = false;
        txn.token_len = 0;
        assert_int_equal(codec_encode_request(&b, &txn), TKV_OK);
        assert_int_equal(buffer_len(&b), codec_request_bytes(&txn));
        m = unpack_request_frame(&b);
        assert_null(m->txn->options);
        assert_int_equal(m->txn->n_success, 1);
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
        buffer_free(&body);
}

static void txn_decoded_cb(void *arg, uint64_t id, enum codec_body body,
                           const struct tkv_result *res, const struct codec_extra *extra)
{
        int *calls = arg;
        (*calls)++;
        assert_int_equal(id, 4);
        assert_int_equal(body, CODEC_BODY_TXN);
        assert_int_equal(res->status, TKV_OK);
        assert_false(res->txn_succeeded);
        assert_int_equal(res->index, 90);
        assert_int_equal(res->partition, 2);
        assert_int_equal(res->txn_n_results, 2);
        assert_int_equal(res->txn_results[0].type, TKV_TXN_GET);
        assert_true(res->txn_results[0].found);
        assert_int_equal(res->txn_results[0].value_len, 3);
        assert_memory_equal(res->txn_results[0].value, "abc", 3);
        assert_int_equal(res->txn_results[0].mod_index, 80);
        assert_int_equal(res->txn_results[1].type, TKV_TXN_DELETE);
        assert_false(res->txn_results[1].found);
        assert_null(res->txn_results[1].value);
        assert_int_equal(extra->token_len, 2);
}

static void test_decode_txn(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__TxnResponse t = TUNEKV__V1__TXN_RESPONSE__INIT;
        Tunekv__V1__TxnOpResult r0 = TUNEKV__V1__TXN_OP_RESULT__INIT;
        Tunekv__V1__TxnOpResult r1 = TUNEKV__V1__TXN_OP_RESULT__INIT;
        Tunekv__V1__TxnOpResult *rs[2] = {&r0, &r1};
        size_t len;
        uint8_t *buf;
        int calls = 0;

        (void)state;
        m.id = 4;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_TXN;
        m.txn = &t;
        t.index = 90;
        t.partition = 2;
        t.n_results = 2;
        t.results = rs;
        t.token.data = (uint8_t *)"tk";
        t.token.len = 2;
        r0.type = TUNEKV__V1__TXN_OP_TYPE__TXN_GET;
        r0.found = true;
        r0.value.data = (uint8_t *)"abc";
        r0.value.len = 3;
        r0.mod_index = 80;
        r1.type = TUNEKV__V1__TXN_OP_TYPE__TXN_DELETE;
        len = tunekv__v1__response__get_packed_size(&m);
        buf = malloc(len);
        assert_non_null(buf);
        tunekv__v1__response__pack(&m, buf);
        assert_int_equal(codec_decode_response(buf, len, txn_decoded_cb, &calls), TKV_OK);
        assert_int_equal(calls, 1);
        free(buf);
}

static void test_encode_too_big(void **state)
{
        static const char small[1] = "x";
        struct codec_request put = {.op = CODEC_PUT,
                                    .id = 1,
                                    .key = "k",
                                    .key_len = 1,
                                    .value = small,
                                    .value_len = CODEC_FRAME_BYTES_MAX};
        struct buffer b;

        (void)state;
        buffer_init(&b);
        /* Only sizes are computed before the check, so the short buffer is
         * never read. */
        assert_int_equal(codec_encode_request(&b, &put), TKV_USAGE_ERROR);
        assert_int_equal(buffer_len(&b), 0);
        buffer_free(&b);
}

/* ---- Codec: responses ---- */

static void test_decode_get(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt r = TUNEKV__V1__READ_RECEIPT__INIT;
        struct decoded d;

        (void)state;
        m.id = 99;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        m.get = &g;
        g.found = 1;
        g.value.data = (uint8_t *)"hello";
        g.value.len = 5;
        g.create_index = 3;
        g.mod_index = 8;
        g.receipt = &r;
        r.node_id = 2;
        r.role = TUNEKV__V1__ROLE__ROLE_FOLLOWER;
        r.term = 4;
        r.applied_index = 10;
        r.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_EVENTUAL;
        r.staleness_ms = -1;
        r.lag_entries = 2;
        r.fallback = 1;
        r.partition = 5;
        r.leader_known = 1;
        g.token.data = (uint8_t *)"\x01\x00\x00\x00";
        g.token.len = 4;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.id, 99);
        assert_int_equal(d.body, CODEC_BODY_GET);
        assert_int_equal(d.res.status, TKV_OK);
        assert_string_equal(d.res.message, "");
        assert_true(d.res.found);
        assert_int_equal(d.res.value_len, 5);
        assert_memory_equal(d.res.value, "hello", 5);
        assert_int_equal(d.res.create_index, 3);
        assert_int_equal(d.res.mod_index, 8);
        assert_int_equal(d.res.partition, 5);
        assert_int_equal(d.res.receipt.node_id, 2);
        assert_int_equal(d.res.receipt.role, TKV_ROLE_FOLLOWER);
        assert_int_equal(d.res.receipt.term, 4);
        assert_int_equal(d.res.receipt.applied_index, 10);
        assert_int_equal(d.res.receipt.level, TKV_EVENTUAL);
        assert_int_equal(d.res.receipt.staleness_ms, -1);
        assert_int_equal(d.res.receipt.lag_entries, 2);
        assert_true(d.res.receipt.fallback);
        assert_int_equal(d.res.receipt.partition, 5);
        assert_true(d.res.receipt.leader_known);
        assert_null(d.res.node);
        /* The token delta is passed on as it came, for the client to merge. */
        assert_int_equal(d.token_len, 4);
        assert_memory_equal(d.token, "\x01\x00\x00\x00", 4);
        r.leader_known = 0;
        g.token.len = 0;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_false(d.res.receipt.leader_known);
        assert_int_equal(d.token_len, 0);
}

static void test_decode_get_empty_and_missing(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;
        struct decoded d;

        (void)state;
        m.id = 1;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        m.get = &g;
        g.found = 1; /* an empty value still has an address */
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_true(d.res.found);
        assert_non_null(d.res.value);
        assert_int_equal(d.res.value_len, 0);
        assert_int_equal(d.res.receipt.staleness_ms, -1); /* no receipt: unknown */

        m.status = TUNEKV__V1__STATUS__STATUS_NOT_FOUND;
        m.message = "no such key";
        g.found = 0;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.status, TKV_NOT_FOUND);
        assert_string_equal(d.res.message, "no such key");
        assert_false(d.res.found);
        assert_null(d.res.value);
}

static void test_decode_write_and_errors(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        struct decoded d;

        (void)state;
        m.id = 7;
        m.status = TUNEKV__V1__STATUS__STATUS_CONDITION_FAILED;
        m.message = "version is 12";
        m.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        m.write = &w;
        w.index = 0;
        w.current_version = 12;
        w.partition = 3;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.body, CODEC_BODY_WRITE);
        assert_int_equal(d.res.status, TKV_CONDITION_FAILED);
        assert_string_equal(d.res.message, "version is 12");
        assert_int_equal(d.res.current_version, 12);
        assert_int_equal(d.res.partition, 3);

        w.index = 55;
        w.ack = TUNEKV__V1__ACK__ACK_ALL_REPLICAS;
        w.durable = 1;
        w.token.data = (uint8_t *)"tok";
        w.token.len = 3;
        m.status = TUNEKV__V1__STATUS__STATUS_OK;
        m.message = NULL;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.status, TKV_OK);
        assert_int_equal(d.res.index, 55);
        assert_string_equal(d.res.message, "");
        assert_int_equal(d.res.ack, TKV_ACK_ALL_REPLICAS);
        assert_true(d.res.durable);
        assert_int_equal(d.token_len, 3);
        assert_memory_equal(d.token, "tok", 3);
        w.ack = TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED;
        w.durable = 0;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.ack, TKV_ACK_LEADER_ACCEPTED);
        assert_false(d.res.durable);

        m.status = TUNEKV__V1__STATUS__STATUS_NOT_LEADER;
        m.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        m.leader_hint = &hint;
        hint.node_id = 3;
        hint.client_addr = "127.0.0.1:7003";
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.body, CODEC_BODY_NONE);
        assert_int_equal(d.res.status, TKV_NOT_LEADER);
        assert_int_equal(d.res.leader_id, 3);
        assert_string_equal(d.leader_addr, "127.0.0.1:7003");

        m.leader_hint = NULL;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.leader_id, 0);
        assert_string_equal(d.leader_addr, "");
        assert_int_equal(d.token_len, 0);
}

static void test_decode_bound_unmet(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        Tunekv__V1__BoundUnmet bound = TUNEKV__V1__BOUND_UNMET__INIT;
        struct decoded d;

        (void)state;
        m.id = 8;
        m.status = TUNEKV__V1__STATUS__STATUS_BOUND_UNMET;
        m.message = "applied 90 < required 100";
        m.leader_hint = &hint;
        m.bound = &bound;
        hint.node_id = 2;
        hint.client_addr = "127.0.0.1:7002";
        bound.required_index = 100;
        bound.applied_index = 90;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.body, CODEC_BODY_NONE);
        assert_int_equal(d.res.status, TKV_BOUND_UNMET);
        assert_int_equal(d.res.bound_required_index, 100);
        assert_int_equal(d.res.bound_applied_index, 90);
        assert_int_equal(d.res.leader_id, 2);
        assert_string_equal(d.leader_addr, "127.0.0.1:7002");
        /* No bound, no leader known. */
        m.bound = NULL;
        hint.node_id = 0;
        hint.client_addr = "";
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.bound_required_index, 0);
        assert_int_equal(d.res.bound_applied_index, 0);
        assert_int_equal(d.res.leader_id, 0);
}

static void test_encode_tokens(void **state)
{
        static const uint8_t tok[] = {1, 0, 0, 0};
        struct tkv_read_options ro = {.level = TKV_CAUSAL};
        struct tkv_write_options wo = {.ack = TKV_ACK_LEADER_ACCEPTED};
        struct codec_request get = {.op = CODEC_GET,
                                    .id = 5,
                                    .key = "k",
                                    .key_len = 1,
                                    .read = &ro,
                                    .token = tok,
                                    .token_len = sizeof(tok)};
        struct codec_request put = {.op = CODEC_PUT,
                                    .id = 6,
                                    .key = "k",
                                    .key_len = 1,
                                    .value = "v",
                                    .value_len = 1,
                                    .token = tok,
                                    .token_len = sizeof(tok)};
        struct buffer b;
        Tunekv__V1__Request *m;

        (void)state;
        buffer_init(&b);
        assert_int_equal(codec_encode_request(&b, &get), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->get->options->level, TUNEKV__V1__CONSISTENCY__CONSISTENCY_CAUSAL);
        assert_int_equal(m->get->options->token.len, sizeof(tok));
        assert_memory_equal(m->get->options->token.data, tok, sizeof(tok));
        tunekv__v1__request__free_unpacked(m, NULL);
        /* A token without read options: default options carry it. */
        get.read = NULL;
        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &get), TKV_OK);
        m = unpack_request_frame(&b);
        assert_non_null(m->get->options);
        assert_int_equal(m->get->options->level, 0);
        assert_int_equal(m->get->options->token.len, sizeof(tok));
        tunekv__v1__request__free_unpacked(m, NULL);
        /* Writes: in WriteOptions, with or without the caller's options. */
        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &put), TKV_OK);
        m = unpack_request_frame(&b);
        assert_non_null(m->put->options);
        assert_int_equal(m->put->options->token.len, sizeof(tok));
        assert_memory_equal(m->put->options->token.data, tok, sizeof(tok));
        tunekv__v1__request__free_unpacked(m, NULL);
        put.write = &wo;
        buffer_reset(&b);
        assert_int_equal(codec_encode_request(&b, &put), TKV_OK);
        m = unpack_request_frame(&b);
        assert_int_equal(m->put->options->ack, TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED);
        assert_int_equal(m->put->options->token.len, sizeof(tok));
        tunekv__v1__request__free_unpacked(m, NULL);
        buffer_free(&b);
}

static void test_decode_every_status(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        struct decoded d;
        int s;

        (void)state;
        for (s = 0; s <= 12; s++) {
                m.status = (Tunekv__V1__Status)s;
                assert_int_equal(decode_packed(&m, &d), TKV_OK);
                assert_int_equal(d.res.status, s); /* 1:1 onto enum tkv_code */
        }
        m.status = (Tunekv__V1__Status)42;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.res.status, TKV_PROTOCOL_ERROR);
        assert_non_null(strstr(d.res.message, "42"));
}

static void check_decoded_node(const struct tkv_node_status *node)
{
        assert_int_equal(node->node_id, 1);
        assert_string_equal(node->version, "0.1.0");
        assert_int_equal(node->uptime_ms, 65000);
        assert_int_equal(node->connections, 4);
        assert_int_equal(node->partition_count, 2);
        assert_int_equal(node->frame_bytes_max, 4u << 20);
        assert_int_equal(node->key_bytes_max, 4096);
        assert_int_equal(node->value_bytes_max, 1u << 20);
        assert_int_equal(node->inflight_per_conn_max, 128);
        assert_int_equal(node->conns_max, 1000);
        assert_int_equal(node->leases_max, 10000);
        assert_int_equal(node->lease_keys_max, 1000);
        assert_int_equal(node->lease_ttl_min_ms, 1000);
        assert_int_equal(node->lease_ttl_max_ms, 3600000);
        assert_int_equal(node->n_partitions, 2);
        assert_int_equal(node->partitions[0].role, TKV_ROLE_LEADER);
        assert_int_equal(node->partitions[0].leader_id, 1);
        assert_int_equal(node->partitions[0].term, 2);
        assert_int_equal(node->partitions[0].commit_index, 10);
        assert_int_equal(node->partitions[0].applied_index, 9);
        assert_int_equal(node->partitions[0].last_index, 11);
        assert_int_equal(node->partitions[0].snapshot_index, 5);
        assert_int_equal(node->partitions[0].keys, 100);
        assert_true(node->partitions[0].ready);
        assert_int_equal(node->partitions[0].n_replicas, 3);
        assert_int_equal(node->partitions[0].replicas[2], 3);
        assert_int_equal(node->partitions[1].partition, 1);
        assert_int_equal(node->partitions[1].n_replicas, 8);
        assert_int_equal(node->partitions[1].replicas[7], 8);
}

static void test_decode_status(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__StatusResponse s = TUNEKV__V1__STATUS_RESPONSE__INIT;
        Tunekv__V1__Limits lim = TUNEKV__V1__LIMITS__INIT;
        Tunekv__V1__PartitionStatus p0 = TUNEKV__V1__PARTITION_STATUS__INIT;
        Tunekv__V1__PartitionStatus p1 = TUNEKV__V1__PARTITION_STATUS__INIT;
        Tunekv__V1__PartitionStatus *parts[2] = {&p0, &p1};
        uint32_t replicas[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        struct decoded d;

        (void)state;
        m.id = 3;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        m.status_info = &s;
        s.node_id = 1;
        s.version = "0.1.0";
        s.uptime_ms = 65000;
        s.connections = 4;
        s.partition_count = 2;
        s.n_partitions = 2;
        s.partitions = parts;
        s.limits = &lim;
        lim.frame_bytes_max = 4u << 20;
        lim.key_bytes_max = 4096;
        lim.value_bytes_max = 1u << 20;
        lim.inflight_per_conn_max = 128;
        lim.conns_max = 1000;
        lim.leases_max = 10000;
        lim.lease_keys_max = 1000;
        lim.lease_ttl_min_ms = 1000;
        lim.lease_ttl_max_ms = 3600000;
        p0.partition = 0;
        p0.role = TUNEKV__V1__ROLE__ROLE_LEADER;
        p0.leader_id = 1;
        p0.term = 2;
        p0.commit_index = 10;
        p0.applied_index = 9;
        p0.last_index = 11;
        p0.snapshot_index = 5;
        p0.keys = 100;
        p0.ready = 1;
        p0.n_replicas = 3;
        p0.replicas = replicas;
        p1.partition = 1;
        p1.n_replicas = 10; /* more than tkv_partition_status holds */
        p1.replicas = replicas;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.body, CODEC_BODY_STATUS);
        assert_non_null(d.node);
        check_decoded_node(d.node);
        tkv_free(d.node);
}

static void test_decode_cluster_info(void **state)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ClusterInfoResponse ci = TUNEKV__V1__CLUSTER_INFO_RESPONSE__INIT;
        Tunekv__V1__NodeInfo n1 = TUNEKV__V1__NODE_INFO__INIT;
        Tunekv__V1__NodeInfo n2 = TUNEKV__V1__NODE_INFO__INIT;
        Tunekv__V1__NodeInfo *nodes[2] = {&n1, &n2};
        Tunekv__V1__PartitionInfo p0 = TUNEKV__V1__PARTITION_INFO__INIT;
        Tunekv__V1__PartitionInfo p1 = TUNEKV__V1__PARTITION_INFO__INIT;
        Tunekv__V1__PartitionInfo *parts[2] = {&p0, &p1};
        uint32_t r0[3] = {1, 2, 3};
        uint32_t r1[9] = {2, 1, 3, 4, 5, 6, 7, 8, 9}; /* more than the public 8 */
        struct decoded d;
        struct tkv_cluster_info *copy;

        (void)state;
        m.id = 3;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO;
        m.cluster_info = &ci;
        ci.partition_count = 2;
        ci.node_id = 2;
        ci.n_nodes = 2;
        ci.nodes = nodes;
        ci.n_partitions = 2;
        ci.partitions = parts;
        n1.node_id = 1;
        n1.client_addr = "127.0.0.1:7001";
        n2.node_id = 2; /* no address: decodes as "" */
        p0.partition = 0;
        p0.leader_id = 1;
        p0.n_replicas = 3;
        p0.replicas = r0;
        p1.partition = 1;
        p1.n_replicas = 9;
        p1.replicas = r1;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_int_equal(d.body, CODEC_BODY_CLUSTER);
        assert_non_null(d.cluster);
        assert_int_equal(d.cluster->partition_count, 2);
        assert_int_equal(d.cluster->node_id, 2);
        assert_int_equal(d.cluster->n_nodes, 2);
        assert_string_equal(d.cluster->nodes[0].client_addr, "127.0.0.1:7001");
        assert_string_equal(d.cluster->nodes[1].client_addr, "");
        assert_int_equal(d.cluster->nodes[1].node_id, 2);
        assert_int_equal(d.cluster->partitions[0].leader_id, 1);
        assert_int_equal(d.cluster->partitions[0].n_replicas, 3);
        assert_int_equal(d.cluster->partitions[0].replicas[2], 3);
        assert_int_equal(d.cluster->partitions[1].leader_id, 0);
        assert_int_equal(d.cluster->partitions[1].n_replicas, 8);
        /* A copy is one block that stands alone. */
        copy = tkv_malloc(codec_cluster_bytes(d.cluster));
        codec_cluster_copy(copy, d.cluster);
        tkv_free(d.cluster);
        assert_string_equal(copy->nodes[0].client_addr, "127.0.0.1:7001");
        assert_int_equal(copy->partitions[1].replicas[7], 8);
        tkv_free(copy);
}

static void test_decode_garbage(void **state)
{
        static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        static const uint8_t truncated[] = {0x08}; /* field 1 varint, no value */
        struct decoded d;

        (void)state;
        memset(&d, 0, sizeof(d));
        assert_int_equal(codec_decode_response(garbage, sizeof(garbage), decoded_cb, &d),
                         TKV_PROTOCOL_ERROR);
        assert_int_equal(codec_decode_response(truncated, sizeof(truncated), decoded_cb, &d),
                         TKV_PROTOCOL_ERROR);
        assert_int_equal(d.calls, 0);
        /* Zero bytes are a valid, all-default Response. */
        assert_int_equal(codec_decode_response(truncated, 0, decoded_cb, &d), TKV_OK);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.id, 0);
}

/* ---- Endpoints and names ---- */

static void test_endpoints_parse(void **state)
{
        struct client_endpoint *e = NULL;
        unsigned n = 0;
        char err[256];

        (void)state;
        assert_int_equal(client_endpoints_parse("127.0.0.1:7001", &e, &n, err, sizeof(err)),
                         TKV_OK);
        assert_int_equal(n, 1);
        assert_string_equal(e[0].host, "127.0.0.1");
        assert_string_equal(e[0].port, "7001");
        assert_string_equal(e[0].name, "127.0.0.1:7001");
        tkv_free(e);

        assert_int_equal(client_endpoints_parse(" a:1 , node-b.example:65535,[::1]:7002", &e, &n,
                                                err, sizeof(err)),
                         TKV_OK);
        assert_int_equal(n, 3);
        assert_string_equal(e[0].host, "a");
        assert_string_equal(e[0].port, "1");
        assert_string_equal(e[0].name, "a:1");
        assert_string_equal(e[1].host, "node-b.example");
        assert_string_equal(e[1].port, "65535");
        assert_string_equal(e[2].host, "::1");
        assert_string_equal(e[2].port, "7002");
        assert_string_equal(e[2].name, "[::1]:7002");
        tkv_free(e);
}

static void test_endpoints_parse_errors(void **state)
{
        static const char *const bad[] = {
            "",           "host",      "host:",   ":7001", "host:0",
            "host:65536", "host:7x",   "host:-1", "a:1,",  "a:1,,b:2",
            "::1:7001",   "[::1]7001", "[::1",    "[]:1",  "host:99999999999999999999",
        };
        struct client_endpoint *e = NULL;
        char long_host[400];
        unsigned n = 7;
        char err[256];
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                assert_int_equal(client_endpoints_parse(bad[i], &e, &n, err, sizeof(err)),
                                 TKV_USAGE_ERROR);
                assert_null(e);
                assert_int_equal(n, 0);
                assert_non_null(strstr(err, "endpoint"));
        }
        memset(long_host, 'h', sizeof(long_host));
        snprintf(long_host + 300, sizeof(long_host) - 300, ":1");
        assert_int_equal(client_endpoints_parse(long_host, &e, &n, err, sizeof(err)),
                         TKV_USAGE_ERROR);
}

static void test_status_names(void **state)
{
        static const struct {
                int code;
                const char *name;
        } names[] = {
            {TKV_OK, "OK"},
            {TKV_NOT_FOUND, "NOT_FOUND"},
            {TKV_CONDITION_FAILED, "CONDITION_FAILED"},
            {TKV_NOT_LEADER, "NOT_LEADER"},
            {TKV_BOUND_UNMET, "BOUND_UNMET"},
            {TKV_NO_QUORUM, "NO_QUORUM"},
            {TKV_TIMEOUT, "TIMEOUT"},
            {TKV_OUTCOME_UNKNOWN, "OUTCOME_UNKNOWN"},
            {TKV_INVALID_ARGUMENT, "INVALID_ARGUMENT"},
            {TKV_TOO_LARGE, "TOO_LARGE"},
            {TKV_BUSY, "BUSY"},
            {TKV_UNAVAILABLE, "UNAVAILABLE"},
            {TKV_INTERNAL, "INTERNAL"},
            {TKV_NO_SPACE, "NO_SPACE"},
            {TKV_CONNECT_FAILED, "CONNECT_FAILED"},
            {TKV_PROTOCOL_ERROR, "PROTOCOL_ERROR"},
            {TKV_NO_MEMORY, "NO_MEMORY"},
            {TKV_CONNECTION_CLOSED, "CONNECTION_CLOSED"},
            {TKV_USAGE_ERROR, "USAGE_ERROR"},
            {TKV_UNAUTHENTICATED, "UNAUTHENTICATED"},
            {TKV_PERMISSION_DENIED, "PERMISSION_DENIED"},
            {TKV_COMPACTED, "COMPACTED"},
            {CODEC_STATUS_MAX + 1, "UNKNOWN"},
            {-1, "UNKNOWN"},
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                assert_string_equal(tkv_status_name(names[i].code), names[i].name);
        }
        /* The wire enum and the public codes are the same numbers. */
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_OUTCOME_UNKNOWN, TKV_OUTCOME_UNKNOWN);
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_INTERNAL, TKV_INTERNAL);
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_NO_SPACE, TKV_NO_SPACE);
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_UNAUTHENTICATED, TKV_UNAUTHENTICATED);
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_COMPACTED, TKV_COMPACTED);
        assert_int_equal(TUNEKV__V1__STATUS__STATUS_PERMISSION_DENIED, TKV_PERMISSION_DENIED);
}

static void test_result_release(void **state)
{
        struct tkv_result r;

        (void)state;
        memset(&r, 0, sizeof(r));
        tkv_result_release(&r);
        tkv_result_release(&r);
        assert_non_null(r.message);
        tkv_result_release(NULL);
}

/* ---- The client against a scripted server ---- */

struct fake {
        int lfd;
        int fd;
        char endpoints[64];
};

static void fake_listen(struct fake *f)
{
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int one = 1;

        f->fd = -1;
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(f->lfd >= 0);
        setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 8), 0);
        assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
        snprintf(f->endpoints, sizeof(f->endpoints), "127.0.0.1:%u", ntohs(sa.sin_port));
}

static void fake_accept(struct fake *f)
{
        f->fd = accept(f->lfd, NULL, NULL);
        assert_true(f->fd >= 0);
}

static void fake_hangup(struct fake *f)
{
        close(f->fd);
        f->fd = -1;
}

static void fake_close(struct fake *f)
{
        if (f->fd >= 0) {
                close(f->fd);
        }
        close(f->lfd);
}

static void fake_read_all(int fd, void *p, size_t n)
{
        ssize_t k;

        while (n > 0) {
                k = read(fd, p, n);
                assert_true(k > 0);
                p = (char *)p + k;
                n -= (size_t)k;
        }
}

static void fake_write_all(int fd, const void *p, size_t n)
{
        ssize_t k;

        while (n > 0) {
                k = write(fd, p, n);
                assert_true(k > 0);
                p = (const char *)p + k;
                n -= (size_t)k;
        }
}

/* Read one request frame (blocking); the caller frees it. */
static Tunekv__V1__Request *fake_recv(struct fake *f)
{
        uint8_t header[FRAME_HEADER_BYTES];
        uint8_t *body;
        uint32_t len;
        Tunekv__V1__Request *m;

        fake_read_all(f->fd, header, sizeof(header));
        len = get_be32(header);
        body = malloc(len + 1);
        fake_read_all(f->fd, body, len);
        m = tunekv__v1__request__unpack(NULL, len, body);
        free(body);
        assert_non_null(m);
        return m;
}

/* Whether the client sent more than was read so far. */
static bool fake_has_input(struct fake *f)
{
        struct pollfd p = {f->fd, POLLIN, 0};
        return poll(&p, 1, 50) > 0;
}

static void fake_send(struct fake *f, const Tunekv__V1__Response *m)
{
        size_t len = tunekv__v1__response__get_packed_size(m);
        uint8_t *buf = malloc(FRAME_HEADER_BYTES + len);

        frame_put_header(buf, (uint32_t)len);
        tunekv__v1__response__pack(m, buf + FRAME_HEADER_BYTES);
        fake_write_all(f->fd, buf, FRAME_HEADER_BYTES + len);
        free(buf);
}

/* Answer a write request: OK at index. */
static void fake_ack(struct fake *f, uint64_t id, uint64_t index)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse w = TUNEKV__V1__WRITE_RESPONSE__INIT;

        m.id = id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        m.write = &w;
        w.index = index;
        w.partition = 1;
        fake_send(f, &m);
}

/* Answer a get: found, value. */
static void fake_value(struct fake *f, uint64_t id, const char *value)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse g = TUNEKV__V1__GET_RESPONSE__INIT;

        m.id = id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        m.get = &g;
        g.found = 1;
        g.value.data = (uint8_t *)(uintptr_t)value;
        g.value.len = strlen(value);
        g.mod_index = 4;
        fake_send(f, &m);
}

/* Answer a CLUSTER_INFO: a one-node cluster (node 1 at f's address) of 4
 * partitions, all led by node 1. */
static void fake_map(struct fake *f, uint64_t id)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__ClusterInfoResponse ci = TUNEKV__V1__CLUSTER_INFO_RESPONSE__INIT;
        Tunekv__V1__NodeInfo n = TUNEKV__V1__NODE_INFO__INIT;
        Tunekv__V1__NodeInfo *nodes[1] = {&n};
        Tunekv__V1__PartitionInfo p[4];
        Tunekv__V1__PartitionInfo *parts[4];
        uint32_t replicas[1] = {1};
        int i;

        m.id = id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO;
        m.cluster_info = &ci;
        ci.partition_count = 4;
        ci.node_id = 1;
        ci.n_nodes = 1;
        ci.nodes = nodes;
        n.node_id = 1;
        n.client_addr = f->endpoints;
        for (i = 0; i < 4; i++) {
                tunekv__v1__partition_info__init(&p[i]);
                p[i].partition = (uint32_t)i;
                p[i].leader_id = 1;
                p[i].n_replicas = 1;
                p[i].replicas = replicas;
                parts[i] = &p[i];
        }
        ci.n_partitions = 4;
        ci.partitions = parts;
        fake_send(f, &m);
}

/* The next request that is not a CLUSTER_INFO; those are answered with
 * fake_map on the way, and c (unless NULL: another process polls it) is
 * polled until it sends what waited for the map. */
static Tunekv__V1__Request *fake_recv_kv(struct fake *f, struct tkv_client *c)
{
        Tunekv__V1__Request *m;
        int i;

        for (;;) {
                m = fake_recv(f);
                if (m->body_case != TUNEKV__V1__REQUEST__BODY_CLUSTER_INFO) {
                        return m;
                }
                fake_map(f, m->id);
                tunekv__v1__request__free_unpacked(m, NULL);
                for (i = 0; c != NULL && i < 100 && !fake_has_input(f); i++) {
                        assert_true(tkv_poll(c, 0) >= 0);
                }
        }
}

/* What one callback saw; order is the global completion order. */
struct seen {
        int calls;
        int status;
        int order;
        uint64_t index;
        char value[64];
        char message[256];
};

static int seen_order;

static void seen_cb(struct tkv_client *c, const struct tkv_result *res, void *arg)
{
        struct seen *s = arg;

        (void)c;
        s->calls++;
        s->status = res->status;
        s->order = ++seen_order;
        s->index = res->index;
        snprintf(s->message, sizeof(s->message), "%s", res->message);
        snprintf(s->value, sizeof(s->value), "%.*s", (int)res->value_len,
                 res->value != NULL ? (const char *)res->value : "");
}

static struct tkv_client *fake_client(struct fake *f, unsigned timeout_ms, unsigned inflight)
{
        struct tkv_options o;
        struct tkv_client *c = NULL;
        char err[256];

        memset(&o, 0, sizeof(o));
        o.endpoints = f->endpoints;
        o.timeout_ms = timeout_ms;
        o.max_inflight = inflight;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);
        return c;
}

/* Poll until n more callbacks ran (bounded by the requests' deadlines). */
static void poll_for(struct tkv_client *c, int n)
{
        int done = 0;
        int rv;

        while (done < n) {
                rv = tkv_poll(c, 2000);
                assert_true(rv >= 0);
                assert_true(rv > 0 || tkv_pending(c) > 0);
                done += rv;
        }
        assert_int_equal(done, n);
}

static void test_client_pipeline(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen s[3];
        Tunekv__V1__Request *m[3];
        uint64_t unknown_before;
        int i;

        (void)state;
        memset(s, 0, sizeof(s));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_fd(c), -1); /* lazy connect */
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &s[0]), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &s[1]), TKV_OK);
        assert_int_equal(tkv_get_async(c, "j", 1, NULL, seen_cb, &s[2]), TKV_OK);
        assert_int_equal(tkv_pending(c), 3);
        assert_int_equal(tkv_poll(c, 0), 0);
        assert_true(tkv_fd(c) >= 0);
        fake_accept(&f);
        for (i = 0; i < 3; i++) {
                m[i] = fake_recv_kv(&f, c);
                assert_int_equal(m[i]->id, m[0]->id + (uint64_t)i); /* ids count up */
                /* The default deadline, less the time spent so far. */
                assert_in_range(m[i]->timeout_ms, 4000, 5000);
                assert_true(m[i]->no_forward); /* sent to the leader itself */
        }
        assert_int_equal(m[0]->id, 2); /* after the CLUSTER_INFO */
        assert_int_equal(m[0]->body_case, TUNEKV__V1__REQUEST__BODY_PUT);
        assert_int_not_equal(m[0]->put->options->client_id, 0);
        assert_int_equal(m[0]->put->options->seq, 1);
        assert_false(m[0]->put->options->retry);
        assert_null(m[1]->get->options);
        unknown_before = client_unknown_answers(c);
        seen_order = 0;
        fake_value(&f, m[2]->id, "J");
        fake_value(&f, 77, "nobody asked");
        fake_ack(&f, m[0]->id, 11);
        fake_value(&f, m[1]->id, "K");
        poll_for(c, 3);
        assert_int_equal(client_unknown_answers(c), unknown_before + 1);
        assert_int_equal(s[2].order, 1); /* answers complete in arrival order */
        assert_int_equal(s[0].order, 2);
        assert_int_equal(s[1].order, 3);
        assert_int_equal(s[0].status, TKV_OK);
        assert_int_equal(s[0].index, 11);
        assert_string_equal(s[1].value, "K");
        assert_string_equal(s[2].value, "J");
        assert_int_equal(tkv_pending(c), 0);
        assert_int_equal(tkv_poll(c, -1), 0); /* nothing pending: returns at once */
        for (i = 0; i < 3; i++) {
                tunekv__v1__request__free_unpacked(m[i], NULL);
        }
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_max_inflight(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen s[5];
        Tunekv__V1__Request *m;
        int i;

        (void)state;
        memset(s, 0, sizeof(s));
        fake_listen(&f);
        c = fake_client(&f, 0, 2);
        for (i = 0; i < 5; i++) {
                assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &s[i]), TKV_OK);
        }
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        for (i = 0; i < 5; i++) {
                m = fake_recv_kv(&f, c);
                assert_int_equal(m->put->options->seq, (uint64_t)i + 1);
                if (i % 2 == 1 || i == 4) {
                        /* Only two are ever on the wire. */
                        assert_false(fake_has_input(&f));
                }
                fake_ack(&f, m->id, 101 + (uint64_t)i);
                tunekv__v1__request__free_unpacked(m, NULL);
                if (i % 2 == 1 || i == 4) {
                        poll_for(c, i == 4 ? 1 : 2);
                }
        }
        for (i = 0; i < 5; i++) {
                assert_int_equal(s[i].calls, 1);
                assert_int_equal(s[i].index, 101 + (uint64_t)i);
        }
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_timeouts(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen put;
        struct seen get;
        struct tkv_write_options wo = {.timeout_ms = 300};
        struct tkv_read_options ro = {.timeout_ms = 400};
        Tunekv__V1__Request *m;
        uint64_t put_id;

        (void)state;
        memset(&put, 0, sizeof(put));
        memset(&get, 0, sizeof(get));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, &wo, seen_cb, &put), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, &ro, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        m = fake_recv_kv(&f, c);
        assert_in_range(m->timeout_ms, 150, 300); /* per-call option, less time spent */
        put_id = m->id;
        tunekv__v1__request__free_unpacked(m, NULL);
        m = fake_recv_kv(&f, c);
        assert_in_range(m->timeout_ms, 250, 400);
        tunekv__v1__request__free_unpacked(m, NULL);
        /* No answers: deadlines are timeout + 500 ms. */
        poll_for(c, 2);
        assert_int_equal(put.status, TKV_OUTCOME_UNKNOWN); /* a sent write */
        assert_int_equal(get.status, TKV_TIMEOUT);
        assert_non_null(strstr(put.message, "may or may not"));
        /* A late answer is dropped and counted. */
        fake_ack(&f, put_id, 5);
        assert_int_equal(tkv_poll(c, 0), 0);
        assert_int_equal(client_unknown_answers(c), 1);
        tkv_client_destroy(c);
        fake_close(&f);
}

/* The link breaks with a write and a read on it: both are sent again on a
 * new connection, the write with the same seq and retry set. */
static void test_client_connection_lost(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen put;
        struct seen get;
        Tunekv__V1__Request *m[2];
        Tunekv__V1__Request *again;
        int i;

        (void)state;
        memset(&put, 0, sizeof(put));
        memset(&get, 0, sizeof(get));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &put), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        m[0] = fake_recv_kv(&f, c);
        m[1] = fake_recv_kv(&f, c);
        assert_false(m[0]->put->options->retry);
        fake_hangup(&f);
        assert_int_equal(tkv_poll(c, 50), 0); /* notices, backs off, reconnects */
        assert_int_equal(tkv_poll(c, 100), 0);
        fake_accept(&f);
        for (i = 0; i < 2; i++) {
                again = fake_recv_kv(&f, c);
                if (again->body_case == TUNEKV__V1__REQUEST__BODY_PUT) {
                        assert_int_equal(again->put->options->client_id,
                                         m[0]->put->options->client_id);
                        assert_int_equal(again->put->options->seq, m[0]->put->options->seq);
                        assert_true(again->put->options->retry); /* it may have been applied */
                        fake_ack(&f, again->id, 7);
                } else {
                        assert_int_equal(again->body_case, TUNEKV__V1__REQUEST__BODY_GET);
                        fake_value(&f, again->id, "back");
                }
                assert_true(again->id > m[1]->id); /* a fresh id per attempt */
                tunekv__v1__request__free_unpacked(again, NULL);
        }
        poll_for(c, 2);
        assert_int_equal(put.status, TKV_OK);
        assert_int_equal(put.index, 7);
        assert_int_equal(get.status, TKV_OK);
        assert_string_equal(get.value, "back");
        tunekv__v1__request__free_unpacked(m[0], NULL);
        tunekv__v1__request__free_unpacked(m[1], NULL);
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_bad_frame(void **state)
{
        static const uint8_t frame[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
        struct fake f;
        struct tkv_client *c;
        struct seen put;
        struct seen get;

        (void)state;
        memset(&put, 0, sizeof(put));
        memset(&get, 0, sizeof(get));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &put), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        tunekv__v1__request__free_unpacked(fake_recv_kv(&f, c), NULL);
        tunekv__v1__request__free_unpacked(fake_recv_kv(&f, c), NULL);
        fake_write_all(f.fd, frame, sizeof(frame));
        poll_for(c, 2);
        assert_int_equal(get.status, TKV_PROTOCOL_ERROR);
        assert_int_equal(put.status, TKV_OUTCOME_UNKNOWN);
        assert_int_equal(tkv_fd(c), -1);
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_huge_frame(void **state)
{
        static const uint8_t header[] = {0x7f, 0xff, 0xff, 0xff}; /* 2 GiB announced */
        struct fake f;
        struct tkv_client *c;
        struct seen get;

        (void)state;
        memset(&get, 0, sizeof(get));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        tunekv__v1__request__free_unpacked(fake_recv_kv(&f, c), NULL);
        fake_write_all(f.fd, header, sizeof(header));
        poll_for(c, 1);
        assert_int_equal(get.status, TKV_PROTOCOL_ERROR);
        assert_non_null(strstr(get.message, "exceeds"));
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_wrong_body(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen put;
        struct seen get;
        Tunekv__V1__Request *m;

        (void)state;
        memset(&put, 0, sizeof(put));
        memset(&get, 0, sizeof(get));
        fake_listen(&f);
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &put), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        m = fake_recv_kv(&f, c);
        fake_value(&f, m->id, "a get answer to a put");
        fake_ack(&f, m->id + 1, 9);
        tunekv__v1__request__free_unpacked(m, NULL);
        tunekv__v1__request__free_unpacked(fake_recv_kv(&f, c), NULL);
        poll_for(c, 2);
        assert_int_equal(put.status, TKV_OUTCOME_UNKNOWN);
        assert_int_equal(get.status, TKV_PROTOCOL_ERROR);
        assert_true(tkv_fd(c) >= 0); /* the stream itself is fine */
        tkv_client_destroy(c);
        fake_close(&f);
}

static void test_client_destroy_pending(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct seen put;
        struct seen get;
        struct seen queued;

        (void)state;
        memset(&put, 0, sizeof(put));
        memset(&get, 0, sizeof(get));
        memset(&queued, 0, sizeof(queued));
        fake_listen(&f);
        c = fake_client(&f, 0, 2);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &put), TKV_OK);
        assert_int_equal(tkv_get_async(c, "k", 1, NULL, seen_cb, &get), TKV_OK);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &queued), TKV_OK);
        assert_int_equal(tkv_poll(c, 0), 0);
        fake_accept(&f);
        tunekv__v1__request__free_unpacked(fake_recv_kv(&f, c), NULL); /* put and get are sent */
        tunekv__v1__request__free_unpacked(fake_recv(&f), NULL);
        tkv_client_destroy(c);
        assert_int_equal(put.status, TKV_OUTCOME_UNKNOWN);
        assert_int_equal(get.status, TKV_CONNECTION_CLOSED);
        assert_int_equal(queued.status, TKV_CONNECTION_CLOSED); /* never sent */
        assert_int_equal(put.calls + get.calls + queued.calls, 3);
        fake_close(&f);
}

static void test_client_connect_refused(void **state)
{
        struct fake f;
        struct tkv_options o;
        struct tkv_client *c = NULL;
        struct tkv_result res;
        struct seen s;
        char endpoints[160];
        char err[256];

        (void)state;
        memset(&s, 0, sizeof(s));
        fake_listen(&f); /* take a free port, then free it */
        fake_close(&f);
        snprintf(endpoints, sizeof(endpoints), "%s,%s", f.endpoints, f.endpoints);
        memset(&o, 0, sizeof(o));
        o.endpoints = endpoints;
        o.timeout_ms = 300; /* refused connections are retried until the deadline */
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);
        assert_int_equal(tkv_get(c, "k", 1, NULL, &res), TKV_CONNECT_FAILED);
        assert_int_equal(res.status, TKV_CONNECT_FAILED);
        assert_non_null(strstr(res.message, f.endpoints));
        assert_non_null(strstr(tkv_errmsg(c), f.endpoints));
        tkv_result_release(&res);
        tkv_result_release(&res);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, seen_cb, &s), TKV_OK);
        assert_int_equal(tkv_poll(c, -1), 1);
        assert_int_equal(s.status, TKV_CONNECT_FAILED); /* never sent: not unknown */
        /* STATUS is not retried: it fails once every endpoint refused. */
        assert_int_equal(tkv_status(c, &res), TKV_CONNECT_FAILED);
        assert_non_null(strstr(res.message, "any endpoint"));
        tkv_result_release(&res);
        tkv_client_destroy(c);
}

static void test_client_usage(void **state)
{
        struct tkv_client *c = NULL;
        struct tkv_options o;
        struct tkv_read_options ro;
        struct tkv_write_options wo;
        struct tkv_result res;
        struct seen s;
        static char big[(64u << 10) + 1];
        char err[256];

        (void)state;
        memset(&s, 0, sizeof(s));
        memset(&o, 0, sizeof(o));
        o.endpoints = "nonsense";
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_USAGE_ERROR);
        assert_null(c);
        assert_non_null(strstr(err, "nonsense"));
        o.endpoints = "127.0.0.1:1";
        o.max_inflight = (1u << 20) + 1;
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_USAGE_ERROR);
        o.max_inflight = 0;
        assert_int_equal(tkv_client_create(&o, NULL, err, sizeof(err)), TKV_USAGE_ERROR);
        assert_int_equal(tkv_client_create(&o, &c, err, sizeof(err)), TKV_OK);

        assert_int_equal(tkv_get_async(c, NULL, 1, NULL, seen_cb, &s), TKV_USAGE_ERROR);
        assert_int_equal(tkv_get_async(c, big, sizeof(big), NULL, seen_cb, &s), TKV_USAGE_ERROR);
        assert_non_null(strstr(tkv_errmsg(c), "exceeds"));
        assert_int_equal(tkv_put_async(c, "k", 1, NULL, 3, NULL, seen_cb, &s), TKV_USAGE_ERROR);
        assert_int_equal(tkv_put_async(c, "k", 1, "v", 1, NULL, NULL, NULL), TKV_USAGE_ERROR);
        memset(&ro, 0, sizeof(ro));
        ro.level = (enum tkv_consistency)6;
        assert_int_equal(tkv_get_async(c, "k", 1, &ro, seen_cb, &s), TKV_USAGE_ERROR);
        memset(&ro, 0, sizeof(ro));
        ro.session_flags = 16;
        assert_int_equal(tkv_get_async(c, "k", 1, &ro, seen_cb, &s), TKV_USAGE_ERROR);
        memset(&wo, 0, sizeof(wo));
        wo.ack = (enum tkv_ack)3;
        assert_int_equal(tkv_delete_async(c, "k", 1, &wo, seen_cb, &s), TKV_USAGE_ERROR);
        assert_int_equal(tkv_cas(c, NULL, 2, 0, "v", 1, NULL, &res), TKV_USAGE_ERROR);
        assert_int_equal(res.status, TKV_USAGE_ERROR);
        assert_non_null(strstr(res.message, "key"));
        tkv_result_release(&res);
        assert_int_equal(s.calls, 0);
        assert_int_equal(tkv_pending(c), 0);
        assert_int_equal(tkv_poll(NULL, 0), -TKV_USAGE_ERROR);
        assert_int_equal(tkv_get(NULL, "k", 1, NULL, &res), TKV_USAGE_ERROR);
        tkv_result_release(&res);
        tkv_client_destroy(c);
        tkv_client_destroy(NULL);
}

/* The child plays the server for one blocking get and one status. */
static void fake_child(struct fake *f)
{
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__StatusResponse s = TUNEKV__V1__STATUS_RESPONSE__INIT;
        Tunekv__V1__PartitionStatus p = TUNEKV__V1__PARTITION_STATUS__INIT;
        Tunekv__V1__PartitionStatus *parts[1] = {&p};
        Tunekv__V1__Request *r;

        fake_accept(f);
        r = fake_recv_kv(f, NULL);
        fake_value(f, r->id, "blocking value");
        tunekv__v1__request__free_unpacked(r, NULL);
        r = fake_recv(f);
        m.id = r->id;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        m.status_info = &s;
        s.node_id = 9;
        s.version = "9.9.9";
        s.n_partitions = 1;
        s.partitions = parts;
        p.partition = 4;
        p.keys = 12;
        fake_send(f, &m);
        tunekv__v1__request__free_unpacked(r, NULL);
}

static void test_client_blocking(void **state)
{
        struct fake f;
        struct tkv_client *c;
        struct tkv_result res;
        pid_t pid;
        int wstatus = 0;

        (void)state;
        fake_listen(&f);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                fake_child(&f);
                _exit(0);
        }
        c = fake_client(&f, 0, 0);
        assert_int_equal(tkv_get(c, "k", 1, NULL, &res), TKV_OK);
        assert_true(res.found);
        assert_int_equal(res.value_len, 14);
        assert_memory_equal(res.value, "blocking value", 14);
        assert_int_equal(res.mod_index, 4);
        assert_non_null(res.priv_);
        tkv_result_release(&res);
        assert_null(res.value);
        assert_null(res.priv_);
        assert_int_equal(tkv_status(c, &res), TKV_OK);
        assert_non_null(res.node);
        assert_int_equal(res.node->node_id, 9);
        assert_string_equal(res.node->version, "9.9.9");
        assert_int_equal(res.node->n_partitions, 1);
        assert_int_equal(res.node->partitions[0].partition, 4);
        assert_int_equal(res.node->partitions[0].keys, 12);
        tkv_result_release(&res);
        assert_null(res.node);
        tkv_client_destroy(c);
        assert_int_equal(waitpid(pid, &wstatus, 0), pid);
        assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        fake_close(&f);
}

/* A STATUS answer of many partitions, decoded with what libtunekv allows
 * (pballoc.h): 1 000 filled-in partitions decode; 100 000 empty ones (2
 * bytes each on the wire, a whole struct each once unpacked: the finding's
 * ~300-fold amplification) are refused as a protocol error. */
static void test_decode_refuses_amplification(void **state)
{
        enum { FULL = 1000, EMPTY = 100000 };
        Tunekv__V1__Response m = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__StatusResponse s = TUNEKV__V1__STATUS_RESPONSE__INIT;
        Tunekv__V1__PartitionStatus full = TUNEKV__V1__PARTITION_STATUS__INIT;
        Tunekv__V1__PartitionStatus empty = TUNEKV__V1__PARTITION_STATUS__INIT;
        Tunekv__V1__PartitionStatus **parts = calloc(EMPTY, sizeof *parts);
        uint32_t replicas[3] = {1, 2, 3};
        struct decoded d;

        (void)state;
        assert_non_null(parts);
        m.id = 4;
        m.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        m.status_info = &s;
        s.node_id = 1;
        s.version = "0.1.0";
        full.role = TUNEKV__V1__ROLE__ROLE_FOLLOWER;
        full.leader_id = 2;
        full.term = 7;
        full.commit_index = 123456;
        full.applied_index = 123450;
        full.last_index = 123460;
        full.keys = 99999;
        full.ready = 1;
        full.n_replicas = 3;
        full.replicas = replicas;
        for (size_t i = 0; i < EMPTY; i++) {
                parts[i] = i < FULL ? &full : &empty;
        }
        s.partitions = parts;
        s.n_partitions = FULL;
        assert_int_equal(decode_packed(&m, &d), TKV_OK);
        assert_non_null(d.node);
        tkv_free(d.node);
        s.n_partitions = EMPTY;
        for (size_t i = 0; i < FULL; i++) {
                parts[i] = &empty;
        }
        assert_int_equal(decode_packed(&m, &d), TKV_PROTOCOL_ERROR);
        free(parts);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_encode_get),
            cmocka_unit_test(test_encode_get_default_options),
            cmocka_unit_test(test_encode_writes),
            cmocka_unit_test(test_encode_status_and_append),
            cmocka_unit_test(test_encode_idempotent_write),
            cmocka_unit_test(test_encode_txn),
            cmocka_unit_test(test_decode_txn),
            cmocka_unit_test(test_encode_too_big),
            cmocka_unit_test(test_decode_get),
            cmocka_unit_test(test_decode_get_empty_and_missing),
            cmocka_unit_test(test_decode_write_and_errors),
            cmocka_unit_test(test_decode_bound_unmet),
            cmocka_unit_test(test_encode_tokens),
            cmocka_unit_test(test_decode_every_status),
            cmocka_unit_test(test_decode_status),
            cmocka_unit_test(test_decode_refuses_amplification),
            cmocka_unit_test(test_decode_cluster_info),
            cmocka_unit_test(test_decode_garbage),
            cmocka_unit_test(test_endpoints_parse),
            cmocka_unit_test(test_endpoints_parse_errors),
            cmocka_unit_test(test_status_names),
            cmocka_unit_test(test_result_release),
            cmocka_unit_test(test_client_pipeline),
            cmocka_unit_test(test_client_max_inflight),
            cmocka_unit_test(test_client_timeouts),
            cmocka_unit_test(test_client_connection_lost),
            cmocka_unit_test(test_client_bad_frame),
            cmocka_unit_test(test_client_huge_frame),
            cmocka_unit_test(test_client_wrong_body),
            cmocka_unit_test(test_client_destroy_pending),
            cmocka_unit_test(test_client_connect_refused),
            cmocka_unit_test(test_client_usage),
            cmocka_unit_test(test_client_blocking),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
