/*
 * h_admin.c - topics and broker information: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER,
 * GET_ALL_TOPIC_CONFIG, GET_BROKER_RUNTIME_INFO, VIEW_MESSAGE_BY_ID, and topic auto-creation
 * used by sends.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* RocketMQ's TopicValidator rules live in proto: the store enforces them too. */
int
fm_broker_topic_name_ok(const char *name)
{
    return fm_proto_topic_valid(name);
}

void
fm_broker_topics_changed(fm_broker *b)
{
    b->topics_version++;
    fm_broker_register_now(b);
}

int
fm_broker_topic_ensure(fm_broker *b, const char *topic, int queues, int perm, fm_store_topic *out,
                       fm_errbuf *eb)
{
    fm_store_topic t;
    int rc;
    if (fm_store_topic_get(b->st, topic, &t) == FM_OK) {
        if (out != NULL) {
            *out = t;
        }
        return FM_OK;
    }
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", topic);
    t.read_queue_nums = queues;
    t.write_queue_nums = queues;
    t.perm = perm;
    rc = fm_store_topic_put(b->st, &t, eb);
    if (rc != FM_OK) {
        return rc;
    }
    FM_LOGI("broker", "FM-BROKER-TOPIC-CREATED", "topic=%s queues=%d perm=%d", topic, queues, perm);
    fm_broker_topics_changed(b);
    if (out != NULL) {
        *out = t;
    }
    return FM_OK;
}

static int
ext_int(const fm_cmd *req, const char *key, int def)
{
    int64_t v;
    if (fm_cmd_ext_i64(req, key, &v) != FM_OK || v < 0 || v > 65535) {
        return def;
    }
    return (int)v;
}

void
fm_broker_h_create_topic(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    fm_store_topic t;
    fm_errbuf eb;
    char topic[128], order[16];
    int existed;

    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    if (!fm_broker_topic_name_ok(topic)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "topic name '%s' is invalid: use [%%|a-zA-Z0-9_-], at most 127 "
                            "characters",
                            topic);
        return;
    }
    existed = fm_store_topic_get(b->st, topic, &t) == FM_OK;
    if (!existed) {
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", topic);
    }
    t.read_queue_nums = ext_int(req, "readQueueNums", existed ? t.read_queue_nums : 8);
    t.write_queue_nums = ext_int(req, "writeQueueNums", existed ? t.write_queue_nums : 8);
    t.perm = ext_int(req, "perm", existed ? t.perm : 6);
    t.topic_sys_flag = ext_int(req, "topicSysFlag", existed ? t.topic_sys_flag : 0);
    if (fm_broker_ext_str(req, "order", order, sizeof(order)) == FM_OK) {
        t.order = strcmp(order, "true") == 0;
    }
    if (t.read_queue_nums < 1 || t.write_queue_nums < 1 || t.read_queue_nums > 1024 ||
        t.write_queue_nums > 1024) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "queue numbers must be between 1 and 1024");
        return;
    }
    if (fm_store_topic_put(b->st, &t, &eb) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "cannot save topic: %s", eb.msg);
        return;
    }
    FM_LOGI("broker", existed ? "FM-BROKER-TOPIC-UPDATED" : "FM-BROKER-TOPIC-CREATED",
            "topic=%s read=%d write=%d perm=%d", topic, t.read_queue_nums, t.write_queue_nums,
            t.perm);
    fm_broker_topics_changed(b);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

/* RocketMQ 4.9's TopicValidator system topic set, without those named after this broker. */
const char *const fm_broker_system_topics[FM_BROKER_N_SYSTEM_TOPICS] = {
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
};

int
fm_broker_topic_is_system(const fm_broker *b, const char *t)
{
    char reply[300];
    for (size_t i = 0; i < FM_BROKER_N_SYSTEM_TOPICS; i++) {
        if (strcmp(t, fm_broker_system_topics[i]) == 0) {
            return 1;
        }
    }
    snprintf(reply, sizeof(reply), "%s_REPLY_TOPIC", b->cfg.cluster_name);
    return strncmp(t, "rmq_sys_", 8) == 0 || strcmp(t, b->cfg.cluster_name) == 0 ||
           strcmp(t, b->cfg.broker_name) == 0 || strcmp(t, reply) == 0;
}

/* DELETE_TOPIC_IN_BROKER (215), what `mqadmin deleteTopic` sends to each master before it
 * removes the route from the name servers (216). As AdminBrokerProcessor.deleteTopic: system
 * topics are refused, an unknown topic is SUCCESS. Unlike RocketMQ 4.9, which keeps them, the
 * topic's consumer offsets go too (a topic made again with the name starts at offset 0, where
 * old offsets would point into nothing). */
void
fm_broker_h_delete_topic(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256];
    fm_errbuf eb;
    int rc;
    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    if (!fm_broker_topic_name_ok(topic)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "The specified topic contains illegal characters, allowing only "
                            "^[%%|a-zA-Z0-9_-]+$ (at most 127)");
        return;
    }
    if (fm_broker_topic_is_system(b, topic)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "The topic[%s] is conflict with system topic.", topic);
        return;
    }
    rc = fm_store_topic_delete(b->st, topic, &eb);
    if (rc != FM_OK && rc != FM_ENOTFOUND) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "topic[%s] not deleted: %s", topic,
                            eb.msg);
        return;
    }
    FM_LOGI("broker", "FM-BROKER-TOPIC-DELETE", "topic=%s by=%s existed=%d", topic,
            fm_net_conn_peer(conn), rc == FM_OK);
    if (rc == FM_OK) {
        fm_broker_topics_changed(b); /* the next registration no longer lists it */
    }
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

typedef struct topic_json_ctx {
    cJSON *table;
} topic_json_ctx;

static int
add_topic_json(const fm_store_topic *t, void *ud)
{
    topic_json_ctx *ctx = ud;
    cJSON *o = cJSON_AddObjectToObject(ctx->table, t->name);
    if (o == NULL) {
        return FM_ENOMEM;
    }
    cJSON_AddStringToObject(o, "topicName", t->name);
    cJSON_AddNumberToObject(o, "readQueueNums", t->read_queue_nums);
    cJSON_AddNumberToObject(o, "writeQueueNums", t->write_queue_nums);
    cJSON_AddNumberToObject(o, "perm", t->perm);
    cJSON_AddStringToObject(o, "topicFilterType", "SINGLE_TAG");
    cJSON_AddNumberToObject(o, "topicSysFlag", t->topic_sys_flag);
    cJSON_AddBoolToObject(o, "order", t->order);
    return FM_OK;
}

/* TopicConfigSerializeWrapper, shared by GET_ALL_TOPIC_CONFIG and REGISTER_BROKER. */
int
fm_broker_topics_json(fm_broker *b, fm_buf *out)
{
    topic_json_ctx ctx;
    cJSON *root = cJSON_CreateObject(), *dv;
    char *s;
    int rc;
    if (root == NULL) {
        return FM_ENOMEM;
    }
    ctx.table = cJSON_AddObjectToObject(root, "topicConfigTable");
    rc = fm_store_topic_foreach(b->st, add_topic_json, &ctx);
    dv = cJSON_AddObjectToObject(root, "dataVersion");
    cJSON_AddNumberToObject(dv, "timestamp", (double)b->start_ms);
    cJSON_AddNumberToObject(dv, "counter", (double)b->topics_version);
    s = rc == FM_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (s == NULL) {
        return rc != FM_OK ? rc : FM_ENOMEM;
    }
    rc = fm_buf_append(out, s, strlen(s));
    free(s);
    return rc;
}

void
fm_broker_h_all_topic_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    fm_buf_reset(&b->body);
    if (fm_broker_topics_json(b, &b->body) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&b->body));
}

/* The store time of the oldest record in the log, -1 for an empty log (RocketMQ's
 * earliestMessageTimeStamp). */
static int64_t
earliest_store_time(fm_broker *b)
{
    fm_buf rec = {0};
    fm_msg_view m;
    int64_t ts = -1;
    uint64_t min = fm_store_min_phys_offset(b->st);
    if (min < fm_store_max_phys_offset(b->st) &&
        fm_store_read_at(b->st, min, &rec, NULL) == FM_OK &&
        fm_msg_decode(rec.data, rec.len, &m, NULL) == FM_OK) {
        ts = m.store_timestamp;
    }
    fm_buf_free(&rec);
    return ts;
}

/* MixAll.humanReadableByteCount(bytes, false): binary units. */
static void
human_bytes(char *out, size_t cap, double v)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int k = 0;
    if (v < 1024) {
        snprintf(out, cap, "%.0f B", v);
        return;
    }
    while (v >= 1024 && k < 5) {
        v /= 1024;
        k++;
    }
    snprintf(out, cap, "%.1f %s", v, u[k]);
}

/* GET_BROKER_RUNTIME_INFO: RocketMQ 4.9.7's KVTable keys (every value a string), in the
 * formats mqadmin clusterList and brokerStatus parse: the TPS as three numbers (last 10, 60,
 * 600 s), earliestMessageTimeStamp a plain integer, commitLogDiskRatio a plain decimal. The
 * thread-pool figures are RocketMQ's; one event loop has no queues, so they are 0. */
void
fm_broker_h_runtime_info(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *table = cJSON_AddObjectToObject(root, "table");
    const fm_broker_stats *st = &b->stats;
    char v[160];
    double tps[4][3];
    struct statvfs fs;
    int64_t up = (fm_clock_wall_ms() - b->start_ms) / 1000;
    double ratio = -1.0;

#define KV(key, fmt, ...)                                                                          \
    do {                                                                                           \
        snprintf(v, sizeof(v), fmt, __VA_ARGS__);                                                  \
        cJSON_AddStringToObject(table, key, v);                                                    \
    } while (0)
    for (int w = 0; w < 4; w++) {
        fm_broker_stats_tps(b, w, tps[w]);
    }
    KV("brokerVersionDesc", "%s", "V4_9_7");
    KV("brokerVersion", "%d", FM_PROTO_VERSION);
    KV("bootTimestamp", "%" PRId64, b->start_ms);
    KV("runtime",
       "[ %" PRId64 " days, %" PRId64 " hours, %" PRId64 " minutes, %" PRId64 " seconds ]",
       up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
    KV("putTps", "%.2f %.2f %.2f", tps[0][0], tps[0][1], tps[0][2]);
    KV("getFoundTps", "%.2f %.2f %.2f", tps[1][0], tps[1][1], tps[1][2]);
    KV("getMissTps", "%.2f %.2f %.2f", tps[2][0], tps[2][1], tps[2][2]);
    KV("getTransferedTps", "%.2f %.2f %.2f", tps[3][0], tps[3][1], tps[3][2]);
    KV("getTotalTps", "%.2f %.2f %.2f", tps[1][0] + tps[2][0], tps[1][1] + tps[2][1],
       tps[1][2] + tps[2][2]);
    KV("putMessageTimesTotal", "%" PRId64, st->put > 0 ? st->put : 1);
    KV("putMessageSizeTotal", "%" PRId64, st->put_bytes);
    KV("putMessageAverageSize", "%.2f",
       st->put > 0 ? (double)st->put_bytes / (double)st->put : 0.0);
    KV("msgPutTotalTodayNow", "%" PRId64, st->put);
    KV("msgPutTotalTodayMorning", "%" PRId64, st->put_today_morning);
    KV("msgPutTotalYesterdayMorning", "%" PRId64, st->put_yesterday_morning);
    KV("msgGetTotalTodayNow", "%" PRId64, st->get_transferred);
    KV("msgGetTotalTodayMorning", "%" PRId64, st->get_today_morning);
    KV("msgGetTotalYesterdayMorning", "%" PRId64, st->get_yesterday_morning);
    KV("commitLogMaxOffset", "%" PRIu64, fm_store_max_phys_offset(b->st));
    KV("commitLogMinOffset", "%" PRIu64, fm_store_min_phys_offset(b->st));
    KV("earliestMessageTimeStamp", "%" PRId64, earliest_store_time(b));
    if (statvfs(fm_store_dir(b->st), &fs) == 0 && fs.f_blocks > 0) {
        char total[32], avail[32];
        ratio = (double)(fs.f_blocks - fs.f_bfree) / (double)fs.f_blocks;
        human_bytes(total, sizeof(total), (double)fs.f_blocks * (double)fs.f_frsize);
        human_bytes(avail, sizeof(avail), (double)fs.f_bavail * (double)fs.f_frsize);
        KV("commitLogDirCapacity", "Total : %s, Free : %s.", total, avail);
    }
    KV("commitLogDiskRatio", "%.2f", ratio);
    KV("consumeQueueDiskRatio", "%.2f", ratio);
    KV("pageCacheLockTimeMills", "%d", 0);
    KV("dispatchBehindBytes", "%d", 0);
    KV("remainHowManyDataToFlush", "%s", "0 B");
    KV("remainTransientStoreBufferNumbs", "%d", 2147483647);
    KV("startAcceptSendRequestTimeStamp", "%d", 0);
    KV("sendThreadPoolQueueSize", "%d", 0);
    KV("sendThreadPoolQueueCapacity", "%d", 10000);
    KV("pullThreadPoolQueueSize", "%d", 0);
    KV("pullThreadPoolQueueCapacity", "%d", 100000);
    KV("queryThreadPoolQueueSize", "%d", 0);
    KV("queryThreadPoolQueueCapacity", "%d", 20000);
    KV("EndTransactionQueueSize", "%d", 0);
    KV("EndTransactionThreadPoolQueueCapacity", "%d", 100000);
    KV("sendThreadPoolQueueHeadWaitTimeMills", "%d", 0);
    KV("pullThreadPoolQueueHeadWaitTimeMills", "%d", 0);
    KV("queryThreadPoolQueueHeadWaitTimeMills", "%d", 0);
    /* FerryMQ's own */
    KV("flushDiskType", "%s", b->cfg.flush_sync ? "SYNC_FLUSH" : "ASYNC_FLUSH");
    KV("suspendedPulls", "%d", b->n_pulls);
    KV("onlineClients", "%d", b->n_clients);
#undef KV
    fm_broker_reply_json(b, conn, req, root);
}

void
fm_broker_h_view_by_id(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    int64_t off;
    fm_errbuf eb;
    if (fm_broker_need_i64(b, conn, req, "offset", &off) != FM_OK) {
        return;
    }
    fm_buf_reset(&b->body);
    if (off < 0 || fm_store_read_at(b->st, (uint64_t)off, &b->body, &eb) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "can not find message by the offset, %" PRId64, off);
        return;
    }
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&b->body));
}

/* GET_ALL_PRODUCER_INFO (328), mqadmin producer: every producer connection by group
 * (ProducerTableInfo). */
void
fm_broker_h_all_producers(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddObjectToObject(root, "data");
    int64_t now_mono = fm_net_loop_now_ms(b->loop), now_wall = fm_clock_wall_ms();
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        cJSON *list, *o;
        if (c->is_consumer || c->conn == NULL || fm_net_conn_is_closed(c->conn)) {
            continue;
        }
        if ((list = cJSON_GetObjectItemCaseSensitive(data, c->group)) == NULL) {
            list = cJSON_AddArrayToObject(data, c->group);
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "clientId", c->client_id);
        cJSON_AddNumberToObject(o, "lastUpdateTimestamp",
                                (double)(now_wall - (now_mono - c->last_seen_ms)));
        cJSON_AddStringToObject(o, "language", fm_proto_lang_name(c->language));
        cJSON_AddStringToObject(o, "remoteIP", fm_net_conn_peer(c->conn));
        cJSON_AddNumberToObject(o, "version", c->version);
        cJSON_AddItemToArray(list, o);
    }
    fm_broker_reply_json(b, conn, req, root);
}

/* The store maintenance mqadmin asks for by hand: CLEAN_EXPIRED_CONSUMEQUEUE (306,
 * cleanExpiredCQ) and DELETE_EXPIRED_COMMITLOG (329, deleteExpiredCommitLog) run the
 * retention pass now (segments older than fileReservedTime go, and every queue's start moves
 * past them, which is all a queue holds of them); CLEAN_UNUSED_TOPIC (316, cleanUnusedTopic)
 * finds nothing to do, because DELETE_TOPIC_IN_BROKER removes a topic's queues with it. */
void
fm_broker_h_store_maintenance(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    int deleted = 0;
    if (req->code != FM_REQ_CLEAN_UNUSED_TOPIC) {
        deleted = fm_store_retention_run(b->st, fm_clock_wall_ms());
    }
    FM_LOGI("broker", "FM-BROKER-MAINTENANCE", "req=%s by=%s segments_deleted=%d",
            fm_proto_req_name(req->code), fm_net_conn_peer(conn), deleted);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}
