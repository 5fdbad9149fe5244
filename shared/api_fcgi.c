/*
 * api_fcgi.c - the FastCGI/CGI request loop (see api_fcgi.h).
 *
 * One request at a time, no threads: a program that needs more throughput
 * gets more processes from its web server (max-procs). The MySQL handle and
 * any app handles are opened once, before the first request, and live as
 * long as the process; they reconnect by themselves after a failure, so a
 * database restart never needs a program restart.
 */
#include "api_fcgi.h"
#include "decimal.h"
#include "errors.h"
#include "jwks_source.h"
#include "log.h"
#include "sqldb.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static long fcgi_read(void *arg, char *buf, size_t n)
{
    FCGX_Stream *in = arg;
    int chunk = n > 65536 ? 65536 : (int) n;
    return FCGX_GetStr(buf, chunk, in);
}

/* cgi_read: the body from standard input; *arg counts what was read. */
static long cgi_read(void *arg, char *buf, size_t n)
{
    size_t *taken = arg;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, n);
        if (r > 0)
            *taken += (size_t) r;
        if (r >= 0 || errno != EINTR)
            return (long) r;
    }
}

/* CGI_DRAIN_MAX: the most of a refused body read and dropped. */
#define CGI_DRAIN_MAX (1024 * 1024)

/* cgi_drain: read and drop what is left of the declared body before
 * answering. A CGI program that answers (413, 401, ...) without reading
 * the body it was sent makes some servers (Apache's mod_cgid) reset the
 * client instead of passing the answer on. Bounded by CONTENT_LENGTH and
 * CGI_DRAIN_MAX, so a server that keeps stdin open cannot hang us. */
static void cgi_drain(size_t taken)
{
    const char *cl = getenv("CONTENT_LENGTH");
    int64_t declared;
    if (!cl || dec_parse(cl, strlen(cl), &declared) != 0 || (uint64_t) declared <= taken)
        return;
    uint64_t want = (uint64_t) declared;
    if (want > CGI_DRAIN_MAX)
        want = CGI_DRAIN_MAX;
    char buf[4096];
    while (taken < want) {
        size_t n = want - taken < sizeof buf ? (size_t) (want - taken) : sizeof buf;
        long r = cgi_read(&taken, buf, n);
        if (r <= 0)
            return;
    }
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ERR_IO;
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

/* stream_out: the writer of streamed bodies; arg is the FCGX_Stream, or
 * NULL for standard output (CGI). */
static int stream_out(void *arg, const char *buf, size_t n)
{
    FCGX_Stream *out = arg;
    if (!out)
        return write_all(STDOUT_FILENO, buf, n);
    while (n) {
        int k = n > 65536 ? 65536 : (int) n;
        if (FCGX_PutStr(buf, k, out) != k)
            return ERR_IO;
        buf += k;
        n -= (size_t) k;
    }
    return 0;
}

/* serve: one request from envp; the rendered answer goes to out/fd. */
static void serve(const struct api_app *app, struct api_ctx *ctx, char **envp, api_read_fn rd,
                  void *rd_arg, FCGX_Stream *out)
{
    struct api_resp resp;
    api_resp_init(&resp);
    api_handle(app, ctx, envp, rd, rd_arg, &resp);
    if (!out)
        cgi_drain(*(size_t *) rd_arg);
    size_t len = 0;
    char *text = api_resp_render(&resp, &len);
    static const char oom[] = "Status: 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
    const char *p = text ? text : oom;
    size_t n = text ? len : sizeof oom - 1;
    int rc = out ? (FCGX_PutStr(p, (int) n, out) < 0 ? ERR_IO : 0) : write_all(STDOUT_FILENO, p, n);
    if (rc == 0 && text && resp.stream)
        rc = resp.stream(resp.stream_arg, stream_out, out);
    if (rc != 0)
        log_info("response_not_sent", "status=%d reason=client_gone", resp.status);
    free(text);
    api_resp_deinit(&resp);
}

int api_fcgi_main(const struct api_app *app)
{
    static struct config cfg; /* outlives every handle that borrows it */
    char err[512] = "";
    int rc = 0;

    signal(SIGPIPE, SIG_IGN); /* a vanished client is an error return, not death */
    config_load_or_exit(&cfg, app->name);
    log_init(app->name, cfg.log_level);

    struct api_ctx ctx = {&cfg, sqldb_new(&cfg), NULL, NULL};
    if (!ctx.db) {
        log_error("start_failed", "reason=out_of_memory");
        return 1;
    }
    if (jwks_source_open(&cfg, &ctx.keys, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", app->name, err);
        sqldb_free(ctx.db);
        exit(2);
    }
    if (app->init && app->init(&ctx, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", app->name, err);
        sqldb_free(ctx.db);
        exit(2);
    }

    if (FCGX_IsCGI()) {
        size_t taken = 0;
        serve(app, &ctx, environ, cgi_read, &taken, NULL);
    } else {
        FCGX_Request rq;
        if (FCGX_Init() != 0 || FCGX_InitRequest(&rq, 0, 0) != 0) {
            log_error("start_failed", "reason=fcgx_init");
            rc = 1;
        } else {
            log_info("started", "mode=fastcgi pid=%ld", (long) getpid());
            while (FCGX_Accept_r(&rq) >= 0) {
                serve(app, &ctx, rq.envp, fcgi_read, rq.in, rq.out);
                FCGX_Finish_r(&rq);
            }
            FCGX_Free(&rq, 1);
        }
    }
    if (app->deinit)
        app->deinit(&ctx);
    jwks_source_free(ctx.keys);
    sqldb_free(ctx.db);
    return rc;
}
