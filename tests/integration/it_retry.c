/*
 * Delay levels, consumer retries and the dead-letter queue against a real ferrymqd started
 * with short levels (messageDelayLevel="1s 1s 2s"): a producer's DELAY message appears in its
 * topic only after its level's delay; CONSUMER_SEND_MSG_BACK puts a message in %RETRY%<group>
 * after the level's delay (3 + reconsume times by default, clamped to the last level), with
 * RECONSUMETIMES + 1, RETRY_TOPIC and ORIGIN_MESSAGE_ID, the original properties and id; after
 * maxReconsumeTimes it goes to %DLQ%<group> at once. Waits use long-polling pulls, not sleeps.
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
#include "proto/msgid.h"
#include "proto/props.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fmt_daemon d;
static int fd = -1;

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--messageDelayLevel=1s 1s 2s", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    fd = fmt_connect(d.remoting_port, 5000);
    return fd >= 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    close(fd);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* SEND_MESSAGE_V2 of body with tag, one user property and an optional DELAY level. */
static int
send_one(const char *topic, const char *body, const char *delay, const char *uniq)
{
    fm_buf props = {0};
    fmt_resp r = {0};
    char born[24];
    int code = -1;
    snprintf(born, sizeof(born), "%lld", (long long)fmt_now_ms());
    fm_props_append(&props, FM_SLICE_LIT("TAGS"), FM_SLICE_LIT("TagR"));
    fm_props_append(&props, FM_SLICE_LIT("order"), FM_SLICE_LIT("o-77"));
    fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), fm_slice_cstr(uniq));
    if (delay != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("DELAY"), fm_slice_cstr(delay));
    }
    fm_buf_append_u8(&props, 0);
    {
        const char *kv[] = {"a", "p", "b", topic,   "c",  "TBW102", "d", "1", "e",
                            "0", "f", "0", "g",     born, "h",      "0", "i", (char *)props.data,
                            "j", "0", "k", "false", NULL};
        if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv, fm_slice_cstr(body),
                        &r) == 0) {
            code = r.cmd.code;
        }
    }
    fmt_resp_free(&r);
    fm_buf_free(&props);
    return code;
}

/* Long-polling pull of one message from topic queue 0 at offset; copies its record into rec.
 * Returns the response code. */
static int
pull_one(const char *topic, int64_t offset, int suspend_ms, fm_buf *rec)
{
    char off[24], sus[16];
    fmt_resp r = {0};
    int code = -1;
    snprintf(off, sizeof(off), "%" PRId64, offset);
    snprintf(sus, sizeof(sus), "%d", suspend_ms);
    const char *kv[] = {"consumerGroup",
                        "it-retry",
                        "topic",
                        topic,
                        "queueId",
                        "0",
                        "queueOffset",
                        off,
                        "maxMsgNums",
                        "1",
                        "sysFlag",
                        suspend_ms ? "6" : "4",
                        "commitOffset",
                        "0",
                        "suspendTimeoutMillis",
                        sus,
                        "subVersion",
                        "0",
                        "subscription",
                        "*",
                        NULL};
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), &r) ==
        0) {
        code = r.cmd.code;
        fm_buf_reset(rec);
        fm_buf_append(rec, r.cmd.body.ptr, r.cmd.body.len);
    }
    fmt_resp_free(&r);
    return code;
}

/* Wait (bounded) for the message at offset of topic; decode it into m (slices into rec). */
static void
await_msg(const char *topic, int64_t offset, fm_buf *rec, fm_msg_view *m)
{
    int64_t deadline = fmt_now_ms() + 10000;
    for (;;) {
        int code = pull_one(topic, offset, 3000, rec);
        if (code == FM_RESP_SUCCESS) {
            break;
        }
        assert_true(code == FM_RESP_PULL_NOT_FOUND || code == FM_RESP_PULL_RETRY_IMMEDIATELY);
        if (fmt_now_ms() > deadline) {
            fail_msg("no message at %s offset %" PRId64 " within 10 s", topic, offset);
        }
    }
    assert_int_equal(fm_msg_decode(rec->data, rec->len, m, NULL), FM_OK);
}

static void
expect_prop(const fm_msg_view *m, const char *name, const char *want)
{
    fm_slice v = fm_props_get(m->properties, name);
    if (want == NULL) {
        if (v.ptr != NULL) {
            fail_msg("property %s present: %.*s", name, (int)v.len, (const char *)v.ptr);
        }
        return;
    }
    if (!fm_slice_eq(v, fm_slice_cstr(want))) {
        fail_msg("property %s: want %s, got %.*s", name, want, (int)v.len,
                 v.ptr ? (const char *)v.ptr : "(absent)");
    }
}

static int
send_back(int64_t phys, const char *group, int delay_level, int max_times)
{
    char off[24], lvl[16], mx[16];
    fmt_resp r = {0};
    int code = -1;
    snprintf(off, sizeof(off), "%" PRId64, phys);
    snprintf(lvl, sizeof(lvl), "%d", delay_level);
    snprintf(mx, sizeof(mx), "%d", max_times);
    const char *kv[] = {"offset",
                        off,
                        "group",
                        group,
                        "delayLevel",
                        lvl,
                        "originTopic",
                        "RetryT",
                        "maxReconsumeTimes",
                        mx,
                        NULL};
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_CONSUMER_SEND_MSG_BACK, kv,
                    fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
    }
    fmt_resp_free(&r);
    return code;
}

static void
test_delay_level_message_waits(void **state)
{
    fm_buf rec = {0};
    fm_msg_view m;
    int64_t t0 = fmt_wall_ms();
    (void)state;
    assert_int_equal(send_one("DelayT", "later", "2", "UNIQ-DELAY-1"), FM_RESP_SUCCESS);
    /* not there yet: the pull finds nothing in the topic */
    assert_int_equal(pull_one("DelayT", 0, 0, &rec), FM_RESP_PULL_NOT_FOUND);
    await_msg("DelayT", 0, &rec, &m);
    /* level 2 is 1 s: stored in its topic no sooner, and not much later (100 ms ticks) */
    assert_true(m.store_timestamp >= t0 + 1000);
    assert_true(m.store_timestamp <= t0 + 1000 + 5000);
    assert_true(fm_slice_eq(m.body, FM_SLICE_LIT("later")));
    expect_prop(&m, "DELAY", "2"); /* kept, as RocketMQ 4.9 keeps it on delivery */
    expect_prop(&m, "REAL_TOPIC", "DelayT");
    expect_prop(&m, "order", "o-77");
    expect_prop(&m, "TAGS", "TagR");
    expect_prop(&m, "UNIQ_KEY", "UNIQ-DELAY-1");
    /* a DELAY that is not a number is refused */
    assert_int_equal(send_one("DelayT", "x", "soon", "U2"), FM_RESP_MESSAGE_ILLEGAL);
    fm_buf_free(&rec);
}

static void
test_retries_follow_levels_then_dlq(void **state)
{
    fm_buf rec = {0};
    fm_msg_view m;
    char origin_id[FM_MSGID_MAX + 1];
    int64_t t;
    (void)state;
    assert_int_equal(send_one("RetryT", "fails", NULL, "UNIQ-RETRY-1"), FM_RESP_SUCCESS);
    await_msg("RetryT", 0, &rec, &m);
    fm_msgid_make(origin_id, m.store_host.ptr, m.store_host.len, (uint64_t)m.phys_offset);

    /* 1st failure, delayLevel 0: level 3 + 0 = 3, which is 2 s here */
    t = fmt_wall_ms();
    assert_int_equal(send_back(m.phys_offset, "rg", 0, 2), FM_RESP_SUCCESS);
    await_msg("%RETRY%rg", 0, &rec, &m);
    assert_true(m.store_timestamp >= t + 2000);
    assert_true(m.store_timestamp <= t + 2000 + 5000);
    assert_int_equal(m.reconsume_times, 1);
    expect_prop(&m, "RETRY_TOPIC", "RetryT");
    expect_prop(&m, "ORIGIN_MESSAGE_ID", origin_id);
    expect_prop(&m, "UNIQ_KEY", "UNIQ-RETRY-1");
    expect_prop(&m, "order", "o-77");
    expect_prop(&m, "TAGS", "TagR");
    assert_true(fm_slice_eq(m.body, FM_SLICE_LIT("fails")));

    /* 2nd failure with an explicit level 1 (1 s); level 3 + 1 = 4 would clamp to 3 */
    t = fmt_wall_ms();
    assert_int_equal(send_back(m.phys_offset, "rg", 1, 2), FM_RESP_SUCCESS);
    await_msg("%RETRY%rg", 1, &rec, &m);
    assert_true(m.store_timestamp >= t + 1000);
    assert_true(m.store_timestamp <= t + 1000 + 5000);
    assert_int_equal(m.reconsume_times, 2);
    expect_prop(&m, "RETRY_TOPIC", "RetryT");
    expect_prop(&m, "ORIGIN_MESSAGE_ID", origin_id);

    /* 3rd failure: reconsumed 2 >= maxReconsumeTimes 2, so straight to the DLQ: the pull right
     * after the send-back finds it, no delay */
    assert_int_equal(send_back(m.phys_offset, "rg", 0, 2), FM_RESP_SUCCESS);
    assert_int_equal(pull_one("%DLQ%rg", 0, 0, &rec), FM_RESP_SUCCESS);
    assert_int_equal(fm_msg_decode(rec.data, rec.len, &m, NULL), FM_OK);
    assert_int_equal(m.reconsume_times, 3);
    assert_true(fm_slice_eq(m.topic, FM_SLICE_LIT("%DLQ%rg")));
    expect_prop(&m, "RETRY_TOPIC", "RetryT");
    expect_prop(&m, "ORIGIN_MESSAGE_ID", origin_id);
    expect_prop(&m, "UNIQ_KEY", "UNIQ-RETRY-1");
    expect_prop(&m, "order", "o-77");
    expect_prop(&m, "TAGS", "TagR");
    assert_true(fm_slice_eq(m.body, FM_SLICE_LIT("fails")));
    /* nothing more went to the retry topic */
    assert_int_equal(pull_one("%RETRY%rg", 2, 0, &rec), FM_RESP_PULL_NOT_FOUND);
    fm_buf_free(&rec);
}

static void
test_negative_level_goes_to_dlq_and_bad_offset_fails(void **state)
{
    fm_buf rec = {0};
    fm_msg_view m;
    (void)state;
    assert_int_equal(send_one("RetryT", "poison", NULL, "UNIQ-POISON"), FM_RESP_SUCCESS);
    await_msg("RetryT", 1, &rec, &m);
    assert_int_equal(send_back(m.phys_offset, "pg", -1, 16), FM_RESP_SUCCESS);
    assert_int_equal(pull_one("%DLQ%pg", 0, 0, &rec), FM_RESP_SUCCESS);
    assert_int_equal(fm_msg_decode(rec.data, rec.len, &m, NULL), FM_OK);
    assert_int_equal(m.reconsume_times, 1);
    expect_prop(&m, "UNIQ_KEY", "UNIQ-POISON");
    /* a group name no retry topic can be made of, and a request without its offset */
    assert_int_equal(send_back(m.phys_offset, "bad group", 0, 16),
                     FM_RESP_SUBSCRIPTION_GROUP_NOT_EXIST);
    {
        fmt_resp r = {0};
        const char *kv[] = {"group", "pg", NULL};
        assert_int_equal(fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_CONSUMER_SEND_MSG_BACK, kv,
                                     fm_slice_make(NULL, 0), &r),
                         0);
        assert_int_equal(r.cmd.code, FM_RESP_SYSTEM_ERROR);
        fmt_resp_free(&r);
    }
    /* an offset where no record starts */
    assert_int_equal(send_back(m.phys_offset + 3, "pg", 0, 16), FM_RESP_SYSTEM_ERROR);
    assert_int_equal(send_back(-5, "pg", 0, 16), FM_RESP_SYSTEM_ERROR);
    fm_buf_free(&rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_level_message_waits),
        cmocka_unit_test(test_retries_follow_levels_then_dlq),
        cmocka_unit_test(test_negative_level_goes_to_dlq_and_bad_offset_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
