/* A writer thread for integration tests that change the cluster under
 * load (test_move, test_elastic): it PUTs prefix-N = vN, N counting up,
 * through a libtunekv client of its own until stopped, and must see no
 * failure (libtunekv retries what the changes make retryable). At the end
 * every acknowledged write is read back linearizably. */
#ifndef TKV_TEST_WRITER_H
#define TKV_TEST_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "cluster.h"

struct test_writer {
        pthread_t thread;
        atomic_bool stop;
        atomic_ulong acked;  /* writes 0 .. acked-1 were acknowledged */
        atomic_ulong failed; /* 0, or 1 with error set */
        char error[512];
        char endpoints[256];
        const char *prefix;
        long nap_ns; /* between writes: a steady load, not a flood (0: none) */
        struct timespec began;
        bool running; /* thread started and not joined yet */
};

/* Start w writing through endpoints (copied) with keys "prefix-N" (a
 * writer still running from before is stopped first). */
void test_writer_start(struct test_writer *w, const char *endpoints, const char *prefix,
                       long nap_ns);

/* Stop w's thread if it runs (a test that failed half way left it
 * running; teardowns call this). */
void test_writer_stop(struct test_writer *w);

/* Stop w; assert it wrote something and nothing failed, then that every
 * acknowledged write reads back linearizably through node `via` of c.
 * Prints how many, over how long. */
void test_writer_finish(struct test_writer *w, struct cluster *c, unsigned via);

#endif
