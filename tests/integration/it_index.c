/*
 * The message index end to end against a real ferrymqd: messages produced with keys through
 * libferrymq are found by key (library and `ferrymq message find`), shown by either id
 * (`ferrymq message show` with the offset id and with the UNIQ_KEY), found again after kill -9
 * and a restart with a damaged index (rebuilt from the log), QUERY_MESSAGE answered as RocketMQ
 * answers it on the wire (found, not found, missing fields), and bad input to the CLI.
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
#include "proto/props.h"

#include <dirent.h>
#include <ferrymq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MSGS 30

static fmt_daemon d;
static char ns[64];
static char out[1 << 16];
static char uniq[N_MSGS][64], offid[N_MSGS][64];

static int
start(void)
{
    /* small index files: 30 messages x 3 entries roll over several of them */
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--maxHashSlotNum=64", "--maxIndexNum=32",
                           NULL};
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    return 0;
}

static ferrymq_admin *
admin(void)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_admin *a = NULL;
    char err[256];
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    return a;
}

/* N_MSGS messages on IxTopic: keys "order-<i> group-<i%3>", ids remembered. */
static int
setup(void **state)
{
    ferrymq_conf *conf;
    ferrymq_producer *p = NULL;
    char err[256];
    (void)state;
    if (start() != 0) {
        return -1;
    }
    conf = ferrymq_conf_new();
    ferrymq_conf_set(conf, "namesrvAddr", ns, NULL, 0);
    if (ferrymq_producer_new(conf, &p, err, sizeof(err)) != FERRYMQ_OK) {
        return -1;
    }
    ferrymq_conf_free(conf);
    {
        ferrymq_admin *a = admin();
        if (ferrymq_admin_create_topic(a, "IxTopic", 4, err, sizeof(err)) != FERRYMQ_OK) {
            return -1;
        }
        ferrymq_admin_free(a);
    }
    for (int i = 0; i < N_MSGS; i++) {
        char body[32], keys[64];
        ferrymq_send_result res;
        ferrymq_msg *m;
        snprintf(body, sizeof(body), "body-%d", i);
        snprintf(keys, sizeof(keys), "order-%d group-%d", i, i % 3);
        m = ferrymq_msg_new("IxTopic", body, strlen(body));
        ferrymq_msg_set_keys(m, keys);
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        if (ferrymq_producer_send(p, m, &res, err, sizeof(err)) != FERRYMQ_OK) {
            fprintf(stderr, "send: %s\n", err);
            return -1;
        }
        ferrymq_msg_free(m);
        snprintf(uniq[i], sizeof(uniq[i]), "%s", res.msg_id);
        snprintf(offid[i], sizeof(offid[i]), "%s", res.offset_msg_id);
    }
    ferrymq_producer_close(p, 5000);
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

/* The CLI with args against the daemon: stdout (then "--stderr--" and stderr) into out. */
static int
cli(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return fmt_cli_run(out, sizeof(out), d.dir, NULL, "-n %s %s", ns, args);
}

static int
count(const char *needle)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

/* Library: messages with key, each checked to carry it. */
static size_t
find(const char *key)
{
    ferrymq_admin *a = admin();
    ferrymq_msg **msgs = NULL;
    size_t n = 0;
    char err[256];
    int rc = ferrymq_admin_query_message(a, "IxTopic", key, 64, 0, INT64_MAX, &msgs, &n, err,
                                         sizeof(err));
    ferrymq_admin_free(a);
    if (rc == FERRYMQ_ENOTFOUND) {
        return 0;
    }
    assert_int_equal(rc, FERRYMQ_OK);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(strstr(ferrymq_msg_keys(msgs[i]), key));
    }
    ferrymq_msgs_free(msgs, n);
    return n;
}

static void
test_index_find_by_key(void **state)
{
    char key[32];
    (void)state;
    for (int i = 0; i < N_MSGS; i++) {
        snprintf(key, sizeof(key), "order-%d", i);
        assert_int_equal(find(key), 1);
    }
    assert_int_equal(find("group-1"), N_MSGS / 3);
    assert_int_equal(find("no-such-key"), 0);
    /* the CLI: one line per message, or JSON */
    assert_int_equal(cli("message find -t IxTopic --key group-2"), 0);
    assert_int_equal(count("body="), N_MSGS / 3);
    assert_int_equal(cli("message find -t IxTopic --key order-7 --json"), 0);
    assert_int_equal(count("\"body\":\"body-7\""), 1);
    assert_non_null(strstr(out, uniq[7]));
    assert_int_equal(cli("message find -t IxTopic --key nothing-here"), 1);
    assert_non_null(strstr(out, "no message with key 'nothing-here'"));
}

static void
test_index_show_by_either_id(void **state)
{
    (void)state;
    /* the offset id (SEND reply's offset_msg_id): no topic needed */
    assert_int_equal(cli("message show %s", offid[4]), 0);
    assert_non_null(strstr(out, "\"body\":\"body-4\""));
    /* the UNIQ_KEY (SendResult.getMsgId, the Dashboard's id), with its topic */
    assert_int_equal(cli("message show %s -t IxTopic", uniq[5]), 0);
    assert_non_null(strstr(out, "\"body\":\"body-5\""));
    assert_non_null(strstr(out, offid[5]));
    /* the offset id with a topic is still an offset id */
    assert_int_equal(cli("message show -t IxTopic %s", offid[6]), 0);
    assert_non_null(strstr(out, "\"body\":\"body-6\""));
    /* a UNIQ_KEY without a topic cannot be looked up: a usage error that says so */
    assert_int_equal(cli("message show %s", uniq[5]), 2);
    assert_non_null(strstr(out, "needs its topic"));
    /* a well-formed id nobody has */
    assert_int_equal(cli("message show 0A0B0C0DFFFF0000000000000000FFFF -t IxTopic"), 1);
    /* library: either id through the same call */
    {
        ferrymq_admin *a = admin();
        ferrymq_msg *m = NULL;
        char err[256];
        assert_int_equal(ferrymq_admin_message_by_id(a, "IxTopic", uniq[9], &m, err, sizeof(err)),
                         FERRYMQ_OK);
        assert_string_equal(ferrymq_msg_offset_id(m), offid[9]);
        ferrymq_msg_free(m);
        assert_int_equal(ferrymq_admin_message_by_id(a, NULL, offid[9], &m, err, sizeof(err)),
                         FERRYMQ_OK);
        assert_string_equal(ferrymq_msg_id(m), uniq[9]);
        ferrymq_msg_free(m);
        assert_int_equal(ferrymq_admin_query_uniq_key(a, "IxTopic", uniq[2], &m, err, sizeof(err)),
                         FERRYMQ_OK);
        assert_string_equal(ferrymq_msg_id(m), uniq[2]);
        ferrymq_msg_free(m);
        assert_int_equal(
            ferrymq_admin_query_uniq_key(a, "IxTopic", uniq[2] + 1, &m, err, sizeof(err)),
            FERRYMQ_ENOTFOUND);
        assert_int_equal(ferrymq_admin_message_by_id(a, "IxTopic", "xyz", &m, err, sizeof(err)),
                         FERRYMQ_EINVAL);
        ferrymq_admin_free(a);
    }
}

static void
test_index_bad_cli_input(void **state)
{
    (void)state;
    assert_int_equal(cli("message find --key k"), 2);    /* no topic */
    assert_int_equal(cli("message find -t IxTopic"), 2); /* no key */
    assert_int_equal(cli("message find -t IxTopic --key"), 2);
    assert_int_equal(cli("message find -t IxTopic --key k --bogus"), 2);
    assert_int_equal(cli("message find -t IxTopic --key k extra"), 2);
    assert_int_equal(cli("message show"), 2);
    assert_int_equal(cli("message show %s %s", offid[0], offid[1]), 2);
    assert_int_equal(cli("message show %s --frobnicate", offid[0]), 2);
    assert_int_equal(cli("message show not-an-id"), 2);
    assert_int_equal(cli("message delete x"), 2);
}

/* QUERY_MESSAGE on the wire, as RocketMQ's QueryMessageProcessor answers it. */
static void
test_index_query_message_wire(void **state)
{
    fmt_resp r = {0};
    int fd = fmt_connect(d.remoting_port, 5000);
    (void)state;
    assert_true(fd >= 0);
    {
        const char *kv[] = {"topic", "IxTopic",        "key", "group-0",      "maxNum",
                            "4",     "beginTimestamp", "0",   "endTimestamp", "9223372036854775807",
                            NULL};
        size_t pos = 0;
        int n = 0;
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        assert_true(atoll(fmt_ext(&r, "indexLastUpdateTimestamp")) > 0);
        assert_true(atoll(fmt_ext(&r, "indexLastUpdatePhyoffset")) > 0);
        /* the body is stored records back to back, at most maxNum of them */
        while (pos < r.cmd.body.len) {
            fm_msg_view m;
            assert_int_equal(fm_msg_decode(r.cmd.body.ptr + pos, r.cmd.body.len - pos, &m, NULL),
                             FM_OK);
            assert_non_null(memmem(m.properties.ptr, m.properties.len, "group-0", 7));
            pos += m.total_size;
            n++;
        }
        assert_int_equal(n, 4);
    }
    {
        /* by UNIQ_KEY: _UNIQUE_KEY_QUERY=true */
        const char *kv[] = {"topic",
                            "IxTopic",
                            "key",
                            uniq[3],
                            "maxNum",
                            "1",
                            "beginTimestamp",
                            "0",
                            "endTimestamp",
                            "9223372036854775807",
                            "_UNIQUE_KEY_QUERY",
                            "true",
                            NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_QUERY_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        assert_non_null(memmem(r.cmd.body.ptr, r.cmd.body.len, "body-3", 6));
    }
    {
        const char *kv[] = {"topic", "IxTopic",        "key", "absent",       "maxNum",
                            "32",    "beginTimestamp", "0",   "endTimestamp", "9223372036854775807",
                            NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_QUERY_NOT_FOUND);
        assert_string_equal(fmt_remark(&r), "can not find message, maybe time range not correct");
        assert_true(atoll(fmt_ext(&r, "indexLastUpdateTimestamp")) > 0);
        assert_int_equal(r.cmd.body.len, 0);
    }
    {
        /* a missing field is an error response, never a crash */
        const char *kv[] = {"topic", "IxTopic", "key", "group-0", "maxNum", "4", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_non_null(strstr(fmt_remark(&r), "beginTimestamp"));
    }
    {
        const char *kv[] = {"topic", "IxTopic",        "key", "group-0",      "maxNum",
                            "many",  "beginTimestamp", "0",   "endTimestamp", "1",
                            NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_QUERY_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    }
    {
        /* VIEW_MESSAGE_BY_ID at an offset where no record starts: RocketMQ's answer */
        const char *kv[] = {"offset", "3", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_VIEW_MESSAGE_BY_ID, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_string_equal(fmt_remark(&r), "can not find message by the offset, 3");
    }
    fmt_resp_free(&r);
    close(fd);
}

/* Newest index file of the daemon's store. */
static void
newest_index_file(char *path, size_t cap)
{
    char dir[400], best[32] = "";
    DIR *dd;
    struct dirent *de;
    snprintf(dir, sizeof(dir), "%s/index", d.dir);
    dd = opendir(dir);
    assert_non_null(dd);
    while ((de = readdir(dd)) != NULL) {
        if (strlen(de->d_name) == 20 && strcmp(de->d_name, best) > 0) {
            memcpy(best, de->d_name, 21); /* 20 digits and the NUL */
        }
    }
    closedir(dd);
    assert_true(best[0] != '\0');
    snprintf(path, cap, "%s/%s", dir, best);
}

static void
test_index_after_kill9_and_damage_is_rebuilt(void **state)
{
    char path[500];
    (void)state;
    /* kill -9: the index lives in the page cache like the log, so it is all still there */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 5000) != -1);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    assert_int_equal(find("group-1"), N_MSGS / 3);
    assert_int_equal(find("order-29"), 1);
    /* kill -9 again, and garble the newest index file: detected, deleted, rebuilt from the
     * log, and everything is found again */
    assert_true(fmt_daemon_stop(&d, SIGKILL, 5000) != -1);
    newest_index_file(path, sizeof(path));
    {
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        fwrite("garbage!", 1, 8, f);
        fclose(f);
    }
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", d.namesrv_port);
    assert_int_equal(fmt_wait_log(&d, "FM-STORE-INDEX-BAD", 5000), 1);
    assert_int_equal(fmt_wait_log(&d, "FM-STORE-INDEX-REBUILT", 5000), 1);
    for (int i = 0; i < N_MSGS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "order-%d", i);
        assert_int_equal(find(key), 1);
    }
    assert_int_equal(find("group-0"), N_MSGS / 3);
    assert_int_equal(cli("message show %s -t IxTopic", uniq[29]), 0);
    assert_non_null(strstr(out, "\"body\":\"body-29\""));
    assert_int_equal(find("no-such-key"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_find_by_key),
        cmocka_unit_test(test_index_show_by_either_id),
        cmocka_unit_test(test_index_bad_cli_input),
        cmocka_unit_test(test_index_query_message_wire),
        cmocka_unit_test(test_index_after_kill9_and_damage_is_rebuilt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
