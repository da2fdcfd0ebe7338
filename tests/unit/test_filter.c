/*
 * filter: tag expressions and the SQL92 filter, table-driven. Each SQL92 row is an
 * expression, a property set ("k=v;k=v", empty for none) and what RocketMQ's filter gives:
 * T/F/U (TRUE, FALSE, NULL), E (evaluation throws: the message is excluded), X (the
 * expression does not compile), W? (compiles with a warning about ignored text, then ?).
 * The expected values follow apache/rocketmq's filter module (ComparisonExpression,
 * UnaryExpression, LogicExpression, SelectorParser.jj); docs/filters.md explains the corners.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "filter/filter.h"
#include "proto/codes.h"
#include "proto/props.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    const char *expr;
    const char *props;
    const char *want;
} row;

static const row sql_rows[] = {
    /* null semantics: a missing property */
    {"a = 'x'", "", "U"},
    {"'x' = a", "", "F"},
    {"a = b", "", "T"},
    {"a <> 'x'", "", "U"},
    {"'x' <> a", "", "T"},
    {"a IS NULL", "", "T"},
    {"a IS NULL", "a=1", "F"},
    {"a IS NOT NULL", "a=1", "T"},
    {"a IS NOT NULL", "", "F"},
    {"a > 5", "", "U"},
    {"5 < a", "", "U"},
    {"a BETWEEN 1 AND 5", "", "U"},
    {"a NOT BETWEEN 1 AND 5", "", "U"},
    {"a IN ('x')", "", "U"},
    {"a NOT IN ('x')", "", "U"},
    {"a CONTAINS 'x'", "", "F"},
    {"a NOT CONTAINS 'x'", "", "F"},
    {"a STARTSWITH 'x'", "", "F"},
    {"a NOT STARTSWITH 'x'", "", "F"},
    {"a ENDSWITH 'x'", "", "F"},
    {"a NOT ENDSWITH 'x'", "", "F"},
    {"NOT (a = 'x')", "", "U"},
    {"a = 'x' OR b = 'y'", "b=y", "T"},
    {"a = 'x' OR b = 'y'", "b=z", "U"},
    {"a = 'x' AND b = 'y'", "b=z", "F"},
    {"a = 'x' AND b = 'y'", "b=y", "U"},
    {"a", "", "U"},
    {"a", "a=true", "F"},
    {"NOT a", "a=true", "T"},
    {"NOT a", "", "U"},
    {"FERRY_SRC_REGION IS NULL", "", "T"},
    {"FERRY_SRC_REGION IS NULL", "FERRY_SRC_REGION=b", "F"},
    {"FERRY_SRC_REGION IS NULL", "region=b;TAGS=t", "T"},
    {"region = 'b' AND amount > 100", "region=b;amount=101", "T"},
    {"region = 'b' AND amount > 100", "region=b;amount=100", "F"},
    {"region = 'b' AND amount > 100", "region=a;amount=500", "F"},
    {"region = 'b' AND amount > 100", "amount=500", "U"},
    {"region = 'b' AND amount > 100", "region=b", "U"},
    {"TAGS = 'tagA'", "TAGS=tagA", "T"},
    {"KEYS = 'k1'", "KEYS=k1;TAGS=tagA", "T"},
    /* numbers against strings */
    {"a > 100", "a=150", "T"},
    {"a > 100", "a=50", "F"},
    {"a > 100", "a=100", "F"},
    {"a >= 100", "a=100", "T"},
    {"a < 100", "a=99", "T"},
    {"a <= 100", "a=101", "F"},
    {"a > 100", "a=150.5", "E"},
    {"a > 100.5", "a=150", "T"},
    {"a > 100", "a=abc", "E"},
    {"a > 100", "a=3000000000", "E"},
    {"a > 2147483648", "a=3000000000", "T"},
    {"a > 100L", "a=3000000000", "E"},
    {"a = 5", "a=5", "T"},
    {"a = 5", "a=05", "T"},
    {"a = 5", "a=+5", "T"},
    {"a = 5", "a=-5", "F"},
    {"a = 5", "a= 5", "E"},
    {"a = 5", "a=5.0", "E"},
    {"a = 5", "a=", "E"},
    {"a = 5.0", "a=5", "T"},
    {"a = 5.0", "a=5.0", "T"},
    {"a = 5.0", "a=5e0", "T"},
    {"a = 5.0", "a= 5.0 ", "T"},
    {"a = 5.0", "a=5.0f", "T"},
    {"a = 5.0", "a=5.0x", "E"},
    {"a = '5'", "a=5", "T"},
    {"a = '5'", "a=05", "F"},
    {"a > b", "a=10;b=9", "T"},
    {"a > b", "a=x;b=9", "E"},
    {"a < b", "a=1e3;b=999", "F"},
    {"a = b", "a=1;b=01", "F"},
    {"a = b", "a=x;b=x", "T"},
    {"a > 1.0", "a=NaN", "T"},
    {"a < 1.0", "a=NaN", "F"},
    {"a > 1.0", "a=Infinity", "T"},
    {"a > 1", "a=Infinity", "E"},
    {"a > 9223372036854775807", "a=9223372036854775807", "F"},
    {"a >= 9223372036854775807", "a=9223372036854775807", "T"},
    {"a = 1.5E2", "a=150", "T"},
    {"a = .5", "a=0.5", "T"},
    {"a = 5.", "a=5", "T"},
    {"a = 2", "a=1;a=2", "T"},
    /* constants against constants */
    {"5 = 5", "", "T"},
    {"5 = 5.0", "", "T"},
    {"5 = 5L", "", "T"},
    {"2147483648 = 2147483648", "", "T"},
    {"2147483648 > 5", "", "T"},
    {"5 = '5'", "", "T"},
    {"'5' = 5", "", "T"},
    {"'abc' = 5", "", "E"},
    {"a = TRUE", "a=true", "T"},
    {"a = TRUE", "a=TRUE", "T"},
    {"a = TRUE", "a=yes", "F"},
    {"a = FALSE", "a=yes", "T"},
    {"TRUE = a", "a=true", "E"},
    {"TRUE = 5", "", "X"},
    {"5 = TRUE", "", "F"},
    {"TRUE = TRUE", "", "T"},
    {"TRUE = FALSE", "", "F"},
    {"TRUE", "", "T"},
    {"FALSE", "", "F"},
    {"NULL", "", "U"},
    {"NOT TRUE", "", "F"},
    {"NOT NULL", "", "U"},
    {"a = NULL", "", "X"},
    {"NULL = a", "", "X"},
    {"a <> NULL", "", "X"},
    /* unary minus and plus */
    {"a > -5", "a=-4", "T"},
    {"a = -5", "a=-5", "T"},
    {"-a > 5", "a=-10", "U"},
    {"- -5 = 5", "", "T"},
    {"-2147483648 = a", "a=-2147483648", "T"},
    {"a > -2.5", "a=-2", "T"},
    {"+5 = 5", "", "T"},
    {"-TRUE", "", "X"},
    {"-TRUE = 5", "", "U"},
    {"-'a' IS NULL", "", "T"},
    /* types of operands */
    {"(a > 1) = TRUE", "a=2", "T"},
    {"(a > 1) = (b > 1)", "a=2;b=0", "F"},
    {"(a > 1) > 0", "a=2", "X"},
    {"a > TRUE", "", "X"},
    {"a > NULL", "", "X"},
    {"a > 'x'", "", "X"},
    {"'x' < a", "", "X"},
    {"a AND 5", "", "X"},
    {"5", "", "X"},
    {"'x'", "", "X"},
    {"NOT 5", "", "X"},
    {"NOT -a", "", "X"},
    {"a IN (1, 2)", "", "X"},
    {"5 IN ('5')", "", "X"},
    {"(a) IN ('x')", "a=x", "T"},
    {"a CONTAINS 5", "", "X"},
    /* IN and the string operators */
    {"a IN ('x','y')", "a=y", "T"},
    {"a IN ('x','y')", "a=z", "F"},
    {"a NOT IN ('x','y')", "a=z", "T"},
    {"a NOT IN ('x','y')", "a=x", "F"},
    {"a IN ('x')", "a=X", "F"},
    {"a IN ('1','2','3','4','5','6','7','8','9','10')", "a=7", "T"},
    {"a IN ('1','2','3','4','5','6','7','8','9','10')", "a=11", "F"},
    {"a IN ('10','9','8','7','6','5','4','3','2','1','')", "a=", "T"},
    {"a IN ('it''s')", "a=it's", "T"},
    {"a CONTAINS 'bc'", "a=abcd", "T"},
    {"a CONTAINS ''", "a=abc", "F"},
    {"a NOT CONTAINS ''", "a=abc", "F"},
    {"a NOT CONTAINS 'z'", "a=abc", "T"},
    {"a STARTSWITH 'ab'", "a=abc", "T"},
    {"a ENDSWITH 'bc'", "a=abc", "T"},
    {"a ENDSWITH 'abcd'", "a=abc", "F"},
    {"a NOT STARTSWITH 'b'", "a=abc", "T"},
    {"a NOT ENDSWITH 'c'", "a=abc", "F"},
    {"5 CONTAINS '5'", "", "F"},
    {"a = 'h\xc3\xa9llo'", "a=h\xc3\xa9llo", "T"},
    /* BETWEEN */
    {"a BETWEEN 1 AND 5", "a=3", "T"},
    {"a BETWEEN 1 AND 5", "a=5", "T"},
    {"a BETWEEN 1 AND 5", "a=6", "F"},
    {"a NOT BETWEEN 1 AND 5", "a=6", "T"},
    {"a NOT BETWEEN 1 AND 5", "a=1", "F"},
    {"a BETWEEN 5 AND 1", "", "X"},
    {"a BETWEEN 1 AND 1", "a=1", "T"},
    {"a BETWEEN 1 AND 5 AND b = 'x'", "a=2;b=x", "T"},
    {"a BETWEEN 1.5 AND 2.5", "a=2", "T"},
    {"a BETWEEN 'a' AND 'c'", "", "X"},
    {"a BETWEEN NULL AND 5", "", "X"},
    {"a BETWEEN -5 AND -1", "a=-3", "T"},
    {"a BETWEEN 1 AND 5", "a=x", "E"},
    /* precedence */
    {"a = 'x' OR b = 'y' AND c = 'z'", "a=x;b=n", "T"},
    {"(a = 'x' OR b = 'y') AND c = 'z'", "a=x;b=n;c=n", "F"},
    {"a = 'x' OR b = 'y' AND c = 'z'", "a=n;b=y;c=n", "F"},
    {"NOT a = 'x'", "a=x", "E"},
    {"NOT a = 'x'", "", "U"},
    {"NOT (a = 'x')", "a=y", "T"},
    {"a > 1 = TRUE", "a=2", "T"},
    {"TRUE = a > 1", "a=2", "T"},
    {"a = 1 = TRUE", "a=1", "T"},
    {"a IS NULL = TRUE", "", "T"},
    {"a = 'x' OR b > 1", "a=x;b=oops", "T"},
    {"b > 1 OR a = 'x'", "a=x;b=oops", "E"},
    {"a = 'y' AND b > 1", "a=x;b=oops", "F"},
    /* keywords in any case, comments */
    {"a is not null and b in ('x')", "a=1;b=x", "T"},
    {"a Between 1 and 2", "a=1", "T"},
    {"a = true", "a=true", "T"},
    {"/* c */ a = 'x'", "a=x", "T"},
    {"a = 'x' -- note\n", "a=x", "T"},
    {"-- only a comment\n a = 1", "a=1", "T"},
    {"a = 'x' /* unterminated", "", "X"},
    {"_a$1 = 'x'", "_a$1=x", "T"},
    {"a\n=\n'x'", "a=x", "T"},
    /* malformed */
    {"", "", "X"},
    {"   ", "", "X"},
    {"a =", "", "X"},
    {"a = 'x", "", "X"},
    {"(a = 'x'", "", "X"},
    {"a == 'x'", "", "X"},
    {"a != 'x'", "", "X"},
    {"a = 'x' #", "", "X"},
    {"AND", "", "X"},
    {"a IS 5", "", "X"},
    {"a IN ()", "", "X"},
    {"a IN ('x'", "", "X"},
    {"a BETWEEN 1", "", "X"},
    {"a > 0.0", "", "X"},
    {"a > 1e400", "", "X"},
    {"a > 9223372036854775808", "", "X"},
    {"a.b = 1", "", "X"},
    {"a = 'x' OR", "", "X"},
    {"\xc3\xa9 = 1", "", "X"},
    {"a = 1 AND ()", "", "X"},
    /* accepted by RocketMQ, which ignores what follows a complete expression */
    {"a = 'x')", "a=x", "WT"},
    {"a = 'x' b = 'y'", "a=x", "WT"},
    {"a + 1 > 2", "a=5", "WF"},
    {"a NOT", "", "WU"},
    {"a = 007", "a=0", "WT"},
    {"a = 1 -- no newline", "a=1", "WT"},
};

/* "k=v;k=v" to a property string */
static fm_buf
props_of(const char *spec)
{
    fm_buf b = {0};
    char *dup = strdup(spec), *save = NULL;
    for (char *kv = strtok_r(dup, ";", &save); kv != NULL; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        fm_props_append(&b, fm_slice_cstr(kv), fm_slice_cstr(eq + 1));
    }
    free(dup);
    return b;
}

static void
test_sql_table(void **state)
{
    (void)state;
    size_t n = sizeof(sql_rows) / sizeof(sql_rows[0]);
    int failures = 0;
    assert_true(n >= 150);
    for (size_t i = 0; i < n; i++) {
        const row *r = &sql_rows[i];
        fm_filter *f = NULL;
        fm_errbuf eb;
        char got[3] = {0};
        int rc = fm_filter_compile(FM_FILTER_SQL92, r->expr, strlen(r->expr), &f, &eb);
        if (rc != FM_OK) {
            got[0] = 'X';
        } else {
            fm_buf props = props_of(r->props);
            fm_filter_result res = fm_filter_eval(f, fm_buf_slice(&props), &eb);
            int k = 0;
            if (fm_filter_warning(f) != NULL) {
                got[k++] = 'W';
            }
            got[k] = "TFUE"[res == FM_FILTER_TRUE      ? 0
                            : res == FM_FILTER_FALSE   ? 1
                            : res == FM_FILTER_UNKNOWN ? 2
                                                       : 3];
            /* match_props agrees with eval: only TRUE delivers */
            assert_int_equal(fm_filter_match_props(f, fm_buf_slice(&props)), res == FM_FILTER_TRUE);
            fm_buf_free(&props);
            fm_filter_unref(f);
        }
        if (strcmp(got, r->want) != 0) {
            fprintf(stderr, "row %zu: [%s] props [%s]: want %s, got %s (%s)\n", i, r->expr,
                    r->props, r->want, got, got[0] == 'X' || got[0] == 'E' ? eb.msg : "");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void
expect_error_at(const char *expr, const char *where)
{
    fm_filter *f;
    fm_errbuf eb;
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, expr, strlen(expr), &f, &eb), FM_EINVAL);
    assert_null(f);
    if (strstr(eb.msg, where) == NULL) {
        fail_msg("[%s]: message '%s' does not name '%s'", expr, eb.msg, where);
    }
}

static void
test_sql_errors_name_the_position(void **state)
{
    (void)state;
    expect_error_at("a = = 1", "line 1, column 5");
    expect_error_at("a = 1 AND\n  b = = 2", "line 2, column 7");
    expect_error_at("a = 'x", "unterminated string literal at line 1, column 5");
    expect_error_at("a ! 1", "unexpected character '!' at line 1, column 3");
    expect_error_at("a = NULL", "use IS NULL");
    expect_error_at("a BETWEEN 3 AND 2", "lower bound");
    expect_error_at("a > 0.0", "0.0");
    expect_error_at("a IN (1)", "expected string");
    expect_error_at("a > 1 AND (", "found the end of the expression");
}

static void
test_sql_eval_error_says_why(void **state)
{
    (void)state;
    fm_filter *f;
    fm_errbuf eb;
    fm_buf props = props_of("amount=12.5");
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, "amount > 100", 12, &f, NULL), FM_OK);
    assert_int_equal(fm_filter_eval(f, fm_buf_slice(&props), &eb), FM_FILTER_ERROR);
    assert_non_null(strstr(eb.msg, "'12.5' is not a valid 32-bit integer"));
    fm_filter_unref(f);
    fm_buf_free(&props);
}

static void
test_sql_limits(void **state)
{
    (void)state;
    fm_filter *f;
    fm_errbuf eb;
    char *big = malloc(FM_FILTER_MAX_LEN + 16);
    size_t n = 0;
    /* nesting */
    for (int i = 0; i < FM_FILTER_MAX_DEPTH + 5; i++) {
        big[n++] = '(';
    }
    n += (size_t)sprintf(big + n, "a = 1");
    for (int i = 0; i < FM_FILTER_MAX_DEPTH + 5; i++) {
        big[n++] = ')';
    }
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, n, &f, &eb), FM_ETOOBIG);
    assert_non_null(strstr(eb.msg, "nests deeper"));
    /* 100 levels are fine */
    n = 0;
    for (int i = 0; i < 100; i++) {
        big[n++] = '(';
    }
    n += (size_t)sprintf(big + n, "a = 1");
    for (int i = 0; i < 100; i++) {
        big[n++] = ')';
    }
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, n, &f, &eb), FM_OK);
    fm_filter_unref(f);
    /* a long OR chain: fine up to the height bound, refused past it */
    n = (size_t)sprintf(big, "a = 1");
    for (int i = 0; i < 1100 && n + 16 < FM_FILTER_MAX_LEN; i++) {
        n += (size_t)sprintf(big + n, " OR a=%d", i % 10);
    }
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, n, &f, &eb), FM_ETOOBIG);
    assert_non_null(strstr(eb.msg, "levels of operators"));
    /* length */
    memset(big, ' ', FM_FILTER_MAX_LEN + 1);
    memcpy(big, "a = 1", 5);
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, FM_FILTER_MAX_LEN + 1, &f, &eb),
                     FM_ETOOBIG);
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, FM_FILTER_MAX_LEN, &f, &eb), FM_OK);
    fm_filter_unref(f);
    /* distinct properties */
    n = (size_t)sprintf(big, "p0 = 1");
    for (int i = 1; i <= FM_FILTER_MAX_PROPS; i++) {
        n += (size_t)sprintf(big + n, " OR p%d = 1", i);
    }
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, big, n, &f, &eb), FM_ETOOBIG);
    free(big);
}

typedef struct tag_row {
    const char *expr;
    const char *tag; /* NULL: the message has no TAGS */
    int want;
} tag_row;

static const tag_row tag_rows[] = {
    {"*", "A", 1},           {"*", NULL, 1},     {"", "A", 1},         {"A", "A", 1},
    {"A", "B", 0},           {"A || B", "B", 1}, {" A||B ", "A", 1},   {"A ||  C", "C", 1},
    {"A", NULL, 0},          {" || ", "A", 0},   {"a", "A", 0},        {"A B", "A B", 1},
    {"A || B", "A || B", 0}, {"A|B", "A|B", 1},  {"A |||| B", "B", 1}, {"*", "", 1},
};

static void
test_tag_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tag_rows) / sizeof(tag_rows[0]); i++) {
        const tag_row *r = &tag_rows[i];
        fm_filter *f;
        fm_buf props = {0};
        int64_t h = r->tag ? fm_proto_java_hash(fm_slice_cstr(r->tag)) : 0;
        assert_int_equal(fm_filter_compile(FM_FILTER_TAG, r->expr, strlen(r->expr), &f, NULL),
                         FM_OK);
        if (r->tag != NULL) {
            fm_props_append(&props, fm_slice_cstr("TAGS"), fm_slice_cstr(r->tag));
        }
        int got = fm_filter_match_hash(f, h) && fm_filter_match_props(f, fm_buf_slice(&props));
        if (got != r->want) {
            fail_msg("tag row %zu: [%s] tag [%s]: want %d", i, r->expr, r->tag, r->want);
        }
        assert_int_equal(fm_filter_matches_all(f), strcmp(r->expr, "*") == 0 || !r->expr[0]);
        fm_buf_free(&props);
        fm_filter_unref(f);
    }
}

static void
test_tag_hash_hit_is_confirmed(void **state)
{
    (void)state;
    fm_filter *f;
    fm_buf props = {0};
    /* "Aa" and "BB" share Java's String.hashCode (2112) */
    assert_int_equal(fm_proto_java_hash(fm_slice_cstr("Aa")),
                     fm_proto_java_hash(fm_slice_cstr("BB")));
    assert_int_equal(fm_filter_compile(FM_FILTER_TAG, "Aa", 2, &f, NULL), FM_OK);
    assert_int_equal(fm_filter_match_hash(f, fm_proto_java_hash(fm_slice_cstr("BB"))), 1);
    assert_int_equal(fm_filter_match_hash(f, fm_proto_java_hash(fm_slice_cstr("Ab"))), 0);
    fm_props_append(&props, fm_slice_cstr("TAGS"), fm_slice_cstr("BB"));
    assert_int_equal(fm_filter_match_props(f, fm_buf_slice(&props)), 0);
    fm_filter_unref(f);
    fm_buf_free(&props);
    assert_int_equal(fm_filter_compile(FM_FILTER_TAG, "||||", 4, &f, NULL), FM_EINVAL);
    /* SQL92 cannot decide on a hash */
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, "a = 1", 5, &f, NULL), FM_OK);
    assert_int_equal(fm_filter_match_hash(f, 12345), 1);
    assert_int_equal(fm_filter_matches_all(f), 0);
    fm_filter_unref(f);
}

static void
test_type_names_and_refs(void **state)
{
    (void)state;
    fm_filter_type t;
    fm_filter *f;
    assert_int_equal(fm_filter_type_parse(NULL, &t), FM_OK);
    assert_int_equal(t, FM_FILTER_TAG);
    assert_int_equal(fm_filter_type_parse("", &t), FM_OK);
    assert_int_equal(fm_filter_type_parse("TAG", &t), FM_OK);
    assert_int_equal(fm_filter_type_parse("SQL92", &t), FM_OK);
    assert_int_equal(t, FM_FILTER_SQL92);
    assert_int_equal(fm_filter_type_parse("sql92", &t), FM_ENOTSUP);
    assert_int_equal(fm_filter_type_parse("CLASS", &t), FM_ENOTSUP);
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, "a = 1 junk", 10, &f, NULL), FM_OK);
    assert_string_equal(fm_filter_text(f), "a = 1 junk");
    assert_non_null(strstr(fm_filter_warning(f), "column 7"));
    assert_ptr_equal(fm_filter_ref(f), f);
    fm_filter_unref(f);
    assert_int_equal(fm_filter_get_type(f), FM_FILTER_SQL92);
    fm_filter_unref(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sql_table),
        cmocka_unit_test(test_sql_errors_name_the_position),
        cmocka_unit_test(test_sql_eval_error_says_why),
        cmocka_unit_test(test_sql_limits),
        cmocka_unit_test(test_tag_table),
        cmocka_unit_test(test_tag_hash_hit_is_confirmed),
        cmocka_unit_test(test_type_names_and_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
