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

#endif
