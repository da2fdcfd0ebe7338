/*
 * msgid.h - RocketMQ message ids.
 *
 * Offset message id (MessageDecoder.createMessageId): store host address (4 bytes IPv4 or 16
 * IPv6), port (4 bytes), commit log offset (8 bytes), all big-endian, as uppercase hex: 32
 * characters for IPv4, 56 for IPv6. It is what SEND replies carry as msgId and what
 * VIEW_MESSAGE_BY_ID resolves.
 *
 * Client id (UNIQ_KEY property, MessageClientIDSetter): set by the producer, carried unchanged
 * by the broker (and by replication), so consumers can deduplicate across regions.
 *
 * Thread: no shared state.
 */
#ifndef FM_PROTO_MSGID_H
#define FM_PROTO_MSGID_H

#include "common/buf.h"
#include "common/errors.h"

#include <stdint.h>

#define FM_MSGID_MAX 56 /* hex chars of an IPv6 offset id */

/**
 * Write the offset message id for (host, offset) into out (NUL-terminated). host is the 8- or
 * 20-byte address+port as stored in a record's STOREHOST. Returns the length, 0 for a bad
 * host length.
 */
size_t fm_msgid_make(char out[FM_MSGID_MAX + 1], const uint8_t *host, size_t host_len,
                     uint64_t offset);

/**
 * Parse an offset message id. host receives 8 or 20 bytes (cap at least 20), *host_len its
 * length. FM_OK or FM_EINVAL (wrong length, not hex).
 */
int fm_msgid_parse(fm_slice hex, uint8_t *host, size_t *host_len, uint64_t *offset);

/**
 * Generator of client message ids (UNIQ_KEY), laid out as MessageClientIDSetter does: IPv4
 * (4 bytes), pid (2), a per-generator salt (4, Java's class-loader hash), ms since the start of
 * the current UTC month (4), a counter (2); 32 uppercase hex characters. Unique per
 * (ip, pid, salt) for 65,536 ids per ms. No global state: one generator per producer.
 */
typedef struct fm_uniq_gen {
    char fixed[21]; /* hex of ip, pid, salt */
    int64_t month_start_ms;
    int64_t next_month_ms;
    uint16_t counter;
} fm_uniq_gen;

/** Initialise a generator. */
void fm_uniq_gen_init(fm_uniq_gen *g, const uint8_t ip[4], uint16_t pid, uint32_t salt);

/** Write the next id (32 hex chars + NUL) for wall-clock time now_ms. */
void fm_uniq_next(fm_uniq_gen *g, int64_t now_ms, char out[33]);

#endif
