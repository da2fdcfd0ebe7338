/*
 * Broker-side filters against a real ferrymqd: a mixed stream of messages (local and
 * replicated, regions, amounts, tags) pulled through libferrymq with SQL92 and tag
 * subscriptions must yield exactly the matching messages; non-matching stretches advance the
 * offset (NO_MATCHED_MSG); a parked pull is answered when a message arrives, matching or not;
 * subscriptions registered by HEART_BEAT serve pulls that carry none; syntax errors come back
 * as SUBSCRIPTION_PARSE_FAILED naming the position; enablePropertyFilter=false refuses SQL92.
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

#include <ferrymq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_MSGS 300
#define TOPIC "FilterMix"
#define N_QUEUES 4

static fmt_daemon d;
static char ns[64];

/* The stream: message i's properties. */
static const char *
region_of(int i)
{
    return i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : NULL;
}

static void
amount_of(int i, char *buf, size_t cap)
{
    if (i % 10 == 9) {
        snprintf(buf, cap, "12.5"); /* not an Integer: RocketMQ's 'amount > 100' throws */
    } else {
        snprintf(buf, cap, "%d", (i * 37) % 250);
    }
}

static const char *
src_region_of(int i)
{
    return i % 4 == 0 ? "remote-x" : NULL;
}

static const char *
tag_of(int i)
{
    return i % 5 == 0 ? NULL : i % 2 ? "TagA" : "TagB";
}

static ferrymq_conf *
conf_for(const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    char err[256];
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)), FERRYMQ_OK);
    if (group != NULL) {
        assert_int_equal(ferrymq_conf_set(conf, "consumerGroup", group, err, sizeof(err)),
                         FERRYMQ_OK);
    }
    return conf;
}

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    ferrymq_conf *conf;
    ferrymq_admin *a;
    ferrymq_producer *p;
    char err[256];
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    conf = conf_for(NULL);
    if (ferrymq_admin_new(conf, &a, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_create_topic(a, TOPIC, N_QUEUES, err, sizeof(err)) != FERRYMQ_OK ||
        ferrymq_admin_create_topic(a, "FilterPark", 1, err, sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    ferrymq_admin_free(a);
    if (ferrymq_producer_new(conf, &p, err, sizeof(err)) != FERRYMQ_OK) {
        return -1;
    }
    ferrymq_conf_free(conf);
    for (int i = 0; i < N_MSGS; i++) {
        char body[32], amount[16];
        ferrymq_send_result res;
        ferrymq_msg *m;
        snprintf(body, sizeof(body), "m-%d", i);
        amount_of(i, amount, sizeof(amount));
        m = ferrymq_msg_new(TOPIC, body, strlen(body));
        if (region_of(i)) {
            ferrymq_msg_set_property(m, "region", region_of(i));
        }
        ferrymq_msg_set_property(m, "amount", amount);
        if (src_region_of(i)) {
            ferrymq_msg_set_property(m, "FERRY_SRC_REGION", src_region_of(i));
        }
        if (tag_of(i)) {
            ferrymq_msg_set_tags(m, tag_of(i));
        }
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        if (ferrymq_producer_send(p, m, &res, err, sizeof(err)) != FERRYMQ_OK) {
            fprintf(stderr, "setup send: %s\n", err);
            return -1;
        }
        ferrymq_msg_free(m);
    }
    ferrymq_producer_close(p, 5000);
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

typedef int (*pred_fn)(int i);

static int
pred_local(int i)
{
    return src_region_of(i) == NULL;
}

static int
pred_region_amount(int i)
{
    char amount[16];
    amount_of(i, amount, sizeof(amount));
    return region_of(i) && strcmp(region_of(i), "b") == 0 && strchr(amount, '.') == NULL &&
           atoi(amount) > 100;
}

static int
pred_tags(int i)
{
    return tag_of(i) != NULL;
}

static int
pred_tag_a(int i)
{
    return tag_of(i) && strcmp(tag_of(i), "TagA") == 0;
}

static int
pred_none(int i)
{
    (void)i;
    return 0;
}

/* Pull every queue from 0 to its end with expr; check the delivered set against pred. */
static void
pull_all_and_check(const char *group, const char *expr, const char *type, pred_fn pred,
                   int *no_matched)
{
    ferrymq_conf *conf = conf_for(group);
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    char err[256];
    char seen[N_MSGS] = {0};
    int got = 0, want = 0;
    assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_consumer_queues(c, TOPIC, &qs, &nq, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(nq, N_QUEUES);
    *no_matched = 0;
    for (size_t q = 0; q < nq; q++) {
        int64_t off = 0;
        for (int rounds = 0; rounds < 1000; rounds++) {
            ferrymq_pull_result r;
            memset(&r, 0, sizeof(r));
            r.struct_size = sizeof(r);
            int rc = ferrymq_consumer_pull(c, &qs[q], off, expr, type, 16, 0, &r, err, sizeof(err));
            if (rc != FERRYMQ_OK) {
                fail_msg("pull [%s]: %s", expr, err);
            }
            if (r.status == FERRYMQ_PULL_NO_NEW_MSG) {
                ferrymq_pull_result_clear(&r);
                break;
            }
            if (r.status == FERRYMQ_PULL_NO_MATCHED_MSG) {
                (*no_matched)++;
                assert_true(r.next_offset > off);
            }
            assert_int_not_equal(r.status, FERRYMQ_PULL_OFFSET_ILLEGAL);
            for (size_t k = 0; k < r.n_msgs; k++) {
                size_t len;
                const char *body = ferrymq_msg_body(r.msgs[k], &len);
                char num[16] = {0};
                assert_true(len > 2 && len - 2 < sizeof(num));
                memcpy(num, body + 2, len - 2); /* bodies are not NUL-terminated */
                int i = atoi(num);
                assert_true(i >= 0 && i < N_MSGS);
                if (seen[i]) {
                    fail_msg("[%s] delivered m-%d twice", expr, i);
                }
                if (!pred(i)) {
                    fail_msg("[%s] delivered m-%d, which does not match", expr, i);
                }
                seen[i] = 1;
                got++;
            }
            off = r.next_offset;
            ferrymq_pull_result_clear(&r);
        }
    }
    for (int i = 0; i < N_MSGS; i++) {
        want += pred(i);
        if (pred(i) && !seen[i]) {
            fail_msg("[%s] never delivered m-%d", expr, i);
        }
    }
    assert_int_equal(got, want);
    free(qs);
    ferrymq_consumer_close(c);
}

static void
test_filter_local_only(void **state)
{
    int nm;
    (void)state;
    pull_all_and_check("g-local", "FERRY_SRC_REGION IS NULL", "SQL92", pred_local, &nm);
}

static void
test_filter_region_and_amount(void **state)
{
    int nm;
    (void)state;
    pull_all_and_check("g-amount", "region = 'b' AND amount > 100", "SQL92", pred_region_amount,
                       &nm);
    /* 'amount' values like 12.5 do not convert to an Integer: logged, message skipped */
    assert_true(fmt_log_count(&d, "FM-FILTER-EVAL-ERROR") > 0);
}

static void
test_filter_tags(void **state)
{
    int nm;
    (void)state;
    pull_all_and_check("g-tags", "TagA || TagB", "TAG", pred_tags, &nm);
    pull_all_and_check("g-taga", " TagA ", NULL, pred_tag_a, &nm);
}

static void
test_filter_nothing_matches_advances_offsets(void **state)
{
    int nm;
    (void)state;
    pull_all_and_check("g-none", "region = 'nowhere'", "SQL92", pred_none, &nm);
    /* each queue: one NO_MATCHED_MSG that skips its whole backlog, then NO_NEW_MSG */
    assert_int_equal(nm, N_QUEUES);
}

static void
test_filter_syntax_error_names_position(void **state)
{
    ferrymq_conf *conf = conf_for("g-bad");
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    ferrymq_pull_result r;
    char err[256];
    (void)state;
    assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_consumer_queues(c, TOPIC, &qs, &nq, err, sizeof(err)), FERRYMQ_OK);
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    assert_int_equal(
        ferrymq_consumer_pull(c, &qs[0], 0, "region = = 'b'", "SQL92", 16, 0, &r, err, sizeof(err)),
        FERRYMQ_EBROKER);
    assert_non_null(strstr(err, "code 23"));
    assert_non_null(strstr(err, "line 1, column 10"));
    assert_int_equal(
        ferrymq_consumer_pull(c, &qs[0], 0, "a = 1", "XPATH", 16, 0, &r, err, sizeof(err)),
        FERRYMQ_EBROKER);
    assert_non_null(strstr(err, "code 23"));
    /* the broker keeps serving the same connection */
    assert_int_equal(
        ferrymq_consumer_pull(c, &qs[0], 0, "region = 'b'", "SQL92", 16, 0, &r, err, sizeof(err)),
        FERRYMQ_OK);
    assert_int_equal(r.status, FERRYMQ_PULL_FOUND);
    ferrymq_pull_result_clear(&r);
    free(qs);
    ferrymq_consumer_close(c);
    assert_true(fmt_log_count(&d, "FM-FILTER-PARSE-FAILED") > 0);
}

/* Send a raw PULL_MESSAGE on FilterPark queue 0 without waiting: the opaque, or -1. */
static int
raw_pull_send(int fd, const char *group, const char *sysflag, const char *offset, const char *sub,
              const char *type, const char *version, const char *suspend)
{
    const char *kv[] = {"consumerGroup",
                        group,
                        "topic",
                        "FilterPark",
                        "queueId",
                        "0",
                        "queueOffset",
                        offset,
                        "maxMsgNums",
                        "16",
                        "sysFlag",
                        sysflag,
                        "commitOffset",
                        "0",
                        "suspendTimeoutMillis",
                        suspend,
                        "subVersion",
                        version,
                        "expressionType",
                        type,
                        sub ? "subscription" : NULL,
                        sub,
                        NULL};
    return fmt_send(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0));
}

/* As raw_pull_send, then wait for the answer. 0 or -1. */
static int
raw_pull(int fd, const char *group, const char *sysflag, const char *offset, const char *sub,
         const char *type, const char *version, const char *suspend, fmt_resp *r)
{
    if (raw_pull_send(fd, group, sysflag, offset, sub, type, version, suspend) < 0) {
        return -1;
    }
    return fmt_recv(fd, r);
}

static int
send_park(const char *region)
{
    ferrymq_conf *conf = conf_for(NULL);
    ferrymq_producer *p;
    ferrymq_msg *m = ferrymq_msg_new("FilterPark", "x", 1);
    ferrymq_send_result res;
    char err[256];
    int rc;
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    ferrymq_msg_set_property(m, "region", region);
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    rc = ferrymq_producer_send(p, m, &res, err, sizeof(err));
    ferrymq_msg_free(m);
    ferrymq_producer_close(p, 5000);
    return rc;
}

static void
test_filter_parked_pull_woken_by_append(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    int64_t t0;
    (void)state;
    assert_true(fd >= 0);
    /* queue empty: the pull parks. A message its filter does not take leaves it parked (as
     * PullRequestHoldService wakes a held pull only for a match); the next, which matches,
     * is the answer, alone, with the offset past both */
    assert_true(raw_pull_send(fd, "g-park", "6", "0", "region = 'b'", "SQL92", "1", "20000") >= 0);
    t0 = fmt_now_ms();
    assert_int_equal(send_park("a"), FERRYMQ_OK);
    assert_int_equal(send_park("b"), FERRYMQ_OK);
    assert_int_equal(fmt_recv(fd, &r), 0);
    assert_true(fmt_now_ms() - t0 < 10000);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "2");
    assert_int_equal(fmt_count_records(r.cmd.body), 1);
    fmt_resp_free(&r);
    close(fd);
}

static void
test_filter_held_pull_answers_misses_at_deadline(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    int64_t t0;
    (void)state;
    assert_true(fd >= 0);
    /* parked at the end (2) for 1 s; only a miss arrives: the answer comes at the deadline,
     * as a first look answers a miss (PULL_RETRY_IMMEDIATELY past it), not at the append */
    t0 = fmt_now_ms();
    assert_true(raw_pull_send(fd, "g-park", "6", "2", "region = 'b'", "SQL92", "1", "1000") >= 0);
    assert_int_equal(send_park("a"), FERRYMQ_OK);
    assert_int_equal(fmt_recv(fd, &r), 0);
    assert_true(fmt_now_ms() - t0 >= 900);
    assert_int_equal(r.cmd.code, FM_RESP_PULL_RETRY_IMMEDIATELY);
    assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "3");
    fmt_resp_free(&r);
    close(fd);
}

static int
heartbeat(int fd, const char *group, const char *sub, const char *type, long version)
{
    char body[1024];
    fmt_resp r = {0};
    const char *kv[] = {NULL};
    int code;
    snprintf(body, sizeof(body),
             "{\"clientID\":\"it-filter@1\",\"producerDataSet\":[],\"consumerDataSet\":[{"
             "\"groupName\":\"%s\",\"consumeType\":\"CONSUME_PASSIVELY\",\"messageModel\":"
             "\"CLUSTERING\",\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\","
             "\"subscriptionDataSet\":[{\"classFilterMode\":false,\"topic\":\"FilterPark\","
             "\"subString\":\"%s\",\"tagsSet\":[],\"codeSet\":[],\"subVersion\":%ld,"
             "\"expressionType\":\"%s\"}],\"unitMode\":false}]}",
             group, sub, version, type);
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_HEART_BEAT, kv, fm_slice_cstr(body), &r) != 0) {
        return -1;
    }
    code = r.cmd.code;
    fmt_resp_free(&r);
    return code;
}

static void
test_filter_subscription_from_heartbeat(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    (void)state;
    assert_true(fd >= 0);
    /* FilterPark holds region=a at 0 and region=b at 1 (previous test) */
    assert_int_equal(heartbeat(fd, "g-hb", "region = 'b'", "SQL92", 5), FM_RESP_SUCCESS);
    /* a pull without its own subscription (sysFlag without 0x4) uses the registered one */
    assert_int_equal(raw_pull(fd, "g-hb", "0", "0", NULL, "SQL92", "5", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "2");
    fmt_resp_free(&r);
    /* a pull with its own expression under the same group does not replace the heartbeat's */
    assert_int_equal(raw_pull(fd, "g-hb", "4", "0", "*", "TAG", "5", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    fmt_resp_free(&r);
    assert_int_equal(raw_pull(fd, "g-hb", "0", "0", NULL, "SQL92", "5", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_int_equal(fmt_count_records(r.cmd.body), 1); /* only region=b, not both */
    fmt_resp_free(&r);
    /* a newer version than the broker has: not latest */
    assert_int_equal(raw_pull(fd, "g-hb", "0", "0", NULL, "SQL92", "6", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUBSCRIPTION_NOT_LATEST);
    fmt_resp_free(&r);
    /* a group nobody registered */
    assert_int_equal(raw_pull(fd, "g-unknown", "0", "0", NULL, "SQL92", "0", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUBSCRIPTION_NOT_EXIST);
    assert_non_null(strstr(fmt_remark(&r), "group info not exist"));
    fmt_resp_free(&r);
    /* a heartbeat with an expression that does not compile: the pull says why */
    assert_int_equal(heartbeat(fd, "g-hb-bad", "region = ", "SQL92", 7), FM_RESP_SUCCESS);
    assert_int_equal(raw_pull(fd, "g-hb-bad", "0", "0", NULL, "SQL92", "7", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_FILTER_DATA_NOT_EXIST);
    assert_non_null(strstr(fmt_remark(&r), "column"));
    fmt_resp_free(&r);
    /* a heartbeat with an expression type the broker does not know */
    assert_int_equal(heartbeat(fd, "g-hb-x", "a = 1", "XPATH", 1), FM_RESP_SUCCESS);
    assert_int_equal(raw_pull(fd, "g-hb-x", "0", "0", NULL, "SQL92", "1", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_FILTER_DATA_NOT_EXIST);
    assert_non_null(strstr(fmt_remark(&r), "XPATH"));
    fmt_resp_free(&r);
    /* a newer heartbeat replaces the subscription */
    assert_int_equal(heartbeat(fd, "g-hb", "region = 'a'", "SQL92", 8), FM_RESP_SUCCESS);
    assert_int_equal(raw_pull(fd, "g-hb", "0", "1", NULL, "SQL92", "8", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_PULL_RETRY_IMMEDIATELY); /* offset 1 is region=b */
    fmt_resp_free(&r);
    assert_int_equal(raw_pull(fd, "g-hb", "0", "0", NULL, "SQL92", "8", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    fmt_resp_free(&r);
    close(fd);
}

static void
test_filter_property_filter_disabled(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--enablePropertyFilter=false", NULL};
    fmt_daemon d2;
    fmt_resp r = {0};
    int fd;
    (void)state;
    memset(&d2, 0, sizeof(d2));
    assert_int_equal(fmt_daemon_start(&d2, extra, 10000), 0);
    fd = fmt_connect(d2.remoting_port, 5000);
    {
        const char *kv[] = {"topic",
                            "FilterPark",
                            "defaultTopic",
                            "TBW102",
                            "readQueueNums",
                            "1",
                            "writeQueueNums",
                            "1",
                            "perm",
                            "6",
                            "topicFilterType",
                            "SINGLE_TAG",
                            NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        fmt_resp_free(&r);
    }
    assert_int_equal(raw_pull(fd, "g", "4", "0", "a = 1", "SQL92", "0", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(fmt_remark(&r), "does not support consumer to filter message by SQL92"));
    fmt_resp_free(&r);
    /* tags still work */
    assert_int_equal(raw_pull(fd, "g", "4", "0", "TagA", "TAG", "0", "0", &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_PULL_NOT_FOUND);
    fmt_resp_free(&r);
    close(fd);
    fmt_daemon_stop(&d2, SIGTERM, 10000);
    fmt_daemon_cleanup(&d2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_local_only),
        cmocka_unit_test(test_filter_region_and_amount),
        cmocka_unit_test(test_filter_tags),
        cmocka_unit_test(test_filter_nothing_matches_advances_offsets),
        cmocka_unit_test(test_filter_syntax_error_names_position),
        cmocka_unit_test(test_filter_parked_pull_woken_by_append),
        cmocka_unit_test(test_filter_subscription_from_heartbeat),
        cmocka_unit_test(test_filter_held_pull_answers_misses_at_deadline),
        cmocka_unit_test(test_filter_property_filter_disabled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
