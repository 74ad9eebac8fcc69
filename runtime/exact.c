/*
 * runtime/exact.c -- exact enumeration (contract in runtime/exact.h).
 *
 * Chunk c fixes the top nfix sites to the base-q digits of c; the remaining
 * k = n - nfix sites run through the reflected q-ary Gray code, each step
 * moving one site by +-1 and updating E by tp_model_de and the CV's group
 * counts by one.  Per chunk and beta we keep a running log-sum-exp shift mx
 * and S0 = sum w, S1 = sum w (E - Eref), S2 = sum w (E - Eref)^2 and the
 * grid histogram, w = exp(-beta (E - Eref) - mx), Eref = E(all zeros).
 * Chunks are merged in order after the parallel loop.
 */
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_MAX_STATES (INT64_C(1) << 26)
#define EXACT_MAX_GRID (1 << 20)

int64_t tp_exact_states(const tp_model *m) {
    if (!m) return -1;
    int64_t s = 1;
    for (int32_t i = 0; i < m->n; i++) {
        s *= m->q;
        if (s > EXACT_MAX_STATES) return -1;
    }
    return s;
}

tp_status tp_exact_configs(int32_t q, int32_t n, uint8_t *out, int64_t first, int64_t count) {
    if (count > 0 && !out) return TP_ERROR(TP_ERR_ARG, "exact configs: NULL output");
    if (q < 2 || q > 256 || n < 1) return TP_ERROR(TP_ERR_ARG, "exact configs: need 2 <= q <= 256 and n >= 1");
    int64_t S = 1;
    for (int32_t i = 0; i < n; i++)
        if ((S *= q) > EXACT_MAX_STATES)
            return TP_ERROR(TP_ERR_ARG, "exact configs: %d^%d states exceed the enumeration limit", q, n);
    if (first < 0 || count < 0 || first > S - count)
        return TP_ERROR(TP_ERR_ARG, "exact configs: rows %lld..%lld outside 0..%lld", (long long)first,
                        (long long)(first + count - 1), (long long)(S - 1));
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < count; r++) {
        int64_t s = first + r;
        uint8_t *row = out + r * n;
        for (int32_t i = 0; i < n; i++) { row[i] = (uint8_t)(s % q); s /= q; }
    }
    return TP_OK;
}

typedef struct {
    double mx, s0, s1, s2;
} acc;

tp_status tp_exact_run(const tp_model *m, const double *beta, int32_t nbeta,
                       double *log_z, double *mean_e, double *var_e,
                       const tp_cv *cv, const double *lo, const double *hi,
                       const int32_t *points, double *hist) {
    if (!m) return TP_ERROR(TP_ERR_ARG, "exact: NULL model");
    if (nbeta < 1 || !beta || !log_z || !mean_e || !var_e) return TP_ERROR(TP_ERR_ARG, "exact: need at least one beta and output buffers");
    for (int32_t b = 0; b < nbeta; b++)
        if (!isfinite(beta[b])) return TP_ERROR(TP_ERR_ARG, "exact: beta[%d] is not finite", (int)b + 1);
    int64_t nstates = tp_exact_states(m);
    if (nstates < 0)
        return TP_ERROR(TP_ERR_ARG, "exact: %d sites with %d states is more than 2^26 configurations", (int)m->n, (int)m->q);
    int32_t n = m->n, q = m->q, G = 1, dim = 0;
    if (cv) {
        if (cv->n != n) return TP_ERROR(TP_ERR_ARG, "exact: the CV has %d sites, the model %d", (int)cv->n, (int)n);
        if (cv->q != q) return TP_ERROR(TP_ERR_ARG, "exact: the CV is for q = %d, the model has q = %d", (int)cv->q, (int)q);
        if (!lo || !hi || !points || !hist) return TP_ERROR(TP_ERR_ARG, "exact: a CV needs lo, hi, points and hist");
        dim = cv->dim;
        if (dim > 8) return TP_ERROR(TP_ERR_ARG, "exact: CV has %d dimensions (max 8)", (int)dim);
        for (int32_t d = 0; d < dim; d++) {
            if (points[d] < 2) return TP_ERROR(TP_ERR_ARG, "exact: grid dimension %d needs >= 2 points, got %d", (int)d + 1, (int)points[d]);
            if (!(hi[d] > lo[d])) return TP_ERROR(TP_ERR_ARG, "exact: grid dimension %d: range must have lo < hi", (int)d + 1);
            if ((int64_t)G * points[d] > EXACT_MAX_GRID) return TP_ERROR(TP_ERR_ARG, "exact: CV grid too large (max 2^20 points)");
            G *= points[d];
        }
    }
    /* chunking: fix the top nfix sites, q^nfix chunks (about 64 or more) */
    int32_t nfix = 0;
    int64_t nchunk = 1;
    while (nfix < n && nchunk < 64) { nchunk *= q; nfix++; }
    int32_t k = n - nfix;
    int64_t steps = nstates / nchunk;   /* states per chunk = q^k */
    int32_t hg = cv ? G : 0;
    acc *A = calloc((size_t)nchunk * (size_t)nbeta, sizeof(acc));
    double *H = hg ? calloc((size_t)nchunk * (size_t)nbeta * (size_t)hg, sizeof(double)) : NULL;
    if (!A || (hg && !H)) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory for %lld chunk accumulators", (long long)nchunk); }
    double eref;
    {
        uint8_t *z = calloc((size_t)n, 1);
        if (!z) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory"); }
        eref = tp_model_energy(m, z);
        free(z);
    }
    int failed = 0, aborted = 0;
    int32_t ng = cv ? cv->ngroup : 1;

    #pragma omp parallel
    {
        uint8_t *x = malloc((size_t)n);
        int32_t *cnt = malloc(sizeof(int32_t) * (size_t)k + 1);
        int8_t *dir = malloc((size_t)k + 1);
        int32_t *counts = calloc((size_t)ng * (size_t)q, sizeof(int32_t));
        double *lwb = malloc(sizeof(double) * (size_t)nbeta);
        if (!x || !cnt || !dir || !counts || !lwb) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunk; c++) {
            if (failed || aborted) continue;
            if (tp_abort_flag) {
                #pragma omp atomic write
                aborted = 1;
                continue;
            }
            memset(x, 0, (size_t)n);
            int64_t r = c;
            for (int32_t j = k; j < n; j++) { x[j] = (uint8_t)(r % q); r /= q; }
            for (int32_t j = 0; j < k; j++) { cnt[j] = 0; dir[j] = 1; }
            double e = tp_model_energy(m, x);
            acc *a = A + c * nbeta;
            double *h = hg ? H + c * nbeta * (int64_t)hg : NULL;
            if (cv) {
                memset(counts, 0, sizeof(int32_t) * (size_t)ng * (size_t)q);
                for (int32_t i = 0; i < n; i++) counts[cv->group[i] * q + x[i]]++;
            }
            for (int32_t b = 0; b < nbeta; b++) { a[b].mx = -beta[b] * (e - eref); a[b].s0 = a[b].s1 = a[b].s2 = 0; }
            for (int64_t t = 0;; t++) {
                /* accumulate the current state */
                double de = e - eref;
                int64_t gi = 0;
                if (cv) {
                    double v[8];
                    tp_cv_from_counts(cv, v, counts);
                    for (int32_t d = 0; d < dim; d++) {
                        double f = (v[d] - lo[d]) / (hi[d] - lo[d]) * (points[d] - 1);
                        int64_t ix = (int64_t)floor(f + 0.5);
                        if (ix < 0) ix = 0;
                        if (ix > points[d] - 1) ix = points[d] - 1;
                        gi = gi * points[d] + ix;
                    }
                }
                for (int32_t b = 0; b < nbeta; b++) {
                    double lw = -beta[b] * de;
                    acc *ab = &a[b];
                    if (lw > ab->mx) {
                        double sc = exp(ab->mx - lw);
                        ab->s0 *= sc; ab->s1 *= sc; ab->s2 *= sc;
                        if (h) for (int32_t g = 0; g < hg; g++) h[(int64_t)b * hg + g] *= sc;
                        ab->mx = lw;
                    }
                    double w = exp(lw - ab->mx);
                    ab->s0 += w; ab->s1 += w * de; ab->s2 += w * de * de;
                    if (h) h[(int64_t)b * hg + gi] += w;
                }
                if (t + 1 == steps) break;
                /* next Gray-code state */
                int32_t j = 0;
                while (cnt[j] == q - 1) { cnt[j] = 0; dir[j] = (int8_t)-dir[j]; j++; }
                cnt[j]++;
                int32_t old = x[j], nw = old + dir[j];
                e += tp_model_de(m, x, j, nw);
                x[j] = (uint8_t)nw;
                if (cv) {
                    int32_t g = cv->group[j];
                    counts[g * q + old]--;
                    counts[g * q + nw]++;
                }
            }
        }
        free(x); free(cnt); free(dir); free(counts); free(lwb);
    }
    if (failed) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory"); }
    if (aborted) { free(A); free(H); return TP_ABORTED; }
    /* merge chunks in order */
    for (int32_t b = 0; b < nbeta; b++) {
        double M = -INFINITY;
        for (int64_t c = 0; c < nchunk; c++) if (A[c * nbeta + b].mx > M) M = A[c * nbeta + b].mx;
        double s0 = 0, s1 = 0, s2 = 0;
        if (hg) memset(hist + (int64_t)b * hg, 0, sizeof(double) * (size_t)hg);
        for (int64_t c = 0; c < nchunk; c++) {
            const acc *a = &A[c * nbeta + b];
            double sc = exp(a->mx - M);
            s0 += sc * a->s0; s1 += sc * a->s1; s2 += sc * a->s2;
            if (hg) {
                const double *h = H + (c * nbeta + b) * (int64_t)hg;
                for (int32_t g = 0; g < hg; g++) hist[(int64_t)b * hg + g] += sc * h[g];
            }
        }
        double m1 = s1 / s0;
        log_z[b] = -beta[b] * eref + M + log(s0);
        mean_e[b] = eref + m1;
        var_e[b] = s2 / s0 - m1 * m1;
        if (var_e[b] < 0) var_e[b] = 0;
        if (hg) for (int32_t g = 0; g < hg; g++) hist[(int64_t)b * hg + g] /= s0;
    }
    free(A);
    free(H);
    return TP_OK;
}
