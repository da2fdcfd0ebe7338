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
#include "client/client_int.h"

#include "common/clock.h"
#include "common/fault.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBS 64
#define PULL_DELAY_ON_ERROR_MS 3000 /* RocketMQ's pullTimeDelayMillsWhenException */
#define PULL_DELAY_FLOW_MS 50       /* and its flow-control delay */
#define SEND_BACK_RETRY_MS 5000     /* a batch whose send-back failed is consumed again then */
#define LOCK_RENEW_MS 20000         /* brokers keep a lock 60 s */
#define MAX_SPAN 2000               /* consumeConcurrentlyMaxSpan */

typedef struct sub {
    char topic[256];
    char expr[1024];
    char type[8];
    int64_t version;
} sub;

typedef struct held {
    ferrymq_msg *m; /* owned while not taken by a worker */
    int64_t off;
    uint32_t size;
    uint8_t done;
} held;

typedef struct pq {
    struct pq *next;
    ferrymq_queue q;
    char addr[128];
    const sub *s;
    int dropped;
    int listed; /* the list's reference is held (given up once, when dropped) */
    int refs;   /* a pull in flight, batches, commits under way, the list itself */
    unsigned gen;
    int64_t pull_offset;
    int64_t commit_offset; /* -1: nothing to commit yet */
    int64_t committed;     /* last value sent to the broker */
    int pulling;
    int64_t pull_at; /* monotonic ms */
    held *ring;
    size_t cap;
    uint64_t head, tail, next_take; /* sequence numbers; slot = seq % cap */
    size_t bytes;
    /* orderly */
    int locked;
    int consuming;
    int unlock_after; /* orderly, given up: unlock once no batch of it runs (see rebalance) */
} pq;

typedef struct task {
    struct task *next;
    pq *p;
    unsigned gen;
    uint64_t first; /* ring sequence of msgs[0] */
    int64_t due;    /* monotonic ms: not before */
    int tries;
    size_t n;
    ferrymq_msg *msgs[];
} task;

struct ferrymq_push_consumer {
    client_core core; /* first: the shared handle layout */
    char client_id[300];
    pthread_mutex_t mu;
    pthread_cond_t svc_cv; /* the service thread waits here */
    pthread_cond_t work_cv;
    sub subs[MAX_SUBS];
    int n_subs;
    int mode;
    ferrymq_consume_cb cb;
    void *cb_opaque;
    pq *pqs;
    task *work_head, *work_tail; /* ready batches, FIFO */
    task *later;                 /* batches waiting for their due time */
    _Atomic(task *) done_tasks;  /* consumed batches, freed on the I/O thread */
    pthread_t svc;
    pthread_t *workers;
    int n_workers;
    int started, closing, rebalance_now;
    int kicked; /* something changed since the service thread last looked (under mu) */
    int64_t next_rebalance, next_heartbeat, next_commit, next_lock;
};

static _Thread_local const ferrymq_push_consumer *in_callback_of;

/* Wake the service thread. Holds mu. The flag, not only the signal: the service thread
 * drops mu while it sends pulls and commits, and a signal sent meanwhile would be lost, leaving
 * a queue that is ready to pull waiting for the next timer (seconds). */
static void
svc_kick(ferrymq_push_consumer *pc)
{
    pc->kicked = 1;
    pthread_cond_signal(&pc->svc_cv);
}
static atomic_uint instance_seq;

/* ---- small helpers ---- */

static int
now_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until_mono)
{
    struct timespec ts;
    int64_t ms = until_mono;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return pthread_cond_timedwait(cv, mu, &ts);
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
static int
simple_call(ferrymq_push_consumer *pc, const char *addr, int code, const fm_cmd_ext *ext,
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
        *json_out = cJSON_ParseWithLength((const char *)resp.body.ptr, resp.body.len);
        if (*json_out == NULL) {
            rc = fm_err_set(eb, FM_EPROTO, "broker %s sent a body that is not JSON", addr);
        }
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

static void
held_free_untaken(pq *p)
{
    for (uint64_t s = p->head; s < p->tail; s++) {
        held *h = &p->ring[s % p->cap];
        ferrymq_msg_free(h->m);
        h->m = NULL;
    }
}

static void
pq_release(ferrymq_push_consumer *pc, pq *p)
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
    held_free_untaken(p);
    free(p->ring);
    free(p);
}

/* Start over at off: what the ring holds and whatever is in flight belongs to the old
 * position. */
static void
pq_reset(pq *p, int64_t off)
{
    p->gen++;
    held_free_untaken(p);
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
    h->size = (uint32_t)m->body_len;
    h->done = 0;
    p->bytes += m->body_len;
    p->tail++;
    return FM_OK;
}

static void
work_push(ferrymq_push_consumer *pc, task *t)
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
static void
dispatch(ferrymq_push_consumer *pc, pq *p)
{
    size_t max = (size_t)pc->core.conf.s.consumeMessageBatchMaxSize;
    task *t;
    if (p->dropped) {
        return;
    }
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
        if (!p->consuming && p->locked && (t = take_batch(p, max)) != NULL) {
            p->consuming = 1;
            work_push(pc, t);
        }
        return;
    }
    while ((t = take_batch(p, max)) != NULL) {
        work_push(pc, t);
    }
}

/* The message as the user sees it: a retried message under the topic it first came from. */
static void
restore_retry_topic(ferrymq_msg *m)
{
    const char *rt;
    char *t;
    if (strncmp(m->topic, "%RETRY%", 7) != 0 ||
        (rt = ferrymq_msg_property(m, FM_PROP_RETRY_TOPIC)) == NULL || (t = strdup(rt)) == NULL) {
        return;
    }
    free(m->topic);
    m->topic = t;
}

static void done_tasks_free(ferrymq_push_consumer *pc);

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
    done_tasks_free(pc);
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
        dispatch(pc, p);
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
        pq_reset(p, next);
    } else {
        p->pull_at = fm_clock_mono_ms() + PULL_DELAY_ON_ERROR_MS;
        fm_client_log(&pc->core.conf, 1,
                      "pull %s/%s/%d at %" PRId64 " failed (%s, code %d): again in %d ms",
                      p->q.topic, p->q.broker_name, p->q.queue_id, p->pull_offset, fm_strerror(err),
                      err == FM_OK ? resp->code : -1, PULL_DELAY_ON_ERROR_MS);
    }
    pq_release(pc, p);
    svc_kick(pc);
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
    fm_buf frame = {0};
    fm_cmd req;
    fm_errbuf eb;
    int rc;
    int suspend = (int)st->brokerSuspendMaxTimeMillis;
    fm_client_pull_hdr_init(&h, st->consumerGroup, &r->q, r->offset, (int)st->pullBatchSize,
                            suspend, r->s->expr, r->s->type, r->s->version);
    memset(&req, 0, sizeof(req));
    req.code = FM_REQ_PULL_MESSAGE;
    req.language = FM_LANG_OTHER;
    req.opaque = fm_client_rpc_next_opaque(pc->core.rpc);
    req.serialize = FM_SERIALIZE_ROCKETMQ;
    req.ext = h.ext;
    req.n_ext = FM_CLIENT_PULL_EXT;
    rc = fm_proto_cmd_encode(&frame, &req, &eb);
    if (rc == FM_OK) {
        /* the broker may hold the pull `suspend` ms: wait that long plus a send timeout */
        rc = fm_client_rpc_call(pc->core.rpc, r->addr, &frame, req.opaque,
                                suspend + (int)st->sendMsgTimeout, 0, pull_done, r->ctx);
    }
    fm_buf_free(&frame);
    return rc;
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
static int64_t
issue_pulls(ferrymq_push_consumer *pc)
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
            pq_release(pc, ctx->p);
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
    if (simple_call(pc, addr, FM_REQ_UPDATE_CONSUMER_OFFSET, ext, 4, fm_slice_make(NULL, 0), NULL,
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
static void
commit_all(ferrymq_push_consumer *pc)
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
        pq_release(pc, reqs[i].p);
    }
    free(reqs);
}

/* Where a newly held queue starts: the group's committed offset, else consumeFromWhere. */
static int
initial_offset(ferrymq_push_consumer *pc, const ferrymq_queue *q, int64_t *out, fm_errbuf *eb)
{
    const client_settings *st = &pc->core.conf.s;
    char ts[24];
    int rc = fm_client_queue_i64(&pc->core, q, FM_REQ_QUERY_CONSUMER_OFFSET, "consumerGroup",
                                 st->consumerGroup, "offset", out, eb);
    if (rc == FM_OK && *out >= 0) {
        return FM_OK;
    }
    if (rc != FM_OK && rc != FM_ENOTFOUND) {
        return rc; /* anything but "no offset for this group" */
    }
    if (strncmp(q->topic, "%RETRY%", 7) == 0 ||
        strcmp(st->consumeFromWhere, "CONSUME_FROM_FIRST_OFFSET") == 0) {
        return fm_client_queue_i64(&pc->core, q, FM_REQ_GET_MIN_OFFSET, NULL, NULL, "offset", out,
                                   eb);
    }
    if (strcmp(st->consumeFromWhere, "CONSUME_FROM_TIMESTAMP") == 0) {
        int64_t when = fm_clock_wall_ms() - 30 * 60 * 1000;
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (st->consumeTimestamp[0] != '\0' &&
            sscanf(st->consumeTimestamp, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            when = (int64_t)timegm(&tm) * 1000;
        }
        snprintf(ts, sizeof(ts), "%" PRId64, when);
        return fm_client_queue_i64(&pc->core, q, FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP, "timestamp", ts,
                                   "offset", out, eb);
    }
    return fm_client_queue_i64(&pc->core, q, FM_REQ_GET_MAX_OFFSET, NULL, NULL, "offset", out, eb);
}

/* ---- heartbeat, locks, group membership ---- */

/* Master addresses of every subscribed topic's route, deduplicated. */
static size_t
broker_addrs(ferrymq_push_consumer *pc, char (*out)[128], size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < pc->n_subs; i++) {
        client_route *r = NULL;
        fm_errbuf eb;
        if (fm_client_core_route(&pc->core, pc->subs[i].topic, 0, 0, &r, &eb) != FM_OK) {
            continue;
        }
        for (int k = 0; k < r->n; k++) {
            size_t j = 0;
            while (j < n && strcmp(out[j], r->q[k].addr) != 0) {
                j++;
            }
            if (j == n && n < cap) {
                snprintf(out[n++], 128, "%s", r->q[k].addr);
            }
        }
        fm_client_route_release(r);
    }
    return n;
}

static char *
heartbeat_body(ferrymq_push_consumer *pc)
{
    const client_settings *st = &pc->core.conf.s;
    cJSON *root = cJSON_CreateObject(), *set, *c, *subs;
    char *s;
    if (root == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(root, "clientID", pc->client_id);
    cJSON_AddArrayToObject(root, "producerDataSet");
    set = cJSON_AddArrayToObject(root, "consumerDataSet");
    c = cJSON_CreateObject();
    cJSON_AddItemToArray(set, c);
    cJSON_AddStringToObject(c, "groupName", st->consumerGroup);
    cJSON_AddStringToObject(c, "consumeType", "CONSUME_PASSIVELY");
    cJSON_AddStringToObject(c, "messageModel", "CLUSTERING");
    cJSON_AddStringToObject(c, "consumeFromWhere", st->consumeFromWhere);
    cJSON_AddBoolToObject(c, "unitMode", 0);
    subs = cJSON_AddArrayToObject(c, "subscriptionDataSet");
    for (int i = 0; i < pc->n_subs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(subs, o);
        cJSON_AddBoolToObject(o, "classFilterMode", 0);
        cJSON_AddStringToObject(o, "topic", pc->subs[i].topic);
        cJSON_AddStringToObject(o, "subString", pc->subs[i].expr);
        cJSON_AddArrayToObject(o, "tagsSet");
        cJSON_AddArrayToObject(o, "codeSet");
        cJSON_AddNumberToObject(o, "subVersion", (double)pc->subs[i].version);
        cJSON_AddStringToObject(o, "expressionType", pc->subs[i].type);
    }
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void
heartbeat_all(ferrymq_push_consumer *pc)
{
    char addrs[32][128];
    size_t n = broker_addrs(pc, addrs, 32);
    char *body = heartbeat_body(pc);
    for (size_t i = 0; i < n && body != NULL; i++) {
        fm_errbuf eb;
        if (simple_call(pc, addrs[i], FM_REQ_HEART_BEAT, NULL, 0, fm_slice_cstr(body), NULL, &eb) !=
            FM_OK) {
            fm_client_log(&pc->core.conf, 1, "heartbeat to %s: %s", addrs[i], eb.msg);
        }
    }
    free(body);
}

/* LOCK_BATCH_MQ (lock = 1) or UNLOCK_BATCH_MQ for the queues of one broker; with lock, the
 * queues granted are marked in *granted (same order). */
static int
lock_call(ferrymq_push_consumer *pc, const char *addr, const ferrymq_queue *qs, size_t n, int lock,
          int *granted)
{
    cJSON *root = cJSON_CreateObject(), *set, *ans = NULL;
    char *body;
    fm_errbuf eb;
    int rc;
    if (root == NULL) {
        return FM_ENOMEM;
    }
    cJSON_AddStringToObject(root, "consumerGroup", pc->core.conf.s.consumerGroup);
    cJSON_AddStringToObject(root, "clientId", pc->client_id);
    set = cJSON_AddArrayToObject(root, "mqSet");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(set, o);
        cJSON_AddStringToObject(o, "topic", qs[i].topic);
        cJSON_AddStringToObject(o, "brokerName", qs[i].broker_name);
        cJSON_AddNumberToObject(o, "queueId", qs[i].queue_id);
    }
    body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (body == NULL) {
        return FM_ENOMEM;
    }
    rc = simple_call(pc, addr, lock ? FM_REQ_LOCK_BATCH_MQ : FM_REQ_UNLOCK_BATCH_MQ, NULL, 0,
                     fm_slice_cstr(body), lock ? &ans : NULL, &eb);
    free(body);
    if (rc != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "%s at %s: %s", lock ? "lock" : "unlock", addr, eb.msg);
        return rc;
    }
    if (lock) {
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ans, "lockOKMQSet"), *it;
        for (size_t i = 0; i < n; i++) {
            granted[i] = 0;
        }
        cJSON_ArrayForEach(it, ok)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "topic");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "brokerName");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "queueId");
            for (size_t i = 0; i < n && cJSON_IsString(t) && cJSON_IsString(b) && cJSON_IsNumber(q);
                 i++) {
                if (strcmp(qs[i].topic, t->valuestring) == 0 &&
                    strcmp(qs[i].broker_name, b->valuestring) == 0 &&
                    qs[i].queue_id == q->valueint) {
                    granted[i] = 1;
                }
            }
        }
        cJSON_Delete(ans);
    }
    return FM_OK;
}

/* UNLOCK_BATCH_MQ for p's queue. Called with mu held; drops it for the call (p stays valid:
 * the caller holds a reference). */
static void
unlock_queue(ferrymq_push_consumer *pc, pq *p)
{
    ferrymq_queue q = p->q;
    char addr[128];
    snprintf(addr, sizeof(addr), "%s", p->addr);
    pthread_mutex_unlock(&pc->mu);
    lock_call(pc, addr, &q, 1, 0, NULL);
    pthread_mutex_lock(&pc->mu);
}

typedef struct held_q {
    pq *p;
    ferrymq_queue q;
    char addr[128];
    int granted;
} held_q;

/* Lock (or renew) every held queue, per broker, and mark which this member holds. Called and
 * returns with mu held. */
static void
lock_all(ferrymq_push_consumer *pc)
{
    held_q *hs = NULL;
    size_t n = 0;
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        n += !p->dropped;
    }
    if (n == 0 || (hs = calloc(n, sizeof(*hs))) == NULL) {
        return;
    }
    n = 0;
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        if (!p->dropped) {
            hs[n].p = p;
            hs[n].q = p->q;
            snprintf(hs[n].addr, sizeof(hs[n].addr), "%s", p->addr);
            p->refs++;
            n++;
        }
    }
    pthread_mutex_unlock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        ferrymq_queue qs[64];
        int granted[64];
        size_t idx[64], k = 0;
        if (hs[i].granted < 0) {
            continue; /* asked already with an earlier queue of its broker */
        }
        for (size_t j = i; j < n && k < 64; j++) {
            if (hs[j].granted >= 0 && strcmp(hs[j].addr, hs[i].addr) == 0) {
                qs[k] = hs[j].q;
                idx[k++] = j;
            }
        }
        if (lock_call(pc, hs[i].addr, qs, k, 1, granted) != FM_OK) {
            for (size_t j = 0; j < k; j++) {
                granted[j] = 0;
            }
        }
        for (size_t j = 0; j < k; j++) {
            hs[idx[j]].granted = granted[j] ? 2 : -2; /* decided: 2 granted, -2 refused */
        }
    }
    pthread_mutex_lock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        hs[i].p->locked = hs[i].granted == 2;
        if (hs[i].p->locked) {
            dispatch(pc, hs[i].p);
        }
        pq_release(pc, hs[i].p);
    }
    free(hs);
}

/* ---- rebalance ---- */

static int
cmp_queue(const void *x, const void *y)
{
    const ferrymq_queue *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    if (c == 0) {
        c = strcmp(a->broker_name, b->broker_name);
    }
    return c != 0 ? c : (a->queue_id > b->queue_id) - (a->queue_id < b->queue_id);
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * RocketMQ's AllocateMessageQueueAveragely, so mixed groups split alike: with mq sorted and
 * cids sorted, member `index` takes a run of `avg` queues starting at `start`.
 */
void
fm_client_allocate_averagely(size_t n_mq, size_t n_cid, size_t index, size_t *start, size_t *count)
{
    size_t mod = n_mq % n_cid;
    size_t avg = n_mq <= n_cid ? 1 : (mod > 0 && index < mod ? n_mq / n_cid + 1 : n_mq / n_cid);
    size_t st = (mod > 0 && index < mod) ? index * avg : index * avg + mod;
    *start = st;
    *count = st >= n_mq ? 0 : (avg < n_mq - st ? avg : n_mq - st);
}

/* The group's members as a broker serving topic knows them; *ids malloc'ed (free each and the
 * array). */
static int
group_members(ferrymq_push_consumer *pc, const char *addr, char ***ids, size_t *n, fm_errbuf *eb)
{
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(pc->core.conf.s.consumerGroup)}};
    cJSON *ans = NULL;
    const cJSON *list, *it;
    size_t k = 0;
    int rc = simple_call(pc, addr, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, ext, 1,
                         fm_slice_make(NULL, 0), &ans, eb);
    if (rc != FM_OK) {
        return rc;
    }
    list = cJSON_GetObjectItemCaseSensitive(ans, "consumerIdList");
    *ids = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
    if (*ids == NULL) {
        cJSON_Delete(ans);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it) && ((*ids)[k] = strdup(it->valuestring)) != NULL) {
            k++;
        }
    }
    cJSON_Delete(ans);
    qsort(*ids, k, sizeof(char *), cmp_str);
    *n = k;
    return FM_OK;
}

static void
log_assignment(ferrymq_push_consumer *pc, const sub *s)
{
    char line[400];
    size_t len = 0;
    pthread_mutex_lock(&pc->mu);
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        if (!p->dropped && p->s == s && len < sizeof(line) - 40) {
            len += (size_t)snprintf(line + len, sizeof(line) - len, " %s:%d", p->q.broker_name,
                                    p->q.queue_id);
        }
    }
    line[len] = '\0';
    pthread_mutex_unlock(&pc->mu);
    fm_client_log(&pc->core.conf, 2, "rebalance group=%s topic=%s client=%s queues=[%s ]",
                  pc->core.conf.s.consumerGroup, s->topic, pc->client_id, line);
}

static void
rebalance_topic(ferrymq_push_consumer *pc, const sub *s)
{
    client_route *r = NULL;
    ferrymq_queue *mq = NULL, *mine = NULL;
    char **cids = NULL;
    size_t n_mq = 0, n_cid = 0, index, start = 0, count = 0, n_new = 0;
    int changed = 0;
    fm_errbuf eb;

    if (fm_client_core_route(&pc->core, s->topic, 1, 0, &r, &eb) != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "rebalance %s: %s", s->topic, eb.msg);
        return;
    }
    mq = calloc((size_t)r->n + 1, sizeof(*mq));
    mine = calloc((size_t)r->n + 1, sizeof(*mine));
    for (int i = 0; mq != NULL && mine != NULL && i < r->n; i++) {
        if (r->q[i].readable) {
            snprintf(mq[n_mq].topic, sizeof(mq[n_mq].topic), "%s", s->topic);
            snprintf(mq[n_mq].broker_name, sizeof(mq[n_mq].broker_name), "%s", r->q[i].broker_name);
            mq[n_mq].queue_id = r->q[i].qid;
            n_mq++;
        }
    }
    if (mq == NULL || mine == NULL || n_mq == 0 ||
        group_members(pc, r->q[0].addr, &cids, &n_cid, &eb) != FM_OK) {
        if (n_mq > 0) {
            fm_client_log(&pc->core.conf, 1, "rebalance %s: %s", s->topic, eb.msg);
        }
        goto out;
    }
    qsort(mq, n_mq, sizeof(*mq), cmp_queue);
    for (index = 0; index < n_cid && strcmp(cids[index], pc->client_id) != 0; index++) {
    }
    if (index == n_cid) {
        /* a topic that got its route after our last heartbeat: introduce ourselves, ask again */
        for (size_t i = 0; i < n_cid; i++) {
            free(cids[i]);
        }
        free(cids);
        cids = NULL;
        n_cid = 0;
        heartbeat_all(pc);
        if (group_members(pc, r->q[0].addr, &cids, &n_cid, &eb) != FM_OK) {
            goto out;
        }
        for (index = 0; index < n_cid && strcmp(cids[index], pc->client_id) != 0; index++) {
        }
    }
    if (index == n_cid) {
        /* the broker has not seen our heartbeat yet: keep what we hold, as RocketMQ does */
        fm_client_log(&pc->core.conf, 1, "rebalance %s: %s not yet among the group's members",
                      s->topic, pc->client_id);
        goto out;
    }
    fm_client_allocate_averagely(n_mq, n_cid, index, &start, &count);
    for (size_t i = 0; i < count; i++) {
        mine[i] = mq[(start + i) % n_mq];
    }

    /* drop what is no longer ours: commit where it stands so the next owner starts there */
    pthread_mutex_lock(&pc->mu);
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        int keep = 0;
        if (p->dropped || p->s != s) {
            continue;
        }
        for (size_t i = 0; i < count && !keep; i++) {
            keep = cmp_queue(&p->q, &mine[i]) == 0;
        }
        if (!keep) {
            p->dropped = 1;
            p->gen++;
            /* decided here, under the same lock as the drop: whoever finishes last (this
             * rebalance or the queue's running batch) unlocks */
            p->unlock_after = pc->mode == FERRYMQ_CONSUME_ORDERLY;
            changed = 1;
            continue;
        }
        /* a broker that came back elsewhere (restart, new address): follow the route */
        for (int k = 0; k < r->n; k++) {
            if (strcmp(r->q[k].broker_name, p->q.broker_name) == 0 &&
                strcmp(r->q[k].addr, p->addr) != 0) {
                snprintf(p->addr, sizeof(p->addr), "%s", r->q[k].addr);
                break;
            }
        }
    }
    commit_all(pc);
    for (pq *p = pc->pqs, *next; p != NULL; p = next) {
        next = p->next;
        if (p->dropped && p->listed) {
            p->listed = 0;
            /* the next owner may lock it only once no batch of ours is in a callback */
            if (p->unlock_after && !p->consuming) {
                p->unlock_after = 0;
                unlock_queue(pc, p);
            }
            pq_release(pc, p);
            next = pc->pqs; /* the list may have changed while unlocked */
        }
    }
    /* which of mine are new */
    for (size_t i = 0; i < count; i++) {
        int have = 0;
        for (pq *p = pc->pqs; p != NULL && !have; p = p->next) {
            have = !p->dropped && p->s == s && cmp_queue(&p->q, &mine[i]) == 0;
        }
        if (!have) {
            mine[n_new++] = mine[i];
        }
    }
    pthread_mutex_unlock(&pc->mu);

    for (size_t i = 0; i < n_new; i++) {
        int64_t off;
        pq *p;
        if (initial_offset(pc, &mine[i], &off, &eb) != FM_OK) {
            fm_client_log(&pc->core.conf, 1, "queue %s/%s/%d: no start offset: %s", mine[i].topic,
                          mine[i].broker_name, mine[i].queue_id, eb.msg);
            continue; /* the next rebalance tries again */
        }
        if ((p = calloc(1, sizeof(*p))) == NULL) {
            continue;
        }
        p->q = mine[i];
        p->s = s;
        p->refs = 1;
        p->listed = 1;
        p->pull_offset = off;
        p->commit_offset = -1;
        p->committed = off;
        for (int k = 0; k < r->n; k++) {
            if (strcmp(r->q[k].broker_name, p->q.broker_name) == 0) {
                snprintf(p->addr, sizeof(p->addr), "%s", r->q[k].addr);
            }
        }
        pthread_mutex_lock(&pc->mu);
        p->next = pc->pqs;
        pc->pqs = p;
        changed = 1;
        pthread_mutex_unlock(&pc->mu);
    }
    if (changed) {
        log_assignment(pc, s);
    }
out:
    for (size_t i = 0; i < n_cid; i++) {
        free(cids[i]);
    }
    free(cids);
    free(mq);
    free(mine);
    fm_client_route_release(r);
}

/* ---- broker requests (I/O thread) ---- */

/* RESET_CONSUMER_CLIENT_OFFSET: {"offsetTable":{<MessageQueue object>:offset,...}}. */
static void
on_reset(ferrymq_push_consumer *pc, const fm_cmd *req)
{
    fm_buf fixed = {0};
    cJSON *root = NULL;
    const cJSON *table, *it;
    if (fm_client_fastjson_keys(req->body.ptr, req->body.len, &fixed) != FM_OK ||
        (root = cJSON_ParseWithLength((const char *)fixed.data, fixed.len)) == NULL) {
        fm_client_log(&pc->core.conf, 1, "reset request with a malformed body ignored");
        fm_buf_free(&fixed);
        return;
    }
    table = cJSON_GetObjectItemCaseSensitive(root, "offsetTable");
    pthread_mutex_lock(&pc->mu);
    cJSON_ArrayForEach(it, table)
    {
        cJSON *k = cJSON_Parse(it->string);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(k, "topic");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(k, "brokerName");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(k, "queueId");
        if (cJSON_IsString(t) && cJSON_IsString(b) && cJSON_IsNumber(q) && cJSON_IsNumber(it) &&
            it->valuedouble >= 0) {
            for (pq *p = pc->pqs; p != NULL; p = p->next) {
                if (!p->dropped && p->q.queue_id == q->valueint &&
                    strcmp(p->q.topic, t->valuestring) == 0 &&
                    strcmp(p->q.broker_name, b->valuestring) == 0) {
                    fm_client_log(&pc->core.conf, 2,
                                  "queue %s/%s/%d: reset %" PRId64 " -> %" PRId64, p->q.topic,
                                  p->q.broker_name, p->q.queue_id, p->pull_offset,
                                  (int64_t)it->valuedouble);
                    pq_reset(p, (int64_t)it->valuedouble);
                }
            }
        }
        cJSON_Delete(k);
    }
    svc_kick(pc);
    pthread_mutex_unlock(&pc->mu);
    cJSON_Delete(root);
    fm_buf_free(&fixed);
}

static void
on_request(void *ud, const fm_cmd *req)
{
    ferrymq_push_consumer *pc = ud;
    if (req->code == FM_REQ_NOTIFY_CONSUMER_IDS_CHANGED) {
        pthread_mutex_lock(&pc->mu);
        pc->rebalance_now = 1;
        svc_kick(pc);
        pthread_mutex_unlock(&pc->mu);
    } else if (req->code == FM_REQ_RESET_CONSUMER_CLIENT_OFFSET) {
        on_reset(pc, req);
    }
}

/* ---- threads ---- */

static void
rebalance_all(ferrymq_push_consumer *pc)
{
    for (int i = 0; i < pc->n_subs; i++) {
        rebalance_topic(pc, &pc->subs[i]);
    }
}

static void *
service_main(void *arg)
{
    ferrymq_push_consumer *pc = arg;
    const client_settings *st = &pc->core.conf.s;
    pthread_mutex_lock(&pc->mu);
    while (!pc->closing) {
        int64_t now = fm_clock_mono_ms(), wake;
        pc->kicked = 0;
        if (now >= pc->next_heartbeat) {
            pc->next_heartbeat = now + st->heartbeatBrokerInterval;
            pthread_mutex_unlock(&pc->mu);
            heartbeat_all(pc);
            pthread_mutex_lock(&pc->mu);
        }
        if (pc->rebalance_now || now >= pc->next_rebalance) {
            pc->rebalance_now = 0;
            pc->next_rebalance = now + st->rebalanceInterval;
            pthread_mutex_unlock(&pc->mu);
            rebalance_all(pc);
            pthread_mutex_lock(&pc->mu);
            /* orderly: lock what we were given, and try again for queues whose previous owner
             * still held the lock last time, at every rebalance rather than every 20 s */
            if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
                pc->next_lock = now + LOCK_RENEW_MS;
                lock_all(pc);
            }
        }
        if (now >= pc->next_commit) {
            pc->next_commit = now + st->persistConsumerOffsetInterval;
            commit_all(pc);
        }
        if (pc->mode == FERRYMQ_CONSUME_ORDERLY && now >= pc->next_lock) {
            pc->next_lock = now + LOCK_RENEW_MS;
            lock_all(pc);
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
                work_push(pc, t);
            } else {
                wake = t->due < wake ? t->due : wake;
                tp = &t->next;
            }
        }
        {
            int64_t w = issue_pulls(pc);
            wake = w < wake ? w : wake;
        }
        if (!pc->closing && !pc->rebalance_now && !pc->kicked && wake > fm_clock_mono_ms()) {
            now_wait(&pc->svc_cv, &pc->mu, wake);
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return NULL;
}

/* CONSUMER_SEND_MSG_BACK: the broker stores the message again in %RETRY%<group> (or %DLQ%). */
static int
send_back(ferrymq_push_consumer *pc, const char *addr, const ferrymq_msg *m, int delay_level)
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
    if (simple_call(pc, addr, FM_REQ_CONSUMER_SEND_MSG_BACK, ext,
                    st->maxReconsumeTimes >= 0 ? 7 : 6, fm_slice_make(NULL, 0), NULL,
                    &eb) != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "send back %s: %s", ferrymq_msg_offset_id(m), eb.msg);
        return -1;
    }
    return 0;
}

static void
task_free(task *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ferrymq_msg_free(t->msgs[i]);
    }
    free(t);
}

/* After the callback: mark the batch consumed (or schedule it again). Holds mu. */
static void
task_finish(ferrymq_push_consumer *pc, task *t, int consumed)
{
    pq *p = t->p;
    int current = t->gen == p->gen && !p->dropped;
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY && current && !consumed) {
        t->due = fm_clock_mono_ms() + pc->core.conf.s.suspendCurrentQueueTimeMillis;
        t->next = pc->later; /* the queue stays held (consuming) until it goes through */
        pc->later = t;
        svc_kick(pc);
        return;
    }
    if (!consumed && current) {
        t->due = fm_clock_mono_ms() + SEND_BACK_RETRY_MS;
        t->next = pc->later;
        pc->later = t;
        svc_kick(pc);
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
            unlock_queue(pc, p); /* our reference (the batch's) keeps p alive meanwhile */
        } else {
            dispatch(pc, p); /* also after a reset: what was pulled since waits for this */
        }
    }
    pq_release(pc, p);
    /* The batch and its messages were allocated on the I/O thread (decoding a pull): it frees
     * them at its next pull completion, so workers never contend for its malloc arena. */
    t->next = atomic_load(&pc->done_tasks);
    while (!atomic_compare_exchange_weak(&pc->done_tasks, &t->next, t)) {
    }
    svc_kick(pc); /* room for more: flow control may let a pull go */
}

/* Free the batches workers finished (see task_finish). Thread: the I/O thread, or close. */
static void
done_tasks_free(ferrymq_push_consumer *pc)
{
    task *t = atomic_exchange(&pc->done_tasks, NULL);
    while (t != NULL) {
        task *next = t->next;
        task_free(t);
        t = next;
    }
}

static void *
worker_main(void *arg)
{
    ferrymq_push_consumer *pc = arg;
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
            task_finish(pc, t, 1);
            continue;
        }
        snprintf(addr, sizeof(addr), "%s", t->p->addr);
        pthread_mutex_unlock(&pc->mu);
        status = pc->cb(pc->cb_opaque, t->msgs, t->n);
        consumed = status == FERRYMQ_CONSUME_SUCCESS;
        if (!consumed && pc->mode == FERRYMQ_CONSUME_CONCURRENTLY) {
            /* the broker keeps them for later; only what it refused is consumed here again */
            consumed = 1;
            for (size_t i = 0; i < t->n; i++) {
                if (send_back(pc, addr, t->msgs[i], 0) != 0) {
                    consumed = 0;
                }
            }
        } else if (!consumed && ++t->tries >= pc->core.conf.s.maxReconsumeTimes &&
                   pc->core.conf.s.maxReconsumeTimes > 0) {
            /* orderly: a batch that keeps failing would hold its queue for ever: dead-letter */
            consumed = 1;
            for (size_t i = 0; i < t->n; i++) {
                if (send_back(pc, addr, t->msgs[i], -1) != 0) {
                    consumed = 0;
                }
            }
        }
        pthread_mutex_lock(&pc->mu);
        task_finish(pc, t, consumed);
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
    fm_client_rpc_set_request_cb(pc->core.rpc, on_request, pc);
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
    qsort(qs, k, sizeof(*qs), cmp_queue);
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

int
ferrymq_push_consumer_close(ferrymq_push_consumer *pc)
{
    char addrs[32][128];
    size_t n_addrs;
    task *t;
    if (pc == NULL) {
        return FERRYMQ_OK;
    }
    if (in_callback_of == pc) {
        return FERRYMQ_EBUSY;
    }
    stop_threads(pc);
    /* batches never delivered: their offsets were not consumed, so they come again */
    pthread_mutex_lock(&pc->mu);
    while ((t = pc->work_head) != NULL || (t = pc->later) != NULL) {
        if (t == pc->work_head) {
            pc->work_head = t->next;
        } else {
            pc->later = t->next;
        }
        pq_release(pc, t->p);
        pthread_mutex_unlock(&pc->mu);
        task_free(t);
        pthread_mutex_lock(&pc->mu);
    }
    pc->work_tail = NULL;
    commit_all(pc);
    pthread_mutex_unlock(&pc->mu);
    n_addrs = broker_addrs(pc, addrs, 32);
    if (pc->mode == FERRYMQ_CONSUME_ORDERLY) {
        pthread_mutex_lock(&pc->mu);
        for (pq *p = pc->pqs; p != NULL; p = p->next) {
            if ((!p->dropped && p->locked) || p->unlock_after) {
                unlock_queue(pc, p);
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
        if (simple_call(pc, addrs[i], FM_REQ_UNREGISTER_CLIENT, ext, 2, fm_slice_make(NULL, 0),
                        NULL, &eb) != FM_OK) {
            fm_client_log(&pc->core.conf, 1, "unregister at %s: %s", addrs[i], eb.msg);
        }
    }
    /* Pulls still parked on brokers complete (FM_ECLOSED) while the transport stops, and
     * touch their queues: free the queues after it. */
    fm_client_core_destroy(&pc->core);
    done_tasks_free(pc);
    while (pc->pqs != NULL) {
        pq *p = pc->pqs;
        pc->pqs = p->next;
        held_free_untaken(p);
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
