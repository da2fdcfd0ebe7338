/*
 * loop.c - epoll loop, raw fd watches, cross-thread posts, timers (binary heap).
 */
#include "net/net_int.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 256

static void
wake_cb(int fd, int events, void *ud)
{
    fm_net_loop *loop = ud;
    uint64_t v;
    (void)events;
    while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
    (void)loop;
}

int
fm_net_loop_new(fm_net_loop **out, fm_errbuf *eb)
{
    fm_net_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&loop->post_mu, NULL);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        int e = errno;
        fm_net_loop_free(loop);
        return fm_err_sys(eb, FM_EIO, e, "cannot create epoll/eventfd");
    }
    loop->now_ms = fm_clock_mono_ms();
    if (fm_net_watch_add(loop, loop->wakefd, FM_NET_READ, wake_cb, loop) != FM_OK) {
        fm_net_loop_free(loop);
        return fm_err_set(eb, FM_EIO, "cannot watch the wake fd");
    }
    *out = loop;
    return FM_OK;
}

void
fm_net_loop_free(fm_net_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    fm_net_conns_close_all(loop);
    fm_net_reap(loop);
    fm_net_flush_deferred(loop); /* closed by now: this only drops the list's references */
    for (size_t i = 0; i < loop->n_timers; i++) {
        free(loop->timers[i]);
    }
    free(loop->timers);
    for (size_t i = 0; i < loop->n_watches; i++) {
        free(loop->watches[i]);
    }
    free(loop->watches);
    while (loop->posts != NULL) {
        fm_net_post *p = loop->posts;
        loop->posts = p->next;
        if (p->loop_owned) {
            free(p);
        }
    }
    pthread_mutex_destroy(&loop->post_mu);
    if (loop->epfd >= 0) {
        close(loop->epfd);
    }
    if (loop->wakefd >= 0) {
        close(loop->wakefd);
    }
    free(loop);
}

void
fm_net_loop_stop(fm_net_loop *loop)
{
    uint64_t one = 1;
    loop->stop = 1;
    /* write(2) on an eventfd is async-signal-safe; the loop wakes and sees stop. */
    if (write(loop->wakefd, &one, sizeof(one)) < 0) {
        /* counter overflow only: the loop is already awake */
    }
}

int64_t
fm_net_loop_now_ms(fm_net_loop *loop)
{
    return loop->now_ms;
}

static int
post(fm_net_loop *loop, fm_net_post *p, void (*fn)(void *arg), void *arg, int owned)
{
    uint64_t one = 1;
    int was_empty;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    p->loop_owned = owned;
    pthread_mutex_lock(&loop->post_mu);
    was_empty = loop->posts == NULL;
    if (loop->posts_tail != NULL) {
        loop->posts_tail->next = p;
    } else {
        loop->posts = p;
    }
    loop->posts_tail = p;
    pthread_mutex_unlock(&loop->post_mu);
    /* One wake per batch: the loop takes the whole queue at once, so only the post that
     * finds it empty needs to wake it (a syscall per post was the client's hot spot). */
    if (was_empty && write(loop->wakefd, &one, sizeof(one)) < 0) {
        /* overflow only: a wake is already pending */
    }
    return FM_OK;
}

int
fm_net_loop_post(fm_net_loop *loop, void (*fn)(void *arg), void *arg)
{
    fm_net_post *p = malloc(sizeof(*p));
    if (p == NULL) {
        return FM_ENOMEM;
    }
    return post(loop, p, fn, arg, 1);
}

int
fm_net_loop_post_node(fm_net_loop *loop, fm_net_post *node, void (*fn)(void *arg), void *arg)
{
    return post(loop, node, fn, arg, 0);
}

static void
run_posts(fm_net_loop *loop)
{
    fm_net_post *p;
    pthread_mutex_lock(&loop->post_mu);
    p = loop->posts;
    loop->posts = loop->posts_tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);
    while (p != NULL) {
        fm_net_post *next = p->next;
        int owned = p->loop_owned;
        p->fn(p->arg); /* may free p when the caller owns it */
        if (owned) {
            free(p);
        }
        p = next;
    }
}

void
fm_net_loop_set_before_sleep(fm_net_loop *loop, void (*fn)(void *ud), void *ud)
{
    loop->before_sleep = fn;
    loop->before_sleep_ud = ud;
}

void
fm_net_loop_set_before_output(fm_net_loop *loop, int (*fn)(void *ud), void *ud)
{
    loop->before_output = fn;
    loop->before_output_ud = ud;
}

/* ---- raw fd watches ---- */

static uint32_t
ep_events(int events)
{
    uint32_t e = 0;
    if (events & FM_NET_READ) {
        e |= EPOLLIN;
    }
    if (events & FM_NET_WRITE) {
        e |= EPOLLOUT;
    }
    return e;
}

int
fm_net_watch_add(fm_net_loop *loop, int fd, int events, fm_net_watch_fn cb, void *ud)
{
    struct net_watch *w = calloc(1, sizeof(*w));
    struct epoll_event ev;
    if (w == NULL) {
        return FM_ENOMEM;
    }
    if (loop->n_watches == loop->cap_watches) {
        size_t cap = loop->cap_watches ? loop->cap_watches * 2 : 8;
        struct net_watch **n = realloc(loop->watches, cap * sizeof(*n));
        if (n == NULL) {
            free(w);
            return FM_ENOMEM;
        }
        loop->watches = n;
        loop->cap_watches = cap;
    }
    w->h.kind = NET_H_WATCH;
    w->fd = fd;
    w->cb = cb;
    w->ud = ud;
    memset(&ev, 0, sizeof(ev));
    ev.events = ep_events(events);
    ev.data.ptr = &w->h;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(w);
        return FM_EIO;
    }
    loop->watches[loop->n_watches++] = w;
    return FM_OK;
}

int
fm_net_watch_remove(fm_net_loop *loop, int fd)
{
    for (size_t i = 0; i < loop->n_watches; i++) {
        if (loop->watches[i]->fd == fd) {
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
            /* Events for it may sit in the current batch: disarm, free at reap time. */
            loop->watches[i]->cb = NULL;
            loop->watches[i]->dead = 1;
            return FM_OK;
        }
    }
    return FM_ENOTFOUND;
}

/* ---- timers: a binary min-heap on (deadline, sequence) ---- */

static int
timer_less(const fm_net_timer *a, const fm_net_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
heap_swap(fm_net_loop *loop, size_t i, size_t j)
{
    fm_net_timer *t = loop->timers[i];
    loop->timers[i] = loop->timers[j];
    loop->timers[j] = t;
    loop->timers[i]->idx = i;
    loop->timers[j]->idx = j;
}

static void
heap_up(fm_net_loop *loop, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_less(loop->timers[i], loop->timers[p])) {
            break;
        }
        heap_swap(loop, i, p);
        i = p;
    }
}

static void
heap_down(fm_net_loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->n_timers && timer_less(loop->timers[l], loop->timers[m])) {
            m = l;
        }
        if (r < loop->n_timers && timer_less(loop->timers[r], loop->timers[m])) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(loop, i, m);
        i = m;
    }
}

static void
heap_remove(fm_net_loop *loop, size_t i)
{
    size_t last = loop->n_timers - 1;
    if (i != last) {
        heap_swap(loop, i, last);
    }
    loop->n_timers--;
    if (i < loop->n_timers) {
        heap_down(loop, i);
        heap_up(loop, i);
    }
}

int
fm_net_timer_add(fm_net_loop *loop, int64_t delay_ms, fm_net_timer_fn cb, void *ud,
                 fm_net_timer **out)
{
    fm_net_timer *t;
    if (loop->n_timers == loop->cap_timers) {
        size_t cap = loop->cap_timers ? loop->cap_timers * 2 : 64;
        fm_net_timer **n = realloc(loop->timers, cap * sizeof(*n));
        if (n == NULL) {
            return FM_ENOMEM;
        }
        loop->timers = n;
        loop->cap_timers = cap;
    }
    t = malloc(sizeof(*t));
    if (t == NULL) {
        return FM_ENOMEM;
    }
    t->deadline = fm_clock_mono_ms() + (delay_ms < 0 ? 0 : delay_ms);
    t->seq = loop->timer_seq++;
    t->cb = cb;
    t->ud = ud;
    t->idx = loop->n_timers;
    loop->timers[loop->n_timers++] = t;
    heap_up(loop, t->idx);
    if (out != NULL) {
        *out = t;
    }
    return FM_OK;
}

void
fm_net_timer_cancel(fm_net_loop *loop, fm_net_timer *t)
{
    if (t == NULL || t->idx >= loop->n_timers || loop->timers[t->idx] != t) {
        return;
    }
    heap_remove(loop, t->idx);
    free(t);
}

size_t
fm_net_timer_count(const fm_net_loop *loop)
{
    return loop->n_timers;
}

static void
run_timers(fm_net_loop *loop)
{
    /* Only timers due at the start run now; ones they add (even with delay 0) wait a turn,
     * so a timer re-arming itself cannot starve I/O. */
    uint64_t limit = loop->timer_seq;
    while (loop->n_timers > 0) {
        fm_net_timer *t = loop->timers[0];
        if (t->deadline > loop->now_ms || t->seq >= limit) {
            break;
        }
        heap_remove(loop, 0);
        fm_net_timer_fn cb = t->cb;
        void *ud = t->ud;
        free(t);
        cb(ud);
    }
}

static int
next_timeout(fm_net_loop *loop)
{
    int64_t d;
    if (loop->n_timers == 0) {
        return 1000;
    }
    d = loop->timers[0]->deadline - fm_clock_mono_ms();
    if (d < 0) {
        return 0;
    }
    return d > 1000 ? 1000 : (int)d;
}

static void
reap_watches(fm_net_loop *loop)
{
    size_t j = 0;
    for (size_t i = 0; i < loop->n_watches; i++) {
        if (loop->watches[i]->dead) {
            free(loop->watches[i]);
        } else {
            loop->watches[j++] = loop->watches[i];
        }
    }
    loop->n_watches = j;
}

int
fm_net_loop_run(fm_net_loop *loop)
{
    struct epoll_event evs[MAX_EVENTS];
    loop->stop = 0;
    while (!loop->stop) {
        int n, timeout;
        if (loop->before_sleep != NULL) {
            loop->before_sleep(loop->before_sleep_ud);
        }
        fm_net_flush_deferred(loop);
        fm_net_reap(loop);
        reap_watches(loop);
        timeout = loop->stop ? 0 : next_timeout(loop);
        n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            FM_LOGE("net", "FM-NET-EPOLL-FAIL", "err=\"%s\"", strerror(errno));
            return FM_EIO;
        }
        loop->now_ms = fm_clock_mono_ms();
        for (int i = 0; i < n; i++) {
            struct net_handle *h = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (h->kind) {
            case NET_H_WATCH: {
                struct net_watch *w = (struct net_watch *)h;
                if (w->cb != NULL) {
                    int ev = ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? FM_NET_READ : 0) |
                             ((e & EPOLLOUT) ? FM_NET_WRITE : 0);
                    w->cb(w->fd, ev, w->ud);
                }
                break;
            }
            case NET_H_LISTENER:
                fm_net_listener_on_event((fm_net_listener *)h, e);
                break;
            case NET_H_CONN:
                fm_net_conn_on_event((fm_net_conn *)h, e);
                break;
            }
        }
        fm_net_deliver_pending(loop);
        run_posts(loop);
        loop->now_ms = fm_clock_mono_ms();
        run_timers(loop);
    }
    if (loop->before_sleep != NULL) {
        loop->before_sleep(loop->before_sleep_ud);
    }
    fm_net_flush_deferred(loop);
    fm_net_reap(loop);
    reap_watches(loop);
    return FM_OK;
}
