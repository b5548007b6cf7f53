/* A listener's spare handle (see spare.h). */
#include "spare.h"

static void spare_closed(uv_handle_t *handle);

static void spare_take(struct spare *sp)
{
        if (uv_accept(sp->listener, (uv_stream_t *)&sp->tcp) != 0) {
                return; /* nothing waits (the peer gave up): the spare stays ready */
        }
        sp->refused++;
        sp->busy = true;
        sp->waiting = false;
        uv_close((uv_handle_t *)&sp->tcp, spare_closed);
}

static void spare_closed(uv_handle_t *handle)
{
        struct spare *sp = handle->data;
        sp->busy = false;
        if (sp->closing) {
                if (sp->close_cb != NULL) {
                        sp->close_cb(sp);
                }
                return;
        }
        uv_tcp_init(handle->loop, &sp->tcp);
        sp->tcp.data = sp;
        if (sp->waiting) {
                spare_take(sp);
        }
}

void spare_init(struct spare *sp, uv_loop_t *loop, uv_stream_t *listener)
{
        sp->listener = listener;
        sp->busy = false;
        sp->waiting = false;
        sp->closing = false;
        sp->close_cb = NULL;
        sp->refused = 0;
        uv_tcp_init(loop, &sp->tcp);
        sp->tcp.data = sp;
}

void spare_refuse(struct spare *sp)
{
        if (sp->busy) {
                sp->waiting = true;
                return;
        }
        spare_take(sp);
}

void spare_close(struct spare *sp, spare_close_cb cb)
{
        if (sp->closing) {
                return;
        }
        sp->closing = true;
        sp->close_cb = cb;
        if (!sp->busy) {
                uv_close((uv_handle_t *)&sp->tcp, spare_closed);
        }
}
