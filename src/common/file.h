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

#endif
