/*
 * Transactional messages against a real ferrymqd: commit delivered once, rollback never,
 * unknown resolved by the broker's check-back, a vanished producer's half discarded after
 * transactionCheckMax checks, kill -9 of the broker between half and end (END after the
 * restart, and a check after it), half messages invisible to pulls, tag and SQL filters and
 * `ferrymq consume`, END_TRANSACTION's validation, and the store rule that prepared records are
 * never indexed. The daemon runs with a 300 ms transactionTimeOut and a 200 ms
 * transactionCheckInterval so every case completes in seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"

#include <ferrymq.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_MAX 3

static fmt_daemon d;
static char ns[64];

static const char *const daemon_flags[] = {
    "--brokerIP1=127.0.0.1",   "--transactionTimeOut=300",  "--transactionCheckInterval=200",
    "--transactionCheckMax=3", "--defaultTopicQueueNums=2", NULL};

static int
setup(void **state)
{
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, daemon_flags, 10000) != 0) {
        return -1;
    }
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* ---- the application's side of a transaction ---- */

typedef struct app {
    pthread_mutex_t mu;
    int local_state; /* what the local transaction returns */
    int check_state; /* what a check answers */
    int checks;      /* checks received */
    char checked_topic[128];
    char checked_body[64];
    char checked_id[64];
    void (*in_local)(void); /* run inside the local transaction */
} app;

static void
app_init(app *a, int local_state, int check_state)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    a->local_state = local_state;
    a->check_state = check_state;
}

static int
on_local(void *opaque, ferrymq_msg *msg, void *arg)
{
    app *a = opaque;
    (void)msg;
    (void)arg;
    if (a->in_local != NULL) {
        a->in_local();
    }
    return a->local_state;
}

static int
on_check(void *opaque, const ferrymq_msg *msg)
{
    app *a = opaque;
    size_t len;
    const char *body = ferrymq_msg_body(msg, &len);
    int st;
    pthread_mutex_lock(&a->mu);
    a->checks++;
    snprintf(a->checked_topic, sizeof(a->checked_topic), "%s", ferrymq_msg_topic(msg));
    snprintf(a->checked_body, sizeof(a->checked_body), "%.*s", (int)len, body);
    snprintf(a->checked_id, sizeof(a->checked_id), "%s",
             ferrymq_msg_id(msg) ? ferrymq_msg_id(msg) : "");
    st = a->check_state;
    pthread_mutex_unlock(&a->mu);
    return st;
}

static int
app_checks(app *a)
{
    int n;
    pthread_mutex_lock(&a->mu);
    n = a->checks;
    pthread_mutex_unlock(&a->mu);
    return n;
}

static ferrymq_txn_producer *
txn_producer(app *a, const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_txn_producer *tp = NULL;
    char err[256];
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)), 0);
    assert_int_equal(ferrymq_conf_set(conf, "producerGroup", group, err, sizeof(err)), 0);
    assert_int_equal(ferrymq_txn_producer_new(conf, on_check, a, &tp, err, sizeof(err)),
                     FERRYMQ_OK);
    ferrymq_conf_free(conf);
    return tp;
}

static int
txn_send(ferrymq_txn_producer *tp, app *a, const char *topic, const char *body, const char *tag,
         const char *color, ferrymq_send_result *res)
{
    ferrymq_msg *m = ferrymq_msg_new(topic, body, strlen(body));
    char err[256];
    int state = -1, rc;
    if (tag != NULL) {
        ferrymq_msg_set_tags(m, tag);
    }
    if (color != NULL) {
        ferrymq_msg_set_property(m, "color", color);
    }
    memset(res, 0, sizeof(*res));
    res->struct_size = sizeof(*res);
    rc = ferrymq_txn_send(tp, m, on_local, NULL, res, &state, err, sizeof(err));
    (void)a;
    ferrymq_msg_free(m);
    if (rc == FERRYMQ_OK) {
        assert_int_equal(state, a->local_state);
    } else {
        fprintf(stderr, "txn_send: %s\n", err);
    }
    return rc;
}

/* ---- what consumers see ---- */

/* Messages of topic (every queue, from offset 0) matching expr (NULL: all); the body of the
 * last one into last_body when given. */
static int
visible(const char *topic, const char *expr, const char *type, char *last_body, size_t cap)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_consumer *c = NULL;
    ferrymq_queue *qs = NULL;
    size_t n = 0;
    char err[256];
    int total = 0;
    ferrymq_conf_set(conf, "namesrvAddr", ns, NULL, 0);
    ferrymq_conf_set(conf, "consumerGroup", "it-txn-reader", NULL, 0);
    assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    if (ferrymq_consumer_queues(c, topic, &qs, &n, err, sizeof(err)) != FERRYMQ_OK) {
        ferrymq_consumer_close(c);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (;;) {
            ferrymq_pull_result r;
            memset(&r, 0, sizeof(r));
            r.struct_size = sizeof(r);
            assert_int_equal(
                ferrymq_consumer_pull(c, &qs[i], off, expr, type, 32, 0, &r, err, sizeof(err)),
                FERRYMQ_OK);
            total += (int)r.n_msgs;
            if (r.n_msgs > 0 && last_body != NULL) {
                size_t len;
                const char *b = ferrymq_msg_body(r.msgs[r.n_msgs - 1], &len);
                snprintf(last_body, cap, "%.*s", (int)len, b);
            }
            if (r.status != FERRYMQ_PULL_FOUND && r.status != FERRYMQ_PULL_NO_MATCHED_MSG) {
                ferrymq_pull_result_clear(&r);
                break;
            }
            off = r.next_offset;
            ferrymq_pull_result_clear(&r);
        }
    }
    free(qs);
    ferrymq_consumer_close(c);
    return total;
}

typedef struct vis_wait {
    const char *topic;
    int want;
} vis_wait;

static int
visible_reaches(void *ud)
{
    vis_wait *w = ud;
    return visible(w->topic, NULL, NULL, NULL, 0) >= w->want;
}

/* A raw PULL_MESSAGE of topic queue 0 from offset 0: the response code. */
static int
raw_pull_code(const char *topic)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r;
    int code;
    const char *kv[] = {"consumerGroup",
                        "it-txn-raw",
                        "topic",
                        topic,
                        "queueId",
                        "0",
                        "queueOffset",
                        "0",
                        "maxMsgNums",
                        "32",
                        "sysFlag",
                        "2",
                        "commitOffset",
                        "0",
                        "suspendTimeoutMillis",
                        "0",
                        "subscription",
                        "*",
                        "subVersion",
                        "0",
                        NULL};
    assert_true(fd >= 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), &r), 0);
    code = r.cmd.code;
    fmt_resp_free(&r);
    close(fd);
    return code;
}

/* A half message sent as the Java client frames it (SEND_MESSAGE_V2, TRAN_MSG, PGROUP, sysFlag
 * 4), on a raw connection. Returns the response code; the reply's queue offset and offset
 * message id into *tsto and msgid. */
static int
raw_half(int fd, const char *topic, const char *group, const char *body, const char *uniq,
         const char *sysflag, int with_tran_msg, int64_t *tsto, char *msgid, size_t cap)
{
    char props[512], born[24];
    fmt_resp r;
    int code;
    snprintf(props, sizeof(props), "%s%s\001%s\002UNIQ_KEY\001%s\002WAIT\001true\002",
             with_tran_msg ? "TRAN_MSG\001true\002" : "", "PGROUP", group, uniq);
    snprintf(born, sizeof(born), "%" PRId64, fmt_wall_ms());
    {
        const char *kv[] = {"a", group, "b", topic,   "c", "TBW102", "d", "2",
                            "e", "0",   "f", sysflag, "g", born,     "h", "0",
                            "i", props, "j", "0",     "k", "false",  NULL};
        memset(&r, 0, sizeof(r));
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_SEND_MESSAGE_V2, kv,
                                     fm_slice_cstr(body), &r),
                         0);
    }
    code = r.cmd.code;
    if (code == FM_RESP_SUCCESS) {
        if (tsto != NULL) {
            *tsto = strtoll(fmt_ext(&r, "queueOffset"), NULL, 10);
        }
        if (msgid != NULL) {
            snprintf(msgid, cap, "%s", fmt_ext(&r, "msgId"));
        }
    }
    fmt_resp_free(&r);
    return code;
}

/* A consumer's retry of a committed message as the Java client's fallback sends it: TRAN_MSG
 * still set, reconsumeTimes 1, DELAY level 1. */
static int
raw_retry_of_committed(int fd, const char *topic)
{
    char born[24];
    fmt_resp r;
    int code;
    const char *props = "TRAN_MSG\001true\002PGROUP\001pg-r\002DELAY\0011\002UNIQ_KEY\001UR\002";
    snprintf(born, sizeof(born), "%" PRId64, fmt_wall_ms());
    {
        const char *kv[] = {"a", "pg-r", "b", topic, "c", "TBW102", "d", "2",
                            "e", "0",    "f", "8",   "g", born,     "h", "0",
                            "i", props,  "j", "1",   "k", "false",  NULL};
        memset(&r, 0, sizeof(r));
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_SEND_MESSAGE_V2, kv,
                                     fm_slice_cstr("retried"), &r),
                         0);
    }
    code = r.cmd.code;
    fmt_resp_free(&r);
    return code;
}

/* END_TRANSACTION on a raw connection (two-way); the response code and remark. */
static int
raw_end(int fd, const char *group, int64_t tsto, const char *msgid, const char *cor,
        const char *uniq, char *remark, size_t cap)
{
    uint8_t host[20];
    size_t hl = sizeof(host);
    uint64_t clo = 0;
    char ts[24], cl[24];
    fmt_resp r;
    int code;
    if (fm_msgid_parse(fm_slice_cstr(msgid), host, &hl, &clo) != 0) {
        clo = (uint64_t)strtoull(msgid, NULL, 10); /* a plain offset, for bad-input cases */
    }
    snprintf(ts, sizeof(ts), "%" PRId64, tsto);
    snprintf(cl, sizeof(cl), "%" PRIu64, clo);
    {
        const char *kv[] = {"producerGroup",
                            group,
                            "tranStateTableOffset",
                            ts,
                            "commitLogOffset",
                            cl,
                            "commitOrRollback",
                            cor,
                            "fromTransactionCheck",
                            "false",
                            "msgId",
                            uniq,
                            "transactionId",
                            uniq,
                            NULL};
        memset(&r, 0, sizeof(r));
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_END_TRANSACTION, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
    }
    code = r.cmd.code;
    if (remark != NULL) {
        snprintf(remark, cap, "%s", fmt_remark(&r));
    }
    fmt_resp_free(&r);
    return code;
}

/* ---- tests ---- */

static void
test_txn_commit_delivered_once(void **state)
{
    app a;
    ferrymq_txn_producer *tp;
    ferrymq_send_result res;
    char body[64] = "";
    (void)state;
    app_init(&a, FERRYMQ_TXN_COMMIT, FERRYMQ_TXN_ROLLBACK);
    tp = txn_producer(&a, "pg-commit");
    assert_int_equal(txn_send(tp, &a, "TxnCommit", "committed", NULL, NULL, &res), FERRYMQ_OK);
    assert_int_equal(strlen(res.offset_msg_id), 32);
    /* END_TRANSACTION commit is confirmed before ferrymq_txn_send returns */
    assert_int_equal(visible("TxnCommit", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "committed");
    /* several check rounds later it is still there exactly once and was never checked */
    {
        vis_wait w = {"TxnCommit", 2};
        ferrymq_send_result r2;
        app_init(&a, FERRYMQ_TXN_UNKNOWN, FERRYMQ_TXN_COMMIT);
        assert_int_equal(txn_send(tp, &a, "TxnCommit", "second", NULL, NULL, &r2), FERRYMQ_OK);
        assert_true(fmt_wait_until(visible_reaches, &w, 10000));
        assert_int_equal(app_checks(&a), 1); /* only "second" was asked about */
        assert_string_equal(a.checked_body, "second");
    }
    assert_int_equal(visible("TxnCommit", NULL, NULL, NULL, 0), 2);
    assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
}

static void
test_txn_rollback_never_delivered(void **state)
{
    app a;
    ferrymq_txn_producer *tp;
    ferrymq_send_result res;
    vis_wait w = {"TxnRollback", 1};
    char body[64] = "";
    (void)state;
    app_init(&a, FERRYMQ_TXN_ROLLBACK, FERRYMQ_TXN_COMMIT);
    tp = txn_producer(&a, "pg-rollback");
    assert_int_equal(txn_send(tp, &a, "TxnRollback", "rolled-back", NULL, NULL, &res), FERRYMQ_OK);
    assert_int_equal(visible("TxnRollback", NULL, NULL, NULL, 0), 0);
    /* an unknown one behind it: when its check has committed it, a round has passed over the
     * rolled-back one too, which was neither checked nor delivered */
    a.local_state = FERRYMQ_TXN_UNKNOWN;
    assert_int_equal(txn_send(tp, &a, "TxnRollback", "later", NULL, NULL, &res), FERRYMQ_OK);
    assert_true(fmt_wait_until(visible_reaches, &w, 10000));
    assert_int_equal(visible("TxnRollback", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "later");
    assert_int_equal(app_checks(&a), 1);
    assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
}

typedef struct check_wait {
    app *a;
    int want;
} check_wait;

static int
checks_reach(void *ud)
{
    check_wait *w = ud;
    return app_checks(w->a) >= w->want;
}

static void
test_txn_unknown_resolved_by_check(void **state)
{
    app a;
    ferrymq_txn_producer *tp;
    ferrymq_send_result res;
    vis_wait w = {"TxnCheck", 1};
    check_wait cw = {&a, 2};
    (void)state;
    app_init(&a, FERRYMQ_TXN_UNKNOWN, FERRYMQ_TXN_UNKNOWN);
    tp = txn_producer(&a, "pg-check");
    assert_int_equal(txn_send(tp, &a, "TxnCheck", "asked", "TagA", NULL, &res), FERRYMQ_OK);
    /* unknown answers keep it pending: checked again every interval, never delivered */
    assert_true(fmt_wait_until(checks_reach, &cw, 10000));
    assert_int_equal(visible("TxnCheck", NULL, NULL, NULL, 0), 0);
    pthread_mutex_lock(&a.mu);
    assert_string_equal(a.checked_topic, "TxnCheck"); /* the real topic, not the half topic */
    assert_string_equal(a.checked_body, "asked");
    assert_string_equal(a.checked_id, res.msg_id); /* the transaction id */
    a.check_state = FERRYMQ_TXN_COMMIT;
    pthread_mutex_unlock(&a.mu);
    assert_true(fmt_wait_until(visible_reaches, &w, 10000));
    assert_int_equal(visible("TxnCheck", "TagA", NULL, NULL, 0), 1);
    {
        /* a check answered rollback: never delivered, and not asked about again */
        int before;
        check_wait cw2 = {&a, 0};
        ferrymq_send_result r2;
        pthread_mutex_lock(&a.mu);
        a.check_state = FERRYMQ_TXN_ROLLBACK;
        before = a.checks;
        pthread_mutex_unlock(&a.mu);
        assert_int_equal(txn_send(tp, &a, "TxnCheck", "dropped", "TagA", NULL, &r2), FERRYMQ_OK);
        cw2.want = before + 1;
        assert_true(fmt_wait_until(checks_reach, &cw2, 10000));
        /* the next message's commit needs a later round: by then a rolled-back half that was
         * still pending would have been asked about again */
        pthread_mutex_lock(&a.mu);
        a.check_state = FERRYMQ_TXN_COMMIT;
        pthread_mutex_unlock(&a.mu);
        assert_int_equal(txn_send(tp, &a, "TxnCheck", "third", "TagA", NULL, &r2), FERRYMQ_OK);
        w.want = 2;
        assert_true(fmt_wait_until(visible_reaches, &w, 10000));
        assert_int_equal(app_checks(&a), before + 2);
        assert_int_equal(visible("TxnCheck", NULL, NULL, NULL, 0), 2);
    }
    assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
}

static void
test_txn_producer_gone_discarded_after_max_checks(void **state)
{
    app a;
    ferrymq_txn_producer *tp;
    ferrymq_send_result res;
    char want[128], body[64] = "";
    (void)state;
    app_init(&a, FERRYMQ_TXN_UNKNOWN, FERRYMQ_TXN_UNKNOWN);
    tp = txn_producer(&a, "pg-gone");
    assert_int_equal(txn_send(tp, &a, "TxnGone", "orphan", NULL, NULL, &res), FERRYMQ_OK);
    assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
    assert_true(fmt_wait_log(&d, "FM-TXN-DISCARD", 15000));
    snprintf(want, sizeof(want), "key=%s checks=%d", res.msg_id, CHECK_MAX);
    assert_int_equal(fmt_log_count(&d, want), 1);
    assert_int_equal(visible("TxnGone", NULL, NULL, NULL, 0), 0);
    /* kept for an operator in TRANS_CHECK_MAX_TIME_TOPIC, as RocketMQ does */
    assert_int_equal(visible("TRANS_CHECK_MAX_TIME_TOPIC", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "orphan");
}

/* The daemon of the half-invisibility test, for the local callback. */
static void
assert_half_invisible(void)
{
    char cmd[512];
    FILE *p;
    char out[4096];
    size_t n;
    const char *bin = getenv("FM_FERRYMQ_CLI");
    char body[64] = "";
    assert_int_equal(visible("TxnHidden", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "visible-body");
    assert_int_equal(visible("TxnHidden", "TagH", NULL, NULL, 0), 0);
    assert_int_equal(visible("TxnHidden", "color = 'red'", "SQL92", NULL, 0), 0);
    assert_int_equal(raw_pull_code("RMQ_SYS_TRANS_HALF_TOPIC"), FM_RESP_NO_PERMISSION);
    assert_int_equal(raw_pull_code("RMQ_SYS_TRANS_OP_HALF_TOPIC"), FM_RESP_NO_PERMISSION);
    snprintf(cmd, sizeof(cmd), "%s -n %s consume -t TxnHidden --from earliest --wait-ms 300 2>&1",
             bin ? bin : "build/ferrymq", ns);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    assert_non_null(strstr(out, "visible-body"));
    assert_null(strstr(out, "hidden-body"));
}

static void
test_txn_half_never_visible(void **state)
{
    app a;
    ferrymq_txn_producer *tp;
    ferrymq_send_result res;
    char body[64] = "";
    (void)state;
    {
        /* the topic exists with a visible message, so "nothing" is not an unknown topic */
        ferrymq_txn_producer *warm;
        app w;
        app_init(&w, FERRYMQ_TXN_COMMIT, FERRYMQ_TXN_COMMIT);
        warm = txn_producer(&w, "pg-warm");
        assert_int_equal(txn_send(warm, &w, "TxnHidden", "visible-body", "TagV", "blue", &res),
                         FERRYMQ_OK);
        ferrymq_txn_producer_close(warm, 2000);
    }
    app_init(&a, FERRYMQ_TXN_ROLLBACK, FERRYMQ_TXN_ROLLBACK);
    a.in_local = NULL;
    tp = txn_producer(&a, "pg-hidden");
    /* while the local transaction runs, the half is stored but nobody may see it */
    a.in_local = NULL;
    {
        int rc;
        ferrymq_msg *m = ferrymq_msg_new("TxnHidden", "hidden-body", 11);
        char err[256];
        int st = -1;
        ferrymq_msg_set_tags(m, "TagH");
        ferrymq_msg_set_property(m, "color", "red");
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        a.in_local = assert_half_invisible;
        rc = ferrymq_txn_send(tp, m, on_local, NULL, &res, &st, err, sizeof(err));
        ferrymq_msg_free(m);
        assert_int_equal(rc, FERRYMQ_OK);
        assert_int_equal(st, FERRYMQ_TXN_ROLLBACK);
    }
    assert_int_equal(visible("TxnHidden", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "visible-body");
    assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
}

static void
test_txn_store_never_indexes_prepared_records(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    int64_t off = -1;
    char id[64];
    (void)state;
    assert_true(fd >= 0);
    /* sysFlag PREPARED without TRAN_MSG: stored where it was sent, but never indexed */
    assert_int_equal(
        raw_half(fd, "TxnRaw", "pg-raw", "prepared-only", "U1", "4", 0, &off, id, sizeof(id)),
        FM_RESP_SUCCESS);
    assert_int_equal(off, 0);
    assert_int_equal(raw_half(fd, "TxnRaw", "pg-raw", "plain", "U2", "0", 0, NULL, NULL, 0),
                     FM_RESP_SUCCESS);
    assert_int_equal(visible("TxnRaw", NULL, NULL, NULL, 0), 1);
    /* clients may not write the broker's transaction topics */
    assert_int_equal(
        raw_half(fd, "RMQ_SYS_TRANS_HALF_TOPIC", "pg-raw", "forged", "U3", "0", 0, NULL, NULL, 0),
        FM_RESP_NO_PERMISSION);
    assert_int_equal(
        raw_half(fd, "RMQ_SYS_TRANS_OP_HALF_TOPIC", "pg-raw", "0", "U4", "0", 0, NULL, NULL, 0),
        FM_RESP_NO_PERMISSION);
    /* a retried committed message is delivered after its delay, not held as a half */
    assert_int_equal(raw_retry_of_committed(fd, "TxnRetried"), FM_RESP_SUCCESS);
    {
        vis_wait w = {"TxnRetried", 1};
        assert_true(fmt_wait_until(visible_reaches, &w, 10000));
    }
    close(fd);
    /* after a restart (the consume queues rebuilt from the log) it is still not indexed */
    fmt_daemon_stop(&d, SIGKILL, 5000);
    {
        char cq[800];
        snprintf(cq, sizeof(cq), "rm -rf %s/consumequeue/TxnRaw %s/checkpoint", d.dir, d.dir);
        assert_int_equal(system(cq), 0);
    }
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    assert_int_equal(visible("TxnRaw", NULL, NULL, NULL, 0), 1);
}

static void
test_txn_end_validates_its_half(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    int64_t tsto = -1;
    char id[64], remark[256], body[64] = "";
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(
        raw_half(fd, "TxnEnd", "pg-end", "checked-end", "UE1", "4", 1, &tsto, id, sizeof(id)),
        FM_RESP_SUCCESS);
    assert_int_equal(raw_end(fd, "other-group", tsto, id, "8", "UE1", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "The producer group wrong");
    assert_int_equal(raw_end(fd, "pg-end", tsto + 5, id, "8", "UE1", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "The transaction state table offset wrong");
    assert_int_equal(raw_end(fd, "pg-end", tsto, "999999", "8", "UE1", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "Find prepared transaction message failed");
    assert_int_equal(raw_end(fd, "pg-end", tsto, id, "5", "UE1", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_int_equal(visible("TxnEnd", NULL, NULL, NULL, 0), 0);
    /* a commit, then the same commit again and a late rollback: applied once */
    assert_int_equal(raw_end(fd, "pg-end", tsto, id, "8", "UE1", NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(raw_end(fd, "pg-end", tsto, id, "8", "UE1", NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(raw_end(fd, "pg-end", tsto, id, "12", "UE1", NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(visible("TxnEnd", NULL, NULL, body, sizeof(body)), 1);
    assert_string_equal(body, "checked-end");
    close(fd);
}

static void
test_txn_kill9_between_half_and_end(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    int64_t t1 = -1, t2 = -1, t3 = -1;
    char id1[64], id2[64], id3[64];
    (void)state;
    assert_true(fd >= 0);
    /* three halves, no END for any of them, then kill -9 */
    assert_int_equal(raw_half(fd, "TxnCrash", "pg-crash", "end-after-restart", "UK1", "4", 1, &t1,
                              id1, sizeof(id1)),
                     FM_RESP_SUCCESS);
    assert_int_equal(raw_half(fd, "TxnCrash", "pg-crash", "checked-after-restart", "UK2", "4", 1,
                              &t2, id2, sizeof(id2)),
                     FM_RESP_SUCCESS);
    assert_int_equal(raw_half(fd, "TxnCrash", "pg-crash", "rolled-back-after-restart", "UK3", "4",
                              1, &t3, id3, sizeof(id3)),
                     FM_RESP_SUCCESS);
    close(fd);
    fmt_daemon_stop(&d, SIGKILL, 5000);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    assert_true(fmt_wait_log(&d, "FM-TXN-RECOVERED", 5000));
    assert_int_equal(visible("TxnCrash", NULL, NULL, NULL, 0), 0);

    /* the producer's END arrives after the restart */
    fd = fmt_connect(d.remoting_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(raw_end(fd, "pg-crash", t1, id1, "8", "UK1", NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(raw_end(fd, "pg-crash", t3, id3, "12", "UK3", NULL, 0), FM_RESP_SUCCESS);
    close(fd);
    assert_int_equal(visible("TxnCrash", NULL, NULL, NULL, 0), 1);

    /* the other is checked: a producer of the group comes back (sending nothing) and answers
     * commit */
    {
        app a;
        ferrymq_txn_producer *tp;
        vis_wait w = {"TxnCrash", 2};
        app_init(&a, FERRYMQ_TXN_COMMIT, FERRYMQ_TXN_COMMIT);
        tp = txn_producer(&a, "pg-crash");
        assert_true(fmt_wait_until(visible_reaches, &w, 10000));
        assert_int_equal(app_checks(&a), 1);
        assert_string_equal(a.checked_body, "checked-after-restart");
        assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
    }
    /* and after another crash nothing comes back: no second delivery, no new check */
    fmt_daemon_stop(&d, SIGKILL, 5000);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    {
        app a;
        ferrymq_txn_producer *tp;
        ferrymq_send_result res;
        vis_wait w = {"TxnCrash", 3};
        app_init(&a, FERRYMQ_TXN_UNKNOWN, FERRYMQ_TXN_COMMIT);
        tp = txn_producer(&a, "pg-crash");
        assert_int_equal(txn_send(tp, &a, "TxnCrash", "after-second-crash", NULL, NULL, &res),
                         FERRYMQ_OK);
        assert_true(fmt_wait_until(visible_reaches, &w, 10000));
        assert_int_equal(app_checks(&a), 1); /* only the new one */
        assert_string_equal(a.checked_body, "after-second-crash");
        assert_int_equal(ferrymq_txn_producer_close(tp, 2000), FERRYMQ_OK);
    }
    assert_int_equal(visible("TxnCrash", NULL, NULL, NULL, 0), 3);
}

static int
run_cli(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    const char *bin = getenv("FM_FERRYMQ_CLI");
    FILE *p;
    size_t n;
    int st;
    snprintf(cmd, sizeof(cmd), "%s -n %s %s 2>&1", bin ? bin : "build/ferrymq", ns, args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_txn_cli_produce_transaction(void **state)
{
    char out[4096];
    (void)state;
    assert_int_equal(run_cli("produce -t TxnCli --transaction commit c1 c2", out, sizeof(out)), 0);
    assert_non_null(strstr(out, " commit\n"));
    assert_int_equal(run_cli("produce -t TxnCli --transaction rollback r1", out, sizeof(out)), 0);
    assert_non_null(strstr(out, " rollback\n"));
    assert_int_equal(run_cli("produce -t TxnCli --transaction unknown --check commit "
                             "--check-wait 10000 -g pg-cli u1",
                             out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "answered commit"));
    assert_int_equal(visible("TxnCli", NULL, NULL, NULL, 0), 3);
    assert_int_equal(run_cli("produce -t TxnCli --transaction maybe x", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "use commit, rollback or unknown"));
    /* produce's option rules hold with --transaction too, and its options need it */
    assert_int_equal(run_cli("produce -t TxnCli --transaction commit --bogus x", out, sizeof(out)),
                     2);
    assert_int_equal(run_cli("produce -t TxnCli --check commit x", out, sizeof(out)), 2);
    assert_int_equal(run_cli("produce -t TxnCli -g pg x", out, sizeof(out)), 2);
    assert_int_equal(visible("TxnCli", NULL, NULL, NULL, 0), 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_txn_commit_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_rollback_never_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_unknown_resolved_by_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_producer_gone_discarded_after_max_checks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_txn_half_never_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_store_never_indexes_prepared_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_txn_end_validates_its_half, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_kill9_between_half_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_cli_produce_transaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
