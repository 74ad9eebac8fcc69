/*
 * kernels/transformer_cuda.cu -- CUDA twin of kernels/transformer_cpu.c:
 * the same maths, slab layouts and argument order (every pointer is device
 * memory; 'stream' last).  Matrix products go through cuBLAS (row-major
 * products expressed as column-major ones on transposed views); LayerNorm,
 * RoPE, attention, GELU, LayerScale and log-softmax are plain kernels.
 * Parameter-gradient reductions (biases, LayerNorm, LayerScale, embedding)
 * assign one thread block per output and loop over rows in a fixed order,
 * so results are deterministic.  Tokens are not range-checked here (the
 * caller, kernels/net.c, checks them on the host).  The _cond variants add
 * a per-row condition embedding to every token (kernels/cond.h) and return
 * its gradient, summed over the row's tokens.  The sampling forward
 * (tp_tf_forward_site_cuda) shares the embedding and all blocks but the
 * last with the full forward (trunk_fwd) and runs the last block's query,
 * attention output, MLP, final LayerNorm and head for one token a row.
 */
#include "transformer.h"
#include "cuda_common.cuh"

#include <cublas_v2.h>
#include <math.h>

#define LN_EPS 1e-6f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.39894228040143268f

static cublasHandle_t handle = NULL;

#define TP_CUBLAS_CHECK(expr) do { \
        cublasStatus_t tp_cb_ = (expr); \
        if (tp_cb_ != CUBLAS_STATUS_SUCCESS) \
            return tp_error_set_at(TP_ERR_CUDA, __FILE__, __LINE__, "%s: cuBLAS status %d", #expr, (int)tp_cb_); \
    } while (0)

static tp_status get_handle(cudaStream_t st) {
    if (!handle) TP_CUBLAS_CHECK(cublasCreate(&handle));
    TP_CUBLAS_CHECK(cublasSetStream(handle, st));
    /* plain FP32 products (no TF32): the CPU oracle is FP32 */
    TP_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
    return TP_OK;
}

/* ---- kernels ----------------------------------------------------------------- */

/* out[n*ld + j] = b[j] for n < N, j < o (ld >= o: rows of a wider slab) */
__global__ void k_fill_bias(float *out, const float *b, long long N, int o, long long ld) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * o) out[(i / o) * ld + i % o] = b[i % o];
}

/* db[j] += sum_n dout[n*o + j]: one block per column */
__global__ void k_colsum(float *db, const float *dout, long long N, int o) {
    __shared__ double sh[256];
    int j = blockIdx.x;
    double s = 0;
    for (long long n = threadIdx.x; n < N; n += blockDim.x) s += dout[n * o + j];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[j] += (float)sh[0];
}

/* dst[j] += sum_n a[n*d+j] * b[n*d+j] (b NULL: 1) */
__global__ void k_colsum_prod(float *dst, const float *a, const float *b, long long N, int d) {
    __shared__ double sh[256];
    int j = blockIdx.x;
    double s = 0;
    for (long long n = threadIdx.x; n < N; n += blockDim.x) s += (double)a[n * d + j] * (b ? b[n * d + j] : 1.0f);
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) dst[j] += (float)sh[0];
}

__global__ void k_embed(float *x, const uint8_t *tok, const float *wte, long long N, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * d) x[i] = wte[(long long)tok[i / d] * d + i % d];
}

/* x0[n, j] += cemb[n / T, j]: the row's condition embedding on every token */
__global__ void k_add_cemb(float *x, const float *cemb, long long N, int T, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * d) x[i] += cemb[(i / d / T) * d + i % d];
}

/* dcemb[r, j] = sum_t dx[r*T + t, j] in double, t in order (as the CPU) */
__global__ void k_cemb_bwd(float *dcemb, const float *dx, long long rows, int T, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * d) return;
    long long r = i / d;
    int j = (int)(i % d);
    double s = 0;
    for (int t = 0; t < T; t++) s += dx[(r * T + t) * d + j];
    dcemb[i] = (float)s;
}

/* one block per (vocabulary entry, column): deterministic row order */
__global__ void k_embed_bwd(float *dwte, const float *dx, const uint8_t *tok, long long N, int d) {
    __shared__ double sh[256];
    int v = blockIdx.x / d, j = blockIdx.x % d;
    double s = 0;
    for (long long n = threadIdx.x; n < N; n += blockDim.x)
        if (tok[n] == v) s += dx[n * d + j];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) dwte[(long long)v * d + j] += (float)sh[0];
}

__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* one warp per row */
__global__ void k_ln_fwd(float *out, float *mu, float *rs, const float *x, const float *w, const float *b,
                         long long N, int d) {
    long long n = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *xr = x + n * d;
    float m = 0;
    for (int j = lane; j < d; j += 32) m += xr[j];
    m = warp_sum(m) / d;
    float v = 0;
    for (int j = lane; j < d; j += 32) { float t = xr[j] - m; v += t * t; }
    v = warp_sum(v) / d;
    float r = 1.0f / sqrtf(v + LN_EPS);
    if (lane == 0) { mu[n] = m; rs[n] = r; }
    for (int j = lane; j < d; j += 32) out[n * d + j] = (xr[j] - m) * r * w[j] + b[j];
}

/* dx += LN'(dout), one warp per row */
__global__ void k_ln_bwd_dx(float *dx, const float *dout, const float *x, const float *mu, const float *rs,
                            const float *w, long long N, int d) {
    long long n = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *xr = x + n * d, *g = dout + n * d;
    float m = mu[n], r = rs[n], s1 = 0, s2 = 0;
    for (int j = lane; j < d; j += 32) {
        float dxh = g[j] * w[j], xh = (xr[j] - m) * r;
        s1 += dxh; s2 += dxh * xh;
    }
    s1 = warp_sum(s1) / d;
    s2 = warp_sum(s2) / d;
    for (int j = lane; j < d; j += 32) {
        float dxh = g[j] * w[j], xh = (xr[j] - m) * r;
        dx[n * d + j] += r * (dxh - s1 - xh * s2);
    }
}

/* dw[j] += sum dout*xhat, db[j] += sum dout: one block per column */
__global__ void k_ln_bwd_dw(float *dw, float *db, const float *dout, const float *x, const float *mu,
                            const float *rs, long long N, int d) {
    __shared__ double sw[256], sb[256];
    int j = blockIdx.x;
    double a = 0, c = 0;
    for (long long n = threadIdx.x; n < N; n += blockDim.x) {
        float g = dout[n * d + j];
        a += g * ((x[n * d + j] - mu[n]) * rs[n]);
        c += g;
    }
    sw[threadIdx.x] = a; sb[threadIdx.x] = c;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) { sw[threadIdx.x] += sw[threadIdx.x + w]; sb[threadIdx.x] += sb[threadIdx.x + w]; }
        __syncthreads();
    }
    if (threadIdx.x == 0) { dw[j] += (float)sw[0]; db[j] += (float)sb[0]; }
}

/* rotate the pairs of 'parts' consecutive d-wide parts (q then k) of N
 * vectors, vector n at v + n*ldv, by the angles of its position: n % T,
 * or site[n] when site is given (the query of row n at its site).  The
 * full pass: v = qkv, ldv = 3d, parts 2.  One thread per (vector, part,
 * head, pair). */
__global__ void k_rope(float *v0, long long ldv, int parts, const float *rope, const int32_t *site,
                       long long N, int T, int d, int H, float sg) {
    int hd = d / H, np = hd / 2;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = N * parts * H * np;
    if (i >= total) return;
    int p = (int)(i % np);
    int h = (int)((i / np) % H);
    int part = (int)((i / ((long long)np * H)) % parts);
    long long n = i / ((long long)np * H * parts);
    long long pos = site ? (long long)site[n] : n % T;
    const float *cs = rope + pos * np * 2;
    float c = cs[2 * p], s = sg * cs[2 * p + 1];
    float *v = v0 + n * ldv + part * d + h * hd + 2 * p;
    float a = v[0], b = v[1];
    v[0] = a * c - b * s;
    v[1] = a * s + b * c;
}

/* one block per (row, head); threads over query positions.  att: the
 * probabilities (rows,H,T,T), or with tiled attention (transformer.h,
 * tp_tf_tiled) no matrix: two passes over the keys (the maximum score,
 * then the exponentials, their sum and the output) and att (rows,H,T) =
 * max + log(sum) of each query's scores */
__global__ void k_attn_fwd(float *y, float *att, const float *qkv, int T, int d, int H, float scale, int tiled) {
    int hd = d / H;
    long long rh = blockIdx.x;
    long long r = rh / H;
    int h = (int)(rh % H);
    const float *base = qkv + r * T * 3 * d;
    float *P = att + rh * T * (tiled ? 1 : T);
    for (int t = threadIdx.x; t < T; t += blockDim.x) {
        const float *qt = base + (long long)t * 3 * d + h * hd;
        float *pr = tiled ? NULL : P + (long long)t * T, mx = -INFINITY;
        for (int u = 0; u < T; u++) {
            const float *ku = base + (long long)u * 3 * d + d + h * hd;
            float s = 0;
            for (int e = 0; e < hd; e++) s += qt[e] * ku[e];
            s *= scale;
            if (!tiled) pr[u] = s;
            mx = fmaxf(mx, s);
        }
        float *yt = y + (r * T + t) * d + h * hd, z = 0;
        for (int e = 0; e < hd; e++) yt[e] = 0;
        if (tiled) {
            for (int u = 0; u < T; u++) {
                const float *ku = base + (long long)u * 3 * d + d + h * hd;
                const float *vu = base + (long long)u * 3 * d + 2 * d + h * hd;
                float s = 0;
                for (int e = 0; e < hd; e++) s += qt[e] * ku[e];
                float p = expf(s * scale - mx);
                z += p;
                for (int e = 0; e < hd; e++) yt[e] += p * vu[e];
            }
            float iz = 1.0f / z;
            for (int e = 0; e < hd; e++) yt[e] *= iz;
            P[t] = mx + logf(z);
            continue;
        }
        for (int u = 0; u < T; u++) { float e = expf(pr[u] - mx); pr[u] = e; z += e; }
        float iz = 1.0f / z;
        for (int u = 0; u < T; u++) {
            float p = pr[u] * iz;
            pr[u] = p;
            const float *vu = base + (long long)u * 3 * d + 2 * d + h * hd;
            for (int e = 0; e < hd; e++) yt[e] += p * vu[e];
        }
    }
}

/* ---- the sampling forward's last block: one query token a row ------------- */

/* out (rows,d) [packed] = in[r*T + site[r]] (rows of an (N,d) slab) */
__global__ void k_gather_rows(float *out, const float *in, const int32_t *site, long long rows, int T, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * d) return;
    long long r = i / d;
    out[i] = in[(r * T + site[r]) * d + i % d];
}

#define SITE_THREADS 128   /* a power of two: the tree reductions below */

/* v over the block (blockDim.x == SITE_THREADS): max (is_max) or sum, in a
 * fixed tree order; every thread gets the result */
__device__ float block_reduce(float v, float *red, int is_max) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w)
            red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], red[threadIdx.x + w])
                                      : red[threadIdx.x] + red[threadIdx.x + w];
        __syncthreads();
    }
    float out = red[0];
    __syncthreads();   /* red is reused by the next call */
    return out;
}

/* Attention of one query a row over all T keys of the row, the maths of
 * k_attn_fwd for query t = site[r]: one block of SITE_THREADS per (row,
 * head), threads over keys for the scores, over the head's features for
 * the output.  The rotated query of row r sits in the q slot of token r*T
 * (qkv + r*T*3d, unused by keys and values); keys and values of token u at
 * qkv + (r*T + u)*3d + d and + 2d.  P (rows,H,T) [out, scratch]: the
 * un-normalised exponentials; y (rows,d) [out, packed]. */
__global__ void k_attn_site(float *y, float *P, const float *qkv, int T, int d, int H, float scale) {
    __shared__ float red[SITE_THREADS];
    const int hd = d / H;
    const long long rh = blockIdx.x, r = rh / H;
    const int h = (int)(rh % H);
    const float *base = qkv + r * T * 3 * d;
    const float *qv = base + h * hd;
    float *pr = P + rh * T;
    float mx = -INFINITY;
    for (int u = threadIdx.x; u < T; u += blockDim.x) {
        const float *ku = base + (long long)u * 3 * d + d + h * hd;
        float s = 0;
        for (int e = 0; e < hd; e++) s += qv[e] * ku[e];
        s *= scale;
        pr[u] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_reduce(mx, red, 1);
    float z = 0;
    for (int u = threadIdx.x; u < T; u += blockDim.x) {
        float e = expf(pr[u] - mx);
        pr[u] = e;
        z += e;
    }
    /* the barriers inside make every pr[] write visible to the whole block */
    const float iz = 1.0f / block_reduce(z, red, 0);
    for (int e = threadIdx.x; e < hd; e += blockDim.x) {
        float acc = 0;
        for (int u = 0; u < T; u++) acc += pr[u] * iz * base[(long long)u * 3 * d + 2 * d + h * hd + e];
        y[r * d + h * hd + e] = acc;
    }
}

/* logp[r*T + site[r], :] = log_softmax(logits of row r), the logits at
 * logp[r*T, :] (the head's output, row stride T*q): one thread per row, as
 * k_log_softmax.  Source and destination lie in row r's own (T,q) block
 * and are the same row or disjoint rows, so no thread reads what another
 * writes. */
__global__ void k_log_softmax_site(float *logp, const int32_t *site, long long rows, int T, int q) {
    long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float *z = logp + r * T * q;
    float *o = logp + (r * T + site[r]) * q, mx = z[0];
    for (int k = 1; k < q; k++) mx = fmaxf(mx, z[k]);
    float s = 0;
    for (int k = 0; k < q; k++) s += expf(z[k] - mx);
    float lse = mx + logf(s);
    for (int k = 0; k < q; k++) o[k] = z[k] - lse;
}

/* the probability of key u for query t: from the matrix P (rows of T),
 * or with tiled attention recomputed from the query's log-sum-exp P[t] */
__device__ float attn_prob(const float *P, int tiled, int t, int u, int T, const float *qt, const float *ku, int hd,
                           float scale) {
    if (!tiled) return P[(long long)t * T + u];
    float s = 0;
    for (int e = 0; e < hd; e++) s += qt[e] * ku[e];
    return expf(s * scale - P[t]);
}

/* backward pass 1 (threads over queries t): sdot[t] = sum_u P dP, and dQ.
 * Tiled attention (tiled = 1, att the log-sum-exp of each query): the
 * probabilities recomputed, and sdot[t] = dy_t . y_t (the same sum). */
__global__ void k_attn_bwd_q(float *dqkv, float *sdot, const float *dy, const float *y, const float *att,
                             const float *qkv, int T, int d, int H, float scale, int tiled) {
    int hd = d / H;
    long long rh = blockIdx.x;
    long long r = rh / H;
    int h = (int)(rh % H);
    const float *base = qkv + r * T * 3 * d;
    const float *P = att + rh * T * (tiled ? 1 : T);
    for (int t = threadIdx.x; t < T; t += blockDim.x) {
        const float *dyt = dy + (r * T + t) * d + h * hd;
        const float *qt = base + (long long)t * 3 * d + h * hd;
        float sd = 0;
        if (tiled) {
            const float *yt = y + (r * T + t) * d + h * hd;
            for (int e = 0; e < hd; e++) sd += dyt[e] * yt[e];
        } else {
            for (int u = 0; u < T; u++) {
                const float *vu = base + (long long)u * 3 * d + 2 * d + h * hd;
                float s = 0;
                for (int e = 0; e < hd; e++) s += dyt[e] * vu[e];
                sd += P[(long long)t * T + u] * s;
            }
        }
        sdot[rh * T + t] = sd;
        float *dqt = dqkv + (r * T + t) * 3 * d + h * hd;
        for (int e = 0; e < hd; e++) dqt[e] = 0;
        for (int u = 0; u < T; u++) {
            const float *vu = base + (long long)u * 3 * d + 2 * d + h * hd;
            const float *ku = base + (long long)u * 3 * d + d + h * hd;
            float s = 0;
            for (int e = 0; e < hd; e++) s += dyt[e] * vu[e];
            float ds = attn_prob(P, tiled, t, u, T, qt, ku, hd, scale) * (s - sd) * scale;
            for (int e = 0; e < hd; e++) dqt[e] += ds * ku[e];
        }
    }
}

/* backward pass 2 (threads over keys u): dK and dV (tiled: the
 * probabilities recomputed from each query's log-sum-exp in att) */
__global__ void k_attn_bwd_kv(float *dqkv, const float *sdot, const float *dy, const float *att,
                              const float *qkv, int T, int d, int H, float scale, int tiled) {
    int hd = d / H;
    long long rh = blockIdx.x;
    long long r = rh / H;
    int h = (int)(rh % H);
    const float *base = qkv + r * T * 3 * d;
    const float *P = att + rh * T * (tiled ? 1 : T);
    for (int u = threadIdx.x; u < T; u += blockDim.x) {
        const float *ku = base + (long long)u * 3 * d + d + h * hd;
        const float *vu = base + (long long)u * 3 * d + 2 * d + h * hd;
        float *dku = dqkv + (r * T + u) * 3 * d + d + h * hd;
        float *dvu = dqkv + (r * T + u) * 3 * d + 2 * d + h * hd;
        for (int e = 0; e < hd; e++) { dku[e] = 0; dvu[e] = 0; }
        for (int t = 0; t < T; t++) {
            const float *dyt = dy + (r * T + t) * d + h * hd;
            const float *qt = base + (long long)t * 3 * d + h * hd;
            float s = 0;
            for (int e = 0; e < hd; e++) s += dyt[e] * vu[e];
            float p = attn_prob(P, tiled, t, u, T, qt, ku, hd, scale);
            float ds = p * (s - sdot[rh * T + t]) * scale;
            for (int e = 0; e < hd; e++) { dku[e] += ds * qt[e]; dvu[e] += p * dyt[e]; }
        }
    }
}

__global__ void k_gelu_fwd(float *g, const float *h, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] = 0.5f * h[i] * (1.0f + erff(h[i] * INV_SQRT2));
}

__global__ void k_gelu_bwd(float *dg, const float *h, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = h[i];
    dg[i] *= 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT2PI * expf(-0.5f * x * x);
}

__global__ void k_residual(float *out, const float *x, const float *p, const float *ls, long long N, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * d) out[i] = x[i] + (ls ? ls[i % d] : 1.0f) * p[i];
}

__global__ void k_scale_cols(float *dp, const float *dx, const float *ls, long long N, int d) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * d) dp[i] = dx[i] * ls[i % d];
}

__global__ void k_log_softmax(float *z, long long N, int q) {
    long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    float *r = z + n * q, mx = r[0];
    for (int k = 1; k < q; k++) mx = fmaxf(mx, r[k]);
    float s = 0;
    for (int k = 0; k < q; k++) s += expf(r[k] - mx);
    float lse = mx + logf(s);
    for (int k = 0; k < q; k++) r[k] -= lse;
}

__global__ void k_log_softmax_bwd(float *dz, const float *dlogp, const float *logp, long long N, int q) {
    long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    float s = 0;
    for (int k = 0; k < q; k++) s += dlogp[n * q + k];
    for (int k = 0; k < q; k++) dz[n * q + k] = dlogp[n * q + k] - expf(logp[n * q + k]) * s;
}

/* ---- launch helpers ---------------------------------------------------------- */

#define LAUNCH1D(kern, count, st, ...) do { \
        long long cnt_ = (count); \
        if (cnt_ > 0) { \
            kern<<<tp_cuda_blocks(cnt_, 256), 256, 0, (st)>>>(__VA_ARGS__); \
            TP_CUDA_CHECK(cudaGetLastError()); \
        } \
    } while (0)

/* out (N,o) = in (N,i) W (i,o) + b with row strides ldo >= o, ldi >= i,
 * ldw >= o (column blocks of wider matrices, rows spread through a slab):
 * row-major as column-major transposes */
static tp_status linear_fwd_ld(float *out, int ldo, const float *in, int ldi, const float *W, int ldw,
                               const float *b, long long N, int i, int o, cudaStream_t st) {
    if (N == 0) return TP_OK;
    LAUNCH1D(k_fill_bias, N * o, st, out, b, N, o, (long long)ldo);
    const float one = 1.0f;
    TP_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, o, (int)N, i, &one, W, ldw, in, ldi, &one,
                                out, ldo));
    return TP_OK;
}

/* out (N,o) = in (N,i) W (i,o) + b, all contiguous */
static tp_status linear_fwd(float *out, const float *in, const float *W, const float *b,
                            long long N, int i, int o, cudaStream_t st) {
    return linear_fwd_ld(out, o, in, i, W, o, b, N, i, o, st);
}

/* din (N,i) = dout W^T (beta 0); dW += in^T dout; db += colsum(dout) */
static tp_status linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                            const float *W, long long N, int i, int o, cudaStream_t st) {
    if (N == 0) return TP_OK;
    const float one = 1.0f, zero = 0.0f;
    TP_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, i, (int)N, o, &one, W, o, dout, o, &zero, din, i));
    TP_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, o, i, (int)N, &one, dout, o, in, i, &one, dW, o));
    k_colsum<<<o, 256, 0, st>>>(db, dout, N, o);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

static tp_status ln_fwd(float *out, float *mu, float *rs, const float *x, const float *w, const float *b,
                        long long N, int d, cudaStream_t st) {
    if (N == 0) return TP_OK;
    k_ln_fwd<<<tp_cuda_blocks(N * 32, 256), 256, 0, st>>>(out, mu, rs, x, w, b, N, d);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

static tp_status ln_bwd(float *dx, float *dw, float *db, const float *dout, const float *x, const float *mu,
                        const float *rs, const float *w, long long N, int d, cudaStream_t st) {
    if (N == 0) return TP_OK;
    k_ln_bwd_dx<<<tp_cuda_blocks(N * 32, 256), 256, 0, st>>>(dx, dout, x, mu, rs, w, N, d);
    TP_CUDA_CHECK(cudaGetLastError());
    k_ln_bwd_dw<<<d, 256, 0, st>>>(dw, db, dout, x, mu, rs, N, d);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

static int attn_threads(int T) { return T >= 128 ? 128 : T >= 64 ? 64 : 32; }

/* the common start of forward and backward: check the configuration and
 * the row count (rows >= 1), bind the cuBLAS handle to the stream, fill
 * the parameter and activation layouts */
static tp_status begin(tp_tf_layout *L, tp_tf_act_layout *A, const tp_tf_config *c, int32_t rows,
                       cudaStream_t st) {
    TP_TRY(tp_tf_config_check(c));
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "transformer: rows must be >= 0, got %d", rows);
    TP_TRY(get_handle(st));
    tp_tf_layout_init(L, c);
    tp_tf_act_layout_init(A, c, rows);
    return TP_OK;
}

/* ---- forward ------------------------------------------------------------------ */

/* The embedding and blocks 0..nblocks-1 over all N = rows*T tokens: block
 * l's output goes to the next block's x (xf after the last block).  The
 * full forward runs all depth blocks, the sampling forward depth - 1. */
static tp_status trunk_fwd(float *acts, const uint8_t *tokens, const float *cemb, const float *params,
                           const float *rope, const tp_tf_layout *L, const tp_tf_act_layout *A,
                           const tp_tf_config *c, int32_t rows, int nblocks, cudaStream_t st) {
    const int T = c->sites, d = c->embed, H = c->heads;
    const long long N = (long long)rows * T;
    const float scale = 1.0f / sqrtf((float)(d / H));
    LAUNCH1D(k_embed, N * d, st, acts + A->blk[0].x, tokens, params + L->wte, N, d);
    if (cemb) LAUNCH1D(k_add_cemb, N * d, st, acts + A->blk[0].x, cemb, N, T, d);
    for (int l = 0; l < nblocks; l++) {
        const tp_tf_block_off *P = &L->blk[l];
        const tp_tf_act_block *B = &A->blk[l];
        float *xout = acts + (l + 1 < c->depth ? A->blk[l + 1].x : A->xf);
        TP_TRY(ln_fwd(acts + B->a1, acts + B->mu1, acts + B->rs1, acts + B->x, params + P->ln1_w,
                      params + P->ln1_b, N, d, st));
        TP_TRY(linear_fwd(acts + B->qkv, acts + B->a1, params + P->wqkv, params + P->bqkv, N, d, 3 * d, st));
        LAUNCH1D(k_rope, N * 2 * H * (d / H / 2), st, acts + B->qkv, 3LL * d, 2, rope, (const int32_t *)NULL,
                 N, T, d, H, 1.0f);
        k_attn_fwd<<<rows * H, attn_threads(T), 0, st>>>(acts + B->y, acts + B->att, acts + B->qkv, T, d, H, scale,
                                                        A->tiled);
        TP_CUDA_CHECK(cudaGetLastError());
        TP_TRY(linear_fwd(acts + B->po, acts + B->y, params + P->wo, params + P->bo, N, d, d, st));
        LAUNCH1D(k_residual, N * d, st, acts + B->xm, acts + B->x, acts + B->po,
                 c->layerscale ? params + P->ls1 : (const float *)NULL, N, d);
        TP_TRY(ln_fwd(acts + B->a2, acts + B->mu2, acts + B->rs2, acts + B->xm, params + P->ln2_w,
                      params + P->ln2_b, N, d, st));
        TP_TRY(linear_fwd(acts + B->h, acts + B->a2, params + P->w1, params + P->b1, N, d, 4 * d, st));
        LAUNCH1D(k_gelu_fwd, N * 4 * d, st, acts + B->g, acts + B->h, N * 4 * d);
        TP_TRY(linear_fwd(acts + B->pm, acts + B->g, params + P->w2, params + P->b2, N, 4 * d, d, st));
        LAUNCH1D(k_residual, N * d, st, xout, acts + B->xm, acts + B->pm,
                 c->layerscale ? params + P->ls2 : (const float *)NULL, N, d);
    }
    return TP_OK;
}

static tp_status forward(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                         const float *params, const float *rope,
                         const tp_tf_config *c, int32_t rows, void *stream) {
    if (rows == 0 && tp_tf_config_check(c) == TP_OK) return TP_OK;
    cudaStream_t st = (cudaStream_t)stream;
    tp_tf_layout L;
    tp_tf_act_layout A;
    TP_TRY(begin(&L, &A, c, rows, st));
    const int T = c->sites, d = c->embed, q = c->states;
    const long long N = (long long)rows * T;
    TP_TRY(trunk_fwd(acts, tokens, cemb, params, rope, &L, &A, c, rows, c->depth, st));
    TP_TRY(ln_fwd(acts + A.af, acts + A.muf, acts + A.rsf, acts + A.xf, params + L.lnf_w, params + L.lnf_b,
                  N, d, st));
    TP_TRY(linear_fwd(logp, acts + A.af, params + L.head_w, params + L.head_b, N, d, q, st));
    LAUNCH1D(k_log_softmax, N, st, logp, N, q);
    return TP_OK;
}

/* The sampling forward (tp_tf_forward_site_cpu's contract): blocks
 * 0..depth-2 as in forward(); in the last block LN1, keys and values
 * (with RoPE) for all N tokens, everything else for one token a row, site
 * r*T + site[r], packed as row r of the (rows, ...) prefix of the block's
 * slabs:
 *   a2[r]   = a1[site]          (gathered LN1 output; LN2 overwrites it)
 *   query   = a2[r] Wq + bq     -> q slot of token r*T in qkv (row stride
 *                                  T*3d), rotated at position site[r]
 *   y[r]    = attention of that query over the row's T keys (att: the
 *             (rows,H,T) exponentials)
 *   xm[r]   = x[site] + ls1 * (y[r] Wo + bo);  then LN2, MLP, xf[r], LNf
 *   logits  = af[r] Whead + bhead -> logp row r*T (row stride T*q),
 *             log-softmax -> logp row r*T + site[r].
 * Sites live in device memory and are not range-checked here (net.c
 * builds them on the host from a permutation of 0..T-1). */
static tp_status forward_site(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                              const float *params, const float *rope,
                              const tp_tf_config *c, int32_t rows, void *stream) {
    if (rows == 0 && tp_tf_config_check(c) == TP_OK) return TP_OK;
    if (rows > 0 && !site) return TP_ERROR(TP_ERR_ARG, "transformer: site forward needs sites");
    cudaStream_t st = (cudaStream_t)stream;
    tp_tf_layout L;
    tp_tf_act_layout A;
    TP_TRY(begin(&L, &A, c, rows, st));
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states, np = d / H / 2;
    if ((long long)T * (3 * d > q ? 3 * d : q) > 0x7fffffffLL)   /* cuBLAS row strides T*3d, T*q */
        return TP_ERROR(TP_ERR_ARG, "transformer: site forward needs sites * max(3*embed, states) < 2^31");
    const long long N = (long long)rows * T, R = rows;
    const float scale = 1.0f / sqrtf((float)(d / H));
    TP_TRY(trunk_fwd(acts, tokens, NULL, params, rope, &L, &A, c, rows, c->depth - 1, st));

    const tp_tf_block_off *P = &L.blk[c->depth - 1];
    const tp_tf_act_block *B = &A.blk[c->depth - 1];
    const float *ls1 = c->layerscale ? params + P->ls1 : (const float *)NULL;
    const float *ls2 = c->layerscale ? params + P->ls2 : (const float *)NULL;
    float *a1 = acts + B->a1, *qkv = acts + B->qkv, *a2 = acts + B->a2, *xm = acts + B->xm;
    /* keys and values of every token: columns d..3d of Wqkv */
    TP_TRY(ln_fwd(a1, acts + B->mu1, acts + B->rs1, acts + B->x, params + P->ln1_w, params + P->ln1_b, N, d, st));
    TP_TRY(linear_fwd_ld(qkv + d, 3 * d, a1, d, params + P->wqkv + d, 3 * d, params + P->bqkv + d,
                         N, d, 2 * d, st));
    LAUNCH1D(k_rope, N * H * np, st, qkv + d, 3LL * d, 1, rope, (const int32_t *)NULL, N, T, d, H, 1.0f);
    /* the query at each row's site: columns 0..d of Wqkv */
    LAUNCH1D(k_gather_rows, R * d, st, a2, a1, site, R, T, d);
    TP_TRY(linear_fwd_ld(qkv, T * 3 * d, a2, d, params + P->wqkv, 3 * d, params + P->bqkv, R, d, d, st));
    LAUNCH1D(k_rope, R * H * np, st, qkv, (long long)T * 3 * d, 1, rope, site, R, T, d, H, 1.0f);
    k_attn_site<<<(unsigned)(R * H), SITE_THREADS, 0, st>>>(acts + B->y, acts + B->att, qkv, T, d, H, scale);
    TP_CUDA_CHECK(cudaGetLastError());
    /* the rest of the block, the final LayerNorm and the head on the R packed rows */
    TP_TRY(linear_fwd(acts + B->po, acts + B->y, params + P->wo, params + P->bo, R, d, d, st));
    LAUNCH1D(k_gather_rows, R * d, st, xm, acts + B->x, site, R, T, d);
    LAUNCH1D(k_residual, R * d, st, xm, xm, acts + B->po, ls1, R, d);
    TP_TRY(ln_fwd(a2, acts + B->mu2, acts + B->rs2, xm, params + P->ln2_w, params + P->ln2_b, R, d, st));
    TP_TRY(linear_fwd(acts + B->h, a2, params + P->w1, params + P->b1, R, d, 4 * d, st));
    LAUNCH1D(k_gelu_fwd, R * 4 * d, st, acts + B->g, acts + B->h, R * 4 * d);
    TP_TRY(linear_fwd(acts + B->pm, acts + B->g, params + P->w2, params + P->b2, R, 4 * d, d, st));
    LAUNCH1D(k_residual, R * d, st, acts + A.xf, xm, acts + B->pm, ls2, R, d);
    TP_TRY(ln_fwd(acts + A.af, acts + A.muf, acts + A.rsf, acts + A.xf, params + L.lnf_w, params + L.lnf_b,
                  R, d, st));
    TP_TRY(linear_fwd_ld(logp, T * q, acts + A.af, d, params + L.head_w, q, params + L.head_b, R, d, q, st));
    LAUNCH1D(k_log_softmax_site, R, st, logp, site, R, T, q);
    return TP_OK;
}

/* ---- backward ----------------------------------------------------------------- */

static tp_status backward(float *grads, float *dcemb, float *scratch, const float *dlogp,
                          const float *logp, const float *acts, const uint8_t *tokens,
                          const float *params, const float *rope,
                          const tp_tf_config *c, int32_t rows, void *stream) {
    if (rows == 0 && tp_tf_config_check(c) == TP_OK) return TP_OK;
    cudaStream_t st = (cudaStream_t)stream;
    tp_tf_layout L;
    tp_tf_act_layout A;
    TP_TRY(begin(&L, &A, c, rows, st));
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states;
    const long long N = (long long)rows * T;
    const float scale = 1.0f / sqrtf((float)(d / H));
    float *dx = scratch, *dtmp = dx + N * d, *dpo = dtmp + N * d, *dbig = dpo + N * d;
    float *dlogits = dbig + N * 4 * d, *sdot = dlogits + N * q;

    LAUNCH1D(k_log_softmax_bwd, N, st, dlogits, dlogp, logp, N, q);
    TP_TRY(linear_bwd(dtmp, grads + L.head_w, grads + L.head_b, dlogits, acts + A.af, params + L.head_w,
                      N, d, q, st));
    TP_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * N * d, st));
    TP_TRY(ln_bwd(dx, grads + L.lnf_w, grads + L.lnf_b, dtmp, acts + A.xf, acts + A.muf, acts + A.rsf,
                  params + L.lnf_w, N, d, st));
    for (int l = c->depth - 1; l >= 0; l--) {
        const tp_tf_block_off *P = &L.blk[l];
        const tp_tf_act_block *B = &A.blk[l];
        const float *dpm = dx;
        if (c->layerscale) {
            k_colsum_prod<<<d, 256, 0, st>>>(grads + P->ls2, dx, acts + B->pm, N, d);
            TP_CUDA_CHECK(cudaGetLastError());
            LAUNCH1D(k_scale_cols, N * d, st, dpo, dx, params + P->ls2, N, d);
            dpm = dpo;
        }
        TP_TRY(linear_bwd(dbig, grads + P->w2, grads + P->b2, dpm, acts + B->g, params + P->w2, N, 4 * d, d, st));
        LAUNCH1D(k_gelu_bwd, N * 4 * d, st, dbig, acts + B->h, N * 4 * d);
        TP_TRY(linear_bwd(dtmp, grads + P->w1, grads + P->b1, dbig, acts + B->a2, params + P->w1, N, d, 4 * d, st));
        TP_TRY(ln_bwd(dx, grads + P->ln2_w, grads + P->ln2_b, dtmp, acts + B->xm, acts + B->mu2, acts + B->rs2,
                      params + P->ln2_w, N, d, st));
        const float *dpa = dx;
        if (c->layerscale) {
            k_colsum_prod<<<d, 256, 0, st>>>(grads + P->ls1, dx, acts + B->po, N, d);
            TP_CUDA_CHECK(cudaGetLastError());
            LAUNCH1D(k_scale_cols, N * d, st, dpo, dx, params + P->ls1, N, d);
            dpa = dpo;
        }
        TP_TRY(linear_bwd(dtmp, grads + P->wo, grads + P->bo, dpa, acts + B->y, params + P->wo, N, d, d, st));
        k_attn_bwd_q<<<rows * H, attn_threads(T), 0, st>>>(dbig, sdot, dtmp, acts + B->y, acts + B->att,
                                                          acts + B->qkv, T, d, H, scale, A.tiled);
        TP_CUDA_CHECK(cudaGetLastError());
        k_attn_bwd_kv<<<rows * H, attn_threads(T), 0, st>>>(dbig, sdot, dtmp, acts + B->att, acts + B->qkv,
                                                           T, d, H, scale, A.tiled);
        TP_CUDA_CHECK(cudaGetLastError());
        LAUNCH1D(k_rope, N * 2 * H * (d / H / 2), st, dbig, 3LL * d, 2, rope, (const int32_t *)NULL,
                 N, T, d, H, -1.0f);
        TP_TRY(linear_bwd(dtmp, grads + P->wqkv, grads + P->bqkv, dbig, acts + B->a1, params + P->wqkv,
                          N, d, 3 * d, st));
        TP_TRY(ln_bwd(dx, grads + P->ln1_w, grads + P->ln1_b, dtmp, acts + B->x, acts + B->mu1, acts + B->rs1,
                      params + P->ln1_w, N, d, st));
    }
    if (dcemb) LAUNCH1D(k_cemb_bwd, (long long)rows * d, st, dcemb, dx, (long long)rows, T, d);
    k_embed_bwd<<<(q + 1) * d, 256, 0, st>>>(grads + L.wte, dx, tokens, N, d);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

extern "C" tp_status tp_tf_forward_cuda(float *acts, float *logp, const uint8_t *tokens,
                                        const float *params, const float *rope,
                                        const tp_tf_config *c, int32_t rows, void *stream) {
    return forward(acts, logp, tokens, NULL, params, rope, c, rows, stream);
}

extern "C" tp_status tp_tf_forward_site_cuda(float *acts, float *logp, const uint8_t *tokens,
                                             const int32_t *site, const float *params, const float *rope,
                                             const tp_tf_config *c, int32_t rows, void *stream) {
    return forward_site(acts, logp, tokens, site, params, rope, c, rows, stream);
}

extern "C" tp_status tp_tf_backward_cuda(float *grads, float *scratch, const float *dlogp,
                                         const float *logp, const float *acts, const uint8_t *tokens,
                                         const float *params, const float *rope,
                                         const tp_tf_config *c, int32_t rows, void *stream) {
    return backward(grads, NULL, scratch, dlogp, logp, acts, tokens, params, rope, c, rows, stream);
}

extern "C" tp_status tp_tf_forward_cond_cuda(float *acts, float *logp, const uint8_t *tokens,
                                             const float *cemb, const float *params, const float *rope,
                                             const tp_tf_config *c, int32_t rows, void *stream) {
    return forward(acts, logp, tokens, cemb, params, rope, c, rows, stream);
}

extern "C" tp_status tp_tf_backward_cond_cuda(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                              const float *logp, const float *acts, const uint8_t *tokens,
                                              const float *params, const float *rope,
                                              const tp_tf_config *c, int32_t rows, void *stream) {
    return backward(grads, dcemb, scratch, dlogp, logp, acts, tokens, params, rope, c, rows, stream);
}

extern "C" tp_status tp_tf_sgemm_gflops_cuda(double *out, int32_t n, int32_t reps) {
    *out = 0;
    float *a = NULL, *b = NULL, *c = NULL;
    size_t bytes = sizeof(float) * (size_t)n * n;
    TP_CUDA_CHECK(cudaMalloc(&a, bytes));
    TP_CUDA_CHECK(cudaMalloc(&b, bytes));
    TP_CUDA_CHECK(cudaMalloc(&c, bytes));
    TP_CUDA_CHECK(cudaMemset(a, 0, bytes));
    TP_CUDA_CHECK(cudaMemset(b, 0, bytes));
    tp_status st = get_handle(NULL);
    cudaEvent_t e0, e1;
    float best = 1e30f;
    if (st == TP_OK && cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
        const float one = 1.0f, zero = 0.0f;
        for (int r = 0; r <= reps; r++) {
            cudaEventRecord(e0, NULL);
            cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
            cudaEventRecord(e1, NULL);
            cudaEventSynchronize(e1);
            float ms = 0;
            cudaEventElapsedTime(&ms, e0, e1);
            if (r > 0 && ms < best) best = ms;
        }
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        *out = 2.0 * n * (double)n * n / (best * 1e-3) * 1e-9;
    }
    cudaFree(a); cudaFree(b); cudaFree(c);
    return st;
}
