/*
 * kernels/transformer_cpu.c -- CPU reference of the lattice transformer
 * (kernels/transformer.h, tempera-nn(5)): forward and backward.  Matrix
 * products go through single-threaded cblas_sgemm calls inside OpenMP
 * threads; LayerNorm, RoPE, attention, GELU and log-softmax are plain loops
 * (kernels/transformer_vec.h, built per instruction set).  The forward pass
 * runs in tiles of whole rows, each through every block on one thread
 * (cache-resident, independent of the thread count); the backward pass goes
 * block by block over all rows, parameter-gradient sums over fixed row
 * blocks in a fixed order.  The sampling forward (tp_tf_forward_site_cpu)
 * is the same tile pass with the last block cut down to one query token a
 * row.
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

static int32_t tiled_min = TP_TF_TILED_MIN;
int32_t tp_tf_tiled_min(void) { return tiled_min; }
void tp_tf_set_tiled_min(int32_t sites) { tiled_min = sites > 0 ? sites : TP_TF_TILED_MIN; }
int tp_tf_tiled(const tp_tf_config *c) { return c->sites >= tiled_min; }

void tp_tf_act_layout_init(tp_tf_act_layout *al, const tp_tf_config *c, int32_t rows) {
    int64_t T = c->sites, d = c->embed, N = (int64_t)rows * T, o = 0;
    memset(al, 0, sizeof *al);
    al->tiled = tp_tf_tiled(c);
    const int64_t att_per_query = al->tiled ? 1 : T;
    for (int l = 0; l < c->depth; l++) {
        tp_tf_act_block *b = &al->blk[l];
        b->x = o;   o += N * d;
        b->a1 = o;  o += N * d;
        b->mu1 = o; o += N;
        b->rs1 = o; o += N;
        b->qkv = o; o += N * 3 * d;
        b->att = o; o += (int64_t)rows * c->heads * T * att_per_query;
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
/* tokens per tile of the forward pass (forward_tile in transformer_vec.h):
 * the tile's activations stay in a core's L2 cache from one pass to the next */
#define TILE_TOKENS 256
static int64_t rb_lo(int64_t N, int b) { return N * b / RB; }

/* C (M,N) = op(A) op(B) + beta C (row-major), split over the OpenMP
 * threads, each calling a single-threaded sgemm: one thread pool for
 * everything (OpenBLAS's own threads spinning against OpenMP's cost a
 * factor of several on small machines).  split_cols = 0 gives each thread
 * a block of rows of C (each packs all of op(B)), 1 a block of columns
 * (each packs all of op(A)): callers pick the one that duplicates the
 * smaller operand.  Callers run with OpenBLAS set to one thread
 * (tp_tf_forward_cpu / tp_tf_backward_cpu do). */
#define GEMM_ALIGN 64
static void gemm(int ta, int tb, int M, int Nc, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc, int split_cols) {
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int tot = split_cols ? Nc : M;
        /* block edges at multiples of GEMM_ALIGN: every element of C then
         * falls in the same register tile of the BLAS kernel whatever the
         * thread count, so its sum runs in the same order (edge tiles use
         * other code) and the product does not depend on the thread count */
        int lo = id ? (int)((int64_t)tot * id / nt) / GEMM_ALIGN * GEMM_ALIGN : 0;
        int hi = id + 1 < nt ? (int)((int64_t)tot * (id + 1) / nt) / GEMM_ALIGN * GEMM_ALIGN : tot;
        if (hi > lo && !split_cols)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        hi - lo, Nc, K, 1.0f, ta ? A + lo : A + (int64_t)lo * lda, lda, B, ldb,
                        beta, C + (int64_t)lo * ldc, ldc);
        else if (hi > lo)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, hi - lo, K, 1.0f, A, lda, tb ? B + (int64_t)lo * ldb : B + lo, ldb,
                        beta, C + lo, ldc);
    }
}

/* din (N,i) = dout W^T (din NULL: skipped); dW += in^T dout.  The bias
 * gradient is taken by the pass that produced dout. */
static void matmul_bwd(float *din, float *dW, const float *dout, const float *in, const float *W,
                       int64_t N, int i, int o) {
    if (N == 0) return;
    if (din) gemm(0, 1, (int)N, i, o, dout, o, W, o, 0.0f, din, i, 0);
    /* dW (i,o): splitting rows duplicates the packing of dout (N,o),
     * splitting columns that of in (N,i) */
    gemm(1, 0, i, o, (int)N, in, i, dout, o, 1.0f, dW, o, o > i);
}

#include "tf_math.h"

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



/* One (row, head) of attention.  The products go through single-threaded
 * cblas_sgemm on strided views of qkv (ld 3d), so they run on OpenBLAS's
 * vector kernels, in blocks of ATT_QB rows (of T x T by hd products) or
 * ATT_VB rows (of products with T as the inner size): below OpenBLAS's
 * small-matrix size those need no packing and no separate zeroing of C,
 * 1.5-2.5x faster at T = 256 than one call per head.  The softmax and its
 * backward are vectorised loops over rows of P.  Queries: the nq rows at
 * qbase (ld 3d; base itself for all T tokens, one token's row for the
 * sampling forward); keys and values: the T rows at base. */
#define ATT_QB 64
#define ATT_VB 128

/* Tiled attention (transformer.h): queries in groups of TQB, keys in
 * strips of 16 held in GCC vector registers (one zmm with AVX-512, two
 * ymm with AVX2, four xmm on the baseline: element-wise IEEE operations
 * either way, so the same bits) */
#define TQB 4
typedef float tf_v16 __attribute__((vector_size(64)));
#define LD16(v, p) memcpy(&(v), (p), sizeof(tf_v16))
#define ST16(p, v) memcpy((p), &(v), sizeof(tf_v16))
ALWAYS_INLINE void attn_fwd_head(float *yr, float *P, const float *base, const float *qbase, int nq, int T,
                                 int d, int h, int hd, float scale) {
    const float *Q = qbase + h * hd, *K = base + d + h * hd, *V = base + 2 * d + h * hd;
    for (int t0 = 0; t0 < nq; t0 += ATT_QB) {
        int m = nq - t0 < ATT_QB ? nq - t0 : ATT_QB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, T, hd, scale, Q + (int64_t)t0 * 3 * d, 3 * d,
                    K, 3 * d, 0.0f, P + (int64_t)t0 * T, T);
    }
    for (int t = 0; t < nq; t++) {
        float *pr = P + (int64_t)t * T;
        const float mx = max8(pr, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) pr[u] = softmax_exp(pr[u] - mx);
        const float iz = 1.0f / sum8(pr, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) pr[u] *= iz;
    }
    for (int t0 = 0; t0 < nq; t0 += ATT_VB) {
        int m = nq - t0 < ATT_VB ? nq - t0 : ATT_VB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, T, 1.0f, P + (int64_t)t0 * T, T,
                    V, 3 * d, 0.0f, yr + (int64_t)t0 * d + h * hd, d);
    }
}

/* dq, dk, dv of one (row, head) into dbase (ld 3d, overwritten); dS (T,T) scratch */
ALWAYS_INLINE void attn_bwd_head(float *dbase, const float *dyr, const float *P, const float *base,
                                 float *dS, int T, int d, int h, int hd, float scale) {
    const float *Q = base + h * hd, *K = base + d + h * hd, *V = base + 2 * d + h * hd;
    const float *dY = dyr + h * hd;
    /* dP = dY V^T */
    for (int t0 = 0; t0 < T; t0 += ATT_QB) {
        int m = T - t0 < ATT_QB ? T - t0 : ATT_QB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, T, hd, 1.0f, dY + (int64_t)t0 * d, d,
                    V, 3 * d, 0.0f, dS + (int64_t)t0 * T, T);
    }
    /* dV = P^T dY (blocks of keys: columns of P) */
    for (int u0 = 0; u0 < T; u0 += ATT_VB) {
        int m = T - u0 < ATT_VB ? T - u0 : ATT_VB;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, hd, T, 1.0f, P + u0, T, dY, d, 0.0f,
                    dbase + (int64_t)u0 * 3 * d + 2 * d + h * hd, 3 * d);
    }
    /* dS = P .* (dP - rowsum(P .* dP)) * scale */
    for (int t = 0; t < T; t++) {
        const float *pr = P + (int64_t)t * T;
        float *ds = dS + (int64_t)t * T;
        const float sdot = dot8(pr, ds, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) ds[u] = pr[u] * (ds[u] - sdot) * scale;
    }
    /* dQ = dS K;  dK = dS^T Q */
    for (int t0 = 0; t0 < T; t0 += ATT_VB) {
        int m = T - t0 < ATT_VB ? T - t0 : ATT_VB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, T, 1.0f, dS + (int64_t)t0 * T, T,
                    K, 3 * d, 0.0f, dbase + (int64_t)t0 * 3 * d + h * hd, 3 * d);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, hd, T, 1.0f, dS + t0, T, Q, 3 * d, 0.0f,
                    dbase + (int64_t)t0 * 3 * d + d + h * hd, 3 * d);
    }
}

/* The vector kernels, once per instruction set (kernels/transformer_vec.h).
 * no-trapping-math lets the clamps and selects become vector blends; it
 * changes no result. */
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#define TFV_SUFFIX base
#include "transformer_vec.h"
#undef TFV_SUFFIX
#pragma GCC pop_options

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#pragma GCC target("avx2,fma")
#define TFV_SUFFIX avx2
#include "transformer_vec.h"
#undef TFV_SUFFIX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define TFV_SUFFIX avx512
#include "transformer_vec.h"
#undef TFV_SUFFIX
#pragma GCC pop_options

static int tf_isa(void) { return tp_cpu_isa(); }
#define VEC(isa, fn, ...) ((isa) == 2 ? fn##_avx512(__VA_ARGS__) : (isa) == 1 ? fn##_avx2(__VA_ARGS__) \
                                                                         : fn##_base(__VA_ARGS__))
#else
static int tf_isa(void) { return 0; }
#define VEC(isa, fn, ...) fn##_base(__VA_ARGS__)
#endif

/* ---- forward ---------------------------------------------------------------- */

static tp_status forward(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                         const int32_t *site, const float *params, const float *rope,
                         const tp_tf_config *c, int32_t rows);
static tp_status backward(float *grads, float *dcemb, float *scratch, const float *dlogp, const float *logp,
                          const float *acts, const uint8_t *tokens, const float *params,
                          const float *rope, const tp_tf_config *c, int32_t rows);

tp_status tp_tf_forward_cond_cpu(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                 const float *params, const float *rope,
                                 const tp_tf_config *c, int32_t rows) {
    int nb = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tp_status st = forward(acts, logp, tokens, cemb, NULL, params, rope, c, rows);
    openblas_set_num_threads(nb);
    return st;
}

tp_status tp_tf_forward_site_cpu(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                 const float *params, const float *rope,
                                 const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (rows > 0 && !site) return TP_ERROR(TP_ERR_ARG, "transformer: site forward needs sites");
    for (int32_t r = 0; r < rows; r++)
        if (site[r] < 0 || site[r] >= c->sites)
            return TP_ERROR(TP_ERR_ARG, "transformer: site %d of row %d outside 0..%d",
                            site[r], r, c->sites - 1);
    int nb = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tp_status st = forward(acts, logp, tokens, NULL, site, params, rope, c, rows);
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
                         const int32_t *site, const float *params, const float *rope,
                         const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "transformer: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_act_layout A;
    tp_tf_layout_init(&L, c);
    tp_tf_act_layout_init(&A, c, rows);
    const int T = c->sites, q = c->states, isa = tf_isa();
    const int64_t N = (int64_t)rows * T;
    for (int64_t n = 0; n < N; n++)
        if (tokens[n] > q) return TP_ERROR(TP_ERR_ARG, "transformer: token %d at %lld exceeds mask %d",
                                           tokens[n], (long long)n, q);
    /* The sampling forward of a one-block network without conditions: the
     * block's q, k, v of a token depend on its state and position only, so
     * the (states+1) x T table of them (computed as the full pass computes
     * them) replaces the projection of every token of every row, and the
     * query's attention reads keys and values straight from it: O(T d) a
     * row and step instead of O(T d^2) (forward_tile, attn_site_table) */
    float *kvt = NULL;
    if (site && c->depth == 1 && !cemb && rows > 0) {
        const int d = c->embed, V = q + 1;
        float *a1 = malloc(sizeof(float) * (size_t)V * 4 * d);
        kvt = malloc(sizeof(float) * (size_t)V * T * 3 * d);
        if (!a1 || !kvt) {
            free(a1); free(kvt);
            return TP_ERROR(TP_ERR_NOMEM, "transformer: out of memory for the sampling table");
        }
        VEC(isa, site_table, kvt, a1, params, rope, c, &L);
        free(a1);
    }
    /* tiled attention: per-thread scratch, kt and vt (hd, T) and scores (TQB, T) */
    float *tws = NULL;
    const int64_t twsz = (2LL * (c->embed / c->heads) + TQB) * T;
    if (A.tiled && rows > 0 && !kvt) {
        tws = malloc(sizeof(float) * (size_t)(twsz * omp_get_max_threads()));
        if (!tws) {
            free(kvt);
            return TP_ERROR(TP_ERR_NOMEM, "transformer: out of memory for tiled attention");
        }
    }
    /* tiles of whole rows, about TILE_TOKENS tokens each: a tile's results
     * depend on its rows only, not on the thread count or schedule */
    const int64_t tr = T >= TILE_TOKENS ? 1 : TILE_TOKENS / T, ntiles = (rows + tr - 1) / tr;
    #pragma omp parallel for schedule(static)
    for (int64_t tl = 0; tl < ntiles; tl++) {
        const int64_t r0 = tl * tr, r1 = r0 + tr < rows ? r0 + tr : rows;
        VEC(isa, forward_tile, acts, logp, tokens, cemb, site, params, rope, kvt,
            tws ? tws + twsz * omp_get_thread_num() : NULL, c, &L, &A, r0, r1);
    }
    free(tws);
    free(kvt);
    return TP_OK;
}

/* ---- backward --------------------------------------------------------------- */

static tp_status backward(float *grads, float *dcemb, float *scratch, const float *dlogp, const float *logp,
                          const float *acts, const uint8_t *tokens, const float *params,
                          const float *rope, const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "transformer: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_act_layout A;
    tp_tf_layout_init(&L, c);
    tp_tf_act_layout_init(&A, c, rows);
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states, isa = tf_isa();
    const int64_t N = (int64_t)rows * T;
    float *dx = scratch, *dtmp = dx + N * d, *dpo = dtmp + N * d, *dbig = dpo + N * d;
    float *dlogits = dbig + N * 4 * d;
    /* row-block partials of every column reduction: (RB, up to max(4d, q)) */
    const int V = q + 1, pw = 4 * d > V * d ? 4 * d : V * d;
    /* attention scratch a thread: dS (T, T), or with tiled attention
     * kt, vt, dkt, dvt (hd, T) and 2 TQB rows of T */
    const int64_t hd = d / H, awsz = A.tiled ? (4 * hd + 2 * TQB) * T : (int64_t)T * T;
    double *part = malloc(sizeof(double) * RB * pw);
    float *aws = malloc(sizeof(float) * (size_t)(awsz * omp_get_max_threads()));
    if (!part || !aws) {
        free(part); free(aws);
        return TP_ERROR(TP_ERR_NOMEM, "transformer backward: out of memory");
    }

    /* log-softmax: dz = dlogp - softmax * sum(dlogp); head bias gradient */
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < RB; blk++) {
        double *pp = part + (int64_t)blk * q;
        for (int k = 0; k < q; k++) pp[k] = 0;
        for (int64_t n = rb_lo(N, blk); n < rb_lo(N, blk + 1); n++) {
            const float *g = dlogp + n * q, *lp = logp + n * q;
            float s = 0;
            for (int k = 0; k < q; k++) s += g[k];
            for (int k = 0; k < q; k++) {
                float v = g[k] - expf(lp[k]) * s;
                dlogits[n * q + k] = v;
                pp[k] += v;
            }
        }
    }
    for (int k = 0; k < q; k++) {
        double s = 0;
        for (int blk = 0; blk < RB; blk++) s += part[(int64_t)blk * q + k];
        grads[L.head_b + k] += (float)s;
    }
    matmul_bwd(dtmp, grads + L.head_w, dlogits, acts + A.af, params + L.head_w, N, d, q);
    memset(dx, 0, sizeof(float) * N * d);
    VEC(isa, layernorm_bwd, dx, grads + L.lnf_w, grads + L.lnf_b, dtmp, acts + A.xf,
        acts + A.muf, acts + A.rsf, params + L.lnf_w, N, d, part);

    for (int l = c->depth - 1; l >= 0; l--) {
        const tp_tf_block_off *P = &L.blk[l];
        const tp_tf_act_block *B = &A.blk[l];
        const float *ls1 = c->layerscale ? params + P->ls1 : NULL, *ls2 = c->layerscale ? params + P->ls2 : NULL;
        /* MLP branch: x_out = xm + ls2 * pm */
        VEC(isa, branch_bwd, dpo, c->layerscale ? grads + P->ls2 : NULL, grads + P->b2, dx, acts + B->pm,
            ls2, N, d, part);
        matmul_bwd(dbig, grads + P->w2, ls2 ? dpo : dx, acts + B->g, params + P->w2, N, 4 * d, d);
        VEC(isa, gelu_bwd_colsum, dbig, grads + P->b1, acts + B->h, N, 4 * d, part);
        matmul_bwd(dtmp, grads + P->w1, dbig, acts + B->a2, params + P->w1, N, d, 4 * d);
        VEC(isa, layernorm_bwd, dx, grads + P->ln2_w, grads + P->ln2_b, dtmp, acts + B->xm,
            acts + B->mu2, acts + B->rs2, params + P->ln2_w, N, d, part);
        /* attention branch: xm = x + ls1 * po */
        VEC(isa, branch_bwd, dpo, c->layerscale ? grads + P->ls1 : NULL, grads + P->bo, dx, acts + B->po,
            ls1, N, d, part);
        matmul_bwd(dtmp, grads + P->wo, ls1 ? dpo : dx, acts + B->y, params + P->wo, N, d, d);
        VEC(isa, attention_bwd, dbig, dtmp, acts + B->y, acts + B->att, acts + B->qkv, aws, awsz, A.tiled,
            rows, T, d, H);
        VEC(isa, rope_bwd_colsum, dbig, grads + P->bqkv, rope, N, T, d, H, part);
        matmul_bwd(dtmp, grads + P->wqkv, dbig, acts + B->a1, params + P->wqkv, N, d, 3 * d);
        VEC(isa, layernorm_bwd, dx, grads + P->ln1_w, grads + P->ln1_b, dtmp, acts + B->x,
            acts + B->mu1, acts + B->rs1, params + P->ln1_w, N, d, part);
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
    free(aws);
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
