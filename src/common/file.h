/*
 * file.h - durable files: what a crash or power cut may undo, and how to make it stick.
 * Thread: no shared state.
 */
#ifndef FM_COMMON_FILE_H
#define FM_COMMON_FILE_H

#include "common/errors.h"

#include <stddef.h>

/** fsync a directory, so that the names created, renamed or removed in it are durable: POSIX
 * promises nothing about a new name until its directory is synced. 0, or -1 with errno. */
int fm_file_fsync_dir(const char *dir);

/** fsync the directory holding path (path's last component is the name). 0 or -1 (errno). */
int fm_file_fsync_parent(const char *path);

/** Replace <dir>/<name> with len bytes of data: a crash leaves the old file or the new one,
 * never a mix. FM_OK; FM_EIO or FM_ENOSPC (eb names the step and the file). */
int fm_file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                         fm_errbuf *eb);

/** Append a close-on-exec dup of fd to the array *fds of *n (grown with fm_array_reserve), for
 * another thread to fsync the file however long its owner keeps it open. FM_OK, FM_ENOMEM,
 * FM_EIO (no descriptor left). */
int fm_file_dup_append(int fd, int **fds, size_t *n, size_t *cap);

/** Close fds[from..*n) and set *n = from: undo the appends since *n was from. */
void fm_file_close_from(int *fds, size_t *n, size_t from);

/**
 * The next stretch of [*from, end) of file fd that may hold a byte other than zero, as
 * [*from, *to): the file system's data extents (SEEK_DATA, SEEK_HOLE), so a caller checking a
 * preallocated or grown file for zeros never reads its holes. Each page of a hole read through
 * a shared mapping is allocated and zero-filled: checking a crashed store's 1 GiB segment that
 * way held a restart up for over 10 s on a VM whose fresh pages are slow, and scanning every
 * consume queue's 1 MiB tail made each queue cost 1 MiB resident. Where the file system cannot
 * tell (no SEEK_DATA), the whole rest is reported as data. Returns 0 when nothing is left.
 */
int fm_file_next_data(int fd, size_t *from, size_t *to, size_t end);

#endif
