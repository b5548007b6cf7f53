/* The client's id map: which request an answer is for. Each attempt gets
 * the next id (from 1), so an open-addressing table indexed by the low bits
 * of the id finds a request in O(1) without clustering. Deletion shifts
 * later entries of a probe run back, so lookups need no tombstones. The
 * table grows at half full, before an attempt goes on a link
 * (client_ids_reserve), so that inserting never fails. */
#include "client_internal.h"

#include "heap.h"

static size_t client_ids_home(const struct tkv_client *c, uint64_t id)
{
        return (size_t)id & c->slots_mask; /* ids are sequential: no clustering */
}

/* Insert without growing; there is always a free slot (at most half full). */
void client_ids_insert(struct tkv_client *c, uint64_t id, struct client_req *r)
{
        size_t i = client_ids_home(c, id);

        while (c->slots[i].id != 0) {
                i = (i + 1) & c->slots_mask;
        }
        c->slots[i].id = id;
        c->slots[i].req = r;
}

/* Double the slots once the map would be more than half full. */
int client_ids_reserve(struct tkv_client *c)
{
        struct client_slot *old = c->slots;
        size_t old_count = c->slots_mask + 1;
        size_t i;

        if ((c->n_ids + 1) * 2 <= old_count) {
                return TKV_OK;
        }
        c->slots = tkv_calloc(old_count * 2, sizeof(*c->slots));
        if (c->slots == NULL) {
                c->slots = old;
                return TKV_NO_MEMORY;
        }
        c->slots_mask = old_count * 2 - 1;
        for (i = 0; i < old_count; i++) {
                if (old[i].id != 0) {
                        client_ids_insert(c, old[i].id, old[i].req);
                }
        }
        tkv_free(old);
        return TKV_OK;
}

size_t client_ids_find(const struct tkv_client *c, uint64_t id)
{
        size_t i = client_ids_home(c, id);

        while (c->slots[i].id != 0) {
                if (c->slots[i].id == id) {
                        return i;
                }
                i = (i + 1) & c->slots_mask;
        }
        return SIZE_MAX;
}

void client_ids_del(struct tkv_client *c, uint64_t id)
{
        size_t i = client_ids_find(c, id);
        size_t j;
        size_t home;

        if (i == SIZE_MAX) {
                return;
        }
        /* Pull back later entries of the probe run that may not stay behind
         * the hole, so lookups never stop early. */
        for (j = (i + 1) & c->slots_mask; c->slots[j].id != 0; j = (j + 1) & c->slots_mask) {
                home = client_ids_home(c, c->slots[j].id);
                if (((j - home) & c->slots_mask) >= ((j - i) & c->slots_mask)) {
                        c->slots[i] = c->slots[j];
                        i = j;
                }
        }
        c->slots[i].id = 0;
        c->slots[i].req = NULL;
        c->n_ids--;
}
