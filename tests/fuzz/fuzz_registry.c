/* libFuzzer target: the name server's handling of REGISTER_BROKER bodies (topic tables of any
 * shape), then every JSON rendering over what was registered. */
#include "namesrv/registry.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_namesrv_registry *reg;
    fm_buf out = {0};
    if (fm_namesrv_registry_new(&reg) != FM_OK) {
        return 0;
    }
    fm_namesrv_register(reg, "C", "b", 0, "127.0.0.1:10911", fm_slice_make(data, size), 1, NULL);
    fm_namesrv_register(reg, "C", "b", 1, "127.0.0.1:10912", fm_slice_make(data, size), 1, NULL);
    fm_namesrv_route_json(reg, "T", &out);
    fm_namesrv_route_json(reg, "TBW102", &out);
    fm_namesrv_topic_list_json(reg, &out);
    fm_namesrv_cluster_json(reg, &out);
    fm_namesrv_expire(reg, 1000000, 10);
    fm_buf_free(&out);
    fm_namesrv_registry_free(reg);
    return 0;
}
