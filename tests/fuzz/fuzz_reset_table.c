/* libFuzzer target: the body of RESET_CONSUMER_CLIENT_OFFSET, which brokers send to a push
 * consumer (fastjson map keyed by MessageQueue objects). */
#include "client/push_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_entry(void *ud, const ferrymq_queue *q, int64_t offset)
{
    size_t *n = ud;
    /* what the parser promises: terminated names, a queue id and offset in range */
    if (memchr(q->topic, '\0', sizeof(q->topic)) == NULL ||
        memchr(q->broker_name, '\0', sizeof(q->broker_name)) == NULL || q->queue_id < 0 ||
        offset < 0) {
        __builtin_trap();
    }
    (*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    fm_push_reset_table_parse(data, size, check_entry, &n);
    return 0;
}
