/* Internals of libtunekv's client object that unit tests reach: endpoint
 * parsing, the partition map and counters. The public API is
 * include/tunekv.h. */
#ifndef TKV_CLIENT_CLIENT_H
#define TKV_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "tunekv.h"

#define CLIENT_HOST_BYTES 256 /* longest DNS name (253) or IPv6 literal, plus NUL */
#define CLIENT_PORT_BYTES 6   /* "65535" plus NUL */

/* One entry of the endpoint list. */
struct client_endpoint {
        char host[CLIENT_HOST_BYTES]; /* name or address, without IPv6 brackets */
        char port[CLIENT_PORT_BYTES]; /* decimal, 1..65535 */
        char name[CLIENT_HOST_BYTES + CLIENT_PORT_BYTES + 2]; /* "host:port" as written */
};

/* Parse "host:port,host:port" (spaces around entries are ignored; IPv6
 * addresses go in brackets: "[::1]:7001"). On success *out is a tkv_malloc'd
 * array of *n_out entries, transferred to the caller (tkv_free). Returns
 * TKV_OK, TKV_USAGE_ERROR with a message in errmsg (errmsg_len bytes) for a
 * malformed list, or TKV_NO_MEMORY. list is borrowed. */
int client_endpoints_parse(const char *list, struct client_endpoint **out, unsigned *n_out,
                           char *errmsg, size_t errmsg_len);

/* The client's partition map, borrowed (tests). */
struct map;
const struct map *client_partition_map(const struct tkv_client *c);

/* Answers that matched no request in flight (late answers to expired
 * requests, or a confused server). */
uint64_t client_unknown_answers(const struct tkv_client *c);

/* Token deltas in answers that did not parse, and were dropped. */
uint64_t client_bad_tokens(const struct tkv_client *c);

#endif
