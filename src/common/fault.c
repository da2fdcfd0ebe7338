#include "common/fault.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef FM_FAULT_POINTS
static atomic_long fault_calls;

int
fm_fault_check(const char *name)
{
    const char *spec = getenv("FM_FAULT");
    size_t n = strlen(name);
    const char *p;
    long after = 0, times = -1, k;
    const char *t;
    int err = EIO;
    if (spec == NULL || strncmp(spec, name, n) != 0 || (spec[n] != ':' && spec[n] != '\0')) {
        return 0;
    }
    p = spec + n;
    if (strncmp(p, ":ENOSPC", 7) == 0) {
        err = ENOSPC;
    }
    if ((t = strstr(p, "times=")) != NULL) {
        times = strtol(t + 6, NULL, 10);
    }
    if ((p = strstr(p, "after=")) != NULL) {
        after = strtol(p + 6, NULL, 10);
    }
    k = atomic_fetch_add(&fault_calls, 1);
    if (k < after || (times >= 0 && k >= after + times)) {
        return 0;
    }
    return err;
}
#else
typedef int fm_fault_unused;
#endif
