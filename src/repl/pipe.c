/*
 * pipe.c - one source queue copied to one target queue, in order, exactly once.
 *
 * The pipe pulls the source queue (long polling, large batches), drops what must not cross
 * (loop prevention, forward=local, the task's filter), rewrites the origin properties and
 * sends each message to the target queue with up to REPL_WINDOW sends in flight. A source
 * offset counts as done only once the target acknowledged it, in order: the ring's head
 * advances over acknowledged slots only, so done_src is always a prefix. Who does the work:
 * the pump (below) on the task's I/O thread in the steady state, the pipe's thread otherwise.
 *
 * Any failure stops the pipe: it waits for the sends in flight, then resumes from the
 * target's own record (resume()): the task's messages on the target queue from the last
 * checkpoint on, each naming its source offset in FERRY_SRC_OFFSET. Pulling again from the
 * first of them and skipping every source offset already there gives neither loss nor
 * duplicates, even when a failed send left a gap behind later ones that succeeded.
 */
#include "repl/repl_int.h"

#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PULL_BATCH 512
#define PULL_SUSPEND_MS 1000
#define SEND_TIMEOUT_MS 3000

/* Properties a stock broker acts on when it stores a message: carried over they would delay,
 * redirect or half-commit the copy, or they describe the source broker's own bookkeeping. */
static const fm_slice STRIP[] = {
    FM_SLICE_LIT(FM_PROP_DELAY),
    FM_SLICE_LIT(FM_PROP_REAL_TOPIC),
    FM_SLICE_LIT(FM_PROP_REAL_QUEUE_ID),
    FM_SLICE_LIT(FM_PROP_TRANSACTION_PREPARED),
    FM_SLICE_LIT(FM_PROP_PRODUCER_GROUP),
    FM_SLICE_LIT(FM_PROP_MIN_OFFSET),
    FM_SLICE_LIT(FM_PROP_MAX_OFFSET),
    FM_SLICE_LIT(FM_PROP_CONSUME_START_TIMESTAMP),
    FM_SLICE_LIT("TRAN_PREPARED_QUEUE_OFFSET"),
    FM_SLICE_LIT("TIMER_DELIVER_MS"),
    FM_SLICE_LIT("TIMER_DELAY_SEC"),
    FM_SLICE_LIT("TIMER_DELAY_MS"),
    /* WAIT=false would let a SYNC_FLUSH target answer before the copy is durable */
    FM_SLICE_LIT(FM_PROP_WAIT),
    FM_SLICE_LIT("INNER_MULTI_DISPATCH"),
    FM_SLICE_LIT("INNER_MULTI_QUEUE_OFFSET"),
    /* the source broker's cluster, which every RocketMQ broker stamps: the target stamps its
     * own (FERRY_SRC_CLUSTER keeps the source's) */
    FM_SLICE_LIT(FM_PROP_CLUSTER),
};

/* Our properties rewritten at every hop (one hop back); the others are kept once set. */
enum {
    P_REGION,
    P_PATH,
    P_CLUSTER,
    P_BROKER,
    P_TOPIC,
    P_QID,
    P_OFFSET,
    P_STORE_TS,
    P_BORN_HOST,
    P_N
};
static const char *const PSUFFIX[P_N] = {"SRC_REGION", "PATH",         "SRC_CLUSTER",
                                         "SRC_BROKER", "SRC_TOPIC",    "SRC_QID",
                                         "SRC_OFFSET", "SRC_STORE_TS", "SRC_BORN_HOST"};

typedef struct skip_ent {
    int64_t src_off;
    int64_t tgt_off;
} skip_ent;

typedef struct pipe_local {
    fm_buf props;
    fm_buf fixed;      /* the copies' FERRY_SRC_CLUSTER/BROKER/TOPIC/QID pairs, built once */
    size_t prefix_len; /* strlen(spec.prefix) */
    fm_buf batch;      /* encoded items of the batch being built */
    fm_buf frame;      /* a send's prefix and header, reused: the batch goes out after it */
    uint32_t batch_n;  /* its messages; their slots start at ring index batch_first */
    uint32_t batch_first;
    int64_t batch_born; /* what they share: born timestamp, sysFlag */
    int32_t batch_sysflag;
    int batch_ok; /* 0: the first one goes alone */
    fm_buf path;
    uint8_t host_raw[20];
    size_t host_raw_len;
    char host[80];
    char pname[P_N][FM_REPL_PREFIX_MAX + 16];
    size_t pname_len[P_N];
    fm_slice src_path;  /* build_props: the source's first FERRY_PATH (ptr NULL: none) */
    int src_has_region; /* build_props: the source carries FERRY_SRC_REGION */
    skip_ent *skip;
    size_t n_skip, i_skip, cap_skip;
} pipe_local;

/* The property names the task's prefix gives. */
static void
pnames_init(pipe_local *l, const char *prefix)
{
    for (int k = 0; k < P_N; k++) {
        snprintf(l->pname[k], sizeof(l->pname[k]), "%s%s", prefix, PSUFFIX[k]);
        l->pname_len[k] = strlen(l->pname[k]);
    }
    l->prefix_len = strlen(prefix);
}

void
fm_repl_pipe_error(repl_pipe *p, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->mu);
    snprintf(p->error, sizeof(p->error), "%s", msg);
    p->error_ms = fm_clock_wall_ms();
    pthread_mutex_unlock(&p->mu);
    FM_LOGW("repl", "FM-REPL-QUEUE-ERROR", "task=%s topic=%s broker=%s qid=%d err=\"%s\"",
            p->t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, msg);
}

static void
set_state(repl_pipe *p, const char *st)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->state, sizeof(p->state), "%s", st);
    pthread_mutex_unlock(&p->mu);
}

static int
name_is(fm_slice name, const char *s)
{
    size_t n = strlen(s);
    return name.len == n && memcmp(name.ptr, s, n) == 0;
}

static int
slice_eq(fm_slice v, const char *s)
{
    return v.ptr != NULL && name_is(v, s);
}

/* 1 when region is an element of the comma-separated path. */
static int
path_has(fm_slice path, const char *region)
{
    size_t n = strlen(region), i = 0;
    while (path.ptr != NULL && i <= path.len) {
        size_t j = i;
        while (j < path.len && path.ptr[j] != ',') {
            j++;
        }
        if (j - i == n && memcmp(path.ptr + i, region, n) == 0) {
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* Parse a decimal property value. */
static int
slice_i64(fm_slice v, int64_t *out)
{
    char buf[32];
    char *end;
    if (v.ptr == NULL || v.len == 0 || v.len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    *out = strtoll(buf, &end, 10);
    return *end == '\0';
}

/* The source offset of a message on the target when this task copied it from this pipe's
 * source queue: its path ends with "<src region>,<dst region>" and its one-hop-back position
 * names our queue. */
static int
ours(const repl_pipe *p, const pipe_local *l, fm_slice props, int64_t *src_off)
{
    const repl_task *t = p->t;
    char qid[16], tail[2 * FM_REPL_NAME_MAX + 4];
    fm_slice path = fm_props_get(props, l->pname[P_PATH]);
    size_t n;
    snprintf(qid, sizeof(qid), "%d", p->sq.q.queue_id);
    n = (size_t)snprintf(tail, sizeof(tail), "%s,%s", t->spec.src_region, t->spec.dst_region);
    if (path.ptr == NULL || path.len < n || memcmp(path.ptr + path.len - n, tail, n) != 0 ||
        (path.len > n && path.ptr[path.len - n - 1] != ',')) {
        return 0;
    }
    return slice_eq(fm_props_get(props, l->pname[P_TOPIC]), p->sq.q.topic) &&
           slice_eq(fm_props_get(props, l->pname[P_QID]), qid) &&
           slice_eq(fm_props_get(props, l->pname[P_BROKER]), p->sq.q.broker_name) &&
           slice_eq(fm_props_get(props, l->pname[P_CLUSTER]), p->src_cluster) &&
           slice_i64(fm_props_get(props, l->pname[P_OFFSET]), src_off);
}

static int
cmp_skip(const void *x, const void *y)
{
    const skip_ent *a = x, *b = y;
    return (a->src_off > b->src_off) - (a->src_off < b->src_off);
}

static int
skip_add(pipe_local *l, int64_t src, int64_t tgt)
{
    if (fm_array_reserve(&l->skip, &l->cap_skip, l->n_skip + 1, sizeof(*l->skip), 256) != FM_OK) {
        return FM_ENOMEM;
    }
    l->skip[l->n_skip].src_off = src;
    l->skip[l->n_skip].tgt_off = tgt;
    l->n_skip++;
    return FM_OK;
}

/* The key of a source queue's start marker in the target's offset map. */
static void
marker_key(const repl_pipe *p, char *key, size_t cap)
{
    snprintf(key, cap, "%s@%s@%s@%d@start", p->t->spec.name, p->sq.q.topic, p->sq.q.broker_name,
             p->sq.q.queue_id);
}

/* The start an earlier run chose for this queue (the smallest, should two runs have written
 * one). FM_OK, FM_ENOTFOUND, or the query's error. */
static int
marker_get(repl_pipe *p, int64_t *start, fm_errbuf *eb)
{
    repl_task *t = p->t;
    ferrymq_msg **msgs = NULL;
    size_t n = 0;
    char key[512], err[256];
    int rc, found = 0;
    marker_key(p, key, sizeof(key));
    pthread_mutex_lock(&t->admin_mu);
    rc = ferrymq_admin_query_message(t->dst_admin, REPL_MAP_TOPIC, key, 64, 0,
                                     fm_clock_wall_ms() + 86400000, &msgs, &n, err, sizeof(err));
    pthread_mutex_unlock(&t->admin_mu);
    if (rc == FERRYMQ_ENOTFOUND) {
        return FM_ENOTFOUND;
    }
    if (rc != FERRYMQ_OK) {
        return fm_err_set(eb, rc, "start marker: %s", err);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const void *body = ferrymq_msg_body(msgs[i], &len);
        cJSON *o = cJSON_ParseWithLength(body, len);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "start");
        if (cJSON_IsNumber(s) && s->valuedouble >= 0 && (!found || s->valuedouble < *start)) {
            *start = (int64_t)s->valuedouble;
            found = 1;
        }
        cJSON_Delete(o);
    }
    ferrymq_msgs_free(msgs, n);
    return found ? FM_OK : FM_ENOTFOUND;
}

/* Record the start chosen for this queue in the target's offset map. */
static int
marker_put(repl_pipe *p, int64_t start, fm_errbuf *eb)
{
    repl_task *t = p->t;
    char key[512], body[1024];
    fm_buf props = {0};
    int rc;
    marker_key(p, key, sizeof(key));
    snprintf(body, sizeof(body),
             "{\"task\":\"%s\",\"srcTopic\":\"%s\",\"srcBroker\":\"%s\",\"srcQueueId\":%d,"
             "\"start\":%" PRId64 "}",
             t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, start);
    rc = fm_props_append(&props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(key));
    if (rc == FM_OK) {
        rc = fm_repl_side_send(&t->dst, p->tq.addr, t->src_group, REPL_MAP_TOPIC, 0,
                               fm_buf_slice(&props), fm_slice_cstr(body), eb);
    }
    fm_buf_free(&props);
    return rc;
}

/* Where to go on: scan the target queue from the checkpoint for this queue's copies. */
static int
resume(repl_pipe *p, pipe_local *l, int64_t *next, fm_errbuf *eb)
{
    repl_task *t = p->t;
    repl_queue *tqs = NULL;
    size_t n_tq = 0;
    int64_t ckpt = -1, tmin = 0, tmax = 0, off;
    repl_pull pr;
    int rc;

    rc = fm_repl_side_queues(&t->dst, p->sq.q.topic, 0, &tqs, &n_tq, eb);
    if (rc == FM_OK && n_tq == 0) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "target topic %s has no writable queue", p->sq.q.topic);
    }
    if (rc != FM_OK) {
        free(tqs);
        return rc;
    }
    pthread_mutex_lock(&p->mu);
    if (strcmp(p->tq.q.broker_name, tqs[(size_t)p->src_index % n_tq].q.broker_name) != 0 ||
        p->tq.q.queue_id != tqs[(size_t)p->src_index % n_tq].q.queue_id) {
        /* another target queue: the old checkpoint and copy history name offsets of the
         * old one, and so do the sync's floors */
        p->ckpt_tgt = p->ckpt_written_tgt = -1;
        fm_repl_xmap_reset(p->xmap);
        for (size_t i = 0; i < p->n_sync; i++) {
            p->sync[i].scan_c = p->sync[i].prev_c = -1;
        }
    }
    p->tq = tqs[(size_t)p->src_index % n_tq];
    p->ckpt_ok = p->n_src_queues <= (int)n_tq;
    pthread_mutex_unlock(&p->mu);
    free(tqs);

    if (p->ckpt_ok) {
        rc = fm_repl_side_committed(&t->dst, &p->tq, t->dst_group, &ckpt, eb);
        if (rc == FM_ENOTFOUND) {
            ckpt = -1;
            rc = FM_OK;
        }
    }
    if (rc == FM_OK) {
        rc = fm_repl_side_min_max(&t->dst, &p->tq, &tmin, &tmax, eb);
    }
    if (rc != FM_OK) {
        return rc;
    }
    l->n_skip = l->i_skip = 0;
    off = ckpt >= tmin && ckpt < tmax ? ckpt : tmin;
    fm_repl_pull_init(&pr);
    while (rc == FM_OK && off < tmax) {
        rc = fm_repl_side_pull(&t->dst, &p->tq, t->dst_group, off, PULL_BATCH, 0, "*", "TAG", &pr,
                               eb);
        if (rc != FM_OK) {
            break;
        }
        if (pr.code == FM_RESP_SUCCESS) {
            const uint8_t *b = pr.body.ptr;
            size_t left = pr.body.len;
            while (left > 0 && rc == FM_OK) {
                fm_msg_view m;
                int64_t src;
                if (fm_msg_decode(b, left, &m, eb) != FM_OK) {
                    rc = fm_err_set(eb, FM_EPROTO, "target sent a malformed record");
                    break;
                }
                if (ours(p, l, m.properties, &src)) {
                    rc = skip_add(l, src, m.queue_offset);
                }
                off = m.queue_offset + 1;
                b += m.total_size;
                left -= m.total_size;
            }
        }
        if (pr.next > off) {
            off = pr.next;
        } else if (pr.code != FM_RESP_SUCCESS) {
            break; /* nothing more to read now */
        }
    }
    fm_repl_pull_free(&pr);
    if (rc != FM_OK) {
        return rc;
    }
    if (l->n_skip > 0) {
        /* The history learns the copies found in the order they landed, before the pipe
         * passes over them again in source order (which differs where a gap was filled). */
        int64_t lo = l->skip[0].src_off;
        for (size_t i = 1; i < l->n_skip; i++) {
            lo = l->skip[i].src_off < lo ? l->skip[i].src_off : lo;
        }
        pthread_mutex_lock(&p->mu);
        fm_repl_xmap_begin(p->xmap, lo, tmax);
        for (size_t i = 0; i < l->n_skip; i++) {
            fm_repl_xmap_add(p->xmap, l->skip[i].src_off, l->skip[i].tgt_off);
        }
        pthread_mutex_unlock(&p->mu);
        qsort(l->skip, l->n_skip, sizeof(*l->skip), cmp_skip);
        *next = l->skip[0].src_off;
        FM_LOGI("repl", "FM-REPL-RESUME",
                "task=%s topic=%s broker=%s qid=%d from=%" PRId64 " found=%zu ckpt=%" PRId64
                " scanned=%" PRId64,
                t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, *next,
                l->n_skip, ckpt, off - (ckpt >= tmin && ckpt < tmax ? ckpt : tmin));
        return FM_OK;
    }
    /* Nothing of ours on the target: the source group's offset, or the start this task chose
     * for the queue at an earlier run (its marker in the offset map), else the task's start
     * position. An offset of 0 says nothing on its own: RocketMQ brokers answer 0 for a group
     * without one while the queue's first message is in memory. */
    rc = fm_repl_side_committed(&t->src, &p->sq, t->src_group, next, eb);
    if ((rc == FM_OK && *next == 0) || rc == FM_ENOTFOUND) {
        rc = marker_get(p, next, eb);
    }
    if (rc == FM_ENOTFOUND) {
        int64_t smin = 0, smax = 0;
        rc = fm_repl_side_min_max(&t->src, &p->sq, &smin, &smax, eb);
        if (rc == FM_OK) {
            if (t->spec.from == FM_REPL_FROM_EARLIEST) {
                *next = smin;
            } else if (t->spec.from == FM_REPL_FROM_LATEST) {
                *next = smax;
            } else {
                rc = fm_repl_side_search_ts(&t->src, &p->sq, t->spec.from_ms, next, eb);
            }
        }
        if (rc == FM_OK) {
            rc = marker_put(p, *next, eb);
        }
        if (rc == FM_OK) {
            rc = fm_repl_side_commit(&t->src, &p->sq, t->src_group, *next, eb);
        }
    }
    if (rc == FM_OK) {
        pthread_mutex_lock(&p->mu);
        fm_repl_xmap_begin(p->xmap, *next, tmax);
        pthread_mutex_unlock(&p->mu);
        FM_LOGI("repl", "FM-REPL-RESUME",
                "task=%s topic=%s broker=%s qid=%d from=%" PRId64 " found=0 ckpt=%" PRId64,
                t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, *next, ckpt);
    }
    return rc;
}

/* Record where a copy landed. Called with mu held. */
static void
map_add(repl_pipe *p, int64_t src, int64_t tgt)
{
    repl_range *r = p->n_map > 0 ? &p->map[p->n_map - 1] : NULL;
    if (src <= p->map_hi_src || (r != NULL && tgt <= r->tgt_last)) {
        return; /* known already (a resume passes over copies again) */
    }
    p->map_hi_src = src;
    if (r != NULL &&
        ((src == r->src_last + 1 && tgt == r->tgt_last + 1) || p->n_map == REPL_MAP_RANGES)) {
        r->src_last = src;
        r->tgt_last = tgt;
        r->count++;
        return;
    }
    r = &p->map[p->n_map++];
    r->src_first = r->src_last = src;
    r->tgt_first = r->tgt_last = tgt;
    r->count = 1;
}

/* Advance the head over finished slots. Called with mu held. */
static void
advance(repl_pipe *p)
{
    while (p->head != p->tail) {
        repl_slot *s = &p->ring[p->head % REPL_WINDOW];
        if (s->state != SLOT_COPIED && s->state != SLOT_NOT_SENT) {
            break;
        }
        if (s->state == SLOT_COPIED) {
            p->ckpt_tgt = s->tgt_off;
            map_add(p, s->src_off, s->tgt_off);
            fm_repl_xmap_add(p->xmap, s->src_off, s->tgt_off);
        }
        p->done_src = s->src_off + 1;
        s->state = SLOT_FREE;
        p->head++;
    }
    if (p->head == p->tail && p->gap_next > p->done_src) {
        p->done_src = p->gap_next;
    }
    p->head_store_ts = p->head != p->tail ? p->ring[p->head % REPL_WINDOW].store_ts : 0;
}

/* Wake the pipe thread only when it waits and has something to do: a window half free, no
 * send in flight any more, or a failure. A wake per acknowledgement cost a context switch
 * and a lock hand-over each (bench/RESULTS.md). Called with mu held. */
static void
maybe_wake(repl_pipe *p)
{
    if (p->waiters > 0 && (p->broken || p->inflight == 0 || p->tail - p->head <= REPL_WINDOW / 2)) {
        pthread_cond_broadcast(&p->cv);
    }
}

static void pump_pull(repl_pipe *p);

/* Completion of a SEND_MESSAGE_V2 or SEND_BATCH_MESSAGE: ud is the first slot of the n
 * (s->batch_n) it carried, which take consecutive target offsets from queueOffset on. */
static void
send_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    repl_slot *s = ud;
    repl_pipe *p = s->pipe;
    uint32_t k = (uint32_t)(s - p->ring), n = s->batch_n;
    int64_t off = -1;
    (void)raw;
    pthread_mutex_lock(&p->mu);
    if (err == FM_OK && resp->code == FM_RESP_SUCCESS &&
        fm_cmd_ext_i64(resp, "queueOffset", &off) == FM_OK && off >= 0) {
        for (uint32_t i = 0; i < n; i++) {
            repl_slot *x = &p->ring[(k + i) % REPL_WINDOW];
            x->state = SLOT_COPIED;
            x->tgt_off = off + i;
            p->ok_body = x->bytes > p->ok_body ? x->bytes : p->ok_body;
            p->ok_total = x->total > p->ok_total ? x->total : p->ok_total;
            p->messages++;
            p->bytes += x->bytes;
        }
        p->blocked = 0;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            p->ring[(k + i) % REPL_WINDOW].state = SLOT_FAILED;
        }
        p->broken = 1;
        if (err == FM_OK) {
            char remark[256];
            fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
            snprintf(p->error, sizeof(p->error),
                     "target %s refused source offset %" PRId64 "%s (%u bytes): code %d: %s",
                     p->tq.addr, s->src_off, n > 1 ? " and the batch after it" : "", s->bytes,
                     resp->code, remark);
            p->blocked =
                resp->code == FM_RESP_MESSAGE_ILLEGAL || resp->code == FM_RESP_NO_PERMISSION;
            /* a broker that refuses what it would take one by one gets no more batches */
            p->no_batch |= n > 1;
        } else {
            snprintf(p->error, sizeof(p->error), "send to %s: %s", p->tq.addr,
                     fm_client_rpc_strerror(err));
        }
        p->error_ms = fm_clock_wall_ms();
    }
    p->inflight -= (int)n;
    advance(p);
    maybe_wake(p);
    int restart =
        p->pump_parked && (p->broken || p->inflight == 0 || p->tail - p->head <= REPL_WINDOW / 2);
    if (restart) {
        p->pump_parked = 0;
    }
    pthread_mutex_unlock(&p->mu);
    if (restart) {
        pump_pull(p);
    }
}

/* The record's born host as "ip:port" ("[ip6]:port"). Producers send from few addresses:
 * the last one is kept formatted, so most messages cost a compare. */
static const char *
born_host(pipe_local *l, fm_slice raw)
{
    const uint8_t *h = raw.ptr;
    if (raw.len == l->host_raw_len && memcmp(l->host_raw, h, raw.len) == 0) {
        return l->host;
    }
    memcpy(l->host_raw, h, raw.len);
    l->host_raw_len = raw.len;
    if (raw.len == 20) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, h, a, sizeof(a));
        snprintf(l->host, sizeof(l->host), "[%s]:%u", a,
                 (unsigned)((h[16] << 24) | (h[17] << 16) | (h[18] << 8) | h[19]));
    } else {
        snprintf(l->host, sizeof(l->host), "%u.%u.%u.%u:%u", h[0], h[1], h[2], h[3],
                 (unsigned)((h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7]));
    }
    return l->host;
}

/* Append name 0x01 value 0x02 to b, the caller's bytes being separator-safe: names are ours,
 * values ours or taken from a parsed property string (they are copied, as the source holds
 * them, and parse back the same). One reserve for the pair. */
static int
put_pair(fm_buf *b, const char *name, size_t nlen, const void *value, size_t vlen)
{
    if (fm_buf_reserve(b, b->len + nlen + vlen + 2) != FM_OK) {
        return FM_ENOMEM;
    }
    memcpy(b->data + b->len, name, nlen);
    b->data[b->len + nlen] = FM_PROPS_NAME_SEP;
    memcpy(b->data + b->len + nlen + 1, value, vlen);
    b->data[b->len + nlen + 1 + vlen] = FM_PROPS_PAIR_SEP;
    b->len += nlen + vlen + 2;
    return FM_OK;
}

/* 1 when the message must not cross: it has been in the target region already, it is not
 * local with forward=local, the task's filter refuses it, or it was stored before the time a
 * task started --from (SEARCH_OFFSET_BY_TIMESTAMP answers the nearest message, which may be
 * the last one before it). The origin properties are those build_props found in its walk of
 * props (one walk per message, not two). */
static int
must_drop(const repl_pipe *p, const pipe_local *l, fm_slice props, int64_t store_ts)
{
    const repl_task *t = p->t;
    if (path_has(l->src_path, t->spec.dst_region) || (!t->spec.forward_all && l->src_has_region)) {
        return 1;
    }
    if (t->spec.from == FM_REPL_FROM_TIME && store_ts < t->spec.from_ms) {
        return 1;
    }
    return t->spec.filter != NULL && !fm_filter_match_props(t->spec.filter, props);
}

/* Build the copy's property string into l->props: the source's, minus what must not cross,
 * plus the origin properties. The pairs kept are copied as runs of the source's own bytes
 * (a run ends only at a pair that is dropped), so a message whose properties all cross costs
 * one copy, not one append per pair. *drop: must_drop's answer, taken once the walk found
 * the origin properties; a message dropped gets none of ours (half of what a two-way task
 * pulls is the other region's, on its way back). */
static int
build_props(repl_pipe *p, pipe_local *l, const fm_msg_view *m, int *drop_msg)
{
    repl_task *t = p->t;
    fm_props_iter it;
    fm_slice name, value, path = {0};
    const uint8_t *run, *stop, *end = m->properties.ptr;
    int have[P_N] = {0}, rc;
    char num[32];
    *drop_msg = 0;
    l->props.len = 0;
    l->src_path = fm_slice_make(NULL, 0);
    l->src_has_region = 0;
    if (fm_buf_reserve(&l->props, m->properties.len + l->fixed.len + 512) != FM_OK) {
        return FM_ENOMEM;
    }
    if (m->properties.len > 0) {
        end += m->properties.len;
    }
    run = m->properties.ptr;
    stop = run;
    fm_props_iter_init(&it, m->properties);
    while (m->properties.len > 0) {
        const uint8_t *at = it.rest.ptr; /* where the next pair starts (maybe empty pairs) */
        int drop = 0, matched = 0;
        if ((rc = fm_props_next(&it, &name, &value)) != FM_OK) {
            /* the end, or a malformed pair: it and what follows are left out, as the
             * broker's parser stops there too */
            stop = rc == FM_ENOTFOUND ? end : at;
            break;
        }
        /* only a name with the task's prefix can be one of ours: one compare for the rest */
        if (name.len > l->prefix_len && memcmp(name.ptr, t->spec.prefix, l->prefix_len) == 0) {
            for (int k = 0; k < P_N && !matched; k++) {
                if (name.len == l->pname_len[k] && memcmp(name.ptr, l->pname[k], name.len) == 0) {
                    matched = 1;
                    if (k == P_PATH && !have[k]) {
                        path = value; /* the first, as fm_props_get finds it */
                    }
                    have[k] = 1;
                    /* origin facts stay as the first hop wrote them */
                    drop = k != P_REGION && k != P_STORE_TS && k != P_BORN_HOST;
                }
            }
        }
        for (size_t i = 0; i < sizeof(STRIP) / sizeof(STRIP[0]) && !matched && !drop; i++) {
            drop = name.len == STRIP[i].len && memcmp(name.ptr, STRIP[i].ptr, name.len) == 0;
        }
        if (drop) {
            /* the run of kept pairs before this one, then go on past it */
            if (fm_buf_append(&l->props, run, (size_t)(name.ptr - run)) != FM_OK) {
                return FM_ENOMEM;
            }
            run = it.rest.ptr;
        }
    }
    l->src_path = path;
    l->src_has_region = have[P_REGION];
    if ((*drop_msg = must_drop(p, l, m->properties, m->store_timestamp)) != 0) {
        return FM_OK;
    }
    if (stop > run && fm_buf_append(&l->props, run, (size_t)(stop - run)) != FM_OK) {
        return FM_ENOMEM;
    }
    if (l->props.len > 0 && l->props.data[l->props.len - 1] != FM_PROPS_PAIR_SEP &&
        fm_buf_append_u8(&l->props, FM_PROPS_PAIR_SEP) != FM_OK) { /* a last pair without 0x02 */
        return FM_ENOMEM;
    }
    rc = FM_OK;
    if (!have[P_REGION]) {
        rc = put_pair(&l->props, l->pname[P_REGION], l->pname_len[P_REGION], t->spec.src_region,
                      strlen(t->spec.src_region));
    }
    if (rc == FM_OK) {
        /* path + "," + target region, in the pipe's scratch buffer */
        l->path.len = 0;
        if (path.ptr != NULL && path.len > 0) {
            rc = fm_buf_append(&l->path, path.ptr, path.len);
        } else {
            rc = fm_buf_append(&l->path, t->spec.src_region, strlen(t->spec.src_region));
        }
        if (rc == FM_OK) {
            rc = fm_buf_append_u8(&l->path, ',');
        }
        if (rc == FM_OK) {
            rc = fm_buf_append(&l->path, t->spec.dst_region, strlen(t->spec.dst_region));
        }
        if (rc == FM_OK) {
            rc = put_pair(&l->props, l->pname[P_PATH], l->pname_len[P_PATH], l->path.data,
                          l->path.len);
        }
    }
    if (rc == FM_OK) {
        /* the one-hop-back queue (cluster, broker, topic, queue id): the same for every copy */
        rc = fm_buf_append(&l->props, l->fixed.data, l->fixed.len);
    }
    if (rc == FM_OK) {
        size_t k = fm_i64_to_str(m->queue_offset, num);
        rc = put_pair(&l->props, l->pname[P_OFFSET], l->pname_len[P_OFFSET], num, k);
    }
    if (rc == FM_OK && !have[P_STORE_TS]) {
        size_t k = fm_i64_to_str(m->store_timestamp, num);
        rc = put_pair(&l->props, l->pname[P_STORE_TS], l->pname_len[P_STORE_TS], num, k);
    }
    if (rc == FM_OK && !have[P_BORN_HOST] && m->born_host.len >= 8) {
        const char *h = born_host(l, m->born_host);
        rc = put_pair(&l->props, l->pname[P_BORN_HOST], l->pname_len[P_BORN_HOST], h, strlen(h));
    }
    if (rc == FM_OK && l->props.len > 32767) {
        rc = FM_ETOOBIG;
    }
    return rc;
}

/* SEND_MESSAGE_V2 for one message, SEND_BATCH_MESSAGE (l->batch holds the encoded items) for
 * more: a batch has one born timestamp and one sysFlag, which its messages share. */
static int
encode_send(repl_pipe *p, const pipe_local *l, int32_t opaque, fm_buf *frame, fm_slice *out_body,
            fm_errbuf *eb)
{
    char qid[24], born[24], sysflag[24], flag[24];
    fm_slice props = {0}, body = fm_buf_slice(&l->batch);
    if (l->batch_n == 1) {
        fm_msg_batch_iter it;
        fm_msg_batch_item item;
        fm_msg_batch_init(&it, fm_buf_slice(&l->batch));
        if (fm_msg_batch_next(&it, &item, eb) != FM_OK) {
            return FM_EPROTO;
        }
        props = item.properties;
        body = item.body;
        fm_i64_to_str(item.flag, flag);
    } else {
        flag[0] = '0';
        flag[1] = '\0';
    }
    fm_i64_to_str(p->tq.q.queue_id, qid);
    fm_i64_to_str(l->batch_born, born);
    fm_i64_to_str(l->batch_sysflag, sysflag);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("a"), fm_slice_cstr(p->t->src_group)},
        {FM_SLICE_LIT("b"), fm_slice_cstr(p->sq.q.topic)},
        {FM_SLICE_LIT("c"), FM_SLICE_LIT("TBW102")},
        {FM_SLICE_LIT("d"), FM_SLICE_LIT("4")},
        {FM_SLICE_LIT("e"), fm_slice_cstr(qid)},
        {FM_SLICE_LIT("f"), fm_slice_cstr(sysflag)},
        {FM_SLICE_LIT("g"), fm_slice_cstr(born)},
        {FM_SLICE_LIT("h"), fm_slice_cstr(flag)},
        {FM_SLICE_LIT("i"), props},
        {FM_SLICE_LIT("j"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("k"), FM_SLICE_LIT("false")},
        {FM_SLICE_LIT("m"), l->batch_n > 1 ? FM_SLICE_LIT("true") : FM_SLICE_LIT("false")},
    };
    /* the body is not copied in: flush sends it from l->batch right after the header */
    *out_body = body;
    return fm_client_request_encode_header(
        frame, l->batch_n > 1 ? FM_REQ_SEND_BATCH_MESSAGE : FM_REQ_SEND_MESSAGE_V2, 0, opaque, ext,
        sizeof(ext) / sizeof(ext[0]), body.len, eb);
}

/* Wait for a free slot; 0 when the pipe must stop or resume instead. */
static int
wait_slot(repl_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->waiters++;
    while (p->tail - p->head >= REPL_WINDOW && !p->broken && !atomic_load(&p->stop)) {
        struct timespec ts;
        fm_clock_wall_deadline(&ts, 100);
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    p->waiters--;
    int ok = !p->broken && !atomic_load(&p->stop);
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* Wait until no send is in flight (each completes or times out: the transport bounds it).
 * Called with mu held. */
static void
wait_idle_locked(repl_pipe *p)
{
    p->waiters++;
    while (p->inflight > 0) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->waiters--;
}

/* Wait until no send is in flight; 0 when one of them failed. */
static int
settle(repl_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    wait_idle_locked(p);
    int ok = !p->broken;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* Wait out the sends in flight and empty the ring (before a resume). */
static void
drain(repl_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    wait_idle_locked(p);
    for (uint32_t i = 0; i < REPL_WINDOW; i++) {
        p->ring[i].state = SLOT_FREE;
    }
    p->head = p->tail = 0;
    p->head_store_ts = 0;
    p->gap_next = 0; /* what follows a drain is a resume, which sets done_src */
    pthread_mutex_unlock(&p->mu);
}

/* Send the messages collected in l->batch (their slots are reserved, in state 1). 0 when the
 * pipe must stop or resume. */
static int
flush(repl_pipe *p, pipe_local *l)
{
    repl_task *t = p->t;
    fm_errbuf eb;
    fm_slice body;
    int32_t opaque;
    int rc;
    uint32_t n = l->batch_n;
    repl_slot *s = &p->ring[l->batch_first % REPL_WINDOW];
    if (n == 0) {
        return 1;
    }
    opaque = fm_client_rpc_next_opaque(t->dst.core.rpc);
    fm_buf_reset(&l->frame);
    rc = encode_send(p, l, opaque, &l->frame, &body, &eb);
    l->batch_n = 0;
    pthread_mutex_lock(&p->mu);
    s->batch_n = n;
    pthread_mutex_unlock(&p->mu);
    if (rc == FM_OK) {
        rc = fm_client_rpc_call_tail(t->dst.core.rpc, p->tq.addr, &l->frame, body, opaque,
                                     SEND_TIMEOUT_MS, 0, send_done, s);
        if (rc != FM_OK) {
            fm_err_set(&eb, rc, "cannot queue a send to %s: %s", p->tq.addr, fm_strerror(rc));
        }
    }
    l->batch.len = 0; /* body pointed into it until the call returned */
    if (rc != FM_OK) {
        pthread_mutex_lock(&p->mu);
        for (uint32_t i = 0; i < n; i++) {
            p->ring[(l->batch_first + i) % REPL_WINDOW].state = SLOT_FAILED;
        }
        p->inflight -= (int)n;
        p->broken = 1;
        snprintf(p->error, sizeof(p->error), "%s", eb.msg);
        p->error_ms = fm_clock_wall_ms();
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    return 1;
}

/* Give up the batch being built (the pipe stops or resumes: it is pulled again). */
static void
discard(repl_pipe *p, pipe_local *l)
{
    pthread_mutex_lock(&p->mu);
    for (uint32_t i = 0; i < l->batch_n; i++) {
        p->ring[(l->batch_first + i) % REPL_WINDOW].state = SLOT_FAILED;
    }
    p->inflight -= (int)l->batch_n;
    p->broken = 1;
    maybe_wake(p);
    pthread_mutex_unlock(&p->mu);
    l->batch_n = 0;
    l->batch.len = 0;
}

/* What copy_one and push_done answer: the record is taken, the pipe must stop or resume, or
 * (the pump only) it cannot be taken without waiting and the pipe thread takes over there. */
enum { COPY_STOP = 0, COPY_TAKEN = 1, COPY_NOT_NOW = 2 };

/* A free slot for the next record: COPY_TAKEN when there is one (the pipe thread waits for
 * it), COPY_STOP when the pipe must stop or resume, COPY_NOT_NOW for the pump when the window
 * is full. */
static int
slot_ready(repl_pipe *p, int fast)
{
    if (!fast) {
        return wait_slot(p) ? COPY_TAKEN : COPY_STOP;
    }
    pthread_mutex_lock(&p->mu);
    int r = p->broken || atomic_load(&p->stop) ? COPY_STOP
            : p->tail - p->head < REPL_WINDOW  ? COPY_TAKEN
                                               : COPY_NOT_NOW;
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* Take a finished-without-send slot (filtered, or already on the target). */
static int
push_done(repl_pipe *p, pipe_local *l, const fm_msg_view *m, int state, int64_t tgt, int fast)
{
    int r;
    /* a batch's slots are consecutive in the ring: send it before this slot goes after it */
    if (!flush(p, l)) {
        return COPY_STOP;
    }
    if ((r = slot_ready(p, fast)) != COPY_TAKEN) {
        return r;
    }
    pthread_mutex_lock(&p->mu);
    repl_slot *s = &p->ring[p->tail % REPL_WINDOW];
    s->src_off = m->queue_offset;
    s->tgt_off = tgt;
    s->store_ts = m->store_timestamp;
    s->bytes = 0;
    s->state = state;
    p->tail++;
    if (state == SLOT_NOT_SENT) {
        p->filtered++;
    }
    advance(p);
    pthread_mutex_unlock(&p->mu);
    return COPY_TAKEN;
}

#define BATCH_MAX 128                 /* messages in one SEND_BATCH_MESSAGE */
#define BATCH_MAX_BYTES (1024 * 1024) /* and their encoded size */

/* Copy one record: skip it (already on the target), drop it, or add it to the batch being
 * built (sent by flush(), when the batch is full or cannot take this record, and at the end
 * of each pull). COPY_* (fast: called by the pump, which never waits: whatever would wait,
 * a probe or a full window, is COPY_NOT_NOW, as is a property string too large, which the
 * pipe thread reports). */
static int
copy_one(repl_pipe *p, pipe_local *l, const fm_msg_view *m, int fast)
{
    repl_task *t = p->t;
    repl_slot *s;
    int rc, drop;
    /* the body stays as stored (compressed or not, with the compression type 4.9.7's
     * producers put in bits 8-10); transaction and host bits are the target broker's */
    int32_t sysflag = m->sysflag & (FM_MSG_SYSFLAG_COMPRESSED | FM_MSG_SYSFLAG_MULTI_TAGS |
                                    FM_MSG_SYSFLAG_COMPRESSION_TYPE);

    while (l->i_skip < l->n_skip && l->skip[l->i_skip].src_off < m->queue_offset) {
        l->i_skip++;
    }
    if (l->i_skip < l->n_skip && l->skip[l->i_skip].src_off == m->queue_offset) {
        return push_done(p, l, m, SLOT_COPIED, l->skip[l->i_skip].tgt_off, fast);
    }
    rc = build_props(p, l, m, &drop);
    if (drop) {
        return push_done(p, l, m, SLOT_NOT_SENT, -1, fast);
    }
    if (rc != FM_OK) {
        if (fast) {
            return COPY_NOT_NOW;
        }
        pthread_mutex_lock(&p->mu);
        p->broken = p->blocked = 1;
        snprintf(p->error, sizeof(p->error),
                 "source offset %" PRId64 ": the copy's properties are over 32767 bytes",
                 m->queue_offset);
        p->error_ms = fm_clock_wall_ms();
        pthread_mutex_unlock(&p->mu);
        return COPY_STOP;
    }
    if (!fast) {
        fm_repl_task_throttle(t, (uint32_t)m->body.len); /* the pump runs only without limits */
    }
    /* A message larger than any the target took may be refused. Sent alone, a refusal leaves
     * nothing of the queue behind it on the target, so the queue blocks in order. The sizes
     * only grow, so this costs a round trip a few times per queue, not per message. */
    uint32_t total = (uint32_t)(m->body.len + l->props.len);
    pthread_mutex_lock(&p->mu);
    int probe = m->body.len > p->ok_body || total > p->ok_total;
    int batch_ok = !p->no_batch && !probe && strncmp(p->sq.q.topic, "%RETRY%", 7) != 0 &&
                   strncmp(p->sq.q.topic, "%DLQ%", 5) != 0;
    pthread_mutex_unlock(&p->mu);
    if (probe && fast) {
        return COPY_NOT_NOW; /* it must wait for the sends in flight */
    }
    if (l->batch_n > 0 &&
        (!batch_ok || !l->batch_ok || l->batch_born != m->born_timestamp ||
         l->batch_sysflag != sysflag || l->batch_n >= BATCH_MAX ||
         l->batch.len + total + 32 > BATCH_MAX_BYTES || p->tail - p->head >= REPL_WINDOW) &&
        !flush(p, l)) {
        return COPY_STOP;
    }
    if ((rc = slot_ready(p, fast)) != COPY_TAKEN) {
        return rc;
    }
    if (probe && !settle(p)) {
        return COPY_STOP;
    }
    if (fm_msg_batch_append(&l->batch, m->flag, m->body, fm_buf_slice(&l->props)) != FM_OK) {
        pthread_mutex_lock(&p->mu);
        p->broken = 1;
        snprintf(p->error, sizeof(p->error), "out of memory");
        pthread_mutex_unlock(&p->mu);
        return COPY_STOP;
    }
    pthread_mutex_lock(&p->mu);
    if (l->batch_n == 0) {
        l->batch_first = p->tail;
        l->batch_born = m->born_timestamp;
        l->batch_sysflag = sysflag;
        l->batch_ok = batch_ok;
    }
    l->batch_n++;
    s = &p->ring[p->tail % REPL_WINDOW];
    s->pipe = p;
    s->src_off = m->queue_offset;
    s->tgt_off = -1;
    s->store_ts = m->store_timestamp;
    s->bytes = (uint32_t)m->body.len;
    s->total = total;
    s->batch_n = 0;
    s->state = SLOT_SENDING;
    p->inflight++;
    p->tail++;
    if (p->head_store_ts == 0) {
        p->head_store_ts = s->store_ts;
    }
    pthread_mutex_unlock(&p->mu);
    if (probe || !batch_ok) {
        if (!flush(p, l)) {
            return COPY_STOP;
        }
    }
    return !probe || settle(p) ? COPY_TAKEN : COPY_STOP;
}

/*
 * The pump: the steady state without a thread hand-off. While p->fast is set, the I/O thread
 * the task's two sides share owns the copying: a pull's completion filters and sends what it
 * brought (the sends go out from the same thread, at once) and starts the next pull, sized to
 * the window's room; when the window has too little room, the pump parks and send_done
 * restarts it. Everything unusual (an error, an answer other than records or "nothing new",
 * a probe, a lost lease, stop) hands the pipe back to its thread at the first record not
 * taken, and the thread handles it as it always does. At live rates a pull brings a message
 * or two, and the synchronous pull from the pipe thread cost two wake-ups per message.
 */
#define PUMP_MIN_ROOM 64 /* a pull for fewer records than this waits for acknowledgements */

/* The subscription of the next pull from the source: the task's prefilter unless a source
 * refused it (or the queue is a retry or dead-letter queue, copied only on request), else
 * everything. Returns 1 when it is the prefilter. */
static int
pull_expr(const repl_pipe *p, const char **expr, const char **type)
{
    const repl_task *t = p->t;
    if (t->prefilter[0] != '\0' && !atomic_load(&t->prefilter_off) &&
        strncmp(p->sq.q.topic, "%RETRY%", 7) != 0 && strncmp(p->sq.q.topic, "%DLQ%", 5) != 0) {
        *expr = t->prefilter;
        *type = "SQL92";
        return 1;
    }
    *expr = "*";
    *type = "TAG";
    return 0;
}

/* A pull with the prefilter got an answer no pull may get: the source broker does not take
 * SQL92 (a stock broker with enablePropertyFilter off answers SYSTEM_ERROR). From now on the
 * task pulls everything and drops here, as without a prefilter; logged once per task. */
static void
prefilter_refused(repl_pipe *p, const fm_cmd *resp)
{
    repl_task *t = p->t;
    if (atomic_exchange(&t->prefilter_off, 1) == 0) {
        char remark[256] = "";
        if (resp != NULL) {
            fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
        }
        FM_LOGI("repl", "FM-REPL-PREFILTER-OFF",
                "task=%s broker=%s code=%d remark=\"%s\" action=\"pull all, filter here\"",
                t->spec.name, p->sq.q.broker_name, resp != NULL ? resp->code : -1, remark);
    }
}

/* Source offsets [from, to) that the source's filter passed over: not to be copied, and done
 * once every copy before them is. */
static void
gap(repl_pipe *p, int64_t from, int64_t to)
{
    if (to <= from) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->filtered += to - from;
    p->src_filtered += to - from;
    if (to > p->gap_next) {
        p->gap_next = to;
    }
    advance(p);
    pthread_mutex_unlock(&p->mu);
}

static void
pump_hand_back(repl_pipe *p, int64_t next)
{
    pthread_mutex_lock(&p->mu);
    p->pump_next = next;
    p->pump_parked = 0;
    p->fast = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void
pump_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    repl_pipe *p = ud;
    pipe_local *l = p->l;
    repl_pull pr;
    fm_errbuf eb;
    int64_t next;
    int go = 1;
    (void)raw;
    pthread_mutex_lock(&p->mu);
    next = p->pump_next;
    int usable = err == FM_OK && !p->broken && fm_clock_mono_ms() < p->lease_until_ms;
    int sql = p->sql_pull;
    pthread_mutex_unlock(&p->mu);
    int parsed = usable && fm_repl_pull_parse(&p->sq, resp, &pr, &eb) == FM_OK;
    if (usable && !parsed && sql) {
        prefilter_refused(p, resp);
    }
    if (!parsed || atomic_load(&p->stop) || pr.code == FM_RESP_PULL_OFFSET_MOVED) {
        pump_hand_back(p, next); /* the thread pulls there again and handles what it gets */
        return;
    }
    if (pr.max >= 0) {
        pthread_mutex_lock(&p->mu);
        p->max_offset = pr.max;
        pthread_mutex_unlock(&p->mu);
    }
    if (pr.code == FM_RESP_SUCCESS) {
        const uint8_t *b = pr.body.ptr;
        size_t left = pr.body.len;
        int r = COPY_TAKEN;
        while (left > 0) {
            fm_msg_view m;
            if (fm_msg_decode(b, left, &m, &eb) != FM_OK) {
                r = COPY_NOT_NOW;
                break;
            }
            b += m.total_size;
            left -= m.total_size;
            if (m.queue_offset < next) {
                continue;
            }
            if ((r = copy_one(p, l, &m, 1)) != COPY_TAKEN) {
                break;
            }
            /* the source's filter passed over what lies between: counted, never copied */
            gap(p, next, m.queue_offset);
            next = m.queue_offset + 1;
        }
        if (r == COPY_STOP) {
            discard(p, l);
            go = 0;
        } else {
            go = flush(p, l) && r == COPY_TAKEN;
        }
        if (go && pr.next > next) {
            gap(p, next, pr.next);
            next = pr.next;
        }
    } else if ((pr.code == FM_RESP_PULL_RETRY_IMMEDIATELY ||
                (sql && pr.code == FM_RESP_PULL_NOT_FOUND)) &&
               pr.next > next) {
        /* nothing matched up to pr.next (a parked filtered pull answers NOT_FOUND from where
         * its broker's filter got to) */
        gap(p, next, pr.next);
        next = pr.next;
    }
    if (!go) {
        pump_hand_back(p, next);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->pump_next = next;
    pthread_mutex_unlock(&p->mu);
    pump_pull(p);
}

/* Start the pump's next pull, or park it until the window has room. */
static void
pump_pull(repl_pipe *p)
{
    repl_task *t = p->t;
    int64_t next;
    uint32_t room;
    pthread_mutex_lock(&p->mu);
    next = p->pump_next;
    room = REPL_WINDOW - (p->tail - p->head);
    if (p->broken || atomic_load(&p->stop) || fm_clock_mono_ms() >= p->lease_until_ms) {
        pthread_mutex_unlock(&p->mu);
        pump_hand_back(p, next);
        return;
    }
    if (room < PUMP_MIN_ROOM) {
        /* sends are in flight (a full window holds nothing else): their completion restarts
         * the pump, and it checks under the same lock */
        p->pump_parked = 1;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    const char *expr, *type;
    p->sql_pull = pull_expr(p, &expr, &type);
    pthread_mutex_unlock(&p->mu);
    if (fm_repl_side_pull_async(&t->src, &p->sq, t->src_group, next,
                                room < PULL_BATCH ? (int)room : PULL_BATCH, PULL_SUSPEND_MS, expr,
                                type, pump_done, p) != FM_OK) {
        pump_hand_back(p, next);
    }
}

/* Let the pump copy from *next until it hands back; *next is then where the thread goes on. */
static void
pump_run(repl_pipe *p, pipe_local *l, int64_t *next)
{
    pthread_mutex_lock(&p->mu);
    p->l = l;
    p->pump_next = *next;
    p->pump_parked = 0;
    p->fast = 1;
    pthread_mutex_unlock(&p->mu);
    pump_pull(p);
    pthread_mutex_lock(&p->mu);
    while (p->fast) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    *next = p->pump_next;
    pthread_mutex_unlock(&p->mu);
}

static void
backoff_sleep(repl_pipe *p, int64_t *ms)
{
    /* full jitter: a herd of pipes after a target restart comes back spread out */
    int64_t d = *ms / 2 + (int64_t)(rand() % (int)(*ms / 2 + 1));
    int64_t until = fm_clock_mono_ms() + d;
    while (!atomic_load(&p->stop) && fm_clock_mono_ms() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    *ms = *ms * 2 > 5000 ? 5000 : *ms * 2;
}

static int
lease_ok(repl_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    int ok = fm_clock_mono_ms() < p->lease_until_ms;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void *
pipe_main(void *arg)
{
    repl_pipe *p = arg;
    repl_task *t = p->t;
    pipe_local l;
    repl_pull pr;
    int64_t next = 0, backoff = 100;
    int need_resume = 1, slow_turn = 0;
    fm_errbuf eb;

    pthread_setname_np(pthread_self(), "fm-repl-queue");
    memset(&l, 0, sizeof(l));
    pnames_init(&l, t->spec.prefix);
    {
        char qid[24];
        size_t k = fm_i64_to_str(p->sq.q.queue_id, qid);
        if (fm_props_append(&l.fixed, fm_slice_cstr(l.pname[P_CLUSTER]),
                            fm_slice_cstr(p->src_cluster)) != FM_OK ||
            fm_props_append(&l.fixed, fm_slice_cstr(l.pname[P_BROKER]),
                            fm_slice_cstr(p->sq.q.broker_name)) != FM_OK ||
            fm_props_append(&l.fixed, fm_slice_cstr(l.pname[P_TOPIC]),
                            fm_slice_cstr(p->sq.q.topic)) != FM_OK ||
            fm_props_append(&l.fixed, fm_slice_cstr(l.pname[P_QID]), fm_slice_make(qid, k)) !=
                FM_OK) {
            fm_repl_pipe_error(p, "out of memory");
            atomic_store(&p->stop, 1);
        }
    }
    fm_repl_pull_init(&pr);
    while (!atomic_load(&p->stop)) {
        if (!lease_ok(p)) {
            /* the source lock was not renewed: another replicator may own the queue now */
            drain(p);
            need_resume = 1;
            set_state(p, "waiting");
            backoff_sleep(p, &(int64_t){200});
            continue;
        }
        if (need_resume) {
            set_state(p, "resuming");
            if (resume(p, &l, &next, &eb) != FM_OK) {
                fm_repl_pipe_error(p, "resume: %s", eb.msg);
                backoff_sleep(p, &backoff);
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->done_src = next;
            p->broken = 0;
            snprintf(p->state, sizeof(p->state), "%s", p->blocked ? "blocked" : "running");
            pthread_mutex_unlock(&p->mu);
            need_resume = 0;
        }
        /* The pump copies until something needs this thread; the thread then takes one turn
         * of its own from there (the record the pump could not take) before the pump goes on.
         * Rate limits wait, so a task with them is copied here only. */
        if (!slow_turn && t->spec.rate_msgs <= 0 && t->spec.rate_bytes <= 0) {
            pump_run(p, &l, &next);
            slow_turn = 1;
            pthread_mutex_lock(&p->mu);
            int broken = p->broken;
            pthread_mutex_unlock(&p->mu);
            if (broken) {
                FM_LOGW("repl", "FM-REPL-QUEUE-ERROR",
                        "task=%s topic=%s broker=%s qid=%d err=\"%s\"", t->spec.name, p->sq.q.topic,
                        p->sq.q.broker_name, p->sq.q.queue_id, p->error);
                drain(p);
                need_resume = 1;
                backoff_sleep(p, &backoff);
            }
            continue;
        }
        slow_turn = 0;
        const char *expr, *type;
        int sql = pull_expr(p, &expr, &type);
        int prc = fm_repl_side_pull(&t->src, &p->sq, t->src_group, next, PULL_BATCH,
                                    PULL_SUSPEND_MS, expr, type, &pr, &eb);
        if (prc == FERRYMQ_EBROKER && sql) {
            prefilter_refused(p, &pr.resp);
            continue; /* pulled again at once, everything */
        }
        if (prc != FM_OK) {
            fm_repl_pipe_error(p, "pull: %s", eb.msg);
            drain(p);
            need_resume = 1;
            backoff_sleep(p, &backoff);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        if (pr.max >= 0) {
            p->max_offset = pr.max;
        }
        pthread_mutex_unlock(&p->mu);
        if (pr.code == FM_RESP_SUCCESS) {
            const uint8_t *b = pr.body.ptr;
            size_t left = pr.body.len;
            int go = 1;
            while (left > 0 && go) {
                fm_msg_view m;
                if (fm_msg_decode(b, left, &m, &eb) != FM_OK) {
                    fm_repl_pipe_error(p, "source sent a malformed record at offset %" PRId64,
                                       next);
                    go = 0;
                    need_resume = 1;
                    break;
                }
                b += m.total_size;
                left -= m.total_size;
                if (m.queue_offset < next) {
                    continue;
                }
                if (!(go = copy_one(p, &l, &m, 0))) {
                    break;
                }
                gap(p, next, m.queue_offset);
                next = m.queue_offset + 1;
            }
            if (go) {
                go = flush(p, &l);
            } else {
                discard(p, &l);
            }
            if (go && pr.next > next) {
                gap(p, next, pr.next);
                next = pr.next;
            }
        } else if (pr.code == FM_RESP_PULL_OFFSET_MOVED && pr.next >= 0) {
            if (pr.next > next) {
                int64_t gone = pr.next - next;
                pthread_mutex_lock(&p->mu);
                p->skipped += gone;
                pthread_mutex_unlock(&p->mu);
                FM_LOGW("repl", "FM-REPL-RETENTION-SKIP",
                        "task=%s topic=%s broker=%s qid=%d from=%" PRId64 " to=%" PRId64
                        " count=%" PRId64,
                        t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, next,
                        pr.next, gone);
                /* nothing before pr.next exists any more: everything before it is done */
                drain(p);
                pthread_mutex_lock(&p->mu);
                p->done_src = pr.next;
                pthread_mutex_unlock(&p->mu);
            }
            next = pr.next;
        } else if ((pr.code == FM_RESP_PULL_RETRY_IMMEDIATELY ||
                    (sql && pr.code == FM_RESP_PULL_NOT_FOUND)) &&
                   pr.next > next) {
            gap(p, next, pr.next);
            next = pr.next;
        }
        pthread_mutex_lock(&p->mu);
        int broken = p->broken;
        pthread_mutex_unlock(&p->mu);
        if (broken) {
            FM_LOGW("repl", "FM-REPL-QUEUE-ERROR", "task=%s topic=%s broker=%s qid=%d err=\"%s\"",
                    t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, p->error);
            drain(p);
            need_resume = 1;
            backoff_sleep(p, &backoff);
        } else if (!need_resume) {
            backoff = 100;
        }
    }
    drain(p);
    fm_repl_pull_free(&pr);
    free(l.skip);
    fm_buf_free(&l.props);
    fm_buf_free(&l.path);
    fm_buf_free(&l.fixed);
    fm_buf_free(&l.batch);
    fm_buf_free(&l.frame);
    set_state(p, "stopped");
    return NULL;
}

#define SYNC_SCAN_BUDGET 20000 /* target messages one translation call reads at most */

int
fm_repl_pipe_translate(repl_pipe *p, repl_sync *s, int64_t c, int64_t *tgt, int *exact,
                       fm_errbuf *eb)
{
    repl_task *t = p->t;
    int64_t hint, budget = SYNC_SCAN_BUDGET;
    repl_queue tq;
    pipe_local l;
    repl_pull pr;
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = fm_repl_xmap_translate(p->xmap, c, &hint, exact);
    tq = p->tq;
    pthread_mutex_unlock(&p->mu);
    if (rc == FM_OK) {
        *tgt = hint;
        return FM_OK;
    }
    if (hint < 0) {
        return fm_err_set(eb, FM_EAGAIN, "the queue has not resumed yet");
    }
    /* Older than the history (a group behind since before this replicator started, or than
     * REPL_XMAP_RUNS runs): read the target queue up to the history's first copy. A floor
     * from the last exact answer spares a scan from the queue's start: every copy before it
     * came from below that answer's committed offset. */
    if (s->scan_c != c || s->scan_end != hint) {
        int64_t lo = s->prev_c >= 0 && c >= s->prev_c && s->prev_t <= hint ? s->prev_t : -1;
        if (lo < 0) {
            int64_t tmax;
            if ((rc = fm_repl_side_min_max(&t->dst, &tq, &lo, &tmax, eb)) != FM_OK) {
                return rc;
            }
        }
        s->scan_c = c;
        s->scan_pos = lo;
        s->scan_end = hint;
    }
    memset(&l, 0, sizeof(l));
    pnames_init(&l, t->spec.prefix);
    fm_repl_pull_init(&pr);
    rc = FM_OK;
    while (s->scan_pos < s->scan_end && budget > 0) {
        int64_t pos = s->scan_pos;
        if ((rc = fm_repl_side_pull(&t->dst, &tq, t->dst_group, pos, PULL_BATCH, 0, "*", "TAG", &pr,
                                    eb)) != FM_OK) {
            break;
        }
        if (pr.code == FM_RESP_SUCCESS) {
            const uint8_t *b = pr.body.ptr;
            size_t left = pr.body.len;
            while (left > 0) {
                fm_msg_view m;
                int64_t src;
                if (fm_msg_decode(b, left, &m, eb) != FM_OK) {
                    rc = fm_err_set(eb, FM_EPROTO, "target sent a malformed record");
                    break;
                }
                if (m.queue_offset >= s->scan_end) {
                    s->scan_pos = s->scan_end;
                    break;
                }
                if (ours(p, &l, m.properties, &src) && src >= c) {
                    fm_repl_pull_free(&pr);
                    *tgt = m.queue_offset;
                    *exact = 1;
                    s->scan_c = -1;
                    return FM_OK;
                }
                s->scan_pos = m.queue_offset + 1;
                budget--;
                b += m.total_size;
                left -= m.total_size;
            }
            if (rc != FM_OK) {
                break;
            }
        }
        if (pr.next > s->scan_pos) {
            s->scan_pos = pr.next; /* past a hole (retention), or the batch's end */
        } else if (s->scan_pos == pos) {
            rc = fm_err_set(eb, FM_EAGAIN, "target queue %s:%d unreadable at offset %" PRId64,
                            tq.q.broker_name, tq.q.queue_id, pos);
            break;
        }
    }
    fm_repl_pull_free(&pr);
    if (rc != FM_OK) {
        return rc;
    }
    if (s->scan_pos >= s->scan_end) {
        /* nothing of ours >= c before the history: its first copy (or the end) it is */
        *tgt = s->scan_end;
        *exact = 0;
        pthread_mutex_lock(&p->mu);
        if (fm_repl_xmap_runs(p->xmap) > 0) {
            *exact = 1;
        }
        pthread_mutex_unlock(&p->mu);
        s->scan_c = -1;
        return FM_OK;
    }
    return fm_err_set(eb, FM_EAGAIN,
                      "scanning the target queue for offset %" PRId64 " (at %" PRId64 " of %" PRId64
                      ")",
                      c, s->scan_pos, s->scan_end);
}

int
fm_repl_pipe_start(repl_pipe *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ckpt_tgt = p->ckpt_written_tgt = p->ckpt_written_src = -1;
    p->done_src = -1;
    p->map_hi_src = -1;
    snprintf(p->state, sizeof(p->state), "starting");
    if (fm_repl_xmap_new(REPL_XMAP_RUNS, &p->xmap) != FM_OK) {
        return FM_ENOMEM;
    }
    if (pthread_create(&p->th, NULL, pipe_main, p) != 0) {
        return FM_ENOMEM;
    }
    p->started = 1;
    return FM_OK;
}

void
fm_repl_pipe_stop(repl_pipe *p)
{
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->started) {
        pthread_join(p->th, NULL);
        p->started = 0;
    }
}
