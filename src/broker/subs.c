/*
 * subs.c - the broker's subscriptions: per consumer group and topic, the expression a
 * consumer subscribed with, compiled once per subscription version and kept for its pulls.
 *
 * A subscription arrives two ways, as in RocketMQ: in HEART_BEAT's subscriptionDataSet (Java
 * push consumers, which pull without one), and in PULL_MESSAGE itself when its sysFlag has the
 * subscription bit (pull consumers, ali-ons). The two are kept apart: a pull's own expression
 * is compiled once and reused while it stays the same, and serves pulls without one only when
 * no heartbeat registered any. An entry nobody pulled with or heart-beat for in SUB_EXPIRY_MS
 * is dropped.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_EXPIRY_MS 120000

/* One subscription: the expression, its compiled filter (NULL when it did not compile) and why
 * not. */
typedef struct sub_slot {
    int set;
    fm_filter_type type;
    char *expr;
    fm_filter *filter;
    char err[256];
    int64_t version;
} sub_slot;

/* A group's subscription to a topic. The heartbeat's is authoritative for pulls without their
 * own; a pull's own expression is cached apart, so a tool pulling with the group's name and
 * another expression does not change what the group's push consumers get (RocketMQ only
 * "compensates" a missing subscription from a pull). */
typedef struct sub_entry {
    sub_slot hb;
    sub_slot pull;
    int64_t last_used_ms;
} sub_entry;

/* key: group NUL topic */
static size_t
sub_key(char *buf, size_t cap, const char *group, const char *topic)
{
    size_t gl = strlen(group), tl = strlen(topic);
    if (gl + 1 + tl >= cap) {
        return 0;
    }
    memcpy(buf, group, gl + 1); /* with its NUL, the separator */
    memcpy(buf + gl + 1, topic, tl + 1);
    return gl + 1 + tl;
}

static void
slot_clear(sub_slot *s)
{
    fm_filter_unref(s->filter);
    free(s->expr);
    memset(s, 0, sizeof(*s));
}

static void
entry_free(sub_entry *e)
{
    if (e != NULL) {
        slot_clear(&e->hb);
        slot_clear(&e->pull);
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

/* The entry for group/topic, created when absent (NULL: out of memory or names too long). */
static sub_entry *
entry_get(fm_broker *b, const char *group, const char *topic, int create)
{
    char key[520];
    size_t klen = sub_key(key, sizeof(key), group, topic);
    sub_entry *e;
    if (klen == 0) {
        return NULL;
    }
    e = fm_map_get(&b->subs, key, klen);
    if (e == NULL && create) {
        e = calloc(1, sizeof(*e));
        if (e != NULL && fm_map_put(&b->subs, key, klen, e) != FM_OK) {
            free(e);
            e = NULL;
        }
    }
    if (e != NULL) {
        e->last_used_ms = fm_net_loop_now_ms(b->loop);
    }
    return e;
}

/* Replace a slot's content. Takes over f (may be NULL). */
static void
slot_set(sub_slot *s, fm_filter_type type, const char *expr, size_t len, fm_filter *f,
         const char *err, int64_t version)
{
    char *copy = malloc(len + 1);
    slot_clear(s);
    if (copy == NULL) {
        fm_filter_unref(f);
        return;
    }
    memcpy(copy, expr, len);
    copy[len] = '\0';
    s->set = 1;
    s->type = type;
    s->expr = copy;
    s->filter = f;
    snprintf(s->err, sizeof(s->err), "%s", err ? err : "");
    s->version = version;
}

static int
same_expr(const sub_slot *s, fm_filter_type type, const char *expr, size_t len)
{
    return s->set && s->type == type && strlen(s->expr) == len && memcmp(s->expr, expr, len) == 0;
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
    e = entry_get(b, group, topic, 1);
    if (e != NULL && e->pull.filter != NULL &&
        same_expr(&e->pull, type, (const char *)expr.ptr, expr.len)) {
        if (version > e->pull.version) {
            e->pull.version = version;
        }
        *out = fm_filter_ref(e->pull.filter);
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
    if (e != NULL) {
        slot_set(&e->pull, type, (const char *)expr.ptr, expr.len, f, NULL, version);
    } else {
        fm_filter_unref(f); /* not cached: this pull still has its own reference */
    }
    return FM_OK;
}

void
fm_broker_sub_register(fm_broker *b, const char *group, const char *topic, const char *type_name,
                       const char *expr, int64_t version)
{
    fm_filter_type type;
    sub_entry *e = entry_get(b, group, topic, 1);
    fm_filter *f = NULL;
    fm_errbuf eb;
    size_t len = strlen(expr);
    if (e == NULL) {
        return;
    }
    if (fm_filter_type_parse(type_name, &type) != FM_OK) {
        FM_LOGW("filter", "FM-FILTER-PARSE-FAILED", "group=%s topic=%s type=%s: not TAG or SQL92",
                group, topic, type_name);
        snprintf(eb.msg, sizeof(eb.msg), "expression type '%s' is not TAG or SQL92", type_name);
        slot_set(&e->hb, FM_FILTER_TAG, expr, len, NULL, eb.msg, version);
        return;
    }
    if (e->hb.set && (version < e->hb.version || same_expr(&e->hb, type, expr, len))) {
        if (version > e->hb.version) {
            e->hb.version = version;
        }
        return; /* an older heartbeat, or nothing new */
    }
    if (fm_filter_compile(type, expr, len, &f, &eb) != FM_OK) {
        FM_LOGW("filter", "FM-FILTER-PARSE-FAILED",
                "group=%s topic=%s type=%s expression=\"%.200s\": %s", group, topic,
                type_name ? type_name : "TAG", expr, eb.msg);
        slot_set(&e->hb, type, expr, len, NULL, eb.msg, version);
        return;
    }
    log_compiled(group, topic, f);
    slot_set(&e->hb, type, expr, len, f, NULL, version);
}

int
fm_broker_sub_get(fm_broker *b, const char *group, const char *topic, int64_t version,
                  fm_filter **out, char *remark, size_t cap)
{
    sub_entry *e = entry_get(b, group, topic, 0);
    const sub_slot *s = e == NULL ? NULL : e->hb.set ? &e->hb : e->pull.set ? &e->pull : NULL;
    *out = NULL;
    if (s == NULL) {
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
    if (s->version < version) {
        snprintf(remark, cap, "the consumer's subscription not latest");
        return FM_RESP_SUBSCRIPTION_NOT_LATEST;
    }
    if (s->filter == NULL) {
        snprintf(remark, cap,
                 "The broker's consumer filter data is not exist!Your expression may be wrong! "
                 "(%s)",
                 s->err);
        return FM_RESP_FILTER_DATA_NOT_EXIST;
    }
    *out = fm_filter_ref(s->filter);
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

static void
entry_free_cb(void *e)
{
    entry_free(e);
}

void
fm_broker_subs_free(fm_broker *b)
{
    fm_map_free_values(&b->subs, entry_free_cb);
}

void
fm_broker_subs_foreach(fm_broker *b, const char *group,
                       void (*cb)(const char *topic, const char *type, const char *expr,
                                  int64_t version, void *ud),
                       void *ud)
{
    size_t pos = 0, kl, gl = strlen(group);
    const char *key;
    void *val;
    while (fm_map_next(&b->subs, &pos, &key, &kl, &val)) {
        const sub_entry *e = val;
        const sub_slot *s = e->hb.set ? &e->hb : e->pull.set ? &e->pull : NULL;
        if (s == NULL || kl <= gl || memcmp(key, group, gl) != 0 || key[gl] != '\0') {
            continue;
        }
        cb(key + gl + 1, s->type == FM_FILTER_SQL92 ? "SQL92" : "TAG", s->expr ? s->expr : "",
           s->version, ud);
    }
}
