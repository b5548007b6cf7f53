/* TXN: compares, then the success or the failure list of ops, every key in
 * one partition, proposed as one Raft entry (command.h, COMMAND_TXN) and
 * applied by the fsm all at once, so no replica and no reader ever sees
 * part of it.
 *
 * Normal path: check the request against the limits ([limits] txn_*,
 * key_bytes_max, value_bytes_max) and that all its keys share a partition,
 * route it to that partition's leader (like any write: rpc_kv_route),
 * encode the body, propose it, and answer from the applied hook: the
 * branch that ran, and for every one of its ops whether its key existed;
 * GETs are read from the store in that hook, which is the state at the
 * TXN's own index (after its writes), so they are linearizable.
 *
 * Failure modes: a limit exceeded (TOO_LARGE), keys in several
 * partitions (INVALID_ARGUMENT naming two keys and their partitions) or a
 * put naming a lease of another partition (INVALID_ARGUMENT: the id says),
 * all before anything is proposed; a put naming a lease the fsm finds
 * missing (NOT_FOUND) or full (TOO_LARGE, lease_keys_max), which refuses
 * the whole TXN in its entry, naming the lease; every failure of a write (NOT_LEADER,
 * OUTCOME_UNKNOWN, NO_SPACE, ...) as rpc_kv.c answers it. A retry answered
 * from the session table (dedup.h) says which branch ran but carries no op
 * results (`replayed`): the state they described is gone. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"
#include "store.h"
#include "value.h"

/* Longest part of a key quoted in an error message. */
#define RPC_TXN_QUOTE_BYTES 40

static struct call *rpc_txn_call_of_write(struct group_write *w)
{
        return QUEUE_DATA(w, struct call, op.write);
}

/* key, printable, shortened, into out. */
static void rpc_txn_quote(const ProtobufCBinaryData *key, char *out, size_t cap)
{
        size_t n = 0;

        for (size_t i = 0; i < key->len && i < RPC_TXN_QUOTE_BYTES && n + 5 < cap; i++) {
                uint8_t b = key->data[i];
                if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
                        out[n++] = (char)b;
                } else {
                        n += (size_t)snprintf(out + n, cap - n, "\\x%02x", b);
                }
        }
        if (key->len > RPC_TXN_QUOTE_BYTES && n + 4 < cap) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
}

/* Every key of req in order: compares, success ops, failure ops. */
static const ProtobufCBinaryData *rpc_txn_key(const Tunekv__V1__TxnRequest *t, size_t i)
{
        if (i < t->n_compares) {
                return &t->compares[i]->key;
        }
        i -= t->n_compares;
        if (i < t->n_success) {
                return &t->success[i]->key;
        }
        return &t->failure[i - t->n_success]->key;
}

static size_t rpc_txn_n_keys(const Tunekv__V1__TxnRequest *t)
{
        return t->n_compares + t->n_success + t->n_failure;
}

/* Check one op; adds its bytes to *bytes. 0 or an error with why. */
static int rpc_txn_check_op(const struct config *cfg, const Tunekv__V1__TxnOp *o, uint64_t *bytes,
                            char *why, size_t len)
{
        if ((unsigned)o->type > TUNEKV__V1__TXN_OP_TYPE__TXN_DELETE) {
                snprintf(why, len, "unknown op type %d", (int)o->type);
                return TKV_EINVAL;
        }
        if (o->type != TUNEKV__V1__TXN_OP_TYPE__TXN_PUT && o->value.len > 0) {
                snprintf(why, len, "a value is for TXN_PUT only");
                return TKV_EINVAL;
        }
        if (o->type != TUNEKV__V1__TXN_OP_TYPE__TXN_PUT && o->lease != 0) {
                snprintf(why, len, "a lease is for TXN_PUT only");
                return TKV_EINVAL;
        }
        if (o->value.len > cfg->value_bytes_max) {
                snprintf(why, len, "value of %zu bytes exceeds value_bytes_max %llu", o->value.len,
                         (unsigned long long)cfg->value_bytes_max);
                return TKV_ETOOBIG;
        }
        *bytes += o->value.len;
        return 0;
}

/* Check one compare; adds its bytes to *bytes. */
static int rpc_txn_check_compare(const Tunekv__V1__TxnCompare *x, uint64_t *bytes, char *why,
                                 size_t len)
{
        if ((unsigned)x->target > TUNEKV__V1__COMPARE_TARGET__COMPARE_EXISTS ||
            (unsigned)x->op > TUNEKV__V1__COMPARE_OP__COMPARE_GREATER) {
                snprintf(why, len, "unknown compare target %d or op %d", (int)x->target,
                         (int)x->op);
                return TKV_EINVAL;
        }
        if (x->target == TUNEKV__V1__COMPARE_TARGET__COMPARE_EXISTS && x->number > 1) {
                snprintf(why, len, "COMPARE_EXISTS compares with 0 or 1, not %llu",
                         (unsigned long long)x->number);
                return TKV_EINVAL;
        }
        if (x->target != TUNEKV__V1__COMPARE_TARGET__COMPARE_VALUE && x->value.len > 0) {
                snprintf(why, len, "a value is for COMPARE_VALUE only");
                return TKV_EINVAL;
        }
        *bytes += x->value.len;
        return 0;
}

/* The counts, the enums and the sizes: 0, or an error with why. */
static int rpc_txn_check_limits(const struct config *cfg, const Tunekv__V1__TxnRequest *t,
                                char *why, size_t len)
{
        uint64_t bytes = 0;
        int rv = 0;

        if (t->n_success + t->n_failure > cfg->txn_ops_max) {
                snprintf(why, len, "%zu ops exceed txn_ops_max %u", t->n_success + t->n_failure,
                         cfg->txn_ops_max);
                return TKV_ETOOBIG;
        }
        if (t->n_compares > cfg->txn_compares_max) {
                snprintf(why, len, "%zu compares exceed txn_compares_max %u", t->n_compares,
                         cfg->txn_compares_max);
                return TKV_ETOOBIG;
        }
        if (rpc_txn_n_keys(t) == 0) {
                snprintf(why, len, "no compare and no op");
                return TKV_EINVAL;
        }
        for (size_t i = 0; rv == 0 && i < t->n_compares; i++) {
                rv = rpc_txn_check_compare(t->compares[i], &bytes, why, len);
        }
        for (size_t i = 0; rv == 0 && i < t->n_success + t->n_failure; i++) {
                rv = rpc_txn_check_op(
                    cfg, i < t->n_success ? t->success[i] : t->failure[i - t->n_success], &bytes,
                    why, len);
        }
        for (size_t i = 0; rv == 0 && i < rpc_txn_n_keys(t); i++) {
                const ProtobufCBinaryData *k = rpc_txn_key(t, i);
                if (k->len == 0 || k->len > cfg->key_bytes_max) {
                        snprintf(why, len,
                                 k->len == 0 ? "empty key"
                                             : "key of %zu bytes exceeds "
                                               "key_bytes_max %llu",
                                 k->len, (unsigned long long)cfg->key_bytes_max);
                        rv = k->len == 0 ? TKV_EINVAL : TKV_ETOOBIG;
                }
                bytes += k->len;
        }
        if (rv == 0 && bytes > cfg->txn_bytes_max) {
                snprintf(why, len, "%llu bytes of keys and values exceed txn_bytes_max %llu",
                         (unsigned long long)bytes, (unsigned long long)cfg->txn_bytes_max);
                rv = TKV_ETOOBIG;
        }
        return rv;
}

/* Do all keys share the first key's partition? If not, why names the
 * first key and the first one elsewhere, with their partitions. */
static bool rpc_txn_one_partition(unsigned n_partitions, const Tunekv__V1__TxnRequest *t, char *why,
                                  size_t len)
{
        const ProtobufCBinaryData *k0 = rpc_txn_key(t, 0);
        uint32_t p0 = route_partition(key_hash_partition(k0->data, k0->len), n_partitions);
        char q0[4 * RPC_TXN_QUOTE_BYTES + 8], q1[4 * RPC_TXN_QUOTE_BYTES + 8];

        for (size_t i = 1; i < rpc_txn_n_keys(t); i++) {
                const ProtobufCBinaryData *k = rpc_txn_key(t, i);
                uint32_t p = route_partition(key_hash_partition(k->data, k->len), n_partitions);
                if (p != p0) {
                        rpc_txn_quote(k0, q0, sizeof q0);
                        rpc_txn_quote(k, q1, sizeof q1);
                        snprintf(why, len,
                                 "keys in different partitions: \"%s\" is in partition %u, "
                                 "\"%s\" in partition %u; a TXN spans one partition: give "
                                 "its keys one hash tag ({tag}, protocol.md §1.2)",
                                 q0, p0, q1, p);
                        return false;
                }
        }
        return true;
}

int rpc_txn_check(const struct config *cfg, unsigned n_partitions, const Tunekv__V1__TxnRequest *t,
                  char *why, size_t len)
{
        int rv = rpc_txn_check_limits(cfg, t, why, len);

        if (rv == 0 && !rpc_txn_one_partition(n_partitions, t, why, len)) {
                rv = TKV_EINVAL;
        }
        return rv;
}

/* ------------------------------------------------------------------------ */
/* The answer */

/* Wire enums to command.h's. */
static uint8_t rpc_txn_op_type_of(Tunekv__V1__TxnOpType t)
{
        return t == TUNEKV__V1__TXN_OP_TYPE__TXN_PUT      ? COMMAND_TXN_PUT
               : t == TUNEKV__V1__TXN_OP_TYPE__TXN_DELETE ? COMMAND_TXN_DELETE
                                                          : COMMAND_TXN_GET;
}

static Tunekv__V1__TxnOpType rpc_txn_wire_type_of(uint8_t t)
{
        return t == COMMAND_TXN_PUT      ? TUNEKV__V1__TXN_OP_TYPE__TXN_PUT
               : t == COMMAND_TXN_DELETE ? TUNEKV__V1__TXN_OP_TYPE__TXN_DELETE
                                         : TUNEKV__V1__TXN_OP_TYPE__TXN_GET;
}

/* Memory an answer holds until it is packed. */
struct rpc_txn_answer {
        Tunekv__V1__TxnOpResult *results; /* owned: one per op */
        Tunekv__V1__TxnOpResult **ptrs;   /* owned */
        uint8_t **raw;                    /* owned: decompressed values, one slot per op */
        uint32_t n;
};

static void rpc_txn_answer_free(struct rpc_txn_answer *a)
{
        for (uint32_t i = 0; a->raw != NULL && i < a->n; i++) {
                tkv_free(a->raw[i]);
        }
        tkv_free(a->raw);
        tkv_free(a->ptrs);
        tkv_free(a->results);
}

/* A GET's result from the store as the TXN left it; *budget: the value
 * bytes the answer may still carry (txn_bytes_max). */
static int rpc_txn_fill_get(struct call *c, const struct command_txn_op *o,
                            Tunekv__V1__TxnOpResult *r, uint8_t **raw, uint64_t *budget)
{
        const struct store_entry *e = store_get(group_store(c->group), o->key, o->key_len);
        struct store_fields f;

        if (e == NULL) {
                return 0;
        }
        store_entry_fields(e, &f);
        r->found = true;
        r->create_index = f.create_index;
        r->mod_index = f.mod_index;
        if (f.value_raw_len > *budget) {
                r->value_omitted = true;
                return 0;
        }
        *budget -= f.value_raw_len;
        r->value.data = (uint8_t *)f.value;
        r->value.len = f.value_len;
        if (f.value_len == f.value_raw_len) {
                return 0;
        }
        *raw = tkv_malloc(f.value_raw_len);
        if (*raw == NULL) {
                return TKV_ENOMEM;
        }
        r->value.data = *raw;
        r->value.len = f.value_raw_len;
        return value_decompress(f.value, f.value_len, *raw, f.value_raw_len);
}

/* One result per op of the branch that ran (res: the fsm's first answer). */
static int rpc_txn_fill_results(struct call *c, const struct command_result *res,
                                struct rpc_txn_answer *a)
{
        uint64_t budget = c->node->cfg->txn_bytes_max;
        struct command_txn t;
        struct command_txn_compare x;
        struct command_txn_op o;
        const uint8_t *pos;
        int rv;

        a->n = res->txn_ops;
        a->results = tkv_calloc(a->n + 1, sizeof *a->results);
        a->ptrs = tkv_calloc(a->n + 1, sizeof *a->ptrs);
        a->raw = tkv_calloc(a->n + 1, sizeof *a->raw);
        if (a->results == NULL || a->ptrs == NULL || a->raw == NULL) {
                return TKV_ENOMEM;
        }
        rv = command_txn_open(res->txn_body, res->txn_body_len, &t);
        pos = t.compares;
        for (uint32_t i = 0; rv == 0 && i < t.n_compares; i++) {
                command_txn_next_compare(&pos, &x);
        }
        for (uint32_t i = 0; rv == 0 && res->status != 0 && i < t.n_success; i++) {
                command_txn_next_op(&pos, &o);
        }
        for (uint32_t i = 0; rv == 0 && i < a->n; i++) {
                Tunekv__V1__TxnOpResult *r = &a->results[i];
                tunekv__v1__txn_op_result__init(r);
                a->ptrs[i] = r;
                command_txn_next_op(&pos, &o);
                r->type = rpc_txn_wire_type_of(o.type);
                r->found = o.type != COMMAND_TXN_GET && res->txn_existed[i] != 0;
                if (o.type == COMMAND_TXN_GET) {
                        rv = rpc_txn_fill_get(c, &o, r, &a->raw[i], &budget);
                }
        }
        return rv;
}

/* Answer a TXN the fsm ran (status 0 or TKV_ECONDITION in res). */
static void rpc_txn_answer(struct call *c, const struct command_result *res)
{
        struct node *node = c->node;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__TxnResponse tr = TUNEKV__V1__TXN_RESPONSE__INIT;
        struct session_entry *e = node->token_ents;
        unsigned n;
        struct rpc_txn_answer a = {0};
        int rv = 0;

        tr.succeeded = res->status == 0;
        tr.index = res->index;
        tr.partition = c->partition;
        tr.replayed = res->txn_body == NULL;
        if (!tr.replayed) {
                rv = rpc_txn_fill_results(c, res, &a);
        }
        if (rv != 0) {
                rpc_txn_answer_free(&a);
                call_answer_error(c, rv,
                                  "TXN: applied at index %llu, but its answer could not be "
                                  "built: %s",
                                  (unsigned long long)res->index, err_str(rv));
                return;
        }
        tr.n_results = a.n;
        tr.results = a.ptrs;
        /* The session wrote here, at index (read-your-writes), and its
         * GETs saw the state there. */
        e[0].partition = c->partition;
        e[0].kind = SESSION_W;
        e[0].index = res->index;
        session_sign(&node->keys, &e[0]);
        n = 1;
        if (res->ts != 0) {
                /* Its timestamp, like a PUT's: later SEQUENTIAL reads come after. */
                e[1].partition = SESSION_T_PARTITION;
                e[1].kind = SESSION_T;
                e[1].index = res->ts;
                session_sign(&node->keys, &e[n++]);
        }
        session_encode(e, n, node->token_bytes);
        tr.token.data = node->token_bytes;
        tr.token.len = session_encoded_bytes(n);
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_TXN;
        resp.txn = &tr;
        call_answer(c, &resp);
        rpc_txn_answer_free(&a);
}

/* A TXN the fsm refused for a lease one of its puts names (fsm.c,
 * fsm_txn_check_leases): nothing was applied, answered as a PUT naming
 * that lease is. A retry answered from the session table does not know
 * which lease (res->lease 0). */
static void rpc_txn_answer_lease(struct call *c, const struct command_result *res)
{
        char lease[40] = "a lease it names";

        if (res->lease != 0) {
                snprintf(lease, sizeof lease, "lease %llu", (unsigned long long)res->lease);
        }
        if (res->status == TKV_ENOTFOUND) {
                call_answer_error(c, TKV_ENOTFOUND,
                                  "TXN: %s not found (expired, revoked or never granted): "
                                  "nothing applied",
                                  lease);
        } else {
                call_answer_error(c, TKV_ETOOBIG,
                                  "TXN: %s would have more than its lease_keys_max keys "
                                  "attached: nothing applied",
                                  lease);
        }
}

static void rpc_txn_done(struct group_write *w, int status, const struct command_result *res)
{
        struct call *c = rpc_txn_call_of_write(w);

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
        } else if (status != 0) {
                call_answer_error(c, status, "TXN: %s",
                                  status == TKV_EUNKNOWN
                                      ? "leadership changed before the TXN was acknowledged"
                                      : err_str(status));
        } else if (res->status == 0 || res->status == TKV_ECONDITION) {
                rpc_txn_answer(c, res);
        } else if (res->status == TKV_ENOTFOUND || res->status == TKV_ETOOBIG) {
                rpc_txn_answer_lease(c, res);
        } else if (res->status == TKV_EEXIST) {
                call_answer_error(c, TKV_EINVAL,
                                  "TXN: (client_id, seq) already used for a different write");
        } else if (res->status == TKV_EUNKNOWN) {
                call_answer_error(c, TKV_EUNKNOWN,
                                  "TXN: retry of a write too old to be remembered "
                                  "(session_window, sessions_max, sessions_bytes_max)");
        } else {
                call_answer_error(c, TKV_ECORRUPT, "TXN: could not be applied: %s",
                                  err_str(res->status));
        }
}

/* ------------------------------------------------------------------------ */
/* The request */

int rpc_txn_encode(const Tunekv__V1__TxnRequest *t, uint8_t **body, size_t *len)
{
        size_t n_ops = t->n_success + t->n_failure;
        struct command_txn_compare *xs = tkv_calloc(t->n_compares + 1, sizeof *xs);
        struct command_txn_op *ops = tkv_calloc(n_ops + 1, sizeof *ops);
        int rv = TKV_ENOMEM;

        *body = NULL;
        if (xs == NULL || ops == NULL) {
                goto cleanup;
        }
        for (size_t i = 0; i < t->n_compares; i++) {
                const Tunekv__V1__TxnCompare *w = t->compares[i];
                xs[i].target = (uint8_t)(w->target + COMMAND_TXN_TARGET_VERSION);
                xs[i].op = (uint8_t)(w->op + COMMAND_TXN_EQ);
                xs[i].key = w->key.data;
                xs[i].key_len = (uint32_t)w->key.len;
                xs[i].number = w->number;
                xs[i].value = w->value.data;
                xs[i].value_len = (uint32_t)w->value.len;
        }
        for (size_t i = 0; i < n_ops; i++) {
                const Tunekv__V1__TxnOp *w =
                    i < t->n_success ? t->success[i] : t->failure[i - t->n_success];
                ops[i].type = rpc_txn_op_type_of(w->type);
                ops[i].key = w->key.data;
                ops[i].key_len = (uint32_t)w->key.len;
                ops[i].value = w->value.data;
                ops[i].value_len = (uint32_t)w->value.len;
                ops[i].lease = w->lease;
        }
        *len = command_txn_body_bytes(xs, (uint32_t)t->n_compares, ops, (uint32_t)t->n_success,
                                      (uint32_t)t->n_failure);
        *body = tkv_malloc(*len);
        if (*body != NULL) {
                command_txn_body_encode(xs, (uint32_t)t->n_compares, ops, (uint32_t)t->n_success,
                                        (uint32_t)t->n_failure, *body);
                rv = 0;
        }
cleanup:
        tkv_free(xs);
        tkv_free(ops);
        return rv;
}

/* Options a TXN takes: 0, or nonzero once c is answered. */
static int rpc_txn_check_options(struct call *c, const Tunekv__V1__WriteOptions *o)
{
        if (o == NULL) {
                return 0;
        }
        if (o->ack != TUNEKV__V1__ACK__ACK_COMMITTED) {
                call_answer_error(c, TKV_EINVAL,
                                  "TXN: ack must be ACK_COMMITTED: its answer is read when it "
                                  "applies on the leader");
                return TKV_EINVAL;
        }
        if ((o->client_id == 0) != (o->seq == 0)) {
                call_answer_error(c, TKV_EINVAL,
                                  "TXN: client_id and seq go together (both or none)");
                return TKV_EINVAL;
        }
        return 0;
}

/* Encode t into cmd (with its session and dependencies) and propose it. */
static void rpc_txn_propose(struct call *c, const Tunekv__V1__TxnRequest *t, struct command *cmd)
{
        const Tunekv__V1__WriteOptions *o = t->options;
        uint8_t *body = NULL;
        size_t len = 0;
        int rv;

        rv = rpc_txn_encode(t, &body, &len);
        if (rv != 0) {
                call_answer_error(c, rv, "TXN: %s", err_str(rv));
                return;
        }
        cmd->type = COMMAND_TXN;
        cmd->value = body;
        cmd->value_len = cmd->value_raw_len = (uint32_t)len;
        if (o != NULL && o->client_id != 0) {
                cmd->client_id = o->client_id;
                cmd->seq = o->seq;
                cmd->flags |= o->retry ? COMMAND_F_RETRY : 0;
                cmd->payload_hash = command_payload_hash(cmd);
        }
        c->op.write.accept_only = false;
        rv = group_propose(c->group, &c->op.write, cmd, rpc_txn_done);
        tkv_free(body); /* group_propose encoded its own copy */
        if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
                return;
        }
        if (rv != 0) {
                call_answer_error(c, rv, "TXN: %s", err_str(rv));
                return;
        }
        c->stage = CALL_WRITE;
}

/* Does every lease the puts of t name live in the TXN's partition
 * (c->partition, once routed)? 0, or nonzero once c is answered
 * INVALID_ARGUMENT: the id tells, so nothing is proposed. Whether the
 * lease exists is for the fsm to say, in log order. */
static int rpc_txn_check_lease_partitions(struct call *c, const Tunekv__V1__TxnRequest *t)
{
        int rv = 0;

        for (size_t i = 0; rv == 0 && i < t->n_success + t->n_failure; i++) {
                const Tunekv__V1__TxnOp *o =
                    i < t->n_success ? t->success[i] : t->failure[i - t->n_success];
                rv = rpc_lease_check_write(c, o->lease);
        }
        return rv;
}

void rpc_txn(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__TxnRequest *t = req->txn;
        struct node *node = c->node;
        struct command cmd = {0};
        char why[512];
        int rv;

        if (rpc_txn_check_options(c, t->options) != 0) {
                return;
        }
        rv = rpc_txn_check(node->cfg, node->n_partitions, t, why, sizeof why);
        if (rv != 0) {
                call_answer_error(c, rv, "TXN: %s", why);
                return;
        }
        if (!rpc_kv_route(c, req, rpc_txn_key(t, 0)) || rpc_txn_check_lease_partitions(c, t) != 0 ||
            rpc_kv_write_deps(c, t->options, &cmd) != 0) {
                return;
        }
        if (node->disk_low) {
                call_answer_error(c, TKV_ENOSPACE,
                                  "TXN: data dir has %llu MiB free, below disk_reserve_bytes: "
                                  "writes are refused until space is freed",
                                  (unsigned long long)(node->disk_free_bytes >> 20));
                return;
        }
        rpc_txn_propose(c, t, &cmd);
}
