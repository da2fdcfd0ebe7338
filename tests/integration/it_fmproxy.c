/*
 * The replication tests' own fixtures, checked before anything relies on them: the TCP proxy
 * (forwards, stalls both directions without closing, resets with RST, counts), a proxied
 * region (broker on 127.0.0.2 advertised on 127.0.0.1 behind the proxy) whose broker restarts
 * on the same port, and the produce / drain / check cycle on one region, including that the
 * check catches a duplicate, a lost message, a reordering and a changed body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmproxy.h"
#include "fmrepl.h"
#include "fmtest.h"
#include "proto/codes.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
request_answered(int fd)
{
    /* GET_MAX_OFFSET answers whether or not the topic exists: any answer proves the path */
    const char *kv[] = {"topic", "ProxyTopic", "queueId", "0", NULL};
    fmt_resp r = {0};
    int rc =
        fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_MAX_OFFSET, kv, fm_slice_make(NULL, 0), &r);
    fmt_resp_free(&r);
    return rc;
}

struct stats_wait {
    fmp_proxy *p;
    int64_t open;
};

static int
open_is(void *ud)
{
    struct stats_wait *w = ud;
    fmp_stats st;
    fmp_get_stats(w->p, &st);
    return st.open == w->open;
}

static int
both_ways_counted(void *ud)
{
    struct stats_wait *w = ud;
    fmp_stats st;
    fmp_get_stats(w->p, &st);
    return st.bytes_up > 0 && st.bytes_down > 0;
}

static void
test_proxy_stalls_resumes_and_resets(void **state)
{
    fmr_region r;
    fmp_stats st;
    int fd, fd2;
    uint8_t buf[4096];
    struct stats_wait w;
    (void)state;
    assert_int_equal(fmr_region_start_proxied(&r, "px", NULL), 0);
    w.p = r.proxy;
    assert_int_equal(fmp_port(r.proxy), r.broker_port);

    /* forwarding: a request through the proxy is answered */
    fd = fmt_connect(r.broker_port, 400);
    assert_true(fd >= 0);
    assert_int_equal(request_answered(fd), 0);
    fmp_get_stats(r.proxy, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.open, 1);
    /* the proxy counts a reply's bytes after its send returns, so the client can read the
     * reply before the count moves: await it */
    assert_true(fmt_wait_until(both_ways_counted, &w, 2000));

    /* stalled: the request goes nowhere (receive times out), the connection stays open */
    fmp_stall(r.proxy, 1);
    assert_int_equal(request_answered(fd), -1);
    fmp_get_stats(r.proxy, &st);
    assert_int_equal(st.open, 1);
    /* a new connection is accepted while stalled, and also gets no answer */
    fd2 = fmt_connect(r.broker_port, 300);
    assert_true(fd2 >= 0);
    w.open = 2;
    assert_true(fmt_wait_until(open_is, &w, 2000));
    assert_int_equal(request_answered(fd2), -1);

    /* resumed: the stalled requests' answers arrive (the first one's late reply is read
     * off first), and new requests work on the same connections */
    fmp_stall(r.proxy, 0);
    assert_true(fmt_read_frame(fd, buf, sizeof(buf)) > 0);
    assert_int_equal(request_answered(fd), 0);
    assert_int_equal(request_answered(fd2), 0);

    /* reset: both clients see their connection reset, not an orderly close */
    assert_int_equal(fmp_reset(r.proxy), 2);
    fmp_get_stats(r.proxy, &st);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.resets, 2);
    errno = 0;
    assert_true(recv(fd, buf, sizeof(buf), 0) < 0);
    assert_int_equal(errno, ECONNRESET);
    close(fd);
    close(fd2);

    /* the listener is still there: a later connection is proxied again */
    fd = fmt_connect(r.broker_port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(request_answered(fd), 0);
    close(fd);
    fmr_region_stop(&r);
}

static void
test_proxied_region_restarts_on_same_port(void **state)
{
    fmr_region r;
    fmr_sent s;
    fmr_got g;
    fmr_expect ex;
    int port;
    (void)state;
    memset(&g, 0, sizeof(g));
    assert_int_equal(fmr_region_start_proxied(&r, "pr", NULL), 0);
    port = r.broker_port;
    assert_int_equal(fmr_topic_create(&r, "ProxT", 4), 0);
    fmr_sent_init(&s, "pr", "ProxT");
    assert_int_equal(fmr_produce(r.ns, &s, 200), 0);
    /* the region's long-lived admin and consumer have a connection through the proxy now */
    assert_int_equal(fmr_count(&r, "ProxT"), 200);
    assert_int_equal(fmr_region_restart_broker(&r, SIGKILL), 0);
    assert_int_equal(r.broker_port, port);
    /* clients follow the same route through the proxy after the restart */
    assert_int_equal(fmr_produce(r.ns, &s, 200), 0);
    assert_true(fmr_wait_count(&r, "ProxT", 400, 10000));
    assert_int_equal(fmr_drain(&r, "ProxT", NULL, NULL, &g), 0);
    ex = (fmr_expect){&s, NULL, NULL};
    assert_int_equal(fmr_check(&g, &ex, 1, "proxied restart"), 0);
    {
        fmp_stats st;
        fmp_get_stats(r.proxy, &st);
        assert_true(st.accepted >= 2); /* the producers came through the proxy */
    }
    fmr_got_free(&g);
    fmr_sent_free(&s);
    fmr_region_stop(&r);
}

/* A connection whose peer vanished without a reset (frozen in the proxy: nothing moves, nothing
 * closes): the request on it times out, and libferrymq drops the connection then, so the next
 * request connects afresh instead of timing out on the dead one for good. */
static void
test_client_leaves_a_silent_connection(void **state)
{
    fmr_region r;
    ferrymq_conf *conf;
    ferrymq_admin *a;
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    int64_t min, max, t0;
    fmp_stats st0, st1;
    char err[256];
    (void)state;
    assert_int_equal(fmr_region_start_proxied(&r, "sil", NULL), 0);
    assert_int_equal(fmr_topic_create(&r, "SilT", 2), 0);
    conf = ferrymq_conf_new();
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", r.ns, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_conf_set(conf, "sendMsgTimeout", "1000", err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_new(conf, &a, err, sizeof(err)), FERRYMQ_OK);
    {
        ferrymq_consumer *c;
        assert_int_equal(ferrymq_consumer_new(conf, &c, err, sizeof(err)), FERRYMQ_OK);
        assert_int_equal(ferrymq_consumer_queues(c, "SilT", &qs, &nq, err, sizeof(err)),
                         FERRYMQ_OK);
        ferrymq_consumer_close(c);
    }
    ferrymq_conf_free(conf);
    assert_true(nq > 0);
    assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[0], &min, &max, err, sizeof(err)),
                     FERRYMQ_OK);
    fmp_get_stats(r.proxy, &st0);
    assert_true(fmp_freeze(r.proxy) >= 1); /* the admin's broker connection among them */
    t0 = fmt_now_ms();
    assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[0], &min, &max, err, sizeof(err)),
                     FERRYMQ_ETIMEDOUT);
    assert_true(fmt_now_ms() - t0 >= 900);
    /* the same handle: a new connection through the proxy answers at once */
    t0 = fmt_now_ms();
    assert_int_equal(ferrymq_admin_queue_offsets(a, &qs[0], &min, &max, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_true(fmt_now_ms() - t0 < 900);
    fmp_get_stats(r.proxy, &st1);
    assert_true(st1.accepted > st0.accepted);
    free(qs);
    ferrymq_admin_free(a);
    fmr_region_stop(&r);
}

static void
test_check_catches_what_it_must(void **state)
{
    fmr_region r;
    fmr_sent s;
    fmr_got g, bad;
    fmr_expect ex;
    (void)state;
    memset(&g, 0, sizeof(g));
    memset(&bad, 0, sizeof(bad));
    assert_int_equal(fmr_region_start(&r, "solo", NULL), 0);
    assert_int_equal(fmr_topic_create(&r, "SoloT", 4), 0);
    fmr_sent_init(&s, "solo", "SoloT");
    assert_int_equal(fmr_produce(r.ns, &s, 1000), 0);
    assert_int_equal(fmr_count(&r, "SoloT"), 1000);
    assert_int_equal(fmr_drain(&r, "SoloT", NULL, NULL, &g), 0);
    assert_int_equal(g.n, 1000);
    ex = (fmr_expect){&s, NULL, NULL};
    assert_int_equal(fmr_check(&g, &ex, 1, "solo"), 0);
    /* a subscription is applied: T1 is a quarter */
    assert_int_equal(fmr_drain(&r, "SoloT", "T1", "TAG", &bad), 0);
    assert_int_equal(bad.n, 250);
    assert_int_equal(fmr_drain(&r, "SoloT", "amount < 10", "SQL92", &bad), 0);
    assert_int_equal(bad.n, 10);

    /* a copy of g with faults planted: each must be reported */
    bad.n = 0;
    for (size_t i = 0; i < g.n; i++) {
        bad.recs[bad.n++] = g.recs[i];
    }
    snprintf(bad.region, sizeof(bad.region), "%s", g.region);
    snprintf(bad.topic, sizeof(bad.topic), "%s", g.topic);
    bad.recs[5] = bad.recs[4]; /* duplicate of 4, and 5 lost */
    assert_true(fmr_check(&bad, &ex, 1, "planted duplicate (expected)") >= 2);
    bad.recs[5] = g.recs[5];
    {
        fmr_rec t = bad.recs[10]; /* swap two of one queue: order broken */
        size_t j = 11;
        while (bad.recs[j].qid != t.qid) {
            j++;
        }
        bad.recs[10] = bad.recs[j];
        bad.recs[j] = t;
        assert_true(fmr_check(&bad, &ex, 1, "planted reorder (expected)") >= 1);
        bad.recs[j] = bad.recs[10];
        bad.recs[10] = t;
    }
    bad.recs[20].intact = 0;
    assert_int_equal(fmr_check(&bad, &ex, 1, "planted change (expected)"), 1);
    bad.recs[20].intact = 1;
    bad.recs[30].n_ferry = 1; /* a local message must carry no FERRY_ property */
    assert_int_equal(fmr_check(&bad, &ex, 1, "planted FERRY_ (expected)"), 1);
    bad.recs[30].n_ferry = 0;
    assert_int_equal(fmr_check(&bad, &ex, 1, "restored"), 0);

    fmr_got_free(&g);
    fmr_got_free(&bad);
    fmr_sent_free(&s);
    fmr_region_stop(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_proxy_stalls_resumes_and_resets, fmr_teardown),
        cmocka_unit_test_teardown(test_proxied_region_restarts_on_same_port, fmr_teardown),
        cmocka_unit_test_teardown(test_client_leaves_a_silent_connection, fmr_teardown),
        cmocka_unit_test_teardown(test_check_catches_what_it_must, fmr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
