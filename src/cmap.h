/* The cluster map: the members of the cluster (id, client and peer
 * addresses, zone, state), the placement of every partition (its replicas,
 * the preferred leader first) and an epoch that grows with every change.
 * It is one record in the metadata group's store (CMAP_KEY), written once
 * from the configuration by the metadata group's leader at the cluster's
 * first start (a CAS from "absent"), and copied by every node to
 * data_dir/cluster-map so that a restart can compare its configuration with
 * it before anything else runs. Pure apart from that file: no loop, no
 * raft.
 *
 * Encoding (little-endian, one encoding per map, so that decode and encode
 * round-trip byte for byte):
 *
 *   u8 version (1) | u64 epoch (>= 1) | u16 members (1..CMAP_MEMBERS_MAX)
 *   member: u16 id (1..65535, strictly increasing) | u8 state (enum
 *           cmap_state) | text client_addr | text peer_addr | text zone |
 *           u16 successor (0, or for a LEAVING member the member that
 *           takes its replicas)
 *   u16 partitions (1..CMAP_PARTITIONS_MAX)
 *   partition (each, then the metadata group's, version 2):
 *              u8 replicas (1..CMAP_REPLICAS_MAX) | u16 id each (distinct
 *              members that are not removed) | u16 move_from | u16 move_to
 *              (both 0, or a move in progress: move_from one of the
 *              replicas, move_to a member that is not removed and not a
 *              replica)
 *
 * Version 1 (before replica moves) has no move and successor fields and
 * no placement of the metadata group (its replicas are then the VOTER
 * members); it is still decoded (no move in progress), and every map is
 * encoded as version 2.
 *
 * The metadata group is placed like a partition, at index n_partitions
 * (parts[n_partitions]): its replicas move with the same requests, so
 * that the nodes the cluster was bootstrapped from can leave too. Its
 * replicas are not counted as load (cmap_load).
 *
 * text is u8 length (< CMAP_TEXT_BYTES) and bytes; addresses are
 * "a.b.c.d:port", zones (may be empty) letters, digits, '.', '_' and '-'.
 * The decoder refuses anything else, and trailing bytes. */
#ifndef TKV_CMAP_H
#define TKV_CMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The record's key in the metadata group's store. No key hashes to that
 * group, so the name cannot meet a client's key. */
#define CMAP_KEY            "tunekv/cluster-map"
#define CMAP_FILE           "cluster-map" /* in the data dir: the last map applied here */
#define CMAP_FORMAT_VERSION 2
#define CMAP_MEMBERS_MAX    CONFIG_NODES_MAX
#define CMAP_PARTITIONS_MAX CONFIG_PARTITIONS_MAX
#define CMAP_REPLICAS_MAX   CONFIG_REPLICAS_MAX
#define CMAP_META_MAX       7 /* replicas of the metadata group (odd: a majority survives (n-1)/2) */
#define CMAP_TEXT_BYTES     CONFIG_ADDR_BYTES /* addresses and zones, NUL included */

/* What a member is. The configuration's nodes are VOTERs; `member add`
 * records a new node as JOINING (known by id and addresses, holding no
 * replica yet); `member remove` makes a member REMOVED, which stays in the
 * map so that its id is never given to another node. */
enum cmap_state {
        CMAP_VOTER = 1,
        CMAP_JOINING = 2,
        CMAP_REMOVED = 3,
        /* `member remove` or `member replace` of a node that holds
         * replicas: the metadata leader moves them away (balance.c), to
         * the successor if one was named, then makes it REMOVED. */
        CMAP_LEAVING = 4,
};

struct cmap_member {
        unsigned id;
        enum cmap_state state;
        char client_addr[CMAP_TEXT_BYTES];
        char peer_addr[CMAP_TEXT_BYTES];
        char zone[CMAP_TEXT_BYTES]; /* "" unless configured */
        unsigned successor;         /* LEAVING: the member its replicas move to (not removed);
                                       0: any */
};

/* A partition's replicas: the ones that serve it (ids), and the move in
 * progress, if any: move_to is being added (a non-voter until it caught
 * up), and move_from is removed once move_to votes; then the move is done
 * (cmap_move_done) and move_to takes move_from's place in ids. */
struct cmap_placement {
        unsigned n;                      /* replicas */
        unsigned ids[CMAP_REPLICAS_MAX]; /* the preferred leader first */
        unsigned move_from;              /* 0: no move in progress */
        unsigned move_to;
};

struct cmap {
        uint64_t epoch;
        unsigned n_members;
        struct cmap_member members[CMAP_MEMBERS_MAX]; /* by id */
        unsigned n_partitions;
        /* [0, n_partitions): the partitions; [n_partitions]: the
         * metadata group. */
        struct cmap_placement parts[CMAP_PARTITIONS_MAX + 1];
};

/* How a configuration compares with a map (cmap_check_config). */
enum cmap_agreement {
        CMAP_AGREES,
        CMAP_DIFFERS,       /* zones, placement or the member list: logged loudly */
        CMAP_DIFFERS_ADDRS, /* a member's addresses: a node refuses to start */
};

/* The map a cluster starts with: cfg's nodes (all voters) and placement
 * (config_replicas_of), at the given epoch. *out is the caller's
 * (cmap_destroy). 0 or TKV_ENOMEM. cfg is borrowed. */
int cmap_from_config(const struct config *cfg, uint64_t epoch, struct cmap **out);

/* Encode m into a new buffer (*out, tkv_free'd by the caller) of *len
 * bytes. 0 or TKV_ENOMEM. m is borrowed. */
int cmap_encode(const struct cmap *m, uint8_t **out, size_t *len);

/* Decode len bytes (borrowed) into a new map *out (the caller's). 0,
 * TKV_ECORRUPT for anything the layout above refuses, or TKV_ENOMEM;
 * *out is NULL on failure. */
int cmap_decode(const void *data, size_t len, struct cmap **out);

/* Free m; NULL is fine. */
void cmap_destroy(struct cmap *m);

/* Member id of m, or NULL. */
const struct cmap_member *cmap_member(const struct cmap *m, unsigned id);

/* Is node id one of partition p's replicas in m (the ones that serve)?
 * p may be n_partitions: the metadata group. */
bool cmap_is_replica(const struct cmap *m, unsigned p, unsigned id);

/* Does node id hold a replica of p in m: one that serves, or the target of
 * p's move in progress? */
bool cmap_hosts(const struct cmap *m, unsigned p, unsigned id);

/* Start moving partition p's replica (p == n_partitions: the metadata
 * group's) from node `from` to node `to`, and raise the epoch. Refused, with the reason in why and
 * m unchanged: TKV_EINVAL for no such partition, from not one of p's replicas, to not a member,
 * removed, or a replica of p already, from == to; TKV_EBUSY when p has another move in progress;
 * TKV_EEXIST when exactly this move is in progress already (nothing to change); TKV_ETOOBIG for an
 * epoch at UINT64_MAX. */
int cmap_move(struct cmap *m, unsigned p, unsigned from, unsigned to, char *why, size_t len);

/* Partition p's move from `from` to `to` is done (to votes, from was
 * removed from the Raft group): to takes from's place among the replicas,
 * and the epoch grows. TKV_EEXIST when it was recorded done already (to
 * is a replica, from is not, no move in progress); TKV_EINVAL when p has
 * no such move (another one, or none: why says so). */
int cmap_move_done(struct cmap *m, unsigned p, unsigned from, unsigned to, char *why, size_t len);

/* Give up partition p's move in progress (the partition's leader removes
 * the target again if it was added, see rpc_move.c), epoch + 1.
 * TKV_EINVAL when p has none. */
int cmap_move_cancel(struct cmap *m, unsigned p, char *why, size_t len);

/* Add mb (copied) to m as a JOINING member, keeping the members sorted by
 * id, and raise the epoch. Refused, with the reason in why (len bytes)
 * and m unchanged: TKV_EINVAL for an id outside 1..65535 or one the map
 * has (also a removed member's: ids are never reused), a malformed
 * address or zone, or an address another member that is not removed
 * uses (either as client or as peer address); TKV_ETOOBIG when the map
 * holds CMAP_MEMBERS_MAX members already, or its epoch is UINT64_MAX (a
 * map no decoder would accept with the epoch wrapped to 0). */
int cmap_add(struct cmap *m, const struct cmap_member *mb, char *why, size_t len);

/* Remove member id from m, raising the epoch: REMOVED at once if it
 * holds no replica (of a partition or of the metadata group), else
 * LEAVING (its replicas are moved away first, balance.c). Refused, with
 * the reason in why and m unchanged: TKV_EINVAL if id is not a member,
 * was removed or is leaving already, or holds a replica no other member
 * could take (why names it: add a node first); TKV_ETOOBIG for an epoch
 * at UINT64_MAX. */
int cmap_remove(struct cmap *m, unsigned id, char *why, size_t len);

/* Give member id another client address, peer address and/or zone (NULL:
 * kept; a zone of "" clears it), raising the epoch. Refused, with the
 * reason in why and m unchanged: TKV_EINVAL if id is not a member or was
 * removed, for a malformed address or zone, an address another member
 * uses, or the same address as client and peer; TKV_ETOOBIG for an epoch
 * at UINT64_MAX; TKV_EEXIST when nothing would change (a retry of a
 * change that applied). Raft configurations keep the peer address a
 * member was added with: nodes dial the map's (transport.h). */
int cmap_update(struct cmap *m, unsigned id, const char *client_addr, const char *peer_addr,
                const char *zone, char *why, size_t len);

/* Replace member old by successor: old becomes LEAVING with its replicas
 * to move to successor (or REMOVED at once if it holds none). successor
 * is a member already (addrs NULL: not removed or leaving, not old), or
 * is added first from addrs (as cmap_add, whose refusals apply). Refused
 * as cmap_remove otherwise, m unchanged. */
int cmap_replace(struct cmap *m, unsigned old, unsigned successor, const struct cmap_member *addrs,
                 char *why, size_t len);

/* Make id partition p's preferred leader (its first replica), raising the
 * epoch; TKV_EINVAL unless id is one of p's replicas (TKV_EEXIST when it
 * is the first already). */
int cmap_prefer(struct cmap *m, unsigned p, unsigned id, char *why, size_t len);

/* How many partitions id holds a replica of (cmap_hosts), in m; the
 * metadata group not counted. */
unsigned cmap_load(const struct cmap *m, unsigned id);

/* Does id hold a replica of anything: a partition or the metadata group? */
bool cmap_holds_any(const struct cmap *m, unsigned id);

/* "partition 3", or "the metadata group" for p == n_partitions, into buf. */
void cmap_group_name(const struct cmap *m, unsigned p, char *buf, size_t len);

/* May member mb receive replicas (a voter or joining member)? */
bool cmap_eligible(const struct cmap_member *mb);

/* "voter", "joining", "removed", "leaving" (or "unknown"). */
const char *cmap_state_name(enum cmap_state s);

/* Compare cfg with m; the first difference is described in why (len
 * bytes), e.g. "node 2's client address is 127.0.0.1:7002 in the cluster
 * map (epoch 1) but 127.0.0.1:7009 in the configuration". */
enum cmap_agreement cmap_check_config(const struct cmap *m, const struct config *cfg, char *why,
                                      size_t len);

/* Read data_dir's copy of the map. 0, TKV_ENOTFOUND (no copy yet: a node
 * that never learned the map), TKV_EIO or TKV_ECORRUPT with errmsg
 * (ERR_MSG_BYTES) filled, TKV_ENOMEM. Blocking: for the start only. */
int cmap_file_read(const char *data_dir, struct cmap **out, char *errmsg);

/* Write len bytes as data_dir's copy, atomically and durably (temporary
 * file, fsync, rename, fsync of the directory). Blocking: run it on the
 * threadpool. 0 or TKV_EIO. */
int cmap_file_write(const char *data_dir, const uint8_t *bytes, size_t len);

#endif
