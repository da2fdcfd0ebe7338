#include "common/crc.h"

#include <isa-l/crc.h>

uint32_t
fm_crc32(const void *p, size_t n)
{
    /* ISA-L's folding (PCLMULQDQ) CRC of the gzip/zlib polynomial: the same value as zlib's
     * crc32, 17-22x faster on message bodies (141 -> 8 ns at 128 B, 417 -> 19 ns at 1 KiB on
     * the bench machine); it was a quarter of the broker's time when taking 1 KiB copies. */
    return crc32_gzip_refl(0, p, (uint64_t)n);
}

uint32_t
fm_crc32_body(const void *p, size_t n)
{
    return fm_crc32(p, n) & 0x7FFFFFFFu;
}
