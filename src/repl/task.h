/*
 * task.h - a replication task's specification: parsed from JSON (the HTTP API's and the task
 * file's format, see repl.h), validated, normalised, written back, and persisted as
 * <data_dir>/tasks.json. No network and no threads here: the engine (engine.c) runs tasks.
 *
 * Ownership: fm_repl_spec owns its strings and compiled parts; fm_repl_spec_free releases
 * them. Thread: no shared state.
 */
#ifndef FM_REPL_TASK_H
#define FM_REPL_TASK_H

#include "common/config.h"
#include "common/errors.h"
#include "filter/filter.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdint.h>

#define FM_REPL_NAME_MAX 96 /* task, pair and region names: [A-Za-z0-9_-]{1,96} */
/* name server list "h:p;h:p": what libferrymq's namesrvAddr holds, so an accepted task can
 * always start */
#define FM_REPL_NS_MAX (FM_CONFIG_STR_MAX - 1)
#define FM_REPL_PREFIX_MAX 32 /* property prefix: [A-Za-z0-9_]{1,32} */

#define FM_REPL_SYNC_MS_DEFAULT 1000

#define FM_REPL_FROM_LATEST 0
#define FM_REPL_FROM_EARLIEST 1
#define FM_REPL_FROM_TIME 2

typedef struct fm_repl_spec {
    char name[FM_REPL_NAME_MAX + 1];
    char pair[FM_REPL_NAME_MAX + 1]; /* "" for a one-way task */
    char src_ns[FM_REPL_NS_MAX + 1];
    char src_region[FM_REPL_NAME_MAX + 1];
    char dst_ns[FM_REPL_NS_MAX + 1];
    char dst_region[FM_REPL_NAME_MAX + 1];
    char **topics; /* the topic list (NULL with a regex) */
    size_t n_topics;
    char *topic_regex; /* source text, or NULL */
    regex_t regex;     /* compiled (REG_EXTENDED | REG_NOSUB) when topic_regex is set */
    char *filter_expr; /* NULL: everything crosses */
    fm_filter_type filter_type;
    fm_filter *filter; /* compiled filter_expr, or NULL */
    int forward_all;   /* 0: forward=local, 1: forward=all */
    int from;          /* FM_REPL_FROM_* */
    int64_t from_ms;   /* with FM_REPL_FROM_TIME: epoch ms */
    int64_t rate_msgs; /* per second, 0 = unlimited */
    int64_t rate_bytes;
    char prefix[FM_REPL_PREFIX_MAX + 1]; /* default "FERRY_" */
    char **groups; /* consumer groups whose progress follows (progress sync) */
    size_t n_groups;
    char *group_regex; /* or the groups on the source matching this (source text), or NULL */
    regex_t gregex;    /* compiled when group_regex is set */
    int64_t sync_ms;   /* how often their offsets are translated onto the target */
    int include_retry; /* copy %RETRY% / %DLQ% topics too */
    int paused;
} fm_repl_spec;

/**
 * Parse one task spec (see repl.h). A "mode": "two-way" spec yields two specs (the forward
 * one first): names "<name>-<src>-<tgt>" and "<name>-<tgt>-<src>", pair = name, source and
 * target swapped; "one-way" (the default) yields one. Every field is checked: unknown fields,
 * wrong types, bad names, an empty or bad name server list, both or neither of topics and
 * topicRegex, a regex that does not compile, a filter that does not compile, a bad "from",
 * negative rates, source and target region equal. *out is a malloc'ed array of *n specs
 * (free each with fm_repl_spec_free, then free()). FM_OK; FM_EINVAL (eb names the field and
 * the reason, e.g. "filter: SQL92 syntax error at 1:5 ..."); FM_ENOMEM.
 */
int fm_repl_spec_parse(const cJSON *json, fm_repl_spec **out, size_t *n, fm_errbuf *eb);

/** The normalised spec as JSON (every field, defaults filled, "mode": "one-way" and "pair");
 * parsing it again gives an equal spec. NULL on ENOMEM. Caller owns the result. */
cJSON *fm_repl_spec_to_json(const fm_repl_spec *s);

/** 1 when topic is one the task copies: in its list or matching its regex; never a system
 * topic (RMQ_SYS_*, SCHEDULE_TOPIC_XXXX, TBW102, BenchmarkTest, OFFSET_MOVED_EVENT,
 * TRANS_CHECK_MAX_TIME_TOPIC, rmq_sys_*), and %RETRY% / %DLQ% only with include_retry. */
int fm_repl_spec_wants_topic(const fm_repl_spec *s, const char *topic);

/** Release what s owns (not s itself). NULL is a no-op. */
void fm_repl_spec_free(fm_repl_spec *s);

/**
 * Read <dir>/tasks.json ({"version": 1, "tasks": [spec...]}; absent = no tasks). *out as
 * fm_repl_spec_parse (specs already expanded, so a stored pair is two specs). FM_OK, FM_EINVAL
 * (eb: file and reason), FM_EIO, FM_ENOMEM.
 */
int fm_repl_tasks_load(const char *dir, fm_repl_spec **out, size_t *n, fm_errbuf *eb);

/** Write the specs to <dir>/tasks.json atomically (temp file, fsync, rename, fsync of dir).
 * FM_OK, FM_EIO (eb says which step), FM_ENOMEM. */
int fm_repl_tasks_save(const char *dir, fm_repl_spec *const *specs, size_t n, fm_errbuf *eb);

/** Read a task file given at start: {"tasks": [spec...]} or a bare array of specs. As
 * fm_repl_tasks_load, with two-way specs expanded. */
int fm_repl_task_file_load(const char *path, fm_repl_spec **out, size_t *n, fm_errbuf *eb);

#endif
