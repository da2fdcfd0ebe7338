/*
 * Progress sync (issue 11) against real brokers and a real replicator: a task's --groups have
 * their committed source offsets translated onto the target, checked against a brute-force
 * scan of the target queue (the first copy, in target order, whose FERRY_SRC_OFFSET is >= the
 * committed offset; one past the last copy when there is none):
 *   - one-way into the same group, on a target that takes local writes in between, at random
 *     committed offsets, then again after a kill -9 of the replicator for offsets older than
 *     its new history (found by scanning the target); never while the group has a consumer
 *     online on the target;
 *   - two-way into the shadow group <group>-from-<region>, the live group on each side left
 *     as its own consumers committed it;
 *   - the task's status: per group its target group, state and sync age.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmprom.h"
#include "fmrepl.h"
#include "fmtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 60000
#define QUEUES 4

static void
commit(ferrymq_consumer *c, const fmr_region *r, const char *topic, int qid, int64_t off)
{
    ferrymq_queue q = fmr_queue(r, topic, qid);
    char err[256];
    if (ferrymq_consumer_commit(c, &q, off, err, sizeof(err)) != 0) {
        fprintf(stderr, "commit %s/%d: %s\n", topic, qid, err);
        fail();
    }
}

static int64_t
committed(ferrymq_consumer *c, const fmr_region *r, const char *topic, int qid)
{
    ferrymq_queue q = fmr_queue(r, topic, qid);
    int64_t off = -1;
    char err[256];
    if (ferrymq_consumer_committed(c, &q, &off, err, sizeof(err)) != 0) {
        return -1;
    }
    return off;
}

/* The brute-force translation of committed offset c of source queue qid (region src) on the
 * target's drain g: the first copy in target order with a source offset >= c, else one past
 * the last copy of that queue (-1 when there is none). */
static int64_t
brute(const fmr_got *g, const char *src, int qid, int64_t c)
{
    int64_t last = -1;
    for (size_t i = 0; i < g->n; i++) {
        const fmr_rec *r = &g->recs[i];
        if (r->qid != qid || strcmp(r->src_region, src) != 0 || r->src_qid != qid) {
            continue;
        }
        if (r->src_offset >= c) {
            return r->offset;
        }
        last = r->offset + 1;
    }
    return last;
}

typedef struct offsets_ud {
    ferrymq_consumer *c;
    const fmr_region *r;
    const char *topic;
    const int64_t *want;
} offsets_ud;

static int
offsets_are(void *arg)
{
    offsets_ud *u = arg;
    for (int q = 0; q < QUEUES; q++) {
        if (committed(u->c, u->r, u->topic, q) != u->want[q]) {
            return 0;
        }
    }
    return 1;
}

static void
expect_offsets(ferrymq_consumer *c, const fmr_region *r, const char *topic, const int64_t *want,
               const char *label)
{
    offsets_ud u = {c, r, topic, want};
    if (!fmt_wait_until(offsets_are, &u, WAIT_MS)) {
        for (int q = 0; q < QUEUES; q++) {
            fprintf(stderr, "%s: queue %d: target group at %lld, brute force says %lld\n", label, q,
                    (long long)committed(c, r, topic, q), (long long)want[q]);
        }
        fail();
    }
}

/* The task's status entry for group (its "sync" array), detached; NULL when absent. */
static cJSON *
sync_status(fmr_repl *x, const char *task, const char *group)
{
    cJSON *tasks = fmr_tasks(x, task), *g, *found = NULL;
    if (tasks == NULL || cJSON_GetArraySize(tasks) < 1) {
        cJSON_Delete(tasks);
        return NULL;
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tasks, 0), "sync"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, "group");
        if (cJSON_IsString(n) && strcmp(n->valuestring, group) == 0) {
            found = cJSON_Duplicate(g, 1);
        }
    }
    cJSON_Delete(tasks);
    return found;
}

typedef struct state_ud {
    fmr_repl *x;
    const char *task, *group, *prefix;
} state_ud;

static int
state_starts(void *arg)
{
    state_ud *u = arg;
    cJSON *g = sync_status(u->x, u->task, u->group);
    const cJSON *st = g != NULL ? cJSON_GetObjectItemCaseSensitive(g, "state") : NULL;
    int ok = cJSON_IsString(st) && strncmp(st->valuestring, u->prefix, strlen(u->prefix)) == 0;
    cJSON_Delete(g);
    return ok;
}

/* Every queue of the task has a sync entry for the group whose state starts with prefix and,
 * when source is not NULL, whose last read source offset is source[queueId]: a sync round has
 * seen those offsets. */
typedef struct queues_ud {
    fmr_repl *x;
    const char *task, *group, *prefix;
    const int64_t *source;
} queues_ud;

static int
queues_are(void *arg)
{
    queues_ud *u = arg;
    cJSON *tasks = fmr_tasks(u->x, u->task), *q;
    int n = 0, ok = tasks != NULL && cJSON_GetArraySize(tasks) >= 1;
    if (ok) {
        cJSON_ArrayForEach(q,
                           cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tasks, 0), "queues"))
        {
            const cJSON *qid = cJSON_GetObjectItemCaseSensitive(q, "queueId"), *y;
            int seen = 0;
            cJSON_ArrayForEach(y, cJSON_GetObjectItemCaseSensitive(q, "sync"))
            {
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(y, "group");
                const cJSON *st = cJSON_GetObjectItemCaseSensitive(y, "state");
                const cJSON *src = cJSON_GetObjectItemCaseSensitive(y, "sourceOffset");
                if (!cJSON_IsString(g) || strcmp(g->valuestring, u->group) != 0) {
                    continue;
                }
                seen =
                    cJSON_IsString(st) &&
                    strncmp(st->valuestring, u->prefix, strlen(u->prefix)) == 0 &&
                    (u->source == NULL || (cJSON_IsNumber(qid) && qid->valueint >= 0 &&
                                           qid->valueint < QUEUES && cJSON_IsNumber(src) &&
                                           (int64_t)src->valuedouble == u->source[qid->valueint]));
            }
            ok = ok && seen;
            n++;
        }
    }
    cJSON_Delete(tasks);
    return ok && n == QUEUES;
}

/* The group's status is not stale: fresh syncs are reported as such (a slow round on a loaded
 * machine may leave one older than three intervals for a moment). */
static int
sync_fresh(void *arg)
{
    state_ud *u = arg;
    cJSON *g = sync_status(u->x, u->task, u->group);
    int ok = g != NULL && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(g, "stale"));
    cJSON_Delete(g);
    return ok;
}

static int
metrics_fresh(void *arg)
{
    state_ud *u = arg;
    char *body = NULL, want[200];
    int ok;
    snprintf(want, sizeof(want), "ferrymq_replication_sync_stale{task=\"%s\",group=\"%s\"} 0\n",
             u->task, u->group);
    ok = fmr_http(u->x, "GET", "/metrics", &body) == 200 && body != NULL &&
         strstr(body, want) != NULL;
    free(body);
    return ok;
}

/* Random committed offsets within each source queue's [0, max] (the same each run). */
static void
random_commits(ferrymq_consumer *c, const fmr_region *r, const char *topic, int64_t *off,
               unsigned *seed)
{
    for (int q = 0; q < QUEUES; q++) {
        ferrymq_queue qq = fmr_queue(r, topic, q);
        int64_t min = 0, max = 0;
        char err[256];
        assert_int_equal(ferrymq_admin_queue_offsets(r->adm, &qq, &min, &max, err, sizeof(err)), 0);
        off[q] = min + (int64_t)(rand_r(seed) % (unsigned)(max - min + 1));
        commit(c, r, topic, q, off[q]);
    }
}

/* Two regions east (a) and west (b) with topic on both, what each sent, and a replicator. */
typedef struct pair {
    fmr_region a, b;
    fmr_sent sa, sb;
    fmr_repl x;
} pair;

static void
pair_start(pair *p, const char *topic)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(fmr_region_start(&p->a, "east", NULL), 0);
    assert_int_equal(fmr_region_start(&p->b, "west", NULL), 0);
    assert_int_equal(fmr_topic_create(&p->a, topic, QUEUES), 0);
    assert_int_equal(fmr_topic_create(&p->b, topic, QUEUES), 0);
    fmr_sent_init(&p->sa, "east", topic);
    fmr_sent_init(&p->sb, "west", topic);
    assert_int_equal(fmr_repl_start(&p->x, NULL, 15000), 0);
}

/* Produce in rounds, alternating sides, so copies and local writes interleave on each
 * target; then wait until everything is copied. */
static void
pair_produce(pair *p, const char *topic, int rounds, int n_a, int n_b, int64_t want_a,
             int64_t want_b, int queues)
{
    for (int round = 0; round < rounds; round++) {
        assert_int_equal(fmr_produce(p->a.ns, &p->sa, n_a), 0);
        assert_int_equal(fmr_produce(p->b.ns, &p->sb, n_b), 0);
    }
    assert_true(fmr_wait_count(&p->a, topic, want_a, WAIT_MS));
    assert_true(fmr_wait_count(&p->b, topic, want_b, WAIT_MS));
    assert_true(fmr_wait_caught_up(&p->x, queues, WAIT_MS));
}

static void
pair_stop(pair *p)
{
    fmr_repl_stop(&p->x, SIGTERM, 15000);
    fmr_repl_cleanup(&p->x);
    fmr_sent_free(&p->sa);
    fmr_sent_free(&p->sb);
    fmr_region_stop(&p->a);
    fmr_region_stop(&p->b);
}

static int
consume_nothing(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    (void)opaque;
    (void)msgs;
    (void)n;
    return 0;
}

static void
test_one_way_sync_is_exact_and_never_moves_a_live_group(void **state)
{
    pair p;
    fmr_region *a = &p.a, *b = &p.b;
    fmr_repl *x = &p.x;
    fmr_got gb;
    ferrymq_consumer *src_g, *dst_g;
    int64_t c[QUEUES], want[QUEUES];
    unsigned seed = 11;
    (void)state;
    memset(&gb, 0, sizeof(gb));
    pair_start(&p, "Pay");
    assert_int_equal(fmr_topic_create(b, "Other", 1), 0);
    FMR_TASK(x, "dr", "one-way", a, b, "Pay", "--groups billing --sync-interval 200");
    pair_produce(&p, "Pay", 4, 150, 40, 600, 760, QUEUES);
    assert_int_equal(fmr_drain(b, "Pay", NULL, NULL, &gb), 0);

    src_g = fmr_group_consumer(a, "billing");
    dst_g = fmr_group_consumer(b, "billing");
    for (int k = 0; k < 3; k++) {
        random_commits(src_g, a, "Pay", c, &seed);
        for (int q = 0; q < QUEUES; q++) {
            want[q] = brute(&gb, "east", q, c[q]);
        }
        expect_offsets(dst_g, b, "Pay", want, "one-way");
    }
    {
        state_ud u = {x, "dr", "billing", NULL};
        cJSON *g;
        assert_true(fmt_wait_until(sync_fresh, &u, WAIT_MS));
        g = sync_status(x, "dr", "billing");
        assert_non_null(g);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "targetGroup")->valuestring,
                            "billing");
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(g, "syncAgeMs")));
        cJSON_Delete(g);
    }
    {
        /* the target group's config was checked before the first write: missing on the
         * target, it was made from the source's (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP) */
        cJSON *tasks = fmr_tasks(x, "dr");
        const cJSON *q0 = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tasks, 0), "queues"), 0);
        const cJSON *y = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q0, "sync"), 0);
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(y, "targetGroupConfig");
        assert_true(cJSON_IsString(cfg));
        assert_string_equal(cfg->valuestring, "created from the source's");
        cJSON_Delete(tasks);
    }
    {
        char *body = NULL;
        state_ud u = {x, "dr", "billing", NULL};
        assert_true(fmt_wait_until(metrics_fresh, &u, WAIT_MS));
        assert_int_equal(fmr_http(x, "GET", "/metrics", &body), 200);
        assert_non_null(
            strstr(body, "ferrymq_replication_sync_age_seconds{task=\"dr\",group=\"billing\"} "));
        {
            /* a running task's scrape: strict text format, every documented family */
            char err[512], names[64][128];
            int n = fmprom_documented("docs/metrics.md", "## Replicator", names, 64);
            if (fmprom_check(body, err, sizeof(err)) != 0) {
                fail_msg("replicator /metrics: %s", err);
            }
            assert_true(n >= 9);
            for (int i = 0; i < n; i++) {
                if (!fmprom_has_family(body, names[i])) {
                    fail_msg("docs/metrics.md lists %s, the replicator's /metrics lacks it",
                             names[i]);
                }
            }
        }
        free(body);
    }

    /* After a kill -9 the history restarts at the checkpoint: offsets from before it are
     * found by scanning the target, and are as exact. */
    assert_int_equal(fmr_repl_stop(x, SIGKILL, 10000) >= 0, 1);
    assert_int_equal(fmr_repl_restart(x, 15000), 0);
    for (int q = 0; q < QUEUES; q++) {
        c[q] = q; /* early in each queue */
        commit(src_g, a, "Pay", q, c[q]);
        want[q] = brute(&gb, "east", q, c[q]);
    }
    expect_offsets(dst_g, b, "Pay", want, "one-way after a restart");

    /* A consumer of the group online on the target: the group is not moved any more. */
    {
        ferrymq_conf *conf = ferrymq_conf_new();
        ferrymq_push_consumer *pc;
        char err[256];
        int64_t before[QUEUES];
        state_ud u = {x, "dr", "billing", "not moved"};
        int64_t moved[QUEUES];
        queues_ud online = {x, "dr", "billing", "not moved", NULL};
        queues_ud seen = {x, "dr", "billing", "not moved", moved};
        ferrymq_conf_set(conf, "namesrvAddr", b->ns, NULL, 0);
        ferrymq_conf_set(conf, "consumerGroup", "billing", NULL, 0);
        assert_int_equal(ferrymq_push_consumer_new(conf, &pc, err, sizeof(err)), 0);
        ferrymq_conf_free(conf);
        assert_int_equal(ferrymq_push_consumer_subscribe(pc, "Other", "*", NULL, err, sizeof(err)),
                         0);
        assert_int_equal(ferrymq_push_consumer_start(pc, FERRYMQ_CONSUME_CONCURRENTLY,
                                                     consume_nothing, NULL, err, sizeof(err)),
                         0);
        /* The consumer's heartbeat reaches the target from its own thread, after start returns:
         * the source moves only once every queue's round has seen it online, and the target
         * group is checked once a round has read the moved source offsets. */
        assert_true(fmt_wait_until(queues_are, &online, WAIT_MS));
        for (int q = 0; q < QUEUES; q++) {
            before[q] = committed(dst_g, b, "Pay", q);
            moved[q] = c[q] + 50;
            commit(src_g, a, "Pay", q, moved[q]);
        }
        assert_true(fmt_wait_until(queues_are, &seen, WAIT_MS));
        assert_true(fmt_wait_until(state_starts, &u, WAIT_MS));
        for (int q = 0; q < QUEUES; q++) {
            assert_int_equal(committed(dst_g, b, "Pay", q), before[q]);
        }
        ferrymq_push_consumer_close(pc);
    }

    ferrymq_consumer_close(src_g);
    ferrymq_consumer_close(dst_g);
    fmr_got_free(&gb);
    pair_stop(&p);
}

static void
test_two_way_sync_fills_the_shadow_group_only(void **state)
{
    pair p;
    fmr_region *a = &p.a, *b = &p.b;
    fmr_repl *x = &p.x;
    fmr_got ga, gb;
    ferrymq_consumer *a_g, *b_g, *a_shadow, *b_shadow;
    int64_t ca[QUEUES], cb[QUEUES], want_a[QUEUES], want_b[QUEUES];
    unsigned seed = 7;
    (void)state;
    memset(&ga, 0, sizeof(ga));
    memset(&gb, 0, sizeof(gb));
    pair_start(&p, "Both");
    FMR_TASK(x, "aa", "two-way", a, b, "Both", "--groups orders --sync-interval 200");
    pair_produce(&p, "Both", 4, 100, 100, 800, 800, 2 * QUEUES);
    assert_int_equal(fmr_drain(a, "Both", NULL, NULL, &ga), 0);
    assert_int_equal(fmr_drain(b, "Both", NULL, NULL, &gb), 0);

    a_g = fmr_group_consumer(a, "orders");
    b_g = fmr_group_consumer(b, "orders");
    a_shadow = fmr_group_consumer(a, "orders-from-west");
    b_shadow = fmr_group_consumer(b, "orders-from-east");
    /* the live group consumes on both sides; each side's offsets are its own */
    random_commits(a_g, a, "Both", ca, &seed);
    random_commits(b_g, b, "Both", cb, &seed);
    for (int q = 0; q < QUEUES; q++) {
        want_b[q] = brute(&gb, "east", q, ca[q]); /* east's progress, on west's shadow */
        want_a[q] = brute(&ga, "west", q, cb[q]);
    }
    expect_offsets(b_shadow, b, "Both", want_b, "shadow on west");
    expect_offsets(a_shadow, a, "Both", want_a, "shadow on east");
    for (int q = 0; q < QUEUES; q++) {
        assert_int_equal(committed(a_g, a, "Both", q), ca[q]);
        assert_int_equal(committed(b_g, b, "Both", q), cb[q]);
    }
    {
        cJSON *g = sync_status(x, "aa-east-west", "orders");
        assert_non_null(g);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "targetGroup")->valuestring,
                            "orders-from-east");
        cJSON_Delete(g);
    }
    ferrymq_consumer_close(a_g);
    ferrymq_consumer_close(b_g);
    ferrymq_consumer_close(a_shadow);
    ferrymq_consumer_close(b_shadow);
    fmr_got_free(&ga);
    fmr_got_free(&gb);
    pair_stop(&p);
}

typedef struct followed_ud {
    fmr_repl *x;
    const char *task;
    const char *const *want; /* NULL-terminated, in the order the status lists them */
} followed_ud;

static int
follows(void *arg)
{
    followed_ud *u = arg;
    cJSON *tasks = fmr_tasks(u->x, u->task), *g;
    size_t i = 0;
    int ok = tasks != NULL;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tasks, 0), "sync"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, "group");
        ok &= u->want[i] != NULL && cJSON_IsString(n) && strcmp(n->valuestring, u->want[i]) == 0;
        i++;
    }
    ok &= u->want[i] == NULL;
    cJSON_Delete(tasks);
    return ok;
}

/* --group-regex: the source's matching groups are followed, also one that appears later;
 * the replicator's own groups never, whatever the regex says. */
static void
test_group_regex_follows_matching_groups_as_they_appear(void **state)
{
    pair p;
    fmr_region *a = &p.a, *b = &p.b;
    fmr_repl *x = &p.x;
    fmr_got gb;
    ferrymq_consumer *pa, *pb, *other, *pa_t, *pb_t, *other_t;
    int64_t c[QUEUES], want[QUEUES];
    unsigned seed = 5;
    (void)state;
    memset(&gb, 0, sizeof(gb));
    pair_start(&p, "Pay");
    pa = fmr_group_consumer(a, "pay-a");
    other = fmr_group_consumer(a, "other");
    commit(pa, a, "Pay", 0, 0); /* the groups exist on the source before the task */
    commit(other, a, "Pay", 0, 0);
    FMR_TASK(x, "rx", "one-way", a, b, "Pay", "--group-regex '^(pay-|ferry-)' --sync-interval 200");
    pair_produce(&p, "Pay", 3, 100, 30, 300, 390, QUEUES);
    assert_int_equal(fmr_drain(b, "Pay", NULL, NULL, &gb), 0);
    {
        const char *const first[] = {"pay-a", NULL};
        followed_ud u = {x, "rx", first};
        assert_true(fmt_wait_until(follows, &u, WAIT_MS));
    }
    /* a matching group that appears while the task runs */
    pb = fmr_group_consumer(a, "pay-b");
    random_commits(pb, a, "Pay", c, &seed);
    {
        const char *const both[] = {"pay-a", "pay-b", NULL};
        followed_ud u = {x, "rx", both};
        assert_true(fmt_wait_until(follows, &u, WAIT_MS));
    }
    pb_t = fmr_group_consumer(b, "pay-b");
    for (int q = 0; q < QUEUES; q++) {
        want[q] = brute(&gb, "east", q, c[q]);
    }
    expect_offsets(pb_t, b, "Pay", want, "pay-b by regex");
    random_commits(pa, a, "Pay", c, &seed);
    pa_t = fmr_group_consumer(b, "pay-a");
    for (int q = 0; q < QUEUES; q++) {
        want[q] = brute(&gb, "east", q, c[q]);
    }
    expect_offsets(pa_t, b, "Pay", want, "pay-a by regex");
    /* "other" does not match: the target has no offsets of it (no group of that name), and
     * the replicator's own groups were not followed either (the status listed exactly pay-a
     * and pay-b above) */
    other_t = fmr_group_consumer(b, "other");
    {
        char **names = NULL, err[256];
        size_t n = 0;
        assert_int_equal(ferrymq_admin_group_list(b->adm, &names, &n, err, sizeof(err)), 0);
        for (size_t i = 0; i < n; i++) {
            assert_string_not_equal(names[i], "other");
        }
        ferrymq_strings_free(names, n);
    }
    ferrymq_consumer_close(pa);
    ferrymq_consumer_close(pb);
    ferrymq_consumer_close(other);
    ferrymq_consumer_close(pa_t);
    ferrymq_consumer_close(pb_t);
    ferrymq_consumer_close(other_t);
    fmr_got_free(&gb);
    pair_stop(&p);
}

/* The translations a dry run of `ferrymq failover` reports for each queue (-1: none). */
static void
dry_run_translations(fmr_repl *x, const char *task, int64_t *got)
{
    static char buf[1 << 16];
    cJSON *doc, *g, *q;
    for (int i = 0; i < QUEUES; i++) {
        got[i] = -1;
    }
    assert_int_equal(fmr_cli(x, buf, sizeof(buf), "failover --task %s --dry-run --json", task), 0);
    *strstr(buf, "--stderr--") = '\0';
    assert_non_null(doc = cJSON_Parse(buf));
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "groups"))
    {
        cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(g, "queues"))
        {
            int qid = cJSON_GetObjectItemCaseSensitive(q, "targetQueueId")->valueint;
            const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q, "sources"), 0);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(s0, "translatedOffset");
            if (qid >= 0 && qid < QUEUES && cJSON_IsNumber(t)) {
                got[qid] = (int64_t)t->valuedouble;
            }
        }
    }
    cJSON_Delete(doc);
}

/* Point 5's property, on real brokers: local and replicated sends interleaved at random
 * (bursts of random sizes on either side), then random committed offsets, each queue's
 * boundaries among them, every translation the replicator reports checked against a brute
 * -force scan of the target queue. */
static void
test_random_interleavings_translate_like_a_brute_force_scan(void **state)
{
    pair p;
    fmr_region *a = &p.a, *b = &p.b;
    fmr_repl *x = &p.x;
    fmr_got gb;
    ferrymq_consumer *src_g;
    unsigned seed = 20261202;
    int64_t sent_a = 0, sent_b = 0, c[QUEUES], got[QUEUES];
    int checked = 0;
    (void)state;
    memset(&gb, 0, sizeof(gb));
    pair_start(&p, "Mix");
    FMR_TASK(x, "mix", "one-way", a, b, "Mix", "--groups prop --sync-interval 100");
    for (int burst = 0; burst < 24; burst++) {
        int n = 1 + (int)(rand_r(&seed) % 40);
        if (rand_r(&seed) % 3 == 0) {
            assert_int_equal(fmr_produce(b->ns, &p.sb, n), 0); /* local writes on the target */
            sent_b += n;
        } else {
            assert_int_equal(fmr_produce(a->ns, &p.sa, n), 0);
            sent_a += n;
            /* let some of the copies land between the target's own bursts */
            if (rand_r(&seed) % 2 == 0) {
                assert_true(fmr_wait_count(b, "Mix", sent_a + sent_b, WAIT_MS));
            }
        }
    }
    assert_true(fmr_wait_count(b, "Mix", sent_a + sent_b, WAIT_MS));
    assert_true(fmr_wait_caught_up(x, QUEUES, WAIT_MS));
    assert_int_equal(fmr_drain(b, "Mix", NULL, NULL, &gb), 0);
    src_g = fmr_group_consumer(a, "prop");
    for (int round = 0; round < 16; round++) {
        if (round < 2) {
            for (int q = 0; q < QUEUES; q++) { /* each queue's start, then its end */
                ferrymq_queue qq = fmr_queue(a, "Mix", q);
                int64_t min = 0, max = 0;
                char err[256];
                assert_int_equal(
                    ferrymq_admin_queue_offsets(a->adm, &qq, &min, &max, err, sizeof(err)), 0);
                c[q] = round == 0 ? min : max;
                commit(src_g, a, "Mix", q, c[q]);
            }
        } else {
            random_commits(src_g, a, "Mix", c, &seed);
        }
        dry_run_translations(x, "mix", got);
        for (int q = 0; q < QUEUES; q++) {
            int64_t want = brute(&gb, "east", q, c[q]);
            if (got[q] != want) {
                fprintf(stderr,
                        "round %d queue %d: committed %lld, translated %lld, brute force "
                        "%lld\n",
                        round, q, (long long)c[q], (long long)got[q], (long long)want);
            }
            assert_int_equal(got[q], want);
            checked++;
        }
    }
    fprintf(stderr,
            "random interleavings: %lld copies and %lld local writes, %d translations "
            "checked\n",
            (long long)sent_a, (long long)sent_b, checked);
    ferrymq_consumer_close(src_g);
    fmr_got_free(&gb);
    pair_stop(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_one_way_sync_is_exact_and_never_moves_a_live_group,
                                  fmr_teardown),
        cmocka_unit_test_teardown(test_two_way_sync_fills_the_shadow_group_only, fmr_teardown),
        cmocka_unit_test_teardown(test_group_regex_follows_matching_groups_as_they_appear,
                                  fmr_teardown),
        cmocka_unit_test_teardown(test_random_interleavings_translate_like_a_brute_force_scan,
                                  fmr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
