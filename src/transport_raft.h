/* The raft-facing half of the peer transport: the struct raft_uv_transport
 * of one group (transport.h has the node's mux, which needs no raft type).
 * Only the group files (through group_internal.h; group.c hands it to
 * raft_uv_init) and transport.c, which implements it, include this header:
 * the rest of the daemon compiles without raft.h (docs/architecture.md,
 * "Raft boundary"). */
#ifndef TKV_TRANSPORT_RAFT_H
#define TKV_TRANSPORT_RAFT_H

#include <raft.h>
#include <raft/uv.h>

#include "raftguard.h"
#include "transport.h"

/* One per group: handed to raft_uv_init. */
struct transport {
        struct raft_uv_transport base; /* base.impl = this; base.data is raft_uv's */
        struct transport_mux *mux;
        uint32_t group;
        raft_id id;
        char address[TRANSPORT_ADDRESS_MAX + 1];
        raft_uv_accept_cb accept_cb; /* set by listen; NULL = not accepting */
        struct queue link;           /* in mux->transports */
        struct queue connects;       /* struct transport_connect in progress */
        raft_uv_transport_close_cb close_cb;
        uv_timer_t close_defer;   /* closing it defers close_cb by one iteration */
        struct queue guards;      /* struct raftguard: inbound streams being validated */
        raftguard_check_fn check; /* the group's policy for inbound messages; NULL: none */
        void *check_arg;
        bool closing;
};

/* Initialise the transport of one group and register it with the mux. */
int transport_init(struct transport *t, struct transport_mux *m, uint32_t group);

/* Check every inbound message of this group with fn(arg, ...) besides its
 * layout (raftguard.h); arg is borrowed until the transport closes. */
void transport_set_check(struct transport *t, raftguard_check_fn fn, void *arg);

#endif
