/*
 * tests/check_mc.c -- the classical samplers (runtime/mc*.c) against exact
 * enumeration (runtime/exact.c and small enumerations done here), and
 * the observables helpers (runtime/observables.c).
 *
 * Statistical tests use fixed seeds and state their tolerance in standard
 * errors.  Standard errors come from independent chains (the spread of
 * per-chain means over B chains, or a jackknife over chains for the heat
 * capacity), so autocorrelation inside a chain needs no model.  Threshold:
 * |z| < 4.5 for single quantities and for each histogram bin (false alarm
 * ~7e-6 per quantity for a normal).  Not a chi^2 over bins: the bins of a
 * marginal move together (a 3x3 Potts run's phase weights), and that sum
 * exceeded its chi^2_k bound in 3% of seeds with a correct sampler.
 */
#include "check_util.h"
#include "tolerance.h"
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ZMAX 4.5

typedef struct {
    double mean_e, var_e;     /* exact */
    double hist[64];          /* exact CV marginal on the grid */
    double lo, hi;
    int32_t points;
} exact_ref;

static void exact(exact_ref *r, const tp_model *m, double beta, const tp_cv *cv, double lo, double hi, int32_t pts) {
    double lz;
    r->lo = lo; r->hi = hi; r->points = pts;
    ck_assert_int_eq(tp_exact_run(m, &beta, 1, &lz, &r->mean_e, &r->var_e, cv, &lo, &hi, &pts, r->hist), TP_OK);
}

static int grid_index(double v, double lo, double hi, int32_t pts) {
    double u = floor((v - lo) / (hi - lo) * (pts - 1) + 0.5);
    if (u < 0) u = 0;
    if (u > pts - 1) u = pts - 1;
    return (int)u;
}

/* Samples T states per chain, `every` sweeps apart, after `burn` sweeps,
 * and compares <E>, C and the CV marginal to r. */
static void check_sampler(tp_mc *mc, const tp_model *m, const tp_cv *cv, const exact_ref *r, int32_t method,
                          double beta, int burn, int T, int every, const char *label) {
    int64_t B = tp_mc_nchains(mc);
    int n = m->n;
    ck_assert_int_eq(tp_mc_sweep(mc, method, beta, burn), TP_OK);
    double *e = malloc((size_t)B * sizeof(double)), *s = malloc((size_t)B * sizeof(double));
    double *se = calloc((size_t)B, sizeof(double)), *se2 = calloc((size_t)B, sizeof(double));
    double *hist = calloc((size_t)B * r->points, sizeof(double));
    for (int t = 0; t < T; t++) {
        ck_assert_int_eq(tp_mc_sweep(mc, method, beta, every), TP_OK);
        ck_assert_int_eq(tp_mc_energies(mc, e), TP_OK);
        ck_assert_int_eq(tp_cv_eval(cv, s, tp_mc_states(mc), B), TP_OK);
        for (int64_t b = 0; b < B; b++) {
            se[b] += e[b];
            se2[b] += e[b] * e[b];
            if (r->points) hist[b * r->points + grid_index(s[b], r->lo, r->hi, r->points)] += 1.0 / T;
        }
    }
    /* <E>: mean of chain means, SE from their spread */
    double m1 = 0, m2 = 0;
    for (int64_t b = 0; b < B; b++) { m1 += se[b] / T; m2 += se2[b] / T; }
    m1 /= B; m2 /= B;
    double v = 0;
    for (int64_t b = 0; b < B; b++) v += pow(se[b] / T - m1, 2);
    double sem = sqrt(v / (B - 1) / B), z = (m1 - r->mean_e) / sem;
    ck_assert_msg(fabs(z) < ZMAX, "%s: <E> = %g +- %g, exact %g (z = %.2f)", label, m1, sem, r->mean_e, z);
    /* C = beta^2 Var E / n, pooled, jackknife over chains */
    double c_all = beta * beta * (m2 - m1 * m1) / n, jv = 0, *cj = malloc((size_t)B * sizeof(double));
    double cjm = 0;
    for (int64_t b = 0; b < B; b++) {
        double a1 = (m1 * B - se[b] / T) / (B - 1), a2 = (m2 * B - se2[b] / T) / (B - 1);
        cj[b] = beta * beta * (a2 - a1 * a1) / n;
        cjm += cj[b] / B;
    }
    for (int64_t b = 0; b < B; b++) jv += pow(cj[b] - cjm, 2);
    double cse = sqrt(jv * (B - 1) / B), c_ex = beta * beta * r->var_e / n;
    z = (c_all - c_ex) / cse;
    ck_assert_msg(fabs(z) < ZMAX, "%s: C = %g +- %g, exact %g (z = %.2f)", label, c_all, cse, c_ex, z);
    /* CV marginal: each bin with exact probability > 1e-3 within ZMAX of its
     * SE (bins move together, e.g. two phases' weights, so a chi^2 over
     * bins would not follow chi^2_k; reported for information) */
    double chi2 = 0, zworst = 0;
    int k = 0;
    for (int g = 0; g < r->points; g++) {
        if (r->hist[g] <= 1e-3) continue;
        double pm = 0, pv = 0;
        for (int64_t b = 0; b < B; b++) pm += hist[b * r->points + g] / B;
        for (int64_t b = 0; b < B; b++) pv += pow(hist[b * r->points + g] - pm, 2);
        double psem = sqrt(pv / (B - 1) / B), zg = (pm - r->hist[g]) / psem;
        ck_assert_msg(psem > 0, "%s: CV bin %d (p = %g) never varied across chains", label, g, r->hist[g]);
        ck_assert_msg(fabs(zg) < ZMAX, "%s: CV bin %d: %g +- %g, exact %g (z = %.2f)", label, g, pm, psem, r->hist[g], zg);
        chi2 += zg * zg;
        if (fabs(zg) > fabs(zworst)) zworst = zg;
        k++;
    }
    fprintf(stderr, "%s: <E> %.4f +- %.4f (exact %.4f), C %.4f +- %.4f (exact %.4f), CV bins: worst z %.2f, "
            "sum z^2 %.1f / %d, acc %.3f\n", label, m1, sem, r->mean_e, c_all, cse, c_ex, zworst, chi2, k, tp_mc_acceptance(mc));
    free(e); free(s); free(se); free(se2); free(hist); free(cj);
}

static tp_model *ising(int L, double h) {
    tp_lattice *lat = tp_lattice_init_square(L, 1);
    double J = 1;
    tp_model *m = tp_model_init_ising(lat, 1, &J, h);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    return m;
}

static tp_model *potts(int L, int q) {
    tp_lattice *lat = tp_lattice_init_square(L, 1);
    double J = 1;
    tp_model *m = tp_model_init_potts(lat, q, 1, &J, 0);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    return m;
}

static tp_model *cubic_ising(int L) {
    tp_lattice *lat = tp_lattice_init_cubic(L, 1);
    double J = 1;
    tp_model *m = tp_model_init_ising(lat, 1, &J, 0.05);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    return m;
}

static tp_model *lat_ising(tp_lattice *lat, double h) {
    double J = 1;
    tp_model *m = tp_model_init_ising(lat, 1, &J, h);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* L x L triangular lattice (z = 6, not bipartite) */
static tp_lattice *triangular(int L) {
    const double prim[4] = { 1, 0, 0.5, 0.8660254037844386 }, basis[2] = { 0, 0 };
    const int32_t size[2] = { L, L };
    tp_lattice *lat = tp_lattice_init(2, prim, 1, basis, size, 1, "triangular");
    ck_assert_ptr_nonnull(lat);
    return lat;
}

static tp_model *potts_lat(tp_lattice *lat, int q, double h) {
    double J = 1;
    tp_model *m = tp_model_init_potts(lat, q, 1, &J, h);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    return m;
}

static tp_ce *cuau(void) {
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

static const int32_t ising_methods[4] = { TP_MC_METROPOLIS, TP_MC_HEATBATH, TP_MC_SW, TP_MC_WOLFF };
static const char *method_names[6] = { "", "metropolis", "heatbath", "swap", "swendsen-wang", "wolff" };

/* Ising 4x4 (checkerboard) at the critical beta and 3x3 (odd, no
 * checkerboard) with a field, for each method. */
START_TEST(test_mc_ising_vs_exact) {
    int k = _i;
    int32_t method = ising_methods[k];
    char label[64];
    tp_model *m = ising(4, 0);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    exact_ref r;
    double beta = 0.4407;
    exact(&r, m, beta, cv, -1, 1, 17);
    tp_mc *mc = tp_mc_init(m, 64, 11 + k, TP_MC_START_RANDOM);
    snprintf(label, sizeof label, "ising 4x4 %s", method_names[method]);
    check_sampler(mc, m, cv, &r, method, beta, 200, 2000, method == TP_MC_WOLFF ? 2 : 1, label);
    tp_mc_free(mc);
    tp_cv_free(cv);
    tp_model_free(m);
    if (method == TP_MC_WOLFF) return;   /* Wolff needs h = 0 */
    m = ising(3, 0.3);
    cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    beta = 0.6;
    exact(&r, m, beta, cv, -1, 1, 10);
    mc = tp_mc_init(m, 64, 21 + k, TP_MC_START_ZERO);
    snprintf(label, sizeof label, "ising 3x3 h=0.3 %s", method_names[method]);
    check_sampler(mc, m, cv, &r, method, beta, 200, 2000, 1, label);
    tp_mc_free(mc);
    tp_cv_free(cv);
    tp_model_free(m);
}
END_TEST

/* Potts q = 3 on 3x3 (no checkerboard) and 4x4 (checkerboard), CV = c_0. */
START_TEST(test_mc_potts_vs_exact) {
    int32_t method = ising_methods[_i];
    char label[64];
    for (int L = 3; L <= 4; L++) {
        if (L == 4 && method != TP_MC_METROPOLIS && method != TP_MC_SW) continue;   /* 3^16 enumeration: two methods */
        tp_model *m = potts(L, 3);
        tp_cv *cv = tp_cv_init(TP_CV_FRACTION, m->lat, 3, 0);
        exact_ref r;
        double beta = 1.005;
        exact(&r, m, beta, cv, 0, 1, L * L + 1);
        tp_mc *mc = tp_mc_init(m, 64, 31 + _i, TP_MC_START_RANDOM);
        snprintf(label, sizeof label, "potts %dx%d %s", L, L, method_names[method]);
        check_sampler(mc, m, cv, &r, method, beta, 200, 1500, 1, label);
        tp_mc_free(mc);
        tp_cv_free(cv);
        tp_model_free(m);
    }
}
END_TEST

/* Potts heat bath from the tabulated conditional distribution (q = 4, a
 * field favouring state 0) against exact enumeration of 4^9 states. */
START_TEST(test_mc_potts_heatbath_field_vs_exact) {
    tp_model *m = potts_lat(tp_lattice_init_square(3, 1), 4, 0.3);
    tp_cv *cv = tp_cv_init(TP_CV_FRACTION, m->lat, 4, 0);
    exact_ref r;
    exact(&r, m, 0.8, cv, 0, 1, 10);
    tp_mc *mc = tp_mc_init(m, 64, 77, TP_MC_START_RANDOM);
    check_sampler(mc, m, cv, &r, TP_MC_HEATBATH, 0.8, 200, 8000, 1, "potts q=4 h=0.3 3x3 heatbath");
    tp_mc_free(mc);
    tp_cv_free(cv);
    tp_model_free(m);
}
END_TEST

/* Cu-Au 2x2x4 (16 sites) at 680 K: semi-grand-canonical flips and heat
 * bath against tp_exact_run; CV x_Au. */
START_TEST(test_mc_cuau_sgc_vs_exact) {
    tp_ce *ce = cuau();
    tp_lattice *lat = tp_lattice_init_fcc(2, 2, 4, 1);
    tp_model *m = tp_model_init_ce(lat, ce, 0.0);
    tp_lattice_free(lat);
    ck_assert_ptr_nonnull(m);
    tp_cv *cv = tp_cv_init(TP_CV_FRACTION, m->lat, 2, 1);
    double beta = 1.0 / (8.617330337217213e-5 * 680);
    exact_ref r;
    exact(&r, m, beta, cv, 0, 1, 17);
    for (int k = 0; k < 2; k++) {
        int32_t method = k ? TP_MC_HEATBATH : TP_MC_METROPOLIS;
        tp_mc *mc = tp_mc_init(m, 64, 41 + k, TP_MC_START_RANDOM);
        check_sampler(mc, m, cv, &r, method, beta, 200, 2000, 1, k ? "cuau heatbath" : "cuau sgc metropolis");
        tp_mc_free(mc);
    }
    tp_cv_free(cv);
    tp_model_free(m);
    tp_ce_free(ce);
}
END_TEST

/* Canonical swaps conserve composition and sample the fixed-composition
 * ensemble: exact canonical <E> at x_Au = 1/4 and 1/2 by enumerating the
 * 2^16 states here. */
START_TEST(test_mc_cuau_swaps_canonical) {
    tp_ce *ce = cuau();
    tp_lattice *lat = tp_lattice_init_fcc(2, 2, 4, 1);
    tp_model *m = tp_model_init_ce(lat, ce, 0.0);
    tp_lattice_free(lat);
    double beta = 1.0 / (8.617330337217213e-5 * 500);
    int n = 16;
    for (int nau = 4; nau <= 8; nau += 4) {
        /* exact canonical <E>, Var E */
        double e_min = INFINITY, z = 0, s1 = 0, s2 = 0, *es = malloc(sizeof(double) << 16);
        uint8_t x[16];
        int cnt = 0;
        for (uint32_t st = 0; st < (1u << 16); st++) {
            if (__builtin_popcount(st) != nau) continue;
            for (int i = 0; i < n; i++) x[i] = (st >> i) & 1;
            es[cnt] = tp_model_energy(m, x);
            if (es[cnt] < e_min) e_min = es[cnt];
            cnt++;
        }
        for (int c = 0; c < cnt; c++) {
            double w = exp(-beta * (es[c] - e_min));
            z += w; s1 += w * es[c]; s2 += w * es[c] * es[c];
        }
        free(es);
        double me = s1 / z;
        /* chains start at a fixed composition */
        int64_t B = 64;
        tp_mc *mc = tp_mc_init(m, B, 51 + nau, TP_MC_START_ZERO);
        uint8_t *xs = tp_mc_states(mc);
        for (int64_t b = 0; b < B; b++)
            for (int i = 0; i < nau; i++) xs[b * n + (i * 5 + b) % n] = 1;
        for (int64_t b = 0; b < B; b++) {
            int c = 0;
            for (int i = 0; i < n; i++) c += xs[b * n + i];
            ck_assert_int_eq(c, nau);
        }
        ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_SWAP, beta, 200), TP_OK);
        double e[64], cm[64] = {0};
        int T = 2000;
        for (int t = 0; t < T; t++) {
            ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_SWAP, beta, 1), TP_OK);
            tp_mc_energies(mc, e);
            for (int64_t b = 0; b < B; b++) cm[b] += e[b] / T;
        }
        for (int64_t b = 0; b < B; b++) {
            int c = 0;
            for (int i = 0; i < n; i++) c += xs[b * n + i];
            ck_assert_int_eq(c, nau);   /* composition conserved */
        }
        double mu = 0, v = 0;
        for (int64_t b = 0; b < B; b++) mu += cm[b] / B;
        for (int64_t b = 0; b < B; b++) v += pow(cm[b] - mu, 2);
        double se = sqrt(v / (B - 1) / B), zz = (mu - me) / se;
        fprintf(stderr, "cuau swaps x=%d/16: <E> %.6f +- %.6f exact %.6f (z = %.2f)\n", nau, mu, se, me, zz);
        ck_assert_msg(fabs(zz) < ZMAX, "swaps nAu=%d: <E> %g +- %g, exact %g (z %.2f)", nau, mu, se, me, zz);
        tp_mc_free(mc);
    }
    tp_model_free(m);
    tp_ce_free(ce);
}
END_TEST

/* Same trajectories with 1 and 2 threads: chain-parallel, the checkerboard
 * split of one chain (512x512: enough work for the threaded path),
 * clusters and biased sampling.  Sizes are chosen so that every OpenMP
 * region really runs threaded (work >= 2^17 attempts). */
START_TEST(test_mc_threads_bit_identical) {
    tp_model *m = ising(64, 0), *big = ising(512, 0.1);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    double lo = -1, hi = 1, sg = 0.1;
    int32_t pts = 65;
    int64_t n = 64 * 64, nb = 512 * 512;
    uint8_t *ref[16] = {0};
    for (int th = 1; th <= 2; th++) {
        ck_assert_int_eq(tp_threads_set(th), TP_OK);
        int slot = 0;
        for (int B = 1; B <= 5; B += 4) {
            for (int k = 0; k < 4; k++) {
                tp_mc *mc = tp_mc_init(m, B, 99, TP_MC_START_RANDOM);
                if (k < 3) {
                    int32_t meth[3] = { TP_MC_METROPOLIS, TP_MC_HEATBATH, TP_MC_SW };
                    ck_assert_int_eq(tp_mc_sweep(mc, meth[k], 0.44, 40), TP_OK);
                } else {
                    tp_bias *bias = tp_bias_init(1, &lo, &hi, &pts, &sg, 1.0, 10, 1 / 0.44, 0);
                    double s[5];
                    for (int c = 0; c < 3; c++) {
                        ck_assert_int_eq(tp_mc_biased(mc, cv, bias, 0.44, 40 * n + 37, s), TP_OK);
                        tp_bias_deposit(bias, s, B);
                    }
                    tp_bias_free(bias);
                }
                if (th == 1) {
                    ref[slot] = malloc((size_t)(B * n));
                    memcpy(ref[slot], tp_mc_states(mc), (size_t)(B * n));
                } else {
                    ck_assert_msg(memcmp(ref[slot], tp_mc_states(mc), (size_t)(B * n)) == 0,
                                  "B = %d case %d differs between 1 and 2 threads", B, k);
                    free(ref[slot]);
                }
                slot++;
                tp_mc_free(mc);
            }
        }
        /* one big chain: the checkerboard colours split across threads */
        for (int k = 0; k < 2; k++) {
            tp_mc *mc = tp_mc_init(big, 1, 5, TP_MC_START_RANDOM);
            ck_assert_int_eq(tp_mc_sweep(mc, k ? TP_MC_HEATBATH : TP_MC_METROPOLIS, 0.44, 2), TP_OK);
            if (th == 1) {
                ref[slot] = malloc((size_t)nb);
                memcpy(ref[slot], tp_mc_states(mc), (size_t)nb);
            } else {
                ck_assert_msg(memcmp(ref[slot], tp_mc_states(mc), (size_t)nb) == 0,
                              "512x512 case %d differs between 1 and 2 threads", k);
                free(ref[slot]);
            }
            slot++;
            tp_mc_free(mc);
        }
    }
    tp_cv_free(cv);
    tp_model_free(m);
    tp_model_free(big);
}
END_TEST


/* The vector kernels (runtime/mc_vec.c) against the scalar loop: the same
 * configurations and acceptance.  Checkerboard (16 sites at a time):
 * Ising (Metropolis, heat bath; square and cubic), Potts (square, cubic
 * with a field), one chain (split over threads when large) and several.
 * Chains in lanes (16 chains at a time): square, triangular, fcc, cubic,
 * full and partial groups; cluster-expansion flips (Cu-Au 4x4x4).  On every instruction set and thread count,
 * and sweeps that start in the middle of a sweep (scalar path) then
 * continue aligned. */
START_TEST(test_mc_vector_kernels_match_scalar) {
    tp_ce *ce = cuau();
    tp_lattice *fcc444 = tp_lattice_init_fcc(4, 4, 4, 1);
    struct { tp_model *m; int32_t method; double beta; int B; } cs[] = {
        { ising(32, 0), TP_MC_METROPOLIS, 0.44, 3 },
        { ising(128, 0.1), TP_MC_METROPOLIS, 0.3, 1 },
        { ising(96, 0.2), TP_MC_HEATBATH, 0.5, 2 },
        { ising(128, -0.1), TP_MC_HEATBATH, 0.42, 3 },   /* rows of 64: the 64-site AVX-512 kernel */
        { cubic_ising(32), TP_MC_METROPOLIS, 0.22, 1 },
        { cubic_ising(32), TP_MC_HEATBATH, 0.25, 1 },
        { potts_lat(tp_lattice_init_square(128, 1), 3, 0), TP_MC_METROPOLIS, 1.0, 1 },
        { potts_lat(tp_lattice_init_square(128, 1), 4, 0.15), TP_MC_METROPOLIS, 1.1, 2 },   /* 64-site kernel, a field */
        { potts_lat(tp_lattice_init_square(64, 1), 5, 0.3), TP_MC_METROPOLIS, 1.2, 3 },
        { potts_lat(tp_lattice_init_cubic(32, 1), 4, -0.2), TP_MC_METROPOLIS, 0.6, 1 },
        /* chains in lanes: 16 or more chains, any lattice */
        { ising(16, 0), TP_MC_METROPOLIS, 0.44, 16 },
        { ising(16, 0.1), TP_MC_HEATBATH, 0.44, 20 },
        { lat_ising(triangular(12), 0.0), TP_MC_METROPOLIS, 0.3, 33 },
        { lat_ising(tp_lattice_init_fcc(4, 4, 4, 1), 0.05), TP_MC_METROPOLIS, 0.1, 16 },
        { lat_ising(tp_lattice_init_fcc(4, 4, 4, 1), 0.0), TP_MC_HEATBATH, 0.1, 9 },
        { potts_lat(tp_lattice_init_square(16, 1), 3, 0), TP_MC_METROPOLIS, 1.0, 128 },
        { potts_lat(tp_lattice_init_cubic(6, 1), 5, 0.3), TP_MC_METROPOLIS, 0.6, 17 },
        { potts_lat(triangular(12), 3, -0.2), TP_MC_METROPOLIS, 0.6, 16 },
        /* Potts heat bath: checkerboard and lanes */
        { potts_lat(tp_lattice_init_square(64, 1), 3, 0.1), TP_MC_HEATBATH, 1.0, 2 },
        { potts_lat(tp_lattice_init_cubic(32, 1), 3, 0), TP_MC_HEATBATH, 0.5, 1 },
        { potts_lat(tp_lattice_init_square(16, 1), 4, 0.3), TP_MC_HEATBATH, 1.1, 20 },
        { potts_lat(tp_lattice_init_fcc(4, 4, 4, 1), 3, 0), TP_MC_HEATBATH, 0.4, 16 },
        /* cluster-expansion flips in lanes */
        { tp_model_init_ce(fcc444, ce, 0.02), TP_MC_METROPOLIS, 1.0 / (8.617330337217213e-5 * 680), 20 },
    };
    const char *isa[3] = { "1", "avx2", "" };
    const int th0 = tp_threads_get();
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        tp_model *m = cs[k].m;
        int64_t n = m->n, B = cs[k].B;
        uint8_t *ref = malloc((size_t)(B * n));
        double acc_ref = 0;
        for (int v = 0; v < 7; v++) {   /* v 0: scalar; then ISA x threads */
            tp_mc_set_kernel(v == 0);
            if (v) setenv("TEMPERA_CPU_BASELINE", isa[(v - 1) / 2], 1);
            ck_assert_int_eq(tp_threads_set(v == 0 ? 1 : 1 + (v - 1) % 2), TP_OK);
            tp_mc *mc = tp_mc_init(m, B, 17 + k, TP_MC_START_RANDOM);
            ck_assert_int_eq(tp_mc_sweep(mc, cs[k].method, cs[k].beta, 3), TP_OK);
            if (cs[k].method == TP_MC_METROPOLIS && k == 0) {
                /* 37 attempts off the sweep boundary, then whole sweeps again */
                tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
                double lo = -1, hi = 1, sg = 0.1;
                int32_t pts = 33;
                tp_bias *bias = tp_bias_init(1, &lo, &hi, &pts, &sg, 0.0, 10, 1, 0);
                ck_assert_int_eq(tp_mc_biased(mc, cv, bias, cs[k].beta, n - 37, NULL), TP_OK);
                tp_bias_free(bias);
                tp_cv_free(cv);
                ck_assert_int_eq(tp_mc_sweep(mc, cs[k].method, cs[k].beta, 1), TP_OK);
            }
            ck_assert_int_eq(tp_mc_sweep(mc, cs[k].method, cs[k].beta, 4), TP_OK);
            if (v == 0) {
                memcpy(ref, tp_mc_states(mc), (size_t)(B * n));
                acc_ref = tp_mc_acceptance(mc);
            } else {
                ck_assert_msg(memcmp(ref, tp_mc_states(mc), (size_t)(B * n)) == 0,
                              "case %d (%s, %lld chains): ISA '%s', %d threads differ from the scalar loop",
                              (int)k, m->name, (long long)B, isa[(v - 1) / 2], 1 + (v - 1) % 2);
                ck_assert(tp_mc_acceptance(mc) == acc_ref);
            }
            tp_mc_free(mc);
        }
        free(ref);
        unsetenv("TEMPERA_CPU_BASELINE");
        tp_mc_set_kernel(0);
        tp_model_free(m);
    }
    tp_lattice_free(fcc444);
    tp_ce_free(ce);
    ck_assert_int_eq(tp_threads_set(th0), TP_OK);
}
END_TEST

/* WT-MetaD with a count-valued CV (magnetization, a fraction) on 8 or more
 * chains runs 16 chains side by side (runtime/mc_vec.c lanes_biased): the
 * same configurations, CVs, acceptance and deposited bias as the scalar
 * loop, on every instruction set and thread count, for Ising, Potts and
 * the Cu-Au cluster expansion (x_Au), full and partial groups of 16. */
START_TEST(test_mc_biased_lanes_match_scalar) {
    tp_ce *ce = cuau();
    tp_lattice *fcc444 = tp_lattice_init_fcc(4, 4, 4, 1);
    struct { tp_model *m; int kind, token, B; double lo, hi; } cs[] = {
        { ising(8, 0.1), TP_CV_MAGNETIZATION, 0, 16, -1, 1 },
        { potts_lat(tp_lattice_init_square(6, 1), 3, 0.2), TP_CV_FRACTION, 0, 20, 0, 1 },
        { potts_lat(tp_lattice_init_cubic(4, 1), 4, 0), TP_CV_FRACTION, 2, 9, 0, 1 },
        { lat_ising(triangular(8), 0), TP_CV_FRACTION, 1, 33, 0, 1 },
        { tp_model_init_ce(fcc444, ce, 0.01), TP_CV_FRACTION, 1, 20, 0, 1 },
    };
    const char *isa[3] = { "1", "avx2", "" };
    const int th0 = tp_threads_get();
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        tp_model *m = cs[k].m;
        int64_t n = m->n, B = cs[k].B;
        tp_cv *cv = tp_cv_init(cs[k].kind, m->lat, m->q, cs[k].token);
        ck_assert_ptr_nonnull(cv);
        uint8_t *ref = malloc((size_t)(B * n));
        double *s = malloc(sizeof(double) * (size_t)B), *sref = malloc(sizeof(double) * (size_t)B), vref[33], acc_ref = 0;
        for (int v = 0; v < 7; v++) {
            tp_mc_set_kernel(v == 0);
            if (v) setenv("TEMPERA_CPU_BASELINE", isa[(v - 1) / 2], 1);
            ck_assert_int_eq(tp_threads_set(v == 0 ? 1 : 1 + (v - 1) % 2), TP_OK);
            int32_t pts = 33;
            double sg = 0.05;
            tp_bias *bias = tp_bias_init(1, &cs[k].lo, &cs[k].hi, &pts, &sg, 0.5, 10, 2.0, 0);
            tp_mc *mc = tp_mc_init(m, B, 40 + k, TP_MC_START_RANDOM);
            for (int cyc = 0; cyc < 20; cyc++) {
                ck_assert_int_eq(tp_mc_biased(mc, cv, bias, 0.5, 3 * n + 5, s), TP_OK);
                ck_assert_int_eq(tp_bias_deposit(bias, s, B), TP_OK);
            }
            const double *vals = tp_bias_values(bias);
            if (v == 0) {
                memcpy(ref, tp_mc_states(mc), (size_t)(B * n));
                memcpy(sref, s, sizeof(double) * (size_t)B);
                memcpy(vref, vals, sizeof vref);
                acc_ref = tp_mc_acceptance(mc);
            } else {
                ck_assert_msg(memcmp(ref, tp_mc_states(mc), (size_t)(B * n)) == 0 &&
                              memcmp(sref, s, sizeof(double) * (size_t)B) == 0 && memcmp(vref, vals, sizeof vref) == 0,
                              "biased case %d (%s, %lld chains): ISA '%s', %d threads differ from the scalar loop",
                              (int)k, m->name, (long long)B, isa[(v - 1) / 2], 1 + (v - 1) % 2);
                ck_assert(tp_mc_acceptance(mc) == acc_ref);
            }
            tp_mc_free(mc);
            tp_bias_free(bias);
        }
        free(ref); free(s); free(sref);
        unsetenv("TEMPERA_CPU_BASELINE");
        tp_mc_set_kernel(0);
        tp_cv_free(cv);
        tp_model_free(m);
    }
    tp_lattice_free(fcc444);
    tp_ce_free(ce);
    ck_assert_int_eq(tp_threads_set(th0), TP_OK);
}
END_TEST

/* The checkerboard kernels sample the right distribution: Ising 32 x 32 at
 * beta 0.4 (Metropolis) and 0.38 (heat bath) against Kaufman's exact
 * <E> and heat capacity (derivatives of log Z by central differences). */
START_TEST(test_mc_checker_ising_vs_kaufman) {
    tp_model *m = ising(32, 0);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    const double betas[2] = { 0.4, 0.38 };
    for (int k = 0; k < 2; k++) {
        double b = betas[k], h = 1e-4;
        double l0 = tp_test_kaufman_log_z(32, 32, b);
        double lp = tp_test_kaufman_log_z(32, 32, b + h), lm = tp_test_kaufman_log_z(32, 32, b - h);
        exact_ref r = { .mean_e = -(lp - lm) / (2 * h), .var_e = (lp - 2 * l0 + lm) / (h * h), .points = 0 };
        tp_mc *mc = tp_mc_init(m, 16, 5 + k, TP_MC_START_RANDOM);
        check_sampler(mc, m, cv, &r, k ? TP_MC_HEATBATH : TP_MC_METROPOLIS, b, 300, 400, 4,
                      k ? "checkerboard heat bath 32x32" : "checkerboard Metropolis 32x32");
        tp_mc_free(mc);
    }
    tp_cv_free(cv);
    tp_model_free(m);
}
END_TEST

START_TEST(test_mc_bad_arguments) {
    tp_model *m = ising(4, 0.5);
    tp_mc *mc = tp_mc_init(m, 2, 1, 0);
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_METROPOLIS, 0, 1), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "beta must be > 0, got 0"), "%s", tp_last_error());
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_METROPOLIS, -1, 1), TP_ERR_ARG);
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_METROPOLIS, NAN, 1), TP_ERR_ARG);
    ck_assert_int_eq(tp_mc_sweep(mc, 42, 1, 1), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "unknown method 42"));
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_WOLFF, 1, 1), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "Wolff updates need h = 0"), "%s", tp_last_error());
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_METROPOLIS, 1, -3), TP_ERR_ARG);
    /* wrong CV dimension for the bias */
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    double lo[2] = { -1, -1 }, hi[2] = { 1, 1 }, sg[2] = { 0.1, 0.1 };
    int32_t pts[2] = { 5, 5 };
    tp_bias *b2 = tp_bias_init(2, lo, hi, pts, sg, 1, 10, 1, 0);
    ck_assert_int_eq(tp_mc_biased(mc, cv, b2, 1, 10, NULL), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "CV 'magnetization' has dimension 1 but the bias grid has 2"), "%s", tp_last_error());
    /* CV for another lattice size */
    tp_lattice *l3 = tp_lattice_init_square(3, 1);
    tp_cv *cv3 = tp_cv_init(TP_CV_MAGNETIZATION, l3, 2, 0);
    tp_bias *b1 = tp_bias_init(1, lo, hi, pts, sg, 1, 10, 1, 0);
    ck_assert_int_eq(tp_mc_biased(mc, cv3, b1, 1, 10, NULL), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "is for 9 sites"), "%s", tp_last_error());
    /* antiferromagnet: no clusters */
    double J = -1;
    tp_model *af = tp_model_init_ising(l3, 1, &J, 0);
    tp_mc *mca = tp_mc_init(af, 1, 1, 0);
    ck_assert_int_eq(tp_mc_sweep(mca, TP_MC_SW, 1, 1), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "ferromagnetic"), "%s", tp_last_error());
    ck_assert_ptr_null(tp_mc_init(m, 0, 1, 0));
    ck_assert_ptr_null(tp_mc_init(NULL, 1, 1, 0));
    uint8_t bad[32] = { 0 };
    bad[5] = 2;
    ck_assert_int_eq(tp_mc_set_states(mc, bad), TP_ERR_ARG);
    ck_assert_ptr_null(tp_wl_init(m, -32, 0, 17, 1));
    ck_assert(strstr(tp_last_error(), "bin width must be > 0"));
    tp_mc_free(mca); tp_model_free(af); tp_lattice_free(l3);
    tp_bias_free(b1); tp_bias_free(b2); tp_cv_free(cv3); tp_cv_free(cv);
    tp_mc_free(mc); tp_model_free(m);
    tp_mc_free(NULL);
}
END_TEST

/* Ctrl-C: sweeps return TP_ABORTED and the chains stay valid */
START_TEST(test_mc_abort) {
    tp_model *m = ising(8, 0);
    tp_mc *mc = tp_mc_init(m, 4, 1, 0);
    tp_interrupt_raise();
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_METROPOLIS, 0.4, 1000), TP_ABORTED);
    ck_assert_int_eq(tp_mc_sweep(mc, TP_MC_SW, 0.4, 1000), TP_ABORTED);
    tp_interrupt_clear();
    ck_assert_int_eq(tp_model_check(m, tp_mc_states(mc), 4), TP_OK);
    tp_mc_free(mc);
    tp_model_free(m);
}
END_TEST

/* Wang-Landau on 4x4 Ising against the exact density of states (2^16
 * states enumerated here).  With ln f_final = 1e-6 the statistical error of
 * ln g is a few 0.01 (Zhou & Bhatt 2005: ~ sqrt(ln f) per bin times the
 * correlation); we require max |d ln g| < 0.15 over the 15 reachable
 * energies after normalising both to sum g = 2^16. */
START_TEST(test_mc_wang_landau_ising) {
    tp_model *m = ising(4, 0);
    double gex[17] = { 0 };
    uint8_t x[16];
    for (uint32_t st = 0; st < (1u << 16); st++) {
        for (int i = 0; i < 16; i++) x[i] = (st >> i) & 1;
        int k = (int)lround((tp_model_energy(m, x) + 32) / 4);
        gex[k] += 1;
    }
    tp_wl *wl = tp_wl_init(m, -32, 4, 17, 7);
    ck_assert_ptr_nonnull(wl);
    ck_assert_int_eq(tp_wl_run(wl, 1.0, 1e-6, 0.8, 100, 0), TP_OK);
    double lg[17];
    ck_assert_int_eq(tp_wl_log_dos(wl, lg), TP_OK);
    /* normalise: log sum g = 16 log 2 */
    double mx = -INFINITY, s = 0;
    for (int k = 0; k < 17; k++) if (lg[k] > mx) mx = lg[k];
    for (int k = 0; k < 17; k++) if (isfinite(lg[k])) s += exp(lg[k] - mx);
    double shift = 16 * log(2.0) - (mx + log(s)), worst = 0;
    for (int k = 0; k < 17; k++) {
        ck_assert_msg((gex[k] > 0) == isfinite(lg[k]), "bin %d: exact g %g, WL visited %d", k, gex[k], isfinite(lg[k]));
        if (gex[k] == 0) continue;
        double d = fabs(lg[k] + shift - log(gex[k]));
        if (d > worst) worst = d;
    }
    fprintf(stderr, "wang-landau 4x4: %d halvings, %lld sweeps, max |d ln g| = %.3f\n",
            tp_wl_iterations(wl), (long long)tp_wl_sweeps(wl), worst);
    ck_assert_msg(worst < 0.15, "max |ln g - exact| = %g", worst);
    /* the 1/t schedule removes the halving schedule's saturation error:
     * its error is ~ sqrt(1/t) per bin; require max |d ln g| < 0.1 */
    tp_wl *w1 = tp_wl_init(m, -32, 4, 17, 8);
    ck_assert_int_eq(tp_wl_set_schedule(w1, 1), TP_OK);
    ck_assert_int_eq(tp_wl_run(w1, 1.0, 1e-6, 0.8, 100, 0), TP_OK);
    ck_assert_int_eq(tp_wl_log_dos(w1, lg), TP_OK);
    mx = -INFINITY; s = 0;
    for (int k = 0; k < 17; k++) if (lg[k] > mx) mx = lg[k];
    for (int k = 0; k < 17; k++) if (isfinite(lg[k])) s += exp(lg[k] - mx);
    shift = 16 * log(2.0) - (mx + log(s));
    double worst1 = 0;
    for (int k = 0; k < 17; k++) {
        if (gex[k] == 0) continue;
        double d = fabs(lg[k] + shift - log(gex[k]));
        if (d > worst1) worst1 = d;
    }
    fprintf(stderr, "wang-landau 4x4 1/t: %lld sweeps, max |d ln g| = %.3f\n", (long long)tp_wl_sweeps(w1), worst1);
    ck_assert_msg(worst1 < 0.1, "1/t: max |ln g - exact| = %g", worst1);
    ck_assert_int_eq(tp_wl_set_schedule(w1, 5), TP_ERR_ARG);
    tp_wl_free(w1);
    /* max_sweeps: a clear error */
    tp_wl *w2 = tp_wl_init(m, -32, 4, 17, 7);
    ck_assert_int_eq(tp_wl_run(w2, 1.0, 1e-8, 0.99, 10, 20), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "did not converge in 20 sweeps"), "%s", tp_last_error());
    tp_wl_free(w2);
    tp_wl_free(wl);
    tp_model_free(m);
}
END_TEST

/* WT-MetaD on 4x4 Ising at beta = 0.6 along m: the PMF from the bias
 * converges to the exact -kT log P(m) (RMSE after aligning minima < 0.3 kT),
 * and frozen-bias sampling reweighted with log w = beta V reproduces the
 * exact marginal (chi^2 over bins, SE from chains). */
START_TEST(test_mc_metad_ising_pmf) {
    tp_model *m = ising(4, 0);
    tp_cv *cv = tp_cv_init(TP_CV_MAGNETIZATION, m->lat, 2, 0);
    double beta = 0.6, kT = 1 / beta, lo = -1, hi = 1, sigma = 0.05;
    int32_t pts = 17;
    exact_ref r;
    exact(&r, m, beta, cv, lo, hi, pts);
    double fex[17];
    for (int g = 0; g < 17; g++) fex[g] = r.hist[g] > 0 ? -kT * log(r.hist[g]) : INFINITY;
    tp_bias *bias = tp_bias_init(1, &lo, &hi, &pts, &sigma, 0.1667 * 4, 10, kT, TP_BIAS_GAUSSIAN);
    int64_t B = 128;
    tp_mc *mc = tp_mc_init(m, B, 5, TP_MC_START_RANDOM);
    double *s = malloc((size_t)B * sizeof(double)), pmf[17], rmse = 0;
    for (int cyc = 0; cyc < 1000; cyc++) {
        ck_assert_int_eq(tp_mc_biased(mc, cv, bias, beta, 16 * 4, s), TP_OK);
        ck_assert_int_eq(tp_bias_deposit(bias, s, B), TP_OK);
    }
    tp_bias_pmf(bias, pmf);
    ck_assert_int_eq(tp_rw_pmf_rmse(&rmse, NULL, pmf, fex, 17), TP_OK);
    fprintf(stderr, "metad 4x4 ising: PMF RMSE %.3f kT after 1000 cycles\n", rmse / kT);
    ck_assert_msg(rmse / kT < 0.3, "PMF RMSE = %g kT", rmse / kT);
    /* frozen bias: reweight */
    int T = 1000;
    double *hw = calloc((size_t)B * 17, sizeof(double)), *wsum = calloc((size_t)B, sizeof(double)), lw;
    for (int t = 0; t < T; t++) {
        ck_assert_int_eq(tp_mc_biased(mc, cv, bias, beta, 16, s), TP_OK);
        for (int64_t b = 0; b < B; b++) {
            ck_assert_int_eq(tp_bias_log_weights(bias, &lw, s + b, 1, beta), TP_OK);
            double w = exp(lw);
            hw[b * 17 + grid_index(s[b], lo, hi, 17)] += w;
            wsum[b] += w;
        }
    }
    double chi2 = 0;
    int k = 0;
    for (int g = 0; g < 17; g++) {
        if (r.hist[g] <= 1e-3) continue;
        double pm = 0, pv = 0;
        for (int64_t b = 0; b < B; b++) pm += hw[b * 17 + g] / wsum[b] / B;
        for (int64_t b = 0; b < B; b++) pv += pow(hw[b * 17 + g] / wsum[b] - pm, 2);
        chi2 += pow(pm - r.hist[g], 2) / (pv / (B - 1) / B);
        k++;
    }
    fprintf(stderr, "metad 4x4 ising: reweighted marginal chi2 %.1f over %d bins\n", chi2, k);
    ck_assert_msg(chi2 < k + 5 * sqrt(2.0 * k), "reweighted marginal chi2 = %.1f over %d bins", chi2, k);
    free(s); free(hw); free(wsum);
    tp_mc_free(mc); tp_bias_free(bias); tp_cv_free(cv); tp_model_free(m);
}
END_TEST

START_TEST(test_obs_error_bars) {
    /* AR(1) x_t = a x_{t-1} + e_t: tau_int = (1 + a) / (2 (1 - a)) */
    double a = 0.8, tau_ex = (1 + a) / (2 * (1 - a));
    int64_t B = 16, T = 20000;
    double *x = malloc((size_t)(B * T) * sizeof(double));
    tp_rng r;
    tp_rng_init(&r, 3, 0);
    for (int64_t b = 0; b < B; b++) {
        double v = tp_rng_normal(&r) / sqrt(1 - a * a);
        for (int64_t t = 0; t < T; t++) { v = a * v + tp_rng_normal(&r); x[b * T + t] = v; }
    }
    tp_obs_stats st;
    ck_assert_int_eq(tp_obs_series(&st, x, B, T), TP_OK);
    /* tau within 10% (the windowed estimator's own error is ~ sqrt(2(2W+1)/N) tau, a few %) */
    ck_assert_msg(fabs(st.tau - tau_ex) < 0.1 * tau_ex, "tau %g, exact %g", st.tau, tau_ex);
    /* the three error bars agree within 20% (each has ~5-10% noise here) */
    ck_assert_msg(fabs(st.err_blocking / st.err - 1) < 0.2, "blocking %g vs tau %g", st.err_blocking, st.err);
    ck_assert_msg(fabs(st.err_chains / st.err - 1) < 0.3, "chains %g vs tau %g", st.err_chains, st.err);
    /* the mean (0) within 4.5 error bars */
    ck_assert(fabs(st.mean) < ZMAX * st.err);
    double tau;
    ck_assert_int_eq(tp_obs_tau_int(&tau, x, T), TP_OK);
    ck_assert(fabs(tau - tau_ex) < 0.3 * tau_ex);
    ck_assert_int_eq(tp_obs_series(&st, x, 1, 1), TP_ERR_ARG);
    /* PMF RMSE (the reweighting kernels' one) */
    double p1[3] = { 1, 2, INFINITY }, p2[3] = { 0, 2, 5 }, rm;
    int64_t used;
    ck_assert_int_eq(tp_rw_pmf_rmse(&rm, &used, p1, p2, 3), TP_OK);
    ck_assert(tp_close(rm, sqrt(0.5), TP_TOL_F64) && used == 2);
    free(x);
}
END_TEST

START_TEST(test_obs_corr) {
    /* all-up Ising: corr 1 at every r; stripes along x: (-1)^r along x, 1 along y */
    tp_lattice *lat = tp_lattice_init_square(4, 1);
    uint8_t x[16];
    memset(x, 1, 16);
    double c[3];
    ck_assert_int_eq(tp_obs_corr_rows(c, lat, x, 1, 0, 2, 2), TP_OK);
    for (int r = 0; r <= 2; r++) ck_assert(tp_close(c[r], 1, TP_TOL_F64));
    for (int i = 0; i < 16; i++) x[i] = (i % 4) & 1;
    ck_assert_int_eq(tp_obs_corr_rows(c, lat, x, 1, 0, 2, 2), TP_OK);
    ck_assert(tp_close(c[0], 1, TP_TOL_F64) && tp_close(c[1], 0, TP_TOL_F64) && tp_close(c[2], 1, TP_TOL_F64));
    ck_assert_int_eq(tp_obs_corr_rows(c, lat, x, 1, 1, 3, 1), TP_OK);
    ck_assert(tp_close(c[0], 2.0 / 3, TP_TOL_F64) && tp_close(c[1], 0.5 - 1.0 / 3, TP_TOL_F64));
    ck_assert_int_eq(tp_obs_corr_rows(c, lat, x, 1, 0, 2, 4), TP_ERR_ARG);
    tp_lattice_free(lat);
}
END_TEST

Suite *mc_suite(void) {
    Suite *s = suite_create("mc");
    TCase *tc = tp_test_tcase("mc", 120);
    tcase_add_loop_test(tc, test_mc_ising_vs_exact, 0, 4);
    tcase_add_loop_test(tc, test_mc_potts_vs_exact, 0, 4);
    tcase_add_test(tc, test_mc_potts_heatbath_field_vs_exact);
    tcase_add_test(tc, test_mc_cuau_sgc_vs_exact);
    tcase_add_test(tc, test_mc_cuau_swaps_canonical);
    tcase_add_test(tc, test_mc_threads_bit_identical);
    tcase_add_test(tc, test_mc_vector_kernels_match_scalar);
    tcase_add_test(tc, test_mc_biased_lanes_match_scalar);
    tcase_add_test(tc, test_mc_checker_ising_vs_kaufman);
    tcase_add_test(tc, test_mc_bad_arguments);
    tcase_add_test(tc, test_mc_abort);
    tcase_add_test(tc, test_mc_wang_landau_ising);
    tcase_add_test(tc, test_mc_metad_ising_pmf);
    tcase_add_test(tc, test_obs_error_bars);
    tcase_add_test(tc, test_obs_corr);
    suite_add_tcase(s, tc);
    return s;
}
