/* libFuzzer target for the cluster map record (cmap.c): the metadata
 * group's record that every node decodes when it applies a new version,
 * and the data dir's copy read at start. The input is the record's bytes.
 *
 * Oracles (abort on a violation; ASan reports leaks at exit):
 * - What cmap_decode accepts in the current format version encodes back
 *   to exactly the same bytes (the layout has one encoding per map); a
 *   version 1 map encodes as version 2, which encodes back to itself. Both
 *   decode again.
 * - Every count it accepted is within its bound, member ids increase,
 *   every replica is a member that is not removed, listed once.
 * - cmap_check_config answers for the map against a configuration built
 *   from the map itself: it agrees on the addresses.
 * - Every leaving member's successor is a member, not removed.
 * - The changes MEMBER makes (cmap_add, cmap_remove, cmap_replace,
 *   cmap_update, cmap_move, cmap_move_done, cmap_move_cancel, cmap_prefer)
 *   and the
 *   rebalancer's next change (balance.h) on such a map either
 *   leave it byte for byte as it was (a refusal) or give a map that holds
 *   the invariants above, one more epoch, and decodes again: what the
 *   metadata leader writes, every node can read. */
#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "cmap.h"
#include "fuzz.h"
#include "heap.h"

static void fuzz_invariants(const struct cmap *m)
{
        FUZZ_ASSERT(m->epoch > 0);
        FUZZ_ASSERT(m->n_members > 0 && m->n_members <= CMAP_MEMBERS_MAX);
        FUZZ_ASSERT(m->n_partitions > 0 && m->n_partitions <= CMAP_PARTITIONS_MAX);
        for (unsigned i = 1; i < m->n_members; i++) {
                FUZZ_ASSERT(m->members[i].id > m->members[i - 1].id);
        }
        for (unsigned p = 0; p < m->n_partitions; p++) {
                const struct cmap_placement *pl = &m->parts[p];
                FUZZ_ASSERT(pl->n > 0 && pl->n <= CMAP_REPLICAS_MAX);
                for (unsigned i = 0; i < pl->n; i++) {
                        const struct cmap_member *mb = cmap_member(m, pl->ids[i]);
                        FUZZ_ASSERT(mb != NULL && mb->state != CMAP_REMOVED);
                        for (unsigned j = 0; j < i; j++) {
                                FUZZ_ASSERT(pl->ids[j] != pl->ids[i]);
                        }
                }
                if (pl->move_to != 0) {
                        FUZZ_ASSERT(cmap_is_replica(m, p, pl->move_from));
                        FUZZ_ASSERT(!cmap_is_replica(m, p, pl->move_to));
                }
        }
        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *s = cmap_member(m, m->members[i].successor);
                FUZZ_ASSERT(
                    m->members[i].successor == 0 ||
                    (m->members[i].state == CMAP_LEAVING && s != NULL && s->state != CMAP_REMOVED));
        }
}

/* A configuration naming the map's members at the map's addresses. */
static void fuzz_check(const struct cmap *m)
{
        static struct config cfg;
        char why[320];

        config_defaults(&cfg);
        cfg.n_nodes = m->n_members;
        cfg.partitions = 1;
        cfg.replicas = 1;
        for (unsigned i = 0; i < m->n_members; i++) {
                cfg.nodes[i].id = m->members[i].id;
                snprintf(cfg.nodes[i].client_addr, sizeof cfg.nodes[i].client_addr, "%s",
                         m->members[i].client_addr);
                snprintf(cfg.nodes[i].peer_addr, sizeof cfg.nodes[i].peer_addr, "%s",
                         m->members[i].peer_addr);
                cfg.nodes[i].zone[0] = '\0';
        }
        FUZZ_ASSERT(cmap_check_config(m, &cfg, why, sizeof why) != CMAP_DIFFERS_ADDRS);
}

/* m changed (rv 0) or refused (rv != 0): before is the map as it was. */
static void fuzz_changed(const struct cmap *before, const struct cmap *m, int rv)
{
        struct cmap *again = NULL;
        uint8_t *enc = NULL;
        size_t enc_len = 0;

        if (rv != 0) {
                FUZZ_ASSERT(memcmp(before, m, sizeof *m) == 0);
                return;
        }
        FUZZ_ASSERT(m->epoch == before->epoch + 1);
        fuzz_invariants(m);
        FUZZ_ASSERT(cmap_encode(m, &enc, &enc_len) == 0);
        FUZZ_ASSERT(cmap_decode(enc, enc_len, &again) == 0);
        FUZZ_ASSERT(again->n_members == m->n_members);
        cmap_destroy(again);
        tkv_free(enc);
}

/* A move of every partition's first replica to each member, its end and
 * its cancel; each member preferred; the rebalancer's next change. */
static void fuzz_moves(const struct cmap *m)
{
        static struct cmap copy, moved;
        struct balance_params bp = {true, 2, NULL};
        struct balance_change c;
        char why[320];
        int rv;

        for (unsigned q = 0; q <= m->n_partitions && q < 5; q++) {
                /* Up to four partitions, and the metadata group. */
                unsigned p = q < 4 && q < m->n_partitions ? q : m->n_partitions;
                unsigned from = m->parts[p].ids[0];
                for (unsigned i = 0; i < m->n_members; i++) {
                        unsigned to = m->members[i].id;
                        moved = *m;
                        rv = cmap_move(&moved, p, from, to, why, sizeof why);
                        fuzz_changed(m, &moved, rv == TKV_EEXIST ? 1 : rv);
                        if (rv != 0) {
                                continue;
                        }
                        copy = moved;
                        rv = cmap_move_done(&copy, p, from, to, why, sizeof why);
                        fuzz_changed(&moved, &copy, rv);
                        /* Refused only when the epoch cannot grow. */
                        FUZZ_ASSERT(rv == 0 ? cmap_is_replica(&copy, p, to) &&
                                                  !cmap_is_replica(&copy, p, from)
                                            : moved.epoch == UINT64_MAX);
                        copy = moved;
                        fuzz_changed(&moved, &copy, cmap_move_cancel(&copy, p, why, sizeof why));
                        copy = *m;
                        rv = cmap_prefer(&copy, p, to, why, sizeof why);
                        fuzz_changed(m, &copy, rv == TKV_EEXIST ? 1 : rv);
                }
        }
        c = balance_next(m, &bp);
        if (c.kind != BALANCE_NONE) {
                copy = *m;
                fuzz_changed(m, &copy, balance_apply(&copy, &c, why, sizeof why));
        }
}

/* Remove every member in turn, and add one new member and one that
 * reuses the first member's address, each on a copy of m. */
static void fuzz_changes(const struct cmap *m)
{
        static struct cmap copy;
        struct cmap_member mb;
        char why[320];
        unsigned top = m->members[m->n_members - 1].id;
        int rv;

        for (unsigned i = 0; i < m->n_members; i++) {
                copy = *m;
                rv = cmap_remove(&copy, m->members[i].id, why, sizeof why);
                FUZZ_ASSERT(rv == 0 ? cmap_eligible(&m->members[i]) : why[0] != '\0');
                fuzz_changed(m, &copy, rv);
                copy = *m;
                rv = cmap_replace(&copy, m->members[i].id, m->members[0].id, NULL, why, sizeof why);
                fuzz_changed(m, &copy, rv);
                /* A zone, then another member's client address (refused:
                 * in use, unless that member was removed). */
                copy = *m;
                rv = cmap_update(&copy, m->members[i].id, NULL, NULL, "fz", why, sizeof why);
                fuzz_changed(m, &copy, rv == TKV_EEXIST ? 1 : rv);
                copy = *m;
                rv = cmap_update(&copy, m->members[i].id, m->members[0].client_addr, NULL, NULL,
                                 why, sizeof why);
                fuzz_changed(m, &copy, rv == TKV_EEXIST ? 1 : rv);
        }
        fuzz_moves(m);
        memset(&mb, 0, sizeof mb);
        mb.id = top + 1;
        snprintf(mb.client_addr, sizeof mb.client_addr, "127.0.0.3:%u", (top + 1) % 65536);
        snprintf(mb.peer_addr, sizeof mb.peer_addr, "127.0.0.4:%u", (top + 1) % 65536);
        copy = *m;
        rv = cmap_add(&copy, &mb, why, sizeof why);
        fuzz_changed(m, &copy, rv);
        snprintf(mb.client_addr, sizeof mb.client_addr, "%s", m->members[0].client_addr);
        copy = *m;
        rv = cmap_add(&copy, &mb, why, sizeof why);
        FUZZ_ASSERT(rv != 0 || m->members[0].state == CMAP_REMOVED);
        fuzz_changed(m, &copy, rv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
        struct cmap *m = NULL, *again = NULL;
        uint8_t *enc = NULL;
        size_t enc_len = 0;

        if (cmap_decode(data, len, &m) != 0) {
                FUZZ_ASSERT(m == NULL);
                return 0;
        }
        fuzz_invariants(m);
        fuzz_check(m);
        fuzz_changes(m);
        FUZZ_ASSERT(cmap_encode(m, &enc, &enc_len) == 0);
        if (data[0] == CMAP_FORMAT_VERSION) {
                FUZZ_ASSERT(enc_len == len && memcmp(enc, data, len) == 0);
        }
        FUZZ_ASSERT(cmap_decode(enc, enc_len, &again) == 0);
        {
                uint8_t *enc2 = NULL;
                size_t enc2_len = 0;
                FUZZ_ASSERT(cmap_encode(again, &enc2, &enc2_len) == 0);
                FUZZ_ASSERT(enc2_len == enc_len && memcmp(enc2, enc, enc_len) == 0);
                tkv_free(enc2);
        }
        cmap_destroy(again);
        tkv_free(enc);
        cmap_destroy(m);
        return 0;
}
