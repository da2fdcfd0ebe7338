/*
 * task.c - `ferrymq task ...`: replication tasks, over the replicator's HTTP API (libcurl).
 *
 * Exit codes follow the rest of the CLI: 2 for a usage error or a spec the replicator refused
 * (HTTP 400: the message says which field), 1 when the replicator cannot be reached or
 * answered 404, 409 or 5xx.
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char repl_addr[256] = "127.0.0.1:8090";
static int repl_from_flag;

int
cli_set_replicator(const char *addr, const char *source)
{
    if (addr == NULL || strchr(addr, ';') != NULL || !cli_namesrv_valid(addr) ||
        strlen(addr) >= sizeof(repl_addr)) {
        fprintf(stderr, "ferrymq: %s '%s' is not host:port (port 1-65535) (see ferrymq --help)\n",
                source, addr ? addr : "");
        return -1;
    }
    snprintf(repl_addr, sizeof(repl_addr), "%s", addr);
    repl_from_flag = strcmp(source, "FERRYMQ_REPLICATOR") != 0;
    return 0;
}

/* ---- HTTP ---- */

typedef struct http_body {
    char *data;
    size_t len;
} http_body;

static size_t
on_data(char *p, size_t size, size_t n, void *ud)
{
    http_body *b = ud;
    size_t add = size * n;
    char *grown;
    if (b->len + add > (64u << 20)) {
        return 0; /* a status document this large is not one: stop */
    }
    grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL) {
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/*
 * One request to the replicator. Returns the exit code: 0 with *out the parsed JSON answer
 * (the caller's) on 2xx; otherwise the error printed as "ferrymq: what: why".
 */
static int
call(const char *what, const char *method, const char *path, const char *body, cJSON **out)
{
    char url[512], errbuf[CURL_ERROR_SIZE];
    http_body resp = {NULL, 0};
    struct curl_slist *hdrs = NULL;
    long status = 0;
    CURLcode cc;
    CURL *c;
    cJSON *doc;
    int rc;

    *out = NULL;
    c = curl_easy_init();
    if (c == NULL) {
        return cli_fail(what, "out of memory");
    }
    snprintf(url, sizeof(url), "http://%s%s", repl_addr, path);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the replicator is never behind $http_proxy */
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        char why[CURL_ERROR_SIZE + 300];
        snprintf(why, sizeof(why), "cannot reach the replicator at %s: %s", repl_addr,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        free(resp.data);
        return cli_fail(what, why);
    }
    doc = resp.data != NULL ? cJSON_Parse(resp.data) : NULL;
    free(resp.data);
    if (status >= 200 && status < 300) {
        if (doc == NULL) {
            char why[128];
            snprintf(why, sizeof(why), "the replicator answered HTTP %ld without valid JSON",
                     status);
            return cli_fail(what, why);
        }
        *out = doc;
        return 0;
    }
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
        char why[1024];
        if (cJSON_IsString(e)) {
            snprintf(why, sizeof(why), "%s", e->valuestring);
        } else {
            snprintf(why, sizeof(why), "the replicator answered HTTP %ld", status);
        }
        rc = cli_fail(what, why);
        cJSON_Delete(doc);
        /* a request the replicator found malformed is the user's to fix, like a usage error */
        return status == 400 ? CLI_EXIT_USAGE : rc;
    }
}

/* ---- printing ---- */

static const char *
str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double
num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const cJSON *
tasks_of(const cJSON *doc, const char *key)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsArray(t) ? t : NULL;
}

static void
put_json_line(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s != NULL) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

static void
print_list(const cJSON *tasks)
{
    const cJSON *t;
    printf("%-32s %-16s %-24s %-8s %12s %10s %8s %10s\n", "task", "pair", "route", "state",
           "messages", "lag", "lag_s", "msgs/s");
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "stats");
        char route[256];
        snprintf(route, sizeof(route), "%s->%s",
                 str_of(cJSON_GetObjectItemCaseSensitive(t, "source"), "region"),
                 str_of(cJSON_GetObjectItemCaseSensitive(t, "target"), "region"));
        printf("%-32s %-16s %-24s %-8s %12.0f %10.0f %8.1f %10.1f\n", str_of(t, "name"),
               str_of(t, "pair")[0] ? str_of(t, "pair") : "-", route, str_of(t, "state"),
               num_of(st, "messages"), num_of(st, "lagMessages"), num_of(st, "lagSeconds"),
               num_of(st, "rateMsgs"));
    }
}

static void
print_topics(const cJSON *t)
{
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(t, "topics"), *it;
    int first = 1;
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "topicRegex"))) {
        printf("  topics:   /%s/\n", str_of(t, "topicRegex"));
        return;
    }
    printf("  topics:   ");
    cJSON_ArrayForEach(it, topics)
    {
        printf("%s%s", first ? "" : ",", cJSON_IsString(it) ? it->valuestring : "?");
        first = 0;
    }
    printf("\n");
}

/* Progress sync: a line per followed group, then per queue its offsets when asked. */
static void
print_sync(const cJSON *t)
{
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(t, "sync"), *g;
    cJSON_ArrayForEach(g, gs)
    {
        const cJSON *age = cJSON_GetObjectItemCaseSensitive(g, "syncAgeMs");
        char agebuf[32] = "never";
        if (cJSON_IsNumber(age)) {
            snprintf(agebuf, sizeof(agebuf), "%.1f s ago", age->valuedouble / 1000.0);
        }
        printf("  sync:     %s -> %s: %s, %s%s\n", str_of(g, "group"), str_of(g, "targetGroup"),
               str_of(g, "state"), agebuf,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "stale")) ? " (STALE)" : "");
    }
}

static void
print_show(const cJSON *tasks)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(t, "source");
        const cJSON *dst = cJSON_GetObjectItemCaseSensitive(t, "target");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "stats");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(t, "error");
        const cJSON *filter = cJSON_GetObjectItemCaseSensitive(t, "filter");
        const cJSON *queues = cJSON_GetObjectItemCaseSensitive(t, "queues"), *q;
        printf("task %s%s%s%s: %s\n", str_of(t, "name"), str_of(t, "pair")[0] ? " (pair " : "",
               str_of(t, "pair"), str_of(t, "pair")[0] ? ")" : "", str_of(t, "state"));
        printf("  source:   %s (%s)\n", str_of(src, "region"), str_of(src, "namesrv"));
        printf("  target:   %s (%s)\n", str_of(dst, "region"), str_of(dst, "namesrv"));
        print_topics(t);
        if (cJSON_IsObject(filter)) {
            printf("  filter:   %s: %s\n", str_of(filter, "type"), str_of(filter, "expression"));
        }
        printf("  forward:  %s, from %s\n", str_of(t, "forward"), str_of(t, "from"));
        if (cJSON_IsObject(err)) {
            printf("  error:    %s\n", str_of(err, "message"));
        }
        printf("  copied:   %.0f messages, %.0f bytes, %.0f filtered, %.0f skipped by "
               "retention\n",
               num_of(st, "messages"), num_of(st, "bytes"), num_of(st, "filtered"),
               num_of(st, "skippedByRetention"));
        printf("  lag:      %.0f messages, %.1f s; rate %.1f msgs/s, %.0f B/s\n",
               num_of(st, "lagMessages"), num_of(st, "lagSeconds"), num_of(st, "rateMsgs"),
               num_of(st, "rateBytes"));
        print_sync(t);
        printf("  %-24s %-16s %5s %-16s %5s %-8s %12s %12s %10s %8s %12s %s\n", "topic", "broker",
               "queue", "target", "tq", "state", "next", "max", "lag", "lag_s", "messages",
               "error");
        cJSON_ArrayForEach(q, queues)
        {
            const char *qe = str_of(q, "error");
            printf("  %-24s %-16s %5.0f %-16s %5.0f %-8s %12.0f %12.0f %10.0f %8.1f %12.0f %s\n",
                   str_of(q, "topic"), str_of(q, "broker"), num_of(q, "queueId"),
                   str_of(q, "targetBroker"), num_of(q, "targetQueueId"), str_of(q, "state"),
                   num_of(q, "nextOffset"), num_of(q, "maxOffset"), num_of(q, "lagMessages"),
                   num_of(q, "lagSeconds"), num_of(q, "messages"), qe[0] ? qe : "-");
        }
    }
}

/* ---- commands ---- */

#define OPT_MODE 256
#define OPT_SOURCE 257
#define OPT_SOURCE_REGION 258
#define OPT_TARGET 259
#define OPT_TARGET_REGION 260
#define OPT_TOPICS 261
#define OPT_TOPIC_REGEX 262
#define OPT_FILTER 263
#define OPT_SQL 264
#define OPT_FORWARD 265
#define OPT_FROM 266
#define OPT_RATE 267
#define OPT_RATE_BYTES 268
#define OPT_GROUPS 269
#define OPT_PREFIX 270
#define OPT_INCLUDE_RETRY 271
#define OPT_PAUSED 272
#define OPT_JSON 273
#define OPT_WATCH 274
#define OPT_SYNC_INTERVAL 275
#define OPT_TASK 276
#define OPT_DRY_RUN 277
#define OPT_APPLY 278
#define OPT_GROUP_REGEX 279
#define OPT_REPLICATOR 'r'

static const cli_opt create_optv[] = {{"mode", OPT_MODE, 1},
                                      {"source", OPT_SOURCE, 1},
                                      {"source-region", OPT_SOURCE_REGION, 1},
                                      {"target", OPT_TARGET, 1},
                                      {"target-region", OPT_TARGET_REGION, 1},
                                      {"topics", OPT_TOPICS, 1},
                                      {"topic-regex", OPT_TOPIC_REGEX, 1},
                                      {"filter", OPT_FILTER, 1},
                                      {"sql", OPT_SQL, 0},
                                      {"forward", OPT_FORWARD, 1},
                                      {"from", OPT_FROM, 1},
                                      {"rate", OPT_RATE, 1},
                                      {"rate-bytes", OPT_RATE_BYTES, 1},
                                      {"groups", OPT_GROUPS, 1},
                                      {"group-regex", OPT_GROUP_REGEX, 1},
                                      {"sync-interval", OPT_SYNC_INTERVAL, 1},
                                      {"prefix", OPT_PREFIX, 1},
                                      {"include-retry", OPT_INCLUDE_RETRY, 0},
                                      {"paused", OPT_PAUSED, 0},
                                      {"replicator", OPT_REPLICATOR, 1},
                                      {NULL, 0, 0}};
static const cli_opt list_optv[] = {
    {"json", OPT_JSON, 0}, {"replicator", OPT_REPLICATOR, 1}, {NULL, 0, 0}};
static const cli_opt show_optv[] = {{"json", OPT_JSON, 0},
                                    {"watch", OPT_WATCH, 0},
                                    {"replicator", OPT_REPLICATOR, 1},
                                    {NULL, 0, 0}};
static const cli_opt name_optv[] = {{"replicator", OPT_REPLICATOR, 1}, {NULL, 0, 0}};

#define REPL_HELP                                                                                  \
    "  The replicator is -r host:port, else $FERRYMQ_REPLICATOR, else 127.0.0.1:8090.\n"

static const cli_cmd task_cmd = {
    "task",
    "[-r host:port] task create|list|show|pause|resume|delete ...",
    "  Replication tasks on a replicator (ferrymqd --role=replicator); "
    "see ferrymq task <command> --help.\n" REPL_HELP,
    NULL,
    0,
    -1};
static const cli_cmd create_cmd = {
    "task create",
    "task create NAME --mode one-way|two-way --source NS --source-region R --target NS\n"
    "       --target-region R (--topics T1,T2 | --topic-regex RE) [--filter EXPR [--sql]]\n"
    "       [--forward local|all] [--from earliest|latest|TIME] [--rate MSGS] [--rate-bytes B]\n"
    "       [(--groups G1,G2 | --group-regex RE) [--sync-interval MS]] [--prefix P]\n"
    "       [--include-retry] [--paused]",
    "  Copy the topics from the source cluster (name servers NS) to the target, keeping topic\n"
    "  names. two-way creates the pair NAME-<src>-<tgt> and NAME-<tgt>-<src>. --filter is a tag\n"
    "  expression, or SQL-92 with --sql. --forward local copies only messages produced in the\n"
    "  source region (meshes); all copies anything not yet in the target region (chains, rings).\n"
    "  TIME is epoch ms or ISO-8601 UTC (2026-12-01T10:00:00Z). --rate and --rate-bytes are per\n"
    "  second (0 = unlimited). --groups names the consumer groups whose progress follows the\n"
    "  messages (--group-regex: the source's groups matching RE, also ones that appear later):\n"
    "  every --sync-interval ms (1000) their offsets on the source are translated and\n"
    "  written on the target, into the same group one-way (only while it has no consumer\n"
    "  online there), into GROUP-from-<source region> for a two-way pair. Prints one line per\n"
    "  created task.\n" REPL_HELP,
    create_optv,
    1,
    1};
static const cli_cmd list_cmd = {"task list",
                                 "task list [--json]",
                                 "  Every task: state, messages copied, lag, rate.\n" REPL_HELP,
                                 list_optv,
                                 0,
                                 0};
static const cli_cmd show_cmd = {
    "task show",
    "task show NAME [--watch] [--json]",
    "  A task (or both tasks of a pair) with one row per source queue. --watch redraws every\n"
    "  second until Ctrl-C.\n" REPL_HELP,
    show_optv,
    1,
    1};
static const cli_cmd pause_cmd = {"task pause",
                                  "task pause NAME",
                                  "  Stop copying (progress is kept; persisted).\n" REPL_HELP,
                                  name_optv,
                                  1,
                                  1};
static const cli_cmd resume_cmd = {"task resume",
                                   "task resume NAME",
                                   "  Copy again from where the task stopped.\n" REPL_HELP,
                                   name_optv,
                                   1,
                                   1};
static const cli_cmd delete_cmd = {
    "task delete",
    "task delete NAME",
    "  Stop and remove the task (or both tasks of a pair).\n" REPL_HELP,
    name_optv,
    1,
    1};

/* "a,b,c" as a JSON array of strings; NULL when an element is empty. */
static cJSON *
split_list(const char *s)
{
    cJSON *a = cJSON_CreateArray();
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[256];
        if (len == 0 || len >= sizeof(item)) {
            cJSON_Delete(a);
            return NULL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        cJSON_AddItemToArray(a, cJSON_CreateString(item));
        if (comma == NULL) {
            return a;
        }
        p = comma + 1;
    }
}

static cJSON *
side(const char *ns, const char *region)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "namesrv", ns);
    cJSON_AddStringToObject(o, "region", region);
    return o;
}

static int
task_create(int argc, char **argv)
{
    const char *mode = NULL, *src = NULL, *src_region = NULL, *dst = NULL, *dst_region = NULL;
    const char *topics = NULL, *regex = NULL, *filter = NULL, *forward = NULL, *from = NULL;
    const char *groups = NULL, *group_regex = NULL, *prefix = NULL, *val;
    int64_t rate = 0, rate_bytes = 0, sync_ms = -1;
    int sql = 0, include_retry = 0, paused = 0, k, rc;
    cJSON *spec, *doc, *t;
    const cJSON *tasks;
    char *body;
    cli_args a;

    cli_args_init(&a, &create_cmd, argc, argv);
    while ((k = cli_args_next(&a, &val)) > 0) {
        switch (k) {
        case OPT_MODE:
            if (strcmp(val, "one-way") != 0 && strcmp(val, "two-way") != 0) {
                return cli_usage_error("--mode must be one-way or two-way, not '%s'", val);
            }
            mode = val;
            break;
        case OPT_SOURCE:
            src = val;
            break;
        case OPT_SOURCE_REGION:
            src_region = val;
            break;
        case OPT_TARGET:
            dst = val;
            break;
        case OPT_TARGET_REGION:
            dst_region = val;
            break;
        case OPT_TOPICS:
            topics = val;
            break;
        case OPT_TOPIC_REGEX:
            regex = val;
            break;
        case OPT_FILTER:
            filter = val;
            break;
        case OPT_SQL:
            sql = 1;
            break;
        case OPT_FORWARD:
            if (strcmp(val, "local") != 0 && strcmp(val, "all") != 0) {
                return cli_usage_error("--forward must be local or all, not '%s'", val);
            }
            forward = val;
            break;
        case OPT_FROM:
            from = val;
            break;
        case OPT_RATE:
            if (cli_parse_count(val, 0, INT64_MAX / 2, &rate) != 0) {
                return cli_usage_error("--rate '%s' must be a number of messages >= 0", val);
            }
            break;
        case OPT_RATE_BYTES:
            if (cli_parse_count(val, 0, INT64_MAX / 2, &rate_bytes) != 0) {
                return cli_usage_error("--rate-bytes '%s' must be a number of bytes >= 0", val);
            }
            break;
        case OPT_GROUPS:
            groups = val;
            break;
        case OPT_GROUP_REGEX:
            group_regex = val;
            break;
        case OPT_SYNC_INTERVAL:
            if (cli_parse_count(val, 100, 3600000, &sync_ms) != 0) {
                return cli_usage_error("--sync-interval '%s' must be 100-3600000 ms", val);
            }
            break;
        case OPT_PREFIX:
            prefix = val;
            break;
        case OPT_INCLUDE_RETRY:
            include_retry = 1;
            break;
        case OPT_PAUSED:
            paused = 1;
            break;
        case OPT_REPLICATOR:
            if (cli_set_replicator(val, "-r") != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (mode == NULL) {
        return cli_usage_error("task create needs --mode one-way|two-way%s", "");
    }
    if (src == NULL || src_region == NULL || dst == NULL || dst_region == NULL) {
        return cli_usage_error("task create needs --source, --source-region, --target and "
                               "--target-region%s",
                               "");
    }
    if ((topics == NULL) == (regex == NULL)) {
        return cli_usage_error("task create needs --topics or --topic-regex (one of them)%s", "");
    }
    if (sql && filter == NULL) {
        return cli_usage_error("--sql needs --filter EXPR%s", "");
    }

    spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "name", a.pos[0]);
    cJSON_AddStringToObject(spec, "mode", mode);
    cJSON_AddItemToObject(spec, "source", side(src, src_region));
    cJSON_AddItemToObject(spec, "target", side(dst, dst_region));
    if (topics != NULL) {
        cJSON *l = split_list(topics);
        if (l == NULL) {
            cJSON_Delete(spec);
            return cli_usage_error("--topics '%s' must be names joined by ','", topics);
        }
        cJSON_AddItemToObject(spec, "topics", l);
    } else {
        cJSON_AddStringToObject(spec, "topicRegex", regex);
    }
    if (filter != NULL) {
        cJSON *f = cJSON_AddObjectToObject(spec, "filter");
        cJSON_AddStringToObject(f, "expression", filter);
        cJSON_AddStringToObject(f, "type", sql ? "SQL92" : "TAG");
    }
    if (forward != NULL) {
        cJSON_AddStringToObject(spec, "forward", forward);
    }
    if (from != NULL) {
        cJSON_AddStringToObject(spec, "from", from);
    }
    cJSON_AddNumberToObject(spec, "rateMsgs", (double)rate);
    cJSON_AddNumberToObject(spec, "rateBytes", (double)rate_bytes);
    if (groups != NULL) {
        cJSON *l = split_list(groups);
        if (l == NULL) {
            cJSON_Delete(spec);
            return cli_usage_error("--groups '%s' must be names joined by ','", groups);
        }
        cJSON_AddItemToObject(spec, "groups", l);
    }
    if (group_regex != NULL) {
        cJSON_AddStringToObject(spec, "groupRegex", group_regex);
    }
    if (sync_ms >= 0) {
        cJSON_AddNumberToObject(spec, "syncIntervalMs", (double)sync_ms);
    }
    if (prefix != NULL) {
        cJSON_AddStringToObject(spec, "propertyPrefix", prefix);
    }
    cJSON_AddBoolToObject(spec, "includeRetry", include_retry);
    cJSON_AddBoolToObject(spec, "paused", paused);
    body = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    if (body == NULL) {
        return cli_fail("task create", "out of memory");
    }
    rc = call("task create", "POST", "/api/v1/tasks", body, &doc);
    cJSON_free(body);
    if (rc != 0) {
        return rc;
    }
    tasks = tasks_of(doc, "tasks");
    cJSON_ArrayForEach(t, tasks)
    {
        printf("created %s: %s -> %s, %s\n", str_of(t, "name"),
               str_of(cJSON_GetObjectItemCaseSensitive(t, "source"), "region"),
               str_of(cJSON_GetObjectItemCaseSensitive(t, "target"), "region"), str_of(t, "state"));
    }
    cJSON_Delete(doc);
    return 0;
}

/* Options of the commands without a spec: --json, --watch, -r. */
static int
parse_simple(const cli_cmd *cmd, int argc, char **argv, int *json, int *watch, cli_args *a)
{
    const char *val;
    int k;
    cli_args_init(a, cmd, argc, argv);
    while ((k = cli_args_next(a, &val)) > 0) {
        if (k == OPT_JSON) {
            *json = 1;
        } else if (k == OPT_WATCH) {
            *watch = 1;
        } else if (k == OPT_REPLICATOR && cli_set_replicator(val, "-r") != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    return k == CLI_ARGS_END ? -1 : cli_args_exit(k);
}

/* "/api/v1/tasks/NAME[suffix]" with NAME escaped. */
static int
task_path(const char *name, const char *suffix, char *out, size_t cap)
{
    char *esc = curl_easy_escape(NULL, name, 0);
    int n;
    if (esc == NULL) {
        return -1;
    }
    n = snprintf(out, cap, "/api/v1/tasks/%s%s", esc, suffix);
    curl_free(esc);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Sleep up to ms, returning early (1) once Ctrl-C was pressed. */
static int
wait_or_interrupt(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!cli_interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return cli_interrupted != 0;
}

static int
task_show(int argc, char **argv)
{
    int json = 0, watch = 0, rc;
    char path[512];
    cli_args a;
    cJSON *doc;
    rc = parse_simple(&show_cmd, argc, argv, &json, &watch, &a);
    if (rc >= 0) {
        return rc;
    }
    if (task_path(a.pos[0], "", path, sizeof(path)) != 0) {
        return cli_usage_error("task name '%s' is too long", a.pos[0]);
    }
    if (watch) {
        cli_catch_interrupt();
    }
    for (;;) {
        rc = call("task show", "GET", path, NULL, &doc);
        if (rc != 0) {
            return cli_interrupted ? 0 : rc;
        }
        if (watch && !json) {
            time_t now = time(NULL);
            struct tm tm;
            char ts[32];
            gmtime_r(&now, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("\033[H\033[2J%s  (every 1 s; Ctrl-C to stop)\n", ts);
        }
        if (json) {
            put_json_line(tasks_of(doc, "tasks"));
        } else {
            print_show(tasks_of(doc, "tasks"));
        }
        fflush(stdout);
        cJSON_Delete(doc);
        if (!watch || wait_or_interrupt(1000)) {
            return 0;
        }
    }
}

static int
task_list(int argc, char **argv)
{
    int json = 0, watch = 0, rc;
    cli_args a;
    cJSON *doc;
    rc = parse_simple(&list_cmd, argc, argv, &json, &watch, &a);
    if (rc >= 0) {
        return rc;
    }
    rc = call("task list", "GET", "/api/v1/tasks", NULL, &doc);
    if (rc != 0) {
        return rc;
    }
    if (json) {
        put_json_line(tasks_of(doc, "tasks"));
    } else {
        print_list(tasks_of(doc, "tasks"));
    }
    cJSON_Delete(doc);
    return 0;
}

/* pause, resume, delete: one line per task acted on. */
static int
task_act(const cli_cmd *cmd, const char *method, const char *suffix, const char *verb,
         const char *key, int argc, char **argv)
{
    int json = 0, watch = 0, rc;
    char path[512];
    cli_args a;
    cJSON *doc;
    const cJSON *t;
    rc = parse_simple(cmd, argc, argv, &json, &watch, &a);
    if (rc >= 0) {
        return rc;
    }
    if (task_path(a.pos[0], suffix, path, sizeof(path)) != 0) {
        return cli_usage_error("task name '%s' is too long", a.pos[0]);
    }
    rc = call(cmd->name, method, path, suffix[0] ? "" : NULL, &doc);
    if (rc != 0) {
        return rc;
    }
    cJSON_ArrayForEach(t, tasks_of(doc, key))
    {
        printf("%s %s\n", verb, cJSON_IsString(t) ? t->valuestring : str_of(t, "name"));
    }
    cJSON_Delete(doc);
    return 0;
}

int
cli_task(int argc, char **argv)
{
    static const char *const subs[] = {"create", "list", "show", "pause", "resume", "delete", NULL};
    const char *env = getenv("FERRYMQ_REPLICATOR");
    int k, rc;
    argc--;
    argv++;
    if (!repl_from_flag && env != NULL && env[0] != '\0' &&
        cli_set_replicator(env, "FERRYMQ_REPLICATOR") != 0) {
        return CLI_EXIT_USAGE;
    }
    k = cli_take_sub(&argc, argv, &task_cmd, subs, "create, list, show, pause, resume or delete");
    if (k < 0) {
        return cli_args_exit(k);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return cli_fail("task", "cannot initialise libcurl");
    }
    switch (k) {
    case 0:
        rc = task_create(argc, argv);
        break;
    case 1:
        rc = task_list(argc, argv);
        break;
    case 2:
        rc = task_show(argc, argv);
        break;
    case 3:
        rc = task_act(&pause_cmd, "POST", "/pause", "paused", "tasks", argc, argv);
        break;
    case 4:
        rc = task_act(&resume_cmd, "POST", "/resume", "resumed", "tasks", argc, argv);
        break;
    default:
        rc = task_act(&delete_cmd, "DELETE", "", "deleted", "deleted", argc, argv);
        break;
    }
    curl_global_cleanup();
    return rc;
}

/* ---- failover, failback ---- */

static const cli_opt failover_optv[] = {{"task", OPT_TASK, 1},
                                        {"groups", OPT_GROUPS, 1},
                                        {"dry-run", OPT_DRY_RUN, 0},
                                        {"apply", OPT_APPLY, 0},
                                        {"json", OPT_JSON, 0},
                                        {"replicator", OPT_REPLICATOR, 1},
                                        {NULL, 0, 0}};
static const cli_cmd failover_cmd = {
    "failover",
    "failover --task T [--groups G1,G2] (--dry-run | --apply) [--json]",
    "  Move the task's followed consumer groups to its target region (docs/failover.md). Per\n"
    "  group and target queue: the source's committed offset translated now (when the source\n"
    "  answers), the last synced offset, the target's end, the offset the group will resume at\n"
    "  and how many messages its consumers get from there (\"again\": of those, already\n"
    "  consumed; 0 from a fresh exact translation, else unknown). --dry-run changes\n"
    "  nothing; --apply pauses the task, writes the offsets and prints what to start where. T\n"
    "  is one task (of a pair: the one whose target takes over).\n" REPL_HELP,
    failover_optv,
    0,
    0};
static const cli_opt failback_optv[] = {
    {"task", OPT_TASK, 1}, {"from", OPT_FROM, 1}, {"replicator", OPT_REPLICATOR, 1}, {NULL, 0, 0}};
static const cli_cmd failback_cmd = {
    "failback",
    "failback --task T [--from earliest|latest|TIME]",
    "  The way back after `failover --task T`: a pair's other task is resumed; for a one-way\n"
    "  task, T-back (T's target to its source, forward local: what the standby produced itself,\n"
    "  from --from, default earliest, with T's groups synced back) is created, or "
    "resumed.\n" REPL_HELP,
    failback_optv,
    0,
    0};

static const char *
offset_str(const cJSON *o, const char *key, char *buf, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        return "-";
    }
    snprintf(buf, cap, "%.0f", v->valuedouble);
    return buf;
}

static void
print_plan(const cJSON *doc)
{
    const cJSON *g, *q, *st;
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
    int dry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "dryRun"));
    printf("failover of task %s: %s -> %s%s\n", str_of(doc, "task"), str_of(doc, "sourceRegion"),
           str_of(doc, "targetRegion"), dry ? " (dry run: nothing changed)" : "");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "probed"))) {
        printf("the source did not answer (or the task is paused): offsets are the last synced\n");
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "groups"))
    {
        printf("group %s -> %s on %s\n", str_of(g, "group"), str_of(g, "targetGroup"),
               str_of(doc, "targetRegion"));
        printf("  %-24s %-16s %5s %12s %12s %12s %12s %12s %8s  %s\n", "topic", "target", "queue",
               "source", "translated", "last_synced", "target_end", "resume_at", "again",
               "messages from there");
        cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(g, "queues"))
        {
            const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q, "sources"), 0);
            printf("  %-24s %-16s %5.0f %12s %12s %12s %12s %12s %8s  %s (%s)\n",
                   str_of(q, "topic"), str_of(q, "targetBroker"), num_of(q, "targetQueueId"),
                   offset_str(s, "sourceOffset", b1, sizeof(b1)),
                   offset_str(s, "translatedOffset", b2, sizeof(b2)),
                   offset_str(q, "lastSynced", b3, sizeof(b3)),
                   offset_str(q, "targetEnd", b4, sizeof(b4)),
                   offset_str(q, "applyOffset", b5, sizeof(b5)),
                   cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(q, "again"))
                       ? offset_str(q, "again", b6, sizeof(b6))
                       : "unknown",
                   offset_str(q, "toConsume", b7, sizeof(b7)), str_of(q, "from"));
        }
    }
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(doc, "start"))
    {
        const cJSON *sql = cJSON_GetObjectItemCaseSensitive(st, "sql92"), *t;
        int first = 1;
        printf("%s consumers of group %s in region %s (name servers %s), topics ",
               dry ? "then start" : "start", str_of(st, "group"), str_of(st, "region"),
               str_of(st, "namesrv"));
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "topics"))
        {
            printf("%s%s", first ? "" : ",", cJSON_IsString(t) ? t->valuestring : "?");
            first = 0;
        }
        if (cJSON_IsString(sql)) {
            printf(", with the SQL92 filter %s", sql->valuestring);
        }
        printf("\n");
    }
    if (!dry) {
        printf("task %s is paused; `ferrymq failback --task %s` prepares the way back\n",
               str_of(doc, "task"), str_of(doc, "task"));
    }
}

static int
repl_env(void)
{
    const char *env = getenv("FERRYMQ_REPLICATOR");
    if (!repl_from_flag && env != NULL && env[0] != '\0' &&
        cli_set_replicator(env, "FERRYMQ_REPLICATOR") != 0) {
        return CLI_EXIT_USAGE;
    }
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK
               ? 0
               : cli_fail("failover", "cannot initialise libcurl");
}

int
cli_failover(int argc, char **argv)
{
    const char *task = NULL, *groups = NULL, *val;
    int dry = 0, apply = 0, json = 0, k, rc;
    char path[512], *body;
    cli_args a;
    cJSON *req, *doc;
    cli_args_init(&a, &failover_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&a, &val)) > 0) {
        if (k == OPT_TASK) {
            task = val;
        } else if (k == OPT_GROUPS) {
            groups = val;
        } else if (k == OPT_DRY_RUN) {
            dry = 1;
        } else if (k == OPT_APPLY) {
            apply = 1;
        } else if (k == OPT_JSON) {
            json = 1;
        } else if (k == OPT_REPLICATOR && cli_set_replicator(val, "-r") != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (task == NULL) {
        return cli_usage_error("failover needs --task T%s", "");
    }
    if (dry == apply) {
        return cli_usage_error("failover needs exactly one of --dry-run and --apply%s", "");
    }
    if (task_path(task, "/failover", path, sizeof(path)) != 0) {
        return cli_usage_error("task name '%s' is too long", task);
    }
    req = cJSON_CreateObject();
    if (groups != NULL) {
        cJSON *l = split_list(groups);
        if (l == NULL) {
            cJSON_Delete(req);
            return cli_usage_error("--groups '%s' must be names joined by ','", groups);
        }
        cJSON_AddItemToObject(req, "groups", l);
    }
    cJSON_AddBoolToObject(req, "apply", apply);
    body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (body == NULL || (rc = repl_env()) != 0) {
        free(body);
        return body == NULL ? cli_fail("failover", "out of memory") : rc;
    }
    rc = call("failover", "POST", path, body, &doc);
    free(body);
    if (rc == 0) {
        if (json) {
            put_json_line(doc);
        } else {
            print_plan(doc);
        }
        cJSON_Delete(doc);
    }
    curl_global_cleanup();
    return rc;
}

int
cli_failback(int argc, char **argv)
{
    const char *task = NULL, *from = NULL, *val;
    int k, rc;
    char path[512], *body;
    cli_args a;
    cJSON *req, *doc;
    const cJSON *t;
    cli_args_init(&a, &failback_cmd, argc - 1, argv + 1);
    while ((k = cli_args_next(&a, &val)) > 0) {
        if (k == OPT_TASK) {
            task = val;
        } else if (k == OPT_FROM) {
            from = val;
        } else if (k == OPT_REPLICATOR && cli_set_replicator(val, "-r") != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (k != CLI_ARGS_END) {
        return cli_args_exit(k);
    }
    if (task == NULL) {
        return cli_usage_error("failback needs --task T%s", "");
    }
    if (task_path(task, "/failback", path, sizeof(path)) != 0) {
        return cli_usage_error("task name '%s' is too long", task);
    }
    req = cJSON_CreateObject();
    if (from != NULL) {
        cJSON_AddStringToObject(req, "from", from);
    }
    body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (body == NULL || (rc = repl_env()) != 0) {
        free(body);
        return body == NULL ? cli_fail("failback", "out of memory") : rc;
    }
    rc = call("failback", "POST", path, body, &doc);
    free(body);
    if (rc == 0) {
        cJSON_ArrayForEach(t, tasks_of(doc, "tasks"))
        {
            printf("failback of %s: task %s %s -> %s, %s\n", task, str_of(t, "name"),
                   str_of(cJSON_GetObjectItemCaseSensitive(t, "source"), "region"),
                   str_of(cJSON_GetObjectItemCaseSensitive(t, "target"), "region"),
                   str_of(t, "state"));
        }
        cJSON_Delete(doc);
    }
    curl_global_cleanup();
    return rc;
}
