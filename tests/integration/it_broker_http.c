/*
 * The broker's HTTP surface against a real ferrymqd (docs/http-api.md, docs/metrics.md): the
 * ready file names the port; /healthz and /readyz; /metrics passes the strict text-format
 * check and holds every family docs/metrics.md lists for the broker, with figures that follow
 * what was produced and consumed; the JSON shape of every /api/v1 endpoint; an offset reset
 * by store time and by origin time, dry run first (nothing moves) then applied (the group's
 * committed offsets move); message lookup by offset id, by UNIQ_KEY and by key; every error
 * answer (bad ids, bad JSON, unknown fields, unknown group or topic, unknown endpoint, wrong
 * method, oversize body) with its status and its log line; httpPort=-1 and a taken port.
 * The strict checker itself is checked first against texts it must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmprom.h"
#include "fmtest.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#define N_MSGS 40
#define TOPIC "HttpT"
#define GROUP "HttpG"

static fmt_daemon d;
static char out[1 << 20];
static char cli[1 << 16];

static int
setup(void **state)
{
    (void)state;
    memset(&d, 0, sizeof(d));
    return fmt_daemon_start(&d, NULL, 10000);
}

static int
teardown(void **state)
{
    (void)state;
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

static cJSON *
req(const char *method, const char *path, const char *body, int *status)
{
    *status = fmt_http(d.http_port, method, path, body, out, sizeof(out));
    return cJSON_Parse(out);
}

static const char *
str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static int __attribute__((format(printf, 1, 2))) run_cli(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return fmt_cli_run(cli, sizeof(cli), d.dir, NULL, "-n 127.0.0.1:%d %s", d.namesrv_port, args);
}

/* The log writes at most 20 lines of one event a second (common/log.c), the rest counted as
 * FM-LOG-SUPPRESSED: past that, a check of the next line waits for the next second. */
static int64_t err_second;
static int err_in_second;

static int
next_second(void *ud)
{
    (void)ud;
    return fmt_wall_ms() / 1000 != err_second;
}

/* An error answer: its status, {"error": msg containing want}, and its WARN log line. */
static void
expect_error(const char *method, const char *path, const char *body, int status, const char *want)
{
    int st;
    if (fmt_wall_ms() / 1000 != err_second) {
        err_second = fmt_wall_ms() / 1000;
        err_in_second = 0;
    }
    if (++err_in_second > 15) {
        assert_true(fmt_wait_until(next_second, NULL, 2000));
        err_second = fmt_wall_ms() / 1000;
        err_in_second = 1;
    }
    cJSON *doc = req(method, path, body, &st);
    char needle[300];
    if (st != status || doc == NULL || str(doc, "error") == NULL ||
        strstr(str(doc, "error"), want) == NULL) {
        fail_msg("%s %s: got %d %s, want %d with '%s'", method, path, st, out, status, want);
    }
    cJSON_Delete(doc);
    /* the log names the path without its query string */
    snprintf(needle, sizeof(needle), "path=\"%.*s\" status=%d", (int)strcspn(path, "?"), path,
             status);
    if (fmt_log_count(&d, needle) == 0) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "tail -3 %s >&2", d.log_path);
        if (system(cmd) != 0) {
            fprintf(stderr, "(no log)\n");
        }
        fail_msg("no log line with %s", needle);
    }
}

/* Produce N_MSGS to TOPIC (4 queues), keys "k<i>", every fifth with FERRY_SRC_STORE_TS set. */
static void
produce_all(void)
{
    assert_int_equal(run_cli("topic create %s --queues 4", TOPIC), 0);
    for (int i = 0; i < N_MSGS; i++) {
        assert_int_equal(run_cli("produce -t %s --keys k%d %s 'body %d'", TOPIC, i,
                                 i % 5 == 0 ? "-p FERRY_SRC_STORE_TS=1000" : "", i),
                         0);
    }
}

/* ---- the checker ---- */

static void
test_strict_checker_refuses_what_it_must(void **state)
{
    char err[256];
    static const char *const bad[] = {
        "x 1\n",                                           /* no TYPE */
        "# TYPE x gauge\nx 1",                             /* no final newline */
        "# TYPE x counter\nx 1\n",                         /* counter without _total */
        "# TYPE x_total counter\nx_total -1\n",            /* negative counter */
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",           /* TYPE twice */
        "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",    /* series twice */
        "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx 2\n", /* not contiguous */
        "# TYPE x gauge\nx{a=\"\\t\"} 1\n",                /* bad escape */
        "# TYPE x gauge\nx{1a=\"v\"} 1\n",                 /* bad label name */
        "# TYPE x gauge\nx one\n",                         /* bad value */
        "# TYPE x gauge\nx 1 2 3\n",                       /* junk after value */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n", /* no +Inf */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* count differs */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",          /* no sum */
        "# TYPE x nonsense\nx 1\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fmprom_check(bad[i], err, sizeof(err)) == 0) {
            fail_msg("accepted bad text %zu: %s", i, bad[i]);
        }
    }
    assert_int_equal(fmprom_check("# HELP x a gauge\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1.5\n"
                                  "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
                                  "h_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n"
                                  "# TYPE c_total counter\nc_total 3 1700000000000\n",
                                  err, sizeof(err)),
                     0);
}

/* ---- health ---- */

static void
test_ready_file_health_and_readiness(void **state)
{
    char path[400];
    char want[32];
    cJSON *doc;
    int st;
    (void)state;
    assert_true(d.http_port > 0);
    snprintf(path, sizeof(path), "%s/ready", d.dir);
    snprintf(want, sizeof(want), "http=%d\n", d.http_port);
    assert_true(fmt_file_contains(path, want));
    doc = req("GET", "/healthz", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(doc, "status"), "ok");
    cJSON_Delete(doc);
    /* the ready file is written once registered: by then /readyz says so too */
    doc = req("GET", "/readyz", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(doc, "status"), "ready");
    cJSON_Delete(doc);
    assert_true(fmt_file_contains(d.log_path, "http=127.0.0.1:"));
}

/* ---- metrics ---- */

static void
test_metrics_strict_documented_and_moving(void **state)
{
    char hdr[2048], err[512], names[128][128];
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    double v = 0, before = 0;
    int st, n;
    (void)state;
    st = fmt_http_raw(d.http_port, get, strlen(get), out, sizeof(out), hdr, sizeof(hdr));
    assert_int_equal(st, 200);
    assert_non_null(strstr(hdr, "Content-Type: text/plain; version=0.0.4"));
    if (fmprom_check(out, err, sizeof(err)) != 0) {
        fail_msg("/metrics before traffic: %s", err);
    }
    assert_true(fmprom_value(out, "ferrymq_produced_messages_total", NULL, &before));

    produce_all();
    assert_int_equal(
        run_cli("consume -t %s -g %s --from earliest --count 10 --commit", TOPIC, GROUP), 0);
    st = fmt_http_raw(d.http_port, get, strlen(get), out, sizeof(out), hdr, sizeof(hdr));
    assert_int_equal(st, 200);
    if (fmprom_check(out, err, sizeof(err)) != 0) {
        fail_msg("/metrics after traffic: %s", err);
    }
    n = fmprom_documented("docs/metrics.md", "## Broker", names, 128);
    assert_true(n >= 15);
    for (int i = 0; i < n; i++) {
        if (!fmprom_has_family(out, names[i])) {
            fail_msg("docs/metrics.md lists %s, /metrics lacks it", names[i]);
        }
    }
    assert_true(fmprom_value(out, "ferrymq_produced_messages_total", NULL, &v));
    assert_true(v >= before + N_MSGS);
    assert_true(
        fmprom_value(out, "ferrymq_topic_produced_messages_total", "topic=\"" TOPIC "\"", &v));
    assert_true(v == N_MSGS);
    assert_true(fmprom_value(out, "ferrymq_group_consumed_messages_total",
                             "group=\"" GROUP "\",topic=\"" TOPIC "\"", &v));
    assert_true(v >= 10);
    /* the group committed what it consumed: its lag is what is left, at most N - 10 */
    assert_true(fmprom_value(out, "ferrymq_group_lag_messages",
                             "group=\"" GROUP "\",topic=\"" TOPIC "\"", &v));
    assert_true(v <= N_MSGS - 10 && v >= 0);
    assert_true(fmprom_value(out, "ferrymq_store_commitlog_end_bytes", NULL, &v));
    assert_true(v > 0);
    assert_true(fmprom_value(out, "ferrymq_connections_accepted_total", NULL, &v));
    assert_true(v >= 1);
}

/* ---- JSON API ---- */

static void
test_cluster_topics_and_groups_shapes(void **state)
{
    cJSON *doc, *b, *t, *qs, *it;
    int st, found = 0;
    double total = 0;
    (void)state;
    doc = req("GET", "/api/v1/cluster", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(doc, "cluster"), "DefaultCluster");
    b = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "brokers"), 0);
    assert_non_null(b);
    assert_string_equal(str(b, "name"), "broker-a");
    assert_non_null(str(b, "addr"));
    assert_non_null(str(b, "version"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "registered")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(b, "namesrv")));
    cJSON_Delete(doc);

    doc = req("GET", "/api/v1/topics", NULL, &st);
    assert_int_equal(st, 200);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "topics"))
    {
        if (strcmp(str(t, "name"), TOPIC) == 0) {
            found = 1;
            assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "system")));
            assert_int_equal((int)num(t, "readQueues"), 4);
            assert_int_equal((int)num(t, "messages"), N_MSGS);
            (void)num(t, "putTps");
        }
        if (strcmp(str(t, "name"), "TBW102") == 0) {
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "system")));
        }
    }
    assert_true(found);
    cJSON_Delete(doc);

    doc = req("GET", "/api/v1/topics/" TOPIC, NULL, &st);
    assert_int_equal(st, 200);
    qs = cJSON_GetObjectItemCaseSensitive(doc, "queues");
    assert_int_equal(cJSON_GetArraySize(qs), 4);
    cJSON_ArrayForEach(it, qs)
    {
        assert_true(num(it, "minOffset") == 0);
        total += num(it, "maxOffset");
        (void)num(it, "queueId");
    }
    assert_true(total == N_MSGS);
    cJSON_Delete(doc);

    doc = req("GET", "/api/v1/groups", NULL, &st);
    assert_int_equal(st, 200);
    found = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "groups"))
    {
        if (strcmp(str(it, "name"), GROUP) == 0) {
            found = 1;
            assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "system")));
            assert_true(num(it, "lag") <= N_MSGS - 10);
        }
        if (strcmp(str(it, "name"), "TOOLS_CONSUMER") == 0) {
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "system")));
        }
    }
    assert_true(found);
    cJSON_Delete(doc);

    doc = req("GET", "/api/v1/groups/" GROUP, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(doc, "name"), GROUP);
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "members")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "subscriptions")));
    qs = cJSON_GetObjectItemCaseSensitive(doc, "queues");
    assert_int_equal(cJSON_GetArraySize(qs), 4);
    total = 0;
    cJSON_ArrayForEach(it, qs)
    {
        assert_string_equal(str(it, "topic"), TOPIC);
        total += num(it, "lag");
        (void)num(it, "brokerOffset");
        (void)num(it, "lastTimestampMs");
    }
    assert_true(total == num(doc, "lag"));
    cJSON_Delete(doc);

    expect_error("GET", "/api/v1/topics/NoSuchTopic", NULL, 404, "no such topic: NoSuchTopic");
    expect_error("GET", "/api/v1/groups/NoSuchGroup", NULL, 404, "no such group: NoSuchGroup");
}

/* The group's committed offset of each queue (-1 for none) from GET /api/v1/groups/G. */
static void
committed(int64_t offs[4])
{
    int st;
    cJSON *doc = req("GET", "/api/v1/groups/" GROUP, NULL, &st), *it;
    assert_int_equal(st, 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "queues"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "consumerOffset");
        offs[(int)num(it, "queueId")] = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : -1;
    }
    cJSON_Delete(doc);
}

static void
test_offset_reset_dry_run_then_apply(void **state)
{
    int64_t before[4], after[4];
    cJSON *doc, *it;
    int st;
    (void)state;
    /* to the end first, so a reset to 0 is a visible move on every queue */
    doc = req("POST", "/api/v1/groups/" GROUP "/reset",
              "{\"topic\":\"" TOPIC "\",\"timestamp\":\"2999-01-01T00:00:00Z\"}", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(doc);
    committed(before);
    for (int q = 0; q < 4; q++) {
        assert_true(before[q] >= 0);
    }

    doc = req("POST", "/api/v1/groups/" GROUP "/reset",
              "{\"topic\":\"" TOPIC "\",\"timestamp\":0,\"dryRun\":true}", &st);
    assert_int_equal(st, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "dryRun")));
    assert_string_equal(str(doc, "by"), "storeTime");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "queues"))
    {
        int q = (int)num(it, "queueId");
        assert_true(num(it, "oldOffset") == (double)before[q]);
        assert_true(num(it, "newOffset") == 0);
    }
    cJSON_Delete(doc);
    committed(after);
    assert_memory_equal(before, after, sizeof(before)); /* a dry run moves nothing */

    doc = req("POST", "/api/v1/groups/" GROUP "/reset", "{\"topic\":\"" TOPIC "\",\"timestamp\":0}",
              &st);
    assert_int_equal(st, 200);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "dryRun")));
    cJSON_Delete(doc);
    committed(after);
    for (int q = 0; q < 4; q++) {
        assert_int_equal(after[q], 0);
    }
    assert_true(fmt_log_count(&d, "FM-BROKER-OFFSET-RESET group=" GROUP) >= 8);

    /* by origin time: messages 0, 5, 10, ... carry FERRY_SRC_STORE_TS=1000 (an origin long
     * ago), the others their own store time (now): from origin time 2000 on, each queue's
     * first message is its first without the property */
    doc = req("POST", "/api/v1/groups/" GROUP "/reset",
              "{\"topic\":\"" TOPIC "\",\"timestamp\":2000,\"by\":\"originTime\"}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(doc, "by"), "originTime");
    cJSON_Delete(doc);
    committed(after);
    {
        /* where each message went (by its key): a queue's answer is its first message
         * without the property */
        int64_t want[4] = {-1, -1, -1, -1};
        for (int i = 0; i < N_MSGS; i++) {
            char path[200];
            cJSON *m;
            int q;
            int64_t off;
            snprintf(path, sizeof(path), "/api/v1/messages?topic=%s&key=k%d", TOPIC, i);
            doc = req("GET", path, NULL, &st);
            assert_int_equal(st, 200);
            m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "messages"), 0);
            q = (int)num(m, "queueId");
            off = (int64_t)num(m, "queueOffset");
            assert_true((str(cJSON_GetObjectItemCaseSensitive(m, "properties"),
                             "FERRY_SRC_STORE_TS") != NULL) == (i % 5 == 0));
            if (i % 5 != 0 && (want[q] < 0 || off < want[q])) {
                want[q] = off;
            }
            cJSON_Delete(doc);
        }
        for (int q = 0; q < 4; q++) {
            if (want[q] < 0) {
                want[q] = before[q]; /* no such message: the queue's end */
            }
            if (after[q] != want[q]) {
                fail_msg("queue %d: origin-time reset to %lld, want %lld", q, (long long)after[q],
                         (long long)want[q]);
            }
        }
    }

    expect_error("POST", "/api/v1/groups/" GROUP "/reset", "{not json", 400,
                 "body is not a JSON object");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset", "{\"topic\":\"" TOPIC "\"}", 400,
                 "timestamp: required");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset", "{\"timestamp\":0}", 400,
                 "topic: required");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset",
                 "{\"topic\":\"" TOPIC "\",\"timestamp\":\"yesterday\"}", 400, "timestamp:");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset",
                 "{\"topic\":\"" TOPIC "\",\"timestamp\":0,\"speed\":1}", 400,
                 "speed: unknown field");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset",
                 "{\"topic\":\"" TOPIC "\",\"timestamp\":0,\"by\":\"luck\"}", 400, "by: must be");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset",
                 "{\"topic\":\"" TOPIC "\",\"timestamp\":0,\"dryRun\":1}", 400,
                 "dryRun: must be true or false");
    expect_error("POST", "/api/v1/groups/NoSuchGroup/reset",
                 "{\"topic\":\"" TOPIC "\",\"timestamp\":0}", 404, "no such group: NoSuchGroup");
    expect_error("POST", "/api/v1/groups/" GROUP "/reset",
                 "{\"topic\":\"NoSuchTopic\",\"timestamp\":0}", 404, "no such topic: NoSuchTopic");
    expect_error("GET", "/api/v1/groups/" GROUP "/reset", NULL, 405, "method not allowed");
}

static void
test_message_lookup_by_ids_and_key(void **state)
{
    char uniq[64], offid[64], path[300];
    cJSON *doc, *m, *props;
    int st;
    (void)state;
    assert_int_equal(run_cli("produce -t %s --keys findme -p color=blue 'find this body'", TOPIC),
                     0);
    /* "UNIQ OFFSETID broker/q@off" */
    assert_int_equal(sscanf(cli, "%63s %63s", uniq, offid), 2);

    snprintf(path, sizeof(path), "/api/v1/messages?id=%s", offid);
    doc = req("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "messages"), 0);
    assert_non_null(m);
    assert_string_equal(str(m, "topic"), TOPIC);
    assert_string_equal(str(m, "offsetMsgId"), offid);
    assert_string_equal(str(m, "body"), "find this body");
    props = cJSON_GetObjectItemCaseSensitive(m, "properties");
    assert_string_equal(str(props, "UNIQ_KEY"), uniq);
    assert_string_equal(str(props, "KEYS"), "findme");
    assert_string_equal(str(props, "color"), "blue");
    (void)num(m, "queueId");
    (void)num(m, "queueOffset");
    (void)num(m, "storeTimestampMs");
    cJSON_Delete(doc);

    snprintf(path, sizeof(path), "/api/v1/messages?topic=%s&id=%s", TOPIC, uniq);
    doc = req("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "messages"), 0);
    assert_string_equal(str(m, "offsetMsgId"), offid);
    cJSON_Delete(doc);

    doc = req("GET", "/api/v1/messages?topic=" TOPIC "&key=findme", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "messages")), 1);
    cJSON_Delete(doc);

    expect_error("GET", "/api/v1/messages?id=not-an-id", NULL, 400,
                 "'not-an-id' is not a message id (32 or 56 hex characters)");
    snprintf(path, sizeof(path), "/api/v1/messages?id=%s", uniq);
    expect_error("GET", path, NULL, 400, "needs topic");
    expect_error("GET", "/api/v1/messages?topic=" TOPIC "&key=nobody-has-this", NULL, 404,
                 "no message found for key nobody-has-this");
    expect_error("GET", "/api/v1/messages?key=findme", NULL, 400, "key needs topic");
    expect_error("GET", "/api/v1/messages", NULL, 400, "exactly one of id");
    expect_error("GET", "/api/v1/messages?id=%zz", NULL, 400, "bad query string");
}

static void
test_unknown_endpoints_methods_and_big_bodies(void **state)
{
    char hdr[2048], big[4096];
    int st;
    static char body[(1 << 20) + 64];
    (void)state;
    expect_error("GET", "/nope", NULL, 404, "no such endpoint");
    expect_error("GET", "/api/v1/groups/" GROUP "/other", NULL, 404, "no such endpoint");
    expect_error("POST", "/api/v1/topics", "{}", 405, "method not allowed");
    expect_error("DELETE", "/metrics", NULL, 405, "method not allowed");
    snprintf(big, sizeof(big),
             "GET /api/v1/topics/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TOPIC);
    st = fmt_http_raw(d.http_port,
                      "PUT /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
                      "close\r\nContent-Length: 0\r\n\r\n",
                      strlen("PUT /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
                             "close\r\nContent-Length: 0\r\n\r\n"),
                      out, sizeof(out), hdr, sizeof(hdr));
    assert_int_equal(st, 405);
    assert_non_null(strstr(hdr, "Allow: GET"));
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    st = fmt_http(d.http_port, "POST", "/api/v1/groups/" GROUP "/reset", body, out, sizeof(out));
    assert_int_equal(st, 413);
    /* the broker still serves remoting and HTTP after all of that */
    assert_int_equal(fmt_http_raw(d.http_port, big, strlen(big), out, sizeof(out), NULL, 0), 200);
    assert_int_equal(run_cli("topic stats %s", TOPIC), 0);
}

/* ---- settings ---- */

static int
port_taken_socket(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static void
test_http_off_and_port_taken(void **state)
{
    fmt_daemon o;
    char arg[64], path[400];
    const char *off[] = {"--httpPort=-1", NULL};
    const char *taken[] = {arg, NULL};
    int port = 0, fd;
    (void)state;
    memset(&o, 0, sizeof(o));
    assert_int_equal(fmt_daemon_start(&o, off, 10000), 0);
    assert_int_equal(o.http_port, 0);
    snprintf(path, sizeof(path), "%s/ready", o.dir);
    assert_false(fmt_file_contains(path, "http="));
    fmt_daemon_stop(&o, SIGTERM, 10000);
    fmt_daemon_cleanup(&o);

    fd = port_taken_socket(&port);
    assert_true(fd >= 0);
    snprintf(arg, sizeof(arg), "--httpPort=%d", port);
    memset(&o, 0, sizeof(o));
    assert_int_not_equal(fmt_daemon_start(&o, taken, 5000), 0);
    assert_true(fmt_file_contains(o.log_path, "FM-DAEMON-START-FAIL"));
    snprintf(path, sizeof(path), "cannot listen on 127.0.0.1:%d", port);
    assert_true(fmt_file_contains(o.log_path, path));
    fmt_daemon_stop(&o, SIGKILL, 5000);
    fmt_daemon_cleanup(&o);
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_checker_refuses_what_it_must),
        cmocka_unit_test(test_ready_file_health_and_readiness),
        cmocka_unit_test(test_metrics_strict_documented_and_moving),
        cmocka_unit_test(test_cluster_topics_and_groups_shapes),
        cmocka_unit_test(test_offset_reset_dry_run_then_apply),
        cmocka_unit_test(test_message_lookup_by_ids_and_key),
        cmocka_unit_test(test_unknown_endpoints_methods_and_big_bodies),
        cmocka_unit_test(test_http_off_and_port_taken),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
