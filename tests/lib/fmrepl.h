/*
 * fmrepl.h - fixtures for replication tests (issue 10): regions, replicators, tasks made with
 * the `ferrymq task` CLI, numbered messages, and the checks every replication test makes on
 * what a region ends up holding.
 *
 * A region is one ferrymqd broker with its embedded name server (ports chosen by the daemon,
 * its own data dir, brokerClusterName "<region>-cluster", brokerName "<region>-broker").
 * A proxied region instead runs a standalone name server and a broker that listens on
 * 127.0.0.2 but advertises 127.0.0.1 with the same port, where an fmproxy listens: every
 * client that follows the route (the replicator, the test's producers) goes through the proxy,
 * so the test can stall or reset the broker link. (ferrymqd has no "advertised port" setting;
 * same port on another loopback address needs none.)
 *
 * Messages: fmr_produce sends numbered messages "<origin>:<seq>:<pad>" with tag T<seq%4>, keys
 * "k-<origin>-<seq> g<seq%7>" and properties seq, origin and amount; it records each UNIQ_KEY
 * so a copy can be matched to what was sent. fmr_drain pulls a whole topic of a region;
 * fmr_check asserts exactly-once, order per source queue, intact fields and the FERRY_*
 * properties against what was sent.
 *
 * Thread: test thread only, except fmr_produce, which may run on one other thread per
 * fmr_sent (it uses its own producer).
 */
#ifndef FM_TESTS_FMREPL_H
#define FM_TESTS_FMREPL_H

#include "fmproxy.h"
#include "fmtest.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <ferrymq.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FMR_NAME_MAX 32

typedef struct fmr_region {
    char name[FMR_NAME_MAX];
    fmt_daemon d;        /* the broker */
    fmt_daemon nsd;      /* proxied regions: the standalone name server */
    fmp_proxy *proxy;    /* proxied regions: in front of the broker; else NULL */
    char ns[64];         /* "127.0.0.1:port" of the region's name server */
    int broker_port;     /* the port the broker advertises */
    ferrymq_admin *adm;  /* for topic creation and offsets */
    ferrymq_consumer *c; /* for drains */
} fmr_region;

/**
 * Start a region named name (plain, embedded name server). extra: NULL-terminated broker
 * flags (at most 4). Returns 0, -1 (log printed).
 */
int fmr_region_start(fmr_region *r, const char *name, const char *const *extra);

/** As fmr_region_start, but proxied (see above): r->proxy is the link to stall or reset. */
int fmr_region_start_proxied(fmr_region *r, const char *name, const char *const *extra);

/**
 * Stop the region's broker with sig (SIGTERM, SIGKILL) and start it again on the same data,
 * ports and flags (the name server, embedded or not, keeps its address). 0 or -1.
 */
int fmr_region_restart_broker(fmr_region *r, int sig);

/** Stop everything of the region and remove its dirs. Zeroes *r. */
void fmr_region_stop(fmr_region *r);

/** Create topic with `queues` read/write queues on the region; waits for its route. 0/-1. */
int fmr_topic_create(fmr_region *r, const char *topic, int queues);

/** Queue count of topic in the region's route, 0 when it has none (yet). */
int fmr_topic_queues(fmr_region *r, const char *topic);

/** Messages stored in topic on the region (sum over queues of max - min); -1 on error. */
int64_t fmr_count(fmr_region *r, const char *topic);

/** Wait (bounded) until fmr_count(r, topic) >= n. 1 = reached. */
int fmr_wait_count(fmr_region *r, const char *topic, int64_t n, int timeout_ms);

/* ---- what was sent ---- */

typedef struct fmr_sent {
    char origin[FMR_NAME_MAX];
    char topic[128];
    int n; /* messages acknowledged: seqs 0 .. n-1 */
    int cap;
    char (*uniq)[64]; /* UNIQ_KEY of each seq */
    int failed;       /* sends that failed (a test asserts 0) */
} fmr_sent;

/** Prepare s for messages of origin region on topic. 0 or -1. Free with fmr_sent_free. */
int fmr_sent_init(fmr_sent *s, const char *origin, const char *topic);
void fmr_sent_free(fmr_sent *s);

/**
 * Send count more numbered messages (seqs s->n .. s->n + count - 1) to topic on region r's
 * cluster (name server ns), asynchronously with a bounded window, and wait for every
 * acknowledgement. Returns 0 when all were acknowledged, -1 otherwise (s->failed > 0; the
 * first error printed). Thread: one thread at a time per s.
 */
int fmr_produce(const char *ns, fmr_sent *s, int count);

/** fmr_produce on a thread of its own, so a test can break things while messages flow. */
typedef struct fmr_prod_job {
    const char *ns;
    fmr_sent *s;
    int count;
    int rc; /* fmr_produce's, once joined */
    pthread_t th;
} fmr_prod_job;

/** Start fmr_produce(ns, s, count) on a new thread. 0, or -1 when no thread could start. */
int fmr_produce_start(fmr_prod_job *j, const char *ns, fmr_sent *s, int count);

/** Wait for the job's thread; fmr_produce's result. */
int fmr_produce_join(fmr_prod_job *j);

/* ---- what a region holds ---- */

typedef struct fmr_rec {
    char origin[FMR_NAME_MAX];
    int seq;
    int qid;
    int64_t offset;
    int64_t store_ts;
    char uniq[64];
    int intact;  /* body, tags, keys and user properties as sent */
    int n_ferry; /* properties with the FERRY_ prefix */
    char src_region[FMR_NAME_MAX];
    char path[160];
    char src_topic[128];
    int src_qid;
    int64_t src_offset;
    int64_t src_store_ts;
    int has_src_cluster;
} fmr_rec;

typedef struct fmr_got {
    char region[FMR_NAME_MAX];
    char topic[128];
    fmr_rec *recs; /* in queue order: queue 0 by offset, then queue 1 ... */
    size_t n, cap;
    int unparsed; /* messages whose body is not one of ours */
} fmr_got;

/**
 * Pull every message of topic on region r from each queue's min offset to its max, with the
 * subscription expr of expr_type ("TAG" or "SQL92"; NULL: everything), into *g (previous
 * contents dropped). 0 or -1 (pull error printed).
 */
int fmr_drain(fmr_region *r, const char *topic, const char *expr, const char *expr_type,
              fmr_got *g);
void fmr_got_free(fmr_got *g);

/** Records of g whose origin is name. */
size_t fmr_got_count_origin(const fmr_got *g, const char *origin);

/** What a region should hold from one origin. */
typedef struct fmr_expect {
    const fmr_sent *sent; /* every seq of it exactly once */
    const fmr_got *src;   /* optional: the origin region's own drain (its local messages);
                             a one-hop copy must then sit in the same queue id and carry its
                             source offset */
    const char *path;     /* optional: exact FERRY_PATH ("a,b") */
} fmr_expect;

/**
 * Check g (a drain of region g->region) holds exactly the messages of the expectations and
 * nothing else: each (origin, seq) once with its UNIQ_KEY, no other messages, order per
 * (queue, origin) strictly increasing in seq, body/tags/keys/properties intact, local
 * messages with no FERRY_* property, copies with FERRY_SRC_REGION = origin, a FERRY_PATH from
 * origin to this region with no region twice, FERRY_SRC_TOPIC, FERRY_SRC_QID = queue id,
 * FERRY_SRC_OFFSET, FERRY_SRC_STORE_TS <= the copy's store time. Prints the first problems
 * with label; returns the number of problems (0 = all good).
 */
int fmr_check(const fmr_got *g, const fmr_expect *ex, size_t n_ex, const char *label);

/* ---- replicator ---- */

typedef struct fmr_repl {
    fmt_daemon d; /* the ferrymqd --role=replicator process; d.http_port once ready */
} fmr_repl;

/**
 * Start ferrymqd --role=replicator with a fresh dir (x->dir empty) or the existing one,
 * --httpPort=0 (the bound port read from the ready file's http= line), short topic refresh,
 * rebalance and checkpoint intervals, plus extra flags (NULL-terminated, copied, kept for
 * restarts). Returns 0 when ready within timeout_ms, -1 (log printed).
 */
int fmr_repl_start(fmr_repl *x, const char *const *extra, int timeout_ms);

/** Start again with the same dir and flags (after a stop or kill). */
int fmr_repl_restart(fmr_repl *x, int timeout_ms);

/** Signal and reap (bounded; SIGKILL after timeout_ms). Exit status as waitpid, or -1. */
int fmr_repl_stop(fmr_repl *x, int sig, int timeout_ms);

/** Kill if running, remove the dir. */
void fmr_repl_cleanup(fmr_repl *x);

/** 1 while the replicator process runs. */
int fmr_repl_alive(fmr_repl *x);

/**
 * Run `ferrymq -r 127.0.0.1:<http> <args>` (printf-style). out as fmt_cli_run. Exit code.
 */
int fmr_cli(fmr_repl *x, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * `task create name --mode mode --source <src ns> --source-region <src> --target ...
 * --topics topic --from earliest <more>` through the CLI. Exit code; out as fmt_cli_run.
 */
int fmr_task_create(fmr_repl *x, char *out, size_t cap, const char *name, const char *mode,
                    const fmr_region *src, const fmr_region *dst, const char *topic,
                    const char *more);

/** A pull consumer of group on region r (fails the test if it cannot be made). Caller closes. */
ferrymq_consumer *fmr_group_consumer(const fmr_region *r, const char *group);

/** Queue qid of topic on region r's broker ("<region>-broker"). */
ferrymq_queue fmr_queue(const fmr_region *r, const char *topic, int qid);

/** fmr_task_create that fails the test (printing the CLI's output) unless it exits 0. */
#define FMR_TASK(x, name, mode, src, dst, topic, more)                                             \
    do {                                                                                           \
        char out_[16384];                                                                          \
        int rc_ = fmr_task_create(x, out_, sizeof(out_), name, mode, src, dst, topic, more);       \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "task create %s: exit %d\n%s\n", name, rc_, out_);                     \
        }                                                                                          \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

/**
 * GET path on the replicator's HTTP port; *body (malloc'ed, NUL-terminated, caller frees)
 * receives the response body. Returns the HTTP status, -1 on a transport error.
 */
int fmr_http(fmr_repl *x, const char *method, const char *path, char **body);

/** The "tasks" array of GET /api/v1/tasks[/name] (name NULL: all), detached; NULL on error.
 * Caller frees with cJSON_Delete. */
cJSON *fmr_tasks(fmr_repl *x, const char *name);

/**
 * Wait until every task of the replicator is running and every queue of each has copied all
 * it can (nextOffset == maxOffset, lagMessages 0), with at least min_queues queues in all.
 * 1 = reached within timeout_ms.
 */
int fmr_wait_caught_up(fmr_repl *x, int min_queues, int timeout_ms);

/**
 * cmocka teardown: end what a failed test left running (every replicator and broker started
 * through fmrepl and not stopped: SIGKILL, dirs removed; proxies and client handles freed).
 * Use as cmocka_unit_test_teardown(test, fmr_teardown). Always returns 0.
 */
int fmr_teardown(void **state);

#endif
