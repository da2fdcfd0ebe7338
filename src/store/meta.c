/*
 * meta.c - topic configs and consumer offsets as JSON files, replaced atomically: write a
 * temp file, fsync it, rename over the old one, fsync the directory. A crash leaves either
 * the old or the new file, never a mix. Each file carries a format version; a file that does
 * not parse stops the store from opening (FM_ECORRUPT) rather than being silently reset.
 */
#include "store/store_int.h"

#include "common/fault.h"
#include "common/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_VERSION 1

int
fm_store_mkdirs(const char *path, fm_errbuf *eb)
{
    char tmp[512];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp)) {
        return fm_err_set(eb, FM_EINVAL, "bad directory name '%s'", path);
    }
    memcpy(tmp, path, n + 1);
    while (n > 1 && tmp[n - 1] == '/') {
        tmp[--n] = '\0';
    }
    /* Each component is synced into its parent even when it already exists: a previous run
     * may have been killed between its mkdir and that fsync, leaving a name that is in the
     * page cache only. A few fsyncs at start-up buy a store root that survives power loss. */
    for (char *p = tmp + 1;; p++) {
        int last = *p == '\0';
        if (*p != '/' && !last) {
            continue;
        }
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            return fm_err_sys(eb, FM_EIO, errno, "mkdir %s", tmp);
        }
        if (fm_file_fsync_parent(tmp) != 0) {
            return fm_err_sys(eb, FM_EIO, errno, "fsync the directory holding %s", tmp);
        }
        if (last) {
            break;
        }
        *p = '/';
    }
    return FM_OK;
}

static int
save_json(fm_store *st, cJSON *root, const char *name, fm_errbuf *eb)
{
    char *s = cJSON_Print(root);
    int rc;
    cJSON_Delete(root);
    if (s == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = fm_file_write_atomic(st->cfg_dir, name, s, strlen(s), eb);
    free(s);
    return rc;
}

int
fm_store_meta_save_topics(fm_store *st, fm_errbuf *eb)
{
    cJSON *root = cJSON_CreateObject(), *table;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    cJSON_AddNumberToObject(root, "version", META_VERSION);
    table = cJSON_AddObjectToObject(root, "topicConfigTable");
    while (fm_map_next(&st->topics, &pos, &key, &kl, &val)) {
        const fm_store_topic *t = val;
        cJSON *o = cJSON_AddObjectToObject(table, t->name);
        cJSON_AddStringToObject(o, "topicName", t->name);
        cJSON_AddNumberToObject(o, "readQueueNums", t->read_queue_nums);
        cJSON_AddNumberToObject(o, "writeQueueNums", t->write_queue_nums);
        cJSON_AddNumberToObject(o, "perm", t->perm);
        cJSON_AddNumberToObject(o, "topicSysFlag", t->topic_sys_flag);
        cJSON_AddBoolToObject(o, "order", t->order);
    }
    if (st->deleted.n > 0) {
        cJSON *del = cJSON_AddObjectToObject(root, "deletedTopics");
        pos = 0;
        while (fm_map_next(&st->deleted, &pos, &key, &kl, &val)) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)kl, key);
            cJSON_AddNumberToObject(del, name, (double)*(uint64_t *)val);
        }
    }
    return save_json(st, root, "topics.json", eb);
}

char *
fm_store_meta_offsets_json(fm_store *st)
{
    cJSON *root = cJSON_CreateObject(), *table;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    char *s;
    cJSON_AddNumberToObject(root, "version", META_VERSION);
    table = cJSON_AddObjectToObject(root, "offsetTable");
    /* Keys are "topic@group\x01qid"; RocketMQ's file groups queues under "topic@group". */
    while (fm_map_next(&st->offsets, &pos, &key, &kl, &val)) {
        const char *sep = memchr(key, '\x01', kl);
        char tg[400];
        cJSON *o;
        if (sep == NULL || (size_t)(sep - key) >= sizeof(tg)) {
            continue;
        }
        memcpy(tg, key, (size_t)(sep - key));
        tg[sep - key] = '\0';
        o = cJSON_GetObjectItemCaseSensitive(table, tg);
        if (o == NULL) {
            o = cJSON_AddObjectToObject(table, tg);
        }
        cJSON_AddNumberToObject(o, sep + 1, (double)*(int64_t *)val);
    }
    s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

int
fm_store_meta_save_offsets(fm_store *st, fm_errbuf *eb)
{
    char *s = fm_store_meta_offsets_json(st);
    int rc;
    if (s == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = fm_file_write_atomic(st->cfg_dir, "consumerOffset.json", s, strlen(s), eb);
    free(s);
    if (rc == FM_OK) {
        st->offsets_dirty = 0;
    }
    return rc;
}

int
fm_store_meta_read(const char *path, char **out, fm_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;
    if (f == NULL) {
        if (errno == ENOENT) {
            *out = NULL;
            return FM_OK;
        }
        return fm_err_sys(eb, FM_EIO, errno, "open %s", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fm_err_sys(eb, FM_EIO, errno, "read %s", path);
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        fclose(f);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return fm_err_sys(eb, FM_EIO, errno, "read %s", path);
    }
    buf[n] = '\0';
    fclose(f);
    *out = buf;
    return FM_OK;
}

static int
load_json(fm_store *st, const char *name, const char *table_key, cJSON **root, cJSON **table,
          fm_errbuf *eb)
{
    char path[400], *text = NULL;
    const cJSON *ver;
    int rc;
    snprintf(path, sizeof(path), "%s/%s", st->cfg_dir, name);
    *root = *table = NULL;
    rc = fm_store_meta_read(path, &text, eb);
    if (rc != FM_OK || text == NULL) {
        return rc;
    }
    *root = cJSON_Parse(text);
    free(text);
    if (*root == NULL) {
        return fm_err_set(eb, FM_ECORRUPT, "%s is not valid JSON; fix or remove it", path);
    }
    ver = cJSON_GetObjectItemCaseSensitive(*root, "version");
    if (!cJSON_IsNumber(ver) || ver->valueint > META_VERSION) {
        return fm_err_set(eb, FM_ECORRUPT, "%s has an unknown format version", path);
    }
    *table = cJSON_GetObjectItemCaseSensitive(*root, table_key);
    if (!cJSON_IsObject(*table)) {
        return fm_err_set(eb, FM_ECORRUPT, "%s lacks the %s object", path, table_key);
    }
    return FM_OK;
}

static int
json_int(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

int
fm_store_meta_load(fm_store *st, fm_errbuf *eb)
{
    cJSON *root, *table, *it;
    int rc = load_json(st, "topics.json", "topicConfigTable", &root, &table, eb);
    if (rc != FM_OK) {
        cJSON_Delete(root);
        return rc;
    }
    cJSON_ArrayForEach(it, table)
    {
        fm_store_topic *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        snprintf(t->name, sizeof(t->name), "%s", it->string);
        t->read_queue_nums = json_int(it, "readQueueNums", 8);
        t->write_queue_nums = json_int(it, "writeQueueNums", 8);
        t->perm = json_int(it, "perm", 6);
        t->topic_sys_flag = json_int(it, "topicSysFlag", 0);
        t->order = json_int(it, "order", 0);
        if (fm_map_put(&st->topics, t->name, strlen(t->name), t) != FM_OK) {
            free(t);
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "deletedTopics"))
    {
        uint64_t *v;
        if (!cJSON_IsNumber(it) || it->valuedouble < 0) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ECORRUPT, "topics.json: deletedTopics.%s is not an offset",
                              it->string);
        }
        if ((v = malloc(sizeof(*v))) == NULL ||
            fm_map_put(&st->deleted, it->string, strlen(it->string), v) != FM_OK) {
            free(v);
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        *v = (uint64_t)it->valuedouble;
    }
    cJSON_Delete(root);

    rc = load_json(st, "consumerOffset.json", "offsetTable", &root, &table, eb);
    if (rc != FM_OK) {
        cJSON_Delete(root);
        return rc;
    }
    cJSON_ArrayForEach(it, table)
    {
        cJSON *q;
        cJSON_ArrayForEach(q, it)
        {
            char key[600];
            int64_t *v;
            int n;
            if (!cJSON_IsNumber(q)) {
                continue;
            }
            n = snprintf(key, sizeof(key), "%s\x01%s", it->string, q->string);
            v = malloc(sizeof(*v));
            if (v == NULL || n <= 0 || (size_t)n >= sizeof(key)) {
                free(v);
                continue;
            }
            *v = (int64_t)q->valuedouble;
            if (fm_map_put(&st->offsets, key, (size_t)n, v) != FM_OK) {
                free(v);
            }
        }
    }
    cJSON_Delete(root);
    return FM_OK;
}
