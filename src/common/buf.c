#include "common/buf.h"

#include "common/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int
fm_slice_to_cstr(fm_slice s, char *dst, size_t cap)
{
    size_t n = s.len;
    int rc = FM_OK;
    if (cap == 0) {
        return FM_ETOOBIG;
    }
    if (n >= cap) {
        n = cap - 1;
        rc = FM_ETOOBIG;
    }
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
    return rc;
}

int
fm_slice_to_i64(fm_slice s, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0;
    if (s.len == 0) {
        return FM_EINVAL;
    }
    if (s.ptr[0] == '-') {
        neg = 1;
        i = 1;
        if (s.len == 1) {
            return FM_EINVAL;
        }
    }
    for (; i < s.len; i++) {
        unsigned d = (unsigned)s.ptr[i] - '0';
        if (d > 9) {
            return FM_EINVAL;
        }
        /* Limit is INT64_MAX for positives and INT64_MAX + 1 for negatives. */
        if (v > ((uint64_t)INT64_MAX + (uint64_t)neg - d) / 10) {
            return FM_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return FM_OK;
}

void
fm_buf_init(fm_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
fm_buf_free(fm_buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    fm_buf_init(b);
}

int
fm_buf_reserve(fm_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;
    if (extra > SIZE_MAX - b->len) {
        return FM_ENOMEM;
    }
    need = b->len + extra;
    if (need <= b->cap) {
        return FM_OK;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return FM_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return FM_OK;
}

int
fm_buf_append(fm_buf *b, const void *p, size_t n)
{
    int rc;
    if (n == 0) {
        return FM_OK;
    }
    if ((rc = fm_buf_reserve(b, n)) != FM_OK) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return FM_OK;
}

int
fm_buf_appendf(fm_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return FM_EINVAL;
    }
    if ((rc = fm_buf_reserve(b, (size_t)n + 1)) != FM_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return FM_OK;
}

int
fm_buf_append_u8(fm_buf *b, uint8_t v)
{
    return fm_buf_append(b, &v, 1);
}

int
fm_buf_append_be16(fm_buf *b, uint16_t v)
{
    uint8_t t[2];
    fm_put_be16(t, v);
    return fm_buf_append(b, t, 2);
}

int
fm_buf_append_be32(fm_buf *b, uint32_t v)
{
    uint8_t t[4];
    fm_put_be32(t, v);
    return fm_buf_append(b, t, 4);
}

int
fm_buf_append_be64(fm_buf *b, uint64_t v)
{
    uint8_t t[8];
    fm_put_be64(t, v);
    return fm_buf_append(b, t, 8);
}

void
fm_buf_consume(fm_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

size_t
fm_i64_to_str(int64_t v, char *out)
{
    char tmp[21];
    size_t n = 0, k = 0;
    /* through the unsigned magnitude, so INT64_MIN has one too */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        out[k++] = '-';
    }
    while (n > 0) {
        out[k++] = tmp[--n];
    }
    out[k] = '\0';
    return k;
}

int
fm_array_reserve(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    void *arr, *grown;
    size_t n = *cap;
    if (need <= n) {
        return FM_OK;
    }
    for (n = n ? n : first; n < need; n *= 2) {
        if (n > SIZE_MAX / 2 / elem) {
            return FM_ENOMEM;
        }
    }
    /* the pointer is read and written through memcpy: arrp is a T **, not a void ** */
    memcpy(&arr, arrp, sizeof(arr));
    if ((grown = realloc(arr, n * elem)) == NULL) {
        return FM_ENOMEM;
    }
    memcpy(arrp, &grown, sizeof(grown));
    *cap = n;
    return FM_OK;
}
