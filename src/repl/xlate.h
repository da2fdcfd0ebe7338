/*
 * xlate.h - where a consumer offset of a source queue lands on the target: the exact
 * translation behind progress sync and failover (docs/failover.md).
 *
 * The translation of a committed source offset C is the target offset of the first copy, in
 * the target queue's order, whose source offset is >= C: a consumer started there on the
 * target reads every message it had not consumed on the source, and again only those copies
 * of messages it had consumed that landed after it (the rare gap filled at a resume). When no
 * copy >= C has landed yet it is the queue's replicated end (just after the last copy): the
 * copies still to come land after it.
 *
 * An xmap is the history of one source queue's copies in the order they landed, kept as runs
 * (a run maps src..src+n-1 to tgt..tgt+n-1 exactly), at most max_runs of them: the oldest go
 * first, and what they covered is then "before the history" (the caller scans the target).
 * Only copies that advance both the source and the target offset join a run; a copy landing
 * late (a gap filled at a resume, behind later copies) is only counted for the replicated end.
 * The answer stays exact with them: a late copy's source offset is below that of a copy
 * landed before it, so no late copy precedes the first run copy >= C with a source offset >= C.
 *
 * Ownership: fm_repl_xmap_new allocates, fm_repl_xmap_free releases. Thread: none inside; the
 * pipe calls it under its mutex.
 */
#ifndef FM_REPL_XLATE_H
#define FM_REPL_XLATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_repl_xmap fm_repl_xmap;

/** An empty history of at most max_runs runs (>= 1). FM_OK or FM_ENOMEM; *out is the
 * caller's (fm_repl_xmap_free). */
int fm_repl_xmap_new(size_t max_runs, fm_repl_xmap **out);

/** NULL is a no-op. */
void fm_repl_xmap_free(fm_repl_xmap *m);

/**
 * Start (or restart, after a resume) the history: every source offset below src_from was
 * copied or is not to be copied; tgt_end is the replicated end while no copy is known (the
 * target queue's end when the pipe found none of its copies there). Runs kept from before stay when
 * they end below src_from.
 */
void fm_repl_xmap_begin(fm_repl_xmap *m, int64_t src_from, int64_t tgt_end);

/** Forget everything (the pipe now copies into another target queue). */
void fm_repl_xmap_reset(fm_repl_xmap *m);

/** The copy of source offset src landed at target offset tgt (in landing order). */
void fm_repl_xmap_add(fm_repl_xmap *m, int64_t src, int64_t tgt);

/**
 * Translate committed source offset c. FM_OK with *tgt, and *exact 1 when *tgt is the first
 * copy with a source offset >= c, 0 when it is the replicated end (no such copy yet);
 * FM_ENOTFOUND when c is older than the history (or nothing was begun): the answer lies at or
 * before *tgt (the history's first copy, or -1 when there is none), to be found by a scan.
 */
int fm_repl_xmap_translate(const fm_repl_xmap *m, int64_t c, int64_t *tgt, int *exact);

/** The oldest source offset the history answers for (-1 before fm_repl_xmap_begin). */
int64_t fm_repl_xmap_covered_from(const fm_repl_xmap *m);

/** Runs held now (for status and tests). */
size_t fm_repl_xmap_runs(const fm_repl_xmap *m);

#endif
