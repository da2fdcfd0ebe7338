/*
 * file.c - files that must survive a crash or a power cut: fsync of directories and atomic
 * replacement (temp file, fsync, rename, fsync of the directory). The store's metadata and
 * checkpoint and the replicator's task files use it. Fault points keep their store.* names.
 */
#include "common/file.h"

#include "common/buf.h"
#include "common/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
fm_file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0, e = 0, fault;
    if (fd < 0) {
        return -1;
    }
    fault = FM_FAULT_POINT("store.fsync_dir");
    if (fault != 0 || fsync(fd) != 0) {
        e = fault != 0 ? fault : errno;
        rc = -1;
    }
    close(fd);
    errno = e;
    return rc;
}

int
fm_file_fsync_parent(const char *path)
{
    char dir[512];
    char *slash;
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        return fm_file_fsync_dir(".");
    }
    if (slash == dir) {
        return fm_file_fsync_dir("/");
    }
    *slash = '\0';
    return fm_file_fsync_dir(dir);
}

int
fm_file_write_atomic(const char *dir, const char *name, const void *data, size_t len, fm_errbuf *eb)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    const uint8_t *p = data;
    int fd;
    if (snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp) ||
        snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
        return fm_err_set(eb, FM_EIO, "path too long: %s/%s", dir, name);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return fm_err_sys(eb, FM_EIO, errno, "open %s", tmp);
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            int e = errno;
            if (e == EINTR) {
                continue;
            }
            close(fd);
            unlink(tmp);
            return fm_err_sys(eb, e == ENOSPC ? FM_ENOSPC : FM_EIO, e, "write %s", tmp);
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return fm_err_sys(eb, FM_EIO, e, "fsync %s", tmp);
    }
    close(fd);
    if (rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return fm_err_sys(eb, FM_EIO, e, "rename %s", tmp);
    }
    /* Until the directory is synced, the rename may come undone at a power loss. */
    if (fm_file_fsync_dir(dir) != 0) {
        return fm_err_sys(eb, FM_EIO, errno, "fsync %s", dir);
    }
    return FM_OK;
}

int
fm_file_dup_append(int fd, int **fds, size_t *n, size_t *cap)
{
    int d;
    if (fm_array_reserve(fds, cap, *n + 1, sizeof(int), 16) != FM_OK) {
        return FM_ENOMEM;
    }
    if ((d = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        return FM_EIO;
    }
    (*fds)[(*n)++] = d;
    return FM_OK;
}

void
fm_file_close_from(int *fds, size_t *n, size_t from)
{
    while (*n > from) {
        close(fds[--*n]);
    }
}

int
fm_file_next_data(int fd, size_t *from, size_t *to, size_t end)
{
    off_t d, h;
    if (*from >= end) {
        return 0;
    }
    d = lseek(fd, (off_t)*from, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO) {
            return 0; /* only a hole from here to the end of the file */
        }
        *to = end; /* cannot tell: read it all */
        return 1;
    }
    if ((uint64_t)d >= end) {
        return 0;
    }
    h = lseek(fd, d, SEEK_HOLE);
    *from = (size_t)d;
    *to = h < 0 || (uint64_t)h > end ? end : (size_t)h;
    return 1;
}
