/*
 * txn.c - ferrymq_txn_producer: RocketMQ's TransactionMQProducer over an ordinary producer
 * whose sends are half messages (sysFlag TRANSACTION_PREPARED).
 *
 * ferrymq_txn_send stores the half (with TRAN_MSG=true and PGROUP, as
 * DefaultMQProducerImpl.sendMessageInTransaction sets them), runs the local transaction on the
 * caller's thread and sends END_TRANSACTION to the broker that holds the half: two-way for
 * commit and rollback, so a lost one is logged (the broker's check resolves it then), oneway
 * for unknown (RocketMQ brokers never answer that one).
 *
 * Check-back: brokers send CHECK_TRANSACTION_STATE over the connection the producer's
 * heartbeat came from, so the producer heartbeats (producerDataSet = its group) every broker
 * of a topic's route before its first send there and every heartbeatBrokerInterval after.
 * The request arrives on the I/O thread, which only queues it; the check thread calls the
 * application's check callback and answers with END_TRANSACTION, fromTransactionCheck=true,
 * to the broker named by the message's STOREHOST (the address the broker advertises), as the
 * C++ client's checkTransactionState does.
 */
#include "client/client_int.h"

#include "common/clock.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BROKERS 32
#define FM_TBW102 "TBW102" /* the topic Java producers route unknown topics through */
#define MAX_QUEUED_CHECKS 1024

/* One CHECK_TRANSACTION_STATE waiting for the check thread. */
typedef struct check_job {
    struct check_job *next;
    ferrymq_msg *msg; /* owned */
    int64_t tsto, clo;
    char addr[64];
    char tid[128];
} check_job;

struct ferrymq_txn_producer {
    ferrymq_producer *p;
    client_core *core; /* p's */
    ferrymq_txn_check_cb check;
    void *opaque;
    char client_id[400];

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;
    check_job *head, *tail;
    int n_jobs;
    int stop;
    char brokers[MAX_BROKERS][128]; /* heartbeated, for the periodic round */
    int n_brokers;
    pthread_t thread;
    int thread_running;
    atomic_int in_local; /* local callbacks running: close refuses meanwhile */
};

static void
job_free(check_job *j)
{
    if (j != NULL) {
        ferrymq_msg_free(j->msg);
        free(j);
    }
}

static char *
heartbeat_body(ferrymq_txn_producer *tp)
{
    cJSON *root = cJSON_CreateObject(), *set, *g;
    char *s;
    if (root == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(root, "clientID", tp->client_id);
    set = cJSON_AddArrayToObject(root, "producerDataSet");
    g = cJSON_CreateObject();
    cJSON_AddItemToArray(set, g);
    cJSON_AddStringToObject(g, "groupName", tp->core->conf.s.producerGroup);
    cJSON_AddArrayToObject(root, "consumerDataSet");
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* One synchronous request whose answer only matters as SUCCESS or not. */
static int
call_ok(ferrymq_txn_producer *tp, const char *addr, int code, const fm_cmd_ext *ext, size_t n,
        fm_slice body, fm_errbuf *eb)
{
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(tp->core, addr, code, ext, n, body, 0, &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        char remark[200];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        rc = fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", addr, resp.code,
                        remark);
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

static void
heartbeat(ferrymq_txn_producer *tp, const char *addr)
{
    char *body = heartbeat_body(tp);
    fm_errbuf eb;
    if (body == NULL) {
        return;
    }
    if (call_ok(tp, addr, FM_REQ_HEART_BEAT, NULL, 0, fm_slice_cstr(body), &eb) != FM_OK) {
        fm_client_log(&tp->core->conf, 1, "transaction producer heartbeat to %s: %s", addr, eb.msg);
    }
    free(body);
}

/* Heartbeat the brokers of topic's route not yet known, so a check can reach us. */
static void
introduce(ferrymq_txn_producer *tp, const char *topic)
{
    client_route *r = NULL;
    fm_errbuf eb;
    if (fm_client_core_route(tp->core, topic, 0, 1, &r, &eb) != FM_OK) {
        return; /* the send reports it */
    }
    for (int i = 0; i < r->n; i++) {
        int known = 0;
        pthread_mutex_lock(&tp->mu);
        for (int k = 0; k < tp->n_brokers && !known; k++) {
            known = strcmp(tp->brokers[k], r->q[i].addr) == 0;
        }
        if (!known && tp->n_brokers < MAX_BROKERS) {
            snprintf(tp->brokers[tp->n_brokers++], 128, "%s", r->q[i].addr);
        }
        pthread_mutex_unlock(&tp->mu);
        if (!known) {
            heartbeat(tp, r->q[i].addr);
        }
    }
    fm_client_route_release(r);
}

static const char *
wire_state(int state)
{
    return state == FERRYMQ_TXN_COMMIT ? "8" : state == FERRYMQ_TXN_ROLLBACK ? "12" : "0";
}

static void
oneway_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    (void)ud;
    (void)err;
    (void)resp;
    (void)raw;
}

/* END_TRANSACTION (EndTransactionRequestHeader, as the Java and C++ clients fill it). */
static int
end_transaction(ferrymq_txn_producer *tp, const char *addr, int64_t tsto, int64_t clo,
                const char *tid, int state, int from_check, fm_errbuf *eb)
{
    char ts[24], cl[24];
    fm_cmd_ext ext[7];
    size_t n = sizeof(ext) / sizeof(ext[0]);
    snprintf(ts, sizeof(ts), "%" PRId64, tsto);
    snprintf(cl, sizeof(cl), "%" PRId64, clo);
    ext[0] =
        (fm_cmd_ext){FM_SLICE_LIT("producerGroup"), fm_slice_cstr(tp->core->conf.s.producerGroup)};
    ext[1] = (fm_cmd_ext){FM_SLICE_LIT("tranStateTableOffset"), fm_slice_cstr(ts)};
    ext[2] = (fm_cmd_ext){FM_SLICE_LIT("commitLogOffset"), fm_slice_cstr(cl)};
    ext[3] = (fm_cmd_ext){FM_SLICE_LIT("commitOrRollback"), fm_slice_cstr(wire_state(state))};
    ext[4] = (fm_cmd_ext){FM_SLICE_LIT("fromTransactionCheck"),
                          from_check ? FM_SLICE_LIT("true") : FM_SLICE_LIT("false")};
    ext[5] = (fm_cmd_ext){FM_SLICE_LIT("msgId"), fm_slice_cstr(tid)};
    ext[6] = (fm_cmd_ext){FM_SLICE_LIT("transactionId"), fm_slice_cstr(tid)};
    if (state == FERRYMQ_TXN_COMMIT || state == FERRYMQ_TXN_ROLLBACK) {
        return call_ok(tp, addr, FM_REQ_END_TRANSACTION, ext, n, fm_slice_make(NULL, 0), eb);
    }
    {
        fm_buf frame = {0};
        int32_t opaque = fm_client_rpc_next_opaque(tp->core->rpc);
        int rc = fm_client_request_encode(&frame, FM_REQ_END_TRANSACTION, FM_CMD_FLAG_ONEWAY,
                                          opaque, ext, n, fm_slice_make(NULL, 0), eb);
        if (rc == FM_OK) {
            rc =
                fm_client_rpc_call(tp->core->rpc, addr, &frame, opaque, 1000, 1, oneway_done, NULL);
        }
        fm_buf_free(&frame);
        return rc;
    }
}

/* I/O thread: queue a CHECK_TRANSACTION_STATE for the check thread; never blocks. */
static void
on_request(void *ud, const fm_cmd *req)
{
    ferrymq_txn_producer *tp = ud;
    check_job *j;
    fm_msg_view v;
    fm_slice tid;
    if (req->code != FM_REQ_CHECK_TRANSACTION_STATE) {
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return; /* the broker asks again next round */
    }
    if (fm_cmd_ext_i64(req, "tranStateTableOffset", &j->tsto) != FM_OK ||
        fm_cmd_ext_i64(req, "commitLogOffset", &j->clo) != FM_OK ||
        fm_msg_decode(req->body.ptr, req->body.len, &v, NULL) != FM_OK || v.store_host.len != 8 ||
        fm_client_msg_from_record(req->body.ptr, req->body.len, &j->msg) != FM_OK) {
        fm_client_log(&tp->core->conf, 1, "malformed CHECK_TRANSACTION_STATE ignored");
        job_free(j);
        return;
    }
    snprintf(j->addr, sizeof(j->addr), "%u.%u.%u.%u:%u", v.store_host.ptr[0], v.store_host.ptr[1],
             v.store_host.ptr[2], v.store_host.ptr[3], fm_be32(v.store_host.ptr + 4));
    tid = fm_cmd_ext_get(req, "transactionId");
    if (tid.ptr == NULL || tid.len == 0) {
        tid = fm_cmd_ext_get(req, "msgId");
    }
    if (tid.ptr != NULL) {
        fm_slice_to_cstr(tid, j->tid, sizeof(j->tid));
    }
    pthread_mutex_lock(&tp->mu);
    if (tp->stop || tp->n_jobs >= MAX_QUEUED_CHECKS) {
        pthread_mutex_unlock(&tp->mu);
        job_free(j);
        return;
    }
    if (tp->tail != NULL) {
        tp->tail->next = j;
    } else {
        tp->head = j;
    }
    tp->tail = j;
    tp->n_jobs++;
    pthread_cond_signal(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
}

/* The check thread: answers checks, and heartbeats every heartbeatBrokerInterval. */
static void *
check_main(void *arg)
{
    ferrymq_txn_producer *tp = arg;
    int64_t next_hb = fm_clock_mono_ms() + tp->core->conf.s.heartbeatBrokerInterval;
    pthread_setname_np(pthread_self(), "fm-txn-check");
    /* As the Java producer, which starts with TBW102's route: every broker that may create a
     * topic hears from us at once, so a restarted producer is asked about the transactions
     * its predecessor left open before it sends anything. */
    introduce(tp, FM_TBW102);
    pthread_mutex_lock(&tp->mu);
    while (!tp->stop) {
        int64_t now = fm_clock_mono_ms();
        if (tp->head != NULL) {
            check_job *j = tp->head;
            int state;
            fm_errbuf eb;
            tp->head = j->next;
            if (tp->head == NULL) {
                tp->tail = NULL;
            }
            tp->n_jobs--;
            pthread_mutex_unlock(&tp->mu);
            state = tp->check(tp->opaque, j->msg);
            if (state != FERRYMQ_TXN_COMMIT && state != FERRYMQ_TXN_ROLLBACK) {
                state = FERRYMQ_TXN_UNKNOWN;
            }
            if (end_transaction(tp, j->addr, j->tsto, j->clo, j->tid, state, 1, &eb) != FM_OK) {
                fm_client_log(&tp->core->conf, 1, "answer to the check of %s: %s", j->tid, eb.msg);
            }
            job_free(j);
            pthread_mutex_lock(&tp->mu);
        } else if (now >= next_hb) {
            char addrs[MAX_BROKERS][128];
            int n = tp->n_brokers;
            memcpy(addrs, tp->brokers, sizeof(addrs));
            pthread_mutex_unlock(&tp->mu);
            for (int i = 0; i < n; i++) {
                heartbeat(tp, addrs[i]);
            }
            introduce(tp, FM_TBW102); /* brokers that joined since */
            next_hb = fm_clock_mono_ms() + tp->core->conf.s.heartbeatBrokerInterval;
            pthread_mutex_lock(&tp->mu);
        } else {
            struct timespec ts;
            int64_t wait = next_hb - now;
            fm_clock_wall_deadline(&ts, wait);
            pthread_cond_timedwait(&tp->cv, &tp->mu, &ts);
        }
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

int
ferrymq_txn_producer_new(const ferrymq_conf *conf, ferrymq_txn_check_cb check, void *opaque,
                         ferrymq_txn_producer **out, char *errstr, size_t errstr_size)
{
    ferrymq_txn_producer *tp;
    uint8_t ip[4];
    int rc;
    if (conf == NULL || check == NULL || out == NULL) {
        fm_client_errstr(errstr, errstr_size, "conf, a check callback and out are required");
        return FERRYMQ_EINVAL;
    }
    tp = calloc(1, sizeof(*tp));
    if (tp == NULL) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    rc = ferrymq_producer_new(conf, &tp->p, errstr, errstr_size);
    if (rc != FERRYMQ_OK) {
        free(tp);
        return rc;
    }
    tp->core = fm_client_producer_core(tp->p);
    fm_client_producer_set_half(tp->p);
    tp->check = check;
    tp->opaque = opaque;
    fm_client_local_ip(conf->s.clientIP, ip);
    /* pid and the clock make two producers of one process two clients, as Java's ids do */
    snprintf(tp->client_id, sizeof(tp->client_id), "%u.%u.%u.%u@%ld#%s#%" PRId64, ip[0], ip[1],
             ip[2], ip[3], (long)getpid(), conf->s.instanceName, fm_clock_mono_ns());
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    fm_client_rpc_set_request_cb(tp->core->rpc, on_request, tp);
    if (pthread_create(&tp->thread, NULL, check_main, tp) != 0) {
        ferrymq_producer_close(tp->p, 0);
        pthread_cond_destroy(&tp->cv);
        pthread_mutex_destroy(&tp->mu);
        free(tp);
        fm_client_errstr(errstr, errstr_size, "cannot start the check thread");
        return FERRYMQ_EIO;
    }
    tp->thread_running = 1;
    *out = tp;
    return FERRYMQ_OK;
}

/* The address of the broker named broker_name in topic's route. */
static int
broker_addr(ferrymq_txn_producer *tp, const char *topic, const char *broker_name, char *addr,
            size_t cap)
{
    client_route *r = NULL;
    fm_errbuf eb;
    int rc = FM_ENOTFOUND;
    if (fm_client_core_route(tp->core, topic, 0, 1, &r, &eb) != FM_OK) {
        return FM_ENOTFOUND;
    }
    for (int i = 0; i < r->n && rc != FM_OK; i++) {
        if (strcmp(r->q[i].broker_name, broker_name) == 0) {
            snprintf(addr, cap, "%s", r->q[i].addr);
            rc = FM_OK;
        }
    }
    fm_client_route_release(r);
    return rc;
}

int
ferrymq_txn_send(ferrymq_txn_producer *tp, ferrymq_msg *msg, ferrymq_txn_local_cb local, void *arg,
                 ferrymq_send_result *res, int *state, char *errstr, size_t errstr_size)
{
    char addr[128];
    uint8_t host[20];
    size_t host_len = sizeof(host);
    uint64_t clo;
    fm_errbuf eb;
    int rc, st;
    if (tp == NULL || msg == NULL || local == NULL || res == NULL ||
        res->struct_size < sizeof(*res)) {
        fm_client_errstr(errstr, errstr_size,
                         "producer, message, local callback and a sized result are required");
        return FERRYMQ_EINVAL;
    }
    if (ferrymq_msg_property(msg, FM_PROP_DELAY) != NULL) {
        /* as Java's sendMessageInTransaction */
        fm_client_errstr(errstr, errstr_size, "delay level is not supported for transactions");
        return FERRYMQ_EINVAL;
    }
    if (ferrymq_msg_set_property(msg, FM_PROP_TRANSACTION_PREPARED, "true") != FERRYMQ_OK ||
        ferrymq_msg_set_property(msg, FM_PROP_PRODUCER_GROUP, tp->core->conf.s.producerGroup) !=
            FERRYMQ_OK) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    introduce(tp, ferrymq_msg_topic(msg));
    rc = ferrymq_producer_send(tp->p, msg, res, errstr, errstr_size);
    if (rc != FERRYMQ_OK) {
        return rc;
    }
    atomic_fetch_add(&tp->in_local, 1);
    st = local(tp->opaque, msg, arg);
    atomic_fetch_sub(&tp->in_local, 1);
    if (st != FERRYMQ_TXN_COMMIT && st != FERRYMQ_TXN_ROLLBACK) {
        st = FERRYMQ_TXN_UNKNOWN;
    }
    if (state != NULL) {
        *state = st;
    }
    if (fm_msgid_parse(fm_slice_cstr(res->offset_msg_id), host, &host_len, &clo) != FM_OK ||
        broker_addr(tp, ferrymq_msg_topic(msg), res->broker_name, addr, sizeof(addr)) != FM_OK) {
        fm_client_log(&tp->core->conf, 1,
                      "transaction %s: cannot end it (offset id %s, broker %s); the broker's "
                      "check will",
                      res->msg_id, res->offset_msg_id, res->broker_name);
        return FERRYMQ_OK;
    }
    if (end_transaction(tp, addr, res->queue_offset, (int64_t)clo, res->msg_id, st, 0, &eb) !=
        FM_OK) {
        fm_client_log(&tp->core->conf, 1,
                      "transaction %s: END_TRANSACTION failed (%s); the broker's check will "
                      "resolve it",
                      res->msg_id, eb.msg);
    }
    return FERRYMQ_OK;
}

int
ferrymq_txn_producer_close(ferrymq_txn_producer *tp, int timeout_ms)
{
    char addrs[MAX_BROKERS][128];
    int n, rc;
    if (tp == NULL) {
        return FERRYMQ_OK;
    }
    if ((tp->thread_running && pthread_equal(pthread_self(), tp->thread)) ||
        atomic_load(&tp->in_local) > 0) {
        return FERRYMQ_EBUSY;
    }
    pthread_mutex_lock(&tp->mu);
    tp->stop = 1;
    pthread_cond_signal(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    if (tp->thread_running) {
        pthread_join(tp->thread, NULL);
    }
    n = tp->n_brokers;
    memcpy(addrs, tp->brokers, sizeof(addrs));
    for (int i = 0; i < n; i++) {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("clientID"), fm_slice_cstr(tp->client_id)},
            {FM_SLICE_LIT("producerGroup"), fm_slice_cstr(tp->core->conf.s.producerGroup)},
        };
        fm_errbuf eb;
        call_ok(tp, addrs[i], FM_REQ_UNREGISTER_CLIENT, ext, 2, fm_slice_make(NULL, 0), &eb);
    }
    /* the I/O thread may still queue a check until the transport stops */
    rc = ferrymq_producer_close(tp->p, timeout_ms);
    while (tp->head != NULL) {
        check_job *j = tp->head;
        tp->head = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp);
    return rc;
}
