/* Helpers shared by the test programs: temporary directories and a heap
 * that fails on purpose. */
#ifndef TKV_TESTLIB_H
#define TKV_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp); the path lives in a static buffer per
 * call site's array. Returns 0 or -1. */
int testlib_tmpdir(char *path, size_t len, const char *prefix);

/* rm -rf path (no shell). */
void testlib_rmrf(const char *path);

/* Make the n-th allocation from now on (1 = the next one) fail, and the
 * `repeat` ones after it; 0 disarms. Goes through heap_set(). */
void testlib_heap_fail(unsigned n, unsigned repeat);
/* Restore the default allocator. */
void testlib_heap_reset(void);
/* Allocations that failed on purpose so far. */
unsigned testlib_heap_failures(void);

#endif
