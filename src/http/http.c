/*
 * http.c - fm_http over libmicrohttpd: collect each request's body (capped), hand the whole
 * request to the role's handler, send what it filled in (http.h).
 *
 * The raw query string comes from the URI log callback, which sees the request line before
 * libmicrohttpd splits and decodes it; that callback's return value is the request's state.
 */
#include "http/http.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct fm_http {
    struct MHD_Daemon *mhd;
    char allow_origins[1024];
    fm_net_loop *loop; /* with opts.loop: the loop that runs MHD (borrowed) */
    int epfd;          /* MHD's epoll fd, watched by loop; -1 without */
    fm_net_timer *tick;
    fm_http_opts opts;
    char component[32];
    char error_event[64];
    int port;
};

typedef struct req_state {
    char *uri; /* raw request target: path?query */
    fm_buf body;
    int started;
    int answered; /* refused from its headers (413 by Content-Length) */
    int too_big;  /* a body without Content-Length passed the cap: the rest is read and
                   * dropped (libmicrohttpd cannot answer mid-body), then 413 */
    int oom;
} req_state;

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    req_state *st = calloc(1, sizeof(*st));
    (void)cls;
    (void)conn;
    if (st != NULL) {
        st->uri = strdup(uri != NULL ? uri : "");
        if (st->uri == NULL) {
            free(st);
            st = NULL;
        }
    }
    return st; /* NULL: the access handler answers 500 */
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    req_state *st = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (st != NULL) {
        free(st->uri);
        fm_buf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* The host part of "scheme://host[:port]" or of a Host header "host[:port]", into out. */
static void
host_of(const char *s, int is_url, char *out, size_t cap)
{
    const char *p = s, *end;
    if (is_url) {
        const char *sep = strstr(s, "://");
        p = sep != NULL ? sep + 3 : s;
    }
    if (*p == '[') {
        end = strchr(p, ']');
        end = end != NULL ? end + 1 : p + strlen(p);
    } else {
        end = p + strcspn(p, ":/");
    }
    snprintf(out, cap, "%.*s", (int)(end - p), p);
}

/* 1 when a page of origin may call us (http.h): same host as the request's Host, or listed. */
static int
origin_allowed(const fm_http *h, const char *origin, const char *host_hdr)
{
    char oh[256], hh[256];
    size_t n = strlen(origin);
    host_of(origin, 1, oh, sizeof(oh));
    host_of(host_hdr != NULL ? host_hdr : "", 0, hh, sizeof(hh));
    if (oh[0] != '\0' && strcasecmp(oh, hh) == 0) {
        return 1;
    }
    for (const char *p = h->allow_origins; *p != '\0';) {
        size_t k = strcspn(p, ",");
        if (k == n && strncasecmp(p, origin, n) == 0) {
            return 1;
        }
        p += k + (p[k] == ',');
    }
    return 0;
}

static enum MHD_Result
send_resp(fm_http *h, struct MHD_Connection *conn, const char *method, const char *path,
          fm_http_resp *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ok;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (resp->status >= 400) {
        FM_LOGW(h->component, h->error_event, "method=%s path=\"%.200s\" status=%d msg=\"%s\"",
                method, path, resp->status, resp->log_msg);
    }
    r = MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    if (resp->content_type[0] != '\0') {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    }
    if (resp->allow[0] != '\0') {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    }
    if (resp->location[0] != '\0') {
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    }
    if (origin != NULL &&
        origin_allowed(h, origin,
                       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
        if (strcmp(method, "OPTIONS") == 0) {
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        }
    }
    if (strncmp(resp->content_type, "text/html", 9) == 0) {
        /* the console: its own scripts only; it may call other ferrymqd processes */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; connect-src 'self' http: https:; "
                                "img-src 'self' data:; frame-ancestors 'none'");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    }
    if (resp->no_cache) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    }
    ok = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* An answer the module itself gives (413, 500): JSON {"error": msg}. */
static enum MHD_Result
send_error(fm_http *h, struct MHD_Connection *conn, const char *method, const char *path,
           int status, const char *msg)
{
    fm_http_resp resp;
    enum MHD_Result ok;
    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    snprintf(resp.content_type, sizeof(resp.content_type), "application/json");
    snprintf(resp.log_msg, sizeof(resp.log_msg), "%s", msg);
    fm_buf_appendf(&resp.body, "{\"error\": \"%s\"}\n", msg);
    ok = send_resp(h, conn, method, path, &resp);
    fm_buf_free(&resp.body);
    return ok;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    fm_http *h = cls;
    req_state *st = *con_cls;
    fm_http_req req;
    fm_http_resp resp;
    const char *q;
    enum MHD_Result ok;
    (void)version;

    if (st == NULL) {
        return send_error(h, conn, method, url, 500, "out of memory");
    }
    if (!st->started) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        st->started = 1;
        if (cl != NULL && strtoull(cl, NULL, 10) > h->opts.max_body) {
            /* refused before the body is read: libmicrohttpd then closes the connection */
            st->answered = 1;
            return send_error(h, conn, method, url, 413, "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->answered) {
            return MHD_YES;
        }
        if (st->too_big || st->oom) {
            return MHD_YES;
        }
        if (st->body.len + n > h->opts.max_body) {
            st->too_big = 1;
            fm_buf_free(&st->body);
            return MHD_YES;
        }
        if (fm_buf_append(&st->body, upload_data, n) != FM_OK) {
            st->oom = 1;
            fm_buf_free(&st->body);
        }
        return MHD_YES;
    }
    if (st->answered) {
        return MHD_YES;
    }
    if (st->too_big) {
        return send_error(h, conn, method, url, 413, "request body too large");
    }
    if (st->oom) {
        return send_error(h, conn, method, url, 500, "out of memory");
    }

    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    snprintf(resp.content_type, sizeof(resp.content_type), "application/json");
    {
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        int cross =
            origin != NULL && !origin_allowed(h, origin,
                                              MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                          MHD_HTTP_HEADER_HOST));
        if (strcmp(method, "OPTIONS") == 0) {
            /* a preflight: allowed origins get the CORS headers send_resp adds */
            if (cross) {
                return send_error(h, conn, method, url, 403, "cross-origin request refused");
            }
            resp.status = 204;
            resp.content_type[0] = '\0';
            return send_resp(h, conn, method, url, &resp);
        }
        if (cross && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            return send_error(h, conn, method, url, 403, "cross-origin request refused");
        }
    }
    if (h->opts.assets != NULL && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
        const char *want = url;
        if (strcmp(url, "/") == 0 || strcmp(url, "/console") == 0) {
            resp.status = 302;
            snprintf(resp.location, sizeof(resp.location), "/console/");
            return send_resp(h, conn, method, url, &resp);
        }
        if (strcmp(url, "/console/") == 0) {
            want = "/console/index.html";
        }
        if (strncmp(want, "/console/", 9) == 0) {
            for (const fm_http_asset *a = h->opts.assets; a->path != NULL; a++) {
                if (strcmp(a->path, want) == 0) {
                    enum MHD_Result r2;
                    snprintf(resp.content_type, sizeof(resp.content_type), "%s", a->content_type);
                    resp.no_cache = 1;
                    fm_buf_append(&resp.body, a->data, a->len);
                    r2 = send_resp(h, conn, method, url, &resp);
                    fm_buf_free(&resp.body);
                    return r2;
                }
            }
            return send_error(h, conn, method, url, 404, "no such console file");
        }
    }

    q = strchr(st->uri, '?');
    req.method = method;
    req.path = url;
    req.query = q != NULL ? q + 1 : "";
    req.body = st->body.data != NULL ? st->body.data : (const uint8_t *)"";
    req.body_len = st->body.len;
    h->opts.handler(h->opts.ud, &req, &resp);
    ok = send_resp(h, conn, method, url, &resp);
    fm_buf_free(&resp.body);
    return ok;
}

/* On the loop: libmicrohttpd's epoll fd is readable (a connection, a request, room to write). */
static void
on_mhd_ready(int fd, int events, void *ud)
{
    fm_http *h = ud;
    (void)fd;
    (void)events;
    MHD_run(h->mhd);
}

/* Connection timeouts only advance when MHD_run runs: a tick makes an idle client time out. */
static void
on_tick(void *ud)
{
    fm_http *h = ud;
    h->tick = NULL;
    MHD_run(h->mhd);
    fm_net_timer_add(h->loop, 1000, on_tick, h, &h->tick);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
fm_http_query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = query;
    if (cap == 0) {
        return FM_EINVAL;
    }
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t o = 0;
            for (size_t i = kl + 1; i < len; i++) {
                int c = (unsigned char)p[i];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    if (i + 2 >= len || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0) {
                        return FM_EINVAL;
                    }
                    c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
                    i += 2;
                    if (c == 0) {
                        return FM_EINVAL;
                    }
                }
                if (o + 1 >= cap) {
                    return FM_EINVAL;
                }
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return FM_OK;
        }
        if (len == kl && strncmp(p, key, kl) == 0) {
            out[0] = '\0'; /* "?key" alone: present and empty */
            return FM_OK;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return FM_ENOTFOUND;
}

int
fm_http_start(const fm_http_opts *opts, fm_http **out, fm_errbuf *eb)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    fm_http *h;
    unsigned threads;

    *out = NULL;
    if (opts->handler == NULL) {
        return fm_err_set(eb, FM_EINVAL, "http: no handler");
    }
    if (opts->port < 0 || opts->port > 65535) {
        return fm_err_set(eb, FM_EINVAL, "http: port %d out of range", opts->port);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->bind_addr ? opts->bind_addr : "127.0.0.1", &sa.sin_addr) != 1) {
        return fm_err_set(eb, FM_EINVAL, "http: bind address '%s' is not an IPv4 address",
                          opts->bind_addr);
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    h->opts = *opts;
    if (h->opts.max_body == 0) {
        h->opts.max_body = FM_HTTP_MAX_BODY_DEFAULT;
    }
    snprintf(h->component, sizeof(h->component), "%s", opts->component ? opts->component : "http");
    snprintf(h->error_event, sizeof(h->error_event), "%s",
             opts->error_event ? opts->error_event : "FM-HTTP-ERROR");
    h->opts.component = h->component;
    h->opts.error_event = h->error_event;
    snprintf(h->allow_origins, sizeof(h->allow_origins), "%s",
             opts->allow_origins != NULL ? opts->allow_origins : "");
    h->opts.allow_origins = h->allow_origins;
    threads = opts->threads > 1 ? opts->threads : 1;
    h->epfd = -1;
    h->loop = opts->loop;
    /* A bounded number of connections, each with a timeout, so idle or slow clients cannot
     * hold the admin port. */
    if (h->loop != NULL) {
        h->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                  (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_END);
    } else {
        h->mhd = MHD_start_daemon(
            MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_THREAD_POOL_SIZE,
            threads, MHD_OPTION_END);
    }
    if (h->mhd == NULL) {
        free(h);
        return fm_err_set(eb, FM_EIO, "http: cannot listen on %s:%d (in use or not permitted)",
                          opts->bind_addr ? opts->bind_addr : "127.0.0.1", opts->port);
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? (int)info->port : opts->port;
    if (h->loop != NULL) {
        info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        h->epfd = info != NULL ? info->epoll_fd : -1;
        if (h->epfd < 0 ||
            fm_net_watch_add(h->loop, h->epfd, FM_NET_READ, on_mhd_ready, h) != FM_OK) {
            MHD_stop_daemon(h->mhd);
            free(h);
            return fm_err_set(eb, FM_EIO, "http: cannot watch the server's epoll fd");
        }
        if (fm_net_timer_add(h->loop, 1000, on_tick, h, &h->tick) != FM_OK) {
            fm_net_watch_remove(h->loop, h->epfd);
            MHD_stop_daemon(h->mhd);
            free(h);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
    }
    *out = h;
    return FM_OK;
}

int
fm_http_port(const fm_http *h)
{
    return h->port;
}

void
fm_http_stop(fm_http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->loop != NULL) {
        if (h->tick != NULL) {
            fm_net_timer_cancel(h->loop, h->tick);
        }
        fm_net_watch_remove(h->loop, h->epfd);
    }
    MHD_stop_daemon(h->mhd);
    free(h);
}
