/*
 * h_config.c - the broker's settings as mqadmin getBrokerConfig / updateBrokerConfig see
 * them, as RocketMQ 4.9's AdminBrokerProcessor serves them:
 *   GET_BROKER_CONFIG (26)     every setting as Properties text (`key=value` lines), the
 *                              configuration's dataVersion as the `version` header field
 *   UPDATE_BROKER_CONFIG (25)  Properties text of the settings to change: validated as a
 *                              whole, applied (at once for what changes at run time, at the
 *                              next start otherwise) and persisted by the owner's hooks
 * Unlike RocketMQ, which drops unknown keys and unparsable values without a word, a key that
 * does not exist or a value that does not parse is refused, naming it, and nothing changes.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UPDATE_KEYS 64

void
fm_broker_set_config_hooks(fm_broker *b, const fm_broker_config_hooks *h)
{
    b->config_hooks = *h;
    b->config_ts = b->start_ms;
}

void
fm_broker_reconfigure(fm_broker *b, const fm_broker_cfg *cfg)
{
    b->cfg.auto_create_topic = cfg->auto_create_topic;
    b->cfg.auto_create_subscription_group = cfg->auto_create_subscription_group;
    b->cfg.default_queue_nums = cfg->default_queue_nums;
    b->cfg.max_msg_size = cfg->max_msg_size;
    b->cfg.enable_property_filter = cfg->enable_property_filter;
    b->cfg.max_reconsume_times = cfg->max_reconsume_times;
    b->cfg.register_period_ms = cfg->register_period_ms;
    b->cfg.offset_flush_period_ms = cfg->offset_flush_period_ms;
    b->cfg.transaction_timeout_ms = cfg->transaction_timeout_ms;
    b->cfg.transaction_check_interval_ms = cfg->transaction_check_interval_ms;
    b->cfg.transaction_check_max = cfg->transaction_check_max;
    b->cfg.lock_max_live_ms = cfg->lock_max_live_ms;
}

void
fm_broker_h_get_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    fm_buf body = {0};
    char version[96];
    if (b->config_hooks.text == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_REQUEST_CODE_NOT_SUPPORTED,
                            "this broker's settings are not readable over remoting");
        return;
    }
    if (b->config_hooks.text(b->config_hooks.ud, &body) != FM_OK) {
        fm_buf_free(&body);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
        return;
    }
    /* GetBrokerConfigResponseHeader.version: the configuration's DataVersion as JSON */
    snprintf(version, sizeof(version), "{\"counter\":%" PRId64 ",\"timestamp\":%" PRId64 "}",
             b->config_counter, b->config_ts);
    {
        fm_cmd_ext ext[] = {{FM_SLICE_LIT("version"), fm_slice_cstr(version)}};
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, ext, 1, fm_buf_slice(&body));
    }
    fm_buf_free(&body);
}

typedef struct update_set {
    char *keys[MAX_UPDATE_KEYS], *values[MAX_UPDATE_KEYS];
    int n;
} update_set;

static int
collect(void *ud, const char *key, const char *value, int lineno, fm_errbuf *eb)
{
    update_set *u = ud;
    if (u->n == MAX_UPDATE_KEYS) {
        return fm_err_set(eb, FM_EINVAL, "more than %d settings at line %d", MAX_UPDATE_KEYS,
                          lineno);
    }
    u->keys[u->n] = strdup(key);
    u->values[u->n] = strdup(value);
    if (u->keys[u->n] == NULL || u->values[u->n] == NULL) {
        free(u->keys[u->n]);
        free(u->values[u->n]);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    u->n++;
    return FM_OK;
}

void
fm_broker_h_update_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    update_set u;
    fm_errbuf eb;
    int rc;
    if (b->config_hooks.update == NULL) {
        fm_broker_reply_err(b, conn, req, FM_RESP_REQUEST_CODE_NOT_SUPPORTED,
                            "this broker's settings cannot be changed over remoting");
        return;
    }
    memset(&u, 0, sizeof(u));
    if (req->body.len > FM_CONFIG_FILE_MAX) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "UPDATE_BROKER_CONFIG body over %d bytes", FM_CONFIG_FILE_MAX);
        return;
    }
    rc = fm_config_parse_text("body", (const char *)req->body.ptr, req->body.len, collect, &u, &eb);
    if (rc == FM_OK && u.n > 0) {
        rc = b->config_hooks.update(b->config_hooks.ud, (const char *const *)u.keys,
                                    (const char *const *)u.values, u.n, &eb);
    }
    if (rc == FM_OK && u.n > 0) {
        b->config_counter++;
        b->config_ts = fm_clock_wall_ms();
        FM_LOGI("broker", "FM-BROKER-CONFIG-UPDATE", "settings=%d by=%s", u.n,
                fm_net_conn_peer(conn));
    }
    for (int i = 0; i < u.n; i++) {
        free(u.keys[i]);
        free(u.values[i]);
    }
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "broker config not updated: %s",
                            eb.msg);
        return;
    }
    /* an empty body changes nothing and is SUCCESS, as RocketMQ's */
    fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
}
