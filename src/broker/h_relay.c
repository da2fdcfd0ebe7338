/*
 * h_relay.c - requests a tool sends the broker for one consumer client, forwarded on that
 * client's own connection and answered with the client's reply, as RocketMQ 4.9's
 * AdminBrokerProcessor.callConsumer and Broker2Client.callClient do:
 *   GET_CONSUMER_RUNNING_INFO (307)  mqadmin consumerStatus, consumerProgress -s: header
 *                                    consumerGroup, clientId, jstackEnable, forwarded as is
 *   CONSUME_MESSAGE_DIRECTLY (309)   mqadmin consumeMessage / the Dashboard's resend: header
 *                                    consumerGroup, clientId, msgId (an offset id of this
 *                                    broker); the stored message goes along as the body, with
 *                                    brokerName added to the header
 * The forward gets an opaque of the broker's; the client's reply (code, remark, header
 * fields, body) goes back under the tool's opaque. A client that has not answered within
 * RELAY_TIMEOUT_MS gets the tool CONSUME_MSG_TIMEOUT (207), one whose connection closes first
 * SYSTEM_ERROR; a client not online SYSTEM_ERROR "The Consumer <group> <clientId> not online".
 * Nothing blocks: the loop goes on while a relay waits.
 *
 * The same machinery pushes a stored reply (SEND_REPLY_MESSAGE, h_send.c) to the producer
 * connection its REPLY_TO_CLIENT names, as PUSH_REPLY_MESSAGE_TO_CLIENT (326) with
 * ReplyMessageRequestHeader, and answers the replier once the requester did:
 * ReplyMessageProcessor.pushReplyMessage's codes and words.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELAY_TIMEOUT_MS 10000 /* Broker2Client.callClient's */
#define RELAY_MAX 256          /* relays in flight; more are refused SYSTEM_BUSY */

/* The tool's request as the reply to it needs it. */
static fm_cmd
tool_req(const relay *r)
{
    fm_cmd req;
    memset(&req, 0, sizeof(req));
    req.code = r->code;
    req.opaque = r->tool_opaque;
    req.serialize = r->tool_serialize;
    return req;
}

static void
relay_end(fm_broker *b, int i)
{
    fm_net_conn_unref(b->relays[i].client);
    fm_net_conn_unref(b->relays[i].tool);
    b->relays[i] = b->relays[--b->n_relays];
}

static void
relay_fail(fm_broker *b, int i, int code, const char *why)
{
    relay *r = &b->relays[i];
    if (!fm_net_conn_is_closed(r->tool)) {
        fm_cmd req = tool_req(r);
        if (r->is_reply) {
            /* RocketMQ's words for any failed push */
            fm_broker_reply_err(b, r->tool, &req, FM_RESP_SYSTEM_ERROR,
                                "push reply message to %sfail.", r->client_id);
        } else {
            fm_broker_reply_err(b, r->tool, &req, code, "%s", why);
        }
    }
    relay_end(b, i);
}

/* The replier's answer: SendMessageResponseHeader of the stored reply. */
static void
reply_answered(fm_broker *b, const relay *r, int pushed_ok)
{
    fm_cmd req = tool_req(r);
    char qid[24], qoff[24];
    if (!pushed_ok) {
        fm_broker_reply_err(b, r->tool, &req, FM_RESP_SYSTEM_ERROR, "push reply message to %sfail.",
                            r->client_id);
        return;
    }
    snprintf(qid, sizeof(qid), "%d", r->queue_id);
    snprintf(qoff, sizeof(qoff), "%" PRId64, r->queue_offset);
    {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("msgId"), fm_slice_cstr(r->msgid)},
            {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
            {FM_SLICE_LIT("queueOffset"), fm_slice_cstr(qoff)},
            {FM_SLICE_LIT("MSG_REGION"), FM_SLICE_LIT("DefaultRegion")},
            {FM_SLICE_LIT("TRACE_ON"), FM_SLICE_LIT("true")},
        };
        fm_broker_reply(b, r->tool, &req, FM_RESP_SUCCESS, NULL, ext, 5, fm_slice_make(NULL, 0));
    }
}

static const client_entry *
online_consumer(fm_broker *b, const char *group, const char *client_id)
{
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        if (c->is_consumer && c->conn != NULL && !fm_net_conn_is_closed(c->conn) &&
            strcmp(c->group, group) == 0 && strcmp(c->client_id, client_id) == 0) {
            return c;
        }
    }
    return NULL;
}

/* Room for one more relay (0), or -1: RELAY_MAX in flight, or out of memory. */
static int
relay_room(fm_broker *b)
{
    if (b->n_relays == RELAY_MAX) {
        return -1;
    }
    if (b->n_relays == b->cap_relays) {
        int cap = b->cap_relays ? 2 * b->cap_relays : 8;
        relay *nr = realloc(b->relays, (size_t)cap * sizeof(*nr));
        if (nr == NULL) {
            return -1;
        }
        b->relays = nr;
        b->cap_relays = cap;
    }
    return 0;
}

/* Forward req to the client with its header fields (plus extra) and body. */
static void
forward(fm_broker *b, fm_net_conn *tool, const fm_cmd *req, const fm_cmd_ext *extra, size_t n_extra,
        fm_slice body)
{
    char group[256], client_id[256];
    const client_entry *c;
    int32_t opaque;
    fm_cmd_ext ext[FM_PROTO_MAX_EXT];
    size_t n = 0;
    relay *r;
    if (fm_broker_need_str(b, tool, req, "consumerGroup", group, sizeof(group)) != FM_OK ||
        fm_broker_need_str(b, tool, req, "clientId", client_id, sizeof(client_id)) != FM_OK) {
        return;
    }
    if ((c = online_consumer(b, group, client_id)) == NULL) {
        fm_broker_reply_err(b, tool, req, FM_RESP_SYSTEM_ERROR, "The Consumer <%s> <%s> not online",
                            group, client_id);
        return;
    }
    if (relay_room(b) != 0) {
        fm_broker_reply_err(b, tool, req, FM_RESP_SYSTEM_BUSY,
                            "%d requests to clients already wait for their answers", b->n_relays);
        return;
    }
    for (size_t i = 0; i < req->n_ext && n < FM_PROTO_MAX_EXT; i++) {
        ext[n++] = req->ext[i];
    }
    for (size_t i = 0; i < n_extra && n < FM_PROTO_MAX_EXT; i++) {
        ext[n++] = extra[i];
    }
    if (fm_broker_send_request(b, c->conn, req->code, 0, ext, (size_t)n, body, &opaque) != FM_OK) {
        fm_broker_reply_err(b, tool, req, FM_RESP_SYSTEM_ERROR, "cannot send %s to consumer %s",
                            fm_proto_req_name(req->code), client_id);
        return;
    }
    r = &b->relays[b->n_relays++];
    memset(r, 0, sizeof(*r));
    r->client = c->conn;
    fm_net_conn_ref(r->client);
    r->tool = tool;
    fm_net_conn_ref(r->tool);
    r->client_opaque = opaque;
    r->tool_opaque = req->opaque;
    r->tool_serialize = req->serialize;
    r->code = req->code;
    r->deadline_ms = fm_net_loop_now_ms(b->loop) + RELAY_TIMEOUT_MS;
    FM_LOGD("broker", "FM-BROKER-RELAY", "req=%s group=%s client=%s tool=%s",
            fm_proto_req_name(req->code), group, client_id, fm_net_conn_peer(tool));
}

void
fm_broker_h_consumer_running_info(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    forward(b, conn, req, NULL, 0, req->body);
}

void
fm_broker_h_consume_directly(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char msgid[FM_MSGID_MAX + 1];
    uint8_t host[20];
    size_t hl;
    uint64_t phys;
    fm_buf rec = {0};
    fm_errbuf eb;
    fm_cmd_ext extra[] = {{FM_SLICE_LIT("brokerName"), fm_slice_cstr(b->cfg.broker_name)}};
    if (fm_broker_need_str(b, conn, req, "msgId", msgid, sizeof(msgid)) != FM_OK) {
        return;
    }
    if (fm_msgid_parse(fm_slice_cstr(msgid), host, &hl, &phys) != FM_OK ||
        fm_store_read_at(b->st, phys, &rec, &eb) != FM_OK) {
        fm_buf_free(&rec);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "no message with offset id %s on this broker", msgid);
        return;
    }
    forward(b, conn, req, extra, 1, fm_buf_slice(&rec));
    fm_buf_free(&rec);
}

int
fm_broker_relay_answer(fm_broker *b, fm_net_conn *conn, const fm_cmd *resp)
{
    for (int i = 0; i < b->n_relays; i++) {
        relay *r = &b->relays[i];
        if (r->client == conn && r->client_opaque == resp->opaque) {
            if (r->is_reply) {
                if (!fm_net_conn_is_closed(r->tool)) {
                    reply_answered(b, r, resp->code == FM_RESP_SUCCESS);
                }
            } else if (!fm_net_conn_is_closed(r->tool)) {
                fm_cmd req = tool_req(r);
                char remark[512];
                fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
                fm_broker_reply(b, r->tool, &req, resp->code, resp->remark.len ? remark : NULL,
                                resp->ext, resp->n_ext, resp->body);
            }
            relay_end(b, i);
            return 1;
        }
    }
    return 0;
}

void
fm_broker_relays_tick(fm_broker *b, int64_t now_ms)
{
    for (int i = b->n_relays - 1; i >= 0; i--) {
        if (now_ms >= b->relays[i].deadline_ms) {
            relay_fail(b, i, FM_RESP_CONSUME_MSG_TIMEOUT,
                       "the consumer did not answer within 10000 ms");
        }
    }
}

void
fm_broker_relays_drop_conn(fm_broker *b, fm_net_conn *conn)
{
    for (int i = b->n_relays - 1; i >= 0; i--) {
        if (b->relays[i].client == conn) {
            relay_fail(b, i, FM_RESP_SYSTEM_ERROR, "the consumer's connection closed");
        } else if (b->relays[i].tool == conn) {
            relay_end(b, i); /* nobody to answer */
        }
    }
}

void
fm_broker_relays_free(fm_broker *b)
{
    while (b->n_relays > 0) {
        relay_end(b, b->n_relays - 1);
    }
    free(b->relays);
    b->relays = NULL;
}

/* The producer connection of client_id (any group), or NULL. */
static fm_net_conn *
producer_conn(fm_broker *b, const char *client_id)
{
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        if (!c->is_consumer && c->conn != NULL && !fm_net_conn_is_closed(c->conn) &&
            strcmp(c->client_id, client_id) == 0) {
            return c->conn;
        }
    }
    return NULL;
}

void
fm_broker_push_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req,
                     const fm_broker_reply_push *p)
{
    fm_net_conn *to = producer_conn(b, p->client_id);
    char dq[24], qid[24], sf[24], bt[24], fl[24], rt[24], st[24], now[24];
    fm_buf props = {0};
    int32_t opaque;
    relay *r;
    if (to == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "push reply message fail, channel of <%s> not found.", p->client_id);
        return;
    }
    if (relay_room(b) != 0) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_BUSY,
                            "%d requests to clients already wait for their answers", b->n_relays);
        return;
    }
    /* the properties as sent plus PUSH_REPLY_TIME, as pushReplyMessage adds it */
    snprintf(now, sizeof(now), "%" PRId64, fm_clock_wall_ms());
    {
        const char *names[] = {"PUSH_REPLY_TIME"}, *values[] = {now};
        if (fm_broker_props_edit(&props, p->props, names, values, 1) != FM_OK) {
            fm_buf_free(&props);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
    }
    snprintf(dq, sizeof(dq), "%" PRId64, p->default_queue_nums);
    snprintf(qid, sizeof(qid), "%d", p->queue_id);
    snprintf(sf, sizeof(sf), "%" PRId64, p->sysflag);
    snprintf(bt, sizeof(bt), "%" PRId64, p->born_ts);
    snprintf(fl, sizeof(fl), "%" PRId64, p->flag);
    snprintf(rt, sizeof(rt), "%" PRId64, p->reconsume_times);
    snprintf(st, sizeof(st), "%" PRId64, p->store_ts);
    {
        /* ReplyMessageRequestHeader */
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("producerGroup"), fm_slice_cstr(p->group)},
            {FM_SLICE_LIT("topic"), fm_slice_cstr(p->topic)},
            {FM_SLICE_LIT("defaultTopic"), fm_slice_cstr(p->default_topic)},
            {FM_SLICE_LIT("defaultTopicQueueNums"), fm_slice_cstr(dq)},
            {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
            {FM_SLICE_LIT("sysFlag"), fm_slice_cstr(sf)},
            {FM_SLICE_LIT("bornTimestamp"), fm_slice_cstr(bt)},
            {FM_SLICE_LIT("flag"), fm_slice_cstr(fl)},
            {FM_SLICE_LIT("properties"), fm_buf_slice(&props)},
            {FM_SLICE_LIT("reconsumeTimes"), fm_slice_cstr(rt)},
            {FM_SLICE_LIT("unitMode"), FM_SLICE_LIT("false")},
            {FM_SLICE_LIT("bornHost"), fm_slice_cstr(p->born_host)},
            {FM_SLICE_LIT("storeHost"), fm_slice_cstr(b->addr)},
            {FM_SLICE_LIT("storeTimestamp"), fm_slice_cstr(st)},
        };
        if (fm_broker_send_request(b, to, FM_REQ_PUSH_REPLY_MESSAGE_TO_CLIENT, 0, ext,
                                   sizeof(ext) / sizeof(ext[0]), p->body, &opaque) != FM_OK) {
            fm_buf_free(&props);
            fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "push reply message to %sfail.",
                                p->client_id);
            return;
        }
    }
    fm_buf_free(&props);
    r = &b->relays[b->n_relays++];
    memset(r, 0, sizeof(*r));
    r->client = to;
    fm_net_conn_ref(to);
    r->tool = conn;
    fm_net_conn_ref(conn);
    r->client_opaque = opaque;
    r->tool_opaque = req->opaque;
    r->tool_serialize = req->serialize;
    r->code = req->code;
    r->deadline_ms = fm_net_loop_now_ms(b->loop) + RELAY_TIMEOUT_MS;
    r->is_reply = 1;
    r->queue_id = p->queue_id;
    r->queue_offset = p->queue_offset;
    snprintf(r->msgid, sizeof(r->msgid), "%s", p->msgid);
    snprintf(r->client_id, sizeof(r->client_id), "%s", p->client_id);
}
