#include "proto/frame.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *const lang_names[] = {"JAVA",   "CPP",  "DOTNET", "PYTHON", "DELPHI",
                                         "ERLANG", "RUBY", "OTHER",  "HTTP",   "GO",
                                         "PHP",    "OMS",  "RUST"};
#define N_LANGS (int)(sizeof(lang_names) / sizeof(lang_names[0]))

void
fm_proto_arena_init(fm_cmd_arena *a)
{
    memset(a, 0, sizeof(*a));
}

void
fm_proto_arena_free(fm_cmd_arena *a)
{
    if (a->json != NULL) {
        cJSON_Delete(a->json);
        a->json = NULL;
    }
}

int
fm_proto_frame_len(const uint8_t *p, size_t avail, size_t max_frame, size_t *frame_len)
{
    uint32_t total;
    if (avail < 4) {
        return FM_EAGAIN;
    }
    total = fm_be32(p);
    /* The length covers at least the header-length word; int32 on the wire, so a length with
     * the sign bit set is as malformed as one over the limit. */
    if (total < 4 || total > 0x7FFFFFFFu || (size_t)total > max_frame - 4) {
        return FM_EPROTO;
    }
    *frame_len = (size_t)total + 4;
    return FM_OK;
}

const char *
fm_proto_lang_name(int lang)
{
    return lang >= 0 && lang < N_LANGS ? lang_names[lang] : "OTHER";
}

static int
lang_from_name(const char *s)
{
    for (int i = 0; i < N_LANGS; i++) {
        if (strcmp(s, lang_names[i]) == 0) {
            return i;
        }
    }
    return FM_LANG_OTHER;
}

static int
decode_json(const uint8_t *h, size_t hlen, fm_cmd_arena *a, fm_cmd *out, fm_errbuf *eb)
{
    cJSON *root, *v, *ext;
    size_t n = 0;

    root = cJSON_ParseWithLength((const char *)h, hlen);
    if (root == NULL) {
        return fm_err_set(eb, FM_EPROTO, "JSON header does not parse");
    }
    a->json = root;
    if (!cJSON_IsObject(root)) {
        return fm_err_set(eb, FM_EPROTO, "JSON header is not an object");
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "code");
    if (!cJSON_IsNumber(v) || v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0) {
        return fm_err_set(eb, FM_EPROTO, "JSON header lacks a numeric code");
    }
    out->code = (int)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(root, "language");
    out->language = cJSON_IsString(v)   ? lang_from_name(v->valuestring)
                    : cJSON_IsNumber(v) ? v->valueint
                                        : FM_LANG_JAVA;
    v = cJSON_GetObjectItemCaseSensitive(root, "version");
    out->version = cJSON_IsNumber(v) ? v->valueint : 0;
    v = cJSON_GetObjectItemCaseSensitive(root, "opaque");
    if (v != NULL && !cJSON_IsNumber(v)) {
        return fm_err_set(eb, FM_EPROTO, "JSON header opaque is not a number");
    }
    /* opaque is a Java int; clients wrap it, so take it modulo 2^32. */
    out->opaque = v ? (int32_t)(uint32_t)(int64_t)v->valuedouble : 0;
    v = cJSON_GetObjectItemCaseSensitive(root, "flag");
    if (v != NULL && !cJSON_IsNumber(v)) {
        return fm_err_set(eb, FM_EPROTO, "JSON header flag is not a number");
    }
    out->flag = v ? v->valueint : 0;
    v = cJSON_GetObjectItemCaseSensitive(root, "remark");
    if (cJSON_IsString(v)) {
        out->remark = fm_slice_cstr(v->valuestring);
    }
    ext = cJSON_GetObjectItemCaseSensitive(root, "extFields");
    if (ext != NULL && !cJSON_IsNull(ext)) {
        cJSON *f;
        if (!cJSON_IsObject(ext)) {
            return fm_err_set(eb, FM_EPROTO, "JSON header extFields is not an object");
        }
        cJSON_ArrayForEach(f, ext)
        {
            fm_slice val;
            if (n == FM_PROTO_MAX_EXT) {
                return fm_err_set(eb, FM_EPROTO, "more than %d header fields", FM_PROTO_MAX_EXT);
            }
            /* Java sends every field as a string; other clients send numbers and booleans
             * for numeric fields, which mean the same thing. */
            if (cJSON_IsString(f)) {
                val = fm_slice_cstr(f->valuestring);
            } else if (cJSON_IsNumber(f)) {
                double d = f->valuedouble;
                if (d == (double)(int64_t)d) {
                    snprintf(a->nums[n], sizeof(a->nums[n]), "%lld", (long long)(int64_t)d);
                } else {
                    snprintf(a->nums[n], sizeof(a->nums[n]), "%.17g", d);
                }
                val = fm_slice_cstr(a->nums[n]);
            } else if (cJSON_IsBool(f)) {
                snprintf(a->nums[n], sizeof(a->nums[n]), "%s", cJSON_IsTrue(f) ? "true" : "false");
                val = fm_slice_cstr(a->nums[n]);
            } else if (cJSON_IsNull(f)) {
                continue;
            } else {
                return fm_err_set(eb, FM_EPROTO, "header field '%s' is not a string",
                                  f->string ? f->string : "?");
            }
            a->ext[n].key = fm_slice_cstr(f->string);
            a->ext[n].val = val;
            n++;
        }
    }
    out->ext = a->ext;
    out->n_ext = n;
    return FM_OK;
}

static int
decode_binary(const uint8_t *h, size_t hlen, fm_cmd_arena *a, fm_cmd *out, fm_errbuf *eb)
{
    size_t pos = 0, n = 0;
    uint32_t rlen, elen;
    if (hlen < 17) {
        return fm_err_set(eb, FM_EPROTO, "binary header is %zu bytes, needs at least 17", hlen);
    }
    out->code = (int16_t)fm_be16(h);
    out->language = h[2];
    out->version = (int16_t)fm_be16(h + 3);
    out->opaque = (int32_t)fm_be32(h + 5);
    out->flag = (int32_t)fm_be32(h + 9);
    rlen = fm_be32(h + 13);
    pos = 17;
    if (rlen > hlen - pos) {
        return fm_err_set(eb, FM_EPROTO, "binary header remark length %u exceeds header", rlen);
    }
    if (rlen > 0) {
        out->remark = fm_slice_make(h + pos, rlen);
    }
    pos += rlen;
    if (hlen - pos < 4) {
        return fm_err_set(eb, FM_EPROTO, "binary header truncated before extFields length");
    }
    elen = fm_be32(h + pos);
    pos += 4;
    if (elen > hlen - pos) {
        return fm_err_set(eb, FM_EPROTO, "binary header extFields length %u exceeds header", elen);
    }
    {
        const uint8_t *e = h + pos;
        size_t epos = 0;
        while (epos < elen) {
            uint16_t kl;
            uint32_t vl;
            if (n == FM_PROTO_MAX_EXT) {
                return fm_err_set(eb, FM_EPROTO, "more than %d header fields", FM_PROTO_MAX_EXT);
            }
            if (elen - epos < 2) {
                return fm_err_set(eb, FM_EPROTO, "header field key length truncated");
            }
            kl = fm_be16(e + epos);
            epos += 2;
            if (kl > elen - epos || elen - epos - kl < 4) {
                return fm_err_set(eb, FM_EPROTO, "header field key exceeds extFields");
            }
            a->ext[n].key = fm_slice_make(e + epos, kl);
            epos += kl;
            vl = fm_be32(e + epos);
            epos += 4;
            if (vl > elen - epos) {
                return fm_err_set(eb, FM_EPROTO, "header field value exceeds extFields");
            }
            a->ext[n].val = fm_slice_make(e + epos, vl);
            epos += vl;
            n++;
        }
    }
    out->ext = a->ext;
    out->n_ext = n;
    return FM_OK;
}

int
fm_proto_cmd_decode(const uint8_t *frame, size_t len, fm_cmd_arena *arena, fm_cmd *out,
                    fm_errbuf *eb)
{
    uint32_t total, word;
    size_t hlen;
    int type, rc;

    memset(out, 0, sizeof(*out));
    fm_proto_arena_free(arena);
    if (len < FM_PROTO_MIN_FRAME) {
        return fm_err_set(eb, FM_EPROTO, "frame of %zu bytes is shorter than 8", len);
    }
    total = fm_be32(frame);
    if ((size_t)total != len - 4) {
        return fm_err_set(eb, FM_EPROTO, "frame length %u does not match %zu bytes", total,
                          len - 4);
    }
    word = fm_be32(frame + 4);
    type = (int)(word >> 24);
    hlen = word & 0xFFFFFFu;
    if (hlen > len - FM_PROTO_MIN_FRAME) {
        return fm_err_set(eb, FM_EPROTO, "header length %zu exceeds frame", hlen);
    }
    if (type == FM_SERIALIZE_JSON) {
        rc = decode_json(frame + 8, hlen, arena, out, eb);
    } else if (type == FM_SERIALIZE_ROCKETMQ) {
        rc = decode_binary(frame + 8, hlen, arena, out, eb);
    } else {
        return fm_err_set(eb, FM_EPROTO, "unknown serialize type %d", type);
    }
    if (rc != FM_OK) {
        return rc;
    }
    out->serialize = type;
    out->body = fm_slice_make(frame + 8 + hlen, len - FM_PROTO_MIN_FRAME - hlen);
    return FM_OK;
}

void
fm_proto_cmd_response_init(fm_cmd *resp, const fm_cmd *req, int code)
{
    memset(resp, 0, sizeof(*resp));
    resp->code = code;
    resp->language = FM_LANG_JAVA;
    resp->version = FM_PROTO_VERSION;
    resp->opaque = req->opaque;
    resp->flag = FM_CMD_FLAG_RESPONSE;
    resp->serialize = req->serialize;
}

fm_slice
fm_cmd_ext_get(const fm_cmd *c, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < c->n_ext; i++) {
        if (c->ext[i].key.len == kl && memcmp(c->ext[i].key.ptr, key, kl) == 0) {
            return c->ext[i].val;
        }
    }
    return fm_slice_make(NULL, 0);
}

int
fm_cmd_ext_i64(const fm_cmd *c, const char *key, int64_t *out)
{
    fm_slice v = fm_cmd_ext_get(c, key);
    if (v.ptr == NULL) {
        return FM_ENOTFOUND;
    }
    return fm_slice_to_i64(v, out);
}

/* JSON string with the escapes JSON requires; bytes >= 0x80 pass through (UTF-8). */
static int
json_str(fm_buf *o, fm_slice s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = fm_buf_append_u8(o, '"');
    for (size_t i = 0; i < s.len && rc == FM_OK; i++) {
        uint8_t c = s.ptr[i];
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rc = fm_buf_append(o, e, 2);
        } else if (c < 0x20) {
            uint8_t e[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            rc = fm_buf_append(o, e, 6);
        } else {
            rc = fm_buf_append_u8(o, c);
        }
    }
    if (rc == FM_OK) {
        rc = fm_buf_append_u8(o, '"');
    }
    return rc;
}

static int
encode_json_header(fm_buf *o, const fm_cmd *c)
{
    int lang = c->language >= 0 && c->language < N_LANGS ? c->language : FM_LANG_JAVA;
    int rc = fm_buf_appendf(o, "{\"code\":%d,\"extFields\":{", c->code);
    for (size_t i = 0; i < c->n_ext && rc == FM_OK; i++) {
        if (i > 0) {
            rc = fm_buf_append_u8(o, ',');
        }
        if (rc == FM_OK) {
            rc = json_str(o, c->ext[i].key);
        }
        if (rc == FM_OK) {
            rc = fm_buf_append_u8(o, ':');
        }
        if (rc == FM_OK) {
            rc = json_str(o, c->ext[i].val);
        }
    }
    if (rc == FM_OK) {
        rc = fm_buf_appendf(o, "},\"flag\":%d,\"language\":\"%s\",\"opaque\":%d,", c->flag,
                            lang_names[lang], (int)c->opaque);
    }
    if (rc == FM_OK && c->remark.ptr != NULL) {
        rc = fm_buf_append(o, "\"remark\":", 9);
        if (rc == FM_OK) {
            rc = json_str(o, c->remark);
        }
        if (rc == FM_OK) {
            rc = fm_buf_append_u8(o, ',');
        }
    }
    if (rc == FM_OK) {
        rc = fm_buf_appendf(o, "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":%d}",
                            c->version ? c->version : FM_PROTO_VERSION);
    }
    return rc;
}

static int
encode_binary_header(fm_buf *o, const fm_cmd *c, fm_errbuf *eb)
{
    size_t ext_len = 0, at;
    int rc;
    for (size_t i = 0; i < c->n_ext; i++) {
        if (c->ext[i].key.len > 0xFFFF) {
            return fm_err_set(eb, FM_ETOOBIG, "header field key over 65535 bytes");
        }
        ext_len += 2 + c->ext[i].key.len + 4 + c->ext[i].val.len;
    }
    if ((rc = fm_buf_reserve(o, 21 + c->remark.len + ext_len)) != FM_OK) {
        return rc;
    }
    fm_buf_append_be16(o, (uint16_t)c->code);
    fm_buf_append_u8(o, (uint8_t)c->language);
    fm_buf_append_be16(o, (uint16_t)(c->version ? c->version : FM_PROTO_VERSION));
    fm_buf_append_be32(o, (uint32_t)c->opaque);
    fm_buf_append_be32(o, (uint32_t)c->flag);
    fm_buf_append_be32(o, (uint32_t)c->remark.len);
    fm_buf_append(o, c->remark.ptr, c->remark.len);
    fm_buf_append_be32(o, (uint32_t)ext_len);
    at = o->len;
    for (size_t i = 0; i < c->n_ext; i++) {
        fm_buf_append_be16(o, (uint16_t)c->ext[i].key.len);
        fm_buf_append(o, c->ext[i].key.ptr, c->ext[i].key.len);
        fm_buf_append_be32(o, (uint32_t)c->ext[i].val.len);
        fm_buf_append(o, c->ext[i].val.ptr, c->ext[i].val.len);
    }
    (void)at;
    return FM_OK;
}

int
fm_proto_cmd_encode_header(fm_buf *out, const fm_cmd *cmd, size_t body_len, fm_errbuf *eb)
{
    size_t start = out->len, hlen, total;
    int rc;
    /* Reserve the 8-byte prefix, write the header after it, then fill the prefix in. */
    if ((rc = fm_buf_reserve(out, 8)) != FM_OK) {
        return fm_err_set(eb, rc, "out of memory");
    }
    out->len += 8;
    rc = cmd->serialize == FM_SERIALIZE_ROCKETMQ ? encode_binary_header(out, cmd, eb)
                                                 : encode_json_header(out, cmd);
    if (rc != FM_OK) {
        out->len = start;
        return rc == FM_ENOMEM ? fm_err_set(eb, rc, "out of memory") : rc;
    }
    hlen = out->len - start - 8;
    total = 4 + hlen + body_len;
    if (hlen > 0xFFFFFFu || total > 0x7FFFFFFFu) {
        out->len = start;
        return fm_err_set(eb, FM_ETOOBIG, "frame too large (%zu bytes)", total);
    }
    fm_put_be32(out->data + start, (uint32_t)total);
    fm_put_be32(out->data + start + 4, (uint32_t)(cmd->serialize == FM_SERIALIZE_ROCKETMQ ? 1u : 0u)
                                               << 24 |
                                           (uint32_t)hlen);
    return FM_OK;
}

int
fm_proto_cmd_encode(fm_buf *out, const fm_cmd *cmd, fm_errbuf *eb)
{
    size_t start = out->len;
    int rc = fm_proto_cmd_encode_header(out, cmd, cmd->body.len, eb);
    if (rc != FM_OK) {
        return rc;
    }
    rc = fm_buf_append(out, cmd->body.ptr, cmd->body.len);
    if (rc != FM_OK) {
        out->len = start;
        return fm_err_set(eb, rc, "out of memory");
    }
    return FM_OK;
}
