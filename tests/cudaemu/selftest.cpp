/*
 * tests/cudaemu/selftest.cpp -- the CUDA emulator's own checks, so that a
 * pass of the emulated CUDA-vs-CPU suites means something: barriers order
 * shared-memory traffic (a reduction without them gives a wrong answer,
 * with them the right one), warp shuffles exchange lane values, __shared__
 * is per block, and the emulator reports what a device would: an empty
 * launch, a write past the end of device memory, a divergent barrier.
 * Built and run by 'make check-cuda-emu'; exit status 0 when all hold.
 */
#include "cuda_runtime.h"

#include <stdio.h>

static int failures = 0;
#define EXPECT(cond, ...) do { \
        if (!(cond)) { failures++; printf("selftest: FAILED %s: ", #cond); \
                       printf(__VA_ARGS__); putchar('\n'); } \
    } while (0)

/* block sum of in[0..256) into out[blockIdx.x], with or without barriers */
static void reduce_kernel(const int *in, int *out, int barriers) {
    __shared__ int sm[256];
    sm[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
    if (barriers) __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sm[threadIdx.x] += sm[threadIdx.x + s];
        if (barriers) __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = sm[0];
}

/* warp sum by butterfly shuffles: every lane ends with the warp's sum */
static void shfl_kernel(int *out) {
    int v = (int)threadIdx.x;
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v;
}

static void write_kernel(float *a, int n) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i <= n) a[i] = 1.0f;   /* one past the end: the bug */
}

/* lanes 0..15 wait at __syncthreads while 16..31 shuffle: never releases */
static void divergent_kernel(int *out) {
    if (threadIdx.x < 16) __syncthreads();
    else out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

int main(void) {
    if (!freopen("/dev/null", "w", stderr)) return 1;   /* the emulator's reports of the errors provoked below */
    const int B = 3;
    int *d_in, *d_out, h_in[B * 256], h_out[32];
    long want[B] = { 0, 0, 0 };
    for (int i = 0; i < B * 256; i++) { h_in[i] = (i * 7919) % 1000; want[i / 256] += h_in[i]; }
    EXPECT(cudaMalloc(&d_in, sizeof h_in) == cudaSuccess && cudaMalloc(&d_out, sizeof(int) * 32) == cudaSuccess,
           "cudaMalloc");
    cudaMemcpy(d_in, h_in, sizeof h_in, cudaMemcpyHostToDevice);

    /* per-block shared memory and barriers */
    tp_emu_launch("reduce", reduce_kernel, B, 256)(d_in, d_out, 1);
    EXPECT(cudaGetLastError() == cudaSuccess, "reduce launch");
    cudaMemcpy(h_out, d_out, sizeof(int) * B, cudaMemcpyDeviceToHost);
    for (int b = 0; b < B; b++) EXPECT(h_out[b] == want[b], "block %d sum %d, want %ld", b, h_out[b], want[b]);
    tp_emu_launch("reduce", reduce_kernel, B, 256)(d_in, d_out, 0);
    cudaMemcpy(h_out, d_out, sizeof(int) * B, cudaMemcpyDeviceToHost);
    int wrong = 0;
    for (int b = 0; b < B; b++) wrong += h_out[b] != want[b];
    EXPECT(wrong == B, "without barriers %d of %d block sums were still right", B - wrong, B);

    /* warp shuffles */
    tp_emu_launch("shfl", shfl_kernel, 1, 32)(d_out);
    cudaMemcpy(h_out, d_out, sizeof(int) * 32, cudaMemcpyDeviceToHost);
    for (int l = 0; l < 32; l++) EXPECT(h_out[l] == 31 * 32 / 2, "lane %d has %d", l, h_out[l]);

    /* what a device reports */
    tp_emu_launch("empty", shfl_kernel, 0, 32)(d_out);
    EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "an empty grid must fail");
    tp_emu_launch("huge", shfl_kernel, 1, 2048)(d_out);
    EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads a block must fail");
    tp_emu_launch("divergent", divergent_kernel, 1, 32)(d_out);
    EXPECT(cudaGetLastError() == cudaErrorLaunchFailure, "a divergent barrier must fail");
    EXPECT(cudaGetLastError() == cudaSuccess, "the error must clear once read");
#ifndef __SANITIZE_ADDRESS__   /* there AddressSanitizer stops the program at the write itself */
    float *d_a;
    cudaMalloc(&d_a, sizeof(float) * 100);
    tp_emu_launch("write", write_kernel, 1, 128)(d_a, 100);
    EXPECT(cudaGetLastError() == cudaErrorIllegalAddress, "a write past the end must be reported");
    cudaFree(d_a);
#endif
    EXPECT(cudaMemcpy(h_out, d_in + B * 256, sizeof(int), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
           "a copy from past the end must fail");
    cudaGetLastError();
    cudaFree(d_in);
    cudaFree(d_out);
    if (failures) return 1;
    printf("CUDA emulator self-test: barriers, shared memory, shuffles, launch and memory errors as on a device\n");
    return 0;
}
