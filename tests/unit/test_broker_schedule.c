/* broker: delay level specs (messageDelayLevel) and property rewriting for retries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/broker_int.h"
#include "proto/props.h"

#include <string.h>

static void
test_delay_levels_parse(void **state)
{
    int64_t ms[64];
    int n;
    fm_errbuf eb;
    (void)state;
    assert_int_equal(
        fm_broker_delay_levels_parse("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
                                     ms, 64, &n, &eb),
        FM_OK);
    assert_int_equal(n, 18);
    assert_true(ms[0] == 1000 && ms[2] == 10000 && ms[4] == 60000 && ms[17] == 7200000);
    assert_int_equal(fm_broker_delay_levels_parse("  2d  ", ms, 64, &n, &eb), FM_OK);
    assert_int_equal(n, 1);
    assert_true(ms[0] == 2 * 86400000LL);
    assert_int_equal(fm_broker_delay_levels_parse("", ms, 64, &n, &eb), FM_EINVAL);
    assert_int_equal(fm_broker_delay_levels_parse("5", ms, 64, &n, &eb), FM_EINVAL);
    assert_non_null(strstr(eb.msg, "unit"));
    assert_int_equal(fm_broker_delay_levels_parse("5x", ms, 64, &n, &eb), FM_EINVAL);
    assert_int_equal(fm_broker_delay_levels_parse("5ss", ms, 64, &n, &eb), FM_EINVAL);
    assert_int_equal(fm_broker_delay_levels_parse("0s", ms, 64, &n, &eb), FM_ERANGE);
    assert_int_equal(fm_broker_delay_levels_parse("-1s", ms, 64, &n, &eb), FM_EINVAL);
    assert_int_equal(fm_broker_delay_levels_parse("99999999999999999d", ms, 64, &n, &eb),
                     FM_ERANGE);
    assert_int_equal(fm_broker_delay_levels_parse("1s 1s 1s", ms, 2, &n, &eb), FM_ETOOBIG);
}

static void
test_props_edit_replaces_adds_and_drops(void **state)
{
    fm_buf in = {0}, out = {0};
    const char *names[] = {"DELAY", "RETRY_TOPIC", "WAIT"};
    const char *values[] = {NULL, "T", "false"};
    (void)state;
    fm_props_append(&in, FM_SLICE_LIT("a"), FM_SLICE_LIT("1"));
    fm_props_append(&in, FM_SLICE_LIT("DELAY"), FM_SLICE_LIT("3"));
    fm_props_append(&in, FM_SLICE_LIT("WAIT"), FM_SLICE_LIT("true"));
    assert_int_equal(fm_broker_props_edit(&out, fm_buf_slice(&in), names, values, 3), FM_OK);
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "a"), FM_SLICE_LIT("1")));
    assert_null(fm_props_get(fm_buf_slice(&out), "DELAY").ptr);
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "RETRY_TOPIC"), FM_SLICE_LIT("T")));
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "WAIT"), FM_SLICE_LIT("false")));
    assert_int_equal(fm_props_valid(fm_buf_slice(&out)), 1);
    assert_int_equal(fm_broker_schedule_redirect(&out, fm_buf_slice(&in), "X", 5), FM_OK);
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "REAL_TOPIC"), FM_SLICE_LIT("X")));
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "REAL_QID"), FM_SLICE_LIT("5")));
    assert_true(fm_slice_eq(fm_props_get(fm_buf_slice(&out), "DELAY"), FM_SLICE_LIT("3")));
    fm_buf_free(&in);
    fm_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_levels_parse),
        cmocka_unit_test(test_props_edit_replaces_adds_and_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
