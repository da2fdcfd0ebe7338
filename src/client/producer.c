/*
 * producer.c - ferrymq_producer: route lookup and caching, queue selection, SEND_MESSAGE_V2,
 * retries to other queues, backoff on SYSTEM_BUSY, body compression.
 */
#include "client/client_int.h"

#include "common/clock.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define BUSY_BACKOFF_MS 50

struct ferrymq_producer {
    client_core core;
    pthread_mutex_t mu;     /* the id generator and the in-flight window */
    pthread_mutex_t win_mu; /* only for waiting: the counts are atomic */
    pthread_cond_t slot_cv;
    atomic_llong in_flight;
    atomic_int waiters;
    fm_uniq_gen gen;
    atomic_uint next_queue;
    int half_sysflag; /* TRANSACTION_PREPARED for a transactional producer's sends, else 0 */
};

typedef struct async_ctx {
    fm_client_garbage g; /* first: freed back on a sending thread, see async_finish */
    ferrymq_producer *p;
    ferrymq_msg *msg;
    ferrymq_send_cb cb;
    void *opaque;
    client_route *route;
    route_queue q;
    int attempt;
    int attempts;
    unsigned start;
} async_ctx;

int
ferrymq_producer_new(const ferrymq_conf *conf, ferrymq_producer **out, char *errstr,
                     size_t errstr_size)
{
    ferrymq_producer *p;
    fm_errbuf eb;
    uint8_t ip[4];
    int rc;
    if (conf == NULL || out == NULL) {
        fm_client_errstr(errstr, errstr_size, "conf and out are required");
        return FERRYMQ_EINVAL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    rc = fm_client_core_init(&p->core, conf, &eb);
    if (rc != FM_OK) {
        free(p);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->win_mu, NULL);
    pthread_cond_init(&p->slot_cv, NULL);
    fm_client_local_ip(conf->s.clientIP, ip);
    /* The salt separates producers in one process, as Java's class-loader hash does. */
    fm_uniq_gen_init(&p->gen, ip, (uint16_t)getpid(),
                     (uint32_t)(uintptr_t)p ^ (uint32_t)time(NULL));
    *out = p;
    return FERRYMQ_OK;
}

void
fm_client_producer_set_half(ferrymq_producer *p)
{
    p->half_sysflag = FM_MSG_SYSFLAG_TX_PREPARED;
}

client_core *
fm_client_producer_core(ferrymq_producer *p)
{
    return &p->core;
}

int
ferrymq_producer_close(ferrymq_producer *p, int timeout_ms)
{
    struct timespec deadline;
    int rc = FERRYMQ_OK;
    if (p == NULL) {
        return FERRYMQ_OK;
    }
    /* Give outstanding asynchronous sends until the deadline; never wait past it. */
    fm_clock_wall_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&p->win_mu);
    atomic_fetch_add(&p->waiters, 1);
    while (atomic_load(&p->in_flight) > 0) {
        if (pthread_cond_timedwait(&p->slot_cv, &p->win_mu, &deadline) != 0) {
            rc = FERRYMQ_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub(&p->waiters, 1);
    pthread_mutex_unlock(&p->win_mu);
    /* What is still in flight completes with FERRYMQ_ECLOSED here. */
    fm_client_core_destroy(&p->core);
    pthread_cond_destroy(&p->slot_cv);
    pthread_mutex_destroy(&p->win_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return rc;
}

/* Bodies over the threshold go compressed, flagged in sysFlag, as RocketMQ clients do. */
static fm_slice
maybe_compress(ferrymq_producer *p, fm_slice body, fm_buf *z, int *sysflag)
{
    uLongf zlen;
    if ((int64_t)body.len <= p->core.conf.s.compressMsgBodyOverHowmuch) {
        return body;
    }
    zlen = compressBound((uLong)body.len);
    if (fm_buf_reserve(z, zlen) == FM_OK &&
        compress2(z->data, &zlen, body.ptr, (uLong)body.len, 5) == Z_OK && zlen < body.len) {
        z->len = zlen;
        *sysflag |= FM_MSG_SYSFLAG_COMPRESSED;
        return fm_buf_slice(z);
    }
    return body;
}

/* SEND_MESSAGE_V2 for one message, or SEND_BATCH_MESSAGE for n > 1 (same topic). */
static int
encode_send(ferrymq_producer *p, ferrymq_msg *const *msgs, size_t n, const route_queue *q,
            int32_t opaque, fm_buf *frame, fm_errbuf *eb)
{
    fm_buf props = {0}, zbody = {0}, batch = {0};
    char qid[24], born[24], sysflag[24];
    fm_slice body;
    int flag = 0, rc = FM_OK;

    if (n == 1) {
        rc = fm_client_msg_props_encode(msgs[0], &props);
        body = maybe_compress(p, fm_slice_make(msgs[0]->body, msgs[0]->body_len), &zbody, &flag);
    } else {
        /* batch bodies are never compressed (RocketMQ does not either) */
        for (size_t i = 0; i < n && rc == FM_OK; i++) {
            fm_buf mp = {0};
            rc = fm_client_msg_props_encode(msgs[i], &mp);
            if (rc == FM_OK) {
                rc = fm_msg_batch_append(&batch, 0, fm_slice_make(msgs[i]->body, msgs[i]->body_len),
                                         fm_buf_slice(&mp));
            }
            fm_buf_free(&mp);
        }
        body = fm_buf_slice(&batch);
    }
    if (rc != FM_OK) {
        fm_buf_free(&props);
        fm_buf_free(&batch);
        fm_buf_free(&zbody);
        return fm_err_set(eb, rc, "cannot encode the message properties");
    }
    /* fm_i64_to_str, not snprintf: snprintf was half of a paced sender's time */
    fm_i64_to_str(q->qid, qid);
    fm_i64_to_str(fm_clock_wall_ms(), born);
    fm_i64_to_str(flag | p->half_sysflag, sysflag);
    {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("a"), fm_slice_cstr(p->core.conf.s.producerGroup)},
            {FM_SLICE_LIT("b"), fm_slice_cstr(msgs[0]->topic)},
            {FM_SLICE_LIT("c"), FM_SLICE_LIT("TBW102")},
            {FM_SLICE_LIT("d"), FM_SLICE_LIT("4")},
            {FM_SLICE_LIT("e"), fm_slice_cstr(qid)},
            {FM_SLICE_LIT("f"), fm_slice_cstr(sysflag)},
            {FM_SLICE_LIT("g"), fm_slice_cstr(born)},
            {FM_SLICE_LIT("h"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("i"), fm_buf_slice(&props)},
            {FM_SLICE_LIT("j"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("k"), FM_SLICE_LIT("false")},
            {FM_SLICE_LIT("m"), n > 1 ? FM_SLICE_LIT("true") : FM_SLICE_LIT("false")},
        };
        rc = fm_client_request_encode(frame,
                                      n > 1 ? FM_REQ_SEND_BATCH_MESSAGE : FM_REQ_SEND_MESSAGE_V2, 0,
                                      opaque, ext, sizeof(ext) / sizeof(ext[0]), body, eb);
    }
    fm_buf_free(&props);
    fm_buf_free(&zbody);
    fm_buf_free(&batch);
    return rc;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* UNIQ_KEY for messages that have none, and the size limit. */
static int
prepare(ferrymq_producer *p, ferrymq_msg *const *msgs, size_t n, fm_errbuf *eb)
{
    for (size_t i = 0; i < n; i++) {
        if (msgs[i] == NULL || strcmp(msgs[i]->topic, msgs[0]->topic) != 0) {
            return fm_err_set(eb, FM_EINVAL, "a batch needs messages of one topic");
        }
        if (msgs[i]->body_len == 0) {
            /* as RocketMQ's Validators.checkMessage (MESSAGE_ILLEGAL) */
            return fm_err_set(eb, FM_EINVAL, "MESSAGE_ILLEGAL: the message body length is zero");
        }
        if ((int64_t)msgs[i]->body_len > p->core.conf.s.maxMessageSize) {
            return fm_err_set(eb, FM_EINVAL, "body of %zu bytes exceeds maxMessageSize",
                              msgs[i]->body_len);
        }
        if (ferrymq_msg_property(msgs[i], FM_PROP_UNIQ_KEY) == NULL) {
            char id[33];
            pthread_mutex_lock(&p->mu);
            fm_uniq_next(&p->gen, fm_clock_wall_ms(), id);
            pthread_mutex_unlock(&p->mu);
            if (ferrymq_msg_set_property(msgs[i], FM_PROP_UNIQ_KEY, id) != FERRYMQ_OK) {
                return fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
        }
    }
    return FM_OK;
}

/* The topic's route (shared: the caller releases it), with at least one writable queue. */
static int
writable_route(ferrymq_producer *p, const char *topic, int refresh, client_route **route,
               fm_errbuf *eb)
{
    int rc = fm_client_core_route(&p->core, topic, refresh, 1, route, eb);
    if (rc != FM_OK) {
        return rc;
    }
    if ((*route)->n_writable == 0) {
        fm_client_route_release(*route);
        *route = NULL;
        return fm_err_set(eb, FM_ENOTFOUND, "topic %s has no writable queue", topic);
    }
    return FM_OK;
}

/* The queue for attempt `a` of a send that started at `start`: round-robin over the writable
 * queues, and on a retry the first one on another broker than the last attempt's. */
static route_queue
pick_queue(const client_route *route, unsigned start, int a, const char *last_broker)
{
    unsigned nw = (unsigned)route->n_writable;
    route_queue q = route->q[(start + (unsigned)a) % nw];
    for (unsigned k = 0; a > 0 && k < nw; k++) {
        const route_queue *c = &route->q[(start + (unsigned)a + k) % nw];
        if (strcmp(c->broker_name, last_broker) != 0) {
            q = *c;
            break;
        }
    }
    return q;
}

static void
fill_result(const fm_cmd *resp, const route_queue *q, ferrymq_msg *const *msgs,
            ferrymq_send_result *res)
{
    int64_t off = -1;
    fm_slice mid = fm_cmd_ext_get(resp, "msgId");
    const char *comma;
    memset((char *)res + sizeof(res->struct_size), 0, sizeof(*res) - sizeof(res->struct_size));
    snprintf(res->msg_id, sizeof(res->msg_id), "%s",
             ferrymq_msg_property(msgs[0], FM_PROP_UNIQ_KEY));
    /* a batch reply lists every offset id; the result names the first */
    comma = mid.ptr ? memchr(mid.ptr, ',', mid.len) : NULL;
    if (comma != NULL) {
        mid.len = (size_t)((const uint8_t *)comma - mid.ptr);
    }
    fm_slice_to_cstr(mid, res->offset_msg_id, sizeof(res->offset_msg_id));
    snprintf(res->broker_name, sizeof(res->broker_name), "%s", q->broker_name);
    res->queue_id = q->qid;
    fm_cmd_ext_i64(resp, "queueOffset", &off);
    res->queue_offset = off;
}

/* The send loop shared by send, send_orderly and send_batch: pick a queue (by sharding key,
 * else round-robin preferring another broker on a retry), send, retry on failure. An ordered
 * send never moves to another queue: that would reorder its key. */
static int
send_sync(ferrymq_producer *p, ferrymq_msg *const *msgs, size_t n, const char *shard_key,
          ferrymq_send_result *res, fm_errbuf *eb)
{
    client_route *route = NULL;
    char last_broker[128] = "";
    int attempts, rc;
    unsigned start;

    if ((rc = prepare(p, msgs, n, eb)) != FM_OK) {
        return rc;
    }
    attempts = 1 + (int)p->core.conf.s.retryTimesWhenSendFailed;
    start = atomic_fetch_add(&p->next_queue, 1);
    rc = FM_EIO;
    for (int a = 0; a < attempts; a++) {
        fm_buf frame = {0}, resp_frame = {0};
        fm_cmd_arena arena;
        fm_cmd resp;
        route_queue q;
        int32_t opaque;
        fm_client_route_release(route);
        route = NULL;
        rc = writable_route(p, msgs[0]->topic, a > 0 && rc == FM_EIO, &route, eb);
        if (rc != FM_OK) {
            break;
        }
        if (shard_key != NULL) {
            /* Java's SelectMessageQueueByHash: |hashCode| mod the queue count */
            int32_t h = fm_proto_java_hash(fm_slice_cstr(shard_key));
            q = route->q[(unsigned)(h < 0 ? -(int64_t)h : h) % (unsigned)route->n_writable];
        } else {
            q = pick_queue(route, start, a, last_broker);
        }
        snprintf(last_broker, sizeof(last_broker), "%s", q.broker_name);
        opaque = fm_client_rpc_next_opaque(p->core.rpc);
        fm_proto_arena_init(&arena);
        rc = encode_send(p, msgs, n, &q, opaque, &frame, eb);
        if (rc == FM_OK) {
            rc = fm_client_rpc_call_sync(p->core.rpc, q.addr, &frame, opaque,
                                         (int)p->core.conf.s.sendMsgTimeout, &resp_frame, &arena,
                                         &resp, eb);
        }
        if (rc == FM_OK) {
            if (resp.code == FM_RESP_SUCCESS) {
                fill_result(&resp, &q, msgs, res);
            } else {
                char remark[256];
                fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
                rc = fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", q.addr,
                                resp.code, remark);
                if (resp.code == FM_RESP_SYSTEM_BUSY) {
                    /* the broker sheds load: back off, then try again */
                    sleep_ms(BUSY_BACKOFF_MS * (a + 1));
                } else if (resp.code == FM_RESP_MESSAGE_ILLEGAL ||
                           resp.code == FM_RESP_NO_PERMISSION ||
                           resp.code == FM_RESP_TOPIC_NOT_EXIST) {
                    a = attempts; /* the same message would fail anywhere */
                }
            }
        }
        fm_buf_free(&frame);
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
        if (rc == FM_OK) {
            break;
        }
        fm_client_log(&p->core.conf, 1, "send attempt %d to %s failed: %s", a + 1, q.addr, eb->msg);
    }
    fm_client_route_release(route);
    return rc;
}

static int
check_res(ferrymq_producer *p, const void *x, ferrymq_send_result *res, char *errstr,
          size_t errstr_size)
{
    if (p == NULL || x == NULL || res == NULL || res->struct_size < sizeof(*res)) {
        fm_client_errstr(errstr, errstr_size, "producer, message and a sized result are required");
        return FERRYMQ_EINVAL;
    }
    return FERRYMQ_OK;
}

int
ferrymq_producer_send(ferrymq_producer *p, ferrymq_msg *msg, ferrymq_send_result *res, char *errstr,
                      size_t errstr_size)
{
    fm_errbuf eb;
    int rc = check_res(p, msg, res, errstr, errstr_size);
    if (rc == FERRYMQ_OK && (rc = send_sync(p, &msg, 1, NULL, res, &eb)) != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
ferrymq_producer_send_orderly(ferrymq_producer *p, ferrymq_msg *msg, const char *sharding_key,
                              ferrymq_send_result *res, char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc = check_res(p, msg, res, errstr, errstr_size);
    if (rc == FERRYMQ_OK && sharding_key == NULL) {
        fm_client_errstr(errstr, errstr_size, "a sharding key is required");
        return FERRYMQ_EINVAL;
    }
    if (rc == FERRYMQ_OK && (rc = send_sync(p, &msg, 1, sharding_key, res, &eb)) != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
ferrymq_producer_send_batch(ferrymq_producer *p, ferrymq_msg *const *msgs, size_t n,
                            ferrymq_send_result *res, char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc = check_res(p, msgs, res, errstr, errstr_size);
    if (rc == FERRYMQ_OK && (n == 0 || n > 1024)) {
        fm_client_errstr(errstr, errstr_size, "a batch holds 1 to 1024 messages");
        return FERRYMQ_EINVAL;
    }
    if (rc == FERRYMQ_OK && (rc = send_sync(p, msgs, n, NULL, res, &eb)) != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

static void async_done(void *ud, int err, const fm_cmd *resp, fm_slice raw);

/* Pick the attempt's queue and hand the encoded request to the I/O thread. */
static int
async_attempt(async_ctx *ctx, fm_errbuf *eb)
{
    fm_buf frame = {0};
    int32_t opaque = fm_client_rpc_next_opaque(ctx->p->core.rpc);
    route_queue q = pick_queue(ctx->route, ctx->start, ctx->attempt, ctx->q.broker_name);
    int rc;
    ctx->q = q;
    rc = encode_send(ctx->p, &ctx->msg, 1, &q, opaque, &frame, eb);
    if (rc == FM_OK) {
        rc = fm_client_rpc_call(ctx->p->core.rpc, q.addr, &frame, opaque,
                                (int)ctx->p->core.conf.s.sendMsgTimeout, 0, async_done, ctx);
        if (rc != FM_OK) {
            fm_err_set(eb, rc, "cannot queue the send");
        }
    }
    fm_buf_free(&frame);
    return rc;
}

/* Give a window slot back. The count is atomic so the common case takes no lock; a waiter
 * registers before it re-checks the count under win_mu, and we check for waiters after the
 * decrement (both sequentially consistent), so one of us always sees the other. */
static void
slot_release(ferrymq_producer *p)
{
    atomic_fetch_sub(&p->in_flight, 1);
    if (atomic_load(&p->waiters) > 0) {
        pthread_mutex_lock(&p->win_mu);
        pthread_cond_broadcast(&p->slot_cv);
        pthread_mutex_unlock(&p->win_mu);
    }
}

static void
slot_acquire(ferrymq_producer *p)
{
    if (atomic_fetch_add(&p->in_flight, 1) < p->core.conf.s.maxInFlight) {
        return;
    }
    atomic_fetch_sub(&p->in_flight, 1);
    pthread_mutex_lock(&p->win_mu);
    atomic_fetch_add(&p->waiters, 1);
    for (;;) {
        if (atomic_fetch_add(&p->in_flight, 1) < p->core.conf.s.maxInFlight) {
            break;
        }
        atomic_fetch_sub(&p->in_flight, 1);
        pthread_cond_wait(&p->slot_cv, &p->win_mu);
    }
    atomic_fetch_sub(&p->waiters, 1);
    pthread_mutex_unlock(&p->win_mu);
}

static void
async_free(fm_client_garbage *g)
{
    async_ctx *ctx = (async_ctx *)g;
    ferrymq_msg_free(ctx->msg);
    fm_client_route_release(ctx->route);
    free(ctx);
}

/* The message and the context were allocated on the sender's thread: they go back there to
 * be freed (at its next send, or at close) instead of contending for its malloc arena from
 * the I/O thread. */
static void
async_finish(async_ctx *ctx, int err, const ferrymq_send_result *res, const char *why)
{
    ferrymq_producer *p = ctx->p;
    ctx->cb(ctx->opaque, err, res, why);
    fm_client_rpc_defer_free(p->core.rpc, &ctx->g);
    slot_release(p);
}

static void
async_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    async_ctx *ctx = ud;
    fm_errbuf eb;
    int retry;
    (void)raw;
    if (err == FM_OK && resp->code == FM_RESP_SUCCESS) {
        ferrymq_send_result res;
        res.struct_size = sizeof(res);
        fill_result(resp, &ctx->q, &ctx->msg, &res);
        async_finish(ctx, FERRYMQ_OK, &res, NULL);
        return;
    }
    if (err == FM_OK) {
        char remark[256];
        fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
        err = fm_err_set(&eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", ctx->q.addr,
                         resp->code, remark);
        retry = resp->code != FM_RESP_MESSAGE_ILLEGAL && resp->code != FM_RESP_NO_PERMISSION &&
                resp->code != FM_RESP_TOPIC_NOT_EXIST;
    } else {
        fm_err_set(&eb, err, "send to %s failed: %s", ctx->q.addr, fm_strerror(err));
        retry = err != FM_ECLOSED || ctx->attempt == 0;
    }
    /* Retry on another queue at once: this thread must not sleep or wait on the network. */
    if (retry && ++ctx->attempt < ctx->attempts && async_attempt(ctx, &eb) == FM_OK) {
        return;
    }
    async_finish(ctx, err, NULL, eb.msg);
}

int
ferrymq_producer_send_async(ferrymq_producer *p, ferrymq_msg *msg, ferrymq_send_cb cb, void *opaque,
                            char *errstr, size_t errstr_size)
{
    async_ctx *ctx;
    fm_errbuf eb;
    int rc;
    if (p == NULL || msg == NULL || cb == NULL) {
        fm_client_errstr(errstr, errstr_size, "producer, message and callback are required");
        return FERRYMQ_EINVAL;
    }
    if ((rc = prepare(p, &msg, 1, &eb)) != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return FERRYMQ_ENOMEM;
    }
    /* the route lookup blocks only on a cold cache, in the caller's thread */
    rc = writable_route(p, msg->topic, 0, &ctx->route, &eb);
    if (rc != FM_OK) {
        free(ctx);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    ctx->g.free_fn = async_free;
    ctx->p = p;
    ctx->msg = msg;
    ctx->cb = cb;
    ctx->opaque = opaque;
    ctx->attempts = 1 + (int)p->core.conf.s.retryTimesWhenSendFailed;
    ctx->start = atomic_fetch_add(&p->next_queue, 1);
    slot_acquire(p);
    rc = async_attempt(ctx, &eb);
    if (rc != FM_OK) {
        fm_client_route_release(ctx->route);
        free(ctx);
        slot_release(p);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    return FERRYMQ_OK;
}
