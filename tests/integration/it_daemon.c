/*
 * One daemon per store, ready files owned by their writer, and the advertised address.
 *
 * A second ferrymqd on a live broker's store must stop before it reads or writes anything
 * there (it used to run recovery on the live files, trim the running broker's queue and
 * delete its ready file, and with another port run beside it, overwriting its commit log).
 * A name server started in the same directory keeps to its own ready file. A broker bound to
 * one address advertises that address when brokerIP1 is not set. A broker raises its soft
 * open-files limit to the hard one: it keeps a descriptor per queue. With logFile the log also
 * goes to that file, and SIGHUP (logrotate) reopens it by name without stopping anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MSGS 100

typedef struct child {
    pid_t pid;
    int status; /* waitpid status once exited */
    int exited;
} child;

/* Start ferrymqd on dir with extra flags (NULL-terminated), stderr to log_path. */
static void
child_spawn(child *c, const char *dir, const char *log_path, const char *const *extra)
{
    const char *bin = getenv("FM_FERRYMQD");
    char a_dir[320];
    char *argv[16];
    int argc = 0;
    if (bin == NULL) {
        bin = "build/ferrymqd";
    }
    snprintf(a_dir, sizeof(a_dir), "--storePathRootDir=%s", dir);
    argv[argc++] = (char *)bin;
    argv[argc++] = a_dir;
    for (int i = 0; extra[i] != NULL && argc < 15; i++) {
        argv[argc++] = (char *)extra[i];
    }
    argv[argc] = NULL;
    memset(c, 0, sizeof(*c));
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(bin, argv);
        _exit(127);
    }
}

static int
child_exited(void *ud)
{
    child *c = ud;
    if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
        c->exited = 1;
    }
    return c->exited;
}

static void
child_stop(child *c)
{
    if (c->pid > 0 && !c->exited) {
        kill(c->pid, SIGTERM);
        if (!fmt_wait_until(child_exited, c, 10000)) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            c->exited = 1;
        }
    }
}

static int
file_exists(void *ud)
{
    struct stat sb;
    return stat(ud, &sb) == 0;
}

/* Messages of topic/qid 0 readable from offset 0, pulled to the end. */
static int
count_queue(int port, const char *topic)
{
    int fd = fmt_connect(port, 5000);
    int64_t offset = 0;
    int total = 0;
    assert_true(fd >= 0);
    for (;;) {
        fmt_resp r = {0};
        int n;
        if (fmt_pull(fd, "it-daemon", topic, 0, offset, 32, "*", "TAG", &r) != FM_RESP_SUCCESS) {
            fmt_resp_free(&r);
            break;
        }
        n = fmt_count_records(r.cmd.body);
        assert_true(n > 0);
        total += n;
        offset = strtoll(fmt_ext(&r, "nextBeginOffset"), NULL, 10);
        fmt_resp_free(&r);
    }
    close(fd);
    return total;
}

static void
send_n(int port, const char *topic, int n, int64_t *last_offset)
{
    int fd = fmt_connect(port, 5000);
    assert_true(fd >= 0);
    for (int i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof(body), "m-%d", i);
        assert_int_equal(fmt_send_msg(fd, topic, 0, body, NULL, NULL, last_offset, NULL, 0),
                         FM_RESP_SUCCESS);
    }
    close(fd);
}

static void
test_second_broker_on_a_live_store_is_refused(void **state)
{
    fmt_daemon d;
    child c;
    char log2[400], ready[400], want[64], port_arg[32];
    int64_t last = -1;
    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(fmt_daemon_start(&d, NULL, 10000), 0);
    send_n(d.remoting_port, "LockT", N_MSGS, &last);
    assert_int_equal(last, N_MSGS - 1);
    snprintf(log2, sizeof(log2), "%s/second.log", d.dir);
    snprintf(ready, sizeof(ready), "%s/ready", d.dir);
    snprintf(want, sizeof(want), "held by pid %d", (int)d.pid);

    /* Other ports (it used to run beside the first), then the first one's own port (it used
     * to run recovery on the live store before it failed to bind). */
    snprintf(port_arg, sizeof(port_arg), "--listenPort=%d", d.remoting_port);
    const char *variants[2][4] = {{"--listenPort=0", "--namesrvPort=0", NULL, NULL},
                                  {port_arg, "--namesrvPort=0", NULL, NULL}};
    for (int v = 0; v < 2; v++) {
        child_spawn(&c, d.dir, log2, variants[v]);
        if (!fmt_wait_until(child_exited, &c, 10000)) {
            child_stop(&c);
            fail_msg("a second broker on the same store kept running (variant %d)", v);
        }
        assert_true(WIFEXITED(c.status));
        assert_int_equal(WEXITSTATUS(c.status), 1);
        assert_true(fmt_file_contains(log2, want));
        assert_true(fmt_file_contains(log2, "FM-DAEMON-START-FAIL"));
        /* the first broker's ready file is untouched and still names it */
        snprintf(want, sizeof(want), "pid=%d", (int)d.pid);
        assert_true(fmt_file_contains(ready, want));
        snprintf(want, sizeof(want), "held by pid %d", (int)d.pid);
    }

    /* The live broker lost nothing and its queue was not trimmed: the next send continues. */
    assert_int_equal(count_queue(d.remoting_port, "LockT"), N_MSGS);
    send_n(d.remoting_port, "LockT", 1, &last);
    assert_int_equal(last, N_MSGS);

    /* After the holder is gone (even by kill -9) the store opens again: the lock is the
     * kernel's, a leftover lock file does not block. */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 5000) != 0);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(count_queue(d.remoting_port, "LockT"), N_MSGS + 1);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

static void
test_namesrv_in_a_broker_dir_keeps_to_its_own_ready_file(void **state)
{
    fmt_daemon d;
    child ns, ns2;
    char log_ns[400], log_ns2[400], ready[400], ns_ready[400], want[64];
    const char *ns_args[] = {"--role=namesrv", "--namesrvPort=0", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(fmt_daemon_start(&d, NULL, 10000), 0);
    snprintf(ready, sizeof(ready), "%s/ready", d.dir);
    snprintf(ns_ready, sizeof(ns_ready), "%s/namesrv.ready", d.dir);
    snprintf(log_ns, sizeof(log_ns), "%s/ns.log", d.dir);
    snprintf(log_ns2, sizeof(log_ns2), "%s/ns2.log", d.dir);
    snprintf(want, sizeof(want), "pid=%d", (int)d.pid);

    child_spawn(&ns, d.dir, log_ns, ns_args);
    assert_true(fmt_wait_until(file_exists, ns_ready, 10000));
    assert_false(child_exited(&ns));
    assert_true(fmt_file_contains(ready, want));

    /* A second name server on the same directory is refused, naming the first. */
    child_spawn(&ns2, d.dir, log_ns2, ns_args);
    assert_true(fmt_wait_until(child_exited, &ns2, 10000));
    assert_true(WIFEXITED(ns2.status) && WEXITSTATUS(ns2.status) == 1);
    {
        char holder[64];
        snprintf(holder, sizeof(holder), "held by pid %d", (int)ns.pid);
        assert_true(fmt_file_contains(log_ns2, holder));
    }
    assert_true(file_exists(ns_ready));

    /* Its clean stop removes its own ready file only. */
    child_stop(&ns);
    assert_true(WIFEXITED(ns.status) && WEXITSTATUS(ns.status) == 0);
    assert_false(file_exists(ns_ready));
    assert_true(fmt_file_contains(ready, want));
    assert_true(fmt_daemon_alive(&d));
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

static void
test_bound_address_is_advertised(void **state)
{
    fmt_daemon d;
    fmt_resp r = {0};
    char want[64];
    const char *extra[] = {"--bindAddress=127.0.0.1", NULL};
    const char *kv[] = {"topic", "TBW102", NULL};
    int fd;
    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(fmt_daemon_start(&d, extra, 10000), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", d.remoting_port);
    fd = fmt_connect(d.namesrv_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_ROUTEINFO_BY_TOPIC, kv,
                                 fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
    {
        char body[4096];
        size_t n = r.cmd.body.len < sizeof(body) - 1 ? r.cmd.body.len : sizeof(body) - 1;
        memcpy(body, r.cmd.body.ptr, n);
        body[n] = '\0';
        if (strstr(body, want) == NULL) {
            fail_msg("route does not advertise %s: %s", want, body);
        }
    }
    fmt_resp_free(&r);
    close(fd);
    {
        char line[96];
        snprintf(line, sizeof(line), "FM-BROKER-LISTENING addr=%s", want);
        assert_int_equal(fmt_log_count(&d, line), 1);
    }
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

/* The soft and hard "Max open files" of pid, from /proc/PID/limits. */
static void
open_files_limits(pid_t pid, long long *soft, long long *hard)
{
    char path[64], line[256];
    FILE *f;
    *soft = *hard = -1;
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Max open files", 14) == 0) {
            assert_int_equal(sscanf(line + 14, "%lld %lld", soft, hard), 2);
        }
    }
    fclose(f);
}

static void
test_soft_open_files_limit_is_raised_to_the_hard_one(void **state)
{
    fmt_daemon d;
    struct rlimit old, low;
    long long soft, hard;
    char line[96];
    int started;
    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max == RLIM_INFINITY || old.rlim_max <= 256) {
        skip(); /* nothing to raise to */
    }
    low = old;
    low.rlim_cur = 256; /* inherited by the daemon, as a systemd service's 1024 would be */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    memset(&d, 0, sizeof(d));
    started = fmt_daemon_start(&d, NULL, 10000);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(started, 0);
    open_files_limits(d.pid, &soft, &hard);
    assert_int_equal(hard, (long long)old.rlim_max);
    assert_int_equal(soft, hard);
    snprintf(line, sizeof(line), "FM-DAEMON-LIMITS nofile=%lld ", hard);
    assert_int_equal(fmt_log_count(&d, line), 1);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

struct file_has {
    const char *path, *needle;
};

static int
file_has(void *ud)
{
    struct file_has *f = ud;
    return fmt_file_contains(f->path, f->needle);
}

static void
test_log_file_is_reopened_on_sighup(void **state)
{
    fmt_daemon d;
    char dir[] = "/tmp/fmlogs-XXXXXX", file[128], rotated[160], arg[256], bad[200];
    const char *extra[] = {arg, NULL};
    struct file_has w;
    int before;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/broker.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/broker.log.1", dir);
    snprintf(arg, sizeof(arg), "--logFile=%s", file);
    memset(&d, 0, sizeof(d));
    assert_int_equal(fmt_daemon_start(&d, extra, 10000), 0);
    /* both: the file and standard error (the test's own log) */
    assert_true(fmt_file_contains(file, "FM-DAEMON-STARTED"));
    assert_true(fmt_log_count(&d, "FM-DAEMON-STARTED") >= 1);

    /* logrotate: move the file away, then SIGHUP */
    assert_int_equal(rename(file, rotated), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    w = (struct file_has){file, "FM-DAEMON-LOG-REOPENED"};
    assert_true(fmt_wait_until(file_has, &w, 10000));
    assert_true(fmt_daemon_alive(&d));
    assert_false(fmt_file_contains(rotated, "FM-DAEMON-LOG-REOPENED"));
    /* later lines go to the new file only; the broker still serves */
    before = fmt_log_count(&d, "FM-DAEMON-SIGNAL");
    assert_int_equal(fmt_daemon_stop(&d, SIGTERM, 10000), 0);
    assert_true(fmt_log_count(&d, "FM-DAEMON-SIGNAL") > before);
    assert_true(fmt_file_contains(file, "FM-DAEMON-STOPPED"));
    assert_false(fmt_file_contains(rotated, "FM-DAEMON-STOPPED"));
    fmt_daemon_cleanup(&d);

    /* a file that cannot be opened stops the start, naming it */
    snprintf(bad, sizeof(bad), "%s/no/such/dir/x.log", dir);
    snprintf(arg, sizeof(arg), "--logFile=%s", bad);
    memset(&d, 0, sizeof(d));
    assert_int_not_equal(fmt_daemon_start(&d, extra, 5000), 0);
    assert_true(fmt_log_count(&d, "FM-DAEMON-START-FAIL") == 1);
    assert_true(fmt_log_count(&d, "No such file or directory") == 1);
    fmt_daemon_cleanup(&d);
    unlink(file);
    unlink(rotated);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_broker_on_a_live_store_is_refused),
        cmocka_unit_test(test_namesrv_in_a_broker_dir_keeps_to_its_own_ready_file),
        cmocka_unit_test(test_bound_address_is_advertised),
        cmocka_unit_test(test_soft_open_files_limit_is_raised_to_the_hard_one),
        cmocka_unit_test(test_log_file_is_reopened_on_sighup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
