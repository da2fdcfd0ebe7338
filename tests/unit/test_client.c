/* client: route parsing (incl. fastjson's bare keys), received-message decoding, messages
 * and configuration, without a broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/client_int.h"
#include "client/push_int.h"

#include <cjson/cJSON.h>
#include "proto/msg.h"
#include "proto/props.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static client_route *
parse(const char *json, int want)
{
    client_route *r = NULL;
    fm_errbuf eb;
    assert_int_equal(fm_client_route_parse((const uint8_t *)json, strlen(json), &r, &eb), want);
    return r;
}

static void
test_route_fastjson_bare_keys_and_perms(void **state)
{
    /* as a stock RocketMQ name server writes it: brokerAddrs keys are bare numbers */
    const char *fj =
        "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.0.0.1:10911\",1:\"10.0.0.2:10911\"},"
        "\"brokerName\":\"b1\",\"cluster\":\"C\"},{\"brokerAddrs\":{1:\"10.0.0.9:10911\"},"
        "\"brokerName\":\"slave-only\"}],\"queueDatas\":[{\"brokerName\":\"b1\",\"perm\":6,"
        "\"readQueueNums\":4,\"writeQueueNums\":2,\"topicSysFlag\":0},{\"brokerName\":"
        "\"slave-only\",\"perm\":6,\"readQueueNums\":2,\"writeQueueNums\":2}],"
        "\"filterServerTable\":{}}";
    client_route *r = parse(fj, FM_OK);
    int w = 0, rd = 0;
    (void)state;
    /* slave-only has no master: none of its queues; b1 has max(4, 2) entries */
    assert_int_equal(r->n, 4);
    for (int i = 0; i < r->n; i++) {
        assert_string_equal(r->q[i].addr, "10.0.0.1:10911");
        w += r->q[i].writable;
        rd += r->q[i].readable;
    }
    assert_int_equal(w, 2);
    assert_int_equal(rd, 4);
    /* the writable ones first: producers index them directly */
    assert_int_equal(r->n_writable, 2);
    assert_true(r->q[0].writable && r->q[1].writable && !r->q[2].writable);
    free(r);
    /* read-only perm: readable, not writable; strings containing "{0:" are left alone */
    r = parse("{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"h:1\"},\"brokerName\":\"x{0:y\"}],"
              "\"queueDatas\":[{\"brokerName\":\"x{0:y\",\"perm\":4,\"readQueueNums\":1,"
              "\"writeQueueNums\":1}]}",
              FM_OK);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->n_writable, 0);
    assert_false(r->q[0].writable);
    assert_true(r->q[0].readable);
    assert_string_equal(r->q[0].broker_name, "x{0:y");
    free(r);
    /* two brokers with read-only tails: writable queues of both come first, each group in
     * route order */
    r = parse("{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"h:1\"},\"brokerName\":\"b1\"},"
              "{\"brokerAddrs\":{\"0\":\"h:2\"},\"brokerName\":\"b2\"}],\"queueDatas\":["
              "{\"brokerName\":\"b1\",\"perm\":6,\"readQueueNums\":2,\"writeQueueNums\":1},"
              "{\"brokerName\":\"b2\",\"perm\":6,\"readQueueNums\":2,\"writeQueueNums\":1}]}",
              FM_OK);
    assert_int_equal(r->n, 4);
    assert_int_equal(r->n_writable, 2);
    assert_string_equal(r->q[0].broker_name, "b1");
    assert_string_equal(r->q[1].broker_name, "b2");
    assert_true(r->q[0].writable && r->q[1].writable && r->q[0].qid == 0 && r->q[1].qid == 0);
    assert_string_equal(r->q[2].broker_name, "b1");
    assert_true(!r->q[2].writable && r->q[2].readable && r->q[2].qid == 1);
    assert_string_equal(r->q[3].broker_name, "b2");
    free(r);
    parse("{\"queueDatas\":5}", FM_EPROTO);
    parse("not json", FM_EPROTO);
    parse("{\"brokerDatas\":[],\"queueDatas\":[]}", FM_ENOTFOUND);
}

static void
test_msg_from_record_inflates_and_keeps_fields(void **state)
{
    static const uint8_t host[8] = {127, 0, 0, 1, 0, 0, 0x2A, 0x9F};
    char body[3000];
    uint8_t z[4000];
    uLongf zlen = sizeof(z);
    fm_buf props = {0}, rec = {0};
    fm_msg_view v;
    ferrymq_msg *m;
    size_t len;
    (void)state;
    memset(body, 'q', sizeof(body));
    assert_int_equal(compress2(z, &zlen, (const Bytef *)body, sizeof(body), 6), Z_OK);
    fm_props_append(&props, FM_SLICE_LIT("TAGS"), FM_SLICE_LIT("T"));
    fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), FM_SLICE_LIT("ABC"));
    memset(&v, 0, sizeof(v));
    v.queue_id = 2;
    v.queue_offset = 41;
    v.phys_offset = 0x88;
    v.sysflag = FM_MSG_SYSFLAG_COMPRESSED;
    v.born_timestamp = 5;
    v.store_timestamp = 6;
    v.born_host = fm_slice_make(host, 8);
    v.store_host = fm_slice_make(host, 8);
    v.body = fm_slice_make(z, zlen);
    v.topic = FM_SLICE_LIT("Tz");
    v.properties = fm_buf_slice(&props);
    assert_int_equal(fm_msg_encode(&rec, &v, NULL), FM_OK);
    assert_int_equal(fm_client_msg_from_record(rec.data, rec.len, &m), FM_OK);
    assert_memory_equal(ferrymq_msg_body(m, &len), body, sizeof(body));
    assert_int_equal(len, sizeof(body));
    assert_string_equal(ferrymq_msg_id(m), "ABC");
    assert_string_equal(ferrymq_msg_offset_id(m), "7F00000100002A9F0000000000000088");
    assert_int_equal(ferrymq_msg_queue_offset(m), 41);
    assert_int_equal(ferrymq_msg_store_timestamp(m), 6);
    assert_int_equal(ferrymq_msg_property_count(m), 2);
    ferrymq_msg_free(m);
    /* a corrupt compressed body is refused, not returned as garbage */
    rec.data[rec.len - props.len - 2 - 2 - 1 - 10] ^= 0xFF;
    assert_int_equal(fm_client_msg_from_record(rec.data, rec.len, &m), FM_EPROTO);
    fm_buf_free(&props);
    fm_buf_free(&rec);
}

/* A received message's properties are the record's bytes in place: the pairs set_property
 * would keep (last of equal names, no empty name), and the message stays editable. */
static void
test_msg_from_record_properties_in_place(void **state)
{
    static const uint8_t host[8] = {127, 0, 0, 1, 0, 0, 0x2A, 0x9F};
    static const char raw[] = "A\x01"
                              "1\x02"
                              "\x01"
                              "x\x02"
                              "B\x01"
                              "2\x02"
                              "A\x01"
                              "3\x02"
                              "C\x01";
    fm_buf rec = {0};
    fm_msg_view v;
    ferrymq_msg *m;
    size_t len;
    (void)state;
    memset(&v, 0, sizeof(v));
    v.born_host = fm_slice_make(host, 8);
    v.store_host = fm_slice_make(host, 8);
    v.body = FM_SLICE_LIT("hello");
    v.topic = FM_SLICE_LIT("%RETRY%G");
    v.properties = fm_slice_make((const uint8_t *)raw, sizeof(raw) - 1); /* no final 0x02 */
    assert_int_equal(fm_msg_encode(&rec, &v, NULL), FM_OK);
    assert_int_equal(fm_client_msg_from_record(rec.data, rec.len, &m), FM_OK);
    assert_int_equal(ferrymq_msg_property_count(m), 3);
    assert_string_equal(ferrymq_msg_property(m, "A"), "3");
    assert_string_equal(ferrymq_msg_property(m, "B"), "2");
    assert_string_equal(ferrymq_msg_property(m, "C"), "");
    assert_memory_equal(ferrymq_msg_body(m, &len), "hello", 5);
    assert_int_equal(len, 5);
    /* edits: a replaced value, new properties past the record's slots, a new topic */
    assert_int_equal(ferrymq_msg_set_property(m, "B", "two"), FERRYMQ_OK);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "N%d", i);
        assert_int_equal(ferrymq_msg_set_property(m, name, "v"), FERRYMQ_OK);
    }
    assert_int_equal(fm_client_msg_set_topic(m, "T"), FM_OK);
    assert_int_equal(ferrymq_msg_property_count(m), 23);
    assert_string_equal(ferrymq_msg_property(m, "B"), "two");
    assert_string_equal(ferrymq_msg_property(m, "A"), "3");
    assert_string_equal(ferrymq_msg_property(m, "N19"), "v");
    assert_string_equal(ferrymq_msg_topic(m), "T");
    ferrymq_msg_free(m);
    fm_buf_free(&rec);
}

static void
test_msg_and_conf_api(void **state)
{
    ferrymq_msg *m = ferrymq_msg_new("T", "", 0);
    ferrymq_conf *c = ferrymq_conf_new();
    char err[128];
    (void)state;
    assert_non_null(m);
    assert_int_equal(ferrymq_msg_set_property(m, "a", "1"), FERRYMQ_OK);
    assert_int_equal(ferrymq_msg_set_property(m, "a", "2"), FERRYMQ_OK);
    assert_string_equal(ferrymq_msg_property(m, "a"), "2");
    assert_int_equal(ferrymq_msg_property_count(m), 1);
    assert_int_equal(ferrymq_msg_set_property(m, "", "x"), FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_msg_set_property(m, "b", "x\x02y"), FERRYMQ_EINVAL);
    assert_null(ferrymq_msg_id(m));
    assert_int_equal(ferrymq_msg_queue_offset(m), -1);
    assert_int_equal(ferrymq_conf_set(c, "retryTimesWhenSendFailed", "99", err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_conf_set(c, "consumerGroup", "g", err, sizeof(err)), FERRYMQ_OK);
    ferrymq_msg_free(m);
    ferrymq_msg_free(NULL);
    ferrymq_conf_free(c);
}

static void
test_dedup_capacity_window_and_model(void **state)
{
    (void)state;
    ferrymq_dedup *d = ferrymq_dedup_new(3, 0);
    assert_non_null(d);
    assert_null(ferrymq_dedup_new(0, 0));
    assert_null(ferrymq_dedup_new(4, -1));
    assert_int_equal(ferrymq_dedup_check_id(d, "a", 1), 0);
    assert_int_equal(ferrymq_dedup_check_id(d, "a", 2), 1);
    assert_int_equal(ferrymq_dedup_check_id(d, "", 2), -1);
    assert_int_equal(ferrymq_dedup_check_id(d, NULL, 2), -1);
    assert_int_equal(ferrymq_dedup_check(d, NULL), -1);
    assert_int_equal(ferrymq_dedup_check_id(d, "b", 3), 0);
    assert_int_equal(ferrymq_dedup_check_id(d, "c", 4), 0);
    assert_int_equal(ferrymq_dedup_check_id(d, "d", 5), 0); /* forgets a, the oldest */
    assert_int_equal(ferrymq_dedup_check_id(d, "b", 6), 1);
    assert_int_equal(ferrymq_dedup_check_id(d, "a", 7), 0); /* new again; forgets b */
    assert_int_equal(ferrymq_dedup_check_id(d, "b", 8), 0);
    ferrymq_dedup_free(d);

    /* the age window, on a caller-given clock */
    d = ferrymq_dedup_new(100, 1000);
    assert_int_equal(ferrymq_dedup_check_id(d, "x", 10000), 0);
    assert_int_equal(ferrymq_dedup_check_id(d, "y", 10500), 0);
    assert_int_equal(ferrymq_dedup_check_id(d, "x", 10999), 1);
    assert_int_equal(ferrymq_dedup_check_id(d, "x", 11000), 0); /* first seen 1000 ms ago */
    assert_int_equal(ferrymq_dedup_check_id(d, "y", 11001), 1);
    ferrymq_dedup_free(d);

    /* long ids compare on their prefix, length and hash */
    d = ferrymq_dedup_new(8, 0);
    {
        char long1[300], long2[300];
        memset(long1, 'k', sizeof(long1) - 1);
        long1[sizeof(long1) - 1] = '\0';
        memcpy(long2, long1, sizeof(long2));
        long2[250] = 'z';
        assert_int_equal(ferrymq_dedup_check_id(d, long1, 1), 0);
        assert_int_equal(ferrymq_dedup_check_id(d, long2, 1), 0);
        assert_int_equal(ferrymq_dedup_check_id(d, long1, 1), 1);
    }
    ferrymq_dedup_free(d);

    /* against a reference FIFO, with many evictions (exercises the index's deletions) */
    {
        enum { CAP = 64, POOL = 200, OPS = 50000 };
        char fifo[CAP][16];
        int head = 0, count = 0;
        unsigned seed = 12345;
        d = ferrymq_dedup_new(CAP, 0);
        for (int op = 0; op < OPS; op++) {
            char id[16];
            int want = 0;
            seed = seed * 1103515245u + 12345u;
            snprintf(id, sizeof(id), "id-%u", (seed >> 8) % POOL);
            for (int k = 0; k < count && !want; k++) {
                want = strcmp(fifo[(head + k) % CAP], id) == 0;
            }
            if (!want) {
                if (count == CAP) {
                    head = (head + 1) % CAP;
                    count--;
                }
                snprintf(fifo[(head + count) % CAP], sizeof(fifo[0]), "%s", id);
                count++;
            }
            if (ferrymq_dedup_check_id(d, id, 1) != want) {
                fail_msg("op %d id %s: want %d", op, id, want);
            }
        }
        ferrymq_dedup_free(d);
    }
}

/* The split must be Java's, queue for queue, or mixed groups would overlap or leave gaps. */
static void
test_allocate_averagely_as_rocketmq(void **state)
{
    /* {queues, members, then start,count per member} worked out from the Java source */
    static const int cases[][2 + 2 * 5] = {
        {8, 3, 0, 3, 3, 3, 6, 2}, {10, 4, 0, 3, 3, 3, 6, 2, 8, 2},      {8, 2, 0, 4, 4, 4},
        {2, 3, 0, 1, 1, 1, 0, 0}, {5, 5, 0, 1, 1, 1, 2, 1, 3, 1, 4, 1}, {1, 1, 0, 1},
    };
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int i = 0; i < cases[c][1]; i++) {
            size_t start, count;
            fm_client_allocate_averagely((size_t)cases[c][0], (size_t)cases[c][1], (size_t)i,
                                         &start, &count);
            if (cases[c][3 + 2 * i] > 0) {
                assert_int_equal(start, cases[c][2 + 2 * i]);
            }
            assert_int_equal(count, cases[c][3 + 2 * i]);
        }
    }
    /* every queue exactly once whenever there are at least as many queues as members; sizes
     * differ by at most one, the larger shares first */
    for (size_t q = 1; q <= 40; q++) {
        for (size_t m = 1; m <= q; m++) {
            unsigned char owner[40] = {0};
            size_t prev = SIZE_MAX;
            for (size_t i = 0; i < m; i++) {
                size_t start, count;
                fm_client_allocate_averagely(q, m, i, &start, &count);
                assert_true(count == q / m || count == q / m + 1);
                assert_true(count <= prev);
                prev = count;
                for (size_t k = 0; k < count; k++) {
                    assert_int_equal(owner[(start + k) % q]++, 0);
                }
            }
            for (size_t k = 0; k < q; k++) {
                assert_int_equal(owner[k], 1);
            }
        }
    }
}

typedef struct reset_seen {
    ferrymq_queue q[8];
    int64_t off[8];
    int n;
} reset_seen;

static void
reset_note(void *ud, const ferrymq_queue *q, int64_t offset)
{
    reset_seen *r = ud;
    if (r->n < 8) {
        r->q[r->n] = *q;
        r->off[r->n++] = offset;
    }
}

/* The body brokers send with RESET_CONSUMER_CLIENT_OFFSET: object keys (fastjson), and
 * entries that are not a queue with a usable offset are skipped, not trusted. */
static void
test_reset_table_parse(void **state)
{
    const char *good = "{\"offsetTable\":{{\"brokerName\":\"broker-a\",\"queueId\":3,"
                       "\"topic\":\"T\"}:42,{\"brokerName\":\"broker-b\",\"queueId\":0,"
                       "\"topic\":\"U\"}:0}}";
    const char *mixed = "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}:-5,"
                        "{\"brokerName\":\"b\",\"queueId\":2,\"topic\":\"T\"}:1e300,"
                        "{\"brokerName\":\"b\",\"topic\":\"T\"}:9,"
                        "{\"brokerName\":\"b\",\"queueId\":4,\"topic\":\"T\"}:\"9\","
                        "{\"brokerName\":\"b\",\"queueId\":5,\"topic\":\"T\"}:11}}";
    reset_seen r;
    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(fm_push_reset_table_parse((const uint8_t *)good, strlen(good), reset_note, &r),
                     FM_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.q[0].topic, "T");
    assert_string_equal(r.q[0].broker_name, "broker-a");
    assert_int_equal(r.q[0].queue_id, 3);
    assert_int_equal(r.off[0], 42);
    assert_string_equal(r.q[1].broker_name, "broker-b");
    assert_int_equal(r.off[1], 0);

    memset(&r, 0, sizeof(r));
    assert_int_equal(
        fm_push_reset_table_parse((const uint8_t *)mixed, strlen(mixed), reset_note, &r), FM_OK);
    assert_int_equal(r.n, 1); /* negative, huge, no queue id, a string: skipped */
    assert_int_equal(r.q[0].queue_id, 5);
    assert_int_equal(r.off[0], 11);

    memset(&r, 0, sizeof(r));
    assert_int_equal(fm_push_reset_table_parse((const uint8_t *)"{\"x\":1}", 7, reset_note, &r),
                     FM_EPROTO);
    assert_int_equal(
        fm_push_reset_table_parse((const uint8_t *)"{\"offsetTable\":[1]}", 19, reset_note, &r),
        FM_EPROTO);
    assert_int_equal(fm_push_reset_table_parse((const uint8_t *)"{{", 2, reset_note, &r),
                     FM_EPROTO);
    assert_int_equal(r.n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_fastjson_bare_keys_and_perms),
        cmocka_unit_test(test_msg_from_record_inflates_and_keeps_fields),
        cmocka_unit_test(test_msg_from_record_properties_in_place),
        cmocka_unit_test(test_msg_and_conf_api),
        cmocka_unit_test(test_dedup_capacity_window_and_model),
        cmocka_unit_test(test_allocate_averagely_as_rocketmq),
        cmocka_unit_test(test_reset_table_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
