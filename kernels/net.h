/*
 * kernels/net.h -- a lattice transformer with its training state on one
 * backend: parameters, gradients, Adam m and v and the EMA copy in one slab
 * (same layout, tp_tf_layout), activations and scratch for 'chunk' rows in
 * another.  Larger batches are processed chunk by chunk (gradients
 * accumulate), so memory is bounded and nothing is allocated per step.
 *
 * Random numbers: every row draws from its own Philox stream
 * (seed, stream0 + row), so results do not depend on the backend, the
 * thread count or the chunk size.
 * All array arguments are host memory (copied to the device as needed).
 */
#ifndef TP_NET_H
#define TP_NET_H

#include "common.h"
#include "transformer.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
typedef struct tp_net tp_net;

/* slabs sharing the parameter layout, for tp_net_get / tp_net_set */
enum { TP_NET_PARAMS = 0, TP_NET_GRADS = 1, TP_NET_ADAM_M = 2, TP_NET_ADAM_V = 3, TP_NET_EMA = 4 };

/* New network.  coords (sites, axes) [in]: fractional site coordinates in
 * [0,1) (integer coordinate / period for a lattice).  Parameters are drawn
 * from seed (tp_tf_init_params, LayerScale ls_init); the EMA starts equal to
 * them.  backend: "cpu", "cuda" or NULL/"auto".  chunk: rows per forward
 * pass (<= 0: chosen from a 256 MiB activation budget).  Caller owns the
 * result; NULL with a message on failure.  cfg->conds > 0 makes a
 * conditioned network (kernels/cond.h), on either backend. */
TP_FFI tp_net *tp_net_init(const tp_tf_config *cfg, const float *coords, uint64_t seed,
                           float ls_init, const char *backend, int32_t chunk);
TP_FFI void tp_net_free(tp_net *net);
TP_FFI int64_t tp_net_num_params(const tp_net *net);
TP_FFI const char *tp_net_backend_name(const tp_net *net);
TP_FFI int32_t tp_net_chunk(const tp_net *net);
TP_FFI void tp_net_get_config(const tp_net *net, tp_tf_config *out);
/* coords (sites, axes) [out] */
TP_FFI void tp_net_get_coords(const tp_net *net, float *out);
/* Copy slab 'which' (TP_NET_*) to/from host memory of n = num_params floats. */
TP_FFI tp_status tp_net_get(const tp_net *net, int32_t which, float *out, int64_t n);
/* The slab itself (num_params floats on the net's device: a device pointer
 * on the CUDA backend), for collectives that work in place (NCCL). */
TP_FFI float *tp_net_slab(tp_net *net, int32_t which);
TP_FFI tp_status tp_net_set(tp_net *net, int32_t which, const float *in, int64_t n);

/* Optimiser settings and the number of completed optimiser steps. */
TP_FFI void tp_net_get_adam(const tp_net *net, tp_adam_config *out);
TP_FFI tp_status tp_net_set_adam(tp_net *net, const tp_adam_config *cfg);
TP_FFI int64_t tp_net_step_count(const tp_net *net);
TP_FFI void tp_net_set_step_count(tp_net *net, int64_t n);
/* EMA decay cap (default 0.9999). */
TP_FFI double tp_net_ema_max(const tp_net *net);
TP_FFI void tp_net_set_ema_max(tp_net *net, double max_decay);

/* logp (rows, sites, states) [out] for tokens (rows, sites) [in] (values
 * 0..states, states = mask).  use_ema: run the EMA copy. */
TP_FFI tp_status tp_net_forward(tp_net *net, float *logp, const uint8_t *tokens, int32_t rows,
                                int32_t use_ema);

/* Ancestral sampling along a uniformly random order per row (tempera-nn(5)):
 * tokens (rows, sites) [out] and logq (rows) [out] = log p(x | order).
 * teacher = 1: tokens [in] are given and only logq is computed (teacher
 * forcing along a fresh random order).  Row r uses stream (seed, stream0+r).
 * Returns TP_ABORTED when interrupted. */
TP_FFI tp_status tp_net_sample(tp_net *net, uint8_t *tokens, double *logq, int32_t rows,
                               uint64_t seed, uint64_t stream0, int32_t teacher, int32_t use_ema);

/* In-painting (man tempera-nn(5)): tokens (rows, sites) [in/out] hold partial
 * configurations, the mask token (= states) at the sites to fill.  Only
 * those are drawn, one per step along a uniformly random order of a row's
 * masked sites: the order of tp_net_sample (Fisher-Yates over all sites
 * from stream (seed, stream0 + r)) restricted to them, step j taking the
 * j-th uniform.  Given sites are never changed.  logq (rows) [out] = log
 * p(drawn sites | given sites, order) (0 for a row with nothing masked).
 * truth (rows, sites) [in, optional]: teacher forcing, the masked sites
 * take truth's values (written to tokens) and logq scores them.
 * fill (rows, sites) [in, optional]: nonzero marks the masked sites to
 * draw; a masked site with fill 0 stays masked throughout (hidden: the
 * network sees the mask token there); NULL draws every masked site.  A
 * row whose sites are all drawn reproduces tp_net_sample bit for bit.
 * Returns TP_ABORTED when interrupted. */
TP_FFI tp_status tp_net_inpaint(tp_net *net, uint8_t *tokens, double *logq, const uint8_t *truth,
                                const uint8_t *fill, int32_t rows, uint64_t seed, uint64_t stream0,
                                int32_t use_ema);

/* WDCE gradient (man tempera-nn(5)) of a batch: tokens (B, sites), log_rnd (B)
 * [in]; R replicates; masks from streams (seed, stream0 + b*R + r).
 * Gradients are overwritten.  loss [out]; ness [out, optional]. */
TP_FFI tp_status tp_net_wdce_grad(tp_net *net, double *loss, double *ness, const uint8_t *tokens,
                                  const double *log_rnd, int32_t B, int32_t R,
                                  uint64_t seed, uint64_t stream0);
/* The share of that gradient from rows first .. first + count - 1 of the
 * batch (data-parallel training: each MPI rank takes a share and the
 * shares' gradients and losses add up to the whole batch's): the weights
 * are the whole batch's softmax, each row's masks and weight are exactly
 * those of the whole-batch call.  count may be 0 (gradients zero). */
TP_FFI tp_status tp_net_wdce_grad_rows(tp_net *net, double *loss, double *ness, const uint8_t *tokens,
                                       const double *log_rnd, int32_t B, int32_t R, uint64_t seed,
                                       uint64_t stream0, int32_t first, int32_t count);
/* Weighted masked NLL gradient (kernels/loss.h): targets, input (rows,
 * sites), rw (rows) [in].  all_sites = 1 with rw = 1/(rows*sites) is the
 * cross-entropy.  Gradients are overwritten; loss [out]. */
TP_FFI tp_status tp_net_nll_grad(tp_net *net, double *loss, const uint8_t *targets,
                                 const uint8_t *input, const double *rw, int32_t rows,
                                 int32_t all_sites);
/* One optimiser update from the current gradients: clip (if set), Adam(W),
 * then EMA with decay tp_optim_ema_decay(n, ema_max), n = steps before this
 * one; the step count goes up by one.  gnorm [out, optional] = gradient
 * norm before clipping. */
TP_FFI tp_status tp_net_update(tp_net *net, double *gnorm);
/* tp_net_wdce_grad followed by tp_net_update. */
TP_FFI tp_status tp_net_wdce_step(tp_net *net, double *loss, double *ness, const uint8_t *tokens,
                                  const double *log_rnd, int32_t B, int32_t R,
                                  uint64_t seed, uint64_t stream0);
/* Conditioned networks (cfg.conds = k > 0; kernels/cond.h): cond
 * (count, k) [in] are the conditions the following calls use (kept on the
 * host; each chunk's rows are copied to the backend as they run):
 * forward, sample and nll_grad rows r take condition r, wdce rows b*R + r
 * take condition b, order_grad rows of sample b take condition b.  A call
 * needing a condition beyond count fails with TP_ERR_ARG. */
TP_FFI tp_status tp_net_set_conditions(tp_net *net, const float *cond, int64_t count);
/* k, the number of conditions per row (0: unconditioned) */
TP_FFI int32_t tp_net_conditions(const tp_net *net);
/* REINFORCE gradient (man tempera-reinforce(5)) of the surrogate loss
 * sum_b a_b log p(x_b | order_b) along the order row b used in
 * tp_net_sample (stream (seed, stream0 + b)): T teacher-forced rows per
 * sample, each scoring the one site revealed at that step, so the
 * gradient is that of the exact log-likelihood along the sampling order.
 * tokens (B, sites), a (B) [in]; logq (B) [out, optional] = log p(x_b |
 * order_b) from the current parameters (equals the sampler's logq when
 * the parameters are unchanged); loss [out] = sum_b a_b logq_b.  Uses the
 * parameters, not the EMA copy.  Gradients are overwritten. */
TP_FFI tp_status tp_net_order_grad(tp_net *net, double *loss, double *logq, const uint8_t *tokens,
                                   const double *a, int32_t B, uint64_t seed, uint64_t stream0);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_NET_H */
