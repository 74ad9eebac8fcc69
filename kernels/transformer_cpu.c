/*
 * kernels/transformer_cpu.c -- CPU reference of the lattice transformer
 * (kernels/transformer.h, science.md 7): forward and backward.  Matrix
 * products go through cblas_sgemm; LayerNorm, RoPE, attention, GELU and
 * log-softmax are plain loops parallelised with OpenMP over rows (or over
 * columns for parameter-gradient reductions, so that every sum is taken in
 * a fixed order and results do not depend on the thread count).
 * This file is the oracle the CUDA twin and the tests compare against.
 */
#include "transformer.h"
#include "cond.h"
#include "philox.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-6f
#define TWO_PI 6.283185307179586

tp_status tp_tf_config_check(const tp_tf_config *c) {
    if (!c) return TP_ERROR(TP_ERR_ARG, "transformer: NULL config");
    if (c->states < 2 || c->states > 255)
        return TP_ERROR(TP_ERR_ARG, "transformer: states must be in 2..255, got %d", c->states);
    if (c->sites < 1) return TP_ERROR(TP_ERR_ARG, "transformer: sites must be >= 1, got %d", c->sites);
    if (c->embed < 2) return TP_ERROR(TP_ERR_ARG, "transformer: embed must be >= 2, got %d", c->embed);
    if (c->depth < 1 || c->depth > TP_TF_MAX_DEPTH)
        return TP_ERROR(TP_ERR_ARG, "transformer: depth must be in 1..%d, got %d", TP_TF_MAX_DEPTH, c->depth);
    if (c->heads < 1 || c->embed % c->heads)
        return TP_ERROR(TP_ERR_ARG, "transformer: heads (%d) must divide embed (%d)", c->heads, c->embed);
    if (c->axes < 1 || c->axes > 3)
        return TP_ERROR(TP_ERR_ARG, "transformer: axes must be 1, 2 or 3, got %d", c->axes);
    int hd = c->embed / c->heads;
    if (hd % 2 || hd < 2 * c->axes)
        return TP_ERROR(TP_ERR_ARG, "transformer: head dim embed/heads = %d must be even and >= 2*axes (%d)",
                        hd, 2 * c->axes);
    if (c->layerscale != 0 && c->layerscale != 1)
        return TP_ERROR(TP_ERR_ARG, "transformer: layerscale must be 0 or 1");
    if (c->conds < 0 || c->conds > TP_COND_MAX)
        return TP_ERROR(TP_ERR_ARG, "transformer: conditions must be in 0..%d, got %d", TP_COND_MAX, c->conds);
    return TP_OK;
}

void tp_tf_layout_init(tp_tf_layout *lay, const tp_tf_config *c) {
    int64_t d = c->embed, o = 0;
    memset(lay, 0, sizeof *lay);
    lay->wte = o; o += (int64_t)(c->states + 1) * d;
    for (int l = 0; l < c->depth; l++) {
        tp_tf_block_off *b = &lay->blk[l];
        b->ln1_w = o; o += d;
        b->ln1_b = o; o += d;
        b->wqkv = o;  o += d * 3 * d;
        b->bqkv = o;  o += 3 * d;
        b->wo = o;    o += d * d;
        b->bo = o;    o += d;
        b->ln2_w = o; o += d;
        b->ln2_b = o; o += d;
        b->w1 = o;    o += d * 4 * d;
        b->b1 = o;    o += 4 * d;
        b->w2 = o;    o += 4 * d * d;
        b->b2 = o;    o += d;
        if (c->layerscale) { b->ls1 = o; o += d; b->ls2 = o; o += d; }
        else { b->ls1 = -1; b->ls2 = -1; }
    }
    lay->lnf_w = o; o += d;
    lay->lnf_b = o; o += d;
    lay->head_w = o; o += d * c->states;
    lay->head_b = o; o += c->states;
    if (c->conds > 0) {
        int64_t F = tp_cond_features(c->conds);
        lay->cond_w1 = o; o += F * d;
        lay->cond_b1 = o; o += d;
        lay->cond_w2 = o; o += d * d;
        lay->cond_b2 = o; o += d;
    } else {
        lay->cond_w1 = lay->cond_b1 = lay->cond_w2 = lay->cond_b2 = -1;
    }
    lay->n_params = o;
}

void tp_tf_act_layout_init(tp_tf_act_layout *al, const tp_tf_config *c, int32_t rows) {
    int64_t T = c->sites, d = c->embed, N = (int64_t)rows * T, o = 0;
    memset(al, 0, sizeof *al);
    for (int l = 0; l < c->depth; l++) {
        tp_tf_act_block *b = &al->blk[l];
        b->x = o;   o += N * d;
        b->a1 = o;  o += N * d;
        b->mu1 = o; o += N;
        b->rs1 = o; o += N;
        b->qkv = o; o += N * 3 * d;
        b->att = o; o += (int64_t)rows * c->heads * T * T;
        b->y = o;   o += N * d;
        b->po = o;  o += N * d;
        b->xm = o;  o += N * d;
        b->a2 = o;  o += N * d;
        b->mu2 = o; o += N;
        b->rs2 = o; o += N;
        b->h = o;   o += N * 4 * d;
        b->g = o;   o += N * 4 * d;
        b->pm = o;  o += N * d;
    }
    al->xf = o;  o += N * d;
    al->af = o;  o += N * d;
    al->muf = o; o += N;
    al->rsf = o; o += N;
    al->n_acts = o;
}

int64_t tp_tf_scratch_size(const tp_tf_config *c, int32_t rows) {
    int64_t N = (int64_t)rows * c->sites, d = c->embed;
    /* dx, dtmp, dpo (N,d); dbig (N,4d); dlogits (N,q); attention row sums
     * (rows,H,T) used by the CUDA twin */
    return N * (3 * d + 4 * d + c->states) + (int64_t)rows * c->heads * c->sites;
}

/* pair p of a head -> (axis, harmonic j >= 1) */
static void rope_pair(int p, int npairs, int axes, int *axis, int *harm) {
    int base = npairs / axes, rem = npairs % axes, start = 0;
    for (int a = 0; a < axes; a++) {
        int cnt = base + (a < rem ? 1 : 0);
        if (p < start + cnt) { *axis = a; *harm = p - start + 1; return; }
        start += cnt;
    }
    *axis = axes - 1; *harm = 1;
}

void tp_tf_rope_table(float *rope, const float *coords, const tp_tf_config *c) {
    int hd = c->embed / c->heads, np = hd / 2;
    for (int t = 0; t < c->sites; t++)
        for (int p = 0; p < np; p++) {
            int a, j;
            rope_pair(p, np, c->axes, &a, &j);
            double u = coords[(int64_t)t * c->axes + a];
            /* reduce j*u mod 1 before the trig call: the same angle for
             * coordinates that differ by whole periods */
            double ju = (double)j * u;
            ju -= floor(ju);
            double ang = TWO_PI * ju;
            rope[((int64_t)t * np + p) * 2 + 0] = (float)cos(ang);
            rope[((int64_t)t * np + p) * 2 + 1] = (float)sin(ang);
        }
}

void tp_tf_init_params(float *params, const tp_tf_config *c, uint64_t seed, float ls_init) {
    tp_tf_layout lay;
    tp_tf_layout_init(&lay, c);
    int64_t d = c->embed;
    tp_rng r;
    tp_rng_seed(&r, seed, 0x7472616e73666fULL);
    /* normal draws (Box-Muller) for every entry, in slab order */
    for (int64_t i = 0; i < lay.n_params; i++) {
        double u1 = tp_rng_next_double(&r), u2 = tp_rng_next_double(&r);
        params[i] = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(TWO_PI * u2));
    }
    float s = 0.02f, sp = 0.02f / sqrtf(2.0f * c->depth);
#define SCALE(off, n, v) do { for (int64_t i_ = 0; i_ < (n); i_++) params[(off) + i_] *= (v); } while (0)
#define FILL(off, n, v) do { for (int64_t i_ = 0; i_ < (n); i_++) params[(off) + i_] = (v); } while (0)
    SCALE(lay.wte, (int64_t)(c->states + 1) * d, s);
    for (int l = 0; l < c->depth; l++) {
        const tp_tf_block_off *b = &lay.blk[l];
        FILL(b->ln1_w, d, 1.0f); FILL(b->ln1_b, d, 0.0f);
        SCALE(b->wqkv, d * 3 * d, s); FILL(b->bqkv, 3 * d, 0.0f);
        SCALE(b->wo, d * d, sp); FILL(b->bo, d, 0.0f);
        FILL(b->ln2_w, d, 1.0f); FILL(b->ln2_b, d, 0.0f);
        SCALE(b->w1, d * 4 * d, s); FILL(b->b1, 4 * d, 0.0f);
        SCALE(b->w2, 4 * d * d, sp); FILL(b->b2, d, 0.0f);
        if (c->layerscale) { FILL(b->ls1, d, ls_init); FILL(b->ls2, d, ls_init); }
    }
    FILL(lay.lnf_w, d, 1.0f); FILL(lay.lnf_b, d, 0.0f);
    SCALE(lay.head_w, d * c->states, s); FILL(lay.head_b, c->states, 0.0f);
    if (c->conds > 0) {   /* features are O(1): unit-variance first layer, small output */
        int64_t F = tp_cond_features(c->conds);
        SCALE(lay.cond_w1, F * d, 1.0f / sqrtf((float)F)); FILL(lay.cond_b1, d, 0.0f);
        SCALE(lay.cond_w2, d * d, s); FILL(lay.cond_b2, d, 0.0f);
    }
#undef SCALE
#undef FILL
}

/* ---- building blocks ------------------------------------------------------ */

/* Column reductions over N rows use RB fixed row blocks (partial sums in
 * double, combined in block order): cache-friendly, parallel, and
 * independent of the thread count. */
#define RB 32
static int64_t rb_lo(int64_t N, int b) { return N * b / RB; }

/* C (M,N) = op(A) op(B) + beta C (row-major), the rows of C split over the
 * OpenMP threads, each calling a single-threaded sgemm: one thread pool for
 * everything (OpenBLAS's own threads spinning against OpenMP's cost a
 * factor of several on small machines).  Callers run with OpenBLAS set to
 * one thread (tp_tf_forward_cpu / tp_tf_backward_cpu do). */
static void gemm(int ta, int tb, int M, int Nc, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int lo = (int)((int64_t)M * id / nt), hi = (int)((int64_t)M * (id + 1) / nt);
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        hi - lo, Nc, K, 1.0f, ta ? A + lo : A + (int64_t)lo * lda, lda, B, ldb,
                        beta, C + (int64_t)lo * ldc, ldc);
    }
}

/* out (N,o) = in (N,i) W (i,o) + b (o) */
static void linear_fwd(float *out, const float *in, const float *W, const float *b,
                       int64_t N, int i, int o) {
    if (N == 0) return;
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) memcpy(out + n * o, b, sizeof(float) * o);
    gemm(0, 0, (int)N, o, i, in, i, W, o, 1.0f, out, o);
}

/* din (N,i) (= or += per beta) dout W^T; dW += in^T dout; db += colsum(dout) */
static void linear_bwd(float *din, float din_beta, float *dW, float *db, const float *dout,
                       const float *in, const float *W, int64_t N, int i, int o) {
    if (N == 0) return;
    if (din) gemm(0, 1, (int)N, i, o, dout, o, W, o, din_beta, din, i);
    gemm(1, 0, i, o, (int)N, in, i, dout, o, 1.0f, dW, o);
    double *part = malloc(sizeof(double) * RB * o);
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < RB; b++) {
        double *p = part + (int64_t)b * o;
        for (int j = 0; j < o; j++) p[j] = 0;
        for (int64_t n = rb_lo(N, b); n < rb_lo(N, b + 1); n++)
            for (int j = 0; j < o; j++) p[j] += dout[n * o + j];
    }
    for (int j = 0; j < o; j++) {
        double s = 0;
        for (int b = 0; b < RB; b++) s += part[(int64_t)b * o + j];
        db[j] += (float)s;
    }
    free(part);
}

static void layernorm_fwd(float *out, float *mu, float *rs, const float *x,
                          const float *w, const float *b, int64_t N, int d) {
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * d;
        float m = 0;
        for (int j = 0; j < d; j++) m += xr[j];
        m /= d;
        float v = 0;
        for (int j = 0; j < d; j++) { float t = xr[j] - m; v += t * t; }
        v /= d;
        float r = 1.0f / sqrtf(v + LN_EPS);
        mu[n] = m; rs[n] = r;
        float *o = out + n * d;
        for (int j = 0; j < d; j++) o[j] = (xr[j] - m) * r * w[j] + b[j];
    }
}

/* dx += LN'(dout); dw += sum dout*xhat; db += sum dout */
static void layernorm_bwd(float *dx, float *dw, float *db, const float *dout, const float *x,
                          const float *mu, const float *rs, const float *w, int64_t N, int d) {
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * d, *g = dout + n * d;
        float m = mu[n], r = rs[n], s1 = 0, s2 = 0;
        for (int j = 0; j < d; j++) {
            float dxh = g[j] * w[j], xh = (xr[j] - m) * r;
            s1 += dxh; s2 += dxh * xh;
        }
        s1 /= d; s2 /= d;
        float *o = dx + n * d;
        for (int j = 0; j < d; j++) {
            float dxh = g[j] * w[j], xh = (xr[j] - m) * r;
            o[j] += r * (dxh - s1 - xh * s2);
        }
    }
    double *part = malloc(sizeof(double) * RB * 2 * d);
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < RB; b++) {
        double *pw = part + (int64_t)b * 2 * d, *pb = pw + d;
        for (int j = 0; j < 2 * d; j++) pw[j] = 0;
        for (int64_t n = rb_lo(N, b); n < rb_lo(N, b + 1); n++) {
            const float m = mu[n], r = rs[n], *g = dout + n * d, *xr = x + n * d;
            for (int j = 0; j < d; j++) { pw[j] += g[j] * ((xr[j] - m) * r); pb[j] += g[j]; }
        }
    }
    for (int j = 0; j < d; j++) {
        double sw = 0, sb = 0;
        for (int b = 0; b < RB; b++) { sw += part[(int64_t)b * 2 * d + j]; sb += part[(int64_t)b * 2 * d + d + j]; }
        dw[j] += (float)sw; db[j] += (float)sb;
    }
    free(part);
}

/* rotate q and k (first 2d columns of qkv) of every token in place;
 * inverse = 1 applies R^T (the backward of the rotation) */
static void rope_apply(float *qkv, const float *rope, int64_t N, int T, int d, int H, int inverse) {
    int hd = d / H, np = hd / 2;
    float sg = inverse ? -1.0f : 1.0f;
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *cs = rope + (int64_t)(n % T) * np * 2;
        float *row = qkv + n * 3 * d;
        for (int part = 0; part < 2; part++)
            for (int h = 0; h < H; h++) {
                float *v = row + part * d + h * hd;
                for (int p = 0; p < np; p++) {
                    float c = cs[2 * p], s = sg * cs[2 * p + 1];
                    float a = v[2 * p], b = v[2 * p + 1];
                    v[2 * p] = a * c - b * s;
                    v[2 * p + 1] = a * s + b * c;
                }
            }
    }
}

/* exp(x) for x <= 0 (softmax arguments after subtracting the row maximum):
 * 2^k * p(r) with k = round(x / ln 2), r = x - k ln 2, |r| <= ln2/2, a
 * degree-6 Taylor polynomial (relative error < 3e-7, within float rounding
 * of expf).  Branch-free so that the loops calling it vectorise. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
ALWAYS_INLINE float softmax_exp(float x) {
    x = x > -87.0f ? x : -87.0f;   /* not fmaxf: a libm call blocks vectorisation */
    /* x/ln2 + 0.5 + 1000 > 0, so truncation is floor: k = round(x/ln2) */
    int k = (int)(x * 1.44269504088896341f + 1000.5f) - 1000;
    float r = x - (float)k * 0.693145751953125f - (float)k * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
    int32_t bits = (k + 127) << 23;
    float scale2;
    memcpy(&scale2, &bits, sizeof scale2);
    return p * scale2;
}

/* Reductions in 8 fixed lanes (vectorisable without -ffast-math; the
 * order is fixed, so results do not depend on the ISA chosen). */
ALWAYS_INLINE float dot8(const float *a, const float *b, int n) {
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int u = 0;
    for (; u + 8 <= n; u += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[u + k] * b[u + k];
    for (; u < n; u++) acc[u & 7] += a[u] * b[u];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

ALWAYS_INLINE float sum8(const float *a, int n) {
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int u = 0;
    for (; u + 8 <= n; u += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[u + k];
    for (; u < n; u++) acc[u & 7] += a[u];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

ALWAYS_INLINE float max8(const float *a, int n) {
    float acc[8];
    for (int k = 0; k < 8; k++) acc[k] = a[0];
    int u = 0;
    for (; u + 8 <= n; u += 8)
        for (int k = 0; k < 8; k++) acc[k] = acc[k] > a[u + k] ? acc[k] : a[u + k];
    for (; u < n; u++) acc[0] = acc[0] > a[u] ? acc[0] : a[u];
    float m = acc[0];
    for (int k = 1; k < 8; k++) m = m > acc[k] ? m : acc[k];
    return m;
}



/* One (row, head) of attention.  The four products per direction go
 * through single-threaded cblas_sgemm on strided views of qkv (ld 3d), so
 * they run on OpenBLAS's vector kernels; the softmax and its backward are
 * vectorised loops over rows of P. */
ALWAYS_INLINE void attn_fwd_head(float *yr, float *P, const float *base, int T, int d, int h, int hd,
                                 float scale) {
    const float *Q = base + h * hd, *K = base + d + h * hd, *V = base + 2 * d + h * hd;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, Q, 3 * d, K, 3 * d, 0.0f, P, T);
    for (int t = 0; t < T; t++) {
        float *pr = P + (int64_t)t * T;
        const float mx = max8(pr, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) pr[u] = softmax_exp(pr[u] - mx);
        const float iz = 1.0f / sum8(pr, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) pr[u] *= iz;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, V, 3 * d, 0.0f,
                yr + h * hd, d);
}

/* dq, dk, dv of one (row, head) into dbase (ld 3d, overwritten); dS (T,T) scratch */
ALWAYS_INLINE void attn_bwd_head(float *dbase, const float *dyr, const float *P, const float *base,
                                 float *dS, int T, int d, int h, int hd, float scale) {
    const float *Q = base + h * hd, *K = base + d + h * hd, *V = base + 2 * d + h * hd;
    const float *dY = dyr + h * hd;
    /* dP = dY V^T;  dV = P^T dY */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dY, d, V, 3 * d, 0.0f, dS, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, dY, d, 0.0f,
                dbase + 2 * d + h * hd, 3 * d);
    /* dS = P .* (dP - rowsum(P .* dP)) * scale */
    for (int t = 0; t < T; t++) {
        const float *pr = P + (int64_t)t * T;
        float *ds = dS + (int64_t)t * T;
        const float sdot = dot8(pr, ds, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) ds[u] = pr[u] * (ds[u] - sdot) * scale;
    }
    /* dQ = dS K;  dK = dS^T Q */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, K, 3 * d, 0.0f,
                dbase + h * hd, 3 * d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, Q, 3 * d, 0.0f,
                dbase + d + h * hd, 3 * d);
}

/* The drivers: OpenMP over (row, head).  Built
 * twice, for the baseline ISA and for AVX2+FMA (chosen at run time), since
 * the default x86-64 target has only 4-wide SSE and attention is a large
 * share of the work. */
#define ATTN_DRIVERS(SUFFIX, ATTR) \
ATTR static void attention_fwd_##SUFFIX(float *y, float *att, const float *qkv, int rows, int T, int d, int H) { \
    int hd = d / H; \
    float scale = 1.0f / sqrtf((float)hd); \
    _Pragma("omp parallel for schedule(static)") \
    for (int64_t rh = 0; rh < (int64_t)rows * H; rh++) \
        attn_fwd_head(y + (rh / H) * T * d, att + rh * T * T, qkv + (rh / H) * T * 3 * d, \
                      T, d, (int)(rh % H), hd, scale); \
} \
ATTR static void attention_bwd_##SUFFIX(float *dqkv, const float *dy, const float *att, const float *qkv, \
                                        int rows, int T, int d, int H) { \
    int hd = d / H; \
    float scale = 1.0f / sqrtf((float)hd); \
    _Pragma("omp parallel") \
    { \
        float *dS = malloc(sizeof(float) * T * T); \
        _Pragma("omp for schedule(static)") \
        for (int64_t rh = 0; rh < (int64_t)rows * H; rh++) { \
            int64_t r = rh / H; \
            attn_bwd_head(dqkv + r * T * 3 * d, dy + r * T * d, att + rh * T * T, qkv + r * T * 3 * d, \
                          dS, T, d, (int)(rh % H), hd, scale); \
        } \
        free(dS); \
    } \
}

/* no-trapping-math lets the clamps in softmax_exp / fast_erf become
 * vector selects; it changes no result */
#define VEC_OPT __attribute__((optimize("no-trapping-math")))
ATTN_DRIVERS(base, VEC_OPT)
#if defined(__x86_64__) && defined(__GNUC__)
ATTN_DRIVERS(avx2, __attribute__((target("avx2,fma"), optimize("no-trapping-math"))))
static int have_avx2(void) {
    static int v = -1;
    if (v < 0) {
        /* TEMPERA_CPU_BASELINE=1 forces the baseline-ISA kernels (tests) */
        const char *e = getenv("TEMPERA_CPU_BASELINE");
        __builtin_cpu_init();
        v = !(e && *e && strcmp(e, "0") != 0) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return v;
}
#else
#define attention_fwd_avx2 attention_fwd_base
#define attention_bwd_avx2 attention_bwd_base
static int have_avx2(void) { return 0; }
#endif

/* y (N,d) = softmax(q k^T * scale) v per (row, head); att (rows,H,T,T) [out] */
static void attention_fwd(float *y, float *att, const float *qkv, int rows, int T, int d, int H) {
    if (have_avx2()) attention_fwd_avx2(y, att, qkv, rows, T, d, H);
    else attention_fwd_base(y, att, qkv, rows, T, d, H);
}

/* dqkv (N,3d) [out, overwritten] from dy (N,d) */
static void attention_bwd(float *dqkv, const float *dy, const float *att, const float *qkv,
                          int rows, int T, int d, int H) {
    if (have_avx2()) attention_bwd_avx2(dqkv, dy, att, qkv, rows, T, d, H);
    else attention_bwd_base(dqkv, dy, att, qkv, rows, T, d, H);
}

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.39894228040143268f

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, the
 * size of float rounding near 1), branch-free so GELU loops vectorise; the
 * libm erff call would keep them scalar. */
ALWAYS_INLINE float fast_erf(float x) {
    float ax = x < 0 ? -x : x, sg = x < 0 ? -1.0f : 1.0f;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float y = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return sg * (1.0f - y * softmax_exp(-ax * ax));
}

#define GELU_DRIVERS(SUFFIX, ATTR) \
ATTR static void gelu_fwd_##SUFFIX(float *g, const float *h, int64_t n) { \
    _Pragma("omp parallel for simd schedule(static)") \
    for (int64_t i = 0; i < n; i++) g[i] = 0.5f * h[i] * (1.0f + fast_erf(h[i] * INV_SQRT2)); \
} \
ATTR static void gelu_bwd_##SUFFIX(float *dg, const float *h, int64_t n) { \
    _Pragma("omp parallel for simd schedule(static)") \
    for (int64_t i = 0; i < n; i++) { \
        float x = h[i]; \
        float cdf = 0.5f * (1.0f + fast_erf(x * INV_SQRT2)); \
        float pdf = INV_SQRT2PI * softmax_exp(-0.5f * x * x); \
        dg[i] *= cdf + x * pdf; \
    } \
}
GELU_DRIVERS(base, VEC_OPT)
#if defined(__x86_64__) && defined(__GNUC__)
GELU_DRIVERS(avx2, __attribute__((target("avx2,fma"), optimize("no-trapping-math"))))
#else
#define gelu_fwd_avx2 gelu_fwd_base
#define gelu_bwd_avx2 gelu_bwd_base
#endif

/* g = GELU(h) = h Phi(h), exact-erf form */
static void gelu_fwd(float *g, const float *h, int64_t n) {
    if (have_avx2()) gelu_fwd_avx2(g, h, n); else gelu_fwd_base(g, h, n);
}

/* dh[i] = dg[i] * GELU'(h[i]), in place on dg */
static void gelu_bwd(float *dg, const float *h, int64_t n) {
    if (have_avx2()) gelu_bwd_avx2(dg, h, n); else gelu_bwd_base(dg, h, n);
}

/* out (N,d) = x + ls .* p  (ls NULL: 1) */
static void residual_fwd(float *out, const float *x, const float *p, const float *ls, int64_t N, int d) {
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int j = 0; j < d; j++)
            out[n * d + j] = x[n * d + j] + (ls ? ls[j] : 1.0f) * p[n * d + j];
}

/* ---- forward ---------------------------------------------------------------- */

static tp_status forward(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                         const float *params, const float *rope, const tp_tf_config *c, int32_t rows);
static tp_status backward(float *grads, float *dcemb, float *scratch, const float *dlogp, const float *logp,
                          const float *acts, const uint8_t *tokens, const float *params,
                          const float *rope, const tp_tf_config *c, int32_t rows);

tp_status tp_tf_forward_cond_cpu(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                 const float *params, const float *rope,
                                 const tp_tf_config *c, int32_t rows) {
    int nb = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tp_status st = forward(acts, logp, tokens, cemb, params, rope, c, rows);
    openblas_set_num_threads(nb);
    return st;
}

tp_status tp_tf_backward_cond_cpu(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                  const float *logp, const float *acts, const uint8_t *tokens,
                                  const float *params, const float *rope,
                                  const tp_tf_config *c, int32_t rows) {
    int nb = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tp_status st = backward(grads, dcemb, scratch, dlogp, logp, acts, tokens, params, rope, c, rows);
    openblas_set_num_threads(nb);
    return st;
}

/* The unconditioned entry points are the conditioned ones without a
 * condition embedding (bit for bit the same computation). */
tp_status tp_tf_forward_cpu(float *acts, float *logp, const uint8_t *tokens,
                            const float *params, const float *rope,
                            const tp_tf_config *c, int32_t rows) {
    return tp_tf_forward_cond_cpu(acts, logp, tokens, NULL, params, rope, c, rows);
}

tp_status tp_tf_backward_cpu(float *grads, float *scratch, const float *dlogp,
                             const float *logp, const float *acts, const uint8_t *tokens,
                             const float *params, const float *rope,
                             const tp_tf_config *c, int32_t rows) {
    return tp_tf_backward_cond_cpu(grads, NULL, scratch, dlogp, logp, acts, tokens, params, rope, c, rows);
}

static tp_status forward(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                         const float *params, const float *rope, const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "transformer: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_act_layout A;
    tp_tf_layout_init(&L, c);
    tp_tf_act_layout_init(&A, c, rows);
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states;
    const int64_t N = (int64_t)rows * T;
    for (int64_t n = 0; n < N; n++)
        if (tokens[n] > q) return TP_ERROR(TP_ERR_ARG, "transformer: token %d at %lld exceeds mask %d",
                                           tokens[n], (long long)n, q);
    float *x0 = acts + A.blk[0].x;
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++)
        memcpy(x0 + n * d, params + L.wte + (int64_t)tokens[n] * d, sizeof(float) * d);
    if (cemb) {   /* condition embedding of the row, added to every token */
        #pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int j = 0; j < d; j++) x0[n * d + j] += cemb[(n / T) * d + j];
    }
    for (int l = 0; l < c->depth; l++) {
        const tp_tf_block_off *P = &L.blk[l];
        const tp_tf_act_block *B = &A.blk[l];
        float *xout = acts + (l + 1 < c->depth ? A.blk[l + 1].x : A.xf);
        layernorm_fwd(acts + B->a1, acts + B->mu1, acts + B->rs1, acts + B->x,
                      params + P->ln1_w, params + P->ln1_b, N, d);
        linear_fwd(acts + B->qkv, acts + B->a1, params + P->wqkv, params + P->bqkv, N, d, 3 * d);
        rope_apply(acts + B->qkv, rope, N, T, d, H, 0);
        attention_fwd(acts + B->y, acts + B->att, acts + B->qkv, rows, T, d, H);
        linear_fwd(acts + B->po, acts + B->y, params + P->wo, params + P->bo, N, d, d);
        residual_fwd(acts + B->xm, acts + B->x, acts + B->po, c->layerscale ? params + P->ls1 : NULL, N, d);
        layernorm_fwd(acts + B->a2, acts + B->mu2, acts + B->rs2, acts + B->xm,
                      params + P->ln2_w, params + P->ln2_b, N, d);
        linear_fwd(acts + B->h, acts + B->a2, params + P->w1, params + P->b1, N, d, 4 * d);
        gelu_fwd(acts + B->g, acts + B->h, N * 4 * d);
        linear_fwd(acts + B->pm, acts + B->g, params + P->w2, params + P->b2, N, 4 * d, d);
        residual_fwd(xout, acts + B->xm, acts + B->pm, c->layerscale ? params + P->ls2 : NULL, N, d);
    }
    layernorm_fwd(acts + A.af, acts + A.muf, acts + A.rsf, acts + A.xf,
                  params + L.lnf_w, params + L.lnf_b, N, d);
    linear_fwd(logp, acts + A.af, params + L.head_w, params + L.head_b, N, d, q);
    /* log-softmax over the q real states, in place */
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        float *z = logp + n * q, mx = z[0];
        for (int k = 1; k < q; k++) if (z[k] > mx) mx = z[k];
        float s = 0;
        for (int k = 0; k < q; k++) s += expf(z[k] - mx);
        float lse = mx + logf(s);
        for (int k = 0; k < q; k++) z[k] -= lse;
    }
    return TP_OK;
}

/* ---- backward --------------------------------------------------------------- */

/* dls[j] += sum_n dx[n,j] * p[n,j]; dp = dx .* ls */
static void layerscale_bwd(float *dp, float *dls, const float *dx, const float *p, const float *ls,
                           int64_t N, int d) {
    double *part = malloc(sizeof(double) * RB * d);
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < RB; b++) {
        double *q = part + (int64_t)b * d;
        for (int j = 0; j < d; j++) q[j] = 0;
        for (int64_t n = rb_lo(N, b); n < rb_lo(N, b + 1); n++)
            for (int j = 0; j < d; j++) q[j] += dx[n * d + j] * p[n * d + j];
    }
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int b = 0; b < RB; b++) s += part[(int64_t)b * d + j];
        dls[j] += (float)s;
    }
    free(part);
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int j = 0; j < d; j++) dp[n * d + j] = dx[n * d + j] * ls[j];
}

static tp_status backward(float *grads, float *dcemb, float *scratch, const float *dlogp, const float *logp,
                          const float *acts, const uint8_t *tokens, const float *params,
                          const float *rope, const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "transformer: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_act_layout A;
    tp_tf_layout_init(&L, c);
    tp_tf_act_layout_init(&A, c, rows);
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states;
    const int64_t N = (int64_t)rows * T;
    float *dx = scratch, *dtmp = dx + N * d, *dpo = dtmp + N * d, *dbig = dpo + N * d;
    float *dlogits = dbig + N * 4 * d;

    /* log-softmax: dz = dlogp - softmax * sum(dlogp) */
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *g = dlogp + n * q, *lp = logp + n * q;
        float s = 0;
        for (int k = 0; k < q; k++) s += g[k];
        for (int k = 0; k < q; k++) dlogits[n * q + k] = g[k] - expf(lp[k]) * s;
    }
    linear_bwd(dtmp, 0.0f, grads + L.head_w, grads + L.head_b, dlogits, acts + A.af,
               params + L.head_w, N, d, q);
    memset(dx, 0, sizeof(float) * N * d);
    layernorm_bwd(dx, grads + L.lnf_w, grads + L.lnf_b, dtmp, acts + A.xf,
                  acts + A.muf, acts + A.rsf, params + L.lnf_w, N, d);

    for (int l = c->depth - 1; l >= 0; l--) {
        const tp_tf_block_off *P = &L.blk[l];
        const tp_tf_act_block *B = &A.blk[l];
        /* MLP branch: x_out = xm + ls2 * pm */
        const float *dpm = dx;
        if (c->layerscale) {
            layerscale_bwd(dpo, grads + P->ls2, dx, acts + B->pm, params + P->ls2, N, d);
            dpm = dpo;
        }
        linear_bwd(dbig, 0.0f, grads + P->w2, grads + P->b2, dpm, acts + B->g, params + P->w2, N, 4 * d, d);
        gelu_bwd(dbig, acts + B->h, N * 4 * d);
        linear_bwd(dtmp, 0.0f, grads + P->w1, grads + P->b1, dbig, acts + B->a2, params + P->w1, N, d, 4 * d);
        layernorm_bwd(dx, grads + P->ln2_w, grads + P->ln2_b, dtmp, acts + B->xm,
                      acts + B->mu2, acts + B->rs2, params + P->ln2_w, N, d);
        /* attention branch: xm = x + ls1 * po */
        const float *dpa = dx;
        if (c->layerscale) {
            layerscale_bwd(dpo, grads + P->ls1, dx, acts + B->po, params + P->ls1, N, d);
            dpa = dpo;
        }
        linear_bwd(dtmp, 0.0f, grads + P->wo, grads + P->bo, dpa, acts + B->y, params + P->wo, N, d, d);
        attention_bwd(dbig, dtmp, acts + B->att, acts + B->qkv, rows, T, d, H);
        rope_apply(dbig, rope, N, T, d, H, 1);
        linear_bwd(dtmp, 0.0f, grads + P->wqkv, grads + P->bqkv, dbig, acts + B->a1, params + P->wqkv,
                   N, d, 3 * d);
        layernorm_bwd(dx, grads + P->ln1_w, grads + P->ln1_b, dtmp, acts + B->x,
                      acts + B->mu1, acts + B->rs1, params + P->ln1_w, N, d);
    }
    if (dcemb) {   /* condition embedding: sum over the row's tokens, in double */
        #pragma omp parallel for schedule(static)
        for (int32_t r = 0; r < rows; r++)
            for (int j = 0; j < d; j++) {
                double sum = 0;
                for (int t = 0; t < T; t++) sum += dx[((int64_t)r * T + t) * d + j];
                dcemb[(int64_t)r * d + j] = (float)sum;
            }
    }
    /* embedding: row blocks of partial sums per vocabulary entry */
    float *dwte = grads + L.wte;
    const int V = q + 1;
    double *part = malloc(sizeof(double) * RB * V * d);
    if (!part) return TP_ERROR(TP_ERR_NOMEM, "transformer backward: out of memory");
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < RB; b++) {
        double *pp = part + (int64_t)b * V * d;
        for (int64_t j = 0; j < (int64_t)V * d; j++) pp[j] = 0;
        for (int64_t n = rb_lo(N, b); n < rb_lo(N, b + 1); n++) {
            double *row = pp + (int64_t)tokens[n] * d;
            for (int j = 0; j < d; j++) row[j] += dx[n * d + j];
        }
    }
    for (int64_t j = 0; j < (int64_t)V * d; j++) {
        double sum = 0;
        for (int b = 0; b < RB; b++) sum += part[(int64_t)b * V * d + j];
        dwte[j] += (float)sum;
    }
    free(part);
    return TP_OK;
}

/* ---- cost model and BLAS rate ---------------------------------------------- */

double tp_tf_flops(const tp_tf_config *c, int32_t rows, int32_t backward) {
    double T = c->sites, d = c->embed, N = (double)rows * T;
    /* per token and layer: qkv 3d^2, out d^2, MLP 8d^2 multiply-adds; attention
     * scores and weighted values 2*T*d */
    double layer = N * (12.0 * d * d + 2.0 * T * d) * 2.0;
    double f = c->depth * layer + N * d * c->states * 2.0;
    return backward ? 3.0 * f : f;
}

double tp_tf_sgemm_gflops(const char *backend, int32_t n, int32_t reps) {
    if (n < 1 || reps < 1) return 0;
    if (backend && strcmp(backend, "cuda") == 0) {
        double g = 0;
        return tp_tf_sgemm_gflops_cuda(&g, n, reps) == TP_OK ? g : 0;
    }
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *cc = malloc(sizeof(float) * n * n);
    if (!a || !b || !cc) { free(a); free(b); free(cc); return 0; }
    for (int64_t i = 0; i < (int64_t)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 1e300;
    for (int r = 0; r <= reps; r++) {   /* first call warms up */
        double t0 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, cc, n);
        double t = omp_get_wtime() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a); free(b); free(cc);
    return 2.0 * n * (double)n * n / best * 1e-9;
}
