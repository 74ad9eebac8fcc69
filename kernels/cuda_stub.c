/*
 * kernels/cuda_stub.c -- compiled instead of every kernels/NAME.cu file when nvcc is
 * absent (HAVE_CUDA=0).  Each entry point reports "no CUDA": tempera then
 * runs on the CPU backend only.  Keep one stub per CUDA entry point.
 */
#include "cuda.h"

int tp_cuda_compiled(void) { return 0; }
int tp_cuda_device_count(void) { return 0; }
int tp_cuda_runtime_version(void) { return 0; }

tp_status tp_cuda_device_name(int dev, char *buf, size_t len) {
    if (buf && len) buf[0] = 0;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}
