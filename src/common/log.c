#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "ferrymq";
/* Silent until fm_log_init: libferrymq runs inside other people's processes and must not
 * write to their stderr on its own (the daemon and the CLI initialise logging). */
static int log_fd = -1;
static int log_file_fd = -1; /* fm_log_open_file; replaced in place by fm_log_reopen */
static char log_file_path[4096];
static enum fm_log_level log_max = FM_LOG_INFO;
static char log_debug_cats[256];

static const char *const level_name[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* Rate limit per event id: a flood of one event (a client hammering us with bad frames) must
 * not drown everything else. At most LIMIT_PER_SEC lines per event id per second; the rest
 * are counted and reported once, as FM-LOG-SUPPRESSED, when the next second's first line of
 * that event comes. Slots are hashed by event id; a collision only shares a budget. */
#define LIMIT_SLOTS 64
#define LIMIT_PER_SEC 20
static struct {
    const char *event;
    time_t second;
    int count;
    long suppressed;
} limits[LIMIT_SLOTS];
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned
slot_of(const char *event)
{
    unsigned h = 5381;
    for (const char *p = event; *p; p++) {
        h = h * 33 + (unsigned char)*p;
    }
    return h % LIMIT_SLOTS;
}

/* Returns 1 when the line may be written; *report receives a suppressed count to report. */
static int
rate_ok(const char *event, time_t now, long *report)
{
    unsigned i = slot_of(event);
    int ok;
    pthread_mutex_lock(&limit_mu);
    *report = 0;
    if (limits[i].second != now) {
        *report = limits[i].suppressed;
        limits[i].event = event;
        limits[i].second = now;
        limits[i].count = 0;
        limits[i].suppressed = 0;
    }
    ok = ++limits[i].count <= LIMIT_PER_SEC;
    if (!ok) {
        limits[i].suppressed++;
    }
    pthread_mutex_unlock(&limit_mu);
    return ok;
}

void
fm_log_init(const char *role, int fd, enum fm_log_level max_level, const char *debug_cats)
{
    log_role = role;
    log_fd = fd;
    log_max = max_level;
    log_debug_cats[0] = '\0';
    if (debug_cats != NULL) {
        snprintf(log_debug_cats, sizeof(log_debug_cats), ",%s,", debug_cats);
        if (debug_cats[0] != '\0') {
            log_max = FM_LOG_DEBUG;
        }
    }
}

int
fm_log_enabled(enum fm_log_level level, const char *component)
{
    if (level > log_max) {
        return 0;
    }
    if (level == FM_LOG_DEBUG && log_debug_cats[0] != '\0') {
        char key[64];
        snprintf(key, sizeof(key), ",%s,", component);
        return strstr(log_debug_cats, key) != NULL || strstr(log_debug_cats, ",all,") != NULL;
    }
    return 1;
}

void
fm_log(enum fm_log_level level, const char *component, const char *event_id, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    int n;
    va_list ap;

    if (log_fd < 0 || !fm_log_enabled(level, component)) {
        return;
    }
    gettimeofday(&tv, NULL);
    if (level != FM_LOG_DEBUG) {
        long suppressed;
        int ok = rate_ok(event_id, tv.tv_sec, &suppressed);
        if (suppressed > 0) {
            fm_log(FM_LOG_WARN, "log", "FM-LOG-SUPPRESSED", "event=%s suppressed=%ld", event_id,
                   suppressed);
        }
        if (!ok) {
            return;
        }
    }
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s[%d] %s %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), level_name[level], log_role, (int)getpid(), component,
                 event_id);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(line)) {
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0) {
            n += m;
        }
    }
    /* A truncated line still ends with a newline so the next one starts clean. */
    if ((size_t)n >= sizeof(line) - 1) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
    if (log_file_fd >= 0) {
        w = write(log_file_fd, line, (size_t)n);
        (void)w;
    }
}

static int
open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int
fm_log_open_file(const char *path)
{
    int fd;
    if (strlen(path) >= sizeof(log_file_path)) {
        return ENAMETOOLONG;
    }
    fd = open_log_file(path);
    if (fd < 0) {
        return errno;
    }
    snprintf(log_file_path, sizeof(log_file_path), "%s", path);
    log_file_fd = fd;
    return 0;
}

int
fm_log_reopen(void)
{
    int fd, rc = 0;
    if (log_file_fd < 0) {
        return ENOENT;
    }
    fd = open_log_file(log_file_path);
    if (fd < 0) {
        return errno;
    }
    /* dup2 swaps the file behind log_file_fd atomically: a writer in another thread writes
     * to the old file or the new one, never to a descriptor closed and reused meanwhile */
    if (dup2(fd, log_file_fd) < 0) {
        rc = errno;
    }
    close(fd);
    return rc;
}

void
fm_log_assert_fail(const char *expr, const char *file, int line)
{
    fm_log(FM_LOG_ERROR, "assert", "FM-ASSERT", "expr=\"%s\" at=%s:%d", expr, file, line);
    abort();
}
