/*
 * http (src/http/http.c) on loopback: port 0 binds a free port, the handler sees method, path,
 * raw query and body and its answer arrives as filled; bodies over the cap are refused with
 * 413 whether announced by Content-Length or sent chunked, without the handler running; run
 * on an event loop, every request reaches the handler on the loop's thread and a large answer
 * arrives whole; the query string parser decodes and refuses what it must; assets are served
 * before the handler, and a page of another host can neither read an answer nor change
 * anything, while one of the same host (or an allowed origin) can.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmtest.h"
#include "http/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int calls;

static void
echo(void *ud, const fm_http_req *req, fm_http_resp *resp)
{
    (void)ud;
    __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    if (strcmp(req->path, "/teapot") == 0) {
        resp->status = 418;
        snprintf(resp->content_type, sizeof(resp->content_type), "text/plain");
        snprintf(resp->allow, sizeof(resp->allow), "GET");
        fm_buf_appendf(&resp->body, "short and stout");
        return;
    }
    fm_buf_appendf(&resp->body, "%s|%s|%s|%zu|%.*s", req->method, req->path, req->query,
                   req->body_len, (int)req->body_len, (const char *)req->body);
}

static fm_http *
start(size_t max_body)
{
    fm_http_opts o;
    fm_http *h;
    fm_errbuf eb;
    memset(&o, 0, sizeof(o));
    o.bind_addr = "127.0.0.1";
    o.port = 0;
    o.max_body = max_body;
    o.handler = echo;
    o.component = "test";
    o.error_event = "FM-TEST-HTTP-ERROR";
    assert_int_equal(fm_http_start(&o, &h, &eb), FM_OK);
    assert_true(fm_http_port(h) > 0);
    return h;
}

static void
test_request_reaches_handler_and_answer_comes_back(void **state)
{
    char out[4096], hdr[2048];
    fm_http *h = start(0);
    int port = fm_http_port(h);
    const char *req = "GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)state;
    assert_int_equal(fmt_http(port, "GET", "/a/b?x=1&y=%20z", NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "GET|/a/b|x=1&y=%20z|0|");
    assert_int_equal(fmt_http(port, "POST", "/p", "{\"k\": 1}", out, sizeof(out)), 200);
    assert_string_equal(out, "POST|/p||8|{\"k\": 1}");
    assert_int_equal(fmt_http(port, "DELETE", "/d", NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "DELETE|/d||0|");
    assert_int_equal(fmt_http_raw(port, req, strlen(req), out, sizeof(out), hdr, sizeof(hdr)), 418);
    assert_string_equal(out, "short and stout");
    assert_non_null(strstr(hdr, "Content-Type: text/plain"));
    assert_non_null(strstr(hdr, "Allow: GET"));
    fm_http_stop(h);
}

static void
test_oversize_body_is_413_without_the_handler(void **state)
{
    char out[4096];
    char *big = malloc(2001);
    fm_http *h = start(1000);
    int port = fm_http_port(h), before;
    char chunked[4096];
    int n;
    (void)state;
    memset(big, 'x', 2000);
    big[2000] = '\0';
    before = calls;
    assert_int_equal(fmt_http(port, "POST", "/p", big, out, sizeof(out)), 413);
    assert_non_null(strstr(out, "too large"));
    /* exactly at the cap is fine */
    big[1000] = '\0';
    assert_int_equal(fmt_http(port, "POST", "/p", big, out, sizeof(out)), 200);
    assert_int_equal(calls, before + 1);
    /* chunked, no Content-Length: refused once the cap is passed */
    n = snprintf(chunked, sizeof(chunked),
                 "POST /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n3e8\r\n%s\r\n3e8\r\n%s\r\n0\r\n\r\n",
                 big, big);
    assert_int_equal(fmt_http_raw(port, chunked, (size_t)n, out, sizeof(out), NULL, 0), 413);
    assert_int_equal(calls, before + 1);
    /* the server still answers afterwards */
    assert_int_equal(fmt_http(port, "GET", "/", NULL, out, sizeof(out)), 200);
    free(big);
    fm_http_stop(h);
}

static void
test_bad_bind_address_and_port_in_use(void **state)
{
    fm_http_opts o;
    fm_http *h = start(0), *h2;
    fm_errbuf eb;
    (void)state;
    memset(&o, 0, sizeof(o));
    o.handler = echo;
    o.bind_addr = "not-an-ip";
    assert_int_equal(fm_http_start(&o, &h2, &eb), FM_EINVAL);
    o.bind_addr = "127.0.0.1";
    o.port = fm_http_port(h);
    assert_int_equal(fm_http_start(&o, &h2, &eb), FM_EIO);
    assert_non_null(strstr(eb.msg, "cannot listen"));
    fm_http_stop(h);
    fm_http_stop(NULL);
}

/* ---- on an event loop ---- */

static pthread_t loop_thread;
static int off_loop_calls;

static void
on_loop(void *ud, const fm_http_req *req, fm_http_resp *resp)
{
    (void)ud;
    if (!pthread_equal(pthread_self(), loop_thread)) {
        __atomic_add_fetch(&off_loop_calls, 1, __ATOMIC_SEQ_CST);
    }
    if (strcmp(req->path, "/big") == 0) {
        /* 4 MiB: far more than a socket buffer, so the answer needs many writable events */
        for (int i = 0; i < 4 * 1024; i++) {
            fm_buf_appendf(&resp->body, "%01023d\n", i);
        }
        return;
    }
    fm_buf_appendf(&resp->body, "%s %s", req->method, req->path);
}

static void *
run_loop(void *arg)
{
    fm_net_loop_run(arg);
    return NULL;
}

static void
test_on_a_loop_requests_run_on_its_thread(void **state)
{
    fm_net_loop *loop;
    fm_http_opts o;
    fm_http *h;
    fm_errbuf eb;
    static char out[5 << 20];
    int port;
    (void)state;
    assert_int_equal(fm_net_loop_new(&loop, &eb), FM_OK);
    memset(&o, 0, sizeof(o));
    o.bind_addr = "127.0.0.1";
    o.handler = on_loop;
    o.loop = loop;
    assert_int_equal(fm_http_start(&o, &h, &eb), FM_OK);
    port = fm_http_port(h);
    assert_int_equal(pthread_create(&loop_thread, NULL, run_loop, loop), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fmt_http(port, "GET", "/x", NULL, out, sizeof(out)), 200);
        assert_string_equal(out, "GET /x");
    }
    assert_int_equal(fmt_http(port, "GET", "/big", NULL, out, sizeof(out)), 200);
    assert_int_equal(strlen(out), 4 * 1024 * 1024);
    assert_int_equal(strncmp(out + 4095 * 1024, "0000", 4), 0);
    assert_int_equal(atoi(out + 4095 * 1024), 4095);
    assert_int_equal(off_loop_calls, 0);
    fm_net_loop_stop(loop);
    pthread_join(loop_thread, NULL);
    fm_http_stop(h); /* the loop is ours again: stop before freeing it */
    fm_net_loop_free(loop);
}

static void
test_query_values_decoded_and_refused(void **state)
{
    char v[16];
    (void)state;
    assert_int_equal(fm_http_query_get("a=1&b=x%20y+z", "b", v, sizeof(v)), FM_OK);
    assert_string_equal(v, "x y z");
    assert_int_equal(fm_http_query_get("a=1&a=2", "a", v, sizeof(v)), FM_OK);
    assert_string_equal(v, "1");
    assert_int_equal(fm_http_query_get("ab=1&a=%41%62", "a", v, sizeof(v)), FM_OK);
    assert_string_equal(v, "Ab");
    assert_int_equal(fm_http_query_get("flag&x=1", "flag", v, sizeof(v)), FM_OK);
    assert_string_equal(v, "");
    assert_int_equal(fm_http_query_get("", "a", v, sizeof(v)), FM_ENOTFOUND);
    assert_int_equal(fm_http_query_get("aa=1", "a", v, sizeof(v)), FM_ENOTFOUND);
    assert_int_equal(fm_http_query_get("a=%zz", "a", v, sizeof(v)), FM_EINVAL);
    assert_int_equal(fm_http_query_get("a=%4", "a", v, sizeof(v)), FM_EINVAL);
    assert_int_equal(fm_http_query_get("a=%4&b=1", "a", v, sizeof(v)), FM_EINVAL);
    assert_int_equal(fm_http_query_get("a=%00", "a", v, sizeof(v)), FM_EINVAL);
    assert_int_equal(fm_http_query_get("a=0123456789abcdef", "a", v, sizeof(v)), FM_EINVAL);
    assert_int_equal(fm_http_query_get("a=0123456789abcde", "a", v, sizeof(v)), FM_OK);
}

static const unsigned char page[] = "<p>hi</p>";
static const fm_http_asset assets[] = {
    {"/console/index.html", "text/html; charset=utf-8", page, sizeof(page) - 1},
    {"/console/app.js", "text/javascript; charset=utf-8", page, 2},
    {NULL, NULL, NULL, 0},
};

static int
raw(int port, const char *text, char *out, size_t cap, char *hdr, size_t hcap)
{
    return fmt_http_raw(port, text, strlen(text), out, cap, hdr, hcap);
}

static void
test_assets_and_cross_origin_rules(void **state)
{
    fm_http_opts o;
    fm_http *h;
    fm_errbuf eb;
    char out[4096], hdr[4096];
    int port, before;
    (void)state;
    memset(&o, 0, sizeof(o));
    o.bind_addr = "127.0.0.1";
    o.handler = echo;
    o.assets = assets;
    o.allow_origins = "https://console.example:8443,http://ops.example";
    assert_int_equal(fm_http_start(&o, &h, &eb), FM_OK);
    port = fm_http_port(h);

    assert_int_equal(raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
                         sizeof(out), hdr, sizeof(hdr)),
                     302);
    assert_non_null(strstr(hdr, "Location: /console/"));
    assert_int_equal(fmt_http(port, "GET", "/console/", NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "<p>hi</p>");
    assert_int_equal(raw(port,
                         "GET /console/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         out, sizeof(out), hdr, sizeof(hdr)),
                     200);
    assert_string_equal(out, "<p");
    assert_non_null(strstr(hdr, "Content-Type: text/javascript"));
    assert_int_equal(fmt_http(port, "GET", "/console/missing.js", NULL, out, sizeof(out)), 404);
    before = calls;
    assert_int_equal(fmt_http(port, "GET", "/api", NULL, out, sizeof(out)), 200);
    assert_int_equal(calls, before + 1); /* not an asset: the handler's */

    /* another host's page: a POST never reaches the handler, a GET carries no CORS header */
    before = calls;
    assert_int_equal(raw(port,
                         "POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
                         "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                         out, sizeof(out), hdr, sizeof(hdr)),
                     403);
    assert_int_equal(calls, before);
    assert_int_equal(
        raw(port,
            "OPTIONS /api HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
            "Connection: close\r\n\r\n",
            out, sizeof(out), hdr, sizeof(hdr)),
        403);
    assert_int_equal(raw(port,
                         "GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
                         "Connection: close\r\n\r\n",
                         out, sizeof(out), hdr, sizeof(hdr)),
                     200);
    assert_null(strstr(hdr, "Access-Control-Allow-Origin"));

    /* the same host on another port (the console on the replicator calling a broker) */
    assert_int_equal(
        raw(port,
            "OPTIONS /api HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8090\r\n"
            "Connection: close\r\n\r\n",
            out, sizeof(out), hdr, sizeof(hdr)),
        204);
    assert_non_null(strstr(hdr, "Access-Control-Allow-Origin: http://127.0.0.1:8090"));
    assert_non_null(strstr(hdr, "Access-Control-Allow-Methods: GET, POST, DELETE"));
    before = calls;
    assert_int_equal(
        raw(port,
            "POST /api HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8090\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
            out, sizeof(out), hdr, sizeof(hdr)),
        200);
    assert_int_equal(calls, before + 1);
    assert_non_null(strstr(hdr, "Access-Control-Allow-Origin: http://127.0.0.1:8090"));
    /* a listed origin from anywhere; a prefix of a listed one is not it */
    assert_int_equal(
        raw(port,
            "POST /api HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nOrigin: http://ops.example\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
            out, sizeof(out), hdr, sizeof(hdr)),
        200);
    assert_int_equal(
        raw(port,
            "POST /api HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nOrigin: http://ops.exampl\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
            out, sizeof(out), hdr, sizeof(hdr)),
        403);
    fm_http_stop(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_reaches_handler_and_answer_comes_back),
        cmocka_unit_test(test_oversize_body_is_413_without_the_handler),
        cmocka_unit_test(test_bad_bind_address_and_port_in_use),
        cmocka_unit_test(test_on_a_loop_requests_run_on_its_thread),
        cmocka_unit_test(test_query_values_decoded_and_refused),
        cmocka_unit_test(test_assets_and_cross_origin_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
