/* Client side of the wire protocol: requests into frames, response frames
 * into struct tkv_result. No I/O and no client state here; the generated
 * protobuf-c types stay inside codec.c.
 *
 * Errors are the public enum tkv_code of include/tunekv.h, not the TKV_E*
 * codes of src/err.h: both headers define TKV_NO_MEMORY, so a file that fills a
 * struct tkv_result cannot include err.h. */
#ifndef TKV_CLIENT_CODEC_H
#define TKV_CLIENT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "tunekv.h"

/* Client-side bounds. The server enforces its own, smaller limits and answers
 * TOO_LARGE; these only keep a caller's mistake from allocating gigabytes. */
#define CODEC_FRAME_BYTES_MAX (64u << 20) /* largest frame sent or accepted */
#define CODEC_KEY_BYTES_MAX   (64u << 10)
/* Leaves room for the key and the envelope inside one frame. */
#define CODEC_VALUE_BYTES_MAX (CODEC_FRAME_BYTES_MAX - (1u << 20))

enum codec_op {
        CODEC_GET,
        CODEC_PUT,
        CODEC_DELETE,
        CODEC_CAS,
        CODEC_STATUS,
        CODEC_CLUSTER_INFO,
        CODEC_GET_MANY, /* value: the keys packed (codec_many_pack); key: the first */
        CODEC_TXN,      /* value: the packed fields 1-3 of a TxnRequest (client_txn.c) */
        CODEC_SCAN,     /* value: the scan packed (codec_scan_pack); key: routes it */
};

/* SCAN's request travels in a request's value: u32 limit, u8 keys_only,
 * u8 count_only, then prefix, start, end and cursor, each a u32 length
 * and its bytes (so a retry encodes it again without the caller's
 * memory). Bytes codec_scan_pack needs, and the packing (everything
 * borrowed). */
size_t codec_scan_bytes(const struct tkv_scan *scan, size_t cursor_len);
void codec_scan_pack(uint8_t *out, const struct tkv_scan *scan, const void *cursor,
                     size_t cursor_len);

/* GET_MANY's keys travel in a request's value as u32 length, bytes, ...
 * Bytes codec_many_pack needs, and the packing. */
size_t codec_many_bytes(const size_t *key_lens, size_t n);
void codec_many_pack(uint8_t *out, const void *const *keys, const size_t *key_lens, size_t n);

/* Everything one request frame carries. Pointers are borrowed. */
struct codec_request {
        enum codec_op op;
        uint64_t id;
        uint32_t timeout_ms; /* envelope deadline */
        bool no_forward;     /* answer NOT_LEADER rather than forward */
        const void *key;     /* GET, PUT, DELETE, CAS */
        size_t key_len;
        const void *value; /* PUT, CAS */
        size_t value_len;
        uint64_t expected_version;             /* CAS */
        const struct tkv_read_options *read;   /* GET; NULL: no ReadOptions */
        const struct tkv_write_options *write; /* writes; NULL: defaults */
        /* Writes: the idempotency triple of WriteOptions. WriteOptions is
         * left out when write is NULL, client_id is 0 and there is no token. */
        uint64_t client_id;
        uint64_t seq;
        bool retry;
        /* The session token for ReadOptions.token (GET) or WriteOptions.token
         * (writes); token_len 0: none. A GET with a token and no read
         * options gets default ReadOptions carrying it. */
        const void *token;
        size_t token_len;
};

/* o's fields into ro (initialised by the caller; its token untouched). */
struct Tunekv__V1__ReadOptions;
void codec_read_options_fill(struct Tunekv__V1__ReadOptions *ro, const struct tkv_read_options *o);

/* Bytes of the frame of req, header included. req is borrowed. */
size_t codec_request_bytes(const struct codec_request *req);

/* Append the frame of req (length header plus packed Request) to out; out is
 * left unchanged on failure. Returns TKV_OK, TKV_USAGE_ERROR if the frame would
 * exceed CODEC_FRAME_BYTES_MAX, or TKV_NO_MEMORY. req is borrowed. */
int codec_encode_request(struct buffer *out, const struct codec_request *req);

/* Append msg (borrowed) as a frame (length header plus packed Request) to
 * out: TKV_OK, TKV_USAGE_ERROR over CODEC_FRAME_BYTES_MAX, or TKV_NO_MEMORY;
 * out is unchanged on failure. The one place a request becomes bytes. */
struct Tunekv__V1__Request;
int codec_frame_request(struct buffer *out, const struct Tunekv__V1__Request *msg);

/* Append the frame of an AUTH request (user and password borrowed) to
 * out: as codec_frame_request. */
int codec_encode_auth(struct buffer *out, uint64_t id, const char *user, const void *password,
                      size_t password_len);

/* Which body a response carried, so the caller can check that it answers
 * the kind of request it was sent for. */
enum codec_body {
        CODEC_BODY_NONE,     /* no body: usual for errors */
        CODEC_BODY_GET,      /* GetResponse */
        CODEC_BODY_WRITE,    /* WriteResponse */
        CODEC_BODY_STATUS,   /* StatusResponse; res->node is set */
        CODEC_BODY_CLUSTER,  /* ClusterInfoResponse; res->cluster is set */
        CODEC_BODY_GET_MANY, /* GetManyResponse; res->items are set */
        CODEC_BODY_TXN,      /* TxnResponse; res->txn_* are set */
        CODEC_BODY_SCAN,     /* ScanResponse; res->scan_* are set */
        CODEC_BODY_OTHER,    /* a body this client never asks for */
};

/* What a response carries besides its struct tkv_result. */
struct codec_extra {
        const char *leader_addr; /* client address of the leader hint; "" when none */
        const uint8_t *token;    /* GetResponse/WriteResponse token (a delta to merge) */
        size_t token_len;        /* 0: the answer carries no token */
        uint64_t epoch;          /* the answering node's cluster map epoch (0: none) */
};

/* Append to out one TXN op or compare as the TxnRequest field it belongs
 * to (field 1 compares, 2 success, 3 failure): TKV_OK or TKV_NO_MEMORY.
 * type, target and op are the wire enums; number is a compare's operand,
 * or an op's lease (0: none); key and value borrowed. */
int codec_txn_append(struct buffer *out, unsigned field, int type_or_target, int op,
                     const void *key, size_t key_len, uint64_t number, const void *value,
                     size_t value_len);

/* Called once per decoded response. res, extra and everything they point
 * to are borrowed for the duration of the call (value, leader_addr and
 * token point into the unpacked message, node and cluster into blocks freed
 * right after). */
typedef void (*codec_response_cb)(void *arg, uint64_t id, enum codec_body body,
                                  const struct tkv_result *res, const struct codec_extra *extra);

/* Decode the body of one response frame (without its length header) and pass
 * it to cb. Returns TKV_OK once cb ran, TKV_PROTOCOL_ERROR if the bytes are not a
 * Response, or TKV_NO_MEMORY if decoding ran out of memory; cb does not run on
 * an error return. data is borrowed.
 *
 * A response that decodes but carries an unknown status becomes
 * TKV_PROTOCOL_ERROR for that one request; a STATUS or CLUSTER_INFO answer whose
 * block cannot be allocated becomes TKV_NO_MEMORY for that one request. */
int codec_decode_response(const uint8_t *data, size_t len, codec_response_cb cb, void *arg);

/* A struct tkv_node_status and what it points to (partitions, version) live
 * in one allocation, so a node is copied with one tkv_malloc and freed with
 * one tkv_free. Bytes such a block needs for a copy of node. */
size_t codec_node_bytes(const struct tkv_node_status *node);

/* Copy node into mem, which has codec_node_bytes(node) bytes and malloc
 * alignment; returns mem as a node. node is borrowed. */
struct tkv_node_status *codec_node_copy(void *mem, const struct tkv_node_status *node);

/* The same for a struct tkv_cluster_info: its nodes, partitions and address
 * strings live in one block. */
size_t codec_cluster_bytes(const struct tkv_cluster_info *cluster);

/* Copy cluster into mem, which has codec_cluster_bytes(cluster) bytes and
 * malloc alignment; returns mem as a cluster. cluster is borrowed. */
struct tkv_cluster_info *codec_cluster_copy(void *mem, const struct tkv_cluster_info *cluster);

/* The highest server status this library knows; above it is a protocol
 * error. */
#define CODEC_STATUS_MAX TKV_COMPACTED

struct pballoc;

/* A one-off answer (user and role, member, lease requests: each on a
 * connection of its own) unpacked into pb within the budget of every
 * answer; free it with tunekv__v1__response__free_unpacked(resp,
 * &pb->base). *status gets its status (an unknown one:
 * TKV_PROTOCOL_ERROR) and message its text. NULL when undecodable
 * (*status TKV_PROTOCOL_ERROR, message says so). */
struct Tunekv__V1__Response;
struct Tunekv__V1__Response *codec_unpack_oneshot(struct pballoc *pb, const uint8_t *body,
                                                  size_t len, int *status, char *message,
                                                  size_t message_len);

#endif
