/*
 * Store API on real files: append and read across segment rolls, read statuses, tag filter,
 * persistence of topics and offsets, retention, timestamp search, read by commit log offset,
 * the fsync fault point, staging and the write fault point, Java's String.hashCode for tags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"
#include "store_fixture.h"

#include "common/clock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static char dir[200];

static int
mk(void **state)
{
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    return 0;
}

static int
rm(void **state)
{
    (void)state;
    fx_rmrf(dir);
    return 0;
}

static fm_store *
open_store(uint64_t seg, int sync)
{
    fm_store_cfg cfg;
    fm_store *st = NULL;
    fm_errbuf eb;
    fx_cfg(&cfg, dir, seg, sync);
    if (fm_store_open(&cfg, &st, &eb) != FM_OK) {
        fail_msg("open: %s", eb.msg);
    }
    return st;
}

static void
append(fm_store *st, const char *topic, int qid, const char *body, const char *tag,
       fm_store_put_result *res)
{
    fm_buf rec = {0};
    fm_store_put_result tmp;
    fx_record(&rec, topic, qid, body, tag);
    assert_int_equal(fm_store_append(st, rec.data, rec.len, res ? res : &tmp, NULL), FM_OK);
    fm_buf_free(&rec);
}

static void
test_store_append_read_across_rolls(void **state)
{
    fm_store *st = open_store(4096, 0);
    fm_store_get_result r;
    char body[700];
    int64_t off = 0;
    fm_buf copy = {0};
    int seen = 0;
    (void)state;
    for (int i = 0; i < 60; i++) {
        fm_store_put_result res;
        snprintf(body, sizeof(body), "m%03d-%0*d", i, 100 + (i * 37) % 500, i);
        append(st, "Roll", i % 3, body, NULL, &res);
        assert_int_equal(res.queue_offset, i / 3);
    }
    /* more than five 4 KiB segments were written */
    assert_true(fm_store_max_phys_offset(st) > 5 * 4096);
    while (1) {
        assert_int_equal(fm_store_get(st, "Roll", 1, off, 7, 1 << 20, NULL, NULL, &r), FM_OK);
        if (r.status != FM_STORE_FOUND) {
            assert_int_equal(r.status, FM_STORE_OFFSET_OVERFLOW_ONE);
            fm_store_get_release(&r);
            break;
        }
        assert_true(r.n_msgs <= 7);
        for (int i = 0; i < r.n_msgs; i++) {
            fm_msg_view m;
            char want[16];
            assert_int_equal(fm_msg_decode(r.msgs[i].ptr, r.msgs[i].len, &m, NULL), FM_OK);
            assert_int_equal(m.queue_offset, off + i);
            assert_int_equal(m.queue_id, 1);
            /* the store patched the record's own position into it */
            fm_buf_reset(&copy);
            assert_int_equal(fm_store_read_at(st, (uint64_t)m.phys_offset, &copy, NULL), FM_OK);
            assert_int_equal(copy.len, r.msgs[i].len);
            assert_memory_equal(copy.data, r.msgs[i].ptr, copy.len);
            assert_true(m.store_timestamp > 0);
            snprintf(want, sizeof(want), "m%03d-", (int)(off + i) * 3 + 1);
            assert_memory_equal(m.body.ptr, want, 5);
        }
        off = r.next_begin_offset;
        seen += r.n_msgs;
        fm_store_get_release(&r);
    }
    assert_int_equal(seen, 20);
    fm_buf_free(&copy);
    assert_int_equal(fm_store_min_offset(st, "Roll", 1), 0);
    assert_int_equal(fm_store_max_offset(st, "Roll", 1), 20);
    fm_store_close(st);
}

static void
test_store_get_statuses(void **state)
{
    fm_store *st = open_store(65536, 0);
    fm_store_get_result r;
    (void)state;
    assert_int_equal(fm_store_get(st, "Nope", 0, 0, 32, 1 << 20, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_NO_MESSAGE_IN_QUEUE);
    append(st, "Stat", 0, "a", NULL, NULL);
    append(st, "Stat", 0, "b", NULL, NULL);
    assert_int_equal(fm_store_get(st, "Stat", 0, 2, 32, 1 << 20, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_OFFSET_OVERFLOW_ONE);
    assert_int_equal(r.next_begin_offset, 2);
    assert_int_equal(fm_store_get(st, "Stat", 0, 50, 32, 1 << 20, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_OFFSET_OVERFLOW_BADLY);
    assert_int_equal(fm_store_get(st, "Stat", 0, 0, 0, 1 << 20, NULL, NULL, &r), FM_EINVAL);
    /* max_bytes stops a batch but always returns at least one record */
    assert_int_equal(fm_store_get(st, "Stat", 0, 0, 32, 1, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.n_msgs, 1);
    assert_int_equal(r.next_begin_offset, 1);
    fm_store_get_release(&r);
    fm_store_close(st);
}

static int
only_tag_b(void *ud, int64_t hash, const uint8_t *rec, size_t len)
{
    (void)ud;
    (void)rec;
    (void)len;
    return hash == fm_store_tag_hash(fm_slice_cstr("TagB"));
}

static void
test_store_filter_skips_and_advances(void **state)
{
    fm_store *st = open_store(65536, 0);
    fm_store_get_result r;
    (void)state;
    for (int i = 0; i < 10; i++) {
        append(st, "Filt", 0, "x", i == 7 ? "TagB" : "TagA", NULL);
    }
    assert_int_equal(fm_store_get(st, "Filt", 0, 0, 5, 1 << 20, only_tag_b, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_FOUND);
    assert_int_equal(r.n_msgs, 1);
    assert_int_equal(r.next_begin_offset, 10);
    fm_store_get_release(&r);
    assert_int_equal(fm_store_get(st, "Filt", 0, 8, 5, 1 << 20, only_tag_b, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_NO_MATCHED_MSG);
    assert_int_equal(r.next_begin_offset, 10);
    fm_store_get_release(&r);
    fm_store_close(st);
}

static void
test_store_topics_and_offsets_persist(void **state)
{
    fm_store *st = open_store(65536, 1);
    fm_store_topic t, got;
    int64_t off;
    fm_errbuf eb;
    (void)state;
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Persist");
    t.read_queue_nums = 3;
    t.write_queue_nums = 5;
    t.perm = 6;
    assert_int_equal(fm_store_topic_put(st, &t, &eb), FM_OK);
    snprintf(t.name, sizeof(t.name), "bad name");
    assert_int_equal(fm_store_topic_put(st, &t, &eb), FM_EINVAL);
    assert_int_equal(fm_store_offset_commit(st, "g1", "Persist", 2, 42), FM_OK);
    assert_int_equal(fm_store_offset_query(st, "g1", "Persist", 1, &off), FM_ENOTFOUND);
    fm_store_close(st);

    st = open_store(65536, 1);
    assert_int_equal(fm_store_topic_get(st, "Persist", &got), FM_OK);
    assert_int_equal(got.read_queue_nums, 3);
    assert_int_equal(got.write_queue_nums, 5);
    assert_int_equal(fm_store_topic_get(st, "bad name", &got), FM_ENOTFOUND);
    assert_int_equal(fm_store_offset_query(st, "g1", "Persist", 2, &off), FM_OK);
    assert_int_equal(off, 42);
    fm_store_close(st);
}

/* The periodic save is the meta thread's, taken by the tick; an offset reset's is immediate. */
static void
test_store_offsets_written_by_tick_and_persist(void **state)
{
    fm_store *st = open_store(65536, 0);
    fm_errbuf eb;
    char path[400];
    (void)state;
    /* the file as on disk now, not what close would write */
    snprintf(path, sizeof(path), "%s/config/consumerOffset.json", dir);
    assert_int_equal(fm_store_offset_commit(st, "g1", "T", 0, 4242), FM_OK);
    fm_store_tick(st, fm_clock_wall_ms());
    fm_store_tick_wait(st);
    assert_true(fmt_file_contains(path, "4242"));
    assert_int_equal(fm_store_offset_commit(st, "g1", "T", 0, 4343), FM_OK);
    assert_int_equal(fm_store_offsets_persist(st, &eb), FM_OK);
    assert_true(fmt_file_contains(path, "4343"));
    /* nothing changed: the tick hands nothing over and the file stays */
    fm_store_tick(st, fm_clock_wall_ms());
    fm_store_tick_wait(st);
    assert_true(fmt_file_contains(path, "4343"));
    fm_store_close(st);
}

/* Group configs: the defaults at open, put/replace/delete persisted and read back, the
 * offsets of a group or topic removed, a pre-groups store adopting its groups once, a torn
 * file refused and RocketMQ's own file (no format version) read. */
static void
test_store_group_configs(void **state)
{
    fm_store *st = open_store(65536, 1);
    fm_store_group g, got;
    fm_store_cfg cfg;
    fm_errbuf eb;
    int64_t ts, c0, c1, off;
    char path[300];
    FILE *f;
    (void)state;
    /* a store from before groups had records: its offset groups are adopted at the next open */
    assert_int_equal(fm_store_offset_commit(st, "old-g", "T", 0, 5), FM_OK);
    assert_int_equal(fm_store_offset_commit(st, "%SCHEDULE%", "SCHEDULE_TOPIC_XXXX", 0, 1), FM_OK);
    fm_store_close(st);
    snprintf(path, sizeof(path), "%s/config/subscriptionGroup.json", dir);
    unlink(path);
    st = open_store(65536, 1);
    assert_int_equal(fm_store_group_get(st, "TOOLS_CONSUMER", &got), FM_OK);
    assert_int_equal(got.retry_max_times, 16);
    assert_int_equal(fm_store_group_get(st, "old-g", &got), FM_OK);
    assert_int_equal(fm_store_group_get(st, "%SCHEDULE%", &got), FM_ENOTFOUND);
    fm_store_group_version(st, &ts, &c0);

    fm_store_group_defaults(&g, "pay");
    g.consume_enable = 0;
    g.retry_max_times = 3;
    g.retry_queue_nums = 4;
    g.which_broker_when_consume_slowly = 2;
    assert_int_equal(fm_store_group_put(st, &g, &eb), FM_OK);
    fm_store_group_version(st, &ts, &c1);
    assert_true(c1 > c0);
    g.name[0] = '\0';
    assert_int_equal(fm_store_group_put(st, &g, &eb), FM_EINVAL);
    /* deleting old-g keeps its offsets unless asked */
    assert_int_equal(fm_store_group_delete(st, "old-g", &eb), FM_OK);
    assert_int_equal(fm_store_group_delete(st, "old-g", &eb), FM_ENOTFOUND);
    assert_int_equal(fm_store_offset_query(st, "old-g", "T", 0, &off), FM_OK);
    assert_int_equal(fm_store_offset_commit(st, "pay", "T", 1, 7), FM_OK);
    assert_int_equal(fm_store_offset_commit(st, "pay", "U", 0, 8), FM_OK);
    assert_int_equal(fm_store_offset_commit(st, "x@pay", "T", 0, 9), FM_OK);
    assert_int_equal(fm_store_offset_remove(st, "pay", NULL), 2);
    assert_int_equal(fm_store_offset_query(st, "pay", "T", 1, &off), FM_ENOTFOUND);
    assert_int_equal(fm_store_offset_query(st, "x@pay", "T", 0, &off), FM_OK);
    assert_int_equal(fm_store_offset_remove(st, NULL, "T"), 2); /* old-g and x@pay */
    assert_int_equal(fm_store_offsets_persist(st, &eb), FM_OK);
    fm_store_close(st);

    st = open_store(65536, 1);
    assert_int_equal(fm_store_group_get(st, "pay", &got), FM_OK);
    assert_int_equal(got.consume_enable, 0);
    assert_int_equal(got.retry_max_times, 3);
    assert_int_equal(got.retry_queue_nums, 4);
    assert_int_equal(got.which_broker_when_consume_slowly, 2);
    assert_int_equal(got.consume_broadcast_enable, 1);
    /* deleted and not adopted again: the file exists */
    assert_int_equal(fm_store_group_get(st, "old-g", &got), FM_ENOTFOUND);
    assert_int_equal(fm_store_offset_query(st, "old-g", "T", 0, &off), FM_ENOTFOUND);
    fm_store_close(st);

    /* RocketMQ's own subscriptionGroup.json (tabs, no format version) */
    f = fopen(path, "w");
    fputs("{\n\t\"dataVersion\":{\n\t\t\"counter\":7,\n\t\t\"timestamp\":1622907213308\n\t},"
          "\n\t\"subscriptionGroupTable\":{\n\t\t\"rmq-g\":{\n\t\t\t\"brokerId\":0,"
          "\"consumeBroadcastEnable\":true,\"consumeEnable\":true,\"consumeFromMinEnable\":true,"
          "\"groupName\":\"rmq-g\",\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":5,"
          "\"retryQueueNums\":1,\"whichBrokerWhenConsumeSlowly\":1\n\t\t}\n\t}\n}",
          f);
    fclose(f);
    st = open_store(65536, 1);
    assert_int_equal(fm_store_group_get(st, "rmq-g", &got), FM_OK);
    assert_int_equal(got.retry_max_times, 5);
    fm_store_group_version(st, &ts, &c1);
    assert_int_equal(c1, 7);
    assert_int_equal(ts, 1622907213308LL);
    fm_store_close(st);

    f = fopen(path, "w");
    fputs("{\"subscriptionGroupTable\": {\"g\": ", f);
    fclose(f);
    fx_cfg(&cfg, dir, 65536, 1);
    assert_int_equal(fm_store_open(&cfg, &st, &eb), FM_ECORRUPT);
    assert_non_null(strstr(eb.msg, "subscriptionGroup.json"));
}

/* Deleting a topic: config, queues and offsets go at once and stay gone across restarts,
 * also when recovery walks the whole log (no checkpoint); the index no longer finds its
 * messages; a topic of the same name made later starts at queue offset 0. */
static void
test_store_topic_delete(void **state)
{
    fm_store *st = open_store(65536, 1);
    fm_store_topic t, got;
    fm_store_get_result r;
    fm_store_query_result qr;
    fm_store_put_result pr;
    fm_buf out = {0};
    fm_errbuf eb;
    int64_t off;
    char path[400];
    struct stat sb;
    (void)state;
    memset(&t, 0, sizeof(t));
    t.read_queue_nums = t.write_queue_nums = 2;
    t.perm = 6;
    snprintf(t.name, sizeof(t.name), "Del");
    assert_int_equal(fm_store_topic_put(st, &t, &eb), FM_OK);
    snprintf(t.name, sizeof(t.name), "Keep");
    assert_int_equal(fm_store_topic_put(st, &t, &eb), FM_OK);
    append(st, "Del", 0, "del-a", NULL, NULL);
    append(st, "Del", 1, "del-b", NULL, NULL);
    append(st, "Keep", 0, "keep-a", NULL, NULL);
    append(st, "Del", 0, "del-c", NULL, NULL);
    assert_int_equal(fm_store_offset_commit(st, "g", "Del", 0, 2), FM_OK);
    assert_int_equal(fm_store_offset_commit(st, "g", "Keep", 0, 1), FM_OK);
    assert_int_equal(fm_store_sync(st, &eb), FM_OK);

    assert_int_equal(fm_store_topic_delete(st, "Del", &eb), FM_OK);
    assert_int_equal(fm_store_topic_delete(st, "Del", &eb), FM_ENOTFOUND);
    assert_int_equal(fm_store_topic_get(st, "Del", &got), FM_ENOTFOUND);
    assert_int_equal(fm_store_get(st, "Del", 0, 0, 32, 1 << 20, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_NO_MESSAGE_IN_QUEUE);
    assert_int_equal(fm_store_offset_query(st, "g", "Del", 0, &off), FM_ENOTFOUND);
    assert_int_equal(fm_store_offset_query(st, "g", "Keep", 0, &off), FM_OK);
    snprintf(path, sizeof(path), "%s/consumequeue/Del", dir);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_equal(
        fm_store_query_by_key(st, "Del", fm_slice_cstr("del-a"), 1, 32, 0, INT64_MAX, &out, &qr),
        FM_OK);
    assert_int_equal(qr.n_msgs, 0);
    fm_store_close(st);

    /* a restart from the checkpoint, then one from nothing (the whole log walked) */
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            snprintf(path, sizeof(path), "%s/checkpoint", dir);
            assert_int_equal(unlink(path), 0);
        }
        st = open_store(65536, 1);
        assert_int_equal(fm_store_topic_get(st, "Del", &got), FM_ENOTFOUND);
        assert_true(fm_store_max_offset(st, "Del", 0) <= 0);
        assert_true(fm_store_max_offset(st, "Del", 1) <= 0);
        assert_int_equal(fm_store_max_offset(st, "Keep", 0), 1);
        assert_int_equal(fm_store_offset_query(st, "g", "Del", 0, &off), FM_ENOTFOUND);
        fm_store_close(st);
    }

    /* made again: offsets from 0, its new messages found, the old ones not */
    st = open_store(65536, 1);
    snprintf(t.name, sizeof(t.name), "Del");
    assert_int_equal(fm_store_topic_put(st, &t, &eb), FM_OK);
    append(st, "Del", 0, "del-new", NULL, &pr);
    assert_int_equal(pr.queue_offset, 0);
    assert_int_equal(fm_store_sync(st, &eb), FM_OK);
    fm_store_close(st);
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    unlink(path);
    st = open_store(65536, 1);
    assert_int_equal(fm_store_max_offset(st, "Del", 0), 1);
    assert_int_equal(
        fm_store_query_by_key(st, "Del", fm_slice_cstr("del-new"), 1, 32, 0, INT64_MAX, &out, &qr),
        FM_OK);
    assert_int_equal(qr.n_msgs, 1);
    assert_int_equal(
        fm_store_query_by_key(st, "Del", fm_slice_cstr("del-c"), 1, 32, 0, INT64_MAX, &out, &qr),
        FM_OK);
    assert_int_equal(qr.n_msgs, 0);
    fm_store_close(st);
    fm_buf_free(&out);
}

static void
test_store_corrupt_metadata_refuses_to_open(void **state)
{
    fm_store *st = open_store(65536, 1);
    fm_store_cfg cfg;
    fm_errbuf eb;
    char path[300];
    FILE *f;
    (void)state;
    fm_store_offset_commit(st, "g", "T", 0, 1);
    fm_store_close(st);
    snprintf(path, sizeof(path), "%s/config/consumerOffset.json", dir);
    f = fopen(path, "w");
    fputs("{ torn", f);
    fclose(f);
    fx_cfg(&cfg, dir, 65536, 1);
    assert_int_equal(fm_store_open(&cfg, &st, &eb), FM_ECORRUPT);
    assert_non_null(strstr(eb.msg, "consumerOffset.json"));
}

static void
test_store_retention_deletes_old_segments(void **state)
{
    fm_store *st = open_store(4096, 0);
    fm_store_get_result r;
    char body[1200];
    int64_t now;
    (void)state;
    memset(body, 'r', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int i = 0; i < 12; i++) {
        append(st, "Ret", 0, body, NULL, NULL);
    }
    assert_true(fm_store_min_phys_offset(st) == 0);
    now = (int64_t)time(NULL) * 1000;
    /* nothing is old yet */
    assert_int_equal(fm_store_retention_run(st, now), 0);
    /* 100 hours later everything but the active segment goes */
    assert_true(fm_store_retention_run(st, now + 100LL * 3600 * 1000) > 0);
    assert_true(fm_store_min_phys_offset(st) > 0);
    assert_true(fm_store_min_offset(st, "Ret", 0) > 0);
    assert_int_equal(fm_store_max_offset(st, "Ret", 0), 12);
    assert_int_equal(fm_store_get(st, "Ret", 0, 0, 32, 1 << 20, NULL, NULL, &r), FM_OK);
    assert_int_equal(r.status, FM_STORE_OFFSET_TOO_SMALL);
    assert_int_equal(r.next_begin_offset, fm_store_min_offset(st, "Ret", 0));
    assert_int_equal(fm_store_get(st, "Ret", 0, r.next_begin_offset, 32, 1 << 20, NULL, NULL, &r),
                     FM_OK);
    assert_int_equal(r.status, FM_STORE_FOUND);
    fm_store_get_release(&r);
    {
        char seg0[400];
        struct stat sb;
        snprintf(seg0, sizeof(seg0), "%s/commitlog/%020d", dir, 0);
        assert_int_not_equal(stat(seg0, &sb), 0);
    }
    fm_store_close(st);
    /* the min offset is found again after a restart */
    st = open_store(4096, 0);
    assert_true(fm_store_min_offset(st, "Ret", 0) > 0);
    fm_store_close(st);
}

static void
test_store_search_by_time_and_read_at(void **state)
{
    fm_store *st = open_store(65536, 0);
    fm_store_put_result res[3];
    int64_t off, ts;
    fm_buf out = {0};
    (void)state;
    append(st, "Time", 0, "t0", NULL, &res[0]);
    /* store times are ms: make the next append land on a later ms (bounded busy wait) */
    {
        struct timespec t;
        int64_t ms;
        do {
            clock_gettime(CLOCK_REALTIME, &t);
            ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
        } while (ms <= res[0].store_ts);
    }
    append(st, "Time", 0, "t1", NULL, &res[1]);
    append(st, "Time", 0, "t2", NULL, &res[2]);
    assert_int_equal(fm_store_search_offset_by_time(st, "Time", 0, 0, &off), FM_OK);
    assert_int_equal(off, 0);
    assert_int_equal(fm_store_search_offset_by_time(st, "Time", 0, res[1].store_ts, &off), FM_OK);
    assert_int_equal(off, 1);
    assert_int_equal(fm_store_search_offset_by_time(st, "Time", 0, res[2].store_ts + 1000, &off),
                     FM_OK);
    assert_int_equal(off, 3);
    assert_int_equal(fm_store_search_offset_by_time(st, "None", 0, 0, &off), FM_ENOTFOUND);
    assert_int_equal(fm_store_earliest_msg_time(st, "Time", 0, &ts), FM_OK);
    assert_int_equal(ts, res[0].store_ts);
    assert_int_equal(fm_store_read_at(st, res[1].phys_offset, &out, NULL), FM_OK);
    assert_int_equal(out.len, res[1].size);
    assert_int_equal(fm_store_read_at(st, res[1].phys_offset + 1, &out, NULL), FM_ENOTFOUND);
    assert_int_equal(fm_store_read_at(st, 1 << 30, &out, NULL), FM_ENOTFOUND);
    fm_buf_free(&out);
    fm_store_close(st);
}

static void
test_store_fsync_fault_fails_sync(void **state)
{
    fm_store *st = open_store(65536, 1);
    fm_errbuf eb;
    (void)state;
    append(st, "Fault", 0, "f", NULL, NULL);
    setenv("FM_FAULT", "store.fsync:EIO", 1);
    assert_int_equal(fm_store_sync(st, &eb), FM_EIO);
    unsetenv("FM_FAULT");
    assert_int_equal(fm_store_sync(st, &eb), FM_OK);
    assert_true(fm_store_flushed_offset(st) == fm_store_max_phys_offset(st));
    fm_store_close(st);
}

/* The record at phys as the segment file holds it (not through the store): 1 when its bytes
 * there equal `want`. */
static int
file_holds(const char *d, uint64_t phys, const fm_buf *want)
{
    char path[400];
    uint8_t *got = malloc(want->len);
    int fd, same;
    snprintf(path, sizeof(path), "%s/commitlog/%020d", d, 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0 && got != NULL);
    same = pread(fd, got, want->len, (off_t)phys) == (ssize_t)want->len &&
           memcmp(got, want->data, want->len) == 0;
    close(fd);
    free(got);
    return same;
}

static void
test_store_staged_records_reach_the_file_on_commit(void **state)
{
    fm_store *st = open_store(1 << 20, 0);
    fm_store_put_result a, b;
    fm_buf big = {0}, out = {0}, ra = {0}, rb = {0};
    char *body = malloc(300 << 10);
    (void)state;
    assert_non_null(body);
    /* staged: readable through the store (a read commits), and in the file after it */
    append(st, "Stage", 0, "small", NULL, &a);
    assert_int_equal(fm_store_read_at(st, a.phys_offset, &ra, NULL), FM_OK);
    assert_true(file_holds(dir, a.phys_offset, &ra));
    /* a record larger than the staging buffer goes straight to the file, after what is
     * staged before it */
    append(st, "Stage", 0, "second", NULL, &b);
    memset(body, 'b', (300 << 10) - 1);
    body[(300 << 10) - 1] = 0;
    {
        fm_store_put_result r;
        fx_record(&big, "Stage", 1, body, NULL);
        assert_int_equal(fm_store_append(st, big.data, big.len, &r, NULL), FM_OK);
        assert_int_equal(r.phys_offset, b.phys_offset + b.size);
        assert_int_equal(fm_store_commit(st, NULL), FM_OK);
        assert_int_equal(fm_store_read_at(st, b.phys_offset, &rb, NULL), FM_OK);
        assert_true(file_holds(dir, b.phys_offset, &rb));
        assert_int_equal(fm_store_read_at(st, r.phys_offset, &out, NULL), FM_OK);
        assert_int_equal(out.len, big.len);
        assert_true(file_holds(dir, r.phys_offset, &out));
    }
    fm_buf_free(&big);
    fm_buf_free(&out);
    fm_buf_free(&ra);
    fm_buf_free(&rb);
    free(body);
    fm_store_close(st);
}

static void
test_store_write_fault_keeps_records_staged(void **state)
{
    fm_store *st = open_store(65536, 0);
    fm_store_put_result a, b;
    fm_buf ra = {0}, rb = {0};
    fm_errbuf eb;
    (void)state;
    append(st, "WFault", 0, "before", NULL, &a);
    assert_int_equal(fm_store_commit(st, &eb), FM_OK);
    setenv("FM_FAULT", "store.write:ENOSPC", 1);
    /* the append stages; the write fails and keeps it: not readable, not in the file, not
     * synced, and no error lost */
    append(st, "WFault", 0, "during", NULL, &b);
    assert_int_equal(fm_store_commit(st, &eb), FM_ENOSPC);
    assert_int_equal(fm_store_read_at(st, b.phys_offset, &rb, NULL), FM_ENOTFOUND);
    assert_int_equal(fm_store_sync(st, &eb), FM_ENOSPC);
    assert_true(fm_store_flushed_offset(st) <= b.phys_offset);
    assert_int_equal(fm_store_read_at(st, a.phys_offset, &ra, NULL), FM_OK);
    unsetenv("FM_FAULT");
    /* the disk takes it again: the same bytes, where the append said */
    assert_int_equal(fm_store_commit(st, &eb), FM_OK);
    assert_int_equal(fm_store_read_at(st, b.phys_offset, &rb, NULL), FM_OK);
    assert_true(file_holds(dir, b.phys_offset, &rb));
    assert_int_equal(fm_store_sync(st, &eb), FM_OK);
    assert_true(fm_store_flushed_offset(st) == fm_store_max_phys_offset(st));
    fm_buf_free(&ra);
    fm_buf_free(&rb);
    fm_store_close(st);
}

static void
test_store_tag_hash_is_java_string_hashcode(void **state)
{
    (void)state;
    /* "TagA".hashCode() = ((84*31 + 97)*31 + 103)*31 + 65 = 2598919 */
    assert_int_equal(fm_store_tag_hash(fm_slice_cstr("TagA")), 2598919);
    /* longer strings wrap as a Java int */
    assert_int_equal(fm_store_tag_hash(fm_slice_cstr("hello world")), 1794106052);
    assert_int_equal(fm_store_tag_hash(fm_slice_cstr("abcdefghijklmnopqrstuvwxyz")), 958031277);
    /* U+00E9 is one UTF-16 unit (233); U+1F600 is two (a surrogate pair) */
    assert_int_equal(fm_store_tag_hash(fm_slice_cstr("\xc3\xa9")), 233);
    assert_int_equal(fm_store_tag_hash(fm_slice_cstr("\xf0\x9f\x98\x80")), 0xD83D * 31 + 0xDE00);
    assert_int_equal(fm_store_tag_hash(fm_slice_make(NULL, 0)), 0);
}

/* Resident kB of this process's mapping of path (its Rss line in /proc/self/smaps), -1 when
 * path is not mapped. */
static long
mapped_rss_kb(const char *path)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[1024];
    long kb = -1;
    int in = 0;
    size_t pl = strlen(path);
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);
        unsigned long lo, hi;
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a mapping's header line */
            in = n >= pl && strcmp(line + n - pl, path) == 0;
            continue;
        }
        if (in && strncmp(line, "Rss:", 4) == 0) {
            kb = (kb < 0 ? 0 : kb) + strtol(line + 4, NULL, 10);
        }
    }
    fclose(f);
    return kb;
}

/* A queue file grows in 1 MiB steps. Opening the store finds each queue's end by looking only
 * at the pages written: reading the rest through the mapping took a zero-filled page per
 * 4 KiB, all of it resident: 1 MiB per queue (3,200 queues: 3.3 GB before a restart was
 * ready). The ends chosen put the last entry (20 bytes) before, across and after a page
 * boundary: 204 entries end at byte 4080, the 205th crosses 4096. */
static void
test_store_queue_ends_found_reading_only_written_pages(void **state)
{
    static const int ends[] = {1, 204, 205, 206, 409, 410};
    const int n_q = (int)(sizeof(ends) / sizeof(ends[0]));
    fm_store *st = open_store(1 << 20, 0);
    char body[32], path[400];
    (void)state;
    for (int q = 0; q < n_q; q++) {
        for (int i = 0; i < ends[q]; i++) {
            snprintf(body, sizeof(body), "q%d-%d", q, i);
            append(st, "Ends", q, body, NULL, NULL);
        }
    }
    fm_store_close(st);
    for (int q = 0; q < n_q; q++) {
        int fd;
        snprintf(path, sizeof(path), "%s/consumequeue/Ends/%d", dir, q);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(fsync(fd), 0);
        assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        close(fd);
    }
    st = open_store(1 << 20, 0);
    for (int q = 0; q < n_q; q++) {
        long kb;
        assert_int_equal(fm_store_max_offset(st, "Ends", q), ends[q]);
        snprintf(path, sizeof(path), "%s/consumequeue/Ends/%d", dir, q);
        kb = mapped_rss_kb(path);
        /* the pages written (at most 2) and what the kernel maps around a fault (64 KiB a
         * fault by default); reading the whole file made it 1024 */
        if (kb < 0 || kb > 160) {
            fail_msg("queue %d: %ld kB of its 1024 kB mapping resident", q, kb);
        }
    }
    fm_store_close(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_append_read_across_rolls, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_get_statuses, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_offsets_written_by_tick_and_persist, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_filter_skips_and_advances, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_topics_and_offsets_persist, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_corrupt_metadata_refuses_to_open, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_group_configs, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_topic_delete, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_retention_deletes_old_segments, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_search_by_time_and_read_at, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_fsync_fault_fails_sync, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_staged_records_reach_the_file_on_commit, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_write_fault_keeps_records_staged, mk, rm),
        cmocka_unit_test_setup_teardown(test_store_queue_ends_found_reading_only_written_pages, mk,
                                        rm),
        cmocka_unit_test(test_store_tag_hash_is_java_string_hashcode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
