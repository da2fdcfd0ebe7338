/*
 * txn.c - the sending side of `ferrymq produce --transaction commit|rollback|unknown`: each
 * message is sent as a transaction (ferrymq_txn_send) whose local transaction ends with the
 * given outcome. With unknown, --check-wait MS keeps the producer online that long (or until
 * every message's check was answered) so the broker's CHECK_TRANSACTION_STATE reaches it,
 * answered with --check STATE. Option parsing and the body sources are produce's (main.c).
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cli_txn {
    int local_state;
    int check_state;
    ferrymq_txn_producer *tp;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long checks; /* checks answered */
};

int
cli_txn_parse_state(const char *s, int *out)
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

const char *
cli_txn_state_name(int s)
{
    return s == FERRYMQ_TXN_COMMIT ? "commit" : s == FERRYMQ_TXN_ROLLBACK ? "rollback" : "unknown";
}

static int
on_local(void *opaque, ferrymq_msg *msg, void *arg)
{
    cli_txn *t = opaque;
    (void)msg;
    (void)arg;
    return t->local_state;
}

static int
on_check(void *opaque, const ferrymq_msg *msg)
{
    cli_txn *t = opaque;
    fprintf(stderr, "ferrymq: check of %s answered %s\n", ferrymq_msg_id(msg),
            cli_txn_state_name(t->check_state));
    pthread_mutex_lock(&t->mu);
    t->checks++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return t->check_state;
}

/* Wait until n checks were answered or wait_ms passed. */
static void
wait_checks(cli_txn *t, long n, int64_t wait_ms)
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
cli_txn_open(const char *group, int local_state, int check_state, cli_txn **out)
{
    char err[512];
    ferrymq_conf *conf;
    cli_txn *t = calloc(1, sizeof(*t));
    int rc;
    if (t == NULL) {
        return cli_fail("produce", "out of memory");
    }
    t->local_state = local_state;
    t->check_state = check_state;
    conf = cli_conf(NULL);
    if (conf == NULL || ferrymq_conf_set(conf, "producerGroup", group, err, sizeof(err)) != 0) {
        ferrymq_conf_free(conf);
        free(t);
        return cli_usage_error("--group '%s' is not a valid producer group", group);
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    rc = ferrymq_txn_producer_new(conf, on_check, t, &t->tp, err, sizeof(err));
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return cli_fail("produce", err);
    }
    *out = t;
    return 0;
}

int
cli_txn_send(cli_txn *t, ferrymq_msg *m, ferrymq_send_result *res, int *state, char *err,
             size_t err_cap)
{
    *state = FERRYMQ_TXN_UNKNOWN;
    return ferrymq_txn_send(t->tp, m, on_local, t, res, state, err, err_cap);
}

void
cli_txn_close(cli_txn *t, long sent, int64_t wait_ms)
{
    if (t == NULL) {
        return;
    }
    if (wait_ms > 0) {
        wait_checks(t, sent, wait_ms);
    }
    ferrymq_txn_producer_close(t->tp, 5000);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
