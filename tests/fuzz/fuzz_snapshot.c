/* libFuzzer target for snapshot restore (snapshot.c, store and session
 * table loading, dedup.c) through the FSM's raft_fsm.restore, on arbitrary
 * bytes: what a peer's InstallSnapshot or a damaged snapshot file holds.
 * The first input byte says whether to append the right checksum (below).
 *
 * Oracles (abort on a violation; ASan reports leaks at exit, so a failed
 * restore must free what it built):
 * - A failed restore leaves the FSM as it was (empty here).
 * - A restored state reads back like any other (no entry claims a raw
 *   length LZ4 could not produce), and encodes to a snapshot that restores
 *   to the same state. */
#include <xxhash.h>

#include "fuzz_fsm.h"

/* Even first byte: the rest is a snapshot without its trailer, which is
 * appended (the xxh64 of the rest), so that mutations get past the checksum
 * and reach the decoder; odd: the rest as it is. */
static uint8_t *fuzz_input(const uint8_t *data, size_t size, size_t *len)
{
        uint8_t *b = malloc(size + 8);
        uint64_t h;

        FUZZ_ASSERT(b != NULL);
        memcpy(b, data + 1, size - 1);
        *len = size - 1;
        if (data[0] % 2 == 0) {
                h = XXH64(b, *len, 0);
                for (int i = 0; i < 8; i++) {
                        b[*len + (size_t)i] = (uint8_t)(h >> (8 * i));
                }
                *len += 8;
        }
        return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz_fsm a, b;
        uint8_t *in, *snap;
        size_t len;

        if (size < 1) {
                return 0;
        }
        in = fuzz_input(data, size, &len);
        fuzz_fsm_init(&a);
        if (fuzz_fsm_restore(&a, in, len) != 0) {
                FUZZ_ASSERT(store_count(a.fsm.store) == 0 && a.fsm.applied_index == 0);
                fsm_close(&a.fsm);
                free(in);
                return 0;
        }
        free(in);
        fuzz_fsm_read_all(&a);
        snap = fuzz_fsm_snapshot(&a, &len);
        fuzz_fsm_init(&b);
        FUZZ_ASSERT(fuzz_fsm_restore(&b, snap, len) == 0);
        fuzz_fsm_same(&a, &b);
        free(snap);
        fsm_close(&a.fsm);
        fsm_close(&b.fsm);
        return 0;
}
