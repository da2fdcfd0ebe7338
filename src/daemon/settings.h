/*
 * settings.h - ferrymqd's settings: one table drives defaults, broker.conf files, --key=value
 * flags, --help and docs/configuration.md (style.md 3.7). Keys are spelled as RocketMQ's
 * broker.conf spells them where RocketMQ has the setting.
 *
 * Thread: main thread, before the loop starts.
 */
#ifndef FM_DAEMON_SETTINGS_H
#define FM_DAEMON_SETTINGS_H

#include "common/config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fm_daemon_settings {
    char role[FM_CONFIG_STR_MAX];
    char brokerClusterName[FM_CONFIG_STR_MAX];
    char brokerName[FM_CONFIG_STR_MAX];
    int64_t brokerId;
    char brokerIP1[FM_CONFIG_STR_MAX];
    char bindAddress[FM_CONFIG_STR_MAX];
    int64_t listenPort;
    char namesrvAddr[FM_CONFIG_STR_MAX];
    int64_t namesrvPort;
    char storePathRootDir[FM_CONFIG_STR_MAX];
    int64_t mappedFileSizeCommitLog;
    char flushDiskType[FM_CONFIG_STR_MAX];
    char messageDelayLevel[FM_CONFIG_STR_MAX];
    int64_t maxReconsumeTimes;
    int64_t flushIntervalCommitLog;
    int64_t fileReservedTime;
    int messageIndexEnable;
    int64_t maxHashSlotNum;
    int64_t maxIndexNum;
    int autoCreateTopicEnable;
    int vipChannelEnabled;
    int autoCreateSubscriptionGroup;
    int64_t defaultTopicQueueNums;
    int64_t maxMessageSize;
    int64_t maxFrameSize;
    int64_t maxConnOutputBytes;
    int enablePropertyFilter;
    int64_t registerNameServerPeriod;
    int64_t brokerExpiryMs;
    int64_t flushConsumerOffsetInterval;
    int64_t transactionTimeOut;
    int64_t transactionCheckInterval;
    int64_t transactionCheckMax;
    int64_t rebalanceLockMaxLiveTime;
    char readyFile[FM_CONFIG_STR_MAX];
    int64_t httpPort;
    char httpBindAddress[FM_CONFIG_STR_MAX];
    char httpAllowOrigins[FM_CONFIG_STR_MAX];
    char logFile[FM_CONFIG_STR_MAX];
    char region[FM_CONFIG_STR_MAX];
    char taskFile[FM_CONFIG_STR_MAX];
    int64_t replTopicRefreshInterval;
    int64_t replRebalanceInterval;
    int64_t replCheckpointInterval;
    char logLevel[FM_CONFIG_STR_MAX];
    char logDebug[FM_CONFIG_STR_MAX];
} fm_daemon_settings;

extern const fm_config_opt fm_daemon_opts[];
extern const size_t fm_daemon_n_opts;

#endif
