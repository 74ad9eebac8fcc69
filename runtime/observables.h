/*
 * runtime/observables.h -- statistics of Monte Carlo output (tp_obs_*):
 * integrated autocorrelation times, blocking error bars, multi-chain
 * summaries, two-point correlation by distance, weighted histograms, and
 * the PMF RMSE used to judge metadynamics.  man tempera-mc(5).
 *
 * Series from many chains are (B, T) row-major: chain b's T samples in
 * order.  Everything is double and deterministic (no threads).
 */
#ifndef TP_OBSERVABLES_H
#define TP_OBSERVABLES_H

#include <stdint.h>
#include "common.h"
#include "lattice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- observables and error bars (runtime/observables.c) ------------------ */
typedef struct tp_obs_stats {
    double mean;         /* over all B*T samples */
    double var;          /* sample variance (1/(N-1)) */
    double tau;          /* integrated autocorrelation time (pooled over chains, >= 0.5) */
    double err;          /* sqrt(var * 2 tau / N): the error bar reported */
    double err_blocking; /* blocking (Flyvbjerg-Petersen) estimate */
    double err_chains;   /* sd of chain means / sqrt(B) (B >= 2, else NaN) */
    int64_t n;           /* B*T */
    int32_t window;      /* lag window used for tau (Sokal, c = 5) */
    int32_t pad_;
} tp_obs_stats;

/* Statistics of x: (B, T), B >= 1, T >= 2. */
TP_FFI tp_status tp_obs_series(tp_obs_stats *out, const double *x, int64_t B, int64_t T);
/* tau_int of one series x: (T) (Sokal's automatic window, c = 5). */
TP_FFI tp_status tp_obs_tau_int(double *tau, const double *x, int64_t T);
/* Blocking error of the mean of x: (T): halve until fewer than 32 blocks
 * remain and report the largest standard error seen (conservative plateau). */
TP_FFI tp_status tp_obs_blocking(double *err, const double *x, int64_t T);

/* Two-point correlation by distance of each configuration, along the
 * lattice axes (nbasis = 1 lattices: square, cubic, ...), averaged over
 * sites and axes -- the MC time series of G(r):
 *   kind 0 (Ising): <s_i s_{i + r e_a}>, s = 2x - 1;
 *   kind 1 (Potts): <delta(x_i, x_{i + r e_a})> - 1/q.
 * x: (B, n); out: (B, rmax + 1) [out], row b for configuration b,
 * r = 0..rmax, rmax < every axis length.  Weighted averages over samples,
 * histograms and PMF distances are kernels/reweight's (tp_rw_*). */
TP_FFI tp_status tp_obs_corr_rows(double *out, const tp_lattice *lat, const uint8_t *x, int64_t B,
                                  int32_t kind, int32_t q, int32_t rmax);

/* counts: (B, q) [out] number of sites holding each token, for x: (B, n).
 * Tokens >= q are not counted. */
TP_FFI tp_status tp_obs_token_counts(int32_t *counts, const uint8_t *x, int64_t B, int32_t n, int32_t q);

/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_OBSERVABLES_H */
