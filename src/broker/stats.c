/*
 * stats.c - the broker's statistics as RocketMQ 4.9 keeps them, for the requests mqadmin's
 * clusterList, brokerStatus, statsAll and brokerConsumeStats read:
 *
 * - BrokerStatsManager's items (VIEW_BROKER_STATS_DATA): per topic TOPIC_PUT_NUMS and
 *   TOPIC_PUT_SIZE, per "topic@group" GROUP_GET_NUMS, GROUP_GET_SIZE and SNDBCK_PUT_NUMS, per
 *   cluster BROKER_PUT_NUMS and BROKER_GET_NUMS. Each counter adds a value and a count of
 *   events ("times"); StatsItemSet's sampling gives its minute (a sample every 10 s, 7 kept),
 *   hour (every 10 min, 7 kept) and day (every hour, 25 kept) figures: sum = last - first,
 *   tps = sum per second between them, avgpt = sum / times. As RocketMQ, the first sample of
 *   a window is preceded by a zero one a period earlier, and an item exists from its first
 *   event on.
 * - StoreStatsService's broker-wide TPS for GET_BROKER_RUNTIME_INFO: one sample a second of
 *   the put, found, miss and transferred counts, 601 kept, read over the last 10, 60 and 600
 *   seconds; and BrokerStats' put and get totals at the start of today and of yesterday
 *   (taken at local midnight; 0 until the first one).
 *
 * Cost on the hot path: per send or pull request, one lookup of its item (the last one is
 * kept, so a stream of requests for one topic or group does no hashing) and a few adds; no
 * allocation after the item's first event.
 */
#include "broker/broker_int.h"
#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MINUTE_EVERY_MS 10000LL
#define HOUR_EVERY_MS 600000LL
#define DAY_EVERY_MS 3600000LL

typedef struct window {
    int64_t ts[25], value[25], times[25];
    int n, keep;
} window;

struct stats_counter {
    int64_t value, times;
    window minute, hour, day;
};

/* An item of a family: its counters (NUMS, then SIZE). */
typedef struct stats_item {
    struct stats_counter c[2];
} stats_item;

static const char *const family_names[FM_STATS_N][2] = {
    [FM_STATS_TOPIC_PUT] = {"TOPIC_PUT_NUMS", "TOPIC_PUT_SIZE"},
    [FM_STATS_GROUP_GET] = {"GROUP_GET_NUMS", "GROUP_GET_SIZE"},
    [FM_STATS_SNDBCK_PUT] = {"SNDBCK_PUT_NUMS", NULL},
    [FM_STATS_BROKER_PUT] = {"BROKER_PUT_NUMS", NULL},
    [FM_STATS_BROKER_GET] = {"BROKER_GET_NUMS", NULL},
};

static void
window_push(window *w, int64_t ts, int64_t value, int64_t times, int64_t period)
{
    if (w->n == 0) {
        /* StatsItem's seed: what the counter held a period before its first sample */
        w->ts[0] = ts - period;
        w->value[0] = 0;
        w->times[0] = 0;
        w->n = 1;
    }
    if (w->n == w->keep) {
        memmove(w->ts, w->ts + 1, (size_t)(w->n - 1) * sizeof(w->ts[0]));
        memmove(w->value, w->value + 1, (size_t)(w->n - 1) * sizeof(w->value[0]));
        memmove(w->times, w->times + 1, (size_t)(w->n - 1) * sizeof(w->times[0]));
        w->n--;
    }
    w->ts[w->n] = ts;
    w->value[w->n] = value;
    w->times[w->n] = times;
    w->n++;
}

static fm_stats_figure
window_figure(const window *w)
{
    fm_stats_figure f = {0, 0.0, 0.0};
    int64_t dt, dtimes;
    if (w->n < 2) {
        return f;
    }
    f.sum = w->value[w->n - 1] - w->value[0];
    dt = w->ts[w->n - 1] - w->ts[0];
    dtimes = w->times[w->n - 1] - w->times[0];
    f.tps = dt > 0 ? (double)f.sum * 1000.0 / (double)dt : 0.0;
    f.avgpt = dtimes > 0 ? (double)f.sum / (double)dtimes : 0.0;
    return f;
}

static stats_item *
item_get(fm_broker_stats *s, int family, const char *key, size_t kl, int create)
{
    stats_item *it;
    if (s->last[family] != NULL && s->last_len[family] == kl &&
        memcmp(s->last_key[family], key, kl) == 0) {
        return s->last[family];
    }
    it = fm_map_get(&s->items[family], key, kl);
    if (it == NULL && create) {
        if ((it = calloc(1, sizeof(*it))) == NULL) {
            return NULL;
        }
        for (int i = 0; i < 2; i++) {
            it->c[i].minute.keep = 7;
            it->c[i].hour.keep = 7;
            it->c[i].day.keep = 25;
        }
        if (fm_map_put(&s->items[family], key, kl, it) != FM_OK) {
            free(it);
            return NULL;
        }
    }
    if (it != NULL && kl < sizeof(s->last_key[family])) {
        memcpy(s->last_key[family], key, kl);
        s->last_len[family] = kl;
        s->last[family] = it;
    }
    return it;
}

void
fm_broker_stats_add(fm_broker_stats *s, int family, const char *key, size_t kl, int64_t nums,
                    int64_t size)
{
    stats_item *it = item_get(s, family, key, kl, 1);
    if (it == NULL) {
        return; /* out of memory: a figure is lost, nothing else */
    }
    it->c[0].value += nums;
    it->c[1].value += size;
    /* BrokerStatsManager counts no events for the broker-wide items (their avgpt is 0) */
    if (family != FM_STATS_BROKER_PUT && family != FM_STATS_BROKER_GET) {
        it->c[0].times++;
        it->c[1].times++;
    }
}

void
fm_broker_stats_put(fm_broker *b, const char *topic, int64_t msgs, int64_t bytes)
{
    fm_broker_stats *s = &b->stats;
    fm_broker_stats_add(s, FM_STATS_TOPIC_PUT, topic, strlen(topic), msgs, bytes);
    fm_broker_stats_add(s, FM_STATS_BROKER_PUT, b->cfg.cluster_name, strlen(b->cfg.cluster_name),
                        msgs, 0);
    s->put += msgs;
    s->put_bytes += bytes;
}

void
fm_broker_stats_get(fm_broker *b, const char *topic, const char *group, int64_t msgs, int64_t bytes)
{
    fm_broker_stats *s = &b->stats;
    char key[520];
    int n = snprintf(key, sizeof(key), "%s@%s", topic, group);
    if (msgs > 0) {
        if (n > 0 && (size_t)n < sizeof(key)) {
            fm_broker_stats_add(s, FM_STATS_GROUP_GET, key, (size_t)n, msgs, bytes);
        }
        fm_broker_stats_add(s, FM_STATS_BROKER_GET, b->cfg.cluster_name,
                            strlen(b->cfg.cluster_name), msgs, 0);
        s->get_found++;
        s->get_transferred += msgs;
    } else {
        s->get_miss++;
    }
}

static void
sample_family(fm_map *m, int64_t now, int which, int64_t period)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(m, &pos, &key, &kl, &val)) {
        stats_item *it = val;
        for (int i = 0; i < 2; i++) {
            struct stats_counter *c = &it->c[i];
            window *w = which == 0 ? &c->minute : which == 1 ? &c->hour : &c->day;
            window_push(w, now, c->value, c->times, period);
        }
    }
}

/* Local days since the epoch: BrokerStats takes its "morning" figures at local midnight. */
static int64_t
local_day(int64_t wall_ms)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    return (int64_t)tm.tm_year * 400 + tm.tm_yday;
}

void
fm_broker_stats_tick(fm_broker *b, int64_t wall_ms)
{
    fm_broker_stats *s = &b->stats;
    int64_t day = local_day(wall_ms);
    if (s->next_second_ms == 0) {
        s->next_second_ms = s->next_minute_ms = s->next_hour_ms = s->next_day_ms = wall_ms;
        s->day = day;
    }
    if (wall_ms >= s->next_second_ms) {
        fm_store_sample *x;
        if (s->n_samples == FM_STATS_SECONDS) {
            memmove(s->samples, s->samples + 1, (FM_STATS_SECONDS - 1) * sizeof(s->samples[0]));
            s->n_samples--;
        }
        x = &s->samples[s->n_samples++];
        x->ts = wall_ms;
        x->put = s->put;
        x->get_found = s->get_found;
        x->get_miss = s->get_miss;
        x->get_transferred = s->get_transferred;
        s->next_second_ms = wall_ms + 1000;
    }
    for (int which = 0; which < 3; which++) {
        int64_t *next = which == 0   ? &s->next_minute_ms
                        : which == 1 ? &s->next_hour_ms
                                     : &s->next_day_ms;
        int64_t period = which == 0 ? MINUTE_EVERY_MS : which == 1 ? HOUR_EVERY_MS : DAY_EVERY_MS;
        if (wall_ms >= *next) {
            for (int f = 0; f < FM_STATS_N; f++) {
                sample_family(&s->items[f], wall_ms, which, period);
            }
            *next = wall_ms + period;
        }
    }
    if (day != s->day) {
        s->put_yesterday_morning = s->put_today_morning;
        s->get_yesterday_morning = s->get_today_morning;
        s->put_today_morning = s->put;
        s->get_today_morning = s->get_transferred;
        s->day = day;
    }
}

int
fm_broker_stats_lookup(fm_broker *b, const char *name, const char *key, fm_stats_figure out[3])
{
    fm_broker_stats *s = &b->stats;
    for (int f = 0; f < FM_STATS_N; f++) {
        for (int i = 0; i < 2; i++) {
            stats_item *it;
            if (family_names[f][i] == NULL || strcmp(family_names[f][i], name) != 0) {
                continue;
            }
            if ((it = fm_map_get(&s->items[f], key, strlen(key))) == NULL) {
                return FM_ENOTFOUND;
            }
            out[0] = window_figure(&it->c[i].minute);
            out[1] = window_figure(&it->c[i].hour);
            out[2] = window_figure(&it->c[i].day);
            return FM_OK;
        }
    }
    return FM_ENOTFOUND;
}

double
fm_broker_stats_group_tps(fm_broker *b, const char *topic, const char *group)
{
    char key[520];
    fm_stats_figure f[3];
    snprintf(key, sizeof(key), "%s@%s", topic, group);
    return fm_broker_stats_lookup(b, "GROUP_GET_NUMS", key, f) == FM_OK ? f[0].tps : 0.0;
}

void
fm_broker_stats_tps(fm_broker *b, int what, double out[3])
{
    const fm_broker_stats *s = &b->stats;
    static const int spans[3] = {10, 60, 600};
    for (int k = 0; k < 3; k++) {
        const fm_store_sample *last, *first;
        int64_t dv;
        int back = spans[k] < s->n_samples - 1 ? spans[k] : s->n_samples - 1;
        out[k] = 0.0;
        if (back <= 0) {
            continue;
        }
        last = &s->samples[s->n_samples - 1];
        first = &s->samples[s->n_samples - 1 - back];
        dv = what == FM_STATS_TPS_PUT     ? last->put - first->put
             : what == FM_STATS_TPS_FOUND ? last->get_found - first->get_found
             : what == FM_STATS_TPS_MISS  ? last->get_miss - first->get_miss
                                          : last->get_transferred - first->get_transferred;
        if (last->ts > first->ts) {
            out[k] = (double)dv * 1000.0 / (double)(last->ts - first->ts);
        }
    }
}

void
fm_broker_stats_foreach(fm_broker *b, int family,
                        void (*cb)(const char *key, size_t kl, int64_t nums, int64_t size,
                                   void *ud),
                        void *ud)
{
    size_t pos = 0, kl;
    const char *key;
    void *v;
    while (fm_map_next(&b->stats.items[family], &pos, &key, &kl, &v)) {
        const stats_item *it = v;
        cb(key, kl, it->c[0].value, it->c[1].value, ud);
    }
}

static void
free_item(void *v)
{
    free(v);
}

void
fm_broker_stats_free(fm_broker *b)
{
    for (int f = 0; f < FM_STATS_N; f++) {
        fm_map_free_values(&b->stats.items[f], free_item);
        b->stats.last[f] = NULL;
    }
}
