/*
 * rpc.c - the client transport: an I/O thread, connections by address, pending requests.
 */
#include "client/rpc.h"

#include "common/log.h"
#include "common/map.h"
#include "net/net.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAX_FRAME ((size_t)64 << 20)

typedef struct rpc_link {
    char addr[128];
    fm_net_conn *conn; /* ref held; NULL while disconnected */
    int connected;     /* the connect completed */
    uint64_t n_rx;     /* responses received on conn */
} rpc_link;

typedef struct rpc_pending {
    fm_client_rpc *rpc;
    int32_t opaque;
    rpc_link *link;
    fm_net_timer *timer;
    uint64_t rx_at_send; /* link->n_rx when it was written */
    fm_client_done_fn done;
    void *ud;
} rpc_pending;

typedef struct rpc_job {
    fm_client_garbage g; /* first: the job goes back to a caller's thread to be freed */
    fm_net_post post;    /* the hand-off to the I/O thread, inside the job: no allocation */
    fm_client_rpc *rpc;
    char addr[128];
    fm_buf frame;
    int32_t opaque;
    int timeout_ms;
    int oneway;
    fm_client_done_fn done;
    void *ud;
} rpc_job;

struct fm_client_rpc {
    fm_net_loop *loop;
    pthread_t thread;
    int running;
    atomic_int next_opaque;
    fm_map links;   /* addr -> rpc_link* */
    fm_map pending; /* opaque (4 bytes) -> rpc_pending* */
    fm_cmd_arena arena;
    fm_client_request_fn on_request; /* broker-initiated requests; NULL: ignored */
    void *request_ud;
    /* What the I/O thread is done with, freed by the next caller (fm_client_rpc_call), so
     * memory a caller allocated is freed where it came from: freed on the I/O thread, it made
     * every malloc of the caller wait on glibc's arena lock (the producer's top cost). */
    fm_client_garbage_list garbage;
};

void
fm_client_garbage_push(fm_client_garbage_list *list, fm_client_garbage *g)
{
    fm_client_garbage *head = atomic_load(list);
    do {
        g->next = head;
    } while (!atomic_compare_exchange_weak(list, &head, g));
}

void
fm_client_garbage_drain(fm_client_garbage_list *list)
{
    fm_client_garbage *g = atomic_exchange(list, NULL);
    while (g != NULL) {
        fm_client_garbage *next = g->next;
        g->free_fn(g);
        g = next;
    }
}

void
fm_client_rpc_defer_free(fm_client_rpc *rpc, fm_client_garbage *g)
{
    fm_client_garbage_push(&rpc->garbage, g);
}

static void *
io_main(void *arg)
{
    fm_client_rpc *rpc = arg;
    pthread_setname_np(pthread_self(), "fm-client-io");
    fm_net_loop_run(rpc->loop);
    return NULL;
}

int
fm_client_rpc_new(fm_client_rpc **out, fm_errbuf *eb)
{
    fm_client_rpc *rpc = calloc(1, sizeof(*rpc));
    int rc;
    if (rpc == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    atomic_init(&rpc->next_opaque, 1);
    fm_proto_arena_init(&rpc->arena);
    rc = fm_net_loop_new(&rpc->loop, eb);
    if (rc != FM_OK) {
        free(rpc);
        return rc;
    }
    if (pthread_create(&rpc->thread, NULL, io_main, rpc) != 0) {
        fm_net_loop_free(rpc->loop);
        free(rpc);
        return fm_err_set(eb, FM_EIO, "cannot start the client I/O thread");
    }
    rpc->running = 1;
    *out = rpc;
    return FM_OK;
}

void
fm_client_rpc_set_request_cb(fm_client_rpc *rpc, fm_client_request_fn fn, void *ud)
{
    rpc->on_request = fn;
    rpc->request_ud = ud;
}

const char *
fm_client_rpc_strerror(int err)
{
    return err == FM_EIO       ? "cannot connect"
           : err == FM_ECLOSED ? "connection lost before the reply"
                               : fm_strerror(err);
}

int
fm_client_rpc_on_io_thread(const fm_client_rpc *rpc)
{
    return rpc->running && pthread_equal(pthread_self(), rpc->thread);
}

int32_t
fm_client_rpc_next_opaque(fm_client_rpc *rpc)
{
    /* Java ints wrap; so may we, but skip 0 and negatives so opaques stay readable. */
    int32_t v = (int32_t)(atomic_fetch_add(&rpc->next_opaque, 1) & 0x7FFFFFFF);
    return v == 0 ? 1 : v;
}

static void
finish(fm_client_rpc *rpc, rpc_pending *p, int err, const fm_cmd *resp, fm_slice raw)
{
    fm_map_del(&rpc->pending, &p->opaque, sizeof(p->opaque));
    if (p->timer != NULL) {
        fm_net_timer_cancel(rpc->loop, p->timer);
    }
    p->done(p->ud, err, resp, raw);
    free(p);
}

static void
on_timeout(void *ud)
{
    rpc_pending *p = ud;
    fm_client_rpc *rpc = p->rpc;
    rpc_link *link = p->link;
    /* Nothing at all came back on the connection while this request waited: the peer is
     * gone without a reset (a crashed host, a dropped NAT entry, a stalled proxy), and every
     * later request on it would wait as long. Close it: the others pending on it fail now,
     * and the next call connects afresh. */
    int dead = link->conn != NULL && link->connected && link->n_rx == p->rx_at_send;
    p->timer = NULL;
    finish(rpc, p, FM_ETIMEDOUT, NULL, fm_slice_make(NULL, 0));
    if (dead && link->conn != NULL) {
        FM_LOGW("client", "FM-CLIENT-LINK-DEAD",
                "peer=%s: no reply at all within a request's "
                "timeout; reconnecting",
                link->addr);
        fm_net_conn_close(link->conn);
    }
}

static void
on_frame(fm_net_conn *conn, const uint8_t *frame, size_t len, void *ud)
{
    fm_client_rpc *rpc = ud;
    fm_cmd resp;
    fm_errbuf eb;
    rpc_pending *p;
    if (fm_proto_cmd_decode(frame, len, &rpc->arena, &resp, &eb) != FM_OK) {
        fm_net_conn_close(conn); /* pending requests on it fail in on_close */
        return;
    }
    if (!(resp.flag & FM_CMD_FLAG_RESPONSE)) {
        /* Brokers send NOTIFY_CONSUMER_IDS_CHANGED and RESET_CONSUMER_CLIENT_OFFSET oneway:
         * nothing to answer, so a handler only needs the command. */
        if (rpc->on_request != NULL) {
            rpc->on_request(rpc->request_ud, &resp);
        }
        return;
    }
    p = fm_map_get(&rpc->pending, &resp.opaque, sizeof(resp.opaque));
    if (p != NULL) {
        p->link->n_rx++;
        finish(rpc, p, FM_OK, &resp, fm_slice_make(frame, len));
    }
}

static void
on_close(fm_net_conn *conn, int err, void *ud)
{
    fm_client_rpc *rpc = ud;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    rpc_link *link = NULL;
    (void)err;
    while (fm_map_next(&rpc->links, &pos, &key, &kl, &val)) {
        if (((rpc_link *)val)->conn == conn) {
            link = val;
        }
    }
    if (link == NULL) {
        return;
    }
    /* Fail everything that was waiting on this connection; restart the scan after each
     * completion since finish() changes the map. */
    for (;;) {
        rpc_pending *victim = NULL;
        pos = 0;
        while (fm_map_next(&rpc->pending, &pos, &key, &kl, &val)) {
            if (((rpc_pending *)val)->link == link) {
                victim = val;
                break;
            }
        }
        if (victim == NULL) {
            break;
        }
        /* never connected: the peer is unreachable, not a dropped connection */
        finish(rpc, victim, link->connected ? FM_ECLOSED : FM_EIO, NULL, fm_slice_make(NULL, 0));
    }
    fm_net_conn_unref(link->conn);
    link->conn = NULL;
    link->connected = 0;
}

static void
on_open(fm_net_conn *conn, void *ud)
{
    fm_client_rpc *rpc = ud;
    size_t pos = 0, kl;
    const char *key;
    void *val;
    while (fm_map_next(&rpc->links, &pos, &key, &kl, &val)) {
        if (((rpc_link *)val)->conn == conn) {
            ((rpc_link *)val)->connected = 1;
        }
    }
}

static rpc_link *
link_get(fm_client_rpc *rpc, const char *addr, fm_errbuf *eb)
{
    rpc_link *link = fm_map_get(&rpc->links, addr, strlen(addr));
    if (link == NULL) {
        link = calloc(1, sizeof(*link));
        if (link == NULL || fm_map_put(&rpc->links, addr, strlen(addr), link) != FM_OK) {
            free(link);
            fm_err_set(eb, FM_ENOMEM, "out of memory");
            return NULL;
        }
        snprintf(link->addr, sizeof(link->addr), "%s", addr);
    }
    if (link->conn == NULL) {
        char host[128];
        const char *colon = strrchr(addr, ':');
        fm_net_conn_cbs cbs;
        if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host)) {
            fm_err_set(eb, FM_EINVAL, "address '%s' is not host:port", addr);
            return NULL;
        }
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        memset(&cbs, 0, sizeof(cbs));
        cbs.max_frame = MAX_FRAME;
        cbs.frame_len = fm_proto_frame_len;
        cbs.on_frame = on_frame;
        cbs.on_close = on_close;
        cbs.on_open = on_open;
        if (fm_net_connect(rpc->loop, host, atoi(colon + 1), &cbs, rpc, &link->conn, eb) != FM_OK) {
            link->conn = NULL;
            return NULL;
        }
        fm_net_conn_ref(link->conn);
    }
    return link;
}

/* Register the request and write it: the I/O thread's half of a call. done may run before
 * this returns (no connection, a write to a closing one). */
static void
dispatch(fm_client_rpc *rpc, const char *addr, const struct iovec *iov, int n_iov, int32_t opaque,
         int timeout_ms, int oneway, fm_client_done_fn done, void *ud)
{
    fm_errbuf eb;
    rpc_link *link = link_get(rpc, addr, &eb);
    rpc_pending *p;

    if (link == NULL) {
        done(ud, FM_EIO, NULL, fm_slice_make(NULL, 0));
        return;
    }
    if (!oneway) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || fm_map_put(&rpc->pending, &opaque, sizeof(opaque), p) != FM_OK) {
            free(p);
            done(ud, FM_ENOMEM, NULL, fm_slice_make(NULL, 0));
            return;
        }
        p->rpc = rpc;
        p->opaque = opaque;
        p->link = link;
        p->rx_at_send = link->n_rx;
        p->done = done;
        p->ud = ud;
        if (fm_net_timer_add(rpc->loop, timeout_ms, on_timeout, p, &p->timer) != FM_OK) {
            p->timer = NULL;
        }
    }
    if (fm_net_conn_writev(link->conn, iov, n_iov) != FM_OK) {
        /* the connection is closing: its on_close fails the pending entry */
        if (oneway) {
            done(ud, FM_ECLOSED, NULL, fm_slice_make(NULL, 0));
        }
        return;
    }
    if (oneway) {
        done(ud, FM_OK, NULL, fm_slice_make(NULL, 0));
    }
}

static void
job_run(void *arg)
{
    rpc_job *job = arg;
    struct iovec iov = {.iov_base = job->frame.data, .iov_len = job->frame.len};
    dispatch(job->rpc, job->addr, &iov, 1, job->opaque, job->timeout_ms, job->oneway, job->done,
             job->ud);
    fm_client_rpc_defer_free(job->rpc, &job->g);
}

static void
job_free(fm_client_garbage *g)
{
    rpc_job *job = (rpc_job *)g;
    fm_buf_free(&job->frame);
    free(job);
}

int
fm_client_rpc_call(fm_client_rpc *rpc, const char *addr, fm_buf *frame, int32_t opaque,
                   int timeout_ms, int oneway, fm_client_done_fn done, void *ud)
{
    return fm_client_rpc_call_tail(rpc, addr, frame, fm_slice_make(NULL, 0), opaque, timeout_ms,
                                   oneway, done, ud);
}

int
fm_client_rpc_call_tail(fm_client_rpc *rpc, const char *addr, fm_buf *frame, fm_slice tail,
                        int32_t opaque, int timeout_ms, int oneway, fm_client_done_fn done,
                        void *ud)
{
    rpc_job *job;
    if (strlen(addr) >= sizeof(job->addr)) {
        return FM_EINVAL;
    }
    if (fm_client_rpc_on_io_thread(rpc)) {
        /* From a completion: the I/O thread writes it now, with no hand-off to itself (the
         * replicator's pipes chain pull -> sends -> next pull this way). */
        struct iovec iov[2] = {{.iov_base = frame->data, .iov_len = frame->len},
                               {.iov_base = (void *)tail.ptr, .iov_len = tail.len}};
        dispatch(rpc, addr, iov, tail.len > 0 ? 2 : 1, opaque, timeout_ms, oneway, done, ud);
        fm_buf_reset(frame);
        return FM_OK;
    }
    if (tail.len > 0 && fm_buf_append(frame, tail.ptr, tail.len) != FM_OK) {
        return FM_ENOMEM;
    }
    fm_client_garbage_drain(&rpc->garbage);
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return FM_ENOMEM;
    }
    job->g.free_fn = job_free;
    job->rpc = rpc;
    snprintf(job->addr, sizeof(job->addr), "%s", addr);
    job->frame = *frame;
    job->opaque = opaque;
    job->timeout_ms = timeout_ms;
    job->oneway = oneway;
    job->done = done;
    job->ud = ud;
    fm_buf_init(frame); /* the bytes belong to the job now */
    fm_net_loop_post_node(rpc->loop, &job->post, job_run, job);
    return FM_OK;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    int err;
    fm_buf *resp_frame;
} waiter;

static void
sync_done(void *ud, int err, const fm_cmd *resp, fm_slice raw)
{
    waiter *w = ud;
    (void)resp;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    if (err == FM_OK) {
        fm_buf_reset(w->resp_frame);
        if (fm_buf_append(w->resp_frame, raw.ptr, raw.len) != FM_OK) {
            w->err = FM_ENOMEM;
        }
    }
    w->finished = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int
fm_client_rpc_call_sync(fm_client_rpc *rpc, const char *addr, fm_buf *frame, int32_t opaque,
                        int timeout_ms, fm_buf *resp_frame, fm_cmd_arena *arena, fm_cmd *resp,
                        fm_errbuf *eb)
{
    waiter w;
    int rc;
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.resp_frame = resp_frame;
    rc = fm_client_rpc_call(rpc, addr, frame, opaque, timeout_ms, 0, sync_done, &w);
    if (rc == FM_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.finished) {
            pthread_cond_wait(&w.cv, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        rc = w.err;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (rc != FM_OK) {
        return fm_err_set(eb, rc, "request to %s failed: %s", addr, fm_client_rpc_strerror(rc));
    }
    return fm_proto_cmd_decode(resp_frame->data, resp_frame->len, arena, resp, eb);
}

static void
stop_loop(void *arg)
{
    fm_client_rpc *rpc = arg;
    fm_net_loop_stop(rpc->loop);
}

void
fm_client_rpc_free(fm_client_rpc *rpc)
{
    size_t pos = 0, kl;
    const char *key;
    void *val;
    if (rpc == NULL) {
        return;
    }
    if (rpc->running) {
        fm_net_loop_post(rpc->loop, stop_loop, rpc);
        pthread_join(rpc->thread, NULL);
    }
    /* The loop no longer runs: closing here fails pending requests with FM_ECLOSED (their
     * completions run on this thread, the last ones they will see). */
    fm_net_loop_close_all(rpc->loop);
    while (fm_map_next(&rpc->pending, &pos, &key, &kl, &val)) {
        rpc_pending *p = val;
        p->done(p->ud, FM_ECLOSED, NULL, fm_slice_make(NULL, 0));
        free(p);
    }
    fm_map_free(&rpc->pending);
    fm_map_free_values(&rpc->links, NULL);
    fm_net_loop_free(rpc->loop);
    fm_client_garbage_drain(&rpc->garbage); /* the I/O thread is gone: nothing comes any more */
    fm_proto_arena_free(&rpc->arena);
    free(rpc);
}
