/*
 * index.c - the message index (format and rules in index.h).
 *
 * The append path touches two places of the mapped file (the slot and the new entry) plus the
 * header, with no allocation; everything that can be slow (making a file, syncing, checking
 * after a crash) happens off that path or once per file.
 */
#include "store/index.h"

#include "common/crc.h"
#include "common/file.h"
#include "common/fault.h"
#include "common/log.h"
#include "proto/props.h"

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

/* header field offsets */
#define H_MAGIC 0
#define H_VERSION 4
#define H_SLOTS 8
#define H_NUM 12
#define H_BEGIN_TS 16
#define H_END_TS 24
#define H_BEGIN_PHYS 32
#define H_END_PHYS 40
#define H_NEXT_PHYS 48
#define H_COUNT 56
#define H_CRC 60

typedef struct ixfile {
    uint64_t seq;
    int fd;
    uint8_t *map;
    size_t len;
    uint32_t slots, num; /* this file's geometry (from its header) */
    uint32_t count;      /* entries used + 1 */
    int64_t begin_ts, end_ts;
    uint64_t begin_phys, end_phys, next_phys;
    int dirty;
    uint32_t fixed_crc; /* CRC-32 of header bytes 0..15 */
    char path[400];
} ixfile;

struct fm_store_index {
    char dir[300];
    uint32_t slots, num; /* for new files */
    ixfile **files;      /* ascending by sequence; the last takes new entries */
    size_t n, cap;
    uint64_t next_seq;
};

uint32_t
fm_store_index_hash(fm_slice topic, fm_slice key)
{
    uint32_t h = 0;
    for (size_t i = 0; i < topic.len; i++) {
        h = 31 * h + topic.ptr[i];
    }
    h = 31 * h + '#';
    for (size_t i = 0; i < key.len; i++) {
        h = 31 * h + key.ptr[i];
    }
    return h;
}

/* Math.abs of the Java int, negative (INT_MIN) as 0: IndexFile.indexKeyHashMethod. */
static uint32_t
slot_of(const ixfile *f, uint32_t hash)
{
    int32_t s = (int32_t)hash;
    uint32_t pos = s == INT32_MIN ? 0 : (uint32_t)(s < 0 ? -s : s);
    return pos % f->slots;
}

static uint8_t *
slot_ptr(const ixfile *f, uint32_t slot)
{
    return f->map + FM_INDEX_HEADER + (size_t)slot * FM_INDEX_SLOT;
}

static uint8_t *
entry_ptr(const ixfile *f, uint32_t i)
{
    return f->map + FM_INDEX_HEADER + (size_t)f->slots * FM_INDEX_SLOT + (size_t)i * FM_INDEX_ENTRY;
}

static size_t
file_size(uint32_t slots, uint32_t num)
{
    return FM_INDEX_HEADER + (size_t)slots * FM_INDEX_SLOT + (size_t)num * FM_INDEX_ENTRY;
}

/* The header's check value: CRC-32 of the fixed part (magic to index_num, the same for the
 * file's life, computed once per file) mixed with the fields every append changes. A CRC of
 * all 60 bytes per message cost more than the rest of the index put together. */
static uint32_t
sum_mix(uint32_t fixed_crc, const uint64_t v[6])
{
    uint64_t h = fixed_crc;
    for (int i = 0; i < 6; i++) {
        h = (h ^ v[i]) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t
header_sum(const ixfile *f)
{
    uint64_t v[6] = {(uint64_t)f->begin_ts, (uint64_t)f->end_ts, f->begin_phys,
                     f->end_phys,           f->next_phys,        f->count};
    return sum_mix(f->fixed_crc, v);
}

uint32_t
fm_store_index_header_sum(const uint8_t *h)
{
    uint64_t v[6] = {fm_be64(h + H_BEGIN_TS), fm_be64(h + H_END_TS),    fm_be64(h + H_BEGIN_PHYS),
                     fm_be64(h + H_END_PHYS), fm_be64(h + H_NEXT_PHYS), fm_be32(h + H_COUNT)};
    return sum_mix(fm_crc32(h, H_BEGIN_TS) | 1, v);
}

static void
header_write(ixfile *f)
{
    uint8_t *h = f->map;
    fm_put_be32(h + H_MAGIC, FM_INDEX_MAGIC);
    fm_put_be32(h + H_VERSION, FM_INDEX_VERSION);
    fm_put_be32(h + H_SLOTS, f->slots);
    fm_put_be32(h + H_NUM, f->num);
    if (f->fixed_crc == 0) {
        f->fixed_crc = fm_crc32(h, H_BEGIN_TS) | 1;
    }
    fm_put_be64(h + H_BEGIN_TS, (uint64_t)f->begin_ts);
    fm_put_be64(h + H_END_TS, (uint64_t)f->end_ts);
    fm_put_be64(h + H_BEGIN_PHYS, f->begin_phys);
    fm_put_be64(h + H_END_PHYS, f->end_phys);
    fm_put_be64(h + H_NEXT_PHYS, f->next_phys);
    fm_put_be32(h + H_COUNT, f->count);
    fm_put_be32(h + H_CRC, header_sum(f));
    f->dirty = 1;
}

static void
file_free(ixfile *f)
{
    if (f == NULL) {
        return;
    }
    if (f->map != NULL) {
        munmap(f->map, f->len);
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f);
}

static int
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        return -1;
    }
    if (fsync(fd) != 0) {
        rc = -1;
    }
    close(fd);
    return rc;
}

/* Why a mapped file's header does not hold, or NULL when it does; fills f's fields. */
static const char *
header_check(ixfile *f)
{
    const uint8_t *h = f->map;
    if (f->len < FM_INDEX_HEADER) {
        return "shorter than a header";
    }
    if (fm_be32(h + H_MAGIC) != FM_INDEX_MAGIC) {
        return "bad magic";
    }
    if (fm_be32(h + H_VERSION) != FM_INDEX_VERSION) {
        return "unknown version";
    }
    f->slots = fm_be32(h + H_SLOTS);
    f->num = fm_be32(h + H_NUM);
    if (f->slots == 0 || f->slots > FM_INDEX_MAX_SLOTS || f->num < 2 ||
        f->num > FM_INDEX_MAX_ENTRIES) {
        return "geometry out of range";
    }
    if (file_size(f->slots, f->num) != f->len) {
        return "size does not match its geometry";
    }
    f->count = fm_be32(h + H_COUNT);
    f->begin_ts = (int64_t)fm_be64(h + H_BEGIN_TS);
    f->end_ts = (int64_t)fm_be64(h + H_END_TS);
    f->begin_phys = fm_be64(h + H_BEGIN_PHYS);
    f->end_phys = fm_be64(h + H_END_PHYS);
    f->next_phys = fm_be64(h + H_NEXT_PHYS);
    f->fixed_crc = fm_crc32(h, H_BEGIN_TS) | 1;
    if (fm_be32(h + H_CRC) != header_sum(f)) {
        return "header check value mismatch";
    }
    if (f->count < 1 || f->count > f->num) {
        return "entry count out of range";
    }
    if (f->count > 1 &&
        (f->begin_phys > f->end_phys || f->end_phys > f->next_phys || f->begin_ts > f->end_ts)) {
        return "offsets or times out of order";
    }
    return NULL;
}

static int
files_push(fm_store_index *ix, ixfile *f)
{
    if (fm_array_reserve(&ix->files, &ix->cap, ix->n + 1, sizeof(*ix->files), 8) != FM_OK) {
        return FM_ENOMEM;
    }
    ix->files[ix->n++] = f;
    return FM_OK;
}

/* Unlink and free files[from..n). */
static int
drop_from(fm_store_index *ix, size_t from, const char *why)
{
    int rc = FM_OK;
    for (size_t i = from; i < ix->n; i++) {
        ixfile *f = ix->files[i];
        FM_LOGW("store", "FM-STORE-INDEX-DROPPED", "file=%s reason=\"%s\"", f->path, why);
        if (unlink(f->path) != 0 && errno != ENOENT) {
            rc = FM_EIO;
        }
        file_free(f);
    }
    if (from < ix->n) {
        ix->n = from;
        fsync_dir(ix->dir);
    }
    return rc;
}

static int
cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Open and check one existing file; NULL with *why set when it does not hold. */
static ixfile *
load_file(fm_store_index *ix, uint64_t seq, const char **why)
{
    struct stat sb;
    ixfile *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        *why = "out of memory";
        return NULL;
    }
    f->seq = seq;
    f->fd = -1;
    snprintf(f->path, sizeof(f->path), "%s/%020" PRIu64, ix->dir, seq);
    f->fd = open(f->path, O_RDWR | O_CLOEXEC);
    if (f->fd < 0 || fstat(f->fd, &sb) != 0) {
        *why = "cannot open";
        file_free(f);
        return NULL;
    }
    if (sb.st_size < FM_INDEX_HEADER ||
        (uint64_t)sb.st_size > file_size(FM_INDEX_MAX_SLOTS, FM_INDEX_MAX_ENTRIES)) {
        *why = "size out of range";
        file_free(f);
        return NULL;
    }
    f->len = (size_t)sb.st_size;
    f->map = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        *why = "cannot map";
        file_free(f);
        return NULL;
    }
    if ((*why = header_check(f)) != NULL) {
        file_free(f);
        return NULL;
    }
    return f;
}

int
fm_store_index_open(const char *dir, uint32_t slot_num, uint32_t index_num, fm_store_index **out,
                    fm_errbuf *eb)
{
    fm_store_index *ix;
    DIR *d;
    struct dirent *de;
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    int rc = FM_OK;

    if (slot_num == 0 || slot_num > FM_INDEX_MAX_SLOTS || index_num < 2 ||
        index_num > FM_INDEX_MAX_ENTRIES) {
        return fm_err_set(eb, FM_EINVAL,
                          "maxHashSlotNum must be 1..%u and maxIndexNum 2..%u (got %u, %u)",
                          FM_INDEX_MAX_SLOTS, FM_INDEX_MAX_ENTRIES, slot_num, index_num);
    }
    ix = calloc(1, sizeof(*ix));
    if (ix == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    snprintf(ix->dir, sizeof(ix->dir), "%s", dir);
    ix->slots = slot_num;
    ix->num = index_num;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = fm_err_sys(eb, FM_EIO, errno, "cannot create %s", dir);
        goto out;
    }
    d = opendir(dir);
    if (d == NULL) {
        rc = fm_err_sys(eb, FM_EIO, errno, "opendir %s", dir);
        goto out;
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
        if (fm_array_reserve(&seqs, &cap, n + 1, sizeof(*seqs), 16) != FM_OK) {
            closedir(d);
            rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
            goto out;
        }
        seqs[n++] = v;
    }
    closedir(d);
    if (n > 1) {
        qsort(seqs, n, sizeof(*seqs), cmp_seq);
    }
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        ixfile *f = load_file(ix, seqs[i], &why), *prev = ix->n ? ix->files[ix->n - 1] : NULL;
        if (f != NULL && prev != NULL &&
            (prev->count <= 1 || (f->count > 1 && f->begin_phys < prev->next_phys))) {
            why = prev->count <= 1 ? "an empty file is not the newest" : "overlaps an older file";
            file_free(f);
            f = NULL;
        }
        if (f == NULL) {
            /* Everything from here on is suspect: recovery indexes it again from the log. */
            char path[400];
            snprintf(path, sizeof(path), "%s/%020" PRIu64, dir, seqs[i]);
            FM_LOGW("store", "FM-STORE-INDEX-BAD", "file=%s reason=\"%s\"", path, why);
            for (size_t k = i; k < n; k++) {
                snprintf(path, sizeof(path), "%s/%020" PRIu64, dir, seqs[k]);
                unlink(path);
            }
            fsync_dir(dir);
            break;
        }
        if (files_push(ix, f) != FM_OK) {
            file_free(f);
            rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
            goto out;
        }
    }
    ix->next_seq = ix->n ? ix->files[ix->n - 1]->seq + 1 : 1;
    if (n > 0 && seqs[n - 1] >= ix->next_seq) {
        ix->next_seq = seqs[n - 1] + 1; /* never reuse a deleted file's name */
    }
out:
    free(seqs);
    if (rc != FM_OK) {
        fm_store_index_close(ix);
        return rc;
    }
    *out = ix;
    return FM_OK;
}

void
fm_store_index_close(fm_store_index *ix)
{
    if (ix == NULL) {
        return;
    }
    for (size_t i = 0; i < ix->n; i++) {
        file_free(ix->files[i]);
    }
    free(ix->files);
    free(ix);
}

/* A new, empty file continuing at next_phys. */
static int
new_file(fm_store_index *ix, uint64_t next_phys, ixfile **out, fm_errbuf *eb)
{
    ixfile *f = calloc(1, sizeof(*f));
    int rc;
    if (f == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    f->seq = ix->next_seq;
    f->slots = ix->slots;
    f->num = ix->num;
    f->len = file_size(f->slots, f->num);
    f->count = 1;
    f->begin_phys = f->end_phys = f->next_phys = next_phys;
    snprintf(f->path, sizeof(f->path), "%s/%020" PRIu64, ix->dir, f->seq);
    f->fd = open(f->path, O_RDWR | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
    if (f->fd < 0) {
        rc = fm_err_sys(eb, FM_EIO, errno, "open %s", f->path);
        free(f);
        return rc;
    }
    /* Sparse: slots and entries read as zeros ("none") until written. */
    {
        int fault = FM_FAULT_POINT("store.index.create");
        if (fault != 0 || ftruncate(f->fd, (off_t)f->len) != 0) {
            int e = fault ? fault : errno;
            rc = fm_err_sys(eb, e == ENOSPC ? FM_ENOSPC : FM_EIO, e, "ftruncate %s", f->path);
            goto fail;
        }
    }
    f->map = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = fm_err_sys(eb, FM_EIO, errno, "mmap %s", f->path);
        goto fail;
    }
    header_write(f);
    /* The name must survive a power loss, or recovery would not know the file. */
    if (fsync_dir(ix->dir) != 0) {
        rc = fm_err_sys(eb, FM_EIO, errno, "fsync %s", ix->dir);
        goto fail;
    }
    if (files_push(ix, f) != FM_OK) {
        rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
        goto fail;
    }
    ix->next_seq++;
    FM_LOGI("store", "FM-STORE-INDEX-NEW", "file=%s slots=%u entries=%u from=%" PRIu64, f->path,
            f->slots, f->num, next_phys);
    *out = f;
    return FM_OK;
fail:
    unlink(f->path);
    file_free(f);
    return rc;
}

static void
entry_read(const ixfile *f, uint32_t i, uint32_t *hash, uint64_t *phys, int32_t *tdiff,
           uint32_t *prev)
{
    const uint8_t *e = entry_ptr(f, i);
    *hash = fm_be32(e);
    *phys = fm_be64(e + 4);
    *tdiff = (int32_t)fm_be32(e + 12);
    *prev = fm_be32(e + 16);
}

/* Append one entry to f (not full). */
static void
put_entry(ixfile *f, uint32_t hash, uint64_t phys, int64_t ts_ms)
{
    uint8_t *sp = slot_ptr(f, slot_of(f, hash)), *e;
    uint32_t prev = fm_be32(sp);
    int64_t diff;
    if (f->count == 1) {
        f->begin_ts = ts_ms;
        f->begin_phys = phys;
    }
    if (prev >= f->count) {
        prev = 0; /* cannot happen in a file we wrote; never follow it */
    }
    diff = (ts_ms - f->begin_ts) / 1000;
    diff = diff < 0 ? 0 : diff > INT32_MAX ? INT32_MAX : diff;
    e = entry_ptr(f, f->count);
    fm_put_be32(e, hash);
    fm_put_be64(e + 4, phys);
    fm_put_be32(e + 12, (uint32_t)diff);
    fm_put_be32(e + 16, prev);
    fm_put_be32(sp, f->count);
    f->count++;
    f->end_phys = phys;
    if (ts_ms > f->end_ts) {
        f->end_ts = ts_ms;
    }
}

/* The newest file if it has room, else a new one. */
static int
writable(fm_store_index *ix, uint64_t phys, ixfile **out, fm_errbuf *eb)
{
    ixfile *f = ix->n ? ix->files[ix->n - 1] : NULL;
    if (f != NULL && f->count < f->num) {
        *out = f;
        return FM_OK;
    }
    if (f != NULL) {
        /* A full file is synced by the next fm_store_index_sync like any written one. */
        header_write(f);
    }
    return new_file(ix, phys, out, eb);
}

void
fm_store_index_keys_get(const fm_store_index *ix, const fm_msg_view *m, fm_store_index_keys *k)
{
    /* the first of each, as fm_props_get finds it when a lookup checks the record */
    static const fm_slice names[] = {FM_SLICE_LIT(FM_PROP_UNIQ_KEY), FM_SLICE_LIT(FM_PROP_KEYS)};
    fm_slice v[2];
    (void)fm_props_pick(m->properties, names, 2, v);
    fm_store_index_keys_of(ix, m, v[0], v[1], k);
}

void
fm_store_index_keys_of(const fm_store_index *ix, const fm_msg_view *m, fm_slice uniq, fm_slice keys,
                       fm_store_index_keys *k)
{
    const ixfile *f = ix->n ? ix->files[ix->n - 1] : NULL;
    size_t i, start;
    k->n = 0;
    k->rest = fm_slice_make(NULL, 0);
    if ((m->sysflag & FM_MSG_SYSFLAG_TX_ROLLBACK) == FM_MSG_SYSFLAG_TX_ROLLBACK) {
        return;
    }
    if (uniq.len > 0) {
        k->hash[k->n++] = fm_store_index_hash(m->topic, uniq);
    }
    for (i = 0, start = 0; i <= keys.len; i++) {
        if (i < keys.len && keys.ptr[i] != ' ') {
            continue;
        }
        if (i > start) {
            if (k->n == FM_INDEX_PREP_KEYS) {
                k->rest = fm_slice_make(keys.ptr + start, keys.len - start);
                break;
            }
            k->hash[k->n++] =
                fm_store_index_hash(m->topic, fm_slice_make(keys.ptr + start, i - start));
        }
        start = i + 1;
    }
    /* The slots are scattered over megabytes: start loading their cache lines now, so the
     * misses overlap with the commit log copy the caller does before fm_store_index_put_keys. */
    if (f != NULL && f->count < f->num) {
        for (int j = 0; j < k->n; j++) {
            __builtin_prefetch(slot_ptr(f, slot_of(f, k->hash[j])), 1);
        }
    }
}

int
fm_store_index_put_keys(fm_store_index *ix, const fm_msg_view *m, const fm_store_index_keys *k,
                        uint64_t phys, int64_t ts_ms, fm_errbuf *eb)
{
    ixfile *f = ix->n ? ix->files[ix->n - 1] : NULL;
    fm_slice keys = k->rest;
    int rc;

    if (f != NULL && phys < f->next_phys) {
        return FM_OK; /* indexed before a restart */
    }
    /* Even a store whose messages carry no keys keeps a file, so that its next_phys tells a
     * restart where to resume instead of rescanning the whole log. */
    if (f == NULL && (rc = new_file(ix, phys, &f, eb)) != FM_OK) {
        return rc;
    }
    for (int j = 0; j < k->n; j++) {
        if ((rc = writable(ix, phys, &f, eb)) != FM_OK) {
            return rc;
        }
        put_entry(f, k->hash[j], phys, ts_ms);
    }
    for (size_t i = 0, start = 0; i <= keys.len; i++) {
        if (i < keys.len && keys.ptr[i] != ' ') {
            continue;
        }
        if (i > start) {
            if ((rc = writable(ix, phys, &f, eb)) != FM_OK) {
                return rc;
            }
            put_entry(f, fm_store_index_hash(m->topic, fm_slice_make(keys.ptr + start, i - start)),
                      phys, ts_ms);
        }
        start = i + 1;
    }
    /* Only the newest file moves past the record: when its keys straddle two files, the older
     * one keeps next_phys before it, so recovery never trusts a half-indexed record. */
    f->next_phys = phys + m->total_size;
    if (f->count == 1) {
        f->begin_phys = f->end_phys = f->next_phys;
    }
    header_write(f);
    return FM_OK;
}

int
fm_store_index_put(fm_store_index *ix, const fm_msg_view *m, uint64_t phys, int64_t ts_ms,
                   fm_errbuf *eb)
{
    fm_store_index_keys k;
    fm_store_index_keys_get(ix, m, &k);
    return fm_store_index_put_keys(ix, m, &k, phys, ts_ms, eb);
}

int
fm_store_index_sync(fm_store_index *ix)
{
    int rc = FM_OK;
    for (size_t i = 0; i < ix->n; i++) {
        ixfile *f = ix->files[i];
        if (f->dirty) {
            if (fdatasync(f->fd) != 0) {
                rc = FM_EIO;
                continue;
            }
            f->dirty = 0;
        }
    }
    return rc;
}

int
fm_store_index_take_dirty(fm_store_index *ix, int **fds, size_t *n, size_t *cap)
{
    size_t had = *n;
    for (size_t i = 0; i < ix->n; i++) {
        ixfile *f = ix->files[i];
        if (!f->dirty) {
            continue;
        }
        if (fm_file_dup_append(f->fd, fds, n, cap) != FM_OK) {
            fm_file_close_from(*fds, n, had);
            fm_store_index_mark_all_dirty(ix);
            return FM_EIO;
        }
        f->dirty = 0;
    }
    return FM_OK;
}

void
fm_store_index_mark_all_dirty(fm_store_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        ix->files[i]->dirty = 1;
    }
}

/* Cut f to its first `keep` entries (keep >= 1) and rebuild its slots from them. */
static void
cut(ixfile *f, uint32_t keep, uint64_t next_phys)
{
    uint32_t hash, prev;
    uint64_t phys;
    int32_t tdiff;
    memset(entry_ptr(f, keep), 0, (size_t)(f->count - keep) * FM_INDEX_ENTRY);
    memset(slot_ptr(f, 0), 0, (size_t)f->slots * FM_INDEX_SLOT);
    for (uint32_t i = 1; i < keep; i++) {
        entry_read(f, i, &hash, &phys, &tdiff, &prev);
        fm_put_be32(slot_ptr(f, slot_of(f, hash)), i);
    }
    f->count = keep;
    if (keep > 1) {
        entry_read(f, keep - 1, &hash, &phys, &tdiff, &prev);
        f->end_phys = phys;
        f->end_ts = f->begin_ts + (int64_t)tdiff * 1000;
    } else {
        f->begin_phys = f->end_phys = next_phys;
        f->begin_ts = f->end_ts = 0;
    }
    f->next_phys = next_phys;
    header_write(f);
}

int
fm_store_index_recover(fm_store_index *ix, uint64_t durable, uint64_t log_end,
                       fm_store_index_check_fn check, void *ud, uint64_t *rebuild_from)
{
    uint64_t c = durable < log_end ? durable : log_end;
    int rc = FM_OK;
    for (size_t k = ix->n; k > 0; k--) {
        ixfile *f = ix->files[k - 1];
        uint32_t hash, prev, i, first = f->count;
        uint64_t phys, last = UINT64_MAX;
        int32_t tdiff;
        int bad = 0;
        if (f->next_phys <= c) {
            break; /* this file and the older ones were durable before the crash */
        }
        /* Walk back from the newest entry to the first one that checks and lies below c:
         * entries are written in log order, so that one was written before the checkpoint and
         * is durable with all before it. Whatever follows it either points at a record at or
         * past c (checked here) or is torn. */
        for (i = f->count - 1; i >= 1; i--) {
            int ok;
            entry_read(f, i, &hash, &phys, &tdiff, &prev);
            ok = prev < i && phys <= last && check(ud, hash, phys);
            if (ok && phys < c) {
                break;
            }
            first = i;
            if (!ok) {
                bad = 1;
            } else {
                last = phys;
            }
        }
        if (!bad && f->next_phys > log_end) {
            bad = 1; /* the log was cut below what the header claims */
        }
        if (!bad) {
            continue;
        }
        /* Torn or ahead of a cut log: keep what was durable, index the rest again. */
        FM_LOGW("store", "FM-STORE-INDEX-CUT", "file=%s entries=%u kept=%u from=%" PRIu64, f->path,
                f->count - 1, first - 1, c);
        if (drop_from(ix, k, "newer than a cut index file") != FM_OK) {
            rc = FM_EIO;
        }
        cut(f, first, c);
        break;
    }
    *rebuild_from = ix->n ? ix->files[ix->n - 1]->next_phys : 0;
    return rc;
}

static int
time_overlaps(const ixfile *f, int64_t begin, int64_t end)
{
    return (begin < f->begin_ts && end > f->end_ts) ||
           (begin >= f->begin_ts && begin <= f->end_ts) || (end >= f->begin_ts && end <= f->end_ts);
}

void
fm_store_index_lookup(fm_store_index *ix, fm_slice topic, fm_slice key, int64_t begin_ms,
                      int64_t end_ms, fm_store_index_match_fn match, void *ud, uint64_t *out,
                      size_t max, size_t *n)
{
    uint32_t want = fm_store_index_hash(topic, key);
    *n = 0;
    for (size_t k = ix->n; k > 0 && *n < max; k--) {
        ixfile *f = ix->files[k - 1];
        uint32_t i;
        if (f->count <= 1) {
            continue;
        }
        if (!time_overlaps(f, begin_ms, end_ms)) {
            if (f->end_ts < begin_ms) {
                break;
            }
            continue;
        }
        i = fm_be32(slot_ptr(f, slot_of(f, want)));
        while (i > 0 && i < f->count && *n < max) {
            uint32_t hash, prev;
            uint64_t phys;
            int32_t tdiff;
            int64_t t;
            entry_read(f, i, &hash, &phys, &tdiff, &prev);
            if (tdiff < 0) {
                break;
            }
            t = f->begin_ts + (int64_t)tdiff * 1000;
            if (hash == want && t >= begin_ms && t <= end_ms) {
                size_t j;
                for (j = 0; j < *n && out[j] != phys; j++) {
                }
                if (j == *n && match(ud, phys)) {
                    out[(*n)++] = phys;
                }
            }
            if (prev >= i || t < begin_ms) {
                break;
            }
            i = prev;
        }
        if (f->begin_ts < begin_ms) {
            break;
        }
    }
}

void
fm_store_index_last_update(const fm_store_index *ix, int64_t *ts_ms, uint64_t *phys)
{
    const ixfile *f = ix->n ? ix->files[ix->n - 1] : NULL;
    *ts_ms = f ? f->end_ts : 0;
    *phys = f ? f->end_phys : 0;
}

int
fm_store_index_delete_before(fm_store_index *ix, uint64_t min_phys)
{
    size_t k = 0;
    while (k + 1 < ix->n && ix->files[k]->end_phys < min_phys) {
        ixfile *f = ix->files[k];
        FM_LOGI("store", "FM-STORE-INDEX-DELETED", "file=%s end_phys=%" PRIu64, f->path,
                f->end_phys);
        unlink(f->path);
        file_free(f);
        k++;
    }
    if (k > 0) {
        memmove(ix->files, ix->files + k, (ix->n - k) * sizeof(*ix->files));
        ix->n -= k;
        fsync_dir(ix->dir);
    }
    return (int)k;
}

size_t
fm_store_index_files(const fm_store_index *ix)
{
    return ix->n;
}

uint64_t
fm_store_index_entries(const fm_store_index *ix)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ix->n; i++) {
        n += ix->files[i]->count - 1;
    }
    return n;
}
