/*
 * kernels/reweight_cuda.cu -- CUDA twin of the reweighting kernels
 * (reweight.h); reweight_cpu.c is the oracle it is tested against
 * (tests/check_reweight.c, skipped without a device).
 *
 * Contract: same arguments and results as the _cpu functions, including the
 * streaming shift scheme.  Pointers are HOST pointers: a chunk is copied to
 * a grow-only device scratch area, reduced there, and only small results
 * (per-block partial sums, the histogram, the correlation sums) come back;
 * the final combination and the rescaling of the running sums happen on the
 * host in double exactly as on the CPU.  Not thread-safe (one scratch
 * area).  stream must be NULL (the default stream) for now.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cuda.h"
#include "cuda_common.cuh"
#include "reweight.h"
#include "rw_boot.h"

#define RW_THREADS 256
#define RW_MAX_BLOCKS 1024

static void *g_scratch = NULL;
static size_t g_scratch_bytes = 0;

/* Device scratch of at least bytes (grow-only). */
static tp_status scratch(size_t bytes, char **p) {
    if (bytes > g_scratch_bytes) {
        if (g_scratch) { cudaFree(g_scratch); g_scratch = NULL; g_scratch_bytes = 0; }
        size_t want = bytes + bytes / 4 + 4096;
        TP_CUDA_CHECK(cudaMalloc(&g_scratch, want));
        g_scratch_bytes = want;
    }
    *p = (char *)g_scratch;
    return TP_OK;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

static int nblocks(int64_t n) {
    int64_t b = (n + RW_THREADS - 1) / RW_THREADS;
    if (b > RW_MAX_BLOCKS) b = RW_MAX_BLOCKS;
    return b < 1 ? 1 : (int)b;
}

/* Every entry point starts here: TP_ERR_NO_CUDA without a device (asked
 * once; CUDA compiled in does not mean a GPU is present), and the stream
 * must be NULL. */
static int g_devices = -1;

static tp_status rw_enter(void *stream) {
    if (g_devices < 0) g_devices = tp_cuda_device_count();
    if (g_devices <= 0)
        return TP_ERROR(TP_ERR_NO_CUDA, "reweight CUDA kernels: no CUDA device found (use the CPU backend)");
    if (stream) return TP_ERROR(TP_ERR_ARG, "reweight CUDA kernels: stream must be NULL");
    return TP_OK;
}

/* ---- kernels --------------------------------------------------------------- */

/* part: (gridDim.x) block maxima of logw; bad: (1) set to 1 on NaN/+inf. */
__global__ void rw_max_kernel(double *part, int *bad, const double *logw, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double m = -INFINITY;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double v = logw[i];
        if (isnan(v) || v == INFINITY) *bad = 1;
        else if (v > m) m = v;
    }
    sm[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && sm[threadIdx.x + s] > sm[threadIdx.x]) sm[threadIdx.x] = sm[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sm[0];
}

/* part: (gridDim.x, 4) block sums of w, w^2, w d, w d^2 with
 * w = exp(logw - shift) (1 when logw is NULL... times exp(-shift)), d = x - c. */
__global__ void rw_sums_kernel(double *part, const double *x, const double *logw, double shift, double c,
                               int32_t stride, int64_t n) {
    __shared__ double sm[4][RW_THREADS];
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double w = logw ? exp(logw[i] - shift) : exp(-shift);
        a0 += w; a1 += w * w;
        if (x) { double d = x[i * stride] - c; a2 += w * d; a3 += w * d * d; }
    }
    sm[0][threadIdx.x] = a0; sm[1][threadIdx.x] = a1; sm[2][threadIdx.x] = a2; sm[3][threadIdx.x] = a3;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            for (int k = 0; k < 4; k++) sm[k][threadIdx.x] += sm[k][threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        for (int k = 0; k < 4; k++) part[blockIdx.x * 4 + k] = sm[k][0];
}

/* w: (n) = exp(logw - lse) */
__global__ void rw_exp_kernel(double *w, const double *logw, double lse, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        w[i] = exp(logw[i] - lse);
}

/* hist: (nx, ny) += weights; same binning rule as the CPU reference. */
__global__ void rw_hist_kernel(double *hist, const double *x, const double *logw, double shift,
                               double xlo, double xhi, double ylo, double yhi, double sx, double sy,
                               int32_t nx, int32_t ny, int32_t stride, int two_d, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double v = x[i * stride];
        if (!(v >= xlo && v <= xhi)) continue;
        int64_t bx = (int64_t)((v - xlo) * sx);
        if (bx >= nx) bx = nx - 1;
        int64_t b = bx;
        if (two_d) {
            double u = x[i * stride + 1];
            if (!(u >= ylo && u <= yhi)) continue;
            int64_t by = (int64_t)((u - ylo) * sy);
            if (by >= ny) by = ny - 1;
            b = bx * ny + by;
        }
        double w = logw ? exp(logw[i] - shift) : exp(-shift);
        atomicAdd(&hist[b], w);
    }
}

/* acc: (rmax + 4) += per (sample, r) thread; see tp_rw_corr_cpu. */
__global__ void rw_corr_kernel(double *acc, const uint8_t *x, const double *logw, double shift,
                               int32_t L, int32_t q, int32_t rmax, int64_t n) {
    const int64_t total = n * (int64_t)(rmax + 1);
    const int64_t N = (int64_t)L * L;
    const double norm = 1.0 / (2.0 * (double)N);
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t b = t / (rmax + 1);
        int32_t r = (int32_t)(t % (rmax + 1));
        double w = logw ? exp(logw[b] - shift) : exp(-shift);
        if (w == 0.0) continue;
        const uint8_t *c = x + b * N;
        long long sum = 0;
        for (int32_t y = 0; y < L; y++) {
            const uint8_t *row = c + (int64_t)y * L, *down = c + (int64_t)((y + r) % L) * L;
            for (int32_t xx = 0; xx < L; xx++) {
                int32_t xr = xx + r; if (xr >= L) xr -= L;
                if (q == 2) {
                    int si = 2 * row[xx] - 1;
                    sum += si * (2 * row[xr] - 1) + si * (2 * down[xx] - 1);
                } else {
                    sum += (row[xx] == row[xr]) + (row[xx] == down[xx]);
                }
            }
        }
        atomicAdd(&acc[r], w * (double)sum * norm);
        if (r == 0) {
            atomicAdd(&acc[rmax + 1], w);
            if (q == 2) {
                long long mag = 0;
                for (int64_t i = 0; i < N; i++) mag += 2 * c[i] - 1;
                double mm = (double)mag / (double)N;
                atomicAdd(&acc[rmax + 2], w * mm);
                atomicAdd(&acc[rmax + 3], w * fabs(mm));
            }
        }
    }
}

/* ---- host helpers ------------------------------------------------------------ */

/* Chunk maximum of logw already on the device (d_logw NULL: 0 or -inf). */
static tp_status dev_max(double *mx, const double *d_logw, const double *h_logw, int64_t n, char *tmp) {
    if (!d_logw) { *mx = n > 0 ? 0.0 : -INFINITY; return TP_OK; }
    if (n == 0) { *mx = -INFINITY; return TP_OK; }
    int nb = nblocks(n);
    double *part = (double *)tmp;
    int *bad = (int *)(tmp + align256(sizeof(double) * RW_MAX_BLOCKS));
    TP_CUDA_CHECK(cudaMemset(bad, 0, sizeof(int)));
    rw_max_kernel<<<nb, RW_THREADS>>>(part, bad, d_logw, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double hp[RW_MAX_BLOCKS];
    int hbad = 0;
    TP_CUDA_CHECK(cudaMemcpy(hp, part, sizeof(double) * nb, cudaMemcpyDeviceToHost));
    TP_CUDA_CHECK(cudaMemcpy(&hbad, bad, sizeof(int), cudaMemcpyDeviceToHost));
    if (hbad) {
        for (int64_t i = 0; i < n; i++)
            if (isnan(h_logw[i]) || h_logw[i] == INFINITY)
                return TP_ERROR(TP_ERR_ARG, "log-weight %lld is %g (must be finite or -inf)", (long long)i, h_logw[i]);
    }
    double m = -INFINITY;
    for (int b = 0; b < nb; b++) if (hp[b] > m) m = hp[b];
    *mx = m;
    return TP_OK;
}

/* Scratch layout: [tmp: partials 64 KiB][logw][data][out] */
#define RW_TMP_BYTES ((size_t)65536)

static tp_status stage(char **base, double **d_logw, void **d_data, double **d_out,
                       const double *logw, const void *data, size_t data_bytes, size_t out_bytes, int64_t n) {
    size_t lb = logw ? align256(sizeof(double) * (size_t)n) : 0;
    size_t db = align256(data_bytes);
    TP_TRY(scratch(RW_TMP_BYTES + lb + db + align256(out_bytes), base));
    char *p = *base + RW_TMP_BYTES;
    *d_logw = logw ? (double *)p : NULL;
    p += lb;
    *d_data = data_bytes ? (void *)p : NULL;
    p += db;
    *d_out = (double *)p;
    if (logw && n > 0) TP_CUDA_CHECK(cudaMemcpy(*d_logw, logw, sizeof(double) * (size_t)n, cudaMemcpyHostToDevice));
    if (data_bytes) TP_CUDA_CHECK(cudaMemcpy(*d_data, data, data_bytes, cudaMemcpyHostToDevice));
    return TP_OK;
}

static void rescale_host(double *a, int64_t len, double *shift, double newmax) {
    if (!(newmax > *shift)) return;
    double f = (*shift == -INFINITY) ? 0.0 : exp(*shift - newmax);
    for (int64_t k = 0; k < len; k++) a[k] *= f;
    *shift = newmax;
}

/* The same for R moments accumulators (TP_RW_NACC doubles each): sums of
 * w scale by f, of w^2 by f^2, the weighted M2 by f; n and the mean stay. */
static void rescale_moments(double *acc, int32_t R, double *shift, double newmax) {
    if (!(newmax > *shift)) return;
    double f = (*shift == -INFINITY) ? 0.0 : exp(*shift - newmax);
    for (int32_t j = 0; j < R; j++) {
        double *a = acc + (int64_t)j * TP_RW_NACC;
        a[1] *= f; a[2] *= f * f; a[4] *= f;
    }
    *shift = newmax;
}

/* Merge a chunk's sums into a moments accumulator (Chan et al.): n samples,
 * sw = sum w, sw2 = sum w^2, s1 = sum w (x - c), s2 = sum w (x - c)^2
 * around the centre c (has_x 0: no values, weights only). */
static void merge_moments(double *a, double n, double sw, double sw2, double s1, double s2, double c, int has_x) {
    double mean = 0.0, m2 = 0.0;
    if (sw > 0.0 && has_x) { mean = c + s1 / sw; m2 = s2 - s1 * s1 / sw; if (m2 < 0.0) m2 = 0.0; }
    a[0] += n;
    if (sw > 0.0) {
        double W = a[1] + sw, d = mean - a[3];
        a[3] += d * (sw / W);
        a[4] += m2 + d * d * a[1] * sw / W;
        a[1] = W;
        a[2] += sw2;
    }
}

/* Copy len doubles back from the device and add them to host[]. */
static tp_status add_back(double *host, const double *dev, int64_t len, const char *what) {
    double *h = (double *)malloc(sizeof(double) * (size_t)(len > 0 ? len : 1));
    if (!h) return TP_ERROR(TP_ERR_NOMEM, "%s: no memory", what);
    cudaError_t ce = cudaMemcpy(h, dev, sizeof(double) * (size_t)len, cudaMemcpyDeviceToHost);
    if (ce != cudaSuccess) { free(h); TP_CUDA_CHECK(ce); }
    for (int64_t k = 0; k < len; k++) host[k] += h[k];
    free(h);
    return TP_OK;
}

/* The start of the entry points that add into len host accumulators acc
 * kept relative to *shift: stage logw and data (data_bytes) with a zeroed
 * device array d_out of len doubles, take the chunk's largest log-weight
 * and rescale acc to it.  *skip = 1 when every weight of the chunk is zero
 * (nothing to add). */
static tp_status stage_acc(char **base, double **d_logw, void **d_data, double **d_out, int *skip, double *acc,
                           int64_t len, double *shift, const double *logw, const void *data, size_t data_bytes,
                           int64_t n) {
    TP_TRY(stage(base, d_logw, d_data, d_out, logw, data, data_bytes, sizeof(double) * (size_t)len, n));
    double m;
    TP_TRY(dev_max(&m, *d_logw, logw, n, *base));
    rescale_host(acc, len, shift, m);
    *skip = m == -INFINITY;
    if (!*skip) TP_CUDA_CHECK(cudaMemset(*d_out, 0, sizeof(double) * (size_t)len));
    return TP_OK;
}

/* ---- entry points ------------------------------------------------------------ */

extern "C" tp_status tp_rw_logsumexp_cuda(double *out, const double *logw, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!out || (n > 0 && !logw) || n < 0) return TP_ERROR(TP_ERR_ARG, "logsumexp: NULL array or n < 0");
    if (n == 0) { *out = -INFINITY; return TP_OK; }
    char *base; double *d_logw, *d_out; void *d_data;
    TP_TRY(stage(&base, &d_logw, &d_data, &d_out, logw, NULL, 0, 0, n));
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    if (m == -INFINITY) { *out = -INFINITY; return TP_OK; }
    int nb = nblocks(n);
    rw_sums_kernel<<<nb, RW_THREADS>>>((double *)base, NULL, d_logw, m, 0.0, 1, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double hp[RW_MAX_BLOCKS * 4];
    TP_CUDA_CHECK(cudaMemcpy(hp, base, sizeof(double) * 4 * nb, cudaMemcpyDeviceToHost));
    double s = 0.0;
    for (int b = 0; b < nb; b++) s += hp[b * 4];
    *out = m + log(s);
    return TP_OK;
}

extern "C" tp_status tp_rw_normalize_cuda(double *w, const double *logw, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!w || !logw || n < 1) return TP_ERROR(TP_ERR_ARG, "normalize: NULL array or n < 1");
    double lse;
    TP_TRY(tp_rw_logsumexp_cuda(&lse, logw, n, stream));
    if (lse == -INFINITY) return TP_ERROR(TP_ERR_ARG, "normalize: every weight is zero");
    char *base = (char *)g_scratch;    /* logw is still staged from the call above */
    double *d_logw = (double *)(base + RW_TMP_BYTES);
    rw_exp_kernel<<<nblocks(n), RW_THREADS>>>(d_logw, d_logw, lse, n);
    TP_CUDA_CHECK(cudaGetLastError());
    TP_CUDA_CHECK(cudaMemcpy(w, d_logw, sizeof(double) * (size_t)n, cudaMemcpyDeviceToHost));
    return TP_OK;
}

extern "C" tp_status tp_rw_moments_cuda(double *acc, double *shift, const double *x, const double *logw,
                                        int32_t stride, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!acc || !shift || n < 0 || (x && stride < 1))
        return TP_ERROR(TP_ERR_ARG, "moments: NULL accumulator, n < 0 or stride < 1");
    size_t xb = x ? sizeof(double) * (size_t)n * (size_t)stride : 0;
    char *base; double *d_logw, *d_out; void *d_x;
    TP_TRY(stage(&base, &d_logw, &d_x, &d_out, logw, x, xb, 0, n));
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    rescale_moments(acc, 1, shift, m);
    if (m == -INFINITY) { acc[0] += (double)n; return TP_OK; }
    const double c = x ? (acc[1] > 0.0 ? acc[3] : x[0]) : 0.0;
    int nb = nblocks(n);
    rw_sums_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_x, d_logw, *shift, c, stride, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double hp[RW_MAX_BLOCKS * 4];
    TP_CUDA_CHECK(cudaMemcpy(hp, base, sizeof(double) * 4 * nb, cudaMemcpyDeviceToHost));
    double sw = 0.0, sw2 = 0.0, s1 = 0.0, s2 = 0.0;
    for (int b = 0; b < nb; b++) { sw += hp[b * 4]; sw2 += hp[b * 4 + 1]; s1 += hp[b * 4 + 2]; s2 += hp[b * 4 + 3]; }
    merge_moments(acc, (double)n, sw, sw2, s1, s2, c, x != NULL);
    return TP_OK;
}

static tp_status hist_cuda(double *hist, double *shift, const double *x, const double *logw,
                           double xlo, double xhi, double ylo, double yhi,
                           int32_t nx, int32_t ny, int32_t stride, int64_t n, int two_d, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!hist || !shift || (n > 0 && !x) || n < 0) return TP_ERROR(TP_ERR_ARG, "histogram: NULL array or n < 0");
    if (nx < 1 || ny < 1 || stride < (two_d ? 2 : 1))
        return TP_ERROR(TP_ERR_ARG, "histogram: need bins >= 1 and stride >= %d", two_d ? 2 : 1);
    if (!(xhi > xlo) || !(yhi > ylo) || !isfinite(xlo) || !isfinite(xhi) || !isfinite(ylo) || !isfinite(yhi))
        return TP_ERROR(TP_ERR_ARG, "histogram: range must be finite with lo < hi");
    const int64_t len = (int64_t)nx * ny;
    char *base; double *d_logw, *d_hist; void *d_x;
    int skip;
    TP_TRY(stage_acc(&base, &d_logw, &d_x, &d_hist, &skip, hist, len, shift, logw, x,
                     sizeof(double) * (size_t)n * (size_t)stride, n));
    if (skip) return TP_OK;
    rw_hist_kernel<<<nblocks(n), RW_THREADS>>>(d_hist, (const double *)d_x, d_logw, *shift, xlo, xhi, ylo, yhi,
                                               nx / (xhi - xlo), ny / (yhi - ylo), nx, ny, stride, two_d, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return add_back(hist, d_hist, len, "histogram");
}

extern "C" tp_status tp_rw_hist1d_cuda(double *hist, double *shift, const double *x, const double *logw,
                                       double lo, double hi, int32_t nbins, int32_t stride, int64_t n, void *stream) {
    return hist_cuda(hist, shift, x, logw, lo, hi, 0.0, 1.0, nbins, 1, stride, n, 0, stream);
}

extern "C" tp_status tp_rw_hist2d_cuda(double *hist, double *shift, const double *xy, const double *logw,
                                       double xlo, double xhi, double ylo, double yhi,
                                       int32_t nx, int32_t ny, int32_t stride, int64_t n, void *stream) {
    return hist_cuda(hist, shift, xy, logw, xlo, xhi, ylo, yhi, nx, ny, stride, n, 1, stream);
}

extern "C" tp_status tp_rw_corr_cuda(double *acc, double *shift, const uint8_t *x, const double *logw,
                                     int32_t L, int32_t q, int32_t rmax, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!acc || !shift || (n > 0 && !x) || n < 0) return TP_ERROR(TP_ERR_ARG, "corr: NULL array or n < 0");
    if (L < 1 || q < 2 || q > 256 || rmax < 0 || rmax >= L)
        return TP_ERROR(TP_ERR_ARG, "corr: need L >= 1, 2 <= q <= 256, 0 <= rmax < L (L=%d q=%d rmax=%d)", L, q, rmax);
    const int64_t N = (int64_t)L * L;
    for (int64_t i = 0; i < n * N; i++)
        if (x[i] >= q) return TP_ERROR(TP_ERR_ARG, "corr: site value %d >= q = %d at %lld", x[i], q, (long long)i);
    const int64_t len = rmax + 4;
    char *base; double *d_logw, *d_acc; void *d_x;
    int skip;
    TP_TRY(stage_acc(&base, &d_logw, &d_x, &d_acc, &skip, acc, len, shift, logw, x, (size_t)(n * N), n));
    if (skip) return TP_OK;
    rw_corr_kernel<<<nblocks(n * (rmax + 1)), RW_THREADS>>>(d_acc, (const uint8_t *)d_x, d_logw, *shift, L, q, rmax, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return add_back(acc, d_acc, len, "corr");
}

/* ---- Poisson bootstrap --------------------------------------------------------
 * Thread j of a block row handles replicate j over one contiguous tile of
 * samples; its multiplicity comes from rw_boot.h (the same Philox word as
 * the CPU's), redrawn only when the sample block changes.  Tiles meet in
 * double atomics, so sums differ from the CPU's in summation order only. */

#define RW_BOOT_THREADS 128
#define RW_BOOT_CELLS 4096     /* about this many (tile, replicate-row) blocks */

/* w: (n) per-sample weights exp(logw - shift), or NULL: every weight is w0. */
__global__ void rw_moments_boot_kernel(double *sums, const double *c, const double *x, const double *w, double w0,
                                       uint64_t seed, int64_t first, int64_t block, int32_t stride, int32_t R,
                                       int64_t n, int64_t tile) {
    const int32_t j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= R) return;
    const int64_t i0 = blockIdx.x * tile, i1 = i0 + tile < n ? i0 + tile : n;
    if (i0 >= i1) return;
    const double cj = c[j];
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, a4 = 0.0;
    int64_t cur = -1;
    int k = 0;
    for (int64_t i = i0; i < i1; i++) {
        int64_t blk = (first + i) / block;
        if (blk != cur) { k = tp_rw_boot_count(seed, blk, j); cur = blk; }
        if (!k) continue;
        double wi = w ? w[i] : w0;
        double v = x ? x[i * stride] : 0.0;
        double kw = k * wi, d = v - cj;
        a0 += k; a1 += kw; a2 += k * wi * wi; a3 += kw * d; a4 += kw * d * d;
    }
    double *s = sums + (int64_t)j * 5;
    atomicAdd(&s[0], a0); atomicAdd(&s[1], a1); atomicAdd(&s[2], a2); atomicAdd(&s[3], a3); atomicAdd(&s[4], a4);
}

__global__ void rw_hist_boot_kernel(double *hist, const double *x, const double *w, double w0, double lo, double hi,
                                    double sx, uint64_t seed, int64_t first, int64_t block, int32_t nbins,
                                    int32_t stride, int32_t R, int64_t n, int64_t tile) {
    const int32_t j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= R) return;
    const int64_t i0 = blockIdx.x * tile, i1 = i0 + tile < n ? i0 + tile : n;
    double *h = hist + (int64_t)j * nbins;
    int64_t cur = -1;
    int k = 0;
    for (int64_t i = i0; i < i1; i++) {
        double v = x[i * stride];
        if (!(v >= lo && v <= hi)) continue;
        int64_t blk = (first + i) / block;
        if (blk != cur) { k = tp_rw_boot_count(seed, blk, j); cur = blk; }
        if (!k) continue;
        int64_t b = (int64_t)((v - lo) * sx);
        if (b >= nbins) b = nbins - 1;
        atomicAdd(&h[b], k * (w ? w[i] : w0));
    }
}

/* Launch shape of the bootstrap kernels: replicate rows x sample tiles. */
static void boot_grid(dim3 *grid, dim3 *threads, int64_t *tile, int32_t R, int64_t n) {
    int tx = R < RW_BOOT_THREADS ? ((R + 31) / 32) * 32 : RW_BOOT_THREADS;
    int gy = (R + tx - 1) / tx;
    int64_t gx = RW_BOOT_CELLS / gy;
    if (gx < 1) gx = 1;
    if (gx > (n + 63) / 64) gx = (n + 63) / 64;
    if (gx < 1) gx = 1;
    *tile = (n + gx - 1) / gx;
    if (*tile < 1) *tile = 1;
    *grid = dim3((unsigned)gx, (unsigned)gy, 1);
    *threads = dim3((unsigned)tx, 1, 1);
}

/* Turn the staged log-weights into weights exp(logw - shift) in place; a
 * shift of -inf (every weight so far zero) gives zeros.  *w0 is the weight
 * of every sample when there are no log-weights. */
static tp_status weights_in_place(double *d_logw, double *w0, double shift, int64_t n) {
    *w0 = shift == -INFINITY ? 0.0 : exp(-shift);
    if (!d_logw || n == 0) return TP_OK;
    if (shift == -INFINITY) {
        TP_CUDA_CHECK(cudaMemset(d_logw, 0, sizeof(double) * (size_t)n));
        return TP_OK;
    }
    rw_exp_kernel<<<nblocks(n), RW_THREADS>>>(d_logw, d_logw, shift, n);
    TP_CUDA_CHECK(cudaGetLastError());
    return TP_OK;
}

extern "C" tp_status tp_rw_moments_boot_cuda(double *acc, double *shift, const double *x, const double *logw,
                                             uint64_t seed, int64_t first, int64_t block,
                                             int32_t stride, int32_t R, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    TP_TRY(tp_rw_boot_args(shift, acc, first, block, R, n));
    if (x && stride < 1) return TP_ERROR(TP_ERR_ARG, "bootstrap: stride < 1");
    const size_t sums_bytes = align256(sizeof(double) * 5 * (size_t)R);
    char *base; double *d_logw, *d_sums; void *d_x;
    TP_TRY(stage(&base, &d_logw, &d_x, &d_sums, logw, x, x ? sizeof(double) * (size_t)n * (size_t)stride : 0,
                 sums_bytes + sizeof(double) * (size_t)R, n));
    double *d_c = (double *)((char *)d_sums + sums_bytes);
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    rescale_moments(acc, R, shift, m);
    if (n == 0) return TP_OK;
    double *c = (double *)malloc(sizeof(double) * (size_t)R * 6);
    if (!c) return TP_ERROR(TP_ERR_NOMEM, "bootstrap: no memory");
    double *b = c + R;
    for (int32_t j = 0; j < R; j++) {
        const double *a = acc + (int64_t)j * TP_RW_NACC;
        c[j] = x ? (a[1] > 0.0 ? a[3] : x[0]) : 0.0;
    }
    tp_status st = TP_OK;
    double w0;
    dim3 grid, threads;
    int64_t tile;
    cudaError_t ce = cudaMemcpy(d_c, c, sizeof(double) * (size_t)R, cudaMemcpyHostToDevice);
    if (ce == cudaSuccess) ce = cudaMemset(d_sums, 0, sizeof(double) * 5 * (size_t)R);
    if (ce != cudaSuccess) { free(c); TP_CUDA_CHECK(ce); }
    st = weights_in_place(d_logw, &w0, *shift, n);
    if (st != TP_OK) { free(c); return st; }
    boot_grid(&grid, &threads, &tile, R, n);
    rw_moments_boot_kernel<<<grid, threads>>>(d_sums, d_c, (const double *)d_x, d_logw, w0, seed, first, block,
                                              stride, R, n, tile);
    ce = cudaGetLastError();
    if (ce == cudaSuccess) ce = cudaMemcpy(b, d_sums, sizeof(double) * 5 * (size_t)R, cudaMemcpyDeviceToHost);
    if (ce != cudaSuccess) { free(c); TP_CUDA_CHECK(ce); }
    for (int32_t j = 0; j < R; j++) {
        const double *bj = b + (int64_t)j * 5;
        merge_moments(acc + (int64_t)j * TP_RW_NACC, bj[0], bj[1], bj[2], bj[3], bj[4], c[j], x != NULL);
    }
    free(c);
    return TP_OK;
}

extern "C" tp_status tp_rw_hist1d_boot_cuda(double *hist, double *shift, const double *x, const double *logw,
                                            double lo, double hi, uint64_t seed, int64_t first, int64_t block,
                                            int32_t nbins, int32_t stride, int32_t R, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    TP_TRY(tp_rw_boot_args(shift, hist, first, block, R, n));
    if ((n > 0 && !x) || nbins < 1 || stride < 1 || !(hi > lo) || !isfinite(lo) || !isfinite(hi))
        return TP_ERROR(TP_ERR_ARG, "bootstrap histogram: need x, bins >= 1, stride >= 1, finite lo < hi");
    const int64_t len = (int64_t)R * nbins;
    char *base; double *d_logw, *d_hist; void *d_x;
    int skip;
    TP_TRY(stage_acc(&base, &d_logw, &d_x, &d_hist, &skip, hist, len, shift, logw, x,
                     sizeof(double) * (size_t)n * (size_t)stride, n));
    if (skip) return TP_OK;
    double w0;
    TP_TRY(weights_in_place(d_logw, &w0, *shift, n));
    dim3 grid, threads;
    int64_t tile;
    boot_grid(&grid, &threads, &tile, R, n);
    rw_hist_boot_kernel<<<grid, threads>>>(d_hist, (const double *)d_x, d_logw, w0, lo, hi, nbins / (hi - lo), seed,
                                           first, block, nbins, stride, R, n, tile);
    TP_CUDA_CHECK(cudaGetLastError());
    return add_back(hist, d_hist, len, "bootstrap histogram");
}

/* ---- PMFs and divergences --------------------------------------------------------
 * Small arrays (bins), but the same staging: inputs copied to the scratch
 * area, block partial sums / minima reduced on the host in double. */

__device__ double rw_block_sum(double v, double *sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sm[threadIdx.x] += sm[threadIdx.x + s];
        __syncthreads();
    }
    double r = sm[0];
    __syncthreads();
    return r;
}

/* minimum that never picks a NaN (as the CPU's 'v < m') */
__device__ double rw_block_min(double v, double *sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && sm[threadIdx.x + s] < sm[threadIdx.x]) sm[threadIdx.x] = sm[threadIdx.x + s];
        __syncthreads();
    }
    double r = sm[0];
    __syncthreads();
    return r;
}

#define GRID_LOOP(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* part: (gridDim.x, 3) = sum p, sum q, number of bad bins (negative, NaN, inf) */
__global__ void rw_js_sums_kernel(double *part, const double *p, const double *q, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double sp = 0.0, sq = 0.0, bad = 0.0;
    GRID_LOOP(k, n) {
        double a = p[k], b = q[k];
        if (!(a >= 0.0) || !(b >= 0.0) || !isfinite(a) || !isfinite(b)) bad += 1.0;
        else { sp += a; sq += b; }
    }
    sp = rw_block_sum(sp, sm); sq = rw_block_sum(sq, sm); bad = rw_block_sum(bad, sm);
    if (threadIdx.x == 0) { part[blockIdx.x * 3] = sp; part[blockIdx.x * 3 + 1] = sq; part[blockIdx.x * 3 + 2] = bad; }
}

/* part: (gridDim.x) = sum of the JS terms */
__global__ void rw_js_terms_kernel(double *part, const double *p, const double *q, double sp, double sq, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double d = 0.0;
    GRID_LOOP(k, n) {
        double a = p[k] / sp, b = q[k] / sq, mm = 0.5 * (a + b);
        if (a > 0.0) d += 0.5 * a * log(a / mm);
        if (b > 0.0) d += 0.5 * b * log(b / mm);
    }
    d = rw_block_sum(d, sm);
    if (threadIdx.x == 0) part[blockIdx.x] = d;
}

/* part: (gridDim.x, 2) = sum h, number of bins with !(h >= 0) */
__global__ void rw_pmf_sums_kernel(double *part, const double *h, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double s = 0.0, bad = 0.0;
    GRID_LOOP(k, n) { double v = h[k]; if (!(v >= 0.0)) bad += 1.0; else s += v; }
    s = rw_block_sum(s, sm); bad = rw_block_sum(bad, sm);
    if (threadIdx.x == 0) { part[blockIdx.x * 2] = s; part[blockIdx.x * 2 + 1] = bad; }
}

/* F = -kT log(h / sum) (+inf for empty bins); part: (gridDim.x) block minima */
__global__ void rw_pmf_kernel(double *part, double *F, const double *h, double kT, double sum, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double mn = INFINITY;
    GRID_LOOP(k, n) {
        double f = h[k] > 0.0 ? -kT * log(h[k] / sum) : INFINITY;
        F[k] = f;
        if (f < mn) mn = f;
    }
    mn = rw_block_min(mn, sm);
    if (threadIdx.x == 0) part[blockIdx.x] = mn;
}

/* F = f V; part: (gridDim.x) block minima */
__global__ void rw_scale_min_kernel(double *part, double *F, const double *V, double f, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double mn = INFINITY;
    GRID_LOOP(k, n) { double v = f * V[k]; F[k] = v; if (v < mn) mn = v; }
    mn = rw_block_min(mn, sm);
    if (threadIdx.x == 0) part[blockIdx.x] = mn;
}

__global__ void rw_sub_kernel(double *F, double c, int64_t n) {
    GRID_LOOP(k, n) F[k] -= c;
}

/* part: (gridDim.x, 3) = bins finite in both, min F1, min F2 over them */
__global__ void rw_rmse_min_kernel(double *part, const double *F1, const double *F2, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double c = 0.0, m1 = INFINITY, m2 = INFINITY;
    GRID_LOOP(k, n) {
        if (!isfinite(F1[k]) || !isfinite(F2[k])) continue;
        c += 1.0;
        if (F1[k] < m1) m1 = F1[k];
        if (F2[k] < m2) m2 = F2[k];
    }
    c = rw_block_sum(c, sm); m1 = rw_block_min(m1, sm); m2 = rw_block_min(m2, sm);
    if (threadIdx.x == 0) { part[blockIdx.x * 3] = c; part[blockIdx.x * 3 + 1] = m1; part[blockIdx.x * 3 + 2] = m2; }
}

/* part: (gridDim.x) = sum over both-finite bins of ((F1 - m1) - (F2 - m2))^2 */
__global__ void rw_rmse_sum_kernel(double *part, const double *F1, const double *F2, double m1, double m2, int64_t n) {
    __shared__ double sm[RW_THREADS];
    double s = 0.0;
    GRID_LOOP(k, n) {
        if (!isfinite(F1[k]) || !isfinite(F2[k])) continue;
        double d = (F1[k] - m1) - (F2[k] - m2);
        s += d * d;
    }
    s = rw_block_sum(s, sm);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* tot: (R) = sum of each replicate's histogram (one thread per replicate,
 * bins in order, as on the CPU) */
__global__ void rw_boot_tot_kernel(double *tot, const double *hist, int32_t R, int32_t nbins) {
    GRID_LOOP(j, R) {
        double s = 0.0;
        for (int32_t k = 0; k < nbins; k++) s += hist[j * nbins + k];
        tot[j] = s;
    }
}

/* err: (nbins) = sd over replicates of -kT log(h/tot) (one thread per bin) */
__global__ void rw_pmf_boot_err_kernel(double *err, const double *hist, const double *tot, double kT,
                                       int32_t R, int32_t nbins) {
    GRID_LOOP(k, nbins) {
        double s = 0.0, s2 = 0.0;
        int c = 0;
        for (int32_t j = 0; j < R; j++) {
            double h = hist[(int64_t)j * nbins + k];
            if (h > 0.0 && tot[j] > 0.0) { double f = -kT * log(h / tot[j]); s += f; s2 += f * f; c++; }
        }
        if (c < 2) { err[k] = NAN; continue; }
        double mu = s / c, v = (s2 - c * mu * mu) / (c - 1);
        err[k] = v > 0.0 ? sqrt(v) : 0.0;
    }
}

/* Scratch layout for two inputs: [tmp][a][b][out] (a NULL source only
 * reserves its space). */
static tp_status stage2(char **base, void **d_a, void **d_b, void **d_out, const void *a, size_t ab,
                        const void *b, size_t bb, size_t out_bytes) {
    TP_TRY(scratch(RW_TMP_BYTES + align256(ab) + align256(bb) + align256(out_bytes), base));
    char *p = *base + RW_TMP_BYTES;
    *d_a = p; p += align256(ab);
    *d_b = p; p += align256(bb);
    *d_out = p;
    if (a && ab) TP_CUDA_CHECK(cudaMemcpy(*d_a, a, ab, cudaMemcpyHostToDevice));
    if (b && bb) TP_CUDA_CHECK(cudaMemcpy(*d_b, b, bb, cudaMemcpyHostToDevice));
    return TP_OK;
}

/* Sum of stride-spaced block partials copied back from tmp. */
static tp_status partials(double *out, int nout, const char *tmp, int nb, int stride, const int *is_min) {
    double hp[RW_MAX_BLOCKS * 4];
    TP_CUDA_CHECK(cudaMemcpy(hp, tmp, sizeof(double) * (size_t)nb * (size_t)stride, cudaMemcpyDeviceToHost));
    for (int k = 0; k < nout; k++) {
        double acc = (is_min && is_min[k]) ? INFINITY : 0.0;
        for (int b = 0; b < nb; b++) {
            double v = hp[b * stride + k];
            if (is_min && is_min[k]) { if (v < acc) acc = v; }
            else acc += v;
        }
        out[k] = acc;
    }
    return TP_OK;
}

extern "C" tp_status tp_rw_js_cuda(double *js, const double *p, const double *q, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!js || !p || !q || n < 1) return TP_ERROR(TP_ERR_ARG, "js: NULL array or n < 1");
    char *base; void *d_p, *d_q, *d_o;
    const size_t bytes = sizeof(double) * (size_t)n;
    TP_TRY(stage2(&base, &d_p, &d_q, &d_o, p, bytes, q, bytes, 0));
    int nb = nblocks(n);
    rw_js_sums_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_p, (const double *)d_q, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double s[3];
    TP_TRY(partials(s, 3, base, nb, 3, NULL));
    if (s[2] > 0.0) {
        for (int64_t k = 0; k < n; k++)
            if (!(p[k] >= 0.0) || !(q[k] >= 0.0) || !isfinite(p[k]) || !isfinite(q[k]))
                return TP_ERROR(TP_ERR_ARG, "js: bin %lld is negative or not finite", (long long)k);
    }
    if (!(s[0] > 0.0) || !(s[1] > 0.0)) return TP_ERROR(TP_ERR_ARG, "js: a histogram is empty");
    rw_js_terms_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_p, (const double *)d_q, s[0], s[1], n);
    TP_CUDA_CHECK(cudaGetLastError());
    double d;
    TP_TRY(partials(&d, 1, base, nb, 1, NULL));
    *js = d < 0.0 ? 0.0 : d;
    return TP_OK;
}

/* Shift the device array F (n) so that its minimum mn becomes 0 (when
 * finite) and copy it back to the host array out. */
static tp_status finish_pmf(double *out, double *d_F, double mn, int64_t n) {
    if (isfinite(mn)) {
        rw_sub_kernel<<<nblocks(n), RW_THREADS>>>(d_F, mn, n);
        TP_CUDA_CHECK(cudaGetLastError());
    }
    TP_CUDA_CHECK(cudaMemcpy(out, d_F, sizeof(double) * (size_t)n, cudaMemcpyDeviceToHost));
    return TP_OK;
}

extern "C" tp_status tp_rw_pmf_cuda(double *F, const double *hist, double kT, int32_t nbins, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!F || !hist || nbins < 1 || !(kT > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: NULL array, bins < 1 or kT <= 0");
    char *base; void *d_h, *d_unused, *d_F;
    const size_t bytes = sizeof(double) * (size_t)nbins;
    TP_TRY(stage2(&base, &d_h, &d_unused, &d_F, hist, bytes, NULL, 0, bytes));
    int nb = nblocks(nbins);
    rw_pmf_sums_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_h, nbins);
    TP_CUDA_CHECK(cudaGetLastError());
    double s[2];
    TP_TRY(partials(s, 2, base, nb, 2, NULL));
    if (s[1] > 0.0) {
        for (int32_t k = 0; k < nbins; k++)
            if (!(hist[k] >= 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: histogram bin %d is %g", k, hist[k]);
    }
    if (!(s[0] > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf: the histogram is empty");
    rw_pmf_kernel<<<nb, RW_THREADS>>>((double *)base, (double *)d_F, (const double *)d_h, kT, s[0], nbins);
    TP_CUDA_CHECK(cudaGetLastError());
    static const int mins[1] = { 1 };
    double mn;
    TP_TRY(partials(&mn, 1, base, nb, 1, mins));
    return finish_pmf(F, (double *)d_F, mn, nbins);
}

extern "C" tp_status tp_rw_pmf_boot_err_cuda(double *err, const double *hist, double kT, int32_t R, int32_t nbins,
                                             void *stream) {
    TP_TRY(rw_enter(stream));
    if (!err || !hist || nbins < 1 || R < 1 || !(kT > 0.0)) return TP_ERROR(TP_ERR_ARG, "pmf error: bad arguments");
    char *base; void *d_h, *d_tot, *d_err;
    TP_TRY(stage2(&base, &d_h, &d_tot, &d_err, hist, sizeof(double) * (size_t)R * (size_t)nbins, NULL,
                  sizeof(double) * (size_t)R, sizeof(double) * (size_t)nbins));
    rw_boot_tot_kernel<<<nblocks(R), RW_THREADS>>>((double *)d_tot, (const double *)d_h, R, nbins);
    TP_CUDA_CHECK(cudaGetLastError());
    rw_pmf_boot_err_kernel<<<nblocks(nbins), RW_THREADS>>>((double *)d_err, (const double *)d_h,
                                                          (const double *)d_tot, kT, R, nbins);
    TP_CUDA_CHECK(cudaGetLastError());
    TP_CUDA_CHECK(cudaMemcpy(err, d_err, sizeof(double) * (size_t)nbins, cudaMemcpyDeviceToHost));
    return TP_OK;
}

extern "C" tp_status tp_rw_pmf_from_bias_cuda(double *F, const double *V, double gamma, int64_t n, void *stream) {
    TP_TRY(rw_enter(stream));
    if (!F || !V || n < 1 || isnan(gamma)) return TP_ERROR(TP_ERR_ARG, "pmf from bias: NULL array, n < 1 or NaN gamma");
    const double f = gamma > 1.0 ? -gamma / (gamma - 1.0) : -1.0;
    char *base; void *d_V, *d_unused, *d_F;
    const size_t bytes = sizeof(double) * (size_t)n;
    TP_TRY(stage2(&base, &d_V, &d_unused, &d_F, V, bytes, NULL, 0, bytes));
    int nb = nblocks(n);
    rw_scale_min_kernel<<<nb, RW_THREADS>>>((double *)base, (double *)d_F, (const double *)d_V, f, n);
    TP_CUDA_CHECK(cudaGetLastError());
    static const int mins[1] = { 1 };
    double mn;
    TP_TRY(partials(&mn, 1, base, nb, 1, mins));
    return finish_pmf(F, (double *)d_F, mn, n);
}

extern "C" tp_status tp_rw_pmf_rmse_cuda(double *rmse, int64_t *used, const double *F1, const double *F2, int64_t n,
                                         void *stream) {
    TP_TRY(rw_enter(stream));
    if (!rmse || !F1 || !F2 || n < 1) return TP_ERROR(TP_ERR_ARG, "pmf rmse: NULL array or n < 1");
    char *base; void *d_1, *d_2, *d_unused;
    const size_t bytes = sizeof(double) * (size_t)n;
    TP_TRY(stage2(&base, &d_1, &d_2, &d_unused, F1, bytes, F2, bytes, 0));
    int nb = nblocks(n);
    rw_rmse_min_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_1, (const double *)d_2, n);
    TP_CUDA_CHECK(cudaGetLastError());
    static const int kinds[3] = { 0, 1, 1 };
    double s[3];
    TP_TRY(partials(s, 3, base, nb, 3, kinds));
    const int64_t c = (int64_t)s[0];
    if (used) *used = c;
    if (c == 0) return TP_ERROR(TP_ERR_ARG, "pmf rmse: no bin is finite in both PMFs");
    rw_rmse_sum_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_1, (const double *)d_2, s[1], s[2], n);
    TP_CUDA_CHECK(cudaGetLastError());
    double sum;
    TP_TRY(partials(&sum, 1, base, nb, 1, NULL));
    *rmse = sqrt(sum / (double)c);
    return TP_OK;
}
