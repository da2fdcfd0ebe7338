/*
 * bench_produce - a simple producer loop against a real ferrymqd: N messages of S bytes sent
 * with SEND_MESSAGE_V2 over one connection with W requests in flight, round-robin over the
 * topic's queues. Prints msgs/s, MB/s and latency percentiles. Never run as a test.
 *
 *   build/bench/bench_produce [-n 200000] [-s 128] [-w 64] [-q 8] [-f ASYNC_FLUSH|SYNC_FLUSH]
 *                             [-k] [-o --setting=value]
 *
 * -k gives every message a UNIQ_KEY (as every RocketMQ producer sets) and a KEYS property, so
 * the broker's message index has work to do; -o passes one more setting to the ferrymqd it
 * starts (e.g. -o --messageIndexEnable=false).
 * It starts its own ferrymqd (path from $FM_FERRYMQD, default build/ferrymqd) on a fresh
 * store in $TMPDIR, or uses a running one with -p <remoting port>.
 */
#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int n = 200000, size = 128, window = 64, queues = 8, port = 0, opt, keys = 0;
    const char *flush = "ASYNC_FLUSH", *setting = NULL;
    fmt_daemon d;
    char *body, flush_arg[64], qbuf[16];
    int64_t *sent_at, *lat, t0, t1;
    int fd, inflight = 0, next = 0, done = 0, errors = 0;
    fmt_resp r = {0};

    while ((opt = getopt(argc, argv, "n:s:w:q:f:p:ko:")) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'w':
            window = atoi(optarg);
            break;
        case 'q':
            queues = atoi(optarg);
            break;
        case 'f':
            flush = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'k':
            keys = 1;
            break;
        case 'o':
            setting = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n N] [-s bytes] [-w window] [-q queues] [-f flush] "
                    "[-p port] [-k] [-o --setting=value]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n <= 0 || size <= 0 || window <= 0 || window > 60000 || queues <= 0) {
        fprintf(stderr, "bench_produce: bad arguments\n");
        return 2;
    }
    memset(&d, 0, sizeof(d));
    if (port == 0) {
        snprintf(flush_arg, sizeof(flush_arg), "--flushDiskType=%s", flush);
        const char *extra[] = {"--brokerIP1=127.0.0.1", flush_arg, setting, NULL};
        if (fmt_daemon_start(&d, extra, 10000) != 0) {
            return 1;
        }
        port = d.remoting_port;
    }
    fd = fmt_connect(port, 30000);
    if (fd < 0) {
        fprintf(stderr, "bench_produce: cannot connect to port %d\n", port);
        return 1;
    }
    {
        snprintf(qbuf, sizeof(qbuf), "%d", queues);
        const char *kv[] = {
            "topic", "BenchTopic", "readQueueNums", qbuf, "writeQueueNums", qbuf, "perm",
            "6",     NULL};
        if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                        fm_slice_make(NULL, 0), &r) != 0 ||
            r.cmd.code != 0) {
            fprintf(stderr, "bench_produce: cannot create the topic\n");
            return 1;
        }
    }
    body = malloc((size_t)size + 1);
    sent_at = calloc(65536, sizeof(*sent_at));
    lat = calloc((size_t)n, sizeof(*lat));
    if (body == NULL || sent_at == NULL || lat == NULL) {
        return 1;
    }
    memset(body, 'x', (size_t)size);
    body[size] = '\0';

    t0 = fmt_now_ms();
    while (done < n) {
        while (inflight < window && next < n) {
            char q[16], props[96] = "";
            int op;
            snprintf(q, sizeof(q), "%d", next % queues);
            if (keys) {
                /* UNIQ_KEY laid out as MessageClientIDSetter's (32 hex), plus one key */
                snprintf(props, sizeof(props),
                         "UNIQ_KEY\001C0A80001%04X5A5A5A5A%08X%04X\002KEYS"
                         "\001order-%d\002",
                         (unsigned)getpid() & 0xFFFF, (unsigned)(t0 & 0xFFFFFFFF),
                         (unsigned)next & 0xFFFF, next);
            }
            const char *kv[] = {"a", "bench", "b", "BenchTopic", "c", "TBW102", "d",
                                "4", "e",     q,   "f",          "0", "g",      "0",
                                "h", "0",     "i", props,        "j", "0",      NULL};
            op = fmt_send(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_SEND_MESSAGE_V2, kv,
                          fm_slice_make(body, (size_t)size));
            if (op < 0) {
                fprintf(stderr, "bench_produce: send failed\n");
                return 1;
            }
            {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                sent_at[op & 0xFFFF] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            }
            next++;
            inflight++;
        }
        if (fmt_recv(fd, &r) != 0) {
            fprintf(stderr, "bench_produce: connection lost after %d replies\n", done);
            return 1;
        }
        {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            lat[done] =
                (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - sent_at[r.cmd.opaque & 0xFFFF];
        }
        if (r.cmd.code != 0) {
            errors++;
        }
        inflight--;
        done++;
    }
    t1 = fmt_now_ms();
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    {
        double secs = (double)(t1 - t0) / 1000.0;
        if (secs <= 0) {
            secs = 0.001;
        }
        printf("produce: %d msgs of %d B, window %d, %s: %.0f msgs/s, %.1f MB/s, latency "
               "p50 %.3f ms p99 %.3f ms p999 %.3f ms, errors %d\n",
               n, size, window, flush, n / secs, (double)n * size / secs / 1e6, lat[n / 2] / 1e6,
               lat[(size_t)n * 99 / 100] / 1e6, lat[(size_t)n * 999 / 1000] / 1e6, errors);
    }
    fmt_resp_free(&r);
    close(fd);
    if (d.pid > 0) {
        /* The broker's own CPU time for the run (start-up included): a figure that the other
         * processes sharing the machine disturb much less than the rate. */
        char path[64], buf[1024];
        FILE *f;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)d.pid);
        f = fopen(path, "r");
        if (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
            const char *p = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            /* after "pid (comm)": state and 10 more fields, then utime and stime (ticks) */
            if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                    &ut, &st) == 2) {
                double ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
                printf("broker cpu: %.0f ms (user %.0f, sys %.0f), %.2f us/msg\n", ms,
                       (double)ut * 1000.0 / (double)sysconf(_SC_CLK_TCK),
                       (double)st * 1000.0 / (double)sysconf(_SC_CLK_TCK), ms * 1000.0 / n);
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        fmt_daemon_stop(&d, SIGTERM, 30000);
        fmt_daemon_cleanup(&d);
    }
    free(body);
    free(sent_at);
    free(lat);
    return errors ? 1 : 0;
}
