/*
 * kernels/cuda.h -- CUDA availability.  Compiled from kernels/cuda_device.cu
 * when nvcc exists, from kernels/cuda_stub.c otherwise.  "Compiled in" and
 * "a GPU is present" are separate questions: tests and the backend table ask
 * tp_cuda_device_count() at run time.
 */
#ifndef TP_CUDA_H
#define TP_CUDA_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* 1 when tempera was built with CUDA kernels, else 0. */
TP_FFI int tp_cuda_compiled(void);
/* Number of usable CUDA devices now (0 without a driver, a GPU or CUDA). */
TP_FFI int tp_cuda_device_count(void);
/* CUDA runtime version as 1000*major + 10*minor, 0 when not compiled in. */
TP_FFI int tp_cuda_runtime_version(void);
/* Name of device dev into buf (always NUL-terminated). */
TP_FFI tp_status tp_cuda_device_name(int dev, char *buf, size_t len);
/* Use device dev from now on (before any CUDA work: several MPI ranks on
 * a node each take their own GPU). */
TP_FFI tp_status tp_cuda_select_device(int dev);

/* NCCL (kernels/nccl_cuda.cu; man tempera-mpi(7)): data-parallel gradients
 * summed across GPUs in rank order (all-gather, then one kernel adds the
 * ranks' buffers in order: every GPU holds the same bits).  compiled: 1
 * with NCCL.  unique_id: rank 0 makes the id (len >= 128 bytes) that every
 * rank passes to init (sent over MPI).  sum_f32: dev (n) [in/out], a
 * device buffer.  free: the communicator and scratch.  The library is
 * loaded on first use (dlopen): compiled is 0 where it cannot be. */
TP_FFI int32_t tp_nccl_compiled(void);
TP_FFI tp_status tp_nccl_unique_id(uint8_t *id, int32_t len);
TP_FFI tp_status tp_nccl_init(const uint8_t *id, int32_t len, int32_t nranks, int32_t rank);
TP_FFI tp_status tp_nccl_sum_f32(float *dev, int64_t n);
TP_FFI void tp_nccl_free(void);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_CUDA_H */
