/* libFuzzer target: the body of a transaction op message (RMQ_SYS_TRANS_OP_HALF_TOPIC), which
 * the broker reads back from its own store at start-up. */
#include "broker/broker_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t offs[8];
    int n = -1;
    if (fm_broker_txn_op_parse(fm_slice_make(data, size), offs, 8, &n) == FM_OK) {
        /* what the parser promises: 1..max offsets, none negative */
        if (n < 1 || n > 8) {
            __builtin_trap();
        }
        for (int i = 0; i < n; i++) {
            if (offs[i] < 0) {
                __builtin_trap();
            }
        }
    }
    return 0;
}
