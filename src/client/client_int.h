/*
 * client_int.h - private to src/client: the structures behind include/ferrymq.h's handles.
 */
#ifndef FM_CLIENT_CLIENT_INT_H
#define FM_CLIENT_CLIENT_INT_H

#include "client/rpc.h"
#include "common/config.h"
#include "common/map.h"
#include "proto/msgid.h"

#include <cjson/cJSON.h>
#include <ferrymq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

typedef struct client_settings {
    char namesrvAddr[FM_CONFIG_STR_MAX];
    char producerGroup[FM_CONFIG_STR_MAX];
    char consumerGroup[FM_CONFIG_STR_MAX];
    int64_t sendMsgTimeout;
    int64_t retryTimesWhenSendFailed;
    int64_t compressMsgBodyOverHowmuch;
    int64_t maxMessageSize;
    char clientIP[FM_CONFIG_STR_MAX];
    char instanceName[FM_CONFIG_STR_MAX];
    int64_t pollNameServerInterval;
    int64_t maxInFlight;
    /* push consumer */
    char consumeFromWhere[FM_CONFIG_STR_MAX];
    char consumeTimestamp[FM_CONFIG_STR_MAX];
    int64_t consumeThreadNums;
    int64_t consumeMessageBatchMaxSize;
    int64_t pullBatchSize;
    int64_t pullThresholdForQueue;
    int64_t pullThresholdSizeForQueue;
    int64_t brokerSuspendMaxTimeMillis;
    int64_t heartbeatBrokerInterval;
    int64_t persistConsumerOffsetInterval;
    int64_t rebalanceInterval;
    int64_t maxReconsumeTimes;
    int64_t suspendCurrentQueueTimeMillis;
} client_settings;

struct ferrymq_conf {
    client_settings s;
    void (*log_cb)(void *opaque, int level, const char *line);
    void *log_opaque;
};

typedef struct msg_prop {
    char *name;
    char *value;
} msg_prop;

struct ferrymq_msg {
    char *topic;
    uint8_t *body;
    size_t body_len;
    msg_prop *props;
    size_t n_props, cap_props;
    /* received messages only */
    int queue_id;
    int64_t queue_offset;
    int64_t store_ts;
    int64_t born_ts;
    int reconsume_times;
    int64_t phys_offset; /* commit log offset: what CONSUMER_SEND_MSG_BACK names */
    char offset_id[FM_MSGID_MAX + 1];
    /* One allocation per message: the topic, the body and a received message's properties
     * (and their array) live here, behind the struct; what is set later is allocated apart,
     * and only that is freed on its own. inl_len counts the bytes from inl_props on. */
    size_t inl_len;
    msg_prop inl_props[];
};

/* Replace a message's topic (the retry topic's original). FM_OK or FM_ENOMEM. */
int fm_client_msg_set_topic(ferrymq_msg *msg, const char *topic);

/* A received message from a stored record (decompressing the body when flagged). FM_OK,
 * FM_EPROTO (record or properties malformed, body does not inflate), FM_ENOMEM. */
int fm_client_msg_from_record(const uint8_t *rec, size_t len, ferrymq_msg **out);

/* A topic's route, flattened to its writable queues. */
typedef struct route_queue {
    char broker_name[128];
    char addr[128];
    int qid;
    int writable; /* qid < writeQueueNums and the broker's perm allows writes */
    int readable; /* qid < readQueueNums and the broker's perm allows reads */
} route_queue;

/* An immutable snapshot of a topic's route, shared by the cache and its users (refcounted:
 * a send holds one for its whole life, including retries, without copying it). */
typedef struct client_route {
    atomic_int refs;
    int64_t fetched_ms;
    int n;
    int n_writable;  /* q[0..n_writable) are the writable queues, in route order */
    int via_default; /* routed through TBW102: the broker creates the topic on first send */
    route_queue q[];
} client_route;

/* Drop a reference to a route from fm_client_core_route; NULL is a no-op. Thread: any. */
void fm_client_route_release(client_route *r);

/* State shared by producers, consumers and admin handles: options, transport, routes. */
typedef struct client_core {
    ferrymq_conf conf;
    fm_client_rpc *rpc;
    int borrowed_rpc;   /* rpc belongs to another core (fm_client_core_init_shared) */
    pthread_mutex_t mu; /* routes */
    fm_map routes;      /* topic -> client_route* */
} client_core;

int fm_client_core_init(client_core *core, const ferrymq_conf *conf, fm_errbuf *eb);
/* As fm_client_core_init, on the transport (I/O thread) of `with`, which must outlive core:
 * completions of both cores' requests run on one thread, so one may start the other's
 * requests with no hand-off. */
int fm_client_core_init_shared(client_core *core, const ferrymq_conf *conf, client_core *with,
                               fm_errbuf *eb);

/* Allocate (zeroed) and initialise a handle of `size` bytes whose first member is its
 * client_core; *out owned by the caller, freed with fm_client_handle_free. */
int fm_client_handle_new(size_t size, const ferrymq_conf *conf, void **out, char *errstr,
                         size_t errstr_size);
void fm_client_handle_free(void *handle);
void fm_client_core_destroy(client_core *core);

/* Topic's route, from the cache unless older than pollNameServerInterval or refresh is set:
 * a shared snapshot the caller must not modify and gives back with fm_client_route_release.
 * With default_fallback, an unknown topic is routed through TBW102 (at most 4 queues per
 * broker) as the Java producer does. */
int fm_client_core_route(client_core *core, const char *topic, int refresh, int default_fallback,
                         client_route **out, fm_errbuf *eb);

/* A request's frame into *frame: code, flag (0 or FM_CMD_FLAG_ONEWAY), opaque, ext fields and
 * body, with our language and the binary (ROCKETMQ) header. FM_OK or the encode error. */
int fm_client_request_encode(fm_buf *frame, int code, int flag, int32_t opaque,
                             const fm_cmd_ext *ext, size_t n_ext, fm_slice body, fm_errbuf *eb);
/* As fm_client_request_encode, prefix and header only, announcing body_len body bytes that the
 * caller sends right after them (fm_client_rpc_call_tail). */
int fm_client_request_encode_header(fm_buf *frame, int code, int flag, int32_t opaque,
                                    const fm_cmd_ext *ext, size_t n_ext, size_t body_len,
                                    fm_errbuf *eb);
/* Synchronous request: encode (code, fields, body), send to addr, wait up to timeout_ms (0 =
 * sendMsgTimeout). The response borrows from resp_frame/arena, both caller-owned. Transport
 * errors only: check resp->code. */
int fm_client_core_call(client_core *core, const char *addr, int code, const fm_cmd_ext *ext,
                        size_t n_ext, fm_slice body, int timeout_ms, fm_buf *resp_frame,
                        fm_cmd_arena *arena, fm_cmd *resp, fm_errbuf *eb);

/* The master address serving q, and the queues of a topic (readable or writable). */
int fm_client_queue_addr(client_core *core, const ferrymq_queue *q, char *addr, size_t cap,
                         fm_errbuf *eb);
int fm_client_queues(client_core *core, const char *topic, int readable, ferrymq_queue **queues,
                     size_t *n, fm_errbuf *eb);

/* One queue-level request (topic, queueId, and extra_key=extra_val when extra_key is set) whose
 * reply carries the integer header field `field`. FM_OK, FM_ENOTFOUND (QUERY_NOT_FOUND),
 * FERRYMQ_EBROKER (another code than SUCCESS: eb has it), FM_EPROTO, transport errors. */
int fm_client_queue_i64(client_core *core, const ferrymq_queue *q, int code, const char *extra_key,
                        const char *extra_val, const char *field, int64_t *out, fm_errbuf *eb);

/* PULL_MESSAGE's header fields (the subscription always sent along, long polling when
 * suspend_ms > 0); h holds the strings ext points to, so it must outlive the request. */
#define FM_CLIENT_PULL_EXT 11
typedef struct fm_client_pull_hdr {
    char qid[24], off[24], maxs[24], flag[24], susp[24], ver[24]; /* fm_i64_to_str's */
    fm_cmd_ext ext[FM_CLIENT_PULL_EXT];
} fm_client_pull_hdr;

void fm_client_pull_hdr_init(fm_client_pull_hdr *h, const char *group, const ferrymq_queue *q,
                             int64_t offset, int max_msgs, int suspend_ms, const char *expr,
                             const char *expr_type, int64_t sub_version);

/* Append the records of a pull answer's body to res (messages owned by res). FM_OK, FM_EPROTO
 * (a malformed record), FM_ENOMEM; on error res keeps what was decoded before. */
int fm_client_pull_decode(fm_slice body, ferrymq_pull_result *res, fm_errbuf *eb);

/* Encode PULL_MESSAGE with h's fields and hand it to rpc for addr (fm_client_rpc_call: done
 * runs once, on the I/O thread). FM_OK, or the encode / queue error with eb set. */
int fm_client_pull_call(fm_client_rpc *rpc, const char *addr, const fm_client_pull_hdr *h,
                        int timeout_ms, fm_client_done_fn done, void *ud, fm_errbuf *eb);

/* RocketMQ's AllocateMessageQueueAveragely: of n_mq sorted queues, the member at `index` among
 * n_cid sorted client ids takes *count queues from *start (count 0: none). index < n_cid. */
void fm_client_allocate_averagely(size_t n_mq, size_t n_cid, size_t index, size_t *start,
                                  size_t *count);

/* Parse TopicRouteData JSON (standard, or fastjson's bare integer map keys) into the
 * flattened queue list. FM_OK (*out malloc'ed), FM_EPROTO, FM_ENOTFOUND (no master queue). */
int fm_client_route_parse(const uint8_t *body, size_t len, client_route **out, fm_errbuf *eb);

/* Route lookup (route.c). On FM_OK *out is malloc'ed; the caller frees it. */
int fm_client_route_fetch(fm_client_rpc *rpc, const char *namesrv_addrs, const char *topic,
                          int timeout_ms, client_route **out, fm_errbuf *eb);

/* For the transactional producer (txn.c, producer.c). Mark every send of p as a transaction's
 * half message: sysFlag TRANSACTION_PREPARED. Thread: before p's first send. */
void fm_client_producer_set_half(ferrymq_producer *p);
/* p's shared state (options, transport, routes); lives as long as p. */
client_core *fm_client_producer_core(ferrymq_producer *p);

/* Property string (name\x01value\x02...) of a message into out. */
int fm_client_msg_props_encode(const ferrymq_msg *msg, fm_buf *out);

/* The IPv4 for client ids: the configured clientIP, else the first non-loopback one. */
int fm_client_local_ip(const char *configured, uint8_t ip[4]);

/* The option table as Markdown (docs/client-config.md is generated from it). */
void fm_client_conf_markdown(FILE *out);

/* Client log line through the conf's callback, if any. */
void fm_client_log(const ferrymq_conf *conf, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void fm_client_errstr(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * The brokers of a parsed ClusterInfo (GET_BROKER_CLUSTER_INFO's body: brokerAddrTable ->
 * BrokerData {brokerAddrs: {id: addr}, brokerName, cluster}), one entry per address; ids
 * (map keys) that are not integers and addresses that are not strings are skipped. *brokers is
 * malloc'ed (free()), also when *n is 0. FM_OK, FM_ENOMEM. Thread: any.
 */
int fm_client_cluster_brokers(const cJSON *info, ferrymq_broker_info **brokers, size_t *n);

/**
 * Add a copy of name to the list (*names, *n used, *cap allocated) unless it is there already;
 * the list grows by doubling (the caller frees each name and the array). FM_OK, FM_ENOMEM
 * (list unchanged). Thread: the list's owner.
 */
int fm_client_names_add(char ***names, size_t *n, size_t *cap, const char *name);

/**
 * The group names of a parsed SubscriptionGroupWrapper (GET_ALL_SUBSCRIPTIONGROUP_CONFIG's
 * body: subscriptionGroupTable keyed by group name), added to the list as fm_client_names_add
 * does. A missing or non-object table adds nothing. FM_OK, FM_ENOMEM. Thread: the list's owner.
 */
int fm_client_groups_read(const cJSON *wrapper, char ***names, size_t *n, size_t *cap);

/**
 * The rows of a parsed ConsumeStats (GET_CONSUME_STATS's body: offsetTable, a
 * Map<MessageQueue,OffsetWrapper> whose keys fm_client_json_parse left as the MessageQueue's
 * text), appended to *rows (*n used, *cap allocated, grown by realloc; the caller frees it).
 * Entries whose key is not a queue with a topic and broker name are skipped; a missing table
 * adds nothing. FM_OK, FM_ENOMEM (rows appended so far kept). Thread: the array's owner.
 */
int fm_client_consume_stats_read(const cJSON *stats, ferrymq_queue_progress **rows, size_t *n,
                                 size_t *cap);

/**
 * Rewrite a body as RocketMQ's fastjson writes it (RemotingSerializable.encode) into standard
 * JSON. fastjson prints a map key that is not a String with the key's own serializer, so
 * Map<Long,String> comes out as {0:"a"} and Map<MessageQueue,Long> as {{"brokerName":..}:5};
 * such a key becomes a JSON string: "0", or the composite's text escaped
 * ("{\"brokerName\":..}", to be parsed again with fm_client_json_parse). Nothing else changes,
 * byte for byte.
 *
 * in/n: the body (not NUL-terminated). out: caller-owned; written only when *rewritten is set
 * on return (then it holds the whole rewritten body), else left as it was and in is already
 * standard JSON as far as keys go. Returns FM_OK, FM_EPROTO (an unterminated string or
 * composite key, unbalanced closing bracket, nesting over cJSON's 1000, a key position holding
 * something no fastjson key starts with), FM_ENOMEM. Does not check the rest is valid JSON:
 * the parser does. Linear in n; no allocation unless a key is rewritten, then out only (the
 * fault point "client.json.alloc" makes that allocation fail). Thread: any (no shared state).
 */
int fm_client_json_normalise(const uint8_t *in, size_t n, fm_buf *out, int *rewritten);

/**
 * Parse a JSON body from a name server or broker, standard or as fastjson writes it (see
 * fm_client_json_normalise), into *out. The whole body must be one JSON value (bytes up to 0x20,
 * blanks to cJSON, may follow it). Every body src/client reads goes through here.
 *
 * Returns FM_OK (*out owned by the caller, freed with cJSON_Delete), FM_EPROTO (empty, not
 * JSON even after the rewrite; *out NULL, eb says so without naming the peer), FM_ENOMEM.
 * Thread: any.
 */
int fm_client_json_parse(const uint8_t *body, size_t len, cJSON **out, fm_errbuf *eb);

/* GET_CONSUMER_LIST_BY_GROUP's answer: the member ids, sorted; *ids malloc'ed (free each and
 * the array). FM_OK, FM_ENOMEM. */
int fm_client_consumer_ids(const cJSON *ans, char ***ids, size_t *n);

/* LOCK_BATCH_MQ's answer: granted[i] = 1 when the i-th queue (at qs + i * stride, so an array
 * of structs that begin with a ferrymq_queue works too) is in lockOKMQSet, else 0. */
void fm_client_lock_granted(const cJSON *ans, const ferrymq_queue *qs, size_t n, size_t stride,
                            int *granted);

#endif
