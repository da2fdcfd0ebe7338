/*
 * props.h - RocketMQ message property strings: name 0x01 value 0x02, repeated
 * (MessageDecoder.messageProperties2String in apache/rocketmq). Well-known names from
 * MessageConst.java.
 * Thread: no shared state.
 */
#ifndef FM_PROTO_PROPS_H
#define FM_PROTO_PROPS_H

#include "common/buf.h"
#include "common/errors.h"

#define FM_PROPS_NAME_SEP 0x01
#define FM_PROPS_PAIR_SEP 0x02

#define FM_PROP_KEYS "KEYS"
#define FM_PROP_TAGS "TAGS"
#define FM_PROP_WAIT "WAIT"
#define FM_PROP_DELAY "DELAY"
#define FM_PROP_RETRY_TOPIC "RETRY_TOPIC"
#define FM_PROP_REAL_TOPIC "REAL_TOPIC"
#define FM_PROP_REAL_QUEUE_ID "REAL_QID"
#define FM_PROP_TRANSACTION_PREPARED "TRAN_MSG"
#define FM_PROP_PRODUCER_GROUP "PGROUP"
#define FM_PROP_MIN_OFFSET "MIN_OFFSET"
#define FM_PROP_MAX_OFFSET "MAX_OFFSET"
#define FM_PROP_UNIQ_KEY "UNIQ_KEY"
#define FM_PROP_MAX_RECONSUME_TIMES "MAX_RECONSUME_TIMES"
#define FM_PROP_CONSUME_START_TIMESTAMP "CONSUME_START_TIME"
#define FM_PROP_CLUSTER "CLUSTER"
#define FM_PROP_ORIGIN_MESSAGE_ID "ORIGIN_MESSAGE_ID"
#define FM_PROP_SHARDING_KEY "__SHARDINGKEY"

/** Iterator over a property string; zero-initialise with fm_props_iter_init. */
typedef struct fm_props_iter {
    fm_slice rest;
} fm_props_iter;

static inline void
fm_props_iter_init(fm_props_iter *it, fm_slice props)
{
    it->rest = props;
}

/**
 * Next name/value pair (slices borrow from the property string). Returns FM_OK, FM_ENOTFOUND
 * at the end, FM_EPROTO for a pair without a name separator. A missing final 0x02 is accepted,
 * as RocketMQ's own parser accepts it.
 */
int fm_props_next(fm_props_iter *it, fm_slice *name, fm_slice *value);

/** Value of the first property with this name; ptr NULL when absent or malformed. */
fm_slice fm_props_get(fm_slice props, const char *name);

/**
 * One pass for several names: out[i] is the value of the first property named names[i] (ptr
 * NULL when absent). FM_OK when the whole string parses, FM_EPROTO when it does not (out then
 * holds what came before the malformed pair, as fm_props_get would find it). For the paths
 * that need several properties of every stored message: one walk instead of one per name.
 */
int fm_props_pick(fm_slice props, const fm_slice *names, size_t n, fm_slice *out);

/**
 * Append one pair to a property string being built. FM_OK, FM_ENOMEM, FM_EINVAL when name or
 * value contain a separator byte (it would corrupt the string).
 */
int fm_props_append(fm_buf *props, fm_slice name, fm_slice value);

/** True when the property string parses completely. */
int fm_props_valid(fm_slice props);

#endif
