/*
 * nats_bench - the peer figure for bench/RESULTS.md: JetStream (nats-server -js, file
 * storage) driven with the nats.c client the same way `ferrymq bench` drives ferrymqd.
 *
 *   nats_bench URL produce SIZE COUNT WINDOW   async publishes, at most WINDOW pending
 *   nats_bench URL consume SIZE COUNT [BATCH]  pull-fetch COUNT messages, BATCH per fetch
 *                                              (1000 by default: JetStream at its best)
 *
 * Not part of the test suite; built by `make bench-nats` (needs libnats-dev).
 */
#include <nats/nats.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t *lat;
static int64_t n_lat, cap_lat, errors;

/* The send time travels in the first 8 bytes of the payload. */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    int64_t t0;
    (void)js;
    (void)pa;
    (void)closure;
    memcpy(&t0, natsMsg_GetData(msg), sizeof(t0));
    pthread_mutex_lock(&mu);
    if (pae != NULL) {
        errors++;
    } else if (n_lat < cap_lat) {
        lat[n_lat++] = now_ns() - t0;
    }
    pthread_mutex_unlock(&mu);
    natsMsg_Destroy(msg);
}

static void
report(const char *what, int64_t n, int64_t size, int64_t ns)
{
    double secs = (double)ns / 1e9;
    qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_i64);
    printf("nats %s: %" PRId64 " msgs in %.2f s: %.0f msgs/s, %.2f MB/s", what, n, secs,
           (double)n / secs, (double)(n * size) / secs / 1e6);
    if (n_lat > 0) {
        printf(", ack latency p50 %.3f ms p99 %.3f ms p999 %.3f ms", (double)lat[n_lat / 2] / 1e6,
               (double)lat[n_lat * 99 / 100] / 1e6, (double)lat[n_lat * 999 / 1000] / 1e6);
    }
    printf(", errors %" PRId64 "\n", errors);
}

int
main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsStreamConfig sc;
    jsErrCode jerr = 0;
    const char *subjects[] = {"bench"};
    int64_t size, count, t0;
    natsStatus s;
    if (argc < 5) {
        fprintf(stderr, "usage: nats_bench URL produce|consume SIZE COUNT [WINDOW]\n");
        return 2;
    }
    size = atoll(argv[3]);
    count = atoll(argv[4]);
    if (size < 8 || count < 1) {
        fprintf(stderr, "nats_bench: SIZE >= 8 and COUNT >= 1\n");
        return 2;
    }
    cap_lat = count;
    lat = malloc((size_t)count * sizeof(*lat));
    s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK) {
        jsOptions_Init(&jo);
        jo.PublishAsync.MaxPending = argc > 5 ? atoll(argv[5]) : 256;
        jo.PublishAsync.AckHandler = on_ack;
        s = natsConnection_JetStream(&js, nc, &jo);
    }
    if (s == NATS_OK) {
        jsStreamConfig_Init(&sc);
        sc.Name = "BENCH";
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        s = js_AddStream(NULL, js, &sc, NULL, &jerr);
        if (s != NATS_OK && jerr == JSStreamNameExistErr) {
            s = NATS_OK;
        }
    }
    if (s != NATS_OK) {
        fprintf(stderr, "nats_bench: setup failed: %s\n", natsStatus_GetText(s));
        return 1;
    }
    if (strcmp(argv[2], "produce") == 0) {
        char *data = calloc(1, (size_t)size);
        t0 = now_ns();
        for (int64_t i = 0; i < count && s == NATS_OK; i++) {
            int64_t ts = now_ns();
            memcpy(data, &ts, sizeof(ts));
            s = js_PublishAsync(js, "bench", data, (int)size, NULL);
        }
        if (s == NATS_OK) {
            s = js_PublishAsyncComplete(js, NULL);
        }
        report("produce", count, size, now_ns() - t0);
        free(data);
    } else {
        natsSubscription *sub = NULL;
        int64_t got = 0;
        int batch = argc > 5 ? atoi(argv[5]) : 1000;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        /* ferrymq bench consume commits nothing either: compare reads with reads */
        so.Config.AckPolicy = js_AckNone;
        s = js_PullSubscribe(&sub, js, "bench", "bench-consumer", NULL, &so, &jerr);
        t0 = now_ns();
        while (s == NATS_OK && got < count) {
            natsMsgList list = {0};
            s = natsSubscription_Fetch(&list, sub, batch, 5000, &jerr);
            for (int i = 0; s == NATS_OK && i < list.Count; i++) {
                got++;
            }
            natsMsgList_Destroy(&list);
        }
        report("consume", got, size, now_ns() - t0);
        natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(lat);
    return s == NATS_OK ? 0 : 1;
}
