/*
 * consumer.c - ferrymq_consumer: pulls from explicit queues with tag or SQL92 expressions and
 * long polling, and the group's offsets kept on the broker.
 */
#include "client/client_int.h"

#include "proto/codes.h"
#include "proto/msg.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PULL_FLAG_SUSPEND 0x2
#define PULL_FLAG_SUBSCRIPTION 0x4

struct ferrymq_consumer {
    client_core core;
    /* Broker addresses by broker name, as the last pull from a caller's thread resolved them:
     * a pull started from a callback (the I/O thread) must not wait for a route lookup, which
     * needs that very thread. Held only to copy an entry. */
    pthread_mutex_t amu;
    fm_map addrs; /* broker name -> char[128] */
};

int
ferrymq_consumer_new(const ferrymq_conf *conf, ferrymq_consumer **out, char *errstr,
                     size_t errstr_size)
{
    int rc =
        fm_client_handle_new(sizeof(ferrymq_consumer), conf, (void **)out, errstr, errstr_size);
    if (rc == FERRYMQ_OK) {
        pthread_mutex_init(&(*out)->amu, NULL);
    }
    return rc;
}

void
ferrymq_consumer_close(ferrymq_consumer *c)
{
    if (c == NULL) {
        return;
    }
    /* the transport first: pulls still pending complete (with FERRYMQ_ECLOSED) before the
     * address cache goes */
    fm_client_core_destroy(&c->core);
    fm_map_free_values(&c->addrs, NULL);
    pthread_mutex_destroy(&c->amu);
    free(c);
}

int
fm_client_queues(client_core *core, const char *topic, int readable, ferrymq_queue **queues,
                 size_t *n, fm_errbuf *eb)
{
    client_route *r = NULL;
    ferrymq_queue *qs;
    size_t k = 0;
    int rc = fm_client_core_route(core, topic, 0, 0, &r, eb);
    if (rc != FM_OK) {
        return rc;
    }
    qs = calloc((size_t)r->n + 1, sizeof(*qs));
    if (qs == NULL) {
        fm_client_route_release(r);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    for (int i = 0; i < r->n; i++) {
        if (readable ? r->q[i].readable : r->q[i].writable) {
            snprintf(qs[k].topic, sizeof(qs[k].topic), "%s", topic);
            snprintf(qs[k].broker_name, sizeof(qs[k].broker_name), "%s", r->q[i].broker_name);
            qs[k].queue_id = r->q[i].qid;
            k++;
        }
    }
    fm_client_route_release(r);
    *queues = qs;
    *n = k;
    return FM_OK;
}

int
fm_client_queue_addr(client_core *core, const ferrymq_queue *q, char *addr, size_t cap,
                     fm_errbuf *eb)
{
    client_route *r = NULL;
    int rc = fm_client_core_route(core, q->topic, 0, 0, &r, eb);
    if (rc != FM_OK) {
        return rc;
    }
    rc = fm_err_set(eb, FM_ENOTFOUND, "broker %s does not serve %s", q->broker_name, q->topic);
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->q[i].broker_name, q->broker_name) == 0) {
            snprintf(addr, cap, "%s", r->q[i].addr);
            rc = FM_OK;
            break;
        }
    }
    fm_client_route_release(r);
    return rc;
}

int
ferrymq_consumer_queues(ferrymq_consumer *c, const char *topic, ferrymq_queue **queues, size_t *n,
                        char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc = fm_client_queues(&c->core, topic, 1, queues, n, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

void
ferrymq_pull_result_clear(ferrymq_pull_result *res)
{
    if (res == NULL) {
        return;
    }
    for (size_t i = 0; i < res->n_msgs; i++) {
        ferrymq_msg_free(res->msgs[i]);
    }
    free(res->msgs);
    res->msgs = NULL;
    res->n_msgs = 0;
}

int
fm_client_pull_decode(fm_slice body, ferrymq_pull_result *res, fm_errbuf *eb)
{
    size_t cap = 0;
    while (body.len > 0) {
        fm_msg_view v;
        ferrymq_msg *m;
        int rc = fm_msg_decode(body.ptr, body.len, &v, NULL);
        if (rc != FM_OK) {
            return fm_err_set(eb, FM_EPROTO, "pull body holds a malformed record");
        }
        if (res->n_msgs == cap) {
            ferrymq_msg **n;
            cap = cap ? cap * 2 : 32;
            n = realloc(res->msgs, cap * sizeof(*n));
            if (n == NULL) {
                return fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
            res->msgs = n;
        }
        rc = fm_client_msg_from_record(body.ptr, v.total_size, &m);
        if (rc != FM_OK) {
            return fm_err_set(eb, rc, "cannot decode a pulled message");
        }
        res->msgs[res->n_msgs++] = m;
        body.ptr += v.total_size;
        body.len -= v.total_size;
    }
    return FM_OK;
}

void
fm_client_pull_hdr_init(fm_client_pull_hdr *h, const char *group, const ferrymq_queue *q,
                        int64_t offset, int max_msgs, int suspend_ms, const char *expr,
                        const char *expr_type, int64_t sub_version)
{
    fm_i64_to_str(q->queue_id, h->qid);
    fm_i64_to_str(offset, h->off);
    fm_i64_to_str(max_msgs, h->maxs);
    fm_i64_to_str(PULL_FLAG_SUBSCRIPTION | (suspend_ms > 0 ? PULL_FLAG_SUSPEND : 0), h->flag);
    fm_i64_to_str(suspend_ms > 0 ? suspend_ms : 0, h->susp);
    fm_i64_to_str(sub_version, h->ver);
    fm_cmd_ext ext[FM_CLIENT_PULL_EXT] = {
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(group)},
        {FM_SLICE_LIT("topic"), fm_slice_cstr(q->topic)},
        {FM_SLICE_LIT("queueId"), fm_slice_cstr(h->qid)},
        {FM_SLICE_LIT("queueOffset"), fm_slice_cstr(h->off)},
        {FM_SLICE_LIT("maxMsgNums"), fm_slice_cstr(h->maxs)},
        {FM_SLICE_LIT("sysFlag"), fm_slice_cstr(h->flag)},
        {FM_SLICE_LIT("commitOffset"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("suspendTimeoutMillis"), fm_slice_cstr(h->susp)},
        {FM_SLICE_LIT("subscription"), fm_slice_cstr(expr)},
        {FM_SLICE_LIT("subVersion"), fm_slice_cstr(h->ver)},
        {FM_SLICE_LIT("expressionType"), fm_slice_cstr(expr_type)},
    };
    memcpy(h->ext, ext, sizeof(ext));
}

int
fm_client_pull_call(fm_client_rpc *rpc, const char *addr, const fm_client_pull_hdr *h,
                    int timeout_ms, fm_client_done_fn done, void *ud, fm_errbuf *eb)
{
    fm_buf frame = {0};
    int32_t opaque = fm_client_rpc_next_opaque(rpc);
    int rc = fm_client_request_encode(&frame, FM_REQ_PULL_MESSAGE, 0, opaque, h->ext,
                                      FM_CLIENT_PULL_EXT, fm_slice_make(NULL, 0), eb);
    if (rc == FM_OK) {
        rc = fm_client_rpc_call(rpc, addr, &frame, opaque, timeout_ms, 0, done, ud);
        if (rc != FM_OK) {
            fm_err_set(eb, rc, "cannot queue the pull: %s", fm_strerror(rc));
        }
    }
    fm_buf_free(&frame);
    return rc;
}

/* A pull's answer into res (its messages decoded and owned by res). */
static int
pull_result(const char *addr, const fm_cmd *resp, ferrymq_pull_result *res, fm_errbuf *eb)
{
    fm_cmd_ext_i64(resp, "nextBeginOffset", &res->next_offset);
    fm_cmd_ext_i64(resp, "minOffset", &res->min_offset);
    fm_cmd_ext_i64(resp, "maxOffset", &res->max_offset);
    switch (resp->code) {
    case FM_RESP_SUCCESS:
        res->status = FERRYMQ_PULL_FOUND;
        return fm_client_pull_decode(resp->body, res, eb);
    case FM_RESP_PULL_NOT_FOUND:
        res->status = FERRYMQ_PULL_NO_NEW_MSG;
        return FM_OK;
    case FM_RESP_PULL_RETRY_IMMEDIATELY:
        res->status = FERRYMQ_PULL_NO_MATCHED_MSG;
        return FM_OK;
    case FM_RESP_PULL_OFFSET_MOVED:
        res->status = FERRYMQ_PULL_OFFSET_ILLEGAL;
        return FM_OK;
    default: {
        char remark[256];
        fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
        return fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", addr, resp->code,
                          remark);
    }
    }
}

static int
check_pull_args(ferrymq_consumer *c, const ferrymq_queue *q, int max_msgs, char *errstr,
                size_t errstr_size)
{
    if (c == NULL || q == NULL || max_msgs <= 0) {
        fm_client_errstr(errstr, errstr_size, "consumer, queue and max_msgs > 0 are required");
        return FERRYMQ_EINVAL;
    }
    return FERRYMQ_OK;
}

int
ferrymq_consumer_pull(ferrymq_consumer *c, const ferrymq_queue *q, int64_t offset, const char *expr,
                      const char *expr_type, int max_msgs, int suspend_ms, ferrymq_pull_result *res,
                      char *errstr, size_t errstr_size)
{
    char addr[128];
    fm_client_pull_hdr h;
    fm_buf resp_frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    fm_errbuf eb;
    int rc, timeout;

    if (c == NULL || q == NULL || res == NULL || res->struct_size < sizeof(*res) || max_msgs <= 0) {
        fm_client_errstr(errstr, errstr_size,
                         "consumer, queue, a sized result and max_msgs > 0 "
                         "are required");
        return FERRYMQ_EINVAL;
    }
    ferrymq_pull_result_clear(res);
    memset((char *)res + sizeof(res->struct_size), 0, sizeof(*res) - sizeof(res->struct_size));
    rc = fm_client_queue_addr(&c->core, q, addr, sizeof(addr), &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    fm_client_pull_hdr_init(&h, c->core.conf.s.consumerGroup, q, offset, max_msgs, suspend_ms,
                            expr ? expr : "*", expr_type ? expr_type : "TAG", 0);
    {
        /* the request may be held suspend_ms by the broker: wait that long plus a margin */
        timeout = (int)c->core.conf.s.sendMsgTimeout + (suspend_ms > 0 ? suspend_ms : 0);
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(&c->core, addr, FM_REQ_PULL_MESSAGE, h.ext, FM_CLIENT_PULL_EXT,
                                 fm_slice_make(NULL, 0), timeout, &resp_frame, &arena, &resp, &eb);
    }
    if (rc == FM_OK) {
        rc = pull_result(addr, &resp, res, &eb);
    }
    fm_buf_free(&resp_frame);
    fm_proto_arena_free(&arena);
    if (rc != FM_OK) {
        ferrymq_pull_result_clear(res);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

typedef struct async_pull {
    ferrymq_consumer *c;
    char addr[128];
    ferrymq_pull_cb cb;
    void *opaque;
} async_pull;

static void
async_pull_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    async_pull *a = ud;
    ferrymq_pull_result res;
    fm_errbuf eb;
    int rc = err;
    (void)raw;
    memset(&res, 0, sizeof(res));
    res.struct_size = sizeof(res);
    if (rc == FM_OK) {
        rc = pull_result(a->addr, resp, &res, &eb);
    } else {
        fm_err_set(&eb, rc, "pull from %s failed: %s", a->addr, fm_client_rpc_strerror(rc));
    }
    if (rc != FM_OK) {
        ferrymq_pull_result_clear(&res);
    }
    a->cb(a->opaque, rc, rc == FM_OK ? &res : NULL, rc == FM_OK ? NULL : eb.msg);
    ferrymq_pull_result_clear(&res);
    /* freed here, not handed back: a consumer chaining pulls from its callbacks makes no call
     * from another thread that would free it */
    free(a);
}

/* q's broker address: resolved (and remembered) on a caller's thread, remembered only on the
 * I/O thread. */
static int
async_addr(ferrymq_consumer *c, const ferrymq_queue *q, char *addr, size_t cap, fm_errbuf *eb)
{
    size_t kl = strlen(q->broker_name);
    char *known;
    int rc = FM_OK;
    if (!fm_client_rpc_on_io_thread(c->core.rpc)) {
        if ((rc = fm_client_queue_addr(&c->core, q, addr, cap, eb)) != FM_OK) {
            return rc;
        }
        pthread_mutex_lock(&c->amu);
        known = fm_map_get(&c->addrs, q->broker_name, kl);
        if (known == NULL && (known = calloc(1, 128)) != NULL &&
            fm_map_put(&c->addrs, q->broker_name, kl, known) != FM_OK) {
            free(known);
            known = NULL;
        }
        if (known != NULL) {
            snprintf(known, 128, "%s", addr);
        }
        pthread_mutex_unlock(&c->amu);
        return FM_OK;
    }
    pthread_mutex_lock(&c->amu);
    known = fm_map_get(&c->addrs, q->broker_name, kl);
    if (known != NULL) {
        snprintf(addr, cap, "%s", known);
    } else {
        rc = fm_err_set(eb, FM_EINVAL,
                        "broker %s: no pull to it was started outside a callback yet, so its "
                        "address is not known here",
                        q->broker_name);
    }
    pthread_mutex_unlock(&c->amu);
    return rc;
}

int
ferrymq_consumer_pull_async(ferrymq_consumer *c, const ferrymq_queue *q, int64_t offset,
                            const char *expr, const char *expr_type, int max_msgs, int suspend_ms,
                            ferrymq_pull_cb cb, void *opaque, char *errstr, size_t errstr_size)
{
    fm_client_pull_hdr h;
    fm_errbuf eb;
    async_pull *a;
    int rc = check_pull_args(c, q, max_msgs, errstr, errstr_size);
    if (rc == FERRYMQ_OK && cb == NULL) {
        fm_client_errstr(errstr, errstr_size, "a callback is required");
        rc = FERRYMQ_EINVAL;
    }
    if (rc != FERRYMQ_OK) {
        return rc;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    a->c = c;
    a->cb = cb;
    a->opaque = opaque;
    rc = async_addr(c, q, a->addr, sizeof(a->addr), &eb);
    if (rc == FM_OK) {
        fm_client_pull_hdr_init(&h, c->core.conf.s.consumerGroup, q, offset, max_msgs, suspend_ms,
                                expr ? expr : "*", expr_type ? expr_type : "TAG", 0);
        rc = fm_client_pull_call(c->core.rpc, a->addr, &h,
                                 (int)c->core.conf.s.sendMsgTimeout +
                                     (suspend_ms > 0 ? suspend_ms : 0),
                                 async_pull_done, a, &eb);
    }
    if (rc != FM_OK) {
        free(a);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

static int
offset_call(ferrymq_consumer *c, const ferrymq_queue *q, int update, int64_t *offset, char *errstr,
            size_t errstr_size)
{
    char addr[128], qid[16], off[24];
    fm_buf resp_frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    fm_errbuf eb;
    int rc = fm_client_queue_addr(&c->core, q, addr, sizeof(addr), &eb);
    if (rc == FM_OK) {
        snprintf(qid, sizeof(qid), "%d", q->queue_id);
        snprintf(off, sizeof(off), "%" PRId64, update ? *offset : 0);
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(c->core.conf.s.consumerGroup)},
            {FM_SLICE_LIT("topic"), fm_slice_cstr(q->topic)},
            {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
            {FM_SLICE_LIT("commitOffset"), fm_slice_cstr(off)},
        };
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(
            &c->core, addr, update ? FM_REQ_UPDATE_CONSUMER_OFFSET : FM_REQ_QUERY_CONSUMER_OFFSET,
            ext, update ? 4 : 3, fm_slice_make(NULL, 0), 0, &resp_frame, &arena, &resp, &eb);
        if (rc == FM_OK) {
            if (resp.code == FM_RESP_SUCCESS) {
                if (!update && fm_cmd_ext_i64(&resp, "offset", offset) != FM_OK) {
                    rc = fm_err_set(&eb, FM_EPROTO, "offset reply lacks the offset field");
                }
            } else if (resp.code == FM_RESP_QUERY_NOT_FOUND) {
                rc = fm_err_set(&eb, FM_ENOTFOUND, "group %s has no offset for %s queue %d",
                                c->core.conf.s.consumerGroup, q->topic, q->queue_id);
            } else {
                char remark[256];
                fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
                rc = fm_err_set(&eb, FERRYMQ_EBROKER, "broker answered code %d: %s", resp.code,
                                remark);
            }
        }
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
    }
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
ferrymq_consumer_commit(ferrymq_consumer *c, const ferrymq_queue *q, int64_t offset, char *errstr,
                        size_t errstr_size)
{
    return offset_call(c, q, 1, &offset, errstr, errstr_size);
}

int
ferrymq_consumer_committed(ferrymq_consumer *c, const ferrymq_queue *q, int64_t *offset,
                           char *errstr, size_t errstr_size)
{
    return offset_call(c, q, 0, offset, errstr, errstr_size);
}
