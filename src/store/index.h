/*
 * index.h - the message index: commit log offsets by key (RocketMQ's IndexFile idea), so
 * QUERY_MESSAGE can find messages by their KEYS and by the client's unique id (UNIQ_KEY).
 * Used by store.c only (and by the index's unit tests and fuzz target); the broker reaches it
 * through fm_store_query_by_key.
 *
 * Every message is indexed under "topic#UNIQ_KEY" and under "topic#k" for each k of its KEYS
 * property split on spaces (empty parts skipped), as RocketMQ's IndexService.buildIndex does;
 * transaction rollback records are not indexed. The hash is the 31-multiplier hash of Java's
 * String.hashCode over the bytes of "topic#key" (equal to Java's for ASCII keys; the files are
 * ours, no RocketMQ tool reads them), so two keys may share a hash: every candidate is
 * confirmed against the record by the caller's match callback.
 *
 * On-disk format: index/<20-digit sequence number>, one file of fixed size per
 * (maxHashSlotNum, maxIndexNum) at its creation, mmapped MAP_SHARED, all integers big-endian:
 *
 *   header, 64 bytes:
 *     0 magic u32 "FMIX"      4 version u32 (1)      8 slot_num u32     12 index_num u32
 *    16 begin_ts i64 (store time of entry 1)          24 end_ts i64 (of the newest entry)
 *    32 begin_phys u64 (record of entry 1)            40 end_phys u64 (record of the newest)
 *    48 next_phys u64: every record below this commit log offset is indexed (in this file or
 *       an older one); recovery re-indexes from the newest file's next_phys
 *    56 index_count u32: entries used + 1 (entry 0 is never used: 0 means "none")
 *    60 check u32: fm_store_index_header_sum (CRC-32 of bytes 0..15, mixed with the fields
 *       at 16..59 by a multiply-xorshift: cheap enough to rewrite on every append)
 *   slots, slot_num x u32 at 64: the newest entry whose hash falls in the slot (0: none)
 *   entries, index_num x 20 bytes after the slots: key hash u32, commit log offset u64, store
 *     time i32 (seconds after begin_ts), previous entry of the same slot u32 (0: none; always
 *     smaller than the entry's own number, which bounds every chain walk)
 *
 * Entries are appended in commit log order, so within and across files they ascend by offset
 * and (nearly) by time. A file is full at index_count == index_num; the next entry starts a
 * new file. Durability: fm_store_index_sync fdatasyncs the files written since the last sync;
 * the store calls it before it writes its checkpoint, so entries of records below the
 * checkpoint are durable. Recovery (fm_store_index_recover) checks entries past it against
 * the commit log and cuts a file at the first one that does not hold; a file whose header does
 * not check (magic, version, geometry against the file size, check value, offsets in order) is
 * deleted with every newer one, and what they covered is indexed again from the log.
 *
 * Thread: one thread (the broker's loop), like the rest of the store.
 */
#ifndef FM_STORE_INDEX_H
#define FM_STORE_INDEX_H

#include "common/buf.h"
#include "common/errors.h"
#include "proto/msg.h"

#include <stddef.h>
#include <stdint.h>

#define FM_INDEX_HEADER 64
#define FM_INDEX_SLOT 4
#define FM_INDEX_ENTRY 20
#define FM_INDEX_MAGIC 0x464D4958u /* "FMIX" */
#define FM_INDEX_VERSION 1
#define FM_INDEX_MAX_SLOTS (1u << 27) /* bounds what a file header may claim */
#define FM_INDEX_MAX_ENTRIES (1u << 27)

typedef struct fm_store_index fm_store_index;

/**
 * Open the index directory dir (created if missing), loading and checking every index file in
 * it; files that do not check are deleted (FM-STORE-INDEX-BAD), newer ones with them. New
 * files get slot_num slots (>= 1) and index_num entries (>= 2). *out is owned by the caller
 * (fm_store_index_close). Returns FM_OK, FM_EINVAL (geometry out of range), FM_EIO, FM_ENOMEM.
 */
int fm_store_index_open(const char *dir, uint32_t slot_num, uint32_t index_num,
                        fm_store_index **out, fm_errbuf *eb);

/** Unmap and close every file (no sync: call fm_store_index_sync first). NULL is a no-op. */
void fm_store_index_close(fm_store_index *ix);

/**
 * Check callback for recovery: 1 when a record starting at commit log offset phys exists and
 * has a key whose fm_store_index_hash is hash, else 0.
 */
typedef int (*fm_store_index_check_fn)(void *ud, uint32_t hash, uint64_t phys);

/**
 * After a restart: entries of records at or past min(durable, log_end) may be torn (power
 * loss) or point past a cut commit log; each is checked with check. A file with an entry that
 * fails is cut before its first entry at or past that point, its slots rebuilt from the
 * entries kept, and newer files deleted. *rebuild_from receives the commit log offset from
 * which records must be indexed again (fm_store_index_put), 0 when there is no index file.
 * Returns FM_OK or FM_EIO (a file could not be deleted).
 */
int fm_store_index_recover(fm_store_index *ix, uint64_t durable, uint64_t log_end,
                           fm_store_index_check_fn check, void *ud, uint64_t *rebuild_from);

/**
 * Index one record (already decoded into m) stored at phys with store time ts_ms: its
 * UNIQ_KEY and each of its KEYS. Records below the newest file's next_phys are skipped (they
 * are indexed already), so re-dispatching during recovery is idempotent. No allocation except
 * when a full file makes a new one (open, ftruncate, mmap, fsync of the directory). Returns
 * FM_OK, or FM_EIO / FM_ENOSPC / FM_ENOMEM when a new file cannot be made: the record's
 * remaining keys are then not indexed and next_phys stays before it, so a restart re-indexes
 * from there.
 */
int fm_store_index_put(fm_store_index *ix, const fm_msg_view *m, uint64_t phys, int64_t ts_ms,
                       fm_errbuf *eb);

/** A record's index keys, hashed: fm_store_index_put in two steps, so that the append path
 * can start loading the hash slots' cache lines before it copies the record into the log. */
#define FM_INDEX_PREP_KEYS 8
typedef struct fm_store_index_keys {
    uint32_t hash[FM_INDEX_PREP_KEYS];
    int n;         /* hashes in hash[] (UNIQ_KEY first, then KEYS words) */
    fm_slice rest; /* KEYS words past the first FM_INDEX_PREP_KEYS - 1, hashed at put time */
} fm_store_index_keys;

/** Hash m's keys into *k (which borrows m's properties) and prefetch their slots. */
void fm_store_index_keys_get(const fm_store_index *ix, const fm_msg_view *m,
                             fm_store_index_keys *k);
/** The same with m's UNIQ_KEY and KEYS values already found (ptr NULL: absent). */
void fm_store_index_keys_of(const fm_store_index *ix, const fm_msg_view *m, fm_slice uniq,
                            fm_slice keys, fm_store_index_keys *k);

/** fm_store_index_put with the keys from fm_store_index_keys_get (same m). Same returns. */
int fm_store_index_put_keys(fm_store_index *ix, const fm_msg_view *m, const fm_store_index_keys *k,
                            uint64_t phys, int64_t ts_ms, fm_errbuf *eb);

/** fdatasync every file written since the last sync. FM_OK or FM_EIO. */
int fm_store_index_sync(fm_store_index *ix);
/** The same sync handed to another thread: append a dup (close-on-exec, the caller's to close)
 * of every file written since the last sync to *fds (grown with fm_array_reserve) and count
 * them clean. FM_OK, or FM_EIO when a dup failed (then every file counts as written again and
 * *fds is as it was). */
int fm_store_index_take_dirty(fm_store_index *ix, int **fds, size_t *n, size_t *cap);
/** Count every file as written since the last sync (a handed-off sync failed). */
void fm_store_index_mark_all_dirty(fm_store_index *ix);

/**
 * Match callback for lookups: 1 when the record at phys really has the key looked up (the
 * hash matched), else 0.
 */
typedef int (*fm_store_index_match_fn)(void *ud, uint64_t phys);

/**
 * Commit log offsets of records indexed under topic#key whose store time (second precision,
 * rounded down, as RocketMQ keeps it) lies in [begin_ms, end_ms], newest file first, each
 * confirmed with match, without duplicates, at most max of them (in out). *n receives the
 * count. Reads only: a garbage file can cut a chain short but never make this crash or loop.
 */
void fm_store_index_lookup(fm_store_index *ix, fm_slice topic, fm_slice key, int64_t begin_ms,
                           int64_t end_ms, fm_store_index_match_fn match, void *ud, uint64_t *out,
                           size_t max, size_t *n);

/** End time and end record offset of the newest file (0/0 when there is none): what
 * QUERY_MESSAGE answers as indexLastUpdateTimestamp / indexLastUpdatePhyoffset. */
void fm_store_index_last_update(const fm_store_index *ix, int64_t *ts_ms, uint64_t *phys);

/**
 * Retention: delete every file but the newest whose newest entry's record lies below
 * min_phys (its segment is gone). Returns how many were deleted.
 */
int fm_store_index_delete_before(fm_store_index *ix, uint64_t min_phys);

/** Number of index files, and entries in all of them (for tests and logs). */
size_t fm_store_index_files(const fm_store_index *ix);
uint64_t fm_store_index_entries(const fm_store_index *ix);

/** The check value of a 64-byte header (its bytes 60..63 when the header is intact). */
uint32_t fm_store_index_header_sum(const uint8_t *hdr);

/** The hash of "topic#key" the index files keep. */
uint32_t fm_store_index_hash(fm_slice topic, fm_slice key);

#endif
