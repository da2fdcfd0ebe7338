/*
 * The CLI against a name server that answers as RocketMQ 4.9's does: a relay in front of a
 * real ferrymqd's name server passes every request through and rewrites each answer's body the
 * way fastjson writes Map<Long,..> keys (bare integers: "brokerAddrs":{0:"ip:port"}), as a
 * stock name server sends GET_BROKER_CLUSTER_INFO and GET_ROUTEINFO_BY_TOPIC. No Java here, so
 * the relay stands in for the stock name server; the broker behind it is the real ferrymqd.
 * `ferrymq cluster`, `topic create`, `produce` and `group list` must work through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_MAX_CONNS 64
#define RELAY_FRAME_MAX (4u << 20)

static fmt_daemon d;
static char out[1 << 16];

typedef struct relay {
    int lfd, port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    int fds[RELAY_MAX_CONNS]; /* client sides, shut down at the end */
    pthread_t th[RELAY_MAX_CONNS];
    int n;
    atomic_int bare_keys; /* keys written bare so far: proves the CLI saw fastjson's form */
} relay;

static relay rl;

/* Copy a JSON body into dst, writing every object key made of digits only bare, as fastjson
 * writes a Map<Long,..> or Map<Integer,..> key. Returns the new length. */
static size_t
fastjsonify(const uint8_t *src, size_t n, uint8_t *dst)
{
    size_t o = 0;
    char prev = 0; /* last non-blank outside strings */
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '"') {
            size_t j = i + 1, k;
            int digits = 1;
            while (j < n && src[j] != '"') {
                digits = digits && src[j] >= '0' && src[j] <= '9';
                j += src[j] == '\\' ? 2 : 1;
            }
            if (j >= n) {
                memcpy(dst + o, src + i, n - i);
                return o + (n - i);
            }
            for (k = j + 1; k < n && (src[k] == ' ' || src[k] == '\n'); k++) {
            }
            if ((prev == '{' || prev == ',') && digits && j > i + 1 && k < n && src[k] == ':') {
                memcpy(dst + o, src + i + 1, j - i - 1);
                o += j - i - 1;
                atomic_fetch_add(&rl.bare_keys, 1);
            } else {
                memcpy(dst + o, src + i, j + 1 - i);
                o += j + 1 - i;
            }
            prev = '"';
            i = j;
            continue;
        }
        if (src[i] > ' ') {
            prev = (char)src[i];
        }
        dst[o++] = src[i];
    }
    return o;
}

/* One client connection: each request frame goes to the real name server, each answer comes
 * back with its body rewritten (the header is left as it is). */
static void *
relay_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg, ufd = fmt_connect(d.namesrv_port, 10000);
    uint8_t *buf = malloc(RELAY_FRAME_MAX), *nb = malloc(RELAY_FRAME_MAX);
    ssize_t len;
    while (ufd >= 0 && buf != NULL && nb != NULL &&
           (len = fmt_read_frame(cfd, buf, RELAY_FRAME_MAX)) > 0) {
        uint32_t hlen;
        size_t body_off, blen;
        if (fmt_write_all(ufd, buf, (size_t)len) != 0 ||
            (len = fmt_read_frame(ufd, buf, RELAY_FRAME_MAX)) < 8) {
            break;
        }
        hlen = ((uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7]);
        body_off = 8 + (size_t)hlen;
        if (body_off > (size_t)len) {
            break;
        }
        memcpy(nb, buf, body_off);
        blen = fastjsonify(buf + body_off, (size_t)len - body_off, nb + body_off);
        {
            uint32_t total = (uint32_t)(body_off - 4 + blen);
            nb[0] = (uint8_t)(total >> 24);
            nb[1] = (uint8_t)(total >> 16);
            nb[2] = (uint8_t)(total >> 8);
            nb[3] = (uint8_t)total;
        }
        if (fmt_write_all(cfd, nb, body_off + blen) != 0) {
            break;
        }
    }
    if (ufd >= 0) {
        close(ufd);
    }
    free(buf);
    free(nb);
    return NULL;
}

static void *
relay_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int cfd = accept(rl.lfd, NULL, NULL);
        if (cfd < 0) {
            return NULL; /* shut down */
        }
        pthread_mutex_lock(&rl.mu);
        if (rl.n == RELAY_MAX_CONNS ||
            pthread_create(&rl.th[rl.n], NULL, relay_conn, (void *)(intptr_t)cfd) != 0) {
            close(cfd);
        } else {
            rl.fds[rl.n++] = cfd;
        }
        pthread_mutex_unlock(&rl.mu);
    }
}

static int
relay_start(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&rl, 0, sizeof(rl));
    pthread_mutex_init(&rl.mu, NULL);
    rl.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (rl.lfd < 0 || bind(rl.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(rl.lfd, 16) != 0 || getsockname(rl.lfd, (struct sockaddr *)&sa, &sl) != 0) {
        return -1;
    }
    rl.port = ntohs(sa.sin_port);
    return pthread_create(&rl.acceptor, NULL, relay_accept, NULL) == 0 ? 0 : -1;
}

static void
relay_stop(void)
{
    shutdown(rl.lfd, SHUT_RDWR);
    pthread_join(rl.acceptor, NULL);
    close(rl.lfd);
    for (int i = 0; i < rl.n; i++) {
        shutdown(rl.fds[i], SHUT_RDWR); /* ends its thread's read */
        pthread_join(rl.th[i], NULL);
        close(rl.fds[i]);
    }
    pthread_mutex_destroy(&rl.mu);
}

static int
setup(void **state)
{
    const char *extra[] = {"--brokerIP1=127.0.0.1", NULL};
    (void)state;
    memset(&d, 0, sizeof(d));
    if (fmt_daemon_start(&d, extra, 10000) != 0) {
        return -1;
    }
    return relay_start();
}

static int
teardown(void **state)
{
    (void)state;
    relay_stop();
    fmt_daemon_stop(&d, SIGTERM, 10000);
    fmt_daemon_cleanup(&d);
    return 0;
}

/* The CLI with the relay as its name server. */
static int
cli(const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return fmt_cli_run(out, sizeof(out), d.dir, NULL, "-n 127.0.0.1:%d %s", rl.port, args);
}

static void
test_cli_against_fastjson_name_server(void **state)
{
    char addr[64];
    int before;
    (void)state;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d.remoting_port);
    /* cluster info: {"brokerAddrs":{0:"127.0.0.1:port"}} */
    assert_int_equal(cli("cluster"), 0);
    assert_non_null(strstr(out, "DefaultCluster"));
    assert_non_null(strstr(out, "broker-a"));
    assert_non_null(strstr(out, addr));
    assert_true(atomic_load(&rl.bare_keys) > 0);
    /* topic create: the masters of the same body */
    before = atomic_load(&rl.bare_keys);
    assert_int_equal(cli("topic create FjTopic --queues 3"), 0);
    assert_non_null(strstr(out, "created FjTopic with 3 queues"));
    assert_true(atomic_load(&rl.bare_keys) > before);
    assert_int_equal(cli("topic list"), 0);
    assert_non_null(strstr(out, "FjTopic"));
    /* the route (GET_ROUTEINFO_BY_TOPIC, bare keys too) carries produce and consume */
    assert_int_equal(cli("produce -t FjTopic one two"), 0);
    assert_int_equal(cli("consume -t FjTopic -g fjg --commit --wait-ms 200"), 0);
    assert_non_null(strstr(out, "consumed 2 messages"));
    /* group list: every master from the cluster info, then each broker's groups */
    assert_int_equal(cli("group list"), 0);
    assert_non_null(strstr(out, "fjg"));
    assert_int_equal(cli("group progress fjg -t FjTopic"), 0);
    assert_non_null(strstr(out, "total lag: 0"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_against_fastjson_name_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
