/*
 * h_offset.c - consumer offsets and queue positions: QUERY/UPDATE_CONSUMER_OFFSET,
 * GET_MIN/MAX_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Reads the (topic, queueId) pair every request here carries; answers the error itself. */
static int
need_queue(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, char *topic, size_t cap, int *qid)
{
    int64_t q;
    if (fm_broker_need_str(b, conn, req, "topic", topic, cap) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "queueId", &q) != FM_OK) {
        return FM_EINVAL;
    }
    if (q < 0 || q > 65535) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "queueId %" PRId64 " is illegal",
                            q);
        return FM_EINVAL;
    }
    *qid = (int)q;
    return FM_OK;
}

static void
reply_i64(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *key, int64_t v)
{
    char num[24];
    fm_cmd_ext ext[1];
    snprintf(num, sizeof(num), "%" PRId64, v);
    ext[0].key = fm_slice_cstr(key);
    ext[0].val = fm_slice_cstr(num);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, ext, 1, fm_slice_make(NULL, 0));
}

void
fm_broker_h_query_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], topic[256];
    int qid;
    int64_t off;
    if (fm_broker_need_str(b, conn, req, "consumerGroup", group, sizeof(group)) != FM_OK ||
        need_queue(b, conn, req, topic, sizeof(topic), &qid) != FM_OK) {
        return;
    }
    if (fm_store_offset_query(b->st, group, topic, qid, &off) == FM_OK) {
        reply_i64(b, conn, req, "offset", off);
        return;
    }
    /* RocketMQ: a group with no committed offset starts at 0 when the queue still holds its
     * first message (min offset 0), so a new group on a young topic sees everything; otherwise
     * QUERY_NOT_FOUND lets the client apply its consumeFromWhere policy. */
    if (fm_store_min_offset(b->st, topic, qid) <= 0) {
        reply_i64(b, conn, req, "offset", 0);
        return;
    }
    fm_broker_reply_err(b, conn, req, FM_RESP_QUERY_NOT_FOUND,
                        "Not found, maybe this group consumer boot first");
}

void
fm_broker_h_update_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], topic[256];
    int qid;
    int64_t off;
    fm_store_group g;
    if (fm_broker_need_str(b, conn, req, "consumerGroup", group, sizeof(group)) != FM_OK ||
        need_queue(b, conn, req, topic, sizeof(topic), &qid) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "commitOffset", &off) != FM_OK) {
        return;
    }
    if (off < 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "commitOffset %" PRId64 " is negative", off);
        return;
    }
    if (fm_broker_reset_take(b, group, topic, qid, 0, NULL)) {
        /* the queue was reset and its consumer has not pulled since: this is its old position */
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, "Offset has been previously reset", NULL, 0,
                        fm_slice_make(NULL, 0));
        return;
    }
    if (fm_store_offset_commit(b->st, group, topic, qid, off) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "cannot record offset");
        return;
    }
    /* A group with progress is a group the broker lists (GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
     * also one that only commits (a tool, a replicator moving offsets): made on the first
     * commit while autoCreateSubscriptionGroup is on. RocketMQ takes such commits without a
     * record; the commit is taken here either way. */
    (void)fm_broker_group_find(b, group, &g);
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}

void
fm_broker_h_min_max_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int max)
{
    char topic[256];
    int qid;
    if (need_queue(b, conn, req, topic, sizeof(topic), &qid) != FM_OK) {
        return;
    }
    reply_i64(b, conn, req, "offset",
              max ? fm_store_max_offset(b->st, topic, qid)
                  : fm_store_min_offset(b->st, topic, qid));
}

void
fm_broker_h_search_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256];
    int qid;
    int64_t ts, off = 0;
    if (need_queue(b, conn, req, topic, sizeof(topic), &qid) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "timestamp", &ts) != FM_OK) {
        return;
    }
    /* RocketMQ's answer, nearest rather than first at or after (issue 12: what tools built on
     * it expect); libferrymq's ferrymq_admin_search_offset refines it client-side. */
    off = fm_store_offset_nearest_time(b->st, topic, qid, ts);
    reply_i64(b, conn, req, "offset", off);
}

void
fm_broker_h_earliest_time(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256];
    int qid;
    int64_t ts;
    if (need_queue(b, conn, req, topic, sizeof(topic), &qid) != FM_OK) {
        return;
    }
    if (fm_store_earliest_msg_time(b->st, topic, qid, &ts) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "no message in %s queue %d", topic,
                            qid);
        return;
    }
    reply_i64(b, conn, req, "timestamp", ts);
}
