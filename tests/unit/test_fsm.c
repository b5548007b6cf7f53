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
        struct fsm_params params = {partition, 4, 3, 1u << 20}; /* small window, 3 clients */
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
            cmocka_unit_test(test_snapshot_restore),
            cmocka_unit_test(test_restore_refuses_damage),
            cmocka_unit_test(test_restore_refuses_impossible_raw_len),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
