/* A call's life below dispatch: its memory, its deadline, its answers
 * (call.h). Answers are packed straight into the connection's output
 * buffer. */
#include "call.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "err.h"
#include "heap.h"
#include "node.h"
#include "pbwire.h"

/* protobuf-c allocations go through tkv_malloc too (fault injection). */
static void *call_pb_alloc(void *data, size_t size)
{
        (void)data;
        return tkv_malloc(size);
}

static void call_pb_free(void *data, void *ptr)
{
        (void)data;
        tkv_free(ptr);
}

ProtobufCAllocator call_pb_allocator = {call_pb_alloc, call_pb_free, NULL};

Tunekv__V1__Status call_status_of(int tkv_err)
{
        switch (tkv_err) {
        case 0:
                return TUNEKV__V1__STATUS__STATUS_OK;
        case TKV_ENOTFOUND:
                return TUNEKV__V1__STATUS__STATUS_NOT_FOUND;
        case TKV_ECONDITION:
                return TUNEKV__V1__STATUS__STATUS_CONDITION_FAILED;
        case TKV_ENOTLEADER:
                return TUNEKV__V1__STATUS__STATUS_NOT_LEADER;
        case TKV_ETIMEDOUT:
                return TUNEKV__V1__STATUS__STATUS_TIMEOUT;
        case TKV_ENOQUORUM:
                return TUNEKV__V1__STATUS__STATUS_NO_QUORUM;
        case TKV_EUNKNOWN:
                return TUNEKV__V1__STATUS__STATUS_OUTCOME_UNKNOWN;
        case TKV_EINVAL:
        case TKV_EPROTO:
                return TUNEKV__V1__STATUS__STATUS_INVALID_ARGUMENT;
        case TKV_ETOOBIG:
                return TUNEKV__V1__STATUS__STATUS_TOO_LARGE;
        case TKV_EBUSY:
        case TKV_ENOMEM:
                return TUNEKV__V1__STATUS__STATUS_BUSY;
        case TKV_ESHUTDOWN:
                return TUNEKV__V1__STATUS__STATUS_UNAVAILABLE;
        case TKV_ENOSPACE:
                return TUNEKV__V1__STATUS__STATUS_NO_SPACE;
        case TKV_EAUTH:
                return TUNEKV__V1__STATUS__STATUS_UNAUTHENTICATED;
        case TKV_EPERM:
                return TUNEKV__V1__STATUS__STATUS_PERMISSION_DENIED;
        case TKV_ECOMPACTED:
                return TUNEKV__V1__STATUS__STATUS_COMPACTED;
        default:
                return TUNEKV__V1__STATUS__STATUS_INTERNAL;
        }
}

Tunekv__V1__Role call_role_of(enum group_role role)
{
        switch (role) {
        case GROUP_LEADER:
                return TUNEKV__V1__ROLE__ROLE_LEADER;
        case GROUP_FOLLOWER:
                return TUNEKV__V1__ROLE__ROLE_FOLLOWER;
        case GROUP_CANDIDATE:
                return TUNEKV__V1__ROLE__ROLE_CANDIDATE;
        default:
                return TUNEKV__V1__ROLE__ROLE_UNAVAILABLE;
        }
}

void call_send(struct conn *conn, Tunekv__V1__Response *resp)
{
        size_t len = tunekv__v1__response__get_packed_size(resp);
        uint8_t *p = conn_answer_space(conn, len);
        if (p != NULL) {
                tunekv__v1__response__pack(resp, p);
        }
}

/* The pool is off under AddressSanitizer, so that a call used after it
 * is freed is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define CALL_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CALL_POOL 0
#endif
#endif
#ifndef CALL_POOL
#define CALL_POOL 1
#endif

struct call *call_alloc(struct node *node, size_t key_len)
{
        if (CALL_POOL && key_len <= CALL_POOL_KEY_BYTES) {
                if (node->call_pool != NULL) {
                        void *c = node->call_pool;
                        memcpy(&node->call_pool, c, sizeof(void *));
                        node->call_pool_n--;
                        return c;
                }
                return tkv_malloc(sizeof(struct call) + CALL_POOL_KEY_BYTES);
        }
        return tkv_malloc(sizeof(struct call) + key_len);
}

void call_release(struct node *node, struct call *c)
{
        if (CALL_POOL && c->key_len <= CALL_POOL_KEY_BYTES && node->call_pool_n < CALL_POOL_MAX) {
                memcpy(c, &node->call_pool, sizeof(void *));
                node->call_pool = c;
                node->call_pool_n++;
                return;
        }
        tkv_free(c);
}

void call_pool_drain(struct node *node)
{
        while (node->call_pool != NULL) {
                void *c = node->call_pool;
                memcpy(&node->call_pool, c, sizeof(void *));
                tkv_free(c);
        }
        node->call_pool_n = 0;
}

static void call_free(struct call *c)
{
        struct node *node = c->node;
        if (c->release != NULL) {
                c->release(c);
        }
        deadline_heap_remove(&node->deadlines, &c->deadline);
        node->calls--;
        c->conn->inflight--;
        conn_unref(c->conn);
        call_release(node, c);
}

uint64_t call_give_up_ms(const struct call *c, uint64_t now_ms)
{
        uint64_t left = c->deadline.at_ms > now_ms ? c->deadline.at_ms - now_ms : 0;
        uint64_t margin = left / 8 < CALL_ANSWER_MARGIN_MS ? left / 8 : CALL_ANSWER_MARGIN_MS;
        return now_ms + left - margin;
}

void call_deadline_move(struct call *c, uint64_t at_ms)
{
        /* Removing first leaves room in the heap: adding back cannot fail. */
        deadline_heap_remove(&c->node->deadlines, &c->deadline);
        c->deadline.at_ms = at_ms;
        (void)call_deadline_add(c);
}

int call_deadline_add(struct call *c)
{
        return deadline_heap_push(&c->node->deadlines, &c->deadline);
}

/* A client request's latency into its histogram (node.h). Requests from
 * other nodes' links are counted where their client sent them. */
static void call_observe(const struct call *c)
{
        unsigned level = READ_LEVELS;

        if (c->from_node != 0) {
                return;
        }
        if (c->op_kind == NODE_OP_GET && (unsigned)c->rd.level < READ_LEVELS) {
                level = (unsigned)c->rd.level;
        }
        latency_observe(&c->node->latency[c->op_kind][level], uv_hrtime() - c->start_ns);
}

void call_answer(struct call *c, Tunekv__V1__Response *resp)
{
        call_observe(c);
        resp->id = c->id;
        /* Clients learn from it that their partition map is old. */
        resp->epoch = c->node->meta.map != NULL ? c->node->meta.map->epoch : 0;
        call_send(c->conn, resp);
        call_free(c);
}

void call_answer_relay(struct call *c, const uint8_t *resp, size_t len, size_t id_start,
                       size_t id_end)
{
        size_t id_bytes = pbwire_varint_field_bytes(CALL_RESPONSE_ID_FIELD, c->id);
        uint8_t *p = conn_answer_space(c->conn, len - (id_end - id_start) + id_bytes);

        call_observe(c);
        if (p != NULL) {
                memcpy(p, resp, id_start);
                p += id_start;
                p += pbwire_put_varint_field(p, CALL_RESPONSE_ID_FIELD, c->id);
                memcpy(p, resp + id_end, len - id_end);
        }
        call_free(c);
}

void call_answer_error(struct call *c, int tkv_err, const char *fmt, ...)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        char message[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        resp.status = call_status_of(tkv_err);
        resp.message = message;
        call_answer(c, &resp);
}

/* NOT_LEADER with the leader's id and client address, when known. */
void call_answer_not_leader(struct call *c, const char *what)
{
        Tunekv__V1__Response resp = TUNEKV__V1__RESPONSE__INIT;
        Tunekv__V1__LeaderHint hint = TUNEKV__V1__LEADER_HINT__INIT;
        const struct config *cfg = c->node->cfg;
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
        call_answer(c, &resp);
}
