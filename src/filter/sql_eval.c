/*
 * sql_eval.c - evaluates a compiled SQL92 filter against a message's properties with the
 * results RocketMQ's expression classes give, including their corners:
 *
 * - Properties are strings. Compared with a number they are converted the way Java's
 *   Integer/Long/Double.valueOf would (an integer literal that fits 32 bits is an Integer, so
 *   "3000000000" compared with 5 fails to convert); a failed conversion is an exception in
 *   RocketMQ, which ends the whole evaluation and excludes the message, even under OR.
 * - '=': a missing property on the left gives NULL, on the right FALSE, on both TRUE.
 * - <, <=, >, >= between two strings compare them as doubles, or fail.
 * - A bare property as a condition is FALSE when present (it is a string, not a boolean).
 * - CONTAINS, STARTSWITH, ENDSWITH (and their NOT forms) are FALSE for a missing property or
 *   an empty search string.
 *
 * The evaluator allocates nothing: property values are slices of the message's own property
 * string, found in one pass over it.
 */
#include "filter/filter_int.h"
#include "proto/props.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct eval_ctx {
    const fm_filter *f;
    const fm_slice *vals;
    const uint8_t *present;
    fm_errbuf *eb;
    int err_set;
} eval_ctx;

static fv
fv_bool(int b)
{
    fv v;
    v.t = FV_BOOL;
    v.u.b = b != 0;
    return v;
}

static fv
fv_null(void)
{
    fv v;
    v.t = FV_NULL;
    return v;
}

static fv
fv_err(void)
{
    fv v;
    v.t = FV_ERR;
    return v;
}

/* ---- Java's parsers ---- */

/* Integer.parseInt / Long.parseLong, radix 10, ASCII digits: optional sign, then digits. */
static int
java_parse_long(fm_slice s, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t acc = 0, limit;
    if (s.len == 0) {
        return FM_EINVAL;
    }
    if (s.ptr[0] == '-' || s.ptr[0] == '+') {
        neg = s.ptr[0] == '-';
        i = 1;
        if (s.len == 1) {
            return FM_EINVAL;
        }
    }
    limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    for (; i < s.len; i++) {
        if (!isdigit(s.ptr[i])) {
            return FM_EINVAL;
        }
        uint64_t d = (uint64_t)(s.ptr[i] - '0');
        if (acc > (limit - d) / 10) {
            return FM_ERANGE;
        }
        acc = acc * 10 + d;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return FM_OK;
}

/* Double.valueOf: Java's FloatingDecimal grammar, after String.trim (bytes <= ' '):
 * [+-]? (NaN | Infinity | digits [. digits] [exp] | . digits [exp] | hex) [fFdD]? */
static int
java_parse_double(fm_slice s, double *out)
{
    char buf[128];
    size_t b = 0, e = s.len, i, n;
    while (b < e && s.ptr[b] <= ' ') {
        b++;
    }
    while (e > b && s.ptr[e - 1] <= ' ') {
        e--;
    }
    n = e - b;
    if (n == 0 || n >= sizeof(buf)) {
        return FM_EINVAL;
    }
    memcpy(buf, s.ptr + b, n);
    buf[n] = '\0';
    i = (buf[0] == '+' || buf[0] == '-') ? 1 : 0;
    if (strcmp(buf + i, "NaN") == 0) {
        *out = NAN;
        return FM_OK;
    }
    if (strcmp(buf + i, "Infinity") == 0) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return FM_OK;
    }
    if (n > i && strchr("fFdD", buf[n - 1]) != NULL &&
        !(n > i + 2 && buf[i] == '0' && (buf[i + 1] == 'x' || buf[i + 1] == 'X') &&
          strpbrk(buf + i, "pP") == NULL)) {
        buf[--n] = '\0'; /* the float/double suffix (not a hex digit of a hex float) */
    }
    if (n > i + 1 && buf[i] == '0' && (buf[i + 1] == 'x' || buf[i + 1] == 'X')) {
        /* hex floats need a binary exponent in Java */
        if (strpbrk(buf + i, "pP") == NULL) {
            return FM_EINVAL;
        }
    } else {
        size_t j = i, digits = 0;
        while (isdigit((unsigned char)buf[j])) {
            j++;
            digits++;
        }
        if (buf[j] == '.') {
            j++;
            while (isdigit((unsigned char)buf[j])) {
                j++;
                digits++;
            }
        }
        if (digits == 0) {
            return FM_EINVAL;
        }
        if (buf[j] == 'e' || buf[j] == 'E') {
            j++;
            if (buf[j] == '+' || buf[j] == '-') {
                j++;
            }
            if (!isdigit((unsigned char)buf[j])) {
                return FM_EINVAL;
            }
            while (isdigit((unsigned char)buf[j])) {
                j++;
            }
        }
        if (buf[j] != '\0') {
            return FM_EINVAL;
        }
    }
    {
        char *end;
        errno = 0;
        double d = strtod(buf, &end);
        if (*end != '\0') {
            return FM_EINVAL;
        }
        *out = d; /* overflow gives +-Infinity and underflow 0, as in Java */
    }
    return FM_OK;
}

/* Boolean.valueOf(String): "true" in any case. */
static int
java_parse_bool(fm_slice s)
{
    return s.len == 4 && strncasecmp((const char *)s.ptr, "true", 4) == 0;
}

static int
conv_fail(fm_errbuf *eb, fm_slice s, const char *to)
{
    return fm_err_set(eb, FM_EINVAL, "property value '%.*s' is not a valid %s",
                      (int)(s.len > 60 ? 60 : s.len), (const char *)s.ptr, to);
}

static int
to_int(fv *v, fm_errbuf *eb)
{
    int64_t x;
    if (java_parse_long(v->u.s, INT32_MIN, INT32_MAX, &x) != FM_OK) {
        return conv_fail(eb, v->u.s, "32-bit integer");
    }
    v->t = FV_INT;
    v->u.i = (int32_t)x;
    return FM_OK;
}

static int
to_long(fv *v, fm_errbuf *eb)
{
    int64_t x;
    if (java_parse_long(v->u.s, INT64_MIN, INT64_MAX, &x) != FM_OK) {
        return conv_fail(eb, v->u.s, "64-bit integer");
    }
    v->t = FV_LONG;
    v->u.l = x;
    return FM_OK;
}

static int
to_double(fv *v, fm_errbuf *eb)
{
    double d;
    if (java_parse_double(v->u.s, &d) != FM_OK) {
        return conv_fail(eb, v->u.s, "number");
    }
    v->t = FV_DOUBLE;
    v->u.d = d;
    return FM_OK;
}

static void
widen_double(fv *v)
{
    double d = v->t == FV_INT ? (double)v->u.i : (double)v->u.l;
    v->t = FV_DOUBLE;
    v->u.d = d;
}

/* Double.doubleToLongBits: NaNs collapse to one pattern. */
static int64_t
double_bits(double d)
{
    int64_t bits;
    if (isnan(d)) {
        return INT64_C(0x7ff8000000000000);
    }
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

/* Double.compare */
static int
double_cmp(double a, double b)
{
    int64_t x, y;
    if (a < b) {
        return -1;
    }
    if (a > b) {
        return 1;
    }
    x = double_bits(a);
    y = double_bits(b);
    return x == y ? 0 : x < y ? -1 : 1;
}

int
fm_filter_jcompare(fv lv, fv rv, int *out, fm_errbuf *eb)
{
    int rc = FM_OK;
    if (lv.t != rv.t) {
        switch (lv.t) {
        case FV_BOOL:
            if (rv.t == FV_STR) {
                /* RocketMQ casts the Boolean to String here: a ClassCastException */
                return fm_err_set(eb, FM_EINVAL, "a boolean cannot be compared with a string");
            }
            *out = -1;
            return FM_OK;
        case FV_INT:
            if (rv.t == FV_LONG) {
                lv.t = FV_LONG;
                lv.u.l = lv.u.i;
            } else if (rv.t == FV_DOUBLE) {
                widen_double(&lv);
            } else if (rv.t == FV_STR) {
                rc = to_int(&rv, eb);
            } else {
                *out = -1;
                return FM_OK;
            }
            break;
        case FV_LONG:
            if (rv.t == FV_INT) {
                rv.t = FV_LONG;
                rv.u.l = rv.u.i;
            } else if (rv.t == FV_DOUBLE) {
                widen_double(&lv);
            } else if (rv.t == FV_STR) {
                rc = to_long(&rv, eb);
            } else {
                *out = -1;
                return FM_OK;
            }
            break;
        case FV_DOUBLE:
            if (rv.t == FV_INT || rv.t == FV_LONG) {
                widen_double(&rv);
            } else if (rv.t == FV_STR) {
                rc = to_double(&rv, eb);
            } else {
                *out = -1;
                return FM_OK;
            }
            break;
        case FV_STR:
            if (rv.t == FV_BOOL) {
                lv = fv_bool(java_parse_bool(lv.u.s));
            } else if (rv.t == FV_INT) {
                rc = to_int(&lv, eb);
            } else if (rv.t == FV_LONG) {
                rc = to_long(&lv, eb);
            } else if (rv.t == FV_DOUBLE) {
                rc = to_double(&lv, eb);
            } else {
                *out = -1;
                return FM_OK;
            }
            break;
        default:
            *out = -1;
            return FM_OK;
        }
        if (rc != FM_OK) {
            return rc;
        }
    }
    switch (lv.t) {
    case FV_BOOL:
        *out = lv.u.b - rv.u.b;
        break;
    case FV_INT:
        *out = lv.u.i < rv.u.i ? -1 : lv.u.i > rv.u.i;
        break;
    case FV_LONG:
        *out = lv.u.l < rv.u.l ? -1 : lv.u.l > rv.u.l;
        break;
    case FV_DOUBLE:
        *out = double_cmp(lv.u.d, rv.u.d);
        break;
    case FV_STR: {
        size_t n = lv.u.s.len < rv.u.s.len ? lv.u.s.len : rv.u.s.len;
        int c = n ? memcmp(lv.u.s.ptr, rv.u.s.ptr, n) : 0;
        *out = c != 0 ? c : lv.u.s.len < rv.u.s.len ? -1 : lv.u.s.len > rv.u.s.len;
        break;
    }
    default:
        *out = 0; /* two NULLs never get here: '=' handles them first */
        break;
    }
    return FM_OK;
}

/* Object.equals between the evaluator's values. */
static int
jequals(fv a, fv b)
{
    if (a.t != b.t) {
        return 0;
    }
    switch (a.t) {
    case FV_BOOL:
        return a.u.b == b.u.b;
    case FV_INT:
        return a.u.i == b.u.i;
    case FV_LONG:
        return a.u.l == b.u.l;
    case FV_DOUBLE:
        return double_bits(a.u.d) == double_bits(b.u.d);
    case FV_STR:
        return fm_slice_eq(a.u.s, b.u.s);
    default:
        return 0;
    }
}

static fv
fail_eval(eval_ctx *c, int rc)
{
    (void)rc;
    c->err_set = 1;
    return fv_err();
}

static fv eval(eval_ctx *c, int idx);

static fv
eval_equal(eval_ctx *c, const fn_node *nd)
{
    fv lv = eval(c, nd->a), rv;
    int cmp;
    if (lv.t == FV_ERR) {
        return lv;
    }
    rv = eval(c, nd->b);
    if (rv.t == FV_ERR) {
        return rv;
    }
    if ((lv.t == FV_NULL) != (rv.t == FV_NULL)) {
        return lv.t == FV_NULL ? fv_null() : fv_bool(0);
    }
    if (lv.t == FV_NULL || jequals(lv, rv)) {
        return fv_bool(1);
    }
    if (fm_filter_jcompare(lv, rv, &cmp, c->err_set ? NULL : c->eb) != FM_OK) {
        return fail_eval(c, FM_EINVAL);
    }
    return fv_bool(cmp == 0);
}

static fv
eval_order(eval_ctx *c, const fn_node *nd)
{
    fv lv = eval(c, nd->a), rv;
    int cmp;
    if (lv.t == FV_ERR || lv.t == FV_NULL) {
        return lv;
    }
    rv = eval(c, nd->b);
    if (rv.t == FV_ERR || rv.t == FV_NULL) {
        return rv;
    }
    if (lv.t == FV_STR && rv.t == FV_STR) {
        double x, y;
        if (java_parse_double(lv.u.s, &x) != FM_OK || java_parse_double(rv.u.s, &y) != FM_OK) {
            fm_err_set(c->err_set ? NULL : c->eb, FM_EINVAL,
                       "strings '%.*s' and '%.*s' cannot be ordered (neither is a number)",
                       (int)(lv.u.s.len > 40 ? 40 : lv.u.s.len), (const char *)lv.u.s.ptr,
                       (int)(rv.u.s.len > 40 ? 40 : rv.u.s.len), (const char *)rv.u.s.ptr);
            return fail_eval(c, FM_EINVAL);
        }
        cmp = double_cmp(x, y);
    } else if (fm_filter_jcompare(lv, rv, &cmp, c->err_set ? NULL : c->eb) != FM_OK) {
        return fail_eval(c, FM_EINVAL);
    }
    switch (nd->op) {
    case FN_GT:
        return fv_bool(cmp > 0);
    case FN_GE:
        return fv_bool(cmp >= 0);
    case FN_LT:
        return fv_bool(cmp < 0);
    default:
        return fv_bool(cmp <= 0);
    }
}

static int
has_prefix(fm_slice s, fm_slice p)
{
    return s.len >= p.len && memcmp(s.ptr, p.ptr, p.len) == 0;
}

static int
has_suffix(fm_slice s, fm_slice p)
{
    return s.len >= p.len && memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0;
}

static fv
eval_string_op(eval_ctx *c, const fn_node *nd)
{
    fm_slice search = nd->v.u.s;
    fv v;
    int hit;
    if (search.len == 0) {
        return fv_bool(0);
    }
    v = eval(c, nd->a);
    if (v.t == FV_ERR) {
        return v;
    }
    if (v.t != FV_STR) {
        return fv_bool(0);
    }
    switch (nd->op) {
    case FN_CONTAINS:
    case FN_NOT_CONTAINS:
        hit = v.u.s.len >= search.len && memmem(v.u.s.ptr, v.u.s.len, search.ptr, search.len);
        break;
    case FN_STARTS:
    case FN_NOT_STARTS:
        hit = has_prefix(v.u.s, search);
        break;
    default:
        hit = has_suffix(v.u.s, search);
        break;
    }
    if (nd->op == FN_NOT_CONTAINS || nd->op == FN_NOT_STARTS || nd->op == FN_NOT_ENDS) {
        hit = !hit;
    }
    return fv_bool(hit);
}

static fv
eval_in(eval_ctx *c, const fn_node *nd)
{
    fv v = eval(c, nd->a);
    const fm_slice *list = c->f->strs + nd->list_off;
    size_t lo = 0, hi = (size_t)nd->list_n;
    int found = 0;
    if (v.t != FV_STR) {
        return v.t == FV_ERR ? v : fv_null();
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const fm_slice *e = &list[mid];
        int cmp =
            e->len != v.u.s.len ? (e->len < v.u.s.len ? -1 : 1) : memcmp(e->ptr, v.u.s.ptr, e->len);
        if (cmp == 0) {
            found = 1;
            break;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return fv_bool(found ^ (nd->op == FN_NOT_IN));
}

static fv
eval(eval_ctx *c, int idx)
{
    const fn_node *nd = &c->f->nodes[idx];
    fv x, y;
    switch ((fn_op)nd->op) {
    case FN_CONST:
        return nd->v;
    case FN_PROP:
        if (!c->present[nd->prop]) {
            return fv_null();
        }
        x.t = FV_STR;
        x.u.s = c->vals[nd->prop];
        return x;
    case FN_NEG:
        x = eval(c, nd->a);
        switch (x.t) {
        case FV_INT:
            x.u.i = (int32_t)(0u - (uint32_t)x.u.i); /* wraps as Java's int does */
            return x;
        case FV_LONG:
            x.u.l = (int64_t)(UINT64_C(0) - (uint64_t)x.u.l);
            return x;
        case FV_DOUBLE:
            x.u.d = -x.u.d;
            return x;
        case FV_ERR:
            return x;
        default:
            return fv_null();
        }
    case FN_NOT:
        x = eval(c, nd->a);
        if (x.t == FV_BOOL) {
            return fv_bool(!x.u.b);
        }
        return x.t == FV_ERR ? x : fv_null();
    case FN_BOOLCAST:
        x = eval(c, nd->a);
        if (x.t == FV_NULL || x.t == FV_ERR || x.t == FV_BOOL) {
            return x;
        }
        return fv_bool(0);
    case FN_AND:
        x = eval(c, nd->a);
        if (x.t == FV_ERR || (x.t == FV_BOOL && !x.u.b)) {
            return x;
        }
        y = eval(c, nd->b);
        if (y.t == FV_ERR || (y.t == FV_BOOL && !y.u.b)) {
            return y;
        }
        return x.t != FV_BOOL || y.t != FV_BOOL ? fv_null() : fv_bool(1);
    case FN_OR:
        x = eval(c, nd->a);
        if (x.t == FV_ERR || (x.t == FV_BOOL && x.u.b)) {
            return x;
        }
        y = eval(c, nd->b);
        if (y.t == FV_ERR || (y.t == FV_BOOL && y.u.b)) {
            return y;
        }
        return x.t != FV_BOOL || y.t != FV_BOOL ? fv_null() : fv_bool(0);
    case FN_EQ:
        return eval_equal(c, nd);
    case FN_GT:
    case FN_GE:
    case FN_LT:
    case FN_LE:
        return eval_order(c, nd);
    case FN_CONTAINS:
    case FN_NOT_CONTAINS:
    case FN_STARTS:
    case FN_NOT_STARTS:
    case FN_ENDS:
    case FN_NOT_ENDS:
        return eval_string_op(c, nd);
    case FN_IN:
    case FN_NOT_IN:
        return eval_in(c, nd);
    }
    return fv_err();
}

fm_filter_result
fm_filter_sql_eval(const fm_filter *f, fm_slice props, fm_errbuf *eb)
{
    fm_slice vals[FM_FILTER_MAX_PROPS];
    uint8_t present[FM_FILTER_MAX_PROPS];
    fm_props_iter it;
    fm_slice name, value;
    eval_ctx c;
    fv r;

    memset(present, 0, (size_t)f->n_names);
    /* One pass over the properties; a repeated name keeps its last value, as the Java
     * HashMap RocketMQ decodes into does. */
    fm_props_iter_init(&it, props);
    while (fm_props_next(&it, &name, &value) == FM_OK) {
        for (int i = 0; i < f->n_names; i++) {
            if (fm_slice_eq(name, f->names[i])) {
                vals[i] = value;
                present[i] = 1;
                break;
            }
        }
    }
    c.f = f;
    c.vals = vals;
    c.present = present;
    c.eb = eb;
    c.err_set = 0;
    r = eval(&c, f->root);
    switch (r.t) {
    case FV_BOOL:
        return r.u.b ? FM_FILTER_TRUE : FM_FILTER_FALSE;
    case FV_ERR:
        return FM_FILTER_ERROR;
    default:
        return FM_FILTER_UNKNOWN;
    }
}
