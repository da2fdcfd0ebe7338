/* libFuzzer target: an index file as recovery finds it on disk (torn, garbage, hostile). The
 * first input byte chooses fix-ups that let inputs reach past the header checks (bit 0: a
 * correct header check value; bit 1: a geometry that fits the file's size); the rest is the file.
 * The index is then opened, recovered, looked up, appended to and pruned: none of it may crash,
 * loop or touch memory outside the file. */
#include "common/crc.h"
#include "proto/props.h"
#include "store/index.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static int
check(void *ud, uint32_t hash, uint64_t phys)
{
    (void)ud;
    return ((hash ^ (uint32_t)phys) & 1) == 0;
}

static int
match(void *ud, uint64_t phys)
{
    (void)ud;
    return (phys & 3) != 3;
}

static void
clean(void)
{
    static const char *names[] = {"00000000000000000001", "00000000000000000002",
                                  "00000000000000000003"};
    char path[400];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file;
    size_t len;
    char path[400];
    FILE *f;
    fm_store_index *ix;
    uint64_t from, out[8];
    size_t n;
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/fm-fuzz-index-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(dir) == NULL) {
            abort();
        }
    }
    if (size < 1 || size > (1u << 20)) {
        return 0;
    }
    len = size - 1;
    file = malloc(len + 1);
    if (file == NULL) {
        return 0;
    }
    memcpy(file, data + 1, len);
    if ((data[0] & 2) && len >= FM_INDEX_HEADER + 4 + 2 * FM_INDEX_ENTRY) {
        uint32_t slots = 1 + file[8] % 8;
        uint32_t num = (uint32_t)((len - FM_INDEX_HEADER - slots * FM_INDEX_SLOT) / FM_INDEX_ENTRY);
        if (num >= 2) {
            fm_put_be32(file + 8, slots);
            fm_put_be32(file + 12, num);
            len = FM_INDEX_HEADER + slots * FM_INDEX_SLOT + (size_t)num * FM_INDEX_ENTRY;
        }
    }
    if ((data[0] & 1) && len >= FM_INDEX_HEADER) {
        fm_put_be32(file, FM_INDEX_MAGIC);
        fm_put_be32(file + 4, FM_INDEX_VERSION);
        fm_put_be32(file + 60, fm_store_index_header_sum(file));
    }
    clean();
    snprintf(path, sizeof(path), "%s/00000000000000000001", dir);
    f = fopen(path, "wb");
    if (f == NULL) {
        free(file);
        return 0;
    }
    fwrite(file, 1, len, f);
    fclose(f);
    free(file);
    if (fm_store_index_open(dir, 4, 8, &ix, NULL) == FM_OK) {
        fm_buf props = {0};
        fm_msg_view m;
        fm_store_index_recover(ix, data[0] >> 2, 1u << 16, check, NULL, &from);
        fm_store_index_lookup(ix, FM_SLICE_LIT("T"), FM_SLICE_LIT("k"), 0, INT64_MAX, match, NULL,
                              out, 8, &n);
        fm_store_index_lookup(ix, FM_SLICE_LIT("TopicA"), FM_SLICE_LIT("order-1"), 1000, 1u << 30,
                              match, NULL, out, 8, &n);
        memset(&m, 0, sizeof(m));
        fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), FM_SLICE_LIT("U1"));
        fm_props_append(&props, FM_SLICE_LIT("KEYS"), FM_SLICE_LIT("a b c d e f g h i"));
        m.topic = FM_SLICE_LIT("T");
        m.properties = fm_buf_slice(&props);
        m.total_size = 100;
        fm_store_index_put(ix, &m, from + 1, 5000, NULL);
        fm_store_index_lookup(ix, FM_SLICE_LIT("T"), FM_SLICE_LIT("e"), 0, INT64_MAX, match, NULL,
                              out, 8, &n);
        fm_store_index_delete_before(ix, from);
        fm_store_index_close(ix);
        fm_buf_free(&props);
    }
    clean();
    return 0;
}
