/*
 * h_pull.c - PULL_MESSAGE and long polling.
 *
 * A pull reads up to maxMsgNums records from a consume queue starting at queueOffset, skipping
 * records the subscription's filter rejects (for tags the consume queue's hash is checked
 * first, then the real tag, since different tags can share a hash; SQL92 reads the record's
 * properties). When every scanned record was skipped the answer is PULL_RETRY_IMMEDIATELY with
 * the offset past them, as RocketMQ's NO_MATCHED_MSG. When the queue has nothing
 * new and the client allows suspension, the request is parked: queues that get a message are
 * marked during the loop iteration and the parked pulls on them are retried once, in the
 * before-sleep hook, so a burst of appends wakes each pull once rather than once per message.
 * A parked pull that reaches its suspend timeout is answered PULL_NOT_FOUND.
 */
#include "broker/broker_int.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define PULL_FLAG_COMMIT_OFFSET 0x1
#define PULL_FLAG_SUSPEND 0x2
#define PULL_FLAG_SUBSCRIPTION 0x4
#define MAX_SUSPEND_MS 60000
#define MAX_PULL_MSGS 256

/* What a pull needs, whether fresh from the wire or resumed after suspension. */
typedef struct pull_args {
    char group[256];
    char topic[256];
    int qid;
    int64_t offset;
    int max_msgs;
    fm_filter *filter; /* one reference, owned by whoever holds the args */
} pull_args;

/* The store's filter callback: the tag hash first, then the record's properties. */
static int
pull_filter(void *ud, int64_t hash, const uint8_t *rec, size_t len)
{
    const pull_args *a = ud;
    fm_msg_view m;
    fm_errbuf eb;
    if (rec == NULL) {
        return fm_filter_match_hash(a->filter, hash);
    }
    if (fm_msg_decode(rec, len, &m, NULL) != FM_OK) {
        return 0;
    }
    switch (fm_filter_eval(a->filter, m.properties, &eb)) {
    case FM_FILTER_TRUE:
        return 1;
    case FM_FILTER_ERROR:
        /* RocketMQ logs the exception and skips the message; so do we (rate-limited). */
        FM_LOGW("filter", "FM-FILTER-EVAL-ERROR",
                "group=%s topic=%s qid=%d expression=\"%.200s\": %s", a->group, a->topic, a->qid,
                fm_filter_text(a->filter), eb.msg);
        return 0;
    default:
        return 0;
    }
}

/* The reply header (code, next/min/max offsets), then the records of r (NULL: none) straight
 * from the mapped commit log in one writev: the records are not copied unless the socket
 * cannot take them at once. */
static void
reply_pull(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int code, int64_t next, int64_t min,
           int64_t max, const fm_store_get_result *r)
{
    struct iovec iov[FM_STORE_MAX_GET + 1];
    size_t body_len = 0;
    int n_msgs = r ? r->n_msgs : 0;
    char next_s[24], min_s[24], max_s[24];
    fm_cmd resp;
    fm_i64_to_str(next, next_s);
    fm_i64_to_str(min, min_s);
    fm_i64_to_str(max, max_s);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("suggestWhichBrokerId"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("nextBeginOffset"), fm_slice_cstr(next_s)},
        {FM_SLICE_LIT("minOffset"), fm_slice_cstr(min_s)},
        {FM_SLICE_LIT("maxOffset"), fm_slice_cstr(max_s)},
    };
    for (int i = 0; i < n_msgs; i++) {
        body_len += r->msgs[i].len;
        iov[i + 1].iov_base = (void *)r->msgs[i].ptr;
        iov[i + 1].iov_len = r->msgs[i].len;
    }
    fm_proto_cmd_response_init(&resp, req, code);
    resp.ext = ext;
    resp.n_ext = sizeof(ext) / sizeof(ext[0]);
    fm_buf_reset(&b->out);
    if (fm_proto_cmd_encode_header(&b->out, &resp, body_len, NULL) != FM_OK) {
        fm_net_conn_close(conn);
        return;
    }
    iov[0].iov_base = b->out.data;
    iov[0].iov_len = b->out.len;
    if (fm_net_conn_writev(conn, iov, n_msgs + 1) != FM_OK) {
        fm_net_conn_close(conn);
    }
}

/* How pull_once may leave a pull unanswered:
 * PARK_NO    answer whatever the store says;
 * PARK_EMPTY not when the queue has nothing new (a first look: a filter's miss is answered at
 *            once, PULL_RETRY_IMMEDIATELY, as RocketMQ does);
 * PARK_HELD  a held pull looking again: nor when nothing new matches its filter, as
 *            PullRequestHoldService wakes a held pull only for a message its filter takes;
 *            *skip_to is then where the filter got to. */
enum { PARK_NO, PARK_EMPTY, PARK_HELD };

/* Answer from the store; returns 0 when there was nothing and the caller may suspend. */
static int
pull_once(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const pull_args *a, int may_park,
          int64_t *skip_to)
{
    fm_store_get_result r;
    int code, rc, all = a->filter == NULL || fm_filter_matches_all(a->filter);

    rc = fm_store_get(b->st, a->topic, a->qid, a->offset, a->max_msgs, 4u << 20,
                      all ? NULL : pull_filter, (void *)a, &r);
    if (rc != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR, "store read failed: %s",
                            fm_strerror(rc));
        return 1;
    }
    switch (r.status) {
    case FM_STORE_FOUND:
        code = FM_RESP_SUCCESS;
        break;
    case FM_STORE_NO_MATCHED_MSG:
        code = FM_RESP_PULL_RETRY_IMMEDIATELY;
        break;
    case FM_STORE_NO_MESSAGE_IN_QUEUE:
        code = a->offset != 0 ? FM_RESP_PULL_OFFSET_MOVED : FM_RESP_PULL_NOT_FOUND;
        break;
    case FM_STORE_OFFSET_OVERFLOW_BADLY:
    case FM_STORE_OFFSET_TOO_SMALL:
        code = FM_RESP_PULL_OFFSET_MOVED;
        break;
    case FM_STORE_OFFSET_FOUND_NULL:
    case FM_STORE_OFFSET_OVERFLOW_ONE:
    default:
        code = FM_RESP_PULL_NOT_FOUND;
        break;
    }
    if ((code == FM_RESP_PULL_NOT_FOUND && may_park != PARK_NO) ||
        (code == FM_RESP_PULL_RETRY_IMMEDIATELY && may_park == PARK_HELD)) {
        if (code == FM_RESP_PULL_RETRY_IMMEDIATELY) {
            *skip_to = r.next_begin_offset;
        }
        fm_store_get_release(&r);
        return 0;
    }
    if (code == FM_RESP_PULL_OFFSET_MOVED) {
        FM_LOGI("broker", "FM-BROKER-PULL-OFFSET-MOVED",
                "group=%s topic=%s qid=%d requested=%" PRId64 " next=%" PRId64, a->group, a->topic,
                a->qid, a->offset, r.next_begin_offset);
    }
    {
        int64_t bytes = 0;
        for (int i = 0; i < r.n_msgs; i++) {
            bytes += (int64_t)r.msgs[i].len;
        }
        fm_broker_stats_get(b, a->topic, a->group, (int64_t)r.n_msgs, bytes);
    }
    reply_pull(b, conn, req, code, r.next_begin_offset, r.min_offset, r.max_offset, &r);
    fm_store_get_release(&r);
    return 1;
}

static int
park(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const pull_args *a, int64_t timeout_ms)
{
    suspended_pull *p = NULL;
    for (int i = 0; i < b->n_pulls; i++) {
        if (!b->pulls[i].used) {
            p = &b->pulls[i];
            break;
        }
    }
    if (p == NULL) {
        if (b->n_pulls == b->cap_pulls) {
            int cap = b->cap_pulls ? b->cap_pulls * 2 : 64;
            suspended_pull *n = realloc(b->pulls, (size_t)cap * sizeof(*n));
            if (n == NULL) {
                return FM_ENOMEM;
            }
            b->pulls = n;
            b->cap_pulls = cap;
        }
        p = &b->pulls[b->n_pulls++];
    }
    memset(p, 0, sizeof(*p));
    p->used = 1;
    fm_net_conn_ref(conn);
    p->conn = conn;
    p->opaque = req->opaque;
    p->serialize = req->serialize;
    p->version = req->version;
    p->language = req->language;
    memcpy(p->group, a->group, sizeof(p->group));
    memcpy(p->topic, a->topic, sizeof(p->topic));
    p->qid = a->qid;
    p->offset = a->offset;
    p->look_from = a->offset;
    p->max_msgs = a->max_msgs;
    p->filter = a->filter; /* the args' reference moves to the parked pull */
    p->deadline_ms = fm_net_loop_now_ms(b->loop) + timeout_ms;
    return FM_OK;
}

/* PULL_OFFSET_MOVED to `to`: where a reset sent the group. */
static void
reply_moved(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *topic, int qid,
            int64_t to)
{
    reply_pull(b, conn, req, FM_RESP_PULL_OFFSET_MOVED, to, fm_store_min_offset(b->st, topic, qid),
               fm_store_max_offset(b->st, topic, qid), NULL);
}

/*
 * The pull's filter, as RocketMQ's PullMessageProcessor finds it: from the request when its
 * sysFlag carries the subscription, else from what the group's heartbeat registered. Answers
 * the request and returns an error when there is none to use.
 */
static int
pull_subscription(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int64_t sysflag, pull_args *a)
{
    int64_t version = 0;
    char etype[32], remark[512];
    fm_errbuf eb;
    int code;
    fm_cmd_ext_i64(req, "subVersion", &version);
    if (sysflag & PULL_FLAG_SUBSCRIPTION) {
        int rc = fm_broker_ext_str(req, "expressionType", etype, sizeof(etype));
        fm_slice expr = fm_cmd_ext_get(req, "subscription");
        if (rc == FM_ETOOBIG) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_PARSE_FAILED,
                                "parse the consumer's subscription failed: unknown expression "
                                "type");
            return FM_EINVAL;
        }
        if (expr.ptr == NULL) {
            expr = fm_slice_make((const uint8_t *)"", 0);
        }
        if (fm_broker_sub_from_pull(b, a->group, a->topic, rc == FM_OK ? etype : NULL, expr,
                                    version, &a->filter, &eb) != FM_OK) {
            fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_PARSE_FAILED,
                                "parse the consumer's subscription failed: %s", eb.msg);
            return FM_EINVAL;
        }
    } else {
        code =
            fm_broker_sub_get(b, a->group, a->topic, version, &a->filter, remark, sizeof(remark));
        if (code != FM_RESP_SUCCESS) {
            fm_broker_reply_err(b, conn, req, code, "%s", remark);
            return FM_EINVAL;
        }
    }
    if (fm_filter_get_type(a->filter) == FM_FILTER_SQL92 && !b->cfg.enable_property_filter) {
        fm_filter_unref(a->filter);
        a->filter = NULL;
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "The broker does not support consumer to filter message by SQL92 "
                            "(enablePropertyFilter=false)");
        return FM_EINVAL;
    }
    return FM_OK;
}

/* The group's message model, as its online members' heartbeats said it. */
static int
group_broadcasting(const fm_broker *b, const char *group)
{
    for (int i = 0; i < b->n_clients; i++) {
        const client_entry *c = &b->clients[i];
        if (c->is_consumer && strcmp(c->group, group) == 0) {
            return strcmp(c->message_model, "BROADCASTING") == 0;
        }
    }
    return 0;
}

void
fm_broker_h_pull(fm_broker *b, fm_net_conn *conn, const fm_cmd *req)
{
    pull_args a;
    int64_t qid, off, max_msgs, sysflag = 0, commit = -1, suspend_ms = 0, reset_to;
    fm_store_topic t;
    fm_store_group g;

    memset(&a, 0, sizeof(a));
    if (fm_broker_need_str(b, conn, req, "consumerGroup", a.group, sizeof(a.group)) != FM_OK ||
        fm_broker_need_str(b, conn, req, "topic", a.topic, sizeof(a.topic)) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "queueId", &qid) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "queueOffset", &off) != FM_OK ||
        fm_broker_need_i64(b, conn, req, "maxMsgNums", &max_msgs) != FM_OK) {
        return;
    }
    fm_cmd_ext_i64(req, "sysFlag", &sysflag);
    fm_cmd_ext_i64(req, "commitOffset", &commit);
    fm_cmd_ext_i64(req, "suspendTimeoutMillis", &suspend_ms);
    /* the group before the topic, in PullMessageProcessor's order and words */
    if (fm_broker_group_find(b, a.group, &g) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SUBSCRIPTION_GROUP_NOT_EXIST,
                            "subscription group [%s] does not exist, \nSee "
                            "http://rocketmq.apache.org/docs/faq/ for further details.",
                            a.group);
        return;
    }
    if (!g.consume_enable) {
        fm_broker_reply_err(b, conn, req, FM_RESP_NO_PERMISSION,
                            "subscription group no permission, %s", a.group);
        return;
    }
    /* a push consumer (no subscription in the pull) of a BROADCASTING group whose config
     * forbids it, as PullMessageProcessor checks it */
    if (!g.consume_broadcast_enable && !(sysflag & PULL_FLAG_SUBSCRIPTION) &&
        group_broadcasting(b, a.group)) {
        fm_broker_reply_err(b, conn, req, FM_RESP_NO_PERMISSION,
                            "the consumer group[%s] can not consume by broadcast way", a.group);
        return;
    }
    if (fm_store_topic_get(b->st, a.topic, &t) != FM_OK) {
        fm_broker_reply_err(b, conn, req, FM_RESP_TOPIC_NOT_EXIST,
                            "topic[%s] not exist, apply first please!", a.topic);
        return;
    }
    if ((t.perm & 4) == 0) {
        /* as PullMessageProcessor; also what keeps the transaction half queue unreadable */
        fm_broker_reply_err(b, conn, req, FM_RESP_NO_PERMISSION,
                            "the topic[%s] pulling message is forbidden", a.topic);
        return;
    }
    if (qid < 0 || qid >= t.read_queue_nums) {
        fm_broker_reply_err(b, conn, req, FM_RESP_SYSTEM_ERROR,
                            "queueId[%" PRId64 "] is illegal, topic %s has %d read queues", qid,
                            a.topic, t.read_queue_nums);
        return;
    }
    if (max_msgs <= 0) {
        max_msgs = 32;
    }
    a.qid = (int)qid;
    a.offset = off < 0 ? 0 : off;
    a.max_msgs = max_msgs > MAX_PULL_MSGS ? MAX_PULL_MSGS : (int)max_msgs;
    if (pull_subscription(b, conn, req, sysflag, &a) != FM_OK) {
        return;
    }

    if (fm_broker_reset_take(b, a.group, a.topic, a.qid, 0, &reset_to)) {
        /* RocketMQ 5's server-side reset: a pull from elsewhere is told where to go, and its
         * commit, possibly the old position, is ignored; the first pull from the new offset
         * ends the reset */
        if (a.offset != reset_to) {
            reply_moved(b, conn, req, a.topic, a.qid, reset_to);
            fm_filter_unref(a.filter);
            return;
        }
        fm_broker_reset_take(b, a.group, a.topic, a.qid, 1, NULL);
    } else if ((sysflag & PULL_FLAG_COMMIT_OFFSET) && commit >= 0) {
        fm_store_offset_commit(b->st, a.group, a.topic, a.qid, commit);
    }
    if (suspend_ms > MAX_SUSPEND_MS) {
        suspend_ms = MAX_SUSPEND_MS;
    }
    if (pull_once(b, conn, req, &a,
                  (sysflag & PULL_FLAG_SUSPEND) && suspend_ms > 0 ? PARK_EMPTY : PARK_NO, NULL)) {
        fm_filter_unref(a.filter);
        return;
    }
    if (park(b, conn, req, &a, suspend_ms) != FM_OK) {
        pull_once(b, conn, req, &a, PARK_NO, NULL);
        fm_filter_unref(a.filter);
    }
}

void
fm_broker_pulls_mark(fm_broker *b, const char *topic, int qid)
{
    for (int i = 0; i < b->n_pulls; i++) {
        suspended_pull *p = &b->pulls[i];
        if (p->used && p->qid == qid && strcmp(p->topic, topic) == 0) {
            p->dirty = 1;
            b->any_dirty = 1;
        }
    }
}

static void
unpark(fm_broker *b, suspended_pull *p, int final)
{
    fm_cmd req;
    pull_args a;
    memset(&req, 0, sizeof(req));
    req.code = FM_REQ_PULL_MESSAGE;
    req.opaque = p->opaque;
    req.serialize = p->serialize;
    req.version = p->version;
    req.language = p->language;
    memcpy(a.group, p->group, sizeof(a.group));
    memcpy(a.topic, p->topic, sizeof(a.topic));
    a.qid = p->qid;
    /* at the deadline from the requested offset, so a filter's misses are answered as a first
     * look answers them (PULL_RETRY_IMMEDIATELY with the offset past them), as RocketMQ's
     * hold service does when it runs the pull again */
    a.offset = final ? p->offset : p->look_from;
    a.max_msgs = p->max_msgs;
    a.filter = p->filter;
    p->dirty = 0;
    if (fm_net_conn_is_closed(p->conn)) {
        final = 1;
    } else {
        int64_t skip = -1;
        if (!pull_once(b, p->conn, &req, &a, final ? PARK_NO : PARK_HELD, &skip)) {
            if (skip > p->look_from) {
                p->look_from = skip;
            }
            return; /* still nothing: stay parked */
        }
    }
    fm_net_conn_unref(p->conn);
    fm_filter_unref(p->filter);
    p->used = 0;
    p->conn = NULL;
    p->filter = NULL;
}

void
fm_broker_pulls_service(fm_broker *b, int64_t now_ms, int all_expired)
{
    int live = 0;
    if (!b->any_dirty && !all_expired) {
        int due = 0;
        for (int i = 0; i < b->n_pulls && !due; i++) {
            due = b->pulls[i].used && b->pulls[i].deadline_ms <= now_ms;
        }
        if (!due) {
            return;
        }
    }
    b->any_dirty = 0;
    for (int i = 0; i < b->n_pulls; i++) {
        suspended_pull *p = &b->pulls[i];
        if (!p->used) {
            continue;
        }
        if (all_expired || p->deadline_ms <= now_ms) {
            unpark(b, p, 1);
        } else if (p->dirty) {
            unpark(b, p, 0);
        }
        live += p->used;
    }
    if (live == 0) {
        b->n_pulls = 0;
    }
}

int
fm_broker_pulls_reset(fm_broker *b, const char *group, const char *topic, int qid, int64_t to)
{
    int told = 0;
    for (int i = 0; i < b->n_pulls; i++) {
        suspended_pull *p = &b->pulls[i];
        fm_cmd req;
        if (!p->used || p->qid != qid || strcmp(p->topic, topic) != 0 ||
            strcmp(p->group, group) != 0) {
            continue;
        }
        memset(&req, 0, sizeof(req));
        req.code = FM_REQ_PULL_MESSAGE;
        req.opaque = p->opaque;
        req.serialize = p->serialize;
        req.version = p->version;
        req.language = p->language;
        if (!fm_net_conn_is_closed(p->conn)) {
            reply_moved(b, p->conn, &req, topic, qid, to);
            told = 1;
        }
        fm_net_conn_unref(p->conn);
        fm_filter_unref(p->filter);
        p->used = 0;
        p->conn = NULL;
        p->filter = NULL;
    }
    return told;
}

void
fm_broker_pulls_drop_conn(fm_broker *b, fm_net_conn *conn)
{
    for (int i = 0; i < b->n_pulls; i++) {
        suspended_pull *p = &b->pulls[i];
        if (p->used && p->conn == conn) {
            fm_net_conn_unref(p->conn);
            fm_filter_unref(p->filter);
            p->used = 0;
            p->conn = NULL;
            p->filter = NULL;
        }
    }
}
