/*
 * groups.c - subscription group configs as records of their own (RocketMQ's
 * SubscriptionGroupManager): the table in memory, its dataVersion, and its file,
 * config/subscriptionGroup.json, replaced atomically on every change like topics.json.
 *
 * A change is made on a copy of the record and only becomes the table's once the file that
 * holds it is written, so an answer that says "created" or "deleted" is on disk, and a failed
 * write leaves memory as the disk has it.
 */
#include "store/store_int.h"

#include "common/clock.h"
#include "common/file.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS_FILE "subscriptionGroup.json"
#define GROUPS_VERSION 1

/* RocketMQ 4.9's SubscriptionGroupManager creates these at start (MixAll's names). */
static const char *const default_groups[] = {
    "TOOLS_CONSUMER",  "FILTERSRV_CONSUMER",    "SELF_TEST_C_GROUP", "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER",
};

int
fm_store_group_is_system(const char *name)
{
    for (size_t i = 0; i < sizeof(default_groups) / sizeof(default_groups[0]); i++) {
        if (strcmp(name, default_groups[i]) == 0) {
            return 1;
        }
    }
    return strncmp(name, "CID_RMQ_SYS_", 12) == 0;
}

void
fm_store_group_defaults(fm_store_group *g, const char *name)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->consume_enable = 1;
    g->consume_from_min_enable = 1;
    g->consume_broadcast_enable = 1;
    g->retry_queue_nums = 1;
    g->retry_max_times = 16;
    g->broker_id = 0;
    g->which_broker_when_consume_slowly = 1;
    g->notify_consumer_ids_changed_enable = 1;
}

static cJSON *
group_json(const fm_store_group *g)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    /* fastjson's order (alphabetical), so files and answers read like RocketMQ's */
    cJSON_AddNumberToObject(o, "brokerId", (double)g->broker_id);
    cJSON_AddBoolToObject(o, "consumeBroadcastEnable", g->consume_broadcast_enable);
    cJSON_AddBoolToObject(o, "consumeEnable", g->consume_enable);
    cJSON_AddBoolToObject(o, "consumeFromMinEnable", g->consume_from_min_enable);
    cJSON_AddStringToObject(o, "groupName", g->name);
    cJSON_AddBoolToObject(o, "notifyConsumerIdsChangedEnable",
                          g->notify_consumer_ids_changed_enable);
    cJSON_AddNumberToObject(o, "retryMaxTimes", g->retry_max_times);
    cJSON_AddNumberToObject(o, "retryQueueNums", g->retry_queue_nums);
    cJSON_AddNumberToObject(o, "whichBrokerWhenConsumeSlowly",
                            (double)g->which_broker_when_consume_slowly);
    return o;
}

cJSON *
fm_store_group_to_json(const fm_store_group *g)
{
    return group_json(g);
}

/* The table as the file holds it, with `skip` left out and `extra` (not yet in the table)
 * put in its place: what the table will be once the file is written. */
static char *
table_text(fm_store *st, const char *skip, const fm_store_group *extra, int64_t ts, int64_t counter)
{
    cJSON *root = cJSON_CreateObject(), *dv, *table;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    char *s;
    if (root == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(root, "version", GROUPS_VERSION);
    dv = cJSON_AddObjectToObject(root, "dataVersion");
    cJSON_AddNumberToObject(dv, "counter", (double)counter);
    cJSON_AddNumberToObject(dv, "timestamp", (double)ts);
    table = cJSON_AddObjectToObject(root, "subscriptionGroupTable");
    while (fm_map_next(&st->groups, &pos, &key, &kl, &val)) {
        const fm_store_group *g = val;
        if ((skip != NULL && strcmp(g->name, skip) == 0) ||
            (extra != NULL && strcmp(g->name, extra->name) == 0)) {
            continue;
        }
        cJSON_AddItemToObject(table, g->name, group_json(g));
    }
    if (extra != NULL) {
        cJSON_AddItemToObject(table, extra->name, group_json(extra));
    }
    s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static int
write_table(fm_store *st, const char *skip, const fm_store_group *extra, fm_errbuf *eb)
{
    int64_t ts = fm_clock_wall_ms(), counter = st->groups_counter + 1;
    char *s = table_text(st, skip, extra, ts, counter);
    int rc;
    if (s == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = fm_file_write_atomic(st->cfg_dir, GROUPS_FILE, s, strlen(s), eb);
    free(s);
    if (rc == FM_OK) {
        st->groups_ts = ts;
        st->groups_counter = counter;
    }
    return rc;
}

static int
table_put(fm_store *st, const fm_store_group *g)
{
    fm_store_group *cur = fm_map_get(&st->groups, g->name, strlen(g->name));
    if (cur != NULL) {
        *cur = *g;
        return FM_OK;
    }
    if ((cur = malloc(sizeof(*cur))) == NULL) {
        return FM_ENOMEM;
    }
    *cur = *g;
    if (fm_map_put(&st->groups, cur->name, strlen(cur->name), cur) != FM_OK) {
        free(cur);
        return FM_ENOMEM;
    }
    return FM_OK;
}

int
fm_store_group_put(fm_store *st, const fm_store_group *g, fm_errbuf *eb)
{
    size_t n = strnlen(g->name, sizeof(g->name));
    int rc;
    if (n == 0 || n >= sizeof(g->name)) {
        return fm_err_set(eb, FM_EINVAL, "a group name must be 1 to %zu bytes",
                          sizeof(g->name) - 1);
    }
    /* A new group gets its slot before the file is written, so that nothing can fail
     * between a written file and the table change. */
    if (fm_map_get(&st->groups, g->name, n) == NULL) {
        fm_store_group probe;
        fm_store_group_defaults(&probe, g->name);
        if (table_put(st, &probe) != FM_OK) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        rc = write_table(st, NULL, g, eb);
        if (rc != FM_OK) {
            free(fm_map_del(&st->groups, g->name, n));
            return rc;
        }
    } else if ((rc = write_table(st, NULL, g, eb)) != FM_OK) {
        return rc;
    }
    return table_put(st, g);
}

int
fm_store_group_get(fm_store *st, const char *name, fm_store_group *out)
{
    fm_store_group *g = fm_map_get(&st->groups, name, strlen(name));
    if (g == NULL) {
        return FM_ENOTFOUND;
    }
    *out = *g;
    return FM_OK;
}

int
fm_store_group_delete(fm_store *st, const char *name, fm_errbuf *eb)
{
    int rc;
    if (fm_map_get(&st->groups, name, strlen(name)) == NULL) {
        return fm_err_set(eb, FM_ENOTFOUND, "subscription group '%s' does not exist", name);
    }
    if ((rc = write_table(st, name, NULL, eb)) != FM_OK) {
        return rc;
    }
    free(fm_map_del(&st->groups, name, strlen(name)));
    return FM_OK;
}

int
fm_store_group_foreach(fm_store *st, int (*cb)(const fm_store_group *g, void *ud), void *ud)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->groups, &pos, &key, &kl, &val)) {
        int rc = cb(val, ud);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

void
fm_store_group_version(fm_store *st, int64_t *timestamp_ms, int64_t *counter)
{
    *timestamp_ms = st->groups_ts;
    *counter = st->groups_counter;
}

static int
json_int(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    /* valueint is cJSON's saturated conversion: no out-of-range double reaches an int */
    return cJSON_IsNumber(v) ? v->valueint : cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* A long field, within +-2^53 so that it reads back exactly from the JSON number it is
 * written as. */
static int64_t
json_i64(const cJSON *o, const char *k, int64_t def)
{
    const double lim = 9007199254740992.0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) {
        return def;
    }
    return v->valuedouble >= lim    ? (int64_t)lim
           : v->valuedouble <= -lim ? -(int64_t)lim
                                    : (int64_t)v->valuedouble;
}

int
fm_store_group_from_json(const cJSON *o, const char *name, fm_store_group *g, fm_errbuf *eb)
{
    const cJSON *gn = cJSON_GetObjectItemCaseSensitive(o, "groupName");
    const char *nm = cJSON_IsString(gn) ? gn->valuestring : name;
    if (!cJSON_IsObject(o)) {
        return fm_err_set(eb, FM_EINVAL, "a subscription group config must be a JSON object");
    }
    if (nm == NULL || nm[0] == '\0') {
        return fm_err_set(eb, FM_EINVAL, "the subscription group config lacks groupName");
    }
    if (strlen(nm) >= sizeof(g->name)) {
        return fm_err_set(eb, FM_EINVAL, "group name longer than %zu bytes", sizeof(g->name) - 1);
    }
    fm_store_group_defaults(g, nm);
    g->consume_enable = json_int(o, "consumeEnable", g->consume_enable) != 0;
    g->consume_from_min_enable =
        json_int(o, "consumeFromMinEnable", g->consume_from_min_enable) != 0;
    g->consume_broadcast_enable =
        json_int(o, "consumeBroadcastEnable", g->consume_broadcast_enable) != 0;
    g->retry_queue_nums = json_int(o, "retryQueueNums", g->retry_queue_nums);
    g->retry_max_times = json_int(o, "retryMaxTimes", g->retry_max_times);
    g->broker_id = json_i64(o, "brokerId", g->broker_id);
    g->which_broker_when_consume_slowly =
        json_i64(o, "whichBrokerWhenConsumeSlowly", g->which_broker_when_consume_slowly);
    g->notify_consumer_ids_changed_enable =
        json_int(o, "notifyConsumerIdsChangedEnable", g->notify_consumer_ids_changed_enable) != 0;
    return FM_OK;
}

/* A store written before groups had records of their own: every group with committed offsets
 * gets a default record, written at once (the file's existence marks the store as adopted, so
 * a group deleted later stays deleted). */
static int
adopt_offset_groups(fm_store *st, fm_errbuf *eb)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    int added = 0;
    while (fm_map_next(&st->offsets, &pos, &key, &kl, &val)) {
        const char *sep = memchr(key, '\x01', kl), *at = memchr(key, '@', kl);
        fm_store_group g;
        char name[sizeof(g.name)];
        size_t n;
        if (sep == NULL || at == NULL || at > sep || (n = (size_t)(sep - at - 1)) == 0 ||
            n >= sizeof(name)) {
            continue;
        }
        memcpy(name, at + 1, n);
        name[n] = '\0';
        /* '%' names are the broker's own pseudo-groups (%SCHEDULE%), never clients' */
        if (name[0] == '%' || fm_map_get(&st->groups, name, n) != NULL) {
            continue;
        }
        fm_store_group_defaults(&g, name);
        if (table_put(st, &g) != FM_OK) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        added++;
    }
    return added > 0 ? write_table(st, NULL, NULL, eb) : FM_OK;
}

int
fm_store_groups_load(fm_store *st, fm_errbuf *eb)
{
    char path[400], *text = NULL;
    cJSON *root, *table, *dv, *it;
    int rc;
    st->groups_ts = fm_clock_wall_ms();
    st->groups_counter = 0;
    for (size_t i = 0; i < sizeof(default_groups) / sizeof(default_groups[0]); i++) {
        fm_store_group g;
        fm_store_group_defaults(&g, default_groups[i]);
        if (table_put(st, &g) != FM_OK) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    snprintf(path, sizeof(path), "%s/%s", st->cfg_dir, GROUPS_FILE);
    if ((rc = fm_store_meta_read(path, &text, eb)) != FM_OK) {
        return rc;
    }
    if (text == NULL) {
        return adopt_offset_groups(st, eb);
    }
    root = cJSON_Parse(text);
    free(text);
    table = cJSON_GetObjectItemCaseSensitive(root, "subscriptionGroupTable");
    if (root == NULL || !cJSON_IsObject(table)) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ECORRUPT, "%s is not a subscription group table; fix or remove it",
                          path);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "version")) != NULL &&
        (!cJSON_IsNumber(it) || it->valueint > GROUPS_VERSION)) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ECORRUPT, "%s has an unknown format version", path);
    }
    /* A file without our version is RocketMQ's own (same layout): read as is. */
    dv = cJSON_GetObjectItemCaseSensitive(root, "dataVersion");
    st->groups_ts = json_i64(dv, "timestamp", st->groups_ts);
    st->groups_counter = json_i64(dv, "counter", 0);
    cJSON_ArrayForEach(it, table)
    {
        fm_store_group g;
        fm_errbuf geb;
        if (fm_store_group_from_json(it, it->string, &g, &geb) != FM_OK) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ECORRUPT, "%s: group '%s': %s", path,
                              it->string ? it->string : "?", geb.msg);
        }
        if (table_put(st, &g) != FM_OK) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    cJSON_Delete(root);
    return FM_OK;
}
