#include "fmclient.h"

#include "fmtest.h"
#include "proto/codes.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t next_opaque = 1;

static int
encode(fm_buf *out, int serialize, int code, const char *const *kv, fm_slice body, int32_t opaque)
{
    fm_cmd_ext ext[FM_PROTO_MAX_EXT];
    fm_cmd c;
    size_t n = 0;
    for (; kv != NULL && kv[2 * n] != NULL && n < FM_PROTO_MAX_EXT; n++) {
        ext[n].key = fm_slice_cstr(kv[2 * n]);
        ext[n].val = fm_slice_cstr(kv[2 * n + 1]);
    }
    memset(&c, 0, sizeof(c));
    c.code = code;
    c.language = FM_LANG_OTHER;
    c.version = 453;
    c.opaque = opaque;
    c.serialize = serialize;
    c.ext = ext;
    c.n_ext = n;
    c.body = body;
    return fm_proto_cmd_encode(out, &c, NULL);
}

int
fmt_send(int fd, int serialize, int code, const char *const *kv, fm_slice body)
{
    fm_buf b = {0};
    int32_t opaque = next_opaque++;
    int rc = encode(&b, serialize, code, kv, body, opaque);
    if (rc == FM_OK) {
        rc = fmt_write_all(fd, b.data, b.len);
    }
    fm_buf_free(&b);
    return rc == 0 ? opaque : -1;
}

int
fmt_recv(int fd, fmt_resp *resp)
{
    ssize_t n;
    size_t len;
    fm_errbuf eb;
    fm_buf_reset(&resp->frame);
    if (fm_buf_reserve(&resp->frame, 64 << 20) != FM_OK) {
        return -1;
    }
    n = fmt_read_frame(fd, resp->frame.data, resp->frame.cap);
    if (n <= 0) {
        return -1;
    }
    len = (size_t)n;
    resp->frame.len = len;
    if (fm_proto_cmd_decode(resp->frame.data, len, &resp->arena, &resp->cmd, &eb) != FM_OK) {
        fprintf(stderr, "fmclient: bad response frame: %s\n", eb.msg);
        return -1;
    }
    return 0;
}

int
fmt_request(int fd, int serialize, int code, const char *const *kv, fm_slice body, fmt_resp *resp)
{
    int opaque = fmt_send(fd, serialize, code, kv, body);
    if (opaque < 0) {
        return -1;
    }
    for (;;) {
        if (fmt_recv(fd, resp) != 0) {
            return -1;
        }
        if (resp->cmd.opaque == opaque && (resp->cmd.flag & FM_CMD_FLAG_RESPONSE)) {
            return 0;
        }
    }
}

const char *
fmt_ext(const fmt_resp *resp, const char *key)
{
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ & 7];
    fm_slice v = fm_cmd_ext_get(&resp->cmd, key);
    fm_slice_to_cstr(v, b, sizeof(bufs[0]));
    return b;
}

const char *
fmt_remark(const fmt_resp *resp)
{
    static char bufs[4][512];
    static int i;
    char *b = bufs[i++ & 3];
    fm_slice_to_cstr(resp->cmd.remark, b, sizeof(bufs[0]));
    return b;
}

void
fmt_resp_free(fmt_resp *resp)
{
    fm_buf_free(&resp->frame);
    fm_proto_arena_free(&resp->arena);
}

int
fmt_send_msg(int fd, const char *topic, int qid, const char *body, const char *tags,
             const char *keys, int64_t *queue_offset, char *msg_id, size_t msg_id_cap)
{
    fm_buf props = {0};
    char qid_s[16], born[24];
    fmt_resp resp = {0};
    int code = -1;
    snprintf(qid_s, sizeof(qid_s), "%d", qid);
    snprintf(born, sizeof(born), "%lld", (long long)fmt_now_ms());
    if (tags != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("TAGS"), fm_slice_cstr(tags));
    }
    if (keys != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(keys));
    }
    fm_buf_append_u8(&props, 0); /* NUL for use as a C string below */
    props.len--;
    {
        const char *kv[] = {
            "a", "it-producer", "b", topic,   "c", "TBW102",
            "d", "4",           "e", qid_s,   "f", "0",
            "g", born,          "h", "0",     "i", props.len ? (char *)props.data : "",
            "j", "0",           "k", "false", NULL};
        if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_SEND_MESSAGE_V2, kv, fm_slice_cstr(body),
                        &resp) == 0) {
            code = resp.cmd.code;
            if (queue_offset != NULL) {
                *queue_offset = atoll(fmt_ext(&resp, "queueOffset"));
            }
            if (msg_id != NULL) {
                snprintf(msg_id, msg_id_cap, "%s", fmt_ext(&resp, "msgId"));
            }
        }
    }
    fmt_resp_free(&resp);
    fm_buf_free(&props);
    return code;
}

int
fmt_pull(int fd, const char *group, const char *topic, int qid, int64_t offset, int max_msgs,
         const char *sub, const char *expr_type, fmt_resp *resp)
{
    char qs[16], os[24], ms[16];
    snprintf(qs, sizeof(qs), "%d", qid);
    snprintf(os, sizeof(os), "%lld", (long long)offset);
    snprintf(ms, sizeof(ms), "%d", max_msgs);
    const char *kv[] = {"consumerGroup",
                        group,
                        "topic",
                        topic,
                        "queueId",
                        qs,
                        "queueOffset",
                        os,
                        "maxMsgNums",
                        ms,
                        "sysFlag",
                        "4",
                        "commitOffset",
                        "0",
                        "suspendTimeoutMillis",
                        "0",
                        "subscription",
                        sub,
                        "subVersion",
                        "0",
                        "expressionType",
                        expr_type,
                        NULL};
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_PULL_MESSAGE, kv, fm_slice_make(NULL, 0), resp) !=
        0) {
        return -1;
    }
    return resp->cmd.code;
}

int
fmt_count_records(fm_slice body)
{
    const uint8_t *p = body.ptr;
    size_t left = body.len;
    int n = 0;
    while (left >= 4) {
        uint32_t sz = fm_be32(p);
        if (sz < 4 || sz > left) {
            return -1;
        }
        n++;
        p += sz;
        left -= sz;
    }
    return left == 0 ? n : -1;
}

int
fmt_store_times(fm_slice body, int64_t *out, int max)
{
    size_t pos = 0;
    int n = 0;
    while (n < max && pos < body.len) {
        fm_msg_view m;
        if (fm_msg_decode(body.ptr + pos, body.len - pos, &m, NULL) != FM_OK) {
            return -1;
        }
        out[n++] = m.store_timestamp;
        pos += (size_t)m.total_size;
    }
    return n;
}
