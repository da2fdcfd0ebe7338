/* libFuzzer target: broker.conf parsing (fm_config_load_file) over the daemon's real table. */
#include "common/config.h"
#include "daemon/settings.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_daemon_settings s;
    fm_errbuf eb;
    char path[64];
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0) {
        return 0;
    }
    if (write(fd, data, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        fm_config_defaults(fm_daemon_opts, fm_daemon_n_opts, &s, &eb);
        fm_config_load_file(fm_daemon_opts, fm_daemon_n_opts, &s, path, &eb);
    }
    close(fd);
    return 0;
}
