/* Shared by rpc.c and the handlers (rpc_*.c) only; a call and its
 * answers are call.h's. It declares the handlers and what they share (the
 * method table's rows, the kinds of node calls), so it sits in the
 * handlers' layer (7), below dispatch: it includes nothing of rpc.h. */
#ifndef TKV_RPC_INTERNAL_H
#define TKV_RPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "deadline.h"
#include "group.h"
#include "peer.h"
#include "read.h"
#include "session.h"
#include "tunekv.pb-c.h"

struct conn;
struct node;

/* A handler answers c now (call_answer*) or later, from a group callback.
 * req is borrowed for the duration of the call. */
typedef void (*rpc_handler)(struct call *c, const Tunekv__V1__Request *req);

struct rpc_method {
        Tunekv__V1__Request__BodyCase body; /* which oneof member */
        const char *name;
        rpc_handler handler;
        bool has_key;   /* the call keeps the request's key */
        bool is_write;  /* changes state: unknown outcome if interrupted */
        bool node_only; /* node-to-node: refused on client connections */
};

/* Method of a decoded request, or NULL for an unknown operation. */
const struct rpc_method *rpc_method_of(const Tunekv__V1__Request *req);

/* Key of a request (GET/PUT/DELETE/CAS), or NULL. */
const ProtobufCBinaryData *rpc_request_key(const Tunekv__V1__Request *req);

/* rpc_read.c: answer c's GET from the local store (partition group g):
 * value, receipt (delivered level, staleness, fallback), token delta. */
void rpc_read_answer(struct call *c, Tunekv__V1__Consistency delivered, bool fallback);

/* rpc_read.c: are a read's options valid (known level, route, on_unmet,
 * session flags; a bound for BOUNDED_STALENESS)? TKV_EINVAL with why
 * filled if not. */
int rpc_read_check_options(const Tunekv__V1__ReadOptions *o, char *why, size_t len);

/* rpc_read.c: the GET handler, every level. */
void rpc_read_get(struct call *c, const Tunekv__V1__Request *req);

/* rpc_read.c: c's token (and min_index) for its partition: set
 * c->rd.bound.required_index. A malformed, oversized or forged token is
 * answered INVALID_ARGUMENT / TOO_LARGE: returns nonzero, c is gone. */
int rpc_read_token_bound(struct call *c, const Tunekv__V1__ReadOptions *o);

/* rpc_read.c: is c's required timestamp within max_clock_offset_ms of our
 * clock? 0, or nonzero once c is answered INVALID_ARGUMENT. */
int rpc_read_ts_sane(struct call *c);

/* rpc_many.c: GET_MANY. Bytes of the call's key space it needs, and
 * filling it from the request (rpc_call_new); its limits, checked before
 * a call exists (0 or a TKV_E* code with message filled); the handler. */
size_t rpc_many_call_bytes(const Tunekv__V1__Request *req);
void rpc_many_call_fill(struct call *c, const Tunekv__V1__Request *req);
int rpc_many_admit(const Tunekv__V1__Request *req, const struct config *cfg, char *message,
                   size_t len);
void rpc_many_get(struct call *c, const Tunekv__V1__Request *req);

/* rpc_scan.c: SCAN, shaped as GET_MANY: the call's key space it needs for
 * a node of n_partitions and its filling; its checks before a call exists
 * (0 or a TKV_E* code with message filled); the handler. */
size_t rpc_scan_call_bytes(const Tunekv__V1__Request *req, unsigned n_partitions);
void rpc_scan_call_fill(struct call *c, const Tunekv__V1__Request *req);
int rpc_scan_admit(const Tunekv__V1__Request *req, const struct config *cfg, char *message,
                   size_t len);
void rpc_scan(struct call *c, const Tunekv__V1__Request *req);

/* rpc_fanout.c: a SCAN or GET_MANY whose partitions are not all hosted
 * here, spread over the nodes that hold them (the file's comment). What it
 * asks of the call's own read (rpc_scan.c, rpc_many.c), through ops: kind;
 * request_of (SCAN), its request as the call keeps it (s's bytes point into
 * the call; partitions and options left out); keys_of (GET_MANY), its keys
 * in order (pointing into the call) into keys, their count; begin_share,
 * read only parts (n of them, ascending) here, starting at o's level
 * (answers c on a bad option); again, read that share again at or above
 * floor_ts (LINEARIZABLE: a fresh double collect); budget (SCAN), the
 * page's byte budget on this node. The share's answers come back through
 * rpc_fanout_local_answer (resp borrowed: packed and kept there) instead
 * of going to the client.
 * rpc_fanout_start spreads c, reading parts (n, ascending) at o's level,
 * and answers it with the shares merged; rpc_fanout_on_answer /
 * rpc_fanout_on_fail take a share's answer from a node link (frame
 * borrowed), or the link's failure (through node_calls). */
enum rpc_fanout_kind { RPC_FANOUT_SCAN, RPC_FANOUT_GET_MANY };
struct rpc_fanout_ops {
        enum rpc_fanout_kind kind;
        void (*request_of)(const struct call *c, Tunekv__V1__ScanRequest *s);
        uint32_t (*keys_of)(const struct call *c, ProtobufCBinaryData *keys);
        void (*begin_share)(struct call *c, const uint32_t *parts, uint32_t n,
                            const Tunekv__V1__ReadOptions *o);
        void (*again)(struct call *c, uint64_t floor_ts);
        uint64_t budget;
};
void rpc_fanout_start(struct call *c, const Tunekv__V1__ReadOptions *o, const uint32_t *parts,
                      uint32_t n, const struct rpc_fanout_ops *ops);
void rpc_fanout_local_answer(struct call *c, const Tunekv__V1__Response *resp);
void rpc_fanout_on_answer(struct peer_call *pc, const uint8_t *frame, size_t len);
void rpc_fanout_on_fail(struct peer_call *pc);
/* rpc_fanout.c: where each of parts[0 .. n - 1] is read (owner[k]): this
 * node for the ones hosted here, the rest on as few live nodes as hold
 * them. Returns 0, or 1 + the first partition no live node holds. */
uint32_t rpc_fanout_cover(struct node *node, const uint32_t *parts, uint32_t n, unsigned *owner);
/* rpc_fanout.c: c's own round stops waiting (a read fence, a wait for its
 * bound), so that c may be answered on another share's behalf. */
void rpc_fanout_stop_local(struct call *c);

/* rpc_scan.c: WATCH, whose start is a SCAN round of its keys (rpc_watch.c
 * has the streams): the call's key space it needs, its filling, the
 * handler. */
size_t rpc_scan_watch_call_bytes(const Tunekv__V1__Request *req, unsigned n_partitions);
void rpc_scan_watch_call_fill(struct call *c, const Tunekv__V1__Request *req);
void rpc_scan_watch(struct call *c, const Tunekv__V1__Request *req);

/* rpc_watch.c: a stream's start, decided by its round (rpc_scan.c): the
 * key or prefix (borrowed), partitions parts[0 .. n_parts - 1]
 * (ascending), and for each the index after which it starts (resumed: the
 * client's, else the index the round read); at BOUNDED_STALENESS (c's
 * level) its bound. Answers c (the created frame, or COMPACTED) and frees
 * it; for a spread stream (rpc_watch_spread) these are the partitions read
 * here, and c is answered once every share has started. */
struct rpc_watch_spec {
        const uint8_t *key;
        uint32_t key_len;
        bool prefix;
        bool keys_only;
        const uint32_t *parts;
        uint32_t n_parts;
        const uint64_t *after;
        const bool *resumed;
        uint32_t max_staleness_ms;
};
void rpc_watch_begin(struct call *c, const struct rpc_watch_spec *s);

/* rpc_watch.c: a WATCH whose partitions are not all hosted here, spread
 * over the nodes that hold them (rpc_watch.c, "Spread streams"): parts[0
 * .. n - 1] (ascending), owner[k] the node partition k is streamed from
 * (rpc_fanout_cover), after[k] / resumed[k] the client's start. Creates
 * the stream and asks every other owner for its share over the node link;
 * the call's own round then reads the partitions owned here and ends in
 * rpc_watch_begin. Returns 0, or nonzero once c is answered.
 * rpc_watch_on_frame / rpc_watch_on_fail: a share's frame (borrowed), or
 * its link's failure. */
int rpc_watch_spread(struct call *c, const Tunekv__V1__WatchRequest *wq, const uint32_t *parts,
                     uint32_t n, const unsigned *owner, const uint64_t *after, const bool *resumed);
void rpc_watch_on_frame(struct peer_call *pc, const uint8_t *frame, size_t len);
void rpc_watch_on_fail(struct peer_call *pc);

/* rpc_watch.c: WATCH's checks before a call exists (sizes, the streams
 * open on conn and on the node): 0, or a TKV_E* code with message filled. */
struct config;
int rpc_watch_admit(const struct conn *conn, const Tunekv__V1__Request *req,
                    const struct config *cfg, unsigned n_partitions, char *message, size_t len);

/* rpc_watch.c: WATCH_CANCEL. */
void rpc_watch_cancel(struct call *c, const Tunekv__V1__Request *req);

/* rpc_many.c: what GET_MANY and SCAN share, reading partitions of this
 * node's replicas in rounds (docs/consistency.md, "Multi-key reads").
 *
 * rpc_many_options: check o (borrowed, may be NULL) and set c's level,
 * on_unmet, max_wait_ms and min_timestamp. rpc_many_token_parse: o's
 * token into the node's scratch (*n entries, valid until the next request
 * is dispatched) and c's token timestamp. rpc_many_token_required: the
 * index partition p must have applied for those n entries. rpc_many_bound:
 * c's timestamp floor from the token and the staleness bound, checked
 * against the clock. Each returns 0, or nonzero once c is answered. */
int rpc_many_options(struct call *c, const Tunekv__V1__ReadOptions *o);
int rpc_many_token_parse(struct call *c, const Tunekv__V1__ReadOptions *o, unsigned *n);
int rpc_many_token_required(struct call *c, unsigned n, uint32_t p, uint64_t *required);
int rpc_many_bound(struct call *c, const Tunekv__V1__ReadOptions *o);

/* rpc_many.c: may partition p's replica here serve a read at timestamp ts
 * needing applied index required (always at EVENTUAL, and at LINEARIZABLE
 * once the caller's read fence returned)? If not, c waits
 * for it (c->rd.on_met runs the next round) or is answered BOUND_UNMET
 * after RPC_MANY_ROUNDS_MAX rounds: false, and c is no longer the
 * caller's. */
bool rpc_many_ready(struct call *c, uint32_t p, uint64_t required, uint64_t ts);

/* rpc_many.c: build an answer's token delta in the node's scratch: an R
 * entry for partition p (once each; n entries so far, returns the new
 * count), then the T entry for ts when it is news. */
unsigned rpc_many_token_add(struct call *c, unsigned n, uint32_t p);
/* Rounds of reads before a GET_MANY or SCAN whose keys keep changing
 * gives up (BOUND_UNMET). */
#define RPC_MANY_ROUNDS_MAX 16

/* LINEARIZABLE reads of several partitions (GET_MANY, SCAN; a double
 * collect, docs/consistency.md). rpc_many_fresh: is partition p's replica
 * current as of the moment the node's freshness counter read ticket
 * (read.h fresh_after)? If not, it starts the proof (a leader's
 * confirmation, a follower's probe) and c waits: c->rd.on_met runs when
 * it may look again. rpc_many_closed: is p closed at ts? If not, c waits
 * likewise. rpc_many_give_up: answer BOUND_UNMET on p's behalf. */
bool rpc_many_fresh(struct call *c, uint32_t p, uint64_t ticket);
bool rpc_many_closed(struct call *c, uint32_t p, uint64_t ts);
void rpc_many_give_up(struct call *c, uint32_t p);
unsigned rpc_many_token_end(struct call *c, unsigned n, uint64_t ts);
/* rpc_many.c: at at_timestamp, partition p's change history here starts
 * after it: c answered COMPACTED (naming p and where it starts), returns
 * nonzero. */
int rpc_many_compacted_part(struct call *c, uint32_t p);

/* rpc_read.c: c's bound is not met where it is (after any wait): follow
 * its on_unmet. */
void rpc_read_unmet(struct call *c);

/* rpc_read.c: c's wait (CALL_WAIT) reached its deadline. */
void rpc_read_expired(struct call *c);

/* What a call on a peer link is (peer_call.kind). */
enum rpc_peer_call {
        RPC_PEER_FORWARD, /* struct call, op.fwd: a forwarded request */
        RPC_PEER_PING,    /* peer->ping */
        RPC_PEER_PROBE,   /* node->probe_calls[partition] */
        RPC_PEER_CONFIRM, /* struct rpc_confirm */
        RPC_PEER_MAP,     /* node->meta.map_call: a joining node's CLUSTER_INFO (rpc_join.c) */
        RPC_PEER_MOVE,    /* node->moves[p].done_call: MOVE_DONE (rpc_move.c) */
        RPC_PEER_FANOUT,  /* struct rpc_fanout_share: a spread SCAN's share (rpc_fanout.c) */
        RPC_PEER_WATCH,   /* struct rpc_watch_share: a spread WATCH's share (rpc_watch.c) */
};

/* rpc_move.c: the answer to a MOVE_DONE this node sent (resp NULL: the
 * call failed); borrowed. */
void rpc_move_on_done(struct node *node, struct peer_call *pc, const Tunekv__V1__Response *resp);

/* rpc_join.c: the answer to a joining node's CLUSTER_INFO to a voter
 * (resp NULL: the call failed); borrowed. */
void rpc_join_on_map(struct node *node, const Tunekv__V1__Response *resp);

/* rpc_node.c: probes (read.c says why): the leader's handler. */
void rpc_node_probe_answer(struct call *c, const Tunekv__V1__Request *req);

/* One ask of a leadership confirmation (group_confirm.c) in flight to a voter. */
struct rpc_confirm {
        struct peer_call pc; /* kind RPC_PEER_CONFIRM */
        uint32_t partition;
        uint64_t seq;
        uint64_t voter;
};

/* rpc_node.c: confirmations: a voter's handler. */
void rpc_node_confirm_answer(struct call *c, const Tunekv__V1__Request *req);

/* How the answers to this node's own node-to-node calls are taken: resp is
 * the answer, or NULL when the link failed first; on_confirm frees rc.
 * rpc_forward.c routes each answer by its call's kind through the table
 * the node holds (node.node_calls = &rpc_node_calls), so the link code
 * never calls into the handlers that made the calls. */
struct rpc_node_calls {
        void (*on_probe)(struct node *node, uint32_t partition, const Tunekv__V1__Response *resp);
        void (*on_confirm)(struct node *node, struct rpc_confirm *rc,
                           const Tunekv__V1__Response *resp);
        void (*on_move)(struct node *node, struct peer_call *pc, const Tunekv__V1__Response *resp);
        void (*on_fanout)(struct peer_call *pc, const uint8_t *frame, size_t len);
        void (*on_fanout_fail)(struct peer_call *pc);
        void (*on_watch)(struct peer_call *pc, const uint8_t *frame, size_t len);
        void (*on_watch_fail)(struct peer_call *pc);
};

/* rpc_kv.c: the writes of partition p waiting for every replica (ack =
 * ALL_REPLICAS) that may be answered now. */
void rpc_kv_ack_all_scan(struct node *node, uint32_t p);

/* rpc_kv.c: answer an ALL_REPLICAS write whose wait is over (every replica
 * applied it, or its deadline passed: then it reports COMMITTED). */
void rpc_kv_ack_all_done(struct call *c, bool all);

/* Handlers. */
/* rpc_kv.c: route c (a write, or a request that must reach the leader of
 * key's partition) to its leader. True when this node serves it; else c
 * has been forwarded or answered. */
bool rpc_kv_route(struct call *c, const Tunekv__V1__Request *req, const ProtobufCBinaryData *key);

/* rpc_kv.c: the writer's token (o->token, borrowed) as cmd's causal
 * dependencies, in the node's scratch (valid until the next request).
 * Returns 0, or nonzero once c is answered. */
int rpc_kv_write_deps(struct call *c, const Tunekv__V1__WriteOptions *o, struct command *cmd);

/* rpc_txn.c: TXN, compares and two branches of ops in one partition. */
void rpc_txn(struct call *c, const Tunekv__V1__Request *req);

/* rpc_txn.c: may t (borrowed) be proposed under cfg's limits, all its keys
 * in one of n_partitions? 0, or TKV_ETOOBIG / TKV_EINVAL with why (len
 * bytes) saying what is wrong. */
struct config;
int rpc_txn_check(const struct config *cfg, unsigned n_partitions, const Tunekv__V1__TxnRequest *t,
                  char *why, size_t len);

/* rpc_txn.c: the COMMAND_TXN body of t (borrowed) into *body (transferred:
 * the caller tkv_frees it; NULL on failure) and *len. 0 or TKV_ENOMEM. */
int rpc_txn_encode(const Tunekv__V1__TxnRequest *t, uint8_t **body, size_t *len);

void rpc_kv_put(struct call *c, const Tunekv__V1__Request *req);
void rpc_kv_delete(struct call *c, const Tunekv__V1__Request *req);
void rpc_kv_cas(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_status(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_cluster_info(struct call *c, const Tunekv__V1__Request *req);
void rpc_admin_ping(struct call *c, const Tunekv__V1__Request *req);

/* rpc_auth.c: run AUTH on a client connection: answered later, when its
 * password was hashed off the loop (or at once when refused). req is
 * borrowed. */
void rpc_auth_start(struct conn *conn, const Tunekv__V1__Request *req);

/* rpc_auth.c: may conn's user do req (op names it in messages; key is
 * its key, or NULL)? 0, or TKV_EAUTH (no user yet) / TKV_EPERM with
 * message filled. Always 0 with auth off and on node links. Everything
 * borrowed. */
int rpc_auth_admit(struct conn *conn, const Tunekv__V1__Request *req, const char *op,
                   const ProtobufCBinaryData *key, char *message, size_t len);

/* rpc_auth.c: the users and roles this node enforces: its replica of the
 * system group's record, decoded again when a new version was applied
 * (an empty table with auth off or before anything was stored). Borrowed:
 * valid until the next call. */
struct auth_table *rpc_auth_table(struct node *node);

/* rpc_member.c: MEMBER (admin): add a member to the cluster map or remove
 * one, as a CAS of the map at the metadata group's leader (forwarded there
 * by the other nodes). */
void rpc_member_request(struct call *c, const Tunekv__V1__Request *req);

/* Did c come over the node link of a member that holds no replica of the
 * metadata group (by the map)? What such a node passes on to a replica
 * (MEMBER, USER_ROLE changes) may take a second hop, to the group's
 * leader: it knows no leader of the group itself. */
bool rpc_member_from_joined(const struct call *c);

/* The cluster map in g's store (this node leads the metadata group g)
 * changed by mr, as a CAS command on the version read (cmd->value is
 * tkv_malloc'd: the caller frees it after group_propose), and the new
 * map's epoch. TKV_EEXIST: the map holds the change already (*epoch is
 * its epoch, nothing to propose); other TKV_E* with why filled. */
struct command;
int rpc_member_change(struct group *g, const Tunekv__V1__MemberRequest *mr, struct command *cmd,
                      uint64_t *epoch, char *why, size_t len);

/* What mr changes, in words for the log ("node 4 removed"), into buf. */
const char *rpc_member_op_name(const Tunekv__V1__MemberRequest *mr, char *buf, size_t len);

/* rpc_auth.c: the stored secret a password for user (borrowed) is checked
 * against, copied: root's from the cluster or the configuration, and for
 * an unknown user one that never matches but costs the same to check. */
struct auth_secret rpc_auth_secret_of(struct node *node, const char *user);

/* rpc_auth.c: a wrong password given in op ("AUTH", "USER_PASSWD") on conn
 * as user: counted, and logged with the client's address at most once a
 * second (a password guesser must not be able to fill the disk). All
 * borrowed. */
void rpc_auth_log_failure(struct auth_state *a, struct conn *conn, const char *op,
                          const char *user);

/* rpc_meta.c: TRANSFER_LEADER (admin): hand a partition's leadership to
 * one of its replicas, answered once it leads. */
void rpc_meta_transfer(struct call *c, const Tunekv__V1__Request *req);

/* rpc_users.c: user and role management (USER_ROLE requests). */
void rpc_users_request(struct call *c, const Tunekv__V1__Request *req);

/* rpc_users.c: c is hashing a password (CALL_HASHING): forget it; the
 * hashing finishes and is dropped. */
void rpc_users_abandon(struct call *c);

/* Stop waiting: detach c from its group or link. Returns true if c is a
 * write that may have happened. */
bool rpc_call_abandon(struct call *c);

/* rpc_forward.c: send c (a GET or a write) to node_id and relay its answer.
 * req is the decoded request (borrowed). */
void rpc_forward(struct call *c, const Tunekv__V1__Request *req, unsigned node_id);

/* rpc_forward.c: stop waiting for the answer to forwarded call c (its
 * answer, if any, is dropped). Returns true if c is a write that may have
 * reached the other node. */
bool rpc_forward_abandon(struct call *c);

struct route_need;

/* rpc_route.c: route c's key (route.h): set c's key hash, partition and
 * group, and return true when this node should serve it; otherwise c has
 * been forwarded or answered (NOT_LEADER, NO_QUORUM, UNAVAILABLE). req and
 * key are borrowed. */
/* rpc_route.c: may node_id be asked (this node; heard from within an
 * election timeout; or the node started less than one ago)? */
bool rpc_route_alive(struct node *node, unsigned node_id, uint64_t now);

bool rpc_route_request(struct call *c, const Tunekv__V1__Request *req,
                       const ProtobufCBinaryData *key, const struct route_need *need);

/* rpc_route.c: as rpc_route_request, for a request that names its
 * partition (partition < node->n_partitions) rather than a key: LEASE_*
 * by lease id. */
bool rpc_route_partition(struct call *c, const Tunekv__V1__Request *req, uint32_t partition,
                         const struct route_need *need);

/* rpc_lease.c: LEASE_* (grant, keepalive, revoke, info, list). */
void rpc_lease(struct call *c, const Tunekv__V1__Request *req);

/* rpc_lease.c: may a PUT or CAS of key, or a TXN put (rpc_txn.c), name
 * lease? 0, or nonzero once c is answered INVALID_ARGUMENT (the lease
 * lives in another partition: both named). Call after routing
 * (c->partition is the key's). */
int rpc_lease_check_write(struct call *c, uint64_t lease);

#endif
