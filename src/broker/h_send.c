/*
 * h_send.c - SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE.
 *
 * The broker turns the request into RocketMQ's stored-message record (the same bytes a pull
 * later returns), the store assigns offsets and the store timestamp, and the reply carries the
 * offset message id, queue id and queue offset. In sync-flush mode the reply is held until the
 * loop's group commit has made the record durable; if the flush fails the client gets an error
 * instead, so nothing is acknowledged that is not on disk.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/fault.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Request header, from either V1 names or V2's one-letter names. */
typedef struct send_hdr {
    char group[256];
    char topic[256];
    char default_topic[256];
    int64_t default_queue_nums;
    int64_t queue_id;
    int64_t sysflag;
    int64_t born_ts;
    int64_t flag;
    fm_slice props;
    int64_t reconsume_times;
    int batch;
} send_hdr;

static int
hdr_str(const fm_cmd *req, int v2, const char *v1_key, const char *v2_key, char *dst, size_t cap)
{
    return fm_broker_ext_str(req, v2 ? v2_key : v1_key, dst, cap);
}

static int64_t
hdr_i64(const fm_cmd *req, int v2, const char *v1_key, const char *v2_key, int64_t def)
{
    int64_t v;
    if (fm_cmd_ext_i64(req, v2 ? v2_key : v1_key, &v) != FM_OK) {
        return def;
    }
    return v;
}

static int
parse_hdr(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, send_hdr *h)
{
    /* Java clients use the V2 header for SEND_MESSAGE_V2 and for SEND_BATCH_MESSAGE sent with
     * "smart" headers; plain V1 otherwise. A request carrying the V2 key "b" is V2. */
    int v2 = req->code == FM_REQ_SEND_MESSAGE_V2 || fm_cmd_ext_get(req, "b").ptr != NULL;
    char batch[16];
    memset(h, 0, sizeof(*h));
    if (hdr_str(req, v2, "topic", "b", h->topic, sizeof(h->topic)) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "send request header lacks the topic field");
        return FM_EINVAL;
    }
    hdr_str(req, v2, "producerGroup", "a", h->group, sizeof(h->group));
    hdr_str(req, v2, "defaultTopic", "c", h->default_topic, sizeof(h->default_topic));
    h->default_queue_nums = hdr_i64(req, v2, "defaultTopicQueueNums", "d", 4);
    h->queue_id = hdr_i64(req, v2, "queueId", "e", -1);
    h->sysflag = hdr_i64(req, v2, "sysFlag", "f", 0);
    h->born_ts = hdr_i64(req, v2, "bornTimestamp", "g", 0);
    h->flag = hdr_i64(req, v2, "flag", "h", 0);
    h->props = fm_cmd_ext_get(req, v2 ? "i" : "properties");
    if (h->props.ptr == NULL) {
        h->props = fm_slice_make("", 0);
    }
    h->reconsume_times = hdr_i64(req, v2, "reconsumeTimes", "j", 0);
    if (hdr_str(req, v2, "batch", "m", batch, sizeof(batch)) == FM_OK) {
        h->batch = strcmp(batch, "true") == 0;
    }
    if (h->born_ts <= 0) {
        h->born_ts = fm_clock_wall_ms();
    }
    if (!fm_props_valid(h->props)) {
        /* Stored properties must parse: recovery relies on it to tell data from a torn tail. */
        fm_broker_reply_err(
            b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
            "message properties are malformed (expected name\\x01value\\x02 pairs)");
        return FM_EINVAL;
    }
    if (h->props.len > 32767) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
                            "message properties are %zu bytes; the limit is 32767", h->props.len);
        return FM_EINVAL;
    }
    return FM_OK;
}

/* Resolve the topic (auto-creating it when allowed) and the queue to write to. */
static int
resolve_queue(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, send_hdr *h, int *qid)
{
    fm_store_topic t;
    fm_errbuf eb;
    if (strcmp(h->topic, FM_BROKER_TXN_HALF_TOPIC) == 0 ||
        strcmp(h->topic, FM_BROKER_TXN_OP_TOPIC) == 0 ||
        strcmp(h->topic, FM_BROKER_TXN_MAX_TOPIC) == 0) {
        /* the broker's own (TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET): a client could forge
         * half messages or their resolution */
        fm_broker_reply_err(b, conn, req, FM_RESP_NO_PERMISSION,
                            "Sending message to topic[%s] is forbidden.", h->topic);
        return FM_EINVAL;
    }
    if (!fm_broker_topic_name_ok(h->topic)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "topic name '%s' is invalid: use [%%|a-zA-Z0-9_-], at most 127 "
                            "characters",
                            h->topic);
        return FM_EINVAL;
    }
    if (fm_store_topic_get(b->st, h->topic, &t) != FM_OK) {
        int queues;
        if (!b->cfg.auto_create_topic) {
            fm_broker_reply_err(b, conn, req, FM_RESP_TOPIC_NOT_EXIST,
                                "topic[%s] not exist, apply first please!", h->topic);
            return FM_ENOTFOUND;
        }
        /* RocketMQ takes the smaller of the client's and the broker's default queue count. */
        queues = b->cfg.default_queue_nums;
        if (h->default_queue_nums > 0 && h->default_queue_nums < queues) {
            queues = (int)h->default_queue_nums;
        }
        if (strncmp(h->topic, "%RETRY%", 7) == 0) {
            queues = 1;
        }
        if (fm_broker_topic_ensure(b, h->topic, queues, 6, &t, &eb) != FM_OK) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "cannot create topic: %s",
                                eb.msg);
            return FM_EIO;
        }
    }
    if ((t.perm & 2) == 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_NO_PERMISSION,
                            "the topic[%s] sending is forbidden", h->topic);
        return FM_EINVAL;
    }
    if (h->queue_id < 0) {
        *qid = (int)((uint32_t)rand() % (uint32_t)t.write_queue_nums);
    } else if (h->queue_id >= t.write_queue_nums) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "request queueId[%" PRId64 "] is illegal, topic %s has %d write "
                            "queues",
                            h->queue_id, h->topic, t.write_queue_nums);
        return FM_EINVAL;
    } else {
        *qid = (int)h->queue_id;
    }
    return FM_OK;
}

/* The client's address as RocketMQ stores BORNHOST: IPv4 and port, big-endian. */
static void
born_host(fm_net_conn *conn, uint8_t out[8])
{
    char ip[64];
    const char *peer = fm_net_conn_peer(conn);
    const char *colon = strrchr(peer, ':');
    struct in_addr a;
    memset(out, 0, 8);
    if (colon == NULL || (size_t)(colon - peer) >= sizeof(ip)) {
        return;
    }
    memcpy(ip, peer, (size_t)(colon - peer));
    ip[colon - peer] = '\0';
    if (inet_pton(AF_INET, ip, &a) == 1) {
        memcpy(out, &a, 4);
    }
    fm_put_be32(out + 4, (uint32_t)atoi(colon + 1));
}

/* The properties the send path reads of every message, found in one pass: the store's
 * first (a batch hands them on to fm_store_append_props), then the broker's own. */
static const fm_slice SEND_PROPS[] = {FM_SLICE_LIT(FM_PROP_UNIQ_KEY),
                                      FM_SLICE_LIT(FM_PROP_KEYS),
                                      FM_SLICE_LIT(FM_PROP_TAGS),
                                      FM_SLICE_LIT(FM_PROP_DELAY),
                                      FM_SLICE_LIT(FM_PROP_TRANSACTION_PREPARED),
                                      FM_SLICE_LIT(FM_PROP_CLUSTER)};
enum { SP_DELAY = FM_STORE_PROP_N, SP_TRAN, SP_CLUSTER, SP_N };

/* RocketMQ's SendMessageProcessor puts CLUSTER=<brokerClusterName> in every message it
 * stores (MessageUtil.createReplyMessage reads it to address the reply). props with it, in
 * b->cluster_props unless it is already there with this value; have: the CLUSTER value the
 * pick found. The common case (a producer's message, no CLUSTER) is one copy and an append. */
static int
stamp_cluster(fm_broker *b, fm_slice props, fm_slice have, fm_slice *out)
{
    const char *name = b->cfg.cluster_name;
    size_t nl = strlen(name);
    fm_buf *o = &b->cluster_props;
    if (have.ptr != NULL && have.len == nl && memcmp(have.ptr, name, nl) == 0) {
        *out = props;
        return FM_OK;
    }
    fm_buf_reset(o);
    if (have.ptr != NULL) {
        const char *names[] = {FM_PROP_CLUSTER}, *values[] = {name};
        if (fm_broker_props_edit(o, props, names, values, 1) != FM_OK) {
            return FM_ENOMEM;
        }
    } else if (fm_buf_append(o, props.ptr, props.len) != FM_OK ||
               (props.len > 0 && props.ptr[props.len - 1] != FM_PROPS_PAIR_SEP &&
                fm_buf_append_u8(o, FM_PROPS_PAIR_SEP) != FM_OK) ||
               fm_props_append(o, FM_SLICE_LIT(FM_PROP_CLUSTER), fm_slice_make(name, nl)) !=
                   FM_OK) {
        return FM_ENOMEM;
    }
    *out = fm_buf_slice(o);
    return FM_OK;
}

/* bh: the sender's address as born_host() gives it, once per request. */
static int
encode_record(fm_broker *b, const uint8_t bh[8], const send_hdr *h, const char *topic, int qid,
              int64_t flag, fm_slice body, fm_slice props, int sysflag)
{
    fm_msg_view m;
    memset(&m, 0, sizeof(m));
    m.queue_id = qid;
    m.flag = (int32_t)flag;
    m.sysflag = sysflag;
    m.born_timestamp = h->born_ts;
    m.born_host = fm_slice_make(bh, 8);
    m.store_timestamp = 0; /* the store sets it */
    m.store_host = fm_slice_make(b->store_host, 8);
    m.reconsume_times = (int32_t)h->reconsume_times;
    m.body = body;
    m.topic = fm_slice_cstr(topic);
    m.properties = props;
    fm_buf_reset(&b->rec);
    return fm_msg_encode(&b->rec, &m, NULL);
}

void
fm_broker_reply_durable(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const fm_cmd_ext *ext,
                        size_t n_ext)
{
    held_reply *hr;
    if (!b->cfg.flush_sync) {
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, ext, n_ext, fm_slice_make(NULL, 0));
        return;
    }
    if (b->n_held == b->cap_held) {
        int cap = b->cap_held ? b->cap_held * 2 : 64;
        held_reply *n = realloc(b->held, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
        b->held = n;
        b->cap_held = cap;
    }
    hr = &b->held[b->n_held];
    memset(hr, 0, sizeof(*hr));
    if (fm_broker_encode_reply(b, &hr->frame, req, FM_RESP_SUCCESS, NULL, ext, n_ext,
                               fm_slice_make(NULL, 0)) != FM_OK ||
        fm_broker_encode_reply(b, &hr->err_frame, req, FM_RESP_SYSTEM_ERROR,
                               "flush to disk failed; the message may not be durable", NULL, 0,
                               fm_slice_make(NULL, 0)) != FM_OK) {
        fm_buf_free(&hr->frame);
        fm_buf_free(&hr->err_frame);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    fm_net_conn_ref(conn);
    hr->conn = conn;
    b->n_held++;
}

static void
reply_store_error(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int rc, const fm_errbuf *eb)
{
    int code = rc == FM_ETOOBIG ? FM_RESP_MESSAGE_ILLEGAL
               : rc == FM_EFULL ? FM_RESP_SYSTEM_BUSY
                                : FM_RESP_SYSTEM_ERROR;
    FM_LOGW("broker", "FM-BROKER-PUT-FAIL", "err=%s msg=\"%s\"", fm_errname(rc), eb->msg);
    fm_broker_reply_err(b, conn, req, code, "store append failed: %s", eb->msg);
}

/* SendMessageResponseHeader: the stored message(s)' ids, queue and first queue offset. The
 * numbers by fm_i64_to_str, not snprintf: snprintf was ~10% of the loop thread at 20k sends a
 * second. */
static void
reply_sent(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, fm_slice msgid, int qid,
           int64_t queue_offset)
{
    char qid_s[24], qoff_s[24];
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("msgId"), msgid},
        {FM_SLICE_LIT("queueId"), fm_slice_make((uint8_t *)qid_s, fm_i64_to_str(qid, qid_s))},
        {FM_SLICE_LIT("queueOffset"),
         fm_slice_make((uint8_t *)qoff_s, fm_i64_to_str(queue_offset, qoff_s))},
        {FM_SLICE_LIT("MSG_REGION"), FM_SLICE_LIT("DefaultRegion")},
        {FM_SLICE_LIT("TRACE_ON"), FM_SLICE_LIT("true")},
    };
    fm_broker_reply_durable(b, conn, req, ext, sizeof(ext) / sizeof(ext[0]));
}

/* 1 when the request's body is within maxMessageSize; else answered MESSAGE_ILLEGAL. */
static int
body_fits(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *what)
{
    if ((int64_t)req->body.len <= b->cfg.max_msg_size) {
        return 1;
    }
    fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
                        "%s body is %zu bytes; maxMessageSize is %" PRId64, what, req->body.len,
                        b->cfg.max_msg_size);
    return 0;
}

void
fm_broker_h_send(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    send_hdr h;
    int qid, rc, level, store_qid, half, sysflag, as_sent;
    fm_store_put_result res;
    fm_errbuf eb;
    char msgid[FM_MSGID_MAX + 1];
    const char *store_topic;
    fm_slice props, sp[SP_N];
    uint8_t bh[8];

    if (parse_hdr(b, conn, req, &h) != FM_OK) {
        return;
    }
    store_topic = h.topic;
    props = h.props;
    if (h.batch || req->code == FM_REQ_SEND_BATCH_MESSAGE) {
        fm_broker_h_send_batch(b, conn, req);
        return;
    }
    if (!body_fits(b, conn, req, "message")) {
        return;
    }
    if (resolve_queue(b, conn, req, &h, &qid) != FM_OK) {
        return;
    }
    store_qid = qid;
    if (FM_FAULT_POINT("broker.busy")) {
        /* test hook: answer as an overloaded broker does, storing nothing */
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_BUSY,
                            "[PCBUSY_CLEAN_QUEUE] broker busy, start flow control for a while");
        return;
    }
    sysflag = (int)h.sysflag;
    /* a malformed tail hides nothing here: what it would hide is not found either */
    (void)fm_props_pick(h.props, SEND_PROPS, SP_N, sp);
    if (fm_broker_delay_level_value(b, sp[SP_DELAY], &level) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
                            "the DELAY property is not a delay level number");
        return;
    }
    /* A committed message a consumer sends back for a retry still carries TRAN_MSG=true;
     * RocketMQ's SendMessageProcessor tells it apart by its reconsume times and delay. */
    half = fm_broker_txn_half_value(sp[SP_TRAN]) && !(h.reconsume_times > 0 && level > 0);
    if (half) {
        /* A transaction's half message waits, invisible, in the half topic until
         * END_TRANSACTION (txn.c); stored as TRANSACTION_NOT_TYPE so the half queue indexes
         * it (TransactionalMessageBridge.parseHalfMessageInner). A DELAY applies at commit. */
        if (fm_broker_schedule_redirect(&b->sched_props, h.props, h.topic, qid) != FM_OK) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
        props = fm_buf_slice(&b->sched_props);
        store_topic = FM_BROKER_TXN_HALF_TOPIC;
        store_qid = 0;
        sysflag &= ~FM_MSG_SYSFLAG_TX_ROLLBACK;
    } else if (level > 0 && strcmp(h.topic, FM_BROKER_SCHEDULE_TOPIC) != 0) {
        /* a delayed message waits in the schedule topic's queue for its level */
        if (fm_broker_schedule_redirect(&b->sched_props, h.props, h.topic, qid) != FM_OK) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
        props = fm_buf_slice(&b->sched_props);
        store_topic = FM_BROKER_SCHEDULE_TOPIC;
        store_qid = level - 1;
    }
    born_host(conn, bh);
    as_sent = props.ptr == h.props.ptr;
    if (stamp_cluster(b, props, sp[SP_CLUSTER], &props) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    if (encode_record(b, bh, &h, store_topic, store_qid, h.flag, req->body, props, sysflag) !=
        FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL, "cannot encode the message");
        return;
    }
    /* stored as sent but for CLUSTER: the store's properties are those picked above (their
     * values are the same in the request's properties, which stay valid for the call) */
    rc = as_sent ? fm_store_append_props(b->st, b->rec.data, b->rec.len, sp, &res, &eb)
                 : fm_store_append(b->st, b->rec.data, b->rec.len, &res, &eb);
    if (rc != FM_OK) {
        reply_store_error(b, conn, req, rc, &eb);
        return;
    }
    fm_broker_stats_put(b, h.topic, 1, (int64_t)b->rec.len);
    if (half) {
        if (fm_broker_txn_track(b, b->rec.data, b->rec.len) != FM_OK) {
            /* stored but untracked: only a restart would check it, so refuse the send */
            FM_LOGE("broker", "FM-TXN-TRACK-FAIL", "phys=%" PRIu64 ": out of memory",
                    res.phys_offset);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
    } else {
        fm_broker_pulls_mark(b, store_topic, store_qid);
    }

    fm_msgid_make(msgid, b->store_host, 8, res.phys_offset);
    reply_sent(b, conn, req, fm_slice_cstr(msgid), qid, res.queue_offset);
}

void
fm_broker_h_send_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    send_hdr h;
    int qid, rc, n = 0;
    fm_store_put_result res;
    fm_errbuf eb;
    fm_msg_batch_iter it;
    fm_msg_batch_item item;
    fm_buf ids = {0};
    int64_t first_offset = -1;
    uint8_t bh[8];

    if (parse_hdr(b, conn, req, &h) != FM_OK) {
        return;
    }
    if (strncmp(h.topic, "%RETRY%", 7) == 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
                            "batch sends to retry topics are not supported");
        return;
    }
    if (!body_fits(b, conn, req, "batch")) {
        return;
    }
    if (resolve_queue(b, conn, req, &h, &qid) != FM_OK) {
        return;
    }
    /* Validate the whole batch before appending any of it, so a malformed batch stores
     * nothing. */
    fm_msg_batch_init(&it, req->body);
    while ((rc = fm_msg_batch_next(&it, &item, &eb)) == FM_OK) {
        int level;
        fm_slice *sp;
        if (fm_array_reserve(&b->batch_props, &b->cap_batch_props, (size_t)(n + 1) * SP_N,
                             sizeof(*sp), 64 * SP_N) != FM_OK) {
            rc = fm_err_set(&eb, FM_ENOMEM, "out of memory");
            break;
        }
        sp = b->batch_props + (size_t)n * SP_N;
        if (fm_props_pick(item.properties, SEND_PROPS, SP_N, sp) != FM_OK) {
            rc = fm_err_set(&eb, FM_EPROTO, "message %d has malformed properties", n);
            break;
        }
        if ((h.sysflag & FM_MSG_SYSFLAG_TX_PREPARED) || fm_broker_txn_half_value(sp[SP_TRAN])) {
            rc = fm_err_set(&eb, FM_EPROTO, "batch message does not support transaction");
            break;
        }
        if (fm_broker_delay_level_value(b, sp[SP_DELAY], &level) != FM_OK || level > 0) {
            /* as RocketMQ: delay levels are per message, a batch goes to one queue */
            rc = fm_err_set(&eb, FM_EPROTO, "TimeDelayLevel is not supported for batched messages");
            break;
        }
        n++;
    }
    if (rc != FM_ENOTFOUND || n == 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL, "malformed batch body: %s",
                            n == 0 && rc == FM_ENOTFOUND ? "no messages" : eb.msg);
        return;
    }
    born_host(conn, bh);
    fm_msg_batch_init(&it, req->body);
    for (int i = 0; fm_msg_batch_next(&it, &item, &eb) == FM_OK; i++) {
        char msgid[FM_MSGID_MAX + 1];
        fm_slice props;
        if (stamp_cluster(b, item.properties, b->batch_props[(size_t)i * SP_N + SP_CLUSTER],
                          &props) != FM_OK) {
            fm_buf_free(&ids);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
        if (encode_record(b, bh, &h, h.topic, qid, item.flag, item.body, props, (int)h.sysflag) !=
            FM_OK) {
            fm_buf_free(&ids);
            fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL,
                                "cannot encode a batch message");
            return;
        }
        /* the store's properties as the first pass found them (in the request body) */
        rc = fm_store_append_props(b->st, b->rec.data, b->rec.len,
                                   b->batch_props + (size_t)i * SP_N, &res, &eb);
        if (rc != FM_OK) {
            fm_buf_free(&ids);
            reply_store_error(b, conn, req, rc, &eb);
            return;
        }
        fm_broker_stats_put(b, h.topic, 1, (int64_t)b->rec.len);
        if (first_offset < 0) {
            first_offset = res.queue_offset;
        }
        fm_msgid_make(msgid, b->store_host, 8, res.phys_offset);
        if ((ids.len > 0 && fm_buf_append(&ids, ",", 1) != FM_OK) ||
            fm_buf_append(&ids, msgid, strlen(msgid)) != FM_OK) {
            fm_buf_free(&ids);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
    }
    fm_broker_pulls_mark(b, h.topic, qid);
    reply_sent(b, conn, req, fm_buf_slice(&ids), qid, first_offset);
    fm_buf_free(&ids);
}

/* SEND_REPLY_MESSAGE(_V2), what a Java consumer's MessageUtil.createReplyMessage sends: the
 * reply is stored in its topic (<cluster>_REPLY_TOPIC, as storeReplyMessageEnable) with its
 * properties as sent, then pushed to the requesting client named by REPLY_TO_CLIENT
 * (h_relay.c), whose answer decides the reply to this request, as ReplyMessageProcessor. */
void
fm_broker_h_send_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    send_hdr h;
    int qid, rc;
    fm_store_put_result res;
    fm_errbuf eb;
    uint8_t bh[8];
    fm_slice to;
    char msgid[FM_MSGID_MAX + 1];
    if (parse_hdr(b, conn, req, &h) != FM_OK) {
        return;
    }
    if (!body_fits(b, conn, req, "message")) {
        return;
    }
    to = fm_props_get(h.props, "REPLY_TO_CLIENT");
    if (to.ptr == NULL || to.len == 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "reply message properties[REPLY_TO_CLIENT] is null");
        return;
    }
    if (resolve_queue(b, conn, req, &h, &qid) != FM_OK) {
        return;
    }
    born_host(conn, bh);
    if (encode_record(b, bh, &h, h.topic, qid, h.flag, req->body, h.props, (int)h.sysflag) !=
        FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_MESSAGE_ILLEGAL, "cannot encode the message");
        return;
    }
    rc = fm_store_append(b->st, b->rec.data, b->rec.len, &res, &eb);
    if (rc != FM_OK) {
        reply_store_error(b, conn, req, rc, &eb);
        return;
    }
    fm_broker_stats_put(b, h.topic, 1, (int64_t)b->rec.len);
    fm_broker_pulls_mark(b, h.topic, qid);
    fm_msgid_make(msgid, b->store_host, 8, res.phys_offset);
    {
        fm_broker_reply_push p;
        memset(&p, 0, sizeof(p));
        fm_slice_to_cstr(to, p.client_id, sizeof(p.client_id));
        p.group = h.group;
        p.topic = h.topic;
        p.default_topic = h.default_topic;
        p.default_queue_nums = h.default_queue_nums;
        p.queue_id = qid;
        p.sysflag = h.sysflag;
        p.born_ts = h.born_ts;
        p.flag = h.flag;
        p.props = h.props;
        p.reconsume_times = h.reconsume_times;
        p.born_host = fm_net_conn_peer(conn);
        p.store_ts = res.store_ts;
        p.body = req->body;
        p.msgid = msgid;
        p.queue_offset = res.queue_offset;
        fm_broker_push_reply(b, conn, req, &p);
    }
}
