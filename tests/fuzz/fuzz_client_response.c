/* libFuzzer target for libtunekv's response decoder (src/client/codec.c)
 * and what the client does with a decoded answer's token (token.c): the
 * bytes a client reads from a node, cut into frames as link.c cuts them.
 * libtunekv exports only its public API, so this links the static library,
 * whose internal symbols stay reachable.
 *
 * Oracles (abort on a violation; ASan checks every byte touched):
 * - Frames never claim more than arrived or than LINK_FRAME_BYTES_MAX.
 * - The callback runs exactly once per frame decoded without error, and
 *   never on an error return.
 * - Everything a struct tkv_result points to is readable to its stated
 *   length: message and strings terminated, value_len bytes of value,
 *   n_partitions and n_nodes elements, n_replicas within replicas[8].
 * - A token delta merges into a session token whose encoding is itself a
 *   token of at most TOKEN_ENTRIES_MAX entries. */
#include <stdbool.h>
#include <string.h>

#include "codec.h"
#include "frame.h"
#include "fuzz.h"
#include "link.h"
#include "token.h"

struct fuzz_seen {
        unsigned calls;
        uint64_t sum; /* keeps the reads below from being optimised away */
        struct token session;
};

static void fuzz_touch(struct fuzz_seen *s, const void *p, size_t n)
{
        const uint8_t *b = p;

        FUZZ_ASSERT(n == 0 || p != NULL);
        for (size_t i = 0; i < n; i++) {
                s->sum += b[i];
        }
}

static void fuzz_node(struct fuzz_seen *s, const struct tkv_node_status *node)
{
        FUZZ_ASSERT(node->version != NULL);
        fuzz_touch(s, node->version, strlen(node->version));
        FUZZ_ASSERT(node->n_partitions == 0 || node->partitions != NULL);
        for (unsigned i = 0; i < node->n_partitions; i++) {
                const struct tkv_partition_status *p = &node->partitions[i];
                FUZZ_ASSERT(p->n_replicas <= 8);
                fuzz_touch(s, p, sizeof *p);
        }
}

static void fuzz_cluster(struct fuzz_seen *s, const struct tkv_cluster_info *cl)
{
        for (unsigned i = 0; i < cl->n_nodes; i++) {
                FUZZ_ASSERT(cl->nodes[i].client_addr != NULL);
                fuzz_touch(s, cl->nodes[i].client_addr, strlen(cl->nodes[i].client_addr));
        }
        for (unsigned i = 0; i < cl->n_partitions; i++) {
                FUZZ_ASSERT(cl->partitions[i].n_replicas <= 8);
                fuzz_touch(s, &cl->partitions[i], sizeof cl->partitions[i]);
        }
}

/* client_req_on_response's view of one answer. */
static void fuzz_on_response(void *arg, uint64_t id, enum codec_body body,
                             const struct tkv_result *res, const struct codec_extra *extra)
{
        struct fuzz_seen *s = arg;
        uint8_t enc[TOKEN_BYTES_MAX];
        size_t count = 0, len;
        bool changed;

        (void)id;
        s->calls++;
        FUZZ_ASSERT(res->message != NULL && extra->leader_addr != NULL);
        fuzz_touch(s, res->message, strlen(res->message));
        fuzz_touch(s, extra->leader_addr, strlen(extra->leader_addr));
        fuzz_touch(s, res->value, res->value_len);
        if (res->node != NULL) {
                fuzz_node(s, res->node);
        }
        if (res->cluster != NULL) {
                fuzz_cluster(s, res->cluster);
        }
        fuzz_touch(s, extra->token, extra->token_len);
        if (extra->token_len > 0 &&
            token_merge(&s->session, extra->token, extra->token_len, true, &changed) == TKV_OK) {
                len = token_encode(&s->session, enc, sizeof enc);
                FUZZ_ASSERT(len <= sizeof enc);
                FUZZ_ASSERT(token_check(enc, len, &count) == TKV_OK);
                FUZZ_ASSERT(count == s->session.n && count <= TOKEN_ENTRIES_MAX);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct fuzz_seen s;
        size_t body_len;
        int rv;

        token_init(&s.session);
        while (frame_parse(data, size, LINK_FRAME_BYTES_MAX, &body_len) == 0) {
                unsigned before = s.calls;

                FUZZ_ASSERT(body_len <= size - FRAME_HEADER_BYTES);
                rv = codec_decode_response(data + FRAME_HEADER_BYTES, body_len, fuzz_on_response,
                                           &s);
                FUZZ_ASSERT(s.calls == before + (rv == TKV_OK ? 1u : 0u));
                data += FRAME_HEADER_BYTES + body_len;
                size -= FRAME_HEADER_BYTES + body_len;
        }
        return 0;
}
