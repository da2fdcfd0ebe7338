/*
 * Scale-out (issue 10, Done when 4): two replicator processes run the same task; they split
 * the source queues through the task's consumer group on the source cluster (each one's task
 * status lists the queues it holds: together all, none twice); one is killed with SIGKILL in
 * the middle of the stream and the other takes its queues; the target ends with every message
 * exactly once, in order per source queue.
 *
 * The source broker runs with a short rebalanceLockMaxLiveTime, so a dead replicator's queue
 * locks expire in seconds, not a minute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmrepl.h"
#include "fmtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 90000
#define QUEUES 8

static char out[16384];

/* The queue ids x's status of task name lists as held; returns how many (ids in ids[]). */
static int
held(fmr_repl *x, const char *name, int ids[QUEUES * 2])
{
    cJSON *tasks = fmr_tasks(x, name), *t, *q;
    int n = 0;
    cJSON_ArrayForEach(t, tasks)
    {
        cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(t, "queues"))
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "queueId");
            if (cJSON_IsNumber(id) && n < QUEUES * 2) {
                ids[n++] = id->valueint;
            }
        }
    }
    cJSON_Delete(tasks);
    return n;
}

struct split {
    fmr_repl *x1, *x2; /* x2 NULL: x1 alone must hold all */
};

static int
split_cond(void *ud)
{
    struct split *w = ud;
    int a[QUEUES * 2], b[QUEUES * 2], seen[QUEUES] = {0};
    int na = held(w->x1, "sc", a), nb = w->x2 ? held(w->x2, "sc", b) : 0;
    if (na + nb != QUEUES || (w->x2 != NULL && (na == 0 || nb == 0))) {
        return 0;
    }
    for (int i = 0; i < na + nb; i++) {
        int id = i < na ? a[i] : b[i - na];
        if (id < 0 || id >= QUEUES || seen[id]++) {
            return 0;
        }
    }
    return 1;
}

static void
test_scale_out_two_replicators_split_and_take_over(void **state)
{
    fmr_region src, dst;
    fmr_repl x1, x2;
    fmr_sent s;
    fmr_got gs, gd;
    struct split w;
    fmr_prod_job job;
    const char *src_extra[] = {"--rebalanceLockMaxLiveTime=3000", NULL};
    (void)state;
    memset(&x1, 0, sizeof(x1));
    memset(&x2, 0, sizeof(x2));
    memset(&gs, 0, sizeof(gs));
    memset(&gd, 0, sizeof(gd));
    assert_int_equal(fmr_region_start(&src, "so", src_extra), 0);
    assert_int_equal(fmr_region_start(&dst, "sd", NULL), 0);
    assert_int_equal(fmr_topic_create(&src, "Scale", QUEUES), 0);
    fmr_sent_init(&s, "so", "Scale");
    assert_int_equal(fmr_repl_start(&x1, NULL, 15000), 0);
    assert_int_equal(fmr_repl_start(&x2, NULL, 15000), 0);
    /* the same task on both: the same name, so the same source group ferry-task-sc */
    for (int i = 0; i < 2; i++) {
        int rc = fmr_task_create(i ? &x2 : &x1, out, sizeof(out), "sc", "one-way", &src, &dst,
                                 "Scale", NULL);
        if (rc != 0) {
            fprintf(stderr, "%s\n", out);
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(fmr_produce(src.ns, &s, 1000), 0);

    /* both hold some queues, together all, none twice */
    w = (struct split){&x1, &x2};
    if (!fmt_wait_until(split_cond, &w, WAIT_MS)) {
        int a[QUEUES * 2], b[QUEUES * 2];
        fprintf(stderr, "scale: no split: x1 holds %d, x2 holds %d\n", held(&x1, "sc", a),
                held(&x2, "sc", b));
        fail();
    }
    assert_true(fmr_wait_count(&dst, "Scale", 1000, WAIT_MS));

    /* kill -9 one of them while the next 1,000 are being copied */
    assert_int_equal(fmr_produce_start(&job, src.ns, &s, 1000), 0);
    assert_true(fmr_wait_count(&dst, "Scale", 1000 + 1 + rand() % 500, WAIT_MS));
    assert_int_equal(fmr_repl_stop(&x1, SIGKILL, 5000) & 0x7f, SIGKILL);
    assert_int_equal(fmr_produce_join(&job), 0);

    /* the survivor takes every queue and copies the rest */
    w = (struct split){&x2, NULL};
    if (!fmt_wait_until(split_cond, &w, WAIT_MS)) {
        int b[QUEUES * 2];
        fprintf(stderr, "scale: x2 holds %d of %d after the kill\n", held(&x2, "sc", b), QUEUES);
        fail();
    }
    assert_int_equal(fmr_produce(src.ns, &s, 1000), 0);
    assert_true(fmr_wait_count(&dst, "Scale", s.n, WAIT_MS));
    assert_true(fmr_wait_caught_up(&x2, QUEUES, WAIT_MS));
    assert_int_equal(fmr_count(&dst, "Scale"), s.n);

    assert_int_equal(fmr_drain(&src, "Scale", NULL, NULL, &gs), 0);
    assert_int_equal(fmr_drain(&dst, "Scale", NULL, NULL, &gd), 0);
    {
        fmr_expect ex = {&s, &gs, "so,sd"};
        assert_int_equal(fmr_check(&gd, &ex, 1, "sd"), 0);
    }

    fmr_got_free(&gs);
    fmr_got_free(&gd);
    fmr_repl_stop(&x2, SIGTERM, 15000);
    fmr_repl_cleanup(&x1);
    fmr_repl_cleanup(&x2);
    fmr_sent_free(&s);
    fmr_region_stop(&src);
    fmr_region_stop(&dst);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_scale_out_two_replicators_split_and_take_over, fmr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
