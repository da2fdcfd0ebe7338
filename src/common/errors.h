/*
 * errors.h - FerryMQ's error codes and the caller-owned error buffer.
 *
 * Functions that can fail return int: FM_OK (0) on success, a negative FM_E* code on failure.
 * Functions returning a count return ssize_t, negative meaning an FM_E* error. Detail (a
 * readable message and the errno, if any) travels in an optional trailing `fm_errbuf *eb`
 * that the caller owns; it is never allocated, and NULL is always allowed.
 *
 * Thread: everything here is safe from any thread (no shared state).
 */
#ifndef FM_COMMON_ERRORS_H
#define FM_COMMON_ERRORS_H

#include <stddef.h>

enum fm_err_pos {
#define FM_ERR(name, text, code) FM_POS_##name,
#include "common/errors.def"
#undef FM_ERR
    FM_POS__COUNT
};

/* Error codes: FM_OK == 0, failures negative. */
enum fm_err {
#define FM_ERR(name, text, code) FM_##name = -(int)FM_POS_##name,
#include "common/errors.def"
#undef FM_ERR
};

/** Error detail, owned by the caller (usually on its stack). msg is always NUL-terminated. */
typedef struct fm_errbuf {
    int code;      /* the FM_E* code last set */
    int sys_errno; /* errno at the failure, 0 if none */
    char msg[256]; /* readable message */
} fm_errbuf;

/** Short static text for an error code ("invalid argument"); never NULL. */
const char *fm_strerror(int err);

/** Stable name of an error code ("FM_EINVAL"); never NULL. */
const char *fm_errname(int err);

/** The RocketMQ response code a client gets for this error by default (e.g. 1 SYSTEM_ERROR). */
int fm_err_rmq_code(int err);

/**
 * Fill eb (if not NULL) with code, errno 0 and a printf-formatted message; returns err so the
 * caller can write `return fm_err_set(eb, FM_EINVAL, "bad size %d", n);`.
 */
int fm_err_set(fm_errbuf *eb, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** As fm_err_set, also recording errno and appending strerror(errno) to the message. */
int fm_err_sys(fm_errbuf *eb, int err, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Clear eb (if not NULL) to code FM_OK and an empty message. */
void fm_err_clear(fm_errbuf *eb);

#endif
