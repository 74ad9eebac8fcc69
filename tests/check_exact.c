/*
 * tests/check_exact.c -- exact enumeration (runtime/exact.c) against
 * independent sources: Kaufman's exact partition function of the L x L
 * Ising torus (implemented here), brute-force sums over every state with
 * tp_model_energy (no Gray code), and thread-count independence.
 */
#include "check_util.h"
#include "tolerance.h"
#include "tp_ffi.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The shipped Cu-Au CE: the text inside stdlib/tempera/data/cuau.lua's
 * long string, so the tests read the one copy users get. */
static tp_ce *tp_test_cuau(void) {
    char *src = tp_test_read_file(tp_test_src_path("stdlib/tempera/data/cuau.lua"));
    ck_assert_ptr_nonnull(src);
    char *a = strstr(src, "[[\n"), *b = a ? strstr(a, "]]") : NULL;
    ck_assert(a && b);
    *b = 0;
    tp_ce *ce = tp_ce_parse(a + 3, "cuau");
    ck_assert_msg(ce != NULL, "%s", tp_last_error());
    free(src);
    return ce;
}


START_TEST(test_exact_ising_matches_kaufman) {
    const double betas[] = {0.1, 0.28, 0.4407, 0.6, 1.0};
    const int nb = 5;
    for (int L = 2; L <= 5; L++) {
        tp_lattice *lat = tp_lattice_init_square(L, 1);
        double J = 1;
        tp_model *m = tp_model_init_ising(lat, 1, &J, 0);
        ck_assert_ptr_nonnull(m);
        double lz[5], me[5], ve[5];
        ck_assert_int_eq(tp_exact_run(m, betas, nb, lz, me, ve, NULL, NULL, NULL, NULL, NULL), TP_OK);
        for (int b = 0; b < nb; b++) {
            double want = tp_test_kaufman_log_z(L, L, betas[b]);
            ck_assert_msg(tp_close(lz[b], want, TP_TOL_LOGZ), "L=%d beta=%g: log Z %.15g, Kaufman %.15g", L, betas[b], lz[b], want);
            /* <E> = -d log Z / d beta, by a central difference of Kaufman */
            double h = 1e-5;
            double de = -(tp_test_kaufman_log_z(L, L, betas[b] + h) - tp_test_kaufman_log_z(L, L, betas[b] - h)) / (2 * h);
            ck_assert_msg(fabs(me[b] - de) < 1e-5 * (1 + fabs(de)), "L=%d beta=%g: <E> %.12g vs %.12g", L, betas[b], me[b], de);
        }
        tp_model_free(m);
        tp_lattice_free(lat);
    }
}
END_TEST

/* The transfer matrix for P(M): log Z against Kaufman up to 8x8 (beyond
 * enumeration), and P(M) against enumeration with a field (L = 4, 5) */
START_TEST(test_exact_ising_m_transfer_matrix) {
    const double betas[] = { 0.28, 0.4407, 0.6, 1.0 };
    for (int L = 3; L <= 8; L++) {
        for (int b = 0; b < 4; b++) {
            double lz, p[82];
            ck_assert_int_eq(tp_exact_ising_m(L, 1.0, 0.0, betas[b], &lz, p), TP_OK);
            double want = tp_test_kaufman_log_z(L, L, betas[b]), s = 0;
            ck_assert_msg(tp_close(lz, want, TP_TOL_LOGZ), "L=%d beta=%g: log Z %.15g, Kaufman %.15g", L, betas[b], lz, want);
            for (int k = 0; k <= L * L; k++) {
                s += p[k];
                ck_assert_msg(fabs(p[k] - p[L * L - k]) < 1e-12, "L=%d: P(M) not symmetric at %d", L, k);
            }
            ck_assert(fabs(s - 1) < 1e-12);
        }
        if (L > 5) continue;
        /* with a field, against enumeration of every state */
        const double J = 0.8, hf = 0.15, beta = 0.6;
        tp_lattice *lat = tp_lattice_init_square(L, 1);
        tp_model *m = tp_model_init_ising(lat, 1, &J, hf);
        tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, lat, 2, 1);
        ck_assert(m && cv);
        double lo = -1, hi = 1, lz0, me, ve, lz, p[26], hist[26];
        int32_t pts = L * L + 1;
        ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz0, &me, &ve, cv, &lo, &hi, &pts, hist), TP_OK);
        ck_assert_int_eq(tp_exact_ising_m(L, J, hf, beta, &lz, p), TP_OK);
        ck_assert_msg(tp_close(lz, lz0, TP_TOL_LOGZ), "L=%d with a field: %.15g vs %.15g", L, lz, lz0);
        for (int k = 0; k <= L * L; k++)
            ck_assert_msg(fabs(p[k] - hist[k]) < 1e-12, "L=%d M index %d: %.15g vs enumeration %.15g", L, k, p[k], hist[k]);
        ck_assert(p[L * L] > p[0]);   /* the field favours up */
        tp_cv_free(cv);
        tp_model_free(m);
        tp_lattice_free(lat);
    }
    double lz, p[10];
    ck_assert_int_eq(tp_exact_ising_m(2, 1, 0, 0.5, &lz, p), TP_ERR_ARG);
    ck_assert_int_eq(tp_exact_ising_m(11, 1, 0, 0.5, &lz, p), TP_ERR_ARG);
    ck_assert_int_eq(tp_exact_ising_m(4, 1, 0, NAN, &lz, p), TP_ERR_ARG);
}
END_TEST

/* brute force over every state with the model's own total energy */
static void brute(const tp_model *m, double beta, double *lz, double *me, double *ve) {
    int n = m->n, q = m->q;
    int64_t ns = 1;
    for (int i = 0; i < n; i++) ns *= q;
    ck_assert(ns > 0 && ns <= (1 << 22));
    uint8_t *x = calloc((size_t)n, 1);
    double emin = INFINITY;
    double *E = malloc(sizeof(double) * (size_t)ns);
    for (int64_t s = 0; s < ns; s++) {
        int64_t r = s;
        for (int i = 0; i < n; i++) { x[i] = (uint8_t)(r % q); r /= q; }
        E[s] = tp_model_energy(m, x);
        if (E[s] < emin) emin = E[s];
    }
    double z = 0, s1 = 0, s2 = 0;
    for (int64_t s = 0; s < ns; s++) {
        double w = exp(-beta * (E[s] - emin));
        z += w; s1 += w * (E[s] - emin); s2 += w * (E[s] - emin) * (E[s] - emin);
    }
    *lz = -beta * emin + log(z);
    *me = emin + s1 / z;
    *ve = s2 / z - (s1 / z) * (s1 / z);
    free(E);
    free(x);
}

static void check_against_brute(tp_model *m, double beta) {
    double lz, me, ve, blz, bme, bve;
    ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz, &me, &ve, NULL, NULL, NULL, NULL, NULL), TP_OK);
    brute(m, beta, &blz, &bme, &bve);
    ck_assert_msg(tp_close(lz, blz, TP_TOL_F64), "%s: log Z %.15g vs brute %.15g", m->name, lz, blz);
    ck_assert_msg(tp_close(me, bme, TP_TOL_F64), "%s: <E> %.15g vs brute %.15g", m->name, me, bme);
    ck_assert_msg(fabs(ve - bve) <= 1e-9 * (1 + fabs(bve)), "%s: Var E %.15g vs brute %.15g", m->name, ve, bve);
}

START_TEST(test_exact_potts_and_ce_match_brute_force) {
    tp_lattice *sq = tp_lattice_init_square(3, 2);
    double J[2] = {1.0, -0.3};
    tp_model *potts = tp_model_init_potts(sq, 3, 2, J, 0.2);
    ck_assert_ptr_nonnull(potts);
    check_against_brute(potts, 1.005);
    tp_model_free(potts);
    tp_model *ising = tp_model_init_ising(sq, 2, J, 0.1);
    check_against_brute(ising, 0.6);
    tp_model_free(ising);
    tp_lattice_free(sq);

    tp_lattice *fcc = tp_lattice_init_fcc(2, 2, 4, 4);
    tp_ce *ce = tp_test_cuau();
    tp_model *cem = tp_model_init_ce(fcc, ce, 0.01);
    ck_assert_ptr_nonnull(cem);
    check_against_brute(cem, 1.0 / (8.617330337217213e-5 * 680));
    tp_model_free(cem);
    tp_ce_free(ce);
    tp_lattice_free(fcc);
}
END_TEST

/* The level-histogram walks: two states by bits (Ising with a field, Potts
 * q = 2 with a field: the field counts token 0), two states with repeated
 * neighbours (2 x 2: the general walk), q = 3 with one shell (the compact
 * walk), and the grid marginal of a CV with a field, each against brute
 * force over every state. */
START_TEST(test_exact_levels_match_brute_force) {
    double J[2] = { 1.0, -0.4 };
    tp_lattice *sq4 = tp_lattice_init_square(4, 2), *sq2 = tp_lattice_init_square(2, 1);
    tp_model *is = tp_model_init_ising(sq4, 2, J, 0.15);
    check_against_brute(is, 0.5);
    tp_model *p2 = tp_model_init_potts(sq4, 2, 1, J, -0.3);
    check_against_brute(p2, 0.7);
    tp_model *small = tp_model_init_ising(sq2, 1, J, 0.2);
    check_against_brute(small, 0.9);
    tp_lattice *sq3 = tp_lattice_init_square(3, 1);
    tp_model *p3 = tp_model_init_potts(sq3, 3, 1, J, 0.25);   /* one shell, no CV: compact lists */
    check_against_brute(p3, 1.1);
    tp_model_free(p3);
    tp_lattice_free(sq3);
    /* marginal of m with a field: brute force by grid point */
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, sq4, 2, 0);
    double beta = 0.45, lo = -1, hi = 1, lz, me, ve, h[17], bh[17] = { 0 }, bz = 0;
    int32_t pts = 17;
    ck_assert_int_eq(tp_exact_run(is, &beta, 1, &lz, &me, &ve, cv, &lo, &hi, &pts, h), TP_OK);
    uint8_t x[16];
    for (int64_t st = 0; st < (1 << 16); st++) {
        int up = 0;
        for (int i = 0; i < 16; i++) { x[i] = (uint8_t)((st >> i) & 1); up += x[i]; }
        double w = exp(-beta * tp_model_energy(is, x) - lz);
        bh[up] += w;   /* m = up / 8 - 1: grid point up */
        bz += w;
    }
    ck_assert(fabs(bz - 1) < 1e-12);
    for (int g = 0; g < 17; g++)
        ck_assert_msg(fabs(h[g] - bh[g]) <= 1e-12 * (1e-3 + bh[g]), "m grid point %d: %.15g vs brute %.15g", g, h[g], bh[g]);
    tp_cv_free(cv);
    tp_model_free(is);
    tp_model_free(p2);
    tp_model_free(small);
    tp_lattice_free(sq4);
    tp_lattice_free(sq2);
}
END_TEST

START_TEST(test_exact_marginal_and_threads) {
    /* 4x4 Ising magnetisation marginal: sums to 1, symmetric at h = 0, and
     * bitwise identical with 1 and 2 threads */
    tp_lattice *lat = tp_lattice_init_square(4, 1);
    double J = 1;
    tp_model *m = tp_model_init_ising(lat, 1, &J, 0);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, lat, 2, 0);
    double beta[2] = {0.4407, 0.6}, lo = -1, hi = 1;
    int32_t pts = 17;
    double lz[2], me[2], ve[2], h1[34], h2[34], lz2[2], me2[2], ve2[2];
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ck_assert_int_eq(tp_exact_run(m, beta, 2, lz, me, ve, cv, &lo, &hi, &pts, h1), TP_OK);
    omp_set_num_threads(2);
    ck_assert_int_eq(tp_exact_run(m, beta, 2, lz2, me2, ve2, cv, &lo, &hi, &pts, h2), TP_OK);
    omp_set_num_threads(saved);
    ck_assert(memcmp(h1, h2, sizeof h1) == 0);
    ck_assert(lz[0] == lz2[0] && me[1] == me2[1] && ve[1] == ve2[1]);
    for (int b = 0; b < 2; b++) {
        double s = 0;
        for (int g = 0; g < 17; g++) {
            s += h1[b * 17 + g];
            ck_assert(fabs(h1[b * 17 + g] - h1[b * 17 + 16 - g]) < 1e-14);
            ck_assert(h1[b * 17 + g] > 0);   /* m = k/8 - 1: every grid point is reached */
        }
        ck_assert(fabs(s - 1) < 1e-13);
    }
    /* P(all up) = exp(-beta * (-32) - log Z) */
    ck_assert(tp_close(h1[16], exp(32 * beta[0] - lz[0]), TP_TOL_F64));
    tp_cv_free(cv);
    tp_model_free(m);
    tp_lattice_free(lat);
}
END_TEST

START_TEST(test_exact_rejects_bad_input) {
    tp_lattice *lat = tp_lattice_init_square(6, 1);
    double J = 1, beta = 0.5, lz, me, ve;
    tp_model *m = tp_model_init_ising(lat, 1, &J, 0);
    ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz, &me, &ve, NULL, NULL, NULL, NULL, NULL), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "more than 2^26") != NULL);
    tp_model_free(m);
    tp_lattice_free(lat);
    lat = tp_lattice_init_square(2, 1);
    m = tp_model_init_ising(lat, 1, &J, 0);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, lat, 2, 0);
    double lo = 1, hi = -1, h[4];
    int32_t pts = 3;
    ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz, &me, &ve, cv, &lo, &hi, &pts, h), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "lo < hi") != NULL);
    tp_abort_flag = 1;
    ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz, &me, &ve, NULL, NULL, NULL, NULL, NULL), TP_ABORTED);
    tp_abort_flag = 0;
    tp_cv_free(cv);
    tp_model_free(m);
    tp_lattice_free(lat);
}
END_TEST

/* Per-chunk accumulators: every output bit the same on 1 and 2 threads
 * (chunks go to threads in a different order each run), and the same
 * numbers as a brute-force sum, for several betas (a negative one walks
 * the rescaling path for high energies) and a 2-d CV grid with clamped
 * edges.  3x3 Potts q = 3, two shells, a field: 81 chunks of 243 states. */
START_TEST(test_exact_threads_bit_identical) {
    enum { NB = 4, PX = 9, PY = 7, G = PX * PY };
    tp_lattice *lat = tp_lattice_init_square(3, 2);
    double J[2] = {1.0, -0.3};
    tp_model *m = tp_model_init_potts(lat, 3, 2, J, 0.2);
    tp_cv *cv = tp_cv_init(TP_CV_SIMPLEX, lat, 3, 0);
    ck_assert(m && cv && cv->dim == 2);
    const double beta[NB] = {-0.3, 0.2, 1.005, 3.0}, lo[2] = {-0.4, -0.7}, hi[2] = {0.9, 0.7};
    const int32_t pts[2] = {PX, PY};
    double lz[2][NB], me[2][NB], ve[2][NB], h[2][NB * G];
    const int th0 = tp_threads_get();
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(tp_threads_set(t + 1), TP_OK);
        ck_assert_int_eq(tp_exact_run(m, beta, NB, lz[t], me[t], ve[t], cv, lo, hi, pts, h[t]), TP_OK);
    }
    ck_assert_int_eq(tp_threads_set(th0), TP_OK);
    ck_assert(memcmp(lz[0], lz[1], sizeof lz[0]) == 0);
    ck_assert(memcmp(me[0], me[1], sizeof me[0]) == 0);
    ck_assert(memcmp(ve[0], ve[1], sizeof ve[0]) == 0);
    ck_assert(memcmp(h[0], h[1], sizeof h[0]) == 0);
    /* brute force: every state's energy and nearest grid point */
    const int n = 9;
    int64_t ns = 1;
    for (int i = 0; i < n; i++) ns *= 3;
    double *E = malloc(sizeof(double) * (size_t)ns);
    int *gi = malloc(sizeof(int) * (size_t)ns);
    uint8_t x[9];
    double emin = INFINITY, emax = -INFINITY;
    for (int64_t st = 0; st < ns; st++) {
        int64_t r = st;
        for (int i = 0; i < n; i++) { x[i] = (uint8_t)(r % 3); r /= 3; }
        E[st] = tp_model_energy(m, x);
        if (E[st] < emin) emin = E[st];
        if (E[st] > emax) emax = E[st];
        double v[2];
        ck_assert_int_eq(tp_cv_eval(cv, v, x, 1), TP_OK);
        gi[st] = 0;
        for (int d = 0; d < 2; d++) {
            int ix = (int)floor((v[d] - lo[d]) / (hi[d] - lo[d]) * (pts[d] - 1) + 0.5);
            ix = ix < 0 ? 0 : ix > pts[d] - 1 ? pts[d] - 1 : ix;
            gi[st] = gi[st] * pts[d] + ix;
        }
    }
    for (int b = 0; b < NB; b++) {
        double e0 = beta[b] >= 0 ? emin : emax, z = 0, s1 = 0, hb[G] = {0};
        for (int64_t st = 0; st < ns; st++) {
            double w = exp(-beta[b] * (E[st] - e0));
            z += w; s1 += w * E[st];
            hb[gi[st]] += w;
        }
        ck_assert_msg(tp_close(lz[0][b], -beta[b] * e0 + log(z), TP_TOL_F64), "beta %g: log Z %.15g vs %.15g",
                      beta[b], lz[0][b], -beta[b] * e0 + log(z));
        ck_assert_msg(tp_close(me[0][b], s1 / z, TP_TOL_F64), "beta %g: <E> %.15g vs %.15g", beta[b], me[0][b], s1 / z);
        for (int g = 0; g < G; g++)
            ck_assert_msg(fabs(h[0][b * G + g] - hb[g] / z) < 1e-13, "beta %g: P(grid point %d) %.15g vs %.15g",
                          beta[b], g, h[0][b * G + g], hb[g] / z);
    }
    free(E);
    free(gi);
    tp_cv_free(cv);
    tp_model_free(m);
    tp_lattice_free(lat);
}
END_TEST

/* the counting-order configurations tp.report's exact reference uses */
START_TEST(test_exact_configs) {
    enum { q = 3, n = 4, S = 81 };
    uint8_t all[S * n], part[5 * n];
    ck_assert_int_eq(tp_exact_configs(q, n, all, 0, S), TP_OK);
    for (int s = 0; s < S; s++) {
        int v = 0;
        for (int i = n - 1; i >= 0; i--) v = v * q + all[s * n + i];
        ck_assert_int_eq(v, s);   /* row s is s in base q, site 0 fastest */
    }
    ck_assert_int_eq(tp_exact_configs(q, n, part, 70, 5), TP_OK);
    ck_assert(memcmp(part, all + 70 * n, sizeof part) == 0);
    ck_assert_int_eq(tp_exact_configs(q, n, part, 77, 5), TP_ERR_ARG);
    ck_assert_int_eq(tp_exact_configs(q, n, part, -1, 1), TP_ERR_ARG);
    ck_assert_int_eq(tp_exact_configs(1, n, part, 0, 1), TP_ERR_ARG);
    ck_assert_int_eq(tp_exact_configs(2, 40, part, 0, 1), TP_ERR_ARG);
}
END_TEST

Suite *exact_suite(void) {
    Suite *s = suite_create("exact");
    TCase *tc = tp_test_tcase("exact", 60);
    tcase_add_test(tc, test_exact_ising_matches_kaufman);
    tcase_add_test(tc, test_exact_ising_m_transfer_matrix);
    tcase_add_test(tc, test_exact_levels_match_brute_force);
    tcase_add_test(tc, test_exact_potts_and_ce_match_brute_force);
    tcase_add_test(tc, test_exact_marginal_and_threads);
    tcase_add_test(tc, test_exact_rejects_bad_input);
    tcase_add_test(tc, test_exact_configs);
    tcase_add_test(tc, test_exact_threads_bit_identical);
    suite_add_tcase(s, tc);
    return s;
}
