/*
 * limits.h - the per-process limits a broker with many queues runs into, raised where the
 * process may raise them itself.
 *
 * Every consume queue keeps its file open and mapped, and so does every commit log segment:
 * a broker holds one descriptor and one mapping per queue, plus one per connection. The soft
 * open-files limit is often 1024 (a systemd service's default), which a broker passes at about
 * 125 topics of 8 queues; the hard limit is there for a process to raise its soft one to, and
 * it is what the kernel lets us use without privileges. The mapping count (vm.max_map_count,
 * 65530 by default) is the host's; only its value is reported.
 *
 * Thread: main thread, at start.
 */
#ifndef FM_COMMON_LIMITS_H
#define FM_COMMON_LIMITS_H

#include "common/errors.h"

#include <stdint.h>

/**
 * Raise the soft open-files limit to the hard one. *now = the soft limit afterwards (also when
 * it was already the hard one). FM_OK, or FM_EIO with errno's text when the kernel refuses (a
 * hard limit above fs.nr_open); the limit is then left as it was.
 */
int fm_limits_raise_nofile(uint64_t *now, fm_errbuf *eb);

/** vm.max_map_count, the most mappings a process may hold; -1 when it cannot be read. */
int64_t fm_limits_max_map_count(void);

#endif
