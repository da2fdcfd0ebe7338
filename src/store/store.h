/*
 * store.h - the message store: commit log, consume queues, offsets, topic configs.
 *
 * Layout under cfg.dir:
 *   commitlog/<20-digit start offset>   fixed-size segments (cfg.segment_size), mmapped;
 *                                       records in RocketMQ's stored-message encoding
 *                                       (proto/msg.h); a record never spans two segments:
 *                                       the rest of a full segment is a BLANK record (or zeros
 *                                       when fewer than 8 bytes remain)
 *   consumequeue/<topic>/<qid>          20-byte entries: commit log offset i64, size i32,
 *                                       tag hash i64 (Java String.hashCode of TAGS); the entry
 *                                       index is the queue offset; one file per queue, grown
 *                                       in 1 MiB steps (size 0 marks the end; below the
 *                                       end it is a hole, skipped by readers)
 *   config/topics.json                  topic configs   } replaced atomically: temp file,
 *   config/consumerOffset.json          group offsets   } fsync, rename, fsync the directory
 *   checkpoint                          commit log offset C and queue count: the log up to
 *                                       C and every consume-queue and index entry of a record
 *                                       before C are durable, names included (written after
 *                                       the log, queue and index files were synced)
 *   index/<20-digit sequence>           the message index (messageIndexEnable): fixed-size
 *                                       files of a 64-byte header, hash slots (u32) and
 *                                       20-byte entries (key hash, commit log offset, time,
 *                                       previous entry of the slot), by "topic#key" for
 *                                       UNIQ_KEY and each KEYS word; format in store/index.h
 *
 * Every file and directory the store creates, renames or removes is followed by an fsync of
 * its directory before anything depends on the name (POSIX, not ext4's habits).
 *
 * Invariants: a consume-queue entry never points past the end of the commit log, nor at bytes
 * that are not its record. Recovery walks the log from the start of the checkpoint's segment
 * to the end, checking every record, and rewrites every queue entry of those records whatever
 * the queue files say; entries in the walked range that point at no record are removed. When
 * the queue files show the checkpoint claimed more than was durable (a queue file missing, a
 * queue whose first walked record is beyond its end), the walk is redone from the oldest
 * segment. The commit log end is the last record whose size, magic, offset and body CRC check;
 * a segment that ends early before a segment with valid records is closed at the gap.
 *
 * Durability: see docs/durability.md. Async mode: a flush thread fdatasyncs the commit log
 * every flush_interval_ms. Sync mode: fm_store_sync makes everything appended so far durable;
 * the broker calls it once per loop iteration before it acknowledges (group commit).
 *
 * Thread: every function is for one thread (the broker's loop), except that the store runs
 * its own flush thread internally in async mode.
 */
#ifndef FM_STORE_STORE_H
#define FM_STORE_STORE_H

#include "common/buf.h"
#include "common/errors.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fm_store fm_store;

typedef struct fm_store_cfg {
    char dir[256];
    uint64_t segment_size; /* commit log segment bytes; >= 4 KiB */
    int flush_sync;        /* 1: fm_store_sync is the durability point; 0: flush thread */
    int flush_interval_ms; /* async flush period */
    int64_t retention_ms;  /* segments last written longer ago than this are deleted */
    uint64_t max_msg_size; /* largest record accepted */
    int index_enable;      /* messageIndexEnable: index keys and UNIQ_KEY on append */
    uint32_t index_slots;  /* maxHashSlotNum: hash slots of each new index file */
    uint32_t index_num;    /* maxIndexNum: entries of each new index file */
} fm_store_cfg;

/** Defaults: 1 GiB segments, async flush every 500 ms, 72 h retention, 4 MiB records, the
 * index on with 1,000,000 slots and 4,000,000 entries per file (84 MB, sparse: disk is used as
 * entries are written). RocketMQ's 5,000,000 / 20,000,000 keep its ratio of 4 entries per slot
 * but make a 20 MB slot table, every page of which a busy broker dirties (and its checkpoint
 * then syncs) each second, and whose random slot updates miss the cache. */
void fm_store_cfg_defaults(fm_store_cfg *cfg);

/**
 * Create a directory and any missing parents (mode 0755), each made durable in its parent
 * (fsync of the parent directory, even for a component that already existed), so that the
 * store root survives a power loss. For the daemon's store root. FM_OK, FM_EINVAL (empty or
 * over-long path), FM_EIO (eb names the component).
 * Thread: any.
 */
int fm_store_mkdirs(const char *path, fm_errbuf *eb);

/**
 * Open (creating directories as needed) and recover. *out is owned by the caller
 * (fm_store_close). Returns FM_OK, FM_EIO (eb names the file), FM_ECORRUPT (a metadata file
 * that does not parse: never silently replaced), FM_ENOMEM.
 */
int fm_store_open(const fm_store_cfg *cfg, fm_store **out, fm_errbuf *eb);

/** Flush everything, persist offsets and the checkpoint, unmap, free. NULL is a no-op. */
void fm_store_close(fm_store *st);

typedef struct fm_store_put_result {
    uint64_t phys_offset; /* commit log offset of the record */
    int64_t queue_offset; /* its index in the consume queue */
    int64_t store_ts;     /* STORETIMESTAMP written */
    uint32_t size;
} fm_store_put_result;

/**
 * Append one complete record (as fm_msg_encode writes it). The store assigns QUEUEOFFSET,
 * PHYSICALOFFSET and STORETIMESTAMP, patching them into rec (the caller's buffer) before the
 * copy. Returns FM_OK; FM_ETOOBIG (record over max_msg_size or the segment size); FM_EINVAL
 * (rec is not a valid record: eb says why); FM_EIO/FM_ENOSPC (cannot create a segment).
 * A record fm_store_record_indexed rejects (transaction prepared or rollback) is appended to
 * the log only: no consume-queue entry, res->queue_offset 0.
 */
int fm_store_append(fm_store *st, uint8_t *rec, size_t len, fm_store_put_result *res,
                    fm_errbuf *eb);

/** The properties the store reads of a record (ptr NULL: absent), as fm_props_pick finds them
 * with fm_store_prop_names, in this order. */
enum { FM_STORE_PROP_UNIQ_KEY, FM_STORE_PROP_KEYS, FM_STORE_PROP_TAGS, FM_STORE_PROP_N };
extern const fm_slice fm_store_prop_names[FM_STORE_PROP_N];

/**
 * fm_store_append for a caller that has already walked the record's properties (the batch
 * path validates every message first): props[] as above, pointing into memory that stays
 * valid for the call (rec's properties, or the request they were copied from).
 */
int fm_store_append_props(fm_store *st, uint8_t *rec, size_t len, const fm_slice *props,
                          fm_store_put_result *res, fm_errbuf *eb);

/**
 * Write what fm_store_append has staged into the commit log file (one pwrite), so that a
 * crash of the process no longer loses it. Call it before any acknowledgement of an append
 * leaves the process (the broker does so before every socket write, and at the end of each
 * loop iteration). Reads commit first by themselves. FM_OK, or FM_EIO / FM_ENOSPC: the
 * records stay staged (not lost, not readable), nothing appended since the last good commit
 * may be acknowledged, and the next call tries again.
 */
int fm_store_commit(fm_store *st, fm_errbuf *eb);

/**
 * Make everything appended so far durable (fdatasync of the commit log). FM_OK, or FM_EIO /
 * FM_ENOSPC: then nothing appended since the last good sync may be acknowledged.
 */
int fm_store_sync(fm_store *st, fm_errbuf *eb);

/** Commit log offset up to which data is known durable. */
uint64_t fm_store_flushed_offset(const fm_store *st);

/* Commit log flushes (fdatasync of what was committed) by duration: the upper bounds, in
 * seconds, of every bucket but the last, which is +Inf. */
#define FM_STORE_FLUSH_BUCKETS 13
extern const double fm_store_flush_bounds[FM_STORE_FLUSH_BUCKETS - 1];

typedef struct fm_store_flush_stats {
    uint64_t le[FM_STORE_FLUSH_BUCKETS]; /* cumulative: flushes that took <= bound i */
    uint64_t count;
    double sum_seconds;
} fm_store_flush_stats;

/** Flushes since open, by duration (a flush with nothing new to sync is not counted). Thread:
 * any. */
void fm_store_flush_stats_get(const fm_store *st, fm_store_flush_stats *out);

/** End of the commit log (next append position). */
uint64_t fm_store_max_phys_offset(const fm_store *st);

/** Start of the oldest commit log segment still kept. */
uint64_t fm_store_min_phys_offset(const fm_store *st);

/** Filter for reads: return 1 to deliver the record. rec is NULL for a hash-only check. */
typedef int (*fm_store_filter_fn)(void *ud, int64_t tag_hash, const uint8_t *rec, size_t len);

enum fm_store_get_status {
    FM_STORE_FOUND,
    FM_STORE_NO_MATCHED_MSG,        /* messages were there, none matched */
    FM_STORE_NO_MESSAGE_IN_QUEUE,   /* the queue is empty (or unknown) */
    FM_STORE_OFFSET_FOUND_NULL,     /* the entry points at data no longer there */
    FM_STORE_OFFSET_OVERFLOW_ONE,   /* offset == max: nothing new yet */
    FM_STORE_OFFSET_OVERFLOW_BADLY, /* offset > max */
    FM_STORE_OFFSET_TOO_SMALL,      /* offset < min (retention removed it) */
};

#define FM_STORE_MAX_GET 256

typedef struct fm_store_get_result {
    enum fm_store_get_status status;
    int64_t next_begin_offset;
    int64_t min_offset;
    int64_t max_offset;
    int n_msgs;
    fm_slice msgs[FM_STORE_MAX_GET]; /* records, borrowed from the mmapped log */
    fm_store *st;
    void *pins[4]; /* segments pinned for msgs; released by fm_store_get_release */
    int n_pins;
} fm_store_get_result;

/**
 * Read up to max_msgs records (and about max_bytes) of topic/qid from offset, skipping
 * records the filter rejects and holes (queue offsets whose record recovery found lost); both
 * still advance next_begin_offset. Records borrow from the
 * log and stay valid until fm_store_get_release(r), which must always be called after FM_OK.
 * Returns FM_OK (see r->status), FM_EINVAL (max_msgs out of range).
 */
int fm_store_get(fm_store *st, const char *topic, int qid, int64_t offset, int max_msgs,
                 size_t max_bytes, fm_store_filter_fn filter, void *filter_ud,
                 fm_store_get_result *r);

/** Unpin what fm_store_get pinned. Safe to call twice. */
void fm_store_get_release(fm_store_get_result *r);

/** First offset still readable / next offset to be written, of a queue (0/0 when unknown). */
int64_t fm_store_min_offset(fm_store *st, const char *topic, int qid);
int64_t fm_store_max_offset(fm_store *st, const char *topic, int qid);

/**
 * First queue offset whose store time is >= ts_ms (RocketMQ's searchOffset); max offset when
 * every message is older, min offset when every message is newer. FM_OK, FM_ENOTFOUND (no
 * such queue).
 */
int fm_store_search_offset_by_time(fm_store *st, const char *topic, int qid, int64_t ts_ms,
                                   int64_t *offset);

/** Store time of the queue's oldest readable message. FM_OK, FM_ENOTFOUND (empty queue). */
/**
 * RocketMQ 4.9's answer to SEARCH_OFFSET_BY_TIMESTAMP (ConsumeQueue.getOffsetInQueueByTime):
 * the offset whose store time equals ts (any one of several), else the nearer by time of the
 * last entry before ts and the first after it (a tie: the one before); for a time after the
 * last message, the last one (max - 1, not max); before the first, the first; 0 for an
 * unknown or empty queue. fm_store_search_offset_by_time is the exact "first at or after".
 */
int64_t fm_store_offset_nearest_time(fm_store *st, const char *topic, int qid, int64_t ts_ms);

int fm_store_earliest_msg_time(fm_store *st, const char *topic, int qid, int64_t *ts);

/**
 * Copy the record starting at commit log offset phys into out (VIEW_MESSAGE_BY_ID).
 * FM_ENOTFOUND when phys is not the start of a readable record.
 */
int fm_store_read_at(fm_store *st, uint64_t phys, fm_buf *out, fm_errbuf *eb);

/** What a key lookup found (QUERY_MESSAGE). */
typedef struct fm_store_query_result {
    int n_msgs;                /* records appended to the caller's buffer, back to back */
    int64_t last_update_ts;    /* indexLastUpdateTimestamp: newest index entry's store time */
    uint64_t last_update_phys; /* indexLastUpdatePhyoffset: its record's commit log offset */
} fm_store_query_result;

/** Bytes of records one lookup copies at most (at least one record is always returned). */
#define FM_STORE_QUERY_MAX_BYTES (16u << 20)

/**
 * Messages of topic indexed under key, stored in [begin_ms, end_ms] (second precision), at most
 * max_msgs of them (1..FM_STORE_MAX_GET), newest index file first, appended to out in commit
 * log order. uniq: key is a UNIQ_KEY and a record matches when its UNIQ_KEY equals it; else a
 * record matches when one of its KEYS words (split on spaces) equals key. Hash collisions are
 * filtered out here, so every record returned matches. With the index disabled nothing is
 * found. FM_OK (r->n_msgs may be 0), FM_EINVAL (max_msgs out of range), FM_ENOMEM.
 */
int fm_store_query_by_key(fm_store *st, const char *topic, fm_slice key, int uniq, int max_msgs,
                          int64_t begin_ms, int64_t end_ms, fm_buf *out, fm_store_query_result *r);

/** A topic's configuration (TopicConfig). */
typedef struct fm_store_topic {
    char name[128];
    int read_queue_nums;
    int write_queue_nums;
    int perm; /* 2 write, 4 read, 1 inherit */
    int topic_sys_flag;
    int order;
} fm_store_topic;

/** Create or replace a topic and persist the table. FM_OK, FM_EINVAL (bad name), FM_EIO. */
int fm_store_topic_put(fm_store *st, const fm_store_topic *t, fm_errbuf *eb);

/** Copy a topic's config into *out. FM_OK or FM_ENOTFOUND. */
int fm_store_topic_get(fm_store *st, const char *name, fm_store_topic *out);

/**
 * Delete a topic: its config, its consume queues (files and all) and its committed offsets;
 * the commit log keeps the bytes until retention. The log end at the deletion is kept with
 * the topic table (deletedTopics in topics.json, written first, atomically with the config's
 * removal), so recovery and key queries ignore the topic's records before it, and a topic
 * of the same name made later starts at queue offset 0. FM_OK, FM_ENOTFOUND, FM_EIO (the
 * table could not be written: nothing changed).
 */
int fm_store_topic_delete(fm_store *st, const char *name, fm_errbuf *eb);

/** Call cb for each topic; stops at the first non-FM_OK return and returns it. */
int fm_store_topic_foreach(fm_store *st, int (*cb)(const fm_store_topic *t, void *ud), void *ud);

/**
 * A subscription group's configuration (RocketMQ 4.9's SubscriptionGroupConfig, its nine fields
 * and defaults). Persisted in config/subscriptionGroup.json, replaced atomically like
 * topics.json. As RocketMQ's SubscriptionGroupManager, the store starts with RocketMQ's seven
 * default groups (TOOLS_CONSUMER, ...) in memory; a file's records are loaded over them.
 */
typedef struct fm_store_group {
    char name[256];
    int consume_enable;
    int consume_from_min_enable;
    int consume_broadcast_enable;
    int retry_queue_nums;
    int retry_max_times;
    int64_t broker_id;
    int64_t which_broker_when_consume_slowly;
    int notify_consumer_ids_changed_enable;
} fm_store_group;

/** 1 for RocketMQ's own groups: those a broker creates at start, and CID_RMQ_SYS_*. */
int fm_store_group_is_system(const char *name);

/** RocketMQ's defaults for a group named name (truncated to fit). */
void fm_store_group_defaults(fm_store_group *g, const char *name);

/**
 * Create or replace a group's config (a whole replacement, as RocketMQ's) and persist the
 * table. FM_OK, FM_EINVAL (empty or overlong name), FM_ENOMEM, FM_EIO (not persisted: the
 * table in memory is unchanged).
 */
int fm_store_group_put(fm_store *st, const fm_store_group *g, fm_errbuf *eb);

/** Copy a group's config into *out. FM_OK or FM_ENOTFOUND. */
int fm_store_group_get(fm_store *st, const char *name, fm_store_group *out);

/** Remove a group's config and persist the table. FM_OK, FM_ENOTFOUND, FM_EIO. */
int fm_store_group_delete(fm_store *st, const char *name, fm_errbuf *eb);

/** Call cb for each group; stops at the first non-FM_OK return and returns it. */
int fm_store_group_foreach(fm_store *st, int (*cb)(const fm_store_group *g, void *ud), void *ud);

/**
 * A group's config as the JSON object RocketMQ writes (fastjson's field order); owned by the
 * caller (cJSON_Delete), NULL when out of memory.
 */
struct cJSON *fm_store_group_to_json(const fm_store_group *g);

/**
 * Read a SubscriptionGroupConfig JSON object into *g: absent fields take RocketMQ's defaults;
 * the name is groupName, else `name` (a table key). FM_OK or FM_EINVAL with eb set.
 */
int fm_store_group_from_json(const struct cJSON *o, const char *name, fm_store_group *g,
                             fm_errbuf *eb);

/** The group table's dataVersion: the wall time of its last change and a change counter. */
void fm_store_group_version(fm_store *st, int64_t *timestamp_ms, int64_t *counter);

/** Record a group's consumed offset for a queue (persisted by fm_store_tick / close). */
int fm_store_offset_commit(fm_store *st, const char *group, const char *topic, int qid,
                           int64_t offset);

/** A group's committed offset. FM_OK or FM_ENOTFOUND. */
int fm_store_offset_query(fm_store *st, const char *group, const char *topic, int qid,
                          int64_t *offset);

/**
 * Call cb for every committed offset (any order); stops at the first non-FM_OK return and
 * returns it. cb must not commit offsets.
 */
int fm_store_offset_foreach(fm_store *st,
                            int (*cb)(const char *group, const char *topic, int qid, int64_t offset,
                                      void *ud),
                            void *ud);

/**
 * Forget the committed offsets of a group (every topic), or of a topic (every group) when
 * group is NULL; persisted by the next fm_store_tick, or at once with fm_store_offsets_persist.
 * Returns how many queue offsets were removed.
 */
int fm_store_offset_remove(fm_store *st, const char *group, const char *topic);

/**
 * Write the committed offsets to disk now, on the calling thread (after any snapshot the meta
 * thread is writing, which is older). For changes that must survive a crash once answered,
 * such as an offset reset. FM_OK, or FM_EIO / FM_ENOSPC / FM_ENOMEM with eb set.
 */
int fm_store_offsets_persist(fm_store *st, fm_errbuf *eb);

/**
 * Periodic work: persist offsets if changed, write the checkpoint. Only takes a snapshot
 * (offsets as JSON, dups of the files to sync) and hands it to the store's meta thread, which
 * does the fsyncs; while it still writes the last one, the tick does nothing.
 */
void fm_store_tick(fm_store *st, int64_t now_wall_ms);

/** Wait until what fm_store_tick handed to the meta thread is written (or failed). */
void fm_store_tick_wait(fm_store *st);

/** One consume-queue entry as stored (QUERY_CONSUME_QUEUE shows them). */
typedef struct fm_store_cq_row {
    uint64_t phys;
    uint32_t size; /* 0: a hole */
    int64_t tag_hash;
} fm_store_cq_row;

/**
 * Up to max entries of topic/qid from queue offset from into rows, *n how many, and the
 * queue's min and max offsets. FM_OK, FM_ENOTFOUND (no such queue).
 */
int fm_store_queue_rows(fm_store *st, const char *topic, int qid, int64_t from, int max,
                        fm_store_cq_row *rows, int *n, int64_t *min, int64_t *max_off);

/** The store's root directory (cfg.dir). */
const char *fm_store_dir(const fm_store *st);

/** Change the retention (fileReservedTime) of a running store. */
void fm_store_set_retention(fm_store *st, int64_t retention_ms);

/** Delete segments older than retention; returns how many were deleted. */
int fm_store_retention_run(fm_store *st, int64_t now_wall_ms);

/**
 * 1 when a record with this sysflag gets a consume-queue entry. As RocketMQ's CommitLog
 * dispatch: a record whose transaction type (sysflag bits 0x4|0x8) is PREPARED (0x4) or
 * ROLLBACK (0xC) is kept in the log (readable by offset) but never indexed, so no pull,
 * filter or consumer can reach it; fm_store_append gives it queue offset 0. Thread: any.
 */
int fm_store_record_indexed(int32_t sysflag);

/** Java String.hashCode of a tag (what consume-queue entries carry). */
int64_t fm_store_tag_hash(fm_slice tag);

#endif
