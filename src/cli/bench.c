/*
 * ferrymq bench produce|consume - throughput and latency against a live cluster, in the
 * spirit of RocketMQ's benchmark/producer.sh and `nats bench`.
 *
 *   produce: N messages (or for D seconds) of S bytes, asynchronously with a window of W
 *            in flight; latency is send call to acknowledgement.
 *   consume: pull every queue of the topic from its min offset until N messages (or D
 *            seconds); latency is the message's store time to its arrival here.
 *   push:    the same through a push consumer in a fresh group (default options: 20
 *            threads, one message per callback), from the first offset.
 */
#include "cli/cli.h"

#include <ferrymq.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t
cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench_state {
    pthread_mutex_t mu;
    int64_t *lat; /* ns per acknowledged message */
    int64_t n_lat, cap_lat;
    int64_t errors;
    char first_error[256];
} bench_state;

/* Send times by sequence, in a ring: a send's slot is reused only once it was acknowledged,
 * since at most `window` sends are in flight. The sequence travels as the callback's opaque,
 * so a send allocates nothing here and measures only the library. */
static bench_state *g_bench;
static int64_t *g_sent_at;
static size_t g_ring;

static void
on_ack(void *opaque, int err, const ferrymq_send_result *res, const char *why)
{
    bench_state *st = g_bench;
    int64_t d = cli_now_ns() - g_sent_at[(uintptr_t)opaque % g_ring];
    (void)res;
    pthread_mutex_lock(&st->mu);
    if (err != FERRYMQ_OK) {
        if (st->errors++ == 0) {
            snprintf(st->first_error, sizeof(st->first_error), "%s", why ? why : "?");
        }
    } else if (st->n_lat < st->cap_lat) {
        st->lat[st->n_lat++] = d;
    }
    pthread_mutex_unlock(&st->mu);
}

static void
report(const char *what, const char *lat_label, int64_t n, int64_t bytes, int64_t elapsed_ns,
       int64_t *lat, int64_t n_lat, int64_t errors)
{
    double secs = (double)elapsed_ns / 1e9;
    if (secs <= 0) {
        secs = 1e-9;
    }
    qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_i64);
    printf("%s: %" PRId64 " msgs in %.2f s: %.0f msgs/s, %.2f MB/s", what, n, secs,
           (double)n / secs, (double)bytes / secs / 1e6);
    if (n_lat > 0) {
        printf(", %s p50 %.3f ms p99 %.3f ms p999 %.3f ms", lat_label, (double)lat[n_lat / 2] / 1e6,
               (double)lat[n_lat * 99 / 100] / 1e6, (double)lat[n_lat * 999 / 1000] / 1e6);
    }
    printf(", errors %" PRId64 "\n", errors);
}

static int
bench_produce(const bench_opts *o)
{
    ferrymq_conf *conf = cli_conf(NULL);
    ferrymq_producer *p;
    ferrymq_admin *a;
    bench_state st;
    char err[512], win[24];
    char *body;
    int64_t sent = 0, t0, deadline, last_report, t_send;
    int rc;

    snprintf(win, sizeof(win), "%d", o->window);
    ferrymq_conf_set(conf, "maxInFlight", win, NULL, 0);
    /* keep the broker's view of the body size: no client-side compression in a benchmark */
    ferrymq_conf_set(conf, "compressMsgBodyOverHowmuch", "2147483647", NULL, 0);
    rc = ferrymq_admin_new(conf, &a, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        /* made when missing; an existing topic keeps its queues (creating it again would
         * replace its queue count with QUEUES) */
        char **names = NULL;
        size_t n = 0;
        int exists = 0;
        if (ferrymq_admin_topic_list(a, &names, &n, NULL, 0) == FERRYMQ_OK) {
            for (size_t i = 0; i < n && !exists; i++) {
                exists = strcmp(names[i], o->topic) == 0;
            }
            ferrymq_strings_free(names, n);
        }
        if (!exists) {
            rc = ferrymq_admin_create_topic(a, o->topic, o->queues, err, sizeof(err));
        }
        ferrymq_admin_free(a);
    }
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_producer_new(conf, &p, err, sizeof(err));
    }
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return cli_fail("bench produce", err);
    }
    memset(&st, 0, sizeof(st));
    pthread_mutex_init(&st.mu, NULL);
    st.cap_lat = o->count > 0 ? o->count : 10000000;
    st.lat = malloc((size_t)st.cap_lat * sizeof(*st.lat));
    body = malloc((size_t)o->size + 1);
    g_ring = 2 * (size_t)o->window + 16;
    g_sent_at = malloc(g_ring * sizeof(*g_sent_at));
    g_bench = &st;
    if (st.lat == NULL || body == NULL || g_sent_at == NULL) {
        return cli_fail("bench produce", "out of memory");
    }
    memset(body, 'm', (size_t)o->size);
    t0 = cli_now_ns();
    deadline = o->duration_s > 0 ? t0 + (int64_t)o->duration_s * 1000000000 : INT64_MAX;
    last_report = t0;
    while ((o->count <= 0 || sent < o->count) && cli_now_ns() < deadline && !cli_interrupted) {
        ferrymq_msg *m = ferrymq_msg_new(o->topic, body, (size_t)o->size);
        if (m == NULL) {
            return cli_fail("bench produce", "out of memory");
        }
        g_sent_at[(size_t)sent % g_ring] = t_send = cli_now_ns();
        rc = ferrymq_producer_send_async(p, m, on_ack, (void *)(uintptr_t)sent, err, sizeof(err));
        if (rc != FERRYMQ_OK) {
            ferrymq_msg_free(m);
            ferrymq_producer_close(p, 10000);
            return cli_fail("bench produce", err);
        }
        sent++;
        if (t_send - last_report > 1000000000) {
            last_report = t_send;
            fprintf(stderr, "ferrymq: bench produce: %" PRId64 " sent\n", sent);
        }
    }
    rc = ferrymq_producer_close(p, 60000);
    report("produce", "ack latency", sent, sent * o->size, cli_now_ns() - t0, st.lat, st.n_lat,
           st.errors);
    if (st.errors > 0) {
        fprintf(stderr, "ferrymq: bench produce: first error: %s\n", st.first_error);
    }
    free(st.lat);
    free(body);
    free(g_sent_at);
    g_sent_at = NULL;
    pthread_mutex_destroy(&st.mu);
    return rc == FERRYMQ_OK && st.errors == 0 ? 0 : CLI_EXIT_FAIL;
}

static int
bench_consume(const bench_opts *o)
{
    ferrymq_conf *conf = cli_conf("ferrymq-bench");
    ferrymq_consumer *c;
    ferrymq_admin *a;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int64_t *next, got = 0, bytes = 0, t0, deadline, *lat, n_lat = 0, cap_lat;
    ferrymq_pull_result res;
    char err[512];
    int rc = ferrymq_consumer_new(conf, &c, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_admin_new(conf, &a, err, sizeof(err));
    }
    ferrymq_conf_free(conf);
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_consumer_queues(c, o->topic, &qs, &nq, err, sizeof(err));
    }
    if (rc != FERRYMQ_OK) {
        return cli_fail("bench consume", err);
    }
    next = calloc(nq + 1, sizeof(*next));
    cap_lat = o->count > 0 ? o->count : 10000000;
    lat = malloc((size_t)cap_lat * sizeof(*lat));
    if (next == NULL || lat == NULL) {
        return cli_fail("bench consume", "out of memory");
    }
    for (size_t i = 0; i < nq; i++) {
        int64_t max;
        ferrymq_admin_queue_offsets(a, &qs[i], &next[i], &max, NULL, 0);
    }
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    t0 = cli_now_ns();
    deadline = o->duration_s > 0 ? t0 + (int64_t)o->duration_s * 1000000000 : INT64_MAX;
    while ((o->count <= 0 || got < o->count) && cli_now_ns() < deadline && !cli_interrupted) {
        int64_t before = got;
        int skipped = 0;
        for (size_t i = 0; i < nq && (o->count <= 0 || got < o->count); i++) {
            rc =
                ferrymq_consumer_pull(c, &qs[i], next[i], "*", NULL, 32, 0, &res, err, sizeof(err));
            if (rc != FERRYMQ_OK) {
                break;
            }
            for (size_t k = 0; k < res.n_msgs; k++) {
                size_t len;
                ferrymq_msg_body(res.msgs[k], &len);
                bytes += (int64_t)len;
                if (n_lat < cap_lat) {
                    lat[n_lat++] = (wall_ms() - ferrymq_msg_store_timestamp(res.msgs[k])) * 1000000;
                }
            }
            got += (int64_t)res.n_msgs;
            /* PULL_RETRY_IMMEDIATELY (NO_MATCHED_MSG): no message, but the queue moved on */
            skipped |= res.status == FERRYMQ_PULL_NO_MATCHED_MSG && res.next_offset > next[i];
            next[i] = res.next_offset;
        }
        if (rc != FERRYMQ_OK || (got == before && !skipped && o->count <= 0)) {
            break; /* drained everything there was */
        }
    }
    ferrymq_pull_result_clear(&res);
    /* for a backlog this is how old the messages were when they arrived, not a latency */
    report("consume", "message age", got, bytes, cli_now_ns() - t0, lat, n_lat, rc != FERRYMQ_OK);
    free(lat);
    free(next);
    free(qs);
    ferrymq_admin_free(a);
    ferrymq_consumer_close(c);
    return rc == FERRYMQ_OK ? 0 : cli_fail("bench consume", err);
}

typedef struct push_bench {
    pthread_mutex_t mu;
    int64_t got, bytes, *lat, n_lat, cap_lat, t_last;
} push_bench;

static int
on_push(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    push_bench *pb = opaque;
    int64_t now = wall_ms();
    pthread_mutex_lock(&pb->mu);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        ferrymq_msg_body(msgs[i], &len);
        pb->bytes += (int64_t)len;
        if (pb->n_lat < pb->cap_lat) {
            pb->lat[pb->n_lat++] = (now - ferrymq_msg_store_timestamp(msgs[i])) * 1000000;
        }
    }
    pb->got += (int64_t)n;
    pb->t_last = cli_now_ns();
    pthread_mutex_unlock(&pb->mu);
    return FERRYMQ_CONSUME_SUCCESS;
}

static int
bench_push(const bench_opts *o)
{
    char group[64], err[512];
    ferrymq_conf *conf;
    ferrymq_push_consumer *pc = NULL;
    push_bench pb;
    int64_t t0, deadline, idle_since;
    int rc;
    snprintf(group, sizeof(group), "ferrymq-bench-push-%ld", (long)getpid());
    conf = cli_conf(group);
    if (conf == NULL) {
        return cli_fail("bench push", "out of memory");
    }
    ferrymq_conf_set(conf, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET", NULL, 0);
    memset(&pb, 0, sizeof(pb));
    pthread_mutex_init(&pb.mu, NULL);
    pb.cap_lat = o->count > 0 ? o->count : 10000000;
    pb.lat = malloc((size_t)pb.cap_lat * sizeof(*pb.lat));
    rc = pb.lat ? ferrymq_push_consumer_new(conf, &pc, err, sizeof(err)) : FERRYMQ_ENOMEM;
    ferrymq_conf_free(conf);
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_push_consumer_subscribe(pc, o->topic, "*", NULL, err, sizeof(err));
    }
    t0 = cli_now_ns();
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_push_consumer_start(pc, FERRYMQ_CONSUME_CONCURRENTLY, on_push, &pb, err,
                                         sizeof(err));
    }
    if (rc != FERRYMQ_OK) {
        ferrymq_push_consumer_close(pc);
        free(pb.lat);
        return cli_fail("bench push", rc == FERRYMQ_ENOMEM ? "out of memory" : err);
    }
    deadline = o->duration_s > 0 ? t0 + (int64_t)o->duration_s * 1000000000 : INT64_MAX;
    idle_since = cli_now_ns();
    for (;;) {
        struct timespec tick = {0, 10 * 1000000L};
        int64_t got, last, now = cli_now_ns();
        pthread_mutex_lock(&pb.mu);
        got = pb.got;
        last = pb.t_last;
        pthread_mutex_unlock(&pb.mu);
        if ((o->count > 0 && got >= o->count) || now >= deadline || cli_interrupted) {
            break;
        }
        /* a backlog smaller than the count: stop after 2 s without a message */
        if (now - (last > idle_since ? last : idle_since) > 2000000000LL) {
            break;
        }
        nanosleep(&tick, NULL); /* a progress poll, not synchronisation */
    }
    ferrymq_push_consumer_close(pc);
    report("push", "message age", pb.got, pb.bytes,
           (pb.t_last > t0 ? pb.t_last : cli_now_ns()) - t0, pb.lat, pb.n_lat, 0);
    free(pb.lat);
    pthread_mutex_destroy(&pb.mu);
    return 0;
}

static const cli_opt bench_optv[] = {{"topic", 't', 1},    {"size", 's', 1},   {"count", 'c', 1},
                                     {"duration", 'd', 1}, {"window", 'w', 1}, {"queues", 'q', 1},
                                     {NULL, 0, 0}};

static const cli_cmd bench_cmd = {
    "bench",
    "bench produce|consume|push [-t TOPIC] [-s SIZE] [-c COUNT | -d SECONDS] [-w WINDOW] "
    "[-q QUEUES]",
    "  produce: COUNT messages (default 100000; or for SECONDS) of SIZE bytes (default 128),\n"
    "  WINDOW (default 256) in flight, to TOPIC (default BenchTopic; when missing, created\n"
    "  with QUEUES queues, default 8); consume: pull them back; push: through a push consumer.\n"
    "  Prints msgs/s, MB/s and latency percentiles; SIGINT/SIGTERM stops it early with the\n"
    "  summary of what ran (exit 130).\n",
    bench_optv,
    0,
    0};

int
cli_bench(int argc, char **argv)
{
    bench_opts o;
    cli_args args;
    static const char *const modes[] = {"produce", "consume", "push", NULL};
    const char *mode, *val;
    int k, rc;
    memset(&o, 0, sizeof(o));
    o.topic = "BenchTopic";
    o.size = 128;
    o.count = 100000;
    o.window = 256;
    o.queues = 8;
    argc--;
    argv++;
    k = cli_take_sub(&argc, argv, &bench_cmd, modes, "produce, consume or push");
    if (k < 0) {
        return cli_args_exit(k);
    }
    mode = modes[k];
    cli_args_init(&args, &bench_cmd, argc, argv);
    while ((k = cli_args_next(&args, &val)) > 0) {
        int64_t n;
        if (k == 't') {
            o.topic = val;
            continue;
        }
        if (cli_parse_count(val, 0, INT64_MAX, &n) != 0) {
            return cli_usage_error("bench value '%s' is not a non-negative number", val);
        }
        switch (k) {
        case 's':
            o.size = n > INT32_MAX ? INT32_MAX : (int)n;
            break;
        case 'c':
            o.count = n;
            break;
        case 'd':
            o.duration_s = n > INT32_MAX ? INT32_MAX : (int)n;
            o.count = 0;
            break;
        case 'w':
            o.window = n > INT32_MAX ? INT32_MAX : (int)n;
            break;
        case 'q':
            o.queues = n > INT32_MAX ? INT32_MAX : (int)n;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (o.size < 1 || o.size > 4 << 20 || o.window < 1 || o.queues < 1 || o.queues > 1024 ||
        (o.count == 0 && o.duration_s == 0)) {
        return cli_usage_error("%s: size 1..4194304, window >= 1, queues 1..1024, a count or "
                               "a duration",
                               "bench");
    }
    /* the handler only sets a flag, so whichever thread takes the signal is fine: the loops
     * below poll the flag, and the library retries its calls on EINTR */
    cli_catch_interrupt();
    if (strcmp(mode, "push") == 0) {
        rc = bench_push(&o);
    } else {
        rc = strcmp(mode, "produce") == 0 ? bench_produce(&o) : bench_consume(&o);
    }
    if (cli_interrupted) {
        fprintf(stderr, "ferrymq: bench %s: interrupted\n", mode);
        return rc == 0 ? CLI_EXIT_INTERRUPTED : rc;
    }
    return rc;
}
