/*
 * msgid.h - RocketMQ message ids.
 * NOTE to helpers: written by the lead; extend this file, do not replace it.
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

#endif
