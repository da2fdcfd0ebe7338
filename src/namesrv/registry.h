/*
 * registry.h - the name server's view of the cluster: brokers, their topics, their liveness.
 *
 * Brokers register (REGISTER_BROKER) with their cluster, name, id (0 = master) and address and a
 * TopicConfigSerializeWrapper JSON body listing their topics; they re-register every 30 s and
 * are dropped after `expiry_ms` without one (RocketMQ: 120 s). Clients read routes per topic
 * (GET_ROUTEINFO_BY_TOPIC), the topic list and the cluster table, all rendered as the JSON
 * RocketMQ clients parse (TopicRouteData, TopicList, ClusterInfo).
 *
 * Not a hot path: clients cache routes and refresh every 30 s, so the registry favours
 * simplicity (arrays scanned linearly, cJSON trees) over speed.
 *
 * Ownership: the registry owns everything it stores; JSON output goes into caller-owned
 * fm_buf. Thread: one thread at a time (the name server's loop thread).
 */
#ifndef FM_NAMESRV_REGISTRY_H
#define FM_NAMESRV_REGISTRY_H

#include "common/buf.h"
#include "common/errors.h"

#include <stdint.h>

typedef struct fm_namesrv_registry fm_namesrv_registry;

/** Create an empty registry; free with fm_namesrv_registry_free. FM_OK or FM_ENOMEM. */
int fm_namesrv_registry_new(fm_namesrv_registry **out);

/** Free the registry and all it holds. NULL is a no-op. */
void fm_namesrv_registry_free(fm_namesrv_registry *reg);

/**
 * Add or refresh a broker. topics_json is the REGISTER_BROKER body (a JSON object with a
 * "topicConfigTable" member; empty or NULL keeps the broker's previous topics); it is parsed
 * and copied. Returns FM_OK, FM_EINVAL (missing names, bad JSON: eb says which), FM_ENOMEM.
 */
int fm_namesrv_register(fm_namesrv_registry *reg, const char *cluster, const char *broker_name,
                        int64_t broker_id, const char *addr, fm_slice topics_json, int64_t now_ms,
                        fm_errbuf *eb);

/** Remove one broker address. FM_OK, or FM_ENOTFOUND when it was not registered. */
int fm_namesrv_unregister(fm_namesrv_registry *reg, const char *cluster, const char *broker_name,
                          int64_t broker_id, const char *addr);

/**
 * Forget a topic's route (DELETE_TOPIC_IN_NAMESRV): remove it from the topics of every broker
 * of `cluster` (NULL or "": of every broker). A broker that registers it again brings it
 * back. Returns how many brokers listed it.
 */
int fm_namesrv_delete_topic(fm_namesrv_registry *reg, const char *topic, const char *cluster);

/**
 * Take away (add 0) or give back (add 1) the write permission of broker_name's topics in the
 * routes, whatever the broker registers meanwhile, until the other call. Returns how many
 * topics that broker has.
 */
int fm_namesrv_write_perm(fm_namesrv_registry *reg, const char *broker_name, int add);

/** Drop brokers not refreshed since now_ms - expiry_ms; returns how many were dropped. */
int fm_namesrv_expire(fm_namesrv_registry *reg, int64_t now_ms, int64_t expiry_ms);

/** Number of registered broker addresses. */
int fm_namesrv_broker_count(const fm_namesrv_registry *reg);

/**
 * Append the TopicRouteData JSON for a topic to out. FM_ENOTFOUND when no live broker
 * serves it (the caller answers TOPIC_NOT_EXIST), FM_ENOMEM.
 */
int fm_namesrv_route_json(const fm_namesrv_registry *reg, const char *topic, fm_buf *out);

/** Append {"topicList":[...]} (every topic of every live broker, once). FM_OK or FM_ENOMEM. */
int fm_namesrv_topic_list_json(const fm_namesrv_registry *reg, fm_buf *out);

/** Append ClusterInfo JSON (brokerAddrTable, clusterAddrTable). FM_OK or FM_ENOMEM. */
int fm_namesrv_cluster_json(const fm_namesrv_registry *reg, fm_buf *out);

#endif
