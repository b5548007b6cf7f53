#include "err.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

const char *err_str(int code)
{
        switch (code) {
        case 0:
                return "success";
#define ERR_CASE(name, num, text)                                                                  \
        case name:                                                                                 \
                return text;
                TKV_ERRORS(ERR_CASE)
#undef ERR_CASE
        default:
                return "unknown error";
        }
}

const char *err_name(int code)
{
        switch (code) {
        case 0:
                return "0";
#define ERR_CASE(name, num, text)                                                                  \
        case name:                                                                                 \
                return #name;
                TKV_ERRORS(ERR_CASE)
#undef ERR_CASE
        default:
                return "TKV_E?";
        }
}

int err_from_uv(int uv_err)
{
        switch (uv_err) {
        case 0:
                return 0;
        case UV_ENOMEM:
                return TKV_ENOMEM;
        case UV_EINVAL:
                return TKV_EINVAL;
        case UV_ECANCELED:
                return TKV_ECANCELED;
        case UV_ETIMEDOUT:
                return TKV_ETIMEDOUT;
        case UV_ENOSPC:
                return TKV_ENOSPACE;
        case UV_EADDRINUSE:
        case UV_EADDRNOTAVAIL:
                return TKV_EADDR;
        case UV_ECONNREFUSED:
        case UV_ECONNRESET:
        case UV_ECONNABORTED:
        case UV_EPIPE:
        case UV_ENOTCONN:
        case UV_EOF:
        case UV_EHOSTUNREACH:
        case UV_ENETUNREACH:
                return TKV_ECONN;
        case UV_EMFILE:
        case UV_ENFILE:
        case UV_EAGAIN:
                return TKV_EBUSY;
        case UV_EEXIST:
                return TKV_EEXIST;
        case UV_ENOENT:
                return TKV_ENOTFOUND;
        default:
                return TKV_EIO;
        }
}

void err_msgf(char *msg, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, ERR_MSG_BYTES, fmt, ap);
        va_end(ap);
}

void err_wrap(char *msg, const char *stage)
{
        char tmp[ERR_MSG_BYTES];
        snprintf(tmp, sizeof tmp, "%s: %s", stage, msg);
        memcpy(msg, tmp, ERR_MSG_BYTES);
}
