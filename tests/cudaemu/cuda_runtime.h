/*
 * tests/cudaemu/cuda_runtime.h -- a CPU emulation of the part of the CUDA
 * programming model that the kernels/ .cu files use, so that the CUDA twins can be
 * compiled by g++ and run against the CPU reference on a machine without a
 * GPU ('make check' builds build/emu/check_all this way when nvcc exists).
 *
 * It shadows the real <cuda_runtime.h> (tests/cudaemu comes first on the
 * include path; the Makefile rewrites 'k<<<grid, block, shm, st>>>(args)'
 * into 'tp_emu_launch("k", k, grid, block, shm, st)(args)').  What it models:
 *   - a kernel launch runs its blocks one after another; every thread of a
 *     block is a fiber (ucontext) on the calling thread, so __syncthreads
 *     is a real barrier and __shared__ (static storage) is per block;
 *   - __shfl_xor_sync exchanges values between the lanes of a warp (32
 *     consecutive threads); a shuffle with an exited or missing lane of the
 *     mask is reported as an error, as is a barrier that can never release;
 *   - launch checks as on a device: an empty grid or block, or more than
 *     1024 threads per block, fail with cudaErrorInvalidConfiguration;
 *   - device memory is host memory filled with 0xff bytes (NaN as float or
 *     double, so reads of memory nothing wrote show up), with a guard zone
 *     after every allocation checked after every launch (a write past the
 *     end names the kernel and fails with cudaErrorIllegalAddress);
 *   - atomics are plain read-modify-writes (fibers never run concurrently).
 * What it does not model: timing, concurrency between blocks (so races
 * between blocks that only a real device shows), warp-synchronous code
 * without __syncwarp, float rounding of device intrinsics, TF32.
 * Passing under the emulator is not running on a GPU; it catches indexing,
 * layout, barrier and launch-configuration mistakes before a GPU does.
 */
#ifndef TP_CUDAEMU_RUNTIME_H
#define TP_CUDAEMU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <functional>

#define TP_CUDA_EMULATOR 1
#define CUDART_VERSION 13000

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNoDevice = 100,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchFailure = 719,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

typedef struct tp_emu_stream *cudaStream_t;
typedef struct tp_emu_event *cudaEvent_t;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int multiProcessorCount, warp_size, maxThreadsPerBlock, major, minor;
};

/* built-in variables of the running fiber */
extern thread_local uint3 tp_emu_thread_idx, tp_emu_block_idx;
extern thread_local dim3 tp_emu_block_dim, tp_emu_grid_dim;
#define threadIdx tp_emu_thread_idx
#define blockIdx tp_emu_block_idx
#define blockDim tp_emu_block_dim
#define gridDim tp_emu_grid_dim
static const int warpSize = 32;   /* (cudaDeviceProp.warpSize is not modelled) */

/* runtime API */
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int v, size_t n);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = 0);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc((void **)p, n); }

/* device side */
void __syncthreads(void);
void tp_emu_warp_exchange(unsigned mask, const void *in, void *out, size_t size, int src_lane);
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    int lane = (int)(threadIdx.x % 32u);
    int src = (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1));
    T out;
    tp_emu_warp_exchange(mask, &v, &out, sizeof(T), src);
    return out;
}
template <typename T> static inline T atomicAdd(T *p, T v) { T old = *p; *p = old + v; return old; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* kernel launches */
void tp_emu_run(const char *name, dim3 grid, dim3 block, const std::function<void()> &body);

template <typename... P> struct tp_emu_launcher {
    const char *name;
    void (*kernel)(P...);
    dim3 grid, block;
    /* the arguments convert to the kernel's parameter types here, once, as
     * on a launch (a NULL argument is still a null pointer constant) */
    void operator()(P... a) const {
        void (*k)(P...) = kernel;
        tp_emu_run(name, grid, block, [&]() { k(a...); });
    }
};
template <typename... P>
static inline tp_emu_launcher<P...> tp_emu_launch(const char *name, void (*k)(P...), dim3 grid, dim3 block,
                                                  size_t shm = 0, cudaStream_t st = 0) {
    (void)shm; (void)st;
    return tp_emu_launcher<P...>{ name, k, grid, block };
}

#endif /* TP_CUDAEMU_RUNTIME_H */
