/*
 * commitlog.c - commit log segments: create, map, append, sync, recover, delete.
 *
 * Segments are preallocated (ftruncate) and mmapped MAP_SHARED for reading. Appends are
 * gathered in a staging buffer and written with pwrite (fm_store_cl_commit) before anything
 * can depend on them: a read of those bytes, a reply leaving the process, a sync, a segment
 * roll, the end of the loop iteration. Why not memcpy into the mapping: every first write to a
 * page through it is a page fault (ext4's page_mkwrite), and every writeback then
 * write-protects the page again with a TLB shootdown of the other core; at 1 KiB records the
 * two took a third of the loop thread and 40% of the flush thread. A page the process only
 * reads through its mapping is mapped read-only, so writeback need not flush any TLB.
 * What pwrite has put in the page cache survives a process crash (kill -9); fdatasync makes
 * it survive power loss.
 */
#include "store/store_int.h"

#include "common/clock.h"
#include "common/crc.h"
#include "common/fault.h"
#include "common/log.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <stdatomic.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void
seg_unmap_close(fm_store *st, seg *s)
{
    if (s->map != NULL) {
        munmap(s->map, st->cfg.segment_size);
        s->map = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    free(s);
}

static int
segs_push(fm_store *st, seg *s)
{
    if (st->n_segs == st->cap_segs) {
        size_t cap = st->cap_segs ? st->cap_segs * 2 : 16;
        seg **n = realloc(st->segs, cap * sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        st->segs = n;
        st->cap_segs = cap;
    }
    st->segs[st->n_segs++] = s;
    return FM_OK;
}

/* Map a segment file, growing a short one (a torn or test-truncated file) back to full size:
 * the missing tail reads as zeros, which recovery treats as the end of the log. */
static int
seg_map(fm_store *st, seg *s, int creating, fm_errbuf *eb)
{
    struct stat sb;
    if (fstat(s->fd, &sb) != 0) {
        return fm_err_sys(eb, FM_EIO, errno, "stat %s", s->path);
    }
    if ((uint64_t)sb.st_size > st->cfg.segment_size) {
        return fm_err_set(eb, FM_EINVAL,
                          "%s is %lld bytes but mappedFileSizeCommitLog is %" PRIu64
                          "; start with the segment size the store was created with",
                          s->path, (long long)sb.st_size, st->cfg.segment_size);
    }
    s->file_size = (uint64_t)sb.st_size;
    if ((uint64_t)sb.st_size < st->cfg.segment_size) {
        if (!creating && sb.st_size > 0) {
            FM_LOGW("store", "FM-STORE-SEGMENT-SHORT", "seg=%s size=%lld expected=%" PRIu64,
                    s->path, (long long)sb.st_size, st->cfg.segment_size);
        }
        if (ftruncate(s->fd, (off_t)st->cfg.segment_size) != 0) {
            return fm_err_sys(eb, errno == ENOSPC ? FM_ENOSPC : FM_EIO, errno, "ftruncate %s",
                              s->path);
        }
    }
    s->map = mmap(NULL, st->cfg.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        return fm_err_sys(eb, FM_EIO, errno, "mmap %s", s->path);
    }
    s->last_write_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    return FM_OK;
}

static int
seg_open(fm_store *st, uint64_t start, int create, seg **out, fm_errbuf *eb)
{
    seg *s = calloc(1, sizeof(*s));
    int rc;
    if (s == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    s->start = start;
    s->fd = -1;
    snprintf(s->path, sizeof(s->path), "%s/%020" PRIu64, st->cl_dir, start);
    s->fd = open(s->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (s->fd < 0) {
        rc = fm_err_sys(eb, FM_EIO, errno, "open %s", s->path);
        free(s);
        return rc;
    }
    rc = seg_map(st, s, create, eb);
    if (rc != FM_OK) {
        close(s->fd);
        free(s);
        return rc;
    }
    if (create) {
        s->last_write_ms = fm_clock_wall_ms();
        /* The new name must survive a power loss too, or recovery would miss the segment and
         * every record in it. A segment whose name may not be durable is not used: remove it,
         * so that the next attempt can create it again (O_EXCL). */
        if (fm_file_fsync_dir(st->cl_dir) != 0) {
            rc = fm_err_sys(eb, FM_EIO, errno, "fsync %s", st->cl_dir);
            munmap(s->map, st->cfg.segment_size);
            close(s->fd);
            unlink(s->path);
            free(s);
            return rc;
        }
        FM_LOGI("store", "FM-STORE-SEGMENT-NEW", "seg=%020" PRIu64, start);
    }
    *out = s;
    return FM_OK;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int
fm_store_cl_open(fm_store *st, fm_errbuf *eb)
{
    DIR *d = opendir(st->cl_dir);
    struct dirent *de;
    uint64_t *starts = NULL;
    size_t n = 0, cap = 0;
    int rc = FM_OK;
    if (d == NULL) {
        return fm_err_sys(eb, FM_EIO, errno, "opendir %s", st->cl_dir);
    }
    while ((de = readdir(d)) != NULL) {
        char *end;
        unsigned long long v;
        if (strlen(de->d_name) != 20) {
            continue;
        }
        v = strtoull(de->d_name, &end, 10);
        if (*end != '\0') {
            continue;
        }
        if (n == cap) {
            uint64_t *ns;
            cap = cap ? cap * 2 : 16;
            ns = realloc(starts, cap * sizeof(*ns));
            if (ns == NULL) {
                closedir(d);
                free(starts);
                return fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
            starts = ns;
        }
        starts[n++] = v;
    }
    closedir(d);
    if (n > 1) {
        qsort(starts, n, sizeof(*starts), cmp_u64);
    }
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        seg *s;
        if (starts[i] % st->cfg.segment_size != 0 ||
            (i > 0 && starts[i] != starts[i - 1] + st->cfg.segment_size)) {
            rc = fm_err_set(eb, FM_ECORRUPT,
                            "commit log segment %020" PRIu64
                            " does not follow its predecessor (segment size %" PRIu64 ")",
                            starts[i], st->cfg.segment_size);
            break;
        }
        rc = seg_open(st, starts[i], 0, &s, eb);
        if (rc == FM_OK && segs_push(st, s) != FM_OK) {
            seg_unmap_close(st, s);
            rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    free(starts);
    return rc;
}

void
fm_store_cl_close(fm_store *st)
{
    for (size_t i = 0; i < st->n_segs; i++) {
        seg_unmap_close(st, st->segs[i]);
    }
    free(st->segs);
    st->segs = NULL;
    st->n_segs = st->cap_segs = 0;
}

seg *
fm_store_cl_find(fm_store *st, uint64_t phys)
{
    size_t lo = 0, hi = st->n_segs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        seg *s = st->segs[mid];
        if (phys < s->start) {
            hi = mid;
        } else if (phys >= s->start + st->cfg.segment_size) {
            lo = mid + 1;
        } else {
            return s;
        }
    }
    return NULL;
}

const uint8_t *
fm_store_cl_at(fm_store *st, uint64_t phys, size_t len, seg **sg)
{
    seg *s = fm_store_cl_find(st, phys);
    if (s == NULL || len > st->cfg.segment_size || phys - s->start > st->cfg.segment_size - len ||
        phys + len > st->write_pos) {
        return NULL;
    }
    /* staged bytes are read from the page cache like any others, once written there */
    if (phys + len > atomic_load_explicit(&st->committed, memory_order_relaxed) &&
        fm_store_cl_commit(st, NULL) != FM_OK) {
        return NULL;
    }
    if (sg != NULL) {
        *sg = s;
    }
    return s->map + (phys - s->start);
}

/* Write `len` bytes at log offset `at` of the active segment, all of them or an error. */
static int
write_at(seg *s, const uint8_t *p, size_t len, uint64_t at, fm_errbuf *eb)
{
    size_t done = 0;
    int fault = FM_FAULT_POINT("store.write");
    if (fault != 0) {
        return fm_err_sys(eb, fault == ENOSPC ? FM_ENOSPC : FM_EIO, fault, "write %s", s->path);
    }
    while (done < len) {
        ssize_t w = pwrite(s->fd, p + done, len - done, (off_t)(at - s->start + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            return fm_err_sys(eb, e == ENOSPC ? FM_ENOSPC : FM_EIO, e, "write %s", s->path);
        }
        done += (size_t)w;
    }
    return FM_OK;
}

int
fm_store_cl_commit(fm_store *st, fm_errbuf *eb)
{
    seg *s;
    int rc;
    if (st->stage_len == 0) {
        return FM_OK;
    }
    s = st->segs[st->n_segs - 1];
    rc = write_at(s, st->stage, st->stage_len, st->stage_from, eb);
    if (rc != FM_OK) {
        /* Kept staged: nothing staged has been acknowledged (a reply waits for this), and the
         * next commit tries again. Logged once per failing stretch. */
        if (!st->commit_failing) {
            FM_LOGE("store", "FM-STORE-WRITE-FAIL", "at=%" PRIu64 " bytes=%zu msg=\"%s\"",
                    st->stage_from, st->stage_len, eb ? eb->msg : "write failed");
        }
        st->commit_failing = 1;
        return rc;
    }
    if (st->commit_failing) {
        FM_LOGI("store", "FM-STORE-WRITE-OK", "at=%" PRIu64, st->stage_from);
        st->commit_failing = 0;
    }
    st->stage_from += st->stage_len;
    st->stage_len = 0;
    /* The flush thread reads `committed` and then syncs up to it. */
    atomic_store_explicit(&st->committed, st->stage_from, memory_order_release);
    return FM_OK;
}

/* Stage len bytes at write_pos (which the caller then advances). A record larger than the
 * staging buffer is written directly, after what is staged. */
static int
stage(fm_store *st, const uint8_t *p, size_t len, fm_errbuf *eb)
{
    int rc;
    if (st->stage_len + len > FM_STORE_STAGE_SIZE && (rc = fm_store_cl_commit(st, eb)) != FM_OK) {
        return rc;
    }
    if (st->stage == NULL && (st->stage = malloc(FM_STORE_STAGE_SIZE)) == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (len > FM_STORE_STAGE_SIZE) {
        rc = write_at(st->segs[st->n_segs - 1], p, len, st->write_pos, eb);
        if (rc == FM_OK) {
            st->stage_from = st->write_pos + len;
            atomic_store_explicit(&st->committed, st->stage_from, memory_order_release);
        }
        return rc;
    }
    if (st->stage_len == 0) {
        st->stage_from = st->write_pos;
    }
    memcpy(st->stage + st->stage_len, p, len);
    st->stage_len += len;
    return FM_OK;
}

/* Where the next record of len bytes goes; rolls to a new segment (closing the old one with a
 * BLANK record, committed with the rest of the old segment) when it does not fit. */
static int
reserve(fm_store *st, size_t len, uint64_t *phys, fm_errbuf *eb)
{
    seg *s = st->n_segs ? st->segs[st->n_segs - 1] : NULL;
    uint64_t size = st->cfg.segment_size;
    int rc;
    if (s != NULL && st->write_pos < s->start + size) {
        uint64_t room = s->start + size - st->write_pos;
        if (len <= room) {
            *phys = st->write_pos;
            return FM_OK;
        }
        if (room >= 8) {
            uint8_t blank[8];
            fm_put_be32(blank, (uint32_t)room);
            fm_put_be32(blank + 4, FM_MSG_MAGIC_BLANK);
            if ((rc = stage(st, blank, sizeof(blank), eb)) != FM_OK) {
                return rc;
            }
        }
        st->write_pos = s->start + size;
    }
    if ((rc = fm_store_cl_commit(st, eb)) != FM_OK) {
        return rc;
    }
    {
        uint64_t start = s ? s->start + size : st->write_pos - st->write_pos % size;
        seg *ns;
        rc = seg_open(st, start, 1, &ns, eb);
        if (rc != FM_OK) {
            return rc;
        }
        pthread_mutex_lock(&st->flush_mu);
        pthread_mutex_lock(&st->warm_mu);
        rc = segs_push(st, ns);
        pthread_mutex_unlock(&st->warm_mu);
        pthread_mutex_unlock(&st->flush_mu);
        if (rc != FM_OK) {
            seg_unmap_close(st, ns);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        st->write_pos = start;
        st->stage_from = start;
        atomic_store_explicit(&st->committed, start, memory_order_release);
        *phys = start;
    }
    return FM_OK;
}

int
fm_store_cl_append(fm_store *st, const uint8_t *rec, size_t len, uint64_t *phys, fm_errbuf *eb)
{
    int rc = reserve(st, len, phys, eb);
    if (rc != FM_OK || (rc = stage(st, rec, len, eb)) != FM_OK) {
        return rc;
    }
    st->write_pos = *phys + len;
    if (st->write_pos >= atomic_load_explicit(&st->warm_poke, memory_order_relaxed)) {
        atomic_store_explicit(&st->warm_poke, UINT64_MAX, memory_order_relaxed);
        atomic_store(&st->warm_poked, 1);
        pthread_cond_signal(&st->warm_cv); /* a lost signal costs the warm thread's timeout */
    }
    return FM_OK;
}

int
fm_store_cl_warm(fm_store *st)
{
    seg *s = st->n_segs ? st->segs[st->n_segs - 1] : NULL;
    uint64_t wp = atomic_load(&st->write_pos), from, to, page = 4096;
    int did = 1, more = 0;
    if (s == NULL) {
        atomic_store(&st->warm_poke, 0); /* the first append */
        return 1;
    }
    from = st->warmed > wp ? st->warmed : wp;
    from -= from % page;
    if (from < s->start) {
        from = s->start;
    }
    to = wp + FM_STORE_WARM_AHEAD;
    if (to > s->start + st->cfg.segment_size) {
        to = s->start + st->cfg.segment_size;
    }
    if (to > from + FM_STORE_WARM_CHUNK) {
        to = from + FM_STORE_WARM_CHUNK;
        more = 1;
    }
    if (from < to) {
        /* Reads the pages into the page cache (allocated and zeroed: the segment is a hole
         * there) without writing a byte, as the loop thread may be copying a record into the
         * first of them right now, and without dirtying them: a write would have the flush
         * write every page twice, zeros first. Not through the mapping: a fault there reads
         * ahead a whole read_ahead_kb window (8 MiB on this VM) and zeroes it in one call
         * that keeps the core for 10-24 ms; WILLNEED reads exactly the range asked for.
         * Without warm_mu: the warm thread runs at SCHED_IDLE and may be held off a core for
         * long under load, and a segment roll must not wait for it. The active segment is
         * closed only after a roll and its retention time, or at close (after this thread is
         * joined); were it closed meanwhile, the call fails or reads ahead in whatever file
         * has the descriptor now, which changes no byte. */
        int fd = s->fd, r;
        off_t off = (off_t)(from - s->start);
        pthread_mutex_unlock(&st->warm_mu);
        r = posix_fadvise(fd, off, (off_t)(to - from), POSIX_FADV_WILLNEED);
        pthread_mutex_lock(&st->warm_mu);
        if (r == EINVAL || r == ENOSYS || r == ESPIPE) {
            return 0;
        }
        st->warmed = to;
        did = more ? 3 : 2;
    }
    /* the next wake-up once a quarter of the warmed stretch is used */
    atomic_store(&st->warm_poke, wp + FM_STORE_WARM_AHEAD / 4);
    return did;
}

/* Next append position, patched into a record before it is copied in. */
int fm_store_cl_next_pos(fm_store *st, size_t len, uint64_t *phys);

int
fm_store_cl_next_pos(fm_store *st, size_t len, uint64_t *phys)
{
    seg *s = st->n_segs ? st->segs[st->n_segs - 1] : NULL;
    uint64_t size = st->cfg.segment_size;
    if (s != NULL && st->write_pos < s->start + size && len <= s->start + size - st->write_pos) {
        *phys = st->write_pos;
    } else if (s != NULL) {
        *phys = s->start + size;
    } else {
        *phys = st->write_pos - st->write_pos % size;
    }
    return FM_OK;
}

void
fm_store_cl_start_writeback(fm_store *st)
{
    uint64_t target = atomic_load_explicit(&st->committed, memory_order_acquire);
    uint64_t at = atomic_load(&st->flushed);
    size_t i = 0;
    at -= at % 4096;
    while (at < target) {
        uint64_t end =
            at + FM_STORE_WRITEBACK_CHUNK < target ? at + FM_STORE_WRITEBACK_CHUNK : target;
        while (i < st->n_segs && st->segs[i]->start + st->cfg.segment_size <= at) {
            i++;
        }
        if (i == st->n_segs) {
            return;
        }
        if (at < st->segs[i]->start) {
            at = st->segs[i]->start; /* the flushed end was in a segment deleted since */
            continue;
        }
        if (end > st->segs[i]->start + st->cfg.segment_size) {
            end = st->segs[i]->start + st->cfg.segment_size;
        }
        /* a failure here shows again, and is reported, in the fdatasync that follows */
        (void)sync_file_range(st->segs[i]->fd, (off64_t)(at - st->segs[i]->start),
                              (off64_t)(end - at), SYNC_FILE_RANGE_WRITE);
        sched_yield();
        at = end;
    }
}

int
fm_store_cl_sync(fm_store *st, fm_errbuf *eb)
{
    uint64_t target = atomic_load_explicit(&st->committed, memory_order_acquire);
    uint64_t from = atomic_load(&st->flushed);
    size_t i = st->n_segs;
    int fault;
    int64_t t0, ns;
    size_t b = 0;
    if (from >= target) {
        return FM_OK;
    }
    fault = FM_FAULT_POINT("store.fsync");
    t0 = fm_clock_mono_ns();
    while (i > 0 && st->segs[i - 1]->start + st->cfg.segment_size > from) {
        i--;
    }
    /* Oldest first: a segment's records (and the BLANK record that closes it) are durable
     * before any record of the next one is, so a power cut in the middle of this loop leaves
     * a durable prefix of the log, never a newer segment after a hole in an older one. */
    for (; i < st->n_segs; i++) {
        seg *s = st->segs[i];
        if (fault != 0 || fdatasync(s->fd) != 0) {
            int e = fault ? fault : errno;
            return fm_err_sys(eb, e == ENOSPC ? FM_ENOSPC : FM_EIO, e, "fdatasync %s", s->path);
        }
    }
    atomic_store(&st->flushed, target);
    ns = fm_clock_mono_ns() - t0;
    while (b < FM_STORE_FLUSH_BUCKETS - 1 && (double)ns > fm_store_flush_bounds[b] * 1e9) {
        b++;
    }
    atomic_fetch_add_explicit(&st->flush_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->flush_ns, (uint64_t)ns, memory_order_relaxed);
    return FM_OK;
}

const double fm_store_flush_bounds[FM_STORE_FLUSH_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void
fm_store_flush_stats_get(const fm_store *st, fm_store_flush_stats *out)
{
    uint64_t run = 0;
    fm_store *s = (fm_store *)st; /* atomic loads on a const object */
    for (size_t i = 0; i < FM_STORE_FLUSH_BUCKETS; i++) {
        run += atomic_load_explicit(&s->flush_buckets[i], memory_order_relaxed);
        out->le[i] = run;
    }
    /* the +Inf bucket is the count: read both from the buckets so they always agree */
    out->count = run;
    out->sum_seconds = (double)atomic_load_explicit(&s->flush_ns, memory_order_relaxed) / 1e9;
}

/* Verify one record in place: size, magic, the physical offset it claims, its body CRC, and
 * its properties (the body CRC does not cover them; the broker only stores well-formed
 * property strings, and a zero-filled one is an unwritten page). */
static int
record_ok(const uint8_t *p, size_t avail, uint64_t phys, fm_msg_view *m)
{
    if (avail < 8 || fm_msg_decode(p, avail, m, NULL) != FM_OK) {
        return 0;
    }
    if ((uint64_t)m->phys_offset != phys) {
        return 0;
    }
    if (!fm_props_valid(m->properties)) {
        return 0;
    }
    return fm_msg_verify_crc(m);
}

static int
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* [from, end) of segment s reads as zeros (holes are not read). */
static int
range_zero(const seg *s, size_t from, size_t end)
{
    size_t to;
    while (fm_file_next_data(s->fd, &from, &to, end)) {
        if (!all_zero(s->map + from, to - from)) {
            return 0;
        }
        from = to;
    }
    return 1;
}

/* Zero [from, end) of a segment page by page, writing only pages that are not zero already
 * and reading no holes: the tail of a preallocated segment is mostly holes, which a blind
 * memset would allocate. */
static int
zero_range(seg *s, size_t from, size_t end)
{
    int wrote = 0;
    size_t to;
    while (fm_file_next_data(s->fd, &from, &to, end)) {
        while (from < to) {
            size_t next = (from / 4096 + 1) * 4096;
            if (next > to) {
                next = to;
            }
            if (!all_zero(s->map + from, next - from)) {
                memset(s->map + from, 0, next - from);
                wrote = 1;
            }
            from = next;
        }
    }
    return wrote;
}

/* Bytes of segment s that can hold data: a file shorter than the segment was cut (a torn
 * write, a file whose size never reached the disk, a copy): nothing at or beyond its old end
 * is data, even where zero bytes would happen to check. */
static size_t
seg_limit(fm_store *st, const seg *s)
{
    return s->file_size < st->cfg.segment_size ? (size_t)s->file_size
                                               : (size_t)st->cfg.segment_size;
}

/* Walk segment s from byte pos: dispatch each valid record. Returns the position where it
 * stopped: segment_size when the segment is complete (BLANK record or fewer than 8 bytes
 * left), else the offset of the first byte that is not a valid record. */
static int
walk_segment(fm_store *st, seg *s, size_t *pos_io, fm_store_cl_record_fn cb, void *ud)
{
    size_t pos = *pos_io, size = st->cfg.segment_size, limit = seg_limit(st, s);
    int rc = FM_OK;
    for (;;) {
        fm_msg_view m;
        if (size - pos < 8) {
            pos = size;
            break;
        }
        if (pos + 8 <= limit && fm_be32(s->map + pos + 4) == FM_MSG_MAGIC_BLANK &&
            fm_be32(s->map + pos) == size - pos) {
            pos = size;
            break;
        }
        if (pos >= limit || !record_ok(s->map + pos, limit - pos, s->start + pos, &m)) {
            break;
        }
        if (cb != NULL && (rc = cb(st, s->start + pos, &m, ud)) != FM_OK) {
            break;
        }
        pos += m.total_size;
    }
    *pos_io = pos;
    return rc;
}

/* A segment that recovery found after the end of the log: nothing in it is reachable. An
 * all-zero one (created, never written durably) is removed; one with bytes in it is kept
 * aside under a name the store ignores, for inspection. */
static void
drop_segment(fm_store *st, seg *s)
{
    char aside[360];
    int zero = range_zero(s, 0, seg_limit(st, s));
    munmap(s->map, st->cfg.segment_size);
    s->map = NULL;
    if (zero) {
        unlink(s->path);
        snprintf(aside, sizeof(aside), "-");
    } else {
        snprintf(aside, sizeof(aside), "%s.dropped", s->path);
        if (rename(s->path, aside) != 0) {
            unlink(s->path);
            snprintf(aside, sizeof(aside), "-");
        }
    }
    FM_LOGW("store", "FM-STORE-SEGMENT-DROPPED", "seg=%020" PRIu64 " kept_as=%s", s->start, aside);
    seg_unmap_close(st, s);
}

int
fm_store_cl_recover(fm_store *st, uint64_t from, fm_store_cl_record_fn cb, void *ud, uint64_t *end,
                    fm_errbuf *eb)
{
    size_t i = 0, size = st->cfg.segment_size;
    int rc;
    if (st->n_segs == 0) {
        *end = 0;
        return FM_OK;
    }
    while (i + 1 < st->n_segs && st->segs[i]->start + size <= from) {
        i++;
    }
    for (;; i++) {
        seg *s = st->segs[i];
        /* from is a record boundary inside the first segment walked, or its start */
        size_t pos = from > s->start && from - s->start < size ? (size_t)(from - s->start) : 0;
        size_t stop;
        if ((rc = walk_segment(st, s, &pos, cb, ud)) != FM_OK) {
            return rc;
        }
        if (pos == size) {
            if (i + 1 < st->n_segs) {
                continue;
            }
            *end = s->start + size;
            return FM_OK;
        }
        stop = pos;
        if (i + 1 < st->n_segs) {
            seg *next = st->segs[i + 1];
            fm_msg_view m;
            if (record_ok(next->map, seg_limit(st, next), next->start, &m)) {
                /* The next segment holds valid records but this one ends early: its tail
                 * never reached the disk while the next one's start did (a power cut right
                 * after a roll, with writeback out of order). Records here past the gap are
                 * lost; those of the next segment are not, so the gap becomes the end of
                 * this segment: a BLANK record over it, durable before we go on. */
                FM_LOGW("store", "FM-STORE-SEGMENT-GAP",
                        "seg=%020" PRIu64 " at=%zu lost_bytes=%zu next=%020" PRIu64, s->start, stop,
                        size - stop, next->start);
                zero_range(s, stop, size);
                if (size - stop >= 8) {
                    fm_put_be32(s->map + stop, (uint32_t)(size - stop));
                    fm_put_be32(s->map + stop + 4, FM_MSG_MAGIC_BLANK);
                }
                if (fdatasync(s->fd) != 0) {
                    return fm_err_sys(eb, FM_EIO, errno, "fdatasync %s", s->path);
                }
                continue;
            }
        }
        /* The end of the log. Later segments hold nothing reachable (a record never starts
         * a segment after an empty one). */
        if (s->file_size < size || !range_zero(s, stop, size)) {
            FM_LOGW("store", "FM-STORE-TORN-TAIL", "seg=%020" PRIu64 " cut=%zu", s->start, stop);
            zero_range(s, stop, size);
            if (fdatasync(s->fd) != 0) {
                return fm_err_sys(eb, FM_EIO, errno, "fdatasync %s", s->path);
            }
        }
        if (i + 1 < st->n_segs) {
            for (size_t j = i + 1; j < st->n_segs; j++) {
                drop_segment(st, st->segs[j]);
            }
            st->n_segs = i + 1;
            if (fm_file_fsync_dir(st->cl_dir) != 0) {
                return fm_err_sys(eb, FM_EIO, errno, "fsync %s", st->cl_dir);
            }
        }
        *end = s->start + stop;
        return FM_OK;
    }
}

/* Oldest-first deletion of whole segments; never the active one, never a pinned one. */
int fm_store_cl_delete_old(fm_store *st, int64_t now_ms);

int
fm_store_cl_delete_old(fm_store *st, int64_t now_ms)
{
    int deleted = 0;
    while (st->n_segs > 1) {
        seg *s = st->segs[0];
        if (now_ms - s->last_write_ms <= st->cfg.retention_ms || s->pins > 0) {
            break;
        }
        pthread_mutex_lock(&st->flush_mu);
        pthread_mutex_lock(&st->warm_mu);
        memmove(st->segs, st->segs + 1, (st->n_segs - 1) * sizeof(*st->segs));
        st->n_segs--;
        pthread_mutex_unlock(&st->warm_mu);
        pthread_mutex_unlock(&st->flush_mu);
        FM_LOGI("store", "FM-STORE-SEGMENT-DELETED", "seg=%020" PRIu64 " age_ms=%lld", s->start,
                (long long)(now_ms - s->last_write_ms));
        unlink(s->path);
        seg_unmap_close(st, s);
        deleted++;
    }
    if (deleted) {
        fm_file_fsync_dir(st->cl_dir);
    }
    return deleted;
}
