/*
 * run_cmd.h - run a shell command from a test and capture what it prints.
 */
#ifndef CHAT_RUN_CMD_H
#define CHAT_RUN_CMD_H

#include <stddef.h>

/* run_cmd: run the printf-formatted command with /bin/sh, stdout and stderr
 * together into out (NUL-terminated, cut to cap). Returns the exit status,
 * or -1 when it could not run or was killed by a signal. */
int run_cmd(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
