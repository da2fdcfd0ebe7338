/*
 * Consumer groups against a real ferrymqd: members are told when the group changes
 * (NOTIFY_CONSUMER_IDS_CHANGED), and INVOKE_BROKER_TO_RESET_OFFSET moves a group's offsets to a
 * timestamp (or the queue's end or start) with a consumer online: the offsets are persisted at
 * once (they survive kill -9), online members get RESET_CONSUMER_CLIENT_OFFSET, stale commits
 * are ignored until the queue's next pull, which is sent to the new offset (PULL_OFFSET_MOVED),
 * from where exactly the messages stored at or after the timestamp come back.
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

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fmt_daemon d;

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    return fmt_daemon_start(&d, extra, 10000);
}

static int
teardown(void **state)
{
    (void)state;
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

static int
heartbeat(int fd, const char *client_id, const char *group)
{
    char body[1024];
    fmt_resp r = {0};
    const char *kv[] = {NULL};
    int code = -1;
    snprintf(body, sizeof(body),
             "{\"clientID\":\"%s\",\"producerDataSet\":[],\"consumerDataSet\":[{\"groupName\":"
             "\"%s\",\"consumeType\":\"CONSUME_PASSIVELY\",\"messageModel\":\"CLUSTERING\","
             "\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"subscriptionDataSet\":[{"
             "\"topic\":\"GroupT\",\"subString\":\"*\",\"subVersion\":1,\"expressionType\":"
             "\"TAG\"}],\"unitMode\":false}]}",
             client_id, group);
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_HEART_BEAT, kv, fm_slice_cstr(body), &r) == 0) {
        code = r.cmd.code;
    }
    fmt_resp_free(&r);
    return code;
}

static int
commit(int fd, int64_t offset, fmt_resp *r)
{
    char off[24];
    snprintf(off, sizeof(off), "%" PRId64, offset);
    const char *kv[] = {"consumerGroup", "gr", "topic", "GroupT", "queueId", "0",
                        "commitOffset",  off,  NULL};
    return fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_CONSUMER_OFFSET, kv,
                       fm_slice_make(NULL, 0), r);
}

static int64_t
committed(int fd)
{
    fmt_resp r = {0};
    int64_t v = -1;
    const char *kv[] = {"consumerGroup", "gr", "topic", "GroupT", "queueId", "0", NULL};
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_CONSUMER_OFFSET, kv, fm_slice_make(NULL, 0),
                    &r) == 0 &&
        r.cmd.code == FM_RESP_SUCCESS) {
        v = atoll(fmt_ext(&r, "offset"));
    }
    fmt_resp_free(&r);
    return v;
}

static int
pull(int fd, int64_t offset, int64_t commit_off, fmt_resp *r)
{
    char off[24], co[24];
    snprintf(off, sizeof(off), "%" PRId64, offset);
    snprintf(co, sizeof(co), "%" PRId64, commit_off);
    const char *kv[] = {"consumerGroup",
                        "gr",
                        "topic",
                        "GroupT",
                        "queueId",
                        "0",
                        "queueOffset",
                        off,
                        "maxMsgNums",
                        "32",
                        "sysFlag",
                        commit_off >= 0 ? "5" : "4",
                        "commitOffset",
                        co,
                        "suspendTimeoutMillis",
                        "0",
                        "subVersion",
                        "1",
                        "subscription",
                        "*",
                        NULL};
    return fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), r);
}

static int
reset(int fd, int64_t ts, fmt_resp *r)
{
    char t[24];
    snprintf(t, sizeof(t), "%" PRId64, ts);
    const char *kv[] = {"topic", "GroupT", "group", "gr", "timestamp", t, "isForce", "true", NULL};
    return fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_INVOKE_BROKER_TO_RESET_OFFSET, kv,
                       fm_slice_make(NULL, 0), r);
}

typedef struct after_ts {
    int64_t ts;
} after_ts;

static int
wall_passed(void *ud)
{
    return fmt_wall_ms() > ((after_ts *)ud)->ts;
}

static void
test_group_notify_and_reset_by_time(void **state)
{
    int admin = fmt_connect(d.remoting_port, 5000);
    int member = fmt_connect(d.remoting_port, 5000);
    int other = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    int64_t mid = 0, stored[10];
    (void)state;
    assert_true(admin >= 0 && member >= 0 && other >= 0);

    /* ten messages, the timestamp taken strictly between the 5th and the 6th store times */
    for (int i = 0; i < 10; i++) {
        char body[16];
        snprintf(body, sizeof(body), "g-%d", i);
        assert_int_equal(fmt_send_msg(admin, "GroupT", 0, body, NULL, NULL, NULL, NULL, 0),
                         FM_RESP_SUCCESS);
        if (i == 4) {
            assert_int_equal(pull(admin, 4, -1, &r), 0);
            fm_msg_view m;
            assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &m, NULL), FM_OK);
            after_ts a = {m.store_timestamp};
            fmt_resp_free(&r);
            assert_int_equal(fmt_wait_until(wall_passed, &a, 2000), 1);
            mid = fmt_wall_ms();
            a.ts = mid;
            assert_int_equal(fmt_wait_until(wall_passed, &a, 2000), 1);
        }
    }
    assert_int_equal(pull(admin, 0, -1, &r), 0);
    {
        size_t pos = 0;
        for (int i = 0; i < 10; i++) {
            fm_msg_view m;
            assert_int_equal(fm_msg_decode(r.cmd.body.ptr + pos, r.cmd.body.len - pos, &m, NULL),
                             FM_OK);
            stored[i] = m.store_timestamp;
            pos += m.total_size;
        }
    }
    fmt_resp_free(&r);
    assert_true(stored[4] < mid && stored[5] >= mid);

    /* a member online; a second one joins: the first is told */
    assert_int_equal(heartbeat(member, "member-1@1", "gr"), FM_RESP_SUCCESS);
    assert_int_equal(heartbeat(other, "member-2@2", "gr"), FM_RESP_SUCCESS);
    assert_int_equal(fmt_recv(member, &r), 0);
    assert_int_equal(r.cmd.code, FM_REQ_NOTIFY_CONSUMER_IDS_CHANGED);
    assert_true(r.cmd.flag & 0x2); /* oneway */
    assert_string_equal(fmt_ext(&r, "consumerGroup"), "gr");
    fmt_resp_free(&r);
    /* ... and told again when it leaves */
    close(other);
    assert_int_equal(fmt_recv(member, &r), 0);
    assert_int_equal(r.cmd.code, FM_REQ_NOTIFY_CONSUMER_IDS_CHANGED);
    fmt_resp_free(&r);

    /* the group consumed everything */
    assert_int_equal(commit(admin, 10, &r), 0);
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 10);

    /* the member long-polls at the end of the queue */
    {
        const char *kv[] = {"consumerGroup",
                            "gr",
                            "topic",
                            "GroupT",
                            "queueId",
                            "0",
                            "queueOffset",
                            "10",
                            "maxMsgNums",
                            "32",
                            "sysFlag",
                            "6",
                            "commitOffset",
                            "0",
                            "suspendTimeoutMillis",
                            "30000",
                            "subVersion",
                            "1",
                            "subscription",
                            "*",
                            NULL};
        assert_true(fmt_send(member, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv,
                             fm_slice_make(NULL, 0)) >= 0);
    }
    /* reset to mid: the answer lists the new offsets in RocketMQ's (fastjson) form */
    assert_int_equal(reset(admin, mid, &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    {
        char body[512];
        fm_slice_to_cstr(r.cmd.body, body, sizeof(body));
        assert_non_null(strstr(body, "{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":"
                                     "\"GroupT\"}:5"));
    }
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 5);
    /* the member gets two frames, in either order (its pull may reach the broker before or
     * after the reset): the answer to its pull, PULL_OFFSET_MOVED to 5 (at once when it was
     * parked), and RESET_CONSUMER_CLIENT_OFFSET */
    {
        int moved = 0, told = 0;
        for (int k = 0; k < 2; k++) {
            assert_int_equal(fmt_recv(member, &r), 0);
            if (r.cmd.flag & 0x1) {
                assert_int_equal(r.cmd.code, FM_RESP_PULL_OFFSET_MOVED);
                assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "5");
                moved++;
            } else {
                assert_int_equal(r.cmd.code, FM_REQ_RESET_CONSUMER_CLIENT_OFFSET);
                assert_string_equal(fmt_ext(&r, "group"), "gr");
                assert_string_equal(fmt_ext(&r, "topic"), "GroupT");
                told++;
            }
            fmt_resp_free(&r);
        }
        assert_int_equal(moved, 1);
        assert_int_equal(told, 1);
    }

    /* a consumer that ignores that request commits its old position: ignored */
    assert_int_equal(commit(admin, 10, &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_non_null(strstr(fmt_remark(&r), "previously reset"));
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 5);
    /* its next pull (at 10, committing 10) is sent back to 5, and the commit is ignored */
    assert_int_equal(pull(admin, 10, 10, &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_PULL_OFFSET_MOVED);
    assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "5");
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 5);
    /* from 5: exactly the messages stored at or after mid */
    assert_int_equal(pull(admin, 5, 5, &r), 0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    {
        size_t pos = 0;
        int n = 0;
        while (pos < r.cmd.body.len) {
            fm_msg_view m;
            assert_int_equal(fm_msg_decode(r.cmd.body.ptr + pos, r.cmd.body.len - pos, &m, NULL),
                             FM_OK);
            assert_true(m.store_timestamp >= mid);
            pos += m.total_size;
            n++;
        }
        assert_int_equal(n, 5);
    }
    fmt_resp_free(&r);
    /* commits count again */
    assert_int_equal(commit(admin, 10, &r), 0);
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 10);

    /* to the start (timestamp 0) and to the end (-1) */
    assert_int_equal(reset(admin, 0, &r), 0);
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 0);
    assert_int_equal(reset(admin, -1, &r), 0);
    fmt_resp_free(&r);
    assert_int_equal(committed(admin), 10);

    /* persisted at once: survives kill -9 */
    assert_int_equal(reset(admin, mid, &r), 0);
    fmt_resp_free(&r);
    close(admin);
    close(member);
    fmt_daemon_stop(&d, SIGKILL, 10000);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    admin = fmt_connect(d.remoting_port, 5000);
    assert_int_equal(committed(admin), 5);
    close(admin);
}

/* LOCK/UNLOCK_BATCH_MQ with queues of GroupT on broker-a; returns the locked queue ids as a
 * bit mask, or -code on an error reply. */
static int
lock_call(int fd, int code, const char *client, const char *qids)
{
    char body[1024];
    size_t n;
    fmt_resp r = {0};
    const char *kv[] = {NULL};
    int mask = 0;
    n = (size_t)snprintf(body, sizeof(body),
                         "{\"consumerGroup\":\"gl\",\"clientId\":\"%s\",\"onlyThisBroker\":false,"
                         "\"mqSet\":[",
                         client);
    for (const char *q = qids; *q; q++) {
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"topic\":\"GroupT\",\"brokerName\":\"broker-a\",\"queueId\":%c}",
                              q == qids ? "" : ",", *q);
    }
    snprintf(body + n, sizeof(body) - n, "]}");
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, code, kv, fm_slice_cstr(body), &r), 0);
    if (r.cmd.code != FM_RESP_SUCCESS) {
        mask = -r.cmd.code;
    } else if (code == FM_REQ_LOCK_BATCH_MQ) {
        char text[1024];
        fm_slice_to_cstr(r.cmd.body, text, sizeof(text));
        for (int q = 0; q < 8; q++) {
            char needle[32];
            snprintf(needle, sizeof(needle), "\"queueId\":%d", q);
            if (strstr(text, needle)) {
                mask |= 1 << q;
            }
        }
    }
    fmt_resp_free(&r);
    return mask;
}

static void
test_group_queue_locks(void **state)
{
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    const char *kv[] = {NULL};
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(lock_call(fd, FM_REQ_LOCK_BATCH_MQ, "A", "01"), 0x3);
    /* B gets only what A does not hold */
    assert_int_equal(lock_call(fd, FM_REQ_LOCK_BATCH_MQ, "B", "12"), 0x4);
    /* A refreshes its locks */
    assert_int_equal(lock_call(fd, FM_REQ_LOCK_BATCH_MQ, "A", "01"), 0x3);
    /* B cannot unlock A's queue; A can */
    assert_int_equal(lock_call(fd, FM_REQ_UNLOCK_BATCH_MQ, "B", "1"), 0);
    assert_int_equal(lock_call(fd, FM_REQ_LOCK_BATCH_MQ, "B", "1"), 0);
    assert_int_equal(lock_call(fd, FM_REQ_UNLOCK_BATCH_MQ, "A", "1"), 0);
    assert_int_equal(lock_call(fd, FM_REQ_LOCK_BATCH_MQ, "B", "1"), 0x2);
    /* reset and stats requests that cannot be served */
    {
        const char *no_topic[] = {"topic", "NoSuchTopic", "group", "gl", "timestamp", "0", NULL};
        const char *no_ts[] = {"topic", "GroupT", "group", "gl", NULL};
        const char *no_group[] = {"topic", "GroupT", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_INVOKE_BROKER_TO_RESET_OFFSET,
                                     no_topic, fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_non_null(strstr(fmt_remark(&r), "no topic in this broker"));
        fmt_resp_free(&r);
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_INVOKE_BROKER_TO_RESET_OFFSET,
                                     no_ts, fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_non_null(strstr(fmt_remark(&r), "timestamp"));
        fmt_resp_free(&r);
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUME_STATS, no_group,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        fmt_resp_free(&r);
    }
    /* a body that is not a lock request */
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_LOCK_BATCH_MQ, kv,
                                 fm_slice_cstr("{\"mqSet\":5}"), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    fmt_resp_free(&r);
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_queue_locks),
        cmocka_unit_test(test_group_notify_and_reset_by_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
