#include "proto/msgid.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char hex[] = "0123456789ABCDEF";

size_t
fm_msgid_make(char out[FM_MSGID_MAX + 1], const uint8_t *host, size_t host_len, uint64_t offset)
{
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

void
fm_uniq_gen_init(fm_uniq_gen *g, const uint8_t ip[4], uint16_t pid, uint32_t salt)
{
    snprintf(g->fixed, sizeof(g->fixed), "%02X%02X%02X%02X%04X%08X", ip[0], ip[1], ip[2], ip[3],
             (unsigned)pid, (unsigned)salt);
    g->month_start_ms = 0;
    g->next_month_ms = 0;
    g->counter = 0;
}

/* Start of the UTC month containing t, and of the next one. */
static void
month_bounds(int64_t now_ms, int64_t *start, int64_t *next)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    *start = (int64_t)timegm(&tm) * 1000;
    tm.tm_mon += 1;
    *next = (int64_t)timegm(&tm) * 1000;
}

void
fm_uniq_next(fm_uniq_gen *g, int64_t now_ms, char out[33])
{
    uint32_t diff;
    if (now_ms >= g->next_month_ms || now_ms < g->month_start_ms) {
        month_bounds(now_ms, &g->month_start_ms, &g->next_month_ms);
    }
    diff = (uint32_t)(now_ms - g->month_start_ms);
    /* by hand: snprintf was the largest item of a producer sending one message at a time */
    memcpy(out, g->fixed, 20);
    for (int i = 0; i < 8; i++) {
        out[20 + i] = hex[(diff >> (28 - 4 * i)) & 15];
    }
    for (int i = 0; i < 4; i++) {
        out[28 + i] = hex[(g->counter >> (12 - 4 * i)) & 15];
    }
    out[32] = '\0';
    g->counter++;
}
