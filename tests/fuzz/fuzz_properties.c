/* libFuzzer target: property strings (name 0x01 value 0x02 ...). */
#include "proto/props.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_props_iter it;
    fm_slice n, v;
    fm_buf rebuilt = {0};
    int ok = 1;
    fm_props_iter_init(&it, fm_slice_make(data, size));
    for (;;) {
        int rc = fm_props_next(&it, &n, &v);
        if (rc != FM_OK) {
            ok = rc == FM_ENOTFOUND;
            break;
        }
        fm_props_append(&rebuilt, n, v);
    }
    (void)ok;
    fm_props_get(fm_slice_make(data, size), "TAGS");
    fm_props_valid(fm_buf_slice(&rebuilt));
    fm_buf_free(&rebuilt);
    return 0;
}
