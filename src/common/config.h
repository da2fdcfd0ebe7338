/*
 * config.h - broker.conf-style `key=value` configuration, driven by option tables.
 *
 * A role describes its settings once, as an array of fm_config_opt (key as RocketMQ spells it,
 * type, offset into the role's settings struct, default, one line of documentation). The same
 * table fills defaults, parses files and `--key=value` flags, prints --help and generates docs.
 * Files: one `key=value` per line, `#` comments, blank lines ignored, whitespace around key and
 * value trimmed. Unknown keys are an error (a typo must not silently keep a default).
 *
 * Thread: no shared state; a table and its struct belong to the caller.
 */
#ifndef FM_COMMON_CONFIG_H
#define FM_COMMON_CONFIG_H

#include "common/buf.h"
#include "common/errors.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fm_config_type {
    FM_CONFIG_STR,  /* char[FM_CONFIG_STR_MAX] in the struct */
    FM_CONFIG_INT,  /* int64_t; accepts k/m/g suffixes (x1024) for sizes */
    FM_CONFIG_BOOL, /* int; true/false/1/0/yes/no/on/off */
};

#define FM_CONFIG_STR_MAX 256
#define FM_CONFIG_FILE_MAX (1 << 20) /* a settings file or body larger than this is refused */

typedef struct fm_config_opt {
    const char *key;          /* as in broker.conf, e.g. "listenPort" */
    enum fm_config_type type; /* how the value is parsed and stored */
    size_t offset;            /* offsetof(settings struct, field) */
    const char *def;          /* default, as text */
    int64_t min, max;         /* bounds for FM_CONFIG_INT (inclusive) */
    const char *doc;          /* one line for --help and docs/configuration.md */
} fm_config_opt;

/** Set every option of the table to its default. Returns FM_OK or FM_EINVAL (bad table). */
int fm_config_defaults(const fm_config_opt *tab, size_t n, void *settings, fm_errbuf *eb);

/**
 * Set one option from text. FM_ENOTFOUND for an unknown key, FM_EINVAL for a bad value;
 * eb names the key and the problem.
 */
int fm_config_set(const fm_config_opt *tab, size_t n, void *settings, const char *key,
                  const char *value, fm_errbuf *eb);

/**
 * Read a key=value file into settings. Errors name the file and line. FM_EIO when the file
 * cannot be read.
 */
int fm_config_load_file(const fm_config_opt *tab, size_t n, void *settings, const char *path,
                        fm_errbuf *eb);

/** The option named key, or NULL. */
const fm_config_opt *fm_config_lookup(const fm_config_opt *tab, size_t n, const char *key);

/** Called per key=value line with both trimmed; a non-FM_OK return stops the parse. */
typedef int (*fm_config_pair_fn)(void *ud, const char *key, const char *value, int lineno,
                                 fm_errbuf *eb);

/**
 * Split text (len bytes, not NUL-terminated) into `key=value` lines: blank lines and lines
 * starting with '#' or '!' skipped, a line without '=' (or over 1023 bytes, or with a NUL) an
 * error "origin:line: ...". The format of broker.conf and of the Properties text RocketMQ's
 * UPDATE_BROKER_CONFIG carries (MixAll.properties2String: `key=value` lines, no escapes).
 */
int fm_config_parse_text(const char *origin, const char *text, size_t len, fm_config_pair_fn cb,
                         void *ud, fm_errbuf *eb);

/**
 * Append every option as a `key=value` line (strings as they are, ints in decimal, bools
 * true/false): what GET_BROKER_CONFIG answers. FM_OK or FM_ENOMEM.
 */
int fm_config_format(const fm_config_opt *tab, size_t n, const void *settings, fm_buf *out);

/** Print `  --key=<type> (default: d)  doc` lines for every option. */
void fm_config_print_help(const fm_config_opt *tab, size_t n, FILE *out);

/** Print the options as a Markdown table (docs/configuration.md). */
void fm_config_print_markdown(const fm_config_opt *tab, size_t n, FILE *out);

#endif
