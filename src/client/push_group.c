/*
 * push_group.c - the push consumer as a member of its group: heartbeats, the queue allocation
 * RocketMQ's AllocateMessageQueueAveragely makes (so mixed groups split alike), rebalancing,
 * orderly locks, and the requests brokers send (group changed, offsets reset).
 */
#include "client/push_int.h"

#include "common/clock.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
size_t
fm_push_broker_addrs(ferrymq_push_consumer *pc, char (*out)[128], size_t cap)
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

void
fm_push_heartbeat_all(ferrymq_push_consumer *pc)
{
    char addrs[32][128];
    size_t n = fm_push_broker_addrs(pc, addrs, 32);
    char *body = heartbeat_body(pc);
    for (size_t i = 0; i < n && body != NULL; i++) {
        fm_errbuf eb;
        if (fm_push_call(pc, addrs[i], FM_REQ_HEART_BEAT, NULL, 0, fm_slice_cstr(body), NULL,
                         &eb) != FM_OK) {
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
    rc = fm_push_call(pc, addr, lock ? FM_REQ_LOCK_BATCH_MQ : FM_REQ_UNLOCK_BATCH_MQ, NULL, 0,
                      fm_slice_cstr(body), lock ? &ans : NULL, &eb);
    free(body);
    if (rc != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "%s at %s: %s", lock ? "lock" : "unlock", addr, eb.msg);
        return rc;
    }
    if (lock) {
        fm_client_lock_granted(ans, qs, n, sizeof(*qs), granted);
        cJSON_Delete(ans);
    }
    return FM_OK;
}

/* UNLOCK_BATCH_MQ for p's queue. Called with mu held; drops it for the call (p stays valid:
 * the caller holds a reference). */
void
fm_push_unlock_queue(ferrymq_push_consumer *pc, pq *p)
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
    int state; /* 0 not asked yet, 1 granted, -1 refused */
} held_q;

/* Lock (or renew) every held queue, per broker, and mark which this member holds. Called and
 * returns with mu held. */
void
fm_push_lock_all(ferrymq_push_consumer *pc)
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
        if (hs[i].state != 0) {
            continue; /* asked already with an earlier queue of its broker */
        }
        for (size_t j = i; j < n && k < 64; j++) {
            if (hs[j].state == 0 && strcmp(hs[j].addr, hs[i].addr) == 0) {
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
            hs[idx[j]].state = granted[j] ? 1 : -1;
        }
    }
    pthread_mutex_lock(&pc->mu);
    for (size_t i = 0; i < n; i++) {
        hs[i].p->locked = hs[i].state == 1;
        if (hs[i].p->locked) {
            fm_push_dispatch(pc, hs[i].p);
        }
        fm_push_pq_release(pc, hs[i].p);
    }
    free(hs);
}

/* ---- rebalance ---- */

int
fm_push_cmp_queue(const void *x, const void *y)
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
    int rc = fm_push_call(pc, addr, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, ext, 1,
                          fm_slice_make(NULL, 0), &ans, eb);
    if (rc != FM_OK) {
        return rc;
    }
    rc = fm_client_consumer_ids(ans, ids, n);
    cJSON_Delete(ans);
    return rc == FM_OK ? FM_OK : fm_err_set(eb, rc, "out of memory");
}

int
fm_client_consumer_ids(const cJSON *ans, char ***ids, size_t *n)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ans, "consumerIdList"), *it;
    size_t k = 0;
    *ids = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
    if (*ids == NULL) {
        return FM_ENOMEM;
    }
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it) && ((*ids)[k] = strdup(it->valuestring)) != NULL) {
            k++;
        }
    }
    qsort(*ids, k, sizeof(char *), cmp_str);
    *n = k;
    return FM_OK;
}

void
fm_client_lock_granted(const cJSON *ans, const ferrymq_queue *qs, size_t n, size_t stride,
                       int *granted)
{
    const cJSON *it;
    for (size_t i = 0; i < n; i++) {
        granted[i] = 0;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ans, "lockOKMQSet"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "topic");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "brokerName");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "queueId");
        for (size_t i = 0; i < n && cJSON_IsString(t) && cJSON_IsString(b) && cJSON_IsNumber(q);
             i++) {
            const ferrymq_queue *x = (const ferrymq_queue *)((const char *)qs + i * stride);
            if (strcmp(x->topic, t->valuestring) == 0 &&
                strcmp(x->broker_name, b->valuestring) == 0 && x->queue_id == q->valueint) {
                granted[i] = 1;
            }
        }
    }
}

/* The address the route gives broker_name (NULL when it has none). */
static const char *
route_addr(const client_route *r, const char *broker_name)
{
    for (int k = 0; k < r->n; k++) {
        if (strcmp(r->q[k].broker_name, broker_name) == 0) {
            return r->q[k].addr;
        }
    }
    return NULL;
}

static void
free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
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
    const char *addr;
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
    qsort(mq, n_mq, sizeof(*mq), fm_push_cmp_queue);
    for (int asked = 1;; asked++) {
        for (index = 0; index < n_cid && strcmp(cids[index], pc->client_id) != 0; index++) {
        }
        if (index < n_cid || asked == 2) {
            break;
        }
        /* a topic that got its route after our last heartbeat: introduce ourselves, ask again */
        free_ids(cids, n_cid);
        cids = NULL;
        n_cid = 0;
        fm_push_heartbeat_all(pc);
        if (group_members(pc, r->q[0].addr, &cids, &n_cid, &eb) != FM_OK) {
            goto out;
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
            keep = fm_push_cmp_queue(&p->q, &mine[i]) == 0;
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
        if ((addr = route_addr(r, p->q.broker_name)) != NULL) {
            snprintf(p->addr, sizeof(p->addr), "%s", addr);
        }
    }
    fm_push_commit_all(pc);
    for (pq *p = pc->pqs, *next; p != NULL; p = next) {
        next = p->next;
        if (p->dropped && p->listed) {
            p->listed = 0;
            /* the next owner may lock it only once no batch of ours is in a callback */
            if (p->unlock_after && !p->consuming) {
                p->unlock_after = 0;
                fm_push_unlock_queue(pc, p);
            }
            fm_push_pq_release(pc, p);
            next = pc->pqs; /* the list may have changed while unlocked */
        }
    }
    /* which of mine are new */
    for (size_t i = 0; i < count; i++) {
        int have = 0;
        for (pq *p = pc->pqs; p != NULL && !have; p = p->next) {
            have = !p->dropped && p->s == s && fm_push_cmp_queue(&p->q, &mine[i]) == 0;
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
        if ((addr = route_addr(r, p->q.broker_name)) != NULL) {
            snprintf(p->addr, sizeof(p->addr), "%s", addr);
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
    free_ids(cids, n_cid);
    free(mq);
    free(mine);
    fm_client_route_release(r);
}

/* ---- broker requests (I/O thread) ---- */

int
fm_push_reset_table_parse(const uint8_t *body, size_t len,
                          void (*fn)(void *ud, const ferrymq_queue *q, int64_t offset), void *ud)
{
    cJSON *root = NULL;
    const cJSON *table, *it;
    /* ResetOffsetBody's offsetTable is a Map<MessageQueue,Long>: fastjson's object keys */
    int rc = fm_client_json_parse(body, len, &root, NULL);
    table = cJSON_GetObjectItemCaseSensitive(root, "offsetTable");
    if (rc == FM_OK && !cJSON_IsObject(table)) {
        rc = FM_EPROTO;
    }
    if (rc != FM_OK) {
        table = NULL; /* nothing to walk */
    }
    cJSON_ArrayForEach(it, table)
    {
        cJSON *k = NULL;
        const cJSON *t, *b, *qid;
        ferrymq_queue q;
        if (fm_client_json_parse((const uint8_t *)it->string, strlen(it->string), &k, NULL) ==
            FM_ENOMEM) {
            rc = FM_ENOMEM;
            break;
        }
        t = cJSON_GetObjectItemCaseSensitive(k, "topic");
        b = cJSON_GetObjectItemCaseSensitive(k, "brokerName");
        qid = cJSON_GetObjectItemCaseSensitive(k, "queueId");
        /* offsets are Java longs written as JSON numbers: only whole, non-negative values that
         * a double holds exactly and int64_t can take */
        if (cJSON_IsString(t) && cJSON_IsString(b) && cJSON_IsNumber(qid) && cJSON_IsNumber(it) &&
            it->valuedouble >= 0 && it->valuedouble <= 9007199254740992.0 &&
            qid->valuedouble >= 0 && qid->valuedouble <= 65535 &&
            strlen(t->valuestring) < sizeof(q.topic) &&
            strlen(b->valuestring) < sizeof(q.broker_name)) {
            memset(&q, 0, sizeof(q));
            snprintf(q.topic, sizeof(q.topic), "%s", t->valuestring);
            snprintf(q.broker_name, sizeof(q.broker_name), "%s", b->valuestring);
            q.queue_id = qid->valueint;
            fn(ud, &q, (int64_t)it->valuedouble);
        }
        cJSON_Delete(k);
    }
    cJSON_Delete(root);
    return rc;
}

/* Apply one queue's new offset to the queue we hold, if we hold it. Holds mu. */
static void
reset_one(void *ud, const ferrymq_queue *q, int64_t offset)
{
    ferrymq_push_consumer *pc = ud;
    for (pq *p = pc->pqs; p != NULL; p = p->next) {
        if (!p->dropped && fm_push_cmp_queue(&p->q, q) == 0) {
            fm_client_log(&pc->core.conf, 2, "queue %s/%s/%d: reset %" PRId64 " -> %" PRId64,
                          p->q.topic, p->q.broker_name, p->q.queue_id, p->pull_offset, offset);
            fm_push_pq_reset(p, offset);
        }
    }
}

static void
on_reset(ferrymq_push_consumer *pc, const fm_cmd *req)
{
    int rc;
    pthread_mutex_lock(&pc->mu);
    rc = fm_push_reset_table_parse(req->body.ptr, req->body.len, reset_one, pc);
    fm_push_kick(pc);
    pthread_mutex_unlock(&pc->mu);
    if (rc != FM_OK) {
        fm_client_log(&pc->core.conf, 1, "reset request with a malformed body ignored");
    }
}

void
fm_push_on_request(void *ud, const fm_cmd *req)
{
    ferrymq_push_consumer *pc = ud;
    if (req->code == FM_REQ_NOTIFY_CONSUMER_IDS_CHANGED) {
        pthread_mutex_lock(&pc->mu);
        pc->rebalance_now = 1;
        fm_push_kick(pc);
        pthread_mutex_unlock(&pc->mu);
    } else if (req->code == FM_REQ_RESET_CONSUMER_CLIENT_OFFSET) {
        on_reset(pc, req);
    }
}

/* ---- threads ---- */

void
fm_push_rebalance_all(ferrymq_push_consumer *pc)
{
    for (int i = 0; i < pc->n_subs; i++) {
        rebalance_topic(pc, &pc->subs[i]);
    }
}
