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
#include "cuda_common.cuh"
#include "reweight.h"

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

static tp_status check_stream(void *stream) {
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

/* ---- entry points ------------------------------------------------------------ */

extern "C" tp_status tp_rw_logsumexp_cuda(double *out, const double *logw, int64_t n, void *stream) {
    TP_TRY(check_stream(stream));
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
    TP_TRY(check_stream(stream));
    if (!acc || !shift || n < 0 || (x && stride < 1))
        return TP_ERROR(TP_ERR_ARG, "moments: NULL accumulator, n < 0 or stride < 1");
    size_t xb = x ? sizeof(double) * (size_t)n * (size_t)stride : 0;
    char *base; double *d_logw, *d_out; void *d_x;
    TP_TRY(stage(&base, &d_logw, &d_x, &d_out, logw, x, xb, 0, n));
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    if (m > *shift) {
        double f = (*shift == -INFINITY) ? 0.0 : exp(*shift - m);
        acc[1] *= f; acc[2] *= f * f; acc[4] *= f;
        *shift = m;
    }
    if (m == -INFINITY) { acc[0] += (double)n; return TP_OK; }
    const double c = x ? (acc[1] > 0.0 ? acc[3] : x[0]) : 0.0;
    int nb = nblocks(n);
    rw_sums_kernel<<<nb, RW_THREADS>>>((double *)base, (const double *)d_x, d_logw, *shift, c, stride, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double hp[RW_MAX_BLOCKS * 4];
    TP_CUDA_CHECK(cudaMemcpy(hp, base, sizeof(double) * 4 * nb, cudaMemcpyDeviceToHost));
    double sw = 0.0, sw2 = 0.0, s1 = 0.0, s2 = 0.0;
    for (int b = 0; b < nb; b++) { sw += hp[b * 4]; sw2 += hp[b * 4 + 1]; s1 += hp[b * 4 + 2]; s2 += hp[b * 4 + 3]; }
    double mean = 0.0, m2 = 0.0;
    if (sw > 0.0 && x) { mean = c + s1 / sw; m2 = s2 - s1 * s1 / sw; if (m2 < 0.0) m2 = 0.0; }
    acc[0] += (double)n;
    if (sw > 0.0) {
        double W = acc[1] + sw, d = mean - acc[3];
        acc[3] += d * (sw / W);
        acc[4] += m2 + d * d * acc[1] * sw / W;
        acc[1] = W;
        acc[2] += sw2;
    }
    return TP_OK;
}

static tp_status hist_cuda(double *hist, double *shift, const double *x, const double *logw,
                           double xlo, double xhi, double ylo, double yhi,
                           int32_t nx, int32_t ny, int32_t stride, int64_t n, int two_d, void *stream) {
    TP_TRY(check_stream(stream));
    if (!hist || !shift || (n > 0 && !x) || n < 0) return TP_ERROR(TP_ERR_ARG, "histogram: NULL array or n < 0");
    if (nx < 1 || ny < 1 || stride < (two_d ? 2 : 1))
        return TP_ERROR(TP_ERR_ARG, "histogram: need bins >= 1 and stride >= %d", two_d ? 2 : 1);
    if (!(xhi > xlo) || !(yhi > ylo) || !isfinite(xlo) || !isfinite(xhi) || !isfinite(ylo) || !isfinite(yhi))
        return TP_ERROR(TP_ERR_ARG, "histogram: range must be finite with lo < hi");
    const int64_t len = (int64_t)nx * ny;
    char *base; double *d_logw, *d_hist; void *d_x;
    TP_TRY(stage(&base, &d_logw, &d_x, &d_hist, logw, x, sizeof(double) * (size_t)n * (size_t)stride,
                 sizeof(double) * (size_t)len, n));
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    rescale_host(hist, len, shift, m);
    if (m == -INFINITY) return TP_OK;
    TP_CUDA_CHECK(cudaMemset(d_hist, 0, sizeof(double) * (size_t)len));
    rw_hist_kernel<<<nblocks(n), RW_THREADS>>>(d_hist, (const double *)d_x, d_logw, *shift, xlo, xhi, ylo, yhi,
                                               nx / (xhi - xlo), ny / (yhi - ylo), nx, ny, stride, two_d, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double *h = (double *)malloc(sizeof(double) * (size_t)len);
    if (!h) return TP_ERROR(TP_ERR_NOMEM, "histogram: no memory");
    cudaError_t ce = cudaMemcpy(h, d_hist, sizeof(double) * (size_t)len, cudaMemcpyDeviceToHost);
    if (ce != cudaSuccess) { free(h); TP_CUDA_CHECK(ce); }
    for (int64_t k = 0; k < len; k++) hist[k] += h[k];
    free(h);
    return TP_OK;
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
    TP_TRY(check_stream(stream));
    if (!acc || !shift || (n > 0 && !x) || n < 0) return TP_ERROR(TP_ERR_ARG, "corr: NULL array or n < 0");
    if (L < 1 || q < 2 || q > 256 || rmax < 0 || rmax >= L)
        return TP_ERROR(TP_ERR_ARG, "corr: need L >= 1, 2 <= q <= 256, 0 <= rmax < L (L=%d q=%d rmax=%d)", L, q, rmax);
    const int64_t N = (int64_t)L * L;
    for (int64_t i = 0; i < n * N; i++)
        if (x[i] >= q) return TP_ERROR(TP_ERR_ARG, "corr: site value %d >= q = %d at %lld", x[i], q, (long long)i);
    const int64_t len = rmax + 4;
    char *base; double *d_logw, *d_acc; void *d_x;
    TP_TRY(stage(&base, &d_logw, &d_x, &d_acc, logw, x, (size_t)(n * N), sizeof(double) * (size_t)len, n));
    double m;
    TP_TRY(dev_max(&m, d_logw, logw, n, base));
    rescale_host(acc, len, shift, m);
    if (m == -INFINITY) return TP_OK;
    TP_CUDA_CHECK(cudaMemset(d_acc, 0, sizeof(double) * (size_t)len));
    rw_corr_kernel<<<nblocks(n * (rmax + 1)), RW_THREADS>>>(d_acc, (const uint8_t *)d_x, d_logw, *shift, L, q, rmax, n);
    TP_CUDA_CHECK(cudaGetLastError());
    double *h = (double *)malloc(sizeof(double) * (size_t)len);
    if (!h) return TP_ERROR(TP_ERR_NOMEM, "corr: no memory");
    cudaError_t ce = cudaMemcpy(h, d_acc, sizeof(double) * (size_t)len, cudaMemcpyDeviceToHost);
    if (ce != cudaSuccess) { free(h); TP_CUDA_CHECK(ce); }
    for (int64_t k = 0; k < len; k++) acc[k] += h[k];
    free(h);
    return TP_OK;
}
