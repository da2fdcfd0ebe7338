/* libFuzzer target: stored-message records and batch bodies from untrusted bytes; anything
 * that decodes is re-encoded and must decode to the same fields. Records also go through the
 * client's received-message decoding (properties in place), which must give back C strings
 * that lookups find, and a message that takes edits. */
#include "client/client_int.h"
#include "proto/msg.h"
#include "proto/props.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_msg_view m, m2;
    fm_msg_batch_iter it;
    fm_msg_batch_item item;
    if (fm_msg_decode(data, size, &m, NULL) == FM_OK) {
        fm_buf b = {0};
        fm_msg_verify_crc(&m);
        fm_props_get(m.properties, "TAGS");
        if (m.topic.len > 0 && m.topic.len <= 127 && fm_msg_encode(&b, &m, NULL) == FM_OK) {
            if (fm_msg_decode(b.data, b.len, &m2, NULL) != FM_OK || m2.body.len != m.body.len ||
                m2.queue_offset != m.queue_offset || !fm_msg_verify_crc(&m2)) {
                abort();
            }
        }
        fm_buf_free(&b);
    }
    {
        ferrymq_msg *cm;
        if (fm_client_msg_from_record(data, size, &cm) == FM_OK) {
            for (size_t i = 0; i < ferrymq_msg_property_count(cm); i++) {
                const char *name, *value;
                name = ferrymq_msg_property_at(cm, i, &value);
                if (name[0] == '\0' || ferrymq_msg_property(cm, name) != value) {
                    abort(); /* names are unique and non-empty */
                }
            }
            ferrymq_msg_set_property(cm, "FUZZ", "1");
            if (strcmp(ferrymq_msg_property(cm, "FUZZ"), "1") != 0) {
                abort();
            }
            ferrymq_msg_free(cm);
        }
    }
    fm_msg_batch_init(&it, fm_slice_make(data, size));
    while (fm_msg_batch_next(&it, &item, NULL) == FM_OK) {
        fm_props_valid(item.properties);
    }
    return 0;
}
