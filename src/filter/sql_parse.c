/*
 * sql_parse.c - lexer and recursive-descent parser for RocketMQ's SQL-92 filter grammar
 * (filter/src/main/java/org/apache/rocketmq/filter/parser/SelectorParser.jj), with the checks
 * RocketMQ makes while building its expression objects, so an expression it rejects is
 * rejected here and one it accepts means the same thing.
 *
 * Precedence, loosest first: OR; AND; = <> IS [NOT] NULL; > >= < <= [NOT] BETWEEN [NOT] IN
 * [NOT] CONTAINS/STARTSWITH/ENDSWITH; unary + - NOT; literals, properties, parentheses. Note
 * that NOT binds tighter than '=' ("NOT a = 'x'" is "(NOT a) = 'x'"), as in RocketMQ.
 *
 * Tokens are lexed on demand with at most two of lookahead, as the generated JavaCC parser
 * does: the first token after a complete expression must lex, the rest is ignored (and
 * reported through fm_filter_warning).
 */
#include "filter/filter_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum tok_kind {
    T_EOF,
    T_NOT,
    T_AND,
    T_OR,
    T_BETWEEN,
    T_IN,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_IS,
    T_CONTAINS,
    T_STARTSWITH,
    T_ENDSWITH,
    T_DEC,
    T_FLOAT,
    T_STR,
    T_ID,
    T_EQ,
    T_NE,
    T_GT,
    T_GE,
    T_LT,
    T_LE,
    T_LP,
    T_RP,
    T_COMMA,
    T_PLUS,
    T_MINUS,
} tok_kind;

static const char *const tok_names[] = {
    "end of expression",
    "NOT",
    "AND",
    "OR",
    "BETWEEN",
    "IN",
    "TRUE",
    "FALSE",
    "NULL",
    "IS",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
    "integer",
    "decimal",
    "string",
    "property name",
    "'='",
    "'<>'",
    "'>'",
    "'>='",
    "'<'",
    "'<='",
    "'('",
    "')'",
    "','",
    "'+'",
    "'-'",
};

static const struct {
    const char *word;
    tok_kind kind;
} keywords[] = {
    {"NOT", T_NOT},
    {"AND", T_AND},
    {"OR", T_OR},
    {"BETWEEN", T_BETWEEN},
    {"IN", T_IN},
    {"TRUE", T_TRUE},
    {"FALSE", T_FALSE},
    {"NULL", T_NULL},
    {"IS", T_IS},
    {"CONTAINS", T_CONTAINS},
    {"STARTSWITH", T_STARTSWITH},
    {"ENDSWITH", T_ENDSWITH},
};

typedef struct tok {
    tok_kind kind;
    uint32_t pos, len;
} tok;

typedef struct parser {
    fm_filter *f;
    const char *src;
    size_t len;
    size_t lex_pos; /* where the next token is lexed from */
    tok la[2];      /* lookahead */
    int n_la;
    int depth;
    int failed;
    fm_errbuf *eb;
    int cap_nodes;
    int cap_strs;
    size_t arena_used;
} parser;

static void
line_col(const parser *p, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos && i < p->len; i++) {
        if (p->src[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* First error wins; returns -1 for the caller to propagate. */
__attribute__((format(printf, 4, 5))) static int
fail(parser *p, int err, size_t pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    int line, col;
    if (p->failed) {
        return -1;
    }
    p->failed = err;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    line_col(p, pos, &line, &col);
    fm_err_set(p->eb, err, "%s at line %d, column %d", msg, line, col);
    return -1;
}

static int
is_id_start(int c)
{
    return isalpha(c) || c == '_' || c == '$';
}

static int
is_id_char(int c)
{
    return isalnum(c) || c == '_' || c == '$';
}

/* End of an optional EXPONENT ("E" [+-]? digits+) at s[j], or j when there is none. */
static size_t
exponent_end(const char *s, size_t n, size_t j)
{
    size_t k = j;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) {
            k++;
        }
        if (k < n && isdigit((unsigned char)s[k])) {
            while (k < n && isdigit((unsigned char)s[k])) {
                k++;
            }
            return k;
        }
    }
    return j;
}

/* Length of the longest DECIMAL_LITERAL or FLOATING_POINT_LITERAL at s, as JavaCC picks. */
static size_t
number_len(const char *s, size_t n, int *is_float)
{
    size_t dec = 0, flt = 0, digits = 0;
    if (n > 0 && s[0] == '0') {
        dec = 1; /* "0" takes no L suffix and no more digits: "007" is three tokens */
    } else if (n > 0 && s[0] >= '1' && s[0] <= '9') {
        dec = 1;
        while (dec < n && isdigit((unsigned char)s[dec])) {
            dec++;
        }
        if (dec < n && (s[dec] == 'l' || s[dec] == 'L')) {
            dec++;
        }
    }
    while (digits < n && isdigit((unsigned char)s[digits])) {
        digits++;
    }
    if (digits < n && s[digits] == '.') {
        size_t j = digits + 1;
        while (j < n && isdigit((unsigned char)s[j])) {
            j++;
        }
        if (digits > 0 || j > digits + 1) {
            flt = exponent_end(s, n, j); /* 5.5, 5., .5, each with an optional exponent */
        }
    } else if (digits > 0) {
        size_t e = exponent_end(s, n, digits);
        flt = e > digits ? e : 0; /* 5E10: digits alone are a DECIMAL */
    }
    *is_float = flt > dec;
    return flt > dec ? flt : dec;
}

/* Lex one token at p->lex_pos. Returns 0, or -1 on a lexical error. */
static int
lex(parser *p, tok *t)
{
    const char *s = p->src;
    size_t n = p->len, i = p->lex_pos;
    for (;;) {
        while (i < n &&
               (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f')) {
            i++;
        }
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            /* a line comment needs its line terminator, else it is two minus signs */
            size_t j = i + 2;
            while (j < n && s[j] != '\n' && s[j] != '\r') {
                j++;
            }
            if (j < n) {
                i = j + 1;
                continue;
            }
        }
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++) {
                if (s[j] == '*' && s[j + 1] == '/') {
                    end = s + j;
                    break;
                }
            }
            if (end == NULL) {
                return fail(p, FM_EINVAL, i, "unterminated comment");
            }
            i = (size_t)(end - s) + 2;
            continue;
        }
        break;
    }
    t->pos = (uint32_t)i;
    if (i >= n) {
        t->kind = T_EOF;
        t->len = 0;
        p->lex_pos = i;
        return 0;
    }
    unsigned char c = (unsigned char)s[i];
    if (is_id_start(c)) {
        size_t j = i + 1;
        while (j < n && is_id_char((unsigned char)s[j])) {
            j++;
        }
        t->kind = T_ID;
        t->len = (uint32_t)(j - i);
        for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
            if (strlen(keywords[k].word) == t->len &&
                strncasecmp(keywords[k].word, s + i, t->len) == 0) {
                t->kind = keywords[k].kind;
                break;
            }
        }
        p->lex_pos = j;
        return 0;
    }
    if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        int is_float;
        t->len = (uint32_t)number_len(s + i, n - i, &is_float);
        t->kind = is_float ? T_FLOAT : T_DEC;
        p->lex_pos = i + t->len;
        return 0;
    }
    if (c == '\'') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n) {
                return fail(p, FM_EINVAL, i, "unterminated string literal");
            }
            if (s[j] == '\'') {
                if (j + 1 < n && s[j + 1] == '\'') {
                    j += 2;
                    continue;
                }
                break;
            }
            j++;
        }
        t->kind = T_STR;
        t->len = (uint32_t)(j + 1 - i);
        p->lex_pos = j + 1;
        return 0;
    }
    t->len = 1;
    switch (c) {
    case '=':
        t->kind = T_EQ;
        break;
    case '<':
        if (i + 1 < n && s[i + 1] == '>') {
            t->kind = T_NE;
            t->len = 2;
        } else if (i + 1 < n && s[i + 1] == '=') {
            t->kind = T_LE;
            t->len = 2;
        } else {
            t->kind = T_LT;
        }
        break;
    case '>':
        if (i + 1 < n && s[i + 1] == '=') {
            t->kind = T_GE;
            t->len = 2;
        } else {
            t->kind = T_GT;
        }
        break;
    case '(':
        t->kind = T_LP;
        break;
    case ')':
        t->kind = T_RP;
        break;
    case ',':
        t->kind = T_COMMA;
        break;
    case '+':
        t->kind = T_PLUS;
        break;
    case '-':
        t->kind = T_MINUS;
        break;
    default:
        if (c >= 0x20 && c < 0x7f) {
            return fail(p, FM_EINVAL, i, "unexpected character '%c'", c);
        }
        return fail(p, FM_EINVAL, i, "unexpected byte 0x%02x", c);
    }
    p->lex_pos = i + t->len;
    return 0;
}

/* The k-th token ahead (k = 0 or 1), lexing as needed; NULL after a lexical error. */
static const tok *
peek(parser *p, int k)
{
    while (p->n_la <= k) {
        if (p->failed || lex(p, &p->la[p->n_la]) != 0) {
            return NULL;
        }
        p->n_la++;
    }
    return &p->la[k];
}

static int
peek_is(parser *p, int k, tok_kind kind)
{
    const tok *t = peek(p, k);
    return t != NULL && t->kind == kind;
}

static tok
take(parser *p)
{
    tok t = p->la[0];
    p->la[0] = p->la[1];
    p->n_la--;
    return t;
}

static int
expect(parser *p, tok_kind kind, tok *out)
{
    const tok *t = peek(p, 0);
    if (t == NULL) {
        return -1;
    }
    if (t->kind != kind) {
        if (t->kind == T_EOF) {
            return fail(p, FM_EINVAL, t->pos, "expected %s, found the end of the expression",
                        tok_names[kind]);
        }
        return fail(p, FM_EINVAL, t->pos, "expected %s, found '%.*s'", tok_names[kind],
                    (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
    }
    *out = take(p);
    return 0;
}

/* ---- tree building ---- */

static int
new_node(parser *p, fn_op op, uint32_t pos, int a, int b)
{
    fm_filter *f = p->f;
    fn_node *nd;
    int h = 1;
    if (f->n_nodes == p->cap_nodes) {
        int cap = p->cap_nodes ? p->cap_nodes * 2 : 32;
        fn_node *nn = realloc(f->nodes, (size_t)cap * sizeof(*nn));
        if (nn == NULL) {
            return fail(p, FM_ENOMEM, pos, "out of memory");
        }
        f->nodes = nn;
        p->cap_nodes = cap;
    }
    if (a >= 0 && f->nodes[a].height + 1 > h) {
        h = f->nodes[a].height + 1;
    }
    if (b >= 0 && f->nodes[b].height + 1 > h) {
        h = f->nodes[b].height + 1;
    }
    if (h > FN_MAX_HEIGHT) {
        return fail(p, FM_ETOOBIG, pos, "expression has more than %d levels of operators",
                    FN_MAX_HEIGHT);
    }
    nd = &f->nodes[f->n_nodes];
    memset(nd, 0, sizeof(*nd));
    nd->op = (uint8_t)op;
    nd->a = a;
    nd->b = b;
    nd->prop = -1;
    nd->pos = pos;
    nd->height = (uint16_t)h;
    return f->n_nodes++;
}

static int
const_node(parser *p, uint32_t pos, fv v)
{
    int n = new_node(p, FN_CONST, pos, -1, -1);
    if (n >= 0) {
        p->f->nodes[n].v = v;
    }
    return n;
}

/* Copy bytes into the arena (sized at compile start to hold every literal and name). */
static fm_slice
arena_put(parser *p, const char *s, size_t n)
{
    uint8_t *dst = p->f->arena + p->arena_used;
    memcpy(dst, s, n);
    p->arena_used += n;
    return fm_slice_make(dst, n);
}

/* Decode a STRING_LITERAL token ('' is a quote) into the arena. */
static fm_slice
decode_string(parser *p, const tok *t)
{
    uint8_t *dst = p->f->arena + p->arena_used;
    size_t n = 0;
    for (uint32_t i = t->pos + 1; i + 1 < t->pos + t->len; i++) {
        dst[n++] = (uint8_t)p->src[i];
        if (p->src[i] == '\'') {
            i++;
        }
    }
    p->arena_used += n;
    return fm_slice_make(dst, n);
}

static int
is_const(const parser *p, int n)
{
    return p->f->nodes[n].op == FN_CONST;
}

/* RocketMQ's BooleanExpression: what may stand where a condition is expected. */
static int
is_bool_expr(const parser *p, int n)
{
    const fn_node *nd = &p->f->nodes[n];
    switch (nd->op) {
    case FN_CONST:
        return nd->v.t == FV_BOOL || nd->v.t == FV_NULL;
    case FN_PROP:
    case FN_NEG:
        return 0;
    default:
        return 1;
    }
}

/* Describe a node for messages: its source text from its position, cut short. */
static int
node_text(const parser *p, int n, const char **s)
{
    size_t pos = p->f->nodes[n].pos, end = pos;
    while (end < p->len && end - pos < 30 && p->src[end] != '\n') {
        end++;
    }
    *s = p->src + pos;
    return (int)(end - pos);
}

static int
as_bool(parser *p, int n)
{
    const char *s;
    int len;
    if (n < 0) {
        return -1;
    }
    if (is_bool_expr(p, n)) {
        return n;
    }
    if (p->f->nodes[n].op == FN_PROP) {
        return new_node(p, FN_BOOLCAST, p->f->nodes[n].pos, n, -1);
    }
    len = node_text(p, n, &s);
    return fail(p, FM_EINVAL, p->f->nodes[n].pos,
                "expression will not result in a boolean value: '%.*s'", len, s);
}

/* checkLessThanOperand: only numbers and non-boolean expressions can be ordered. */
static int
check_orderable(parser *p, int n)
{
    const fn_node *nd = &p->f->nodes[n];
    const char *s;
    int len = node_text(p, n, &s);
    if (nd->op == FN_CONST) {
        if (nd->v.t == FV_INT || nd->v.t == FV_LONG || nd->v.t == FV_DOUBLE) {
            return 0;
        }
        return fail(p, FM_EINVAL, nd->pos,
                    "value '%.*s' cannot be compared with <, <=, > or >= (only numbers can)", len,
                    s);
    }
    if (is_bool_expr(p, n)) {
        return fail(p, FM_EINVAL, nd->pos, "condition '%.*s' cannot be compared", len, s);
    }
    return 0;
}

static int
make_order(parser *p, fn_op op, int l, int r)
{
    if (l < 0 || r < 0 || check_orderable(p, l) || check_orderable(p, r)) {
        return -1;
    }
    return new_node(p, op, p->f->nodes[l].pos, l, r);
}

static int
make_equal(parser *p, int l, int r, uint32_t op_pos)
{
    if (l < 0 || r < 0) {
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        int n = k ? r : l;
        if (is_const(p, n) && p->f->nodes[n].v.t == FV_NULL) {
            return fail(p, FM_EINVAL, p->f->nodes[n].pos,
                        "NULL cannot be compared with '=' or '<>' (use IS NULL or IS NOT NULL)");
        }
    }
    if (is_const(p, l) && is_const(p, r) && p->f->nodes[l].v.t == FV_BOOL &&
        p->f->nodes[r].v.t != FV_BOOL) {
        const char *s;
        int len = node_text(p, r, &s);
        return fail(p, FM_EINVAL, op_pos, "a boolean constant cannot be compared with '%.*s'", len,
                    s);
    }
    return new_node(p, FN_EQ, p->f->nodes[l].pos, l, r);
}

static int parse_or(parser *p);
static int parse_unary(parser *p);

/* Java's Long.parseLong on the literal's digits (an L suffix stripped). */
static int
literal_int(parser *p, const tok *t)
{
    char buf[32];
    size_t n = t->len;
    const char *s = p->src + t->pos;
    fv v;
    if (n > 0 && (s[n - 1] == 'l' || s[n - 1] == 'L')) {
        n--;
    }
    if (n >= sizeof(buf)) {
        return fail(p, FM_EINVAL, t->pos, "integer '%.*s' is out of the 64-bit range", (int)n, s);
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno == ERANGE) {
        return fail(p, FM_EINVAL, t->pos, "integer '%s' is out of the 64-bit range", buf);
    }
    if (x >= INT32_MIN && x <= INT32_MAX) {
        v.t = FV_INT;
        v.u.i = (int32_t)x;
    } else {
        v.t = FV_LONG;
        v.u.l = (int64_t)x;
    }
    return const_node(p, t->pos, v);
}

/* ConstantExpression.createFloat: a double that is neither infinite nor below
 * Double.MIN_VALUE (so 0.0 itself is refused, as RocketMQ does). */
static int
literal_float(parser *p, const tok *t)
{
    char buf[400];
    fv v;
    if (t->len >= sizeof(buf)) {
        return fail(p, FM_ETOOBIG, t->pos, "decimal literal longer than %zu characters",
                    sizeof(buf) - 1);
    }
    memcpy(buf, p->src + t->pos, t->len);
    buf[t->len] = '\0';
    v.t = FV_DOUBLE;
    v.u.d = strtod(buf, NULL);
    if (isinf(v.u.d)) {
        return fail(p, FM_EINVAL, t->pos, "%s is greater than the largest double", buf);
    }
    if (v.u.d < 4.9e-324) {
        return fail(p, FM_EINVAL, t->pos,
                    "%s is less than Double.MIN_VALUE (RocketMQ refuses 0.0 literals)", buf);
    }
    return const_node(p, t->pos, v);
}

static int
property(parser *p, const tok *t)
{
    fm_filter *f = p->f;
    int idx = -1, n;
    for (int i = 0; i < f->n_names; i++) {
        if (f->names[i].len == t->len && memcmp(f->names[i].ptr, p->src + t->pos, t->len) == 0) {
            idx = i;
            break;
        }
    }
    if (idx < 0) {
        if (f->n_names == FM_FILTER_MAX_PROPS) {
            return fail(p, FM_ETOOBIG, t->pos, "expression names more than %d properties",
                        FM_FILTER_MAX_PROPS);
        }
        idx = f->n_names++;
        f->names[idx] = arena_put(p, p->src + t->pos, t->len);
    }
    n = new_node(p, FN_PROP, t->pos, -1, -1);
    if (n >= 0) {
        f->nodes[n].prop = idx;
    }
    return n;
}

static int
parse_primary(parser *p)
{
    const tok *t = peek(p, 0);
    tok tk;
    fv v;
    int n;
    if (t == NULL) {
        return -1;
    }
    switch (t->kind) {
    case T_STR:
        tk = take(p);
        v.t = FV_STR;
        v.u.s = decode_string(p, &tk);
        return const_node(p, tk.pos, v);
    case T_DEC:
        tk = take(p);
        return literal_int(p, &tk);
    case T_FLOAT:
        tk = take(p);
        return literal_float(p, &tk);
    case T_TRUE:
    case T_FALSE:
        tk = take(p);
        v.t = FV_BOOL;
        v.u.b = tk.kind == T_TRUE;
        return const_node(p, tk.pos, v);
    case T_NULL:
        tk = take(p);
        v.t = FV_NULL;
        return const_node(p, tk.pos, v);
    case T_ID:
        tk = take(p);
        return property(p, &tk);
    case T_LP:
        tk = take(p);
        n = parse_or(p);
        if (n < 0 || expect(p, T_RP, &tk) != 0) {
            return -1;
        }
        return n;
    case T_EOF:
        return fail(p, FM_EINVAL, t->pos,
                    "expected a value, a property name or '(', found the end of the expression");
    default:
        return fail(p, FM_EINVAL, t->pos, "expected a value, a property name or '(', found '%.*s'",
                    (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
    }
}

static int
parse_unary(parser *p)
{
    const tok *t = peek(p, 0);
    tok tk;
    int n;
    if (t == NULL) {
        return -1;
    }
    if (++p->depth > FM_FILTER_MAX_DEPTH) {
        return fail(p, FM_ETOOBIG, t->pos, "expression nests deeper than %d levels",
                    FM_FILTER_MAX_DEPTH);
    }
    switch (t->kind) {
    case T_PLUS:
        take(p);
        n = parse_unary(p);
        break;
    case T_MINUS:
        tk = take(p);
        n = parse_unary(p);
        n = n < 0 ? -1 : new_node(p, FN_NEG, tk.pos, n, -1);
        break;
    case T_NOT:
        tk = take(p);
        n = as_bool(p, parse_unary(p));
        n = n < 0 ? -1 : new_node(p, FN_NOT, tk.pos, n, -1);
        break;
    default:
        n = parse_primary(p);
        break;
    }
    p->depth--;
    return n;
}

/* "(" string ("," string)* ")" into f->strs, sorted for binary search. */
static int
cmp_slice(const void *x, const void *y)
{
    const fm_slice *a = x, *b = y;
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return memcmp(a->ptr, b->ptr, a->len);
}

static int
parse_in_list(parser *p, int *off, int *count)
{
    tok tk;
    fm_filter *f = p->f;
    if (expect(p, T_LP, &tk) != 0) {
        return -1;
    }
    *off = f->n_strs;
    *count = 0;
    for (;;) {
        if (expect(p, T_STR, &tk) != 0) {
            return -1;
        }
        if (f->n_strs == p->cap_strs) {
            int cap = p->cap_strs ? p->cap_strs * 2 : 16;
            fm_slice *ns = realloc(f->strs, (size_t)cap * sizeof(*ns));
            if (ns == NULL) {
                return fail(p, FM_ENOMEM, tk.pos, "out of memory");
            }
            f->strs = ns;
            p->cap_strs = cap;
        }
        f->strs[f->n_strs++] = decode_string(p, &tk);
        (*count)++;
        if (!peek_is(p, 0, T_COMMA)) {
            break;
        }
        take(p);
    }
    if (p->failed || expect(p, T_RP, &tk) != 0) {
        return -1;
    }
    qsort(f->strs + *off, (size_t)*count, sizeof(fm_slice), cmp_slice);
    return 0;
}

static int
string_op(parser *p, fn_op op, int l)
{
    tok tk;
    int n;
    if (expect(p, T_STR, &tk) != 0) {
        return -1;
    }
    n = new_node(p, op, p->f->nodes[l].pos, l, -1);
    if (n >= 0) {
        p->f->nodes[n].v.t = FV_STR;
        p->f->nodes[n].v.u.s = decode_string(p, &tk);
    }
    return n;
}

static int
between(parser *p, int v, int negated)
{
    tok tk;
    int lo = parse_unary(p), hi;
    if (lo < 0 || expect(p, T_AND, &tk) != 0 || (hi = parse_unary(p)) < 0) {
        return -1;
    }
    if (negated) {
        int a = make_order(p, FN_LT, v, lo), b = a < 0 ? -1 : make_order(p, FN_GT, v, hi);
        return b < 0 ? -1 : new_node(p, FN_OR, p->f->nodes[v].pos, a, b);
    }
    if (is_const(p, lo) && is_const(p, hi)) {
        fv lv = p->f->nodes[lo].v, hv = p->f->nodes[hi].v;
        int c;
        if (lv.t == FV_NULL || hv.t == FV_NULL) {
            return fail(p, FM_EINVAL, p->f->nodes[lo].pos, "BETWEEN bounds cannot be NULL");
        }
        if (fm_filter_jcompare(hv, lv, &c, NULL) != FM_OK || c < 0) {
            return fail(p, FM_EINVAL, p->f->nodes[lo].pos,
                        "BETWEEN's lower bound must be less than or equal to its upper bound");
        }
    }
    {
        int a = make_order(p, FN_GE, v, lo), b = a < 0 ? -1 : make_order(p, FN_LE, v, hi);
        return b < 0 ? -1 : new_node(p, FN_AND, p->f->nodes[v].pos, a, b);
    }
}

static int
parse_comparison(parser *p)
{
    int l = parse_unary(p);
    while (l >= 0) {
        const tok *t = peek(p, 0);
        int negated = 0, off, cnt;
        tok_kind k;
        if (t == NULL) {
            return -1;
        }
        k = t->kind;
        if (k == T_NOT) {
            const tok *t2 = peek(p, 1);
            if (t2 == NULL) {
                return -1;
            }
            if (t2->kind != T_CONTAINS && t2->kind != T_STARTSWITH && t2->kind != T_ENDSWITH &&
                t2->kind != T_BETWEEN && t2->kind != T_IN) {
                break;
            }
            take(p);
            negated = 1;
            k = t2->kind;
        }
        switch (k) {
        case T_GT:
        case T_GE:
        case T_LT:
        case T_LE:
            take(p);
            l = make_order(p,
                           k == T_GT   ? FN_GT
                           : k == T_GE ? FN_GE
                           : k == T_LT ? FN_LT
                                       : FN_LE,
                           l, parse_unary(p));
            break;
        case T_CONTAINS:
            take(p);
            l = string_op(p, negated ? FN_NOT_CONTAINS : FN_CONTAINS, l);
            break;
        case T_STARTSWITH:
            take(p);
            l = string_op(p, negated ? FN_NOT_STARTS : FN_STARTS, l);
            break;
        case T_ENDSWITH:
            take(p);
            l = string_op(p, negated ? FN_NOT_ENDS : FN_ENDS, l);
            break;
        case T_BETWEEN:
            take(p);
            l = between(p, l, negated);
            break;
        case T_IN: {
            tok in = take(p);
            if (p->f->nodes[l].op != FN_PROP) {
                return fail(p, FM_EINVAL, in.pos, "IN needs a property on its left");
            }
            if (parse_in_list(p, &off, &cnt) != 0) {
                return -1;
            }
            int n = new_node(p, negated ? FN_NOT_IN : FN_IN, p->f->nodes[l].pos, l, -1);
            if (n >= 0) {
                p->f->nodes[n].list_off = off;
                p->f->nodes[n].list_n = cnt;
            }
            l = n;
            break;
        }
        default:
            return l;
        }
    }
    return p->failed ? -1 : l;
}

static int
parse_equality(parser *p)
{
    int l = parse_comparison(p);
    while (l >= 0) {
        const tok *t = peek(p, 0);
        tok tk;
        fv nullv = {.t = FV_NULL};
        if (t == NULL) {
            return -1;
        }
        if (t->kind == T_EQ || t->kind == T_NE) {
            int ne = t->kind == T_NE;
            tk = take(p);
            l = make_equal(p, l, parse_comparison(p), tk.pos);
            if (ne && l >= 0) {
                l = new_node(p, FN_NOT, tk.pos, l, -1);
            }
        } else if (t->kind == T_IS) {
            int is_not;
            tk = take(p);
            is_not = peek_is(p, 0, T_NOT);
            if (is_not) {
                take(p);
            }
            if (expect(p, T_NULL, &tk) != 0) {
                return -1;
            }
            int c = const_node(p, tk.pos, nullv);
            l = c < 0 ? -1 : new_node(p, FN_EQ, p->f->nodes[l].pos, l, c);
            if (is_not && l >= 0) {
                l = new_node(p, FN_NOT, tk.pos, l, -1);
            }
        } else {
            break;
        }
    }
    return p->failed ? -1 : l;
}

static int
parse_and(parser *p)
{
    int l = parse_equality(p);
    while (l >= 0 && peek_is(p, 0, T_AND)) {
        tok tk = take(p);
        int a = as_bool(p, l), b = a < 0 ? -1 : as_bool(p, parse_equality(p));
        l = b < 0 ? -1 : new_node(p, FN_AND, tk.pos, a, b);
    }
    return p->failed ? -1 : l;
}

static int
parse_or(parser *p)
{
    int l;
    l = parse_and(p);
    while (l >= 0 && peek_is(p, 0, T_OR)) {
        tok tk = take(p);
        int a = as_bool(p, l), b = a < 0 ? -1 : as_bool(p, parse_and(p));
        l = b < 0 ? -1 : new_node(p, FN_OR, tk.pos, a, b);
    }
    return p->failed ? -1 : l;
}

int
fm_filter_sql_parse(fm_filter *f, fm_errbuf *eb)
{
    parser p;
    int root;
    memset(&p, 0, sizeof(p));
    p.f = f;
    p.src = f->text;
    p.len = f->text_len;
    p.eb = eb;
    /* Decoded literals and names are never longer than their source text. */
    f->arena = malloc(f->text_len + 1);
    f->names = calloc(FM_FILTER_MAX_PROPS, sizeof(*f->names));
    if (f->arena == NULL || f->names == NULL) {
        return fm_err_set(eb, FM_ENOMEM, "out of memory");
    }
    root = as_bool(&p, parse_or(&p));
    if (root < 0) {
        return p.failed ? p.failed : fm_err_set(eb, FM_EINVAL, "invalid expression");
    }
    f->root = root;
    if (p.n_la > 0 && p.la[0].kind != T_EOF) {
        int line, col;
        char msg[200];
        line_col(&p, p.la[0].pos, &line, &col);
        snprintf(msg, sizeof(msg),
                 "text from line %d, column %d on is ignored, as RocketMQ ignores it: '%.*s'", line,
                 col, (int)(f->text_len - p.la[0].pos > 40 ? 40 : f->text_len - p.la[0].pos),
                 f->text + p.la[0].pos);
        f->warning = strdup(msg);
    }
    return FM_OK;
}
