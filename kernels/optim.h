/*
 * kernels/optim.h -- Adam / AdamW, the EMA copy and gradient-norm clipping
 * (man tempera-nn(5)).  CPU reference in optim_cpu.c, CUDA twin in optim_cuda.cu.
 * All vectors have n floats and share the parameter slab layout.
 */
#ifndef TP_OPTIM_H
#define TP_OPTIM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* Adam hyperparameters (defaults: the papers' settings, lr 1e-4, betas 0.9 and
 * 0.999, eps 1e-8, weight_decay 0; weight_decay > 0 is decoupled: AdamW). */
typedef struct tp_adam_config {
    float lr, beta1, beta2, eps, weight_decay;
    float clip;   /* clip the global gradient L2 norm to this (<= 0: off) */
} tp_adam_config;
/* EMA decay after n completed updates: min(max_decay, (1+n)/(10+n)). */
TP_FFI double tp_optim_ema_decay(int64_t n, double max_decay);
/* ffi:end */

/* One Adam step t (1-based) with bias correction, as torch.optim.Adam(W):
 *   p -= lr*wd*p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 * params, m, v [in/out]; grads [in]. */
tp_status tp_optim_adam_cpu(float *params, float *m, float *v, const float *grads,
                            const tp_adam_config *cfg, int64_t t, int64_t n);
tp_status tp_optim_adam_cuda(float *params, float *m, float *v, const float *grads,
                             const tp_adam_config *cfg, int64_t t, int64_t n, void *stream);

/* ema [in/out] = decay*ema + (1-decay)*params [in]. */
tp_status tp_optim_ema_cpu(float *ema, const float *params, float decay, int64_t n);
tp_status tp_optim_ema_cuda(float *ema, const float *params, float decay, int64_t n, void *stream);

/* out [out] = sum x^2 (double; fixed summation order: 1024 blocks). */
tp_status tp_optim_sumsq_cpu(double *out, const float *x, int64_t n);
tp_status tp_optim_sumsq_cuda(double *out, const float *x, int64_t n, void *stream);

/* x [in/out] *= s. */
tp_status tp_optim_scale_cpu(float *x, float s, int64_t n);
tp_status tp_optim_scale_cuda(float *x, float s, int64_t n, void *stream);

#ifdef __cplusplus
}
#endif
#endif /* TP_OPTIM_H */
