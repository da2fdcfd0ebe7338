/*
 * Store recovery on real files: the last record cut at every byte, garbage after the last
 * record, consume queues ahead of or behind the log, a missing consume queue rebuilt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "common/clock.h"

#include <fcntl.h>
#include <sys/stat.h>

#define N 12

static char pristine[200];
static uint64_t last_start, last_end; /* commit log range of the last record */

static int
make_pristine(void **state)
{
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    (void)state;
    fx_mkdtemp(pristine, sizeof(pristine));
    fx_cfg(&cfg, pristine, 4096, 1);
    if (fm_store_open(&cfg, &st, NULL) != FM_OK) {
        return -1;
    }
    /* bodies of ~300 bytes: 12 records roll over into a second segment */
    for (int i = 0; i < N; i++) {
        char body[400];
        snprintf(body, sizeof(body), "recovery-%02d-%0300d", i, i);
        fx_record(&rec, "RecTopic", 0, body, "TagR");
        if (fm_store_append(st, rec.data, rec.len, &res, NULL) != FM_OK) {
            return -1;
        }
        last_start = res.phys_offset;
        last_end = res.phys_offset + res.size;
    }
    if (fm_store_sync(st, NULL) != FM_OK) {
        return -1;
    }
    fm_store_close(st);
    fm_buf_free(&rec);
    return 0;
}

static int
drop_pristine(void **state)
{
    (void)state;
    fx_rmrf(pristine);
    return 0;
}

/* Read the whole queue; return the count and check bodies are in order. */
static int
read_all(fm_store *st, int64_t *max)
{
    fm_store_get_result r;
    int64_t off = 0;
    int n = 0;
    for (;;) {
        assert_int_equal(fm_store_get(st, "RecTopic", 0, off, 32, 1 << 20, NULL, NULL, &r), FM_OK);
        if (r.status != FM_STORE_FOUND) {
            fm_store_get_release(&r);
            break;
        }
        for (int i = 0; i < r.n_msgs; i++) {
            fm_msg_view m;
            char want[32];
            assert_int_equal(fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL), FM_OK);
            assert_true(fm_msg_verify_crc(&m));
            assert_int_equal(m.queue_offset, n);
            snprintf(want, sizeof(want), "recovery-%02d-", n);
            assert_memory_equal(m.body.ptr, want, strlen(want));
            n++;
        }
        off = r.next_begin_offset;
        fm_store_get_release(&r);
    }
    *max = fm_store_max_offset(st, "RecTopic", 0);
    return n;
}

static void
segment_path(char *out, size_t cap, const char *dir, uint64_t start)
{
    snprintf(out, cap, "%s/commitlog/%020llu", dir, (unsigned long long)start);
}

static void
test_recovery_cut_at_every_byte_of_last_record(void **state)
{
    char work[300], seg[400];
    uint64_t seg_start = last_start - last_start % 4096;
    fm_buf rec = {0};
    (void)state;
    snprintf(work, sizeof(work), "%s-work", pristine);
    for (uint64_t cut = last_start; cut < last_end; cut++) {
        fm_store_cfg cfg;
        fm_store *st;
        fm_store_put_result res;
        int64_t max;
        fx_cp(pristine, work);
        segment_path(seg, sizeof(seg), work, seg_start);
        assert_int_equal(truncate(seg, (off_t)(cut - seg_start)), 0);
        fx_cfg(&cfg, work, 4096, 1);
        assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
        /* everything before the cut record survives; the cut one is gone */
        if (read_all(st, &max) != N - 1) {
            fprintf(stderr, "cut=%llu last=[%llu,%llu) end=%llu\n", (unsigned long long)cut,
                    (unsigned long long)last_start, (unsigned long long)last_end,
                    (unsigned long long)fm_store_max_phys_offset(st));
            fail();
        }
        assert_int_equal(max, N - 1);
        assert_true(fm_store_max_phys_offset(st) == last_start);
        /* and the store takes new appends at the right place */
        fx_record(&rec, "RecTopic", 0, "recovery-11-again", NULL);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
        assert_int_equal(res.queue_offset, N - 1);
        assert_true(res.phys_offset == last_start);
        assert_int_equal(read_all(st, &max), N);
        fm_store_close(st);
    }
    fx_rmrf(work);
    fm_buf_free(&rec);
}

static void
test_recovery_cuts_garbage_after_last_record(void **state)
{
    char work[300], seg[400];
    uint64_t seg_start = last_start - last_start % 4096;
    fm_store_cfg cfg;
    fm_store *st;
    int64_t max;
    int fd;
    (void)state;
    snprintf(work, sizeof(work), "%s-garbage", pristine);
    fx_cp(pristine, work);
    segment_path(seg, sizeof(seg), work, seg_start);
    fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    /* a plausible header (size, magic) with a body that fails its CRC */
    {
        uint8_t junk[200];
        memset(junk, 0x5A, sizeof(junk));
        fm_put_be32(junk, 200);
        fm_put_be32(junk + 4, FM_MSG_MAGIC_V1);
        assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(last_end - seg_start)), 200);
    }
    close(fd);
    fx_cfg(&cfg, work, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    assert_int_equal(read_all(st, &max), N);
    assert_true(fm_store_max_phys_offset(st) == last_end);
    fm_store_close(st);
    /* the garbage was zeroed on disk, not just ignored */
    fd = open(seg, O_RDONLY);
    {
        uint8_t b[8];
        assert_int_equal(pread(fd, b, 8, (off_t)(last_end - seg_start)), 8);
        assert_int_equal(fm_be32(b), 0);
    }
    close(fd);
    fx_rmrf(work);
}

/* Open the damaged copy work: recovery must bring back all N messages, queue end N. */
static void
expect_all_recovered(const char *work)
{
    fm_store_cfg cfg;
    fm_store *st;
    int64_t max;
    fx_cfg(&cfg, work, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    assert_int_equal(read_all(st, &max), N);
    assert_int_equal(max, N);
    fm_store_close(st);
    fx_rmrf(work);
}

static void
test_recovery_rebuilds_missing_consume_queue(void **state)
{
    char work[300], path[500];
    (void)state;
    snprintf(work, sizeof(work), "%s-rebuild", pristine);
    fx_cp(pristine, work);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/checkpoint", work);
    unlink(path);
    expect_all_recovered(work);
}

static void
test_recovery_trims_queue_ahead_of_log(void **state)
{
    char work[300], seg[400];
    fm_store_cfg cfg;
    fm_store *st;
    int64_t max;
    uint64_t seg_start = last_start - last_start % 4096;
    (void)state;
    snprintf(work, sizeof(work), "%s-ahead", pristine);
    fx_cp(pristine, work);
    /* lose the whole last segment: its queue entries now point past the log */
    segment_path(seg, sizeof(seg), work, seg_start);
    if (seg_start > 0) {
        assert_int_equal(unlink(seg), 0);
    } else {
        assert_int_equal(truncate(seg, 0), 0);
    }
    fx_cfg(&cfg, work, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    read_all(st, &max);
    /* no entry points beyond the log end, and all remaining entries read */
    {
        fm_store_get_result r;
        assert_int_equal(fm_store_get(st, "RecTopic", 0, max, 1, 1 << 20, NULL, NULL, &r), FM_OK);
        assert_int_equal(r.status, FM_STORE_OFFSET_OVERFLOW_ONE);
        fm_store_get_release(&r);
    }
    assert_true(max < N);
    fm_store_close(st);
    fx_rmrf(work);
}

/* ---- power loss: what a cut leaves when names or pages never reached the disk ---- */

static void
write_checkpoint(const char *dir, const char *text)
{
    char path[400];
    FILE *f;
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Commit log offset of queue entry idx of RecTopic/0 in a store dir (read from the file). */
static uint64_t
entry_phys(const char *dir, int64_t idx)
{
    char path[400];
    uint8_t e[20];
    int fd;
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", dir);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, e, sizeof(e), (off_t)idx * 20), 20);
    close(fd);
    return fm_be64(e);
}

/* Bodies readable through the queue, in order, whatever the queue offsets: marks seen[i]. */
static int
read_bodies(fm_store *st, int seen[N])
{
    fm_store_get_result r;
    int64_t off = 0;
    int n = 0;
    memset(seen, 0, sizeof(int) * N);
    for (int guard = 0; guard < 1000; guard++) {
        assert_int_equal(fm_store_get(st, "RecTopic", 0, off, 32, 1 << 20, NULL, NULL, &r), FM_OK);
        if (r.status != FM_STORE_FOUND && r.status != FM_STORE_OFFSET_FOUND_NULL) {
            fm_store_get_release(&r);
            break;
        }
        for (int i = 0; i < r.n_msgs; i++) {
            fm_msg_view m;
            int id;
            assert_int_equal(fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL), FM_OK);
            assert_true(fm_msg_verify_crc(&m));
            assert_int_equal(sscanf((const char *)m.body.ptr, "recovery-%02d-", &id), 1);
            assert_true(id >= 0 && id < N);
            seen[id] = 1;
            n++;
        }
        assert_true(r.next_begin_offset > off);
        off = r.next_begin_offset;
        fm_store_get_release(&r);
    }
    return n;
}

/* The queue file's name never reached the disk, yet the checkpoint (written after it) says
 * every entry up to the log end is durable: recovery must not believe it. */
static void
test_recovery_rebuilds_queue_whose_file_vanished_behind_checkpoint(void **state)
{
    char work[300], path[500], ck[96];
    (void)state;
    snprintf(work, sizeof(work), "%s-vanished", pristine);
    fx_cp(pristine, work);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic", work);
    assert_int_equal(rmdir(path), 0);
    snprintf(ck, sizeof(ck), "ferrymq-checkpoint 1 %llu\n", (unsigned long long)last_end);
    write_checkpoint(work, ck);
    expect_all_recovered(work);
}

/* A queue whose records all lie before the checkpoint's segment lost its file: no walked
 * record names it, so only the queue count the checkpoint carries shows the loss. */
static void
test_recovery_counts_queue_files_against_checkpoint(void **state)
{
    char dir[200], path[500];
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    fx_cfg(&cfg, dir, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    for (int i = 0; i < 3; i++) {
        fx_record(&rec, "EarlyTopic", 0, "early", NULL);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    while (fm_store_max_phys_offset(st) < 2 * 4096 + 100) {
        char body[400];
        snprintf(body, sizeof(body), "late-%0300d", 1);
        fx_record(&rec, "LateTopic", 0, body, NULL);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    assert_int_equal(fm_store_sync(st, NULL), FM_OK);
    fm_store_close(st); /* checkpoint: log end, 2 queues */
    snprintf(path, sizeof(path), "%s/consumequeue/EarlyTopic/0", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    assert_int_equal(fm_store_max_offset(st, "EarlyTopic", 0), 3);
    fm_store_close(st);
    fm_buf_free(&rec);
    fx_rmrf(dir);
}

/* The queue file kept only its first entries (the old format's checkpoint, too, claims the
 * whole log): the first walked record of the queue is beyond the file's end, so the walk is
 * redone from the oldest segment. */
static void
test_recovery_rebuilds_entries_a_lying_checkpoint_skips(void **state)
{
    char work[300], path[500], ck[96];
    (void)state;
    snprintf(work, sizeof(work), "%s-lying", pristine);
    fx_cp(pristine, work);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
    assert_int_equal(truncate(path, 3 * 20), 0);
    snprintf(ck, sizeof(ck), "ferrymq-checkpoint 1 %llu\n", (unsigned long long)last_end);
    write_checkpoint(work, ck);
    expect_all_recovered(work);
}

/* An entry past the checkpoint that disagrees with the log is rewritten from the record. */
static void
test_recovery_rewrites_wrong_entry_past_checkpoint(void **state)
{
    char work[300], path[500], ck[96];
    uint8_t e[20];
    int fd;
    (void)state;
    snprintf(work, sizeof(work), "%s-wrong", pristine);
    fx_cp(pristine, work);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    /* entry N-1 points at entry N-2's record */
    assert_int_equal(pread(fd, e, 20, (off_t)(N - 2) * 20), 20);
    assert_int_equal(pwrite(fd, e, 20, (off_t)(N - 1) * 20), 20);
    close(fd);
    snprintf(ck, sizeof(ck), "ferrymq-checkpoint 2 %llu 1\n", (unsigned long long)last_end);
    write_checkpoint(work, ck);
    expect_all_recovered(work);
}

/* A cut right after a roll: the first segment's last record and its BLANK tail never reached
 * the disk, the second segment's records did. Recovery closes the first segment at the gap
 * (a BLANK record, on disk) and keeps every record of the second one; the lost record's queue
 * offset becomes a hole that reads skip. */
static void
test_recovery_continues_past_zero_gap_at_end_of_rolled_segment(void **state)
{
    char work[300], seg[400], path[500];
    fm_store_cfg cfg;
    fm_store *st;
    int seen[N], n;
    uint64_t gap = 0;
    int64_t lost = -1;
    (void)state;
    snprintf(work, sizeof(work), "%s-gap", pristine);
    for (int keep_queue = 0; keep_queue < 2; keep_queue++) {
        fx_cp(pristine, work);
        /* the last record of segment 0 */
        for (int64_t i = 0; i < N; i++) {
            uint64_t p = entry_phys(work, i);
            if (p < 4096) {
                gap = p;
                lost = i;
            }
        }
        assert_true(lost > 0 && lost < N - 1);
        segment_path(seg, sizeof(seg), work, 0);
        {
            int fd = open(seg, O_RDWR);
            uint8_t zero[4096] = {0};
            assert_true(fd >= 0);
            assert_int_equal(pwrite(fd, zero, 4096 - gap, (off_t)gap), (ssize_t)(4096 - gap));
            close(fd);
        }
        /* the checkpoint cannot be past the gap (it never claims more than the flush); with
         * keep_queue = 0 the queue file is gone too, so every entry comes from the walk */
        write_checkpoint(work, "ferrymq-checkpoint 2 0 1\n");
        if (!keep_queue) {
            snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
            assert_int_equal(unlink(path), 0);
        }
        fx_cfg(&cfg, work, 4096, 1);
        assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
        n = read_bodies(st, seen);
        assert_int_equal(n, N - 1);
        for (int i = 0; i < N; i++) {
            assert_int_equal(seen[i], i != lost);
        }
        /* the log still ends after the second segment's records, and takes appends there */
        assert_true(fm_store_max_phys_offset(st) == last_end);
        assert_int_equal(fm_store_max_offset(st, "RecTopic", 0), N);
        {
            fm_buf rec = {0};
            fm_store_put_result res;
            fx_record(&rec, "RecTopic", 0, "recovery-00-after-gap", NULL);
            assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
            assert_int_equal(res.queue_offset, N);
            fm_buf_free(&rec);
        }
        fm_store_close(st);
        /* the gap is a BLANK record on disk now */
        {
            int fd = open(seg, O_RDONLY);
            uint8_t b[8];
            assert_int_equal(pread(fd, b, 8, (off_t)gap), 8);
            assert_int_equal(fm_be32(b), 4096 - gap);
            assert_int_equal(fm_be32(b + 4), FM_MSG_MAGIC_BLANK);
            close(fd);
        }
        /* and a second start finds the same store */
        assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
        assert_int_equal(read_bodies(st, seen), N);
        fm_store_close(st);
    }
    fx_rmrf(work);
}

/* After an empty segment nothing is reachable: a later segment with bytes in it is set
 * aside (not deleted), and the store rolls into a fresh one later. */
static void
test_recovery_sets_aside_segment_after_the_end(void **state)
{
    char work[300], seg[400], path[500];
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    struct stat sb;
    (void)state;
    snprintf(work, sizeof(work), "%s-aside", pristine);
    fx_cp(pristine, work);
    /* segment 1 becomes empty, segment 2 holds junk */
    segment_path(seg, sizeof(seg), work, 4096);
    assert_int_equal(truncate(seg, 0), 0);
    segment_path(seg, sizeof(seg), work, 8192);
    {
        int fd = open(seg, O_RDWR | O_CREAT, 0644);
        uint8_t junk[512];
        memset(junk, 0x77, sizeof(junk));
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
        close(fd);
    }
    fx_cfg(&cfg, work, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    assert_true(fm_store_max_phys_offset(st) == 4096);
    snprintf(path, sizeof(path), "%s.dropped", seg);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_not_equal(stat(seg, &sb), 0);
    /* appends fill segment 1 and roll into a new segment 2 */
    for (int i = 0; i < 12; i++) {
        char body[400];
        snprintf(body, sizeof(body), "recovery-%02d-again-%0300d", i % N, i);
        fx_record(&rec, "RecTopic", 0, body, NULL);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    assert_true(fm_store_max_phys_offset(st) > 8192);
    assert_int_equal(fm_store_sync(st, NULL), FM_OK);
    fm_store_close(st);
    fm_buf_free(&rec);
    fx_rmrf(work);
}

/* The offset the checkpoint file in dir claims now. */
static unsigned long long
checkpoint_offset(const char *dir)
{
    char path[400], buf[128];
    unsigned long long off = 0;
    FILE *f;
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_int_equal(sscanf(buf, "ferrymq-checkpoint %*d %llu", &off), 1);
    return off;
}

/* ASYNC_FLUSH: the checkpoint never claims records the flush has not made durable (else a
 * power cut could take them while recovery skips checking them). */
static void
test_checkpoint_claims_no_more_than_the_flush(void **state)
{
    char dir[200];
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    fx_cfg(&cfg, dir, 1 << 20, 0);
    cfg.flush_interval_ms = 60000; /* the flush thread stays asleep for the whole test */
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    for (int i = 0; i < 5; i++) {
        fx_record(&rec, "AsyncTopic", 0, "not-yet-flushed", NULL);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    assert_true(fm_store_flushed_offset(st) < fm_store_max_phys_offset(st));
    fm_store_tick(st, fm_clock_wall_ms());
    fm_store_tick_wait(st);
    assert_true(checkpoint_offset(dir) <= fm_store_flushed_offset(st));
    /* after a sync the next checkpoint, written by the meta thread, moves up to it */
    assert_int_equal(fm_store_sync(st, NULL), FM_OK);
    fm_store_tick(st, fm_clock_wall_ms() + 2000); /* a checkpoint period later */
    fm_store_tick_wait(st);
    assert_true(checkpoint_offset(dir) == res.phys_offset + res.size);
    /* and so does the one written at close */
    fm_store_close(st);
    assert_true(checkpoint_offset(dir) == res.phys_offset + res.size);
    fm_buf_free(&rec);
    fx_rmrf(dir);
}

/* A name whose directory cannot be synced may vanish at a power cut: nothing that depends on
 * it is acknowledged (a new segment, a new queue), and the next try works. */
static void
test_failed_directory_sync_fails_the_append(void **state)
{
    char dir[200], path[400];
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    struct stat sb;
    char body[400];
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    fx_cfg(&cfg, dir, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    snprintf(body, sizeof(body), "dirsync-%0300d", 0);
    fx_record(&rec, "DirTopic", 0, body, NULL);
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    /* a new queue */
    setenv("FM_FAULT", "store.fsync_dir:EIO", 1);
    fx_record(&rec, "DirTopic", 1, body, NULL);
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_EIO);
    unsetenv("FM_FAULT");
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    /* a new segment */
    fx_record(&rec, "DirTopic", 0, body, NULL);
    while (fm_store_max_phys_offset(st) + rec.len <= 4096) {
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    setenv("FM_FAULT", "store.fsync_dir:EIO", 1);
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_EIO);
    unsetenv("FM_FAULT");
    snprintf(path, sizeof(path), "%s/commitlog/%020d", dir, 4096);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    assert_true(res.phys_offset == 4096);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(fm_store_sync(st, NULL), FM_OK);
    fm_store_close(st);
    fm_buf_free(&rec);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery_cut_at_every_byte_of_last_record),
        cmocka_unit_test(test_recovery_cuts_garbage_after_last_record),
        cmocka_unit_test(test_recovery_rebuilds_missing_consume_queue),
        cmocka_unit_test(test_recovery_trims_queue_ahead_of_log),
        cmocka_unit_test(test_recovery_rebuilds_queue_whose_file_vanished_behind_checkpoint),
        cmocka_unit_test(test_recovery_counts_queue_files_against_checkpoint),
        cmocka_unit_test(test_recovery_rebuilds_entries_a_lying_checkpoint_skips),
        cmocka_unit_test(test_recovery_rewrites_wrong_entry_past_checkpoint),
        cmocka_unit_test(test_recovery_continues_past_zero_gap_at_end_of_rolled_segment),
        cmocka_unit_test(test_recovery_sets_aside_segment_after_the_end),
        cmocka_unit_test(test_checkpoint_claims_no_more_than_the_flush),
        cmocka_unit_test(test_failed_directory_sync_fails_the_append),
    };
    return cmocka_run_group_tests(tests, make_pristine, drop_pristine);
}
