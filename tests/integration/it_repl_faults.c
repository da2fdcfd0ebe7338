/*
 * Faults in a two-way replication run under load (issue 10, Done when 3): the replicator is
 * killed with SIGKILL at random points of the stream (at least 10 times, restarted each
 * time), the target broker of one direction is killed and restarted, and the link to that
 * broker is stalled and then reset by a proxy (also with the replicator killed mid-stall). At the
 * end both regions hold exactly both sides' messages: 0 lost, 0 duplicated, order per source queue
 * kept (sequence numbers in the bodies), every copy carrying its FERRY_* origin.
 *
 * Region "fb" is proxied: its broker listens on 127.0.0.2 and advertises 127.0.0.1 behind the
 * proxy, so every connection to it (the replicator's, the producers') crosses the proxy. The
 * test's own producers never write to fb while its link is being broken, so what was sent is
 * known exactly. Both brokers give queue locks a 3 s life (rebalanceLockMaxLiveTime): the
 * restarted replicator is a new client and must wait for the dead one's locks to expire.
 * FMR_SEED=<n> repeats a run's random kill points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmrepl.h"
#include "fmtest.h"
#include "proto/codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 90000
#define CHUNK 150
#define KILLS 10

static char out[16384];

static void
prod_start(fmr_prod_job *j, const char *ns, fmr_sent *s, int count)
{
    assert_int_equal(fmr_produce_start(j, ns, s, count), 0);
}

static void
prod_join(fmr_prod_job *j)
{
    assert_int_equal(fmr_produce_join(j), 0);
}

/* After a wait on r failed: does a fresh connection through the same path answer, and what
 * did the proxy see? (Tells a dead link from a stuck client handle.) */
static void
diagnose_link(fmr_region *r)
{
    /* is it the link or the test's client? a fresh connection through the same path */
    const char *kv[] = {"topic", "Fault", "queueId", "0", NULL};
    fmt_resp resp = {0};
    int fd = fmt_connect(r->broker_port, 3000);
    int rc = fd < 0 ? -2
                    : fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_MAX_OFFSET, kv,
                                  fm_slice_make(NULL, 0), &resp);
    fprintf(stderr, "fresh connection to %d: %s (code %d, offset %s)\n", r->broker_port,
            rc == 0 ? "answered" : "no answer", rc == 0 ? resp.cmd.code : -1,
            rc == 0 ? fmt_ext(&resp, "offset") : "-");
    fmt_resp_free(&resp);
    if (fd >= 0) {
        close(fd);
    }
    if (r->proxy != NULL) {
        fmp_stats st;
        fmp_get_stats(r->proxy, &st);
        fprintf(stderr,
                "proxy: accepted %lld open %lld refused %lld resets %lld up %lld down %lld\n",
                (long long)st.accepted, (long long)st.open, (long long)st.refused,
                (long long)st.resets, (long long)st.bytes_up, (long long)st.bytes_down);
    }
}

/* Wait until topic on r holds at least base + k messages: a point inside the copy stream. */
static void
wait_progress(fmr_region *r, int64_t base, int k, const char *what)
{
    if (!fmr_wait_count(r, "Fault", base + k, WAIT_MS)) {
        fprintf(stderr, "%s: %s stuck at %lld, waited for %lld\n", what, r->name,
                (long long)fmr_count(r, "Fault"), (long long)(base + k));
        diagnose_link(r);
        fail();
    }
}

/* 1 when a task or queue of replicator w->x shows an error raised after w->since (wall ms). */
struct new_error {
    fmr_repl *x;
    int64_t since;
};

static int
shows_new_error(void *ud)
{
    struct new_error *w = ud;
    cJSON *tasks = fmr_tasks(w->x, NULL), *t, *q;
    int found = 0;
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(t, "error");
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "timeMs");
        found |= cJSON_IsNumber(et) && (int64_t)et->valuedouble >= w->since;
        cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(t, "queues"))
        {
            const cJSON *qt = cJSON_GetObjectItemCaseSensitive(q, "errorTimeMs");
            found |= cJSON_IsNumber(qt) && (int64_t)qt->valuedouble >= w->since;
        }
    }
    cJSON_Delete(tasks);
    return found;
}

static void
test_faults_two_way_exactly_once_in_order(void **state)
{
    fmr_region a, b;
    fmr_sent sa, sb;
    fmr_got ga, gb, la, lb;
    fmr_repl x;
    fmr_prod_job ja, jb;
    /* a killed replicator's queue locks on the sources expire in 3 s, not RocketMQ's 60 */
    const char *lock[] = {"--rebalanceLockMaxLiveTime=3000", NULL};
    unsigned seed;
    const char *env = getenv("FMR_SEED");
    /* FMR_KILLS=n: more for a soak, fewer to debug a later phase (the issue asks for 10) */
    int kills = getenv("FMR_KILLS") ? atoi(getenv("FMR_KILLS")) : KILLS;
    int64_t t0 = fmt_now_ms();
    (void)state;
    seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    srand(seed);
    fprintf(stderr, "faults: FMR_SEED=%u\n", seed);
    memset(&x, 0, sizeof(x));
    memset(&ga, 0, sizeof(ga));
    memset(&gb, 0, sizeof(gb));
    memset(&la, 0, sizeof(la));
    memset(&lb, 0, sizeof(lb));
    assert_int_equal(fmr_region_start(&a, "fa", lock), 0);
    assert_int_equal(fmr_region_start_proxied(&b, "fb", lock), 0);
    assert_int_equal(fmr_topic_create(&a, "Fault", 4), 0);
    assert_int_equal(fmr_topic_create(&b, "Fault", 4), 0);
    fmr_sent_init(&sa, "fa", "Fault");
    fmr_sent_init(&sb, "fb", "Fault");
    assert_int_equal(fmr_repl_start(&x, NULL, 15000), 0);
    {
        int rc = fmr_task_create(&x, out, sizeof(out), "ft", "two-way", &a, &b, "Fault", NULL);
        if (rc != 0) {
            fprintf(stderr, "%s\n", out);
        }
        assert_int_equal(rc, 0);
    }

    /* 1. SIGKILL the replicator at random points of the stream, in turn mid-way through
     * fa -> fb and fb -> fa: one side produces while the other side's count, which then
     * grows only by copies, is watched for the random point; the other side then produces
     * while the replicator is down, so the restart also starts with a backlog */
    for (int i = 0; i < kills; i++) {
        fmr_region *src = i % 2 ? &b : &a, *dst = i % 2 ? &a : &b;
        fmr_sent *ssrc = i % 2 ? &sb : &sa, *sdst = i % 2 ? &sa : &sb;
        int64_t base = fmr_count(dst, "Fault");
        prod_start(&ja, src->ns, ssrc, CHUNK);
        wait_progress(dst, base, 1 + rand() % CHUNK, "before a kill");
        assert_int_equal(fmr_repl_stop(&x, SIGKILL, 5000) & 0x7f, SIGKILL);
        prod_join(&ja);
        assert_int_equal(fmr_produce(dst->ns, sdst, CHUNK / 3), 0);
        assert_int_equal(fmr_repl_restart(&x, 15000), 0);
        fprintf(stderr, "faults: kill %d done, %lld ms\n", i + 1, (long long)(fmt_now_ms() - t0));
    }

    /* 2. the target of fa -> fb dies (SIGKILL) and comes back while fa produces */
    {
        int64_t base = fmr_count(&b, "Fault");
        prod_start(&ja, a.ns, &sa, 2 * CHUNK);
        wait_progress(&b, base, 1 + rand() % CHUNK, "before the broker restart");
        assert_int_equal(fmr_region_restart_broker(&b, SIGKILL), 0);
        prod_join(&ja);
        /* fb takes writes again */
        assert_int_equal(fmr_produce(b.ns, &sb, CHUNK), 0);
        fprintf(stderr, "faults: broker restart done, %lld ms\n", (long long)(fmt_now_ms() - t0));
    }

    /* 3. the link to fb stalls (nothing moves, connections stay open) under fa's load, then
     * every connection through it is reset; then a reset with the link flowing */
    {
        fmp_stats st0, st1;
        int64_t base = fmr_count(&b, "Fault");
        fmp_get_stats(b.proxy, &st0);
        prod_start(&ja, a.ns, &sa, 2 * CHUNK);
        wait_progress(&b, base, 1 + rand() % CHUNK, "before the stall");
        struct new_error ne = {&x, fmt_wall_ms()};
        fmp_stall(b.proxy, 1);
        prod_join(&ja); /* fa's producer does not cross the proxy */
        /* hold the stall until the replicator notices it (a send or pull to fb timing out
         * shows as a new error in its status), at most 10 s */
        fprintf(stderr, "faults: stall %s by the replicator\n",
                fmt_wait_until(shows_new_error, &ne, 10000) ? "noticed" : "not reported in 10 s");
        fmp_get_stats(b.proxy, &st1);
        assert_true(st1.open > 0); /* the replicator's connection is held, not closed */
        assert_true(fmp_reset(b.proxy) > 0);
        fmp_stall(b.proxy, 0);

        base = fmr_count(&b, "Fault");
        prod_start(&ja, a.ns, &sa, 2 * CHUNK);
        wait_progress(&b, base, 1 + rand() % CHUNK, "before the second reset");
        assert_true(fmp_reset(b.proxy) > 0);
        prod_join(&ja);
        fmp_get_stats(b.proxy, &st1);
        assert_true(st1.resets >= 2);

        /* and the replicator dies while its sends to fb sit in a stalled link: its successor
         * starts behind the same stall, then the link is reset and flows again */
        base = fmr_count(&b, "Fault");
        prod_start(&ja, a.ns, &sa, 2 * CHUNK);
        wait_progress(&b, base, 1 + rand() % CHUNK, "before the stall with a kill");
        fmp_stall(b.proxy, 1);
        prod_join(&ja);
        assert_int_equal(fmr_repl_stop(&x, SIGKILL, 5000) & 0x7f, SIGKILL);
        assert_int_equal(fmr_repl_restart(&x, 15000), 0);
        fmp_reset(b.proxy);
        fmp_stall(b.proxy, 0);
        fprintf(stderr, "faults: stall and resets done, %lld ms\n", (long long)(fmt_now_ms() - t0));
    }

    /* 4. a last round on both sides with nothing broken, then everything must be exact */
    prod_start(&ja, a.ns, &sa, CHUNK);
    prod_start(&jb, b.ns, &sb, CHUNK);
    prod_join(&ja);
    prod_join(&jb);
    wait_progress(&a, 0, sa.n + sb.n, "at the end");
    wait_progress(&b, 0, sa.n + sb.n, "at the end");
    assert_true(fmr_wait_caught_up(&x, 8, WAIT_MS));
    fprintf(stderr, "faults: fa sent %d, fb sent %d, %d kills, %lld ms\n", sa.n, sb.n, kills,
            (long long)(fmt_now_ms() - t0));

    assert_int_equal(fmr_drain(&a, "Fault", "FERRY_SRC_REGION IS NULL", "SQL92", &la), 0);
    assert_int_equal(fmr_drain(&b, "Fault", "FERRY_SRC_REGION IS NULL", "SQL92", &lb), 0);
    assert_int_equal(fmr_drain(&a, "Fault", NULL, NULL, &ga), 0);
    assert_int_equal(fmr_drain(&b, "Fault", NULL, NULL, &gb), 0);
    {
        fmr_expect ea[2] = {{&sa, NULL, NULL}, {&sb, &lb, "fb,fa"}};
        fmr_expect eb[2] = {{&sb, NULL, NULL}, {&sa, &la, "fa,fb"}};
        assert_int_equal(fmr_check(&ga, ea, 2, "fa"), 0);
        assert_int_equal(fmr_check(&gb, eb, 2, "fb"), 0);
    }
    assert_int_equal(fmr_count(&a, "Fault"), sa.n + sb.n);
    assert_int_equal(fmr_count(&b, "Fault"), sa.n + sb.n);

    fmr_got_free(&ga);
    fmr_got_free(&gb);
    fmr_got_free(&la);
    fmr_got_free(&lb);
    fmr_repl_stop(&x, SIGTERM, 15000);
    fmr_repl_cleanup(&x);
    fmr_sent_free(&sa);
    fmr_sent_free(&sb);
    fmr_region_stop(&a);
    fmr_region_stop(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_faults_two_way_exactly_once_in_order, fmr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
