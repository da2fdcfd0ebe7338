/*
 * h_subgroup.c - subscription group configs as RocketMQ 4.9's AdminBrokerProcessor serves
 * them: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200, a whole SubscriptionGroupConfig as the body,
 * replacing any earlier one), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201, the table with its
 * dataVersion), DELETE_SUBSCRIPTIONGROUP (207, with removeOffset), and the lookup every pull
 * and send-back makes, which creates a missing group with RocketMQ's defaults while
 * autoCreateSubscriptionGroup is on (and always for CID_RMQ_SYS_* groups), as
 * SubscriptionGroupManager.findSubscriptionGroupConfig does.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
fm_broker_group_find(fm_broker *b, const char *group, fm_store_group *out)
{
    fm_errbuf eb;
    if (fm_store_group_get(b->st, group, out) == FM_OK) {
        return FM_OK;
    }
    if (!b->cfg.auto_create_subscription_group && strncmp(group, "CID_RMQ_SYS_", 12) != 0) {
        return FM_ENOTFOUND;
    }
    fm_store_group_defaults(out, group);
    out->retry_max_times = b->cfg.max_reconsume_times;
    if (fm_store_group_put(b->st, out, &eb) != FM_OK) {
        /* served with the defaults all the same, as RocketMQ keeps the record in memory */
        FM_LOGW("broker", "FM-BROKER-GROUP-SAVE-FAIL", "group=%s msg=\"%s\"", group, eb.msg);
        return FM_OK;
    }
    FM_LOGI("broker", "FM-BROKER-GROUP-CREATE", "group=%s by=auto", group);
    return FM_OK;
}

void
fm_broker_h_update_group(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root;
    fm_store_group g, old;
    fm_errbuf eb;
    int existed;
    if (req->body.len == 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP needs a SubscriptionGroupConfig "
                            "JSON body");
        return;
    }
    root = cJSON_ParseWithLength((const char *)req->body.ptr, req->body.len);
    if (root == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "the body is not valid SubscriptionGroupConfig JSON");
        return;
    }
    if (fm_store_group_from_json(root, NULL, &g, &eb) != FM_OK) {
        cJSON_Delete(root);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "%s", eb.msg);
        return;
    }
    cJSON_Delete(root);
    if (g.retry_queue_nums < 0 || g.retry_queue_nums > 1024 || g.retry_max_times < -1) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "retryQueueNums must be 0..1024 and retryMaxTimes >= -1 (got %d, %d)",
                            g.retry_queue_nums, g.retry_max_times);
        return;
    }
    existed = fm_store_group_get(b->st, g.name, &old) == FM_OK;
    if (fm_store_group_put(b->st, &g, &eb) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "subscription group '%s' not saved: %s", g.name, eb.msg);
        return;
    }
    FM_LOGI("broker", existed ? "FM-BROKER-GROUP-UPDATE" : "FM-BROKER-GROUP-CREATE",
            "group=%s by=%s consumeEnable=%d retryQueueNums=%d retryMaxTimes=%d", g.name,
            fm_net_conn_peer(conn), g.consume_enable, g.retry_queue_nums, g.retry_max_times);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

static int
add_group_json(const fm_store_group *g, void *ud)
{
    cJSON *o = fm_store_group_to_json(g);
    if (o == NULL) {
        return FM_ENOMEM;
    }
    cJSON_AddItemToObject(ud, g->name, o);
    return FM_OK;
}

void
fm_broker_h_all_groups(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root = cJSON_CreateObject(), *dv, *table;
    int64_t ts, counter;
    fm_store_group_version(b->st, &ts, &counter);
    dv = cJSON_AddObjectToObject(root, "dataVersion");
    cJSON_AddNumberToObject(dv, "counter", (double)counter);
    cJSON_AddNumberToObject(dv, "timestamp", (double)ts);
    table = cJSON_AddObjectToObject(root, "subscriptionGroupTable");
    if (table == NULL || fm_store_group_foreach(b->st, add_group_json, table) != FM_OK) {
        cJSON_Delete(root);
        root = NULL; /* answered out of memory */
    }
    fm_broker_reply_json(b, conn, req, root);
}

void
fm_broker_h_delete_group(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], remove[16] = "";
    fm_errbuf eb;
    int rc, removed = 0;
    if (fm_broker_need_str(b, conn, req, "groupName", group, sizeof(group)) != FM_OK) {
        return;
    }
    fm_broker_ext_str(req, "removeOffset", remove, sizeof(remove));
    rc = fm_store_group_delete(b->st, group, &eb);
    if (rc != FM_OK && rc != FM_ENOTFOUND) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "subscription group '%s' not deleted: %s", group, eb.msg);
        return;
    }
    /* Java's Boolean.parseBoolean: "true" in any case, anything else is false */
    if (strcasecmp(remove, "true") == 0) {
        removed = fm_store_offset_remove(b->st, group, NULL);
        if (removed > 0 && fm_store_offsets_persist(b->st, &eb) != FM_OK) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                                "the offsets of group '%s' not removed on disk: %s", group, eb.msg);
            return;
        }
    }
    /* RocketMQ answers SUCCESS for a group that did not exist, too */
    FM_LOGI("broker", "FM-BROKER-GROUP-DELETE", "group=%s by=%s existed=%d offsets_removed=%d",
            group, fm_net_conn_peer(conn), rc == FM_OK, removed);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}
