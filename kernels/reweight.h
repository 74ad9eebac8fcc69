/*
 * kernels/reweight.h -- self-normalised importance reweighting and the
 * metrics computed from weighted samples (man tempera-analysis(5)): log-sum-exp
 * and normalised weights, NESS, log Z-hat, weighted moments (mean, variance,
 * heat capacity), weighted 1-D and 2-D histograms, two-point correlations
 * of square-lattice configurations, PMFs (from histograms or from a bias
 * grid), RMSE between PMFs, Jensen-Shannon divergence, and Poisson
 * bootstrap error bars.  CPU reference in reweight_cpu.c, CUDA twin of
 * every kernel except the tiny summary/boot_err/scale/minmax helpers in
 * reweight_cuda.cu (stubs returning TP_ERR_NO_CUDA in reweight_stub.c when
 * CUDA is not compiled in).  Method notes: man/tempera-analysis.5.
 *
 * Streaming.  Every accumulating kernel ("acc", "hist" arguments) adds one
 * chunk of samples to running sums, so millions of samples read chunk by
 * chunk from a dump never have to be in memory together.  Weights are
 * w = exp(logw); the running sums hold them relative to exp(*shift), where
 * *shift is the largest log-weight seen so far (start it at -INFINITY and
 * the sums at zero).  When a chunk brings a larger log-weight, the stored
 * sums are rescaled first, so log-weights of any size (+-1e4 and beyond)
 * never overflow or underflow as a whole.  logw = NULL means unit weights
 * (plain averages).  A log-weight of -inf is a zero weight; NaN or +inf is
 * an argument error.  Each accumulator has its own shift: give every one
 * its own variable.
 *
 * Moments accumulator (TP_RW_NACC = 5 doubles):
 *   acc[0] = samples added, acc[1] = sum w, acc[2] = sum w^2,
 *   acc[3] = weighted mean of x, acc[4] = sum w (x - mean)^2
 * (weighted Welford/Chan merge, so the variance does not suffer from
 * cancellation).  tp_rw_summary turns it into NESS, log Z-hat, mean and
 * variance.
 *
 * Argument order: outputs, inputs, parameters, dimensions.  CPU kernels use
 * OpenMP; their sums may differ in the last bits between thread counts.
 * CUDA kernels take the same HOST pointers (the chunk is staged to the
 * device and the small accumulators copied back), so the two backends are
 * interchangeable in a streaming loop; a trailing stream (cudaStream_t or
 * NULL) is accepted for symmetry with other kernels and currently must be
 * NULL.  The CUDA kernels keep a grow-only device scratch area and are not
 * thread-safe.
 */
#ifndef TP_REWEIGHT_H
#define TP_REWEIGHT_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- reweighting and metrics (kernels/reweight*; tempera-analysis(5)) ---- */
enum { TP_RW_NACC = 5, TP_RW_NSUMMARY = 6 };

/* out: (1) = log sum_b exp(logw_b) [out]; logw: (n); n = 0 gives -inf. */
TP_FFI tp_status tp_rw_logsumexp_cpu(double *out, const double *logw, int64_t n);
/* w: (n) [out] = exp(logw - logsumexp(logw)), sums to 1 (w may be logw). */
TP_FFI tp_status tp_rw_normalize_cpu(double *w, const double *logw, int64_t n);

/* Moments of x under weights exp(logw), streaming (see above).
 * acc: (TP_RW_NACC) [in/out]; shift: (1) [in/out];
 * x: (n, stride), column 0 used [optional: NULL = weights only];
 * logw: (n) [optional: NULL = unit weights]. */
TP_FFI tp_status tp_rw_moments_cpu(double *acc, double *shift, const double *x, const double *logw,
                                   int32_t stride, int64_t n);
/* out: (TP_RW_NSUMMARY) [out] = { n, ness, log_z, mean, var, ess } with
 * ness = (sum w)^2 / (n sum w^2) in (0,1], ess = n * ness,
 * log_z = log((1/n) sum w) (log Z-hat when logw = log of target/proposal),
 * var = sum w (x-mean)^2 / sum w (the weighted population variance).
 * acc: (TP_RW_NACC); shift: the accumulator's shift. */
TP_FFI tp_status tp_rw_summary(double *out, const double *acc, double shift);

/* Weighted 1-D histogram, streaming: nbins equal bins on [lo, hi]; a value
 * equal to hi goes to the last bin; values outside [lo, hi] or NaN are
 * skipped.  hist: (nbins) [in/out]; shift: (1) [in/out];
 * x: (n, stride), column 0 used; logw: (n) [optional]. */
TP_FFI tp_status tp_rw_hist1d_cpu(double *hist, double *shift, const double *x, const double *logw,
                                  double lo, double hi, int32_t nbins, int32_t stride, int64_t n);
/* Weighted 2-D histogram: hist: (nx, ny) [in/out], row-major (x index
 * slow); xy: (n, stride), columns 0 and 1 used; logw: (n) [optional]. */
TP_FFI tp_status tp_rw_hist2d_cpu(double *hist, double *shift, const double *xy, const double *logw,
                                  double xlo, double xhi, double ylo, double yhi,
                                  int32_t nx, int32_t ny, int32_t stride, int64_t n);

/* Two-point correlation by distance on a periodic L x L square lattice
 * (row-major sites, site = y*L + x), streaming.  Per configuration
 *   g(r) = (1/(2 L^2)) sum_{x,y} [f(x,y; x+r,y) + f(x,y; x,y+r)],
 * f = s_i s_j with s = 2 x - 1 when q == 2 (Ising), f = delta(x_i, x_j)
 * when q > 2 (Potts).  acc: (rmax + 4) [in/out]:
 *   acc[r] = sum w g(r) for r = 0..rmax, acc[rmax+1] = sum w,
 *   acc[rmax+2] = sum w m, acc[rmax+3] = sum w |m| (m = mean spin; 0 for
 *   Potts).  Ising <s_i s_i+r> = acc[r]/acc[rmax+1]; connected: minus
 *   (acc[rmax+2]/acc[rmax+1])^2.  Potts: acc[r]/acc[rmax+1] - 1/q.
 * shift: (1) [in/out]; x: (n, L*L) tokens < q; logw: (n) [optional];
 * 0 <= rmax < L. */
TP_FFI tp_status tp_rw_corr_cpu(double *acc, double *shift, const uint8_t *x, const double *logw,
                                int32_t L, int32_t q, int32_t rmax, int64_t n);

/* Poisson bootstrap, streaming: replicate j gives sample i the weight
 * k_ij * w_i, k_ij ~ Poisson(1) drawn from Philox (seed, stream =
 * (first + i) / block), so the result does not depend on how the samples
 * were chunked or on the thread count; block > 1 resamples whole blocks of
 * consecutive samples (block bootstrap for correlated chains).
 * first: global index of x[0] in the whole stream.  All replicates share
 * one shift.  acc: (R, TP_RW_NACC) [in/out]; hist: (R, nbins) [in/out]. */
TP_FFI tp_status tp_rw_moments_boot_cpu(double *acc, double *shift, const double *x, const double *logw,
                                        uint64_t seed, int64_t first, int64_t block,
                                        int32_t stride, int32_t R, int64_t n);
TP_FFI tp_status tp_rw_hist1d_boot_cpu(double *hist, double *shift, const double *x, const double *logw,
                                       double lo, double hi, uint64_t seed, int64_t first, int64_t block,
                                       int32_t nbins, int32_t stride, int32_t R, int64_t n);
/* err: (TP_RW_NSUMMARY) [out] = standard deviation over the R replicates of
 * each tp_rw_summary entry (the bootstrap standard error; entry 0 is the
 * mean resampled size).  acc: (R, TP_RW_NACC); R >= 2. */
TP_FFI tp_status tp_rw_boot_err(double *err, const double *acc, double shift, int32_t R);

/* PMF from a weighted histogram: F = -kT log(hist / sum hist), shifted so
 * that min F = 0; empty bins get +inf.  F: (nbins) [out] (may be hist). */
TP_FFI tp_status tp_rw_pmf_cpu(double *F, const double *hist, double kT, int32_t nbins);
/* Bootstrap error of the PMF: err[k] = standard deviation over replicates
 * of -kT log p_j(k) (p_j the normalised replicate histogram), over the
 * replicates with p_j(k) > 0; NaN when fewer than 2.
 * err: (nbins) [out]; hist: (R, nbins). */
TP_FFI tp_status tp_rw_pmf_boot_err(double *err, const double *hist, double kT, int32_t R, int32_t nbins);
/* PMF from a well-tempered bias grid (man tempera-mc(5)):
 * F = -gamma/(gamma-1) V for gamma > 1, F = -V for gamma <= 1 (plain
 * metadynamics), shifted so min F = 0.  F: (n) [out] (may be V); V: (n). */
TP_FFI tp_status tp_rw_pmf_from_bias(double *F, const double *V, double gamma, int64_t n);
/* RMSE between two PMFs on the same grid after aligning their minima:
 * each is shifted by its own minimum over the bins where both are finite,
 * and the RMSE is taken over those bins (*used gets their number).
 * rmse: (1) [out]; used: (1) [out, optional]; F1, F2: (n). */
TP_FFI tp_status tp_rw_pmf_rmse(double *rmse, int64_t *used, const double *F1, const double *F2, int64_t n);
/* Jensen-Shannon divergence (natural log, in [0, log 2]) between two
 * histograms over the same bins, each normalised by its own sum.
 * js: (1) [out]; p, q: (n) non-negative, each with a positive sum. */
TP_FFI tp_status tp_rw_js(double *js, const double *p, const double *q, int64_t n);

/* out: (n) [out] = a * in (may alias): log-weights from e.g. beta V. */
TP_FFI tp_status tp_rw_scale(double *out, const double *in, double a, int64_t n);

/* Running range of x, streaming: mm: (2) [in/out] = { min, max } (start
 * at { +inf, -inf }); NaN values are skipped.  x: (n, stride), column 0. */
TP_FFI tp_status tp_rw_minmax(double *mm, const double *x, int32_t stride, int64_t n);

/* CUDA twins: same arguments (host pointers) plus stream (must be NULL);
 * every one returns TP_ERR_NO_CUDA when no device is present.  The
 * bootstrap twins draw the same Poisson multiplicities as the CPU
 * (kernels/rw_boot.h), so results match it up to summation order. */
TP_FFI tp_status tp_rw_logsumexp_cuda(double *out, const double *logw, int64_t n, void *stream);
TP_FFI tp_status tp_rw_normalize_cuda(double *w, const double *logw, int64_t n, void *stream);
TP_FFI tp_status tp_rw_moments_cuda(double *acc, double *shift, const double *x, const double *logw,
                                    int32_t stride, int64_t n, void *stream);
TP_FFI tp_status tp_rw_hist1d_cuda(double *hist, double *shift, const double *x, const double *logw,
                                   double lo, double hi, int32_t nbins, int32_t stride, int64_t n, void *stream);
TP_FFI tp_status tp_rw_hist2d_cuda(double *hist, double *shift, const double *xy, const double *logw,
                                   double xlo, double xhi, double ylo, double yhi,
                                   int32_t nx, int32_t ny, int32_t stride, int64_t n, void *stream);
TP_FFI tp_status tp_rw_corr_cuda(double *acc, double *shift, const uint8_t *x, const double *logw,
                                 int32_t L, int32_t q, int32_t rmax, int64_t n, void *stream);
TP_FFI tp_status tp_rw_moments_boot_cuda(double *acc, double *shift, const double *x, const double *logw,
                                         uint64_t seed, int64_t first, int64_t block,
                                         int32_t stride, int32_t R, int64_t n, void *stream);
TP_FFI tp_status tp_rw_hist1d_boot_cuda(double *hist, double *shift, const double *x, const double *logw,
                                        double lo, double hi, uint64_t seed, int64_t first, int64_t block,
                                        int32_t nbins, int32_t stride, int32_t R, int64_t n, void *stream);
TP_FFI tp_status tp_rw_pmf_cuda(double *F, const double *hist, double kT, int32_t nbins, void *stream);
TP_FFI tp_status tp_rw_pmf_boot_err_cuda(double *err, const double *hist, double kT, int32_t R, int32_t nbins,
                                         void *stream);
TP_FFI tp_status tp_rw_pmf_from_bias_cuda(double *F, const double *V, double gamma, int64_t n, void *stream);
TP_FFI tp_status tp_rw_pmf_rmse_cuda(double *rmse, int64_t *used, const double *F1, const double *F2, int64_t n,
                                     void *stream);
TP_FFI tp_status tp_rw_js_cuda(double *js, const double *p, const double *q, int64_t n, void *stream);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_REWEIGHT_H */
