/* libFuzzer target for the replicated command decoder (command.c) as the
 * FSM applies it (fsm.c), with LZ4 values (value.c) read back as a GET
 * does. The input is a sequence of log entries, each a 2-byte
 * little-endian length and that many bytes (a length past the end takes
 * the rest).
 *
 * Oracles (abort on a violation; ASan reports leaks at exit):
 * - Every entry is applied (an undecodable one is skipped, identically on
 *   every replica), and applied_index follows the log.
 * - What command_decode accepts lies inside the entry, and encodes (as
 *   version 2, also when it was version 1) to a command that decodes to
 *   the same fields.
 * - No stored value claims a raw length LZ4 could not produce from its
 *   stored bytes, so a read allocates at most 255 times what is stored.
 * - The state survives a snapshot and a restore: same keys and fields.
 * - A TXN that decodes walks (as the fsm walks it) to exactly the end of
 *   its body, every key and value inside it, and its compares and ops
 *   encode to a body that opens to the same counts. */
#include "command.h"
#include "fuzz_fsm.h"

/* A decoded TXN's body, walked as the fsm walks it. */
static void fuzz_txn(const struct command *c)
{
        const uint8_t *lo = c->value, *hi = c->value + c->value_len, *pos;
        struct command_txn t, u;
        struct command_txn_compare *xs;
        struct command_txn_op *ops;
        uint32_t n_ops;
        uint8_t *again;
        size_t n;

        FUZZ_ASSERT(command_txn_open(c->value, c->value_len, &t) == 0);
        n_ops = t.n_success + t.n_failure;
        xs = calloc(t.n_compares + 1, sizeof *xs);
        ops = calloc(n_ops + 1, sizeof *ops);
        FUZZ_ASSERT(xs != NULL && ops != NULL);
        pos = t.compares;
        for (uint32_t i = 0; i < t.n_compares; i++) {
                command_txn_next_compare(&pos, &xs[i]);
                FUZZ_ASSERT(xs[i].key_len == 0 ||
                            (xs[i].key >= lo && xs[i].key + xs[i].key_len <= hi));
                FUZZ_ASSERT(xs[i].value == NULL ||
                            (xs[i].value >= lo && xs[i].value + xs[i].value_len <= hi));
        }
        for (uint32_t i = 0; i < n_ops; i++) {
                command_txn_next_op(&pos, &ops[i]);
                FUZZ_ASSERT(ops[i].key_len == 0 ||
                            (ops[i].key >= lo && ops[i].key + ops[i].key_len <= hi));
                FUZZ_ASSERT(ops[i].value == NULL ||
                            (ops[i].value >= lo && ops[i].value + ops[i].value_len <= hi));
        }
        FUZZ_ASSERT(pos == t.end && t.end == hi);
        n = command_txn_body_bytes(xs, t.n_compares, ops, t.n_success, t.n_failure);
        again = malloc(n);
        FUZZ_ASSERT(again != NULL);
        command_txn_body_encode(xs, t.n_compares, ops, t.n_success, t.n_failure, again);
        FUZZ_ASSERT(command_txn_open(again, n, &u) == 0);
        FUZZ_ASSERT(u.n_compares == t.n_compares && u.n_success == t.n_success &&
                    u.n_failure == t.n_failure);
        free(again);
        free(xs);
        free(ops);
}

/* command_decode alone: lengths inside the entry, and what it decoded
 * encodes (as version 2) to a command that decodes the same. */
static void fuzz_decode(const uint8_t *data, size_t len)
{
        struct command c, d;
        uint8_t *again;
        size_t n;

        if (command_decode(data, len, &c) != 0) {
                return;
        }
        FUZZ_ASSERT(c.key >= data && c.key + c.key_len <= data + len);
        FUZZ_ASSERT(c.value == NULL || c.value + c.value_len <= data + len);
        FUZZ_ASSERT(c.deps == NULL || c.deps + c.deps_len <= data + len);
        if (c.type == COMMAND_TXN) {
                fuzz_txn(&c);
        }
        n = command_encoded_bytes(&c);
        again = calloc(1, n);
        FUZZ_ASSERT(again != NULL);
        command_encode(&c, again);
        FUZZ_ASSERT(command_decode(again, n, &d) == 0);
        FUZZ_ASSERT(d.type == c.type && d.flags == c.flags && d.proposal_id == c.proposal_id &&
                    d.key_len == c.key_len && d.value_len == c.value_len &&
                    d.value_raw_len == c.value_raw_len && d.deps_len == c.deps_len &&
                    d.client_id == c.client_id);
        /* Version 1 carried these always; they mean something only for a
         * CAS and for a write with a client id, and version 2 keeps them
         * only then. */
        FUZZ_ASSERT(c.type != COMMAND_CAS || d.expected_version == c.expected_version);
        FUZZ_ASSERT(c.client_id == 0 || (d.seq == c.seq && d.payload_hash == c.payload_hash));
        FUZZ_ASSERT(memcmp(d.key, c.key, c.key_len) == 0);
        FUZZ_ASSERT(c.value_len == 0 || memcmp(d.value, c.value, c.value_len) == 0);
        FUZZ_ASSERT(c.deps_len == 0 || memcmp(d.deps, c.deps, c.deps_len) == 0);
        free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fsm a, b;
        uint8_t *snap;
        size_t len;

        fuzz_fsm_init(&a);
        while (size >= 2) {
                size_t n = (size_t)data[0] | (size_t)data[1] << 8;
                data += 2;
                size -= 2;
                n = n < size ? n : size;
                fuzz_decode(data, n);
                fuzz_fsm_apply(&a, data, n);
                data += n;
                size -= n;
        }
        fuzz_fsm_read_all(&a);
        snap = fuzz_fsm_snapshot(&a, &len);
        fuzz_fsm_init(&b);
        FUZZ_ASSERT(fuzz_fsm_restore(&b, snap, len) == 0);
        fuzz_fsm_same(&a, &b);
        fuzz_fsm_read_all(&b);
        free(snap);
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
        return 0;
}
