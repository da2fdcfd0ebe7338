/*
 * push_queue.c - the push consumer's queues: rings of pulled messages, pulls (asynchronous,
 * long polling, flow control), batches handed to workers and their completion, offsets
 * committed, failed messages sent back. See push_int.h for the locking rules.
 */
#include "client/push_int.h"

#include "common/clock.h"
#include "common/fault.h"
#include "proto/codes.h"
#include "proto/props.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* Wake the service thread. Holds mu. The flag, not only the signal: the service thread
 * drops mu while it sends pulls and commits, and a signal sent meanwhile would be lost, leaving
 * a queue that is ready to pull waiting for the next timer (seconds). */
void
fm_push_kick(ferrymq_push_consumer *pc)
{
    pc->kicked = 1;
    pthread_cond_signal(&pc->svc_cv);
}

static int
reply_error(const fm_cmd *resp, const char *addr, fm_errbuf *eb)
{
    char remark[256];
    fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
    return fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", addr, resp->code,
                      remark);
}

/* One request whose answer only needs its code (and optionally its body, copied). */
int
fm_push_call(ferrymq_push_consumer *pc, const char *addr, int code, const fm_cmd_ext *ext,
             size_t n_ext, fm_slice body, cJSON **json_out, fm_errbuf *eb)
{
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&pc->core, addr, code, ext, n_ext, body, 0, &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        rc = reply_error(&resp, addr, eb);
    }
    if (rc == FM_OK && json_out != NULL) {
        rc = fm_client_json_parse(resp.body.ptr, resp.body.len, json_out, eb);
        if (rc == FM_EPROTO) {
            rc = fm_err_set(eb, FM_EPROTO, "broker %s sent a body that is not JSON", addr);
        }
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

void
fm_push_pq_free_untaken(pq *p)
{
    for (uint64_t s = p->head; s < p->tail; s++) {
        held *h = &p->ring[s % p->cap];
        ferrymq_msg_free(h->m);
        h->m = NULL;
    }
}

void
fm_push_pq_release(ferrymq_push_consumer *pc, pq *p)
{
    if (--p->refs > 0) {
        return;
    }
    for (pq **pp = &pc->pqs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    fm_push_pq_free_untaken(p);
    free(p->ring);
    free(p);
}

/* Start over at off: what the ring holds and whatever is in flight belongs to the old
 * position. */
void
fm_push_pq_reset(pq *p, int64_t off)
{
    p->gen++;
    fm_push_pq_free_untaken(p);
    p->head = p->tail = p->next_take = 0;
    p->bytes = 0;
    p->pull_offset = off;
    p->commit_offset = off;
    p->committed = INT64_MIN; /* commit it at the next round even if unchanged */
    p->pull_at = 0;
}

/* The first offset not consumed; the caller holds mu. */
static void
pq_advance(pq *p)
{
    while (p->head < p->tail && p->ring[p->head % p->cap].done) {
        p->head++;
    }
    p->commit_offset = p->head < p->tail ? p->ring[p->head % p->cap].off : p->pull_offset;
}

static int
pq_append(pq *p, ferrymq_msg *m)
{
    held *h;
    if (p->tail - p->head == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        held *n = calloc(ncap, sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        for (uint64_t s = p->head; s < p->tail; s++) {
            n[s % ncap] = p->ring[s % p->cap];
        }
        free(p->ring);
        p->ring = n;
        p->cap = ncap;
    }
    h = &p->ring[p->tail % p->cap];
    h->m = m;
    h->off = m->queue_offset;
    h->done = 0;
    p->bytes += m->body_len;
    p->tail++;
    return FM_OK;
}

void
fm_push_work_push(ferrymq_push_consumer *pc, task *t)
{
    t->next = NULL;
    if (pc->work_tail != NULL) {
        pc->work_tail->next = t;
    } else {
        pc->work_head = t;
    }
    pc->work_tail = t;
    pthread_cond_signal(&pc->work_cv);
}

void
fm_push_task_free(task *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ferrymq_msg_free(t->msgs[i]);
    }
    free(t);
}

static void
task_free_g(fm_client_garbage *g)
{
    fm_push_task_free((task *)g);
}

/* Take up to `max` untaken messages of p into a batch; the caller holds mu. */
static task *
take_batch(pq *p, size_t max)
{
    size_t n = (size_t)(p->tail - p->next_take);
    task *t;
    if (n == 0) {
        return NULL;
    }
    n = n < max ? n : max;
    t = calloc(1, sizeof(*t) + n * sizeof(ferrymq_msg *));
    if (t == NULL) {
        return NULL; /* retried when the next pull or batch completes */
    }
    t->g.free_fn = task_free_g;
    t->p = p;
    t->gen = p->gen;
    t->first = p->next_take;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        held *h = &p->ring[(p->next_take + i) % p->cap];
        t->msgs[i] = h->m;
        h->m = NULL;
    }
    p->next_take += n;
    p->refs++;
    return t;
}

/* Queue what p can be consumed now; the caller holds mu. */
void
fm_push_dispatch(ferrymq_push_consumer *pc, pq *p)
{
    size_t max = (size_t)pc->core.conf.s.consumeMessageBatchMaxSize;
    task *t;
    if (p->dropped) {
        return;
    }
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
        if (!p->consuming && p->locked && (t = take_batch(p, max)) != NULL) {
            p->consuming = 1;
            fm_push_work_push(pc, t);
        }
        return;
    }
    while ((t = take_batch(p, max)) != NULL) {
        fm_push_work_push(pc, t);
    }
}

/* The message as the user sees it: a retried message under the topic it first came from. */
static void
restore_retry_topic(ferrymq_msg *m)
{
    const char *rt;
    if (strncmp(m->topic, "%RETRY%", 7) == 0 &&
        (rt = ferrymq_msg_property(m, FM_PROP_RETRY_TOPIC)) != NULL) {
        (void)fm_client_msg_set_topic(m, rt); /* out of memory: it keeps the retry topic */
    }
}

/* ---- pulls ---- */

typedef struct pull_ctx {
    ferrymq_push_consumer *pc;
    pq *p;
    unsigned gen;
} pull_ctx;

static void
pull_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    pull_ctx *ctx = ud;
    ferrymq_push_consumer *pc = ctx->pc;
    pq *p = ctx->p;
    ferrymq_pull_result res;
    int64_t next = -1;
    int status = -1;
    (void)raw;
    fm_client_garbage_drain(&pc->done_tasks);
    memset(&res, 0, sizeof(res));
    if (err == FM_OK) {
        fm_cmd_ext_i64(resp, "nextBeginOffset", &next);
        switch (resp->code) {
        case FM_RESP_SUCCESS: {
            fm_errbuf eb;
            status =
                fm_client_pull_decode(resp->body, &res, &eb) == FM_OK ? FERRYMQ_PULL_FOUND : -1;
            break;
        }
        case FM_RESP_PULL_NOT_FOUND:
            status = FERRYMQ_PULL_NO_NEW_MSG;
            break;
        case FM_RESP_PULL_RETRY_IMMEDIATELY:
            status = FERRYMQ_PULL_NO_MATCHED_MSG;
            break;
        case FM_RESP_PULL_OFFSET_MOVED:
            status = FERRYMQ_PULL_OFFSET_ILLEGAL;
            break;
        default:
            fm_client_log(&pc->core.conf, 1, "pull %s/%s/%d answered code %d", p->q.topic,
                          p->q.broker_name, p->q.queue_id, resp->code);
        }
    }
    if (status >= 0 && next < 0) {
        status = -1; /* every answer but an error carries it */
    }

    pthread_mutex_lock(&pc->mu);
    p->pulling = 0;
    if (p->dropped || pc->closing || ctx->gen != p->gen) {
        p->pull_at = 0; /* a reset: pull again from the new position */
    } else if (status == FERRYMQ_PULL_FOUND) {
        size_t i = 0;
        for (; i < res.n_msgs; i++) {
            if (res.msgs[i]->queue_offset < p->pull_offset) {
                continue; /* never deliver below where we asked */
            }
            restore_retry_topic(res.msgs[i]);
            if (pq_append(p, res.msgs[i]) != FM_OK) {
                break;
            }
            res.msgs[i] = NULL;
        }
        if (i == res.n_msgs) {
            p->pull_offset = next;
        } else if (p->tail > p->head) {
            p->pull_offset = p->ring[(p->tail - 1) % p->cap].off + 1; /* out of memory */
        }
        p->pull_at = 0;
        fm_push_dispatch(pc, p);
    } else if (status == FERRYMQ_PULL_NO_NEW_MSG || status == FERRYMQ_PULL_NO_MATCHED_MSG) {
        p->pull_offset = next;
        pq_advance(p);
        p->pull_at =
            pc->core.conf.s.brokerSuspendMaxTimeMillis > 0 || status != FERRYMQ_PULL_NO_NEW_MSG
                ? 0
                : fm_clock_mono_ms() + 100;
    } else if (status == FERRYMQ_PULL_OFFSET_ILLEGAL) {
        fm_client_log(&pc->core.conf, 2, "queue %s/%s/%d: offset moved %" PRId64 " -> %" PRId64,
                      p->q.topic, p->q.broker_name, p->q.queue_id, p->pull_offset, next);
        fm_push_pq_reset(p, next);
    } else {
        p->pull_at = fm_clock_mono_ms() + PULL_DELAY_ON_ERROR_MS;
        fm_client_log(&pc->core.conf, 1,
                      "pull %s/%s/%d at %" PRId64 " failed (%s, code %d): again in %d ms",
                      p->q.topic, p->q.broker_name, p->q.queue_id, p->pull_offset, fm_strerror(err),
                      err == FM_OK ? resp->code : -1, PULL_DELAY_ON_ERROR_MS);
    }
    fm_push_pq_release(pc, p);
    fm_push_kick(pc);
    pthread_mutex_unlock(&pc->mu);
    for (size_t i = 0; i < res.n_msgs; i++) {
        ferrymq_msg_free(res.msgs[i]);
    }
    free(res.msgs);
    free(ctx);
}

typedef struct pull_req {
    pull_ctx *ctx;
    char addr[128];
    ferrymq_queue q;
    int64_t offset;
    const sub *s;
} pull_req;

static int
pull_send(ferrymq_push_consumer *pc, const pull_req *r)
{
    const client_settings *st = &pc->core.conf.s;
    fm_client_pull_hdr h;
    fm_errbuf eb;
    int suspend = (int)st->brokerSuspendMaxTimeMillis;
    fm_client_pull_hdr_init(&h, st->consumerGroup, &r->q, r->offset, (int)st->pullBatchSize,
                            suspend, r->s->expr, r->s->type, r->s->version);
    /* the broker may hold the pull `suspend` ms: wait that long plus a send timeout */
    return fm_client_pull_call(pc->core.rpc, r->addr, &h, suspend + (int)st->sendMsgTimeout,
                               pull_done, r->ctx, &eb);
}

/* Whether p may pull now; sets p->pull_at when flow control holds it back. Holds mu. */
static int
pull_ready(ferrymq_push_consumer *pc, pq *p, int64_t now)
{
    const client_settings *st = &pc->core.conf.s;
    if (p->dropped || p->pulling || now < p->pull_at || p->pull_offset < 0 ||
        (pc->mode == FERRYMQ_CONSUME_ORDERLY && !p->locked)) {
        return 0;
    }
    if ((int64_t)(p->tail - p->head) >= st->pullThresholdForQueue ||
        (int64_t)p->bytes >= st->pullThresholdSizeForQueue * 1024 * 1024 ||
        (pc->mode == FERRYMQ_CONSUME_CONCURRENTLY && p->tail > p->head &&
         p->ring[(p->tail - 1) % p->cap].off - p->ring[p->head % p->cap].off > MAX_SPAN)) {
        p->pull_at = now + PULL_DELAY_FLOW_MS;
        return 0;
    }
    return 1;
}

/* Issue every pull that is due; called and returns with mu held. Returns the earliest time a
 * held-back queue may pull. */
int64_t
fm_push_issue_pulls(ferrymq_push_consumer *pc)
{
    pull_req reqs[64];
    int64_t now = fm_clock_mono_ms(), wake = INT64_MAX;
    size_t n = 0;
    for (pq *p = pc->pqs; p != NULL && n < sizeof(reqs) / sizeof(reqs[0]); p = p->next) {
        pull_ctx *ctx;
        if (!pull_ready(pc, p, now)) {
            if (!p->dropped && !p->pulling && p->pull_at > now && p->pull_at < wake) {
                wake = p->pull_at;
            }
            continue;
        }
        if ((ctx = malloc(sizeof(*ctx))) == NULL) {
            wake = now + PULL_DELAY_FLOW_MS;
            break;
        }
        ctx->pc = pc;
        ctx->p = p;
        ctx->gen = p->gen;
        p->pulling = 1;
        p->refs++;
        reqs[n].ctx = ctx;
        snprintf(reqs[n].addr, sizeof(reqs[n].addr), "%s", p->addr);
        reqs[n].q = p->q;
        reqs[n].offset = p->pull_offset;
        reqs[n].s = p->s;
        n++;
    }
    if (n == sizeof(reqs) / sizeof(reqs[0])) {
        wake = now; /* more queues than one round takes */
    }
    pthread_mutex_unlock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        if (pull_send(pc, &reqs[i]) != FM_OK) {
            pull_ctx *ctx = reqs[i].ctx;
            pthread_mutex_lock(&pc->mu);
            ctx->p->pulling = 0;
            ctx->p->pull_at = now + PULL_DELAY_ON_ERROR_MS;
            fm_push_pq_release(pc, ctx->p);
            pthread_mutex_unlock(&pc->mu);
            free(ctx);
        }
    }
    if (n > 0 && FM_FAULT_POINT("push.pulls_unlocked") != 0) {
        usleep(2000); /* tests: widen the window in which these pulls complete unseen */
    }
    pthread_mutex_lock(&pc->mu);
    return wake;
}

/* ---- offsets ---- */

static int
commit_one(ferrymq_push_consumer *pc, const char *addr, const ferrymq_queue *q, int64_t off)
{
    char qid[16], offs[24];
    fm_errbuf eb;
    snprintf(qid, sizeof(qid), "%d", q->queue_id);
    snprintf(offs, sizeof(offs), "%" PRId64, off);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(pc->core.conf.s.consumerGroup)},
        {FM_SLICE_LIT("topic"), fm_slice_cstr(q->topic)},
        {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
        {FM_SLICE_LIT("commitOffset"), fm_slice_cstr(offs)},
    };
    if (fm_push_call(pc, addr, FM_REQ_UPDATE_CONSUMER_OFFSET, ext, 4, fm_slice_make(NULL, 0), NULL,
                     &eb) != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "commit %s/%s/%d at %" PRId64 ": %s", q->topic,
                      q->broker_name, q->queue_id, off, eb.msg);
        return -1;
    }
    return 0;
}

typedef struct commit_req {
    pq *p;
    char addr[128];
    ferrymq_queue q;
    int64_t off;
} commit_req;

/* Commit every queue whose offset moved (dropped ones too, so their next owner starts there).
 * Called and returns with mu held. */
void
fm_push_commit_all(ferrymq_push_consumer *pc)
{
    commit_req *reqs = NULL;
    size_t n = 0, cap = 0;
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        if (p->commit_offset < 0 || p->commit_offset == p->committed) {
            continue;
        }
        if (n == cap) {
            commit_req *g = realloc(reqs, (cap = cap ? cap * 2 : 16) * sizeof(*g));
            if (g == NULL) {
                break;
            }
            reqs = g;
        }
        reqs[n].p = p;
        snprintf(reqs[n].addr, sizeof(reqs[n].addr), "%s", p->addr);
        reqs[n].q = p->q;
        reqs[n].off = p->commit_offset;
        p->refs++;
        n++;
    }
    pthread_mutex_unlock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        reqs[i].off =
            commit_one(pc, reqs[i].addr, &reqs[i].q, reqs[i].off) == 0 ? reqs[i].off : INT64_MIN;
    }
    pthread_mutex_lock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].off != INT64_MIN) {
            reqs[i].p->committed = reqs[i].off;
        }
        fm_push_pq_release(pc, reqs[i].p);
    }
    free(reqs);
}

/* CONSUMER_SEND_MSG_BACK: the broker stores the message again in %RETRY%<group> (or %DLQ%). */
int
fm_push_send_back(ferrymq_push_consumer *pc, const char *addr, const ferrymq_msg *m,
                  int delay_level)
{
    const client_settings *st = &pc->core.conf.s;
    char off[24], delay[16], maxr[16];
    const char *origin = ferrymq_msg_id(m);
    fm_errbuf eb;
    snprintf(off, sizeof(off), "%" PRId64, m->phys_offset);
    snprintf(delay, sizeof(delay), "%d", delay_level);
    snprintf(maxr, sizeof(maxr), "%" PRId64, st->maxReconsumeTimes);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("offset"), fm_slice_cstr(off)},
        {FM_SLICE_LIT("group"), fm_slice_cstr(st->consumerGroup)},
        {FM_SLICE_LIT("delayLevel"), fm_slice_cstr(delay)},
        {FM_SLICE_LIT("originMsgId"), fm_slice_cstr(origin ? origin : "")},
        {FM_SLICE_LIT("originTopic"), fm_slice_cstr(m->topic)},
        {FM_SLICE_LIT("unitMode"), FM_SLICE_LIT("false")},
        {FM_SLICE_LIT("maxReconsumeTimes"), fm_slice_cstr(maxr)},
    };
    if (fm_push_call(pc, addr, FM_REQ_CONSUMER_SEND_MSG_BACK, ext,
                     st->maxReconsumeTimes >= 0 ? 7 : 6, fm_slice_make(NULL, 0), NULL,
                     &eb) != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "send back %s: %s", ferrymq_msg_offset_id(m), eb.msg);
        return -1;
    }
    return 0;
}

/* After the callback: mark the batch consumed (or schedule it again). Holds mu. */
void
fm_push_task_finish(ferrymq_push_consumer *pc, task *t, int consumed)
{
    pq *p = t->p;
    int current = t->gen == p->gen && !p->dropped;
    if (!consumed && current) {
        /* orderly: the queue stays held (consuming) until the batch goes through */
        t->due = fm_clock_mono_ms() + (pc->mode == FERRYMQ_CONSUME_ORDERLY
                                           ? pc->core.conf.s.suspendCurrentQueueTimeMillis
                                           : SEND_BACK_RETRY_MS);
        t->next = pc->later;
        pc->later = t;
        fm_push_kick(pc);
        return;
    }
    if (current) {
        for (size_t i = 0; i < t->n; i++) {
            p->ring[(t->first + i) % p->cap].done = 1;
            p->bytes -= t->msgs[i]->body_len;
        }
        pq_advance(p);
    }
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
        p->consuming = 0;
        if (p->unlock_after) {
            /* given up while this batch ran: now the next owner may have it */
            p->unlock_after = 0;
            fm_push_unlock_queue(pc, p); /* our reference (the batch's) keeps p alive meanwhile */
        } else {
            fm_push_dispatch(pc, p); /* also after a reset: what was pulled since waits for this */
        }
    }
    fm_push_pq_release(pc, p);
    /* The batch and its messages were allocated on the I/O thread (decoding a pull): it frees
     * them at its next pull completion, so workers never contend for its malloc arena. */
    fm_client_garbage_push(&pc->done_tasks, &t->g);
    fm_push_kick(pc); /* room for more: flow control may let a pull go */
}
