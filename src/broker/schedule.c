/*
 * schedule.c - delay levels, as RocketMQ's ScheduleMessageService: a message with a DELAY
 * property (a producer's delayTimeLevel, or a consumer retry) is stored in SCHEDULE_TOPIC_XXXX,
 * queue level-1, with REAL_TOPIC and REAL_QID saying where it goes; every broker tick each
 * level's queue is read from its offset, and messages whose store time plus the level's delay
 * has passed are stored again in their real topic and queue (DELAY removed). Each level's queue
 * is FIFO with one delay, so the first message not yet due ends that level's scan.
 *
 * The per-level read offsets are kept as the consumer offsets of the pseudo-group %SCHEDULE%
 * (persisted with the other offsets, every flushConsumerOffsetInterval and on shutdown): after
 * a crash a message may be delivered twice, never lost, as in RocketMQ.
 */
#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_GROUP "%SCHEDULE%"

int
fm_broker_delay_levels_parse(const char *spec, int64_t *ms, int max, int *n, fm_errbuf *eb)
{
    const char *p = spec;
    *n = 0;
    while (*p != '\0') {
        char *end;
        long long v;
        int64_t unit;
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (!isdigit((unsigned char)*p)) {
            return fm_err_set(eb, FM_EINVAL, "messageDelayLevel: '%s' is not <number><s|m|h|d>", p);
        }
        v = strtoll(p, &end, 10);
        switch (*end) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60000;
            break;
        case 'h':
            unit = 3600000;
            break;
        case 'd':
            unit = 86400000;
            break;
        default:
            return fm_err_set(eb, FM_EINVAL, "messageDelayLevel: '%s' lacks a unit (s, m, h, d)",
                              p);
        }
        if (end[1] != ' ' && end[1] != '\0') {
            return fm_err_set(eb, FM_EINVAL, "messageDelayLevel: junk after '%.*s'",
                              (int)(end + 1 - p), p);
        }
        if (*n == max) {
            return fm_err_set(eb, FM_ETOOBIG, "messageDelayLevel: more than %d levels", max);
        }
        if (v <= 0 || v > INT64_MAX / unit / 4) {
            return fm_err_set(eb, FM_ERANGE, "messageDelayLevel: level %d out of range", *n + 1);
        }
        ms[(*n)++] = (int64_t)v * unit;
        p = end + 1;
    }
    if (*n == 0) {
        return fm_err_set(eb, FM_EINVAL, "messageDelayLevel is empty");
    }
    return FM_OK;
}

int
fm_broker_props_edit(fm_buf *out, fm_slice in, const char *const *names, const char *const *values,
                     int n)
{
    fm_props_iter it;
    fm_slice k, v;
    fm_buf_reset(out);
    fm_props_iter_init(&it, in);
    while (fm_props_next(&it, &k, &v) == FM_OK) {
        int replaced = 0;
        for (int i = 0; i < n && !replaced; i++) {
            replaced = fm_slice_eq(k, fm_slice_cstr(names[i]));
        }
        if (!replaced && fm_props_append(out, k, v) != FM_OK) {
            return FM_ENOMEM;
        }
    }
    for (int i = 0; i < n; i++) {
        if (values[i] != NULL &&
            fm_props_append(out, fm_slice_cstr(names[i]), fm_slice_cstr(values[i])) != FM_OK) {
            return FM_ENOMEM;
        }
    }
    return FM_OK;
}

int
fm_broker_delay_level_of(fm_broker *b, fm_slice props, int *level)
{
    return fm_broker_delay_level_value(b, fm_props_get(props, FM_PROP_DELAY), level);
}

int
fm_broker_delay_level_value(fm_broker *b, fm_slice d, int *level)
{
    int64_t v;
    *level = 0;
    if (d.ptr == NULL) {
        return FM_OK;
    }
    if (fm_slice_to_i64(d, &v) != FM_OK || v < INT32_MIN || v > INT32_MAX) {
        return FM_EINVAL;
    }
    *level = v <= 0 ? 0 : v > b->n_delay ? b->n_delay : (int)v; /* clamped, as RocketMQ */
    return FM_OK;
}

int
fm_broker_schedule_redirect(fm_buf *out, fm_slice props, const char *topic, int qid)
{
    char qs[16];
    const char *names[] = {FM_PROP_REAL_TOPIC, FM_PROP_REAL_QUEUE_ID};
    const char *values[] = {topic, qs};
    snprintf(qs, sizeof(qs), "%d", qid);
    return fm_broker_props_edit(out, props, names, values, 2);
}

int
fm_broker_schedule_ensure(fm_broker *b, fm_errbuf *eb)
{
    int rc = fm_broker_delay_levels_parse(b->cfg.delay_levels, b->delay_ms, FM_BROKER_MAX_DELAY,
                                          &b->n_delay, eb);
    if (rc != FM_OK) {
        return rc;
    }
    return fm_broker_topic_ensure(b, FM_BROKER_SCHEDULE_TOPIC, b->n_delay, 6, NULL, eb);
}

/* Store a due message in its real topic and queue. FM_OK, or an error to retry later. */
static int
deliver(fm_broker *b, const fm_msg_view *src)
{
    fm_msg_view m = *src;
    fm_slice rt = fm_props_get(src->properties, FM_PROP_REAL_TOPIC);
    fm_slice rq = fm_props_get(src->properties, FM_PROP_REAL_QUEUE_ID);
    char topic[256];
    int64_t qid;
    fm_store_topic t;
    fm_store_put_result res;
    fm_errbuf eb;
    int rc;

    if (rt.ptr == NULL || fm_slice_to_cstr(rt, topic, sizeof(topic)) != FM_OK || rq.ptr == NULL ||
        fm_slice_to_i64(rq, &qid) != FM_OK || fm_store_topic_get(b->st, topic, &t) != FM_OK ||
        qid < 0 || qid >= t.write_queue_nums) {
        FM_LOGW("broker", "FM-SCHEDULE-DROP",
                "offset=%" PRId64 " real_topic=%.*s real_qid=%.*s: no such topic or queue",
                src->phys_offset, (int)rt.len, rt.ptr ? (const char *)rt.ptr : "", (int)rq.len,
                rq.ptr ? (const char *)rq.ptr : "");
        return FM_OK; /* nowhere to go: skip it rather than block the level */
    }
    /* The properties as they are, DELAY, REAL_TOPIC and REAL_QID included: RocketMQ 4.9's
     * ScheduleMessageService.messageTimeup encodes the schedule record's properties string
     * before it clears DELAY from the map, so its consumers see them; a message is delayed
     * only when it is sent, never when it is delivered. */
    m.topic = fm_slice_cstr(topic);
    m.queue_id = (int32_t)qid;
    m.store_timestamp = 0;
    m.store_host = fm_slice_make(b->store_host, 8);
    fm_buf_reset(&b->rec);
    if (fm_msg_encode(&b->rec, &m, &eb) != FM_OK) {
        FM_LOGW("broker", "FM-SCHEDULE-DROP", "offset=%" PRId64 ": %s", src->phys_offset, eb.msg);
        return FM_OK;
    }
    rc = fm_store_append(b->st, b->rec.data, b->rec.len, &res, &eb);
    if (rc != FM_OK) {
        FM_LOGW("broker", "FM-SCHEDULE-PUT-FAIL", "topic=%s err=%s msg=\"%s\"", topic,
                fm_errname(rc), eb.msg);
        return rc;
    }
    fm_broker_stats_put(b, topic, 1, (int64_t)b->rec.len);
    fm_broker_pulls_mark(b, topic, (int)qid);
    return FM_OK;
}

void
fm_broker_schedule_tick(fm_broker *b, int64_t now_wall_ms)
{
    for (int l = 0; l < b->n_delay; l++) {
        int64_t off = 0, start;
        int blocked = 0;
        if (fm_store_offset_query(b->st, SCHED_GROUP, FM_BROKER_SCHEDULE_TOPIC, l, &off) != FM_OK) {
            off = 0;
        }
        start = off;
        for (int round = 0; round < 64 && !blocked; round++) {
            fm_store_get_result r;
            int n;
            if (fm_store_get(b->st, FM_BROKER_SCHEDULE_TOPIC, l, off, 32, 4u << 20, NULL, NULL,
                             &r) != FM_OK) {
                break;
            }
            if (r.status != FM_STORE_FOUND) {
                if (r.status == FM_STORE_OFFSET_TOO_SMALL ||
                    r.status == FM_STORE_OFFSET_OVERFLOW_BADLY) {
                    off = r.next_begin_offset; /* retention removed them, or the queue shrank */
                }
                fm_store_get_release(&r);
                break;
            }
            n = r.n_msgs;
            for (int i = 0; i < r.n_msgs; i++) {
                fm_msg_view m;
                if (fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL) != FM_OK) {
                    off++;
                    continue;
                }
                if (m.store_timestamp + b->delay_ms[l] > now_wall_ms || deliver(b, &m) != FM_OK) {
                    blocked = 1;
                    break;
                }
                off = m.queue_offset + 1;
            }
            fm_store_get_release(&r);
            if (n < 32) {
                break;
            }
        }
        if (off != start) {
            fm_store_offset_commit(b->st, SCHED_GROUP, FM_BROKER_SCHEDULE_TOPIC, l, off);
        }
    }
}
