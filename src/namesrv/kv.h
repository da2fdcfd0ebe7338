/*
 * kv.h - the name server's KV config (RocketMQ's KVConfigManager): values by namespace and
 * key, what PUT_KV_CONFIG / GET_KV_CONFIG / DELETE_KV_CONFIG / GET_KVLIST_BY_NAMESPACE serve
 * (mqadmin updateKvConfig, deleteKvConfig, updateOrderConf, updateTopic -o). Kept in a JSON
 * file in RocketMQ's layout ({"configTable":{ns:{key:value}}}), replaced atomically before a
 * change is answered; no file (path NULL) keeps it in memory only.
 *
 * Ownership: the store owns its table; fm_namesrv_kv_free releases it. Thread: one at a time.
 */
#ifndef FM_NAMESRV_KV_H
#define FM_NAMESRV_KV_H

#include "common/buf.h"
#include "common/errors.h"

typedef struct fm_namesrv_kv fm_namesrv_kv;

/** Load dir/name (absent: empty); dir NULL for memory only. FM_OK, FM_ECORRUPT, FM_ENOMEM. */
int fm_namesrv_kv_open(const char *dir, const char *name, fm_namesrv_kv **out, fm_errbuf *eb);
void fm_namesrv_kv_free(fm_namesrv_kv *kv);

/** Set and persist. FM_OK, FM_EINVAL (empty namespace or key), FM_EIO / FM_ENOMEM. */
int fm_namesrv_kv_put(fm_namesrv_kv *kv, const char *ns, const char *key, const char *value,
                      fm_errbuf *eb);

/** The value, borrowed until the next change, or NULL. */
const char *fm_namesrv_kv_get(const fm_namesrv_kv *kv, const char *ns, const char *key);

/** Remove and persist (nothing there: FM_OK). FM_OK, FM_EIO. */
int fm_namesrv_kv_delete(fm_namesrv_kv *kv, const char *ns, const char *key, fm_errbuf *eb);

/** Append {"table":{key:value,..}} of a namespace; FM_ENOTFOUND when it has none. */
int fm_namesrv_kv_list(const fm_namesrv_kv *kv, const char *ns, fm_buf *out);

#endif
