#include "proto/codes.h"

#include <string.h>

int
fm_proto_topic_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 127) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int32_t
fm_proto_java_hash(fm_slice s)
{
    uint32_t h = 0;
    size_t i = 0;
    while (i < s.len) {
        uint32_t c = s.ptr[i], cp;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.len) {
            cp = 0xFFFD;
            n = 1;
        } else if (n == 1) {
            cp = c;
        } else {
            cp = c & (0x7Fu >> n);
            for (size_t k = 1; k < n; k++) {
                cp = cp << 6 | (s.ptr[i + k] & 0x3Fu);
            }
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
        i += n;
    }
    return (int32_t)h;
}

const char *
fm_proto_req_name(int code)
{
    switch (code) {
#define N(x)                                                                                       \
    case FM_REQ_##x:                                                                               \
        return #x;
        N(SEND_MESSAGE)
        N(PULL_MESSAGE)
        N(QUERY_MESSAGE)
        N(QUERY_BROKER_OFFSET)
        N(QUERY_CONSUMER_OFFSET)
        N(UPDATE_CONSUMER_OFFSET)
        N(UPDATE_AND_CREATE_TOPIC)
        N(GET_ALL_TOPIC_CONFIG)
        N(GET_TOPIC_CONFIG_LIST)
        N(GET_TOPIC_NAME_LIST)
        N(UPDATE_BROKER_CONFIG)
        N(GET_BROKER_CONFIG)
        N(GET_BROKER_RUNTIME_INFO)
        N(SEARCH_OFFSET_BY_TIMESTAMP)
        N(GET_MAX_OFFSET)
        N(GET_MIN_OFFSET)
        N(GET_EARLIEST_MSG_STORETIME)
        N(VIEW_MESSAGE_BY_ID)
        N(HEART_BEAT)
        N(UNREGISTER_CLIENT)
        N(CONSUMER_SEND_MSG_BACK)
        N(END_TRANSACTION)
        N(GET_CONSUMER_LIST_BY_GROUP)
        N(CHECK_TRANSACTION_STATE)
        N(NOTIFY_CONSUMER_IDS_CHANGED)
        N(LOCK_BATCH_MQ)
        N(UNLOCK_BATCH_MQ)
        N(GET_ALL_CONSUMER_OFFSET)
        N(GET_ALL_DELAY_OFFSET)
        N(CHECK_CLIENT_CONFIG)
        N(UPDATE_AND_CREATE_ACL_CONFIG)
        N(DELETE_ACL_CONFIG)
        N(GET_BROKER_CLUSTER_ACL_INFO)
        N(UPDATE_GLOBAL_WHITE_ADDRS_CONFIG)
        N(GET_BROKER_CLUSTER_ACL_CONFIG)
        N(PUT_KV_CONFIG)
        N(GET_KV_CONFIG)
        N(DELETE_KV_CONFIG)
        N(REGISTER_BROKER)
        N(UNREGISTER_BROKER)
        N(GET_ROUTEINFO_BY_TOPIC)
        N(GET_BROKER_CLUSTER_INFO)
        N(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        N(GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        N(GET_TOPIC_STATS_INFO)
        N(GET_CONSUMER_CONNECTION_LIST)
        N(GET_PRODUCER_CONNECTION_LIST)
        N(WIPE_WRITE_PERM_OF_BROKER)
        N(GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        N(DELETE_SUBSCRIPTIONGROUP)
        N(GET_CONSUME_STATS)
        N(DELETE_TOPIC_IN_BROKER)
        N(DELETE_TOPIC_IN_NAMESRV)
        N(GET_TOPICS_BY_CLUSTER)
        N(GET_KVLIST_BY_NAMESPACE)
        N(ADD_WRITE_PERM_OF_BROKER)
        N(GET_ALL_PRODUCER_INFO)
        N(CLEAN_EXPIRED_CONSUMEQUEUE)
        N(CLEAN_UNUSED_TOPIC)
        N(DELETE_EXPIRED_COMMITLOG)
        N(INVOKE_BROKER_TO_RESET_OFFSET)
        N(INVOKE_BROKER_TO_GET_CONSUMER_STATUS)
        N(RESET_CONSUMER_CLIENT_OFFSET)
        N(GET_CONSUMER_STATUS_FROM_CLIENT)
        N(QUERY_TOPIC_CONSUME_BY_WHO)
        N(GET_CONSUMER_RUNNING_INFO)
        N(CONSUME_MESSAGE_DIRECTLY)
        N(SEND_MESSAGE_V2)
        N(SEND_BATCH_MESSAGE)
        N(VIEW_BROKER_STATS_DATA)
        N(GET_BROKER_CONSUME_STATS)
        N(QUERY_CONSUME_QUEUE)
        N(GET_SYSTEM_TOPIC_LIST_FROM_BROKER)
        N(UPDATE_NAMESRV_CONFIG)
        N(GET_NAMESRV_CONFIG)
        N(SEND_REPLY_MESSAGE)
        N(SEND_REPLY_MESSAGE_V2)
        N(PUSH_REPLY_MESSAGE_TO_CLIENT)
#undef N
    default:
        return "UNKNOWN";
    }
}
