/*
 * kernels/transformer.h -- the lattice transformer (tempera-nn(5)): forward
 * and backward, CPU reference (transformer_cpu.c) and CUDA twin
 * (transformer_cuda.cu) behind one set of prototypes.
 *
 * Network (one token per site, T sites, q real states, mask token = q):
 *   x0   = wte[token]                                    (N, d), N = rows*T
 *   per block l = 0..depth-1 (pre-LayerNorm):
 *     a    = LN1(x)                  eps 1e-6
 *     qkv  = a Wqkv + bqkv           (N, 3d); q, k rotated by periodic RoPE
 *     y    = softmax(q k^T / sqrt(hd)) v  per row and head, no causal mask
 *     x    = x + ls1 * (y Wo + bo)   ls1 = LayerScale (1 when disabled)
 *     h    = GELU(LN2(x) W1 + b1)    (N, 4d), exact erf GELU
 *     x    = x + ls2 * (h W2 + b2)
 *   logits = LNf(x) Whead + bhead     (N, q)
 *   logp   = log_softmax(logits) over the q real states.
 * Weights are stored (in, out) row-major, so y = x W is one sgemm.
 *
 * Periodic RoPE: each site has fractional coordinates u in [0,1)^A (A = 1..3
 * axes; u = integer coordinate / period for a lattice, fractional
 * coordinates in the supercell for FCC).  The hd/2 feature pairs (2p, 2p+1)
 * of every head are split across axes, earlier axes taking the remainder
 * (hd 16, 3 axes: 3/3/2 pairs = 6/6/4 features); pair p on axis a with
 * harmonic j (1, 2, ...) is rotated by the angle 2*pi*j*u_a, i.e. theta_j =
 * 2*pi*j/P in lattice units: integer harmonics, so the embedding is exactly
 * periodic and attention scores depend only on coordinate differences mod 1.
 *
 * Buffers are slabs of float carved at fixed offsets (tp_tf_layout): params,
 * grads, Adam m and v, EMA all share the parameter layout; activations for
 * up to 'rows' rows live in one slab.  The CPU kernels take only small
 * per-call scratch (per-thread attention packing, column-sum partials:
 * kilobytes); nothing proportional to the batch is allocated per call.
 */
#ifndef TP_TRANSFORMER_H
#define TP_TRANSFORMER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* Hyperparameters.  embed % heads == 0, head dim even and >= 2*axes. */
typedef struct tp_tf_config {
    int32_t states;      /* q real states (>= 2); token q is the mask */
    int32_t sites;       /* T tokens per configuration */
    int32_t embed;       /* d */
    int32_t depth;       /* number of blocks */
    int32_t heads;       /* attention heads; head dim hd = d / heads */
    int32_t axes;        /* RoPE axes A, 1..3 */
    int32_t layerscale;  /* 1: learnable per-channel LayerScale on both residual branches */
    int32_t conds;       /* k >= 0 conditions per row (kernels/cond.h), 0: none */
} tp_tf_config;
/* Floating-point operations of one forward pass over 'rows' rows (matrix
 * products and attention, 2 per multiply-add; element-wise work not
 * counted); backward = 1 adds the backward pass (2x the forward). */
TP_FFI double tp_tf_flops(const tp_tf_config *cfg, int32_t rows, int32_t backward);
/* Measured single-precision matrix-product rate in GFLOP/s of the BLAS a
 * backend uses ("cpu": OpenBLAS cblas_sgemm, "cuda": cuBLAS) on n x n
 * matrices, best of reps; 0 when the backend is unavailable. */
TP_FFI double tp_tf_sgemm_gflops(const char *backend, int32_t n, int32_t reps);
/* The number of sites from which attention is tiled (below) and its
 * setter, for tests and benchmarks: networks created before a change
 * refuse to run after it (0 restores the default). */
TP_FFI int32_t tp_tf_tiled_min(void);
TP_FFI void tp_tf_set_tiled_min(int32_t sites);
/* ffi:end */

/* Offsets (in floats) of each tensor in the parameter slab. */
typedef struct tp_tf_block_off {
    int64_t ln1_w, ln1_b, wqkv, bqkv, wo, bo, ls1;   /* ls1/ls2 = -1 without LayerScale */
    int64_t ln2_w, ln2_b, w1, b1, w2, b2, ls2;
} tp_tf_block_off;

#define TP_TF_MAX_DEPTH 64

typedef struct tp_tf_layout {
    int64_t wte;                           /* (q+1, d) */
    tp_tf_block_off blk[TP_TF_MAX_DEPTH];
    int64_t lnf_w, lnf_b, head_w, head_b;  /* head_w (d, q) */
    int64_t cond_w1, cond_b1, cond_w2, cond_b2;  /* kernels/cond.h; -1 without conditions */
    int64_t n_params;
} tp_tf_layout;

/* Offsets in the activation slab for 'rows' rows (N = rows*T). */
typedef struct tp_tf_act_block {
    int64_t x;        /* (N,d) block input (residual stream) */
    int64_t a1, mu1, rs1;   /* LN1 out (N,d), mean (N), 1/std (N) */
    int64_t qkv;      /* (N,3d), q and k after RoPE */
    int64_t att;      /* (rows,H,T,T) softmax probabilities; tiled: (rows,H,T) log-sum-exp */
    int64_t y;        /* (N,d) attention output before Wo */
    int64_t po;       /* (N,d) y Wo + bo (kept for the LayerScale gradient) */
    int64_t xm;       /* (N,d) residual after attention */
    int64_t a2, mu2, rs2;
    int64_t h;        /* (N,4d) pre-GELU */
    int64_t g;        /* (N,4d) post-GELU */
    int64_t pm;       /* (N,d) g W2 + b2 */
} tp_tf_act_block;

typedef struct tp_tf_act_layout {
    tp_tf_act_block blk[TP_TF_MAX_DEPTH];
    int32_t tiled;           /* attention keeps no T x T matrix (tp_tf_tiled) */
    int64_t xf;              /* (N,d) final residual */
    int64_t af, muf, rsf;    /* final LN */
    int64_t n_acts;
} tp_tf_act_layout;

/* Tiled attention, for long rows: from tp_tf_tiled_min() sites on (default
 * TP_TF_TILED_MIN), attention keeps no (T, T) matrix of probabilities.
 * The forward stores each query's log-sum-exp of scores instead (att:
 * (rows, H, T)) and the backward recomputes the probabilities from it,
 * four queries at a time against the head's keys and values held
 * transposed (hd, T): O(T hd) memory a row and head instead of O(T^2), and the
 * products run as vector loops over keys, in a fixed order (the same bits
 * on every ISA and thread count).  Results agree with the full pass to
 * float rounding, not bit for bit.  tp_tf_set_tiled_min (above) is for
 * tests and benchmarks: it changes the activation layout, so call it only
 * while no activations exist (0 restores the default). */
#define TP_TF_TILED_MIN 512
int tp_tf_tiled(const tp_tf_config *cfg);

/* Validate cfg (TP_ERR_ARG with a message naming the field). */
tp_status tp_tf_config_check(const tp_tf_config *cfg);
/* Fill the parameter layout; cfg must be valid. */
void tp_tf_layout_init(tp_tf_layout *lay, const tp_tf_config *cfg);
/* Fill the activation layout for 'rows' rows. */
void tp_tf_act_layout_init(tp_tf_act_layout *al, const tp_tf_config *cfg, int32_t rows);
/* Scratch floats tp_tf_backward_* needs for 'rows' rows. */
int64_t tp_tf_scratch_size(const tp_tf_config *cfg, int32_t rows);

/* RoPE table: rope (T, hd/2, 2) [out] = (cos, sin) of each pair's angle;
 * coords (T, A) [in] fractional coordinates.  Host memory. */
void tp_tf_rope_table(float *rope, const float *coords, const tp_tf_config *cfg);

/* Deterministic initialisation from (seed): weights N(0, 0.02) (the two
 * residual output projections 0.02/sqrt(2*depth)), biases 0, LayerNorm
 * weights 1, LayerScale 'ls_init'.  params (n_params) [out], host memory. */
void tp_tf_init_params(float *params, const tp_tf_config *cfg, uint64_t seed, float ls_init);

/* Forward.  acts (n_acts for rows) [out]; logp (rows,T,q) [out];
 * tokens (rows,T) [in] values 0..q; params [in]; rope (T,hd/2,2) [in]. */
tp_status tp_tf_forward_cpu(float *acts, float *logp, const uint8_t *tokens,
                            const float *params, const float *rope,
                            const tp_tf_config *cfg, int32_t rows);
/* The forward for ancestral sampling: logp[r, site[r], :] [out] as
 * tp_tf_forward_cpu gives it, bit for bit; the other entries of logp are
 * overwritten with scratch.  site (rows) [in] values 0..T-1.  Blocks
 * 0..depth-2 run as in the full pass; the last one takes keys and values
 * of every token but its attention output, MLP, the final LayerNorm and
 * the head only at the row's site (about 80% of the last block saved).
 * acts is scratch afterwards: no backward may follow. */
tp_status tp_tf_forward_site_cpu(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                 const float *params, const float *rope,
                                 const tp_tf_config *cfg, int32_t rows);
/* Backward.  grads (n_params) [out, accumulated: +=]; scratch
 * (tp_tf_scratch_size) [work]; dlogp (rows,T,q) [in] dLoss/dlogp;
 * logp, acts, tokens, params, rope [in] as left by the forward. */
tp_status tp_tf_backward_cpu(float *grads, float *scratch, const float *dlogp,
                             const float *logp, const float *acts, const uint8_t *tokens,
                             const float *params, const float *rope,
                             const tp_tf_config *cfg, int32_t rows);

/* The same with a per-row embedding added to every token's embedding:
 * cemb (rows, d) [in, optional]: x0[r,t] = wte[token] + cemb[r];
 * dcemb (rows, d) [out, optional, overwritten] = sum_t dLoss/dx0[r,t].
 * NULL reproduces tp_tf_forward_cpu / tp_tf_backward_cpu exactly
 * (conditioning, kernels/cond.h).  CUDA twins below. */
tp_status tp_tf_forward_cond_cpu(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                 const float *params, const float *rope,
                                 const tp_tf_config *cfg, int32_t rows);
tp_status tp_tf_backward_cond_cpu(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                  const float *logp, const float *acts, const uint8_t *tokens,
                                  const float *params, const float *rope,
                                  const tp_tf_config *cfg, int32_t rows);

/* CUDA twins: every pointer is device memory, stream a cudaStream_t (NULL:
 * default stream).  TP_ERR_NO_CUDA when not compiled in. */
tp_status tp_tf_forward_cuda(float *acts, float *logp, const uint8_t *tokens,
                             const float *params, const float *rope,
                             const tp_tf_config *cfg, int32_t rows, void *stream);
/* The sampling forward (tp_tf_forward_site_cpu's contract; conditioned
 * networks excluded): logp[r, site[r], :] [out] as tp_tf_forward_cuda
 * gives it up to rounding (cuBLAS may sum the smaller products in another
 * order), the other entries of logp scratch; acts (n_acts for rows) is
 * scratch afterwards.  site (rows) [in, device] values 0..T-1, not
 * range-checked (as tokens). */
tp_status tp_tf_forward_site_cuda(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                  const float *params, const float *rope,
                                  const tp_tf_config *cfg, int32_t rows, void *stream);
tp_status tp_tf_backward_cuda(float *grads, float *scratch, const float *dlogp,
                              const float *logp, const float *acts, const uint8_t *tokens,
                              const float *params, const float *rope,
                              const tp_tf_config *cfg, int32_t rows, void *stream);

tp_status tp_tf_forward_cond_cuda(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                  const float *params, const float *rope,
                                  const tp_tf_config *cfg, int32_t rows, void *stream);
tp_status tp_tf_backward_cond_cuda(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                   const float *logp, const float *acts, const uint8_t *tokens,
                                   const float *params, const float *rope,
                                   const tp_tf_config *cfg, int32_t rows, void *stream);

/* GFLOP/s of cuBLAS sgemm on n x n (best of reps); TP_ERR_NO_CUDA without a device. */
tp_status tp_tf_sgemm_gflops_cuda(double *out, int32_t n, int32_t reps);

#ifdef __cplusplus
}
#endif
#endif /* TP_TRANSFORMER_H */
