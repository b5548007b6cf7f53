/* A listener's spare handle: where a connection goes that cannot be given
 * memory of its own.
 *
 * libuv accepts a connection before it calls the listener's callback, and
 * stops polling the listener until the callback hands that connection to
 * uv_accept. A callback that returns without doing so, because allocating
 * the connection failed, leaves the port deaf for good: nobody is accepted
 * again, even after memory comes back. spare_refuse takes the connection
 * into a handle allocated once, at start, and closes it (the peer sees the
 * connection closed). While that close is in flight the handle is busy; a
 * connection refused meanwhile waits in libuv (the listener stays paused)
 * and is taken when the close completes. */
#ifndef TKV_SPARE_H
#define TKV_SPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct spare;
typedef void (*spare_close_cb)(struct spare *sp);

struct spare {
        void *data; /* the user's */
        uv_tcp_t tcp;
        uv_stream_t *listener; /* borrowed */
        bool busy;             /* tcp is being closed */
        bool waiting;          /* a refused connection waits in the listener */
        bool closing;          /* spare_close was called */
        spare_close_cb close_cb;
        uint64_t refused; /* connections refused so far */
};

void spare_init(struct spare *sp, uv_loop_t *loop, uv_stream_t *listener);

/* Take the connection the listener's callback was called for, and close
 * it. Never fails: at worst the connection waits for the spare. */
void spare_refuse(struct spare *sp);

/* Close the spare handle (with its listener); cb (may be NULL) runs once
 * the loop holds nothing of it any more, so sp may be freed then. */
void spare_close(struct spare *sp, spare_close_cb cb);

#endif
