/*
 * ferrymq - the command-line tool, built only on libferrymq (include/ferrymq.h).
 *
 * Exit codes a script can rely on: 0 success; 1 the operation failed (broker, network, not
 * found); 2 bad usage (unknown command or option, extra or missing argument, malformed value);
 * 130 produce or bench stopped by SIGINT/SIGTERM after finishing its output.
 * Errors go to stderr as "ferrymq: <what>: <why>"; data goes to stdout.
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ferrymq.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void
usage(FILE *out)
{
    fprintf(
        out,
        "usage: ferrymq [-n host:port] [-r host:port] <command> [options]\n"
        "\n"
        "  produce -t TOPIC [--tag T] [--keys K] [-p name=value]... [--file F | --body-file F]\n"
        "          [BODY...]: each BODY argument is one message; without any, one message per\n"
        "          line of --file or standard input; --body-file F sends F's exact bytes as one\n"
        "          message. Prints each acknowledged message's ids. --transaction\n"
        "          commit|rollback|unknown [--check STATE] [--check-wait MS] [-g GROUP] sends\n"
        "          each as a transaction.\n"
        "  consume -t TOPIC [-g GROUP] [--filter EXPR [--sql]] [--from earliest|latest|committed]\n"
        "          [--count N] [--wait-ms MS] [--format human|json] [--commit]\n"
        "          [--push [--orderly] [--verbose] [--conf key=value]...]: as a member of\n"
        "          GROUP (queues shared with its other members, offsets committed), until\n"
        "          --count, --wait-ms idle, or SIGINT/SIGTERM; --conf sets a client option\n"
        "  topic create TOPIC [--queues N] | topic list [--all] [--json] |\n"
        "          topic stats TOPIC [--json]\n"
        "  offset TOPIC [-g GROUP] [--time EPOCH_MS|YYYY-MM-DDTHH:MM:SSZ] [--json]\n"
        "  group list [--json] | group progress GROUP [-t TOPIC] [--json]\n"
        "  group reset GROUP -t TOPIC (--to-time TIME | --to-origin-time TIME |\n"
        "          --to earliest|latest) [--dry-run]  (TIME: epoch ms or YYYY-MM-DDTHH:MM:SSZ)\n"
        "  message show ID [-t TOPIC] | message find -t TOPIC --key KEY [--json]\n"
        "          ID: the offset message id or the client id (UNIQ_KEY, needs -t)\n"
        "  cluster [--json]\n"
        "  bench produce|consume|push [-t TOPIC] [-s SIZE] [-c COUNT | -d SECONDS] [-w WINDOW]\n"
        "          [-q QUEUES]: msgs/s, MB/s and latency percentiles\n"
        "  task create NAME --mode one-way|two-way --source NS --source-region R --target NS\n"
        "          --target-region R (--topics T1,T2 | --topic-regex RE) [...] |\n"
        "          task list [--json] | task show NAME [--watch] [--json] |\n"
        "          task pause|resume|delete NAME: replication tasks on the replicator\n"
        "          (-r, else $FERRYMQ_REPLICATOR, else 127.0.0.1:8090)\n"
        "  failover --task T [--groups G1,G2] (--dry-run | --apply) [--json] |\n"
        "          failback --task T [--from TIME]: move a task's consumer groups to its target\n"
        "          region and back (the replicator, as task)\n"
        "\n"
        "`ferrymq <command> --help` shows one command. -n may come before or after the command.\n"
        "The name server is -n, else $FERRYMQ_NAMESRV, else 127.0.0.1:9876.\n"
        "Exit codes: 0 ok, 1 operation failed, 2 bad usage, 130 interrupted (produce, bench).\n");
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
    ferrymq_conf_set(conf, "namesrvAddr", cli_namesrv(), NULL, 0);
    ferrymq_conf_set(conf, "producerGroup", "ferrymq-cli", NULL, 0);
    ferrymq_conf_set(conf, "consumerGroup", group ? group : "ferrymq-cli", NULL, 0);
    return conf;
}

static int
parse_i64(const char *s, int64_t *out)
{
    return cli_parse_count(s, INT64_MIN, INT64_MAX, out);
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

/* Print a cJSON document on one line of stdout and free it. */
static void
put_json(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    if (s != NULL) {
        puts(s);
        free(s);
    }
    cJSON_Delete(doc);
}

/* ---- produce ---- */

typedef struct produce_opts {
    const char *topic, *tag, *keys;
    char *props[64];
    int n_props;
    long sent;
    ferrymq_producer *p; /* one of these two sends */
    cli_txn *txn;        /* --transaction */
} produce_opts;

static int
send_one(produce_opts *po, const void *body, size_t len)
{
    char err[512];
    ferrymq_send_result res;
    ferrymq_msg *m = ferrymq_msg_new(po->topic, body, len);
    int rc, state = 0;
    if (m == NULL) {
        return fail("produce", "out of memory");
    }
    if (po->tag != NULL) {
        ferrymq_msg_set_tags(m, po->tag);
    }
    if (po->keys != NULL) {
        ferrymq_msg_set_keys(m, po->keys);
    }
    for (int i = 0; i < po->n_props; i++) {
        char *eq = strchr(po->props[i], '=');
        *eq = '\0';
        rc = ferrymq_msg_set_property(m, po->props[i], eq + 1);
        *eq = '=';
        if (rc != FERRYMQ_OK) {
            ferrymq_msg_free(m);
            return bad_usage("property '%s' is not name=value without control bytes", po->props[i]);
        }
    }
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    rc = po->txn != NULL ? cli_txn_send(po->txn, m, &res, &state, err, sizeof(err))
                         : ferrymq_producer_send(po->p, m, &res, err, sizeof(err));
    ferrymq_msg_free(m);
    if (rc != FERRYMQ_OK) {
        return fail("produce", err);
    }
    po->sent++;
    if (isatty(STDERR_FILENO) && po->sent % 10000 == 0) {
        fprintf(stderr, "\rferrymq: produced %ld", po->sent);
    }
    if (po->txn != NULL) {
        /* a transaction's line also says how its local transaction ended */
        printf("%s %s %s/%d@%" PRId64 " %s\n", res.msg_id, res.offset_msg_id, res.broker_name,
               res.queue_id, res.queue_offset, cli_txn_state_name(state));
        fflush(stdout);
    } else {
        printf("%s %s %s/%d@%" PRId64 "\n", res.msg_id, res.offset_msg_id, res.broker_name,
               res.queue_id, res.queue_offset);
    }
    return 0;
}

#define BODY_FILE_MAX (4u << 20)

/* The whole of path (bytes, NUL included) into *out (malloc'ed; the caller frees it). */
static int
read_whole(const char *path, char **out, size_t *len)
{
    FILE *in = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (in == NULL) {
        return fail(path, strerror(errno));
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (nb == NULL) {
                free(buf);
                fclose(in);
                return fail(path, "out of memory");
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        got = fread(buf + n, 1, cap - n, in);
        n += got;
        if (got == 0) {
            break;
        }
        if (n > BODY_FILE_MAX) {
            /* the library would refuse it anyway (maxMessageSize); do not read a huge file */
            free(buf);
            fclose(in);
            return fail(path, "larger than maxMessageSize (4194304 bytes)");
        }
    }
    if (ferror(in)) {
        free(buf);
        fclose(in);
        return fail(path, "read error");
    }
    fclose(in);
    *out = buf;
    *len = n;
    return 0;
}

/* One message per line of in; stops early (rc 0) when interrupted. */
static int
produce_lines(produce_opts *po, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && !cli_interrupted && (n = getline(&line, &cap, in)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            n--;
        }
        rc = send_one(po, line, (size_t)n); /* n bytes: a NUL inside a line is kept */
    }
    free(line);
    return rc;
}

#define OPT_BODY_FILE 256
#define OPT_TRANSACTION 257
#define OPT_CHECK 258
#define OPT_CHECK_WAIT 259

static const cli_opt produce_optv[] = {{"topic", 't', 1},
                                       {"tag", 'T', 1},
                                       {"keys", 'k', 1},
                                       {"property", 'p', 1},
                                       {"file", 'f', 1},
                                       {"body-file", OPT_BODY_FILE, 1},
                                       {"transaction", OPT_TRANSACTION, 1},
                                       {"check", OPT_CHECK, 1},
                                       {"check-wait", OPT_CHECK_WAIT, 1},
                                       {"group", 'g', 1},
                                       {NULL, 0, 0}};

static const cli_cmd produce_cmd = {
    "produce",
    "produce -t TOPIC [--tag T] [--keys K] [-p name=value]... [--file F | --body-file F] "
    "[--transaction commit|rollback|unknown [--check STATE] [--check-wait MS] [-g GROUP]] "
    "[BODY...]",
    "  Each BODY argument is one message; without any, one message per line of --file (or of\n"
    "  standard input), the newline removed; --body-file F sends F's bytes, exactly, as one\n"
    "  message. Empty bodies are refused (MESSAGE_ILLEGAL). Prints\n"
    "  'msgId offsetMsgId broker/queue@offset' per acknowledged message. On SIGINT/SIGTERM it\n"
    "  stops sending, waits for the message in flight, prints a summary on stderr, exits 130.\n"
    "  --transaction sends each message as a transaction (half message, then END_TRANSACTION)\n"
    "  whose local transaction ends as given, in producer group GROUP (ferrymq-cli); the line\n"
    "  ends with that state. With unknown the broker checks back later: --check STATE is the\n"
    "  answer (unknown), --check-wait MS how long to stay online for it (0).\n",
    produce_optv,
    0,
    -1};

static int
cmd_produce(int argc, char **argv)
{
    produce_opts po;
    const char *file = NULL, *body_file = NULL, *val, *group = NULL;
    int k, rc = 0, txn = 0, local_state = 0, check_state = FERRYMQ_TXN_UNKNOWN, check_set = 0;
    int64_t check_wait = 0;
    cli_args args;
    ferrymq_conf *conf;
    sigset_t set;
    char err[512];

    memset(&po, 0, sizeof(po));
    cli_args_init(&args, &produce_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&args, &val)) > 0) {
        switch (k) {
        case 't':
            po.topic = val;
            break;
        case 'T':
            po.tag = val;
            break;
        case 'k':
            po.keys = val;
            break;
        case 'p':
            if (strchr(val, '=') == NULL || val[0] == '=' || po.n_props == 64) {
                return bad_usage("property '%s' must be name=value (at most 64)", val);
            }
            po.props[po.n_props++] = (char *)val;
            break;
        case 'f':
            file = val;
            break;
        case OPT_BODY_FILE:
            body_file = val;
            break;
        case OPT_TRANSACTION:
            if (cli_txn_parse_state(val, &local_state) != 0) {
                return bad_usage("--transaction '%s': use commit, rollback or unknown", val);
            }
            txn = 1;
            break;
        case OPT_CHECK:
            if (cli_txn_parse_state(val, &check_state) != 0) {
                return bad_usage("--check '%s': use commit, rollback or unknown", val);
            }
            check_set = 1;
            break;
        case OPT_CHECK_WAIT:
            if (cli_parse_count(val, 0, 3600000, &check_wait) != 0) {
                return bad_usage("--check-wait '%s' must be 0..3600000 ms", val);
            }
            check_set = 1;
            break;
        case 'g':
            group = val;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (!txn && (check_set || group != NULL)) {
        return bad_usage("%s: --check, --check-wait and -g go with --transaction", "produce");
    }
    if (po.topic == NULL) {
        return bad_usage("%s needs -t TOPIC", "produce");
    }
    if ((body_file != NULL) + (file != NULL) + (args.n_pos > 0) > 1) {
        return bad_usage("%s: BODY arguments, --file and --body-file exclude each other",
                         "produce");
    }
    /* the library's threads inherit a mask without SIGINT/SIGTERM, so the handler runs on
     * this thread and interrupts a blocked read of standard input */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    cli_catch_interrupt();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (txn) {
        rc = cli_txn_open(group != NULL ? group : "ferrymq-cli", local_state, check_state, &po.txn);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        if (rc != 0) {
            return rc;
        }
    } else {
        conf = cli_conf(NULL);
        rc = ferrymq_producer_new(conf, &po.p, err, sizeof(err));
        ferrymq_conf_free(conf);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        if (rc != FERRYMQ_OK) {
            return fail("produce", err);
        }
    }
    rc = 0;
    if (args.n_pos > 0) {
        for (int i = 0; i < args.n_pos && rc == 0 && !cli_interrupted; i++) {
            rc = send_one(&po, args.pos[i], strlen(args.pos[i]));
        }
    } else if (body_file != NULL) {
        char *body;
        size_t len;
        rc = read_whole(body_file, &body, &len);
        if (rc == 0) {
            rc = send_one(&po, body, len);
            free(body);
        }
    } else {
        FILE *in = file ? fopen(file, "r") : stdin;
        if (in == NULL) {
            ferrymq_producer_close(po.p, 1000);
            cli_txn_close(po.txn, 0, 0);
            return fail(file, strerror(errno));
        }
        rc = produce_lines(&po, in);
        if (in != stdin) {
            fclose(in);
        }
    }
    if (isatty(STDERR_FILENO) && po.sent >= 10000) {
        fprintf(stderr, "\rferrymq: produced %ld\n", po.sent);
    }
    if (po.txn != NULL) {
        cli_txn_close(po.txn, po.sent, rc == 0 && !cli_interrupted ? check_wait : 0);
    } else {
        ferrymq_producer_close(po.p, 5000);
    }
    fflush(stdout);
    if (cli_interrupted) {
        fprintf(stderr, "ferrymq: produce: interrupted: %ld message%s acknowledged\n", po.sent,
                po.sent == 1 ? "" : "s");
        return rc != 0 ? rc : CLI_EXIT_INTERRUPTED;
    }
    return rc;
}

/* ---- consume ---- */

/* One message per line (cli.h). JSON: the body as a string when it is valid UTF-8, else as
 * "body_base64"; human: non-printable bytes escaped, so a body cannot drive the terminal. */
void
cli_print_msg(const ferrymq_msg *m, int json)
{
    size_t len, n = ferrymq_msg_property_count(m);
    const char *body = ferrymq_msg_body(m, &len), *tags, *keys;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *props = cJSON_CreateObject();
        char *s;
        cJSON_AddStringToObject(o, "topic", ferrymq_msg_topic(m));
        cJSON_AddNumberToObject(o, "queueId", ferrymq_msg_queue_id(m));
        cJSON_AddNumberToObject(o, "queueOffset", (double)ferrymq_msg_queue_offset(m));
        cJSON_AddStringToObject(o, "msgId", ferrymq_msg_id(m) ? ferrymq_msg_id(m) : "");
        cJSON_AddStringToObject(o, "offsetMsgId",
                                ferrymq_msg_offset_id(m) ? ferrymq_msg_offset_id(m) : "");
        cJSON_AddNumberToObject(o, "storeTimestamp", (double)ferrymq_msg_store_timestamp(m));
        cJSON_AddNumberToObject(o, "bornTimestamp", (double)ferrymq_msg_born_timestamp(m));
        cJSON_AddNumberToObject(o, "reconsumeTimes", ferrymq_msg_reconsume_times(m));
        for (size_t i = 0; i < n; i++) {
            const char *v, *k = ferrymq_msg_property_at(m, i, &v);
            cJSON_AddStringToObject(props, k, v);
        }
        cJSON_AddItemToObject(o, "properties", props);
        s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (s == NULL) {
            return;
        }
        /* the body goes straight from the message to stdout: "...,"body":"..."}" */
        fwrite(s, 1, strlen(s) - 1, stdout);
        free(s);
        if (cli_utf8_valid(body, len)) {
            fputs(",\"body\":", stdout);
            cli_json_string(stdout, body, len);
        } else {
            fputs(",\"body_base64\":", stdout);
            cli_base64(stdout, body, len);
        }
        fputs("}\n", stdout);
        return;
    }
    /* tags and keys too: another producer may have put anything there */
    printf("%s/%d@%" PRId64 " id=%s tags=", ferrymq_msg_topic(m), ferrymq_msg_queue_id(m),
           ferrymq_msg_queue_offset(m), ferrymq_msg_id(m) ? ferrymq_msg_id(m) : "-");
    tags = ferrymq_msg_tags(m) ? ferrymq_msg_tags(m) : "-";
    keys = ferrymq_msg_keys(m) ? ferrymq_msg_keys(m) : "-";
    cli_human_escape(stdout, tags, strlen(tags));
    fputs(" keys=", stdout);
    cli_human_escape(stdout, keys, strlen(keys));
    fputs(" body=", stdout);
    cli_human_escape(stdout, body, len);
    fputc('\n', stdout);
}

/* ---- consume --push: a group member through the push consumer ---- */

typedef struct push_state {
    pthread_mutex_t mu; /* one message printed at a time */
    int json;
    int64_t count; /* -1: no limit */
    atomic_long got;
    atomic_llong last_ms;
} push_state;

static int
push_cb(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    push_state *ps = opaque;
    pthread_mutex_lock(&ps->mu);
    /* with --count, batches are of one message on one worker (consume_push): past the count
     * a message is held, so it is neither printed nor committed */
    if (ps->count >= 0 && atomic_load(&ps->got) + (long)n > ps->count) {
        pthread_mutex_unlock(&ps->mu);
        return FERRYMQ_CONSUME_HOLD;
    }
    for (size_t i = 0; i < n; i++) {
        cli_print_msg(msgs[i], ps->json);
    }
    /* on stdout before the offset can be committed: a crash repeats lines, never loses one */
    fflush(stdout);
    atomic_fetch_add(&ps->got, (long)n);
    pthread_mutex_unlock(&ps->mu);
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

/* The topic's route, looked up once before the push consumer starts: the push consumer
 * retries a missing route for ever, which for a CLI run is a silent hang. */
static int
topic_exists(const char *topic, char *err, size_t cap)
{
    ferrymq_conf *conf = cli_conf(NULL);
    ferrymq_consumer *c;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int rc = ferrymq_consumer_new(conf, &c, err, cap);
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return rc;
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, cap);
    if (rc == FERRYMQ_ENOTFOUND || (rc == FERRYMQ_OK && nq == 0)) {
        snprintf(err, cap, "topic %s does not exist (no route on the name server)", topic);
        rc = FERRYMQ_ENOTFOUND;
    }
    free(qs);
    ferrymq_consumer_close(c);
    return rc;
}

static int
consume_push(const char *topic, const char *group, const char *expr, int sql, const char *from,
             int json, int64_t count, int64_t idle_ms, int orderly, int verbose, char *const *confs,
             int n_confs)
{
    ferrymq_conf *conf;
    ferrymq_push_consumer *pc = NULL;
    push_state ps;
    sigset_t set;
    char err[512];
    int rc, sig = 0;
    conf = cli_conf(group);
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
    if (topic_exists(topic, err, sizeof(err)) != FERRYMQ_OK) {
        ferrymq_conf_free(conf);
        return fail("consume", err);
    }
    if (count >= 0) {
        /* exactly count messages committed: one message per callback on one worker, so each
         * queue's printed messages are a prefix of it and the commit stops right after them */
        ferrymq_conf_set(conf, "consumeThreadNums", "1", NULL, 0);
        ferrymq_conf_set(conf, "consumeMessageBatchMaxSize", "1", NULL, 0);
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
    ps.count = count;
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

/* A heuristic for "--filter given as a tag expression but written as SQL-92": tags cannot be
 * told from SQL by a parser here (the CLI sees only the public API), but a comparison, a quote
 * or an SQL keyword in a tag expression is almost always a forgotten --sql. */
static int
looks_like_sql(const char *expr)
{
    static const char *const words[] = {" and ", " or ", " is ", " not ", " in ", " between "};
    char low[512];
    size_t n = strlen(expr);
    if (strpbrk(expr, "=<>'") != NULL) {
        return 1;
    }
    if (n + 3 > sizeof(low)) {
        return 0;
    }
    low[0] = ' ';
    for (size_t i = 0; i < n; i++) {
        low[i + 1] = (char)((expr[i] >= 'A' && expr[i] <= 'Z') ? expr[i] + 32 : expr[i]);
    }
    low[n + 1] = ' ';
    low[n + 2] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(low, words[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

#define OPT_FILTER 256
#define OPT_SQL 257
#define OPT_FROM 258
#define OPT_WAIT 259
#define OPT_FORMAT 260
#define OPT_COMMIT 261
#define OPT_PUSH 262
#define OPT_ORDERLY 263
#define OPT_CONF 264

static const cli_opt consume_optv[] = {{"topic", 't', 1},           {"group", 'g', 1},
                                       {"filter", OPT_FILTER, 1},   {"sql", OPT_SQL, 0},
                                       {"from", OPT_FROM, 1},       {"count", 'c', 1},
                                       {"wait-ms", OPT_WAIT, 1},    {"format", OPT_FORMAT, 1},
                                       {"commit", OPT_COMMIT, 0},   {"push", OPT_PUSH, 0},
                                       {"orderly", OPT_ORDERLY, 0}, {"verbose", 'v', 0},
                                       {"conf", OPT_CONF, 1},       {NULL, 0, 0}};

static const cli_cmd consume_cmd = {
    "consume",
    "consume -t TOPIC [-g GROUP] [--filter EXPR [--sql]] [--from earliest|latest|committed] "
    "[--count N] [--wait-ms MS] [--format human|json] [--commit] [--push [--orderly] "
    "[--verbose] [--conf key=value]...]",
    "  Without --push: pulls every queue from --from (default earliest) until --count messages\n"
    "  or a pass over the queues brings nothing for --wait-ms (default 1000); --commit (with\n"
    "  -g) commits what was printed. --filter is a tag expression ('A || B'), or SQL-92 with\n"
    "  --sql. --push: a member of GROUP, until --count (exactly that many committed),\n"
    "  --wait-ms idle, or SIGINT/SIGTERM. JSON bodies: \"body\" when UTF-8, else\n"
    "  \"body_base64\"; human output escapes non-printable bytes.\n",
    consume_optv,
    0,
    0};

static int
cmd_consume(int argc, char **argv)
{
    char *confs[32];
    int n_confs = 0;
    const char *topic = NULL, *group = NULL, *expr = "*", *from = "earliest", *val;
    int sql = 0, json = 0, commit = 0, push = 0, orderly = 0, verbose = 0, filtered = 0, k, rc = 0;
    int64_t count = -1, wait_ms = 1000, push_idle = -1;
    long got = 0;
    cli_args args;
    ferrymq_conf *conf;
    ferrymq_consumer *c;
    ferrymq_admin *a;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int64_t *next;
    char err[512];
    ferrymq_pull_result res;

    cli_args_init(&args, &consume_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&args, &val)) > 0) {
        switch (k) {
        case 't':
            topic = val;
            break;
        case 'g':
            group = val;
            break;
        case OPT_FILTER:
            expr = val;
            filtered = 1;
            break;
        case OPT_SQL:
            sql = 1;
            break;
        case OPT_FROM:
            from = val;
            if (strcmp(from, "earliest") && strcmp(from, "latest") && strcmp(from, "committed")) {
                return bad_usage("--from must be earliest, latest or committed, not '%s'", from);
            }
            break;
        case 'c':
            if (parse_i64(val, &count) != 0 || count < 0) {
                return bad_usage("--count '%s' is not a count", val);
            }
            break;
        case OPT_WAIT:
            if (parse_i64(val, &wait_ms) != 0 || wait_ms < 0) {
                return bad_usage("--wait-ms '%s' is not a duration", val);
            }
            push_idle = wait_ms;
            break;
        case OPT_FORMAT:
            if (strcmp(val, "json") == 0) {
                json = 1;
            } else if (strcmp(val, "human") != 0) {
                return bad_usage("--format must be human or json, not '%s'", val);
            }
            break;
        case OPT_COMMIT:
            commit = 1;
            break;
        case OPT_PUSH:
            push = 1;
            break;
        case OPT_ORDERLY:
            orderly = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case OPT_CONF:
            if (strchr(val, '=') == NULL || n_confs == 32) {
                return bad_usage("--conf '%s' must be key=value (at most 32)", val);
            }
            confs[n_confs++] = (char *)val;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (topic == NULL) {
        return bad_usage("%s needs -t TOPIC", "consume");
    }
    if (sql && !filtered) {
        return bad_usage("%s needs --filter EXPR (the SQL-92 expression)", "--sql");
    }
    if (filtered && !sql && looks_like_sql(expr)) {
        fprintf(stderr,
                "ferrymq: consume: warning: --filter '%s' looks like SQL-92 but is read as a tag "
                "expression; add --sql to filter by SQL-92\n",
                expr);
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
     * wait-ms for a message) or count messages were printed. A pull answered NO_MATCHED_MSG
     * (the broker's scan window held no match: PULL_RETRY_IMMEDIATELY) moved its queue forward
     * without a message, so the pass counts as progress, as RocketMQ's clients go on from
     * nextBeginOffset. */
    while (rc == FERRYMQ_OK && (count < 0 || got < count)) {
        long before = got;
        int skipped = 0;
        for (size_t i = 0; i < nq && rc == FERRYMQ_OK && (count < 0 || got < count); i++) {
            int max_msgs = count < 0 || count - got > 32 ? 32 : (int)(count - got);
            rc = ferrymq_consumer_pull(c, &qs[i], next[i], expr, sql ? "SQL92" : "TAG", max_msgs,
                                       (int)(wait_ms / (int64_t)(nq ? nq : 1)), &res, err,
                                       sizeof(err));
            if (rc != FERRYMQ_OK) {
                break;
            }
            for (size_t k = 0; k < res.n_msgs && (count < 0 || got < count); k++) {
                cli_print_msg(res.msgs[k], json);
                next[i] = ferrymq_msg_queue_offset(res.msgs[k]) + 1;
                got++;
            }
            if (res.status == FERRYMQ_PULL_NO_MATCHED_MSG && res.next_offset > next[i]) {
                skipped = 1;
            }
            if (res.n_msgs == 0 || (count >= 0 && got >= count && next[i] < res.next_offset &&
                                    res.status != FERRYMQ_PULL_FOUND)) {
                next[i] = res.next_offset;
            }
            if (commit) {
                rc = ferrymq_consumer_commit(c, &qs[i], next[i], err, sizeof(err));
            }
        }
        if (got == before && !skipped) {
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

/* A consumer (for routes) on the selected name server; 0 or the exit code (message printed). */
static int
with_consumer(const char *group, ferrymq_consumer **c, const char *what)
{
    char err[512];
    ferrymq_conf *conf = cli_conf(group);
    int rc = ferrymq_consumer_new(conf, c, err, sizeof(err));
    ferrymq_conf_free(conf);
    return rc == FERRYMQ_OK ? 0 : fail(what, err);
}

/* Topics the brokers keep for themselves (RocketMQ's TopicValidator system topics and its
 * "rmq_sys_" prefix) and the per-group retry and dead-letter topics. */
static int
is_system_topic(const char *t, const ferrymq_broker_info *b, size_t nb)
{
    static const char *const names[] = {"TBW102",
                                        "SCHEDULE_TOPIC_XXXX",
                                        "BenchmarkTest",
                                        "OFFSET_MOVED_EVENT",
                                        "SELF_TEST_TOPIC",
                                        "TRANS_CHECK_MAX_TIME_TOPIC",
                                        "RMQ_SYS_TRANS_HALF_TOPIC",
                                        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                                        "RMQ_SYS_TRACE_TOPIC"};
    if (strncmp(t, "%RETRY%", 7) == 0 || strncmp(t, "%DLQ%", 5) == 0 ||
        strncasecmp(t, "rmq_sys_", 8) == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(t, names[i]) == 0) {
            return 1;
        }
    }
    /* RocketMQ registers a topic named after each cluster and each broker, and each
     * cluster's request-reply topic */
    for (size_t i = 0; i < nb; i++) {
        size_t cl = strlen(b[i].cluster);
        if (strcmp(t, b[i].cluster) == 0 || strcmp(t, b[i].broker_name) == 0 ||
            (strncmp(t, b[i].cluster, cl) == 0 && strcmp(t + cl, "_REPLY_TOPIC") == 0)) {
            return 1;
        }
    }
    return 0;
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int
topic_list(ferrymq_admin *a, int all, int json)
{
    char **names;
    size_t n, nb = 0;
    ferrymq_broker_info *b = NULL;
    ferrymq_consumer *c;
    cJSON *doc = json ? cJSON_CreateArray() : NULL;
    char err[512];
    int rc = ferrymq_admin_topic_list(a, &names, &n, err, sizeof(err));
    if (rc != FERRYMQ_OK) {
        cJSON_Delete(doc);
        return fail("topic list", err);
    }
    if (!all && ferrymq_admin_brokers(a, &b, &nb, err, sizeof(err)) != FERRYMQ_OK) {
        nb = 0;
    }
    if (with_consumer(NULL, &c, "topic list") != 0) {
        ferrymq_strings_free(names, n);
        free(b);
        cJSON_Delete(doc);
        return EXIT_FAIL;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    if (!json) {
        printf("%-48s %6s\n", "topic", "queues");
    }
    for (size_t i = 0; i < n; i++) {
        ferrymq_queue *qs = NULL;
        size_t nq = 0;
        int known;
        if (!all && is_system_topic(names[i], b, nb)) {
            continue;
        }
        known = ferrymq_consumer_queues(c, names[i], &qs, &nq, NULL, 0) == FERRYMQ_OK;
        free(qs);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "topic", names[i]);
            if (known) {
                cJSON_AddNumberToObject(o, "queues", (double)nq);
            } else {
                cJSON_AddNullToObject(o, "queues");
            }
            cJSON_AddItemToArray(doc, o);
        } else if (known) {
            printf("%-48s %6zu\n", names[i], nq);
        } else {
            printf("%-48s %6s\n", names[i], "-");
        }
    }
    if (json) {
        put_json(doc);
    }
    ferrymq_consumer_close(c);
    ferrymq_strings_free(names, n);
    free(b);
    return 0;
}

static int
topic_stats(ferrymq_admin *a, const char *topic, int json)
{
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    int64_t total = 0;
    cJSON *doc = NULL, *rows = NULL;
    char err[512];
    int rc;
    if (with_consumer(NULL, &c, "topic stats") != 0) {
        return EXIT_FAIL;
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, sizeof(err));
    if (rc != FERRYMQ_OK) {
        ferrymq_consumer_close(c);
        return fail("topic stats", err);
    }
    if (json) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "topic", topic);
        rows = cJSON_AddArrayToObject(doc, "queues");
    } else {
        printf("%-24s %5s %12s %12s\n", "broker", "queue", "min", "max");
    }
    for (size_t i = 0; i < nq && rc == FERRYMQ_OK; i++) {
        int64_t min, max;
        rc = ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err));
        if (rc != FERRYMQ_OK) {
            break;
        }
        total += max - min;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "broker", qs[i].broker_name);
            cJSON_AddNumberToObject(o, "queueId", qs[i].queue_id);
            cJSON_AddNumberToObject(o, "min", (double)min);
            cJSON_AddNumberToObject(o, "max", (double)max);
            cJSON_AddItemToArray(rows, o);
        } else {
            printf("%-24s %5d %12" PRId64 " %12" PRId64 "\n", qs[i].broker_name, qs[i].queue_id,
                   min, max);
        }
    }
    free(qs);
    ferrymq_consumer_close(c);
    if (rc != FERRYMQ_OK) {
        cJSON_Delete(doc);
        return fail("topic stats", err);
    }
    if (json) {
        cJSON_AddNumberToObject(doc, "totalMessages", (double)total);
        put_json(doc);
    } else {
        printf("total messages: %" PRId64 "\n", total);
    }
    return 0;
}

#define OPT_JSON 300
#define OPT_ALL 301
#define OPT_QUEUES 302

static const cli_opt json_optv[] = {{"json", OPT_JSON, 0}, {NULL, 0, 0}};
static const cli_opt topic_list_optv[] = {{"all", OPT_ALL, 0}, {"json", OPT_JSON, 0}, {NULL, 0, 0}};
static const cli_opt topic_create_optv[] = {{"queues", OPT_QUEUES, 1}, {NULL, 0, 0}};

static const cli_cmd topic_cmd = {"topic",
                                  "topic create|list|stats ...",
                                  "  see ferrymq topic create|list|stats --help\n",
                                  NULL,
                                  0,
                                  -1};
static const cli_cmd topic_create_cmd = {"topic create",
                                         "topic create TOPIC [--queues N]",
                                         "  N read and write queues (1-1024, default 8) on every "
                                         "master broker; an existing topic is updated.\n",
                                         topic_create_optv,
                                         1,
                                         1};
static const cli_cmd topic_list_cmd = {
    "topic list",
    "topic list [--all] [--json]",
    "  Topics sorted by name with their readable queue counts; system, retry and dead-letter\n"
    "  topics only with --all.\n",
    topic_list_optv,
    0,
    0};
static const cli_cmd topic_stats_cmd = {"topic stats",
                                        "topic stats TOPIC [--json]",
                                        "  Min and max offset of every queue of TOPIC.\n",
                                        json_optv,
                                        1,
                                        1};

static int
cmd_topic(int argc, char **argv)
{
    static const char *const subs[] = {"create", "list", "stats", NULL};
    static const cli_cmd *const sub_cmds[] = {&topic_create_cmd, &topic_list_cmd, &topic_stats_cmd};
    const char *val;
    const cli_cmd *cmd;
    cli_args args;
    ferrymq_admin *a;
    int64_t queues = 8;
    int all = 0, json = 0, k, rc;
    char err[512];
    argc--;
    argv++;
    k = cli_take_sub(&argc, argv, &topic_cmd, subs, "create, list or stats");
    if (k < 0) {
        return cli_args_exit(k);
    }
    cmd = sub_cmds[k];
    cli_args_init(&args, cmd, argc, argv);
    while ((k = cli_args_next(&args, &val)) > 0) {
        switch (k) {
        case OPT_QUEUES:
            if (cli_parse_count(val, 1, 1024, &queues) != 0) {
                return bad_usage("--queues '%s' must be 1-1024", val);
            }
            break;
        case OPT_ALL:
            all = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (with_admin(NULL, &a) != 0) {
        return EXIT_FAIL;
    }
    if (cmd == &topic_list_cmd) {
        rc = topic_list(a, all, json);
    } else if (cmd == &topic_stats_cmd) {
        rc = topic_stats(a, args.pos[0], json);
    } else {
        rc = ferrymq_admin_create_topic(a, args.pos[0], (int)queues, err, sizeof(err));
        if (rc == FERRYMQ_OK) {
            printf("created %s with %" PRId64 " queues\n", args.pos[0], queues);
        } else {
            rc = fail("topic create", err);
        }
    }
    ferrymq_admin_free(a);
    return rc;
}

#define OPT_TIME 303

static const cli_opt offset_optv[] = {
    {"group", 'g', 1}, {"time", OPT_TIME, 1}, {"json", OPT_JSON, 0}, {NULL, 0, 0}};
static const cli_cmd offset_cmd = {
    "offset",
    "offset TOPIC [-g GROUP] [--time EPOCH_MS|YYYY-MM-DDTHH:MM:SSZ] [--json]",
    "  Min and max offset of every queue, GROUP's committed offset, and the first offset\n"
    "  stored at or after --time.\n",
    offset_optv,
    1,
    1};

static int
cmd_offset(int argc, char **argv)
{
    const char *topic, *group = NULL, *time_s = NULL, *val;
    ferrymq_admin *a;
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    cli_args args;
    size_t nq;
    char err[512];
    int64_t ts = 0;
    int rc, k, json = 0;
    cJSON *doc = NULL;
    cli_args_init(&args, &offset_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&args, &val)) > 0) {
        switch (k) {
        case 'g':
            group = val;
            break;
        case OPT_TIME:
            time_s = val;
            break;
        case OPT_JSON:
            json = 1;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    topic = args.pos[0];
    if (time_s != NULL && parse_time(time_s, &ts) != 0) {
        return bad_usage("--time '%s' is neither epoch ms nor YYYY-MM-DDTHH:MM:SSZ", time_s);
    }
    if (with_admin(group, &a) != 0) {
        return EXIT_FAIL;
    }
    if (with_consumer(group, &c, "offset") != 0) {
        ferrymq_admin_free(a);
        return EXIT_FAIL;
    }
    rc = ferrymq_consumer_queues(c, topic, &qs, &nq, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        if (json) {
            doc = cJSON_CreateArray();
        } else {
            printf("%-24s %5s %12s %12s %12s%s\n", "broker", "queue", "min", "max",
                   group ? "committed" : "", time_s ? "   at-time" : "");
        }
        for (size_t i = 0; i < nq && rc == FERRYMQ_OK; i++) {
            int64_t min, max, committed = -1, at = -1;
            int have_committed = 0;
            char cs[24] = "", as[24] = "";
            rc = ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err));
            if (rc == FERRYMQ_OK && group != NULL &&
                ferrymq_consumer_committed(c, &qs[i], &committed, NULL, 0) == FERRYMQ_OK) {
                snprintf(cs, sizeof(cs), "%" PRId64, committed);
                have_committed = 1;
            } else if (group != NULL) {
                snprintf(cs, sizeof(cs), "-");
            }
            if (rc == FERRYMQ_OK && time_s != NULL) {
                rc = ferrymq_admin_search_offset(a, &qs[i], ts, &at, err, sizeof(err));
                snprintf(as, sizeof(as), "%" PRId64, at);
            }
            if (rc != FERRYMQ_OK) {
                break;
            }
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "broker", qs[i].broker_name);
                cJSON_AddNumberToObject(o, "queueId", qs[i].queue_id);
                cJSON_AddNumberToObject(o, "min", (double)min);
                cJSON_AddNumberToObject(o, "max", (double)max);
                if (group != NULL) {
                    if (have_committed) {
                        cJSON_AddNumberToObject(o, "committed", (double)committed);
                    } else {
                        cJSON_AddNullToObject(o, "committed");
                    }
                }
                if (time_s != NULL) {
                    cJSON_AddNumberToObject(o, "atTime", (double)at);
                }
                cJSON_AddItemToArray(doc, o);
            } else {
                printf("%-24s %5d %12" PRId64 " %12" PRId64 " %12s%s%10s\n", qs[i].broker_name,
                       qs[i].queue_id, min, max, cs, time_s ? " " : "", as);
            }
        }
        free(qs);
    }
    if (rc == FERRYMQ_OK && json) {
        put_json(doc);
    } else {
        cJSON_Delete(doc);
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
group_progress(ferrymq_admin *a, const char *group, const char *topic, int json)
{
    ferrymq_queue_progress *rows;
    size_t n;
    int64_t total = 0;
    char err[512], when[32];
    cJSON *doc = NULL, *arr = NULL;
    int rc = ferrymq_admin_group_progress(a, group, topic, &rows, &n, err, sizeof(err));
    if (rc != FERRYMQ_OK) {
        return fail("group progress", err);
    }
    if (json) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "group", group);
        arr = cJSON_AddArrayToObject(doc, "queues");
    } else {
        printf("%-32s %-20s %5s %14s %14s %10s  %s\n", "topic", "broker", "queue", "broker-offset",
               "consumer-offset", "lag", "last-consumed");
    }
    for (size_t i = 0; i < n; i++) {
        int64_t lag = rows[i].broker_offset - rows[i].consumer_offset;
        total += lag;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "topic", rows[i].queue.topic);
            cJSON_AddStringToObject(o, "broker", rows[i].queue.broker_name);
            cJSON_AddNumberToObject(o, "queueId", rows[i].queue.queue_id);
            cJSON_AddNumberToObject(o, "brokerOffset", (double)rows[i].broker_offset);
            cJSON_AddNumberToObject(o, "consumerOffset", (double)rows[i].consumer_offset);
            cJSON_AddNumberToObject(o, "lag", (double)lag);
            cJSON_AddNumberToObject(o, "lastTimestamp", (double)rows[i].last_timestamp);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        print_time(rows[i].last_timestamp, when, sizeof(when));
        printf("%-32s %-20s %5d %14" PRId64 " %14" PRId64 " %10" PRId64 "  %s\n",
               rows[i].queue.topic, rows[i].queue.broker_name, rows[i].queue.queue_id,
               rows[i].broker_offset, rows[i].consumer_offset, lag, when);
    }
    if (json) {
        cJSON_AddNumberToObject(doc, "totalLag", (double)total);
        put_json(doc);
    } else {
        printf("total lag: %" PRId64 "\n", total);
    }
    free(rows);
    return 0;
}

/* Every group with its online members (client ids) and its total lag on every topic it has
 * offsets for. */
static int
group_list(ferrymq_admin *a, int json)
{
    char **names;
    size_t n;
    char err[512];
    cJSON *doc = json ? cJSON_CreateArray() : NULL;
    int rc = ferrymq_admin_group_list(a, &names, &n, err, sizeof(err));
    if (rc != FERRYMQ_OK) {
        cJSON_Delete(doc);
        return fail("group list", err);
    }
    if (!json) {
        printf("%-40s %10s  %s\n", "group", "lag", "members");
    }
    for (size_t i = 0; i < n && rc == FERRYMQ_OK; i++) {
        ferrymq_queue_progress *rows = NULL;
        char **ids = NULL;
        size_t nr = 0, ni = 0;
        int64_t lag = 0;
        rc = ferrymq_admin_group_progress(a, names[i], NULL, &rows, &nr, err, sizeof(err));
        if (rc == FERRYMQ_OK) {
            rc = ferrymq_admin_group_members(a, names[i], &ids, &ni, err, sizeof(err));
        }
        if (rc != FERRYMQ_OK) {
            free(rows);
            break;
        }
        for (size_t r = 0; r < nr; r++) {
            lag += rows[r].broker_offset - rows[r].consumer_offset;
        }
        if (json) {
            cJSON *o = cJSON_CreateObject(), *m = NULL;
            cJSON_AddStringToObject(o, "group", names[i]);
            cJSON_AddNumberToObject(o, "lag", (double)lag);
            m = cJSON_AddArrayToObject(o, "members");
            for (size_t j = 0; j < ni; j++) {
                cJSON_AddItemToArray(m, cJSON_CreateString(ids[j]));
            }
            cJSON_AddItemToArray(doc, o);
        } else {
            printf("%-40s %10" PRId64 "  ", names[i], lag);
            for (size_t j = 0; j < ni; j++) {
                printf("%s%s", j ? "," : "", ids[j]);
            }
            printf("%s\n", ni ? "" : "-");
        }
        free(rows);
        ferrymq_strings_free(ids, ni);
    }
    ferrymq_strings_free(names, n);
    if (rc != FERRYMQ_OK) {
        cJSON_Delete(doc);
        return fail("group list", err);
    }
    if (json) {
        put_json(doc);
    }
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
/* How far a region's clock may run ahead of another's for --to-origin-time: the scan starts
 * this much before the first message stored at the time. */
#define ORIGIN_SKEW_MS 5000

/* The origin time of a message: where it was first stored (FERRY_SRC_STORE_TS of a copy),
 * else its own store time. */
static int64_t
origin_ts(const ferrymq_msg *m)
{
    const char *v = ferrymq_msg_property(m, "FERRY_SRC_STORE_TS");
    char *end;
    long long t = v != NULL ? strtoll(v, &end, 10) : 0;
    return v != NULL && *end == '\0' && t > 0 ? (int64_t)t : ferrymq_msg_store_timestamp(m);
}

/* The first offset of q whose message has an origin time at or after ts (the queue's end when
 * none has). A copy is stored after its original, so every message stored before ts - skew
 * is older and the scan starts there. */
static int
origin_offset(ferrymq_admin *a, ferrymq_consumer *c, const ferrymq_queue *q, int64_t ts,
              int64_t *out, char *err, size_t cap)
{
    int64_t off = 0, min = 0, max = 0;
    int rc = ferrymq_admin_queue_offsets(a, q, &min, &max, err, cap);
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_admin_search_offset(a, q, ts - ORIGIN_SKEW_MS, &off, err, cap);
    }
    off = off < min ? min : off;
    while (rc == FERRYMQ_OK && off < max) {
        ferrymq_pull_result res = {.struct_size = sizeof(res)};
        rc = ferrymq_consumer_pull(c, q, off, "*", NULL, 256, 0, &res, err, cap);
        if (rc != FERRYMQ_OK) {
            break;
        }
        if (res.status != FERRYMQ_PULL_FOUND || res.n_msgs == 0) {
            off = res.next_offset > off ? res.next_offset : max;
            ferrymq_pull_result_clear(&res);
            continue;
        }
        for (size_t i = 0; i < res.n_msgs; i++) {
            if (origin_ts(res.msgs[i]) >= ts) {
                *out = ferrymq_msg_queue_offset(res.msgs[i]);
                ferrymq_pull_result_clear(&res);
                return FERRYMQ_OK;
            }
        }
        off = res.next_offset;
        ferrymq_pull_result_clear(&res);
    }
    *out = max;
    return rc;
}

/* A consumer of group and topic's queues, for the resets. FERRYMQ_OK with both (the caller
 * closes c and frees *qs), else err set. */
static int
reset_queues(const char *group, const char *topic, ferrymq_consumer **c, ferrymq_queue **qs,
             size_t *nq, char *err, size_t cap)
{
    ferrymq_conf *conf = cli_conf(group);
    int rc = ferrymq_consumer_new(conf, c, err, cap);
    ferrymq_conf_free(conf);
    *qs = NULL;
    *nq = 0;
    if (rc != FERRYMQ_OK) {
        *c = NULL;
        return rc;
    }
    return ferrymq_consumer_queues(*c, topic, qs, nq, err, cap);
}

/* One line of a reset's table: broker, queue, old offset ("-": none) -> new. */
static void
print_reset_row(const ferrymq_queue *q, int64_t old, int64_t now)
{
    char os[24];
    if (old < 0) {
        snprintf(os, sizeof(os), "-");
    } else {
        snprintf(os, sizeof(os), "%" PRId64, old);
    }
    printf("%-20s %5d %14s -> %" PRId64 "\n", q->broker_name, q->queue_id, os, now);
}

/* group reset --to-origin-time: per queue the offset above, committed for the group (the
 * group's consumers should be stopped: a member online keeps its own offsets). */
static int
group_reset_origin(ferrymq_admin *a, const char *group, const char *topic, int64_t ts, int dry_run)
{
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    char err[512];
    int rc = reset_queues(group, topic, &c, &qs, &nq, err, sizeof(err));
    if (rc == FERRYMQ_OK) {
        printf("%-20s %5s %14s    %s%s\n", "broker", "queue", "old", "new (origin time)",
               dry_run ? " (dry run: nothing changed)" : "");
    }
    for (size_t i = 0; rc == FERRYMQ_OK && i < nq; i++) {
        int64_t old = -1, now = 0;
        if (ferrymq_consumer_committed(c, &qs[i], &old, NULL, 0) != FERRYMQ_OK) {
            old = -1;
        }
        rc = origin_offset(a, c, &qs[i], ts, &now, err, sizeof(err));
        if (rc == FERRYMQ_OK && !dry_run) {
            rc = ferrymq_consumer_commit(c, &qs[i], now, err, sizeof(err));
        }
        if (rc != FERRYMQ_OK) {
            break;
        }
        print_reset_row(&qs[i], old, now);
    }
    free(qs);
    ferrymq_consumer_close(c);
    return rc == FERRYMQ_OK ? 0 : fail("group reset", err);
}

static int
group_reset(ferrymq_admin *a, const char *group, const char *topic, int64_t ts, int dry_run)
{
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    int64_t *old = NULL;
    char err[512];
    int rc = reset_queues(group, topic, &c, &qs, &nq, err, sizeof(err));
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
        if (dry_run) {
            rc = target_offset(a, &qs[i], ts, &now, err, sizeof(err));
        } else {
            rc = ferrymq_consumer_committed(c, &qs[i], &now, err, sizeof(err));
        }
        if (rc != FERRYMQ_OK) {
            break;
        }
        print_reset_row(&qs[i], old[i], now);
    }
    free(old);
    free(qs);
    ferrymq_consumer_close(c);
    return rc == FERRYMQ_OK ? 0 : fail("group reset", err);
}

#define OPT_TO_TIME 304
#define OPT_TO 305
#define OPT_DRY_RUN 306
#define OPT_TO_ORIGIN_TIME 307

static const cli_opt group_progress_optv[] = {
    {"topic", 't', 1}, {"json", OPT_JSON, 0}, {NULL, 0, 0}};
static const cli_opt group_reset_optv[] = {
    {"topic", 't', 1}, {"to-time", OPT_TO_TIME, 1}, {"to-origin-time", OPT_TO_ORIGIN_TIME, 1},
    {"to", OPT_TO, 1}, {"dry-run", OPT_DRY_RUN, 0}, {NULL, 0, 0}};
static const cli_cmd group_cmd = {"group",
                                  "group list|progress|reset ...",
                                  "  see ferrymq group list|progress|reset --help\n",
                                  NULL,
                                  0,
                                  -1};
static const cli_cmd group_list_cmd = {
    "group list",
    "group list [--json]",
    "  Consumer groups with their total lag and the client ids of their members online.\n",
    json_optv,
    0,
    0};
static const cli_cmd group_progress_cmd = {
    "group progress",
    "group progress GROUP [-t TOPIC] [--json]",
    "  GROUP's committed offset and lag per queue (of TOPIC, or of every topic it has offsets\n"
    "  for).\n",
    group_progress_optv,
    1,
    1};
static const cli_cmd group_reset_cmd = {
    "group reset",
    "group reset GROUP -t TOPIC (--to-time TIME | --to-origin-time TIME | --to "
    "earliest|latest) [--dry-run]",
    "  Moves GROUP's offsets on TOPIC, with its members online; --dry-run shows old -> new.\n"
    "  TIME is epoch ms or YYYY-MM-DDTHH:MM:SSZ. --to-origin-time goes to each queue's first\n"
    "  message first stored at or after TIME in its region of origin (FERRY_SRC_STORE_TS of a\n"
    "  replicated copy, the store time of a local message), so the same instant as on the\n"
    "  primary; it commits the offsets directly: stop the group's consumers first.\n",
    group_reset_optv,
    1,
    1};

static int
cmd_group(int argc, char **argv)
{
    static const char *const subs[] = {"list", "progress", "reset", NULL};
    static const cli_cmd *const sub_cmds[] = {&group_list_cmd, &group_progress_cmd,
                                              &group_reset_cmd};
    const char *group, *topic = NULL, *to = NULL, *to_time = NULL, *to_origin = NULL, *val;
    const cli_cmd *cmd;
    cli_args args;
    int dry_run = 0, json = 0, rc, k;
    int64_t ts = 0;
    ferrymq_admin *a;
    argc--;
    argv++;
    k = cli_take_sub(&argc, argv, &group_cmd, subs, "list, progress GROUP or reset GROUP");
    if (k < 0) {
        return cli_args_exit(k);
    }
    cmd = sub_cmds[k];
    cli_args_init(&args, cmd, argc, argv);
    while ((k = cli_args_next(&args, &val)) > 0) {
        switch (k) {
        case 't':
            topic = val;
            break;
        case OPT_TO_TIME:
            to_time = val;
            break;
        case OPT_TO_ORIGIN_TIME:
            to_origin = val;
            break;
        case OPT_TO:
            to = val;
            break;
        case OPT_DRY_RUN:
            dry_run = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    group = args.n_pos > 0 ? args.pos[0] : NULL;
    if (cmd == &group_reset_cmd) {
        if (topic == NULL || (to != NULL) + (to_time != NULL) + (to_origin != NULL) != 1) {
            return bad_usage("%s needs -t TOPIC and one of --to-time, --to-origin-time or --to",
                             "group reset");
        }
        if (to_origin != NULL && (parse_time(to_origin, &ts) != 0 || ts <= 0)) {
            return bad_usage("--to-origin-time '%s' is neither epoch ms nor YYYY-MM-DDTHH:MM:SSZ",
                             to_origin);
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
    if (cmd == &group_list_cmd) {
        rc = group_list(a, json);
    } else if (cmd == &group_reset_cmd && to_origin != NULL) {
        rc = group_reset_origin(a, group, topic, ts, dry_run);
    } else if (cmd == &group_reset_cmd) {
        rc = group_reset(a, group, topic, ts, dry_run);
    } else {
        rc = group_progress(a, group, topic, json);
    }
    ferrymq_admin_free(a);
    return rc;
}

static const cli_cmd cluster_cmd = {
    "cluster", "cluster [--json]", "  Brokers registered with the name server.\n", json_optv, 0, 0};

static int
cmd_cluster(int argc, char **argv)
{
    ferrymq_admin *a;
    ferrymq_broker_info *b;
    cli_args args;
    const char *val;
    size_t n;
    char err[512];
    int rc, k, json = 0;
    cli_args_init(&args, &cluster_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&args, &val)) > 0) {
        json = k == OPT_JSON;
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (with_admin(NULL, &a) != 0) {
        return EXIT_FAIL;
    }
    rc = ferrymq_admin_brokers(a, &b, &n, err, sizeof(err));
    ferrymq_admin_free(a);
    if (rc != FERRYMQ_OK) {
        return fail("cluster", err);
    }
    if (json) {
        cJSON *doc = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "cluster", b[i].cluster);
            cJSON_AddStringToObject(o, "broker", b[i].broker_name);
            cJSON_AddNumberToObject(o, "brokerId", (double)b[i].broker_id);
            cJSON_AddStringToObject(o, "addr", b[i].addr);
            cJSON_AddItemToArray(doc, o);
        }
        put_json(doc);
    } else {
        printf("%-20s %-20s %4s %s\n", "cluster", "broker", "id", "address");
        for (size_t i = 0; i < n; i++) {
            printf("%-20s %-20s %4" PRId64 " %s\n", b[i].cluster, b[i].broker_name, b[i].broker_id,
                   b[i].addr);
        }
    }
    free(b);
    return 0;
}

void
cli_print_version(const char *prog, FILE *out)
{
    unsigned v = ferrymq_version();
    fprintf(out, "%s %u.%u.%u\n", prog, (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
}

int
main(int argc, char **argv)
{
    int i = 1;
    const char *env = getenv("FERRYMQ_NAMESRV");
    if (env != NULL && env[0] != '\0' && cli_set_namesrv(env, "FERRYMQ_NAMESRV") != 0) {
        return EXIT_USAGE;
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--namesrv") == 0) {
            if (i + 1 >= argc) {
                return bad_usage("option '%s' needs a value", argv[i]);
            }
            if (cli_set_namesrv(argv[i + 1], "-n") != 0) {
                return EXIT_USAGE;
            }
            i += 2;
        } else if (strncmp(argv[i], "--namesrv=", 10) == 0) {
            if (cli_set_namesrv(argv[i] + 10, "-n") != 0) {
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--replicator") == 0) {
            if (i + 1 >= argc) {
                return bad_usage("option '%s' needs a value", argv[i]);
            }
            if (cli_set_replicator(argv[i + 1], "-r") != 0) {
                return EXIT_USAGE;
            }
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            cli_print_version("ferrymq", stdout);
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
        return cmd_cluster(argc, argv);
    }
    if (strcmp(argv[0], "bench") == 0) {
        return cli_bench(argc, argv);
    }
    if (strcmp(argv[0], "task") == 0) {
        return cli_task(argc, argv);
    }
    if (strcmp(argv[0], "failover") == 0) {
        return cli_failover(argc, argv);
    }
    if (strcmp(argv[0], "failback") == 0) {
        return cli_failback(argc, argv);
    }
    return bad_usage("unknown command '%s'", argv[0]);
}
