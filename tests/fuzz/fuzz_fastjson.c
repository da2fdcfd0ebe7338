/* libFuzzer target: the rewrite of fastjson's object-keyed maps in broker answers. */
#include "client/client_int.h"

#include <cjson/cJSON.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_buf out = {0};
    if (fm_client_fastjson_keys(data, size, &out) == FM_OK) {
        cJSON *j = cJSON_ParseWithLength((const char *)out.data, out.len);
        cJSON_Delete(j);
    }
    fm_buf_free(&out);
    return 0;
}
