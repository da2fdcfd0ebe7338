/*
 * txn.c - transactional messages, as RocketMQ 4.9's TransactionalMessageServiceImpl,
 * EndTransactionProcessor and TransactionalMessageCheckService (docs/protocol.md,
 * "Transactional messages").
 *
 * A half message (a send with TRAN_MSG=true) is stored in RMQ_SYS_TRANS_HALF_TOPIC queue 0
 * with REAL_TOPIC/REAL_QID naming its destination, so no consumer of the real topic can see it;
 * the broker tracks it in memory until END_TRANSACTION resolves it: commit writes the real
 * message (sysflag TRANSACTION_COMMIT, PREPAREDTXOFFSET = the half's commit log offset),
 * rollback writes nothing. Either way an op message goes to RMQ_SYS_TRANS_OP_HALF_TOPIC queue
 * 0 with the half's queue offset as body and tag "d", which is what makes a resolution
 * durable: after a restart, halves with an op are done and the rest are checked again.
 *
 * The check-back runs on the broker tick: every transactionCheckInterval each unresolved half
 * older than transactionTimeOut is put back (a copy appended to the half queue with
 * TRANSACTION_CHECK_TIMES + 1, and an op for the old copy, as RocketMQ's putBackHalfMsgQueue)
 * and the copy's offsets go to a live producer of its group in CHECK_TRANSACTION_STATE, whose
 * answer is an END_TRANSACTION with fromTransactionCheck=true. A half checked
 * transactionCheckMax times is discarded to TRANS_CHECK_MAX_TIME_TOPIC. At most
 * CHECKS_PER_TICK halves are checked per tick so the loop never stalls.
 *
 * Two rules go beyond RocketMQ so that a transaction is applied at most once: the first
 * END_TRANSACTION that resolves a transaction wins (a later one for any copy of the same
 * transaction is answered SUCCESS and changes nothing), and copies of one transaction are
 * joined by UNIQ_KEY (a copy left unresolved by a crash between the put-back and its op is
 * resolved as superseded on recovery).
 *
 * Progress is kept as RocketMQ keeps it, as the offsets of the pseudo-group CID_RMQ_SYS_TRANS
 * on the half and op queues: the half offset is the oldest unresolved half; the op offset
 * moves to the op queue's end whenever nothing is unresolved. Recovery reads the ops from
 * the op offset and the halves from the half offset.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TXN_GROUP "CID_RMQ_SYS_TRANS" /* MixAll.CID_SYS_RMQ_TRANS */
#define PROP_CHECK_TIMES "TRANSACTION_CHECK_TIMES"
#define OP_TAG "d" /* TransactionalMessageUtil.REMOVETAG */
#define CHECKS_PER_TICK 64
#define SCAN_BATCH 32

/* An unresolved half message: its latest copy in the half queue. */
typedef struct txn_half {
    int64_t qoff;  /* queue offset of the latest copy in the half queue */
    uint64_t phys; /* its commit log offset */
    int64_t born_ms;
    int checks;     /* TRANSACTION_CHECK_TIMES of the latest copy */
    uint32_t round; /* the check round that last checked it */
    char key[128];  /* UNIQ_KEY; "" when it has none (or a longer one) */
} txn_half;

int
fm_broker_txn_is_half(fm_slice props)
{
    return fm_broker_txn_half_value(fm_props_get(props, FM_PROP_TRANSACTION_PREPARED));
}

int
fm_broker_txn_half_value(fm_slice v)
{
    return v.ptr != NULL && v.len == 4 && strncasecmp((const char *)v.ptr, "true", 4) == 0;
}

int
fm_broker_txn_op_parse(fm_slice body, int64_t *offs, int max, int *n)
{
    size_t i = 0;
    *n = 0;
    while (i < body.len) {
        int64_t v = 0;
        size_t start = i;
        while (i < body.len && body.ptr[i] >= '0' && body.ptr[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10) {
                return FM_EPROTO;
            }
            v = v * 10 + (body.ptr[i] - '0');
            i++;
        }
        if (i == start || *n == max || (i < body.len && body.ptr[i] != ',')) {
            return FM_EPROTO;
        }
        offs[(*n)++] = v;
        if (i < body.len) {
            i++; /* the comma: a value must follow it */
            if (i == body.len) {
                return FM_EPROTO;
            }
        }
    }
    return *n > 0 ? FM_OK : FM_EPROTO;
}

static txn_half *
by_off(fm_broker *b, int64_t qoff)
{
    return fm_map_get(&b->txn_by_off, &qoff, sizeof(qoff));
}

static void
forget(fm_broker *b, txn_half *e)
{
    fm_map_del(&b->txn_by_off, &e->qoff, sizeof(e->qoff));
    if (e->key[0] != '\0' && fm_map_get(&b->txn_by_key, e->key, strlen(e->key)) == e) {
        fm_map_del(&b->txn_by_key, e->key, strlen(e->key));
    }
    free(e);
}

/* Append the op message resolving the half at qoff (RocketMQ's deletePrepareMessage). */
static int
write_op(fm_broker *b, int64_t qoff, const char *why)
{
    static const uint8_t props[] = {'T', 'A', 'G', 'S', FM_PROPS_NAME_SEP, 'd', FM_PROPS_PAIR_SEP};
    char body[24];
    fm_msg_view m;
    fm_store_put_result res;
    fm_errbuf eb;
    int rc;
    memset(&m, 0, sizeof(m));
    snprintf(body, sizeof(body), "%" PRId64, qoff);
    m.body = fm_slice_cstr(body);
    m.topic = FM_SLICE_LIT(FM_BROKER_TXN_OP_TOPIC);
    m.properties = fm_slice_make(props, sizeof(props));
    m.born_timestamp = fm_clock_wall_ms();
    m.born_host = fm_slice_make(b->store_host, 8);
    m.store_host = fm_slice_make(b->store_host, 8);
    fm_buf_reset(&b->rec);
    rc = fm_msg_encode(&b->rec, &m, &eb);
    if (rc == FM_OK) {
        rc = fm_store_append(b->st, b->rec.data, b->rec.len, &res, &eb);
    }
    if (rc != FM_OK) {
        FM_LOGE("broker", "FM-TXN-OP-FAIL", "half_offset=%" PRId64 " why=%s err=%s msg=\"%s\"",
                qoff, why, fm_errname(rc), eb.msg);
    }
    return rc;
}

/* Start tracking a half (from its decoded record); a copy of a transaction already tracked
 * supersedes the older copy, which gets its op. */
static int
track(fm_broker *b, const fm_msg_view *m)
{
    fm_slice key = fm_props_get(m->properties, FM_PROP_UNIQ_KEY);
    fm_slice ct = fm_props_get(m->properties, PROP_CHECK_TIMES);
    txn_half *e = calloc(1, sizeof(*e)), *old;
    int64_t checks = 0;
    if (e == NULL) {
        return FM_ENOMEM;
    }
    e->qoff = m->queue_offset;
    e->phys = (uint64_t)m->phys_offset;
    e->born_ms = m->born_timestamp;
    if (ct.ptr != NULL && fm_slice_to_i64(ct, &checks) == FM_OK && checks > 0 && checks < 1000000) {
        e->checks = (int)checks;
    }
    e->round = b->txn_round - 1;
    if (key.ptr != NULL && key.len > 0) {
        fm_slice_to_cstr(key, e->key, sizeof(e->key)); /* too long: stays "", no joining */
    }
    if (fm_map_put(&b->txn_by_off, &e->qoff, sizeof(e->qoff), e) != FM_OK) {
        free(e);
        return FM_ENOMEM;
    }
    if (e->key[0] == '\0') {
        return FM_OK;
    }
    old = fm_map_get(&b->txn_by_key, e->key, strlen(e->key));
    if (old != NULL && old->qoff < e->qoff) {
        FM_LOGI("broker", "FM-TXN-SUPERSEDED", "half_offset=%" PRId64 " by=%" PRId64 " key=%s",
                old->qoff, e->qoff, e->key);
        write_op(b, old->qoff, "superseded");
        forget(b, old);
    }
    if (fm_map_put(&b->txn_by_key, e->key, strlen(e->key), e) != FM_OK) {
        e->key[0] = '\0'; /* tracked, only not joinable */
    }
    return FM_OK;
}

int
fm_broker_txn_track(fm_broker *b, const uint8_t *rec, size_t len)
{
    fm_msg_view m;
    if (fm_msg_decode(rec, len, &m, NULL) != FM_OK) {
        return FM_EPROTO;
    }
    return track(b, &m);
}

/* Read the half queue's records [from, end) one batch at a time; cb gets each decoded one. */
static int
scan(fm_broker *b, const char *topic, int64_t from,
     void (*cb)(fm_broker *, const fm_msg_view *, void *), void *ud)
{
    int64_t off = from;
    for (;;) {
        fm_store_get_result r;
        int n;
        if (fm_store_get(b->st, topic, 0, off, SCAN_BATCH, 4u << 20, NULL, NULL, &r) != FM_OK) {
            return FM_EIO;
        }
        if (r.status != FM_STORE_FOUND) {
            int again = r.status == FM_STORE_OFFSET_TOO_SMALL && r.next_begin_offset > off;
            off = r.next_begin_offset;
            fm_store_get_release(&r);
            if (again) {
                continue; /* retention removed the oldest: go on from the first kept */
            }
            return FM_OK;
        }
        n = r.n_msgs;
        for (int i = 0; i < r.n_msgs; i++) {
            fm_msg_view m;
            if (fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL) == FM_OK) {
                cb(b, &m, ud);
            }
        }
        off = r.next_begin_offset;
        fm_store_get_release(&r);
        if (n == 0) {
            return FM_OK;
        }
    }
}

typedef struct recover_ctx {
    fm_map done; /* half queue offsets with an op */
    int64_t half_from;
    int64_t n_ops, n_halves;
    int oom;
} recover_ctx;

static void
recover_op(fm_broker *b, const fm_msg_view *m, void *ud)
{
    recover_ctx *rc = ud;
    int64_t offs[64];
    int n;
    (void)b;
    if (fm_broker_txn_op_parse(m->body, offs, 64, &n) != FM_OK) {
        FM_LOGW("broker", "FM-TXN-OP-BAD", "op_offset=%" PRId64 " len=%zu", m->queue_offset,
                m->body.len);
        return;
    }
    rc->n_ops++;
    for (int i = 0; i < n; i++) {
        if (offs[i] >= rc->half_from &&
            fm_map_put(&rc->done, &offs[i], sizeof(offs[i]), (void *)1) != FM_OK) {
            rc->oom = 1;
        }
    }
}

static void
recover_half(fm_broker *b, const fm_msg_view *m, void *ud)
{
    recover_ctx *rc = ud;
    if (fm_map_get(&rc->done, &m->queue_offset, sizeof(m->queue_offset)) != NULL) {
        return;
    }
    rc->n_halves++;
    if (track(b, m) != FM_OK) {
        rc->oom = 1;
    }
}

/* Save progress: the half offset is the oldest unresolved half (or the queue end). */
static void
save_progress(fm_broker *b)
{
    int64_t min = fm_store_max_offset(b->st, FM_BROKER_TXN_HALF_TOPIC, 0);
    size_t pos = 0, kl;
    const char *k;
    void *v;
    while (fm_map_next(&b->txn_by_off, &pos, &k, &kl, &v)) {
        const txn_half *e = v;
        if (e->qoff < min) {
            min = e->qoff;
        }
    }
    fm_store_offset_commit(b->st, TXN_GROUP, FM_BROKER_TXN_HALF_TOPIC, 0, min);
    if (b->txn_by_off.n == 0) {
        /* every op so far names a half below the half offset: none is needed again */
        fm_store_offset_commit(b->st, TXN_GROUP, FM_BROKER_TXN_OP_TOPIC, 0,
                               fm_store_max_offset(b->st, FM_BROKER_TXN_OP_TOPIC, 0));
    }
}

int
fm_broker_txn_open(fm_broker *b, fm_errbuf *eb)
{
    recover_ctx rc;
    int64_t op_from;
    int r;
    /* Write-only for clients: a pull of them is refused (NO_PERMISSION) and h_send refuses
     * sends to them by name, so nothing outside this file reads or forges a half. */
    if ((r = fm_broker_topic_ensure(b, FM_BROKER_TXN_HALF_TOPIC, 1, 2, NULL, eb)) != FM_OK ||
        (r = fm_broker_topic_ensure(b, FM_BROKER_TXN_OP_TOPIC, 1, 2, NULL, eb)) != FM_OK ||
        (r = fm_broker_topic_ensure(b, FM_BROKER_TXN_MAX_TOPIC, 1, 6, NULL, eb)) != FM_OK) {
        return r;
    }
    b->txn_round = 1;
    memset(&rc, 0, sizeof(rc));
    if (fm_store_offset_query(b->st, TXN_GROUP, FM_BROKER_TXN_HALF_TOPIC, 0, &rc.half_from) !=
        FM_OK) {
        rc.half_from = fm_store_min_offset(b->st, FM_BROKER_TXN_HALF_TOPIC, 0);
    }
    if (fm_store_offset_query(b->st, TXN_GROUP, FM_BROKER_TXN_OP_TOPIC, 0, &op_from) != FM_OK) {
        op_from = fm_store_min_offset(b->st, FM_BROKER_TXN_OP_TOPIC, 0);
    }
    r = scan(b, FM_BROKER_TXN_OP_TOPIC, op_from, recover_op, &rc);
    if (r == FM_OK && !rc.oom) {
        r = scan(b, FM_BROKER_TXN_HALF_TOPIC, rc.half_from, recover_half, &rc);
    }
    fm_map_free(&rc.done);
    if (r != FM_OK || rc.oom) {
        return fm_err_set(eb, rc.oom ? FM_ENOMEM : r, "cannot rebuild the transaction state");
    }
    if (b->txn_by_off.n > 0 || rc.n_ops > 0) {
        FM_LOGI("broker", "FM-TXN-RECOVERED",
                "unresolved=%zu half_from=%" PRId64 " op_from=%" PRId64 " ops=%" PRId64,
                b->txn_by_off.n, rc.half_from, op_from, rc.n_ops);
    }
    save_progress(b);
    b->txn_next_scan_ms = 0;
    return FM_OK;
}

void
fm_broker_txn_free(fm_broker *b)
{
    fm_map_free(&b->txn_by_key);
    fm_map_free_values(&b->txn_by_off, NULL);
    fm_buf_free(&b->txn_rec);
    fm_buf_free(&b->txn_out);
    fm_buf_free(&b->txn_props);
}

/* Read the half record at phys into b->txn_rec and decode it. */
static int
read_half(fm_broker *b, uint64_t phys, fm_msg_view *m)
{
    fm_buf_reset(&b->txn_rec);
    if (fm_store_read_at(b->st, phys, &b->txn_rec, NULL) != FM_OK ||
        fm_msg_decode(b->txn_rec.data, b->txn_rec.len, m, NULL) != FM_OK ||
        !fm_slice_eq(m->topic, FM_SLICE_LIT(FM_BROKER_TXN_HALF_TOPIC))) {
        return FM_ENOTFOUND;
    }
    return FM_OK;
}

/* The half's destination from REAL_TOPIC / REAL_QID. */
static int
real_dest(const fm_msg_view *m, char *topic, size_t cap, int *qid)
{
    fm_slice t = fm_props_get(m->properties, FM_PROP_REAL_TOPIC);
    fm_slice q = fm_props_get(m->properties, FM_PROP_REAL_QUEUE_ID);
    int64_t v;
    if (t.ptr == NULL || t.len == 0 || fm_slice_to_cstr(t, topic, cap) != FM_OK || q.ptr == NULL ||
        fm_slice_to_i64(q, &v) != FM_OK || v < 0 || v > 65535) {
        return FM_EPROTO;
    }
    *qid = (int)v;
    return FM_OK;
}

/* Commit: the real message, as EndTransactionProcessor.endMessageTransaction builds it. A
 * DELAY level still applies (CommitLog delays commit-type records too). */
static int
write_real(fm_broker *b, const fm_msg_view *half, fm_errbuf *eb)
{
    const char *names[] = {FM_PROP_REAL_TOPIC, FM_PROP_REAL_QUEUE_ID};
    const char *values[] = {NULL, NULL};
    char topic[256];
    fm_msg_view m = *half;
    fm_store_put_result res;
    int qid, level = 0, rc;
    if (real_dest(half, topic, sizeof(topic), &qid) != FM_OK) {
        return fm_err_set(eb, FM_EPROTO, "the half message lacks REAL_TOPIC/REAL_QID");
    }
    if (fm_broker_props_edit(&b->txn_props, half->properties, names, values, 2) != FM_OK) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    m.topic = fm_slice_cstr(topic);
    m.queue_id = qid;
    m.properties = fm_buf_slice(&b->txn_props);
    m.sysflag = (half->sysflag & ~FM_MSG_SYSFLAG_TX_ROLLBACK) | FM_MSG_SYSFLAG_TX_COMMIT;
    m.prepared_tx_offset = half->phys_offset;
    m.store_timestamp = 0;
    m.queue_offset = 0;
    m.phys_offset = 0;
    if (fm_broker_delay_level_of(b, half->properties, &level) == FM_OK && level > 0) {
        if (fm_broker_schedule_redirect(&b->sched_props, m.properties, topic, qid) != FM_OK) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        m.properties = fm_buf_slice(&b->sched_props);
        m.topic = FM_SLICE_LIT(FM_BROKER_SCHEDULE_TOPIC);
        m.queue_id = level - 1;
    }
    fm_buf_reset(&b->txn_out);
    rc = fm_msg_encode(&b->txn_out, &m, eb);
    if (rc == FM_OK) {
        rc = fm_store_append(b->st, b->txn_out.data, b->txn_out.len, &res, eb);
    }
    if (rc == FM_OK) {
        char t[256];
        fm_slice_to_cstr(m.topic, t, sizeof(t));
        fm_broker_stats_put(b, t, 1, (int64_t)b->txn_out.len);
        fm_broker_pulls_mark(b, t, m.queue_id);
    }
    return rc;
}

void
fm_broker_h_end_transaction(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    char group[256], remark[16] = "", key[128] = "";
    int64_t tsto, clo, cor;
    int from_check;
    fm_msg_view m;
    fm_slice pg, uk;
    txn_half *e;
    fm_errbuf eb;

    if (fm_broker_need_str(b, conn, req, "producerGroup", group, sizeof(group)) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "tranStateTableOffset", &tsto) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "commitLogOffset", &clo) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "commitOrRollback", &cor) != FM_OK) {
        return;
    }
    fm_broker_ext_str(req, "fromTransactionCheck", remark, sizeof(remark));
    from_check = strcmp(remark, "true") == 0;
    if (cor == 0) {
        /* still unknown: RocketMQ logs it and answers nothing; we answer a two-way caller */
        FM_LOGD("broker", "FM-TXN-END-UNKNOWN",
                "group=%s half_offset=%" PRId64 " from_check=%d peer=%s", group, tsto, from_check,
                fm_net_conn_peer(conn));
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
        return;
    }
    if (cor != FM_MSG_SYSFLAG_TX_COMMIT && cor != FM_MSG_SYSFLAG_TX_ROLLBACK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "commitOrRollback %" PRId64 " is not 8 (commit), 12 (rollback) or 0",
                            cor);
        return;
    }
    if (clo < 0 || read_half(b, (uint64_t)clo, &m) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "Find prepared transaction message failed");
        return;
    }
    pg = fm_props_get(m.properties, FM_PROP_PRODUCER_GROUP);
    if (pg.ptr == NULL || !fm_slice_eq(pg, fm_slice_cstr(group))) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "The producer group wrong");
        return;
    }
    if (m.queue_offset != tsto) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "The transaction state table offset wrong");
        return;
    }
    uk = fm_props_get(m.properties, FM_PROP_UNIQ_KEY);
    if (uk.ptr != NULL) {
        fm_slice_to_cstr(uk, key, sizeof(key));
    }
    e = by_off(b, tsto);
    if (e == NULL && key[0] != '\0') {
        e = fm_map_get(&b->txn_by_key, key, strlen(key)); /* an older copy of a checked one */
    }
    if (e == NULL) {
        FM_LOGD("broker", "FM-TXN-END-RESOLVED",
                "half_offset=%" PRId64 " key=%s: already resolved, nothing changed", tsto, key);
        fm_broker_reply(b, conn, req, FM_RESP_SUCCESS, NULL, NULL, 0, fm_slice_make(NULL, 0));
        return;
    }
    if (cor == FM_MSG_SYSFLAG_TX_COMMIT && write_real(b, &m, &eb) != FM_OK) {
        FM_LOGW("broker", "FM-TXN-COMMIT-FAIL", "half_offset=%" PRId64 " msg=\"%s\"", tsto, eb.msg);
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "commit failed: %s", eb.msg);
        return; /* still unresolved: the producer may retry, or the check asks again */
    }
    /* After the real message: a crash between the two leaves the half unresolved, so it is
     * checked again (a possible duplicate), never a commit without its message. */
    if (write_op(b, e->qoff, cor == FM_MSG_SYSFLAG_TX_COMMIT ? "commit" : "rollback") != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "cannot record the transaction's end");
        return;
    }
    FM_LOGD("broker", cor == FM_MSG_SYSFLAG_TX_COMMIT ? "FM-TXN-COMMIT" : "FM-TXN-ROLLBACK",
            "group=%s half_offset=%" PRId64 " key=%s from_check=%d", group, e->qoff, key,
            from_check);
    forget(b, e);
    fm_broker_reply_durable(b, conn, req, NULL, 0);
}

/* A live producer connection of group: the most recently heard from (getAvailableChannel). */
static fm_net_conn *
producer_of(fm_broker *b, fm_slice group)
{
    client_entry *best = NULL;
    for (int i = 0; i < b->n_clients; i++) {
        client_entry *c = &b->clients[i];
        if (!c->is_consumer && c->conn != NULL && !fm_net_conn_is_closed(c->conn) &&
            fm_slice_eq(group, fm_slice_cstr(c->group)) &&
            (best == NULL || c->last_seen_ms > best->last_seen_ms)) {
            best = c;
        }
    }
    return best != NULL ? best->conn : NULL;
}

/* Discard a half checked transactionCheckMax times (resolveDiscardMsg). */
static void
discard(fm_broker *b, txn_half *e, const fm_msg_view *m)
{
    fm_msg_view d = *m;
    fm_store_put_result res;
    fm_errbuf eb;
    int rc;
    d.topic = FM_SLICE_LIT(FM_BROKER_TXN_MAX_TOPIC);
    d.queue_id = 0;
    d.store_timestamp = 0;
    fm_buf_reset(&b->txn_out);
    rc = fm_msg_encode(&b->txn_out, &d, &eb);
    if (rc == FM_OK) {
        rc = fm_store_append(b->st, b->txn_out.data, b->txn_out.len, &res, &eb);
    }
    if (rc != FM_OK) {
        FM_LOGE("broker", "FM-TXN-DISCARD-FAIL", "half_offset=%" PRId64 " msg=\"%s\"", e->qoff,
                eb.msg);
        return; /* tried again next round */
    }
    if (write_op(b, e->qoff, "discard") != FM_OK) {
        return;
    }
    FM_LOGW("broker", "FM-TXN-DISCARD",
            "half_offset=%" PRId64 " key=%s checks=%d: no producer resolved it; moved to %s "
            "offset=%" PRId64,
            e->qoff, e->key, e->checks, FM_BROKER_TXN_MAX_TOPIC, res.queue_offset);
    forget(b, e);
}

/* Put the half back with one more check and ask a producer of its group about it. */
static void
check_one(fm_broker *b, txn_half *e)
{
    const char *names[] = {PROP_CHECK_TIMES};
    char checks[16], tsto[24], clo[24], offid[FM_MSGID_MAX + 1], topic[256];
    const char *values[] = {checks};
    fm_msg_view m, c;
    fm_store_put_result res;
    fm_net_conn *conn;
    fm_errbuf eb;
    fm_slice uk;
    int qid, rc;

    e->round = b->txn_round;
    if (read_half(b, e->phys, &m) != FM_OK || real_dest(&m, topic, sizeof(topic), &qid) != FM_OK) {
        FM_LOGW("broker", "FM-TXN-HALF-LOST", "half_offset=%" PRId64 " phys=%" PRIu64, e->qoff,
                e->phys);
        write_op(b, e->qoff, "lost");
        forget(b, e);
        return;
    }
    if (e->checks >= b->cfg.transaction_check_max) {
        discard(b, e, &m);
        return;
    }
    snprintf(checks, sizeof(checks), "%d", e->checks + 1);
    if (fm_broker_props_edit(&b->txn_props, m.properties, names, values, 1) != FM_OK) {
        return;
    }
    c = m;
    c.properties = fm_buf_slice(&b->txn_props);
    c.store_timestamp = 0;
    /* this broker writes the copy; its STOREHOST is where the producer answers the check */
    c.store_host = fm_slice_make(b->store_host, 8);
    fm_buf_reset(&b->txn_out);
    rc = fm_msg_encode(&b->txn_out, &c, &eb);
    if (rc == FM_OK) {
        rc = fm_store_append(b->st, b->txn_out.data, b->txn_out.len, &res, &eb);
    }
    if (rc != FM_OK) {
        FM_LOGW("broker", "FM-TXN-PUTBACK-FAIL", "half_offset=%" PRId64 " msg=\"%s\"", e->qoff,
                eb.msg);
        return;
    }
    write_op(b, e->qoff, "checked"); /* the copy stands for it now */
    fm_map_del(&b->txn_by_off, &e->qoff, sizeof(e->qoff));
    e->qoff = res.queue_offset;
    e->phys = res.phys_offset;
    e->checks++;
    if (fm_map_put(&b->txn_by_off, &e->qoff, sizeof(e->qoff), e) != FM_OK) {
        FM_LOGE("broker", "FM-TXN-TRACK-FAIL", "half_offset=%" PRId64 ": out of memory", e->qoff);
        forget(b, e); /* not lost: still unresolved on disk, checked after a restart */
        return;
    }
    conn = producer_of(b, fm_props_get(m.properties, FM_PROP_PRODUCER_GROUP));
    if (conn == NULL) {
        FM_LOGD("broker", "FM-TXN-CHECK-NO-PRODUCER", "half_offset=%" PRId64 " checks=%d", e->qoff,
                e->checks);
        return;
    }
    /* The body is the message as the producer sent it: its real topic and queue, with the
     * copy's offsets (AbstractTransactionalMessageCheckListener.sendCheckMessage). */
    c.topic = fm_slice_cstr(topic);
    c.queue_id = qid;
    c.queue_offset = e->qoff;
    c.phys_offset = (int64_t)e->phys;
    c.store_timestamp = res.store_ts;
    fm_buf_reset(&b->txn_out);
    if (fm_msg_encode(&b->txn_out, &c, &eb) != FM_OK) {
        return;
    }
    uk = fm_props_get(m.properties, FM_PROP_UNIQ_KEY);
    if (uk.ptr == NULL) {
        uk = fm_slice_make("", 0);
    }
    snprintf(tsto, sizeof(tsto), "%" PRId64, e->qoff);
    snprintf(clo, sizeof(clo), "%" PRIu64, e->phys);
    fm_msgid_make(offid, b->store_host, 8, e->phys);
    {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("tranStateTableOffset"), fm_slice_cstr(tsto)},
            {FM_SLICE_LIT("commitLogOffset"), fm_slice_cstr(clo)},
            {FM_SLICE_LIT("msgId"), uk},
            {FM_SLICE_LIT("transactionId"), uk},
            {FM_SLICE_LIT("offsetMsgId"), fm_slice_cstr(offid)},
        };
        FM_LOGD("broker", "FM-TXN-CHECK", "half_offset=%" PRId64 " checks=%d peer=%s", e->qoff,
                e->checks, fm_net_conn_peer(conn));
        fm_broker_send_oneway(b, conn, FM_REQ_CHECK_TRANSACTION_STATE, ext,
                              sizeof(ext) / sizeof(ext[0]), fm_buf_slice(&b->txn_out));
    }
}

void
fm_broker_txn_tick(fm_broker *b, int64_t now_wall_ms)
{
    txn_half *due[CHECKS_PER_TICK];
    int n = 0, more = 0;
    size_t pos = 0, kl;
    const char *k;
    void *v;
    if (now_wall_ms < b->txn_next_scan_ms) {
        return;
    }
    while (fm_map_next(&b->txn_by_off, &pos, &k, &kl, &v)) {
        txn_half *e = v;
        if (e->round == b->txn_round || now_wall_ms - e->born_ms < b->cfg.transaction_timeout_ms) {
            continue;
        }
        if (n == CHECKS_PER_TICK) {
            more = 1;
            break;
        }
        due[n++] = e;
    }
    /* collected first: checking re-keys and removes entries of the map being walked */
    for (int i = 0; i < n; i++) {
        check_one(b, due[i]);
    }
    if (!more) {
        /* the round is complete: the next one starts an interval later */
        b->txn_round++;
        b->txn_next_scan_ms = now_wall_ms + b->cfg.transaction_check_interval_ms;
    }
    save_progress(b);
}
