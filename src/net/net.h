/*
 * net.h - the event loop (epoll), timers, listeners and connections.
 *
 * One loop per thread. A connection reassembles frames with the caller's frame_len callback
 * (the proto module's fm_proto_frame_len: the net module knows nothing of RocketMQ) and hands
 * each whole frame to on_frame; frame bytes are valid only during that call. Output is queued
 * per connection (memory chunks, coalesced, and file ranges sent with sendfile) and written
 * with writev; when a connection's queued output passes its max_output, reading from it pauses
 * until the queue drains below half, so a client that does not read cannot make us buffer
 * without bound (backpressure).
 *
 * Lifetimes: fm_net_conn_close only marks a connection; the loop calls on_close and drops its
 * reference after the current callbacks return, so closing from inside a callback is safe.
 * Code that keeps a conn pointer across iterations (a suspended pull) takes a reference with
 * fm_net_conn_ref, checks fm_net_conn_is_closed before use, and drops it with
 * fm_net_conn_unref; memory is freed when the last reference goes.
 *
 * Thread: every function is loop-thread only, except fm_net_loop_stop and fm_net_loop_post,
 * which any thread (and, for stop, a signal handler) may call.
 */
#ifndef FM_NET_NET_H
#define FM_NET_NET_H

#include "common/buf.h"
#include "common/errors.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FM_NET_READ 0x1
#define FM_NET_WRITE 0x2

typedef struct fm_net_loop fm_net_loop;
typedef struct fm_net_conn fm_net_conn;
typedef struct fm_net_listener fm_net_listener;
typedef struct fm_net_timer fm_net_timer;

typedef void (*fm_net_watch_fn)(int fd, int events, void *ud);
typedef void (*fm_net_timer_fn)(void *ud);

/** Callbacks and limits shared by the connections of a listener, or one outgoing conn. */
typedef struct fm_net_conn_cbs {
    size_t max_frame;  /* largest frame accepted, prefix included */
    size_t max_output; /* queued output bytes before reads pause; 0 = 64 MiB */
    /* FM_OK + total frame length, FM_EAGAIN for more bytes, anything else closes the conn */
    int (*frame_len)(const uint8_t *p, size_t avail, size_t max_frame, size_t *frame_len);
    void (*on_frame)(fm_net_conn *conn, const uint8_t *frame, size_t len, void *ud);
    void (*on_open)(fm_net_conn *conn, void *ud);           /* optional */
    void (*on_close)(fm_net_conn *conn, int err, void *ud); /* optional; err FM_OK if clean */
} fm_net_conn_cbs;

/** Create a loop. *out is owned by the caller (fm_net_loop_free). FM_OK, FM_EIO, FM_ENOMEM. */
int fm_net_loop_new(fm_net_loop **out, fm_errbuf *eb);

/**
 * Free the loop: closes every connection and listener still open (their on_close runs), frees
 * pending timers without running them. NULL is a no-op.
 */
void fm_net_loop_free(fm_net_loop *loop);

/**
 * Close every connection now, after one last non-blocking attempt to write its queued
 * output, and run their on_close callbacks. Owners call this before freeing the objects their
 * callbacks point to (shutdown), so no callback outlives its user data.
 */
void fm_net_loop_close_all(fm_net_loop *loop);

/** Run until fm_net_loop_stop. Returns FM_OK, or FM_EIO if epoll fails. */
int fm_net_loop_run(fm_net_loop *loop);

/** Make fm_net_loop_run return after the current iteration. Thread: any; signal-safe. */
void fm_net_loop_stop(fm_net_loop *loop);

/** Monotonic ms, read once per loop iteration (cheap). */
int64_t fm_net_loop_now_ms(fm_net_loop *loop);

/**
 * Run fn(arg) on the loop thread soon. Thread: any. FM_OK or FM_ENOMEM. Posted work still
 * queued when the loop is freed is dropped (fn is not called).
 */
int fm_net_loop_post(fm_net_loop *loop, void (*fn)(void *arg), void *arg);

/** A post node embedded in the caller's own object, so posting allocates nothing. */
typedef struct fm_net_post {
    void (*fn)(void *arg);
    void *arg;
    struct fm_net_post *next;
    int loop_owned; /* private: set by fm_net_loop_post */
} fm_net_post;

/**
 * As fm_net_loop_post, with node in caller memory: it must stay valid until fn runs (fn may
 * free it: the loop reads nothing from it afterwards). Thread: any. Always FM_OK.
 */
int fm_net_loop_post_node(fm_net_loop *loop, fm_net_post *node, void (*fn)(void *arg), void *arg);

/**
 * Called once per iteration after events and timers, just before the loop waits again. The
 * broker's group commit lives here: one fdatasync for everything appended this iteration,
 * then the replies that waited for it.
 */
void fm_net_loop_set_before_sleep(fm_net_loop *loop, void (*fn)(void *ud), void *ud);

/**
 * Called on the loop thread before any bytes of any connection of the loop are handed to the
 * kernel (fn returns 0), so that what they acknowledge is safe first: the broker writes the
 * records it has staged. A non-zero return closes the connection instead of writing (its
 * replies may acknowledge what could not be made safe).
 */
void fm_net_loop_set_before_output(fm_net_loop *loop, int (*fn)(void *ud), void *ud);

/** Watch a raw fd (e.g. a signalfd). events: FM_NET_READ|FM_NET_WRITE. FM_OK, FM_EIO. */
int fm_net_watch_add(fm_net_loop *loop, int fd, int events, fm_net_watch_fn cb, void *ud);
int fm_net_watch_remove(fm_net_loop *loop, int fd);

/**
 * One-shot timer after delay_ms. *out (optional) receives a handle valid until the timer fires
 * or is cancelled; callbacks may add and cancel timers. FM_OK or FM_ENOMEM.
 */
int fm_net_timer_add(fm_net_loop *loop, int64_t delay_ms, fm_net_timer_fn cb, void *ud,
                     fm_net_timer **out);

/** Cancel a pending timer (its handle becomes invalid). */
void fm_net_timer_cancel(fm_net_loop *loop, fm_net_timer *t);

/** Number of pending timers (tests, metrics). */
size_t fm_net_timer_count(const fm_net_loop *loop);

/**
 * Listen on host:port (port 0 = any free port). cbs is copied; ud goes to every callback of
 * accepted connections. *out owned by the caller (fm_net_listener_close). FM_OK, FM_EIO.
 */
int fm_net_listen(fm_net_loop *loop, const char *host, int port, const fm_net_conn_cbs *cbs,
                  void *ud, fm_net_listener **out, fm_errbuf *eb);

/** The bound port. */
int fm_net_listener_port(const fm_net_listener *lis);

/** Stop accepting and free the listener (accepted connections stay open). NULL is a no-op. */
void fm_net_listener_close(fm_net_listener *lis);

/**
 * Start a non-blocking connect to host:port (numeric IPv4 or a name resolved now). on_open
 * runs when connected, on_close with an error if it fails. The loop owns *out's reference:
 * take your own with fm_net_conn_ref to keep the pointer past on_close. FM_OK, FM_EIO.
 */
int fm_net_connect(fm_net_loop *loop, const char *host, int port, const fm_net_conn_cbs *cbs,
                   void *ud, fm_net_conn **out, fm_errbuf *eb);

/**
 * Send n bytes. Up to 16 KiB are copied and gathered with the connection's other small writes
 * of this loop iteration, all sent with one writev before the loop next sleeps (a pipelined
 * burst of requests gets its replies in one system call). Larger writes go out at once when
 * nothing is queued (after what was gathered), the unsent rest copied into the queue. The
 * caller's memory is not kept. FM_OK, FM_ECLOSED, FM_ENOMEM (the conn is then closed).
 */
int fm_net_conn_write(fm_net_conn *conn, const void *p, size_t n);

struct iovec;
/**
 * As fm_net_conn_write for several buffers (a reply header and records borrowed from the
 * commit log): small totals are gathered as above; larger ones are written with one writev
 * from the caller's memory when nothing is queued, only the unsent rest copied.
 */
int fm_net_conn_writev(fm_net_conn *conn, const struct iovec *iov, int n_iov);

/**
 * Queue a file range, sent with sendfile; release(arg) runs once the range is written or the
 * connection closes, so the caller can unpin what keeps fd valid. FM_OK, FM_ECLOSED (release
 * NOT called: the caller still owns its pin), FM_ENOMEM.
 */
int fm_net_conn_write_file(fm_net_conn *conn, int fd, off_t off, size_t n,
                           void (*release)(void *arg), void *arg);

/** Queued, unsent output bytes. */
size_t fm_net_conn_out_bytes(const fm_net_conn *conn);

/** Close now (queued output is dropped); on_close follows after the current callback. */
void fm_net_conn_close(fm_net_conn *conn);

/** Close once queued output has been written (or on error). */
void fm_net_conn_close_after_flush(fm_net_conn *conn);

int fm_net_conn_is_closed(const fm_net_conn *conn);
void fm_net_conn_ref(fm_net_conn *conn);
void fm_net_conn_unref(fm_net_conn *conn);
void fm_net_conn_set_ud(fm_net_conn *conn, void *ud);
void *fm_net_conn_get_ud(const fm_net_conn *conn);

/** "ip:port" of the peer (static per conn). */
const char *fm_net_conn_peer(const fm_net_conn *conn);

/** Process-unique id of the connection (never reused). */
uint64_t fm_net_conn_id(const fm_net_conn *conn);

#endif
