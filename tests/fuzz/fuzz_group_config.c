/* libFuzzer target: a SubscriptionGroupConfig as UPDATE_AND_CREATE_SUBSCRIPTIONGROUP carries it
 * (and each record of subscriptionGroup.json), read by fm_store_group_from_json and written
 * back by fm_store_group_to_json. */
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = cJSON_ParseWithLength((const char *)data, size), *out;
    fm_store_group g, again;
    fm_errbuf eb;
    if (root == NULL) {
        return 0;
    }
    if (fm_store_group_from_json(root, NULL, &g, &eb) == FM_OK) {
        /* what the reader promises: a terminated, non-empty name that reads back the same */
        if (memchr(g.name, '\0', sizeof(g.name)) == NULL || g.name[0] == '\0') {
            __builtin_trap();
        }
        out = fm_store_group_to_json(&g);
        if (out == NULL || fm_store_group_from_json(out, NULL, &again, &eb) != FM_OK ||
            memcmp(&g, &again, sizeof(g)) != 0) {
            __builtin_trap();
        }
        cJSON_Delete(out);
    }
    cJSON_Delete(root);
    return 0;
}
