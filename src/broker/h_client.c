/*
 * h_client.c - HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP: which clients are
 * online in which group. A client is dropped when it unregisters, when its connection closes,
 * or after 120 s without a heartbeat (RocketMQ's channel expiry).
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_EXPIRY_MS 120000

static client_entry *
client_find(fm_broker *b, const char *client_id, const char *group, int is_consumer)
{
    for (int i = 0; i < b->n_clients; i++) {
        client_entry *c = &b->clients[i];
        if (c->is_consumer == is_consumer && strcmp(c->client_id, client_id) == 0 &&
            strcmp(c->group, group) == 0) {
            return c;
        }
    }
    return NULL;
}

static void
client_remove_at(fm_broker *b, int i)
{
    b->clients[i] = b->clients[b->n_clients - 1];
    b->n_clients--;
}

static int
client_upsert(fm_broker *b, fm_net_conn *conn, const char *client_id, const char *group,
              int is_consumer)
{
    client_entry *c = client_find(b, client_id, group, is_consumer);
    if (c == NULL) {
        if (b->n_clients == b->cap_clients) {
            int cap = b->cap_clients ? b->cap_clients * 2 : 16;
            client_entry *n = realloc(b->clients, (size_t)cap * sizeof(*n));
            if (n == NULL) {
                return FM_ENOMEM;
            }
            b->clients = n;
            b->cap_clients = cap;
        }
        c = &b->clients[b->n_clients++];
        memset(c, 0, sizeof(*c));
        snprintf(c->client_id, sizeof(c->client_id), "%s", client_id);
        snprintf(c->group, sizeof(c->group), "%s", group);
        c->is_consumer = is_consumer;
        FM_LOGI("broker", is_consumer ? "FM-BROKER-CONSUMER-JOIN" : "FM-BROKER-PRODUCER-JOIN",
                "group=%s client=%s peer=%s", group, client_id, fm_net_conn_peer(conn));
        if (is_consumer) {
            c->conn = conn; /* so the newcomer is told too */
            fm_broker_notify_ids_changed(b, group);
        }
    }
    c->conn = conn;
    c->conn_id = fm_net_conn_id(conn);
    c->last_seen_ms = fm_net_loop_now_ms(b->loop);
    return FM_OK;
}

/* What GET_*_CONNECTION_LIST reports of a client: from its latest heartbeat. */
static void
client_note(fm_broker *b, const fm_cmd *req, const char *client_id, const char *group,
            int is_consumer, const cJSON *data)
{
    static const char *const keys[] = {"consumeType", "messageModel", "consumeFromWhere"};
    client_entry *c = client_find(b, client_id, group, is_consumer);
    char *dst[3];
    size_t cap[3];
    if (c == NULL) {
        return;
    }
    c->language = req->language;
    c->version = req->version;
    dst[0] = c->consume_type, cap[0] = sizeof(c->consume_type);
    dst[1] = c->message_model, cap[1] = sizeof(c->message_model);
    dst[2] = c->consume_from_where, cap[2] = sizeof(c->consume_from_where);
    for (int i = 0; is_consumer && i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, keys[i]);
        snprintf(dst[i], cap[i], "%s", cJSON_IsString(v) ? v->valuestring : "");
    }
}

/* ConsumerData.subscriptionDataSet: [{topic, subString, expressionType, subVersion, ...}] */
static void
register_subscriptions(fm_broker *b, const char *group, const cJSON *set)
{
    const cJSON *sd;
    cJSON_ArrayForEach(sd, set)
    {
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(sd, "topic");
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(sd, "subString");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(sd, "expressionType");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(sd, "subVersion");
        if (!cJSON_IsString(topic)) {
            continue;
        }
        fm_broker_sub_register(b, group, topic->valuestring,
                               cJSON_IsString(type) ? type->valuestring : NULL,
                               cJSON_IsString(sub) ? sub->valuestring : "",
                               cJSON_IsNumber(ver) ? (int64_t)ver->valuedouble : 0);
    }
}

void
fm_broker_h_heartbeat(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root, *cid, *set, *it;
    const char *client_id;

    root = cJSON_ParseWithLength((const char *)req->body.ptr, req->body.len);
    if (root == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "HEART_BEAT body is not valid HeartbeatData JSON");
        return;
    }
    cid = cJSON_GetObjectItemCaseSensitive(root, "clientID");
    if (!cJSON_IsString(cid) || cid->valuestring[0] == '\0') {
        cJSON_Delete(root);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "HEART_BEAT without clientID");
        return;
    }
    client_id = cid->valuestring;

    set = cJSON_GetObjectItemCaseSensitive(root, "consumerDataSet");
    cJSON_ArrayForEach(it, set)
    {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "groupName");
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(it, "messageModel");
        char retry[300];
        fm_store_group gc;
        if (!cJSON_IsString(g)) {
            continue;
        }
        client_upsert(b, conn, client_id, g->valuestring, 1);
        client_note(b, req, client_id, g->valuestring, 1, it);
        register_subscriptions(b, g->valuestring,
                               cJSON_GetObjectItemCaseSensitive(it, "subscriptionDataSet"));
        /* Clustering consumers of a known (or just created) group get their retry topic, with
         * the group's retryQueueNums queues, as RocketMQ creates it on heartbeat, so the
         * client's route lookup for %RETRY%<group> succeeds. */
        if ((!cJSON_IsString(model) || strcmp(model->valuestring, "BROADCASTING") != 0) &&
            fm_broker_group_find(b, g->valuestring, &gc) == FM_OK && gc.retry_queue_nums > 0) {
            snprintf(retry, sizeof(retry), "%%RETRY%%%s", g->valuestring);
            if (fm_broker_topic_name_ok(retry)) {
                fm_broker_topic_ensure(b, retry, gc.retry_queue_nums, 6, NULL, NULL);
            }
        }
    }
    set = cJSON_GetObjectItemCaseSensitive(root, "producerDataSet");
    cJSON_ArrayForEach(it, set)
    {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "groupName");
        if (cJSON_IsString(g)) {
            client_upsert(b, conn, client_id, g->valuestring, 0);
            client_note(b, req, client_id, g->valuestring, 0, it);
        }
    }
    cJSON_Delete(root);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

void
fm_broker_h_unregister_client(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char client_id[256], group[256];
    if (fm_broker_need_str(b, conn, req, "clientID", client_id, sizeof(client_id)) != FM_OK) {
        return;
    }
    if (fm_broker_ext_str(req, "consumerGroup", group, sizeof(group)) == FM_OK) {
        for (int i = 0; i < b->n_clients; i++) {
            client_entry *c = &b->clients[i];
            if (c->is_consumer && strcmp(c->client_id, client_id) == 0 &&
                strcmp(c->group, group) == 0) {
                FM_LOGI("broker", "FM-BROKER-CONSUMER-LEAVE",
                        "group=%s client=%s reason=unregister", group, client_id);
                client_remove_at(b, i);
                fm_broker_notify_ids_changed(b, group);
                break;
            }
        }
    }
    if (fm_broker_ext_str(req, "producerGroup", group, sizeof(group)) == FM_OK) {
        for (int i = 0; i < b->n_clients; i++) {
            client_entry *c = &b->clients[i];
            if (!c->is_consumer && strcmp(c->client_id, client_id) == 0 &&
                strcmp(c->group, group) == 0) {
                client_remove_at(b, i);
                break;
            }
        }
    }
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void
fm_broker_h_consumer_list(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256];
    const char **ids;
    int n = 0;
    cJSON *root, *list;

    if (fm_broker_need_str(b, conn, req, "consumerGroup", group, sizeof(group)) != FM_OK) {
        return;
    }
    ids = calloc((size_t)b->n_clients + 1, sizeof(*ids));
    if (ids == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    for (int i = 0; i < b->n_clients; i++) {
        if (b->clients[i].is_consumer && strcmp(b->clients[i].group, group) == 0) {
            ids[n++] = b->clients[i].client_id;
        }
    }
    if (n == 0) {
        free(ids);
        /* RocketMQ answers SYSTEM_ERROR with this remark when the group has nobody online. */
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "no consumer for this group, %s",
                            group);
        return;
    }
    /* Sorted so every client computes the same queue allocation. */
    qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
    root = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(root, "consumerIdList");
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(list, cJSON_CreateString(ids[i]));
    }
    free(ids);
    fm_broker_reply_json(b, conn, req, root);
}

void
fm_broker_clients_drop_conn(fm_broker *b, fm_net_conn *conn)
{
    uint64_t id = fm_net_conn_id(conn);
    for (int i = 0; i < b->n_clients;) {
        if (b->clients[i].conn_id == id) {
            char group[256];
            int consumer = b->clients[i].is_consumer;
            FM_LOGI("broker", consumer ? "FM-BROKER-CONSUMER-LEAVE" : "FM-BROKER-PRODUCER-LEAVE",
                    "group=%s client=%s reason=closed", b->clients[i].group,
                    b->clients[i].client_id);
            snprintf(group, sizeof(group), "%s", b->clients[i].group);
            client_remove_at(b, i);
            if (consumer) {
                fm_broker_notify_ids_changed(b, group);
            }
        } else {
            i++;
        }
    }
}

void
fm_broker_clients_expire(fm_broker *b, int64_t now_ms)
{
    for (int i = 0; i < b->n_clients;) {
        if (now_ms - b->clients[i].last_seen_ms > CLIENT_EXPIRY_MS) {
            char group[256];
            int consumer = b->clients[i].is_consumer;
            FM_LOGW("broker", "FM-BROKER-CLIENT-EXPIRED", "group=%s client=%s", b->clients[i].group,
                    b->clients[i].client_id);
            snprintf(group, sizeof(group), "%s", b->clients[i].group);
            client_remove_at(b, i);
            if (consumer) {
                fm_broker_notify_ids_changed(b, group);
            }
        } else {
            i++;
        }
    }
}

/* CHECK_CLIENT_CONFIG: what a Java consumer with MessageSelector.bySql asks before it starts
 * (MQClientInstance.checkClientInBroker): can this broker filter by the subscription's
 * expression, and does the expression compile? As ClientManageProcessor.checkClientConfig:
 * TAG always passes; another type needs enablePropertyFilter (SYSTEM_ERROR otherwise); SQL92
 * must compile (SUBSCRIPTION_PARSE_FAILED with the parser's message otherwise). */
void
fm_broker_h_check_client_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root, *sd, *type, *sub;
    fm_filter_type ft;
    fm_filter *f = NULL;
    fm_errbuf eb;
    const char *tname;
    if (req->body.len == 0 ||
        (root = cJSON_ParseWithLength((const char *)req->body.ptr, req->body.len)) == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "CHECK_CLIENT_CONFIG needs a CheckClientRequestBody JSON body");
        return;
    }
    sd = cJSON_GetObjectItemCaseSensitive(root, "subscriptionData");
    type = cJSON_GetObjectItemCaseSensitive(sd, "expressionType");
    sub = cJSON_GetObjectItemCaseSensitive(sd, "subString");
    tname = cJSON_IsString(type) ? type->valuestring : NULL;
    if (!cJSON_IsObject(sd) || (fm_filter_type_parse(tname, &ft) == FM_OK && ft == FM_FILTER_TAG)) {
        cJSON_Delete(root);
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
        return;
    }
    if (!b->cfg.enable_property_filter) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "The broker does not support consumer to filter message by %s", tname);
    } else if (fm_filter_type_parse(tname, &ft) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_PARSE_FAILED,
                            "unknown expression type '%s' (TAG or SQL92)", tname);
    } else if (!cJSON_IsString(sub)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_PARSE_FAILED,
                            "the subscription has no expression (subString)");
    } else if (fm_filter_compile(ft, sub->valuestring, strlen(sub->valuestring), &f, &eb) !=
               FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_PARSE_FAILED,
                            "Invalid MessageSelector. %s", eb.msg);
    } else {
        fm_filter_unref(f);
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
    }
    cJSON_Delete(root);
}
