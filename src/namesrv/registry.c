#include "namesrv/registry.h"

#include "common/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ns_broker {
    char cluster[128];
    char name[128];
    int64_t id;
    char addr[128];
    int64_t last_update_ms;
    cJSON *topics; /* the topicConfigTable object, owned */
} ns_broker;

struct fm_namesrv_registry {
    ns_broker *brokers;
    int n, cap;
    char wiped[16][128]; /* broker names whose write permission was taken away */
    int n_wiped;
};

static int
is_wiped(const fm_namesrv_registry *reg, const char *name)
{
    for (int i = 0; i < reg->n_wiped; i++) {
        if (strcmp(reg->wiped[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

int
fm_namesrv_write_perm(fm_namesrv_registry *reg, const char *broker_name, int add)
{
    int topics = 0;
    for (int i = 0; i < reg->n; i++) {
        const ns_broker *b = &reg->brokers[i];
        if (strcmp(b->name, broker_name) == 0 && b->id == 0 && b->topics != NULL) {
            topics += cJSON_GetArraySize(b->topics);
        }
    }
    for (int i = 0; i < reg->n_wiped; i++) {
        if (strcmp(reg->wiped[i], broker_name) == 0) {
            if (add) {
                reg->wiped[i][0] = '\0';
                memmove(reg->wiped[i], reg->wiped[reg->n_wiped - 1], sizeof(reg->wiped[i]));
                reg->n_wiped--;
            }
            return topics;
        }
    }
    if (!add && reg->n_wiped < 16 && strlen(broker_name) < sizeof(reg->wiped[0])) {
        snprintf(reg->wiped[reg->n_wiped++], sizeof(reg->wiped[0]), "%s", broker_name);
    }
    return topics;
}

int
fm_namesrv_registry_new(fm_namesrv_registry **out)
{
    fm_namesrv_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL) {
        return FM_ENOMEM;
    }
    *out = reg;
    return FM_OK;
}

void
fm_namesrv_registry_free(fm_namesrv_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    for (int i = 0; i < reg->n; i++) {
        cJSON_Delete(reg->brokers[i].topics);
    }
    free(reg->brokers);
    free(reg);
}

static ns_broker *
find(const fm_namesrv_registry *reg, const char *name, int64_t id)
{
    for (int i = 0; i < reg->n; i++) {
        if (strcmp(reg->brokers[i].name, name) == 0 && reg->brokers[i].id == id) {
            return &reg->brokers[i];
        }
    }
    return NULL;
}

static int
copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n == 0 || n >= cap) {
        return FM_EINVAL;
    }
    memcpy(dst, src, n + 1);
    return FM_OK;
}

int
fm_namesrv_register(fm_namesrv_registry *reg, const char *cluster, const char *broker_name,
                    int64_t broker_id, const char *addr, fm_slice topics_json, int64_t now_ms,
                    fm_errbuf *eb)
{
    ns_broker tmp, *b;
    cJSON *topics = NULL;

    memset(&tmp, 0, sizeof(tmp));
    if (copy_name(tmp.cluster, sizeof(tmp.cluster), cluster) != FM_OK ||
        copy_name(tmp.name, sizeof(tmp.name), broker_name) != FM_OK ||
        copy_name(tmp.addr, sizeof(tmp.addr), addr) != FM_OK) {
        return fm_err_set(eb, FM_EINVAL, "clusterName, brokerName and brokerAddr are required");
    }
    if (topics_json.len > 0) {
        cJSON *root = cJSON_ParseWithLength((const char *)topics_json.ptr, topics_json.len);
        cJSON *table;
        if (root == NULL) {
            return fm_err_set(eb, FM_EINVAL, "register body is not valid JSON");
        }
        table = cJSON_DetachItemFromObject(root, "topicConfigTable");
        cJSON_Delete(root);
        if (table == NULL || !cJSON_IsObject(table)) {
            cJSON_Delete(table);
            return fm_err_set(eb, FM_EINVAL, "register body has no topicConfigTable object");
        }
        topics = table;
    }

    b = find(reg, tmp.name, broker_id);
    if (b == NULL) {
        if (reg->n == reg->cap) {
            int cap = reg->cap ? reg->cap * 2 : 8;
            ns_broker *nb = realloc(reg->brokers, (size_t)cap * sizeof(*nb));
            if (nb == NULL) {
                cJSON_Delete(topics);
                return fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
            reg->brokers = nb;
            reg->cap = cap;
        }
        b = &reg->brokers[reg->n++];
        *b = tmp;
        b->topics = NULL;
        FM_LOGI("namesrv", "FM-NS-BROKER-REGISTERED", "cluster=%s broker=%s id=%lld addr=%s",
                tmp.cluster, tmp.name, (long long)broker_id, tmp.addr);
    } else {
        memcpy(b->cluster, tmp.cluster, sizeof(b->cluster));
        memcpy(b->addr, tmp.addr, sizeof(b->addr));
    }
    b->id = broker_id;
    b->last_update_ms = now_ms;
    if (topics != NULL) {
        cJSON_Delete(b->topics);
        b->topics = topics;
    }
    return FM_OK;
}

int
fm_namesrv_delete_topic(fm_namesrv_registry *reg, const char *topic, const char *cluster)
{
    int n = 0;
    for (int i = 0; i < reg->n; i++) {
        ns_broker *b = &reg->brokers[i];
        if ((cluster == NULL || cluster[0] == '\0' || strcmp(b->cluster, cluster) == 0) &&
            cJSON_GetObjectItemCaseSensitive(b->topics, topic) != NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(b->topics, topic);
            n++;
        }
    }
    return n;
}

static void
remove_at(fm_namesrv_registry *reg, int i)
{
    cJSON_Delete(reg->brokers[i].topics);
    reg->brokers[i] = reg->brokers[reg->n - 1];
    reg->n--;
}

int
fm_namesrv_unregister(fm_namesrv_registry *reg, const char *cluster, const char *broker_name,
                      int64_t broker_id, const char *addr)
{
    (void)cluster;
    for (int i = 0; i < reg->n; i++) {
        ns_broker *b = &reg->brokers[i];
        if (strcmp(b->name, broker_name) == 0 && b->id == broker_id &&
            (addr == NULL || strcmp(b->addr, addr) == 0)) {
            FM_LOGI("namesrv", "FM-NS-BROKER-UNREGISTERED", "broker=%s id=%lld addr=%s", b->name,
                    (long long)b->id, b->addr);
            remove_at(reg, i);
            return FM_OK;
        }
    }
    return FM_ENOTFOUND;
}

int
fm_namesrv_expire(fm_namesrv_registry *reg, int64_t now_ms, int64_t expiry_ms)
{
    int dropped = 0;
    for (int i = 0; i < reg->n;) {
        ns_broker *b = &reg->brokers[i];
        if (now_ms - b->last_update_ms > expiry_ms) {
            FM_LOGW("namesrv", "FM-NS-BROKER-EXPIRED", "broker=%s id=%lld addr=%s idle_ms=%lld",
                    b->name, (long long)b->id, b->addr, (long long)(now_ms - b->last_update_ms));
            remove_at(reg, i);
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}

int
fm_namesrv_broker_count(const fm_namesrv_registry *reg)
{
    return reg->n;
}

/* cJSON renders into its own allocation; copy it into the caller's buffer. */
static int
emit(cJSON *root, fm_buf *out)
{
    char *s;
    int rc;
    if (root == NULL) {
        return FM_ENOMEM;
    }
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s == NULL) {
        return FM_ENOMEM;
    }
    rc = fm_buf_append(out, s, strlen(s));
    free(s);
    return rc;
}

static int
json_int(const cJSON *obj, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

int
fm_namesrv_route_json(const fm_namesrv_registry *reg, const char *topic, fm_buf *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *queues = cJSON_AddArrayToObject(root, "queueDatas");
    cJSON *brokers = cJSON_AddArrayToObject(root, "brokerDatas");
    int found = 0;

    cJSON_AddObjectToObject(root, "filterServerTable");
    for (int i = 0; i < reg->n; i++) {
        const ns_broker *b = &reg->brokers[i];
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(b->topics, topic);
        cJSON *bd = NULL, *addrs;
        char idbuf[24];
        if (tc == NULL) {
            continue;
        }
        found = 1;
        /* One brokerData per broker name; masters and slaves share it by id. */
        for (cJSON *it = brokers->child; it != NULL; it = it->next) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "brokerName");
            if (cJSON_IsString(n) && strcmp(n->valuestring, b->name) == 0) {
                bd = it;
                break;
            }
        }
        if (bd == NULL) {
            cJSON *qd = cJSON_CreateObject();
            bd = cJSON_CreateObject();
            cJSON_AddStringToObject(bd, "cluster", b->cluster);
            cJSON_AddStringToObject(bd, "brokerName", b->name);
            cJSON_AddObjectToObject(bd, "brokerAddrs");
            cJSON_AddItemToArray(brokers, bd);
            cJSON_AddStringToObject(qd, "brokerName", b->name);
            cJSON_AddNumberToObject(qd, "readQueueNums", json_int(tc, "readQueueNums", 4));
            cJSON_AddNumberToObject(qd, "writeQueueNums", json_int(tc, "writeQueueNums", 4));
            /* PermName.PERM_WRITE (2) off while wipeWritePerm holds */
            cJSON_AddNumberToObject(qd, "perm",
                                    json_int(tc, "perm", 6) & (is_wiped(reg, b->name) ? ~2 : ~0));
            cJSON_AddNumberToObject(qd, "topicSysFlag", json_int(tc, "topicSysFlag", 0));
            cJSON_AddItemToArray(queues, qd);
        }
        addrs = cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs");
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)b->id);
        cJSON_AddStringToObject(addrs, idbuf, b->addr);
    }
    if (!found) {
        cJSON_Delete(root);
        return FM_ENOTFOUND;
    }
    return emit(root, out);
}

int
fm_namesrv_topic_list_json(const fm_namesrv_registry *reg, fm_buf *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "topicList");
    for (int i = 0; i < reg->n; i++) {
        for (const cJSON *t = reg->brokers[i].topics ? reg->brokers[i].topics->child : NULL;
             t != NULL; t = t->next) {
            int dup = 0;
            for (const cJSON *s = list->child; s != NULL; s = s->next) {
                if (strcmp(s->valuestring, t->string) == 0) {
                    dup = 1;
                    break;
                }
            }
            if (!dup) {
                cJSON_AddItemToArray(list, cJSON_CreateString(t->string));
            }
        }
    }
    return emit(root, out);
}

int
fm_namesrv_cluster_json(const fm_namesrv_registry *reg, fm_buf *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *bat = cJSON_AddObjectToObject(root, "brokerAddrTable");
    cJSON *cat = cJSON_AddObjectToObject(root, "clusterAddrTable");
    for (int i = 0; i < reg->n; i++) {
        const ns_broker *b = &reg->brokers[i];
        cJSON *bd = cJSON_GetObjectItemCaseSensitive(bat, b->name);
        cJSON *names;
        char idbuf[24];
        int dup = 0;
        if (bd == NULL) {
            bd = cJSON_AddObjectToObject(bat, b->name);
            cJSON_AddStringToObject(bd, "cluster", b->cluster);
            cJSON_AddStringToObject(bd, "brokerName", b->name);
            cJSON_AddObjectToObject(bd, "brokerAddrs");
        }
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)b->id);
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs"), idbuf,
                                b->addr);
        names = cJSON_GetObjectItemCaseSensitive(cat, b->cluster);
        if (names == NULL) {
            names = cJSON_AddArrayToObject(cat, b->cluster);
        }
        for (const cJSON *s = names->child; s != NULL; s = s->next) {
            if (strcmp(s->valuestring, b->name) == 0) {
                dup = 1;
            }
        }
        if (!dup) {
            cJSON_AddItemToArray(names, cJSON_CreateString(b->name));
        }
    }
    return emit(root, out);
}
