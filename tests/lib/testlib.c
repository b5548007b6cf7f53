#define _GNU_SOURCE
#include "testlib.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"

int testlib_tmpdir(char *path, size_t len, const char *prefix)
{
        const char *base = getenv("TMPDIR");
        snprintf(path, len, "%s/%s-XXXXXX", base != NULL ? base : "/tmp", prefix);
        return mkdtemp(path) != NULL ? 0 : -1;
}

static int testlib_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(p);
}

void testlib_rmrf(const char *path)
{
        /* TKV_TEST_KEEP=1: keep the test's directory (logs, data) to look at. */
        if (getenv("TKV_TEST_KEEP") != NULL) {
                fprintf(stderr, "# kept %s\n", path);
                return;
        }
        nftw(path, testlib_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned testlib_countdown;
static unsigned testlib_repeat;
static unsigned testlib_failed;

static bool testlib_should_fail(void)
{
        if (testlib_countdown == 0) {
                return false;
        }
        if (testlib_countdown > 1) {
                testlib_countdown--;
                return false;
        }
        testlib_failed++;
        if (testlib_repeat > 0) {
                testlib_repeat--;
        } else {
                testlib_countdown = 0;
        }
        return true;
}

static void *testlib_malloc(void *data, size_t size)
{
        (void)data;
        return testlib_should_fail() ? NULL : malloc(size);
}

static void *testlib_realloc(void *data, void *ptr, size_t size)
{
        (void)data;
        return testlib_should_fail() ? NULL : realloc(ptr, size);
}

static void testlib_free(void *data, void *ptr)
{
        (void)data;
        free(ptr);
}

static const struct tkv_heap testlib_heap = {NULL, testlib_malloc, testlib_realloc, testlib_free};

void testlib_heap_fail(unsigned n, unsigned repeat)
{
        testlib_countdown = n;
        testlib_repeat = repeat;
        heap_set(n > 0 ? &testlib_heap : NULL);
}

void testlib_heap_reset(void)
{
        testlib_countdown = 0;
        testlib_repeat = 0;
        heap_set(NULL);
}

unsigned testlib_heap_failures(void)
{
        return testlib_failed;
}
