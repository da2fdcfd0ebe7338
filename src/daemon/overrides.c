/*
 * overrides.c - settings changed while running, persisted for the next start (overrides.h).
 */
#include "daemon/overrides.h"

#include "common/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OVERRIDES_FILE "broker.properties"

/* What fm_broker_reconfigure and fm_store_set_retention take without a restart. */
static const char *const live_keys[] = {
    "autoCreateTopicEnable",    "autoCreateSubscriptionGroup", "defaultTopicQueueNums",
    "maxMessageSize",           "enablePropertyFilter",        "maxReconsumeTimes",
    "registerNameServerPeriod", "flushConsumerOffsetInterval", "transactionTimeOut",
    "transactionCheckInterval", "transactionCheckMax",         "rebalanceLockMaxLiveTime",
    "fileReservedTime",
};

/* Where the overrides live, or what their file would be read from. */
static const char *const fixed_keys[] = {"role", "storePathRootDir"};

int
fm_daemon_setting_is_live(const char *key)
{
    for (size_t i = 0; i < sizeof(live_keys) / sizeof(live_keys[0]); i++) {
        if (strcmp(key, live_keys[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
put(fm_daemon_overrides *o, const char *key, const char *value, fm_errbuf *eb)
{
    int i = 0;
    while (i < o->n && strcmp(o->keys[i], key) != 0) {
        i++;
    }
    if (i == o->n) {
        if (o->n == FM_OVERRIDES_MAX) {
            return fm_err_set(eb, FM_EINVAL, "more than %d settings changed at run time",
                              FM_OVERRIDES_MAX);
        }
        o->n++;
    }
    snprintf(o->keys[i], sizeof(o->keys[i]), "%s", key);
    snprintf(o->values[i], sizeof(o->values[i]), "%s", value);
    return FM_OK;
}

typedef struct load_ctx {
    fm_daemon_overrides *o;
    fm_daemon_settings *s;
} load_ctx;

static int
load_pair(void *ud, const char *key, const char *value, int lineno, fm_errbuf *eb)
{
    load_ctx *c = ud;
    fm_errbuf sub;
    int rc = fm_config_set(fm_daemon_opts, fm_daemon_n_opts, c->s, key, value, &sub);
    if (rc != FM_OK) {
        return fm_err_set(eb, rc, "%s:%d: %s", c->o->path, lineno, sub.msg);
    }
    return put(c->o, key, value, eb);
}

int
fm_daemon_overrides_load(fm_daemon_overrides *o, const char *store_dir, fm_daemon_settings *s,
                         fm_errbuf *eb)
{
    load_ctx c = {o, s};
    FILE *f;
    char *text;
    long len;
    int rc;
    memset(o, 0, sizeof(*o));
    snprintf(o->dir, sizeof(o->dir), "%s/config", store_dir);
    snprintf(o->path, sizeof(o->path), "%s/%s", o->dir, OVERRIDES_FILE);
    if ((f = fopen(o->path, "rb")) == NULL) {
        return FM_OK;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > FM_CONFIG_FILE_MAX ||
        fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)len + 1)) == NULL) {
        fclose(f);
        return fm_err_set(eb, FM_EIO, "cannot read %s", o->path);
    }
    if (fread(text, 1, (size_t)len, f) != (size_t)len) {
        free(text);
        fclose(f);
        return fm_err_set(eb, FM_EIO, "cannot read %s", o->path);
    }
    fclose(f);
    rc = fm_config_parse_text(o->path, text, (size_t)len, load_pair, &c, eb);
    free(text);
    return rc;
}

static int
persist(const fm_daemon_overrides *o, fm_errbuf *eb)
{
    fm_buf text = {0};
    int rc = fm_buf_appendf(&text, "# Settings changed by UPDATE_BROKER_CONFIG (mqadmin "
                                   "updateBrokerConfig). Read at start after the -c file and\n"
                                   "# before the flags. Written by ferrymqd; edit while it is "
                                   "stopped.\n");
    for (int i = 0; i < o->n && rc == FM_OK; i++) {
        rc = fm_buf_appendf(&text, "%s=%s\n", o->keys[i], o->values[i]);
    }
    if (rc != FM_OK) {
        fm_buf_free(&text);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    mkdir(o->dir, 0755); /* the store made it; a namesrv-less test broker may not have */
    rc = fm_file_write_atomic(o->dir, OVERRIDES_FILE, text.data, text.len, eb);
    fm_buf_free(&text);
    return rc;
}

int
fm_daemon_overrides_update(fm_daemon_overrides *o, fm_daemon_settings *s, const char *const *keys,
                           const char *const *values, int n, fm_errbuf *eb)
{
    fm_daemon_settings next = *s;
    fm_daemon_overrides merged = *o;
    int rc;
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(fixed_keys) / sizeof(fixed_keys[0]); k++) {
            if (strcmp(keys[i], fixed_keys[k]) == 0) {
                return fm_err_set(eb, FM_EINVAL, "%s cannot be changed while running", keys[i]);
            }
        }
        if ((rc = fm_config_set(fm_daemon_opts, fm_daemon_n_opts, &next, keys[i], values[i], eb)) !=
            FM_OK) {
            return rc;
        }
        if ((rc = put(&merged, keys[i], values[i], eb)) != FM_OK) {
            return rc;
        }
    }
    if ((rc = persist(&merged, eb)) != FM_OK) {
        return rc;
    }
    *o = merged;
    *s = next;
    return FM_OK;
}
