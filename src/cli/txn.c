/*
 * txn.c - `ferrymq produce --transaction commit|rollback|unknown`: each body is sent as a
 * transaction (ferrymq_txn_send) whose local transaction ends with the given outcome. With
 * unknown, --check-wait MS keeps the producer online that long (until every message was
 * answered) so the broker's CHECK_TRANSACTION_STATE reaches it, answered with --check STATE.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct txn_cli {
    int local_state;
    int check_state;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long checks; /* checks answered */
} txn_cli;

static int
parse_state(const char *s, int *out)
{
    if (strcmp(s, "commit") == 0) {
        *out = FERRYMQ_TXN_COMMIT;
    } else if (strcmp(s, "rollback") == 0) {
        *out = FERRYMQ_TXN_ROLLBACK;
    } else if (strcmp(s, "unknown") == 0) {
        *out = FERRYMQ_TXN_UNKNOWN;
    } else {
        return -1;
    }
    return 0;
}

static const char *
state_name(int s)
{
    return s == FERRYMQ_TXN_COMMIT ? "commit" : s == FERRYMQ_TXN_ROLLBACK ? "rollback" : "unknown";
}

static int
on_local(void *opaque, ferrymq_msg *msg, void *arg)
{
    txn_cli *t = opaque;
    (void)msg;
    (void)arg;
    return t->local_state;
}

static int
on_check(void *opaque, const ferrymq_msg *msg)
{
    txn_cli *t = opaque;
    fprintf(stderr, "ferrymq: check of %s answered %s\n", ferrymq_msg_id(msg),
            state_name(t->check_state));
    pthread_mutex_lock(&t->mu);
    t->checks++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return t->check_state;
}

int
cli_txn_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strcmp(argv[i], "--transaction") == 0 || strncmp(argv[i], "--transaction=", 14) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
send_txn(ferrymq_txn_producer *tp, txn_cli *t, const char *topic, const char *body, size_t len,
         const char *tag, const char *keys, char **props, int n_props)
{
    char err[512];
    ferrymq_send_result res;
    ferrymq_msg *m = ferrymq_msg_new(topic, body, len);
    int rc, state = FERRYMQ_TXN_UNKNOWN;
    if (m == NULL) {
        return cli_fail("produce", "out of memory");
    }
    if ((tag != NULL && ferrymq_msg_set_tags(m, tag) != FERRYMQ_OK) ||
        (keys != NULL && ferrymq_msg_set_keys(m, keys) != FERRYMQ_OK)) {
        ferrymq_msg_free(m);
        return cli_usage_error("%s: tag and keys must not contain control bytes", "produce");
    }
    for (int i = 0; i < n_props; i++) {
        char *eq = strchr(props[i], '=');
        *eq = '\0';
        rc = ferrymq_msg_set_property(m, props[i], eq + 1);
        *eq = '=';
        if (rc != FERRYMQ_OK) {
            ferrymq_msg_free(m);
            return cli_usage_error("property '%s' is not name=value without control bytes",
                                   props[i]);
        }
    }
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    rc = ferrymq_txn_send(tp, m, on_local, t, &res, &state, err, sizeof(err));
    ferrymq_msg_free(m);
    if (rc != FERRYMQ_OK) {
        return cli_fail("produce", err);
    }
    printf("%s %s %s/%d@%" PRId64 " %s\n", res.msg_id, res.offset_msg_id, res.broker_name,
           res.queue_id, res.queue_offset, state_name(state));
    fflush(stdout);
    return 0;
}

/* Wait until n checks were answered or wait_ms passed. */
static void
wait_checks(txn_cli *t, long n, int64_t wait_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (t->checks < n) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
}

int
cli_txn_produce(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'}, {"tag", required_argument, NULL, 'T'},
        {"keys", required_argument, NULL, 'k'},  {"property", required_argument, NULL, 'p'},
        {"file", required_argument, NULL, 'f'},  {"transaction", required_argument, NULL, 'X'},
        {"check", required_argument, NULL, 'C'}, {"check-wait", required_argument, NULL, 'W'},
        {"group", required_argument, NULL, 'g'}, {NULL, 0, NULL, 0}};
    const char *topic = NULL, *tag = NULL, *keys = NULL, *file = NULL, *group = "ferrymq-cli";
    char *props[64], err[512];
    int n_props = 0, opt, rc = 0;
    long sent = 0;
    int64_t wait_ms = 0;
    txn_cli t;
    ferrymq_conf *conf;
    ferrymq_txn_producer *tp;

    memset(&t, 0, sizeof(t));
    t.check_state = FERRYMQ_TXN_UNKNOWN;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:T:k:p:f:g:", opts, NULL)) != -1) {
        char *end;
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
                return cli_usage_error("property '%s' must be name=value (at most 64)", optarg);
            }
            props[n_props++] = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'X':
            if (parse_state(optarg, &t.local_state) != 0) {
                return cli_usage_error("--transaction '%s': use commit, rollback or unknown",
                                       optarg);
            }
            break;
        case 'C':
            if (parse_state(optarg, &t.check_state) != 0) {
                return cli_usage_error("--check '%s': use commit, rollback or unknown", optarg);
            }
            break;
        case 'W':
            errno = 0;
            wait_ms = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || wait_ms < 0 || wait_ms > 3600000) {
                return cli_usage_error("--check-wait '%s' must be 0..3600000 ms", optarg);
            }
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (topic == NULL) {
        return cli_usage_error("%s needs -t TOPIC", "produce");
    }
    conf = cli_conf(NULL);
    if (conf == NULL || ferrymq_conf_set(conf, "producerGroup", group, err, sizeof(err)) != 0) {
        ferrymq_conf_free(conf);
        return cli_usage_error("--group '%s' is not a valid producer group", group);
    }
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    rc = ferrymq_txn_producer_new(conf, on_check, &t, &tp, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        rc = cli_fail("produce", err);
        goto out;
    }
    rc = 0;
    if (optind < argc) {
        for (int i = optind; i < argc && rc == 0; i++, sent++) {
            rc = send_txn(tp, &t, topic, argv[i], strlen(argv[i]), tag, keys, props, n_props);
        }
    } else {
        FILE *in = file ? fopen(file, "r") : stdin;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        if (in == NULL) {
            rc = cli_fail(file, strerror(errno));
        }
        while (rc == 0 && in != NULL && (n = getline(&line, &cap, in)) >= 0) {
            if (n > 0 && line[n - 1] == '\n') {
                line[--n] = '\0';
            }
            rc = send_txn(tp, &t, topic, line, (size_t)n, tag, keys, props, n_props);
            sent++;
        }
        free(line);
        if (in != NULL && in != stdin) {
            fclose(in);
        }
    }
    if (rc == 0 && wait_ms > 0) {
        wait_checks(&t, sent, wait_ms);
    }
    ferrymq_txn_producer_close(tp, 5000);
out:
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
    return rc;
}
