/*
 * scripts/demo, README's first command, run as a user runs it: it starts two regions and a
 * replicator with a two-way task, prints three ferrymq commands, and stops everything on
 * Ctrl-C. The test runs it with every port 0 (so it cannot clash with other tests), runs the
 * printed commands exactly as printed, checks what they show, sends SIGINT and checks that the
 * script exits 0 with none of its daemons left. A second test takes a port the demo needs and
 * checks that it fails with a clear message and leaves nothing running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct demo {
    pid_t pid;
    char dir[256];
    char out_path[300];
    char err_path[300];
    int status; /* waitpid status once exited */
    int exited;
} demo;

static char buf[1 << 20];

/* Read a whole small file into buf; "" when absent. */
static const char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    buf[0] = '\0';
    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Start scripts/demo with the ports given (as strings, "0" = any free port). */
static void
demo_start(demo *dm, const char *east_ns)
{
    const char *daemon = getenv("FM_FERRYMQD");
    char build[256], script[512], cwd[256];
    memset(dm, 0, sizeof(*dm));
    assert_non_null(daemon);
    snprintf(build, sizeof(build), "%s", daemon);
    snprintf(build, sizeof(build), "%s", dirname(build));
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(script, sizeof(script), "%s/scripts/demo", cwd);
    snprintf(dm->dir, sizeof(dm->dir), "/tmp/fm-it-demo-XXXXXX");
    assert_non_null(mkdtemp(dm->dir));
    snprintf(dm->out_path, sizeof(dm->out_path), "%s/out", dm->dir);
    snprintf(dm->err_path, sizeof(dm->err_path), "%s/err", dm->dir);
    dm->pid = fork();
    assert_true(dm->pid >= 0);
    if (dm->pid == 0) {
        char demo_dir[300];
        snprintf(demo_dir, sizeof(demo_dir), "%s/run", dm->dir);
        if (freopen(dm->out_path, "w", stdout) == NULL ||
            freopen(dm->err_path, "w", stderr) == NULL) {
            _exit(127);
        }
        setenv("FERRYMQ_BUILD", build, 1);
        setenv("FERRYMQ_DEMO_DIR", demo_dir, 1);
        setenv("EAST_NS_PORT", east_ns, 1);
        setenv("EAST_BROKER_PORT", "0", 1);
        setenv("WEST_NS_PORT", "0", 1);
        setenv("WEST_BROKER_PORT", "0", 1);
        setenv("EAST_HTTP_PORT", "0", 1);
        setenv("WEST_HTTP_PORT", "0", 1);
        setenv("REPL_HTTP_PORT", "0", 1);
        execl("/bin/sh", "sh", script, (char *)NULL);
        _exit(127);
    }
}

static int
demo_printed(void *ud)
{
    demo *dm = ud;
    return strstr(slurp(dm->out_path), "Ctrl-C stops everything.") != NULL;
}

static int
demo_gone(void *ud)
{
    demo *dm = ud;
    if (!dm->exited && waitpid(dm->pid, &dm->status, WNOHANG) == dm->pid) {
        dm->exited = 1;
    }
    return dm->exited;
}

/* The pid= of <demo dir>/run/<name>/ready, 0 when there is none. */
static pid_t
ready_pid(const demo *dm, const char *name)
{
    char path[400];
    const char *p;
    snprintf(path, sizeof(path), "%s/run/%s/ready", dm->dir, name);
    p = strstr(slurp(path), "pid=");
    return p != NULL ? (pid_t)atoi(p + 4) : 0;
}

/* The n-th (0-based) printed command: the lines under "Try, in another terminal:". */
static void
printed_command(const demo *dm, int n, char *cmd, size_t cap)
{
    const char *p = strstr(slurp(dm->out_path), "Try, in another terminal:\n");
    assert_non_null(p);
    p = strchr(p, '\n') + 1;
    for (int i = 0; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    while (*p == ' ') {
        p++;
    }
    size_t len = strcspn(p, "\n");
    assert_true(len > 0 && len < cap);
    memcpy(cmd, p, len);
    cmd[len] = '\0';
}

/* Run a shell command line; its stdout and stderr in buf; the exit code. */
static int
run_line(const char *line)
{
    char cmd[2048];
    FILE *f;
    size_t n;
    int st;
    snprintf(cmd, sizeof(cmd), "%s 2>&1", line);
    f = popen(cmd, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct consume_arg {
    const char *line;
} consume_arg;

static int
consume_sees_it(void *ud)
{
    consume_arg *a = ud;
    return run_line(a->line) == 0 && strstr(buf, "body=hello from east") != NULL;
}

/* Stop the demo as a user would (SIGINT, bounded); if it does not go, kill it and whatever
 * daemons its ready files name, so a failed test leaves nothing running. */
static void
demo_cleanup(demo *dm)
{
    static const char *const names[] = {"replicator", "east", "west"};
    char cmd[400];
    if (!dm->exited && dm->pid > 0) {
        kill(dm->pid, SIGINT);
        if (!fmt_wait_until(demo_gone, dm, 30000)) {
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                pid_t p = ready_pid(dm, names[i]);
                if (p > 0) {
                    kill(p, SIGKILL);
                }
            }
            kill(dm->pid, SIGKILL);
            waitpid(dm->pid, NULL, 0);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dm->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "it_demo: could not remove %s\n", dm->dir);
    }
}

static void
test_demo_commands_work_as_printed_and_ctrl_c_stops_all(void **state)
{
    demo dm;
    char cmd[1024];
    consume_arg ca;
    pid_t east, west, repl;
    (void)state;

    demo_start(&dm, "0");
    if (!fmt_wait_until(demo_printed, &dm, 60000)) {
        fprintf(stderr, "it_demo: stdout:\n%s\n", slurp(dm.out_path));
        fprintf(stderr, "it_demo: stderr:\n%s\n", slurp(dm.err_path));
        demo_cleanup(&dm);
        fail_msg("the demo did not print its commands within 60 s");
    }
    east = ready_pid(&dm, "east");
    west = ready_pid(&dm, "west");
    repl = ready_pid(&dm, "replicator");
    assert_true(east > 0 && west > 0 && repl > 0);

    /* 1: produce in east, exactly as printed */
    printed_command(&dm, 0, cmd, sizeof(cmd));
    assert_non_null(strstr(cmd, "produce -t DemoTopic 'hello from east'"));
    assert_int_equal(run_line(cmd), 0);

    /* 2: consume in west with the origin filter: the copy arrives (bounded wait) */
    printed_command(&dm, 1, cmd, sizeof(cmd));
    assert_non_null(strstr(cmd, "--filter \"FERRY_SRC_REGION = 'east'\" --sql"));
    ca.line = cmd;
    if (!fmt_wait_until(consume_sees_it, &ca, 30000)) {
        fprintf(stderr, "it_demo: last consume output:\n%s\n", buf);
        demo_cleanup(&dm);
        fail_msg("the message produced in east did not reach west within 30 s");
    }

    /* 3: task show: both tasks of the pair, running */
    printed_command(&dm, 2, cmd, sizeof(cmd));
    assert_non_null(strstr(cmd, "task show demo"));
    assert_int_equal(run_line(cmd), 0);
    assert_non_null(strstr(buf, "task demo-east-west (pair demo): running"));
    assert_non_null(strstr(buf, "task demo-west-east (pair demo): running"));

    /* Ctrl-C: the script stops its three daemons and exits 0 */
    assert_int_equal(kill(dm.pid, SIGINT), 0);
    if (!fmt_wait_until(demo_gone, &dm, 30000)) {
        demo_cleanup(&dm);
        fail_msg("the demo did not stop within 30 s of SIGINT");
    }
    assert_true(WIFEXITED(dm.status));
    assert_int_equal(WEXITSTATUS(dm.status), 0);
    assert_int_equal(kill(east, 0), -1);
    assert_int_equal(kill(west, 0), -1);
    assert_int_equal(kill(repl, 0), -1);
    assert_int_equal(ready_pid(&dm, "east"), 0);
    assert_int_equal(ready_pid(&dm, "replicator"), 0);
    demo_cleanup(&dm);
}

static void
test_demo_with_a_port_taken_fails_clearly_and_leaves_nothing(void **state)
{
    demo dm;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char port[16];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    (void)state;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));

    demo_start(&dm, port);
    if (!fmt_wait_until(demo_gone, &dm, 60000)) {
        close(fd);
        demo_cleanup(&dm);
        fail_msg("the demo did not give up within 60 s with its port taken");
    }
    close(fd);
    assert_true(WIFEXITED(dm.status));
    assert_int_equal(WEXITSTATUS(dm.status), 1);
    slurp(dm.err_path);
    assert_non_null(strstr(buf, "Address already in use"));
    assert_non_null(strstr(buf, "a port is taken"));
    /* west may have got as far as its ready file; it is stopped and removed it */
    assert_int_equal(ready_pid(&dm, "west"), 0);
    assert_int_equal(ready_pid(&dm, "replicator"), 0);
    demo_cleanup(&dm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_commands_work_as_printed_and_ctrl_c_stops_all),
        cmocka_unit_test(test_demo_with_a_port_taken_fails_clearly_and_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
