/*
 * lagstat.h - what the replication benchmarks (repl_lag.c and nats/nats_mirror.c) measure the
 * same way for both systems: clocks, CPU of this process and of the servers named in
 * $BENCH_PIDS (/proc), and the percentiles of a lag sample. Header-only: nats_mirror.c is
 * compiled by bench/repl_compare.sh, not by the Makefile.
 */
#ifndef FM_BENCH_LAGSTAT_H
#define FM_BENCH_LAGSTAT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t
wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
sleep_until(int64_t mono)
{
    struct timespec ts = {.tv_sec = mono / 1000000000, .tv_nsec = mono % 1000000000};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static inline int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static inline void
cpu_ns(int64_t *self, int64_t *servers)
{
    struct rusage ru;
    const char *pids = getenv("BENCH_PIDS");
    long tck = sysconf(_SC_CLK_TCK);
    getrusage(RUSAGE_SELF, &ru);
    *self = ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
            ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
    *servers = 0;
    while (pids != NULL && *pids != '\0') {
        char path[64], buf[1024], *end;
        const char *p;
        unsigned long ut, st;
        long pid = strtol(pids, &end, 10);
        FILE *f;
        size_t n;
        if (end == pids) {
            break;
        }
        pids = end;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if ((f = fopen(path, "r")) == NULL) {
            continue;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
         * cmajflt utime stime */
        if ((p = strrchr(buf, ')')) != NULL &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2) {
            *servers += (int64_t)(ut + st) * 1000000000 / tck;
        }
    }
}

/* " cpu_srv_us=S cpu_cli_us=C": CPU per message since (self0, srv0) over n messages. */
static inline const char *
cpu_per_msg(int64_t self0, int64_t srv0, int64_t n, char *out, size_t cap)
{
    int64_t self, srv;
    cpu_ns(&self, &srv);
    snprintf(out, cap, " cpu_srv_us=%.1f cpu_cli_us=%.1f", (double)(srv - srv0) / 1e3 / (double)n,
             (double)(self - self0) / 1e3 / (double)n);
    return out;
}

/* p50, p99, p999 and max in ms of n lags in ns (sorted here); all 0 when n is 0. */
static inline void
lag_percentiles(int64_t *lat, int64_t n, double *p50, double *p99, double *p999, double *max)
{
    *p50 = *p99 = *p999 = *max = 0;
    if (n <= 0) {
        return;
    }
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    *p50 = (double)lat[n / 2] / 1e6;
    *p99 = (double)lat[n * 99 / 100] / 1e6;
    *p999 = (double)lat[n * 999 / 1000] / 1e6;
    *max = (double)lat[n - 1] / 1e6;
}

#endif
