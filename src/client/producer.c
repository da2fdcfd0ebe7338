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
    pthread_mutex_t mu; /* the id generator */
    fm_uniq_gen gen;
    atomic_uint next_queue;
};

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
    fm_client_local_ip(conf->s.clientIP, ip);
    /* The salt separates producers in one process, as Java's class-loader hash does. */
    fm_uniq_gen_init(&p->gen, ip, (uint16_t)getpid(),
                     (uint32_t)(uintptr_t)p ^ (uint32_t)time(NULL));
    *out = p;
    return FERRYMQ_OK;
}

int
ferrymq_producer_close(ferrymq_producer *p, int timeout_ms)
{
    (void)timeout_ms; /* sends are synchronous so far: nothing is in flight at close */
    if (p == NULL) {
        return FERRYMQ_OK;
    }
    fm_client_core_destroy(&p->core);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return FERRYMQ_OK;
}

static int
encode_send(ferrymq_producer *p, const ferrymq_msg *msg, const route_queue *q, int via_default,
            int32_t opaque, fm_buf *frame, fm_errbuf *eb)
{
    fm_buf props = {0}, zbody = {0};
    char qid[16], born[24], sysflag[16];
    fm_cmd req;
    fm_slice body = fm_slice_make(msg->body, msg->body_len);
    int flag = 0, rc;

    if ((rc = fm_client_msg_props_encode(msg, &props)) != FM_OK) {
        return fm_err_set(eb, rc, "cannot encode properties");
    }
    /* Bodies over the threshold go compressed, flagged in sysFlag, as RocketMQ clients do. */
    if ((int64_t)body.len > p->core.conf.s.compressMsgBodyOverHowmuch) {
        uLongf zlen = compressBound((uLong)body.len);
        if (fm_buf_reserve(&zbody, zlen) == FM_OK &&
            compress2(zbody.data, &zlen, body.ptr, (uLong)body.len, 5) == Z_OK && zlen < body.len) {
            zbody.len = zlen;
            body = fm_buf_slice(&zbody);
            flag |= FM_MSG_SYSFLAG_COMPRESSED;
        }
    }
    snprintf(qid, sizeof(qid), "%d", q->qid);
    snprintf(born, sizeof(born), "%" PRId64, fm_clock_wall_ms());
    snprintf(sysflag, sizeof(sysflag), "%d", flag);
    fm_buf_append_u8(&props, 0);
    props.len--;
    {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("a"), fm_slice_cstr(p->core.conf.s.producerGroup)},
            {FM_SLICE_LIT("b"), fm_slice_cstr(msg->topic)},
            {FM_SLICE_LIT("c"), FM_SLICE_LIT("TBW102")},
            {FM_SLICE_LIT("d"), FM_SLICE_LIT("4")},
            {FM_SLICE_LIT("e"), fm_slice_cstr(qid)},
            {FM_SLICE_LIT("f"), fm_slice_cstr(sysflag)},
            {FM_SLICE_LIT("g"), fm_slice_cstr(born)},
            {FM_SLICE_LIT("h"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("i"), fm_buf_slice(&props)},
            {FM_SLICE_LIT("j"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("k"), FM_SLICE_LIT("false")},
        };
        (void)via_default;
        memset(&req, 0, sizeof(req));
        req.code = FM_REQ_SEND_MESSAGE_V2;
        req.language = FM_LANG_OTHER;
        req.opaque = opaque;
        req.serialize = FM_SERIALIZE_ROCKETMQ;
        req.ext = ext;
        req.n_ext = sizeof(ext) / sizeof(ext[0]);
        req.body = body;
        rc = fm_proto_cmd_encode(frame, &req, eb);
    }
    fm_buf_free(&props);
    fm_buf_free(&zbody);
    return rc;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int
ferrymq_producer_send(ferrymq_producer *p, ferrymq_msg *msg, ferrymq_send_result *res, char *errstr,
                      size_t errstr_size)
{
    client_route *route = NULL;
    fm_errbuf eb;
    int attempts, rc = FM_EIO, last_broker = -1;
    unsigned start;

    if (p == NULL || msg == NULL || res == NULL || res->struct_size < sizeof(*res)) {
        fm_client_errstr(errstr, errstr_size, "producer, message and a sized result are required");
        return FERRYMQ_EINVAL;
    }
    if ((int64_t)msg->body_len > p->core.conf.s.maxMessageSize) {
        fm_client_errstr(errstr, errstr_size, "body of %zu bytes exceeds maxMessageSize",
                         msg->body_len);
        return FERRYMQ_EINVAL;
    }
    if (ferrymq_msg_property(msg, FM_PROP_UNIQ_KEY) == NULL) {
        char id[33];
        pthread_mutex_lock(&p->mu);
        fm_uniq_next(&p->gen, fm_clock_wall_ms(), id);
        pthread_mutex_unlock(&p->mu);
        if (ferrymq_msg_set_property(msg, FM_PROP_UNIQ_KEY, id) != FERRYMQ_OK) {
            fm_client_errstr(errstr, errstr_size, "out of memory");
            return FERRYMQ_ENOMEM;
        }
    }
    attempts = 1 + (int)p->core.conf.s.retryTimesWhenSendFailed;
    start = atomic_fetch_add(&p->next_queue, 1);
    for (int a = 0; a < attempts; a++) {
        fm_buf frame = {0}, resp_frame = {0};
        fm_cmd_arena arena;
        fm_cmd resp;
        route_queue q;
        int32_t opaque;
        free(route);
        route = NULL;
        rc = fm_client_core_route(&p->core, msg->topic, a > 0 && rc == FM_EIO, 1, &route, &eb);
        if (rc != FM_OK) {
            break;
        }
        {
            int keep = 0;
            for (int k = 0; k < route->n; k++) {
                if (route->q[k].writable) {
                    route->q[keep++] = route->q[k];
                }
            }
            route->n = keep;
        }
        if (route->n == 0) {
            rc = fm_err_set(&eb, FM_ENOTFOUND, "topic %s has no writable queue", msg->topic);
            break;
        }
        /* Next queue round-robin; on a retry, prefer a queue on another broker. */
        q = route->q[(start + (unsigned)a) % (unsigned)route->n];
        for (int k = 0; a > 0 && k < route->n; k++) {
            const route_queue *c =
                &route->q[(start + (unsigned)a + (unsigned)k) % (unsigned)route->n];
            if (last_broker < 0 || strcmp(c->broker_name, route->q[last_broker].broker_name) != 0) {
                q = *c;
                break;
            }
        }
        last_broker = 0;
        for (int k = 0; k < route->n; k++) {
            if (strcmp(route->q[k].broker_name, q.broker_name) == 0) {
                last_broker = k;
                break;
            }
        }
        opaque = fm_client_rpc_next_opaque(p->core.rpc);
        fm_proto_arena_init(&arena);
        rc = encode_send(p, msg, &q, route->via_default, opaque, &frame, &eb);
        if (rc == FM_OK) {
            rc = fm_client_rpc_call_sync(p->core.rpc, q.addr, &frame, opaque,
                                         (int)p->core.conf.s.sendMsgTimeout, &resp_frame, &arena,
                                         &resp, &eb);
        }
        if (rc == FM_OK) {
            if (resp.code == FM_RESP_SUCCESS) {
                int64_t off = -1;
                fm_slice mid = fm_cmd_ext_get(&resp, "msgId");
                memset((char *)res + sizeof(res->struct_size), 0,
                       sizeof(*res) - sizeof(res->struct_size));
                snprintf(res->msg_id, sizeof(res->msg_id), "%s",
                         ferrymq_msg_property(msg, FM_PROP_UNIQ_KEY));
                fm_slice_to_cstr(mid, res->offset_msg_id, sizeof(res->offset_msg_id));
                snprintf(res->broker_name, sizeof(res->broker_name), "%s", q.broker_name);
                res->queue_id = q.qid;
                fm_cmd_ext_i64(&resp, "queueOffset", &off);
                res->queue_offset = off;
            } else {
                char remark[256];
                fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
                rc = fm_err_set(&eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", q.addr,
                                resp.code, remark);
                if (resp.code == FM_RESP_SYSTEM_BUSY) {
                    /* The broker sheds load: back off, then try again (another queue). */
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
        fm_client_log(&p->core.conf, 1, "send attempt %d to %s failed: %s", a + 1, q.addr, eb.msg);
    }
    free(route);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}
