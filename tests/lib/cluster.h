/* A local tunekv cluster of real tunekvd processes for integration tests:
 * one config file listing every node (fresh loopback ports), started,
 * killed, paused and restarted one node at a time. */
#ifndef TKV_TEST_CLUSTER_H
#define TKV_TEST_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "tunekv.h"

#define CLUSTER_NODES_MAX 8

struct cluster {
        char dir[512];
        char conf[600];
        unsigned n;
        struct daemon nodes[CLUSTER_NODES_MAX]; /* nodes[i] has id i + 1 */
        char endpoints[CLUSTER_NODES_MAX * 24];
        const char *extra[DAEMON_ARGS_MAX]; /* flags for every node */
        const char *user;     /* set after cluster_start: clients AUTH as it ([auth]) */
        const char *password; /* user's password */
        unsigned partitions;  /* as given to cluster_start, or tunekvd's default */
        unsigned replicas;
        const char *zones[CLUSTER_NODES_MAX]; /* [node.N] zone of node i + 1; NULL: none */
        const char *conf_extra;               /* more lines of the [cluster] section, or NULL */
};

/* As cluster_start_zones, with conf_extra (borrowed for c's lifetime)
 * appended to the [cluster] section of the file ("rebalance = 1"). */
int cluster_start_conf(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                       unsigned replicas, const char *const *extra, const char *const *zones,
                       const char *conf_extra);

/* The file of a node that joins c (tunekvd --config it --join ...): c's
 * [cluster] section, no [node.N] (the map has them), at c->dir/join.conf,
 * its path into path (len bytes). 0, or -1 if it cannot be written. */
int cluster_write_join_conf(const struct cluster *c, char *path, size_t len);

/* Write the config for n nodes, P partitions, R replicas (0 = default)
 * under dir, and start every node; extra flags (NULL-terminated, may be
 * NULL) go to every node. 0, or -1 if a node did not become ready. */
int cluster_start(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                  unsigned replicas, const char *const *extra);

/* cluster_start with a zone for each node (zones[i] for node i + 1, NULL
 * or "" for none; the array may be NULL). */
int cluster_start_zones(struct cluster *c, const char *dir, unsigned n, unsigned partitions,
                        unsigned replicas, const char *const *extra, const char *const *zones);

/* Write the config file again from c (after changing a node's addresses,
 * say); running nodes read it at their next start. */
void cluster_write_config(struct cluster *c);

/* Start node id (1-based) again, waiting for it to report ready. */
int cluster_restart(struct cluster *c, unsigned id);

/* kill(2) node id; with wait, reap it (SIGKILL/SIGTERM). */
int cluster_signal(struct cluster *c, unsigned id, int sig, bool wait);

/* Stop every running node: SIGTERM, and check each exits 0 (returns the
 * number that did not). */
int cluster_stop(struct cluster *c);

/* SIGKILL whatever still runs (test teardown after a failure). */
void cluster_kill_all(struct cluster *c);

/* A client for the whole cluster, or for one node only (id 0: all). */
struct tkv_client *cluster_client(struct cluster *c, unsigned id);

/* STATUS of node id through a client of that node alone; fills out (release
 * with tkv_result_release). TKV_OK or the error. */
int cluster_status(struct cluster *c, unsigned id, struct tkv_result *out);

/* Partition p as node id sees it, or NULL (out must stay alive). */
const struct tkv_partition_status *cluster_partition(const struct tkv_result *status, uint32_t p);

/* Wait (up to timeout_ms, polling STATUS every 50 ms: there is no event to
 * await for a remote replica catching up) until every running node hosting
 * partition p reports the same applied index and digest, and a leader is
 * known. Returns true when that happened. */
bool cluster_wait_converged(struct cluster *c, uint32_t p, int timeout_ms);

/* Leader of partition p as node id reports it (0: none). */
uint32_t cluster_leader(struct cluster *c, unsigned id, uint32_t p);

/* The cluster map as node id knows it (CLUSTER_INFO through a client of
 * that node alone) into res: true when it answered with one (release res
 * then); false, res released, otherwise. */
bool cluster_info(struct cluster *c, unsigned id, struct tkv_result *res);

/* Replicas of the partitions (not the metadata group's) member id holds
 * in ci. */
unsigned cluster_map_load(const struct tkv_cluster_info *ci, uint32_t id);

/* Is a replica move in progress in ci (a partition's, or the metadata
 * group's)? */
bool cluster_map_moving(const struct tkv_cluster_info *ci);

/* Does node at's member list show member id in state want? */
bool cluster_member_is(struct cluster *c, unsigned at, uint32_t id, enum tkv_member_state want);

/* Node id of c as a member record (its addresses): MEMBER add, replace. */
struct tkv_member cluster_member_of(const struct cluster *c, unsigned id);

/* One cluster for a whole group of tests (cmocka group setup/teardown):
 * a temporary dir named after prefix (dir, dir_len), 3 nodes x partitions
 * x 3 replicas started with flags, and a client of every node in *cl.
 * The teardown stops them (0 if every node exited 0), kills what is left
 * and removes the dir. */
int cluster_group_setup(struct cluster *c, char *dir, size_t dir_len, const char *prefix,
                        unsigned partitions, const char *const *flags, struct tkv_client **cl);
int cluster_group_teardown(struct cluster *c, const char *dir, struct tkv_client **cl);

/* A cmocka test, run last in a group with the group's cluster as its
 * state (cmocka_unit_test_prestate(cluster_test_replicas_agree, &c)):
 * every replica of every partition ends with the same applied index and
 * digest, within CLUSTER_CONVERGE_MS. */
#define CLUSTER_CONVERGE_MS 20000
void cluster_test_replicas_agree(void **state);

#endif
