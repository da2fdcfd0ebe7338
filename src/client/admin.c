/*
 * admin.c - ferrymq_admin: topics, queue offsets, timestamp search, messages by id.
 */
#include "client/client_int.h"

#include "proto/codes.h"
#include "proto/msgid.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ferrymq_admin {
    client_core core;
};

int
ferrymq_admin_new(const ferrymq_conf *conf, ferrymq_admin **out, char *errstr, size_t errstr_size)
{
    return fm_client_handle_new(sizeof(ferrymq_admin), conf, (void **)out, errstr, errstr_size);
}

void
ferrymq_admin_free(ferrymq_admin *a)
{
    fm_client_handle_free(a);
}

void
ferrymq_strings_free(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Ask the name servers (the first that answers) for code; the JSON body parsed into *root. */
static int
namesrv_json(ferrymq_admin *a, int code, cJSON **root, fm_errbuf *eb)
{
    char list[FM_CONFIG_STR_MAX], *save = NULL, *addr;
    int rc = fm_err_set(eb, FM_EINVAL, "namesrvAddr is empty");
    snprintf(list, sizeof(list), "%s", a->core.conf.s.namesrvAddr);
    for (addr = strtok_r(list, ";", &save); addr != NULL; addr = strtok_r(NULL, ";", &save)) {
        fm_buf resp_frame = {0};
        fm_cmd_arena arena;
        fm_cmd resp;
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(&a->core, addr, code, NULL, 0, fm_slice_make(NULL, 0), 0,
                                 &resp_frame, &arena, &resp, eb);
        if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
            rc =
                fm_err_set(eb, FERRYMQ_EBROKER, "name server %s answered code %d", addr, resp.code);
        }
        if (rc == FM_OK) {
            /* RocketMQ's name server writes fastjson: ClusterInfo's brokerAddrs is {0:"..."} */
            rc = fm_client_json_parse(resp.body.ptr, resp.body.len, root, eb);
            if (rc == FM_EPROTO) {
                rc = fm_err_set(eb, FM_EPROTO, "name server %s sent invalid JSON", addr);
            }
        }
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
        if (rc == FM_OK) {
            return FM_OK;
        }
    }
    return rc;
}

static int cluster_brokers(ferrymq_admin *a, ferrymq_broker_info **brokers, size_t *n,
                           fm_errbuf *eb);

int
ferrymq_admin_create_topic(ferrymq_admin *a, const char *topic, int queues, char *errstr,
                           size_t errstr_size)
{
    ferrymq_broker_info *bs = NULL;
    size_t nb = 0;
    fm_errbuf eb;
    char qs[16];
    int rc, created = 0;
    if (a == NULL || topic == NULL || !fm_proto_topic_valid(topic) || queues < 1 || queues > 1024) {
        fm_client_errstr(errstr, errstr_size,
                         "topic must be 1-127 characters of [%%|a-zA-Z0-9_-], queues 1-1024");
        return FERRYMQ_EINVAL;
    }
    /* A topic lives on every master of the cluster: create it on each. */
    rc = cluster_brokers(a, &bs, &nb, &eb);
    snprintf(qs, sizeof(qs), "%d", queues);
    for (size_t i = 0; rc == FM_OK && i < nb; i++) {
        const char *master = bs[i].addr;
        fm_buf resp_frame = {0};
        fm_cmd_arena arena;
        fm_cmd resp;
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("topic"), fm_slice_cstr(topic)},
            {FM_SLICE_LIT("defaultTopic"), FM_SLICE_LIT("TBW102")},
            {FM_SLICE_LIT("readQueueNums"), fm_slice_cstr(qs)},
            {FM_SLICE_LIT("writeQueueNums"), fm_slice_cstr(qs)},
            {FM_SLICE_LIT("perm"), FM_SLICE_LIT("6")},
            {FM_SLICE_LIT("topicFilterType"), FM_SLICE_LIT("SINGLE_TAG")},
            {FM_SLICE_LIT("topicSysFlag"), FM_SLICE_LIT("0")},
            {FM_SLICE_LIT("order"), FM_SLICE_LIT("false")},
        };
        if (bs[i].broker_id != 0) {
            continue;
        }
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(&a->core, master, FM_REQ_UPDATE_AND_CREATE_TOPIC, ext,
                                 sizeof(ext) / sizeof(ext[0]), fm_slice_make(NULL, 0), 0,
                                 &resp_frame, &arena, &resp, &eb);
        if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
            char remark[256];
            fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
            rc = fm_err_set(&eb, FERRYMQ_EBROKER, "broker %s refused: %s", master, remark);
        }
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
        if (rc != FM_OK) {
            break;
        }
        created++;
    }
    free(bs);
    if (rc == FM_OK && created == 0) {
        rc = fm_err_set(&eb, FM_ENOTFOUND, "the name server knows no master broker");
    }
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
ferrymq_admin_topic_list(ferrymq_admin *a, char ***names, size_t *n, char *errstr,
                         size_t errstr_size)
{
    cJSON *root = NULL, *list, *it;
    fm_errbuf eb;
    char **out;
    size_t k = 0;
    int rc = namesrv_json(a, FM_REQ_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &root, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    list = cJSON_GetObjectItemCaseSensitive(root, "topicList");
    out = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*out));
    if (out == NULL) {
        cJSON_Delete(root);
        return FERRYMQ_ENOMEM;
    }
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it) && (out[k] = strdup(it->valuestring)) != NULL) {
            k++;
        }
    }
    cJSON_Delete(root);
    *names = out;
    *n = k;
    return FERRYMQ_OK;
}

int
fm_client_queue_i64(client_core *core, const ferrymq_queue *q, int code, const char *extra_key,
                    const char *extra_val, const char *field, int64_t *out, fm_errbuf *eb)
{
    char addr[128], qid[16];
    fm_buf resp_frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc = fm_client_queue_addr(core, q, addr, sizeof(addr), eb);
    if (rc != FM_OK) {
        return rc;
    }
    snprintf(qid, sizeof(qid), "%d", q->queue_id);
    {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("topic"), fm_slice_cstr(q->topic)},
            {FM_SLICE_LIT("queueId"), fm_slice_cstr(qid)},
            {fm_slice_cstr(extra_key ? extra_key : ""), fm_slice_cstr(extra_val ? extra_val : "")},
        };
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(core, addr, code, ext, extra_key ? 3 : 2, fm_slice_make(NULL, 0),
                                 0, &resp_frame, &arena, &resp, eb);
    }
    if (rc == FM_OK) {
        if (resp.code == FM_RESP_QUERY_NOT_FOUND) {
            rc = fm_err_set(eb, FM_ENOTFOUND, "broker %s has no such offset", addr);
        } else if (resp.code != FM_RESP_SUCCESS) {
            char remark[256];
            fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
            rc = fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", addr, resp.code,
                            remark);
        } else if (fm_cmd_ext_i64(&resp, field, out) != FM_OK) {
            rc = fm_err_set(eb, FM_EPROTO, "reply lacks the %s field", field);
        }
    }
    fm_buf_free(&resp_frame);
    fm_proto_arena_free(&arena);
    return rc;
}

int
ferrymq_admin_queue_offsets(ferrymq_admin *a, const ferrymq_queue *q, int64_t *min, int64_t *max,
                            char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc =
        fm_client_queue_i64(&a->core, q, FM_REQ_GET_MIN_OFFSET, NULL, NULL, "offset", min, &eb);
    if (rc == FM_OK) {
        rc =
            fm_client_queue_i64(&a->core, q, FM_REQ_GET_MAX_OFFSET, NULL, NULL, "offset", max, &eb);
    }
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

/* The store time of the message at offset of q, read with a one-message pull as mqadmin's
 * TOOLS_CONSUMER (no commit); *ts -1 when there is none (a hole, or past the end). */
static int
store_time_at(ferrymq_admin *a, const ferrymq_queue *q, int64_t offset, int64_t *ts, fm_errbuf *eb)
{
    char addr[128];
    fm_client_pull_hdr h;
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    ferrymq_pull_result res;
    int rc = fm_client_queue_addr(&a->core, q, addr, sizeof(addr), eb);
    *ts = -1;
    if (rc != FM_OK) {
        return rc;
    }
    fm_proto_arena_init(&arena);
    fm_client_pull_hdr_init(&h, "TOOLS_CONSUMER", q, offset, 1, 0, "*", "TAG", 0);
    rc = fm_client_core_call(&a->core, addr, FM_REQ_PULL_MESSAGE, h.ext, FM_CLIENT_PULL_EXT,
                             fm_slice_make(NULL, 0), 0, &frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code == FM_RESP_SUCCESS) {
        memset(&res, 0, sizeof(res));
        res.struct_size = sizeof(res);
        rc = fm_client_pull_decode(resp.body, &res, eb);
        /* the first record at or after offset: the one asked for unless offset was a hole */
        if (rc == FM_OK && res.n_msgs > 0 && ferrymq_msg_queue_offset(res.msgs[0]) == offset) {
            *ts = ferrymq_msg_store_timestamp(res.msgs[0]);
        }
        ferrymq_pull_result_clear(&res);
    }
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

/* SEARCH_OFFSET_BY_TIMESTAMP answers as RocketMQ's getOffsetInQueueByTime: the entry whose
 * store time is nearest to ts (for a time after the last message, the last one; with equal
 * times, any of them). What this function promises is the first offset stored at or after
 * ts, so the answer is moved to it: forward past older messages, back over equal or newer
 * ones, a message at a time (the nearest entry is at most one away, but a batch can share a
 * millisecond). Against a broker that already answers exactly, one or two reads check it. */
int
ferrymq_admin_search_offset(ferrymq_admin *a, const ferrymq_queue *q, int64_t ts_ms,
                            int64_t *offset, char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    char ts[24];
    int64_t off, min = 0, max = 0, t;
    int rc;
    snprintf(ts, sizeof(ts), "%" PRId64, ts_ms);
    rc = fm_client_queue_i64(&a->core, q, FM_REQ_SEARCH_OFFSET_BY_TIMESTAMP, "timestamp", ts,
                             "offset", &off, &eb);
    if (rc == FM_OK) {
        rc = fm_client_queue_i64(&a->core, q, FM_REQ_GET_MIN_OFFSET, NULL, NULL, "offset", &min,
                                 &eb);
    }
    if (rc == FM_OK) {
        rc = fm_client_queue_i64(&a->core, q, FM_REQ_GET_MAX_OFFSET, NULL, NULL, "offset", &max,
                                 &eb);
    }
    off = off < min ? min : off > max ? max : off;
    while (rc == FM_OK && off < max && (rc = store_time_at(a, q, off, &t, &eb)) == FM_OK &&
           t >= 0 && t < ts_ms) {
        off++;
    }
    while (rc == FM_OK && off > min && (rc = store_time_at(a, q, off - 1, &t, &eb)) == FM_OK &&
           t >= ts_ms) {
        off--;
    }
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    *offset = off;
    return FM_OK;
}

/* VIEW_MESSAGE_BY_ID on the broker an offset id names. */
static int
view_offset(ferrymq_admin *a, const char *offset_msg_id, ferrymq_msg **out, fm_errbuf *eb)
{
    uint8_t host[20];
    size_t hl;
    uint64_t off;
    char addr[64], offs[24];
    fm_buf resp_frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    if (offset_msg_id == NULL ||
        fm_msgid_parse(fm_slice_cstr(offset_msg_id), host, &hl, &off) != FM_OK || hl != 8) {
        return fm_err_set(eb, FM_EINVAL, "'%s' is not an IPv4 offset message id (32 hex)",
                          offset_msg_id ? offset_msg_id : "");
    }
    /* The id names the broker that stored it: ask that broker directly. */
    snprintf(addr, sizeof(addr), "%u.%u.%u.%u:%u", host[0], host[1], host[2], host[3],
             (unsigned)fm_be32(host + 4));
    snprintf(offs, sizeof(offs), "%" PRIu64, off);
    {
        fm_cmd_ext ext[] = {{FM_SLICE_LIT("offset"), fm_slice_cstr(offs)}};
        fm_proto_arena_init(&arena);
        rc = fm_client_core_call(&a->core, addr, FM_REQ_VIEW_MESSAGE_BY_ID, ext, 1,
                                 fm_slice_make(NULL, 0), 0, &resp_frame, &arena, &resp, eb);
    }
    if (rc == FM_OK) {
        if (resp.code != FM_RESP_SUCCESS) {
            rc = fm_err_set(eb, FM_ENOTFOUND, "no message %s on %s", offset_msg_id, addr);
        } else if (fm_client_msg_from_record(resp.body.ptr, resp.body.len, out) != FM_OK) {
            rc = fm_err_set(eb, FM_EPROTO, "broker %s sent a malformed record", addr);
        }
    }
    fm_buf_free(&resp_frame);
    fm_proto_arena_free(&arena);
    return rc;
}

int
ferrymq_admin_view_message(ferrymq_admin *a, const char *offset_msg_id, ferrymq_msg **out,
                           char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc = view_offset(a, offset_msg_id, out, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

void
ferrymq_msgs_free(ferrymq_msg **msgs, size_t n)
{
    for (size_t i = 0; msgs != NULL && i < n; i++) {
        ferrymq_msg_free(msgs[i]);
    }
    free(msgs);
}

/* Does msg match what was asked: its UNIQ_KEY (uniq) or one of its KEYS words, in topic?
 * MQAdminImpl.queryMessage applies the same test to what the brokers send. */
static int
msg_matches(const ferrymq_msg *m, const char *topic, const char *key, int uniq)
{
    const char *v = ferrymq_msg_property(m, uniq ? "UNIQ_KEY" : "KEYS");
    size_t kl = strlen(key);
    if (v == NULL || strcmp(ferrymq_msg_topic(m), topic) != 0) {
        return 0;
    }
    if (uniq) {
        return strcmp(v, key) == 0;
    }
    for (const char *p = v;;) {
        const char *sp = strchr(p, ' ');
        size_t wl = sp ? (size_t)(sp - p) : strlen(p);
        if (wl == kl && memcmp(p, key, kl) == 0) {
            return 1;
        }
        if (sp == NULL) {
            return 0;
        }
        p = sp + 1;
    }
}

typedef struct msg_list {
    ferrymq_msg **v;
    size_t n, cap;
} msg_list;

static int
list_push(msg_list *l, ferrymq_msg *m)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ferrymq_msg **nv = realloc(l->v, cap * sizeof(*nv));
        if (nv == NULL) {
            return FM_ENOMEM;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = m;
    return FM_OK;
}

/* The records of a QUERY_MESSAGE answer, back to back, into l (matching ones only). */
static int
decode_records(fm_slice body, const char *topic, const char *key, int uniq, msg_list *l,
               const char *addr, fm_errbuf *eb)
{
    size_t pos = 0;
    while (pos < body.len) {
        ferrymq_msg *m;
        uint32_t total;
        if (body.len - pos < 4 || (total = fm_be32(body.ptr + pos)) < 4 || total > body.len - pos ||
            fm_client_msg_from_record(body.ptr + pos, total, &m) != FM_OK) {
            return fm_err_set(eb, FM_EPROTO, "broker %s sent a malformed record", addr);
        }
        pos += total;
        if (!msg_matches(m, topic, key, uniq)) {
            ferrymq_msg_free(m); /* same hash, other key */
            continue;
        }
        if (list_push(l, m) != FM_OK) {
            ferrymq_msg_free(m);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    return FM_OK;
}

/* QUERY_MESSAGE on every master of topic's route; matches appended to l. FM_OK when at least
 * one broker answered (found or not), else the last error. */
static int
query(ferrymq_admin *a, const char *topic, const char *key, int uniq, int max_num, int64_t begin_ms,
      int64_t end_ms, msg_list *l, fm_errbuf *eb)
{
    client_route *r = NULL;
    char maxs[16], begins[24], ends[24];
    int rc, answered = 0;
    rc = fm_client_core_route(&a->core, topic, 0, 0, &r, eb);
    if (rc != FM_OK) {
        return rc == FM_ENOTFOUND ? fm_err_set(eb, FM_ENOTFOUND, "topic %s has no route", topic)
                                  : rc;
    }
    snprintf(maxs, sizeof(maxs), "%d", max_num);
    snprintf(begins, sizeof(begins), "%" PRId64, begin_ms);
    snprintf(ends, sizeof(ends), "%" PRId64, end_ms);
    for (int i = 0; i < r->n; i++) {
        fm_cmd_ext ext[] = {
            {FM_SLICE_LIT("topic"), fm_slice_cstr(topic)},
            {FM_SLICE_LIT("key"), fm_slice_cstr(key)},
            {FM_SLICE_LIT("maxNum"), fm_slice_cstr(maxs)},
            {FM_SLICE_LIT("beginTimestamp"), fm_slice_cstr(begins)},
            {FM_SLICE_LIT("endTimestamp"), fm_slice_cstr(ends)},
            {FM_SLICE_LIT("_UNIQUE_KEY_QUERY"), fm_slice_cstr(uniq ? "true" : "false")}};
        fm_buf resp_frame = {0};
        fm_cmd_arena arena;
        fm_cmd resp;
        int seen = 0, qrc;
        /* one request per broker, not per queue */
        for (int k = 0; k < i && !seen; k++) {
            seen = strcmp(r->q[k].addr, r->q[i].addr) == 0;
        }
        if (seen) {
            continue;
        }
        fm_proto_arena_init(&arena);
        qrc = fm_client_core_call(&a->core, r->q[i].addr, FM_REQ_QUERY_MESSAGE, ext, 6,
                                  fm_slice_make(NULL, 0), 0, &resp_frame, &arena, &resp, eb);
        if (qrc == FM_OK && resp.code == FM_RESP_SUCCESS) {
            qrc = decode_records(resp.body, topic, key, uniq, l, r->q[i].addr, eb);
        } else if (qrc == FM_OK && resp.code != FM_RESP_QUERY_NOT_FOUND) {
            qrc = fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %.*s", r->q[i].addr,
                             resp.code, (int)resp.remark.len, (const char *)resp.remark.ptr);
        }
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
        if (qrc == FM_ENOMEM || qrc == FM_EPROTO) {
            fm_client_route_release(r);
            return qrc;
        }
        if (qrc == FM_OK) {
            answered = 1;
        } else {
            rc = qrc;
        }
    }
    fm_client_route_release(r);
    return answered ? FM_OK : rc;
}

int
ferrymq_admin_query_message(ferrymq_admin *a, const char *topic, const char *key, int max_num,
                            int64_t begin_ms, int64_t end_ms, ferrymq_msg ***msgs, size_t *n,
                            char *errstr, size_t errstr_size)
{
    msg_list l = {0};
    fm_errbuf eb;
    int rc;
    if (a == NULL || topic == NULL || topic[0] == '\0' || key == NULL || key[0] == '\0' ||
        msgs == NULL || n == NULL || max_num < 1 || max_num > 64 || begin_ms > end_ms) {
        fm_client_errstr(errstr, errstr_size,
                         "query needs a topic, a key, max_num 1..64 and begin <= end");
        return FERRYMQ_EINVAL;
    }
    rc = query(a, topic, key, 0, max_num, begin_ms, end_ms, &l, &eb);
    if (rc == FM_OK && l.n == 0) {
        rc = fm_err_set(&eb, FM_ENOTFOUND, "no message with key '%s' in topic %s", key, topic);
    }
    if (rc != FM_OK) {
        ferrymq_msgs_free(l.v, l.n);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    *msgs = l.v;
    *n = l.n;
    return FERRYMQ_OK;
}

/* By UNIQ_KEY; fills eb on failure. */
static int
by_uniq(ferrymq_admin *a, const char *topic, const char *uniq_key, ferrymq_msg **out, fm_errbuf *eb)
{
    msg_list l = {0};
    size_t best = 0;
    /* From the beginning of time rather than from the id's "nearly time": the time in a
     * UNIQ_KEY counts from the start of its producer's local month, which a reader in another
     * time zone cannot place exactly, and the index walks one hash chain either way. */
    int rc = query(a, topic, uniq_key, 1, 32, 0, INT64_MAX, &l, eb);
    if (rc == FM_OK && l.n == 0) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "no message with id %s in topic %s", uniq_key, topic);
    }
    if (rc != FM_OK) {
        ferrymq_msgs_free(l.v, l.n);
        return rc;
    }
    for (size_t i = 1; i < l.n; i++) {
        if (ferrymq_msg_store_timestamp(l.v[i]) < ferrymq_msg_store_timestamp(l.v[best])) {
            best = i;
        }
    }
    *out = l.v[best];
    l.v[best] = l.v[--l.n];
    ferrymq_msgs_free(l.v, l.n);
    return FM_OK;
}

int
ferrymq_admin_query_uniq_key(ferrymq_admin *a, const char *topic, const char *uniq_key,
                             ferrymq_msg **out, char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    int rc;
    if (a == NULL || topic == NULL || topic[0] == '\0' || uniq_key == NULL || uniq_key[0] == '\0' ||
        out == NULL) {
        fm_client_errstr(errstr, errstr_size, "query by id needs a topic and an id");
        return FERRYMQ_EINVAL;
    }
    rc = by_uniq(a, topic, uniq_key, out, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
ferrymq_admin_message_by_id(ferrymq_admin *a, const char *topic, const char *msg_id,
                            ferrymq_msg **out, char *errstr, size_t errstr_size)
{
    uint8_t raw[20];
    size_t hl;
    uint64_t off;
    fm_errbuf eb;
    int rc, maybe_offset;
    if (a == NULL || msg_id == NULL || out == NULL ||
        fm_msgid_parse(fm_slice_cstr(msg_id), raw, &hl, &off) != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "'%s' is not a message id (32 or 56 hex characters)",
                         msg_id ? msg_id : "");
        return FERRYMQ_EINVAL;
    }
    if (topic != NULL && topic[0] == '\0') {
        topic = NULL;
    }
    /* An offset id's port is 4 bytes, the high two zero; a UNIQ_KEY has the pid there. */
    maybe_offset = hl == 8 && raw[4] == 0 && raw[5] == 0 && fm_be32(raw + 4) != 0;
    if (maybe_offset) {
        rc = view_offset(a, msg_id, out, &eb);
        if (rc == FM_OK || topic == NULL) {
            if (rc != FM_OK) {
                fm_client_errstr(errstr, errstr_size,
                                 "%s (if it is a client id, UNIQ_KEY, give its topic)", eb.msg);
            }
            return rc;
        }
    } else if (topic == NULL) {
        fm_client_errstr(errstr, errstr_size,
                         "%s is a client message id (UNIQ_KEY): finding it needs its topic",
                         msg_id);
        return FERRYMQ_EINVAL;
    }
    rc = by_uniq(a, topic, msg_id, out, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

int
fm_client_cluster_brokers(const cJSON *info, ferrymq_broker_info **brokers, size_t *n)
{
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(info, "brokerAddrTable"), *bd, *addr;
    ferrymq_broker_info *out;
    size_t k = 0, cap = 0;
    cJSON_ArrayForEach(bd, table)
    {
        cap += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs"));
    }
    out = calloc(cap + 1, sizeof(*out));
    if (out == NULL) {
        return FM_ENOMEM;
    }
    cJSON_ArrayForEach(bd, table)
    {
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(bd, "cluster");
        const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs");
        if (bd->string == NULL || !cJSON_IsObject(addrs)) {
            continue; /* a table that is not a map of BrokerData */
        }
        cJSON_ArrayForEach(addr, addrs)
        {
            /* BrokerData.brokerAddrs is a Map<Long,String>: the key is the broker id */
            char *end = NULL;
            long long id;
            if (k == cap || !cJSON_IsString(addr) || addr->string == NULL) {
                continue;
            }
            id = strtoll(addr->string, &end, 10);
            if (end == addr->string || *end != '\0') {
                continue;
            }
            snprintf(out[k].cluster, sizeof(out[k].cluster), "%s",
                     cJSON_IsString(cl) ? cl->valuestring : "");
            snprintf(out[k].broker_name, sizeof(out[k].broker_name), "%s", bd->string);
            out[k].broker_id = id;
            snprintf(out[k].addr, sizeof(out[k].addr), "%s", addr->valuestring);
            k++;
        }
    }
    *brokers = out;
    *n = k;
    return FM_OK;
}

/* The brokers the name server knows (GET_BROKER_CLUSTER_INFO); *brokers malloc'ed. */
static int
cluster_brokers(ferrymq_admin *a, ferrymq_broker_info **brokers, size_t *n, fm_errbuf *eb)
{
    cJSON *root = NULL;
    int rc = namesrv_json(a, FM_REQ_GET_BROKER_CLUSTER_INFO, &root, eb);
    if (rc == FM_OK && fm_client_cluster_brokers(root, brokers, n) != FM_OK) {
        rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    cJSON_Delete(root);
    return rc;
}

int
ferrymq_admin_brokers(ferrymq_admin *a, ferrymq_broker_info **brokers, size_t *n, char *errstr,
                      size_t errstr_size)
{
    fm_errbuf eb;
    int rc = cluster_brokers(a, brokers, n, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}

/* ---- consumer groups ---- */

/* Call fn for each master broker the name server knows; stops at the first error. */
static int
for_each_master(ferrymq_admin *a, int (*fn)(ferrymq_admin *a, const char *addr, void *ud), void *ud,
                fm_errbuf *eb)
{
    ferrymq_broker_info *bs = NULL;
    size_t nb = 0;
    int rc = cluster_brokers(a, &bs, &nb, eb), n = 0;
    for (size_t i = 0; rc == FM_OK && i < nb; i++) {
        if (bs[i].broker_id != 0) {
            continue;
        }
        rc = fn(a, bs[i].addr, ud);
        n++;
    }
    free(bs);
    if (rc == FM_OK && n == 0) {
        rc = fm_err_set(eb, FM_ENOTFOUND, "the name server knows no master broker");
    }
    return rc;
}

/* One request to a broker whose SUCCESS body is returned in body (a copy). */
static int
broker_call(ferrymq_admin *a, const char *addr, int code, const fm_cmd_ext *ext, size_t n_ext,
            fm_buf *body, fm_errbuf *eb)
{
    fm_buf resp_frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    int rc;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&a->core, addr, code, ext, n_ext, fm_slice_make(NULL, 0), 0,
                             &resp_frame, &arena, &resp, eb);
    if (rc == FM_OK && resp.code != FM_RESP_SUCCESS) {
        char remark[256];
        fm_slice_to_cstr(resp.remark, remark, sizeof(remark));
        rc = fm_err_set(eb, FERRYMQ_EBROKER, "broker %s answered code %d: %s", addr, resp.code,
                        remark);
    }
    if (rc == FM_OK) {
        fm_buf_reset(body);
        rc = fm_buf_append(body, resp.body.ptr, resp.body.len);
    }
    fm_buf_free(&resp_frame);
    fm_proto_arena_free(&arena);
    return rc;
}

typedef struct names_acc {
    char **names;
    size_t n, cap;
    fm_errbuf *eb;
} names_acc;

int
fm_client_groups_read(const cJSON *wrapper, char ***names, size_t *n, size_t *cap)
{
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(wrapper, "subscriptionGroupTable"), *g;
    if (!cJSON_IsObject(table)) {
        return FM_OK; /* no table: no groups */
    }
    /* a ConcurrentMap<String,SubscriptionGroupConfig>: the keys are the group names */
    cJSON_ArrayForEach(g, table)
    {
        if (fm_client_names_add(names, n, cap, g->string) != FM_OK) {
            return FM_ENOMEM;
        }
    }
    return FM_OK;
}

static int
collect_groups(ferrymq_admin *a, const char *addr, void *ud)
{
    names_acc *acc = ud;
    fm_buf body = {0};
    cJSON *root;
    int rc = broker_call(a, addr, FM_REQ_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, 0, &body, acc->eb);
    if (rc != FM_OK) {
        fm_buf_free(&body);
        return rc;
    }
    rc = fm_client_json_parse(body.data, body.len, &root, acc->eb);
    fm_buf_free(&body);
    if (rc != FM_OK) {
        return rc == FM_ENOMEM
                   ? rc
                   : fm_err_set(acc->eb, FM_EPROTO, "broker %s sent invalid JSON", addr);
    }
    rc = fm_client_groups_read(root, &acc->names, &acc->n, &acc->cap);
    cJSON_Delete(root);
    return rc == FM_OK ? FM_OK : fm_err_set(acc->eb, FM_ENOMEM, "out of memory");
}

static int
cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int
ferrymq_admin_group_list(ferrymq_admin *a, char ***names, size_t *n, char *errstr,
                         size_t errstr_size)
{
    fm_errbuf eb;
    names_acc acc = {NULL, 0, 0, &eb};
    int rc = for_each_master(a, collect_groups, &acc, &eb);
    if (rc != FM_OK) {
        ferrymq_strings_free(acc.names, acc.n);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    if (acc.n > 1) {
        qsort(acc.names, acc.n, sizeof(char *), cmp_names);
    }
    *names = acc.names;
    *n = acc.n;
    return FERRYMQ_OK;
}

int
fm_client_names_add(char ***names, size_t *n, size_t *cap, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*names)[i], name) == 0) {
            return FM_OK;
        }
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **nn = realloc(*names, ncap * sizeof(*nn));
        if (nn == NULL) {
            return FM_ENOMEM;
        }
        *names = nn;
        *cap = ncap;
    }
    if (((*names)[*n] = strdup(name)) == NULL) {
        return FM_ENOMEM;
    }
    (*n)++;
    return FM_OK;
}

/* Add name to acc unless it is there already. */
static int
names_add(names_acc *acc, const char *name)
{
    if (fm_client_names_add(&acc->names, &acc->n, &acc->cap, name) != FM_OK) {
        return fm_err_set(acc->eb, FM_ENOMEM, "out of memory");
    }
    return FM_OK;
}

typedef struct members_acc {
    names_acc names;
    const char *group;
} members_acc;

static int
collect_members(ferrymq_admin *a, const char *addr, void *ud)
{
    members_acc *acc = ud;
    fm_buf frame = {0};
    fm_cmd_arena arena;
    fm_cmd resp;
    cJSON *root = NULL, *id;
    fm_cmd_ext ext[] = {{FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(acc->group)}};
    int rc;
    fm_proto_arena_init(&arena);
    rc = fm_client_core_call(&a->core, addr, FM_REQ_GET_CONSUMER_LIST_BY_GROUP, ext, 1,
                             fm_slice_make(NULL, 0), 0, &frame, &arena, &resp, acc->names.eb);
    /* RocketMQ answers SYSTEM_ERROR "no consumer for this group" when nobody is online there */
    if (rc == FM_OK && resp.code == FM_RESP_SUCCESS) {
        rc = fm_client_json_parse(resp.body.ptr, resp.body.len, &root, acc->names.eb);
        if (rc == FM_EPROTO) {
            rc = fm_err_set(acc->names.eb, FM_EPROTO, "broker %s sent invalid JSON", addr);
        }
    }
    cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(root, "consumerIdList"))
    {
        if (cJSON_IsString(id) && (rc = names_add(&acc->names, id->valuestring)) != FM_OK) {
            break;
        }
    }
    cJSON_Delete(root);
    fm_buf_free(&frame);
    fm_proto_arena_free(&arena);
    return rc;
}

int
ferrymq_admin_group_members(ferrymq_admin *a, const char *group, char ***client_ids, size_t *n,
                            char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    members_acc acc;
    int rc;
    if (a == NULL || group == NULL || group[0] == '\0' || client_ids == NULL || n == NULL) {
        fm_client_errstr(errstr, errstr_size, "a group is required");
        return FERRYMQ_EINVAL;
    }
    memset(&acc, 0, sizeof(acc));
    acc.names.eb = &eb;
    acc.group = group;
    rc = for_each_master(a, collect_members, &acc, &eb);
    if (rc != FM_OK) {
        ferrymq_strings_free(acc.names.names, acc.names.n);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    if (acc.names.n > 1) {
        qsort(acc.names.names, acc.names.n, sizeof(char *), cmp_names);
    }
    *client_ids = acc.names.names;
    *n = acc.names.n;
    return FERRYMQ_OK;
}

typedef struct progress_acc {
    const char *group, *topic;
    ferrymq_queue_progress *rows;
    size_t n, cap;
    fm_errbuf *eb;
} progress_acc;

static int64_t
json_i64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

int
fm_client_consume_stats_read(const cJSON *stats, ferrymq_queue_progress **rows, size_t *n,
                             size_t *cap)
{
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(stats, "offsetTable"), *e;
    if (!cJSON_IsObject(table)) {
        return FM_OK;
    }
    cJSON_ArrayForEach(e, table)
    {
        /* a Map<MessageQueue,OffsetWrapper>: each key is a MessageQueue's JSON text */
        cJSON *mq = NULL;
        const cJSON *t, *bn;
        ferrymq_queue_progress *p;
        if (fm_client_json_parse((const uint8_t *)e->string, strlen(e->string), &mq, NULL) ==
            FM_ENOMEM) {
            return FM_ENOMEM;
        }
        t = cJSON_GetObjectItemCaseSensitive(mq, "topic");
        bn = cJSON_GetObjectItemCaseSensitive(mq, "brokerName");
        if (!cJSON_IsString(t) || !cJSON_IsString(bn)) {
            cJSON_Delete(mq);
            continue;
        }
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 16;
            ferrymq_queue_progress *nr = realloc(*rows, ncap * sizeof(*nr));
            if (nr == NULL) {
                cJSON_Delete(mq);
                return FM_ENOMEM;
            }
            *rows = nr;
            *cap = ncap;
        }
        p = &(*rows)[(*n)++];
        memset(p, 0, sizeof(*p));
        snprintf(p->queue.topic, sizeof(p->queue.topic), "%s", t->valuestring);
        snprintf(p->queue.broker_name, sizeof(p->queue.broker_name), "%s", bn->valuestring);
        p->queue.queue_id = (int)json_i64(mq, "queueId");
        p->broker_offset = json_i64(e, "brokerOffset");
        p->consumer_offset = json_i64(e, "consumerOffset");
        p->last_timestamp = json_i64(e, "lastTimestamp");
        cJSON_Delete(mq);
    }
    return FM_OK;
}

static int
collect_progress(ferrymq_admin *a, const char *addr, void *ud)
{
    progress_acc *acc = ud;
    fm_buf body = {0};
    cJSON *root = NULL;
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("consumerGroup"), fm_slice_cstr(acc->group)},
        {FM_SLICE_LIT("topic"), fm_slice_cstr(acc->topic ? acc->topic : "")},
    };
    int rc = broker_call(a, addr, FM_REQ_GET_CONSUME_STATS, ext, 2, &body, acc->eb);
    if (rc == FM_OK) {
        /* offsetTable is a Map<MessageQueue,OffsetWrapper>: object keys, as fastjson writes */
        rc = fm_client_json_parse(body.data, body.len, &root, acc->eb);
        if (rc == FM_EPROTO) {
            rc = fm_err_set(acc->eb, FM_EPROTO, "broker %s sent unreadable consume stats", addr);
        }
    }
    fm_buf_free(&body);
    if (rc == FM_OK &&
        fm_client_consume_stats_read(root, &acc->rows, &acc->n, &acc->cap) != FM_OK) {
        rc = fm_err_set(acc->eb, FM_ENOMEM, "out of memory");
    }
    cJSON_Delete(root);
    return rc;
}

static int
cmp_progress(const void *x, const void *y)
{
    const ferrymq_queue_progress *a = x, *b = y;
    int c = strcmp(a->queue.topic, b->queue.topic);
    if (c == 0) {
        c = strcmp(a->queue.broker_name, b->queue.broker_name);
    }
    return c != 0 ? c : a->queue.queue_id - b->queue.queue_id;
}

int
ferrymq_admin_group_progress(ferrymq_admin *a, const char *group, const char *topic,
                             ferrymq_queue_progress **rows, size_t *n, char *errstr,
                             size_t errstr_size)
{
    fm_errbuf eb;
    progress_acc acc;
    int rc;
    if (a == NULL || group == NULL || group[0] == '\0') {
        fm_client_errstr(errstr, errstr_size, "a group is required");
        return FERRYMQ_EINVAL;
    }
    memset(&acc, 0, sizeof(acc));
    acc.group = group;
    acc.topic = topic;
    acc.eb = &eb;
    rc = for_each_master(a, collect_progress, &acc, &eb);
    if (rc != FM_OK) {
        free(acc.rows);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    if (acc.n > 1) {
        qsort(acc.rows, acc.n, sizeof(*acc.rows), cmp_progress);
    }
    *rows = acc.rows;
    *n = acc.n;
    return FERRYMQ_OK;
}

typedef struct reset_args {
    const char *group, *topic;
    char ts[24];
    fm_errbuf *eb;
} reset_args;

static int
reset_on(ferrymq_admin *a, const char *addr, void *ud)
{
    reset_args *r = ud;
    fm_buf body = {0};
    fm_cmd_ext ext[] = {
        {FM_SLICE_LIT("topic"), fm_slice_cstr(r->topic)},
        {FM_SLICE_LIT("group"), fm_slice_cstr(r->group)},
        {FM_SLICE_LIT("timestamp"), fm_slice_cstr(r->ts)},
        {FM_SLICE_LIT("isForce"), FM_SLICE_LIT("true")},
    };
    int rc = broker_call(a, addr, FM_REQ_INVOKE_BROKER_TO_RESET_OFFSET, ext, 4, &body, r->eb);
    fm_buf_free(&body);
    return rc;
}

int
ferrymq_admin_group_reset(ferrymq_admin *a, const char *group, const char *topic, int64_t ts_ms,
                          char *errstr, size_t errstr_size)
{
    fm_errbuf eb;
    reset_args r;
    int rc;
    if (a == NULL || group == NULL || topic == NULL || ts_ms < -1) {
        fm_client_errstr(errstr, errstr_size, "group, topic and a time >= -1 are required");
        return FERRYMQ_EINVAL;
    }
    r.group = group;
    r.topic = topic;
    r.eb = &eb;
    snprintf(r.ts, sizeof(r.ts), "%" PRId64, ts_ms);
    rc = for_each_master(a, reset_on, &r, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
    }
    return rc;
}
