/*
 * fmprom.h - a strict checker of the Prometheus text exposition format (version 0.0.4), for
 * the tests of every /metrics: each family has one TYPE (and at most one HELP) before its
 * samples, and its samples are contiguous; names and label names match the format's patterns,
 * label values use only its three escapes, values parse as floats; no series appears twice;
 * counters end in _total; a histogram has cumulative _bucket series with an le label ending in
 * +Inf, whose count equals _count, and a _sum.
 */
#ifndef FM_TESTS_FMPROM_H
#define FM_TESTS_FMPROM_H

#include <stddef.h>

/** 0 when text is valid; else -1 with err (cap bytes) naming the line and the rule broken. */
int fmprom_check(const char *text, char *err, size_t cap);

/** 1 when text declares a family called name (a "# TYPE name ..." line). */
int fmprom_has_family(const char *text, const char *name);

/**
 * The value of the first sample whose name is `name` and whose label set contains every
 * `k="v"` of labels (e.g. "topic=\"T\""; NULL or "" = any), in *v. 1 found, 0 not.
 */
int fmprom_value(const char *text, const char *name, const char *labels, double *v);

/**
 * The metric names a markdown file lists in its section `section` (a "## ..." heading, up to
 * the next one): every table row starting with "| `ferrymq_". Returns how many went into
 * names (at most max), -1 when the file or the section is missing.
 */
int fmprom_documented(const char *path, const char *section, char names[][128], int max);

#endif
