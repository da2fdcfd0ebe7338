/*
 * xlate.c - the copy history of one source queue and the exact offset translation.
 *
 * Runs sit in a ring, oldest first; both their source and their target offsets rise along
 * it, so a translation is a binary search. A history of max_runs runs costs 24 bytes a run,
 * allocated once: the pipe feeds it on every copy, so nothing is allocated per message.
 */
#include "repl/xlate.h"

#include "common/errors.h"

#include <stdlib.h>

typedef struct xrun {
    int64_t src, tgt, n; /* src..src+n-1 landed at tgt..tgt+n-1 */
} xrun;

struct fm_repl_xmap {
    xrun *ring;
    size_t cap, head, len; /* runs ring[head .. head+len) mod cap, oldest first */
    int64_t covered_from;  /* every source offset from here on is in the runs or not copied */
    int64_t end;           /* one past the highest target offset of any copy, -1: none yet */
    int64_t end0;          /* the replicated end while no copy is known: begin's tgt_end */
    int64_t hi_src;        /* highest source offset in a run (-1: none) */
};

int
fm_repl_xmap_new(size_t max_runs, fm_repl_xmap **out)
{
    fm_repl_xmap *m = calloc(1, sizeof(*m));
    if (m == NULL || max_runs == 0 || (m->ring = calloc(max_runs, sizeof(xrun))) == NULL) {
        free(m);
        return max_runs == 0 ? FM_EINVAL : FM_ENOMEM;
    }
    m->cap = max_runs;
    fm_repl_xmap_reset(m);
    *out = m;
    return FM_OK;
}

void
fm_repl_xmap_reset(fm_repl_xmap *m)
{
    m->head = m->len = 0;
    m->covered_from = m->end = m->end0 = m->hi_src = -1;
}

void
fm_repl_xmap_free(fm_repl_xmap *m)
{
    if (m != NULL) {
        free(m->ring);
        free(m);
    }
}

static xrun *
run_at(const fm_repl_xmap *m, size_t i)
{
    return &m->ring[(m->head + i) % m->cap];
}

void
fm_repl_xmap_begin(fm_repl_xmap *m, int64_t src_from, int64_t tgt_end)
{
    /* What runs from before a resume hold below src_from stays; the rest is found again as
     * the pipe passes over those copies once more. */
    while (m->len > 0) {
        xrun *last = run_at(m, m->len - 1);
        if (last->src + last->n <= src_from) {
            break;
        }
        if (last->src < src_from) {
            last->n = src_from - last->src; /* its head stays */
            break;
        }
        m->len--;
    }
    if (m->len == 0) {
        m->covered_from = src_from;
        m->hi_src = -1;
    } else {
        xrun *last = run_at(m, m->len - 1);
        m->hi_src = last->src + last->n - 1;
    }
    m->end0 = tgt_end;
}

void
fm_repl_xmap_add(fm_repl_xmap *m, int64_t src, int64_t tgt)
{
    xrun *last = m->len > 0 ? run_at(m, m->len - 1) : NULL;
    if (m->covered_from < 0) {
        return; /* not begun: nothing it could answer for */
    }
    if (tgt + 1 > m->end) {
        m->end = tgt + 1;
    }
    if (src < m->covered_from || src <= m->hi_src ||
        (last != NULL && tgt <= last->tgt + last->n - 1)) {
        return; /* a late copy (or one seen again): counted for the end only */
    }
    m->hi_src = src;
    if (last != NULL && src == last->src + last->n && tgt == last->tgt + last->n) {
        last->n++;
        return;
    }
    if (m->len == m->cap) {
        /* the oldest run goes: what it covered is now before the history */
        xrun *old = run_at(m, 0);
        m->covered_from = old->src + old->n;
        m->head = (m->head + 1) % m->cap;
        m->len--;
    }
    last = run_at(m, m->len++);
    last->src = src;
    last->tgt = tgt;
    last->n = 1;
}

int
fm_repl_xmap_translate(const fm_repl_xmap *m, int64_t c, int64_t *tgt, int *exact)
{
    size_t lo = 0, hi = m->len;
    if (m->covered_from < 0 || c < m->covered_from) {
        *tgt = m->len > 0            ? run_at(m, 0)->tgt
               : m->covered_from < 0 ? -1
               : m->end >= 0         ? m->end
                                     : m->end0;
        *exact = 0;
        return FM_ENOTFOUND;
    }
    /* the first run whose last source offset is >= c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const xrun *r = run_at(m, mid);
        if (r->src + r->n - 1 < c) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == m->len) {
        *tgt = m->end >= 0 ? m->end : m->end0;
        *exact = 0;
        return FM_OK;
    }
    const xrun *r = run_at(m, lo);
    *tgt = c <= r->src ? r->tgt : r->tgt + (c - r->src);
    *exact = 1;
    return FM_OK;
}

int64_t
fm_repl_xmap_covered_from(const fm_repl_xmap *m)
{
    return m->covered_from;
}

size_t
fm_repl_xmap_runs(const fm_repl_xmap *m)
{
    return m->len;
}
