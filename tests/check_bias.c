/*
 * tests/check_bias.c -- the metadynamics bias grid (runtime/bias.c):
 * textbook single-hill values (man tempera-mc(5) / issue 4), the per-hill
 * height W/B, delta kernel, plain metadynamics, 2-D separable hills,
 * the PMF formula, the out-of-grid policies, save/load round trips and
 * malformed files, and argument errors with their messages.
 */
#include "check_util.h"
#include "tolerance.h"
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tp_bias *grid11(double gamma, int32_t kernel) {
    double lo = -1, hi = 1, sigma = 0.2;
    int32_t pts = 11;
    tp_bias *b = tp_bias_init(1, &lo, &hi, &pts, &sigma, 1.0, gamma, 1.0, kernel);
    ck_assert_msg(b != NULL, "%s", tp_last_error());
    return b;
}

START_TEST(test_bias_textbook_single_hill) {
    /* grid 11 on [-1,1], sigma 0.2, W 1, gamma 10, T 1: V(0) = 1 after one hill
     * at 0, 1 + exp(-1/9) after two (dT = 9) */
    tp_bias *b = grid11(10, TP_BIAS_GAUSSIAN);
    double s = 0, s1 = 0.2, s2 = -1;
    ck_assert_int_eq(tp_bias_deposit(b, &s, 1), TP_OK);
    ck_assert(tp_close(tp_bias_value(b, &s), 1.0, TP_TOL_F64));
    ck_assert(tp_close(tp_bias_value(b, &s1), exp(-0.5), TP_TOL_F64));      /* one sigma away */
    ck_assert(tp_close(tp_bias_value(b, &s2), exp(-12.5), TP_TOL_F64));     /* five sigma */
    ck_assert_int_eq(tp_bias_deposit(b, &s, 1), TP_OK);
    ck_assert_msg(tp_close(tp_bias_value(b, &s), 1 + exp(-1.0 / 9), TP_TOL_F64), "V(0) = %.17g", tp_bias_value(b, &s));
    tp_bias_info info;
    ck_assert_int_eq(tp_bias_get_info(b, &info), TP_OK);
    ck_assert_int_eq(info.nhills, 2);
    ck_assert_int_eq(info.ncycles, 2);
    ck_assert_int_eq(info.size, 11);
    ck_assert(tp_close(info.spacing[0], 0.2, TP_TOL_F64));
    /* PMF: F = -gamma/(gamma-1) V shifted to min 0 */
    double pmf[11], *v = tp_bias_values(b);
    ck_assert_int_eq(tp_bias_pmf(b, pmf), TP_OK);
    double vmax = 0;
    for (int j = 0; j < 11; j++) if (v[j] > vmax) vmax = v[j];
    for (int j = 0; j < 11; j++) ck_assert(tp_close(pmf[j], 10.0 / 9 * (vmax - v[j]), TP_TOL_F64));
    ck_assert(pmf[5] == 0);
    tp_bias_free(b);
}
END_TEST

START_TEST(test_bias_cycle_heights_and_kernels) {
    /* a cycle of B = 2 hills at 0: w = 1/2 each; the second sees V = 1/2 */
    tp_bias *b = grid11(10, TP_BIAS_GAUSSIAN);
    double s[2] = { 0, 0 }, z = 0;
    ck_assert_int_eq(tp_bias_deposit(b, s, 2), TP_OK);
    ck_assert(tp_close(tp_bias_value(b, &z), 0.5 + 0.5 * exp(-0.5 / 9), TP_TOL_F64));
    tp_bias_free(b);
    /* delta kernel: only the nearest grid point changes (0.07 -> 0.0) */
    b = grid11(10, TP_BIAS_DELTA);
    double p = 0.07, q = 0.2;
    ck_assert_int_eq(tp_bias_deposit(b, &p, 1), TP_OK);
    ck_assert(tp_close(tp_bias_value(b, &z), 1.0, TP_TOL_F64));
    ck_assert(tp_bias_value(b, &q) == 0.0);
    ck_assert_int_eq(tp_bias_index(b, &p), 5);
    tp_bias_free(b);
    /* plain metadynamics (gamma <= 1 and gamma = inf): heights do not shrink */
    double gammas[3] = { 1, 0, INFINITY };
    for (int k = 0; k < 3; k++) {
        b = grid11(gammas[k], TP_BIAS_GAUSSIAN);
        ck_assert_int_eq(tp_bias_deposit(b, &z, 1), TP_OK);
        ck_assert_int_eq(tp_bias_deposit(b, &z, 1), TP_OK);
        ck_assert(tp_close(tp_bias_value(b, &z), 2.0, TP_TOL_F64));
        double pmf[11];
        tp_bias_pmf(b, pmf);
        ck_assert(tp_close(pmf[0], 2.0 - 2 * exp(-12.5), TP_TOL_F64));   /* F = -V */
        tp_bias_free(b);
    }
    /* deposit_one: raw height, tempered by exp(-V/dT) */
    b = grid11(10, TP_BIAS_GAUSSIAN);
    ck_assert_int_eq(tp_bias_deposit_one(b, &z, 3.0), TP_OK);
    ck_assert_int_eq(tp_bias_deposit_one(b, &z, 3.0), TP_OK);
    ck_assert(tp_close(tp_bias_value(b, &z), 3 + 3 * exp(-3.0 / 9), TP_TOL_F64));
    tp_bias_free(b);
}
END_TEST

START_TEST(test_bias_weighted_deposit) {
    /* equal log-weights reproduce tp_bias_deposit bit for bit (any shift) */
    tp_bias *a = grid11(10, TP_BIAS_GAUSSIAN), *b = grid11(10, TP_BIAS_GAUSSIAN);
    double s[3] = { -0.3, 0.1, 0.45 }, eq[3] = { 7.5, 7.5, 7.5 };
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(tp_bias_deposit(a, s, 3), TP_OK);
        ck_assert_int_eq(tp_bias_deposit_weighted(b, s, eq, 3), TP_OK);
    }
    ck_assert_int_eq(memcmp(tp_bias_values(a), tp_bias_values(b), 11 * sizeof(double)), 0);
    tp_bias_info ia, ib;
    tp_bias_get_info(a, &ia);
    tp_bias_get_info(b, &ib);
    ck_assert_int_eq(ib.nhills, ia.nhills);
    ck_assert_int_eq(ib.ncycles, 4);
    tp_bias_free(a);
    tp_bias_free(b);
    /* weights (1/4, 3/4) and a -inf weight: hills of W/4 and 3W/4, none at
     * the third point; the second is tempered by the first's V there */
    b = grid11(10, TP_BIAS_GAUSSIAN);
    double lw[3] = { log(1.0), log(3.0), -INFINITY }, p[3] = { 0, 0.2, -0.6 }, z = 0, q = 0.2, r = -0.6;
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, lw, 3), TP_OK);
    double h2 = 0.75 * exp(-0.25 * exp(-0.5) / 9);
    ck_assert(tp_close(tp_bias_value(b, &z), 0.25 + h2 * exp(-0.5), TP_TOL_F64));
    ck_assert(tp_close(tp_bias_value(b, &q), 0.25 * exp(-0.5) + h2, TP_TOL_F64));
    ck_assert(tp_close(tp_bias_value(b, &r), 0.25 * exp(-4.5) + h2 * exp(-8.0), TP_TOL_F64));
    tp_bias_get_info(b, &ib);
    ck_assert_int_eq(ib.nhills, 2);
    /* errors: NaN or +inf weights, every weight -inf, no points */
    double bad[2] = { 0, NAN }, inf[2] = { 0, INFINITY }, none[2] = { -INFINITY, -INFINITY };
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, bad, 2), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "log-weight 2") != NULL, "%s", tp_last_error());
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, inf, 2), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, none, 2), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, lw, 0), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_deposit_weighted(b, p, NULL, 2), TP_ERR_ARG);
    tp_bias_get_info(b, &ib);
    ck_assert_int_eq(ib.nhills, 2);   /* nothing deposited by the failed calls */
    tp_bias_free(b);
}
END_TEST

START_TEST(test_bias_2d_separable) {
    double lo[2] = { -0.6, -1 }, hi[2] = { 1.1, 1 }, sigma[2] = { 0.1, 0.3 };
    int32_t pts[2] = { 18, 11 };
    tp_bias *b = tp_bias_init(2, lo, hi, pts, sigma, 2.0, 10, 0.5, TP_BIAS_GAUSSIAN);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tp_bias_size(b), 18 * 11);
    double s[2] = { 0.25, 0.13 };
    ck_assert_int_eq(tp_bias_deposit(b, s, 1), TP_OK);
    /* every grid point: h * exp(-dx^2/2sx^2 - dy^2/2sy^2), flat = i*11 + j */
    for (int64_t f = 0; f < 18 * 11; f++) {
        double g[2];
        ck_assert_int_eq(tp_bias_grid_point(b, g, f), TP_OK);
        double want = 2.0 * exp(-pow(g[0] - s[0], 2) / 0.02 - pow(g[1] - s[1], 2) / 0.18);
        ck_assert_msg(tp_close(tp_bias_values(b)[f], want, TP_TOL_F64), "point %lld", (long long)f);
    }
    double g[2];
    tp_bias_grid_point(b, g, 1 * 11 + 2);
    ck_assert(tp_close(g[0], -0.5, TP_TOL_F64) && tp_close(g[1], -0.6, TP_TOL_F64));
    /* evaluation clamps: far outside -> the corner value */
    double far[2] = { 5, -5 }, corner[2] = { 1.1, -1 };
    ck_assert(tp_bias_value(b, far) == tp_bias_value(b, corner));
    double out[2], pts2[4] = { 5, -5, 0.25, 0.13 };
    ck_assert_int_eq(tp_bias_eval(b, out, pts2, 2), TP_OK);
    tp_bias_info info;
    tp_bias_get_info(b, &info);
    ck_assert_int_eq(info.out_eval, 1);
    double lw[2];
    ck_assert_int_eq(tp_bias_log_weights(b, lw, pts2, 2, 2.0), TP_OK);
    ck_assert(tp_close(lw[1], 2.0 * out[1], TP_TOL_F64));
    tp_bias_free(b);
}
END_TEST

START_TEST(test_bias_out_of_grid_policy) {
    tp_bias *b = grid11(10, TP_BIAS_GAUSSIAN);
    double s[3] = { 0.5, 1.7, -3 }, one = 1, mone = -1;
    tp_bias_info info;
    /* clamp (default): the hills at 1.7 and -3 land on the ends, counted */
    ck_assert_int_eq(tp_bias_deposit(b, s, 3), TP_OK);
    tp_bias_get_info(b, &info);
    ck_assert_int_eq(info.out_deposit, 2);
    ck_assert_int_eq(info.nhills, 3);
    ck_assert(tp_bias_value(b, &one) > 0.3 && tp_bias_value(b, &mone) > 0.3);
    /* m = 1 computed with rounding error is inside (1e-9 spacing slack) */
    tp_bias_clear_counts(b);
    double edge = 1 + 1e-14;
    ck_assert_int_eq(tp_bias_deposit(b, &edge, 1), TP_OK);
    tp_bias_get_info(b, &info);
    ck_assert_int_eq(info.out_deposit, 0);
    /* skip: nothing deposited, counted */
    tp_bias_reset(b);
    ck_assert_int_eq(tp_bias_set_policy(b, TP_BIAS_OUT_SKIP), TP_OK);
    ck_assert_int_eq(tp_bias_deposit(b, s + 1, 2), TP_OK);
    tp_bias_get_info(b, &info);
    ck_assert_int_eq(info.out_deposit, 2);
    ck_assert_int_eq(info.nhills, 0);
    ck_assert_int_eq(info.ncycles, 0);
    for (int j = 0; j < 11; j++) ck_assert(tp_bias_values(b)[j] == 0);
    /* error: fails before changing anything, names the point */
    ck_assert_int_eq(tp_bias_set_policy(b, TP_BIAS_OUT_ERROR), TP_OK);
    ck_assert_int_eq(tp_bias_deposit(b, s, 3), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "point 2 (1.7) is outside the grid"), "%s", tp_last_error());
    for (int j = 0; j < 11; j++) ck_assert(tp_bias_values(b)[j] == 0);
    double out[3];
    ck_assert_int_eq(tp_bias_eval(b, out, s, 3), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_set_policy(b, 7), TP_ERR_ARG);
    tp_bias_free(b);
}
END_TEST

START_TEST(test_bias_save_load) {
    char *dir = tp_test_scratch_dir("bias");
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/b.bias", dir);
    snprintf(bad, sizeof bad, "%s/bad.bias", dir);
    double lo[2] = { -0.6, -1 }, hi[2] = { 1.1, 1 }, sigma[2] = { 0.05, 0.05 };
    int32_t pts[2] = { 17, 17 };
    tp_bias *b = tp_bias_init(2, lo, hi, pts, sigma, 0.0995, 10, 1 / 1.005, TP_BIAS_GAUSSIAN);
    double s[6] = { 0.1, 0.2, -0.3, 0.01, 1.0, 0.0 };
    tp_bias_deposit(b, s, 3);
    tp_bias_set_policy(b, TP_BIAS_OUT_SKIP);
    ck_assert_int_eq(tp_bias_save(b, path), TP_OK);
    tp_bias *c = tp_bias_load(path);
    ck_assert_msg(c != NULL, "%s", tp_last_error());
    tp_bias_info i1, i2;
    tp_bias_get_info(b, &i1);
    tp_bias_get_info(c, &i2);
    i1.out_deposit = i2.out_deposit = i1.out_eval = i2.out_eval = 0;   /* counters are not saved */
    ck_assert(memcmp(&i1, &i2, sizeof i1) == 0);
    ck_assert(memcmp(tp_bias_values(b), tp_bias_values(c), 17 * 17 * sizeof(double)) == 0);
    tp_bias_free(c);
    /* clone is a deep copy */
    c = tp_bias_clone(b);
    double v0 = tp_bias_value(b, s);
    tp_bias_deposit(b, s, 1);
    ck_assert(tp_bias_value(c, s) == v0 && tp_bias_value(b, s) > v0);
    tp_bias_free(c);
    tp_bias_free(b);
    /* malformed files name path:line */
    static const struct { const char *text, *msg; } cases[] = {
        { "hello\n", "not a tempera bias file" },
        { "tempera-bias 2\n", "unsupported bias file version 2" },
        { "tempera-bias 1\ndim 1\nfoo 3\n", ":3: unknown key 'foo'" },
        { "tempera-bias 1\ndim 1\naxis 1 -1 1 3 0.1\nvalues\n1\n2\n", "expected 3 values" },
        { "tempera-bias 1\ndim 1\naxis 1 -1 1 2 0.1\nvalues\n1\n2\n3\n", "more values than the grid" },
        { "tempera-bias 1\ndim 1\naxis 1 1 -1 2 0.1\nvalues\n1\n2\n", "lo < hi" },
        { "tempera-bias 1\ndim 1\naxis 1 -1 1 2 0.1\nvalues\n1\nx\n", ":6: malformed line: x" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ck_assert_int_eq(tp_test_write_file(bad, cases[k].text), 0);
        ck_assert_ptr_null(tp_bias_load(bad));
        ck_assert_msg(strstr(tp_last_error(), cases[k].msg), "case %d: %s", (int)k, tp_last_error());
    }
    ck_assert_ptr_null(tp_bias_load("/nonexistent/x.bias"));
    ck_assert(strstr(tp_last_error(), "cannot read"));
    free(dir);
}
END_TEST

START_TEST(test_bias_bad_arguments) {
    double lo = -1, hi = 1, sg = 0.1, bad_sg = 0, hi2 = -2;
    int32_t pts = 11, one = 1;
    static const char *msg[] = { "dimension must be 1..8", "at least 2 grid points", "sigma[1] must be > 0",
                                 "kT must be > 0", "lo < hi", "height must be >= 0", "needs sigma" };
    tp_bias *b[7] = {
        tp_bias_init(0, &lo, &hi, &pts, &sg, 1, 10, 1, 0),
        tp_bias_init(1, &lo, &hi, &one, &sg, 1, 10, 1, 0),
        tp_bias_init(1, &lo, &hi, &pts, &bad_sg, 1, 10, 1, 0),
        tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 0, 0),
        tp_bias_init(1, &lo, &hi2, &pts, &sg, 1, 10, 1, 0),
        tp_bias_init(1, &lo, &hi, &pts, &sg, -1, 10, 1, 0),
        tp_bias_init(1, &lo, &hi, &pts, NULL, 1, 10, 1, TP_BIAS_GAUSSIAN),
    };
    for (int k = 0; k < 7; k++) ck_assert_ptr_null(b[k]);
    /* the message of the last failure only; re-run each to check its text */
    for (int k = 0; k < 7; k++) {
        switch (k) {
        case 0: tp_bias_init(0, &lo, &hi, &pts, &sg, 1, 10, 1, 0); break;
        case 1: tp_bias_init(1, &lo, &hi, &one, &sg, 1, 10, 1, 0); break;
        case 2: tp_bias_init(1, &lo, &hi, &pts, &bad_sg, 1, 10, 1, 0); break;
        case 3: tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 0, 0); break;
        case 4: tp_bias_init(1, &lo, &hi2, &pts, &sg, 1, 10, 1, 0); break;
        case 5: tp_bias_init(1, &lo, &hi, &pts, &sg, -1, 10, 1, 0); break;
        case 6: tp_bias_init(1, &lo, &hi, &pts, NULL, 1, 10, 1, TP_BIAS_GAUSSIAN); break;
        }
        ck_assert_msg(strstr(tp_last_error(), msg[k]), "case %d: %s", k, tp_last_error());
    }
    /* delta kernel needs no sigma */
    tp_bias *d = tp_bias_init(1, &lo, &hi, &pts, NULL, 1, 10, 1, TP_BIAS_DELTA);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tp_bias_deposit(d, &lo, 0), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_set_sigma(d, &bad_sg), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_set_kT(d, -1), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_set_height(d, NAN), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_grid_point(d, &lo, 11), TP_ERR_ARG);
    tp_bias_free(d);
    tp_bias_free(NULL);
}
END_TEST


/* The bias's whole state as doubles (a checkpoint slot): a round trip keeps
 * parameters, walls, counters and values bit for bit; a state of another
 * grid or with a non-finite value is refused before anything changes. */
START_TEST(test_bias_state_round_trip) {
    double lo[2] = { -1, 0 }, hi[2] = { 1, 1 }, sg[2] = { 0.1, 0.2 };
    int32_t pts[2] = { 9, 5 }, wl[2] = { 1, 0 }, wh[2] = { 1, 1 };
    tp_bias *a = tp_bias_init(2, lo, hi, pts, sg, 0.7, 8, 1.5, TP_BIAS_GAUSSIAN);
    ck_assert_int_eq(tp_bias_set_walls(a, wl, wh), TP_OK);
    ck_assert_int_eq(tp_bias_set_policy(a, TP_BIAS_OUT_SKIP), TP_OK);
    double s[6] = { 0.3, 0.5, -0.9, 0.1, 0.95, 0.99 };
    ck_assert_int_eq(tp_bias_deposit(a, s, 3), TP_OK);
    int64_t n = tp_bias_state_size(a);
    ck_assert_int_eq(n, 12 + 6 * 2 + 45);
    double *st = malloc((size_t)n * sizeof *st);
    ck_assert_int_eq(tp_bias_get_state(a, st, n - 1), TP_ERR_ARG);
    ck_assert_int_eq(tp_bias_get_state(a, st, n), TP_OK);
    /* a fresh bias of the same grid, other parameters */
    tp_bias *b = tp_bias_init(2, lo, hi, pts, NULL, 0, 1, 1, TP_BIAS_DELTA);
    ck_assert_int_eq(tp_bias_set_state(b, st, n), TP_OK);
    tp_bias_info ia, ib;
    tp_bias_get_info(a, &ia);
    tp_bias_get_info(b, &ib);
    ck_assert_int_eq(memcmp(&ia, &ib, sizeof ia), 0);
    ck_assert_int_eq(memcmp(tp_bias_values(a), tp_bias_values(b), 45 * sizeof(double)), 0);
    /* both deposit the same next hill */
    double t[2] = { 0.9, 0.9 };
    tp_bias_deposit(a, t, 1);
    tp_bias_deposit(b, t, 1);
    ck_assert_int_eq(memcmp(tp_bias_values(a), tp_bias_values(b), 45 * sizeof(double)), 0);
    /* refused: another grid, a damaged state; nothing changes */
    int32_t other[2] = { 9, 6 };
    tp_bias *c = tp_bias_init(2, lo, hi, other, sg, 1, 8, 1.5, TP_BIAS_GAUSSIAN);
    ck_assert_int_eq(tp_bias_set_state(c, st, n), TP_ERR_ARG);
    st[12 + 12 + 7] = NAN;
    double before = tp_bias_values(b)[7];
    ck_assert_int_eq(tp_bias_set_state(b, st, n), TP_ERR_FORMAT);
    ck_assert(tp_bias_values(b)[7] == before);
    st[0] = 3;
    ck_assert_int_eq(tp_bias_set_state(b, st, n), TP_ERR_FORMAT);
    free(st);
    tp_bias_free(a);
    tp_bias_free(b);
    tp_bias_free(c);
}
END_TEST

Suite *bias_suite(void) {
    Suite *s = suite_create("bias");
    TCase *tc = tp_test_tcase("bias", 30);
    tcase_add_test(tc, test_bias_textbook_single_hill);
    tcase_add_test(tc, test_bias_cycle_heights_and_kernels);
    tcase_add_test(tc, test_bias_weighted_deposit);
    tcase_add_test(tc, test_bias_2d_separable);
    tcase_add_test(tc, test_bias_out_of_grid_policy);
    tcase_add_test(tc, test_bias_save_load);
    tcase_add_test(tc, test_bias_bad_arguments);
    tcase_add_test(tc, test_bias_state_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
