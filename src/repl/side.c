/*
 * side.c - the requests the replicator sends to one cluster, each as RocketMQ 4.9's clients
 * send it, so a stock name server and broker answer them as ferrymqd does
 * (docs/replication.md, "Requests the replicator sends").
 */
#include "repl/repl_int.h"

#include "common/clock.h"
#include "proto/codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
fm_repl_side_init(repl_side *s, const char *namesrv, const char *client_id, repl_side *share,
                  fm_errbuf *eb)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    char err[256];
    int rc;
    memset(s, 0, sizeof(*s));
    if (conf == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = ferrymq_conf_set(conf, "namesrvAddr", namesrv, err, sizeof(err));
    /* the target's route changes (a topic created on demand) must be seen quickly */
    if (rc == FM_OK) {
        rc = ferrymq_conf_set(conf, "pollNameServerInterval", "1000", err, sizeof(err));
    }
    if (rc != FM_OK) {
        ferrymq_conf_free(conf);
        return fm_err_set(eb, FM_EINVAL, "%s", err);
    }
    rc = share != NULL ? fm_client_core_init_shared(&s->core, conf, &share->core, eb)
                       : fm_client_core_init(&s->core, conf, eb);
    ferrymq_conf_free(conf);
    snprintf(s->client_id, sizeof(s->client_id), "%s", client_id);
    return rc;
}

void
fm_repl_side_destroy(repl_side *s)
{
    fm_client_core_destroy(&s->core);
}

static pthread_mutex_t io_mu = PTHREAD_MUTEX_INITIALIZER;
static repl_io *io_list;

int
fm_repl_io_get(const char *ns_a, const char *ns_b, const char *client_id, repl_io **out,
               fm_errbuf *eb)
{
    char key[sizeof(((repl_io *)0)->key)];
    repl_io *io;
    int rc;
    if (strcmp(ns_a, ns_b) > 0) {
        const char *t = ns_a;
        ns_a = ns_b;
        ns_b = t;
    }
    if ((size_t)snprintf(key, sizeof(key), "%s\x01%s\x01%s", ns_a, ns_b, client_id) >=
        sizeof(key)) {
        return fm_err_set(eb, FM_EINVAL, "name server list or client id too long");
    }
    pthread_mutex_lock(&io_mu);
    for (io = io_list; io != NULL; io = io->next) {
        if (strcmp(io->key, key) == 0) {
            io->refs++;
            pthread_mutex_unlock(&io_mu);
            *out = io;
            return FM_OK;
        }
    }
    if ((io = calloc(1, sizeof(*io))) == NULL) {
        pthread_mutex_unlock(&io_mu);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if ((rc = fm_repl_side_init(&io->side, ns_a, client_id, NULL, eb)) != FM_OK) {
        pthread_mutex_unlock(&io_mu);
        free(io);
        return rc;
    }
    memcpy(io->key, key, sizeof(key));
    io->refs = 1;
    io->next = io_list;
    io_list = io;
    pthread_mutex_unlock(&io_mu);
    *out = io;
    return FM_OK;
}

void
fm_repl_io_put(repl_io *io)
{
    repl_io **pp;
    if (io == NULL) {
        return;
    }
    pthread_mutex_lock(&io_mu);
    if (--io->refs > 0) {
        pthread_mutex_unlock(&io_mu);
        return;
    }
    for (pp = &io_list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == io) {
            *pp = io->next;
            break;
        }
    }
    pthread_mutex_unlock(&io_mu);
    /* the thread is joined outside the lock: another task may be starting meanwhile */
    fm_repl_side_destroy(&io->side);
    free(io);
}

/* A JSON body as fastjson or a JSON writer sent it. */
static int
parse_json(fm_slice body, cJSON **out, const char *who, fm_errbuf *eb)
{
    int rc = fm_client_json_parse(body.ptr, body.len, out, eb);
    if (rc == FM_EPROTO) {
        return fm_err_set(eb, FM_EPROTO, "%s sent invalid JSON", who);
    }
    return rc;
}

/* One request to addr; the answer's code must be SUCCESS; with out, its body as JSON. */
static int
call(repl_side *s, const char *addr, int code, const fm_cmd_ext *ext, size_t n_ext, fm_slice body,
     cJSON **out, fm_errbuf *eb)
{
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&s->core, addr, code, ext, n_ext, body, 0, &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code == FM_RESP_QUERY_NOT_FOUND) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "%s has none", addr);
    } else if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        char remark[256];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        rc = fm_err_set(eb, FERRYMQ_EBROKER, "%s answered request %d with code %d: %s", addr, code,
                        resp.code, remark);
    } else if (rc == FM_OK && out != NULL) {
        rc = parse_json(resp.body, out, addr, eb);
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

static int
namesrv_json(repl_side *s, int code, cJSON **root, fm_errbuf *eb)
{
    char list[FM_CONFIG_STR_MAX], *save = NULL, *addr;
    int rc = fm_err_set(eb, FM_EINVAL, "no name server address");
    snprintf(list, sizeof(list), "%s", s->core.conf.s.namesrvAddr);
    for (addr = strtok_r(list, ";", &save); addr != NULL; addr = strtok_r(NULL, ";", &save)) {
        if ((rc = call(s, addr, code, NULL, 0, fm_slice_make(NULL, 0), root, eb)) == FM_OK) {
            return FM_OK;
        }
    }
    return rc;
}

int
fm_repl_side_masters(repl_side *s, repl_broker **out, size_t *n, fm_errbuf *eb)
{
    cJSON *root = NULL, *bd;
    size_t k = 0;
    int rc = namesrv_json(s, FM_REQ_GET_BROKER_CLUSTER_INFO, &root, eb);
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(root, "brokerAddrTable");
    if (rc != FM_OK) {
        return rc;
    }
    *out = calloc((size_t)cJSON_GetArraySize(table) + 1, sizeof(**out));
    if (*out == NULL) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(bd, table)
    {
        const cJSON *master = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs"), "0");
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(bd, "cluster");
        if (cJSON_IsString(master) && bd->string != NULL) {
            snprintf((*out)[k].name, sizeof((*out)[k].name), "%s", bd->string);
            snprintf((*out)[k].addr, sizeof((*out)[k].addr), "%s", master->valuestring);
            snprintf((*out)[k].cluster, sizeof((*out)[k].cluster), "%s",
                     cJSON_IsString(cl) ? cl->valuestring : "");
            k++;
        }
    }
    cJSON_Delete(root);
    *n = k;
    return FM_OK;
}

int
fm_repl_side_topics(repl_side *s, char ***names, size_t *n, fm_errbuf *eb)
{
    cJSON *root = NULL, *it;
    size_t k = 0;
    int rc = namesrv_json(s, FM_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &root, eb);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "topicList");
    if (rc != FM_OK) {
        return rc;
    }
    *names = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
    if (*names == NULL) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it) && ((*names)[k] = strdup(it->valuestring)) != NULL) {
            k++;
        }
    }
    cJSON_Delete(root);
    *n = k;
    return FM_OK;
}

static int
cmp_queue(const void *x, const void *y)
{
    const repl_queue *a = x, *b = y;
    int c = strcmp(a->q.broker_name, b->q.broker_name);
    return c != 0 ? c : (a->q.queue_id > b->q.queue_id) - (a->q.queue_id < b->q.queue_id);
}

int
fm_repl_side_queues(repl_side *s, const char *topic, int readable, repl_queue **out, size_t *n,
                    fm_errbuf *eb)
{
    client_route *r = NULL;
    size_t k = 0;
    int rc = fm_client_core_route(&s->core, topic, 1, 0, &r, eb);
    if (rc != FM_OK) {
        return rc;
    }
    *out = calloc((size_t)r->n + 1, sizeof(**out));
    if (*out == NULL) {
        fm_client_route_release(r);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    for (int i = 0; i < r->n; i++) {
        if (readable ? r->q[i].readable : r->q[i].writable) {
            repl_queue *q = &(*out)[k++];
            snprintf(q->q.topic, sizeof(q->q.topic), "%s", topic);
            snprintf(q->q.broker_name, sizeof(q->q.broker_name), "%s", r->q[i].broker_name);
            snprintf(q->addr, sizeof(q->addr), "%s", r->q[i].addr);
            q->q.queue_id = r->q[i].qid;
        }
    }
    fm_client_route_release(r);
    qsort(*out, k, sizeof(**out), cmp_queue);
    *n = k;
    return FM_OK;
}

int
fm_repl_side_create_topic(repl_side *s, const char *topic, int queues, int perm, fm_errbuf *eb)
{
    repl_broker *bs = NULL;
    size_t n = 0;
    char qs[16], ps[16];
    int rc = fm_repl_side_masters(s, &bs, &n, eb);
    snprintf(qs, sizeof(qs), "%d", queues);
    snprintf(ps, sizeof(ps), "%d", perm);
    if (rc == FM_OK && n == 0) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "the target name server knows no master broker");
    }
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("topic"), fm_slice_cstr(topic)},
            {FM_SLICE_LIT("defaultTopic"), FM_SLICE_LIT("TBW102")},
            {FM_SLICE_LIT("readQueueNums"), fm_slice_cstr(qs)},
            {FM_SLICE_LIT("writeQueueNums"), fm_slice_cstr(qs)},
            {FM_SLICE_LIT("perm"), fm_slice_cstr(ps)},
            {FM_SLICE_LIT("topicFilterType"), FM_SLICE_LIT("SINGLE_TAG")},
            {FM_SLICE_LIT("topicSysFlag"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("order"), FM_SLICE_LIT("false")},
        };
        rc = call(s, bs[i].addr, FM_REQ_UPDATE_AND_CREATE_TOPIC, ext, sizeof(ext) / sizeof(ext[0]),
                  fm_slice_make(NULL, 0), NULL, eb);
    }
    free(bs);
    return rc;
}

/* A queue-level request whose answer carries the header field "offset". */
static int
queue_i64(repl_side *s, const repl_queue *q, int code, const char *k, const char *v, int64_t *out,
          fm_errbuf *eb)
{
    char qid[16];
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    snprintf(qid, sizeof(qid), "%d", q->q.queue_id);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("topic"), fm_slice_cstr(q->q.topic)},
        {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
        {fm_slice_cstr(k ? k : ""), fm_slice_cstr(v ? v : "")},
    };
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&s->core, q->addr, code, ext, k ? 3 : 2, fm_slice_make(NULL, 0), 0,
                             &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code == FM_RESP_QUERY_NOT_FOUND) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "no offset");
    } else if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        char remark[256];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        rc = fm_err_set(eb, FERRYMQ_EBROKER, "%s answered request %d with code %d: %s", q->addr,
                        code, resp.code, remark);
    } else if (rc == FM_OK && fm_cmd_ext_i64(&resp, "offset", out) != FM_OK) {
        rc = fm_err_set(eb, FM_EPROTO, "%s: answer without an offset", q->addr);
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

int
fm_repl_side_committed(repl_side *s, const repl_queue *q, const char *group, int64_t *out,
                       fm_errbuf *eb)
{
    int rc = queue_i64(s, q, FM_REQ_QUERY_CONSUMER_OFFSET, "consumerGroup", group, out, eb);
    /* RocketMQ 4.9 answers an unknown group with offset -1 on some paths */
    if (rc == FM_OK && *out < 0) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "no offset");
    }
    return rc;
}

int
fm_repl_side_commit(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                    fm_errbuf *eb)
{
    char qid[16], off[24];
    snprintf(qid, sizeof(qid), "%d", q->q.queue_id);
    snprintf(off, sizeof(off), "%" PRId64, offset);
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(group)},
        {FM_SLICE_LIT("topic"), fm_slice_cstr(q->q.topic)},
        {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
        {FM_SLICE_LIT("commitOffset"), fm_slice_cstr(off)},
    };
    return call(s, q->addr, FM_REQ_UPDATE_CONSUMER_OFFSET, ext, 4, fm_slice_make(NULL, 0), NULL,
                eb);
}

int
fm_repl_side_min_max(repl_side *s, const repl_queue *q, int64_t *min, int64_t *max, fm_errbuf *eb)
{
    int rc = queue_i64(s, q, FM_REQ_GET_MIN_OFFSET, NULL, NULL, min, eb);
    return rc == FM_OK ? queue_i64(s, q, FM_REQ_GET_MAX_OFFSET, NULL, NULL, max, eb) : rc;
}

int
fm_repl_side_search_ts(repl_side *s, const repl_queue *q, int64_t ts_ms, int64_t *out,
                       fm_errbuf *eb)
{
    char ts[24];
    snprintf(ts, sizeof(ts), "%" PRId64, ts_ms);
    return queue_i64(s, q, FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP, "timestamp", ts, out, eb);
}

void
fm_repl_pull_init(repl_pull *p)
{
    memset(p, 0, sizeof(*p));
    fm_proto_arena_init(&p->arena);
}

void
fm_repl_pull_free(repl_pull *p)
{
    fm_buf_free(&p->frame);
    fm_proto_arena_free(&p->arena);
}

/* The answer's code and offsets; FM_OK for the codes a pull may answer. */
int
fm_repl_pull_parse(const repl_queue *q, const fm_cmd *resp, repl_pull *out, fm_errbuf *eb)
{
    out->code = resp->code;
    out->next = out->min = out->max = -1;
    fm_cmd_ext_i64(resp, "nextBeginOffset", &out->next);
    fm_cmd_ext_i64(resp, "minOffset", &out->min);
    fm_cmd_ext_i64(resp, "maxOffset", &out->max);
    out->body = resp->body;
    switch (out->code) {
    case FM_RESP_SUCCESS:
    case FM_RESP_PULL_NOT_FOUND:
    case FM_RESP_PULL_RETRY_IMMEDIATELY:
    case FM_RESP_PULL_OFFSET_MOVED:
        return FM_OK;
    default: {
        char remark[256];
        fm_slice_to_cstr(resp->remark, remark, sizeof(remark));
        return fm_err_set(eb, FERRYMQ_EBROKER, "pull from %s answered code %d: %s", q->addr,
                          out->code, remark);
    }
    }
}

int
fm_repl_side_pull(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                  int max_msgs, int suspend_ms, const char *expr, const char *expr_type,
                  repl_pull *out, fm_errbuf *eb)
{
    fm_client_pull_hdr h;
    int rc;
    fm_client_pull_hdr_init(&h, group, &q->q, offset, max_msgs, suspend_ms, expr, expr_type, 0);
    out->frame.len = 0;
    rc = fm_client_core_call(&s->core, q->addr, FM_REQ_PULL_MESSAGE, h.ext, FM_CLIENT_PULL_EXT,
                             fm_slice_make(NULL, 0), 3000 + suspend_ms, &out->frame, &out->arena,
                             &out->resp, eb);
    return rc != FM_OK ? rc : fm_repl_pull_parse(q, &out->resp, out, eb);
}

int
fm_repl_side_pull_async(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                        int max_msgs, int suspend_ms, const char *expr, const char *expr_type,
                        fm_client_done_fn done, void *ud)
{
    fm_client_pull_hdr h;
    fm_errbuf eb;
    fm_client_pull_hdr_init(&h, group, &q->q, offset, max_msgs, suspend_ms, expr, expr_type, 0);
    return fm_client_pull_call(s->core.rpc, q->addr, &h, 3000 + suspend_ms, done, ud, &eb);
}

int
fm_repl_side_heartbeat(repl_side *s, const char *addr, const char *group, char *const *topics,
                       size_t n_topics, fm_errbuf *eb)
{
    cJSON *root = cJSON_CreateObject(), *set, *c, *subs;
    char *body;
    int rc;
    if (root == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(root, "clientID", s->client_id);
    cJSON_AddArrayToObject(root, "producerDataSet");
    set = cJSON_AddArrayToObject(root, "consumerDataSet");
    c = cJSON_CreateObject();
    cJSON_AddItemToArray(set, c);
    cJSON_AddStringToObject(c, "groupName", group);
    cJSON_AddStringToObject(c, "consumeType", "CONSUME_PASSIVELY");
    cJSON_AddStringToObject(c, "messageModel", "CLUSTERING");
    cJSON_AddStringToObject(c, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET");
    cJSON_AddBoolToObject(c, "unitMode", 0);
    subs = cJSON_AddArrayToObject(c, "subscriptionDataSet");
    for (size_t i = 0; i < n_topics; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(subs, o);
        cJSON_AddBoolToObject(o, "classFilterMode", 0);
        cJSON_AddStringToObject(o, "topic", topics[i]);
        cJSON_AddStringToObject(o, "subString", "*");
        cJSON_AddArrayToObject(o, "tagsSet");
        cJSON_AddArrayToObject(o, "codeSet");
        cJSON_AddNumberToObject(o, "subVersion", 0);
        cJSON_AddStringToObject(o, "expressionType", "TAG");
    }
    body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (body == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = call(s, addr, FM_REQ_HEART_BEAT, NULL, 0, fm_slice_cstr(body), NULL, eb);
    free(body);
    return rc;
}

int
fm_repl_side_members(repl_side *s, const char *addr, const char *group, char ***ids, size_t *n,
                     fm_errbuf *eb)
{
    fm_cmd_ext ext[] = {{FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(group)}};
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    cJSON *ans = NULL;
    int rc;
    *ids = NULL;
    *n = 0;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&s->core, addr, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, ext, 1,
                             fm_slice_make(NULL, 0), 0, &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code == FM_RESP_SYSTEM_ERROR && resp.remark.len >= 26 &&
        memcmp(resp.remark.ptr, "no consumer for this group", 26) == 0) {
        /* RocketMQ's ConsumerManageProcessor.getConsumerListByGroup for a group nobody is
         * online in at that broker: no members, not an error */
    } else if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        char remark[256];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        rc = fm_err_set(eb, FERRYMQ_EBROKER,
                        "%s answered GET_CONSUMER_LIST_BY_GROUP with code %d: %s", addr, resp.code,
                        remark);
    } else if (rc == FM_OK && (rc = parse_json(resp.body, &ans, addr, eb)) == FM_OK) {
        rc = fm_client_consumer_ids(ans, ids, n);
        cJSON_Delete(ans);
        if (rc != FM_OK) {
            rc = fm_err_set(eb, rc, "out of memory");
        }
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

int
fm_repl_side_groups(repl_side *s, const char *addr, char ***names, size_t *n, fm_errbuf *eb)
{
    cJSON *ans = NULL;
    size_t cap = 0;
    int rc = call(s, addr, FM_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, 0, fm_slice_make(NULL, 0),
                  &ans, eb);
    *names = NULL;
    *n = 0;
    if (rc != FM_OK) {
        return rc;
    }
    rc = fm_client_groups_read(ans, names, n, &cap);
    cJSON_Delete(ans);
    return rc == FM_OK ? FM_OK : fm_err_set(eb, rc, "out of memory");
}

int
fm_repl_side_group_config(repl_side *s, const char *addr, const char *group, cJSON **out,
                          fm_errbuf *eb)
{
    cJSON *ans = NULL, *cfg;
    int rc = call(s, addr, FM_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, 0, fm_slice_make(NULL, 0),
                  &ans, eb);
    *out = NULL;
    if (rc != FM_OK) {
        return rc;
    }
    cfg = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ans, "subscriptionGroupTable"), group);
    if (cJSON_IsObject(cfg)) {
        *out = cJSON_DetachItemViaPointer(
            cJSON_GetObjectItemCaseSensitive(ans, "subscriptionGroupTable"), cfg);
    }
    cJSON_Delete(ans);
    return *out != NULL ? FM_OK : fm_err_set(eb, FM_ENOTFOUND, "%s has no group %s", addr, group);
}

int
fm_repl_side_group_create(repl_side *s, const char *addr, const cJSON *cfg, fm_errbuf *eb)
{
    char *body = cJSON_PrintUnformatted(cfg);
    int rc;
    if (body == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = call(s, addr, FM_REQ_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, NULL, 0, fm_slice_cstr(body),
              NULL, eb);
    free(body);
    return rc;
}

int
fm_repl_side_lock(repl_side *s, const char *addr, const char *group, const repl_queue *qs, size_t n,
                  int lock, int *granted, fm_errbuf *eb)
{
    cJSON *root = cJSON_CreateObject(), *set, *ans = NULL;
    char *body;
    int rc;
    if (root == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(root, "consumerGroup", group);
    cJSON_AddStringToObject(root, "clientId", s->client_id);
    set = cJSON_AddArrayToObject(root, "mqSet");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(set, o);
        cJSON_AddStringToObject(o, "topic", qs[i].q.topic);
        cJSON_AddStringToObject(o, "brokerName", qs[i].q.broker_name);
        cJSON_AddNumberToObject(o, "queueId", qs[i].q.queue_id);
    }
    body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (body == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rc = call(s, addr, lock ? FM_REQ_LOCK_BATCH_MQ : FM_REQ_UNLOCK_BATCH_MQ, NULL, 0,
              fm_slice_cstr(body), lock ? &ans : NULL, eb);
    free(body);
    if (rc != FM_OK || !lock) {
        return rc;
    }
    fm_client_lock_granted(ans, &qs[0].q, n, sizeof(*qs), granted);
    cJSON_Delete(ans);
    return FM_OK;
}

void
fm_repl_side_unregister(repl_side *s, const char *addr, const char *group)
{
    fm_errbuf eb;
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("clientID"), fm_slice_cstr(s->client_id)},
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(group)},
    };
    (void)call(s, addr, FM_REQ_UNREGISTER_CLIENT, ext, 2, fm_slice_make(NULL, 0), NULL, &eb);
}

int
fm_repl_side_send(repl_side *s, const char *addr, const char *group, const char *topic, int qid,
                  fm_slice props, fm_slice body, fm_errbuf *eb)
{
    char q[16], born[24];
    snprintf(q, sizeof(q), "%d", qid);
    snprintf(born, sizeof(born), "%" PRId64, fm_clock_wall_ms());
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("a"), fm_slice_cstr(group)},
        {FM_SLICE_LIT("b"), fm_slice_cstr(topic)},
        {FM_SLICE_LIT("c"), FM_SLICE_LIT("TBW102")},
        {FM_SLICE_LIT("d"), FM_SLICE_LIT("4")},
        {FM_SLICE_LIT("e"), fm_slice_cstr(q)},
        {FM_SLICE_LIT("f"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("g"), fm_slice_cstr(born)},
        {FM_SLICE_LIT("h"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("i"), props},
        {FM_SLICE_LIT("j"), FM_SLICE_LIT("0")},
        {FM_SLICE_LIT("k"), FM_SLICE_LIT("false")},
        {FM_SLICE_LIT("m"), FM_SLICE_LIT("false")},
    };
    return call(s, addr, FM_REQ_SEND_MESSAGE_V2, ext, sizeof(ext) / sizeof(ext[0]), body, NULL, eb);
}
