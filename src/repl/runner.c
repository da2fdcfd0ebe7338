/*
 * runner.c - one task's control thread: which topics and queues the task copies, which of
 * them this replicator owns, and the checkpoints of the pipes that copy them.
 *
 * Ownership of a source queue follows RocketMQ's own consumer-group machinery on the source
 * cluster, so several replicators running one task need no coordination service: every
 * replicator heartbeats as a member of ferry-task-<task>, splits each topic's queues over the
 * members as AllocateMessageQueueAveragely does, and copies a queue only while it holds the
 * source broker's lock on it (LOCK_BATCH_MQ, as an orderly consumer does). A pipe sends only
 * within a lease of twice the rebalance interval from its last renewal, shorter than the
 * broker's lock life, so a replicator cut off from the source stops before another one can
 * take the queue over.
 */
#include "repl/repl_int.h"

#include "common/clock.h"
#include "common/log.h"
#include "proto/props.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct topic_ent {
    char name[256];
    repl_queue *sq;
    size_t n_sq;
} topic_ent;

typedef struct runner_local {
    topic_ent *topics;
    size_t n_topics;
    repl_broker *masters;
    size_t n_masters;
} runner_local;

void
fm_repl_task_error(repl_task *t, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&t->mu);
    int same = strcmp(t->error, msg) == 0;
    snprintf(t->error, sizeof(t->error), "%s", msg);
    t->error_ms = fm_clock_wall_ms();
    pthread_mutex_unlock(&t->mu);
    if (!same) {
        FM_LOGW("repl", "FM-REPL-TASK-ERROR", "task=%s err=\"%s\"", t->spec.name, msg);
    }
}

static void
clear_error(repl_task *t)
{
    pthread_mutex_lock(&t->mu);
    t->error[0] = '\0';
    t->error_ms = 0;
    pthread_mutex_unlock(&t->mu);
}

void
fm_repl_task_throttle(repl_task *t, uint32_t bytes)
{
    if (t->spec.rate_msgs <= 0 && t->spec.rate_bytes <= 0) {
        return;
    }
    for (;;) {
        int64_t now = fm_clock_mono_ms(), wait_ms = 0;
        pthread_mutex_lock(&t->mu);
        if (t->tok_ms == 0) {
            t->tok_ms = now;
            t->tok_msgs = (double)t->spec.rate_msgs / 10;
            t->tok_bytes = (double)t->spec.rate_bytes / 10;
        }
        /* refill; a bucket holds one second's worth */
        double dt = (double)(now - t->tok_ms) / 1000.0;
        t->tok_ms = now;
        t->tok_msgs += dt * (double)t->spec.rate_msgs;
        t->tok_bytes += dt * (double)t->spec.rate_bytes;
        if (t->tok_msgs > (double)t->spec.rate_msgs) {
            t->tok_msgs = (double)t->spec.rate_msgs;
        }
        if (t->tok_bytes > (double)t->spec.rate_bytes) {
            t->tok_bytes = (double)t->spec.rate_bytes;
        }
        int ok_m = t->spec.rate_msgs <= 0 || t->tok_msgs >= 1.0;
        /* a message larger than a second's bytes passes when the bucket is full */
        int ok_b = t->spec.rate_bytes <= 0 || t->tok_bytes >= (double)bytes ||
                   t->tok_bytes >= (double)t->spec.rate_bytes;
        if (ok_m && ok_b) {
            t->tok_msgs -= t->spec.rate_msgs > 0 ? 1.0 : 0;
            t->tok_bytes -= t->spec.rate_bytes > 0 ? (double)bytes : 0;
        } else {
            wait_ms = 2;
        }
        pthread_mutex_unlock(&t->mu);
        if (wait_ms == 0 || atomic_load(&t->stop)) {
            return;
        }
        struct timespec ts = {0, wait_ms * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void
free_topics(runner_local *l)
{
    for (size_t i = 0; i < l->n_topics; i++) {
        free(l->topics[i].sq);
    }
    free(l->topics);
    l->topics = NULL;
    l->n_topics = 0;
}

static const char *
cluster_of(const runner_local *l, const char *broker)
{
    for (size_t i = 0; i < l->n_masters; i++) {
        if (strcmp(l->masters[i].name, broker) == 0) {
            return l->masters[i].cluster;
        }
    }
    return "";
}

/* RocketMQ brokers register a topic named after their cluster and one after themselves:
 * bookkeeping, not traffic. */
static int
is_broker_topic(const runner_local *l, const char *topic)
{
    for (size_t i = 0; i < l->n_masters; i++) {
        if (strcmp(l->masters[i].name, topic) == 0 || strcmp(l->masters[i].cluster, topic) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Make sure the target has the topic, with as many queues as the source (spread over the
 * target's masters), so source queue i lands on target queue i. */
static int
ensure_target(repl_task *t, const topic_ent *te, fm_errbuf *eb)
{
    repl_queue *tq = NULL;
    repl_broker *bs = NULL;
    size_t n = 0, nb = 0;
    int rc = fm_repl_side_queues(&t->dst, te->name, 0, &tq, &n, eb);
    free(tq);
    if (rc != FM_ENOTFOUND) {
        return rc;
    }
    rc = fm_repl_side_masters(&t->dst, &bs, &nb, eb);
    free(bs);
    if (rc == FM_OK) {
        int per = nb > 0 ? (int)((te->n_sq + nb - 1) / nb) : (int)te->n_sq;
        rc = fm_repl_side_create_topic(&t->dst, te->name, per < 1 ? 1 : per, 6, eb);
    }
    if (rc == FM_OK) {
        FM_LOGI("repl", "FM-REPL-TOPIC-CREATED", "task=%s topic=%s queues=%zu", t->spec.name,
                te->name, te->n_sq);
    }
    return rc;
}

/* Re-read the topics the task copies and their queues. */
static int
refresh(repl_task *t, runner_local *l)
{
    fm_errbuf eb;
    char **names = NULL;
    size_t n = 0;
    int rc;
    repl_broker *ms = NULL;
    size_t nm = 0;

    if ((rc = fm_repl_side_masters(&t->src, &ms, &nm, &eb)) != FM_OK) {
        fm_repl_task_error(t, "source cluster (%s): %s", t->spec.src_ns, eb.msg);
        return rc;
    }
    free(l->masters);
    l->masters = ms;
    l->n_masters = nm;
    if (t->spec.topics != NULL) {
        names = calloc(t->spec.n_topics + 1, sizeof(char *));
        for (size_t i = 0; names != NULL && i < t->spec.n_topics; i++) {
            names[n++] = strdup(t->spec.topics[i]);
        }
        if (names == NULL) {
            return FM_ENOMEM;
        }
    } else if ((rc = fm_repl_side_topics(&t->src, &names, &n, &eb)) != FM_OK) {
        fm_repl_task_error(t, "source cluster (%s): %s", t->spec.src_ns, eb.msg);
        return rc;
    }
    if (!t->map_ready) {
        if (fm_repl_side_create_topic(&t->dst, REPL_MAP_TOPIC, 1, 6, &eb) == FM_OK) {
            t->map_ready = 1;
        } else {
            fm_repl_task_error(t, "target cluster (%s): offset map topic %s: %s", t->spec.dst_ns,
                               REPL_MAP_TOPIC, eb.msg);
        }
    }
    free_topics(l);
    l->topics = calloc(n + 1, sizeof(*l->topics));
    rc = l->topics != NULL ? FM_OK : FM_ENOMEM;
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        topic_ent *te = &l->topics[l->n_topics];
        if (names[i] == NULL || !fm_repl_spec_wants_topic(&t->spec, names[i])) {
            continue;
        }
        if (t->spec.topics == NULL && is_broker_topic(l, names[i])) {
            continue;
        }
        snprintf(te->name, sizeof(te->name), "%s", names[i]);
        int q = fm_repl_side_queues(&t->src, te->name, 1, &te->sq, &te->n_sq, &eb);
        if (q == FM_ENOTFOUND || (q == FM_OK && te->n_sq == 0)) {
            free(te->sq);
            te->sq = NULL;
            continue; /* not created on the source yet */
        }
        if (q != FM_OK) {
            fm_repl_task_error(t, "source topic %s: %s", te->name, eb.msg);
            rc = q;
            free(te->sq);
            te->sq = NULL;
            continue;
        }
        if ((q = ensure_target(t, te, &eb)) != FM_OK) {
            fm_repl_task_error(t, "target cluster (%s): topic %s: %s", t->spec.dst_ns, te->name,
                               eb.msg);
            rc = q;
            free(te->sq);
            te->sq = NULL;
            continue;
        }
        l->n_topics++;
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    if (rc == FM_OK) {
        clear_error(t);
    }
    return rc;
}

static repl_pipe *
find_pipe(repl_task *t, const repl_queue *q)
{
    for (size_t i = 0; i < t->n_pipes; i++) {
        const repl_pipe *p = t->pipes[i];
        if (strcmp(p->sq.q.topic, q->q.topic) == 0 &&
            strcmp(p->sq.q.broker_name, q->q.broker_name) == 0 &&
            p->sq.q.queue_id == q->q.queue_id) {
            return t->pipes[i];
        }
    }
    return NULL;
}

/* Append the pipe's new offset-map ranges to the target's map topic: one message per write,
 * keyed "<task>@<topic>@<broker>@<queue id>" so the target's message index finds a queue's
 * map. FM_OK also when there was nothing to write. */
static int
write_map(repl_task *t, repl_pipe *p, const repl_queue *tq, fm_errbuf *eb)
{
    repl_range rs[REPL_MAP_RANGES];
    int n;
    cJSON *o, *arr;
    char *body, key[512];
    fm_buf props = {0};
    int rc;
    pthread_mutex_lock(&p->mu);
    n = p->n_map;
    memcpy(rs, p->map, (size_t)n * sizeof(rs[0]));
    pthread_mutex_unlock(&p->mu);
    if (n == 0) {
        return FM_OK;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", t->spec.name);
    cJSON_AddStringToObject(o, "srcRegion", t->spec.src_region);
    cJSON_AddStringToObject(o, "srcCluster", p->src_cluster);
    cJSON_AddStringToObject(o, "srcBroker", p->sq.q.broker_name);
    cJSON_AddStringToObject(o, "srcTopic", p->sq.q.topic);
    cJSON_AddNumberToObject(o, "srcQueueId", p->sq.q.queue_id);
    cJSON_AddStringToObject(o, "targetBroker", tq->q.broker_name);
    cJSON_AddStringToObject(o, "targetTopic", tq->q.topic);
    cJSON_AddNumberToObject(o, "targetQueueId", tq->q.queue_id);
    arr = cJSON_AddArrayToObject(o, "ranges");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateArray();
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rs[i].src_first));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rs[i].src_last));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rs[i].tgt_first));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rs[i].tgt_last));
        cJSON_AddItemToArray(r, cJSON_CreateNumber((double)rs[i].count));
        cJSON_AddItemToArray(arr, r);
    }
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(key, sizeof(key), "%s@%s@%s@%d", t->spec.name, p->sq.q.topic, p->sq.q.broker_name,
             p->sq.q.queue_id);
    rc = body != NULL ? fm_props_append(&props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(key))
                      : FM_ENOMEM;
    if (rc == FM_OK) {
        rc = fm_repl_side_send(&t->dst, tq->addr, t->src_group, REPL_MAP_TOPIC, 0,
                               fm_buf_slice(&props), fm_slice_cstr(body), eb);
    } else {
        fm_err_set(eb, rc, "out of memory");
    }
    free(body);
    fm_buf_free(&props);
    if (rc == FM_OK) {
        /* drop what was written; ranges added meanwhile stay */
        pthread_mutex_lock(&p->mu);
        if (p->n_map >= n) {
            memmove(p->map, p->map + n, (size_t)(p->n_map - n) * sizeof(p->map[0]));
            p->n_map -= n;
        }
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

/* Write a pipe's progress: the offset map, then the checkpoint on the target (so every copy
 * after the checkpoint, whose ranges may not be written yet, is scanned again at a resume and
 * mapped then), then the group offset on the source. */
static void
checkpoint(repl_task *t, repl_pipe *p)
{
    fm_errbuf eb;
    pthread_mutex_lock(&p->mu);
    int64_t tgt = p->ckpt_ok ? p->ckpt_tgt : -1, src = p->done_src;
    int64_t wt = p->ckpt_written_tgt, ws = p->ckpt_written_src;
    repl_queue tq = p->tq;
    pthread_mutex_unlock(&p->mu);
    if (t->map_ready && write_map(t, p, &tq, &eb) != FM_OK) {
        fm_repl_pipe_error(p, "offset map: %s", eb.msg);
        tgt = -1; /* keep the old checkpoint: the copies since are mapped at the next resume */
    }
    if (tgt >= 0 && tgt != wt) {
        if (fm_repl_side_commit(&t->dst, &tq, t->dst_group, tgt, &eb) == FM_OK) {
            pthread_mutex_lock(&p->mu);
            p->ckpt_written_tgt = tgt;
            pthread_mutex_unlock(&p->mu);
        }
    }
    if (src >= 0 && src != ws) {
        if (fm_repl_side_commit(&t->src, &p->sq, t->src_group, src, &eb) == FM_OK) {
            pthread_mutex_lock(&p->mu);
            p->ckpt_written_src = src;
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void
drop_pipe(repl_task *t, size_t i, int unlock)
{
    repl_pipe *p = t->pipes[i];
    fm_errbuf eb;
    pthread_mutex_lock(&t->mu);
    t->pipes[i] = t->pipes[--t->n_pipes];
    pthread_mutex_unlock(&t->mu);
    fm_repl_pipe_stop(p);
    checkpoint(t, p);
    pthread_mutex_lock(&t->mu);
    pthread_mutex_lock(&p->mu);
    t->gone_messages += p->messages;
    t->gone_bytes += p->bytes;
    t->gone_filtered += p->filtered;
    t->gone_src_filtered += p->src_filtered;
    t->gone_skipped += p->skipped;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&t->mu);
    if (unlock) {
        fm_repl_side_lock(&t->src, p->sq.addr, t->src_group, &p->sq, 1, 0, NULL, &eb);
    }
    FM_LOGI("repl", "FM-REPL-QUEUE-RELEASED", "task=%s topic=%s broker=%s qid=%d copied=%" PRId64,
            t->spec.name, p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id, p->messages);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    fm_repl_xmap_free(p->xmap);
    free(p->sync);
    free(p);
}

static int
add_pipe(repl_task *t, const runner_local *l, const topic_ent *te, size_t k, int64_t lease)
{
    repl_pipe *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return FM_ENOMEM;
    }
    p->t = t;
    p->sq = te->sq[k];
    p->src_index = (int)k;
    p->n_src_queues = (int)te->n_sq;
    p->lease_until_ms = lease;
    snprintf(p->src_cluster, sizeof(p->src_cluster), "%s", cluster_of(l, p->sq.q.broker_name));
    pthread_mutex_lock(&t->mu);
    if (fm_array_reserve(&t->pipes, &t->cap_pipes, t->n_pipes + 1, sizeof(*t->pipes), 16) !=
        FM_OK) {
        pthread_mutex_unlock(&t->mu);
        free(p);
        return FM_ENOMEM;
    }
    t->pipes[t->n_pipes++] = p;
    pthread_mutex_unlock(&t->mu);
    FM_LOGI("repl", "FM-REPL-QUEUE-TAKEN", "task=%s topic=%s broker=%s qid=%d", t->spec.name,
            p->sq.q.topic, p->sq.q.broker_name, p->sq.q.queue_id);
    return fm_repl_pipe_start(p);
}

/* Which queues are this replicator's: heartbeat, split, lock; start and stop pipes. */
static void
rebalance(repl_task *t, runner_local *l)
{
    fm_errbuf eb;
    int64_t lease = fm_clock_mono_ms() + 2 * t->opts->rebalance_ms;
    char **topics = calloc(l->n_topics + 1, sizeof(char *));
    size_t n_mine = 0, cap = 0;
    repl_queue *mine = NULL;
    int *granted = NULL;

    if (topics == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n_topics; i++) {
        topics[i] = l->topics[i].name;
    }
    for (size_t i = 0; i < l->n_masters; i++) {
        if (fm_repl_side_heartbeat(&t->src, l->masters[i].addr, t->src_group, topics, l->n_topics,
                                   &eb) != FM_OK) {
            fm_repl_task_error(t, "heartbeat to source broker %s: %s", l->masters[i].addr, eb.msg);
        }
    }
    free(topics);
    for (size_t i = 0; i < l->n_topics; i++) {
        const topic_ent *te = &l->topics[i];
        char **ids = NULL;
        size_t n_ids = 0, me = SIZE_MAX, start = 0, count = 0;
        if (te->n_sq == 0 || fm_repl_side_members(&t->src, te->sq[0].addr, t->src_group, &ids,
                                                  &n_ids, &eb) != FM_OK) {
            continue;
        }
        for (size_t k = 0; k < n_ids; k++) {
            if (strcmp(ids[k], t->src.client_id) == 0) {
                me = k;
            }
            free(ids[k]);
        }
        free(ids);
        if (me == SIZE_MAX) {
            continue; /* our heartbeat is not in yet: next round */
        }
        fm_client_allocate_averagely(te->n_sq, n_ids, me, &start, &count);
        for (size_t k = start; k < start + count; k++) {
            if (fm_array_reserve(&mine, &cap, n_mine + 1, sizeof(*mine), 64) != FM_OK) {
                free(mine);
                return;
            }
            mine[n_mine++] = te->sq[k];
        }
    }
    granted = calloc(n_mine + 1, sizeof(int));
    if (granted == NULL) {
        free(mine);
        return;
    }
    /* lock per broker address */
    for (size_t i = 0; i < n_mine;) {
        size_t j = i;
        while (j < n_mine && strcmp(mine[j].addr, mine[i].addr) == 0) {
            j++;
        }
        if (fm_repl_side_lock(&t->src, mine[i].addr, t->src_group, mine + i, j - i, 1, granted + i,
                              &eb) != FM_OK) {
            fm_repl_task_error(t, "lock at source broker %s: %s", mine[i].addr, eb.msg);
        }
        i = j;
    }
    /* stop what is no longer ours */
    for (size_t i = 0; i < t->n_pipes;) {
        repl_pipe *p = t->pipes[i];
        int keep = 0, was_mine = 0;
        for (size_t k = 0; k < n_mine && !keep; k++) {
            if (strcmp(p->sq.q.topic, mine[k].q.topic) == 0 &&
                strcmp(p->sq.q.broker_name, mine[k].q.broker_name) == 0 &&
                p->sq.q.queue_id == mine[k].q.queue_id) {
                was_mine = 1;
                keep = granted[k];
            }
        }
        if (!keep) {
            drop_pipe(t, i, !was_mine);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        p->lease_until_ms = lease;
        pthread_mutex_unlock(&p->mu);
        i++;
    }
    /* start what became ours */
    for (size_t k = 0; k < n_mine; k++) {
        if (granted[k] && find_pipe(t, &mine[k]) == NULL) {
            for (size_t i = 0; i < l->n_topics; i++) {
                const topic_ent *te = &l->topics[i];
                for (size_t q = 0; q < te->n_sq; q++) {
                    if (strcmp(te->name, mine[k].q.topic) == 0 &&
                        strcmp(te->sq[q].q.broker_name, mine[k].q.broker_name) == 0 &&
                        te->sq[q].q.queue_id == mine[k].q.queue_id) {
                        add_pipe(t, l, te, q, lease);
                    }
                }
            }
        }
    }
    free(granted);
    free(mine);
}

/* ---- progress sync ---- */

/* The group on the target that follows group g: the same name one-way; for a two-way pair,
 * where g is live on both sides, the shadow "<g>-from-<source region>". */
void
fm_repl_sync_group_name(const repl_task *t, const char *g, char *out, size_t n)
{
    if (t->spec.pair[0] != '\0') {
        snprintf(out, n, "%s-from-%s", g, t->spec.src_region);
    } else {
        snprintf(out, n, "%s", g);
    }
}

int
fm_repl_task_groups_init(repl_task *t)
{
    for (size_t i = 0; i < t->spec.n_groups; i++) {
        char *g = strdup(t->spec.groups[i]);
        if (g == NULL || fm_array_reserve(&t->groups, &t->cap_groups, t->n_groups + 1,
                                          sizeof(*t->groups), 8) != FM_OK) {
            free(g);
            return FM_ENOMEM;
        }
        t->groups[t->n_groups++] = g;
    }
    return FM_OK;
}

void
fm_repl_task_groups_free(repl_task *t)
{
    for (size_t i = 0; i < t->n_groups; i++) {
        free(t->groups[i]);
    }
    free(t->groups);
    t->groups = NULL;
    t->n_groups = t->cap_groups = 0;
}

/* RocketMQ's own groups, the replicator's, and shadow groups (another task's progress, not a
 * group of this region): never followed by a regex. */
static int
internal_group(const repl_task *t, const char *g)
{
    static const char *const exact[] = {"TOOLS_CONSUMER",     "FILTERSRV_CONSUMER",
                                        "__MONITOR_CONSUMER", "SELF_TEST_C_GROUP",
                                        "CID_ONS-HTTP-PROXY", NULL};
    char shadow_a[FM_REPL_NAME_MAX + 8], shadow_b[FM_REPL_NAME_MAX + 8];
    size_t n = strlen(g), na, nb;
    for (size_t i = 0; exact[i] != NULL; i++) {
        if (strcmp(g, exact[i]) == 0) {
            return 1;
        }
    }
    na = (size_t)snprintf(shadow_a, sizeof(shadow_a), "-from-%s", t->spec.src_region);
    nb = (size_t)snprintf(shadow_b, sizeof(shadow_b), "-from-%s", t->spec.dst_region);
    return strncmp(g, "ferry-", 6) == 0 || strncmp(g, "CID_RMQ_SYS_", 12) == 0 ||
           strncmp(g, "CID_ONSAPI_", 11) == 0 || (n > na && strcmp(g + n - na, shadow_a) == 0) ||
           (n > nb && strcmp(g + n - nb, shadow_b) == 0);
}

/* With a groupRegex: follow the source's groups that match it, as they appear. */
static void
groups_refresh(repl_task *t, const runner_local *l)
{
    if (t->spec.group_regex == NULL) {
        return;
    }
    for (size_t m = 0; m < l->n_masters; m++) {
        char **names = NULL;
        size_t n = 0;
        fm_errbuf eb;
        if (fm_repl_side_groups(&t->src, l->masters[m].addr, &names, &n, &eb) != FM_OK) {
            continue; /* the next refresh asks again */
        }
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            int added = 0;
            while (k < t->n_groups && strcmp(t->groups[k], names[i]) != 0) {
                k++;
            }
            if (k < t->n_groups || internal_group(t, names[i]) ||
                regexec(&t->spec.gregex, names[i], 0, NULL, 0) != 0) {
                continue;
            }
            pthread_mutex_lock(&t->mu);
            if (fm_array_reserve(&t->groups, &t->cap_groups, t->n_groups + 1, sizeof(*t->groups),
                                 8) == FM_OK) {
                t->groups[t->n_groups++] = names[i];
                names[i] = NULL;
                added = 1;
            }
            pthread_mutex_unlock(&t->mu);
            if (added) {
                FM_LOGI("repl", "FM-REPL-GROUP-FOLLOWED", "task=%s group=%s", t->spec.name,
                        t->groups[t->n_groups - 1]);
            }
        }
        ferrymq_strings_free(names, n);
    }
}

/* Group gi's sync state on p, made when the group is new to the pipe (task thread). */
static repl_sync *
sync_slot(repl_task *t, repl_pipe *p, size_t gi)
{
    if (gi >= p->n_sync) {
        pthread_mutex_lock(&p->mu);
        repl_sync *grown = realloc(p->sync, t->n_groups * sizeof(*grown));
        if (grown == NULL) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->sync = grown;
        for (size_t i = p->n_sync; i < t->n_groups; i++) {
            repl_sync *y = &p->sync[i];
            memset(y, 0, sizeof(*y));
            y->committed = y->target = y->written = y->scan_c = y->prev_c = -1;
            y->probe_c = y->probe_t = -1;
            snprintf(y->state, sizeof(y->state), "waiting for the first round");
        }
        p->n_sync = t->n_groups;
        pthread_mutex_unlock(&p->mu);
    }
    return &p->sync[gi];
}

static void
sync_set(repl_pipe *p, repl_sync *y, const char *state)
{
    pthread_mutex_lock(&p->mu);
    snprintf(y->state, sizeof(y->state), "%s", state);
    pthread_mutex_unlock(&p->mu);
}

/* Before a group's first offset on a target broker: the group exists there, or is made with
 * the source's subscription settings (consumeEnable, retryMaxTimes, broadcast, ...) under its
 * target name. A broker that cannot create groups (one that answers the request with an
 * error code) still takes the offset; its consumers make the group with the
 * broker's defaults (autoCreateSubscriptionGroup). */
static void
ensure_group(repl_task *t, repl_pipe *p, repl_sync *y, const char *g, const char *tg)
{
    cJSON *cfg = NULL;
    fm_errbuf eb;
    char note[sizeof(y->config)];
    int rc = fm_repl_side_group_config(&t->dst, p->tq.addr, tg, &cfg, &eb);
    if (rc == FM_OK) {
        snprintf(note, sizeof(note), "exists");
    } else if (rc == FM_ENOTFOUND) {
        rc = fm_repl_side_group_config(&t->src, p->sq.addr, g, &cfg, &eb);
        if (rc == FM_OK) {
            cJSON_ReplaceItemInObjectCaseSensitive(cfg, "groupName", cJSON_CreateString(tg));
            rc = fm_repl_side_group_create(&t->dst, p->tq.addr, cfg, &eb);
        }
        snprintf(
            note, sizeof(note), "%s%.140s",
            rc == FM_OK ? "created from the source's" : "not created: ", rc == FM_OK ? "" : eb.msg);
        FM_LOGI("repl", "FM-REPL-GROUP-CREATE", "task=%s group=%s target=%s result=\"%s\"",
                t->spec.name, tg, p->tq.addr, note);
    } else {
        snprintf(note, sizeof(note), "not checked: %.140s", eb.msg);
    }
    cJSON_Delete(cfg);
    pthread_mutex_lock(&p->mu);
    y->config_checked = 1;
    snprintf(y->config, sizeof(y->config), "%s", note);
    pthread_mutex_unlock(&p->mu);
}

/* One round for group gi on every pipe: read the committed offsets on the source, translate
 * them, and write what changed to the target group. A target queue that takes several source
 * queues gets the lowest of their translations (none is passed), and only when all of this
 * replicator's pipes into it have one. */
static void
sync_group(repl_task *t, size_t gi, int write)
{
    const char *g = t->groups[gi];
    char tg[FM_REPL_NAME_MAX * 3];
    size_t n = t->n_pipes;
    int64_t *ans = calloc(n > 0 ? n : 1, sizeof(*ans));
    fm_errbuf eb;
    if (ans == NULL) {
        return;
    }
    fm_repl_sync_group_name(t, g, tg, sizeof(tg));
    for (size_t i = 0; i < n; i++) {
        repl_pipe *p = t->pipes[i];
        repl_sync *y;
        int64_t c = -1, tgt = -1;
        int exact = 0, rc;
        char st[sizeof(((repl_sync *)0)->state)];
        ans[i] = -1;
        if ((y = sync_slot(t, p, gi)) == NULL) {
            continue; /* out of memory: the next round tries again */
        }
        if (!write) {
            pthread_mutex_lock(&p->mu);
            y->probe_c = y->probe_t = -1;
            pthread_mutex_unlock(&p->mu);
        }
        rc = fm_repl_side_committed(&t->src, &p->sq, g, &c, &eb);
        if (rc == FM_ENOTFOUND) {
            sync_set(p, y, "no offset on the source");
            continue;
        }
        if (rc != FM_OK) {
            snprintf(st, sizeof(st), "source: %s", eb.msg);
            sync_set(p, y, st);
            continue;
        }
        rc = fm_repl_pipe_translate(p, y, c, &tgt, &exact, &eb);
        pthread_mutex_lock(&p->mu);
        if (!write) {
            y->probe_c = c;
            y->probe_t = rc == FM_OK ? tgt : -1;
            y->probe_exact = rc == FM_OK && exact;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        y->committed = c;
        if (rc == FM_OK) {
            y->target = tgt;
            y->exact = exact;
            if (exact) {
                y->prev_c = c;
                y->prev_t = tgt;
            }
        } else {
            snprintf(y->state, sizeof(y->state), "%s", eb.msg);
        }
        pthread_mutex_unlock(&p->mu);
        ans[i] = rc == FM_OK ? tgt : -1;
    }
    for (size_t i = 0; i < n && write; i++) {
        repl_pipe *p = t->pipes[i];
        repl_sync *y;
        int64_t low = ans[i], dup = 0;
        char **online = NULL;
        size_t n_online = 0;
        char st[sizeof(((repl_sync *)0)->state)];
        if (ans[i] < 0) {
            continue;
        }
        y = &p->sync[gi];
        for (size_t j = 0; j < n; j++) {
            repl_pipe *o = t->pipes[j];
            if (j == i || strcmp(o->tq.q.broker_name, p->tq.q.broker_name) != 0 ||
                o->tq.q.queue_id != p->tq.q.queue_id) {
                continue;
            }
            if (ans[j] < 0) {
                low = -1; /* one of them has no answer yet: wait for it */
            } else if (low >= 0 && ans[j] < low) {
                low = ans[j];
            }
            dup |= j < i;
        }
        if (low < 0 || dup) {
            if (low < 0) {
                sync_set(p, y, "waiting for the other source queues of its target queue");
            }
            continue; /* the first pipe into the target queue writes for all */
        }
        if (t->spec.pair[0] == '\0') {
            /* one-way: never move a group that consumes on the target */
            if (fm_repl_side_members(&t->dst, p->tq.addr, tg, &online, &n_online, &eb) != FM_OK) {
                snprintf(st, sizeof(st), "target: %s", eb.msg);
                sync_set(p, y, st);
                continue;
            }
            ferrymq_strings_free(online, n_online);
            if (n_online > 0) {
                snprintf(st, sizeof(st), "not moved: %zu consumer(s) of %s online on the target",
                         n_online, tg);
                sync_set(p, y, st);
                continue;
            }
        }
        if (!y->config_checked) {
            ensure_group(t, p, y, g, tg);
        }
        if (low != y->written && fm_repl_side_commit(&t->dst, &p->tq, tg, low, &eb) != FM_OK) {
            snprintf(st, sizeof(st), "target: %s", eb.msg);
            sync_set(p, y, st);
            continue;
        }
        int64_t now = fm_clock_wall_ms();
        for (size_t j = i; j < n; j++) {
            repl_pipe *o = t->pipes[j];
            if (strcmp(o->tq.q.broker_name, p->tq.q.broker_name) != 0 ||
                o->tq.q.queue_id != p->tq.q.queue_id) {
                continue;
            }
            pthread_mutex_lock(&o->mu);
            o->sync[gi].written = low;
            o->sync[gi].synced_ms = now;
            snprintf(o->sync[gi].state, sizeof(o->sync[gi].state), "%s",
                     o->sync[gi].exact ? "synced" : "synced to the replicated end");
            pthread_mutex_unlock(&o->mu);
        }
    }
    free(ans);
}

int
fm_repl_task_probe(repl_task *t, int64_t timeout_ms)
{
    struct timespec ts;
    int rc = FM_OK;
    if (!t->started) {
        return FM_ECLOSED;
    }
    fm_clock_wall_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&t->mu);
    int64_t want = t->probes_done + 1;
    t->probe_req = 1;
    pthread_cond_broadcast(&t->cv);
    while (t->probes_done < want && rc == FM_OK) {
        if (atomic_load(&t->stop)) {
            rc = FM_ECLOSED;
        } else if (pthread_cond_timedwait(&t->probe_cv, &t->mu, &ts) != 0) {
            rc = t->probes_done >= want ? FM_OK : FM_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static void
timed_wait(repl_task *t, int64_t ms)
{
    struct timespec ts;
    fm_clock_wall_deadline(&ts, ms);
    pthread_mutex_lock(&t->mu);
    if (!atomic_load(&t->stop)) {
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
}

static void *
task_main(void *arg)
{
    repl_task *t = arg;
    runner_local l;
    int64_t next_refresh = 0, next_rebalance = 0, next_ckpt = 0, next_sync = 0;
    pthread_setname_np(pthread_self(), "fm-repl-task");
    memset(&l, 0, sizeof(l));
    FM_LOGI("repl", "FM-REPL-TASK-START", "task=%s source=%s/%s target=%s/%s", t->spec.name,
            t->spec.src_region, t->spec.src_ns, t->spec.dst_region, t->spec.dst_ns);
    while (!atomic_load(&t->stop)) {
        int64_t now = fm_clock_mono_ms();
        if (now >= next_refresh) {
            int rc = refresh(t, &l);
            groups_refresh(t, &l);
            next_refresh = now + (rc == FM_OK ? t->opts->topic_refresh_ms : 1000);
            next_rebalance = 0; /* new queues are taken at once */
        }
        if (now >= next_rebalance) {
            rebalance(t, &l);
            next_rebalance = now + t->opts->rebalance_ms;
        }
        if (now >= next_ckpt) {
            for (size_t i = 0; i < t->n_pipes; i++) {
                checkpoint(t, t->pipes[i]);
            }
            next_ckpt = now + t->opts->checkpoint_ms;
        }
        if (t->n_groups > 0 && now >= next_sync) {
            for (size_t gi = 0; gi < t->n_groups; gi++) {
                sync_group(t, gi, 1);
            }
            next_sync = fm_clock_mono_ms() + t->spec.sync_ms;
        }
        pthread_mutex_lock(&t->mu);
        int probe = t->probe_req;
        t->probe_req = 0;
        pthread_mutex_unlock(&t->mu);
        if (probe) {
            for (size_t gi = 0; gi < t->n_groups; gi++) {
                sync_group(t, gi, 0);
            }
            pthread_mutex_lock(&t->mu);
            t->probes_done++;
            pthread_cond_broadcast(&t->probe_cv);
            pthread_mutex_unlock(&t->mu);
        }
        timed_wait(t, 50);
    }
    /* every pipe stops at once: each may sit in a long poll */
    for (size_t i = 0; i < t->n_pipes; i++) {
        atomic_store(&t->pipes[i]->stop, 1);
    }
    while (t->n_pipes > 0) {
        drop_pipe(t, t->n_pipes - 1, 1);
    }
    for (size_t i = 0; i < l.n_masters; i++) {
        fm_repl_side_unregister(&t->src, l.masters[i].addr, t->src_group);
    }
    free_topics(&l);
    free(l.masters);
    FM_LOGI("repl", "FM-REPL-TASK-STOP", "task=%s", t->spec.name);
    return NULL;
}

/* The member id this replicator shows the source brokers: the same across restarts (a hash of
 * its data directory, which one live process holds at a time), so a replicator that was
 * killed takes its queue locks back at once instead of waiting out their life. */
static unsigned
instance_id(const char *dir)
{
    char real[PATH_MAX];
    const char *s = realpath(dir, real) != NULL ? real : dir;
    unsigned h = 2166136261u;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

int
fm_repl_task_start(repl_task *t)
{
    fm_errbuf eb;
    uint8_t ip[4] = {127, 0, 0, 1};
    char id[192];
    int rc;
    fm_client_local_ip(NULL, ip);
    snprintf(id, sizeof(id), "%u.%u.%u.%u@ferry-%08x", ip[0], ip[1], ip[2], ip[3],
             instance_id(t->opts->data_dir));
    snprintf(t->src_group, sizeof(t->src_group), "ferry-task-%s", t->spec.name);
    snprintf(t->dst_group, sizeof(t->dst_group), "ferry-ckpt-%s", t->spec.name);
    /* forward=local drops every message with an origin region (must_drop), which is exactly
     * what this leaves out; a task filter stays the replicator's (a TAG expression cannot be
     * joined to SQL92), and an identifier must not start with a digit */
    t->prefilter[0] = '\0';
    if (!t->spec.forward_all && t->spec.filter == NULL &&
        !isdigit((unsigned char)t->spec.prefix[0])) {
        snprintf(t->prefilter, sizeof(t->prefilter), "%sSRC_REGION IS NULL", t->spec.prefix);
    }
    atomic_store(&t->prefilter_off, 0);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_cond_init(&t->probe_cv, NULL);
    atomic_store(&t->stop, 0);
    if ((rc = fm_repl_io_get(t->spec.src_ns, t->spec.dst_ns, id, &t->io, &eb)) != FM_OK) {
        return rc;
    }
    if ((rc = fm_repl_side_init(&t->src, t->spec.src_ns, id, &t->io->side, &eb)) != FM_OK) {
        fm_repl_io_put(t->io);
        return rc;
    }
    if ((rc = fm_repl_side_init(&t->dst, t->spec.dst_ns, id, &t->io->side, &eb)) != FM_OK) {
        fm_repl_side_destroy(&t->src);
        fm_repl_io_put(t->io);
        return rc;
    }
    {
        ferrymq_conf *conf = ferrymq_conf_new();
        char err[256];
        rc = conf != NULL ? ferrymq_conf_set(conf, "namesrvAddr", t->spec.dst_ns, err, sizeof(err))
                          : FM_ENOMEM;
        if (rc == FM_OK) {
            rc = ferrymq_admin_new(conf, &t->dst_admin, err, sizeof(err));
        }
        ferrymq_conf_free(conf);
        if (rc != FM_OK) {
            fm_repl_side_destroy(&t->src);
            fm_repl_side_destroy(&t->dst);
            fm_repl_io_put(t->io);
            return rc;
        }
        pthread_mutex_init(&t->admin_mu, NULL);
    }
    if (pthread_create(&t->th, NULL, task_main, t) != 0) {
        ferrymq_admin_free(t->dst_admin);
        pthread_mutex_destroy(&t->admin_mu);
        fm_repl_side_destroy(&t->src);
        fm_repl_side_destroy(&t->dst);
        fm_repl_io_put(t->io);
        return FM_ENOMEM;
    }
    t->started = 1;
    return FM_OK;
}

void
fm_repl_task_stop(repl_task *t)
{
    if (!t->started) {
        return;
    }
    atomic_store(&t->stop, 1);
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    t->started = 0;
    fm_repl_side_destroy(&t->src);
    fm_repl_side_destroy(&t->dst);
    /* after the task thread: its pipes have stopped, so nothing of this task is still in
     * flight on the shared transport */
    fm_repl_io_put(t->io);
    t->io = NULL;
    ferrymq_admin_free(t->dst_admin);
    t->dst_admin = NULL;
    pthread_mutex_destroy(&t->admin_mu);
    free(t->pipes);
    t->pipes = NULL;
    t->n_pipes = t->cap_pipes = 0;
    pthread_cond_destroy(&t->cv);
    pthread_cond_destroy(&t->probe_cv);
    pthread_mutex_destroy(&t->mu);
}
