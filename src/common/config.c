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

int
fm_config_load_file(const fm_config_opt *tab, size_t n, void *settings, const char *path,
                    fm_errbuf *eb)
{
    char line[1024];
    int lineno = 0, rc = FM_OK;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return fm_err_sys(eb, FM_EIO, errno, "cannot open %s", path);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s, *eq;
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = fm_err_set(eb, FM_EINVAL, "%s:%d: line too long", path, lineno);
            break;
        }
        s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        eq = strchr(s, '=');
        if (eq == NULL) {
            rc = fm_err_set(eb, FM_EINVAL, "%s:%d: expected key=value", path, lineno);
            break;
        }
        *eq = '\0';
        fm_errbuf sub;
        rc = fm_config_set(tab, n, settings, trim(s), trim(eq + 1), &sub);
        if (rc != FM_OK) {
            fm_err_set(eb, rc, "%s:%d: %s", path, lineno, sub.msg);
            break;
        }
    }
    fclose(f);
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
