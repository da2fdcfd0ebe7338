/*
 * libFuzzer target: the SQL92 and tag filter compilers and the evaluator. Input: one byte
 * choosing the expression type (odd = TAG), the expression, a NUL, then a property string
 * the compiled expression is evaluated against (with a few fixed ones besides).
 */
#include "filter/filter.h"
#include "proto/props.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fixed[][48] = {
        "",
        "a\0011\002b\002x\002",
        "region\001b\002amount\001150\002",
        "TAGS\001A\002a\001NaN\002c\001-2147483648\002",
    };
    fm_filter *f;
    const uint8_t *nul;
    size_t elen;
    fm_errbuf eb;
    if (size < 1) {
        return 0;
    }
    fm_filter_type type = (data[0] & 1) ? FM_FILTER_TAG : FM_FILTER_SQL92;
    data++;
    size--;
    nul = memchr(data, '\0', size);
    elen = nul ? (size_t)(nul - data) : size;
    if (fm_filter_compile(type, (const char *)data, elen, &f, &eb) != FM_OK) {
        return 0;
    }
    if (nul != NULL) {
        fm_slice props = fm_slice_make(nul + 1, size - elen - 1);
        (void)fm_filter_eval(f, props, &eb);
        (void)fm_filter_match_hash(f, fm_props_get(props, "TAGS").len);
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        (void)fm_filter_match_props(f, fm_slice_cstr(fixed[i]));
    }
    fm_filter_unref(f);
    return 0;
}
