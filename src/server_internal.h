/* Between the composition root's files (server.c, server_place.c): opening
 * replicas and following the cluster map's placement. Nothing else
 * includes it. */
#ifndef TKV_SERVER_INTERNAL_H
#define TKV_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

/* Does dir hold Raft state (raft_uv's metadata files)? */
bool server_place_has_state(const char *dir);

/* Partition p's directory (the metadata group's at n_partitions). */
void server_place_dir(const struct server *s, uint32_t p, char *dir, size_t len);

/* Create and open p's replica into s->groups[p]: bootstrapped from the
 * configuration at the cluster's first start, empty (waiting for its
 * leader) once a map exists. TKV_E* with s->errmsg set; s->groups[p] may
 * then hold a group that never ran (group_destroy it). */
int server_place_open(struct server *s, uint32_t p);

/* Once per housekeeping pass: open the replicas the cluster map places
 * here now, close (and delete) those it no longer places here. */
void server_place(struct server *s);

/* At the start, before the groups open: delete the directories of
 * partitions the map does not place here (a replica closed while its
 * directory's deletion failed, or the node stopped first). 0 or TKV_EIO
 * with s->errmsg set. No-op before any map exists. */
int server_place_sweep(struct server *s);

/* Destroy the closed replicas kept since they closed (after the loop). */
void server_place_destroy(struct server *s);

#endif
