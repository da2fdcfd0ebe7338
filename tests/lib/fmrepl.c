#include "fmrepl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- what a failed test leaves behind ----
 * A failed assertion leaves the test function by longjmp, past its stop calls; every process
 * and handle started here is recorded (by value: the fixtures themselves live on the dead
 * stack) so fmr_teardown can end them. */

#define REG_MAX 64

static struct {
    char dir[256];
    pid_t pid;
} reg_procs[REG_MAX];

static struct {
    int kind; /* 1 proxy, 2 admin, 3 consumer */
    void *ptr;
} reg_ptrs[REG_MAX];

static void
reg_proc(const char *dir, pid_t pid)
{
    int free_slot = -1;
    for (int i = 0; i < REG_MAX; i++) {
        if (reg_procs[i].dir[0] != '\0' && strcmp(reg_procs[i].dir, dir) == 0) {
            reg_procs[i].pid = pid;
            return;
        }
        if (reg_procs[i].dir[0] == '\0' && free_slot < 0) {
            free_slot = i;
        }
    }
    if (free_slot >= 0) {
        snprintf(reg_procs[free_slot].dir, sizeof(reg_procs[0].dir), "%s", dir);
        reg_procs[free_slot].pid = pid;
    }
}

static void
unreg_proc(const char *dir)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (dir[0] != '\0' && strcmp(reg_procs[i].dir, dir) == 0) {
            reg_procs[i].dir[0] = '\0';
            reg_procs[i].pid = 0;
        }
    }
}

static void
reg_ptr(int kind, void *ptr)
{
    for (int i = 0; ptr != NULL && i < REG_MAX; i++) {
        if (reg_ptrs[i].ptr == NULL) {
            reg_ptrs[i].kind = kind;
            reg_ptrs[i].ptr = ptr;
            return;
        }
    }
}

static void
unreg_ptr(void *ptr)
{
    for (int i = 0; ptr != NULL && i < REG_MAX; i++) {
        if (reg_ptrs[i].ptr == ptr) {
            reg_ptrs[i].ptr = NULL;
        }
    }
}

int
fmr_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < REG_MAX; i++) {
        void *p = reg_ptrs[i].ptr;
        reg_ptrs[i].ptr = NULL;
        if (p != NULL && reg_ptrs[i].kind == 2) {
            ferrymq_admin_free(p);
        } else if (p != NULL && reg_ptrs[i].kind == 3) {
            ferrymq_consumer_close(p);
        } else if (p != NULL && reg_ptrs[i].kind == 1) {
            fmp_free(p);
        }
    }
    for (int i = 0; i < REG_MAX; i++) {
        char cmd[300];
        if (reg_procs[i].dir[0] == '\0') {
            continue;
        }
        /* only a child not yet reaped: its pid cannot have been reused */
        if (reg_procs[i].pid > 0 && waitpid(reg_procs[i].pid, NULL, WNOHANG) == 0) {
            kill(reg_procs[i].pid, SIGKILL);
            waitpid(reg_procs[i].pid, NULL, 0);
        }
        if (getenv("FM_KEEP_TEST_DIRS") == NULL) {
            snprintf(cmd, sizeof(cmd), "rm -rf '%.256s'", reg_procs[i].dir);
            if (system(cmd) != 0) {
                fprintf(stderr, "fmrepl: could not remove %s\n", reg_procs[i].dir);
            }
        }
        reg_procs[i].dir[0] = '\0';
    }
    return 0;
}

/* ---- regions ---- */

static int add_flag(fmt_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
add_flag(fmt_daemon *d, const char *fmt, ...)
{
    va_list ap;
    if (d->n_extra >= 8) {
        fprintf(stderr, "fmrepl: too many daemon flags\n");
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(d->extra[d->n_extra], sizeof(d->extra[0]), fmt, ap);
    va_end(ap);
    d->n_extra++;
    return 0;
}

/* fmt_daemon_start copies a NULL-terminated list; build it from our own flag lines. */
static int
start_with(fmt_daemon *d, char flags[][128], int n)
{
    const char *argv[9];
    for (int i = 0; i < n && i < 8; i++) {
        argv[i] = flags[i];
    }
    int rc;
    argv[n < 8 ? n : 8] = NULL;
    rc = fmt_daemon_start(d, argv, 15000);
    if (d->dir[0] != '\0') {
        reg_proc(d->dir, d->pid);
    }
    return rc;
}

static int
region_clients(fmr_region *r)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    char err[256], group[64];
    int rc = -1;
    snprintf(group, sizeof(group), "fmr-drain-%s", r->name);
    if (conf == NULL || ferrymq_conf_set(conf, "namesrvAddr", r->ns, err, sizeof(err)) != 0 ||
        ferrymq_conf_set(conf, "consumerGroup", group, err, sizeof(err)) != 0 ||
        ferrymq_admin_new(conf, &r->adm, err, sizeof(err)) != 0 ||
        ferrymq_consumer_new(conf, &r->c, err, sizeof(err)) != 0) {
        fprintf(stderr, "fmrepl: clients for region %s: %s\n", r->name, err);
        goto out;
    }
    reg_ptr(2, r->adm);
    reg_ptr(3, r->c);
    rc = 0;
out:
    ferrymq_conf_free(conf);
    return rc;
}

static int
region_begin(fmr_region *r, const char *name, const char *const *extra, int max_extra,
             char flags[][128], int *n)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    *n = 0;
    snprintf(flags[(*n)++], 128, "--brokerClusterName=%s-cluster", name);
    snprintf(flags[(*n)++], 128, "--brokerName=%s-broker", name);
    snprintf(flags[(*n)++], 128, "--brokerIP1=127.0.0.1");
    for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (i >= max_extra) {
            fprintf(stderr, "fmrepl: at most %d extra broker flags\n", max_extra);
            return -1;
        }
        snprintf(flags[(*n)++], 128, "%s", extra[i]);
    }
    return 0;
}

int
fmr_region_start(fmr_region *r, const char *name, const char *const *extra)
{
    char flags[8][128];
    int n;
    /* two slots stay free for the fixed ports a restart adds */
    if (region_begin(r, name, extra, 3, flags, &n) != 0 || start_with(&r->d, flags, n) != 0) {
        return -1;
    }
    r->broker_port = r->d.remoting_port;
    snprintf(r->ns, sizeof(r->ns), "127.0.0.1:%d", r->d.namesrv_port);
    return region_clients(r);
}

int
fmr_region_start_proxied(fmr_region *r, const char *name, const char *const *extra)
{
    char flags[8][128];
    const char *ns_flags[] = {"--role=namesrv", NULL};
    int n, rc;
    if (region_begin(r, name, extra, 2, flags, &n) != 0) {
        return -1;
    }
    rc = fmt_daemon_start(&r->nsd, ns_flags, 15000);
    if (r->nsd.dir[0] != '\0') {
        reg_proc(r->nsd.dir, r->nsd.pid);
    }
    if (rc != 0) {
        return -1;
    }
    snprintf(r->ns, sizeof(r->ns), "127.0.0.1:%d", r->nsd.remoting_port);
    /* The broker listens on 127.0.0.2:P and advertises 127.0.0.1:P, where the proxy sits. */
    snprintf(flags[n++], 128, "--bindAddress=127.0.0.2");
    snprintf(flags[n++], 128, "--namesrvAddr=%s", r->ns);
    if (start_with(&r->d, flags, n) != 0) {
        return -1;
    }
    r->broker_port = r->d.remoting_port;
    if (fmp_start("127.0.0.1", r->broker_port, "127.0.0.2", r->broker_port, &r->proxy) != 0) {
        fprintf(stderr, "fmrepl: proxy on 127.0.0.1:%d: %s\n", r->broker_port, strerror(errno));
        return -1;
    }
    reg_ptr(1, r->proxy);
    return region_clients(r);
}

int
fmr_region_restart_broker(fmr_region *r, int sig)
{
    int has_port = 0, rc;
    fmt_daemon_stop(&r->d, sig, 15000);
    reg_proc(r->d.dir, 0);
    for (int i = 0; i < r->d.n_extra; i++) {
        if (strncmp(r->d.extra[i], "--listenPort=", 13) == 0) {
            has_port = 1;
        }
    }
    /* later flags win over fmt_daemon's --listenPort=0 --namesrvPort=0 */
    if (!has_port) {
        if (add_flag(&r->d, "--listenPort=%d", r->broker_port) != 0) {
            return -1;
        }
        if (r->proxy == NULL && add_flag(&r->d, "--namesrvPort=%d", r->d.namesrv_port) != 0) {
            return -1;
        }
    }
    rc = fmt_daemon_restart(&r->d, 15000);
    reg_proc(r->d.dir, r->d.pid);
    if (rc != 0) {
        return -1;
    }
    if (r->d.remoting_port != r->broker_port) {
        fprintf(stderr, "fmrepl: broker of %s came back on port %d, not %d\n", r->name,
                r->d.remoting_port, r->broker_port);
        return -1;
    }
    return 0;
}

void
fmr_region_stop(fmr_region *r)
{
    unreg_ptr(r->c);
    unreg_ptr(r->adm);
    unreg_ptr(r->proxy);
    unreg_proc(r->d.dir);
    unreg_proc(r->nsd.dir);
    ferrymq_consumer_close(r->c);
    ferrymq_admin_free(r->adm);
    fmp_free(r->proxy);
    if (r->d.pid > 0) {
        fmt_daemon_stop(&r->d, SIGTERM, 10000);
    }
    fmt_daemon_cleanup(&r->d);
    if (r->nsd.dir[0] != '\0') {
        if (r->nsd.pid > 0) {
            fmt_daemon_stop(&r->nsd, SIGTERM, 10000);
        }
        fmt_daemon_cleanup(&r->nsd);
    }
    memset(r, 0, sizeof(*r));
}

int
fmr_topic_queues(fmr_region *r, const char *topic)
{
    ferrymq_queue *qs = NULL;
    size_t n = 0;
    char err[256];
    if (ferrymq_consumer_queues(r->c, topic, &qs, &n, err, sizeof(err)) != FERRYMQ_OK) {
        return 0;
    }
    free(qs);
    return (int)n;
}

struct topic_wait {
    fmr_region *r;
    const char *topic;
    int queues;
};

static int
topic_ready(void *ud)
{
    struct topic_wait *w = ud;
    return fmr_topic_queues(w->r, w->topic) == w->queues;
}

int
fmr_topic_create(fmr_region *r, const char *topic, int queues)
{
    char err[256];
    struct topic_wait w = {r, topic, queues};
    if (ferrymq_admin_create_topic(r->adm, topic, queues, err, sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "fmrepl: create %s on %s: %s\n", topic, r->name, err);
        return -1;
    }
    if (!fmt_wait_until(topic_ready, &w, 10000)) {
        fprintf(stderr, "fmrepl: no route with %d queues for %s on %s\n", queues, topic, r->name);
        return -1;
    }
    return 0;
}

static int64_t
count_once(fmr_region *r, const char *topic, char *err, size_t cap)
{
    ferrymq_queue *qs = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = ferrymq_consumer_queues(r->c, topic, &qs, &n, err, cap);
    if (rc != FERRYMQ_OK) {
        /* no route yet is what a wait for a created-on-demand topic polls through */
        return rc == FERRYMQ_ENOTFOUND ? -2 : -1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t mn, mx;
        if (ferrymq_admin_queue_offsets(r->adm, &qs[i], &mn, &mx, err, cap) != FERRYMQ_OK) {
            total = -1;
            break;
        }
        total += mx - mn;
    }
    free(qs);
    return total;
}

int64_t
fmr_count(fmr_region *r, const char *topic)
{
    static int reported;
    char err[256] = "";
    int64_t total = count_once(r, topic, err, sizeof(err));
    if (total != -1) {
        return total < 0 ? -1 : total;
    }
    /* The test counts through long-lived handles, as an application would: after a broker
     * restart or a link cut they must recover on their own (a silent connection is dropped
     * at its first timeout: it_fmproxy), so an error here is reported, never papered over
     * with fresh handles. */
    if (reported++ < 3) {
        fprintf(stderr, "fmrepl: count %s on %s: %s\n", topic, r->name, err);
    }
    return -1;
}

struct count_wait {
    fmr_region *r;
    const char *topic;
    int64_t n;
};

static int
count_reached(void *ud)
{
    struct count_wait *w = ud;
    return fmr_count(w->r, w->topic) >= w->n;
}

int
fmr_wait_count(fmr_region *r, const char *topic, int64_t n, int timeout_ms)
{
    struct count_wait w = {r, topic, n};
    return fmt_wait_until(count_reached, &w, timeout_ms);
}

/* ---- producing ---- */

int
fmr_sent_init(fmr_sent *s, const char *origin, const char *topic)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->origin, sizeof(s->origin), "%s", origin);
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    return 0;
}

void
fmr_sent_free(fmr_sent *s)
{
    free(s->uniq);
    memset(s, 0, sizeof(*s));
}

/* The expected content of (origin, seq): body, tag, keys, properties. */
static int
make_body(char *buf, size_t cap, const char *origin, int seq)
{
    int n = snprintf(buf, cap, "%s:%d:", origin, seq);
    int pad = seq % 37;
    for (int i = 0; i < pad && (size_t)n + 1 < cap; i++) {
        buf[n++] = (char)('a' + (seq + i) % 26);
    }
    buf[n] = '\0';
    return n;
}

static void
make_tag(char *buf, size_t cap, int seq)
{
    snprintf(buf, cap, "T%d", seq % 4);
}

static void
make_keys(char *buf, size_t cap, const char *origin, int seq)
{
    snprintf(buf, cap, "k-%s-%d g%d", origin, seq, seq % 7);
}

typedef struct prod_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
    fmr_sent *s;
    char first_err[320];
} prod_state;

typedef struct prod_slot {
    prod_state *ps;
    int seq;
} prod_slot;

static void
on_sent(void *opaque, int err, const ferrymq_send_result *res, const char *errstr)
{
    prod_slot *slot = opaque;
    prod_state *ps = slot->ps;
    pthread_mutex_lock(&ps->mu);
    if (err == FERRYMQ_OK) {
        snprintf(ps->s->uniq[slot->seq], sizeof(ps->s->uniq[0]), "%s", res->msg_id);
    } else {
        ps->s->failed++;
        if (ps->first_err[0] == '\0') {
            snprintf(ps->first_err, sizeof(ps->first_err), "seq %d: %s", slot->seq,
                     errstr ? errstr : ferrymq_strerror(err));
        }
    }
    ps->pending--;
    pthread_cond_broadcast(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
}

int
fmr_produce(const char *ns, fmr_sent *s, int count)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_producer *p = NULL;
    prod_state ps;
    prod_slot *slots = NULL;
    char err[256], body[128], tag[16], keys[96], v[32];
    int first = s->n, rc = -1;
    memset(&ps, 0, sizeof(ps));
    pthread_mutex_init(&ps.mu, NULL);
    pthread_cond_init(&ps.cv, NULL);
    ps.s = s;
    if (s->n + count > s->cap) {
        int cap = (s->n + count) * 2;
        void *u = realloc(s->uniq, (size_t)cap * sizeof(s->uniq[0]));
        if (u == NULL) {
            goto out;
        }
        s->uniq = u;
        s->cap = cap;
    }
    slots = calloc((size_t)count, sizeof(*slots));
    if (conf == NULL || slots == NULL ||
        ferrymq_conf_set(conf, "namesrvAddr", ns, err, sizeof(err)) != 0 ||
        ferrymq_conf_set(conf, "maxInFlight", "256", err, sizeof(err)) != 0 ||
        ferrymq_conf_set(conf, "sendMsgTimeout", "5000", err, sizeof(err)) != 0 ||
        ferrymq_producer_new(conf, &p, err, sizeof(err)) != 0) {
        fprintf(stderr, "fmrepl: producer: %s\n", err);
        goto out;
    }
    for (int i = 0; i < count; i++) {
        int seq = first + i;
        ferrymq_msg *m;
        int blen = make_body(body, sizeof(body), s->origin, seq);
        m = ferrymq_msg_new(s->topic, body, (size_t)blen);
        make_tag(tag, sizeof(tag), seq);
        make_keys(keys, sizeof(keys), s->origin, seq);
        ferrymq_msg_set_tags(m, tag);
        ferrymq_msg_set_keys(m, keys);
        snprintf(v, sizeof(v), "%d", seq);
        ferrymq_msg_set_property(m, "seq", v);
        ferrymq_msg_set_property(m, "origin", s->origin);
        snprintf(v, sizeof(v), "%d", seq % 1000);
        ferrymq_msg_set_property(m, "amount", v);
        s->uniq[seq][0] = '\0';
        slots[i].ps = &ps;
        slots[i].seq = seq;
        pthread_mutex_lock(&ps.mu);
        ps.pending++;
        pthread_mutex_unlock(&ps.mu);
        if (ferrymq_producer_send_async(p, m, on_sent, &slots[i], err, sizeof(err)) != 0) {
            ferrymq_msg_free(m);
            pthread_mutex_lock(&ps.mu);
            ps.pending--;
            s->failed++;
            if (ps.first_err[0] == '\0') {
                snprintf(ps.first_err, sizeof(ps.first_err), "seq %d: %s", seq, err);
            }
            pthread_mutex_unlock(&ps.mu);
            break;
        }
    }
    pthread_mutex_lock(&ps.mu);
    while (ps.pending > 0) {
        pthread_cond_wait(&ps.cv, &ps.mu);
    }
    pthread_mutex_unlock(&ps.mu);
    if (ps.first_err[0] != '\0') {
        fprintf(stderr, "fmrepl: produce to %s/%s: %s\n", s->origin, s->topic, ps.first_err);
    } else {
        s->n = first + count;
        rc = 0;
    }
out:
    if (p != NULL) {
        ferrymq_producer_close(p, 10000);
    }
    ferrymq_conf_free(conf);
    free(slots);
    pthread_mutex_destroy(&ps.mu);
    pthread_cond_destroy(&ps.cv);
    return rc;
}

/* ---- draining ---- */

static int64_t
prop_i64(const ferrymq_msg *m, const char *name, int64_t dflt)
{
    const char *v = ferrymq_msg_property(m, name);
    return v ? strtoll(v, NULL, 10) : dflt;
}

static void
prop_copy(const ferrymq_msg *m, const char *name, char *dst, size_t cap)
{
    const char *v = ferrymq_msg_property(m, name);
    snprintf(dst, cap, "%s", v ? v : "");
}

/* Body "<origin>:<seq>:<pad>" into rec; 0, or -1 when it is not one of ours. */
static int
parse_body(const ferrymq_msg *m, fmr_rec *rec)
{
    size_t len;
    const char *b = ferrymq_msg_body(m, &len);
    const char *c1, *c2;
    if (b == NULL || len == 0 || len > 120) {
        return -1;
    }
    c1 = memchr(b, ':', len);
    if (c1 == NULL || (size_t)(c1 - b) >= sizeof(rec->origin)) {
        return -1;
    }
    c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - b));
    if (c2 == NULL || c2 == c1 + 1) {
        return -1;
    }
    memcpy(rec->origin, b, (size_t)(c1 - b));
    rec->origin[c1 - b] = '\0';
    rec->seq = 0;
    for (const char *p = c1 + 1; p < c2; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        rec->seq = rec->seq * 10 + (*p - '0');
    }
    return 0;
}

static int
str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int
intact(const ferrymq_msg *m, const fmr_rec *rec)
{
    char body[128], tag[16], keys[96], v[32];
    size_t len;
    const char *b = ferrymq_msg_body(m, &len);
    int blen = make_body(body, sizeof(body), rec->origin, rec->seq);
    make_tag(tag, sizeof(tag), rec->seq);
    make_keys(keys, sizeof(keys), rec->origin, rec->seq);
    if ((size_t)blen != len || memcmp(b, body, len) != 0) {
        return 0;
    }
    if (!str_eq(ferrymq_msg_tags(m), tag) || !str_eq(ferrymq_msg_keys(m), keys)) {
        return 0;
    }
    snprintf(v, sizeof(v), "%d", rec->seq);
    if (!str_eq(ferrymq_msg_property(m, "seq"), v) ||
        !str_eq(ferrymq_msg_property(m, "origin"), rec->origin)) {
        return 0;
    }
    snprintf(v, sizeof(v), "%d", rec->seq % 1000);
    return str_eq(ferrymq_msg_property(m, "amount"), v);
}

static int
got_push(fmr_got *g, const fmr_rec *rec)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        void *p = realloc(g->recs, cap * sizeof(*g->recs));
        if (p == NULL) {
            return -1;
        }
        g->recs = p;
        g->cap = cap;
    }
    g->recs[g->n++] = *rec;
    return 0;
}

int
fmr_drain(fmr_region *r, const char *topic, const char *expr, const char *expr_type, fmr_got *g)
{
    ferrymq_queue *qs = NULL;
    size_t nq = 0;
    char err[256];
    int rc = -1;
    g->n = 0;
    g->unparsed = 0;
    snprintf(g->region, sizeof(g->region), "%s", r->name);
    snprintf(g->topic, sizeof(g->topic), "%s", topic);
    if (ferrymq_consumer_queues(r->c, topic, &qs, &nq, err, sizeof(err)) != FERRYMQ_OK) {
        fprintf(stderr, "fmrepl: queues of %s on %s: %s\n", topic, r->name, err);
        return -1;
    }
    for (size_t q = 0; q < nq; q++) {
        int64_t mn, mx, off;
        if (ferrymq_admin_queue_offsets(r->adm, &qs[q], &mn, &mx, err, sizeof(err)) != 0) {
            fprintf(stderr, "fmrepl: offsets of %s:%d on %s: %s\n", topic, qs[q].queue_id, r->name,
                    err);
            goto out;
        }
        off = mn;
        while (off < mx) {
            ferrymq_pull_result res;
            memset(&res, 0, sizeof(res));
            res.struct_size = sizeof(res);
            if (ferrymq_consumer_pull(r->c, &qs[q], off, expr, expr_type, 256, 0, &res, err,
                                      sizeof(err)) != FERRYMQ_OK) {
                fprintf(stderr, "fmrepl: pull %s:%d@%lld on %s: %s\n", topic, qs[q].queue_id,
                        (long long)off, r->name, err);
                goto out;
            }
            if (res.status == FERRYMQ_PULL_NO_NEW_MSG) {
                ferrymq_pull_result_clear(&res);
                break;
            }
            for (size_t i = 0; i < res.n_msgs; i++) {
                const ferrymq_msg *m = res.msgs[i];
                fmr_rec rec;
                const char *id = ferrymq_msg_property(m, "UNIQ_KEY");
                size_t np = ferrymq_msg_property_count(m);
                memset(&rec, 0, sizeof(rec));
                if (parse_body(m, &rec) != 0) {
                    g->unparsed++;
                    continue;
                }
                rec.qid = ferrymq_msg_queue_id(m);
                rec.offset = ferrymq_msg_queue_offset(m);
                rec.store_ts = ferrymq_msg_store_timestamp(m);
                snprintf(rec.uniq, sizeof(rec.uniq), "%s", id ? id : "");
                rec.intact = intact(m, &rec);
                for (size_t k = 0; k < np; k++) {
                    const char *val;
                    const char *name = ferrymq_msg_property_at(m, k, &val);
                    if (name != NULL && strncmp(name, "FERRY_", 6) == 0) {
                        rec.n_ferry++;
                    }
                }
                prop_copy(m, "FERRY_SRC_REGION", rec.src_region, sizeof(rec.src_region));
                prop_copy(m, "FERRY_PATH", rec.path, sizeof(rec.path));
                prop_copy(m, "FERRY_SRC_TOPIC", rec.src_topic, sizeof(rec.src_topic));
                rec.src_qid = (int)prop_i64(m, "FERRY_SRC_QID", -1);
                rec.src_offset = prop_i64(m, "FERRY_SRC_OFFSET", -1);
                rec.src_store_ts = prop_i64(m, "FERRY_SRC_STORE_TS", -1);
                rec.has_src_cluster = ferrymq_msg_property(m, "FERRY_SRC_CLUSTER") != NULL;
                if (got_push(g, &rec) != 0) {
                    ferrymq_pull_result_clear(&res);
                    goto out;
                }
            }
            if (res.next_offset <= off) {
                ferrymq_pull_result_clear(&res);
                fprintf(stderr, "fmrepl: pull of %s:%d on %s did not advance\n", topic,
                        qs[q].queue_id, r->name);
                goto out;
            }
            off = res.next_offset;
            ferrymq_pull_result_clear(&res);
        }
    }
    rc = 0;
out:
    free(qs);
    return rc;
}

void
fmr_got_free(fmr_got *g)
{
    free(g->recs);
    memset(g, 0, sizeof(*g));
}

size_t
fmr_got_count_origin(const fmr_got *g, const char *origin)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        n += strcmp(g->recs[i].origin, origin) == 0;
    }
    return n;
}

/* ---- checking ---- */

#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        if (problems++ < 12) {                                                                     \
            fprintf(stderr, "fmrepl: %s: ", label);                                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* FERRY_PATH from origin to region, comma-separated, no region twice. 1 = well formed. */
static int
path_ok(const char *path, const char *origin, const char *region)
{
    char buf[160], *save = NULL, *tok;
    char seen[16][FMR_NAME_MAX];
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (n == 16) {
            return 0;
        }
        for (int i = 0; i < n; i++) {
            if (strcmp(seen[i], tok) == 0) {
                return 0;
            }
        }
        snprintf(seen[n++], FMR_NAME_MAX, "%s", tok);
    }
    return n >= 2 && strcmp(seen[0], origin) == 0 && strcmp(seen[n - 1], region) == 0;
}

typedef struct src_index {
    int *qid;
    int64_t *off;
    int n;
} src_index;

static int
build_index(const fmr_got *src, const fmr_sent *sent, src_index *ix)
{
    ix->n = sent->n;
    ix->qid = malloc((size_t)(sent->n + 1) * sizeof(int));
    ix->off = malloc((size_t)(sent->n + 1) * sizeof(int64_t));
    if (ix->qid == NULL || ix->off == NULL) {
        return -1;
    }
    for (int i = 0; i < sent->n; i++) {
        ix->qid[i] = -1;
    }
    for (size_t i = 0; i < src->n; i++) {
        const fmr_rec *r = &src->recs[i];
        if (r->n_ferry == 0 && strcmp(r->origin, sent->origin) == 0 && r->seq >= 0 &&
            r->seq < sent->n) {
            ix->qid[r->seq] = r->qid;
            ix->off[r->seq] = r->offset;
        }
    }
    return 0;
}

int
fmr_check(const fmr_got *g, const fmr_expect *ex, size_t n_ex, const char *label)
{
    int problems = 0;
    int **seen = calloc(n_ex, sizeof(int *));
    src_index *ix = calloc(n_ex, sizeof(src_index));
    /* last seq per (queue, origin), for the order check; queues < 64 */
    int last[64][8];
    for (int q = 0; q < 64; q++) {
        for (int e = 0; e < 8; e++) {
            last[q][e] = -1;
        }
    }
    if (seen == NULL || ix == NULL || n_ex > 8) {
        PROBLEM("out of memory or more than 8 origins");
        goto out;
    }
    for (size_t e = 0; e < n_ex; e++) {
        seen[e] = calloc((size_t)ex[e].sent->n + 1, sizeof(int));
        if (seen[e] == NULL ||
            (ex[e].src != NULL && build_index(ex[e].src, ex[e].sent, &ix[e]) != 0)) {
            PROBLEM("out of memory");
            goto out;
        }
    }
    if (g->unparsed > 0) {
        PROBLEM("%d messages in %s on %s are not test messages", g->unparsed, g->topic, g->region);
    }
    for (size_t i = 0; i < g->n; i++) {
        const fmr_rec *r = &g->recs[i];
        size_t e;
        int local = strcmp(r->origin, g->region) == 0;
        for (e = 0; e < n_ex; e++) {
            if (strcmp(ex[e].sent->origin, r->origin) == 0) {
                break;
            }
        }
        if (e == n_ex) {
            PROBLEM("%s holds %s:%d (q%d@%lld), which should not be there (path '%s')", g->region,
                    r->origin, r->seq, r->qid, (long long)r->offset, r->path);
            continue;
        }
        if (r->seq >= ex[e].sent->n) {
            PROBLEM("%s holds %s:%d, beyond the %d sent", g->region, r->origin, r->seq,
                    ex[e].sent->n);
            continue;
        }
        if (seen[e][r->seq]++ > 0) {
            PROBLEM("%s holds %s:%d twice (now at q%d@%lld, path '%s')", g->region, r->origin,
                    r->seq, r->qid, (long long)r->offset, r->path);
        }
        if (strcmp(r->uniq, ex[e].sent->uniq[r->seq]) != 0) {
            PROBLEM("%s:%d on %s: UNIQ_KEY '%s', sent as '%s'", r->origin, r->seq, g->region,
                    r->uniq, ex[e].sent->uniq[r->seq]);
        }
        if (!r->intact) {
            PROBLEM("%s:%d on %s: body, tags, keys or properties changed", r->origin, r->seq,
                    g->region);
        }
        if (r->qid >= 0 && r->qid < 64) {
            if (r->seq <= last[r->qid][e]) {
                PROBLEM("%s q%d: %s:%d at offset %lld after %s:%d (order per source queue)",
                        g->region, r->qid, r->origin, r->seq, (long long)r->offset, r->origin,
                        last[r->qid][e]);
            }
            last[r->qid][e] = r->seq;
        }
        if (local) {
            if (r->n_ferry != 0) {
                PROBLEM("local message %s:%d on %s carries %d FERRY_ properties (path '%s')",
                        r->origin, r->seq, g->region, r->n_ferry, r->path);
            }
            continue;
        }
        if (strcmp(r->src_region, r->origin) != 0) {
            PROBLEM("%s:%d on %s: FERRY_SRC_REGION '%s'", r->origin, r->seq, g->region,
                    r->src_region);
        }
        if (!path_ok(r->path, r->origin, g->region) ||
            (ex[e].path != NULL && strcmp(r->path, ex[e].path) != 0)) {
            PROBLEM("%s:%d on %s: FERRY_PATH '%s'%s%s", r->origin, r->seq, g->region, r->path,
                    ex[e].path ? ", want " : "", ex[e].path ? ex[e].path : "");
        }
        if (strcmp(r->src_topic, g->topic) != 0) {
            PROBLEM("%s:%d on %s: FERRY_SRC_TOPIC '%s'", r->origin, r->seq, g->region,
                    r->src_topic);
        }
        if (r->src_qid != r->qid) {
            PROBLEM("%s:%d on %s q%d: FERRY_SRC_QID %d", r->origin, r->seq, g->region, r->qid,
                    r->src_qid);
        }
        if (r->src_offset < 0 || !r->has_src_cluster) {
            PROBLEM("%s:%d on %s: FERRY_SRC_OFFSET %lld, FERRY_SRC_CLUSTER %s", r->origin, r->seq,
                    g->region, (long long)r->src_offset, r->has_src_cluster ? "set" : "absent");
        }
        if (r->src_store_ts <= 0 || r->src_store_ts > r->store_ts) {
            PROBLEM("%s:%d on %s: FERRY_SRC_STORE_TS %lld, stored here at %lld", r->origin, r->seq,
                    g->region, (long long)r->src_store_ts, (long long)r->store_ts);
        }
        if (ex[e].src != NULL && ix[e].qid != NULL) {
            int sq = ix[e].qid[r->seq];
            int64_t so = ix[e].off[r->seq];
            int one_hop = strchr(r->path, ',') == strrchr(r->path, ',');
            if (sq < 0) {
                PROBLEM("%s:%d is not in the source's drain", r->origin, r->seq);
            } else if (sq != r->qid || (one_hop && so != r->src_offset)) {
                PROBLEM("%s:%d on %s at q%d (FERRY_SRC_OFFSET %lld), at q%d@%lld in the source",
                        r->origin, r->seq, g->region, r->qid, (long long)r->src_offset, sq,
                        (long long)so);
            }
        }
    }
    for (size_t e = 0; e < n_ex; e++) {
        int missing = 0, first = -1;
        for (int s = 0; s < ex[e].sent->n; s++) {
            if (seen[e][s] == 0) {
                if (missing++ == 0) {
                    first = s;
                }
            }
        }
        if (missing > 0) {
            PROBLEM("%s lacks %d of %s's %d messages (first: seq %d)", g->region, missing,
                    ex[e].sent->origin, ex[e].sent->n, first);
        }
    }
out:
    for (size_t e = 0; seen != NULL && e < n_ex; e++) {
        free(seen[e]);
        if (ix != NULL) {
            free(ix[e].qid);
            free(ix[e].off);
        }
    }
    free(seen);
    free(ix);
    if (problems > 12) {
        fprintf(stderr, "fmrepl: %s: ... %d problems in all\n", label, problems);
    }
    return problems;
}

/* ---- replicator ---- */

int
fmr_repl_alive(fmr_repl *x)
{
    return fmt_daemon_alive(&x->d);
}

int
fmr_repl_start(fmr_repl *x, const char *const *extra, int timeout_ms)
{
    /* fmt_daemon_start reads a replicator's http= from the ready file */
    const char *flags[16] = {"--role=replicator", "--httpPort=0", "--replTopicRefreshInterval=500",
                             "--replRebalanceInterval=500", "--replCheckpointInterval=200"};
    int n = 5, rc;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++) {
        flags[n++] = extra[i];
    }
    flags[n] = NULL;
    rc = fmt_daemon_start(&x->d, flags, timeout_ms);
    if (x->d.dir[0] != '\0') {
        reg_proc(x->d.dir, x->d.pid);
    }
    return rc;
}

int
fmr_repl_restart(fmr_repl *x, int timeout_ms)
{
    int rc = fmt_daemon_restart(&x->d, timeout_ms);
    reg_proc(x->d.dir, x->d.pid);
    return rc;
}

int
fmr_repl_stop(fmr_repl *x, int sig, int timeout_ms)
{
    int st = fmt_daemon_stop(&x->d, sig, timeout_ms);
    reg_proc(x->d.dir, 0);
    return st;
}

void
fmr_repl_cleanup(fmr_repl *x)
{
    unreg_proc(x->d.dir);
    fmt_daemon_cleanup(&x->d);
    memset(x, 0, sizeof(*x));
}

int
fmr_cli(fmr_repl *x, char *out, size_t cap, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return fmt_cli_run(out, cap, x->d.dir, NULL, "-r 127.0.0.1:%d %s", x->d.http_port, args);
}

int
fmr_task_create(fmr_repl *x, char *out, size_t cap, const char *name, const char *mode,
                const fmr_region *src, const fmr_region *dst, const char *topic, const char *more)
{
    return fmr_cli(x, out, cap,
                   "task create %s --mode %s --source '%s' --source-region %s --target '%s' "
                   "--target-region %s --topics %s --from earliest %s",
                   name, mode, src->ns, src->name, dst->ns, dst->name, topic, more ? more : "");
}

int
fmr_http(fmr_repl *x, const char *method, const char *path, char **body)
{
    char req[512];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd, status = -1;
    *body = NULL;
    fd = fmt_connect(x->d.http_port, 5000);
    if (fd < 0) {
        return -1;
    }
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             method, path);
    if (fmt_write_all(fd, req, strlen(req)) != 0) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r;
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap ? cap * 2 : 16384);
            if (nb == NULL) {
                goto out;
            }
            buf = nb;
            cap = cap ? cap * 2 : 16384;
        }
        r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    if (buf == NULL) {
        goto out;
    }
    buf[len] = '\0';
    {
        char *sep = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.", 7) != 0 || sep == NULL) {
            goto out;
        }
        status = atoi(buf + 9);
        memmove(buf, sep + 4, len - (size_t)(sep + 4 - buf) + 1);
        *body = buf;
        buf = NULL;
    }
out:
    free(buf);
    close(fd);
    return status;
}

cJSON *
fmr_tasks(fmr_repl *x, const char *name)
{
    char path[256], *body = NULL;
    cJSON *root, *tasks = NULL;
    int st;
    snprintf(path, sizeof(path), "/api/v1/tasks%s%s", name ? "/" : "", name ? name : "");
    st = fmr_http(x, "GET", path, &body);
    if (st != 200 || body == NULL) {
        free(body);
        return NULL;
    }
    root = cJSON_Parse(body);
    free(body);
    if (root != NULL) {
        tasks = cJSON_DetachItemFromObject(root, "tasks");
        cJSON_Delete(root);
    }
    if (tasks != NULL && !cJSON_IsArray(tasks)) {
        cJSON_Delete(tasks);
        tasks = NULL;
    }
    return tasks;
}

static int64_t
num(const cJSON *o, const char *k, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

struct caught_up {
    fmr_repl *x;
    int min_queues;
};

static int
caught_up_cond(void *ud)
{
    struct caught_up *w = ud;
    cJSON *tasks = fmr_tasks(w->x, NULL), *t;
    int ok = tasks != NULL && cJSON_GetArraySize(tasks) > 0, queues = 0;
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "state");
        const cJSON *qs = cJSON_GetObjectItemCaseSensitive(t, "queues"), *q;
        if (!cJSON_IsString(st) || strcmp(st->valuestring, "running") != 0) {
            ok = 0;
        }
        cJSON_ArrayForEach(q, qs)
        {
            queues++;
            if (num(q, "nextOffset", -1) != num(q, "maxOffset", -2) ||
                num(q, "lagMessages", -1) != 0) {
                ok = 0;
            }
        }
    }
    cJSON_Delete(tasks);
    return ok && queues >= w->min_queues;
}

int
fmr_wait_caught_up(fmr_repl *x, int min_queues, int timeout_ms)
{
    struct caught_up w = {x, min_queues};
    return fmt_wait_until(caught_up_cond, &w, timeout_ms);
}

static void *
prod_thread(void *arg)
{
    fmr_prod_job *j = arg;
    j->rc = fmr_produce(j->ns, j->s, j->count);
    return NULL;
}

int
fmr_produce_start(fmr_prod_job *j, const char *ns, fmr_sent *s, int count)
{
    j->ns = ns;
    j->s = s;
    j->count = count;
    j->rc = -1;
    return pthread_create(&j->th, NULL, prod_thread, j) == 0 ? 0 : -1;
}

int
fmr_produce_join(fmr_prod_job *j)
{
    pthread_join(j->th, NULL);
    return j->rc;
}

ferrymq_consumer *
fmr_group_consumer(const fmr_region *r, const char *group)
{
    ferrymq_conf *conf = ferrymq_conf_new();
    ferrymq_consumer *c = NULL;
    char err[256];
    if (conf == NULL || ferrymq_conf_set(conf, "namesrvAddr", r->ns, err, sizeof(err)) != 0 ||
        ferrymq_conf_set(conf, "consumerGroup", group, err, sizeof(err)) != 0 ||
        ferrymq_consumer_new(conf, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "fmrepl: consumer of %s on %s: %s\n", group, r->name,
                conf == NULL ? "out of memory" : err);
        abort();
    }
    ferrymq_conf_free(conf);
    return c;
}

ferrymq_queue
fmr_queue(const fmr_region *r, const char *topic, int qid)
{
    ferrymq_queue q;
    memset(&q, 0, sizeof(q));
    snprintf(q.topic, sizeof(q.topic), "%s", topic);
    snprintf(q.broker_name, sizeof(q.broker_name), "%s-broker", r->name);
    q.queue_id = qid;
    return q;
}
