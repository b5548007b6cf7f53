/* One error space for the whole daemon and the client library internals.
 *
 * Functions return 0 or a positive TKV_E* code declared once in TKV_ERRORS.
 * libuv codes are translated at the boundary with err_from_uv(); raft codes
 * are translated in group.c (the group files are raft's only callers).
 * Long-lived objects keep a message buffer and each layer prefixes its stage
 * with err_msgf()/err_wrap(): "snapshot: write: no space". */
#ifndef TKV_ERR_H
#define TKV_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define TKV_ERRORS(X)                                                                              \
        X(TKV_ENOMEM, 1, "out of memory")                                                          \
        X(TKV_EINVAL, 2, "invalid argument")                                                       \
        X(TKV_ETOOBIG, 3, "too large")                                                             \
        X(TKV_EBUSY, 4, "resource limit reached")                                                  \
        X(TKV_EIO, 5, "I/O error")                                                                 \
        X(TKV_ENOTLEADER, 6, "not the leader")                                                     \
        X(TKV_ECANCELED, 7, "canceled")                                                            \
        X(TKV_ETIMEDOUT, 8, "timed out")                                                           \
        X(TKV_ECORRUPT, 9, "corrupt data")                                                         \
        X(TKV_ENOTFOUND, 10, "not found")                                                          \
        X(TKV_ESHUTDOWN, 11, "shutting down")                                                      \
        X(TKV_EPROTO, 12, "protocol error")                                                        \
        X(TKV_EAGAIN, 13, "incomplete, need more data")                                            \
        X(TKV_EUNKNOWN, 14, "outcome unknown")                                                     \
        X(TKV_ENOSPACE, 15, "no space left on device")                                             \
        X(TKV_EADDR, 16, "bad address")                                                            \
        X(TKV_ECONN, 17, "connection failed")                                                      \
        X(TKV_ECONDITION, 18, "condition failed")                                                  \
        X(TKV_EEXIST, 19, "already exists")                                                        \
        X(TKV_ENOQUORUM, 20, "no quorum")                                                          \
        X(TKV_EAUTH, 21, "authentication failed")                                                  \
        X(TKV_EPERM, 22, "permission denied")                                                      \
        X(TKV_ECOMPACTED, 23, "no longer in the change history")

enum {
#define ERR_ENUM(name, code, text) name = code,
        TKV_ERRORS(ERR_ENUM)
#undef ERR_ENUM
};

/* Size of the errmsg buffers kept by long-lived objects. */
#define ERR_MSG_BYTES 256

/* Static description of a TKV_E* code ("unknown error" for anything else). */
const char *err_str(int code);

/* Name of a TKV_E* code ("TKV_ENOMEM"), for logs and tests. */
const char *err_name(int code);

/* Translate a negative libuv error code into TKV_E*. */
int err_from_uv(int uv_err);

/* Format into msg (ERR_MSG_BYTES). */
void err_msgf(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix msg in place with "stage: ". */
void err_wrap(char *msg, const char *stage);

#endif
