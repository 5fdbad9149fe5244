/*
 * procstat.c - /proc readers for the load generator (see procstat.h).
 * Called a few times per scenario, never per message.
 */
#include "procstat.h"

#include "errors.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int64_t procstat_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

pid_t procstat_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[32];
    long pid = -1;
    if (fgets(line, sizeof line, f)) {
        char *end;
        pid = strtol(line, &end, 10);
        if (end == line)
            pid = -1;
    }
    fclose(f);
    if (pid <= 1 || kill((pid_t) pid, 0) != 0)
        return -1;
    return (pid_t) pid;
}

int procstat_cpu_ns(pid_t pid, int64_t *ns)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return ERR_NOT_FOUND;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after
     * the last ')'; utime and stime are fields 14 and 15 */
    char *p = strrchr(buf, ')');
    if (!p)
        return ERR_INTERNAL;
    /* after ") ": state, then fields 4..13, then utime (14) and stime (15) */
    p += 2;
    for (int field = 3; field < 14; field++) {
        p = strchr(p, ' ');
        if (!p)
            return ERR_INTERNAL;
        p++;
    }
    char *end;
    unsigned long long ut = strtoull(p, &end, 10);
    if (end == p || *end != ' ')
        return ERR_INTERNAL;
    p = end + 1;
    unsigned long long st = strtoull(p, &end, 10);
    if (end == p)
        return ERR_INTERNAL;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    *ns = (int64_t) ((ut + st) * (1000000000ULL / (unsigned long long) hz));
    return 0;
}

int procstat_rss_kib(pid_t pid, long *kib)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return ERR_NOT_FOUND;
    int rc = ERR_INTERNAL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end;
            *kib = strtol(line + 6, &end, 10);
            rc = end == line + 6 ? ERR_INTERNAL : 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

int64_t procstat_self_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

cJSON *procstat_machine(void)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return NULL;
    char line[512], model[256] = "unknown";
    long mem = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    f = fopen("/proc/meminfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "MemTotal:", 9) == 0) {
                mem = strtol(line + 9, NULL, 10);
                break;
            }
        }
        fclose(f);
    }
    double load1 = -1;
    f = fopen("/proc/loadavg", "r");
    if (f) {
        char *end;
        if (fgets(line, sizeof line, f)) {
            load1 = strtod(line, &end);
            if (end == line)
                load1 = -1;
        }
        fclose(f);
    }
    struct utsname u;
    char kernel[300] = "unknown";
    if (uname(&u) == 0)
        snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
    if (!cJSON_AddNumberToObject(m, "nproc", (double) sysconf(_SC_NPROCESSORS_ONLN)) ||
        !cJSON_AddStringToObject(m, "model", model) ||
        !cJSON_AddNumberToObject(m, "memTotalKiB", (double) mem) ||
        !cJSON_AddStringToObject(m, "kernel", kernel) ||
        !cJSON_AddNumberToObject(m, "loadAvg1AtStart", load1)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}
