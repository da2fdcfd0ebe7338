/*
 * kv.c - the name server's KV config (kv.h).
 */
#include "namesrv/kv.h"

#include "common/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fm_namesrv_kv {
    char dir[512], name[64];
    int persist;
    cJSON *root;  /* {"configTable":{..}} */
    cJSON *table; /* borrowed from root */
};

int
fm_namesrv_kv_open(const char *dir, const char *name, fm_namesrv_kv **out, fm_errbuf *eb)
{
    fm_namesrv_kv *kv = calloc(1, sizeof(*kv));
    char path[600];
    FILE *f;
    if (kv == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (dir != NULL) {
        kv->persist = 1;
        snprintf(kv->dir, sizeof(kv->dir), "%s", dir);
        snprintf(kv->name, sizeof(kv->name), "%s", name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if ((f = fopen(path, "rb")) != NULL) {
            char *text = NULL;
            long n = -1;
            if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 24) &&
                fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL &&
                fread(text, 1, (size_t)n, f) == (size_t)n) {
                text[n] = '\0';
                kv->root = cJSON_Parse(text);
            }
            free(text);
            fclose(f);
            kv->table = cJSON_GetObjectItemCaseSensitive(kv->root, "configTable");
            if (kv->root == NULL || !cJSON_IsObject(kv->table)) {
                fm_namesrv_kv_free(kv);
                return fm_err_set(eb, FM_ECORRUPT, "%s is not a KV config table; fix or remove it",
                                  path);
            }
        }
    }
    if (kv->root == NULL) {
        kv->root = cJSON_CreateObject();
        kv->table = kv->root ? cJSON_AddObjectToObject(kv->root, "configTable") : NULL;
        if (kv->table == NULL) {
            fm_namesrv_kv_free(kv);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    *out = kv;
    return FM_OK;
}

void
fm_namesrv_kv_free(fm_namesrv_kv *kv)
{
    if (kv != NULL) {
        cJSON_Delete(kv->root);
        free(kv);
    }
}

/* Write next (the table as it will be) and, only then, make it the table. */
static int
commit(fm_namesrv_kv *kv, cJSON *next, fm_errbuf *eb)
{
    int rc = FM_OK;
    if (kv->persist) {
        char *s = cJSON_Print(next);
        rc = s == NULL ? fm_err_set(eb, FM_ENOMEM, "out of memory")
                       : fm_file_write_atomic(kv->dir, kv->name, s, strlen(s), eb);
        free(s);
    }
    if (rc != FM_OK) {
        cJSON_Delete(next);
        return rc;
    }
    cJSON_Delete(kv->root);
    kv->root = next;
    kv->table = cJSON_GetObjectItemCaseSensitive(next, "configTable");
    return FM_OK;
}

int
fm_namesrv_kv_put(fm_namesrv_kv *kv, const char *ns, const char *key, const char *value,
                  fm_errbuf *eb)
{
    cJSON *next, *t, *space;
    if (ns[0] == '\0' || key[0] == '\0') {
        return fm_err_set(eb, FM_EINVAL, "namespace and key must not be empty");
    }
    if ((next = cJSON_Duplicate(kv->root, 1)) == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    t = cJSON_GetObjectItemCaseSensitive(next, "configTable");
    space = cJSON_GetObjectItemCaseSensitive(t, ns);
    if (space == NULL) {
        space = cJSON_AddObjectToObject(t, ns);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(space, key);
    if (space == NULL || cJSON_AddStringToObject(space, key, value) == NULL) {
        cJSON_Delete(next);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    return commit(kv, next, eb);
}

const char *
fm_namesrv_kv_get(const fm_namesrv_kv *kv, const char *ns, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(kv->table, ns), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
fm_namesrv_kv_delete(fm_namesrv_kv *kv, const char *ns, const char *key, fm_errbuf *eb)
{
    cJSON *next, *space;
    if (fm_namesrv_kv_get(kv, ns, key) == NULL) {
        return FM_OK;
    }
    if ((next = cJSON_Duplicate(kv->root, 1)) == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    space =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(next, "configTable"), ns);
    cJSON_DeleteItemFromObjectCaseSensitive(space, key);
    if (space != NULL && space->child == NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(next, "configTable"), ns);
    }
    return commit(kv, next, eb);
}

int
fm_namesrv_kv_list(const fm_namesrv_kv *kv, const char *ns, fm_buf *out)
{
    const cJSON *space = cJSON_GetObjectItemCaseSensitive(kv->table, ns);
    cJSON *root, *t;
    char *s;
    int rc;
    if (space == NULL || space->child == NULL) {
        return FM_ENOTFOUND;
    }
    root = cJSON_CreateObject();
    t = cJSON_Duplicate(space, 1);
    if (root == NULL || t == NULL || !cJSON_AddItemToObject(root, "table", t)) {
        cJSON_Delete(t);
        cJSON_Delete(root);
        return FM_ENOMEM;
    }
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    rc = s ? fm_buf_append(out, s, strlen(s)) : FM_ENOMEM;
    free(s);
    return rc;
}
