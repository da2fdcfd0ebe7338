/*
 * ferrymq - the command-line tool, built only on libferrymq (include/ferrymq.h).
 *
 * Exit codes a script can rely on: 0 success; 1 the operation failed (broker, network, not
 * found); 2 bad usage (unknown command or option, missing or malformed argument).
 * Errors go to stderr as "ferrymq: <what>: <why>"; data goes to stdout.
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ferrymq.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char *namesrv;

static void
usage(FILE *out)
{
    fprintf(
        out,
        "usage: ferrymq [-n host:port] <command> [options]\n"
        "\n"
        "  produce -t TOPIC [--tag T] [--keys K] [-p name=value]... [--file F] [BODY...]\n"
        "          each BODY argument is one message; without any, one message per line of\n"
        "          --file or standard input\n"
        "  consume -t TOPIC [-g GROUP] [--filter EXPR] [--sql] [--from earliest|latest|committed]\n"
        "          [--count N] [--wait-ms MS] [--format human|json] [--commit]\n"
        "          [--push [--orderly] [--verbose] [--conf key=value]...]: as a member of\n"
        "          GROUP (queues shared with its other members, offsets committed), until\n"
        "          --count, --wait-ms idle, or SIGINT/SIGTERM; --conf sets a client option\n"
        "  topic create TOPIC [--queues N] | topic list | topic stats TOPIC\n"
        "  offset TOPIC [-g GROUP] [--time EPOCH_MS|YYYY-MM-DDTHH:MM:SSZ]\n"
        "  group list | group progress GROUP [-t TOPIC]\n"
        "  group reset GROUP -t TOPIC (--to-time EPOCH_MS|YYYY-MM-DDTHH:MM:SSZ |\n"
        "          --to earliest|latest) [--dry-run]\n"
        "  message show ID [-t TOPIC] | message find -t TOPIC --key KEY [--json]\n"
        "          ID: the offset message id or the client id (UNIQ_KEY, needs -t)\n"
        "  cluster\n"
        "  bench produce|consume|push [-t TOPIC] [-s SIZE] [-n COUNT | -d SECONDS] [-w WINDOW]\n"
        "          [-q QUEUES]: msgs/s, MB/s and latency percentiles\n"
        "\n"
        "The name server is -n, else $FERRYMQ_NAMESRV, else 127.0.0.1:9876.\n"
        "Exit codes: 0 ok, 1 operation failed, 2 bad usage.\n");
}

int
cli_fail(const char *what, const char *why)
{
    fprintf(stderr, "ferrymq: %s: %s\n", what, why);
    return EXIT_FAIL;
}

int
cli_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "ferrymq: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see ferrymq --help)\n");
    return EXIT_USAGE;
}

#define fail cli_fail
#define bad_usage cli_usage_error

ferrymq_conf *
cli_conf(const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    if (conf == NULL) {
        return NULL;
    }
    ferrymq_conf_set(conf, "namesrvAddr", namesrv, NULL, 0);
    ferrymq_conf_set(conf, "producerGroup", "ferrymq-cli", NULL, 0);
    ferrymq_conf_set(conf, "consumerGroup", group ? group : "ferrymq-cli", NULL, 0);
    return conf;
}

static int
parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* Epoch milliseconds or an ISO-8601 UTC time (2026-11-24T10:00:00Z). */
static int
parse_time(const char *s, int64_t *ms)
{
    struct tm tm;
    const char *end;
    if (parse_i64(s, ms) == 0) {
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || (*end != 'Z' && *end != '\0') || (*end == 'Z' && end[1] != '\0')) {
        return -1;
    }
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* ---- produce ---- */

static int
send_one(ferrymq_producer *p, const char *topic, const char *body, size_t len, const char *tag,
         const char *keys, char **props, int n_props, long *sent)
{
    char err[512];
    ferrymq_send_result res;
    ferrymq_msg *m = ferrymq_msg_new(topic, body, len);
    int rc;
    if (m == NULL) {
        return fail("produce", "out of memory");
    }
    if (tag != NULL) {
        ferrymq_msg_set_tags(m, tag);
    }
    if (keys != NULL) {
        ferrymq_msg_set_keys(m, keys);
    }
    for (int i = 0; i < n_props; i++) {
        char *eq = strchr(props[i], '=');
        *eq = '\0';
        rc = ferrymq_msg_set_property(m, props[i], eq + 1);
        *eq = '=';
        if (rc != FERRYMQ_OK) {
            ferrymq_msg_free(m);
            return bad_usage("property '%s' is not name=value without control bytes", props[i]);
        }
    }
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    rc = ferrymq_producer_send(p, m, &res, err, sizeof(err));
    ferrymq_msg_free(m);
    if (rc != FERRYMQ_OK) {
        return fail("produce", err);
    }
    (*sent)++;
    if (isatty(STDERR_FILENO) && *sent % 10000 == 0) {
        fprintf(stderr, "\rferrymq: produced %ld", *sent);
    }
    printf("%s %s %s/%d@%" PRId64 "\n", res.msg_id, res.offset_msg_id, res.broker_name,
           res.queue_id, res.queue_offset);
    return 0;
}

static int
cmd_produce(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'}, {"tag", required_argument, NULL, 'T'},
        {"keys", required_argument, NULL, 'k'},  {"property", required_argument, NULL, 'p'},
        {"file", required_argument, NULL, 'f'},  {NULL, 0, NULL, 0}};
    const char *topic = NULL, *tag = NULL, *keys = NULL, *file = NULL;
    char *props[64];
    int n_props = 0, opt, rc = 0;
    long sent = 0;
    ferrymq_conf *conf;
    ferrymq_producer *p;
    char err[512];

    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:T:k:p:f:", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            topic = optarg;
            break;
        case 'T':
            tag = optarg;
            break;
        case 'k':
            keys = optarg;
            break;
        case 'p':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=' || n_props == 64) {
                return bad_usage("property '%s' must be name=value (at most 64)", optarg);
            }
            props[n_props++] = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (topic == NULL) {
        return bad_usage("%s needs -t TOPIC", "produce");
    }
    conf = cli_conf(NULL);
    rc = ferrymq_producer_new(conf, &p, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return fail("produce", err);
    }
    rc = 0;
    if (optind < argc) {
        for (int i = optind; i < argc && rc == 0; i++) {
            rc = send_one(p, topic, argv[i], strlen(argv[i]), tag, keys, props, n_props, &sent);
        }
    } else {
        FILE *in = file ? fopen(file, "r") : stdin;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        if (in == NULL) {
            ferrymq_producer_close(p, 1000);
            return fail(file, strerror(errno));
        }
        while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
            if (n > 0 && line[n - 1] == '\n') {
                line[--n] = '\0';
            }
            rc = send_one(p, topic, line, (size_t)n, tag, keys, props, n_props, &sent);
        }
        free(line);
        if (in != stdin) {
            fclose(in);
        }
    }
    if (isatty(STDERR_FILENO) && sent >= 10000) {
        fprintf(stderr, "\rferrymq: produced %ld\n", sent);
    }
    ferrymq_producer_close(p, 5000);
    return rc;
}

/* ---- consume ---- */

#define print_msg cli_print_msg

/* ---- consume --push: a group member through the push consumer ---- */

typedef struct push_state {
    pthread_mutex_t mu; /* one message printed at a time */
    int json;
    atomic_long got;
    atomic_llong last_ms;
} push_state;

static int
push_cb(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    push_state *ps = opaque;
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < n; i++) {
        print_msg(msgs[i], ps->json);
    }
    /* on stdout before the offset can be committed: a crash repeats lines, never loses one */
    fflush(stdout);
    pthread_mutex_unlock(&ps->mu);
    atomic_fetch_add(&ps->got, (long)n);
    atomic_store(&ps->last_ms, (long long)cli_now_ns() / 1000000);
    return FERRYMQ_CONSUME_SUCCESS;
}

static void
push_log(void *opaque, int level, const char *line)
{
    (void)opaque;
    (void)level;
    fprintf(stderr, "ferrymq: %s\n", line);
}

static int
consume_push(const char *topic, const char *group, const char *expr, int sql, const char *from,
             int json, int64_t count, int64_t idle_ms, int orderly, int verbose, char *const *confs,
             int n_confs)
{
    ferrymq_conf *conf = cli_conf(group);
    ferrymq_push_consumer *pc = NULL;
    push_state ps;
    sigset_t set;
    char err[512];
    int rc, sig = 0;
    if (conf == NULL) {
        return fail("consume", "out of memory");
    }
    ferrymq_conf_set(conf, "consumeFromWhere",
                     strcmp(from, "latest") == 0 ? "CONSUME_FROM_LAST_OFFSET"
                                                 : "CONSUME_FROM_FIRST_OFFSET",
                     NULL, 0);
    for (int i = 0; i < n_confs; i++) {
        char *eq = strchr(confs[i], '=');
        *eq = '\0';
        rc = ferrymq_conf_set(conf, confs[i], eq + 1, err, sizeof(err));
        *eq = '=';
        if (rc != FERRYMQ_OK) {
            ferrymq_conf_free(conf);
            fprintf(stderr, "ferrymq: --conf %s: %s (see ferrymq --help)\n", confs[i], err);
            return EXIT_USAGE;
        }
    }
    if (verbose) {
        ferrymq_conf_set_log_cb(conf, push_log, NULL);
    }
    /* the library's threads inherit this mask, so SIGINT/SIGTERM reach only sigtimedwait */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    memset(&ps, 0, sizeof(ps));
    pthread_mutex_init(&ps.mu, NULL);
    ps.json = json;
    atomic_store(&ps.last_ms, (long long)cli_now_ns() / 1000000);
    rc = ferrymq_push_consumer_new(conf, &pc, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_push_consumer_subscribe(pc, topic, expr, sql ? "SQL92" : "TAG", err,
                                             sizeof(err));
    }
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_push_consumer_start(
            pc, orderly ? FERRYMQ_CONSUME_ORDERLY : FERRYMQ_CONSUME_CONCURRENTLY, push_cb, &ps, err,
            sizeof(err));
    }
    if (rc != FERRYMQ_OK) {
        ferrymq_push_consumer_close(pc);
        pthread_mutex_destroy(&ps.mu);
        return fail("consume", err);
    }
    if (verbose) {
        fprintf(stderr, "ferrymq: client id %s\n", ferrymq_push_consumer_client_id(pc));
    }
    while (sig <= 0) {
        struct timespec tick = {0, 100 * 1000000L};
        if (count >= 0 && atomic_load(&ps.got) >= count) {
            break;
        }
        if (idle_ms >= 0 && cli_now_ns() / 1000000 - atomic_load(&ps.last_ms) >= idle_ms) {
            break;
        }
        sig = sigtimedwait(&set, NULL, &tick);
    }
    ferrymq_push_consumer_close(pc);
    pthread_mutex_destroy(&ps.mu);
    fprintf(stderr, "ferrymq: consumed %ld message%s\n", (long)atomic_load(&ps.got),
            atomic_load(&ps.got) == 1 ? "" : "s");
    return 0;
}

static int
cmd_consume(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},   {"group", required_argument, NULL, 'g'},
        {"filter", required_argument, NULL, 'e'},  {"sql", no_argument, NULL, 'S'},
        {"from", required_argument, NULL, 'F'},    {"count", required_argument, NULL, 'c'},
        {"wait-ms", required_argument, NULL, 'w'}, {"format", required_argument, NULL, 'o'},
        {"commit", no_argument, NULL, 'C'},        {"push", no_argument, NULL, 'P'},
        {"orderly", no_argument, NULL, 'O'},       {"verbose", no_argument, NULL, 'v'},
        {"conf", required_argument, NULL, 'K'},    {NULL, 0, NULL, 0}};
    char *confs[32];
    int n_confs = 0;
    const char *topic = NULL, *group = NULL, *expr = "*", *from = "earliest";
    int sql = 0, json = 0, commit = 0, push = 0, orderly = 0, verbose = 0, opt, rc = 0;
    int64_t count = -1, wait_ms = 1000, push_idle = -1;
    long got = 0;
    ferrymq_conf *conf;
    ferrymq_consumer *c;
    ferrymq_admin *a;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int64_t *next;
    char err[512];
    ferrymq_pull_result res;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:g:e:SF:c:w:o:CPOvK:", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            topic = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'e':
            expr = optarg;
            break;
        case 'S':
            sql = 1;
            break;
        case 'F':
            from = optarg;
            if (strcmp(from, "earliest") && strcmp(from, "latest") && strcmp(from, "committed")) {
                return bad_usage("--from must be earliest, latest or committed, not '%s'", from);
            }
            break;
        case 'c':
            if (parse_i64(optarg, &count) != 0 || count < 0) {
                return bad_usage("--count '%s' is not a count", optarg);
            }
            break;
        case 'w':
            if (parse_i64(optarg, &wait_ms) != 0 || wait_ms < 0) {
                return bad_usage("--wait-ms '%s' is not a duration", optarg);
            }
            push_idle = wait_ms;
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0) {
                json = 1;
            } else if (strcmp(optarg, "human") != 0) {
                return bad_usage("--format must be human or json, not '%s'", optarg);
            }
            break;
        case 'C':
            commit = 1;
            break;
        case 'P':
            push = 1;
            break;
        case 'O':
            orderly = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'K':
            if (strchr(optarg, '=') == NULL || n_confs == 32) {
                return bad_usage("--conf '%s' must be key=value (at most 32)", optarg);
            }
            confs[n_confs++] = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (topic == NULL) {
        return bad_usage("%s needs -t TOPIC", "consume");
    }
    if (commit && group == NULL) {
        return bad_usage("%s needs -g GROUP", "--commit");
    }
    if ((orderly || verbose || n_confs > 0) && !push) {
        return bad_usage("%s only go with --push", "--orderly, --verbose and --conf");
    }
    if (push) {
        if (group == NULL) {
            return bad_usage("%s needs -g GROUP", "--push");
        }
        return consume_push(topic, group, expr, sql, from, json, count, push_idle, orderly, verbose,
                            confs, n_confs);
    }
    conf = cli_conf(group);
    rc = ferrymq_consumer_new(conf, &c, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_admin_new(conf, &a, err, sizeof(err));
        if (rc != FERRYMQ_OK) {
            ferrymq_consumer_close(c);
        }
    }
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return fail("consume", err);
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, sizeof(err));
    next = rc == FERRYMQ_OK ? calloc(nq + 1, sizeof(*next)) : NULL;
    if (rc != FERRYMQ_OK || next == NULL) {
        ferrymq_admin_free(a);
        ferrymq_consumer_close(c);
        free(qs);
        return fail("consume", rc != FERRYMQ_OK ? err : "out of memory");
    }
    for (size_t i = 0; i < nq && rc == FERRYMQ_OK; i++) {
        int64_t min, max;
        if (strcmp(from, "committed") == 0 &&
            ferrymq_consumer_committed(c, &qs[i], &next[i], err, sizeof(err)) == FERRYMQ_OK) {
            continue;
        }
        rc = ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err));
        next[i] = strcmp(from, "latest") == 0 ? max : min;
    }
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    /* Round-robin over the queues until a full pass brings nothing new (each pull may wait
     * wait-ms for a message) or count messages were printed. */
    while (rc == FERRYMQ_OK && (count < 0 || got < count)) {
        long before = got;
        for (size_t i = 0; i < nq && rc == FERRYMQ_OK && (count < 0 || got < count); i++) {
            int max_msgs = count < 0 || count - got > 32 ? 32 : (int)(count - got);
            rc = ferrymq_consumer_pull(c, &qs[i], next[i], expr, sql ? "SQL92" : "TAG", max_msgs,
                                       (int)(wait_ms / (int64_t)(nq ? nq : 1)), &res, err,
                                       sizeof(err));
            if (rc != FERRYMQ_OK) {
                break;
            }
            for (size_t k = 0; k < res.n_msgs && (count < 0 || got < count); k++) {
                print_msg(res.msgs[k], json);
                next[i] = ferrymq_msg_queue_offset(res.msgs[k]) + 1;
                got++;
            }
            if (res.n_msgs == 0 || (count >= 0 && got >= count && next[i] < res.next_offset &&
                                    res.status != FERRYMQ_PULL_FOUND)) {
                next[i] = res.next_offset;
            }
            if (commit) {
                rc = ferrymq_consumer_commit(c, &qs[i], next[i], err, sizeof(err));
            }
        }
        if (got == before) {
            break;
        }
    }
    ferrymq_pull_result_clear(&res);
    fflush(stdout);
    free(next);
    free(qs);
    ferrymq_admin_free(a);
    ferrymq_consumer_close(c);
    if (rc != FERRYMQ_OK) {
        return fail("consume", err);
    }
    fprintf(stderr, "ferrymq: consumed %ld message%s\n", got, got == 1 ? "" : "s");
    return 0;
}

/* ---- topic, offset, message, cluster ---- */

static int
with_admin(const char *group, ferrymq_admin **a)
{
    char err[512];
    ferrymq_conf *conf = cli_conf(group);
    int rc = ferrymq_admin_new(conf, a, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return fail("admin", err);
    }
    return 0;
}

static int
cmd_topic(int argc, char **argv)
{
    ferrymq_admin *a;
    char err[512];
    int rc;
    if (argc < 2) {
        return bad_usage("%s needs create, list or stats", "topic");
    }
    if (with_admin(NULL, &a) != 0) {
        return EXIT_FAIL;
    }
    if (strcmp(argv[1], "create") == 0) {
        int64_t queues = 8;
        if (argc < 3) {
            ferrymq_admin_free(a);
            return bad_usage("%s needs a TOPIC", "topic create");
        }
        if (argc >= 5 && strcmp(argv[3], "--queues") == 0 &&
            (parse_i64(argv[4], &queues) != 0 || queues < 1 || queues > 1024)) {
            ferrymq_admin_free(a);
            return bad_usage("--queues '%s' must be 1-1024", argv[4]);
        }
        rc = ferrymq_admin_create_topic(a, argv[2], (int)queues, err, sizeof(err));
        if (rc == FERRYMQ_OK) {
            printf("created %s with %" PRId64 " queues\n", argv[2], queues);
        }
    } else if (strcmp(argv[1], "list") == 0) {
        char **names;
        size_t n;
        rc = ferrymq_admin_topic_list(a, &names, &n, err, sizeof(err));
        for (size_t i = 0; rc == FERRYMQ_OK && i < n; i++) {
            puts(names[i]);
        }
        if (rc == FERRYMQ_OK) {
            ferrymq_strings_free(names, n);
        }
    } else if (strcmp(argv[1], "stats") == 0 && argc >= 3) {
        ferrymq_conf *conf = cli_conf(NULL);
        ferrymq_consumer *c;
        ferrymq_queue *qs;
        size_t nq;
        rc = ferrymq_consumer_new(conf, &c, err, sizeof(err));
        ferrymq_conf_free(conf);
        if (rc == FERRYMQ_OK) {
            rc = ferrymq_consumer_queues(c, argv[2], &qs, &nq, err, sizeof(err));
            if (rc == FERRYMQ_OK) {
                int64_t total = 0;
                printf("%-24s %5s %12s %12s\n", "broker", "queue", "min", "max");
                for (size_t i = 0; i < nq && rc == FERRYMQ_OK; i++) {
                    int64_t min, max;
                    rc = ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err));
                    if (rc == FERRYMQ_OK) {
                        printf("%-24s %5d %12" PRId64 " %12" PRId64 "\n", qs[i].broker_name,
                               qs[i].queue_id, min, max);
                        total += max - min;
                    }
                }
                if (rc == FERRYMQ_OK) {
                    printf("total messages: %" PRId64 "\n", total);
                }
                free(qs);
            }
            ferrymq_consumer_close(c);
        }
    } else {
        ferrymq_admin_free(a);
        return bad_usage("unknown topic command '%s'", argv[1]);
    }
    ferrymq_admin_free(a);
    return rc == FERRYMQ_OK ? 0 : fail("topic", err);
}

static int
cmd_offset(int argc, char **argv)
{
    const char *topic = NULL, *group = NULL, *time_s = NULL;
    ferrymq_admin *a;
    ferrymq_consumer *c;
    ferrymq_conf *conf;
    ferrymq_queue *qs;
    size_t nq;
    char err[512];
    int64_t ts = 0;
    int rc;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-g") == 0 || strcmp(argv[i], "--group") == 0) && i + 1 < argc) {
            group = argv[++i];
        } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            time_s = argv[++i];
        } else if (argv[i][0] != '-' && topic == NULL) {
            topic = argv[i];
        } else {
            return bad_usage("unexpected offset argument '%s'", argv[i]);
        }
    }
    if (topic == NULL) {
        return bad_usage("%s needs a TOPIC", "offset");
    }
    if (time_s != NULL && parse_time(time_s, &ts) != 0) {
        return bad_usage("--time '%s' is neither epoch ms nor YYYY-MM-DDTHH:MM:SSZ", time_s);
    }
    if (with_admin(group, &a) != 0) {
        return EXIT_FAIL;
    }
    conf = cli_conf(group);
    rc = ferrymq_consumer_new(conf, &c, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        ferrymq_admin_free(a);
        return fail("offset", err);
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        printf("%-24s %5s %12s %12s %12s%s\n", "broker", "queue", "min", "max",
               group ? "committed" : "", time_s ? "   at-time" : "");
        for (size_t i = 0; i < nq && rc == FERRYMQ_OK; i++) {
            int64_t min, max, committed = -1, at = -1;
            char cs[24] = "", as[24] = "";
            rc = ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err));
            if (rc == FERRYMQ_OK && group != NULL &&
                ferrymq_consumer_committed(c, &qs[i], &committed, NULL, 0) == FERRYMQ_OK) {
                snprintf(cs, sizeof(cs), "%" PRId64, committed);
            } else if (group != NULL) {
                snprintf(cs, sizeof(cs), "-");
            }
            if (rc == FERRYMQ_OK && time_s != NULL) {
                rc = ferrymq_admin_search_offset(a, &qs[i], ts, &at, err, sizeof(err));
                snprintf(as, sizeof(as), "%" PRId64, at);
            }
            if (rc == FERRYMQ_OK) {
                printf("%-24s %5d %12" PRId64 " %12" PRId64 " %12s%s%10s\n", qs[i].broker_name,
                       qs[i].queue_id, min, max, cs, time_s ? " " : "", as);
            }
        }
        free(qs);
    }
    ferrymq_consumer_close(c);
    ferrymq_admin_free(a);
    return rc == FERRYMQ_OK ? 0 : fail("offset", err);
}

/* ---- group ---- */

static void
print_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, cap, "-");
        return;
    }
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
group_progress(ferrymq_admin *a, const char *group, const char *topic)
{
    ferrymq_queue_progress *rows;
    size_t n;
    int64_t total = 0;
    char err[512], when[32];
    int rc = ferrymq_admin_group_progress(a, group, topic, &rows, &n, err, sizeof(err));
    if (rc != FERRYMQ_OK) {
        return fail("group progress", err);
    }
    printf("%-32s %-20s %5s %14s %14s %10s  %s\n", "topic", "broker", "queue", "broker-offset",
           "consumer-offset", "lag", "last-consumed");
    for (size_t i = 0; i < n; i++) {
        int64_t lag = rows[i].broker_offset - rows[i].consumer_offset;
        print_time(rows[i].last_timestamp, when, sizeof(when));
        printf("%-32s %-20s %5d %14" PRId64 " %14" PRId64 " %10" PRId64 "  %s\n",
               rows[i].queue.topic, rows[i].queue.broker_name, rows[i].queue.queue_id,
               rows[i].broker_offset, rows[i].consumer_offset, lag, when);
        total += lag;
    }
    printf("total lag: %" PRId64 "\n", total);
    free(rows);
    return 0;
}

/* The offset each queue of topic would get: the first message at or after ts (0: start,
 * -1: end). */
static int
target_offset(ferrymq_admin *a, const ferrymq_queue *q, int64_t ts, int64_t *out, char *err,
              size_t cap)
{
    int64_t min, max;
    int rc = ferrymq_admin_queue_offsets(a, q, &min, &max, err, cap);
    if (rc != FERRYMQ_OK) {
        return rc;
    }
    if (ts == -1) {
        *out = max;
        return FERRYMQ_OK;
    }
    if (ts == 0) {
        *out = min;
        return FERRYMQ_OK;
    }
    return ferrymq_admin_search_offset(a, q, ts, out, err, cap);
}

static int
group_reset(ferrymq_admin *a, const char *group, const char *topic, int64_t ts, int dry_run)
{
    ferrymq_conf *conf = cli_conf(group);
    ferrymq_consumer *c;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int64_t *old = NULL;
    char err[512];
    int rc = ferrymq_consumer_new(conf, &c, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return fail("group reset", err);
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, sizeof(err));
    old = calloc(nq + 1, sizeof(*old));
    for (size_t i = 0; rc == FERRYMQ_OK && i < nq; i++) {
        if (ferrymq_consumer_committed(c, &qs[i], &old[i], NULL, 0) != FERRYMQ_OK) {
            old[i] = -1;
        }
    }
    if (rc == FERRYMQ_OK && !dry_run) {
        rc = ferrymq_admin_group_reset(a, group, topic, ts, err, sizeof(err));
    }
    if (rc == FERRYMQ_OK) {
        printf("%-20s %5s %14s    %s%s\n", "broker", "queue", "old", "new",
               dry_run ? " (dry run: nothing changed)" : "");
    }
    for (size_t i = 0; rc == FERRYMQ_OK && i < nq; i++) {
        int64_t now;
        char os[24];
        if (dry_run) {
            rc = target_offset(a, &qs[i], ts, &now, err, sizeof(err));
        } else {
            rc = ferrymq_consumer_committed(c, &qs[i], &now, err, sizeof(err));
        }
        if (rc != FERRYMQ_OK) {
            break;
        }
        if (old[i] < 0) {
            snprintf(os, sizeof(os), "-");
        } else {
            snprintf(os, sizeof(os), "%" PRId64, old[i]);
        }
        printf("%-20s %5d %14s -> %" PRId64 "\n", qs[i].broker_name, qs[i].queue_id, os, now);
    }
    free(old);
    free(qs);
    ferrymq_consumer_close(c);
    return rc == FERRYMQ_OK ? 0 : fail("group reset", err);
}

static int
cmd_group(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "", *group = NULL, *topic = NULL, *to = NULL;
    const char *to_time = NULL;
    int dry_run = 0, rc;
    int64_t ts = 0;
    ferrymq_admin *a;
    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--topic") == 0) && i + 1 < argc) {
            topic = argv[++i];
        } else if (strcmp(argv[i], "--to-time") == 0 && i + 1 < argc) {
            to_time = argv[++i];
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = 1;
        } else if (argv[i][0] != '-' && group == NULL) {
            group = argv[i];
        } else {
            return bad_usage("unexpected group argument '%s'", argv[i]);
        }
    }
    if (strcmp(sub, "list") == 0) {
        char **names;
        size_t n;
        char err[512];
        if (with_admin(NULL, &a) != 0) {
            return EXIT_FAIL;
        }
        rc = ferrymq_admin_group_list(a, &names, &n, err, sizeof(err));
        ferrymq_admin_free(a);
        if (rc != FERRYMQ_OK) {
            return fail("group list", err);
        }
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", names[i]);
        }
        ferrymq_strings_free(names, n);
        return 0;
    }
    if (strcmp(sub, "progress") != 0 && strcmp(sub, "reset") != 0) {
        return bad_usage("%s needs list, progress GROUP or reset GROUP", "group");
    }
    if (group == NULL) {
        return bad_usage("group %s needs a GROUP", sub);
    }
    if (strcmp(sub, "reset") == 0) {
        if (topic == NULL || (to == NULL) == (to_time == NULL)) {
            return bad_usage("%s needs -t TOPIC and one of --to-time or --to", "group reset");
        }
        if (to_time != NULL && (parse_time(to_time, &ts) != 0 || ts <= 0)) {
            return bad_usage("--to-time '%s' is neither epoch ms nor YYYY-MM-DDTHH:MM:SSZ",
                             to_time);
        }
        if (to != NULL && strcmp(to, "earliest") != 0 && strcmp(to, "latest") != 0) {
            return bad_usage("--to '%s' is not earliest or latest", to);
        }
        if (to != NULL) {
            ts = strcmp(to, "earliest") == 0 ? 0 : -1;
        }
    }
    if (with_admin(NULL, &a) != 0) {
        return EXIT_FAIL;
    }
    rc = strcmp(sub, "reset") == 0 ? group_reset(a, group, topic, ts, dry_run)
                                   : group_progress(a, group, topic);
    ferrymq_admin_free(a);
    return rc;
}

static int
cmd_cluster(void)
{
    ferrymq_admin *a;
    ferrymq_broker_info *b;
    size_t n;
    char err[512];
    int rc;
    if (with_admin(NULL, &a) != 0) {
        return EXIT_FAIL;
    }
    rc = ferrymq_admin_brokers(a, &b, &n, err, sizeof(err));
    ferrymq_admin_free(a);
    if (rc != FERRYMQ_OK) {
        return fail("cluster", err);
    }
    printf("%-20s %-20s %4s %s\n", "cluster", "broker", "id", "address");
    for (size_t i = 0; i < n; i++) {
        printf("%-20s %-20s %4" PRId64 " %s\n", b[i].cluster, b[i].broker_name, b[i].broker_id,
               b[i].addr);
    }
    free(b);
    return 0;
}

int
main(int argc, char **argv)
{
    int i = 1;
    namesrv = getenv("FERRYMQ_NAMESRV");
    if (namesrv == NULL || namesrv[0] == '\0') {
        namesrv = "127.0.0.1:9876";
    }
    while (i < argc && argv[i][0] == '-') {
        if ((strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--namesrv") == 0) && i + 1 < argc) {
            namesrv = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            return bad_usage("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    argc -= i;
    argv += i;
    if (strcmp(argv[0], "produce") == 0) {
        return cmd_produce(argc, argv);
    }
    if (strcmp(argv[0], "consume") == 0) {
        return cmd_consume(argc, argv);
    }
    if (strcmp(argv[0], "topic") == 0) {
        return cmd_topic(argc, argv);
    }
    if (strcmp(argv[0], "offset") == 0) {
        return cmd_offset(argc, argv);
    }
    if (strcmp(argv[0], "message") == 0) {
        return cli_message(argc, argv);
    }
    if (strcmp(argv[0], "group") == 0) {
        return cmd_group(argc, argv);
    }
    if (strcmp(argv[0], "cluster") == 0) {
        return cmd_cluster();
    }
    if (strcmp(argv[0], "bench") == 0) {
        return cli_bench(argc, argv);
    }
    return bad_usage("unknown command '%s'", argv[0]);
}
