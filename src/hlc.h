/* A hybrid logical clock (Kulkarni et al., 2014): the timestamps that put
 * every write of every partition in one order (docs/consistency.md,
 * SEQUENTIAL).
 *
 * A timestamp is one 64-bit number: wall-clock milliseconds since the Unix
 * epoch in the high 48 bits and a logical counter in the low 16. The clock
 * never goes back: hlc_next() is above every timestamp it issued or
 * observed before, and is the wall clock when that is ahead. Correctness
 * never depends on synchronized clocks (the order comes from the counter
 * and from observing what others issued); wall time only keeps timestamps
 * of different nodes close, so that waiting for a partition to be closed
 * at a timestamp seen elsewhere is short.
 *
 * One struct hlc per node, used from the loop thread only. */
#ifndef TKV_HLC_H
#define TKV_HLC_H

#include <stdbool.h>
#include <stdint.h>

#define HLC_LOGICAL_BITS 16

struct hlc {
        uint64_t last;                   /* the highest timestamp issued or observed */
        uint64_t max_offset_ms;          /* how far ahead of our wall clock a timestamp may be */
        uint64_t (*wall_ms)(void *data); /* NULL: CLOCK_REALTIME */
        void *wall_data;
        uint64_t jumps; /* observed timestamps refused for being too far ahead */
};

void hlc_init(struct hlc *h, uint64_t max_offset_ms);

/* The timestamp of wall-clock ms with counter 0. */
static inline uint64_t hlc_from_ms(uint64_t ms)
{
        return ms << HLC_LOGICAL_BITS;
}

/* The wall-clock ms of a timestamp. */
static inline uint64_t hlc_ms(uint64_t ts)
{
        return ts >> HLC_LOGICAL_BITS;
}

/* The wall clock now, as a timestamp. */
uint64_t hlc_wall(const struct hlc *h);

/* A new timestamp, above everything issued or observed. */
uint64_t hlc_next(struct hlc *h);

/* Note ts as seen (so that later hlc_next() answers are above it). False,
 * and nothing noted, when ts is more than max_offset_ms ahead of our wall
 * clock: a clock that far off, or a forged value, must not drag every
 * later timestamp of this node with it. */
bool hlc_observe(struct hlc *h, uint64_t ts);

#endif
