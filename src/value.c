#include "value.h"

#include <limits.h>
#include <lz4.h>

#include "err.h"

size_t value_compress_bound(size_t raw_len)
{
        if (raw_len > LZ4_MAX_INPUT_SIZE) {
                return 0;
        }
        return (size_t)LZ4_compressBound((int)raw_len);
}

int value_compress(const uint8_t *src, size_t raw_len, uint8_t *dst, size_t cap, size_t *out_len)
{
        int n;

        if (raw_len == 0 || raw_len > LZ4_MAX_INPUT_SIZE || cap > INT_MAX) {
                return TKV_EAGAIN;
        }
        /* Asking for at most raw_len - 1 bytes makes LZ4 give up as soon as
         * the output would not be smaller. */
        n = LZ4_compress_default((const char *)src, (char *)dst, (int)raw_len,
                                 (int)(cap < raw_len - 1 ? cap : raw_len - 1));
        if (n <= 0) {
                return TKV_EAGAIN;
        }
        *out_len = (size_t)n;
        return 0;
}

int value_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len)
{
        int n;

        if (len > INT_MAX || raw_len > INT_MAX) {
                return TKV_ECORRUPT;
        }
        n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)len, (int)raw_len);
        if (n < 0 || (size_t)n != raw_len) {
                return TKV_ECORRUPT;
        }
        return 0;
}
