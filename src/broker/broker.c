/*
 * broker.c - the broker's connection handling, request dispatch, replies and periodic work.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100
#define RETENTION_PERIOD_MS 10000

void
fm_broker_cfg_defaults(fm_broker_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->cluster_name, sizeof(cfg->cluster_name), "DefaultCluster");
    snprintf(cfg->broker_name, sizeof(cfg->broker_name), "broker-a");
    snprintf(cfg->advertise_ip, sizeof(cfg->advertise_ip), "127.0.0.1");
    snprintf(cfg->bind_addr, sizeof(cfg->bind_addr), "0.0.0.0");
    cfg->listen_port = 10911;
    cfg->vip_channel = 1;
    cfg->auto_create_topic = 1;
    cfg->auto_create_subscription_group = 1;
    cfg->default_queue_nums = 8;
    cfg->max_msg_size = 4 << 20;
    cfg->max_frame_size = 16 << 20;
    cfg->max_conn_output = 64 << 20;
    cfg->enable_property_filter = 1;
    snprintf(cfg->delay_levels, sizeof(cfg->delay_levels), "%s",
             "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h");
    cfg->max_reconsume_times = 16;
    cfg->register_period_ms = 30000;
    cfg->offset_flush_period_ms = 5000;
    cfg->transaction_timeout_ms = 6000;
    cfg->transaction_check_interval_ms = 60000;
    cfg->transaction_check_max = 15;
}

int
fm_broker_encode_reply(fm_broker *b, fm_buf *out, const fm_cmd *req, int code, const char *remark,
                       const fm_cmd_ext *ext, size_t n_ext, fm_slice body)
{
    fm_cmd resp;
    (void)b;
    fm_proto_cmd_response_init(&resp, req, code);
    resp.remark = remark != NULL ? fm_slice_cstr(remark) : fm_slice_make(NULL, 0);
    resp.ext = (fm_cmd_ext *)ext;
    resp.n_ext = n_ext;
    resp.body = body;
    return fm_proto_cmd_encode(out, &resp, NULL);
}

void
fm_broker_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int code, const char *remark,
                const fm_cmd_ext *ext, size_t n_ext, fm_slice body)
{
    if (req->flag & FM_CMD_FLAG_ONEWAY) {
        return;
    }
    fm_buf_reset(&b->out);
    if (fm_broker_encode_reply(b, &b->out, req, code, remark, ext, n_ext, body) != FM_OK) {
        FM_LOGE("broker", "FM-BROKER-ENCODE-FAIL", "code=%d peer=%s", req->code,
                fm_net_conn_peer(conn));
        fm_net_conn_close(conn);
        return;
    }
    if (fm_net_conn_write(conn, b->out.data, b->out.len) != FM_OK) {
        fm_net_conn_close(conn);
    }
}

void
fm_broker_reply_json(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, cJSON *root)
{
    char *json = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (json == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_cstr(json));
    free(json);
}

void
fm_broker_reply_err(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int code, const char *fmt,
                    ...)
{
    char remark[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof(remark), fmt, ap);
    va_end(ap);
    FM_LOGD("broker", "FM-BROKER-REQ-ERROR", "req=%d code=%d peer=%s remark=\"%s\"", req->code,
            code, fm_net_conn_peer(conn), remark);
    fm_broker_reply(b, conn, req, code, remark, NULL, 0, fm_slice_make(NULL, 0));
}

int
fm_broker_ext_str(const fm_cmd *req, const char *key, char *dst, size_t cap)
{
    fm_slice v = fm_cmd_ext_get(req, key);
    if (v.ptr == NULL) {
        return FM_ENOTFOUND;
    }
    return fm_slice_to_cstr(v, dst, cap);
}

int
fm_broker_need_str(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *key, char *dst,
                   size_t cap)
{
    int rc = fm_broker_ext_str(req, key, dst, cap);
    if (rc == FM_ENOTFOUND || (rc == FM_OK && dst[0] == '\0')) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "request %s lacks the required header field '%s'",
                            fm_proto_req_name(req->code), key);
        return FM_EINVAL;
    }
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "header field '%s' is longer than %zu bytes", key, cap - 1);
        return FM_EINVAL;
    }
    return FM_OK;
}

int
fm_broker_need_i64(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *key,
                   int64_t *out)
{
    int rc = fm_cmd_ext_i64(req, key, out);
    if (rc == FM_ENOTFOUND) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "request %s lacks the required header field '%s'",
                            fm_proto_req_name(req->code), key);
        return FM_EINVAL;
    }
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "header field '%s' is not an integer", key);
        return FM_EINVAL;
    }
    return FM_OK;
}

static void
dispatch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    switch (req->code) {
    case FM_REQ_SEND_MESSAGE:
    case FM_REQ_SEND_MESSAGE_V2:
        fm_broker_h_send(b, conn, req);
        break;
    case FM_REQ_SEND_REPLY_MESSAGE:
    case FM_REQ_SEND_REPLY_MESSAGE_V2:
        fm_broker_h_send_reply(b, conn, req);
        break;
    case FM_REQ_SEND_BATCH_MESSAGE:
        fm_broker_h_send_batch(b, conn, req);
        break;
    case FM_REQ_PULL_MESSAGE:
        fm_broker_h_pull(b, conn, req);
        break;
    case FM_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG:
        fm_broker_h_all_groups(b, conn, req);
        break;
    case FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP:
        fm_broker_h_update_group(b, conn, req);
        break;
    case FM_REQ_DELETE_SUBSCRIPTIONGROUP:
        fm_broker_h_delete_group(b, conn, req);
        break;
    case FM_REQ_GET_BROKER_CONFIG:
        fm_broker_h_get_config(b, conn, req);
        break;
    case FM_REQ_UPDATE_BROKER_CONFIG:
        fm_broker_h_update_config(b, conn, req);
        break;
    case FM_REQ_QUERY_TOPIC_CONSUME_BY_WHO:
        fm_broker_h_consume_by_who(b, conn, req);
        break;
    case FM_REQ_GET_CONSUMER_RUNNING_INFO:
        fm_broker_h_consumer_running_info(b, conn, req);
        break;
    case FM_REQ_CONSUME_MESSAGE_DIRECTLY:
        fm_broker_h_consume_directly(b, conn, req);
        break;
    case FM_REQ_VIEW_BROKER_STATS_DATA:
        fm_broker_h_view_stats(b, conn, req);
        break;
    case FM_REQ_GET_BROKER_CONSUME_STATS:
        fm_broker_h_broker_consume_stats(b, conn, req);
        break;
    case FM_REQ_GET_TOPIC_STATS_INFO:
        fm_broker_h_topic_stats(b, conn, req);
        break;
    case FM_REQ_GET_CONSUMER_CONNECTION_LIST:
        fm_broker_h_consumer_connections(b, conn, req);
        break;
    case FM_REQ_GET_PRODUCER_CONNECTION_LIST:
        fm_broker_h_producer_connections(b, conn, req);
        break;
    case FM_REQ_GET_CONSUME_STATS:
        fm_broker_h_consume_stats(b, conn, req);
        break;
    case FM_REQ_LOCK_BATCH_MQ:
        fm_broker_h_lock_batch(b, conn, req);
        break;
    case FM_REQ_UNLOCK_BATCH_MQ:
        fm_broker_h_unlock_batch(b, conn, req);
        break;
    case FM_REQ_INVOKE_BROKER_TO_RESET_OFFSET:
        fm_broker_h_reset_offset(b, conn, req);
        break;
    case FM_REQ_CONSUMER_SEND_MSG_BACK:
        fm_broker_h_send_back(b, conn, req);
        break;
    case FM_REQ_QUERY_CONSUMER_OFFSET:
        fm_broker_h_query_offset(b, conn, req);
        break;
    case FM_REQ_UPDATE_CONSUMER_OFFSET:
        fm_broker_h_update_offset(b, conn, req);
        break;
    case FM_REQ_GET_MAX_OFFSET:
        fm_broker_h_min_max_offset(b, conn, req, 1);
        break;
    case FM_REQ_GET_MIN_OFFSET:
        fm_broker_h_min_max_offset(b, conn, req, 0);
        break;
    case FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP:
        fm_broker_h_search_offset(b, conn, req);
        break;
    case FM_REQ_GET_EARLIEST_MSG_STORETIME:
        fm_broker_h_earliest_time(b, conn, req);
        break;
    case FM_REQ_VIEW_MESSAGE_BY_ID:
        fm_broker_h_view_by_id(b, conn, req);
        break;
    case FM_REQ_END_TRANSACTION:
        fm_broker_h_end_transaction(b, conn, req);
        break;
    case FM_REQ_QUERY_MESSAGE:
        fm_broker_h_query_message(b, conn, req);
        break;
    case FM_REQ_CHECK_CLIENT_CONFIG:
        fm_broker_h_check_client_config(b, conn, req);
        break;
    case FM_REQ_HEART_BEAT:
        fm_broker_h_heartbeat(b, conn, req);
        break;
    case FM_REQ_UNREGISTER_CLIENT:
        fm_broker_h_unregister_client(b, conn, req);
        break;
    case FM_REQ_GET_CONSUMER_LIST_BY_GROUP:
        fm_broker_h_consumer_list(b, conn, req);
        break;
    case FM_REQ_QUERY_CONSUME_QUEUE:
        fm_broker_h_query_consume_queue(b, conn, req);
        break;
    case FM_REQ_GET_SYSTEM_TOPIC_LIST_FROM_BROKER:
        fm_broker_h_system_topics(b, conn, req);
        break;
    case FM_REQ_GET_ALL_PRODUCER_INFO:
        fm_broker_h_all_producers(b, conn, req);
        break;
    case FM_REQ_CLEAN_EXPIRED_CONSUMEQUEUE:
    case FM_REQ_DELETE_EXPIRED_COMMITLOG:
    case FM_REQ_CLEAN_UNUSED_TOPIC:
        fm_broker_h_store_maintenance(b, conn, req);
        break;
    case FM_REQ_DELETE_TOPIC_IN_BROKER:
        fm_broker_h_delete_topic(b, conn, req);
        break;
    case FM_REQ_UPDATE_AND_CREATE_TOPIC:
        fm_broker_h_create_topic(b, conn, req);
        break;
    case FM_REQ_GET_ALL_TOPIC_CONFIG:
        fm_broker_h_all_topic_config(b, conn, req);
        break;
    case FM_REQ_GET_BROKER_RUNTIME_INFO:
        fm_broker_h_runtime_info(b, conn, req);
        break;
    default:
        /* INFO, not DEBUG: an operator looking for why a tool failed greps for this */
        FM_LOGI("broker", "FM-BROKER-REQ-UNSUPPORTED", "req=%d name=%s peer=%s", req->code,
                fm_proto_req_name(req->code), fm_net_conn_peer(conn));
        fm_broker_reply_err(b, conn, req, FM_RESP_REQUEST_CODE_NOT_SUPPORTED,
                            "request code %d (%s) is not supported by this broker", req->code,
                            fm_proto_req_name(req->code));
        break;
    }
}

static void
on_frame(fm_net_conn *conn, const uint8_t *frame, size_t len, void *ud)
{
    fm_broker *b = ud;
    fm_cmd req;
    fm_errbuf eb;
    if (fm_proto_cmd_decode(frame, len, &b->arena, &req, &eb) != FM_OK) {
        /* Without a decodable header there is no opaque to answer to: close this connection
         * only; others are unaffected. */
        FM_LOGW("broker", "FM-BROKER-BAD-FRAME", "peer=%s len=%zu err=\"%s\"",
                fm_net_conn_peer(conn), len, eb.msg);
        fm_net_conn_close(conn);
        return;
    }
    if (req.flag & FM_CMD_FLAG_RESPONSE) {
        /* a consumer's answer to a request relayed for a tool; else to a notification we sent
         * oneway, which nothing waits for */
        fm_broker_relay_answer(b, conn, &req);
        return;
    }
    dispatch(b, conn, &req);
}

static void
on_open(fm_net_conn *conn, void *ud)
{
    fm_broker *b = ud;
    (void)conn;
    b->n_conns++;
    b->conns_accepted++;
}

static void
on_close(fm_net_conn *conn, int err, void *ud)
{
    fm_broker *b = ud;
    (void)err;
    b->n_conns--;
    fm_broker_pulls_drop_conn(b, conn);
    fm_broker_clients_drop_conn(b, conn);
    fm_broker_relays_drop_conn(b, conn);
}

/* Group commit: every append of this iteration is made durable by one sync, then the replies
 * that waited for it go out. Replies are written after the sync, never before, so a client
 * never sees an acknowledgement for data a crash could lose (the AE_BARRIER reasoning). */
static void
before_sleep(void *ud)
{
    fm_broker *b = ud;
    int64_t now = fm_net_loop_now_ms(b->loop);
    if (b->n_held > 0) {
        fm_errbuf eb;
        int rc = fm_store_sync(b->st, &eb);
        if (rc != FM_OK) {
            FM_LOGE("broker", "FM-BROKER-FLUSH-FAIL", "err=%s msg=\"%s\" replies=%d",
                    fm_errname(rc), eb.msg, b->n_held);
        }
        for (int i = 0; i < b->n_held; i++) {
            held_reply *hr = &b->held[i];
            fm_buf *f = rc == FM_OK ? &hr->frame : &hr->err_frame;
            if (!fm_net_conn_is_closed(hr->conn) &&
                fm_net_conn_write(hr->conn, f->data, f->len) != FM_OK) {
                fm_net_conn_close(hr->conn);
            }
            fm_net_conn_unref(hr->conn);
            fm_buf_free(&hr->frame);
            fm_buf_free(&hr->err_frame);
        }
        b->n_held = 0;
    }
    fm_broker_pulls_service(b, now, 0);
    /* what this iteration staged reaches the page cache before the loop sleeps, replies or
     * not (a oneway send has none); a failure is logged by the store and retried */
    (void)fm_store_commit(b->st, NULL);
}

/* Nothing leaves the process before the appends it may acknowledge are in the page cache. */
static int
before_output(void *ud)
{
    fm_broker *b = ud;
    return fm_store_commit(b->st, NULL) == FM_OK ? 0 : -1;
}

static void
tick(void *ud)
{
    fm_broker *b = ud;
    int64_t now = fm_net_loop_now_ms(b->loop);
    int64_t wall = fm_clock_wall_ms();
    b->tick_timer = NULL;
    fm_broker_pulls_service(b, now, 0);
    fm_broker_schedule_tick(b, wall);
    fm_broker_txn_tick(b, wall);
    fm_broker_stats_tick(b, wall);
    fm_broker_relays_tick(b, now);
    fm_broker_register_tick(b, now);
    if (now >= b->next_offset_flush_ms) {
        fm_broker_clients_expire(b, now);
        fm_broker_subs_expire(b, now);
        fm_broker_locks_expire(b, now);
        b->next_offset_flush_ms = now + b->cfg.offset_flush_period_ms;
        fm_store_tick(b->st, wall);
    }
    if (now >= b->next_retention_ms) {
        b->next_retention_ms = now + RETENTION_PERIOD_MS;
        fm_store_retention_run(b->st, wall);
    }
    if (!b->shutting_down) {
        fm_net_timer_add(b->loop, TICK_MS, tick, b, &b->tick_timer);
    }
}

static int
ensure_system_topics(fm_broker *b, fm_errbuf *eb)
{
    int rc;
    /* TBW102 is the topic Java producers look up when theirs has no route yet; its presence
     * in routes (perm inherit+read+write) is what makes auto-creation work for them. */
    if (b->cfg.auto_create_topic) {
        rc = fm_broker_topic_ensure(b, "TBW102", b->cfg.default_queue_nums, 7, NULL, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    rc = fm_broker_topic_ensure(b, "SELF_TEST_TOPIC", 1, 6, NULL, eb);
    if (rc != FM_OK) {
        return rc;
    }
    /* what mqadmin startMonitoring's push consumer subscribes to (TopicConfigManager makes it) */
    rc = fm_broker_topic_ensure(b, "OFFSET_MOVED_EVENT", 1, 6, NULL, eb);
    if (rc != FM_OK) {
        return rc;
    }
    if (fm_broker_topic_name_ok(b->cfg.cluster_name)) {
        rc = fm_broker_topic_ensure(b, b->cfg.cluster_name, 16, 7, NULL, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    if (fm_broker_topic_name_ok(b->cfg.broker_name)) {
        rc = fm_broker_topic_ensure(b, b->cfg.broker_name, 1, 7, NULL, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    {
        /* where request-reply's replies go (TopicConfigManager: one queue, perm 6) */
        char reply[300];
        snprintf(reply, sizeof(reply), "%s_REPLY_TOPIC", b->cfg.cluster_name);
        if (fm_broker_topic_name_ok(reply)) {
            rc = fm_broker_topic_ensure(b, reply, 1, 6, NULL, eb);
        }
    }
    return rc;
}

/* The remoting port and, with vip_channel, the port 2 below it, which RocketMQ's clients
 * with sendMessageWithVIPChannel use (MixAll.brokerVIPChannel: the address's port - 2). With
 * listen_port 0 both must be free: a few draws of the first until the second binds too. */
static int
listen_both(fm_broker *b, const fm_net_conn_cbs *cbs, fm_errbuf *eb)
{
    const fm_broker_cfg *cfg = &b->cfg;
    for (int attempt = 0;; attempt++) {
        fm_errbuf vip_eb;
        int port,
            rc = fm_net_listen(b->loop, cfg->bind_addr, cfg->listen_port, cbs, b, &b->lis, eb);
        if (rc != FM_OK || !cfg->vip_channel) {
            return rc;
        }
        port = fm_net_listener_port(b->lis);
        if (port > 2 && fm_net_listen(b->loop, cfg->bind_addr, port - 2, cbs, b, &b->vip_lis,
                                      &vip_eb) == FM_OK) {
            return FM_OK;
        }
        if (cfg->listen_port != 0 || attempt == 20) {
            fm_net_listener_close(b->lis);
            b->lis = NULL;
            return fm_err_set(eb, FM_EIO,
                              "cannot listen on the VIP channel port %d (listenPort - 2): %s; "
                              "vipChannelEnabled=false goes without it",
                              port - 2, port > 2 ? vip_eb.msg : "no such port");
        }
        fm_net_listener_close(b->lis); /* that draw's port - 2 is taken: draw again */
        b->lis = NULL;
    }
}

int
fm_broker_new(fm_net_loop *loop, fm_store *st, const fm_broker_cfg *cfg, fm_broker **out,
              fm_errbuf *eb)
{
    fm_broker *b = calloc(1, sizeof(*b));
    fm_net_conn_cbs cbs;
    struct in_addr a;
    int rc;

    if (b == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    b->cfg = *cfg;
    b->loop = loop;
    b->st = st;
    b->start_ms = fm_clock_wall_ms();
    b->next_opaque = 1;
    fm_proto_arena_init(&b->arena);

    memset(&cbs, 0, sizeof(cbs));
    cbs.max_frame = (size_t)cfg->max_frame_size;
    cbs.frame_len = fm_proto_frame_len;
    cbs.on_frame = on_frame;
    cbs.on_open = on_open;
    cbs.on_close = on_close;
    cbs.max_output = (size_t)cfg->max_conn_output;
    rc = listen_both(b, &cbs, eb);
    if (rc != FM_OK) {
        fm_broker_free(b);
        return rc;
    }
    b->port = fm_net_listener_port(b->lis);
    if (inet_pton(AF_INET, cfg->advertise_ip, &a) != 1) {
        fm_broker_free(b);
        return fm_err_set(eb, FM_EINVAL, "brokerIP1 '%s' is not an IPv4 address",
                          cfg->advertise_ip);
    }
    memcpy(b->store_host, &a, 4);
    fm_put_be32(b->store_host + 4, (uint32_t)b->port);
    snprintf(b->addr, sizeof(b->addr), "%s:%d", cfg->advertise_ip, b->port);

    rc = ensure_system_topics(b, eb);
    if (rc == FM_OK) {
        rc = fm_broker_schedule_ensure(b, eb);
    }
    if (rc == FM_OK) {
        rc = fm_broker_txn_open(b, eb);
    }
    if (rc != FM_OK) {
        fm_broker_free(b);
        return rc;
    }
    fm_net_loop_set_before_sleep(loop, before_sleep, b);
    fm_net_loop_set_before_output(loop, before_output, b);
    b->next_offset_flush_ms = fm_net_loop_now_ms(loop) + cfg->offset_flush_period_ms;
    rc = fm_net_timer_add(loop, TICK_MS, tick, b, &b->tick_timer);
    if (rc != FM_OK) {
        fm_broker_free(b);
        return fm_err_set(eb, rc, "cannot arm the broker timer");
    }
    FM_LOGI("broker", "FM-BROKER-LISTENING", "addr=%s bind=%s:%d cluster=%s broker=%s flush=%s",
            b->addr, cfg->bind_addr, b->port, cfg->cluster_name, cfg->broker_name,
            cfg->flush_sync ? "sync" : "async");
    fm_broker_register_now(b);
    *out = b;
    return FM_OK;
}

int
fm_broker_port(const fm_broker *b)
{
    return b->port;
}

int
fm_broker_vip_port(const fm_broker *b)
{
    return b->vip_lis != NULL ? fm_net_listener_port(b->vip_lis) : 0;
}

void
fm_broker_on_registered(fm_broker *b, void (*cb)(void *ud), void *ud)
{
    b->on_registered = cb;
    b->on_registered_ud = ud;
}

void
fm_broker_shutdown(fm_broker *b)
{
    if (b == NULL || b->shutting_down) {
        return;
    }
    b->shutting_down = 1;
    /* Answer parked pulls now so clients re-pull elsewhere instead of timing out. */
    fm_broker_pulls_service(b, fm_net_loop_now_ms(b->loop), 1);
    before_sleep(b);
    fm_broker_unregister_all(b);
    if (b->tick_timer != NULL) {
        fm_net_timer_cancel(b->loop, b->tick_timer);
        b->tick_timer = NULL;
    }
    if (b->vip_lis != NULL) {
        fm_net_listener_close(b->vip_lis);
        b->vip_lis = NULL;
    }
    if (b->lis != NULL) {
        fm_net_listener_close(b->lis);
        b->lis = NULL;
    }
}

void
fm_broker_free(fm_broker *b)
{
    if (b == NULL) {
        return;
    }
    fm_broker_shutdown(b);
    /* the loop may run on (a daemon closing other parts) and must not call into freed memory */
    fm_net_loop_set_before_output(b->loop, NULL, NULL);
    fm_net_loop_set_before_sleep(b->loop, NULL, NULL);
    for (int i = 0; i < b->n_pulls; i++) {
        if (b->pulls[i].used) {
            fm_net_conn_unref(b->pulls[i].conn);
            fm_filter_unref(b->pulls[i].filter);
        }
    }
    for (int i = 0; i < b->n_held; i++) {
        fm_net_conn_unref(b->held[i].conn);
        fm_buf_free(&b->held[i].frame);
        fm_buf_free(&b->held[i].err_frame);
    }
    free(b->pulls);
    free(b->held);
    free(b->clients);
    fm_broker_subs_free(b);
    fm_broker_resets_free(b);
    fm_broker_locks_free(b);
    fm_broker_txn_free(b);
    fm_broker_stats_free(b);
    fm_broker_relays_free(b);
    fm_buf_free(&b->cluster_props);
    fm_proto_arena_free(&b->arena);
    fm_buf_free(&b->out);
    fm_buf_free(&b->rec);
    free(b->batch_props);
    fm_buf_free(&b->body);
    fm_buf_free(&b->sched_props);
    free(b);
}
