/*
 * Bad input over real sockets: truncated frames, huge and tiny lengths, bad JSON and binary
 * headers, unknown codes, missing or mistyped fields. Each gets an error response or that
 * connection closed; the broker keeps serving a connection opened before and one after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static fmt_daemon d;
static int keeper = -1; /* opened before the abuse, used after it */

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--maxFrameSize=1m", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    keeper = fmt_connect(d.remoting_port, 5000);
    return keeper >= 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    close(keeper);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* Write raw bytes and return 1 when the broker closes the connection (bounded wait). */
static int
closed_after(const void *bytes, size_t n)
{
    uint8_t buf[4096];
    int fd = fmt_connect(d.remoting_port, 5000);
    ssize_t r;
    assert_true(fd >= 0);
    assert_int_equal(fmt_write_all(fd, bytes, n), 0);
    /* the socket has a 5 s receive timeout: EOF (0) means closed, -1 means it hung */
    do {
        r = recv(fd, buf, sizeof(buf), 0);
    } while (r > 0);
    close(fd);
    return r == 0;
}

static void
frame(uint8_t *out, uint32_t total, uint8_t type, uint32_t hlen)
{
    out[0] = (uint8_t)(total >> 24);
    out[1] = (uint8_t)(total >> 16);
    out[2] = (uint8_t)(total >> 8);
    out[3] = (uint8_t)total;
    out[4] = type;
    out[5] = (uint8_t)(hlen >> 16);
    out[6] = (uint8_t)(hlen >> 8);
    out[7] = (uint8_t)hlen;
}

static void
still_serving(void)
{
    /* the connection opened before, and a fresh one, both still work */
    int fd = fmt_connect(d.remoting_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(fmt_send_msg(keeper, "Survivor", 0, "x", NULL, NULL, NULL, NULL, 0), 0);
    assert_int_equal(fmt_send_msg(fd, "Survivor", 0, "y", NULL, NULL, NULL, NULL, 0), 0);
    close(fd);
    assert_true(fmt_daemon_alive(&d));
}

static void
test_two_gib_length_closes_connection(void **state)
{
    uint8_t b[8];
    (void)state;
    frame(b, 0x80000000u, 0, 4);
    assert_true(closed_after(b, 8));
    frame(b, 0x7FFFFFFFu, 0, 4);
    assert_true(closed_after(b, 8));
    frame(b, 2 * 1024 * 1024, 0, 4); /* over maxFrameSize=1m */
    assert_true(closed_after(b, 8));
    still_serving();
}

static void
test_length_below_minimum_closes_connection(void **state)
{
    uint8_t b[8];
    (void)state;
    frame(b, 2, 0, 0);
    assert_true(closed_after(b, 8));
    still_serving();
}

static void
test_truncated_frame_then_hangup(void **state)
{
    uint8_t b[20];
    int fd = fmt_connect(d.remoting_port, 5000);
    (void)state;
    frame(b, 100, 0, 50);
    memcpy(b + 8, "{\"code\":10,\"x", 12);
    assert_true(fd >= 0);
    assert_int_equal(fmt_write_all(fd, b, sizeof(b)), 0);
    close(fd); /* the rest never comes */
    still_serving();
}

static void
test_bad_headers_close_connection(void **state)
{
    uint8_t b[64];
    const char *bad_json = "{not json";
    const char *array = "[1,2,3]";
    const char *no_code = "{\"opaque\":1}";
    const char *str_code = "{\"code\":\"ten\",\"opaque\":1}";
    const char *bad_ext = "{\"code\":10,\"opaque\":1,\"extFields\":[1]}";
    const char *const cases[] = {bad_json, array, no_code, str_code, bad_ext};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i]);
        frame(b, (uint32_t)(4 + n), 0, (uint32_t)n);
        memcpy(b + 8, cases[i], n);
        assert_true(closed_after(b, 8 + n));
    }
    /* header length larger than the frame */
    frame(b, 10, 0, 500);
    memcpy(b + 8, "{}", 2);
    assert_true(closed_after(b, 14));
    /* unknown serialize type */
    frame(b, 6, 7, 2);
    memcpy(b + 8, "{}", 2);
    assert_true(closed_after(b, 10));
    /* binary header whose remark length runs past the header */
    memset(b, 0, sizeof(b));
    frame(b, 4 + 21, 1, 21);
    b[8] = 0;
    b[9] = 10;    /* code 10 */
    b[21] = 0x7F; /* remark length 0x7F000000 */
    assert_true(closed_after(b, 8 + 21));
    still_serving();
}

static void
test_unknown_code_and_bad_fields_get_error_responses(void **state)
{
    fmt_resp r = {0};
    (void)state;
    assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, 9999, NULL, fm_slice_make(NULL, 0), &r),
                     0);
    assert_int_equal(r.cmd.code, FM_RESP_REQUEST_CODE_NOT_SUPPORTED);
    assert_non_null(memmem(r.cmd.remark.ptr, r.cmd.remark.len, "9999", 4));
    {
        const char *kv[] = {"consumerGroup", "g", "queueId", "0", "queueOffset", "0",
                            "maxMsgNums",    "1", NULL};
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_ROCKETMQ, FM_REQ_PULL_MESSAGE, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_non_null(memmem(r.cmd.remark.ptr, r.cmd.remark.len, "topic", 5));
    }
    {
        const char *kv[] = {"topic", "T", "queueId", "zero", NULL};
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, FM_REQ_GET_MAX_OFFSET, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_non_null(memmem(r.cmd.remark.ptr, r.cmd.remark.len, "queueId", 7));
    }
    {
        /* invalid topic name and a heartbeat body that is not JSON */
        const char *kv[] = {"b", "bad topic!", "e", "0", "a", "p", NULL};
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv,
                                     FM_SLICE_LIT("x"), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, FM_REQ_HEART_BEAT, NULL,
                                     FM_SLICE_LIT("\x01\x02garbage"), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    }
    {
        /* a property string that does not parse is refused, not stored */
        const char *kv[] = {"b", "Survivor", "e", "0", "a", "p", "i", "no-separators", NULL};
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv,
                                     FM_SLICE_LIT("x"), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_MESSAGE_ILLEGAL);
    }
    {
        /* queue id beyond the topic's queues */
        const char *kv[] = {"b", "Survivor", "e", "4096", "a", "p", NULL};
        assert_int_equal(fmt_send_msg(keeper, "Survivor", 0, "x", NULL, NULL, NULL, NULL, 0), 0);
        assert_int_equal(fmt_request(keeper, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv,
                                     FM_SLICE_LIT("x"), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
    }
    fmt_resp_free(&r);
    still_serving();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_gib_length_closes_connection),
        cmocka_unit_test(test_length_below_minimum_closes_connection),
        cmocka_unit_test(test_truncated_frame_then_hangup),
        cmocka_unit_test(test_bad_headers_close_connection),
        cmocka_unit_test(test_unknown_code_and_bad_fields_get_error_responses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
