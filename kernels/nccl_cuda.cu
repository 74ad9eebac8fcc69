/*
 * kernels/nccl_cuda.cu -- gradients summed across GPUs with NCCL for
 * data-parallel training under mpirun (man tempera-mpi(7)); declared in
 * kernels/cuda.h.  Like the host path (runtime/tp_mpi.c) the sum is taken
 * in rank order: every rank's buffer is all-gathered over NCCL and one
 * kernel adds them rank by rank, so every GPU holds the same bits.  Built
 * against nccl.h when config.mk finds it beside nvcc (TP_HAVE_NCCL); the
 * library itself (libnccl.so.2, some 200 MB) is loaded with dlopen on
 * first use, so tempera starts without it and a machine without NCCL sums
 * on the host instead.  The CUDA emulator and a build without NCCL get
 * stubs that say so.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "cuda.h"
#include "cuda_common.cuh"

#if defined(TP_HAVE_NCCL) && !defined(TP_CUDA_EMULATOR)
#include <nccl.h>

/* the NCCL entry points, from dlopen */
static struct {
    int tried, ok;
    decltype(&ncclGetUniqueId) get_id;
    decltype(&ncclCommInitRank) init_rank;
    decltype(&ncclAllGather) all_gather;
    decltype(&ncclCommDestroy) destroy;
    decltype(&ncclGetErrorString) error_string;
} nc;

static int nccl_load(void) {
    if (nc.tried) return nc.ok;
    nc.tried = 1;
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    nc.get_id = (decltype(nc.get_id))dlsym(h, "ncclGetUniqueId");
    nc.init_rank = (decltype(nc.init_rank))dlsym(h, "ncclCommInitRank");
    nc.all_gather = (decltype(nc.all_gather))dlsym(h, "ncclAllGather");
    nc.destroy = (decltype(nc.destroy))dlsym(h, "ncclCommDestroy");
    nc.error_string = (decltype(nc.error_string))dlsym(h, "ncclGetErrorString");
    nc.ok = nc.get_id && nc.init_rank && nc.all_gather && nc.destroy && nc.error_string;
    return nc.ok;
}

static ncclComm_t g_comm;
static cudaStream_t g_stream;
static int g_ranks;
static float *g_all;          /* (ranks, cap) device scratch for the gather */
static long long g_cap;

#define TP_NCCL_CHECK(expr) do { \
        ncclResult_t tp_nr_ = (expr); \
        if (tp_nr_ != ncclSuccess) \
            return tp_error_set_at(TP_ERR_CUDA, __FILE__, __LINE__, "%s: %s", #expr, nc.error_string(tp_nr_)); \
    } while (0)

/* 1 when the library loads (the header was found at build time) */
extern "C" int32_t tp_nccl_compiled(void) { return nccl_load(); }

extern "C" tp_status tp_nccl_unique_id(uint8_t *id, int32_t len) {
    if (!nccl_load()) return TP_ERROR(TP_ERR_NO_CUDA, "nccl: libnccl.so.2 cannot be loaded: %s", dlerror());
    if (!id || len < (int32_t)sizeof(ncclUniqueId))
        return TP_ERROR(TP_ERR_ARG, "nccl: the id needs %d bytes", (int)sizeof(ncclUniqueId));
    ncclUniqueId u;
    TP_NCCL_CHECK(nc.get_id(&u));
    memcpy(id, &u, sizeof u);
    return TP_OK;
}

extern "C" tp_status tp_nccl_init(const uint8_t *id, int32_t len, int32_t nranks, int32_t rank) {
    if (g_comm) return TP_OK;
    if (!nccl_load()) return TP_ERROR(TP_ERR_NO_CUDA, "nccl: libnccl.so.2 cannot be loaded");
    if (!id || len < (int32_t)sizeof(ncclUniqueId) || nranks < 1 || rank < 0 || rank >= nranks)
        return TP_ERROR(TP_ERR_ARG, "nccl: bad arguments (rank %d of %d)", rank, nranks);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    TP_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    TP_NCCL_CHECK(nc.init_rank(&g_comm, nranks, u, rank));
    g_ranks = nranks;
    return TP_OK;
}

/* out[i] = all[0][i] + all[1][i] + ... in rank order */
__global__ void tp_nccl_sum_ranks(float *out, const float *all, long long n, int ranks) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = all[i];
    for (int r = 1; r < ranks; r++) s += all[(long long)r * n + i];
    out[i] = s;
}

extern "C" tp_status tp_nccl_sum_f32(float *dev, int64_t n) {
    if (!g_comm) return TP_ERROR(TP_ERR_ARG, "nccl: not initialised (tp_nccl_init)");
    if (n < 0 || (n > 0 && !dev)) return TP_ERROR(TP_ERR_ARG, "nccl sum: bad buffer");
    if (n == 0 || g_ranks == 1) return TP_OK;
    if (n > g_cap) {
        if (g_all) cudaFree(g_all);
        g_all = NULL;
        g_cap = 0;
        TP_CUDA_CHECK(cudaMalloc((void **)&g_all, sizeof(float) * (size_t)n * (size_t)g_ranks));
        g_cap = n;
    }
    /* the gradient was written on the backend's stream: finish it first */
    TP_CUDA_CHECK(cudaDeviceSynchronize());
    TP_NCCL_CHECK(nc.all_gather(dev, g_all, (size_t)n, ncclFloat32, g_comm, g_stream));
    tp_nccl_sum_ranks<<<tp_cuda_blocks(n, 256), 256, 0, g_stream>>>(dev, g_all, (long long)n, g_ranks);
    TP_CUDA_CHECK(cudaGetLastError());
    TP_CUDA_CHECK(cudaStreamSynchronize(g_stream));
    return TP_OK;
}

extern "C" void tp_nccl_free(void) {
    if (g_comm) nc.destroy(g_comm);
    if (g_all) cudaFree(g_all);
    if (g_stream) cudaStreamDestroy(g_stream);
    g_comm = NULL;
    g_all = NULL;
    g_stream = NULL;
    g_cap = 0;
}

#else   /* ---- no NCCL (or the CPU emulator) -------------------------------------- */

#define TP_NO_NCCL() TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without NCCL (nccl.h not found beside nvcc)")
extern "C" int32_t tp_nccl_compiled(void) { return 0; }
extern "C" tp_status tp_nccl_unique_id(uint8_t *id, int32_t len) { (void)id; (void)len; return TP_NO_NCCL(); }
extern "C" tp_status tp_nccl_init(const uint8_t *id, int32_t len, int32_t nranks, int32_t rank) {
    (void)id; (void)len; (void)nranks; (void)rank;
    return TP_NO_NCCL();
}
extern "C" tp_status tp_nccl_sum_f32(float *dev, int64_t n) { (void)dev; (void)n; return TP_NO_NCCL(); }
extern "C" void tp_nccl_free(void) {}

#endif

/* The GPU this process uses: under mpirun rank r of a node takes GPU r mod
 * (GPUs on the node), before anything creates a CUDA context. */
extern "C" tp_status tp_cuda_select_device(int dev) {
    int n = tp_cuda_device_count();
    if (dev < 0 || dev >= n) return TP_ERROR(TP_ERR_NO_CUDA, "no CUDA device %d (%d present)", dev, n);
    TP_CUDA_CHECK(cudaSetDevice(dev));
    return TP_OK;
}
