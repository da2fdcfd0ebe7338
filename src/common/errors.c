#include "common/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_text[] = {
#define FM_ERR(name, text, code) text,
#include "common/errors.def"
#undef FM_ERR
};

static const char *const err_name[] = {
#define FM_ERR(name, text, code) "FM_" #name,
#include "common/errors.def"
#undef FM_ERR
};

static const int err_code[] = {
#define FM_ERR(name, text, code) code,
#include "common/errors.def"
#undef FM_ERR
};

static int
pos_of(int err)
{
    int pos = -err;
    if (pos < 0 || pos >= FM_POS__COUNT) {
        return -1;
    }
    return pos;
}

const char *
fm_strerror(int err)
{
    int pos = pos_of(err);
    return pos < 0 ? "unknown error" : err_text[pos];
}

const char *
fm_errname(int err)
{
    int pos = pos_of(err);
    return pos < 0 ? "FM_EUNKNOWN" : err_name[pos];
}

int
fm_err_rmq_code(int err)
{
    int pos = pos_of(err);
    return pos < 0 ? 1 : err_code[pos];
}

int
fm_err_set(fm_errbuf *eb, int err, const char *fmt, ...)
{
    if (eb != NULL) {
        va_list ap;
        eb->code = err;
        eb->sys_errno = 0;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
        va_end(ap);
    }
    return err;
}

int
fm_err_sys(fm_errbuf *eb, int err, int sys_errno, const char *fmt, ...)
{
    if (eb != NULL) {
        va_list ap;
        size_t n;
        eb->code = err;
        eb->sys_errno = sys_errno;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
        va_end(ap);
        n = strlen(eb->msg);
        if (n < sizeof(eb->msg)) {
            snprintf(eb->msg + n, sizeof(eb->msg) - n, ": %s", strerror(sys_errno));
        }
    }
    return err;
}

void
fm_err_clear(fm_errbuf *eb)
{
    if (eb != NULL) {
        eb->code = 0;
        eb->sys_errno = 0;
        eb->msg[0] = '\0';
    }
}
