#include "namesrv/server.h"
#include "namesrv/kv.h"

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "namesrv/registry.h"
#include "proto/codes.h"
#include "proto/frame.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRY_SCAN_MS 5000

struct fm_namesrv {
    fm_namesrv_cfg cfg;
    fm_net_loop *loop;
    fm_net_listener *lis;
    fm_namesrv_registry *reg;
    fm_namesrv_kv *kv;
    fm_cmd_arena arena;
    fm_buf out;
    fm_buf body;
    fm_net_timer *timer;
};

static void
reply(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, int code, const char *remark,
      fm_slice body)
{
    fm_cmd resp;
    if (req->flag & FM_CMD_FLAG_ONEWAY) {
        return;
    }
    fm_proto_cmd_response_init(&resp, req, code);
    resp.remark = remark ? fm_slice_cstr(remark) : fm_slice_make(NULL, 0);
    resp.body = body;
    fm_buf_reset(&ns->out);
    if (fm_proto_cmd_encode(&ns->out, &resp, NULL) != FM_OK ||
        fm_net_conn_write(conn, ns->out.data, ns->out.len) != FM_OK) {
        fm_net_conn_close(conn);
    }
}

/* SUCCESS with one header field (name=value) and no body. */
static void
reply_field(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, const char *name,
            const char *value)
{
    fm_cmd resp;
    fm_cmd_ext ext[] = {{fm_slice_cstr(name), fm_slice_cstr(value)}};
    if (req->flag & FM_CMD_FLAG_ONEWAY) {
        return;
    }
    fm_proto_cmd_response_init(&resp, req, FM_RESP_SUCCESS);
    resp.ext = ext;
    resp.n_ext = 1;
    fm_buf_reset(&ns->out);
    if (fm_proto_cmd_encode(&ns->out, &resp, NULL) != FM_OK ||
        fm_net_conn_write(conn, ns->out.data, ns->out.len) != FM_OK) {
        fm_net_conn_close(conn);
    }
}

static void reply_err(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, int code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
reply_err(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, int code, const char *fmt, ...)
{
    char remark[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof(remark), fmt, ap);
    va_end(ap);
    reply(ns, conn, req, code, remark, fm_slice_make(NULL, 0));
}

static int
ext_str(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, const char *key, char *dst,
        size_t cap)
{
    fm_slice v = fm_cmd_ext_get(req, key);
    if (v.ptr == NULL || v.len == 0 || fm_slice_to_cstr(v, dst, cap) != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR,
                  "request %s needs header field '%s' (at most %zu bytes)",
                  fm_proto_req_name(req->code), key, cap - 1);
        return FM_EINVAL;
    }
    return FM_OK;
}

static void
h_register(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req, int unregister)
{
    char cluster[128], name[128], addr[128];
    int64_t id;
    fm_errbuf eb;
    if (ext_str(ns, conn, req, "brokerName", name, sizeof(name)) != FM_OK ||
        ext_str(ns, conn, req, "brokerAddr", addr, sizeof(addr)) != FM_OK ||
        ext_str(ns, conn, req, "clusterName", cluster, sizeof(cluster)) != FM_OK) {
        return;
    }
    if (fm_cmd_ext_i64(req, "brokerId", &id) != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "brokerId missing or not an integer");
        return;
    }
    if (unregister) {
        fm_namesrv_unregister(ns->reg, cluster, name, id, addr);
        reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_slice_make(NULL, 0));
        return;
    }
    if (fm_namesrv_register(ns->reg, cluster, name, id, addr, req->body, fm_clock_mono_ms(), &eb) !=
        FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "register failed: %s", eb.msg);
        return;
    }
    FM_LOGD("namesrv", "FM-NS-REGISTER", "broker=%s addr=%s body=%zu", name, addr, req->body.len);
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_slice_make(NULL, 0));
}

static void
h_route(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256];
    int rc;
    if (ext_str(ns, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    FM_LOGD("namesrv", "FM-NS-ROUTE", "topic=%s peer=%s", topic, fm_net_conn_peer(conn));
    fm_buf_reset(&ns->body);
    rc = fm_namesrv_route_json(ns->reg, topic, &ns->body);
    if (rc == FM_ENOTFOUND) {
        /* The remark text is RocketMQ's; some clients match on it. */
        reply_err(ns, conn, req, FM_RESP_TOPIC_NOT_EXIST,
                  "No topic route info in name server for the topic: %s", topic);
        return;
    }
    if (rc != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_buf_slice(&ns->body));
}

/* DELETE_TOPIC_IN_NAMESRV (216): mqadmin deleteTopic's last step, to every name server;
 * `clusterName` (4.9.4+) limits it to that cluster's brokers. SUCCESS whatever was there. */
static void
h_delete_topic(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256], cluster[128] = "";
    fm_slice c = fm_cmd_ext_get(req, "clusterName");
    int n;
    if (ext_str(ns, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    if (c.ptr != NULL && fm_slice_to_cstr(c, cluster, sizeof(cluster)) != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "clusterName is longer than %zu bytes",
                  sizeof(cluster) - 1);
        return;
    }
    n = fm_namesrv_delete_topic(ns->reg, topic, cluster);
    FM_LOGI("namesrv", "FM-NS-TOPIC-DELETE", "topic=%s cluster=%s brokers=%d peer=%s", topic,
            cluster[0] ? cluster : "*", n, fm_net_conn_peer(conn));
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_slice_make(NULL, 0));
}

/* PUT_KV_CONFIG (100), GET_KV_CONFIG (101), DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE
 * (219), as RocketMQ's DefaultRequestProcessor answers them. */
static void
h_kv(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req)
{
    char space[256], key[256], value[4096];
    fm_errbuf eb;
    const char *v;
    if (ext_str(ns, conn, req, "namespace", space, sizeof(space)) != FM_OK) {
        return;
    }
    if (req->code == FM_REQ_GET_KVLIST_BY_NAMESPACE) {
        fm_buf_reset(&ns->body);
        if (fm_namesrv_kv_list(ns->kv, space, &ns->body) != FM_OK) {
            reply_err(ns, conn, req, FM_RESP_QUERY_NOT_FOUND, "No config item, Namespace: %s",
                      space);
            return;
        }
        reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_buf_slice(&ns->body));
        return;
    }
    if (ext_str(ns, conn, req, "key", key, sizeof(key)) != FM_OK) {
        return;
    }
    switch (req->code) {
    case FM_REQ_PUT_KV_CONFIG:
        if (ext_str(ns, conn, req, "value", value, sizeof(value)) != FM_OK) {
            return;
        }
        if (fm_namesrv_kv_put(ns->kv, space, key, value, &eb) != FM_OK) {
            reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "KV config not saved: %s", eb.msg);
            return;
        }
        FM_LOGI("namesrv", "FM-NS-KV-PUT", "namespace=%s key=%s", space, key);
        break;
    case FM_REQ_GET_KV_CONFIG:
        if ((v = fm_namesrv_kv_get(ns->kv, space, key)) == NULL) {
            reply_err(ns, conn, req, FM_RESP_QUERY_NOT_FOUND,
                      "No config item, Namespace: %s Key: %s", space, key);
            return;
        }
        reply_field(ns, conn, req, "value", v);
        return;
    default: /* DELETE_KV_CONFIG */
        if (fm_namesrv_kv_delete(ns->kv, space, key, &eb) != FM_OK) {
            reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "KV config not saved: %s", eb.msg);
            return;
        }
        FM_LOGI("namesrv", "FM-NS-KV-DELETE", "namespace=%s key=%s", space, key);
        break;
    }
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_slice_make(NULL, 0));
}

/* WIPE_WRITE_PERM_OF_BROKER (205) and ADD_WRITE_PERM_OF_BROKER (327): mqadmin wipeWritePerm /
 * addWritePerm, before taking a broker out of service. The routes of brokerName's topics lose
 * (or regain) the write permission; answered with how many topics (wipeTopicCount /
 * addTopicCount). */
static void
h_write_perm(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req)
{
    char name[128], count[24];
    int wipe = req->code == FM_REQ_WIPE_WRITE_PERM_OF_BROKER;
    int n;
    if (ext_str(ns, conn, req, "brokerName", name, sizeof(name)) != FM_OK) {
        return;
    }
    n = fm_namesrv_write_perm(ns->reg, name, !wipe);
    FM_LOGI("namesrv", wipe ? "FM-NS-WRITE-WIPED" : "FM-NS-WRITE-ADDED", "broker=%s topics=%d",
            name, n);
    snprintf(count, sizeof(count), "%d", n);
    reply_field(ns, conn, req, wipe ? "wipeTopicCount" : "addTopicCount", count);
}

typedef struct ns_pairs {
    char *keys[64], *values[64];
    int n;
} ns_pairs;

static int
ns_pair(void *ud, const char *key, const char *value, int lineno, fm_errbuf *eb)
{
    ns_pairs *p = ud;
    if (p->n == 64) {
        return fm_err_set(eb, FM_EINVAL, "more than 64 settings at line %d", lineno);
    }
    if ((p->keys[p->n] = strdup(key)) == NULL || (p->values[p->n] = strdup(value)) == NULL) {
        free(p->keys[p->n]);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    p->n++;
    return FM_OK;
}

/* GET_NAMESRV_CONFIG (319) and UPDATE_NAMESRV_CONFIG (318): mqadmin getNamesrvConfig /
 * updateNamesrvConfig, Properties text both ways, through the owner's hooks. */
static void
h_config(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req)
{
    fm_errbuf eb;
    ns_pairs p;
    int rc;
    if (ns->cfg.config_text == NULL || ns->cfg.config_update == NULL) {
        reply_err(ns, conn, req, FM_RESP_REQUEST_CODE_NOT_SUPPORTED,
                  "this name server's settings are not reachable over remoting");
        return;
    }
    if (req->code == FM_REQ_GET_NAMESRV_CONFIG) {
        fm_buf_reset(&ns->body);
        if (ns->cfg.config_text(ns->cfg.config_ud, &ns->body) != FM_OK) {
            reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
            return;
        }
        reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_buf_slice(&ns->body));
        return;
    }
    memset(&p, 0, sizeof(p));
    rc = req->body.len > FM_CONFIG_FILE_MAX
             ? fm_err_set(&eb, FM_EINVAL, "body over %d bytes", FM_CONFIG_FILE_MAX)
             : fm_config_parse_text("body", (const char *)req->body.ptr, req->body.len, ns_pair, &p,
                                    &eb);
    if (rc == FM_OK && p.n > 0) {
        rc = ns->cfg.config_update(ns->cfg.config_ud, (const char *const *)p.keys,
                                   (const char *const *)p.values, p.n, &eb);
    }
    for (int i = 0; i < p.n; i++) {
        free(p.keys[i]);
        free(p.values[i]);
    }
    if (rc != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "name server config not updated: %s",
                  eb.msg);
        return;
    }
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_slice_make(NULL, 0));
}

static void
h_json(fm_namesrv *ns, fm_net_conn *conn, const fm_cmd *req,
       int (*render)(const fm_namesrv_registry *, fm_buf *))
{
    fm_buf_reset(&ns->body);
    if (render(ns->reg, &ns->body) != FM_OK) {
        reply_err(ns, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    reply(ns, conn, req, FM_RESP_SUCCESS, NULL, fm_buf_slice(&ns->body));
}

static void
on_frame(fm_net_conn *conn, const uint8_t *frame, size_t len, void *ud)
{
    fm_namesrv *ns = ud;
    fm_cmd req;
    fm_errbuf eb;
    if (fm_proto_cmd_decode(frame, len, &ns->arena, &req, &eb) != FM_OK) {
        FM_LOGW("namesrv", "FM-NS-BAD-FRAME", "peer=%s len=%zu err=\"%s\"", fm_net_conn_peer(conn),
                len, eb.msg);
        fm_net_conn_close(conn);
        return;
    }
    if (req.flag & FM_CMD_FLAG_RESPONSE) {
        return;
    }
    switch (req.code) {
    case FM_REQ_REGISTER_BROKER:
        h_register(ns, conn, &req, 0);
        break;
    case FM_REQ_UNREGISTER_BROKER:
        h_register(ns, conn, &req, 1);
        break;
    case FM_REQ_GET_ROUTEINFO_BY_TOPIC:
        h_route(ns, conn, &req);
        break;
    case FM_REQ_GET_BROKER_CLUSTER_INFO:
        h_json(ns, conn, &req, fm_namesrv_cluster_json);
        break;
    case FM_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER:
        h_json(ns, conn, &req, fm_namesrv_topic_list_json);
        break;
    case FM_REQ_DELETE_TOPIC_IN_NAMESRV:
        h_delete_topic(ns, conn, &req);
        break;
    case FM_REQ_PUT_KV_CONFIG:
    case FM_REQ_GET_KV_CONFIG:
    case FM_REQ_DELETE_KV_CONFIG:
    case FM_REQ_GET_KVLIST_BY_NAMESPACE:
        h_kv(ns, conn, &req);
        break;
    case FM_REQ_GET_NAMESRV_CONFIG:
    case FM_REQ_UPDATE_NAMESRV_CONFIG:
        h_config(ns, conn, &req);
        break;
    case FM_REQ_WIPE_WRITE_PERM_OF_BROKER:
    case FM_REQ_ADD_WRITE_PERM_OF_BROKER:
        h_write_perm(ns, conn, &req);
        break;
    default:
        FM_LOGI("namesrv", "FM-NS-REQ-UNSUPPORTED", "req=%d name=%s peer=%s", req.code,
                fm_proto_req_name(req.code), fm_net_conn_peer(conn));
        reply_err(ns, conn, &req, FM_RESP_REQUEST_CODE_NOT_SUPPORTED,
                  "request code %d (%s) is not supported by this name server", req.code,
                  fm_proto_req_name(req.code));
        break;
    }
}

/* Scan often enough that a broker is dropped within 1.5 x the expiry. */
static int64_t
scan_period(const fm_namesrv *ns)
{
    int64_t p = ns->cfg.expiry_ms / 2;
    return p < EXPIRY_SCAN_MS ? (p > 0 ? p : 1) : EXPIRY_SCAN_MS;
}

static void
expiry_scan(void *ud)
{
    fm_namesrv *ns = ud;
    ns->timer = NULL;
    fm_namesrv_expire(ns->reg, fm_clock_mono_ms(), ns->cfg.expiry_ms);
    fm_net_timer_add(ns->loop, scan_period(ns), expiry_scan, ns, &ns->timer);
}

int
fm_namesrv_new(fm_net_loop *loop, const fm_namesrv_cfg *cfg, fm_namesrv **out, fm_errbuf *eb)
{
    fm_namesrv *ns = calloc(1, sizeof(*ns));
    fm_net_conn_cbs cbs;
    int rc;
    if (ns == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    ns->cfg = *cfg;
    ns->loop = loop;
    fm_proto_arena_init(&ns->arena);
    rc = fm_namesrv_registry_new(&ns->reg);
    if (rc != FM_OK) {
        fm_namesrv_free(ns);
        return fm_err_set(eb, rc, "out of memory");
    }
    rc = fm_namesrv_kv_open(cfg->kv_dir[0] ? cfg->kv_dir : NULL, "kvConfig.json", &ns->kv, eb);
    if (rc != FM_OK) {
        fm_namesrv_free(ns);
        return rc;
    }
    memset(&cbs, 0, sizeof(cbs));
    cbs.max_frame = (size_t)cfg->max_frame_size;
    cbs.frame_len = fm_proto_frame_len;
    cbs.on_frame = on_frame;
    rc = fm_net_listen(loop, cfg->bind_addr, cfg->port, &cbs, ns, &ns->lis, eb);
    if (rc != FM_OK) {
        fm_namesrv_free(ns);
        return rc;
    }
    rc = fm_net_timer_add(loop, scan_period(ns), expiry_scan, ns, &ns->timer);
    if (rc != FM_OK) {
        fm_namesrv_free(ns);
        return fm_err_set(eb, rc, "cannot arm the expiry timer");
    }
    FM_LOGI("namesrv", "FM-NS-LISTENING", "bind=%s:%d", cfg->bind_addr,
            fm_net_listener_port(ns->lis));
    *out = ns;
    return FM_OK;
}

int
fm_namesrv_port(const fm_namesrv *ns)
{
    return fm_net_listener_port(ns->lis);
}

void
fm_namesrv_free(fm_namesrv *ns)
{
    if (ns == NULL) {
        return;
    }
    if (ns->timer != NULL) {
        fm_net_timer_cancel(ns->loop, ns->timer);
    }
    if (ns->lis != NULL) {
        fm_net_listener_close(ns->lis);
    }
    fm_namesrv_registry_free(ns->reg);
    fm_namesrv_kv_free(ns->kv);
    fm_proto_arena_free(&ns->arena);
    fm_buf_free(&ns->out);
    fm_buf_free(&ns->body);
    free(ns);
}
