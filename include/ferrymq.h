/*
 * ferrymq.h - libferrymq, the FerryMQ C client: the public API (the only installed header).
 *
 * It speaks the Apache RocketMQ remoting protocol, so it works against ferrymqd and against
 * stock RocketMQ clusters.
 *
 * Conventions, for every call below:
 * - Handles are opaque. Pairs are _new/_free (or _new/_close); _free(NULL) is a no-op.
 * - Functions that can fail return 0 (FERRYMQ_OK) or a negative FERRYMQ_E* code, and write a
 *   readable message into the optional errstr buffer (errstr_size bytes, always
 *   NUL-terminated; NULL allowed). Nothing here writes to stderr: set a log callback.
 * - Ownership is stated per call. When a call takes ownership of an argument it does so only
 *   on success; on failure the caller still owns it.
 * - Thread: each function says which threads may call it. Callbacks run on the library's own
 *   I/O thread, must not block, and must not free the handle they were called for (that
 *   returns FERRYMQ_EBUSY).
 * - The library keeps no global state: everything hangs off handles the caller owns.
 */
#ifndef FERRYMQ_H
#define FERRYMQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FERRYMQ_API __attribute__((visibility("default")))
#else
#define FERRYMQ_API
#endif

/** Compile-time version, 0xMMmmpp00. */
#define FERRYMQ_VERSION 0x00010000

/** Run-time version of the library actually linked. Thread: any. */
FERRYMQ_API unsigned ferrymq_version(void);

/* Error codes: the same values as the library's internal table (docs/errors.md). */
#define FERRYMQ_OK 0
#define FERRYMQ_EINVAL (-1)
#define FERRYMQ_ENOMEM (-2)
#define FERRYMQ_EIO (-3)
#define FERRYMQ_EPROTO (-5)
#define FERRYMQ_ENOTFOUND (-8)
#define FERRYMQ_ECLOSED (-10)
#define FERRYMQ_ETIMEDOUT (-11)
#define FERRYMQ_EBROKER (-100) /* the broker answered with an error code; see errstr */
#define FERRYMQ_EBUSY (-101)   /* not allowed from a callback of the same handle */

/** Short static text for an error code; never NULL. Thread: any. */
FERRYMQ_API const char *ferrymq_strerror(int err);

/* ---- configuration ---- */

typedef struct ferrymq_conf ferrymq_conf;

/** New configuration with defaults; free with ferrymq_conf_free. NULL when out of memory. */
FERRYMQ_API ferrymq_conf *ferrymq_conf_new(void);

FERRYMQ_API void ferrymq_conf_free(ferrymq_conf *conf);

/**
 * Set an option by name, named as RocketMQ clients name them (docs/client-config.md):
 *   namesrvAddr                 "host:port[;host:port]" (required)
 *   producerGroup               default "DEFAULT_PRODUCER"
 *   consumerGroup               default "DEFAULT_CONSUMER"
 *   sendMsgTimeout              ms per send attempt, default 3000
 *   retryTimesWhenSendFailed    extra attempts on another queue, default 2
 *   compressMsgBodyOverHowmuch  bodies larger than this are zlib-compressed, default 4096
 *   maxMessageSize              default 4194304
 *   maxInFlight                 asynchronous sends outstanding at once, default 1024
 *   clientIP                    reported in client ids, default the first non-loopback IPv4
 *   instanceName                default "DEFAULT"
 * Returns FERRYMQ_OK, or FERRYMQ_EINVAL for an unknown key or a bad value (errstr says
 * which). The value is copied. Thread: one thread at a time per conf.
 */
FERRYMQ_API int ferrymq_conf_set(ferrymq_conf *conf, const char *key, const char *value,
                                 char *errstr, size_t errstr_size);

/**
 * Log callback for the library's notable events (level 0 error .. 3 debug; line without
 * newline). Off by default. Called from library threads. Thread: before creating handles.
 */
FERRYMQ_API void ferrymq_conf_set_log_cb(ferrymq_conf *conf,
                                         void (*cb)(void *opaque, int level, const char *line),
                                         void *opaque);

/* ---- messages ---- */

typedef struct ferrymq_msg ferrymq_msg;

/**
 * New message for topic with a copy of body. Free with ferrymq_msg_free (unless a send took
 * ownership). NULL when out of memory or topic is empty. Thread: any.
 */
FERRYMQ_API ferrymq_msg *ferrymq_msg_new(const char *topic, const void *body, size_t len);

FERRYMQ_API void ferrymq_msg_free(ferrymq_msg *msg);

/** Tag (one), keys (space-separated) and user properties; values are copied. */
FERRYMQ_API int ferrymq_msg_set_tags(ferrymq_msg *msg, const char *tags);
FERRYMQ_API int ferrymq_msg_set_keys(ferrymq_msg *msg, const char *keys);
FERRYMQ_API int ferrymq_msg_set_property(ferrymq_msg *msg, const char *name, const char *value);

/** Accessors; returned strings live as long as the message (NULL when absent). */
FERRYMQ_API const char *ferrymq_msg_topic(const ferrymq_msg *msg);
FERRYMQ_API const void *ferrymq_msg_body(const ferrymq_msg *msg, size_t *len);
FERRYMQ_API const char *ferrymq_msg_tags(const ferrymq_msg *msg);
FERRYMQ_API const char *ferrymq_msg_keys(const ferrymq_msg *msg);
FERRYMQ_API const char *ferrymq_msg_property(const ferrymq_msg *msg, const char *name);

/*
 * Fields of a received message (pulled or viewed); 0 / -1 / NULL on a message built for
 * sending. ferrymq_msg_id is the producer's UNIQ_KEY when it set one (it survives
 * replication), else the offset id; ferrymq_msg_offset_id is the broker's (host, offset) id.
 */
FERRYMQ_API const char *ferrymq_msg_id(const ferrymq_msg *msg);
FERRYMQ_API const char *ferrymq_msg_offset_id(const ferrymq_msg *msg);
FERRYMQ_API int ferrymq_msg_queue_id(const ferrymq_msg *msg);
FERRYMQ_API int64_t ferrymq_msg_queue_offset(const ferrymq_msg *msg);
FERRYMQ_API int64_t ferrymq_msg_store_timestamp(const ferrymq_msg *msg);
FERRYMQ_API int64_t ferrymq_msg_born_timestamp(const ferrymq_msg *msg);
FERRYMQ_API int ferrymq_msg_reconsume_times(const ferrymq_msg *msg);

/** Number of properties, and the i-th (name returned, *value set); for listing them all. */
FERRYMQ_API size_t ferrymq_msg_property_count(const ferrymq_msg *msg);
FERRYMQ_API const char *ferrymq_msg_property_at(const ferrymq_msg *msg, size_t i,
                                                const char **value);

/* ---- queues ---- */

/** One message queue: a topic's queue id on a named broker. */
typedef struct ferrymq_queue {
    char topic[256];
    char broker_name[128];
    int queue_id;
} ferrymq_queue;

/* ---- producer ---- */

typedef struct ferrymq_producer ferrymq_producer;

/**
 * Result of a send. struct_size must be set by the caller to sizeof(ferrymq_send_result);
 * fields are only ever appended, so an older caller keeps working.
 */
typedef struct ferrymq_send_result {
    size_t struct_size;
    char msg_id[64];        /* the client id (UNIQ_KEY) the producer set */
    char offset_msg_id[64]; /* the broker's offset message id */
    char broker_name[128];
    int queue_id;
    int64_t queue_offset;
} ferrymq_send_result;

/**
 * Create a producer. conf is copied (the caller keeps and frees it). Route lookups start on
 * first send. FERRYMQ_OK, FERRYMQ_EINVAL (no namesrvAddr), FERRYMQ_ENOMEM, FERRYMQ_EIO.
 * Free with ferrymq_producer_close. Thread: any.
 */
FERRYMQ_API int ferrymq_producer_new(const ferrymq_conf *conf, ferrymq_producer **out, char *errstr,
                                     size_t errstr_size);

/**
 * Send and wait for the broker's acknowledgement. msg is borrowed (the producer adds its
 * UNIQ_KEY property to it). On failure the message is retried on another queue up to
 * retryTimesWhenSendFailed times; SYSTEM_BUSY answers are retried after a short backoff.
 * FERRYMQ_OK with *res filled; FERRYMQ_EINVAL (an empty body: "MESSAGE_ILLEGAL: the message
 * body length is zero", as RocketMQ's client refuses it; or a body over maxMessageSize; this
 * holds for every send call), FERRYMQ_ENOTFOUND (no route for the topic), FERRYMQ_ETIMEDOUT,
 * FERRYMQ_EBROKER (errstr has the broker's code and remark), FERRYMQ_EIO. Thread: any.
 */
FERRYMQ_API int ferrymq_producer_send(ferrymq_producer *p, ferrymq_msg *msg,
                                      ferrymq_send_result *res, char *errstr, size_t errstr_size);

/**
 * Completion of an asynchronous send: err FERRYMQ_OK with res, or an error with errstr (both
 * borrowed for the call). Runs on the producer's I/O thread: must not block or call the
 * producer's synchronous functions.
 */
typedef void (*ferrymq_send_cb)(void *opaque, int err, const ferrymq_send_result *res,
                                const char *errstr);

/**
 * Send without waiting for the broker. Ownership of msg passes to the producer on
 * FERRYMQ_OK (it is freed after cb ran, on the thread of a later send or at close, so the
 * memory goes back where it was allocated); on failure the caller keeps it. At most maxInFlight
 * sends are outstanding: a call beyond that waits for one to complete (a bounded window, so a
 * fast producer cannot queue without limit). Failed attempts are retried at once on another
 * queue, up to retryTimesWhenSendFailed. Thread: any but the producer's callbacks.
 */
FERRYMQ_API int ferrymq_producer_send_async(ferrymq_producer *p, ferrymq_msg *msg,
                                            ferrymq_send_cb cb, void *opaque, char *errstr,
                                            size_t errstr_size);

/**
 * Send to the queue chosen by sharding_key (Java's hash of the key modulo the topic's writable
 * queues, as SelectMessageQueueByHash), so messages with one key keep their order. Never
 * retried on another queue. Otherwise as ferrymq_producer_send.
 */
FERRYMQ_API int ferrymq_producer_send_orderly(ferrymq_producer *p, ferrymq_msg *msg,
                                              const char *sharding_key, ferrymq_send_result *res,
                                              char *errstr, size_t errstr_size);

/**
 * Send n (1..1024) messages of one topic in one SEND_BATCH_MESSAGE to one queue, with
 * consecutive offsets; *res describes the first. The messages are borrowed.
 */
FERRYMQ_API int ferrymq_producer_send_batch(ferrymq_producer *p, ferrymq_msg *const *msgs, size_t n,
                                            ferrymq_send_result *res, char *errstr,
                                            size_t errstr_size);

/**
 * Flush: wait up to timeout_ms for sends in flight, then free the producer. It never hangs
 * past the deadline. Returns FERRYMQ_OK, or FERRYMQ_ETIMEDOUT when sends were still pending.
 * Thread: any but a callback of this producer.
 */
FERRYMQ_API int ferrymq_producer_close(ferrymq_producer *p, int timeout_ms);

/* ---- transactional producer ---- */

/*
 * RocketMQ's transactional messages (TransactionMQProducer): the message is first stored as a
 * half message no consumer sees; then the application's local transaction runs; its outcome
 * commits the message (delivered once) or rolls it back (never delivered). When the outcome
 * is unknown, or the producer died before telling, the broker asks a live producer of the same
 * producerGroup later (after transactionTimeOut, 6 s by default, then every
 * transactionCheckInterval) and the check callback answers from the application's own record
 * of the transaction; after transactionCheckMax unanswered checks the broker discards it.
 * Options as ferrymq_producer, plus heartbeatBrokerInterval (the broker learns which
 * connections belong to the group from heartbeats). Works against ferrymqd and stock RocketMQ
 * brokers alike.
 */
typedef struct ferrymq_txn_producer ferrymq_txn_producer;

/* A local transaction's outcome (RocketMQ's LocalTransactionState). */
#define FERRYMQ_TXN_UNKNOWN 0  /* not known yet: the broker will ask the check callback */
#define FERRYMQ_TXN_COMMIT 1   /* deliver the message */
#define FERRYMQ_TXN_ROLLBACK 2 /* drop it: never delivered */

/**
 * The local transaction, run by ferrymq_txn_send on the caller's thread once the half message
 * is stored (msg is the caller's message, borrowed for the call; its id is the transaction
 * id). arg is ferrymq_txn_send's. Returns a FERRYMQ_TXN_* state; anything else counts as
 * FERRYMQ_TXN_UNKNOWN. It may block; it must not close the producer.
 */
typedef int (*ferrymq_txn_local_cb)(void *opaque, ferrymq_msg *msg, void *arg);

/**
 * The broker's question about an unresolved transaction (CHECK_TRANSACTION_STATE): msg is the
 * half message as sent (topic, body, keys, properties; ferrymq_msg_id is the transaction id,
 * ferrymq_msg_offset_id the half's offset id), borrowed for the call. Returns a FERRYMQ_TXN_*
 * state, sent back at once. Runs on the producer's check thread, one call at a time (checks
 * queue behind a slow one, and so do heartbeats: keep it short); it must not close the
 * producer.
 */
typedef int (*ferrymq_txn_check_cb)(void *opaque, const ferrymq_msg *msg);

/**
 * Create a transactional producer of conf's producerGroup; check (required) answers the
 * broker's checks, with opaque. conf is copied. FERRYMQ_OK, FERRYMQ_EINVAL (no namesrvAddr,
 * no check callback), FERRYMQ_ENOMEM, FERRYMQ_EIO. Free with ferrymq_txn_producer_close.
 * Thread: any.
 */
FERRYMQ_API int ferrymq_txn_producer_new(const ferrymq_conf *conf, ferrymq_txn_check_cb check,
                                         void *opaque, ferrymq_txn_producer **out, char *errstr,
                                         size_t errstr_size);

/**
 * Send msg as a transaction: store the half message (SEND_MESSAGE_V2 with TRAN_MSG=true,
 * PGROUP and sysFlag TRANSACTION_PREPARED), run local(opaque, msg, arg), then end the
 * transaction with its outcome (END_TRANSACTION). msg is borrowed (the producer adds its
 * UNIQ_KEY, TRAN_MSG and PGROUP properties). When the half cannot be stored, local is not run
 * and the error is returned. On FERRYMQ_OK, *res describes the half message (queue_offset is
 * its offset in the broker's half queue) and *state (when not NULL) is local's outcome; an
 * END_TRANSACTION the broker did not confirm is not an error: the broker's check resolves the
 * transaction later (the log callback says so). Errors as ferrymq_producer_send. Thread: any
 * but the producer's check callback.
 */
FERRYMQ_API int ferrymq_txn_send(ferrymq_txn_producer *tp, ferrymq_msg *msg,
                                 ferrymq_txn_local_cb local, void *arg, ferrymq_send_result *res,
                                 int *state, char *errstr, size_t errstr_size);

/**
 * Stop answering checks (those queued are dropped: the broker asks again), leave the group at
 * the brokers (UNREGISTER_CLIENT), then close as ferrymq_producer_close(timeout_ms). NULL is a
 * no-op. Returns FERRYMQ_OK, FERRYMQ_ETIMEDOUT, or FERRYMQ_EBUSY from one of its callbacks
 * (nothing is closed then). Thread: any but its callbacks.
 */
FERRYMQ_API int ferrymq_txn_producer_close(ferrymq_txn_producer *tp, int timeout_ms);

/* ---- pull consumer ---- */

typedef struct ferrymq_consumer ferrymq_consumer;

/**
 * Create a pull consumer (conf: namesrvAddr, consumerGroup). conf is copied. Free with
 * ferrymq_consumer_close. Thread: any; one thread at a time per consumer (but
 * ferrymq_consumer_pull_async, from any thread).
 */
FERRYMQ_API int ferrymq_consumer_new(const ferrymq_conf *conf, ferrymq_consumer **out, char *errstr,
                                     size_t errstr_size);

/** Readable queues of topic. *queues is malloc'ed: free() it. FERRYMQ_ENOTFOUND: no route. */
FERRYMQ_API int ferrymq_consumer_queues(ferrymq_consumer *c, const char *topic,
                                        ferrymq_queue **queues, size_t *n, char *errstr,
                                        size_t errstr_size);

#define FERRYMQ_PULL_FOUND 0
#define FERRYMQ_PULL_NO_NEW_MSG 1     /* nothing at or after offset (yet) */
#define FERRYMQ_PULL_NO_MATCHED_MSG 2 /* messages were there, none matched: go on at next */
#define FERRYMQ_PULL_OFFSET_ILLEGAL 3 /* offset outside [min, max]: go on at next */

/** Result of a pull; owns its messages until ferrymq_pull_result_clear. struct_size as above. */
typedef struct ferrymq_pull_result {
    size_t struct_size;
    int status;
    int64_t next_offset;
    int64_t min_offset;
    int64_t max_offset;
    ferrymq_msg **msgs;
    size_t n_msgs;
} ferrymq_pull_result;

/**
 * Pull up to max_msgs messages of q from offset. expr: tag expression ("*", "A || B") or an
 * SQL92 expression when expr_type is "SQL92" (NULL means "*", "TAG"). suspend_ms > 0 lets the
 * broker hold the request that long for a new message (long polling). FERRYMQ_OK with *res
 * filled (check res->status), FERRYMQ_EBROKER, FERRYMQ_ETIMEDOUT, FERRYMQ_EIO.
 */
FERRYMQ_API int ferrymq_consumer_pull(ferrymq_consumer *c, const ferrymq_queue *q, int64_t offset,
                                      const char *expr, const char *expr_type, int max_msgs,
                                      int suspend_ms, ferrymq_pull_result *res, char *errstr,
                                      size_t errstr_size);

/**
 * Completion of ferrymq_consumer_pull_async: err FERRYMQ_OK with res (borrowed for the call:
 * its messages are freed after it returns; copy what you keep), or an error with why (res
 * NULL). Runs on the consumer's I/O thread and must not block; it may start the next pull.
 */
typedef void (*ferrymq_pull_cb)(void *opaque, int err, const ferrymq_pull_result *res,
                                const char *why);

/**
 * ferrymq_consumer_pull without waiting (RocketMQ's pull with a PullCallback): cb runs once,
 * on the consumer's I/O thread, with the answer or an error (FERRYMQ_EBROKER,
 * FERRYMQ_ETIMEDOUT after sendMsgTimeout + suspend_ms, FERRYMQ_EIO, FERRYMQ_ECLOSED; also for
 * pulls still pending when the consumer closes). Started from a callback, a pull goes out at
 * once with no thread hand-off, to the broker address the last pull started from another
 * thread found for q's broker (FERRYMQ_EINVAL when there was none): start the first pull of
 * each broker, and those after a route change, from a thread of yours. Thread: any,
 * including the consumer's callbacks; several pulls may be pending at once.
 */
FERRYMQ_API int ferrymq_consumer_pull_async(ferrymq_consumer *c, const ferrymq_queue *q,
                                            int64_t offset, const char *expr, const char *expr_type,
                                            int max_msgs, int suspend_ms, ferrymq_pull_cb cb,
                                            void *opaque, char *errstr, size_t errstr_size);

/** Free the messages of a result (it may be reused). */
FERRYMQ_API void ferrymq_pull_result_clear(ferrymq_pull_result *res);

/** Commit the group's offset for q (the next message to consume). */
FERRYMQ_API int ferrymq_consumer_commit(ferrymq_consumer *c, const ferrymq_queue *q, int64_t offset,
                                        char *errstr, size_t errstr_size);

/** The group's committed offset for q; FERRYMQ_ENOTFOUND when the group has none. */
FERRYMQ_API int ferrymq_consumer_committed(ferrymq_consumer *c, const ferrymq_queue *q,
                                           int64_t *offset, char *errstr, size_t errstr_size);

/** Close and free; pulls still pending complete first (FERRYMQ_ECLOSED), on this thread. NULL
 * is a no-op. Thread: any but a callback of this consumer. */
FERRYMQ_API void ferrymq_consumer_close(ferrymq_consumer *c);

/* ---- push consumer ---- */

/*
 * A consumer in a group (clustering): the library pulls for you, spreads the topic's queues
 * over the group's online members as RocketMQ's AllocateMessageQueueAveragely does (so stock
 * RocketMQ clients in the same group get the same split), hands messages to a callback on its
 * own threads and commits offsets. Options (ferrymq_conf_set, docs/client-config.md):
 * consumerGroup, consumeFromWhere, consumeTimestamp, consumeThreadNums,
 * consumeMessageBatchMaxSize, pullBatchSize, pullThresholdForQueue, pullThresholdSizeForQueue,
 * brokerSuspendMaxTimeMillis, heartbeatBrokerInterval, persistConsumerOffsetInterval,
 * rebalanceInterval, maxReconsumeTimes, suspendCurrentQueueTimeMillis.
 *
 * Delivery is at least once. After a crash, the messages since the last commit
 * (persistConsumerOffsetInterval, 5 s by default) are delivered again; after a rebalance, a
 * queue's new owner starts at the old owner's last commit. Use ferrymq_dedup to drop those.
 * The consumer also subscribes to %RETRY%<group> (messages its callback asked to see again)
 * and delivers them with their original topic.
 */
typedef struct ferrymq_push_consumer ferrymq_push_consumer;

/* What a consume callback returns. */
#define FERRYMQ_CONSUME_SUCCESS 0
/* Concurrent mode: send the messages back to be delivered again after the next delay level
 * (RocketMQ's RECONSUME_LATER; after maxReconsumeTimes they go to %DLQ%<group>). Orderly mode:
 * deliver the same messages again after suspendCurrentQueueTimeMillis, holding the queue
 * (SUSPEND_CURRENT_QUEUE_A_MOMENT). */
#define FERRYMQ_CONSUME_LATER 1
/* Either mode: not consumed and not sent back - the batch stays where it is (no offset is
 * committed past it) and is offered to the callback again after a short delay; at close it is
 * dropped and comes again from the committed offset. For a consumer that must stop after an
 * exact number of messages (a ferrymq extension; RocketMQ has no such status). */
#define FERRYMQ_CONSUME_HOLD 2

#define FERRYMQ_CONSUME_CONCURRENTLY 0 /* any thread takes any batch; order not kept */
#define FERRYMQ_CONSUME_ORDERLY                                                                    \
    1 /* one batch of a queue at a time, in queue order, only                                      \
         while this client holds the queue's broker lock */

/**
 * Called with 1..consumeMessageBatchMaxSize messages of one queue, in offset order. The
 * messages are borrowed for the call. Runs on one of the consumer's threads; it may block
 * (that slows only this consumer) but must not close the consumer.
 */
typedef int (*ferrymq_consume_cb)(void *opaque, ferrymq_msg *const *msgs, size_t n);

/** Create a push consumer (conf copied). Free with ferrymq_push_consumer_close. Thread: any. */
FERRYMQ_API int ferrymq_push_consumer_new(const ferrymq_conf *conf, ferrymq_push_consumer **out,
                                          char *errstr, size_t errstr_size);

/**
 * Subscribe to topic with a tag expression (expr_type NULL or "TAG"; NULL expr means "*") or an
 * SQL92 one ("SQL92"), evaluated by the broker. At most 64 topics. Thread: before start.
 */
FERRYMQ_API int ferrymq_push_consumer_subscribe(ferrymq_push_consumer *pc, const char *topic,
                                                const char *expr, const char *expr_type,
                                                char *errstr, size_t errstr_size);

/**
 * Start: heartbeat, take this member's share of the queues, pull and call cb. mode is
 * FERRYMQ_CONSUME_CONCURRENTLY or FERRYMQ_CONSUME_ORDERLY. Returns once the threads run (queues
 * are taken in the background; a topic without a route yet is retried every
 * rebalanceInterval). Thread: once, from any thread.
 */
FERRYMQ_API int ferrymq_push_consumer_start(ferrymq_push_consumer *pc, int mode,
                                            ferrymq_consume_cb cb, void *opaque, char *errstr,
                                            size_t errstr_size);

/** The queues this member holds now, sorted by topic, broker, id; *queues malloc'ed: free() it.
 * Thread: any. */
FERRYMQ_API int ferrymq_push_consumer_assigned(ferrymq_push_consumer *pc, ferrymq_queue **queues,
                                               size_t *n);

/** This member's client id as the brokers see it (ip@instance); borrowed. Thread: any. */
FERRYMQ_API const char *ferrymq_push_consumer_client_id(const ferrymq_push_consumer *pc);

/**
 * Stop pulling, let running callbacks finish (queued batches are not delivered: they come
 * again from the committed offset), commit every queue's offset and wait for the brokers to
 * take it, release orderly locks, leave the group (UNREGISTER_CLIENT, so the others rebalance
 * at once), free. NULL is a no-op. Thread: any but a callback of this consumer (FERRYMQ_EBUSY).
 */
FERRYMQ_API int ferrymq_push_consumer_close(ferrymq_push_consumer *pc);

/* ---- admin ---- */

typedef struct ferrymq_admin ferrymq_admin;

FERRYMQ_API int ferrymq_admin_new(const ferrymq_conf *conf, ferrymq_admin **out, char *errstr,
                                  size_t errstr_size);
FERRYMQ_API void ferrymq_admin_free(ferrymq_admin *a);

/** Create (or update) topic with `queues` read and write queues on every master broker. */
FERRYMQ_API int ferrymq_admin_create_topic(ferrymq_admin *a, const char *topic, int queues,
                                           char *errstr, size_t errstr_size);

/** All topics known to the name server; free with ferrymq_strings_free. */
FERRYMQ_API int ferrymq_admin_topic_list(ferrymq_admin *a, char ***names, size_t *n, char *errstr,
                                         size_t errstr_size);
FERRYMQ_API void ferrymq_strings_free(char **names, size_t n);

/** A broker known to the name server. */
typedef struct ferrymq_broker_info {
    char cluster[128];
    char broker_name[128];
    int64_t broker_id; /* 0 = master */
    char addr[128];
} ferrymq_broker_info;

/** Brokers registered with the name server; *brokers is malloc'ed: free() it. */
FERRYMQ_API int ferrymq_admin_brokers(ferrymq_admin *a, ferrymq_broker_info **brokers, size_t *n,
                                      char *errstr, size_t errstr_size);

/** Min and max offset of a queue. */
FERRYMQ_API int ferrymq_admin_queue_offsets(ferrymq_admin *a, const ferrymq_queue *q, int64_t *min,
                                            int64_t *max, char *errstr, size_t errstr_size);

/**
 * First offset of q whose store time is >= ts_ms (epoch ms); max when none is. Brokers answer
 * SEARCH_OFFSET_BY_TIMESTAMP with the nearest message (RocketMQ's getOffsetInQueueByTime); this
 * call moves that answer to the first at or after with one-message reads (group
 * TOOLS_CONSUMER, nothing committed): usually one or two, more when many messages share the
 * millisecond.
 */
FERRYMQ_API int ferrymq_admin_search_offset(ferrymq_admin *a, const ferrymq_queue *q, int64_t ts_ms,
                                            int64_t *offset, char *errstr, size_t errstr_size);

/** Fetch one message by its offset id (32 or 56 hex). *out owned by the caller. */
FERRYMQ_API int ferrymq_admin_view_message(ferrymq_admin *a, const char *offset_msg_id,
                                           ferrymq_msg **out, char *errstr, size_t errstr_size);

/**
 * Messages of topic that have key among their KEYS (split on spaces), stored between begin_ms
 * and end_ms (epoch ms; brokers keep index times in seconds), at most max_num (1..64) from
 * each master broker of the topic's route: QUERY_MESSAGE as MQAdminImpl.queryMessage sends it
 * (the brokers' index, messageIndexEnable). Messages whose keys only share the hash are
 * dropped. On FERRYMQ_OK *msgs is a malloc'ed array of *n (>= 1) messages owned by the caller:
 * free with ferrymq_msgs_free. FERRYMQ_ENOTFOUND: no such message (or no route for topic);
 * FERRYMQ_EINVAL: bad arguments; FERRYMQ_EBROKER, FERRYMQ_ETIMEDOUT, FERRYMQ_EIO: every broker
 * failed. Thread: any; one thread at a time per admin.
 */
FERRYMQ_API int ferrymq_admin_query_message(ferrymq_admin *a, const char *topic, const char *key,
                                            int max_num, int64_t begin_ms, int64_t end_ms,
                                            ferrymq_msg ***msgs, size_t *n, char *errstr,
                                            size_t errstr_size);

/** Free an array of messages from ferrymq_admin_query_message. NULL is a no-op. */
FERRYMQ_API void ferrymq_msgs_free(ferrymq_msg **msgs, size_t n);

/**
 * The message of topic whose client id (UNIQ_KEY, what SendResult.getMsgId() and the
 * RocketMQ Dashboard show) is uniq_key: QUERY_MESSAGE with _UNIQUE_KEY_QUERY=true, as
 * MQAdminImpl.queryMessageByUniqKey; of several copies (a message sent twice) the first
 * stored. *out owned by the caller (ferrymq_msg_free). FERRYMQ_OK, FERRYMQ_ENOTFOUND,
 * FERRYMQ_EINVAL, transport errors as above. Thread: any; one thread at a time per admin.
 */
FERRYMQ_API int ferrymq_admin_query_uniq_key(ferrymq_admin *a, const char *topic,
                                             const char *uniq_key, ferrymq_msg **out, char *errstr,
                                             size_t errstr_size);

/**
 * One message by either id a RocketMQ user sees: the broker's offset message id (host, port
 * and commit log offset: VIEW_MESSAGE_BY_ID on that broker) or the client's UNIQ_KEY (looked
 * up in topic's index). Both are 32 hex characters (56 with IPv6); bytes 4-5 of an offset id
 * are the high half of a port and so zero, where a UNIQ_KEY has its producer's pid. As the
 * Java tools do (DefaultMQAdminExt.viewMessage), an id that may be an offset id is tried as
 * one first and then, when topic is given, as a UNIQ_KEY. topic may be NULL: then only an
 * offset id can be found, and a UNIQ_KEY is FERRYMQ_EINVAL (errstr says to give the topic).
 * *out owned by the caller. FERRYMQ_OK, FERRYMQ_ENOTFOUND, FERRYMQ_EINVAL (not an id),
 * transport errors. Thread: any; one thread at a time per admin.
 */
FERRYMQ_API int ferrymq_admin_message_by_id(ferrymq_admin *a, const char *topic, const char *msg_id,
                                            ferrymq_msg **out, char *errstr, size_t errstr_size);

/* ---- duplicate detection ---- */

/*
 * A bounded set of recently seen message ids, for consumers that must drop the duplicates a
 * failover, an offset reset, a rebalance or a retry can bring (RocketMQ delivers at least
 * once). Ids are ferrymq_msg_id: the producer's UNIQ_KEY, which survives replication, else the
 * broker's offset id.
 *
 * The window: an id is reported as a duplicate while it is remembered, that is while it is
 * among the last `capacity` ids checked AND (when window_ms > 0) was first seen less than
 * window_ms ago. Size capacity for the duplicates you expect: after a failover or a reset,
 * the messages consumed again are those since the last offset commit (5 s by default) or
 * since the reset time, per queue. Memory: about 160 bytes per id, allocated at creation.
 * Ids longer than 127 bytes are compared on length, a 64-bit hash and their first 127 bytes.
 * Thread: every call is safe from any thread (an internal mutex).
 */
typedef struct ferrymq_dedup ferrymq_dedup;

/** capacity 1..2^28 ids, window_ms >= 0 (0: no age limit). NULL on bad arguments or ENOMEM.
 * Free with ferrymq_dedup_free. */
FERRYMQ_API ferrymq_dedup *ferrymq_dedup_new(size_t capacity, int64_t window_ms);
FERRYMQ_API void ferrymq_dedup_free(ferrymq_dedup *d);

/** 1: msg's id was seen within the window (a duplicate: drop it); 0: new, now remembered;
 * -1: msg has no id. */
FERRYMQ_API int ferrymq_dedup_check(ferrymq_dedup *d, const ferrymq_msg *msg);

/** As ferrymq_dedup_check for an id. now_ms: a monotonic clock in ms (0: the library's own
 * CLOCK_MONOTONIC); one dedup must always be given the same clock. */
FERRYMQ_API int ferrymq_dedup_check_id(ferrymq_dedup *d, const char *id, int64_t now_ms);

/* ---- consumer groups ---- */

/** Consumer groups the masters know (with offsets or online), sorted, deduplicated; free with
 * ferrymq_strings_free. Thread: any; one thread at a time per admin. */
FERRYMQ_API int ferrymq_admin_group_list(ferrymq_admin *a, char ***names, size_t *n, char *errstr,
                                         size_t errstr_size);

/** Client ids of the group's members online now (GET_CONSUMER_LIST_BY_GROUP on every master),
 * sorted, deduplicated; none online is FERRYMQ_OK with *n 0. Free with ferrymq_strings_free.
 * Thread: any; one thread at a time per admin. */
FERRYMQ_API int ferrymq_admin_group_members(ferrymq_admin *a, const char *group, char ***client_ids,
                                            size_t *n, char *errstr, size_t errstr_size);

/** A group's position in one queue (GET_CONSUME_STATS). */
typedef struct ferrymq_queue_progress {
    ferrymq_queue queue;
    int64_t broker_offset;   /* the queue's max offset: where the next message goes */
    int64_t consumer_offset; /* the group's committed offset (0 when none); lag = the difference */
    int64_t last_timestamp;  /* store time of the last consumed message, epoch ms; 0 if none */
} ferrymq_queue_progress;

/**
 * The group's progress on topic (NULL: every topic it has offsets for) on every master, sorted
 * by topic, broker, queue. *rows is malloc'ed: free() it.
 */
FERRYMQ_API int ferrymq_admin_group_progress(ferrymq_admin *a, const char *group, const char *topic,
                                             ferrymq_queue_progress **rows, size_t *n, char *errstr,
                                             size_t errstr_size);

/**
 * Reset the group's offsets on topic to the first message stored at or after ts_ms (epoch ms;
 * 0 = each queue's start, -1 = its end) on every master, with consumers online
 * (INVOKE_BROKER_TO_RESET_OFFSET, forced). FERRYMQ_OK or an error; on error some brokers may
 * have been reset.
 */
FERRYMQ_API int ferrymq_admin_group_reset(ferrymq_admin *a, const char *group, const char *topic,
                                          int64_t ts_ms, char *errstr, size_t errstr_size);

#ifdef __cplusplus
}
#endif

#endif
