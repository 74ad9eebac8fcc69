/*
 * kernels/optim_cuda.cu -- CUDA twin of kernels/optim_cpu.c: Adam(W), EMA,
 * sum of squares (same 1024-block partition as the CPU, partials summed in
 * order on the host), scaling.
 */
#include "optim.h"
#include "cuda_common.cuh"

#include <math.h>

__global__ void adam_kernel(float *params, float *m, float *v, const float *grads, float lr, float b1,
                            float b2, float eps, float wd, float bc1, float bc2, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grads[i], p = params[i];
    if (wd != 0.0f) p -= lr * wd * p;
    float mi = b1 * m[i] + (1.0f - b1) * g;
    float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi; v[i] = vi;
    params[i] = p - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
}

extern "C" tp_status tp_optim_adam_cuda(float *params, float *m, float *v, const float *grads,
                                        const tp_adam_config *c, int64_t t, int64_t n, void *stream) {
    if (t < 1) return TP_ERROR(TP_ERR_ARG, "adam: step must be >= 1, got %lld", (long long)t);
    if (n == 0) return TP_OK;
    const float bc1 = (float)(1.0 - pow(c->beta1, (double)t)), bc2 = (float)(1.0 - pow(c->beta2, (double)t));
    adam_kernel<<<tp_cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(
        params, m, v, grads, c->lr, c->beta1, c->beta2, c->eps, c->weight_decay, bc1, bc2, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

__global__ void ema_kernel(float *ema, const float *params, float decay, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) ema[i] = decay * ema[i] + (1.0f - decay) * params[i];
}

extern "C" tp_status tp_optim_ema_cuda(float *ema, const float *params, float decay, int64_t n, void *stream) {
    if (n == 0) return TP_OK;
    ema_kernel<<<tp_cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(ema, params, decay, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

#define NB 1024
__global__ void sumsq_kernel(double *part, const float *x, long long n, long long chunk) {
    __shared__ double sh[256];
    long long lo = (long long)blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
    double s = 0;
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) s += (double)x[i] * x[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

static double *d_part = NULL;

extern "C" tp_status tp_optim_sumsq_cuda(double *out, const float *x, int64_t n, void *stream) {
    if (!d_part) TP_CUDA_CHECK(cudaMalloc(&d_part, sizeof(double) * NB));
    long long chunk = (n + NB - 1) / NB;
    if (chunk < 1) chunk = 1;
    sumsq_kernel<<<NB, 256, 0, (cudaStream_t)stream>>>(d_part, x, n, chunk);
    TP_CUDA_CHECK(cudaGetLastError());
    double h[NB];
    TP_CUDA_CHECK(cudaMemcpyAsync(h, d_part, sizeof h, cudaMemcpyDeviceToHost, (cudaStream_t)stream));
    TP_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)stream));
    double s = 0;
    for (int b = 0; b < NB; b++) s += h[b];
    *out = s;
    return TP_OK;
}

__global__ void scale_kernel(float *x, float s, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}

extern "C" tp_status tp_optim_scale_cuda(float *x, float s, int64_t n, void *stream) {
    if (n == 0) return TP_OK;
    scale_kernel<<<tp_cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(x, s, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}
