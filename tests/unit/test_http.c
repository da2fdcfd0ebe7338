/*
 * http (src/http/http.c) on loopback: port 0 binds a free port, the handler sees method, path,
 * raw query and body and its answer arrives as filled; bodies over the cap are refused with
 * 413 whether announced by Content-Length or sent chunked, without the handler running.
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_reaches_handler_and_answer_comes_back),
        cmocka_unit_test(test_oversize_body_is_413_without_the_handler),
        cmocka_unit_test(test_bad_bind_address_and_port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
