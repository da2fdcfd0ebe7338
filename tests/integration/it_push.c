/*
 * Push consumers in a group against a real ferrymqd: members (ferrymq consume --push processes)
 * split a topic's queues, a killed member's queues go to the survivors with nothing lost and
 * duplicates only from after its last commit, a clean shutdown commits everything; in-process
 * libferrymq push consumers follow an offset reset while online, send failed messages back
 * (they return with their topic and a reconsume count), and consume orderly, one batch of a
 * queue at a time, in offset order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ferrymq.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "PUSH"
#define GROUP "GP"
#define N_QUEUES 8
#define N_MEMBERS 3
#define COMMIT_MS 1000
#define REBALANCE_MS 3000

static fmt_daemon d;
static char namesrv[64];

static int
setup(void **state)
{
    /* short delay levels, so a message sent back returns within the test */
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--messageDelayLevel=1s 1s 1s 1s 1s", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    snprintf(namesrv, sizeof(namesrv), "127.0.0.1:%d", d.namesrv_port);
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

static ferrymq_conf *
conf_for(const char *group)
{
    ferrymq_conf *c = ferrymq_conf_new();
    assert_non_null(c);
    assert_int_equal(ferrymq_conf_set(c, "namesrvAddr", namesrv, NULL, 0), FERRYMQ_OK);
    assert_int_equal(ferrymq_conf_set(c, "consumerGroup", group, NULL, 0), FERRYMQ_OK);
    return c;
}

static void
create_topic(const char *topic, int queues)
{
    ferrymq_conf *c = conf_for("unused");
    ferrymq_admin *a;
    char err[256];
    assert_int_equal(ferrymq_admin_new(c, &a, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_create_topic(a, topic, queues, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_admin_free(a);
    ferrymq_conf_free(c);
}

/* Send bodies "<prefix><i>" for i in [from, to) round-robin over the queues; returns the store
 * time of the first. */
static void
produce(const char *topic, const char *prefix, int from, int to)
{
    ferrymq_conf *c = conf_for("unused");
    ferrymq_producer *p;
    char err[256], body[64];
    assert_int_equal(ferrymq_producer_new(c, &p, err, sizeof(err)), FERRYMQ_OK);
    for (int i = from; i < to; i++) {
        ferrymq_msg *m;
        ferrymq_send_result res = {.struct_size = sizeof(res)};
        int n = snprintf(body, sizeof(body), "%s%d", prefix, i);
        m = ferrymq_msg_new(topic, body, (size_t)n);
        assert_non_null(m);
        assert_int_equal(ferrymq_producer_send(p, m, &res, err, sizeof(err)), FERRYMQ_OK);
        ferrymq_msg_free(m);
    }
    ferrymq_producer_close(p, 5000);
    ferrymq_conf_free(c);
}

/* The group's committed offset per queue of topic (-1 where none). */
static void
committed(const char *group, const char *topic, int64_t *off, int n)
{
    ferrymq_conf *c = conf_for(group);
    ferrymq_consumer *k;
    char err[256];
    assert_int_equal(ferrymq_consumer_new(c, &k, err, sizeof(err)), FERRYMQ_OK);
    for (int q = 0; q < n; q++) {
        ferrymq_queue mq = {.queue_id = q};
        snprintf(mq.topic, sizeof(mq.topic), "%s", topic);
        snprintf(mq.broker_name, sizeof(mq.broker_name), "broker-a");
        if (ferrymq_consumer_committed(k, &mq, &off[q], err, sizeof(err)) != FERRYMQ_OK) {
            off[q] = -1;
        }
    }
    ferrymq_consumer_close(k);
    ferrymq_conf_free(c);
}

/* ---- members as processes ---- */

typedef struct member {
    pid_t pid;
    char out[300], err[300];
} member;

static member members[N_MEMBERS];

static void
member_start(member *m, int i, const char *extra)
{
    const char *cli = getenv("FM_FERRYMQ_CLI");
    snprintf(m->out, sizeof(m->out), "%s/member%d.out", d.dir, i);
    snprintf(m->err, sizeof(m->err), "%s/member%d.err", d.dir, i);
    m->pid = fork();
    assert_true(m->pid >= 0);
    if (m->pid == 0) {
        int o = open(m->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(m->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        execl(cli ? cli : "build/ferrymq", "ferrymq", "-n", namesrv, "consume", "-t", TOPIC, "-g",
              GROUP, "--push", "--verbose", "--format", "json", "--conf",
              "persistConsumerOffsetInterval=1000", "--conf", "rebalanceInterval=3000", "--conf",
              "consumeThreadNums=4", extra, (char *)NULL);
        _exit(127);
    }
}

/* Queues (bit mask) the member's last rebalance line for TOPIC names; -1 before the first. */
static int
member_queues(const member *m)
{
    FILE *f = fopen(m->err, "r");
    char line[1024];
    int mask = -1;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "rebalance group=" GROUP " topic=" TOPIC " ");
        if (p != NULL && (p = strstr(p, "queues=[")) != NULL) {
            mask = 0;
            for (p += 8; (p = strstr(p, "broker-a:")) != NULL; p += 9) {
                mask |= 1 << atoi(p + 9);
            }
        }
    }
    fclose(f);
    return mask;
}

typedef struct split_cond {
    int alive[N_MEMBERS];
} split_cond;

/* Every live member holds some queues, none twice, all of them in all. */
static int
split_complete(void *ud)
{
    split_cond *c = ud;
    int all = 0;
    for (int i = 0; i < N_MEMBERS; i++) {
        int m;
        if (!c->alive[i]) {
            continue;
        }
        m = member_queues(&members[i]);
        if (m <= 0 || (all & m) != 0) {
            return 0;
        }
        all |= m;
    }
    return all == (1 << N_QUEUES) - 1;
}

/* Deliveries as the members printed them: by member, queue, offset and body sequence. */
typedef struct delivery {
    int member, qid, seq;
    int64_t off;
} delivery;

static delivery *dl;
static size_t n_dl, cap_dl;

static void
read_deliveries(void)
{
    n_dl = 0;
    for (int i = 0; i < N_MEMBERS; i++) {
        FILE *f = fopen(members[i].out, "r");
        char line[4096];
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "queueId");
            const cJSON *off = cJSON_GetObjectItemCaseSensitive(o, "queueOffset");
            const cJSON *body = cJSON_GetObjectItemCaseSensitive(o, "body");
            if (cJSON_IsNumber(q) && cJSON_IsNumber(off) && cJSON_IsString(body) &&
                body->valuestring[0] == 'm') {
                if (n_dl == cap_dl) {
                    cap_dl = cap_dl ? cap_dl * 2 : 1024;
                    dl = realloc(dl, cap_dl * sizeof(*dl));
                    assert_non_null(dl);
                }
                dl[n_dl].member = i;
                dl[n_dl].qid = q->valueint;
                dl[n_dl].off = (int64_t)off->valuedouble;
                dl[n_dl].seq = atoi(body->valuestring + 1);
                n_dl++;
            }
            cJSON_Delete(o);
        }
        fclose(f);
    }
}

static int want_seqs;

/* Every sequence below want_seqs was delivered at least once. */
static int
all_delivered(void *ud)
{
    static unsigned char seen[1 << 16];
    int n = 0;
    (void)ud;
    read_deliveries();
    memset(seen, 0, (size_t)want_seqs);
    for (size_t i = 0; i < n_dl; i++) {
        if (dl[i].seq >= 0 && dl[i].seq < want_seqs && !seen[dl[i].seq]) {
            seen[dl[i].seq] = 1;
            n++;
        }
    }
    return n == want_seqs;
}

static int
fully_committed(void *ud)
{
    int64_t off[N_QUEUES];
    const int64_t *max = ud;
    committed(GROUP, TOPIC, off, N_QUEUES);
    for (int q = 0; q < N_QUEUES; q++) {
        if (off[q] != max[q]) {
            return 0;
        }
    }
    return 1;
}

static void
queue_max(const char *topic, int64_t *max, int n)
{
    ferrymq_conf *c = conf_for("unused");
    ferrymq_admin *a;
    char err[256];
    assert_int_equal(ferrymq_admin_new(c, &a, err, sizeof(err)), FERRYMQ_OK);
    for (int q = 0; q < n; q++) {
        ferrymq_queue mq = {.queue_id = q};
        int64_t min;
        snprintf(mq.topic, sizeof(mq.topic), "%s", topic);
        snprintf(mq.broker_name, sizeof(mq.broker_name), "broker-a");
        assert_int_equal(ferrymq_admin_queue_offsets(a, &mq, &min, &max[q], err, sizeof(err)),
                         FERRYMQ_OK);
    }
    ferrymq_admin_free(a);
    ferrymq_conf_free(c);
}

static void
test_members_split_queues_and_survive_a_kill(void **state)
{
    split_cond alive;
    int64_t max[N_QUEUES], at_kill[N_QUEUES], t0, took_ms;
    int victim = -1, moved = 0, dups = 0, before[N_MEMBERS], after[N_MEMBERS];
    (void)state;

    create_topic(TOPIC, N_QUEUES);
    for (int i = 0; i < N_MEMBERS; i++) {
        member_start(&members[i], i, "--from=earliest");
        alive.alive[i] = 1;
    }
    /* the three members settle on disjoint shares covering the 8 queues (3 + 3 + 2) */
    assert_true(fmt_wait_until(split_complete, &alive, 30000));
    for (int i = 0; i < N_MEMBERS; i++) {
        int bits = __builtin_popcount((unsigned)member_queues(&members[i]));
        assert_true(bits == 2 || bits == 3);
        if (victim < 0 && bits == 3) {
            victim = i;
        }
    }
    assert_true(victim >= 0);
    for (int i = 0; i < N_MEMBERS; i++) {
        before[i] = member_queues(&members[i]);
    }

    /* phase 1, consumed and committed everywhere */
    produce(TOPIC, "m", 0, 800);
    want_seqs = 800;
    assert_true(fmt_wait_until(all_delivered, NULL, 30000));
    queue_max(TOPIC, max, N_QUEUES);
    assert_true(fmt_wait_until(fully_committed, max, 10 * COMMIT_MS));

    /* phase 2, consumed; then the victim freezes (it can no longer commit) and dies */
    produce(TOPIC, "m", 800, 1200);
    want_seqs = 1200;
    assert_true(fmt_wait_until(all_delivered, NULL, 30000));
    assert_int_equal(kill(members[victim].pid, SIGSTOP), 0);
    committed(GROUP, TOPIC, at_kill, N_QUEUES);
    assert_int_equal(kill(members[victim].pid, SIGKILL), 0);
    assert_int_equal(waitpid(members[victim].pid, NULL, 0), members[victim].pid);
    t0 = fmt_now_ms();
    alive.alive[victim] = 0;

    /* the survivors take the victim's queues, well within one rebalance interval (the broker
     * tells them at once when the victim's connection closes) */
    assert_true(fmt_wait_until(split_complete, &alive, REBALANCE_MS + 2000));
    took_ms = fmt_now_ms() - t0;
    /* queues whose owner changed: the victim's, and those the 3-way split moved between the
     * survivors when it became a 2-way one */
    for (int i = 0; i < N_MEMBERS; i++) {
        after[i] = alive.alive[i] ? member_queues(&members[i]) : 0;
        moved |= before[i] & ~after[i];
    }
    print_message("survivors held all queues %" PRId64 " ms after the kill\n", took_ms);
    assert_true(took_ms <= REBALANCE_MS);

    /* phase 3: nothing lost */
    produce(TOPIC, "m", 1200, 1600);
    want_seqs = 1600;
    assert_true(fmt_wait_until(all_delivered, NULL, 30000));

    /* Duplicates: only on queues that changed owner, only at or after the offset committed
     * when the victim froze (phase 1 was committed everywhere before, so only messages
     * consumed within the last commit interval can come again), each delivered by the old
     * owner and then by the new one. */
    read_deliveries();
    for (size_t i = 0; i < n_dl; i++) {
        for (size_t j = i + 1; j < n_dl; j++) {
            if (dl[i].seq != dl[j].seq) {
                continue;
            }
            dups++;
            assert_true(dl[i].qid == dl[j].qid && dl[i].off == dl[j].off);
            assert_true(moved & (1 << dl[i].qid));
            assert_true(dl[i].off >= at_kill[dl[i].qid]);
            assert_true(dl[i].seq >= 800); /* phase 1 was committed */
            assert_true(dl[i].member != dl[j].member);
            assert_true((before[dl[i].member] | before[dl[j].member]) & (1 << dl[i].qid));
        }
    }
    print_message("%d duplicates, all on moved queues after their last commit\n", dups);

    /* a clean shutdown commits every queue to its end */
    queue_max(TOPIC, max, N_QUEUES);
    for (int i = 0; i < N_MEMBERS; i++) {
        if (i != victim) {
            assert_int_equal(kill(members[i].pid, SIGTERM), 0);
        }
    }
    for (int i = 0; i < N_MEMBERS; i++) {
        int st = 0;
        if (i != victim) {
            assert_int_equal(waitpid(members[i].pid, &st, 0), members[i].pid);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
    }
    assert_true(fully_committed(max));
    assert_int_equal(fmt_log_count(&d, "reason=unregister"), 2);
    free(dl);
    dl = NULL;
    n_dl = cap_dl = 0;
}

/* ---- in-process consumers ---- */

typedef struct sink {
    pthread_mutex_t mu;
    int fail_first;           /* answer LATER to a message's first delivery */
    int seen[4096];           /* deliveries per sequence */
    int retried_ok;           /* redeliveries with the original topic and reconsume times 1 */
    int in_callback, overlap; /* orderly: callbacks of one queue never overlap */
    int64_t last_off[N_QUEUES];
    int out_of_order;
    const char *topic;
} sink;

/* The sequence in a body "m<seq>" (bodies are not NUL-terminated). */
static int
body_seq(const ferrymq_msg *m)
{
    char buf[32];
    size_t len;
    const char *b = ferrymq_msg_body(m, &len);
    if (len == 0 || len >= sizeof(buf) || b[0] != 'm') {
        return -1;
    }
    memcpy(buf, b + 1, len - 1);
    buf[len - 1] = '\0';
    return atoi(buf);
}

static int
sink_cb(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    sink *s = opaque;
    int rc = FERRYMQ_CONSUME_SUCCESS;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        int seq = body_seq(msgs[i]);
        if (seq < 0 || seq >= 4096) {
            continue;
        }
        if (s->fail_first && ferrymq_msg_reconsume_times(msgs[i]) == 0) {
            rc = FERRYMQ_CONSUME_LATER;
        } else if (s->fail_first && ferrymq_msg_reconsume_times(msgs[i]) == 1 &&
                   strcmp(ferrymq_msg_topic(msgs[i]), s->topic) == 0 &&
                   ferrymq_msg_property(msgs[i], "RETRY_TOPIC") != NULL) {
            s->retried_ok++;
        }
        s->seen[seq]++;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

typedef struct count_cond {
    sink *s;
    int from, to, min_each;
    int *field;
    int want;
} count_cond;

static int
each_seen(void *ud)
{
    count_cond *c = ud;
    int ok = 1;
    pthread_mutex_lock(&c->s->mu);
    for (int i = c->from; i < c->to && ok; i++) {
        ok = c->s->seen[i] >= c->min_each;
    }
    if (ok && c->field != NULL) {
        ok = *c->field >= c->want;
    }
    pthread_mutex_unlock(&c->s->mu);
    return ok;
}

/* A push consumer of group on topic, started in mode with cb: consuming from the first offset,
 * with the options kv ({key, value, ..., NULL}) on top. */
static ferrymq_push_consumer *
start_consumer(const char *group, const char *topic, const char *const *kv, int mode,
               ferrymq_consume_cb cb, void *opaque, void (*log_cb)(void *, int, const char *))
{
    ferrymq_conf *c = conf_for(group);
    ferrymq_push_consumer *pc;
    char err[256];
    assert_int_equal(ferrymq_conf_set(c, "consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET", NULL, 0),
                     FERRYMQ_OK);
    for (; kv != NULL && kv[0] != NULL; kv += 2) {
        assert_int_equal(ferrymq_conf_set(c, kv[0], kv[1], err, sizeof(err)), FERRYMQ_OK);
    }
    if (log_cb != NULL && getenv("FM_TEST_VERBOSE") != NULL) {
        ferrymq_conf_set_log_cb(c, log_cb, opaque);
    }
    assert_int_equal(ferrymq_push_consumer_new(c, &pc, err, sizeof(err)), FERRYMQ_OK);
    ferrymq_conf_free(c);
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, topic, NULL, NULL, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_start(pc, mode, cb, opaque, err, sizeof(err)),
                     FERRYMQ_OK);
    return pc;
}

static ferrymq_push_consumer *
push_start(const char *group, const char *topic, int mode, sink *s)
{
    /* the retry topic's route appears just after the first heartbeat: look again soon */
    static const char *const kv[] = {"persistConsumerOffsetInterval",
                                     "200",
                                     "consumeThreadNums",
                                     "4",
                                     "rebalanceInterval",
                                     "1000",
                                     NULL};
    return start_consumer(group, topic, kv, mode, sink_cb, s, NULL);
}

static void
test_reset_while_online_redelivers_from_the_time(void **state)
{
    static sink s;
    ferrymq_push_consumer *pc;
    ferrymq_conf *c;
    ferrymq_admin *a;
    count_cond cc = {.s = &s, .from = 0, .to = 200, .min_each = 1};
    char err[256];
    int64_t mid;
    (void)state;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    create_topic("PUSHRESET", 2);
    pc = push_start("GR", "PUSHRESET", FERRYMQ_CONSUME_CONCURRENTLY, &s);
    produce("PUSHRESET", "m", 0, 100);
    cc.to = 100;
    assert_true(fmt_wait_until(each_seen, &cc, 20000));
    /* store times split the backlog: the reset goes to the first message after mid */
    mid = fmt_wall_ms() + 1;
    while (fmt_wall_ms() <= mid) {
    }
    produce("PUSHRESET", "m", 100, 200);
    cc.to = 200;
    assert_true(fmt_wait_until(each_seen, &cc, 20000));

    c = conf_for("GR");
    assert_int_equal(ferrymq_admin_new(c, &a, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_admin_group_reset(a, "GR", "PUSHRESET", mid, err, sizeof(err)),
                     FERRYMQ_OK);
    /* exactly the messages stored after mid come again; none from before */
    cc.from = 100;
    cc.min_each = 2;
    assert_true(fmt_wait_until(each_seen, &cc, 20000));
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(s.seen[i], 1);
    }
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(ferrymq_push_consumer_close(pc), FERRYMQ_OK);
    pthread_mutex_lock(&s.mu);
    for (int i = 100; i < 200; i++) {
        assert_int_equal(s.seen[i], 2);
    }
    pthread_mutex_unlock(&s.mu);
    ferrymq_admin_free(a);
    ferrymq_conf_free(c);
}

static void
test_failed_messages_come_back_through_the_retry_topic(void **state)
{
    static sink s;
    ferrymq_push_consumer *pc;
    count_cond cc = {.s = &s, .from = 0, .to = 50, .min_each = 2, .want = 50};
    (void)state;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    s.fail_first = 1;
    s.topic = "PUSHRETRY";
    cc.field = &s.retried_ok;
    create_topic("PUSHRETRY", 2);
    pc = push_start("GT", "PUSHRETRY", FERRYMQ_CONSUME_CONCURRENTLY, &s);
    produce("PUSHRETRY", "m", 0, 50);
    /* each message: delivered, refused, back after the delay level under its own topic */
    assert_true(fmt_wait_until(each_seen, &cc, 30000));
    assert_int_equal(ferrymq_push_consumer_close(pc), FERRYMQ_OK);
}

/* Orderly: per queue, callbacks never overlap (across all members) and, per member, offsets
 * only go up. */
typedef struct orderly_member {
    sink *s;
    int id;
    int64_t last_off[N_QUEUES];
    int batches;
    int delay_us; /* simulated work per batch, so batches are running when queues move */
} orderly_member;

static int
orderly_cb(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    orderly_member *om = opaque;
    sink *s = om->s;
    int q = ferrymq_msg_queue_id(msgs[0]);
    pthread_mutex_lock(&s->mu);
    if (s->in_callback & (1 << q)) {
        s->overlap++;
    }
    s->in_callback |= 1 << q;
    pthread_mutex_unlock(&s->mu);
    usleep((useconds_t)om->delay_us); /* widen the window an overlap would need */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        int seq = body_seq(msgs[i]);
        int64_t off = ferrymq_msg_queue_offset(msgs[i]);
        if (ferrymq_msg_queue_id(msgs[i]) != q || off <= om->last_off[q]) {
            s->out_of_order++;
        }
        om->last_off[q] = off;
        if (seq >= 0 && seq < 4096) {
            s->seen[seq]++;
        }
    }
    om->batches++;
    s->in_callback &= ~(1 << q);
    pthread_mutex_unlock(&s->mu);
    return FERRYMQ_CONSUME_SUCCESS;
}

static void
test_log(void *opaque, int level, const char *line)
{
    fprintf(stderr, "[member %d L%d] %s\n", ((orderly_member *)opaque)->id, level, line);
}

static ferrymq_push_consumer *
orderly_start(const char *group, const char *topic, orderly_member *om)
{
    static const char *const kv[] = {"consumeMessageBatchMaxSize",
                                     "4",
                                     "rebalanceInterval",
                                     "1000",
                                     "persistConsumerOffsetInterval",
                                     "200",
                                     NULL};
    for (int q = 0; q < N_QUEUES; q++) {
        om->last_off[q] = -1;
    }
    return start_consumer(group, topic, kv, FERRYMQ_CONSUME_ORDERLY, orderly_cb, om, test_log);
}

static void
test_orderly_one_batch_per_queue_in_order(void **state)
{
    static sink s;
    orderly_member om = {.s = &s, .delay_us = 200};
    ferrymq_push_consumer *pc;
    ferrymq_queue *qs;
    size_t nq;
    count_cond cc = {.s = &s, .from = 0, .to = 400, .min_each = 1};
    (void)state;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    create_topic("PUSHORDER", 4);
    pc = orderly_start("GO", "PUSHORDER", &om);
    produce("PUSHORDER", "m", 0, 400);
    assert_true(fmt_wait_until(each_seen, &cc, 30000));
    assert_int_equal(ferrymq_push_consumer_assigned(pc, &qs, &nq), FERRYMQ_OK);
    assert_int_equal(nq, 4);
    for (size_t i = 0; i < nq; i++) {
        assert_string_equal(qs[i].topic, "PUSHORDER");
        assert_int_equal(qs[i].queue_id, (int)i);
    }
    free(qs);
    assert_int_equal(ferrymq_push_consumer_close(pc), FERRYMQ_OK);
    assert_int_equal(s.overlap, 0);
    assert_int_equal(s.out_of_order, 0);
    for (int i = 0; i < 400; i++) {
        assert_int_equal(s.seen[i], 1);
    }
}

typedef struct assigned_cond {
    ferrymq_push_consumer *a, *b;
} assigned_cond;

/* Both members hold two queues each, and each of them has its lock (so it consumed). */
static int
split_two_two(void *ud)
{
    assigned_cond *c = ud;
    ferrymq_queue *qa = NULL, *qb = NULL;
    size_t na = 0, nb = 0;
    int ok = ferrymq_push_consumer_assigned(c->a, &qa, &na) == FERRYMQ_OK &&
             ferrymq_push_consumer_assigned(c->b, &qb, &nb) == FERRYMQ_OK && na == 2 && nb == 2;
    free(qa);
    free(qb);
    return ok;
}

/* A second member joins while the first is in the middle of queues it must give up: the first
 * unlocks each only after its running batch returned, the second locks it then, and no queue is
 * ever in two callbacks at once. */
static void
test_orderly_handover_never_overlaps(void **state)
{
    static sink s;
    /* static: on a failed assertion the consumers still run while cmocka unwinds */
    static orderly_member a, b;
    assigned_cond ac;
    count_cond cc = {.s = &s, .from = 0, .to = 2000, .min_each = 1};
    (void)state;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    a = (orderly_member){.s = &s, .id = 0, .delay_us = 5000};
    b = (orderly_member){.s = &s, .id = 1, .delay_us = 5000};
    create_topic("PUSHORDER2", 4);
    produce("PUSHORDER2", "m", 0, 2000);
    ac.a = orderly_start("GO2", "PUSHORDER2", &a);
    /* a is busy with all four queues (125 batches of 5 ms each) when b joins */
    assert_true(fmt_wait_until(each_seen, &(count_cond){.s = &s, .from = 0, .to = 1, .min_each = 1},
                               10000));
    ac.b = orderly_start("GO2", "PUSHORDER2", &b);
    assert_true(fmt_wait_until(split_two_two, &ac, 20000));
    assert_true(fmt_wait_until(each_seen, &cc, 60000));
    assert_int_equal(ferrymq_push_consumer_close(ac.b), FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_close(ac.a), FERRYMQ_OK);
    print_message("member a ran %d batches, b %d; %d overlaps\n", a.batches, b.batches, s.overlap);
    assert_true(b.batches > 0);
    assert_int_equal(s.overlap, 0);
    assert_int_equal(s.out_of_order, 0);
}

/* Counts deliveries, nothing else: as fast a callback as there can be. */
static atomic_long fast_count;

static int
fast_cb(void *opaque, ferrymq_msg *const *msgs, size_t n)
{
    (void)opaque;
    (void)msgs;
    atomic_fetch_add(&fast_count, (long)n);
    return FERRYMQ_CONSUME_SUCCESS;
}

static int
fast_count_reached(void *ud)
{
    return atomic_load(&fast_count) >= *(const long *)ud;
}

/* Every timer of the consumer is set far away, so only its own wake-ups move it: a backlog
 * must drain anyway. The fault point holds the service thread 2 ms after it let go of the lock
 * to send pulls, so completions (and the batches they bring) finish in that window: a wake-up
 * lost there once left ready queues idle until the next commit or heartbeat timer, and stalled
 * `ferrymq bench push` in 5 of 6 runs. */
static void
test_backlog_drains_without_timer_wakeups(void **state)
{
    enum { N = 50000, BATCH = 500 };
    static const char body[128] = {0};
    static const char *const timers_far[] = {"persistConsumerOffsetInterval",
                                             "600000",
                                             "heartbeatBrokerInterval",
                                             "600000",
                                             "rebalanceInterval",
                                             "600000",
                                             NULL};
    ferrymq_conf *c = conf_for("GW");
    ferrymq_push_consumer *pc;
    ferrymq_producer *p;
    ferrymq_send_result res = {.struct_size = sizeof(res)};
    static ferrymq_msg *batch[BATCH];
    long want = N;
    char err[256];
    (void)state;
    create_topic("PUSHWAKE", 8);
    assert_int_equal(ferrymq_producer_new(c, &p, err, sizeof(err)), FERRYMQ_OK);
    for (int i = 0; i < N / BATCH; i++) {
        for (int k = 0; k < BATCH; k++) {
            batch[k] = ferrymq_msg_new("PUSHWAKE", body, sizeof(body));
            assert_non_null(batch[k]);
        }
        assert_int_equal(ferrymq_producer_send_batch(p, batch, BATCH, &res, err, sizeof(err)),
                         FERRYMQ_OK);
        for (int k = 0; k < BATCH; k++) {
            ferrymq_msg_free(batch[k]);
        }
    }
    ferrymq_producer_close(p, 5000);
    ferrymq_conf_free(c);
    atomic_store(&fast_count, 0);
    setenv("FM_FAULT", "push.pulls_unlocked", 1); /* no other thread runs now */
    pc = start_consumer("GW", "PUSHWAKE", timers_far, FERRYMQ_CONSUME_CONCURRENTLY, fast_cb, NULL,
                        NULL);
    assert_true(fmt_wait_until(fast_count_reached, &want, 60000));
    assert_int_equal(ferrymq_push_consumer_close(pc), FERRYMQ_OK);
    unsetenv("FM_FAULT");
    assert_int_equal(atomic_load(&fast_count), N); /* a clean run repeats nothing */
}

static void
test_bad_arguments(void **state)
{
    ferrymq_conf *c = conf_for("GB");
    ferrymq_push_consumer *pc;
    char err[256];
    (void)state;
    assert_int_equal(ferrymq_conf_set(c, "consumeFromWhere", "SOMEWHERE", NULL, 0), FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_new(c, &pc, err, sizeof(err)), FERRYMQ_EINVAL);
    assert_non_null(strstr(err, "consumeFromWhere"));
    assert_int_equal(ferrymq_conf_set(c, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET", NULL, 0),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_new(c, &pc, err, sizeof(err)), FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, "bad topic", NULL, NULL, err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, "T", "a > 1", "XPATH", err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_push_consumer_start(pc, FERRYMQ_CONSUME_CONCURRENTLY, sink_cb, NULL,
                                                 err, sizeof(err)),
                     FERRYMQ_EINVAL); /* nothing subscribed */
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, "T", NULL, NULL, err, sizeof(err)),
                     FERRYMQ_OK);
    assert_int_equal(ferrymq_push_consumer_subscribe(pc, "T", NULL, NULL, err, sizeof(err)),
                     FERRYMQ_EINVAL); /* twice */
    assert_int_equal(ferrymq_push_consumer_start(pc, 7, sink_cb, NULL, err, sizeof(err)),
                     FERRYMQ_EINVAL);
    assert_int_equal(ferrymq_push_consumer_close(pc), FERRYMQ_OK); /* never started */
    assert_int_equal(ferrymq_push_consumer_close(NULL), FERRYMQ_OK);
    ferrymq_conf_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_split_queues_and_survive_a_kill),
        cmocka_unit_test(test_reset_while_online_redelivers_from_the_time),
        cmocka_unit_test(test_failed_messages_come_back_through_the_retry_topic),
        cmocka_unit_test(test_orderly_one_batch_per_queue_in_order),
        cmocka_unit_test(test_orderly_handover_never_overlaps),
        cmocka_unit_test(test_backlog_drains_without_timer_wakeups),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
