#include "common/crc.h"

#include <zlib.h>

uint32_t
fm_crc32(const void *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *b = p;
    /* zlib takes uInt lengths; feed in chunks so bodies over 4 GiB can't wrap. */
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

uint32_t
fm_crc32_body(const void *p, size_t n)
{
    return fm_crc32(p, n) & 0x7FFFFFFFu;
}
