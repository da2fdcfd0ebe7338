/* libFuzzer target: the HTTP query string parser (src/http/http.c, fm_http_query_get). Input:
 * a raw query string (up to its first NUL). What must hold: no crash, no read past the string
 * or write past the output; an accepted value is NUL-terminated within the buffer, holds no
 * NUL byte of its own, and is never longer than the raw text. */
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"id", "topic", "key", "a", ""};
    char *q = malloc(size + 1);
    if (q == NULL) {
        return 0;
    }
    memcpy(q, data, size);
    q[size] = '\0';
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        char out[64];
        if (fm_http_query_get(q, keys[k], out, sizeof(out)) == FM_OK) {
            size_t n = strnlen(out, sizeof(out));
            if (n == sizeof(out) || n > strlen(q)) {
                abort();
            }
        }
    }
    free(q);
    return 0;
}
