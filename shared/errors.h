/*
 * errors.h - the one error vocabulary of the project.
 *
 * Every function that can fail returns 0 or one of these negative codes.
 * Lower layers return them and never log; handlers and main() decide what a
 * code means to the user (HTTP status, WebSocket ERROR, exit line).
 */
#ifndef CHAT_ERRORS_H
#define CHAT_ERRORS_H

enum err_code {
    ERR_OK = 0,
    ERR_NOMEM = -1,       /* allocation failed */
    ERR_INVALID = -2,     /* input does not have the required form */
    ERR_NOT_FOUND = -3,   /* the thing asked for does not exist */
    ERR_UNAVAILABLE = -4, /* a database or service could not be reached */
    ERR_EXPIRED = -5,     /* a token or credential is past its lifetime */
    ERR_DENIED = -6,      /* authenticated but not allowed */
    ERR_TOO_LARGE = -7,   /* a size or count limit was exceeded */
    ERR_CONFLICT = -8,    /* a uniqueness rule was hit (duplicate key) */
    ERR_IO = -9,          /* a system call failed; see errno where it applies */
    ERR_AUTH = -10,       /* credentials missing, malformed or wrong */
    ERR_INTERNAL = -11,   /* a bug or an unexpected server answer */
    /* too many requests of one kind in a time window */
    ERR_RATE_LIMITED = -12,
};

/* err_str: a short static English phrase for a code; never NULL. */
const char *err_str(int code);

#endif
