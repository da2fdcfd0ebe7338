/*
 * http_api.c - the broker's HTTP surface (broker.h: fm_broker_http_handle): health and
 * readiness, Prometheus /metrics, and the JSON admin API (cluster, topics, groups with lag,
 * offset reset with dry run, message lookup). docs/http-api.md and docs/metrics.md are its
 * contract.
 *
 * Every handler runs on the loop thread (fm_http with opts.loop), so it reads the broker's
 * state directly, as a remoting handler does; each does one pass over what it reports and no
 * I/O beyond reading the store, so a scrape or a console refresh costs the produce path one
 * short turn of the loop.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "ferrymq.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define API "/api/v1/"
#define LOOKUP_MAX 32              /* messages one lookup answers at most */
#define BODY_SHOW_MAX (256 * 1024) /* a larger body is not put in the answer, only its size */

/* ---- answers ---- */

static void
answer_json(fm_http_resp *resp, int status, cJSON *root)
{
    char *t = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (t == NULL) {
        resp->status = 500;
        snprintf(resp->log_msg, sizeof(resp->log_msg), "out of memory");
        fm_buf_appendf(&resp->body, "{\"error\": \"out of memory\"}\n");
        return;
    }
    resp->status = status;
    fm_buf_append(&resp->body, t, strlen(t));
    fm_buf_append(&resp->body, "\n", 1);
    free(t);
}

static void __attribute__((format(printf, 3, 4)))
answer_err(fm_http_resp *resp, int status, const char *fmt, ...)
{
    cJSON *o = cJSON_CreateObject();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->log_msg, sizeof(resp->log_msg), fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(o, "error", resp->log_msg);
    answer_json(resp, status, o);
    resp->status = status;
}

static void
answer_405(fm_http_resp *resp, const char *allow)
{
    snprintf(resp->allow, sizeof(resp->allow), "%s", allow);
    answer_err(resp, 405, "method not allowed (allowed: %s)", allow);
}

/* ---- small sets of names (groups seen in configs, offsets and heartbeats) ---- */

typedef struct name_set {
    char (*v)[256];
    int n, cap;
} name_set;

static int
set_has(const name_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
set_add(name_set *s, const char *name)
{
    if (set_has(s, name)) {
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char(*n)[256] = realloc(s->v, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            return; /* out of memory: the name is left out of a listing, nothing else */
        }
        s->v = n;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], 256, "%s", name);
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* ---- /healthz, /readyz ---- */

static void
h_healthz(fm_http_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    answer_json(resp, 200, o);
}

static void
h_readyz(fm_broker *b, fm_http_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    /* HTTP stops before the broker does (daemon), so "not ready" is only ever this */
    const char *why = b->registered_once ? NULL : "not registered with a name server yet";
    cJSON_AddStringToObject(o, "status", why == NULL ? "ready" : "not ready");
    if (why != NULL) {
        cJSON_AddStringToObject(o, "reason", why);
    }
    answer_json(resp, why == NULL ? 200 : 503, o);
}

/* ---- /metrics ---- */

/* A label value in Prometheus text: backslash, double quote and newline escaped. */
static void
label(fm_buf *out, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\' || c == '"') {
            fm_buf_append(out, "\\", 1);
            fm_buf_append(out, &c, 1);
        } else if (c == '\n') {
            fm_buf_append(out, "\\n", 2);
        } else {
            fm_buf_append(out, &c, 1);
        }
    }
}

static void
family(fm_buf *out, const char *name, const char *type, const char *help)
{
    fm_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(fm_buf *out, const char *name, double v)
{
    fm_buf_appendf(out, "%s %.17g\n", name, v);
}

typedef struct topic_put_ctx {
    fm_buf *out;
    int bytes;
} topic_put_ctx;

static void
topic_put_row(const char *key, size_t kl, int64_t nums, int64_t size, void *ud)
{
    topic_put_ctx *c = ud;
    fm_buf_appendf(c->out, "%s{topic=\"",
                   c->bytes ? "ferrymq_topic_produced_bytes_total"
                            : "ferrymq_topic_produced_messages_total");
    label(c->out, key, kl);
    fm_buf_appendf(c->out, "\"} %" PRId64 "\n", c->bytes ? size : nums);
}

/* GROUP_GET keys are topic@group; a topic never holds '@' (RocketMQ's name rule), so the
 * first '@' splits. */
static void
group_get_row(const char *key, size_t kl, int64_t nums, int64_t size, void *ud)
{
    topic_put_ctx *c = ud;
    const char *at = memchr(key, '@', kl);
    if (at == NULL) {
        return;
    }
    fm_buf_appendf(c->out, "%s{group=\"",
                   c->bytes ? "ferrymq_group_consumed_bytes_total"
                            : "ferrymq_group_consumed_messages_total");
    label(c->out, at + 1, kl - (size_t)(at + 1 - key));
    fm_buf_append(c->out, "\",topic=\"", 9);
    label(c->out, key, (size_t)(at - key));
    fm_buf_appendf(c->out, "\"} %" PRId64 "\n", c->bytes ? size : nums);
}

static void
sum_row(const char *key, size_t kl, int64_t nums, int64_t size, void *ud)
{
    int64_t *t = ud;
    (void)key;
    (void)kl;
    t[0] += nums;
    t[1] += size;
}

typedef struct lag_ctx {
    fm_broker *b;
    /* offsets come queue by queue, grouped by group and topic in no promised order: sum per
     * (group, topic) in a small table, written at the end */
    struct lag_row {
        char group[256], topic[256];
        int64_t lag;
    } * rows;
    int n, cap;
} lag_ctx;

static int
lag_add(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    lag_ctx *c = ud;
    int64_t max = fm_store_max_offset(c->b->st, topic, qid);
    int64_t lag = max > offset ? max - offset : 0;
    for (int i = c->n - 1; i >= 0; i--) {
        if (strcmp(c->rows[i].group, group) == 0 && strcmp(c->rows[i].topic, topic) == 0) {
            c->rows[i].lag += lag;
            return FM_OK;
        }
    }
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        struct lag_row *n = realloc(c->rows, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        c->rows = n;
        c->cap = cap;
    }
    snprintf(c->rows[c->n].group, 256, "%s", group);
    snprintf(c->rows[c->n].topic, 256, "%s", topic);
    c->rows[c->n++].lag = lag;
    return FM_OK;
}

static int
count_topic(const fm_store_topic *t, void *ud)
{
    (void)t;
    (*(int64_t *)ud)++;
    return FM_OK;
}

static void
h_metrics(fm_broker *b, fm_http_resp *resp)
{
    fm_buf *out = &resp->body;
    fm_broker_stats *s = &b->stats;
    fm_store_flush_stats fs;
    topic_put_ctx tc = {out, 0};
    lag_ctx lc;
    int64_t get[2] = {0, 0}, topics = 0, producers = 0, consumers = 0, parked = 0;
    unsigned v = ferrymq_version();
    uint64_t max_phys = fm_store_max_phys_offset(b->st);
    uint64_t flushed = fm_store_flushed_offset(b->st);

    snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; version=0.0.4");
    family(out, "ferrymq_build_info", "gauge", "Always 1; the labels say what runs.");
    fm_buf_appendf(out, "ferrymq_build_info{version=\"%u.%u.%u\",role=\"broker\",cluster=\"",
                   (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
    label(out, b->cfg.cluster_name, strlen(b->cfg.cluster_name));
    fm_buf_append(out, "\",broker=\"", 10);
    label(out, b->cfg.broker_name, strlen(b->cfg.broker_name));
    fm_buf_append(out, "\"} 1\n", 5);
    family(out, "ferrymq_start_time_seconds", "gauge", "When the broker started, Unix time.");
    fm_buf_appendf(out, "ferrymq_start_time_seconds %.3f\n", (double)b->start_ms / 1000.0);

    family(out, "ferrymq_produced_messages_total", "counter", "Messages stored from producers.");
    sample(out, "ferrymq_produced_messages_total", (double)s->put);
    family(out, "ferrymq_produced_bytes_total", "counter", "Bytes of those messages' bodies.");
    sample(out, "ferrymq_produced_bytes_total", (double)s->put_bytes);
    family(out, "ferrymq_topic_produced_messages_total", "counter", "Messages stored, by topic.");
    fm_broker_stats_foreach(b, FM_STATS_TOPIC_PUT, topic_put_row, &tc);
    family(out, "ferrymq_topic_produced_bytes_total", "counter", "Body bytes stored, by topic.");
    tc.bytes = 1;
    fm_broker_stats_foreach(b, FM_STATS_TOPIC_PUT, topic_put_row, &tc);

    fm_broker_stats_foreach(b, FM_STATS_GROUP_GET, sum_row, get);
    family(out, "ferrymq_consumed_messages_total", "counter",
           "Messages handed to consumers by "
           "pulls.");
    sample(out, "ferrymq_consumed_messages_total", (double)get[0]);
    family(out, "ferrymq_consumed_bytes_total", "counter", "Bytes of those messages.");
    sample(out, "ferrymq_consumed_bytes_total", (double)get[1]);
    family(out, "ferrymq_group_consumed_messages_total", "counter",
           "Messages handed to consumers, by group and topic.");
    tc.bytes = 0;
    fm_broker_stats_foreach(b, FM_STATS_GROUP_GET, group_get_row, &tc);
    family(out, "ferrymq_group_consumed_bytes_total", "counter",
           "Bytes handed to consumers, by group and topic.");
    tc.bytes = 1;
    fm_broker_stats_foreach(b, FM_STATS_GROUP_GET, group_get_row, &tc);
    family(out, "ferrymq_pull_requests_total", "counter",
           "Pull requests answered, by whether they found messages.");
    fm_buf_appendf(out, "ferrymq_pull_requests_total{result=\"found\"} %" PRId64 "\n",
                   s->get_found);
    fm_buf_appendf(out, "ferrymq_pull_requests_total{result=\"miss\"} %" PRId64 "\n", s->get_miss);

    for (int i = 0; i < b->n_pulls; i++) {
        parked += b->pulls[i].used != 0;
    }
    for (int i = 0; i < b->n_clients; i++) {
        consumers += b->clients[i].is_consumer != 0;
        producers += b->clients[i].is_consumer == 0;
    }
    family(out, "ferrymq_connections", "gauge", "Remoting connections open.");
    sample(out, "ferrymq_connections", (double)(b->n_conns > 0 ? b->n_conns : 0));
    family(out, "ferrymq_connections_accepted_total", "counter", "Remoting connections accepted.");
    sample(out, "ferrymq_connections_accepted_total", (double)b->conns_accepted);
    family(out, "ferrymq_clients", "gauge", "Clients known by heartbeat, by kind.");
    fm_buf_appendf(out, "ferrymq_clients{kind=\"producer\"} %" PRId64 "\n", producers);
    fm_buf_appendf(out, "ferrymq_clients{kind=\"consumer\"} %" PRId64 "\n", consumers);
    family(out, "ferrymq_parked_pulls", "gauge", "Pull requests suspended, waiting for messages.");
    sample(out, "ferrymq_parked_pulls", (double)parked);

    fm_store_topic_foreach(b->st, count_topic, &topics);
    family(out, "ferrymq_topics", "gauge", "Topics, system topics included.");
    sample(out, "ferrymq_topics", (double)topics);
    family(out, "ferrymq_store_commitlog_bytes", "gauge",
           "Bytes of the commit log kept (oldest segment start to end).");
    sample(out, "ferrymq_store_commitlog_bytes",
           (double)(max_phys - fm_store_min_phys_offset(b->st)));
    family(out, "ferrymq_store_commitlog_end_bytes", "gauge",
           "The commit log's end offset: bytes ever written.");
    sample(out, "ferrymq_store_commitlog_end_bytes", (double)max_phys);
    family(out, "ferrymq_store_unflushed_bytes", "gauge",
           "Commit log bytes written but not yet known durable (fdatasync).");
    sample(out, "ferrymq_store_unflushed_bytes",
           (double)(max_phys > flushed ? max_phys - flushed : 0));
    fm_store_flush_stats_get(b->st, &fs);
    family(out, "ferrymq_store_flush_duration_seconds", "histogram",
           "Commit log flushes (fdatasync of what was written) by duration.");
    for (int i = 0; i < FM_STORE_FLUSH_BUCKETS - 1; i++) {
        fm_buf_appendf(out, "ferrymq_store_flush_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                       fm_store_flush_bounds[i], fs.le[i]);
    }
    fm_buf_appendf(out, "ferrymq_store_flush_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                   fs.count);
    fm_buf_appendf(out, "ferrymq_store_flush_duration_seconds_sum %.9f\n", fs.sum_seconds);
    fm_buf_appendf(out, "ferrymq_store_flush_duration_seconds_count %" PRIu64 "\n", fs.count);

    memset(&lc, 0, sizeof(lc));
    lc.b = b;
    fm_store_offset_foreach(b->st, lag_add, &lc);
    family(out, "ferrymq_group_lag_messages", "gauge",
           "Messages stored but not yet committed by the group, by group and topic.");
    for (int i = 0; i < lc.n; i++) {
        fm_buf_append(out, "ferrymq_group_lag_messages{group=\"", 34);
        label(out, lc.rows[i].group, strlen(lc.rows[i].group));
        fm_buf_append(out, "\",topic=\"", 9);
        label(out, lc.rows[i].topic, strlen(lc.rows[i].topic));
        fm_buf_appendf(out, "\"} %" PRId64 "\n", lc.rows[i].lag);
    }
    free(lc.rows);
}

/* ---- /api/v1/cluster ---- */

static void
h_cluster(fm_broker *b, fm_http_resp *resp)
{
    cJSON *o = cJSON_CreateObject(), *brokers;
    cJSON *me = cJSON_CreateObject(), *ns = cJSON_CreateArray();
    unsigned v = ferrymq_version();
    char ver[32];
    snprintf(ver, sizeof(ver), "%u.%u.%u", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
    cJSON_AddStringToObject(o, "cluster", b->cfg.cluster_name);
    brokers = cJSON_AddArrayToObject(o, "brokers");
    cJSON_AddStringToObject(me, "name", b->cfg.broker_name);
    cJSON_AddNumberToObject(me, "id", (double)b->cfg.broker_id);
    cJSON_AddStringToObject(me, "addr", b->addr);
    cJSON_AddStringToObject(me, "version", ver);
    cJSON_AddNumberToObject(me, "startTimeMs", (double)b->start_ms);
    cJSON_AddBoolToObject(me, "registered", b->registered_once);
    cJSON_AddStringToObject(me, "flushDiskType", b->cfg.flush_sync ? "SYNC_FLUSH" : "ASYNC_FLUSH");
    for (int i = 0; i < b->n_ns; i++) {
        cJSON *n = cJSON_CreateObject();
        char addr[160];
        snprintf(addr, sizeof(addr), "%s:%d", b->ns[i].host, b->ns[i].port);
        cJSON_AddStringToObject(n, "addr", addr);
        cJSON_AddBoolToObject(n, "connected", b->ns[i].conn != NULL);
        cJSON_AddItemToArray(ns, n);
    }
    cJSON_AddItemToObject(me, "namesrv", ns);
    cJSON_AddItemToArray(brokers, me);
    answer_json(resp, 200, o);
}

/* ---- /api/v1/topics ---- */

static cJSON *
topic_json(fm_broker *b, const fm_store_topic *t)
{
    cJSON *o = cJSON_CreateObject(), *qs = cJSON_CreateArray();
    fm_stats_figure f[3];
    int64_t total = 0;
    cJSON_AddStringToObject(o, "name", t->name);
    /* RocketMQ's own topics, and the per-group retry and dead-letter ones */
    cJSON_AddBoolToObject(o, "system",
                          fm_broker_topic_is_system(b, t->name) ||
                              strncmp(t->name, "%RETRY%", 7) == 0 ||
                              strncmp(t->name, "%DLQ%", 5) == 0);
    cJSON_AddNumberToObject(o, "readQueues", t->read_queue_nums);
    cJSON_AddNumberToObject(o, "writeQueues", t->write_queue_nums);
    cJSON_AddNumberToObject(o, "perm", t->perm);
    cJSON_AddBoolToObject(o, "order", t->order);
    for (int q = 0; q < t->read_queue_nums; q++) {
        cJSON *r = cJSON_CreateObject();
        int64_t min = fm_store_min_offset(b->st, t->name, q);
        int64_t max = fm_store_max_offset(b->st, t->name, q);
        cJSON_AddNumberToObject(r, "queueId", q);
        cJSON_AddNumberToObject(r, "minOffset", (double)min);
        cJSON_AddNumberToObject(r, "maxOffset", (double)max);
        total += max - min;
        cJSON_AddItemToArray(qs, r);
    }
    cJSON_AddNumberToObject(o, "messages", (double)total);
    /* TOPIC_PUT_NUMS over the last minute, as mqadmin statsAll's "InTPS" */
    cJSON_AddNumberToObject(
        o, "putTps",
        fm_broker_stats_lookup(b, "TOPIC_PUT_NUMS", t->name, f) == FM_OK ? f[0].tps : 0.0);
    cJSON_AddItemToObject(o, "queues", qs);
    return o;
}

typedef struct topics_ctx {
    fm_broker *b;
    fm_store_topic *v;
    int n, cap;
} topics_ctx;

static int
collect_topic(const fm_store_topic *t, void *ud)
{
    topics_ctx *c = ud;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 32;
        fm_store_topic *n = realloc(c->v, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        c->v = n;
        c->cap = cap;
    }
    c->v[c->n++] = *t;
    return FM_OK;
}

static int
cmp_topic(const void *a, const void *b)
{
    return strcmp(((const fm_store_topic *)a)->name, ((const fm_store_topic *)b)->name);
}

static void
h_topics(fm_broker *b, fm_http_resp *resp)
{
    topics_ctx c = {b, NULL, 0, 0};
    cJSON *o, *arr;
    if (fm_store_topic_foreach(b->st, collect_topic, &c) != FM_OK) {
        free(c.v);
        answer_err(resp, 500, "out of memory");
        return;
    }
    if (c.n > 1) {
        qsort(c.v, (size_t)c.n, sizeof(*c.v), cmp_topic);
    }
    o = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(o, "topics");
    for (int i = 0; i < c.n; i++) {
        cJSON_AddItemToArray(arr, topic_json(b, &c.v[i]));
    }
    free(c.v);
    answer_json(resp, 200, o);
}

static void
h_topic(fm_broker *b, const char *name, fm_http_resp *resp)
{
    fm_store_topic t;
    if (fm_store_topic_get(b->st, name, &t) != FM_OK) {
        answer_err(resp, 404, "no such topic: %s", name);
        return;
    }
    answer_json(resp, 200, topic_json(b, &t));
}

/* ---- /api/v1/groups ---- */

static int
group_cfg_name(const fm_store_group *g, void *ud)
{
    set_add(ud, g->name);
    return FM_OK;
}

static int
group_offset_name(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    (void)topic;
    (void)qid;
    (void)offset;
    set_add(ud, group);
    return FM_OK;
}

typedef struct group_offsets {
    const char *group;
    name_set topics;
} group_offsets;

static int
group_topic(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    group_offsets *g = ud;
    (void)qid;
    (void)offset;
    if (strcmp(group, g->group) == 0) {
        set_add(&g->topics, topic);
    }
    return FM_OK;
}

static void
sub_row(const char *topic, const char *type, const char *expr, int64_t version, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    (void)version;
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "expression", expr);
    cJSON_AddItemToArray(ud, o);
}

/* A group's view: members, subscriptions, and per queue of every topic it has offsets for,
 * the lag. detail = 0 gives the summary of a listing. NULL when the broker knows nothing of
 * the group (no config, no offsets, no member). */
static cJSON *
group_json(fm_broker *b, const char *group, int detail)
{
    fm_store_group cfg;
    group_offsets go;
    cJSON *o, *members, *queues, *topics;
    int online = 0, has_cfg = fm_store_group_get(b->st, group, &cfg) == FM_OK;
    int64_t lag = 0;
    double tps = 0;
    memset(&go, 0, sizeof(go));
    go.group = group;
    fm_store_offset_foreach(b->st, group_topic, &go);
    for (int i = 0; i < b->n_clients; i++) {
        online += b->clients[i].is_consumer && strcmp(b->clients[i].group, group) == 0;
    }
    if (!has_cfg && go.topics.n == 0 && online == 0) {
        return NULL;
    }
    if (go.topics.n > 1) {
        qsort(go.topics.v, (size_t)go.topics.n, sizeof(*go.topics.v), cmp_name);
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", group);
    /* RocketMQ's own, and the replicator's (ferry-*: docs/replication.md) */
    cJSON_AddBoolToObject(o, "system",
                          fm_store_group_is_system(group) || strncmp(group, "ferry-", 6) == 0);
    cJSON_AddBoolToObject(o, "configured", has_cfg);
    cJSON_AddNumberToObject(o, "online", online);
    topics = cJSON_AddArrayToObject(o, "topics");
    queues = cJSON_CreateArray();
    for (int t = 0; t < go.topics.n; t++) {
        fm_store_topic tc;
        cJSON_AddItemToArray(topics, cJSON_CreateString(go.topics.v[t]));
        tps += fm_broker_stats_group_tps(b, go.topics.v[t], group);
        if (fm_store_topic_get(b->st, go.topics.v[t], &tc) != FM_OK) {
            continue;
        }
        for (int q = 0; q < tc.read_queue_nums; q++) {
            int64_t max = fm_store_max_offset(b->st, tc.name, q), cur;
            int64_t ql;
            if (fm_store_offset_query(b->st, group, tc.name, q, &cur) != FM_OK) {
                cur = -1;
            }
            /* no offset committed counts from 0, as RocketMQ's ConsumeStats */
            ql = max > (cur > 0 ? cur : 0) ? max - (cur > 0 ? cur : 0) : 0;
            lag += ql;
            if (detail) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "topic", tc.name);
                cJSON_AddNumberToObject(r, "queueId", q);
                cJSON_AddNumberToObject(r, "brokerOffset", (double)max);
                if (cur >= 0) {
                    cJSON_AddNumberToObject(r, "consumerOffset", (double)cur);
                } else {
                    cJSON_AddNullToObject(r, "consumerOffset");
                }
                cJSON_AddNumberToObject(r, "lag", (double)ql);
                /* store time of the last message the group has consumed, as ConsumeStats */
                cJSON_AddNumberToObject(
                    r, "lastTimestampMs",
                    (double)(cur > 0 ? fm_broker_store_time_at(b, tc.name, q, cur - 1) : 0));
                cJSON_AddItemToArray(queues, r);
            }
        }
    }
    cJSON_AddNumberToObject(o, "lag", (double)lag);
    cJSON_AddNumberToObject(o, "consumeTps", tps);
    free(go.topics.v);
    if (!detail) {
        cJSON_Delete(queues);
        return o;
    }
    members = cJSON_AddArrayToObject(o, "members");
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        cJSON *m;
        if (!c->is_consumer || strcmp(c->group, group) != 0) {
            continue;
        }
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "clientId", c->client_id);
        cJSON_AddStringToObject(m, "addr", c->conn != NULL ? fm_net_conn_peer(c->conn) : "");
        cJSON_AddNumberToObject(m, "language", c->language);
        cJSON_AddNumberToObject(m, "version", c->version);
        cJSON_AddStringToObject(m, "consumeType", c->consume_type);
        cJSON_AddStringToObject(m, "messageModel", c->message_model);
        cJSON_AddStringToObject(m, "consumeFromWhere", c->consume_from_where);
        cJSON_AddNumberToObject(m, "lastHeartbeatAgeMs",
                                (double)(fm_net_loop_now_ms(b->loop) - c->last_seen_ms));
        cJSON_AddItemToArray(members, m);
    }
    fm_broker_subs_foreach(b, group, sub_row, cJSON_AddArrayToObject(o, "subscriptions"));
    cJSON_AddItemToObject(o, "queues", queues);
    return o;
}

static int
offset_of_group(const char *group, const char *topic, int qid, int64_t offset, void *ud)
{
    (void)topic;
    (void)qid;
    (void)offset;
    return strcmp(group, ud) == 0 ? FM_EEXIST : FM_OK; /* found: stop the walk */
}

/* What group_json calls a known group: a config, a committed offset or a consumer online. */
static int
group_known(fm_broker *b, const char *group)
{
    fm_store_group cfg;
    if (fm_store_group_get(b->st, group, &cfg) == FM_OK) {
        return 1;
    }
    for (int i = 0; i < b->n_clients; i++) {
        if (b->clients[i].is_consumer && strcmp(b->clients[i].group, group) == 0) {
            return 1;
        }
    }
    return fm_store_offset_foreach(b->st, offset_of_group, (void *)group) == FM_EEXIST;
}

static void
h_groups(fm_broker *b, fm_http_resp *resp)
{
    name_set s = {0};
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "groups");
    fm_store_group_foreach(b->st, group_cfg_name, &s);
    fm_store_offset_foreach(b->st, group_offset_name, &s);
    for (int i = 0; i < b->n_clients; i++) {
        if (b->clients[i].is_consumer) {
            set_add(&s, b->clients[i].group);
        }
    }
    if (s.n > 1) {
        qsort(s.v, (size_t)s.n, sizeof(*s.v), cmp_name);
    }
    for (int i = 0; i < s.n; i++) {
        cJSON *g = group_json(b, s.v[i], 0);
        if (g != NULL) {
            cJSON_AddItemToArray(arr, g);
        }
    }
    free(s.v);
    answer_json(resp, 200, o);
}

static void
h_group(fm_broker *b, const char *name, fm_http_resp *resp)
{
    cJSON *g = group_json(b, name, 1);
    if (g == NULL) {
        answer_err(resp, 404, "no such group: %s", name);
        return;
    }
    answer_json(resp, 200, g);
}

/* A timestamp: epoch ms (number or digits) or ISO-8601 with a zone, as `ferrymq` takes. */
static int
parse_when(const cJSON *v, int64_t *ms)
{
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble < 0 || v->valuedouble > 253402300799999.0 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            return -1;
        }
        *ms = (int64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strlen(s);
        if (n > 0 && n <= 15 && strspn(s, "0123456789") == n) {
            *ms = strtoll(s, NULL, 10);
            return 0;
        }
        return fm_clock_parse_iso8601(s, ms) ? 0 : -1;
    }
    return -1;
}

/* How far a region's clock may run ahead of another's for an origin-time reset: the scan
 * starts this much before the first message stored at the time (the CLI's figure). */
#define ORIGIN_SKEW_MS 5000

/* The first offset of topic/qid whose message's origin time (FERRY_SRC_STORE_TS of a copy,
 * else its own store time) is at or after ts; the queue's end when none is. A copy is stored
 * after its original, so every message stored before ts - skew is older: the scan starts
 * there. It runs on the loop thread, so its cost is the messages between that point and the
 * answer (bounded by the replication lag at the time). */
static int64_t
origin_target(fm_broker *b, const char *topic, int qid, int64_t ts, void *ud)
{
    int64_t off, max = fm_store_max_offset(b->st, topic, qid);
    (void)ud;
    if (fm_store_search_offset_by_time(b->st, topic, qid, ts - ORIGIN_SKEW_MS, &off) != FM_OK) {
        return max;
    }
    while (off < max) {
        fm_store_get_result r;
        if (fm_store_get(b->st, topic, qid, off, FM_STORE_MAX_GET, 1u << 30, NULL, NULL, &r) !=
            FM_OK) {
            return max;
        }
        for (int i = 0; i < r.n_msgs; i++) {
            fm_msg_view m;
            if (fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL) == FM_OK) {
                fm_slice v = fm_props_get(m.properties, "FERRY_SRC_STORE_TS");
                int64_t t = 0;
                for (size_t k = 0; k < v.len && k < 18 && v.ptr[k] >= '0' && v.ptr[k] <= '9'; k++) {
                    t = t * 10 + (v.ptr[k] - '0');
                }
                if ((t > 0 ? t : m.store_timestamp) >= ts) {
                    int64_t at = m.queue_offset;
                    fm_store_get_release(&r);
                    return at;
                }
            }
        }
        off = r.next_begin_offset > off ? r.next_begin_offset : max;
        fm_store_get_release(&r);
    }
    return max;
}

/* POST /api/v1/groups/NAME/reset {"topic", "timestamp", "by", "dryRun", "force"} */
static void
h_group_reset(fm_broker *b, const char *group, const fm_http_req *req, fm_http_resp *resp)
{
    cJSON *in = cJSON_ParseWithLength((const char *)req->body, req->body_len);
    const cJSON *topic, *ts, *dry, *force, *by;
    fm_broker_reset_row *rows;
    int n, rc, dry_run, force_on;
    int64_t when;
    cJSON *o, *arr;
    if (in == NULL || !cJSON_IsObject(in)) {
        cJSON_Delete(in);
        answer_err(resp, 400, "body is not a JSON object");
        return;
    }
    for (const cJSON *f = in->child; f != NULL; f = f->next) {
        if (strcmp(f->string, "topic") != 0 && strcmp(f->string, "timestamp") != 0 &&
            strcmp(f->string, "by") != 0 && strcmp(f->string, "dryRun") != 0 &&
            strcmp(f->string, "force") != 0) {
            answer_err(resp, 400, "%s: unknown field (known: topic, timestamp, by, dryRun, force)",
                       f->string);
            cJSON_Delete(in);
            return;
        }
    }
    topic = cJSON_GetObjectItemCaseSensitive(in, "topic");
    ts = cJSON_GetObjectItemCaseSensitive(in, "timestamp");
    dry = cJSON_GetObjectItemCaseSensitive(in, "dryRun");
    force = cJSON_GetObjectItemCaseSensitive(in, "force");
    by = cJSON_GetObjectItemCaseSensitive(in, "by");
    if (by != NULL && (!cJSON_IsString(by) || (strcmp(by->valuestring, "storeTime") != 0 &&
                                               strcmp(by->valuestring, "originTime") != 0))) {
        answer_err(resp, 400, "by: must be \"storeTime\" or \"originTime\"");
    } else if (!cJSON_IsString(topic) || topic->valuestring[0] == '\0') {
        answer_err(resp, 400, "topic: required, a topic name");
    } else if (ts == NULL || parse_when(ts, &when) != 0) {
        answer_err(resp, 400,
                   "timestamp: required, epoch ms or ISO-8601 with a zone "
                   "(2026-12-01T10:00:00Z)");
    } else if ((dry != NULL && !cJSON_IsBool(dry)) || (force != NULL && !cJSON_IsBool(force))) {
        answer_err(resp, 400, "%s: must be true or false",
                   dry != NULL && !cJSON_IsBool(dry) ? "dryRun" : "force");
    } else if (!group_known(b, group)) {
        answer_err(resp, 404, "no such group: %s", group);
    } else {
        int origin = by != NULL && strcmp(by->valuestring, "originTime") == 0;
        dry_run = cJSON_IsTrue(dry);
        force_on = force == NULL || cJSON_IsTrue(force);
        rc = fm_broker_reset_group(b, group, topic->valuestring, when, force_on, -1, -1,
                                   origin ? origin_target : NULL, NULL, dry_run, &rows, &n);
        if (rc == FM_ENOTFOUND) {
            answer_err(resp, 404, "no such topic: %s", topic->valuestring);
        } else if (rc != FM_OK) {
            answer_err(resp, 500, "out of memory");
        } else {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "group", group);
            cJSON_AddStringToObject(o, "topic", topic->valuestring);
            cJSON_AddNumberToObject(o, "timestampMs", (double)when);
            cJSON_AddStringToObject(o, "by", origin ? "originTime" : "storeTime");
            cJSON_AddBoolToObject(o, "dryRun", dry_run);
            cJSON_AddBoolToObject(o, "force", force_on);
            arr = cJSON_AddArrayToObject(o, "queues");
            for (int i = 0; i < n; i++) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddNumberToObject(r, "queueId", rows[i].qid);
                if (rows[i].old_offset >= 0) {
                    cJSON_AddNumberToObject(r, "oldOffset", (double)rows[i].old_offset);
                } else {
                    cJSON_AddNullToObject(r, "oldOffset");
                }
                cJSON_AddNumberToObject(r, "newOffset", (double)rows[i].new_offset);
                cJSON_AddItemToArray(arr, r);
            }
            free(rows);
            answer_json(resp, 200, o);
        }
    }
    cJSON_Delete(in);
}

/* ---- /api/v1/messages ---- */

static int
utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            if (c == 0) {
                return 0;
            }
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (p[i + j] & 0xc0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += k + 1;
    }
    return 1;
}

/* A record's IPv4 host (4 address bytes, 4 port bytes, big-endian) as "ip:port". */
static void
add_host(cJSON *o, const char *field, fm_slice h)
{
    char s[32];
    const uint8_t *p = h.ptr;
    if (h.len != 8) {
        return;
    }
    snprintf(s, sizeof(s), "%u.%u.%u.%u:%u", p[0], p[1], p[2], p[3],
             (unsigned)p[4] << 24 | (unsigned)p[5] << 16 | (unsigned)p[6] << 8 | p[7]);
    cJSON_AddStringToObject(o, field, s);
}

static cJSON *
msg_json(const uint8_t *rec, size_t len)
{
    fm_msg_view m;
    fm_props_iter it;
    fm_slice name, value;
    char id[FM_MSGID_MAX + 1];
    cJSON *o, *props;
    fm_buf body = {0};
    const uint8_t *bp;
    size_t bn;
    if (fm_msg_decode(rec, len, &m, NULL) != FM_OK) {
        return NULL;
    }
    o = cJSON_CreateObject();
    {
        char topic[256];
        snprintf(topic, sizeof(topic), "%.*s", (int)m.topic.len, (const char *)m.topic.ptr);
        cJSON_AddStringToObject(o, "topic", topic);
    }
    fm_msgid_make(id, m.store_host.ptr, m.store_host.len, (uint64_t)m.phys_offset);
    cJSON_AddStringToObject(o, "offsetMsgId", id);
    cJSON_AddNumberToObject(o, "queueId", m.queue_id);
    cJSON_AddNumberToObject(o, "queueOffset", (double)m.queue_offset);
    cJSON_AddNumberToObject(o, "commitLogOffset", (double)m.phys_offset);
    cJSON_AddNumberToObject(o, "bornTimestampMs", (double)m.born_timestamp);
    cJSON_AddNumberToObject(o, "storeTimestampMs", (double)m.store_timestamp);
    add_host(o, "storeHost", m.store_host);
    add_host(o, "bornHost", m.born_host);
    cJSON_AddNumberToObject(o, "reconsumeTimes", m.reconsume_times);
    props = cJSON_AddObjectToObject(o, "properties");
    fm_props_iter_init(&it, m.properties);
    while (fm_props_next(&it, &name, &value) == FM_OK) {
        char k[256];
        char *v = malloc(value.len + 1);
        if (v == NULL) {
            break;
        }
        memcpy(v, value.ptr, value.len);
        v[value.len] = '\0';
        snprintf(k, sizeof(k), "%.*s", (int)name.len, (const char *)name.ptr);
        cJSON_AddItemToObject(props, k, cJSON_CreateString(utf8_ok(value.ptr, value.len) ? v : ""));
        free(v);
    }
    bp = m.body.ptr;
    bn = m.body.len;
    if (m.sysflag & 0x1) {
        /* zlib-compressed by the producer (COMPRESSED_FLAG): shown inflated */
        uLongf cap = (uLongf)(bn * 4 + 1024);
        for (int tries = 0; tries < 6; tries++, cap *= 4) {
            int zr;
            fm_buf_reset(&body);
            if (cap > BODY_SHOW_MAX * 4 || fm_buf_reserve(&body, cap) != FM_OK) {
                break;
            }
            zr = uncompress(body.data, &cap, m.body.ptr, (uLong)m.body.len);
            if (zr == Z_OK) {
                body.len = cap;
                bp = body.data;
                bn = body.len;
                break;
            }
            if (zr != Z_BUF_ERROR) {
                break;
            }
        }
        cJSON_AddBoolToObject(o, "compressed", 1);
    }
    cJSON_AddNumberToObject(o, "bodySize", (double)bn);
    if (bn <= BODY_SHOW_MAX && utf8_ok(bp, bn)) {
        char *t = malloc(bn + 1);
        if (t != NULL) {
            memcpy(t, bp, bn);
            t[bn] = '\0';
            cJSON_AddStringToObject(o, "body", t);
            free(t);
        }
    } else {
        cJSON_AddNullToObject(o, "body"); /* binary or too large to show */
    }
    fm_buf_free(&body);
    return o;
}

/* Records laid back to back (a key lookup's answer) into arr. */
static void
add_records(cJSON *arr, const fm_buf *recs, int n)
{
    size_t at = 0;
    for (int i = 0; i < n && at + 4 <= recs->len; i++) {
        const uint8_t *p = recs->data + at;
        uint32_t sz = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        cJSON *m;
        if (sz < FM_MSG_MIN_SIZE || at + sz > recs->len) {
            break;
        }
        m = msg_json(p, sz);
        if (m != NULL) {
            cJSON_AddItemToArray(arr, m);
        }
        at += sz;
    }
}

/* GET /api/v1/messages?id=ID[&topic=T] or ?topic=T&key=K: by offset message id (32 or 56 hex
 * digits, any topic), by UNIQ_KEY (with topic), or by key (with topic). */
static void
h_messages(fm_broker *b, const fm_http_req *req, fm_http_resp *resp)
{
    char id[128], topic[256], key[256];
    int has_id = fm_http_query_get(req->query, "id", id, sizeof(id));
    int has_topic = fm_http_query_get(req->query, "topic", topic, sizeof(topic));
    int has_key = fm_http_query_get(req->query, "key", key, sizeof(key));
    fm_buf recs = {0};
    fm_store_query_result r;
    cJSON *o, *arr;
    if (has_id == FM_EINVAL || has_topic == FM_EINVAL || has_key == FM_EINVAL) {
        answer_err(resp, 400, "bad query string: an overlong or badly escaped value");
        return;
    }
    if ((has_id == FM_OK) == (has_key == FM_OK)) {
        answer_err(resp, 400, "give exactly one of id (a message id) and key (with topic)");
        return;
    }
    o = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(o, "messages");
    if (has_id == FM_OK) {
        uint8_t host[20];
        size_t hl;
        uint64_t phys;
        fm_errbuf eb;
        if (fm_msgid_parse(fm_slice_cstr(id), host, &hl, &phys) == FM_OK) {
            /* an offset message id: the record at that commit log offset, if it is ours */
            if (hl == 8 && memcmp(host, b->store_host, 8) == 0 &&
                fm_store_read_at(b->st, phys, &recs, &eb) == FM_OK) {
                add_records(arr, &recs, 1);
            }
        } else if (strlen(id) != 32 || strspn(id, "0123456789ABCDEFabcdef") != 32) {
            cJSON_Delete(o);
            /* the CLI's words for it (ferrymq message show) */
            answer_err(resp, 400, "'%s' is not a message id (32 or 56 hex characters)", id);
            return;
        }
        if (cJSON_GetArraySize(arr) == 0 && strlen(id) == 32) {
            /* a client's UNIQ_KEY (msgId): looked up in the index, which needs the topic */
            if (has_topic != FM_OK) {
                cJSON_Delete(o);
                fm_buf_free(&recs);
                answer_err(resp, 400,
                           "id %s is not an offset id of this broker: looking it up "
                           "as a UNIQ_KEY needs topic",
                           id);
                return;
            }
            fm_buf_reset(&recs);
            if (fm_store_query_by_key(b->st, topic, fm_slice_cstr(id), 1, LOOKUP_MAX, 0, INT64_MAX,
                                      &recs, &r) == FM_OK) {
                add_records(arr, &recs, r.n_msgs);
            }
        }
    } else {
        if (has_topic != FM_OK) {
            cJSON_Delete(o);
            answer_err(resp, 400, "key needs topic");
            return;
        }
        if (fm_store_query_by_key(b->st, topic, fm_slice_cstr(key), 0, LOOKUP_MAX, 0, INT64_MAX,
                                  &recs, &r) == FM_OK) {
            add_records(arr, &recs, r.n_msgs);
        }
    }
    fm_buf_free(&recs);
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(o);
        answer_err(resp, 404, "no message found for %s %s", has_id == FM_OK ? "id" : "key",
                   has_id == FM_OK ? id : key);
        return;
    }
    answer_json(resp, 200, o);
}

/* ---- routing ---- */

static int
is(const fm_http_req *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

void
fm_broker_http_handle(void *ud, const fm_http_req *req, fm_http_resp *resp)
{
    fm_broker *b = ud;
    const char *p = req->path;
    if (strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 || strcmp(p, "/metrics") == 0 ||
        strcmp(p, API "cluster") == 0 || strcmp(p, API "topics") == 0 ||
        strcmp(p, API "groups") == 0 || strcmp(p, API "messages") == 0) {
        if (!is(req, "GET")) {
            answer_405(resp, "GET");
        } else if (p[1] == 'h') {
            h_healthz(resp);
        } else if (p[1] == 'r') {
            h_readyz(b, resp);
        } else if (p[1] == 'm') {
            h_metrics(b, resp);
        } else if (strcmp(p, API "cluster") == 0) {
            h_cluster(b, resp);
        } else if (strcmp(p, API "topics") == 0) {
            h_topics(b, resp);
        } else if (strcmp(p, API "groups") == 0) {
            h_groups(b, resp);
        } else {
            h_messages(b, req, resp);
        }
        return;
    }
    if (strncmp(p, API "topics/", sizeof(API "topics/") - 1) == 0) {
        const char *name = p + sizeof(API "topics/") - 1;
        if (*name == '\0' || strchr(name, '/') != NULL) {
            answer_err(resp, 404, "no such endpoint");
        } else if (!is(req, "GET")) {
            answer_405(resp, "GET");
        } else {
            h_topic(b, name, resp);
        }
        return;
    }
    if (strncmp(p, API "groups/", sizeof(API "groups/") - 1) == 0) {
        const char *name = p + sizeof(API "groups/") - 1;
        const char *slash = strchr(name, '/');
        char group[256];
        size_t gl = slash != NULL ? (size_t)(slash - name) : strlen(name);
        if (gl == 0 || gl >= sizeof(group) || (slash != NULL && strcmp(slash, "/reset") != 0)) {
            answer_err(resp, 404, "no such endpoint");
            return;
        }
        memcpy(group, name, gl);
        group[gl] = '\0';
        if (slash == NULL) {
            if (!is(req, "GET")) {
                answer_405(resp, "GET");
            } else {
                h_group(b, group, resp);
            }
        } else if (!is(req, "POST")) {
            answer_405(resp, "POST");
        } else {
            h_group_reset(b, group, req, resp);
        }
        return;
    }
    answer_err(resp, 404, "no such endpoint");
}
