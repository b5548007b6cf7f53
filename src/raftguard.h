/* Every Raft message a peer sends is validated before libraft decodes it,
 * in place, on raft's own read path.
 *
 * libraft 0.15 decodes whatever a peer stream carries (RAFT-NOTES B6). Its
 * receive loop (uv_recv.c) reads a message in three units, each into a
 * buffer it allocates for exactly that unit: the 16-byte preamble (type,
 * header length), the header, the payload; it acts on a unit only once its
 * last byte arrived (allocating the next unit's buffer from what the
 * previous one announced). So once raft started reading an inbound stream,
 * the guard takes the stream's read callback and puts a raftwire validator
 * (raftwire.h) in front of raft's: each chunk read goes through
 * raftwire_feed first and reaches raft only if the stream is still valid,
 * including the chunk that completes a preamble, a header or a payload,
 * whose unit raftwire has then checked whole (layout, limits, and the
 * receiving group's policy). No copy, no extra socket, no extra loop turn.
 *
 * A refused chunk never reaches raft: raft's callback gets UV_EPROTO
 * instead, and raft drops the connection (the peer's raft reconnects). The
 * refusal is logged with the sender's node id and why, at most once a
 * second per node, and counted.
 *
 * Lifetime: the guard lives inside the stream's allocation
 * (struct raftguard_stream, which the transport allocates with raft_malloc:
 * raft frees it with the stream).
 * Its validator's buffers are freed when the stream ends: a read error or
 * EOF, raft closing the stream while handling a chunk, or the group's
 * transport closing (raft closes its inbound streams just before; their
 * memory is freed only in a later loop turn). */
#ifndef TKV_RAFTGUARD_H
#define TKV_RAFTGUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "queue.h"
#include "raftwire.h"
#include "tlsrelay.h"

/* The receiving group's policy for a message whose layout is valid (the
 * sender a member of the group, the term possible): true lets it through;
 * false refuses it, with *why (static) saying why. */
typedef bool (*raftguard_check_fn)(void *arg, uint64_t from, const struct raftwire_msg *m,
                                   const char **why);

/* Counters shared by every guard of one node. */
struct raftguard_stats {
        uint64_t guarded;           /* streams guarded */
        uint64_t refused;           /* messages refused (streams dropped) */
        uint64_t refused_logged_ms; /* last refusal logged (rate limit) */
};

struct raftguard {
        struct raftwire wire;
        uv_read_cb raft_read; /* raft's read callback: what the guard feeds */
        raftguard_check_fn check;
        void *check_arg;
        uint64_t from; /* the authenticated sender */
        struct raftguard_stats *stats;
        struct queue link; /* in the transport's list while active */
        bool active;
};

/* Every inbound peer connection: its stream (TCP, or a TLS relay's pipe)
 * with room for its guard. */
struct raftguard_stream {
        union tlsrelay_stream stream; /* first: raft frees the block through it */
        struct raftguard guard;
};

/* Guard st's stream, which raft just started reading (its read callback is
 * raft's), for messages from node `from`. limits is copied; check,
 * check_arg and stats are borrowed while the guard is active; the guard
 * joins `guards` (the receiving transport's list). */
void raftguard_install(struct raftguard_stream *st, uint64_t from,
                       const struct raftwire_limits *limits, raftguard_check_fn check,
                       void *check_arg, struct raftguard_stats *stats, struct queue *guards);

/* End every guard of the list (its transport closes): buffers freed, no
 * check called again, any later chunk dropped. */
void raftguard_end_all(struct queue *guards);

#endif
