/*
 * json.c - bodies from name servers and brokers, as RocketMQ's fastjson writes them, into cJSON.
 *
 * RemotingSerializable.encode is JSON.toJSONString, and fastjson's MapSerializer writes a map
 * key that is not a String with that key's own serializer: Map<Long,String> brokerAddrs comes
 * out as {0:"ip:port"}, Map<MessageQueue,Long> as {{"brokerName":..,"queueId":0,"topic":..}:5}.
 * Everything else fastjson writes by default (enum names, sets as arrays, raw UTF-8, \uXXXX
 * escapes, null for NaN) is already JSON. So the only rewrite is of what stands in a key
 * position and is not a string: a bare scalar becomes "scalar", a composite becomes a string
 * holding its text (parse that again with fm_client_json_parse).
 *
 * One pass, no copy at all when nothing needs rewriting (standard JSON, as most of ferrymqd's
 * answers), else one output buffer written from the first rewrite on.
 */
#include "client/client_int.h"

#include "common/fault.h"

#include <string.h>

/* cJSON's own nesting limit (CJSON_NESTING_LIMIT): deeper input fails there anyway. */
#define JSON_MAX_DEPTH 1000

typedef struct norm {
    const uint8_t *in;
    size_t n;
    size_t copied; /* in[0..copied) is already in out (only once rewriting started) */
    fm_buf *out;
    int rewritten;
} norm;

/* Index of the closing quote of the string opening at in[i], or n when unterminated. */
static size_t
string_end(const uint8_t *in, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++) {
        if (in[j] == '\\') {
            j++;
        } else if (in[j] == '"') {
            return j;
        }
    }
    return n;
}

/* Start writing out: the untouched bytes before position i. */
static int
flush_to(norm *s, size_t i)
{
    if (!s->rewritten) {
        s->rewritten = 1;
        fm_buf_reset(s->out);
        /* room for the whole input plus some quoting, so appends rarely grow it */
        if (FM_FAULT_POINT("client.json.alloc") != 0 ||
            fm_buf_reserve(s->out, s->n + s->n / 8 + 16) != FM_OK) {
            return FM_ENOMEM;
        }
    }
    if (fm_buf_append(s->out, s->in + s->copied, i - s->copied) != FM_OK) {
        return FM_ENOMEM;
    }
    s->copied = i;
    return FM_OK;
}

/* A composite key (object or array) at in[i]: written as a JSON string of its text. Returns the
 * index just past it, or 0 on malformed input / out of memory (*rc says which). */
static size_t
composite_key(norm *s, size_t i, int *rc)
{
    size_t j = i, end;
    int level = 0;
    static const char hex[] = "0123456789abcdef";
    for (; j < s->n; j++) {
        uint8_t c = s->in[j];
        if (c == '"') {
            if ((j = string_end(s->in, s->n, j)) == s->n) {
                break;
            }
        } else if (c == '{' || c == '[') {
            if (++level > JSON_MAX_DEPTH) {
                break;
            }
        } else if ((c == '}' || c == ']') && --level == 0) {
            break;
        }
    }
    if (j >= s->n || level != 0) {
        *rc = FM_EPROTO;
        return 0;
    }
    end = j + 1;
    if ((*rc = flush_to(s, i)) != FM_OK || (*rc = fm_buf_append_u8(s->out, '"')) != FM_OK) {
        return 0;
    }
    /* runs that need no escape are copied whole */
    for (size_t run = i, k = i; k <= end && *rc == FM_OK; k++) {
        uint8_t c = k < end ? s->in[k] : 0;
        if (k < end && c != '"' && c != '\\' && c >= 0x20) {
            continue;
        }
        *rc = fm_buf_append(s->out, s->in + run, k - run);
        run = k + 1;
        if (k == end || *rc != FM_OK) {
            continue;
        }
        if (c == '"' || c == '\\') {
            uint8_t esc[2] = {'\\', c};
            *rc = fm_buf_append(s->out, esc, 2);
        } else {
            uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            *rc = fm_buf_append(s->out, esc, 6);
        }
    }
    if (*rc == FM_OK) {
        *rc = fm_buf_append_u8(s->out, '"');
    }
    if (*rc != FM_OK) {
        *rc = FM_ENOMEM;
        return 0;
    }
    s->copied = end;
    return end;
}

/* A bare scalar key at in[i] (a Java number, boolean or null as fastjson prints it): quoted.
 * Returns the index just past it, or 0 (*rc set). */
static size_t
scalar_key(norm *s, size_t i, int *rc)
{
    size_t j = i;
    while (j < s->n) {
        uint8_t c = s->in[j];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '+' || c == '.')) {
            break;
        }
        j++;
    }
    if (j == i) {
        *rc = FM_EPROTO; /* something no key can start with */
        return 0;
    }
    if ((*rc = flush_to(s, i)) != FM_OK || (*rc = fm_buf_append_u8(s->out, '"')) != FM_OK ||
        (*rc = fm_buf_append(s->out, s->in + i, j - i)) != FM_OK ||
        (*rc = fm_buf_append_u8(s->out, '"')) != FM_OK) {
        *rc = FM_ENOMEM;
        return 0;
    }
    s->copied = j;
    return j;
}

int
fm_client_json_normalise(const uint8_t *in, size_t n, fm_buf *out, int *rewritten)
{
    uint8_t is_obj[(JSON_MAX_DEPTH + 7) / 8]; /* bit per open container: object (1) or array */
    size_t depth = 0;
    int expect_key = 0, rc = FM_OK;
    norm s = {in, n, 0, out, 0};
    *rewritten = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c <= ' ') {
            continue; /* blank to cJSON (it skips every byte <= 32); a key may still follow */
        }
        if (c == '"') {
            if ((i = string_end(in, n, i)) == n) {
                return FM_EPROTO;
            }
            expect_key = 0;
            continue;
        }
        if (expect_key && c != '}') {
            size_t next = c == '{' || c == '[' ? composite_key(&s, i, &rc) : scalar_key(&s, i, &rc);
            if (next == 0) {
                return rc;
            }
            i = next - 1;
            expect_key = 0;
            continue;
        }
        expect_key = 0;
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH) {
                return FM_EPROTO;
            }
            if (c == '{') {
                is_obj[depth / 8] |= (uint8_t)(1u << (depth % 8));
            } else {
                is_obj[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
            }
            depth++;
            expect_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                return FM_EPROTO;
            }
            depth--;
        } else if (c == ',') {
            expect_key = depth > 0 && (is_obj[(depth - 1) / 8] >> ((depth - 1) % 8) & 1);
        }
    }
    if (s.rewritten) {
        if (flush_to(&s, n) != FM_OK) {
            return FM_ENOMEM;
        }
        *rewritten = 1;
    }
    return FM_OK;
}

int
fm_client_json_parse(const uint8_t *body, size_t len, cJSON **out, fm_errbuf *eb)
{
    fm_buf fixed = {0};
    const char *text = (const char *)body, *end = NULL;
    size_t tlen = len;
    int rewritten = 0;
    int rc;
    *out = NULL;
    if (len == 0) {
        return fm_err_set(eb, FM_EPROTO, "empty body where JSON was expected");
    }
    rc = fm_client_json_normalise(body, len, &fixed, &rewritten);
    if (rc != FM_OK) {
        fm_buf_free(&fixed);
        return rc == FM_ENOMEM ? fm_err_set(eb, FM_ENOMEM, "out of memory")
                               : fm_err_set(eb, FM_EPROTO, "body is not JSON");
    }
    if (rewritten) {
        text = (const char *)fixed.data;
        tlen = fixed.len;
    }
    *out = cJSON_ParseWithLengthOpts(text, tlen, &end, 0);
    if (*out != NULL) {
        /* cJSON stops after the first value: anything but blanks behind it is not one body */
        for (; end < text + tlen; end++) {
            if ((uint8_t)*end > ' ') {
                cJSON_Delete(*out);
                *out = NULL;
                break;
            }
        }
    }
    fm_buf_free(&fixed);
    if (*out == NULL) {
        return fm_err_set(eb, FM_EPROTO, "body is not JSON");
    }
    return FM_OK;
}
