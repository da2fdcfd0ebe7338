/*
 * route.c - topic routes from the name server (GET_ROUTEINFO_BY_TOPIC), flattened to the
 * writable queues of each master.
 */
#include "client/client_int.h"

#include "common/clock.h"
#include "proto/codes.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
fm_client_route_parse(const uint8_t *body, size_t len, client_route **out, fm_errbuf *eb)
{
    cJSON *root = NULL, *qds, *bds, *qd;
    client_route *r = NULL;
    int total = 0, rc = fm_client_json_parse(body, len, &root, eb);

    if (rc == FM_ENOMEM) {
        return rc;
    }
    rc = FM_OK;
    /* brokerAddrs is a Map<Long,String>: {0:"ip:port"} from fastjson, normalised above */
    qds = cJSON_GetObjectItemCaseSensitive(root, "queueDatas");
    bds = cJSON_GetObjectItemCaseSensitive(root, "brokerDatas");
    if (!cJSON_IsArray(qds) || !cJSON_IsArray(bds)) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_EPROTO, "route is not TopicRouteData JSON");
    }
    cJSON_ArrayForEach(qd, qds)
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(qd, "writeQueueNums");
        const cJSON *rd = cJSON_GetObjectItemCaseSensitive(qd, "readQueueNums");
        int n = cJSON_IsNumber(w) && w->valueint > 0 && w->valueint <= 1024 ? w->valueint : 0;
        if (cJSON_IsNumber(rd) && rd->valueint > n && rd->valueint <= 1024) {
            n = rd->valueint;
        }
        total += n;
    }
    r = calloc(1, sizeof(*r) + (size_t)(total > 0 ? total : 1) * sizeof(route_queue));
    if (r == NULL) {
        cJSON_Delete(root);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    atomic_init(&r->refs, 1);
    cJSON_ArrayForEach(qd, qds)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(qd, "brokerName");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(qd, "writeQueueNums");
        const cJSON *rd = cJSON_GetObjectItemCaseSensitive(qd, "readQueueNums");
        const cJSON *perm = cJSON_GetObjectItemCaseSensitive(qd, "perm");
        const cJSON *addr = NULL, *bd;
        int nw = cJSON_IsNumber(w) && w->valueint > 0 && w->valueint <= 1024 ? w->valueint : 0;
        int nr = cJSON_IsNumber(rd) && rd->valueint > 0 && rd->valueint <= 1024 ? rd->valueint : 0;
        int pm = cJSON_IsNumber(perm) ? perm->valueint : 6;
        if (!cJSON_IsString(name) || (nw == 0 && nr == 0)) {
            continue;
        }
        cJSON_ArrayForEach(bd, bds)
        {
            const cJSON *bn = cJSON_GetObjectItemCaseSensitive(bd, "brokerName");
            if (cJSON_IsString(bn) && strcmp(bn->valuestring, name->valuestring) == 0) {
                addr = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(bd, "brokerAddrs"), "0");
            }
        }
        if (!cJSON_IsString(addr)) {
            continue; /* no master online: its queues cannot take writes */
        }
        for (int q = 0; q < (nw > nr ? nw : nr) && r->n < total; q++) {
            route_queue *rq = &r->q[r->n++];
            snprintf(rq->broker_name, sizeof(rq->broker_name), "%s", name->valuestring);
            snprintf(rq->addr, sizeof(rq->addr), "%s", addr->valuestring);
            rq->qid = q;
            rq->writable = q < nw && (pm & 2);
            rq->readable = q < nr && (pm & 4);
        }
    }
    cJSON_Delete(root);
    if (r->n == 0) {
        free(r);
        return fm_err_set(eb, FM_ENOTFOUND, "route has no queue on a master");
    }
    /* writable queues first (each group in route order), so a send picks q[k] directly */
    {
        route_queue *tmp = malloc((size_t)r->n * sizeof(*tmp));
        int k = 0;
        if (tmp == NULL) {
            free(r);
            return fm_err_set(eb, FM_ENOMEM, "out of memory");
        }
        for (int pass = 1; pass >= 0; pass--) {
            for (int i = 0; i < r->n; i++) {
                if ((r->q[i].writable != 0) == pass) {
                    tmp[k++] = r->q[i];
                }
            }
            if (pass == 1) {
                r->n_writable = k;
            }
        }
        memcpy(r->q, tmp, (size_t)r->n * sizeof(*tmp));
        free(tmp);
    }
    r->fetched_ms = fm_clock_mono_ms();
    *out = r;
    return rc;
}

int
fm_client_route_fetch(fm_client_rpc *rpc, const char *namesrv_addrs, const char *topic,
                      int timeout_ms, client_route **out, fm_errbuf *eb)
{
    char list[FM_CONFIG_STR_MAX], *save = NULL, *addr;
    int rc = fm_err_set(eb, FM_EINVAL, "namesrvAddr is empty");
    snprintf(list, sizeof(list), "%s", namesrv_addrs);
    /* Any name server will do: they all hold every broker's registration. */
    for (addr = strtok_r(list, ";", &save); addr != NULL; addr = strtok_r(NULL, ";", &save)) {
        fm_buf frame = {0}, resp_frame = {0};
        fm_cmd req, resp;
        fm_cmd_arena arena;
        fm_cmd_ext ext[1] = {{FM_SLICE_LIT("topic"), fm_slice_cstr(topic)}};
        int32_t opaque = fm_client_rpc_next_opaque(rpc);
        fm_proto_arena_init(&arena);
        memset(&req, 0, sizeof(req));
        req.code = FM_REQ_GET_ROUTEINFO_BY_TOPIC;
        req.opaque = opaque;
        req.serialize = FM_SERIALIZE_JSON;
        req.ext = ext;
        req.n_ext = 1;
        rc = fm_proto_cmd_encode(&frame, &req, eb);
        if (rc == FM_OK) {
            rc = fm_client_rpc_call_sync(rpc, addr, &frame, opaque, timeout_ms, &resp_frame, &arena,
                                         &resp, eb);
        }
        if (rc == FM_OK) {
            if (resp.code == FM_RESP_SUCCESS) {
                rc = fm_client_route_parse(resp.body.ptr, resp.body.len, out, eb);
            } else if (resp.code == FM_RESP_TOPIC_NOT_EXIST) {
                rc = fm_err_set(eb, FM_ENOTFOUND, "no route for topic %s", topic);
            } else {
                rc = fm_err_set(eb, FM_EIO, "name server %s answered code %d", addr, resp.code);
            }
        }
        fm_buf_free(&frame);
        fm_buf_free(&resp_frame);
        fm_proto_arena_free(&arena);
        if (rc == FM_OK || rc == FM_ENOTFOUND) {
            return rc;
        }
    }
    return rc;
}
