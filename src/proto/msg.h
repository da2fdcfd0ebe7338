/*
 * msg.h - RocketMQ's stored-message record: the bytes the commit log holds and a pull returns
 * back to back (CommitLog / MessageDecoder in apache/rocketmq). Also the client-side batch
 * encoding carried by SEND_BATCH_MESSAGE (MessageDecoder.encodeMessages).
 *
 * Record layout (big-endian; IPv4 hosts shown, IPv6 hosts take 16+4 bytes when the sysflag's
 * BORNHOST_V6 / STOREHOST_V6 bit is set):
 *    0 TOTALSIZE i32        4 MAGICCODE i32       8 BODYCRC i32        12 QUEUEID i32
 *   16 FLAG i32            20 QUEUEOFFSET i64    28 PHYSICALOFFSET i64 36 SYSFLAG i32
 *   40 BORNTIMESTAMP i64   48 BORNHOST 8         56 STORETIMESTAMP i64 64 STOREHOST 8
 *   72 RECONSUMETIMES i32  76 PREPAREDTXOFFSET i64
 *   84 BODY (i32 length + bytes), TOPIC (u8 length + bytes; u16 with the V2 magic),
 *      PROPERTIES (i16 length + bytes)
 *
 * Thread: no shared state.
 */
#ifndef FM_PROTO_MSG_H
#define FM_PROTO_MSG_H

#include "common/buf.h"
#include "common/errors.h"

#include <stdint.h>

#define FM_MSG_MAGIC_V1 0xDAA320A7u    /* MESSAGE_MAGIC_CODE (-626843481) */
#define FM_MSG_MAGIC_V2 0xDAA320ABu    /* MESSAGE_MAGIC_CODE_V2 (-626843477): u16 topic length */
#define FM_MSG_MAGIC_BLANK 0xCBD43194u /* BLANK_MAGIC_CODE (-875286124): end-of-segment filler */

/* MessageSysFlag */
#define FM_MSG_SYSFLAG_COMPRESSED 0x1
#define FM_MSG_SYSFLAG_MULTI_TAGS 0x2
#define FM_MSG_SYSFLAG_TX_PREPARED 0x4
#define FM_MSG_SYSFLAG_TX_COMMIT 0x8
#define FM_MSG_SYSFLAG_TX_ROLLBACK 0xC
#define FM_MSG_SYSFLAG_BORNHOST_V6 0x10
#define FM_MSG_SYSFLAG_STOREHOST_V6 0x20
#define FM_MSG_SYSFLAG_COMPRESSION_TYPE 0x700 /* 4.9.7: LZ4 0x100, ZSTD 0x200, ZLIB 0x300 */

/* Fixed offsets, valid for every record (they precede the variable-length hosts). */
#define FM_MSG_OFF_TOTALSIZE 0
#define FM_MSG_OFF_MAGIC 4
#define FM_MSG_OFF_BODYCRC 8
#define FM_MSG_OFF_QUEUEID 12
#define FM_MSG_OFF_FLAG 16
#define FM_MSG_OFF_QUEUEOFFSET 20
#define FM_MSG_OFF_PHYSOFFSET 28
#define FM_MSG_OFF_SYSFLAG 36
#define FM_MSG_OFF_BORNTS 40
#define FM_MSG_OFF_BORNHOST 48

#define FM_MSG_MIN_SIZE 91 /* IPv4 record with empty body, 1-byte topic, no properties */

/** A decoded record (slices borrow from the record bytes), or one to encode. */
typedef struct fm_msg_view {
    uint32_t total_size;
    uint32_t magic;
    uint32_t body_crc;
    int32_t queue_id;
    int32_t flag;
    int64_t queue_offset;
    int64_t phys_offset;
    int32_t sysflag;
    int64_t born_timestamp;
    fm_slice born_host; /* 8 bytes (IPv4 + port) or 20 (IPv6 + port) */
    int64_t store_timestamp;
    fm_slice store_host;
    int32_t reconsume_times;
    int64_t prepared_tx_offset;
    fm_slice body;
    fm_slice topic;
    fm_slice properties;
} fm_msg_view;

/** Offset of STORETIMESTAMP in a record with this sysflag (it follows BORNHOST). */
static inline size_t
fm_msg_off_store_ts(int32_t sysflag)
{
    return FM_MSG_OFF_BORNHOST + ((sysflag & FM_MSG_SYSFLAG_BORNHOST_V6) ? 20 : 8);
}

/**
 * Decode the record at p. Returns FM_OK; FM_EAGAIN when avail is less than the record's
 * TOTALSIZE (or than its first 4 bytes); FM_ECORRUPT for a bad magic, a size below the minimum
 * or above max_size, or inner lengths that disagree with TOTALSIZE. The body CRC is not checked
 * here (fm_msg_verify_crc does it) so reads stay cheap.
 */
int fm_msg_decode(const uint8_t *p, size_t avail, fm_msg_view *out, fm_errbuf *eb);

/** True when the record's BODYCRC matches its body (RocketMQ's 31-bit masked CRC32). */
int fm_msg_verify_crc(const fm_msg_view *m);

/** Size fm_msg_encode would write for m. */
size_t fm_msg_encoded_size(const fm_msg_view *m);

/**
 * Append a complete record for m: computes TOTALSIZE and BODYCRC, uses the V1 magic (u8 topic
 * length), and sets the sysflag's host-V6 bits from the host slice lengths. FM_OK; FM_EINVAL
 * for a topic over 127 bytes, properties over 32767, hosts not 8 or 20 bytes; FM_ENOMEM.
 */
int fm_msg_encode(fm_buf *out, const fm_msg_view *m, fm_errbuf *eb);

/** One message of a SEND_BATCH_MESSAGE body (borrowing from it). */
typedef struct fm_msg_batch_item {
    int32_t flag;
    fm_slice body;
    fm_slice properties;
} fm_msg_batch_item;

typedef struct fm_msg_batch_iter {
    fm_slice rest;
} fm_msg_batch_iter;

static inline void
fm_msg_batch_init(fm_msg_batch_iter *it, fm_slice body)
{
    it->rest = body;
}

/**
 * Next batch item. Each is TOTALSIZE i32, MAGICCODE i32 (unused), BODYCRC i32 (unused), FLAG
 * i32, BODY (i32 length + bytes), PROPERTIES (i16 length + bytes). Returns FM_OK, FM_ENOTFOUND
 * at the end, FM_EPROTO for a malformed item.
 */
int fm_msg_batch_next(fm_msg_batch_iter *it, fm_msg_batch_item *item, fm_errbuf *eb);

/** Append one batch item (the client side of the encoding; tests and libferrymq use it). */
int fm_msg_batch_append(fm_buf *out, int32_t flag, fm_slice body, fm_slice properties);

#endif
