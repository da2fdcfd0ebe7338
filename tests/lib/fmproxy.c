#include "fmproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FMP_MAX_PAIRS 128
#define FMP_BUF 65536

#define CMD_NONE 0
#define CMD_STALL 1
#define CMD_RESUME 2
#define CMD_FREEZE 5
#define CMD_RESET 3
#define CMD_QUIT 4

/* One direction of a pair: bytes read from one side and not yet written to the other. */
typedef struct pipe_buf {
    char data[FMP_BUF];
    size_t off, len;
} pipe_buf;

typedef struct pair {
    int cfd, tfd;  /* client side, target side; -1 when the slot is free */
    pipe_buf up;   /* client -> target */
    pipe_buf down; /* target -> client */
    int frozen;    /* fmp_freeze: never moves a byte again, never closes by itself */
} pair;

struct fmp_proxy {
    int lfd;
    int wake[2];
    int port;
    struct sockaddr_in target;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd;        /* pending command, CMD_NONE when the thread has taken it */
    int64_t done;   /* commands completed: the control side waits for it to move */
    int cmd_result; /* pairs reset by the last CMD_RESET */
    int stalled;    /* thread-owned */
    fmp_stats st;   /* under mu */
    pair pairs[FMP_MAX_PAIRS];
};

static void
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
close_pair(fmp_proxy *p, pair *pr, int rst)
{
    struct linger lg = {1, 0};
    if (rst) {
        setsockopt(pr->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        setsockopt(pr->tfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(pr->cfd);
    close(pr->tfd);
    pr->cfd = pr->tfd = -1;
    pr->up.off = pr->up.len = 0;
    pr->down.off = pr->down.len = 0;
    pr->frozen = 0;
    pthread_mutex_lock(&p->mu);
    p->st.open--;
    if (rst) {
        p->st.resets++;
    }
    pthread_mutex_unlock(&p->mu);
}

static void
accept_one(fmp_proxy *p)
{
    int one = 1;
    int cfd = accept(p->lfd, NULL, NULL);
    int tfd;
    pair *slot = NULL;
    if (cfd < 0) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->st.accepted++;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < FMP_MAX_PAIRS; i++) {
        if (p->pairs[i].cfd < 0) {
            slot = &p->pairs[i];
            break;
        }
    }
    /* Loopback connect completes at once (or is refused at once): blocking is fine here. */
    tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (slot == NULL || tfd < 0 ||
        connect(tfd, (struct sockaddr *)&p->target, sizeof(p->target)) != 0) {
        struct linger lg = {1, 0};
        setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(cfd);
        if (tfd >= 0) {
            close(tfd);
        }
        pthread_mutex_lock(&p->mu);
        p->st.refused++;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_nonblock(cfd);
    set_nonblock(tfd);
    slot->cfd = cfd;
    slot->tfd = tfd;
    pthread_mutex_lock(&p->mu);
    p->st.open++;
    pthread_mutex_unlock(&p->mu);
}

/* Move bytes from fd `from` into b, and from b to fd `to`. -1 when the pair must close. */
static int
pump(fmp_proxy *p, int from, int to, pipe_buf *b, int readable, int writable, int64_t *counter)
{
    if (readable && b->len == 0) {
        ssize_t r = recv(from, b->data, sizeof(b->data), 0);
        if (r == 0) {
            return -1;
        }
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return -1;
            }
        } else {
            b->off = 0;
            b->len = (size_t)r;
            writable = 1; /* try at once: the other side is usually ready */
        }
    }
    if (writable && b->len > 0) {
        ssize_t w = send(to, b->data + b->off, b->len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return -1;
            }
        } else {
            b->off += (size_t)w;
            b->len -= (size_t)w;
            pthread_mutex_lock(&p->mu);
            *counter += w;
            pthread_mutex_unlock(&p->mu);
        }
    }
    return 0;
}

/* Take the pending command (under mu), apply it, and tell the control side. 1 = quit. */
static int
run_command(fmp_proxy *p)
{
    char drain[64];
    int cmd, n = 0;
    while (read(p->wake[0], drain, sizeof(drain)) > 0) {
    }
    pthread_mutex_lock(&p->mu);
    cmd = p->cmd;
    p->cmd = CMD_NONE;
    pthread_mutex_unlock(&p->mu);
    if (cmd == CMD_NONE) {
        return 0;
    }
    if (cmd == CMD_STALL) {
        p->stalled = 1;
    } else if (cmd == CMD_RESUME) {
        p->stalled = 0;
    } else if (cmd == CMD_FREEZE) {
        for (int i = 0; i < FMP_MAX_PAIRS; i++) {
            if (p->pairs[i].cfd >= 0) {
                p->pairs[i].frozen = 1;
                n++;
            }
        }
    } else if (cmd == CMD_RESET || cmd == CMD_QUIT) {
        for (int i = 0; i < FMP_MAX_PAIRS; i++) {
            if (p->pairs[i].cfd >= 0) {
                close_pair(p, &p->pairs[i], 1);
                n++;
            }
        }
    }
    pthread_mutex_lock(&p->mu);
    p->cmd_result = n;
    p->done++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return cmd == CMD_QUIT;
}

static void *
proxy_main(void *arg)
{
    fmp_proxy *p = arg;
    struct pollfd pfd[2 + 2 * FMP_MAX_PAIRS];
    int owner[2 + 2 * FMP_MAX_PAIRS];
    for (;;) {
        nfds_t n = 0;
        pfd[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        owner[n++] = -1;
        pfd[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        owner[n++] = -1;
        for (int i = 0; i < FMP_MAX_PAIRS; i++) {
            pair *pr = &p->pairs[i];
            short ce = 0, te = 0;
            if (pr->cfd < 0) {
                continue;
            }
            int still = p->stalled || pr->frozen;
            if (!still) {
                /* read a side only when its buffer is empty; write when the other has bytes */
                ce = (short)((pr->up.len == 0 ? POLLIN : 0) | (pr->down.len > 0 ? POLLOUT : 0));
                te = (short)((pr->down.len == 0 ? POLLIN : 0) | (pr->up.len > 0 ? POLLOUT : 0));
            }
            /* events 0 still reports POLLHUP/POLLERR, so a stalled pair notices a dead peer
             * only once resumed: it is only ever closed by a read or write failing */
            pfd[n] = (struct pollfd){.fd = still ? -1 : pr->cfd, .events = ce};
            owner[n++] = i;
            pfd[n] = (struct pollfd){.fd = still ? -1 : pr->tfd, .events = te};
            owner[n++] = i;
        }
        if (poll(pfd, n, 1000) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        if (pfd[0].revents & POLLIN) {
            if (run_command(p)) {
                return NULL;
            }
            continue; /* the pair table may have changed under the poll set */
        }
        if (pfd[1].revents & POLLIN) {
            accept_one(p);
        }
        for (nfds_t k = 2; k + 1 < n; k += 2) {
            pair *pr = &p->pairs[owner[k]];
            short cr = pfd[k].revents, tr = pfd[k + 1].revents;
            if (pr->cfd < 0 || p->stalled || pr->frozen || (cr == 0 && tr == 0)) {
                continue;
            }
            if (pump(p, pr->cfd, pr->tfd, &pr->up, (cr & (POLLIN | POLLHUP | POLLERR)) != 0,
                     (tr & POLLOUT) != 0, &p->st.bytes_up) != 0 ||
                pump(p, pr->tfd, pr->cfd, &pr->down, (tr & (POLLIN | POLLHUP | POLLERR)) != 0,
                     (cr & POLLOUT) != 0, &p->st.bytes_down) != 0) {
                close_pair(p, pr, 0);
            } else if (((cr & (POLLHUP | POLLERR)) && pr->up.len > 0) ||
                       ((tr & (POLLHUP | POLLERR)) && pr->down.len > 0)) {
                /* a dead side we are not reading (its bytes wait for the other): close now
                 * rather than spin on the hang-up */
                close_pair(p, pr, 0);
            }
        }
    }
}

int
fmp_start(const char *listen_ip, int listen_port, const char *target_ip, int target_port,
          fmp_proxy **out)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;
    fmp_proxy *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (p == NULL) {
        return -1;
    }
    for (int i = 0; i < FMP_MAX_PAIRS; i++) {
        p->pairs[i].cfd = p->pairs[i].tfd = -1;
    }
    memset(&p->target, 0, sizeof(p->target));
    p->target.sin_family = AF_INET;
    p->target.sin_port = htons((uint16_t)target_port);
    if (inet_pton(AF_INET, target_ip, &p->target.sin_addr) != 1) {
        free(p);
        errno = EINVAL;
        return -1;
    }
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0) {
        free(p);
        return -1;
    }
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)listen_port);
    if (inet_pton(AF_INET, listen_ip, &sa.sin_addr) != 1 ||
        bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(p->lfd, 128) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
        pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        int e = errno;
        close(p->lfd);
        free(p);
        errno = e;
        return -1;
    }
    p->port = ntohs(sa.sin_port);
    set_nonblock(p->lfd);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        close(p->lfd);
        close(p->wake[0]);
        close(p->wake[1]);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int
fmp_port(const fmp_proxy *p)
{
    return p->port;
}

/* Hand the thread a command and wait until it has been applied; returns cmd_result. */
static int
command(fmp_proxy *p, int cmd)
{
    int64_t target;
    int r;
    pthread_mutex_lock(&p->mu);
    while (p->cmd != CMD_NONE) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->cmd = cmd;
    target = p->done + 1;
    pthread_mutex_unlock(&p->mu);
    if (write(p->wake[1], "x", 1) < 0) {
        /* a full pipe already holds a wake-up: the thread will see the command */
    }
    pthread_mutex_lock(&p->mu);
    while (p->done < target) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    r = p->cmd_result;
    pthread_mutex_unlock(&p->mu);
    return r;
}

void
fmp_stall(fmp_proxy *p, int on)
{
    command(p, on ? CMD_STALL : CMD_RESUME);
}

int
fmp_reset(fmp_proxy *p)
{
    return command(p, CMD_RESET);
}

int
fmp_freeze(fmp_proxy *p)
{
    return command(p, CMD_FREEZE);
}

void
fmp_get_stats(fmp_proxy *p, fmp_stats *st)
{
    pthread_mutex_lock(&p->mu);
    *st = p->st;
    pthread_mutex_unlock(&p->mu);
}

void
fmp_free(fmp_proxy *p)
{
    if (p == NULL) {
        return;
    }
    command(p, CMD_QUIT);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
