#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const fm_config_opt *
find_opt(const fm_config_opt *tab, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].key, key) == 0) {
            return &tab[i];
        }
    }
    return NULL;
}

static int
parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;
    int64_t mul = 1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno != 0) {
        return FM_EINVAL;
    }
    switch (tolower((unsigned char)*end)) {
    case 'k':
        mul = 1024;
        end++;
        break;
    case 'm':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
        mul = 1024LL * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0') {
        return FM_EINVAL;
    }
    if (v > INT64_MAX / mul || v < INT64_MIN / mul) {
        return FM_EINVAL;
    }
    *out = (int64_t)v * mul;
    return FM_OK;
}

static int
parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return FM_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return FM_OK;
        }
    }
    return FM_EINVAL;
}

static int
apply(const fm_config_opt *o, void *settings, const char *value, fm_errbuf *eb)
{
    char *field = (char *)settings + o->offset;
    switch (o->type) {
    case FM_CONFIG_STR:
        if (strlen(value) >= FM_CONFIG_STR_MAX) {
            return fm_err_set(eb, FM_EINVAL, "%s: value longer than %d bytes", o->key,
                              FM_CONFIG_STR_MAX - 1);
        }
        strcpy(field, value);
        return FM_OK;
    case FM_CONFIG_INT: {
        int64_t v;
        if (parse_int(value, &v) != FM_OK) {
            return fm_err_set(eb, FM_EINVAL, "%s: '%s' is not an integer", o->key, value);
        }
        if (v < o->min || v > o->max) {
            return fm_err_set(eb, FM_EINVAL, "%s: %lld is outside [%lld, %lld]", o->key,
                              (long long)v, (long long)o->min, (long long)o->max);
        }
        memcpy(field, &v, sizeof(v));
        return FM_OK;
    }
    case FM_CONFIG_BOOL: {
        int v;
        if (parse_bool(value, &v) != FM_OK) {
            return fm_err_set(eb, FM_EINVAL, "%s: '%s' is not a boolean", o->key, value);
        }
        memcpy(field, &v, sizeof(v));
        return FM_OK;
    }
    }
    return fm_err_set(eb, FM_EINVAL, "%s: bad option type", o->key);
}

int
fm_config_defaults(const fm_config_opt *tab, size_t n, void *settings, fm_errbuf *eb)
{
    for (size_t i = 0; i < n; i++) {
        int rc = apply(&tab[i], settings, tab[i].def, eb);
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

int
fm_config_set(const fm_config_opt *tab, size_t n, void *settings, const char *key,
              const char *value, fm_errbuf *eb)
{
    const fm_config_opt *o = find_opt(tab, n, key);
    if (o == NULL) {
        return fm_err_set(eb, FM_ENOTFOUND, "unknown setting '%s'", key);
    }
    return apply(o, settings, value, eb);
}

static char *
trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    return s;
}

const fm_config_opt *
fm_config_lookup(const fm_config_opt *tab, size_t n, const char *key)
{
    return find_opt(tab, n, key);
}

int
fm_config_parse_text(const char *origin, const char *text, size_t len, fm_config_pair_fn cb,
                     void *ud, fm_errbuf *eb)
{
    char line[1024];
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char *s, *eq;
        int rc;
        lineno++;
        if (ll >= sizeof(line)) {
            return fm_err_set(eb, FM_EINVAL, "%s:%d: line too long", origin, lineno);
        }
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        pos += ll + (nl != NULL);
        if (memchr(line, '\0', ll) != NULL) {
            return fm_err_set(eb, FM_EINVAL, "%s:%d: a NUL byte", origin, lineno);
        }
        s = trim(line);
        /* '!' too: a Java Properties comment, as RocketMQ's tools may write them */
        if (*s == '\0' || *s == '#' || *s == '!') {
            continue;
        }
        eq = strchr(s, '=');
        if (eq == NULL) {
            return fm_err_set(eb, FM_EINVAL, "%s:%d: expected key=value", origin, lineno);
        }
        *eq = '\0';
        if ((rc = cb(ud, trim(s), trim(eq + 1), lineno, eb)) != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

typedef struct set_ctx {
    const fm_config_opt *tab;
    size_t n;
    void *settings;
    const char *path;
} set_ctx;

static int
set_pair(void *ud, const char *key, const char *value, int lineno, fm_errbuf *eb)
{
    set_ctx *c = ud;
    fm_errbuf sub;
    int rc = fm_config_set(c->tab, c->n, c->settings, key, value, &sub);
    if (rc != FM_OK) {
        fm_err_set(eb, rc, "%s:%d: %s", c->path, lineno, sub.msg);
    }
    return rc;
}

int
fm_config_load_file(const fm_config_opt *tab, size_t n, void *settings, const char *path,
                    fm_errbuf *eb)
{
    set_ctx c = {tab, n, settings, path};
    fm_buf text = {0};
    char chunk[4096];
    size_t got;
    int rc = FM_OK;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return fm_err_sys(eb, FM_EIO, errno, "cannot open %s", path);
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (text.len + got > FM_CONFIG_FILE_MAX) {
            rc = fm_err_set(eb, FM_EINVAL, "%s: larger than %d bytes", path, FM_CONFIG_FILE_MAX);
            break;
        }
        if (fm_buf_append(&text, chunk, got) != FM_OK) {
            rc = fm_err_set(eb, FM_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == FM_OK && ferror(f)) {
        rc = fm_err_sys(eb, FM_EIO, errno, "cannot read %s", path);
    }
    fclose(f);
    if (rc == FM_OK) {
        rc = fm_config_parse_text(path, (const char *)text.data, text.len, set_pair, &c, eb);
    }
    fm_buf_free(&text);
    return rc;
}

int
fm_config_format(const fm_config_opt *tab, size_t n, const void *settings, fm_buf *out)
{
    int rc = FM_OK;
    for (size_t i = 0; i < n && rc == FM_OK; i++) {
        const char *p = (const char *)settings + tab[i].offset;
        switch (tab[i].type) {
        case FM_CONFIG_STR:
            rc = fm_buf_appendf(out, "%s=%s\n", tab[i].key, p);
            break;
        case FM_CONFIG_INT:
            rc = fm_buf_appendf(out, "%s=%lld\n", tab[i].key, (long long)*(const int64_t *)p);
            break;
        case FM_CONFIG_BOOL:
            rc = fm_buf_appendf(out, "%s=%s\n", tab[i].key, *(const int *)p ? "true" : "false");
            break;
        }
    }
    return rc;
}

static const char *
type_name(enum fm_config_type t)
{
    return t == FM_CONFIG_STR ? "string" : t == FM_CONFIG_INT ? "int" : "bool";
}

void
fm_config_print_help(const fm_config_opt *tab, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  --%s=<%s> (default: %s)\n      %s\n", tab[i].key, type_name(tab[i].type),
                tab[i].def[0] ? tab[i].def : "\"\"", tab[i].doc);
    }
}

void
fm_config_print_markdown(const fm_config_opt *tab, size_t n, FILE *out)
{
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "| `%s` | %s | `%s` | %s |\n", tab[i].key, type_name(tab[i].type), tab[i].def,
                tab[i].doc);
    }
}
