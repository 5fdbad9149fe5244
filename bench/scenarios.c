/*
 * scenarios.c - the benchmark scenarios (see scenarios.h) on top of the
 * fleet of protocol clients, plus the CPU/memory bookkeeping around them.
 *
 * Assumes the local stack of deploy/dev/stack.sh: pid files under
 * <var>/run, dev login enabled, the relay's /metrics on its own port.
 * Cold code: it runs once per scenario; the per-message work is in fleet.c.
 */
#include "scenarios.h"

#include "benchstore.h"
#include "chatapi.h"
#include "errors.h"
#include "fleet.h"
#include "procstat.h"
#include "storeplan.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench {
    struct bench_opts o;
    struct chatapi *api;
    struct wsclient_target relay, proxy;
    struct wsclient_target relay2; /* tworelay: the second relay */
    char metrics_url[300];
    char prefix[24];           /* username prefix unique to this run */
    int epfd;                  /* one epoll set for every fleet */
    struct fleet_user *users;  /* 2 per room; users[2k], users[2k+1] share a room */
    size_t nusers;             /* direct clients: 2 x max(rooms, sat_rooms) */
    struct fleet_user *pusers; /* the proxy scenario's own rooms */
    size_t npusers;
    int want_direct, want_proxy; /* fleets the planned scenarios need */
    int prepared;                /* prepare() ran */
    char prepare_error[256];     /* why it failed, "" when it did not */
    struct fleet *direct;        /* users[] connected to the relay, ENTERed */
    struct fleet *proxied;       /* pusers[] connected through the web server */
    struct fleet_user *xusers;   /* tworelay: room members split over two relays */
    size_t nxusers;
    int want_cross;
    struct fleet *cross;       /* xusers[2k] on relay, xusers[2k+1] on relay2 */
    struct fleet_user *yusers; /* tworelay-sat: 2 x sat_rooms, see prepare_split */
    size_t nyusers;
    struct fleet *split;      /* tworelay-sat: yusers connected */
    cJSON *prepare_info;      /* what prepare() did, for the results */
    struct fleet_user rec[2]; /* recovery and http: a room of their own */
    int rec_ready;
    int64_t rec_room_msgs;    /* messages stored in the recovery room */
    struct benchstore *store; /* bigstore: the kept store's databases; NULL: not used */
    int64_t store_first_room; /* bigstore: the seeded rooms' ids (0: none) */
    int64_t store_last_room;
    cJSON *compare; /* bigstore: the bigstore row of --compare, NULL: none */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double ms(int64_t ns)
{
    return (double) ns / 1e6;
}

/* ------------------------------------------------------------ processes */

enum proc_id { P_RELAY, P_FERRETDB, P_MARIADB, P_LIGHTTPD, P_REDIS, P__COUNT };
static const char *const proc_names[P__COUNT] = {"relay", "ferretdb", "mariadb", "lighttpd",
                                                 "redis"};
_Static_assert(sizeof((struct bench_opts *) 0)->pids / sizeof(int) == P__COUNT,
               "one --pid slot per process measured");

#define MAX_RELAYS 16

struct cpu_snap {
    int64_t wall;          /* CLOCK_MONOTONIC ns */
    int64_t cpu[P__COUNT]; /* ns, -1 when the process was not found */
    int64_t self;
    int nrelays;               /* relay processes found */
    int64_t relay[MAX_RELAYS]; /* each relay's ns, -1 when unreadable */
};

int bench_pid_slot(const char *name)
{
    for (int p = 0; p < P__COUNT; p++)
        if (strcmp(name, proc_names[p]) == 0)
            return p;
    return -1;
}

static pid_t pid_of(const struct bench *b, enum proc_id p)
{
    if (b->o.pids[p] > 0)
        return (pid_t) b->o.pids[p];
    char path[640];
    snprintf(path, sizeof path, "%s/run/%s.pid", b->o.var_dir, proc_names[p]);
    return procstat_pidfile(path);
}

/* relay_pids: the relay processes: the one named by --pid, else relay.pid
 * and, when the stack runs several (RELAYS=N), relay2.pid ... relayN.pid.
 * Returns how many were found. */
static int relay_pids(const struct bench *b, pid_t out[MAX_RELAYS])
{
    int n = 0;
    pid_t first = pid_of(b, P_RELAY);
    if (first > 0)
        out[n++] = first;
    if (b->o.pids[P_RELAY] > 0)
        return n;
    for (int i = 2; i <= MAX_RELAYS && n < MAX_RELAYS; i++) {
        char path[640];
        snprintf(path, sizeof path, "%s/run/relay%d.pid", b->o.var_dir, i);
        pid_t pid = procstat_pidfile(path);
        if (pid > 0)
            out[n++] = pid;
    }
    return n;
}

/* relay_rss_kib: resident memory of every relay process, summed. */
static int relay_rss_kib(const struct bench *b, long *kib)
{
    pid_t pids[MAX_RELAYS];
    int n = relay_pids(b, pids);
    *kib = 0;
    for (int i = 0; i < n; i++) {
        long k;
        if (procstat_rss_kib(pids[i], &k) != 0)
            return ERR_NOT_FOUND;
        *kib += k;
    }
    return n > 0 ? 0 : ERR_NOT_FOUND;
}

static void cpu_snap(const struct bench *b, struct cpu_snap *s)
{
    for (int p = 0; p < P__COUNT; p++) {
        pid_t pid = pid_of(b, (enum proc_id) p);
        if (pid < 0 || procstat_cpu_ns(pid, &s->cpu[p]) != 0)
            s->cpu[p] = -1;
    }
    /* several relays (RELAYS=N): the relay figure is their sum */
    pid_t pids[MAX_RELAYS];
    int n = relay_pids(b, pids);
    s->nrelays = n;
    for (int i = 0; i < n; i++)
        if (procstat_cpu_ns(pids[i], &s->relay[i]) != 0)
            s->relay[i] = -1;
    for (int i = 1; i < n && s->cpu[P_RELAY] >= 0; i++)
        s->cpu[P_RELAY] = s->relay[i] >= 0 ? s->cpu[P_RELAY] + s->relay[i] : -1;
    s->self = procstat_self_cpu_ns();
    s->wall = procstat_mono_ns();
}

/* add_cpu: {"wallS", "<proc>CpuPct", "<proc>UsPer<unit>", ...} for the
 * span a..z; per-unit figures only when units > 0. */
static void add_cpu_per(cJSON *row, const struct cpu_snap *a, const struct cpu_snap *z,
                        double units, const char *unit)
{
    double wall = (double) (z->wall - a->wall) / 1e9;
    cJSON *cpu = cJSON_AddObjectToObject(row, "cpu");
    if (!cpu || wall <= 0)
        return;
    cJSON_AddNumberToObject(cpu, "wallS", wall);
    char key[64];
    for (int p = 0; p < P__COUNT; p++) {
        if (a->cpu[p] < 0 || z->cpu[p] < 0)
            continue;
        double used = (double) (z->cpu[p] - a->cpu[p]) / 1e9;
        snprintf(key, sizeof key, "%sCpuS", proc_names[p]);
        cJSON_AddNumberToObject(cpu, key, used);
        snprintf(key, sizeof key, "%sCpuPct", proc_names[p]);
        cJSON_AddNumberToObject(cpu, key, 100.0 * used / wall);
        if (units > 0) {
            snprintf(key, sizeof key, "%sUsPer%s", proc_names[p], unit);
            cJSON_AddNumberToObject(cpu, key, used * 1e6 / units);
        }
    }
    /* several relays: each one's share too (relay1 = relay.pid, relay2 ...) */
    for (int i = 0; a->nrelays > 1 && i < a->nrelays && a->nrelays == z->nrelays; i++) {
        if (a->relay[i] < 0 || z->relay[i] < 0)
            continue;
        double used = (double) (z->relay[i] - a->relay[i]) / 1e9;
        snprintf(key, sizeof key, "relay%dCpuPct", i + 1);
        cJSON_AddNumberToObject(cpu, key, 100.0 * used / wall);
        if (units > 0) {
            snprintf(key, sizeof key, "relay%dUsPer%s", i + 1, unit);
            cJSON_AddNumberToObject(cpu, key, used * 1e6 / units);
        }
    }
    double self = (double) (z->self - a->self) / 1e9;
    cJSON_AddNumberToObject(cpu, "generatorCpuS", self);
    cJSON_AddNumberToObject(cpu, "generatorCpuPct", 100.0 * self / wall);
}

static void add_cpu(cJSON *row, const struct cpu_snap *a, const struct cpu_snap *z, double msgs)
{
    add_cpu_per(row, a, z, msgs, "Msg");
}

static double cpu_get(const cJSON *row, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(row, "cpu"), key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* metric: the value of an unlabelled sample in Prometheus text, -1 if absent. */
static double metric(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
    }
    return -1;
}

#define WRITE_BUCKETS 32

/* What the relay's /metrics says about its writes to the store. */
struct relay_snap {
    double batch_sum, batch_count, stored;
    int nb;                    /* write latency buckets found */
    double le[WRITE_BUCKETS];  /* bucket bounds, seconds */
    double cum[WRITE_BUCKETS]; /* cumulative counts */
};

static void relay_snap(struct bench *b, struct relay_snap *s)
{
    char *text = NULL;
    s->batch_sum = s->batch_count = s->stored = -1;
    s->nb = 0;
    if (chatapi_get_text(b->api, b->metrics_url, &text) != 0)
        return;
    s->batch_sum = metric(text, "chat_relay_write_batch_size_sum");
    s->batch_count = metric(text, "chat_relay_write_batch_size_count");
    s->stored = metric(text, "chat_relay_messages_stored_total");
    static const char prefix[] = "chat_relay_write_latency_seconds_bucket{le=\"";
    for (const char *p = strstr(text, prefix); p && s->nb < WRITE_BUCKETS;
         p = strstr(p + 1, prefix)) {
        const char *v = p + sizeof prefix - 1;
        char *end;
        double le = strncmp(v, "+Inf", 4) == 0 ? 1e300 : strtod(v, &end);
        const char *sp = strchr(v, ' ');
        if (!sp)
            break;
        s->le[s->nb] = le;
        s->cum[s->nb] = strtod(sp + 1, NULL);
        s->nb++;
    }
    free(text);
}

/* bucket_bound: the upper bound (ms) of the bucket holding quantile q of
 * the writes between a and z, -1 when there were none. */
static double bucket_bound(const struct relay_snap *a, const struct relay_snap *z, double q)
{
    if (a->nb != z->nb || z->nb == 0)
        return -1;
    double total = z->cum[z->nb - 1] - a->cum[a->nb - 1];
    if (total <= 0)
        return -1;
    for (int i = 0; i < z->nb; i++)
        if (z->cum[i] - a->cum[i] >= q * total)
            return z->le[i] >= 1e300 ? 1e9 : z->le[i] * 1000;
    return -1;
}

static void add_batches(cJSON *row, const struct relay_snap *a, const struct relay_snap *z)
{
    if (a->batch_count < 0 || z->batch_count < 0)
        return;
    double n = z->batch_count - a->batch_count;
    cJSON_AddNumberToObject(row, "writeBatches", n);
    cJSON_AddNumberToObject(row, "meanBatchSize", n > 0 ? (z->batch_sum - a->batch_sum) / n : 0);
    if (a->stored >= 0 && z->stored >= 0)
        cJSON_AddNumberToObject(row, "storedByRelay", z->stored - a->stored);
    /* from the relay's histogram: an upper bound, at bucket resolution */
    cJSON_AddNumberToObject(row, "storeWriteP50MsAtMost", bucket_bound(a, z, 0.50));
    cJSON_AddNumberToObject(row, "storeWriteP99MsAtMost", bucket_bound(a, z, 0.99));
}

/* ------------------------------------------------------------ rows */

static void set_table(cJSON *row, const char *scenario, const char *result, const char *latency,
                      const char *cpu)
{
    cJSON *t = cJSON_AddObjectToObject(row, "table");
    if (!t)
        return;
    cJSON_AddStringToObject(t, "scenario", scenario);
    cJSON_AddStringToObject(t, "result", result);
    cJSON_AddStringToObject(t, "latency", latency);
    cJSON_AddStringToObject(t, "cpu", cpu);
}

static cJSON *new_row(const char *name)
{
    cJSON *row = cJSON_CreateObject();
    if (row)
        cJSON_AddStringToObject(row, "scenario", name);
    return row;
}

static cJSON *fail_row(cJSON *row, const char *label, const char *why)
{
    say("%s: %s", label, why);
    cJSON_AddStringToObject(row, "error", why);
    set_table(row, label, "FAILED", why, "");
    return row;
}

/* add_meas: counters and latency of a measurement. */
static void add_meas(cJSON *row, struct fleet_meas *m)
{
    cJSON_AddNumberToObject(row, "sent", (double) m->sent);
    cJSON_AddNumberToObject(row, "acked", (double) m->acked);
    cJSON_AddNumberToObject(row, "delivered", (double) m->delivered);
    cJSON_AddNumberToObject(row, "errors", (double) m->errors);
    cJSON_AddNumberToObject(row, "outOfOrder", (double) m->out_of_order);
    cJSON_AddNumberToObject(row, "closedDuringRun", (double) m->closed);
    double span = (double) (m->t_last_recv - m->t_start) / 1e9;
    cJSON_AddNumberToObject(row, "deliveredPerSec", span > 0 ? (double) m->delivered / span : 0);
    cJSON_AddNumberToObject(row, "e2eP50Ms", ms(latstats_pct(&m->e2e, 50)));
    cJSON_AddNumberToObject(row, "e2eP99Ms", ms(latstats_pct(&m->e2e, 99)));
    cJSON_AddNumberToObject(row, "e2eMaxMs", ms(latstats_pct(&m->e2e, 100)));
    cJSON_AddNumberToObject(row, "ackP50Ms", ms(latstats_pct(&m->ack, 50)));
    cJSON_AddNumberToObject(row, "ackP99Ms", ms(latstats_pct(&m->ack, 99)));
    cJSON_AddNumberToObject(row, "maxSendLagMs", ms(m->max_lag));
    /* the worst e2e latency of the messages sent in each second: shows
     * whether the tail is one stall or spread out */
    int secs = (int) ((m->t_last_send - m->t_start) / 1000000000) + 1;
    if (secs > FLEET_SECONDS_MAX)
        secs = FLEET_SECONDS_MAX;
    cJSON *by_sec = cJSON_AddArrayToObject(row, "e2eMaxMsBySecond");
    for (int i = 0; by_sec && m->sent && i < secs; i++)
        cJSON_AddItemToArray(by_sec, cJSON_CreateNumber(ms(m->e2e_max_by_sec[i])));
    if (m->errors) {
        cJSON *codes = cJSON_AddObjectToObject(row, "errorCodes");
        for (int i = 0; i < FLEET_ERR_CODES && m->err_code[i][0]; i++)
            cJSON_AddNumberToObject(codes, m->err_code[i], (double) m->err_count[i]);
    }
    if (m->first_error[0])
        cJSON_AddStringToObject(row, "firstError", m->first_error);
}

static double num(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ------------------------------------------------------------ set-up */

static int login_user(struct bench *b, struct fleet_user *u, const char *suffix, char *err,
                      size_t errlen)
{
    snprintf(u->name, sizeof u->name, "%s_%s", b->prefix, suffix);
    int rc = chatapi_login(b->api, u->name, &u->jwt, &u->id);
    if (rc != 0)
        snprintf(err, errlen, "dev login of %s: %s", u->name, chatapi_error(b->api));
    return rc;
}

static int pair_up(struct bench *b, struct fleet_user *x, struct fleet_user *y, char *err,
                   size_t errlen)
{
    int rc = chatapi_open_room(b->api, x->jwt, y->id, &x->room);
    if (rc != 0) {
        snprintf(err, errlen, "room of %s and %s: %s", x->name, y->name, chatapi_error(b->api));
        return rc;
    }
    y->room = x->room;
    return 0;
}

/* login_pairs: users[0..n) named <prefix><i>; users 2k and 2k+1 share a room. */
static int login_pairs(struct bench *b, struct fleet_user *users, size_t n, const char *prefix,
                       char *err, size_t errlen)
{
    char suffix[24];
    for (size_t i = 0; i < n; i++) {
        snprintf(suffix, sizeof suffix, "%s%zu", prefix, i);
        if (login_user(b, &users[i], suffix, err, errlen) != 0)
            return ERR_UNAVAILABLE;
        if (i % 2 == 1 && pair_up(b, &users[i - 1], &users[i], err, errlen) != 0)
            return ERR_UNAVAILABLE;
    }
    return 0;
}

/* load_compare: the bigstore row (without "error") of the results JSON at
 * path, detached; NULL when there is none. */
static cJSON *load_compare(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL, *row = NULL;
    if (!f)
        return NULL;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t r;
    while (mem && (r = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, r, mem);
    fclose(f);
    if (mem)
        fclose(mem);
    if (text)
        doc = cJSON_Parse(text);
    free(text);
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "scenarios");
    for (cJSON *x = rows ? rows->child : NULL; x; x = x->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(x, "scenario");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "bigstore") == 0 &&
            !cJSON_GetObjectItemCaseSensitive(x, "error")) {
            row = cJSON_DetachItemViaPointer(rows, x);
            break;
        }
    }
    cJSON_Delete(doc);
    return row;
}

static int planned(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

struct bench *bench_new(const struct bench_opts *opts, const char *const *names, size_t n,
                        char *errbuf, size_t errlen)
{
    struct bench *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    b->o = *opts;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        snprintf(errbuf, errlen, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    b->want_direct =
        planned(names, n, "steady") || (planned(names, n, "saturation") && b->o.n_sat_rates > 0);
    b->want_proxy = planned(names, n, "proxy");
    b->want_cross = planned(names, n, "tworelay");
    int want_split = planned(names, n, "tworelay-sat") && b->o.n_sat_rates > 0;
    if ((b->want_cross || want_split) && wsclient_target_parse(b->o.relay2_url, &b->relay2) != 0) {
        snprintf(errbuf, errlen, "tworelay and tworelay-sat need --relay2 ws://IPV4:PORT/PATH");
        goto fail;
    }
    if (wsclient_target_parse(b->o.relay_url, &b->relay) != 0 ||
        wsclient_target_parse(b->o.proxy_url, &b->proxy) != 0) {
        snprintf(errbuf, errlen, "relay and proxy URLs must be ws://IPV4:PORT/PATH");
        goto fail;
    }
    snprintf(b->metrics_url, sizeof b->metrics_url, "http://%s/metrics", b->relay.host);
    if (!(b->api = chatapi_new(b->o.web))) {
        snprintf(errbuf, errlen, "libcurl did not start");
        goto fail;
    }
    char *text = NULL;
    if (chatapi_get_text(b->api, b->metrics_url, &text) != 0) {
        snprintf(errbuf, errlen, "relay not answering: %s", chatapi_error(b->api));
        goto fail;
    }
    free(text);
    if (b->o.compare_path[0] && !(b->compare = load_compare(b->o.compare_path)))
        say("--compare %s: no bigstore result there; the table shows this store alone",
            b->o.compare_path);

    /* usernames unique to this run: fresh rooms, no history from earlier runs */
    snprintf(b->prefix, sizeof b->prefix, "b%lx%02x", (unsigned long) time(NULL),
             (unsigned) getpid() & 0xff);
    int rooms = b->o.rooms > b->o.sat_rooms ? b->o.rooms : b->o.sat_rooms;
    /* without steady or saturation only connections uses them, for tokens */
    b->nusers = b->want_direct ? 2 * (size_t) rooms : 2;
    b->users = calloc(b->nusers, sizeof *b->users);
    if (!b->users) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    b->npusers = b->want_proxy ? 2 * (size_t) b->o.rooms : 0;
    if (b->npusers && !(b->pusers = calloc(b->npusers, sizeof *b->pusers))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    say("signing in %zu users and opening their rooms through %s", b->nusers + b->npusers + 2,
        b->o.web);
    b->nxusers = b->want_cross ? 2 * (size_t) b->o.rooms : 0;
    if (b->nxusers && !(b->xusers = calloc(b->nxusers, sizeof *b->xusers))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    b->nyusers = want_split ? 2 * (size_t) b->o.sat_rooms : 0;
    if (b->nyusers && !(b->yusers = calloc(b->nyusers, sizeof *b->yusers))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (login_pairs(b, b->users, b->nusers, "", errbuf, errlen) != 0 ||
        login_pairs(b, b->yusers, b->nyusers, "y", errbuf, errlen) != 0 ||
        login_pairs(b, b->pusers, b->npusers, "p", errbuf, errlen) != 0 ||
        login_pairs(b, b->xusers, b->nxusers, "x", errbuf, errlen) != 0)
        goto fail;
    if (login_user(b, &b->rec[0], "ra", errbuf, errlen) != 0 ||
        login_user(b, &b->rec[1], "rb", errbuf, errlen) != 0 ||
        pair_up(b, &b->rec[0], &b->rec[1], errbuf, errlen) != 0)
        goto fail;
    return b;
fail:
    bench_free(b);
    return NULL;
}

void bench_free(struct bench *b)
{
    if (!b)
        return;
    fleet_free(b->direct);
    fleet_free(b->proxied);
    fleet_free(b->cross);
    fleet_free(b->split);
    if (b->epfd >= 0)
        close(b->epfd);
    cJSON_Delete(b->prepare_info);
    for (size_t i = 0; b->users && i < b->nusers; i++)
        free(b->users[i].jwt);
    free(b->users);
    for (size_t i = 0; b->pusers && i < b->npusers; i++)
        free(b->pusers[i].jwt);
    free(b->pusers);
    for (size_t i = 0; b->xusers && i < b->nxusers; i++)
        free(b->xusers[i].jwt);
    free(b->xusers);
    for (size_t i = 0; b->yusers && i < b->nyusers; i++)
        free(b->yusers[i].jwt);
    free(b->yusers);
    free(b->rec[0].jwt);
    free(b->rec[1].jwt);
    chatapi_free(b->api);
    benchstore_close(b->store);
    cJSON_Delete(b->compare);
    free(b);
}

cJSON *bench_settings(const struct bench *b)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    cJSON_AddStringToObject(s, "web", b->o.web);
    cJSON_AddStringToObject(s, "relay", b->o.relay_url);
    cJSON_AddStringToObject(s, "proxy", b->o.proxy_url);
    cJSON_AddNumberToObject(s, "steadyRooms", b->o.rooms);
    cJSON_AddNumberToObject(s, "steadyRate", b->o.rate);
    cJSON_AddNumberToObject(s, "steadySeconds", b->o.seconds);
    cJSON_AddNumberToObject(s, "saturationRooms", b->o.sat_rooms);
    cJSON_AddItemToObject(s, "saturationRates",
                          cJSON_CreateDoubleArray(b->o.sat_rates, b->o.n_sat_rates));
    cJSON_AddNumberToObject(s, "saturationStepSeconds", b->o.sat_seconds);
    cJSON_AddNumberToObject(s, "saturationP99BoundMs", b->o.sat_p99_ms);
    cJSON_AddNumberToObject(s, "recoveryMessages", b->o.recovery_msgs);
    cJSON_AddNumberToObject(s, "httpSeconds", b->o.http_seconds);
    cJSON_AddNumberToObject(s, "httpConnections", b->o.http_conns);
    cJSON_AddNumberToObject(s, "historyConnections", b->o.history_conns);
    cJSON_AddNumberToObject(s, "messageChars", b->o.msg_chars);
    pid_t pids[MAX_RELAYS];
    cJSON_AddNumberToObject(s, "relayProcesses", relay_pids(b, pids));
    if (b->o.sat_burst_rooms > 0) {
        cJSON_AddNumberToObject(s, "saturationBurstRooms", b->o.sat_burst_rooms);
        cJSON_AddNumberToObject(s, "saturationBurstRatePerConnection", b->o.sat_burst_rate);
        cJSON_AddNumberToObject(s, "saturationBurstSeconds", b->o.sat_burst_seconds);
    }
    cJSON_AddNumberToObject(s, "storeMessages", (double) b->o.store_msgs);
    cJSON_AddNumberToObject(s, "storeRooms", b->o.store_rooms);
    cJSON_AddNumberToObject(s, "storeBigRoomMessages", (double) b->o.store_big);
    cJSON_AddNumberToObject(s, "storeSamples", b->o.store_samples);
    cJSON_AddNumberToObject(s, "storeBudgetSeconds", b->o.store_budget);
    /* the relay's limits and databases as the environment of this run set them */
    static const char *const env[] = {
        "CHAT_MONGO_URI",  "CHAT_MONGO_DATABASE",  "CHAT_MYSQL_DATABASE",  "CHAT_RATE_PER_SEC",
        "CHAT_RATE_BURST", "CHAT_MAX_CONNECTIONS", "CHAT_WRITE_BATCH_MAX", "CHAT_RELAY_WORKERS"};
    cJSON *e = cJSON_AddObjectToObject(s, "relayEnvironment");
    for (size_t i = 0; e && i < sizeof env / sizeof env[0]; i++)
        if (getenv(env[i]))
            cJSON_AddStringToObject(e, env[i], getenv(env[i]));
    return s;
}

/* ------------------------------------------------------------ helpers */

static int never(void *arg)
{
    (void) arg;
    return 0;
}

/* idle: let time pass while the long-lived clients keep being served. */
static void idle(struct bench *b, int ms_)
{
    struct fleet *f = b->direct ? b->direct : b->proxied;
    if (f)
        fleet_run(f, never, NULL, ms_);
    else
        usleep((useconds_t) ms_ * 1000);
}

/* settle: wait (at most 20 s) until the relay and FerretDB have gone quiet:
 * both under 15% of a core over half a second. A scenario that ends with
 * queries still running in the store (timed-out history pages, replays)
 * would otherwise bill their cost to the next one. Records the seconds
 * waited in row, and "busy": true when they never went quiet (other work on
 * the stack: the numbers of that row are suspect). */
static void settle(struct bench *b, cJSON *row, const char *key)
{
    int64_t t0 = procstat_mono_ns();
    int quiet = 0;
    for (int i = 0; i < 40 && !quiet; i++) {
        struct cpu_snap a, z;
        cpu_snap(b, &a);
        idle(b, 500);
        cpu_snap(b, &z);
        double wall = (double) (z.wall - a.wall);
        quiet = 1;
        for (int p = 0; p < P__COUNT; p++) {
            if ((p == P_RELAY || p == P_FERRETDB) && a.cpu[p] >= 0 && z.cpu[p] >= 0 &&
                (double) (z.cpu[p] - a.cpu[p]) / wall > 0.15)
                quiet = 0;
        }
    }
    cJSON_AddNumberToObject(row, key, (double) (procstat_mono_ns() - t0) / 1e9);
    if (!quiet) {
        say("the relay or FerretDB stayed busy with other work: results marked busy");
        cJSON_DeleteItemFromObject(row, "busy");
        cJSON_AddBoolToObject(row, "busy", 1);
    }
}

/* connect_users: a client for each of users[0], users[stride], ...
 * (n of them, borrowed for the fleet's life), ENTERed in the user's room. */
static int connect_users(struct bench *b, struct fleet *f, const struct wsclient_target *t,
                         struct fleet_user *users, size_t n, size_t stride, char *why, size_t cap)
{
    struct fleet_user **list = malloc(n * sizeof(struct fleet_user *));
    if (!list) {
        snprintf(why, cap, "out of memory");
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = &users[i * stride];
    struct fleet_connect_result res;
    int rc = fleet_connect(f, t, list, n, 1, 100, &res);
    free(list);
    (void) b;
    if (rc != 0 || res.opened != n) {
        snprintf(why, cap, "%zu of %zu clients connected (503: %zu, other: %zu): %.100s",
                 res.opened, n, res.refused_503, res.refused_other + res.failed, res.first_failure);
        return rc ? rc : ERR_UNAVAILABLE;
    }
    return 0;
}

/* warm_up: one message per client, answered, so per-room state (the
 * relay's seq counters) exists before anything is measured. */
static int warm_up(struct fleet *f)
{
    size_t n;
    struct fleet_client **cl = fleet_clients(f, &n);
    struct fleet_meas m;
    fleet_meas_init(&m);
    fleet_meas_begin(f, &m);
    for (size_t i = 0; i < n; i++)
        fleet_send_text(f, cl[i]);
    int ok = fleet_run(f, fleet_all_answered, f, 15000) && m.errors == 0;
    fleet_meas_end(f);
    fleet_meas_deinit(&m);
    return ok ? 0 : ERR_UNAVAILABLE;
}

/* ------------------------------------------------------------ connections */

/* A room no user is in: a TEXT to it is answered with ERROR not_member. */
#define NO_SUCH_ROOM ((int64_t) 1 << 50)

/* all_answered: every TEXT of the measurement answered (ACK or ERROR). */
static int all_answered(void *meas)
{
    const struct fleet_meas *m = meas;
    return m->acked + m->errors >= m->sent;
}

/* one_message_each: every open client sends one TEXT and gets its answer,
 * so a frame has passed each way over each connection. The TEXT goes to
 * NO_SUCH_ROOM: the relay checks membership and answers ERROR, nothing is
 * stored or fanned out (a stored message would tell each of the peer's
 * connections, and here a few users hold them all: n^2 frames). Returns
 * how many were sent (*answered: how many got their ERROR or ACK). */
static size_t one_message_each(struct fleet *f, size_t *answered)
{
    size_t n;
    struct fleet_client **cl = fleet_clients(f, &n);
    struct fleet_meas m;
    fleet_meas_init(&m);
    fleet_meas_begin(f, &m);
    for (size_t i = 0; i < n; i++) {
        int64_t room = cl[i]->room;
        cl[i]->room = NO_SUCH_ROOM;
        cl[i]->send_early = 1;
        fleet_send_text(f, cl[i]); /* refused (closed) clients send nothing */
        cl[i]->room = room;
    }
    fleet_run(f, all_answered, &m, 30000);
    fleet_meas_end(f);
    size_t sent = (size_t) m.sent;
    *answered = (size_t) (m.acked + m.errors);
    fleet_meas_deinit(&m);
    return sent;
}

static cJSON *run_connections(struct bench *b)
{
    cJSON *row = new_row("connections");
    char *text = NULL;
    double max = -1;
    if (chatapi_get_text(b->api, b->metrics_url, &text) == 0) {
        max = metric(text, "chat_relay_connections_max");
        free(text);
    }
    if (max <= 0)
        return fail_row(row, "connections", "relay /metrics has no chat_relay_connections_max");
    pid_t pids[MAX_RELAYS];
    int nrelays = relay_pids(b, pids);
    long rss0 = 0, rss1 = 0, rss2 = 0, rss3 = 0;
    if (nrelays == 0 || relay_rss_kib(b, &rss0) != 0)
        return fail_row(row, "connections", "no relay pid in var/run/relay.pid");

    /* with several relays on the port each has its own limit */
    max *= nrelays;
    cJSON_AddNumberToObject(row, "relays", nrelays);
    size_t tries = (size_t) max + (size_t) b->o.conns_extra;
    struct fleet_user **list = malloc(tries * sizeof(struct fleet_user *));
    struct fleet *f = fleet_new(b->api, b->epfd, b->o.msg_chars);
    if (!list || !f) {
        free(list);
        fleet_free(f);
        return fail_row(row, "connections", "out of memory");
    }
    for (size_t i = 0; i < tries; i++)
        list[i] = &b->users[i % b->nusers];
    settle(b, row, "settleSeconds");
    say("connections: opening %zu idle connections (relay limit %.0f)", tries, max);
    struct cpu_snap a, z;
    cpu_snap(b, &a);
    long self0 = 0, self1 = 0; /* the generator's own cost per connection, for comparison */
    procstat_rss_kib(getpid(), &self0);
    struct fleet_connect_result res;
    int64_t t0 = procstat_mono_ns();
    /* no ENTER: each one costs the relay a store lookup, and an idle
     * connection's memory is what is measured here */
    fleet_connect(f, &b->relay, list, tries, 0, 100, &res);
    int64_t t1 = procstat_mono_ns();
    free(list);
    fleet_run(f, never, NULL, 2000); /* idle: nothing sent, everything must stay open */
    size_t still_open = fleet_open_count(f);
    relay_rss_kib(b, &rss1);
    procstat_rss_kib(getpid(), &self1);
    cpu_snap(b, &z);
    /* then a message from each, answered, and idle again: what an idle
     * connection holds once traffic has passed over it. RSS keeps the
     * burst's peak too (freed heap stays resident): the growth is an upper
     * bound, not what each connection holds */
    say("connections: one message from each (to a room it is not in), then idle again");
    size_t answered = 0, sent = one_message_each(f, &answered);
    fleet_run(f, never, NULL, 2000);
    size_t open_after_traffic = fleet_open_count(f);
    relay_rss_kib(b, &rss3);
    fleet_close_all(f, 10000);
    fleet_run(f, never, NULL, 500);
    relay_rss_kib(b, &rss2);
    fleet_free(f);

    double per_conn = res.opened ? (double) (rss1 - rss0) * 1024.0 / (double) res.opened : 0;
    cJSON_AddNumberToObject(row, "relayLimit", max);
    cJSON_AddNumberToObject(row, "attempted", (double) tries);
    cJSON_AddNumberToObject(row, "held", (double) res.opened);
    cJSON_AddNumberToObject(row, "stillOpenAfterIdle", (double) still_open);
    cJSON_AddNumberToObject(row, "refused503", (double) res.refused_503);
    cJSON_AddNumberToObject(row, "refusedOther", (double) res.refused_other);
    cJSON_AddNumberToObject(row, "failed", (double) res.failed);
    if (res.first_failure[0])
        cJSON_AddStringToObject(row, "firstFailure", res.first_failure);
    cJSON_AddNumberToObject(row, "connectSeconds", (double) (t1 - t0) / 1e9);
    cJSON_AddNumberToObject(row, "relayRssBeforeKiB", (double) rss0);
    cJSON_AddNumberToObject(row, "relayRssHeldKiB", (double) rss1);
    cJSON_AddNumberToObject(row, "relayRssAfterCloseKiB", (double) rss2);
    cJSON_AddNumberToObject(row, "relayBytesPerConnection", per_conn);
    double per_conn_traffic =
        res.opened ? (double) (rss3 - rss0) * 1024.0 / (double) res.opened : 0;
    cJSON_AddNumberToObject(row, "trafficSent", (double) sent);
    cJSON_AddNumberToObject(row, "trafficAnswered", (double) answered);
    cJSON_AddNumberToObject(row, "openAfterTraffic", (double) open_after_traffic);
    cJSON_AddNumberToObject(row, "relayRssAfterTrafficKiB", (double) rss3);
    cJSON_AddNumberToObject(row, "relayRssGrowthPerConnectionAfterTraffic", per_conn_traffic);
    /* the generator holds the same connections with one wslay context and
     * a small struct each: a floor for what a wslay-based peer needs */
    cJSON_AddNumberToObject(row, "generatorBytesPerConnection",
                            res.opened ? (double) (self1 - self0) * 1024.0 / (double) res.opened
                                       : 0);
    add_cpu(row, &a, &z, 0);

    char result[160], lat[200], cpu[96];
    snprintf(result, sizeof result, "%zu held of %zu tried (%zu refused 503, %zu other)",
             res.opened, tries, res.refused_503, res.refused_other + res.failed);
    snprintf(lat, sizeof lat, "relay RSS %ld -> %ld KiB: %.0f B/conn; %ld KiB after a message each",
             rss0, rss1, per_conn, rss3);
    snprintf(cpu, sizeof cpu, "%.1f ms/connect",
             res.opened ? ms(t1 - t0) / (double) res.opened : 0);
    set_table(row, "3 connections (idle)", result, lat, cpu);
    return row;
}

/* ------------------------------------------------------------ steady rate */

static void latency_text(char *out, size_t cap, const cJSON *row)
{
    snprintf(out, cap, "e2e %.2f/%.2f/%.1f  ack %.2f/%.2f", num(row, "e2eP50Ms"),
             num(row, "e2eP99Ms"), num(row, "e2eMaxMs"), num(row, "ackP50Ms"),
             num(row, "ackP99Ms"));
}

static void cpu_text(char *out, size_t cap, const cJSON *row)
{
    snprintf(out, cap, "relay %.1f us (%.0f%%), ferretdb %.1f us (%.0f%%)",
             cpu_get(row, "relayUsPerMsg"), cpu_get(row, "relayCpuPct"),
             cpu_get(row, "ferretdbUsPerMsg"), cpu_get(row, "ferretdbCpuPct"));
}

/* measure_rate: one measured span of offered load on clients cl[0..n) of f. */
static cJSON *measure_rate(struct bench *b, struct fleet *f, struct fleet_client **cl, size_t n,
                           const char *name, double rate, double seconds)
{
    cJSON *row = new_row(name);
    struct fleet_meas m;
    struct cpu_snap a, z;
    struct relay_snap ra, rz;
    settle(b, row, "settleSeconds");
    fleet_meas_init(&m);
    relay_snap(b, &ra);
    cpu_snap(b, &a);
    fleet_meas_begin(f, &m);
    int complete = fleet_offer(f, cl, n, rate, seconds, 10000);
    fleet_meas_end(f);
    cpu_snap(b, &z);
    relay_snap(b, &rz);
    cJSON_AddNumberToObject(row, "offeredPerSec", rate);
    cJSON_AddNumberToObject(row, "seconds", seconds);
    cJSON_AddNumberToObject(row, "clients", (double) n);
    cJSON_AddBoolToObject(row, "allAnswered", complete);
    add_meas(row, &m);
    add_batches(row, &ra, &rz);
    add_cpu(row, &a, &z, (double) m.delivered);
    fleet_meas_deinit(&m);
    return row;
}

/* prepare_split: tworelay-sat's clients. The first half of the rooms has
 * one member on each relay (every message crosses Redis); of the other
 * half, the first quarter of all rooms has both members on the relay and
 * the last quarter both on relay2 (no Redis hop, but each relay's writer
 * and store share). */
static void prepare_split(struct bench *b, char *why, size_t cap)
{
    size_t rooms = b->nyusers / 2, cross = rooms / 2, local1 = (rooms - cross) / 2;
    struct fleet_user *u = b->yusers;
    say("prepare: tworelay-sat: %zu rooms across %s and %s, %zu on the first only, %zu on the "
        "second only",
        cross, b->relay.host, b->relay2.host, local1, rooms - cross - local1);
    if (!(b->split = fleet_new(b->api, b->epfd, b->o.msg_chars)))
        snprintf(why, cap, "out of memory");
    else if (connect_users(b, b->split, &b->relay, u, cross, 2, why, cap) == 0 &&
             connect_users(b, b->split, &b->relay2, u + 1, cross, 2, why, cap) == 0 &&
             connect_users(b, b->split, &b->relay, u + 2 * cross, 2 * local1, 1, why, cap) == 0 &&
             connect_users(b, b->split, &b->relay2, u + 2 * (cross + local1),
                           2 * (rooms - cross - local1), 1, why, cap) == 0 &&
             warm_up(b->split) != 0)
        snprintf(why, cap, "tworelay-sat clients: warm-up messages were not all answered");
}

/* prepare: connect and ENTER the long-lived fleets, one warm-up message
 * per client, while the store is still small. Runs once; a failure is
 * kept and reported by every scenario that needed the fleet. */
static void prepare(struct bench *b)
{
    if (b->prepared)
        return;
    b->prepared = 1;
    b->prepare_info = cJSON_CreateObject();
    int64_t t0 = procstat_mono_ns();
    char why[200] = "";
    if (b->want_direct) {
        say("prepare: %zu clients to the relay ENTER %zu rooms", b->nusers, b->nusers / 2);
        b->direct = fleet_new(b->api, b->epfd, b->o.msg_chars);
        if (!b->direct)
            snprintf(why, sizeof why, "out of memory");
        else if (connect_users(b, b->direct, &b->relay, b->users, b->nusers, 1, why, sizeof why) ==
                     0 &&
                 warm_up(b->direct) != 0)
            snprintf(why, sizeof why, "direct clients: warm-up messages were not all answered");
    }
    if (!why[0] && b->want_proxy) {
        say("prepare: %zu clients through %s ENTER %zu rooms", b->npusers, b->proxy.host,
            b->npusers / 2);
        b->proxied = fleet_new(b->api, b->epfd, b->o.msg_chars);
        if (!b->proxied)
            snprintf(why, sizeof why, "out of memory");
        else if (connect_users(b, b->proxied, &b->proxy, b->pusers, b->npusers, 1, why,
                               sizeof why) == 0 &&
                 warm_up(b->proxied) != 0)
            snprintf(why, sizeof why, "proxied clients: warm-up messages were not all answered");
    }
    if (!why[0] && b->want_cross) {
        say("prepare: %zu clients split over %s and %s ENTER %zu rooms", b->nxusers, b->relay.host,
            b->relay2.host, b->nxusers / 2);
        b->cross = fleet_new(b->api, b->epfd, b->o.msg_chars);
        if (!b->cross)
            snprintf(why, sizeof why, "out of memory");
        /* users 2k on one relay, 2k+1 on the other: every message crosses Redis */
        else if (connect_users(b, b->cross, &b->relay, b->xusers, b->nxusers / 2, 2, why,
                               sizeof why) == 0 &&
                 connect_users(b, b->cross, &b->relay2, b->xusers + 1, b->nxusers / 2, 2, why,
                               sizeof why) == 0 &&
                 warm_up(b->cross) != 0)
            snprintf(why, sizeof why, "two-relay clients: warm-up messages were not all answered");
    }
    if (!why[0] && b->nyusers)
        prepare_split(b, why, sizeof why);
    if (why[0])
        snprintf(b->prepare_error, sizeof b->prepare_error, "prepare: %s", why);
    cJSON_AddNumberToObject(b->prepare_info, "directClients", (double) b->nusers * b->want_direct);
    cJSON_AddNumberToObject(b->prepare_info, "proxiedClients", (double) b->npusers);
    cJSON_AddNumberToObject(b->prepare_info, "seconds", (double) (procstat_mono_ns() - t0) / 1e9);
    if (why[0])
        cJSON_AddStringToObject(b->prepare_info, "error", b->prepare_error);
}

static cJSON *run_steady(struct bench *b, const char *name, struct fleet *f, const char *via,
                         const char *label)
{
    if (!f || b->prepare_error[0])
        return fail_row(new_row(name), label,
                        b->prepare_error[0] ? b->prepare_error : "clients not prepared");
    size_t n;
    struct fleet_client **cl = fleet_clients(f, &n);
    size_t want = 2 * (size_t) b->o.rooms;
    if (n > want)
        n = want; /* the first `rooms` rooms: the rest stay idle */
    say("%s: %zu rooms x 2 clients via %s, %.0f msg/s for %.0f s", name, n / 2, via, b->o.rate,
        b->o.seconds);
    cJSON *row = measure_rate(b, f, cl, n, name, b->o.rate, b->o.seconds);
    char result[160], lat[160], cpu[160];
    snprintf(result, sizeof result, "%.0f msg/s delivered (%.0f/%.0f, %.0f errors)",
             num(row, "deliveredPerSec"), num(row, "delivered"), num(row, "sent"),
             num(row, "errors"));
    latency_text(lat, sizeof lat, row);
    cpu_text(cpu, sizeof cpu, row);
    set_table(row, label, result, lat, cpu);
    return row;
}

/* perf_start: `perf record -g -p <relay>` into path while the steps run. */
static pid_t perf_start(const struct bench *b, const char *path)
{
    pid_t pids[MAX_RELAYS];
    int n = relay_pids(b, pids);
    if (n == 0)
        return -1;
    char pidarg[MAX_RELAYS * 12] = "";
    for (int i = 0; i < n; i++)
        snprintf(pidarg + strlen(pidarg), sizeof pidarg - strlen(pidarg), "%s%d", i ? "," : "",
                 (int) pids[i]);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        /* DWARF unwinding: the release build keeps no frame pointers */
        execlp("perf", "perf", "record", "-F", "99", "--call-graph", "dwarf,8192", "-p", pidarg,
               "-o", path, (char *) NULL);
        _exit(127);
    }
    return pid;
}

static void perf_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGINT); /* perf writes its file on SIGINT */
    int st;
    waitpid(pid, &st, 0);
}

/* run_steps: the stepped part of saturation on the long-lived clients of
 * f; the row is called name. */
static cJSON *run_steps(struct bench *b, struct fleet *f, const char *name, const char *label)
{
    if (!f || b->prepare_error[0])
        return fail_row(new_row(name), label,
                        b->prepare_error[0] ? b->prepare_error : "clients not prepared");
    size_t n;
    struct fleet_client **cl = fleet_clients(f, &n);
    say("%s: %zu rooms x 2 clients, %.0f s per step, pass while p99 < %.0f ms and "
        "nothing is lost",
        name, n / 2, b->o.sat_seconds, b->o.sat_p99_ms);
    pid_t perf = b->o.perf_out[0] ? perf_start(b, b->o.perf_out) : -1;
    if (perf > 0)
        fleet_run(f, never, NULL, 300); /* let perf attach */

    cJSON *row = new_row(name);
    cJSON *steps = cJSON_AddArrayToObject(row, "steps");
    const cJSON *best = NULL, *peak = NULL;
    int failed = 0; /* steps run since the first that failed */
    for (int i = 0; i < b->o.n_sat_rates; i++) {
        double rate = b->o.sat_rates[i];
        cJSON *step = measure_rate(b, f, cl, n, "saturation-step", rate, b->o.sat_seconds);
        double p99 = num(step, "e2eP99Ms");
        int lossless = num(step, "delivered") == num(step, "sent") && num(step, "errors") == 0 &&
                       num(step, "sent") > 0;
        int pass = lossless && p99 < b->o.sat_p99_ms;
        cJSON_AddBoolToObject(step, "pass", pass);
        cJSON_AddItemToArray(steps, step);
        say("%s: offered %6.0f/s delivered %7.0f/s p99 %7.2f ms  relay %5.1f us/msg "
            "(%3.0f%%) ferretdb %5.1f us/msg (%3.0f%%) gen %3.0f%% batch %.1f write p99 <= %g ms "
            "%s",
            name, rate, num(step, "deliveredPerSec"), p99, cpu_get(step, "relayUsPerMsg"),
            cpu_get(step, "relayCpuPct"), cpu_get(step, "ferretdbUsPerMsg"),
            cpu_get(step, "ferretdbCpuPct"), cpu_get(step, "generatorCpuPct"),
            num(step, "meanBatchSize"), num(step, "storeWriteP99MsAtMost"), pass ? "pass" : "FAIL");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(step, "busy")) &&
            !cJSON_GetObjectItemCaseSensitive(row, "busy"))
            cJSON_AddBoolToObject(row, "busy", 1);
        if (!peak || num(step, "deliveredPerSec") > num(peak, "deliveredPerSec"))
            peak = step;
        if (pass && !failed) {
            best = step;
            continue;
        }
        /* past the latency bound: a few more steps find the peak rate, until
         * the store falls clearly behind (under 90% of the offered rate) */
        if (!failed)
            cJSON_AddNumberToObject(row, "firstFailingOfferedPerSec", rate);
        failed++;
        if (failed > 3 || num(step, "deliveredPerSec") < 0.9 * rate || !lossless)
            break;
    }
    perf_stop(perf);

    char result[200], lat[160], cpu[160];
    if (best) {
        cJSON_AddNumberToObject(row, "bestOfferedPerSec", num(best, "offeredPerSec"));
        cJSON_AddNumberToObject(row, "bestDeliveredPerSec", num(best, "deliveredPerSec"));
        cJSON_AddNumberToObject(row, "bestE2eP99Ms", num(best, "e2eP99Ms"));
        snprintf(result, sizeof result, "%.0f msg/s delivered at p99 < %.0f ms (peak %.0f)",
                 num(best, "deliveredPerSec"), b->o.sat_p99_ms, num(peak, "deliveredPerSec"));
        latency_text(lat, sizeof lat, best);
        cpu_text(cpu, sizeof cpu, best);
        cJSON_AddItemToObject(row, "cpu", cJSON_Duplicate(cJSON_GetObjectItem(best, "cpu"), 1));
    } else {
        snprintf(result, sizeof result, "no step passed (first: %.0f msg/s)",
                 b->o.n_sat_rates ? b->o.sat_rates[0] : 0);
        snprintf(lat, sizeof lat, "-");
        snprintf(cpu, sizeof cpu, "-");
    }
    if (peak)
        cJSON_AddNumberToObject(row, "peakDeliveredPerSec", num(peak, "deliveredPerSec"));
    if (b->o.perf_out[0])
        cJSON_AddStringToObject(row, "perfData", perf > 0 ? b->o.perf_out : "perf did not start");
    set_table(row, label, result, lat, cpu);
    return row;
}

/* ------------------------------------------------------------ saturation: cold start */

#define ANSWER_TIMEOUT_MS 10000 /* one message or ENTER, when waited for alone */
#define BURST_DRAIN_MS    20000 /* answers still due after the burst's load */
#define WARM_SAMPLES      10

/* warm_acks: `count` TEXTs from the warm room's first client, one at a
 * time, each waited for (ACK or ERROR, and the peer's MESSAGE) up to
 * timeout_ms; what came back as a new object. */
static cJSON *warm_acks(struct fleet *fw, int count, int timeout_ms)
{
    size_t n;
    struct fleet_client **cl = fleet_clients(fw, &n);
    struct fleet_meas m;
    int timed_out = 0;
    fleet_meas_init(&m);
    fleet_meas_begin(fw, &m);
    for (int i = 0; i < count && !timed_out; i++) {
        if (fleet_send_text(fw, cl[0]) != 0)
            break;
        timed_out = !fleet_run(fw, fleet_all_answered, fw, timeout_ms);
    }
    fleet_meas_end(fw);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "sent", (double) m.sent);
    cJSON_AddNumberToObject(o, "acked", (double) m.acked);
    cJSON_AddNumberToObject(o, "errors", (double) m.errors);
    cJSON_AddBoolToObject(o, "timedOut", timed_out);
    cJSON_AddNumberToObject(o, "timeoutMs", timeout_ms);
    cJSON_AddNumberToObject(o, "ackP50Ms", ms(latstats_pct(&m.ack, 50)));
    cJSON_AddNumberToObject(o, "ackMaxMs", ms(latstats_pct(&m.ack, 100)));
    cJSON_AddNumberToObject(o, "e2eMaxMs", ms(latstats_pct(&m.e2e, 100)));
    if (m.first_error[0])
        cJSON_AddStringToObject(o, "firstError", m.first_error);
    fleet_meas_deinit(&m);
    return o;
}

/* warm_text: how a warm_acks result reads in the table. */
static void warm_text(char *out, size_t cap, const cJSON *w)
{
    if (num(w, "acked") == num(w, "sent") && num(w, "sent") > 0)
        snprintf(out, cap, "%.1f", num(w, "ackMaxMs"));
    else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "timedOut")))
        snprintf(out, cap, "none in %.0f s", num(w, "timeoutMs") / 1000);
    else
        snprintf(out, cap, "%.0f of %.0f acked (%.0f ERROR)", num(w, "acked"), num(w, "sent"),
                 num(w, "errors"));
}

/* run_burst: the cold start of issue "message store at scale": rooms that
 * never had a message all start at once (every client ENTERs and sends
 * straight away, without waiting for ENTERED, as a page that opens does),
 * each connection offering sat_burst_rate msg/s for sat_burst_seconds.
 * Then a room that was warm before the burst sends: once right after the
 * load stops and WARM_SAMPLES times after the answers are in, so a relay
 * that wedges shows. */
static cJSON *run_burst(struct bench *b)
{
    char label[64], why[256] = "";
    size_t rooms = (size_t) b->o.sat_burst_rooms, n = 2 * rooms;
    snprintf(label, sizeof label, "2 saturation: %zu new rooms", rooms);
    cJSON *row = new_row("saturation-burst");
    struct fleet_user *users = calloc(n + 2, sizeof *users);
    struct fleet_user **list = malloc(n * sizeof(struct fleet_user *));
    struct fleet *fb = fleet_new(b->api, b->epfd, b->o.msg_chars);
    struct fleet *fw = fleet_new(b->api, b->epfd, b->o.msg_chars);
    struct fleet_meas m;
    struct latstats enter;
    fleet_meas_init(&m);
    latstats_init(&enter);
    if (!users || !list || !fb || !fw) {
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    say("saturation burst: signing in %zu users for %zu new rooms and one warm room", n + 2, rooms);
    if (login_pairs(b, users, n + 2, "u", why, sizeof why) != 0)
        goto out;
    /* the warm room: its seq is known to the relay before the burst */
    if (connect_users(b, fw, &b->relay, users + n, 2, 1, why, sizeof why) != 0)
        goto out;
    if (warm_up(fw) != 0) {
        snprintf(why, sizeof why, "the warm room's first messages were not answered");
        goto out;
    }
    say("saturation burst: opening %zu connections (no ENTER yet)", n);
    for (size_t i = 0; i < n; i++)
        list[i] = &users[i];
    struct fleet_connect_result res;
    if (fleet_connect(fb, &b->relay, list, n, 0, 100, &res) != 0 || res.opened == 0) {
        snprintf(why, sizeof why, "burst connections: %zu of %zu opened: %.150s", res.opened, n,
                 res.first_failure);
        goto out;
    }
    cJSON_AddNumberToObject(row, "rooms", (double) rooms);
    cJSON_AddNumberToObject(row, "connectionsTried", (double) n);
    cJSON_AddNumberToObject(row, "connectionsOpen", (double) res.opened);
    cJSON_AddNumberToObject(row, "connectionsRefused503", (double) res.refused_503);
    size_t ncl;
    struct fleet_client **cl = fleet_clients(fb, &ncl);
    double rate = b->o.sat_burst_rate * (double) res.opened;

    settle(b, row, "settleSeconds");
    say("saturation burst: %zu rooms start at once: ENTER and %.0f msg/s per connection for "
        "%.0f s (%.0f msg/s offered)",
        rooms, b->o.sat_burst_rate, b->o.sat_burst_seconds, rate);
    struct cpu_snap a, z;
    struct relay_snap ra, rz;
    relay_snap(b, &ra);
    cpu_snap(b, &a);
    fleet_meas_begin(fb, &m);
    int64_t t0 = procstat_mono_ns();
    for (size_t i = 0; i < ncl; i++) {
        cl[i]->send_early = 1;
        if (!cl[i]->closed)
            fleet_send_enter(fb, cl[i], -1);
    }
    fleet_offer(fb, cl, ncl, rate, b->o.sat_burst_seconds, 0);
    int64_t t_end = procstat_mono_ns();
    /* the burst's answers keep arriving meanwhile (one epoll set), so the
     * warm room waits at most as long as the burst's drain */
    cJSON *right_after = warm_acks(fw, 1, BURST_DRAIN_MS);
    int64_t left_ms = BURST_DRAIN_MS - (procstat_mono_ns() - t_end) / 1000000;
    int drained = fleet_run(fb, fleet_all_answered, fb, left_ms > 0 ? (int) left_ms : 1);
    int64_t t_drained = procstat_mono_ns();
    fleet_meas_end(fb);
    cpu_snap(b, &z);
    relay_snap(b, &rz);
    cJSON *after_drain = warm_acks(fw, WARM_SAMPLES, ANSWER_TIMEOUT_MS);

    size_t entered = 0, enter_refused = 0;
    for (size_t i = 0; i < ncl; i++) {
        if (cl[i]->entered) {
            entered++;
            latstats_add(&enter, cl[i]->t_entered - t0);
        }
        enter_refused += cl[i]->enter_failed;
    }
    cJSON_AddNumberToObject(row, "offeredPerSec", rate);
    cJSON_AddNumberToObject(row, "seconds", b->o.sat_burst_seconds);
    cJSON_AddBoolToObject(row, "allAnswered", drained);
    cJSON_AddNumberToObject(row, "drainMs", ms(t_drained - t_end));
    add_meas(row, &m);
    /* stored = ACKed: the relay ACKs only what the store confirmed */
    double span = (double) ((m.t_last_recv > t_end ? m.t_last_recv : t_end) - t0) / 1e9;
    cJSON_AddNumberToObject(row, "storedPerSec", span > 0 ? (double) m.acked / span : 0);
    cJSON_AddNumberToObject(row, "unanswered",
                            (double) m.sent - (double) m.acked -
                                (double) (m.errors - m.enter_errors));
    cJSON_AddNumberToObject(row, "entered", (double) entered);
    cJSON_AddNumberToObject(row, "enterRefused", (double) enter_refused);
    cJSON_AddNumberToObject(row, "enterP50Ms", ms(latstats_pct(&enter, 50)));
    cJSON_AddNumberToObject(row, "enterP99Ms", ms(latstats_pct(&enter, 99)));
    cJSON_AddItemToObject(row, "warmRightAfter", right_after);
    cJSON_AddItemToObject(row, "warmAfterDrain", after_drain);
    add_batches(row, &ra, &rz);
    add_cpu(row, &a, &z, (double) m.delivered);

    char result[200], lat[200], cpu[200], codes[120] = "", w1[40], w2[40];
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(row, "errorCodes");
    for (const cJSON *e = ec ? ec->child : NULL; e; e = e->next)
        snprintf(codes + strlen(codes), sizeof codes - strlen(codes), " %s %.0f", e->string,
                 e->valuedouble);
    snprintf(result, sizeof result, "%.0f sent, %.0f stored (%.0f/s), %.0f delivered/s; ERRORs:%s",
             num(row, "sent"), num(row, "acked"), num(row, "storedPerSec"),
             num(row, "deliveredPerSec"), codes[0] ? codes : " none");
    warm_text(w1, sizeof w1, right_after);
    warm_text(w2, sizeof w2, after_drain);
    snprintf(lat, sizeof lat, "ack %.1f/%.1f; warm room ack %s then %s", num(row, "ackP50Ms"),
             num(row, "ackP99Ms"), w1, w2);
    snprintf(cpu, sizeof cpu, "ENTERED %zu/%zu p99 %.0f ms; relay %.0f%%, ferretdb %.0f%%", entered,
             ncl, num(row, "enterP99Ms"), cpu_get(row, "relayCpuPct"),
             cpu_get(row, "ferretdbCpuPct"));
    set_table(row, label, result, lat, cpu);
    say("saturation burst: %s", result);
    say("saturation burst: %s; %s", lat, cpu);
out:
    fleet_meas_deinit(&m);
    latstats_deinit(&enter);
    fleet_free(fb); /* closes at once: no closing handshake with a relay that may be stuck */
    fleet_free(fw);
    for (size_t i = 0; users && i < n + 2; i++)
        free(users[i].jwt);
    free(users);
    free(list);
    if (why[0])
        return fail_row(row, label, why);
    return row;
}

static cJSON *run_saturation(struct bench *b)
{
    cJSON *row = b->o.n_sat_rates > 0
                     ? run_steps(b, b->direct, "saturation", "2 saturation (p99 < bound)")
                     : new_row("saturation");
    if (b->o.sat_burst_rooms > 0) {
        cJSON *burst = run_burst(b);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(burst, "error");
        if (cJSON_IsString(err) && !cJSON_GetObjectItemCaseSensitive(row, "error"))
            cJSON_AddStringToObject(row, "error", err->valuestring);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(row, "parts"), burst);
    }
    return row;
}

/* ------------------------------------------------------------ recovery */

struct window {
    struct fleet_meas *m;
    uint64_t total, window;
};

static int window_open(void *arg)
{
    struct window *w = arg;
    uint64_t answered = w->m->acked + w->m->errors;
    if (answered >= w->m->sent && w->m->sent >= w->total)
        return 1;
    return w->m->sent < w->total && w->m->sent - answered < w->window;
}

struct replay_wait {
    struct fleet_meas *m;
    uint64_t want;
};

static int replay_done(void *arg)
{
    struct replay_wait *w = arg;
    return w->m->messages_any >= w->want;
}

/* fill_room: rec[0] stores `count` messages in its room, pipelined with a
 * window of unacknowledged sends. */
static int fill_room(struct bench *b, struct fleet *f, uint64_t count, cJSON *row)
{
    size_t n;
    struct fleet_client **cl = fleet_clients(f, &n);
    struct fleet_meas m;
    struct cpu_snap a, z;
    fleet_meas_init(&m);
    cpu_snap(b, &a);
    fleet_meas_begin(f, &m);
    struct window w = {&m, count, 256};
    while (m.acked + m.errors < count) {
        while (m.sent < count && m.sent - m.acked - m.errors < w.window)
            if (fleet_send_text(f, cl[0]) != 0)
                break;
        if (!fleet_run(f, window_open, &w, 30000) || cl[0]->closed)
            break;
    }
    fleet_meas_end(f);
    cpu_snap(b, &z);
    double secs = (double) (m.t_last_recv - m.t_start) / 1e9;
    cJSON *fill = cJSON_AddObjectToObject(row, "fill");
    cJSON_AddNumberToObject(fill, "sent", (double) m.sent);
    cJSON_AddNumberToObject(fill, "acked", (double) m.acked);
    cJSON_AddNumberToObject(fill, "errors", (double) m.errors);
    cJSON_AddNumberToObject(fill, "window", (double) w.window);
    cJSON_AddNumberToObject(fill, "ackedPerSec", secs > 0 ? (double) m.acked / secs : 0);
    cJSON_AddNumberToObject(fill, "ackP50Ms", ms(latstats_pct(&m.ack, 50)));
    cJSON_AddNumberToObject(fill, "ackP99Ms", ms(latstats_pct(&m.ack, 99)));
    add_cpu(fill, &a, &z, (double) m.acked);
    b->rec_room_msgs += (int64_t) m.acked;
    int ok = m.acked == count && m.errors == 0;
    if (!ok && m.first_error[0])
        cJSON_AddStringToObject(fill, "firstError", m.first_error);
    fleet_meas_deinit(&m);
    return ok ? 0 : ERR_UNAVAILABLE;
}

static cJSON *run_recovery(struct bench *b)
{
    const char *label = "4 recovery (ENTER since)";
    cJSON *row = new_row("recovery");
    uint64_t count = (uint64_t) b->o.recovery_msgs;
    struct fleet *fa = fleet_new(b->api, b->epfd, b->o.msg_chars);
    struct fleet *fb = fleet_new(b->api, b->epfd, b->o.msg_chars);
    struct fleet_user *ua = &b->rec[0], *ub = &b->rec[1];
    struct fleet_connect_result res;
    size_t n;
    char why[256] = "";
    if (!fa || !fb) {
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    /* B is in the room, notes where it is, and goes away */
    if (fleet_connect(fb, &b->relay, &ub, 1, 1, 1, &res) != 0 || res.opened != 1) {
        snprintf(why, sizeof why, "B did not connect: %s", res.first_failure);
        goto out;
    }
    int64_t since = fleet_clients(fb, &n)[0]->entered_last_seq;
    fleet_close_all(fb, 5000);

    settle(b, row, "settleSeconds");
    say("recovery: A stores %llu messages while B is away", (unsigned long long) count);
    if (fleet_connect(fa, &b->relay, &ua, 1, 1, 1, &res) != 0 || res.opened != 1) {
        snprintf(why, sizeof why, "A did not connect: %s", res.first_failure);
        goto out;
    }
    if (fill_room(b, fa, count, row) != 0) {
        snprintf(why, sizeof why, "A's messages were not all stored");
        goto out;
    }

    /* B comes back and asks for everything after `since` */
    if (fleet_connect(fb, &b->relay, &ub, 1, 0, 1, &res) != 0 || res.opened != 1) {
        snprintf(why, sizeof why, "B did not reconnect: %s", res.first_failure);
        goto out;
    }
    struct fleet_client *cb = fleet_clients(fb, &n)[0];
    cb->last_seq = since;
    settle(b, row, "settleBeforeReplaySeconds");
    struct fleet_meas m;
    struct cpu_snap a, z;
    fleet_meas_init(&m);
    cpu_snap(b, &a);
    fleet_meas_begin(fb, &m);
    int64_t t0 = procstat_mono_ns();
    fleet_send_enter(fb, cb, since);
    struct replay_wait w = {&m, count};
    int complete = fleet_run(fb, replay_done, &w, 120000);
    fleet_meas_end(fb);
    cpu_snap(b, &z);

    double secs = (double) (m.t_last_any - t0) / 1e9;
    cJSON_AddNumberToObject(row, "since", (double) since);
    cJSON_AddNumberToObject(row, "missed", (double) count);
    cJSON_AddNumberToObject(row, "replayed", (double) m.messages_any);
    cJSON_AddNumberToObject(row, "outOfOrder", (double) m.out_of_order);
    cJSON_AddNumberToObject(row, "lastSeq", (double) cb->last_seq);
    cJSON_AddBoolToObject(row, "complete", complete);
    cJSON_AddNumberToObject(row, "enteredMs", cb->entered ? ms(cb->t_entered - t0) : -1);
    cJSON_AddNumberToObject(row, "replayMs", secs * 1000);
    cJSON_AddNumberToObject(row, "replayedPerSec", secs > 0 ? (double) m.messages_any / secs : 0);
    cJSON_AddNumberToObject(row, "errors", (double) m.errors);
    if (m.first_error[0])
        cJSON_AddStringToObject(row, "firstError", m.first_error);
    add_cpu(row, &a, &z, (double) m.messages_any);

    char result[200], lat[160], cpu[160];
    snprintf(result, sizeof result, "%llu of %llu replayed in %.0f ms (%.0f msg/s)%s",
             (unsigned long long) m.messages_any, (unsigned long long) count, secs * 1000,
             num(row, "replayedPerSec"), m.out_of_order ? " OUT OF ORDER" : "");
    snprintf(lat, sizeof lat, "ENTERED after %.1f ms; fill %.0f acks/s", num(row, "enteredMs"),
             num(cJSON_GetObjectItem(row, "fill"), "ackedPerSec"));
    snprintf(cpu, sizeof cpu, "relay %.1f us/msg, ferretdb %.1f us/msg",
             cpu_get(row, "relayUsPerMsg"), cpu_get(row, "ferretdbUsPerMsg"));
    set_table(row, label, result, lat, cpu);
    fleet_meas_deinit(&m);
    b->rec_ready = 1;
out:
    fleet_free(fa);
    fleet_free(fb);
    if (why[0])
        return fail_row(row, label, why);
    return row;
}

/* ------------------------------------------------------------ http (wrk) */

/* wrk_value: a duration as wrk prints it ("812.00us", "1.23ms", "2.00s") in ms. */
static double wrk_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (strncmp(end, "us", 2) == 0)
        return v / 1000;
    if (strncmp(end, "ms", 2) == 0)
        return v;
    if (*end == 's')
        return v * 1000;
    if (*end == 'm')
        return v * 60000;
    return -1;
}

/* run_wrk: wrk with a Lua script for method, body and headers; the parsed
 * numbers go into row. Returns 0, or ERR_IO when wrk did not run. */
static int run_wrk(struct bench *b, const char *method, const char *path, const char *jwt,
                   int nconns, cJSON *row)
{
    char script[] = "/tmp/chat-bench-wrk-XXXXXX.lua";
    int fd = mkstemps(script, 4);
    if (fd < 0)
        return ERR_IO;
    FILE *sf = fdopen(fd, "w");
    if (!sf) {
        close(fd);
        unlink(script);
        return ERR_IO;
    }
    fprintf(sf, "wrk.method = \"%s\"\n", method);
    fprintf(sf, "wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", jwt);
    if (strcmp(method, "POST") == 0) {
        fprintf(sf, "wrk.body = \"{}\"\n");
        fprintf(sf, "wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    }
    fclose(sf);

    char url[600], dur[32], conns[32];
    snprintf(url, sizeof url, "%s%s", b->o.web, path);
    snprintf(dur, sizeof dur, "%ds", b->o.http_seconds);
    snprintf(conns, sizeof conns, "%d", nconns);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        unlink(script);
        return ERR_IO;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        /* a long timeout: a slow page is a slow page, not a lost one */
        execlp("wrk", "wrk", "-t2", "-c", conns, "-d", dur, "--timeout", "30s", "--latency", "-s",
               script, url, (char *) NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char out[16384];
    size_t len = 0;
    ssize_t r;
    while (pid > 0 && (r = read(pipefd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t) r;
    out[len] = '\0';
    close(pipefd[0]);
    int st = 0;
    if (pid > 0)
        waitpid(pid, &st, 0);
    unlink(script);
    if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        cJSON_AddStringToObject(row, "wrkOutput", out);
        return ERR_IO;
    }
    const char *p;
    double rps = -1, non2xx = 0, reqs = 0;
    if ((p = strstr(out, "Requests/sec:")))
        rps = strtod(p + 13, NULL);
    if ((p = strstr(out, "Non-2xx or 3xx responses:")))
        non2xx = strtod(p + 25, NULL);
    if ((p = strstr(out, " requests in "))) {
        while (p > out && p[-1] >= '0' && p[-1] <= '9')
            p--;
        reqs = strtod(p, NULL);
    }
    if ((p = strstr(out, "Socket errors:"))) {
        char line[160];
        snprintf(line, sizeof line, "%.*s", (int) strcspn(p, "\n"), p);
        cJSON_AddStringToObject(row, "socketErrors", line);
    }
    cJSON_AddStringToObject(row, "wrkOutput", out);
    cJSON_AddNumberToObject(row, "requests", reqs);
    cJSON_AddNumberToObject(row, "perSec", rps);
    cJSON_AddNumberToObject(row, "non2xx", non2xx);
    static const char *const pcts[] = {"50%", "99%"};
    static const char *const keys[] = {"p50Ms", "p99Ms"};
    for (int i = 0; i < 2; i++) {
        char pat[16];
        snprintf(pat, sizeof pat, "\n     %s", pcts[i]);
        if ((p = strstr(out, pat))) {
            p += strlen(pat);
            while (*p == ' ')
                p++;
            cJSON_AddNumberToObject(row, keys[i], wrk_ms(p));
        }
    }
    return 0;
}

static cJSON *run_http_one(struct bench *b, const char *name, const char *label, const char *method,
                           const char *path, int nconns, const char *unit)
{
    cJSON *row = new_row(name);
    struct cpu_snap a, z;
    settle(b, row, "settleSeconds");
    say("%s: wrk %s %s, %d connections, %d s", name, method, path, nconns, b->o.http_seconds);
    cJSON_AddNumberToObject(row, "connections", nconns);
    cpu_snap(b, &a);
    if (run_wrk(b, method, path, b->rec[0].jwt, nconns, row) != 0)
        return fail_row(row, label, "wrk did not run or failed (see wrkOutput)");
    cpu_snap(b, &z);
    add_cpu_per(row, &a, &z, num(row, "requests"), "Request");
    char result[160], lat[160], cpu[160];
    snprintf(result, sizeof result, "%.0f %s/s (%.0f non-2xx)", num(row, "perSec"), unit,
             num(row, "non2xx"));
    snprintf(lat, sizeof lat, "p50 %.2f  p99 %.2f", num(row, "p50Ms"), num(row, "p99Ms"));
    if (num(row, "non2xx") > 0 || cJSON_GetObjectItemCaseSensitive(row, "socketErrors"))
        snprintf(result + strlen(result), sizeof result - strlen(result), " ERRORS");
    snprintf(cpu, sizeof cpu, "lighttpd %.0f%%, mariadb %.0f%%, ferretdb %.0f%%",
             cpu_get(row, "lighttpdCpuPct"), cpu_get(row, "mariadbCpuPct"),
             cpu_get(row, "ferretdbCpuPct"));
    set_table(row, label, result, lat, cpu);
    return row;
}

static cJSON *run_http(struct bench *b)
{
    cJSON *row = new_row("http");
    cJSON *parts = cJSON_AddArrayToObject(row, "parts");
    if (!b->rec_ready)
        say("http: the recovery scenario did not fill the room; history pages may be short");
    char path[96];
    snprintf(path, sizeof path, "/api/v1/chat/%lld?limit=50", (long long) b->rec[0].room);
    cJSON_AddNumberToObject(row, "historyRoomMessages", (double) b->rec_room_msgs);
    /* one page by hand first: wrk counts answers, this checks they hold messages */
    int got = -1;
    if (chatapi_history_page(b->api, b->rec[0].jwt, path, &got) != 0)
        say("http: history page: %s", chatapi_error(b->api));
    cJSON_AddNumberToObject(row, "historyPageMessages", got);
    cJSON_AddItemToArray(parts, run_http_one(b, "http-history", "5 history pages (50 msgs)", "GET",
                                             path, b->o.history_conns, "pages"));
    cJSON_AddItemToArray(parts, run_http_one(b, "http-socket-token", "5 socket tokens", "POST",
                                             "/api/v1/socket-token", b->o.http_conns, "tokens"));
    return row;
}

/* ------------------------------------------------------------ bigstore */

#define STORE_BATCH  500 /* messages per insertMany while seeding */
#define STORE_MISSED 100 /* messages a reconnecting client of the big room has missed */
#define PAGE         50  /* history page size */
#define MIN_SAMPLES  3

/* One latency probe of the bigstore scenario. */
struct probe {
    const char *key;   /* in the results: probes.<key> */
    const char *label; /* in the table */
    double goal_ms;    /* the p99 it should stay at or under */
    struct latstats ls;
    int64_t t0;
    char why[200]; /* why it stopped early, "" when it did not */
};

static void probe_init(struct probe *p, const char *key, const char *label, double goal_ms)
{
    memset(p, 0, sizeof *p);
    p->key = key;
    p->label = label;
    p->goal_ms = goal_ms;
    latstats_init(&p->ls);
    p->t0 = procstat_mono_ns();
}

/* probe_more: 1 while probe p, `taken` samples in, should take another:
 * under the sample cap, no failure, and within the time budget or still
 * under MIN_SAMPLES (a store that takes seconds per query still gets a
 * p50). */
static int probe_more(const struct bench *b, const struct probe *p, size_t taken)
{
    if (p->why[0] || taken >= (size_t) b->o.store_samples)
        return 0;
    return taken < MIN_SAMPLES || (double) (procstat_mono_ns() - p->t0) / 1e9 < b->o.store_budget;
}

/* probe_json: {"label", "samples", "p50Ms", "p99Ms", "maxMs", "meanMs",
 * "goalP99Ms", "error"?}; frees the samples. */
static cJSON *probe_json(struct probe *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", p->label);
    cJSON_AddNumberToObject(o, "samples", (double) p->ls.n);
    cJSON_AddNumberToObject(o, "p50Ms", ms(latstats_pct(&p->ls, 50)));
    cJSON_AddNumberToObject(o, "p99Ms", ms(latstats_pct(&p->ls, 99)));
    cJSON_AddNumberToObject(o, "maxMs", ms(latstats_pct(&p->ls, 100)));
    cJSON_AddNumberToObject(o, "meanMs", latstats_mean(&p->ls) / 1e6);
    cJSON_AddNumberToObject(o, "goalP99Ms", p->goal_ms);
    cJSON_AddNumberToObject(o, "seconds", (double) (procstat_mono_ns() - p->t0) / 1e9);
    if (p->why[0])
        cJSON_AddStringToObject(o, "error", p->why);
    latstats_deinit(&p->ls);
    return o;
}

/* probe_history: GET path through the web server, expecting `want`
 * messages per page. */
static void probe_history(struct bench *b, struct probe *p, const char *jwt, const char *path,
                          int want)
{
    say("bigstore: %s: GET %s", p->label, path);
    p->t0 = procstat_mono_ns();
    while (probe_more(b, p, p->ls.n)) {
        int got = -1;
        int64_t t = procstat_mono_ns();
        if (chatapi_history_page(b->api, jwt, path, &got) != 0) {
            snprintf(p->why, sizeof p->why, "%s", chatapi_error(b->api));
            break;
        }
        latstats_add(&p->ls, procstat_mono_ns() - t);
        if (got != want)
            snprintf(p->why, sizeof p->why, "the page held %d messages, not %d", got, want);
    }
}

/* probe_fleet: one client per room of users[0], users[2], ... (n rooms),
 * connected without ENTER, for probes that need a fresh room per sample. */
static int probe_fleet(struct bench *b, struct fleet *f, struct fleet_user *users, size_t n,
                       struct probe *p)
{
    struct fleet_user **list = malloc(n * sizeof(struct fleet_user *));
    if (!list) {
        snprintf(p->why, sizeof p->why, "out of memory");
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = &users[2 * i];
    struct fleet_connect_result res;
    int rc = fleet_connect(f, &b->relay, list, n, 0, 100, &res);
    free(list);
    if (rc != 0 || res.opened != n) {
        snprintf(p->why, sizeof p->why, "%zu of %zu clients connected: %.120s", res.opened, n,
                 res.first_failure);
        return ERR_UNAVAILABLE;
    }
    return 0;
}

static int client_entered(void *arg)
{
    struct fleet_client *c = arg;
    return c->entered || c->enter_failed || c->closed;
}

/* probe_enter: ENTER of a room the relay has never seen, one client and
 * room per sample, time to ENTERED. */
static void probe_enter(struct bench *b, struct probe *p, struct fleet_user *users, size_t rooms)
{
    struct fleet *f = fleet_new(b->api, b->epfd, b->o.msg_chars);
    size_t n;
    if (!f || probe_fleet(b, f, users, rooms, p) != 0)
        goto out;
    say("bigstore: %s", p->label);
    struct fleet_client **cl = fleet_clients(f, &n);
    p->t0 = procstat_mono_ns();
    for (size_t i = 0; i < n && probe_more(b, p, p->ls.n); i++) {
        int64_t t = procstat_mono_ns();
        fleet_send_enter(f, cl[i], -1);
        fleet_run(f, client_entered, cl[i], ANSWER_TIMEOUT_MS);
        if (!cl[i]->entered) {
            snprintf(p->why, sizeof p->why, "%s",
                     cl[i]->enter_failed ? cl[i]->enter_error : "no ENTERED in time");
            break;
        }
        latstats_add(&p->ls, cl[i]->t_entered - t);
    }
out:
    if (!f)
        snprintf(p->why, sizeof p->why, "out of memory");
    fleet_free(f);
}

/* sends_answered: every TEXT of the measurement has its ACK or ERROR (no
 * peer: no MESSAGE is awaited). */
static int sends_answered(void *arg)
{
    struct fleet_meas *m = arg;
    return m->acked + m->errors >= m->sent;
}

/* probe_first_text: the first TEXT of a room that has none, sent without
 * ENTER (the writer finds the room's seq on its own), time to ACK. */
static void probe_first_text(struct bench *b, struct probe *p, struct fleet_user *users,
                             size_t rooms)
{
    struct fleet *f = fleet_new(b->api, b->epfd, b->o.msg_chars);
    struct fleet_meas m;
    size_t n;
    fleet_meas_init(&m);
    if (!f || probe_fleet(b, f, users, rooms, p) != 0)
        goto out;
    say("bigstore: %s", p->label);
    struct fleet_client **cl = fleet_clients(f, &n);
    fleet_meas_begin(f, &m);
    p->t0 = procstat_mono_ns();
    for (size_t i = 0; i < n && probe_more(b, p, m.acked); i++) {
        cl[i]->send_early = 1;
        if (fleet_send_text(f, cl[i]) != 0 ||
            !fleet_run(f, sends_answered, &m, ANSWER_TIMEOUT_MS)) {
            snprintf(p->why, sizeof p->why, "no ACK in time");
            break;
        }
        if (m.errors) {
            snprintf(p->why, sizeof p->why, "%s", m.first_error);
            break;
        }
    }
    fleet_meas_end(f);
    /* the ACK latencies, from the send times in the tags */
    for (size_t i = 0; i < m.ack.n; i++)
        latstats_add(&p->ls, m.ack.ns[i]);
out:
    if (!f)
        snprintf(p->why, sizeof p->why, "out of memory");
    fleet_meas_deinit(&m);
    fleet_free(f);
}

struct replay_until {
    struct fleet_meas *m;
    uint64_t want;
};

static int replayed(void *arg)
{
    struct replay_until *w = arg;
    return w->m->messages_any >= w->want;
}

/* probe_since: a member of the big room reconnects having missed its last
 * STORE_MISSED messages (all but the first in a smaller room): ENTER since, time to the first
 * MESSAGE; the whole replay is awaited and checked before the next sample. */
static void probe_since(struct bench *b, struct probe *p, struct fleet_user *member,
                        int64_t last_seq)
{
    struct fleet *f = fleet_new(b->api, b->epfd, b->o.msg_chars);
    uint64_t missed = last_seq > STORE_MISSED ? STORE_MISSED : (uint64_t) last_seq - 1;
    int64_t since = last_seq - (int64_t) missed;
    if (!f) {
        snprintf(p->why, sizeof p->why, "out of memory");
        return;
    }
    say("bigstore: %s (since %lld)", p->label, (long long) since);
    p->t0 = procstat_mono_ns();
    while (probe_more(b, p, p->ls.n)) {
        struct fleet_connect_result res;
        size_t n;
        if (fleet_connect(f, &b->relay, &member, 1, 0, 1, &res) != 0 || res.opened != 1) {
            snprintf(p->why, sizeof p->why, "did not connect: %.150s", res.first_failure);
            break;
        }
        struct fleet_client *c = fleet_clients(f, &n)[0];
        struct fleet_meas m;
        fleet_meas_init(&m);
        fleet_meas_begin(f, &m);
        int64_t t = procstat_mono_ns();
        fleet_send_enter(f, c, since);
        struct replay_until w = {&m, 1};
        int first = fleet_run(f, replayed, &w, ANSWER_TIMEOUT_MS);
        w.want = missed;
        int all = first && fleet_run(f, replayed, &w, ANSWER_TIMEOUT_MS);
        fleet_meas_end(f);
        if (first)
            latstats_add(&p->ls, m.t_first_any - t);
        if (!all || m.messages_any != missed || m.out_of_order || c->last_seq != last_seq)
            snprintf(p->why, sizeof p->why,
                     "replay gave %llu messages (%llu out of order), last seq %lld, want %llu up "
                     "to %lld%s%.80s",
                     (unsigned long long) m.messages_any, (unsigned long long) m.out_of_order,
                     (long long) c->last_seq, (unsigned long long) missed, (long long) last_seq,
                     m.first_error[0] ? ": " : "", m.first_error);
        fleet_meas_deinit(&m);
        fleet_close_all(f, 2000);
    }
    fleet_free(f);
}

/* store_seed: fill the store after wiping it: the rooms' members signed
 * in and the rooms opened through the API, the messages written straight
 * to MongoDB, the seq columns raised when the schema has them, the marker
 * written last. */
static int store_seed(struct bench *b, const struct storeplan *plan, struct benchstore_marker *mk,
                      char *why, size_t cap)
{
    int nrooms = storeplan_room_count(plan), rc, seq_cols = 0;
    struct fleet_user *u = calloc(2 * (size_t) nrooms, sizeof *u);
    struct chat_message *msgs = calloc(STORE_BATCH, sizeof *msgs);
    char(*ids)[48] = calloc(STORE_BATCH, sizeof *ids);
    char filler[4001];
    int64_t t0 = procstat_mono_ns();
    rc = ERR_NOMEM;
    if (!u || !msgs || !ids) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    if ((rc = benchstore_seq_columns(b->store, &seq_cols)) != 0) {
        snprintf(why, cap, "chat_rooms seq columns: %s", err_str(rc));
        goto out;
    }
    if ((rc = benchstore_wipe(b->store)) != 0) {
        snprintf(why, cap, "emptying the store: %s", err_str(rc));
        goto out;
    }
    memset(mk, 0, sizeof *mk);
    mk->plan = *plan;
    snprintf(mk->prefix, sizeof mk->prefix, "%s_s", b->prefix);
    say("bigstore: seeding %s: signing in %d users and opening %d rooms",
        benchstore_database(b->store), 2 * nrooms, nrooms);
    for (int i = 0; i < 2 * nrooms; i++) {
        char suffix[24];
        snprintf(suffix, sizeof suffix, "s%d", i);
        if ((rc = login_user(b, &u[i], suffix, why, cap)) != 0 ||
            (i % 2 == 1 && (rc = pair_up(b, &u[i - 1], &u[i], why, cap)) != 0))
            goto out;
        if (i % 2 == 1) {
            int64_t room = u[i].room;
            if (!mk->first_room || room < mk->first_room)
                mk->first_room = room;
            if (room > mk->last_room)
                mk->last_room = room;
        }
        if ((i + 1) % 500 == 0)
            say("bigstore: seeding: %d of %d users", i + 1, 2 * nrooms);
    }
    mk->big_room = u[0].room;

    int filler_len =
        b->o.msg_chars < (int) sizeof filler ? b->o.msg_chars : (int) sizeof filler - 1;
    static const char words[] = "the quick brown fox jumps over the lazy dog ";
    for (int i = 0; i < filler_len; i++)
        filler[i] = words[(size_t) i % (sizeof words - 1)];
    filler[filler_len] = '\0';
    int64_t base_ms = timefmt_now_ms() - plan->messages; /* one ms apart, all in the past */
    struct storeplan_cursor cur;
    storeplan_start(&cur);
    int64_t next_report = plan->messages / 10;
    for (;;) {
        size_t k = 0;
        int room;
        int64_t seq;
        while (k < STORE_BATCH && storeplan_next(plan, &cur, &room, &seq)) {
            struct chat_message *m = &msgs[k];
            memset(m, 0, sizeof *m);
            m->room_id = u[2 * room].room;
            m->seq = seq;
            m->sender_id = u[2 * room + (int) (seq % 2)].id;
            m->type = CHAT_TEXT;
            m->message = filler;
            snprintf(ids[k], sizeof ids[k], "seed.%lld.%lld", (long long) m->room_id,
                     (long long) seq);
            m->client_msg_id = ids[k];
            m->created_at_ms = base_ms + cur.done;
            k++;
        }
        if (k == 0)
            break;
        if ((rc = benchstore_insert(b->store, msgs, k)) != 0) {
            snprintf(why, cap, "insertMany after %lld messages: %s",
                     (long long) cur.done - (long long) k, err_str(rc));
            goto out;
        }
        if (cur.done >= next_report) {
            say("bigstore: seeding: %lld of %lld messages (%.0f s)", (long long) cur.done,
                (long long) plan->messages, (double) (procstat_mono_ns() - t0) / 1e9);
            while (next_report <= cur.done)
                next_report += plan->messages / 10 + 1;
        }
    }
    /* the new design keeps each room's seq in MySQL: it must not hand out
     * a seq the store already holds */
    for (int i = 0; seq_cols && i < nrooms; i++) {
        if ((rc = benchstore_seq_raise(b->store, u[2 * i].room, storeplan_room_msgs(plan, i))) !=
            0) {
            snprintf(why, cap, "raising chat_rooms seq columns: %s", err_str(rc));
            goto out;
        }
    }
    mk->seed_seconds = (double) (procstat_mono_ns() - t0) / 1e9;
    mk->seq_columns = seq_cols;
    if ((rc = benchstore_marker_put(b->store, mk)) != 0)
        snprintf(why, cap, "writing the store's marker: %s", err_str(rc));
    say("bigstore: seeded %lld messages in %d rooms in %.0f s%s", (long long) plan->messages,
        nrooms, mk->seed_seconds, seq_cols ? " (chat_rooms seq columns raised)" : "");
out:
    for (int i = 0; u && i < 2 * nrooms; i++)
        free(u[i].jwt);
    free(u);
    free(msgs);
    free(ids);
    return rc;
}

/* store_reusable: 1 when the kept store holds exactly plan (after what
 * earlier runs added has been removed) and the seq state in MySQL was
 * set for the schema as it is now (a store seeded before the seq columns
 * were added has them at 0: the relay would reuse seqs). */
static int store_reusable(struct bench *b, const struct storeplan *plan,
                          const struct benchstore_marker *mk, cJSON *info)
{
    int seq_cols = 0;
    if (mk->plan.messages != plan->messages || mk->plan.rooms != plan->rooms ||
        mk->plan.big_room_msgs != plan->big_room_msgs)
        return 0;
    if (benchstore_seq_columns(b->store, &seq_cols) != 0 || seq_cols != mk->seq_columns) {
        say("bigstore: chat_rooms seq columns %s since the store was seeded: seeding it again",
            seq_cols ? "appeared" : "changed");
        return 0;
    }
    int64_t deleted = 0, count = -1;
    if (benchstore_delete_outside(b->store, mk->first_room, mk->last_room, &deleted) != 0 ||
        benchstore_count(b->store, &count) != 0)
        return 0;
    cJSON_AddNumberToObject(info, "leftoversDeleted", (double) deleted);
    if (count != plan->messages) {
        say("bigstore: the store holds %lld messages, not %lld: seeding it again",
            (long long) count, (long long) plan->messages);
        return 0;
    }
    return 1;
}

/* store_member: sign in member i (0 or 1) of the kept store's big room. */
static int store_member(struct bench *b, const struct benchstore_marker *mk, int i,
                        struct fleet_user *u)
{
    snprintf(u->name, sizeof u->name, "%s%d", mk->prefix, i);
    return chatapi_login(b->api, u->name, &u->jwt, &u->id);
}

/* compare_probe: the side of the table with the smaller store's figures. */
static void compare_text(const struct bench *b, const char *key, const cJSON *mine, char *out,
                         size_t cap)
{
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(b->compare, "probes"), key);
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(b->compare, "store");
    if (!cmp) {
        snprintf(out, cap, "%s", b->compare ? "-" : "");
        return;
    }
    double p99 = num(cmp, "p99Ms");
    if (num(mine, "samples") > 0 && p99 > 0)
        snprintf(out, cap, "%.0f msgs: %.2f / %.2f (p99 x%.2f)", num(store, "messages"),
                 num(cmp, "p50Ms"), p99, num(mine, "p99Ms") / p99);
    else
        snprintf(out, cap, "%.0f msgs: %.2f / %.2f", num(store, "messages"), num(cmp, "p50Ms"),
                 p99);
}

static cJSON *run_bigstore(struct bench *b)
{
    const char *label = "7 big store";
    cJSON *row = new_row("bigstore");
    cJSON *info = cJSON_AddObjectToObject(row, "store");
    struct storeplan plan = {b->o.store_msgs, b->o.store_rooms, b->o.store_big};
    struct benchstore_marker mk;
    /* fresh rooms: ENTER and first TEXT take one each per sample, history
     * of an empty room one more */
    size_t nfresh = 2 * (size_t) b->o.store_samples + 1;
    struct fleet_user *fresh = calloc(2 * nfresh, sizeof *fresh);
    struct fleet_user member[2];
    char why[256] = "", err[200];
    memset(member, 0, sizeof member);
    if (!fresh) {
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    if (storeplan_check(&plan) != 0) {
        snprintf(why, sizeof why, "--store-msgs must leave a message for each of --store-rooms");
        goto out;
    }
    if (!b->store && !(b->store = benchstore_open(err, sizeof err))) {
        snprintf(why, sizeof why, "store: %s", err);
        goto out;
    }
    cJSON_AddStringToObject(info, "database", benchstore_database(b->store));
    int rc = benchstore_marker_get(b->store, &mk);
    if (rc != 0 && rc != ERR_NOT_FOUND) {
        snprintf(why, sizeof why, "store unreachable: %s", err_str(rc));
        goto out;
    }
    int reused = rc == 0 && store_reusable(b, &plan, &mk, info);
    if (reused)
        say("bigstore: reusing %s: %lld messages in %d rooms, seeded earlier in %.0f s",
            benchstore_database(b->store), (long long) plan.messages, storeplan_room_count(&plan),
            mk.seed_seconds);
    else if (store_seed(b, &plan, &mk, why, sizeof why) != 0)
        goto out;
    b->store_first_room = mk.first_room;
    b->store_last_room = mk.last_room;
    if (store_member(b, &mk, 0, &member[0]) != 0 || store_member(b, &mk, 1, &member[1]) != 0 ||
        chatapi_open_room(b->api, member[0].jwt, member[1].id, &member[0].room) != 0 ||
        member[0].room != mk.big_room) {
        snprintf(why, sizeof why, "the big room's members do not lead to room %lld: %s",
                 (long long) mk.big_room, chatapi_error(b->api));
        goto out;
    }
    cJSON_AddBoolToObject(info, "reused", reused);
    cJSON_AddNumberToObject(info, "messages", (double) plan.messages);
    cJSON_AddNumberToObject(info, "rooms", storeplan_room_count(&plan));
    cJSON_AddNumberToObject(info, "bigRoomMessages", (double) plan.big_room_msgs);
    cJSON_AddNumberToObject(info, "bigRoom", (double) mk.big_room);
    cJSON_AddNumberToObject(info, "seedSeconds", mk.seed_seconds);
    cJSON_AddBoolToObject(info, "seqColumns", mk.seq_columns);

    say("bigstore: signing in %zu users for the fresh rooms of the probes", 2 * nfresh);
    if (login_pairs(b, fresh, 2 * nfresh, "f", why, sizeof why) != 0)
        goto out;
    settle(b, row, "settleSeconds");

    enum { P_NEWEST, P_MIDDLE, P_EMPTY, P_ENTER, P_TEXT, P_SINCE, P_N };
    struct probe pr[P_N];
    probe_init(&pr[P_NEWEST], "historyNewest", "history newest page", 30);
    probe_init(&pr[P_MIDDLE], "historyMiddle", "history middle page", 30);
    probe_init(&pr[P_EMPTY], "historyEmpty", "history of an empty room", 30);
    probe_init(&pr[P_ENTER], "enterNewRoom", "ENTER new room", 10);
    probe_init(&pr[P_TEXT], "firstTextNewRoom", "first TEXT new room", 30);
    probe_init(&pr[P_SINCE], "sinceFirstMessage", "since replay 1st MESSAGE", 30);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/chat/%lld?limit=%d", (long long) mk.big_room, PAGE);
    int warm = -1;
    chatapi_history_page(b->api, member[0].jwt, path, &warm); /* FastCGI start-up, not timed */
    probe_history(b, &pr[P_NEWEST], member[0].jwt, path, PAGE);
    snprintf(path, sizeof path, "/api/v1/chat/%lld?before=%lld&limit=%d", (long long) mk.big_room,
             (long long) storeplan_middle_before(&plan), PAGE);
    probe_history(b, &pr[P_MIDDLE], member[0].jwt, path, PAGE);
    struct fleet_user *empty = &fresh[2 * (nfresh - 1)];
    snprintf(path, sizeof path, "/api/v1/chat/%lld?limit=%d", (long long) empty->room, PAGE);
    probe_history(b, &pr[P_EMPTY], empty->jwt, path, 0);
    size_t k = (size_t) b->o.store_samples;
    probe_enter(b, &pr[P_ENTER], fresh, k);
    probe_first_text(b, &pr[P_TEXT], fresh + 2 * k, k);
    probe_since(b, &pr[P_SINCE], &member[0], plan.big_room_msgs);

    cJSON *probes = cJSON_AddObjectToObject(row, "probes");
    cJSON *parts = cJSON_AddArrayToObject(row, "parts");
    for (int i = 0; i < P_N; i++) {
        cJSON *pj = probe_json(&pr[i]);
        char result[160], cmp[120], errs[120];
        if (num(pj, "samples") > 0)
            snprintf(result, sizeof result, "p50 %.2f  p99 %.2f  max %.1f ms (n=%.0f)",
                     num(pj, "p50Ms"), num(pj, "p99Ms"), num(pj, "maxMs"), num(pj, "samples"));
        else
            snprintf(result, sizeof result, "no sample: the first one failed");
        compare_text(b, pr[i].key, pj, cmp, sizeof cmp);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(pj, "error");
        snprintf(errs, sizeof errs, "%s%.100s", cJSON_IsString(e) ? "stopped: " : "",
                 cJSON_IsString(e) ? e->valuestring : "");
        if (cJSON_IsString(e))
            say("bigstore: %s stopped: %s", pr[i].label, e->valuestring);
        cJSON *part = new_row(pr[i].key);
        char plabel[64];
        snprintf(plabel, sizeof plabel, "7 %s", pr[i].label);
        set_table(part, plabel, result, cmp, errs);
        cJSON_AddItemToArray(parts, part);
        cJSON_AddItemToObject(probes, pr[i].key, pj);
    }
    if (b->compare) {
        cJSON *c = cJSON_AddObjectToObject(row, "compare");
        cJSON_AddStringToObject(c, "file", b->o.compare_path);
        cJSON_AddItemToObject(
            c, "store", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b->compare, "store"), 1));
        cJSON_AddItemToObject(
            c, "probes",
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b->compare, "probes"), 1));
    }
    char result[160], lat[160];
    snprintf(result, sizeof result, "%lld msgs, %d rooms (big room %lld msgs), %s",
             (long long) plan.messages, storeplan_room_count(&plan), (long long) plan.big_room_msgs,
             reused ? "kept from an earlier run" : "seeded now");
    if (b->compare)
        snprintf(lat, sizeof lat, "side by side: %.0f msgs, %.0f rooms p50 / p99",
                 num(cJSON_GetObjectItemCaseSensitive(b->compare, "store"), "messages"),
                 num(cJSON_GetObjectItemCaseSensitive(b->compare, "store"), "rooms"));
    else
        snprintf(lat, sizeof lat, "%s", "");
    set_table(row, label, result, lat, benchstore_database(b->store));
out:
    for (size_t i = 0; fresh && i < 2 * nfresh; i++)
        free(fresh[i].jwt);
    free(fresh);
    free(member[0].jwt);
    free(member[1].jwt);
    if (why[0])
        return fail_row(row, label, why);
    return row;
}

cJSON *bench_finish(struct bench *b)
{
    if (!b->store || b->store_first_room <= 0)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    int64_t deleted = -1, t0 = procstat_mono_ns();
    say("bigstore: removing this run's messages from %s", benchstore_database(b->store));
    int rc = benchstore_delete_outside(b->store, b->store_first_room, b->store_last_room, &deleted);
    cJSON_AddStringToObject(o, "database", benchstore_database(b->store));
    cJSON_AddNumberToObject(o, "deleted", (double) deleted);
    cJSON_AddNumberToObject(o, "seconds", (double) (procstat_mono_ns() - t0) / 1e9);
    if (rc != 0) {
        say("bigstore: could not remove them (%s): the next run does", err_str(rc));
        cJSON_AddStringToObject(o, "error", err_str(rc));
    }
    return o;
}

/* ------------------------------------------------------------ dispatch */

cJSON *bench_run(struct bench *b, const char *name)
{
    if (strcmp(name, "connections") == 0)
        return run_connections(b);
    prepare(b); /* before anything is stored */
    if (strcmp(name, "steady") == 0)
        return run_steady(b, "steady", b->direct, b->relay.host, "1 steady (relay direct)");
    if (strcmp(name, "proxy") == 0)
        return run_steady(b, "proxy", b->proxied, b->proxy.host, "1 steady (via lighttpd /ws)");
    if (strcmp(name, "tworelay") == 0)
        return run_steady(b, "tworelay", b->cross, "two relays + Redis",
                          "6 steady across two relays (Redis)");
    if (strcmp(name, "saturation") == 0)
        return run_saturation(b);
    if (strcmp(name, "tworelay-sat") == 0)
        return run_steps(b, b->split, "tworelay-sat",
                         "6 saturation across two relays (Redis; half the rooms split)");
    if (strcmp(name, "recovery") == 0)
        return run_recovery(b);
    if (strcmp(name, "http") == 0)
        return run_http(b);
    if (strcmp(name, "bigstore") == 0)
        return run_bigstore(b);
    return NULL;
}

cJSON *bench_prepare_info(const struct bench *b)
{
    return b->prepare_info ? cJSON_Duplicate(b->prepare_info, 1) : NULL;
}
