/*
 * buf.h - byte slices, growable buffers and big-endian field access.
 *
 * fm_slice is a borrowed, length-delimited view: it owns nothing and is never assumed to be
 * NUL-terminated (wire strings). fm_buf owns its bytes; grow it with fm_buf_reserve /
 * fm_buf_append, reset it with fm_buf_reset (keeps capacity, so a per-connection buffer costs no
 * allocation per message), release it with fm_buf_free.
 *
 * The fm_be_* helpers read and write RocketMQ's big-endian integers at unaligned addresses.
 *
 * Thread: an fm_buf belongs to one thread at a time; no locking here.
 */
#ifndef FM_COMMON_BUF_H
#define FM_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** Borrowed bytes; lifetime is that of whatever it points into. */
typedef struct fm_slice {
    const uint8_t *ptr;
    size_t len;
} fm_slice;

/** Owned, growable bytes. Zero-initialise ({0}) or fm_buf_init before use. */
typedef struct fm_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} fm_buf;

#define FM_SLICE_LIT(s) ((fm_slice){(const uint8_t *)(s), sizeof(s) - 1})

static inline fm_slice
fm_slice_make(const void *p, size_t n)
{
    fm_slice s = {(const uint8_t *)p, n};
    return s;
}

/** Slice of a NUL-terminated C string (borrowed). */
static inline fm_slice
fm_slice_cstr(const char *s)
{
    return fm_slice_make(s, s ? strlen(s) : 0);
}

static inline int
fm_slice_eq(fm_slice a, fm_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline int
fm_slice_eq_cstr(fm_slice a, const char *s)
{
    return fm_slice_eq(a, fm_slice_cstr(s));
}

/**
 * Copy a slice into dst (capacity cap) as a NUL-terminated string. Returns FM_OK, or FM_ETOOBIG
 * when it does not fit (dst then holds a truncated copy).
 */
int fm_slice_to_cstr(fm_slice s, char *dst, size_t cap);

/**
 * Parse a slice as a base-10 signed 64-bit integer (optional leading '-', no spaces).
 * Returns FM_OK or FM_EINVAL (empty, junk, overflow).
 */
int fm_slice_to_i64(fm_slice s, int64_t *out);

/** Write v in decimal into out (room for 21 bytes), NUL-terminated; returns the length. For
 * hot paths where snprintf's parsing of a format costs more than the number. */
size_t fm_i64_to_str(int64_t v, char *out);

/**
 * Make room in a growable array for `need` items of `elem` bytes: arrp is the address of the
 * array pointer (T **), *cap its capacity in items, doubled (from `first`) until it holds need.
 * FM_OK, or FM_ENOMEM with the array unchanged.
 */
int fm_array_reserve(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);

void fm_buf_init(fm_buf *b);

/** Release the bytes; the buffer becomes empty and reusable. NULL is a no-op. */
void fm_buf_free(fm_buf *b);

/** Make room for `extra` more bytes. Returns FM_OK or FM_ENOMEM (buffer unchanged). */
int fm_buf_reserve(fm_buf *b, size_t extra);

/** Append n bytes. Returns FM_OK or FM_ENOMEM (buffer unchanged). */
int fm_buf_append(fm_buf *b, const void *p, size_t n);

/** Append a printf-formatted string (no NUL kept in len). FM_OK or FM_ENOMEM. */
int fm_buf_appendf(fm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int fm_buf_append_u8(fm_buf *b, uint8_t v);
int fm_buf_append_be16(fm_buf *b, uint16_t v);
int fm_buf_append_be32(fm_buf *b, uint32_t v);
int fm_buf_append_be64(fm_buf *b, uint64_t v);

/** Drop the first n bytes (n <= len), moving the rest to the front. */
void fm_buf_consume(fm_buf *b, size_t n);

/** Empty the buffer, keeping its capacity. */
static inline void
fm_buf_reset(fm_buf *b)
{
    b->len = 0;
}

static inline fm_slice
fm_buf_slice(const fm_buf *b)
{
    return fm_slice_make(b->data, b->len);
}

static inline uint16_t
fm_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
fm_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
fm_be64(const uint8_t *p)
{
    return (uint64_t)fm_be32(p) << 32 | fm_be32(p + 4);
}

static inline void
fm_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
fm_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void
fm_put_be64(uint8_t *p, uint64_t v)
{
    fm_put_be32(p, (uint32_t)(v >> 32));
    fm_put_be32(p + 4, (uint32_t)v);
}

#endif
