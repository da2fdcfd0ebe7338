/*
 * offset translation (src/repl/xlate.c): the examples of docs/failover.md, and a
 * property test: random interleavings of local writes, copies of this and of another source
 * queue, filtered source offsets, copies landing late, resumes and a small run ring, each
 * translation checked against a brute-force scan of the simulated target queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/errors.h"
#include "repl/xlate.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t
xl(fm_repl_xmap *m, int64_t c, int *exact)
{
    int64_t t = -2;
    assert_int_equal(fm_repl_xmap_translate(m, c, &t, exact), FM_OK);
    return t;
}

static void
test_examples(void **state)
{
    fm_repl_xmap *m;
    int exact;
    int64_t t;
    (void)state;
    assert_int_equal(fm_repl_xmap_new(0, &m), FM_EINVAL);
    assert_int_equal(fm_repl_xmap_new(8, &m), FM_OK);
    assert_int_equal(fm_repl_xmap_translate(m, 0, &t, &exact), FM_ENOTFOUND);
    assert_int_equal(t, -1);

    /* source 10.. copied to a target that already holds 100 messages */
    fm_repl_xmap_begin(m, 10, 100);
    assert_int_equal(xl(m, 10, &exact), 100);
    assert_int_equal(exact, 0); /* nothing landed yet: the replicated end */
    fm_repl_xmap_add(m, 10, 100);
    fm_repl_xmap_add(m, 11, 101);
    fm_repl_xmap_add(m, 13, 102); /* 12 filtered */
    fm_repl_xmap_add(m, 14, 105); /* two local writes on the target */
    assert_int_equal(fm_repl_xmap_runs(m), 3);
    assert_int_equal(xl(m, 10, &exact), 100);
    assert_int_equal(exact, 1);
    assert_int_equal(xl(m, 11, &exact), 101);
    assert_int_equal(xl(m, 12, &exact), 102); /* the first copy >= 12 is 13's */
    assert_int_equal(xl(m, 14, &exact), 105);
    assert_int_equal(xl(m, 15, &exact), 106); /* consumed everything: the end */
    assert_int_equal(exact, 0);
    assert_int_equal(fm_repl_xmap_translate(m, 9, &t, &exact), FM_ENOTFOUND);
    assert_int_equal(t, 100);

    /* a gap filled late (12 lands after 14) changes no answer but the end */
    fm_repl_xmap_add(m, 12, 106);
    assert_int_equal(xl(m, 12, &exact), 102);
    assert_int_equal(xl(m, 15, &exact), 107);

    /* a resume from 13 drops the runs it will find again */
    fm_repl_xmap_begin(m, 13, 0);
    assert_int_equal(fm_repl_xmap_runs(m), 1);
    assert_int_equal(xl(m, 12, &exact), 107);
    fm_repl_xmap_add(m, 13, 102);
    fm_repl_xmap_add(m, 14, 105);
    assert_int_equal(xl(m, 12, &exact), 102);
    assert_int_equal(xl(m, 10, &exact), 100);

    /* another target queue: nothing of the old one answers */
    fm_repl_xmap_reset(m);
    assert_int_equal(fm_repl_xmap_translate(m, 12, &t, &exact), FM_ENOTFOUND);
    assert_int_equal(t, -1);
    assert_int_equal(fm_repl_xmap_runs(m), 0);
    fm_repl_xmap_free(m);
    fm_repl_xmap_free(NULL);
}

static void
test_ring_drops_the_oldest_runs(void **state)
{
    fm_repl_xmap *m;
    int exact;
    int64_t t;
    (void)state;
    assert_int_equal(fm_repl_xmap_new(2, &m), FM_OK);
    fm_repl_xmap_begin(m, 0, 0);
    fm_repl_xmap_add(m, 0, 0);
    fm_repl_xmap_add(m, 1, 1);
    fm_repl_xmap_add(m, 2, 5);
    fm_repl_xmap_add(m, 3, 9); /* third run: the first (0..1) goes */
    assert_int_equal(fm_repl_xmap_runs(m), 2);
    assert_int_equal(fm_repl_xmap_covered_from(m), 2);
    assert_int_equal(fm_repl_xmap_translate(m, 1, &t, &exact), FM_ENOTFOUND);
    assert_int_equal(t, 5); /* the answer lies at or before the history's first copy */
    assert_int_equal(xl(m, 2, &exact), 5);
    assert_int_equal(xl(m, 3, &exact), 9);
    fm_repl_xmap_free(m);
}

/* ---- property test ---- */

enum { OURS = 1, LOCAL = 2, OTHER = 3 };

typedef struct {
    int kind;
    int64_t src;
} tslot;

/* First position with one of our copies >= c, else one past our last copy, else end0. */
static int64_t
brute(const tslot *q, size_t n, int64_t c, int64_t end0, int *exact)
{
    int64_t last = -1;
    for (size_t i = 0; i < n; i++) {
        if (q[i].kind == OURS) {
            if (q[i].src >= c) {
                *exact = 1;
                return (int64_t)i;
            }
            last = (int64_t)i;
        }
    }
    *exact = 0;
    return last >= 0 ? last + 1 : end0;
}

static void
test_random_interleavings_match_a_brute_force_scan(void **state)
{
    (void)state;
    unsigned seed = 20261201;
    for (int round = 0; round < 300; round++) {
        size_t cap = 1 + (size_t)(rand_r(&seed) % 40);
        size_t nq = 0, maxq = 2000;
        tslot *q = calloc(maxq, sizeof(*q));
        int64_t pending[8];
        size_t n_pending = 0;
        fm_repl_xmap *m;
        int64_t src = 0, start = rand_r(&seed) % 5, end0;
        assert_int_equal(fm_repl_xmap_new(cap, &m), FM_OK);
        /* a target that already holds some messages */
        for (int i = rand_r(&seed) % 4; i > 0; i--) {
            q[nq++].kind = LOCAL;
        }
        end0 = (int64_t)nq;
        src = start;
        fm_repl_xmap_begin(m, start, end0);
        while (nq < maxq - 16 && src < 600) {
            int r = rand_r(&seed) % 100;
            if (r < 45) { /* a copy lands, or is held back to land late */
                if (rand_r(&seed) % 20 == 0 && n_pending < 8) {
                    pending[n_pending++] = src++;
                } else {
                    q[nq] = (tslot){OURS, src++};
                    fm_repl_xmap_add(m, src - 1, (int64_t)nq++);
                }
            } else if (r < 55) {
                src++; /* filtered: never copied */
            } else if (r < 75) {
                q[nq++].kind = LOCAL;
            } else if (r < 85) {
                q[nq++] = (tslot){OTHER, rand_r(&seed) % 600};
            } else if (r < 95 && n_pending > 0) {
                /* a late copy lands behind later ones */
                size_t k = (size_t)rand_r(&seed) % n_pending;
                q[nq] = (tslot){OURS, pending[k]};
                fm_repl_xmap_add(m, pending[k], (int64_t)nq++);
                pending[k] = pending[--n_pending];
            } else if (rand_r(&seed) % 4 == 0) {
                /* a resume: from the first copy found after some point, or where the pipe is */
                int64_t from = src;
                for (size_t i = (size_t)rand_r(&seed) % (nq + 1); i < nq; i++) {
                    if (q[i].kind == OURS && q[i].src < from) {
                        from = q[i].src;
                    }
                }
                for (size_t i = 0; i < n_pending; i++) {
                    from = pending[i] < from ? pending[i] : from;
                }
                fm_repl_xmap_begin(m, from, (int64_t)nq);
                int any = 0;
                for (size_t i = 0; i < nq; i++) {
                    any |= q[i].kind == OURS;
                }
                end0 = any ? end0 : (int64_t)nq;
                /* the pipe passes over the copies from there again, in target order */
                for (size_t i = 0; i < nq; i++) {
                    if (q[i].kind == OURS && q[i].src >= from) {
                        fm_repl_xmap_add(m, q[i].src, (int64_t)i);
                    }
                }
            }
            /* now and then: every committed offset the consumer could hold now */
            if (rand_r(&seed) % 8 != 0) {
                continue;
            }
            for (int64_t c = start; c <= src; c++) {
                int64_t got, want;
                int ge, we;
                int rc = fm_repl_xmap_translate(m, c, &got, &ge);
                want = brute(q, nq, c, end0, &we);
                if (rc == FM_ENOTFOUND) {
                    assert_true(c < fm_repl_xmap_covered_from(m));
                    assert_true(want <= got); /* the scan starts below the history */
                    continue;
                }
                assert_int_equal(rc, FM_OK);
                if (got != want || ge != we) {
                    for (int64_t i = want - 6 > 0 ? want - 6 : 0; i < (int64_t)nq && i < got + 3;
                         i++) {
                        fprintf(stderr, "  q[%lld] kind %d src %lld\n", (long long)i, q[i].kind,
                                (long long)q[i].src);
                    }
                    fail_msg("round %d c=%lld: got %lld (exact %d), brute force %lld (exact %d)",
                             round, (long long)c, (long long)got, ge, (long long)want, we);
                }
            }
        }
        fm_repl_xmap_free(m);
        free(q);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_ring_drops_the_oldest_runs),
        cmocka_unit_test(test_random_interleavings_match_a_brute_force_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
