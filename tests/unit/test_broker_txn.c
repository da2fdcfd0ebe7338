/* broker: the op message body of transactions (offsets of resolved half messages), and which
 * records the store indexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/broker_int.h"
#include "proto/msg.h"

#include <string.h>

static int
parse(const char *s, int64_t *offs, int max, int *n)
{
    return fm_broker_txn_op_parse(fm_slice_make(s, strlen(s)), offs, max, n);
}

static void
test_txn_op_parse_accepts_one_or_many_offsets(void **state)
{
    int64_t offs[4];
    int n;
    (void)state;
    assert_int_equal(parse("0", offs, 4, &n), FM_OK); /* RocketMQ 4.x: one offset */
    assert_int_equal(n, 1);
    assert_true(offs[0] == 0);
    assert_int_equal(parse("17,3,9223372036854775799", offs, 4, &n), FM_OK); /* 5.x */
    assert_int_equal(n, 3);
    assert_true(offs[0] == 17 && offs[1] == 3 && offs[2] == 9223372036854775799LL);
}

static void
test_txn_op_parse_rejects_malformed_bodies(void **state)
{
    int64_t offs[2];
    int n;
    (void)state;
    assert_int_equal(parse("", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse(",", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("1,", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse(",1", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("1,,2", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("-1", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("12a", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("1 2", offs, 2, &n), FM_EPROTO);
    assert_int_equal(parse("99999999999999999999", offs, 2, &n), FM_EPROTO); /* overflow */
    assert_int_equal(parse("1,2,3", offs, 2, &n), FM_EPROTO);                /* over max */
}

static void
test_txn_store_indexes_only_non_prepared_records(void **state)
{
    (void)state;
    assert_true(fm_store_record_indexed(0));
    assert_true(fm_store_record_indexed(FM_MSG_SYSFLAG_TX_COMMIT));
    assert_true(fm_store_record_indexed(FM_MSG_SYSFLAG_COMPRESSED | FM_MSG_SYSFLAG_TX_COMMIT));
    assert_false(fm_store_record_indexed(FM_MSG_SYSFLAG_TX_PREPARED));
    assert_false(fm_store_record_indexed(FM_MSG_SYSFLAG_TX_ROLLBACK));
    assert_false(fm_store_record_indexed(FM_MSG_SYSFLAG_TX_PREPARED | FM_MSG_SYSFLAG_BORNHOST_V6));
}

static void
test_txn_is_half_reads_tran_msg_as_java_does(void **state)
{
    (void)state;
    assert_true(fm_broker_txn_is_half(FM_SLICE_LIT("TRAN_MSG\001true\002")));
    assert_true(fm_broker_txn_is_half(FM_SLICE_LIT("A\001b\002TRAN_MSG\001TRUE\002")));
    assert_false(fm_broker_txn_is_half(FM_SLICE_LIT("TRAN_MSG\001false\002")));
    assert_false(fm_broker_txn_is_half(FM_SLICE_LIT("TRAN_MSG\001truex\002")));
    assert_false(fm_broker_txn_is_half(FM_SLICE_LIT("")));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txn_op_parse_accepts_one_or_many_offsets),
        cmocka_unit_test(test_txn_op_parse_rejects_malformed_bodies),
        cmocka_unit_test(test_txn_store_indexes_only_non_prepared_records),
        cmocka_unit_test(test_txn_is_half_reads_tran_msg_as_java_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
