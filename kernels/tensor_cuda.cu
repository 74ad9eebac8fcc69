/*
 * kernels/tensor_cuda.cu -- device memory for kernels/tensor.h.
 */
#include "tensor.h"
#include "cuda_common.cuh"

extern "C" void *tp_cuda_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        tp_error_set_at(TP_ERR_NOMEM, __FILE__, __LINE__, "cudaMalloc(%zu): %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    if (cudaMemset(p, 0, bytes) != cudaSuccess) { cudaFree(p); return NULL; }
    return p;
}

extern "C" void tp_cuda_free(void *p) { if (p) cudaFree(p); }

extern "C" tp_status tp_cuda_copy(void *dst, const void *src, size_t bytes, int kind) {
    cudaMemcpyKind k = kind == 0 ? cudaMemcpyHostToDevice : kind == 1 ? cudaMemcpyDeviceToHost
                                                                       : cudaMemcpyDeviceToDevice;
    TP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
    return TP_OK;
}

extern "C" tp_status tp_cuda_zero(void *p, size_t bytes) {
    TP_CUDA_CHECK(cudaMemset(p, 0, bytes));
    return TP_OK;
}

extern "C" tp_status tp_cuda_sync(void) {
    TP_CUDA_CHECK(cudaDeviceSynchronize());
    return TP_OK;
}
