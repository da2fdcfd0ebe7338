/*
 * lockfile.c - exclusive per-directory process lock (see lockfile.h).
 */
#include "common/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
whole_file(struct flock *fl, short type)
{
    memset(fl, 0, sizeof(*fl));
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = 0;
    fl->l_len = 0;
}

int
fm_lockfile_acquire(fm_lockfile *lk, const char *path, pid_t *holder, fm_errbuf *eb)
{
    struct flock fl;
    char pid[32];
    int fd, n;

    lk->fd = -1;
    snprintf(lk->path, sizeof(lk->path), "%s", path);
    if (holder != NULL) {
        *holder = 0;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return fm_err_sys(eb, FM_EIO, errno, "cannot open lock file %s", path);
    }
    whole_file(&fl, F_WRLCK);
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int err = errno;
        pid_t who = 0;
        if (err == EACCES || err == EAGAIN) {
            whole_file(&fl, F_WRLCK);
            if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
                who = fl.l_pid;
            }
            close(fd);
            if (holder != NULL) {
                *holder = who;
            }
            return fm_err_set(eb, FM_EBUSY,
                              "%s is held by pid %d: another process uses this directory", path,
                              (int)who);
        }
        close(fd);
        return fm_err_sys(eb, FM_EIO, err, "cannot lock %s", path);
    }
    /* Informational only: the kernel's lock is the truth. */
    n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* A lock file we cannot write is still a lock; say nothing. */
    }
    lk->fd = fd;
    return FM_OK;
}

void
fm_lockfile_release(fm_lockfile *lk)
{
    if (lk == NULL || lk->fd < 0) {
        return;
    }
    close(lk->fd);
    lk->fd = -1;
}
