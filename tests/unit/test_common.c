/* common: slices, buffers, integer parsing, config tables, error texts, CRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/clock.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/file.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/map.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static void
test_i64_to_str_round_trips_the_limits(void **state)
{
    const int64_t vs[] = {0, 7, -7, 10, 1796128245601, INT64_MAX, INT64_MIN};
    (void)state;
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
        char got[21], want[32];
        int64_t back = 0;
        size_t n = fm_i64_to_str(vs[i], got);
        snprintf(want, sizeof(want), "%" PRId64, vs[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
        assert_int_equal(fm_slice_to_i64(fm_slice_make(got, n), &back), FM_OK);
        assert_true(back == vs[i]);
    }
}

static void
test_array_reserve_grows_by_doubling_and_keeps_items(void **state)
{
    int64_t *a = NULL;
    size_t cap = 0;
    (void)state;
    assert_int_equal(fm_array_reserve(&a, &cap, 0, sizeof(*a), 4), FM_OK);
    assert_null(a); /* nothing needed: nothing allocated */
    for (int64_t i = 0; i < 100; i++) {
        assert_int_equal(fm_array_reserve(&a, &cap, (size_t)i + 1, sizeof(*a), 4), FM_OK);
        a[i] = i * 7;
    }
    assert_int_equal(cap, 128); /* 4, 8, ..., 128 */
    for (int64_t i = 0; i < 100; i++) {
        assert_true(a[i] == i * 7);
    }
    /* a size that cannot be allocated leaves the array as it was */
    assert_int_equal(fm_array_reserve(&a, &cap, SIZE_MAX / 4, sizeof(*a), 4), FM_ENOMEM);
    assert_int_equal(cap, 128);
    assert_true(a[99] == 99 * 7);
    free(a);
}

static void
test_slice_to_i64_limits_and_junk(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr("9223372036854775807"), &v), FM_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr("-9223372036854775808"), &v), FM_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr("9223372036854775808"), &v), FM_EINVAL);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr(""), &v), FM_EINVAL);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr("-"), &v), FM_EINVAL);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr("12a"), &v), FM_EINVAL);
    assert_int_equal(fm_slice_to_i64(fm_slice_cstr(" 1"), &v), FM_EINVAL);
}

static void
test_buf_append_be_and_consume(void **state)
{
    (void)state;
    fm_buf b = {0};
    assert_int_equal(fm_buf_append_be32(&b, 0x01020304u), FM_OK);
    assert_int_equal(fm_buf_append_be64(&b, 0x05060708090a0b0cull), FM_OK);
    assert_int_equal(fm_buf_appendf(&b, "x%d", 42), FM_OK);
    assert_int_equal(b.len, 15);
    assert_int_equal(fm_be32(b.data), 0x01020304u);
    assert_true(fm_be64(b.data + 4) == 0x05060708090a0b0cull);
    fm_buf_consume(&b, 12);
    assert_memory_equal(b.data, "x42", 3);
    fm_buf_free(&b);
    fm_buf_free(NULL);
}

static void
test_slice_to_cstr_truncates(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(fm_slice_to_cstr(fm_slice_cstr("abcdef"), small, sizeof(small)), FM_ETOOBIG);
    assert_string_equal(small, "abc");
}

typedef struct settings {
    char name[FM_CONFIG_STR_MAX];
    int64_t size;
    int flag;
} settings;

static const fm_config_opt opts[] = {
    {"name", FM_CONFIG_STR, offsetof(settings, name), "dflt", 0, 0, "a name"},
    {"size", FM_CONFIG_INT, offsetof(settings, size), "1k", 0, 1 << 30, "a size"},
    {"flag", FM_CONFIG_BOOL, offsetof(settings, flag), "true", 0, 0, "a flag"},
};

static void
test_config_defaults_file_and_errors(void **state)
{
    (void)state;
    settings s;
    fm_errbuf eb;
    char path[] = "/tmp/fm-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\n  name = hello \nsize=2m\nflag=off\n", f);
    fclose(f);

    assert_int_equal(fm_config_defaults(opts, 3, &s, &eb), FM_OK);
    assert_string_equal(s.name, "dflt");
    assert_int_equal(s.size, 1024);
    assert_int_equal(s.flag, 1);
    assert_int_equal(fm_config_load_file(opts, 3, &s, path, &eb), FM_OK);
    assert_string_equal(s.name, "hello");
    assert_int_equal(s.size, 2 * 1024 * 1024);
    assert_int_equal(s.flag, 0);

    assert_int_equal(fm_config_set(opts, 3, &s, "nope", "1", &eb), FM_ENOTFOUND);
    assert_int_equal(fm_config_set(opts, 3, &s, "size", "2g", &eb), FM_EINVAL);
    assert_non_null(strstr(eb.msg, "outside"));
    assert_int_equal(fm_config_set(opts, 3, &s, "size", "12x", &eb), FM_EINVAL);
    assert_int_equal(fm_config_set(opts, 3, &s, "flag", "maybe", &eb), FM_EINVAL);

    f = fopen(path, "w");
    fputs("size=1\nbroken line\n", f);
    fclose(f);
    assert_int_equal(fm_config_load_file(opts, 3, &s, path, &eb), FM_EINVAL);
    assert_non_null(strstr(eb.msg, ":2:"));
    unlink(path);
    assert_int_equal(fm_config_load_file(opts, 3, &s, path, &eb), FM_EIO);
}

static int
count_pair(void *ud, const char *key, const char *value, int lineno, fm_errbuf *eb)
{
    int *n = ud;
    (void)lineno;
    (void)eb;
    /* trimmed, and only the first '=' splits */
    assert_true(strcmp(key, "a") == 0 || strcmp(key, "b") == 0);
    assert_true(strcmp(value, "1") == 0 || strcmp(value, "x=y") == 0);
    (*n)++;
    return FM_OK;
}

/* Properties text as UPDATE_BROKER_CONFIG carries it, and GET_BROKER_CONFIG's rendering. */
static void
test_config_text_parse_and_format(void **state)
{
    const char text[] = "! a Java comment\r\n# ours\n a = 1 \r\n\nb=x=y";
    settings s;
    fm_buf out = {0};
    fm_errbuf eb;
    int n = 0;
    (void)state;
    assert_int_equal(fm_config_parse_text("body", text, sizeof(text) - 1, count_pair, &n, &eb),
                     FM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(fm_config_parse_text("body", "a=1\nnot a pair\n", 15, count_pair, &n, &eb),
                     FM_EINVAL);
    assert_non_null(strstr(eb.msg, "body:2:"));
    assert_int_equal(fm_config_parse_text("body", "a=1\0b", 5, count_pair, &n, &eb), FM_EINVAL);
    assert_int_equal(fm_config_parse_text("body", "", 0, count_pair, &n, &eb), FM_OK);
    assert_int_equal(fm_config_defaults(opts, 3, &s, &eb), FM_OK);
    assert_int_equal(fm_config_format(opts, 3, &s, &out), FM_OK);
    assert_int_equal(out.len, strlen("name=dflt\nsize=1024\nflag=true\n"));
    assert_memory_equal(out.data, "name=dflt\nsize=1024\nflag=true\n", out.len);
    assert_ptr_equal(fm_config_lookup(opts, 3, "size"), &opts[1]);
    assert_null(fm_config_lookup(opts, 3, "nope"));
    fm_buf_free(&out);
}

static void
test_clock_wall_deadline_normalised(void **state)
{
    (void)state;
    for (int64_t ms = 0; ms < 3000; ms += 97) {
        struct timespec before, ts;
        clock_gettime(CLOCK_REALTIME, &before);
        fm_clock_wall_deadline(&ts, ms);
        int64_t d =
            ((int64_t)ts.tv_sec - before.tv_sec) * 1000 + (ts.tv_nsec - before.tv_nsec) / 1000000;
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        assert_true(d >= ms && d <= ms + 50);
    }
}

/* Dups outlive the original descriptor and are close-on-exec; close_from undoes appends. */
static void
test_file_dup_append_and_close_from(void **state)
{
    int *fds = NULL, p[2];
    size_t n = 0, cap = 0;
    (void)state;
    assert_int_equal(pipe(p), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fm_file_dup_append(p[1], &fds, &n, &cap), FM_OK);
    }
    assert_int_equal(n, 20);
    close(p[1]);
    assert_true(fcntl(fds[19], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fds[0], "x", 1), 1); /* the pipe's write end lives on in the dups */
    fm_file_close_from(fds, &n, 5);
    assert_int_equal(n, 5);
    assert_int_equal(fcntl(fds[5], F_GETFD), -1); /* closed */
    assert_int_equal(fm_file_dup_append(-1, &fds, &n, &cap), FM_EIO);
    assert_int_equal(n, 5);
    fm_file_close_from(fds, &n, 0);
    assert_int_equal(n, 0);
    close(p[0]);
    free(fds);
}

static void
test_errors_names_and_crc(void **state)
{
    (void)state;
    assert_string_equal(fm_errname(FM_EPROTO), "FM_EPROTO");
    assert_string_equal(fm_strerror(FM_OK), "success");
    assert_string_equal(fm_errname(-9999), "FM_EUNKNOWN");
    assert_int_equal(fm_err_rmq_code(FM_ENOTSUP), 3);
    /* CRC32("123456789") = 0xCBF43926, masked to 31 bits as RocketMQ stores it. */
    assert_int_equal(fm_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(fm_crc32_body("123456789", 9), 0x4BF43926u);
}

static void
test_log_line_format_and_rate_limit(void **state)
{
    (void)state;
    char path[] = "/tmp/fm-log-XXXXXX", line[512];
    int fd = mkstemp(path), lines = 0, first = 1;
    FILE *f;
    assert_true(fd >= 0);
    fm_log_init("unit", fd, FM_LOG_INFO, NULL);
    for (int i = 0; i < 100; i++) {
        FM_LOGW("test", "FM-TEST-FLOOD", "i=%d", i);
    }
    FM_LOGD("test", "FM-TEST-HIDDEN", "x=1");
    fm_log_init("unit", 2, FM_LOG_INFO, NULL);
    f = fdopen(fd, "r");
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (first) {
            /* 2026-11-25T01:02:03.456Z WARN unit[pid] test FM-TEST-FLOOD i=0 */
            assert_int_equal(strlen(line) > 24, 1);
            assert_true(line[10] == 'T' && line[23] == 'Z');
            assert_non_null(strstr(line, " WARN unit["));
            assert_non_null(strstr(line, "] test FM-TEST-FLOOD i=0"));
            first = 0;
        }
        assert_null(strstr(line, "FM-TEST-HIDDEN"));
        lines++;
    }
    fclose(f);
    unlink(path);
    /* 20 a second; a second boundary in the middle allows one more window and a report */
    assert_true(lines >= 20 && lines <= 41);
}

static int freed_values;

static void
count_free(void *v)
{
    freed_values++;
    free(v);
}

static void
test_map_free_values_frees_live_values_only(void **state)
{
    (void)state;
    fm_map m = {0};
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(fm_map_put(&m, k, strlen(k), malloc(8)), FM_OK);
    }
    free(fm_map_del(&m, "k7", 2)); /* a tombstone: not freed again */
    freed_values = 0;
    fm_map_free_values(&m, count_free);
    assert_int_equal(freed_values, 49);
    assert_null(m.slots);
    fm_map_free_values(&m, count_free); /* an empty map is fine */
    assert_int_equal(freed_values, 49);
}

static void
test_map_put_get_del_grow(void **state)
{
    (void)state;
    fm_map m = {0};
    char k[32];
    for (intptr_t i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key-%ld", (long)i);
        assert_int_equal(fm_map_put(&m, k, strlen(k), (void *)(i + 1)), FM_OK);
    }
    assert_int_equal(m.n, 1000);
    for (intptr_t i = 0; i < 1000; i += 2) {
        snprintf(k, sizeof(k), "key-%ld", (long)i);
        assert_true(fm_map_del(&m, k, strlen(k)) == (void *)(i + 1));
    }
    for (intptr_t i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key-%ld", (long)i);
        assert_true(fm_map_get(&m, k, strlen(k)) == (i % 2 ? (void *)(i + 1) : NULL));
    }
    assert_int_equal(m.n, 500);
    fm_map_free(&m);
}

/* Another process is refused while the lock is held (naming this pid), and gets it once the
 * lock is released; a process re-taking its own lock never deadlocks. */
static void
test_lockfile_excludes_other_processes(void **state)
{
    char dir[] = "/tmp/fmlock-XXXXXX", path[64];
    fm_lockfile lk, lk2;
    fm_errbuf eb;
    pid_t holder = -1, child;
    int st;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_equal(fm_lockfile_acquire(&lk, path, &holder, &eb), FM_OK);
    assert_int_equal(holder, 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pid_t h = 0;
        int rc = fm_lockfile_acquire(&lk2, path, &h, &eb);
        _exit(rc == FM_EBUSY && h == getppid() && strstr(eb.msg, "held by pid") != NULL ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fm_lockfile_release(&lk);
    fm_lockfile_release(&lk); /* twice is a no-op */
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(fm_lockfile_acquire(&lk2, path, NULL, &eb) == FM_OK ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_to_i64_limits_and_junk),
        cmocka_unit_test(test_i64_to_str_round_trips_the_limits),
        cmocka_unit_test(test_array_reserve_grows_by_doubling_and_keeps_items),
        cmocka_unit_test(test_buf_append_be_and_consume),
        cmocka_unit_test(test_slice_to_cstr_truncates),
        cmocka_unit_test(test_config_defaults_file_and_errors),
        cmocka_unit_test(test_config_text_parse_and_format),
        cmocka_unit_test(test_file_dup_append_and_close_from),
        cmocka_unit_test(test_errors_names_and_crc),
        cmocka_unit_test(test_clock_wall_deadline_normalised),
        cmocka_unit_test(test_log_line_format_and_rate_limit),
        cmocka_unit_test(test_map_put_get_del_grow),
        cmocka_unit_test(test_map_free_values_frees_live_values_only),
        cmocka_unit_test(test_lockfile_excludes_other_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
