/*
 * runtime/marginal.h -- the element-wise pieces of a marginalization model
 * (man tempera-marginal(5)); the training loop itself is
 * stdlib/tempera/marginal.lua, built on the network primitives of
 * kernels/net.h.
 *
 * A marginalization model is a second lattice transformer phi whose scalar
 *   f(x_S) = sum_i logp_phi[i, 0](x_S)        (every site's log-probability
 *                                              of state 0, masked or not)
 * gives log p(x_S) = f(x_S) - f(empty) for a partial configuration x_S
 * (unrevealed sites hold the mask token q): the normalisation at the
 * empty configuration is exact by construction, the rest is learned.  It is
 * fitted to an any-order sampler theta by the consistency penalty
 *   ( f(x_sigma(<d)) + log p_theta(x_sigma(d) | x_sigma(<d)) - f(x_sigma(<=d)) )^2
 * over samples x, random orders sigma and steps d, in which f(empty) cancels.
 * Once fitted, log p(x) of a complete configuration costs one forward pass
 * instead of one per site.
 *
 * Random numbers: row r uses Philox stream (seed, stream0 + r) only, so the
 * rows do not depend on the thread count.
 */
#ifndef TP_MARGINAL_H
#define TP_MARGINAL_H

#include <stdint.h>
#include "common.h"

/* ffi:begin */
/* ---- marginalization models (runtime/marginal.c; tempera-marginal(5)) ---- */
/* Consistency rows for complete configurations x (rows, T), tokens < q:
 * row r draws a uniformly random order sigma and a step d uniform in 1..T;
 * before (rows, T) [out] reveals sigma(1..d-1) (other sites = q), upto
 * (rows, T) [out] reveals sigma(1..d), site (rows) [out] = sigma(d). */
TP_FFI tp_status tp_mam_prefix(uint8_t *before, uint8_t *upto, int32_t *site, const uint8_t *x,
                               uint64_t seed, uint64_t stream0, int32_t rows, int32_t T, int32_t q);
/* f (rows) [out] = sum_i logp[r, i, 0]; logp (rows, T, q). */
TP_FFI tp_status tp_mam_reduce(double *f, const float *logp, int32_t rows, int32_t T, int32_t q);
/* c (rows) [out] = logp[r, site[r], x[r, site[r]]]; logp (rows, T, q),
 * x (rows, T) tokens < q, site (rows) in 0..T-1. */
TP_FFI tp_status tp_mam_pick(double *c, const float *logp, const uint8_t *x, const int32_t *site,
                             int32_t rows, int32_t T, int32_t q);
/* Row weights of the consistency gradient, for the stacked rows
 * [before; upto] (2*rows): given fb, fu (rows) = f of those rows and c
 * (rows) = log p_theta(x_site | before), delta_r = fb_r + c_r - fu_r;
 * loss [out] = mean delta^2; rw (2*rows) [out] such that the gradient of
 * -sum_k rw_k f_k equals the gradient of the loss:
 * rw[r] = -2 delta_r / rows, rw[rows + r] = +2 delta_r / rows. */
TP_FFI tp_status tp_mam_weights(double *loss, double *rw, const double *fb, const double *fu,
                                const double *c, int32_t rows);
/* ffi:end */

#endif /* TP_MARGINAL_H */
