/*
 * store.c - the store's public API: open/recover, append, read, offsets, topics, flushing,
 * retention.
 */
#include "store/store_int.h"

#include "common/clock.h"
#include "common/log.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int fm_store_cl_next_pos(fm_store *st, size_t len, uint64_t *phys);
int fm_store_cl_delete_old(fm_store *st, int64_t now_ms);

/* Bounds how many entries one read scans when a filter rejects them (RocketMQ scans a bounded
 * window too), so a selective subscription cannot make one pull walk a whole queue. */
#define MAX_SCAN 16000
#define CHECKPOINT_PERIOD_MS 1000

void
fm_store_cfg_defaults(fm_store_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->dir, sizeof(cfg->dir), "ferrymq-data");
    cfg->segment_size = (uint64_t)1 << 30;
    cfg->flush_sync = 0;
    cfg->flush_interval_ms = 500;
    cfg->retention_ms = 72LL * 3600 * 1000;
    cfg->max_msg_size = 4u << 20;
    cfg->index_enable = 1;
    cfg->index_slots = 1000000;
    cfg->index_num = 4000000;
}

int
fm_store_record_indexed(int32_t sysflag)
{
    int tx = sysflag & FM_MSG_SYSFLAG_TX_ROLLBACK; /* the two transaction-type bits */
    return tx != FM_MSG_SYSFLAG_TX_PREPARED && tx != FM_MSG_SYSFLAG_TX_ROLLBACK;
}

int64_t
fm_store_tag_hash(fm_slice tag)
{
    return (int64_t)fm_proto_java_hash(tag);
}

/* ---- checkpoint ----
 *
 * "ferrymq-checkpoint 2 <C> <queues>": the commit log up to C is durable, every consume-queue
 * entry of a record before C is durable, and so are the names of the <queues> queue files.
 * What makes it true is the order in checkpoint_write: C is read first and is at most what
 * the log flush made durable; then every queue file written since the last checkpoint is
 * fdatasynced (their names were synced into their directories when they were created); only
 * then is the file replaced (temp file, fsync, rename, fsync of the directory). A power cut
 * anywhere in between leaves the old checkpoint, which claims less. Version 1 files (offset
 * only) are read as claiming nothing about queue files.
 */

typedef struct ckpt {
    uint64_t offset;
    long long queues; /* -1: unknown */
} ckpt;

static ckpt
checkpoint_read(fm_store *st)
{
    char path[400], buf[96];
    ckpt c = {0, -1};
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "%s/checkpoint", st->cfg.dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return c;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return c;
    }
    buf[n] = '\0';
    {
        unsigned long long off;
        long long queues;
        int ver;
        int got = sscanf(buf, "ferrymq-checkpoint %d %llu %lld", &ver, &off, &queues);
        if (got >= 2 && ver == 1) {
            c.offset = off;
        } else if (got == 3 && ver == 2 && queues >= 0) {
            c.offset = off;
            c.queues = queues;
        }
        /* anything else: C = 0, rescan everything */
    }
    return c;
}

/* The checkpoint's text as of now (the first step: read before any queue file is synced). */
static void
checkpoint_text(fm_store *st, char *buf, size_t cap)
{
    uint64_t at = st->write_pos, flushed = atomic_load(&st->flushed);
    /* In ASYNC_FLUSH mode the log may be durable only up to `flushed`; a checkpoint past that
     * would let recovery skip checking records a power cut can still take away. */
    if (flushed < at) {
        at = flushed;
    }
    snprintf(buf, cap, "ferrymq-checkpoint 2 %" PRIu64 " %zu\n", at, st->cqs.n);
}

static void
checkpoint_replace(fm_store *st, const char *text)
{
    fm_errbuf eb;
    if (fm_file_write_atomic(st->cfg.dir, "checkpoint", text, strlen(text), &eb) != FM_OK) {
        FM_LOGW("store", "FM-STORE-CHECKPOINT-FAIL", "msg=\"%s\"", eb.msg);
    }
}

static void
checkpoint_write(fm_store *st)
{
    char buf[96];
    checkpoint_text(st, buf, sizeof(buf));
    if (fm_store_cq_sync_all(st) != FM_OK ||
        (st->ix != NULL && fm_store_index_sync(st->ix) != FM_OK)) {
        return; /* keep the old checkpoint: recovery rescans a bit more */
    }
    checkpoint_replace(st, buf);
}

/* ---- recovery: consume queues checked against the log ---- */

typedef struct walk {
    int gen;          /* marks the queues this walk has seen (cq.walk_gen) */
    int full;         /* walking from the oldest segment: nothing before it to distrust */
    int distrust;     /* a queue lacks entries before the walk's start: redo from the oldest */
    int cq_fail;      /* a consume queue could not be opened */
    uint64_t fixed;   /* entries written because the queue file lacked or disagreed */
    uint64_t records; /* records walked */
} walk;

/* The queue entry for a record the walk found valid: write it unless the file already holds
 * exactly it. Idempotent, so a walk may be repeated. */
static int
dispatch(fm_store *st, uint64_t phys, const fm_msg_view *m, void *ud)
{
    walk *w = ud;
    char topic[256];
    cq *q;
    int64_t idx = m->queue_offset;
    int rc;
    w->records++;
    if (!fm_store_record_indexed(m->sysflag)) {
        return FM_OK; /* prepared and rolled-back transactional records are never queued */
    }
    if (m->topic.len == 0 || fm_slice_to_cstr(m->topic, topic, sizeof(topic)) != FM_OK ||
        m->queue_id < 0 || m->queue_id > 65535 || idx < 0 ||
        (uint64_t)idx > phys / FM_MSG_MIN_SIZE) {
        /* the CRC covers the body only: a header that cannot be ours is skipped, not obeyed
         * (a queue offset can never exceed the records before it) */
        FM_LOGW("store", "FM-STORE-REBUILD-SKIP", "phys=%" PRIu64 " qid=%d queue_offset=%" PRId64,
                phys, m->queue_id, idx);
        return FM_OK;
    }
    if (fm_store_topic_deleted_at(st, m->topic, phys)) {
        return FM_OK; /* a record of a topic deleted after it: no queue of it comes back */
    }
    q = fm_store_cq_get(st, topic, m->queue_id, 1);
    if (q == NULL) {
        w->cq_fail = 1;
        return FM_EIO;
    }
    if (q->walk_gen != w->gen) {
        q->walk_gen = w->gen;
        /* The first record of this queue since the walk's start is beyond the queue's end:
         * either those entries' records were lost, or the queue file lost entries that the
         * checkpoint said were durable. Only a walk from the oldest segment tells which. */
        if (idx > q->max && !w->full) {
            w->distrust = 1;
        }
    }
    if (idx < q->max) {
        uint64_t e_phys;
        uint32_t e_size;
        int64_t e_hash;
        fm_store_cq_entry(q, idx, &e_phys, &e_size, &e_hash);
        if (e_phys == phys && e_size == m->total_size) {
            return FM_OK;
        }
    } else if (idx > q->max) {
        FM_LOGW("store", "FM-STORE-CQ-GAP", "topic=%s qid=%d have=%" PRId64 " record=%" PRId64,
                topic, m->queue_id, q->max, idx);
        /* holes up to the record: skipped by readers, ordered like the records around them */
        while (q->max < idx) {
            if ((rc = fm_store_cq_put_at(st, q, q->max, phys, 0, 0)) != FM_OK) {
                return rc;
            }
        }
    }
    rc = fm_store_cq_put_at(st, q, idx, phys, m->total_size,
                            fm_store_tag_hash(fm_props_get(m->properties, FM_PROP_TAGS)));
    if (rc == FM_OK) {
        w->fixed++;
    }
    return rc;
}

/* Is entry idx of a queue exactly a record of the log (size, offset, queue offset)? */
static int
entry_is_record(fm_store *st, int64_t idx, uint64_t phys, uint32_t size)
{
    const uint8_t *p;
    if (size < FM_MSG_MIN_SIZE || (p = fm_store_cl_at(st, phys, size, NULL)) == NULL) {
        return 0;
    }
    return fm_be32(p) == size && fm_be64(p + FM_MSG_OFF_PHYSOFFSET) == phys &&
           (int64_t)fm_be64(p + FM_MSG_OFF_QUEUEOFFSET) == idx;
}

/* After a walk from `from`: every record from there on has its entry, so an entry pointing at
 * or past `from` that is not a record is stale (its record was lost or cut). Stale entries at
 * a queue's end are trimmed; below the end they become holes. */
static void
drop_stale_entries(fm_store *st, uint64_t from)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        cq *q = val;
        int64_t before = q->max, holes = 0;
        uint64_t phys;
        uint32_t size;
        int64_t h;
        while (q->max > 0) {
            fm_store_cq_entry(q, q->max - 1, &phys, &size, &h);
            if (size != 0 && (phys < from || entry_is_record(st, q->max - 1, phys, size))) {
                break;
            }
            memset(q->map + (size_t)(q->max - 1) * FM_CQ_ENTRY, 0, FM_CQ_ENTRY);
            q->max--;
            q->dirty = 1;
        }
        for (int64_t i = q->max - 1; i >= 0; i--) {
            fm_store_cq_entry(q, i, &phys, &size, &h);
            if (phys < from) {
                break;
            }
            if (size != 0 && !entry_is_record(st, i, phys, size)) {
                fm_put_be32(q->map + (size_t)i * FM_CQ_ENTRY + 8, 0);
                q->dirty = 1;
                holes++;
            }
        }
        if (q->max != before) {
            FM_LOGW("store", "FM-STORE-CQ-TRIMMED", "topic=%s qid=%d from=%" PRId64 " to=%" PRId64,
                    q->topic, q->qid, before, q->max);
        }
        if (holes > 0) {
            FM_LOGW("store", "FM-STORE-CQ-HOLE", "topic=%s qid=%d entries=%" PRId64, q->topic,
                    q->qid, holes);
        }
    }
}

/* Walk the log from `from` (a segment start), fixing queue entries as we go. */
static int
recover_walk(fm_store *st, uint64_t from, walk *w, uint64_t *end, fm_errbuf *eb)
{
    int rc;
    w->gen++;
    w->distrust = 0;
    w->fixed = w->records = 0;
    w->cq_fail = 0;
    rc = fm_store_cl_recover(st, from, dispatch, w, end, eb);
    if (w->cq_fail) {
        return fm_err_sys(eb, FM_EIO, errno, "cannot open a consume queue under %s", st->cq_dir);
    }
    if (rc != FM_OK) {
        return rc;
    }
    st->write_pos = *end;
    st->stage_from = *end;
    atomic_store(&st->committed, *end);
    drop_stale_entries(st, from);
    return FM_OK;
}

/* Index the records from `from` (what the index lacks after its own recovery) to the log end,
 * which the walk has already checked record by record. */
static void
index_from(fm_store *st, uint64_t from, uint64_t end)
{
    uint64_t pos = from, size = st->cfg.segment_size, indexed = 0;
    while (st->ix != NULL && pos < end) {
        seg *s = fm_store_cl_find(st, pos);
        size_t off;
        fm_msg_view m;
        fm_errbuf ieb;
        uint64_t before;
        if (s == NULL) {
            break;
        }
        off = (size_t)(pos - s->start);
        if (size - off < 8 || fm_be32(s->map + off + 4) == FM_MSG_MAGIC_BLANK) {
            pos = s->start + size;
            continue;
        }
        if (fm_msg_decode(s->map + off, (size_t)(end - pos < size - off ? end - pos : size - off),
                          &m, NULL) != FM_OK) {
            /* no record starts here (the index named a point inside one): the next start
             * indexes again from the index's own durable point */
            FM_LOGW("store", "FM-STORE-INDEX-FAIL", "phys=%" PRIu64 " msg=\"no record here\"", pos);
            break;
        }
        before = fm_store_index_entries(st->ix);
        if (fm_store_record_indexed(m.sysflag) &&
            fm_store_index_put(st->ix, &m, pos, m.store_timestamp, &ieb) != FM_OK) {
            /* Messages matter more than lookups: open without the index, as an append that
             * cannot index does; the next start tries again from here. */
            FM_LOGE("store", "FM-STORE-INDEX-FAIL", "phys=%" PRIu64 " msg=\"%s\"", pos, ieb.msg);
            fm_store_index_sync(st->ix);
            fm_store_index_close(st->ix);
            st->ix = NULL;
            break;
        }
        indexed += fm_store_index_entries(st->ix) - before;
        pos += m.total_size;
    }
    if (indexed > 0) {
        FM_LOGI("store", "FM-STORE-INDEX-REBUILT", "entries=%" PRIu64 " from=%" PRIu64, indexed,
                from);
    }
}

/* The record starting at phys, decoded, or 0 when no record starts there. */
static int
record_at(fm_store *st, uint64_t phys, fm_msg_view *m)
{
    const uint8_t *p = fm_store_cl_at(st, phys, 8, NULL);
    uint32_t total;
    if (p == NULL) {
        return 0;
    }
    total = fm_be32(p);
    p = fm_store_cl_at(st, phys, total, NULL);
    return p != NULL && fm_msg_decode(p, total, m, NULL) == FM_OK &&
           (uint64_t)m->phys_offset == phys;
}

/* Does the record's UNIQ_KEY (uniq) or one of its KEYS words equal key / hash to hash? */
static int
record_has_key(const fm_msg_view *m, fm_slice key, uint32_t hash, int by_hash, int uniq)
{
    fm_slice u = fm_props_get(m->properties, FM_PROP_UNIQ_KEY);
    fm_slice keys = fm_props_get(m->properties, FM_PROP_KEYS);
    if (by_hash || uniq) {
        if (u.len > 0 &&
            (by_hash ? fm_store_index_hash(m->topic, u) == hash : fm_slice_eq(u, key))) {
            return 1;
        }
        if (!by_hash) {
            return 0;
        }
    }
    for (size_t i = 0, start = 0; i <= keys.len; i++) {
        fm_slice w;
        if (i < keys.len && keys.ptr[i] != ' ') {
            continue;
        }
        w = fm_slice_make(keys.ptr + start, i - start);
        start = i + 1;
        if (w.len > 0 &&
            (by_hash ? fm_store_index_hash(m->topic, w) == hash : fm_slice_eq(w, key))) {
            return 1;
        }
    }
    return 0;
}

static int
index_check(void *ud, uint32_t hash, uint64_t phys)
{
    fm_msg_view m;
    return record_at(ud, phys, &m) && record_has_key(&m, fm_slice_make(NULL, 0), hash, 1, 0);
}

typedef struct query_ctx {
    fm_store *st;
    fm_slice topic, key;
    int uniq;
} query_ctx;

static int
index_match(void *ud, uint64_t phys)
{
    query_ctx *q = ud;
    fm_msg_view m;
    return record_at(q->st, phys, &m) && fm_slice_eq(m.topic, q->topic) &&
           !fm_store_topic_deleted_at(q->st, m.topic, phys) &&
           record_has_key(&m, q->key, 0, 0, q->uniq);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int
fm_store_query_by_key(fm_store *st, const char *topic, fm_slice key, int uniq, int max_msgs,
                      int64_t begin_ms, int64_t end_ms, fm_buf *out, fm_store_query_result *r)
{
    uint64_t phys[FM_STORE_MAX_GET];
    query_ctx q;
    size_t n = 0, bytes = 0;
    r->n_msgs = 0;
    r->last_update_ts = 0;
    r->last_update_phys = 0;
    if (max_msgs <= 0 || max_msgs > FM_STORE_MAX_GET) {
        return FM_EINVAL;
    }
    if (st->ix == NULL || key.len == 0) {
        return FM_OK;
    }
    fm_store_index_last_update(st->ix, &r->last_update_ts, &r->last_update_phys);
    q.st = st;
    q.topic = fm_slice_cstr(topic);
    q.key = key;
    q.uniq = uniq;
    fm_store_index_lookup(st->ix, q.topic, key, begin_ms, end_ms, index_match, &q, phys,
                          (size_t)max_msgs, &n);
    qsort(phys, n, sizeof(phys[0]), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = fm_store_cl_at(st, phys[i], 8, NULL);
        uint32_t total = p ? fm_be32(p) : 0;
        int rc;
        if (p == NULL || (r->n_msgs > 0 && bytes + total > FM_STORE_QUERY_MAX_BYTES)) {
            break;
        }
        if ((rc = fm_store_read_at(st, phys[i], out, NULL)) == FM_ENOMEM) {
            return rc;
        }
        if (rc == FM_OK) {
            r->n_msgs++;
            bytes += total;
        }
    }
    return FM_OK;
}

static void
update_min_offsets(fm_store *st)
{
    uint64_t min_phys = fm_store_min_phys_offset(st);
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        cq *q = val;
        /* entries are in commit log order: binary search the first one still kept */
        int64_t lo = q->min, hi = q->max;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            uint64_t phys;
            uint32_t size;
            int64_t h;
            fm_store_cq_entry(q, mid, &phys, &size, &h);
            if (phys < min_phys) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        q->min = lo;
    }
}

static void *
flush_main(void *arg)
{
    fm_store *st = arg;
    pthread_setname_np(pthread_self(), "fm-store-flush");
    pthread_mutex_lock(&st->flush_mu);
    while (!st->flush_stop) {
        struct timespec ts;
        fm_errbuf eb;
        fm_clock_wall_deadline(&ts, st->cfg.flush_interval_ms);
        pthread_cond_timedwait(&st->flush_cv, &st->flush_mu, &ts);
        /* write_pos is advanced by the loop thread; a slightly stale read only means this
         * round flushes a little less. The segment list is stable while we hold flush_mu. */
        fm_store_cl_start_writeback(st);
        if (fm_store_cl_sync(st, &eb) != FM_OK) {
            FM_LOGE("store", "FM-STORE-FLUSH-FAIL", "msg=\"%s\"", eb.msg);
        }
    }
    pthread_mutex_unlock(&st->flush_mu);
    return NULL;
}

static void *
warm_main(void *arg)
{
    fm_store *st = arg;
    struct sched_param idle = {.sched_priority = 0};
    pthread_setname_np(pthread_self(), "fm-store-warm");
    /* Faulting pages in ahead is worth doing only with a core to spare: at SCHED_IDLE any
     * woken thread preempts it and the scheduler counts its core as idle when it places
     * wake-ups. Starved, it falls behind and the appends take their own faults. */
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    pthread_mutex_lock(&st->warm_mu);
    while (!st->warm_stop) {
        struct timespec ts;
        int r = fm_store_cl_warm(st);
        if (r == 0) {
            FM_LOGI("store", "FM-STORE-WARM-OFF", "reason=\"no POSIX_FADV_WILLNEED\"");
            break;
        }
        if (r == 3) {
            continue;
        }
        if (atomic_exchange(&st->warm_poked, 0)) {
            continue; /* poked while warming: the appends are ahead already */
        }
        /* The appends poke without warm_mu (they must not wait), so a poke can fall between
         * the check above and the wait: while busy, a short timeout bounds that. */
        fm_clock_wall_deadline(&ts, r == 2 ? 5 : 100);
        pthread_cond_timedwait(&st->warm_cv, &st->warm_mu, &ts);
    }
    pthread_mutex_unlock(&st->warm_mu);
    return NULL;
}

/* Make a snapshot durable: the queue and index files, then (only if they all synced) the
 * checkpoint taken before them, and the offsets. What fails is redone from the loop thread. */
static void
meta_write(fm_store *st, fm_store_meta_snap *sn)
{
    int synced = 1;
    fm_errbuf eb;
    for (size_t i = 0; i < sn->n_fds; i++) {
        if (fdatasync(sn->fds[i]) != 0 && synced) {
            FM_LOGW("store", "FM-STORE-CHECKPOINT-FAIL", "msg=\"fdatasync: %s\"", strerror(errno));
            synced = 0;
        }
        close(sn->fds[i]);
    }
    sn->n_fds = 0;
    if (!synced) {
        atomic_fetch_or(&st->meta_failed, FM_STORE_META_FAILED_SYNC);
    } else if (sn->ckpt[0] != '\0') {
        checkpoint_replace(st, sn->ckpt);
    }
    sn->ckpt[0] = '\0';
    if (sn->offsets != NULL) {
        if (fm_file_write_atomic(st->cfg_dir, "consumerOffset.json", sn->offsets,
                                 strlen(sn->offsets), &eb) != FM_OK) {
            FM_LOGE("store", "FM-STORE-OFFSETS-SAVE-FAIL", "msg=\"%s\"", eb.msg);
            atomic_fetch_or(&st->meta_failed, FM_STORE_META_FAILED_OFFSETS);
        }
        free(sn->offsets);
        sn->offsets = NULL;
    }
}

static void *
meta_main(void *arg)
{
    fm_store *st = arg;
    pthread_setname_np(pthread_self(), "fm-store-meta");
    pthread_mutex_lock(&st->meta_mu);
    for (;;) {
        while (!st->meta_busy && !st->meta_stop) {
            pthread_cond_wait(&st->meta_cv, &st->meta_mu);
        }
        if (!st->meta_busy) {
            break; /* stopping, and what was posted is written */
        }
        pthread_mutex_unlock(&st->meta_mu);
        meta_write(st, &st->meta_snap);
        pthread_mutex_lock(&st->meta_mu);
        st->meta_busy = 0;
        pthread_cond_broadcast(&st->meta_cv); /* fm_store_offsets_persist may wait for it */
    }
    pthread_mutex_unlock(&st->meta_mu);
    return NULL;
}

int
fm_store_open(const fm_store_cfg *cfg, fm_store **out, fm_errbuf *eb)
{
    fm_store *st;
    uint64_t end, walked_from;
    int rc;
    if (cfg->segment_size < 4096) {
        return fm_err_set(eb, FM_EINVAL, "segment size %" PRIu64 " is below 4096",
                          cfg->segment_size);
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    st->cfg = *cfg;
    if (st->cfg.max_msg_size > st->cfg.segment_size - 8) {
        st->cfg.max_msg_size = st->cfg.segment_size - 8;
    }
    st->lock.fd = -1;
    pthread_mutex_init(&st->flush_mu, NULL);
    pthread_cond_init(&st->flush_cv, NULL);
    pthread_mutex_init(&st->warm_mu, NULL);
    pthread_cond_init(&st->warm_cv, NULL);
    pthread_mutex_init(&st->meta_mu, NULL);
    pthread_cond_init(&st->meta_cv, NULL);
    atomic_init(&st->warm_poke, UINT64_MAX);
    /* The lock comes before anything else is read or written: a second process on this store
     * must not run recovery (which trims queue entries) on files a live broker is appending
     * to. Only the root itself may be created first, to hold the lock file. */
    if ((rc = fm_store_mkdirs(cfg->dir, eb)) != FM_OK) {
        fm_store_close(st);
        return rc;
    }
    {
        char lock_path[400];
        snprintf(lock_path, sizeof(lock_path), "%s/lock", cfg->dir);
        if ((rc = fm_lockfile_acquire(&st->lock, lock_path, NULL, eb)) != FM_OK) {
            fm_store_close(st);
            return rc;
        }
    }
    snprintf(st->cl_dir, sizeof(st->cl_dir), "%s/commitlog", cfg->dir);
    snprintf(st->cq_dir, sizeof(st->cq_dir), "%s/consumequeue", cfg->dir);
    snprintf(st->cfg_dir, sizeof(st->cfg_dir), "%s/config", cfg->dir);
    snprintf(st->ix_dir, sizeof(st->ix_dir), "%s/index", cfg->dir);
    if ((rc = fm_store_mkdirs(st->cl_dir, eb)) != FM_OK ||
        (rc = fm_store_mkdirs(st->cq_dir, eb)) != FM_OK ||
        (rc = fm_store_mkdirs(st->cfg_dir, eb)) != FM_OK) {
        fm_store_close(st);
        return rc;
    }
    if ((rc = fm_store_meta_load(st, eb)) != FM_OK ||
        (rc = fm_store_groups_load(st, eb)) != FM_OK || (rc = fm_store_cl_open(st, eb)) != FM_OK ||
        (rc = fm_store_cq_load_all(st, eb)) != FM_OK) {
        fm_store_close(st);
        return rc;
    }
    {
        ckpt c = checkpoint_read(st);
        uint64_t min = fm_store_min_phys_offset(st), from;
        seg *s = fm_store_cl_find(st, c.offset);
        walk w = {0};
        /* The walk starts at the start of the checkpoint's segment (the last segment was
         * walked in full at every start before, so this costs no more), from the oldest
         * segment when the checkpoint names no kept segment or more queue files than there
         * are. */
        from = s != NULL ? s->start : min;
        if (c.queues > (long long)st->cqs.n) {
            FM_LOGW("store", "FM-STORE-CHECKPOINT-DISTRUST",
                    "reason=queue_files_missing have=%zu checkpoint=%lld from=%" PRIu64, st->cqs.n,
                    c.queues, min);
            from = min;
        }
        w.full = from == min;
        if ((rc = recover_walk(st, from, &w, &end, eb)) != FM_OK) {
            fm_store_close(st);
            return rc;
        }
        if (w.distrust) {
            FM_LOGW("store", "FM-STORE-CHECKPOINT-DISTRUST",
                    "reason=queue_behind_log checkpoint=%" PRIu64 " from=%" PRIu64, c.offset, min);
            from = min;
            w.full = 1;
            if ((rc = recover_walk(st, from, &w, &end, eb)) != FM_OK) {
                fm_store_close(st);
                return rc;
            }
        }
        walked_from = from;
        if (w.fixed > 0) {
            FM_LOGI("store", "FM-STORE-CQ-REBUILT",
                    "entries=%" PRIu64 " records=%" PRIu64 " from=%" PRIu64, w.fixed, w.records,
                    from);
        }
    }
    atomic_store(&st->flushed, end);
    if (cfg->index_enable) {
        uint64_t ix_from;
        /* Index entries are trusted only where the queues were: below the walk's start (the
         * checkpoint's segment, or the oldest segment when the checkpoint was distrusted). */
        if ((rc = fm_store_index_open(st->ix_dir, cfg->index_slots, cfg->index_num, &st->ix, eb)) !=
                FM_OK ||
            (rc = fm_store_index_recover(st->ix, walked_from, end, index_check, st, &ix_from)) !=
                FM_OK) {
            if (rc == FM_EIO) {
                fm_err_set(eb, FM_EIO, "cannot recover the index under %s", st->ix_dir);
            }
            fm_store_close(st);
            return rc;
        }
        if (ix_from < fm_store_min_phys_offset(st)) {
            ix_from = fm_store_min_phys_offset(st);
        }
        index_from(st, ix_from, end);
    }
    update_min_offsets(st);
    checkpoint_write(st);
    if (!cfg->flush_sync) {
        if (pthread_create(&st->flush_thread, NULL, flush_main, st) != 0) {
            fm_store_close(st);
            return fm_err_set(eb, FM_EIO, "cannot start the flush thread");
        }
        st->flush_thread_running = 1;
    }
    /* without it the loop thread writes the metadata itself: slower, not wrong */
    st->meta_thread_running = pthread_create(&st->meta_thread, NULL, meta_main, st) == 0;
    /* without it appends take their own page faults: slower, not wrong */
    st->warm_thread_running = pthread_create(&st->warm_thread, NULL, warm_main, st) == 0;
    FM_LOGI("store", "FM-STORE-RECOVERED",
            "dir=%s segments=%zu log_end=%" PRIu64 " queues=%zu topics=%zu flush=%s", cfg->dir,
            st->n_segs, end, st->cqs.n, st->topics.n, cfg->flush_sync ? "sync" : "async");
    *out = st;
    return FM_OK;
}

/* Tell one of the store's threads to stop (*stop under mu, signalled on cv) and join it. */
static void
thread_stop(pthread_t th, int *running, pthread_mutex_t *mu, pthread_cond_t *cv, int *stop)
{
    if (!*running) {
        return;
    }
    pthread_mutex_lock(mu);
    *stop = 1;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
    pthread_join(th, NULL);
    *running = 0;
}

void
fm_store_close(fm_store *st)
{
    fm_errbuf eb;
    if (st == NULL) {
        return;
    }
    /* the meta thread first: it writes what was posted before it stops */
    thread_stop(st->meta_thread, &st->meta_thread_running, &st->meta_mu, &st->meta_cv,
                &st->meta_stop);
    free(st->meta_snap.fds);
    thread_stop(st->warm_thread, &st->warm_thread_running, &st->warm_mu, &st->warm_cv,
                &st->warm_stop);
    thread_stop(st->flush_thread, &st->flush_thread_running, &st->flush_mu, &st->flush_cv,
                &st->flush_stop);
    if (st->n_segs > 0) {
        if (fm_store_cl_commit(st, &eb) != FM_OK || fm_store_cl_sync(st, &eb) != FM_OK) {
            FM_LOGE("store", "FM-STORE-FLUSH-FAIL", "msg=\"%s\" at=close", eb.msg);
        }
        checkpoint_write(st);
    }
    if (st->offsets_dirty && fm_store_meta_save_offsets(st, &eb) != FM_OK) {
        FM_LOGE("store", "FM-STORE-OFFSETS-SAVE-FAIL", "msg=\"%s\"", eb.msg);
    }
    fm_store_index_close(st->ix);
    fm_store_cq_close_all(st);
    fm_store_cl_close(st);
    free(st->stage);
    fm_map_free_values(&st->topics, NULL);
    fm_map_free_values(&st->offsets, NULL);
    fm_map_free_values(&st->groups, NULL);
    fm_map_free_values(&st->deleted, NULL);
    pthread_mutex_destroy(&st->flush_mu);
    pthread_cond_destroy(&st->flush_cv);
    pthread_cond_destroy(&st->warm_cv);
    pthread_mutex_destroy(&st->warm_mu);
    pthread_cond_destroy(&st->meta_cv);
    pthread_mutex_destroy(&st->meta_mu);
    /* Last: until everything above is on disk, the store is still ours. */
    fm_lockfile_release(&st->lock);
    free(st);
}

const fm_slice fm_store_prop_names[FM_STORE_PROP_N] = {
    FM_SLICE_LIT(FM_PROP_UNIQ_KEY), FM_SLICE_LIT(FM_PROP_KEYS), FM_SLICE_LIT(FM_PROP_TAGS)};

int
fm_store_append(fm_store *st, uint8_t *rec, size_t len, fm_store_put_result *res, fm_errbuf *eb)
{
    return fm_store_append_props(st, rec, len, NULL, res, eb);
}

int
fm_store_append_props(fm_store *st, uint8_t *rec, size_t len, const fm_slice *props,
                      fm_store_put_result *res, fm_errbuf *eb)
{
    fm_slice picked[FM_STORE_PROP_N];
    const fm_slice *ap = props;
    fm_msg_view m;
    fm_store_index_keys keys;
    char topic[256];
    cq *q;
    uint64_t phys;
    int64_t now;
    int rc, indexed;

    if (len > st->cfg.max_msg_size) {
        return fm_err_set(eb, FM_ETOOBIG, "record of %zu bytes exceeds the limit of %" PRIu64, len,
                          st->cfg.max_msg_size);
    }
    if ((rc = fm_msg_decode(rec, len, &m, eb)) != FM_OK || m.total_size != len) {
        return fm_err_set(eb, FM_EINVAL, "not a valid record: %s",
                          rc == FM_OK ? "size mismatch"
                          : eb        ? eb->msg
                                      : "decode failed");
    }
    if (m.topic.len == 0 || fm_slice_to_cstr(m.topic, topic, sizeof(topic)) != FM_OK ||
        m.queue_id < 0 || m.queue_id > 65535) {
        return fm_err_set(eb, FM_EINVAL, "record has a bad topic or queue id");
    }
    /* a batch, and a busy producer, append to one queue many times in a row */
    q = st->last_cq;
    if (q == NULL || q->qid != m.queue_id || strcmp(q->topic, topic) != 0) {
        q = fm_store_cq_get(st, topic, m.queue_id, 1);
        if (q == NULL) {
            return fm_err_set(eb, FM_EIO, "cannot open consume queue %s/%d", topic, m.queue_id);
        }
        st->last_cq = q;
    }
    if (ap == NULL) {
        /* every property the store reads, in one pass */
        (void)fm_props_pick(m.properties, fm_store_prop_names, FM_STORE_PROP_N, picked);
        ap = picked;
    }
    if (st->ix != NULL) {
        fm_store_index_keys_of(st->ix, &m, ap[FM_STORE_PROP_UNIQ_KEY], ap[FM_STORE_PROP_KEYS],
                               &keys);
    }
    now = fm_clock_wall_ms();
    fm_store_cl_next_pos(st, len, &phys);
    indexed = fm_store_record_indexed(m.sysflag);
    /* RocketMQ gives prepared and rolled-back records queue offset 0 and no queue entry */
    fm_put_be64(rec + FM_MSG_OFF_QUEUEOFFSET, indexed ? (uint64_t)q->max : 0);
    fm_put_be64(rec + FM_MSG_OFF_PHYSOFFSET, phys);
    fm_put_be64(rec + fm_msg_off_store_ts(m.sysflag), (uint64_t)now);
    {
        uint64_t at;
        rc = fm_store_cl_append(st, rec, len, &at, eb);
        if (rc != FM_OK) {
            return rc;
        }
        FM_ASSERT(at == phys);
    }
    rc = !indexed ? FM_OK
                  : fm_store_cq_append(st, q, phys, (uint32_t)len,
                                       fm_store_tag_hash(ap[FM_STORE_PROP_TAGS]));
    if (rc != FM_OK) {
        /* The record is in the log; recovery re-dispatches it. Report, do not acknowledge. */
        return fm_err_set(eb, rc, "consume queue %s/%d append failed", topic, m.queue_id);
    }
    if (st->ix != NULL) {
        fm_errbuf ieb;
        if (fm_store_index_put_keys(st->ix, &m, &keys, phys, now, &ieb) != FM_OK) {
            /* The message is stored and served; only lookups by key miss it. Index no more
             * until a restart, which indexes again from the last record indexed. */
            FM_LOGE("store", "FM-STORE-INDEX-FAIL", "phys=%" PRIu64 " msg=\"%s\"", phys, ieb.msg);
            fm_store_index_sync(st->ix);
            fm_store_index_close(st->ix);
            st->ix = NULL;
        }
    }
    st->segs[st->n_segs - 1]->last_write_ms = now;
    res->phys_offset = phys;
    res->queue_offset = indexed ? q->max - 1 : 0;
    res->store_ts = now;
    res->size = (uint32_t)len;
    return FM_OK;
}

int
fm_store_commit(fm_store *st, fm_errbuf *eb)
{
    return fm_store_cl_commit(st, eb);
}

int
fm_store_sync(fm_store *st, fm_errbuf *eb)
{
    int rc = fm_store_cl_commit(st, eb);
    if (rc != FM_OK) {
        return rc;
    }
    pthread_mutex_lock(&st->flush_mu);
    rc = fm_store_cl_sync(st, eb);
    pthread_mutex_unlock(&st->flush_mu);
    if (rc != FM_OK) {
        FM_LOGE("store", "FM-STORE-FLUSH-FAIL", "msg=\"%s\"", eb ? eb->msg : "");
    }
    return rc;
}

uint64_t
fm_store_flushed_offset(const fm_store *st)
{
    return atomic_load(&((fm_store *)st)->flushed);
}

uint64_t
fm_store_max_phys_offset(const fm_store *st)
{
    return st->write_pos;
}

uint64_t
fm_store_min_phys_offset(const fm_store *st)
{
    return st->n_segs ? st->segs[0]->start : st->write_pos;
}

static int
pin(fm_store_get_result *r, seg *s)
{
    for (int i = 0; i < r->n_pins; i++) {
        if (r->pins[i] == s) {
            return 1;
        }
    }
    if (r->n_pins == (int)(sizeof(r->pins) / sizeof(r->pins[0]))) {
        return 0;
    }
    r->pins[r->n_pins++] = s;
    s->pins++;
    return 1;
}

int
fm_store_get(fm_store *st, const char *topic, int qid, int64_t offset, int max_msgs,
             size_t max_bytes, fm_store_filter_fn filter, void *filter_ud, fm_store_get_result *r)
{
    cq *q;
    int64_t i, scanned = 0;
    size_t bytes = 0;
    int skipped = 0;

    r->st = st;
    r->n_msgs = 0;
    r->n_pins = 0;
    if (max_msgs <= 0 || max_msgs > FM_STORE_MAX_GET) {
        return FM_EINVAL;
    }
    q = fm_store_cq_get(st, topic, qid, 0);
    if (q == NULL || q->max == 0) {
        r->status = FM_STORE_NO_MESSAGE_IN_QUEUE;
        r->min_offset = r->max_offset = 0;
        r->next_begin_offset = 0;
        return FM_OK;
    }
    r->min_offset = q->min;
    r->max_offset = q->max;
    if (offset < q->min) {
        r->status = FM_STORE_OFFSET_TOO_SMALL;
        r->next_begin_offset = q->min;
        return FM_OK;
    }
    if (offset == q->max) {
        r->status = FM_STORE_OFFSET_OVERFLOW_ONE;
        r->next_begin_offset = offset;
        return FM_OK;
    }
    if (offset > q->max) {
        r->status = FM_STORE_OFFSET_OVERFLOW_BADLY;
        /* RocketMQ: back to the start when the queue still begins at 0, else to the end */
        r->next_begin_offset = q->min == 0 ? 0 : q->max;
        return FM_OK;
    }
    for (i = offset; i < q->max && r->n_msgs < max_msgs && scanned < MAX_SCAN; i++, scanned++) {
        uint64_t phys;
        uint32_t size;
        int64_t h;
        const uint8_t *p;
        seg *s;
        fm_store_cq_entry(q, i, &phys, &size, &h);
        if (size == 0) {
            continue; /* a hole: its record was lost */
        }
        if (r->n_msgs > 0 && bytes + size > max_bytes) {
            break;
        }
        if (filter != NULL && !filter(filter_ud, h, NULL, 0)) {
            skipped++;
            continue;
        }
        p = fm_store_cl_at(st, phys, size, &s);
        if (p == NULL) {
            continue; /* deleted by retention meanwhile */
        }
        if (filter != NULL && !filter(filter_ud, h, p, size)) {
            skipped++;
            continue;
        }
        if (!pin(r, s)) {
            break;
        }
        r->msgs[r->n_msgs++] = fm_slice_make(p, size);
        bytes += size;
    }
    r->next_begin_offset = i;
    r->status = r->n_msgs > 0 ? FM_STORE_FOUND
                : skipped > 0 ? FM_STORE_NO_MATCHED_MSG
                              : FM_STORE_OFFSET_FOUND_NULL;
    return FM_OK;
}

void
fm_store_get_release(fm_store_get_result *r)
{
    for (int i = 0; i < r->n_pins; i++) {
        ((seg *)r->pins[i])->pins--;
    }
    r->n_pins = 0;
    r->n_msgs = 0;
}

int64_t
fm_store_min_offset(fm_store *st, const char *topic, int qid)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    return q ? q->min : 0;
}

int64_t
fm_store_max_offset(fm_store *st, const char *topic, int qid)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    return q ? q->max : 0;
}

/* Store time of queue entry i, or -1 when its record is gone. */
static int64_t
entry_store_ts(fm_store *st, cq *q, int64_t i)
{
    uint64_t phys;
    uint32_t size;
    int64_t h;
    const uint8_t *p;
    fm_store_cq_entry(q, i, &phys, &size, &h);
    if (size < FM_MSG_MIN_SIZE || (p = fm_store_cl_at(st, phys, size, NULL)) == NULL) {
        return -1;
    }
    return (int64_t)fm_be64(p + fm_msg_off_store_ts((int32_t)fm_be32(p + FM_MSG_OFF_SYSFLAG)));
}

int
fm_store_search_offset_by_time(fm_store *st, const char *topic, int qid, int64_t ts_ms,
                               int64_t *offset)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    int64_t lo, hi;
    if (q == NULL) {
        return FM_ENOTFOUND;
    }
    lo = q->min;
    hi = q->max;
    /* first entry with store time >= ts; store times grow with queue offsets */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t t = entry_store_ts(st, q, mid);
        if (t >= 0 && t < ts_ms) {
            lo = mid + 1;
        } else if (t < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *offset = lo;
    return FM_OK;
}

int64_t
fm_store_offset_nearest_time(fm_store *st, const char *topic, int qid, int64_t ts_ms)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    int64_t low, high, target = -1, left = -1, right = -1, lv = -1, rv = -1;
    if (q == NULL || q->max <= q->min) {
        return 0;
    }
    /* ConsumeQueue.getOffsetInQueueByTime's search, entry for entry */
    low = q->min;
    high = q->max - 1;
    while (high >= low) {
        int64_t mid = (low + high) / 2, t = entry_store_ts(st, q, mid);
        if (t < 0) {
            /* a hole or a record gone: passed over to the right, as RocketMQ passes entries
             * below the log's start */
            low = mid + 1;
            left = mid;
            continue;
        }
        if (t == ts_ms) {
            target = mid;
            break;
        }
        if (t > ts_ms) {
            high = mid - 1;
            right = mid;
            rv = t;
        } else {
            low = mid + 1;
            left = mid;
            lv = t;
        }
    }
    if (target != -1) {
        return target;
    }
    if (lv == -1) {
        return right != -1 ? right : q->min;
    }
    if (rv == -1) {
        return left;
    }
    /* the nearer by time; a tie goes left */
    return (ts_ms - lv) > (rv - ts_ms) ? right : left;
}

int
fm_store_earliest_msg_time(fm_store *st, const char *topic, int qid, int64_t *ts)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    int64_t t;
    if (q == NULL || q->min >= q->max || (t = entry_store_ts(st, q, q->min)) < 0) {
        return FM_ENOTFOUND;
    }
    *ts = t;
    return FM_OK;
}

int
fm_store_read_at(fm_store *st, uint64_t phys, fm_buf *out, fm_errbuf *eb)
{
    const uint8_t *p = fm_store_cl_at(st, phys, 8, NULL);
    fm_msg_view m;
    uint32_t total;
    if (p == NULL) {
        return fm_err_set(eb, FM_ENOTFOUND, "offset %" PRIu64 " is outside the log", phys);
    }
    total = fm_be32(p);
    p = fm_store_cl_at(st, phys, total, NULL);
    if (p == NULL || fm_msg_decode(p, total, &m, NULL) != FM_OK ||
        (uint64_t)m.phys_offset != phys) {
        return fm_err_set(eb, FM_ENOTFOUND, "no record starts at offset %" PRIu64, phys);
    }
    return fm_buf_append(out, p, total);
}

int
fm_store_topic_put(fm_store *st, const fm_store_topic *t, fm_errbuf *eb)
{
    fm_store_topic *cur;
    if (!fm_proto_topic_valid(t->name)) {
        return fm_err_set(eb, FM_EINVAL, "invalid topic name '%s'", t->name);
    }
    cur = fm_map_get(&st->topics, t->name, strlen(t->name));
    if (cur == NULL) {
        cur = malloc(sizeof(*cur));
        if (cur == NULL) {
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        *cur = *t;
        if (fm_map_put(&st->topics, cur->name, strlen(cur->name), cur) != FM_OK) {
            free(cur);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    } else {
        *cur = *t;
    }
    return fm_store_meta_save_topics(st, eb);
}

int
fm_store_topic_get(fm_store *st, const char *name, fm_store_topic *out)
{
    fm_store_topic *t = fm_map_get(&st->topics, name, strlen(name));
    if (t == NULL) {
        return FM_ENOTFOUND;
    }
    *out = *t;
    return FM_OK;
}

int
fm_store_topic_deleted_at(fm_store *st, fm_slice topic, uint64_t phys)
{
    const uint64_t *mark;
    if (st->deleted.n == 0) {
        return 0; /* the common case: one compare per record */
    }
    mark = fm_map_get(&st->deleted, topic.ptr, topic.len);
    return mark != NULL && phys < *mark;
}

/* Close and unlink every consume queue of topic, then its directory. Returns how many. */
static int
drop_queues(fm_store *st, const char *name)
{
    size_t pos = 0, kl, nl = strlen(name), n = 0, cap = 0;
    const char *key;
    void *val;
    char **keys = NULL, path[600];
    int dropped = 0;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        if (kl > nl && key[nl] == '\x01' && memcmp(key, name, nl) == 0) {
            if (n == cap) {
                char **nk = realloc(keys, (cap = cap ? 2 * cap : 16) * sizeof(*nk));
                if (nk == NULL) {
                    break;
                }
                keys = nk;
            }
            if ((keys[n] = strndup(key, kl)) == NULL) {
                break;
            }
            n++;
        }
    }
    st->last_cq = NULL;
    for (size_t i = 0; i < n; i++) {
        cq *q = fm_map_del(&st->cqs, keys[i], strlen(keys[i]));
        if (q != NULL) {
            snprintf(path, sizeof(path), "%s/%s/%d", st->cq_dir, q->topic, q->qid);
            munmap(q->map, q->map_len);
            close(q->fd);
            if (unlink(path) != 0 && errno != ENOENT) {
                FM_LOGW("store", "FM-STORE-CQ-UNLINK-FAIL", "path=%s err=\"%s\"", path,
                        strerror(errno));
            }
            free(q);
            dropped++;
        }
        free(keys[i]);
    }
    free(keys);
    snprintf(path, sizeof(path), "%s/%s", st->cq_dir, name);
    rmdir(path);
    fm_file_fsync_dir(st->cq_dir);
    return dropped;
}

int
fm_store_topic_delete(fm_store *st, const char *name, fm_errbuf *eb)
{
    size_t nl = strlen(name);
    fm_store_topic *t = fm_map_get(&st->topics, name, nl);
    uint64_t *mark, old = 0;
    int had, rc, queues, offsets;
    if (t == NULL) {
        return fm_err_set(eb, FM_ENOTFOUND, "topic '%s' does not exist", name);
    }
    /* First the table without the topic and with its mark, in one atomic file: from then on
     * a restart ignores the topic's records, whatever else a crash leaves behind. */
    mark = fm_map_get(&st->deleted, name, nl);
    had = mark != NULL;
    if (!had) {
        if ((mark = malloc(sizeof(*mark))) == NULL ||
            fm_map_put(&st->deleted, name, nl, mark) != FM_OK) {
            free(mark);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    } else {
        old = *mark;
    }
    *mark = st->write_pos; /* everything appended so far, staged or not */
    fm_map_del(&st->topics, name, nl);
    if ((rc = fm_store_meta_save_topics(st, eb)) != FM_OK) {
        fm_map_put(&st->topics, t->name, strlen(t->name), t); /* the slot is still free */
        if (had) {
            *mark = old;
        } else {
            free(fm_map_del(&st->deleted, name, nl));
        }
        return rc;
    }
    free(t);
    /* The meta thread may be writing a checkpoint that counts these queue files; let it end
     * (one that counts more files than exist only makes the next start walk the whole log). */
    fm_store_tick_wait(st);
    queues = drop_queues(st, name);
    offsets = fm_store_offset_remove(st, NULL, name);
    if (offsets > 0 && fm_store_offsets_persist(st, eb) != FM_OK) {
        FM_LOGW("store", "FM-STORE-OFFSETS-SAVE-FAIL", "msg=\"%s\" at=topic_delete", eb->msg);
    }
    checkpoint_write(st); /* the new queue count */
    FM_LOGI("store", "FM-STORE-TOPIC-DELETE", "topic=%s queues=%d offsets=%d log_end=%" PRIu64,
            name, queues, offsets, *mark);
    return FM_OK;
}

int
fm_store_topic_foreach(fm_store *st, int (*cb)(const fm_store_topic *t, void *ud), void *ud)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->topics, &pos, &key, &kl, &val)) {
        int rc = cb(val, ud);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

/* "topic@group\x01qid", or 0 when it does not fit. By hand: a per-commit cost. */
static size_t
offset_key(char *buf, size_t cap, const char *group, const char *topic, int qid)
{
    char num[24];
    size_t tl = strlen(topic), gl = strlen(group), nl = fm_i64_to_str(qid, num);
    size_t n = tl + 1 + gl + 1 + nl;
    if (n >= cap) {
        return 0;
    }
    memcpy(buf, topic, tl);
    buf[tl] = '@';
    memcpy(buf + tl + 1, group, gl);
    buf[tl + 1 + gl] = '\x01';
    memcpy(buf + tl + 2 + gl, num, nl + 1);
    return n;
}

int
fm_store_offset_commit(fm_store *st, const char *group, const char *topic, int qid, int64_t offset)
{
    char key[600];
    size_t kl = offset_key(key, sizeof(key), group, topic, qid);
    int64_t *v;
    if (kl == 0) {
        return FM_EINVAL;
    }
    v = fm_map_get(&st->offsets, key, kl);
    if (v == NULL) {
        v = malloc(sizeof(*v));
        if (v == NULL) {
            return FM_ENOMEM;
        }
        if (fm_map_put(&st->offsets, key, kl, v) != FM_OK) {
            free(v);
            return FM_ENOMEM;
        }
    }
    *v = offset;
    st->offsets_dirty = 1;
    return FM_OK;
}

int
fm_store_offset_remove(fm_store *st, const char *group, const char *topic)
{
    size_t pos = 0, kl, n = 0, cap = 0, gl = group ? strlen(group) : 0;
    size_t tl = topic ? strlen(topic) : 0;
    const char *key;
    void *val;
    char **doomed = NULL;
    int removed = 0;
    /* keys are "topic@group\x01qid": collect first, the map must not change under fm_map_next */
    while (fm_map_next(&st->offsets, &pos, &key, &kl, &val)) {
        const char *sep = memchr(key, '\x01', kl), *at;
        int hit;
        if (sep == NULL) {
            continue;
        }
        if (group != NULL) {
            at = sep - gl - 1;
            /* topic names have no '@' (fm_proto_topic_valid): the first one ends the topic */
            hit = (size_t)(sep - key) > gl && *at == '@' && memcmp(at + 1, group, gl) == 0 &&
                  memchr(key, '@', (size_t)(at - key)) == NULL;
        } else {
            hit = (size_t)(sep - key) > tl && key[tl] == '@' && memcmp(key, topic, tl) == 0;
        }
        if (!hit) {
            continue;
        }
        if (n == cap) {
            char **nd = realloc(doomed, (cap = cap ? 2 * cap : 16) * sizeof(*nd));
            if (nd == NULL) {
                break;
            }
            doomed = nd;
        }
        if ((doomed[n] = malloc(kl + 1)) == NULL) {
            break;
        }
        memcpy(doomed[n], key, kl);
        doomed[n++][kl] = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        void *v = fm_map_del(&st->offsets, doomed[i], strlen(doomed[i]));
        removed += v != NULL;
        free(v);
        free(doomed[i]);
    }
    free(doomed);
    if (removed > 0) {
        st->offsets_dirty = 1;
    }
    return removed;
}

int
fm_store_offset_query(fm_store *st, const char *group, const char *topic, int qid, int64_t *offset)
{
    char key[600];
    size_t kl = offset_key(key, sizeof(key), group, topic, qid);
    int64_t *v = kl ? fm_map_get(&st->offsets, key, kl) : NULL;
    if (v == NULL) {
        return FM_ENOTFOUND;
    }
    *offset = *v;
    return FM_OK;
}

int
fm_store_offset_foreach(fm_store *st,
                        int (*cb)(const char *group, const char *topic, int qid, int64_t offset,
                                  void *ud),
                        void *ud)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->offsets, &pos, &key, &kl, &val)) {
        char topic[300], group[300];
        const char *at = memchr(key, '@', kl), *sep = memchr(key, '\x01', kl);
        int rc;
        /* "topic@group\x01qid": topic names cannot hold '@' (RocketMQ's character set) */
        if (at == NULL || sep == NULL || sep < at || (size_t)(at - key) >= sizeof(topic) ||
            (size_t)(sep - at - 1) >= sizeof(group)) {
            continue;
        }
        memcpy(topic, key, (size_t)(at - key));
        topic[at - key] = '\0';
        memcpy(group, at + 1, (size_t)(sep - at - 1));
        group[sep - at - 1] = '\0';
        rc = cb(group, topic, atoi(sep + 1), *(int64_t *)val, ud);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

void
fm_store_tick_wait(fm_store *st)
{
    pthread_mutex_lock(&st->meta_mu);
    while (st->meta_busy) {
        pthread_cond_wait(&st->meta_cv, &st->meta_mu);
    }
    pthread_mutex_unlock(&st->meta_mu);
}

int
fm_store_offsets_persist(fm_store *st, fm_errbuf *eb)
{
    /* only the loop thread (this one) posts snapshots: none can start meanwhile */
    fm_store_tick_wait(st);
    return fm_store_meta_save_offsets(st, eb);
}

void
fm_store_tick(fm_store *st, int64_t now_wall_ms)
{
    fm_store_meta_snap *sn = &st->meta_snap;
    fm_errbuf eb;
    int busy, failed, due = now_wall_ms - st->last_checkpoint_ms >= CHECKPOINT_PERIOD_MS;
    if (!st->meta_thread_running) {
        if (st->offsets_dirty && fm_store_meta_save_offsets(st, &eb) != FM_OK) {
            FM_LOGE("store", "FM-STORE-OFFSETS-SAVE-FAIL", "msg=\"%s\"", eb.msg);
        }
        if (due) {
            st->last_checkpoint_ms = now_wall_ms;
            checkpoint_write(st);
        }
        return;
    }
    pthread_mutex_lock(&st->meta_mu);
    busy = st->meta_busy;
    pthread_mutex_unlock(&st->meta_mu);
    if (busy) {
        return; /* the last snapshot is still being written: take this one next tick */
    }
    failed = atomic_exchange(&st->meta_failed, 0);
    if (failed & FM_STORE_META_FAILED_SYNC) {
        fm_store_cq_mark_all_dirty(st);
        if (st->ix != NULL) {
            fm_store_index_mark_all_dirty(st->ix);
        }
    }
    if (failed & FM_STORE_META_FAILED_OFFSETS) {
        st->offsets_dirty = 1;
    }
    /* the meta thread leaves meta_snap alone until meta_busy is set again */
    if (st->offsets_dirty && (sn->offsets = fm_store_meta_offsets_json(st)) != NULL) {
        st->offsets_dirty = 0;
    }
    if (due) {
        st->last_checkpoint_ms = now_wall_ms;
        checkpoint_text(st, sn->ckpt, sizeof(sn->ckpt));
        if (fm_store_cq_take_dirty(st, sn) != FM_OK ||
            (st->ix != NULL &&
             fm_store_index_take_dirty(st->ix, &sn->fds, &sn->n_fds, &sn->cap_fds) != FM_OK)) {
            sn->ckpt[0] = '\0'; /* keep the old checkpoint: recovery rescans a bit more */
        }
    }
    if (sn->offsets == NULL && sn->n_fds == 0 && sn->ckpt[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&st->meta_mu);
    st->meta_busy = 1;
    pthread_cond_broadcast(&st->meta_cv);
    pthread_mutex_unlock(&st->meta_mu);
}

/* Forget deletion marks the log no longer reaches: no kept record is before them. */
static void
drop_old_marks(fm_store *st)
{
    uint64_t min = fm_store_min_phys_offset(st);
    size_t pos = 0, kl;
    const char *key;
    void *val;
    char name[256];
    fm_errbuf eb;
    int found, dropped = 0;
    do {
        found = 0;
        pos = 0;
        while (fm_map_next(&st->deleted, &pos, &key, &kl, &val)) {
            if (*(uint64_t *)val <= min && kl < sizeof(name)) {
                memcpy(name, key, kl);
                found = 1;
                break;
            }
        }
        if (found) {
            free(fm_map_del(&st->deleted, name, kl));
            dropped++;
        }
    } while (found);
    if (dropped > 0 && fm_store_meta_save_topics(st, &eb) != FM_OK) {
        FM_LOGW("store", "FM-STORE-TOPICS-SAVE-FAIL", "msg=\"%s\" at=retention", eb.msg);
    }
}

int
fm_store_queue_rows(fm_store *st, const char *topic, int qid, int64_t from, int max,
                    fm_store_cq_row *rows, int *n, int64_t *min, int64_t *max_off)
{
    cq *q = fm_store_cq_get(st, topic, qid, 0);
    *n = 0;
    if (q == NULL) {
        return FM_ENOTFOUND;
    }
    *min = q->min;
    *max_off = q->max;
    for (int64_t i = from < q->min ? q->min : from; i < q->max && *n < max; i++) {
        fm_store_cq_row *r = &rows[(*n)++];
        fm_store_cq_entry(q, i, &r->phys, &r->size, &r->tag_hash);
    }
    return FM_OK;
}

const char *
fm_store_dir(const fm_store *st)
{
    return st->cfg.dir;
}

void
fm_store_set_retention(fm_store *st, int64_t retention_ms)
{
    st->cfg.retention_ms = retention_ms;
}

int
fm_store_retention_run(fm_store *st, int64_t now_wall_ms)
{
    int n = fm_store_cl_delete_old(st, now_wall_ms);
    if (n > 0) {
        update_min_offsets(st);
        if (st->ix != NULL) {
            fm_store_index_delete_before(st->ix, fm_store_min_phys_offset(st));
        }
        if (st->deleted.n > 0) {
            drop_old_marks(st);
        }
    }
    return n;
}
