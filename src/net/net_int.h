/*
 * net_int.h - private to src/net and its unit tests.
 */
#ifndef FM_NET_NET_INT_H
#define FM_NET_NET_INT_H

#include "net/net.h"

#include <pthread.h>
#include <sys/socket.h>

enum net_handle_kind { NET_H_WATCH, NET_H_LISTENER, NET_H_CONN };

/* First member of everything registered with epoll: epoll_data.ptr points here. */
struct net_handle {
    enum net_handle_kind kind;
};

struct net_watch {
    struct net_handle h;
    int fd;
    int dead;
    fm_net_watch_fn cb;
    void *ud;
};

struct fm_net_timer {
    int64_t deadline;
    uint64_t seq;
    size_t idx; /* position in the heap */
    fm_net_timer_fn cb;
    void *ud;
};

/* One queued output chunk: memory (coalesced) or a file range. */
struct net_chunk {
    struct net_chunk *next;
    int is_file;
    fm_buf mem;  /* memory: bytes [sent, mem.len) remain */
    size_t sent; /* memory: bytes already written */
    int fd;      /* file range */
    off_t off;
    size_t left;
    void (*release)(void *arg);
    void *arg;
};

struct fm_net_conn {
    struct net_handle h;
    fm_net_loop *loop;
    int fd;
    uint64_t id;
    int refs;
    int closed;      /* closed: fd gone, on_close pending or done */
    int close_after; /* close once output drains */
    int connecting;  /* outgoing connect in progress */
    int on_close_done;
    int close_err;
    int reading_paused;
    int delivering;         /* inside deliver_frames: no re-entry */
    int pending_deliver;    /* whole frames buffered while paused */
    int want_write;         /* EPOLLOUT registered */
    uint32_t ev_registered; /* the epoll events last set, so unchanged ones cost no syscall */
    int in_flush_list;      /* has deferred output; the list holds a reference */
    fm_net_conn *next_flush;
    fm_net_conn_cbs cbs;
    void *ud;
    char peer[64];
    fm_buf in;
    struct net_chunk *out_head, *out_tail;
    size_t out_bytes;
    fm_net_conn *next_all, *prev_all; /* all live conns of the loop */
    fm_net_conn *next_dead;           /* closed conns awaiting on_close / free */
    int in_dead_list;
};

struct fm_net_listener {
    struct net_handle h;
    fm_net_loop *loop;
    int fd;
    int port;
    fm_net_conn_cbs cbs;
    void *ud;
};

struct fm_net_loop {
    int epfd;
    int wakefd;
    volatile int stop;
    int64_t now_ms;
    void (*before_sleep)(void *ud);
    void *before_sleep_ud;
    int (*before_output)(void *ud);
    void *before_output_ud;

    struct net_watch **watches;
    size_t n_watches, cap_watches;

    pthread_mutex_t post_mu;
    fm_net_post *posts, *posts_tail;

    fm_net_timer **timers;
    size_t n_timers, cap_timers;
    uint64_t timer_seq;

    fm_net_conn *conns; /* live list */
    fm_net_conn *dead;  /* closed, to reap */
    uint64_t next_conn_id;
    int pending_deliver;     /* some conn has buffered frames to deliver */
    fm_net_conn *flush_list; /* conns whose small writes wait for the end of the iteration */
};

void fm_net_listener_on_event(fm_net_listener *lis, uint32_t events);
void fm_net_conn_on_event(fm_net_conn *conn, uint32_t events);
/* Run on_close for closed conns and drop the loop's reference. */
void fm_net_reap(fm_net_loop *loop);
void fm_net_conns_close_all(fm_net_loop *loop);
/* Deliver frames buffered by connections that paused and have since drained. */
void fm_net_deliver_pending(fm_net_loop *loop);
/* Write the output gathered during this iteration: one writev per connection instead of one
 * per reply. Runs before the loop sleeps. */
void fm_net_flush_deferred(fm_net_loop *loop);

#endif
