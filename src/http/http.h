/*
 * http.h - a small HTTP/1.1 server over libmicrohttpd for the daemon's admin surfaces (the
 * replicator's task API today, the broker's later): one handler callback sees each complete
 * request (method, path, raw query string, body) and fills the status, content type and body.
 * The module knows no routes; roles own them.
 *
 * Two ways to run. Without opts.loop, requests run on libmicrohttpd's internal thread(s), never
 * the caller's (the replicator: its engine is thread-safe). With opts.loop, libmicrohttpd has
 * no thread of its own: its epoll fd is watched by that event loop and every request runs on
 * the loop's thread (the broker: its state is loop-thread only, so no lock is needed, and a
 * handler must be quick because the loop serves producers too). A request body over
 * fm_http_opts.max_body is answered 413 without the handler being called (when the client
 * announces the size in Content-Length, before the body is read). Every answer with status
 * >= 400 is logged at WARN under opts.error_event with method, path, status and the
 * handler's log_msg, so a client's error is always visible in the log.
 *
 * Browsers: with opts.assets the server answers "/" (302 to /console/), "/console/" (its
 * index.html) and every asset itself. A request from a page of another origin (an Origin
 * header) is let through only when that origin's host is the host the request was sent to,
 * on any port: the console served by one process (a replicator) may then call the others on
 * the same host (each region's broker), or when it is listed in opts.allow_origins; a page of
 * any other site can neither read an answer nor change anything (a POST or DELETE from it is
 * answered 403 without the handler).
 * OPTIONS preflights are answered here.
 *
 * Ownership: fm_http_start returns a server the caller stops with fm_http_stop. Thread:
 * start and stop from one thread (with opts.loop: the loop's, before the loop is freed); the
 * handler is called from the server's threads (with threads > 1 concurrently), so whatever it
 * touches must be thread-safe, or from the loop's thread with opts.loop.
 */
#ifndef FM_HTTP_HTTP_H
#define FM_HTTP_HTTP_H

#include "common/buf.h"
#include "common/errors.h"
#include "net/net.h"

#include <stddef.h>
#include <stdint.h>

#define FM_HTTP_MAX_BODY_DEFAULT (1024 * 1024)

typedef struct fm_http fm_http;

/** One request as the handler sees it; every pointer is valid during the call only. */
typedef struct fm_http_req {
    const char *method; /* "GET", "POST", ... as sent */
    const char *path;   /* without the query string, percent-decoded by libmicrohttpd */
    const char *query;  /* raw text after '?', "" when none */
    const uint8_t *body;
    size_t body_len;
} fm_http_req;

/** The answer the handler fills. status defaults to 200, content_type to application/json. */
typedef struct fm_http_resp {
    int status;
    char content_type[64];
    fm_buf body;
    char allow[64];     /* with 405: the Allow header ("GET, POST"); "" = none */
    char log_msg[256];  /* why, for the error log line of an answer >= 400 */
    char location[128]; /* with 3xx: the Location header */
    int no_cache;       /* send Cache-Control: no-cache */
} fm_http_resp;

/** A file the server answers GET path with itself (the console, web/), before the handler. */
typedef struct fm_http_asset {
    const char *path; /* "/console/app.js"; a NULL path ends a table */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} fm_http_asset;

/** Called once per complete request on a server thread; must fill resp, must not block long. */
typedef void (*fm_http_handler)(void *ud, const fm_http_req *req, fm_http_resp *resp);

typedef struct fm_http_opts {
    const char *bind_addr; /* IPv4 address to listen on, e.g. "127.0.0.1" */
    int port;              /* 0 = any free port (see fm_http_port) */
    size_t max_body;       /* 0 = FM_HTTP_MAX_BODY_DEFAULT */
    unsigned threads;      /* 0 or 1 = one internal thread; more = a pool; ignored with loop */
    fm_net_loop *loop;     /* NULL = own threads; else run on this loop's thread (borrowed) */
    const fm_http_asset *assets; /* NULL = none; else "/" redirects to /console/ (borrowed) */
    const char *allow_origins;   /* comma-separated origins also let through; NULL = none */
    const char *component;       /* log component, e.g. "repl" */
    const char *error_event;     /* log event id of answers >= 400, e.g. "FM-REPL-HTTP-ERROR" */
    fm_http_handler handler;
    void *ud;
} fm_http_opts;

/**
 * Bind and start serving. FM_OK with *out set; FM_EINVAL (bad bind address or no handler),
 * FM_EIO (bind failed, e.g. port in use: eb says so), FM_ENOMEM.
 */
int fm_http_start(const fm_http_opts *opts, fm_http **out, fm_errbuf *eb);

/**
 * The value of `key` in a raw query string ("a=1&b=x%20y"), '+' and %XX decoded, into out (cap
 * bytes, NUL-terminated). FM_OK; FM_ENOTFOUND when absent; FM_EINVAL when the value does not
 * fit, has a bad %-escape or decodes to a NUL byte. A key given twice: the first wins.
 */
int fm_http_query_get(const char *query, const char *key, char *out, size_t cap);

/** The bound TCP port (the one chosen when opts.port was 0). */
int fm_http_port(const fm_http *h);

/** Stop listening, wait for requests in progress to finish, free. NULL is a no-op. */
void fm_http_stop(fm_http *h);

#endif
