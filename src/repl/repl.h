/*
 * repl.h - the replicator: replication tasks that copy messages from a source cluster to a
 * target cluster (docs/replication.md; design.md section 7). It is only a client of both
 * clusters (the remoting protocol any RocketMQ 4.9 broker and name server speak), so it works
 * between stock RocketMQ clusters too.
 *
 * Tasks are JSON objects (the HTTP API's and the task file's format, docs/replication.md):
 *   {"name": "orders", "mode": "one-way" | "two-way",
 *    "source": {"namesrv": "h:9876;h2:9876", "region": "east"},
 *    "target": {"namesrv": "h:9876", "region": "west"},
 *    "topics": ["A", "B"]  |  "topicRegex": "^orders-.*",
 *    "filter": {"expression": "TAG1 || TAG2", "type": "TAG" | "SQL92"},   (optional)
 *    "forward": "local" | "all",            (default "local")
 *    "from": "earliest" | "latest" | "<ISO-8601 time or epoch ms>",   (default "latest")
 *    "rateMsgs": 0, "rateBytes": 0,         (per second; 0 = unlimited)
 *    "propertyPrefix": "FERRY_",
 *    "groups": ["G1"],                      (consumer groups whose progress follows; kept)
 *    "includeRetry": false,                 (also copy %RETRY%/%DLQ% topics)
 *    "paused": false}
 * A two-way spec names a pair: it creates the tasks "<name>-<src>-<tgt>" and
 * "<name>-<tgt>-<src>", both with "pair": "<name>". Every call that takes a name acts on the
 * task of that name, or on every task of the pair of that name.
 *
 * A task's status object is its spec (as normalised: mode "one-way", defaults filled) plus
 *   "pair", "state": "running" | "paused" | "error", "error": {"message", "timeMs"} | null,
 *   "stats": {"messages", "bytes", "filtered", "skippedByRetention", "lagMessages",
 *             "lagSeconds", "rateMsgs", "rateBytes"},
 *   "queues": [{"topic", "broker", "queueId", "targetBroker", "targetQueueId", "state",
 *               "nextOffset", "maxOffset", "lagMessages", "lagSeconds", "messages", "bytes",
 *               "skippedByRetention", "error", "errorTimeMs"}]
 *
 * Ownership: cJSON objects passed in are borrowed; those returned through **out are the
 * caller's (cJSON_Delete). Thread: every call is safe from any thread (the HTTP server's).
 */
#ifndef FM_REPL_REPL_H
#define FM_REPL_REPL_H

#include "common/buf.h"
#include "common/errors.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct fm_repl fm_repl;

typedef struct fm_repl_opts {
    const char *data_dir;     /* tasks.json lives here (atomically replaced on change) */
    const char *region;       /* the local side's region name, for logs */
    const char *task_file;    /* tasks to create at start when absent (NULL: none) */
    int64_t topic_refresh_ms; /* how often topic lists, routes and regexes are re-read */
    int64_t rebalance_ms;     /* how often the queue split among replicators is re-done */
    int64_t checkpoint_ms;    /* how often progress is written to the target and source */
} fm_repl_opts;

/**
 * Start the replicator: load <data_dir>/tasks.json (and task_file's tasks that are not there
 * yet) and run every task not paused. *out owned by the caller (fm_repl_free). FM_OK,
 * FM_EINVAL (a task file that does not parse: eb says where), FM_EIO, FM_ENOMEM.
 */
int fm_repl_new(const fm_repl_opts *opts, fm_repl **out, fm_errbuf *eb);

/** Stop every task (in-flight sends finish or time out; progress is checkpointed), free. */
void fm_repl_free(fm_repl *r);

/**
 * Validate spec, create its task(s), persist, start them. *out: a JSON array of the created
 * tasks' status. FM_OK; FM_EINVAL (a bad field: eb names it), FM_EEXIST (a name taken),
 * FM_ENOMEM, FM_EIO (tasks.json could not be written: nothing was created).
 */
int fm_repl_task_create(fm_repl *r, const cJSON *spec, cJSON **out, fm_errbuf *eb);

/** Every task's status, a JSON array sorted by name. FM_OK, FM_ENOMEM. */
int fm_repl_task_list(fm_repl *r, cJSON **out);

/** The status of the task (or pair) name: a JSON array. FM_OK, FM_ENOTFOUND, FM_ENOMEM. */
int fm_repl_task_show(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb);

/** Pause (paused = 1) or resume the task or pair; *out as fm_repl_task_show. Persisted.
 * FM_OK, FM_ENOTFOUND, FM_EIO. */
int fm_repl_task_set_paused(fm_repl *r, const char *name, int paused, cJSON **out, fm_errbuf *eb);

/** Stop and delete the task or pair; *out: a JSON array of deleted names. FM_OK,
 * FM_ENOTFOUND, FM_EIO. */
int fm_repl_task_delete(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb);

/** Append the Prometheus text exposition (ferrymq_replication_*) to out. FM_OK, FM_ENOMEM. */
int fm_repl_metrics(fm_repl *r, fm_buf *out);

/**
 * Where one message of topic went: looked up by id (offset id or UNIQ_KEY) in every region a
 * task names, through each region's name server, as a RocketMQ tool would (journey.c).
 * *out (caller frees): {"topic", "id", "uniqKey", "origin", "hops": [{"region", "namesrv",
 * "origin", "topic", "queueId", "queueOffset", "offsetMsgId", "storeTimestampMs",
 * "properties": {the origin properties}}, ...] origin first then in path order, "missing":
 * [regions without it], "errors": [{"region", "error"}]}. FM_OK; FM_ENOTFOUND (in no region,
 * or no task); FM_ENOMEM. Blocks on the clusters. Thread: any.
 */
int fm_repl_journey(fm_repl *r, const char *topic, const char *id, cJSON **out, fm_errbuf *eb);

/**
 * Failover of task name's followed groups (docs/failover.md). req: {"groups": [...] (default:
 * all the task follows), "apply": bool}. Without apply a dry run: the plan only, nothing
 * changed. With apply the task is paused (persisted) and the plan's offsets written. *out:
 * the plan ({"task", "groups": [{"group", "targetGroup", "queues": [...]}], "start": [...],
 * "dryRun", "taskPaused", ...}). FM_ENOTFOUND (no task), FM_EINVAL (a pair's name, a group the
 * task does not follow, a bad request), or the target's error. Logs FM-REPL-FAILOVER.
 */
int fm_repl_task_failover(fm_repl *r, const char *name, const cJSON *req, cJSON **out,
                          fm_errbuf *eb);

/**
 * The way back after a failover of task name: a pair's other task is resumed; for a one-way
 * task "<name>-back" (target to source, forward local, from req's "from" or earliest, the same
 * groups) is created, or resumed when it exists. *out: its status array. Logs
 * FM-REPL-FAILBACK.
 */
int fm_repl_task_failback(fm_repl *r, const char *name, const cJSON *req, cJSON **out,
                          fm_errbuf *eb);

#endif
