/*
 * kernels/cond_cuda.cu -- CUDA twin of kernels/cond_cpu.c: sinusoidal
 * features of each row's conditions, the two-layer GELU MLP and its
 * backward (kernels/cond.h), same argument order with 'stream' last.  The
 * MLP is tiny (F <= 72 inputs, d wide, one row per sample of a chunk), so
 * plain kernels, one thread per output, with sums in double as on the CPU.
 * Parameter-gradient reductions loop over rows in a fixed order, so
 * results are deterministic.
 */
#include "cond.h"
#include "cuda_common.cuh"

#include <math.h>

#define COND_TILE 128

/* phi[r, j*(1+2M) ..] = [c, sin(2^m c), cos(2^m c)]: one thread per (row, condition) */
__global__ void k_cond_features(float *acts, const float *cond, int rows, int k, long long stride) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * k) return;
    long long r = i / k;
    int j = (int)(i % k);
    float *f = acts + r * stride + j * (1 + 2 * TP_COND_FREQS);
    float c = cond[i];
    f[0] = c;
    for (int m = 0; m < TP_COND_FREQS; m++) {
        double a = ldexp((double)c, m);
        f[1 + 2 * m] = (float)sin(a);
        f[2 + 2 * m] = (float)cos(a);
    }
}

/* hc = phi W1 + b1, g = GELU(hc): one thread per (row, unit) */
__global__ void k_cond_hidden(float *acts, const float *W1, const float *b1, int rows, int F, int d,
                              long long stride) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * d) return;
    long long r = i / d;
    int o = (int)(i % d);
    const float *phi = acts + r * stride;
    double s = b1[o];
    for (int f = 0; f < F; f++) s += (double)phi[f] * W1[(long long)f * d + o];
    acts[r * stride + F + o] = (float)s;
    acts[r * stride + F + d + o] = (float)(0.5 * s * (1.0 + erf(s * 0.7071067811865476)));
}

/* cemb = g W2 + b2: one thread per (row, output) */
__global__ void k_cond_out(float *cemb, const float *acts, const float *W2, const float *b2, int rows, int F,
                           int d, long long stride) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * d) return;
    long long r = i / d;
    int o = (int)(i % d);
    const float *g = acts + r * stride + F + d;
    double s = b2[o];
    for (int j = 0; j < d; j++) s += (double)g[j] * W2[(long long)j * d + o];
    cemb[i] = (float)s;
}

/* gW2[i,o] += sum_r g[r,i] de[r,o] (threads 0..d*d-1); gb2[o] += sum_r de[r,o]
 * (threads d*d..d*d+d-1) */
__global__ void k_cond_bwd_out(float *gW2, float *gb2, const float *dcemb, const float *acts, int rows, int F,
                               int d, long long stride) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)d * d + d) return;
    double s = 0;
    if (t < (long long)d * d) {
        int i = (int)(t / d), o = (int)(t % d);
        for (int r = 0; r < rows; r++) s += (double)acts[r * stride + F + d + i] * dcemb[(long long)r * d + o];
        gW2[t] += (float)s;
    } else {
        int o = (int)(t - (long long)d * d);
        for (int r = 0; r < rows; r++) s += dcemb[(long long)r * d + o];
        gb2[o] += (float)s;
    }
}

/* hidden layer, one block per unit i: dh[r] = (sum_o W2[i,o] de[r,o])
 * GELU'(hc[r,i]) for a tile of rows into shared memory, then thread f < F
 * accumulates gW1[f,i] += sum_r dh[r] phi[r,f] and thread F gb1[i]. */
__global__ void k_cond_bwd_hidden(float *gW1, float *gb1, const float *dcemb, const float *acts,
                                  const float *W2, int rows, int F, int d, long long stride) {
    __shared__ double dh[COND_TILE];
    const int i = blockIdx.x, t = threadIdx.x;
    double acc = 0;
    for (int r0 = 0; r0 < rows; r0 += COND_TILE) {
        int r = r0 + t;
        if (r < rows) {
            double dg = 0;
            for (int o = 0; o < d; o++) dg += (double)W2[(long long)i * d + o] * dcemb[(long long)r * d + o];
            double x = acts[r * stride + F + i];
            dh[t] = dg * (0.5 * (1.0 + erf(x * 0.7071067811865476)) + x * exp(-0.5 * x * x) * 0.3989422804014327);
        }
        __syncthreads();
        int n = rows - r0 < COND_TILE ? rows - r0 : COND_TILE;
        if (t < F)
            for (int j = 0; j < n; j++) acc += dh[j] * acts[(r0 + j) * stride + t];
        else if (t == F)
            for (int j = 0; j < n; j++) acc += dh[j];
        __syncthreads();
    }
    if (t < F) gW1[(long long)t * d + i] += (float)acc;
    else if (t == F) gb1[i] += (float)acc;
}

static tp_status check_args(const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (c->conds < 1) return TP_ERROR(TP_ERR_ARG, "cond: the network has no conditions");
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "cond: rows must be >= 0, got %d", rows);
    if (tp_cond_features(c->conds) + 1 > COND_TILE)
        return TP_ERROR(TP_ERR_ARG, "cond: %d conditions exceed the CUDA kernel's tile", c->conds);
    return TP_OK;
}

extern "C" tp_status tp_cond_forward_cuda(float *cemb, float *acts, const float *cond, const float *params,
                                          const tp_tf_config *c, int32_t rows, void *stream) {
    TP_TRY(check_args(c, rows));
    if (rows == 0) return TP_OK;
    cudaStream_t st = (cudaStream_t)stream;
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    const int k = c->conds, F = tp_cond_features(k), d = c->embed;
    const long long stride = F + 2LL * d, nd = (long long)rows * d;
    k_cond_features<<<tp_cuda_blocks((long long)rows * k, 128), 128, 0, st>>>(acts, cond, rows, k, stride);
    TP_CUDA_CHECK(cudaGetLastError());
    k_cond_hidden<<<tp_cuda_blocks(nd, 128), 128, 0, st>>>(acts, params + L.cond_w1, params + L.cond_b1,
                                                          rows, F, d, stride);
    TP_CUDA_CHECK(cudaGetLastError());
    k_cond_out<<<tp_cuda_blocks(nd, 128), 128, 0, st>>>(cemb, acts, params + L.cond_w2, params + L.cond_b2,
                                                       rows, F, d, stride);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

extern "C" tp_status tp_cond_backward_cuda(float *grads, const float *dcemb, const float *acts,
                                           const float *params, const tp_tf_config *c, int32_t rows,
                                           void *stream) {
    TP_TRY(check_args(c, rows));
    if (rows == 0) return TP_OK;
    cudaStream_t st = (cudaStream_t)stream;
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    const int F = tp_cond_features(c->conds), d = c->embed;
    const long long stride = F + 2LL * d;
    k_cond_bwd_out<<<tp_cuda_blocks((long long)d * d + d, 128), 128, 0, st>>>(
        grads + L.cond_w2, grads + L.cond_b2, dcemb, acts, rows, F, d, stride);
    TP_CUDA_CHECK(cudaGetLastError());
    k_cond_bwd_hidden<<<d, COND_TILE, 0, st>>>(grads + L.cond_w1, grads + L.cond_b1, dcemb, acts,
                                              params + L.cond_w2, rows, F, d, stride);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}
