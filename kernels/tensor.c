/*
 * kernels/tensor.c -- host/device memory helpers (kernels/tensor.h).
 */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>

int64_t tp_tensor_numel(const tp_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void *tp_mem_alloc(tp_device dev, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (dev == TP_DEVICE_CUDA) return tp_cuda_alloc(bytes);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) {
        TP_ERROR(TP_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

void tp_mem_free(tp_device dev, void *p) {
    if (!p) return;
    if (dev == TP_DEVICE_CUDA) tp_cuda_free(p);
    else free(p);
}

tp_status tp_mem_copy(void *dst, tp_device dd, const void *src, tp_device sd, size_t bytes) {
    if (bytes == 0) return TP_OK;
    if (dd == TP_DEVICE_CPU && sd == TP_DEVICE_CPU) { memmove(dst, src, bytes); return TP_OK; }
    int kind = sd == TP_DEVICE_CPU ? 0 : dd == TP_DEVICE_CPU ? 1 : 2;
    return tp_cuda_copy(dst, src, bytes, kind);
}

tp_status tp_mem_zero(tp_device dev, void *p, size_t bytes) {
    if (dev == TP_DEVICE_CUDA) return tp_cuda_zero(p, bytes);
    memset(p, 0, bytes);
    return TP_OK;
}
