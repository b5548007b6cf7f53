/* Test-only access to a group's raft side (tests/unit/test_group.c): a
 * test drives groups with raft_fixture, so it hands the group a raft it
 * created and reads raft's state directly. The daemon never includes this
 * header; it sees groups through group.h only. */
#ifndef TKV_GROUP_TEST_H
#define TKV_GROUP_TEST_H

#include <raft.h>

#include "group.h"

/* The raft_fsm a test passes to raft_fixture_grow; owned by g. */
struct raft_fsm *group_raft_fsm(struct group *g);

/* Drive r, a raft instance the caller created with group_raft_fsm(g)
 * (raft_fixture), instead of opening one. The caller keeps ownership of
 * r, closes it, then destroys g. */
void group_attach(struct group *g, struct raft *r);

/* The raft g drives (NULL once closed); borrowed. */
struct raft *group_raft(struct group *g);

/* A new leadership whose election barrier is not submitted yet. */
bool group_election_barrier_pending(const struct group *g);

#endif
