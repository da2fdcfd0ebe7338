/*
 * server.h - the name server role: answers RocketMQ name-server requests over remoting.
 *
 * Requests served: REGISTER_BROKER, UNREGISTER_BROKER, GET_ROUTEINFO_BY_TOPIC,
 * GET_BROKER_CLUSTER_INFO, GET_ALL_TOPIC_LIST_FROM_NAMESERVER; GET_KV_CONFIG answers
 * QUERY_NOT_FOUND (no KV store yet); anything else REQUEST_CODE_NOT_SUPPORTED with a remark.
 * Brokers silent for `expiry_ms` are dropped (checked every few seconds).
 *
 * Runs embedded in the broker's process (same loop) or alone with --role=namesrv.
 * Ownership: borrows the loop, which must outlive it. Thread: loop thread only.
 */
#ifndef FM_NAMESRV_SERVER_H
#define FM_NAMESRV_SERVER_H

#include "common/errors.h"
#include "net/net.h"

#include <stdint.h>

typedef struct fm_namesrv fm_namesrv;

typedef struct fm_namesrv_cfg {
    char bind_addr[256];
    int port;          /* 0 = any free port */
    int64_t expiry_ms; /* RocketMQ: 120000 */
    int64_t max_frame_size;
    char kv_dir[256]; /* where kvConfig.json lives; "" keeps the KV config in memory only */
    /* GET_NAMESRV_CONFIG / UPDATE_NAMESRV_CONFIG: the owner's settings as Properties text,
     * and a change to them (validated as a whole, persisted; FM_OK or an error naming the
     * key). NULL: both answered REQUEST_CODE_NOT_SUPPORTED. */
    int (*config_text)(void *ud, fm_buf *out);
    int (*config_update)(void *ud, const char *const *keys, const char *const *values, int n,
                         fm_errbuf *eb);
    void *config_ud;
} fm_namesrv_cfg;

/** Start listening. *out is owned by the caller (fm_namesrv_free). FM_OK, FM_EIO, FM_ENOMEM. */
int fm_namesrv_new(fm_net_loop *loop, const fm_namesrv_cfg *cfg, fm_namesrv **out, fm_errbuf *eb);

/** The bound port. */
int fm_namesrv_port(const fm_namesrv *ns);

/** Stop listening and free everything. NULL is a no-op. */
void fm_namesrv_free(fm_namesrv *ns);

#endif
