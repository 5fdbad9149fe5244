/* errors.c - names for the codes of errors.h. */
#include "errors.h"

const char *err_str(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_NOMEM: return "out of memory";
    case ERR_INVALID: return "invalid input";
    case ERR_NOT_FOUND: return "not found";
    case ERR_UNAVAILABLE: return "service unavailable";
    case ERR_EXPIRED: return "expired";
    case ERR_DENIED: return "permission denied";
    case ERR_TOO_LARGE: return "too large";
    case ERR_CONFLICT: return "conflict";
    case ERR_IO: return "i/o error";
    case ERR_AUTH: return "authentication failed";
    case ERR_INTERNAL: return "internal error";
    case ERR_RATE_LIMITED: return "rate limited";
    }
    return "unknown error";
}
