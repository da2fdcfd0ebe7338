/*
 * filter.c - the filter handle: expression type names, tag expressions, reference counting,
 * and the match entry points the broker calls per consume-queue entry and per message.
 */
#include "filter/filter_int.h"
#include "proto/codes.h"
#include "proto/props.h"

#include <stdlib.h>
#include <string.h>

int
fm_filter_type_parse(const char *name, fm_filter_type *out)
{
    if (name == NULL || name[0] == '\0' || strcmp(name, "TAG") == 0) {
        *out = FM_FILTER_TAG;
        return FM_OK;
    }
    if (strcmp(name, "SQL92") == 0) {
        *out = FM_FILTER_SQL92;
        return FM_OK;
    }
    return FM_ENOTSUP;
}

static int
is_tag_space(uint8_t c)
{
    /* Java's String.trim: every byte <= ' ' */
    return c <= ' ';
}

static fm_slice
trim(fm_slice s)
{
    while (s.len > 0 && is_tag_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_tag_space(s.ptr[s.len - 1])) {
        s.len--;
    }
    return s;
}

/* RocketMQ's FilterAPI.buildSubscriptionData: "*" or empty is everything, else split on "||",
 * trim, drop empties. Tags point into f->text. */
static int
tag_parse(fm_filter *f, fm_errbuf *eb)
{
    fm_slice all = fm_slice_make((const uint8_t *)f->text, f->text_len), rest;
    size_t cap = 1;
    if (all.len == 0 || (all.len == 1 && all.ptr[0] == '*')) {
        f->all = 1;
        return FM_OK;
    }
    for (size_t i = 0; i + 1 < all.len; i++) {
        cap += all.ptr[i] == '|' && all.ptr[i + 1] == '|';
    }
    f->tags = calloc(cap, sizeof(*f->tags));
    f->hashes = calloc(cap, sizeof(*f->hashes));
    if (f->tags == NULL || f->hashes == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    rest = all;
    {
        /* Java's split drops trailing empty pieces: "||" alone splits into nothing, which
         * RocketMQ refuses ("subString split error"). */
        size_t k = 0;
        while (k + 1 < all.len && all.ptr[k] == '|' && all.ptr[k + 1] == '|') {
            k += 2;
        }
        if (k == all.len) {
            return fm_err_set(eb, FM_EINVAL, "tag expression '%s' names no tag", f->text);
        }
    }
    for (;;) {
        const uint8_t *bar = rest.len >= 2 ? memmem(rest.ptr, rest.len, "||", 2) : NULL;
        fm_slice t = trim(fm_slice_make(rest.ptr, bar ? (size_t)(bar - rest.ptr) : rest.len));
        if (t.len > 0) {
            f->tags[f->n_tags] = t;
            f->hashes[f->n_tags] = fm_proto_java_hash(t);
            f->n_tags++;
        }
        if (bar == NULL) {
            break;
        }
        rest = fm_slice_make(bar + 2, rest.len - (size_t)(bar + 2 - rest.ptr));
    }
    /* " || " names no tag either, but splits into blanks: nothing matches, as in RocketMQ
     * (its code set is empty). */
    return FM_OK;
}

int
fm_filter_compile(fm_filter_type type, const char *expr, size_t len, fm_filter **out, fm_errbuf *eb)
{
    fm_filter *f;
    int rc;
    *out = NULL;
    if (type != FM_FILTER_TAG && type != FM_FILTER_SQL92) {
        return fm_err_set(eb, FM_ENOTSUP, "unknown expression type %d", (int)type);
    }
    if (len > FM_FILTER_MAX_LEN) {
        return fm_err_set(eb, FM_ETOOBIG, "expression is %zu bytes, the limit is %d", len,
                          FM_FILTER_MAX_LEN);
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->text = malloc(len + 1)) == NULL) {
        free(f);
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    if (len > 0) {
        memcpy(f->text, expr, len);
    }
    f->text[len] = '\0';
    f->text_len = len;
    f->type = type;
    f->refs = 1;
    if (type == FM_FILTER_TAG) {
        rc = tag_parse(f, eb);
    } else if (trim(fm_slice_make((const uint8_t *)expr, len)).len == 0) {
        rc = fm_err_set(eb, FM_EINVAL, "an SQL92 expression cannot be empty");
    } else {
        rc = fm_filter_sql_parse(f, eb);
    }
    if (rc != FM_OK) {
        fm_filter_unref(f);
        return rc;
    }
    *out = f;
    return FM_OK;
}

fm_filter *
fm_filter_ref(fm_filter *f)
{
    f->refs++;
    return f;
}

void
fm_filter_unref(fm_filter *f)
{
    if (f == NULL || --f->refs > 0) {
        return;
    }
    free(f->text);
    free(f->warning);
    free(f->tags);
    free(f->hashes);
    free(f->nodes);
    free(f->names);
    free(f->strs);
    free(f->arena);
    free(f);
}

fm_filter_type
fm_filter_get_type(const fm_filter *f)
{
    return f->type;
}

const char *
fm_filter_text(const fm_filter *f)
{
    return f->text;
}

int
fm_filter_matches_all(const fm_filter *f)
{
    return f->type == FM_FILTER_TAG && f->all;
}

const char *
fm_filter_warning(const fm_filter *f)
{
    return f->warning;
}

int
fm_filter_match_hash(const fm_filter *f, int64_t tag_hash)
{
    if (f->type != FM_FILTER_TAG || f->all) {
        return 1;
    }
    for (int i = 0; i < f->n_tags; i++) {
        if (f->hashes[i] == tag_hash) {
            return 1;
        }
    }
    return 0;
}

static int
tag_match(const fm_filter *f, fm_slice props)
{
    fm_slice tag;
    if (f->all) {
        return 1;
    }
    tag = fm_props_get(props, FM_PROP_TAGS);
    if (tag.ptr == NULL) {
        return 0;
    }
    for (int i = 0; i < f->n_tags; i++) {
        if (fm_slice_eq(tag, f->tags[i])) {
            return 1;
        }
    }
    return 0;
}

fm_filter_result
fm_filter_eval(const fm_filter *f, fm_slice props, fm_errbuf *eb)
{
    if (f->type == FM_FILTER_TAG) {
        return tag_match(f, props) ? FM_FILTER_TRUE : FM_FILTER_FALSE;
    }
    return fm_filter_sql_eval(f, props, eb);
}

int
fm_filter_match_props(const fm_filter *f, fm_slice props)
{
    return fm_filter_eval(f, props, NULL) == FM_FILTER_TRUE;
}
