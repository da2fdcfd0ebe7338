/*
 * h_conn.c - what mqadmin's topicStatus, consumerConnection and producerConnection ask, as
 * RocketMQ 4.9's AdminBrokerProcessor answers:
 *   GET_TOPIC_STATS_INFO (202)          per write queue: min and max offset and the store time
 *                                       of the last message (TopicStatsTable, fastjson's
 *                                       MessageQueue object keys)
 *   GET_CONSUMER_CONNECTION_LIST (203)  a group's online consumers (ConsumerConnection: the
 *                                       connections, the group's subscriptions and modes), or
 *                                       CONSUMER_NOT_ONLINE (206)
 *   GET_PRODUCER_CONNECTION_LIST (204)  a producer group's connections, or SYSTEM_ERROR
 *                                       "the producer group[G] not exist" (RocketMQ's code 1)
 * The clients are those HEART_BEAT registered (h_client.c), with the language and version of
 * their heartbeat and the address of its connection.
 */
#include "broker/broker_int.h"
#include "proto/codes.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fm_broker_h_topic_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256], vals[200];
    fm_store_topic t;
    fm_buf body = {0};
    int rc = FM_OK;
    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    if (fm_store_topic_get(b->st, topic, &t) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_TOPIC_NOT_EXIST, "topic[%s] not exist", topic);
        return;
    }
    rc |= fm_buf_append(&body, "{\"offsetTable\":{", 16);
    for (int q = 0; q < t.write_queue_nums; q++) {
        int64_t min = fm_store_min_offset(b->st, topic, q);
        int64_t max = fm_store_max_offset(b->st, topic, q);
        min = min < 0 ? 0 : min;
        max = max < 0 ? 0 : max;
        snprintf(vals, sizeof(vals),
                 ":{\"lastUpdateTimestamp\":%" PRId64 ",\"maxOffset\":%" PRId64
                 ",\"minOffset\":%" PRId64 "}",
                 max > 0 ? fm_broker_store_time_at(b, topic, q, max - 1) : 0, max, min);
        if (q > 0) {
            rc |= fm_buf_append(&body, ",", 1);
        }
        rc |= fm_broker_append_mq_key(&body, b->cfg.broker_name, topic, q);
        rc |= fm_buf_append(&body, vals, strlen(vals));
    }
    rc |= fm_buf_append(&body, "}}", 2);
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
    } else {
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&body));
    }
    fm_buf_free(&body);
}

/* Connection {clientAddr, clientId, language, version}, fastjson's field order. */
static void
add_connection(cJSON *set, const client_entry *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "clientAddr", fm_net_conn_peer(c->conn));
    cJSON_AddStringToObject(o, "clientId", c->client_id);
    cJSON_AddStringToObject(o, "language", fm_proto_lang_name(c->language));
    cJSON_AddNumberToObject(o, "version", c->version);
    cJSON_AddItemToArray(set, o);
}

static int
client_online(const client_entry *c)
{
    return c->conn != NULL && !fm_net_conn_is_closed(c->conn);
}

/* One SubscriptionData of the group's subscription table. */
static void
add_subscription(const char *topic, const char *type, const char *expr, int64_t version, void *ud)
{
    cJSON *o = cJSON_AddObjectToObject(ud, topic), *tags;
    cJSON_AddBoolToObject(o, "classFilterMode", 0);
    cJSON_AddItemToObject(o, "codeSet", cJSON_CreateArray());
    cJSON_AddStringToObject(o, "expressionType", type);
    cJSON_AddStringToObject(o, "subString", expr);
    cJSON_AddNumberToObject(o, "subVersion", (double)version);
    tags = cJSON_AddArrayToObject(o, "tagsSet");
    if (strcmp(type, "TAG") == 0 && strcmp(expr, "*") != 0 && expr[0] != '\0') {
        /* "a || b" as the client's tagsSet: each tag trimmed */
        const char *p = expr;
        while (*p != '\0') {
            const char *bar = strstr(p, "||"), *end = bar ? bar : p + strlen(p);
            while (p < end && *p == ' ') {
                p++;
            }
            while (end > p && end[-1] == ' ') {
                end--;
            }
            if (end > p) {
                char tag[256];
                snprintf(tag, sizeof(tag), "%.*s", (int)(end - p), p);
                cJSON_AddItemToArray(tags, cJSON_CreateString(tag));
            }
            p = bar ? bar + 2 : p + strlen(p);
        }
    }
    cJSON_AddStringToObject(o, "topic", topic);
}

void
fm_broker_h_consumer_connections(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256];
    cJSON *root, *set;
    const client_entry *last = NULL;
    if (fm_broker_need_str(b, conn, req, "consumerGroup", group, sizeof(group)) != FM_OK) {
        return;
    }
    root = cJSON_CreateObject();
    set = cJSON_AddArrayToObject(root, "connectionSet");
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        if (c->is_consumer && client_online(c) && strcmp(c->group, group) == 0) {
            add_connection(set, c);
            last = c;
        }
    }
    if (last == NULL) {
        cJSON_Delete(root);
        fm_broker_reply_err(b, conn, req, FM_RESP_CONSUMER_NOT_ONLINE,
                            "the consumer group[%s] not online", group);
        return;
    }
    /* the group's modes as its latest member said them (RocketMQ keeps the group's last) */
    if (last->consume_from_where[0] != '\0') {
        cJSON_AddStringToObject(root, "consumeFromWhere", last->consume_from_where);
    }
    if (last->consume_type[0] != '\0') {
        cJSON_AddStringToObject(root, "consumeType", last->consume_type);
    }
    if (last->message_model[0] != '\0') {
        cJSON_AddStringToObject(root, "messageModel", last->message_model);
    }
    fm_broker_subs_foreach(b, group, add_subscription,
                           cJSON_AddObjectToObject(root, "subscriptionTable"));
    fm_broker_reply_json(b, conn, req, root);
}

void
fm_broker_h_producer_connections(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256];
    cJSON *root, *set;
    int n = 0;
    if (fm_broker_need_str(b, conn, req, "producerGroup", group, sizeof(group)) != FM_OK) {
        return;
    }
    root = cJSON_CreateObject();
    set = cJSON_AddArrayToObject(root, "connectionSet");
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        if (!c->is_consumer && client_online(c) && strcmp(c->group, group) == 0) {
            add_connection(set, c);
            n++;
        }
    }
    if (n == 0) {
        cJSON_Delete(root);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "the producer group[%s] not exist",
                            group);
        return;
    }
    fm_broker_reply_json(b, conn, req, root);
}

/* QUERY_CONSUME_QUEUE (321), mqadmin queryCq: count consume-queue entries of a queue from
 * index, as AdminBrokerProcessor.queryConsumeQueue (QueryConsumeQueueResponseBody; with
 * consumerGroup, the group's subscription or why there is none). */
void
fm_broker_h_query_consume_queue(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256], group[256];
    int64_t qid, index, count, min = 0, max = 0;
    fm_store_cq_row rows[256];
    int n = 0, have_group;
    cJSON *root, *list, *subs = NULL;
    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "queueId", &qid) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "index", &index) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "count", &count) != FM_OK) {
        return;
    }
    if (qid < 0 || qid > 65535 ||
        fm_store_queue_rows(b->st, topic, (int)qid, index, 0, rows, &n, &min, &max) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "%" PRId64 "@%s is not exist!", qid,
                            topic);
        return;
    }
    if (index < min || index >= max) {
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
        return;
    }
    count = count < 0 ? 0 : count > 256 ? 256 : count;
    fm_store_queue_rows(b->st, topic, (int)qid, index, (int)count, rows, &n, &min, &max);
    have_group =
        fm_broker_ext_str(req, "consumerGroup", group, sizeof(group)) == FM_OK && group[0] != '\0';
    root = cJSON_CreateObject();
    if (have_group) {
        subs = cJSON_CreateObject();
        fm_broker_subs_foreach(b, group, add_subscription, subs);
        if (cJSON_GetObjectItemCaseSensitive(subs, topic) == NULL) {
            char why[600];
            snprintf(why, sizeof(why), "%s@%s is not online!", group, topic);
            cJSON_AddStringToObject(root, "filterData", why);
        }
    }
    cJSON_AddNumberToObject(root, "maxQueueIndex", (double)max);
    cJSON_AddNumberToObject(root, "minQueueIndex", (double)min);
    list = cJSON_AddArrayToObject(root, "queueData");
    for (int i = 0; i < n; i++) {
        /* ConsumeQueueData: eval is a primitive (always there), the strings only when set */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "eval", 0);
        cJSON_AddNumberToObject(o, "physicOffset", (double)rows[i].phys);
        cJSON_AddNumberToObject(o, "physicSize", rows[i].size);
        cJSON_AddNumberToObject(o, "tagsCode", (double)rows[i].tag_hash);
        cJSON_AddItemToArray(list, o);
    }
    if (subs != NULL) {
        cJSON *sd = cJSON_DetachItemFromObjectCaseSensitive(subs, topic);
        if (sd != NULL) {
            cJSON_AddItemToObject(root, "subscriptionData", sd);
        }
        cJSON_Delete(subs);
    }
    fm_broker_reply_json(b, conn, req, root);
}

/* GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305), mqadmin exportMetadata / exportMetrics: RocketMQ's
 * TopicValidator system topic set as this broker has it (TopicList). */
void
fm_broker_h_system_topics(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "topicList");
    char reply[300];
    for (size_t i = 0; i < FM_BROKER_N_SYSTEM_TOPICS; i++) {
        cJSON_AddItemToArray(list, cJSON_CreateString(fm_broker_system_topics[i]));
    }
    snprintf(reply, sizeof(reply), "%s_REPLY_TOPIC", b->cfg.cluster_name);
    cJSON_AddItemToArray(list, cJSON_CreateString(b->cfg.cluster_name));
    cJSON_AddItemToArray(list, cJSON_CreateString(b->cfg.broker_name));
    cJSON_AddItemToArray(list, cJSON_CreateString(reply));
    fm_broker_reply_json(b, conn, req, root);
}
