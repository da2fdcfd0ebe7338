#include "common/limits.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

int
fm_limits_raise_nofile(uint64_t *now, fm_errbuf *eb)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        *now = 0;
        return fm_err_sys(eb, FM_EIO, errno, "getrlimit(RLIMIT_NOFILE)");
    }
    *now = (uint64_t)rl.rlim_cur;
    if (rl.rlim_cur >= rl.rlim_max) {
        return FM_OK;
    }
    {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
            return fm_err_sys(eb, FM_EIO, errno, "setrlimit(RLIMIT_NOFILE, %llu)",
                              (unsigned long long)rl.rlim_max);
        }
    }
    *now = (uint64_t)rl.rlim_max;
    return FM_OK;
}

int64_t
fm_limits_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long long v = -1;
    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%lld", &v) != 1) {
        v = -1;
    }
    fclose(f);
    return v;
}
