/*
 * scenarios.h - the benchmark scenarios of bench/README.md, each
 * producing one result object (one table row) for the results JSON.
 *
 *   connections  idle connections held and relay memory per connection
 *   steady       N rooms x 2 members at a fixed total rate (direct to the relay)
 *   proxy        the same through the web server's /ws proxy
 *   saturation   offered rate stepped up until p99 >= 50 ms or messages are lost
 *   recovery     one client replays N missed messages with ENTER since
 *   http         history pages/s and socket tokens/s through the web server (wrk)
 *   bigstore     history, ENTER, first TEXT and `since` latency on a store of
 *                many messages (seeded once, kept between runs)
 *
 * saturation also has a cold-start part (sat_burst_rooms > 0): that many
 * new rooms start chatting at once, then a warm room checks the relay
 * still answers promptly.
 *
 * Every scenario also reports the CPU time the relay, FerretDB, MariaDB,
 * the web server and the generator itself used while it ran.
 */
#ifndef BENCH_SCENARIOS_H
#define BENCH_SCENARIOS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_STEPS 32

struct bench_opts {
    char web[256];        /* http://127.0.0.1:8080 */
    char relay_url[256];  /* ws://127.0.0.1:8090/ws */
    char proxy_url[256];  /* ws://127.0.0.1:8080/ws */
    char relay2_url[256]; /* "" or a second relay sharing Redis with the first (tworelay) */
    char var_dir[512];    /* the stack's var/ (pid files) */
    int rooms;            /* steady: rooms of two members */
    double rate;          /* steady: messages/s offered in total */
    double seconds;       /* steady: seconds of offered load */
    int sat_rooms;        /* saturation: rooms of two members */
    double sat_rates[BENCH_MAX_STEPS];
    int n_sat_rates;
    double sat_seconds;       /* saturation: seconds per step */
    double sat_p99_ms;        /* saturation: the latency bound of a passing step */
    int conns_extra;          /* connections: tries beyond the relay's limit */
    int recovery_msgs;        /* recovery: messages to replay */
    int http_seconds;         /* http: seconds per wrk run */
    int http_conns;           /* http: wrk connections for socket tokens */
    int history_conns;        /* http: wrk connections for history pages */
    int msg_chars;            /* characters of text per message */
    int sat_burst_rooms;      /* saturation: new rooms starting at once (0: no burst) */
    double sat_burst_rate;    /* saturation burst: msg/s per connection */
    double sat_burst_seconds; /* saturation burst: seconds of load */
    int64_t store_msgs;       /* bigstore: messages in the store */
    int store_rooms;          /* bigstore: rooms besides the big one */
    int64_t store_big;        /* bigstore: messages in the big room */
    int store_samples;        /* bigstore: samples per probe at most */
    double store_budget;      /* bigstore: seconds per probe at most (3 samples at least) */
    char compare_path[512];   /* bigstore: "" or the results JSON of a smaller store */
    char perf_out[512];       /* "" or where perf record writes during saturation */
    int pids[5];              /* > 0: measure this pid instead of <var>/run/<name>.pid, in
                               * the order relay, ferretdb, mariadb, lighttpd, redis */
};

struct bench;

/* bench_new: sign in the users and open the rooms that the scenarios in
 * names[0..n) need (names unique to this run). NULL with a one-line reason
 * in errbuf. opts copied, names borrowed for the call.
 *
 * The clients of steady, proxy and saturation are connected and ENTERed
 * once, before the first scenario that stores messages, and stay
 * connected: on FerretDB an ENTER costs a scan of the whole collection, so
 * ENTERs made after recovery has stored 10,000 messages would measure the
 * store, not the relay (recovery measures that on purpose). */
struct bench *bench_new(const struct bench_opts *opts, const char *const *names, size_t n,
                        char *errbuf, size_t errlen);

/* bench_free: close everything; NULL is a no-op. */
void bench_free(struct bench *b);

/* bench_run: run one scenario by name; returns its result object (caller
 * owns), or NULL when the name is unknown. A scenario that fails still
 * returns an object, with "error" set. */
cJSON *bench_run(struct bench *b, const char *name);

/* bench_pid_slot: the index in opts->pids of a process name ("relay",
 * "ferretdb", "mariadb", "lighttpd"), -1 when unknown. */
int bench_pid_slot(const char *name);

/* bench_prepare_info: what the one-time preparation did (clients, seconds,
 * error) as a new object, NULL when it has not run. */
cJSON *bench_prepare_info(const struct bench *b);

/* bench_finish: after the last scenario: when bigstore used a kept store,
 * remove what this run stored in it (the messages of every room outside
 * the seeded ones), so the next run finds the same store. What was done as
 * a new object, NULL when there was nothing to do. */
cJSON *bench_finish(struct bench *b);

/* bench_settings: the settings of this run as a new object (caller owns). */
cJSON *bench_settings(const struct bench *b);

#endif
