/*
 * ferrymqd - composition root: reads settings, opens the store, starts the roles on one event
 * loop, writes the ready file, and shuts down cleanly on SIGTERM/SIGINT (flush the store,
 * persist offsets). Holds no logic of its own beyond wiring.
 */
#include "broker/broker.h"
#include "common/config.h"
#include "common/limits.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "daemon/overrides.h"
#include "daemon/settings.h"
#include "http/http.h"
#include "namesrv/server.h"
#include "net/net.h"
#include "repl/api.h"
#include "repl/repl.h"
#include "store/store.h"

#include <ferrymq.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* The console's files (web/), generated into the build by tools/embed-web.sh. */
extern const fm_http_asset fm_web_assets[];

typedef struct daemon_ctx {
    fm_daemon_settings s;
    fm_net_loop *loop;
    fm_store *st;
    fm_broker *broker;
    fm_namesrv *ns;
    fm_repl *repl;
    fm_http *http;
    int sig_fd;
    fm_lockfile ns_lock; /* a standalone name server's or a replicator's claim on its dir */
    char ready_path[FM_CONFIG_STR_MAX + 16];
    fm_daemon_overrides ovr; /* settings changed while running (UPDATE_BROKER_CONFIG) */
} daemon_ctx;

static void
usage(FILE *out)
{
    fprintf(out, "usage: ferrymqd [-c broker.conf] [--key=value ...]\n"
                 "       ferrymqd --role=namesrv [--namesrvPort=9876]\n"
                 "       ferrymqd --role=replicator [--httpPort=8090] [--taskFile=tasks.json]\n"
                 "       ferrymqd --print-config-docs\n"
                 "       ferrymqd --version\n\n"
                 "Settings (file keys and flags are the same; flags win):\n");
    fm_config_print_help(fm_daemon_opts, fm_daemon_n_opts, out);
}

/* The --key=value / --key value flags, over whatever the settings hold. */
static int
apply_flags(daemon_ctx *d, int argc, char **argv)
{
    fm_errbuf eb;
    for (int i = 1; i < argc; i++) {
        char key[128];
        const char *val;
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0) {
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "ferrymqd: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        a += 2;
        val = strchr(a, '=');
        if (val != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)(val - a), a);
            val++;
        } else if (i + 1 < argc) {
            snprintf(key, sizeof(key), "%s", a);
            val = argv[++i];
        } else {
            fprintf(stderr, "ferrymqd: --%s needs a value (see --help)\n", a);
            return -1;
        }
        if (fm_config_set(fm_daemon_opts, fm_daemon_n_opts, &d->s, key, val, &eb) != FM_OK) {
            fprintf(stderr, "ferrymqd: --%s: %s\n", key, eb.msg);
            return -1;
        }
    }
    return 0;
}

/* Flags are --key=value or --key value; -c FILE / --config=FILE names a broker.conf file that
 * is read before any flag applies, whatever the order on the command line. */
static int
parse_args(daemon_ctx *d, int argc, char **argv)
{
    fm_errbuf eb;
    const char *conf = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            unsigned v = ferrymq_version(); /* the library's, so both binaries say the same */
            printf("ferrymqd %u.%u.%u\n", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
            exit(0);
        }
        if (strcmp(argv[i], "--print-config-docs") == 0) {
            fm_config_print_markdown(fm_daemon_opts, fm_daemon_n_opts, stdout);
            exit(0);
        }
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            conf = argv[i] + 9;
        }
    }
    if (fm_config_defaults(fm_daemon_opts, fm_daemon_n_opts, &d->s, &eb) != FM_OK) {
        fprintf(stderr, "ferrymqd: %s\n", eb.msg);
        return -1;
    }
    if (conf != NULL &&
        fm_config_load_file(fm_daemon_opts, fm_daemon_n_opts, &d->s, conf, &eb) != FM_OK) {
        fprintf(stderr, "ferrymqd: %s\n", eb.msg);
        return -1;
    }
    if (apply_flags(d, argc, argv) != 0) {
        return -1;
    }
    if (strcmp(d->s.role, "broker") != 0 && strcmp(d->s.role, "namesrv") != 0 &&
        strcmp(d->s.role, "replicator") != 0) {
        fprintf(stderr, "ferrymqd: role must be broker, namesrv or replicator, not '%s'\n",
                d->s.role);
        return -1;
    }
    /* the replicator's data is not a store: its own default dir, so the two never meet */
    if (d->s.storePathRootDir[0] == '\0') {
        snprintf(d->s.storePathRootDir, sizeof(d->s.storePathRootDir), "%s",
                 strcmp(d->s.role, "replicator") == 0 ? "ferrymq-replicator" : "ferrymq-data");
    }
    /* A broker's (or name server's) settings changed while it ran come after its -c file; the
     * flags still win. */
    if (strcmp(d->s.role, "broker") == 0 || strcmp(d->s.role, "namesrv") == 0) {
        if (fm_daemon_overrides_load(&d->ovr, d->s.storePathRootDir, &d->s, &eb) != FM_OK) {
            fprintf(stderr, "ferrymqd: %s\n", eb.msg);
            return -1;
        }
        if (d->ovr.n > 0 && apply_flags(d, argc, argv) != 0) {
            return -1;
        }
    }
    if (d->s.httpPort == -2) {
        d->s.httpPort = strcmp(d->s.role, "replicator") == 0 ? 8090 : 8080;
    } else if (d->s.httpPort == -1 && strcmp(d->s.role, "replicator") == 0) {
        fprintf(stderr, "ferrymqd: httpPort=-1: the replicator is managed over HTTP, it needs a "
                        "port\n");
        return -1;
    }
    if (strcmp(d->s.flushDiskType, "ASYNC_FLUSH") != 0 &&
        strcmp(d->s.flushDiskType, "SYNC_FLUSH") != 0) {
        fprintf(stderr, "ferrymqd: flushDiskType must be ASYNC_FLUSH or SYNC_FLUSH\n");
        return -1;
    }
    return 0;
}

static enum fm_log_level
level_of(const char *s)
{
    if (strcasecmp(s, "error") == 0) {
        return FM_LOG_ERROR;
    }
    if (strcasecmp(s, "warn") == 0) {
        return FM_LOG_WARN;
    }
    if (strcasecmp(s, "debug") == 0) {
        return FM_LOG_DEBUG;
    }
    return FM_LOG_INFO;
}

/* RocketMQ advertises the host's first non-loopback IPv4 address by default. */
static void
detect_ip(char *out, size_t cap)
{
    struct ifaddrs *ifs, *it;
    snprintf(out, cap, "127.0.0.1");
    if (getifaddrs(&ifs) != 0) {
        return;
    }
    for (it = ifs; it != NULL; it = it->ifa_next) {
        if (it->ifa_addr != NULL && it->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *sa = (const struct sockaddr_in *)it->ifa_addr;
            if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
                inet_ntop(AF_INET, &sa->sin_addr, out, (socklen_t)cap);
                break;
            }
        }
    }
    freeifaddrs(ifs);
}

/* True for a single IPv4 address, false for the wildcard (0.0.0.0) or anything else. */
static int
binds_one_ipv4(const char *addr)
{
    struct in_addr a;
    return inet_pton(AF_INET, addr, &a) == 1 && a.s_addr != htonl(INADDR_ANY);
}

/* Written with rename so a reader never sees a half-written file. */
static void
write_ready(daemon_ctx *d)
{
    char tmp[FM_CONFIG_STR_MAX + 32];
    FILE *f;
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->ready_path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        FM_LOGE("daemon", "FM-DAEMON-READY-FAIL", "path=%s err=\"%s\"", tmp, strerror(errno));
        return;
    }
    if (d->broker != NULL) {
        fprintf(f, "remoting=%d\n", fm_broker_port(d->broker));
        if (fm_broker_vip_port(d->broker) != 0) {
            fprintf(f, "vip=%d\n", fm_broker_vip_port(d->broker));
        }
    } else if (d->ns != NULL) {
        fprintf(f, "remoting=%d\n", fm_namesrv_port(d->ns));
    }
    if (d->ns != NULL) {
        fprintf(f, "namesrv=%d\n", fm_namesrv_port(d->ns));
    }
    if (d->http != NULL) {
        fprintf(f, "http=%d\n", fm_http_port(d->http));
    }
    fprintf(f, "pid=%d\n", (int)getpid());
    fclose(f);
    if (rename(tmp, d->ready_path) != 0) {
        FM_LOGE("daemon", "FM-DAEMON-READY-FAIL", "path=%s err=\"%s\"", d->ready_path,
                strerror(errno));
        return;
    }
    FM_LOGI("daemon", "FM-DAEMON-READY", "ready_file=%s", d->ready_path);
}

/* pid= of a ready file, 0 if absent or unreadable. */
static pid_t
ready_pid(const char *path)
{
    char line[128];
    pid_t pid = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "pid=", 4) == 0) {
            pid = (pid_t)atoi(line + 4);
        }
    }
    fclose(f);
    return pid;
}

/* A ready file is removed only by the process it names, or when the process it names is
 * gone: a second daemon pointed at the same directory must never make a live one look down.
 * Called only once this role's lock is held. */
static void
ready_remove_if_ours_or_stale(const char *path)
{
    pid_t pid = ready_pid(path);
    if (pid == 0 || pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH)) {
        unlink(path);
    }
}

static void
on_registered(void *ud)
{
    write_ready(ud);
}

static void
on_signal(int fd, int events, void *ud)
{
    daemon_ctx *d = ud;
    struct signalfd_siginfo si;
    (void)events;
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
        return;
    }
    if (si.ssi_signo == SIGHUP) {
        /* logrotate moved the file away: write to a new one of that name */
        int e = fm_log_reopen();
        if (e == 0) {
            FM_LOGI("daemon", "FM-DAEMON-LOG-REOPENED", "file=%s", d->s.logFile);
        } else if (e != ENOENT) {
            FM_LOGE("daemon", "FM-DAEMON-LOG-REOPEN-FAIL", "file=%s err=\"%s\"", d->s.logFile,
                    strerror(e));
        }
        return;
    }
    FM_LOGI("daemon", "FM-DAEMON-SIGNAL", "signal=%d action=shutdown", (int)si.ssi_signo);
    fm_net_loop_stop(d->loop);
}

static int
setup_signals(daemon_ctx *d)
{
    sigset_t set;
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP); /* reopen the log file (logFile), never a stop */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return -1;
    }
    d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->sig_fd < 0) {
        return -1;
    }
    return fm_net_watch_add(d->loop, d->sig_fd, FM_NET_READ, on_signal, d) == FM_OK ? 0 : -1;
}

static int config_text(void *ud, fm_buf *out);
static int config_update(void *ud, const char *const *keys, const char *const *values, int n,
                         fm_errbuf *eb);

/* UPDATE_NAMESRV_CONFIG: the daemon's settings are one table whichever role asks; a name
 * server alone has no broker to reconfigure. */
static int
ns_config_update(void *ud, const char *const *keys, const char *const *values, int n, fm_errbuf *eb)
{
    daemon_ctx *d = ud;
    if (d->broker != NULL) {
        return config_update(ud, keys, values, n, eb);
    }
    return fm_daemon_overrides_update(&d->ovr, &d->s, keys, values, n, eb);
}

static int
start_namesrv(daemon_ctx *d, const char *bind, fm_errbuf *eb)
{
    fm_namesrv_cfg nc;
    memset(&nc, 0, sizeof(nc));
    snprintf(nc.bind_addr, sizeof(nc.bind_addr), "%s", bind);
    nc.port = (int)d->s.namesrvPort;
    nc.expiry_ms = d->s.brokerExpiryMs;
    nc.max_frame_size = d->s.maxFrameSize;
    /* the KV config (kvConfig.json) next to the store, or in a standalone name server's dir */
    snprintf(nc.kv_dir, sizeof(nc.kv_dir), "%s", d->s.storePathRootDir);
    nc.config_text = config_text;
    nc.config_update = ns_config_update;
    nc.config_ud = d;
    return fm_namesrv_new(d->loop, &nc, &d->ns, eb);
}

/* The broker settings that change at run time (fm_broker_reconfigure takes these). */
static void
broker_live_cfg(const fm_daemon_settings *s, fm_broker_cfg *bc)
{
    bc->auto_create_topic = s->autoCreateTopicEnable;
    bc->auto_create_subscription_group = s->autoCreateSubscriptionGroup;
    bc->default_queue_nums = (int)s->defaultTopicQueueNums;
    bc->max_msg_size = s->maxMessageSize;
    bc->enable_property_filter = s->enablePropertyFilter;
    bc->max_reconsume_times = (int)s->maxReconsumeTimes;
    bc->register_period_ms = s->registerNameServerPeriod;
    bc->offset_flush_period_ms = s->flushConsumerOffsetInterval;
    bc->transaction_timeout_ms = s->transactionTimeOut;
    bc->transaction_check_interval_ms = s->transactionCheckInterval;
    bc->transaction_check_max = (int)s->transactionCheckMax;
    bc->lock_max_live_ms = s->rebalanceLockMaxLiveTime;
}

/* GET_BROKER_CONFIG: every setting as it is now, then RocketMQ broker settings FerryMQ has no
 * knob for, with the values that hold for it: tools read them (mqadmin exportConfigs sets
 * each into a Properties, which throws on a missing one). They cannot be changed: an update
 * of one is an unknown key. */
static int
config_text(void *ud, fm_buf *out)
{
    daemon_ctx *d = ud;
    int rc = fm_config_format(fm_daemon_opts, fm_daemon_n_opts, &d->s, out);
    if (rc == FM_OK) {
        rc = fm_buf_appendf(out, "brokerRole=ASYNC_MASTER\nfilterServerNums=0\n"
                                 "msgTraceTopicName=RMQ_SYS_TRACE_TOPIC\nslaveReadEnable=false\n"
                                 "traceOn=true\ntraceTopicEnable=false\nuseTLS=false\n");
    }
    return rc;
}

/* UPDATE_BROKER_CONFIG: checked, persisted, then taken (at once where the broker can). */
static int
config_update(void *ud, const char *const *keys, const char *const *values, int n, fm_errbuf *eb)
{
    daemon_ctx *d = ud;
    fm_broker_cfg bc;
    int rc = fm_daemon_overrides_update(&d->ovr, &d->s, keys, values, n, eb);
    if (rc != FM_OK) {
        return rc;
    }
    fm_broker_cfg_defaults(&bc);
    broker_live_cfg(&d->s, &bc);
    fm_broker_reconfigure(d->broker, &bc);
    fm_store_set_retention(d->st, d->s.fileReservedTime * 3600 * 1000);
    for (int i = 0; i < n; i++) {
        FM_LOGI("daemon", "FM-DAEMON-CONFIG-SET", "key=%s value=\"%s\" applies=%s file=%s", keys[i],
                values[i], fm_daemon_setting_is_live(keys[i]) ? "now" : "restart", d->ovr.path);
    }
    return FM_OK;
}

/* What both HTTP roles share: the settings' address, port and origins, and the console. */
static void
http_opts(const daemon_ctx *d, fm_http_opts *ho)
{
    memset(ho, 0, sizeof(*ho));
    ho->bind_addr = d->s.httpBindAddress;
    ho->port = (int)d->s.httpPort;
    ho->max_body = FM_HTTP_MAX_BODY_DEFAULT;
    ho->assets = fm_web_assets;
    ho->allow_origins = d->s.httpAllowOrigins;
}

static int
start_broker(daemon_ctx *d, fm_errbuf *eb)
{
    fm_store_cfg sc;
    fm_broker_cfg bc;
    int rc;

    fm_store_cfg_defaults(&sc);
    snprintf(sc.dir, sizeof(sc.dir), "%s", d->s.storePathRootDir);
    sc.segment_size = (uint64_t)d->s.mappedFileSizeCommitLog;
    sc.flush_sync = strcmp(d->s.flushDiskType, "SYNC_FLUSH") == 0;
    sc.flush_interval_ms = (int)d->s.flushIntervalCommitLog;
    sc.retention_ms = d->s.fileReservedTime * 3600 * 1000;
    sc.max_msg_size = (uint64_t)d->s.maxMessageSize + 64 * 1024;
    sc.index_enable = d->s.messageIndexEnable;
    sc.index_slots = (uint32_t)d->s.maxHashSlotNum;
    sc.index_num = (uint32_t)d->s.maxIndexNum;
    rc = fm_store_open(&sc, &d->st, eb);
    if (rc != FM_OK) {
        return rc;
    }
    /* The store's lock is ours from here: a leftover ready file is a dead broker's. */
    ready_remove_if_ours_or_stale(d->ready_path);

    if (d->s.namesrvAddr[0] == '\0') {
        /* Embedded name server: same loop; the broker registers with it over loopback, the
         * same code path as with a remote one. */
        rc = start_namesrv(d, d->s.bindAddress, eb);
        if (rc != FM_OK) {
            return rc;
        }
        snprintf(d->s.namesrvAddr, sizeof(d->s.namesrvAddr), "127.0.0.1:%d",
                 fm_namesrv_port(d->ns));
    }

    fm_broker_cfg_defaults(&bc);
    snprintf(bc.cluster_name, sizeof(bc.cluster_name), "%s", d->s.brokerClusterName);
    snprintf(bc.broker_name, sizeof(bc.broker_name), "%s", d->s.brokerName);
    bc.broker_id = d->s.brokerId;
    /* What clients are told to connect to: brokerIP1 if set; else the bound address when the
     * broker listens on one address only (any other address would be unreachable); else, as
     * RocketMQ, the host's first non-loopback IPv4 address. */
    if (d->s.brokerIP1[0] != '\0') {
        snprintf(bc.advertise_ip, sizeof(bc.advertise_ip), "%s", d->s.brokerIP1);
    } else if (binds_one_ipv4(d->s.bindAddress)) {
        snprintf(bc.advertise_ip, sizeof(bc.advertise_ip), "%s", d->s.bindAddress);
    } else {
        detect_ip(bc.advertise_ip, sizeof(bc.advertise_ip));
    }
    snprintf(bc.bind_addr, sizeof(bc.bind_addr), "%s", d->s.bindAddress);
    bc.listen_port = (int)d->s.listenPort;
    bc.vip_channel = d->s.vipChannelEnabled;
    snprintf(bc.namesrv_addr, sizeof(bc.namesrv_addr), "%s", d->s.namesrvAddr);
    bc.max_frame_size = d->s.maxFrameSize;
    bc.max_conn_output = d->s.maxConnOutputBytes;
    snprintf(bc.delay_levels, sizeof(bc.delay_levels), "%s", d->s.messageDelayLevel);
    bc.flush_sync = sc.flush_sync;
    broker_live_cfg(&d->s, &bc);
    rc = fm_broker_new(d->loop, d->st, &bc, &d->broker, eb);
    if (rc != FM_OK) {
        return rc;
    }
    fm_broker_on_registered(d->broker, on_registered, d);
    {
        fm_broker_config_hooks h = {config_text, config_update, d};
        fm_broker_set_config_hooks(d->broker, &h);
    }
    if (d->s.httpPort != -1) {
        /* on the loop thread: the handlers read the broker's state as its remoting ones do */
        fm_http_opts ho;
        http_opts(d, &ho);
        ho.loop = d->loop;
        ho.component = "broker";
        ho.error_event = "FM-BROKER-HTTP-ERROR";
        ho.handler = fm_broker_http_handle;
        ho.ud = d->broker;
        rc = fm_http_start(&ho, &d->http, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

/* The replicator: the engine, then its HTTP API; the loop only waits for signals. */
static int
start_replicator(daemon_ctx *d, fm_errbuf *eb)
{
    fm_repl_opts ro;
    fm_http_opts ho;
    int rc;
    memset(&ro, 0, sizeof(ro));
    ro.data_dir = d->s.storePathRootDir;
    ro.region = d->s.region;
    ro.task_file = d->s.taskFile[0] != '\0' ? d->s.taskFile : NULL;
    ro.topic_refresh_ms = d->s.replTopicRefreshInterval;
    ro.rebalance_ms = d->s.replRebalanceInterval;
    ro.checkpoint_ms = d->s.replCheckpointInterval;
    rc = fm_repl_new(&ro, &d->repl, eb);
    if (rc != FM_OK) {
        return rc;
    }
    http_opts(d, &ho);
    ho.threads = 2; /* a slow engine call must not stall /healthz or /metrics */
    ho.component = "repl";
    ho.error_event = "FM-REPL-HTTP-ERROR";
    ho.handler = fm_repl_api_handle;
    ho.ud = d->repl;
    return fm_http_start(&ho, &d->http, eb);
}

int
main(int argc, char **argv)
{
    daemon_ctx d;
    fm_errbuf eb;
    int rc, is_broker, is_repl;

    memset(&d, 0, sizeof(d));
    d.sig_fd = -1;
    if (parse_args(&d, argc, argv) != 0) {
        return 2;
    }
    is_broker = strcmp(d.s.role, "broker") == 0;
    is_repl = strcmp(d.s.role, "replicator") == 0;
    fm_log_init(d.s.role, 2, level_of(d.s.logLevel), d.s.logDebug[0] ? d.s.logDebug : NULL);
    if (d.s.logFile[0] != '\0') {
        int e = fm_log_open_file(d.s.logFile);
        if (e != 0) {
            FM_LOGE("daemon", "FM-DAEMON-START-FAIL", "role=%s err=FM_EIO msg=\"logFile %s: %s\"",
                    d.s.role, d.s.logFile, strerror(e));
            return 1;
        }
    }
    {
        /* one descriptor and one mapping per queue and per segment (common/limits.h) */
        uint64_t nofile;
        if (fm_limits_raise_nofile(&nofile, &eb) != FM_OK) {
            FM_LOGW("daemon", "FM-DAEMON-NOFILE-FAIL", "nofile=%llu err=\"%s\"",
                    (unsigned long long)nofile, eb.msg);
        }
        FM_LOGI("daemon", "FM-DAEMON-LIMITS", "nofile=%llu max_map_count=%lld",
                (unsigned long long)nofile, (long long)fm_limits_max_map_count());
    }
    /* Each role has its own ready file, so a name server and a broker started in the same
     * directory (both default to ./ferrymq-data) never overwrite or remove each other's. */
    if (d.s.readyFile[0] != '\0') {
        snprintf(d.ready_path, sizeof(d.ready_path), "%s", d.s.readyFile);
    } else {
        snprintf(d.ready_path, sizeof(d.ready_path), "%s/%s", d.s.storePathRootDir,
                 is_broker || is_repl ? "ready" : "namesrv.ready");
    }
    d.ns_lock.fd = -1;
    /* durable in its parent: a store root lost at a power cut would take the whole store */
    if (fm_store_mkdirs(d.s.storePathRootDir, &eb) != FM_OK) {
        FM_LOGE("daemon", "FM-DAEMON-START-FAIL", "dir=%s err=\"%s\"", d.s.storePathRootDir,
                eb.msg);
        return 1;
    }

    rc = fm_net_loop_new(&d.loop, &eb);
    if (rc == FM_OK && !is_broker) {
        /* The broker's lock is the store's (taken inside fm_store_open, before recovery); a
         * standalone name server locks only its own ready file's claim. */
        char lock_path[FM_CONFIG_STR_MAX + 32];
        snprintf(lock_path, sizeof(lock_path), "%s/%s", d.s.storePathRootDir,
                 is_repl ? "lock" : "namesrv.lock");
        rc = fm_lockfile_acquire(&d.ns_lock, lock_path, NULL, &eb);
        if (rc == FM_OK) {
            ready_remove_if_ours_or_stale(d.ready_path);
        }
    }
    if (rc == FM_OK && setup_signals(&d) != 0) {
        rc = fm_err_sys(&eb, FM_EIO, errno, "cannot set up signal handling");
    }
    if (rc == FM_OK) {
        rc = is_broker ? start_broker(&d, &eb)
             : is_repl ? start_replicator(&d, &eb)
                       : start_namesrv(&d, d.s.bindAddress, &eb);
    }
    if (rc != FM_OK) {
        FM_LOGE("daemon", "FM-DAEMON-START-FAIL", "role=%s err=%s msg=\"%s\"", d.s.role,
                fm_errname(rc), eb.msg);
        if (d.loop != NULL) {
            fm_net_loop_close_all(d.loop);
        }
        fm_http_stop(d.http);
        fm_repl_free(d.repl);
        fm_broker_free(d.broker);
        fm_namesrv_free(d.ns);
        fm_store_close(d.st);
        fm_net_loop_free(d.loop);
        fm_lockfile_release(&d.ns_lock);
        return 1;
    }
    if (is_repl) {
        FM_LOGI("daemon", "FM-DAEMON-STARTED", "role=%s pid=%d dir=%s http=%s:%d region=%s",
                d.s.role, (int)getpid(), d.s.storePathRootDir, d.s.httpBindAddress,
                fm_http_port(d.http), d.s.region[0] ? d.s.region : "-");
    } else {
        FM_LOGI("daemon", "FM-DAEMON-STARTED", "role=%s pid=%d store=%s http=%s:%d", d.s.role,
                (int)getpid(), is_broker ? d.s.storePathRootDir : "-",
                d.http != NULL ? d.s.httpBindAddress : "-",
                d.http != NULL ? fm_http_port(d.http) : -1);
    }
    if (!is_broker) {
        write_ready(&d);
    }

    fm_net_loop_run(d.loop);

    /* Orderly stop: answer what is pending, flush and persist, then free. The HTTP server
     * goes first so no request reaches a replicator being freed. */
    fm_http_stop(d.http);
    fm_repl_free(d.repl);
    fm_broker_shutdown(d.broker);
    /* Connections' callbacks point at the roles: close them while the roles still exist. */
    fm_net_loop_close_all(d.loop);
    fm_broker_free(d.broker);
    fm_namesrv_free(d.ns);
    fm_store_close(d.st);
    if (d.sig_fd >= 0) {
        fm_net_watch_remove(d.loop, d.sig_fd);
        close(d.sig_fd);
    }
    fm_net_loop_free(d.loop);
    ready_remove_if_ours_or_stale(d.ready_path);
    fm_lockfile_release(&d.ns_lock);
    FM_LOGI("daemon", "FM-DAEMON-STOPPED", "role=%s", d.s.role);
    return 0;
}
