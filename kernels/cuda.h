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
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_CUDA_H */
