/*
 * Replication topologies (issue 10, Done when 1, 2 and 5), each region its own ferrymqd with
 * its embedded name server, one replicator process, tasks made with `ferrymq task create`:
 * - aggregation: three units feed a center; the center holds exactly every unit's messages
 *   with their origin, an SQL92 consumer on FERRY_SRC_REGION gets exactly one unit's, and the
 *   units get nothing from each other;
 * - two-way between two regions on an identical topic: both end with both sides' messages
 *   once, nothing echoes back, `FERRY_SRC_REGION IS NULL` selects exactly the local ones,
 *   and the pair's two tasks copy on one shared I/O thread; each task's source broker leaves
 *   the other side's copies out (the SQL92 prefilter), and a source broker with property
 *   filters off refuses it, after which that task drops them itself;
 * - a full mesh (forward=local), a chain and a ring (forward=all): every message reaches every
 *   region it should exactly once, along a path that never enters a region twice.
 * - compressed bodies cross as stored (flag kept, bytes not inflated), born timestamps kept,
 *   every property but the stripped ones and CLUSTER (the target's own) kept.
 * - a task --from a time copies nothing stored before it.
 * Every wait is bounded on a count or on the replicator's own status, never a sleep.
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
#include "proto/msg.h"
#include "proto/props.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 90000

/* The replicator must have copied everything and the count must then still be exact, so a
 * late duplicate cannot hide behind an early count check. */
static void
settle(fmr_repl *x, fmr_region *r, const char *topic, int64_t want, int min_queues)
{
    int64_t n;
    if (!fmr_wait_count(r, topic, want, WAIT_MS)) {
        fprintf(stderr, "%s/%s: %lld of %lld after %d ms\n", r->name, topic,
                (long long)fmr_count(r, topic), (long long)want, WAIT_MS);
        fail();
    }
    assert_true(fmr_wait_caught_up(x, min_queues, WAIT_MS));
    n = fmr_count(r, topic);
    if (n != want) {
        fprintf(stderr, "%s/%s holds %lld, want %lld\n", r->name, topic, (long long)n,
                (long long)want);
    }
    assert_int_equal(n, want);
}

/* A task's stats figure (GET /api/v1/tasks/name), -1 when absent. */
static int64_t
task_stat(fmr_repl *x, const char *pair, const char *task, const char *key)
{
    cJSON *tasks = fmr_tasks(x, pair);
    const cJSON *t;
    int64_t v = -1;
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "stats");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, key);
        if (cJSON_IsString(name) && strcmp(name->valuestring, task) == 0 && cJSON_IsNumber(n)) {
            v = (int64_t)n->valuedouble;
        }
    }
    cJSON_Delete(tasks);
    return v;
}

/* Wait (bounded) until a task's stats figure reaches min. The source's filter answers a
 * held pull for what it left out only at the pull's deadline (1 s), so the last copies that
 * came back are counted up to that long after the queues are caught up. */
typedef struct stat_wait {
    fmr_repl *x;
    const char *pair, *task, *key;
    int64_t min;
} stat_wait;

static int
stat_reached(void *ud)
{
    const stat_wait *w = ud;
    return task_stat(w->x, w->pair, w->task, w->key) >= w->min;
}

static int
wait_stat(fmr_repl *x, const char *pair, const char *task, const char *key, int64_t min)
{
    stat_wait w = {x, pair, task, key, min};
    return fmt_wait_until(stat_reached, &w, WAIT_MS);
}

/* Produce on several regions at once (each its own producer thread). */
static void
produce_all(fmr_prod_job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(fmr_produce_start(&jobs[i], jobs[i].ns, jobs[i].s, jobs[i].count), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(fmr_produce_join(&jobs[i]), 0);
    }
}

static void
test_aggregation_three_units_to_center(void **state)
{
    enum { N = 10000 };
    fmr_region unit[3], center;
    fmr_sent sent[3];
    fmr_got got, own[3];
    fmr_repl x;
    fmr_expect ex[3];
    fmr_prod_job jobs[3];
    char path[3][64];
    (void)state;
    memset(&x, 0, sizeof(x));
    memset(&got, 0, sizeof(got));
    memset(own, 0, sizeof(own));
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "unit-%d", i + 1);
        assert_int_equal(fmr_region_start(&unit[i], name, NULL), 0);
        assert_int_equal(fmr_topic_create(&unit[i], "Agg", 4), 0);
        fmr_sent_init(&sent[i], name, "Agg");
    }
    assert_int_equal(fmr_region_start(&center, "center", NULL), 0);
    assert_int_equal(fmr_repl_start(&x, NULL, 15000), 0);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "agg-%d", i + 1);
        FMR_TASK(&x, name, "one-way", &unit[i], &center, "Agg", NULL);
        jobs[i] = (fmr_prod_job){.ns = unit[i].ns, .s = &sent[i], .count = N};
    }
    produce_all(jobs, 3);
    settle(&x, &center, "Agg", 3 * N, 12);
    /* created on demand with the source's queue count */
    assert_int_equal(fmr_topic_queues(&center, "Agg"), 4);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(fmr_drain(&unit[i], "Agg", NULL, NULL, &own[i]), 0);
        snprintf(path[i], sizeof(path[i]), "unit-%d,center", i + 1);
        ex[i] = (fmr_expect){&sent[i], &own[i], path[i]};
    }
    assert_int_equal(fmr_drain(&center, "Agg", NULL, NULL, &got), 0);
    assert_int_equal(got.n, 3 * N);
    assert_int_equal(fmr_check(&got, ex, 3, "center"), 0);

    /* an SQL92 consumer on the origin gets exactly unit-2's */
    assert_int_equal(fmr_drain(&center, "Agg", "FERRY_SRC_REGION = 'unit-2'", "SQL92", &got), 0);
    assert_int_equal(got.n, N);
    assert_int_equal(fmr_check(&got, &ex[1], 1, "center, unit-2 only"), 0);

    /* units get nothing from each other: each holds exactly its own */
    for (int i = 0; i < 3; i++) {
        fmr_expect mine = {&sent[i], NULL, NULL};
        assert_int_equal(own[i].n, N);
        assert_int_equal(fmr_check(&own[i], &mine, 1, unit[i].name), 0);
    }

    fmr_got_free(&got);
    fmr_repl_stop(&x, SIGTERM, 15000);
    fmr_repl_cleanup(&x);
    for (int i = 0; i < 3; i++) {
        fmr_got_free(&own[i]);
        fmr_sent_free(&sent[i]);
        fmr_region_stop(&unit[i]);
    }
    fmr_region_stop(&center);
}

/* Threads of process pid named `name` (/proc/PID/task/TID/comm). */
static int
threads_named(pid_t pid, const char *name)
{
    char path[64], comm[64];
    struct dirent *e;
    int n = 0;
    DIR *d;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        char p[400];
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s/comm", path, e->d_name);
        if ((f = fopen(p, "r")) == NULL) {
            continue; /* the thread has ended since */
        }
        if (fgets(comm, sizeof(comm), f) != NULL) {
            comm[strcspn(comm, "\n")] = 0;
            n += strcmp(comm, name) == 0;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Two regions on topic (4 queues each), a replicator with the two-way pair `pair` between
 * them, and what the tests drain (all zeroed first, freed by pair_down). */
typedef struct pair_run {
    fmr_region a, b;
    fmr_sent sa, sb;
    fmr_got ga, gb, la, lb;
    fmr_repl x;
} pair_run;

static void
pair_up(pair_run *r, const char *na, const char *const *extra_a, const char *nb, const char *topic,
        const char *pair)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(fmr_region_start(&r->a, na, extra_a), 0);
    assert_int_equal(fmr_region_start(&r->b, nb, NULL), 0);
    assert_int_equal(fmr_topic_create(&r->a, topic, 4), 0);
    assert_int_equal(fmr_topic_create(&r->b, topic, 4), 0);
    fmr_sent_init(&r->sa, na, topic);
    fmr_sent_init(&r->sb, nb, topic);
    assert_int_equal(fmr_repl_start(&r->x, NULL, 15000), 0);
    FMR_TASK(&r->x, pair, "two-way", &r->a, &r->b, topic, NULL);
}

static void
pair_down(pair_run *r)
{
    fmr_got_free(&r->ga);
    fmr_got_free(&r->gb);
    fmr_got_free(&r->la);
    fmr_got_free(&r->lb);
    fmr_repl_stop(&r->x, SIGTERM, 15000);
    fmr_repl_cleanup(&r->x);
    fmr_sent_free(&r->sa);
    fmr_sent_free(&r->sb);
    fmr_region_stop(&r->a);
    fmr_region_stop(&r->b);
}

static void
test_two_way_identical_topic_no_echo(void **state)
{
    enum { N = 2000 };
    pair_run r;
    fmr_prod_job jobs[2];
    (void)state;
    pair_up(&r, "east", NULL, "west", "Both", "aa");
    {
        /* one command, a pair of tasks */
        cJSON *tasks = fmr_tasks(&r.x, "aa");
        assert_non_null(tasks);
        assert_int_equal(cJSON_GetArraySize(tasks), 2);
        cJSON_Delete(tasks);
    }
    /* half before, half while both directions run */
    jobs[0] = (fmr_prod_job){.ns = r.a.ns, .s = &r.sa, .count = N / 2};
    jobs[1] = (fmr_prod_job){.ns = r.b.ns, .s = &r.sb, .count = N / 2};
    produce_all(jobs, 2);
    produce_all(jobs, 2);
    settle(&r.x, &r.a, "Both", 2 * N, 8);
    settle(&r.x, &r.b, "Both", 2 * N, 8);
    /* the pair's two tasks copy on one transport: one I/O thread for both, besides the one
     * each task's offset-map lookups (an admin handle) has */
    assert_int_equal(threads_named(r.x.d.pid, "fm-client-io"), 3);
    /* each task left the other side's copies out at their source broker (the SQL92
     * prefilter): none crossed to be dropped here, and the queues still count as caught up.
     * (Each copy at least once: a queue that changed hands is read again from its resume;
     * wait_stat says why the count may trail.) */
    assert_true(wait_stat(&r.x, "aa", "aa-east-west", "filteredAtSource", N));
    assert_int_equal(task_stat(&r.x, "aa", "aa-east-west", "filtered"),
                     task_stat(&r.x, "aa", "aa-east-west", "filteredAtSource"));
    assert_true(wait_stat(&r.x, "aa", "aa-west-east", "filteredAtSource", N));
    assert_int_equal(task_stat(&r.x, "aa", "aa-west-east", "filtered"),
                     task_stat(&r.x, "aa", "aa-west-east", "filteredAtSource"));
    assert_int_equal(fmt_log_count(&r.x.d, "FM-REPL-PREFILTER-OFF"), 0);

    /* local traffic first: FERRY_SRC_REGION IS NULL selects exactly it */
    assert_int_equal(fmr_drain(&r.a, "Both", "FERRY_SRC_REGION IS NULL", "SQL92", &r.la), 0);
    assert_int_equal(fmr_drain(&r.b, "Both", "FERRY_SRC_REGION IS NULL", "SQL92", &r.lb), 0);
    {
        fmr_expect ea = {&r.sa, NULL, NULL}, eb = {&r.sb, NULL, NULL};
        assert_int_equal(r.la.n, N);
        assert_int_equal(r.lb.n, N);
        assert_int_equal(fmr_check(&r.la, &ea, 1, "east local"), 0);
        assert_int_equal(fmr_check(&r.lb, &eb, 1, "west local"), 0);
    }
    /* everything: both sides' once, the copies with a two-region path (none came back) */
    assert_int_equal(fmr_drain(&r.a, "Both", NULL, NULL, &r.ga), 0);
    assert_int_equal(fmr_drain(&r.b, "Both", NULL, NULL, &r.gb), 0);
    {
        fmr_expect ea[2] = {{&r.sa, NULL, NULL}, {&r.sb, &r.lb, "west,east"}};
        fmr_expect eb[2] = {{&r.sb, NULL, NULL}, {&r.sa, &r.la, "east,west"}};
        assert_int_equal(fmr_check(&r.ga, ea, 2, "east"), 0);
        assert_int_equal(fmr_check(&r.gb, eb, 2, "west"), 0);
    }
    pair_down(&r);
}

/* A source broker with property filters off refuses the prefilter: that task pulls
 * everything and drops the echoes itself, exactly as without one; the other keeps it. */
static void
test_two_way_prefilter_refused_falls_back(void **state)
{
    enum { N = 600 };
    const char *no_sql[] = {"--enablePropertyFilter=false", NULL};
    pair_run r;
    fmr_prod_job jobs[2];
    (void)state;
    pair_up(&r, "nosql", no_sql, "sql", "Pre", "pp");
    jobs[0] = (fmr_prod_job){.ns = r.a.ns, .s = &r.sa, .count = N};
    jobs[1] = (fmr_prod_job){.ns = r.b.ns, .s = &r.sb, .count = N};
    produce_all(jobs, 2);
    settle(&r.x, &r.a, "Pre", 2 * N, 8);
    settle(&r.x, &r.b, "Pre", 2 * N, 8);
    assert_true(wait_stat(&r.x, "pp", "pp-nosql-sql", "filtered", N));
    assert_int_equal(task_stat(&r.x, "pp", "pp-nosql-sql", "filteredAtSource"), 0);
    assert_true(wait_stat(&r.x, "pp", "pp-sql-nosql", "filteredAtSource", N));
    assert_int_equal(task_stat(&r.x, "pp", "pp-sql-nosql", "filtered"),
                     task_stat(&r.x, "pp", "pp-sql-nosql", "filteredAtSource"));
    assert_int_equal(fmt_log_count(&r.x.d, "FM-REPL-PREFILTER-OFF"), 1);
    /* exactly once both ways, no echo (sql's drain filters by SQL92 on its own broker) */
    assert_int_equal(fmr_drain(&r.b, "Pre", "FERRY_SRC_REGION IS NULL", "SQL92", &r.lb), 0);
    {
        fmr_expect eb = {&r.sb, NULL, NULL};
        assert_int_equal(r.lb.n, N);
        assert_int_equal(fmr_check(&r.lb, &eb, 1, "sql local"), 0);
    }
    assert_int_equal(fmr_drain(&r.a, "Pre", NULL, NULL, &r.ga), 0);
    assert_int_equal(fmr_drain(&r.b, "Pre", NULL, NULL, &r.gb), 0);
    {
        fmr_expect ea[2] = {{&r.sa, NULL, NULL}, {&r.sb, &r.lb, "sql,nosql"}};
        fmr_expect eb[2] = {{&r.sb, NULL, NULL}, {&r.sa, NULL, "nosql,sql"}};
        assert_int_equal(fmr_check(&r.ga, ea, 2, "nosql"), 0);
        assert_int_equal(fmr_check(&r.gb, eb, 2, "sql"), 0);
    }
    pair_down(&r);
}

/* Three regions r[0..2] named p0 p1 p2, topic with 4 queues on each, N messages from each. */
enum { TN = 600 };

typedef struct topo {
    fmr_region r[3];
    fmr_sent s[3];
    fmr_got local[3];
    fmr_got all[3];
    fmr_repl x;
} topo;

static void
topo_start(topo *t, const char *prefix, const char *topic)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        assert_int_equal(fmr_region_start(&t->r[i], name, NULL), 0);
        assert_int_equal(fmr_topic_create(&t->r[i], topic, 4), 0);
        fmr_sent_init(&t->s[i], name, topic);
    }
    assert_int_equal(fmr_repl_start(&t->x, NULL, 15000), 0);
}

static void
topo_produce(topo *t)
{
    fmr_prod_job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (fmr_prod_job){.ns = t->r[i].ns, .s = &t->s[i], .count = TN};
    }
    produce_all(jobs, 3);
}

static void
topo_drain(topo *t, const char *topic)
{
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            fmr_drain(&t->r[i], topic, "FERRY_SRC_REGION IS NULL", "SQL92", &t->local[i]), 0);
        assert_int_equal(fmr_drain(&t->r[i], topic, NULL, NULL, &t->all[i]), 0);
    }
}

static void
topo_stop(topo *t)
{
    fmr_repl_stop(&t->x, SIGTERM, 15000);
    fmr_repl_cleanup(&t->x);
    for (int i = 0; i < 3; i++) {
        fmr_got_free(&t->local[i]);
        fmr_got_free(&t->all[i]);
        fmr_sent_free(&t->s[i]);
        fmr_region_stop(&t->r[i]);
    }
}

static void
test_topology_full_mesh_forward_local(void **state)
{
    topo t;
    char paths[3][3][64];
    (void)state;
    topo_start(&t, "m", "Mesh");
    /* three pairs; forward=local: a copy never travels on, so each path is one hop */
    FMR_TASK(&t.x, "m01", "two-way", &t.r[0], &t.r[1], "Mesh", "--forward local");
    FMR_TASK(&t.x, "m12", "two-way", &t.r[1], &t.r[2], "Mesh", "--forward local");
    FMR_TASK(&t.x, "m02", "two-way", &t.r[0], &t.r[2], "Mesh", "--forward local");
    topo_produce(&t);
    for (int i = 0; i < 3; i++) {
        settle(&t.x, &t.r[i], "Mesh", 3 * TN, 24);
    }
    topo_drain(&t, "Mesh");
    for (int i = 0; i < 3; i++) {
        fmr_expect ex[3];
        for (int o = 0; o < 3; o++) {
            snprintf(paths[i][o], sizeof(paths[i][o]), "%s,%s", t.r[o].name, t.r[i].name);
            ex[o] = (fmr_expect){&t.s[o], &t.local[o], o == i ? NULL : paths[i][o]};
        }
        assert_int_equal(fmr_check(&t.all[i], ex, 3, t.r[i].name), 0);
    }
    topo_stop(&t);
}

/* The replicator's GET /api/v1/journey on the chain: one more message produced in c0 is found
 * by its offset id and by its UNIQ_KEY in all three regions, origin first, then in path order,
 * each copy with its path and its own queue offset; bad or unknown ids are refused. */
static void
check_journey(topo *t)
{
    char out[4096], uniq[64], offid[64], path[256];
    char *body = NULL;
    cJSON *doc, *hops;
    static const char *const paths[3] = {NULL, "c0,c1", "c0,c1,c2"};
    assert_int_equal(fmt_cli_run(out, sizeof(out), t->r[0].d.dir, NULL,
                                 "-n %s produce -t Chain 'where did I go'", t->r[0].ns),
                     0);
    assert_int_equal(sscanf(out, "%63s %63s", uniq, offid), 2);
    settle(&t->x, &t->r[2], "Chain", 3 * TN + 1, 8);
    for (int by = 0; by < 2; by++) {
        snprintf(path, sizeof(path), "/api/v1/journey?topic=Chain&id=%s", by == 0 ? offid : uniq);
        assert_int_equal(fmr_http(&t->x, "GET", path, &body), 200);
        doc = cJSON_Parse(body);
        free(body);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "uniqKey")->valuestring, uniq);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "origin")->valuestring, "c0");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "missing")), 0);
        hops = cJSON_GetObjectItemCaseSensitive(doc, "hops");
        assert_int_equal(cJSON_GetArraySize(hops), 3);
        for (int i = 0; i < 3; i++) {
            const cJSON *h = cJSON_GetArrayItem(hops, i);
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(h, "properties"), "FERRY_PATH");
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "region")->valuestring,
                                t->r[i].name);
            assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "origin")), i == 0);
            if (paths[i] == NULL) {
                assert_null(p);
            } else {
                assert_string_equal(p->valuestring, paths[i]);
            }
            /* each region's own copy: c0 stored TN before it, c1 2*TN, c2 3*TN, over 8
             * queues, so its offset is region-specific; the offset id is that region's */
            assert_true(cJSON_GetObjectItemCaseSensitive(h, "queueOffset")->valuedouble >= 0);
            if (i == 0) {
                assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "offsetMsgId")->valuestring,
                                    offid);
            } else {
                assert_string_not_equal(
                    cJSON_GetObjectItemCaseSensitive(h, "offsetMsgId")->valuestring, offid);
            }
        }
        cJSON_Delete(doc);
    }
    assert_int_equal(fmr_http(&t->x, "GET", "/api/v1/journey?topic=Chain", &body), 400);
    free(body);
    assert_int_equal(fmr_http(&t->x, "POST", "/api/v1/journey?topic=Chain&id=x", &body), 405);
    free(body);
    assert_int_equal(fmr_http(&t->x, "GET",
                              "/api/v1/journey?topic=Chain&id=0123456789ABCDEF0123456789ABCDEF",
                              &body),
                     404);
    free(body);
}

static void
test_topology_chain_forward_all(void **state)
{
    topo t;
    (void)state;
    topo_start(&t, "c", "Chain");
    FMR_TASK(&t.x, "c01", "one-way", &t.r[0], &t.r[1], "Chain", "--forward all");
    FMR_TASK(&t.x, "c12", "one-way", &t.r[1], &t.r[2], "Chain", "--forward all");
    topo_produce(&t);
    settle(&t.x, &t.r[1], "Chain", 2 * TN, 8);
    settle(&t.x, &t.r[2], "Chain", 3 * TN, 8);
    assert_int_equal(fmr_count(&t.r[0], "Chain"), TN);
    topo_drain(&t, "Chain");
    {
        fmr_expect e0[1] = {{&t.s[0], NULL, NULL}};
        fmr_expect e1[2] = {{&t.s[1], NULL, NULL}, {&t.s[0], &t.local[0], "c0,c1"}};
        fmr_expect e2[3] = {{&t.s[2], NULL, NULL},
                            {&t.s[1], &t.local[1], "c1,c2"},
                            {&t.s[0], &t.local[0], "c0,c1,c2"}};
        assert_int_equal(fmr_check(&t.all[0], e0, 1, "c0"), 0);
        assert_int_equal(fmr_check(&t.all[1], e1, 2, "c1"), 0);
        assert_int_equal(fmr_check(&t.all[2], e2, 3, "c2"), 0);
    }
    check_journey(&t);
    topo_stop(&t);
}

static void
test_topology_ring_forward_all(void **state)
{
    topo t;
    char paths[3][3][64];
    (void)state;
    topo_start(&t, "r", "Ring");
    FMR_TASK(&t.x, "r01", "one-way", &t.r[0], &t.r[1], "Ring", "--forward all");
    FMR_TASK(&t.x, "r12", "one-way", &t.r[1], &t.r[2], "Ring", "--forward all");
    FMR_TASK(&t.x, "r20", "one-way", &t.r[2], &t.r[0], "Ring", "--forward all");
    topo_produce(&t);
    for (int i = 0; i < 3; i++) {
        settle(&t.x, &t.r[i], "Ring", 3 * TN, 12);
    }
    topo_drain(&t, "Ring");
    for (int i = 0; i < 3; i++) {
        fmr_expect ex[3];
        for (int o = 0; o < 3; o++) {
            /* around the ring from o to i: o, o+1, ..., i */
            int n = snprintf(paths[i][o], sizeof(paths[i][o]), "%s", t.r[o].name);
            for (int k = (o + 1) % 3; o != i; k = (k + 1) % 3) {
                n += snprintf(paths[i][o] + n, sizeof(paths[i][o]) - (size_t)n, ",%s", t.r[k].name);
                if (k == i) {
                    break;
                }
            }
            ex[o] = (fmr_expect){&t.s[o], &t.local[o], o == i ? NULL : paths[i][o]};
        }
        assert_int_equal(fmr_check(&t.all[i], ex, 3, t.r[i].name), 0);
    }
    topo_stop(&t);
}

/* The raw records of queue 0 of topic on broker port (at most cap), decoded in place in resp. */
static int
raw_records(int port, const char *topic, fmt_resp *resp, fm_msg_view *v, int cap)
{
    int fd = fmt_connect(port, 5000), n = 0;
    size_t off = 0;
    assert_true(fd >= 0);
    assert_int_equal(fmt_pull(fd, "zip-raw", topic, 0, 0, cap, "*", "TAG", resp), FM_RESP_SUCCESS);
    close(fd);
    while (off < resp->cmd.body.len && n < cap) {
        assert_int_equal(
            fm_msg_decode(resp->cmd.body.ptr + off, resp->cmd.body.len - off, &v[n], NULL), FM_OK);
        off += v[n].total_size;
        n++;
    }
    return n;
}

static void
test_compressed_bodies_cross_as_stored(void **state)
{
    enum { ZN = 20, ZLEN = 20000 };
    fmr_region a, b;
    fmr_repl x;
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_producer *p = NULL;
    fmt_resp ra = {0}, rb = {0};
    fm_msg_view va[ZN], vb[ZN];
    char err[256];
    char *body = malloc(ZLEN);
    (void)state;
    memset(&x, 0, sizeof(x));
    assert_int_equal(fmr_region_start(&a, "za", NULL), 0);
    assert_int_equal(fmr_region_start(&b, "zb", NULL), 0);
    assert_int_equal(fmr_topic_create(&a, "Zip", 1), 0);
    assert_int_equal(ferrymq_conf_set(conf, "namesrvAddr", a.ns, err, sizeof(err)), 0);
    assert_int_equal(ferrymq_producer_new(conf, &p, err, sizeof(err)), 0);
    for (int i = 0; i < ZN; i++) {
        ferrymq_msg *m;
        ferrymq_send_result res;
        for (int k = 0; k < ZLEN; k++) {
            body[k] = (char)('a' + (k / 100 + i) % 26); /* compressible: the library deflates it */
        }
        m = ferrymq_msg_new("Zip", body, ZLEN);
        /* properties a stock broker would act on, between and after ones that must cross */
        ferrymq_msg_set_property(m, "u1", "v1");
        ferrymq_msg_set_property(m, "TIMER_DELAY_MS", "5000");
        ferrymq_msg_set_property(m, "u2", "v2");
        ferrymq_msg_set_property(m, "WAIT", "false");
        ferrymq_msg_set_property(m, "u3", "");
        ferrymq_msg_set_property(m, "INNER_MULTI_DISPATCH", "x");
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), 0);
        ferrymq_msg_free(m);
    }
    ferrymq_producer_close(p, 5000);
    ferrymq_conf_free(conf);
    assert_int_equal(fmr_repl_start(&x, NULL, 15000), 0);
    FMR_TASK(&x, "zip", "one-way", &a, &b, "Zip", NULL);
    settle(&x, &b, "Zip", ZN, 1);

    assert_int_equal(raw_records(a.broker_port, "Zip", &ra, va, ZN), ZN);
    assert_int_equal(raw_records(b.broker_port, "Zip", &rb, vb, ZN), ZN);
    for (int i = 0; i < ZN; i++) {
        assert_true(va[i].sysflag & FM_MSG_SYSFLAG_COMPRESSED);
        assert_true(vb[i].sysflag & FM_MSG_SYSFLAG_COMPRESSED);
        assert_true(va[i].body.len < ZLEN);
        assert_int_equal(vb[i].body.len, va[i].body.len);
        assert_memory_equal(vb[i].body.ptr, va[i].body.ptr, va[i].body.len);
        assert_int_equal(vb[i].born_timestamp, va[i].born_timestamp);
        /* every source property crosses with its value, but those stripped */
        {
            static const char *const stripped[] = {"TIMER_DELAY_MS", "WAIT",
                                                   "INNER_MULTI_DISPATCH"};
            fm_props_iter it;
            fm_slice n, v;
            int seen = 0;
            assert_true(fm_props_valid(vb[i].properties));
            fm_props_iter_init(&it, va[i].properties);
            while (fm_props_next(&it, &n, &v) == FM_OK) {
                char name[64];
                int strip = 0;
                fm_slice_to_cstr(n, name, sizeof(name));
                for (size_t k = 0; k < 3; k++) {
                    strip |= strcmp(name, stripped[k]) == 0;
                }
                if (strip) {
                    assert_null(fm_props_get(vb[i].properties, name).ptr);
                } else if (strcmp(name, "CLUSTER") == 0) {
                    /* every broker stamps its own cluster, as RocketMQ's; the source's is in
                     * FERRY_SRC_CLUSTER */
                    char want[64];
                    snprintf(want, sizeof(want), "%s-cluster", b.name);
                    assert_true(
                        fm_slice_eq(fm_props_get(vb[i].properties, name), fm_slice_cstr(want)));
                } else {
                    fm_slice w = fm_props_get(vb[i].properties, name);
                    assert_non_null(w.ptr);
                    assert_int_equal(w.len, v.len);
                    assert_memory_equal(w.ptr, v.ptr, v.len);
                    seen++;
                }
            }
            assert_true(seen >= 3); /* u1, u2, u3 at least */
            assert_true(fm_slice_eq_cstr(fm_props_get(vb[i].properties, "u3"), ""));
            assert_true(fm_slice_eq_cstr(fm_props_get(vb[i].properties, "FERRY_SRC_REGION"), "za"));
            assert_true(fm_slice_eq_cstr(fm_props_get(vb[i].properties, "FERRY_PATH"), "za,zb"));
        }
    }
    fmt_resp_free(&ra);
    fmt_resp_free(&rb);
    free(body);
    fmr_repl_stop(&x, SIGTERM, 15000);
    fmr_repl_cleanup(&x);
    fmr_region_stop(&a);
    fmr_region_stop(&b);
}

static int64_t
wall_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A task --from TIME copies nothing stored before TIME, although SEARCH_OFFSET_BY_TIMESTAMP
 * answers (as RocketMQ's does) the message nearest to it, here the one just before. */
static void
test_from_time_copies_nothing_stored_before(void **state)
{
    fmr_region e, w;
    fmr_repl x;
    fmt_resp r = {0};
    int64_t t[3];
    char more[64];
    int fd;
    (void)state;
    memset(&x, 0, sizeof(x));
    assert_int_equal(fmr_region_start(&e, "fe", NULL), 0);
    assert_int_equal(fmr_region_start(&w, "fw", NULL), 0);
    assert_int_equal(fmr_topic_create(&e, "FromT", 1), 0);
    fd = fmt_connect(e.d.remoting_port, 5000);
    assert_true(fd >= 0);
    for (int i = 0; i < 3; i++) {
        int64_t not_before = wall_now_ms() + 30;
        /* store times 30 ms apart (ms resolution): spin, nothing to wait for */
        while (i > 0 && wall_now_ms() < not_before) {
        }
        assert_int_equal(fmt_send_msg(fd, "FromT", 0, "m", "t", "k", NULL, NULL, 0), 0);
    }
    assert_int_equal(fmt_pull(fd, "probe", "FromT", 0, 0, 32, "*", "TAG", &r), FM_RESP_SUCCESS);
    assert_int_equal(fmt_store_times(r.cmd.body, t, 3), 3);
    fmt_resp_free(&r);
    close(fd);
    /* 1 ms after the second message: nearer to it than to the third */
    assert_true(t[2] - t[1] >= 30);
    assert_int_equal(fmr_repl_start(&x, NULL, 15000), 0);
    snprintf(more, sizeof(more), "--from %lld", (long long)(t[1] + 1));
    FMR_TASK(&x, "ft", "one-way", &e, &w, "FromT", more);
    settle(&x, &w, "FromT", 1, 1);
    /* and it is the third */
    fd = fmt_connect(w.d.remoting_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(fmt_pull(fd, "probe", "FromT", 0, 0, 32, "*", "TAG", &r), FM_RESP_SUCCESS);
    {
        fm_msg_view m;
        fm_slice o;
        assert_int_equal(fm_msg_decode(r.cmd.body.ptr, r.cmd.body.len, &m, NULL), FM_OK);
        o = fm_props_get(m.properties, "FERRY_SRC_OFFSET");
        assert_true(fm_slice_eq(o, FM_SLICE_LIT("2")));
    }
    fmt_resp_free(&r);
    close(fd);
    fmr_repl_stop(&x, SIGTERM, 15000);
    fmr_repl_cleanup(&x);
    fmr_region_stop(&e);
    fmr_region_stop(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_aggregation_three_units_to_center, fmr_teardown),
        cmocka_unit_test_teardown(test_two_way_identical_topic_no_echo, fmr_teardown),
        cmocka_unit_test_teardown(test_two_way_prefilter_refused_falls_back, fmr_teardown),
        cmocka_unit_test_teardown(test_topology_full_mesh_forward_local, fmr_teardown),
        cmocka_unit_test_teardown(test_topology_chain_forward_all, fmr_teardown),
        cmocka_unit_test_teardown(test_topology_ring_forward_all, fmr_teardown),
        cmocka_unit_test_teardown(test_compressed_bodies_cross_as_stored, fmr_teardown),
        cmocka_unit_test_teardown(test_from_time_copies_nothing_stored_before, fmr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
