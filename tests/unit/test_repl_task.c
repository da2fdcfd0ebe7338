/*
 * repl task specs (src/repl/task.c): every rejection names its field, two-way expansion,
 * to_json round trip, which topics a task copies, and tasks.json save/load including a
 * torn or garbage file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "repl/repl_int.h"
#include "repl/task.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE                                                                                       \
    "\"name\":\"orders\",\"source\":{\"namesrv\":\"127.0.0.1:9876\",\"region\":\"east\"},"         \
    "\"target\":{\"namesrv\":\"10.0.0.1:9876;10.0.0.2:9876\",\"region\":\"west\"}"

static int
parse_text(const char *text, fm_repl_spec **out, size_t *n, fm_errbuf *eb)
{
    cJSON *j = cJSON_Parse(text);
    int rc;
    if (j == NULL) {
        fail_msg("test JSON does not parse: %s", text);
    }
    rc = fm_repl_spec_parse(j, out, n, eb);
    cJSON_Delete(j);
    return rc;
}

static void
free_all(fm_repl_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fm_repl_spec_free(&specs[i]);
    }
    free(specs);
}

typedef struct bad_row {
    const char *json;
    const char *want; /* substring of the error message */
} bad_row;

static const bad_row bad_rows[] = {
    {"[1]", "task: must be a JSON object"},
    {"{" BASE ",\"topics\":[\"A\"],\"colour\":1}", "colour: unknown field"},
    {"{\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{\"namesrv\":\"h:1\","
     "\"region\":\"w\"},\"topics\":[\"A\"]}",
     "name: missing"},
    {"{\"name\":5,\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{\"namesrv\":"
     "\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "name: must be a string"},
    {"{\"name\":\"a b\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "name: must be 1-96"},
    {"{\"name\":\"\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "name: must be 1-96"},
    {"{" BASE ",\"topics\":[\"A\"],\"mode\":\"three-way\"}", "mode: must be"},
    {"{\"name\":\"x\",\"target\":{\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source: missing"},
    {"{\"name\":\"x\",\"source\":\"h:1\",\"target\":{\"namesrv\":\"h:1\",\"region\":\"w\"},"
     "\"topics\":[\"A\"]}",
     "source: must be an object"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"\",\"region\":\"e\"},\"target\":{\"namesrv\":"
     "\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.namesrv: empty"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"hostonly\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.namesrv: each entry must be host:port"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:99999\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.namesrv: port must be"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1;\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.namesrv: empty entry"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h/x:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "target.namesrv: bad character"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1\"},\"target\":{\"namesrv\":\"h:1\","
     "\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.region: missing"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e!\"},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source.region: must be"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\",\"x\":1},\"target\":{"
     "\"namesrv\":\"h:1\",\"region\":\"w\"},\"topics\":[\"A\"]}",
     "source: unknown field 'x'"},
    {"{\"name\":\"x\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"e\"},\"target\":{"
     "\"namesrv\":\"h:2\",\"region\":\"e\"},\"topics\":[\"A\"]}",
     "target.region: must differ from source.region"},
    {"{" BASE "}", "topics: missing"},
    {"{" BASE ",\"topics\":[\"A\"],\"topicRegex\":\"^A\"}", "not both"},
    {"{" BASE ",\"topics\":[]}", "topics: empty"},
    {"{" BASE ",\"topics\":\"A\"}", "topics: must be an array"},
    {"{" BASE ",\"topics\":[\"A\",7]}", "topics[1]: must be a string"},
    {"{" BASE ",\"topics\":[\"A\",\"b c\"]}", "topics[1]: 'b c' is not a valid name"},
    {"{" BASE ",\"topics\":[\"A\",\"A\"]}", "topics[1]: 'A' listed twice"},
    {"{" BASE ",\"topics\":[\"RMQ_SYS_TRACE_TOPIC\"]}", "topics[0]: RMQ_SYS_TRACE_TOPIC is a "
                                                        "system topic"},
    {"{" BASE ",\"topics\":[\"%RETRY%g\"]}", "topics[0]: %RETRY%g is a retry/DLQ topic"},
    {"{" BASE ",\"topicRegex\":\"(\"}", "topicRegex: does not compile"},
    /* regcomp would ask for gigabytes (fuzz_repl_task found the first) */
    {"{" BASE ",\"topicRegex\":\"^orvvv++++++++++++++++++++++++++++++++d-(a|b)$\"}",
     "topicRegex: a repetition operator follows another"},
    /* stacked operators: glibc's regcomp took minutes on the fuzzer's "d++++?=???..." */
    {"{" BASE ",\"topicRegex\":\"^ord?=?"
     "?"
     "?"
     "?+FERRY_\"}",
     "topicRegex: a repetition operator follows another"},
    {"{" BASE ",\"topicRegex\":\"^a*+\"}", "topicRegex: a repetition operator follows another"},
    {"{" BASE ",\"topicRegex\":\"^a{2}+\"}", "topicRegex: a repetition operator follows another"},
    {"{" BASE ",\"topicRegex\":\"^a+{2}\"}", "topicRegex: a repetition operator follows another"},
    {"{" BASE ",\"topicRegex\":\"((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+\"}",
     "topicRegex: its repetitions expand"},
    {"{" BASE ",\"topicRegex\":\"(a{100}){100}\"}", "topicRegex: its repetitions expand"},
    {"{" BASE ",\"topicRegex\":\"\"}", "topicRegex: must be a non-empty string"},
    {"{" BASE ",\"topicRegex\":3}", "topicRegex: must be a non-empty string"},
    {"{" BASE ",\"topics\":[\"A\"],\"filter\":\"TAG1\"}", "filter: must be an object"},
    {"{" BASE ",\"topics\":[\"A\"],\"filter\":{\"type\":\"TAG\"}}", "filter.expression: missing"},
    {"{" BASE ",\"topics\":[\"A\"],\"filter\":{\"expression\":\"a\",\"type\":\"sql\"}}",
     "filter.type: must be"},
    {"{" BASE ",\"topics\":[\"A\"],\"filter\":{\"expression\":\"a\",\"x\":1}}",
     "filter: unknown field 'x'"},
    {"{" BASE ",\"topics\":[\"A\"],\"filter\":{\"expression\":\"a = \",\"type\":\"SQL92\"}}",
     "filter: "},
    {"{" BASE ",\"topics\":[\"A\"],\"forward\":\"some\"}", "forward: must be \"local\" or \"all\""},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"yesterday\"}", "from: 'yesterday' is not"},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"2026-12-01T10:00:00\"}", "from: "},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"2026-02-30T10:00:00Z\"}", "from: "},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"2026-12-01T24:00:00Z\"}", "from: "},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"2026-12-01T10:00:00.Z\"}", "from: "},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"1969-12-31T23:59:59Z\"}", "from: "},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":-5}", "from: epoch ms must be a whole number"},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":1.5}", "from: epoch ms must be a whole number"},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":\"99999999999999999999\"}", "from: epoch ms must be"},
    {"{" BASE ",\"topics\":[\"A\"],\"from\":true}", "from: must be"},
    {"{" BASE ",\"topics\":[\"A\"],\"rateMsgs\":-1}", "rateMsgs: must be a whole number >= 0"},
    {"{" BASE ",\"topics\":[\"A\"],\"rateBytes\":\"10\"}", "rateBytes: must be a whole number"},
    {"{" BASE ",\"topics\":[\"A\"],\"rateMsgs\":2.5}", "rateMsgs: must be a whole number"},
    {"{" BASE ",\"topics\":[\"A\"],\"propertyPrefix\":\"\"}", "propertyPrefix: must be"},
    {"{" BASE ",\"topics\":[\"A\"],\"propertyPrefix\":\"FE-\"}", "propertyPrefix: must be"},
    {"{" BASE ",\"topics\":[\"A\"],\"groups\":[\"g\",\"g\"]}", "groups[1]: 'g' listed twice"},
    {"{" BASE ",\"topics\":[\"A\"],\"groups\":\"g\"}", "groups: must be an array"},
    {"{" BASE ",\"topics\":[\"A\"],\"groups\":[\"g\"],\"groupRegex\":\"^g\"}",
     "groupRegex: give groups or groupRegex, not both"},
    {"{" BASE ",\"topics\":[\"A\"],\"groupRegex\":\"(\"}", "groupRegex: does not compile"},
    {"{" BASE ",\"topics\":[\"A\"],\"groupRegex\":7}", "groupRegex: must be a non-empty string"},
    {"{" BASE ",\"topics\":[\"A\"],\"syncIntervalMs\":50}",
     "syncIntervalMs: must be a whole number of 100-3600000"},
    {"{" BASE ",\"topics\":[\"A\"],\"includeRetry\":1}", "includeRetry: must be true or false"},
    {"{" BASE ",\"topics\":[\"A\"],\"paused\":\"no\"}", "paused: must be true or false"},
    {"{" BASE ",\"topics\":[\"A\"],\"mode\":\"two-way\",\"pair\":\"p\"}", "pair: set by mode"},
    {"{" BASE ",\"topics\":[\"A\"],\"pair\":\"a b\"}", "pair: must be"},
    {"{\"name\":\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnn\",\"mode\":\"two-way\",\"source\":{\"namesrv\":\"h:1\",\"region\":\"east\"},"
     "\"target\":{\"namesrv\":\"h:2\",\"region\":\"west\"},\"topics\":[\"A\"]}",
     "(the two-way task's name) is longer than 96"},
};

static void
test_every_rejection_names_its_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        fm_repl_spec *specs = (fm_repl_spec *)0x1;
        size_t n = 99;
        fm_errbuf eb;
        int rc = parse_text(bad_rows[i].json, &specs, &n, &eb);
        if (rc != FM_EINVAL || strstr(eb.msg, bad_rows[i].want) == NULL) {
            fail_msg("row %zu: %s\n  rc=%s msg='%s', want FM_EINVAL with '%s'", i, bad_rows[i].json,
                     fm_errname(rc), rc == FM_OK ? "" : eb.msg, bad_rows[i].want);
        }
        assert_null(specs);
        assert_int_equal(n, 0);
    }
}

static void
test_bad_sql_filter_carries_the_compilers_message(void **state)
{
    fm_repl_spec *specs;
    size_t n;
    fm_errbuf eb, ceb;
    fm_filter *f = NULL;
    char want[300];
    (void)state;
    assert_int_equal(fm_filter_compile(FM_FILTER_SQL92, "a = ", 4, &f, &ceb), FM_EINVAL);
    snprintf(want, sizeof(want), "filter: %s", ceb.msg);
    assert_int_equal(parse_text("{" BASE ",\"topics\":[\"A\"],\"filter\":{\"expression\":\"a = "
                                "\",\"type\":\"SQL92\"}}",
                                &specs, &n, &eb),
                     FM_EINVAL);
    assert_string_equal(eb.msg, want);
}

static void
test_defaults_and_accepted_fields(void **state)
{
    fm_repl_spec *specs;
    size_t n;
    fm_errbuf eb;
    (void)state;
    assert_int_equal(parse_text("{" BASE ",\"topics\":[\"A\",\"B\"]}", &specs, &n, &eb), FM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(specs[0].name, "orders");
    assert_string_equal(specs[0].pair, "");
    assert_string_equal(specs[0].src_ns, "127.0.0.1:9876");
    assert_string_equal(specs[0].src_region, "east");
    assert_string_equal(specs[0].dst_ns, "10.0.0.1:9876;10.0.0.2:9876");
    assert_string_equal(specs[0].dst_region, "west");
    assert_int_equal(specs[0].n_topics, 2);
    assert_string_equal(specs[0].topics[1], "B");
    assert_null(specs[0].topic_regex);
    assert_null(specs[0].filter);
    assert_int_equal(specs[0].forward_all, 0);
    assert_int_equal(specs[0].from, FM_REPL_FROM_LATEST);
    assert_string_equal(specs[0].prefix, "FERRY_");
    assert_int_equal(specs[0].rate_msgs, 0);
    assert_int_equal(specs[0].n_groups, 0);
    assert_int_equal(specs[0].paused, 0);
    free_all(specs, n);

    assert_int_equal(
        parse_text("{" BASE ",\"topicRegex\":\"^ord-.*\",\"filter\":{\"expression\":\"a > 1\","
                   "\"type\":\"SQL92\"},\"forward\":\"all\",\"from\":\"earliest\",\"rateMsgs\":"
                   "100,\"rateBytes\":2048,\"propertyPrefix\":\"X_\",\"groups\":[\"G1\"],"
                   "\"includeRetry\":true,\"paused\":true,\"mode\":\"one-way\"}",
                   &specs, &n, &eb),
        FM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(specs[0].topic_regex, "^ord-.*");
    assert_non_null(specs[0].filter);
    assert_int_equal(specs[0].filter_type, FM_FILTER_SQL92);
    assert_string_equal(specs[0].filter_expr, "a > 1");
    assert_int_equal(specs[0].forward_all, 1);
    assert_int_equal(specs[0].from, FM_REPL_FROM_EARLIEST);
    assert_int_equal(specs[0].rate_msgs, 100);
    assert_int_equal(specs[0].rate_bytes, 2048);
    assert_string_equal(specs[0].prefix, "X_");
    assert_int_equal(specs[0].n_groups, 1);
    assert_int_equal(specs[0].include_retry, 1);
    assert_int_equal(specs[0].paused, 1);
    free_all(specs, n);
}

static void
test_from_times(void **state)
{
    static const struct {
        const char *from;
        int64_t ms;
    } rows[] = {
        {"\"2026-12-01T10:00:00Z\"", 1796119200000LL},
        {"\"2026-12-01T10:00:00.123Z\"", 1796119200123LL},
        {"\"2026-12-01T10:00:00.5Z\"", 1796119200500LL},
        {"\"2026-12-01T12:30:00+02:30\"", 1796119200000LL},
        {"\"2026-12-01T05:00:00-05:00\"", 1796119200000LL},
        {"\"2024-02-29T00:00:00Z\"", 1709164800000LL},
        {"\"1970-01-01T00:00:00Z\"", 0},
        {"1796119200000", 1796119200000LL},
        {"\"1796119200000\"", 1796119200000LL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char text[512];
        fm_repl_spec *specs;
        size_t n;
        fm_errbuf eb;
        snprintf(text, sizeof(text), "{" BASE ",\"topics\":[\"A\"],\"from\":%s}", rows[i].from);
        if (parse_text(text, &specs, &n, &eb) != FM_OK) {
            fail_msg("from %s: %s", rows[i].from, eb.msg);
        }
        assert_int_equal(specs[0].from, FM_REPL_FROM_TIME);
        if (specs[0].from_ms != rows[i].ms) {
            fail_msg("from %s: got %lld want %lld", rows[i].from, (long long)specs[0].from_ms,
                     (long long)rows[i].ms);
        }
        free_all(specs, n);
    }
}

static void
test_two_way_expands_into_a_swapped_pair(void **state)
{
    fm_repl_spec *specs;
    size_t n;
    fm_errbuf eb;
    (void)state;
    assert_int_equal(parse_text("{" BASE ",\"mode\":\"two-way\",\"topics\":[\"A\"],\"filter\":{"
                                "\"expression\":\"T1 || T2\"}}",
                                &specs, &n, &eb),
                     FM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(specs[0].name, "orders-east-west");
    assert_string_equal(specs[0].pair, "orders");
    assert_string_equal(specs[0].src_region, "east");
    assert_string_equal(specs[0].src_ns, "127.0.0.1:9876");
    assert_string_equal(specs[0].dst_region, "west");
    assert_string_equal(specs[1].name, "orders-west-east");
    assert_string_equal(specs[1].pair, "orders");
    assert_string_equal(specs[1].src_region, "west");
    assert_string_equal(specs[1].src_ns, "10.0.0.1:9876;10.0.0.2:9876");
    assert_string_equal(specs[1].dst_region, "east");
    assert_string_equal(specs[1].dst_ns, "127.0.0.1:9876");
    /* each half owns its own compiled filter */
    assert_non_null(specs[0].filter);
    assert_non_null(specs[1].filter);
    assert_ptr_not_equal(specs[0].filter, specs[1].filter);
    free_all(specs, n);
}

static void
assert_specs_equal(const fm_repl_spec *a, const fm_repl_spec *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->pair, b->pair);
    assert_string_equal(a->src_ns, b->src_ns);
    assert_string_equal(a->src_region, b->src_region);
    assert_string_equal(a->dst_ns, b->dst_ns);
    assert_string_equal(a->dst_region, b->dst_region);
    assert_int_equal(a->n_topics, b->n_topics);
    for (size_t i = 0; i < a->n_topics; i++) {
        assert_string_equal(a->topics[i], b->topics[i]);
    }
    assert_int_equal(a->topic_regex == NULL, b->topic_regex == NULL);
    if (a->topic_regex != NULL) {
        assert_string_equal(a->topic_regex, b->topic_regex);
    }
    assert_int_equal(a->filter_expr == NULL, b->filter_expr == NULL);
    if (a->filter_expr != NULL) {
        assert_string_equal(a->filter_expr, b->filter_expr);
        assert_int_equal(a->filter_type, b->filter_type);
    }
    assert_int_equal(a->forward_all, b->forward_all);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->from_ms, b->from_ms);
    assert_int_equal(a->rate_msgs, b->rate_msgs);
    assert_int_equal(a->rate_bytes, b->rate_bytes);
    assert_string_equal(a->prefix, b->prefix);
    assert_int_equal(a->n_groups, b->n_groups);
    for (size_t i = 0; i < a->n_groups; i++) {
        assert_string_equal(a->groups[i], b->groups[i]);
    }
    assert_int_equal(a->group_regex == NULL, b->group_regex == NULL);
    if (a->group_regex != NULL) {
        assert_string_equal(a->group_regex, b->group_regex);
    }
    assert_int_equal(a->sync_ms, b->sync_ms);
    assert_int_equal(a->include_retry, b->include_retry);
    assert_int_equal(a->paused, b->paused);
}

static void
test_to_json_round_trips(void **state)
{
    static const char *const rows[] = {
        "{" BASE ",\"topics\":[\"A\",\"B\"]}",
        "{" BASE ",\"mode\":\"two-way\",\"topicRegex\":\"^x(a|b)$\",\"filter\":{\"expression\":"
        "\"region = 'x' AND n > 3\",\"type\":\"SQL92\"},\"forward\":\"all\",\"from\":"
        "\"2026-12-01T10:00:00.250+01:00\",\"rateMsgs\":5,\"rateBytes\":7,\"propertyPrefix\":"
        "\"P_\",\"groups\":[\"g1\",\"g2\"],\"includeRetry\":true,\"paused\":true}",
        "{" BASE ",\"topics\":[\"A\"],\"from\":\"earliest\",\"filter\":{\"expression\":\"T\"}}",
        "{" BASE ",\"topics\":[\"A\"],\"groupRegex\":\"^pay-\",\"syncIntervalMs\":250}",
        "{" BASE ",\"topics\":[\"A\"],\"from\":253402300799999}",
    };
    (void)state;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        fm_repl_spec *specs;
        size_t n;
        fm_errbuf eb;
        assert_int_equal(parse_text(rows[r], &specs, &n, &eb), FM_OK);
        for (size_t i = 0; i < n; i++) {
            cJSON *j = fm_repl_spec_to_json(&specs[i]);
            fm_repl_spec *again;
            size_t m;
            assert_non_null(j);
            assert_string_equal(cJSON_GetObjectItem(j, "mode")->valuestring, "one-way");
            assert_non_null(cJSON_GetObjectItem(j, "pair"));
            if (fm_repl_spec_parse(j, &again, &m, &eb) != FM_OK) {
                char *s = cJSON_PrintUnformatted(j);
                fail_msg("row %zu spec %zu: %s: %s", r, i, s, eb.msg);
            }
            assert_int_equal(m, 1);
            assert_specs_equal(&specs[i], &again[0]);
            free_all(again, m);
            cJSON_Delete(j);
        }
        free_all(specs, n);
    }
}

static void
test_wants_topic(void **state)
{
    fm_repl_spec *specs;
    size_t n;
    fm_errbuf eb;
    (void)state;
    assert_int_equal(parse_text("{" BASE ",\"topics\":[\"A\",\"B\"]}", &specs, &n, &eb), FM_OK);
    assert_true(fm_repl_spec_wants_topic(&specs[0], "A"));
    assert_true(fm_repl_spec_wants_topic(&specs[0], "B"));
    assert_false(fm_repl_spec_wants_topic(&specs[0], "C"));
    assert_false(fm_repl_spec_wants_topic(&specs[0], "AB"));
    free_all(specs, n);

    /* ordinary counts and brackets stay well inside the repetition budget */
    assert_int_equal(parse_text("{" BASE ",\"topicRegex\":\"^(ord|pay){1,2}-[a-z{}]+[0-9]{1,3}$\"}",
                                &specs, &n, &eb),
                     FM_OK);
    assert_true(fm_repl_spec_wants_topic(&specs[0], "ordpay-eu12"));
    assert_false(fm_repl_spec_wants_topic(&specs[0], "ord-eu1234"));
    free_all(specs, n);

    assert_int_equal(parse_text("{" BASE ",\"topicRegex\":\".*\"}", &specs, &n, &eb), FM_OK);
    assert_true(fm_repl_spec_wants_topic(&specs[0], "orders"));
    static const char *const never[] = {"RMQ_SYS_TRANS_HALF_TOPIC",
                                        "RMQ_SYS_TRACE_TOPIC",
                                        "rmq_sys_x",
                                        "SCHEDULE_TOPIC_XXXX",
                                        "TBW102",
                                        "BenchmarkTest",
                                        "OFFSET_MOVED_EVENT",
                                        "TRANS_CHECK_MAX_TIME_TOPIC",
                                        "%RETRY%group",
                                        "%DLQ%group"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (fm_repl_spec_wants_topic(&specs[0], never[i])) {
            fail_msg("a match-all regex copies %s", never[i]);
        }
    }
    free_all(specs, n);

    assert_int_equal(parse_text("{" BASE
                                ",\"topicRegex\":\"^(%RETRY%|%DLQ%)?ord\",\"includeRetry\":true}",
                                &specs, &n, &eb),
                     FM_OK);
    assert_true(fm_repl_spec_wants_topic(&specs[0], "%RETRY%ord"));
    assert_true(fm_repl_spec_wants_topic(&specs[0], "%DLQ%ord"));
    assert_true(fm_repl_spec_wants_topic(&specs[0], "orders"));
    assert_false(fm_repl_spec_wants_topic(&specs[0], "xorders"));
    assert_false(fm_repl_spec_wants_topic(&specs[0], "RMQ_SYS_ord"));
    free_all(specs, n);

    assert_int_equal(
        parse_text("{" BASE ",\"topics\":[\"%RETRY%g\"],\"includeRetry\":true}", &specs, &n, &eb),
        FM_OK);
    assert_true(fm_repl_spec_wants_topic(&specs[0], "%RETRY%g"));
    free_all(specs, n);
}

static void
mk_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/fm-repl-task-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void
rm_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_tasks_save_load(void **state)
{
    char dir[64], path[128];
    fm_repl_spec *specs, *loaded;
    fm_repl_spec *ptrs[3];
    size_t n, m;
    fm_errbuf eb;
    struct stat sb;
    (void)state;
    mk_dir(dir, sizeof(dir));

    /* absent = no tasks */
    assert_int_equal(fm_repl_tasks_load(dir, &loaded, &m, &eb), FM_OK);
    assert_int_equal(m, 0);
    free(loaded);

    assert_int_equal(parse_text("{" BASE ",\"mode\":\"two-way\",\"topics\":[\"A\"],\"filter\":{"
                                "\"expression\":\"a IS NULL\",\"type\":\"SQL92\"}}",
                                &specs, &n, &eb),
                     FM_OK);
    ptrs[0] = &specs[0];
    ptrs[1] = &specs[1];
    assert_int_equal(fm_repl_tasks_save(dir, ptrs, 2, &eb), FM_OK);
    snprintf(path, sizeof(path), "%s/tasks.json.tmp", dir);
    assert_int_equal(stat(path, &sb), -1); /* the temp file was renamed away */
    assert_int_equal(fm_repl_tasks_load(dir, &loaded, &m, &eb), FM_OK);
    assert_int_equal(m, 2);
    assert_specs_equal(&specs[0], &loaded[0]);
    assert_specs_equal(&specs[1], &loaded[1]);
    free_all(loaded, m);

    /* saving fewer replaces the file */
    assert_int_equal(fm_repl_tasks_save(dir, ptrs + 1, 1, &eb), FM_OK);
    assert_int_equal(fm_repl_tasks_load(dir, &loaded, &m, &eb), FM_OK);
    assert_int_equal(m, 1);
    assert_string_equal(loaded[0].name, "orders-west-east");
    free_all(loaded, m);
    free_all(specs, n);

    /* a saved file that cannot be written: FM_EIO naming the step */
    assert_int_equal(fm_repl_tasks_save("/nonexistent-dir/x", ptrs, 0, &eb), FM_EIO);
    assert_non_null(strstr(eb.msg, "open"));
    rm_dir(dir);
}

static void
test_tasks_load_refuses_torn_and_garbage_files(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } rows[] = {
        {"{\"version\": 1, \"tasks\": [{\"name\": \"a\", \"sou", "not valid JSON"},
        {"\x01\x02garbage", "not valid JSON"},
        {"", "not valid JSON"},
        {"[]", "must be {\"tasks\""},
        {"{\"tasks\": []}", "version must be 1"},
        {"{\"version\": 2, \"tasks\": []}", "version must be 1"},
        {"{\"version\": 1, \"tasks\": {}}", "\"tasks\" must be an array"},
        {"{\"version\": 1, \"tasks\": [{" BASE "}]}", "tasks[0]: topics: missing"},
        {"{\"version\": 1, \"tasks\": [{" BASE ",\"topics\":[\"A\"]},{" BASE
         ",\"topics\":[\"B\"]}]}",
         "tasks[1]: task name 'orders' used twice"},
    };
    char dir[64], path[128];
    (void)state;
    mk_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/tasks.json", dir);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fm_repl_spec *loaded = (fm_repl_spec *)0x1;
        size_t m = 9;
        fm_errbuf eb;
        int rc;
        write_text(path, rows[i].text);
        rc = fm_repl_tasks_load(dir, &loaded, &m, &eb);
        if (rc != FM_EINVAL || strstr(eb.msg, rows[i].want) == NULL ||
            strstr(eb.msg, "tasks.json") == NULL) {
            fail_msg("row %zu: rc=%s msg='%s', want FM_EINVAL with '%s'", i, fm_errname(rc), eb.msg,
                     rows[i].want);
        }
        assert_null(loaded);
        assert_int_equal(m, 0);
    }
    /* a NUL in the middle is not silently cut there */
    {
        int fd = open(path, O_WRONLY | O_TRUNC);
        fm_repl_spec *loaded;
        size_t m;
        fm_errbuf eb;
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"version\":1,\"tasks\":[]}\0xx", 27), 27);
        close(fd);
        assert_int_equal(fm_repl_tasks_load(dir, &loaded, &m, &eb), FM_EINVAL);
    }
    rm_dir(dir);
}

static void
test_task_file_load_accepts_both_shapes_and_expands_pairs(void **state)
{
    char dir[64], path[128];
    fm_repl_spec *loaded;
    size_t m;
    fm_errbuf eb;
    (void)state;
    mk_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/t.json", dir);

    write_text(path, "{\"tasks\": [{" BASE ",\"mode\":\"two-way\",\"topics\":[\"A\"]}]}");
    assert_int_equal(fm_repl_task_file_load(path, &loaded, &m, &eb), FM_OK);
    assert_int_equal(m, 2);
    assert_string_equal(loaded[0].name, "orders-east-west");
    assert_string_equal(loaded[1].name, "orders-west-east");
    free_all(loaded, m);

    write_text(path, "[{" BASE ",\"topics\":[\"A\"]}]");
    assert_int_equal(fm_repl_task_file_load(path, &loaded, &m, &eb), FM_OK);
    assert_int_equal(m, 1);
    free_all(loaded, m);

    write_text(path, "[{" BASE ",\"topics\":[\"A\"],\"from\":\"soon\"}]");
    assert_int_equal(fm_repl_task_file_load(path, &loaded, &m, &eb), FM_EINVAL);
    assert_non_null(strstr(eb.msg, "t.json: tasks[0]: from: "));

    write_text(path, "7");
    assert_int_equal(fm_repl_task_file_load(path, &loaded, &m, &eb), FM_EINVAL);

    /* a task file named but absent is an error, unlike an absent tasks.json */
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(fm_repl_task_file_load(path, &loaded, &m, &eb), FM_EIO);
    assert_non_null(strstr(eb.msg, "missing.json"));
    rm_dir(dir);
}

/* A name-server list of k entries "a:1", ';'-separated: 4k - 1 bytes. */
static void
ns_list(char *out, int k)
{
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        strcat(out, i ? ";a:1" : "a:1");
    }
}

/* The longest name-server list a task accepts is one libferrymq's namesrvAddr holds, so an
 * accepted task can start; one byte more is refused at create time, naming the field. */
static void
test_namesrv_list_limit_is_the_clients(void **state)
{
    char list[300], json[1024];
    fm_repl_spec *specs = NULL;
    size_t n = 0;
    fm_errbuf eb;
    repl_io *io;
    (void)state;
    ns_list(list, 64); /* 255 bytes */
    assert_int_equal(strlen(list), FM_REPL_NS_MAX);
    snprintf(json, sizeof(json),
             "{\"name\":\"l\",\"source\":{\"namesrv\":\"%s\",\"region\":\"east\"},"
             "\"target\":{\"namesrv\":\"%s\",\"region\":\"west\"},\"topics\":[\"A\"]}",
             list, list);
    assert_int_equal(parse_text(json, &specs, &n, &eb), FM_OK);
    assert_int_equal(fm_repl_io_get(specs[0].src_ns, specs[0].dst_ns, "ferry-0123456789", &io, &eb),
                     FM_OK);
    fm_repl_io_put(io);
    free_all(specs, n);
    strcat(list, ";b"); /* 257 bytes */
    snprintf(json, sizeof(json),
             "{\"name\":\"l\",\"source\":{\"namesrv\":\"%s\",\"region\":\"east\"},"
             "\"target\":{\"namesrv\":\"a:1\",\"region\":\"west\"},\"topics\":[\"A\"]}",
             list);
    specs = NULL;
    assert_int_equal(parse_text(json, &specs, &n, &eb), FM_EINVAL);
    assert_non_null(strstr(eb.msg, "source.namesrv"));
    assert_non_null(strstr(eb.msg, "longer than 255 bytes"));
    assert_null(specs);
}

/* One transport per pair of clusters in either order and client id, refcounted. No connection
 * is opened until a request. */
static void
test_transport_shared_per_cluster_pair(void **state)
{
    repl_io *ab, *ba, *ac, *other_id;
    fm_errbuf eb;
    (void)state;
    assert_int_equal(fm_repl_io_get("127.0.0.1:1", "127.0.0.1:2", "id", &ab, &eb), FM_OK);
    assert_int_equal(fm_repl_io_get("127.0.0.1:2", "127.0.0.1:1", "id", &ba, &eb), FM_OK);
    assert_ptr_equal(ab, ba);
    assert_int_equal(fm_repl_io_get("127.0.0.1:1", "127.0.0.1:3", "id", &ac, &eb), FM_OK);
    assert_ptr_not_equal(ab, ac);
    assert_int_equal(fm_repl_io_get("127.0.0.1:1", "127.0.0.1:2", "id2", &other_id, &eb), FM_OK);
    assert_ptr_not_equal(ab, other_id);
    fm_repl_io_put(other_id);
    fm_repl_io_put(ac);
    /* one reference left: the same transport is still found */
    fm_repl_io_put(ab);
    assert_int_equal(fm_repl_io_get("127.0.0.1:1", "127.0.0.1:2", "id", &ab, &eb), FM_OK);
    assert_ptr_equal(ab, ba);
    fm_repl_io_put(ab);
    fm_repl_io_put(ba);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_rejection_names_its_field),
        cmocka_unit_test(test_transport_shared_per_cluster_pair),
        cmocka_unit_test(test_namesrv_list_limit_is_the_clients),
        cmocka_unit_test(test_bad_sql_filter_carries_the_compilers_message),
        cmocka_unit_test(test_defaults_and_accepted_fields),
        cmocka_unit_test(test_from_times),
        cmocka_unit_test(test_two_way_expands_into_a_swapped_pair),
        cmocka_unit_test(test_to_json_round_trips),
        cmocka_unit_test(test_wants_topic),
        cmocka_unit_test(test_tasks_save_load),
        cmocka_unit_test(test_tasks_load_refuses_torn_and_garbage_files),
        cmocka_unit_test(test_task_file_load_accepts_both_shapes_and_expands_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
