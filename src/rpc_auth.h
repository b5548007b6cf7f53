/* Client authentication and permission checks at the node a client talks
 * to (docs/security.md, "Users and permissions"): the AUTH exchange, whose
 * password hashing runs on the libuv threadpool, and the check every other
 * client request passes before it is routed or forwarded. Node links are
 * not checked: what arrives on them was checked by the node that received
 * it from its client, and the peer handshake proved the sender. */
#ifndef TKV_RPC_AUTH_H
#define TKV_RPC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct config;
struct conn;

/* The key of the one record in the system group's store: the whole table
 * of users and roles (auth_table_encode), changed by CAS (rpc_users.c). */
#define RPC_AUTH_KEY "tunekv/users-and-roles"

/* Set a up from cfg (borrowed): with auth on, hash root's password (slow:
 * called once at start, before serving). 0, TKV_ENOMEM or TKV_EIO with
 * errmsg (ERR_MSG_BYTES) filled. rpc_auth_close is safe after a failure. */
int rpc_auth_init(struct auth_state *a, const struct config *cfg, char *errmsg);
void rpc_auth_close(struct auth_state *a);

struct node;

/* The record of users and roles as this node's replica of the metadata
 * group applied it (*data NULL and *version 0: none written yet; borrowed
 * until the loop turn ends). false when auth is off or the node holds no
 * replica: then it learns the record from one that does (rpc_join.c,
 * CLUSTER_INFO with users over a node link) through rpc_auth_learn, which
 * keeps a copy of data when version is newer than the last one learned. */
bool rpc_auth_record(struct node *node, const uint8_t **data, size_t *len, uint64_t *version);
void rpc_auth_learn(struct node *node, const uint8_t *data, size_t len, uint64_t version);

/* Does the node know the users (auth off, a metadata replica here, or a
 * record learned)? Until it does, AUTH of anyone but root is UNAVAILABLE. */
bool rpc_auth_users_known(const struct node *node);

#endif
