/*
 * filter.h - message filters a consumer subscribes with: RocketMQ tag expressions and
 * RocketMQ's SQL-92 property filter, compiled once and evaluated per message on the broker.
 *
 * Tag expressions: "*" (or empty) matches everything; otherwise tags separated by "||", each
 * trimmed, empty ones dropped ("A || B"). A message matches when its TAGS property equals one
 * of them. The consume queue stores Java's String.hashCode of the tag, so
 * fm_filter_match_hash() rejects most messages without reading them; a hash hit is confirmed
 * against the real tag by fm_filter_match_props(), since different tags share hashes.
 *
 * SQL92: the grammar and the null/type semantics of apache/rocketmq's filter module (see
 * docs/filters.md): =, <>, <, <=, >, >=, [NOT] BETWEEN, [NOT] IN, IS [NOT] NULL, AND, OR, NOT,
 * [NOT] CONTAINS, [NOT] STARTSWITH, [NOT] ENDSWITH, unary + and -, parentheses, string,
 * integer, decimal and TRUE/FALSE/NULL literals, `--` and block comments. Properties are
 * every property stored with the message (user properties and TAGS, KEYS, ...), always
 * strings, converted to a number when compared with one. A message matches only when the
 * expression is TRUE: FALSE, unknown (NULL) and evaluation errors (a property that does not
 * convert) all exclude it.
 *
 * Limits: an expression is at most FM_FILTER_MAX_LEN bytes, its tree at most
 * FM_FILTER_MAX_DEPTH levels deep, and it names at most FM_FILTER_MAX_PROPS properties.
 *
 * Ownership: fm_filter_compile returns a handle with one reference; fm_filter_ref adds one and
 * fm_filter_unref drops one, freeing the handle with the last.
 * Thread: a compiled filter is immutable, so matching may run on any number of threads at
 * once; the reference count is not atomic, so ref/unref belong to one thread.
 */
#ifndef FM_FILTER_FILTER_H
#define FM_FILTER_FILTER_H

#include "common/buf.h"
#include "common/errors.h"

#include <stdint.h>

#define FM_FILTER_MAX_LEN 16384
#define FM_FILTER_MAX_DEPTH 128
#define FM_FILTER_MAX_PROPS 64

typedef enum fm_filter_type {
    FM_FILTER_TAG = 0,
    FM_FILTER_SQL92 = 1,
} fm_filter_type;

/* Result of an SQL92 evaluation: SQL's three values plus "the evaluation failed". */
typedef enum fm_filter_result {
    FM_FILTER_FALSE = 0,
    FM_FILTER_TRUE = 1,
    FM_FILTER_UNKNOWN = 2, /* NULL: e.g. a comparison with a missing property */
    FM_FILTER_ERROR = 3,   /* e.g. '>' between a property 'abc' and a number */
} fm_filter_result;

typedef struct fm_filter fm_filter;

/**
 * The expression type named in a subscription: NULL, "" and "TAG" give FM_FILTER_TAG, "SQL92"
 * gives FM_FILTER_SQL92 (exact case, as RocketMQ compares them). FM_ENOTSUP otherwise.
 */
int fm_filter_type_parse(const char *name, fm_filter_type *out);

/**
 * Compile expr (len bytes, need not be NUL-terminated). On success *out holds a new handle
 * (one reference). Returns FM_OK, FM_EINVAL (syntax or type error: eb names the line and
 * column), FM_ETOOBIG (over a limit), FM_ENOMEM.
 */
int fm_filter_compile(fm_filter_type type, const char *expr, size_t len, fm_filter **out,
                      fm_errbuf *eb);

/** Add a reference; returns f. */
fm_filter *fm_filter_ref(fm_filter *f);

/** Drop a reference, freeing f with the last one. NULL is a no-op. */
void fm_filter_unref(fm_filter *f);

fm_filter_type fm_filter_get_type(const fm_filter *f);

/** The source text, NUL-terminated; owned by f. */
const char *fm_filter_text(const fm_filter *f);

/** 1 when the filter lets every message through ("*"). */
int fm_filter_matches_all(const fm_filter *f);

/**
 * Something RocketMQ accepts but a user may not mean, found while compiling (text after a
 * complete SQL92 expression is ignored, as RocketMQ's parser does): a message to log, or
 * NULL. Owned by f.
 */
const char *fm_filter_warning(const fm_filter *f);

/**
 * Pre-check on the consume queue's tag hash: 0 when the message certainly does not match,
 * 1 when it may (always 1 for SQL92, which needs the properties).
 */
int fm_filter_match_hash(const fm_filter *f, int64_t tag_hash);

/** Full check against a message's property string (name 0x01 value 0x02 ...): 1 or 0. */
int fm_filter_match_props(const fm_filter *f, fm_slice props);

/**
 * Evaluate an SQL92 filter (a TAG filter gives TRUE or FALSE) and say why on
 * FM_FILTER_ERROR (eb, may be NULL).
 */
fm_filter_result fm_filter_eval(const fm_filter *f, fm_slice props, fm_errbuf *eb);

#endif
