/*
 * store_int.h - private to src/store and its unit tests.
 */
#ifndef FM_STORE_STORE_INT_H
#define FM_STORE_STORE_INT_H

#include "common/file.h"
#include "common/lockfile.h"
#include "common/map.h"
#include "proto/msg.h"
#include "store/index.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>

#define FM_CQ_ENTRY 20
#define FM_CQ_GROW (1u << 20)

typedef struct seg {
    uint64_t start; /* commit log offset of byte 0 */
    int fd;
    uint8_t *map; /* segment_size bytes */
    int pins;     /* readers holding records of this segment */
    int64_t last_write_ms;
    uint64_t file_size; /* bytes the file had when opened: a shorter file was cut there */
    char path[340];
} seg;

typedef struct cq {
    char topic[128];
    int qid;
    int fd;
    uint8_t *map;
    size_t map_len; /* file size == mapped bytes */
    int64_t max;    /* entries written */
    int64_t min;    /* first entry still in the log */
    int dirty;      /* written since the last checkpoint */
    int walk_gen;   /* recovery: the walk that last saw a record of this queue */
} cq;

/* What the meta thread makes durable, taken by the loop thread in one go. */
typedef struct fm_store_meta_snap {
    int *fds; /* dup'ed consume queue and index files written since the last checkpoint */
    size_t n_fds, cap_fds;
    char ckpt[96]; /* the checkpoint to write once all of them are synced; "" for none */
    char *offsets; /* consumerOffset.json's text, or NULL (malloc'ed) */
} fm_store_meta_snap;
#define FM_STORE_META_FAILED_SYNC 1    /* mark every queue and index file dirty again */
#define FM_STORE_META_FAILED_OFFSETS 2 /* save the offsets again */

struct fm_store {
    fm_store_cfg cfg;
    fm_lockfile lock; /* <dir>/lock, held from the first step of open to the last of close */
    char cl_dir[300], cq_dir[300], cfg_dir[300];

    seg **segs; /* ascending; the last is the active one */
    size_t n_segs, cap_segs;
    _Atomic uint64_t write_pos; /* absolute commit log end, staged bytes included */

    /* staging (commitlog.c): [stage_from, write_pos) is in `stage`, not yet in the file */
    uint8_t *stage; /* FM_STORE_STAGE_SIZE bytes, allocated at the first append */
    size_t stage_len;
    uint64_t stage_from;
    _Atomic uint64_t committed; /* in the page cache up to here; the flush thread syncs to it */
    int commit_failing;         /* the last commit failed (logged once until one succeeds) */

    fm_map cqs;     /* "topic\x01qid" -> cq* */
    cq *last_cq;    /* the queue of the last append (queues live until the store closes) */
    fm_map topics;  /* name -> fm_store_topic* */
    fm_map offsets; /* "topic@group\x01qid" -> int64_t* */
    fm_map groups;  /* name -> fm_store_group* (groups.c) */
    fm_map deleted; /* deleted topic -> uint64_t*: log end at its deletion (records before are
                     * not its any more) */
    int64_t groups_ts, groups_counter; /* the group table's dataVersion */
    int offsets_dirty;

    /* flushing: the flush thread and fm_store_sync share these under flush_mu */
    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    pthread_t flush_thread;
    int flush_thread_running;
    int flush_stop;
    _Atomic uint64_t flushed; /* durable up to here */
    /* commit log flushes by duration (fm_store_flush_stats): written by whichever thread
     * flushes, read by the broker's /metrics */
    _Atomic uint64_t flush_buckets[FM_STORE_FLUSH_BUCKETS];
    _Atomic uint64_t flush_ns;
    int sync_fds[8]; /* segments rolled since the last sync (fds dup'ed) */
    int n_sync_fds;
    int64_t last_checkpoint_ms;

    /* warming: a thread reads the active segment's pages in ahead of write_pos, so the loop
     * thread's appends do not allocate and zero them: a fifth of a busy broker's time */
    pthread_mutex_t warm_mu; /* the warm thread's; also taken (inside flush_mu) wherever the
                              * segment list changes, so warming never waits for a sync */
    pthread_cond_t warm_cv;  /* with warm_mu */
    pthread_t warm_thread;
    int warm_thread_running;
    int warm_stop;
    uint64_t warmed;            /* read in up to here (warm thread) */
    _Atomic uint64_t warm_poke; /* an append reaching this wakes the warm thread */
    atomic_int warm_poked;      /* set by that append */

    fm_store_index *ix; /* NULL when messageIndexEnable is off, or after an index failure */
    char ix_dir[300];

    /* metadata: the loop thread takes a snapshot (fm_store_tick), the meta thread makes it
     * durable; an fsync costs 5-20 ms here, which on the loop thread stalled every client of
     * the broker every 5 s (the lag p999 of 20 ms). Under meta_mu. */
    pthread_mutex_t meta_mu;
    pthread_cond_t meta_cv;
    pthread_t meta_thread;
    int meta_thread_running;
    int meta_stop;
    int meta_busy; /* a snapshot is posted or being written: the next waits a tick */
    fm_store_meta_snap meta_snap;
    atomic_int meta_failed; /* FM_STORE_META_FAILED_* bits, for the loop thread to redo */
};

/* commitlog.c */
int fm_store_cl_open(fm_store *st, fm_errbuf *eb);
void fm_store_cl_close(fm_store *st);
seg *fm_store_cl_find(fm_store *st, uint64_t phys);
/* Pointer to `len` bytes at phys, or NULL when not inside one kept segment's written part. */
const uint8_t *fm_store_cl_at(fm_store *st, uint64_t phys, size_t len, seg **sg);
/* Stage a record at the log end (loop thread). It reaches the file at the next
 * fm_store_cl_commit, which fm_store_cl_at, fm_store_sync, a segment roll and fm_store_commit
 * do first; until then nothing may acknowledge it. */
#define FM_STORE_STAGE_SIZE ((size_t)256 << 10)
int fm_store_cl_append(fm_store *st, const uint8_t *rec, size_t len, uint64_t *phys, fm_errbuf *eb);
/* pwrite what is staged. FM_OK (committed == write_pos), or FM_EIO / FM_ENOSPC: the bytes stay
 * staged (logged as FM-STORE-WRITE-FAIL) and the next call tries again. */
int fm_store_cl_commit(fm_store *st, fm_errbuf *eb);
int fm_store_cl_sync(fm_store *st, fm_errbuf *eb);
/* Start writing back what fm_store_cl_sync would sync, FM_STORE_WRITEBACK_CHUNK bytes per call
 * with a sched_yield between them (flush thread, flush_mu held). Why: the kernel does the
 * writeback's CPU work in the caller, and one fdatasync of half a second of appends kept a
 * core for 1.5-3 ms; time slices on this kernel end only at its 4 ms tick, so the threads
 * queued behind the flush waited that out (perf sched). Durability is still fdatasync's. */
#define FM_STORE_WRITEBACK_CHUNK ((uint64_t)256 << 10)
void fm_store_cl_start_writeback(fm_store *st);
/* Read the next stretch of at most FM_STORE_WARM_CHUNK bytes of the active segment, up to
 * FM_STORE_WARM_AHEAD past write_pos, into the page cache (warm thread, warm_mu held;
 * released during the call). 0 when the file takes no POSIX_FADV_WILLNEED: stop trying; 1
 * when there was nothing to do; 2 when it read pages in and is FM_STORE_WARM_AHEAD ahead; 3
 * when it read pages in and more are due. Why chunks: a page costs ~12 us on this VM (the
 * zeroing of fresh memory), and one call over megabytes kept a core for 4-14 ms (perf
 * sched), which the threads queued behind it waited out. */
#define FM_STORE_WARM_AHEAD ((uint64_t)16 << 20)
#define FM_STORE_WARM_CHUNK ((uint64_t)64 << 10)
int fm_store_cl_warm(fm_store *st);
/* Called for each valid record the recovery walk passes; a non-FM_OK return stops it. */
typedef int (*fm_store_cl_record_fn)(fm_store *st, uint64_t phys, const fm_msg_view *m, void *ud);
/* Walk the log from `from` (a record boundary, normally a segment start) to its end, checking
 * every record (size, magic, physical offset, properties, body CRC) and calling cb for each.
 * A segment that ends early while the next one starts with a valid record is closed with a
 * BLANK record over the gap (FM-STORE-SEGMENT-GAP) and the walk goes on; the first invalid
 * byte otherwise is the end: the rest of its segment is zeroed (FM-STORE-TORN-TAIL) and later
 * segments are dropped (FM-STORE-SEGMENT-DROPPED). *end receives the log end. */
int fm_store_cl_recover(fm_store *st, uint64_t from, fm_store_cl_record_fn cb, void *ud,
                        uint64_t *end, fm_errbuf *eb);

/* cq.c */
cq *fm_store_cq_get(fm_store *st, const char *topic, int qid, int create);
int fm_store_cq_append(fm_store *st, cq *q, uint64_t phys, uint32_t size, int64_t tag_hash);
int fm_store_cq_put_at(fm_store *st, cq *q, int64_t index, uint64_t phys, uint32_t size,
                       int64_t tag_hash);
void fm_store_cq_entry(const cq *q, int64_t index, uint64_t *phys, uint32_t *size,
                       int64_t *tag_hash);
int fm_store_cq_load_all(fm_store *st, fm_errbuf *eb);
void fm_store_cq_close_all(fm_store *st);
int fm_store_cq_sync_all(fm_store *st);
/* Append a dup of every dirty queue file to snap->fds and mark them clean. FM_OK or FM_EIO
 * (a dup failed: every queue counts as dirty again, and snap->fds is as it was). */
int fm_store_cq_take_dirty(fm_store *st, fm_store_meta_snap *snap);
void fm_store_cq_mark_all_dirty(fm_store *st);

/* meta.c */
int fm_store_meta_load(fm_store *st, fm_errbuf *eb);
int fm_store_meta_save_topics(fm_store *st, fm_errbuf *eb);
/* 1 when the record at phys belongs to a topic deleted after it was written (store.c). */
int fm_store_topic_deleted_at(fm_store *st, fm_slice topic, uint64_t phys);
/* A whole file into *out (malloc'd, NUL-terminated; NULL when the file does not exist). */
int fm_store_meta_read(const char *path, char **out, fm_errbuf *eb);
/* groups.c: the default groups, then config/subscriptionGroup.json over them. */
int fm_store_groups_load(fm_store *st, fm_errbuf *eb);
int fm_store_meta_save_offsets(fm_store *st, fm_errbuf *eb);
/* consumerOffset.json's text (caller frees), NULL when out of memory. */
char *fm_store_meta_offsets_json(fm_store *st);

#endif
