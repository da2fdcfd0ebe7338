/* Shared by the store unit tests: temp store dirs and record building. Header-only so each
 * test binary stays one file plus this. */
#ifndef FM_TESTS_STORE_FIXTURE_H
#define FM_TESTS_STORE_FIXTURE_H

#include "common/buf.h"
#include "proto/msg.h"
#include "proto/props.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t fx_host[8] = {127, 0, 0, 1, 0, 0, 0x2A, 0x9F};

/* Build one record for topic/qid with body and an optional tag into b (reset first). */
static inline void
fx_record(fm_buf *b, const char *topic, int qid, const char *body, const char *tag)
{
    fm_buf props = {0};
    fm_msg_view m;
    if (tag != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("TAGS"), fm_slice_cstr(tag));
    }
    {
        fm_slice u = fm_slice_cstr(body);
        if (u.len > 32) {
            u.len = 32;
        }
        fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), u);
    }
    memset(&m, 0, sizeof(m));
    m.queue_id = qid;
    m.born_timestamp = 1;
    m.born_host = fm_slice_make(fx_host, 8);
    m.store_host = fm_slice_make(fx_host, 8);
    m.body = fm_slice_cstr(body);
    m.topic = fm_slice_cstr(topic);
    m.properties = fm_buf_slice(&props);
    fm_buf_reset(b);
    if (fm_msg_encode(b, &m, NULL) != FM_OK) {
        abort();
    }
    fm_buf_free(&props);
}

static inline void
fx_mkdtemp(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/fm-store-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
}

static inline void
fx_rmrf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

static inline void
fx_cp(const char *from, const char *to)
{
    char cmd[900];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    if (system(cmd) != 0) {
        abort();
    }
}

static inline void
fx_cfg(fm_store_cfg *cfg, const char *dir, uint64_t seg_size, int sync)
{
    fm_store_cfg_defaults(cfg);
    if (strlen(dir) >= sizeof(cfg->dir)) {
        abort();
    }
    memcpy(cfg->dir, dir, strlen(dir) + 1);
    cfg->segment_size = seg_size;
    cfg->flush_sync = sync;
    cfg->max_msg_size = seg_size / 2;
    /* small index files: tests that fill one stay small */
    cfg->index_slots = 64;
    cfg->index_num = 256;
}

#endif
