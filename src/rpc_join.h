/* Joining a running cluster as the server wires it (rpc_join.c): the
 * cluster map fetched from a member before the loop runs. The header of a
 * handler module (layer 7), like rpc_meta.h. */
#ifndef TKV_RPC_JOIN_H
#define TKV_RPC_JOIN_H

#include "config.h"
#include "identity.h"

struct cmap;

/* Ask the members at cfg->join, in turn, for the cluster map over the
 * authenticated peer channel (q says who this node is and holds its keys:
 * q->group must be TRANSPORT_LINK_GROUP; borrowed). On success *out is the
 * map (the caller's, cmap_destroy), which lists this node as joining with
 * its configured addresses, and cfg's node list has become the map's
 * voters (whose placement is the map's). Else errmsg says why: TKV_ECONN
 * or TKV_EAUTH (no member answered with a map, the last reason given),
 * TKV_EINVAL (the map does not let this node join as configured): the
 * node must not start. Blocking: call before the loop runs. */
int rpc_join(const struct identity_probe *q, struct config *cfg, struct cmap **out, char *errmsg);

struct node;

/* On a node that joined (server.c, once per housekeeping tick): ask a
 * voter, one after the other, for the map every RPC_JOIN_REFRESH_MS over
 * its node link; a newer epoch replaces node.meta.map once its placement
 * is still the one this node routes by (rpc_join_on_map). node is
 * borrowed. */
void rpc_join_flush(struct node *node, uint64_t now_ms);

#endif
