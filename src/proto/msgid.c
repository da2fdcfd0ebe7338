#include "proto/msgid.h"

#include <string.h>

size_t
fm_msgid_make(char out[FM_MSGID_MAX + 1], const uint8_t *host, size_t host_len, uint64_t offset)
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t raw[28];
    size_t n;
    if (host_len != 8 && host_len != 20) {
        out[0] = '\0';
        return 0;
    }
    memcpy(raw, host, host_len);
    fm_put_be64(raw + host_len, offset);
    n = host_len + 8;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static int
nib(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int
fm_msgid_parse(fm_slice hex, uint8_t *host, size_t *host_len, uint64_t *offset)
{
    uint8_t raw[28];
    size_t n;
    if (hex.len != 32 && hex.len != 56) {
        return FM_EINVAL;
    }
    n = hex.len / 2;
    for (size_t i = 0; i < n; i++) {
        int hi = nib(hex.ptr[2 * i]), lo = nib(hex.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return FM_EINVAL;
        }
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    *host_len = n - 8;
    memcpy(host, raw, *host_len);
    *offset = fm_be64(raw + *host_len);
    return FM_OK;
}
