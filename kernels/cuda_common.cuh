/*
 * kernels/cuda_common.cuh -- helpers shared by every .cu file.
 * TP_CUDA_CHECK converts a cudaError_t into TP_ERR_CUDA with the CUDA
 * message, records file:line and returns; it never exits.  Follow every
 * kernel launch with TP_CUDA_CHECK(cudaGetLastError()).
 */
#ifndef TP_CUDA_COMMON_CUH
#define TP_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include "common.h"

#define TP_CUDA_CHECK(expr) do { \
        cudaError_t tp_ce_ = (expr); \
        if (tp_ce_ != cudaSuccess) \
            return tp_error_set_at(TP_ERR_CUDA, __FILE__, __LINE__, "%s: %s", #expr, cudaGetErrorString(tp_ce_)); \
    } while (0)

static inline int tp_cuda_blocks(long long n, int threads) {
    return (int)((n + threads - 1) / threads);
}

#endif /* TP_CUDA_COMMON_CUH */
