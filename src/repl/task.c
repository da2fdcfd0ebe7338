/*
 * task.c - replication task specs: parse and validate the JSON of repl.h, expand two-way
 * specs into their pair, write a spec back, decide which topics a task copies, and keep
 * <data_dir>/tasks.json (see task.h).
 *
 * Every rejection names the field ("source.namesrv: ...", "topics[2]: ...") so the HTTP API's
 * 400 and the CLI's exit-2 message tell the user what to fix.
 */
#include "repl/task.h"

#include "common/clock.h"

#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOPIC_MAX 127                   /* RocketMQ's topic name limit (TopicValidator) */
#define LIST_MAX 10000                  /* topics or groups in one task */
#define TASKS_FILE_MAX (64 << 20)       /* tasks.json or a task file larger than this is refused */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53: larger numbers lose precision in a double */
#define FROM_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z: what ISO-8601 writes back */

/* glibc's regcomp copies the tree under a '+' and under every count of {n,m}, so a short
 * pattern of stacked or nested repetitions ("a++++..." or "((a+)+)+...") asks it for gigabytes
 * (the fuzzer found one). Estimate the elements it would build and refuse past this. */
#define REGEX_MAX_WEIGHT 10000

static int parse_regex(const cJSON *v, const char *field, regex_t *re, char **text, fm_errbuf *eb);

/* 1: too big; 2: a repetition operator right after another ("a+*", "a??", "a{2}+"), which
 * POSIX leaves undefined and which glibc's regcomp meets with an epsilon closure that grows
 * with every operator stacked (a fuzzer's "d++++?=???..." took minutes); 0: fine. */
static int
regex_too_big(const char *re)
{
    double sum[64], last[64];
    int depth = 0, after_rep = 0;
    sum[0] = last[0] = 0;
    for (const char *p = re; *p != '\0'; p++) {
        double mult = 0;
        int rep = *p == '*' || *p == '+' || *p == '?';
        if (*p == '{') {
            char *end;
            long n = strtol(p + 1, &end, 10);
            (void)n;
            rep = end != p + 1 && (*end == '}' || *end == ',');
        }
        if (rep && after_rep) {
            return 2;
        }
        after_rep = rep;
        if (*p == '\\' && p[1] != '\0') {
            p++;
            last[depth] = 1;
            sum[depth] += 1;
        } else if (*p == '[') {
            const char *q = p + 1;
            q += *q == '^';
            q += *q == ']';
            while (*q != '\0' && *q != ']') {
                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                    char t = q[1];
                    for (q += 2; *q != '\0' && !(q[0] == t && q[1] == ']'); q++) {
                    }
                    q += *q != '\0';
                }
                q += *q != '\0';
            }
            p = *q != '\0' ? q : q - 1;
            last[depth] = 1;
            sum[depth] += 1;
        } else if (*p == '(') {
            if (depth == 63) {
                return 1;
            }
            depth++;
            sum[depth] = last[depth] = 0;
        } else if (*p == ')' && depth > 0) {
            double w = sum[depth--];
            last[depth] = w;
            sum[depth] += w;
        } else if (*p == '|') {
            last[depth] = 0; /* alternatives add up in sum */
        } else if (*p == '+') {
            mult = 2;
        } else if (*p == '{') {
            char *end;
            long n = strtol(p + 1, &end, 10), m = n;
            if (end != p + 1 && *end == ',') {
                m = end[1] == '}' ? n : strtol(end + 1, &end, 10);
                end += *end == ',';
            }
            if (end == p + 1 || *end != '}') {
                last[depth] = 1; /* not a count: a literal brace */
                sum[depth] += 1;
            } else {
                mult = (double)(m > n ? m : n) + 1;
                p = end;
            }
        } else if (*p != '*' && *p != '?') {
            last[depth] = 1;
            sum[depth] += 1;
        }
        if (mult > 0) {
            sum[depth] += last[depth] * (mult - 1);
            last[depth] *= mult;
        }
        if (sum[depth] > REGEX_MAX_WEIGHT || last[depth] > REGEX_MAX_WEIGHT) {
            return 1;
        }
    }
    return 0;
}

static const char *const known_fields[] = {
    "name",           "mode",         "pair",           "source",  "target",
    "topics",         "topicRegex",   "filter",         "forward", "from",
    "rateMsgs",       "rateBytes",    "propertyPrefix", "groups",  "groupRegex",
    "syncIntervalMs", "includeRetry", "paused",         NULL};

static int
name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* RocketMQ's topic and group names: [%|a-zA-Z0-9_-]{1,127} (TopicValidator). */
static int
rmq_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOPIC_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '%' || c == '|')) {
            return 0;
        }
    }
    return 1;
}

/* "host:port;host:port": hosts are names or IPv4 addresses, ports 1..65535. */
static int
ns_ok(const char *s, const char **why)
{
    const char *p = s;
    if (*s == '\0') {
        *why = "empty";
        return 0;
    }
    _Static_assert(FM_REPL_NS_MAX == 255, "the message below names the limit");
    if (strlen(s) > FM_REPL_NS_MAX) {
        *why = "longer than 255 bytes";
        return 0;
    }
    while (*p != '\0') {
        const char *end = strchr(p, ';'), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        long port = 0;
        size_t hl;
        colon = memrchr(p, ':', len);
        if (colon == NULL) {
            *why = "each entry must be host:port";
            return 0;
        }
        hl = (size_t)(colon - p);
        if (hl == 0) {
            *why = "empty host";
            return 0;
        }
        for (size_t i = 0; i < hl; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_')) {
                *why = "bad character in host";
                return 0;
            }
        }
        if (colon + 1 == p + len) {
            *why = "empty port";
            return 0;
        }
        for (const char *q = colon + 1; q < p + len; q++) {
            if (*q < '0' || *q > '9' || port > 65535) {
                *why = "port must be a number 1..65535";
                return 0;
            }
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) {
            *why = "port must be a number 1..65535";
            return 0;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
        if (*p == '\0') {
            *why = "empty entry after ';'";
            return 0;
        }
    }
    return 1;
}

static int
is_system_topic(const char *t)
{
    static const char *const exact[] = {"SCHEDULE_TOPIC_XXXX",
                                        "TBW102",
                                        "BenchmarkTest",
                                        "OFFSET_MOVED_EVENT",
                                        "TRANS_CHECK_MAX_TIME_TOPIC",
                                        "SELF_TEST_TOPIC",
                                        NULL};
    size_t n = strlen(t);
    /* FERRY_SYS_: the replicator's own (the offset map it keeps on each target) */
    if (strncmp(t, "RMQ_SYS_", 8) == 0 || strncmp(t, "rmq_sys_", 8) == 0 ||
        strncmp(t, "FERRY_SYS_", 10) == 0 || (n > 12 && strcmp(t + n - 12, "_REPLY_TOPIC") == 0)) {
        return 1;
    }
    for (int i = 0; exact[i] != NULL; i++) {
        if (strcmp(t, exact[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
is_retry_topic(const char *t)
{
    return strncmp(t, "%RETRY%", 7) == 0 || strncmp(t, "%DLQ%", 5) == 0;
}

int
fm_repl_spec_wants_topic(const fm_repl_spec *s, const char *topic)
{
    if (topic == NULL || is_system_topic(topic)) {
        return 0;
    }
    if (is_retry_topic(topic) && !s->include_retry) {
        return 0;
    }
    if (s->topic_regex != NULL) {
        return regexec(&s->regex, topic, 0, NULL, 0) == 0;
    }
    for (size_t i = 0; i < s->n_topics; i++) {
        if (strcmp(s->topics[i], topic) == 0) {
            return 1;
        }
    }
    return 0;
}

void
fm_repl_spec_free(fm_repl_spec *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_topics; i++) {
        free(s->topics[i]);
    }
    free(s->topics);
    if (s->group_regex != NULL) {
        regfree(&s->gregex);
        free(s->group_regex);
        s->group_regex = NULL;
    }
    if (s->topic_regex != NULL) {
        regfree(&s->regex);
        free(s->topic_regex);
    }
    free(s->filter_expr);
    fm_filter_unref(s->filter);
    for (size_t i = 0; i < s->n_groups; i++) {
        free(s->groups[i]);
    }
    free(s->groups);
    memset(s, 0, sizeof(*s));
}

static int
parse_from(const cJSON *v, fm_repl_spec *s, fm_errbuf *eb)
{
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x < 0 || x > (double)FROM_MAX_MS || x != (double)(int64_t)x) {
            return fm_err_set(eb, FM_EINVAL, "from: epoch ms must be a whole number 0..%lld",
                              (long long)FROM_MAX_MS);
        }
        s->from = FM_REPL_FROM_TIME;
        s->from_ms = (int64_t)x;
        return FM_OK;
    }
    if (!cJSON_IsString(v)) {
        return fm_err_set(eb, FM_EINVAL,
                          "from: must be \"earliest\", \"latest\", epoch ms or an ISO-8601 time");
    }
    if (strcmp(v->valuestring, "earliest") == 0) {
        s->from = FM_REPL_FROM_EARLIEST;
        return FM_OK;
    }
    if (strcmp(v->valuestring, "latest") == 0) {
        s->from = FM_REPL_FROM_LATEST;
        return FM_OK;
    }
    {
        const char *p = v->valuestring;
        size_t n = strlen(p), i;
        for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        }
        if (n > 0 && i == n) {
            s->from_ms = n > 15 ? -1 : strtoll(p, NULL, 10);
            if (s->from_ms < 0 || s->from_ms > FROM_MAX_MS) {
                return fm_err_set(eb, FM_EINVAL, "from: epoch ms must be 0..%lld",
                                  (long long)FROM_MAX_MS);
            }
            s->from = FM_REPL_FROM_TIME;
            return FM_OK;
        }
    }
    if (fm_clock_parse_iso8601(v->valuestring, &s->from_ms)) {
        s->from = FM_REPL_FROM_TIME;
        return FM_OK;
    }
    return fm_err_set(eb, FM_EINVAL,
                      "from: '%.64s' is not earliest, latest, epoch ms or an ISO-8601 UTC time "
                      "(2026-12-01T10:00:00Z)",
                      v->valuestring);
}

static int
parse_side(const cJSON *v, const char *field, char *ns, char *region, fm_errbuf *eb)
{
    const cJSON *it, *n, *r;
    const char *why = NULL;
    if (v == NULL) {
        return fm_err_set(eb, FM_EINVAL, "%s: missing", field);
    }
    if (!cJSON_IsObject(v)) {
        return fm_err_set(eb, FM_EINVAL, "%s: must be an object {\"namesrv\", \"region\"}", field);
    }
    cJSON_ArrayForEach(it, v)
    {
        if (strcmp(it->string, "namesrv") != 0 && strcmp(it->string, "region") != 0) {
            return fm_err_set(eb, FM_EINVAL, "%s: unknown field '%.64s'", field, it->string);
        }
    }
    n = cJSON_GetObjectItemCaseSensitive(v, "namesrv");
    r = cJSON_GetObjectItemCaseSensitive(v, "region");
    if (!cJSON_IsString(n)) {
        return fm_err_set(eb, FM_EINVAL, "%s.namesrv: %s", field,
                          n == NULL ? "missing" : "must be a string");
    }
    if (!ns_ok(n->valuestring, &why)) {
        return fm_err_set(eb, FM_EINVAL, "%s.namesrv: %s (want host:port;host:port)", field, why);
    }
    if (!cJSON_IsString(r)) {
        return fm_err_set(eb, FM_EINVAL, "%s.region: %s", field,
                          r == NULL ? "missing" : "must be a string");
    }
    if (!name_ok(r->valuestring, FM_REPL_NAME_MAX)) {
        return fm_err_set(eb, FM_EINVAL, "%s.region: must be 1-%d of [A-Za-z0-9_-]", field,
                          FM_REPL_NAME_MAX);
    }
    snprintf(ns, FM_REPL_NS_MAX + 1, "%s", n->valuestring);
    snprintf(region, FM_REPL_NAME_MAX + 1, "%s", r->valuestring);
    return FM_OK;
}

/* A JSON array of RocketMQ names into a malloc'ed string array. */
static int
parse_names(const cJSON *v, const char *field, int allow_empty, char ***out, size_t *n,
            fm_errbuf *eb)
{
    const cJSON *it;
    int count, i = 0;
    if (!cJSON_IsArray(v)) {
        return fm_err_set(eb, FM_EINVAL, "%s: must be an array of strings", field);
    }
    count = cJSON_GetArraySize(v);
    if (count == 0 && !allow_empty) {
        return fm_err_set(eb, FM_EINVAL, "%s: empty", field);
    }
    if (count > LIST_MAX) {
        return fm_err_set(eb, FM_EINVAL, "%s: more than %d entries", field, LIST_MAX);
    }
    *out = calloc(count > 0 ? (size_t)count : 1, sizeof(char *));
    if (*out == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    *n = 0;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it)) {
            return fm_err_set(eb, FM_EINVAL, "%s[%d]: must be a string", field, i);
        }
        if (!rmq_name_ok(it->valuestring)) {
            return fm_err_set(eb, FM_EINVAL,
                              "%s[%d]: '%.64s' is not a valid name (1-%d of "
                              "[%%|A-Za-z0-9_-])",
                              field, i, it->valuestring, TOPIC_MAX);
        }
        for (size_t j = 0; j < *n; j++) {
            if (strcmp((*out)[j], it->valuestring) == 0) {
                return fm_err_set(eb, FM_EINVAL, "%s[%d]: '%.64s' listed twice", field, i,
                                  it->valuestring);
            }
        }
        (*out)[*n] = strdup(it->valuestring);
        if ((*out)[*n] == NULL) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        (*n)++;
        i++;
    }
    return FM_OK;
}

static int
parse_rate(const cJSON *v, const char *field, int64_t *out, fm_errbuf *eb)
{
    if (v == NULL) {
        *out = 0;
        return FM_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > JSON_INT_MAX ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        return fm_err_set(eb, FM_EINVAL, "%s: must be a whole number >= 0 (0 = unlimited)", field);
    }
    *out = (int64_t)v->valuedouble;
    return FM_OK;
}

static int
parse_bool(const cJSON *v, const char *field, int *out, fm_errbuf *eb)
{
    if (v == NULL) {
        *out = 0;
        return FM_OK;
    }
    if (!cJSON_IsBool(v)) {
        return fm_err_set(eb, FM_EINVAL, "%s: must be true or false", field);
    }
    *out = cJSON_IsTrue(v);
    return FM_OK;
}

static int
parse_filter(const cJSON *v, fm_repl_spec *s, fm_errbuf *eb)
{
    const cJSON *it, *e, *t;
    fm_errbuf feb;
    int rc;
    if (v == NULL || cJSON_IsNull(v)) {
        return FM_OK;
    }
    if (!cJSON_IsObject(v)) {
        return fm_err_set(eb, FM_EINVAL, "filter: must be an object {\"expression\", \"type\"}");
    }
    cJSON_ArrayForEach(it, v)
    {
        if (strcmp(it->string, "expression") != 0 && strcmp(it->string, "type") != 0) {
            return fm_err_set(eb, FM_EINVAL, "filter: unknown field '%.64s'", it->string);
        }
    }
    e = cJSON_GetObjectItemCaseSensitive(v, "expression");
    t = cJSON_GetObjectItemCaseSensitive(v, "type");
    if (!cJSON_IsString(e)) {
        return fm_err_set(eb, FM_EINVAL, "filter.expression: %s",
                          e == NULL ? "missing" : "must be a string");
    }
    if (t != NULL && !cJSON_IsString(t)) {
        return fm_err_set(eb, FM_EINVAL, "filter.type: must be \"TAG\" or \"SQL92\"");
    }
    if (fm_filter_type_parse(t ? t->valuestring : NULL, &s->filter_type) != FM_OK) {
        return fm_err_set(eb, FM_EINVAL, "filter.type: must be \"TAG\" or \"SQL92\", not '%.32s'",
                          t->valuestring);
    }
    fm_err_clear(&feb);
    rc =
        fm_filter_compile(s->filter_type, e->valuestring, strlen(e->valuestring), &s->filter, &feb);
    if (rc == FM_ENOMEM) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (rc != FM_OK) {
        return fm_err_set(eb, FM_EINVAL, "filter: %s", feb.msg[0] ? feb.msg : fm_strerror(rc));
    }
    s->filter_expr = strdup(e->valuestring);
    if (s->filter_expr == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    return FM_OK;
}

static int
parse_topics(const cJSON *json, fm_repl_spec *s, fm_errbuf *eb)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(json, "topics");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(json, "topicRegex");
    int rc;
    if (cJSON_IsNull(t)) {
        t = NULL;
    }
    if (cJSON_IsNull(re)) {
        re = NULL;
    }
    if (t != NULL && re != NULL) {
        return fm_err_set(eb, FM_EINVAL, "topics: give either topics or topicRegex, not both");
    }
    if (t == NULL && re == NULL) {
        return fm_err_set(eb, FM_EINVAL, "topics: missing (give topics or topicRegex)");
    }
    if (t != NULL) {
        rc = parse_names(t, "topics", 0, &s->topics, &s->n_topics, eb);
        if (rc != FM_OK) {
            return rc;
        }
        for (size_t i = 0; i < s->n_topics; i++) {
            if (is_system_topic(s->topics[i])) {
                return fm_err_set(eb, FM_EINVAL, "topics[%zu]: %s is a system topic, never copied",
                                  i, s->topics[i]);
            }
            if (is_retry_topic(s->topics[i]) && !s->include_retry) {
                return fm_err_set(eb, FM_EINVAL,
                                  "topics[%zu]: %s is a retry/DLQ topic: set includeRetry", i,
                                  s->topics[i]);
            }
        }
        return FM_OK;
    }
    return parse_regex(re, "topicRegex", &s->regex, &s->topic_regex, eb);
}

/* A regex field: a non-empty string of at most 4096 bytes that compiles into *re (extended,
 * no sub-matches) within REGEX_MAX_WEIGHT; *text its copy. */
static int
parse_regex(const cJSON *v, const char *field, regex_t *re, char **text, fm_errbuf *eb)
{
    int rc;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return fm_err_set(eb, FM_EINVAL, "%s: must be a non-empty string", field);
    }
    if (strlen(v->valuestring) > 4096) {
        return fm_err_set(eb, FM_EINVAL, "%s: longer than 4096 bytes", field);
    }
    if (regex_too_big(v->valuestring) == 2) {
        return fm_err_set(eb, FM_EINVAL,
                          "%s: a repetition operator follows another ('a+*', 'a?*', 'a{2}+'): "
                          "POSIX leaves that undefined; write one",
                          field);
    }
    if (regex_too_big(v->valuestring)) {
        return fm_err_set(eb, FM_EINVAL,
                          "%s: its repetitions expand past %d elements (stacked or "
                          "nested '+' or {n,m}); simplify it",
                          field, REGEX_MAX_WEIGHT);
    }
    rc = regcomp(re, v->valuestring, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[160];
        regerror(rc, re, msg, sizeof(msg));
        return fm_err_set(eb, FM_EINVAL, "%s: does not compile: %s", field, msg);
    }
    *text = strdup(v->valuestring);
    if (*text == NULL) {
        regfree(re);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    return FM_OK;
}

static int
parse_string_choice(const cJSON *v, const char *field, const char *a, const char *b, int *out,
                    fm_errbuf *eb)
{
    if (v == NULL) {
        *out = 0;
        return FM_OK;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, a) == 0) {
        *out = 0;
        return FM_OK;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, b) == 0) {
        *out = 1;
        return FM_OK;
    }
    return fm_err_set(eb, FM_EINVAL, "%s: must be \"%s\" or \"%s\"", field, a, b);
}

/* One spec from json. two_way: this is one half of a pair; reverse swaps the sides. */
static int
parse_one(const cJSON *json, int two_way, int reverse, fm_repl_spec *s, fm_errbuf *eb)
{
    const cJSON *v;
    int rc;

    memset(s, 0, sizeof(*s));
    v = cJSON_GetObjectItemCaseSensitive(json, "name");
    if (!cJSON_IsString(v)) {
        return fm_err_set(eb, FM_EINVAL, "name: %s", v == NULL ? "missing" : "must be a string");
    }
    if (!name_ok(v->valuestring, FM_REPL_NAME_MAX)) {
        return fm_err_set(eb, FM_EINVAL, "name: must be 1-%d of [A-Za-z0-9_-]", FM_REPL_NAME_MAX);
    }
    snprintf(s->name, sizeof(s->name), "%s", v->valuestring);

    rc = parse_side(cJSON_GetObjectItemCaseSensitive(json, reverse ? "target" : "source"),
                    reverse ? "target" : "source", s->src_ns, s->src_region, eb);
    if (rc == FM_OK) {
        rc = parse_side(cJSON_GetObjectItemCaseSensitive(json, reverse ? "source" : "target"),
                        reverse ? "source" : "target", s->dst_ns, s->dst_region, eb);
    }
    if (rc != FM_OK) {
        return rc;
    }
    if (strcmp(s->src_region, s->dst_region) == 0) {
        return fm_err_set(eb, FM_EINVAL,
                          "target.region: must differ from source.region (both '%s')",
                          s->src_region);
    }

    v = cJSON_GetObjectItemCaseSensitive(json, "pair");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (two_way) {
            return fm_err_set(eb, FM_EINVAL, "pair: set by mode two-way, not given");
        }
        if (!cJSON_IsString(v) ||
            (v->valuestring[0] != '\0' && !name_ok(v->valuestring, FM_REPL_NAME_MAX))) {
            return fm_err_set(eb, FM_EINVAL, "pair: must be \"\" or 1-%d of [A-Za-z0-9_-]",
                              FM_REPL_NAME_MAX);
        }
        snprintf(s->pair, sizeof(s->pair), "%s", v->valuestring);
    }
    if (two_way) {
        int n;
        snprintf(s->pair, sizeof(s->pair), "%s", s->name);
        n = snprintf(s->name, sizeof(s->name), "%s-%s-%s", s->pair, s->src_region, s->dst_region);
        if (n < 0 || (size_t)n > FM_REPL_NAME_MAX) {
            return fm_err_set(eb, FM_EINVAL,
                              "name: '%s-%s-%s' (the two-way task's name) is longer than %d",
                              s->pair, s->src_region, s->dst_region, FM_REPL_NAME_MAX);
        }
    }

    if ((rc = parse_bool(cJSON_GetObjectItemCaseSensitive(json, "includeRetry"), "includeRetry",
                         &s->include_retry, eb)) != FM_OK ||
        (rc = parse_bool(cJSON_GetObjectItemCaseSensitive(json, "paused"), "paused", &s->paused,
                         eb)) != FM_OK ||
        (rc = parse_topics(json, s, eb)) != FM_OK ||
        (rc = parse_filter(cJSON_GetObjectItemCaseSensitive(json, "filter"), s, eb)) != FM_OK ||
        (rc = parse_string_choice(cJSON_GetObjectItemCaseSensitive(json, "forward"), "forward",
                                  "local", "all", &s->forward_all, eb)) != FM_OK ||
        (rc = parse_rate(cJSON_GetObjectItemCaseSensitive(json, "rateMsgs"), "rateMsgs",
                         &s->rate_msgs, eb)) != FM_OK ||
        (rc = parse_rate(cJSON_GetObjectItemCaseSensitive(json, "rateBytes"), "rateBytes",
                         &s->rate_bytes, eb)) != FM_OK) {
        return rc;
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "from");
    s->from = FM_REPL_FROM_LATEST;
    if (v != NULL && (rc = parse_from(v, s, eb)) != FM_OK) {
        return rc;
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "propertyPrefix");
    if (v == NULL) {
        snprintf(s->prefix, sizeof(s->prefix), "FERRY_");
    } else {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        int ok = n > 0 && n <= FM_REPL_PREFIX_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            char c = v->valuestring[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        }
        if (!ok) {
            return fm_err_set(eb, FM_EINVAL, "propertyPrefix: must be 1-%d of [A-Za-z0-9_]",
                              FM_REPL_PREFIX_MAX);
        }
        snprintf(s->prefix, sizeof(s->prefix), "%s", v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "groups");
    if (v != NULL && !cJSON_IsNull(v)) {
        rc = parse_names(v, "groups", 1, &s->groups, &s->n_groups, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "groupRegex");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (s->n_groups > 0) {
            return fm_err_set(eb, FM_EINVAL, "groupRegex: give groups or groupRegex, not both");
        }
        if ((rc = parse_regex(v, "groupRegex", &s->gregex, &s->group_regex, eb)) != FM_OK) {
            return rc;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "syncIntervalMs");
    s->sync_ms = FM_REPL_SYNC_MS_DEFAULT;
    if (v != NULL && (!cJSON_IsNumber(v) || v->valuedouble < 100 || v->valuedouble > 3600000 ||
                      v->valuedouble != (double)(int64_t)v->valuedouble)) {
        return fm_err_set(eb, FM_EINVAL, "syncIntervalMs: must be a whole number of 100-3600000");
    }
    if (v != NULL) {
        s->sync_ms = (int64_t)v->valuedouble;
    }
    return FM_OK;
}

int
fm_repl_spec_parse(const cJSON *json, fm_repl_spec **out, size_t *n, fm_errbuf *eb)
{
    const cJSON *it, *mode;
    fm_repl_spec *specs;
    int two_way = 0, rc;

    *out = NULL;
    *n = 0;
    if (!cJSON_IsObject(json)) {
        return fm_err_set(eb, FM_EINVAL, "task: must be a JSON object");
    }
    cJSON_ArrayForEach(it, json)
    {
        int known = 0;
        for (int i = 0; known_fields[i] != NULL; i++) {
            known |= strcmp(it->string, known_fields[i]) == 0;
        }
        if (!known) {
            return fm_err_set(eb, FM_EINVAL, "%.64s: unknown field", it->string);
        }
    }
    mode = cJSON_GetObjectItemCaseSensitive(json, "mode");
    if (mode != NULL) {
        if ((rc = parse_string_choice(mode, "mode", "one-way", "two-way", &two_way, eb)) != FM_OK) {
            return rc;
        }
    }
    specs = calloc(2, sizeof(*specs));
    if (specs == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = parse_one(json, two_way, 0, &specs[0], eb);
    if (rc == FM_OK && two_way) {
        /* compiled separately: a filter's reference count is not atomic, and the engine may
         * free the two tasks from different threads */
        rc = parse_one(json, 1, 1, &specs[1], eb);
    }
    if (rc != FM_OK) {
        fm_repl_spec_free(&specs[0]);
        fm_repl_spec_free(&specs[1]);
        free(specs);
        return rc;
    }
    *out = specs;
    *n = two_way ? 2 : 1;
    return FM_OK;
}

static cJSON *
names_json(char *const *names, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < n; i++) {
        cJSON *s = cJSON_CreateString(names[i]);
        if (s == NULL || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *
side_json(const char *ns, const char *region)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "namesrv", ns) == NULL ||
        cJSON_AddStringToObject(o, "region", region) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void
format_iso(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

cJSON *
fm_repl_spec_to_json(const fm_repl_spec *s)
{
    cJSON *o = cJSON_CreateObject(), *x;
    char from[80];
    int ok = o != NULL;

    ok = ok && cJSON_AddStringToObject(o, "name", s->name) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "mode", "one-way") != NULL;
    ok = ok && cJSON_AddStringToObject(o, "pair", s->pair) != NULL;
    if (ok && ((x = side_json(s->src_ns, s->src_region)) == NULL ||
               !cJSON_AddItemToObject(o, "source", x))) {
        cJSON_Delete(x);
        ok = 0;
    }
    if (ok && ((x = side_json(s->dst_ns, s->dst_region)) == NULL ||
               !cJSON_AddItemToObject(o, "target", x))) {
        cJSON_Delete(x);
        ok = 0;
    }
    if (ok && s->topic_regex != NULL) {
        ok = cJSON_AddStringToObject(o, "topicRegex", s->topic_regex) != NULL;
    } else if (ok) {
        if ((x = names_json(s->topics, s->n_topics)) == NULL ||
            !cJSON_AddItemToObject(o, "topics", x)) {
            cJSON_Delete(x);
            ok = 0;
        }
    }
    if (ok && s->filter_expr != NULL) {
        x = cJSON_CreateObject();
        if (x == NULL || cJSON_AddStringToObject(x, "expression", s->filter_expr) == NULL ||
            cJSON_AddStringToObject(x, "type",
                                    s->filter_type == FM_FILTER_SQL92 ? "SQL92" : "TAG") == NULL ||
            !cJSON_AddItemToObject(o, "filter", x)) {
            cJSON_Delete(x);
            ok = 0;
        }
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "filter") != NULL;
    }
    ok = ok && cJSON_AddStringToObject(o, "forward", s->forward_all ? "all" : "local") != NULL;
    if (s->from == FM_REPL_FROM_TIME) {
        format_iso(s->from_ms, from, sizeof(from));
    } else {
        snprintf(from, sizeof(from), "%s",
                 s->from == FM_REPL_FROM_EARLIEST ? "earliest" : "latest");
    }
    ok = ok && cJSON_AddStringToObject(o, "from", from) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "rateMsgs", (double)s->rate_msgs) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "rateBytes", (double)s->rate_bytes) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "propertyPrefix", s->prefix) != NULL;
    if (ok && ((x = names_json(s->groups, s->n_groups)) == NULL ||
               !cJSON_AddItemToObject(o, "groups", x))) {
        cJSON_Delete(x);
        ok = 0;
    }
    if (ok && s->group_regex != NULL) {
        ok = cJSON_AddStringToObject(o, "groupRegex", s->group_regex) != NULL;
    }
    ok = ok && cJSON_AddNumberToObject(o, "syncIntervalMs", (double)s->sync_ms) != NULL;
    ok = ok && cJSON_AddBoolToObject(o, "includeRetry", s->include_retry) != NULL;
    ok = ok && cJSON_AddBoolToObject(o, "paused", s->paused) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Whole file into a NUL-terminated malloc'ed string; FM_ENOTFOUND when absent. */
static int
read_file(const char *path, char **out, fm_errbuf *eb)
{
    struct stat sb;
    char *buf;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return FM_ENOTFOUND;
        }
        return fm_err_sys(eb, FM_EIO, errno, "open %s", path);
    }
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fm_err_sys(eb, FM_EIO, e, "stat %s", path);
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > TASKS_FILE_MAX) {
        close(fd);
        return fm_err_set(eb, FM_EINVAL, "%s: not a regular file of at most %d bytes", path,
                          TASKS_FILE_MAX);
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return fm_err_sys(eb, FM_EIO, e, "read %s", path);
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    if (strlen(buf) != got) {
        free(buf);
        return fm_err_set(eb, FM_EINVAL, "%s: holds a NUL byte", path);
    }
    *out = buf;
    return FM_OK;
}

static void
free_specs(fm_repl_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fm_repl_spec_free(&specs[i]);
    }
    free(specs);
}

/* Parse every spec of the array, expanding pairs; names must be unique. */
static int
parse_array(const cJSON *arr, const char *path, fm_repl_spec **out, size_t *n, fm_errbuf *eb)
{
    const cJSON *it;
    fm_repl_spec *all = NULL;
    size_t count = 0, cap = 0;
    int idx = 0, rc = FM_OK;

    cJSON_ArrayForEach(it, arr)
    {
        fm_repl_spec *one;
        size_t k;
        fm_errbuf one_eb;
        fm_err_clear(&one_eb);
        rc = fm_repl_spec_parse(it, &one, &k, &one_eb);
        if (rc != FM_OK) {
            fm_err_set(eb, rc, "%s: tasks[%d]: %s", path, idx, one_eb.msg);
            goto fail;
        }
        if (fm_array_reserve(&all, &cap, count + k, sizeof(*all), 8) != FM_OK) {
            free_specs(one, k);
            rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t j = 0; j < k; j++) {
            for (size_t m = 0; m < count; m++) {
                if (strcmp(all[m].name, one[j].name) == 0) {
                    rc = fm_err_set(eb, FM_EINVAL, "%s: tasks[%d]: task name '%s' used twice", path,
                                    idx, one[j].name);
                    free_specs(one, k);
                    goto fail;
                }
            }
        }
        memcpy(all + count, one, k * sizeof(*one));
        count += k;
        free(one); /* the specs moved into all */
        idx++;
    }
    *out = all;
    *n = count;
    return FM_OK;
fail:
    free_specs(all, count);
    return rc;
}

static int
load_path(const char *path, int bare_ok, int need_version, fm_repl_spec **out, size_t *n,
          fm_errbuf *eb)
{
    char *text = NULL;
    cJSON *root, *tasks;
    int rc;

    *out = NULL;
    *n = 0;
    rc = read_file(path, &text, eb);
    if (rc == FM_ENOTFOUND) {
        return need_version ? FM_OK : fm_err_set(eb, FM_EIO, "%s: no such file", path);
    }
    if (rc != FM_OK) {
        return rc;
    }
    root = cJSON_Parse(text);
    free(text);
    if (root == NULL) {
        return fm_err_set(eb, FM_EINVAL, "%s: not valid JSON", path);
    }
    if (bare_ok && cJSON_IsArray(root)) {
        tasks = root;
    } else if (cJSON_IsObject(root)) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
        if (need_version && (!cJSON_IsNumber(v) || v->valuedouble != 1)) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_EINVAL, "%s: version must be 1", path);
        }
        tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
        if (!cJSON_IsArray(tasks)) {
            cJSON_Delete(root);
            return fm_err_set(eb, FM_EINVAL, "%s: \"tasks\" must be an array", path);
        }
    } else {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_EINVAL, "%s: must be {\"tasks\": [...]}%s", path,
                          bare_ok ? " or an array of tasks" : "");
    }
    rc = parse_array(tasks, path, out, n, eb);
    cJSON_Delete(root);
    return rc;
}

int
fm_repl_tasks_load(const char *dir, fm_repl_spec **out, size_t *n, fm_errbuf *eb)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/tasks.json", dir) >= (int)sizeof(path)) {
        return fm_err_set(eb, FM_EINVAL, "data dir path too long");
    }
    return load_path(path, 0, 1, out, n, eb);
}

int
fm_repl_task_file_load(const char *path, fm_repl_spec **out, size_t *n, fm_errbuf *eb)
{
    return load_path(path, 1, 0, out, n, eb);
}

int
fm_repl_tasks_save(const char *dir, fm_repl_spec *const *specs, size_t n, fm_errbuf *eb)
{
    cJSON *root = cJSON_CreateObject(), *arr;
    char *text;
    int rc;

    if (root == NULL || cJSON_AddNumberToObject(root, "version", 1) == NULL ||
        (arr = cJSON_AddArrayToObject(root, "tasks")) == NULL) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o = fm_repl_spec_to_json(specs[i]);
        if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(root);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = fm_file_write_atomic(dir, "tasks.json", text, strlen(text), eb);
    free(text);
    return rc;
}
