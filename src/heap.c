#include "heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *heap_default_malloc(void *data, size_t size)
{
        (void)data;
        return malloc(size);
}

static void *heap_default_realloc(void *data, void *ptr, size_t size)
{
        (void)data;
        return realloc(ptr, size);
}

static void heap_default_free(void *data, void *ptr)
{
        (void)data;
        free(ptr);
}

static const struct tkv_heap heap_default = {NULL, heap_default_malloc, heap_default_realloc,
                                             heap_default_free};

/* Set before start only (see heap_set); read-only while serving. */
static const struct tkv_heap *heap_current = &heap_default;

void heap_set(const struct tkv_heap *heap)
{
        heap_current = heap != NULL ? heap : &heap_default;
}

void *tkv_malloc(size_t size)
{
        return heap_current->malloc(heap_current->data, size);
}

void *tkv_calloc(size_t n, size_t size)
{
        void *p;
        if (size != 0 && n > SIZE_MAX / size) {
                return NULL;
        }
        p = tkv_malloc(n * size);
        if (p != NULL) {
                memset(p, 0, n * size);
        }
        return p;
}

void *tkv_realloc(void *ptr, size_t size)
{
        return heap_current->realloc(heap_current->data, ptr, size);
}

void tkv_free(void *ptr)
{
        heap_current->free(heap_current->data, ptr);
}

char *tkv_strndup(const char *s, size_t len)
{
        char *p = tkv_malloc(len + 1);
        if (p != NULL) {
                memcpy(p, s, len);
                p[len] = '\0';
        }
        return p;
}

char *tkv_strdup(const char *s)
{
        return tkv_strndup(s, strlen(s));
}
