/*
 * RocketMQ's own tools against a real ferrymqd: each test sends exactly the request mqadmin or
 * the Java client sends (codes, header fields and bodies as RocketMQ 4.9.7's
 * MQClientAPIImpl builds them; docs/mqadmin.md) and asserts the fields they read.
 *
 * - CHECK_CLIENT_CONFIG (46), what DefaultMQPushConsumer.start() sends for a bySql selector.
 * - Subscription groups: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200, mqadmin updateSubGroup's
 *   nine-field body), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207,
 *   mqadmin deleteSubGroup's groupName/removeOffset), and what a group's config changes:
 *   consumeEnable=false refuses pulls (16), retryMaxTimes sends the second failure to the DLQ,
 *   records survive a restart, an unknown group is refused (26) with autoCreateSubscriptionGroup
 *   off.
 * - GET_TOPIC_STATS_INFO (202, topicStatus), GET_CONSUMER_CONNECTION_LIST (203,
 *   consumerConnection), GET_PRODUCER_CONNECTION_LIST (204, producerConnection).
 * - DELETE_TOPIC_IN_BROKER (215) and DELETE_TOPIC_IN_NAMESRV (216), mqadmin deleteTopic.
 * - GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25), getBrokerConfig / updateBrokerConfig.
 * - VIEW_BROKER_STATS_DATA (315), QUERY_TOPIC_CONSUME_BY_WHO (300), GET_BROKER_RUNTIME_INFO
 *   (28), GET_BROKER_CONSUME_STATS (317): statsAll, clusterList, brokerStatus,
 *   brokerConsumeStats.
 * - Request-reply: CLUSTER on stored messages, SEND_REPLY_MESSAGE_V2 (325) stored in
 *   <cluster>_REPLY_TOPIC and pushed as PUSH_REPLY_MESSAGE_TO_CLIENT (326).
 * - GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) relayed to the client.
 * - SEARCH_OFFSET_BY_TIMESTAMP (29) as getOffsetInQueueByTime answers it.
 * - The VIP channel (listenPort - 2) and vipChannelEnabled=false.
 * - The name server's KV config (100, 101, 102, 219), WIPE/ADD_WRITE_PERM_OF_BROKER (205, 327);
 *   GET_ALL_PRODUCER_INFO (328), CLEAN_EXPIRED_CONSUMEQUEUE (306), DELETE_EXPIRED_COMMITLOG
 *   (329), CLEAN_UNUSED_TOPIC (316).
 * - QUERY_CONSUME_QUEUE (321), GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305), GET/UPDATE_NAMESRV_CONFIG
 *   (319, 318).
 * - Every reply carries the broker's language (JAVA) and version (V4_9_7 = 407).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "ferrymq.h"
#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static fmt_daemon d;
static int fd = -1;

/* Send a request on connection `on` and wait: the answer's code (r filled, free it), -1
 * on a socket error. */
static int
code_of(int on, int code, const char *const *kv, fm_slice body, fmt_resp *r)
{
    return fmt_request(on, FM_SERIALIZE_JSON, code, kv, body, r) == 0 ? r->cmd.code : -1;
}

static int
connect_daemon(void)
{
    if (fd >= 0) {
        close(fd);
    }
    fd = fmt_connect(d.remoting_port, 5000);
    return fd >= 0 ? 0 : -1;
}

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--messageDelayLevel=1s 1s 1s", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    return connect_daemon();
}

static int
teardown(void **state)
{
    (void)state;
    close(fd);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* One request with a JSON body (or none); the reply's code, its remark into remark. */
static int
call(int code, const char *const *kv, const char *body, char *remark, size_t cap)
{
    fmt_resp r = {0};
    int rc = -1;
    if (fmt_request(fd, FM_SERIALIZE_JSON, code, kv,
                    body ? fm_slice_cstr(body) : fm_slice_make(NULL, 0), &r) == 0) {
        rc = r.cmd.code;
        if (remark != NULL) {
            snprintf(remark, cap, "%s", fmt_remark(&r));
        }
        /* a RocketMQ server stamps its own language and version on every reply */
        assert_int_equal(r.cmd.language, FM_LANG_JAVA);
        assert_int_equal(r.cmd.version, 407);
    }
    fmt_resp_free(&r);
    return rc;
}

/* A client's HEART_BEAT (HeartbeatData JSON) on connection c, answered SUCCESS. */
static void
heartbeat(int c, const char *body)
{
    fmt_resp r = {0};
    assert_int_equal(code_of(c, FM_REQ_HEART_BEAT, NULL, fm_slice_cstr(body), &r), FM_RESP_SUCCESS);
    fmt_resp_free(&r);
}

/* GET_ALL_SUBSCRIPTIONGROUP_CONFIG, parsed (cJSON_Delete it). */
static cJSON *
all_groups(void)
{
    fmt_resp r = {0};
    cJSON *j = NULL;
    if (fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL,
                    fm_slice_make(NULL, 0), &r) == 0 &&
        r.cmd.code == 0) {
        j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
    }
    fmt_resp_free(&r);
    return j;
}

static const cJSON *
group_of(const cJSON *all, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(all, "subscriptionGroupTable"), name);
}

static int
field_int(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v);
    }
    assert_true(cJSON_IsNumber(v));
    return v->valueint;
}

static double
data_version_counter(const cJSON *all)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(all, "dataVersion"), "counter");
    assert_true(cJSON_IsNumber(c));
    return c->valuedouble;
}

/* mqadmin updateSubGroup's body: a new SubscriptionGroupConfig with its two overrides
 * (consumeBroadcastEnable, consumeFromMinEnable false), then the options given. */
static int
update_group(const char *name, int consume_enable, int retry_max, int retry_queues)
{
    char body[600];
    snprintf(body, sizeof(body),
             "{\"brokerId\":0,\"consumeBroadcastEnable\":false,\"consumeEnable\":%s,"
             "\"consumeFromMinEnable\":false,\"groupName\":\"%s\","
             "\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":%d,"
             "\"retryQueueNums\":%d,\"whichBrokerWhenConsumeSlowly\":1}",
             consume_enable ? "true" : "false", name, retry_max, retry_queues);
    return call(FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, body, NULL, 0);
}

static int
pull_code(const char *group, const char *topic, char *remark, size_t cap)
{
    fmt_resp r = {0};
    int code = fmt_pull(fd, group, topic, 0, 0, 32, "*", "TAG", &r);
    if (remark != NULL) {
        snprintf(remark, cap, "%s", fmt_remark(&r));
    }
    fmt_resp_free(&r);
    return code;
}

/* CONSUMER_SEND_MSG_BACK as DefaultMQPushConsumer sends it, without maxReconsumeTimes (an old
 * client, so the group's retryMaxTimes decides). */
static int
send_back(int64_t phys, const char *group)
{
    char off[24];
    snprintf(off, sizeof(off), "%" PRId64, phys);
    const char *kv[] = {"offset", off,           "group", group, "delayLevel",
                        "0",      "originTopic", "AdmT",  NULL};
    return call(FM_REQ_CONSUMER_SEND_MSG_BACK, kv, NULL, NULL, 0);
}

/* The first record of topic's queue 0 for group, waited for with long-polling pulls (3 s
 * each, 10 s in all: a retry becomes visible after its 1 s level). 0 or -1. */
static int
fetch_record(const char *group, const char *topic, fm_buf *rec)
{
    int64_t deadline = fmt_now_ms() + 10000;
    while (fmt_now_ms() < deadline) {
        fmt_resp r = {0};
        int code = -1;
        const char *kv[] = {"consumerGroup",
                            group,
                            "topic",
                            topic,
                            "queueId",
                            "0",
                            "queueOffset",
                            "0",
                            "maxMsgNums",
                            "1",
                            "sysFlag",
                            "6",
                            "commitOffset",
                            "0",
                            "suspendTimeoutMillis",
                            "3000",
                            "subVersion",
                            "0",
                            "subscription",
                            "*",
                            NULL};
        if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0),
                        &r) == 0) {
            code = r.cmd.code;
            if (code == FM_RESP_SUCCESS) {
                fm_buf_reset(rec);
                fm_buf_append(rec, r.cmd.body.ptr, r.cmd.body.len);
            }
        }
        fmt_resp_free(&r);
        if (code == FM_RESP_SUCCESS) {
            return 0;
        }
        if (code != FM_RESP_PULL_NOT_FOUND && code != FM_RESP_PULL_RETRY_IMMEDIATELY &&
            code != FM_RESP_TOPIC_NOT_EXIST) {
            return -1;
        }
        if (code == FM_RESP_TOPIC_NOT_EXIST) {
            /* the retry topic appears with the send-back; ask again at once */
            continue;
        }
    }
    return -1;
}

static void
test_check_client_config(void **state)
{
    char remark[512];
    (void)state;
    /* MessageSelector.bySql("a > 5") as the Java client's CheckClientRequestBody */
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL,
                          "{\"clientId\":\"127.0.0.1@1\",\"group\":\"G\",\"subscriptionData\":"
                          "{\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":"
                          "\"SQL92\",\"subString\":\"a > 5\",\"subVersion\":1690000000000,"
                          "\"tagsSet\":[],\"topic\":\"T\"}}",
                          remark, sizeof(remark)),
                     FM_RESP_SUCCESS);
    /* a selector that does not parse: SUBSCRIPTION_PARSE_FAILED, and the consumer's start()
     * throws with this remark */
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL,
                          "{\"clientId\":\"c\",\"group\":\"G\",\"subscriptionData\":"
                          "{\"expressionType\":\"SQL92\",\"subString\":\"a > \",\"topic\":\"T\"}}",
                          remark, sizeof(remark)),
                     FM_RESP_SUBSCRIPTION_PARSE_FAILED);
    assert_non_null(strstr(remark, "Invalid MessageSelector"));
    /* tags always pass; an unknown type does not */
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL,
                          "{\"clientId\":\"c\",\"group\":\"G\",\"subscriptionData\":"
                          "{\"expressionType\":\"TAG\",\"subString\":\"a || b\",\"topic\":\"T\"}}",
                          NULL, 0),
                     FM_RESP_SUCCESS);
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL,
                          "{\"clientId\":\"c\",\"group\":\"G\",\"subscriptionData\":"
                          "{\"expressionType\":\"JS\",\"subString\":\"x\",\"topic\":\"T\"}}",
                          NULL, 0),
                     FM_RESP_SUBSCRIPTION_PARSE_FAILED);
    /* no body, or one that is not JSON: an error, not a crash */
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL, NULL, remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_int_equal(call(FM_REQ_CHECK_CLIENT_CONFIG, NULL, "{nope", NULL, 0),
                     FM_RESP_SYSTEM_ERROR);
}

static void
test_subscription_groups(void **state)
{
    cJSON *all;
    const cJSON *g;
    double v0;
    char remark[512];
    (void)state;
    all = all_groups();
    assert_non_null(all);
    /* RocketMQ's default groups, with the nine fields of SubscriptionGroupConfig */
    g = group_of(all, "TOOLS_CONSUMER");
    assert_non_null(g);
    assert_int_equal(field_int(g, "retryMaxTimes"), 16);
    assert_int_equal(field_int(g, "retryQueueNums"), 1);
    assert_int_equal(field_int(g, "consumeEnable"), 1);
    assert_int_equal(field_int(g, "consumeBroadcastEnable"), 1);
    assert_int_equal(field_int(g, "consumeFromMinEnable"), 1);
    assert_int_equal(field_int(g, "notifyConsumerIdsChangedEnable"), 1);
    assert_int_equal(field_int(g, "brokerId"), 0);
    assert_int_equal(field_int(g, "whichBrokerWhenConsumeSlowly"), 1);
    assert_non_null(group_of(all, "CID_ONSAPI_OWNER"));
    v0 = data_version_counter(all);
    cJSON_Delete(all);

    /* updateSubGroup -g adm-g -s false -r 1: created, listed as sent, the version moves */
    assert_int_equal(update_group("adm-g", 0, 1, 2), FM_RESP_SUCCESS);
    all = all_groups();
    g = group_of(all, "adm-g");
    assert_non_null(g);
    assert_int_equal(field_int(g, "consumeEnable"), 0);
    assert_int_equal(field_int(g, "consumeBroadcastEnable"), 0);
    assert_int_equal(field_int(g, "retryMaxTimes"), 1);
    assert_int_equal(field_int(g, "retryQueueNums"), 2);
    assert_true(data_version_counter(all) > v0);
    cJSON_Delete(all);

    /* consumeEnable=false: pulls refused with PullMessageProcessor's code and words */
    assert_int_equal(fmt_send_msg(fd, "AdmT", 0, "m1", "t", "k1", NULL, NULL, 0), 0);
    assert_int_equal(pull_code("adm-g", "AdmT", remark, sizeof(remark)), FM_RESP_NO_PERMISSION);
    assert_string_equal(remark, "subscription group no permission, adm-g");
    /* updated (a whole replacement): consumeEnable back on */
    assert_int_equal(update_group("adm-g", 1, 1, 2), FM_RESP_SUCCESS);
    assert_int_equal(pull_code("adm-g", "AdmT", NULL, 0), FM_RESP_SUCCESS);

    /* bad bodies: an error with a reason, nothing created */
    assert_int_equal(
        call(FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, NULL, remark, sizeof(remark)),
        FM_RESP_SYSTEM_ERROR);
    assert_int_equal(call(FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, "{\"consumeEnable\"",
                          remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_int_equal(call(FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL,
                          "{\"consumeEnable\":true}", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(remark, "groupName"));
    assert_int_equal(call(FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL,
                          "{\"groupName\":\"adm-bad\",\"retryQueueNums\":-1}", remark,
                          sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    all = all_groups();
    assert_null(group_of(all, "adm-bad"));
    cJSON_Delete(all);

    /* the record survives a restart (kill -9: it was on disk when answered) */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(connect_daemon(), 0);
    all = all_groups();
    g = group_of(all, "adm-g");
    assert_non_null(g);
    assert_int_equal(field_int(g, "retryMaxTimes"), 1);
    assert_int_equal(field_int(g, "retryQueueNums"), 2);
    cJSON_Delete(all);
}

static void
test_group_retry_max_times_decides_the_dlq(void **state)
{
    fm_buf rec = {0};
    fm_msg_view m;
    (void)state;
    /* retryMaxTimes 1 and no maxReconsumeTimes in the request: the first failure is retried,
     * the second goes to %DLQ% */
    assert_int_equal(update_group("adm-r", 1, 1, 1), FM_RESP_SUCCESS);
    assert_int_equal(fmt_send_msg(fd, "AdmR", 0, "poison", "t", "kp", NULL, NULL, 0), 0);
    assert_int_equal(fetch_record("adm-r", "AdmR", &rec), 0);
    assert_int_equal(fm_msg_decode(rec.data, rec.len, &m, NULL), FM_OK);
    assert_int_equal(send_back(m.phys_offset, "adm-r"), FM_RESP_SUCCESS);
    assert_int_equal(fetch_record("adm-r", "%RETRY%adm-r", &rec), 0);
    assert_int_equal(fm_msg_decode(rec.data, rec.len, &m, NULL), FM_OK);
    assert_int_equal(m.reconsume_times, 1);
    assert_int_equal(send_back(m.phys_offset, "adm-r"), FM_RESP_SUCCESS);
    assert_int_equal(fetch_record("adm-r", "%DLQ%adm-r", &rec), 0);
    assert_int_equal(fm_msg_decode(rec.data, rec.len, &m, NULL), FM_OK);
    assert_int_equal(m.reconsume_times, 2); /* +1 on the way to the DLQ too, as RocketMQ */
    fm_buf_free(&rec);
}

/* The `offset` header of a request's SUCCESS answer, -1 on an error code. */
static int64_t
offset_of(int code, const char *const *kv)
{
    fmt_resp r = {0};
    int64_t off = -1;
    if (fmt_request(fd, FM_SERIALIZE_JSON, code, kv, fm_slice_make(NULL, 0), &r) == 0 &&
        r.cmd.code == FM_RESP_SUCCESS) {
        off = atoll(fmt_ext(&r, "offset"));
    }
    fmt_resp_free(&r);
    return off;
}

/* QUERY_CONSUMER_OFFSET's answer: the committed offset, or 0 for a group without one on a
 * queue that still holds its first message (RocketMQ's rule), -1 on an error code. */
static int64_t
query_offset(const char *const *kv)
{
    return offset_of(FM_REQ_QUERY_CONSUMER_OFFSET, kv);
}

static void
test_delete_group(void **state)
{
    char remark[512];
    cJSON *all;
    const char *q[] = {"consumerGroup", "adm-d", "topic", "AdmT", "queueId", "0", NULL};
    const char *commit[] = {"consumerGroup", "adm-d", "topic", "AdmT", "queueId", "0",
                            "commitOffset",  "1",     NULL};
    (void)state;
    assert_int_equal(update_group("adm-d", 1, 16, 1), FM_RESP_SUCCESS);
    assert_int_equal(call(FM_REQ_UPDATE_CONSUMER_OFFSET, commit, NULL, NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(query_offset(q), 1);
    /* deleteSubGroup -g adm-d -r false: the record goes, the offsets stay */
    {
        const char *kv[] = {"groupName", "adm-d", "removeOffset", "false", NULL};
        assert_int_equal(call(FM_REQ_DELETE_SUBSCRIPTIONGROUP, kv, NULL, NULL, 0), FM_RESP_SUCCESS);
    }
    all = all_groups();
    assert_null(group_of(all, "adm-d"));
    cJSON_Delete(all);
    assert_int_equal(query_offset(q), 1);
    /* again with -r true: the offsets go too (and the answer for a group that no longer
     * exists is SUCCESS, as RocketMQ's) */
    {
        const char *kv[] = {"groupName", "adm-d", "removeOffset", "true", NULL};
        assert_int_equal(call(FM_REQ_DELETE_SUBSCRIPTIONGROUP, kv, NULL, NULL, 0), FM_RESP_SUCCESS);
    }
    assert_int_equal(query_offset(q), 0);
    /* and after a restart the group is still gone, its offsets too */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(connect_daemon(), 0);
    all = all_groups();
    assert_null(group_of(all, "adm-d"));
    cJSON_Delete(all);
    assert_int_equal(query_offset(q), 0);
    /* without groupName: the @CFNotNull field's error */
    assert_int_equal(call(FM_REQ_DELETE_SUBSCRIPTIONGROUP, NULL, NULL, remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(remark, "groupName"));
}

static void
test_unknown_group_refused_without_auto_create(void **state)
{
    fmt_daemon d2;
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--autoCreateSubscriptionGroup=false", NULL};
    int saved = fd;
    char remark[512];
    (void)state;
    memset(&d2, 0, sizeof(d2));
    assert_int_equal(fmt_daemon_start(&d2, extra, 10000), 0);
    fd = fmt_connect(d2.remoting_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(fmt_send_msg(fd, "AdmU", 0, "m", "t", "k", NULL, NULL, 0), 0);
    assert_int_equal(pull_code("adm-unknown", "AdmU", remark, sizeof(remark)),
                     FM_RESP_SUBSCRIPTION_GROUP_NOT_EXIST);
    assert_non_null(strstr(remark, "subscription group [adm-unknown] does not exist"));
    /* created by updateSubGroup, it may pull */
    assert_int_equal(update_group("adm-unknown", 1, 16, 1), FM_RESP_SUCCESS);
    assert_int_equal(pull_code("adm-unknown", "AdmU", NULL, 0), FM_RESP_SUCCESS);
    /* RocketMQ's system groups are made on demand even so */
    assert_int_equal(pull_code("CID_RMQ_SYS_X", "AdmU", NULL, 0), FM_RESP_SUCCESS);
    close(fd);
    fd = saved;
    fmt_daemon_stop(&d2, SIGTERM, 10000);
    fmt_daemon_cleanup(&d2);
}

static int64_t
wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* mqadmin topicStatus: GET_TOPIC_STATS_INFO per write queue, min/max offset and the last
 * message's store time, keyed by MessageQueue objects as fastjson writes them. */
static void
test_topic_stats(void **state)
{
    fmt_resp r = {0};
    const char *kv[] = {"topic", "AdmS", NULL};
    const char *bad[] = {"topic", "AdmNoSuch", NULL};
    char key[200], remark[512];
    const char *at;
    long long ts = 0, max = -1, min = -1;
    int64_t before = wall_ms();
    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fmt_send_msg(fd, "AdmS", 1, "s", "t", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(code_of(fd, FM_REQ_GET_TOPIC_STATS_INFO, kv, fm_slice_make(NULL, 0), &r),
                     FM_RESP_SUCCESS);
    snprintf(key, sizeof(key),
             "{\"brokerName\":\"%s\",\"queueId\":1,\"topic\":\"AdmS\"}:", "broker-a");
    at = memmem(r.cmd.body.ptr, r.cmd.body.len, key, strlen(key));
    assert_non_null(at);
    assert_int_equal(sscanf(at + strlen(key),
                            "{\"lastUpdateTimestamp\":%lld,\"maxOffset\":%lld,\"minOffset\":%lld}",
                            &ts, &max, &min),
                     3);
    assert_int_equal(max, 3);
    assert_int_equal(min, 0);
    assert_true(ts >= before - 1000 && ts <= wall_ms() + 1000);
    /* an empty queue: 0, 0, no time */
    snprintf(key, sizeof(key),
             "{\"brokerName\":\"%s\",\"queueId\":0,\"topic\":\"AdmS\"}:"
             "{\"lastUpdateTimestamp\":0,\"maxOffset\":0,\"minOffset\":0}",
             "broker-a");
    assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, key, strlen(key)));
    fmt_resp_free(&r);
    assert_int_equal(call(FM_REQ_GET_TOPIC_STATS_INFO, bad, NULL, remark, sizeof(remark)),
                     FM_RESP_TOPIC_NOT_EXIST);
    assert_string_equal(remark, "topic[AdmNoSuch] not exist");
    assert_int_equal(call(FM_REQ_GET_TOPIC_STATS_INFO, NULL, NULL, NULL, 0), FM_RESP_SYSTEM_ERROR);
}

/* mqadmin consumerConnection / producerConnection: GET_CONSUMER_CONNECTION_LIST and
 * GET_PRODUCER_CONNECTION_LIST report what the clients' heartbeats said, on their own
 * connection, until it closes. */
static int
group_offline(void *group)
{
    const char *kv[] = {"consumerGroup", group, NULL};
    return call(FM_REQ_GET_CONSUMER_CONNECTION_LIST, kv, NULL, NULL, 0) ==
           FM_RESP_CONSUMER_NOT_ONLINE;
}

static void
test_connection_lists(void **state)
{
    int hb = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    cJSON *j;
    const cJSON *c, *sub;
    char remark[512];
    const char *cg[] = {"consumerGroup", "adm-c", NULL};
    const char *pg[] = {"producerGroup", "adm-p", NULL};
    const char *hb_body =
        "{\"clientID\":\"10.0.0.1@42\",\"consumerDataSet\":[{\"consumeFromWhere\":"
        "\"CONSUME_FROM_LAST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":"
        "\"adm-c\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{\"classFilterMode\":"
        "false,\"codeSet\":[97,98],\"expressionType\":\"TAG\",\"subString\":\"a || b\","
        "\"subVersion\":5,\"tagsSet\":[\"a\",\"b\"],\"topic\":\"AdmT\"}],\"unitMode\":false}],"
        "\"producerDataSet\":[{\"groupName\":\"adm-p\"}]}";
    (void)state;
    assert_true(hb >= 0);
    heartbeat(hb, hb_body);

    assert_int_equal(
        code_of(fd, FM_REQ_GET_CONSUMER_CONNECTION_LIST, cg, fm_slice_make(NULL, 0), &r),
        FM_RESP_SUCCESS);
    j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
    fmt_resp_free(&r);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "connectionSet")), 1);
    c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "connectionSet"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "clientId")->valuestring,
                        "10.0.0.1@42");
    /* the client's own language and version (this test client says OTHER, 453) */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "language")->valuestring, "OTHER");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "version")->valueint, 453);
    assert_non_null(
        strstr(cJSON_GetObjectItemCaseSensitive(c, "clientAddr")->valuestring, "127.0.0.1:"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "consumeType")->valuestring,
                        "CONSUME_PASSIVELY");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "messageModel")->valuestring,
                        "CLUSTERING");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "consumeFromWhere")->valuestring,
                        "CONSUME_FROM_LAST_OFFSET");
    sub = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "subscriptionTable"),
                                           "AdmT");
    assert_non_null(sub);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sub, "subString")->valuestring, "a || b");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sub, "expressionType")->valuestring,
                        "TAG");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sub, "tagsSet")), 2);
    cJSON_Delete(j);

    assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_GET_PRODUCER_CONNECTION_LIST, pg,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
    fmt_resp_free(&r);
    c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "connectionSet"), 0);
    assert_non_null(c);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "clientId")->valuestring,
                        "10.0.0.1@42");
    cJSON_Delete(j);

    /* unknown groups: RocketMQ's codes and words (206 for consumers, 1 for producers) */
    {
        const char *nc[] = {"consumerGroup", "adm-none", NULL};
        const char *np[] = {"producerGroup", "adm-none", NULL};
        assert_int_equal(
            call(FM_REQ_GET_CONSUMER_CONNECTION_LIST, nc, NULL, remark, sizeof(remark)),
            FM_RESP_CONSUMER_NOT_ONLINE);
        assert_string_equal(remark, "the consumer group[adm-none] not online");
        assert_int_equal(
            call(FM_REQ_GET_PRODUCER_CONNECTION_LIST, np, NULL, remark, sizeof(remark)),
            FM_RESP_SYSTEM_ERROR);
        assert_string_equal(remark, "the producer group[adm-none] not exist");
    }
    /* the client's connection closes: it is no longer online */
    close(hb);
    /* the broker sees the close on a later loop turn: awaited, bounded */
    assert_true(fmt_wait_until(group_offline, (void *)"adm-c", 5000));
}

/* GET_ROUTEINFO_BY_TOPIC's code at the name server. */
static int
route_code(const char *topic)
{
    int ns = fmt_connect(d.namesrv_port, 5000);
    fmt_resp r = {0};
    const char *kv[] = {"topic", topic, NULL};
    int code = -1;
    assert_true(ns >= 0);
    if (fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_GET_ROUTEINFO_BY_TOPIC, kv,
                    fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
    }
    fmt_resp_free(&r);
    close(ns);
    return code;
}

static int
namesrv_delete(const char *topic, const char *cluster)
{
    int ns = fmt_connect(d.namesrv_port, 5000);
    fmt_resp r = {0};
    const char *kv[] = {"topic", topic, "clusterName", cluster, NULL};
    int code = -1;
    assert_true(ns >= 0);
    if (fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_DELETE_TOPIC_IN_NAMESRV, kv,
                    fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
        assert_int_equal(r.cmd.language, FM_LANG_JAVA);
    }
    fmt_resp_free(&r);
    close(ns);
    return code;
}

/* mqadmin deleteTopic -t T -c C: DELETE_TOPIC_IN_BROKER to the master, then
 * DELETE_TOPIC_IN_NAMESRV to the name server. The topic's config, queues and offsets go and
 * stay gone after a restart; made again, it starts at offset 0. */
static void
test_delete_topic(void **state)
{
    const char *t[] = {"topic", "AdmDel", NULL};
    const char *q[] = {"consumerGroup", "adm-del", "topic", "AdmDel", "queueId", "0", NULL};
    const char *commit[] = {"consumerGroup", "adm-del", "topic", "AdmDel", "queueId", "0",
                            "commitOffset",  "2",       NULL};
    char remark[512];
    int64_t qoff = -1;
    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fmt_send_msg(fd, "AdmDel", 0, "d", "t", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(call(FM_REQ_UPDATE_CONSUMER_OFFSET, commit, NULL, NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(query_offset(q), 2);
    assert_int_equal(route_code("AdmDel"), FM_RESP_SUCCESS);

    assert_int_equal(call(FM_REQ_DELETE_TOPIC_IN_BROKER, t, NULL, NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(namesrv_delete("AdmDel", "DefaultCluster"), FM_RESP_SUCCESS);
    assert_int_equal(call(FM_REQ_GET_TOPIC_STATS_INFO, t, NULL, NULL, 0), FM_RESP_TOPIC_NOT_EXIST);
    assert_int_equal(pull_code("adm-del", "AdmDel", NULL, 0), FM_RESP_TOPIC_NOT_EXIST);
    assert_int_equal(query_offset(q), 0);
    assert_int_equal(route_code("AdmDel"), FM_RESP_TOPIC_NOT_EXIST);
    /* again, and an unknown topic: SUCCESS, as RocketMQ */
    assert_int_equal(call(FM_REQ_DELETE_TOPIC_IN_BROKER, t, NULL, NULL, 0), FM_RESP_SUCCESS);

    /* system topics and bad names are refused with TopicValidator's words */
    {
        const char *sys[] = {"TBW102",
                             "SCHEDULE_TOPIC_XXXX",
                             "RMQ_SYS_TRANS_HALF_TOPIC",
                             "DefaultCluster",
                             "broker-a",
                             "DefaultCluster_REPLY_TOPIC",
                             "rmq_sys_x"};
        for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
            const char *kv[] = {"topic", sys[i], NULL};
            assert_int_equal(call(FM_REQ_DELETE_TOPIC_IN_BROKER, kv, NULL, remark, sizeof(remark)),
                             FM_RESP_SYSTEM_ERROR);
            assert_non_null(strstr(remark, "is conflict with system topic"));
        }
    }
    {
        const char *kv[] = {"topic", "bad topic", NULL};
        assert_int_equal(call(FM_REQ_DELETE_TOPIC_IN_BROKER, kv, NULL, remark, sizeof(remark)),
                         FM_RESP_SYSTEM_ERROR);
        assert_non_null(strstr(remark, "illegal characters"));
        assert_int_equal(call(FM_REQ_DELETE_TOPIC_IN_BROKER, NULL, NULL, NULL, 0),
                         FM_RESP_SYSTEM_ERROR);
    }

    /* gone after a kill -9 and restart; sent to again, it is a new topic from offset 0 */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(connect_daemon(), 0);
    assert_int_equal(call(FM_REQ_GET_TOPIC_STATS_INFO, t, NULL, NULL, 0), FM_RESP_TOPIC_NOT_EXIST);
    assert_int_equal(fmt_send_msg(fd, "AdmDel", 0, "again", "t", "k", &qoff, NULL, 0), 0);
    assert_int_equal(qoff, 0);
}

/* DELETE_TOPIC_IN_NAMESRV alone: the route goes for the named cluster only. */
static void
test_delete_route_in_namesrv(void **state)
{
    (void)state;
    assert_int_equal(fmt_send_msg(fd, "AdmRoute", 0, "r", "t", "k", NULL, NULL, 0), 0);
    assert_int_equal(route_code("AdmRoute"), FM_RESP_SUCCESS);
    assert_int_equal(namesrv_delete("AdmRoute", "OtherCluster"), FM_RESP_SUCCESS);
    assert_int_equal(route_code("AdmRoute"), FM_RESP_SUCCESS);
    assert_int_equal(namesrv_delete("AdmRoute", "DefaultCluster"), FM_RESP_SUCCESS);
    assert_int_equal(route_code("AdmRoute"), FM_RESP_TOPIC_NOT_EXIST);
}

/* GET_BROKER_CONFIG's body (Properties text) and its `version` header field. */
static char *
broker_config(char *version, size_t cap)
{
    fmt_resp r = {0};
    char *text = NULL;
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_BROKER_CONFIG, NULL, fm_slice_make(NULL, 0),
                    &r) == 0 &&
        r.cmd.code == FM_RESP_SUCCESS) {
        text = strndup((const char *)r.cmd.body.ptr, r.cmd.body.len);
        snprintf(version, cap, "%s", fmt_ext(&r, "version"));
    }
    fmt_resp_free(&r);
    return text;
}

static int
update_config(const char *props, char *remark, size_t cap)
{
    return call(FM_REQ_UPDATE_BROKER_CONFIG, NULL, props, remark, cap);
}

/* mqadmin getBrokerConfig / updateBrokerConfig -k K -v V: every setting as key=value lines; a
 * change to a live setting takes effect at once, any change survives a restart; an unknown
 * key, a bad value or a fixed setting is refused and nothing changes. */
static void
test_broker_config(void **state)
{
    char version[128], remark[512];
    char *text;
    (void)state;
    text = broker_config(version, sizeof(version));
    assert_non_null(text);
    assert_non_null(strstr(text, "brokerName=broker-a\n"));
    assert_non_null(strstr(text, "autoCreateTopicEnable=true\n"));
    assert_non_null(strstr(text, "defaultTopicQueueNums=8\n"));
    /* RocketMQ keys with FerryMQ's fixed values, which exportConfigs reads (a missing one is
     * its NullPointerException) */
    assert_non_null(strstr(text, "brokerRole=ASYNC_MASTER\n"));
    assert_non_null(strstr(text, "useTLS=false\n"));
    assert_non_null(strstr(text, "msgTraceTopicName=RMQ_SYS_TRACE_TOPIC\n"));
    assert_non_null(strstr(version, "\"counter\":0"));
    free(text);

    /* updateBrokerConfig -k autoCreateTopicEnable -v false: a send to a new topic fails now */
    assert_int_equal(update_config("autoCreateTopicEnable=false\n", NULL, 0), FM_RESP_SUCCESS);
    assert_int_not_equal(fmt_send_msg(fd, "AdmNoAuto", 0, "x", "t", "k", NULL, NULL, 0), 0);
    text = broker_config(version, sizeof(version));
    assert_non_null(strstr(text, "autoCreateTopicEnable=false\n"));
    assert_non_null(strstr(version, "\"counter\":1"));
    free(text);

    /* refused as a whole, naming the problem: nothing changed */
    assert_int_equal(
        update_config("defaultTopicQueueNums=4\nnoSuchSetting=1\n", remark, sizeof(remark)),
        FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(remark, "noSuchSetting"));
    assert_int_equal(update_config("maxMessageSize=lots", remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(remark, "maxMessageSize"));
    assert_int_equal(update_config("role=namesrv", remark, sizeof(remark)), FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(remark, "cannot be changed while running"));
    assert_int_equal(update_config("just words", remark, sizeof(remark)), FM_RESP_SYSTEM_ERROR);
    text = broker_config(version, sizeof(version));
    assert_non_null(strstr(text, "defaultTopicQueueNums=8\n"));
    free(text);

    /* a setting that applies at the next start, then the restart: both changes are there */
    assert_int_equal(update_config("# from mqadmin\nmaxConnOutputBytes=32m\n", NULL, 0),
                     FM_RESP_SUCCESS);
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(connect_daemon(), 0);
    text = broker_config(version, sizeof(version));
    assert_non_null(strstr(text, "autoCreateTopicEnable=false\n"));
    assert_non_null(strstr(text, "maxConnOutputBytes=33554432\n"));
    free(text);
    assert_int_not_equal(fmt_send_msg(fd, "AdmNoAuto", 0, "x", "t", "k", NULL, NULL, 0), 0);
    /* and back */
    assert_int_equal(update_config("autoCreateTopicEnable=true", NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(fmt_send_msg(fd, "AdmNoAuto", 0, "x", "t", "k", NULL, NULL, 0), 0);
}

/* VIEW_BROKER_STATS_DATA's figure of one window: "statsMinute", "statsHour", "statsDay". */
static int
stats_sum(const char *name, const char *key, const char *window, int64_t *sum, double *tps)
{
    fmt_resp r = {0};
    const char *kv[] = {"statsName", name, "statsKey", key, NULL};
    int code = -1;
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_VIEW_BROKER_STATS_DATA, kv,
                    fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
        if (code == FM_RESP_SUCCESS) {
            cJSON *j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, window);
            assert_non_null(w);
            *sum = (int64_t)cJSON_GetObjectItemCaseSensitive(w, "sum")->valuedouble;
            *tps = cJSON_GetObjectItemCaseSensitive(w, "tps")->valuedouble;
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(w, "avgpt")));
            cJSON_Delete(j);
        }
    }
    fmt_resp_free(&r);
    return code;
}

typedef struct stat_wait {
    const char *name, *key;
    int64_t want;
} stat_wait;

static int
stat_reaches(void *ud)
{
    stat_wait *w = ud;
    int64_t sum = 0;
    double tps = 0;
    return stats_sum(w->name, w->key, "statsMinute", &sum, &tps) == FM_RESP_SUCCESS &&
           sum == w->want && tps > 0;
}

/* GET_BROKER_RUNTIME_INFO's table (cJSON_Delete it). */
static cJSON *
runtime_info(void)
{
    fmt_resp r = {0};
    cJSON *j = NULL;
    if (fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_GET_BROKER_RUNTIME_INFO, NULL,
                    fm_slice_make(NULL, 0), &r) == 0 &&
        r.cmd.code == FM_RESP_SUCCESS) {
        j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
    }
    fmt_resp_free(&r);
    return j;
}

static const char *
rt_value(const cJSON *rt, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rt, "table"), key);
    assert_true(cJSON_IsString(v)); /* KVTable: every value a string */
    return v->valuestring;
}

static int
put_tps_positive(void *ud)
{
    cJSON *rt = runtime_info();
    int ok;
    (void)ud;
    ok = rt != NULL && strtod(rt_value(rt, "putTps"), NULL) > 0;
    cJSON_Delete(rt);
    return ok;
}

/* The body holds text (strlen, not a hand count). */
static const char *
body_has(const fmt_resp *r, const char *text)
{
    return memmem(r->cmd.body.ptr, r->cmd.body.len, text, strlen(text));
}

/* What statsAll, clusterList, brokerStatus and brokerConsumeStats read: the stats items of
 * sends and pulls (minute figures within one 10 s sample), the broker-wide TPS and totals in
 * the formats clusterList parses, each group's lag. */
static void
test_stats_runtime_info_and_consume_stats(void **state)
{
    fmt_resp r = {0};
    cJSON *rt;
    char remark[512], key[200], *end;
    const char *v, *at;
    const char *commit[] = {"consumerGroup", "adm-s", "topic", "AdmStat", "queueId", "0",
                            "commitOffset",  "3",     NULL};
    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(fmt_send_msg(fd, "AdmStat", 0, "stat", "t", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(fmt_pull(fd, "adm-s", "AdmStat", 0, 0, 32, "*", "TAG", &r), FM_RESP_SUCCESS);
    assert_int_equal(fmt_count_records(r.cmd.body), 5);
    fmt_resp_free(&r);
    assert_int_equal(call(FM_REQ_UPDATE_CONSUMER_OFFSET, commit, NULL, NULL, 0), FM_RESP_SUCCESS);

    /* statsAll's two figures: the topic's puts and the group's gets */
    {
        stat_wait put = {"TOPIC_PUT_NUMS", "AdmStat", 5},
                  get = {"GROUP_GET_NUMS", "AdmStat@adm-s", 5};
        int64_t sum = 0;
        double tps = 0;
        assert_true(fmt_wait_until(stat_reaches, &put, 15000));
        assert_true(fmt_wait_until(stat_reaches, &get, 15000));
        assert_int_equal(stats_sum("GROUP_GET_SIZE", "AdmStat@adm-s", "statsMinute", &sum, &tps),
                         FM_RESP_SUCCESS);
        assert_true(sum > 5 * 4);
        assert_int_equal(stats_sum("BROKER_PUT_NUMS", "DefaultCluster", "statsDay", &sum, &tps),
                         FM_RESP_SUCCESS);
    }
    assert_int_equal(
        call(FM_REQ_VIEW_BROKER_STATS_DATA,
             (const char *[]){"statsName", "TOPIC_PUT_NUMS", "statsKey", "AdmNone", NULL}, NULL,
             remark, sizeof(remark)),
        FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "The stats <TOPIC_PUT_NUMS> <AdmNone> not exist");
    assert_int_equal(call(FM_REQ_VIEW_BROKER_STATS_DATA,
                          (const char *[]){"statsName", "NO_SUCH", "statsKey", "AdmStat", NULL},
                          NULL, NULL, 0),
                     FM_RESP_SYSTEM_ERROR);
    assert_int_equal(call(FM_REQ_VIEW_BROKER_STATS_DATA, NULL, NULL, NULL, 0),
                     FM_RESP_SYSTEM_ERROR);

    /* clusterList: putTps and getTransferedTps as numbers (the first token is read), the
     * earliest store time an integer, the disk ratio a decimal, the -m totals as longs */
    assert_true(fmt_wait_until(put_tps_positive, NULL, 5000));
    rt = runtime_info();
    assert_non_null(rt);
    for (int i = 0; i < 2; i++) {
        v = rt_value(rt, i == 0 ? "putTps" : "getTransferedTps");
        for (int tok = 0; tok < 3; tok++) {
            strtod(v, &end);
            assert_true(end > v);
            v = end;
        }
        assert_int_equal(*v, '\0');
    }
    v = rt_value(rt, "earliestMessageTimeStamp");
    assert_true(strtoll(v, &end, 10) > 1600000000000LL && *end == '\0');
    v = rt_value(rt, "commitLogDiskRatio");
    assert_true(strtod(v, &end) >= 0 && strtod(v, NULL) <= 1 && *end == '\0');
    assert_true(strtoll(rt_value(rt, "msgPutTotalTodayNow"), NULL, 10) >= 5);
    assert_true(strtoll(rt_value(rt, "msgGetTotalTodayNow"), NULL, 10) >= 5);
    strtoll(rt_value(rt, "msgPutTotalTodayMorning"), &end, 10);
    assert_int_equal(*end, '\0');
    assert_string_equal(rt_value(rt, "brokerVersionDesc"), "V4_9_7");
    assert_string_equal(rt_value(rt, "brokerVersion"), "407");
    rt_value(rt, "sendThreadPoolQueueSize");
    rt_value(rt, "pullThreadPoolQueueHeadWaitTimeMills");
    rt_value(rt, "pageCacheLockTimeMills");
    cJSON_Delete(rt);

    /* brokerConsumeStats: the group's lag per queue with the last consumed message's time */
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_BROKER_CONSUME_STATS,
                                 (const char *[]){"isOrder", "false", NULL}, fm_slice_make(NULL, 0),
                                 &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "{\"adm-s\":[{\"consumeTps\":"));
    assert_non_null(body_has(&r, "{\"TOOLS_CONSUMER\":[]}"));
    snprintf(key, sizeof(key),
             "{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"AdmStat\"}:"
             "{\"brokerOffset\":5,\"consumerOffset\":3,\"lastTimestamp\":");
    at = memmem(r.cmd.body.ptr, r.cmd.body.len, key, strlen(key));
    assert_non_null(at);
    assert_true(strtoll(at + strlen(key), NULL, 10) > 1600000000000LL);
    at = body_has(&r, "\"totalDiff\":");
    assert_non_null(at);
    assert_true(strtoll(at + 12, NULL, 10) >= 2);
    assert_non_null(body_has(&r, "\"brokerAddr\":\"127.0.0.1:"));
    fmt_resp_free(&r);

    /* statsAll's list of a topic's groups */
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_TOPIC_CONSUME_BY_WHO,
                                 (const char *[]){"topic", "AdmStat", NULL}, fm_slice_make(NULL, 0),
                                 &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "\"groupList\":[\"adm-s\"]"));
    fmt_resp_free(&r);
}

/* The VIP channel: listenPort - 2 serves the same requests (clients with
 * sendMessageWithVIPChannel send there), and vipChannelEnabled=false leaves it closed. */
static void
test_vip_channel(void **state)
{
    int vip = fmt_connect(d.remoting_port - 2, 5000), saved = fd;
    fmt_daemon d2;
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--vipChannelEnabled=false", NULL};
    char ready[400];
    int64_t qoff = -1;
    fmt_resp r = {0};
    (void)state;
    assert_true(vip >= 0);
    snprintf(ready, sizeof(ready), "%s/ready", d.dir);
    {
        char want[32];
        snprintf(want, sizeof(want), "vip=%d\n", d.remoting_port - 2);
        assert_true(fmt_file_contains(ready, want));
    }
    fd = vip;
    assert_int_equal(fmt_send_msg(fd, "AdmVip", 0, "via vip", "t", "k", &qoff, NULL, 0), 0);
    fd = saved;
    assert_int_equal(fmt_pull(fd, "adm-vip", "AdmVip", 0, qoff, 1, "*", "TAG", &r),
                     FM_RESP_SUCCESS);
    assert_int_equal(fmt_count_records(r.cmd.body), 1);
    fmt_resp_free(&r);
    close(vip);

    memset(&d2, 0, sizeof(d2));
    assert_int_equal(fmt_daemon_start(&d2, extra, 10000), 0);
    snprintf(ready, sizeof(ready), "%s/ready", d2.dir);
    assert_false(fmt_file_contains(ready, "vip="));
    assert_true(fmt_connect(d2.remoting_port - 2, 200) < 0);
    fmt_daemon_stop(&d2, SIGTERM, 10000);
    fmt_daemon_cleanup(&d2);
}

static int64_t
search29(const char *topic, int64_t ts)
{
    char t[24];
    snprintf(t, sizeof(t), "%" PRId64, ts);
    const char *kv[] = {"topic", topic, "queueId", "0", "timestamp", t, NULL};
    return offset_of(FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP, kv);
}

/* SEARCH_OFFSET_BY_TIMESTAMP answers as RocketMQ 4.9's getOffsetInQueueByTime (the nearest
 * message by store time; for a time after the last message, the last one), and
 * ferrymq_admin_search_offset still keeps its promise (the first at or after). */
static void
test_search_offset_by_timestamp(void **state)
{
    int64_t t[3];
    fmt_resp r = {0};
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_admin *a;
    ferrymq_queue q;
    char ns[64], err[256];
    int64_t off;
    (void)state;
    for (int i = 0; i < 3; i++) {
        int64_t not_before = wall_ms() + 30;
        /* store times 30 ms apart or more (ms resolution): spin, nothing to wait for */
        while (i > 0 && wall_ms() < not_before) {
        }
        assert_int_equal(fmt_send_msg(fd, "AdmTime", 0, "t", "t", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(fmt_pull(fd, "adm-time", "AdmTime", 0, 0, 32, "*", "TAG", &r),
                     FM_RESP_SUCCESS);
    assert_int_equal(fmt_store_times(r.cmd.body, t, 3), 3);
    fmt_resp_free(&r);
    assert_true(t[1] - t[0] >= 30 && t[2] - t[1] >= 30);
    assert_int_equal(search29("AdmTime", t[1]), 1);          /* exact */
    assert_int_equal(search29("AdmTime", t[1] + 1), 1);      /* nearer to 1 than to 2 */
    assert_int_equal(search29("AdmTime", t[2] - 1), 2);      /* nearer to 2 */
    assert_int_equal(search29("AdmTime", t[2] + 100000), 2); /* after the last: the last */
    assert_int_equal(search29("AdmTime", t[0] - 100000), 0);
    assert_int_equal(search29("AdmTimeNone", t[0]), 0);

    /* the library's promise over the same answers */
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    memset(&q, 0, sizeof(q));
    snprintf(q.topic, sizeof(q.topic), "AdmTime");
    snprintf(q.broker_name, sizeof(q.broker_name), "broker-a");
    q.queue_id = 0;
    assert_int_equal(ferrymq_admin_search_offset(a, &q, t[1], &off, err, sizeof(err)), 0);
    assert_int_equal(off, 1);
    assert_int_equal(ferrymq_admin_search_offset(a, &q, t[1] + 1, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 2);
    assert_int_equal(ferrymq_admin_search_offset(a, &q, t[2] + 100000, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 3);
    assert_int_equal(ferrymq_admin_search_offset(a, &q, t[0] - 100000, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 0);
    ferrymq_admin_free(a);
    ferrymq_conf_free(conf);
}

/* Answer a request the broker forwarded to this client connection. */
static void
client_answer(int cl, const fm_cmd *req, int code, const char *body)
{
    fm_cmd resp;
    fm_buf out = {0};
    memset(&resp, 0, sizeof(resp));
    resp.code = code;
    resp.language = FM_LANG_JAVA;
    resp.version = 407;
    resp.opaque = req->opaque;
    resp.flag = FM_CMD_FLAG_RESPONSE;
    resp.serialize = FM_SERIALIZE_JSON;
    resp.body = fm_slice_cstr(body);
    assert_int_equal(fm_proto_cmd_encode(&out, &resp, NULL), FM_OK);
    assert_int_equal(fmt_write_all(cl, out.data, out.len), 0);
    fm_buf_free(&out);
}

/* The next frame of fd that answers opaque (other frames are skipped). */
static void
recv_answer(int fd_, int opaque, fmt_resp *r)
{
    for (int i = 0; i < 16; i++) {
        assert_int_equal(fmt_recv(fd_, r), 0);
        if (r->cmd.opaque == opaque) {
            return;
        }
        fmt_resp_free(r);
    }
    fail_msg("no answer to opaque %d", opaque);
}

/* mqadmin consumerStatus and consumeMessage: GET_CONSUMER_RUNNING_INFO and
 * CONSUME_MESSAGE_DIRECTLY go to the consumer on its own connection and its answer comes back
 * to the tool; a consumer not online, one that closes, one that does not answer in 10 s, each
 * get RocketMQ's answer. */
static void
test_relay_to_consumer(void **state)
{
    /* both ends wait longer than the relay's 10 s timeout */
    int cl = fmt_connect(d.remoting_port, 15000), tool = fmt_connect(d.remoting_port, 15000), op;
    fmt_resp r = {0}, fw = {0};
    char msgid[64], remark[512];
    const char *running[] = {"consumerGroup", "adm-relay", "clientId", "10.0.0.2@7",
                             "jstackEnable",  "false",     NULL};
    const char *info = "{\"jstack\":\"\",\"properties\":{\"PROP_CONSUME_TYPE\":"
                       "\"CONSUME_PASSIVELY\"},\"subscriptionSet\":[]}";
    (void)state;
    assert_true(cl >= 0 && tool >= 0);
    heartbeat(cl, "{\"clientID\":\"10.0.0.2@7\",\"consumerDataSet\":"
                  "[{\"groupName\":\"adm-relay\",\"consumeType\":"
                  "\"CONSUME_PASSIVELY\",\"messageModel\":"
                  "\"CLUSTERING\",\"subscriptionDataSet\":[]}],"
                  "\"producerDataSet\":[]}");

    /* consumerStatus: forwarded with the tool's fields, answered with the client's body */
    op = fmt_send(tool, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUMER_RUNNING_INFO, running,
                  fm_slice_make(NULL, 0));
    assert_true(op >= 0);
    assert_int_equal(fmt_recv(cl, &fw), 0);
    assert_int_equal(fw.cmd.code, FM_REQ_GET_CONSUMER_RUNNING_INFO);
    assert_int_equal(fw.cmd.flag & FM_CMD_FLAG_RESPONSE, 0);
    assert_string_equal(fmt_ext(&fw, "clientId"), "10.0.0.2@7");
    assert_string_equal(fmt_ext(&fw, "jstackEnable"), "false");
    client_answer(cl, &fw.cmd, FM_RESP_SUCCESS, info);
    fmt_resp_free(&fw);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_int_equal(r.cmd.body.len, strlen(info));
    assert_memory_equal(r.cmd.body.ptr, info, strlen(info));
    fmt_resp_free(&r);

    /* consumeMessage: the stored message goes to the client as the body */
    assert_int_equal(
        fmt_send_msg(fd, "AdmRelay", 0, "direct", "t", "k", NULL, msgid, sizeof(msgid)), 0);
    {
        const char *kv[] = {"consumerGroup", "adm-relay", "clientId", "10.0.0.2@7",
                            "msgId",         msgid,       NULL};
        fm_msg_view m;
        op = fmt_send(tool, FM_SERIALIZE_JSON, FM_REQ_CONSUME_MESSAGE_DIRECTLY, kv,
                      fm_slice_make(NULL, 0));
        assert_int_equal(fmt_recv(cl, &fw), 0);
        assert_int_equal(fw.cmd.code, FM_REQ_CONSUME_MESSAGE_DIRECTLY);
        assert_string_equal(fmt_ext(&fw, "brokerName"), "broker-a");
        assert_int_equal(fm_msg_decode(fw.cmd.body.ptr, fw.cmd.body.len, &m, NULL), FM_OK);
        assert_true(fm_slice_eq(m.body, FM_SLICE_LIT("direct")));
        client_answer(cl, &fw.cmd, FM_RESP_SUCCESS, "{\"consumeResult\":\"CR_SUCCESS\"}");
        fmt_resp_free(&fw);
        recv_answer(tool, op, &r);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        fmt_resp_free(&r);
    }

    /* a client that does not answer: CONSUME_MSG_TIMEOUT after 10 s */
    op = fmt_send(tool, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUMER_RUNNING_INFO, running,
                  fm_slice_make(NULL, 0));
    assert_int_equal(fmt_recv(cl, &fw), 0); /* received, and left unanswered */
    fmt_resp_free(&fw);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_CONSUME_MSG_TIMEOUT);
    fmt_resp_free(&r);

    /* one that goes away before it answers, then is not online at all */
    op = fmt_send(tool, FM_SERIALIZE_JSON, FM_REQ_GET_CONSUMER_RUNNING_INFO, running,
                  fm_slice_make(NULL, 0));
    assert_int_equal(fmt_recv(cl, &fw), 0);
    fmt_resp_free(&fw);
    close(cl);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    fmt_resp_free(&r);
    assert_int_equal(call(FM_REQ_GET_CONSUMER_RUNNING_INFO, running, NULL, remark, sizeof(remark)),
                     FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "The Consumer <adm-relay> <10.0.0.2@7> not online");
    close(tool);
}

/* SEND_REPLY_MESSAGE_V2 as a Java consumer's reply producer sends it (header fields a..k). */
static int
send_reply(int fd_, const char *props)
{
    char born[24];
    snprintf(born, sizeof(born), "%lld", (long long)wall_ms());
    const char *kv[] = {"a", "adm-replier", "b", "DefaultCluster_REPLY_TOPIC",
                        "c", "TBW102",      "d", "4",
                        "e", "0",           "f", "0",
                        "g", born,          "h", "0",
                        "i", props,         "j", "0",
                        "k", "false",       NULL};
    return fmt_send(fd_, FM_SERIALIZE_JSON, FM_REQ_SEND_REPLY_MESSAGE_V2, kv,
                    fm_slice_cstr("pong"));
}

/* Request-reply: every stored message carries CLUSTER (what createReplyMessage reads); a reply
 * sent to <cluster>_REPLY_TOPIC is stored there and pushed to the requester its
 * REPLY_TO_CLIENT names (PUSH_REPLY_MESSAGE_TO_CLIENT), whose answer decides the replier's. */
static void
test_request_reply(void **state)
{
    int req_cl = fmt_connect(d.remoting_port, 15000), tool = fmt_connect(d.remoting_port, 15000);
    int op;
    fmt_resp r = {0}, fw = {0};
    fm_msg_view m;
    char props[300], remark[512];
    (void)state;
    assert_true(req_cl >= 0 && tool >= 0);
    /* an ordinary message is stored with the broker's cluster */
    assert_int_equal(fmt_send_msg(fd, "AdmRR", 0, "ping", "t", "k", NULL, NULL, 0), 0);
    assert_int_equal(fmt_pull(fd, "adm-rr", "AdmRR", 0, 0, 1, "*", "TAG", &r), FM_RESP_SUCCESS);
    assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &m, NULL), FM_OK);
    assert_true(fm_slice_eq(fm_props_get(m.properties, "CLUSTER"), FM_SLICE_LIT("DefaultCluster")));
    fmt_resp_free(&r);

    /* the requester is a producer online */
    heartbeat(req_cl, "{\"clientID\":\"10.0.0.3@9\",\"consumerDataSet\":[],"
                      "\"producerDataSet\":[{\"groupName\":\"adm-req\"}]}");
    snprintf(props, sizeof(props),
             "CORRELATION_ID\001c-1\002REPLY_TO_CLIENT\00110.0.0.3@9\002MSG_TYPE\001reply\002TTL"
             "\0013000\002CLUSTER\001DefaultCluster\002");
    op = send_reply(tool, props);
    assert_true(op >= 0);
    assert_int_equal(fmt_recv(req_cl, &fw), 0);
    assert_int_equal(fw.cmd.code, FM_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT);
    assert_string_equal(fmt_ext(&fw, "topic"), "DefaultCluster_REPLY_TOPIC");
    assert_string_equal(fmt_ext(&fw, "producerGroup"), "adm-replier");
    assert_non_null(strstr(fmt_ext(&fw, "properties"), "CORRELATION_ID\001c-1\002"));
    assert_non_null(strstr(fmt_ext(&fw, "properties"), "PUSH_REPLY_TIME\001"));
    assert_non_null(strstr(fmt_ext(&fw, "bornHost"), "127.0.0.1:"));
    assert_non_null(strstr(fmt_ext(&fw, "storeHost"), "127.0.0.1:"));
    assert_true(atoll(fmt_ext(&fw, "storeTimestamp")) > 1600000000000LL);
    assert_true(fm_slice_eq(fw.cmd.body, FM_SLICE_LIT("pong")));
    client_answer(req_cl, &fw.cmd, FM_RESP_SUCCESS, "");
    fmt_resp_free(&fw);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    assert_true(strlen(fmt_ext(&r, "msgId")) > 8);
    assert_string_equal(fmt_ext(&r, "queueOffset"), "0");
    fmt_resp_free(&r);
    /* and it was stored in the reply topic */
    assert_int_equal(fmt_pull(fd, "adm-rr", "DefaultCluster_REPLY_TOPIC", 0, 0, 8, "*", "TAG", &r),
                     FM_RESP_SUCCESS);
    assert_int_equal(fmt_count_records(r.cmd.body), 1);
    fmt_resp_free(&r);

    /* the requester refuses the push: the replier hears RocketMQ's words */
    op = send_reply(tool, props);
    assert_int_equal(fmt_recv(req_cl, &fw), 0);
    client_answer(req_cl, &fw.cmd, FM_RESP_SYSTEM_ERROR, "");
    fmt_resp_free(&fw);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    assert_string_equal(fmt_remark(&r), "push reply message to 10.0.0.3@9fail.");
    fmt_resp_free(&r);
    close(req_cl);

    /* nobody to push to; no REPLY_TO_CLIENT at all */
    snprintf(props, sizeof(props), "CORRELATION_ID\001c-2\002REPLY_TO_CLIENT\001nobody@1\002");
    op = send_reply(tool, props);
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    snprintf(remark, sizeof(remark), "%s", fmt_remark(&r));
    assert_string_equal(remark, "push reply message fail, channel of <nobody@1> not found.");
    fmt_resp_free(&r);
    op = send_reply(tool, "CORRELATION_ID\001c-3\002");
    recv_answer(tool, op, &r);
    assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    assert_string_equal(fmt_remark(&r), "reply message properties[REPLY_TO_CLIENT] is null");
    fmt_resp_free(&r);
    close(tool);
}

/* consumeBroadcastEnable=false (what updateSubGroup sets unless -d true): a BROADCASTING
 * push consumer of the group is refused, as PullMessageProcessor refuses it. */
static void
test_group_refuses_broadcast(void **state)
{
    int cl = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    const char *pull[] = {"consumerGroup",
                          "adm-bc",
                          "topic",
                          "AdmT",
                          "queueId",
                          "0",
                          "queueOffset",
                          "0",
                          "maxMsgNums",
                          "1",
                          "sysFlag",
                          "0",
                          "commitOffset",
                          "0",
                          "suspendTimeoutMillis",
                          "0",
                          "subVersion",
                          "0",
                          NULL};
    (void)state;
    assert_true(cl >= 0);
    assert_int_equal(update_group("adm-bc", 1, 16, 1), FM_RESP_SUCCESS);
    heartbeat(cl, "{\"clientID\":\"10.0.0.4@1\",\"consumerDataSet\":"
                  "[{\"groupName\":\"adm-bc\",\"consumeType\":"
                  "\"CONSUME_PASSIVELY\",\"messageModel\":"
                  "\"BROADCASTING\",\"subscriptionDataSet\":[{"
                  "\"topic\":\"AdmT\",\"subString\":\"*\","
                  "\"expressionType\":\"TAG\",\"subVersion\":1}]}],"
                  "\"producerDataSet\":[]}");
    assert_int_equal(code_of(cl, FM_REQ_PULL_MESSAGE, pull, fm_slice_make(NULL, 0), &r),
                     FM_RESP_NO_PERMISSION);
    assert_string_equal(fmt_remark(&r),
                        "the consumer group[adm-bc] can not consume by broadcast way");
    fmt_resp_free(&r);
    /* a pull that brings its own subscription is a pull consumer's: not checked, as RocketMQ */
    assert_int_equal(pull_code("adm-bc", "AdmT", NULL, 0), FM_RESP_SUCCESS);
    close(cl);
}

static int
ns_call(int code, const char *const *kv, fmt_resp *r)
{
    int ns = fmt_connect(d.namesrv_port, 5000), rc = -1;
    assert_true(ns >= 0);
    if (fmt_request(ns, FM_SERIALIZE_JSON, code, kv, fm_slice_make(NULL, 0), r) == 0) {
        rc = r->cmd.code;
    }
    close(ns);
    return rc;
}

/* The name server's KV config (updateKvConfig, deleteKvConfig, updateOrderConf), kept across
 * a restart; wipeWritePerm / addWritePerm on the routes. */
static void
test_namesrv_kv_and_write_perm(void **state)
{
    fmt_resp r = {0};
    const char *put[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", "AdmOrd",
                         "value",     "broker-a:4",         NULL};
    const char *get[] = {"namespace", "ORDER_TOPIC_CONFIG", "key", "AdmOrd", NULL};
    const char *list[] = {"namespace", "ORDER_TOPIC_CONFIG", NULL};
    const char *wipe[] = {"brokerName", "broker-a", NULL};
    (void)state;
    assert_int_equal(ns_call(FM_REQ_GET_KV_CONFIG, get, &r), FM_RESP_QUERY_NOT_FOUND);
    assert_string_equal(fmt_remark(&r),
                        "No config item, Namespace: ORDER_TOPIC_CONFIG Key: AdmOrd");
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_PUT_KV_CONFIG, put, &r), FM_RESP_SUCCESS);
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_GET_KV_CONFIG, get, &r), FM_RESP_SUCCESS);
    assert_string_equal(fmt_ext(&r, "value"), "broker-a:4");
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_GET_KVLIST_BY_NAMESPACE, list, &r), FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "\"AdmOrd\":\"broker-a:4\""));
    fmt_resp_free(&r);
    /* the embedded name server keeps it across a restart */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(connect_daemon(), 0);
    assert_int_equal(ns_call(FM_REQ_GET_KV_CONFIG, get, &r), FM_RESP_SUCCESS);
    assert_string_equal(fmt_ext(&r, "value"), "broker-a:4");
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_DELETE_KV_CONFIG, get, &r), FM_RESP_SUCCESS);
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_GET_KV_CONFIG, get, &r), FM_RESP_QUERY_NOT_FOUND);
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_PUT_KV_CONFIG, list, &r), FM_RESP_SYSTEM_ERROR); /* no key */
    fmt_resp_free(&r);

    /* wipeWritePerm: the routes lose PERM_WRITE (2), whatever the broker registers; then back */
    assert_int_equal(fmt_send_msg(fd, "AdmPerm", 0, "p", "t", "k", NULL, NULL, 0), 0);
    assert_int_equal(ns_call(FM_REQ_WIPE_WRITE_PERM_OF_BROKER, wipe, &r), FM_RESP_SUCCESS);
    assert_true(atoi(fmt_ext(&r, "wipeTopicCount")) > 0);
    fmt_resp_free(&r);
    assert_int_equal(
        ns_call(FM_REQ_GET_ROUTEINFO_BY_TOPIC, (const char *[]){"topic", "AdmPerm", NULL}, &r),
        FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "\"perm\":4"));
    fmt_resp_free(&r);
    assert_int_equal(ns_call(FM_REQ_ADD_WRITE_PERM_OF_BROKER, wipe, &r), FM_RESP_SUCCESS);
    assert_true(atoi(fmt_ext(&r, "addTopicCount")) > 0);
    fmt_resp_free(&r);
    assert_int_equal(
        ns_call(FM_REQ_GET_ROUTEINFO_BY_TOPIC, (const char *[]){"topic", "AdmPerm", NULL}, &r),
        FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "\"perm\":6"));
    fmt_resp_free(&r);
}

/* mqadmin producer, cleanExpiredCQ, deleteExpiredCommitLog, cleanUnusedTopic. */
static void
test_producer_table_and_maintenance(void **state)
{
    int cl = fmt_connect(d.remoting_port, 5000);
    fmt_resp r = {0};
    (void)state;
    assert_true(cl >= 0);
    heartbeat(cl, "{\"clientID\":\"10.0.0.5@3\",\"consumerDataSet\":[],"
                  "\"producerDataSet\":[{\"groupName\":\"adm-prod\"}]}");
    assert_int_equal(code_of(fd, FM_REQ_GET_ALL_PRODUCER_INFO, NULL, fm_slice_make(NULL, 0), &r),
                     FM_RESP_SUCCESS);
    {
        cJSON *j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
        const cJSON *p =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(j, "data"), "adm-prod"),
                               0);
        assert_non_null(p);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "clientId")->valuestring,
                            "10.0.0.5@3");
        assert_true(cJSON_GetObjectItemCaseSensitive(p, "lastUpdateTimestamp")->valuedouble >
                    1600000000000.0);
        cJSON_Delete(j);
    }
    fmt_resp_free(&r);
    close(cl);
    assert_int_equal(call(FM_REQ_CLEAN_EXPIRED_CONSUMEQUEUE, NULL, NULL, NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(call(FM_REQ_DELETE_EXPIRED_COMMITLOG, NULL, NULL, NULL, 0), FM_RESP_SUCCESS);
    assert_int_equal(call(FM_REQ_CLEAN_UNUSED_TOPIC, NULL, NULL, NULL, 0), FM_RESP_SUCCESS);
    /* nothing a client stored went (the messages are younger than fileReservedTime) */
    assert_int_equal(pull_code("adm-rr", "AdmRR", NULL, 0), FM_RESP_SUCCESS);
}

/* mqadmin queryCq (QUERY_CONSUME_QUEUE) and exportMetadata's system topic list. */
static void
test_query_consume_queue_and_system_topics(void **state)
{
    fmt_resp r = {0};
    char remark[512];
    cJSON *j;
    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fmt_send_msg(fd, "AdmCq", 0, "cq", "TagQ", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_CONSUME_QUEUE,
                                 (const char *[]){"topic", "AdmCq", "queueId", "0", "index", "1",
                                                  "count", "5", "consumerGroup", "adm-cq", NULL},
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    j = cJSON_ParseWithLength((const char *)r.cmd.body.ptr, r.cmd.body.len);
    fmt_resp_free(&r);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "maxQueueIndex")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "minQueueIndex")->valueint, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "queueData")), 2);
    {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "queueData"), 0);
        assert_true(cJSON_GetObjectItemCaseSensitive(e, "physicOffset")->valuedouble > 0);
        assert_true(cJSON_GetObjectItemCaseSensitive(e, "physicSize")->valueint > 0);
        /* TagQ's Java String.hashCode */
        assert_true(
            cJSON_GetObjectItemCaseSensitive(e, "tagsCode")->valuedouble ==
            (double)((int32_t)(((int64_t)'T' * 31 * 31 * 31 + 'a' * 31 * 31 + 'g' * 31 + 'Q'))));
    }
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "filterData")->valuestring,
                        "adm-cq@AdmCq is not online!");
    cJSON_Delete(j);
    assert_int_equal(
        call(FM_REQ_QUERY_CONSUME_QUEUE,
             (const char *[]){"topic", "AdmNoCq", "queueId", "0", "index", "0", "count", "1", NULL},
             NULL, remark, sizeof(remark)),
        FM_RESP_SYSTEM_ERROR);
    assert_string_equal(remark, "0@AdmNoCq is not exist!");

    assert_int_equal(
        code_of(fd, FM_REQ_GET_SYSTEM_TOPIC_LIST_FROM_BROKER, NULL, fm_slice_make(NULL, 0), &r),
        FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "\"TBW102\""));
    assert_non_null(body_has(&r, "\"DefaultCluster_REPLY_TOPIC\""));
    fmt_resp_free(&r);
}

/* mqadmin getNamesrvConfig / updateNamesrvConfig against the embedded name server. */
static void
test_namesrv_config(void **state)
{
    int ns = fmt_connect(d.namesrv_port, 5000);
    fmt_resp r = {0};
    (void)state;
    assert_true(ns >= 0);
    assert_int_equal(code_of(ns, FM_REQ_GET_NAMESRV_CONFIG, NULL, fm_slice_make(NULL, 0), &r),
                     FM_RESP_SUCCESS);
    assert_non_null(body_has(&r, "brokerExpiryMs=120000\n"));
    fmt_resp_free(&r);
    assert_int_equal(code_of(ns, FM_REQ_UPDATE_NAMESRV_CONFIG, NULL,
                             fm_slice_cstr("brokerExpiryMs=60000\n"), &r),
                     FM_RESP_SUCCESS);
    fmt_resp_free(&r);
    assert_int_equal(
        code_of(ns, FM_REQ_UPDATE_NAMESRV_CONFIG, NULL, fm_slice_cstr("noSuchThing=1\n"), &r),
        FM_RESP_SYSTEM_ERROR);
    assert_non_null(strstr(fmt_remark(&r), "noSuchThing"));
    fmt_resp_free(&r);
    assert_int_equal(fmt_request(ns, FM_SERIALIZE_JSON, FM_REQ_GET_NAMESRV_CONFIG, NULL,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_non_null(body_has(&r, "brokerExpiryMs=60000\n"));
    fmt_resp_free(&r);
    close(ns);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_client_config),
        cmocka_unit_test(test_subscription_groups),
        cmocka_unit_test(test_group_retry_max_times_decides_the_dlq),
        cmocka_unit_test(test_delete_group),
        cmocka_unit_test(test_unknown_group_refused_without_auto_create),
        cmocka_unit_test(test_topic_stats),
        cmocka_unit_test(test_connection_lists),
        cmocka_unit_test(test_delete_topic),
        cmocka_unit_test(test_delete_route_in_namesrv),
        cmocka_unit_test(test_broker_config),
        cmocka_unit_test(test_stats_runtime_info_and_consume_stats),
        cmocka_unit_test(test_vip_channel),
        cmocka_unit_test(test_search_offset_by_timestamp),
        cmocka_unit_test(test_relay_to_consumer),
        cmocka_unit_test(test_request_reply),
        cmocka_unit_test(test_group_refuses_broadcast),
        cmocka_unit_test(test_namesrv_kv_and_write_perm),
        cmocka_unit_test(test_producer_table_and_maintenance),
        cmocka_unit_test(test_query_consume_queue_and_system_topics),
        cmocka_unit_test(test_namesrv_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
