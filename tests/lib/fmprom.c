/*
 * fmprom.c - the strict text-format checker of fmprom.h. Written from the format's
 * specification (prometheus.io, "Exposition formats"), not from any parser.
 */
#include "fmprom.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAM 512
#define MAX_SERIES 8192
#define NAME_MAX_LEN 200
#define LABELS_MAX_LEN 1024

typedef struct fam {
    char name[NAME_MAX_LEN];
    char type[16];
    int help, samples, closed;
} fam;

typedef struct series {
    char key[NAME_MAX_LEN + LABELS_MAX_LEN + 8]; /* name{sorted labels} */
} series;

/* a histogram's lines, checked when its family ends */
typedef struct hline {
    int kind;                  /* 0 bucket, 1 sum, 2 count */
    char base[LABELS_MAX_LEN]; /* labels other than le, sorted */
    double le, v;
} hline;

typedef struct ctx {
    fam fams[MAX_FAM];
    int n_fams;
    series *ser;
    int n_ser;
    hline *h;
    int n_h;
    int cur; /* family of the last sample, -1 none */
    char *err;
    size_t cap;
    int line;
} ctx;

static int __attribute__((format(printf, 2, 3))) fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->err, c->cap, "line %d: ", c->line);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < c->cap) {
        vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
    }
    va_end(ap);
    return -1;
}

static int
name_ok(const char *s, size_t n, int metric)
{
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        int ok = isalpha(ch) || ch == '_' || (metric && ch == ':') || (i > 0 && isdigit(ch));
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static fam *
find_fam(ctx *c, const char *name)
{
    for (int i = 0; i < c->n_fams; i++) {
        if (strcmp(c->fams[i].name, name) == 0) {
            return &c->fams[i];
        }
    }
    return NULL;
}

static int
ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int
parse_value(const char *s, double *v)
{
    char *end;
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
        *v = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *v = -INFINITY;
        return 0;
    }
    if (strcmp(s, "NaN") == 0) {
        *v = NAN;
        return 0;
    }
    if (*s == '\0') {
        return -1;
    }
    *v = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Check the finished histogram family f against its collected lines. */
static int
check_histogram(ctx *c, const fam *f)
{
    for (int i = 0; i < c->n_h; i++) {
        double last_le = -INFINITY, last_v = -1;
        int seen_inf = 0, have_sum = 0, have_count = 0;
        double count = -1;
        if (c->h[i].kind != 0 || (i > 0 && strcmp(c->h[i].base, c->h[i - 1].base) == 0)) {
            continue;
        }
        for (int j = 0; j < c->n_h; j++) {
            const hline *x = &c->h[j];
            if (strcmp(x->base, c->h[i].base) != 0) {
                continue;
            }
            if (x->kind == 0) {
                if (x->le <= last_le) {
                    return fail(c, "%s: bucket le=%g after le=%g (buckets must rise)", f->name,
                                x->le, last_le);
                }
                if (x->v < last_v) {
                    return fail(c, "%s: bucket le=%g holds %g, less than the one before (%g)",
                                f->name, x->le, x->v, last_v);
                }
                last_le = x->le;
                last_v = x->v;
                seen_inf |= isinf(x->le) && x->le > 0;
            } else if (x->kind == 1) {
                have_sum = 1;
            } else {
                have_count = 1;
                count = x->v;
            }
        }
        if (!seen_inf) {
            return fail(c, "%s: no le=\"+Inf\" bucket", f->name);
        }
        if (!have_sum || !have_count) {
            return fail(c, "%s: a histogram needs _sum and _count", f->name);
        }
        if (count != last_v) {
            return fail(c, "%s: _count %g differs from the +Inf bucket %g", f->name, count, last_v);
        }
    }
    c->n_h = 0;
    return 0;
}

static int
close_cur(ctx *c)
{
    if (c->cur >= 0) {
        fam *f = &c->fams[c->cur];
        f->closed = 1;
        if (strcmp(f->type, "histogram") == 0 && check_histogram(c, f) != 0) {
            return -1;
        }
    }
    c->cur = -1;
    return 0;
}

static int
comment(ctx *c, const char *l)
{
    char kw[8], name[NAME_MAX_LEN], rest[16];
    fam *f;
    if (sscanf(l, "# %7s", kw) != 1 || (strcmp(kw, "HELP") != 0 && strcmp(kw, "TYPE") != 0)) {
        return 0; /* any other comment is allowed */
    }
    if (sscanf(l + 2 + strlen(kw), " %199s", name) != 1 || !name_ok(name, strlen(name), 1)) {
        return fail(c, "%s line without a valid metric name", kw);
    }
    f = find_fam(c, name);
    if (f != NULL && f->closed) {
        return fail(c, "%s of %s after its samples ended", kw, name);
    }
    if (f == NULL) {
        if (c->n_fams == MAX_FAM) {
            return fail(c, "too many families");
        }
        f = &c->fams[c->n_fams++];
        memset(f, 0, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "%s", name);
    }
    if (c->cur != (int)(f - c->fams) && close_cur(c) != 0) {
        return -1;
    }
    c->cur = (int)(f - c->fams);
    if (strcmp(kw, "HELP") == 0) {
        if (f->help++) {
            return fail(c, "second HELP for %s", name);
        }
        return 0;
    }
    if (f->type[0] != '\0') {
        return fail(c, "second TYPE for %s", name);
    }
    if (f->samples > 0) {
        return fail(c, "TYPE of %s after its samples", name);
    }
    if (sscanf(l + 2 + strlen(kw), " %*s %15s", rest) != 1 ||
        (strcmp(rest, "counter") != 0 && strcmp(rest, "gauge") != 0 &&
         strcmp(rest, "histogram") != 0 && strcmp(rest, "summary") != 0 &&
         strcmp(rest, "untyped") != 0)) {
        return fail(c, "TYPE of %s is not counter, gauge, histogram, summary or untyped", name);
    }
    if (strcmp(rest, "counter") == 0 && !ends_with(name, "_total")) {
        return fail(c, "counter %s does not end in _total", name);
    }
    snprintf(f->type, sizeof(f->type), "%s", rest);
    return 0;
}

static int
sample_line(ctx *c, const char *l)
{
    char name[NAME_MAX_LEN], base_name[NAME_MAX_LEN], val[64], canon[LABELS_MAX_LEN] = "";
    char nobucket[LABELS_MAX_LEN] = "";
    char *labels[64];
    int n_labels = 0, kind = -1;
    double le = NAN, v;
    const char *p = l;
    size_t nl = 0;
    fam *f;
    while (p[nl] != '\0' && p[nl] != '{' && p[nl] != ' ') {
        nl++;
    }
    if (nl == 0 || nl >= sizeof(name) || !name_ok(p, nl, 1)) {
        return fail(c, "bad metric name");
    }
    memcpy(name, p, nl);
    name[nl] = '\0';
    p += nl;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            char lname[128], lval[512];
            size_t k = 0, o = 0;
            while (p[k] != '\0' && p[k] != '=') {
                k++;
            }
            if (p[k] != '=' || k >= sizeof(lname) || !name_ok(p, k, 0)) {
                return fail(c, "%s: bad label name", name);
            }
            memcpy(lname, p, k);
            lname[k] = '\0';
            p += k + 1;
            if (*p++ != '"') {
                return fail(c, "%s: label %s's value is not quoted", name, lname);
            }
            while (*p != '"') {
                if (*p == '\0' || *p == '\n' || o + 2 >= sizeof(lval)) {
                    return fail(c, "%s: label %s's value is not closed", name, lname);
                }
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                        return fail(c, "%s: label %s has a bad escape \\%c", name, lname, p[1]);
                    }
                    lval[o++] = *p++;
                }
                lval[o++] = *p++;
            }
            lval[o] = '\0';
            p++;
            for (int i = 0; i < n_labels; i++) {
                size_t ln = strlen(lname);
                if (strncmp(labels[i], lname, ln) == 0 && labels[i][ln] == '=') {
                    return fail(c, "%s: label %s given twice", name, lname);
                }
            }
            if (n_labels == 64) {
                return fail(c, "%s: too many labels", name);
            }
            labels[n_labels] = malloc(strlen(lname) + strlen(lval) + 4);
            sprintf(labels[n_labels++], "%s=\"%s\"", lname, lval);
            if (strcmp(lname, "le") == 0 && parse_value(lval, &le) != 0) {
                for (int i = 0; i < n_labels; i++) {
                    free(labels[i]);
                }
                return fail(c, "%s: le=\"%s\" is not a number", name, lval);
            }
            if (*p == ',') {
                p++;
            } else if (*p != '}') {
                for (int i = 0; i < n_labels; i++) {
                    free(labels[i]);
                }
                return fail(c, "%s: expected ',' or '}' after a label", name);
            }
        }
        p++;
    }
    qsort(labels, (size_t)n_labels, sizeof(labels[0]), cmp_str);
    for (int i = 0; i < n_labels; i++) {
        strncat(canon, labels[i], sizeof(canon) - strlen(canon) - 2);
        strcat(canon, ",");
        if (strncmp(labels[i], "le=", 3) != 0) {
            strncat(nobucket, labels[i], sizeof(nobucket) - strlen(nobucket) - 2);
            strcat(nobucket, ",");
        }
        free(labels[i]);
    }
    if (*p != ' ' || sscanf(p, " %63s", val) != 1 || parse_value(val, &v) != 0) {
        return fail(c, "%s: missing or bad value", name);
    }
    {
        /* after the value only an optional integer timestamp */
        const char *q = strstr(p + 1, val) + strlen(val);
        if (*q == ' ') {
            q++;
            if (*q == '-') {
                q++;
            }
            if (*q == '\0' || strspn(q, "0123456789") != strlen(q)) {
                return fail(c, "%s: junk after the value", name);
            }
        } else if (*q != '\0') {
            return fail(c, "%s: junk after the value", name);
        }
    }
    snprintf(base_name, sizeof(base_name), "%s", name);
    f = find_fam(c, name);
    if (f == NULL || f->type[0] == '\0') {
        static const char *const suf[] = {"_bucket", "_sum", "_count"};
        for (int k = 0; k < 3 && f == NULL; k++) {
            if (ends_with(name, suf[k])) {
                fam *g;
                base_name[strlen(name) - strlen(suf[k])] = '\0';
                g = find_fam(c, base_name);
                if (g != NULL && (strcmp(g->type, "histogram") == 0 ||
                                  (k > 0 && strcmp(g->type, "summary") == 0))) {
                    f = g;
                    kind = k;
                } else {
                    snprintf(base_name, sizeof(base_name), "%s", name);
                }
            }
        }
    }
    if (f == NULL || f->type[0] == '\0') {
        return fail(c, "sample %s has no TYPE line before it", name);
    }
    if (strcmp(f->type, "histogram") == 0) {
        if (kind < 0) {
            return fail(c, "%s: a histogram's samples are _bucket, _sum and _count", name);
        }
        if (kind == 0 && isnan(le)) {
            return fail(c, "%s: a bucket without le", name);
        }
        if (kind != 0 && !isnan(le)) {
            return fail(c, "%s: le on a non-bucket sample", name);
        }
        c->h[c->n_h].kind = kind;
        snprintf(c->h[c->n_h].base, sizeof(c->h[c->n_h].base), "%s", nobucket);
        c->h[c->n_h].le = le;
        c->h[c->n_h++].v = v;
    }
    if (f->closed) {
        return fail(c, "%s: samples of %s are not contiguous", name, f->name);
    }
    if (c->cur != (int)(f - c->fams)) {
        if (close_cur(c) != 0) {
            return -1;
        }
        c->cur = (int)(f - c->fams);
    }
    if (strcmp(f->type, "counter") == 0 && (v < 0 || isnan(v))) {
        return fail(c, "counter %s is %g", name, v);
    }
    f->samples++;
    {
        char key[sizeof(((series *)0)->key)];
        if ((size_t)snprintf(key, sizeof(key), "%s{%s}", name, canon) >= sizeof(key)) {
            return fail(c, "%s: labels too long", name);
        }
        for (int i = 0; i < c->n_ser; i++) {
            if (strcmp(c->ser[i].key, key) == 0) {
                return fail(c, "series %s appears twice", key);
            }
        }
        if (c->n_ser == MAX_SERIES) {
            return fail(c, "too many series");
        }
        snprintf(c->ser[c->n_ser++].key, sizeof(key), "%s", key);
    }
    return 0;
}

int
fmprom_check(const char *text, char *err, size_t cap)
{
    ctx *c = calloc(1, sizeof(*c));
    const char *p = text;
    int rc = 0;
    if (c == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    c->ser = calloc(MAX_SERIES, sizeof(*c->ser));
    c->h = calloc(MAX_SERIES, sizeof(*c->h));
    c->cur = -1;
    c->err = err;
    c->cap = cap;
    if (c->ser == NULL || c->h == NULL) {
        rc = -1;
        snprintf(err, cap, "out of memory");
    }
    if (rc == 0 && (*text == '\0' || text[strlen(text) - 1] != '\n')) {
        rc = fail(c, "the text must end with a newline");
    }
    while (rc == 0 && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *line = malloc(n + 1);
        c->line++;
        memcpy(line, p, n);
        line[n] = '\0';
        if (n == 0) {
            rc = 0; /* blank lines are allowed */
        } else if (line[0] == '#') {
            rc = comment(c, line);
        } else if (c->n_h >= MAX_SERIES - 1) {
            rc = fail(c, "too many histogram lines");
        } else {
            rc = sample_line(c, line);
        }
        free(line);
        p += n + (nl != NULL);
    }
    if (rc == 0) {
        rc = close_cur(c);
    }
    free(c->ser);
    free(c->h);
    free(c);
    return rc;
}

int
fmprom_has_family(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(text, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
        if (strncmp(p + 7, name, n) == 0 && p[7 + n] == ' ') {
            return 1;
        }
    }
    return 0;
}

int
fmprom_value(const char *text, const char *name, const char *labels, double *v)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        if (*p != '#' && strncmp(p, name, n) == 0 && (p[n] == '{' || p[n] == ' ')) {
            const char *sp = p[n] == '{' ? strchr(p, '}') : p + n;
            int ok = sp != NULL;
            if (ok && labels != NULL && labels[0] != '\0') {
                /* every k="v" of labels must be among this line's labels */
                char want[512];
                char *save = NULL, *tok;
                snprintf(want, sizeof(want), "%s", labels);
                for (tok = strtok_r(want, ",", &save); tok != NULL && ok;
                     tok = strtok_r(NULL, ",", &save)) {
                    const char *hit = strstr(p, tok);
                    ok = hit != NULL && hit < sp && (hit[-1] == '{' || hit[-1] == ',');
                }
            }
            if (ok) {
                *v = strtod(sp + (*sp == '}'), NULL);
                return 1;
            }
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return 0;
}

int
fmprom_documented(const char *path, const char *section, char names[][128], int max)
{
    char *doc, *p, *end;
    size_t len;
    int n = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    doc = calloc(1, 1 << 20);
    len = doc != NULL ? fread(doc, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (doc == NULL) {
        return -1;
    }
    doc[len] = '\0';
    p = strstr(doc, section);
    if (p == NULL) {
        free(doc);
        return -1;
    }
    end = strstr(p + 3, "\n## ");
    if (end != NULL) {
        *end = '\0';
    }
    while ((p = strstr(p, "\n| `ferrymq_")) != NULL && n < max) {
        char *q = p + 4;
        size_t k = strcspn(q, "`");
        snprintf(names[n++], 128, "%.*s", (int)k, q);
        p = q + k;
    }
    free(doc);
    return n;
}
