/* PUT, DELETE, CAS: one handler each, no socket code. The partition's
 * leader serves them (rpc_route.c, route.h: elsewhere they are forwarded or
 * answered NOT_LEADER / NO_QUORUM / UNAVAILABLE). GETs are rpc_read.c's.
 *
 * Writes: validate, compress the value if that pays, take the writer's
 * causal dependencies from its token, encode the command, propose it
 * (group_propose), answer per `ack`: LEADER_ACCEPTED once raft took it,
 * COMMITTED once it applied here, ALL_REPLICAS once every replica reported
 * applying it (read.h; probes carry the reports). */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"
#include "store.h"
#include "value.h"

static struct call *rpc_kv_call_of_write(struct group_write *w)
{
        return QUEUE_DATA(w, struct call, op.write);
}

/* Writes and LINEARIZABLE reads: the partition's leader serves them, and
 * only while it reaches a majority. Returns true when that is this node;
 * else c has been forwarded or answered (route.h). */
bool rpc_kv_route(struct call *c, const Tunekv__V1__Request *req, const ProtobufCBinaryData *key)
{
        struct route_need need = {0};

        need.leader_only = true;
        need.needs_quorum = true;
        need.no_forward = req->no_forward;
        return rpc_route_request(c, req, key, &need);
}

/* ------------------------------------------------------------------------ */
/* Writes */

static struct call *rpc_kv_call_of_ack_all(struct queue *q)
{
        return QUEUE_DATA(q, struct call, op.ack_all);
}

/* Answer a write that ran (res) with the acknowledgement it got. */
static void rpc_kv_answer_write(struct call *c, const struct command_result *res,
                                Tunekv__V1__Ack ack)
{
        struct node *node = c->node;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse wr = TUNEKV__V1__WRITE_RESPONSE__INIT;
        struct session_entry *e = node->token_ents;
        unsigned n = 0;

        wr.index = res->index;
        wr.timestamp = res->ts;
        wr.partition = c->partition;
        wr.ack = ack;
        wr.durable = ack != TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        resp.write = &wr;
        resp.status = call_status_of(res->status);
        if (res->status == 0 || res->status == TKV_ENOTFOUND || res->status == TKV_ECONDITION) {
                /* The session wrote here, at index (read-your-writes): a
                 * DELETE that found nothing is a write too, and a CAS that
                 * failed saw the key's version there (monotonic reads). */
                e[n].partition = c->partition;
                e[n].kind = res->status == TKV_ECONDITION ? SESSION_R : SESSION_W;
                e[n].index = res->index;
                session_sign(&node->keys, &e[n++]);
                if (res->ts != 0) {
                        /* The session's later SEQUENTIAL reads come after it. */
                        e[n].partition = SESSION_T_PARTITION;
                        e[n].kind = SESSION_T;
                        e[n].index = res->ts;
                        session_sign(&node->keys, &e[n++]);
                }
                session_encode(e, n, node->token_bytes);
                wr.token.data = node->token_bytes;
                wr.token.len = session_encoded_bytes(n);
        }
        if (res->status == TKV_ECONDITION) {
                wr.current_version = res->current_version;
                resp.message = "version differs from expected_version";
        } else if (res->status == TKV_ENOTFOUND &&
                   c->method->body != TUNEKV__V1__REQUEST__BODY_DELETE) {
                /* Only its lease makes a PUT or CAS not find something. */
                resp.message =
                    "lease not found (expired, revoked or never granted): nothing written";
        } else if (res->status == TKV_ETOOBIG) {
                resp.message = "the lease has its lease_keys_max keys attached: nothing written";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        } else if (res->status == TKV_ENOTFOUND) {
                resp.message = "key not found";
        } else if (res->status == TKV_EEXIST) {
                /* Not a retry: the client reused a seq for another write. */
                resp.status = TUNEKV__V1__STATUS__STATUS_INVALID_ARGUMENT;
                resp.message = "(client_id, seq) already used for a different write";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        } else if (res->status == TKV_EUNKNOWN) {
                resp.message =
                    "retry of a write too old to be remembered (session_window, or "
                    "the client's session was dropped: sessions_max, sessions_bytes_max)";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        } else if (res->status != 0) {
                resp.status = TUNEKV__V1__STATUS__STATUS_INTERNAL;
                resp.message = "command could not be applied";
        }
        call_answer(c, &resp);
}

void rpc_kv_ack_all_done(struct call *c, bool all)
{
        c->stage = CALL_NEW;
        rpc_kv_answer_write(c, &c->applied,
                            all ? TUNEKV__V1__ACK__ACK_ALL_REPLICAS
                                : TUNEKV__V1__ACK__ACK_COMMITTED);
}

static bool rpc_kv_all_applied(struct node *node, uint32_t p, uint64_t index)
{
        return read_all_applied(&node->reads[p], node->cfg->node_id,
                                group_applied_index(node->groups[p]), index);
}

void rpc_kv_ack_all_scan(struct node *node, uint32_t p)
{
        struct read_state *rs = &node->reads[p];
        struct queue *q;

        for (q = queue_head(&rs->ack_alls); q != &rs->ack_alls;) {
                struct call *c = rpc_kv_call_of_ack_all(q);
                q = q->next;
                if (rpc_kv_all_applied(node, p, c->applied.index)) {
                        queue_remove(&c->op.ack_all);
                        rpc_kv_ack_all_done(c, true);
                }
        }
}

static void rpc_kv_write_done(struct group_write *w, int status, const struct command_result *res)
{
        struct call *c = rpc_kv_call_of_write(w);
        struct node *node = c->node;

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
                return;
        }
        if (status != 0) {
                call_answer_error(c, status, "%s: %s", c->method->name,
                                  status == TKV_EUNKNOWN
                                      ? "leadership changed before the write was acknowledged"
                                      : err_str(status));
                return;
        }
        if (res->accepted_only) {
                rpc_kv_answer_write(c, res,
                                    call_planted("early-ack") &&
                                            c->ack == TUNEKV__V1__ACK__ACK_COMMITTED
                                        ? TUNEKV__V1__ACK__ACK_COMMITTED
                                        : TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED);
                return;
        }
        if (c->ack != TUNEKV__V1__ACK__ACK_ALL_REPLICAS || res->status != 0) {
                rpc_kv_answer_write(c, res, TUNEKV__V1__ACK__ACK_COMMITTED);
                return;
        }
        if (rpc_kv_all_applied(node, c->partition, res->index)) {
                rpc_kv_answer_write(c, res, TUNEKV__V1__ACK__ACK_ALL_REPLICAS);
                return;
        }
        /* Followers report what they applied in their probes (they probe at
         * once when they apply an ALL_REPLICAS entry); a barrier tells them
         * the new commit index without waiting for a heartbeat. */
        c->applied = *res;
        c->stage = CALL_ACK_ALL;
        queue_push_tail(&node->reads[c->partition].ack_alls, &c->op.ack_all);
        call_deadline_move(c, call_give_up_ms(c, uv_now(node->loop)));
        group_nudge(c->group);
}

/* The write is stamped above what the writer's token saw (SESSION_T):
 * the node's clock observes it before the write is proposed. Returns 0, or
 * nonzero once c is answered. */
static int rpc_kv_write_after(struct call *c, unsigned n)
{
        struct node *node = c->node;
        uint64_t ts = 0;

        (void)session_ts(&node->keys, node->token_ents, n, &ts); /* verified */
        if (hlc_observe(&node->hlc, ts)) {
                return 0;
        }
        call_answer_error(c, TKV_EINVAL,
                          "%s: the token's timestamp is %lld ms ahead of node %u's clock, more "
                          "than max_clock_offset_ms (%u): a clock in the cluster is off",
                          c->method->name, (long long)(hlc_ms(ts) - hlc_ms(hlc_wall(&node->hlc))),
                          node->cfg->node_id, node->cfg->max_clock_offset_ms);
        return TKV_EINVAL;
}

/* The writer's token becomes the write's causal dependencies: every entry
 * checked, one per other partition kept (the highest index). Returns 0, or
 * nonzero once c is answered. */
int rpc_kv_write_deps(struct call *c, const Tunekv__V1__WriteOptions *o, struct command *cmd)
{
        struct node *node = c->node;
        unsigned n = 0;
        int rv;

        if (o == NULL || o->token.len == 0) {
                return 0;
        }
        rv = session_parse(o->token.data, o->token.len, node->cfg->token_bytes_max,
                           node->token_ents, node->token_cap, &n);
        if (rv == TKV_ETOOBIG) {
                call_answer_error(c, rv, "%s: token of %zu bytes exceeds token_bytes_max %llu",
                                  c->method->name, o->token.len,
                                  (unsigned long long)node->cfg->token_bytes_max);
                return rv;
        }
        if (rv == 0) {
                rv = session_verify_all(&node->keys, node->token_ents, n);
        }
        if (rv != 0) {
                call_answer_error(c, TKV_EINVAL,
                                  "%s: token is malformed, forged or from another cluster",
                                  c->method->name);
                return rv;
        }
        if (rpc_kv_write_after(c, n) != 0) {
                return TKV_EINVAL;
        }
        n = session_reduce_deps(node->token_ents, n, c->partition);
        if (n > 0) {
                session_deps_encode(node->token_ents, n, node->token_bytes);
                cmd->deps = node->token_bytes;
                cmd->deps_len = (uint32_t)session_deps_encoded_bytes(node->token_ents, n);
        }
        return 0;
}

/* Compress value into the node's scratch buffer when it pays. */
static void rpc_kv_maybe_compress(struct call *c, struct command *cmd)
{
        struct node *node = c->node;
        uint64_t min = node->cfg->compress_min_bytes;
        size_t out_len;

        if (min == 0 || cmd->value_len < min) {
                return;
        }
        if (value_compress(cmd->value, cmd->value_len, node->scratch, node->scratch_bytes,
                           &out_len) != 0) {
                return;
        }
        cmd->flags |= COMMAND_F_LZ4;
        cmd->value = node->scratch;
        cmd->value_len = (uint32_t)out_len;
}

static void rpc_kv_write(struct call *c, const Tunekv__V1__Request *req, struct command *cmd,
                         const ProtobufCBinaryData *key, const Tunekv__V1__WriteOptions *opts)
{
        uint64_t value_max = c->node->cfg->value_bytes_max;
        int rv;

        if (opts != NULL && (unsigned)opts->ack > TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED) {
                call_answer_error(c, TKV_EINVAL, "%s: unknown ack %d", c->method->name,
                                  (int)opts->ack);
                return;
        }
        if (opts != NULL && (opts->client_id == 0) != (opts->seq == 0)) {
                call_answer_error(c, TKV_EINVAL, "%s: client_id and seq go together (both or none)",
                                  c->method->name);
                return;
        }
        if (cmd->value_len > value_max) {
                call_answer_error(c, TKV_ETOOBIG,
                                  "%s: value of %u bytes exceeds value_bytes_max %llu",
                                  c->method->name, cmd->value_len, (unsigned long long)value_max);
                return;
        }
        if (!rpc_kv_route(c, req, key) || rpc_lease_check_write(c, cmd->lease) != 0 ||
            rpc_kv_write_deps(c, opts, cmd) != 0) {
                return;
        }
        if (c->node->disk_low) {
                call_answer_error(
                    c, TKV_ENOSPACE,
                    "%s: data dir has %llu MiB free, below disk_reserve_bytes: writes "
                    "are refused until space is freed",
                    c->method->name, (unsigned long long)(c->node->disk_free_bytes >> 20));
                return;
        }
        c->op.write.accept_only = call_planted("early-ack");
        if (opts != NULL) {
                c->ack = (uint8_t)opts->ack;
                c->op.write.accept_only |= opts->ack == TUNEKV__V1__ACK__ACK_LEADER_ACCEPTED;
                cmd->flags |=
                    opts->ack == TUNEKV__V1__ACK__ACK_ALL_REPLICAS ? COMMAND_F_ACK_ALL : 0;
        }
        cmd->key = key->data;
        cmd->key_len = (uint32_t)key->len;
        cmd->value_raw_len = cmd->value_len;
        if (opts != NULL && opts->client_id != 0) {
                cmd->client_id = opts->client_id;
                cmd->seq = opts->seq;
                cmd->flags |= opts->retry ? COMMAND_F_RETRY : 0;
                cmd->payload_hash = command_payload_hash(cmd); /* before compression */
        }
        rpc_kv_maybe_compress(c, cmd);
        rv = group_propose(c->group, &c->op.write, cmd, rpc_kv_write_done);
        if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, c->method->name);
                return;
        }
        if (rv != 0) {
                call_answer_error(c, rv, "%s: %s", c->method->name, err_str(rv));
                return;
        }
        c->stage = CALL_WRITE;
}

void rpc_kv_put(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__PutRequest *put = req->put;
        struct command cmd = {0};

        cmd.type = COMMAND_PUT;
        cmd.lease = put->lease;
        cmd.value = put->value.data;
        cmd.value_len = (uint32_t)(put->value.len > UINT32_MAX ? UINT32_MAX : put->value.len);
        rpc_kv_write(c, req, &cmd, &put->key, put->options);
}

void rpc_kv_delete(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__DeleteRequest *del = req->delete_;
        struct command cmd = {0};

        cmd.type = COMMAND_DELETE;
        rpc_kv_write(c, req, &cmd, &del->key, del->options);
}

void rpc_kv_cas(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__CasRequest *cas = req->cas;
        struct command cmd = {0};

        cmd.type = COMMAND_CAS;
        cmd.expected_version = cas->expected_version;
        cmd.lease = cas->lease;
        cmd.value = cas->value.data;
        cmd.value_len = (uint32_t)(cas->value.len > UINT32_MAX ? UINT32_MAX : cas->value.len);
        rpc_kv_write(c, req, &cmd, &cas->key, cas->options);
}
