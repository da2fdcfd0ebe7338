/* client: bodies as RocketMQ 4.9's name server and broker write them (fastjson,
 * RemotingSerializable.encode = JSON.toJSONString: getters' names sorted, no pretty format,
 * map keys that are not Strings written bare), read through fm_client_json_parse and the
 * library's own readers, one test per request the CLI and the replicator send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/client_int.h"
#include "client/push_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *
parse_ok(const char *body)
{
    cJSON *j = NULL;
    fm_errbuf eb;
    assert_int_equal(fm_client_json_parse((const uint8_t *)body, strlen(body), &j, &eb), FM_OK);
    assert_non_null(j);
    return j;
}

static int
parse_rc(const char *body, size_t len)
{
    cJSON *j = NULL;
    fm_errbuf eb;
    int rc = fm_client_json_parse((const uint8_t *)body, len, &j, &eb);
    if (rc != FM_OK) {
        assert_null(j);
    }
    cJSON_Delete(j);
    return rc;
}

static const char *
str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double
num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* GET_BROKER_CLUSTER_INFO (106): ClusterInfo with BrokerData.brokerAddrs a HashMap<Long,String>,
 * which fastjson writes with bare integer keys. This is the body that made `ferrymq cluster`,
 * `topic create` and `group list` fail against a stock name server. */
static void
test_json_cluster_info_bare_broker_ids(void **state)
{
    const char *body =
        "{\"brokerAddrTable\":{\"broker-a\":{\"brokerAddrs\":{0:\"127.0.0.1:10911\",1:"
        "\"127.0.0.1:10921\"},\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"},"
        "\"broker-b\":{\"brokerAddrs\":{1:\"10.0.0.2:10921\"},\"brokerName\":\"broker-b\","
        "\"cluster\":\"DefaultCluster\"}},\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-b\","
        "\"broker-a\"]}}";
    ferrymq_broker_info *bs = NULL;
    size_t n = 0;
    cJSON *j, *raw;
    (void)state;
    /* what the old reader did: cJSON alone refuses it */
    raw = cJSON_ParseWithLength(body, strlen(body));
    assert_null(raw);
    j = parse_ok(body);
    assert_int_equal(fm_client_cluster_brokers(j, &bs, &n), FM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(bs[0].broker_name, "broker-a");
    assert_string_equal(bs[0].cluster, "DefaultCluster");
    assert_int_equal(bs[0].broker_id, 0);
    assert_string_equal(bs[0].addr, "127.0.0.1:10911");
    assert_int_equal(bs[1].broker_id, 1);
    assert_string_equal(bs[1].addr, "127.0.0.1:10921");
    /* broker-b has only a slave: no master for topic create / group list to talk to */
    assert_string_equal(bs[2].broker_name, "broker-b");
    assert_int_equal(bs[2].broker_id, 1);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "clusterAddrTable"), "DefaultCluster")),
        2);
    free(bs);
    cJSON_Delete(j);

    /* ids that are not integers or addresses that are not strings are skipped, not guessed */
    j = parse_ok("{\"brokerAddrTable\":{\"b\":{\"brokerAddrs\":{\"x\":\"h:1\",\"0\":5,"
                 "\"2\":\"h:2\"},\"brokerName\":\"b\"}}}");
    assert_int_equal(fm_client_cluster_brokers(j, &bs, &n), FM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(bs[0].broker_id, 2);
    assert_string_equal(bs[0].cluster, "");
    free(bs);
    cJSON_Delete(j);
    /* shapes that are not ClusterInfo: nothing taken, nothing read out of bounds */
    j = parse_ok("{\"brokerAddrTable\":{\"b\":{\"brokerAddrs\":[\"h:1\"]},\"c\":{\"brokerAddrs\":"
                 "\"h:2\"}},\"x\":[{\"brokerAddrs\":{\"0\":\"h:3\"}}]}");
    assert_int_equal(fm_client_cluster_brokers(j, &bs, &n), FM_OK);
    assert_int_equal(n, 0);
    free(bs);
    cJSON_Delete(j);
    j = parse_ok("{\"brokerAddrTable\":[{\"brokerAddrs\":{\"0\":\"h:3\"}}]}");
    assert_int_equal(fm_client_cluster_brokers(j, &bs, &n), FM_OK);
    assert_int_equal(n, 0);
    free(bs);
    cJSON_Delete(j);
    /* a name server that knows nothing */
    j = parse_ok("{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");
    assert_int_equal(fm_client_cluster_brokers(j, &bs, &n), FM_OK);
    assert_int_equal(n, 0);
    free(bs);
    cJSON_Delete(j);
}

/* GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206): TopicList, topicList a HashSet<String> (an array;
 * brokerAddr is null there, so fastjson leaves it out; a broker's answer carries it). */
static void
test_json_topic_list(void **state)
{
    cJSON *j = parse_ok("{\"brokerAddr\":\"127.0.0.1:10911\",\"topicList\":[\"TBW102\","
                        "\"DefaultCluster\",\"%RETRY%G1\",\"broker-a\",\"T1\"]}");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "topicList");
    (void)state;
    assert_true(cJSON_IsArray(list));
    assert_int_equal(cJSON_GetArraySize(list), 5);
    assert_string_equal(cJSON_GetArrayItem(list, 2)->valuestring, "%RETRY%G1");
    cJSON_Delete(j);
}

/* GET_ROUTEINFO_BY_TOPIC (105): TopicRouteData (orderTopicConf null, so absent), brokerDatas'
 * brokerAddrs bare-keyed, an empty filterServerTable. */
static void
test_json_route_info(void **state)
{
    const char *body = "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"127.0.0.1:10911\",1:"
                       "\"127.0.0.1:10921\"},\"brokerName\":\"broker-a\",\"cluster\":"
                       "\"DefaultCluster\"},{\"brokerAddrs\":{0:\"127.0.0.2:10911\"},"
                       "\"brokerName\":\"broker-b\",\"cluster\":\"DefaultCluster\"}],"
                       "\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-a\","
                       "\"perm\":6,\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4},"
                       "{\"brokerName\":\"broker-b\",\"perm\":4,\"readQueueNums\":2,"
                       "\"topicSysFlag\":0,\"writeQueueNums\":2}]}";
    client_route *r = NULL;
    fm_errbuf eb;
    int wa = 0, rb = 0;
    (void)state;
    assert_int_equal(fm_client_route_parse((const uint8_t *)body, strlen(body), &r, &eb), FM_OK);
    assert_int_equal(r->n, 6);
    assert_int_equal(r->n_writable, 4); /* broker-b is read-only (perm 4) */
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->q[i].broker_name, "broker-a") == 0) {
            assert_string_equal(r->q[i].addr, "127.0.0.1:10911"); /* the master, id 0 */
            wa += r->q[i].writable;
        } else {
            assert_string_equal(r->q[i].addr, "127.0.0.2:10911");
            assert_false(r->q[i].writable);
            rb += r->q[i].readable;
        }
    }
    assert_int_equal(wa, 4);
    assert_int_equal(rb, 2);
    free(r);
    /* not a route at all */
    assert_int_equal(fm_client_route_parse((const uint8_t *)"{0:1}", 5, &r, &eb), FM_EPROTO);
    assert_int_equal(fm_client_route_parse((const uint8_t *)"{\"brokerDatas\":[", 15, &r, &eb),
                     FM_EPROTO);
}

/* GET_CONSUMER_LIST_BY_GROUP (38): ConsumerListByGroupResponseBody. Client ids are
 * ip@instanceName, and an instance name may be any text: fastjson writes it as raw UTF-8. */
static void
test_json_consumer_list(void **state)
{
    cJSON *j = parse_ok("{\"consumerIdList\":[\"10.0.0.1@12345#8364815937917\","
                        "\"10.0.0.2@\xe6\x9d\xb1\xe4\xba\xac-\\\"1\\\"\"]}");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "consumerIdList");
    (void)state;
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "10.0.0.1@12345#8364815937917");
    assert_string_equal(cJSON_GetArrayItem(list, 1)->valuestring,
                        "10.0.0.2@\xe6\x9d\xb1\xe4\xba\xac-\"1\"");
    cJSON_Delete(j);
}

/* LOCK_BATCH_MQ (41): LockBatchResponseBody, lockOKMQSet a HashSet<MessageQueue> (an array of
 * objects, fields sorted: brokerName, queueId, topic). */
static void
test_json_lock_batch(void **state)
{
    cJSON *j = parse_ok("{\"lockOKMQSet\":[{\"brokerName\":\"broker-a\",\"queueId\":3,\"topic\":"
                        "\"T\"},{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}]}");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(j, "lockOKMQSet");
    (void)state;
    assert_int_equal(cJSON_GetArraySize(set), 2);
    assert_string_equal(str(cJSON_GetArrayItem(set, 0), "brokerName"), "broker-a");
    assert_int_equal(num(cJSON_GetArrayItem(set, 0), "queueId"), 3);
    assert_string_equal(str(cJSON_GetArrayItem(set, 1), "topic"), "T");
    cJSON_Delete(j);
    /* nothing granted: an empty set */
    j = parse_ok("{\"lockOKMQSet\":[]}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "lockOKMQSet")), 0);
    cJSON_Delete(j);
}

/* GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): SubscriptionGroupWrapper, the table keyed by group
 * name (String keys: quoted), dataVersion's counter an AtomicLong (a number). */
static void
test_json_subscription_groups(void **state)
{
    cJSON *j = parse_ok(
        "{\"dataVersion\":{\"counter\":2,\"timestamp\":1764000000000},\"subscriptionGroupTable\":{"
        "\"CID_RMQ_SYS_TRANS\":{\"brokerId\":0,\"consumeBroadcastEnable\":true,\"consumeEnable\":"
        "true,\"consumeFromMinEnable\":true,\"groupName\":\"CID_RMQ_SYS_TRANS\","
        "\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":16,\"retryQueueNums\":1,"
        "\"whichBrokerWhenConsumeSlowly\":1},\"G1\":{\"brokerId\":0,\"consumeBroadcastEnable\":"
        "true,\"consumeEnable\":true,\"consumeFromMinEnable\":true,\"groupName\":\"G1\","
        "\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":16,\"retryQueueNums\":1,"
        "\"whichBrokerWhenConsumeSlowly\":1}}}");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "subscriptionGroupTable");
    char **names = NULL;
    size_t n = 0, cap = 0;
    (void)state;
    assert_string_equal(str(cJSON_GetArrayItem(t, 1), "groupName"), "G1");
    assert_int_equal(num(cJSON_GetObjectItemCaseSensitive(j, "dataVersion"), "timestamp"),
                     1764000000000.0);
    /* what `group list` collects, once per name across brokers */
    assert_int_equal(fm_client_groups_read(j, &names, &n, &cap), FM_OK);
    assert_int_equal(fm_client_groups_read(j, &names, &n, &cap), FM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "CID_RMQ_SYS_TRANS");
    assert_string_equal(names[1], "G1");
    cJSON_Delete(j);
    /* no table, or one that is not a map: nothing added, nothing dereferenced */
    j = parse_ok("{\"subscriptionGroupTable\":[{\"groupName\":\"X\"}]}");
    assert_int_equal(fm_client_groups_read(j, &names, &n, &cap), FM_OK);
    cJSON_Delete(j);
    j = parse_ok("{\"dataVersion\":{}}");
    assert_int_equal(fm_client_groups_read(j, &names, &n, &cap), FM_OK);
    cJSON_Delete(j);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* GET_CONSUME_STATS (208): ConsumeStats, offsetTable a HashMap<MessageQueue,OffsetWrapper>:
 * objects as keys. Each key is a string after the rewrite, and parses back to the queue. */
static void
test_json_consume_stats_object_keys(void **state)
{
    const char *body = "{\"consumeTps\":0.0,\"offsetTable\":{{\"brokerName\":\"broker-a\","
                       "\"queueId\":0,\"topic\":\"T\"}:{\"brokerOffset\":10,\"consumerOffset\":7,"
                       "\"lastTimestamp\":1764000000000},{\"brokerName\":\"b}\\\"\\\\\","
                       "\"queueId\":1,\"topic\":\"T\"}:{\"brokerOffset\":4,\"consumerOffset\":4,"
                       "\"lastTimestamp\":0}}}";
    cJSON *j, *k;
    const cJSON *t, *e;
    ferrymq_queue_progress *rows = NULL;
    size_t n = 0, cap = 0;
    (void)state;
    assert_null(cJSON_ParseWithLength(body, strlen(body)));
    j = parse_ok(body);
    t = cJSON_GetObjectItemCaseSensitive(j, "offsetTable");
    assert_int_equal(cJSON_GetArraySize(t), 2);
    e = cJSON_GetArrayItem(t, 0);
    assert_int_equal(num(e, "consumerOffset"), 7);
    k = parse_ok(e->string);
    assert_string_equal(str(k, "brokerName"), "broker-a");
    assert_int_equal(num(k, "queueId"), 0);
    cJSON_Delete(k);
    /* quotes, a backslash and a brace inside the key's strings survive the round trip */
    e = cJSON_GetArrayItem(t, 1);
    k = parse_ok(e->string);
    assert_string_equal(str(k, "brokerName"), "b}\"\\");
    assert_int_equal(num(k, "queueId"), 1);
    cJSON_Delete(k);
    /* what `group progress` shows */
    assert_int_equal(fm_client_consume_stats_read(j, &rows, &n, &cap), FM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].queue.topic, "T");
    assert_string_equal(rows[0].queue.broker_name, "broker-a");
    assert_int_equal(rows[0].queue.queue_id, 0);
    assert_int_equal(rows[0].broker_offset, 10);
    assert_int_equal(rows[0].consumer_offset, 7);
    assert_int_equal(rows[0].last_timestamp, 1764000000000LL);
    assert_string_equal(rows[1].queue.broker_name, "b}\"\\");
    assert_int_equal(rows[1].queue.queue_id, 1);
    cJSON_Delete(j);
    /* keys that are not queues are skipped; a table that is not a map adds nothing */
    j = parse_ok("{\"offsetTable\":{\"plain\":{\"brokerOffset\":1},{\"topic\":\"T\"}:{}}}");
    assert_int_equal(fm_client_consume_stats_read(j, &rows, &n, &cap), FM_OK);
    cJSON_Delete(j);
    j = parse_ok("{\"offsetTable\":[{\"brokerOffset\":1}]}");
    assert_int_equal(fm_client_consume_stats_read(j, &rows, &n, &cap), FM_OK);
    cJSON_Delete(j);
    assert_int_equal(n, 2);
    free(rows);
}

typedef struct reset_seen {
    ferrymq_queue q[4];
    int64_t off[4];
    int n;
} reset_seen;

static void
reset_note(void *ud, const ferrymq_queue *q, int64_t offset)
{
    reset_seen *r = ud;
    if (r->n < 4) {
        r->q[r->n] = *q;
        r->off[r->n++] = offset;
    }
}

/* RESET_CONSUMER_CLIENT_OFFSET (220, the broker to the consumer) and the answer to
 * INVOKE_BROKER_TO_RESET_OFFSET (222): ResetOffsetBody, a HashMap<MessageQueue,Long>. */
static void
test_json_reset_offset_body(void **state)
{
    const char *body = "{\"offsetTable\":{{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":"
                       "\"T\"}:5,{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"T\"}:"
                       "1099511627776}}";
    reset_seen r;
    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(fm_push_reset_table_parse((const uint8_t *)body, strlen(body), reset_note, &r),
                     FM_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.q[0].broker_name, "broker-a");
    assert_int_equal(r.q[0].queue_id, 0);
    assert_int_equal(r.off[0], 5);
    assert_int_equal(r.q[1].queue_id, 1);
    assert_int_equal(r.off[1], 1099511627776LL);
}

/* Other keys fastjson writes bare: Map<Long,..> (negative, Long.MAX_VALUE kept exact as the
 * key's text), Map<Boolean,..>, a null key, Map<Double,..>, a collection as key; enums are
 * written by name, quoted, and need nothing. */
static void
test_json_scalar_and_composite_keys(void **state)
{
    cJSON *j = parse_ok("{-1:\"a\",9223372036854775807:\"b\",true:1,null:2,1.5E10:3,"
                        "\"CONSUME_PASSIVELY\":4,[1,\"x]\"]:5, 0 :{7:{8:[]}}}");
    const cJSON *c;
    cJSON *k;
    (void)state;
    assert_string_equal(str(j, "-1"), "a");
    assert_string_equal(str(j, "9223372036854775807"), "b");
    assert_int_equal(num(j, "true"), 1);
    assert_int_equal(num(j, "null"), 2);
    assert_int_equal(num(j, "1.5E10"), 3);
    assert_int_equal(num(j, "CONSUME_PASSIVELY"), 4);
    assert_int_equal(num(j, "[1,\"x]\"]"), 5);
    c = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "0"), "7"), "8");
    assert_true(cJSON_IsArray(c));
    cJSON_Delete(j);
    /* a composite key holding bare keys of its own: normalised when it is parsed in turn */
    j = parse_ok("{{0:\"a\"}:1}");
    k = parse_ok(j->child->string);
    assert_string_equal(str(k, "0"), "a");
    cJSON_Delete(k);
    cJSON_Delete(j);
}

/* Strings are never touched: "{0:" or "{{" inside a value stay as they are, and so do raw
 * UTF-8 and fastjson's \uXXXX escapes (it escapes control characters and U+2028/9). */
static void
test_json_strings_untouched(void **state)
{
    cJSON *j = parse_ok("{0:\"x{0:y,1:{{z\",\"k\":\"\xe4\xb8\xad\\u2028\\u0001\\\\\"}");
    (void)state;
    assert_string_equal(str(j, "0"), "x{0:y,1:{{z");
    assert_string_equal(str(j, "k"), "\xe4\xb8\xad\xe2\x80\xa8\x01\\");
    cJSON_Delete(j);
}

/* Standard JSON (ferrymqd's) is not copied: out is not even touched. */
static void
test_json_standard_passes_without_copy(void **state)
{
    const char *std = "{\"brokerAddrs\":{\"0\":\"h:1\"},\"a\":[{},[],\"{0:\"]}";
    fm_buf out = {0};
    int rewritten = 1;
    (void)state;
    assert_int_equal(fm_buf_append(&out, "keep", 4), FM_OK);
    assert_int_equal(fm_client_json_normalise((const uint8_t *)std, strlen(std), &out, &rewritten),
                     FM_OK);
    assert_int_equal(rewritten, 0);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "keep", 4);
    /* a rewrite produces the whole body, not only what followed the first key */
    assert_int_equal(fm_client_json_normalise((const uint8_t *)"[1,{0:2}]", 9, &out, &rewritten),
                     FM_OK);
    assert_int_equal(rewritten, 1);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "[1,{\"0\":2}]", 11);
    fm_buf_free(&out);
}

/* Malformed bodies are FM_EPROTO, never a crash or a half-read tree. */
static void
test_json_malformed(void **state)
{
    static char deep[2100];
    (void)state;
    assert_int_equal(parse_rc("", 0), FM_EPROTO);
    assert_int_equal(parse_rc("{\"a", 3), FM_EPROTO);       /* unterminated string */
    assert_int_equal(parse_rc("{{\"a\":1", 7), FM_EPROTO);  /* unterminated object key */
    assert_int_equal(parse_rc("{[1,2:3}", 8), FM_EPROTO);   /* unterminated array key */
    assert_int_equal(parse_rc("{\"a\":1}}", 8), FM_EPROTO); /* unbalanced */
    assert_int_equal(parse_rc("{\"a\":1}x", 8), FM_EPROTO); /* trailing garbage */
    assert_int_equal(parse_rc("{'a':1}", 7), FM_EPROTO);    /* not a fastjson key */
    assert_int_equal(parse_rc("{0 1:2}", 7), FM_EPROTO);    /* rewritten, still not JSON */
    assert_int_equal(parse_rc("{\"a\":1}\n\0", 9), FM_OK);  /* blanks and a NUL may follow */
    memset(deep, '[', 1001);
    assert_int_equal(parse_rc(deep, 1001), FM_EPROTO); /* deeper than cJSON's limit */
    memset(deep, '{', 1);
    memset(deep + 1, '{', 1200);
    assert_int_equal(parse_rc(deep, 1201), FM_EPROTO); /* a key nested past the limit */
}

/* Out of memory while rewriting (fault point client.json.alloc): FM_ENOMEM from the parser and
 * from the readers built on it, nothing half-built; bodies needing no rewrite still parse. */
static void
test_json_out_of_memory(void **state)
{
    const char *fj = "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"h:1\"},\"brokerName\":\"b\"}],"
                     "\"queueDatas\":[{\"brokerName\":\"b\",\"perm\":6,\"readQueueNums\":1,"
                     "\"writeQueueNums\":1}]}";
    const char *reset =
        "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:5}}";
    client_route *r = NULL;
    reset_seen seen;
    cJSON *j = NULL;
    fm_errbuf eb;
    (void)state;
    memset(&seen, 0, sizeof(seen));
    setenv("FM_FAULT", "client.json.alloc", 1);
    assert_int_equal(fm_client_json_parse((const uint8_t *)fj, strlen(fj), &j, &eb), FM_ENOMEM);
    assert_null(j);
    assert_int_equal(fm_client_route_parse((const uint8_t *)fj, strlen(fj), &r, &eb), FM_ENOMEM);
    assert_null(r);
    assert_int_equal(
        fm_push_reset_table_parse((const uint8_t *)reset, strlen(reset), reset_note, &seen),
        FM_ENOMEM);
    assert_int_equal(seen.n, 0);
    j = parse_ok("{\"consumerIdList\":[\"a\"]}");
    cJSON_Delete(j);
    unsetenv("FM_FAULT");
    assert_int_equal(fm_client_route_parse((const uint8_t *)fj, strlen(fj), &r, &eb), FM_OK);
    free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_cluster_info_bare_broker_ids),
        cmocka_unit_test(test_json_topic_list),
        cmocka_unit_test(test_json_route_info),
        cmocka_unit_test(test_json_consumer_list),
        cmocka_unit_test(test_json_lock_batch),
        cmocka_unit_test(test_json_subscription_groups),
        cmocka_unit_test(test_json_consume_stats_object_keys),
        cmocka_unit_test(test_json_reset_offset_body),
        cmocka_unit_test(test_json_scalar_and_composite_keys),
        cmocka_unit_test(test_json_strings_untouched),
        cmocka_unit_test(test_json_standard_passes_without_copy),
        cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_json_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
