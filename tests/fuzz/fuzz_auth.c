/* libFuzzer target for the users and roles record (auth.c): the system
 * group's one value, decoded by every node when it applies a change, from
 * a snapshot, or at start. The input is the record's bytes.
 *
 * Oracles (abort on a violation; ASan reports leaks at exit):
 * - What auth_table_decode accepts encodes back to exactly the same bytes
 *   (the layout has one encoding per table), and that decodes again.
 * - Every name it accepted is valid (auth_name_valid): names reach logs
 *   and listings.
 * - auth_allowed answers for every user and permission of the table;
 *   a user no table can hold gets nothing, root everything. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"
#include "heap.h"

static void fuzz_allowed(const struct auth_table *t, const uint8_t *data, size_t len)
{
        static const unsigned perms[] = {AUTH_READ, AUTH_WRITE, AUTH_ADMIN};
        size_t klen = len < 16 ? len : 16;

        for (unsigned i = 0; i < t->n_users; i++) {
                for (unsigned p = 0; p < 3; p++) {
                        (void)auth_allowed(t, t->users[i].name, perms[p], data, klen);
                }
        }
        /* no table holds this name: a space makes it invalid */
        FUZZ_ASSERT(!auth_allowed(t, "not a user", AUTH_READ, data, klen));
        FUZZ_ASSERT(auth_allowed(t, AUTH_ROOT, AUTH_ADMIN, NULL, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
        struct auth_table *t = NULL, *again = NULL;
        uint8_t *enc = NULL;
        size_t enc_len = 0;

        if (auth_table_decode(data, len, &t) != 0) {
                return 0;
        }
        for (unsigned i = 0; i < t->n_users; i++) {
                FUZZ_ASSERT(auth_name_valid(t->users[i].name));
                for (unsigned r = 0; r < t->users[i].n_roles; r++) {
                        FUZZ_ASSERT(auth_name_valid(t->users[i].roles[r]));
                }
        }
        for (unsigned i = 0; i < t->n_roles; i++) {
                FUZZ_ASSERT(auth_name_valid(t->roles[i].name));
        }
        fuzz_allowed(t, data, len);
        FUZZ_ASSERT(auth_table_encode(t, &enc, &enc_len) == 0);
        FUZZ_ASSERT(enc_len == len && memcmp(enc, data, len) == 0);
        FUZZ_ASSERT(auth_table_decode(enc, enc_len, &again) == 0);
        auth_table_destroy(again);
        tkv_free(enc);
        auth_table_destroy(t);
        return 0;
}
