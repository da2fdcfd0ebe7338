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
    {
        /* one pass must agree with a lookup per name and with the validity check */
        static const char *const names[] = {"TAGS", "KEYS", "UNIQ_KEY", "DELAY", "TRAN_MSG"};
        fm_slice want[5], got[5];
        fm_slice props = fm_slice_make(data, size);
        for (int i = 0; i < 5; i++) {
            want[i] = fm_slice_cstr(names[i]);
        }
        if ((fm_props_pick(props, want, 5, got) == FM_OK) != fm_props_valid(props) ||
            (fm_props_pick(props, want, 5, got) == FM_OK) != ok) {
            __builtin_trap();
        }
        for (int i = 0; i < 5; i++) {
            fm_slice one = fm_props_get(props, names[i]);
            if (one.ptr != got[i].ptr || one.len != got[i].len) {
                __builtin_trap();
            }
        }
    }
    fm_props_valid(fm_buf_slice(&rebuilt));
    fm_buf_free(&rebuilt);
    return 0;
}
