#include "hlc.h"

#include <time.h>

void hlc_init(struct hlc *h, uint64_t max_offset_ms)
{
        h->last = 0;
        h->max_offset_ms = max_offset_ms;
        h->wall_ms = NULL;
        h->wall_data = NULL;
        h->jumps = 0;
}

uint64_t hlc_wall(const struct hlc *h)
{
        struct timespec t;

        if (h->wall_ms != NULL) {
                return hlc_from_ms(h->wall_ms(h->wall_data));
        }
        clock_gettime(CLOCK_REALTIME, &t);
        return hlc_from_ms((uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000);
}

uint64_t hlc_next(struct hlc *h)
{
        uint64_t wall = hlc_wall(h);

        h->last = wall > h->last ? wall : h->last + 1;
        return h->last;
}

bool hlc_observe(struct hlc *h, uint64_t ts)
{
        if (ts <= h->last) {
                return true;
        }
        if (ts > hlc_wall(h) + hlc_from_ms(h->max_offset_ms)) {
                h->jumps++;
                return false;
        }
        h->last = ts;
        return true;
}
