/*
 * pl_driver - power-loss test: ferrymqd on plfs (tests/powerloss/plfs.py), a FUSE filesystem
 * that keeps only what was fsynced, power cut under load, "reboot", check.
 *
 *   pl_driver sync  WORKDIR CUTS     SYNC_FLUSH: after every cut, every message acknowledged
 *                                    so far (all rounds, one store) is readable by a real pull
 *                                    and recovery never fails. Cuts land after a varied
 *                                    number of acknowledgements or right after a segment roll
 *                                    (16 KiB segments).
 *   pl_driver async WORKDIR CUTS     ASYNC_FLUSH with flushIntervalCommitLog=PL_FLUSH_MS
 *                                    (default 200), 1 MiB segments, 4 sends in flight: the
 *                                    acknowledged messages lost at each cut were all
 *                                    acknowledged within the flush interval plus PL_SLACK_MS
 *                                    (default 200: two flushes) before the cut; prints the
 *                                    measured window.
 *
 * Needs root (FUSE mount), /usr/bin/python3 with python3-fusepy, $FM_FERRYMQD, $PL_PLFS (the
 * path of plfs.py). Prints "# ..." progress lines and one "# pl-result passed=P failed=F"
 * line (one check per cut: recovery succeeded and nothing acknowledged was lost). Exit 0 when
 * nothing failed. Every wait is bounded; no sleep is used as synchronisation.
 */
#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUEUES 4
#define WINDOW 32
#define MAX_MSGS 1000000
#define TOPIC "PowerTopic"

static uint8_t acked[MAX_MSGS];
static uint8_t found[MAX_MSGS];
static int64_t ack_ms[MAX_MSGS];

static char work[256], image[300], mnt[300], store[320], ctl[320], ready[300], logp[300];
static const char *plfs_py;
static pid_t fs_pid;
static int passed, failed;

static uint32_t rng = 12345;

static uint32_t
rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) & 0xFFFFFF;
}

/* ---- the filesystem ---- */

static int
mounted_cond(void *ud)
{
    struct stat sb;
    int st;
    (void)ud;
    if (waitpid(fs_pid, &st, WNOHANG) == fs_pid) {
        fs_pid = -1;
        return 1;
    }
    return stat(ctl, &sb) == 0;
}

static int
fs_mount(void)
{
    fs_pid = fork();
    if (fs_pid < 0) {
        return -1;
    }
    if (fs_pid == 0) {
        char fslog[320];
        int fd;
        snprintf(fslog, sizeof(fslog), "%s/plfs.log", work);
        fd = open(fslog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl("/usr/bin/python3", "python3", "-W", "ignore", plfs_py, image, mnt, (char *)NULL);
        _exit(127);
    }
    if (!fmt_wait_until(mounted_cond, NULL, 20000) || fs_pid < 0) {
        fprintf(stderr, "# plfs did not mount (see %s/plfs.log)\n", work);
        return -1;
    }
    return 0;
}

static int
fs_cut(void)
{
    int fd = open(ctl, O_WRONLY);
    int rc = -1;
    if (fd >= 0) {
        rc = write(fd, "cut\n", 4) == 4 ? 0 : -1;
        close(fd);
    }
    return rc;
}

static int
fs_gone_cond(void *ud)
{
    int st;
    (void)ud;
    return waitpid(fs_pid, &st, WNOHANG) == fs_pid;
}

static void
fs_unmount(void)
{
    int64_t deadline = fmt_now_ms() + 10000;
    while (umount2(mnt, 0) != 0 && errno == EBUSY && fmt_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L}; /* retry interval of a bounded wait */
        nanosleep(&ts, NULL);
    }
    umount2(mnt, MNT_DETACH);
    if (fs_pid > 0 && !fmt_wait_until(fs_gone_cond, NULL, 10000)) {
        kill(fs_pid, SIGKILL);
        waitpid(fs_pid, NULL, 0);
    }
    fs_pid = -1;
}

/* ---- the broker ---- */

static int
ready_cond(void *ud)
{
    fmt_daemon *d = ud;
    char line[128];
    FILE *f;
    if (!fmt_daemon_alive(d)) {
        return 1;
    }
    f = fopen(ready, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "remoting=", 9) == 0) {
            d->remoting_port = atoi(line + 9);
        }
    }
    fclose(f);
    return d->remoting_port > 0;
}

static int
broker_start(fmt_daemon *d, int async)
{
    const char *bin = getenv("FM_FERRYMQD");
    char a_dir[400], a_ready[400], a_flush[64];
    snprintf(a_dir, sizeof(a_dir), "--storePathRootDir=%s", store);
    snprintf(a_ready, sizeof(a_ready), "--readyFile=%s", ready);
    snprintf(a_flush, sizeof(a_flush), "--flushIntervalCommitLog=%s",
             getenv("PL_FLUSH_MS") ? getenv("PL_FLUSH_MS") : "200");
    unlink(ready);
    memset(d, 0, sizeof(*d));
    snprintf(d->log_path, sizeof(d->log_path), "%s", logp);
    d->pid = fork();
    if (d->pid < 0) {
        return -1;
    }
    if (d->pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin ? bin : "build/ferrymqd", "ferrymqd", a_dir, a_ready, "--listenPort=0",
              "--namesrvPort=0", "--httpPort=0", "--brokerIP1=127.0.0.1",
              async ? "--mappedFileSizeCommitLog=1m" : "--mappedFileSizeCommitLog=16k",
              async ? "--flushDiskType=ASYNC_FLUSH" : "--flushDiskType=SYNC_FLUSH", a_flush,
              (char *)NULL);
        _exit(127);
    }
    if (!fmt_wait_until(ready_cond, d, 60000) || !fmt_daemon_alive(d)) {
        char cmd[400];
        fprintf(stderr, "# ferrymqd did not start on the recovered store; log %s:\n", logp);
        snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", logp);
        if (system(cmd) != 0) {
            fprintf(stderr, "# (no log)\n");
        }
        return -1;
    }
    return 0;
}

static int
create_topic(int port)
{
    fmt_resp r = {0};
    int code = -1, fd = fmt_connect(port, 10000);
    const char *kv[] = {"topic", TOPIC, "readQueueNums", "4", "writeQueueNums", "4", "perm",
                        "6",     NULL};
    if (fd >= 0 && fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_UPDATE_AND_CREATE_TOPIC, kv,
                               fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
    }
    fmt_resp_free(&r);
    if (fd >= 0) {
        close(fd);
    }
    return code;
}

/* ---- load and cut ---- */

static int
send_one(int fd, int id)
{
    char body[96], qid[8], born[24];
    snprintf(body, sizeof(body), "pl-msg-%07d-%s", id, "payload-payload-payload-payload");
    snprintf(qid, sizeof(qid), "%d", id % QUEUES);
    snprintf(born, sizeof(born), "%lld", (long long)fmt_wall_ms());
    const char *kv[] = {"a", "powerloss", "b",  TOPIC, "c", "TBW102", "d", "4", "e", qid, "f",
                        "0", "g",         born, "h",   "0", "i",      "",  "j", "0", NULL};
    return fmt_send(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv, fm_slice_cstr(body));
}

/* New occurrences of needle in the broker log since the last call (tracked by *off). */
static int
log_new(const char *needle, long *off)
{
    FILE *f = fopen(logp, "r");
    char line[1024];
    int n = 0;
    if (f == NULL) {
        return 0;
    }
    if (fseek(f, *off, SEEK_SET) == 0) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strchr(line, '\n') == NULL) {
                break; /* a line still being written: read it next time */
            }
            *off += (long)strlen(line);
            if (strstr(line, needle) != NULL) {
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

enum cut_kind { CUT_AFTER_ACKS, CUT_AFTER_ROLL, CUT_AT_TIME };

/* Produce with WINDOW sends in flight until the cut condition; cut; kill the broker; collect
 * the acknowledgements that were already on the wire. Returns acks of this round. */
static int
produce_and_cut(fmt_daemon *d, int *next_id, enum cut_kind kind, int param, int window,
                int64_t *cut_ms)
{
    int fd = fmt_connect(d->remoting_port, 10000);
    static int opaque_to_id[65536];
    int inflight = 0, acks = 0, cut = 0, rolls_after = -1, lost_conn = 0;
    long log_off = 0;
    int64_t start = fmt_now_ms();
    fmt_resp r = {0};
    if (fd < 0) {
        return -1;
    }
    log_new("FM-STORE-SEGMENT-NEW", &log_off); /* skip the rolls of earlier rounds */
    memset(opaque_to_id, -1, sizeof(opaque_to_id));
    while (!cut) {
        while (inflight < window && *next_id < MAX_MSGS) {
            int op = send_one(fd, *next_id);
            if (op <= 0) {
                break;
            }
            opaque_to_id[op & 0xFFFF] = (*next_id)++;
            inflight++;
        }
        if (fmt_recv(fd, &r) != 0) {
            /* the broker died or stopped answering with power on: a failure in itself */
            fprintf(stderr, "# FAILED: connection lost before the cut\n");
            lost_conn = 1;
            break;
        }
        inflight--;
        if (r.cmd.code == FM_RESP_SUCCESS) {
            int id = opaque_to_id[r.cmd.opaque & 0xFFFF];
            if (id >= 0) {
                acked[id] = 1;
                ack_ms[id] = fmt_now_ms();
                acks++;
            }
        }
        switch (kind) {
        case CUT_AFTER_ACKS:
            cut = acks >= param;
            break;
        case CUT_AFTER_ROLL:
            /* param acknowledgements after the next roll (0: at once) */
            if (rolls_after < 0 && acks > 20 && log_new("FM-STORE-SEGMENT-NEW", &log_off) > 0) {
                rolls_after = 0;
            } else if (rolls_after >= 0) {
                rolls_after++;
            }
            cut = rolls_after >= param || acks > 20000;
            break;
        case CUT_AT_TIME:
            cut = fmt_now_ms() - start >= param;
            break;
        }
        if (*next_id >= MAX_MSGS && inflight == 0) {
            cut = 1;
        }
    }
    *cut_ms = fmt_now_ms();
    if (fs_cut() != 0) {
        fprintf(stderr, "# could not cut power\n");
    }
    kill(d->pid, SIGKILL);
    /* Replies already sent were sent after their fdatasync returned, which plfs answered
     * before the cut: they are acknowledgements like any other. */
    while (inflight > 0 && fmt_recv(fd, &r) == 0) {
        inflight--;
        if (r.cmd.code == FM_RESP_SUCCESS) {
            int id = opaque_to_id[r.cmd.opaque & 0xFFFF];
            if (id >= 0) {
                acked[id] = 1;
                ack_ms[id] = fmt_now_ms();
                acks++;
            }
        }
    }
    fmt_daemon_stop(d, SIGKILL, 10000);
    fmt_resp_free(&r);
    close(fd);
    return lost_conn ? -1 : acks;
}

/* Pull every queue from its start and mark what is there. Returns records read, -1 on a
 * protocol failure. */
static int
read_back(fmt_daemon *d)
{
    int fd = fmt_connect(d->remoting_port, 10000);
    fmt_resp r = {0};
    int total = 0;
    if (fd < 0) {
        return -1;
    }
    memset(found, 0, sizeof(found));
    for (int q = 0; q < QUEUES; q++) {
        int64_t off = 0;
        for (int guard = 0; guard < 100000; guard++) {
            fm_slice b;
            int64_t next;
            if (fmt_pull(fd, "pl-check", TOPIC, q, off, 32, "*", "TAG", &r) < 0) {
                total = -1;
                goto out;
            }
            next = atoll(fmt_ext(&r, "nextBeginOffset"));
            if (r.cmd.code != FM_RESP_SUCCESS) {
                /* a hole (OFFSET_FOUND_NULL) moves on; the end stops */
                if (r.cmd.code == FM_RESP_PULL_NOT_FOUND || next <= off) {
                    break;
                }
                off = next;
                continue;
            }
            b = r.cmd.body;
            while (b.len > 0) {
                fm_msg_view m;
                int id;
                if (fm_msg_decode(b.ptr, b.len, &m, NULL) != FM_OK || !fm_msg_verify_crc(&m)) {
                    fprintf(stderr, "# undecodable record in a pull of queue %d at %lld\n", q,
                            (long long)off);
                    total = -1;
                    goto out;
                }
                if (m.body.len > 7 && memcmp(m.body.ptr, "pl-msg-", 7) == 0 &&
                    sscanf((const char *)m.body.ptr, "pl-msg-%07d", &id) == 1 && id >= 0 &&
                    id < MAX_MSGS) {
                    found[id] = 1;
                }
                total++;
                b.ptr += m.total_size;
                b.len -= m.total_size;
            }
            off = next;
        }
    }
out:
    fmt_resp_free(&r);
    close(fd);
    return total;
}

static void
check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "# FAILED: %s\n", what);
    }
}

static int
setup(const char *dir)
{
    snprintf(work, sizeof(work), "%s", dir);
    snprintf(image, sizeof(image), "%s/image", work);
    snprintf(mnt, sizeof(mnt), "%s/mnt", work);
    snprintf(store, sizeof(store), "%s/store", mnt);
    snprintf(ctl, sizeof(ctl), "%s/.plfs-ctl", mnt);
    snprintf(ready, sizeof(ready), "%s/ready", work);
    snprintf(logp, sizeof(logp), "%s/ferrymqd.log", work);
    plfs_py = getenv("PL_PLFS");
    if (plfs_py == NULL) {
        plfs_py = "tests/powerloss/plfs.py";
    }
    umount2(mnt, MNT_DETACH); /* a mount left by an interrupted run */
    if ((mkdir(work, 0755) != 0 && errno != EEXIST) ||
        (mkdir(image, 0755) != 0 && errno != EEXIST) ||
        (mkdir(mnt, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "# cannot create %s\n", work);
        return -1;
    }
    return 0;
}

/* One store, cuts+1 boots: each boot after the first checks what the previous cut left. */
static int
run(int async, int cuts)
{
    fmt_daemon d;
    int next_id = 0;
    int64_t worst_window = 0, cut_ms = 0;
    int flush_ms = getenv("PL_FLUSH_MS") ? atoi(getenv("PL_FLUSH_MS")) : 200;
    int slack_ms = getenv("PL_SLACK_MS") ? atoi(getenv("PL_SLACK_MS")) : 200;
    long total_lost = 0;
    for (int round = 0; round <= cuts; round++) {
        enum cut_kind kind;
        int param;
        if (fs_mount() != 0) {
            check(0, "mount plfs");
            return -1;
        }
        if (round == 0 && getenv("PL_PRECREATE_ROOT") != NULL) {
            /* to measure old stores whose root was made durable by hand */
            int dfd;
            mkdir(store, 0755);
            dfd = open(mnt, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
        if (broker_start(&d, async) != 0) {
            check(0, "recovery: ferrymqd starts on the store a cut left");
            fs_unmount();
            return -1;
        }
        if (round == 0 && create_topic(d.remoting_port) != 0) {
            check(0, "create topic");
            fmt_daemon_stop(&d, SIGKILL, 5000);
            fs_unmount();
            return -1;
        }
        if (round > 0) {
            int stored = read_back(&d), lost = 0;
            int64_t oldest = -1, window;
            char what[128];
            for (int i = 0; i < next_id; i++) {
                if (acked[i] && !found[i]) {
                    lost++;
                    if (oldest < 0 || ack_ms[i] < oldest) {
                        oldest = ack_ms[i];
                    }
                    if (async) {
                        acked[i] = 0; /* an async loss is counted at the cut that caused it */
                    }
                }
            }
            total_lost += lost;
            window = lost > 0 ? cut_ms - oldest : 0;
            if (window > worst_window) {
                worst_window = window;
            }
            printf("# cut %d: sent %d, stored %d, acknowledged lost %d", round, next_id, stored,
                   lost);
            if (async) {
                printf(", oldest lost acknowledged %lld ms before the cut", (long long)window);
                snprintf(what, sizeof(what), "async cut %d: loss window %lld ms <= %d ms", round,
                         (long long)window, flush_ms + slack_ms);
                check(stored >= 0 && window <= flush_ms + slack_ms, what);
            } else {
                snprintf(what, sizeof(what), "cut %d: every acknowledged message readable", round);
                check(stored >= 0 && lost == 0, what);
            }
            printf("\n");
            fflush(stdout);
        }
        if (round == cuts) {
            fmt_daemon_stop(&d, SIGTERM, 10000);
            fs_unmount();
            break;
        }
        if (async) {
            kind = CUT_AT_TIME;
            param = 700 + (int)(rnd() % 800);
        } else if (round % 3 == 0) {
            kind = CUT_AFTER_ACKS;
            param = 1 + (int)(rnd() % 3000);
        } else {
            /* right after a roll, or a few acknowledgements into the new segment */
            kind = CUT_AFTER_ROLL;
            param = round % 3 == 1 ? 0 : (int)(rnd() % 8);
        }
        /* async: a steady, lighter load, so that a flush takes little of the interval and
         * what is measured is the interval */
        if (produce_and_cut(&d, &next_id, kind, param, async ? 4 : WINDOW, &cut_ms) < 0) {
            check(0, "produce");
            fs_unmount();
            return -1;
        }
        fs_unmount();
    }
    if (async) {
        printf("# async: %ld acknowledged lost over %d cuts; worst window %lld ms with "
               "flushIntervalCommitLog=%d\n",
               total_lost, cuts, (long long)worst_window, flush_ms);
    } else {
        printf("# sync: %d messages sent over %d cuts, %ld acknowledged lost\n", next_id, cuts,
               total_lost);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    int async, cuts;
    if (argc != 4 || (strcmp(argv[1], "sync") != 0 && strcmp(argv[1], "async") != 0)) {
        fprintf(stderr, "usage: pl_driver sync|async WORKDIR CUTS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    async = strcmp(argv[1], "async") == 0;
    cuts = atoi(argv[3]);
    if (setup(argv[2]) != 0) {
        return 1;
    }
    run(async, cuts);
    printf("# pl-result passed=%d failed=%d\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
