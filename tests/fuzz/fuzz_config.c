/* libFuzzer target for the INI config reader (config.c through inih): the
 * input is a config file, loaded the way tunekvd loads it (config_load
 * with --config FILE), from a temporary file since inih reads paths.
 *
 * Oracles (abort on a violation):
 * - The error message is a terminated string, and set on every refusal.
 * - An accepted config holds what config_validate promises: every string
 *   terminated inside its array, nodes sorted by id without duplicates
 *   and within CONFIG_NODES_MAX, this node among them, partitions and
 *   replicas inside their bounds, and frame_bytes_max above the key and
 *   value limits. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char fuzz_file[] = "/tmp/tunekv-fuzz-config-XXXXXX";

static void fuzz_remove(void)
{
        unlink(fuzz_file);
}

/* One file per process, removed when libFuzzer exits. */
static const char *fuzz_path(void)
{
        static bool ready;

        if (!ready) {
                int fd = mkstemp(fuzz_file);
                FUZZ_ASSERT(fd >= 0);
                close(fd);
                atexit(fuzz_remove);
                ready = true;
        }
        return fuzz_file;
}

static bool fuzz_terminated(const char *s, size_t cap)
{
        return memchr(s, 0, cap) != NULL;
}

static void fuzz_accepted(const struct config *c)
{
        bool self = false;

        FUZZ_ASSERT(fuzz_terminated(c->client_addr, sizeof c->client_addr) &&
                    fuzz_terminated(c->peer_addr, sizeof c->peer_addr) &&
                    fuzz_terminated(c->data_dir, sizeof c->data_dir) &&
                    fuzz_terminated(c->cluster_name, sizeof c->cluster_name) &&
                    fuzz_terminated(c->secret, sizeof c->secret));
        FUZZ_ASSERT(c->n_nodes >= 1 && c->n_nodes <= CONFIG_NODES_MAX);
        for (unsigned i = 0; i < c->n_nodes; i++) {
                FUZZ_ASSERT(i == 0 || c->nodes[i - 1].id < c->nodes[i].id);
                FUZZ_ASSERT(fuzz_terminated(c->nodes[i].client_addr, CONFIG_ADDR_BYTES) &&
                            fuzz_terminated(c->nodes[i].peer_addr, CONFIG_ADDR_BYTES));
                self |= c->nodes[i].id == c->node_id;
        }
        FUZZ_ASSERT(self && config_node_index(c, c->node_id) >= 0);
        FUZZ_ASSERT(c->partitions >= 1 && c->partitions <= CONFIG_PARTITIONS_MAX);
        FUZZ_ASSERT(c->replicas >= 1 && c->replicas <= CONFIG_REPLICAS_MAX &&
                    c->replicas <= c->n_nodes);
        FUZZ_ASSERT(c->key_bytes_max + c->value_bytes_max < c->frame_bytes_max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *path = fuzz_path();
        char *argv[] = {"tunekvd", "--config", (char *)path, NULL};
        static struct config c;
        char errmsg[ERR_MSG_BYTES];
        FILE *f = fopen(path, "wb");
        int rv;

        FUZZ_ASSERT(f != NULL);
        FUZZ_ASSERT(fwrite(data, 1, size, f) == size || size == 0);
        FUZZ_ASSERT(fclose(f) == 0);
        memset(errmsg, 0x55, sizeof errmsg);
        errmsg[0] = 0;
        rv = config_load(&c, 3, argv, errmsg);
        FUZZ_ASSERT(fuzz_terminated(errmsg, sizeof errmsg));
        if (rv != 0) {
                FUZZ_ASSERT(errmsg[0] != 0);
                return 0;
        }
        fuzz_accepted(&c);
        return 0;
}
