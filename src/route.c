#include "route.h"

#include "keyhash.h"
#include "server.h"

void route_key(struct server *s, const void *key, uint32_t key_len, struct route *out)
{
        out->hash = key_hash(key, key_len);
        out->partition = (uint32_t)(out->hash % s->n_partitions);
        out->group = server_group(s, out->partition);
        out->outcome = out->group != NULL ? ROUTE_LOCAL : ROUTE_NOT_HOSTED;
}
