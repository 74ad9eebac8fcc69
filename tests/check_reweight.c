/*
 * tests/check_reweight.c -- the reweighting kernels (kernels/reweight.h)
 * against direct long-double computations written out here on random data,
 * including extreme log-weights (+-1e4, where exp() of a single weight
 * overflows a double but not a long double), streamed in uneven chunks;
 * the exact PMF of the 4x4 Ising model recovered from biased exact samples;
 * and CUDA against CPU for every twin (skipped without a device; without
 * one, every CUDA entry point must fail with TP_ERR_NO_CUDA).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"
#include "tolerance.h"
#include "reweight.h"
#include "philox.h"
#include "rw_boot.h"
#include "cuda.h"
#include "tp_ffi.h"

static double *rand_array(uint64_t seed, int64_t n, double lo, double hi) {
    tp_rng r; tp_rng_seed(&r, seed, 7);
    double *a = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * tp_rng_next_double(&r);
    return a;
}

/* log-weights spread over [-1e4, 1e4] with a cluster near the top so that
 * a handful carry the weight (NESS small but well defined) */
static double *extreme_logw(uint64_t seed, int64_t n) {
    double *a = rand_array(seed, n, -1e4, 1e4);
    for (int64_t i = 0; i < n; i += 7) a[i] = 1e4 - 3.0 * (double)(i % 11);
    return a;
}

static void direct_moments(long double out[6], const double *x, const double *lw, int64_t n) {
    long double mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) if (lw[i] > mx) mx = lw[i];
    long double sw = 0, sw2 = 0, swx = 0;
    for (int64_t i = 0; i < n; i++) {
        long double w = expl((long double)lw[i] - mx);
        sw += w; sw2 += w * w; swx += w * x[i];
    }
    long double mean = swx / sw, v = 0;
    for (int64_t i = 0; i < n; i++) {
        long double w = expl((long double)lw[i] - mx), d = x[i] - mean;
        v += w * d * d;
    }
    out[0] = n; out[1] = sw * sw / (n * sw2); out[2] = mx + logl(sw) - logl((long double)n);
    out[3] = mean; out[4] = v / sw; out[5] = n * out[1];
}

START_TEST(test_rw_logsumexp_matches_direct)
{
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = 5000;
        double *lw = pass ? extreme_logw(11, n) : rand_array(12, n, -5, 5);
        long double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) if (lw[i] > mx) mx = lw[i];
        for (int64_t i = 0; i < n; i++) s += expl((long double)lw[i] - mx);
        double got;
        ck_assert_int_eq(tp_rw_logsumexp_cpu(&got, lw, n), TP_OK);
        ck_assert_msg(tp_close(got, (double)(mx + logl(s)), TP_TOL_F64), "lse %.17g vs %.17Lg", got, mx + logl(s));
        /* normalised weights: non-negative, sum to one, each equal to the direct value */
        double *w = malloc(sizeof(double) * n);
        ck_assert_int_eq(tp_rw_normalize_cpu(w, lw, n), TP_OK);
        long double tot = 0;
        for (int64_t i = 0; i < n; i++) {
            ck_assert(w[i] >= 0.0 && w[i] <= 1.0);
            tot += w[i];
            double want = (double)(expl((long double)lw[i] - mx) / s);
            ck_assert_msg(tp_close(w[i], want, TP_TOL_F64), "w[%lld] %.17g vs %.17g", (long long)i, w[i], want);
        }
        ck_assert(tp_close((double)tot, 1.0, TP_TOL_F64));
        free(w); free(lw);
    }
    double out;
    ck_assert_int_eq(tp_rw_logsumexp_cpu(&out, NULL, 0), TP_OK);
    ck_assert(out == -INFINITY);
}
END_TEST

/* Streams x and lw in uneven chunks; the largest log-weights come last so
 * every chunk forces a rescale of the running sums. */
START_TEST(test_rw_moments_streaming_matches_direct)
{
    int64_t n = 60000;      /* the last chunks exceed the threading threshold */
    for (int pass = 0; pass < 3; pass++) {
        double *x = rand_array(21 + pass, n, -600, -400);   /* energies far from 0 */
        double *lw = pass == 0 ? rand_array(31, n, -3, 3) : extreme_logw(32 + pass, n);
        if (pass == 2) for (int64_t i = 0; i < n; i++) lw[i] += 1e-3 * (double)i;  /* rising */
        long double want[6];
        direct_moments(want, x, lw, n);
        double acc[TP_RW_NACC] = {0}, shift = -INFINITY, got[TP_RW_NSUMMARY];
        int64_t at = 0, step = 1;
        while (at < n) {
            int64_t m = at + step > n ? n - at : step;
            ck_assert_int_eq(tp_rw_moments_cpu(acc, &shift, x + at, lw + at, 1, m), TP_OK);
            at += m; step = step * 3 + 1;
        }
        ck_assert_int_eq(tp_rw_summary(got, acc, shift), TP_OK);
        const char *names[6] = { "n", "ness", "log_z", "mean", "var", "ess" };
        for (int k = 0; k < 6; k++)
            ck_assert_msg(tp_close(got[k], (double)want[k], TP_TOL_F64), "pass %d %s: %.17g vs %.17Lg",
                          pass, names[k], got[k], want[k]);
        ck_assert(got[1] > 0.0 && got[1] <= 1.0 && got[1] >= 1.0 / n);
        free(x); free(lw);
    }
    /* unit weights: NESS = 1, log Z = 0, plain mean and variance */
    double x[4] = { 1, 2, 3, 4 }, acc[TP_RW_NACC] = {0}, shift = -INFINITY, o[TP_RW_NSUMMARY];
    ck_assert_int_eq(tp_rw_moments_cpu(acc, &shift, x, NULL, 1, 4), TP_OK);
    tp_rw_summary(o, acc, shift);
    ck_assert(tp_close(o[1], 1.0, TP_TOL_F64) && tp_close(o[2], 0.0, TP_TOL_F64));
    ck_assert(tp_close(o[3], 2.5, TP_TOL_F64) && tp_close(o[4], 1.25, TP_TOL_F64));
}
END_TEST

START_TEST(test_rw_bad_logw_leaves_accumulator)
{
    double x[3] = { 1, 2, 3 }, lw[3] = { 0, NAN, 1 }, acc[TP_RW_NACC] = {0}, shift = -INFINITY;
    double hist[4] = {0};
    ck_assert_int_eq(tp_rw_moments_cpu(acc, &shift, x, lw, 1, 3), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "log-weight 1") != NULL);
    ck_assert(acc[0] == 0.0 && shift == -INFINITY);
    lw[1] = INFINITY;
    ck_assert_int_eq(tp_rw_hist1d_cpu(hist, &shift, x, lw, 0, 4, 4, 1, 3), TP_ERR_ARG);
    ck_assert(hist[0] == 0.0 && shift == -INFINITY);
    lw[1] = -INFINITY;                      /* a zero weight is fine */
    ck_assert_int_eq(tp_rw_hist1d_cpu(hist, &shift, x, lw, 0, 4, 4, 1, 3), TP_OK);
    ck_assert(hist[2] == 0.0 && hist[1] > 0.0);
    ck_assert_int_eq(tp_rw_hist1d_cpu(hist, &shift, x, lw, 1, 1, 4, 1, 3), TP_ERR_ARG);
    ck_assert_int_eq(tp_rw_corr_cpu(acc, &shift, (const uint8_t *)"\0\1\2\0", NULL, 2, 2, 0, 1), TP_ERR_ARG);
}
END_TEST

START_TEST(test_rw_hist_matches_direct)
{
    int64_t n = 70000;      /* chunks of 40000: above the kernels' threading threshold */
    const int nb = 37, nx = 9, ny = 13;
    double *xy = rand_array(41, 2 * n, -1.2, 1.2);     /* some fall outside [-1, 1] */
    double *lw = extreme_logw(42, n);
    long double mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) if (lw[i] > mx) mx = lw[i];
    long double h1[37] = {0}, h2[9 * 13] = {0};
    for (int64_t i = 0; i < n; i++) {
        long double w = expl((long double)lw[i] - mx);
        double u = xy[2 * i], v = xy[2 * i + 1];
        if (u < -1 || u > 1) continue;
        int b = (int)floor((u + 1) / 2 * nb); if (b == nb) b--;
        h1[b] += w;
        if (v < -0.5 || v > 0.7) continue;
        int by = (int)floor((v + 0.5) / 1.2 * ny); if (by == ny) by--;
        int bx = (int)floor((u + 1) / 2 * nx); if (bx == nx) bx--;
        h2[bx * ny + by] += w;
    }
    double hist[37] = {0}, hist2[9 * 13] = {0}, s1 = -INFINITY, s2 = -INFINITY;
    for (int64_t at = 0; at < n; at += 40000) {
        int64_t m = at + 40000 > n ? n - at : 40000;
        ck_assert_int_eq(tp_rw_hist1d_cpu(hist, &s1, xy + 2 * at, lw + at, -1, 1, nb, 2, m), TP_OK);
        ck_assert_int_eq(tp_rw_hist2d_cpu(hist2, &s2, xy + 2 * at, lw + at, -1, 1, -0.5, 0.7, nx, ny, 2, m), TP_OK);
    }
    /* compare in log space: the bins hold exp(log-weight - shift) */
    for (int k = 0; k < nb; k++) {
        if (h1[k] == 0) { ck_assert(hist[k] == 0.0); continue; }
        ck_assert_msg(tp_close(log(hist[k]) + s1, (double)(logl(h1[k]) + mx), TP_TOL_F64), "bin %d", k);
    }
    for (int k = 0; k < nx * ny; k++) {
        if (h2[k] == 0) { ck_assert(hist2[k] == 0.0); continue; }
        ck_assert_msg(tp_close(log(hist2[k]) + s2, (double)(logl(h2[k]) + mx), TP_TOL_F64), "2d bin %d", k);
    }
    /* the upper edge belongs to the last bin; NaN is skipped */
    double e[3] = { 1.0, NAN, -1.0 }, h[4] = {0}, s = -INFINITY;
    ck_assert_int_eq(tp_rw_hist1d_cpu(h, &s, e, NULL, -1, 1, 4, 1, 3), TP_OK);
    ck_assert(h[3] == 1.0 && h[0] == 1.0 && h[1] == 0.0 && h[2] == 0.0);
    free(xy); free(lw);
}
END_TEST

/* direct two-point function of one configuration, by the definition */
static double direct_g(const uint8_t *c, int L, int q, int r) {
    double s = 0;
    for (int y = 0; y < L; y++)
        for (int x = 0; x < L; x++) {
            int a = c[y * L + x], b = c[y * L + (x + r) % L], d = c[((y + r) % L) * L + x];
            if (q == 2) s += (2 * a - 1) * (2 * b - 1) + (2 * a - 1) * (2 * d - 1);
            else s += (a == b) + (a == d);
        }
    return s / (2.0 * L * L);
}

START_TEST(test_rw_corr_matches_direct)
{
    const int L = 6, rmax = 5;
    const int64_t n = 300, N = L * L;
    for (int q = 2; q <= 3; q++) {
        tp_rng r; tp_rng_seed(&r, 51, q);
        uint8_t *x = malloc(n * N);
        for (int64_t i = 0; i < n * N; i++) x[i] = (uint8_t)tp_rng_next_below(&r, q);
        /* correlated configurations: copy a neighbour's value half the time */
        for (int64_t i = 1; i < n * N; i++) if (tp_rng_next_double(&r) < 0.5) x[i] = x[i - 1];
        double *lw = rand_array(52, n, -4, 4);
        long double sw = 0, g[6] = {0}, sm = 0, sam = 0;
        for (int64_t b = 0; b < n; b++) {
            long double w = expl(lw[b]);
            sw += w;
            for (int rr = 0; rr <= rmax; rr++) g[rr] += w * direct_g(x + b * N, L, q, rr);
            int mag = 0;
            for (int i = 0; i < N; i++) mag += 2 * x[b * N + i] - 1;
            sm += w * mag / (double)N; sam += w * fabs(mag / (double)N);
        }
        double acc[6 + 4] = {0}, shift = -INFINITY;
        ck_assert_int_eq(tp_rw_corr_cpu(acc, &shift, x, lw, L, q, rmax, 100), TP_OK);
        ck_assert_int_eq(tp_rw_corr_cpu(acc, &shift, x + 100 * N, lw + 100, L, q, rmax, n - 100), TP_OK);
        for (int rr = 0; rr <= rmax; rr++)
            ck_assert_msg(tp_close(acc[rr] / acc[rmax + 1], (double)(g[rr] / sw), TP_TOL_F64), "q=%d r=%d", q, rr);
        ck_assert(tp_close(acc[0] / acc[rmax + 1], q == 2 ? 1.0 : 1.0, TP_TOL_F64));   /* g(0) = 1 */
        if (q == 2) {
            ck_assert(tp_close(acc[rmax + 2] / acc[rmax + 1], (double)(sm / sw), TP_TOL_F64));
            ck_assert(tp_close(acc[rmax + 3] / acc[rmax + 1], (double)(sam / sw), TP_TOL_F64));
        }
        free(x); free(lw);
    }
}
END_TEST

START_TEST(test_rw_js_pmf_rmse)
{
    double p[4] = { 1, 2, 3, 0 }, q[4] = { 0, 2, 1, 5 }, js;
    ck_assert_int_eq(tp_rw_js(&js, p, q, 4), TP_OK);
    double want = 0;
    for (int k = 0; k < 4; k++) {
        double a = p[k] / 6, b = q[k] / 8, m = (a + b) / 2;
        if (a > 0) want += 0.5 * a * log(a / m);
        if (b > 0) want += 0.5 * b * log(b / m);
    }
    ck_assert(tp_close(js, want, TP_TOL_F64));
    ck_assert_int_eq(tp_rw_js(&js, p, p, 4), TP_OK);
    ck_assert(fabs(js) < 1e-15);
    double a[2] = { 1, 0 }, b[2] = { 0, 3 };
    ck_assert_int_eq(tp_rw_js(&js, a, b, 2), TP_OK);
    ck_assert(tp_close(js, log(2.0), TP_TOL_F64));
    ck_assert_int_eq(tp_rw_js(&js, a, (double[2]){ 0, 0 }, 2), TP_ERR_ARG);

    double h[4] = { 1, 4, 0, 2 }, F[4];
    ck_assert_int_eq(tp_rw_pmf_cpu(F, h, 2.0, 4), TP_OK);
    ck_assert(tp_close(F[1], 0.0, TP_TOL_F64) && tp_close(F[0], 2.0 * log(4.0), TP_TOL_F64));
    ck_assert(isinf(F[2]) && tp_close(F[3], 2.0 * log(2.0), TP_TOL_F64));

    double V[3] = { 0, 3, 1 }, G[3];
    ck_assert_int_eq(tp_rw_pmf_from_bias(G, V, 10.0, 3), TP_OK);
    ck_assert(tp_close(G[1], 0.0, TP_TOL_F64) && tp_close(G[0], 3 * 10.0 / 9.0, TP_TOL_F64));
    ck_assert_int_eq(tp_rw_pmf_from_bias(G, V, 1.0, 3), TP_OK);
    ck_assert(tp_close(G[0], 3.0, TP_TOL_F64));

    /* RMSE ignores a constant offset and bins infinite in either PMF */
    double F1[5] = { 5, 6, 8, INFINITY, 7 }, F2[5] = { 0, 1.5, 3, 1, INFINITY }, rmse;
    int64_t used;
    ck_assert_int_eq(tp_rw_pmf_rmse(&rmse, &used, F1, F2, 5), TP_OK);
    ck_assert_int_eq(used, 3);
    ck_assert(tp_close(rmse, sqrt(0.25 / 3), TP_TOL_F64));

    double xs[6] = { 3, 9, NAN, -2, 7, 100 }, mm[2] = { INFINITY, -INFINITY };
    ck_assert_int_eq(tp_rw_minmax(mm, xs, 1, 3), TP_OK);
    ck_assert_int_eq(tp_rw_minmax(mm, xs + 3, 2, 1), TP_OK);    /* -2 only (stride 2) */
    ck_assert(mm[0] == -2 && mm[1] == 9);
}
END_TEST

/* Poisson bootstrap: independent of chunking, and its standard error of a
 * mean matches sigma / sqrt(n) for independent samples. */
START_TEST(test_rw_bootstrap)
{
    const int64_t n = 20000;
    const int32_t R = 400;
    double *x = rand_array(61, n, 0, 1);              /* sigma^2 = 1/12 */
    double *acc1 = calloc(R * TP_RW_NACC, sizeof(double)), *acc2 = calloc(R * TP_RW_NACC, sizeof(double));
    double s1 = -INFINITY, s2 = -INFINITY;
    ck_assert_int_eq(tp_rw_moments_boot_cpu(acc1, &s1, x, NULL, 9, 0, 1, 1, R, n), TP_OK);
    for (int64_t at = 0; at < n; at += 3000) {
        int64_t m = at + 3000 > n ? n - at : 3000;
        ck_assert_int_eq(tp_rw_moments_boot_cpu(acc2, &s2, x + at, NULL, 9, at, 1, 1, R, m), TP_OK);
    }
    double e1[TP_RW_NSUMMARY], e2[TP_RW_NSUMMARY];
    ck_assert_int_eq(tp_rw_boot_err(e1, acc1, s1, R), TP_OK);
    ck_assert_int_eq(tp_rw_boot_err(e2, acc2, s2, R), TP_OK);
    ck_assert(tp_close(e1[3], e2[3], TP_TOL_F64));
    double want = sqrt(1.0 / 12.0 / n);
    ck_assert_msg(fabs(e1[3] / want - 1) < TP_TOL_RW_BOOT_REL, "bootstrap se %g vs %g", e1[3], want);
    /* blocks of 100 identical values: the block bootstrap sees n/100 samples */
    for (int64_t i = 0; i < n; i++) x[i] = x[(i / 100) * 100];
    memset(acc1, 0, R * TP_RW_NACC * sizeof(double)); s1 = -INFINITY;
    ck_assert_int_eq(tp_rw_moments_boot_cpu(acc1, &s1, x, NULL, 9, 0, 100, 1, R, n), TP_OK);
    tp_rw_boot_err(e1, acc1, s1, R);
    want = sqrt(1.0 / 12.0 / (n / 100));
    ck_assert_msg(fabs(e1[3] / want - 1) < TP_TOL_RW_BOOT_REL, "block bootstrap se %g vs %g", e1[3], want);
    /* histogram bootstrap: same counts per replicate as the moments one */
    double *h = calloc((size_t)R * 4, sizeof(double)), sh = -INFINITY;
    ck_assert_int_eq(tp_rw_hist1d_boot_cpu(h, &sh, x, NULL, 0, 1, 9, 0, 100, 4, 1, R, n), TP_OK);
    for (int32_t j = 0; j < R; j++) {
        double tot = h[j * 4] + h[j * 4 + 1] + h[j * 4 + 2] + h[j * 4 + 3];
        ck_assert(tp_close(tot, acc1[j * TP_RW_NACC + 1], TP_TOL_F64));
    }
    double perr[4];
    ck_assert_int_eq(tp_rw_pmf_boot_err(perr, h, 1.0, R, 4), TP_OK);
    for (int k = 0; k < 4; k++) ck_assert(perr[k] > 0.0 && perr[k] < 0.5);
    /* the GPU's direct draw (one Philox block per replicate) equals the
     * CPU's sequential one, and the multiplicities are Poisson(1): mean and
     * variance 1 within 5 standard errors (var of the sample variance of
     * Poisson(1) is (mu4 - 1)/N = 3/N) */
    uint8_t k[R];
    double s1k = 0, s2k = 0;
    const int blocks = 300;
    for (int64_t blk = 0; blk < blocks; blk++) {
        tp_rw_boot_counts(k, 9, blk * 977 + 5, R);
        for (int32_t j = 0; j < R; j++) {
            ck_assert_int_eq(tp_rw_boot_count(9, blk * 977 + 5, j), k[j]);
            s1k += k[j]; s2k += (double)k[j] * k[j];
        }
    }
    const double N = (double)blocks * R, mk = s1k / N, vk = s2k / N - mk * mk;
    ck_assert_msg(fabs(mk - 1) < 5 * sqrt(1 / N), "Poisson mean %g", mk);
    ck_assert_msg(fabs(vk - 1) < 5 * sqrt(3 / N), "Poisson variance %g", vk);
    free(x); free(acc1); free(acc2); free(h);
}
END_TEST

/* Per-thread bootstrap and histogram buffers: with weights 1 and 0 and
 * values on a 1/8 grid every sum is exact, so the results must equal a
 * direct serial sum bit for bit, on 1 and 2 threads (n R above the
 * threading cut; R = 37 replicates and 5 bins, so the buffers are not whole
 * cache lines; blocks of 3 samples straddle the threads' halves). */
START_TEST(test_rw_bootstrap_threads_exact_sums)
{
    enum { R = 37, NB = 5 };
    const int64_t n = 40001, first = 5, block = 3;
    const uint64_t seed = 77;
    double *x = malloc(sizeof(double) * n), *lw = malloc(sizeof(double) * n);
    tp_rng r;
    tp_rng_seed(&r, 3, 0);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (double)tp_rng_next_below(&r, 33) / 8.0 - 2.0;   /* -2 .. 2 in steps of 1/8 */
        lw[i] = tp_rng_next_below(&r, 5) ? 0.0 : -INFINITY;     /* weights 1 and 0 */
    }
    /* direct: per replicate count, sw, sw2, s1, s2 about c = x[0]; histogram
     * of x over [-2, 2] in NB bins, plain and per replicate */
    double (*want)[5] = calloc(R, sizeof *want), *wh = calloc(R * NB, sizeof(double)), wh1[NB] = {0};
    uint8_t k[R];
    const double sx = NB / 4.0;
    for (int64_t i = 0; i < n; i++) {
        tp_rw_boot_counts(k, seed, (first + i) / block, R);
        double w = lw[i] == 0.0, d = x[i] - x[0];
        int b = (int)((x[i] + 2.0) * sx);
        if (b >= NB) b = NB - 1;
        wh1[b] += w;
        for (int32_t j = 0; j < R; j++) {
            want[j][0] += k[j]; want[j][1] += k[j] * w; want[j][2] += k[j] * w * w;
            want[j][3] += k[j] * w * d; want[j][4] += k[j] * w * d * d;
            wh[j * NB + b] += k[j] * w;
        }
    }
    const int th0 = tp_threads_get();
    for (int th = 1; th <= 2; th++) {
        ck_assert_int_eq(tp_threads_set(th), TP_OK);
        double acc[R * TP_RW_NACC] = {0}, h[R * NB] = {0}, h1[NB] = {0}, s = -INFINITY, sh = -INFINITY, s1 = -INFINITY;
        ck_assert_int_eq(tp_rw_moments_boot_cpu(acc, &s, x, lw, seed, first, block, 1, R, n), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_boot_cpu(h, &sh, x, lw, -2, 2, seed, first, block, NB, 1, R, n), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_cpu(h1, &s1, x, lw, -2, 2, NB, 1, n), TP_OK);
        ck_assert(s == 0.0 && sh == 0.0 && s1 == 0.0);
        for (int32_t j = 0; j < R; j++) {
            const double *a = acc + j * TP_RW_NACC, *e = want[j];
            double mean = x[0] + e[3] / e[1], m2 = e[4] - e[3] * e[3] / e[1];
            ck_assert_msg(a[0] == e[0] && a[1] == e[1] && a[2] == e[2] && a[3] == mean && a[4] == m2,
                          "%d threads, replicate %d: (%.17g %.17g %.17g %.17g %.17g) vs (%.17g %.17g %.17g %.17g %.17g)",
                          th, j, a[0], a[1], a[2], a[3], a[4], e[0], e[1], e[2], mean, m2);
        }
        ck_assert_msg(memcmp(h, wh, sizeof h) == 0, "%d threads: bootstrap histogram", th);
        ck_assert_msg(memcmp(h1, wh1, sizeof h1) == 0, "%d threads: histogram", th);
    }
    ck_assert_int_eq(tp_threads_set(th0), TP_OK);
    free(x); free(lw); free(want); free(wh);
}
END_TEST

/* General values (sums that round differently in another order): every
 * weighted statistic gives the same bits on 1 and 2 threads, the sums
 * running in fixed slices combined in order. */
START_TEST(test_rw_threads_bit_identical)
{
    enum { R = 20, NB = 16 };
    const int64_t n = 100003;
    double *x = malloc(sizeof(double) * 2 * n), *lw = malloc(sizeof(double) * n);
    tp_rng r;
    tp_rng_seed(&r, 9, 0);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = tp_rng_next_double(&r) * 2 - 1;
        x[2 * i + 1] = tp_rng_next_double(&r);
        lw[i] = 30 * tp_rng_next_double(&r) - 15;
    }
    int L = 8;
    uint8_t *cfg = malloc((size_t)(4096 * L * L));
    for (int64_t i = 0; i < 4096 * L * L; i++) cfg[i] = (uint8_t)tp_rng_next_below(&r, 2);
    double out[2][6 + TP_RW_NACC + NB + NB * NB + R * TP_RW_NACC + R * NB + 12];
    const int th0 = tp_threads_get();
    for (int th = 1; th <= 2; th++) {
        ck_assert_int_eq(tp_threads_set(th), TP_OK);
        double *o = out[th - 1];
        memset(o, 0, sizeof out[0]);
        double s[6] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY };
        int k = 0;
        ck_assert_int_eq(tp_rw_logsumexp_cpu(o + k, lw, n), TP_OK); k += 1;
        ck_assert_int_eq(tp_rw_moments_cpu(o + k, &s[0], x, lw, 2, n), TP_OK); k += TP_RW_NACC;
        ck_assert_int_eq(tp_rw_hist1d_cpu(o + k, &s[1], x, lw, -1, 1, NB, 2, n), TP_OK); k += NB;
        ck_assert_int_eq(tp_rw_hist2d_cpu(o + k, &s[2], x, lw, -1, 1, 0, 1, NB, NB, 2, n), TP_OK); k += NB * NB;
        ck_assert_int_eq(tp_rw_moments_boot_cpu(o + k, &s[3], x, lw, 5, 0, 4, 2, R, n), TP_OK); k += R * TP_RW_NACC;
        ck_assert_int_eq(tp_rw_hist1d_boot_cpu(o + k, &s[4], x, lw, -1, 1, 5, 0, 4, NB, 2, R, n), TP_OK); k += R * NB;
        ck_assert_int_eq(tp_rw_corr_cpu(o + k, &s[5], cfg, lw, L, 2, 3, 4096), TP_OK);
        for (int j = 0; j < 6; j++) o[sizeof out[0] / sizeof(double) - 6 + j] = s[j];
    }
    ck_assert_int_eq(tp_threads_set(th0), TP_OK);
    ck_assert_msg(memcmp(out[0], out[1], sizeof out[0]) == 0, "weighted statistics differ between 1 and 2 threads");
    free(x); free(lw); free(cfg);
}
END_TEST

/* ---- exact PMF of the 4x4 Ising model from biased exact samples ---------- */

static void ising44(int *E, int *M) {
    for (int st = 0; st < 1 << 16; st++) {
        int e = 0, m = 0;
        for (int i = 0; i < 16; i++) {
            int x = i % 4, y = i / 4, s = ((st >> i) & 1) * 2 - 1;
            int rgt = ((st >> (y * 4 + (x + 1) % 4)) & 1) * 2 - 1, dn = ((st >> (((y + 1) % 4) * 4 + x)) & 1) * 2 - 1;
            e -= s * (rgt + dn);
            m += s;
        }
        E[st] = e; M[st] = m;
    }
}

START_TEST(test_rw_pmf_exact_ising44)
{
    const double beta = 0.4407, kT = 1.0 / beta;
    int *E = malloc(sizeof(int) << 16), *M = malloc(sizeof(int) << 16);
    ising44(E, M);
    /* exact P(M) and PMF on the 17 values M = -16..16 step 2 */
    double P[17] = {0}, Fx[17];
    for (int st = 0; st < 1 << 16; st++) P[(M[st] + 16) / 2] += exp(-beta * (E[st] + 32));
    for (int k = 0; k < 17; k++) Fx[k] = -kT * log(P[k]);
    /* bias V = -0.9 F: the biased target is nearly flat in M */
    double V[17], *cdf = malloc(sizeof(double) << 16);
    for (int k = 0; k < 17; k++) V[k] = -0.9 * (Fx[k] - Fx[8]);
    double c = 0;
    for (int st = 0; st < 1 << 16; st++) { c += exp(-beta * (E[st] + 32 + V[(M[st] + 16) / 2])); cdf[st] = c; }
    const int64_t n = 200000;
    const int32_t R = 100;
    double *m = malloc(sizeof(double) * n), *lw = malloc(sizeof(double) * n);
    tp_rng r; tp_rng_seed(&r, 2024, 0);
    for (int64_t i = 0; i < n; i++) {
        double u = tp_rng_next_double(&r) * c;
        int lo = 0, hi = (1 << 16) - 1;
        while (lo < hi) { int mid = (lo + hi) / 2; if (cdf[mid] > u) hi = mid; else lo = mid + 1; }
        m[i] = M[lo] / 16.0;
        lw[i] = beta * V[(M[lo] + 16) / 2];          /* log w = beta V(s) (bias-based) */
    }
    double hist[17] = {0}, hu[17] = {0}, sh = -INFINITY, su = -INFINITY, F[17], Fu[17], rmse, rmse_u;
    double *hb = calloc(R * 17, sizeof(double)), sb = -INFINITY, err[17];
    ck_assert_int_eq(tp_rw_hist1d_cpu(hist, &sh, m, lw, -1 - 1 / 16.0, 1 + 1 / 16.0, 17, 1, n), TP_OK);
    ck_assert_int_eq(tp_rw_hist1d_cpu(hu, &su, m, NULL, -1 - 1 / 16.0, 1 + 1 / 16.0, 17, 1, n), TP_OK);
    ck_assert_int_eq(tp_rw_hist1d_boot_cpu(hb, &sb, m, lw, -1 - 1 / 16.0, 1 + 1 / 16.0, 5, 0, 1, 17, 1, R, n), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_cpu(F, hist, kT, 17), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_cpu(Fu, hu, kT, 17), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_boot_err(err, hb, kT, R, 17), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_rmse(&rmse, NULL, F, Fx, 17), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_rmse(&rmse_u, NULL, Fu, Fx, 17), TP_OK);
    /* statistical: F per bin is good to about kT/sqrt(n/17) = 0.02 */
    ck_assert_msg(rmse < TP_TOL_RW_PMF_RMSE, "reweighted PMF RMSE %g", rmse);
    ck_assert_msg(rmse_u > 1.0, "unweighted PMF should be wrong, RMSE %g", rmse_u);
    double fmin = INFINITY;
    for (int k = 0; k < 17; k++) if (Fx[k] < fmin) fmin = Fx[k];
    for (int k = 0; k < 17; k++) {
        double d = fabs((F[k]) - (Fx[k] - fmin) - (F[8] - (Fx[8] - fmin)));
        ck_assert_msg(d < TP_TOL_RW_PMF_SIGMAS * (err[k] + err[8]) + 1e-9, "bin %d off by %g (err %g)", k, d, err[k]);
    }
    free(E); free(M); free(cdf); free(m); free(lw); free(hb);
}
END_TEST

/* ---- CUDA against CPU ------------------------------------------------------ */

START_TEST(test_rw_cuda_matches_cpu)
{
    if (tp_cuda_device_count() <= 0) TP_TEST_SKIP("no CUDA device");
    const int64_t n = 50000;
    double *x = rand_array(71, 2 * n, -1.1, 1.1), *lw = extreme_logw(72, n);
    double a, b;
    ck_assert_int_eq(tp_rw_logsumexp_cpu(&a, lw, n), TP_OK);
    ck_assert_int_eq(tp_rw_logsumexp_cuda(&b, lw, n, NULL), TP_OK);
    ck_assert(tp_close(b, a, TP_TOL_F64));
    double *w1 = malloc(sizeof(double) * n), *w2 = malloc(sizeof(double) * n);
    ck_assert_int_eq(tp_rw_normalize_cpu(w1, lw, n), TP_OK);
    ck_assert_int_eq(tp_rw_normalize_cuda(w2, lw, n, NULL), TP_OK);
    for (int64_t i = 0; i < n; i++) ck_assert(tp_close(w2[i], w1[i], TP_TOL_F64));
    double acc1[TP_RW_NACC] = {0}, acc2[TP_RW_NACC] = {0}, s1 = -INFINITY, s2 = -INFINITY;
    double h1[31] = {0}, h2[31] = {0}, t1 = -INFINITY, t2 = -INFINITY;
    double g1[35] = {0}, g2[35] = {0}, u1 = -INFINITY, u2 = -INFINITY;
    for (int64_t at = 0; at < n; at += 20000) {
        int64_t m = at + 20000 > n ? n - at : 20000;
        ck_assert_int_eq(tp_rw_moments_cpu(acc1, &s1, x + 2 * at, lw + at, 2, m), TP_OK);
        ck_assert_int_eq(tp_rw_moments_cuda(acc2, &s2, x + 2 * at, lw + at, 2, m, NULL), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_cpu(h1, &t1, x + 2 * at, lw + at, -1, 1, 31, 2, m), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_cuda(h2, &t2, x + 2 * at, lw + at, -1, 1, 31, 2, m, NULL), TP_OK);
        ck_assert_int_eq(tp_rw_hist2d_cpu(g1, &u1, x + 2 * at, lw + at, -1, 1, -1, 1, 5, 7, 2, m), TP_OK);
        ck_assert_int_eq(tp_rw_hist2d_cuda(g2, &u2, x + 2 * at, lw + at, -1, 1, -1, 1, 5, 7, 2, m, NULL), TP_OK);
    }
    ck_assert(s1 == s2 && t1 == t2 && u1 == u2);
    for (int k = 0; k < TP_RW_NACC; k++) ck_assert_msg(tp_close(acc2[k], acc1[k], TP_TOL_F64), "acc[%d]", k);
    for (int k = 0; k < 31; k++) ck_assert(tp_close(h2[k], h1[k], TP_TOL_F64));
    for (int k = 0; k < 35; k++) ck_assert(tp_close(g2[k], g1[k], TP_TOL_F64));
    const int L = 8, rmax = 4, nc = 500;
    uint8_t *c = malloc(nc * L * L);
    tp_rng r; tp_rng_seed(&r, 73, 0);
    for (int q = 2; q <= 3; q++) {
        for (int i = 0; i < nc * L * L; i++) c[i] = (uint8_t)tp_rng_next_below(&r, q);
        double c1[8] = {0}, c2[8] = {0}, v1 = -INFINITY, v2 = -INFINITY;
        ck_assert_int_eq(tp_rw_corr_cpu(c1, &v1, c, lw, L, q, rmax, nc), TP_OK);
        ck_assert_int_eq(tp_rw_corr_cuda(c2, &v2, c, lw, L, q, rmax, nc, NULL), TP_OK);
        for (int k = 0; k < rmax + 4; k++) ck_assert_msg(tp_close(c2[k], c1[k], TP_TOL_F64), "corr q=%d [%d]", q, k);
    }
    /* bootstrap twins: same Philox multiplicities, so the replicate sums
     * agree up to summation order (uneven chunks, block bootstrap) */
    const int32_t R = 37;
    double *b1 = calloc((size_t)R * TP_RW_NACC, sizeof(double)), *b2 = calloc((size_t)R * TP_RW_NACC, sizeof(double));
    double *bw1 = calloc((size_t)R * TP_RW_NACC, sizeof(double)), *bw2 = calloc((size_t)R * TP_RW_NACC, sizeof(double));
    double *hb1 = calloc((size_t)R * 31, sizeof(double)), *hb2 = calloc((size_t)R * 31, sizeof(double));
    double p1 = -INFINITY, p2 = -INFINITY, q1 = -INFINITY, q2 = -INFINITY, z1 = -INFINITY, z2 = -INFINITY;
    for (int64_t at = 0; at < n; at += 17000) {
        int64_t m = at + 17000 > n ? n - at : 17000;
        ck_assert_int_eq(tp_rw_moments_boot_cpu(b1, &p1, x + 2 * at, lw + at, 5, at, 7, 2, R, m), TP_OK);
        ck_assert_int_eq(tp_rw_moments_boot_cuda(b2, &p2, x + 2 * at, lw + at, 5, at, 7, 2, R, m, NULL), TP_OK);
        ck_assert_int_eq(tp_rw_moments_boot_cpu(bw1, &z1, NULL, NULL, 6, at, 1, 1, R, m), TP_OK);
        ck_assert_int_eq(tp_rw_moments_boot_cuda(bw2, &z2, NULL, NULL, 6, at, 1, 1, R, m, NULL), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_boot_cpu(hb1, &q1, x + 2 * at, lw + at, -1, 1, 5, at, 3, 31, 2, R, m), TP_OK);
        ck_assert_int_eq(tp_rw_hist1d_boot_cuda(hb2, &q2, x + 2 * at, lw + at, -1, 1, 5, at, 3, 31, 2, R, m, NULL), TP_OK);
    }
    ck_assert(p1 == p2 && q1 == q2 && z1 == z2);
    for (int k = 0; k < R * TP_RW_NACC; k++) {
        ck_assert_msg(tp_close(b2[k], b1[k], TP_TOL_F64), "moments bootstrap [%d]: %.17g vs %.17g", k, b2[k], b1[k]);
        ck_assert_msg(tp_close(bw2[k], bw1[k], TP_TOL_F64), "weights bootstrap [%d]", k);
    }
    for (int k = 0; k < R * 31; k++) ck_assert_msg(tp_close(hb2[k], hb1[k], TP_TOL_F64), "hist bootstrap [%d]", k);
    /* PMFs and divergences on the histograms above (empty bins included) */
    double hz[31];
    memcpy(hz, h1, sizeof hz);
    hz[3] = 0.0; hz[17] = 0.0;
    double F1[31], F2[31], e1[31], e2[31];
    ck_assert_int_eq(tp_rw_pmf_cpu(F1, hz, 0.7, 31), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_cuda(F2, hz, 0.7, 31, NULL), TP_OK);
    for (int k = 0; k < 31; k++)
        ck_assert_msg(F1[k] == F2[k] || tp_close(F2[k], F1[k], TP_TOL_F64), "pmf [%d] %g vs %g", k, F2[k], F1[k]);
    ck_assert_int_eq(tp_rw_pmf_boot_err(e1, hb1, 0.7, R, 31), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_boot_err_cuda(e2, hb1, 0.7, R, 31, NULL), TP_OK);
    for (int k = 0; k < 31; k++)
        ck_assert_msg((isnan(e1[k]) && isnan(e2[k])) || tp_close(e2[k], e1[k], TP_TOL_F64), "pmf error [%d]", k);
    double V[301], G1[301], G2[301];
    for (int k = 0; k < 301; k++) V[k] = sin(0.05 * k) + 0.01 * k;
    for (int pass = 0; pass < 2; pass++) {
        double gamma = pass ? 1.0 : 8.0;
        ck_assert_int_eq(tp_rw_pmf_from_bias(G1, V, gamma, 301), TP_OK);
        ck_assert_int_eq(tp_rw_pmf_from_bias_cuda(G2, V, gamma, 301, NULL), TP_OK);
        for (int k = 0; k < 301; k++) ck_assert_msg(tp_close(G2[k], G1[k], TP_TOL_F64), "pmf from bias [%d]", k);
    }
    double r1, r2;
    int64_t used1, used2;
    ck_assert_int_eq(tp_rw_pmf_rmse(&r1, &used1, F1, G1, 31), TP_OK);
    ck_assert_int_eq(tp_rw_pmf_rmse_cuda(&r2, &used2, F1, G1, 31, NULL), TP_OK);
    ck_assert_int_eq(used1, used2);
    ck_assert(tp_close(r2, r1, TP_TOL_F64));
    double js1, js2;
    ck_assert_int_eq(tp_rw_js(&js1, hz, h2, 31), TP_OK);
    ck_assert_int_eq(tp_rw_js_cuda(&js2, hz, h2, 31, NULL), TP_OK);
    ck_assert(tp_close(js2, js1, TP_TOL_F64));
    /* argument errors come back as on the CPU */
    double neg[2] = { 1, -1 }, o;
    ck_assert_int_eq(tp_rw_js_cuda(&o, neg, neg, 2, NULL), TP_ERR_ARG);
    ck_assert_int_eq(tp_rw_pmf_cuda(F2, neg, 1.0, 2, NULL), TP_ERR_ARG);
    ck_assert_int_eq(tp_rw_pmf_rmse_cuda(&o, NULL, (double[1]){ INFINITY }, (double[1]){ 0 }, 1, NULL), TP_ERR_ARG);
    double bad[2] = { 0, NAN };
    ck_assert_int_eq(tp_rw_logsumexp_cuda(&o, bad, 2, NULL), TP_ERR_ARG);
    ck_assert_int_eq(tp_rw_moments_boot_cuda(b2, &p2, x, bad, 5, 0, 1, 2, R, 2, NULL), TP_ERR_ARG);
    ck_assert_int_eq(tp_rw_moments_cuda(acc2, &s2, x, lw, 2, 4, (void *)1), TP_ERR_ARG);   /* stream must be NULL */
    free(b1); free(b2); free(bw1); free(bw2); free(hb1); free(hb2);
    free(x); free(lw); free(w1); free(w2); free(c);
}
END_TEST

/* Without a device (CUDA compiled in or not) every _cuda entry point,
 * given valid arguments, returns TP_ERR_NO_CUDA with a message and leaves
 * its outputs alone. */
START_TEST(test_rw_cuda_stub_or_device)
{
    if (tp_cuda_device_count() > 0) TP_TEST_SKIP("a CUDA device is present (covered above)");
    double x[8] = { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8 }, lw[4] = { 0, 1, -1, 2 };
    double acc[2 * TP_RW_NACC] = {0}, shift = -INFINITY, h[2 * 4] = {0}, out[8] = {0}, one;
    int64_t used;
    uint8_t cfg[2 * 16] = {0};
    const int64_t n = 4;
#define NO_CUDA(call) do { \
        tp_status st_ = (call); \
        ck_assert_msg(st_ == TP_ERR_NO_CUDA, "%s returned %d, not TP_ERR_NO_CUDA", #call, (int)st_); \
        ck_assert_msg(strlen(tp_last_error()) > 0 && strstr(tp_last_error(), "CUDA"), \
                      "%s: message '%s'", #call, tp_last_error()); \
        ck_assert(shift == -INFINITY); \
        ncalls++; \
    } while (0)
    int ncalls = 0;
    NO_CUDA(tp_rw_logsumexp_cuda(&one, lw, n, NULL));
    NO_CUDA(tp_rw_normalize_cuda(out, lw, n, NULL));
    NO_CUDA(tp_rw_moments_cuda(acc, &shift, x, lw, 2, n, NULL));
    NO_CUDA(tp_rw_hist1d_cuda(h, &shift, x, lw, 0, 1, 4, 2, n, NULL));
    NO_CUDA(tp_rw_hist2d_cuda(h, &shift, x, lw, 0, 1, 0, 1, 2, 2, 2, n, NULL));
    NO_CUDA(tp_rw_corr_cuda(acc, &shift, cfg, lw, 4, 2, 2, 2, NULL));
    NO_CUDA(tp_rw_moments_boot_cuda(acc, &shift, x, lw, 1, 0, 1, 2, 2, n, NULL));
    NO_CUDA(tp_rw_hist1d_boot_cuda(h, &shift, x, lw, 0, 1, 1, 0, 1, 4, 2, 2, n, NULL));
    NO_CUDA(tp_rw_pmf_cuda(out, x, 1.0, 8, NULL));
    NO_CUDA(tp_rw_pmf_boot_err_cuda(out, x, 1.0, 2, 4, NULL));
    NO_CUDA(tp_rw_pmf_from_bias_cuda(out, x, 5.0, 8, NULL));
    NO_CUDA(tp_rw_pmf_rmse_cuda(&one, &used, x, x, 8, NULL));
    NO_CUDA(tp_rw_js_cuda(&one, x, x, 8, NULL));
#undef NO_CUDA
    /* every _cuda function declared in reweight.h was called above */
    FILE *f = fopen(tp_test_src_path("kernels/reweight.h"), "r");
    ck_assert_msg(f != NULL, "cannot read kernels/reweight.h");
    char line[512];
    int declared = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "TP_FFI tp_status tp_rw_", 23) == 0 && strstr(line, "_cuda(")) declared++;
    fclose(f);
    ck_assert_msg(ncalls == declared, "reweight.h declares %d CUDA twins, the test calls %d", declared, ncalls);
    for (int k = 0; k < 8; k++) ck_assert(out[k] == 0.0 && h[k] == 0.0);
    for (int k = 0; k < 2 * TP_RW_NACC; k++) ck_assert(acc[k] == 0.0);
}
END_TEST

Suite *reweight_suite(void) {
    Suite *s = suite_create("reweight");
    TCase *tc = tp_test_tcase("cpu", 60);
    tcase_add_test(tc, test_rw_logsumexp_matches_direct);
    tcase_add_test(tc, test_rw_moments_streaming_matches_direct);
    tcase_add_test(tc, test_rw_bad_logw_leaves_accumulator);
    tcase_add_test(tc, test_rw_hist_matches_direct);
    tcase_add_test(tc, test_rw_corr_matches_direct);
    tcase_add_test(tc, test_rw_js_pmf_rmse);
    tcase_add_test(tc, test_rw_bootstrap);
    tcase_add_test(tc, test_rw_bootstrap_threads_exact_sums);
    tcase_add_test(tc, test_rw_threads_bit_identical);
    tcase_add_test(tc, test_rw_pmf_exact_ising44);
    suite_add_tcase(s, tc);
    TCase *tg = tp_test_tcase("cuda", 60);
    tcase_add_test(tg, test_rw_cuda_matches_cpu);
    tcase_add_test(tg, test_rw_cuda_stub_or_device);
    suite_add_tcase(s, tg);
    return s;
}
