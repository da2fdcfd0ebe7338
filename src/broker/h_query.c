/*
 * h_query.c - QUERY_MESSAGE (12): messages by key or by UNIQ_KEY from the store's index, as
 * RocketMQ's QueryMessageProcessor answers it (VIEW_MESSAGE_BY_ID, its sibling, is in
 * h_admin.c).
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* MessageStoreConfig: maxMsgsNumBatch caps maxNum; a UNIQ_KEY query always asks for
 * defaultQueryMaxNum. */
#define MAX_MSGS_NUM_BATCH 64
#define DEFAULT_QUERY_MAX_NUM 32

void
fm_broker_h_query_message(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256], flag[8], ts[24], phys[24];
    int64_t max_num, begin, end;
    fm_slice key;
    fm_store_query_result r;
    int uniq, rc;

    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    key = fm_cmd_ext_get(req, "key");
    if (key.ptr == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "request QUERY_MESSAGE lacks the required header field 'key'");
        return;
    }
    if (fm_broker_need_i64(b, conn, req, "maxNum", &max_num) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "beginTimestamp", &begin) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "endTimestamp", &end) != FM_OK) {
        return;
    }
    uniq = fm_broker_ext_str(req, "_UNIQUE_KEY_QUERY", flag, sizeof(flag)) == FM_OK &&
           strcmp(flag, "true") == 0;
    if (uniq) {
        max_num = DEFAULT_QUERY_MAX_NUM;
    }
    if (max_num > MAX_MSGS_NUM_BATCH) {
        max_num = MAX_MSGS_NUM_BATCH;
    }
    fm_buf_reset(&b->body);
    r.n_msgs = 0;
    rc = max_num > 0 ? fm_store_query_by_key(b->st, topic, key, uniq, (int)max_num, begin, end,
                                             &b->body, &r)
                     : FM_OK;
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "query failed: %s",
                            fm_strerror(rc));
        return;
    }
    snprintf(ts, sizeof(ts), "%" PRId64, r.last_update_ts);
    snprintf(phys, sizeof(phys), "%" PRIu64, r.last_update_phys);
    {
        /* Both fields go out on QUERY_NOT_FOUND too: RocketMQ fills the response header
         * before it knows whether anything was found. */
        fm_cmd_ext ext[] = {{FM_SLICE_LIT("indexLastUpdateTimestamp"), fm_slice_cstr(ts)},
                            {FM_SLICE_LIT("indexLastUpdatePhyoffset"), fm_slice_cstr(phys)}};
        if (r.n_msgs > 0) {
            fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, ext, 2, fm_buf_slice(&b->body));
        } else {
            fm_broker_reply(b, conn, req, FM_RESP_QUERY_NOT_FOUND,
                            "can not find message, maybe time range not correct", ext, 2,
                            fm_slice_make(NULL, 0));
        }
    }
}
