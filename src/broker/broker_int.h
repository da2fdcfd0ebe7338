/*
 * broker_int.h - private to src/broker: the broker's state shared by its handler files.
 * Thread: loop thread only.
 */
#ifndef FM_BROKER_BROKER_INT_H
#define FM_BROKER_BROKER_INT_H

#include "broker/broker.h"
#include "common/buf.h"
#include "common/map.h"
#include "filter/filter.h"
#include "proto/frame.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define FM_BROKER_MAX_DELAY 64
#define FM_BROKER_SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"
/* Transactional messages, RocketMQ's system topics (TopicValidator). */
#define FM_BROKER_TXN_HALF_TOPIC "RMQ_SYS_TRANS_HALF_TOPIC"
#define FM_BROKER_TXN_OP_TOPIC "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define FM_BROKER_TXN_MAX_TOPIC "TRANS_CHECK_MAX_TIME_TOPIC"

/* A reply waiting for the group commit (sync flush) before it may be sent. */
typedef struct held_reply {
    fm_net_conn *conn; /* ref held */
    fm_buf frame;      /* the encoded success response */
    fm_buf err_frame;  /* sent instead when the flush fails */
} held_reply;

/* A PULL_MESSAGE that found nothing and waits for a message or its timeout. */
typedef struct suspended_pull {
    int used;
    fm_net_conn *conn; /* ref held */
    int32_t opaque;
    int serialize;
    int version;
    int language;
    char group[256];
    char topic[256];
    int qid;
    int64_t offset;    /* as requested: the answer at the deadline reads from here */
    int64_t look_from; /* a wake-up reads from here: past what its filter already passed over */
    int max_msgs;
    fm_filter *filter; /* one reference */
    int64_t deadline_ms;
    int dirty; /* its queue got a message this iteration */
} suspended_pull;

/* A client (producer or consumer) seen by HEART_BEAT. */
typedef struct client_entry {
    char client_id[256];
    char group[256];
    int is_consumer;
    int language, version; /* of its HEART_BEAT (LanguageCode, MQVersion ordinal) */
    /* a consumer's, from its consumerData: RocketMQ's enum names */
    char consume_type[24], message_model[16], consume_from_where[48];
    fm_net_conn *conn; /* borrowed: removed when the conn closes */
    uint64_t conn_id;
    int64_t last_seen_ms;
} client_entry;

/* Statistics (stats.c): RocketMQ's BrokerStatsManager items and StoreStatsService TPS. */
enum {
    FM_STATS_TOPIC_PUT,  /* key topic: TOPIC_PUT_NUMS, TOPIC_PUT_SIZE */
    FM_STATS_GROUP_GET,  /* key topic@group: GROUP_GET_NUMS, GROUP_GET_SIZE */
    FM_STATS_SNDBCK_PUT, /* key topic@group: SNDBCK_PUT_NUMS */
    FM_STATS_BROKER_PUT, /* key cluster: BROKER_PUT_NUMS */
    FM_STATS_BROKER_GET, /* key cluster: BROKER_GET_NUMS */
    FM_STATS_N
};
enum { FM_STATS_TPS_PUT, FM_STATS_TPS_FOUND, FM_STATS_TPS_MISS, FM_STATS_TPS_TRANSFERRED };
#define FM_STATS_SECONDS 601

/* A window's figure, as BrokerStatsItem: sum over it, per second, per event. */
typedef struct fm_stats_figure {
    int64_t sum;
    double tps, avgpt;
} fm_stats_figure;

typedef struct fm_store_sample {
    int64_t ts, put, get_found, get_miss, get_transferred;
} fm_store_sample;

typedef struct fm_broker_stats {
    fm_map items[FM_STATS_N]; /* key -> stats_item* (owned) */
    void *last[FM_STATS_N];   /* the item of the last event of each family, and its key */
    char last_key[FM_STATS_N][520];
    size_t last_len[FM_STATS_N];
    int64_t next_second_ms, next_minute_ms, next_hour_ms, next_day_ms, day;
    int64_t put, put_bytes, get_found, get_miss, get_transferred; /* since start */
    int64_t put_today_morning, put_yesterday_morning, get_today_morning, get_yesterday_morning;
    fm_store_sample samples[FM_STATS_SECONDS]; /* one a second, oldest first */
    int n_samples;
} fm_broker_stats;

/* A tool's request forwarded to a consumer client, waiting for its answer (h_relay.c). */
typedef struct relay {
    fm_net_conn *client, *tool; /* refs held */
    int32_t client_opaque, tool_opaque;
    int tool_serialize, code;
    int64_t deadline_ms;
    /* a reply pushed to its requester (SEND_REPLY_MESSAGE): the stored reply's send result */
    int is_reply, queue_id;
    int64_t queue_offset;
    char msgid[40], client_id[256];
} relay;

/* Per-connection state, set as the conn's user data. */
typedef struct broker_conn {
    fm_broker *b;
    uint64_t id;
} broker_conn;

struct fm_broker {
    fm_broker_cfg cfg;
    fm_net_loop *loop;
    fm_store *st;
    fm_net_listener *lis;
    fm_net_listener *vip_lis; /* listen port - 2, NULL when vip_channel is off */
    int port;
    uint8_t store_host[8]; /* advertised IPv4 + port, big-endian: goes into records */
    char addr[300];        /* "ip:port" as registered */

    fm_cmd_arena arena;    /* reused by every request decode */
    fm_buf out;            /* response encoding scratch */
    fm_buf rec;            /* record encoding scratch (send) */
    fm_slice *batch_props; /* a batch's properties picked by the validation pass (h_send.c) */
    size_t cap_batch_props;
    fm_buf body; /* response body scratch (pull, json) */

    held_reply *held;
    int n_held, cap_held;

    suspended_pull *pulls;
    int n_pulls, cap_pulls;
    int any_dirty;

    client_entry *clients;
    int n_clients, cap_clients;

    fm_map subs; /* "group\0topic" -> subscription (subs.c) */

    fm_map resets; /* "group\0topic\0qid" -> int64_t*: offsets reset, not yet pulled */
    fm_map locks;  /* "group\0topic\0broker\0qid" -> queue lock of an orderly consumer */

    int64_t delay_ms[FM_BROKER_MAX_DELAY]; /* messageDelayLevel, level 1 first */
    int n_delay;
    fm_buf sched_props;   /* property scratch for schedule and send-back */
    fm_buf cluster_props; /* a sent message's properties with CLUSTER (h_send.c) */

    /* transactions (txn.c): the unresolved half messages, by half queue offset and UNIQ_KEY */
    fm_map txn_by_off; /* int64 half queue offset -> txn_half* (owned) */
    fm_map txn_by_key; /* UNIQ_KEY -> the same txn_half* (borrowed) */
    int64_t txn_next_scan_ms;
    uint32_t txn_round; /* check round in progress; a half checked in it carries this number */
    fm_buf txn_rec;     /* record scratch: the half read back, the record written */
    fm_buf txn_out;
    fm_buf txn_props;

    /* name server registration */
    struct ns_link {
        char host[128];
        int port;
        fm_net_conn *conn; /* NULL while disconnected */
        int64_t retry_at_ms;
    } ns[4];
    int n_ns;
    int registered_once;
    int register_pending;
    void (*on_registered)(void *ud);
    void *on_registered_ud;
    int64_t topics_version;
    int32_t next_opaque;
    fm_net_timer *tick_timer;
    int64_t next_register_ms;
    int64_t next_offset_flush_ms;
    int64_t next_retention_ms;
    int shutting_down;

    fm_broker_config_hooks config_hooks; /* GET/UPDATE_BROKER_CONFIG (h_config.c) */
    int64_t config_counter, config_ts;   /* their dataVersion */

    fm_broker_stats stats; /* stats.c */
    relay *relays;         /* h_relay.c */
    int n_relays, cap_relays;

    int64_t start_ms;
    int64_t n_conns, conns_accepted; /* remoting connections open now, and since start */
};

/* Reply helpers (broker.c). All encode in the request's serialization. */
void fm_broker_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int code,
                     const char *remark, const fm_cmd_ext *ext, size_t n_ext, fm_slice body);
void fm_broker_reply_err(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int code,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* SUCCESS with root printed as the body; takes root (freed here, also when NULL: then and when
 * printing fails, SYSTEM_ERROR "out of memory"). */
void fm_broker_reply_json(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, cJSON *root);
/* Encode a reply into `out` without sending (used for held replies). */
int fm_broker_encode_reply(fm_broker *b, fm_buf *out, const fm_cmd *req, int code,
                           const char *remark, const fm_cmd_ext *ext, size_t n_ext, fm_slice body);

/* Reply SUCCESS now (async flush) or after the group commit made the iteration's appends
 * durable (sync flush), so nothing acknowledged can be lost. */
void fm_broker_reply_durable(fm_broker *b, fm_net_conn *conn, const fm_cmd *req,
                             const fm_cmd_ext *ext, size_t n_ext);

/* Header field helpers: copy a string ext field (FM_ENOTFOUND if absent, FM_ETOOBIG). */
int fm_broker_ext_str(const fm_cmd *req, const char *key, char *dst, size_t cap);
/* Required string/int ext field, answering the request with an error when it is missing. */
int fm_broker_need_str(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *key,
                       char *dst, size_t cap);
int fm_broker_need_i64(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, const char *key,
                       int64_t *out);

/* Topic helpers (h_admin.c). Validate a topic name as RocketMQ does. */
int fm_broker_topic_name_ok(const char *name);
/* Create a topic with `queues` queues if it does not exist; marks routes for re-registration. */
int fm_broker_topic_ensure(fm_broker *b, const char *topic, int queues, int perm,
                           fm_store_topic *out, fm_errbuf *eb);
void fm_broker_topics_changed(fm_broker *b);
void fm_broker_h_delete_topic(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* TopicValidator's fixed system topics (h_admin.c); the cluster, broker and reply topics are
 * this broker's own besides. */
#define FM_BROKER_N_SYSTEM_TOPICS 9
extern const char *const fm_broker_system_topics[FM_BROKER_N_SYSTEM_TOPICS];
void fm_broker_h_all_producers(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_store_maintenance(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* Handlers. */
void fm_broker_h_send(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_send_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_pull(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_query_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_update_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_min_max_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req, int max);
void fm_broker_h_search_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_earliest_time(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_view_by_id(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_query_message(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_create_topic(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_all_topic_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_runtime_info(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_heartbeat(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_unregister_client(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_consumer_list(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* Long polling (h_pull.c). */
void fm_broker_pulls_mark(fm_broker *b, const char *topic, int qid);
void fm_broker_pulls_service(fm_broker *b, int64_t now_ms, int all_expired);
void fm_broker_pulls_drop_conn(fm_broker *b, fm_net_conn *conn);
/* Answer the group's parked pulls on topic/qid PULL_OFFSET_MOVED to `to` (a reset); 1 when
 * one was answered. */
int fm_broker_pulls_reset(fm_broker *b, const char *group, const char *topic, int qid, int64_t to);

/* Clients (h_client.c). */
void fm_broker_clients_drop_conn(fm_broker *b, fm_net_conn *conn);
void fm_broker_clients_expire(fm_broker *b, int64_t now_ms);

/* Subscriptions (subs.c). */
/* A pull's own subscription (sysFlag bit 0x4): the cached filter when type and expression are
 * unchanged, else a new compile that replaces it. *out gets a reference. FM_OK, or an error
 * with eb saying why (syntax errors name the line and column). */
int fm_broker_sub_from_pull(fm_broker *b, const char *group, const char *topic,
                            const char *type_name, fm_slice expr, int64_t version, fm_filter **out,
                            fm_errbuf *eb);
/* A subscription from HEART_BEAT: compiled and kept, or kept with its error. */
void fm_broker_sub_register(fm_broker *b, const char *group, const char *topic,
                            const char *type_name, const char *expr, int64_t version);
/* The registered filter for a pull without its own subscription: FM_RESP_SUCCESS with *out
 * referenced, or a RocketMQ response code with remark filled. */
int fm_broker_sub_get(fm_broker *b, const char *group, const char *topic, int64_t version,
                      fm_filter **out, char *remark, size_t cap);
void fm_broker_subs_expire(fm_broker *b, int64_t now_ms);
/* Call cb for each topic group subscribes to: the heartbeat's subscription, else the last
 * pull's. type is "TAG" or "SQL92". */
void fm_broker_subs_foreach(fm_broker *b, const char *group,
                            void (*cb)(const char *topic, const char *type, const char *expr,
                                       int64_t version, void *ud),
                            void *ud);
void fm_broker_subs_free(fm_broker *b);

/* Groups (h_group.c). */
/* Tell the group's online consumers its membership changed (NOTIFY_CONSUMER_IDS_CHANGED). */
void fm_broker_notify_ids_changed(fm_broker *b, const char *group);
/* 1 when group/topic/qid has a reset not yet seen by a pull, with the offset; erase removes
 * it. */
int fm_broker_reset_take(fm_broker *b, const char *group, const char *topic, int qid, int erase,
                         int64_t *offset);
void fm_broker_resets_free(fm_broker *b);
void fm_broker_h_reset_offset(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* One queue of a reset: its committed offset before (-1 none) and the one set. */
typedef struct fm_broker_reset_row {
    int qid;
    int64_t old_offset, new_offset;
} fm_broker_reset_row;
/* Where a reset puts queue qid of topic, for a reset to time ts. */
typedef int64_t (*fm_broker_reset_target_fn)(fm_broker *b, const char *topic, int qid, int64_t ts,
                                             void *ud);
/* Reset group's offsets on topic to the first message stored at or after ts (-1: the end),
 * or where target_fn (non-NULL) says, as INVOKE_BROKER_TO_RESET_OFFSET: only forward moves
 * need force; only_qid >= 0 limits it to that queue (with only_offset >= 0: to that offset).
 * Unless dry_run, commits, persists once and tells the group's online consumers once
 * (RESET_CONSUMER_CLIENT_OFFSET). *rows (caller frees) gets one row per queue. FM_OK,
 * FM_ENOTFOUND (no such topic), FM_ENOMEM. */
int fm_broker_reset_group(fm_broker *b, const char *group, const char *topic, int64_t ts, int force,
                          int64_t only_qid, int64_t only_offset,
                          fm_broker_reset_target_fn target_fn, void *target_ud, int dry_run,
                          fm_broker_reset_row **rows, int *n);
/* TopicValidator.isSystemTopic of RocketMQ 4.9, with this broker's cluster and name
 * (h_admin.c). */
int fm_broker_topic_is_system(const fm_broker *b, const char *topic);
/* fastjson's form of a MessageQueue map key ({"brokerName":..,"queueId":..,"topic":..}),
 * appended to out (h_group.c). FM_OK or FM_ENOMEM. */
int fm_broker_append_mq_key(fm_buf *out, const char *broker, const char *topic, int qid);
/* Store time of the message at queue offset off of topic/qid, or 0 (h_group.c). */
int64_t fm_broker_store_time_at(fm_broker *b, const char *topic, int qid, int64_t off);

/* Connections and topic figures for mqadmin (h_conn.c). */
void fm_broker_h_topic_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_consumer_connections(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_producer_connections(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_query_consume_queue(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_system_topics(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* Statistics (stats.c). */
/* msgs stored in topic (bytes of them): its TOPIC_PUT_* and the broker's BROKER_PUT_NUMS. */
void fm_broker_stats_put(fm_broker *b, const char *topic, int64_t msgs, int64_t bytes);
/* A pull of topic by group that returned msgs (0: found nothing). */
void fm_broker_stats_get(fm_broker *b, const char *topic, const char *group, int64_t msgs,
                         int64_t bytes);
/* Add to family's item named key (kl bytes): nums to its first counter, size to its second. */
void fm_broker_stats_add(fm_broker_stats *s, int family, const char *key, size_t kl, int64_t nums,
                         int64_t size);
/* Sampling, from the broker's tick. */
void fm_broker_stats_tick(fm_broker *b, int64_t wall_ms);
/* VIEW_BROKER_STATS_DATA: minute, hour and day figures of RocketMQ stats item name/key.
 * FM_OK or FM_ENOTFOUND (unknown name, or no event for key yet). */
int fm_broker_stats_lookup(fm_broker *b, const char *name, const char *key, fm_stats_figure out[3]);
/* GROUP_GET_NUMS' minute tps of topic@group (0 without one): ConsumeStats.consumeTps. */
double fm_broker_stats_group_tps(fm_broker *b, const char *topic, const char *group);
/* Broker-wide TPS of what (FM_STATS_TPS_*) over the last 10, 60 and 600 s. */
void fm_broker_stats_tps(fm_broker *b, int what, double out[3]);
void fm_broker_stats_free(fm_broker *b);
/* Every item of a family with its totals since start (NUMS, SIZE; key not NUL-terminated). */
void fm_broker_stats_foreach(fm_broker *b, int family,
                             void (*cb)(const char *key, size_t kl, int64_t nums, int64_t size,
                                        void *ud),
                             void *ud);
void fm_broker_h_view_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_broker_consume_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_consume_by_who(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* A reply message stored, to push to its requester (h_send.c -> h_relay.c). */
typedef struct fm_broker_reply_push {
    char client_id[256]; /* REPLY_TO_CLIENT */
    const char *group, *topic, *default_topic, *born_host, *msgid;
    int64_t default_queue_nums, sysflag, born_ts, flag, reconsume_times, store_ts, queue_offset;
    int queue_id;
    fm_slice props, body;
} fm_broker_reply_push;
void fm_broker_h_send_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* PUSH_REPLY_MESSAGE_TO_CLIENT to the producer connection of p->client_id; the replier (conn,
 * req) is answered when the requester has (or at once when it is not online). */
void fm_broker_push_reply(fm_broker *b, fm_net_conn *conn, const fm_cmd *req,
                          const fm_broker_reply_push *p);

/* Requests relayed to consumer clients (h_relay.c). */
void fm_broker_h_consumer_running_info(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_consume_directly(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* A response frame from a client: relayed to the tool waiting for it (1), or not ours (0). */
int fm_broker_relay_answer(fm_broker *b, fm_net_conn *conn, const fm_cmd *resp);
void fm_broker_relays_tick(fm_broker *b, int64_t now_ms);
void fm_broker_relays_drop_conn(fm_broker *b, fm_net_conn *conn);
void fm_broker_relays_free(fm_broker *b);

/* Broker settings (h_config.c). */
void fm_broker_h_get_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_update_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* Subscription group configs (h_subgroup.c). */
/* The group's config into *out, created with RocketMQ's defaults (and persisted) when missing
 * and autoCreateSubscriptionGroup is on or the group is a CID_RMQ_SYS_* one. FM_OK, or
 * FM_ENOTFOUND. */
int fm_broker_group_find(fm_broker *b, const char *group, fm_store_group *out);
void fm_broker_h_check_client_config(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_update_group(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_all_groups(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_delete_group(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_consume_stats(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* Queue locks for orderly consumers: held by one client id, refreshed by locking again,
 * free after 60 s without a refresh (RocketMQ's RebalanceLockManager). */
void fm_broker_h_lock_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_h_unlock_batch(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
void fm_broker_locks_expire(fm_broker *b, int64_t now_ms);
void fm_broker_locks_free(fm_broker *b);

/* Delay levels and retries (schedule.c, h_retry.c). */
/* Parse "1s 5s 1m 2h ..." into ms per level (level 1 first). */
int fm_broker_delay_levels_parse(const char *spec, int64_t *ms, int max, int *n, fm_errbuf *eb);
/* Parse the levels from the config and create SCHEDULE_TOPIC_XXXX with a queue per level. */
int fm_broker_schedule_ensure(fm_broker *b, fm_errbuf *eb);
/* The DELAY property as a level clamped to the configured ones (0: none). FM_EINVAL when it is
 * not a number. */
int fm_broker_delay_level_of(fm_broker *b, fm_slice props, int *level);
/* The same for a DELAY value already found (ptr NULL: the message has none). */
int fm_broker_delay_level_value(fm_broker *b, fm_slice d, int *level);
/* props plus REAL_TOPIC/REAL_QID into out: the properties of a message parked in the
 * schedule topic. */
int fm_broker_schedule_redirect(fm_buf *out, fm_slice props, const char *topic, int qid);
/* Copy props into out, dropping names[i] and appending names[i]=values[i] when non-NULL. */
int fm_broker_props_edit(fm_buf *out, fm_slice in, const char *const *names,
                         const char *const *values, int n);
/* Move due delayed messages to their real topics. */
void fm_broker_schedule_tick(fm_broker *b, int64_t now_wall_ms);
void fm_broker_h_send_back(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);

/* A request from the broker to one client connection (h_group.c), as RocketMQ's broker
 * sends them (JSON header, our version, the next opaque): FM_OK with *opaque set (may be NULL),
 * or the encode / write error, leaving the connection to the caller. */
int fm_broker_send_request(fm_broker *b, fm_net_conn *conn, int code, int flag,
                           const fm_cmd_ext *ext, size_t n_ext, fm_slice body, int32_t *opaque);
/* A oneway request to one client connection; closes it when the write fails. */
void fm_broker_send_oneway(fm_broker *b, fm_net_conn *conn, int code, const fm_cmd_ext *ext,
                           size_t n_ext, fm_slice body);

/* Transactional messages (txn.c), as RocketMQ's TransactionalMessageService. */
/* Create the transaction topics and rebuild the unresolved halves from the half and op queues
 * (after a restart they are checked again). FM_OK or a store error. */
int fm_broker_txn_open(fm_broker *b, fm_errbuf *eb);
void fm_broker_txn_free(fm_broker *b);
/* 1 when a send is a transaction's half message: TRAN_MSG is "true" (Java's parseBoolean). */
int fm_broker_txn_is_half(fm_slice props);
/* The same for a TRAN_MSG value already found (ptr NULL: none). */
int fm_broker_txn_half_value(fm_slice v);
/* Track a half just stored (rec: its record as appended). FM_OK, FM_ENOMEM. */
int fm_broker_txn_track(fm_broker *b, const uint8_t *rec, size_t len);
void fm_broker_h_end_transaction(fm_broker *b, fm_net_conn *conn, const fm_cmd *req);
/* Check-back: halves older than transactionTimeOut, every transactionCheckInterval, bounded
 * work per call. */
void fm_broker_txn_tick(fm_broker *b, int64_t now_wall_ms);
/* The half queue offsets an op message's body names: one decimal (RocketMQ 4.x) or several
 * separated by commas (5.x). FM_OK with *n set (at most max), FM_EPROTO otherwise. */
int fm_broker_txn_op_parse(fm_slice body, int64_t *offs, int max, int *n);

/* Name server registration (register.c). */
void fm_broker_register_tick(fm_broker *b, int64_t now_ms);
void fm_broker_register_now(fm_broker *b);
void fm_broker_unregister_all(fm_broker *b);

#endif
