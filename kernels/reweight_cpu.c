/*
 * kernels/reweight_cpu.c -- CPU reference of the reweighting and metrics
 * kernels declared in reweight.h: the oracle the CUDA twin is tested
 * against.  Plain C99 with OpenMP.  All arithmetic is in double.
 *
 * Contract: accumulating kernels add one chunk to running sums held
 * relative to exp(*shift) (reweight.h explains the scheme); they validate
 * every log-weight (NaN or +inf is TP_ERR_ARG) before touching the sums, so
 * a failed call leaves the accumulator unchanged.  Every sum over samples
 * runs in RW_SLOTS fixed slices of the chunk, each with a private buffer on
 * cache lines of its own, combined in slice order, so results do not
 * depend on the thread count (threads take whole slices).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "reweight.h"
#include "rw_boot.h"

/* Below this many element operations a chunk runs on one thread: an
 * OpenMP region costs microseconds, and far more when the machine has more
 * runnable threads than cores. */
#define RW_PAR_MIN 32768

static int nthreads(int64_t work) {
#ifdef _OPENMP
    return work < RW_PAR_MIN ? 1 : omp_get_max_threads();
#else
    (void)work;
    return 1;
#endif
}

/* Sums over many samples run in RW_SLOTS fixed slices (slice k of n is
 * [n k / S, n (k + 1) / S)), each summed in order into its own buffer,
 * and the slices are combined in slice order: the same bits on any thread
 * count.  Below RW_PAR_MIN element operations, one slice (plain order). */
#define RW_SLOTS 8
static int nslots(int64_t work) { return work < RW_PAR_MIN ? 1 : RW_SLOTS; }
static int64_t slot_lo(int64_t n, int k, int ns) { return n * k / ns; }

/* Largest log-weight of a chunk (0 for unit weights, -inf for an empty or
 * all-zero-weight chunk); NaN and +inf are errors. */
static tp_status chunk_max(double *mx, const double *logw, int64_t n) {
    if (!logw) { *mx = n > 0 ? 0.0 : -INFINITY; return TP_OK; }
    double m = -INFINITY;
    int64_t bad = -1;
    #pragma omp parallel for reduction(max:m, bad) schedule(static) if(n >= RW_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double v = logw[i];
        if (isnan(v) || v == INFINITY) bad = i;   /* the last offender */
        else if (v > m) m = v;
    }
    if (bad >= 0)
        return TP_ERROR(TP_ERR_ARG, "log-weight %lld is %g (must be finite or -inf)", (long long)bad, logw[bad]);
    *mx = m;
    return TP_OK;
}

/* Raise *shift to newmax, rescaling len sums by exp(old - new) (power 1). */
static void rescale(double *a, int64_t len, double *shift, double newmax) {
    if (!(newmax > *shift)) return;
    double f = (*shift == -INFINITY) ? 0.0 : exp(*shift - newmax);
    for (int64_t k = 0; k < len; k++) a[k] *= f;
    *shift = newmax;
}

static inline double weight(const double *logw, int64_t i, double shift) {
    return logw ? exp(logw[i] - shift) : exp(-shift);
}

tp_status tp_rw_logsumexp_cpu(double *out, const double *logw, int64_t n) {
    if (!out || (n > 0 && !logw) || n < 0) return TP_ERROR(TP_ERR_ARG, "logsumexp: NULL array or n < 0");
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    if (m == -INFINITY) { *out = -INFINITY; return TP_OK; }
    double part[RW_SLOTS] = { 0 }, s = 0.0;
    const int ns = nslots(n);
    #pragma omp parallel for schedule(static) num_threads(nthreads(n))
    for (int k = 0; k < ns; k++) {
        double t = 0.0;
        for (int64_t i = slot_lo(n, k, ns); i < slot_lo(n, k + 1, ns); i++) t += exp(logw[i] - m);
        part[k] = t;
    }
    for (int k = 0; k < ns; k++) s += part[k];
    *out = m + log(s);
    return TP_OK;
}

tp_status tp_rw_normalize_cpu(double *w, const double *logw, int64_t n) {
    if (!w || !logw || n < 1) return TP_ERROR(TP_ERR_ARG, "normalize: NULL array or n < 1");
    double lse;
    TP_TRY(tp_rw_logsumexp_cpu(&lse, logw, n));
    if (lse == -INFINITY) return TP_ERROR(TP_ERR_ARG, "normalize: every weight is zero");
    #pragma omp parallel for schedule(static) if(n >= RW_PAR_MIN)
    for (int64_t i = 0; i < n; i++) w[i] = exp(logw[i] - lse);
    return TP_OK;
}

/* Merge a chunk's (n, sw, sw2, mean, m2) into acc (Chan et al.). */
static void merge_moments(double *acc, double n, double sw, double sw2, double mean, double m2) {
    acc[0] += n;
    if (sw <= 0.0) return;
    double W = acc[1] + sw;
    double d = mean - acc[3];
    acc[3] += d * (sw / W);
    acc[4] += m2 + d * d * acc[1] * sw / W;
    acc[1] = W;
    acc[2] += sw2;
}

static void rescale_moments(double *acc, double *shift, double newmax) {
    if (!(newmax > *shift)) return;
    double f = (*shift == -INFINITY) ? 0.0 : exp(*shift - newmax);
    acc[1] *= f; acc[2] *= f * f; acc[4] *= f;
    *shift = newmax;
}

tp_status tp_rw_moments_cpu(double *acc, double *shift, const double *x, const double *logw,
                            int32_t stride, int64_t n) {
    if (!acc || !shift || n < 0 || (x && stride < 1))
        return TP_ERROR(TP_ERR_ARG, "moments: NULL accumulator, n < 0 or stride < 1");
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    rescale_moments(acc, shift, m);
    const double s = *shift;
    if (m == -INFINITY) { acc[0] += (double)n; return TP_OK; }
    /* one pass over data shifted by c (a value near the mean) keeps the
     * variance free of cancellation: m2 = S2 - S1^2/sw about c */
    const double c = x ? (acc[1] > 0.0 ? acc[3] : x[0]) : 0.0;
    double part[RW_SLOTS][4] = { { 0 } }, sw = 0.0, sw2 = 0.0, s1 = 0.0, s2 = 0.0;
    const int ns = nslots(n);
    #pragma omp parallel for schedule(static) num_threads(nthreads(n))
    for (int k = 0; k < ns; k++) {
        double a = 0.0, a2 = 0.0, b1 = 0.0, b2 = 0.0;
        for (int64_t i = slot_lo(n, k, ns); i < slot_lo(n, k + 1, ns); i++) {
            double w = weight(logw, i, s);
            a += w; a2 += w * w;
            if (x) { double d = x[i * stride] - c; b1 += w * d; b2 += w * d * d; }
        }
        part[k][0] = a; part[k][1] = a2; part[k][2] = b1; part[k][3] = b2;
    }
    for (int k = 0; k < ns; k++) { sw += part[k][0]; sw2 += part[k][1]; s1 += part[k][2]; s2 += part[k][3]; }
    double mean = 0.0, m2 = 0.0;
    if (sw > 0.0 && x) {
        mean = c + s1 / sw;
        m2 = s2 - s1 * s1 / sw;
        if (m2 < 0.0) m2 = 0.0;
    }
    merge_moments(acc, (double)n, sw, sw2, mean, m2);
    return TP_OK;
}

tp_status tp_rw_summary(double *out, const double *acc, double shift) {
    if (!out || !acc) return TP_ERROR(TP_ERR_ARG, "summary: NULL array");
    double n = acc[0], sw = acc[1], sw2 = acc[2];
    out[0] = n;
    if (!(n > 0.0) || !(sw > 0.0)) {
        out[1] = 0.0; out[2] = -INFINITY; out[3] = NAN; out[4] = NAN; out[5] = 0.0;
        return TP_OK;
    }
    out[1] = sw * sw / (n * sw2);
    out[2] = shift + log(sw) - log(n);
    out[3] = acc[3];
    out[4] = acc[4] / sw;
    out[5] = n * out[1];
    return TP_OK;
}

/* nt per-slice buffers of len elements of size bytes, zeroed, or NULL:
 * 64-byte aligned and *stride elements apart (len rounded up to whole
 * cache lines), so no two threads ever write to the same cache line.
 * Release with free(). */
static void *thread_buffers(int nt, int64_t len, size_t size, int64_t *stride) {
    const int64_t per_line = 64 / (int64_t)size;
    *stride = (len + per_line - 1) / per_line * per_line;
    size_t bytes = (size_t)nt * (size_t)*stride * size;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

static tp_status hist_common(double *hist, double *shift, const double *x, const double *logw,
                             double xlo, double xhi, double ylo, double yhi,
                             int32_t nx, int32_t ny, int32_t stride, int64_t n, int two_d) {
    if (!hist || !shift || (n > 0 && !x) || n < 0)
        return TP_ERROR(TP_ERR_ARG, "histogram: NULL array or n < 0");
    if (nx < 1 || ny < 1 || stride < (two_d ? 2 : 1))
        return TP_ERROR(TP_ERR_ARG, "histogram: need bins >= 1 and stride >= %d", two_d ? 2 : 1);
    if (!(xhi > xlo) || !(yhi > ylo) || !isfinite(xlo) || !isfinite(xhi) || !isfinite(ylo) || !isfinite(yhi))
        return TP_ERROR(TP_ERR_ARG, "histogram: range must be finite with lo < hi");
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    int64_t len = (int64_t)nx * ny;
    rescale(hist, len, shift, m);
    if (m == -INFINITY) return TP_OK;
    const double s = *shift;
    const int ns = nslots(n);
    int64_t ld;
    double *buf = thread_buffers(ns, len, sizeof(double), &ld);
    if (!buf) return TP_ERROR(TP_ERR_NOMEM, "histogram: no memory for %d x %lld bins", ns, (long long)len);
    const double sx = nx / (xhi - xlo), sy = ny / (yhi - ylo);
    #pragma omp parallel for schedule(static) num_threads(nthreads(n))
    for (int sl = 0; sl < ns; sl++) {
        double *h = buf + (int64_t)sl * ld;
        for (int64_t i = slot_lo(n, sl, ns); i < slot_lo(n, sl + 1, ns); i++) {
            double v = x[i * stride];
            if (!(v >= xlo && v <= xhi)) continue;     /* also skips NaN */
            int64_t bx = (int64_t)((v - xlo) * sx);
            if (bx >= nx) bx = nx - 1;
            int64_t b = bx;
            if (two_d) {
                double u = x[i * stride + 1];
                if (!(u >= ylo && u <= yhi)) continue;
                int64_t by = (int64_t)((u - ylo) * sy);
                if (by >= ny) by = ny - 1;
                b = bx * ny + by;
            }
            h[b] += weight(logw, i, s);
        }
    }
    for (int t = 0; t < ns; t++)
        for (int64_t k = 0; k < len; k++) hist[k] += buf[(int64_t)t * ld + k];
    free(buf);
    return TP_OK;
}

tp_status tp_rw_hist1d_cpu(double *hist, double *shift, const double *x, const double *logw,
                           double lo, double hi, int32_t nbins, int32_t stride, int64_t n) {
    return hist_common(hist, shift, x, logw, lo, hi, 0.0, 1.0, nbins, 1, stride, n, 0);
}

tp_status tp_rw_hist2d_cpu(double *hist, double *shift, const double *xy, const double *logw,
                           double xlo, double xhi, double ylo, double yhi,
                           int32_t nx, int32_t ny, int32_t stride, int64_t n) {
    return hist_common(hist, shift, xy, logw, xlo, xhi, ylo, yhi, nx, ny, stride, n, 1);
}

tp_status tp_rw_corr_cpu(double *acc, double *shift, const uint8_t *x, const double *logw,
                         int32_t L, int32_t q, int32_t rmax, int64_t n) {
    if (!acc || !shift || (n > 0 && !x) || n < 0) return TP_ERROR(TP_ERR_ARG, "corr: NULL array or n < 0");
    if (L < 1 || q < 2 || q > 256 || rmax < 0 || rmax >= L)
        return TP_ERROR(TP_ERR_ARG, "corr: need L >= 1, 2 <= q <= 256, 0 <= rmax < L (L=%d q=%d rmax=%d)", L, q, rmax);
    const int64_t N = (int64_t)L * L;
    for (int64_t i = 0; i < n * N; i++)
        if (x[i] >= q) return TP_ERROR(TP_ERR_ARG, "corr: site value %d >= q = %d at %lld", x[i], q, (long long)i);
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    const int64_t len = rmax + 4;
    rescale(acc, len, shift, m);
    if (m == -INFINITY) return TP_OK;
    const double s = *shift;
    const int ns = nslots(n * N);
    int64_t ld;
    double *buf = thread_buffers(ns, len, sizeof(double), &ld);
    if (!buf) return TP_ERROR(TP_ERR_NOMEM, "corr: no memory");
    const double norm = 1.0 / (2.0 * (double)N);
    #pragma omp parallel for schedule(static) num_threads(nthreads(n * N))
    for (int sl = 0; sl < ns; sl++) {
        double *a = buf + (int64_t)sl * ld;
        for (int64_t b = slot_lo(n, sl, ns); b < slot_lo(n, sl + 1, ns); b++) {
            const uint8_t *c = x + b * N;
            double w = weight(logw, b, s);
            if (w == 0.0) continue;
            for (int32_t r = 0; r <= rmax; r++) {
                int64_t sum = 0;
                for (int32_t y = 0; y < L; y++) {
                    const uint8_t *row = c + (int64_t)y * L, *down = c + (int64_t)((y + r) % L) * L;
                    for (int32_t xx = 0; xx < L; xx++) {
                        int32_t xr = xx + r; if (xr >= L) xr -= L;
                        if (q == 2) {
                            int si = 2 * row[xx] - 1;
                            sum += si * (2 * row[xr] - 1) + si * (2 * down[xx] - 1);
                        } else {
                            sum += (row[xx] == row[xr]) + (row[xx] == down[xx]);
                        }
                    }
                }
                a[r] += w * (double)sum * norm;
            }
            a[rmax + 1] += w;
            if (q == 2) {
                int64_t mag = 0;
                for (int64_t i = 0; i < N; i++) mag += 2 * c[i] - 1;
                double mm = (double)mag / (double)N;
                a[rmax + 2] += w * mm;
                a[rmax + 3] += w * fabs(mm);
            }
        }
    }
    for (int t = 0; t < ns; t++)
        for (int64_t k = 0; k < len; k++) acc[k] += buf[(int64_t)t * ld + k];
    free(buf);
    return TP_OK;
}

/* ---- Poisson bootstrap ---------------------------------------------------- */

tp_status tp_rw_moments_boot_cpu(double *acc, double *shift, const double *x, const double *logw,
                                 uint64_t seed, int64_t first, int64_t block,
                                 int32_t stride, int32_t R, int64_t n) {
    TP_TRY(tp_rw_boot_args(shift, acc, first, block, R, n));
    if (x && stride < 1) return TP_ERROR(TP_ERR_ARG, "bootstrap: stride < 1");
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    if (m > *shift) {
        double old = *shift;
        for (int32_t j = 0; j < R; j++) { double s = old; rescale_moments(acc + j * TP_RW_NACC, &s, m); }
        *shift = m;
    }
    if (n == 0) return TP_OK;
    const double s = *shift;
    /* per replicate sums: count, sw, sw2, s1, s2 about c_j */
    const int ns = nslots(n * R);
    const int64_t len = (int64_t)R * 5;
    int64_t ld, kld;
    double *buf = thread_buffers(ns, len, sizeof(double), &ld);
    uint8_t *kk = thread_buffers(ns, R, 1, &kld);
    double *c = (double *)malloc((size_t)R * sizeof(double));
    if (!buf || !kk || !c) { free(buf); free(kk); free(c); return TP_ERROR(TP_ERR_NOMEM, "bootstrap: no memory"); }
    for (int32_t j = 0; j < R; j++) {
        const double *a = acc + j * TP_RW_NACC;
        c[j] = x ? (a[1] > 0.0 ? a[3] : x[0]) : 0.0;
    }
    #pragma omp parallel for schedule(static) num_threads(nthreads(n * R))
    for (int t = 0; t < ns; t++) {
        double *a = buf + (int64_t)t * ld;
        uint8_t *k = kk + (int64_t)t * kld;
        int64_t cur = -1;
        for (int64_t i = slot_lo(n, t, ns); i < slot_lo(n, t + 1, ns); i++) {
            int64_t blk = (first + i) / block;
            if (blk != cur) { tp_rw_boot_counts(k, seed, blk, R); cur = blk; }
            double w = s == -INFINITY ? 0.0 : weight(logw, i, s);   /* every weight so far zero */
            double v = x ? x[i * stride] : 0.0;
            for (int32_t j = 0; j < R; j++) {
                if (!k[j]) continue;
                double kw = k[j] * w, d = v - c[j];
                double *aj = a + j * 5;
                aj[0] += k[j]; aj[1] += kw; aj[2] += k[j] * w * w; aj[3] += kw * d; aj[4] += kw * d * d;
            }
        }
    }
    for (int t = 1; t < ns; t++)
        for (int64_t q = 0; q < len; q++) buf[q] += buf[(int64_t)t * ld + q];
    for (int32_t j = 0; j < R; j++) {
        const double *b = buf + j * 5;
        double sw = b[1], mean = 0.0, m2 = 0.0;
        if (sw > 0.0 && x) { mean = c[j] + b[3] / sw; m2 = b[4] - b[3] * b[3] / sw; if (m2 < 0.0) m2 = 0.0; }
        /* k * w^2 (not (k w)^2): a sample drawn k times counts as k samples */
        merge_moments(acc + j * TP_RW_NACC, b[0], sw, b[2], mean, m2);
    }
    free(buf); free(kk); free(c);
    return TP_OK;
}

tp_status tp_rw_hist1d_boot_cpu(double *hist, double *shift, const double *x, const double *logw,
                                double lo, double hi, uint64_t seed, int64_t first, int64_t block,
                                int32_t nbins, int32_t stride, int32_t R, int64_t n) {
    TP_TRY(tp_rw_boot_args(shift, hist, first, block, R, n));
    if ((n > 0 && !x) || nbins < 1 || stride < 1 || !(hi > lo) || !isfinite(lo) || !isfinite(hi))
        return TP_ERROR(TP_ERR_ARG, "bootstrap histogram: need x, bins >= 1, stride >= 1, finite lo < hi");
    double m;
    TP_TRY(chunk_max(&m, logw, n));
    const int64_t len = (int64_t)R * nbins;
    rescale(hist, len, shift, m);
    if (m == -INFINITY) return TP_OK;
    const double s = *shift, sx = nbins / (hi - lo);
    const int ns = nslots(n * R);
    int64_t ld, kld;
    double *buf = thread_buffers(ns, len, sizeof(double), &ld);
    uint8_t *kk = thread_buffers(ns, R, 1, &kld);
    if (!buf || !kk) { free(buf); free(kk); return TP_ERROR(TP_ERR_NOMEM, "bootstrap histogram: no memory"); }
    #pragma omp parallel for schedule(static) num_threads(nthreads(n * R))
    for (int t = 0; t < ns; t++) {
        double *h = buf + (int64_t)t * ld;
        uint8_t *k = kk + (int64_t)t * kld;
        int64_t cur = -1;
        for (int64_t i = slot_lo(n, t, ns); i < slot_lo(n, t + 1, ns); i++) {
            double v = x[i * stride];
            if (!(v >= lo && v <= hi)) continue;
            int64_t blk = (first + i) / block;
            if (blk != cur) { tp_rw_boot_counts(k, seed, blk, R); cur = blk; }
            int64_t b = (int64_t)((v - lo) * sx);
            if (b >= nbins) b = nbins - 1;
            double w = weight(logw, i, s);
            for (int32_t j = 0; j < R; j++) if (k[j]) h[(int64_t)j * nbins + b] += k[j] * w;
        }
    }
    for (int t = 0; t < ns; t++)
        for (int64_t q = 0; q < len; q++) hist[q] += buf[(int64_t)t * ld + q];
    free(buf); free(kk);
    return TP_OK;
}

tp_status tp_rw_boot_err(double *err, const double *acc, double shift, int32_t R) {
    if (!err || !acc || R < 2) return TP_ERROR(TP_ERR_ARG, "bootstrap error: NULL array or R < 2");
    double sum[TP_RW_NSUMMARY] = {0}, sum2[TP_RW_NSUMMARY] = {0};
    int cnt[TP_RW_NSUMMARY] = {0};
    for (int32_t j = 0; j < R; j++) {
        double o[TP_RW_NSUMMARY];
        tp_rw_summary(o, acc + j * TP_RW_NACC, shift);
        for (int k = 0; k < TP_RW_NSUMMARY; k++)
            if (isfinite(o[k])) { sum[k] += o[k]; sum2[k] += o[k] * o[k]; cnt[k]++; }
    }
    for (int k = 0; k < TP_RW_NSUMMARY; k++) {
        if (cnt[k] < 2) { err[k] = NAN; continue; }
        double mu = sum[k] / cnt[k], v = (sum2[k] - cnt[k] * mu * mu) / (cnt[k] - 1);
        err[k] = v > 0.0 ? sqrt(v) : 0.0;
    }
    return TP_OK;
}

/* ---- PMFs and divergences -------------------------------------------------- */

static void shift_min_to_zero(double *F, int64_t n) {
    double mn = INFINITY;
    for (int64_t k = 0; k < n; k++) if (F[k] < mn) mn = F[k];
    if (isfinite(mn)) for (int64_t k = 0; k < n; k++) F[k] -= mn;
}

tp_status tp_rw_pmf_cpu(double *F, const double *hist, double kT, int32_t nbins) {
    if (!F || !hist || nbins < 1 || !(kT > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: NULL array, bins < 1 or kT <= 0");
    double sum = 0.0;
    for (int32_t k = 0; k < nbins; k++) {
        if (!(hist[k] >= 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: histogram bin %d is %g", k, hist[k]);
        sum += hist[k];
    }
    if (!(sum > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: the histogram is empty");
    for (int32_t k = 0; k < nbins; k++) F[k] = hist[k] > 0.0 ? -kT * log(hist[k] / sum) : INFINITY;
    shift_min_to_zero(F, nbins);
    return TP_OK;
}

tp_status tp_rw_pmf_boot_err(double *err, const double *hist, double kT, int32_t R, int32_t nbins) {
    if (!err || !hist || nbins < 1 || R < 1 || !(kT > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf error: bad arguments");
    double *tot = (double *)calloc((size_t)R, sizeof(double));
    if (!tot) return TP_ERROR(TP_ERR_NOMEM, "pmf error: no memory");
    for (int32_t j = 0; j < R; j++)
        for (int32_t k = 0; k < nbins; k++) tot[j] += hist[(int64_t)j * nbins + k];
    for (int32_t k = 0; k < nbins; k++) {
        double s = 0.0, s2 = 0.0; int c = 0;
        for (int32_t j = 0; j < R; j++) {
            double h = hist[(int64_t)j * nbins + k];
            if (h > 0.0 && tot[j] > 0.0) { double f = -kT * log(h / tot[j]); s += f; s2 += f * f; c++; }
        }
        if (c < 2) { err[k] = NAN; continue; }
        double mu = s / c, v = (s2 - c * mu * mu) / (c - 1);
        err[k] = v > 0.0 ? sqrt(v) : 0.0;
    }
    free(tot);
    return TP_OK;
}

tp_status tp_rw_pmf_from_bias(double *F, const double *V, double gamma, int64_t n) {
    if (!F || !V || n < 1 || isnan(gamma)) return TP_ERROR(TP_ERR_ARG, "pmf from bias: NULL array, n < 1 or NaN gamma");
    double f = gamma > 1.0 ? -gamma / (gamma - 1.0) : -1.0;
    for (int64_t k = 0; k < n; k++) F[k] = f * V[k];
    shift_min_to_zero(F, n);
    return TP_OK;
}

tp_status tp_rw_pmf_rmse(double *rmse, int64_t *used, const double *F1, const double *F2, int64_t n) {
    if (!rmse || !F1 || !F2 || n < 1) return TP_ERROR(TP_ERR_ARG, "pmf rmse: NULL array or n < 1");
    double m1 = INFINITY, m2 = INFINITY;
    int64_t c = 0;
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(F1[k]) || !isfinite(F2[k])) continue;
        if (F1[k] < m1) m1 = F1[k];
        if (F2[k] < m2) m2 = F2[k];
        c++;
    }
    if (used) *used = c;
    if (c == 0) return TP_ERROR(TP_ERR_ARG, "pmf rmse: no bin is finite in both PMFs");
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(F1[k]) || !isfinite(F2[k])) continue;
        double d = (F1[k] - m1) - (F2[k] - m2);
        s += d * d;
    }
    *rmse = sqrt(s / (double)c);
    return TP_OK;
}

tp_status tp_rw_js(double *js, const double *p, const double *q, int64_t n) {
    if (!js || !p || !q || n < 1) return TP_ERROR(TP_ERR_ARG, "js: NULL array or n < 1");
    double sp = 0.0, sq = 0.0;
    for (int64_t k = 0; k < n; k++) {
        if (!(p[k] >= 0.0) || !(q[k] >= 0.0) || !isfinite(p[k]) || !isfinite(q[k]))
            return TP_ERROR(TP_ERR_ARG, "js: bin %lld is negative or not finite", (long long)k);
        sp += p[k]; sq += q[k];
    }
    if (!(sp > 0.0) || !(sq > 0.0)) return TP_ERROR(TP_ERR_ARG, "js: a histogram is empty");
    double d = 0.0;
    for (int64_t k = 0; k < n; k++) {
        double a = p[k] / sp, b = q[k] / sq, mm = 0.5 * (a + b);
        if (a > 0.0) d += 0.5 * a * log(a / mm);
        if (b > 0.0) d += 0.5 * b * log(b / mm);
    }
    *js = d < 0.0 ? 0.0 : d;
    return TP_OK;
}

tp_status tp_rw_scale(double *out, const double *in, double a, int64_t n) {
    if (!out || !in || n < 0) return TP_ERROR(TP_ERR_ARG, "scale: NULL array or n < 0");
    #pragma omp parallel for schedule(static) if(n >= RW_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = a * in[i];
    return TP_OK;
}

tp_status tp_rw_minmax(double *mm, const double *x, int32_t stride, int64_t n) {
    if (!mm || (n > 0 && !x) || n < 0 || stride < 1) return TP_ERROR(TP_ERR_ARG, "minmax: NULL array, n < 0 or stride < 1");
    double lo = mm[0], hi = mm[1];
    #pragma omp parallel for reduction(min:lo) reduction(max:hi) schedule(static) if(n >= RW_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * stride];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    mm[0] = lo; mm[1] = hi;
    return TP_OK;
}
