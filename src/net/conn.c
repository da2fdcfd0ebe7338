/*
 * conn.c - listeners, connections, frame reassembly, output queues.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define COALESCE_MAX (256 * 1024) /* grow the tail memory chunk up to this before adding one */
#define DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
#define MAX_IOV 512
#define DEFER_MAX (16 * 1024) /* writes up to this size wait for the end of the loop iteration */

static void conn_update_events(fm_net_conn *conn);
static int conn_flush(fm_net_conn *conn);

static void
set_peer(fm_net_conn *conn, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
    }
    snprintf(conn->peer, sizeof(conn->peer), "%s:%d", ip, port);
}

static fm_net_conn *
conn_new(fm_net_loop *loop, int fd, const fm_net_conn_cbs *cbs, void *ud)
{
    fm_net_conn *conn = calloc(1, sizeof(*conn));
    int one = 1;
    if (conn == NULL) {
        return NULL;
    }
    conn->h.kind = NET_H_CONN;
    conn->loop = loop;
    conn->fd = fd;
    conn->id = ++loop->next_conn_id;
    conn->refs = 1; /* the loop's */
    conn->cbs = *cbs;
    if (conn->cbs.max_output == 0) {
        conn->cbs.max_output = DEFAULT_MAX_OUTPUT;
    }
    conn->ud = ud;
    snprintf(conn->peer, sizeof(conn->peer), "?");
    /* Requests and replies are small and latency-bound: no Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn->next_all = loop->conns;
    if (loop->conns != NULL) {
        loop->conns->prev_all = conn;
    }
    loop->conns = conn;
    return conn;
}

static int
conn_register(fm_net_conn *conn, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = &conn->h;
    conn->ev_registered = events;
    return epoll_ctl(conn->loop->epfd, EPOLL_CTL_ADD, conn->fd, &ev);
}

static void
chunk_free(struct net_chunk *c)
{
    if (c->is_file && c->release != NULL) {
        c->release(c->arg);
    }
    fm_buf_free(&c->mem);
    free(c);
}

static void
conn_mark_closed(fm_net_conn *conn, int err)
{
    fm_net_loop *loop = conn->loop;
    if (conn->closed) {
        return;
    }
    conn->closed = 1;
    conn->close_err = err;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
    close(conn->fd);
    conn->fd = -1;
    while (conn->out_head != NULL) {
        struct net_chunk *c = conn->out_head;
        conn->out_head = c->next;
        chunk_free(c);
    }
    conn->out_tail = NULL;
    conn->out_bytes = 0;
    /* unlink from the live list; reap runs on_close and drops the loop's reference */
    if (conn->prev_all != NULL) {
        conn->prev_all->next_all = conn->next_all;
    } else if (loop->conns == conn) {
        loop->conns = conn->next_all;
    }
    if (conn->next_all != NULL) {
        conn->next_all->prev_all = conn->prev_all;
    }
    conn->next_all = conn->prev_all = NULL;
    conn->next_dead = loop->dead;
    loop->dead = conn;
    conn->in_dead_list = 1;
}

void
fm_net_reap(fm_net_loop *loop)
{
    while (loop->dead != NULL) {
        fm_net_conn *conn = loop->dead;
        loop->dead = conn->next_dead;
        conn->in_dead_list = 0;
        if (!conn->on_close_done) {
            conn->on_close_done = 1;
            if (conn->cbs.on_close != NULL) {
                conn->cbs.on_close(conn, conn->close_err, conn->ud);
            }
        }
        fm_net_conn_unref(conn);
    }
}

void
fm_net_loop_close_all(fm_net_loop *loop)
{
    while (loop->conns != NULL) {
        fm_net_conn *conn = loop->conns;
        if (conn->out_head != NULL && !conn->connecting) {
            conn_flush(conn);
        }
        if (!conn->closed) {
            conn_mark_closed(conn, FM_ECLOSED);
        }
    }
    fm_net_reap(loop);
}

void
fm_net_conns_close_all(fm_net_loop *loop)
{
    while (loop->conns != NULL) {
        conn_mark_closed(loop->conns, FM_ECLOSED);
    }
}

void
fm_net_conn_ref(fm_net_conn *conn)
{
    conn->refs++;
}

void
fm_net_conn_unref(fm_net_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    FM_ASSERT(conn->refs > 0);
    if (--conn->refs == 0) {
        FM_ASSERT(conn->closed && !conn->in_dead_list);
        fm_buf_free(&conn->in);
        free(conn);
    }
}

int
fm_net_conn_is_closed(const fm_net_conn *conn)
{
    return conn->closed;
}

void
fm_net_conn_set_ud(fm_net_conn *conn, void *ud)
{
    conn->ud = ud;
}

void *
fm_net_conn_get_ud(const fm_net_conn *conn)
{
    return conn->ud;
}

const char *
fm_net_conn_peer(const fm_net_conn *conn)
{
    return conn->peer;
}

uint64_t
fm_net_conn_id(const fm_net_conn *conn)
{
    return conn->id;
}

size_t
fm_net_conn_out_bytes(const fm_net_conn *conn)
{
    return conn->out_bytes;
}

void
fm_net_conn_close(fm_net_conn *conn)
{
    conn_mark_closed(conn, FM_OK);
}

void
fm_net_conn_close_after_flush(fm_net_conn *conn)
{
    if (conn->closed) {
        return;
    }
    if (conn->out_bytes == 0) {
        conn_mark_closed(conn, FM_OK);
        return;
    }
    conn->close_after = 1;
    conn_update_events(conn);
}

static void
conn_update_events(fm_net_conn *conn)
{
    struct epoll_event ev;
    int want_read, want_write;
    if (conn->closed) {
        return;
    }
    want_write = conn->connecting || conn->out_bytes > 0;
    /* Backpressure: stop reading while the peer is not taking our output. */
    if (conn->out_bytes > conn->cbs.max_output) {
        conn->reading_paused = 1;
    } else if (conn->out_bytes <= conn->cbs.max_output / 2) {
        if (conn->reading_paused && conn->pending_deliver) {
            conn->loop->pending_deliver = 1;
        }
        conn->reading_paused = 0;
    }
    want_read = !conn->connecting && !conn->reading_paused && !conn->close_after;
    memset(&ev, 0, sizeof(ev));
    ev.events = (want_read ? EPOLLIN | EPOLLRDHUP : 0) | (want_write ? EPOLLOUT : 0);
    ev.data.ptr = &conn->h;
    conn->want_write = want_write;
    if (ev.events == conn->ev_registered) {
        return; /* the common case after a flush: nothing to tell the kernel */
    }
    conn->ev_registered = ev.events;
    epoll_ctl(conn->loop->epfd, EPOLL_CTL_MOD, conn->fd, &ev);
}

/* The loop's before_output hook; 0 (and the connection closed) when it refused. */
static int
output_safe(fm_net_conn *conn)
{
    fm_net_loop *loop = conn->loop;
    if (loop->before_output != NULL && loop->before_output(loop->before_output_ud) != 0) {
        FM_LOGW("net", "FM-NET-OUTPUT-REFUSED", "peer=%s", conn->peer);
        conn_mark_closed(conn, FM_EIO);
        return 0;
    }
    return 1;
}

/* Write as much queued output as the socket takes. Returns FM_OK or an error (conn closed). */
static int
conn_flush(fm_net_conn *conn)
{
    if (conn->out_head != NULL && !output_safe(conn)) {
        return FM_ECLOSED;
    }
    while (conn->out_head != NULL && !conn->closed) {
        struct net_chunk *c = conn->out_head;
        ssize_t w;
        if (c->is_file) {
            off_t off = c->off;
            w = sendfile(conn->fd, c->fd, &off, c->left);
            if (w > 0) {
                c->off = off;
                c->left -= (size_t)w;
                conn->out_bytes -= (size_t)w;
            }
            if (w == 0 && c->left > 0) {
                /* the file is shorter than promised: a bug upstream; do not spin */
                conn_mark_closed(conn, FM_EIO);
                return FM_EIO;
            }
        } else {
            struct iovec iov[MAX_IOV];
            int n = 0;
            for (struct net_chunk *k = c; k != NULL && !k->is_file && n < MAX_IOV; k = k->next) {
                iov[n].iov_base = k->mem.data + k->sent;
                iov[n].iov_len = k->mem.len - k->sent;
                n++;
            }
            w = writev(conn->fd, iov, n);
            if (w > 0) {
                size_t left = (size_t)w;
                conn->out_bytes -= left;
                while (left > 0) {
                    struct net_chunk *k = conn->out_head;
                    size_t avail = k->mem.len - k->sent;
                    if (left < avail) {
                        k->sent += left;
                        left = 0;
                    } else {
                        left -= avail;
                        k->sent = k->mem.len;
                        conn->out_head = k->next;
                        if (conn->out_head == NULL) {
                            conn->out_tail = NULL;
                        }
                        chunk_free(k);
                    }
                }
                continue;
            }
        }
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            FM_LOGD("net", "FM-NET-WRITE-FAIL", "peer=%s err=\"%s\"", conn->peer, strerror(errno));
            conn_mark_closed(conn, FM_EIO);
            return FM_EIO;
        }
        if (c->is_file && c->left == 0) {
            conn->out_head = c->next;
            if (conn->out_head == NULL) {
                conn->out_tail = NULL;
            }
            chunk_free(c);
        }
    }
    if (conn->out_head == NULL && conn->close_after) {
        conn_mark_closed(conn, FM_OK);
        return FM_OK;
    }
    conn_update_events(conn);
    return FM_OK;
}

static struct net_chunk *
chunk_push(fm_net_conn *conn)
{
    struct net_chunk *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    if (conn->out_tail != NULL) {
        conn->out_tail->next = c;
    } else {
        conn->out_head = c;
    }
    conn->out_tail = c;
    return c;
}

/* Queue bytes at the tail (coalescing small writes into one chunk). */
static int
queue_bytes(fm_net_conn *conn, const void *p, size_t n)
{
    struct net_chunk *c = conn->out_tail;
    if (c == NULL || c->is_file || c->mem.len + n > COALESCE_MAX || c->sent > 0) {
        c = chunk_push(conn);
        if (c == NULL) {
            return FM_ENOMEM;
        }
    }
    if (fm_buf_append(&c->mem, p, n) != FM_OK) {
        return FM_ENOMEM;
    }
    conn->out_bytes += n;
    return FM_OK;
}

static void
defer_flush(fm_net_conn *conn)
{
    if (!conn->in_flush_list) {
        conn->in_flush_list = 1;
        fm_net_conn_ref(conn);
        conn->next_flush = conn->loop->flush_list;
        conn->loop->flush_list = conn;
    }
}

void
fm_net_flush_deferred(fm_net_loop *loop)
{
    while (loop->flush_list != NULL) {
        fm_net_conn *conn = loop->flush_list;
        loop->flush_list = conn->next_flush;
        conn->in_flush_list = 0;
        if (!conn->closed && !conn->connecting && conn->out_head != NULL) {
            conn_flush(conn);
        }
        fm_net_conn_unref(conn);
    }
}

int
fm_net_conn_writev(fm_net_conn *conn, const struct iovec *iov, int n_iov)
{
    size_t total = 0, done = 0;
    int rc;
    if (conn->closed || conn->close_after) {
        return FM_ECLOSED;
    }
    for (int i = 0; i < n_iov; i++) {
        total += iov[i].iov_len;
    }
    if (total == 0) {
        return FM_OK;
    }
    /* Small writes (replies, requests) are gathered and sent once per loop iteration, before
     * the loop sleeps: a burst of pipelined requests costs one writev for all its replies,
     * not one each. The copy is cheaper than the system call it saves. */
    if (total <= DEFER_MAX && !conn->connecting) {
        for (int i = 0; i < n_iov; i++) {
            if (iov[i].iov_len > 0 && queue_bytes(conn, iov[i].iov_base, iov[i].iov_len) != FM_OK) {
                conn_mark_closed(conn, FM_ENOMEM);
                return FM_ENOMEM;
            }
        }
        defer_flush(conn);
        if (conn->out_bytes > conn->cbs.max_output) {
            conn_update_events(conn); /* backpressure holds between frames too */
        }
        return FM_OK;
    }
    /* A large write after gathered small ones: send those first, so this one can still go
     * straight from the caller's memory. */
    if (conn->out_head != NULL && conn->in_flush_list && !conn->connecting) {
        if (conn_flush(conn) != FM_OK) {
            return FM_ECLOSED;
        }
    }
    /* Nothing queued: write straight from the caller's memory (for a pull, the mapped commit
     * log), so the common case copies nothing and allocates nothing. Only what the socket
     * does not take is copied into the queue. */
    if (conn->out_head == NULL && !conn->connecting) {
        ssize_t w;
        if (!output_safe(conn)) {
            return FM_ECLOSED;
        }
        do {
            w = writev(conn->fd, iov, n_iov > MAX_IOV ? MAX_IOV : n_iov);
        } while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            FM_LOGD("net", "FM-NET-WRITE-FAIL", "peer=%s err=\"%s\"", conn->peer, strerror(errno));
            conn_mark_closed(conn, FM_EIO);
            return FM_ECLOSED;
        }
        done = w > 0 ? (size_t)w : 0;
        if (done == total) {
            return FM_OK;
        }
    }
    for (int i = 0; i < n_iov; i++) {
        size_t len = iov[i].iov_len;
        const uint8_t *base = iov[i].iov_base;
        if (done >= len) {
            done -= len;
            continue;
        }
        rc = queue_bytes(conn, base + done, len - done);
        done = 0;
        if (rc != FM_OK) {
            conn_mark_closed(conn, FM_ENOMEM);
            return rc;
        }
    }
    conn_update_events(conn);
    return FM_OK;
}

int
fm_net_conn_write(fm_net_conn *conn, const void *p, size_t n)
{
    struct iovec iov;
    iov.iov_base = (void *)p;
    iov.iov_len = n;
    return fm_net_conn_writev(conn, &iov, 1);
}

int
fm_net_conn_write_file(fm_net_conn *conn, int fd, off_t off, size_t n, void (*release)(void *arg),
                       void *arg)
{
    struct net_chunk *c;
    int was_empty = conn->out_head == NULL;
    if (conn->closed || conn->close_after) {
        return FM_ECLOSED;
    }
    c = chunk_push(conn);
    if (c == NULL) {
        return FM_ENOMEM;
    }
    c->is_file = 1;
    c->fd = fd;
    c->off = off;
    c->left = n;
    c->release = release;
    c->arg = arg;
    conn->out_bytes += n;
    if (was_empty && !conn->connecting) {
        conn_flush(conn);
    } else {
        conn_update_events(conn);
    }
    return FM_OK;
}

/* Deliver the whole frames in the input buffer, stopping as soon as the connection closes,
 * pauses (its output passed max_output: backpressure applies between frames, not only
 * between reads) or waits to close. Frames left behind are delivered when it resumes.
 * Returns -1 when the connection was closed. */
static int
deliver_frames(fm_net_conn *conn)
{
    size_t pos = 0;
    if (conn->delivering) {
        return 0;
    }
    conn->delivering = 1;
    conn->pending_deliver = 0;
    while (!conn->closed && !conn->reading_paused && !conn->close_after) {
        size_t flen;
        int rc = conn->cbs.frame_len(conn->in.data + pos, conn->in.len - pos, conn->cbs.max_frame,
                                     &flen);
        if (rc == FM_EAGAIN) {
            break;
        }
        if (rc != FM_OK) {
            FM_LOGW("net", "FM-NET-FRAME-REJECT", "peer=%s err=%s action=close", conn->peer,
                    fm_errname(rc));
            conn_mark_closed(conn, FM_EPROTO);
            break;
        }
        if (conn->in.len - pos < flen) {
            /* make room for the rest of this frame in one go */
            if (fm_buf_reserve(&conn->in, flen - (conn->in.len - pos)) != FM_OK) {
                conn_mark_closed(conn, FM_ENOMEM);
            }
            break;
        }
        conn->cbs.on_frame(conn, conn->in.data + pos, flen, conn->ud);
        pos += flen;
    }
    conn->delivering = 0;
    if (conn->closed) {
        return -1;
    }
    fm_buf_consume(&conn->in, pos);
    if (conn->reading_paused && conn->in.len > 0) {
        conn->pending_deliver = 1; /* resumed by fm_net_deliver_pending once it drains */
    }
    return 0;
}

/* Read what is there and deliver every whole frame. */
static void
conn_read(fm_net_conn *conn)
{
    for (;;) {
        ssize_t r;
        if (fm_buf_reserve(&conn->in, READ_CHUNK) != FM_OK) {
            conn_mark_closed(conn, FM_ENOMEM);
            return;
        }
        r = read(conn->fd, conn->in.data + conn->in.len, conn->in.cap - conn->in.len);
        if (r == 0) {
            conn_mark_closed(conn, FM_OK);
            return;
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_mark_closed(conn, FM_EIO);
            }
            return;
        }
        conn->in.len += (size_t)r;
        if (deliver_frames(conn) < 0 || conn->reading_paused || conn->close_after) {
            return;
        }
        /* Keep an idle connection's buffer small after a large frame. */
        if (conn->in.len == 0 && conn->in.cap > 4 * READ_CHUNK) {
            fm_buf_free(&conn->in);
        }
        if ((size_t)r < READ_CHUNK) {
            return; /* drained (level-triggered epoll calls again if more arrives) */
        }
    }
}

void
fm_net_deliver_pending(fm_net_loop *loop)
{
    /* Connections that paused with whole frames buffered and have drained since: their
     * frames would otherwise wait for new bytes that may never come. Runs between event
     * batches, never inside another connection's callback. */
    if (!loop->pending_deliver) {
        return;
    }
    loop->pending_deliver = 0;
    for (fm_net_conn *conn = loop->conns; conn != NULL;) {
        fm_net_conn *next = conn->next_all;
        if (conn->pending_deliver && !conn->reading_paused && !conn->closed) {
            deliver_frames(conn);
        }
        if (!conn->closed && conn->pending_deliver) {
            loop->pending_deliver = 1;
        }
        conn = next;
    }
}

void
fm_net_conn_on_event(fm_net_conn *conn, uint32_t events)
{
    if (conn->closed) {
        return;
    }
    if (conn->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
            return;
        }
        getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            FM_LOGD("net", "FM-NET-CONNECT-FAIL", "peer=%s err=\"%s\"", conn->peer, strerror(err));
            conn_mark_closed(conn, FM_EIO);
            return;
        }
        conn->connecting = 0;
        if (conn->cbs.on_open != NULL) {
            conn->cbs.on_open(conn, conn->ud);
        }
        if (!conn->closed) {
            conn_flush(conn);
        }
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_read(conn);
    }
    if (!conn->closed && (events & EPOLLOUT)) {
        conn_flush(conn);
    }
    if (!conn->closed && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
        conn_mark_closed(conn, FM_EIO);
    }
}

static int
make_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    char ps[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL) {
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int
fm_net_listen(fm_net_loop *loop, const char *host, int port, const fm_net_conn_cbs *cbs, void *ud,
              fm_net_listener **out, fm_errbuf *eb)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd;
    fm_net_listener *lis;
    struct epoll_event ev;

    if (make_addr(host, port, &ss, &len) != 0) {
        return fm_err_set(eb, FM_EIO, "cannot resolve listen address %s:%d", host, port);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fm_err_sys(eb, FM_EIO, errno, "socket");
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return fm_err_sys(eb, FM_EIO, e, "cannot listen on %s:%d", host, port);
    }
    lis = calloc(1, sizeof(*lis));
    if (lis == NULL) {
        close(fd);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    lis->h.kind = NET_H_LISTENER;
    lis->loop = loop;
    lis->fd = fd;
    lis->cbs = *cbs;
    lis->ud = ud;
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    lis->port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                        : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &lis->h;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(fd);
        free(lis);
        return fm_err_sys(eb, FM_EIO, e, "epoll_ctl");
    }
    *out = lis;
    return FM_OK;
}

int
fm_net_listener_port(const fm_net_listener *lis)
{
    return lis->port;
}

void
fm_net_listener_close(fm_net_listener *lis)
{
    if (lis == NULL) {
        return;
    }
    epoll_ctl(lis->loop->epfd, EPOLL_CTL_DEL, lis->fd, NULL);
    close(lis->fd);
    /* Any event for it already fetched in this batch would touch freed memory: listeners
     * are closed only outside event dispatch (shutdown), which the roles guarantee. */
    free(lis);
}

void
fm_net_listener_on_event(fm_net_listener *lis, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        fm_net_conn *conn;
        int fd = accept4(lis->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                FM_LOGW("net", "FM-NET-ACCEPT-FAIL", "port=%d err=\"%s\"", lis->port,
                        strerror(errno));
            }
            return;
        }
        conn = conn_new(lis->loop, fd, &lis->cbs, lis->ud);
        if (conn == NULL) {
            close(fd);
            continue;
        }
        set_peer(conn, &ss);
        if (conn_register(conn, EPOLLIN | EPOLLRDHUP) != 0) {
            conn_mark_closed(conn, FM_EIO);
            continue;
        }
        FM_LOGD("net", "FM-NET-ACCEPT", "port=%d peer=%s id=%llu", lis->port, conn->peer,
                (unsigned long long)conn->id);
        if (conn->cbs.on_open != NULL) {
            conn->cbs.on_open(conn, conn->ud);
        }
    }
}

int
fm_net_connect(fm_net_loop *loop, const char *host, int port, const fm_net_conn_cbs *cbs, void *ud,
               fm_net_conn **out, fm_errbuf *eb)
{
    struct sockaddr_storage ss;
    socklen_t len;
    fm_net_conn *conn;
    int fd, rc;

    if (make_addr(host, port, &ss, &len) != 0) {
        return fm_err_set(eb, FM_EIO, "cannot resolve %s:%d", host, port);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fm_err_sys(eb, FM_EIO, errno, "socket");
    }
    rc = connect(fd, (struct sockaddr *)&ss, len);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return fm_err_sys(eb, FM_EIO, e, "cannot connect to %s:%d", host, port);
    }
    conn = conn_new(loop, fd, cbs, ud);
    if (conn == NULL) {
        close(fd);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    set_peer(conn, &ss);
    conn->connecting = 1;
    if (conn_register(conn, EPOLLOUT) != 0) {
        conn_mark_closed(conn, FM_EIO);
        return fm_err_set(eb, FM_EIO, "epoll_ctl failed");
    }
    conn->want_write = 1;
    *out = conn;
    return FM_OK;
}
