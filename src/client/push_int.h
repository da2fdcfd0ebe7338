/*
 * push_int.h - private to src/client: the push consumer's state and the contract between its
 * three files (ferrymq.h has the public API):
 *   push.c        the handle, its threads (service loop, workers) and the public calls;
 *   push_queue.c  per-queue state: rings of pulled messages, pulls, batches, offsets, send-back;
 *   push_group.c  membership: heartbeats, queue allocation (rebalance), orderly locks, and the
 *                 requests brokers send (group changes, offset resets).
 *
 * Locking: pc->mu guards everything in ferrymq_push_consumer and every pq; functions below
 * say "holds mu" when the caller must hold it. Several drop it around network calls and
 * take it again ("releases mu meanwhile"); they keep a reference (pq->refs) on what they use.
 */
#ifndef FM_CLIENT_PUSH_INT_H
#define FM_CLIENT_PUSH_INT_H

#include "client/client_int.h"

#include <pthread.h>
#include <cjson/cJSON.h>
#include <stdatomic.h>

#define MAX_SUBS 64
#define PULL_DELAY_ON_ERROR_MS 3000 /* RocketMQ's pullTimeDelayMillsWhenException */
#define PULL_DELAY_FLOW_MS 50       /* and its flow-control delay */
#define SEND_BACK_RETRY_MS 5000     /* a batch whose send-back failed is consumed again then */
#define LOCK_RENEW_MS 20000         /* brokers keep a lock 60 s */
#define MAX_SPAN 2000               /* consumeConcurrentlyMaxSpan */

typedef struct sub {
    char topic[256];
    char expr[1024];
    char type[8];
    int64_t version;
} sub;

typedef struct held {
    ferrymq_msg *m; /* owned while not taken by a worker */
    int64_t off;
    uint8_t done;
} held;

typedef struct pq {
    struct pq *next;
    ferrymq_queue q;
    char addr[128];
    const sub *s;
    int dropped;
    int listed; /* the list's reference is held (given up once, when dropped) */
    int refs;   /* a pull in flight, batches, commits under way, the list itself */
    unsigned gen;
    int64_t pull_offset;
    int64_t commit_offset; /* -1: nothing to commit yet */
    int64_t committed;     /* last value sent to the broker */
    int pulling;
    int64_t pull_at; /* monotonic ms */
    held *ring;
    size_t cap;
    uint64_t head, tail, next_take; /* sequence numbers; slot = seq % cap */
    size_t bytes;
    /* orderly */
    int locked;
    int consuming;
    int unlock_after; /* orderly, given up: unlock once no batch of it runs (see rebalance) */
} pq;

typedef struct task {
    fm_client_garbage g; /* consumed batches go back to the I/O thread: see done_tasks */
    struct task *next;
    pq *p;
    unsigned gen;
    uint64_t first; /* ring sequence of msgs[0] */
    int64_t due;    /* monotonic ms: not before */
    int tries;
    size_t n;
    ferrymq_msg *msgs[];
} task;

struct ferrymq_push_consumer {
    client_core core; /* first: the shared handle layout */
    char client_id[300];
    pthread_mutex_t mu;
    pthread_cond_t svc_cv; /* the service thread waits here */
    pthread_cond_t work_cv;
    sub subs[MAX_SUBS];
    int n_subs;
    int mode;
    ferrymq_consume_cb cb;
    void *cb_opaque;
    pq *pqs;
    task *work_head, *work_tail;       /* ready batches, FIFO */
    task *later;                       /* batches waiting for their due time */
    fm_client_garbage_list done_tasks; /* consumed batches, freed on the I/O thread */
    pthread_t svc;
    pthread_t *workers;
    int n_workers;
    int started, closing, rebalance_now;
    int kicked; /* something changed since the service thread last looked (under mu) */
    int64_t next_rebalance, next_heartbeat, next_commit, next_lock;
};

/* ---- push_queue.c ---- */

/* Wake the service thread (holds mu); see the kicked flag. */
void fm_push_kick(ferrymq_push_consumer *pc);

/* A synchronous request whose answer only needs its code; with json_out, its body parsed
 * (the caller frees it). FM_OK, FERRYMQ_EBROKER (another code than SUCCESS), transport
 * errors, FM_EPROTO. Must not be called from the I/O thread. */
int fm_push_call(ferrymq_push_consumer *pc, const char *addr, int code, const fm_cmd_ext *ext,
                 size_t n_ext, fm_slice body, cJSON **json_out, fm_errbuf *eb);

/* Free the messages p's ring still owns (not taken by a worker). Holds mu. */
void fm_push_pq_free_untaken(pq *p);

/* Drop a reference to p; the last one unlinks and frees it. Holds mu. */
void fm_push_pq_release(ferrymq_push_consumer *pc, pq *p);

/* Start p over at off: what it holds and what is in flight belong to the old position (its
 * generation moves on). Holds mu. */
void fm_push_pq_reset(pq *p, int64_t off);

/* Queue a ready batch for the workers. Holds mu. */
void fm_push_work_push(ferrymq_push_consumer *pc, task *t);

/* Queue what p can be consumed now (orderly: one batch at a time, while locked). Holds mu. */
void fm_push_dispatch(ferrymq_push_consumer *pc, pq *p);

/* Send every pull that is due. Holds mu, releases it meanwhile. Returns the earliest time
 * (monotonic ms) a held-back queue may pull. */
int64_t fm_push_issue_pulls(ferrymq_push_consumer *pc);

/* Commit every queue whose offset moved, dropped ones too. Holds mu, releases it meanwhile. */
void fm_push_commit_all(ferrymq_push_consumer *pc);

/* CONSUMER_SEND_MSG_BACK of m to its broker (delay_level 0: the broker's next level; -1: the
 * dead-letter queue). 0 or -1 (logged). Not from the I/O thread. */
int fm_push_send_back(ferrymq_push_consumer *pc, const char *addr, const ferrymq_msg *m,
                      int delay_level);

/* After a batch's callback: mark it consumed, or schedule it again (orderly: the same batch
 * after suspendCurrentQueueTimeMillis; concurrent: when the send-back failed). Holds mu. */
void fm_push_task_finish(ferrymq_push_consumer *pc, task *t, int consumed);

/* Free a batch and its messages. */
void fm_push_task_free(task *t);

/* ---- push_group.c ---- */

/* Masters of every subscribed topic's route, deduplicated, into out (at most cap). */
size_t fm_push_broker_addrs(ferrymq_push_consumer *pc, char (*out)[128], size_t cap);

/* HEART_BEAT with our subscriptions to every master. */
void fm_push_heartbeat_all(ferrymq_push_consumer *pc);

/* Lock (or renew) every held queue, per broker, and mark which we hold. Holds mu, releases
 * it meanwhile. */
void fm_push_lock_all(ferrymq_push_consumer *pc);

/* UNLOCK_BATCH_MQ for p's queue. Holds mu, releases it meanwhile (p stays valid: the caller
 * holds a reference). */
void fm_push_unlock_queue(ferrymq_push_consumer *pc, pq *p);

/* qsort order of ferrymq_queue: topic, broker name, queue id (RocketMQ's MessageQueue). */
int fm_push_cmp_queue(const void *x, const void *y);

/* Take this member's share of every subscribed topic's queues, give up the rest. */
void fm_push_rebalance_all(ferrymq_push_consumer *pc);

/*
 * Parse a RESET_CONSUMER_CLIENT_OFFSET body, {"offsetTable":{<MessageQueue object>:offset}}
 * as fastjson writes it, calling fn for each well-formed entry (others are skipped). FM_OK,
 * FM_EPROTO (not JSON, or no offsetTable object), FM_ENOMEM. Any thread.
 */
int fm_push_reset_table_parse(const uint8_t *body, size_t len,
                              void (*fn)(void *ud, const ferrymq_queue *q, int64_t offset),
                              void *ud);

/* The transport's handler for broker-initiated requests (I/O thread). */
void fm_push_on_request(void *ud, const fm_cmd *req);

#endif
