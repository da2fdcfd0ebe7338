/*
 * The message index on real files: insert and lookup, hash collisions, full files rolling to
 * new ones, a truncated or garbage index file rebuilt from the log, a torn tail past the
 * checkpoint cut and re-indexed, retention deleting index files with their segments, and the
 * store-level query (QUERY_MESSAGE's semantics).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store_int.h"
#include "store_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

/* ---- index-level helpers: synthetic records ---- */

typedef struct fake_rec {
    fm_buf props;
    fm_msg_view m;
} fake_rec;

static void
fake(fake_rec *r, const char *topic, const char *uniq, const char *keys, uint32_t size)
{
    memset(r, 0, sizeof(*r));
    if (uniq != NULL) {
        fm_props_append(&r->props, FM_SLICE_LIT("UNIQ_KEY"), fm_slice_cstr(uniq));
    }
    if (keys != NULL) {
        fm_props_append(&r->props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(keys));
    }
    r->m.topic = fm_slice_cstr(topic);
    r->m.properties = fm_buf_slice(&r->props);
    r->m.total_size = size;
}

static int
match_all(void *ud, uint64_t phys)
{
    (void)ud;
    (void)phys;
    return 1;
}

static size_t
lookup(fm_store_index *ix, const char *topic, const char *key, uint64_t *out, size_t max)
{
    size_t n;
    fm_store_index_lookup(ix, fm_slice_cstr(topic), fm_slice_cstr(key), 0, INT64_MAX, match_all,
                          NULL, out, max, &n);
    return n;
}

static int
has(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == x) {
            return 1;
        }
    }
    return 0;
}

static int
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        n += strlen(de->d_name) == 20;
    }
    closedir(d);
    return n;
}

static void
test_index_put_lookup_by_uniq_and_each_key(void **state)
{
    char dir[200], idir[260];
    fm_store_index *ix;
    fake_rec r;
    uint64_t out[8];
    size_t n;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    assert_int_equal(fm_store_index_open(idir, 64, 256, &ix, NULL), FM_OK);
    for (int i = 0; i < 10; i++) {
        char u[32], k[64];
        snprintf(u, sizeof(u), "U%02d", i);
        snprintf(k, sizeof(k), "order-%d  shared", i); /* double space: an empty word */
        fake(&r, "T", u, k, 100);
        assert_int_equal(fm_store_index_put(ix, &r.m, (uint64_t)i * 100, 1000 + i, NULL), FM_OK);
        fm_buf_free(&r.props);
    }
    assert_int_equal(fm_store_index_entries(ix), 30);
    n = lookup(ix, "T", "U07", out, 8);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 700);
    n = lookup(ix, "T", "order-3", out, 8);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 300);
    n = lookup(ix, "T", "shared", out, 8);
    assert_int_equal(n, 8); /* capped at max, newest first */
    assert_int_equal(out[0], 900);
    assert_true(has(out, n, 200) && !has(out, n, 100));
    assert_int_equal(lookup(ix, "T", "nope", out, 8), 0);
    assert_int_equal(lookup(ix, "Other", "U07", out, 8), 0); /* the key is topic#key */
    assert_int_equal(lookup(ix, "T", "", out, 8), 0);
    /* records already indexed are skipped when re-dispatched (recovery) */
    fake(&r, "T", "U09", NULL, 100);
    assert_int_equal(fm_store_index_put(ix, &r.m, 900, 1009, NULL), FM_OK);
    fm_buf_free(&r.props);
    assert_int_equal(fm_store_index_entries(ix), 30);
    fm_store_index_close(ix);
    fx_rmrf(dir);
}

static void
test_index_hash_collisions_share_a_chain(void **state)
{
    char dir[200], idir[260];
    fm_store_index *ix;
    fake_rec r;
    uint64_t out[8];
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    /* one slot: every key lands in the same chain */
    assert_int_equal(fm_store_index_open(idir, 1, 256, &ix, NULL), FM_OK);
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        fake(&r, "T", NULL, k, 10);
        assert_int_equal(fm_store_index_put(ix, &r.m, (uint64_t)i * 10, 5000, NULL), FM_OK);
        fm_buf_free(&r.props);
    }
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(lookup(ix, "T", k, out, 8), 1);
        assert_int_equal(out[0], (uint64_t)i * 10);
    }
    /* "Aa" and "BB" have the same Java hash: the index cannot tell them apart, which is why
     * every candidate goes through the match callback (fm_store_query_by_key's record check) */
    assert_int_equal(fm_store_index_hash(FM_SLICE_LIT("T"), FM_SLICE_LIT("Aa")),
                     fm_store_index_hash(FM_SLICE_LIT("T"), FM_SLICE_LIT("BB")));
    fake(&r, "T", NULL, "Aa", 10);
    assert_int_equal(fm_store_index_put(ix, &r.m, 1000, 5000, NULL), FM_OK);
    fm_buf_free(&r.props);
    fake(&r, "T", NULL, "BB", 10);
    assert_int_equal(fm_store_index_put(ix, &r.m, 1010, 5000, NULL), FM_OK);
    fm_buf_free(&r.props);
    assert_int_equal(lookup(ix, "T", "Aa", out, 8), 2);
    fm_store_index_close(ix);
    fx_rmrf(dir);
}

static void
test_index_full_file_rolls_to_a_new_one(void **state)
{
    char dir[200], idir[260];
    fm_store_index *ix;
    fake_rec r;
    uint64_t out[8];
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    /* 5 entries: 4 usable (entry 0 means "none") */
    assert_int_equal(fm_store_index_open(idir, 8, 5, &ix, NULL), FM_OK);
    for (int i = 0; i < 10; i++) {
        char u[16];
        snprintf(u, sizeof(u), "u%d", i);
        fake(&r, "T", u, NULL, 10);
        assert_int_equal(fm_store_index_put(ix, &r.m, (uint64_t)i * 10, 1000, NULL), FM_OK);
        fm_buf_free(&r.props);
    }
    assert_int_equal(fm_store_index_files(ix), 3);
    /* one record whose keys straddle the third file and a fourth */
    fake(&r, "T", "u10", "a b c", 10);
    assert_int_equal(fm_store_index_put(ix, &r.m, 100, 2000, NULL), FM_OK);
    fm_buf_free(&r.props);
    assert_int_equal(fm_store_index_files(ix), 4);
    for (int i = 0; i < 10; i++) {
        char u[16];
        snprintf(u, sizeof(u), "u%d", i);
        assert_int_equal(lookup(ix, "T", u, out, 8), 1);
        assert_int_equal(out[0], (uint64_t)i * 10);
    }
    assert_int_equal(lookup(ix, "T", "a", out, 8), 1);
    assert_int_equal(lookup(ix, "T", "c", out, 8), 1);
    assert_int_equal(out[0], 100);
    fm_store_index_close(ix);
    /* reopened, the files check and keep answering */
    assert_int_equal(count_files(idir), 4);
    assert_int_equal(fm_store_index_open(idir, 8, 5, &ix, NULL), FM_OK);
    assert_int_equal(fm_store_index_files(ix), 4);
    assert_int_equal(lookup(ix, "T", "u3", out, 8), 1);
    assert_int_equal(out[0], 30);
    /* retention: files whose newest record is below the log start go, never the newest */
    assert_int_equal(fm_store_index_delete_before(ix, 45), 1);
    assert_int_equal(lookup(ix, "T", "u3", out, 8), 0);
    assert_int_equal(lookup(ix, "T", "u5", out, 8), 1);
    assert_int_equal(fm_store_index_delete_before(ix, UINT64_MAX), 2);
    assert_int_equal(fm_store_index_files(ix), 1);
    assert_int_equal(count_files(idir), 1);
    fm_store_index_close(ix);
    fx_rmrf(dir);
}

static void
test_index_garbage_files_are_deleted_never_read(void **state)
{
    char dir[200], idir[260], path[400];
    fm_store_index *ix;
    fake_rec r;
    uint64_t out[8];
    uint8_t junk[4096];
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    assert_int_equal(fm_store_index_open(idir, 8, 16, &ix, NULL), FM_OK);
    fake(&r, "T", "good", NULL, 10);
    assert_int_equal(fm_store_index_put(ix, &r.m, 0, 1000, NULL), FM_OK);
    fm_buf_free(&r.props);
    fm_store_index_close(ix);
    /* a garbage file after the good one, and one of header size only */
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 7 + 3);
    }
    snprintf(path, sizeof(path), "%s/%020d", idir, 5);
    {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(junk, 1, sizeof(junk), f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/%020d", idir, 6);
    {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(junk, 1, 10, f);
        fclose(f);
    }
    assert_int_equal(fm_store_index_open(idir, 8, 16, &ix, NULL), FM_OK);
    assert_int_equal(fm_store_index_files(ix), 1);
    assert_int_equal(count_files(idir), 1);
    assert_int_equal(lookup(ix, "T", "good", out, 8), 1);
    /* a new file never takes a deleted one's name */
    fm_store_index_close(ix);
    fx_rmrf(dir);
}

/* ---- store level ---- */

static void
rec_with_keys(fm_buf *b, const char *topic, const char *body, const char *uniq, const char *keys)
{
    fm_buf props = {0};
    fm_msg_view m;
    if (keys != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("KEYS"), fm_slice_cstr(keys));
    }
    if (uniq != NULL) {
        fm_props_append(&props, FM_SLICE_LIT("UNIQ_KEY"), fm_slice_cstr(uniq));
    }
    memset(&m, 0, sizeof(m));
    m.born_timestamp = 1;
    m.born_host = fm_slice_make(fx_host, 8);
    m.store_host = fm_slice_make(fx_host, 8);
    m.body = fm_slice_cstr(body);
    m.topic = fm_slice_cstr(topic);
    m.properties = fm_buf_slice(&props);
    fm_buf_reset(b);
    assert_int_equal(fm_msg_encode(b, &m, NULL), FM_OK);
    fm_buf_free(&props);
}

/* Number of records a query returns, and whether each has key among its KEYS. */
static int
query(fm_store *st, const char *topic, const char *key, int uniq, int max)
{
    fm_buf out = {0};
    fm_store_query_result r;
    size_t pos = 0;
    int n = 0;
    assert_int_equal(
        fm_store_query_by_key(st, topic, fm_slice_cstr(key), uniq, max, 0, INT64_MAX, &out, &r),
        FM_OK);
    while (pos < out.len) {
        fm_msg_view m;
        assert_int_equal(fm_msg_decode(out.data + pos, out.len - pos, &m, NULL), FM_OK);
        assert_true(fm_slice_eq_cstr(m.topic, topic));
        pos += m.total_size;
        n++;
    }
    assert_int_equal(n, r.n_msgs);
    fm_buf_free(&out);
    return n;
}

static fm_store *
open_store(const char *dir, uint32_t slots, uint32_t num, uint64_t seg)
{
    fm_store_cfg cfg;
    fm_store *st;
    fx_cfg(&cfg, dir, seg, 1);
    cfg.index_slots = slots;
    cfg.index_num = num;
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    return st;
}

static void
append_n(fm_store *st, int from, int to)
{
    fm_buf rec = {0};
    fm_store_put_result res;
    for (int i = from; i < to; i++) {
        char body[64], uniq[32], keys[64];
        snprintf(body, sizeof(body), "body-%d", i);
        snprintf(uniq, sizeof(uniq), "UNIQ%04d", i);
        snprintf(keys, sizeof(keys), "k%d even%d", i, i % 2 == 0);
        rec_with_keys(&rec, "IxTopic", body, uniq, keys);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    }
    fm_buf_free(&rec);
}

static void
test_store_query_confirms_keys_and_caps(void **state)
{
    char dir[200];
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    st = open_store(dir, 1, 256, 1 << 20);
    append_n(st, 0, 20);
    assert_int_equal(query(st, "IxTopic", "k7", 0, 32), 1);
    assert_int_equal(query(st, "IxTopic", "even1", 0, 32), 10);
    assert_int_equal(query(st, "IxTopic", "even1", 0, 4), 4);
    assert_int_equal(query(st, "IxTopic", "UNIQ0003", 1, 32), 1);
    /* a UNIQ_KEY is not one of the KEYS, and a KEYS word is not a UNIQ_KEY */
    assert_int_equal(query(st, "IxTopic", "UNIQ0003", 0, 32), 0);
    assert_int_equal(query(st, "IxTopic", "k7", 1, 32), 0);
    assert_int_equal(query(st, "Other", "k7", 0, 32), 0);
    assert_int_equal(query(st, "IxTopic", "missing", 0, 32), 0);
    /* same hash, other key: the store drops it */
    rec_with_keys(&rec, "IxTopic", "aa", NULL, "Aa");
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    rec_with_keys(&rec, "IxTopic", "bb", NULL, "BB");
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    assert_int_equal(query(st, "IxTopic", "Aa", 0, 32), 1);
    assert_int_equal(query(st, "IxTopic", "BB", 0, 32), 1);
    {
        fm_buf out = {0};
        fm_store_query_result r;
        assert_int_equal(
            fm_store_query_by_key(st, "IxTopic", FM_SLICE_LIT("Aa"), 0, 0, 0, INT64_MAX, &out, &r),
            FM_EINVAL);
        /* a time range after every message finds nothing */
        assert_int_equal(fm_store_query_by_key(st, "IxTopic", FM_SLICE_LIT("k7"), 0, 8,
                                               INT64_MAX - 1, INT64_MAX, &out, &r),
                         FM_OK);
        assert_int_equal(r.n_msgs, 0);
        assert_true(r.last_update_ts > 0);
        assert_int_equal(r.last_update_phys, res.phys_offset);
        fm_buf_free(&out);
    }
    fm_buf_free(&rec);
    fm_store_close(st);
    fx_rmrf(dir);
}

static void
newest_index_file(const char *dir, char *path, size_t cap)
{
    char idir[300], best[32] = "";
    DIR *d;
    struct dirent *de;
    snprintf(idir, sizeof(idir), "%s/index", dir);
    d = opendir(idir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 20 && strcmp(de->d_name, best) > 0) {
            memcpy(best, de->d_name, 21); /* 20 digits and the NUL */
        }
    }
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(path, cap, "%s/%s", idir, best);
}

static void
test_store_index_rebuilt_after_truncation(void **state)
{
    char dir[200], path[400];
    fm_store *st;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    /* 64 entries a file: 40 messages x 3 keys fill two and part of a third */
    st = open_store(dir, 16, 64, 1 << 20);
    append_n(st, 0, 40);
    fm_store_close(st);
    newest_index_file(dir, path, sizeof(path));
    assert_int_equal(truncate(path, 100), 0);
    st = open_store(dir, 16, 64, 1 << 20);
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(query(st, "IxTopic", k, 0, 8), 1);
    }
    assert_int_equal(query(st, "IxTopic", "even1", 0, 64), 20);
    fm_store_close(st);
    /* the whole index gone: indexed again from the log */
    {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/index'", dir);
        assert_int_equal(system(cmd), 0);
    }
    st = open_store(dir, 16, 64, 1 << 20);
    assert_int_equal(query(st, "IxTopic", "UNIQ0039", 1, 8), 1);
    assert_int_equal(query(st, "IxTopic", "even0", 0, 64), 20);
    fm_store_close(st);
    fx_rmrf(dir);
}

static void
test_store_index_torn_tail_past_checkpoint_is_cut(void **state)
{
    char dir[200], path[400];
    fm_store *st;
    fm_store_put_result res;
    fm_buf rec = {0};
    uint64_t mid = 0;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    st = open_store(dir, 16, 256, 1 << 20);
    for (int i = 0; i < 20; i++) {
        char u[16], k[16];
        snprintf(u, sizeof(u), "U%d", i);
        snprintf(k, sizeof(k), "k%d", i);
        rec_with_keys(&rec, "IxTopic", "b", u, k);
        assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
        if (i == 10) {
            mid = res.phys_offset;
        }
    }
    fm_store_close(st);
    /* as after a power loss: the checkpoint says only records below `mid` were durable, and
     * an entry past it holds garbage (its offset points at no record) */
    {
        char ck[300], buf[64];
        int fd, n;
        snprintf(ck, sizeof(ck), "%s/checkpoint", dir);
        fd = open(ck, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        n = snprintf(buf, sizeof(buf), "ferrymq-checkpoint 1 %llu\n", (unsigned long long)mid);
        assert_int_equal(write(fd, buf, (size_t)n), n);
        close(fd);
    }
    newest_index_file(dir, path, sizeof(path));
    {
        /* entry 30 (of 40): offset field := 7 */
        int fd = open(path, O_RDWR);
        uint8_t v[8] = {0, 0, 0, 0, 0, 0, 0, 7};
        off_t at = FM_INDEX_HEADER + 16 * FM_INDEX_SLOT + 30 * FM_INDEX_ENTRY + 4;
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, v, 8, at), 8);
        close(fd);
    }
    st = open_store(dir, 16, 256, 1 << 20);
    for (int i = 0; i < 20; i++) {
        char u[16], k[16];
        snprintf(u, sizeof(u), "U%d", i);
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(query(st, "IxTopic", u, 1, 8), 1);
        assert_int_equal(query(st, "IxTopic", k, 0, 8), 1);
    }
    fm_store_close(st);
    fm_buf_free(&rec);
    fx_rmrf(dir);
}

static void
test_store_index_deleted_with_retention(void **state)
{
    char dir[200], idir[300];
    fm_store *st;
    int before, after;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    /* 4 KiB segments, 16-entry index files: many of each */
    st = open_store(dir, 8, 16, 4096);
    append_n(st, 0, 200);
    before = count_files(idir);
    assert_true(before > 30);
    assert_int_equal(query(st, "IxTopic", "k0", 0, 8), 1);
    assert_true(fm_store_retention_run(st, fm_store_min_phys_offset(st) + INT64_MAX / 2) > 0);
    /* the oldest messages are gone, and so are the index files that only pointed at them */
    assert_int_equal(query(st, "IxTopic", "k0", 0, 8), 0);
    assert_int_equal(query(st, "IxTopic", "k199", 0, 8), 1);
    after = count_files(idir);
    assert_true(after < before / 2);
    assert_int_equal((size_t)after, fm_store_index_files(st->ix));
    fm_store_close(st);
    fx_rmrf(dir);
}

static void
test_store_index_disabled_finds_nothing(void **state)
{
    char dir[200], idir[300];
    fm_store_cfg cfg;
    fm_store *st;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    snprintf(idir, sizeof(idir), "%s/index", dir);
    fx_cfg(&cfg, dir, 1 << 20, 1);
    cfg.index_enable = 0;
    assert_int_equal(fm_store_open(&cfg, &st, NULL), FM_OK);
    append_n(st, 0, 10);
    assert_int_equal(query(st, "IxTopic", "k1", 0, 8), 0);
    fm_store_close(st);
    assert_true(count_files(idir) <= 0);
    /* switched on later: what was stored meanwhile is indexed at open */
    st = open_store(dir, 16, 256, 1 << 20);
    assert_int_equal(query(st, "IxTopic", "k1", 0, 8), 1);
    fm_store_close(st);
    fx_rmrf(dir);
}

static void
test_store_index_failure_keeps_messages_and_recovers(void **state)
{
    char dir[200];
    fm_store *st;
    fm_buf rec = {0};
    fm_store_put_result res;
    (void)state;
    fx_mkdtemp(dir, sizeof(dir));
    /* 4 entries a file: the 3rd message needs a new file, which cannot be made */
    st = open_store(dir, 8, 5, 1 << 20);
    append_n(st, 0, 2);
    setenv("FM_FAULT", "store.index.create:ENOSPC", 1);
    append_n(st, 2, 6); /* every append still succeeds: the message is stored */
    unsetenv("FM_FAULT");
    assert_null(st->ix); /* indexing stopped */
    assert_int_equal(query(st, "IxTopic", "k1", 0, 8), 0);
    rec_with_keys(&rec, "IxTopic", "later", "ULATER", "klater");
    assert_int_equal(fm_store_append(st, rec.data, rec.len, &res, NULL), FM_OK);
    fm_store_close(st);
    /* the next start indexes from where the index stopped */
    st = open_store(dir, 8, 5, 1 << 20);
    assert_non_null(st->ix);
    for (int i = 0; i < 6; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(query(st, "IxTopic", k, 0, 8), 1);
    }
    assert_int_equal(query(st, "IxTopic", "klater", 0, 8), 1);
    fm_store_close(st);
    fm_buf_free(&rec);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_put_lookup_by_uniq_and_each_key),
        cmocka_unit_test(test_index_hash_collisions_share_a_chain),
        cmocka_unit_test(test_index_full_file_rolls_to_a_new_one),
        cmocka_unit_test(test_index_garbage_files_are_deleted_never_read),
        cmocka_unit_test(test_store_query_confirms_keys_and_caps),
        cmocka_unit_test(test_store_index_rebuilt_after_truncation),
        cmocka_unit_test(test_store_index_torn_tail_past_checkpoint_is_cut),
        cmocka_unit_test(test_store_index_deleted_with_retention),
        cmocka_unit_test(test_store_index_disabled_finds_nothing),
        cmocka_unit_test(test_store_index_failure_keeps_messages_and_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
