/*
 * core.c - what producers, consumers and admin handles share: options, the transport and a
 * route cache.
 */
#include "client/client_int.h"

#include "common/clock.h"

#include <stdlib.h>
#include <string.h>

int
fm_client_core_init(client_core *core, const ferrymq_conf *conf, fm_errbuf *eb)
{
    int rc;
    memset(core, 0, sizeof(*core));
    core->conf = *conf;
    if (conf->s.namesrvAddr[0] == '\0') {
        return fm_err_set(eb, FM_EINVAL, "namesrvAddr is required");
    }
    rc = fm_client_rpc_new(&core->rpc, eb);
    if (rc != FM_OK) {
        return rc;
    }
    pthread_mutex_init(&core->mu, NULL);
    return FM_OK;
}

int
fm_client_core_init_shared(client_core *core, const ferrymq_conf *conf, client_core *with,
                           fm_errbuf *eb)
{
    memset(core, 0, sizeof(*core));
    core->conf = *conf;
    if (conf->s.namesrvAddr[0] == '\0') {
        return fm_err_set(eb, FM_EINVAL, "namesrvAddr is required");
    }
    core->rpc = with->rpc;
    core->borrowed_rpc = 1;
    pthread_mutex_init(&core->mu, NULL);
    return FM_OK;
}

void
fm_client_route_release(client_route *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
        free(r);
    }
}

static void
route_release_val(void *val)
{
    fm_client_route_release(val);
}

void
fm_client_core_destroy(client_core *core)
{
    if (!core->borrowed_rpc) {
        fm_client_rpc_free(core->rpc);
    }
    fm_map_free_values(&core->routes, route_release_val);
    pthread_mutex_destroy(&core->mu);
}

int
fm_client_core_route(client_core *core, const char *topic, int refresh, int default_fallback,
                     client_route **out, fm_errbuf *eb)
{
    client_route *r;
    int rc = FM_OK;
    int timeout = (int)core->conf.s.sendMsgTimeout;
    pthread_mutex_lock(&core->mu);
    r = fm_map_get(&core->routes, topic, strlen(topic));
    if (r == NULL || refresh ||
        fm_clock_mono_ms() - r->fetched_ms > core->conf.s.pollNameServerInterval) {
        client_route *fresh = NULL;
        /* Fetched under the lock: one lookup per topic at a time; cached routes never wait
         * on the network. */
        rc = fm_client_route_fetch(core->rpc, core->conf.s.namesrvAddr, topic, timeout, &fresh, eb);
        if (rc == FM_ENOTFOUND && default_fallback) {
            rc = fm_client_route_fetch(core->rpc, core->conf.s.namesrvAddr, "TBW102", timeout,
                                       &fresh, eb);
            if (rc == FM_OK) {
                int keep = 0;
                for (int i = 0; i < fresh->n; i++) {
                    if (fresh->q[i].qid < 4 && fresh->q[i].writable) {
                        fresh->q[keep++] = fresh->q[i];
                    }
                }
                fresh->n = fresh->n_writable = keep;
                fresh->via_default = 1;
            } else {
                rc = fm_err_set(eb, FM_ENOTFOUND, "no route for topic %s", topic);
            }
        }
        if (rc == FM_OK) {
            fm_client_route_release(r); /* users of the old snapshot keep theirs */
            if (fm_map_put(&core->routes, topic, strlen(topic), fresh) != FM_OK) {
                fm_map_del(&core->routes, topic, strlen(topic));
                fm_client_route_release(fresh);
                rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
            }
            r = rc == FM_OK ? fresh : NULL;
        } else if (r != NULL && rc != FM_ENOTFOUND) {
            rc = FM_OK; /* a name server hiccup: keep using the route we had */
        }
    }
    if (rc == FM_OK) {
        atomic_fetch_add(&r->refs, 1);
        *out = r;
    }
    pthread_mutex_unlock(&core->mu);
    return rc;
}

static void
request_init(fm_cmd *req, int code, int flag, int32_t opaque, const fm_cmd_ext *ext, size_t n_ext)
{
    memset(req, 0, sizeof(*req));
    req->code = code;
    req->language = FM_LANG_OTHER;
    req->flag = flag;
    req->opaque = opaque;
    req->serialize = FM_SERIALIZE_ROCKETMQ;
    req->ext = (fm_cmd_ext *)ext;
    req->n_ext = n_ext;
}

int
fm_client_request_encode(fm_buf *frame, int code, int flag, int32_t opaque, const fm_cmd_ext *ext,
                         size_t n_ext, fm_slice body, fm_errbuf *eb)
{
    fm_cmd req;
    request_init(&req, code, flag, opaque, ext, n_ext);
    req.body = body;
    return fm_proto_cmd_encode(frame, &req, eb);
}

int
fm_client_request_encode_header(fm_buf *frame, int code, int flag, int32_t opaque,
                                const fm_cmd_ext *ext, size_t n_ext, size_t body_len, fm_errbuf *eb)
{
    fm_cmd req;
    request_init(&req, code, flag, opaque, ext, n_ext);
    return fm_proto_cmd_encode_header(frame, &req, body_len, eb);
}

int
fm_client_core_call(client_core *core, const char *addr, int code, const fm_cmd_ext *ext,
                    size_t n_ext, fm_slice body, int timeout_ms, fm_buf *resp_frame,
                    fm_cmd_arena *arena, fm_cmd *resp, fm_errbuf *eb)
{
    fm_buf frame = {0};
    int32_t opaque = fm_client_rpc_next_opaque(core->rpc);
    int rc = fm_client_request_encode(&frame, code, 0, opaque, ext, n_ext, body, eb);
    if (rc == FM_OK) {
        int t = timeout_ms > 0 ? timeout_ms : (int)core->conf.s.sendMsgTimeout;
        rc = fm_client_rpc_call_sync(core->rpc, addr, &frame, opaque, t, resp_frame, arena, resp,
                                     eb);
    }
    fm_buf_free(&frame);
    return rc;
}

int
fm_client_handle_new(size_t size, const ferrymq_conf *conf, void **out, char *errstr,
                     size_t errstr_size)
{
    client_core *core;
    fm_errbuf eb;
    int rc;
    if (conf == NULL || out == NULL) {
        fm_client_errstr(errstr, errstr_size, "conf and out are required");
        return FERRYMQ_EINVAL;
    }
    core = calloc(1, size);
    if (core == NULL) {
        fm_client_errstr(errstr, errstr_size, "out of memory");
        return FERRYMQ_ENOMEM;
    }
    rc = fm_client_core_init(core, conf, &eb);
    if (rc != FM_OK) {
        free(core);
        fm_client_errstr(errstr, errstr_size, "%s", eb.msg);
        return rc;
    }
    *out = core;
    return FERRYMQ_OK;
}

void
fm_client_handle_free(void *handle)
{
    if (handle != NULL) {
        fm_client_core_destroy(handle);
        free(handle);
    }
}
