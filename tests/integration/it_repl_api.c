/*
 * The replicator's HTTP API and `ferrymq task` against a real `ferrymqd --role=replicator
 * --httpPort=0`: the ready file names the HTTP port; every endpoint's JSON shape; every error
 * answer (bad JSON, bad spec naming the field, unknown task, duplicate, unknown endpoint,
 * wrong method, oversize body) and its log line; the CLI's exit codes; tasks surviving a
 * restart through an atomically replaced tasks.json; a task file loaded at start.
 *
 * The tasks point at name servers nothing listens on: what is tested is the API, not copying
 * (the engine's own tests do that), and a task whose clusters are unreachable must still be
 * created, listed and shown with its error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filter/filter.h"
#include "fmtest.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static fmt_daemon d;
static char out[1 << 20];

static const char *const repl_extra[] = {"--role=replicator", "--httpPort=0", "--region=east",
                                         NULL};

/* Nothing listens on port 1: the clusters are unreachable on purpose. */
#define SPEC(name, extra)                                                                          \
    "{\"name\":\"" name "\",\"source\":{\"namesrv\":\"127.0.0.1:1\",\"region\":\"east\"},"         \
    "\"target\":{\"namesrv\":\"127.0.0.1:2\",\"region\":\"west\"},\"topics\":[\"orders\"]" extra   \
    "}"
#define CLI_SIDES                                                                                  \
    "--source 127.0.0.1:1 --source-region east --target 127.0.0.1:2 --target-region west"

static int
setup(void **state)
{
    (void)state;
    memset(&d, 0, sizeof(d));
    return fmt_daemon_start(&d, repl_extra, 10000);
}

static int
teardown(void **state)
{
    (void)state;
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* One request; *status its HTTP status; the parsed JSON answer (NULL if it is not JSON). */
static cJSON *
req(const char *method, const char *path, const char *body, int *status)
{
    *status = fmt_http(d.http_port, method, path, body, out, sizeof(out));
    return cJSON_Parse(out);
}

static const char *
err_of(const cJSON *doc)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

/* An error answer: the status, and {"error": "..."} containing want. */
static void
expect_error(const char *method, const char *path, const char *body, int want_status,
             const char *want)
{
    int status;
    cJSON *doc = req(method, path, body, &status);
    const char *e = err_of(doc);
    if (status != want_status || e == NULL || strstr(e, want) == NULL) {
        fail_msg("%s %s: got %d '%s', want %d with an error containing '%s'", method, path, status,
                 out, want_status, want);
    }
    cJSON_Delete(doc);
}

static const cJSON *
tasks_of(const cJSON *doc)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "tasks");
    if (!cJSON_IsArray(t)) {
        fail_msg("no \"tasks\" array in %s", out);
    }
    return t;
}

static const char *
str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The status object of repl.h: the normalised spec plus state, error, stats and queues. */
static void
expect_status_shape(const cJSON *t, const char *name, const char *pair)
{
    static const char *const stats[] = {"messages",           "bytes",       "filtered",
                                        "skippedByRetention", "lagMessages", "lagSeconds",
                                        "rateMsgs",           "rateBytes"};
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "stats");
    const char *state = str(t, "state");
    assert_string_equal(str(t, "name"), name);
    assert_string_equal(str(t, "mode"), "one-way");
    assert_string_equal(str(t, "pair"), pair);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "source"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "target"));
    assert_string_equal(str(t, "forward"), "local");
    assert_string_equal(str(t, "from"), "latest");
    assert_string_equal(str(t, "propertyPrefix"), "FERRY_");
    assert_non_null(state);
    assert_true(strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
                strcmp(state, "error") == 0);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "error"));
    assert_true(cJSON_IsObject(st));
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(st, stats[i]))) {
            fail_msg("stats.%s missing in %s", stats[i], out);
        }
    }
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t, "queues")));
}

static void
create_ok(const char *spec, size_t want_n)
{
    int status;
    cJSON *doc = req("POST", "/api/v1/tasks", spec, &status);
    if (status != 201) {
        fail_msg("create %s: %d %s", spec, status, out);
    }
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), (int)want_n);
    cJSON_Delete(doc);
}

static void
delete_ok(const char *name)
{
    char path[256];
    int status;
    cJSON *doc;
    snprintf(path, sizeof(path), "/api/v1/tasks/%s", name);
    doc = req("DELETE", path, NULL, &status);
    assert_int_equal(status, 200);
    cJSON_Delete(doc);
}

static void
test_ready_file_health_and_metrics(void **state)
{
    char path[400], line[128], hdr[2048];
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int status, saw_http = 0, saw_pid = 0;
    cJSON *doc;
    FILE *f;
    (void)state;
    assert_true(d.http_port > 0);
    snprintf(path, sizeof(path), "%s/ready", d.dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "http=", 5) == 0) {
            saw_http = atoi(line + 5) == d.http_port;
        }
        saw_pid |= strncmp(line, "pid=", 4) == 0 && atoi(line + 4) == (int)d.pid;
    }
    fclose(f);
    assert_true(saw_http);
    assert_true(saw_pid);
    snprintf(path, sizeof(path), "%s/lock", d.dir);
    assert_int_equal(access(path, F_OK), 0);

    doc = req("GET", "/healthz", NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    cJSON_Delete(doc);

    status = fmt_http_raw(d.http_port, get, strlen(get), out, sizeof(out), hdr, sizeof(hdr));
    assert_int_equal(status, 200);
    assert_non_null(strstr(hdr, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(out, "ferrymq_replication_"));
}

static void
test_second_replicator_on_the_same_dir_is_refused(void **state)
{
    char cmd[1024];
    const char *bin = getenv("FM_FERRYMQD");
    int st;
    (void)state;
    snprintf(cmd, sizeof(cmd),
             "%s --role=replicator --httpPort=0 --storePathRootDir=%s >%s/second.log 2>&1",
             bin ? bin : "build/ferrymqd", d.dir, d.dir);
    st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_true(fmt_daemon_alive(&d));
}

static void
test_create_list_show_shapes(void **state)
{
    int status;
    cJSON *doc;
    const cJSON *t;
    (void)state;
    doc = req("POST", "/api/v1/tasks", SPEC("shape", ",\"paused\":true"), &status);
    if (status != 201) {
        fail_msg("create: %d %s", status, out);
    }
    t = cJSON_GetArrayItem(tasks_of(doc), 0);
    expect_status_shape(t, "shape", "");
    assert_string_equal(str(t, "state"), "paused");
    cJSON_Delete(doc);

    doc = req("POST", "/api/v1/tasks",
              SPEC("duo", ",\"mode\":\"two-way\",\"paused\":true,\"filter\":{\"expression\":"
                          "\"a > 1\",\"type\":\"SQL92\"}"),
              &status);
    assert_int_equal(status, 201);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 2);
    expect_status_shape(cJSON_GetArrayItem(tasks_of(doc), 0), "duo-east-west", "duo");
    expect_status_shape(cJSON_GetArrayItem(tasks_of(doc), 1), "duo-west-east", "duo");
    cJSON_Delete(doc);

    /* the list: every task, sorted by name */
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 3);
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 0), "name"), "duo-east-west");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 1), "name"), "duo-west-east");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 2), "name"), "shape");
    cJSON_Delete(doc);

    /* show: a task, or both of a pair */
    doc = req("GET", "/api/v1/tasks/shape", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 1);
    expect_status_shape(cJSON_GetArrayItem(tasks_of(doc), 0), "shape", "");
    cJSON_Delete(doc);
    doc = req("GET", "/api/v1/tasks/duo", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 2);
    t = cJSON_GetArrayItem(tasks_of(doc), 1);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(t, "source"), "region"), "west");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(t, "filter"), "type"), "SQL92");
    cJSON_Delete(doc);

    /* deleting the pair deletes both */
    doc = req("DELETE", "/api/v1/tasks/duo", NULL, &status);
    assert_int_equal(status, 200);
    t = cJSON_GetObjectItemCaseSensitive(doc, "deleted");
    assert_int_equal(cJSON_GetArraySize(t), 2);
    assert_string_equal(cJSON_GetArrayItem(t, 0)->valuestring, "duo-east-west");
    assert_string_equal(cJSON_GetArrayItem(t, 1)->valuestring, "duo-west-east");
    cJSON_Delete(doc);
    delete_ok("shape");
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 0);
    cJSON_Delete(doc);
}

static void
test_error_answers_and_their_log_lines(void **state)
{
    static const char *const logged[] = {"status=400", "status=404", "status=405", "status=409",
                                         "status=413"};
    int before = fmt_log_count(&d, "FM-REPL-HTTP-ERROR"), status;
    char *big;
    cJSON *doc;
    (void)state;
    /* one of each status first: log lines are rate-limited per event id (20 a second), so
     * only these five are counted */
    big = malloc((1 << 20) + 2);
    assert_non_null(big);
    memset(big, ' ', (1 << 20) + 1);
    big[(1 << 20) + 1] = '\0';
    expect_error("POST", "/api/v1/tasks", big, 413, "too large");
    free(big);
    create_ok(SPEC("dup", ",\"paused\":true"), 1);
    expect_error("POST", "/api/v1/tasks", SPEC("dup", ""), 409, "dup");
    expect_error("PUT", "/api/v1/tasks", "{}", 405, "method not allowed");
    expect_error("GET", "/api/v1/tasks/nosuch", NULL, 404, "nosuch");
    expect_error("POST", "/api/v1/tasks", "{\"name\": ", 400, "not valid JSON");
    assert_int_equal(fmt_log_count(&d, "FM-REPL-HTTP-ERROR") - before, 5);
    for (size_t i = 0; i < sizeof(logged) / sizeof(logged[0]); i++) {
        assert_int_equal(fmt_log_count(&d, logged[i]), 1);
    }
    expect_error("POST", "/api/v1/tasks", "", 400, "not valid JSON");
    expect_error("POST", "/api/v1/tasks", SPEC("bad", ",\"rateMsgs\":-3"), 400, "rateMsgs");
    expect_error("POST", "/api/v1/tasks", SPEC("bad", ",\"colour\":\"red\""), 400, "colour");
    expect_error("POST", "/api/v1/tasks",
                 "{\"name\":\"bad\",\"source\":{\"namesrv\":\"127.0.0.1:1\",\"region\":\"east\"},"
                 "\"target\":{\"namesrv\":\"127.0.0.1:2\",\"region\":\"west\"},\"topicRegex\":"
                 "\"([a-\"}",
                 400, "topicRegex: does not compile");
    expect_error("POST", "/api/v1/tasks",
                 SPEC("bad", ",\"filter\":{\"expression\":\"a >\",\"type\":\"SQL92\"}"), 400,
                 "filter: ");
    expect_error("DELETE", "/api/v1/tasks/nosuch", NULL, 404, "nosuch");
    expect_error("POST", "/api/v1/tasks/nosuch/pause", "", 404, "nosuch");
    expect_error("POST", "/api/v1/tasks/nosuch/resume", "", 404, "nosuch");
    expect_error("GET", "/api/v2/tasks", NULL, 404, "no such endpoint");
    {
        /* "/" is the console's (docs/http-api.md): a redirect, not an error */
        char hdr[1024];
        const char *root = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_int_equal(
            fmt_http_raw(d.http_port, root, strlen(root), out, sizeof(out), hdr, sizeof(hdr)), 302);
        assert_non_null(strstr(hdr, "Location: /console/"));
    }
    expect_error("GET", "/nope", NULL, 404, "no such endpoint");
    expect_error("GET", "/api/v1/tasks/dup/stop", NULL, 404, "no such endpoint");
    expect_error("POST", "/api/v1/tasks/dup", "{}", 405, "method not allowed");
    expect_error("GET", "/api/v1/tasks/dup/pause", NULL, 405, "method not allowed");
    expect_error("POST", "/healthz", "", 405, "method not allowed");
    expect_error("DELETE", "/metrics", NULL, 405, "method not allowed");
    /* the failed creates created nothing */
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 1);
    cJSON_Delete(doc);
    delete_ok("dup");
}

static int
paused_is(const cJSON *doc, int want)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tasks"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(t, "paused");
        const char *state = str(t, "state");
        if (!cJSON_IsBool(p) || cJSON_IsTrue(p) != want || state == NULL ||
            (strcmp(state, "paused") == 0) != want) {
            return 0;
        }
    }
    return 1;
}

static void
test_pause_resume_delete_round_trip(void **state)
{
    int status;
    cJSON *doc;
    (void)state;
    create_ok(SPEC("cycle", ",\"mode\":\"two-way\""), 2);
    doc = req("POST", "/api/v1/tasks/cycle/pause", "", &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 2);
    assert_true(paused_is(doc, 1));
    cJSON_Delete(doc);
    doc = req("GET", "/api/v1/tasks/cycle", NULL, &status);
    assert_true(paused_is(doc, 1));
    cJSON_Delete(doc);
    /* one half of the pair on its own */
    doc = req("POST", "/api/v1/tasks/cycle-west-east/resume", "", &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 1);
    assert_true(paused_is(doc, 0));
    cJSON_Delete(doc);
    doc = req("GET", "/api/v1/tasks/cycle-east-west", NULL, &status);
    assert_true(paused_is(doc, 1));
    cJSON_Delete(doc);

    /* the same through the CLI */
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task resume cycle",
                                 d.http_port),
                     0);
    assert_non_null(strstr(out, "resumed cycle-east-west\nresumed cycle-west-east\n"));
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "task pause cycle-east-west -r 127.0.0.1:%d", d.http_port),
                     0);
    assert_non_null(strstr(out, "paused cycle-east-west\n"));
    doc = req("GET", "/api/v1/tasks/cycle-east-west", NULL, &status);
    assert_true(paused_is(doc, 1));
    cJSON_Delete(doc);
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task delete cycle",
                                 d.http_port),
                     0);
    assert_non_null(strstr(out, "deleted cycle-east-west\ndeleted cycle-west-east\n"));
    expect_error("GET", "/api/v1/tasks/cycle", NULL, 404, "cycle");
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task delete cycle",
                                 d.http_port),
                     1);
    assert_non_null(strstr(out, "ferrymq: task delete: "));
    assert_int_equal(
        fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task pause cycle", d.http_port),
        1);
}

static void
test_cli_create_list_show_and_exit_codes(void **state)
{
    fm_filter *f = NULL;
    fm_errbuf eb;
    char want[400];
    cJSON *doc;
    (void)state;
    /* the compiler's own message comes back, exit 2 */
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, "a > AND", 7, &f, &eb), FM_EINVAL);
    snprintf(want, sizeof(want), "ferrymq: task create: filter: %s\n", eb.msg);
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode one-way " CLI_SIDES
                                 " --topics orders --filter 'a > AND' --sql",
                                 d.http_port),
                     2);
    if (strstr(out, want) == NULL) {
        fail_msg("want '%s' in:\n%s", want, out);
    }
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode one-way " CLI_SIDES
                                 " --topic-regex '(orders'",
                                 d.http_port),
                     2);
    assert_non_null(strstr(out, "ferrymq: task create: topicRegex: does not compile"));
    /* usage errors: exit 2 before any request */
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 " CLI_SIDES " --topics orders",
                                 d.http_port),
                     2);
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode one-way " CLI_SIDES
                                 " --topics orders --topic-regex x",
                                 d.http_port),
                     2);
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode one-way " CLI_SIDES
                                 " --topics orders --rate lots",
                                 d.http_port),
                     2);
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r nohost task list"), 2);
    /* an unreachable replicator: exit 1 */
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:1 task create c1 --mode one-way " CLI_SIDES
                                 " --topics orders"),
                     1);
    assert_non_null(strstr(out, "cannot reach the replicator at 127.0.0.1:1"));
    {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "127.0.0.1:%d", d.http_port);
        setenv("FERRYMQ_REPLICATOR", "127.0.0.1:1", 1);
        assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "task list"), 1);
        setenv("FERRYMQ_REPLICATOR", cmd, 1);
        assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL, "task list --json"), 0);
        unsetenv("FERRYMQ_REPLICATOR");
    }

    /* a good create: one line per task, then list and show */
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode two-way " CLI_SIDES
                                 " --topics orders,payments --filter 'TagA || TagB' --forward all"
                                 " --from 2026-12-01T10:00:00Z --rate 1000 --rate-bytes 1048576"
                                 " --groups g1,g2 --prefix XF_ --paused",
                                 d.http_port),
                     0);
    assert_non_null(strstr(out, "created c1-east-west: east -> west, paused\n"
                                "created c1-west-east: west -> east, paused\n"));
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task create c1 --mode one-way " CLI_SIDES
                                 " --topics orders",
                                 d.http_port),
                     1); /* 409 */
    assert_int_equal(
        fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task list --json", d.http_port),
        0);
    *strstr(out, "--stderr--") = '\0';
    doc = cJSON_Parse(out);
    assert_true(cJSON_IsArray(doc));
    assert_int_equal(cJSON_GetArraySize(doc), 2);
    {
        const cJSON *t = cJSON_GetArrayItem(doc, 0);
        const cJSON *fl = cJSON_GetObjectItemCaseSensitive(t, "filter");
        assert_string_equal(str(t, "forward"), "all");
        assert_string_equal(str(t, "from"), "2026-12-01T10:00:00.000Z");
        assert_string_equal(str(t, "propertyPrefix"), "XF_");
        assert_string_equal(str(fl, "type"), "TAG");
        assert_string_equal(str(fl, "expression"), "TagA || TagB");
        assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(t, "rateMsgs")->valuedouble, 1000);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "topics")), 2);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "groups")), 2);
    }
    cJSON_Delete(doc);
    assert_int_equal(
        fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task list", d.http_port), 0);
    assert_non_null(strstr(out, "c1-east-west"));
    assert_non_null(strstr(out, "east->west"));
    assert_int_equal(
        fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task show c1", d.http_port), 0);
    assert_non_null(strstr(out, "task c1-east-west (pair c1): paused"));
    assert_non_null(strstr(out, "task c1-west-east (pair c1): paused"));
    assert_non_null(strstr(out, "topics:   orders,payments"));
    assert_non_null(strstr(out, "filter:   TAG: TagA || TagB"));
    assert_int_equal(fmt_cli_run(out, sizeof(out), d.dir, NULL,
                                 "-r 127.0.0.1:%d task show c1-west-east --json", d.http_port),
                     0);
    *strstr(out, "--stderr--") = '\0';
    doc = cJSON_Parse(out);
    assert_int_equal(cJSON_GetArraySize(doc), 1);
    cJSON_Delete(doc);
    assert_int_equal(
        fmt_cli_run(out, sizeof(out), d.dir, NULL, "-r 127.0.0.1:%d task show nope", d.http_port),
        1);
    delete_ok("c1");
}

typedef struct child {
    pid_t pid;
    int status;
    char out_path[400];
} child;

static int
child_exited(void *ud)
{
    child *ch = ud;
    return waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid;
}

/* Two full redraws on the child's stdout. */
static int
redrawn_twice(void *ud)
{
    child *ch = ud;
    char buf[65536];
    int fd = open(ch->out_path, O_RDONLY), n = 0;
    ssize_t len;
    if (fd < 0) {
        return 0;
    }
    len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[len > 0 ? len : 0] = '\0';
    for (const char *p = buf; (p = strstr(p, "\033[H\033[2J")) != NULL; p++) {
        n += strncmp(strchr(p, '\n') ? strchr(p, '\n') + 1 : p, "task watched: ", 14) == 0;
    }
    return n >= 2;
}

static void
test_cli_show_watch_redraws_until_ctrl_c(void **state)
{
    const char *bin = getenv("FM_FERRYMQ_CLI");
    char addr[64];
    child ch;
    (void)state;
    create_ok(SPEC("watched", ",\"paused\":true"), 1);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d.http_port);
    snprintf(ch.out_path, sizeof(ch.out_path), "%s/watch.out", d.dir);
    ch.pid = fork();
    assert_true(ch.pid >= 0);
    if (ch.pid == 0) {
        int o = open(ch.out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        execl(bin ? bin : "build/ferrymq", "ferrymq", "-r", addr, "task", "show", "watched",
              "--watch", (char *)NULL);
        _exit(127);
    }
    assert_true(fmt_wait_until(redrawn_twice, &ch, 10000));
    assert_false(child_exited(&ch));
    assert_int_equal(kill(ch.pid, SIGINT), 0);
    assert_true(fmt_wait_until(child_exited, &ch, 5000));
    assert_true(WIFEXITED(ch.status));
    assert_int_equal(WEXITSTATUS(ch.status), 0);
    delete_ok("watched");
}

static ino_t
inode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void
test_tasks_persist_across_restart(void **state)
{
    char path[400], tmp[400];
    ino_t ino1, ino2;
    int status;
    cJSON *doc;
    (void)state;
    snprintf(path, sizeof(path), "%s/tasks.json", d.dir);
    snprintf(tmp, sizeof(tmp), "%s/tasks.json.tmp", d.dir);
    create_ok(SPEC("keep1", ",\"paused\":true"), 1);
    ino1 = inode_of(path);
    assert_true(ino1 != 0);
    create_ok(SPEC("keep2", ",\"mode\":\"two-way\",\"from\":\"earliest\""), 2);
    ino2 = inode_of(path);
    /* replaced by rename, never rewritten in place; no temp file left behind */
    assert_true(ino2 != 0 && ino2 != ino1);
    assert_int_equal(access(tmp, F_OK), -1);

    assert_int_equal(fmt_daemon_stop(&d, SIGTERM, 10000), 0);
    assert_true(fmt_log_count(&d, "FM-DAEMON-STOPPED") >= 1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_true(d.http_port > 0);
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 3);
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 0), "name"), "keep1");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 0), "state"), "paused");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 1), "name"), "keep2-east-west");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 1), "from"), "earliest");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 2), "pair"), "keep2");
    cJSON_Delete(doc);

    /* a kill -9 loses nothing either: every change was on disk before its answer */
    delete_ok("keep1");
    assert_true(fmt_daemon_stop(&d, SIGKILL, 10000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 2);
    cJSON_Delete(doc);
    delete_ok("keep2");
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_task_file_loaded_at_start(void **state)
{
    fmt_daemon r;
    char file[400], flag[200];
    const char *extra[] = {"--role=replicator", "--httpPort=0", flag, NULL};
    int status, save_port = d.http_port;
    cJSON *doc;
    (void)state;
    memset(&r, 0, sizeof(r));
    snprintf(file, sizeof(file), "%s/boot-tasks.json", d.dir);
    write_file(file, "{\"tasks\": [" SPEC("boot", ",\"mode\":\"two-way\"") "," SPEC(
                         "solo", ",\"paused\":true") "]}");
    /* fmtest keeps flags up to 127 bytes */
    assert_true(snprintf(flag, sizeof(flag), "--taskFile=%s", file) < 128);
    assert_int_equal(fmt_daemon_start(&r, extra, 10000), 0);
    d.http_port = r.http_port; /* req() talks to d's port */
    doc = req("GET", "/api/v1/tasks", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(tasks_of(doc)), 3);
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 0), "name"), "boot-east-west");
    assert_string_equal(str(cJSON_GetArrayItem(tasks_of(doc), 2), "name"), "solo");
    cJSON_Delete(doc);

    /* created only when absent: a change made since survives the next start with the file */
    doc = req("POST", "/api/v1/tasks/boot/pause", "", &status);
    assert_int_equal(status, 200);
    cJSON_Delete(doc);
    delete_ok("solo");
    assert_int_equal(fmt_daemon_stop(&r, SIGTERM, 10000), 0);
    assert_int_equal(fmt_daemon_restart(&r, 10000), 0);
    d.http_port = r.http_port;
    doc = req("GET", "/api/v1/tasks/boot", NULL, &status);
    assert_int_equal(status, 200);
    assert_true(paused_is(doc, 1));
    cJSON_Delete(doc);
    /* a deleted task stays deleted although the file still names it */
    doc = req("GET", "/api/v1/tasks/solo", NULL, &status);
    assert_int_equal(status, 404);
    cJSON_Delete(doc);
    fmt_daemon_stop(&r, SIGTERM, 10000);

    /* a task file that does not parse: the replicator does not start, and says where */
    write_file(file, "{\"tasks\": [" SPEC("bad", ",\"from\":\"tomorrow\"") "]}");
    assert_int_equal(fmt_daemon_restart(&r, 5000), -1);
    assert_true(fmt_wait_log(&r, "FM-DAEMON-START-FAIL", 5000));
    assert_true(fmt_log_count(&r, "from: 'tomorrow'") >= 1);
    fmt_daemon_cleanup(&r);
    d.http_port = save_port;
}

/* ferrymq failover's and failback's endpoints refuse what they cannot act on. */
static void
test_failover_and_failback_bad_requests(void **state)
{
    (void)state;
    create_ok(SPEC("fo", ",\"groups\":[\"g\"]"), 1);
    create_ok(SPEC("nog", ""), 1);
    create_ok(SPEC("pp", ",\"mode\":\"two-way\",\"groups\":[\"g\"]"), 2);
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"apply\": ", 400, "not valid JSON");
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"apply\": 1}", 400,
                 "apply: must be true or false");
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"groups\": \"g\"}", 400,
                 "groups: must be an array of group names");
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"groups\": [7]}", 400,
                 "groups: must be an array of group names");
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"groups\": [\"x\"]}", 400,
                 "group x is not followed by task fo");
    expect_error("POST", "/api/v1/tasks/nog/failover", "{}", 400, "follows no consumer group");
    expect_error("POST", "/api/v1/tasks/pp/failover", "{}", 400, "pp is a two-way pair");
    expect_error("POST", "/api/v1/tasks/nope/failover", "{}", 404, "no task named nope");
    expect_error("POST", "/api/v1/tasks/nope/failback", "{}", 404, "no task named nope");
    expect_error("POST", "/api/v1/tasks/fo/failback", "{\"from\": ", 400, "not valid JSON");
    expect_error("GET", "/api/v1/tasks/fo/failover", NULL, 405, "method not allowed");
    /* the clusters are unreachable: the plan cannot read the target, and nothing changed */
    expect_error("POST", "/api/v1/tasks/fo/failover", "{\"apply\": true}", 500, "");
    {
        int status;
        cJSON *doc = req("GET", "/api/v1/tasks/fo", NULL, &status);
        assert_int_equal(status, 200);
        assert_true(paused_is(doc, 0));
        cJSON_Delete(doc);
    }
    delete_ok("fo");
    delete_ok("nog");
    delete_ok("pp");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_file_health_and_metrics),
        cmocka_unit_test(test_second_replicator_on_the_same_dir_is_refused),
        cmocka_unit_test(test_create_list_show_shapes),
        cmocka_unit_test(test_error_answers_and_their_log_lines),
        cmocka_unit_test(test_pause_resume_delete_round_trip),
        cmocka_unit_test(test_failover_and_failback_bad_requests),
        cmocka_unit_test(test_cli_create_list_show_and_exit_codes),
        cmocka_unit_test(test_cli_show_watch_redraws_until_ctrl_c),
        cmocka_unit_test(test_tasks_persist_across_restart),
        cmocka_unit_test(test_task_file_loaded_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
