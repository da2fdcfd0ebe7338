/*
 * h_stats.c - the statistics requests of mqadmin statsAll and brokerConsumeStats, as RocketMQ
 * 4.9's AdminBrokerProcessor answers them:
 *   VIEW_BROKER_STATS_DATA (315)   one BrokerStatsManager item's minute, hour and day figures
 *                                  (BrokerStatsData), or SYSTEM_ERROR "The stats <N> <K> not
 *                                  exist" before its first event
 *   GET_BROKER_CONSUME_STATS (317) per subscription group, its ConsumeStats on every topic it
 *                                  has offsets for (ConsumeStatsList), with the total lag
 *   QUERY_TOPIC_CONSUME_BY_WHO (300) the groups of a topic: those online subscribing to it and
 *                                  those with offsets on it (GroupList)
 */
#include "broker/broker_int.h"
#include "proto/codes.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
append_figure(fm_buf *out, const char *name, const fm_stats_figure *f)
{
    /* BrokerStatsItem, fastjson's field order */
    return fm_buf_appendf(out, "\"%s\":{\"avgpt\":%.3f,\"sum\":%" PRId64 ",\"tps\":%.3f}", name,
                          f->avgpt, f->sum, f->tps);
}

void
fm_broker_h_view_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char name[64], key[600];
    fm_stats_figure f[3];
    fm_buf body = {0};
    int rc;
    if (fm_broker_need_str(b, conn, req, "statsName", name, sizeof(name)) != FM_OK ||
        fm_broker_need_str(b, conn, req, "statsKey", key, sizeof(key)) != FM_OK) {
        return;
    }
    if (fm_broker_stats_lookup(b, name, key, f) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "The stats <%s> <%s> not exist",
                            name, key);
        return;
    }
    rc = fm_buf_append(&body, "{", 1);
    rc |= append_figure(&body, "statsDay", &f[2]);
    rc |= fm_buf_append(&body, ",", 1);
    rc |= append_figure(&body, "statsHour", &f[1]);
    rc |= fm_buf_append(&body, ",", 1);
    rc |= append_figure(&body, "statsMinute", &f[0]);
    rc |= fm_buf_append(&body, "}", 1);
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
    } else {
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&body));
    }
    fm_buf_free(&body);
}

/* ---- GET_BROKER_CONSUME_STATS ---- */

typedef struct topic_list {
    char (*names)[256];
    int n, cap;
} topic_list;

typedef struct consume_ctx {
    fm_broker *b;
    int only_order;
    fm_buf *out;
    int groups; /* written so far */
    int64_t total_diff;
    int rc;
    const char *group;
    topic_list topics; /* of the group being written: with offsets */
    topic_list subs;   /* of the group being written: subscribed by its online members */
} consume_ctx;

static int
list_add(topic_list *l, const char *t)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], t) == 0) {
            return FM_OK;
        }
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        char(*nn)[256] = realloc(l->names, (size_t)cap * sizeof(*nn));
        if (nn == NULL) {
            return FM_ENOMEM;
        }
        l->names = nn;
        l->cap = cap;
    }
    snprintf(l->names[l->n++], 256, "%s", t);
    return FM_OK;
}

static int
list_has(const topic_list *l, const char *t)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], t) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
offset_topic(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    consume_ctx *c = ud;
    (void)qid;
    (void)offset;
    return strcmp(group, c->group) == 0 ? list_add(&c->topics, topic) : FM_OK;
}

static void
sub_topic(const char *topic, const char *type, const char *expr, int64_t version, void *ud)
{
    (void)type;
    (void)expr;
    (void)version;
    list_add(&((consume_ctx *)ud)->subs, topic);
}

static int
group_online(const fm_broker *b, const char *group)
{
    for (int i = 0; i < b->n_clients; i++) {
        if (b->clients[i].is_consumer && strcmp(b->clients[i].group, group) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One group's {"<group>":[ConsumeStats...]}: RocketMQ's fetchAllConsumeStatsInBroker. */
static int
write_group(const fm_store_group *g, void *ud)
{
    consume_ctx *c = ud;
    fm_broker *b = c->b;
    fm_buf *out = c->out;
    int rc, n = 0, online;
    cJSON *name = cJSON_CreateString(g->name);
    char *qname = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    if (qname == NULL) {
        return FM_ENOMEM;
    }
    c->group = g->name;
    c->topics.n = c->subs.n = 0;
    rc = fm_store_offset_foreach(b->st, offset_topic, c);
    online = group_online(b, g->name);
    if (online) {
        fm_broker_subs_foreach(b, g->name, sub_topic, c);
    }
    rc |= fm_buf_appendf(out, "%s{%s:[", c->groups++ ? "," : "", qname);
    free(qname);
    for (int t = 0; t < c->topics.n && rc == FM_OK; t++) {
        const char *topic = c->topics.names[t];
        fm_store_topic tc;
        if (fm_store_topic_get(b->st, topic, &tc) != FM_OK || (c->only_order && !tc.order) ||
            (online && c->subs.n > 0 && !list_has(&c->subs, topic))) {
            continue;
        }
        rc |= fm_buf_appendf(out, "%s{\"consumeTps\":%.3f,\"offsetTable\":{", n++ ? "," : "",
                             fm_broker_stats_group_tps(b, topic, g->name));
        for (int q = 0; q < tc.write_queue_nums; q++) {
            int64_t max = fm_store_max_offset(b->st, topic, q), cur = 0, ts = 0;
            if (fm_store_offset_query(b->st, g->name, topic, q, &cur) != FM_OK || cur < 0) {
                cur = 0;
            }
            max = max < 0 ? 0 : max;
            if (cur > 0) {
                ts = fm_broker_store_time_at(b, topic, q, cur - 1);
            }
            c->total_diff += max - cur;
            rc |= q > 0 ? fm_buf_append(out, ",", 1) : FM_OK;
            rc |= fm_broker_append_mq_key(out, b->cfg.broker_name, topic, q);
            rc |= fm_buf_appendf(out,
                                 ":{\"brokerOffset\":%" PRId64 ",\"consumerOffset\":%" PRId64
                                 ",\"lastTimestamp\":%" PRId64 "}",
                                 max, cur, ts > 0 ? ts : 0);
        }
        rc |= fm_buf_append(out, "}}", 2);
    }
    rc |= fm_buf_append(out, "]}", 2);
    return rc == FM_OK ? FM_OK : FM_ENOMEM;
}

void
fm_broker_h_broker_consume_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char order[16] = "";
    fm_buf body = {0};
    consume_ctx c;
    int rc;
    memset(&c, 0, sizeof(c));
    c.b = b;
    c.out = &body;
    fm_broker_ext_str(req, "isOrder", order, sizeof(order));
    c.only_order = strcasecmp(order, "true") == 0;
    rc = fm_buf_appendf(&body, "{\"brokerAddr\":\"%s\",\"consumeStatsList\":[", b->addr);
    if (rc == FM_OK) {
        rc = fm_store_group_foreach(b->st, write_group, &c);
    }
    if (rc == FM_OK) {
        rc = fm_buf_appendf(&body, "],\"totalDiff\":%" PRId64 "}", c.total_diff);
    }
    free(c.topics.names);
    free(c.subs.names);
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "out of memory");
    } else {
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_buf_slice(&body));
    }
    fm_buf_free(&body);
}

/* ---- QUERY_TOPIC_CONSUME_BY_WHO ---- */

typedef struct by_who {
    const char *topic;
    topic_list groups; /* group names, in the list type's 256-byte slots */
} by_who;

static int
offset_group(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    by_who *w = ud;
    (void)qid;
    (void)offset;
    /* '%' names are the broker's own pseudo-groups (%SCHEDULE%), no client's */
    return strcmp(topic, w->topic) == 0 && group[0] != '%' ? list_add(&w->groups, group) : FM_OK;
}

typedef struct sub_hit {
    const char *topic;
    int hit;
} sub_hit;

static void
sub_is(const char *topic, const char *type, const char *expr, int64_t version, void *ud)
{
    sub_hit *h = ud;
    (void)type;
    (void)expr;
    (void)version;
    h->hit |= strcmp(topic, h->topic) == 0;
}

void
fm_broker_h_consume_by_who(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char topic[256];
    by_who w;
    cJSON *root, *list;
    int rc;
    if (fm_broker_need_str(b, conn, req, "topic", topic, sizeof(topic)) != FM_OK) {
        return;
    }
    memset(&w, 0, sizeof(w));
    w.topic = topic;
    /* ConsumerManager.queryTopicConsumeByWho, then the groups with offsets on it */
    rc = FM_OK;
    for (int i = 0; i < b->n_clients && rc == FM_OK; i++) {
        const client_entry *c = &b->clients[i];
        sub_hit h = {topic, 0};
        if (!c->is_consumer || list_has(&w.groups, c->group)) {
            continue;
        }
        fm_broker_subs_foreach(b, c->group, sub_is, &h);
        if (h.hit) {
            rc = list_add(&w.groups, c->group);
        }
    }
    if (rc == FM_OK) {
        rc = fm_store_offset_foreach(b->st, offset_group, &w);
    }
    root = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(root, "groupList");
    for (int i = 0; i < w.groups.n; i++) {
        cJSON_AddItemToArray(list, cJSON_CreateString(w.groups.names[i]));
    }
    free(w.groups.names);
    if (rc != FM_OK) {
        cJSON_Delete(root);
        root = NULL; /* answered out of memory */
    }
    fm_broker_reply_json(b, conn, req, root);
}
