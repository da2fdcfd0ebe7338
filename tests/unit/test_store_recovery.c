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

static void
test_recovery_rebuilds_missing_consume_queue(void **state)
{
    char work[300], path[500];
    fm_store_cfg cfg;
    fm_store *st;
    int64_t max;
    (void)state;
    snprintf(work, sizeof(work), "%s-rebuild", pristine);
    fx_cp(pristine, work);
    snprintf(path, sizeof(path), "%s/consumequeue/RecTopic/0", work);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/checkpoint", work);
    unlink(path);
    fx_cfg(&cfg, work, 4096, 1);
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    assert_int_equal(read_all(st, &max), N);
    assert_int_equal(max, N);
    fm_store_close(st);
    fx_rmrf(work);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery_cut_at_every_byte_of_last_record),
        cmocka_unit_test(test_recovery_cuts_garbage_after_last_record),
        cmocka_unit_test(test_recovery_rebuilds_missing_consume_queue),
        cmocka_unit_test(test_recovery_trims_queue_ahead_of_log),
    };
    return cmocka_run_group_tests(tests, make_pristine, drop_pristine);
}
