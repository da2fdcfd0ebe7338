/*
 * subs.c - the broker's subscriptions: per consumer group and topic, the expression a
 * consumer subscribed with, compiled once per subscription version and kept for its pulls.
 *
 * A subscription arrives two ways, as in RocketMQ: in HEART_BEAT's subscriptionDataSet (Java
 * push consumers, which pull without one), and in PULL_MESSAGE itself when its sysFlag has the
 * subscription bit (pull consumers, ali-ons). A pull whose expression and type equal the
 * cached ones reuses the compiled filter; anything else compiles and replaces it. An entry
 * nobody pulled with or heart-beat for in SUB_EXPIRY_MS is dropped.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_EXPIRY_MS 120000

typedef struct sub_entry {
    fm_filter_type type;
    char *expr;        /* owned */
    fm_filter *filter; /* one ref; NULL when expr did not compile */
    char err[256];     /* why not */
    int64_t version;
    int64_t last_used_ms;
} sub_entry;

/* key: group NUL topic */
static size_t
sub_key(char *buf, size_t cap, const char *group, const char *topic)
{
    int n = snprintf(buf, cap, "%s%c%s", group, '\0', topic);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static void
entry_free(sub_entry *e)
{
    if (e != NULL) {
        fm_filter_unref(e->filter);
        free(e->expr);
        free(e);
    }
}

static void
log_compiled(const char *group, const char *topic, const fm_filter *f)
{
    if (fm_filter_warning(f) != NULL) {
        FM_LOGW("filter", "FM-FILTER-IGNORED-TEXT", "group=%s topic=%s expression=\"%s\": %s",
                group, topic, fm_filter_text(f), fm_filter_warning(f));
    }
}

/* Replace (or create) the entry for group/topic. Takes over f (may be NULL) and err. */
static int
entry_set(fm_broker *b, const char *group, const char *topic, fm_filter_type type, const char *expr,
          size_t len, fm_filter *f, const char *err, int64_t version)
{
    char key[520];
    size_t klen = sub_key(key, sizeof(key), group, topic);
    sub_entry *e, *old;
    if (klen == 0) {
        fm_filter_unref(f);
        return FM_ETOOBIG;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->expr = malloc(len + 1)) == NULL) {
        free(e);
        fm_filter_unref(f);
        return FM_ENOMEM;
    }
    memcpy(e->expr, expr, len);
    e->expr[len] = '\0';
    e->type = type;
    e->filter = f;
    snprintf(e->err, sizeof(e->err), "%s", err ? err : "");
    e->version = version;
    e->last_used_ms = fm_net_loop_now_ms(b->loop);
    old = fm_map_get(&b->subs, key, klen);
    if (fm_map_put(&b->subs, key, klen, e) != FM_OK) {
        entry_free(e);
        return FM_ENOMEM;
    }
    entry_free(old);
    return FM_OK;
}

static sub_entry *
entry_get(fm_broker *b, const char *group, const char *topic)
{
    char key[520];
    size_t klen = sub_key(key, sizeof(key), group, topic);
    return klen ? fm_map_get(&b->subs, key, klen) : NULL;
}

static int
same_expr(const sub_entry *e, fm_filter_type type, const char *expr, size_t len)
{
    return e->type == type && strlen(e->expr) == len && memcmp(e->expr, expr, len) == 0;
}

int
fm_broker_sub_from_pull(fm_broker *b, const char *group, const char *topic, const char *type_name,
                        fm_slice expr, int64_t version, fm_filter **out, fm_errbuf *eb)
{
    fm_filter_type type;
    sub_entry *e;
    fm_filter *f;
    int rc;
    *out = NULL;
    if (fm_filter_type_parse(type_name, &type) != FM_OK) {
        return fm_err_set(eb, FM_ENOTSUP, "expression type '%s' is not TAG or SQL92", type_name);
    }
    e = entry_get(b, group, topic);
    if (e != NULL && e->filter != NULL && same_expr(e, type, (const char *)expr.ptr, expr.len)) {
        if (version > e->version) {
            e->version = version;
        }
        e->last_used_ms = fm_net_loop_now_ms(b->loop);
        *out = fm_filter_ref(e->filter);
        return FM_OK;
    }
    rc = fm_filter_compile(type, (const char *)expr.ptr, expr.len, &f, eb);
    if (rc != FM_OK) {
        FM_LOGW("filter", "FM-FILTER-PARSE-FAILED",
                "group=%s topic=%s type=%s expression=\"%.*s\": %s", group, topic,
                type_name ? type_name : "TAG", (int)(expr.len > 200 ? 200 : expr.len),
                (const char *)expr.ptr, eb ? eb->msg : fm_strerror(rc));
        return rc;
    }
    log_compiled(group, topic, f);
    *out = fm_filter_ref(f);
    /* When caching fails this pull still has its own reference; the next one compiles again. */
    (void)entry_set(b, group, topic, type, (const char *)expr.ptr, expr.len, f, NULL, version);
    return FM_OK;
}

void
fm_broker_sub_register(fm_broker *b, const char *group, const char *topic, const char *type_name,
                       const char *expr, int64_t version)
{
    fm_filter_type type;
    sub_entry *e;
    fm_filter *f = NULL;
    fm_errbuf eb;
    size_t len = strlen(expr);
    if (fm_filter_type_parse(type_name, &type) != FM_OK) {
        FM_LOGW("filter", "FM-FILTER-PARSE-FAILED", "group=%s topic=%s type=%s: not TAG or SQL92",
                group, topic, type_name);
        snprintf(eb.msg, sizeof(eb.msg), "expression type '%s' is not TAG or SQL92", type_name);
        entry_set(b, group, topic, FM_FILTER_TAG, expr, len, NULL, eb.msg, version);
        return;
    }
    e = entry_get(b, group, topic);
    if (e != NULL && (version < e->version || same_expr(e, type, expr, len))) {
        e->last_used_ms = fm_net_loop_now_ms(b->loop);
        if (version > e->version) {
            e->version = version;
        }
        return; /* an older heartbeat, or nothing new */
    }
    if (fm_filter_compile(type, expr, len, &f, &eb) != FM_OK) {
        FM_LOGW("filter", "FM-FILTER-PARSE-FAILED",
                "group=%s topic=%s type=%s expression=\"%.200s\": %s", group, topic,
                type_name ? type_name : "TAG", expr, eb.msg);
        entry_set(b, group, topic, type, expr, len, NULL, eb.msg, version);
        return;
    }
    log_compiled(group, topic, f);
    entry_set(b, group, topic, type, expr, len, f, NULL, version);
}

int
fm_broker_sub_get(fm_broker *b, const char *group, const char *topic, int64_t version,
                  fm_filter **out, char *remark, size_t cap)
{
    sub_entry *e = entry_get(b, group, topic);
    *out = NULL;
    if (e == NULL) {
        int known = 0;
        for (int i = 0; i < b->n_clients && !known; i++) {
            known = b->clients[i].is_consumer && strcmp(b->clients[i].group, group) == 0;
        }
        snprintf(remark, cap, "%s, group: %s, topic: %s",
                 known ? "the consumer's subscription not exist"
                       : "the consumer's group info not exist",
                 group, topic);
        return FM_RESP_SUBSCRIPTION_NOT_EXIST;
    }
    e->last_used_ms = fm_net_loop_now_ms(b->loop);
    if (e->version < version) {
        snprintf(remark, cap, "the consumer's subscription not latest");
        return FM_RESP_SUBSCRIPTION_NOT_LATEST;
    }
    if (e->filter == NULL) {
        snprintf(remark, cap,
                 "The broker's consumer filter data is not exist!Your expression may be wrong! "
                 "(%s)",
                 e->err);
        return FM_RESP_FILTER_DATA_NOT_EXIST;
    }
    *out = fm_filter_ref(e->filter);
    return FM_RESP_SUCCESS;
}

void
fm_broker_subs_expire(fm_broker *b, int64_t now_ms)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (fm_map_next(&b->subs, &pos, &key, &klen, &val)) {
        sub_entry *e = val;
        if (now_ms - e->last_used_ms > SUB_EXPIRY_MS) {
            fm_map_del(&b->subs, key, klen);
            entry_free(e);
        }
    }
}

void
fm_broker_subs_free(fm_broker *b)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (fm_map_next(&b->subs, &pos, &key, &klen, &val)) {
        entry_free(val);
    }
    fm_map_free(&b->subs);
}
