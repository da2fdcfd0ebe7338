/*
 * cq.c - consume queues: per (topic, queue id) a file of 20-byte entries (commit log offset
 * i64, size i32, tag hash i64), index = queue offset. Grown in 1 MiB steps and mmapped; an
 * entry with size 0 marks the end, so the entry count is found again at open without a
 * separate length file. A size-0 entry below the end is a hole: a queue offset whose record
 * was lost (recovery found later records of the queue but not this one); its commit log
 * offset is that of the next record, so offsets stay ordered, and readers skip it.
 */
#include "store/store_int.h"

#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* "topic\x01qid", cut to cap - 1 bytes. By hand: snprintf here was a per-pull cost. */
static size_t
cq_key(char *buf, size_t cap, const char *topic, int qid)
{
    char num[24];
    size_t nl = fm_i64_to_str(qid, num), n;
    if (cap == 0) {
        return 0;
    }
    n = strnlen(topic, cap - 1);
    memcpy(buf, topic, n);
    if (n + 1 < cap) {
        buf[n++] = '\x01';
    }
    nl = nl < cap - 1 - n ? nl : cap - 1 - n;
    memcpy(buf + n, num, nl);
    buf[n + nl] = '\0';
    return n + nl;
}

static int
cq_grow(cq *q, size_t want)
{
    size_t len = q->map_len;
    uint8_t *m;
    while (len < want) {
        len += FM_CQ_GROW;
    }
    if (len == q->map_len) {
        return FM_OK;
    }
    if (ftruncate(q->fd, (off_t)len) != 0) {
        return errno == ENOSPC ? FM_ENOSPC : FM_EIO;
    }
    m = q->map ? mremap(q->map, q->map_len, len, MREMAP_MAYMOVE)
               : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, 0);
    if (m == MAP_FAILED) {
        return FM_EIO;
    }
    q->map = m;
    q->map_len = len;
    return FM_OK;
}

/* One past the last entry whose size is not 0. Entries whose size field lies in a hole of the
 * file are 0, so only the data extents are looked at, each from its end back to its first
 * entry with a size: a queue's file grows in 1 MiB steps, and reading the unwritten rest
 * through the mapping cost a zero-filled page-cache page per 4 KiB of it, 1 MiB per queue at
 * every open (800 queues: 825 MB resident, 868 MB of page cache and 0.9 s before a restart
 * was ready). */
static int64_t
cq_count(const cq *q)
{
    int64_t n_entries = (int64_t)(q->map_len / FM_CQ_ENTRY), max = 0;
    size_t from = 0, to;
    /* A page fault reads around the page (up to read_ahead_kb: 8 MiB on the VMs we measure
     * on), holes too, into the page cache: while counting, only the pages looked at. */
    (void)madvise(q->map, q->map_len, MADV_RANDOM);
    while (fm_file_next_data(q->fd, &from, &to, q->map_len)) {
        /* the entries whose size field [20i + 8, 20i + 12) overlaps [from, to) */
        int64_t hi = (int64_t)((to + FM_CQ_ENTRY - 9) / FM_CQ_ENTRY);
        int64_t lo = from >= FM_CQ_ENTRY ? (int64_t)(from / FM_CQ_ENTRY) - 1 : 0;
        hi = hi < n_entries ? hi : n_entries;
        for (int64_t i = hi; i > lo && i > max; i--) {
            if (fm_be32(q->map + (i - 1) * FM_CQ_ENTRY + 8) != 0) {
                max = i;
                break;
            }
        }
        from = to;
    }
    (void)madvise(q->map, q->map_len, MADV_NORMAL); /* consumers read ahead as before */
    return max;
}

static cq *
cq_open(fm_store *st, const char *topic, int qid, int create)
{
    char path[600];
    struct stat sb;
    cq *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    snprintf(q->topic, sizeof(q->topic), "%s", topic);
    q->qid = qid;
    snprintf(path, sizeof(path), "%s/%s", st->cq_dir, topic);
    /* Both names (the topic directory, the queue file) are synced into their directories
     * before the queue is used: the checkpoint later claims this queue's entries durable, and
     * a name lost at a power cut would take them all with it. Once per queue, never per
     * message. */
    if (create &&
        ((mkdir(path, 0755) != 0 && errno != EEXIST) || fm_file_fsync_dir(st->cq_dir) != 0)) {
        free(q);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s/%d", st->cq_dir, topic, qid);
    q->fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (q->fd < 0 || fstat(q->fd, &sb) != 0 || (create && fm_file_fsync_parent(path) != 0)) {
        int e = errno;
        if (q->fd >= 0) {
            close(q->fd);
        }
        free(q);
        errno = e;
        return NULL;
    }
    /* A torn file may end mid-entry: round down, the rest is rebuilt from the log. */
    q->map_len = 0;
    if (cq_grow(q, sb.st_size > 0 ? (size_t)sb.st_size : FM_CQ_GROW) != FM_OK) {
        close(q->fd);
        free(q);
        return NULL;
    }
    q->max = cq_count(q);
    return q;
}

cq *
fm_store_cq_get(fm_store *st, const char *topic, int qid, int create)
{
    char key[200];
    size_t kl = cq_key(key, sizeof(key), topic, qid);
    cq *q = fm_map_get(&st->cqs, key, kl);
    if (q != NULL || !create) {
        return q;
    }
    q = cq_open(st, topic, qid, 1);
    if (q == NULL) {
        FM_LOGE("store", "FM-STORE-CQ-OPEN-FAIL", "topic=%s qid=%d err=\"%s\"", topic, qid,
                strerror(errno));
        return NULL;
    }
    if (fm_map_put(&st->cqs, key, kl, q) != FM_OK) {
        munmap(q->map, q->map_len);
        close(q->fd);
        free(q);
        return NULL;
    }
    return q;
}

void
fm_store_cq_entry(const cq *q, int64_t index, uint64_t *phys, uint32_t *size, int64_t *tag_hash)
{
    const uint8_t *e = q->map + (size_t)index * FM_CQ_ENTRY;
    *phys = fm_be64(e);
    *size = fm_be32(e + 8);
    *tag_hash = (int64_t)fm_be64(e + 12);
}

int
fm_store_cq_put_at(fm_store *st, cq *q, int64_t index, uint64_t phys, uint32_t size,
                   int64_t tag_hash)
{
    size_t off = (size_t)index * FM_CQ_ENTRY;
    uint8_t *e;
    int rc;
    (void)st;
    if (off + FM_CQ_ENTRY > q->map_len && (rc = cq_grow(q, off + FM_CQ_ENTRY)) != FM_OK) {
        return rc;
    }
    e = q->map + off;
    fm_put_be64(e, phys);
    fm_put_be64(e + 12, (uint64_t)tag_hash);
    /* size last: it is what marks the entry as present */
    fm_put_be32(e + 8, size);
    if (index >= q->max) {
        q->max = index + 1;
    }
    q->dirty = 1;
    return FM_OK;
}

int
fm_store_cq_append(fm_store *st, cq *q, uint64_t phys, uint32_t size, int64_t tag_hash)
{
    return fm_store_cq_put_at(st, q, q->max, phys, size, tag_hash);
}

int
fm_store_cq_load_all(fm_store *st, fm_errbuf *eb)
{
    DIR *td = opendir(st->cq_dir);
    struct dirent *te;
    if (td == NULL) {
        return fm_err_sys(eb, FM_EIO, errno, "opendir %s", st->cq_dir);
    }
    while ((te = readdir(td)) != NULL) {
        char path[600];
        DIR *qd;
        struct dirent *qe;
        if (te->d_name[0] == '.' || strlen(te->d_name) >= 128) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", st->cq_dir, te->d_name);
        qd = opendir(path);
        if (qd == NULL) {
            continue;
        }
        while ((qe = readdir(qd)) != NULL) {
            char *end, key[200];
            long qid = strtol(qe->d_name, &end, 10);
            cq *q;
            if (qe->d_name[0] == '.' || *end != '\0' || qid < 0 || qid > 65535) {
                continue;
            }
            q = cq_open(st, te->d_name, (int)qid, 0);
            if (q == NULL) {
                closedir(qd);
                closedir(td);
                return fm_err_sys(eb, FM_EIO, errno, "open consume queue %s/%ld", path, qid);
            }
            if (fm_map_put(&st->cqs, key, cq_key(key, sizeof(key), te->d_name, (int)qid), q) !=
                FM_OK) {
                closedir(qd);
                closedir(td);
                return fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
        }
        closedir(qd);
    }
    closedir(td);
    return FM_OK;
}

int
fm_store_cq_sync_all(fm_store *st)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    int rc = FM_OK;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        cq *q = val;
        if (q->dirty) {
            if (fdatasync(q->fd) != 0) {
                rc = FM_EIO;
                continue;
            }
            q->dirty = 0;
        }
    }
    return rc;
}

int
fm_store_cq_take_dirty(fm_store *st, fm_store_meta_snap *snap)
{
    size_t pos = 0, kl, had = snap->n_fds;
    const char *key;
    void *val;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        cq *q = val;
        if (!q->dirty) {
            continue;
        }
        if (fm_file_dup_append(q->fd, &snap->fds, &snap->n_fds, &snap->cap_fds) != FM_OK) {
            fm_file_close_from(snap->fds, &snap->n_fds, had);
            fm_store_cq_mark_all_dirty(st);
            return FM_EIO;
        }
        q->dirty = 0;
    }
    return FM_OK;
}

void
fm_store_cq_mark_all_dirty(fm_store *st)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        ((cq *)val)->dirty = 1;
    }
}

void
fm_store_cq_close_all(fm_store *st)
{
    st->last_cq = NULL;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&st->cqs, &pos, &key, &kl, &val)) {
        cq *q = val;
        munmap(q->map, q->map_len);
        close(q->fd);
        free(q);
    }
    fm_map_free(&st->cqs);
}
