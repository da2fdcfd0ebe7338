/*
 * filter_int.h - private to src/filter: the compiled form shared by the parser (sql_parse.c),
 * the evaluator (sql_eval.c) and the handle (filter.c).
 *
 * An SQL92 expression compiles to a tree of nodes in one array, children by index, shaped as
 * RocketMQ's expression objects are (BETWEEN is an AND of >= and <=, <> a NOT of =, IS NULL an
 * = against the NULL constant), so the evaluator reproduces its results case by case.
 */
#ifndef FM_FILTER_FILTER_INT_H
#define FM_FILTER_FILTER_INT_H

#include "filter/filter.h"

#include <stdint.h>

/* Tree height bound (operators chained with AND/OR count one level each): bounds the
 * evaluator's recursion. */
#define FN_MAX_HEIGHT 1024

/* Value types: the Java classes RocketMQ's evaluator sees. */
typedef enum fv_type {
    FV_NULL,
    FV_BOOL,
    FV_INT,  /* java.lang.Integer */
    FV_LONG, /* java.lang.Long */
    FV_DOUBLE,
    FV_STR,
    FV_ERR, /* an exception was thrown: the message does not match */
} fv_type;

typedef struct fv {
    fv_type t;
    union {
        int b;
        int32_t i;
        int64_t l;
        double d;
        fm_slice s;
    } u;
} fv;

typedef enum fn_op {
    FN_CONST,
    FN_PROP,     /* prop: index into names */
    FN_NEG,      /* a */
    FN_NOT,      /* a */
    FN_BOOLCAST, /* a: a bare property used as a condition */
    FN_AND,      /* a, b */
    FN_OR,
    FN_EQ,
    FN_GT,
    FN_GE,
    FN_LT,
    FN_LE,
    FN_CONTAINS, /* a, str */
    FN_NOT_CONTAINS,
    FN_STARTS,
    FN_NOT_STARTS,
    FN_ENDS,
    FN_NOT_ENDS,
    FN_IN, /* a (a property), list_off/list_n into strs, sorted */
    FN_NOT_IN,
} fn_op;

typedef struct fn_node {
    uint8_t op;
    int32_t a, b;
    int32_t prop;
    int32_t list_off, list_n;
    uint32_t pos;    /* byte offset in the source, for messages */
    uint16_t height; /* of the subtree: bounds the evaluator's recursion */
    fv v;            /* FN_CONST value; FN_CONTAINS.. search string in v.u.s */
} fn_node;

struct fm_filter {
    fm_filter_type type;
    int refs;
    char *text; /* the source, NUL-terminated */
    size_t text_len;
    char *warning;

    /* TAG */
    int all;
    int n_tags;
    fm_slice *tags;
    int64_t *hashes;

    /* SQL92 */
    fn_node *nodes;
    int n_nodes;
    int root;
    fm_slice *names; /* property names, into arena */
    int n_names;
    fm_slice *strs; /* IN lists */
    int n_strs;
    uint8_t *arena; /* decoded literals and names */
};

/* sql_parse.c: compile f->text into f's SQL fields. FM_OK, FM_EINVAL, FM_ETOOBIG, FM_ENOMEM. */
int fm_filter_sql_parse(fm_filter *f, fm_errbuf *eb);

/* sql_eval.c */
fm_filter_result fm_filter_sql_eval(const fm_filter *f, fm_slice props, fm_errbuf *eb);

/* Java's compare with RocketMQ's string conversions (ComparisonExpression.__compare):
 * sets *out to <0, 0, >0, or returns FV_ERR's failure as FM_EINVAL with eb filled. */
int fm_filter_jcompare(fv lv, fv rv, int *out, fm_errbuf *eb);

#endif
