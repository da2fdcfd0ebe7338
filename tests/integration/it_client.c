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
#include <pthread.h>
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
                            "4",
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
                            "4",
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

static ferrymq_conf *
conf_for(const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", ns, NULL, 0), FERRYMQ_OK);
    assert_int_equal(ferrymq_conf_set(conf, "consumerGroup", group, NULL, 0), FERRYMQ_OK);
    return conf;
}

static void
test_client_admin_consumer_round_trip(void **state)
{
    ferrymq_conf *conf = conf_for("cg-it");
    ferrymq_admin *a;
    ferrymq_consumer *c;
    ferrymq_producer *p = producer(ns);
    ferrymq_queue *qs;
    size_t nq, n_topics;
    char err[256], **topics, first_id[64] = "";
    ferrymq_pull_result res;
    int got = 0, tag_b = 0;
    (void)state;
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_admin_create_topic(a, "bad topic", 4, err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_admin_create_topic(a, "ClientRT", 4, err, sizeof(err)), FERRYMQ_OK);
    for (int i = 0; i < 10; i++) {
        char body[16];
        ferrymq_send_result sr;
        ferrymq_msg *m;
        snprintf(body, sizeof(body), "rt-%d", i);
        m = ferrymq_msg_new("ClientRT", body, strlen(body));
        ferrymq_msg_set_tags(m, i % 2 ? "B" : "A");
        memset(&sr, 0, sizeof(sr));
        sr.struct_size = sizeof(sr);
        assert_int_equal(ferrymq_producer_send(p, m, &sr, err, sizeof(err)), FERRYMQ_OK);
        if (i == 0) {
            snprintf(first_id, sizeof(first_id), "%s", sr.offset_msg_id);
        }
        ferrymq_msg_free(m);
    }
    assert_int_equal(ferrymq_admin_topic_list(a, &topics, &n_topics, err, sizeof(err)), FERRYMQ_OK);
    {
        int seen = 0;
        for (size_t i = 0; i < n_topics; i++) {
            seen |= strcmp(topics[i], "ClientRT") == 0;
        }
        assert_true(seen);
    }
    ferrymq_strings_free(topics, n_topics);

    assert_int_equal(ferrymq_consumer_queues(c, "ClientRT", &qs, &nq, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(nq, 4);
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    for (size_t i = 0; i < nq; i++) {
        int64_t min, max, committed;
        assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err)),
                         FERRYMQ_OK);
        assert_int_equal(min, 0);
        assert_int_equal(
            ferrymq_consumer_pull(c, &qs[i], 0, "*", NULL, 32, 0, &res, err, sizeof(err)),
            FERRYMQ_OK);
        if (max > 0) {
            assert_int_equal(res.status, FERRYMQ_PULL_FOUND);
            assert_int_equal((int64_t)res.n_msgs, max);
            assert_int_equal(res.next_offset, max);
            for (size_t k = 0; k < res.n_msgs; k++) {
                size_t len;
                const char *body = ferrymq_msg_body(res.msgs[k], &len);
                assert_int_equal(strncmp(body, "rt-", 3), 0);
                assert_int_equal(ferrymq_msg_queue_offset(res.msgs[k]), (int64_t)k);
                assert_int_equal(ferrymq_msg_queue_id(res.msgs[k]), qs[i].queue_id);
                assert_int_equal(strlen(ferrymq_msg_id(res.msgs[k])), 32);
                assert_string_not_equal(ferrymq_msg_id(res.msgs[k]),
                                        ferrymq_msg_offset_id(res.msgs[k]));
                assert_true(ferrymq_msg_store_timestamp(res.msgs[k]) > 0);
                got++;
            }
        }
        /* tag filter on the broker */
        assert_int_equal(
            ferrymq_consumer_pull(c, &qs[i], 0, "B", "TAG", 32, 0, &res, err, sizeof(err)),
            FERRYMQ_OK);
        for (size_t k = 0; k < res.n_msgs; k++) {
            assert_string_equal(ferrymq_msg_tags(res.msgs[k]), "B");
            tag_b++;
        }
        /* nothing new: held by the broker for the suspend time, then NO_NEW_MSG */
        {
            int64_t t0 = fmt_now_ms();
            assert_int_equal(
                ferrymq_consumer_pull(c, &qs[i], max, "*", NULL, 32, 300, &res, err, sizeof(err)),
                FERRYMQ_OK);
            assert_int_equal(res.status, FERRYMQ_PULL_NO_NEW_MSG);
            assert_true(fmt_now_ms() - t0 >= 250);
        }
        assert_int_equal(ferrymq_consumer_commit(c, &qs[i], max, err, sizeof(err)), FERRYMQ_OK);
        assert_int_equal(ferrymq_consumer_committed(c, &qs[i], &committed, err, sizeof(err)),
                         FERRYMQ_OK);
        assert_int_equal(committed, max);
        {
            int64_t off = -1;
            assert_int_equal(ferrymq_admin_search_offset(a, &qs[i], 0, &off, err, sizeof(err)),
                             FERRYMQ_OK);
            assert_int_equal(off, 0);
        }
    }
    ferrymq_pull_result_clear(&res);
    assert_int_equal(got, 10);
    assert_int_equal(tag_b, 5);
    {
        ferrymq_msg *m = NULL;
        size_t len;
        assert_int_equal(ferrymq_admin_view_message(a, first_id, &m, err, sizeof(err)), FERRYMQ_OK);
        assert_memory_equal(ferrymq_msg_body(m, &len), "rt-0", 4);
        assert_string_equal(ferrymq_msg_tags(m), "A");
        ferrymq_msg_free(m);
        assert_int_equal(ferrymq_admin_view_message(a, "nothex", &m, err, sizeof(err)),
                         FERRYMQ_EINVAL);
    }
    free(qs);
    ferrymq_consumer_close(c);
    ferrymq_admin_free(a);
    ferrymq_producer_close(p, 1000);
}

static void
test_client_system_busy_backs_off_and_retries(void **state)
{
    fmt_daemon busy;
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    char addr[64], err[256];
    ferrymq_producer *p;
    int64_t t0, total = 0;
    (void)state;
    memset(&busy, 0, sizeof(busy));
    /* this broker answers its first two sends SYSTEM_BUSY, storing nothing */
    setenv("FM_FAULT", "broker.busy:times=2", 1);
    assert_int_equal(fmt_daemon_start(&busy, extra, 10000), 0);
    unsetenv("FM_FAULT");
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", busy.namesrv_port);
    p = producer(addr);
    t0 = fmt_now_ms();
    for (int i = 0; i < 10; i++) {
        ferrymq_msg *m = ferrymq_msg_new("BusyTopic", "b", 1);
        ferrymq_send_result res;
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_msg_free(m);
    }
    /* two back-offs happened (50 ms, then 100 ms) */
    assert_true(fmt_now_ms() - t0 >= 150);
    ferrymq_producer_close(p, 1000);
    {
        /* exactly ten messages stored: none lost, none duplicated */
        ferrymq_conf *conf = ferrymq_conf_new();
        ferrymq_admin *a;
        ferrymq_consumer *c;
        ferrymq_queue *qs;
        size_t nq;
        ferrymq_conf_set(conf, "namesrvAddr", addr, NULL, 0);
        assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
        assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_conf_free(conf);
        assert_int_equal(ferrymq_consumer_queues(c, "BusyTopic", &qs, &nq, err, sizeof(err)),
                         FERRYMQ_OK);
        for (size_t i = 0; i < nq; i++) {
            int64_t min, max;
            assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, err, sizeof(err)),
                             FERRYMQ_OK);
            total += max - min;
        }
        free(qs);
        ferrymq_consumer_close(c);
        ferrymq_admin_free(a);
    }
    assert_int_equal(total, 10);
    fmt_daemon_stop(&busy, SIGTERM, 10000);
    fmt_daemon_cleanup(&busy);
}

typedef struct async_tally {
    pthread_mutex_t mu;
    int ok, failed, max_seen;
    int64_t per_queue_last[64];
} async_tally;

static void
on_sent(void *opaque, int err, const ferrymq_send_result *res, const char *why)
{
    async_tally *t = opaque;
    (void)why;
    pthread_mutex_lock(&t->mu);
    if (err == FERRYMQ_OK) {
        t->ok++;
        assert_true(res->queue_id >= 0 && res->queue_id < 64);
    } else {
        t->failed++;
    }
    pthread_mutex_unlock(&t->mu);
}

static int64_t
stored_total(const char *topic)
{
    ferrymq_conf *conf = conf_for("tally");
    ferrymq_admin *a;
    ferrymq_consumer *c;
    ferrymq_queue *qs;
    size_t nq;
    int64_t total = 0;
    assert_int_equal(ferrymq_admin_new(conf, &a, NULL, 0), FERRYMQ_OK);
    assert_int_equal(ferrymq_consumer_new(conf, &c, NULL, 0), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_consumer_queues(c, topic, &qs, &nq, NULL, 0), FERRYMQ_OK);
    for (size_t i = 0; i < nq; i++) {
        int64_t min, max;
        assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[i], &min, &max, NULL, 0), FERRYMQ_OK);
        total += max - min;
    }
    free(qs);
    ferrymq_consumer_close(c);
    ferrymq_admin_free(a);
    return total;
}

static void
test_client_async_window_orderly_and_batch(void **state)
{
    ferrymq_conf *conf = conf_for("g");
    ferrymq_producer *p;
    async_tally t;
    char err[256];
    ferrymq_send_result res;
    (void)state;
    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.mu, NULL);
    assert_int_equal(ferrymq_conf_set(conf, "maxInFlight", "16", err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    {
        /* warm the route so the topic exists with the broker's default queues */
        ferrymq_msg *m = ferrymq_msg_new("ClientAsync", "w", 1);
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_msg_free(m);
    }
    for (int i = 0; i < 2000; i++) {
        ferrymq_msg *m = ferrymq_msg_new("ClientAsync", "async-body", 10);
        assert_int_equal(ferrymq_producer_send_async(p, m, on_sent, &t, err, sizeof(err)),
                         FERRYMQ_OK);
    }
    /* close waits for the window to drain (bounded) */
    assert_int_equal(ferrymq_producer_close(p, 20000), FERRYMQ_OK);
    assert_int_equal(t.ok, 2000);
    assert_int_equal(t.failed, 0);
    assert_int_equal(stored_total("ClientAsync"), 2001);

    conf = conf_for("g");
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    {
        /* one sharding key: one queue, offsets in send order */
        int qid = -1;
        int64_t last = -1;
        for (int i = 0; i < 20; i++) {
            ferrymq_msg *m = ferrymq_msg_new("ClientAsync", "ordered", 7);
            memset(&res, 0, sizeof(res));
            res.struct_size = sizeof(res);
            assert_int_equal(ferrymq_producer_send_orderly(p, m, "order-7", &res, err, sizeof(err)),
                             FERRYMQ_OK);
            if (qid < 0) {
                qid = res.queue_id;
            }
            assert_int_equal(res.queue_id, qid);
            assert_true(res.queue_offset > last);
            last = res.queue_offset;
            ferrymq_msg_free(m);
        }
    }
    {
        /* a batch: one queue, consecutive offsets */
        ferrymq_msg *ms[5];
        for (int i = 0; i < 5; i++) {
            ms[i] = ferrymq_msg_new("ClientBatch", "batched", 7);
        }
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send_batch(p, ms, 5, &res, err, sizeof(err)), FERRYMQ_OK);
        assert_int_equal(strlen(res.offset_msg_id), 32);
        assert_int_equal(stored_total("ClientBatch"), 5);
        for (int i = 0; i < 5; i++) {
            assert_non_null(ferrymq_msg_property(ms[i], "UNIQ_KEY"));
            ferrymq_msg_free(ms[i]);
        }
    }
    ferrymq_producer_close(p, 1000);
    pthread_mutex_destroy(&t.mu);
}

/* ---- asynchronous pulls chained from their callbacks ---- */

typedef struct apull {
    pthread_mutex_t mu;
    ferrymq_consumer *c;
    ferrymq_queue q[2];
    int64_t next[2];
    int got, out_of_order, errors, closed, from_cb_rc, pending, stop;
    pthread_t test_thread;
    int on_test_thread;
} apull;

typedef struct apull_q {
    apull *a;
    int i;
} apull_q;

static void
apull_cb(void *opaque, int err, const ferrymq_pull_result *res, const char *why)
{
    apull_q *aq = opaque;
    apull *a = aq->a;
    char e[256];
    int again = 0;
    pthread_mutex_lock(&a->mu);
    a->pending--;
    a->on_test_thread |= pthread_equal(pthread_self(), a->test_thread);
    if (err == FERRYMQ_ECLOSED) {
        a->closed++;
    } else if (err != FERRYMQ_OK) {
        fprintf(stderr, "async pull: %s\n", why);
        a->errors++;
    } else {
        for (size_t k = 0; k < res->n_msgs; k++) {
            a->out_of_order += ferrymq_msg_queue_offset(res->msgs[k]) != a->next[aq->i];
            a->next[aq->i] = ferrymq_msg_queue_offset(res->msgs[k]) + 1;
            a->got++;
        }
        again = !a->stop;
        if (again) {
            a->pending++;
        }
    }
    int64_t from = a->next[aq->i];
    pthread_mutex_unlock(&a->mu);
    if (again) {
        /* the next pull from the completion itself: a long poll once the queue is drained */
        int rc = ferrymq_consumer_pull_async(a->c, &a->q[aq->i], from, "*", NULL, 16, 5000,
                                             apull_cb, aq, e, sizeof(e));
        if (rc == FERRYMQ_OK && aq->i == 0 && from > 0) {
            /* a broker nothing was pulled from outside a callback: its address is unknown */
            ferrymq_queue nope = a->q[0];
            snprintf(nope.broker_name, sizeof(nope.broker_name), "nope");
            a->from_cb_rc = ferrymq_consumer_pull_async(a->c, &nope, 0, "*", NULL, 16, 0, apull_cb,
                                                        aq, e, sizeof(e));
        }
        pthread_mutex_lock(&a->mu);
        if (rc != FERRYMQ_OK) {
            a->pending--;
            a->errors++;
        }
        pthread_mutex_unlock(&a->mu);
    }
}

typedef struct apull_goal {
    apull *a;
    int n;
} apull_goal;

static int
apull_reached(void *ud)
{
    apull_goal *g = ud;
    pthread_mutex_lock(&g->a->mu);
    int ok = g->a->got >= g->n;
    pthread_mutex_unlock(&g->a->mu);
    return ok;
}

/* Wait (bounded) until got reaches n; returns got. */
static int
apull_wait(apull *a, int n)
{
    apull_goal g = {a, n};
    fmt_wait_until(apull_reached, &g, 15000);
    pthread_mutex_lock(&a->mu);
    int got = a->got;
    pthread_mutex_unlock(&a->mu);
    return got;
}

static void
test_client_async_pull_chains_from_callbacks(void **state)
{
    ferrymq_conf *conf = conf_for("cg-async");
    ferrymq_admin *adm;
    ferrymq_producer *p = producer(ns);
    ferrymq_queue *qs;
    size_t nq;
    char err[256];
    apull a;
    apull_q aq[2];
    (void)state;
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    a.test_thread = pthread_self();
    assert_int_equal(ferrymq_admin_new(conf, &adm, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_consumer_new(conf, &a.c, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(conf);
    assert_int_equal(ferrymq_admin_create_topic(adm, "AsyncPull", 2, err, sizeof(err)), FERRYMQ_OK);
    for (int i = 0; i < 200; i++) {
        ferrymq_send_result sr = {.struct_size = sizeof(sr)};
        ferrymq_msg *m = ferrymq_msg_new("AsyncPull", "ap", 2);
        assert_int_equal(ferrymq_producer_send(p, m, &sr, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_msg_free(m);
    }
    assert_int_equal(ferrymq_consumer_queues(a.c, "AsyncPull", &qs, &nq, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(nq, 2);
    /* bad arguments fail at once, with no callback */
    assert_int_equal(
        ferrymq_consumer_pull_async(a.c, &qs[0], 0, "*", NULL, 16, 0, NULL, NULL, err, sizeof(err)),
        FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_consumer_pull_async(a.c, &qs[0], 0, "*", NULL, 0, 0, apull_cb, &aq[0],
                                                 err, sizeof(err)),
                     FERRYMQ_EINVAL);
    for (int i = 0; i < 2; i++) {
        a.q[i] = qs[i];
        aq[i].a = &a;
        aq[i].i = i;
        pthread_mutex_lock(&a.mu);
        a.pending++;
        pthread_mutex_unlock(&a.mu);
        assert_int_equal(ferrymq_consumer_pull_async(a.c, &qs[i], 0, "*", NULL, 16, 5000, apull_cb,
                                                     &aq[i], err, sizeof(err)),
                         FERRYMQ_OK);
    }
    /* 16 per pull: every queue took several pulls, each started by the one before */
    assert_int_equal(apull_wait(&a, 200), 200);
    /* both queues now wait in long polls; new messages end them */
    for (int i = 0; i < 10; i++) {
        ferrymq_send_result sr = {.struct_size = sizeof(sr)};
        ferrymq_msg *m = ferrymq_msg_new("AsyncPull", "ap", 2);
        assert_int_equal(ferrymq_producer_send(p, m, &sr, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_msg_free(m);
    }
    assert_int_equal(apull_wait(&a, 210), 210);
    pthread_mutex_lock(&a.mu);
    assert_int_equal(a.out_of_order, 0);
    assert_int_equal(a.errors, 0);
    assert_false(a.on_test_thread); /* completions run on the consumer's I/O thread */
    assert_int_equal(a.from_cb_rc, FERRYMQ_EINVAL);
    a.stop = 1;
    int pending = a.pending;
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(pending, 2); /* the two long polls */
    /* closing completes them, with FERRYMQ_ECLOSED, before it returns */
    ferrymq_consumer_close(a.c);
    assert_int_equal(a.closed, 2);
    assert_int_equal(a.pending, 0);
    free(qs);
    ferrymq_admin_free(adm);
    ferrymq_producer_close(p, 1000);
    pthread_mutex_destroy(&a.mu);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_conf_rejects_bad_options),
        cmocka_unit_test(test_client_send_stores_message_fields),
        cmocka_unit_test(test_client_spreads_over_queues_and_compresses),
        cmocka_unit_test(test_client_unreachable_namesrv_fails_fast),
        cmocka_unit_test(test_client_admin_consumer_round_trip),
        cmocka_unit_test(test_client_system_busy_backs_off_and_retries),
        cmocka_unit_test(test_client_async_window_orderly_and_batch),
        cmocka_unit_test(test_client_async_pull_chains_from_callbacks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
