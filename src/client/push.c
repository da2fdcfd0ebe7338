/*
 * push.c - ferrymq_push_consumer: a member of a consumer group, as RocketMQ's
 * DefaultMQPushConsumer in clustering mode.
 *
 * Threads and who owns what:
 * - the service thread heartbeats, rebalances (every rebalanceInterval, and at once when a
 *   broker sends NOTIFY_CONSUMER_IDS_CHANGED), commits offsets, renews orderly locks and issues
 *   pulls (asynchronous, long polling);
 * - pull completions and broker requests run on the transport's I/O thread: they only move
 *   messages into a queue's ring and queue work, under pc->mu, never touching the network;
 * - consumeThreadNums workers run the user's callback and send failed messages back.
 *
 * Every message queue this member holds has a pq: a ring of the messages pulled and not yet
 * consumed, in offset order. The ring owns a message until a worker takes it; the worker owns
 * it until the callback returns, then hands the batch back to the I/O thread, which decoded
 * (allocated) it, to be freed there (done_tasks). The offset to commit is the first ring entry not
 * consumed, or, when the ring is empty, the next offset to pull (everything before it was consumed
 * or filtered out on the broker), so a crash redelivers only what was in flight or consumed since
 * the last commit.
 *
 * An offset reset (RESET_CONSUMER_CLIENT_OFFSET, or a pull answered PULL_OFFSET_MOVED) bumps
 * the pq's generation: pulls and batches started before it are discarded when they finish,
 * so nothing from the old position moves the offset after the reset.
 */
#include "client/push_int.h"

#include "common/clock.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local const ferrymq_push_consumer *in_callback_of;
static atomic_uint instance_seq;

/* ---- small helpers ---- */

/* Wait on cv (a CLOCK_MONOTONIC condition) until the monotonic time until_ms at most. */
static int
now_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until_ms)
{
    struct timespec ts = {(time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000L};
    return pthread_cond_timedwait(cv, mu, &ts);
}

static void *
service_main(void *arg)
{
    ferrymq_push_consumer *pc = arg;
    const client_settings *st = &pc->core.conf.s;
    pthread_setname_np(pthread_self(), "fm-push-svc");
    pthread_mutex_lock(&pc->mu);
    while (!pc->closing) {
        int64_t now = fm_clock_mono_ms(), wake;
        pc->kicked = 0;
        if (now >= pc->next_heartbeat) {
            pc->next_heartbeat = now + st->heartbeatBrokerInterval;
            pthread_mutex_unlock(&pc->mu);
            fm_push_heartbeat_all(pc);
            pthread_mutex_lock(&pc->mu);
        }
        if (pc->rebalance_now || now >= pc->next_rebalance) {
            pc->rebalance_now = 0;
            pc->next_rebalance = now + st->rebalanceInterval;
            pthread_mutex_unlock(&pc->mu);
            fm_push_rebalance_all(pc);
            pthread_mutex_lock(&pc->mu);
            /* orderly: lock what we were given, and try again for queues whose previous owner
             * still held the lock last time, at every rebalance rather than every 20 s */
            pc->next_lock = now;
        }
        if (now >= pc->next_commit) {
            pc->next_commit = now + st->persistConsumerOffsetInterval;
            fm_push_commit_all(pc);
        }
        if (pc->mode == FERRYMQ_CONSUME_ORDERLY && now >= pc->next_lock) {
            pc->next_lock = now + LOCK_RENEW_MS;
            fm_push_lock_all(pc);
        }
        wake = pc->next_heartbeat;
        wake = pc->next_rebalance < wake ? pc->next_rebalance : wake;
        wake = pc->next_commit < wake ? pc->next_commit : wake;
        if (pc->mode == FERRYMQ_CONSUME_ORDERLY && pc->next_lock < wake) {
            wake = pc->next_lock;
        }
        /* batches whose time came */
        now = fm_clock_mono_ms();
        for (task **tp = &pc->later; *tp != NULL;) {
            task *t = *tp;
            if (t->due <= now) {
                *tp = t->next;
                fm_push_work_push(pc, t);
            } else {
                wake = t->due < wake ? t->due : wake;
                tp = &t->next;
            }
        }
        {
            int64_t w = fm_push_issue_pulls(pc);
            wake = w < wake ? w : wake;
        }
        if (!pc->closing && !pc->rebalance_now && !pc->kicked && wake > fm_clock_mono_ms()) {
            now_wait(&pc->svc_cv, &pc->mu, wake);
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return NULL;
}

/* Send every message of t back (delay_level as fm_push_send_back). 1 when the broker took them
 * all: the batch counts as consumed here. */
static int
send_back_all(ferrymq_push_consumer *pc, const char *addr, const task *t, int delay_level)
{
    int all = 1;
    for (size_t i = 0; i < t->n; i++) {
        if (fm_push_send_back(pc, addr, t->msgs[i], delay_level) != 0) {
            all = 0;
        }
    }
    return all;
}

static void *
worker_main(void *arg)
{
    ferrymq_push_consumer *pc = arg;
    pthread_setname_np(pthread_self(), "fm-push-worker");
    in_callback_of = pc;
    pthread_mutex_lock(&pc->mu);
    for (;;) {
        task *t;
        int status, consumed;
        char addr[128];
        while (!pc->closing && pc->work_head == NULL) {
            pthread_cond_wait(&pc->work_cv, &pc->mu);
        }
        if (pc->closing) {
            break;
        }
        t = pc->work_head;
        pc->work_head = t->next;
        if (pc->work_head == NULL) {
            pc->work_tail = NULL;
        }
        if (t->gen != t->p->gen || t->p->dropped) {
            fm_push_task_finish(pc, t, 1);
            continue;
        }
        snprintf(addr, sizeof(addr), "%s", t->p->addr);
        pthread_mutex_unlock(&pc->mu);
        status = pc->cb(pc->cb_opaque, t->msgs, t->n);
        consumed = status == FERRYMQ_CONSUME_SUCCESS;
        if (status == FERRYMQ_CONSUME_HOLD) {
            consumed = 0; /* neither sent back nor counted as a failure: offered again later */
        } else if (!consumed && pc->mode == FERRYMQ_CONSUME_CONCURRENTLY) {
            /* the broker keeps them for later; if it refuses, they are consumed here again */
            consumed = send_back_all(pc, addr, t, 0);
        } else if (!consumed && ++t->tries >= pc->core.conf.s.maxReconsumeTimes &&
                   pc->core.conf.s.maxReconsumeTimes > 0) {
            /* orderly: a batch that keeps failing would hold its queue for ever: dead-letter */
            consumed = send_back_all(pc, addr, t, -1);
        }
        pthread_mutex_lock(&pc->mu);
        fm_push_task_finish(pc, t, consumed);
    }
    pthread_mutex_unlock(&pc->mu);
    return NULL;
}

/* ---- public API ---- */

int
ferrymq_push_consumer_new(const ferrymq_conf *conf, ferrymq_push_consumer **out, char *errstr,
                          size_t errstr_size)
{
    ferrymq_push_consumer *pc;
    pthread_condattr_t ca;
    uint8_t ip[4];
    const char *cfw;
    int rc;
    if (conf == NULL || out == NULL) {
        fm_client_errstr(errstr, errstr_size, "conf and out are required");
        return FERRYMQ_EINVAL;
    }
    cfw = conf->s.consumeFromWhere;
    if (strcmp(cfw, "CONSUME_FROM_LAST_OFFSET") != 0 &&
        strcmp(cfw, "CONSUME_FROM_FIRST_OFFSET") != 0 &&
        strcmp(cfw, "CONSUME_FROM_TIMESTAMP") != 0) {
        fm_client_errstr(errstr, errstr_size,
                         "consumeFromWhere '%s' is not CONSUME_FROM_LAST_OFFSET, "
                         "CONSUME_FROM_FIRST_OFFSET or CONSUME_FROM_TIMESTAMP",
                         cfw);
        return FERRYMQ_EINVAL;
    }
    rc = fm_client_handle_new(sizeof(*pc), conf, (void **)&pc, errstr, errstr_size);
    if (rc != FERRYMQ_OK) {
        return rc;
    }
    pthread_mutex_init(&pc->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pc->svc_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&pc->work_cv, NULL);
    fm_client_local_ip(conf->s.clientIP, ip);
    /* Unique per instance, as Java's clients make DEFAULT into pid#nanotime: two consumers of
     * one process must count as two members. */
    if (strcmp(conf->s.instanceName, "DEFAULT") == 0) {
        snprintf(pc->client_id, sizeof(pc->client_id), "%u.%u.%u.%u@%ld#%u#%" PRId64, ip[0], ip[1],
                 ip[2], ip[3], (long)getpid(), atomic_fetch_add(&instance_seq, 1) + 1,
                 fm_clock_mono_ns());
    } else {
        snprintf(pc->client_id, sizeof(pc->client_id), "%u.%u.%u.%u@%s", ip[0], ip[1], ip[2], ip[3],
                 conf->s.instanceName);
    }
    fm_client_rpc_set_request_cb(pc->core.rpc, fm_push_on_request, pc);
    *out = pc;
    return FERRYMQ_OK;
}

int
ferrymq_push_consumer_subscribe(ferrymq_push_consumer *pc, const char *topic, const char *expr,
                                const char *expr_type, char *errstr, size_t errstr_size)
{
    sub *s;
    if (pc == NULL || topic == NULL || !fm_proto_topic_valid(topic)) {
        fm_client_errstr(errstr, errstr_size, "a consumer and a valid topic name are required");
        return FERRYMQ_EINVAL;
    }
    if (expr_type != NULL && strcmp(expr_type, "TAG") != 0 && strcmp(expr_type, "SQL92") != 0) {
        fm_client_errstr(errstr, errstr_size, "expression type '%s' is not TAG or SQL92",
                         expr_type);
        return FERRYMQ_EINVAL;
    }
    if (expr != NULL && strlen(expr) >= sizeof(pc->subs[0].expr)) {
        fm_client_errstr(errstr, errstr_size, "expression longer than %zu bytes",
                         sizeof(pc->subs[0].expr) - 1);
        return FERRYMQ_EINVAL;
    }
    if (pc->started || pc->n_subs >= MAX_SUBS - 1) {
        fm_client_errstr(errstr, errstr_size, "%s",
                         pc->started ? "subscribe before start" : "at most 63 topics");
        return FERRYMQ_EINVAL;
    }
    for (int i = 0; i < pc->n_subs; i++) {
        if (strcmp(pc->subs[i].topic, topic) == 0) {
            fm_client_errstr(errstr, errstr_size, "already subscribed to %s", topic);
            return FERRYMQ_EINVAL;
        }
    }
    s = &pc->subs[pc->n_subs++];
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    snprintf(s->expr, sizeof(s->expr), "%s", expr != NULL && expr[0] != '\0' ? expr : "*");
    snprintf(s->type, sizeof(s->type), "%s", expr_type != NULL ? expr_type : "TAG");
    s->version = fm_clock_wall_ms();
    return FERRYMQ_OK;
}

static void stop_threads(ferrymq_push_consumer *pc);

int
ferrymq_push_consumer_start(ferrymq_push_consumer *pc, int mode, ferrymq_consume_cb cb,
                            void *opaque, char *errstr, size_t errstr_size)
{
    sub *retry;
    if (pc == NULL || cb == NULL ||
        (mode != FERRYMQ_CONSUME_CONCURRENTLY && mode != FERRYMQ_CONSUME_ORDERLY)) {
        fm_client_errstr(errstr, errstr_size,
                         "a consumer, a callback and a known mode are required");
        return FERRYMQ_EINVAL;
    }
    if (pc->started || pc->n_subs == 0) {
        fm_client_errstr(errstr, errstr_size, "%s",
                         pc->started ? "already started" : "subscribe to a topic first");
        return FERRYMQ_EINVAL;
    }
    /* messages the group's callbacks asked to see again come back through %RETRY%<group> */
    retry = &pc->subs[pc->n_subs];
    if (snprintf(retry->topic, sizeof(retry->topic), "%%RETRY%%%s", pc->core.conf.s.consumerGroup) <
            (int)sizeof(retry->topic) &&
        fm_proto_topic_valid(retry->topic) && mode == FERRYMQ_CONSUME_CONCURRENTLY) {
        snprintf(retry->expr, sizeof(retry->expr), "*");
        snprintf(retry->type, sizeof(retry->type), "TAG");
        retry->version = fm_clock_wall_ms();
        pc->n_subs++;
    }
    pc->mode = mode;
    pc->cb = cb;
    pc->cb_opaque = opaque;
    pc->workers = calloc((size_t)pc->core.conf.s.consumeThreadNums, sizeof(pthread_t));
    if (pc->workers == NULL) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    pc->started = 1;
    if (pthread_create(&pc->svc, NULL, service_main, pc) != 0) {
        pc->started = 0;
        fm_client_errstr(errstr, errstr_size, "cannot start the consumer's service thread");
        return FERRYMQ_EIO;
    }
    for (int i = 0; i < (int)pc->core.conf.s.consumeThreadNums; i++) {
        if (pthread_create(&pc->workers[i], NULL, worker_main, pc) != 0) {
            stop_threads(pc);
            fm_client_errstr(errstr, errstr_size, "cannot start consume threads");
            return FERRYMQ_EIO;
        }
        pc->n_workers++;
    }
    return FERRYMQ_OK;
}

int
ferrymq_push_consumer_assigned(ferrymq_push_consumer *pc, ferrymq_queue **queues, size_t *n)
{
    size_t k = 0;
    ferrymq_queue *qs;
    if (pc == NULL || queues == NULL || n == NULL) {
        return FERRYMQ_EINVAL;
    }
    pthread_mutex_lock(&pc->mu);
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        k += !p->dropped;
    }
    qs = calloc(k + 1, sizeof(*qs));
    k = 0;
    for (pq *p = pc->pqs; p != NULL && qs != NULL; p = p->next) {
        if (!p->dropped) {
            qs[k++] = p->q;
        }
    }
    pthread_mutex_unlock(&pc->mu);
    if (qs == NULL) {
        return FERRYMQ_ENOMEM;
    }
    qsort(qs, k, sizeof(*qs), fm_push_cmp_queue);
    *queues = qs;
    *n = k;
    return FERRYMQ_OK;
}

const char *
ferrymq_push_consumer_client_id(const ferrymq_push_consumer *pc)
{
    return pc != NULL ? pc->client_id : "";
}

static void
stop_threads(ferrymq_push_consumer *pc)
{
    pthread_mutex_lock(&pc->mu);
    pc->closing = 1;
    pthread_cond_broadcast(&pc->svc_cv);
    pthread_cond_broadcast(&pc->work_cv);
    pthread_mutex_unlock(&pc->mu);
    if (pc->started) {
        pthread_join(pc->svc, NULL);
    }
    for (int i = 0; i < pc->n_workers; i++) {
        pthread_join(pc->workers[i], NULL);
    }
    pc->n_workers = 0;
    pc->started = 0;
}

/* Free a list of batches that will not be delivered. Holds mu. */
static void
drop_tasks(ferrymq_push_consumer *pc, task *t)
{
    while (t != NULL) {
        task *next = t->next;
        fm_push_pq_release(pc, t->p);
        fm_push_task_free(t);
        t = next;
    }
}

int
ferrymq_push_consumer_close(ferrymq_push_consumer *pc)
{
    char addrs[32][128];
    size_t n_addrs;
    if (pc == NULL) {
        return FERRYMQ_OK;
    }
    if (in_callback_of == pc) {
        return FERRYMQ_EBUSY;
    }
    stop_threads(pc);
    /* batches never delivered: their offsets were not consumed, so they come again */
    pthread_mutex_lock(&pc->mu);
    drop_tasks(pc, pc->work_head);
    drop_tasks(pc, pc->later);
    pc->work_head = pc->work_tail = pc->later = NULL;
    fm_push_commit_all(pc);
    pthread_mutex_unlock(&pc->mu);
    n_addrs = fm_push_broker_addrs(pc, addrs, 32);
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
        pthread_mutex_lock(&pc->mu);
        for (pq *p = pc->pqs; p != NULL; p = p->next) {
            if ((!p->dropped && p->locked) || p->unlock_after) {
                fm_push_unlock_queue(pc, p);
            }
        }
        pthread_mutex_unlock(&pc->mu);
    }
    for (size_t i = 0; i < n_addrs; i++) {
        fm_errbuf eb;
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("clientID"), fm_slice_cstr(pc->client_id)},
            {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(pc->core.conf.s.consumerGroup)},
        };
        if (fm_push_call(pc, addrs[i], FM_REQ_UNREGISTER_CLIENT, ext, 2, fm_slice_make(NULL, 0),
                         NULL, &eb) != FM_OK) {
            fm_client_log(&pc->core.conf, 1, "unregister at %s: %s", addrs[i], eb.msg);
        }
    }
    /* Pulls still parked on brokers complete (FM_ECLOSED) while the transport stops, and
     * touch their queues: free the queues after it. */
    fm_client_core_destroy(&pc->core);
    fm_client_garbage_drain(&pc->done_tasks);
    while (pc->pqs != NULL) {
        pq *p = pc->pqs;
        pc->pqs = p->next;
        fm_push_pq_free_untaken(p);
        free(p->ring);
        free(p);
    }
    pthread_cond_destroy(&pc->svc_cv);
    pthread_cond_destroy(&pc->work_cv);
    pthread_mutex_destroy(&pc->mu);
    free(pc->workers);
    free(pc);
    return FERRYMQ_OK;
}
