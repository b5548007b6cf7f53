#include "frame.h"

#include "buffer.h"
#include "err.h"

int frame_parse(const uint8_t *data, size_t len, size_t body_bytes_max, size_t *body_len)
{
        uint32_t n;

        *body_len = 0;
        if (len < FRAME_HEADER_BYTES) {
                return TKV_EAGAIN;
        }
        n = get_be32(data);
        if (n > body_bytes_max) {
                return TKV_ETOOBIG;
        }
        *body_len = n;
        if (len - FRAME_HEADER_BYTES < n) {
                return TKV_EAGAIN;
        }
        return 0;
}

size_t frame_read_room(const uint8_t *data, size_t len, size_t body_bytes_max, size_t chunk)
{
        size_t body;
        if (frame_parse(data, len, body_bytes_max, &body) == TKV_EAGAIN && body > 0) {
                size_t missing = FRAME_HEADER_BYTES + body - len;
                size_t grow = len > chunk ? len : chunk;
                return missing < grow ? missing : grow;
        }
        return chunk;
}

void frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t body_len)
{
        put_be32(out, body_len);
}
