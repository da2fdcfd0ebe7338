/*
 * engine.c - the replicator's task registry behind repl.h: create, list, pause, resume and
 * delete tasks, persisted in <data_dir>/tasks.json before any change takes effect, and their
 * status and metrics.
 */
#include "repl/repl_int.h"

#include "common/clock.h"
#include "common/file.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fm_repl {
    fm_repl_opts opts;
    char data_dir[1024];
    char region[FM_REPL_NAME_MAX + 1];
    pthread_mutex_t mu; /* tasks; held across start/stop so API calls apply in order */
    repl_task **tasks;
    size_t n_tasks, cap_tasks;
};

static int
save_locked(fm_repl *r, fm_errbuf *eb)
{
    fm_repl_spec **specs = calloc(r->n_tasks + 1, sizeof(*specs));
    int rc;
    if (specs == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        specs[i] = &r->tasks[i]->spec;
    }
    rc = fm_repl_tasks_save(r->data_dir, specs, r->n_tasks, eb);
    free(specs);
    return rc;
}

static repl_task *
find_locked(fm_repl *r, const char *name)
{
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (strcmp(r->tasks[i]->spec.name, name) == 0) {
            return r->tasks[i];
        }
    }
    return NULL;
}

/* Take ownership of spec (moved into a new task). */
static int
add_locked(fm_repl *r, fm_repl_spec *spec)
{
    repl_task *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return FM_ENOMEM;
    }
    if (fm_array_reserve(&r->tasks, &r->cap_tasks, r->n_tasks + 1, sizeof(*r->tasks), 8) != FM_OK) {
        free(t);
        return FM_ENOMEM;
    }
    t->spec = *spec;
    memset(spec, 0, sizeof(*spec));
    t->opts = &r->opts;
    if (fm_repl_task_groups_init(t) != FM_OK) {
        fm_repl_task_groups_free(t);
        *spec = t->spec;
        free(t);
        return FM_ENOMEM;
    }
    r->tasks[r->n_tasks++] = t;
    return FM_OK;
}

static void
start_task(repl_task *t)
{
    if (!t->spec.paused && !t->started && fm_repl_task_start(t) != FM_OK) {
        FM_LOGE("repl", "FM-REPL-TASK-ERROR", "task=%s err=\"cannot start\"", t->spec.name);
    }
}

static void
free_task(repl_task *t)
{
    fm_repl_task_stop(t);
    fm_repl_task_groups_free(t);
    fm_repl_spec_free(&t->spec);
    free(t);
}

static void
free_specs(fm_repl_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fm_repl_spec_free(&specs[i]);
    }
    free(specs);
}

/* Names of the task file's tasks created at an earlier start (<dir>/taskfile-applied.json): a
 * task deleted through the API stays deleted although the file still names it. *out: a JSON
 * array (empty when the file is absent or unreadable). */
static cJSON *
applied_load(const char *dir)
{
    char path[1100];
    FILE *f;
    cJSON *arr = NULL;
    snprintf(path, sizeof(path), "%s/taskfile-applied.json", dir);
    if ((f = fopen(path, "r")) != NULL) {
        char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        arr = cJSON_Parse(buf);
        if (!cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr != NULL ? arr : cJSON_CreateArray();
}

static int
applied_has(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0) {
            return 1;
        }
    }
    return 0;
}

int
fm_repl_new(const fm_repl_opts *opts, fm_repl **out, fm_errbuf *eb)
{
    fm_repl *r = calloc(1, sizeof(*r));
    fm_repl_spec *specs = NULL, *extra = NULL;
    size_t n = 0, n_extra = 0;
    int rc, added = 0;
    if (r == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    r->opts = *opts;
    snprintf(r->data_dir, sizeof(r->data_dir), "%s", opts->data_dir ? opts->data_dir : ".");
    snprintf(r->region, sizeof(r->region), "%s", opts->region ? opts->region : "");
    r->opts.data_dir = r->data_dir;
    r->opts.region = r->region;
    r->opts.task_file = NULL;
    if (r->opts.topic_refresh_ms <= 0) {
        r->opts.topic_refresh_ms = 5000;
    }
    if (r->opts.rebalance_ms <= 0) {
        r->opts.rebalance_ms = 5000;
    }
    if (r->opts.checkpoint_ms <= 0) {
        r->opts.checkpoint_ms = 1000;
    }
    pthread_mutex_init(&r->mu, NULL);
    rc = fm_repl_tasks_load(r->data_dir, &specs, &n, eb);
    for (size_t i = 0; rc == FM_OK && i < n; i++) {
        rc = add_locked(r, &specs[i]);
    }
    if (rc == FM_OK && opts->task_file != NULL && opts->task_file[0] != '\0') {
        cJSON *applied = applied_load(r->data_dir);
        rc = fm_repl_task_file_load(opts->task_file, &extra, &n_extra, eb);
        for (size_t i = 0; rc == FM_OK && i < n_extra; i++) {
            if (find_locked(r, extra[i].name) == NULL && !applied_has(applied, extra[i].name)) {
                cJSON_AddItemToArray(applied, cJSON_CreateString(extra[i].name));
                rc = add_locked(r, &extra[i]);
                added++;
            }
        }
        if (rc == FM_OK && added > 0) {
            rc = save_locked(r, eb);
        }
        if (rc == FM_OK && added > 0) {
            char *text = cJSON_Print(applied);
            rc = text != NULL ? fm_file_write_atomic(r->data_dir, "taskfile-applied.json", text,
                                                     strlen(text), eb)
                              : fm_err_set(eb, FM_ENOMEM, "out of memory");
            free(text);
        }
        cJSON_Delete(applied);
    }
    free_specs(specs, n);
    free_specs(extra, n_extra);
    if (rc != FM_OK) {
        fm_repl_free(r);
        return rc;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        start_task(r->tasks[i]);
    }
    FM_LOGI("repl", "FM-REPL-START", "region=%s tasks=%zu dir=%s", r->region, r->n_tasks,
            r->data_dir);
    *out = r;
    return FM_OK;
}

void
fm_repl_free(fm_repl *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        free_task(r->tasks[i]);
    }
    free(r->tasks);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- status ---- */

void
fm_repl_json_offset(cJSON *o, const char *name, int64_t v)
{
    if (v < 0) {
        cJSON_AddNullToObject(o, name);
    } else {
        cJSON_AddNumberToObject(o, name, (double)v);
    }
}

static cJSON *
status_json(repl_task *t)
{
    cJSON *o = fm_repl_spec_to_json(&t->spec), *stats, *qs;
    int64_t now = fm_clock_wall_ms();
    int64_t msgs = 0, bytes = 0, filtered = 0, src_filtered = 0, skipped = 0, lag = 0;
    double lag_s = 0;
    int any_running = 0, any_error = 0;
    char error[512];
    int64_t error_ms;
    if (o == NULL) {
        return NULL;
    }
    size_t ng = t->n_groups; /* only the task thread adds groups, at the end: a snapshot */
    int64_t *oldest = calloc(ng > 0 ? ng : 1, sizeof(*oldest)); /* per group: -1 never synced */
    char(*gstate)[sizeof(((repl_sync *)0)->state)] = calloc(ng > 0 ? ng : 1, sizeof(*gstate));
    if (oldest == NULL || gstate == NULL) {
        free(oldest);
        free(gstate);
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t gi = 0; gi < ng; gi++) {
        oldest[gi] = INT64_MAX;
    }
    qs = cJSON_CreateArray();
    if (t->started) {
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < t->n_pipes; i++) {
            repl_pipe *p = t->pipes[i];
            cJSON *q = cJSON_CreateObject();
            pthread_mutex_lock(&p->mu);
            int64_t qlag =
                p->max_offset > p->done_src && p->done_src >= 0 ? p->max_offset - p->done_src : 0;
            double qlag_s =
                qlag > 0 && p->head_store_ts > 0 ? (double)(now - p->head_store_ts) / 1000.0 : 0;
            const char *st = p->blocked ? "blocked" : p->state;
            cJSON_AddStringToObject(q, "topic", p->sq.q.topic);
            cJSON_AddStringToObject(q, "broker", p->sq.q.broker_name);
            cJSON_AddNumberToObject(q, "queueId", p->sq.q.queue_id);
            cJSON_AddStringToObject(q, "targetBroker", p->tq.q.broker_name);
            cJSON_AddNumberToObject(q, "targetQueueId", p->tq.q.queue_id);
            cJSON_AddStringToObject(q, "state", st);
            cJSON_AddNumberToObject(q, "nextOffset", (double)p->done_src);
            cJSON_AddNumberToObject(q, "maxOffset", (double)p->max_offset);
            cJSON_AddNumberToObject(q, "lagMessages", (double)qlag);
            cJSON_AddNumberToObject(q, "lagSeconds", qlag_s < 0 ? 0 : qlag_s);
            cJSON_AddNumberToObject(q, "messages", (double)p->messages);
            cJSON_AddNumberToObject(q, "bytes", (double)p->bytes);
            cJSON_AddNumberToObject(q, "filtered", (double)p->filtered);
            cJSON_AddNumberToObject(q, "filteredAtSource", (double)p->src_filtered);
            cJSON_AddNumberToObject(q, "skippedByRetention", (double)p->skipped);
            if (p->error[0] != '\0') {
                cJSON_AddStringToObject(q, "error", p->error);
                cJSON_AddNumberToObject(q, "errorTimeMs", (double)p->error_ms);
            } else {
                cJSON_AddNullToObject(q, "error");
                cJSON_AddNullToObject(q, "errorTimeMs");
            }
            if (ng > 0) {
                cJSON *ys = cJSON_AddArrayToObject(q, "sync");
                for (size_t gi = 0; gi < ng && gi < p->n_sync; gi++) {
                    const repl_sync *y = &p->sync[gi];
                    cJSON *e = cJSON_CreateObject();
                    char tg[FM_REPL_NAME_MAX * 3];
                    fm_repl_sync_group_name(t, t->groups[gi], tg, sizeof(tg));
                    cJSON_AddStringToObject(e, "group", t->groups[gi]);
                    cJSON_AddStringToObject(e, "targetGroup", tg);
                    fm_repl_json_offset(e, "sourceOffset", y->committed);
                    fm_repl_json_offset(e, "translatedOffset", y->target);
                    cJSON_AddBoolToObject(e, "exact", y->target >= 0 && y->exact);
                    fm_repl_json_offset(e, "writtenOffset", y->written);
                    fm_repl_json_offset(e, "syncTimeMs", y->synced_ms > 0 ? y->synced_ms : -1);
                    cJSON_AddStringToObject(e, "state", y->state);
                    if (y->config_checked) {
                        cJSON_AddStringToObject(e, "targetGroupConfig", y->config);
                    } else {
                        cJSON_AddNullToObject(e, "targetGroupConfig");
                    }
                    cJSON_AddItemToArray(ys, e);
                    oldest[gi] = y->synced_ms <= 0           ? -1
                                 : oldest[gi] < 0            ? -1
                                 : y->synced_ms < oldest[gi] ? y->synced_ms
                                                             : oldest[gi];
                    if (gstate[gi][0] == '\0' && strncmp(y->state, "synced", 6) != 0) {
                        snprintf(gstate[gi], sizeof(gstate[gi]), "%s", y->state);
                    }
                }
            }
            any_running |= strcmp(st, "running") == 0;
            any_error |= p->blocked;
            msgs += p->messages;
            bytes += p->bytes;
            filtered += p->filtered;
            src_filtered += p->src_filtered;
            skipped += p->skipped;
            lag += qlag;
            if (qlag_s > lag_s) {
                lag_s = qlag_s;
            }
            pthread_mutex_unlock(&p->mu);
            cJSON_AddItemToArray(qs, q);
        }
        msgs += t->gone_messages;
        bytes += t->gone_bytes;
        filtered += t->gone_filtered;
        src_filtered += t->gone_src_filtered;
        skipped += t->gone_skipped;
        /* copy rate over the time since the previous status call (at least 1 s apart) */
        int64_t mono = fm_clock_mono_ms();
        if (t->rate_ms == 0 || mono - t->rate_ms >= 1000) {
            if (t->rate_ms != 0) {
                double dt = (double)(mono - t->rate_ms) / 1000.0;
                t->rate_msgs = (double)(msgs - t->rate_msgs0) / dt;
                t->rate_bytes = (double)(bytes - t->rate_bytes0) / dt;
            }
            t->rate_ms = mono;
            t->rate_msgs0 = msgs;
            t->rate_bytes0 = bytes;
        }
        snprintf(error, sizeof(error), "%s", t->error);
        error_ms = t->error_ms;
        pthread_mutex_unlock(&t->mu);
    } else {
        snprintf(error, sizeof(error), "%s", t->error);
        error_ms = t->error_ms;
    }
    const char *state = t->spec.paused                                    ? "paused"
                        : (error[0] != '\0' && !any_running) || any_error ? "error"
                                                                          : "running";
    cJSON_AddStringToObject(o, "state", state);
    if (error[0] != '\0') {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", error);
        cJSON_AddNumberToObject(e, "timeMs", (double)error_ms);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    stats = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddNumberToObject(stats, "messages", (double)msgs);
    cJSON_AddNumberToObject(stats, "bytes", (double)bytes);
    cJSON_AddNumberToObject(stats, "filtered", (double)filtered);
    cJSON_AddNumberToObject(stats, "filteredAtSource", (double)src_filtered);
    cJSON_AddNumberToObject(stats, "skippedByRetention", (double)skipped);
    cJSON_AddNumberToObject(stats, "lagMessages", (double)lag);
    cJSON_AddNumberToObject(stats, "lagSeconds", lag_s);
    cJSON_AddNumberToObject(stats, "rateMsgs", t->rate_msgs);
    cJSON_AddNumberToObject(stats, "rateBytes", t->rate_bytes);
    cJSON_AddItemToObject(o, "queues", qs);
    /* Per followed group: the oldest sync of its queues, flagged stale past three intervals
     * (or when never synced while the task runs). */
    cJSON *gs = cJSON_AddArrayToObject(o, "sync");
    if (t->started) {
        pthread_mutex_lock(&t->mu); /* t->groups may grow meanwhile */
    }
    for (size_t gi = 0; gi < ng; gi++) {
        cJSON *e = cJSON_CreateObject();
        char tg[FM_REPL_NAME_MAX * 3];
        int64_t last = oldest[gi] == INT64_MAX ? -1 : oldest[gi];
        fm_repl_sync_group_name(t, t->groups[gi], tg, sizeof(tg));
        cJSON_AddStringToObject(e, "group", t->groups[gi]);
        cJSON_AddStringToObject(e, "targetGroup", tg);
        fm_repl_json_offset(e, "syncTimeMs", last);
        fm_repl_json_offset(e, "syncAgeMs", last >= 0 ? (now > last ? now - last : 0) : -1);
        cJSON_AddBoolToObject(e, "stale", last < 0 || now - last > 3 * t->spec.sync_ms);
        cJSON_AddStringToObject(e, "state",
                                gstate[gi][0] != '\0' ? gstate[gi]
                                : last >= 0           ? "synced"
                                                      : "not synced yet");
        cJSON_AddItemToArray(gs, e);
    }
    if (t->started) {
        pthread_mutex_unlock(&t->mu);
    }
    free(oldest);
    free(gstate);
    return o;
}

static int
matches(const repl_task *t, const char *name)
{
    return strcmp(t->spec.name, name) == 0 || (t->spec.pair[0] && strcmp(t->spec.pair, name) == 0);
}

static int
cmp_task(const void *x, const void *y)
{
    return strcmp((*(repl_task *const *)x)->spec.name, (*(repl_task *const *)y)->spec.name);
}

/* Status of every task matching name (all with NULL), sorted by name. */
static cJSON *
statuses_locked(fm_repl *r, const char *name, size_t *n)
{
    cJSON *arr = cJSON_CreateArray();
    repl_task **ts = calloc(r->n_tasks + 1, sizeof(*ts));
    size_t k = 0;
    if (arr == NULL || ts == NULL) {
        cJSON_Delete(arr);
        free(ts);
        return NULL;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (name == NULL || matches(r->tasks[i], name)) {
            ts[k++] = r->tasks[i];
        }
    }
    qsort(ts, k, sizeof(*ts), cmp_task);
    for (size_t i = 0; i < k; i++) {
        cJSON *s = status_json(ts[i]);
        if (s != NULL) {
            cJSON_AddItemToArray(arr, s);
        }
    }
    free(ts);
    *n = k;
    return arr;
}

int
fm_repl_task_create(fm_repl *r, const cJSON *spec, cJSON **out, fm_errbuf *eb)
{
    fm_repl_spec *specs = NULL;
    size_t n = 0, before;
    int rc = fm_repl_spec_parse(spec, &specs, &n, eb);
    if (rc != FM_OK) {
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        for (size_t j = 0; j < r->n_tasks && rc == FM_OK; j++) {
            if (matches(r->tasks[j], specs[i].name) ||
                (specs[i].pair[0] && matches(r->tasks[j], specs[i].pair))) {
                rc = fm_err_set(eb, FM_EEXIST, "a task named %s exists already",
                                r->tasks[j]->spec.name);
            }
        }
    }
    before = r->n_tasks;
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        rc = add_locked(r, &specs[i]);
    }
    if (rc == FM_OK) {
        rc = save_locked(r, eb);
    } else if (rc == FM_ENOMEM) {
        fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (rc != FM_OK) {
        while (r->n_tasks > before) {
            free_task(r->tasks[--r->n_tasks]);
        }
    } else {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = before; i < r->n_tasks; i++) {
            start_task(r->tasks[i]);
            FM_LOGI("repl", "FM-REPL-TASK-CREATED", "task=%s source=%s target=%s",
                    r->tasks[i]->spec.name, r->tasks[i]->spec.src_region,
                    r->tasks[i]->spec.dst_region);
            cJSON_AddItemToArray(arr, status_json(r->tasks[i]));
        }
        *out = arr;
    }
    pthread_mutex_unlock(&r->mu);
    free_specs(specs, n);
    return rc;
}

int
fm_repl_task_list(fm_repl *r, cJSON **out)
{
    size_t n;
    pthread_mutex_lock(&r->mu);
    *out = statuses_locked(r, NULL, &n);
    pthread_mutex_unlock(&r->mu);
    return *out ? FM_OK : FM_ENOMEM;
}

int
fm_repl_task_show(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    *out = statuses_locked(r, name, &n);
    pthread_mutex_unlock(&r->mu);
    if (*out == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (n == 0) {
        cJSON_Delete(*out);
        *out = NULL;
        return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
    }
    return FM_OK;
}

int
fm_repl_task_set_paused(fm_repl *r, const char *name, int paused, cJSON **out, fm_errbuf *eb)
{
    size_t n = 0;
    int rc = FM_OK;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (matches(r->tasks[i], name)) {
            r->tasks[i]->spec.paused = paused;
            n++;
        }
    }
    if (n == 0) {
        pthread_mutex_unlock(&r->mu);
        return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
    }
    if ((rc = save_locked(r, eb)) != FM_OK) {
        for (size_t i = 0; i < r->n_tasks; i++) {
            if (matches(r->tasks[i], name)) {
                r->tasks[i]->spec.paused = !paused;
            }
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (matches(r->tasks[i], name)) {
            if (paused) {
                fm_repl_task_stop(r->tasks[i]);
            } else {
                start_task(r->tasks[i]);
            }
            FM_LOGI("repl", paused ? "FM-REPL-TASK-PAUSED" : "FM-REPL-TASK-RESUMED", "task=%s",
                    r->tasks[i]->spec.name);
        }
    }
    *out = statuses_locked(r, name, &n);
    pthread_mutex_unlock(&r->mu);
    return *out ? FM_OK : fm_err_set(eb, FM_ENOMEM, "out of memory");
}

/* The one task name names; a pair's name is refused (which direction fails over?). */
static repl_task *
one_task_locked(fm_repl *r, const char *name, fm_errbuf *eb)
{
    repl_task *t = find_locked(r, name);
    if (t != NULL) {
        return t;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (strcmp(r->tasks[i]->spec.pair, name) == 0) {
            fm_err_set(eb, FM_EINVAL,
                       "%s is a two-way pair: name the task whose target takes over "
                       "(%s-<failed region>-<surviving region>)",
                       name, name);
            return NULL;
        }
    }
    fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
    return NULL;
}

/* The groups of a request ({"groups": [...]}), or all the task follows. *out: borrowed
 * pointers (into req or the task's groups), freed with free(). */
static int
request_groups(repl_task *t, const cJSON *req, char ***out, size_t *n, fm_errbuf *eb)
{
    const cJSON *g = req != NULL ? cJSON_GetObjectItemCaseSensitive(req, "groups") : NULL, *it;
    size_t k = 0, cap = g != NULL && cJSON_IsArray(g) ? (size_t)cJSON_GetArraySize(g) : 0;
    char **list;
    if (t->started) {
        pthread_mutex_lock(&t->mu); /* t->groups may grow meanwhile */
    }
    cap = cap > t->n_groups ? cap : t->n_groups;
    list = calloc(cap + 1, sizeof(*list));
    if (list != NULL && (g == NULL || cJSON_IsNull(g))) {
        /* the strings stay: groups are only freed with the task */
        for (size_t i = 0; i < t->n_groups; i++) {
            list[k++] = t->groups[i];
        }
    }
    if (t->started) {
        pthread_mutex_unlock(&t->mu);
    }
    if (list == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (g != NULL && !cJSON_IsNull(g) && !cJSON_IsArray(g)) {
        free(list);
        return fm_err_set(eb, FM_EINVAL, "groups: must be an array of group names");
    }
    if (g != NULL && !cJSON_IsNull(g)) {
        cJSON_ArrayForEach(it, g)
        {
            if (!cJSON_IsString(it)) {
                free(list);
                return fm_err_set(eb, FM_EINVAL, "groups: must be an array of group names");
            }
            list[k++] = it->valuestring;
        }
    }
    if (k == 0) {
        free(list);
        return fm_err_set(eb, FM_EINVAL,
                          "task %s follows no consumer group: nothing to fail over (create it "
                          "with --groups or --group-regex)",
                          t->spec.name);
    }
    *out = list;
    *n = k;
    return FM_OK;
}

int
fm_repl_task_failover(fm_repl *r, const char *name, const cJSON *req, cJSON **out, fm_errbuf *eb)
{
    const cJSON *apply_v = req != NULL ? cJSON_GetObjectItemCaseSensitive(req, "apply") : NULL;
    int apply = cJSON_IsTrue(apply_v), rc;
    char **groups = NULL, list[512];
    size_t n = 0, used = 0;
    fm_repl_plan *pl = NULL;
    cJSON *rep = NULL;
    repl_task *t;
    if (apply_v != NULL && !cJSON_IsBool(apply_v)) {
        return fm_err_set(eb, FM_EINVAL, "apply: must be true or false");
    }
    pthread_mutex_lock(&r->mu);
    if ((t = one_task_locked(r, name, eb)) == NULL) {
        pthread_mutex_unlock(&r->mu);
        return eb->code;
    }
    if ((rc = request_groups(t, req, &groups, &n, eb)) != FM_OK ||
        (rc = fm_repl_plan_make(t, groups, n, &pl, &rep, eb)) != FM_OK) {
        pthread_mutex_unlock(&r->mu);
        free(groups);
        return rc;
    }
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0, "%s%s",
                                 i > 0 ? "," : "", groups[i]);
        used = used < sizeof(list) ? used : sizeof(list) - 1;
    }
    free(groups);
    if (apply) {
        /* the task stops first: nothing may sync over what is applied */
        t->spec.paused = 1;
        if ((rc = save_locked(r, eb)) != FM_OK) {
            t->spec.paused = 0;
        } else {
            fm_repl_task_stop(t);
            FM_LOGI("repl", "FM-REPL-TASK-PAUSED", "task=%s by=failover", t->spec.name);
            rc = fm_repl_plan_apply(pl, eb);
        }
    }
    FM_LOGI("repl", "FM-REPL-FAILOVER", "task=%s groups=%s mode=%s offsets=%zu probed=%d result=%s",
            t->spec.name, list, apply ? "apply" : "dry-run", fm_repl_plan_writes(pl),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "probed")),
            rc == FM_OK ? "ok" : eb->msg);
    pthread_mutex_unlock(&r->mu);
    fm_repl_plan_free(pl);
    if (rc != FM_OK) {
        cJSON_Delete(rep);
        return rc;
    }
    cJSON_AddBoolToObject(rep, "dryRun", !apply);
    cJSON_AddBoolToObject(rep, "taskPaused", apply);
    *out = rep;
    return FM_OK;
}

int
fm_repl_task_failback(fm_repl *r, const char *name, const cJSON *req, cJSON **out, fm_errbuf *eb)
{
    const cJSON *from = req != NULL ? cJSON_GetObjectItemCaseSensitive(req, "from") : NULL;
    char back[FM_REPL_NAME_MAX * 3 + 8];
    repl_task *t, *rt;
    int rc = FM_OK, created = 0;
    pthread_mutex_lock(&r->mu);
    if ((t = one_task_locked(r, name, eb)) == NULL) {
        pthread_mutex_unlock(&r->mu);
        return eb->code;
    }
    /* the way back: a pair's other task, else "<task>-back" */
    if (t->spec.pair[0] != '\0') {
        snprintf(back, sizeof(back), "%s-%s-%s", t->spec.pair, t->spec.dst_region,
                 t->spec.src_region);
    } else {
        snprintf(back, sizeof(back), "%s-back", t->spec.name);
    }
    rt = find_locked(r, back);
    if (rt == NULL && t->spec.pair[0] != '\0') {
        pthread_mutex_unlock(&r->mu);
        return fm_err_set(eb, FM_ENOTFOUND, "the pair's other task %s is gone", back);
    }
    if (rt == NULL) {
        /* Copy back only what the standby produced itself (forward=local), from the start of
         * its queues unless told: the copies it holds of the primary's messages stay, and the
         * same groups follow, into the same groups on the primary. */
        cJSON *spec = fm_repl_spec_to_json(&t->spec), *src, *dst;
        fm_repl_spec *specs = NULL;
        size_t n = 0;
        if (spec == NULL) {
            pthread_mutex_unlock(&r->mu);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        src = cJSON_DetachItemFromObjectCaseSensitive(spec, "source");
        dst = cJSON_DetachItemFromObjectCaseSensitive(spec, "target");
        cJSON_AddItemToObject(spec, "source", dst);
        cJSON_AddItemToObject(spec, "target", src);
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "name", cJSON_CreateString(back));
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "forward", cJSON_CreateString("local"));
        cJSON_ReplaceItemInObjectCaseSensitive(
            spec, "from", from != NULL ? cJSON_Duplicate(from, 1) : cJSON_CreateString("earliest"));
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "paused", cJSON_CreateFalse());
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "pair");
        rc = fm_repl_spec_parse(spec, &specs, &n, eb);
        cJSON_Delete(spec);
        if (rc == FM_OK && (rc = add_locked(r, &specs[0])) == FM_OK) {
            rc = save_locked(r, eb);
            rt = r->tasks[r->n_tasks - 1];
            if (rc != FM_OK) {
                free_task(r->tasks[--r->n_tasks]);
                rt = NULL;
            }
        } else if (rc == FM_ENOMEM) {
            fm_err_set(eb, rc, "out of memory");
        }
        free_specs(specs, n);
        created = rt != NULL;
    } else if (rt->spec.paused) {
        rt->spec.paused = 0;
        if ((rc = save_locked(r, eb)) != FM_OK) {
            rt->spec.paused = 1;
        }
    }
    if (rc == FM_OK) {
        start_task(rt);
    }
    FM_LOGI("repl", "FM-REPL-FAILBACK", "task=%s back=%s action=%s result=%s", t->spec.name, back,
            created ? "created" : "resumed", rc == FM_OK ? "ok" : eb->msg);
    if (rc == FM_OK) {
        size_t k;
        *out = statuses_locked(r, back, &k);
        rc = *out != NULL ? FM_OK : fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
fm_repl_task_delete(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb)
{
    repl_task **keep;
    size_t n_keep = 0;
    int rc;
    cJSON *names = cJSON_CreateArray();
    pthread_mutex_lock(&r->mu);
    keep = calloc(r->n_tasks + 1, sizeof(*keep));
    if (keep == NULL || names == NULL) {
        pthread_mutex_unlock(&r->mu);
        free(keep);
        cJSON_Delete(names);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (!matches(r->tasks[i], name)) {
            keep[n_keep++] = r->tasks[i];
        }
    }
    if (n_keep == r->n_tasks) {
        pthread_mutex_unlock(&r->mu);
        free(keep);
        cJSON_Delete(names);
        return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
    }
    {
        /* persist the smaller set first: a crash after this never brings the task back */
        repl_task **all = r->tasks;
        size_t n_all = r->n_tasks;
        r->tasks = keep;
        r->n_tasks = n_keep;
        rc = save_locked(r, eb);
        r->tasks = all;
        r->n_tasks = n_all;
    }
    if (rc != FM_OK) {
        pthread_mutex_unlock(&r->mu);
        free(keep);
        cJSON_Delete(names);
        return rc;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        if (matches(r->tasks[i], name)) {
            cJSON_AddItemToArray(names, cJSON_CreateString(r->tasks[i]->spec.name));
            FM_LOGI("repl", "FM-REPL-TASK-DELETED", "task=%s", r->tasks[i]->spec.name);
            free_task(r->tasks[i]);
        }
    }
    free(r->tasks);
    r->tasks = keep;
    r->n_tasks = n_keep;
    r->cap_tasks = n_keep + 1;
    pthread_mutex_unlock(&r->mu);
    *out = names;
    return FM_OK;
}

/* ---- metrics ---- */

static int
metric_head(fm_buf *out, const char *name, const char *type, const char *help)
{
    return fm_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int
fm_repl_metrics(fm_repl *r, fm_buf *out)
{
    static const struct {
        const char *name, *type, *help, *field;
    } M[] = {
        {"ferrymq_replication_messages_total", "counter", "Messages copied to the target.",
         "messages"},
        {"ferrymq_replication_bytes_total", "counter", "Body bytes copied to the target.", "bytes"},
        {"ferrymq_replication_filtered_total", "counter",
         "Messages not copied: filter, forward rule or loop prevention.", "filtered"},
        {"ferrymq_replication_skipped_by_retention_total", "counter",
         "Messages the source deleted by retention before they were copied.", "skippedByRetention"},
        {"ferrymq_replication_lag_messages", "gauge",
         "Source max offset minus the next offset to copy.", "lagMessages"},
        {"ferrymq_replication_lag_seconds", "gauge",
         "Age of the oldest message pulled but not yet acknowledged by the target.", "lagSeconds"},
    };
    cJSON *all = NULL;
    int rc = fm_repl_task_list(r, &all);
    for (size_t m = 0; m < sizeof(M) / sizeof(M[0]) && rc == FM_OK; m++) {
        const cJSON *t, *q;
        rc = metric_head(out, M[m].name, M[m].type, M[m].help);
        cJSON_ArrayForEach(t, all)
        {
            const char *task = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
            cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(t, "queues"))
            {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, M[m].field);
                if (rc == FM_OK && cJSON_IsNumber(v)) {
                    rc = fm_buf_appendf(
                        out, "%s{task=\"%s\",topic=\"%s\",broker=\"%s\",queue=\"%d\"} %.17g\n",
                        M[m].name, task, cJSON_GetObjectItemCaseSensitive(q, "topic")->valuestring,
                        cJSON_GetObjectItemCaseSensitive(q, "broker")->valuestring,
                        cJSON_GetObjectItemCaseSensitive(q, "queueId")->valueint, v->valuedouble);
                }
            }
        }
    }
    if (rc == FM_OK) {
        const cJSON *t;
        rc = metric_head(out, "ferrymq_replication_task_up", "gauge",
                         "1 when the task is running without error, 0 otherwise.");
        cJSON_ArrayForEach(t, all)
        {
            const char *st = cJSON_GetObjectItemCaseSensitive(t, "state")->valuestring;
            if (rc == FM_OK) {
                rc = fm_buf_appendf(out, "ferrymq_replication_task_up{task=\"%s\"} %d\n",
                                    cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring,
                                    strcmp(st, "running") == 0);
            }
        }
    }
    /* progress sync: per task and followed group, seconds since its oldest queue's last sync
     * (absent before the first) and whether it is stale */
    for (int k = 0; k < 2 && rc == FM_OK; k++) {
        const cJSON *t, *g;
        rc = k == 0 ? metric_head(out, "ferrymq_replication_sync_age_seconds", "gauge",
                                  "Seconds since the followed group's offsets were last synced.")
                    : metric_head(out, "ferrymq_replication_sync_stale", "gauge",
                                  "1 when the followed group's sync is older than three "
                                  "intervals or has not happened yet.");
        cJSON_ArrayForEach(t, all)
        {
            const char *task = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
            cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(t, "sync"))
            {
                const cJSON *age = cJSON_GetObjectItemCaseSensitive(g, "syncAgeMs");
                const char *grp = cJSON_GetObjectItemCaseSensitive(g, "group")->valuestring;
                if (rc != FM_OK || (k == 0 && !cJSON_IsNumber(age))) {
                    continue;
                }
                rc = k == 0
                         ? fm_buf_appendf(out,
                                          "ferrymq_replication_sync_age_seconds{task=\"%s\","
                                          "group=\"%s\"} %.3f\n",
                                          task, grp, age->valuedouble / 1000.0)
                         : fm_buf_appendf(
                               out, "ferrymq_replication_sync_stale{task=\"%s\",group=\"%s\"} %d\n",
                               task, grp,
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "stale")));
            }
        }
    }
    cJSON_Delete(all);
    return rc;
}
