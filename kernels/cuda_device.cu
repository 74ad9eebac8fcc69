/*
 * kernels/cuda_device.cu -- CUDA availability probes (see kernels/cuda.h).
 * Nothing here creates a context until asked: tp_cuda_device_count() is safe
 * to call on a machine with nvcc but no driver or GPU, and returns 0.
 */
#include <stdio.h>
#include "cuda.h"
#include "cuda_common.cuh"

extern "C" int tp_cuda_compiled(void) { return 1; }

extern "C" int tp_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" int tp_cuda_runtime_version(void) {
    int v = 0;
    if (cudaRuntimeGetVersion(&v) != cudaSuccess) return 0;
    return v;
}

extern "C" tp_status tp_cuda_device_name(int dev, char *buf, size_t len) {
    if (!buf || len == 0) return TP_ERROR(TP_ERR_ARG, "tp_cuda_device_name: empty buffer");
    buf[0] = 0;
    if (dev < 0 || dev >= tp_cuda_device_count())
        return TP_ERROR(TP_ERR_NO_CUDA, "no CUDA device %d", dev);
    cudaDeviceProp prop;
    TP_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    snprintf(buf, len, "%s", prop.name);
    return TP_OK;
}
