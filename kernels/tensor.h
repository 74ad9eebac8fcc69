/*
 * kernels/tensor.h -- memory on a device: a small tensor descriptor and
 * allocation/copy helpers that hide whether memory is host (CPU backend)
 * or CUDA device memory.  Slabs (one allocation carved into many tensors)
 * are the rule: nothing here is called per training step.
 */
#ifndef TP_TENSOR_H
#define TP_TENSOR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tp_device { TP_DEVICE_CPU = 0, TP_DEVICE_CUDA = 1 } tp_device;

/* A float32 view into a slab: the slab owns the memory. */
typedef struct tp_tensor {
    float *data;
    int64_t shape[4];
    int32_t ndim;
    int32_t device;     /* tp_device */
} tp_tensor;

/* Number of elements of t. */
int64_t tp_tensor_numel(const tp_tensor *t);

/* bytes on dev, zero-filled; NULL (and an error message) on failure. */
void *tp_mem_alloc(tp_device dev, size_t bytes);
void tp_mem_free(tp_device dev, void *p);
tp_status tp_mem_copy(void *dst, tp_device dst_dev, const void *src, tp_device src_dev, size_t bytes);
tp_status tp_mem_zero(tp_device dev, void *p, size_t bytes);

/* CUDA side (kernels/tensor_cuda.cu; stubs without CUDA). */
void *tp_cuda_alloc(size_t bytes);
void tp_cuda_free(void *p);
/* kind: 0 host->device, 1 device->host, 2 device->device */
tp_status tp_cuda_copy(void *dst, const void *src, size_t bytes, int kind);
tp_status tp_cuda_zero(void *p, size_t bytes);
tp_status tp_cuda_sync(void);

#ifdef __cplusplus
}
#endif
#endif /* TP_TENSOR_H */
