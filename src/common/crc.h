/*
 * crc.h - CRC32 as RocketMQ stores it for message bodies.
 *
 * RocketMQ's UtilAll.crc32 returns java.util.zip.CRC32's value masked with 0x7FFFFFFF, and the
 * store compares that masked value. Computed with ISA-L (libisal), whose gzip CRC is
 * zlib's and Java's CRC32: same polynomial, same reflection, same value.
 * Thread: any.
 */
#ifndef FM_COMMON_CRC_H
#define FM_COMMON_CRC_H

#include <stddef.h>
#include <stdint.h>

/** CRC32 of the bytes, masked to 31 bits as RocketMQ's body CRC. */
uint32_t fm_crc32_body(const void *p, size_t n);

/** Plain CRC32 (zlib's value), for our own metadata files. */
uint32_t fm_crc32(const void *p, size_t n);

#endif
