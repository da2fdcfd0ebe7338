/*
 * journey.c - where one message went (repl.h: fm_repl_journey). The replicator is the one
 * process that knows every region: each task names its source and target cluster. The
 * message is looked up in each of them through the public protocol, as a RocketMQ tool would
 * (by offset id on the broker that stored it, else by UNIQ_KEY in the topic's index), then the
 * copies are ordered by their path property (origin first).
 *
 * Runs on an HTTP thread and blocks on the clusters (each lookup is bounded by the client's
 * request timeout); it shares nothing with the engine but the task list it reads.
 */
#include "repl/repl.h"

#include "ferrymq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGIONS 32

typedef struct region {
    char name[128];
    char namesrv[256];
    char prefix[40];
    ferrymq_msg *m; /* found here, or NULL */
    char error[256];
} region;

/* Every region a task names, once (the first task's name server and prefix for it). */
static int
regions_of(const cJSON *tasks, region *out, int max)
{
    int n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks)
    {
        const char *sides[2] = {"source", "target"};
        const cJSON *pfx = cJSON_GetObjectItemCaseSensitive(t, "propertyPrefix");
        for (int s = 0; s < 2; s++) {
            const cJSON *side = cJSON_GetObjectItemCaseSensitive(t, sides[s]);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(side, "region");
            const cJSON *ns = cJSON_GetObjectItemCaseSensitive(side, "namesrv");
            int seen = 0;
            if (!cJSON_IsString(name) || !cJSON_IsString(ns)) {
                continue;
            }
            for (int i = 0; i < n; i++) {
                seen |= strcmp(out[i].name, name->valuestring) == 0;
            }
            if (seen || n == max) {
                continue;
            }
            memset(&out[n], 0, sizeof(out[n]));
            snprintf(out[n].name, sizeof(out[n].name), "%s", name->valuestring);
            snprintf(out[n].namesrv, sizeof(out[n].namesrv), "%s", ns->valuestring);
            snprintf(out[n].prefix, sizeof(out[n].prefix), "%s",
                     cJSON_IsString(pfx) ? pfx->valuestring : "FERRY_");
            n++;
        }
    }
    return n;
}

/* Look id up in one region: by_uniq 0 = either id (offset id first), 1 = a UNIQ_KEY. */
static void
lookup(region *g, const char *topic, const char *id, int by_uniq)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_admin *a = NULL;
    int rc = conf != NULL
                 ? ferrymq_conf_set(conf, "namesrvAddr", g->namesrv, g->error, sizeof(g->error))
                 : FERRYMQ_ENOMEM;
    if (rc == FERRYMQ_OK) {
        rc = ferrymq_admin_new(conf, &a, g->error, sizeof(g->error));
    }
    ferrymq_conf_free(conf);
    if (rc == FERRYMQ_OK) {
        rc = by_uniq ? ferrymq_admin_query_uniq_key(a, topic, id, &g->m, g->error, sizeof(g->error))
                     : ferrymq_admin_message_by_id(a, topic, id, &g->m, g->error, sizeof(g->error));
    }
    ferrymq_admin_free(a);
    if (rc == FERRYMQ_OK || rc == FERRYMQ_ENOTFOUND) {
        g->error[0] = '\0'; /* not found is an answer, not an error */
    }
    if (rc != FERRYMQ_OK) {
        g->m = NULL;
    }
}

static const char *
prop(const region *g, const char *suffix)
{
    char name[80];
    snprintf(name, sizeof(name), "%s%s", g->prefix, suffix);
    return ferrymq_msg_property(g->m, name);
}

/* Where region g's copy sits in the path: -1 the origin, else its index, else after all. */
static int
rank_of(const region *g, const char *path)
{
    const char *src = prop(g, "SRC_REGION");
    size_t n = strlen(g->name);
    int i = 0;
    if (src == NULL) {
        return -1; /* no origin property: produced here */
    }
    for (const char *p = path; p != NULL && *p != '\0'; i++) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, g->name, n) == 0) {
            return i;
        }
        p = p[k] == ',' ? p + k + 1 : NULL;
    }
    return 1000;
}

static cJSON *
hop_json(const region *g)
{
    static const char *const props[] = {"SRC_REGION", "PATH",       "SRC_CLUSTER", "SRC_TOPIC",
                                        "SRC_QID",    "SRC_OFFSET", "SRC_STORE_TS"};
    cJSON *o = cJSON_CreateObject(), *p;
    int64_t ts = ferrymq_msg_store_timestamp(g->m);
    cJSON_AddStringToObject(o, "region", g->name);
    cJSON_AddStringToObject(o, "namesrv", g->namesrv);
    cJSON_AddBoolToObject(o, "origin", prop(g, "SRC_REGION") == NULL);
    cJSON_AddStringToObject(o, "topic", ferrymq_msg_topic(g->m));
    cJSON_AddNumberToObject(o, "queueId", ferrymq_msg_queue_id(g->m));
    cJSON_AddNumberToObject(o, "queueOffset", (double)ferrymq_msg_queue_offset(g->m));
    cJSON_AddStringToObject(o, "offsetMsgId", ferrymq_msg_offset_id(g->m));
    cJSON_AddNumberToObject(o, "storeTimestampMs", (double)ts);
    p = cJSON_AddObjectToObject(o, "properties");
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        const char *v = prop(g, props[i]);
        if (v != NULL) {
            char name[80];
            snprintf(name, sizeof(name), "%s%s", g->prefix, props[i]);
            cJSON_AddStringToObject(p, name, v);
        }
    }
    return o;
}

int
fm_repl_journey(fm_repl *r, const char *topic, const char *id, cJSON **out, fm_errbuf *eb)
{
    cJSON *tasks = NULL, *o, *hops, *missing, *errors;
    region *g = calloc(MAX_REGIONS, sizeof(*g));
    int n, order[MAX_REGIONS], n_found = 0, rc;
    const char *uniq = NULL, *path = NULL;
    *out = NULL;
    if (g == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = fm_repl_task_list(r, &tasks);
    if (rc != FM_OK) {
        free(g);
        return fm_err_set(eb, rc, "cannot list the tasks");
    }
    n = regions_of(tasks, g, MAX_REGIONS);
    cJSON_Delete(tasks);
    if (n == 0) {
        free(g);
        return fm_err_set(eb, FM_ENOTFOUND, "no task, so no region to look in");
    }
    /* First the message's UNIQ_KEY. An offset id holds its broker's address, and a lookup
     * by it goes straight there whichever region's client asks, so what it finds says nothing
     * about the region: it only gives the key. Then each region's own index is asked for that
     * key, which finds exactly the copies that region holds. */
    {
        region probe;
        char key[128] = "";
        for (int i = 0; i < n && key[0] == '\0'; i++) {
            probe = g[i];
            lookup(&probe, topic, id, 0);
            if (probe.m != NULL) {
                snprintf(key, sizeof(key), "%s", ferrymq_msg_id(probe.m));
                ferrymq_msg_free(probe.m);
            } else if (probe.error[0] != '\0') {
                snprintf(g[i].error, sizeof(g[i].error), "%s", probe.error);
            }
        }
        for (int i = 0; i < n && key[0] != '\0'; i++) {
            g[i].error[0] = '\0';
            lookup(&g[i], topic, key, 1);
            if (g[i].m != NULL && uniq == NULL) {
                uniq = ferrymq_msg_id(g[i].m);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (g[i].m != NULL) {
            order[n_found++] = i;
            if (path == NULL) {
                path = prop(&g[i], "PATH");
            }
        }
    }
    /* origin first, then the path's order (an insertion sort: a handful of regions) */
    for (int a = 1; a < n_found; a++) {
        for (int b = a; b > 0 && rank_of(&g[order[b]], path) < rank_of(&g[order[b - 1]], path);
             b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddStringToObject(o, "id", id);
    if (uniq != NULL) {
        cJSON_AddStringToObject(o, "uniqKey", uniq);
    } else {
        cJSON_AddNullToObject(o, "uniqKey");
    }
    hops = cJSON_AddArrayToObject(o, "hops");
    for (int k = 0; k < n_found; k++) {
        cJSON_AddItemToArray(hops, hop_json(&g[order[k]]));
    }
    if (n_found > 0 && prop(&g[order[0]], "SRC_REGION") == NULL) {
        cJSON_AddStringToObject(o, "origin", g[order[0]].name);
    } else {
        cJSON_AddNullToObject(o, "origin"); /* produced in a region no task names */
    }
    missing = cJSON_AddArrayToObject(o, "missing");
    errors = cJSON_AddArrayToObject(o, "errors");
    for (int i = 0; i < n; i++) {
        if (g[i].m == NULL) {
            cJSON_AddItemToArray(missing, cJSON_CreateString(g[i].name));
        }
        if (g[i].error[0] != '\0') {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "region", g[i].name);
            cJSON_AddStringToObject(e, "error", g[i].error);
            cJSON_AddItemToArray(errors, e);
        }
        ferrymq_msg_free(g[i].m);
    }
    free(g);
    if (n_found == 0) {
        cJSON_Delete(o);
        return fm_err_set(eb, FM_ENOTFOUND, "no message %s in topic %s in any region", id, topic);
    }
    *out = o;
    return FM_OK;
}
