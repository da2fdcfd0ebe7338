/*
 * libferrymq against a real ferrymqd: configuration errors, sync sends (auto-created topic
 * through TBW102, existing topic spread over its queues), message fields as stored, body
 * compression, an unreachable name server.
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

#include <arpa/inet.h>
#include <ferrymq.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static fmt_daemon d;
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

static ferrymq_producer *
producer(const char *namesrv)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_producer *p = NULL;
    char err[256];
    assert_non_null(conf);
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", namesrv, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_conf_set(conf, "sendMsgTimeout", "2000", err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf); /* the producer keeps its own copy */
    return p;
}

static void
test_client_conf_rejects_bad_options(void **state)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_producer *p = NULL;
    char err[256];
    (void)state;
    assert_int_equal(ferrymq_conf_set(conf, "noSuchOption", "1", err, sizeof(err)), FERRYMQ_EINVAL);
    assert_non_null(strstr(err, "noSuchOption"));
    assert_int_equal(ferrymq_conf_set(conf, "sendMsgTimeout", "soon", err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_EINVAL);
    assert_non_null(strstr(err, "namesrvAddr"));
    assert_null(ferrymq_msg_new("", "x", 1));
    ferrymq_conf_free(conf);
    ferrymq_conf_free(NULL);
    assert_int_equal(ferrymq_version(), FERRYMQ_VERSION);
    assert_string_equal(ferrymq_strerror(FERRYMQ_ETIMEDOUT), "timed out");
}

static void
test_client_send_stores_message_fields(void **state)
{
    ferrymq_producer *p = producer(ns);
    ferrymq_msg *m = ferrymq_msg_new("ClientAuto", "hello client", 12);
    ferrymq_send_result res;
    char err[256];
    fmt_resp r = {0};
    int fd;
    (void)state;
    assert_int_equal(ferrymq_msg_set_tags(m, "TagC"), FERRYMQ_OK);
    assert_int_equal(ferrymq_msg_set_keys(m, "order-1 user-9"), FERRYMQ_OK);
    assert_int_equal(ferrymq_msg_set_property(m, "region", "eu"), FERRYMQ_OK);
    assert_int_equal(ferrymq_msg_set_property(m, "bad\x01", "x"), FERRYMQ_EINVAL);
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    /* the topic does not exist yet: routed through TBW102 and created by the broker */
    assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(strlen(res.msg_id), 32);
    assert_int_equal(strlen(res.offset_msg_id), 32);
    assert_string_equal(res.broker_name, "broker-a");
    assert_int_equal(res.queue_offset, 0);

    fd = fmt_connect(d.remoting_port, 5000);
    {
        char qid[16];
        snprintf(qid, sizeof(qid), "%d", res.queue_id);
        const char *kv[] = {"consumerGroup",
                            "g",
                            "topic",
                            "ClientAuto",
                            "queueId",
                            qid,
                            "queueOffset",
                            "0",
                            "maxMsgNums",
                            "8",
                            "sysFlag",
                            "0",
                            "commitOffset",
                            "0",
                            "suspendTimeoutMillis",
                            "0",
                            "subscription",
                            "*",
                            "subVersion",
                            "0",
                            NULL};
        fm_msg_view v;
        assert_int_equal(
            fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), &r),
            0);
        assert_int_equal(r.cmd.code, FM_RESP_SUCCESS);
        assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &v, NULL), FM_OK);
        assert_true(fm_slice_eq_cstr(v.body, "hello client"));
        assert_true(fm_slice_eq_cstr(fm_props_get(v.properties, "TAGS"), "TagC"));
        assert_true(fm_slice_eq_cstr(fm_props_get(v.properties, "KEYS"), "order-1 user-9"));
        assert_true(fm_slice_eq_cstr(fm_props_get(v.properties, "region"), "eu"));
        assert_true(fm_slice_eq_cstr(fm_props_get(v.properties, "UNIQ_KEY"), res.msg_id));
    }
    fmt_resp_free(&r);
    close(fd);
    ferrymq_msg_free(m);
    assert_int_equal(ferrymq_producer_close(p, 1000), FERRYMQ_OK);
}

static void
test_client_spreads_over_queues_and_compresses(void **state)
{
    ferrymq_producer *p = producer(ns);
    ferrymq_send_result res;
    char err[256];
    int used[8] = {0};
    char *big = malloc(20000);
    fmt_resp r = {0};
    int fd;
    (void)state;
    memset(big, 'z', 20000);
    fd = fmt_connect(d.remoting_port, 5000);
    {
        const char *kv[] = {
            "topic", "ClientSpread", "readQueueNums", "8", "writeQueueNums", "8", "perm", "6",
            NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
    }
    for (int i = 0; i < 16; i++) {
        ferrymq_msg *m = ferrymq_msg_new("ClientSpread", "x", 1);
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
        assert_true(res.queue_id >= 0 && res.queue_id < 8);
        used[res.queue_id]++;
        ferrymq_msg_free(m);
    }
    for (int q = 0; q < 8; q++) {
        assert_int_equal(used[q], 2);
    }
    {
        /* a 20,000-byte body goes compressed and comes back whole after inflate */
        ferrymq_msg *m = ferrymq_msg_new("ClientSpread", big, 20000);
        char qid[16], off[24];
        fm_msg_view v;
        uint8_t *out = malloc(20000);
        uLongf outlen = 20000;
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
        snprintf(qid, sizeof(qid), "%d", res.queue_id);
        snprintf(off, sizeof(off), "%lld", (long long)res.queue_offset);
        const char *kv[] = {"consumerGroup",
                            "g",
                            "topic",
                            "ClientSpread",
                            "queueId",
                            qid,
                            "queueOffset",
                            off,
                            "maxMsgNums",
                            "1",
                            "sysFlag",
                            "0",
                            "commitOffset",
                            "0",
                            "suspendTimeoutMillis",
                            "0",
                            "subscription",
                            "*",
                            "subVersion",
                            "0",
                            NULL};
        assert_int_equal(
            fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), &r),
            0);
        assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &v, NULL), FM_OK);
        assert_true(v.sysflag & FM_MSG_SYSFLAG_COMPRESSED);
        assert_true(v.body.len < 1000);
        assert_int_equal(uncompress(out, &outlen, v.body.ptr, v.body.len), Z_OK);
        assert_int_equal(outlen, 20000);
        assert_memory_equal(out, big, 20000);
        free(out);
        ferrymq_msg_free(m);
    }
    fmt_resp_free(&r);
    close(fd);
    free(big);
    ferrymq_producer_close(p, 1000);
}

static void
test_client_unreachable_namesrv_fails_fast(void **state)
{
    ferrymq_producer *p;
    ferrymq_msg *m = ferrymq_msg_new("T", "x", 1);
    ferrymq_send_result res;
    char err[256], addr[64];
    int port;
    int64_t t0;
    (void)state;
    /* a port nobody listens on: bind one, learn it, close it */
    {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    p = producer(addr);
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    t0 = fmt_now_ms();
    assert_int_not_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
    assert_true(strlen(err) > 0);
    assert_true(fmt_now_ms() - t0 < 10000);
    ferrymq_msg_free(m);
    ferrymq_producer_close(p, 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_conf_rejects_bad_options),
        cmocka_unit_test(test_client_send_stores_message_fields),
        cmocka_unit_test(test_client_spreads_over_queues_and_compresses),
        cmocka_unit_test(test_client_unreachable_namesrv_fails_fast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
