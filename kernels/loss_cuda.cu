/*
 * kernels/loss_cuda.cu -- CUDA twin of the device-side parts of
 * kernels/loss_cpu.c: the weighted masked NLL with its gradient, and the
 * sampling / teacher-forcing step.  The per-row losses are summed in row
 * order on the host, like the CPU reference.
 */
#include "loss.h"
#include "cuda_common.cuh"

#include <stdlib.h>

/* one block per row: zero dlogp, set the scored entries, row log-lik */
__global__ void masked_nll_kernel(double *rowll, float *dlogp, const float *logp, const uint8_t *targets,
                                  const uint8_t *input, const double *rw, int T, int q, int all_sites) {
    __shared__ double sh[256];
    long long r = blockIdx.x;
    double s = 0;
    for (int i = threadIdx.x; i < T; i += blockDim.x) {
        long long n = r * T + i;
        float *g = dlogp + n * q;
        for (int k = 0; k < q; k++) g[k] = 0.0f;
        if (all_sites || input[n] == q) {
            int x = targets[n] < q ? targets[n] : 0;
            s += logp[n * q + x];
            g[x] = (float)(-rw[r]);
        }
    }
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) rowll[r] = sh[0];
}

static double *d_rowll = NULL, *h_rowll = NULL, *h_rw = NULL;
static int cap_rows = 0;

extern "C" tp_status tp_loss_masked_nll_cuda(double *loss, float *dlogp, const float *logp,
                                             const uint8_t *targets, const uint8_t *input, const double *rw,
                                             int32_t rows, int32_t T, int32_t q, int32_t all_sites, void *stream) {
    if (rows < 0 || T < 1 || q < 2) return TP_ERROR(TP_ERR_ARG, "masked nll: bad shape");
    if (rows == 0) { *loss = 0; return TP_OK; }
    if (rows > cap_rows) {
        cudaFree(d_rowll); free(h_rowll); free(h_rw);
        d_rowll = NULL; h_rowll = NULL; h_rw = NULL;
        cap_rows = 0;
        h_rowll = (double *)malloc(sizeof(double) * rows);
        h_rw = (double *)malloc(sizeof(double) * rows);
        if (!h_rowll || !h_rw) return TP_ERROR(TP_ERR_NOMEM, "masked nll: out of memory");
        TP_CUDA_CHECK(cudaMalloc(&d_rowll, sizeof(double) * rows));
        cap_rows = rows;
    }
    cudaStream_t st = (cudaStream_t)stream;
    masked_nll_kernel<<<rows, 256, 0, st>>>(d_rowll, dlogp, logp, targets, input, rw, T, q, all_sites);
    TP_CUDA_CHECK(cudaGetLastError());
    TP_CUDA_CHECK(cudaMemcpyAsync(h_rowll, d_rowll, sizeof(double) * rows, cudaMemcpyDeviceToHost, st));
    TP_CUDA_CHECK(cudaMemcpyAsync(h_rw, rw, sizeof(double) * rows, cudaMemcpyDeviceToHost, st));
    TP_CUDA_CHECK(cudaStreamSynchronize(st));
    double s = 0;
    for (int r = 0; r < rows; r++) s += -h_rw[r] * h_rowll[r];
    *loss = s;
    return TP_OK;
}

__global__ void sample_step_kernel(uint8_t *work, double *logq, const float *logp, const uint8_t *truth,
                                   const int32_t *site, const float *u, int rows, int T, int q) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    long long n = (long long)r * T + site[r];
    const float *lp = logp + n * q;
    int x = tp_loss_pick(lp, truth ? truth[n] : -1, u[r], q);
    work[n] = (uint8_t)x;
    logq[r] += lp[x];
}

extern "C" tp_status tp_loss_sample_step_cuda(uint8_t *work, double *logq, const float *logp,
                                              const uint8_t *truth, const int32_t *site, const float *u,
                                              int32_t rows, int32_t T, int32_t q, void *stream) {
    if (rows <= 0) return TP_OK;
    /* site indices are validated by the caller (tp_net builds them from a permutation) */
    sample_step_kernel<<<tp_cuda_blocks(rows, 128), 128, 0, (cudaStream_t)stream>>>(
        work, logq, logp, truth, site, u, rows, T, q);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}
