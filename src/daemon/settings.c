#include "daemon/settings.h"

#define S(f) offsetof(fm_daemon_settings, f)
#define MAXI INT64_MAX

const fm_config_opt fm_daemon_opts[] = {
    {"role", FM_CONFIG_STR, S(role), "broker", 0, 0,
     "broker (with an embedded name server unless namesrvAddr is set), namesrv, or replicator "
     "(replication tasks between clusters, managed over HTTP: docs/replication.md)"},
    {"brokerClusterName", FM_CONFIG_STR, S(brokerClusterName), "DefaultCluster", 0, 0,
     "cluster this broker registers under"},
    {"brokerName", FM_CONFIG_STR, S(brokerName), "broker-a", 0, 0, "broker name in routes"},
    {"brokerId", FM_CONFIG_INT, S(brokerId), "0", 0, 1024, "0 = master"},
    {"brokerIP1", FM_CONFIG_STR, S(brokerIP1), "", 0, 0,
     "address advertised to clients; empty = bindAddress when that is one IPv4 address, else the "
     "first non-loopback IPv4 of this host"},
    {"bindAddress", FM_CONFIG_STR, S(bindAddress), "0.0.0.0", 0, 0, "address to listen on"},
    {"listenPort", FM_CONFIG_INT, S(listenPort), "10911", 0, 65535,
     "remoting port (0 = any free port, written to the ready file)"},
    {"namesrvAddr", FM_CONFIG_STR, S(namesrvAddr), "", 0, 0,
     "external name server host:port; empty = run one embedded"},
    {"namesrvPort", FM_CONFIG_INT, S(namesrvPort), "9876", 0, 65535,
     "embedded or standalone name server port (0 = any free port)"},
    {"storePathRootDir", FM_CONFIG_STR, S(storePathRootDir), "", 0, 0,
     "store root: commitlog/, consumequeue/, config/ (replicator: lock, ready, tasks.json); "
     "empty = ferrymq-data, or ferrymq-replicator for the replicator"},
    {"mappedFileSizeCommitLog", FM_CONFIG_INT, S(mappedFileSizeCommitLog), "1g", 4096,
     (int64_t)1 << 40, "commit log segment size"},
    {"flushDiskType", FM_CONFIG_STR, S(flushDiskType), "ASYNC_FLUSH", 0, 0,
     "ASYNC_FLUSH (flush every flushIntervalCommitLog ms) or SYNC_FLUSH (ack after fdatasync)"},
    {"flushIntervalCommitLog", FM_CONFIG_INT, S(flushIntervalCommitLog), "500", 1, 60000,
     "async flush period in ms"},
    {"messageIndexEnable", FM_CONFIG_BOOL, S(messageIndexEnable), "true", 0, 0,
     "index messages by KEYS and UNIQ_KEY (index/), for QUERY_MESSAGE and `ferrymq message`"},
    {"maxHashSlotNum", FM_CONFIG_INT, S(maxHashSlotNum), "1000000", 1, 1 << 27,
     "hash slots of each index file (4 bytes each; RocketMQ: 5000000)"},
    {"maxIndexNum", FM_CONFIG_INT, S(maxIndexNum), "4000000", 2, 1 << 27,
     "entries of each index file (20 bytes each; a full file starts the next; RocketMQ: "
     "20000000)"},
    {"fileReservedTime", FM_CONFIG_INT, S(fileReservedTime), "72", 1, 24 * 365 * 10,
     "hours a commit log segment is kept after its last write"},
    {"vipChannelEnabled", FM_CONFIG_BOOL, S(vipChannelEnabled), "true", 0, 0,
     "also listen on listenPort - 2, RocketMQ's VIP channel (clients with "
     "sendMessageWithVIPChannel send there); false: only listenPort"},
    {"autoCreateTopicEnable", FM_CONFIG_BOOL, S(autoCreateTopicEnable), "true", 0, 0,
     "create a topic on first send or route lookup"},
    {"autoCreateSubscriptionGroup", FM_CONFIG_BOOL, S(autoCreateSubscriptionGroup), "true", 0, 0,
     "create a subscription group's config (RocketMQ's defaults) on its first heartbeat, pull "
     "or send-back; false answers pulls of an unknown group SUBSCRIPTION_GROUP_NOT_EXIST (26)"},
    {"defaultTopicQueueNums", FM_CONFIG_INT, S(defaultTopicQueueNums), "8", 1, 1024,
     "queues of an auto-created topic"},
    {"maxMessageSize", FM_CONFIG_INT, S(maxMessageSize), "4m", 1024, 256 * 1024 * 1024,
     "largest message body accepted"},
    {"maxFrameSize", FM_CONFIG_INT, S(maxFrameSize), "16m", 4096, 1024 * 1024 * 1024,
     "largest remoting frame accepted; larger closes the connection"},
    {"maxConnOutputBytes", FM_CONFIG_INT, S(maxConnOutputBytes), "64m", 65536, MAXI,
     "output queued to one connection before reading from it pauses"},
    {"messageDelayLevel", FM_CONFIG_STR, S(messageDelayLevel),
     "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", 0, 0,
     "delay of each level (DELAY property, consumer retries), units s m h d, as RocketMQ"},
    {"maxReconsumeTimes", FM_CONFIG_INT, S(maxReconsumeTimes), "16", 0, 1000,
     "retryMaxTimes of an auto-created subscription group: retries before a message sent back "
     "goes to %DLQ%<group>, when the consumer names none"},
    {"enablePropertyFilter", FM_CONFIG_BOOL, S(enablePropertyFilter), "true", 0, 0,
     "evaluate SQL92 subscriptions on the broker (docs/filters.md); false answers SQL92 pulls "
     "SYSTEM_ERROR"},
    {"registerNameServerPeriod", FM_CONFIG_INT, S(registerNameServerPeriod), "30000", 100, 600000,
     "ms between broker registrations with the name server"},
    {"brokerExpiryMs", FM_CONFIG_INT, S(brokerExpiryMs), "120000", 1000, 3600000,
     "name server drops a broker not registered for this long"},
    {"flushConsumerOffsetInterval", FM_CONFIG_INT, S(flushConsumerOffsetInterval), "5000", 100,
     600000, "ms between persisting consumer offsets"},
    {"transactionTimeOut", FM_CONFIG_INT, S(transactionTimeOut), "6000", 10, 86400000,
     "ms a transaction's half message waits for END_TRANSACTION before the broker asks the "
     "producer group (CHECK_TRANSACTION_STATE)"},
    {"transactionCheckInterval", FM_CONFIG_INT, S(transactionCheckInterval), "60000", 10, 86400000,
     "ms between the broker's rounds of transaction checks"},
    {"transactionCheckMax", FM_CONFIG_INT, S(transactionCheckMax), "15", 0, 1000,
     "checks of one half message before it is discarded to TRANS_CHECK_MAX_TIME_TOPIC"},
    {"rebalanceLockMaxLiveTime", FM_CONFIG_INT, S(rebalanceLockMaxLiveTime), "60000", 100, 86400000,
     "ms a queue lock (LOCK_BATCH_MQ) lives without renewal (RocketMQ's "
     "rocketmq.broker.rebalance.lockMaxLiveTime)"},
    {"readyFile", FM_CONFIG_STR, S(readyFile), "", 0, 0,
     "file written with the bound ports and pid once serving, removed at exit only by the process "
     "it names; empty = <storePathRootDir>/ready (broker, replicator) or "
     "<storePathRootDir>/namesrv.ready"},
    {"httpPort", FM_CONFIG_INT, S(httpPort), "-2", -2, 65535,
     "HTTP port: the broker's admin API, /metrics and health (docs/http-api.md), the "
     "replicator's task API; -2 = the role's default, 8080 broker, 8090 replicator; 0 = any free "
     "port (written to the ready file as http=PORT); -1 = off (broker only)"},
    {"httpBindAddress", FM_CONFIG_STR, S(httpBindAddress), "127.0.0.1", 0, 0,
     "IPv4 address the HTTP port listens on (broker and replicator)"},
    {"httpAllowOrigins", FM_CONFIG_STR, S(httpAllowOrigins), "", 0, 0,
     "origins (scheme://host:port, comma-separated) whose pages may call this HTTP API besides "
     "pages from the same host: where the console is served from when it is another host"},
    {"region", FM_CONFIG_STR, S(region), "", 0, 0,
     "replicator: the local side's region name, for logs"},
    {"taskFile", FM_CONFIG_STR, S(taskFile), "", 0, 0,
     "replicator: JSON file of tasks ({\"tasks\": [...]} or an array) created at start unless a "
     "task of that name exists; empty = none"},
    {"replTopicRefreshInterval", FM_CONFIG_INT, S(replTopicRefreshInterval), "5000", 100, 3600000,
     "replicator: ms between re-reads of topic lists, routes and topic regexes"},
    {"replRebalanceInterval", FM_CONFIG_INT, S(replRebalanceInterval), "5000", 100, 3600000,
     "replicator: ms between re-splits of source queues among replicators of one task"},
    {"replCheckpointInterval", FM_CONFIG_INT, S(replCheckpointInterval), "1000", 10, 3600000,
     "replicator: ms between progress checkpoints on the target and the source"},
    {"logLevel", FM_CONFIG_STR, S(logLevel), "info", 0, 0, "error, warn, info or debug"},
    {"logFile", FM_CONFIG_STR, S(logFile), "", 0, 0,
     "also write the log to this file (appended); SIGHUP reopens it by name, for logrotate; "
     "empty = standard error only"},
    {"logDebug", FM_CONFIG_STR, S(logDebug), "", 0, 0,
     "components with DEBUG lines, comma-separated (net,store,broker,namesrv or all)"},
};

const size_t fm_daemon_n_opts = sizeof(fm_daemon_opts) / sizeof(fm_daemon_opts[0]);
