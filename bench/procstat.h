/*
 * procstat.h - what /proc says about a process (CPU time, resident memory)
 * and about the machine, for the load generator's reports.
 *
 * CPU time comes from /proc/<pid>/stat (utime + stime) in clock ticks, so
 * its resolution is 1/sysconf(_SC_CLK_TCK) s (10 ms on Debian): measure over
 * seconds, not milliseconds.
 */
#ifndef BENCH_PROCSTAT_H
#define BENCH_PROCSTAT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/types.h>

/* procstat_pidfile: the pid written in `path` when that process is alive,
 * else -1. */
pid_t procstat_pidfile(const char *path);

/* procstat_cpu_ns: user + system CPU time of pid in ns. Returns 0, or
 * ERR_NOT_FOUND when the process is gone, ERR_INTERNAL on a parse error. */
int procstat_cpu_ns(pid_t pid, int64_t *ns);

/* procstat_rss_kib: VmRSS of pid in KiB. Returns 0, ERR_NOT_FOUND,
 * ERR_INTERNAL. */
int procstat_rss_kib(pid_t pid, long *kib);

/* procstat_self_cpu_ns: this process's user + system CPU time in ns. */
int64_t procstat_self_cpu_ns(void);

/* procstat_machine: {"nproc", "model", "memTotalKiB", "kernel",
 * "loadAvg1AtStart"} as a new cJSON object (caller owns), NULL when out of
 * memory. */
cJSON *procstat_machine(void);

/* procstat_mono_ns: CLOCK_MONOTONIC in ns. */
int64_t procstat_mono_ns(void);

#endif
