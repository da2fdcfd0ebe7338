/*
 * nats_mirror - the JetStream peer of bench/repl_compare.sh: a stream mirrored into a second
 * stream on one nats-server (file storage), driven with the nats.c client at its best settings:
 * 4,096 async publishes in flight, pulls of 1,000 per request, no acks. A mirror on one server
 * is JetStream's best case (no network hop, no leafnode or cluster).
 *
 *   nats_mirror URL catchup SIZE COUNT WINDOW
 *       publish COUNT messages into stream SRC (WINDOW async publishes in flight), then create
 *       MIR as a mirror of SRC and time until MIR holds COUNT messages.
 *   nats_mirror URL live SIZE COUNT WINDOW
 *       SRC and its mirror MIR exist first; publish COUNT as fast as possible and time until
 *       MIR holds COUNT (the copy rate of a live stream).
 *   nats_mirror URL lag SIZE RATE SECONDS local|one-way|two-way pull|push
 *       publish RATE msgs/s for SECONDS (each body starts with its publish wall time in ns)
 *       and record receipt time - publish time of every message read from the copy. Local
 *       reads SRC itself (no copy: the floor of the setup); one-way reads MIR. Two-way: streams A
 * and B both take RATE and each is mirrored into the other region (A_IN_B, B_IN_A) and read there;
 * nats-server 2.9 refuses two streams sourcing each other even with disjoint filters ("detected
 * cycle"). pull: a pull consumer with two requests of 1,000 always open (see on_pull); push: a push
 * consumer. Messages published in the first second are not counted (warm-up).
 *
 * Every figure is also printed as one "RESULT key=value ..." line for the script, with the CPU
 * time per message of this process and of the processes $BENCH_PIDS names (nats-server).
 * Not part of the test suite; bench/repl_compare.sh builds it (needs libnats-dev).
 */
#include <nats/nats.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../lagstat.h"

#define WARMUP_NS 1000000000LL

_Noreturn static void
die(const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf(stderr, "nats_mirror: %s: %s (jetstream error %d) %s\n", what, natsStatus_GetText(s),
            (int)jerr, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    exit(1);
}

static atomic_llong pub_errors;

static void
on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pae;
    (void)closure;
    atomic_fetch_add(&pub_errors, 1);
}

static jsCtx *
connect_js(const char *url, natsConnection **nc, int window)
{
    jsOptions jo;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(nc, url);
    if (s != NATS_OK) {
        die("connect", s, 0);
    }
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = window;
    /* With the window full, PublishAsync waits this long for a slot, then fails the run
     * (200 ms by default): on a loaded VM a stalled fsync or page fault outlasts that. The
     * window, not the wait, bounds what is in flight. */
    jo.PublishAsync.StallWait = 30000;
    jo.PublishAsync.ErrHandler = on_pub_err;
    s = natsConnection_JetStream(&js, *nc, &jo);
    if (s != NATS_OK) {
        die("jetstream context", s, 0);
    }
    return js;
}

/* A stream with file storage taking subject, or mirroring stream mirror. An old stream of the
 * same name (an earlier run) is deleted first. */
static void
add_stream(jsCtx *js, const char *name, const char *subject, const char *mirror)
{
    jsStreamConfig sc;
    jsStreamSource mir = {0};
    const char *subjects[1] = {subject};
    jsErrCode jerr = 0;
    natsStatus s;
    js_DeleteStream(js, name, NULL, NULL);
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Storage = js_FileStorage;
    if (subject != NULL) {
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
    }
    if (mirror != NULL) {
        mir.Name = mirror;
        sc.Mirror = &mir;
    }
    s = js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (s != NATS_OK) {
        die(name, s, jerr);
    }
}

static uint64_t
stream_msgs(jsCtx *js, const char *name)
{
    jsStreamInfo *si = NULL;
    uint64_t n = 0;
    if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK) {
        n = si->State.Msgs;
        jsStreamInfo_Destroy(si);
    }
    return n;
}

/* Wait (polling every 2 ms) until stream holds want messages; returns the monotonic time it
 * did, or -1 after timeout_ns without progress. */
static int64_t
await_msgs(jsCtx *js, const char *name, uint64_t want, int64_t timeout_ns)
{
    uint64_t last = 0;
    int64_t progress = mono_ns();
    for (;;) {
        uint64_t n = stream_msgs(js, name);
        int64_t now = mono_ns();
        if (n >= want) {
            return now;
        }
        if (n != last) {
            last = n;
            progress = now;
        } else if (now - progress > timeout_ns) {
            fprintf(stderr, "nats_mirror: %s stuck at %" PRIu64 " of %" PRIu64 "\n", name, n, want);
            return -1;
        }
        sleep_until(now + 2000000);
    }
}

/* CPU time used so far, in ns: *self by this process (every thread), *servers by the processes
 * whose pids $BENCH_PIDS lists (the brokers and the replicator, or nats-server), read from
 * /proc, so each figure can say what it cost on a machine whose cores everything shares. */

/* ---- publishers ---- */

typedef struct publisher {
    jsCtx *js;
    const char *subject;
    int64_t size, count, rate; /* rate 0: as fast as the window allows */
    int64_t start_mono, done_mono;
    pthread_t thread;
} publisher;

static void *
publish_run(void *arg)
{
    publisher *p = arg;
    char *data = calloc(1, (size_t)p->size);
    int64_t interval = p->rate > 0 ? 1000000000 / p->rate : 0;
    natsStatus s = NATS_OK;
    p->start_mono = mono_ns();
    for (int64_t i = 0; i < p->count && s == NATS_OK; i++) {
        int64_t stamp;
        if (interval > 0) {
            int64_t due = p->start_mono + i * interval;
            if (mono_ns() < due) {
                sleep_until(due);
            }
        }
        stamp = wall_ns();
        memcpy(data, &stamp, sizeof(stamp));
        s = js_PublishAsync(p->js, p->subject, data, (int)p->size, NULL);
    }
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        s = js_PublishAsyncComplete(p->js, &po);
    }
    if (s != NATS_OK) {
        die("publish", s, 0);
    }
    p->done_mono = mono_ns();
    free(data);
    return NULL;
}

static void
publish_start(publisher *p)
{
    pthread_create(&p->thread, NULL, publish_run, p);
}

/* ---- lag consumers ---- */

typedef struct receiver {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    char next_subj[256]; /* pull: $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> */
    char inbox[128];
    int64_t since_req;
    int64_t warm_wall; /* messages stamped before this are warm-up */
    int64_t expect;    /* messages to receive before stopping */
    atomic_llong got;
    int64_t *lat;
    atomic_llong n_lat;
    int64_t cap_lat;
    pthread_t thread;
} receiver;

#define PULL_BATCH 1000
static const char pull_req[] = "{\"batch\":1000}";

static void
record(receiver *r, natsMsg *msg)
{
    int64_t stamp, now = wall_ns();
    memcpy(&stamp, natsMsg_GetData(msg), sizeof(stamp));
    atomic_fetch_add(&r->got, 1);
    if (stamp >= r->warm_wall) {
        long long i = atomic_fetch_add(&r->n_lat, 1);
        if (i < r->cap_lat) {
            r->lat[i] = now - stamp;
        }
    }
}

static void
on_push(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    if (natsMsg_GetDataLength(msg) >= (int)sizeof(int64_t)) {
        record(closure, msg);
    }
    natsMsg_Destroy(msg);
}

/*
 * Pull without waiting for a batch to fill: two requests of PULL_BATCH (no expiry) are open at
 * the server all the time, and each message is recorded as it arrives on the inbox; a new
 * request goes out each time one is used up. natsSubscription_Fetch would return only when
 * its 1,000 arrived or its expiry passed (adding up to 50 ms at 20k/s), and libnats 3.4.1's
 * Fetch overflows its result array when more than half a batch is already pending (its loop
 * compares the total count to the reduced batch of the follow-up request), which short expiries
 * make happen.
 */
static void
on_pull(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    receiver *r = closure;
    (void)sub;
    if (natsMsg_GetDataLength(msg) >= (int)sizeof(int64_t)) {
        record(r, msg);
        if (++r->since_req == PULL_BATCH) {
            r->since_req = 0;
            natsConnection_PublishRequest(nc, r->next_subj, r->inbox, pull_req,
                                          (int)sizeof(pull_req) - 1);
        }
    }
    natsMsg_Destroy(msg);
}

/* A consumer on stream that sees only subject, from new messages on, without acks. */
static void
receiver_start(receiver *r, const char *url, const char *stream, const char *subject, int push)
{
    jsErrCode jerr = 0;
    natsStatus s;
    r->js = connect_js(url, &r->nc, 256);
    if (push) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.Config.AckPolicy = js_AckNone;
        so.Config.DeliverPolicy = js_DeliverNew;
        s = js_Subscribe(&r->sub, r->js, subject, on_push, r, NULL, &so, &jerr);
    } else {
        jsConsumerConfig cc;
        char durable[64];
        snprintf(durable, sizeof(durable), "lag_%s", stream);
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.AckPolicy = js_AckNone;
        cc.DeliverPolicy = js_DeliverNew;
        cc.FilterSubject = subject;
        s = js_AddConsumer(NULL, r->js, stream, &cc, NULL, &jerr);
        snprintf(r->next_subj, sizeof(r->next_subj), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream,
                 durable);
        snprintf(r->inbox, sizeof(r->inbox), "_INBOX.lag.%s", stream);
        if (s == NATS_OK) {
            s = natsConnection_Subscribe(&r->sub, r->nc, r->inbox, on_pull, r);
        }
        for (int i = 0; s == NATS_OK && i < 2; i++) {
            s = natsConnection_PublishRequest(r->nc, r->next_subj, r->inbox, pull_req,
                                              (int)sizeof(pull_req) - 1);
        }
    }
    if (s == NATS_OK) {
        /* the library's default pending limits would drop messages in a burst */
        s = natsSubscription_SetPendingLimits(r->sub, -1, -1);
    }
    if (s == NATS_OK) {
        s = natsConnection_Flush(r->nc);
    }
    if (s != NATS_OK) {
        die("subscribe", s, jerr);
    }
}

static void
receiver_stop(receiver *r)
{
    natsSubscription_Unsubscribe(r->sub);
    natsSubscription_Destroy(r->sub);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
}

static void
lag_report(const char *test, const char *how, int64_t size, int64_t rate, receiver *const *rs,
           int n_rs, int64_t expect, const char *cpu)
{
    int64_t n = 0, got = 0, k = 0;
    int64_t *all;
    double p50, p99, p999, max;
    for (int i = 0; i < n_rs; i++) {
        int64_t m = atomic_load(&rs[i]->n_lat);
        n += m < rs[i]->cap_lat ? m : rs[i]->cap_lat;
        got += atomic_load(&rs[i]->got);
    }
    all = malloc((size_t)(n > 0 ? n : 1) * sizeof(*all));
    for (int i = 0; i < n_rs; i++) {
        int64_t m = atomic_load(&rs[i]->n_lat);
        m = m < rs[i]->cap_lat ? m : rs[i]->cap_lat;
        memcpy(all + k, rs[i]->lat, (size_t)m * sizeof(*all));
        k += m;
    }
    lag_percentiles(all, n, &p50, &p99, &p999, &max);
    printf("nats %s %" PRId64 " B at %" PRId64 " msgs/s (%s): %" PRId64
           " samples, lag p50 %.3f ms p99 %.3f ms p999 %.3f ms max %.3f ms, received %" PRId64
           " of %" PRId64 "\n",
           test, size, rate, how, n, p50, p99, p999, max, got, expect);
    printf("RESULT peer=nats test=%s how=%s size=%" PRId64 " rate=%" PRId64 " samples=%" PRId64
           " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f received=%" PRId64
           " expected=%" PRId64 "%s\n",
           test, how, size, rate, n, p50, p99, p999, max, got, expect, cpu);
    free(all);
}

static int
run_lag(const char *url, int64_t size, int64_t rate, int64_t secs, const char *way, int push)
{
    int two_way = strcmp(way, "two-way") == 0, local = strcmp(way, "local") == 0;
    natsConnection *nc_a, *nc_b, *nc;
    jsCtx *js_a = connect_js(url, &nc_a, 4096), *js_b = connect_js(url, &nc_b, 4096);
    jsCtx *js = connect_js(url, &nc, 256);
    receiver *rs[2] = {calloc(1, sizeof(receiver)), calloc(1, sizeof(receiver))};
    publisher pubs[2];
    int n = two_way ? 2 : 1;
    int64_t count = rate * secs, deadline, self0, srv0;
    char cpu[96];
    if (two_way) {
        /* nats-server 2.9 refuses two streams sourcing each other, even with disjoint
         * filters ("detected cycle", 10052): each region has its local stream and a mirror of
         * the other's, so two mirrors run at once in opposite directions */
        add_stream(js, "A", "a.lag", NULL);
        add_stream(js, "B", "b.lag", NULL);
        add_stream(js, "A_IN_B", NULL, "A");
        add_stream(js, "B_IN_A", NULL, "B");
        receiver_start(rs[0], url, "A_IN_B", "a.lag", push); /* A's messages, read in B */
        receiver_start(rs[1], url, "B_IN_A", "b.lag", push); /* B's messages, read in A */
    } else {
        add_stream(js, "SRC", "lag.a", NULL);
        if (!local) {
            add_stream(js, "MIR", NULL, "SRC");
        }
        receiver_start(rs[0], url, local ? "SRC" : "MIR", "lag.a", push);
    }
    for (int i = 0; i < n; i++) {
        rs[i]->cap_lat = count;
        rs[i]->lat = malloc((size_t)count * sizeof(int64_t));
        rs[i]->expect = count;
        rs[i]->warm_wall = wall_ns() + WARMUP_NS;
    }
    pubs[0] = (publisher){.js = js_a,
                          .subject = two_way ? "a.lag" : "lag.a",
                          .size = size,
                          .count = count,
                          .rate = rate};
    pubs[1] =
        (publisher){.js = js_b, .subject = "b.lag", .size = size, .count = count, .rate = rate};
    cpu_ns(&self0, &srv0);
    for (int i = 0; i < n; i++) {
        publish_start(&pubs[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(pubs[i].thread, NULL);
    }
    /* everything published: wait (bounded) for the copies to arrive */
    deadline = mono_ns() + 10000000000LL;
    for (int i = 0; i < n; i++) {
        while (atomic_load(&rs[i]->got) < rs[i]->expect && mono_ns() < deadline) {
            sleep_until(mono_ns() + 1000000);
        }
    }
    cpu_per_msg(self0, srv0, count * n, cpu, sizeof(cpu));
    for (int i = 0; i < n; i++) {
        receiver_stop(rs[i]);
    }
    lag_report(two_way ? "lag-two-way"
               : local ? "lag-local"
                       : "lag-one-way",
               push ? "push" : "pull-1000", size, rate, rs, n, count * n, cpu);
    if (atomic_load(&pub_errors) > 0) {
        fprintf(stderr, "nats_mirror: %lld publish errors\n", (long long)atomic_load(&pub_errors));
    }
    for (int i = 0; i < 2; i++) {
        free(rs[i]->lat);
        free(rs[i]);
    }
    if (two_way) {
        js_DeleteStream(js, "B_IN_A", NULL, NULL);
        js_DeleteStream(js, "A_IN_B", NULL, NULL);
        js_DeleteStream(js, "A", NULL, NULL);
        js_DeleteStream(js, "B", NULL, NULL);
    } else {
        js_DeleteStream(js, "MIR", NULL, NULL);
        js_DeleteStream(js, "SRC", NULL, NULL);
    }
    jsCtx_Destroy(js);
    jsCtx_Destroy(js_a);
    jsCtx_Destroy(js_b);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(nc_a);
    natsConnection_Destroy(nc_b);
    return 0;
}

static int
run_copy(const char *url, int catchup, int64_t size, int64_t count, int window)
{
    natsConnection *nc;
    jsCtx *js = connect_js(url, &nc, window);
    publisher p = {.js = js, .subject = "copy.x", .size = size, .count = count, .rate = 0};
    int64_t t0, t1, self0, srv0;
    char cpu[96];
    const char *test = catchup ? "catchup" : "live";
    add_stream(js, "SRC", "copy.x", NULL);
    if (!catchup) {
        add_stream(js, "MIR", NULL, "SRC");
        cpu_ns(&self0, &srv0);
    }
    publish_start(&p);
    if (catchup) {
        pthread_join(p.thread, NULL);
        if (stream_msgs(js, "SRC") != (uint64_t)count) {
            fprintf(stderr, "nats_mirror: SRC holds %" PRIu64 " of %" PRId64 "\n",
                    stream_msgs(js, "SRC"), count);
            return 1;
        }
        cpu_ns(&self0, &srv0);
        t0 = mono_ns();
        add_stream(js, "MIR", NULL, "SRC");
        t1 = await_msgs(js, "MIR", (uint64_t)count, 30000000000LL);
    } else {
        t1 = await_msgs(js, "MIR", (uint64_t)count, 30000000000LL);
        pthread_join(p.thread, NULL);
        t0 = p.start_mono;
    }
    cpu_per_msg(self0, srv0, count, cpu, sizeof(cpu));
    if (t1 < 0) {
        return 1;
    }
    {
        double secs = (double)(t1 - t0) / 1e9;
        double pub_secs = (double)(p.done_mono - p.start_mono) / 1e9;
        printf("nats %s %" PRId64 " B: published %" PRId64 " in %.2f s (%.0f msgs/s); mirror "
               "holds them %.2f s after %s: %.0f msgs/s, %.1f MB/s; tail after the last "
               "publish ack %.3f s\n",
               test, size, count, pub_secs, (double)count / pub_secs, secs,
               catchup ? "its creation" : "the first publish", (double)count / secs,
               (double)(count * size) / secs / 1e6,
               catchup ? 0.0 : (double)(t1 - p.done_mono) / 1e9);
        printf("RESULT peer=nats test=%s size=%" PRId64 " count=%" PRId64
               " secs=%.3f rate=%.0f produce_rate=%.0f tail_s=%.3f%s\n",
               test, size, count, secs, (double)count / secs, (double)count / pub_secs,
               catchup ? 0.0 : (double)(t1 - p.done_mono) / 1e9, cpu);
    }
    js_DeleteStream(js, "MIR", NULL, NULL);
    js_DeleteStream(js, "SRC", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *usage =
        "usage: nats_mirror URL catchup|live SIZE COUNT WINDOW\n"
        "       nats_mirror URL lag SIZE RATE SECONDS local|one-way|two-way pull|push\n";
    int64_t size;
    int rc;
    if (argc < 6) {
        fputs(usage, stderr);
        return 2;
    }
    size = atoll(argv[3]);
    if (size < 8) {
        fprintf(stderr, "nats_mirror: SIZE >= 8 (the stamp)\n");
        return 2;
    }
    if (strcmp(argv[2], "catchup") == 0 || strcmp(argv[2], "live") == 0) {
        rc =
            run_copy(argv[1], strcmp(argv[2], "catchup") == 0, size, atoll(argv[4]), atoi(argv[5]));
    } else if (strcmp(argv[2], "lag") == 0 && argc >= 8) {
        rc = run_lag(argv[1], size, atoll(argv[4]), atoll(argv[5]), argv[6],
                     strcmp(argv[7], "push") == 0);
    } else {
        fputs(usage, stderr);
        rc = 2;
    }
    nats_Close();
    return rc;
}
