/*
 * h_group.c - consumer groups as a whole: telling members the group changed
 * (NOTIFY_CONSUMER_IDS_CHANGED), resetting a group's offsets with its consumers online
 * (INVOKE_BROKER_TO_RESET_OFFSET), the way `mqadmin resetOffsetByTime` does it, and reporting
 * groups and their progress (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, GET_CONSUME_STATS), and the
 * queue locks orderly consumers take (LOCK_BATCH_MQ, UNLOCK_BATCH_MQ).
 *
 * A reset commits the new offsets (and persists them at once), tells online members with
 * RESET_CONSUMER_CLIENT_OFFSET (Java clients act on it), and, as RocketMQ 5's server-side reset,
 * remembers the new offset per queue until a pull comes from it: pulls from elsewhere are
 * answered PULL_OFFSET_MOVED with nextBeginOffset = the new offset, which every client (also
 * ali-ons, which ignores broker-initiated requests) follows, and offset commits for the queue
 * are ignored meanwhile, so a client's periodic commit of its old position cannot undo the
 * reset. A pull parked on the queue (long polling) is answered that way at once.
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

int
fm_broker_send_request(fm_broker *b, fm_net_conn *conn, int code, int flag, const fm_cmd_ext *ext,
                       size_t n_ext, fm_slice body, int32_t *opaque)
{
    fm_cmd req;
    int rc;
    memset(&req, 0, sizeof(req));
    req.code = code;
    req.version = FM_PROTO_VERSION;
    req.opaque = b->next_opaque++;
    req.flag = flag;
    req.serialize = FM_SERIALIZE_JSON;
    req.ext = (fm_cmd_ext *)ext;
    req.n_ext = n_ext;
    req.body = body;
    fm_buf_reset(&b->out);
    if ((rc = fm_proto_cmd_encode(&b->out, &req, NULL)) != FM_OK ||
        (rc = fm_net_conn_write(conn, b->out.data, b->out.len)) != FM_OK) {
        return rc;
    }
    if (opaque != NULL) {
        *opaque = req.opaque;
    }
    return FM_OK;
}

void
fm_broker_send_oneway(fm_broker *b, fm_net_conn *conn, int code, const fm_cmd_ext *ext,
                      size_t n_ext, fm_slice body)
{
    if (fm_broker_send_request(b, conn, code, FM_CMD_FLAG_ONEWAY, ext, n_ext, body, NULL) !=
        FM_OK) {
        fm_net_conn_close(conn);
    }
}

/* The same oneway request to every online consumer of group. */
static void
send_to_group(fm_broker *b, const char *group, int code, const fm_cmd_ext *ext, size_t n_ext,
              fm_slice body)
{
    for (int i = 0; i < b->n_clients; i++) {
        client_entry *c = &b->clients[i];
        if (c->is_consumer && c->conn != NULL && !fm_net_conn_is_closed(c->conn) &&
            strcmp(c->group, group) == 0) {
            fm_broker_send_oneway(b, c->conn, code, ext, n_ext, body);
        }
    }
}

void
fm_broker_notify_ids_changed(fm_broker *b, const char *group)
{
    fm_cmd_ext ext[] = {{FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(group)}};
    send_to_group(b, group, FM_REQ_NOTIFY_CONSUMER_IDS_CHANGED, ext, 1, fm_slice_make(NULL, 0));
}

/* key: group NUL topic NUL qid */
static size_t
reset_key(char *buf, size_t cap, const char *group, const char *topic, int qid)
{
    int n = snprintf(buf, cap, "%s%c%s%c%d", group, '\0', topic, '\0', qid);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int
fm_broker_reset_take(fm_broker *b, const char *group, const char *topic, int qid, int erase,
                     int64_t *offset)
{
    char key[560];
    size_t klen;
    int64_t *v;
    if (b->resets.n == 0) {
        return 0; /* the common case: every pull and commit asks, so skip building the key */
    }
    klen = reset_key(key, sizeof(key), group, topic, qid);
    if (klen == 0 || (v = fm_map_get(&b->resets, key, klen)) == NULL) {
        return 0;
    }
    if (offset != NULL) {
        *offset = *v;
    }
    if (erase) {
        free(fm_map_del(&b->resets, key, klen));
    }
    return 1;
}

static void
reset_assign(fm_broker *b, const char *group, const char *topic, int qid, int64_t offset)
{
    char key[560];
    size_t klen = reset_key(key, sizeof(key), group, topic, qid);
    int64_t *v, *old;
    if (klen == 0 || (v = malloc(sizeof(*v))) == NULL) {
        return;
    }
    *v = offset;
    old = fm_map_get(&b->resets, key, klen);
    if (fm_map_put(&b->resets, key, klen, v) != FM_OK) {
        free(v);
        return;
    }
    free(old);
}

void
fm_broker_resets_free(fm_broker *b)
{
    fm_map_free_values(&b->resets, NULL);
}

/* fastjson's form of a Map<MessageQueue, V>: the keys are objects, which RocketMQ's Java tools
 * expect ({"brokerName":..,"queueId":..,"topic":..} in field order). */
int
fm_broker_append_mq_key(fm_buf *out, const char *broker, const char *topic, int qid)
{
    char num[16];
    cJSON *s;
    char *t;
    int rc;
    snprintf(num, sizeof(num), "%d", qid);
    rc = fm_buf_append(out, "{\"brokerName\":", 14);
    s = cJSON_CreateString(broker);
    t = s ? cJSON_PrintUnformatted(s) : NULL;
    rc |= t ? fm_buf_append(out, t, strlen(t)) : FM_ENOMEM;
    free(t);
    cJSON_Delete(s);
    rc |= fm_buf_append(out, ",\"queueId\":", 11);
    rc |= fm_buf_append(out, num, strlen(num));
    rc |= fm_buf_append(out, ",\"topic\":", 9);
    s = cJSON_CreateString(topic);
    t = s ? cJSON_PrintUnformatted(s) : NULL;
    rc |= t ? fm_buf_append(out, t, strlen(t)) : FM_ENOMEM;
    free(t);
    cJSON_Delete(s);
    rc |= fm_buf_append(out, "}", 1);
    return rc == FM_OK ? FM_OK : FM_ENOMEM;
}

int
fm_broker_reset_group(fm_broker *b, const char *group, const char *topic, int64_t ts, int force,
                      int64_t only_qid, int64_t only_offset, fm_broker_reset_target_fn target_fn,
                      void *target_ud, int dry_run, fm_broker_reset_row **rows_out, int *n_out)
{
    fm_store_topic t;
    fm_broker_reset_row *rows;
    fm_buf body = {0};
    fm_errbuf eb;
    int n = 0;
    *rows_out = NULL;
    *n_out = 0;
    if (fm_store_topic_get(b->st, topic, &t) != FM_OK) {
        return FM_ENOTFOUND;
    }
    rows = calloc((size_t)(t.read_queue_nums > 0 ? t.read_queue_nums : 1), sizeof(*rows));
    if (rows == NULL) {
        return FM_ENOMEM;
    }
    fm_buf_append(&body, "{\"offsetTable\":{", 16);
    for (int q = 0; q < t.read_queue_nums; q++) {
        int64_t target, cur, now_off;
        char num[24];
        if (only_qid >= 0 && q != only_qid) {
            continue;
        }
        if (only_qid >= 0 && only_offset >= 0) {
            target = only_offset;
        } else if (target_fn != NULL) {
            target = target_fn(b, topic, q, ts, target_ud);
        } else if (ts == -1) {
            target = fm_store_max_offset(b->st, topic, q);
        } else if (fm_store_search_offset_by_time(b->st, topic, q, ts, &target) != FM_OK) {
            target = 0; /* an empty queue */
        }
        if (fm_store_offset_query(b->st, group, topic, q, &cur) != FM_OK) {
            cur = -1;
        }
        /* without force a reset only moves a group back, as RocketMQ's */
        now_off = force || cur < 0 || target < cur ? target : cur;
        rows[n] = (fm_broker_reset_row){q, cur, now_off};
        if (n++ > 0) {
            fm_buf_append(&body, ",", 1);
        }
        fm_broker_append_mq_key(&body, b->cfg.broker_name, topic, q);
        snprintf(num, sizeof(num), ":%" PRId64, now_off);
        fm_buf_append(&body, num, strlen(num));
        if (dry_run) {
            continue;
        }
        fm_store_offset_commit(b->st, group, topic, q, now_off);
        /* a consumer parked on the queue is told now, any other by its next pull; stale
         * commits are ignored until a pull comes from the new offset */
        fm_broker_pulls_reset(b, group, topic, q, now_off);
        reset_assign(b, group, topic, q, now_off);
        FM_LOGI("broker", "FM-BROKER-OFFSET-RESET",
                "group=%s topic=%s qid=%d old=%" PRId64 " new=%" PRId64 " timestamp=%" PRId64,
                group, topic, q, cur, now_off, ts);
    }
    fm_buf_append(&body, "}}", 2);
    if (!dry_run) {
        char ts_s[24], force_arg[8];
        /* persisted now, not at the next periodic flush: the reset must survive a crash */
        if (fm_store_offsets_persist(b->st, &eb) != FM_OK) {
            FM_LOGE("broker", "FM-STORE-OFFSETS-SAVE-FAIL", "msg=\"%s\" at=reset", eb.msg);
        }
        snprintf(ts_s, sizeof(ts_s), "%" PRId64, ts);
        snprintf(force_arg, sizeof(force_arg), "%s", force ? "true" : "false");
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("topic"), fm_slice_cstr(topic)},
            {FM_SLICE_LIT("group"), fm_slice_cstr(group)},
            {FM_SLICE_LIT("timestamp"), fm_slice_cstr(ts_s)},
            {FM_SLICE_LIT("isForce"), fm_slice_cstr(force_arg)},
        };
        send_to_group(b, group, FM_REQ_RESET_CONSUMER_CLIENT_OFFSET, ext, 4, fm_buf_slice(&body));
    }
    fm_buf_free(&body);
    *rows_out = rows;
    *n_out = n;
    return FM_OK;
}

void
fm_broker_h_reset_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256], group[256], force_s[8] = "true";
    int64_t ts, only_qid = -1, only_offset = -1;
    fm_broker_reset_row *rows;
    int n, rc;
    fm_buf body = {0};

    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK ||
        fm_broker_need_str(b, conn, req, "group", group, sizeof(group)) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "timestamp", &ts) != FM_OK) {
        return;
    }
    fm_broker_ext_str(req, "isForce", force_s, sizeof(force_s));
    fm_cmd_ext_i64(req, "queueId", &only_qid);
    fm_cmd_ext_i64(req, "offset", &only_offset);
    rc = fm_broker_reset_group(b, group, topic, ts, strcmp(force_s, "false") != 0, only_qid,
                               only_offset, NULL, NULL, 0, &rows, &n);
    if (rc == FM_ENOTFOUND) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "[reset-offset] reset offset failed, no topic in this broker. "
                            "[topic=%s]",
                            topic);
        return;
    }
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    fm_buf_append(&body, "{\"offsetTable\":{", 16);
    for (int i = 0; i < n; i++) {
        char num[24];
        if (i > 0) {
            fm_buf_append(&body, ",", 1);
        }
        fm_broker_append_mq_key(&body, b->cfg.broker_name, topic, rows[i].qid);
        snprintf(num, sizeof(num), ":%" PRId64, rows[i].new_offset);
        fm_buf_append(&body, num, strlen(num));
    }
    fm_buf_append(&body, "}}", 2);
    free(rows);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&body));
    fm_buf_free(&body);
}

/* ---- GET_CONSUME_STATS ---- */

typedef struct group_set {
    const char *only_group;
    const char *only_topic;
    char (*topics)[256]; /* topics the group has offsets for */
    int n_topics, cap_topics;
} group_set;

static int
collect_group(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    group_set *gs = ud;
    (void)qid;
    (void)offset;
    if (strcmp(group, gs->only_group) != 0) {
        return FM_OK;
    }
    for (int i = 0; i < gs->n_topics; i++) {
        if (strcmp(gs->topics[i], topic) == 0) {
            return FM_OK;
        }
    }
    if (gs->n_topics == gs->cap_topics) {
        int cap = gs->cap_topics ? gs->cap_topics * 2 : 8;
        char(*n)[256] = realloc(gs->topics, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        gs->topics = n;
        gs->cap_topics = cap;
    }
    snprintf(gs->topics[gs->n_topics++], 256, "%s", topic);
    return FM_OK;
}

int64_t
fm_broker_store_time_at(fm_broker *b, const char *topic, int qid, int64_t off)
{
    fm_store_get_result r;
    fm_msg_view m;
    int64_t ts = 0;
    if (off < 0 || fm_store_get(b->st, topic, qid, off, 1, 1u << 30, NULL, NULL, &r) != FM_OK) {
        return 0;
    }
    if (r.status == FM_STORE_FOUND &&
        fm_msg_decode(r.msgs[0].ptr, r.msgs[0].len, &m, NULL) == FM_OK) {
        ts = m.store_timestamp;
    }
    fm_store_get_release(&r);
    return ts;
}

void
fm_broker_h_consume_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], topic[256];
    group_set gs;
    fm_buf body = {0};
    int n = 0;
    if (fm_broker_need_str(b, conn, req, "consumerGroup", group, sizeof(group)) != FM_OK) {
        return;
    }
    memset(&gs, 0, sizeof(gs));
    gs.only_group = group;
    if (fm_broker_ext_str(req, "topic", topic, sizeof(topic)) == FM_OK && topic[0] != '\0') {
        collect_group(group, topic, 0, 0, &gs);
    } else {
        fm_store_offset_foreach(b->st, collect_group, &gs);
    }
    {
        /* ConsumeStats.consumeTps: the group's GROUP_GET_NUMS minute tps over its topics */
        double tps = 0.0;
        for (int t = 0; t < gs.n_topics; t++) {
            tps += fm_broker_stats_group_tps(b, gs.topics[t], group);
        }
        fm_buf_appendf(&body, "{\"consumeTps\":%.3f,\"offsetTable\":{", tps);
    }
    for (int t = 0; t < gs.n_topics; t++) {
        fm_store_topic tc;
        if (fm_store_topic_get(b->st, gs.topics[t], &tc) != FM_OK) {
            continue;
        }
        for (int q = 0; q < tc.read_queue_nums; q++) {
            int64_t max = fm_store_max_offset(b->st, gs.topics[t], q), cur = 0;
            char vals[160];
            fm_store_offset_query(b->st, group, gs.topics[t], q, &cur);
            snprintf(vals, sizeof(vals),
                     ":{\"brokerOffset\":%" PRId64 ",\"consumerOffset\":%" PRId64
                     ",\"lastTimestamp\":%" PRId64 ",\"pullOffset\":%" PRId64 "}",
                     max, cur, cur > 0 ? fm_broker_store_time_at(b, gs.topics[t], q, cur - 1) : 0,
                     cur);
            if (n++ > 0) {
                fm_buf_append(&body, ",", 1);
            }
            fm_broker_append_mq_key(&body, b->cfg.broker_name, gs.topics[t], q);
            fm_buf_append(&body, vals, strlen(vals));
        }
    }
    fm_buf_append(&body, "}}", 2);
    free(gs.topics);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&body));
    fm_buf_free(&body);
}

/* ---- LOCK_BATCH_MQ / UNLOCK_BATCH_MQ: queue locks for orderly consumers ---- */

#define LOCK_MAX_LIVE_MS (b->cfg.lock_max_live_ms > 0 ? b->cfg.lock_max_live_ms : 60000)

typedef struct mq_lock {
    char client_id[256];
    int64_t updated_ms;
} mq_lock;

/* key: group NUL topic NUL broker NUL qid */
static size_t
lock_key(char *buf, size_t cap, const char *group, const cJSON *mq)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(mq, "topic");
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(mq, "brokerName");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(mq, "queueId");
    int n;
    if (!cJSON_IsString(t) || !cJSON_IsString(bn) || !cJSON_IsNumber(q)) {
        return 0;
    }
    n = snprintf(buf, cap, "%s%c%s%c%s%c%d", group, '\0', t->valuestring, '\0', bn->valuestring,
                 '\0', q->valueint);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Parse {consumerGroup, clientId, mqSet:[...]} ; NULL (and an error reply) when malformed. */
static cJSON *
lock_body(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char **group,
          const char **client, cJSON **mqs)
{
    cJSON *root = cJSON_ParseWithLength((const char *)req->body.ptr, req->body.len);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "consumerGroup");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "clientId");
    *mqs = cJSON_GetObjectItemCaseSensitive(root, "mqSet");
    if (!cJSON_IsString(g) || !cJSON_IsString(c) || strlen(c->valuestring) >= 256 ||
        !cJSON_IsArray(*mqs)) {
        cJSON_Delete(root);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "%s body needs consumerGroup, clientId and mqSet",
                            fm_proto_req_name(req->code));
        return NULL;
    }
    *group = g->valuestring;
    *client = c->valuestring;
    return root;
}

void
fm_broker_h_lock_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    const char *group, *client;
    cJSON *mqs, *mq, *out, *ok;
    cJSON *root = lock_body(b, conn, req, &group, &client, &mqs);
    int64_t now = fm_net_loop_now_ms(b->loop);
    if (root == NULL) {
        return;
    }
    out = cJSON_CreateObject();
    ok = cJSON_AddArrayToObject(out, "lockOKMQSet");
    cJSON_ArrayForEach(mq, mqs)
    {
        char key[800];
        size_t klen = lock_key(key, sizeof(key), group, mq);
        mq_lock *l;
        if (klen == 0) {
            continue;
        }
        l = fm_map_get(&b->locks, key, klen);
        if (l != NULL && strcmp(l->client_id, client) != 0 &&
            now - l->updated_ms <= LOCK_MAX_LIVE_MS) {
            continue; /* held by another live client */
        }
        if (l == NULL) {
            l = calloc(1, sizeof(*l));
            if (l == NULL || fm_map_put(&b->locks, key, klen, l) != FM_OK) {
                free(l);
                continue;
            }
        }
        snprintf(l->client_id, sizeof(l->client_id), "%s", client);
        l->updated_ms = now;
        cJSON_AddItemToArray(ok, cJSON_Duplicate(mq, 1));
    }
    cJSON_Delete(root);
    fm_broker_reply_json(b, conn, req, out);
}

void
fm_broker_h_unlock_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    const char *group, *client;
    cJSON *mqs, *mq;
    cJSON *root = lock_body(b, conn, req, &group, &client, &mqs);
    if (root == NULL) {
        return;
    }
    cJSON_ArrayForEach(mq, mqs)
    {
        char key[800];
        size_t klen = lock_key(key, sizeof(key), group, mq);
        mq_lock *l = klen ? fm_map_get(&b->locks, key, klen) : NULL;
        if (l != NULL && strcmp(l->client_id, client) == 0) {
            free(fm_map_del(&b->locks, key, klen));
        }
    }
    cJSON_Delete(root);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

void
fm_broker_locks_expire(fm_broker *b, int64_t now_ms)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (fm_map_next(&b->locks, &pos, &key, &klen, &val)) {
        if (now_ms - ((mq_lock *)val)->updated_ms > 2 * LOCK_MAX_LIVE_MS) {
            fm_map_del(&b->locks, key, klen);
            free(val);
        }
    }
}

void
fm_broker_locks_free(fm_broker *b)
{
    fm_map_free_values(&b->locks, NULL);
}
