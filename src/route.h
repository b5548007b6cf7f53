/* Where a key's requests go. The partition of a key is xxh64(key) % P
 * (DESIGN §2). Every outcome of routing is named here, after redis'
 * getNodeByQuery:
 *
 *   ROUTE_LOCAL        the partition's group runs on this node: hand the
 *                      request to it (it may still answer NOT_LEADER);
 *   ROUTE_NOT_HOSTED   no replica of the partition runs here: the request
 *                      must go to a node that hosts one (UNAVAILABLE with a
 *                      hint until forwarding exists). */
#ifndef TKV_ROUTE_H
#define TKV_ROUTE_H

#include <stdint.h>

struct server;
struct group;

enum route_outcome {
        ROUTE_LOCAL,
        ROUTE_NOT_HOSTED,
};

struct route {
        enum route_outcome outcome;
        uint64_t hash;       /* key_hash(key) */
        uint32_t partition;  /* hash % P */
        struct group *group; /* ROUTE_LOCAL */
};

void route_key(struct server *s, const void *key, uint32_t key_len, struct route *out);

#endif
