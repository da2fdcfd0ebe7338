/*
 * kill -9 during a produce run with SYNC_FLUSH: every acknowledged message is readable after
 * restart. Several kill points, the same store reused across them (so recovery runs on a log
 * that has already been recovered), tiny segments so the kills also land near segment rolls.
 * A second case checks the torn-tail path directly: garbage after the last record of a real
 * segment is cut on start and consume queues stay consistent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define QUEUES 4
#define WINDOW 32
#define MAX_MSGS 20000

static uint8_t acked[MAX_MSGS];
static uint8_t found[MAX_MSGS];

static int
create_topic(int fd, const char *topic)
{
    fmt_resp r = {0};
    int code;
    const char *kv[] = {"topic", topic, "readQueueNums", "4", "writeQueueNums", "4", "perm",
                        "6",     NULL};
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                    fm_slice_make(NULL, 0), &r) != 0) {
        return -1;
    }
    code = r.cmd.code;
    fmt_resp_free(&r);
    return code;
}

static int
send_async(int fd, const char *topic, int id)
{
    char body[64], qid[8], born[24];
    snprintf(body, sizeof(body), "crash-msg-%06d-%s", id, "payload-payload-payload");
    snprintf(qid, sizeof(qid), "%d", id % QUEUES);
    snprintf(born, sizeof(born), "%lld", (long long)fmt_wall_ms());
    const char *kv[] = {"a", "crash", "b",  topic, "c", "TBW102", "d", "4", "e", qid, "f",
                        "0", "g",     born, "h",   "0", "i",      "",  "j", "0", NULL};
    return fmt_send(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv, fm_slice_cstr(body));
}

/* Produce with WINDOW requests in flight; SIGKILL right after the kill_at-th acknowledgement
 * of this run, while later requests are still in flight. Returns the number acked. */
static int
produce_until_kill(fmt_daemon *d, const char *topic, int *next_id, int kill_at)
{
    int fd = fmt_connect(d->remoting_port, 10000);
    int opaque_to_id[65536];
    int inflight = 0, acks = 0;
    fmt_resp r = {0};
    assert_true(fd >= 0);
    memset(opaque_to_id, -1, sizeof(opaque_to_id));
    for (;;) {
        while (inflight < WINDOW && *next_id < MAX_MSGS) {
            int op = send_async(fd, topic, *next_id);
            assert_true(op > 0);
            opaque_to_id[op & 0xFFFF] = *next_id;
            (*next_id)++;
            inflight++;
        }
        assert_int_equal(fmt_recv(fd, &r), 0);
        inflight--;
        if (r.cmd.code == FM_RESP_SUCCESS) {
            int id = opaque_to_id[r.cmd.opaque & 0xFFFF];
            assert_true(id >= 0);
            acked[id] = 1;
            acks++;
        }
        if (acks == kill_at) {
            kill(d->pid, SIGKILL);
            break;
        }
    }
    fmt_daemon_stop(d, SIGKILL, 5000);
    fmt_resp_free(&r);
    close(fd);
    return acks;
}

/* Pull every queue from 0 and mark what is there; returns total records read. */
static int
read_back(fmt_daemon *d, const char *topic)
{
    int fd = fmt_connect(d->remoting_port, 10000);
    fmt_resp r = {0};
    int total = 0;
    assert_true(fd >= 0);
    memset(found, 0, sizeof(found));
    for (int q = 0; q < QUEUES; q++) {
        int64_t off = 0;
        for (;;) {
            char qs[16], os[24];
            snprintf(qs, sizeof(qs), "%d", q);
            snprintf(os, sizeof(os), "%lld", (long long)off);
            const char *kv[] = {"consumerGroup",
                                "crash-check",
                                "topic",
                                topic,
                                "queueId",
                                qs,
                                "queueOffset",
                                os,
                                "maxMsgNums",
                                "32",
                                "sysFlag",
                                "4",
                                "commitOffset",
                                "0",
                                "suspendTimeoutMillis",
                                "0",
                                "subscription",
                                "*",
                                "subVersion",
                                "0",
                                NULL};
            fm_slice b;
            assert_int_equal(fmt_request(fd, FM_SERIALIZE_ROCKETMQ, FM_REQ_PULL_MESSAGE, kv,
                                         fm_slice_make(NULL, 0), &r),
                             0);
            if (r.cmd.code != FM_RESP_SUCCESS) {
                assert_int_equal(r.cmd.code, FM_RESP_PULL_NOT_FOUND);
                break;
            }
            b = r.cmd.body;
            while (b.len > 0) {
                fm_msg_view m;
                int id;
                assert_int_equal(fm_msg_decode(b.ptr, b.len, &m, NULL), FM_OK);
                assert_true(fm_msg_verify_crc(&m));
                assert_int_equal(m.queue_offset, off);
                if (m.body.len > 10 && memcmp(m.body.ptr, "crash-msg-", 10) == 0) {
                    assert_int_equal(sscanf((const char *)m.body.ptr, "crash-msg-%06d", &id), 1);
                    assert_true(id >= 0 && id < MAX_MSGS);
                    found[id] = 1;
                }
                off++;
                total++;
                b.ptr += m.total_size;
                b.len -= m.total_size;
            }
        }
    }
    fmt_resp_free(&r);
    close(fd);
    return total;
}

static void
test_kill9_loses_no_acknowledged_message(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--flushDiskType=SYNC_FLUSH",
                           "--mappedFileSizeCommitLog=16k", NULL};
    const int kill_points[] = {1, 37, 150, 411, 999};
    fmt_daemon d;
    int next_id = 0, fd;
    (void)state;
    memset(&d, 0, sizeof(d));
    memset(acked, 0, sizeof(acked));
    assert_int_equal(fmt_daemon_start(&d, extra, 10000), 0);
    fd = fmt_connect(d.remoting_port, 5000);
    assert_int_equal(create_topic(fd, "CrashTopic"), 0);
    close(fd);
    for (size_t k = 0; k < sizeof(kill_points) / sizeof(kill_points[0]); k++) {
        int lost = 0, total;
        produce_until_kill(&d, "CrashTopic", &next_id, kill_points[k]);
        assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
        total = read_back(&d, "CrashTopic");
        for (int i = 0; i < next_id; i++) {
            if (acked[i] && !found[i]) {
                lost++;
            }
        }
        printf("# kill point %d: sent %d, stored %d, acknowledged lost %d\n", kill_points[k],
               next_id, total, lost);
        assert_int_equal(lost, 0);
    }
    assert_true(fmt_log_count(&d, "FM-STORE-RECOVERED") >= 6);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

/* Start d with extra and store n messages of body in a new topic, spread over its queues. */
static void
start_with_messages(fmt_daemon *d, const char *const *extra, const char *topic, const char *body,
                    int n)
{
    int fd;
    memset(d, 0, sizeof(*d));
    assert_int_equal(fmt_daemon_start(d, extra, 10000), 0);
    fd = fmt_connect(d->remoting_port, 5000);
    assert_int_equal(create_topic(fd, topic), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(fmt_send_msg(fd, topic, i % QUEUES, body, NULL, NULL, NULL, NULL, 0), 0);
    }
    close(fd);
}

static void
test_garbage_tail_is_cut_on_start(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--flushDiskType=SYNC_FLUSH",
                           "--mappedFileSizeCommitLog=64k", NULL};
    fmt_daemon d;
    char path[400];
    int fd;
    uint64_t end;
    (void)state;
    start_with_messages(&d, extra, "TornTopic", "torn-body", 20);
    assert_true(fmt_daemon_stop(&d, SIGTERM, 10000) == 0);
    {
        /* find the log end: the records are contiguous from offset 0 in the first segment */
        uint8_t hdr[8];
        int seg;
        snprintf(path, sizeof(path), "%s/commitlog/%020d", d.dir, 0);
        seg = open(path, O_RDWR);
        assert_true(seg >= 0);
        end = 0;
        while (pread(seg, hdr, 8, (off_t)end) == 8 && hdr[4] == 0xDA) {
            end += (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        }
        assert_true(end > 0);
        /* a half-written record: plausible size and magic, garbage after */
        assert_int_equal(pwrite(seg, "\x00\x00\x01\x00\xda\xa3\x20\xa7garbage!", 16, (off_t)end),
                         16);
        /* and bytes beyond a hole, as an out-of-order writeback leaves them: recovery skips
         * holes (SEEK_DATA), so this checks it still finds the data after one */
        assert_true(end < 32768);
        assert_int_equal(pwrite(seg, "stale-bytes", 11, 61440), 11);
        close(seg);
    }
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_true(fmt_wait_log(&d, "FM-STORE-TORN-TAIL", 5000));
    {
        char tail[11];
        int seg = open(path, O_RDONLY);
        assert_true(seg >= 0);
        assert_int_equal(pread(seg, tail, sizeof(tail), 61440), (ssize_t)sizeof(tail));
        close(seg);
        for (size_t i = 0; i < sizeof(tail); i++) {
            assert_int_equal(tail[i], 0);
        }
    }
    assert_int_equal(read_back(&d, "TornTopic"), 20);
    fd = fmt_connect(d.remoting_port, 5000);
    assert_int_equal(fmt_send_msg(fd, "TornTopic", 0, "after", NULL, NULL, NULL, NULL, 0), 0);
    close(fd);
    assert_int_equal(read_back(&d, "TornTopic"), 21);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

/* Recovery after kill -9 checks that the active segment reads as zeros past the log end, so
 * no stale record can follow new ones. It must not read the holes to do so: each page read
 * through the mapping is allocated, and a 1 GiB segment's tail then took a restart over 10 s
 * on a VM whose fresh pages are slow (and a gigabyte of page cache). The test counts the
 * segment's pages in the page cache after the restart (mincore): the records, the 16 MiB the
 * warm thread reads ahead, not the gigabyte. */
static void
test_restart_after_kill9_reads_no_holes(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", "--mappedFileSizeCommitLog=1g", NULL};
    const size_t seg_size = (size_t)1 << 30;
    fmt_daemon d;
    char path[400];
    unsigned char *vec;
    size_t pages = seg_size / 4096, resident = 0;
    void *map;
    int fd;
    (void)state;
    start_with_messages(&d, extra, "HoleTopic", "hole-body", 50);
    assert_true(fmt_daemon_stop(&d, SIGKILL, 5000) != 0);
    snprintf(path, sizeof(path), "%s/commitlog/%020d", d.dir, 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    /* what the first run left in the page cache goes, so only the restart's reads count */
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    assert_int_equal(fmt_daemon_restart(&d, 10000), 0);
    assert_int_equal(read_back(&d, "HoleTopic"), 50);
    map = mmap(NULL, seg_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore(map, seg_size, vec), 0);
    for (size_t i = 0; i < pages; i++) {
        resident += vec[i] & 1;
    }
    printf("# segment pages in the page cache after the restart: %zu of %zu\n", resident, pages);
    assert_true(resident < pages / 16); /* 64 MiB; reading the holes made it all 262144 */
    free(vec);
    munmap(map, seg_size);
    close(fd);
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_no_acknowledged_message),
        cmocka_unit_test(test_garbage_tail_is_cut_on_start),
        cmocka_unit_test(test_restart_after_kill9_reads_no_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
