/* The partition state machine through raft's raft_fsm interface: commands
 * apply deterministically at the index raft gives, snapshots taken while
 * writes continue capture the state of the moment they were taken, and a
 * restore reproduces it (including compressed values and versions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "buffer.h"
#include "command.h"
#include "err.h"
#include "fsm.h"
#include "lease.h"
#include "log.h"
#include "snapshot.h"
#include "testlib.h"
#include "value.h"

struct harness {
        struct fsm fsm;
        uint64_t next_index;
        uint64_t last_pid;
        struct command_result last;
        int applied;
        int restored;
};

static uint64_t h_index(void *data)
{
        return ((struct harness *)data)->next_index;
}

static void h_applied(void *data, uint64_t index, uint64_t pid, unsigned flags,
                      const struct command_result *res)
{
        struct harness *h = data;
        (void)flags;
        assert_int_equal(index, h->next_index);
        h->last_pid = pid;
        h->last = *res;
        h->applied++;
}

static void h_restored(void *data, uint64_t index)
{
        (void)index;
        ((struct harness *)data)->restored++;
}

static void h_init(struct harness *h, uint32_t partition)
{
        struct fsm_hooks hooks = {0};
        struct fsm_params params = {
            partition, 4, 3, 1u << 20, {64, 1u << 20, 60000}}; /* small window, 3 clients */
        memset(h, 0, sizeof *h);
        hooks.data = h;
        hooks.index = h_index;
        hooks.applied = h_applied;
        hooks.restored = h_restored;
        assert_int_equal(fsm_init(&h->fsm, &params, &hooks), 0);
        h->next_index = 1;
}

/* Apply one command at the next index, as raft would. */
static struct command_result apply(struct harness *h, struct command *c)
{
        struct raft_buffer buf;
        void *result;
        buf.len = command_encoded_bytes(c);
        buf.base = malloc(buf.len);
        command_encode(c, buf.base);
        assert_int_equal(h->fsm.raft_fsm.apply(&h->fsm.raft_fsm, &buf, &result), 0);
        free(buf.base);
        h->next_index++;
        return h->last;
}

static struct command_result op(struct harness *h, uint8_t type, const char *k, const char *v,
                                uint64_t expected)
{
        struct command c = {0};
        c.type = type;
        c.proposal_id = h->next_index * 10;
        c.key = (const uint8_t *)k;
        c.key_len = (uint32_t)strlen(k);
        if (v != NULL) {
                c.value = (const uint8_t *)v;
                c.value_len = c.value_raw_len = (uint32_t)strlen(v);
        }
        c.expected_version = expected;
        return apply(h, &c);
}

/* A write with a client session; retry sets COMMAND_F_RETRY. */
static struct command_result sop(struct harness *h, uint64_t client, uint64_t seq, const char *k,
                                 const char *v, bool retry)
{
        struct command c = {0};
        c.type = COMMAND_PUT;
        c.key = (const uint8_t *)k;
        c.key_len = (uint32_t)strlen(k);
        c.value = (const uint8_t *)v;
        c.value_len = c.value_raw_len = (uint32_t)strlen(v);
        c.client_id = client;
        c.seq = seq;
        c.flags = retry ? COMMAND_F_RETRY : 0;
        c.payload_hash = command_payload_hash(&c);
        return apply(h, &c);
}

static const struct store_entry *lookup(struct harness *h, const char *k)
{
        return store_get(h->fsm.store, k, (uint32_t)strlen(k));
}

static void test_apply_put_cas_delete(void **state)
{
        struct harness h;
        struct command_result r;
        (void)state;
        h_init(&h, 3);
        r = op(&h, COMMAND_PUT, "a", "1", 0);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.index, 1);
        assert_int_equal(h.last_pid, 10); /* the proposal id reaches the hook */
        /* CAS with the wrong version changes nothing and reports the real one. */
        r = op(&h, COMMAND_CAS, "a", "2", 7);
        assert_int_equal(r.status, TKV_ECONDITION);
        assert_int_equal(r.current_version, 1);
        assert_memory_equal(store_entry_value(lookup(&h, "a")), "1", 1);
        r = op(&h, COMMAND_CAS, "a", "2", 1);
        assert_int_equal(r.status, 0);
        assert_int_equal(store_entry_mod_index(lookup(&h, "a")), 3);
        assert_int_equal(store_entry_create_index(lookup(&h, "a")), 1);
        /* expected_version 0: must not exist. */
        assert_int_equal(op(&h, COMMAND_CAS, "a", "x", 0).status, TKV_ECONDITION);
        assert_int_equal(op(&h, COMMAND_CAS, "b", "x", 0).status, 0);
        assert_int_equal(op(&h, COMMAND_DELETE, "a", NULL, 0).status, 0);
        assert_int_equal(op(&h, COMMAND_DELETE, "a", NULL, 0).status, TKV_ENOTFOUND);
        assert_null(lookup(&h, "a"));
        assert_int_equal(h.fsm.applied_index, 7);
        fsm_close(&h.fsm);
}

static const struct store_entry *lookup(struct harness *h, const char *k);

/* A retried write is applied once and answered with its first result; a
 * seq reused for another payload is refused; a retry older than the window
 * (or of a dropped client) cannot be told, and says so. */
static void test_retries_apply_once(void **state)
{
        struct harness h;
        struct command_result r1, r;
        (void)state;
        h_init(&h, 0);
        r1 = sop(&h, 7, 1, "k", "v1", false);
        assert_int_equal(r1.status, 0);
        op(&h, COMMAND_PUT, "k", "other", 0); /* someone else overwrites */
        r = sop(&h, 7, 1, "k", "v1", true);   /* the retry: not applied again */
        assert_int_equal(r.status, 0);
        assert_int_equal(r.index, r1.index); /* the first result */
        assert_memory_equal(store_entry_value(lookup(&h, "k")), "other", 5);
        assert_int_equal(h.fsm.deduplicated, 1);
        r = sop(&h, 7, 1, "k", "v2", true); /* same seq, another write */
        assert_int_equal(r.status, TKV_EEXIST);
        /* Out-of-order seqs inside the window are new writes. */
        assert_int_equal(sop(&h, 7, 5, "a", "5", false).status, 0);
        assert_int_equal(sop(&h, 7, 3, "b", "3", false).status, 0);
        assert_int_equal(sop(&h, 7, 3, "b", "3", true).index,
                         store_entry_mod_index(lookup(&h, "b")));
        /* Window 4: after seqs 1, 5, 3, 6, seq 7 pushes 1 out: 1 is forgotten. */
        sop(&h, 7, 6, "c", "6", false);
        sop(&h, 7, 7, "d", "7", false);
        assert_int_equal(sop(&h, 7, 1, "k", "v1", true).status, TKV_EUNKNOWN);
        /* A retry from a client never seen, while no session was dropped:
         * its first attempt never happened here, so it is applied now. */
        assert_int_equal(sop(&h, 99, 1, "z", "z", true).status, 0);
        assert_non_null(lookup(&h, "z"));
        /* Three clients at most (7 and 99 so far): the least recent with
         * one write (99) is dropped, not 7, which keeps writing; then a
         * retry of 99, or of any unknown client, cannot be told. */
        sop(&h, 8, 1, "e", "e", false);
        sop(&h, 9, 1, "f", "f", false);
        assert_int_equal(dedup_sessions(h.fsm.dedup), 3);
        assert_int_equal(sop(&h, 99, 1, "z", "z", true).status, TKV_EUNKNOWN);
        r = sop(&h, 7, 7, "d", "7", true);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.index, store_entry_mod_index(lookup(&h, "d")));
        assert_int_equal(sop(&h, 123, 1, "y", "y", true).status, TKV_EUNKNOWN);
        assert_null(lookup(&h, "y"));
        sop(&h, 10, 1, "g", "g", false);
        assert_int_equal(sop(&h, 10, 1, "g", "g", true).status, 0);
        fsm_close(&h.fsm);
}

/* ------------------------------------------------------------------------ */
/* TXN */

/* Apply a TXN of nc compares and ns success then nf failure ops; client 0:
 * no session. */
static struct command_result txn(struct harness *h, const struct command_txn_compare *xs,
                                 uint32_t nc, const struct command_txn_op *ops, uint32_t ns,
                                 uint32_t nf, uint64_t client, uint64_t seq, bool retry)
{
        struct command c = {0};
        struct command_result r;
        size_t len = command_txn_body_bytes(xs, nc, ops, ns, nf);
        uint8_t *body = malloc(len);
        assert_non_null(body);
        command_txn_body_encode(xs, nc, ops, ns, nf, body);
        c.type = COMMAND_TXN;
        c.proposal_id = h->next_index * 10;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)len;
        c.client_id = client;
        c.seq = seq;
        c.flags = retry ? COMMAND_F_RETRY : 0;
        c.payload_hash = client != 0 ? command_payload_hash(&c) : 0;
        r = apply(h, &c);
        free(body);
        r.txn_body = NULL; /* it pointed into the freed entry */
        return r;
}

#define KEY(s) (const uint8_t *)(s), (uint32_t)(sizeof(s) - 1)

static struct command_txn_compare cmp(uint8_t target, uint8_t op, const char *k, uint64_t number,
                                      const char *value)
{
        struct command_txn_compare x = {target, op, (const uint8_t *)k, (uint32_t)strlen(k), number,
                                        NULL,   0};
        if (value != NULL) {
                x.value = (const uint8_t *)value;
                x.value_len = (uint32_t)strlen(value);
        }
        return x;
}

static bool value_is(struct harness *h, const char *k, const char *v)
{
        const struct store_entry *e = lookup(h, k);
        return e != NULL && store_entry_value_len(e) == strlen(v) &&
               memcmp(store_entry_value(e), v, strlen(v)) == 0;
}

/* Each compare alone decides the branch: "out" = "S" or "F". */
static void test_txn_compare_semantics(void **state)
{
        struct harness h;
        struct command_txn_op ops[] = {
            {COMMAND_TXN_PUT, KEY("out"), (const uint8_t *)"S", 1, 0},
            {COMMAND_TXN_PUT, KEY("out"), (const uint8_t *)"F", 1, 0},
        };
        uint8_t lz4[300];
        char big[200];
        struct command c = {0};
        size_t lz4_len;
        uint64_t va, vz;
        (void)state;
        h_init(&h, 0);
        va = op(&h, COMMAND_PUT, "a", "mid", 0).index; /* created and modified at va */
        op(&h, COMMAND_PUT, "b", "x", 0);
        op(&h, COMMAND_PUT, "b", "y", 0); /* b: create < mod */
        /* z holds an LZ4 value: compares see its raw bytes. */
        memset(big, 'q', sizeof big);
        big[sizeof big - 1] = '\0';
        assert_int_equal(
            value_compress((const uint8_t *)big, strlen(big), lz4, sizeof lz4, &lz4_len), 0);
        c.type = COMMAND_PUT;
        c.flags = COMMAND_F_LZ4;
        c.key = (const uint8_t *)"z";
        c.key_len = 1;
        c.value = lz4;
        c.value_len = (uint32_t)lz4_len;
        c.value_raw_len = (uint32_t)strlen(big);
        vz = apply(&h, &c).index;
        struct {
                struct command_txn_compare x;
                bool holds;
        } cases[] = {
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, "a", va, NULL), true},
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_NE, "a", va, NULL), false},
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_LT, "a", va + 1, NULL), true},
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_GT, "a", va, NULL), false},
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, "absent", 0, NULL), true},
            {cmp(COMMAND_TXN_TARGET_CREATE, COMMAND_TXN_LT, "b", va + 2, NULL), true},
            {cmp(COMMAND_TXN_TARGET_CREATE, COMMAND_TXN_EQ, "b", va + 1, NULL), true},
            {cmp(COMMAND_TXN_TARGET_CREATE, COMMAND_TXN_EQ, "absent", 0, NULL), true},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_EQ, "a", 0, "mid"), true},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_EQ, "a", 0, "mi"), false},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_GT, "a", 0, "mi"), true}, /* longer */
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_LT, "a", 0, "n"), true},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_GT, "a", 0, "n"), false},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_NE, "a", 0, "other"), true},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_NE, "absent", 0, "x"), false},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_EQ, "absent", 0, NULL), false},
            {cmp(COMMAND_TXN_TARGET_VALUE, COMMAND_TXN_EQ, "z", 0, big), true},
            {cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, "z", vz, NULL), true},
            {cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "a", 1, NULL), true},
            {cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "absent", 0, NULL), true},
            {cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_NE, "absent", 0, NULL), false},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct command_result r = txn(&h, &cases[i].x, 1, ops, 1, 1, 0, 0, false);
                if (cases[i].holds != (r.status == 0)) {
                        fail_msg("case %zu: expected %s", i, cases[i].holds ? "held" : "failed");
                }
                assert_int_equal(r.status, cases[i].holds ? 0 : TKV_ECONDITION);
                assert_true(value_is(&h, "out", cases[i].holds ? "S" : "F"));
                assert_int_equal(r.txn_ops, 1);
                assert_int_equal(store_entry_mod_index(lookup(&h, "out")), r.index);
        }
        fsm_close(&h.fsm);
}

/* One failing compare among several: none of the success ops ran, all the
 * failure ops did, at the TXN's one index. */
static void test_txn_all_or_nothing(void **state)
{
        struct harness h;
        struct command_txn_compare xs[2];
        struct command_txn_op ops[] = {
            {COMMAND_TXN_PUT, KEY("s1"), (const uint8_t *)"1", 1, 0},
            {COMMAND_TXN_DELETE, KEY("keep"), NULL, 0, 0},
            {COMMAND_TXN_PUT, KEY("s2"), (const uint8_t *)"2", 1, 0},
            {COMMAND_TXN_DELETE, KEY("gone"), NULL, 0, 0},
            {COMMAND_TXN_DELETE, KEY("never"), NULL, 0, 0},
            {COMMAND_TXN_PUT, KEY("f1"), (const uint8_t *)"x", 1, 0},
            {COMMAND_TXN_GET, KEY("f1"), NULL, 0, 0},
        };
        struct command_result r;
        uint64_t v;
        (void)state;
        h_init(&h, 0);
        v = op(&h, COMMAND_PUT, "keep", "k", 0).index;
        op(&h, COMMAND_PUT, "gone", "g", 0);
        xs[0] = cmp(COMMAND_TXN_TARGET_VERSION, COMMAND_TXN_EQ, "keep", v, NULL);
        xs[1] = cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "gone", 0, NULL); /* fails */
        r = txn(&h, xs, 2, ops, 3, 4, 0, 0, false);
        assert_int_equal(r.status, TKV_ECONDITION);
        assert_null(lookup(&h, "s1"));
        assert_null(lookup(&h, "s2"));
        assert_non_null(lookup(&h, "keep"));
        assert_null(lookup(&h, "gone"));
        assert_true(value_is(&h, "f1", "x"));
        assert_int_equal(store_entry_mod_index(lookup(&h, "f1")), r.index);
        /* Per op of the failure branch: did its key exist just before it. */
        assert_int_equal(r.txn_ops, 4);
        assert_int_equal(r.txn_existed[0], 1); /* gone was deleted */
        assert_int_equal(r.txn_existed[1], 0); /* never was not there */
        assert_int_equal(r.txn_existed[2], 0); /* f1 was created */
        /* Now both hold: the whole success branch, nothing of the other. */
        xs[1] = cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "gone", 0, NULL);
        r = txn(&h, xs, 2, ops, 3, 4, 0, 0, false);
        assert_int_equal(r.status, 0);
        assert_true(value_is(&h, "s1", "1"));
        assert_true(value_is(&h, "s2", "2"));
        assert_null(lookup(&h, "keep"));
        assert_int_equal(store_entry_mod_index(lookup(&h, "s1")), r.index);
        assert_int_equal(store_entry_mod_index(lookup(&h, "s2")), r.index);
        /* No compares: the success branch always runs. */
        r = txn(&h, NULL, 0, ops + 5, 1, 0, 0, 0, false);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.txn_existed[0], 1);
        fsm_close(&h.fsm);
}

/* The puts of a TXN store the writer's dependencies, as a PUT does. */
static void test_txn_puts_carry_dependencies(void **state)
{
        struct harness h;
        struct command_txn_op ops[] = {
            {COMMAND_TXN_PUT, KEY("{d}1"), (const uint8_t *)"a", 1, 0},
            {COMMAND_TXN_PUT, KEY("{d}2"), (const uint8_t *)"b", 1, 0},
        };
        static const uint8_t deps[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        struct command c = {0};
        size_t len = command_txn_body_bytes(NULL, 0, ops, 2, 0);
        uint8_t *body = malloc(len);
        (void)state;
        h_init(&h, 0);
        command_txn_body_encode(NULL, 0, ops, 2, 0, body);
        c.type = COMMAND_TXN;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)len;
        c.deps = deps;
        c.deps_len = sizeof deps;
        assert_int_equal(apply(&h, &c).status, 0);
        for (int i = 0; i < 2; i++) {
                const struct store_entry *e = lookup(&h, i == 0 ? "{d}1" : "{d}2");
                assert_int_equal(store_entry_deps_len(e), sizeof deps);
                assert_memory_equal(store_entry_deps(e), deps, sizeof deps);
        }
        free(body);
        fsm_close(&h.fsm);
}

/* A retried TXN applies once and is answered with the branch it took. */
static void test_txn_retry_applies_once(void **state)
{
        struct harness h;
        struct command_txn_compare x;
        struct command_txn_op put = {COMMAND_TXN_PUT, KEY("n"), (const uint8_t *)"1", 1, 0};
        struct command_txn_op other = {COMMAND_TXN_PUT, KEY("n"), (const uint8_t *)"2", 1, 0};
        struct command_result r1, r;
        (void)state;
        h_init(&h, 0);
        x = cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "n", 0, NULL);
        r1 = txn(&h, &x, 1, &put, 1, 0, 7, 1, false);
        assert_int_equal(r1.status, 0);
        op(&h, COMMAND_DELETE, "n", NULL, 0); /* the compare would hold again */
        r = txn(&h, &x, 1, &put, 1, 0, 7, 1, true);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.index, r1.index);
        assert_null(r.txn_existed); /* no op results: the state they saw is gone */
        assert_null(lookup(&h, "n"));
        assert_int_equal(h.fsm.deduplicated, 1);
        /* The same seq for another TXN is refused, and changes nothing. */
        r = txn(&h, &x, 1, &other, 1, 0, 7, 1, true);
        assert_int_equal(r.status, TKV_EEXIST);
        assert_null(lookup(&h, "n"));
        /* A TXN whose compares failed is remembered as failed. */
        op(&h, COMMAND_PUT, "n", "0", 0);
        r1 = txn(&h, &x, 1, &put, 1, 0, 7, 2, false);
        assert_int_equal(r1.status, TKV_ECONDITION);
        op(&h, COMMAND_DELETE, "n", NULL, 0);
        r = txn(&h, &x, 1, &put, 1, 0, 7, 2, true);
        assert_int_equal(r.status, TKV_ECONDITION);
        assert_int_equal(r.index, r1.index);
        assert_null(lookup(&h, "n"));
        fsm_close(&h.fsm);
}

static void test_undecodable_entry_is_a_noop(void **state)
{
        struct harness h;
        struct raft_buffer buf;
        uint8_t junk[64];
        void *result;
        (void)state;
        h_init(&h, 0);
        memset(junk, 0xee, sizeof junk);
        buf.base = junk;
        buf.len = sizeof junk;
        /* Every replica fails the same bytes the same way and moves on. */
        assert_int_equal(h.fsm.raft_fsm.apply(&h.fsm.raft_fsm, &buf, &result), 0);
        assert_int_not_equal(h.last.status, 0);
        assert_int_equal(h.applied, 1);
        assert_int_equal(store_count(h.fsm.store), 0);
        fsm_close(&h.fsm);
}

/* Run raft's three snapshot steps; returns the serialized bytes (malloc'd). */
static struct raft_buffer take_snapshot(struct harness *h, void (*between)(struct harness *))
{
        struct raft_fsm *rf = &h->fsm.raft_fsm;
        struct raft_buffer *bufs = NULL, out;
        unsigned n = 0;
        assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
        assert_int_equal(rf->snapshot(rf, &bufs, &n), RAFT_BUSY); /* one at a time */
        if (between != NULL) {
                between(h); /* the loop keeps applying while the thread serializes */
        }
        assert_int_equal(rf->snapshot_async(rf, &bufs, &n), 0);
        assert_int_equal(n, 1);
        out.len = bufs[0].len;
        out.base = raft_malloc(out.len); /* restore takes a raft_malloc'd buffer */
        memcpy(out.base, bufs[0].base, out.len);
        assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
        return out;
}

static void overwrite_everything(struct harness *h)
{
        char k[16];
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "k%d", i);
                op(h, i % 3 == 0 ? COMMAND_DELETE : COMMAND_PUT, k, i % 3 == 0 ? NULL : "later", 0);
        }
}

static void test_snapshot_restore(void **state)
{
        struct harness a, b;
        struct raft_buffer snap;
        char k[16], v[32];
        struct command c = {0};
        static uint8_t big[8192], packed[8192];
        size_t packed_len;
        (void)state;
        h_init(&a, 5);
        for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof k, "k%d", i);
                snprintf(v, sizeof v, "value-%d", i);
                op(&a, COMMAND_PUT, k, v, 0);
        }
        memset(big, 'z', sizeof big);
        assert_int_equal(value_compress(big, sizeof big, packed, sizeof packed, &packed_len), 0);
        c.type = COMMAND_PUT;
        c.flags = COMMAND_F_LZ4;
        c.key = (const uint8_t *)"big";
        c.key_len = 3;
        c.value = packed;
        c.value_len = (uint32_t)packed_len;
        c.value_raw_len = sizeof big;
        apply(&a, &c);

        assert_int_equal(sop(&a, 42, 9, "session-key", "s", false).status, 0);
        snap = take_snapshot(&a, overwrite_everything);

        h_init(&b, 5);
        op(&b, COMMAND_PUT, "stale", "gone after restore", 0);
        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &snap), 0);
        assert_int_equal(b.restored, 1);
        assert_null(lookup(&b, "stale"));
        assert_int_equal(store_count(b.fsm.store), 1002);
        assert_int_equal(b.fsm.applied_index, 1002); /* state as of the freeze */
        /* The client session came along: the retry is recognised. */
        assert_int_equal(sop(&b, 42, 9, "session-key", "s", true).index, 1002);
        assert_int_equal(b.fsm.deduplicated, 1);
        for (int i = 0; i < 1000; i++) {
                const struct store_entry *e;
                snprintf(k, sizeof k, "k%d", i);
                snprintf(v, sizeof v, "value-%d", i);
                e = lookup(&b, k);
                assert_non_null(e);
                assert_int_equal(store_entry_value_len(e), strlen(v));
                assert_memory_equal(store_entry_value(e), v, strlen(v));
                assert_int_equal(store_entry_create_index(e), (uint64_t)i + 1);
                assert_int_equal(store_entry_mod_index(e), (uint64_t)i + 1);
        }
        assert_true(store_entry_compressed(lookup(&b, "big")));
        assert_int_equal(store_entry_value_raw_len(lookup(&b, "big")), sizeof big);
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
}

static void test_restore_refuses_damage(void **state)
{
        struct harness a, b;
        struct raft_buffer snap, copy;
        (void)state;
        h_init(&a, 1);
        op(&a, COMMAND_PUT, "x", "1", 0);
        snap = take_snapshot(&a, NULL);
        h_init(&b, 1);
        op(&b, COMMAND_PUT, "keep", "me", 0);
        /* Flip one byte anywhere: the checksum catches it, the store is kept. */
        for (size_t i = 0; i < snap.len; i += 7) {
                copy.len = snap.len;
                copy.base = raft_malloc(copy.len);
                memcpy(copy.base, snap.base, snap.len);
                ((uint8_t *)copy.base)[i] ^= 0x40;
                assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &copy), RAFT_CORRUPT);
                raft_free(copy.base); /* not taken on failure */
                assert_non_null(lookup(&b, "keep"));
        }
        /* A snapshot of another partition is refused too. */
        fsm_close(&b.fsm);
        h_init(&b, 2);
        assert_int_not_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &snap), 0);
        raft_free(snap.base);
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
}

/* Found by tests/fuzz/fuzz_snapshot.c: a snapshot entry may not claim a
 * raw length LZ4 cannot produce from its stored bytes (value.h), or every
 * read of the key would allocate that much. The checksum is made right, as
 * a faulty or hostile leader would. */
static void test_restore_refuses_impossible_raw_len(void **state)
{
        struct harness a, b;
        struct raft_buffer snap, copy;
        const size_t raw_at = SNAPSHOT_HEADER_BYTES + 8; /* first entry's value_raw_len */
        uint8_t *p;
        (void)state;
        h_init(&a, 1);
        op(&a, COMMAND_PUT, "x", "1", 0);
        snap = take_snapshot(&a, NULL);
        for (uint32_t raw = VALUE_LZ4_EXPANSION_MAX; raw <= VALUE_LZ4_EXPANSION_MAX + 1; raw++) {
                h_init(&b, 1);
                copy.len = snap.len;
                copy.base = raft_malloc(copy.len);
                memcpy(copy.base, snap.base, snap.len);
                p = copy.base;
                put_le32(p + raw_at, raw);
                put_le64(p + copy.len - 8, XXH64(p, copy.len - 8, 0));
                if (raw == VALUE_LZ4_EXPANSION_MAX) {
                        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &copy), 0);
                        assert_int_equal(store_entry_value_raw_len(lookup(&b, "x")), raw);
                } else {
                        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &copy),
                                         RAFT_CORRUPT);
                        raft_free(copy.base);
                }
                fsm_close(&b.fsm);
        }
        raft_free(snap.base);
        fsm_close(&a.fsm);
}

/* Out of memory while applying a committed entry: the process exits with
 * FSM_EXIT_OUT_OF_MEMORY (the supervisor restarts it and it replays), never
 * returns an error raft 0.15 would turn into a silently dead replica. Run in
 * a child, with every allocation failing. */

/* ------------------------------------------------------------------------ */
/* Leases (lease.h): grant, attach, expire, revoke, limits, snapshots. */

static struct command_result lease_cmd(struct harness *h, uint8_t type, uint64_t id, uint64_t ttl,
                                       uint64_t leases_max, uint64_t keys_max)
{
        struct command c = {0};
        struct command_lease b = {id, ttl, leases_max, keys_max};
        uint8_t body[COMMAND_LEASE_BODY_MAX];
        c.type = type;
        c.value = body;
        c.value_len = c.value_raw_len = (uint32_t)command_lease_body_encode(&b, body);
        return apply(h, &c);
}

/* A grant in h's partition: returns the lease id (the entry's index). */
static uint64_t grant(struct harness *h, uint64_t ttl, uint64_t keys_max)
{
        struct command_result r = lease_cmd(h, COMMAND_LEASE_GRANT, 0, ttl, 100, keys_max);
        assert_int_equal(r.status, 0);
        assert_non_null(lease_find(h->fsm.leases, lease_id_make(h->fsm.partition, r.index)));
        return lease_id_make(h->fsm.partition, r.index);
}

static struct command_result lput(struct harness *h, uint8_t type, const char *k, const char *v,
                                  uint64_t lease, uint64_t expected)
{
        struct command c = {0};
        c.type = type;
        c.key = (const uint8_t *)k;
        c.key_len = (uint32_t)strlen(k);
        c.value = (const uint8_t *)v;
        c.value_len = c.value_raw_len = (uint32_t)strlen(v);
        c.lease = lease;
        c.expected_version = expected;
        return apply(h, &c);
}

static void test_lease_expire_deletes_its_keys(void **state)
{
        struct harness h;
        struct command_result r;
        uint64_t a, b;
        (void)state;
        h_init(&h, 7);
        a = grant(&h, 5000, 10);
        b = grant(&h, 5000, 10);
        assert_int_equal(lease_id_partition(a), 7);
        assert_int_equal(lput(&h, COMMAND_PUT, "{t}x", "1", a, 0).status, 0);
        assert_int_equal(lput(&h, COMMAND_PUT, "{t}y", "2", a, 0).status, 0);
        assert_int_equal(lput(&h, COMMAND_PUT, "{t}z", "3", b, 0).status, 0);
        op(&h, COMMAND_PUT, "plain", "4", 0);
        assert_int_equal(lease_keys_attached(h.fsm.leases), 3);
        uint64_t before = h.fsm.delete_ts;
        r = lease_cmd(&h, COMMAND_LEASE_EXPIRE, a, 0, 0, 0);
        assert_int_equal(r.status, 0);
        /* Its keys are gone in that one entry; the other lease's and the
         * plain key stay. */
        assert_null(lookup(&h, "{t}x"));
        assert_null(lookup(&h, "{t}y"));
        assert_non_null(lookup(&h, "{t}z"));
        assert_non_null(lookup(&h, "plain"));
        assert_null(lease_find(h.fsm.leases, a));
        assert_true(h.fsm.delete_ts > before); /* absent keys are absent as of it */
        assert_int_equal(lease_keys_attached(h.fsm.leases), 1);
        /* Expired once: a second expiry, a keepalive's PUT, find nothing. */
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_EXPIRE, a, 0, 0, 0).status, TKV_ENOTFOUND);
        assert_int_equal(lput(&h, COMMAND_PUT, "{t}x", "again", a, 0).status, TKV_ENOTFOUND);
        assert_null(lookup(&h, "{t}x")); /* nothing written */
        /* REVOKE does the same as EXPIRE. */
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_REVOKE, b, 0, 0, 0).status, 0);
        assert_null(lookup(&h, "{t}z"));
        assert_int_equal(lease_count(h.fsm.leases), 0);
        fsm_close(&h.fsm);
}

static void test_lease_attach_detach_and_limits(void **state)
{
        struct harness h;
        uint64_t a, b;
        (void)state;
        h_init(&h, 1);
        a = grant(&h, 5000, 2);
        b = grant(&h, 5000, 2);
        assert_int_equal(lput(&h, COMMAND_PUT, "k1", "v", a, 0).status, 0);
        assert_int_equal(lput(&h, COMMAND_PUT, "k2", "v", a, 0).status, 0);
        /* keys_max: a third key is refused and nothing is written ... */
        assert_int_equal(lput(&h, COMMAND_PUT, "k3", "v", a, 0).status, TKV_ETOOBIG);
        assert_null(lookup(&h, "k3"));
        /* ... but a key already attached may be written again. */
        assert_int_equal(lput(&h, COMMAND_PUT, "k2", "w", a, 0).status, 0);
        /* A PUT with another lease moves the key. */
        assert_int_equal(lput(&h, COMMAND_PUT, "k2", "x", b, 0).status, 0);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"k2", 2), b);
        /* A PUT without a lease detaches; a DELETE detaches. */
        op(&h, COMMAND_PUT, "k1", "plain now", 0);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"k1", 2), 0);
        op(&h, COMMAND_DELETE, "k2", NULL, 0);
        assert_int_equal(lease_keys_attached(h.fsm.leases), 0);
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_EXPIRE, a, 0, 0, 0).status, 0);
        assert_non_null(lookup(&h, "k1")); /* detached: it outlives the lease */
        /* A CAS attaches only when it applies. */
        assert_int_equal(lput(&h, COMMAND_CAS, "lock", "me", b, 0).status, 0);
        assert_int_equal(lput(&h, COMMAND_CAS, "lock", "you", b, 0).status, TKV_ECONDITION);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"lock", 4), b);
        /* leases_max travels in the grant: the 3rd of at most 2 is BUSY. */
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_GRANT, 0, 1000, 1, 5).status, TKV_EBUSY);
        assert_int_equal(lease_count(h.fsm.leases), 1);
        fsm_close(&h.fsm);
}

/* A TXN's deletes and puts follow leases like DELETE and PUT. */
static void test_lease_txn_detaches(void **state)
{
        struct harness h;
        struct command c = {0};
        struct command_txn_op ops[2] = {
            {COMMAND_TXN_DELETE, (const uint8_t *)"a", 1, NULL, 0, 0},
            {COMMAND_TXN_PUT, (const uint8_t *)"b", 1, (const uint8_t *)"v", 1, 0},
        };
        uint8_t body[64];
        uint64_t l;
        (void)state;
        h_init(&h, 0);
        l = grant(&h, 5000, 10);
        lput(&h, COMMAND_PUT, "a", "1", l, 0);
        lput(&h, COMMAND_PUT, "b", "1", l, 0);
        c.type = COMMAND_TXN;
        c.value_len = c.value_raw_len = (uint32_t)command_txn_body_bytes(NULL, 0, ops, 2, 0);
        command_txn_body_encode(NULL, 0, ops, 2, 0, body);
        c.value = body;
        assert_int_equal(apply(&h, &c).status, 0);
        assert_int_equal(lease_keys_attached(h.fsm.leases), 0);
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_REVOKE, l, 0, 0, 0).status, 0);
        assert_non_null(lookup(&h, "b"));
        fsm_close(&h.fsm);
}

/* A TXN of n success ops, no compares, no session. */
static struct command_result txn_ops(struct harness *h, const struct command_txn_op *ops,
                                     uint32_t n)
{
        return txn(h, NULL, 0, ops, n, 0, 0, 0, false);
}

/* A TXN put with a lease attaches its key as a PUT does; a TXN whose
 * branch names a missing lease, or would take a lease past keys_max, is
 * refused whole (naming the lease), replaying its own detaches exactly;
 * the attached keys survive a snapshot and go with the lease. */
static void test_lease_txn_puts_attach(void **state)
{
        struct harness h, b;
        struct raft_buffer snap;
        uint64_t l, gone;
        struct command_result r;
        (void)state;
        h_init(&h, 5);
        l = grant(&h, 5000, 2);
        gone = grant(&h, 5000, 2);
        assert_int_equal(lease_cmd(&h, COMMAND_LEASE_REVOKE, gone, 0, 0, 0).status, 0);
        struct command_txn_op two[] = {
            {COMMAND_TXN_PUT, KEY("x"), (const uint8_t *)"1", 1, l},
            {COMMAND_TXN_PUT, KEY("y"), (const uint8_t *)"2", 1, l},
            {COMMAND_TXN_PUT, KEY("z"), (const uint8_t *)"3", 1, l},
        };
        r = txn_ops(&h, two, 2);
        assert_int_equal(r.status, 0);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"x", 1), l);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"y", 1), l);
        /* Writing attached keys again keeps the count. */
        assert_int_equal(txn_ops(&h, two, 2).status, 0);
        /* A third key: past keys_max, nothing of the TXN applies. */
        struct command_txn_op third[] = {
            {COMMAND_TXN_PUT, KEY("w"), (const uint8_t *)"0", 1, 0},
            two[2],
        };
        r = txn_ops(&h, third, 2);
        assert_int_equal(r.status, TKV_ETOOBIG);
        assert_true(r.lease == l);
        assert_null(lookup(&h, "w"));
        assert_null(lookup(&h, "z"));
        /* Detaching y first (a put without a lease) makes room: the replay
         * counts the branch's own detaches, in order. */
        struct command_txn_op swap[] = {
            {COMMAND_TXN_PUT, KEY("y"), (const uint8_t *)"plain", 5, 0},
            two[2],
        };
        assert_int_equal(txn_ops(&h, swap, 2).status, 0);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"y", 1), 0);
        assert_int_equal(lease_of_key(h.fsm.leases, (const uint8_t *)"z", 1), l);
        /* The other order would pass keys_max on the way: refused. */
        struct command_txn_op late[] = {
            {COMMAND_TXN_PUT, KEY("v"), (const uint8_t *)"4", 1, l},
            {COMMAND_TXN_DELETE, KEY("x"), NULL, 0, 0},
        };
        assert_int_equal(txn_ops(&h, late, 2).status, TKV_ETOOBIG);
        assert_non_null(lookup(&h, "x"));
        /* A missing (revoked) lease: NOT_FOUND naming it, nothing written. */
        struct command_txn_op missing[] = {
            {COMMAND_TXN_DELETE, KEY("x"), NULL, 0, 0},
            {COMMAND_TXN_PUT, KEY("m"), (const uint8_t *)"5", 1, gone},
        };
        r = txn_ops(&h, missing, 2);
        assert_int_equal(r.status, TKV_ENOTFOUND);
        assert_true(r.lease == gone);
        assert_non_null(lookup(&h, "x"));
        assert_null(lookup(&h, "m"));
        /* Only the branch that runs is checked: its compare fails, so the
         * failure branch (no lease) runs. */
        struct command_txn_compare never =
            cmp(COMMAND_TXN_TARGET_EXISTS, COMMAND_TXN_EQ, "x", 0, NULL);
        struct command_txn_op branches[] = {missing[1], {COMMAND_TXN_GET, KEY("x"), NULL, 0, 0}};
        assert_int_equal(txn(&h, &never, 1, branches, 1, 1, 0, 0, false).status, TKV_ECONDITION);
        /* Snapshot and restore: the TXN-attached keys are the lease's. */
        snap = take_snapshot(&h, NULL);
        h_init(&b, 5);
        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &snap), 0);
        assert_int_equal(lease_find(b.fsm.leases, l)->n_keys, 2);
        assert_int_equal(lease_cmd(&b, COMMAND_LEASE_REVOKE, l, 0, 0, 0).status, 0);
        assert_null(lookup(&b, "x"));
        assert_null(lookup(&b, "z"));
        assert_non_null(lookup(&b, "y"));
        fsm_close(&h.fsm);
        fsm_close(&b.fsm);
}

static uint64_t h_now(void *data)
{
        (void)data;
        return 1000000;
}

static void test_lease_snapshot_restore(void **state)
{
        struct harness a, b;
        struct raft_buffer snap;
        uint64_t l1, l2;
        uint32_t len;
        (void)state;
        h_init(&a, 4);
        l1 = grant(&a, 3000, 10);
        l2 = grant(&a, 9000, 10);
        lput(&a, COMMAND_PUT, "x", "1", l1, 0);
        lput(&a, COMMAND_PUT, "y", "2", l2, 0);
        lput(&a, COMMAND_PUT, "z", "3", l2, 0);
        snap = take_snapshot(&a, NULL);
        h_init(&b, 4);
        b.fsm.hooks.now_ms = h_now;
        grant(&b, 1000, 1); /* replaced by the snapshot's */
        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &snap), 0);
        assert_int_equal(lease_count(b.fsm.leases), 2);
        assert_int_equal(lease_find(b.fsm.leases, l1)->ttl_ms, 3000);
        assert_int_equal(lease_find(b.fsm.leases, l2)->n_keys, 2);
        assert_int_equal(lease_find(b.fsm.leases, l2)->deadline_ms, 1000000 + 9000);
        assert_memory_equal(lease_key_bytes(lease_find(b.fsm.leases, l1), 0, &len), "x", 1);
        /* The restored lease still does its job. */
        assert_int_equal(lease_cmd(&b, COMMAND_LEASE_EXPIRE, l2, 0, 0, 0).status, 0);
        assert_null(lookup(&b, "y"));
        assert_null(lookup(&b, "z"));
        assert_non_null(lookup(&b, "x"));
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
}

/* A version 2 snapshot (before leases) still restores, with no leases:
 * made from a version 3 one by dropping its (empty) lease section. */
static void test_lease_snapshot_v2_restores(void **state)
{
        struct harness a, b;
        struct raft_buffer snap;
        uint8_t *p;
        size_t cut = 8 + 4; /* the section's length and an empty table's count */
        (void)state;
        h_init(&a, 2);
        op(&a, COMMAND_PUT, "old", "format", 0);
        snap = take_snapshot(&a, NULL);
        p = snap.base;
        assert_int_equal(get_le32(p + 8), 3);
        assert_int_equal(get_le64(p + snap.len - 8 - cut), 4);
        put_le32(p + 8, 2);
        snap.len -= cut;
        put_le64(p + snap.len - 8, XXH64(p, snap.len - 8, 0));
        h_init(&b, 2);
        grant(&b, 1000, 1);
        assert_int_equal(b.fsm.raft_fsm.restore(&b.fsm.raft_fsm, &snap), 0);
        assert_non_null(lookup(&b, "old"));
        assert_int_equal(lease_count(b.fsm.leases), 0);
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
}

static void test_apply_out_of_memory_exits(void **state)
{
        int status;
        pid_t pid;
        (void)state;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct harness h;
                char big[4096];
                h_init(&h, 0);
                memset(big, 'x', sizeof big - 1);
                big[sizeof big - 1] = '\0';
                testlib_heap_fail(1, 1u << 30);
                op(&h, COMMAND_PUT, "k", big, 0);
                _exit(0); /* apply returned: the promise is broken */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), FSM_EXIT_OUT_OF_MEMORY);
}

int main(void)
{
        log_setup(0, LOG_OFF);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_apply_out_of_memory_exits),
            cmocka_unit_test(test_apply_put_cas_delete),
            cmocka_unit_test(test_retries_apply_once),
            cmocka_unit_test(test_undecodable_entry_is_a_noop),
            cmocka_unit_test(test_txn_compare_semantics),
            cmocka_unit_test(test_txn_all_or_nothing),
            cmocka_unit_test(test_txn_retry_applies_once),
            cmocka_unit_test(test_txn_puts_carry_dependencies),
            cmocka_unit_test(test_snapshot_restore),
            cmocka_unit_test(test_restore_refuses_damage),
            cmocka_unit_test(test_restore_refuses_impossible_raw_len),
            cmocka_unit_test(test_lease_expire_deletes_its_keys),
            cmocka_unit_test(test_lease_attach_detach_and_limits),
            cmocka_unit_test(test_lease_txn_detaches),
            cmocka_unit_test(test_lease_txn_puts_attach),
            cmocka_unit_test(test_lease_snapshot_restore),
            cmocka_unit_test(test_lease_snapshot_v2_restores),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
