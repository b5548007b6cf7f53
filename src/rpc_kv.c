/* GET, PUT, DELETE, CAS: one handler each, no socket code.
 *
 * Where a request goes (rpc_kv_dispatch): to the local group when this node
 * leads the key's partition; otherwise, to the node that does (rpc_forward,
 * one hop, the request marked no_forward) unless the request itself says
 * no_forward, in which case it is answered NOT_LEADER with a hint. With no
 * leader known anywhere, the answer is NO_QUORUM when most of the
 * partition's replicas are unreachable, UNAVAILABLE otherwise (an election
 * is under way). A local leader that cannot reach a majority answers
 * NO_QUORUM at once instead of proposing into a log that cannot commit.
 *
 * GET (LINEARIZABLE, the only level served so far): wait for the group's
 * read fence (group_read_fence), then answer from the store.
 * Any other level, and any read option that only other levels use, is
 * refused with INVALID_ARGUMENT naming what is not implemented: a read is
 * never silently served with a guarantee other than the one asked.
 *
 * Writes: validate, compress the value if that pays, encode the command,
 * propose it (group_propose), answer when it is applied. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "heap.h"
#include "route.h"
#include "rpc_internal.h"
#include "server.h"
#include "value.h"

static const char *const rpc_kv_level_names[] = {"LINEARIZABLE", "SEQUENTIAL",        "CAUSAL",
                                                 "SESSION",      "BOUNDED_STALENESS", "EVENTUAL"};

static struct call *rpc_kv_call_of_read(struct group_read *r)
{
        return QUEUE_DATA(r, struct call, op.read);
}

static struct call *rpc_kv_call_of_write(struct group_write *w)
{
        return QUEUE_DATA(w, struct call, op.write);
}

/* NOT_LEADER with the leader's id and client address, when known. */
static void rpc_kv_answer_not_leader(struct call *c, const char *what)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        const struct config *cfg = c->server->cfg;
        uint64_t leader = c->group != NULL ? group_leader_id(c->group) : 0;
        int i = config_node_index(cfg, (unsigned)leader);
        char message[128];

        snprintf(message, sizeof message, "%s: this node is not the leader of partition %u", what,
                 c->partition);
        resp.status = TUNEKV__V1__STATUS__STATUS_NOT_LEADER;
        resp.message = message;
        resp.leader_hint = &hint; /* node_id 0: no leader known */
        if (i >= 0) {
                hint.node_id = (uint32_t)leader;
                hint.client_addr = (char *)cfg->nodes[i].client_addr;
        }
        rpc_answer(c, &resp);
}

/* Route c's key. Returns true when the local group should serve it; else
 * c has been forwarded or answered. */
static bool rpc_kv_route(struct call *c, const Tunekv__V1__Request *req,
                         const ProtobufCBinaryData *key)
{
        struct route r;
        unsigned target;
        bool quorum;

        route_key(c->server, key->data, (uint32_t)key->len, &r);
        c->key_hash = r.hash;
        c->partition = r.partition;
        c->group = r.group;
        if (r.outcome == ROUTE_LOCAL && group_is_leader(r.group)) {
                target = rpc_forward_target(c, &quorum);
                if (quorum) {
                        return true;
                }
                rpc_answer_error(c, TKV_ENOQUORUM,
                                 "%s: partition %u: most of its replicas are unreachable",
                                 c->method->name, c->partition);
                return false;
        }
        target = rpc_forward_target(c, &quorum);
        if (target == 0) {
                rpc_answer_error(c, quorum ? TKV_ESHUTDOWN : TKV_ENOQUORUM,
                                 "%s: partition %u has no leader (%s)", c->method->name,
                                 c->partition,
                                 quorum ? "election in progress" : "most replicas unreachable");
        } else if (req->no_forward && r.outcome == ROUTE_LOCAL) {
                rpc_kv_answer_not_leader(c, c->method->name);
        } else if (req->no_forward) {
                rpc_answer_error(c, TKV_ESHUTDOWN, "%s: partition %u has no replica on node %u",
                                 c->method->name, c->partition, c->server->cfg->node_id);
        } else {
                rpc_forward(c, req, target);
        }
        return false;
}

/* ------------------------------------------------------------------------ */
/* GET */

/* Which read option is set that LINEARIZABLE does not serve yet, or NULL.
 * `strict` is accepted: a linearizable answer is never weaker than asked. */
static const char *rpc_kv_unsupported_option(const Tunekv__V1__ReadOptions *o)
{
        if (o == NULL) {
                return NULL;
        }
        if (o->level != TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE) {
                return "level";
        }
        if (o->session_flags != 0) {
                return "session_flags";
        }
        if (o->token.len != 0) {
                return "token";
        }
        if (o->min_index != 0) {
                return "min_index";
        }
        if (o->max_staleness_ms != 0 || o->max_lag_entries != 0) {
                return "staleness bounds";
        }
        if (o->route != TUNEKV__V1__ROUTE__ROUTE_LEADER) {
                return "route";
        }
        if (o->on_unmet != TUNEKV__V1__ON_UNMET__ON_UNMET_WAIT || o->max_wait_ms != 0) {
                return "on_unmet/max_wait_ms";
        }
        return NULL;
}

/* Fill gr with the entry's value; *tmp receives memory to free after the
 * answer is packed. */
static int rpc_kv_fill_value(struct call *c, const struct store_entry *e,
                             Tunekv__V1__GetResponse *gr, uint8_t **tmp)
{
        struct server *s = c->server;
        uint8_t *dst = s->scratch;
        int rv;

        *tmp = NULL;
        gr->found = true;
        gr->create_index = e->create_index;
        gr->mod_index = e->mod_index;
        if (!store_entry_compressed(e)) {
                gr->value.data = (uint8_t *)store_entry_value(e);
                gr->value.len = e->value_len;
                return 0;
        }
        if (e->value_raw_len > s->scratch_bytes) {
                /* Written under a larger value_bytes_max. */
                dst = *tmp = tkv_malloc(e->value_raw_len);
                if (dst == NULL) {
                        return TKV_ENOMEM;
                }
        }
        rv = value_decompress(store_entry_value(e), e->value_len, dst, e->value_raw_len);
        if (rv != 0) {
                return rv;
        }
        gr->value.data = dst;
        gr->value.len = e->value_raw_len;
        return 0;
}

static void rpc_kv_read_ready(struct group_read *r, int status)
{
        struct call *c = rpc_kv_call_of_read(r);
        struct group *g = c->group;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__GetResponse gr = TUNEKV__V1__GET_RESPONSE__INIT;
        Tunekv__V1__ReadReceipt rc = TUNEKV__V1__READ_RECEIPT__INIT;
        const struct store_entry *e;
        uint8_t *tmp = NULL;
        int rv;

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                rpc_kv_answer_not_leader(c, "GET");
                return;
        }
        if (status != 0) {
                rpc_answer_error(c, status, "GET: %s", err_str(status));
                return;
        }
        rc.node_id = c->server->cfg->node_id;
        rc.role = TUNEKV__V1__ROLE__ROLE_LEADER;
        rc.term = group_term(g);
        rc.applied_index = group_applied_index(g);
        rc.level = TUNEKV__V1__CONSISTENCY__CONSISTENCY_LINEARIZABLE;
        rc.staleness_ms = 0; /* fenced: current as of the read's arrival */
        rc.partition = c->partition;
        gr.receipt = &rc;
        e = store_get(group_store(g), c->key_hash, c->key, c->key_len);
        if (e != NULL) {
                rv = rpc_kv_fill_value(c, e, &gr, &tmp);
                if (rv != 0) {
                        rpc_answer_error(c, rv == TKV_ENOMEM ? TKV_ENOMEM : TKV_ECORRUPT,
                                         "GET: stored value unreadable: %s", err_str(rv));
                        return;
                }
        } else {
                resp.status = TUNEKV__V1__STATUS__STATUS_NOT_FOUND;
                resp.message = "key not found";
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_GET;
        resp.get = &gr;
        rpc_answer(c, &resp);
        tkv_free(tmp);
}

void rpc_kv_get(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__ReadOptions *o = req->get->options;
        const char *unsupported = rpc_kv_unsupported_option(o);
        int rv;

        if (unsupported != NULL) {
                rpc_answer_error(c, TKV_EINVAL,
                                 "GET: read option %s is not implemented yet (requested level %s); "
                                 "only LINEARIZABLE reads with default options are served",
                                 unsupported,
                                 (unsigned)o->level < 6 ? rpc_kv_level_names[o->level] : "unknown");
                return;
        }
        if (!rpc_kv_route(c, req, &req->get->key)) {
                return;
        }
        rv = group_read_fence(c->group, &c->op.read, rpc_kv_read_ready);
        if (rv == 0) {
                c->stage = CALL_READ;
        } else if (rv == TKV_ENOTLEADER) {
                rpc_kv_answer_not_leader(c, "GET");
        } else if (rv != 0) {
                rpc_answer_error(c, rv, "GET: %s", err_str(rv));
        }
}

/* ------------------------------------------------------------------------ */
/* Writes */

static void rpc_kv_write_done(struct group_write *w, int status, const struct command_result *res)
{
        struct call *c = rpc_kv_call_of_write(w);
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__WriteResponse wr = TUNEKV__V1__WRITE_RESPONSE__INIT;

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                rpc_kv_answer_not_leader(c, c->method->name);
                return;
        }
        if (status != 0) {
                rpc_answer_error(c, status, "%s: %s", c->method->name,
                                 status == TKV_EUNKNOWN
                                     ? "leadership changed before the write was acknowledged"
                                     : err_str(status));
                return;
        }
        wr.index = res->index;
        wr.partition = c->partition;
        wr.ack = TUNEKV__V1__ACK__ACK_COMMITTED;
        wr.durable = true;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_WRITE;
        resp.write = &wr;
        resp.status = rpc_status_of(res->status);
        if (res->status == TKV_ECONDITION) {
                wr.current_version = res->current_version;
                resp.message = "version differs from expected_version";
        } else if (res->status == TKV_ENOTFOUND) {
                resp.message = "key not found";
        } else if (res->status == TKV_EEXIST) {
                /* Not a retry: the client reused a seq for another write. */
                resp.status = TUNEKV__V1__STATUS__STATUS_INVALID_ARGUMENT;
                resp.message = "(client_id, seq) already used for a different write";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        } else if (res->status == TKV_EUNKNOWN) {
                resp.message = "retry of a write too old to be remembered (session_window)";
                resp.body_case = TUNEKV__V1__RESPONSE__BODY__NOT_SET;
        } else if (res->status != 0) {
                resp.status = TUNEKV__V1__STATUS__STATUS_INTERNAL;
                resp.message = "command could not be applied";
        }
        rpc_answer(c, &resp);
}

static const char *rpc_kv_unsupported_write_option(const Tunekv__V1__WriteOptions *o)
{
        if (o == NULL) {
                return NULL;
        }
        if (o->ack != TUNEKV__V1__ACK__ACK_COMMITTED) {
                return "ack";
        }
        if (o->token.len != 0) {
                return "token";
        }
        return NULL;
}

/* Compress value into the server's scratch buffer when it pays. */
static void rpc_kv_maybe_compress(struct call *c, struct command *cmd)
{
        struct server *s = c->server;
        uint64_t min = s->cfg->compress_min_bytes;
        size_t out_len;

        if (min == 0 || cmd->value_len < min) {
                return;
        }
        if (value_compress(cmd->value, cmd->value_len, s->scratch, s->scratch_bytes, &out_len) !=
            0) {
                return;
        }
        cmd->flags |= COMMAND_F_LZ4;
        cmd->value = s->scratch;
        cmd->value_len = (uint32_t)out_len;
}

static void rpc_kv_write(struct call *c, const Tunekv__V1__Request *req, struct command *cmd,
                         const ProtobufCBinaryData *key, const Tunekv__V1__WriteOptions *opts)
{
        const char *unsupported = rpc_kv_unsupported_write_option(opts);
        uint64_t value_max = c->server->cfg->value_bytes_max;
        int rv;

        if (unsupported != NULL) {
                rpc_answer_error(c, TKV_EINVAL, "%s: write option %s is not implemented yet",
                                 c->method->name, unsupported);
                return;
        }
        if (opts != NULL && (opts->client_id == 0) != (opts->seq == 0)) {
                rpc_answer_error(c, TKV_EINVAL, "%s: client_id and seq go together (both or none)",
                                 c->method->name);
                return;
        }
        if (cmd->value_len > value_max) {
                rpc_answer_error(c, TKV_ETOOBIG,
                                 "%s: value of %u bytes exceeds value_bytes_max %llu",
                                 c->method->name, cmd->value_len, (unsigned long long)value_max);
                return;
        }
        if (!rpc_kv_route(c, req, key)) {
                return;
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
                rpc_kv_answer_not_leader(c, c->method->name);
                return;
        }
        if (rv != 0) {
                rpc_answer_error(c, rv, "%s: %s", c->method->name, err_str(rv));
                return;
        }
        c->stage = CALL_WRITE;
}

void rpc_kv_put(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__PutRequest *put = req->put;
        struct command cmd = {0};

        cmd.type = COMMAND_PUT;
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
        cmd.value = cas->value.data;
        cmd.value_len = (uint32_t)(cas->value.len > UINT32_MAX ? UINT32_MAX : cas->value.len);
        rpc_kv_write(c, req, &cmd, &cas->key, cas->options);
}
