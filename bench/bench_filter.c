/*
 * bench_filter - pull throughput with broker-side filters against a real ferrymqd: N messages
 * of S bytes, each with a property sel = i % 10 and the tag T<i % 10>, are produced once;
 * then the whole backlog is pulled (every queue, batches of 32, no long polling) with no
 * filter, with a 10%-selective SQL92 filter, and with a 10%-selective tag, in the same run.
 * Prints delivered msgs/s and scanned msgs/s (the backlog divided by the drain time) per
 * mode. Never run as a test.
 *
 *   build/bench/bench_filter [-n 400000] [-s 128] [-q 8] [-r rounds]
 *
 * It starts its own ferrymqd (path from $FM_FERRYMQD, default build/ferrymqd) on a fresh
 * store in $TMPDIR.
 */
#include "fmtest.h"

#include <ferrymq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_ack(void *opaque, int err, const ferrymq_send_result *res, const char *why)
{
    int *errors = opaque;
    (void)res;
    if (err != FERRYMQ_OK) {
        if (__atomic_fetch_add(errors, 1, __ATOMIC_RELAXED) == 0) {
            fprintf(stderr, "bench_filter: send failed: %s\n", why);
        }
    }
}

/* Drain every queue from 0; returns delivered messages, -1 on error. */
static long
drain(ferrymq_consumer *c, const ferrymq_queue *qs, size_t nq, const char *expr, const char *type)
{
    ferrymq_pull_result r;
    char err[256];
    long got = 0;
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    for (size_t i = 0; i < nq; i++) {
        int64_t off = 0;
        for (;;) {
            if (ferrymq_consumer_pull(c, &qs[i], off, expr, type, 32, 0, &r, err, sizeof(err)) !=
                FERRYMQ_OK) {
                fprintf(stderr, "bench_filter: pull: %s\n", err);
                return -1;
            }
            if (r.status == FERRYMQ_PULL_NO_NEW_MSG) {
                break;
            }
            got += (long)r.n_msgs;
            off = r.next_offset;
        }
    }
    ferrymq_pull_result_clear(&r);
    return got;
}

int
main(int argc, char **argv)
{
    int n = 400000, size = 128, queues = 8, rounds = 3, opt, errors = 0;
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    fmt_daemon d;
    char ns[64], err[256], *body;
    ferrymq_conf *conf;
    ferrymq_admin *a;
    ferrymq_producer *p;
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    static const struct {
        const char *name, *expr, *type;
    } modes[] = {
        {"no filter", "*", "TAG"},
        {"SQL92 sel = 0 (10%)", "sel = 0", "SQL92"},
        {"SQL92 sel = 0 AND region IS NULL (10%)", "sel = 0 AND region IS NULL", "SQL92"},
        {"tag T0 (10%)", "T0", "TAG"},
    };

    while ((opt = getopt(argc, argv, "n:s:q:r:")) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'q':
            queues = atoi(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-s bytes] [-q queues] [-r rounds]\n", argv[0]);
            return 2;
        }
    }
    if (n <= 0 || size <= 0 || queues <= 0 || rounds <= 0) {
        fprintf(stderr, "bench_filter: bad arguments\n");
        return 2;
    }
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return 1;
    }
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    conf = ferrymq_conf_new();
    ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err));
    ferrymq_conf_set(conf, "consumerGroup", "bench-filter", err, sizeof(err));
    if (ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_create_topic(a, "BenchFilter", queues, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_producer_new(conf, &p, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_consumer_new(conf, &c, err, sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "bench_filter: %s\n", err);
        return 1;
    }
    ferrymq_conf_free(conf);
    body = malloc((size_t)size);
    memset(body, 'x', (size_t)size);
    for (int i = 0; i < n; i++) {
        ferrymq_msg *m = ferrymq_msg_new("BenchFilter", body, (size_t)size);
        char sel[8], tag[8];
        snprintf(sel, sizeof(sel), "%d", i % 10);
        snprintf(tag, sizeof(tag), "T%d", i % 10);
        ferrymq_msg_set_property(m, "sel", sel);
        ferrymq_msg_set_property(m, "origin", "local");
        ferrymq_msg_set_tags(m, tag);
        if (ferrymq_producer_send_async(p, m, on_ack, &errors, err, sizeof(err)) != FERRYMQ_OK) {
            fprintf(stderr, "bench_filter: send: %s\n", err);
            return 1;
        }
    }
    ferrymq_producer_close(p, 60000);
    if (errors > 0) {
        return 1;
    }
    if (ferrymq_consumer_queues(c, "BenchFilter", &qs, &nq, err, sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "bench_filter: %s\n", err);
        return 1;
    }
    printf("# %d messages of %d B with 2 user properties and a tag, %zu queues, batches of 32\n", n,
           size, nq);
    printf("%-42s %10s %14s %14s\n", "mode", "delivered", "delivered/s", "scanned/s");
    for (int round = 0; round < rounds; round++) {
        for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
            double t0 = now_s(), dt;
            long got = drain(c, qs, nq, modes[k].expr, modes[k].type);
            dt = now_s() - t0;
            if (got < 0) {
                return 1;
            }
            printf("%-42s %10ld %14.0f %14.0f\n", modes[k].name, got, (double)got / dt,
                   (double)n / dt);
        }
    }
    free(qs);
    free(body);
    ferrymq_consumer_close(c);
    ferrymq_admin_free(a);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}
