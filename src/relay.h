/* The inbound half of a peer's Raft connection, validated on its way to
 * raft.
 *
 * libraft 0.15 decodes whatever a peer stream carries (RAFT-NOTES B6). So
 * once a peer authenticated (peerauth.h), raft does not get its TCP stream:
 * it gets one end of a socketpair, and a relay reads the TCP stream, passes
 * every byte through a raftwire validator (raftwire.h) and writes only what
 * the validator emits into the other end. raft_uv never writes on an
 * inbound stream (its replies go over its own outbound connections), so the
 * relay carries one direction only; what it reads from its own end serves
 * to notice that raft closed the connection.
 *
 * Normal path: TCP read -> raftwire_feed -> emitted bytes appended to the
 * output buffer -> one uv_write per loop turn into the socketpair. When
 * more than RELAY_PENDING_MAX bytes wait for raft, the relay stops reading
 * the peer until they drain: a fast peer cannot grow our memory.
 *
 * Failure modes, each closing both the TCP stream and the relay's end (raft
 * then reads EOF and drops its side): the peer closes or errs (after the
 * bytes already validated are delivered); raft closes its end; a message is
 * refused (logged with the peer's node id and why, at most once a second
 * per transport mux; counted). */
#ifndef TKV_RELAY_H
#define TKV_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "queue.h"
#include "raftwire.h"

#define RELAY_PENDING_MAX (8u * 1024 * 1024)

/* Counters shared by every relay of one node. */
struct relay_stats {
        uint64_t relays;            /* relays started */
        uint64_t refused;           /* messages refused (streams closed) */
        uint64_t bytes;             /* bytes handed to raft */
        uint64_t refused_logged_ms; /* last refusal logged (rate limit) */
};

/* The receiving group's policy for a message whose layout is valid (the
 * sender a member of the group, the term possible): true lets it through;
 * false refuses it, with *why (static) saying why. */
typedef bool (*relay_check_fn)(void *arg, uint64_t from, const struct raftwire_msg *m,
                               const char **why);

/* Start relaying tcp (connected, not reading, raft_malloc'd; ownership
 * taken: freed with raft_free once closed) from node `from` into a new
 * socketpair. On success *raft_end is the other end, a raft_malloc'd
 * uv_pipe_t, not reading, for raft to own. The relay joins `relays` (the
 * receiving transport's list; relay_close_all ends them). limits is copied;
 * check, check_arg and stats are borrowed until the relay ends. Returns 0 or
 * TKV_ENOMEM / TKV_EIO; on failure tcp is closed and freed. */
int relay_start(uv_loop_t *loop, uv_tcp_t *tcp, uint64_t from, const struct raftwire_limits *limits,
                relay_check_fn check, void *check_arg, struct relay_stats *stats,
                struct queue *relays, uv_stream_t **raft_end);

/* End every relay of the list now (its transport closes): none calls its
 * check again. */
void relay_close_all(struct queue *relays);

#endif
