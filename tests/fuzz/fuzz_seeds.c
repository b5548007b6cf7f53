/* Writes the seed corpora of the fuzz targets: valid inputs made by the
 * real encoders (protobuf-c, command_encode, the FSM's snapshot,
 * session_sign, peerauth), plus a few edge cases. The output is checked in
 * under tests/fuzz/corpus/<target>/; rerun after a format change:
 *
 *   build-fuzz/tests/fuzz/fuzz_seeds tests/fuzz/corpus
 *
 * Not a fuzz target itself, and deterministic but for the nonces peerauth
 * draws. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmap.h"
#include "command.h"
#include "frame.h"
#include "fuzz_fsm.h"
#include "heap.h"
#include "peerauth.h"
#include "session.h"
#include "tunekv.pb-c.h"
#include "value.h"

static const char *seeds_root;

static void seeds_write(const char *target, const char *name, const void *p, size_t n)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", seeds_root, target);
        FUZZ_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof path, "%s/%s/%s", seeds_root, target, name);
        f = fopen(path, "wb");
        FUZZ_ASSERT(f != NULL && (n == 0 || fwrite(p, 1, n, f) == n) && fclose(f) == 0);
}

/* A growing byte string. */
struct seeds_buf {
        uint8_t b[1 << 16];
        size_t n;
};

static void seeds_put(struct seeds_buf *s, const void *p, size_t n)
{
        FUZZ_ASSERT(s->n + n <= sizeof s->b);
        memcpy(s->b + s->n, p, n);
        s->n += n;
}

/* Append one framed message packed by protobuf-c. */
static void seeds_frame(struct seeds_buf *s, const ProtobufCMessage *m)
{
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t h[FRAME_HEADER_BYTES];

        frame_put_header(h, (uint32_t)n);
        seeds_put(s, h, sizeof h);
        FUZZ_ASSERT(s->n + n <= sizeof s->b);
        s->n += protobuf_c_message_pack(m, s->b + s->n);
}

/* A token of n signed entries under the fuzz targets' key. */
static size_t seeds_token(uint8_t *out, unsigned n, uint64_t index)
{
        static struct session_keys k;
        static int ready;
        struct session_entry e[8];

        if (!ready) {
                FUZZ_ASSERT(session_keys_init(&k, "fuzz secret", "fuzz") == 0);
                ready = 1;
        }
        for (unsigned i = 0; i < n; i++) {
                e[i].partition = i % 4;
                e[i].kind = i % 2 ? SESSION_R : SESSION_W;
                e[i].index = index + i;
                session_sign(&k, &e[i]);
        }
        session_encode(e, n, out);
        return session_encoded_bytes(n);
}

/* Dependency form of the same entries (mode byte 1 in fuzz_token). */
static size_t seeds_deps(uint8_t *out, unsigned n, uint64_t index)
{
        uint8_t tok[SESSION_HEADER_BYTES + 8 * SESSION_ENTRY_BYTES];
        struct session_entry e[8];
        unsigned m = 0;

        FUZZ_ASSERT(session_parse(tok, seeds_token(tok, n, index), sizeof tok, e, 8, &m) == 0);
        session_deps_encode(e, m, out);
        return session_deps_encoded_bytes(e, m);
}

/* ---- fuzz_request: frames of Requests, one connection's bytes ---- */

static void seeds_request_one(const char *name, Tunekv__V1__Request *req)
{
        struct seeds_buf *s = calloc(1, sizeof *s);

        FUZZ_ASSERT(s != NULL);
        seeds_frame(s, &req->base);
        seeds_write("request", name, s->b, s->n);
        free(s);
}

/* A TXN with a compare of each target and an op of each type, under one
 * hash tag, with a session. */
static void seeds_request_txn(void)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__TxnRequest txn = TUNEKV__V1__TXN_REQUEST__INIT;
        Tunekv__V1__WriteOptions wo = TUNEKV__V1__WRITE_OPTIONS__INIT;
        Tunekv__V1__TxnCompare x[4];
        Tunekv__V1__TxnOp op[3];
        Tunekv__V1__TxnCompare *xs[4];
        Tunekv__V1__TxnOp *ops[3];

        for (int i = 0; i < 4; i++) {
                tunekv__v1__txn_compare__init(&x[i]);
                x[i].key = (ProtobufCBinaryData){5, (uint8_t *)"{u}k0"};
                x[i].target = (Tunekv__V1__CompareTarget)i;
                x[i].op = (Tunekv__V1__CompareOp)i;
                x[i].number = i == 3 ? 1 : 7;
                xs[i] = &x[i];
        }
        x[2].number = 0;
        x[2].value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
        for (int i = 0; i < 3; i++) {
                tunekv__v1__txn_op__init(&op[i]);
                op[i].type = (Tunekv__V1__TxnOpType)i;
                op[i].key = (ProtobufCBinaryData){5, (uint8_t *)"{u}k1"};
                ops[i] = &op[i];
        }
        op[1].value = (ProtobufCBinaryData){2, (uint8_t *)"v1"};
        wo.client_id = 9;
        wo.seq = 1;
        txn.n_compares = 4;
        txn.compares = xs;
        txn.n_success = 2;
        txn.success = ops;
        txn.n_failure = 1;
        txn.failure = ops + 2;
        txn.options = &wo;
        req.id = 7;
        req.body_case = TUNEKV__V1__REQUEST__BODY_TXN;
        req.txn = &txn;
        seeds_request_one("txn", &req);
}

/* GET_MANY of three keys (one twice) at SEQUENTIAL, with a bound. */
static void seeds_request_get_many(void)
{
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetManyRequest gm = TUNEKV__V1__GET_MANY_REQUEST__INIT;
        Tunekv__V1__ReadOptions o = TUNEKV__V1__READ_OPTIONS__INIT;
        ProtobufCBinaryData keys[4] = {{1, (uint8_t *)"a"},
                                       {3, (uint8_t *)"key"},
                                       {6, (uint8_t *)"{u}k10"},
                                       {1, (uint8_t *)"a"}};

        o.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_SEQUENTIAL;
        o.min_timestamp = (uint64_t)1 << 56;
        gm.n_keys = 4;
        gm.keys = keys;
        gm.options = &o;
        req.id = 9;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET_MANY;
        req.get_many = &gm;
        seeds_request_one("get-many", &req);
}

static void seeds_request_writes(void)
{
        static uint8_t big[4096], tok[256];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__PutRequest put = TUNEKV__V1__PUT_REQUEST__INIT;
        Tunekv__V1__DeleteRequest del = TUNEKV__V1__DELETE_REQUEST__INIT;
        Tunekv__V1__CasRequest cas = TUNEKV__V1__CAS_REQUEST__INIT;
        Tunekv__V1__WriteOptions wo = TUNEKV__V1__WRITE_OPTIONS__INIT;

        req.id = 7;
        req.body_case = TUNEKV__V1__REQUEST__BODY_PUT;
        req.put = &put;
        put.key = (ProtobufCBinaryData){3, (uint8_t *)"key"};
        put.value = (ProtobufCBinaryData){5, (uint8_t *)"value"};
        seeds_request_one("put", &req);
        for (size_t i = 0; i < sizeof big; i++) {
                big[i] = (uint8_t)("abcabcabd"[i % 9]);
        }
        put.value = (ProtobufCBinaryData){sizeof big, big}; /* compressed on propose */
        put.options = &wo;
        wo.client_id = 99;
        wo.seq = 3;
        wo.retry = true;
        wo.ack = TUNEKV__V1__ACK__ACK_ALL_REPLICAS;
        wo.token = (ProtobufCBinaryData){seeds_token(tok, 5, 40), tok};
        seeds_request_one("put-lz4-session-token", &req);
        req.body_case = TUNEKV__V1__REQUEST__BODY_DELETE;
        req.delete_ = &del;
        del.key = put.key;
        del.options = &wo;
        seeds_request_one("delete-token", &req);
        req.body_case = TUNEKV__V1__REQUEST__BODY_CAS;
        req.cas = &cas;
        cas.key = put.key;
        cas.value = (ProtobufCBinaryData){2, (uint8_t *)"v2"};
        cas.expected_version = 12;
        seeds_request_one("cas", &req);
        seeds_request_txn();
        seeds_request_get_many();
}

static void seeds_request_reads(void)
{
        static uint8_t tok[256];
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetRequest get = TUNEKV__V1__GET_REQUEST__INIT;
        Tunekv__V1__ReadOptions ro = TUNEKV__V1__READ_OPTIONS__INIT;
        Tunekv__V1__StatusRequest st = TUNEKV__V1__STATUS_REQUEST__INIT;
        Tunekv__V1__PingRequest ping = TUNEKV__V1__PING_REQUEST__INIT;
        char name[64];

        req.id = 1;
        req.timeout_ms = 500;
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET;
        req.get = &get;
        get.key = (ProtobufCBinaryData){3, (uint8_t *)"key"};
        seeds_request_one("get", &req);
        get.options = &ro;
        ro.token = (ProtobufCBinaryData){seeds_token(tok, 3, 10), tok};
        ro.session_flags = 3;
        ro.max_staleness_ms = 100;
        ro.max_lag_entries = 5;
        for (int level = 0; level <= 5; level++) {
                ro.level = (Tunekv__V1__Consistency)level;
                ro.route = (Tunekv__V1__Route)(level % 4);
                ro.on_unmet = (Tunekv__V1__OnUnmet)(level % 4);
                snprintf(name, sizeof name, "get-level%d-token", level);
                seeds_request_one(name, &req);
        }
        req.body_case = TUNEKV__V1__REQUEST__BODY_STATUS;
        req.status = &st;
        seeds_request_one("status", &req);
        req.body_case = TUNEKV__V1__REQUEST__BODY_PING;
        req.ping = &ping;
        seeds_request_one("ping", &req);
}

/* Several frames on one connection, and broken framing. */
static void seeds_request_stream(void)
{
        struct seeds_buf *s = calloc(1, sizeof *s);
        Tunekv__V1__Request req = TUNEKV__V1__REQUEST__INIT;
        Tunekv__V1__GetRequest get = TUNEKV__V1__GET_REQUEST__INIT;
        const uint8_t huge[] = {0xff, 0xff, 0xff, 0xf0, 1, 2, 3};
        const uint8_t cut[] = {0, 0, 0, 9, 8, 1};

        FUZZ_ASSERT(s != NULL);
        req.body_case = TUNEKV__V1__REQUEST__BODY_GET;
        req.get = &get;
        get.key = (ProtobufCBinaryData){1, (uint8_t *)"k"};
        for (int i = 0; i < 4; i++) {
                req.id = (uint64_t)i + 1;
                seeds_frame(s, &req.base);
        }
        seeds_write("request", "pipelined", s->b, s->n);
        seeds_write("request", "frame-too-big", huge, sizeof huge);
        seeds_write("request", "frame-truncated", cut, sizeof cut);
        seeds_write("request", "empty-frame", "\0\0\0\0", 4);
        free(s);
}

/* ---- fuzz_command and fuzz_snapshot: log entries, and state ---- */

/* Append c as one entry: 2-byte length, then command_encode's bytes. */
static void seeds_entry(struct seeds_buf *s, const struct command *c)
{
        size_t n = command_encoded_bytes(c);
        uint8_t len[2] = {(uint8_t)n, (uint8_t)(n >> 8)};

        FUZZ_ASSERT(n < 65536 && s->n + 2 + n <= sizeof s->b);
        seeds_put(s, len, 2);
        memset(s->b + s->n, 0, n);
        command_encode(c, s->b + s->n);
        s->n += n;
}

/* A version 1 PUT of key "k", value "v" (command.h's layout). */
static void seeds_entry_v1(struct seeds_buf *s)
{
        uint8_t e[2 + 72] = {72, 0, 1, COMMAND_PUT};

        e[2 + 4] = 66; /* payload: header + key + value */
        e[2 + 16] = 1; /* key_len */
        e[2 + 20] = 1; /* value_len */
        e[2 + 24] = 1; /* value_raw_len */
        e[2 + 64] = 'k';
        e[2 + 65] = 'v';
        seeds_put(s, e, sizeof e);
}

/* A log of every kind of command; *lz4 gets a compressed PUT alone. */
static void seeds_log(struct seeds_buf *s, struct seeds_buf *lz4)
{
        static uint8_t raw[2048], packed[2048 + 64], deps[256];
        struct command c = {0};
        size_t n;

        for (size_t i = 0; i < sizeof raw; i++) {
                raw[i] = (uint8_t)("tunekv "[i % 7]);
        }
        FUZZ_ASSERT(value_compress(raw, sizeof raw, packed, sizeof packed, &n) == 0);
        c.type = COMMAND_PUT;
        c.proposal_id = 1;
        c.key = (const uint8_t *)"alpha";
        c.key_len = 5;
        c.value = raw;
        c.value_len = c.value_raw_len = sizeof raw;
        c.client_id = 77;
        c.seq = 1;
        c.payload_hash = command_payload_hash(&c);
        c.flags = COMMAND_F_LZ4;
        c.value = packed;
        c.value_len = (uint32_t)n;
        c.deps = deps;
        c.deps_len = (uint32_t)seeds_deps(deps, 2, 5);
        seeds_entry(lz4, &c);
        seeds_entry(s, &c);
        seeds_entry(s, &c); /* the same write again: deduplicated */
        c = (struct command){.type = COMMAND_CAS,
                             .proposal_id = 2,
                             .key = (const uint8_t *)"beta",
                             .key_len = 4,
                             .value = (const uint8_t *)"b",
                             .value_len = 1,
                             .value_raw_len = 1,
                             .expected_version = 0};
        seeds_entry(s, &c);
        c = (struct command){.type = COMMAND_DELETE,
                             .key = (const uint8_t *)"beta",
                             .key_len = 4,
                             .flags = COMMAND_F_ACK_ALL};
        seeds_entry(s, &c);
        seeds_entry_v1(s);
}

/* A TXN with every target, comparison and op, from a client session, and
 * the same TXN retried (deduplicated). */
static void seeds_txn(struct seeds_buf *s)
{
        static const struct command_txn_compare xs[] = {
            {COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, (const uint8_t *)"{t}a", 4, 0, NULL, 0},
            {COMMAND_TXN_TARGET_CREATE, COMMAND_TXN_LT, (const uint8_t *)"{t}b", 4, 9, NULL, 0},
            {COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_NE, (const uint8_t *)"{t}c", 4, 0,
             (const uint8_t *)"x", 1},
            {COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_GT, (const uint8_t *)"{t}d", 4, 0, NULL, 0},
        };
        static const struct command_txn_op ops[] = {
            {COMMAND_TXN_PUT, (const uint8_t *)"{t}a", 4, (const uint8_t *)"1", 1, 0},
            {COMMAND_TXN_GET, (const uint8_t *)"{t}a", 4, NULL, 0, 0},
            {COMMAND_TXN_DELETE, (const uint8_t *)"{t}b", 4, NULL, 0, 0},
            {COMMAND_TXN_PUT, (const uint8_t *)"{t}e", 4, (const uint8_t *)"2", 1, 0},
        };
        static uint8_t body[256];
        struct command c = {0};
        size_t n = command_txn_body_bytes(xs, 4, ops, 3, 1);

        FUZZ_ASSERT(n <= sizeof body);
        command_txn_body_encode(xs, 4, ops, 3, 1, body);
        c.type = COMMAND_TXN;
        c.proposal_id = 9;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)n;
        c.client_id = 78;
        c.seq = 1;
        c.payload_hash = command_payload_hash(&c);
        seeds_entry(s, &c);
        seeds_entry(s, &c);
}

/* fuzz_snapshot's input: mode byte 0 and the snapshot without its
 * trailer (the target appends the checksum), or 1 and the bytes as they are
 * (a bad checksum). */
static void seeds_snapshot(const char *name, const uint8_t *snap, size_t len)
{
        uint8_t *b = malloc(len + 1);
        bool raw = strcmp(name, "bad-checksum") == 0;

        FUZZ_ASSERT(b != NULL && len >= 8);
        b[0] = raw ? 1 : 0;
        memcpy(b + 1, snap, len);
        seeds_write("snapshot", name, b, raw ? len + 1 : len + 1 - 8);
        free(b);
}

static void seeds_state(void)
{
        struct seeds_buf *log = calloc(1, sizeof *log), *lz4 = calloc(1, sizeof *lz4);
        struct fuzz_fsm h;
        uint8_t *snap;
        size_t len, at = 0;

        FUZZ_ASSERT(log != NULL && lz4 != NULL);
        seeds_log(log, lz4);
        seeds_write("command", "log", log->b, log->n);
        seeds_write("command", "put-lz4-deps", lz4->b, lz4->n);
        seeds_write("command", "v1-put", log->b + log->n - 74, 74);
        {
                struct seeds_buf *txn = calloc(1, sizeof *txn);
                FUZZ_ASSERT(txn != NULL);
                seeds_txn(txn);
                seeds_write("command", "txn", txn->b, txn->n);
                free(txn);
        }
        fuzz_fsm_init(&h);
        snap = fuzz_fsm_snapshot(&h, &len);
        seeds_snapshot("empty", snap, len);
        free(snap);
        while (at + 2 <= log->n) {
                size_t n = (size_t)log->b[at] | (size_t)log->b[at + 1] << 8;
                fuzz_fsm_apply(&h, log->b + at + 2, n);
                at += 2 + n;
        }
        snap = fuzz_fsm_snapshot(&h, &len);
        seeds_snapshot("keys-and-sessions", snap, len);
        seeds_snapshot("truncated", snap, len / 2);
        snap[len - 1] ^= 1;
        seeds_snapshot("bad-checksum", snap, len);
        free(snap);
        fsm_close(&h.fsm);
        free(log);
        free(lz4);
}

/* ---- fuzz_token ---- */

static void seeds_tokens(void)
{
        uint8_t b[1 + 8 * SESSION_DEPS_ENTRY_MAX + SESSION_HEADER_BYTES];
        const uint8_t empty_header[] = {0, 1, 0, 0, 0};

        b[0] = 0;
        seeds_write("token", "token-1", b, 1 + seeds_token(b + 1, 1, 1));
        seeds_write("token", "token-8", b, 1 + seeds_token(b + 1, 8, 1ull << 40));
        b[0] = 1;
        seeds_write("token", "deps-2", b, 1 + seeds_deps(b + 1, 2, 300));
        seeds_write("token", "deps-token-form", b, 1 + seeds_token(b + 1, 3, 9));
        seeds_write("token", "zero-entries", empty_header, sizeof empty_header);
}

/* ---- fuzz_client_response and fuzz_pbwire: Responses ---- */

static void seeds_responses(struct seeds_buf *s)
{
        static uint8_t tok[256];
        uint32_t replicas[3] = {1, 2, 3};
        Tunekv__V1__Response r = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse get = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rr = TUNEKV__V1__READ_RECEIPT__INIT;
        Tunekv__V1__WriteResponse wr = TUNEKV__V1__WRITE_RESPONSE__INIT;
        Tunekv__V1__StatusResponse st = TUNEKV__V1__STATUS_RESPONSE__INIT;
        Tunekv__V1__PartitionStatus ps = TUNEKV__V1__PARTITION_STATUS__INIT, *pps = &ps;
        Tunekv__V1__Limits lim = TUNEKV__V1__LIMITS__INIT;
        Tunekv__V1__ClusterInfoResponse ci = TUNEKV__V1__CLUSTER_INFO_RESPONSE__INIT;
        Tunekv__V1__NodeInfo ni = TUNEKV__V1__NODE_INFO__INIT, *pni = &ni;
        Tunekv__V1__PartitionInfo pi = TUNEKV__V1__PARTITION_INFO__INIT, *ppi = &pi;
        Tunekv__V1__LeaderHint lh = TUNEKV__V1__LEADER_HINT__INIT;

        r.id = 1;
        r.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        r.get = &get;
        get.found = true;
        get.value = (ProtobufCBinaryData){5, (uint8_t *)"value"};
        get.receipt = &rr;
        rr.staleness_ms = -1;
        get.token = (ProtobufCBinaryData){seeds_token(tok, 2, 4), tok};
        seeds_frame(s, &r.base);
        r.id = 2;
        r.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        r.write = &wr;
        wr.index = 44;
        wr.token = get.token;
        seeds_frame(s, &r.base);
        r.id = 3;
        r.body_case = TUNEKV__V1__RESPONSE__BODY_STATUS_INFO;
        r.status_info = &st;
        st.version = "0.1.0";
        st.n_partitions = 1;
        st.partitions = &pps;
        ps.n_replicas = 3;
        ps.replicas = replicas;
        st.limits = &lim;
        seeds_frame(s, &r.base);
        r.id = 4;
        r.body_case = TUNEKV__V1__RESPONSE__BODY_CLUSTER_INFO;
        r.cluster_info = &ci;
        ci.n_nodes = 1;
        ci.nodes = &pni;
        ni.client_addr = "127.0.0.1:7001";
        ni.peer_addr = "127.0.0.1:7002";
        ci.n_partitions = 1;
        ci.partitions = &ppi;
        pi.n_replicas = 3;
        pi.replicas = replicas;
        seeds_frame(s, &r.base);
        r.id = 5;
        r.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        r.status = TUNEKV__V1__STATUS__STATUS_NOT_LEADER;
        r.message = "not the leader";
        r.leader_hint = &lh;
        lh.client_addr = "127.0.0.1:7001";
        seeds_frame(s, &r.base);
}

/* Each Response alone (a 9-byte prefix for fuzz_pbwire, framed for the
 * client), and all of them as one stream. */
static void seeds_answers(void)
{
        struct seeds_buf *s = calloc(1, sizeof *s);
        uint8_t pre[9 + 4096] = {0};
        size_t at = 0;
        char name[32];

        FUZZ_ASSERT(s != NULL);
        seeds_responses(s);
        seeds_write("client_response", "stream", s->b, s->n);
        for (int i = 0; at + 4 <= s->n; i++) {
                size_t n = (size_t)s->b[at] << 24 | (size_t)s->b[at + 1] << 16 |
                           (size_t)s->b[at + 2] << 8 | s->b[at + 3];
                snprintf(name, sizeof name, "answer-%d", i);
                seeds_write("client_response", name, s->b + at, 4 + n);
                FUZZ_ASSERT(n <= sizeof pre - 9);
                pre[0] = 0; /* look for field 1, the id */
                memcpy(pre + 9, s->b + at + 4, n);
                seeds_write("pbwire", name, pre, 9 + n);
                at += 4 + n;
        }
        free(s);
}

/* ---- fuzz_peerauth: HELLO, mode byte, then the rest ---- */

static void seeds_peerauth(void)
{
        static const struct keys_ring ring = {
            {"tunekv fuzz peer key, 32 bytes.", "tunekv fuzz previous key, 32 b."}, 2};
        static const struct peerauth_layout layout = {
            0x1122334455667788ull, 3, 3, 1024, 65536, 64u << 20};
        uint8_t b[PEERAUTH_HELLO_BYTES + 1 + PEERAUTH_PROOF_BYTES + PEERAUTH_ADDRESS_MAX];
        uint8_t challenge[PEERAUTH_CHALLENGE_BYTES];
        struct peerauth cli, srv;
        size_t len;

        FUZZ_ASSERT(peerauth_hello(&cli, &ring, 0x1234, 2, 1, 3) == 0);
        memcpy(b, cli.hello, PEERAUTH_HELLO_BYTES);
        /* Even: a PROOF that was genuine for another server nonce. */
        FUZZ_ASSERT(peerauth_challenge(&srv, &ring, cli.hello) == 0);
        memcpy(challenge, srv.challenge, sizeof challenge);
        FUZZ_ASSERT(peerauth_prove(&cli, challenge, 5, &layout, "127.0.0.1:7101",
                                   b + PEERAUTH_HELLO_BYTES + 1, &len) == 0);
        b[PEERAUTH_HELLO_BYTES] = 0;
        seeds_write("peerauth", "proof-replayed", b, PEERAUTH_HELLO_BYTES + 1 + len);
        /* Odd: incarnation and address for a genuine PROOF. */
        b[PEERAUTH_HELLO_BYTES] = 1;
        memcpy(b + PEERAUTH_HELLO_BYTES + 1,
               "\0\0\0\0\0\0\0\x05"
               "127.0.0.1:7101",
               22);
        seeds_write("peerauth", "proof-genuine", b, PEERAUTH_HELLO_BYTES + 1 + 22);
        b[0] = 'X';
        seeds_write("peerauth", "hello-bad-magic", b, PEERAUTH_HELLO_BYTES + 1);
}

/* ---- fuzz_cmap: the cluster map as the bootstrap writes it ---- */

static void seeds_cmap_one(const char *name, unsigned nodes, unsigned partitions, unsigned replicas,
                           bool zones)
{
        static struct config cfg;
        struct cmap *m = NULL;
        uint8_t *bytes = NULL;
        size_t len = 0;

        config_defaults(&cfg);
        cfg.n_nodes = nodes;
        cfg.partitions = partitions;
        cfg.replicas = replicas;
        for (unsigned i = 0; i < nodes; i++) {
                cfg.nodes[i].id = i + 1;
                snprintf(cfg.nodes[i].client_addr, sizeof cfg.nodes[i].client_addr, "127.0.0.1:%u",
                         7001 + i);
                snprintf(cfg.nodes[i].peer_addr, sizeof cfg.nodes[i].peer_addr, "10.0.0.%u:7101",
                         i + 1);
                snprintf(cfg.nodes[i].zone, sizeof cfg.nodes[i].zone, "%s",
                         zones ? (i % 2 == 0 ? "zone-a" : "zone_b.2") : "");
        }
        FUZZ_ASSERT(cmap_from_config(&cfg, 1, &m) == 0);
        FUZZ_ASSERT(cmap_encode(m, &bytes, &len) == 0);
        seeds_write("cmap", name, bytes, len);
        tkv_free(bytes);
        cmap_destroy(m);
}

static void seeds_cmap(void)
{
        seeds_cmap_one("one-node", 1, 1, 1, false);
        seeds_cmap_one("three-nodes-zones", 3, 3, 3, true);
        seeds_cmap_one("five-nodes-16-partitions", 5, 16, 3, true);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
                return 2;
        }
        seeds_root = argv[1];
        seeds_request_writes();
        seeds_request_reads();
        seeds_request_stream();
        seeds_state();
        seeds_tokens();
        seeds_answers();
        seeds_peerauth();
        seeds_cmap();
        return 0;
}
