/*
 * fault.h - fault points for tests (style.md 3.10).
 *
 * FM_FAULT_POINT("store.fsync") evaluates to 0 normally. When the environment variable
 * FM_FAULT names that point (FM_FAULT="store.fsync:EIO" or "store.fsync:ENOSPC", optionally
 * ":after=N" to let N calls pass first and ":times=K" to fail only K times), it evaluates to
 * the errno to fail with, and the real
 * code path turns it into its ordinary error handling. This injects failures into the real
 * store; it is not a fake store. Compiled in only when FM_FAULT_POINTS is defined.
 *
 * Thread: any (the counter is atomic).
 */
#ifndef FM_COMMON_FAULT_H
#define FM_COMMON_FAULT_H

#ifdef FM_FAULT_POINTS
int fm_fault_check(const char *name);
#define FM_FAULT_POINT(name) fm_fault_check(name)
#else
#define FM_FAULT_POINT(name) 0
#endif

#endif
