#include "fmtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t
fmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
fmt_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int
fmt_wait_until(int (*cond)(void *ud), void *ud, int timeout_ms)
{
    int64_t deadline = fmt_now_ms() + timeout_ms;
    int step = 1;
    for (;;) {
        if (cond(ud)) {
            return 1;
        }
        if (fmt_now_ms() >= deadline) {
            return 0;
        }
        /* Polling interval backs off to 20 ms: this is the bounded wait itself, not a guess. */
        nap_ms(step);
        if (step < 20) {
            step *= 2;
        }
    }
}

/* ferrymqd names its ready file after its role (a name server's is namesrv.ready). */
static void
ready_path(const fmt_daemon *d, char *path, size_t cap)
{
    const char *name = "ready";
    for (int i = 0; i < d->n_extra; i++) {
        if (strcmp(d->extra[i], "--role=namesrv") == 0) {
            name = "namesrv.ready";
        }
    }
    snprintf(path, cap, "%s/%s", d->dir, name);
}

static int
read_ready(fmt_daemon *d)
{
    char path[320], line[128];
    FILE *f;
    int ok = 0;
    ready_path(d, path, sizeof(path));
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "remoting=", 9) == 0) {
            d->remoting_port = atoi(line + 9);
            ok = 1;
        } else if (strncmp(line, "namesrv=", 8) == 0) {
            d->namesrv_port = atoi(line + 8);
        } else if (strncmp(line, "http=", 5) == 0) {
            d->http_port = atoi(line + 5); /* a replicator's only port */
            ok = 1;
        }
    }
    fclose(f);
    return ok;
}

static int
ready_cond(void *ud)
{
    fmt_daemon *d = ud;
    return read_ready(d) || !fmt_daemon_alive(d);
}

static int
spawn(fmt_daemon *d, int timeout_ms)
{
    const char *bin = getenv("FM_FERRYMQD");
    char ready[320], a_dir[320];
    char *argv[24];
    int argc = 0;
    if (bin == NULL) {
        bin = "build/ferrymqd";
    }
    ready_path(d, ready, sizeof(ready));
    unlink(ready);
    snprintf(a_dir, sizeof(a_dir), "--storePathRootDir=%s", d->dir);
    argv[argc++] = (char *)bin;
    argv[argc++] = a_dir;
    argv[argc++] = "--listenPort=0";
    argv[argc++] = "--namesrvPort=0";
    argv[argc++] = "--httpPort=0"; /* a broker's default, 8080, would collide between tests */
    for (int i = 0; i < d->n_extra && argc < 23; i++) {
        argv[argc++] = d->extra[i];
    }
    argv[argc] = NULL;
    d->remoting_port = 0;
    d->namesrv_port = 0;
    d->http_port = 0;
    d->pid = fork();
    if (d->pid < 0) {
        return -1;
    }
    if (d->pid == 0) {
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(bin, argv);
        _exit(127);
    }
    if (!fmt_wait_until(ready_cond, d, timeout_ms) || !fmt_daemon_alive(d)) {
        char cmd[400];
        fprintf(stderr, "fmtest: ferrymqd did not become ready; log %s:\n", d->log_path);
        snprintf(cmd, sizeof(cmd), "tail -30 '%s' >&2", d->log_path);
        if (system(cmd) != 0) {
            fprintf(stderr, "fmtest: (could not show the log)\n");
        }
        return -1;
    }
    return 0;
}

int
fmt_daemon_start(fmt_daemon *d, const char *const *extra, int timeout_ms)
{
    if (d->dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(d->dir, sizeof(d->dir), "%s/fmtest-XXXXXX", tmp ? tmp : "/tmp");
        if (mkdtemp(d->dir) == NULL) {
            return -1;
        }
    }
    snprintf(d->log_path, sizeof(d->log_path), "%s/ferrymqd.log", d->dir);
    d->n_extra = 0;
    for (int i = 0; extra != NULL && extra[i] != NULL && i < 16; i++) {
        snprintf(d->extra[i], sizeof(d->extra[i]), "%s", extra[i]);
        d->n_extra++;
    }
    return spawn(d, timeout_ms);
}

int
fmt_daemon_restart(fmt_daemon *d, int timeout_ms)
{
    return spawn(d, timeout_ms);
}

int
fmt_daemon_alive(fmt_daemon *d)
{
    int st;
    if (d->pid <= 0) {
        return 0;
    }
    if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
        d->pid = 0;
        return 0;
    }
    return 1;
}

int
fmt_daemon_stop(fmt_daemon *d, int sig, int timeout_ms)
{
    int64_t deadline = fmt_now_ms() + timeout_ms;
    int st = -1;
    if (d->pid <= 0) {
        return -1;
    }
    kill(d->pid, sig);
    for (;;) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid) {
            break;
        }
        if (fmt_now_ms() >= deadline) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            fprintf(stderr, "fmtest: ferrymqd did not exit in %d ms; killed\n", timeout_ms);
            st = -1;
            break;
        }
        nap_ms(2);
    }
    d->pid = 0;
    return st;
}

void
fmt_daemon_cleanup(fmt_daemon *d)
{
    char cmd[400];
    if (d->pid > 0) {
        fmt_daemon_stop(d, SIGKILL, 5000);
    }
    if (d->dir[0] != '\0' && getenv("FM_KEEP_TEST_DIRS") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "fmtest: could not remove %s\n", d->dir);
        }
    }
}

int
fmt_file_contains(const char *path, const char *needle)
{
    char buf[16384];
    size_t n;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

int
fmt_log_count(fmt_daemon *d, const char *needle)
{
    char line[4096];
    int n = 0;
    FILE *f = fopen(d->log_path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

struct log_wait {
    fmt_daemon *d;
    const char *ev;
};

static int
log_cond(void *ud)
{
    struct log_wait *w = ud;
    return fmt_log_count(w->d, w->ev) > 0;
}

int
fmt_wait_log(fmt_daemon *d, const char *event_id, int timeout_ms)
{
    struct log_wait w = {d, event_id};
    return fmt_wait_until(log_cond, &w, timeout_ms);
}

int
fmt_connect(int port, int timeout_ms)
{
    struct sockaddr_in sa;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
fmt_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t
read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r == 0) {
            return (ssize_t)got;
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t
fmt_read_frame(int fd, uint8_t *buf, size_t cap)
{
    ssize_t r;
    uint32_t len;
    if (cap < 4) {
        return -1;
    }
    r = read_full(fd, buf, 4);
    if (r == 0) {
        return 0;
    }
    if (r != 4) {
        return -1;
    }
    len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if ((size_t)len + 4 > cap) {
        return -1;
    }
    r = read_full(fd, buf + 4, len);
    if (r != (ssize_t)len) {
        return -1;
    }
    return (ssize_t)len + 4;
}

int
fmt_cli_vrun(char *out, size_t cap, const char *dir, const char *stdin_text, const char *fmt,
             va_list ap)
{
    char args[4096], cmd[8192], errf[300];
    const char *bin = getenv("FM_FERRYMQ_CLI");
    FILE *p, *e;
    size_t n;
    int st;
    vsnprintf(args, sizeof(args), fmt, ap);
    snprintf(errf, sizeof(errf), "%s/cli.err", dir);
    if (stdin_text != NULL) {
        snprintf(cmd, sizeof(cmd), "printf '%s' | %s %s 2>%s", stdin_text,
                 bin ? bin : "build/ferrymq", args, errf);
    } else {
        snprintf(cmd, sizeof(cmd), "%s %s 2>%s </dev/null", bin ? bin : "build/ferrymq", args,
                 errf);
    }
    p = popen(cmd, "r");
    if (p == NULL) {
        out[0] = '\0';
        return -1;
    }
    n = fread(out, 1, cap - 1, p);
    st = pclose(p);
    e = fopen(errf, "r");
    if (e != NULL) {
        n += (size_t)snprintf(out + n, cap - n, "--stderr--\n");
        if (n < cap - 1) {
            n += fread(out + n, 1, cap - 1 - n, e);
        } else {
            n = cap - 1;
        }
        fclose(e);
    }
    out[n] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
fmt_cli_run(char *out, size_t cap, const char *dir, const char *stdin_text, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = fmt_cli_vrun(out, cap, dir, stdin_text, fmt, ap);
    va_end(ap);
    return rc;
}

int
fmt_http_raw(int port, const void *req, size_t len, char *out, size_t cap, char *headers,
             size_t hcap)
{
    char *buf;
    /* room for the caller's body and the headers before it */
    size_t got = 0, bcap = (cap > (1 << 20) ? cap : (1 << 20)) + (64 << 10);
    int fd, status = -1;
    char *end;
    fd = fmt_connect(port, 10000);
    if (fd < 0) {
        return -1;
    }
    /* a server may answer (413) and close before it read everything: keep what it said */
    (void)fmt_write_all(fd, req, len);
    buf = malloc(bcap + 1);
    if (buf == NULL) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, bcap - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (got == bcap) {
            break;
        }
    }
    close(fd);
    buf[got] = '\0';
    if (got > 12 && strncmp(buf, "HTTP/1.", 7) == 0) {
        status = atoi(buf + 9);
    }
    end = strstr(buf, "\r\n\r\n");
    if (headers != NULL && hcap > 0) {
        size_t hl = end != NULL ? (size_t)(end - buf) : got;
        hl = hl < hcap - 1 ? hl : hcap - 1;
        memcpy(headers, buf, hl);
        headers[hl] = '\0';
    }
    if (out != NULL && cap > 0) {
        const char *b = end != NULL ? end + 4 : "";
        snprintf(out, cap, "%s", b);
    }
    free(buf);
    return end != NULL ? status : -1;
}

int
fmt_http(int port, const char *method, const char *path, const char *body, char *out, size_t cap)
{
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t n = blen + 512;
    char *req = malloc(n);
    int len, rc;
    if (req == NULL) {
        return -1;
    }
    len = snprintf(req, n,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   method, path, blen, body != NULL ? body : "");
    rc = fmt_http_raw(port, req, (size_t)len, out, cap, NULL, 0);
    free(req);
    return rc;
}
