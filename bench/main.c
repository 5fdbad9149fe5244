/*
 * main.c - chat-bench, the load generator of `make bench`.
 *
 *   chat-bench [options] [scenario ...]
 *
 * Runs the named scenarios (default: connections steady proxy saturation
 * recovery http) against the local stack, prints one table and writes the
 * results as JSON. bench/run.sh is the usual way in; see bench/README.md.
 */
#include "dbcount.h"
#include "fleet.h"
#include "procstat.h"
#include "report.h"
#include "scenarios.h"
#include "timefmt.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Default order: the connection count first, on a relay with nothing else
 * open; recovery and http while the store is still small; saturation,
 * which stores the most, last. */
static const char *const all_scenarios[] = {"connections", "recovery", "http",
                                            "steady",      "proxy",    "saturation"};

/* Run only when named: tworelay needs a second relay that shares Redis
 * with the first (bench/run.sh starts one); bigstore wants a database of
 * its own that it keeps between runs (bench/run.sh names one). */
static const char *const extra_scenarios[] = {"tworelay", "tworelay-sat", "bigstore"};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chat-bench [options] [scenario ...]\n"
            "scenarios: connections recovery http steady proxy saturation (default: all, in this "
            "order), tworelay and tworelay-sat (only when named; need --relay2), bigstore (only "
            "when named)\n"
            "  --web URL            API base (http://127.0.0.1:8080)\n"
            "  --relay URL          relay WebSocket (ws://127.0.0.1:8090/ws)\n"
            "  --proxy URL          WebSocket through the web server (ws://127.0.0.1:8080/ws)\n"
            "  --relay2 URL         tworelay: a second relay sharing Redis with --relay\n"
            "  --var DIR            the stack's var/ for pid files (./var)\n"
            "  --out FILE           results JSON (none: stdout only)\n"
            "  --commit TEXT        git commit to record\n"
            "  --rooms N            steady: rooms of two clients (50)\n"
            "  --rate R             steady: total msg/s offered (1000)\n"
            "  --seconds S          steady: seconds of load (10)\n"
            "  --sat-rooms N        saturation: rooms of two clients (100)\n"
            "  --sat-rates A,B,...  saturation: offered msg/s per step; none: no steps\n"
            "  --sat-seconds S      saturation: seconds per step (3)\n"
            "  --sat-p99 MS         saturation: p99 bound of a passing step (50)\n"
            "  --sat-burst-rooms N  saturation: N new rooms start at once after the steps (0)\n"
            "  --sat-burst-rate R   saturation burst: msg/s per connection (15)\n"
            "  --sat-burst-seconds S  saturation burst: seconds of load (8)\n"
            "  --store-msgs N       bigstore: messages in the store (200000)\n"
            "  --store-rooms N      bigstore: rooms besides the big one (1000)\n"
            "  --store-big N        bigstore: messages in the big room (5000)\n"
            "  --store-samples N    bigstore: samples per probe at most (100)\n"
            "  --store-budget S     bigstore: seconds per probe at most, 3 samples at least (15)\n"
            "  --compare FILE       bigstore: results JSON of a smaller store, shown side by side\n"
            "  --conns-extra N      connections: tries beyond the relay's limit (20)\n"
            "  --recovery N         recovery: messages to replay (10000)\n"
            "  --http-seconds S     http: seconds per wrk run (5)\n"
            "  --http-conns N       http: wrk connections for socket tokens (8)\n"
            "  --history-conns N    http: wrk connections for history pages (2)\n"
            "  --msg-chars N        characters of text per message (100)\n"
            "  --perf FILE          perf record -g the relay into FILE during saturation\n"
            "  --pid NAME=PID       measure this process as relay, ferretdb, mariadb,\n"
            "                       lighttpd or redis (default: VAR/run/NAME.pid)\n");
}

static int bad_number; /* an option's value was not a number */

/* int_arg / num_arg: a whole option value as a number; on anything else
 * bad_number is set and -1 returned (every option refuses negatives). */
static int int_arg(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX) {
        bad_number = 1;
        return -1;
    }
    return (int) v;
}

static double num_arg(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        bad_number = 1;
        return -1;
    }
    return v;
}

static int parse_rates(const char *s, struct bench_opts *o)
{
    o->n_sat_rates = 0;
    if (strcmp(s, "none") == 0)
        return 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v <= 0 || o->n_sat_rates == BENCH_MAX_STEPS)
            return -1;
        o->sat_rates[o->n_sat_rates++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return o->n_sat_rates > 0 ? 0 : -1; /* "" is a mistake; "none" says it */
}

static int known(const char *name)
{
    for (size_t i = 0; i < sizeof all_scenarios / sizeof all_scenarios[0]; i++)
        if (strcmp(name, all_scenarios[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof extra_scenarios / sizeof extra_scenarios[0]; i++)
        if (strcmp(name, extra_scenarios[i]) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const double default_rates[] = {1000, 2000,  3000,  4000,  5000, 6000,
                                           8000, 10000, 12000, 15000, 20000};
    struct bench_opts o = {
        .web = "http://127.0.0.1:8080",
        .relay_url = "ws://127.0.0.1:8090/ws",
        .proxy_url = "ws://127.0.0.1:8080/ws",
        .var_dir = "var",
        .rooms = 50,
        .rate = 1000,
        .seconds = 10,
        .sat_rooms = 100,
        .sat_seconds = 3,
        .sat_p99_ms = 50,
        .conns_extra = 20,
        .recovery_msgs = 10000,
        .http_seconds = 5,
        .http_conns = 8,
        .history_conns = 2,
        .msg_chars = 100,
        .sat_burst_rate = 15,
        .sat_burst_seconds = 8,
        .store_msgs = 200000,
        .store_rooms = 1000,
        .store_big = 5000,
        .store_samples = 100,
        .store_budget = 15,
    };
    o.n_sat_rates = (int) (sizeof default_rates / sizeof default_rates[0]);
    memcpy(o.sat_rates, default_rates, sizeof default_rates);
    const char *out_path = NULL, *commit = "unknown";

    static const struct option longopts[] = {{"web", required_argument, NULL, 'w'},
                                             {"relay", required_argument, NULL, 'r'},
                                             {"proxy", required_argument, NULL, 'p'},
                                             {"relay2", required_argument, NULL, '2'},
                                             {"var", required_argument, NULL, 'v'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"commit", required_argument, NULL, 'c'},
                                             {"rooms", required_argument, NULL, 'n'},
                                             {"rate", required_argument, NULL, 'R'},
                                             {"seconds", required_argument, NULL, 's'},
                                             {"sat-rooms", required_argument, NULL, 'N'},
                                             {"sat-rates", required_argument, NULL, 'S'},
                                             {"sat-seconds", required_argument, NULL, 'T'},
                                             {"sat-p99", required_argument, NULL, 'P'},
                                             {"conns-extra", required_argument, NULL, 'x'},
                                             {"recovery", required_argument, NULL, 'm'},
                                             {"http-seconds", required_argument, NULL, 'h'},
                                             {"http-conns", required_argument, NULL, 'H'},
                                             {"history-conns", required_argument, NULL, 'y'},
                                             {"msg-chars", required_argument, NULL, 'M'},
                                             {"perf", required_argument, NULL, 'f'},
                                             {"pid", required_argument, NULL, 'i'},
                                             {"sat-burst-rooms", required_argument, NULL, 'b'},
                                             {"sat-burst-rate", required_argument, NULL, 'B'},
                                             {"sat-burst-seconds", required_argument, NULL, 'e'},
                                             {"store-msgs", required_argument, NULL, 'g'},
                                             {"store-rooms", required_argument, NULL, 'G'},
                                             {"store-big", required_argument, NULL, 'j'},
                                             {"store-samples", required_argument, NULL, 'k'},
                                             {"store-budget", required_argument, NULL, 'K'},
                                             {"compare", required_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, '?'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'w':
            snprintf(o.web, sizeof o.web, "%s", optarg);
            break;
        case 'r':
            snprintf(o.relay_url, sizeof o.relay_url, "%s", optarg);
            break;
        case '2':
            snprintf(o.relay2_url, sizeof o.relay2_url, "%s", optarg);
            break;
        case 'p':
            snprintf(o.proxy_url, sizeof o.proxy_url, "%s", optarg);
            break;
        case 'v':
            snprintf(o.var_dir, sizeof o.var_dir, "%s", optarg);
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'c':
            commit = optarg;
            break;
        case 'n':
            o.rooms = int_arg(optarg);
            break;
        case 'R':
            o.rate = num_arg(optarg);
            break;
        case 's':
            o.seconds = num_arg(optarg);
            break;
        case 'N':
            o.sat_rooms = int_arg(optarg);
            break;
        case 'S':
            if (parse_rates(optarg, &o) != 0) {
                fprintf(stderr, "chat-bench: --sat-rates wants positive numbers A,B,... or none\n");
                return 2;
            }
            break;
        case 'T':
            o.sat_seconds = num_arg(optarg);
            break;
        case 'P':
            o.sat_p99_ms = num_arg(optarg);
            break;
        case 'x':
            o.conns_extra = int_arg(optarg);
            break;
        case 'm':
            o.recovery_msgs = int_arg(optarg);
            break;
        case 'h':
            o.http_seconds = int_arg(optarg);
            break;
        case 'H':
            o.http_conns = int_arg(optarg);
            break;
        case 'y':
            o.history_conns = int_arg(optarg);
            break;
        case 'M':
            o.msg_chars = int_arg(optarg);
            break;
        case 'f':
            snprintf(o.perf_out, sizeof o.perf_out, "%s", optarg);
            break;
        case 'b':
            o.sat_burst_rooms = int_arg(optarg);
            break;
        case 'B':
            o.sat_burst_rate = num_arg(optarg);
            break;
        case 'e':
            o.sat_burst_seconds = num_arg(optarg);
            break;
        case 'g':
            o.store_msgs = int_arg(optarg);
            break;
        case 'G':
            o.store_rooms = int_arg(optarg);
            break;
        case 'j':
            o.store_big = int_arg(optarg);
            break;
        case 'k':
            o.store_samples = int_arg(optarg);
            break;
        case 'K':
            o.store_budget = num_arg(optarg);
            break;
        case 'C':
            snprintf(o.compare_path, sizeof o.compare_path, "%s", optarg);
            break;
        case 'i': {
            const char *eq = strchr(optarg, '=');
            char name[32];
            int slot = -1;
            if (eq && (size_t) (eq - optarg) < sizeof name) {
                memcpy(name, optarg, (size_t) (eq - optarg));
                name[eq - optarg] = '\0';
                slot = bench_pid_slot(name);
            }
            if (slot < 0 || int_arg(eq + 1) <= 0) {
                fprintf(stderr, "chat-bench: --pid wants NAME=PID, NAME one of relay ferretdb "
                                "mariadb lighttpd redis\n");
                return 2;
            }
            o.pids[slot] = int_arg(eq + 1);
            break;
        }
        default:
            usage(opt == '?' ? stdout : stderr);
            return opt == '?' ? 0 : 2;
        }
    }
    if (bad_number || o.rooms < 1 || o.sat_rooms < 1 || o.rate <= 0 || o.seconds <= 0 ||
        o.sat_seconds <= 0 || o.recovery_msgs < 1 || o.http_seconds < 1 || o.http_conns < 1 ||
        o.history_conns < 1 || o.msg_chars < 1 || o.msg_chars > 4000 || o.conns_extra < 0 ||
        o.sat_burst_rooms < 0 || o.sat_burst_rate <= 0 || o.sat_burst_seconds <= 0 ||
        o.sat_burst_seconds > FLEET_SECONDS_MAX - 10 || o.store_samples < 3 ||
        o.store_budget <= 0) {
        fprintf(stderr, "chat-bench: an option is out of range (see --help)\n");
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        if (!known(argv[i])) {
            fprintf(stderr, "chat-bench: unknown scenario '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    /* thousands of sockets: take all the descriptors we are allowed */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    const char *const *names = optind < argc ? (const char *const *) argv + optind : all_scenarios;
    size_t count =
        optind < argc ? (size_t) (argc - optind) : sizeof all_scenarios / sizeof all_scenarios[0];
    char err[512] = "";
    struct bench *b = bench_new(&o, names, count, err, sizeof err);
    if (!b) {
        fprintf(stderr, "chat-bench: set-up failed: %s\n", err);
        return 1;
    }
    cJSON *doc = cJSON_CreateObject();
    char started[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(started, timefmt_now_ms());
    cJSON_AddStringToObject(doc, "generator", "chat-bench");
    cJSON_AddStringToObject(doc, "startedAt", started);
    cJSON *git = cJSON_AddObjectToObject(doc, "git");
    cJSON_AddStringToObject(git, "commit", commit);
    cJSON_AddItemToObject(doc, "machine", procstat_machine());
    cJSON_AddItemToObject(doc, "settings", bench_settings(b));
    cJSON *rows = cJSON_AddArrayToObject(doc, "scenarios");
    int64_t stored = -1;
    if (dbcount_messages(&stored) == 0)
        cJSON_AddNumberToObject(doc, "chatMessagesAtStart", (double) stored);

    int failures = 0;
    for (size_t i = 0; i < count; i++) {
        cJSON *row = bench_run(b, names[i]);
        if (cJSON_GetObjectItemCaseSensitive(row, "error"))
            failures++;
        cJSON_AddItemToArray(rows, row);
    }
    cJSON *fin = bench_finish(b);
    if (fin)
        cJSON_AddItemToObject(doc, "storeCleanup", fin);
    if (dbcount_messages(&stored) == 0)
        cJSON_AddNumberToObject(doc, "chatMessagesAtEnd", (double) stored);
    cJSON *prep = bench_prepare_info(b);
    if (prep)
        cJSON_AddItemToObject(doc, "prepare", prep);
    cJSON_AddItemToObject(doc, "goals", report_goals(rows));
    report_print(stdout, doc);

    int rc = failures ? 1 : 0;
    if (out_path) {
        char *text = cJSON_Print(doc);
        FILE *f = fopen(out_path, "w");
        if (!text || !f || fputs(text, f) < 0 || fputc('\n', f) < 0) {
            fprintf(stderr, "chat-bench: cannot write %s: %s\n", out_path, strerror(errno));
            rc = 1;
        } else {
            printf("\nresults: %s\n", out_path);
        }
        if (f)
            fclose(f);
        free(text);
    }
    cJSON_Delete(doc);
    bench_free(b);
    if (failures)
        fprintf(stderr, "chat-bench: %d scenario(s) failed (see the table)\n", failures);
    return rc;
}
