/*
 * kernels/cond.h -- conditioning of the lattice transformer on per-row
 * thermodynamic conditions (man tempera-reinforce(5)): k numbers per row (e.g. beta
 * and h) -> sinusoidal features -> a small MLP -> a vector of d added to
 * every token embedding of that row (tp_tf_forward_cond_cpu), so one
 * network serves a grid of conditions.  CPU reference cond_cpu.c, CUDA
 * twin cond_cuda.cu (same maths and argument order, 'stream' last).
 *
 *   phi  = [c_j, sin(2^m c_j), cos(2^m c_j)]  j < k, m < TP_COND_FREQS   (rows, F), F = k (1 + 2 TP_COND_FREQS)
 *   hc   = phi W1 + b1                        (rows, d)   W1 (F, d)
 *   g    = GELU(hc)                           exact erf GELU
 *   cemb = g W2 + b2                          (rows, d)   W2 (d, d)
 * The four tensors live in the transformer's parameter slab at
 * tp_tf_layout.cond_w1 .. cond_b2 (after the head), so Adam, EMA and
 * checkpoints cover them unchanged.
 */
#ifndef TP_COND_H
#define TP_COND_H

#include "common.h"
#include "transformer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_COND_FREQS 4
#define TP_COND_MAX 8

/* F, the number of features of k conditions */
static inline int32_t tp_cond_features(int32_t k) { return k * (1 + 2 * TP_COND_FREQS); }
/* floats of the activation buffer for 'rows' rows: phi, hc, g */
static inline int64_t tp_cond_act_size(const tp_tf_config *c, int32_t rows) {
    return (int64_t)rows * (tp_cond_features(c->conds) + 2 * (int64_t)c->embed);
}

/* cemb (rows, d) [out]; acts (tp_cond_act_size) [out]; cond (rows, k) [in];
 * params [in]: the whole parameter slab (offsets from tp_tf_layout). */
tp_status tp_cond_forward_cpu(float *cemb, float *acts, const float *cond, const float *params,
                              const tp_tf_config *cfg, int32_t rows);
/* grads [out, accumulated +=]: the whole gradient slab; dcemb (rows, d) [in];
 * acts, params [in] as left by the forward. */
tp_status tp_cond_backward_cpu(float *grads, const float *dcemb, const float *acts,
                               const float *params, const tp_tf_config *cfg, int32_t rows);

/* CUDA twins: every pointer is device memory, stream a cudaStream_t (NULL:
 * default stream); conditions are not checked for finiteness here (the
 * caller, kernels/net.c, checks them on the host).  TP_ERR_NO_CUDA when
 * not compiled in. */
tp_status tp_cond_forward_cuda(float *cemb, float *acts, const float *cond, const float *params,
                               const tp_tf_config *cfg, int32_t rows, void *stream);
tp_status tp_cond_backward_cuda(float *grads, const float *dcemb, const float *acts,
                                const float *params, const tp_tf_config *cfg, int32_t rows, void *stream);

#ifdef __cplusplus
}
#endif
#endif /* TP_COND_H */
