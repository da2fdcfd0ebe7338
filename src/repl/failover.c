/*
 * failover.c - the plan behind `ferrymq failover`: per followed group and target queue, where
 * the group's consumers resume on the target, and making it so.
 *
 * The plan reads the target through a side of its own (the task may be paused, its source
 * gone), asks the running task for a fresh translation of the source's committed offsets (a
 * probe round: nothing written), and falls back to the last synced offset, which is the
 * target group's own committed offset, wherever the source does not answer.
 */
#include "repl/repl_int.h"

#include "common/clock.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 15000

struct fm_repl_plan {
    repl_side side; /* the target */
    int side_ok;
    size_t n;
    struct plan_row {
        char group[FM_REPL_NAME_MAX * 3]; /* the target group */
        repl_queue tq;
        int64_t apply; /* -1: nothing to write */
    } * rows;
};

/* The task's topics on the target: its list, or the target's topics its regex takes. */
static int
plan_topics(const repl_task *t, repl_side *side, char ***out, size_t *n, fm_errbuf *eb)
{
    char **all = NULL;
    size_t n_all = 0, k = 0;
    int rc;
    if (t->spec.topics != NULL) {
        all = calloc(t->spec.n_topics + 1, sizeof(*all));
        for (size_t i = 0; all != NULL && i < t->spec.n_topics; i++) {
            all[i] = strdup(t->spec.topics[i]);
        }
        *out = all;
        *n = all != NULL ? t->spec.n_topics : 0;
        return all != NULL ? FM_OK : fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if ((rc = fm_repl_side_topics(side, &all, &n_all, eb)) != FM_OK) {
        return rc;
    }
    for (size_t i = 0; i < n_all; i++) {
        if (fm_repl_spec_wants_topic(&t->spec, all[i])) {
            all[k++] = all[i];
        } else {
            free(all[i]);
        }
    }
    *out = all;
    *n = k;
    return FM_OK;
}

static int
plan_push(fm_repl_plan *pl, const char *group, const repl_queue *tq, int64_t apply)
{
    struct plan_row *r = realloc(pl->rows, (pl->n + 1) * sizeof(*r));
    if (r == NULL) {
        return FM_ENOMEM;
    }
    pl->rows = r;
    r = &pl->rows[pl->n++];
    snprintf(r->group, sizeof(r->group), "%s", group);
    r->tq = *tq;
    r->apply = apply;
    return FM_OK;
}

/* One target queue of group gi (the task's index): its row in the report. */
static cJSON *
plan_queue(repl_task *t, fm_repl_plan *pl, size_t gi, const char *tg, const repl_queue *tq,
           int probed, fm_errbuf *eb, int *rc)
{
    cJSON *q = cJSON_CreateObject(), *srcs;
    int64_t last = -1, min = 0, end = -1, fresh = -1;
    int all_fresh = 1, all_exact = 1, any = 0;
    *rc = fm_repl_side_committed(&pl->side, tq, tg, &last, eb);
    if (*rc == FM_ENOTFOUND) {
        last = -1;
        *rc = FM_OK;
    }
    if (*rc == FM_OK) {
        *rc = fm_repl_side_min_max(&pl->side, tq, &min, &end, eb);
    }
    if (*rc != FM_OK) {
        cJSON_Delete(q);
        return NULL;
    }
    cJSON_AddStringToObject(q, "topic", tq->q.topic);
    cJSON_AddStringToObject(q, "targetBroker", tq->q.broker_name);
    cJSON_AddNumberToObject(q, "targetQueueId", tq->q.queue_id);
    srcs = cJSON_AddArrayToObject(q, "sources");
    if (probed) { /* a round that timed out may have left half its answers */
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < t->n_pipes; i++) {
            repl_pipe *p = t->pipes[i];
            if (strcmp(p->tq.q.topic, tq->q.topic) != 0 ||
                strcmp(p->tq.q.broker_name, tq->q.broker_name) != 0 ||
                p->tq.q.queue_id != tq->q.queue_id) {
                continue;
            }
            cJSON *s = cJSON_CreateObject();
            pthread_mutex_lock(&p->mu);
            int64_t pc = gi < p->n_sync ? p->sync[gi].probe_c : -1;
            int64_t pt = gi < p->n_sync ? p->sync[gi].probe_t : -1;
            all_exact &= gi < p->n_sync && p->sync[gi].probe_exact;
            pthread_mutex_unlock(&p->mu);
            cJSON_AddStringToObject(s, "broker", p->sq.q.broker_name);
            cJSON_AddNumberToObject(s, "queueId", p->sq.q.queue_id);
            fm_repl_json_offset(s, "sourceOffset", pc);
            fm_repl_json_offset(s, "translatedOffset", pt);
            cJSON_AddItemToArray(srcs, s);
            any = 1;
            all_fresh &= pt >= 0;
            if (pt >= 0 && (fresh < 0 || pt < fresh)) {
                fresh = pt;
            }
        }
        pthread_mutex_unlock(&t->mu);
    }
    if (!any || !all_fresh) {
        fresh = -1;
    }
    int64_t apply = fresh >= 0 ? fresh : last;
    fm_repl_json_offset(q, "lastSynced", last);
    fm_repl_json_offset(q, "targetEnd", end);
    fm_repl_json_offset(q, "applyOffset", apply);
    cJSON_AddStringToObject(q, "from",
                            fresh >= 0  ? "source (translated now)"
                            : last >= 0 ? "last sync"
                                        : "nothing: consumers start as configured");
    fm_repl_json_offset(q, "toConsume", apply >= 0 && end >= apply ? end - apply : -1);
    /* Starting at a fresh exact translation re-reads nothing the group committed. From the
     * replicated end (the group is ahead of the copy) the copies still to come of what it
     * consumed land after it; from the last sync, what it consumed after that sync: neither
     * can be counted here. */
    if (fresh >= 0 && all_exact) {
        cJSON_AddNumberToObject(q, "again", 0);
    } else {
        cJSON_AddNullToObject(q, "again");
    }
    if (apply >= 0 && plan_push(pl, tg, tq, apply) != FM_OK) {
        *rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
        cJSON_Delete(q);
        return NULL;
    }
    return q;
}

int
fm_repl_plan_make(repl_task *t, char *const *groups, size_t n_groups, fm_repl_plan **out,
                  cJSON **report, fm_errbuf *eb)
{
    fm_repl_plan *pl = calloc(1, sizeof(*pl));
    cJSON *rep = cJSON_CreateObject(), *garr, *start;
    char **topics = NULL;
    size_t n_topics = 0;
    int rc, probed = 0;
    size_t *gidx = calloc(n_groups + 1, sizeof(*gidx)); /* each group's index in t->groups */
    if (pl == NULL || rep == NULL || gidx == NULL) {
        free(pl);
        free(gidx);
        cJSON_Delete(rep);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (t->started) {
        pthread_mutex_lock(&t->mu);
    }
    for (size_t i = 0; i < n_groups; i++) {
        size_t gi = 0;
        while (gi < t->n_groups && strcmp(t->groups[gi], groups[i]) != 0) {
            gi++;
        }
        gidx[i] = gi;
    }
    if (t->started) {
        pthread_mutex_unlock(&t->mu);
    }
    for (size_t i = 0; i < n_groups; i++) {
        if (gidx[i] >= t->n_groups) {
            free(gidx);
            free(pl);
            cJSON_Delete(rep);
            return fm_err_set(eb, FM_EINVAL,
                              "group %s is not followed by task %s (its groups are set at "
                              "task create: --groups, --group-regex)",
                              groups[i], t->spec.name);
        }
    }
    if (t->started) {
        probed = fm_repl_task_probe(t, PROBE_TIMEOUT_MS) == FM_OK;
    }
    rc = fm_repl_side_init(&pl->side, t->spec.dst_ns, "ferry-failover", NULL, eb);
    pl->side_ok = rc == FM_OK;
    if (rc == FM_OK) {
        rc = plan_topics(t, &pl->side, &topics, &n_topics, eb);
    }
    cJSON_AddStringToObject(rep, "task", t->spec.name);
    cJSON_AddStringToObject(rep, "sourceRegion", t->spec.src_region);
    cJSON_AddStringToObject(rep, "targetRegion", t->spec.dst_region);
    cJSON_AddBoolToObject(rep, "probed", probed);
    garr = cJSON_AddArrayToObject(rep, "groups");
    start = cJSON_AddArrayToObject(rep, "start");
    for (size_t i = 0; i < n_groups && rc == FM_OK; i++) {
        size_t gi = gidx[i];
        char tg[FM_REPL_NAME_MAX * 3], filter[FM_REPL_NAME_MAX + 32];
        cJSON *g = cJSON_CreateObject(), *qs, *st;
        fm_repl_sync_group_name(t, groups[i], tg, sizeof(tg));
        cJSON_AddStringToObject(g, "group", groups[i]);
        cJSON_AddStringToObject(g, "targetGroup", tg);
        qs = cJSON_AddArrayToObject(g, "queues");
        cJSON_AddItemToArray(garr, g);
        for (size_t k = 0; k < n_topics && rc == FM_OK; k++) {
            repl_queue *tqs = NULL;
            size_t n_tq = 0;
            rc = fm_repl_side_queues(&pl->side, topics[k], 0, &tqs, &n_tq, eb);
            if (rc == FM_ENOTFOUND) {
                rc = FM_OK; /* not on the target (yet): nothing to resume */
            }
            for (size_t j = 0; j < n_tq && rc == FM_OK; j++) {
                cJSON *q = plan_queue(t, pl, gi, tg, &tqs[j], probed, eb, &rc);
                if (q != NULL) {
                    cJSON_AddItemToArray(qs, q);
                }
            }
            free(tqs);
        }
        /* what to start where: the group on the target's name servers; for a pair, the
         * shadow group with the filter that keeps to the failed region's traffic */
        st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "group", tg);
        cJSON_AddStringToObject(st, "region", t->spec.dst_region);
        cJSON_AddStringToObject(st, "namesrv", t->spec.dst_ns);
        cJSON *tarr = cJSON_AddArrayToObject(st, "topics");
        for (size_t k = 0; k < n_topics; k++) {
            cJSON_AddItemToArray(tarr, cJSON_CreateString(topics[k]));
        }
        if (t->spec.pair[0] != '\0') {
            snprintf(filter, sizeof(filter), "FERRY_SRC_REGION = '%s'", t->spec.src_region);
            cJSON_AddStringToObject(st, "sql92", filter);
        } else {
            cJSON_AddNullToObject(st, "sql92");
        }
        cJSON_AddItemToArray(start, st);
    }
    for (size_t k = 0; k < n_topics; k++) {
        free(topics[k]);
    }
    free(topics);
    free(gidx);
    if (rc != FM_OK) {
        fm_repl_plan_free(pl);
        cJSON_Delete(rep);
        return rc;
    }
    *out = pl;
    *report = rep;
    return FM_OK;
}

int
fm_repl_plan_apply(fm_repl_plan *pl, fm_errbuf *eb)
{
    for (size_t i = 0; i < pl->n; i++) {
        const struct plan_row *r = &pl->rows[i];
        int rc = fm_repl_side_commit(&pl->side, &r->tq, r->group, r->apply, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

size_t
fm_repl_plan_writes(const fm_repl_plan *pl)
{
    return pl->n;
}

void
fm_repl_plan_free(fm_repl_plan *pl)
{
    if (pl == NULL) {
        return;
    }
    if (pl->side_ok) {
        fm_repl_side_destroy(&pl->side);
    }
    free(pl->rows);
    free(pl);
}
