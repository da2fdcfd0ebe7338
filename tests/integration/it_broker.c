/*
 * Broker requests against a real ferrymqd over loopback: send (JSON and binary headers,
 * batch), pull, long polling, offsets, timestamp search, view by id, heartbeat and consumer
 * list, topic creation, runtime info, routes from the embedded name server.
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
#include "proto/props.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fmt_daemon d;

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--mappedFileSizeCommitLog=64k",
                           "--logDebug=namesrv", NULL};
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
create_topic(int fd, const char *topic, int queues)
{
    char q[16];
    fmt_resp r = {0};
    int code;
    snprintf(q, sizeof(q), "%d", queues);
    const char *kv[] = {
        "topic", topic, "defaultTopic", "TBW102", "readQueueNums", q, "writeQueueNums", q, "perm",
        "6",     NULL};
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    code = r.cmd.code;
    fmt_resp_free(&r);
    return code;
}

/* Pull from topic/qid at offset; returns the response code and decodes up to max bodies. */
static int
pull(int fd, int serialize, const char *topic, int qid, int64_t offset, const char *sub,
     int64_t suspend_ms, fmt_resp *r)
{
    char qs[16], os[24], ss[24];
    snprintf(qs, sizeof(qs), "%d", qid);
    snprintf(os, sizeof(os), "%lld", (long long)offset);
    snprintf(ss, sizeof(ss), "%lld", (long long)suspend_ms);
    const char *kv[] = {"consumerGroup",
                        "it-group",
                        "topic",
                        topic,
                        "queueId",
                        qs,
                        "queueOffset",
                        os,
                        "maxMsgNums",
                        "32",
                        "sysFlag",
                        suspend_ms ? "6" : "4",
                        "commitOffset",
                        "0",
                        "suspendTimeoutMillis",
                        ss,
                        "subscription",
                        sub,
                        "subVersion",
                        "0",
                        "expressionType",
                        "TAG",
                        NULL};
    if (fmt_request(fd, serialize, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), r) != 0) {
        return -1;
    }
    return r->cmd.code;
}

static int
count_records(const fmt_resp *r, const char *want_topic)
{
    fm_slice b = r->cmd.body;
    int n = 0;
    while (b.len > 0) {
        fm_msg_view m;
        assert_int_equal(fm_msg_decode(b.ptr, b.len, &m, NULL), FM_OK);
        assert_true(fm_msg_verify_crc(&m));
        assert_true(fm_slice_eq_cstr(m.topic, want_topic));
        b.ptr += m.total_size;
        b.len -= m.total_size;
        n++;
    }
    return n;
}

static void
test_send_then_pull_returns_stored_records(void **state)
{
    (void)state;
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    int64_t qoff = -1;
    char msgid[64];
    assert_true(fd >= 0);
    assert_int_equal(create_topic(fd, "ItBasic", 4), FM_RESP_SUCCESS);
    for (int i = 0; i < 10; i++) {
        char body[32];
        snprintf(body, sizeof(body), "body-%d", i);
        assert_int_equal(fmt_send_msg(fd, "ItBasic", 1, body, i % 2 ? "TagA" : "TagB", "k1 k2",
                                      &qoff, msgid, sizeof(msgid)),
                         FM_RESP_SUCCESS);
        assert_int_equal(qoff, i);
        assert_int_equal(strlen(msgid), 32);
    }
    assert_int_equal(pull(fd, FM_SERIALIZE_JSON, "ItBasic", 1, 0, "*", 0, &r), FM_RESP_SUCCESS);
    assert_int_equal(count_records(&r, "ItBasic"), 10);
    assert_string_equal(fmt_ext(&r, "nextBeginOffset"), "10");
    assert_string_equal(fmt_ext(&r, "maxOffset"), "10");
    {
        fm_msg_view m;
        assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &m, NULL), FM_OK);
        assert_true(fm_slice_eq_cstr(m.body, "body-0"));
        assert_true(fm_slice_eq_cstr(fm_props_get(m.properties, "TAGS"), "TagB"));
        assert_true(fm_slice_eq_cstr(fm_props_get(m.properties, "KEYS"), "k1 k2"));
        assert_int_equal(m.queue_id, 1);
        assert_true(m.store_timestamp > 0);
    }
    /* tag filter: only TagA (odd bodies) */
    assert_int_equal(pull(fd, FM_SERIALIZE_ROCKETMQ, "ItBasic", 1, 0, "TagA || TagX", 0, &r),
                     FM_RESP_SUCCESS);
    assert_int_equal(count_records(&r, "ItBasic"), 5);
    /* nothing new: PULL_NOT_FOUND at max offset, OFFSET_MOVED past it */
    assert_int_equal(pull(fd, FM_SERIALIZE_JSON, "ItBasic", 1, 10, "*", 0, &r),
                     FM_RESP_PULL_NOT_FOUND);
    assert_int_equal(pull(fd, FM_SERIALIZE_JSON, "ItBasic", 1, 99, "*", 0, &r),
                     FM_RESP_PULL_OFFSET_MOVED);
    /* unknown topic */
    assert_int_equal(pull(fd, FM_SERIALIZE_JSON, "NoSuchTopic", 0, 0, "*", 0, &r),
                     FM_RESP_TOPIC_NOT_EXIST);
    fmt_resp_free(&r);
    close(fd);
}

static void
test_long_poll_woken_by_send(void **state)
{
    (void)state;
    int c1 = fmt_connect(d.remoting_port, 10000);
    int c2 = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    int opaque;
    int64_t t0;
    assert_true(c1 >= 0 && c2 >= 0);
    assert_int_equal(create_topic(c2, "ItPoll", 1), FM_RESP_SUCCESS);
    {
        const char *kv[] = {"consumerGroup",
                            "g",
                            "topic",
                            "ItPoll",
                            "queueId",
                            "0",
                            "queueOffset",
                            "0",
                            "maxMsgNums",
                            "32",
                            "sysFlag",
                            "6",
                            "commitOffset",
                            "0",
                            "suspendTimeoutMillis",
                            "8000",
                            "subscription",
                            "*",
                            "subVersion",
                            "0",
                            NULL};
        opaque = fmt_send(c1, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0));
    }
    assert_true(opaque > 0);
    /* the pull is parked; a send on another connection must wake it */
    assert_int_equal(fmt_send_msg(c2, "ItPoll", 0, "wake", NULL, NULL, NULL, NULL, 0),
                     FM_RESP_SUCCESS);
    t0 = fmt_now_ms();
    assert_int_equal(fmt_recv(c1, &r), 0);
    assert_int_equal(r.cmd.opaque, opaque);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_int_equal(count_records(&r, "ItPoll"), 1);
    /* woken by the message, not by the 8 s suspend timeout */
    assert_true(fmt_now_ms() - t0 < 4000);

    /* a parked pull with nothing arriving is answered PULL_NOT_FOUND at its timeout */
    assert_int_equal(pull(c1, FM_SERIALIZE_JSON, "ItPoll", 0, 1, "*", 300, &r),
                     FM_RESP_PULL_NOT_FOUND);
    fmt_resp_free(&r);
    close(c1);
    close(c2);
}

static void
test_offsets_search_and_view(void **state)
{
    (void)state;
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    char msgid[64], mid2[64];
    int64_t before, qoff;
    uint8_t host[20];
    size_t hl;
    uint64_t phys;
    assert_true(fd >= 0);
    assert_int_equal(create_topic(fd, "ItOffsets", 2), FM_RESP_SUCCESS);
    assert_int_equal(fmt_send_msg(fd, "ItOffsets", 0, "a", NULL, NULL, NULL, NULL, 0), 0);
    before = fmt_wall_ms() + 1;
    /* store times are ms: make sure the next message is stored at a later ms than before */
    while (fmt_wall_ms() <= before) {
    }
    assert_int_equal(fmt_send_msg(fd, "ItOffsets", 0, "b", NULL, NULL, &qoff, msgid, sizeof(msgid)),
                     0);
    assert_int_equal(fmt_send_msg(fd, "ItOffsets", 0, "c", NULL, NULL, NULL, mid2, sizeof(mid2)),
                     0);
    {
        const char *kv[] = {"topic", "ItOffsets", "queueId", "0", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_MAX_OFFSET, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_string_equal(fmt_ext(&r, "offset"), "3");
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_MIN_OFFSET, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_string_equal(fmt_ext(&r, "offset"), "0");
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_GET_EARLIEST_MSG_STORETIME,
                                     kv, fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, 0);
        assert_true(atoll(fmt_ext(&r, "timestamp")) < before);
    }
    {
        char ts[24];
        snprintf(ts, sizeof(ts), "%lld", (long long)before);
        const char *kv[] = {"topic", "ItOffsets", "queueId", "0", "timestamp", ts, NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        /* RocketMQ's nearest message by time: "a" or "b", whichever is closer (it_admin pins
         * the rule down with known store times) */
        assert_true(strcmp(fmt_ext(&r, "offset"), "0") == 0 ||
                    strcmp(fmt_ext(&r, "offset"), "1") == 0);
    }
    {
        const char *up[] = {"consumerGroup", "g1", "topic", "ItOffsets", "queueId", "0",
                            "commitOffset",  "2",  NULL};
        const char *q[] = {"consumerGroup", "g1", "topic", "ItOffsets", "queueId", "0", NULL};
        const char *q2[] = {"consumerGroup", "g1", "topic", "ItOffsets", "queueId", "1", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_CONSUMER_OFFSET, up,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, 0);
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_CONSUMER_OFFSET, q,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_string_equal(fmt_ext(&r, "offset"), "2");
        /* never committed, queue 1 is empty and starts at 0: offset 0 (RocketMQ semantics) */
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_CONSUMER_OFFSET, q2,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_string_equal(fmt_ext(&r, "offset"), "0");
    }
    /* view by the offset message id the send returned */
    assert_int_equal(fm_msgid_parse(fm_slice_cstr(msgid), host, &hl, &phys), FM_OK);
    {
        char off[24];
        fm_msg_view m;
        snprintf(off, sizeof(off), "%llu", (unsigned long long)phys);
        const char *kv[] = {"offset", off, NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_VIEW_MESSAGE_BY_ID, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, 0);
        assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &m, NULL), FM_OK);
        assert_true(fm_slice_eq_cstr(m.body, "b"));
        assert_int_equal(m.queue_offset, qoff);
        snprintf(off, sizeof(off), "%llu", (unsigned long long)phys + 1);
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_VIEW_MESSAGE_BY_ID, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_not_equal(r.cmd.code, 0);
    }
    assert_string_not_equal(msgid, mid2);
    fmt_resp_free(&r);
    close(fd);
}

static void
test_batch_send(void **state)
{
    (void)state;
    int fd = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    fm_buf body = {0}, props = {0};
    assert_true(fd >= 0);
    assert_int_equal(create_topic(fd, "ItBatch", 1), FM_RESP_SUCCESS);
    for (int i = 0; i < 5; i++) {
        char b[32], u[48];
        fm_buf_reset(&props);
        snprintf(u, sizeof(u), "UNIQ%032d", i);
        fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), fm_slice_cstr(u));
        snprintf(b, sizeof(b), "batch-%d", i);
        assert_int_equal(fm_msg_batch_append(&body, 0, fm_slice_cstr(b), fm_buf_slice(&props)),
                         FM_OK);
    }
    {
        const char *kv[] = {"a", "p", "b", "ItBatch", "c", "TBW102", "d", "4",
                            "e", "0", "f", "0",       "g", "1",      "h", "0",
                            "i", "",  "j", "0",       "m", "true",   NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_BATCH_MESSAGE, kv,
                                     fm_buf_slice(&body), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        /* five comma-separated offset ids */
        assert_int_equal(strlen(fmt_ext(&r, "msgId")), 5 * 32 + 4);
        assert_string_equal(fmt_ext(&r, "queueOffset"), "0");
        /* a garbage batch body stores nothing and is refused */
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_BATCH_MESSAGE, kv,
                                     FM_SLICE_LIT("\x00\x00\x00\x10garbage-garbage!"), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_MESSAGE_ILLEGAL);
    }
    assert_int_equal(pull(fd, FM_SERIALIZE_JSON, "ItBatch", 0, 0, "*", 0, &r), FM_RESP_SUCCESS);
    assert_int_equal(count_records(&r, "ItBatch"), 5);
    fm_buf_free(&body);
    fm_buf_free(&props);
    fmt_resp_free(&r);
    close(fd);
}

/* Poll the name server for topic's route until it answers SUCCESS, at most 5 s. */
static int
route_eventually(int ns, const char *topic, fmt_resp *r)
{
    const char *kv[] = {"topic", topic, NULL};
    int64_t deadline = fmt_now_ms() + 5000;
    do {
        if (fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_GET_ROUTEINFO_BY_TOPIC, kv,
                        fm_slice_make(NULL, 0), r) != 0) {
            return 0;
        }
        if (r->cmd.code == FM_RESP_SUCCESS) {
            return 1;
        }
    } while (fmt_now_ms() < deadline);
    return 0;
}

static void
test_heartbeat_consumer_list_and_route(void **state)
{
    (void)state;
    int fd = fmt_connect(d.remoting_port, 5000);
    int ns = fmt_connect(d.namesrv_port, 5000);
    fmt_resp r = {0};
    const char *hb = "{\"clientID\":\"10.0.0.1@it\",\"producerDataSet\":[],\"consumerDataSet\":["
                     "{\"groupName\":\"itg\",\"consumeType\":\"CONSUME_PASSIVELY\","
                     "\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[]}]}";
    const char *q[] = {"consumerGroup", "itg", NULL};
    assert_true(fd >= 0 && ns >= 0);
    assert_int_equal(
        fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_HEART_BEAT, NULL, fm_slice_cstr(hb), &r), 0);
    assert_int_equal(r.cmd.code, 0);
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, q,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, 0);
    {
        cJSON *j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
        cJSON *ids = cJSON_GetObjectItem(j, "consumerIdList");
        assert_int_equal(cJSON_GetArraySize(ids), 1);
        assert_string_equal(cJSON_GetArrayItem(ids, 0)->valuestring, "10.0.0.1@it");
        cJSON_Delete(j);
    }
    /* the heartbeat created the group's retry topic and registered it (registration is
     * asynchronous, as in RocketMQ: wait for it, bounded) */
    assert_true(route_eventually(ns, "%RETRY%itg", &r));
    {
        const char *kv[] = {"clientID", "10.0.0.1@it", "consumerGroup", "itg", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UNREGISTER_CLIENT, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
    }
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, q,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_not_equal(r.cmd.code, 0);
    /* runtime info is a KVTable */
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_BROKER_RUNTIME_INFO, NULL,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, "commitLogMaxOffset", 18));
    /* topic list and cluster info from the name server */
    assert_int_equal(fmt_request(ns, FM_SERIALIZE_ROCKETMQ,
                                 FM_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, NULL,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, "TBW102", 6));
    assert_int_equal(fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_GET_BROKER_CLUSTER_INFO, NULL,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, "DefaultCluster", 14));
    fmt_resp_free(&r);
    close(fd);
    close(ns);
}

static void
test_auto_create_on_send(void **state)
{
    (void)state;
    int fd = fmt_connect(d.remoting_port, 5000);
    int ns = fmt_connect(d.namesrv_port, 5000);
    fmt_resp r = {0};
    const char *topic[] = {"topic", "ItAuto", NULL};
    assert_true(fd >= 0 && ns >= 0);
    assert_int_equal(fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_GET_ROUTEINFO_BY_TOPIC, topic,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_TOPIC_NOT_EXIST);
    assert_int_equal(fmt_send_msg(fd, "ItAuto", 3, "x", NULL, NULL, NULL, NULL, 0),
                     FM_RESP_SUCCESS);
    assert_true(route_eventually(ns, "ItAuto", &r));
    /* the client asked for 4 default queues (header d), fewer than the broker's 8 */
    assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, "\"writeQueueNums\":4", 18));
    fmt_resp_free(&r);
    close(fd);
    close(ns);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_then_pull_returns_stored_records),
        cmocka_unit_test(test_long_poll_woken_by_send),
        cmocka_unit_test(test_offsets_search_and_view),
        cmocka_unit_test(test_batch_send),
        cmocka_unit_test(test_heartbeat_consumer_list_and_route),
        cmocka_unit_test(test_auto_create_on_send),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
