/* libFuzzer target: the ferrymq tool's option parser (src/cli/args.c) and its body encoders
 * (src/cli/text.c). The CLI is not part of the fuzz library, so its two files are compiled in
 * here. Input: NUL-separated words (the first byte picks the command table); then the whole
 * input as a message body. */
#include "cli/args.c"
#include "cli/text.c"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cli_opt opts[] = {{"topic", 't', 1}, {"count", 'c', 1}, {"json", 300, 0},
                               {"all", 301, 0},   {"tag", 'T', 1},   {NULL, 0, 0}};
static const cli_cmd cmds[] = {
    {"a", "a", NULL, opts, 0, 0},
    {"b", "b", NULL, opts, 1, 1},
    {"c", "c", NULL, opts, 0, -1},
    {"d", "d", NULL, NULL, 0, 2},
};

static FILE *sink;

static void
check_body(const uint8_t *data, size_t size)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (f == NULL) {
        return;
    }
    if (cli_utf8_valid(data, size)) {
        cJSON *s;
        cli_json_string(f, data, size);
        fclose(f);
        /* what the encoder promises: one JSON string that decodes to the body (cJSON stops
         * at an escaped NUL, so compare only bodies without one) */
        s = cJSON_ParseWithLength(mem, len);
        if (s == NULL || !cJSON_IsString(s)) {
            __builtin_trap();
        }
        if (memchr(data, 0, size) == NULL &&
            (strlen(s->valuestring) != size || memcmp(s->valuestring, data, size) != 0)) {
            __builtin_trap();
        }
        cJSON_Delete(s);
    } else {
        fclose(f);
    }
    free(mem);
    mem = NULL;
    f = open_memstream(&mem, &len);
    if (f == NULL) {
        return;
    }
    cli_base64(f, data, size);
    fclose(f);
    if (len != 2 + (size + 2) / 3 * 4) {
        __builtin_trap();
    }
    free(mem);
    mem = NULL;
    f = open_memstream(&mem, &len);
    if (f == NULL) {
        return;
    }
    cli_human_escape(f, data, size);
    fclose(f);
    /* nothing a terminal acts on gets through: no C0 control, no DEL, no ESC */
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)mem[i] < 0x20 || mem[i] == 0x7f) {
            __builtin_trap();
        }
    }
    free(mem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy, *argv[64];
    int argc = 0, k, n_pos;
    cli_args a;
    const char *val;
    if (size == 0 || size > 4096) {
        return 0;
    }
    if (sink == NULL) {
        sink = fopen("/dev/null", "w");
    }
    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    for (char *p = copy; p < copy + size - 1 && argc < 64; p += strlen(p) + 1) {
        argv[argc++] = p;
    }
    cli_args_init(&a, &cmds[data[0] % 4], argc, argv);
    while ((k = cli_args_next(&a, &val)) > 0) {
        const cli_opt *o = NULL;
        for (const cli_opt *x = opts; x->name != NULL; x++) {
            o = x->key == k ? x : o;
        }
        /* a returned key is in the table, with a value exactly when it takes one */
        if (o == NULL || (o->has_arg != (val != NULL))) {
            __builtin_trap();
        }
    }
    n_pos = a.n_pos;
    if (k == CLI_ARGS_END &&
        (n_pos < a.cmd->min_args || (a.cmd->max_args >= 0 && n_pos > a.cmd->max_args))) {
        __builtin_trap();
    }
    (void)cli_namesrv_valid(copy);
    free(copy);
    check_body(data, size);
    return 0;
}
