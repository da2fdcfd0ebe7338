/* Name server registry: registration, routes, topic list, cluster info, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "namesrv/registry.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *TOPICS_AB =
    "{\"topicConfigTable\":{\"A\":{\"topicName\":\"A\",\"readQueueNums\":8,\"writeQueueNums\":8,"
    "\"perm\":6},\"B\":{\"topicName\":\"B\",\"readQueueNums\":2,\"writeQueueNums\":2,\"perm\":4}},"
    "\"dataVersion\":{\"timestamp\":1,\"counter\":1}}";

static cJSON *
parse_out(fm_buf *b)
{
    cJSON *j = cJSON_ParseWithLength((const char *)b->data, b->len);
    assert_non_null(j);
    return j;
}

static void
test_registry_route_has_queue_and_broker_data(void **state)
{
    (void)state;
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(fm_namesrv_register(reg, "C1", "broker-a", 0, "127.0.0.1:10911",
                                         fm_slice_cstr(TOPICS_AB), 1000, NULL),
                     FM_OK);
    assert_int_equal(fm_namesrv_route_json(reg, "A", &out), FM_OK);
    cJSON *j = parse_out(&out);
    cJSON *qd = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "queueDatas"), 0);
    assert_int_equal(cJSON_GetObjectItem(qd, "writeQueueNums")->valueint, 8);
    assert_int_equal(cJSON_GetObjectItem(qd, "perm")->valueint, 6);
    cJSON *bd = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "brokerDatas"), 0);
    assert_string_equal(cJSON_GetObjectItem(bd, "cluster")->valuestring, "C1");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(bd, "brokerAddrs"), "0")->valuestring,
        "127.0.0.1:10911");
    cJSON_Delete(j);
    fm_buf_reset(&out);
    assert_int_equal(fm_namesrv_route_json(reg, "missing", &out), FM_ENOTFOUND);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
}

static void
test_registry_master_and_slave_share_broker_data(void **state)
{
    (void)state;
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C1", "b", 0, "h:1", fm_slice_cstr(TOPICS_AB), 1, NULL), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C1", "b", 1, "h:2", fm_slice_cstr(TOPICS_AB), 1, NULL), FM_OK);
    assert_int_equal(fm_namesrv_route_json(reg, "B", &out), FM_OK);
    cJSON *j = parse_out(&out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "brokerDatas")), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queueDatas")), 1);
    cJSON *addrs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "brokerDatas"), 0),
                                       "brokerAddrs");
    assert_string_equal(cJSON_GetObjectItem(addrs, "1")->valuestring, "h:2");
    cJSON_Delete(j);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
}

static void
test_registry_expiry_drops_silent_brokers(void **state)
{
    (void)state;
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "x", 0, "h:1", fm_slice_cstr(TOPICS_AB), 0, NULL), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "y", 0, "h:2", fm_slice_cstr(TOPICS_AB), 100000, NULL),
        FM_OK);
    assert_int_equal(fm_namesrv_expire(reg, 120001, 120000), 1);
    assert_int_equal(fm_namesrv_broker_count(reg), 1);
    /* A refresh without a body keeps the broker's topics. */
    assert_int_equal(
        fm_namesrv_register(reg, "C", "y", 0, "h:2", fm_slice_make(NULL, 0), 200000, NULL), FM_OK);
    assert_int_equal(fm_namesrv_route_json(reg, "A", &out), FM_OK);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
}

static void
test_registry_rejects_bad_register(void **state)
{
    (void)state;
    fm_namesrv_registry *reg;
    fm_errbuf eb;
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(fm_namesrv_register(reg, "C", "", 0, "h:1", fm_slice_make(NULL, 0), 0, &eb),
                     FM_EINVAL);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "b", 0, "h:1", fm_slice_cstr("{not json"), 0, &eb),
        FM_EINVAL);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "b", 0, "h:1", fm_slice_cstr("{\"x\":1}"), 0, &eb),
        FM_EINVAL);
    assert_non_null(strstr(eb.msg, "topicConfigTable"));
    assert_int_equal(fm_namesrv_broker_count(reg), 0);
    assert_int_equal(fm_namesrv_unregister(reg, "C", "b", 0, "h:1"), FM_ENOTFOUND);
    fm_namesrv_registry_free(reg);
}

static void
test_registry_topic_list_and_cluster_info(void **state)
{
    (void)state;
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "x", 0, "h:1", fm_slice_cstr(TOPICS_AB), 0, NULL), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C", "y", 0, "h:2", fm_slice_cstr(TOPICS_AB), 0, NULL), FM_OK);
    assert_int_equal(fm_namesrv_topic_list_json(reg, &out), FM_OK);
    cJSON *j = parse_out(&out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "topicList")), 2);
    cJSON_Delete(j);
    fm_buf_reset(&out);
    assert_int_equal(fm_namesrv_cluster_json(reg, &out), FM_OK);
    j = parse_out(&out);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "clusterAddrTable"), "C")),
        2);
    cJSON_Delete(j);
    assert_int_equal(fm_namesrv_unregister(reg, "C", "x", 0, "h:1"), FM_OK);
    assert_int_equal(fm_namesrv_broker_count(reg), 1);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
}

/* DELETE_TOPIC_IN_NAMESRV: the route goes for the named cluster's brokers (or all); a broker
 * that registers the topic again brings it back. */
static void
test_registry_delete_topic(void **state)
{
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    (void)state;
    assert_int_equal(fm_namesrv_registry_new(&reg), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C1", "x", 0, "h:1", fm_slice_cstr(TOPICS_AB), 0, NULL), FM_OK);
    assert_int_equal(
        fm_namesrv_register(reg, "C2", "y", 0, "h:2", fm_slice_cstr(TOPICS_AB), 0, NULL), FM_OK);
    assert_int_equal(fm_namesrv_delete_topic(reg, "A", "C1"), 1);
    fm_buf_reset(&out);
    assert_int_equal(fm_namesrv_route_json(reg, "A", &out), FM_OK); /* still on y */
    assert_null(memmem(out.data, out.len, "\"h:1\"", 5));
    assert_int_equal(fm_namesrv_delete_topic(reg, "A", NULL), 1);
    fm_buf_reset(&out);
    assert_int_equal(fm_namesrv_route_json(reg, "A", &out), FM_ENOTFOUND);
    assert_int_equal(fm_namesrv_delete_topic(reg, "A", ""), 0);
    assert_int_equal(
        fm_namesrv_register(reg, "C1", "x", 0, "h:1", fm_slice_cstr(TOPICS_AB), 1, NULL), FM_OK);
    fm_buf_reset(&out);
    assert_int_equal(fm_namesrv_route_json(reg, "A", &out), FM_OK);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_route_has_queue_and_broker_data),
        cmocka_unit_test(test_registry_master_and_slave_share_broker_data),
        cmocka_unit_test(test_registry_expiry_drops_silent_brokers),
        cmocka_unit_test(test_registry_rejects_bad_register),
        cmocka_unit_test(test_registry_delete_topic),
        cmocka_unit_test(test_registry_topic_list_and_cluster_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
