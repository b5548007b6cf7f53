/* LEASE_*: grant, keepalive, revoke, info, list (protocol.md, "Leases").
 *
 * A lease lives in one partition (lease.h: its id carries it), and the
 * partition's leader serves every operation on it, routed like a write
 * (rpc_route_partition): GRANT to the partition of the request's key (or
 * partition), the others to the partition the id names.
 *
 * Normal paths:
 * - GRANT: check the TTL against lease_ttl_min_ms..lease_ttl_max_ms,
 *   propose LEASE_GRANT carrying this leader's leases_max and
 *   lease_keys_max, answer the id (partition and the entry's index) once
 *   applied; idempotent with (client_id, seq) like any write: a retry gets
 *   the first index, hence the same id.
 * - REVOKE: propose LEASE_REVOKE; applied, the lease and its keys are gone
 *   in that one entry.
 * - KEEPALIVE: not replicated (like etcd's): the leader moves the lease's
 *   deadline to now + TTL on its own clock (group_lease.c).
 * - INFO, LIST: read the leader's table, with what is left of each TTL on
 *   its clock.
 *
 * Failure modes: a bad TTL or op, a lease id naming no partition
 * (INVALID_ARGUMENT / NOT_FOUND, nothing proposed); an unknown or expired
 * lease (NOT_FOUND); leases_max reached (BUSY, from the fsm, which
 * applies the limit the grant carries); every failure of a write
 * (NOT_LEADER, OUTCOME_UNKNOWN, NO_SPACE) as rpc_kv.c answers it. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "heap.h"
#include "keyhash.h"
#include "lease.h"
#include "node.h"
#include "route.h"
#include "rpc_internal.h"

static struct call *rpc_lease_call_of_write(struct group_write *w)
{
        return QUEUE_DATA(w, struct call, op.write);
}

/* Route c to the leader of partition p, as a write is. True when served
 * here; else c is forwarded or answered. */
static bool rpc_lease_route(struct call *c, const Tunekv__V1__Request *req, uint32_t p)
{
        struct route_need need = {0};

        need.leader_only = true;
        need.needs_quorum = true;
        need.no_forward = req->no_forward;
        return rpc_route_partition(c, req, p, &need);
}

/* The partition of lease id, or answer c NOT_FOUND and return false. */
static bool rpc_lease_partition_of(struct call *c, uint64_t id, uint32_t *p)
{
        *p = lease_id_partition(id);
        if (*p >= c->node->n_partitions) {
                call_answer_error(c, TKV_ENOTFOUND,
                                  "LEASE: lease %llu not found: its id names no partition of %u",
                                  (unsigned long long)id, c->node->n_partitions);
                return false;
        }
        return true;
}

int rpc_lease_check_write(struct call *c, uint64_t lease)
{
        uint32_t p = lease_id_partition(lease);

        if (lease == 0 || p == c->partition) {
                return 0;
        }
        call_answer_error(c, TKV_EINVAL,
                          "%s: lease %llu lives in partition %u, the key in partition %u: "
                          "grant the lease with the key's hash tag (a lease's keys share its "
                          "partition)",
                          c->method->name, (unsigned long long)lease, p == UINT32_MAX ? 0 : p,
                          c->partition);
        return TKV_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* GRANT and REVOKE: replicated */

static void rpc_lease_answer_applied(struct call *c, const struct command_result *res)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaseResponse lr = TUNEKV__V1__LEASE_RESPONSE__INIT;
        struct lease *l;

        lr.partition = c->partition;
        lr.index = res->index;
        if (c->lease_op == TUNEKV__V1__LEASE_OP__LEASE_GRANT) {
                lr.id = lease_id_make(c->partition, res->index);
                l = lease_find(group_leases(c->group), lr.id);
                lr.ttl_ms = l != NULL ? l->ttl_ms : 0;
                lr.remaining_ms = l != NULL ? (int64_t)l->ttl_ms : 0;
        } else {
                lr.id = c->lease_id;
        }
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_LEASE;
        resp.lease = &lr;
        call_answer(c, &resp);
}

static void rpc_lease_write_done(struct group_write *w, int status,
                                 const struct command_result *res)
{
        struct call *c = rpc_lease_call_of_write(w);

        c->stage = CALL_NEW;
        if (status == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "LEASE");
        } else if (status != 0) {
                call_answer_error(c, status, "LEASE: %s",
                                  status == TKV_EUNKNOWN
                                      ? "leadership changed before the lease operation was "
                                        "acknowledged"
                                      : err_str(status));
        } else if (res->status == 0) {
                rpc_lease_answer_applied(c, res);
        } else if (res->status == TKV_ENOTFOUND) {
                call_answer_error(c, TKV_ENOTFOUND,
                                  "LEASE: lease %llu not found (expired, revoked or never granted)",
                                  (unsigned long long)c->lease_id);
        } else if (res->status == TKV_EBUSY) {
                call_answer_error(c, TKV_EBUSY,
                                  "LEASE: partition %u holds leases_max (%u) leases: revoke some",
                                  c->partition, c->node->cfg->leases_max);
        } else if (res->status == TKV_EEXIST) {
                call_answer_error(c, TKV_EINVAL,
                                  "LEASE: (client_id, seq) already used for a different write");
        } else if (res->status == TKV_EUNKNOWN) {
                call_answer_error(c, TKV_EUNKNOWN,
                                  "LEASE: retry of a write too old to be remembered "
                                  "(session_window, sessions_max, sessions_bytes_max)");
        } else {
                call_answer_error(c, TKV_ECORRUPT, "LEASE: could not be applied: %s",
                                  err_str(res->status));
        }
}

/* Propose the lease command of type with body b, idempotent with o's
 * (client_id, seq). */
static void rpc_lease_propose(struct call *c, uint8_t type, const struct command_lease *b,
                              const Tunekv__V1__WriteOptions *o)
{
        uint8_t bytes[COMMAND_LEASE_BODY_MAX];
        struct command cmd = {0};
        int rv;

        if (o != NULL && (o->client_id == 0) != (o->seq == 0)) {
                call_answer_error(c, TKV_EINVAL,
                                  "LEASE: client_id and seq go together (both or none)");
                return;
        }
        if (c->node->disk_low) {
                call_answer_error(c, TKV_ENOSPACE,
                                  "LEASE: data dir below disk_reserve_bytes: writes are refused "
                                  "until space is freed");
                return;
        }
        cmd.type = type;
        cmd.value = bytes;
        cmd.value_len = cmd.value_raw_len = (uint32_t)command_lease_body_encode(b, bytes);
        if (o != NULL && o->client_id != 0) {
                cmd.client_id = o->client_id;
                cmd.seq = o->seq;
                cmd.flags |= o->retry ? COMMAND_F_RETRY : 0;
                cmd.payload_hash = command_payload_hash(&cmd);
        }
        c->op.write.accept_only = false;
        rv = group_propose(c->group, &c->op.write, &cmd, rpc_lease_write_done);
        if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "LEASE");
        } else if (rv != 0) {
                call_answer_error(c, rv, "LEASE: %s", err_str(rv));
        } else {
                c->stage = CALL_WRITE;
        }
}

/* The partition a GRANT or LIST names: its key's, or partition. */
static bool rpc_lease_target(struct call *c, const Tunekv__V1__LeaseRequest *lr, uint32_t *p)
{
        if (!lr->use_partition) {
                *p = route_partition(key_hash_partition(lr->key.data, lr->key.len),
                                     c->node->n_partitions);
                return true;
        }
        if (lr->partition >= c->node->n_partitions) {
                call_answer_error(c, TKV_EINVAL, "LEASE: partition %u: the cluster has %u",
                                  lr->partition, c->node->n_partitions);
                return false;
        }
        *p = lr->partition;
        return true;
}

static void rpc_lease_grant(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__LeaseRequest *lr = req->lease;
        const struct config *cfg = c->node->cfg;
        struct command_lease b = {0};
        uint32_t p;

        if (lr->ttl_ms < cfg->lease_ttl_min_ms || lr->ttl_ms > cfg->lease_ttl_max_ms) {
                call_answer_error(c, TKV_EINVAL,
                                  "LEASE_GRANT: ttl_ms %llu is outside lease_ttl_min_ms %u .. "
                                  "lease_ttl_max_ms %u",
                                  (unsigned long long)lr->ttl_ms, cfg->lease_ttl_min_ms,
                                  cfg->lease_ttl_max_ms);
                return;
        }
        if (lr->key.len > cfg->key_bytes_max) {
                call_answer_error(c, TKV_ETOOBIG,
                                  "LEASE_GRANT: key of %zu bytes exceeds "
                                  "key_bytes_max %llu",
                                  lr->key.len, (unsigned long long)cfg->key_bytes_max);
                return;
        }
        if (!rpc_lease_target(c, lr, &p) || !rpc_lease_route(c, req, p)) {
                return;
        }
        b.ttl_ms = lr->ttl_ms;
        b.leases_max = cfg->leases_max;
        b.keys_max = cfg->lease_keys_max;
        c->lease_op = TUNEKV__V1__LEASE_OP__LEASE_GRANT;
        c->lease_id = 0;
        rpc_lease_propose(c, COMMAND_LEASE_GRANT, &b, lr->options);
}

static void rpc_lease_revoke(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__LeaseRequest *lr = req->lease;
        struct command_lease b = {0};
        uint32_t p;

        if (!rpc_lease_partition_of(c, lr->id, &p) || !rpc_lease_route(c, req, p)) {
                return;
        }
        b.id = lr->id;
        c->lease_op = TUNEKV__V1__LEASE_OP__LEASE_REVOKE;
        c->lease_id = lr->id;
        rpc_lease_propose(c, COMMAND_LEASE_REVOKE, &b, lr->options);
}

/* ------------------------------------------------------------------------ */
/* KEEPALIVE, INFO, LIST: the leader's own table and clock */

static void rpc_lease_keepalive(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__LeaseRequest *lr = req->lease;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaseResponse out = TUNEKV__V1__LEASE_RESPONSE__INIT;
        uint64_t ttl_ms = 0;
        uint32_t p;
        int rv;

        if (!rpc_lease_partition_of(c, lr->id, &p) || !rpc_lease_route(c, req, p)) {
                return;
        }
        rv = group_lease_keepalive(c->group, lr->id, node_clock_ms(c->node), &ttl_ms);
        if (rv == TKV_ENOTLEADER) {
                call_answer_not_leader(c, "LEASE_KEEPALIVE");
                return;
        }
        if (rv != 0) {
                call_answer_error(c, rv,
                                  "LEASE_KEEPALIVE: lease %llu not found (expired, revoked "
                                  "or never granted)",
                                  (unsigned long long)lr->id);
                return;
        }
        out.id = lr->id;
        out.ttl_ms = ttl_ms;
        out.remaining_ms = (int64_t)ttl_ms;
        out.partition = p;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_LEASE;
        resp.lease = &out;
        call_answer(c, &resp);
}

/* An answer carries keys or leases up to half a frame; the totals say
 * how many there are. */
static size_t rpc_lease_answer_budget(const struct call *c)
{
        return (size_t)c->node->cfg->frame_bytes_max / 2;
}

static void rpc_lease_info(struct call *c, const Tunekv__V1__Request *req)
{
        const Tunekv__V1__LeaseRequest *lr = req->lease;
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaseResponse out = TUNEKV__V1__LEASE_RESPONSE__INIT;
        ProtobufCBinaryData *keys = NULL;
        struct lease *l;
        size_t bytes = 0;
        uint32_t p, len;

        if (!rpc_lease_partition_of(c, lr->id, &p) || !rpc_lease_route(c, req, p)) {
                return;
        }
        l = lease_find(group_leases(c->group), lr->id);
        if (l == NULL || l->expiring) {
                call_answer_error(c, TKV_ENOTFOUND,
                                  "LEASE_INFO: lease %llu not found (expired, "
                                  "revoked or never granted)",
                                  (unsigned long long)lr->id);
                return;
        }
        keys = tkv_calloc(l->n_keys + 1, sizeof *keys);
        if (keys == NULL) {
                call_answer_error(c, TKV_ENOMEM, "LEASE_INFO: out of memory");
                return;
        }
        for (uint32_t i = 0; i < l->n_keys && bytes < rpc_lease_answer_budget(c); i++) {
                keys[i].data = (uint8_t *)lease_key_bytes(l, i, &len);
                keys[i].len = len;
                bytes += len + 8;
                out.n_keys = i + 1;
        }
        out.id = l->id;
        out.ttl_ms = l->ttl_ms;
        out.remaining_ms = group_lease_remaining_ms(c->group, l, node_clock_ms(c->node));
        out.partition = p;
        out.keys_total = l->n_keys;
        out.keys = keys;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_LEASE;
        resp.lease = &out;
        call_answer(c, &resp);
        tkv_free(keys);
}

/* Answer LIST with n (<= the table's) leases of c's partition. */
static int rpc_lease_list_answer(struct call *c, uint32_t n)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaseResponse out = TUNEKV__V1__LEASE_RESPONSE__INIT;
        struct lease_table *t = group_leases(c->group);
        Tunekv__V1__LeaseInfo *infos = tkv_calloc(n + 1, sizeof *infos);
        Tunekv__V1__LeaseInfo **ptrs = tkv_calloc(n + 1, sizeof *ptrs);
        uint64_t now = node_clock_ms(c->node);
        int rv = TKV_ENOMEM;

        if (infos == NULL || ptrs == NULL) {
                goto cleanup;
        }
        for (uint32_t i = 0; i < n; i++) {
                struct lease *l = lease_at(t, i);
                tunekv__v1__lease_info__init(&infos[i]);
                infos[i].id = l->id;
                infos[i].ttl_ms = l->ttl_ms;
                infos[i].remaining_ms = group_lease_remaining_ms(c->group, l, now);
                infos[i].keys = l->n_keys;
                ptrs[i] = &infos[i];
        }
        out.n_leases = n;
        out.leases = ptrs;
        out.leases_total = lease_count(t);
        out.partition = c->partition;
        resp.body_case = TUNEKV__V1__RESPONSE__BODY_LEASE;
        resp.lease = &out;
        call_answer(c, &resp);
        rv = 0;
cleanup:
        tkv_free(infos);
        tkv_free(ptrs);
        return rv;
}

static void rpc_lease_list(struct call *c, const Tunekv__V1__Request *req)
{
        uint32_t p, n;

        if (!rpc_lease_target(c, req->lease, &p) || !rpc_lease_route(c, req, p)) {
                return;
        }
        /* A LeaseInfo takes at most 40 bytes. */
        n = lease_count(group_leases(c->group));
        if ((size_t)n * 40 > rpc_lease_answer_budget(c)) {
                n = (uint32_t)(rpc_lease_answer_budget(c) / 40);
        }
        if (rpc_lease_list_answer(c, n) != 0) {
                call_answer_error(c, TKV_ENOMEM, "LEASE_LIST: out of memory");
        }
}

void rpc_lease(struct call *c, const Tunekv__V1__Request *req)
{
        switch (req->lease->op) {
        case TUNEKV__V1__LEASE_OP__LEASE_GRANT:
                rpc_lease_grant(c, req);
                break;
        case TUNEKV__V1__LEASE_OP__LEASE_KEEPALIVE:
                rpc_lease_keepalive(c, req);
                break;
        case TUNEKV__V1__LEASE_OP__LEASE_REVOKE:
                rpc_lease_revoke(c, req);
                break;
        case TUNEKV__V1__LEASE_OP__LEASE_INFO:
                rpc_lease_info(c, req);
                break;
        case TUNEKV__V1__LEASE_OP__LEASE_LIST:
                rpc_lease_list(c, req);
                break;
        default:
                call_answer_error(c, TKV_EINVAL, "LEASE: unknown op %d", (int)req->lease->op);
                break;
        }
}
