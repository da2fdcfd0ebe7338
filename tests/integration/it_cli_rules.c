/*
 * The ferrymq tool's rules against a real ferrymqd: every subcommand rejects unknown options
 * and extra arguments (exit 2, nothing done), -n anywhere and validated, bodies are bytes,
 * filtered reads cross the broker's scan window, push --count commits exactly N, Ctrl-C
 * finishes the output, --version, --json tables, topic and group lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ferrymq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static fmt_daemon d;
static char out[1 << 20];
static char ns[64];

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

static const char *
cli_bin(void)
{
    const char *bin = getenv("FM_FERRYMQ_CLI");
    return bin ? bin : "build/ferrymq";
}

/* Run "ferrymq <args>" (a shell fragment; no -n added: rules about -n are tested here) with
 * stdout into out and stderr after a "--stderr--" line; returns the exit code. */
static int
run(const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = fmt_cli_vrun(out, sizeof(out), d.dir, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static void
expect_exit(int got, int want, const char *what)
{
    if (got != want) {
        fail_msg("%s exited %d, want %d; output:\n%s", what, got, want, out);
    }
}

static void
expect_out(const char *needle)
{
    if (strstr(out, needle) == NULL) {
        fail_msg("output lacks '%s':\n%s", needle, out);
    }
}

static void
expect_no(const char *needle)
{
    if (strstr(out, needle) != NULL) {
        fail_msg("output has '%s':\n%s", needle, out);
    }
}

static ferrymq_conf *
conf_for(const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_conf_set(conf, "namesrvAddr", ns, NULL, 0);
    ferrymq_conf_set(conf, "consumerGroup", group, NULL, 0);
    return conf;
}

/* ---- rule 6: every subcommand ---- */

static void
test_cli_every_subcommand_rejects_unknown_option_and_extra_argument(void **state)
{
    /* a valid invocation of each subcommand, on a topic nothing else uses; "cmd --bogus" and
     * "cmd extra" must both be usage errors that do nothing. produce takes BODY arguments, so
     * its extra argument is one after --body-file. */
    static const struct {
        const char *base, *extra;
    } rows[] = {
        {"produce -t Nothing", "--body-file /dev/null surplus"},
        {"consume -t Nothing", "surplus"},
        {"consume -t Nothing -g NothingG --push --count 1", "surplus"},
        {"topic create Nothing", "surplus"},
        {"topic list", "surplus"},
        {"topic stats Nothing", "surplus"},
        {"offset Nothing", "surplus"},
        {"group list", "surplus"},
        {"group progress NothingG", "surplus"},
        {"group reset NothingG -t Nothing --to latest", "surplus"},
        {"cluster", "surplus"},
        {"message show 0A0000010000000000000000000000FF", "surplus"},
        {"message find -t Nothing --key K", "surplus"},
        {"bench produce -t Nothing -c 1", "surplus"},
        {"bench consume -t Nothing -c 1", "surplus"},
        {"bench push -t Nothing -c 1", "surplus"},
    };
    char what[256];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(what, sizeof(what), "%s --bogus", rows[i].base);
        expect_exit(run("-n %s %s --bogus 1", ns, rows[i].base), 2, what);
        expect_out("unknown option '--bogus'");
        snprintf(what, sizeof(what), "%s %s", rows[i].base, rows[i].extra);
        expect_exit(run("-n %s %s %s", ns, rows[i].base, rows[i].extra), 2, what);
        /* a value given to a flag, a missing value */
        snprintf(what, sizeof(what), "%s --help=x", rows[i].base);
        expect_exit(run("-n %s %s --help=x", ns, rows[i].base), 2, what);
        snprintf(what, sizeof(what), "%s --help", rows[i].base);
        expect_exit(run("-n %s %s --help", ns, rows[i].base), 0, what);
        expect_out("usage: ferrymq");
    }
    /* commands with subcommands: a missing or unknown one is a usage error, --help is not */
    {
        static const char *const parents[] = {"topic", "group", "message", "bench"};
        for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
            expect_exit(run("-n %s %s", ns, parents[i]), 2, parents[i]);
            expect_out("needs");
            expect_exit(run("-n %s %s bogus", ns, parents[i]), 2, "an unknown subcommand");
            expect_out("unknown");
            expect_exit(run("-n %s %s --help", ns, parents[i]), 0, "a parent's --help");
            expect_out("usage: ferrymq");
        }
    }
    /* the example: a misspelt option no longer creates a topic with 8 queues */
    expect_exit(run("-n %s topic create Zed --queuez 3", ns), 2, "topic create --queuez");
    expect_exit(run("-n %s topic create Zed --queues 3 extra", ns), 2, "topic create extra");
    expect_exit(run("-n %s topic create Zed --que 3", ns), 2, "an abbreviation");
    expect_exit(run("-n %s topic list --all", ns), 0, "topic list --all");
    expect_no("Zed");
    expect_no("Nothing");
    expect_exit(run("-n %s produce -t T --tag", ns), 2, "a missing value");
    expect_out("needs a value");
}

static void
test_cli_namesrv_anywhere_and_validated(void **state)
{
    (void)state;
    /* after the subcommand it is used, not ignored: an unreachable one fails */
    expect_exit(run("topic list -n 127.0.0.1:1"), 1, "topic list -n unreachable");
    expect_exit(run("topic list -n %s", ns), 0, "topic list -n after");
    expect_exit(run("topic -n %s create NsAfter --queues 2", ns), 0, "-n before the sub word");
    expect_out("created NsAfter with 2 queues");
    expect_exit(run("topic create NsAfter2 --namesrv=%s", ns), 0, "--namesrv=");
    expect_exit(run("consume -t NsAfter --wait-ms 10 -n %s", ns), 0, "consume -n last");
    expect_exit(run("bench consume -t NsAfter -c 0 -d 1 -n %s", ns), 0, "bench -n");
    /* malformed: exit 2, nothing attempted */
    static const char *const bad[] = {"nohost",     "127.0.0.1:0",   "127.0.0.1:65536", ":9876",
                                      "127.0.0.1:", "127.0.0.1:98x", "a b:1",           "h:1;"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_exit(run("-n '%s' topic list", bad[i]), 2, bad[i]);
        expect_out("is not host:port");
        expect_exit(run("topic list -n '%s'", bad[i]), 2, bad[i]);
        expect_exit(run("cluster --namesrv '%s'", bad[i]), 2, bad[i]);
    }
    expect_exit(run("-n '%s;%s' cluster", ns, ns), 0, "two name servers");
    expect_exit(run("-n 127.0.0.1:65535 topic create X --queues 1 -n 127.0.0.1:0"), 2,
                "a bad later -n");
}

/* ---- point 3: bodies are bytes ---- */

static int
json_lines_valid(const char *s)
{
    int n = 0;
    while (*s != '\0' && strncmp(s, "--stderr--", 10) != 0) {
        const char *nl = strchr(s, '\n');
        cJSON *o;
        if (nl == NULL) {
            return -1;
        }
        o = cJSON_ParseWithLength(s, (size_t)(nl - s));
        if (o == NULL) {
            return -1;
        }
        cJSON_Delete(o);
        n++;
        s = nl + 1;
    }
    return n;
}

static void
test_cli_bodies_are_bytes(void **state)
{
    static const unsigned char bin[] = {'a', 0, 'b', 0xff, '\n', 0x1b, '[', '3', '1', 'm'};
    static const char utf8[] = "h\0\xc3\xa9";
    char path[300], path2[300];
    FILE *f;
    (void)state;
    expect_exit(run("-n %s topic create Bin --queues 1", ns), 0, "create");
    snprintf(path, sizeof(path), "%s/body.bin", d.dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(bin, 1, sizeof(bin), f);
    fclose(f);
    snprintf(path2, sizeof(path2), "%s/body.utf8", d.dir);
    f = fopen(path2, "wb");
    assert_non_null(f);
    fwrite(utf8, 1, sizeof(utf8) - 1, f);
    fclose(f);
    expect_exit(run("-n %s produce -t Bin --body-file %s", ns, path), 0, "--body-file binary");
    expect_exit(run("-n %s produce -t Bin --body-file %s", ns, path2), 0, "--body-file utf8");
    /* a line with a NUL in the middle is one message with all its bytes */
    snprintf(path2, sizeof(path2), "%s/lines.txt", d.dir);
    f = fopen(path2, "wb");
    assert_non_null(f);
    fwrite("x\0y\n", 1, 4, f);
    fclose(f);
    expect_exit(run("-n %s produce -t Bin --file %s", ns, path2), 0, "--file NUL");
    /* empty bodies are refused as RocketMQ refuses them */
    expect_exit(run("-n %s produce -t Bin ''", ns), 1, "empty BODY");
    expect_out("MESSAGE_ILLEGAL");
    expect_exit(run("-n %s produce -t Bin --body-file /dev/null", ns), 1, "empty --body-file");
    expect_out("MESSAGE_ILLEGAL");
    expect_exit(run("-n %s produce -t Bin --body-file %s/nonexistent", ns, d.dir), 1, "missing");
    snprintf(path2, sizeof(path2), "%s/big.bin", d.dir);
    f = fopen(path2, "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (4 << 20) + 1), 0);
    fclose(f);
    expect_exit(run("-n %s produce -t Bin --body-file %s", ns, path2), 1, "too big");
    expect_out("larger than maxMessageSize");
    expect_exit(run("-n %s produce -t Bin --file %s --body-file %s", ns, path, path), 2,
                "--file with --body-file");

    expect_exit(run("-n %s consume -t Bin --format json --wait-ms 200", ns), 0, "json");
    expect_out("consumed 3 messages");
    assert_int_equal(json_lines_valid(out), 3);
    expect_out("\"body_base64\":\"YQBi/wobWzMxbQ==\"");
    expect_out("\"body\":\"h\\u0000\xc3\xa9\"");
    expect_out("\"body\":\"x\\u0000y\"");
    expect_exit(run("-n %s consume -t Bin --wait-ms 200", ns), 0, "human");
    expect_out("body=a\\x00b\\xff\\n\\x1b[31m\n");
    expect_out("body=h\\x00\xc3\xa9\n");
    expect_no("\x1b");
}

/* ---- point 4: filtered reads cross the scan window ---- */

#define WINDOW_FILL 20000 /* more than the broker's 16,000-entry scan window (store.c) */

static void
fill_window_topic(const char *topic)
{
    ferrymq_conf *conf = conf_for("fill");
    ferrymq_producer *p;
    ferrymq_admin *a;
    ferrymq_msg *batch[1000];
    ferrymq_send_result res;
    char err[256];
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_create_topic(a, topic, 1, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_admin_free(a);
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    for (int b = 0; b < WINDOW_FILL / 1000; b++) {
        for (int i = 0; i < 1000; i++) {
            batch[i] = ferrymq_msg_new(topic, "u", 1);
        }
        if (ferrymq_producer_send_batch(p, batch, 1000, &res, err, sizeof(err)) != FERRYMQ_OK) {
            fail_msg("batch: %s", err);
        }
        for (int i = 0; i < 1000; i++) {
            ferrymq_msg_free(batch[i]);
        }
    }
    for (int i = 0; i < 50; i++) {
        ferrymq_msg *m = ferrymq_msg_new(topic, "tagged", 6);
        ferrymq_msg_set_tags(m, "B");
        batch[i] = m;
    }
    assert_int_equal(ferrymq_producer_send_batch(p, batch, 50, &res, err, sizeof(err)), FERRYMQ_OK);
    for (int i = 0; i < 50; i++) {
        ferrymq_msg_free(batch[i]);
    }
    ferrymq_producer_close(p, 5000);
}

static void
test_cli_filtered_reads_cross_the_scan_window(void **state)
{
    ferrymq_conf *conf = conf_for("win");
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    ferrymq_pull_result r;
    size_t nq;
    char err[256];
    int64_t off = 0;
    int got = 0, skips = 0;
    (void)state;
    fill_window_topic("Win");
    /* the library's pull: the first answer is NO_MATCHED_MSG further on, and going on from
     * next_offset finds the 50 */
    assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_consumer_queues(c, "Win", &qs, &nq, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(nq, 1);
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    for (int rounds = 0; rounds < 100 && got < 50; rounds++) {
        assert_int_equal(
            ferrymq_consumer_pull(c, &qs[0], off, "B", "TAG", 32, 0, &r, err, sizeof(err)),
            FERRYMQ_OK);
        if (r.status == FERRYMQ_PULL_NO_MATCHED_MSG) {
            assert_true(r.next_offset > off);
            skips++;
        } else {
            assert_int_equal(r.status, FERRYMQ_PULL_FOUND);
        }
        got += (int)r.n_msgs;
        off = r.next_offset;
    }
    ferrymq_pull_result_clear(&r);
    free(qs);
    ferrymq_consumer_close(c);
    assert_true(skips >= 1);
    assert_int_equal(got, 50);
    /* the CLI's pull loop, by tag and by SQL-92 */
    expect_exit(run("-n %s consume -t Win --filter B --wait-ms 200", ns), 0, "consume --filter");
    expect_out("consumed 50 messages");
    expect_exit(run("-n %s consume -t Win --sql --filter \"TAGS = 'B'\" --wait-ms 200", ns), 0,
                "consume --sql");
    expect_out("consumed 50 messages");
    expect_exit(run("-n %s consume -t Win --filter B --count 7 --wait-ms 200", ns), 0, "count");
    expect_out("consumed 7 messages");
    /* the push consumer's loop */
    expect_exit(
        run("-n %s consume -t Win --filter B --push -g WinPush --count 50 --wait-ms 20000", ns), 0,
        "consume --push --filter");
    expect_out("consumed 50 messages");
}

/* ---- point 7 ---- */

static int
count_of(const char *needle)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

static void
test_cli_push_count_commits_exactly_n(void **state)
{
    char seen[20] = {0}, cmd[128];
    (void)state;
    expect_exit(run("-n %s topic create PushN --queues 2", ns), 0, "create");
    cmd[0] = '\0';
    for (int i = 0; i < 20; i++) {
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " n%02d", i);
    }
    expect_exit(run("-n %s produce -t PushN %s", ns, cmd), 0, "produce 20");
    expect_exit(run("-n %s consume -t PushN -g PushG --push --count 5 --wait-ms 20000", ns), 0,
                "push --count 5");
    expect_out("consumed 5 messages");
    assert_int_equal(count_of(" body=n"), 5);
    for (const char *p = out; (p = strstr(p, " body=n")) != NULL; p++) {
        seen[atoi(p + 7)]++;
    }
    expect_exit(run("-n %s group progress PushG -t PushN", ns), 0, "progress");
    expect_out("total lag: 15");
    /* the next run brings exactly the other 15 */
    expect_exit(run("-n %s consume -t PushN -g PushG --push --count 15 --wait-ms 20000", ns), 0,
                "push --count 15");
    expect_out("consumed 15 messages");
    for (const char *p = out; (p = strstr(p, " body=n")) != NULL; p++) {
        seen[atoi(p + 7)]++;
    }
    for (int i = 0; i < 20; i++) {
        if (seen[i] != 1) {
            fail_msg("n%02d seen %d times", i, seen[i]);
        }
    }
    expect_exit(run("-n %s group progress PushG -t PushN", ns), 0, "progress");
    expect_out("total lag: 0");
}

static void
test_cli_sql_needs_filter_and_sql_looking_tags_warn(void **state)
{
    (void)state;
    expect_exit(run("-n %s consume -t Bin --sql --wait-ms 10", ns), 2, "--sql alone");
    expect_out("--sql needs --filter");
    expect_exit(run("-n %s consume -t Bin --filter \"region = 'eu'\" --wait-ms 10", ns), 0,
                "an SQL-looking tag");
    expect_out("looks like SQL-92");
    expect_exit(run("-n %s consume -t Bin --filter \"a IS NOT NULL\" --wait-ms 10", ns), 0,
                "SQL keywords");
    expect_out("looks like SQL-92");
    expect_exit(run("-n %s consume -t Bin --filter 'TagA || TagB' --wait-ms 10", ns), 0,
                "a real tag expression");
    expect_no("looks like SQL-92");
    expect_exit(run("-n %s consume -t Bin --sql --filter \"a = 1\" --wait-ms 10", ns), 0,
                "with --sql");
    expect_no("looks like SQL-92");
}

static void
test_cli_push_on_missing_topic_fails(void **state)
{
    (void)state;
    expect_exit(run("-n %s consume -t NoSuchTopicPush -g G1 --push --wait-ms 3000", ns), 1,
                "push on a missing topic");
    expect_out("topic NoSuchTopicPush does not exist");
}

/* ---- point 9 ---- */

typedef struct child {
    pid_t pid;
    int status;
    char out_path[300], err_path[300];
} child;

static void
child_start(child *ch, const char *const *argv)
{
    snprintf(ch->out_path, sizeof(ch->out_path), "%s/child.out", d.dir);
    snprintf(ch->err_path, sizeof(ch->err_path), "%s/child.err", d.dir);
    ch->pid = fork();
    assert_true(ch->pid >= 0);
    if (ch->pid == 0) {
        int o = open(ch->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(ch->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDONLY);
        dup2(o, 1);
        dup2(e, 2);
        dup2(nul, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
}

static int
child_exited(void *ud)
{
    child *ch = ud;
    return waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid;
}

static long
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static int
out_has_200_lines(void *ud)
{
    /* a line is at most about 85 bytes ("<32 hex> <32 hex> broker-a/0@NNNNNN") */
    return file_size(((child *)ud)->out_path) > 200 * 90;
}

static int
err_has_progress(void *ud)
{
    FILE *f = fopen(((child *)ud)->err_path, "r");
    char buf[4096];
    size_t n;
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, " sent") != NULL;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n = file_size(path);
    assert_non_null(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void
test_cli_produce_sigint_prints_every_acknowledged_id(void **state)
{
    char path[300], ns_arg[80];
    const char *argv[] = {cli_bin(), "-n", ns, "produce", "-t", "Intr", "--file", path, NULL};
    child ch;
    FILE *f;
    size_t len, lines = 0;
    char *txt, *line, *save = NULL, err[256];
    ferrymq_conf *conf = conf_for("intr");
    ferrymq_admin *a;
    long acked = -1;
    (void)state;
    snprintf(ns_arg, sizeof(ns_arg), "%s", ns);
    snprintf(path, sizeof(path), "%s/many.txt", d.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 300000; i++) {
        fprintf(f, "m-%d\n", i);
    }
    fclose(f);
    child_start(&ch, argv);
    assert_true(fmt_wait_until(out_has_200_lines, &ch, 30000));
    assert_int_equal(kill(ch.pid, SIGINT), 0);
    assert_true(fmt_wait_until(child_exited, &ch, 20000));
    assert_true(WIFEXITED(ch.status));
    assert_int_equal(WEXITSTATUS(ch.status), 130);
    txt = slurp(ch.err_path, &len);
    line = strstr(txt, "produce: interrupted: ");
    if (line == NULL) {
        fail_msg("no summary on stderr:\n%s", txt);
    }
    acked = strtol(line + strlen("produce: interrupted: "), NULL, 10);
    free(txt);
    txt = slurp(ch.out_path, &len);
    assert_true(len > 0 && txt[len - 1] == '\n'); /* no cut line */
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    for (line = strtok_r(txt, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char msg_id[64], off_id[64], want[32];
        ferrymq_msg *m = NULL;
        size_t blen;
        const char *body;
        assert_int_equal(sscanf(line, "%63s %63s", msg_id, off_id), 2);
        if (ferrymq_admin_view_message(a, off_id, &m, err, sizeof(err)) != FERRYMQ_OK) {
            fail_msg("line %zu: %s not readable: %s", lines, off_id, err);
        }
        body = ferrymq_msg_body(m, &blen);
        snprintf(want, sizeof(want), "m-%zu", lines);
        assert_int_equal(blen, strlen(want));
        assert_memory_equal(body, want, blen);
        ferrymq_msg_free(m);
        lines++;
    }
    ferrymq_admin_free(a);
    free(txt);
    assert_int_equal((long)lines, acked);
    assert_true(lines >= 200 && lines < 300000);
}

static void
test_cli_bench_sigint_prints_the_summary(void **state)
{
    const char *argv[] = {cli_bin(), "-n",        ns,   "bench", "produce", "-t", "IntrBench",
                          "-c",      "100000000", "-w", "16",    "-s",      "16", NULL};
    child ch;
    size_t len;
    char *txt;
    (void)state;
    child_start(&ch, argv);
    assert_true(fmt_wait_until(err_has_progress, &ch, 30000));
    assert_int_equal(kill(ch.pid, SIGINT), 0);
    assert_true(fmt_wait_until(child_exited, &ch, 30000));
    assert_true(WIFEXITED(ch.status));
    assert_int_equal(WEXITSTATUS(ch.status), 130);
    txt = slurp(ch.out_path, &len);
    if (strstr(txt, "produce: ") == NULL || strstr(txt, "msgs/s") == NULL) {
        fail_msg("no summary:\n%s", txt);
    }
    free(txt);
}

static void
test_cli_version_on_both_binaries(void **state)
{
    char cmd[1024], want[64], got[128] = "";
    const char *daemon = getenv("FM_FERRYMQD");
    unsigned v = ferrymq_version();
    FILE *p;
    (void)state;
    snprintf(want, sizeof(want), " %u.%u.%u\n", (v >> 24) & 0xff, (v >> 16) & 0xff,
             (v >> 8) & 0xff);
    expect_exit(run("--version"), 0, "ferrymq --version");
    assert_true(strncmp(out, "ferrymq ", 8) == 0);
    expect_out(want);
    snprintf(cmd, sizeof(cmd), "%s --version", daemon ? daemon : "build/ferrymqd");
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(got, sizeof(got), p));
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    assert_true(strncmp(got, "ferrymqd ", 9) == 0);
    assert_non_null(strstr(got, want));
}

/* out's stdout part as JSON (the caller deletes it). */
static cJSON *
out_json(void)
{
    char *end = strstr(out, "--stderr--");
    cJSON *doc = cJSON_ParseWithLength(out, end ? (size_t)(end - out) : strlen(out));
    if (doc == NULL) {
        fail_msg("not JSON:\n%s", out);
    }
    return doc;
}

static cJSON *
find_by(cJSON *arr, const char *key, const char *val)
{
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, val) == 0) {
            return e;
        }
    }
    return NULL;
}

/* group list shows the client id ud on ListG's line */
static int
member_online(void *ud)
{
    const char *line, *nl;
    if (run("-n %s group list", ns) != 0 || (line = strstr(out, "\nListG ")) == NULL) {
        return 0;
    }
    nl = strchr(line + 1, '\n');
    line = strstr(line, (const char *)ud);
    return line != NULL && (nl == NULL || line < nl);
}

static int
consume_ok(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    (void)opaque;
    (void)msgs;
    (void)n;
    return FERRYMQ_CONSUME_SUCCESS;
}

static void
test_cli_lists_and_json_tables(void **state)
{
    ferrymq_push_consumer *pc;
    ferrymq_conf *conf;
    cJSON *doc, *e;
    char err[256], id[160], line[512];
    const char *a_pos, *z_pos;
    (void)state;
    expect_exit(run("-n %s topic create ZzList --queues 2", ns), 0, "create");
    expect_exit(run("-n %s topic create AaList --queues 3", ns), 0, "create");
    expect_exit(run("-n %s produce -t AaList a1 a2 a3 a4 a5", ns), 0, "produce");
    expect_exit(run("-n %s consume -t AaList -g ListG --commit --count 3 --wait-ms 200", ns), 0,
                "commit 3");
    /* topic list: sorted, queue counts, no system topics unless --all */
    expect_exit(run("-n %s topic list", ns), 0, "topic list");
    a_pos = strstr(out, "AaList ");
    z_pos = strstr(out, "ZzList ");
    assert_non_null(a_pos);
    assert_non_null(z_pos);
    assert_true(a_pos < z_pos);
    snprintf(line, sizeof(line), "%-48s %6d\n", "AaList", 3);
    expect_out(line);
    expect_no("TBW102");
    expect_no("%RETRY%");
    expect_no("DefaultCluster");
    expect_exit(run("-n %s topic list --all", ns), 0, "topic list --all");
    expect_out("TBW102");
    expect_exit(run("-n %s topic list --json", ns), 0, "topic list --json");
    doc = out_json();
    e = find_by(doc, "topic", "AaList");
    assert_non_null(e);
    assert_int_equal((int)cJSON_GetObjectItem(e, "queues")->valuedouble, 3);
    assert_null(find_by(doc, "topic", "TBW102"));
    cJSON_Delete(doc);
    expect_exit(run("-n %s topic stats AaList --json", ns), 0, "topic stats --json");
    doc = out_json();
    assert_int_equal((int)cJSON_GetObjectItem(doc, "totalMessages")->valuedouble, 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "queues")), 3);
    cJSON_Delete(doc);
    expect_exit(run("-n %s offset AaList -g ListG --json", ns), 0, "offset --json");
    doc = out_json();
    assert_int_equal(cJSON_GetArraySize(doc), 3);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "committed"));
    cJSON_Delete(doc);
    expect_exit(run("-n %s group progress ListG -t AaList --json", ns), 0, "progress --json");
    doc = out_json();
    assert_int_equal((int)cJSON_GetObjectItem(doc, "totalLag")->valuedouble, 2);
    cJSON_Delete(doc);
    expect_exit(run("-n %s cluster --json", ns), 0, "cluster --json");
    doc = out_json();
    assert_non_null(find_by(doc, "cluster", "DefaultCluster"));
    cJSON_Delete(doc);

    /* group list: lag, and the members online (a push consumer of the group on another
     * topic, so the lag on AaList stays 2) */
    expect_exit(run("-n %s group list", ns), 0, "group list");
    snprintf(line, sizeof(line), "%-40s %10d  -\n", "ListG", 2);
    expect_out(line);
    conf = conf_for("ListG");
    assert_int_equal(ferrymq_push_consumer_new(conf, &pc, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, "ZzList", "*", NULL, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_start(pc, FERRYMQ_CONSUME_CONCURRENTLY, consume_ok, NULL,
                                                 err, sizeof(err)),
                     FERRYMQ_OK);
    snprintf(id, sizeof(id), "%s", ferrymq_push_consumer_client_id(pc));
    assert_true(fmt_wait_until(member_online, id, 20000));
    snprintf(line, sizeof(line), "%-40s %10d  %s\n", "ListG", 2, id);
    expect_out(line);
    expect_exit(run("-n %s group list --json", ns), 0, "group list --json");
    doc = out_json();
    e = find_by(doc, "group", "ListG");
    assert_non_null(e);
    assert_int_equal((int)cJSON_GetObjectItem(e, "lag")->valuedouble, 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "members"), 0)->valuestring, id);
    cJSON_Delete(doc);
    ferrymq_push_consumer_close(pc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_every_subcommand_rejects_unknown_option_and_extra_argument),
        cmocka_unit_test(test_cli_namesrv_anywhere_and_validated),
        cmocka_unit_test(test_cli_bodies_are_bytes),
        cmocka_unit_test(test_cli_filtered_reads_cross_the_scan_window),
        cmocka_unit_test(test_cli_push_count_commits_exactly_n),
        cmocka_unit_test(test_cli_sql_needs_filter_and_sql_looking_tags_warn),
        cmocka_unit_test(test_cli_push_on_missing_topic_fails),
        cmocka_unit_test(test_cli_produce_sigint_prints_every_acknowledged_id),
        cmocka_unit_test(test_cli_bench_sigint_prints_the_summary),
        cmocka_unit_test(test_cli_version_on_both_binaries),
        cmocka_unit_test(test_cli_lists_and_json_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
