#include "proto/props.h"

#include <string.h>

int
fm_props_next(fm_props_iter *it, fm_slice *name, fm_slice *value)
{
    const uint8_t *p = it->rest.ptr, *end, *pair_end, *sep;
    size_t len = it->rest.len;
    for (;;) {
        if (len == 0) {
            return FM_ENOTFOUND;
        }
        end = p + len;
        pair_end = memchr(p, FM_PROPS_PAIR_SEP, len);
        if (pair_end == NULL) {
            pair_end = end;
        }
        if (pair_end == p) { /* empty pair: skip, as RocketMQ's split does */
            p++;
            len--;
            continue;
        }
        break;
    }
    sep = memchr(p, FM_PROPS_NAME_SEP, (size_t)(pair_end - p));
    if (sep == NULL) {
        it->rest = fm_slice_make(NULL, 0);
        return FM_EPROTO;
    }
    *name = fm_slice_make(p, (size_t)(sep - p));
    *value = fm_slice_make(sep + 1, (size_t)(pair_end - sep - 1));
    if (pair_end < end) {
        pair_end++;
    }
    it->rest = fm_slice_make(pair_end, (size_t)(end - pair_end));
    return FM_OK;
}

fm_slice
fm_props_get(fm_slice props, const char *name)
{
    fm_props_iter it;
    fm_slice n, v;
    size_t nlen = strlen(name); /* once, not per pair: this runs several times per message */
    fm_props_iter_init(&it, props);
    while (fm_props_next(&it, &n, &v) == FM_OK) {
        if (n.len == nlen && memcmp(n.ptr, name, nlen) == 0) {
            return v;
        }
    }
    return fm_slice_make(NULL, 0);
}

int
fm_props_pick(fm_slice props, const fm_slice *names, size_t n, fm_slice *out)
{
    fm_props_iter it;
    fm_slice nm, v;
    size_t left = n;
    int rc;
    for (size_t i = 0; i < n; i++) {
        out[i] = fm_slice_make(NULL, 0);
    }
    fm_props_iter_init(&it, props);
    while ((rc = fm_props_next(&it, &nm, &v)) == FM_OK) {
        for (size_t i = 0; left > 0 && i < n; i++) {
            if (out[i].ptr == NULL && nm.len == names[i].len &&
                memcmp(nm.ptr, names[i].ptr, nm.len) == 0) {
                out[i] = v;
                left--;
                break;
            }
        }
    }
    return rc == FM_ENOTFOUND ? FM_OK : FM_EPROTO;
}

static int
has_sep(fm_slice s)
{
    return s.len > 0 && (memchr(s.ptr, FM_PROPS_NAME_SEP, s.len) != NULL ||
                         memchr(s.ptr, FM_PROPS_PAIR_SEP, s.len) != NULL);
}

int
fm_props_append(fm_buf *props, fm_slice name, fm_slice value)
{
    int rc;
    if (has_sep(name) || has_sep(value)) {
        return FM_EINVAL;
    }
    if ((rc = fm_buf_reserve(props, name.len + value.len + 2)) != FM_OK) {
        return rc;
    }
    fm_buf_append(props, name.ptr, name.len);
    fm_buf_append_u8(props, FM_PROPS_NAME_SEP);
    fm_buf_append(props, value.ptr, value.len);
    fm_buf_append_u8(props, FM_PROPS_PAIR_SEP);
    return FM_OK;
}

int
fm_props_valid(fm_slice props)
{
    fm_props_iter it;
    fm_slice n, v;
    int rc;
    fm_props_iter_init(&it, props);
    while ((rc = fm_props_next(&it, &n, &v)) == FM_OK) {
    }
    return rc == FM_ENOTFOUND;
}
