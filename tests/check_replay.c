/*
 * tests/check_replay.c -- the CV-stratified replay buffer (runtime/replay.c,
 * man tempera-train(5)): binning of the CV box (edges and outside points), per-cell
 * capacity and FIFO eviction within a cell, draws uniform over non-empty
 * cells (in standard errors), determinism in (seed, stream), state round
 * trips that resume draws exactly, and argument errors with messages.
 */
#include "check_util.h"
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tp_replay *rb1(int32_t sites, int32_t bins, int64_t size) {
    double lo = -1, hi = 1;
    tp_replay *rb = tp_replay_init(sites, 1, &lo, &hi, bins, size);
    ck_assert_msg(rb != NULL, "%s", tp_last_error());
    return rb;
}

START_TEST(test_replay_cells) {
    tp_replay *rb = rb1(3, 8, 1024);
    double s[] = { -1.0, -0.76, -0.74, 0.0, 0.999, 1.0, 5.0, -7.0 };
    int64_t want[] = { 0, 0, 1, 4, 7, 7, 7, 0 };
    for (int i = 0; i < 8; i++) ck_assert_int_eq(tp_replay_cell(rb, &s[i]), want[i]);
    ck_assert_int_eq(tp_replay_cell_capacity(rb), 128);
    tp_replay_free(rb);
    /* 2-D: last dimension fastest */
    double lo[2] = { 0, 0 }, hi[2] = { 1, 2 };
    tp_replay *r2 = tp_replay_init(4, 2, lo, hi, 4, 64);
    ck_assert(r2 != NULL);
    double p[2] = { 0.3, 1.9 };   /* bins (1, 3) */
    ck_assert_int_eq(tp_replay_cell(r2, p), 1 * 4 + 3);
    ck_assert_int_eq(tp_replay_cell_capacity(r2), 4);
    tp_replay_free(r2);
    tp_replay_free(NULL);
}
END_TEST

START_TEST(test_replay_fifo_within_cell) {
    /* 2 bins, size 4: cap 2 per cell; cell 0 gets tokens 1,2,3 -> keeps 2,3 */
    tp_replay *rb = rb1(2, 2, 4);
    uint8_t x[8] = { 1, 1, 2, 2, 3, 3, 9, 9 };
    double cv[4] = { -0.5, -0.5, -0.5, 0.5 };
    ck_assert_int_eq(tp_replay_add(rb, x, cv, 4), TP_OK);
    ck_assert_int_eq(tp_replay_count(rb), 3);
    ck_assert_int_eq(tp_replay_nonempty(rb), 2);
    int64_t counts[2];
    ck_assert_int_eq(tp_replay_cell_counts(rb, counts, 2), TP_OK);
    ck_assert_int_eq(counts[0], 2);
    ck_assert_int_eq(counts[1], 1);
    uint8_t out[2 * 400];
    double ocv[400];
    ck_assert_int_eq(tp_replay_draw(rb, out, ocv, 400, 7, 3), TP_OK);
    int seen[10] = { 0 };
    for (int b = 0; b < 400; b++) {
        ck_assert_int_eq(out[2 * b], out[2 * b + 1]);
        seen[out[2 * b]]++;
        ck_assert(ocv[b] == (out[2 * b] == 9 ? 0.5 : -0.5));
    }
    ck_assert_int_eq(seen[1], 0);   /* evicted */
    ck_assert(seen[2] > 0 && seen[3] > 0 && seen[9] > 0);
    tp_replay_free(rb);
}
END_TEST

START_TEST(test_replay_uniform_over_cells) {
    /* cell 0 holds 100 entries, cell 7 one: each cell is drawn with
     * probability 1/2 whatever its size.  n = 20000, SE = 0.0035; 5 SE. */
    tp_replay *rb = rb1(1, 8, 1024);
    uint8_t x[101];
    double cv[101];
    for (int i = 0; i < 100; i++) { x[i] = 0; cv[i] = -0.9; }
    x[100] = 1; cv[100] = 0.9;
    ck_assert_int_eq(tp_replay_add(rb, x, cv, 101), TP_OK);
    int n = 20000;
    uint8_t *out = malloc((size_t)n);
    ck_assert_int_eq(tp_replay_draw(rb, out, NULL, n, 1, 0), TP_OK);
    int ones = 0;
    for (int b = 0; b < n; b++) ones += out[b];
    double f = (double)ones / n, se = sqrt(0.25 / n);
    ck_assert_msg(fabs(f - 0.5) < 5 * se, "fraction from the rare cell %g", f);
    /* same (seed, stream) -> same draw; another stream differs */
    uint8_t *o2 = malloc((size_t)n);
    ck_assert_int_eq(tp_replay_draw(rb, o2, NULL, n, 1, 0), TP_OK);
    ck_assert(memcmp(out, o2, (size_t)n) == 0);
    ck_assert_int_eq(tp_replay_draw(rb, o2, NULL, n, 1, 1), TP_OK);
    ck_assert(memcmp(out, o2, (size_t)n) != 0);
    free(out); free(o2);
    double c;
    double pts[3] = { -0.9, -0.95, 0.1 };
    ck_assert_int_eq(tp_replay_coverage(rb, &c, pts, 3), TP_OK);
    ck_assert(c == 2.0 / 8);
    tp_replay_free(rb);
}
END_TEST

START_TEST(test_replay_state_round_trip) {
    tp_replay *rb = rb1(7, 4, 8);   /* cap 2: rings wrap */
    uint8_t x[7 * 20];
    double cv[20];
    for (int b = 0; b < 20; b++) {
        for (int i = 0; i < 7; i++) x[b * 7 + i] = (uint8_t)(b * 13 + i * 31);
        cv[b] = -1 + 0.1 * b;
    }
    ck_assert_int_eq(tp_replay_add(rb, x, cv, 20), TP_OK);
    int64_t n = tp_replay_state_size(rb);
    double *st = malloc((size_t)n * sizeof *st);
    ck_assert_int_eq(tp_replay_get_state(rb, st, n), TP_OK);
    tp_replay *r2 = rb1(7, 4, 8);
    ck_assert_int_eq(tp_replay_set_state(r2, st, n), TP_OK);
    ck_assert_int_eq(tp_replay_count(r2), tp_replay_count(rb));
    uint8_t a[7 * 50], b[7 * 50];
    double ca[50], cb[50];
    ck_assert_int_eq(tp_replay_draw(rb, a, ca, 50, 5, 9), TP_OK);
    ck_assert_int_eq(tp_replay_draw(r2, b, cb, 50, 5, 9), TP_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0 && memcmp(ca, cb, sizeof ca) == 0);
    /* further adds evict the same entries in both */
    ck_assert_int_eq(tp_replay_add(rb, x, cv, 3), TP_OK);
    ck_assert_int_eq(tp_replay_add(r2, x, cv, 3), TP_OK);
    ck_assert_int_eq(tp_replay_draw(rb, a, ca, 50, 5, 10), TP_OK);
    ck_assert_int_eq(tp_replay_draw(r2, b, cb, 50, 5, 10), TP_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    /* a state of another shape, or damaged, is refused */
    tp_replay *r3 = rb1(6, 4, 8);
    ck_assert_int_eq(tp_replay_set_state(r3, st, n), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "7 sites") != NULL);
    ck_assert_int_eq(tp_replay_set_state(r2, st, n - 1), TP_ERR_FORMAT);
    st[0] = 1;
    ck_assert_int_eq(tp_replay_set_state(r2, st, n), TP_ERR_FORMAT);
    free(st);
    tp_replay_free(rb); tp_replay_free(r2); tp_replay_free(r3);
}
END_TEST

START_TEST(test_replay_errors) {
    double lo = 0, hi = 0, hi1 = 1;
    ck_assert(tp_replay_init(4, 1, &lo, &hi, 8, 1024) == NULL);
    ck_assert(strstr(tp_last_error(), "need lo < hi") != NULL);
    ck_assert(tp_replay_init(0, 1, &lo, &hi1, 8, 1024) == NULL);
    ck_assert(tp_replay_init(4, 9, &lo, &hi1, 8, 1024) == NULL);
    ck_assert(strstr(tp_last_error(), "1..8") != NULL);
    ck_assert(tp_replay_init(4, 1, &lo, &hi1, 0, 1024) == NULL);
    tp_replay *rb = rb1(2, 8, 16);
    uint8_t x[2];
    ck_assert_int_eq(tp_replay_draw(rb, x, NULL, 1, 1, 1), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "empty") != NULL);
    double nan_cv = NAN;
    ck_assert_int_eq(tp_replay_add(rb, x, &nan_cv, 1), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "NaN") != NULL);
    ck_assert_int_eq(tp_replay_count(rb), 0);
    tp_replay_free(rb);
}
END_TEST

Suite *replay_suite(void) {
    Suite *s = suite_create("replay");
    TCase *tc = tp_test_tcase("replay", 30);
    tcase_add_test(tc, test_replay_cells);
    tcase_add_test(tc, test_replay_fifo_within_cell);
    tcase_add_test(tc, test_replay_uniform_over_cells);
    tcase_add_test(tc, test_replay_state_round_trip);
    tcase_add_test(tc, test_replay_errors);
    suite_add_tcase(s, tc);
    return s;
}
