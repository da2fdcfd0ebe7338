/*
 * repl_lag - FerryMQ's side of bench/repl_compare.sh, through the public client API only:
 * end-to-end lag of replicated messages, the copy rate of a live stream, and the time until a
 * target topic holds a number of messages (catch-up).
 *
 *   repl_lag lag -a NS_A [-b NS_B] [-2] -t TOPIC [-s 128] [-r 20000] [-d 10] [-q 8]
 *       Produce -r msgs/s for -d seconds into TOPIC in region A (and, with -2, as much in B),
 *       each body starting with its send wall time (CLOCK_REALTIME ns), and record receipt
 *       time - send time of every replicated message (one carrying FERRY_SRC_REGION) read in
 *       the other region by one pull consumer with an asynchronous pull per queue, long
 *       polling (1 s) and batches of 256 (the broker's most). Without -b the consumers read region
 * A itself and count every message: a check of the tool's own plumbing and of the one-broker floor.
 *       Messages sent in the first second are not counted (warm-up). With -2 each region's
 *       topic holds its own messages too, so the readers select the copies as docs/replication.md
 *       tells consumers to, with the SQL92 filter `FERRY_SRC_REGION IS NOT NULL` evaluated by
 *       the broker (JetStream's readers filter by subject at the server likewise); LAG_ALL=1
 *       pulls everything and drops local messages here instead.
 *   repl_lag live -a NS_A -b NS_B -t TOPIC [-s 128] -c COUNT [-w 1024]
 *       Produce COUNT messages into A as fast as a window of -w sends allows; time from the
 *       first send until B's TOPIC holds COUNT more than at the start.
 *   repl_lag wait -b NS -t TOPIC -c COUNT [-s SIZE] [-x COMMAND]
 *       Start the clock, run COMMAND (sh -c; e.g. `ferrymq task resume`), and time until the
 *       sum of TOPIC's max offsets on NS reaches COUNT (polled every 2 ms); SIZE only labels
 *       the figure.
 *
 * With LAG_DUMP=PREFIX, a lag run also writes PREFIX.<test>: per sample (in arrival order) its
 * index, lag (ns), source store time - send time and target store time - send time (ms, from
 * FERRY_SRC_STORE_TS and the record's store time), to see which hop a tail comes from.
 *
 * Every figure is also printed as one "RESULT key=value ..." line for the script, with the CPU
 * time per message of this process and of the processes $BENCH_PIDS names. Needs a
 * replicator running a task from A to B (and back, for -2); never run as a test.
 */
#include <ferrymq.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lagstat.h"

#define WARMUP_NS 1000000000LL
#define PULL_BATCH 256
#define MAX_QUEUES 64

_Noreturn static void
die(const char *what, const char *why)
{
    fprintf(stderr, "repl_lag: %s: %s\n", what, why);
    exit(1);
}

static ferrymq_conf *
conf_for(const char *ns, const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    char err[256];
    if (conf == NULL || ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)) != 0) {
        die("conf", conf == NULL ? "out of memory" : err);
    }
    /* the broker should see the bodies as sent: no client-side compression */
    ferrymq_conf_set(conf, "compressMsgBodyOverHowmuch", "2147483647", NULL, 0);
    if (group != NULL) {
        ferrymq_conf_set(conf, "consumerGroup", group, NULL, 0);
    }
    return conf;
}

/* The readable queues of topic on ns, retried for up to 30 s while the topic has no route
 * yet (a target topic the replicator has not created). */
static size_t
topic_queues(ferrymq_consumer *c, const char *topic, ferrymq_queue *out, int quiet)
{
    int64_t deadline = mono_ns() + 30000000000LL;
    char err[256];
    for (;;) {
        ferrymq_queue *qs = NULL;
        size_t n = 0;
        int rc = ferrymq_consumer_queues(c, topic, &qs, &n, err, sizeof(err));
        if (rc == FERRYMQ_OK && n > 0) {
            n = n > MAX_QUEUES ? MAX_QUEUES : n;
            memcpy(out, qs, n * sizeof(*qs));
            free(qs);
            return n;
        }
        free(qs);
        if (quiet && mono_ns() < deadline) {
            sleep_until(mono_ns() + 10000000);
            continue;
        }
        die(topic, rc == FERRYMQ_OK ? "no readable queue" : err);
    }
}

/* Sum of the max offsets of qs; -1 when a queue could not be asked. */
static int64_t
offsets_sum(ferrymq_admin *a, const ferrymq_queue *qs, size_t n)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t min, max;
        if (ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, NULL, 0) != FERRYMQ_OK) {
            return -1;
        }
        sum += max;
    }
    return sum;
}

/* CPU time used so far, in ns: *self by this process (every thread), *servers by the processes
 * whose pids $BENCH_PIDS lists (the brokers and the replicator, or nats-server), read from
 * /proc, so each figure can say what it cost on a machine whose cores everything shares. */

/* ---- producers ---- */

typedef struct producer {
    const char *ns, *topic;
    int size, window;
    int64_t count, rate; /* rate 0: as fast as the window allows */
    int64_t start_mono, done_mono;
    atomic_llong acked, errors;
    char first_error[256];
    pthread_t thread;
} producer;

static void
on_ack(void *opaque, int err, const ferrymq_send_result *res, const char *why)
{
    producer *p = opaque;
    (void)res;
    if (err != FERRYMQ_OK) {
        if (atomic_fetch_add(&p->errors, 1) == 0) {
            snprintf(p->first_error, sizeof(p->first_error), "%s", why ? why : "?");
        }
    } else {
        atomic_fetch_add(&p->acked, 1);
    }
}

static void *
produce_run(void *arg)
{
    producer *p = arg;
    ferrymq_conf *conf = conf_for(p->ns, NULL);
    ferrymq_producer *prod;
    char err[256], win[16];
    char *body = calloc(1, (size_t)p->size);
    int64_t interval = p->rate > 0 ? 1000000000 / p->rate : 0;
    snprintf(win, sizeof(win), "%d", p->window);
    ferrymq_conf_set(conf, "maxInFlight", win, NULL, 0);
    if (ferrymq_producer_new(conf, &prod, err, sizeof(err)) != FERRYMQ_OK) {
        die("producer", err);
    }
    ferrymq_conf_free(conf);
    p->start_mono = mono_ns();
    for (int64_t i = 0; i < p->count; i++) {
        ferrymq_msg *msg;
        int64_t stamp;
        if (interval > 0) {
            int64_t due = p->start_mono + i * interval;
            if (mono_ns() < due) {
                sleep_until(due);
            }
        }
        stamp = wall_ns();
        memcpy(body, &stamp, sizeof(stamp));
        msg = ferrymq_msg_new(p->topic, body, (size_t)p->size);
        if (msg == NULL) {
            die("message", "out of memory");
        }
        if (ferrymq_producer_send_async(prod, msg, on_ack, p, err, sizeof(err)) != FERRYMQ_OK) {
            ferrymq_msg_free(msg);
            die("send", err);
        }
    }
    if (ferrymq_producer_close(prod, 60000) != FERRYMQ_OK) {
        die("producer close", "sends still pending after 60 s");
    }
    p->done_mono = mono_ns();
    if (atomic_load(&p->errors) > 0) {
        fprintf(stderr, "repl_lag: %lld failed sends on %s, first: %s\n",
                (long long)atomic_load(&p->errors), p->ns, p->first_error);
    }
    free(body);
    return NULL;
}

/* ---- lag consumers: one pull consumer, an asynchronous pull per queue ---- */

/* Each queue's pull is restarted from the completion of the one before, on the consumer's
 * I/O thread: no thread of this tool sits between a message's arrival and its timestamp. */

typedef struct region_reader region_reader;

typedef struct queue_reader {
    region_reader *rr;
    ferrymq_queue q;
    int64_t offset;
    atomic_int failed; /* the last pull failed: the supervisor starts the next in 100 ms */
} queue_reader;

struct region_reader {
    const char *ns, *topic;
    int all;           /* count local messages too (the plumbing check) */
    int sql;           /* select the copies at the broker (two-way: half the topic is local) */
    int64_t warm_wall; /* messages stamped before this are warm-up */
    int64_t expect;
    atomic_int stop;
    atomic_int pending; /* pulls in flight */
    atomic_llong got;
    int64_t *lat;
    int32_t *seg; /* with LAG_DUMP: per sample, source store - send and target store - send (ms) */
    atomic_llong n_lat;
    int64_t cap_lat;
    ferrymq_consumer *c;
    pthread_t supervisor;
    size_t n_q;
    queue_reader qr[MAX_QUEUES];
};

static void pull_next(queue_reader *qr);

static void
on_pull(void *opaque, int err, const ferrymq_pull_result *res, const char *why)
{
    queue_reader *qr = opaque;
    region_reader *rr = qr->rr;
    int64_t now = wall_ns();
    if (err != FERRYMQ_OK) {
        if (!atomic_load(&rr->stop)) {
            fprintf(stderr, "repl_lag: pull %s:%d: %s\n", qr->q.broker_name, qr->q.queue_id, why);
        }
        atomic_store(&qr->failed, 1);
        atomic_fetch_sub(&rr->pending, 1);
        return;
    }
    for (size_t i = 0; i < res->n_msgs; i++) {
        size_t len;
        const void *body = ferrymq_msg_body(res->msgs[i], &len);
        int64_t stamp;
        if (len < sizeof(stamp) ||
            (!rr->all && ferrymq_msg_property(res->msgs[i], "FERRY_SRC_REGION") == NULL)) {
            continue;
        }
        memcpy(&stamp, body, sizeof(stamp));
        atomic_fetch_add(&rr->got, 1);
        if (stamp >= rr->warm_wall) {
            long long k = atomic_fetch_add(&rr->n_lat, 1);
            if (k < rr->cap_lat) {
                rr->lat[k] = now - stamp;
                if (rr->seg != NULL) {
                    const char *src_ts = ferrymq_msg_property(res->msgs[i], "FERRY_SRC_STORE_TS");
                    int64_t sent_ms = stamp / 1000000;
                    rr->seg[2 * k] = src_ts != NULL ? (int32_t)(atoll(src_ts) - sent_ms) : -1;
                    rr->seg[2 * k + 1] =
                        (int32_t)(ferrymq_msg_store_timestamp(res->msgs[i]) - sent_ms);
                }
            }
        }
    }
    qr->offset = res->next_offset;
    atomic_fetch_sub(&rr->pending, 1);
    pull_next(qr);
}

static void
pull_next(queue_reader *qr)
{
    region_reader *rr = qr->rr;
    char err[256];
    if (atomic_load(&rr->stop)) {
        return;
    }
    atomic_fetch_add(&rr->pending, 1);
    if (ferrymq_consumer_pull_async(rr->c, &qr->q, qr->offset,
                                    rr->sql ? "FERRY_SRC_REGION IS NOT NULL" : "*",
                                    rr->sql ? "SQL92" : NULL, PULL_BATCH, 1000, on_pull, qr, err,
                                    sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "repl_lag: pull %s:%d: %s\n", qr->q.broker_name, qr->q.queue_id, err);
        atomic_fetch_sub(&rr->pending, 1);
        atomic_store(&qr->failed, 1);
    }
}

/* Starts every queue's first pull from this thread (so the consumer knows each broker's
 * address), then restarts failed queues every 100 ms until stop. */
static void *
supervise(void *arg)
{
    region_reader *rr = arg;
    for (size_t i = 0; i < rr->n_q; i++) {
        pull_next(&rr->qr[i]);
    }
    while (!atomic_load(&rr->stop)) {
        sleep_until(mono_ns() + 100000000);
        for (size_t i = 0; i < rr->n_q; i++) {
            if (atomic_exchange(&rr->qr[i].failed, 0)) {
                pull_next(&rr->qr[i]);
            }
        }
    }
    return NULL;
}

/* Readers of every queue of topic on ns from its current end. */
static void
region_reader_start(region_reader *rr)
{
    ferrymq_conf *conf = conf_for(rr->ns, "repl-lag");
    ferrymq_admin *a;
    ferrymq_queue qs[MAX_QUEUES];
    char err[256];
    if (ferrymq_consumer_new(conf, &rr->c, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK) {
        die("client", err);
    }
    ferrymq_conf_free(conf);
    rr->n_q = topic_queues(rr->c, rr->topic, qs, 1);
    for (size_t i = 0; i < rr->n_q; i++) {
        int64_t min;
        rr->qr[i].rr = rr;
        rr->qr[i].q = qs[i];
        if (ferrymq_admin_queue_offsets(a, &qs[i], &min, &rr->qr[i].offset, err, sizeof(err)) !=
            FERRYMQ_OK) {
            die("queue offsets", err);
        }
    }
    ferrymq_admin_free(a);
    pthread_create(&rr->supervisor, NULL, supervise, rr);
}

static void
region_reader_stop(region_reader *rr)
{
    atomic_store(&rr->stop, 1);
    pthread_join(rr->supervisor, NULL);
    /* the pulls still parked at the broker end within their 1 s suspend */
    for (int i = 0; i < 300 && atomic_load(&rr->pending) > 0; i++) {
        sleep_until(mono_ns() + 10000000);
    }
    ferrymq_consumer_close(rr->c);
}

static void
create_topic(const char *ns, const char *topic, int queues)
{
    ferrymq_conf *conf = conf_for(ns, NULL);
    ferrymq_admin *a;
    char err[256];
    if (ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_create_topic(a, topic, queues, err, sizeof(err)) != FERRYMQ_OK) {
        die("create topic", err);
    }
    ferrymq_admin_free(a);
    ferrymq_conf_free(conf);
}

static int
run_lag(const char *ns_a, const char *ns_b, int two_way, const char *topic, int size, int64_t rate,
        int64_t secs, int queues)
{
    region_reader *rr[2] = {calloc(1, sizeof(region_reader)), calloc(1, sizeof(region_reader))};
    producer *pp[2] = {calloc(1, sizeof(producer)), calloc(1, sizeof(producer))};
    int n = two_way ? 2 : 1;
    int64_t count = rate * secs, deadline, total = 0, got = 0, k = 0, self0, srv0;
    int64_t *all;
    char cpu[96];
    const char *test = ns_b == NULL ? "lag-local" : two_way ? "lag-two-way" : "lag-one-way";
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
    create_topic(ns_a, topic, queues);
    if (ns_b != NULL) {
        create_topic(ns_b, topic, queues);
    }
    for (int i = 0; i < n; i++) {
        /* the readers of A's messages are in B and the other way round */
        rr[i]->ns = ns_b == NULL ? ns_a : i == 0 ? ns_b : ns_a;
        rr[i]->topic = topic;
        rr[i]->all = ns_b == NULL;
        rr[i]->sql = two_way && getenv("LAG_ALL") == NULL;
        rr[i]->expect = count;
        rr[i]->cap_lat = count;
        rr[i]->lat = malloc((size_t)count * sizeof(int64_t));
        rr[i]->seg = getenv("LAG_DUMP") != NULL ? calloc((size_t)count * 2, sizeof(int32_t)) : NULL;
        region_reader_start(rr[i]);
        pp[i]->ns = i == 0 ? ns_a : ns_b;
        pp[i]->topic = topic;
        pp[i]->size = size;
        pp[i]->count = count;
        pp[i]->rate = rate;
        pp[i]->window = 1024;
    }
    cpu_ns(&self0, &srv0);
    for (int i = 0; i < n; i++) {
        rr[i]->warm_wall = wall_ns() + WARMUP_NS;
        pthread_create(&pp[i]->thread, NULL, produce_run, pp[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(pp[i]->thread, NULL);
    }
    deadline = mono_ns() + 10000000000LL;
    for (int i = 0; i < n; i++) {
        while (atomic_load(&rr[i]->got) < rr[i]->expect && mono_ns() < deadline) {
            sleep_until(mono_ns() + 1000000);
        }
    }
    cpu_per_msg(self0, srv0, count * n, cpu, sizeof(cpu));
    for (int i = 0; i < n; i++) {
        region_reader_stop(rr[i]);
        got += atomic_load(&rr[i]->got);
        total += atomic_load(&rr[i]->n_lat) < count ? atomic_load(&rr[i]->n_lat) : count;
    }
    all = malloc((size_t)(total > 0 ? total : 1) * sizeof(*all));
    for (int i = 0; i < n; i++) {
        int64_t m = atomic_load(&rr[i]->n_lat) < count ? atomic_load(&rr[i]->n_lat) : count;
        memcpy(all + k, rr[i]->lat, (size_t)m * sizeof(*all));
        k += m;
    }
    if (getenv("LAG_DUMP") != NULL) {
        char path[512];
        snprintf(path, sizeof(path), "%s.%s", getenv("LAG_DUMP"), test);
        FILE *f = fopen(path, "w");
        /* index, lag ns, source store - send ms, target store - send ms (first reader) */
        for (int64_t j = 0; f != NULL && j < total; j++) {
            int64_t m0 = atomic_load(&rr[0]->n_lat) < count ? atomic_load(&rr[0]->n_lat) : count;
            fprintf(f, "%" PRId64 " %" PRId64 " %d %d\n", j, all[j],
                    j < m0 ? rr[0]->seg[2 * j] : -1, j < m0 ? rr[0]->seg[2 * j + 1] : -1);
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    lag_percentiles(all, total, &p50, &p99, &p999, &max);
    printf("ferrymq %s %d B at %" PRId64 " msgs/s: %" PRId64
           " samples, lag p50 %.3f ms p99 %.3f ms p999 %.3f ms max %.3f ms, received %" PRId64
           " of %" PRId64 "\n",
           test, size, rate, total, p50, p99, p999, max, got, count * n);
    printf("RESULT peer=ferrymq test=%s how=pull-256 size=%d rate=%" PRId64 " samples=%" PRId64
           " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f received=%" PRId64
           " expected=%" PRId64 "%s\n",
           test, size, rate, total, p50, p99, p999, max, got, count * n, cpu);
    free(all);
    for (int i = 0; i < 2; i++) {
        free(rr[i]->lat);
        free(rr[i]);
        free(pp[i]);
    }
    return got == count * n ? 0 : 1;
}

/* Poll the sum of topic's max offsets on ns every 2 ms until it reaches want; the monotonic
 * time it did, or -1 after 60 s without progress. */
static int64_t
await_sum(ferrymq_consumer *c, ferrymq_admin *a, const char *topic, int64_t want)
{
    ferrymq_queue qs[MAX_QUEUES];
    size_t n = topic_queues(c, topic, qs, 1);
    int64_t last = -1, progress = mono_ns();
    for (;;) {
        int64_t sum = offsets_sum(a, qs, n), now = mono_ns();
        if (sum >= want) {
            return now;
        }
        if (sum != last) {
            last = sum;
            progress = now;
        } else if (now - progress > 60000000000LL) {
            fprintf(stderr, "repl_lag: %s stuck at %" PRId64 " of %" PRId64 "\n", topic, sum, want);
            return -1;
        }
        sleep_until(now + 2000000);
    }
}

static int
run_wait(const char *ns, const char *topic, int size, int64_t want, const char *cmd)
{
    ferrymq_conf *conf = conf_for(ns, NULL);
    ferrymq_consumer *c;
    ferrymq_admin *a;
    char err[256], cpu[96];
    int64_t t0, t1, self0, srv0;
    if (ferrymq_consumer_new(conf, &c, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK) {
        die("client", err);
    }
    ferrymq_conf_free(conf);
    cpu_ns(&self0, &srv0);
    t0 = mono_ns();
    if (cmd != NULL && system(cmd) != 0) {
        die("command failed", cmd);
    }
    t1 = await_sum(c, a, topic, want);
    cpu_per_msg(self0, srv0, want, cpu, sizeof(cpu));
    ferrymq_admin_free(a);
    ferrymq_consumer_close(c);
    if (t1 < 0) {
        return 1;
    }
    printf("ferrymq catchup %d B: %s holds %" PRId64 " messages %.2f s after the start: %.0f "
           "msgs/s, %.1f MB/s\n",
           size, topic, want, (double)(t1 - t0) / 1e9, (double)want / ((double)(t1 - t0) / 1e9),
           (double)want * size / ((double)(t1 - t0) / 1e9) / 1e6);
    printf("RESULT peer=ferrymq test=catchup size=%d count=%" PRId64 " secs=%.3f rate=%.0f%s\n",
           size, want, (double)(t1 - t0) / 1e9, (double)want / ((double)(t1 - t0) / 1e9), cpu);
    return 0;
}

static int
run_live(const char *ns_a, const char *ns_b, const char *topic, int size, int64_t count, int window,
         int queues)
{
    ferrymq_conf *conf;
    ferrymq_consumer *c;
    ferrymq_admin *a;
    ferrymq_queue qs[MAX_QUEUES];
    producer p = {
        .ns = ns_a, .topic = topic, .size = size, .window = window, .count = count, .rate = 0};
    char err[256], cpu[96];
    int64_t base, t1, self0, srv0;
    size_t n;
    create_topic(ns_a, topic, queues);
    create_topic(ns_b, topic, queues);
    conf = conf_for(ns_b, NULL);
    if (ferrymq_consumer_new(conf, &c, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK) {
        die("client", err);
    }
    ferrymq_conf_free(conf);
    n = topic_queues(c, topic, qs, 1);
    base = offsets_sum(a, qs, n);
    cpu_ns(&self0, &srv0);
    pthread_create(&p.thread, NULL, produce_run, &p);
    t1 = await_sum(c, a, topic, base + count);
    cpu_per_msg(self0, srv0, count, cpu, sizeof(cpu));
    pthread_join(p.thread, NULL);
    ferrymq_admin_free(a);
    ferrymq_consumer_close(c);
    if (t1 < 0) {
        return 1;
    }
    {
        double secs = (double)(t1 - p.start_mono) / 1e9;
        double pub = (double)(p.done_mono - p.start_mono) / 1e9;
        printf("ferrymq live %d B: produced %" PRId64 " in %.2f s (%.0f msgs/s); the target "
               "holds them %.2f s after the first send: %.0f msgs/s, %.1f MB/s; tail after the "
               "last ack %.3f s\n",
               size, count, pub, (double)count / pub, secs, (double)count / secs,
               (double)count * size / secs / 1e6, (double)(t1 - p.done_mono) / 1e9);
        printf("RESULT peer=ferrymq test=live size=%d count=%" PRId64
               " secs=%.3f rate=%.0f produce_rate=%.0f tail_s=%.3f%s\n",
               size, count, secs, (double)count / secs, (double)count / pub,
               (double)(t1 - p.done_mono) / 1e9, cpu);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *ns_a = NULL, *ns_b = NULL, *topic = NULL, *cmd = NULL;
    int size = 128, queues = 8, window = 1024, two_way = 0, opt;
    int64_t rate = 20000, secs = 10, count = 0;
    const char *usage =
        "usage: repl_lag lag -a NS_A [-b NS_B] [-2] -t TOPIC [-s SIZE] [-r RATE] [-d SECS] [-q Q]\n"
        "       repl_lag live -a NS_A -b NS_B -t TOPIC [-s SIZE] -c COUNT [-w WINDOW]\n"
        "       repl_lag wait -b NS -t TOPIC -c COUNT [-s SIZE] [-x COMMAND]\n";
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    optind = 2;
    while ((opt = getopt(argc, argv, "a:b:2t:s:r:d:q:c:w:x:")) != -1) {
        switch (opt) {
        case 'a':
            ns_a = optarg;
            break;
        case 'b':
            ns_b = optarg;
            break;
        case '2':
            two_way = 1;
            break;
        case 't':
            topic = optarg;
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'r':
            rate = atoll(optarg);
            break;
        case 'd':
            secs = atoll(optarg);
            break;
        case 'q':
            queues = atoi(optarg);
            break;
        case 'c':
            count = atoll(optarg);
            break;
        case 'w':
            window = atoi(optarg);
            break;
        case 'x':
            cmd = optarg;
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (topic == NULL || size < 8 || queues < 1 || queues > MAX_QUEUES) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "lag") == 0 && ns_a != NULL && rate > 0 && secs > 0 &&
        (!two_way || ns_b != NULL)) {
        return run_lag(ns_a, ns_b, two_way, topic, size, rate, secs, queues);
    }
    if (strcmp(argv[1], "live") == 0 && ns_a != NULL && ns_b != NULL && count > 0) {
        return run_live(ns_a, ns_b, topic, size, count, window, queues);
    }
    if (strcmp(argv[1], "wait") == 0 && ns_b != NULL && count > 0) {
        return run_wait(ns_b, topic, size, count, cmd);
    }
    fputs(usage, stderr);
    return 2;
}
