/*
 * repl_int.h - private to src/repl: a running task (runner.c), its per-queue pipelines
 * (pipe.c) and the remoting calls both make on the source and target clusters (side.c).
 *
 * Threads: each task has one control thread (topics, routes, queue split, locks,
 * checkpoints), one thread per source queue it owns (resume, errors, the unusual cases), and
 * one I/O thread its two sides share, on which every completion runs and which does the
 * steady-state copying itself (pipe.c, "the pump"). A pipe's progress fields are guarded by
 * its mu.
 */
#ifndef FM_REPL_REPL_INT_H
#define FM_REPL_REPL_INT_H

#include "client/client_int.h"
#include "repl/repl.h"
#include "repl/task.h"
#include "repl/xlate.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- side.c: one cluster as the replicator sees it ---- */

typedef struct repl_side {
    client_core core; /* transport and route cache of this cluster */
    char client_id[192];
} repl_side;

/* share: NULL, or a side whose transport (I/O thread) this one uses too. */
int fm_repl_side_init(repl_side *s, const char *namesrv, const char *client_id, repl_side *share,
                      fm_errbuf *eb);
void fm_repl_side_destroy(repl_side *s);

/* One transport (I/O thread, one connection per broker) for the tasks between the same two
 * clusters, in either direction: the two tasks of a two-way pair then share one thread's
 * wake-ups and one connection's reads and writes per broker instead of two each (two-way lag,
 * interleaved runs: bench/RESULTS.md, "The two tasks of a two-way pair on one transport").
 * Refcounted; side.c keeps the process's list under a mutex. */
typedef struct repl_io {
    repl_side side; /* owns the transport; its cluster is the pair's first */
    /* the pair in a fixed order, and the client id: room for the longest a task accepts */
    char key[2 * (FM_REPL_NS_MAX + 1) + sizeof(((repl_side *)0)->client_id)];
    int refs;
    struct repl_io *next;
} repl_io;
/* The transport for clusters a and b (in any order) under client_id, made on first use.
 * *out until fm_repl_io_put. */
int fm_repl_io_get(const char *ns_a, const char *ns_b, const char *client_id, repl_io **out,
                   fm_errbuf *eb);
/* Drop a reference; the last one stops the thread. Call it only once nothing of the caller
 * can still complete on that thread (its pipes stopped, its sides destroyed). */
void fm_repl_io_put(repl_io *io);

/* Every master: broker name -> (address, cluster). *out malloc'ed. */
typedef struct repl_broker {
    char name[128];
    char addr[128];
    char cluster[128];
} repl_broker;
int fm_repl_side_masters(repl_side *s, repl_broker **out, size_t *n, fm_errbuf *eb);

/* Topic names the name server knows; *names as ferrymq_strings_free frees them. */
int fm_repl_side_topics(repl_side *s, char ***names, size_t *n, fm_errbuf *eb);

/* A topic's queues of one kind (readable for a source, writable for a target), sorted by
 * broker then queue id, with their broker addresses. FM_ENOTFOUND: no route. */
typedef struct repl_queue {
    ferrymq_queue q;
    char addr[128];
} repl_queue;
int fm_repl_side_queues(repl_side *s, const char *topic, int readable, repl_queue **out, size_t *n,
                        fm_errbuf *eb);

/* Create topic on every master with queues read/write queues and perm. */
int fm_repl_side_create_topic(repl_side *s, const char *topic, int queues, int perm, fm_errbuf *eb);

/* Integer answers about one queue (QUERY_CONSUMER_OFFSET with group, GET_MIN/MAX_OFFSET,
 * SEARCH_OFFSET_BY_TIMESTAMP with ts). FM_ENOTFOUND when the group has no offset. */
int fm_repl_side_committed(repl_side *s, const repl_queue *q, const char *group, int64_t *out,
                           fm_errbuf *eb);
int fm_repl_side_commit(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                        fm_errbuf *eb);
int fm_repl_side_min_max(repl_side *s, const repl_queue *q, int64_t *min, int64_t *max,
                         fm_errbuf *eb);
int fm_repl_side_search_ts(repl_side *s, const repl_queue *q, int64_t ts_ms, int64_t *out,
                           fm_errbuf *eb);

/* A raw pull: the answer's code and offsets, records in body (borrowing from frame). */
typedef struct repl_pull {
    int code; /* FM_RESP_SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY, PULL_OFFSET_MOVED */
    int64_t next, min, max;
    fm_slice body;
    fm_buf frame;
    fm_cmd_arena arena;
    fm_cmd resp;
} repl_pull;
void fm_repl_pull_init(repl_pull *p);
void fm_repl_pull_free(repl_pull *p);
/* PULL_MESSAGE with subscription expr of expr_type ("*", "TAG" for everything). */
int fm_repl_side_pull(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                      int max_msgs, int suspend_ms, const char *expr, const char *expr_type,
                      repl_pull *out, fm_errbuf *eb);
/* The same request, answered to done on the I/O thread; out->body borrows from resp. */
int fm_repl_side_pull_async(repl_side *s, const repl_queue *q, const char *group, int64_t offset,
                            int max_msgs, int suspend_ms, const char *expr, const char *expr_type,
                            fm_client_done_fn done, void *ud);
int fm_repl_pull_parse(const repl_queue *q, const fm_cmd *resp, repl_pull *out, fm_errbuf *eb);

/* Consumer-group membership: HEART_BEAT for group with topics, the group's members at a
 * broker (sorted; none when the broker answers RocketMQ's "no consumer for this group"),
 * LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, UNREGISTER_CLIENT. */
int fm_repl_side_heartbeat(repl_side *s, const char *addr, const char *group, char *const *topics,
                           size_t n_topics, fm_errbuf *eb);
int fm_repl_side_members(repl_side *s, const char *addr, const char *group, char ***ids, size_t *n,
                         fm_errbuf *eb);
int fm_repl_side_lock(repl_side *s, const char *addr, const char *group, const repl_queue *qs,
                      size_t n, int lock, int *granted, fm_errbuf *eb);
void fm_repl_side_unregister(repl_side *s, const char *addr, const char *group);
/* The consumer groups a broker has configs for (GET_ALL_SUBSCRIPTIONGROUP_CONFIG); *names as
 * ferrymq_strings_free frees them. */
int fm_repl_side_groups(repl_side *s, const char *addr, char ***names, size_t *n, fm_errbuf *eb);
/* One group's subscription config at addr (its entry of GET_ALL_SUBSCRIPTIONGROUP_CONFIG's
 * table), detached for the caller (cJSON_Delete); FM_ENOTFOUND when addr has none. */
int fm_repl_side_group_config(repl_side *s, const char *addr, const char *group, cJSON **out,
                              fm_errbuf *eb);
/* UPDATE_AND_CREATE_SUBSCRIPTIONGROUP with cfg (a SubscriptionGroupConfig) at addr. */
int fm_repl_side_group_create(repl_side *s, const char *addr, const cJSON *cfg, fm_errbuf *eb);

/* One message (SEND_MESSAGE_V2, waiting for the answer) to queue qid of topic at addr, as
 * producer group group, with the property string props. */
int fm_repl_side_send(repl_side *s, const char *addr, const char *group, const char *topic, int qid,
                      fm_slice props, fm_slice body, fm_errbuf *eb);

/* ---- pipe.c: one source queue copied in order ---- */

typedef struct repl_task repl_task;

#define REPL_WINDOW 1024 /* sends in flight per queue */

typedef struct repl_pipe repl_pipe;

/* A ring slot's state; the head advances over COPIED and NOT_SENT only. */
enum {
    SLOT_FREE = 0,
    SLOT_SENDING = 1,  /* in a send (or a batch being built) */
    SLOT_COPIED = 2,   /* on the target at tgt_off (acknowledged, or found there by a resume) */
    SLOT_NOT_SENT = 3, /* not to be copied: filter, forward rule or loop prevention */
    SLOT_FAILED = 4,   /* its send failed: the pipe resumes */
};

typedef struct repl_slot {
    repl_pipe *pipe;
    int64_t src_off;
    int64_t tgt_off;
    int64_t store_ts;
    uint32_t bytes;   /* body */
    uint32_t total;   /* body and properties */
    uint32_t batch_n; /* on the first slot of a send: how many slots it carries */
    int state;        /* SLOT_* */
} repl_slot;

/* A stretch of the offset map: the copies of source offsets src_first..src_last landed, in
 * order, at target offsets tgt_first..tgt_last; count copies in all (count equal to both spans
 * means no gap on either side, so the translation is arithmetic). */
typedef struct repl_range {
    int64_t src_first, src_last, tgt_first, tgt_last, count;
} repl_range;

#define REPL_MAP_RANGES 64  /* ranges kept between two map writes; the last absorbs the rest */
#define REPL_XMAP_RUNS 4096 /* exact runs of copies a pipe remembers for progress sync */

/* One followed consumer group on one source queue (progress sync). The task thread writes it,
 * the status reads it, both under the pipe's mu. */
typedef struct repl_sync {
    int64_t committed; /* the group's offset on the source, last read (-1: none) */
    int64_t target;    /* its translation (-1: none yet) */
    int exact;         /* target is the first copy >= committed (0: the replicated end) */
    int64_t written;   /* the offset last written to the target group (-1: none) */
    int64_t synced_ms; /* wall time of the last round that left the target group current */
    char state[400];   /* "synced", "not moved: ...", "no offset on the source", an error */
    /* a scan of the target queue for an offset older than the pipe's history */
    int64_t scan_c, scan_pos, scan_end;
    int64_t prev_c, prev_t; /* the last exact answer: a floor for the next, larger offset */
    /* the last probe round (failover): what the source answered and its translation, -1 when
     * the source did not answer or nothing could be translated */
    int64_t probe_c, probe_t;
    int probe_exact; /* probe_t is the first copy >= probe_c (0: the replicated end) */
    /* the target group's config: checked before the first write, made from the source's */
    int config_checked;
    char config[200]; /* "exists", "created from the source's", or why not */
} repl_sync;
#define REPL_MAP_TOPIC "FERRY_SYS_OFFSET_MAP"

struct repl_pipe {
    repl_task *t;
    repl_queue sq;         /* source queue */
    repl_queue tq;         /* target queue */
    int src_index;         /* among the topic's source queues: target queue = src_index mod n */
    int n_src_queues;      /* the topic's source queues */
    char src_cluster[128]; /* the source broker's cluster (FERRY_SRC_CLUSTER) */
    int ckpt_ok;           /* this target queue takes no other source queue: keep a checkpoint */
    pthread_t th;
    int started;
    atomic_int stop;
    int64_t lease_until_ms; /* sends only before this (the source lock's renewal + margin) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    repl_slot ring[REPL_WINDOW];
    uint32_t head, tail;        /* ring[head % W .. tail % W) in order of source offset */
    int broken;                 /* a send failed: drain, then resume from the target's record */
    int blocked;                /* the target refuses a message: retried, never dropped */
    uint32_t ok_body, ok_total; /* the largest body and message the target took */
    int inflight;               /* slots in state 1 */
    int waiters;                /* the pipe thread waits on cv */
    int no_batch;               /* the target refused a batch: one message per send */
    int64_t done_src;           /* every source offset below is copied or not to be copied */
    int64_t gap_next;           /* the source's filter passed over every offset below: done once the
                                 * ring is empty (0: none since the last drain) */
    int sql_pull;               /* the pump's pull in flight carries the task's prefilter */
    int64_t ckpt_tgt;           /* target offset of the last confirmed copy (-1: none yet) */
    int64_t ckpt_written_tgt, ckpt_written_src;
    int64_t head_store_ts; /* store time of the oldest message not yet confirmed (0: none) */
    int64_t max_offset;    /* source queue's max offset as last seen */
    fm_repl_xmap *xmap;    /* the copies' history, for progress sync (under mu) */
    repl_sync *sync;       /* per followed group (t->groups), grown by the task thread */
    size_t n_sync;         /* under mu */
    repl_range map[REPL_MAP_RANGES]; /* offset map not yet written to the target */
    int n_map;
    int64_t map_hi_src; /* highest source offset mapped by this pipe (-1: none) */
    int64_t messages, bytes, filtered, skipped;
    int64_t src_filtered; /* of filtered: left out by the source broker's prefilter */
    /* The pump (pipe.c): while fast is set, the I/O thread owns the pipe's copying (pull
     * completion -> sends -> next pull) and the pipe thread waits for it to hand back. */
    struct pipe_local *l;
    int fast;
    int pump_parked;   /* the pump waits for window room: send_done restarts it */
    int64_t pump_next; /* the next source offset to pull */
    char state[24];    /* "starting", "running", "blocked", "resuming", "stopped" */
    char error[512];
    int64_t error_ms;
};

int fm_repl_pipe_start(repl_pipe *p);
/* Translate committed source offset c for progress sync (task thread; s: the group's state
 * on this pipe). FM_OK with *tgt and *exact (see xlate.h); FM_EAGAIN while the queue has not
 * resumed yet or a scan of the target for an offset older than the history goes on (a bounded
 * part of it per call, continued by the next); an error from the target. */
int fm_repl_pipe_translate(repl_pipe *p, repl_sync *s, int64_t c, int64_t *tgt, int *exact,
                           fm_errbuf *eb);
/* Stop the thread: the queue's sends in flight are awaited (or time out). */
void fm_repl_pipe_stop(repl_pipe *p);
/* The task-wide record of a pipe's failure (also logged). */
void fm_repl_pipe_error(repl_pipe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- runner.c: one task ---- */

struct repl_task {
    fm_repl_spec spec;
    const fm_repl_opts *opts;
    char src_group[160]; /* ferry-task-<name>: source offsets, rebalancing, locks */
    char dst_group[160]; /* ferry-ckpt-<name>: resume checkpoints on the target */
    /* SQL92 the source broker evaluates before answering a pull, so a copy the forward rule
     * would drop (the other side's echoes in a two-way pair) never crosses, nor wakes a pull:
     * "" when the task cannot say it in SQL92; prefilter_off once a source refused it */
    char prefilter[FM_REPL_PREFIX_MAX + 32];
    atomic_int prefilter_off;
    repl_side src, dst;
    repl_io *io; /* the transport both sides use, shared with the tasks between the same clusters */
    ferrymq_admin *dst_admin; /* QUERY_MESSAGE on the target's offset map */
    pthread_mutex_t admin_mu; /* one call at a time on dst_admin */
    pthread_t th;
    int started;
    atomic_int stop;

    pthread_mutex_t mu; /* pipes, error, rate limiter */
    pthread_cond_t cv;
    repl_pipe **pipes;
    size_t n_pipes, cap_pipes;
    char error[512];
    int64_t error_ms;
    char src_cluster[128];
    int map_ready; /* the target has REPL_MAP_TOPIC */
    /* rate limiter (token bucket per second) */
    double tok_msgs, tok_bytes;
    int64_t tok_ms;
    /* The followed groups: the spec's list, plus what its groupRegex finds on the source
     * (the task thread adds; nothing is removed, so an index stays a group's). Written
     * under mu; the task thread reads it without. */
    char **groups;
    size_t n_groups, cap_groups;
    /* probe rounds (failover): a caller sets probe_req and waits on probe_cv until probes_done
     * passes; the task thread translates every followed group without writing (under mu) */
    int probe_req;
    int64_t probes_done;
    pthread_cond_t probe_cv;
    /* rate sampling for status */
    int64_t rate_ms, rate_msgs0, rate_bytes0;
    /* what the pipes dropped since the start had counted (under mu): the task's totals go on
     * from there, so its counters never fall when a queue changes hands */
    int64_t gone_messages, gone_bytes, gone_filtered, gone_src_filtered, gone_skipped;
    double rate_msgs, rate_bytes;
};

int fm_repl_task_start(repl_task *t);
/* Fill t->groups from the spec (at creation). FM_OK or FM_ENOMEM. */
int fm_repl_task_groups_init(repl_task *t);
/* Release t->groups (with the task). */
void fm_repl_task_groups_free(repl_task *t);
/* The target group that follows source group g (progress sync): g one-way, the shadow
 * "<g>-from-<source region>" for a two-way pair. */
void fm_repl_sync_group_name(const repl_task *t, const char *g, char *out, size_t n);
/* Have the task thread translate every followed group's committed offsets without writing
 * them (each queue's repl_sync probe_c/probe_t); waits at most timeout_ms. FM_OK once done,
 * FM_ETIMEDOUT, FM_ECLOSED when the task is not running. Thread: any but the task's. */
int fm_repl_task_probe(repl_task *t, int64_t timeout_ms);
void fm_repl_task_stop(repl_task *t);
void fm_repl_task_error(repl_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait until n messages of bytes may be sent under the task's rate limits (0 = at once). */
void fm_repl_task_throttle(repl_task *t, uint32_t bytes);

/* An offset in a status object: the number, or null for a negative one (not known). */
void fm_repl_json_offset(cJSON *o, const char *name, int64_t v);

/* ---- failover.c: ferrymq failover's plan ---- */

typedef struct fm_repl_plan fm_repl_plan;

/* The failover plan of task t for groups (each must be one the task follows: FM_EINVAL
 * otherwise): per group and target queue the source's committed offsets translated now (a
 * probe round when the task runs and its source answers), the last synced offset, the target's
 * end, and what would be applied; *report is that as JSON (see docs/failover.md). Reads only.
 * Both outputs are the caller's (fm_repl_plan_free, cJSON_Delete). Thread: any but t's. */
int fm_repl_plan_make(repl_task *t, char *const *groups, size_t n_groups, fm_repl_plan **out,
                      cJSON **report, fm_errbuf *eb);
/* Write the plan's offsets to the target groups (UPDATE_CONSUMER_OFFSET). */
int fm_repl_plan_apply(fm_repl_plan *pl, fm_errbuf *eb);
/* How many offsets the plan writes. */
size_t fm_repl_plan_writes(const fm_repl_plan *pl);
void fm_repl_plan_free(fm_repl_plan *pl);

#endif
