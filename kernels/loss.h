/*
 * kernels/loss.h -- losses and sampling steps for the masked-diffusion
 * sampler (man tempera-train(5), tempera-reinforce(5)): the WDCE loss and its gradient, the
 * weighted masked negative log-likelihood it is built on (cross-entropy is
 * the special case "every site, equal weights"), one step of ancestral
 * sampling / teacher forcing along an order, and the REINFORCE weights.
 * CPU reference in loss_cpu.c, CUDA twin in loss_cuda.cu.
 *
 * Shapes: rows = B*R (sample b, replicate r -> row b*R + r), T sites,
 * q real states; logp (rows,T,q) are log-probabilities over real states.
 */
#ifndef TP_LOSS_H
#define TP_LOSS_H

#include "common.h"
#include "philox.h"   /* TP_HD */
#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* w (B) [out] = softmax(log_rnd (B) [in]); returns TP_ERR_ARG on a NaN or
 * when every log_rnd is -inf.  ness [out, optional] = 1/(B sum w^2). */
TP_FFI tp_status tp_loss_softmax_weights(double *w, double *ness, const double *log_rnd, int32_t B);
/* REINFORCE (man tempera-reinforce(5)): f_b = logp_b + beta_e_b standardised within the
 * batch (mean 0, std 1; all zero when the std is 0), a (B) [out] = f / B.
 * The surrogate loss sum_b a_b log p(x_b) has the REINFORCE gradient. */
TP_FFI tp_status tp_loss_reinforce_weights(double *a, const double *logp, const double *beta_e, int32_t B);
/* ffi:end */

/* WDCE masking.  masked (B*R,T) [out] = tokens with each site replaced by
 * the mask q with probability lam; lam (B*R) [out] ~ U(0,1) (never 0);
 * tokens (B,T) [in].  Row b*R+r draws from Philox stream (seed,
 * stream0 + b*R + r): identical on every backend and thread count. */
tp_status tp_loss_wdce_mask_cpu(uint8_t *masked, float *lam, const uint8_t *tokens,
                                uint64_t seed, uint64_t stream0, int32_t B, int32_t R,
                                int32_t T, int32_t q);
/* WDCE row weights rw (B*R) [out] = w_b * min(1/lam, 1e5) / (B*R). */
tp_status tp_loss_wdce_row_weights_cpu(double *rw, const double *w, const float *lam,
                                       int32_t B, int32_t R);
/* The rows of samples first .. first + count - 1 only: rw (count*R) [out],
 * lam (count*R) [in], w (B) [in] the whole batch's weights. */
tp_status tp_loss_wdce_row_weights_range_cpu(double *rw, const double *w, const float *lam, int32_t B, int32_t R,
                                             int32_t first, int32_t count);

/* Weighted masked NLL:  loss [out] = -sum_r rw_r sum_{i scored} logp[r,i,x_ri];
 * dlogp (rows,T,q) [out] = d loss / d logp.  A site is scored when
 * input[r,i] == q (masked), or always when all_sites.  targets (rows,T),
 * input (rows,T), rw (rows) [in].  With input = WDCE masks and rw = WDCE
 * row weights this is the WDCE loss (man tempera-nn(5), net:wdce_grad). */
tp_status tp_loss_masked_nll_cpu(double *loss, float *dlogp, const float *logp,
                                 const uint8_t *targets, const uint8_t *input, const double *rw,
                                 int32_t rows, int32_t T, int32_t q, int32_t all_sites);
tp_status tp_loss_masked_nll_cuda(double *loss, float *dlogp, const float *logp,
                                  const uint8_t *targets, const uint8_t *input, const double *rw,
                                  int32_t rows, int32_t T, int32_t q, int32_t all_sites, void *stream);

/* One step of ancestral sampling / teacher forcing along an order: for
 * each row r, site i = site[r]; x = truth[r,i] when truth is given (teacher
 * forcing), else the inverse-CDF draw from exp(logp[r,i,:]) with the
 * uniform u[r]; then work[r,i] [in/out] = x and logq[r] [in/out] +=
 * logp[r,i,x].  logp (rows,T,q), truth (rows,T) [in, optional],
 * site, u (rows) [in]. */
tp_status tp_loss_sample_step_cpu(uint8_t *work, double *logq, const float *logp,
                                  const uint8_t *truth, const int32_t *site, const float *u,
                                  int32_t rows, int32_t T, int32_t q);
tp_status tp_loss_sample_step_cuda(uint8_t *work, double *logq, const float *logp,
                                   const uint8_t *truth, const int32_t *site, const float *u,
                                   int32_t rows, int32_t T, int32_t q, void *stream);

/* The state a sample step takes at one site (both backends, so they agree
 * to the bit on the same log-probabilities): truth_n when teacher forcing
 * (truth_n < q; anything else gives 0), else the inverse CDF of
 * exp(lp[0..q)) at u, summed in float in state order (the last state when
 * rounding leaves u * z past every partial sum).  truth_n < 0: no truth. */
TP_HD int tp_loss_pick(const float *lp, int truth_n, float u, int q) {
    if (truth_n >= 0) return truth_n < q ? truth_n : 0;
    float z = 0;
    for (int k = 0; k < q; k++) z += expf(lp[k]);
    float target = u * z, c = 0;
    for (int k = 0; k < q; k++) {
        c += expf(lp[k]);
        if (target < c) return k;
    }
    return q - 1;
}

#ifdef __cplusplus
}
#endif
#endif /* TP_LOSS_H */
