/*
 * broker.h - the RocketMQ broker role: remoting request handlers over the store.
 *
 * The broker listens on its remoting port, decodes each frame, dispatches by request code to a
 * handler (one file per request family: h_send.c, h_pull.c, h_offset.c, h_admin.c,
 * h_client.c), and answers in the serialization the request used. Pulls that find nothing are
 * suspended (long polling) and answered when a message arrives on their queue or when their
 * suspend timeout ends. In sync-flush mode, send replies are held until the loop's before-sleep
 * hook has made the iteration's appends durable with one fdatasync (group commit).
 *
 * The broker registers itself and its topics with the name server(s) in `namesrv_addr`
 * (`host:port[;host:port]`) every `register_period_ms` and whenever a topic changes.
 *
 * Ownership: the broker borrows the loop and the store; both must outlive fm_broker_free.
 * Thread: everything runs on the loop thread.
 */
#ifndef FM_BROKER_BROKER_H
#define FM_BROKER_BROKER_H

#include "common/errors.h"
#include "http/http.h"
#include "net/net.h"
#include "store/store.h"

#include <stdint.h>

typedef struct fm_broker_cfg {
    char cluster_name[256];
    char broker_name[256];
    int64_t broker_id;
    char advertise_ip[256]; /* brokerIP1: what routes and message ids carry */
    char bind_addr[256];
    int listen_port; /* 0 = any free port */
    int vip_channel; /* also listen on listen_port - 2, RocketMQ's "VIP channel" */
    char namesrv_addr[256];
    int auto_create_topic;
    int auto_create_subscription_group; /* autoCreateSubscriptionGroup */
    int default_queue_nums;
    int64_t max_msg_size;
    int64_t max_frame_size;
    int64_t max_conn_output;
    int enable_property_filter;
    char delay_levels[256]; /* messageDelayLevel: "1s 5s ... 2h" */
    int max_reconsume_times;
    int64_t register_period_ms;
    int64_t offset_flush_period_ms;
    int flush_sync;
    /* transactional messages (txn.c), RocketMQ's names */
    int64_t transaction_timeout_ms;        /* transactionTimeOut: a half is checked after this */
    int64_t transaction_check_interval_ms; /* transactionCheckInterval: between check rounds */
    int transaction_check_max;             /* transactionCheckMax: checks before discarding */
    int64_t lock_max_live_ms; /* rebalanceLockMaxLiveTime: an unrenewed queue lock's life */
} fm_broker_cfg;

typedef struct fm_broker fm_broker;

/** Fill cfg with RocketMQ's defaults (port 10911, auto-create on, 8 queues, ...). */
void fm_broker_cfg_defaults(fm_broker_cfg *cfg);

/**
 * Create the broker and start listening. On success *out is owned by the caller (free with
 * fm_broker_free). Returns FM_OK, FM_EIO (cannot listen: eb says why), FM_ENOMEM.
 */
int fm_broker_new(fm_net_loop *loop, fm_store *st, const fm_broker_cfg *cfg, fm_broker **out,
                  fm_errbuf *eb);

/** The bound remoting port. */
int fm_broker_port(const fm_broker *b);

/** The VIP channel's port (the remoting port - 2), 0 when it is off. */
int fm_broker_vip_port(const fm_broker *b);

/**
 * Set a callback run once, after the first successful registration with a name server (the
 * daemon writes its ready file there, so tests start only when routes resolve).
 */
void fm_broker_on_registered(fm_broker *b, void (*cb)(void *ud), void *ud);

/**
 * Stop serving: unregister from the name servers (best effort), answer suspended pulls,
 * close connections. The store is left open for the caller to close.
 */
void fm_broker_shutdown(fm_broker *b);

/**
 * The settings behind GET_BROKER_CONFIG and UPDATE_BROKER_CONFIG, which belong to whoever
 * configured the broker (the daemon's settings table). text: append every setting as a
 * `key=value` line. update: validate all n pairs, then apply them (calling
 * fm_broker_reconfigure for what changes at run time) and persist them; FM_OK, or an error
 * with eb saying which key and why, nothing changed. Without hooks both requests are
 * answered REQUEST_CODE_NOT_SUPPORTED.
 */
typedef struct fm_broker_config_hooks {
    int (*text)(void *ud, fm_buf *out);
    int (*update)(void *ud, const char *const *keys, const char *const *values, int n,
                  fm_errbuf *eb);
    void *ud;
} fm_broker_config_hooks;

void fm_broker_set_config_hooks(fm_broker *b, const fm_broker_config_hooks *h);

/**
 * Take the settings that change at run time from cfg (auto-creation, default queues, message
 * size, property filter, retries, periods, transaction checks, lock life); the others keep
 * their start values.
 */
void fm_broker_reconfigure(fm_broker *b, const fm_broker_cfg *cfg);

/**
 * The broker's HTTP surface (docs/http-api.md, docs/metrics.md): /healthz, /readyz, /metrics
 * and /api/v1/... . An fm_http_handler with ud = the broker; it must run on the broker's loop
 * thread (fm_http_opts.loop), since it reads the broker's state without locks.
 */
void fm_broker_http_handle(void *ud, const fm_http_req *req, fm_http_resp *resp);

/** Free the broker. NULL is a no-op. */
void fm_broker_free(fm_broker *b);

#endif
