/*
 * lockfile.h - one process per directory: an exclusive, advisory, whole-file lock held for the
 * life of the process.
 *
 * Why: two daemons on one store would both run recovery and both append to the commit log;
 * the second trims what the first has just acknowledged. The lock is taken before anything
 * else in the directory is read or written, and it is the kernel's (fcntl F_SETLK), so it
 * goes away with the process however it ends (kill -9 included): a stale lock file never
 * blocks a restart. The holder's pid comes from the kernel (F_GETLK), not from the file, so
 * the refusal names the real holder; the file also carries the pid for people reading it.
 *
 * Caveat of POSIX record locks: closing any descriptor of the lock file in this process drops
 * the lock, so nothing else may open it; fm_lockfile_release is the only close.
 *
 * Thread: any thread; a lock belongs to the whole process.
 */
#ifndef FM_COMMON_LOCKFILE_H
#define FM_COMMON_LOCKFILE_H

#include "common/errors.h"

#include <sys/types.h>

typedef struct fm_lockfile {
    int fd; /* -1 when not held */
    char path[400];
} fm_lockfile;

/**
 * Create path if absent and take the exclusive lock without waiting, then write this
 * process's pid into the file. On success lk holds the lock until fm_lockfile_release.
 * Returns FM_OK; FM_EBUSY when another live process holds it (*holder its pid, 0 if the
 * kernel could not say; eb names it); FM_EIO when the file cannot be created or locked.
 * holder may be NULL.
 */
int fm_lockfile_acquire(fm_lockfile *lk, const char *path, pid_t *holder, fm_errbuf *eb);

/** Drop the lock and close the file (the file stays: removing it would race a new holder).
 *  Safe on a lock that was never taken or was already released. */
void fm_lockfile_release(fm_lockfile *lk);

#endif
