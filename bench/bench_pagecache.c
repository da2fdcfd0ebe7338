/*
 * bench_pagecache - what a page-cache page costs the writer on this machine, new or reused.
 *
 * The target broker of a catch-up writes every copied byte into new page-cache pages, as
 * JetStream's mirror does. On a VM whose balloon reports free pages to the host (virtio-balloon
 * VIRTIO_BALLOON_F_REPORTING, set on this one), a page the guest has not used for a while is
 * backed by nothing on the host, and its first touch is a host fault. This program writes MIB
 * MiB with 256 KiB pwrites (the store's staging size) to a new file, three times:
 *   fresh     into pages taken from the guest's free memory (after PAUSE s, the time the
 *             balloon needs to report what the last run freed);
 *   reused    at once into a second new file, after the first is deleted: the kernel hands out
 *             the pages it just freed, still backed on the host;
 *   prefetch  as fresh, with a second thread reading the file ahead with POSIX_FADV_WILLNEED
 *             (what the store's warm thread does), CPU of both threads counted.
 * and prints the CPU seconds per GiB of each. The difference between fresh and reused is the
 * host's share of a catch-up's CPU: a cost per byte written that no code of ours can remove,
 * and that moves from run to run with the host's load.
 *
 *   build/bench/bench_pagecache [DIR] [MIB] [PAUSE]     (defaults . 1024 5)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 << 10)
#define AHEAD (16 << 20) /* the warm thread's distance ahead of the writer */
#define WARM_STEP (64 << 10)

typedef struct run {
    int fd;
    long long total;
    atomic_llong written;
    atomic_int stop;
} run;

static double
process_cpu(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static void *
warm_main(void *arg)
{
    run *r = arg;
    long long warmed = 0;
    while (!atomic_load(&r->stop)) {
        long long to = atomic_load(&r->written) + AHEAD;
        if (to > r->total) {
            to = r->total;
        }
        for (; warmed < to; warmed += WARM_STEP) {
            (void)posix_fadvise(r->fd, warmed, WARM_STEP, POSIX_FADV_WILLNEED);
        }
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* CPU seconds of the whole process to write total bytes to path (-1 on an I/O error). */
static double
write_file(const char *path, long long total, int prefetch, const char *buf)
{
    run r = {.total = total};
    pthread_t th;
    double c0;
    r.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (r.fd < 0 || ftruncate(r.fd, total) != 0) { /* sparse, as a store segment */
        perror(path);
        return -1;
    }
    c0 = process_cpu();
    if (prefetch && pthread_create(&th, NULL, warm_main, &r) != 0) {
        prefetch = 0;
    }
    for (long long off = 0; off < total; off += CHUNK) {
        if (pwrite(r.fd, buf, CHUNK, off) != CHUNK) {
            perror("pwrite");
            return -1;
        }
        atomic_store(&r.written, off + CHUNK);
    }
    atomic_store(&r.stop, 1);
    if (prefetch) {
        pthread_join(th, NULL);
    }
    double c = process_cpu() - c0;
    close(r.fd);
    return c;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    long long mib = argc > 2 ? atoll(argv[2]) : 1024;
    int pause_s = argc > 3 ? atoi(argv[3]) : 5;
    char a[4096], b[4096];
    char *buf = malloc(CHUNK);
    double gib = (double)mib / 1024, fresh, reused, prefetch;
    if (buf == NULL || mib <= 0) {
        fprintf(stderr, "usage: bench_pagecache [DIR] [MIB] [PAUSE]\n");
        return 2;
    }
    memset(buf, 'x', CHUNK);
    snprintf(a, sizeof(a), "%s/bench_pagecache.a", dir);
    snprintf(b, sizeof(b), "%s/bench_pagecache.b", dir);
    sleep((unsigned)pause_s);
    fresh = write_file(a, mib << 20, 0, buf);
    unlink(a);
    reused = write_file(b, mib << 20, 0, buf);
    unlink(b);
    sleep((unsigned)pause_s);
    prefetch = write_file(a, mib << 20, 1, buf);
    unlink(a);
    if (fresh < 0 || reused < 0 || prefetch < 0) {
        return 1;
    }
    printf("RESULT test=pagecache mib=%lld fresh_cpu_s_per_gib=%.3f reused_cpu_s_per_gib=%.3f "
           "prefetch_cpu_s_per_gib=%.3f\n",
           mib, fresh / gib, reused / gib, prefetch / gib);
    return 0;
}
