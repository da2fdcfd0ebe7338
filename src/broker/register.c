/*
 * register.c - the broker's registration with its name servers.
 *
 * RocketMQ brokers send REGISTER_BROKER (their address, cluster, name, id and every topic
 * config) to every name server every 30 s, and at once when a topic changes; name servers
 * drop a broker after 120 s of silence. We keep one connection per name server and re-dial a
 * lost one after a second, so a restarted name server learns our routes within a tick.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIAL_MS 1000

int fm_broker_topics_json(fm_broker *b, fm_buf *out);

static void
ns_on_frame(fm_net_conn *conn, const uint8_t *frame, size_t len, void *ud)
{
    fm_broker *b = ud;
    fm_cmd resp;
    fm_errbuf eb;
    if (fm_proto_cmd_decode(frame, len, &b->arena, &resp, &eb) != FM_OK) {
        FM_LOGW("broker", "FM-BROKER-NS-BAD-FRAME", "peer=%s err=\"%s\"", fm_net_conn_peer(conn),
                eb.msg);
        fm_net_conn_close(conn);
        return;
    }
    if (!(resp.flag & FM_CMD_FLAG_RESPONSE)) {
        return;
    }
    if (resp.code != FM_RESP_SUCCESS) {
        char remark[256];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        FM_LOGW("broker", "FM-BROKER-REGISTER-FAIL", "namesrv=%s code=%d remark=\"%s\"",
                fm_net_conn_peer(conn), resp.code, remark);
        return;
    }
    if (!b->registered_once) {
        b->registered_once = 1;
        FM_LOGI("broker", "FM-BROKER-REGISTERED", "namesrv=%s addr=%s", fm_net_conn_peer(conn),
                b->addr);
        if (b->on_registered != NULL) {
            b->on_registered(b->on_registered_ud);
        }
    }
}

static void
ns_on_close(fm_net_conn *conn, int err, void *ud)
{
    fm_broker *b = ud;
    for (int i = 0; i < b->n_ns; i++) {
        if (b->ns[i].conn == conn) {
            FM_LOGW("broker", "FM-BROKER-NS-DISCONNECTED", "namesrv=%s:%d err=%s", b->ns[i].host,
                    b->ns[i].port, fm_errname(err));
            fm_net_conn_unref(conn);
            b->ns[i].conn = NULL;
            b->ns[i].retry_at_ms = fm_net_loop_now_ms(b->loop) + REDIAL_MS;
            /* Whatever we sent on it may be lost: register again once it is back. */
            b->register_pending = 1;
        }
    }
}

static int
parse_addrs(fm_broker *b)
{
    char list[256], *save = NULL, *tok;
    snprintf(list, sizeof(list), "%s", b->cfg.namesrv_addr);
    b->n_ns = 0;
    for (tok = strtok_r(list, ";,", &save); tok != NULL && b->n_ns < 4;
         tok = strtok_r(NULL, ";,", &save)) {
        char *colon = strrchr(tok, ':');
        struct ns_link *l = &b->ns[b->n_ns];
        if (colon == NULL) {
            FM_LOGE("broker", "FM-BROKER-NS-ADDR-BAD", "addr=\"%s\" expected host:port", tok);
            continue;
        }
        *colon = '\0';
        snprintf(l->host, sizeof(l->host), "%s", tok);
        l->port = atoi(colon + 1);
        l->conn = NULL;
        l->retry_at_ms = 0;
        b->n_ns++;
    }
    return b->n_ns;
}

static void
send_register(fm_broker *b, struct ns_link *l, int unregister)
{
    fm_cmd req;
    fm_cmd_ext ext[6];
    char id[24];
    int n = 0;
    fm_buf body = {0};

    if (!unregister && fm_broker_topics_json(b, &body) != FM_OK) {
        fm_buf_free(&body);
        return;
    }
    snprintf(id, sizeof(id), "%" PRId64, b->cfg.broker_id);
    ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("brokerName"), fm_slice_cstr(b->cfg.broker_name)};
    ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("brokerAddr"), fm_slice_cstr(b->addr)};
    ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("clusterName"), fm_slice_cstr(b->cfg.cluster_name)};
    ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("brokerId"), fm_slice_cstr(id)};
    if (!unregister) {
        ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("haServerAddr"), fm_slice_cstr(b->addr)};
        ext[n++] = (fm_cmd_ext){FM_SLICE_LIT("compressed"), FM_SLICE_LIT("false")};
    }
    memset(&req, 0, sizeof(req));
    req.code = unregister ? FM_REQ_UNREGISTER_BROKER : FM_REQ_REGISTER_BROKER;
    req.version = FM_PROTO_VERSION;
    req.opaque = b->next_opaque++;
    req.flag = unregister ? FM_CMD_FLAG_ONEWAY : 0;
    req.serialize = FM_SERIALIZE_JSON;
    req.ext = ext;
    req.n_ext = (size_t)n;
    req.body = fm_buf_slice(&body);
    fm_buf_reset(&b->out);
    if (fm_proto_cmd_encode(&b->out, &req, NULL) == FM_OK) {
        if (fm_net_conn_write(l->conn, b->out.data, b->out.len) != FM_OK) {
            fm_net_conn_close(l->conn);
        }
    }
    fm_buf_free(&body);
}

void
fm_broker_register_now(fm_broker *b)
{
    b->register_pending = 1;
    /* Register at once when a link is up, so a topic just created is routable by the time
     * its creator hears back; otherwise the next tick dials and registers. */
    if (b->loop != NULL && b->n_ns > 0) {
        fm_broker_register_tick(b, fm_net_loop_now_ms(b->loop));
    }
}

void
fm_broker_register_tick(fm_broker *b, int64_t now_ms)
{
    int due;
    if (b->shutting_down) {
        return;
    }
    if (b->n_ns == 0 && parse_addrs(b) == 0) {
        return;
    }
    due = b->register_pending || now_ms >= b->next_register_ms;
    for (int i = 0; i < b->n_ns; i++) {
        struct ns_link *l = &b->ns[i];
        if (l->conn == NULL) {
            fm_net_conn_cbs cbs;
            fm_errbuf eb;
            if (now_ms < l->retry_at_ms) {
                continue;
            }
            memset(&cbs, 0, sizeof(cbs));
            cbs.max_frame = (size_t)b->cfg.max_frame_size;
            cbs.frame_len = fm_proto_frame_len;
            cbs.on_frame = ns_on_frame;
            cbs.on_close = ns_on_close;
            if (fm_net_connect(b->loop, l->host, l->port, &cbs, b, &l->conn, &eb) != FM_OK) {
                FM_LOGW("broker", "FM-BROKER-NS-CONNECT-FAIL", "namesrv=%s:%d err=\"%s\"", l->host,
                        l->port, eb.msg);
                l->conn = NULL;
                l->retry_at_ms = now_ms + REDIAL_MS;
                continue;
            }
            fm_net_conn_ref(l->conn);
            due = 1; /* a fresh connection always starts with a registration */
        }
        if (due) {
            send_register(b, l, 0);
        }
    }
    if (due) {
        b->register_pending = 0;
        b->next_register_ms = now_ms + b->cfg.register_period_ms;
    }
}

void
fm_broker_unregister_all(fm_broker *b)
{
    for (int i = 0; i < b->n_ns; i++) {
        struct ns_link *l = &b->ns[i];
        if (l->conn != NULL && !fm_net_conn_is_closed(l->conn)) {
            send_register(b, l, 1);
            fm_net_conn_close_after_flush(l->conn);
        }
        if (l->conn != NULL) {
            fm_net_conn_unref(l->conn);
            l->conn = NULL;
        }
    }
}
