/*
 * bench_index - the store's append path with the message index on and off, in one process,
 * without the network: N records of S bytes with a UNIQ_KEY and one KEYS word each, appended
 * to a fresh store (async flush) in $TMPDIR, several rounds alternating on/off. Prints ns per
 * append for each round. Never run as a test.
 *
 *   build/bench/bench_index [-n 200000] [-s 128] [-r 3]
 */
#include "common/buf.h"
#include "proto/msg.h"
#include "proto/props.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
round_ns(int n, int size, int index_on)
{
    static const uint8_t host[8] = {127, 0, 0, 1, 0, 0, 0x2A, 0x9F};
    char dir[256], cmd[300], *body = malloc((size_t)size + 1);
    fm_store_cfg cfg;
    fm_store *st;
    fm_buf rec = {0}, props = {0};
    fm_store_put_result res;
    int64_t t0, total = 0;
    snprintf(dir, sizeof(dir), "%s/fm-bench-index-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (body == NULL || mkdtemp(dir) == NULL) {
        exit(1);
    }
    memset(body, 'x', (size_t)size);
    body[size] = '\0';
    fm_store_cfg_defaults(&cfg);
    snprintf(cfg.dir, sizeof(cfg.dir), "%s", dir);
    cfg.index_enable = index_on;
    if (getenv("BENCH_SLOTS") != NULL) {
        cfg.index_slots = (uint32_t)atoi(getenv("BENCH_SLOTS"));
    }
    if (fm_store_open(&cfg, &st, NULL) != FM_OK) {
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        char uniq[40], key[32];
        fm_msg_view m;
        snprintf(uniq, sizeof(uniq), "C0A800011234ABCDEF01%08X%04X", (unsigned)i >> 16,
                 (unsigned)i & 0xFFFF);
        snprintf(key, sizeof(key), "order-%d", i);
        fm_buf_reset(&props);
        fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), fm_slice_cstr(uniq));
        fm_props_append(&props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(key));
        memset(&m, 0, sizeof(m));
        m.queue_id = i % 8;
        m.born_timestamp = 1;
        m.born_host = fm_slice_make(host, 8);
        m.store_host = fm_slice_make(host, 8);
        m.body = fm_slice_make(body, (size_t)size);
        m.topic = FM_SLICE_LIT("BenchTopic");
        m.properties = fm_buf_slice(&props);
        fm_buf_reset(&rec);
        fm_msg_encode(&rec, &m, NULL);
        t0 = now_ns();
        if (fm_store_append(st, rec.data, rec.len, &res, NULL) != FM_OK) {
            exit(1);
        }
        total += now_ns() - t0;
        if (i % 20000 == 0) {
            fm_store_tick(st, (int64_t)time(NULL) * 1000 + i); /* checkpoints, as the broker */
        }
    }
    t0 = now_ns();
    fm_store_tick(st, (int64_t)time(NULL) * 1000 + 10000000);
    if (getenv("BENCH_NO_SYNC") == NULL) {
        total += now_ns() - t0; /* the last checkpoint's syncs belong to the run */
    }
    fm_store_close(st);
    fm_buf_free(&rec);
    fm_buf_free(&props);
    free(body);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return (double)total / n;
}

int
main(int argc, char **argv)
{
    int n = 200000, size = 128, rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:s:r:")) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-s bytes] [-r rounds]\n", argv[0]);
            return 2;
        }
    }
    if (n <= 0 || size <= 0 || rounds <= 0) {
        return 2;
    }
    for (int r = 0; r < rounds; r++) {
        /* BENCH_ONLY=on|off runs one side (for perf) */
        const char *only = getenv("BENCH_ONLY");
        double on = only && strcmp(only, "off") == 0 ? 0 : round_ns(n, size, 1);
        double off = only && strcmp(only, "on") == 0 ? 1 : round_ns(n, size, 0);
        printf("round %d: append %d x %d B: index on %.0f ns, off %.0f ns, +%.1f%%\n", r + 1, n,
               size, on, off, (on - off) * 100.0 / off);
        fflush(stdout);
    }
    return 0;
}
