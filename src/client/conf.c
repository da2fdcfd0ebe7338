/*
 * conf.c - ferrymq_conf: client options by RocketMQ's names, one table for parsing and docs.
 */
#include "client/client_int.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(f) offsetof(client_settings, f)

static const fm_config_opt client_opts[] = {
    {"namesrvAddr", FM_CONFIG_STR, S(namesrvAddr), "", 0, 0,
     "name servers, host:port separated by ';'"},
    {"producerGroup", FM_CONFIG_STR, S(producerGroup), "DEFAULT_PRODUCER", 0, 0,
     "producer group sent with every message"},
    {"consumerGroup", FM_CONFIG_STR, S(consumerGroup), "DEFAULT_CONSUMER", 0, 0,
     "consumer group for pulls and offsets"},
    {"sendMsgTimeout", FM_CONFIG_INT, S(sendMsgTimeout), "3000", 1, 600000,
     "ms to wait for one send attempt"},
    {"retryTimesWhenSendFailed", FM_CONFIG_INT, S(retryTimesWhenSendFailed), "2", 0, 16,
     "extra attempts, on other queues, after a failed send"},
    {"compressMsgBodyOverHowmuch", FM_CONFIG_INT, S(compressMsgBodyOverHowmuch), "4096", 0,
     INT32_MAX, "bodies larger than this are sent zlib-compressed"},
    {"maxMessageSize", FM_CONFIG_INT, S(maxMessageSize), "4194304", 1, INT32_MAX,
     "largest body accepted by send"},
    {"clientIP", FM_CONFIG_STR, S(clientIP), "", 0, 0,
     "address in client ids; empty = first non-loopback IPv4"},
    {"instanceName", FM_CONFIG_STR, S(instanceName), "DEFAULT", 0, 0,
     "instance name in client ids"},
    {"maxInFlight", FM_CONFIG_INT, S(maxInFlight), "1024", 1, 1 << 20,
     "asynchronous sends outstanding at once; more wait for a slot"},
    {"pollNameServerInterval", FM_CONFIG_INT, S(pollNameServerInterval), "30000", 100, 3600000,
     "ms a topic route is cached"},
    {"consumeFromWhere", FM_CONFIG_STR, S(consumeFromWhere), "CONSUME_FROM_LAST_OFFSET", 0, 0,
     "push consumer, queue without a committed offset: CONSUME_FROM_LAST_OFFSET, "
     "CONSUME_FROM_FIRST_OFFSET or CONSUME_FROM_TIMESTAMP"},
    {"consumeTimestamp", FM_CONFIG_STR, S(consumeTimestamp), "", 0, 0,
     "push consumer, CONSUME_FROM_TIMESTAMP: yyyyMMddHHmmss (UTC); empty = 30 minutes ago"},
    {"consumeThreadNums", FM_CONFIG_INT, S(consumeThreadNums), "20", 1, 1000,
     "push consumer: threads running the message callback"},
    {"consumeMessageBatchMaxSize", FM_CONFIG_INT, S(consumeMessageBatchMaxSize), "1", 1, 1024,
     "push consumer: most messages per callback"},
    {"pullBatchSize", FM_CONFIG_INT, S(pullBatchSize), "32", 1, 1024,
     "push consumer: most messages per pull"},
    {"pullThresholdForQueue", FM_CONFIG_INT, S(pullThresholdForQueue), "1000", 1, 1 << 20,
     "push consumer: messages held per queue before pulling pauses (flow control)"},
    {"pullThresholdSizeForQueue", FM_CONFIG_INT, S(pullThresholdSizeForQueue), "100", 1, 1024,
     "push consumer: MiB of bodies held per queue before pulling pauses"},
    {"brokerSuspendMaxTimeMillis", FM_CONFIG_INT, S(brokerSuspendMaxTimeMillis), "15000", 0, 600000,
     "push consumer: how long the broker may hold a pull (long polling)"},
    {"heartbeatBrokerInterval", FM_CONFIG_INT, S(heartbeatBrokerInterval), "30000", 100, 3600000,
     "push consumer: ms between heartbeats to every broker"},
    {"persistConsumerOffsetInterval", FM_CONFIG_INT, S(persistConsumerOffsetInterval), "5000", 10,
     3600000, "push consumer: ms between offset commits (the redelivery window after a crash)"},
    {"rebalanceInterval", FM_CONFIG_INT, S(rebalanceInterval), "20000", 100, 3600000,
     "push consumer: ms between queue reallocations (also done at once when the group changes)"},
    {"maxReconsumeTimes", FM_CONFIG_INT, S(maxReconsumeTimes), "16", -1, 1000,
     "push consumer: failed deliveries before a message goes to %DLQ%<group>; -1 = broker's"},
    {"suspendCurrentQueueTimeMillis", FM_CONFIG_INT, S(suspendCurrentQueueTimeMillis), "1000", 0,
     600000, "orderly push consumer: ms before a failed batch is delivered again"},
};
#define N_OPTS (sizeof(client_opts) / sizeof(client_opts[0]))

void
fm_client_conf_markdown(FILE *out)
{
    fm_config_print_markdown(client_opts, N_OPTS, out);
}

void
fm_client_errstr(char *errstr, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (errstr == NULL || size == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

void
fm_client_log(const ferrymq_conf *conf, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (conf == NULL || conf->log_cb == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    conf->log_cb(conf->log_opaque, level, line);
}

ferrymq_conf *
ferrymq_conf_new(void)
{
    ferrymq_conf *conf = calloc(1, sizeof(*conf));
    if (conf == NULL) {
        return NULL;
    }
    if (fm_config_defaults(client_opts, N_OPTS, &conf->s, NULL) != FM_OK) {
        free(conf);
        return NULL;
    }
    return conf;
}

void
ferrymq_conf_free(ferrymq_conf *conf)
{
    free(conf);
}

int
ferrymq_conf_set(ferrymq_conf *conf, const char *key, const char *value, char *errstr,
                 size_t errstr_size)
{
    fm_errbuf eb;
    int rc;
    if (conf == NULL || key == NULL || value == NULL) {
        fm_client_errstr(errstr, errstr_size, "conf, key and value are required");
        return FERRYMQ_EINVAL;
    }
    rc = fm_config_set(client_opts, N_OPTS, &conf->s, key, value, &eb);
    if (rc != FM_OK) {
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return FERRYMQ_EINVAL;
    }
    return FERRYMQ_OK;
}

void
ferrymq_conf_set_log_cb(ferrymq_conf *conf, void (*cb)(void *opaque, int level, const char *line),
                        void *opaque)
{
    conf->log_cb = cb;
    conf->log_opaque = opaque;
}

int
fm_client_local_ip(const char *configured, uint8_t ip[4])
{
    struct in_addr a;
    struct ifaddrs *ifs, *it;
    if (configured != NULL && inet_pton(AF_INET, configured, &a) == 1) {
        memcpy(ip, &a, 4);
        return FM_OK;
    }
    /* As RocketMQ clients: the first non-loopback IPv4, else loopback. */
    ip[0] = 127;
    ip[1] = 0;
    ip[2] = 0;
    ip[3] = 1;
    if (getifaddrs(&ifs) != 0) {
        return FM_OK;
    }
    for (it = ifs; it != NULL; it = it->ifa_next) {
        if (it->ifa_addr != NULL && it->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *sa = (const struct sockaddr_in *)it->ifa_addr;
            if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
                memcpy(ip, &sa->sin_addr, 4);
                break;
            }
        }
    }
    freeifaddrs(ifs);
    return FM_OK;
}

unsigned
ferrymq_version(void)
{
    return FERRYMQ_VERSION;
}

const char *
ferrymq_strerror(int err)
{
    switch (err) {
    case FERRYMQ_EBROKER:
        return "the broker answered with an error";
    case FERRYMQ_EBUSY:
        return "not allowed from this handle's own callback";
    default:
        return fm_strerror(err);
    }
}
