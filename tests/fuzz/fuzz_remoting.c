/* libFuzzer target: remoting frames. Length check, decode (JSON and binary headers), and for
 * anything that decodes, re-encode in both serializations and decode again: the fields must
 * survive. */
#include "proto/frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_cmd_arena a, a2;
    fm_cmd c, c2;
    size_t flen;
    fm_proto_arena_init(&a);
    fm_proto_arena_init(&a2);
    fm_proto_frame_len(data, size, 1 << 20, &flen);
    if (fm_proto_cmd_decode(data, size, &a, &c, NULL) == FM_OK) {
        for (int ser = 0; ser <= 1; ser++) {
            fm_buf b = {0};
            int64_t v;
            c.serialize = ser;
            if (fm_proto_cmd_encode(&b, &c, NULL) == FM_OK) {
                if (fm_proto_cmd_decode(b.data, b.len, &a2, &c2, NULL) != FM_OK ||
                    c2.code != (ser ? (int16_t)c.code : c.code) || c2.opaque != c.opaque ||
                    c2.body.len != c.body.len) {
                    /* binary headers carry code as int16: only JSON keeps larger codes */
                    if (!(ser && (c.code > 32767 || c.code < -32768))) {
                        abort();
                    }
                }
                fm_cmd_ext_i64(&c2, "queueId", &v);
            }
            fm_buf_free(&b);
        }
    }
    fm_proto_arena_free(&a);
    fm_proto_arena_free(&a2);
    return 0;
}
