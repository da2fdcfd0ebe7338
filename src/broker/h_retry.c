/*
 * h_retry.c - CONSUMER_SEND_MSG_BACK: a consumer hands back a message it failed to consume.
 *
 * As RocketMQ's AbstractSendMessageProcessor.consumerSendMsgBack: the stored message (found by
 * its commit log offset) is stored again for the group, with RECONSUMETIMES + 1, its original
 * properties plus RETRY_TOPIC (the topic it first came from) and ORIGIN_MESSAGE_ID (its first
 * offset message id), either
 * - in %RETRY%<group> after a delay: level delayLevel, or 3 + its reconsume times when the
 *   consumer asks for 0, clamped to the last configured level (so 10 s, 30 s, 1 m, ... with the
 *   default levels), through SCHEDULE_TOPIC_XXXX; or
 * - in %DLQ%<group> at once when it was already reconsumed maxReconsumeTimes times (the
 *   request's, else the broker's setting) or the consumer asks with a negative delayLevel.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
fm_broker_h_send_back(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], topic[300], msgid[FM_MSGID_MAX + 1], delay_s[16];
    int64_t offset, delay_level = 0, max_times;
    fm_buf rec = {0};
    fm_msg_view m;
    fm_errbuf eb;
    fm_store_put_result res;
    fm_slice origin;
    int rc, dlq, qid = 0, retry_qid = 0;
    fm_store_group g;
    fm_store_topic rt_cfg;

    if (fm_broker_need_str(b, conn, req, "group", group, sizeof(group)) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "offset", &offset) != FM_OK) {
        return;
    }
    snprintf(topic, sizeof(topic), "%%RETRY%%%s", group);
    if (!fm_broker_topic_name_ok(topic)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_GROUP_NOT_EXIST,
                            "subscription group not exist, %s (not a valid group name)", group);
        return;
    }
    if (fm_broker_group_find(b, group, &g) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_GROUP_NOT_EXIST,
                            "subscription group not exist, %s \nSee "
                            "http://rocketmq.apache.org/docs/faq/ for further details.",
                            group);
        return;
    }
    if (g.retry_queue_nums <= 0) {
        /* RocketMQ's meaning of retryQueueNums 0: the group wants no retries; the message is
         * answered SUCCESS and not kept (a choice the group's config makes, logged) */
        FM_LOGI("broker", "FM-BROKER-RETRY-OFF", "group=%s offset=%" PRId64 " retryQueueNums=%d",
                group, offset, g.retry_queue_nums);
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
        return;
    }
    /* the group's retryMaxTimes, unless the consumer names its own (clients >= 3.4.9) */
    max_times = g.retry_max_times;
    fm_cmd_ext_i64(req, "delayLevel", &delay_level);
    fm_cmd_ext_i64(req, "maxReconsumeTimes", &max_times);
    if (offset < 0 || fm_store_read_at(b->st, (uint64_t)offset, &rec, &eb) != FM_OK ||
        fm_msg_decode(rec.data, rec.len, &m, NULL) != FM_OK) {
        fm_buf_free(&rec);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "look message by offset failed, %" PRId64, offset);
        return;
    }

    dlq = m.reconsume_times >= max_times || delay_level < 0;
    if (dlq) {
        snprintf(topic, sizeof(topic), "%%DLQ%%%s", group);
        delay_level = 0;
    } else if (delay_level == 0) {
        delay_level = 3 + m.reconsume_times;
    }
    if (delay_level > b->n_delay) {
        delay_level = b->n_delay;
    }
    rc = fm_broker_topic_ensure(b, topic, dlq ? 1 : g.retry_queue_nums, 6, NULL, &eb);
    if (rc != FM_OK) {
        fm_buf_free(&rec);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "topic[%s] not exist: %s", topic,
                            eb.msg);
        return;
    }
    /* spread over the retry topic's queues as it is (it may predate the group's config) */
    if (!dlq && fm_store_topic_get(b->st, topic, &rt_cfg) == FM_OK && rt_cfg.write_queue_nums > 0) {
        retry_qid = (int)((uint64_t)offset % (uint64_t)rt_cfg.write_queue_nums);
    }

    /* The properties: the original ones, plus where it came from. */
    {
        fm_slice rt = fm_props_get(m.properties, FM_PROP_RETRY_TOPIC);
        char first_topic[256];
        char retry_topic[300], retry_qid_s[16];
        /* a retry also carries where the schedule service delivers it (REAL_TOPIC, REAL_QID) */
        const char *names[6] = {FM_PROP_WAIT,        FM_PROP_DELAY,
                                FM_PROP_RETRY_TOPIC, FM_PROP_ORIGIN_MESSAGE_ID,
                                FM_PROP_REAL_TOPIC,  FM_PROP_REAL_QUEUE_ID};
        const char *values[6];
        origin = fm_props_get(m.properties, FM_PROP_ORIGIN_MESSAGE_ID);
        if (origin.ptr == NULL || origin.len == 0) {
            fm_msgid_make(msgid, m.store_host.ptr, m.store_host.len, (uint64_t)offset);
        } else {
            fm_slice_to_cstr(origin, msgid, sizeof(msgid));
        }
        fm_slice_to_cstr(rt.ptr != NULL ? rt : m.topic, first_topic, sizeof(first_topic));
        snprintf(delay_s, sizeof(delay_s), "%" PRId64, delay_level);
        snprintf(retry_topic, sizeof(retry_topic), "%s", topic);
        values[0] = "false";
        values[1] = delay_s;
        values[2] = first_topic;
        values[3] = msgid;
        values[4] = retry_topic;
        snprintf(retry_qid_s, sizeof(retry_qid_s), "%d", retry_qid);
        values[5] = retry_qid_s;
        rc = fm_broker_props_edit(&b->sched_props, m.properties, names, values, dlq ? 4 : 6);
        if (!dlq) {
            /* parked in the schedule topic until the level's delay has passed */
            snprintf(topic, sizeof(topic), "%s", FM_BROKER_SCHEDULE_TOPIC);
            qid = (int)delay_level - 1;
        }
        if (rc != FM_OK) {
            fm_buf_free(&rec);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
    }

    m.topic = fm_slice_cstr(topic);
    m.queue_id = qid;
    m.properties = fm_buf_slice(&b->sched_props);
    m.reconsume_times++;
    m.store_timestamp = 0;
    m.store_host = fm_slice_make(b->store_host, 8);
    fm_buf_reset(&b->rec);
    rc = fm_msg_encode(&b->rec, &m, &eb);
    fm_buf_free(&rec); /* m's slices pointed into it; b->rec has the copy now */
    if (rc == FM_OK) {
        rc = fm_store_append(b->st, b->rec.data, b->rec.len, &res, &eb);
    }
    if (rc != FM_OK) {
        FM_LOGW("broker", "FM-BROKER-PUT-FAIL", "err=%s msg=\"%s\"", fm_errname(rc), eb.msg);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "store append failed: %s", eb.msg);
        return;
    }
    fm_broker_stats_put(b, topic, 1, (int64_t)b->rec.len);
    {
        /* SNDBCK_PUT_NUMS, keyed by where it went and the group, as BrokerStatsManager */
        char key[600];
        int n = snprintf(key, sizeof(key), "%s@%s", topic, group);
        if (n > 0 && (size_t)n < sizeof(key)) {
            fm_broker_stats_add(&b->stats, FM_STATS_SNDBCK_PUT, key, (size_t)n, 1, 0);
        }
    }
    fm_broker_pulls_mark(b, topic, qid);
    if (dlq) {
        FM_LOGI("broker", "FM-BROKER-DLQ", "group=%s origin_msg_id=%s reconsume_times=%d", group,
                msgid, m.reconsume_times);
    }
    fm_broker_reply_durable(b, conn, req, NULL, 0);
}
